#!/usr/bin/env bash
# `convert --format parquet` of the 1 GB reference store against `validate`
# of the same input, in one run; dataset size against the JSONL and protobuf
# stores; a DuckDB query of one contract-day against `ibstore query`.
#
#   benches/parquet.sh [BENCH_DIR]     (default: /tmp/ibstore-parquet-bench)
#
# REF (default /tmp/ibstore-bench/reference) holds the same records as v3
# JSONL and v3 protobuf; convert reads the JSONL (--source-format v3-json).
# DuckDB: target/duckdb-venv (as .ci/run installs it). Nothing is written
# into REF (the query index goes to BENCH_DIR/ix).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/ibstore-parquet-bench}
ref=${REF:-/tmp/ibstore-bench/reference}
cargo build --release --quiet
bin=$PWD/target/release/ibstore
py=$PWD/target/duckdb-venv/bin/python
mkdir -p "$dir"
out=$dir/parquet
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>"$dir/err" || true; e=$(date +%s.%N); printf '%.2f' "$(echo "$e - $s" | bc -l)"; }
size() { du -sb --exclude=.ibstore "$1" | cut -f1; }

grep -m1 'model name' /proc/cpuinfo
echo "load before: $(uptime)"
json=$(size "$ref/v3/json"); pb=$(size "$ref/v3/protobuf")
v=$(t "$bin" validate --path "$ref/v3/json")
rm -rf "$out"
c=$(t "$bin" convert --from "$ref" --to "$out" --format parquet --source-format v3-json)
"$bin" convert --json --from "$ref" --to "$out" --format parquet --source-format v3-json | grep '"type":"convert"'
pq=$(size "$out")
echo "validate v3 JSONL: ${v}s  $(echo "$json / $v / 1000000" | bc) MB/s"
echo "convert -> parquet zstd:3: ${c}s  $(echo "$json / $c / 1000000" | bc) MB/s  ($(echo "scale=2; $v / $c" | bc) x validate)"
echo "sizes: jsonl $json  protobuf $pb  parquet $pq  (parquet/jsonl $(echo "scale=3; $pq / $json" | bc), parquet/protobuf $(echo "scale=3; $pq / $pb" | bc))"
# One contract-day.
cid=${CID:-265598}; day=${DAY:-2025-08-02}
"$bin" index --path "$ref" --index-dir "$dir/ix" >/dev/null 2>&1 || true
q=$(t "$bin" query --source-format all --path "$ref" --index-dir "$dir/ix" --contract "$cid" --tick-type bid_ask --from "$day" --to "$(date -u -d "$day + 1 day" +%F)")
qn=$("$bin" query --source-format all --path "$ref" --index-dir "$dir/ix" --contract "$cid" --tick-type bid_ask --from "$day" --to "$(date -u -d "$day + 1 day" +%F)" 2>/dev/null | wc -l)
echo "ibstore query (indexed, both formats of REF) $cid bid_ask $day: ${q}s, $qn records"
if "$py" -c 'import duckdb' 2>/dev/null; then
  cat > "$dir/q.py" <<PY
import duckdb, sys, time
c = duckdb.connect()
s = time.time()
rows = c.execute("""SELECT * FROM read_parquet('$out/**/*.parquet', hive_partitioning = true)
  WHERE tick_type = 'bid_ask' AND date = '$day' AND contract_id = $cid ORDER BY ts, st""").fetchall()
print(f"duckdb {len(rows)} records in {time.time() - s:.2f}s (query and fetch into Python)")
PY
  d=$(t "$py" "$dir/q.py")
  "$py" "$dir/q.py"
  echo "duckdb process incl. start: ${d}s"
fi
echo "load after: $(uptime)"
