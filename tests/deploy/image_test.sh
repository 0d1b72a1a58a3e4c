#!/usr/bin/env bash
# The container image: scripts/build-image.sh builds deploy/Dockerfile with buildah; the image
# carries the project version in its labels, runs as a non-root user with mailtapd as its
# entrypoint, holds no build tools; and in a real OCI container (runc) that is as locked down as
# a replay allows (read-only root, no capabilities, no new privileges, no network) it prints its
# version and replays Zeek's smtp.pcap into the smtp.log records Zeek's own baseline lists.
# shellcheck source=tests/deploy/lib.sh
source "$(dirname "$0")/lib.sh"

[[ "$(id -u)" == 0 ]] || skip "building and running images needs root"
need buildah buildah
need runc runc
need debootstrap debootstrap
need python3 python3

trace="${MAILTAP_ZEEK_CORPUS}/traces/smtp.pcap"
baseline="${MAILTAP_ZEEK_CORPUS}/baselines/scripts.base.protocols.smtp.basic/smtp.log"
[[ -f "${trace}" && -f "${baseline}" ]] ||
  skip "Zeek corpus not found at ${MAILTAP_ZEEK_CORPUS} (set MAILTAP_ZEEK_CORPUS)"

# The image store and Debian base cache live in the build tree and survive between runs.
work="${MAILTAP_BINARY_DIR}/image"
export MAILTAP_IMAGE_STORE="${work}/containers"
if [[ -z "${MAILTAP_STORAGE_DRIVER:-}" ]]; then
  MAILTAP_STORAGE_DRIVER=vfs
  grep -qw overlay /proc/filesystems && MAILTAP_STORAGE_DRIVER=overlay
fi
export MAILTAP_STORAGE_DRIVER
store=(--root "${MAILTAP_IMAGE_STORE}/storage" --runroot "${MAILTAP_IMAGE_STORE}/run"
       --storage-driver "${MAILTAP_STORAGE_DRIVER}")

make_scratch
ctr=""
cleanup() {
  if [[ -n "${ctr}" ]]; then
    buildah "${store[@]}" umount "${ctr}" >/dev/null 2>&1 || true
    buildah "${store[@]}" rm "${ctr}" >/dev/null 2>&1 || true
  fi
  rm -rf "${SCRATCH}"
}
trap cleanup EXIT

tag="$("${MAILTAP_SOURCE_DIR}/scripts/build-image.sh" --work "${work}" | tail -n1)" ||
  fail "scripts/build-image.sh failed"
pass "built ${tag}"

# --- image metadata ---------------------------------------------------------------------------
buildah "${store[@]}" inspect --type image "${tag}" >"${SCRATCH}/image.json"
config() {  # config KEY: the image config's KEY as JSON (Labels, User, Entrypoint, ...)
  python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["OCIv1"]["config"].get(sys.argv[2])))' \
    "${SCRATCH}/image.json" "$1"
}
label="$(config Labels | python3 -c 'import json,sys; print(json.load(sys.stdin).get("org.opencontainers.image.version"))')"
[[ "${label}" == "${MAILTAP_VERSION}" ]] ||
  fail "label org.opencontainers.image.version is '${label}', want ${MAILTAP_VERSION}"
user="$(config User | tr -d '"')"
[[ -n "${user}" && "${user%%:*}" != 0 && "${user%%:*}" != root ]] ||
  fail "default user must be non-root, is '${user}'"
[[ "${user}" =~ ^[0-9]+(:[0-9]+)?$ ]] || fail "default user must be numeric uid:gid, is '${user}'"
entrypoint="$(config Entrypoint)"
[[ "${entrypoint}" == '["/usr/sbin/mailtapd"]' ]] || fail "entrypoint is ${entrypoint}, want mailtapd"
pass "labels version ${MAILTAP_VERSION}, user ${user}, entrypoint mailtapd"

# --- contents: the programs and their libraries, no build tools ---------------------------------
ctr="$(buildah "${store[@]}" from --pull=never "${tag}")"
rootfs="$(buildah "${store[@]}" mount "${ctr}")"
for f in usr/sbin/mailtapd usr/bin/mailtap etc/mailtap/mailtapd.conf; do
  [[ -e "${rootfs}/${f}" ]] || fail "image lacks /${f}"
done
for f in usr/bin/g++ usr/bin/cc usr/bin/clang usr/bin/cmake usr/sbin/bpftool usr/include/pcap.h \
         usr/include/bpf/libbpf.h; do
  [[ ! -e "${rootfs}/${f}" ]] || fail "runtime image carries build-only /${f}"
done
pass "image holds mailtapd, mailtap, the example config; no compiler, headers or bpftool"

# --- run in an OCI container ---------------------------------------------------------------------
# A runc bundle over the image's root filesystem: the image's entrypoint and user, read-only
# root, every capability dropped, no_new_privs, own network namespace with nothing in it.
bundle="${SCRATCH}/bundle"
mkdir -p "${bundle}" "${SCRATCH}/data" "${SCRATCH}/out"
cp "${trace}" "${SCRATCH}/data/smtp.pcap"
chmod 0755 "${SCRATCH}" "${SCRATCH}/data"
chmod 0644 "${SCRATCH}/data/smtp.pcap"
chown "${user}" "${SCRATCH}/out"
(cd "${bundle}" && runc spec)

# run_in_container NAME ARGS...: runs entrypoint + ARGS; stdout to stdout, stderr to stderr.
run_in_container() {
  local name="$1"
  shift
  python3 - "${bundle}/config.json" "${rootfs}" "${SCRATCH}" "${user}" \
      "${entrypoint}" "$@" <<'EOF'
import json, sys
path, rootfs, scratch, user, entrypoint, *args = sys.argv[1:]
spec = json.load(open(path))
uid, _, gid = user.partition(":")
spec["root"] = {"path": rootfs, "readonly": True}
proc = spec["process"]
proc["terminal"] = False
proc["args"] = json.loads(entrypoint) + args
proc["user"] = {"uid": int(uid), "gid": int(gid or uid)}
proc["noNewPrivileges"] = True
proc["capabilities"] = {k: [] for k in ("bounding", "effective", "inheritable", "permitted", "ambient")}
spec["mounts"] = [m for m in spec["mounts"] if m["destination"] != "/tmp"] + [
    {"destination": "/data", "type": "bind", "source": scratch + "/data", "options": ["rbind", "ro"]},
    {"destination": "/out", "type": "bind", "source": scratch + "/out", "options": ["rbind", "rw"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "nodev", "mode=1777", "size=16m"]},
]
json.dump(spec, open(path, "w"), indent=1)
EOF
  runc run --bundle "${bundle}" "mailtap-test-${name}-$$"
}

version_out="$(run_in_container version --version)" || fail "mailtapd --version failed in the container"
[[ "${version_out}" == "mailtapd ${MAILTAP_VERSION}" ]] ||
  fail "container's mailtapd --version printed '${version_out}', want 'mailtapd ${MAILTAP_VERSION}'"
pass "in a container: ${version_out}"

# Events to stdout (as under Kubernetes), smtp.log into the one writable bind mount.
run_in_container replay -r /data/smtp.pcap --events - --log-dir /out >"${SCRATCH}/events.json" \
  2>"${SCRATCH}/stderr" || { cat "${SCRATCH}/stderr" >&2; fail "replay failed in the container"; }
python3 - "${SCRATCH}/events.json" "${SCRATCH}/out/smtp.log" "${baseline}" <<'EOF' ||
import json, sys
events_path, log_path, baseline_path = sys.argv[1:]
events = [json.loads(line) for line in open(events_path) if line.strip()]
assert events, "no events on stdout"
for e in events:
    for key in ("ts", "event", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p"):
        assert key in e, f"event without {key}: {e}"
# Zeek's smtp.log baseline: one connection per record; the replay must raise events for the
# same SMTP connections (4-tuples), and the EHLO/HELO arguments Zeek logged as `helo`.
fields, expected = None, []
for line in open(baseline_path):
    line = line.rstrip("\n")
    if line.startswith("#fields"):
        fields = line.split("\t")[1:]
    elif line and not line.startswith("#"):
        expected.append(dict(zip(fields, line.split("\t"))))
tuple_of = lambda r: (r["id.orig_h"], int(r["id.orig_p"]), r["id.resp_h"], int(r["id.resp_p"]))
want = {tuple_of(r): r["helo"] for r in expected}
seen = {tuple_of(e) for e in events if e["event"].startswith("smtp_")}
assert seen == set(want), f"SMTP connections {sorted(seen)} != Zeek's {sorted(want)}"
helos = {tuple_of(e): e["arg"] for e in events
         if e["event"] == "smtp_request" and e.get("command", "").upper() in ("EHLO", "HELO")}
assert helos == want, f"EHLO/HELO arguments {helos} != Zeek's helo {want}"
records = [json.loads(line) for line in open(log_path) if line.strip()]
got = sorted((tuple_of(r), r.get("helo"), r.get("mailfrom")) for r in records)
zeek = sorted((tuple_of(r), r["helo"], r["mailfrom"]) for r in expected)
assert got == zeek, f"smtp.log records {got} != Zeek's {zeek}"
print(f"ok: {len(events)} events over {len(want)} SMTP connections; smtp.log as Zeek's")
EOF
  fail "replay output differs from Zeek's baseline"
pass "in a container (read-only root, no capabilities, uid ${user}): replayed smtp.pcap"
