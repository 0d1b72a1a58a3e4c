#!/usr/bin/env bash
# CI's sanitizer stage (called by `scripts/bootstrap.sh test`): an ASan+UBSan build with clang of
# the core library, the tests and the libFuzzer targets in its own build directory; then the
# tests that need no privilege, then each fuzz target for FUZZ_SECONDS (default 20) on seed
# corpora built in the build directory. Environment: ASAN_BUILD_DIR (default build-asan), JOBS.
# Costs on 2 cores: a first build ~10 min (ccache makes later ones fast), the tests ~4 min, the
# fuzzing 7 x FUZZ_SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${ASAN_BUILD_DIR:-build-asan}
jobs=${JOBS:-$(nproc)}
fuzz_seconds=${FUZZ_SECONDS:-20}

sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
# No eBPF here (the live path is tested by the privileged tests of the main build); warnings are
# the main build's business (MAILTAP_WERROR there).
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" \
      -DMAILTAP_BUILD_BPF=OFF -DMAILTAP_BUILD_FUZZ=ON -DMAILTAP_WERROR=OFF \
      "-DCMAKE_C_FLAGS=$sanitize" "-DCMAKE_CXX_FLAGS=$sanitize -fsanitize=fuzzer-no-link" \
      "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" >/dev/null
cmake --build "$build_dir" -j "$jobs"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:quarantine_size_mb=32
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Time and memory bounds of the replay tests, for a build that is slower and bigger by design.
export MAILTAP_TIME_SLACK=4 MAILTAP_MEMORY_SLACK=3
(cd "$build_dir" && ctest --output-on-failure -j "$jobs" -LE 'privileged|deploy')
scripts/fuzz.sh "$build_dir" "$fuzz_seconds"
