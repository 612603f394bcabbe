#!/usr/bin/env bash
# index / query / stats on the 1 GB reference store (gen_store.py: 48 hours,
# 10 contracts, bid_ask,last,mid_point, v3 JSONL + protobuf, 1.56 GB), all
# against validate in the same run.
#
#   benches/index.sh [BENCH_DIR]     (default: /tmp/ibstore-bench)
#
# The reference store is shared and never written: the run works on a
# hard-linked copy (a changed file is replaced, never edited in place) and
# keeps indices in --index-dir.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/ibstore-bench}
ref=$dir/reference
[ -d "$ref/v3" ] || python3 /work/shared/bench/gen_store.py --out "$ref"
cargo build --release --quiet
bin=$PWD/target/release/ibstore
work=$dir/index-work
idx=$dir/index-dir
empty=$dir/index-none
rm -rf "$work" "$idx" "$empty"
cp -al "$ref" "$work"
rm -f "$work/manifest.json"
mkdir -p "$empty"
bytes=$(find "$work" -type f \( -name '*.jsonl' -o -name '*.pb' \) -printf '%s\n' | awk '{s+=$1} END {print s}')
find "$work" -type f -print0 | xargs -0 cat >/dev/null

best() {
  local b=999999
  for _ in 1 2 3; do
    local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N)
    b=$(echo "if ($e - $s < $b) $e - $s else $b" | bc -l)
  done
  printf '%.3f' "$b"
}
once() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N); printf '%.3f' "$(echo "$e - $s" | bc -l)"; }

v=$(best "$bin" validate --path "$work")
b=$(best "$bin" index --rebuild --index-dir "$idx" --path "$work")
ixb=$(du -sb "$idx" | cut -f1)
r=$(best "$bin" index --index-dir "$idx" --path "$work")
# One changed file: a record appended to a copy that replaces the link.
f=$(find "$work/v3/json/2025/08/01/14" -name '*_bid_ask_*.jsonl' | sort | head -1)
cp "$f" "$f.new"; tail -n 1 "$f" >> "$f.new"; mv "$f.new" "$f"
c=$(once "$bin" index --index-dir "$idx" --path "$work")
s=$(best "$bin" stats --index-dir "$idx" --path "$work")
name=$(basename "$f"); cid=${name%%_*}
q=(query --source-format all --contract "$cid" --tick-type bid_ask --from 2025-08-01T14:30Z --to 2025-08-01T14:35Z --path "$work")
qi=$(best "$bin" "${q[@]}" --index-dir "$idx")
qn=$(best "$bin" "${q[@]}" --index-dir "$empty")
n=$("$bin" "${q[@]}" --index-dir "$idx" 2>/dev/null | wc -l)
vd=$(best "$bin" validate --path "$work/v3/json/2025/08/01")
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
echo "store: $bytes bytes of data, $(find "$work" -type f | wc -l) files"
printf 'validate whole store      %8.3f s  %7.1f MB/s\n' "$v" "$(echo "$bytes / $v / 1000000" | bc -l)"
printf 'index build (--rebuild)   %8.3f s  %7.1f MB/s  (%.2f× validate time)\n' "$b" "$(echo "$bytes / $b / 1000000" | bc -l)" "$(echo "$b / $v" | bc -l)"
printf 'index size                %8d B   %7.3f %% of data\n' "$ixb" "$(echo "100 * $ixb / $bytes" | bc -l)"
printf 'index refresh, unchanged  %8.3f s  (%.1f %% of a build)\n' "$r" "$(echo "100 * $r / $b" | bc -l)"
printf 'index, one file changed   %8.3f s  (%.1f %% of a build)\n' "$c" "$(echo "100 * $c / $b" | bc -l)"
printf 'stats from the catalog    %8.3f s\n' "$s"
printf 'query 5 min (%d records)  %8.3f s with index, %.3f s without\n' "$n" "$qi" "$qn"
printf 'validate of that day      %8.3f s  (query with index = %.2f %% of it)\n' "$vd" "$(echo "100 * $qi / $vd" | bc -l)"
