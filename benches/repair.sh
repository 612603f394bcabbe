#!/usr/bin/env bash
# Repair throughput on a ~1 GB v3 JSONL store with 1% of its files damaged
# (every 100th file gets a torn last line), against validate of the same store.
#
#   benches/repair.sh [BENCH_DIR]     (default: /tmp/ibstore-bench)
#
# Times: validate (best of 3), repair dry run (best of 3), repair --apply
# (one run: it changes the store), repair --undo of that run.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/ibstore-bench}
cargo build --release --quiet
bin=$PWD/target/release/ibstore
store=$dir/repair-v3-json
rm -rf "$store"
"$bin" gen --out "$store" --format v3-json --contracts 10 --tick-types bid_ask,last,mid_point --hours 48 --records 7000 >/dev/null
damaged=0
while IFS= read -r f; do
  printf '{"ts":17540' >> "$f"; damaged=$((damaged + 1))
done < <(find "$store" -type f -name '*.jsonl' | sort | awk 'NR % 100 == 0')
files=$(find "$store" -type f -name '*.jsonl' | wc -l)
bytes=$(du -sb "$store" | cut -f1)
find "$store" -type f -print0 | xargs -0 cat >/dev/null

best() {
  local b=999999
  for _ in 1 2 3; do
    local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N)
    b=$(echo "if ($e - $s < $b) $e - $s else $b" | bc -l)
  done
  printf '%.3f' "$b"
}
once() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N); printf '%.3f' "$(echo "$e - $s" | bc -l)"; }

v=$(best "$bin" validate --path "$store")
p=$(best "$bin" repair --path "$store" --include-active)
a=$(once "$bin" repair --path "$store" --include-active --apply)
run=$(ls "$store/.ibstore/journal" | grep -v undo | sed 's/.jsonl$//' | tail -1)
u=$(once "$bin" repair --path "$store" --undo "$run")
left=$("$bin" validate --json --path "$store" | tail -1 || true)

echo "store: $files files, $bytes bytes, $damaged damaged ($(echo "scale=1; 100 * $damaged / $files" | bc)%)"
echo
echo '| step | seconds | MB/s | vs validate |'
echo '|---|---|---|---|'
for row in "validate:$v" "repair (dry run):$p" "repair --apply:$a" "repair --undo:$u"; do
  name=${row%%:*}; t=${row#*:}
  printf '| %s | %s | %.0f | %.2f |\n' "$name" "$t" "$(echo "$bytes / $t / 1000000" | bc -l)" "$(echo "$t / $v" | bc -l)"
done
echo
echo "after undo, validate summary: $left"
