#!/bin/sh
# check-report.sh [--screenshot PNG] [--phone-screenshot PNG] [--all-built]
#                 [--max-bytes N] PAGE.html
#
# Loads a page written by `cnn-render html` in headless Chromium (Debian's
# /usr/bin/chromium; CHROMIUM=... for another) from file://, at desktop
# width (1200 px) and at phone width (390 px), with every lazy image loaded
# at once (the page's script does that for "#check"), reads the counts its
# inline script leaves in #report-status (--dump-dom), and prints
#   report: N figures, N images loaded, 0 broken[, K not built]
#   report: W MB (the page and its figures)
#   report: phone (390 px): N images loaded, the page 390 px wide
# Exit 0 when every image and video loaded at both widths, the page is no
# wider than a phone's screen (figures scale, commands scroll in their
# boxes), it weighs at most --max-bytes (default 6000000: 6 MB; the weight
# is the page's data-bytes, which cnn-render html counts as what a reader
# downloads when every figure is shown: the HTML, each picture as embedded,
# its display copy X.display.webp when there is one, and each video's
# poster, videos being preload="none"; the check itself also loads each
# video's metadata) and the
# screenshots at both widths (1200x1600, 390x844) are not blank (Debian's
# python3 with Pillow looks; skipped without it); 1 when one is broken
# (each is named on stderr), still loading, too wide, too heavy, blank, or
# the page is not a report (or, with --all-built, when an optional figure
# was not built); 2 on usage or when Chromium is absent. --screenshot and
# --phone-screenshot keep the screenshots.
set -u
CHROMIUM=${CHROMIUM:-chromium}
shot= phone= all= max=6000000
PY=${PY:-/usr/bin/python3}
while [ $# -gt 1 ]; do
    case $1 in
    --screenshot) shot=$2; shift 2 ;;
    --phone-screenshot) phone=$2; shift 2 ;;
    --max-bytes) max=$2; shift 2 ;;
    --all-built) all=1; shift ;;
    *) break ;;
    esac
done
if [ $# -ne 1 ] || [ ! -f "$1" ]; then
    echo "check-report: usage: check-report.sh [--screenshot PNG] [--phone-screenshot PNG] [--all-built] [--max-bytes N] PAGE.html (${1:-no page}: no such file)" >&2
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
    # $1: the URL's fragment ("#check": every lazy image loaded at once),
    # or "phone": the phone-width frame.
    target=$url$1
    [ "$1" = phone ] && target=$phone_url
    shift
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
        --disable-background-networking --no-first-run --hide-scrollbars \
        --allow-file-access-from-files --user-data-dir="$tmp/profile" \
        --virtual-time-budget=10000 "$@" "$target" 2>>"$tmp/chrome.err"
}
# Phone width: the page in a 390x844 frame of a page of ours (a window
# cannot be made that narrow), whose script posts its counts up here.
cat >"$tmp/phone.html" <<EOF
<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin:0">
<iframe src="$url#check" style="width:390px;height:844px;border:0;display:block"></iframe>
<p id="report-status"></p>
<script>
window.addEventListener('message', function (e) {
  var st = document.getElementById('report-status');
  Object.keys(e.data).forEach(function (k) {
    if (k.indexOf('data-') === 0) st.setAttribute(k, e.data[k]);
  });
  document.querySelectorAll('video[data-broken]').forEach(function (v) { v.remove(); });
  (e.data.broken_list || []).forEach(function (b) {
    var v = document.createElement('video');
    v.setAttribute('data-broken', b);
    document.body.appendChild(v);
  });
});
</script></body></html>
EOF
phone_url="file://$(printf '%s' "$tmp/phone.html" | sed 's/%/%25/g; s/ /%20/g; s/#/%23/g; s/?/%3F/g')"
# load WIDTH HEIGHT [FRAGMENT]: dump the DOM at that window size; sets the
# counts.
load() {
    rm -rf "$tmp/profile"
    if ! chrome "${3:-#check}" --window-size="$1,$2" --dump-dom >"$tmp/dom.html" || [ ! -s "$tmp/dom.html" ]; then
        echo "check-report: $page_arg: $CHROMIUM failed: $(grep -v dbus "$tmp/chrome.err" | tail -1)" >&2
        exit 1
    fi
    status=$(grep -o '<p id="report-status"[^>]*>' "$tmp/dom.html" | head -1)
    if [ -z "$status" ]; then
        echo "check-report: $page_arg: no #report-status element (not a page of cnn-render html?)" >&2
        exit 1
    fi
    figures=$(attr figures) media=$(attr media) loaded=$(attr loaded)
    broken=$(attr broken) pending=$(attr pending) missing=$(attr missing)
    bytes=$(attr bytes) view=$(attr view-width) width=$(attr page-width)
    grep -o '<\(img\|video\) [^>]*data-broken="[^"]*"' "$tmp/dom.html" |
        sed 's/.*data-broken="\([^"]*\)"$/check-report: broken: \1/' >&2
}
attr() { printf '%s' "$status" | sed -n "s/.* data-$1=\"\([0-9]*\)\".*/\1/p"; }
bad=0
# loaded WHERE: every medium loaded (else say so, and bad=1).
loaded_all() {
    if [ "${broken:-1}" -ne 0 ] || [ "${pending:-1}" -ne 0 ] || [ "${loaded:-0}" -ne "${media:-0}" ]; then
        [ "${pending:-0}" -ne 0 ] && echo "check-report: $page_arg: $pending images still loading ($1)" >&2
        bad=1
    fi
}
# screenshot W H FILE FRAGMENT: a screenshot of the top of the page, checked not blank.
screenshot() {
    rm -rf "$tmp/profile"
    chrome "$4" --window-size="$1,$2" --screenshot="$tmp/shot.png" >/dev/null
    if [ ! -s "$tmp/shot.png" ]; then
        echo "check-report: $page_arg: no screenshot from $CHROMIUM at $1 px" >&2; bad=1; return
    fi
    mv "$tmp/shot.png" "$3"
    [ -x "$PY" ] || return 0
    "$PY" -c '
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
cols = im.getcolors(1 << 22) or []
top = max(cols)[0] / (im.size[0] * im.size[1]) if cols else 1
if len(cols) <= 20 or top >= 0.98:
    sys.exit("%d colours, %.0f%% one colour" % (len(cols), 100 * top))
' "$3" 2>"$tmp/py.err" ||
        { echo "check-report: $page_arg: the screenshot at $1 px is blank: $(tail -1 "$tmp/py.err")" >&2; bad=1; }
}
page_arg=$1
# Each pass stops the check at its first failure (the later ones cost a
# browser start each).
load 1200 1600
line="report: $figures figures, $loaded images loaded, $broken broken"
[ "${missing:-0}" -gt 0 ] && line="$line, $missing not built"
echo "$line"
loaded_all desktop
echo "report: $(awk -v b="${bytes:-0}" 'BEGIN { printf "%.1f", b / 1e6 }') MB (the page and its figures)"
if [ "${bytes:-0}" -gt "$max" ]; then
    echo "check-report: $page_arg: the page and its figures weigh $bytes bytes, over $max" >&2
    bad=1
fi
[ "$bad" -eq 0 ] || exit 1
load 1200 1600 phone
echo "report: phone (390 px): $loaded images loaded, the page ${width:-?} px wide"
loaded_all "at 390 px"
if [ -n "$width" ] && [ -n "$view" ] && [ "$width" -gt "$view" ]; then
    echo "check-report: $page_arg: at $view px the page is $width px wide (something does not scale or scroll in its box)" >&2
    bad=1
fi
[ "$bad" -eq 0 ] || exit 1
screenshot 1200 1600 "$tmp/desktop.png" ''
screenshot 390 844 "$tmp/phone.png" phone
[ -n "$shot" ] && [ -f "$tmp/desktop.png" ] && cp "$tmp/desktop.png" "$shot"
[ -n "$phone" ] && [ -f "$tmp/phone.png" ] && cp "$tmp/phone.png" "$phone"
[ "$bad" -eq 0 ] || exit 1
if [ -n "$all" ] && [ "$missing" -ne 0 ]; then
    echo "check-report: $page_arg: $missing optional figures not built" >&2
    exit 1
fi
exit 0
