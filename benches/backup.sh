#!/usr/bin/env bash
# Backup throughput on a ~1 GB v3 JSONL store written by `ibstore gen`,
# against `cp -r` of the same store in the same run (warm page cache).
#
#   benches/backup.sh [BENCH_DIR]     (default: /tmp/ibstore-bench)
#
# Times (best of 3 each, destination removed before every run):
# cp -r; cp -r then sync (cp -r does not fsync, ibstore fsyncs every file);
# ibstore backup (copy, fsync, scan of each copy, manifest);
# ibstore verify of that backup.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/ibstore-bench}
cargo build --release --quiet
bin=$PWD/target/release/ibstore
store=$dir/backup-v3-json
dest=$dir/backup-dest
if [ ! -d "$store" ]; then
  "$bin" gen --out "$store" --format v3-json --contracts 10 --tick-types bid_ask,last,mid_point --hours 48 --records 7000 >/dev/null
fi
files=$(find "$store" -type f | wc -l)
bytes=$(du -sb "$store" | cut -f1)
find "$store" -type f -print0 | xargs -0 cat >/dev/null

best() {
  local b=999999
  for _ in 1 2 3; do
    rm -rf "$dest"; sync
    local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
    b=$(echo "if ($e - $s < $b) $e - $s else $b" | bc -l)
  done
  printf '%.3f' "$b"
}
cpsync() { cp -r "$store" "$dest" && sync; }

c=$(best cp -r "$store" "$dest")
cs=$(best cpsync)
b=$(best "$bin" backup --path "$store" --dest "$dest")
"$bin" backup --path "$store" --dest "$dest.v" >/dev/null
v=0
for _ in 1 2 3; do
  s=$(date +%s.%N); "$bin" verify --backup "$dest.v" >/dev/null; e=$(date +%s.%N)
  t=$(echo "$e - $s" | bc -l)
  if [ "$v" = 0 ] || (( $(echo "$t < $v" | bc -l) )); then v=$t; fi
done
v=$(printf '%.3f' "$v")
rm -rf "$dest" "$dest.v"

echo "store: $files files, $bytes bytes; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo
echo '| step | seconds | MB/s | vs cp -r |'
echo '|---|---|---|---|'
for row in "cp -r:$c" "cp -r + sync:$cs" "ibstore backup:$b" "ibstore verify:$v"; do
  name=${row%%:*}; t=${row#*:}
  printf '| %s | %s | %.0f | %.2f |\n' "$name" "$t" "$(echo "$bytes / $t / 1000000" | bc -l)" "$(echo "$t / $c" | bc -l)"
done
