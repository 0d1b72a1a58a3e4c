#!/bin/sh
# A real Postfix on loopback for the privileged live-capture tests (tests/privileged/).
#
#   scripts/postfix-fixture.sh start   configure (idempotent) and start or reload Postfix
#   scripts/postfix-fixture.sh stop    stop it (no error when it is not running)
#   scripts/postfix-fixture.sh status  exit 0 when it is running
#
# Listens on loopback only: port 25 (smtp, STARTTLS offered), port 587 (submission, STARTTLS
# required, no AUTH needed from loopback, AUTH PLAIN/LOGIN offered inside TLS) and port 465
# (smtps: implicit TLS from the first byte, RFC 8314, AUTH offered). The SASL user is
# mailtap-test@mailtap-test.localdomain with password mailtap-secret (Cyrus SASL, sasldb; needs
# sasl2-bin). PIPELINING and CHUNKING (BDAT) are Postfix defaults and left on. Every accepted
# mail is thrown away by the discard: transport. Up to 400 smtpd processes at once (the TLS load
# test holds 300 sessions open together); loopback is in mynetworks, which anvil's per-client
# connection count and rate limits exempt by default. Needs root and the Debian postfix package
# installed non-interactively ("No configuration" or "Local only"). Runs Postfix directly
# (`postfix start`), never through systemd, and rewrites the main.cf settings and master.cf
# services it names: use it on test machines only.
set -eu

CONF=/etc/postfix
CERT_DIR=$CONF/mailtap-test
SASL_DB=$CERT_DIR/sasldb2
SASL_USER=mailtap-test
SASL_PASSWORD=mailtap-secret
LOG=/var/log/postfix-mailtap.log

die() { echo "postfix-fixture: $*" >&2; exit 1; }

need_root() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  command -v postfix >/dev/null 2>&1 || die "postfix is not installed (apt-get install postfix)"
  command -v openssl >/dev/null 2>&1 || die "openssl is not installed (apt-get install openssl)"
  command -v saslpasswd2 >/dev/null 2>&1 || die "saslpasswd2 is not installed (apt-get install sasl2-bin)"
}

# "No configuration" installs no main.cf; master.cf always has a pristine copy to start from.
ensure_files() {
  [ -f $CONF/main.cf ] || : > $CONF/main.cf
  if [ ! -f $CONF/master.cf ]; then
    for proto in $CONF/master.cf.proto /usr/share/postfix/master.cf.dist; do
      [ -f "$proto" ] && cp "$proto" $CONF/master.cf && break
    done
  fi
  [ -f $CONF/master.cf ] || die "no master.cf and no master.cf.proto to create it from"
}

ensure_cert() {
  mkdir -p $CERT_DIR
  if [ ! -s $CERT_DIR/cert.pem ] || [ ! -s $CERT_DIR/key.pem ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=localhost" \
      -keyout $CERT_DIR/key.pem -out $CERT_DIR/cert.pem >/dev/null 2>&1 \
      || die "openssl could not create the self-signed certificate"
    chmod 600 $CERT_DIR/key.pem
  fi
}

# Cyrus SASL for smtpd from a private sasldb (smtpd runs as postfix and reads it unchrooted).
ensure_sasl() {
  mkdir -p $CONF/sasl
  printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\nsasldb_path: %s\n' \
    "$SASL_DB" > $CONF/sasl/smtpd.conf
  echo "$SASL_PASSWORD" | saslpasswd2 -p -c -f $SASL_DB -u mailtap-test.localdomain $SASL_USER \
    || die "saslpasswd2 could not create the SASL user"
  chown postfix $SASL_DB
  chmod 600 $SASL_DB
}

# Loopback only; IPv6 too when ::1 exists (the tests capture both families).
protocols() {
  if [ -r /proc/net/if_inet6 ] && grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6; then
    echo all
  else
    echo ipv4
  fi
}

configure() {
  postconf -e \
    "compatibility_level = 3.6" \
    "myhostname = mailtap-test.localdomain" \
    "mydestination = localhost, \$myhostname" \
    "inet_interfaces = loopback-only" \
    "inet_protocols = $(protocols)" \
    "mynetworks = 127.0.0.0/8 [::1]/128" \
    "smtpd_relay_restrictions = permit_mynetworks, reject" \
    "smtpd_recipient_restrictions =" \
    "local_recipient_maps =" \
    "alias_maps =" \
    "alias_database =" \
    "local_transport = discard:mailtap-test" \
    "default_transport = discard:mailtap-test" \
    "relay_transport = discard:mailtap-test" \
    "message_size_limit = 52428800" \
    "default_process_limit = 400" \
    "smtpd_discard_ehlo_keywords =" \
    "smtpd_tls_cert_file = $CERT_DIR/cert.pem" \
    "smtpd_tls_key_file = $CERT_DIR/key.pem" \
    "smtpd_tls_security_level = may" \
    "smtpd_sasl_auth_enable = no" \
    "smtpd_sasl_type = cyrus" \
    "smtpd_sasl_path = smtpd" \
    "cyrus_sasl_config_path = $CONF/sasl" \
    "smtpd_sasl_local_domain = mailtap-test.localdomain" \
    "maillog_file = $LOG"
  # Chroot needs copies of /etc files that only the systemd unit's helper makes: run unchrooted.
  postconf -M "smtp/inet=smtp inet n - n - - smtpd"
  postconf -M "submission/inet=submission inet n - n - - smtpd"
  postconf -M "smtps/inet=smtps inet n - n - - smtpd"
  # AUTH only inside TLS: the cleartext EHLO reply on 587 stays what the other tests expect.
  postconf -P "submission/inet/syslog_name=postfix/submission" \
    "submission/inet/smtpd_tls_security_level=encrypt" \
    "submission/inet/smtpd_sasl_auth_enable=yes" \
    "submission/inet/smtpd_tls_auth_only=yes" \
    "submission/inet/smtpd_relay_restrictions=permit_mynetworks,permit_sasl_authenticated,reject" \
    "smtps/inet/syslog_name=postfix/smtps" \
    "smtps/inet/smtpd_tls_wrappermode=yes" \
    "smtps/inet/smtpd_sasl_auth_enable=yes" \
    "smtps/inet/smtpd_relay_restrictions=permit_mynetworks,permit_sasl_authenticated,reject"
  postconf -F '*/*/chroot = n'
  postfix check || die "postfix check failed"
}

running() { postfix status >/dev/null 2>&1; }

wait_listening() {
  i=0
  while [ $i -lt 50 ]; do
    listening=$(ss -ltn 2>/dev/null)
    if echo "$listening" | grep -q '127.0.0.1:25 ' && echo "$listening" | grep -q '127.0.0.1:587 ' \
      && echo "$listening" | grep -q '127.0.0.1:465 '; then
      return 0
    fi
    sleep 0.1
    i=$((i + 1))
  done
  die "postfix does not listen on 127.0.0.1:25, :587 and :465 (see $LOG)"
}

case "${1:-}" in
  start)
    need_root
    ensure_files
    ensure_cert
    ensure_sasl
    configure
    if running; then postfix reload >/dev/null 2>&1; else postfix start >/dev/null 2>&1 || die "postfix start failed (see $LOG)"; fi
    wait_listening
    echo "postfix-fixture: postfix listening on 127.0.0.1:25, 127.0.0.1:587 and 127.0.0.1:465"
    ;;
  stop)
    need_root
    if running; then postfix stop >/dev/null 2>&1 || die "postfix stop failed"; fi
    echo "postfix-fixture: postfix stopped"
    ;;
  status)
    running
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
