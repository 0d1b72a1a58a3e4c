#!/usr/bin/env bash
# Replays captures through two mailtapd builds and checks that their outputs are byte-identical:
# the events (--events), smtp.log, weird.log and conn.log, in both --log-format json and zeek, and with
# --redact none and data besides the default.
#
#   scripts/compare-outputs.sh BASE_MAILTAPD NEW_MAILTAPD [TRACE_OR_DIR...]
#
# Without traces it uses every capture under $MAILTAP_ZEEK_CORPUS/traces (default
# ../shared/corpus/zeek beside the repository). Compressed captures (.gz) are unpacked to a
# temporary file first. Prints one line per trace and run, and exits 1 if any output differs.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 BASE_MAILTAPD NEW_MAILTAPD [TRACE_OR_DIR...]" >&2
  exit 2
fi
base=$1 new=$2
shift 2
for bin in "$base" "$new"; do
  [[ -x $bin ]] || { echo "$0: $bin is not an executable" >&2; exit 2; }
done

repo=$(cd "$(dirname "$0")/.." && pwd)
corpus=${MAILTAP_ZEEK_CORPUS:-$repo/../shared/corpus/zeek}
inputs=("$@")
[[ ${#inputs[@]} -gt 0 ]] || inputs=("$corpus/traces")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

traces=()
for input in "${inputs[@]}"; do
  if [[ -d $input ]]; then
    while IFS= read -r f; do traces+=("$f"); done \
      < <(find "$input" -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.pcap.gz' \
            -o -name '*.pcapng.gz' \) | sort)
  else
    traces+=("$input")
  fi
done
[[ ${#traces[@]} -gt 0 ]] || { echo "$0: no captures found in ${inputs[*]}" >&2; exit 2; }

# run BIN TRACE OUTDIR ARGS...: the events and both logs of one replay into OUTDIR.
run() {
  local bin=$1 trace=$2 out=$3
  shift 3
  mkdir -p "$out"
  local status=0
  "$bin" -r "$trace" --events "$out/events.jsonl" --log-dir "$out" "$@" 2> "$out/stderr" ||
    status=$?
  echo "$status" > "$out/status"
}

# A file without the wall-clock lines of Zeek's format (#open and #close say when the log was
# opened and closed, not what it holds).
stable() {
  [[ -e $1 ]] || { echo "(missing)"; return; }
  grep -av -e '^#open' -e '^#close' "$1" || true
}

failures=0 compared=0
for trace in "${traces[@]}"; do
  input=$trace
  if [[ $trace == *.gz ]]; then
    input=$work/unpacked.pcap
    gzip -dc "$trace" > "$input"
  fi
  for variant in "json" "zeek" "json --redact none" "zeek --redact data"; do
    read -r format redact <<< "$variant"
    args=(--log-format "$format")
    [[ -z $redact ]] || args+=($redact)
    rm -rf "$work/base" "$work/new"
    run "$base" "$input" "$work/base" "${args[@]}"
    run "$new" "$input" "$work/new" "${args[@]}"
    status=same
    for f in events.jsonl smtp.log weird.log conn.log; do
      # A file one build writes and the other does not is a difference too.
      if [[ -e $work/base/$f || -e $work/new/$f ]] &&
         ! cmp -s <(stable "$work/base/$f") <(stable "$work/new/$f"); then
        status="DIFFERENT ($f)"
      fi
    done
    if ! cmp -s "$work/base/status" "$work/new/status"; then
      status="DIFFERENT (exit status $(cat "$work/base/status") vs $(cat "$work/new/status"))"
    fi
    bytes=$(cat "$work/new/events.jsonl" "$work/new/smtp.log" "$work/new/weird.log" 2>/dev/null |
            wc -c)
    echo "$status  ${trace#"$corpus/"}  [${args[*]}]  $bytes bytes"
    compared=$((compared + 1))
    [[ $status == same ]] || failures=$((failures + 1))
  done
done
echo "compared $compared replays: $((compared - failures)) identical, $failures different"
[[ $failures -eq 0 ]]
