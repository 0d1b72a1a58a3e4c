#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (as root):
#   scripts/bootstrap.sh run    install what is missing, build, run mailtapd with its defaults
#   scripts/bootstrap.sh test   install what is missing, check it, build, run the whole test suite
#   scripts/bootstrap.sh build  install what is missing and build
#   scripts/bootstrap.sh deps   install what is missing and check it (scripts/check-deps.py)
# What is installed comes from scripts/deps.txt, the one list. Environment: BUILD_DIR (default:
# build), JOBS (default: nproc), MAILTAP_WERROR (default: ON).
set -euo pipefail

cd "$(dirname "$0")/.."
usage() { echo "usage: $0 run|test|build|deps" >&2; exit 2; }
action=${1:-build}
case "${action}" in
  run | test | build | deps) ;;
  *) usage ;;
esac
build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}

# The `package` lines of scripts/deps.txt, except those the machine image brings (image:NAME).
mapfile -t packages < <(awk '$1 == "package" && $2 !~ /^image:/ { print $2 }' scripts/deps.txt)

install_missing() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: missing ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix must not ask questions; the tests configure it themselves.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Fails, naming the tool and the package, when something the tests call is missing or comes from
# a package that is not in scripts/deps.txt (only present because someone installed it by hand).
check_deps() {
  scripts/check-deps.py || {
    echo "bootstrap: the dependency check failed; scripts/deps.txt is the list to fix" >&2
    exit 1
  }
}

# Python is Debian's (the one check_deps checked), not whichever python3 comes first on PATH.
build() {
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DMAILTAP_WERROR="${MAILTAP_WERROR:-ON}" -DPython3_EXECUTABLE=/usr/bin/python3 >/dev/null
  cmake --build "$build_dir" -j "$jobs"
}

if [ "$(id -u)" -ne 0 ] && [ "$action" != deps ]; then
  echo "bootstrap: run as root (it installs Debian packages; live capture needs root too)" >&2
  exit 1
fi
install_missing
case "$action" in
  deps) check_deps ;;
  build) build ;;
  run)
    build
    exec "$build_dir/bin/mailtapd" --events -
    ;;
  test)
    check_deps
    build
    cd "$build_dir"
    ctest --output-on-failure -j "$jobs"
    cd - >/dev/null
    scripts/ci-sanitizers.sh  # ASan+UBSan build and tests, each fuzz target briefly
    ;;
esac
