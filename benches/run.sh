#!/usr/bin/env bash
# Whole-process validate throughput against `cat` of the same files, in one run.
#
#   benches/run.sh [BENCH_DIR]        (default: /tmp/ibstore-bench; needs ~4 GB free)
#
# Generates ~1 GB stores with `ibstore gen` (v3 JSONL, v3 protobuf, v2 JSONL),
# and, when Python's `protobuf` package is importable, the reference store of
# ../shared/bench/gen_store.py. Each figure is the best of 3 runs on a warm cache;
# peak RSS is /usr/bin/time's maximum resident set size.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/ibstore-bench}
runs=${RUNS:-3}
cargo build --release --quiet
bin=$PWD/target/release/ibstore
mkdir -p "$dir"

gen() { # name, args...
  local name=$1; shift
  [ -d "$dir/$name" ] || "$bin" gen --out "$dir/$name" "$@" >/dev/null
}
gen v3-json --format v3-json --contracts 10 --tick-types bid_ask,last,mid_point --hours 48 --records 7000
gen v3-pb   --format v3-pb   --contracts 10 --tick-types bid_ask,last,mid_point --hours 48 --records 7000
gen v2-json --format v2-json --contracts 10 --tick-types bid_ask,last,mid_point --hours 48 --records 2800
ref=../shared/bench/gen_store.py
if [ ! -d "$dir/reference" ] && [ -f "$ref" ] && python3 -c 'import google.protobuf' 2>/dev/null; then
  python3 "$ref" --out "$dir/reference" --gb 1 >/dev/null
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
cat_files() { find "$1" -type f \( -name '*.jsonl' -o -name '*.pb' \) -print0 | xargs -0 cat; }

printf '| store | bytes | records | cat s | validate s | validate/cat | MB/s | M records/s | peak RSS MiB |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for name in v3-json v3-pb v2-json reference/v3/json reference/v3/protobuf; do
  path=$dir/$name
  [ -d "$path" ] || continue
  cat_files "$path" >/dev/null # warm the cache
  summary=$("$bin" validate --json --path "$path" | tail -1)
  bytes=$(echo "$summary" | sed 's/.*"bytes":\([0-9]*\).*/\1/')
  records=$(echo "$summary" | sed 's/.*"records":\([0-9]*\).*/\1/')
  c=$(best bash -c "$(declare -f cat_files); cat_files '$path' > /dev/null")
  v=$(best "$bin" validate --path "$path")
  rss=$( { /usr/bin/time -f '%M' "$bin" validate --path "$path" >/dev/null; } 2>&1 | tail -1)
  printf '| %s | %s | %s | %s | %s | %.2f | %.0f | %.1f | %.1f |\n' "$name" "$bytes" "$records" "$c" "$v" \
    "$(echo "$v / $c" | bc -l)" "$(echo "$bytes / $v / 1000000" | bc -l)" "$(echo "$records / $v / 1000000" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
done
