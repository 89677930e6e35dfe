#!/bin/sh
# cnn-render html (the demo's report page) and the provenance of PNGs
# (tEXt "history"): a small fixture report built here, its HTML, its
# errors, and the page loaded in headless Chromium (pipelines/check-report.sh)
# when Debian's chromium is installed.
. "$(dirname "$0")/../lib.sh"

if [ ! -x "$BIN/cnn-render" ]; then fail "cnn-render is built" "no $BIN/cnn-render"; exit 1; fi
CHECK="$TOP/pipelines/check-report.sh"

# ---- fixture: images and maps files with a history, PNGs made from them ----
cat >"$T/fx.py" <<'PY'
import h5py, numpy as np, sys
d = sys.argv[1]
r = np.random.default_rng(3)
H0 = '2026-01-01T00:00:00Z cnn-images fixture <in> & "quoted"'
with h5py.File(d + '/img.h5', 'w') as f:
    f.attrs['kind'] = 'images'; f.attrs['history'] = H0
    f['images'] = r.random((4, 1, 8, 8), dtype=np.float32)
    f['ids'] = np.arange(4, dtype=np.int64)
with h5py.File(d + '/maps.h5', 'w') as f:
    f.attrs['kind'] = 'maps'; f.attrs['history'] = H0 + '\n2026-01-01T00:00:01Z cnn-occlude fixture'
    f['maps'] = r.random((4, 3, 3), dtype=np.float32)
    f['ids'] = np.arange(4, dtype=np.int64)
PY
$PY "$T/fx.py" "$T" || { fail "fixture files" "fx.py failed"; exit 1; }
S=$T/site
mkdir -p "$S/figs/sub dir" "$S/other"
check "grid PNG with a space in its folder" cnn-render grid -o "$S/figs/sub dir/grid.png" "$T/img.h5"
check "heatmap PNG from two inputs" cnn-render heatmap --images "$T/img.h5" -o "$S/figs/heat.png" "$T/maps.h5"
cp "$T/img.h5" "$S/data.h5"
check "grid PNG to standard output" sh -c "cd '$S' && cnn-render grid <data.h5 >other/pipe.png"
printf '%s\n' 'Random <digits> & "friends"' 'cnn-render grid -o "figs/sub dir/grid.png" img.h5' \
    >"$S/figs/sub dir/grid.png.txt"
printf '%s\n' 'Occlusion maps' 'cnn-occlude -m model.h5 img.h5 -o maps.h5' \
    'cnn-render heatmap --images img.h5 -o figs/heat.png maps.h5' >"$S/figs/heat.png.txt"
printf '%s\n' 'Piped grid' >"$S/other/pipe.png.txt"
cat >"$T/r.def" <<'EOF'
# a comment line
title Fixture <report> & "co"

section one First & <one>
text Hello <script>alert(1)</script> & bye
figure figs/sub dir/grid.png
figure? imagenet/not-there.png
   # an indented comment
section two_2 Second
figure figs/heat.png
text Piped:
figure other/pipe.png
EOF

# ---- the PNG history chunk --------------------------------------------------
cat >"$T/hist.py" <<'PY'
import sys
from PIL import Image
h = Image.open(sys.argv[1]).text['history']
lines = h.split('\n')
assert 'cnn-render' in lines[-1], lines
for want in sys.argv[2:]:
    n = sum(want in l for l in lines)
    assert n == 1, (want, n, lines)
PY
check_py "grid PNG: tEXt history = input history + cnn-render line" "$T/hist.py" \
    "$S/figs/sub dir/grid.png" "cnn-images fixture" "cnn-render grid -o"
check_py "heatmap PNG: both inputs' history, each line once, then cnn-render" "$T/hist.py" \
    "$S/figs/heat.png" "cnn-images fixture" "cnn-occlude fixture" "cnn-render heatmap"
check_py "PNG written to a pipe has its history too" "$T/hist.py" "$S/other/pipe.png" "cnn-render grid"

# ---- the page -------------------------------------------------------------
check "html writes the page" sh -c "cd '$S' && cnn-render html -q -o index.html '$T/r.def'"
cat >"$T/page_check.py" <<'PY'
import re, sys
from html.parser import HTMLParser
s = open(sys.argv[1], encoding='utf-8').read()
assert s.startswith('<!DOCTYPE html>'), s[:40]
assert '<title>Fixture &lt;report&gt; &amp; &quot;co&quot;</title>' in s
assert '<script>alert' not in s and '&lt;script&gt;alert(1)&lt;/script&gt; &amp; bye' in s
assert '<h2>First &amp; &lt;one&gt;</h2>' in s
assert '<a href="#one">' in s and '<a href="#two_2">' in s and '<section id="two_2">' in s
srcs = re.findall(r'<img src="([^"]*)"', s)
assert srcs == ['figs/sub%20dir/grid.png', 'figs/heat.png', 'other/pipe.png'], srcs
for u in re.findall(r'(?:src|href)="([^"]*)"', s):
    assert not u.startswith(('/', 'file:', 'http')), u
assert s.count('<figure') == 4 and s.count('<figcaption>') == 4
assert s.count('class="not-built"') == 1 and 'needs the pretrained ImageNet models' in s
assert 'Random &lt;digits&gt; &amp; &quot;friends&quot;' in s
# the caption file's commands and the PNG's history, escaped, in <details><pre>
assert 'cnn-render grid -o &quot;figs/sub dir/grid.png&quot; img.h5' in s
assert 'cnn-images fixture &lt;in&gt; &amp; &quot;quoted&quot;' in s
assert s.count('<details>') == 3 and 'cnn-occlude fixture' in s
assert re.search(r'<p id="report-status" data-figures="3" data-media="3" data-missing="1"', s)
# lazy images with their size; the weight: the page and its figures
import os
assert s.count('loading="lazy" decoding="async" width="') == 3, s.count('loading="lazy"')
m = re.search(r'data-bytes="(\d+)"', s)
d = os.path.dirname(sys.argv[1])
want = len(s.encode()) + sum(os.path.getsize(os.path.join(d, f)) for f in
                             ['figs/sub dir/grid.png', 'figs/heat.png', 'other/pipe.png'])
assert m and int(m.group(1)) == want, (m and m.group(1), want)
# each PNG figure: the runnable script (its history) and links to its data
# file (below the page's folder) and the script as a download
assert s.count('<pre id="fig-') == 3 and s.count('set -e') == 3
assert s.count('download="') == 3 and 'download="heat.png.sh" href="data:text/plain;charset=utf-8,%23%21/bin/sh%0A' in s
assert 'Data: <a href="data.h5">data.h5</a>' in s, re.findall(r'<p class="links">Data[^>]*>', s)
class P(HTMLParser):
    stack, bad = [], []
    void = {'meta', 'img', 'br', 'link', 'source'}
    def handle_starttag(self, t, a):
        if t not in self.void: self.stack.append(t)
    def handle_endtag(self, t):
        if not self.stack or self.stack.pop() != t: self.bad.append(t)
p = P(); p.feed(s)
assert not p.bad and not p.stack, (p.bad, p.stack)
PY
check_py "page: escaping, relative links, captions, scripts, data links, weight, lazy images" \
    "$T/page_check.py" "$S/index.html"
check "html to standard output (-o -), links relative to the current folder" \
    sh -c "cd '$S' && cnn-render html -q -o - '$T/r.def' >'$T/stdout.html'"
check "same inputs, byte-identical page" cmp "$S/index.html" "$T/stdout.html"
check "cnn-render html --help" cnn-render html --help
check "cnn-render --help lists html" sh -c "cnn-render --help | grep -q '^  html '"

# ---- errors: one line, non-zero exit, no page -------------------------------
E=$T/err
mkdir -p "$E/figs"
cp "$S/figs/heat.png" "$S/figs/heat.png.txt" "$E/figs/"
def() { printf 'title t\nsection s S\n%s\n' "$1" >"$T/e.def"; }
def 'figure figs/none.png'
check_error "missing figure: error, no page" 1 "e.def:3: .*figs/none.png: figure not found" \
    "$E/index.html" cnn-render html -o "$E/index.html" "$T/e.def"
cp "$S/figs/heat.png" "$E/figs/nocap.png"
def 'figure figs/nocap.png'
check_error "missing caption file: error, no page" 1 "e.def:3: .*nocap.png.txt: cannot read" \
    "$E/index.html" cnn-render html -o "$E/index.html" "$T/e.def"
def 'figure? figs/nocap.png'
check_error "missing caption of a present figure?: error" 1 "nocap.png.txt" \
    "$E/index.html" cnn-render html -o "$E/index.html" "$T/e.def"
: >"$E/figs/empty.png.txt"; cp "$S/figs/heat.png" "$E/figs/empty.png"
def 'figure figs/empty.png'
check_error "empty caption file: error" 1 "empty caption" \
    "$E/index.html" cnn-render html -o "$E/index.html" "$T/e.def"
def 'picture figs/heat.png'
check_error "unknown directive: error naming the line" 1 "e.def:3: unknown directive 'picture'" \
    "$E/index.html" cnn-render html -o "$E/index.html" "$T/e.def"
def 'figure /etc/passwd.png'
check_error "absolute figure path: error" 1 "relative" \
    "$E/index.html" cnn-render html -o "$E/index.html" "$T/e.def"
def 'figure figs/heat.h5'
check_error "figure that is no picture: error" 1 "not a picture" \
    "$E/index.html" cnn-render html -o "$E/index.html" "$T/e.def"
def 'section s Again'
check_error "duplicate section ID: error" 1 "e.def:3: section ID 's' is already used on line 2" \
    "$E/index.html" cnn-render html -o "$E/index.html" "$T/e.def"
def 'title late'
check_error "title after a section: error" 1 "e.def:3: 'title' comes once" \
    "$E/index.html" cnn-render html -o "$E/index.html" "$T/e.def"
check_error "no such .def: error" 1 "nothere.def: cannot read" \
    "$E/index.html" cnn-render html -o "$E/index.html" "$T/nothere.def"
check_error ".def is a folder: error" 1 "cannot read report definition" \
    "$E/index.html" cnn-render html -o "$E/index.html" "$T"
if [ "$(id -u)" -ne 0 ]; then
    cp "$T/r.def" "$T/locked.def"; chmod 000 "$T/locked.def"
    check_error "unreadable .def: error" 1 "locked.def: cannot read" \
        "$E/index.html" cnn-render html -o "$E/index.html" "$T/locked.def"
else
    skip "unreadable .def: error" "root reads any file"
fi
check_error "no folder for the page: error" 1 "no such folder" "" \
    cnn-render html -o "$T/nodir/index.html" "$T/r.def"
check_error "no .def given: usage error" 2 "no report definition" "" cnn-render html -o "$E/x.html"
cp "$S/index.html" "$T/before.html"
def 'figure figs/none.png'
check_error "failed run keeps the old page" 1 "figure not found" "" \
    cnn-render html -o "$S/index.html" "$T/e.def"
check "old page unchanged, no temporary left" sh -c \
    "cmp -s '$S/index.html' '$T/before.html' && [ \$(ls '$S' | wc -l) -eq 4 ]"

# ---- in a browser ------------------------------------------------------------
if ! command -v "${CHROMIUM:-chromium}" >/dev/null 2>&1; then
    for w in "page loads" "screenshot" "broken image" "deleted image"; do
        skip "chromium: $w" "no chromium"; done
    exit 0
fi
if sh "$CHECK" --screenshot "$T/shot.png" --phone-screenshot "$T/phone.png" "$S/index.html" \
    >"$T/check.out" 2>"$T/check.err" &&
    grep -qx "report: 3 figures, 3 images loaded, 0 broken, 1 not built" "$T/check.out" &&
    grep -qx "report: phone (390 px): 3 images loaded, the page 390 px wide" "$T/check.out" &&
    grep -Eqx "report: 0\.[0-9] MB \(the page and its figures\)" "$T/check.out"; then
    pass "chromium: every image loads at desktop and phone width; 3 figures, 1 not built"
else
    fail "chromium: every image loads at desktop and phone width; 3 figures, 1 not built" \
        "$(cat "$T/check.out" "$T/check.err" | grep -v dbus | head -c 400)"
fi
check_py "chromium: phone screenshot 390x844, not blank" -c "
from PIL import Image
im = Image.open('$T/phone.png').convert('RGB')
assert im.size == (390, 844), im.size
assert len(im.getcolors(1 << 20) or []) > 20"
cp -r "$S" "$T/wide"
sed 's|<main>|<main><div style="width:900px">wide</div>|' "$S/index.html" >"$T/wide/index.html"
if sh "$CHECK" "$T/wide/index.html" >"$T/check.out" 2>"$T/check.err"; then
    fail "chromium: a page wider than a phone fails" "$(cat "$T/check.out")"
else
    check "chromium: a page wider than a phone fails, saying so" \
        grep -q "at 390 px the page is 9[0-9][0-9] px wide" "$T/check.err"
fi
if sh "$CHECK" --max-bytes 1000 "$S/index.html" >"$T/check.out" 2>"$T/check.err"; then
    fail "chromium: a page over --max-bytes fails" "$(cat "$T/check.out")"
else
    check "chromium: a page over --max-bytes fails, saying so" grep -q "weigh [0-9]* bytes, over 1000" "$T/check.err"
fi
check_py "chromium: screenshot is not blank" -c "
from PIL import Image
im = Image.open('$T/shot.png').convert('RGB')
assert im.size == (1200, 1600), im.size
cols = im.getcolors(1 << 20)
assert cols and len(cols) > 20, len(cols or [])
white = max(cols)[0] / (im.size[0] * im.size[1])
assert white < 0.98, white"
cp -r "$S" "$T/site2"
printf 'not a png' >"$T/site2/figs/heat.png"
if sh "$CHECK" "$T/site2/index.html" >"$T/check.out" 2>"$T/check.err"; then
    fail "chromium: a broken image is detected" "check passed: $(cat "$T/check.out")"
elif grep -q "1 broken" "$T/check.out" && grep -q "broken: figs/heat.png" "$T/check.err"; then
    pass "chromium: a broken image is detected and named"
else
    fail "chromium: a broken image is detected and named" "$(cat "$T/check.out" "$T/check.err" | head -c 400)"
fi
rm "$T/site2/figs/sub dir/grid.png"
if ! sh "$CHECK" "$T/site2/index.html" >"$T/check.out" 2>"$T/check.err" &&
    grep -q "1 images loaded, 2 broken" "$T/check.out" && grep -q "broken: figs/sub dir/grid.png" "$T/check.err"; then
    pass "chromium: a deleted image is detected"
else
    fail "chromium: a deleted image is detected" "$(cat "$T/check.out" "$T/check.err" | head -c 400)"
fi
