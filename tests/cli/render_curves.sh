#!/bin/sh
# cnn-render curves on cnn-evaluate's output (deletion, insertion, sanity):
# the PNG's size and ink, and --list's labels, AUCs and per-layer means
# against the evaluation files read with h5py; bad input.
. "$(dirname "$0")/../lib.sh"
R=$TOP/tests/ref/occlude_ref.py

if ! $PY -c 'import torch, h5py' 2>/dev/null; then
    skip "cnn-render curves" "python3-torch or h5py missing"
    exit 0
fi
$PY "$R" models "$T" || exit 1
$PY "$R" images "$T/lenet.h5" "$T/li.h5" 3 || exit 1
# Rows named by /paths (the images' file names) in the deletion file.
$PY -c "
import h5py
with h5py.File('$T/li.h5', 'r+') as f:
    f.create_dataset('paths', data=['dir/a%d.png' % i for i in range(3)], dtype=h5py.string_dtype())" || exit 1
cnn-saliency -q -m "$T/lenet.h5" -t label -o "$T/ls.h5" "$T/li.h5" || exit 1
cnn-evaluate -q -m "$T/lenet.h5" --maps "$T/ls.h5" --metric deletion --steps 8 -o "$T/del.h5" "$T/li.h5" || exit 1
cnn-evaluate -q -m "$T/lenet.h5" --maps "$T/ls.h5" --metric insertion --steps 8 -o "$T/ins.h5" "$T/li.h5" || exit 1
cnn-evaluate -q -m "$T/lenet.h5" --maps "$T/ls.h5" --metric sanity -o "$T/san.h5" "$T/li.h5" || exit 1

check "curves --help" cnn-render curves --help
check "deletion and insertion side by side" cnn-render curves -q --size 500x400 \
    -o "$T/di.png" "$T/del.h5" "$T/ins.h5"
check "sanity" cnn-render curves -q -o "$T/san.png" "$T/san.h5"
check_py "PNG sizes (a panel per file) and ink: coloured lines, not blank" -c "
from PIL import Image
import numpy as np
a = np.asarray(Image.open('$T/di.png').convert('RGB')).astype(int)
assert a.shape == (400, 1000, 3), a.shape
s = np.asarray(Image.open('$T/san.png').convert('RGB')).astype(int)
assert s.shape == (560, 760, 3), s.shape
for im in (a, s):
    col = (im.max(2) - im.min(2)) > 60        # coloured (not gray) pixels: the lines
    assert col.sum() > 300, col.sum()
    assert (im.sum(2) < 100).sum() > 500      # black: axes and text
# both panels have lines
assert ((a[:, :500].max(2) - a[:, :500].min(2)) > 60).sum() > 200
assert ((a[:, 500:].max(2) - a[:, 500:].min(2)) > 60).sum() > 200"

cnn-render curves --list "$T/del.h5" "$T/ins.h5" >"$T/list" 2>"$T/.err"
check_py "--list: one line per row, named by /paths, with the file's /auc" -c "
import h5py
rows = [l.rstrip('\n').split('\t') for l in open('$T/list')]
want = []
for fn, m in (('del', 'deletion'), ('ins', 'insertion')):
    f = h5py.File('$T/%s.h5' % fn)
    meth = f.attrs.get('maps_method')
    meth = meth.decode() if isinstance(meth, bytes) else meth
    t = m + (' (%s)' % meth if meth else '')
    want += [(t, 'a%d.png' % i, float(v)) for i, v in enumerate(f['auc'][()])]
assert len(rows) == len(want) == 6, rows
for r, w in zip(rows, want):
    assert r[0] == w[0] and r[1] == w[1], (r, w)
    assert abs(float(r[2]) - w[2]) <= 1e-5 * max(1, abs(w[2])), (r, w)"

cnn-render curves --list --range 1:3 "$T/san.h5" >"$T/slist" 2>"$T/.err"
check_py "--list of sanity: titled by the method of its maps; the mean similarity of rows 1:3 per layer, layers top first" -c "
import h5py, numpy as np
f = h5py.File('$T/san.h5')
L = [s.decode() if isinstance(s, bytes) else s for s in f['layers'][()]]
rows = [l.rstrip('\n').split('\t') for l in open('$T/slist')]
assert [r[1] for r in rows] == ['spearman', 'ssim', 'hog'], rows
meth = f.attrs['maps_method']
meth = meth.decode() if isinstance(meth, bytes) else meth
assert all(r[0] == meth + ': cascading randomisation' for r in rows), (rows, meth)
for r in rows:
    m = f[r[1]][1:3].astype(np.float64).mean(0)
    assert [c.split('=')[0] for c in r[2:]] == L, r
    got = [float(c.split('=')[1]) for c in r[2:]]
    assert np.allclose(got, m, rtol=1e-5, atol=1e-6), (got, m)"

check_error "not an evaluation file" 1 "cnn-render: .*li.h5.*evaluation" "$T/b1.png" \
    cnn-render curves -o "$T/b1.png" "$T/li.h5"
cnn-evaluate -q -m "$T/lenet.h5" --maps "$T/ls.h5" --metric infidelity --samples 2 -o "$T/inf.h5" "$T/li.h5"
check_error "an evaluation without curves" 1 "metric 'infidelity' has no curves" "$T/b2.png" \
    cnn-render curves -o "$T/b2.png" "$T/inf.h5"
check_error "--list with -o" 2 "list prints to standard output" "$T/b3.png" \
    cnn-render curves --list -o "$T/b3.png" "$T/del.h5"
