#!/bin/sh
# The natural photos of data/Makefile (issue 8), when `make data` has run:
# natural224.h5 holds every one of data/fetched/natural/ (at least 100),
# RGB 224x224 in [0,1], none of them blank, each file at least 100 pixels a
# side and named by its origin.
. "$(dirname "$0")/../lib.sh"
D=$DATA/fetched
if [ -f "$D/natural224.h5" ] && [ -f "$D/natural/.stamp" ]; then
    check_py "natural224.h5: every natural photo, >= 100, 3x224x224 in [0,1]" -c "
import h5py, os, numpy as np
names = sorted(p for p in os.listdir('$D/natural') if not p.startswith('.'))
f = h5py.File('$D/natural224.h5', 'r')
x = f['images']
assert len(names) >= 100, len(names)
assert x.shape == (len(names), 3, 224, 224), x.shape
paths = [os.path.basename(p.decode() if isinstance(p, bytes) else p) for p in f['paths'][:]]
assert sorted(paths) == names, set(paths) ^ set(names)
for i in range(0, len(names), 50):
    a = x[i:i + 50]
    assert a.min() >= 0 and a.max() <= 1, (a.min(), a.max())
    s = a.reshape(len(a), -1).std(axis=1)
    assert (s > 0.02).all(), [paths[i + j] for j in np.flatnonzero(s <= 0.02)]"
    check_py "natural photos: >= 100 pixels a side, origin_ names" -c "
import os
from PIL import Image
for p in sorted(os.listdir('$D/natural')):
    if p.startswith('.'): continue
    assert '_' in p, p
    w, h = Image.open(os.path.join('$D/natural', p)).size
    assert min(w, h) >= 100, (p, w, h)"
else
    skip "natural224.h5" "run make data"; skip "natural photos" "run make data"
fi
