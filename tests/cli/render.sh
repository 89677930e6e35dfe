#!/bin/sh
# cnn-render: real pixels of every picture kind (positions, scale, colours,
# orientation), pipes, and bad input.
. "$(dirname "$0")/../lib.sh"

R=cnn-render
if [ ! -x "$BIN/cnn-render" ]; then fail "cnn-render is built" "no $BIN/cnn-render"; exit 1; fi

# Fixtures: small files with known patterns.
cat >"$T/fx.py" <<'PY'
import h5py, numpy as np, sys
d = sys.argv[1]
def root(f, kind):
    f.attrs['kind'] = kind
    f.attrs['history'] = 'fixture'
S = h5py.string_dtype()
# Image 0: white top-left quadrant. Image 1: white bottom row, gray left column.
im = np.zeros((2, 1, 8, 8), np.float32)
im[0, 0, :4, :4] = 1
im[1, 0, 7, :] = 1
im[1, 0, :, 0] = 0.5
with h5py.File(d + '/img.h5', 'w') as f:
    root(f, 'images'); f['images'] = im
    f['ids'] = np.array([10, 11], np.int64); f['labels'] = np.array([3, 8], np.int32)
    f.create_dataset('classes', data=[str(i) for i in range(10)], dtype=S)
rgb = np.zeros((3, 3, 6, 6), np.float32)
rgb[0, 0] = 1; rgb[1, 1] = 1; rgb[2, 2] = 1
with h5py.File(d + '/rgb.h5', 'w') as f:
    root(f, 'images'); f['images'] = rgb; f['labels'] = np.array([0, 1, 2], np.int32)
    f.create_dataset('classes', data=['red', 'green', 'blue'], dtype=S)
    f['scores'] = np.array([0.97, 0.5, 0.123], np.float32)
rng = np.random.default_rng(0)
n = 300; lab = np.arange(n) % 3; P = np.zeros((n, 3), np.float32)
P[:, 0] = lab * 10 + rng.normal(0, 0.5, n); P[:, 1] = -lab * 5 + rng.normal(0, 0.5, n)
P[:, 2] = lab * 3 + rng.normal(0, 0.1, n)
with h5py.File(d + '/pca.h5', 'w') as f:
    root(f, 'pca'); f['projections'] = P; f['labels'] = lab.astype(np.int32)
    f.create_dataset('classes', data=['zero', 'one', 'two'], dtype=S)
    f['explained_variance_ratio'] = np.array([0.123, 0.05, 0.01], np.float32)
m = np.tile(np.arange(10, dtype=np.float32) * 10, (2, 4, 1))     # 0..90 left to right
with h5py.File(d + '/maps.h5', 'w') as f:
    root(f, 'maps'); f['maps'] = m; f['ids'] = np.array([10, 11], np.int64)
    f['labels'] = np.array([8, 8], np.int32)
with h5py.File(d + '/smaps.h5', 'w') as f:
    root(f, 'maps'); f['maps'] = np.tile(np.linspace(-1, 1, 9, dtype=np.float32), (1, 3, 1))
with h5py.File(d + '/badids.h5', 'w') as f:
    root(f, 'maps'); f['maps'] = m; f['ids'] = np.array([10, 99], np.int64)
k = rng.normal(0, 1, (8, 1, 5, 5)).astype(np.float32) * np.arange(1, 9)[:, None, None, None]
with h5py.File(d + '/k1.h5', 'w') as f:
    root(f, 'images'); f['images'] = k
with h5py.File(d + '/k3.h5', 'w') as f:
    root(f, 'images'); f['images'] = rng.normal(0, 1, (4, 3, 3, 3)).astype(np.float32)
with h5py.File(d + '/k6.h5', 'w') as f:
    root(f, 'images'); f['images'] = rng.normal(0, 1, (4, 6, 3, 3)).astype(np.float32)
pr = np.full((3, 10), 0.02, np.float32); pr[0, 2] = 0.6; pr[0, 5] = 0.24
pr[1, 7] = 0.5; pr[1, 1] = 0.34; pr[2] = 0.1
with h5py.File(d + '/act.h5', 'w') as f:
    root(f, 'activations'); f['probs'] = pr; f['labels'] = np.array([2, 1, 4], np.int32)
    f.create_dataset('classes', data=['tench', 'goldfish', 'great white shark', 'tiger shark',
        'hammerhead', 'electric ray', 'stingray', 'cock', 'hen', 'ostrich'], dtype=S)
with h5py.File(d + '/noimg.h5', 'w') as f:
    root(f, 'images'); f['pixels'] = im
open(d + '/text.h5', 'w').write('not hdf5\n')
PY
if ! $PY "$T/fx.py" "$T" 2>"$T/fx.err"; then
    fail "fixtures" "$(tail -c 300 "$T/fx.err")"; exit 1
fi

# Pixel checks share a few helpers.
cat >"$T/px.py" <<'PY'
import sys
from PIL import Image
def load(p):
    return Image.open(p).convert('RGB')
def gray(im, x, y):
    r, g, b = im.getpixel((x, y)); return (r + g + b) / 3
def near(c, want, tol=40):
    return all(abs(a - b) <= tol for a, b in zip(c, want))
PY

# --- grid ----------------------------------------------------------------
check "grid writes a PNG" $R grid --scale 4 --pad 2 --caption none -o "$T/g.png" "$T/img.h5"
check_py "grid: size, scale, quadrant at top-left, not transposed or inverted" -c "
import sys; sys.path.insert(0, '$T'); from px import *
im = load('$T/g.png')
assert im.size == (2 + 2 * 34, 36), im.size
# tile 0 at (2,2): white top-left 16x16 block, black elsewhere
assert all(gray(im, x, y) > 250 for x in range(2, 18) for y in range(2, 18))
assert all(gray(im, x, y) < 5 for x in range(18, 34) for y in range(2, 34))
assert all(gray(im, x, y) < 5 for x in range(2, 18) for y in range(18, 34))
# tile 1 at (36,2): white bottom row (y 30..33), gray left column (x 36..39)
assert all(gray(im, x, y) > 250 for x in range(40, 68) for y in range(30, 34))
assert all(gray(im, x, y) < 5 for x in range(40, 68) for y in range(2, 30))
assert all(120 < gray(im, x, y) < 135 for x in range(36, 40) for y in range(2, 30))
"
check "grid with captions from /labels" $R grid --scale 4 --pad 2 -o "$T/gc.png" "$T/img.h5"
check_py "grid captions: dark text pixels in the band under each tile" -c "
import sys; sys.path.insert(0, '$T'); from px import *
im = load('$T/gc.png')
assert im.size == (70, 36 + 16), im.size
for x0 in (2, 36):
    dark = sum(gray(im, x, y) < 128 for x in range(x0, x0 + 32) for y in range(34, 52))
    assert dark > 5, (x0, dark)
"
check "grid from a pipe (stdin, -o -)" sh -c "cat '$T/img.h5' | $R grid --scale 2 --caption none -o - > '$T/pipe.png'"
check_py "piped grid is a PNG of the right size" -c "
import sys; sys.path.insert(0, '$T'); from px import *
assert load('$T/pipe.png').size == (4 + 2 * 20, 24)"
check "grid from stdin without an operand" sh -c "$R grid --scale 2 -o '$T/pipe2.png' < '$T/img.h5'"
check "grid RGB with score captions" $R grid --scale 8 --pad 4 -o "$T/rgb.png" "$T/rgb.h5"
check_py "grid RGB channels in order (red, green, blue tiles), score captions" -c "
import sys; sys.path.insert(0, '$T'); from px import *
im = load('$T/rgb.png')
assert im.size == (4 + 2 * 52, 4 + 2 * (48 + 16 + 4)), im.size
assert near(im.getpixel((28, 28)), (255, 0, 0), 2)
assert near(im.getpixel((80, 28)), (0, 255, 0), 2)
assert near(im.getpixel((28, 96)), (0, 0, 255), 2)
assert sum(gray(im, x, y) < 128 for x in range(4, 56) for y in range(52, 68)) > 10
"
check "grid --range 1:2 draws one tile" $R grid --range 1:2 --scale 1 --pad 0 --caption none -o "$T/r.png" "$T/img.h5"
check_py "grid --range picks the second image" -c "
import sys; sys.path.insert(0, '$T'); from px import *
im = load('$T/r.png'); assert im.size == (8, 8), im.size
assert gray(im, 3, 7) > 250 and gray(im, 3, 0) < 5"
check "grid --cols 1 stacks tiles" $R grid --cols 1 --scale 1 --pad 0 --caption none -o "$T/c1.png" "$T/img.h5"
check_py "grid --cols 1 is one column" -c "
import sys; sys.path.insert(0, '$T'); from px import *
assert load('$T/c1.png').size == (8, 16)"
mkdir -p "$T/each"
check "grid --each writes one PNG per image" $R grid --each "$T/each" --scale 2 "$T/img.h5"
if [ -f "$T/each/000010.png" ] && [ -f "$T/each/000011.png" ]; then pass "--each names files by id"
else fail "--each names files by id" "$(ls "$T/each")"; fi

# The issue's pipe: a PNG through cnn-images into cnn-render, still upright.
if [ -x "$BIN/cnn-images" ]; then
    $PY -c "
from PIL import Image
im = Image.new('L', (12, 8), 0)
for x in range(6):
    for y in range(4): im.putpixel((x, y), 255)
im.save('$T/quad.png')"
    check "cnn-images | cnn-render grid" sh -c "cnn-images '$T/quad.png' | $R grid --scale 3 --pad 0 --caption none -o '$T/quad_out.png'"
    check_py "the piped PNG is upright: white top-left quadrant, 36x24" -c "
import sys; sys.path.insert(0, '$T'); from px import *
im = load('$T/quad_out.png'); assert im.size == (36, 24), im.size
assert gray(im, 2, 2) > 250 and gray(im, 16, 10) > 250
assert gray(im, 20, 2) < 5 and gray(im, 2, 14) < 5 and gray(im, 30, 20) < 5"
else
    skip "cnn-images | cnn-render grid" "no cnn-images"
    skip "the piped PNG is upright" "no cnn-images"
fi

# --- filters ---------------------------------------------------------------
check "filters (1 input channel)" $R filters --scale 4 --pad 0 --caption none -o "$T/f1.png" "$T/k1.h5"
check_py "filters: each filter normalised on its own (black and white in every tile)" -c "
import sys; sys.path.insert(0, '$T'); from px import *
im = load('$T/f1.png'); assert im.size == (3 * 20, 3 * 20), im.size
for t in range(8):
    x0, y0 = (t % 3) * 20, (t // 3) * 20
    v = [gray(im, x, y) for x in range(x0, x0 + 20) for y in range(y0, y0 + 20)]
    assert min(v) < 2 and max(v) > 253, (t, min(v), max(v))
"
check "filters --signed" $R filters --signed --scale 4 --pad 0 --caption none -o "$T/fs.png" "$T/k1.h5"
check_py "filters --signed: diverging map (blue for negative, red for positive)" -c "
import sys; sys.path.insert(0, '$T'); from px import *
import h5py, numpy as np
k = h5py.File('$T/k1.h5')['images'][0, 0]
im = load('$T/fs.png')
i, j = np.unravel_index(np.argmax(k), k.shape); r, g, b = im.getpixel((j * 4 + 1, i * 4 + 1)); assert r > b + 50, (r, g, b)
i, j = np.unravel_index(np.argmin(k), k.shape); r, g, b = im.getpixel((j * 4 + 1, i * 4 + 1)); assert b > r + 50, (r, g, b)
"
check "filters (3 input channels: RGB tiles)" $R filters --scale 4 --pad 0 --caption none -o "$T/f3.png" "$T/k3.h5"
check_py "filters RGB: one tile per filter" -c "
import sys; sys.path.insert(0, '$T'); from px import *
assert load('$T/f3.png').size == (2 * 12, 2 * 12)"
check "filters (6 input channels: a row per filter)" $R filters --scale 4 --pad 0 -o "$T/f6.png" "$T/k6.h5"
check_py "filters 6 channels: 4 rows of 6 tiles" -c "
import sys; sys.path.insert(0, '$T'); from px import *
assert load('$T/f6.png').size == (6 * 12, 4 * 12), load('$T/f6.png').size"

# --- scatter ---------------------------------------------------------------
check "scatter" $R scatter -o "$T/s.png" "$T/pca.h5"
check_py "scatter: class colours (tab10) at the right relative positions" -c "
import sys; sys.path.insert(0, '$T'); from px import *
im = load('$T/s.png'); W, H = im.size; assert (W, H) == (760, 560)
cols = [(31, 119, 180), (255, 127, 14), (44, 160, 44)]
px = im.load(); cent = []
for c in cols:
    pts = [(x, y) for x in range(W - 120) for y in range(H) if px[x, y] == c]
    assert len(pts) > 50, (c, len(pts))
    cent.append((sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)))
# PC1 grows with the class, PC2 falls: right and down on the picture
assert cent[0][0] < cent[1][0] < cent[2][0], cent
assert cent[0][1] < cent[1][1] < cent[2][1], cent
# the legend (right of the axes) shows the three colours
for c in cols:
    assert any(px[x, y] == c for x in range(W - 120, W) for y in range(H // 2)), c
"
check "scatter --dims 1,3 --size" $R scatter --dims 1,3 --size 400x300 --title '' -o "$T/s2.png" "$T/pca.h5"
check_py "scatter --dims 1,3: third column goes up with the class" -c "
import sys; sys.path.insert(0, '$T'); from px import *
im = load('$T/s2.png'); W, H = im.size; assert (W, H) == (400, 300)
px = im.load(); ys = []
for c in [(31, 119, 180), (44, 160, 44)]:
    pts = [y for x in range(W - 100) for y in range(H) if px[x, y] == c]
    ys.append(sum(pts) / len(pts))
assert ys[0] > ys[1], ys
"

# --- heatmap ---------------------------------------------------------------
check "heatmap --cmap viridis" $R heatmap --cmap viridis --alpha 1 --scale 20 --pad 0 --caption none -o "$T/h.png" "$T/maps.h5"
check_py "heatmap: colour brightness grows with the value, left to right" -c "
import sys; sys.path.insert(0, '$T'); from px import *
im = load('$T/h.png')
assert im.size[1] >= 80 and im.size[0] > 2 * 200, im.size
l = [sum(im.getpixel((j * 20 + 10, 40))) for j in range(10)]
assert all(a < b for a, b in zip(l, l[1:])), l
"
check "heatmap (jet) with numbers and images" $R heatmap --cmap jet --numbers --images "$T/img.h5" -o "$T/hn.png" "$T/maps.h5"
check_py "heatmap jet: blue low, red high; numbers; colour bar" -c "
import sys; sys.path.insert(0, '$T'); from px import *
im = load('$T/hn.png'); W, H = im.size
s = 280 // 8 * 8 // 10
r, g, b = im.getpixel((4 + 3, 4 + 3)); assert b > r + 40, ('left', r, g, b)
tw = 280 // 8 * 8
r, g, b = im.getpixel((4 + tw - 3, 4 + 3)); assert r > b + 40, ('right', r, g, b)
# a colour bar right of the tiles: red at its top, blue at its bottom
cx = 4 + 2 * (tw + 4) + 6 + 7
r, g, b = im.getpixel((cx, 10)); assert r > b + 60, ('bar top', r, g, b)
r, g, b = im.getpixel((cx, 4 + tw - 10)); assert b > r + 60, ('bar bottom', r, g, b)
# printed numbers: cells contain pixels far from the cell colour
cell = tw // 10
row = [im.getpixel((4 + 5 * cell + x, 4 + cell // 2 * 0 + y)) for x in range(cell) for y in range(tw // 4)]
assert len(set(row)) > 5
"
check "heatmap --signed" $R heatmap --signed --scale 20 --pad 0 --caption none -o "$T/hs.png" "$T/smaps.h5"
check_py "heatmap --signed: blue negative, white zero, red positive" -c "
import sys; sys.path.insert(0, '$T'); from px import *
im = load('$T/hs.png')
r, g, b = im.getpixel((10, 30)); assert b > r + 60, (r, g, b)
assert min(im.getpixel((4 * 20 + 10, 30))) > 235, im.getpixel((90, 30))
r, g, b = im.getpixel((8 * 20 + 10, 30)); assert r > b + 60, (r, g, b)
"
mkdir -p "$T/heach"
check "heatmap --each" $R heatmap --each "$T/heach" "$T/maps.h5"
if [ "$(ls "$T/heach" | wc -l)" -eq 2 ]; then pass "heatmap --each writes one PNG per map"
else fail "heatmap --each writes one PNG per map" "$(ls "$T/heach")"; fi

# --- bars ------------------------------------------------------------------
check "bars with --images" $R bars --images "$T/rgb.h5" --cols 1 -o "$T/b.png" "$T/act.h5"
check_py "bars: image on the left, the true class's bar green, bars ordered" -c "
import sys; sys.path.insert(0, '$T'); from px import *
im = load('$T/b.png'); W, H = im.size
px = im.load()
assert near(px[30, 60], (255, 0, 0), 2), px[30, 60]
green = [(x, y) for x in range(W) for y in range(H // 3) if near(px[x, y], (51, 161, 43), 12)]
assert len(green) > 100, len(green)
blue = [(x, y) for x in range(W) for y in range(H // 3) if near(px[x, y], (64, 115, 191), 12)]
# the top class (green, 60%) is the first bar and the longest
assert max(p[1] for p in green) < min(p[1] for p in blue)
assert max(p[0] for p in green) > max(p[0] for p in blue)
"
check "bars without images" $R bars -o "$T/b2.png" "$T/act.h5"

# --- bad input ---------------------------------------------------------------
check_error "missing file" 1 "^cnn-render: .*nope.h5: " "$T/o1.png" $R grid -o "$T/o1.png" "$T/nope.h5"
check_error "not an HDF5 file" 1 "text.h5: not an HDF5" "$T/o2.png" $R grid -o "$T/o2.png" "$T/text.h5"
check_error "file without /images" 1 "noimg.h5: no dataset '/images'" "$T/o3.png" $R grid -o "$T/o3.png" "$T/noimg.h5"
check_error "unknown subcommand" 2 "cnn-render: unknown command 'frobnicate'" "" $R frobnicate "$T/img.h5"
check_error "no subcommand" 2 "cnn-render: no command" "" $R
check_error "wrong kind for scatter" 1 "img.h5: is a images file \(expected features,pca\)" "$T/o4.png" $R scatter -o "$T/o4.png" "$T/img.h5"
check_error "wrong kind for heatmap" 1 "pca.h5: is a pca file \(expected maps\)" "$T/o5.png" $R heatmap -o "$T/o5.png" "$T/pca.h5"
check_error "bars without /probs" 1 "img.h5: no dataset '/probs'" "$T/o6.png" $R bars -o "$T/o6.png" "$T/img.h5"
check_error "heatmap images of other ids" 1 "not the same images" "$T/o7.png" $R heatmap --images "$T/img.h5" -o "$T/o7.png" "$T/badids.h5"
check_error "output in a missing folder" 1 "cnn-render: .*/no/such/dir/x.png: cannot create" "" $R grid -o "$T/no/such/dir/x.png" "$T/img.h5"
check_error "scatter --dims beyond the columns" 1 "pca.h5: --dims 1,9" "$T/o8.png" $R scatter --dims 1,9 -o "$T/o8.png" "$T/pca.h5"
check_error "bad --caption value" 2 "caption: unknown value" "$T/o9.png" $R grid --caption nope -o "$T/o9.png" "$T/img.h5"
check_error "--range outside the rows" 1 "cnn-render: " "$T/o10.png" $R grid --range 5:9 -o "$T/o10.png" "$T/img.h5"
check_error "empty stdin" 1 "<stdin>: (empty|not an HDF5)" "$T/o11.png" sh -c "$R grid -o '$T/o11.png' < /dev/null"
check_error "an option of another command" 2 "numbers does not apply to .grid." "$T/o12.png" $R grid --numbers -o "$T/o12.png" "$T/img.h5"
check_error "--each folder missing" 1 "not a folder" "" $R grid --each "$T/nodir" "$T/img.h5"

# --- help --------------------------------------------------------------------
for c in grid filters scatter heatmap bars; do
    check "$c --help" $R $c --help
    if grep -q "^Usage: cnn-render $c" "$T/.out" && grep -q 'Exit status' "$T/.out"; then pass "$c --help describes it"
    else fail "$c --help describes it" "$(head -3 "$T/.out")"; fi
done
check "cnn-render --help" $R --help
if grep -q 'heatmap' "$T/.out"; then pass "--help lists the commands"; else fail "--help lists the commands"; fi
