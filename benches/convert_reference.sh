#!/usr/bin/env bash
# `convert` on the 1 GB reference store against `validate` of the same input,
# in one run: v3 JSONL → v3 PB (plain and zstd) and v2 JSONL → v3 PB.
#
#   benches/convert_reference.sh [REFERENCE] [WORK]
#     REFERENCE  default /tmp/ibstore-bench/reference (../shared/bench/gen_store.py --gb 1)
#     WORK       default /tmp/ibstore-bench/convert-ref (outputs; the v2 JSONL input)
#
# The v2 JSONL input is made once from the reference by convert itself
# (v3 JSON → v2 JSON of the first V2_HOURS hours, default 16, ~1 GB: v2
# records are ~2.6× larger). Each command runs $RUNS times (default 3) on a
# warm cache, the output folder removed before each run; the best wall time
# is kept, with the peak RSS of that run (/usr/bin/time -f '%e %M'). The time
# of convert includes writing, the fsyncs and reading every output back for
# verification.
#
# The write floor: `cp -r` of convert's output to a new folder + `sync`,
# best of $runs the same way: what writing those bytes as those files costs
# on this machine with no decoding, encoding or verifying at all. Convert
# cannot be faster than validate's read of the input plus this floor run
# one after the other, less what two cores overlap.
set -euo pipefail
cd "$(dirname "$0")/.."
ref=${1:-/tmp/ibstore-bench/reference}
work=${2:-/tmp/ibstore-bench/convert-ref}
runs=${RUNS:-3}
v2_hours=${V2_HOURS:-16}
cargo build --release --quiet
bin=$PWD/target/release/ibstore
mkdir -p "$work"
v2=$work/v2-json
if [ ! -f "$v2/.ibstore/convert.json" ]; then
  until=$((1754006400 + v2_hours * 3600))
  "$bin" convert --from "$ref" --to "$v2" --source-format v3-json --format v2-json --until "$until" >/dev/null
fi

# best CMD... → "seconds rss_kib cpu_seconds" of the fastest of $runs runs
best() {
  local b=999999 brss=0 bcpu=0
  for _ in $(seq "$runs"); do
    rm -rf "$work/out"
    /usr/bin/time -o "$work/time" -f '%e %M %U %S' "$@" >/dev/null 2>&1 || true
    local s m u k
    read -r s m u k < <(tail -1 "$work/time")
    if (( $(echo "$s < $b" | bc -l) )); then b=$s; brss=$m; bcpu=$(echo "$u + $k" | bc -l); fi
  done
  echo "$b $brss $bcpu"
}
size() { du -sb --exclude=.ibstore "$1" | cut -f1; }
facts() { # path [validate args] → "bytes records"
  local s; s=$("$bin" validate --json --path "$@" | tail -1)
  echo "$(echo "$s" | sed 's/.*"bytes":\([0-9]*\).*/\1/') $(echo "$s" | sed 's/.*"records":\([0-9]*\).*/\1/')"
}

grep -m1 'model name' /proc/cpuinfo
echo "load before: $(uptime)"
printf '| input | bytes | records | command | wall s | MB/s in | M records/s | vs validate (wall) | CPU s | vs validate (CPU) | output bytes | output/input | peak RSS MiB |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|---|\n'
row() { # input bytes records command secs rss vsecs outbytes cpu vcpu
  local o=$8 ratio=""
  [ -n "$o" ] && ratio=$(printf '%.3f' "$(echo "$o / $2" | bc -l)")
  printf '| %s | %s | %s | %s | %s | %.0f | %.2f | %.2f | %.2f | %.2f | %s | %s | %.1f |\n' "$1" "$2" "$3" "$4" "$5" \
    "$(echo "$2 / $5 / 1000000" | bc -l)" "$(echo "$3 / $5 / 1000000" | bc -l)" "$(echo "$7 / $5" | bc -l)" \
    "$9" "$(echo "${10} / $9" | bc -l)" "$o" "$ratio" "$(echo "$6 / 1024" | bc -l)"
}
for input in v3-json v2-json; do
  if [ "$input" = v3-json ]; then path=$ref/v3/json; src=$ref; sf=(--source-format v3-json)
  else path=$v2; src=$v2; sf=(); fi
  read -r bytes records <<<"$(facts "$path")"
  read -r vs vrss vcpu <<<"$(best "$bin" validate --path "$path")"
  row "$input" "$bytes" "$records" validate "$vs" "$vrss" "$vs" "" "$vcpu" "$vcpu"
  for target in v3-pb v3-pb+zstd; do
    args=(--format v3-pb "${sf[@]}")
    [ "$target" = v3-pb+zstd ] && args+=(--compress zstd)
    read -r cs crss ccpu <<<"$(best "$bin" convert --from "$src" --to "$work/out" "${args[@]}")"
    rm -rf "$work/out"
    "$bin" convert --from "$src" --to "$work/out" "${args[@]}" >/dev/null
    row "$input" "$bytes" "$records" "convert → $target" "$cs" "$crss" "$vs" "$(size "$work/out")" "$ccpu" "$vcpu"
    rm -rf "$work/out.keep" && mv "$work/out" "$work/out.keep"
    read -r fs frss fcpu <<<"$(best sh -c "cp -r '$work/out.keep' '$work/out' && sync")"
    row "$input" "$bytes" "$records" "write floor: cp -r of that output + sync" "$fs" "$frss" "$vs" "$(size "$work/out.keep")" "$fcpu" "$vcpu"
    rm -rf "$work/out.keep"
  done
  rm -rf "$work/out"
done
echo "load after: $(uptime)"
