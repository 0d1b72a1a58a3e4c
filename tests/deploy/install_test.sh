#!/usr/bin/env bash
# Installation: `cmake --install` puts the programs, the systemd unit (pointing at this prefix),
# the sysusers/tmpfiles entries, the example config, the logrotate file, the man pages, the bash
# completion and the docs where packagers and admins expect them; the installed unit passes
# `systemd-analyze verify`; every config file we ship is accepted by the agent itself and keeps
# message content out of the journal; the man pages document every option; the completion
# completes; logrotate rotates and signals the agent's main process.
#   install_test.sh layout|verify|configs|privacy|manpages|completion|logrotate
# shellcheck source=tests/deploy/lib.sh
source "$(dirname "$0")/lib.sh"

mode="${1:?usage: install_test.sh layout|verify|configs|privacy|manpages|completion|logrotate}"
build="${MAILTAP_BINARY_DIR}"
need cmake cmake

make_scratch

install_to() {  # install_to PREFIX [DESTDIR]
  DESTDIR="${2:-}" cmake --install "${build}" --prefix "$1" >"${SCRATCH}/install.log" 2>&1 ||
    { cat "${SCRATCH}/install.log" >&2; fail "cmake --install --prefix $1 failed"; }
}

layout() {
  local root="${SCRATCH}/root"
  install_to /usr "${root}"
  local expect=(
    usr/sbin/mailtapd usr/bin/mailtap
    usr/lib/systemd/system/mailtapd.service usr/lib/sysusers.d/mailtap.conf
    usr/lib/tmpfiles.d/mailtap.conf etc/mailtap/mailtapd.conf
    usr/share/doc/mailtap/deployment.md usr/share/doc/mailtap/examples/mailtapd.conf
    etc/logrotate.d/mailtap usr/share/man/man8/mailtapd.8 usr/share/man/man1/mailtap.1
    usr/share/bash-completion/completions/mailtapd usr/share/bash-completion/completions/mailtap
  )
  for f in "${expect[@]}"; do
    [[ -e "${root}/${f}" || "${f}" != *share/man/* ]] ||
      fail "--prefix /usr did not install /${f}: the build makes man pages only with help2man" \
           "(Debian package help2man; reconfigure after installing it)"
    [[ -e "${root}/${f}" ]] || fail "--prefix /usr did not install /${f}"
  done
  cmp -s "${root}/usr/lib/systemd/system/mailtapd.service" \
         "${MAILTAP_SOURCE_DIR}/deploy/systemd/mailtapd.service" ||
    fail "for --prefix /usr the installed unit must be deploy/systemd/mailtapd.service unchanged"
  local version
  version="$("${root}/usr/sbin/mailtapd" --version)"
  [[ "${version}" == "mailtapd ${MAILTAP_VERSION}" ]] ||
    fail "installed mailtapd --version says '${version}', project(VERSION) is ${MAILTAP_VERSION}"
  pass "--prefix /usr: ${#expect[@]} files in place; ${version}"

  # Reinstalling keeps the operator's configuration.
  echo "ports=2525" >>"${root}/etc/mailtap/mailtapd.conf"
  install_to /usr "${root}"
  grep -qx "ports=2525" "${root}/etc/mailtap/mailtapd.conf" ||
    fail "reinstalling overwrote /etc/mailtap/mailtapd.conf"
  pass "reinstall keeps an edited /etc/mailtap/mailtapd.conf"

  # Any other prefix: the unit starts that prefix's agent with that prefix's config.
  local prefix="${SCRATCH}/local"
  install_to "${prefix}"
  grep -qx "ExecStart=${prefix}/sbin/mailtapd --config ${prefix}/etc/mailtap/mailtapd.conf" \
      "${prefix}/lib/systemd/system/mailtapd.service" ||
    fail "unit under --prefix ${prefix} does not start ${prefix}/sbin/mailtapd"
  [[ -e "${prefix}/etc/mailtap/mailtapd.conf" ]] || fail "no ${prefix}/etc/mailtap/mailtapd.conf"
  pass "--prefix ${prefix}: unit points at the prefix's agent and config"
}

verify() {
  need systemd-analyze systemd
  # Installed under a scratch prefix, the unit names programs and files that exist, so verify
  # checks the real thing (it rejects an ExecStart= that is not executable).
  local prefix="${SCRATCH}/prefix"
  install_to "${prefix}"
  local unit="${prefix}/lib/systemd/system/mailtapd.service"
  systemd-analyze verify "${unit}" >"${SCRATCH}/verify.log" 2>&1 ||
    { cat "${SCRATCH}/verify.log" >&2; fail "systemd-analyze verify failed"; }
  if grep -q "mailtapd.service" "${SCRATCH}/verify.log"; then
    cat "${SCRATCH}/verify.log" >&2
    fail "systemd-analyze verify warned about mailtapd.service"
  fi
  pass "systemd-analyze verify: clean"
  if ! grep -qx "Type=notify" "${unit}" || ! grep -qx "NotifyAccess=main" "${unit}"; then
    fail "the unit must be Type=notify with NotifyAccess=main (the agent sends READY=1)"
  fi
  pass "Type=notify, NotifyAccess=main"
  # systemd's own exposure score (shown as 0.0 = locked down .. 10.0 = unprotected; --threshold
  # takes it times ten). An agent that loads eBPF as root before dropping to a user cannot reach
  # 0, but must stay below 4.0, systemd's "OK" band.
  systemd-analyze security --offline=yes --threshold=39 "${unit}" >"${SCRATCH}/security.log" 2>&1 ||
    { cat "${SCRATCH}/security.log" >&2; fail "systemd-analyze security: exposure 4.0 or more"; }
  pass "systemd-analyze security: $(grep -o 'Overall exposure level.*' "${SCRATCH}/security.log")"
}

configs() {
  local agent="${build}/bin/mailtapd"
  [[ -x "${agent}" ]] || fail "${agent} not built"
  # An empty capture (pcap global header only, Ethernet): the replay starts, ends, exits 0.
  printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00' \
    >"${SCRATCH}/empty.pcap"
  mkdir -p "${SCRATCH}/logs"
  # Command-line options win over the file: keep the replay away from /run and /var/log.
  local overrides=(--socket "${SCRATCH}/s.sock" --log-dir "${SCRATCH}/logs"
                   --events "${SCRATCH}/events.json" -r "${SCRATCH}/empty.pcap")
  local conf
  while IFS= read -r conf; do
    "${agent}" --config "${conf}" "${overrides[@]}" >"${SCRATCH}/out" 2>&1 ||
      { cat "${SCRATCH}/out" >&2; fail "mailtapd rejects ${conf#"${MAILTAP_SOURCE_DIR}/"}"; }
    pass "mailtapd accepts ${conf#"${MAILTAP_SOURCE_DIR}/"}"
  done < <(find "${MAILTAP_SOURCE_DIR}/deploy" -name mailtapd.conf | sort)
  # ...and the check has teeth: a misspelt option is a usage error (exit 2).
  sed 's/^ports=/prots=/' "${MAILTAP_SOURCE_DIR}/deploy/mailtapd.conf" >"${SCRATCH}/bad.conf"
  local status=0
  "${agent}" --config "${SCRATCH}/bad.conf" "${overrides[@]}" >/dev/null 2>&1 || status=$?
  ((status == 2)) || fail "a config with a misspelt option exited ${status}, want 2"
  pass "a misspelt option in a config file is rejected (exit 2)"
}

# Active `name=value` settings of a mailtapd.conf, as NAME=VALUE lines.
settings() { sed -nE 's/^[[:space:]]*([a-z-]+)[[:space:]]*=[[:space:]]*(.*[^[:space:]])[[:space:]]*$/\1=\2/p' "$1"; }

# Private by default: every shipped config, run as shipped on the sample capture, puts no message
# line, header value or credential on stdout/stderr (the journal, the container log), and emits
# no content event at all (not even redacted: they are selected out, which also saves the volume).
# Only the socket and the file outputs are moved into the scratch directory.
privacy() {
  local agent="${build}/bin/mailtapd" sample="${MAILTAP_SOURCE_DIR}/samples/smtp-sessions.pcap"
  local secrets=("shall we meet at the usual place" "The figures are attached"
                 "Message-ID: <sample-1@client.example.com>" "AGRhdmUAbm90LWEtcmVhbC1wYXNzd29yZA")
  local content_events
  content_events="$("${agent}" --list-events | python3 -c '
import json, sys
print("\n".join(e["event"] for e in json.load(sys.stdin) if e["kind"] == "content"))')"
  [[ -n "${content_events}" ]] || fail "mailtapd --list-events names no content event"
  local conf name events args secret event
  while IFS= read -r conf; do
    name="${conf#"${MAILTAP_SOURCE_DIR}/"}"
    rm -rf "${SCRATCH}/logs" && mkdir -p "${SCRATCH}/logs"
    args=(--config "${conf}" --socket "${SCRATCH}/s.sock" --log-dir "${SCRATCH}/logs" -r "${sample}")
    events="$(settings "${conf}" | sed -n 's/^events=//p')"
    [[ -z "${events}" || "${events}" == "-" ]] || args+=(--events "${SCRATCH}/logs/events.json")
    "${agent}" "${args[@]}" >"${SCRATCH}/stdout" 2>"${SCRATCH}/stderr" ||
      { cat "${SCRATCH}/stderr" >&2; fail "${name}: replay of the sample failed"; }
    [[ "${events}" != "-" ]] || grep -q '"event":"smtp_request"' "${SCRATCH}/stdout" ||
      fail "${name}: events=- but no smtp_request on stdout (the check would be empty)"
    for secret in "${secrets[@]}"; do
      ! grep -qF "${secret}" "${SCRATCH}/stdout" "${SCRATCH}/stderr" ||
        fail "${name}: '${secret}' reached stdout/stderr (the journal or container log)"
    done
    while IFS= read -r event; do
      ! grep -qF "\"event\":\"${event}\"" "${SCRATCH}/stdout" ||
        fail "${name}: content event ${event} emitted on stdout by default"
    done <<<"${content_events}"
    pass "${name}: no content event, message content or credential on stdout/stderr ($(wc -l <"${SCRATCH}/stdout") lines)"
  done < <(find "${MAILTAP_SOURCE_DIR}/deploy" -name mailtapd.conf | sort)
  # ...and the check has teeth: selecting the content events without redaction shows the message
  # lines and headers; with redact=data they are emitted, but as [REDACTED].
  local base="${MAILTAP_SOURCE_DIR}/deploy/kubernetes/base/mailtapd.conf"
  sed -e 's/^redact=data/redact=credentials/' -e 's/^events-include=.*/events-include=all/' \
    "${base}" >"${SCRATCH}/open.conf"
  "${agent}" --config "${SCRATCH}/open.conf" --socket "${SCRATCH}/s.sock" -r "${sample}" \
    >"${SCRATCH}/stdout" 2>/dev/null
  for secret in "${secrets[@]:0:3}"; do
    grep -qF "${secret}" "${SCRATCH}/stdout" ||
      fail "with events-include=all and redact=credentials, '${secret}' should be on stdout: the check has no teeth"
  done
  pass "with events-include=all and redact=credentials, message lines and headers do reach stdout (the check can fail)"
  sed 's/^events-include=.*/events-include=all/' "${base}" >"${SCRATCH}/all.conf"
  "${agent}" --config "${SCRATCH}/all.conf" --socket "${SCRATCH}/s.sock" -r "${sample}" \
    >"${SCRATCH}/stdout" 2>"${SCRATCH}/stderr"
  grep -q '"event":"smtp_data".*\[REDACTED\]' "${SCRATCH}/stdout" ||
    fail "with events-include=all and redact=data, smtp_data should be emitted redacted"
  grep -q "carries message content (smtp_data" "${SCRATCH}/stderr" ||
    fail "with events-include=all the start-up log should say that --events carries content"
  pass "with events-include=all, redact=data still redacts, and the agent says content is on"
}

# The man pages: generated from --help, so every option the programs list is in them, and they
# render without a warning.
manpages() {
  need man man-db
  local root="${SCRATCH}/root" page option
  install_to /usr "${root}"
  for page in man8/mailtapd.8 man1/mailtap.1; do
    local file="${root}/usr/share/man/${page}"
    MANWIDTH=100 LC_ALL=C.UTF-8 man --warnings -l "${file}" >"${SCRATCH}/page.txt" \
      2>"${SCRATCH}/warnings" || fail "man -l ${page} failed"
    [[ ! -s "${SCRATCH}/warnings" ]] || { cat "${SCRATCH}/warnings" >&2; fail "${page}: warnings"; }
    for section in NAME SYNOPSIS DESCRIPTION "EXIT STATUS" "SEE ALSO"; do
      grep -q "^${section}\$" "${SCRATCH}/page.txt" || fail "${page}: no ${section} section"
    done
    pass "${page}: renders cleanly with NAME, SYNOPSIS, DESCRIPTION, EXIT STATUS, SEE ALSO"
  done
  local agent_help
  agent_help="$("${root}/usr/sbin/mailtapd" --help)"
  MANWIDTH=100 man -l "${root}/usr/share/man/man8/mailtapd.8" >"${SCRATCH}/page.txt" 2>/dev/null
  local count=0
  # Boost's layout: "  -r [ --read ] FILE   text" or "  --events PATH   text".
  for option in $(grep -E '^  -' <<<"${agent_help}" | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
    grep -qF -- "${option}" "${SCRATCH}/page.txt" || fail "mailtapd.8 lacks ${option}"
    count=$((count + 1))
  done
  ((count >= 15)) || fail "found only ${count} options in mailtapd --help"
  pass "mailtapd.8 documents all ${count} options of mailtapd --help"
  MANWIDTH=100 man -l "${root}/usr/share/man/man1/mailtap.1" >"${SCRATCH}/page.txt" 2>/dev/null
  for option in --socket --last --follow --output; do
    grep -qF -- "${option}" "${SCRATCH}/page.txt" || fail "mailtap.1 lacks ${option}"
  done
  for command in status observe transactions connections metrics; do
    grep -qE "mailtap .*${command}" "${SCRATCH}/page.txt" || fail "mailtap.1 lacks the ${command} command"
  done
  pass "mailtap.1 has every command with its options"
}

# Bash completion: the installed scripts, loaded as bash-completion loads them, complete the
# options, commands and choices the interface documents.
completion() {
  local root="${SCRATCH}/root"
  install_to /usr "${root}"
  local dir="${root}/usr/share/bash-completion/completions"
  # complete_words FILE WORD...: prints the completions bash offers for the last WORD.
  complete_words() {
    local file="$1"
    shift
    PATH="${root}/usr/sbin:${root}/usr/bin:${PATH}" bash --norc -c '
      source "$1"; shift
      COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
      fn="$(complete -p "$1" | sed -E "s/.*-F ([^ ]+) .*/\1/")"
      "${fn}" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
      printf "%s
" "${COMPREPLY[@]}" | sort | paste -sd " "' _ "${file}" "$@"
  }
  expect() {  # expect WANT FILE WORD...
    local want="$1" got
    shift
    got="$(complete_words "$@")"
    [[ "${got}" == "${want}" ]] || fail "completing '${*:2}': got '${got}', want '${want}'"
    pass "'${*:2}' completes to: ${got}"
  }
  expect "--read --redact" "${dir}/mailtapd" mailtapd --re
  expect "json zeek" "${dir}/mailtapd" mailtapd --log-format ""
  expect "credentials data none" "${dir}/mailtapd" mailtapd -r x.pcap --redact ""
  expect "--keep-serving" "${dir}/mailtapd" mailtapd --keep
  expect "--events --events-include" "${dir}/mailtapd" mailtapd --events
  expect "protocol,smtp_reply protocol,smtp_request" \
    "${dir}/mailtapd" mailtapd --events-include protocol,smtp_re
  expect "all" "${dir}/mailtapd" mailtapd --events-include a
  expect "connections" "${dir}/mailtap" mailtap co
  expect "metrics" "${dir}/mailtap" mailtap --socket /tmp/s m
  expect "--follow" "${dir}/mailtap" mailtap observe --fo
  expect "compact json table" "${dir}/mailtap" mailtap observe -o ""
}

# logrotate: the shipped file parses, rotates every output file and signals the agent's main
# process once (systemctl replaced by a stub that records how it was called).
logrotate_mode() {
  need logrotate logrotate
  local root="${SCRATCH}/root"
  install_to /usr "${root}"
  local shipped="${root}/etc/logrotate.d/mailtap" logs="${SCRATCH}/var-log-mailtap"
  mkdir -p "${logs}" "${SCRATCH}/stub"
  echo '{"ts":1}' >"${logs}/smtp.log"
  echo '{"ts":2}' >"${logs}/weird.log"
  echo '{"ts":3}' >"${logs}/events.json"
  sed "s|/var/log/mailtap/|${logs}/|g" "${shipped}" >"${SCRATCH}/logrotate.conf"
  printf '#!/bin/sh
echo "$*" >>"%s/systemctl.calls"
' "${SCRATCH}" >"${SCRATCH}/stub/systemctl"
  chmod +x "${SCRATCH}/stub/systemctl"
  chmod 0755 "${logs}"
  PATH="${SCRATCH}/stub:${PATH}" logrotate --verbose --force --state "${SCRATCH}/state" \
    "${SCRATCH}/logrotate.conf" >"${SCRATCH}/logrotate.log" 2>&1 ||
    { cat "${SCRATCH}/logrotate.log" >&2; fail "logrotate failed on the shipped file"; }
  ! grep -qi "error" "${SCRATCH}/logrotate.log" ||
    { cat "${SCRATCH}/logrotate.log" >&2; fail "logrotate reported an error"; }
  local f
  for f in smtp.log weird.log events.json; do
    [[ -s "${logs}/${f}.1" && ! -e "${logs}/${f}" ]] || fail "${f} was not rotated to ${f}.1"
  done
  local calls
  calls="$(cat "${SCRATCH}/systemctl.calls" 2>/dev/null)"
  [[ "${calls}" == "kill --kill-whom=main --signal=HUP mailtapd.service" ]] ||
    fail "postrotate ran systemctl '${calls}', want one SIGHUP to mailtapd's main process"
  pass "logrotate: 3 files rotated, then once: systemctl ${calls}"
}

if [[ "${mode}" == logrotate ]]; then logrotate_mode; else "${mode}"; fi
