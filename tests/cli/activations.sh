#!/bin/sh
# cnn-render activations: the Deep Visualization Toolbox view. Tiles equal
# the stored activations after the documented normalisation (pixel checks
# on a small known layer), the layout, outlines, one PNG per image, the unit
# panel's inputs, and bad input (no partial outputs).
. "$(dirname "$0")/../lib.sh"

R=cnn-render
if [ ! -x "$BIN/cnn-render" ]; then fail "cnn-render is built" "no $BIN/cnn-render"; exit 1; fi

cat >"$T/fx.py" <<'PY'
import h5py, numpy as np, sys
d = sys.argv[1]
S = h5py.string_dtype()
rng = np.random.default_rng(5)
def root(f, kind):
    f.attrs['kind'] = kind; f.attrs['history'] = 'fixture'
act = rng.normal(0, 1, (2, 5, 4, 6)).astype(np.float32)
act[1, 3, 2, 4] = 9.0                      # image 1: channel 3 is the strongest
act[0, 1] = 0.25                           # a constant map (tile range [lo, lo+1])
img = rng.uniform(0, 1, (2, 3, 16, 16)).astype(np.float32)
ids = np.array([7, 8], np.int64)
with h5py.File(d + '/act.h5', 'w') as f:
    root(f, 'activations')
    f['act/conv'] = act
    f['act/fc'] = rng.normal(0, 1, (2, 10)).astype(np.float32)
    f['act/gap'] = rng.normal(0, 1, (2, 10, 1, 1)).astype(np.float32)
    f['ids'] = ids
    f['pred'] = np.array([2, 0], np.int32)
    f['topk_idx'] = np.array([[2, 0], [0, 1]], np.int32)
    f['topk_prob'] = np.array([[0.75, 0.2], [0.5, 0.4]], np.float32)
    f.create_dataset('classes', data=['cat', 'dog', 'owl'], dtype=S)
with h5py.File(d + '/img.h5', 'w') as f:
    root(f, 'images'); f['images'] = img; f['ids'] = ids
with h5py.File(d + '/img-badids.h5', 'w') as f:
    root(f, 'images'); f['images'] = img; f['ids'] = np.array([7, 9], np.int64)
with h5py.File(d + '/sal.h5', 'w') as f:
    root(f, 'maps'); f.attrs['method'] = 'guided'
    f['attr'] = rng.normal(0, 1, (2, 3, 16, 16)).astype(np.float32)
    f['maps'] = np.zeros((2, 16, 16), np.float32); f['ids'] = ids
    f['target'] = np.array([2, 2], np.int32)
with h5py.File(d + '/sal-other.h5', 'w') as f:
    root(f, 'maps'); f['attr'] = np.zeros((2, 3, 16, 16), np.float32)
    f['ids'] = ids; f['target'] = np.array([2, 4], np.int32)
with h5py.File(d + '/patches.h5', 'w') as f:
    root(f, 'images'); f.attrs['layer'] = 'conv'
    p = np.zeros((10, 3, 8, 8), np.float32); p[:5] = 1.0; p[5:] = 0.0
    f['images'] = p
    f['channel'] = np.array([0] * 5 + [2] * 5, np.int32)
    f['rank'] = np.array(list(range(5)) * 2, np.int32)
np.save(d + '/act.npy', act); np.save(d + '/img.npy', img)
PY
$PY "$T/fx.py" "$T" || { fail "fixtures"; exit 1; }

# Pixel checks: python reads the PNG and recomputes every tile.
cat >"$T/px.py" <<'PY'
import numpy as np, sys
from PIL import Image
d, png, row, norm = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
scale, cols, gap = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
act = np.load(d + '/act.npy')[row].astype(np.float64)
img = np.load(d + '/img.npy')[row]
P = np.asarray(Image.open(png).convert('RGB')).astype(int)
M, TITLE, GAP = 8, 24, 12                  # actview.h's layout constants
top = M + TITLE
ih, iw = img.shape[1:]
want = np.rint(img.transpose(1, 2, 0) * 255).astype(int)
got = P[top:top + ih, M:M + iw]
assert np.abs(got - want).max() <= 1, 'input image differs by %d' % np.abs(got - want).max()
x0 = M + iw + GAP
C, H, W = act.shape
for k in range(C):
    if norm == 'global': lo, hi = act.min(), act.max()
    elif norm == 'tile': lo, hi = act[k].min(), act[k].max()
    else: lo, hi = [float(v) for v in norm.split(',')]
    if not hi > lo: hi = lo + 1
    t = np.clip((act[k] - lo) / (hi - lo), 0, 1)
    exp = np.floor(t * 255 + 0.5).astype(int)
    exp = np.kron(exp, np.ones((scale, scale), int))
    x = x0 + (k % cols) * (W * scale + gap); y = top + (k // cols) * (H * scale + gap)
    tile = P[y:y + H * scale, x:x + W * scale]
    for c in range(3):
        dmax = np.abs(tile[..., c] - exp).max()
        assert dmax <= 1, 'tile %d channel %d differs by %d' % (k, c, dmax)
print('ok')
PY

check "activations: one image, global normalisation" \
    $R activations -l conv --images "$T/img.h5" --range 0:1 --scale 3 --cols 2 "$T/act.h5" -o "$T/g.png"
check_py "tiles = stored values, global [min, max] of the image's maps" "$T/px.py" "$T" "$T/g.png" 0 global 3 2 2
check "activations: per-tile normalisation" \
    $R activations -l conv --images "$T/img.h5" --range 1:2 --normalize tile --scale 2 --cols 3 --pad 3 "$T/act.h5" -o "$T/t.png"
check_py "tiles = stored values, each map's own [min, max] (and a constant map)" "$T/px.py" "$T" "$T/t.png" 1 tile 2 3 3
check "activations: fixed --vmin/--vmax" \
    $R activations -l conv --images "$T/img.h5" --range 1:2 --vmin -1 --vmax 2 --scale 4 --cols 5 "$T/act.h5" -o "$T/f.png"
check_py "tiles = stored values over the fixed range, clipped" "$T/px.py" "$T" "$T/f.png" 1 -1,2 4 5 2
check "activations: --normalize none" \
    $R activations -l conv --images "$T/img.h5" --range 0:1 --normalize none --scale 2 --cols 2 "$T/act.h5" -o "$T/n.png"
check_py "tiles = stored values over [0, 1]" "$T/px.py" "$T" "$T/n.png" 0 0,1 2 2 2

# The strongest map (channel 3 of image 1) outlined in red around its tile.
check "activations --highlight" \
    $R activations -l conv --images "$T/img.h5" --range 1:2 --highlight --scale 2 --cols 5 "$T/act.h5" -o "$T/h.png"
check_py "the strongest map is outlined in red, no other" -c "
from PIL import Image
import numpy as np
P = np.asarray(Image.open('$T/h.png').convert('RGB')).astype(int)
x0, top, tw, th, g = 8 + 16 + 12, 32, 12, 8, 2
red = lambda p: p[0] > 200 and p[1] < 60 and p[2] < 60
for k in range(5):
    x = x0 + k * (tw + g)
    assert red(P[top - 1, x + 3]) == (k == 3), k
    assert red(P[top + th, x + 3]) == (k == 3), k
"
check_py "the grid's tiles are still exact with the outline" "$T/px.py" "$T" "$T/h.png" 1 global 2 5 2

# One PNG per image: a printf pattern taking the id, or --each DIR.
mkdir -p "$T/fr" "$T/each"
check "-o PATTERN writes one PNG per image" $R activations -l conv --images "$T/img.h5" "$T/act.h5" -o "$T/fr/v-%03d.png"
if [ -f "$T/fr/v-007.png" ] && [ -f "$T/fr/v-008.png" ] && [ "$(ls "$T/fr" | wc -l)" -eq 2 ]; then
    pass "pattern files are named by id (v-007.png, v-008.png)"
else fail "pattern files are named by id" "$(ls "$T/fr")"; fi
check_py "each pattern file is its own image's view (automatic scale 16, 3 columns)" \
    "$T/px.py" "$T" "$T/fr/v-008.png" 1 global 16 3 2
check "--each DIR" $R activations -l conv "$T/act.h5" --each "$T/each"
if [ -f "$T/each/000007.png" ] && [ -f "$T/each/000008.png" ]; then pass "--each names files by id"
else fail "--each names files by id" "$(ls "$T/each")"; fi
check "from standard input to standard output" sh -c "$BIN/cnn-render activations -l conv --range 0:1 - <'$T/act.h5' >'$T/stdout.png'"
if [ "$(head -c 4 "$T/stdout.png" | tail -c 3)" = "PNG" ]; then pass "standard output is a PNG"; else fail "standard output is a PNG"; fi

# The unit panel: projection and patches of the unit under the grid.
check "--unit with --projection and --patches" \
    $R activations -l conv --images "$T/img.h5" --unit 2 --projection "$T/sal.h5" --patches "$T/patches.h5" \
    --range 0:1 --scale 2 --cols 5 "$T/act.h5" -o "$T/u.png"
check_py "unit panel: outline, map over the image, projection, the unit's own patches" -c "
from PIL import Image
import numpy as np
P = np.asarray(Image.open('$T/u.png').convert('RGB')).astype(int)
x0, top, tw, th, g = 8 + 16 + 12, 32, 12, 8, 2
x = x0 + 2 * (tw + g)
p = P[top - 1, x + 3]; assert p[2] > 200 and p[0] < 80, p      # blue outline on unit 2
y = top + 16 + 18 + 12 + 20                                     # the panel's squares
sq = lambda i: P[y:y + 224, 8 + i * 236:8 + i * 236 + 224]
assert sq(0).std() > 5                                          # map over the image
assert sq(1).std() > 5                                          # the projection
# patches of channel 2 are black (channel 0's are white): the 3x3 cells.
cells = sq(2)[10:60, 10:60]
assert cells.mean() < 30, cells.mean()
"
check_py "the grid above the panel is still exact" "$T/px.py" "$T" "$T/u.png" 0 global 2 5 2

# Bad input: one line, exit status, no output file.
check_error "a layer without spatial maps (N x D)" 1 "no spatial maps" "$T/bad1.png" \
    $R activations -l fc "$T/act.h5" --range 0:1 -o "$T/bad1.png"
check_error "a layer of 1x1 maps" 1 "layer 'gap' has no spatial maps" "$T/bad2.png" \
    $R activations -l gap "$T/act.h5" --range 0:1 -o "$T/bad2.png"
check_error "an unknown layer lists the layers" 1 "no layer 'conv9' \\(layers: conv fc gap" "$T/bad3.png" \
    $R activations -l conv9 "$T/act.h5" --range 0:1 -o "$T/bad3.png"
check_error "no -l" 2 "needs -l LAYER" "$T/bad4.png" $R activations "$T/act.h5" -o "$T/bad4.png"
check_error "several images to one plain file" 2 "2 images: give -o a pattern" "$T/bad5.png" \
    $R activations -l conv "$T/act.h5" -o "$T/bad5.png"
check_error "a bad pattern" 2 "one %d" "$T/bad6" $R activations -l conv "$T/act.h5" -o "$T/bad6-%s.png"
mkdir -p "$T/fr2" "$T/fr3"   # -o's folder must exist (checked before any work)
check_error "images of other ids" 1 "not the same images" "$T/fr2/" \
    $R activations -l conv --images "$T/img-badids.h5" "$T/act.h5" -o "$T/fr2/%d.png"
check_error "--unit beyond the channels" 1 "unit 5 but layer 'conv' has 5 channels" "$T/bad7.png" \
    $R activations -l conv --unit 5 --range 0:1 "$T/act.h5" -o "$T/bad7.png"
check_error "a projection of another unit" 1 "explains channel 4, not --unit 2" "$T/fr3/" \
    $R activations -l conv --unit 2 --projection "$T/sal-other.h5" "$T/act.h5" -o "$T/fr3/%d.png"
check_error "no patches of the unit" 1 "no patches of channel 3" "$T/bad8.png" \
    $R activations -l conv --unit 3 --patches "$T/patches.h5" --range 0:1 "$T/act.h5" -o "$T/bad8.png"
check_error "--projection without --unit" 2 "need --unit" "$T/bad9.png" \
    $R activations -l conv --projection "$T/sal.h5" --range 0:1 "$T/act.h5" -o "$T/bad9.png"
check_error "an option of another command" 2 "does not apply to 'activations'" "" \
    $R activations -l conv --numbers "$T/act.h5"
check_error "not an activations file" 1 "img.h5" "$T/bad10.png" \
    $R activations -l conv "$T/img.h5" -o "$T/bad10.png"
