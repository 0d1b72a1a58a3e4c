#!/bin/sh
# A real Exim (GnuTLS) on 127.0.0.1:2525 beside the Postfix fixture, for the privileged TLS
# tests (tests/privileged/tls_probes_test.cc).
#
#   scripts/exim-fixture.sh start                fetch and unpack Exim (once), start the daemon
#   scripts/exim-fixture.sh start --own-gnutls   the same, with a fresh private copy of
#                                                libgnutls.so.30 (a new inode) first on its
#                                                library path: a library file no agent has seen,
#                                                as a container's own copy would be
#   scripts/exim-fixture.sh stop                 stop it (no error when it is not running)
#
# The exim4 packages conflict with postfix, so they are not installed: `apt-get download` fetches
# exim4-daemon-light, exim4-base, exim4-config and libidn12, `dpkg-deb -x` unpacks them under
# $DIR, and the daemon runs from there with its own configuration (-C): STARTTLS offered with a
# self-signed certificate, every recipient accepted, messages left in the queue (-odq; nothing
# is delivered). Exim looks up its compiled-in user Debian-exim before reading any
# configuration, so that system user is created when missing. Needs root, apt and openssl.
set -eu

DIR=/var/tmp/mailtap-exim
PORT=2525
PIDFILE=$DIR/exim.pid

die() { echo "exim-fixture: $*" >&2; exit 1; }

unpack() {
  [ -x $DIR/root/usr/sbin/exim4 ] && return 0
  mkdir -p $DIR/debs
  (cd $DIR/debs && apt-get download exim4-daemon-light exim4-base exim4-config libidn12 >/dev/null) \
    || die "apt-get download of the exim4 packages failed"
  for deb in $DIR/debs/*.deb; do dpkg-deb -x "$deb" $DIR/root || die "cannot unpack $deb"; done
}

configure() {
  id Debian-exim >/dev/null 2>&1 \
    || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin Debian-exim \
    || die "cannot create the user Debian-exim"
  mkdir -p $DIR/spool $DIR/log
  if [ ! -s $DIR/key.pem ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=localhost" \
      -keyout $DIR/key.pem -out $DIR/cert.pem >/dev/null 2>&1 || die "openssl failed"
  fi
  chown -R nobody:nogroup $DIR/spool $DIR/log $DIR/key.pem $DIR/cert.pem
  cat > $DIR/exim.conf <<CONF
exim_user = nobody
exim_group = nogroup
primary_hostname = exim-test.localdomain
daemon_smtp_ports = $PORT
local_interfaces = 127.0.0.1
tls_advertise_hosts = *
tls_certificate = $DIR/cert.pem
tls_privatekey = $DIR/key.pem
spool_directory = $DIR/spool
log_file_path = $DIR/log/%slog
acl_smtp_rcpt = acl_check_rcpt
begin acl
acl_check_rcpt:
  accept
begin routers
discard:
  driver = redirect
  data = :blackhole:
CONF
}

running() { [ -s $PIDFILE ] && kill -0 "$(cat $PIDFILE)" 2>/dev/null; }

case "${1:-}" in
  start)
    [ "$(id -u)" = 0 ] || die "must run as root"
    unpack
    configure
    running && kill "$(cat $PIDFILE)" && sleep 0.5
    libpath=$DIR/root/usr/lib/x86_64-linux-gnu:$DIR/root/lib/x86_64-linux-gnu
    if [ "${2:-}" = --own-gnutls ]; then
      gnutls=$(ldconfig -p | awk '/libgnutls.so.30 .*x86-64/ {print $NF; exit}')
      [ -n "$gnutls" ] || die "no libgnutls.so.30 to copy"
      mkdir -p $DIR/own-gnutls
      rm -f $DIR/own-gnutls/libgnutls.so.30
      cp "$gnutls" $DIR/own-gnutls/libgnutls.so.30 || die "cannot copy $gnutls"
      libpath=$DIR/own-gnutls:$libpath
    fi
    LD_LIBRARY_PATH=$libpath \
      $DIR/root/usr/sbin/exim4 -C $DIR/exim.conf -bd -odq -oP $PIDFILE 2>$DIR/log/stderr \
      || die "exim did not start (see $DIR/log)"
    i=0
    while [ $i -lt 50 ]; do
      ss -ltn | grep -q "127.0.0.1:$PORT " && { echo "exim-fixture: exim listening on 127.0.0.1:$PORT"; exit 0; }
      sleep 0.1
      i=$((i + 1))
    done
    die "exim does not listen on 127.0.0.1:$PORT (see $DIR/log)"
    ;;
  stop)
    if running; then kill "$(cat $PIDFILE)"; fi
    rm -f $PIDFILE
    echo "exim-fixture: exim stopped"
    ;;
  *)
    echo "usage: $0 start [--own-gnutls] | stop" >&2
    exit 2
    ;;
esac
