#!/usr/bin/env bash
# Installation: `cmake --install` puts the programs, the systemd unit (pointing at this prefix),
# the sysusers/tmpfiles entries, the example config and the docs where packagers and admins
# expect them; the installed unit passes `systemd-analyze verify`; every config file we ship is
# accepted by the agent itself.
#   install_test.sh layout|verify|configs
# shellcheck source=tests/deploy/lib.sh
source "$(dirname "$0")/lib.sh"

mode="${1:?usage: install_test.sh layout|verify|configs}"
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
  )
  for f in "${expect[@]}"; do
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

"${mode}"
