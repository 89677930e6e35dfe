#!/bin/sh
# cnn-render grid --titles (a title above each column) and --row-label F (a
# label left of each row from the row's first tile's data: /unit, /labels,
# /paths...): the layout they add, measured in the pictures' pixels, and
# their usage errors.
. "$(dirname "$0")/../lib.sh"

R=cnn-render
if [ ! -x "$BIN/cnn-render" ]; then fail "cnn-render is built" "no $BIN/cnn-render"; exit 1; fi
cat >"$T/fx.py" <<'PY'
import h5py, numpy as np, sys
d = sys.argv[1]
img = np.full((4, 1, 10, 10), 0.5, np.float32)   # mid-gray tiles
for name, units in (('short', [5, 5, 7, 7]), ('long', [5, 5, 123456, 123456])):
    with h5py.File('%s/%s.h5' % (d, name), 'w') as f:
        f.attrs['kind'] = 'images'
        f['images'] = img
        f['unit'] = np.array(units, np.int64)
with h5py.File(d + '/nounit.h5', 'w') as f:
    f.attrs['kind'] = 'images'
    f['images'] = img
PY
$PY "$T/fx.py" "$T" || { fail "fixtures" "fx.py failed"; exit 1; }
G="$R grid -q --cols 2 --scale 4 --pad 4 --caption none"
check "plain grid" $G -o "$T/plain.png" "$T/short.h5"
check "--row-label unit" $G --row-label unit -o "$T/short_rl.png" "$T/short.h5"
check "--row-label unit, a longer unit" $G --row-label unit -o "$T/long_rl.png" "$T/long.h5"
check "--row-label unit without /unit" $G --row-label unit -o "$T/nounit_rl.png" "$T/nounit.h5"
check "--titles" $G --titles 'A,B' -o "$T/titles.png" "$T/short.h5"
check_py "row labels: a margin as wide as the data's text, with ink; the tiles shifted, unchanged" -c "
import numpy as np
from PIL import Image
ld = lambda n: np.asarray(Image.open('$T/%s.png' % n).convert('L')).astype(int)
p, s, l, n = ld('plain'), ld('short_rl'), ld('long_rl'), ld('nounit_rl')
assert p.shape == (4 + 2 * 44, 4 + 2 * 44), p.shape
assert s.shape[0] == p.shape[0] and s.shape[1] > p.shape[1] + 30, (s.shape, p.shape)
assert l.shape[1] > s.shape[1] + 20, (l.shape, s.shape)   # 'unit 123456' is wider than 'unit 7'
m = s.shape[1] - p.shape[1]
assert (s[:, :m] < 100).sum() > 30                         # the labels' ink
assert (s[:, m:] == p).all()                               # the tiles as before
assert (s[4:44, :m] < 100).sum() > 10 and (s[48:88, :m] < 100).sum() > 10   # a label per row
assert (n == p).all()                                      # no /unit: no labels"
check_py "titles: a 20-pixel band with ink over each column; the tiles shifted, unchanged" -c "
import numpy as np
from PIL import Image
p = np.asarray(Image.open('$T/plain.png').convert('L')).astype(int)
t = np.asarray(Image.open('$T/titles.png').convert('L')).astype(int)
assert t.shape == (p.shape[0] + 20, p.shape[1]), (t.shape, p.shape)
assert (t[20:] == p).all()
assert (t[:20, 4:44] < 100).sum() > 5 and (t[:20, 48:88] < 100).sum() > 5"
check_error "--titles: as many as columns" 2 "titles: 3 titles for 2 columns" "$T/e1.png" \
    $G --titles A,B,C -o "$T/e1.png" "$T/short.h5"
check_error "--row-label: an unknown field" 2 "row-label: unknown value 'colour'" "$T/e2.png" \
    $G --row-label colour -o "$T/e2.png" "$T/short.h5"
mkdir -p "$T/each"
check_error "--titles with --each: usage error" 2 "not --each" "" \
    $G --titles A,B --each "$T/each" "$T/short.h5"
check_error "--row-label on a heatmap: usage error" 2 "row-label" "$T/e3.png" \
    $R heatmap --row-label unit -o "$T/e3.png" "$T/short.h5"
exit 0
