#!/bin/sh
# cnn-join --stack: maps of different methods over the same images in one
# file. Datasets every file has as rows (/maps, /ids, /labels, /target) are
# stacked file after file; those all files share unchanged (/classes) are
# kept once; each file's own datasets and root attributes go under
# /METHOD; /methods names the files in order and /method gives each row's.
. "$(dirname "$0")/../lib.sh"
H=$TOP/tests/cli
$PY "$H/model_fixture.py" "$T/m.h5" || exit 1
$PY "$H/random_images.py" "$T/im.h5" 5 3 12 12 4 || exit 1
S="-m $T/m.h5 -t class=1 --range 0:3"
cnn-saliency -q $S -M gradient -r sum "$T/im.h5" -o "$T/g.h5"
cnn-saliency -q $S -M gradcam -l conv1 "$T/im.h5" -o "$T/c.h5"
cnn-saliency -q $S -M integrated-gradients --steps 4 -r sum "$T/im.h5" -o "$T/ig.h5"
cnn-occlude -q $S -w 4 --stride 2 --per-pixel "$T/im.h5" -o "$T/oc.h5"
check "stack gradient, Grad-CAM, integrated gradients and occlusion" \
    cnn-join --stack -o "$T/st.h5" "$T/g.h5" "$T/c.h5" "$T/ig.h5" "$T/oc.h5"
check_py "stacked layout: shared rows stacked, own datasets under the method's name" -c "
import h5py, numpy as np
names = ['gradient', 'gradcam', 'integrated-gradients', 'occlusion']
src = [h5py.File('$T/%s.h5' % n) for n in ('g', 'c', 'ig', 'oc')]
s = h5py.File('$T/st.h5')
assert [m.decode() if isinstance(m, bytes) else m for m in s['methods'][()]] == names, s['methods'][()]
assert np.array_equal(s['method'][()], np.repeat(np.arange(4), 3))
for d in ('maps', 'ids', 'labels', 'target'):
    assert np.array_equal(s[d][()], np.concatenate([f[d][()] for f in src])), d
assert np.array_equal(s['classes'][()], src[0]['classes'][()])
own = {'gradcam': ['cam', 'attr', 'scores'], 'integrated-gradients': ['baseline_scores', 'completeness', 'attr'],
       'occlusion': ['baseline', 'images', 'window_maps'], 'gradient': ['attr', 'scores']}
for i, n in enumerate(names):
    for d in own[n]:
        assert np.array_equal(s[n][d][()], src[i][d][()]), (n, d)
    assert s[n].attrs['target'] == 'class=1'
assert s['gradcam'].attrs['layer'] == 'conv1' and s['occlusion'].attrs['window'].tolist() == [4, 4]
assert s.attrs['kind'] == 'maps' and s.attrs['target'] == 'class=1' and 'method' not in s.attrs
for n in ('cam', 'baseline_scores', 'attr', 'scores'):
    assert n not in s, n
h = s.attrs['history']
assert '-M gradcam' in h and 'cnn-occlude' in h, h"
check "cnn-render heatmap draws the stacked grid (a row per method)" \
    cnn-render heatmap -q --cols 3 -o "$T/st.png" "$T/st.h5"
check "a second run of one method gets its own name" \
    cnn-join --stack -o "$T/st2.h5" "$T/g.h5" "$T/g.h5"
check_py "names made unique" -c "
import h5py
s = h5py.File('$T/st2.h5')
assert [m.decode() if isinstance(m, bytes) else m for m in s['methods'][()]] == ['gradient', 'gradient-2']"
cnn-occlude -q $S -w 4 --stride 2 "$T/im.h5" -o "$T/ow.h5"
check_error "maps of different sizes are refused" 1 "cnn-join: .*/maps of one size.*--per-pixel" \
    "$T/x.h5" cnn-join --stack -o "$T/x.h5" "$T/g.h5" "$T/ow.h5"
