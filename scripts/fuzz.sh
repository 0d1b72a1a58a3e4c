#!/usr/bin/env bash
# Runs every libFuzzer target of an ASan+UBSan build (scripts/ci-sanitizers.sh makes one) for
# SECONDS each, one after the other, on seed corpora built fresh in the build directory.
#   scripts/fuzz.sh [BUILD_DIR] [SECONDS] [TARGET...]
# Defaults: build-asan, 600 s, every target. New inputs that raise coverage are kept in
# BUILD_DIR/fuzz-corpus/TARGET; a crash leaves BUILD_DIR/fuzz-findings/TARGET/crash-* and makes
# the script exit 1 (add it as a regression test named after the finding).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build-asan}
seconds=${2:-600}
shift $(( $# > 2 ? 2 : $# ))
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_pcap_replay fuzz_tcp_streams fuzz_decoder
                                     fuzz_query_protocol fuzz_log_writers fuzz_tls_handshake
                                     fuzz_smtp_log fuzz_mime)
corpus="$build_dir/fuzz-corpus"
[ -d "$corpus/fuzz_pcap_replay" ] || scripts/fuzz-seeds.py "$corpus" >/dev/null
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
for t in "${targets[@]}"; do
  dict=""
  case "$t" in
    fuzz_pcap_replay|fuzz_tcp_streams|fuzz_smtp_log) dict="-dict=tests/fuzz/smtp.dict" ;;
    fuzz_query_protocol) dict="-dict=tests/fuzz/query.dict" ;;
  esac
  findings="$build_dir/fuzz-findings/$t"
  mkdir -p "$corpus/$t" "$findings"
  log="$build_dir/fuzz-findings/$t.log"
  # -rss_limit_mb: the agent's own budget is far below it; a run above it is a finding.
  # -close_fd_mask=2: the agent's own stderr messages (one per bad capture) are not kept;
  # libFuzzer's and the sanitizers' reports still are.
  if "$build_dir/fuzz/$t" $dict -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=25 \
       -max_len=65536 -close_fd_mask=2 -artifact_prefix="$findings/" -print_final_stats=1 \
       "$corpus/$t" \
       >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    echo "fuzz: $t: ${execs:-?} executions in ${seconds}s, no finding"
  else
    echo "fuzz: $t: FINDING (see $log and $findings/)" >&2
    tail -40 "$log" >&2
    failed=1
  fi
done
exit "$failed"
