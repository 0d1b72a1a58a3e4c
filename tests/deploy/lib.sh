# shellcheck shell=bash
# Shared helpers for the deploy tests (sourced).
set -euo pipefail

: "${MAILTAP_SOURCE_DIR:?run through ctest (MAILTAP_SOURCE_DIR unset)}"
: "${MAILTAP_BINARY_DIR:?run through ctest (MAILTAP_BINARY_DIR unset)}"
: "${MAILTAP_VERSION:?run through ctest (MAILTAP_VERSION unset)}"

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
pass() { echo "ok: $*"; }

# need TOOL PACKAGE: the tool must be on PATH; otherwise name the package that brings it.
need() {
  command -v "$1" >/dev/null 2>&1 ||
    fail "'$1' not found: package '$2' brings it (scripts/deps.txt; scripts/deploy-deps.sh)"
}

# Sets SCRATCH to a fresh directory removed when the test exits (call it in the main shell, not in
# a $(...) subshell, whose exit would remove it at once).
make_scratch() {
  SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/mailtap-deploy.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '${SCRATCH}'" EXIT
}
