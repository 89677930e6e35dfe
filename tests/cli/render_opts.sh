#!/bin/sh
# cnn-render heatmap's display options against independent computations:
# --clip equals numpy.percentile on the same data, the colour maps' pixels
# equal their published colours (viridis's ends, RdBu's centre for 0), the
# labels come from /paths, /classes and /target, columns from each file's
# method, --change subtracts /baseline, --attr draws 0.5 + 0.5 v / c.
. "$(dirname "$0")/../lib.sh"

R=cnn-render
if [ ! -x "$BIN/cnn-render" ]; then fail "cnn-render is built" "no $BIN/cnn-render"; exit 1; fi

cat >"$T/fx.py" <<'PY'
import h5py, numpy as np, sys
d = sys.argv[1]
S = h5py.string_dtype()
rng = np.random.default_rng(1)
def maps_file(name, **attrs):
    f = h5py.File(d + '/' + name, 'w')
    f.attrs['kind'] = 'maps'; f.attrs['history'] = 'fixture'
    for k, v in attrs.items():
        f.attrs[k] = v
    f['ids'] = np.array([5, 6, 7], np.int64)
    return f
classes = ['tench', 'goldfish', 'tabby cat']
with h5py.File(d + '/photos.h5', 'w') as f:
    f.attrs['kind'] = 'images'; f.attrs['history'] = 'fixture'
    f['images'] = rng.uniform(0, 1, (3, 3, 12, 12)).astype(np.float32)
    f['ids'] = np.array([5, 6, 7], np.int64)
    f.create_dataset('paths', data=['data/photos/cat.jpg', 'dog.png', 'x/y/bike.jpeg'], dtype=S)
# signed maps with outliers, and RGB attributions (cnn-saliency's schema)
with maps_file('guided.h5', method='guided', target='pred') as f:
    m = rng.normal(0, 1, (3, 12, 12)).astype(np.float32); m[0, 3, 4] = 40; m[1, 0, 0] = -25
    f['maps'] = m
    a = rng.normal(0, 1, (3, 3, 12, 12)).astype(np.float32); a[0, 1, 2, 2] = 30
    f['attr'] = a
    f['target'] = np.array([2, 0, 1], np.int32)
    f.create_dataset('classes', data=classes, dtype=S)
with maps_file('gradient.h5', method='gradient', target='pred') as f:
    f['maps'] = np.abs(rng.normal(0, 1, (3, 12, 12))).astype(np.float32)
    f['target'] = np.array([2, 0, 1], np.int32)
    f.create_dataset('classes', data=classes, dtype=S)
with maps_file('unit.h5', method='guided', target='unit=conv5:245') as f:
    f['maps'] = np.abs(rng.normal(0, 1, (3, 12, 12))).astype(np.float32)
    f['target'] = np.array([245, 245, 245], np.int32)
# cnn-saliency's maps may lack /classes: its model file has them
with maps_file('noclass.h5', method='guided', target='pred') as f:
    f['maps'] = np.abs(rng.normal(0, 1, (3, 12, 12))).astype(np.float32)
    f['attr'] = rng.normal(0, 1, (3, 3, 12, 12)).astype(np.float32)
    f['target'] = np.array([2, 0, 1], np.int32)
with h5py.File(d + '/model.h5', 'w') as f:
    f.attrs['kind'] = 'model'
    f.create_dataset('classes', data=classes, dtype=S)
# scores near 1 (the top 8s read "8 (1.00)" before; above 0.999: 1 - distance)
with maps_file('scores.h5') as f:
    f['maps'] = np.zeros((3, 2, 2), np.float32)
    f['scores'] = np.array([0.99997, 0.5, 3e-05], np.float32)
    f['labels'] = np.array([8, 8, 8], np.int32)
# the top 8s of a confident model: float32 neighbours of 1 (they read
# "1.000000" alike before), 0.9999 and 0.996
with maps_file('top.h5') as f:
    f['maps'] = np.zeros((4, 2, 2), np.float32)
    f['scores'] = np.array([1 - 2**-24, 1 - 2**-23, 0.9999, 0.996], np.float32)
    f['labels'] = np.array([8, 8, 8, 8], np.int32)
# unsigned 10x10 ramp 0..99 (one map)
with maps_file('ramp.h5') as f:
    f['maps'] = np.arange(100, dtype=np.float32).reshape(1, 10, 10)
    del f['ids']
with h5py.File(d + '/ramp_img.h5', 'w') as f:
    f.attrs['kind'] = 'images'; f.attrs['history'] = 'fixture'
    f['images'] = (np.arange(100, dtype=np.float32).reshape(1, 1, 10, 10) - 30) / 10
# signed ramp -1..1 in 9 cells: 0 in the middle
with maps_file('sramp.h5') as f:
    f['maps'] = np.linspace(-1, 1, 9, dtype=np.float32).reshape(1, 1, 9)
    del f['ids']
# cnn-occlude's schema: raw probabilities, the clean image's score per row
for out in ('raw', 'diff'):
    with maps_file('occ_%s.h5' % out, method='occlusion', engine='incremental', target='pred', output=out) as f:
        f.attrs.create('window', np.array([4, 4], np.int64))
        f['maps'] = rng.uniform(0.5, 1, (3, 3, 3)).astype(np.float32)
        f['baseline'] = np.array([0.9, 0.95, 0.6], np.float32)
        f['target'] = np.array([2, 0, 1], np.int32)
        f.create_dataset('classes', data=classes, dtype=S)
PY
if ! $PY "$T/fx.py" "$T" 2>"$T/fx.err"; then
    fail "fixtures" "$(tail -c 300 "$T/fx.err")"; exit 1
fi

# --list prints: column J TITLE / row I LABEL / range J I LO HI / cmap K SIGN
cat >"$T/lst.py" <<'PY'
def read(p):
    out = {'column': {}, 'row': {}, 'range': {}}
    for line in open(p):
        f = line.rstrip('\n').split('\t')
        if f[0] == 'column': out['column'][int(f[1])] = f[2]
        elif f[0] == 'row': out['row'][int(f[1])] = f[2]
        elif f[0] == 'range': out['range'][(int(f[1]), int(f[2]))] = (float(f[3]), float(f[4]))
        elif f[0] == 'cmap': out['cmap'] = (int(f[1]), f[2])
    return out
def close(a, b):
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))
PY

# --- --clip: numpy.percentile of |v| -----------------------------------------
check "heatmap --clip 0.5 --list" sh -c "$R heatmap --list --clip 0.5 '$T/guided.h5' >'$T/c1.txt'"
check_py "--clip 0.5 (global): [-c, c], c = numpy.percentile(|maps|, 99.5)" -c "
import sys; sys.path.insert(0, '$T'); from lst import *
import h5py, numpy as np
m = h5py.File('$T/guided.h5')['maps'][()]
c = np.percentile(np.abs(m).astype(np.float64), 99.5)
L = read('$T/c1.txt')
for i in range(3):
    lo, hi = L['range'][(0, i)]
    assert close(hi, c) and close(lo, -c), (i, lo, hi, c)
assert L['cmap'] == (2, 'signed'), L['cmap']
"
check "heatmap --clip 2 --normalize tile --list" sh -c "$R heatmap --list --clip 2 --normalize tile '$T/guided.h5' >'$T/c2.txt'"
check_py "--clip 2 per tile: each map's own percentile 98 of |v|" -c "
import sys; sys.path.insert(0, '$T'); from lst import *
import h5py, numpy as np
m = h5py.File('$T/guided.h5')['maps'][()].astype(np.float64)
L = read('$T/c2.txt')
for i in range(3):
    c = np.percentile(np.abs(m[i]), 98)
    assert close(L['range'][(0, i)][1], c) and close(L['range'][(0, i)][0], -c), (i, L['range'][(0, i)], c)
"
check "heatmap --clip 5 on an unsigned ramp" $R heatmap --clip 5 --scale 1 --pad 0 --filter nearest --caption none -o "$T/ramp.png" "$T/ramp.h5"
check_py "unsigned ramp: viridis's published ends (#440154 at 0, #fde725 from the clip on)" -c "
from PIL import Image
import numpy as np
im = np.asarray(Image.open('$T/ramp.png').convert('RGB')).astype(int)
v = np.arange(100, dtype=np.float64).reshape(10, 10)
c = np.percentile(v, 95)
tile = im[:10, :10]
assert tuple(tile[0, 0]) == (0x44, 0x01, 0x54), tile[0, 0]
top = np.all(tile == (0xfd, 0xe7, 0x25), axis=2)
want = np.floor(np.clip(v / c, 0, 1) * 255 + 0.5) >= 255
assert (top == want).all(), (np.argwhere(top != want), c)
"

check "grid --normalize global --clip 10" $R grid --normalize global --clip 10 --scale 1 --pad 0 --caption none -o "$T/gclip.png" "$T/ramp_img.h5"
check_py "grid --clip: gray over [min, percentile 90 of |v|]" -c "
from PIL import Image
import h5py, numpy as np
v = h5py.File('$T/ramp_img.h5')['images'][0, 0].astype(np.float64)
c = np.percentile(np.abs(v), 90); lo = v.min()
want = np.floor(np.clip((v - lo) / (c - lo), 0, 1) * 255 + 0.5)
im = np.asarray(Image.open('$T/gclip.png').convert('L')).astype(int)
assert np.abs(im - want).max() <= 1, np.abs(im - want).max()
"
check_error "grid --clip without --normalize" 2 "clip needs --normalize" "" $R grid --clip 5 -o "$T/gc2.png" "$T/ramp_img.h5"

# --- colour maps -----------------------------------------------------------
check "heatmap of signed data (default map)" $R heatmap --scale 1 --pad 0 --filter nearest --caption none -o "$T/sr.png" "$T/sramp.h5"
check_py "signed data: diverging map, 0 in its centre colour #f7f7f7, ends #053061 and #67001f" -c "
from PIL import Image
im = Image.open('$T/sr.png').convert('RGB')
assert im.getpixel((4, 0)) == (0xf7, 0xf7, 0xf7), im.getpixel((4, 0))
assert im.getpixel((0, 0)) == (0x05, 0x30, 0x61), im.getpixel((0, 0))
assert im.getpixel((8, 0)) == (0x67, 0x00, 0x1f), im.getpixel((8, 0))
"
check "heatmap --cmap inferno" $R heatmap --cmap inferno --scale 1 --pad 0 --filter nearest --caption none -o "$T/inf.png" "$T/ramp.h5"
check_py "inferno's published ends (#000004, #fcffa4)" -c "
from PIL import Image
im = Image.open('$T/inf.png').convert('RGB')
assert im.getpixel((0, 0)) == (0, 0, 4) and im.getpixel((9, 9)) == (0xfc, 0xff, 0xa4), (im.getpixel((0, 0)), im.getpixel((9, 9)))
"
check "unsigned maps --list" sh -c "$R heatmap --list '$T/gradient.h5' >'$T/u.txt'"
check_py "unsigned data: viridis over [min, max]" -c "
import sys; sys.path.insert(0, '$T'); from lst import *
import h5py, numpy as np
m = h5py.File('$T/gradient.h5')['maps'][()]
L = read('$T/u.txt')
assert L['cmap'] == (1, 'unsigned'), L['cmap']
assert close(L['range'][(0, 0)][0], m.min()) and close(L['range'][(0, 0)][1], m.max())
"

# --- labels from the data ------------------------------------------------------
check "two methods as columns, --list" sh -c "$R heatmap --list --images '$T/photos.h5' '$T/guided.h5' '$T/gradient.h5' >'$T/l.txt'"
check_py "columns are the methods; rows: file names from /paths, classes of /target from /classes" -c "
import sys, os; sys.path.insert(0, '$T'); from lst import *
import h5py
L = read('$T/l.txt')
assert L['column'] == {0: 'guided', 1: 'gradient'}, L['column']
p = h5py.File('$T/photos.h5')['paths'].asstr()[()]
g = h5py.File('$T/guided.h5')
cls = g['classes'].asstr()[()]; tg = g['target'][()]
for i in range(3):
    want = os.path.basename(p[i]) + ', ' + cls[tg[i]]
    assert L['row'][i] == want, (i, L['row'][i], want)
assert L['row'][0] == 'cat.jpg, tabby cat'
# several files: one range per map (each method on its own scale)
m = h5py.File('$T/gradient.h5')['maps'][()]
assert close(L['range'][(1, 2)][1], m[2].max()), L['range'][(1, 2)]
"
check "--classes from an HDF5 file (a model's /classes)" sh -c "$R heatmap --list --caption path,target --classes '$T/model.h5' --attr --images '$T/photos.h5' '$T/noclass.h5' >'$T/mc.txt'"
check_py "--classes: names from the model file, file names from --images with --attr" -c "
import sys; sys.path.insert(0, '$T'); from lst import *
L = read('$T/mc.txt')
assert [L['row'][i] for i in range(3)] == ['cat.jpg, tabby cat', 'dog.png, tench', 'bike.jpeg, goldfish'], L['row']"
check "--classes as a list" sh -c "$R heatmap --list --caption target --classes a,b,c '$T/noclass.h5' >'$T/ml.txt'"
check_py "--classes a,b,c names /target" -c "
import sys; sys.path.insert(0, '$T'); from lst import *
L = read('$T/ml.txt'); assert L['row'][0] == 'c', L['row']"
check "score captions --list" sh -c "$R heatmap --list --caption score,id '$T/scores.h5' >'$T/sc.txt'"
check_py "a score just under 1 keeps the digits that tell it from 1" -c "
import sys; sys.path.insert(0, '$T'); from lst import *
L = read('$T/sc.txt')
assert [L['row'][i] for i in range(3)] == ['8 (1\u22123.0e-05), 5', '8 (0.50), 6', '8 (3.0e-05), 7'], L['row']"
check "score captions of float neighbours of 1 --list" sh -c "$R heatmap --list --caption score '$T/top.h5' >'$T/top.txt'"
check_py "scores above 0.999 read as 1 minus their distance from 1, two digits: all distinct" -c "
import sys; sys.path.insert(0, '$T'); from lst import *
import numpy as np
L = read('$T/top.txt')
p = np.array([1 - 2**-24, 1 - 2**-23, 0.9999, 0.996], np.float32).astype(float)
want = ['8 (1\u2212%.1e)' % (1 - v) for v in p[:3]] + ['8 (0.996)']
got = [L['row'][i] for i in range(4)]
assert got == want, (got, want)
assert got[0] == '8 (1\u22126.0e-08)' and len(set(got)) == 4, got"
check "unit target label" sh -c "$R heatmap --list --caption target,path '$T/unit.h5' >'$T/ul.txt'"
check_py "a unit target reads LAYER:C; no /paths, no path" -c "
import sys; sys.path.insert(0, '$T'); from lst import *
L = read('$T/ul.txt'); assert L['row'][1] == 'conv5:245', L['row']"
check "--titles" sh -c "$R heatmap --list --titles A,B '$T/guided.h5' '$T/gradient.h5' >'$T/t.txt'"
check_py "--titles names the columns" -c "
import sys; sys.path.insert(0, '$T'); from lst import *
assert read('$T/t.txt')['column'] == {0: 'A', 1: 'B'}"
check "two methods drawn" $R heatmap --images "$T/photos.h5" --scale 8 --pad 4 -o "$T/two.png" "$T/guided.h5" "$T/gradient.h5"
check_py "the picture has its label band, title band and tiles" -c "
from PIL import Image
import numpy as np
im = np.asarray(Image.open('$T/two.png').convert('L')).astype(int)
H, W = im.shape
tw = 12 * 8
assert W == 128 + 4 + 2 * (tw + 4) + 74, W
for i in range(3):   # each row's label left of its tiles
    y0 = 20 + 4 + i * (tw + 4)
    assert (im[y0:y0 + tw, 4:124] < 100).sum() > 20, i
for j in range(2):   # each column's title above it
    x0 = 128 + 4 + j * (tw + 4)
    assert (im[2:20, x0:x0 + tw] < 100).sum() > 10, j
"

# --- --change: occlusion relative to each image's baseline --------------------
check "--change --list" sh -c "$R heatmap --list --change '$T/occ_raw.h5' >'$T/ch.txt'"
check_py "--change: maps minus /baseline, signed" -c "
import sys; sys.path.insert(0, '$T'); from lst import *
import h5py, numpy as np
f = h5py.File('$T/occ_raw.h5')
d = f['maps'][()].astype(np.float64) - f['baseline'][()].astype(np.float64)[:, None, None]
c = np.abs(d).max()
L = read('$T/ch.txt')
assert L['cmap'][1] == 'signed' and close(L['range'][(0, 0)][1], c), (L['range'], c)
assert L['column'][0] == 'occlusion'
"
check_error "--change on maps already relative" 1 "occ_diff.h5: maps are already relative" "$T/cd.png" \
    $R heatmap --change -o "$T/cd.png" "$T/occ_diff.h5"

# --- --attr: RGB attributions --------------------------------------------------
check "--attr" $R heatmap --attr --range 0:1 --scale 1 --pad 0 --filter nearest --caption none -o "$T/attr.png" "$T/guided.h5"
check_py "--attr: pixel = 0.5 + 0.5 v / max|v| per channel" -c "
from PIL import Image
import h5py, numpy as np
a = h5py.File('$T/guided.h5')['attr'][0].astype(np.float64)
im = np.asarray(Image.open('$T/attr.png').convert('RGB')).astype(int)
assert im.shape == (12, 12, 3), im.shape
want = np.floor(np.clip(0.5 + 0.5 * a / np.abs(a).max(), 0, 1) * 255 + 0.5).transpose(1, 2, 0)
assert np.abs(im - want).max() <= 1, np.abs(im - want).max()
"
check "--attr --clip 1" $R heatmap --attr --clip 1 --range 0:1 --scale 1 --pad 0 --filter nearest --caption none -o "$T/attrc.png" "$T/guided.h5"
check_py "--attr --clip 1: c = percentile 99 of |v|" -c "
from PIL import Image
import h5py, numpy as np
a = h5py.File('$T/guided.h5')['attr'][0].astype(np.float64)
c = np.percentile(np.abs(a), 99)
im = np.asarray(Image.open('$T/attrc.png').convert('RGB')).astype(int)
want = np.floor(np.clip(0.5 + 0.5 * a / c, 0, 1) * 255 + 0.5).transpose(1, 2, 0)
assert np.abs(im - want).max() <= 1, np.abs(im - want).max()
"

# --- html writes to standard output without -o, as every command -------------
mkdir -p "$T/page"
printf 'title T\nsection a A\ntext hello\n' >"$T/page/r.def"
check "html without -o" sh -c "cd '$T/page' && $R html -q r.def >'$T/page/stdout.html'"
if grep -q '<html' "$T/page/stdout.html" && [ ! -e "$T/page/out" ]; then pass "html: the page on standard output, no out/ folder"
else fail "html: the page on standard output, no out/ folder" "$(ls "$T/page")"; fi

# --- usage errors ----------------------------------------------------------------
check_error "--clip 100" 2 "clip" "" $R heatmap --clip 100 --list "$T/guided.h5"
check_error "--titles of another count" 2 "titles: 1 titles for 2 files" "" $R heatmap --list --titles A "$T/guided.h5" "$T/gradient.h5"
check_error "--normalize none for heatmap" 2 "heatmap takes global or tile" "" $R heatmap --normalize none --list "$T/guided.h5"
check_error "--attr with --numbers" 2 "attr draws" "" $R heatmap --attr --numbers --list "$T/guided.h5"
check_error "several files for grid" 2 "too many operands" "" $R grid "$T/photos.h5" "$T/photos.h5"
check_error "--attr without /attr" 1 "gradient.h5: no dataset '/attr'" "$T/na.png" $R heatmap --attr -o "$T/na.png" "$T/gradient.h5"
check_error "files of other rows" 1 "not the same images" "$T/or.png" $R heatmap -o "$T/or.png" "$T/guided.h5" "$T/ramp.h5"
check_error "--compress (no HDF5 written)" 2 "compress is not an option of cnn-render" "$T/cz.png" $R grid --compress -o "$T/cz.png" "$T/photos.h5"
