#!/usr/bin/env bash
# `convert` throughput against `validate` of the same input, in one run.
#
#   benches/convert.sh [BENCH_DIR]     (default: /tmp/ibstore-convert-bench)
#
# Generates live-like stores with `ibstore gen` (HOURS hourly partitions of
# 10 contracts × 3 tick types; HOURS=48 gives the ~1 GB stores of run.sh,
# the default 12 a quarter of that), then for each input times `validate`
# and `convert` to each target (best of $RUNS on a warm cache, the output
# folder removed before each run), reads peak RSS from /usr/bin/time and
# prints the output size against the input's.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/ibstore-convert-bench}
runs=${RUNS:-3}
hours=${HOURS:-12}
cargo build --release --quiet
bin=$PWD/target/release/ibstore
mkdir -p "$dir"

gen() { # name, args...
  local name=$1; shift
  [ -d "$dir/$name" ] || "$bin" gen --out "$dir/$name" "$@" >/dev/null
}
gen v3-json --format v3-json --contracts 10 --tick-types bid_ask,last,mid_point --hours "$hours" --records 7000
gen v2-json --format v2-json --contracts 10 --tick-types bid_ask,last,mid_point --hours "$hours" --records 2800

best() { # prints the best wall time in seconds of $runs runs of "$@" (after `rm -rf $out`)
  local b=999999
  for _ in $(seq "$runs"); do
    rm -rf "$out"
    local s e
    s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N)
    b=$(echo "if ($e - $s < $b) $e - $s else $b" | bc -l)
  done
  printf '%.3f' "$b"
}
size() { du -sb --exclude=.ibstore "$1" | cut -f1; }

grep -m1 'model name' /proc/cpuinfo
printf '| input | bytes | records | command | s | MB/s in | M records/s | vs validate | output bytes | output/input | peak RSS MiB |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
for name in v3-json v2-json; do
  path=$dir/$name
  out=$dir/out
  summary=$("$bin" validate --json --path "$path" | tail -1)
  bytes=$(echo "$summary" | sed 's/.*"bytes":\([0-9]*\).*/\1/')
  records=$(echo "$summary" | sed 's/.*"records":\([0-9]*\).*/\1/')
  v=$(best "$bin" validate --path "$path")
  rss=$( { /usr/bin/time -f '%M' "$bin" validate --path "$path" >/dev/null; } 2>&1 | tail -1)
  printf '| %s | %s | %s | validate | %s | %.0f | %.2f | 1.00 | | | %.1f |\n' "$name" "$bytes" "$records" "$v" \
    "$(echo "$bytes / $v / 1000000" | bc -l)" "$(echo "$records / $v / 1000000" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
  for target in v3-pb v3-pb+zstd v3-json v2-json v2-pb; do
    args=(--format "${target%+zstd}")
    [ "$target" != "${target%+zstd}" ] && args+=(--compress zstd)
    [ "$target" = v2-pb ] && args+=(--allow-loss ts)
    c=$(best "$bin" convert --from "$path" --to "$out" "${args[@]}")
    rm -rf "$out"
    rss=$( { /usr/bin/time -f '%M' "$bin" convert --from "$path" --to "$out" "${args[@]}" >/dev/null; } 2>&1 | tail -1)
    osize=$(size "$out")
    printf '| %s | %s | %s | convert → %s | %s | %.0f | %.2f | %.2f | %s | %.3f | %.1f |\n' "$name" "$bytes" "$records" "$target" "$c" \
      "$(echo "$bytes / $c / 1000000" | bc -l)" "$(echo "$records / $c / 1000000" | bc -l)" "$(echo "$v / $c" | bc -l)" \
      "$osize" "$(echo "$osize / $bytes" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
  done
  rm -rf "$out"
done
