#!/bin/sh
# Opens the page of `ibstore compare --html` in headless Chromium (Debian's
# `chromium` package; installed with apt-get when missing), takes a
# screenshot of the stream x hour grid with one lost hour (red), and checks
# from Chromium's own network log that the page made no network request.
#
#   scripts/compare-html-shot.sh [OUT_DIR]     (default: target/compare-html)
set -eu
cd "$(dirname "$0")/.."
out=${1:-target/compare-html}
rm -rf "$out" && mkdir -p "$out"
if ! command -v chromium >/dev/null 2>&1; then
    apt-get update && apt-get install -y chromium
fi
cargo build --release --quiet
bin=target/release/ibstore
$bin gen --out "$out/old" --format v3-pb --contracts 4 --tick-types bid_ask,last --hours 12 --records 50 >/dev/null
$bin gen --out "$out/new" --format v3-json --contracts 4 --tick-types bid_ask,last --hours 12 --records 50 >/dev/null
lost=$(find "$out/new" -name '*_bid_ask_*.jsonl' | sort | sed -n 5p)
rm "$lost"
set +e
$bin compare --old "$out/old" --new "$out/new" --html "$out/report.html" >"$out/report.txt"
code=$?
set -e
[ "$code" = 1 ] || { echo "compare exited $code, expected 1" >&2; exit 1; }
# Chromium makes requests of its own (accounts, new-tab page): a control
# run on an empty local page lists them, and the page's run may hold no
# other URL.
shot() { # LOG PAGE [extra args]
    log=$1 page=$2; shift 2
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --user-data-dir="$out/profile-$(basename "$log")" --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --window-size=1300,900 --log-net-log="$log" --net-log-capture-mode=Everything \
        "$@" "file://$PWD/$page" 2>>"$out/chromium.log"
}
urls() { grep -Eo '"(url|original_url)":"https?://[^"?]*' "$1" | sed 's/^"[a-z_]*":"//' | sort -u; }
printf '<!DOCTYPE html><title>empty</title>\n' >"$out/empty.html"
shot "$out/netlog-empty.json" "$out/empty.html" --screenshot="$out/empty.png"
shot "$out/netlog.json" "$out/report.html" --screenshot="$out/grid.png"
test -s "$out/grid.png"
urls "$out/netlog-empty.json" >"$out/urls-browser.txt"
urls "$out/netlog.json" >"$out/urls-page.txt"
extra=$(comm -13 "$out/urls-browser.txt" "$out/urls-page.txt")
if [ -n "$extra" ]; then
    printf 'the page made network requests:\n%s\n' "$extra" >&2
    exit 1
fi
echo "screenshot: $out/grid.png (lost hour: ${lost#$out/new/}); no network request beyond Chromium's own"
