#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (as root):
#   scripts/bootstrap.sh run    install what is missing, build, run mailtapd with its defaults
#   scripts/bootstrap.sh test   install what is missing, build, run the whole test suite
#   scripts/bootstrap.sh build  install what is missing and build
# Environment: BUILD_DIR (default: build), JOBS (default: nproc), MAILTAP_WERROR (default: ON).
set -euo pipefail

cd "$(dirname "$0")/.."
action=${1:-build}
build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}

# Debian packages, one per line with why, so the list stays reviewable.
packages=(
  build-essential cmake pkg-config git           # toolchain
  libpcap-dev                                     # pcap/pcapng replay (-r)
  libboost-program-options-dev                    # command lines and config files
  nlohmann-json3-dev                              # query protocol, tests
  libfmt-dev                                      # formatting
  libgtest-dev libgmock-dev                       # unit tests
  clang llvm libbpf-dev bpftool linux-libc-dev    # the eBPF program and its skeleton
  python3 python3-prometheus-client               # golden/parity harness; metrics checked by a real parser
  tshark tcpdump                                  # reference decoders for tests and benchmarks
  postfix swaks openssl iproute2                  # a real mail server and client for live tests
  $(sed 's/#.*//' scripts/deploy-deps.txt)                 # container image, manifests, unit tests
  libclang-rt-14-dev                              # libFuzzer and sanitizer runtimes (ci-sanitizers.sh)
)

install_missing() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix must not ask questions; the tests configure it themselves.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DMAILTAP_WERROR="${MAILTAP_WERROR:-ON}" >/dev/null
  cmake --build "$build_dir" -j "$jobs"
}

if [ "$(id -u)" -ne 0 ]; then
  echo "bootstrap: run as root (it installs Debian packages; live capture needs root too)" >&2
  exit 1
fi
install_missing
build
case "$action" in
  build) ;;
  run) exec "$build_dir/bin/mailtapd" --events - ;;
  test) (cd "$build_dir" && ctest --output-on-failure -j "$jobs")
        scripts/ci-sanitizers.sh ;;  # ASan+UBSan build and tests, each fuzz target briefly
  *) echo "usage: $0 run|test|build" >&2; exit 2 ;;
esac
