#!/usr/bin/env bash
# compare throughput: a store against its protobuf twin (the same ticks in
# two formats), against validate of both stores, in one run.
#
#   benches/compare.sh [BENCH_DIR]     (default: /tmp/ibstore-compare-bench; needs ~4 GB free)
#
# Twins: `ibstore gen` writes the same ticks in any format for one seed, so
# `--format v3-json` and `--format v3-pb` (and `v2-json`) give twins; the
# reference store of ../shared/bench/gen_store.py --formats json,protobuf
# (when Python's `protobuf` package is there) holds both in one root, whose
# v3/json and v3/protobuf folders are compared. Best of $RUNS (default 3)
# runs on a warm cache; peak RSS from /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/ibstore-compare-bench}
runs=${RUNS:-3}
cargo build --release --quiet
bin=$PWD/target/release/ibstore
mkdir -p "$dir"

gen() { # name, args...
  local name=$1; shift
  [ -d "$dir/$name" ] || "$bin" gen --out "$dir/$name" "$@" >/dev/null
}
shape=(--contracts 10 --tick-types bid_ask,last,mid_point --hours 48)
gen v3-json --format v3-json "${shape[@]}" --records 7000
gen v3-pb   --format v3-pb   "${shape[@]}" --records 7000
ref=../shared/bench/gen_store.py
if [ ! -d "$dir/reference" ] && [ -f "$ref" ] && python3 -c 'import google.protobuf' 2>/dev/null; then
  python3 "$ref" --out "$dir/reference" --gb 1 --formats json,protobuf >/dev/null
fi

best() { # prints the best wall time in seconds of $runs runs of "$@"
  local b=999999
  for _ in $(seq "$runs"); do
    local s e
    s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N)
    b=$(echo "if ($e - $s < $b) $e - $s else $b" | bc -l)
  done
  printf '%.3f' "$b"
}
field() { grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2; }  # the first (top-level) one

cpu() { # CPU seconds (user + sys) and peak RSS KiB of one run of "$@"
  /usr/bin/time -o "$dir/.time" -f '%U %S %M' "$@" >/dev/null 2>&1 || true
  tail -1 "$dir/.time"
}

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '| old → new | bytes (both) | records (both) | validate old + new s | compare s | compare ÷ validates (wall) | CPU s validates | CPU s compare | compare ÷ validates (CPU) | MB/s | M records/s | peak RSS MiB |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|\n'
for pair in "v3-json v3-pb" "reference/v3/json reference/v3/protobuf"; do
  read -r old new <<<"$pair"
  [ -d "$dir/$old" ] && [ -d "$dir/$new" ] || continue
  o=$dir/$old n=$dir/$new
  s=$("$bin" compare --json --old "$o" --new "$n" | tail -1)
  [ "$(echo "$s" | field exit_code)" = 0 ] || { echo "$old vs $new does not compare clean: $s" >&2; exit 1; }
  bytes=$(echo "$s" | field bytes)
  records=$(echo "$s" | field records)
  vo=$(best "$bin" validate --path "$o")
  vn=$(best "$bin" validate --path "$n")
  c=$(best "$bin" compare --old "$o" --new "$n")
  read -r uo so _ <<<"$(cpu "$bin" validate --path "$o")"
  read -r un sn _ <<<"$(cpu "$bin" validate --path "$n")"
  read -r uc sc rss <<<"$(cpu "$bin" compare --old "$o" --new "$n")"
  both=$(echo "$vo + $vn" | bc -l)
  cv=$(echo "$uo + $so + $un + $sn" | bc -l)
  cc=$(echo "$uc + $sc" | bc -l)
  printf '| %s → %s | %s | %s | %.3f | %s | %.2f | %.2f | %.2f | %.2f | %.0f | %.1f | %.1f |\n' "$old" "$new" "$bytes" "$records" \
    "$both" "$c" "$(echo "$c / $both" | bc -l)" "$cv" "$cc" "$(echo "$cc / $cv" | bc -l)" \
    "$(echo "$bytes / $c / 1000000" | bc -l)" "$(echo "$records / $c / 1000000" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
done
