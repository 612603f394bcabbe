#!/usr/bin/env bash
# Whole-process `ibstore validate` against ../shared/bench/rust_anchor (a plain
# serde_json / prost decode loop with fewer checks) and against `cat` of the same
# files, on the reference store, all in one run.
#
#   benches/anchor.sh [BENCH_DIR]      (default: /tmp/ibstore-bench; needs ~2 GB free)
#
# Environment:
#   IBSTORE_BIN        ibstore binary to time (default: `cargo build --release`, then
#                      ${CARGO_TARGET_DIR:-target}/release/ibstore)
#   ANCHOR_TARGET_DIR  cargo target dir for rust_anchor (default: target/rust_anchor)
#   RUNS               rounds; each figure is the best of them (default: 5)
#   ANCHOR_THREADS     rust_anchor's thread count (default: 2, as the issue says)
#
# The reference store is ../shared/bench/gen_store.py --gb 1, made once into
# BENCH_DIR/reference (shared with benches/run.sh); it needs Python's `protobuf`
# package. Rounds interleave cat, rust_anchor and ibstore, so a slow moment of
# the machine hits all three alike; every file is read once first (warm cache).
# Peak RSS is /usr/bin/time's maximum resident set size of one extra run.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/ibstore-bench}
runs=${RUNS:-5}
threads=${ANCHOR_THREADS:-2}
anchor_src=../shared/bench/rust_anchor
gen=../shared/bench/gen_store.py
anchor_target=${ANCHOR_TARGET_DIR:-target/rust_anchor}

for tool in bc /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "anchor.sh: needs $tool" >&2; exit 1; }
done
[ -f "$anchor_src/Cargo.toml" ] || { echo "anchor.sh: $anchor_src not found" >&2; exit 1; }

CARGO_TARGET_DIR=$anchor_target cargo build --release --quiet --manifest-path "$anchor_src/Cargo.toml"
anchor=$anchor_target/release/rust_anchor

if [ -n "${IBSTORE_BIN:-}" ]; then
  bin=$IBSTORE_BIN
else
  cargo build --release --quiet
  bin=${CARGO_TARGET_DIR:-target}/release/ibstore
fi
[ -x "$bin" ] || { echo "anchor.sh: no ibstore binary at $bin" >&2; exit 1; }

ref=$dir/reference
if [ ! -d "$ref" ]; then
  if ! python3 -c 'import google.protobuf' 2>/dev/null; then
    echo "anchor.sh: $ref is missing, and making it with $gen needs Python's" >&2
    echo "  \`protobuf\` package, which is not installed: run \`pip install protobuf\`" >&2
    echo "  (or \`python3 -m pip install --user protobuf\`), then run this again." >&2
    exit 1
  fi
  mkdir -p "$dir"
  rm -rf "$ref.tmp"
  echo "anchor.sh: generating the reference store (~2 GB, a few minutes) into $ref" >&2
  python3 "$gen" --out "$ref.tmp" --gb 1 >/dev/null
  mv "$ref.tmp" "$ref"
fi

now() { date +%s.%N; }
files() { find "$1" -type f -name "*.$2" -print0 | sort -z; } # dir, ext
cat_files() { files "$1" "$2" | xargs -0 cat >/dev/null; }
# best of: $1 is the name of a variable holding the best time so far; the rest is the command
timed() {
  local var=$1 s e; shift
  s=$(now); "$@" >/dev/null 2>&1 || true; e=$(now)
  printf -v "$var" '%s' "$(echo "if ($e - $s < ${!var}) $e - $s else ${!var}" | bc -l)"
}
rss_mib() { # peak RSS of one run of the command, MiB
  local out kb
  out=$(mktemp)
  /usr/bin/time -f '%M' -o "$out" "$@" >/dev/null 2>&1 || true
  kb=$(tail -1 "$out"); rm -f "$out"
  echo "scale=1; $kb / 1024" | bc -l
}
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }

rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); cores: $(nproc)"
echo "ibstore: $bin (worktree at $rev); rust_anchor: $anchor $threads threads; best of $runs rounds"
echo
rows=()
for family in protobuf json; do
  ext=pb; [ "$family" = json ] && ext=jsonl
  path=$ref/v3/$family
  [ -d "$path" ] || { echo "anchor.sh: $path is missing" >&2; exit 1; }
  cat_files "$path" "$ext" # warm the cache
  # What each tool counted, once (both must see the same records).
  a_out=$("$anchor" "$ref" "$family" "$threads")
  v_out=$("$bin" validate --json --path "$path" 2>/dev/null | tail -1) || true
  a_records=$(echo "$a_out" | sed 's/.*"records":\([0-9]*\).*/\1/')
  v_records=$(echo "$v_out" | sed 's/.*"records":\([0-9]*\).*/\1/')
  bytes=$(echo "$a_out" | sed 's/.*"bytes":\([0-9]*\).*/\1/')
  echo "$family: rust_anchor $a_out" >&2
  echo "$family: ibstore     $v_out" >&2
  [ "$a_records" = "$v_records" ] || echo "anchor.sh: WARNING: $family records differ: rust_anchor $a_records, ibstore $v_records" >&2
  c=999999 a=999999 v=999999
  for _ in $(seq "$runs"); do
    timed c bash -c "$(declare -f files cat_files); cat_files '$path' $ext"
    timed a "$anchor" "$ref" "$family" "$threads"
    timed v "$bin" validate --path "$path"
  done
  a_rss=$(rss_mib "$anchor" "$ref" "$family" "$threads")
  v_rss=$(rss_mib "$bin" validate --path "$path")
  rows+=("$(printf '| v3/%s | %s | %s | %.3f | %.3f | %.3f | %s | %s | %s | %.1f | %.1f | %.1f |' \
    "$family" "$bytes" "$a_records" "$c" "$a" "$v" "$(ratio "$v" "$a")" "$(ratio "$v" "$c")" "$(ratio "$a" "$c")" \
    "$(echo "$a_records / $v / 1000000" | bc -l)" "$a_rss" "$v_rss")")
done
printf '| store | bytes | records | cat s | rust_anchor s | ibstore s | ibstore/rust_anchor | ibstore/cat | rust_anchor/cat | ibstore M records/s | rust_anchor RSS MiB | ibstore RSS MiB |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|\n'
printf '%s\n' "${rows[@]}"
