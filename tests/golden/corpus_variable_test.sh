#!/usr/bin/env bash
# `MAILTAP_ZEEK_CORPUS=DIR ctest -R zeek_parity` uses DIR (read when the test runs, not only when
# CMake was configured): pointed at a directory without the corpus, zeek_parity must say it looked
# there and skip.   corpus_variable_test.sh BUILD_DIR
set -euo pipefail
build="${1:?usage: corpus_variable_test.sh BUILD_DIR}"
missing="$(mktemp -d "${TMPDIR:-/tmp}/mailtap-no-corpus.XXXXXX")"
trap 'rm -rf "${missing}"' EXIT
out="$(MAILTAP_ZEEK_CORPUS="${missing}" ctest --test-dir "${build}" -R '^zeek_parity$' \
         --output-on-failure -V 2>&1)" || true
if ! grep -qF "Zeek corpus not found at '${missing}'" <<<"${out}"; then
  echo "${out}" >&2
  echo "FAIL: zeek_parity ignored MAILTAP_ZEEK_CORPUS=${missing} given at test time" >&2
  exit 1
fi
grep -q "Skipped" <<<"${out}" || { echo "${out}" >&2; echo "FAIL: not reported as skipped" >&2; exit 1; }
echo "ok: zeek_parity looked in MAILTAP_ZEEK_CORPUS=${missing} and skipped"
