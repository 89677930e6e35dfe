#!/bin/sh
# check-report.sh [--screenshot PNG] [--all-built] PAGE.html
#
# Loads a page written by `cnn-render html` in headless Chromium (Debian's
# /usr/bin/chromium; CHROMIUM=... for another) from file://, reads the counts
# its inline script leaves in #report-status (--dump-dom), and prints
#   report: N figures, N images loaded, 0 broken[, K not built]
# Exit 0 when every image and video loaded; 1 when one is broken (each is
# named on stderr), still loading, or the page is not a report (or, with
# --all-built, when an optional figure was not built); 2 on usage or when
# Chromium is absent. --screenshot also saves a 1200x1600 screenshot.
set -u
CHROMIUM=${CHROMIUM:-chromium}
shot= all=
while [ $# -gt 1 ]; do
    case $1 in
    --screenshot) shot=$2; shift 2 ;;
    --all-built) all=1; shift ;;
    *) break ;;
    esac
done
if [ $# -ne 1 ] || [ ! -f "$1" ]; then
    echo "check-report: usage: check-report.sh [--screenshot PNG] [--all-built] PAGE.html (${1:-no page}: no such file)" >&2
    exit 2
fi
if ! command -v "$CHROMIUM" >/dev/null 2>&1; then
    echo "check-report: no $CHROMIUM (apt-get install chromium) to load $1" >&2
    exit 2
fi
page=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
# file:// URL: percent-encode '%' first, then what a path may hold.
url="file://$(printf '%s' "$page" | sed 's/%/%25/g; s/ /%20/g; s/#/%23/g; s/?/%3F/g')"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-report.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
chrome() {
    # A fresh profile each time; no network, no first-run UI. The virtual
    # time budget lets images and video metadata finish before the dump.
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
        --disable-background-networking --no-first-run --hide-scrollbars \
        --user-data-dir="$tmp/profile" --virtual-time-budget=10000 "$@" "$url" \
        2>>"$tmp/chrome.err"
}
if ! chrome --dump-dom >"$tmp/dom.html" || [ ! -s "$tmp/dom.html" ]; then
    echo "check-report: $1: $CHROMIUM failed: $(grep -v dbus "$tmp/chrome.err" | tail -1)" >&2
    exit 1
fi
status=$(grep -o '<p id="report-status"[^>]*>' "$tmp/dom.html" | head -1)
if [ -z "$status" ]; then
    echo "check-report: $1: no #report-status element (not a page of cnn-render html?)" >&2
    exit 1
fi
attr() { printf '%s' "$status" | sed -n "s/.* data-$1=\"\([0-9]*\)\".*/\1/p"; }
figures=$(attr figures) media=$(attr media) loaded=$(attr loaded)
broken=$(attr broken) pending=$(attr pending) missing=$(attr missing)
line="report: $figures figures, $loaded images loaded, $broken broken"
[ "${missing:-0}" -gt 0 ] && line="$line, $missing not built"
echo "$line"
grep -o '<\(img\|video\) [^>]*data-broken="[^"]*"' "$tmp/dom.html" |
    sed 's/.*data-broken="\([^"]*\)"$/check-report: broken: \1/' >&2
if [ -n "$shot" ]; then
    chrome --window-size=1200,1600 --screenshot="$tmp/shot.png" >/dev/null &&
        [ -s "$tmp/shot.png" ] && cp "$tmp/shot.png" "$shot" ||
        { echo "check-report: $1: no screenshot from $CHROMIUM" >&2; exit 1; }
fi
if [ "$broken" -ne 0 ] || [ "$pending" -ne 0 ] || [ "$loaded" -ne "$media" ]; then
    [ "$pending" -ne 0 ] && echo "check-report: $1: $pending images still loading" >&2
    exit 1
fi
if [ -n "$all" ] && [ "$missing" -ne 0 ]; then
    echo "check-report: $1: $missing optional figures not built" >&2
    exit 1
fi
exit 0
