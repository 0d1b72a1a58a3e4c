#!/usr/bin/env bash
# Builds the mailtap container image from deploy/Dockerfile with buildah: no Docker daemon and no
# registry needed. The Debian 12 base the Dockerfile starts FROM is made here from Debian's own
# packages (debootstrap) unless the image store already has one.
#
#   scripts/build-image.sh [--tag NAME] [--work DIR] [--jobs N] [--base-only]
#
# Prints the image name on the last line of stdout. Needs root, and the packages of
# scripts/deploy-deps.sh (buildah, debootstrap). Environment:
#   MAILTAP_DEBIAN_MIRROR   Debian mirror for debootstrap (default: the one apt uses here)
#   MAILTAP_IMAGE_STORE     buildah image store (default: WORK/containers; "system" = buildah's own)
#   MAILTAP_STORAGE_DRIVER  overlay or vfs (default: overlay where the kernel allows it, else vfs)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
base_name="docker.io/library/debian:12"   # what `FROM debian:12` resolves to
work="${repo}/build/image"
jobs=2
tag=""
base_only=0

die() { echo "build-image: $*" >&2; exit 1; }
log() { echo "build-image: $*" >&2; }

while (($#)); do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --base-only) base_only=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# The one place the version lives: project(mailtap VERSION x.y.z) in the top-level CMakeLists.txt.
project_version() {
  sed -nE 's/^project\(mailtap VERSION ([0-9][0-9.]*).*/\1/p' "${repo}/CMakeLists.txt" | head -n1
}

# The Debian mirror apt uses on this machine (deb822 sources first, then one-line sources).
apt_mirror() {
  local uri
  uri="$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources \
         2>/dev/null || true)"
  if [[ -z "${uri}" ]]; then
    uri="$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' \
           /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)"
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

buildah_() { buildah "${store_args[@]}" "$@"; }

# buildah's overlay driver leaves its store mounted when it exits (a bind mount of
# storage/overlay, and a container's merged tree when a build fails half-way): unmounted on the
# way out, so that the work directory can be removed and no mount outlives the build.
release_store_mounts() {
  local store="$1" mnt
  [[ "${store}" == system ]] && return
  buildah_ umount --all >/dev/null 2>&1 || true
  # Deepest first: a merged tree lies inside the store's own bind mount.
  awk -v root="${store}/" 'index($2, root) == 1 {print $2}' /proc/self/mounts | sort -r |
    while read -r mnt; do umount "${mnt}" 2>/dev/null || umount -l "${mnt}" || true; done
}

setup_store() {
  store_args=()
  local store="${MAILTAP_IMAGE_STORE:-${work}/containers}"
  if [[ "${store}" != system ]]; then
    store_args+=(--root "${store}/storage" --runroot "${store}/run")
  fi
  local driver="${MAILTAP_STORAGE_DRIVER:-}"
  if [[ -z "${driver}" ]]; then
    driver=vfs
    if grep -qw overlay /proc/filesystems 2>/dev/null; then driver=overlay; fi
  fi
  store_args+=(--storage-driver "${driver}")
}

# Debian 12 minbase rootfs, cached as a tarball: debootstrap only runs once per work directory.
make_rootfs_tarball() {
  local tarball="$1" mirror rootfs
  mirror="${MAILTAP_DEBIAN_MIRROR:-$(apt_mirror)}"
  rootfs="$(mktemp -d "${work}/rootfs.XXXXXX")"
  log "debootstrap bookworm from ${mirror}"
  debootstrap --variant=minbase bookworm "${rootfs}" "${mirror}" >"${work}/debootstrap.log" 2>&1 \
    || die "debootstrap failed; see ${work}/debootstrap.log"
  # The same suites as the machine's apt (updates and security), so the image gets fixes too.
  rm -f "${rootfs}/etc/apt/sources.list"
  cat >"${rootfs}/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: ${mirror}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  local security
  security="$(awk '/^URIs:/ && $2 ~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources \
              2>/dev/null || true)"
  if [[ -n "${security}" ]]; then
    cat >>"${rootfs}/etc/apt/sources.list.d/debian.sources" <<EOF

Types: deb
URIs: ${security}
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  fi
  # As Debian's official images do: dpkg skips fsync (a container layer is written once), apt
  # keeps no package cache.
  echo force-unsafe-io >"${rootfs}/etc/dpkg/dpkg.cfg.d/container-apt-speedup"
  cat >"${rootfs}/etc/apt/apt.conf.d/container-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  rm -rf "${rootfs}"/var/lib/apt/lists/* "${rootfs}"/var/cache/apt/archives/*.deb \
         "${rootfs}"/var/cache/apt/*.bin \
         "${rootfs}"/var/log/* "${rootfs}/debootstrap"
  tar -C "${rootfs}" --numeric-owner -cf "${tarball}.tmp" .
  mv "${tarball}.tmp" "${tarball}"
  rm -rf "${rootfs}"
}

ensure_base_image() {
  if buildah_ images --quiet "${base_name}" >/dev/null 2>&1; then
    log "base ${base_name} already in the image store"
    return
  fi
  command -v debootstrap >/dev/null || die "debootstrap missing: run scripts/deploy-deps.sh"
  local tarball="${work}/debian-12-minbase.tar"
  [[ -f "${tarball}" ]] || make_rootfs_tarball "${tarball}"
  log "importing ${tarball} as ${base_name}"
  local ctr mnt
  ctr="$(buildah_ from --pull=never scratch)"
  mnt="$(buildah_ mount "${ctr}")"
  tar -C "${mnt}" --numeric-owner -xf "${tarball}"
  buildah_ umount "${ctr}" >/dev/null
  buildah_ config --os linux --arch amd64 --cmd '["bash"]' \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${ctr}"
  buildah_ commit --quiet --rm "${ctr}" "${base_name}" >/dev/null
}

build_image() {
  local version revision
  version="$(project_version)"
  [[ -n "${version}" ]] || die "no project(mailtap VERSION ...) in ${repo}/CMakeLists.txt"
  revision="$(git -C "${repo}" rev-parse HEAD 2>/dev/null || echo unknown)"
  tag="${tag:-localhost/mailtap:${version}}"
  log "building ${tag} (version ${version}, revision ${revision})"
  # chroot isolation: RUN steps need no user namespaces or OCI runtime (works inside sandboxes
  # and CI containers); the network is the host's, so apt reaches the same mirror.
  buildah_ bud --isolation chroot --pull=never --network host --layers \
    --build-arg "MAILTAP_VERSION=${version}" --build-arg "MAILTAP_REVISION=${revision}" \
    --build-arg "JOBS=${jobs}" --file "${repo}/deploy/Dockerfile" --tag "${tag}" "${repo}" >&2
  echo "${tag}"
}

main() {
  [[ "$(id -u)" == 0 ]] || die "needs root (buildah's image store and chroot isolation)"
  command -v buildah >/dev/null || die "buildah missing: run scripts/deploy-deps.sh"
  mkdir -p "${work}"
  work="$(cd "${work}" && pwd)"  # /proc/self/mounts names absolute paths
  setup_store
  local store="${MAILTAP_IMAGE_STORE:-${work}/containers}"
  trap "release_store_mounts '${store}'" EXIT
  ensure_base_image
  if ((base_only)); then echo "${base_name}"; return; fi
  build_image
}

main
