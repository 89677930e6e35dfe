#!/bin/sh
# cnn-render html's display copies: beside a heavy PNG figure X.png the
# page embeds X.display.webp (lossy, at most --display-width wide) and
# links the PNG, which is left unchanged; small PNGs are shown as they are;
# a video is preload="none" and its poster gets a display copy; the weight
# (data-bytes) is the page plus what it embeds. Checked with Pillow (an
# independent WebP decoder and box resize).
. "$(dirname "$0")/../lib.sh"

if [ ! -x "$BIN/cnn-render" ]; then fail "cnn-render is built" "no $BIN/cnn-render"; exit 1; fi
S=$T/site
mkdir -p "$S/figs" "$S/vid"
cat >"$T/fx.py" <<'PY'
import numpy as np, sys
from PIL import Image
d = sys.argv[1]
r = np.random.default_rng(5)
# big: 3000 x 600, smooth colour ramps with noise (a heavy PNG, >64 KiB)
y, x = np.mgrid[0:600, 0:3000]
a = np.stack([x / 3000 * 255, y / 600 * 255, (x + y) % 256], -1)
a = np.clip(a + r.normal(0, 4, a.shape), 0, 255).astype(np.uint8)
Image.fromarray(a).save(d + '/figs/big.png')
# small: 100 x 60 (a few KiB)
Image.fromarray(a[:60, :100]).save(d + '/figs/small.png')
# a video's poster: 800 x 400, heavy too
Image.fromarray(a[:400, :800]).save(d + '/vid/clip.mp4.poster.png')
PY
check_py "fixture PNGs" "$T/fx.py" "$S"
printf 'not really a video\n' >"$S/vid/clip.mp4"
for f in figs/big.png figs/small.png vid/clip.mp4; do printf 'caption of %s\n' "$f" >"$S/$f.txt"; done
printf 'title t\nsection s S\nfigure figs/big.png\nfigure figs/small.png\nfigure vid/clip.mp4\n' >"$T/r.def"
md5sum "$S/figs/big.png" >"$T/big.md5"

check "html writes the page and the display copies" cnn-render html -q -o "$S/index.html" "$T/r.def"
check "the PNG figure is unchanged" md5sum -c --quiet "$T/big.md5"
cat >"$T/page.py" <<'PY'
import os, re, sys
import numpy as np
from PIL import Image
page, width = sys.argv[1], int(sys.argv[2])
d = os.path.dirname(page)
s = open(page, encoding='utf-8').read()
# the picture links the lossless PNG and embeds the display copy
assert '<a href="figs/big.png"><img src="figs/big.display.webp" loading="lazy"' in s, \
    re.findall(r'<a href[^>]*><img [^>]*>', s)
# its layout size is the PNG's
assert 'src="figs/big.display.webp" loading="lazy" decoding="async" width="3000" height="600"' in s
# a small PNG is shown as it is, and has no copy
assert '<a href="figs/small.png"><img src="figs/small.png"' in s
assert not os.path.exists(d + '/figs/small.display.webp')
# the display copy decodes, is WebP, at most `width` wide, the PNG's aspect
im = Image.open(d + '/figs/big.display.webp')
assert im.format == 'WEBP', im.format
w = min(width, 3000)
assert im.size == (w, 600 * w // 3000), (im.size, w)
# and looks like the PNG shrunk (Pillow's box filter): mean |diff| small
png = Image.open(d + '/figs/big.png').convert('RGB').resize(im.size, Image.BOX)
diff = np.abs(np.asarray(im.convert('RGB'), float) - np.asarray(png, float)).mean()
assert diff < 6, diff
assert os.path.getsize(d + '/figs/big.display.webp') * 4 <= os.path.getsize(d + '/figs/big.png') * 3
# the video: loads nothing but its poster (a display copy) until played
assert '<video controls loop muted playsinline preload="none" poster="vid/clip.mp4.poster.display.webp" src="vid/clip.mp4">' in s, \
    re.findall(r'<video[^>]*>', s)
Image.open(d + '/vid/clip.mp4.poster.display.webp').load()
# the weight: the page + the embedded pictures + the poster (not the video)
m = re.search(r'data-bytes="(\d+)"', s)
want = len(s.encode()) + sum(os.path.getsize(os.path.join(d, f)) for f in
    ['figs/big.display.webp', 'figs/small.png', 'vid/clip.mp4.poster.display.webp'])
assert m and int(m.group(1)) == want, (m and m.group(1), want)
PY
check_py "page embeds the display copy (2052 px, decodes, near the PNG), links the PNG; weight" \
    "$T/page.py" "$S/index.html" 2052
check "--display-width 500" cnn-render html -q --display-width 500 -o "$S/index.html" "$T/r.def"
check_py "--display-width 500: the copy is 500 x 100" "$T/page.py" "$S/index.html" 500
check "--display-quality 0" cnn-render html -q --display-quality 0 -o "$S/index.html" "$T/r.def"
check_py "--display-quality 0: the PNGs shown, stale copies removed" -c "
import os
s = open('$S/index.html').read()
assert '<a href=\"figs/big.png\"><img src=\"figs/big.png\"' in s
assert 'poster=\"vid/clip.mp4.poster.png\"' in s
assert not os.path.exists('$S/figs/big.display.webp')
assert not os.path.exists('$S/vid/clip.mp4.poster.display.webp')"
check_error "--display-quality 101: usage error" 2 "display-quality.*out of range" "" \
    cnn-render html --display-quality 101 -o "$T/x.html" "$T/r.def"
check_error "--display-width 0: usage error" 2 "display-width.*out of range" "" \
    cnn-render html --display-width 0 -o "$T/x.html" "$T/r.def"
exit 0
