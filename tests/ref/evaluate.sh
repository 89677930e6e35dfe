#!/bin/sh
# cnn-evaluate against the metrics written again in NumPy + PyTorch float64
# (tests/ref/evaluate_ref.py) on occlude_ref.py's two models (a LeNet-like
# chain; a BGR RGB graph with BatchNorm, Add, Concat and a final Softmax):
# deletion and insertion curves and AUCs on occlusion and saliency maps
# (every fill, steps that do not divide the pixels, batches smaller than a
# curve, -t overrides, --range), infidelity and max-sensitivity with shared
# noise files; sanity's cascade and its data-randomisation variant on
# models cnn-train trained on true and --shuffle-labels labels (the
# permutation checked against its documented generator); bad input.
. "$(dirname "$0")/../lib.sh"
R=$TOP/tests/ref/occlude_ref.py
E=$TOP/tests/ref/evaluate_ref.py

if ! $PY -c 'import torch, h5py' 2>/dev/null; then
    skip "cnn-evaluate vs PyTorch" "python3-torch or h5py missing"
    exit 0
fi
$PY "$R" models "$T" || exit 1
$PY "$R" images "$T/lenet.h5" "$T/li.h5" 5 || exit 1
$PY "$R" images "$T/resnet.h5" "$T/ri.h5" 3 || exit 1
$PY "$E" noise "$T/zn1.h5" 8 1 16 16 normal 3 || exit 1
$PY "$E" noise "$T/zn3.h5" 6 3 17 18 normal 5 || exit 1
$PY "$E" noise "$T/zu1.h5" 6 1 16 16 uniform 4 || exit 1
$PY "$E" noise "$T/zu3.h5" 5 3 17 18 uniform 6 || exit 1

check "cnn-evaluate --help" cnn-evaluate --help
# The maps evaluated: occlusion per pixel and saliency, on both models.
cnn-occlude -q -m "$T/lenet.h5" -t label -w 4 --stride 2 --per-pixel -o "$T/lo.h5" "$T/li.h5"
cnn-occlude -q -m "$T/lenet.h5" -t label -w 4 --stride 2 -o "$T/lw.h5" "$T/li.h5"
cnn-saliency -q -m "$T/lenet.h5" -t pred -o "$T/ls.h5" "$T/li.h5"
cnn-saliency -q -m "$T/lenet.h5" -t label -M input-x-gradient -o "$T/lx.h5" "$T/li.h5"
cnn-occlude -q -m "$T/resnet.h5" -t pred -w 5 --stride 3 --per-pixel --fill mean -o "$T/ro.h5" "$T/ri.h5"
cnn-saliency -q -m "$T/resnet.h5" -t label -M guided --measure prob -o "$T/rs.h5" "$T/ri.h5"
cnn-saliency -q -m "$T/resnet.h5" -t label -o "$T/rg.h5" "$T/ri.h5"
cnn-saliency -q -m "$T/resnet.h5" -t label --range 1:3 -o "$T/rr.h5" "$T/ri.h5"

n=0
: >"$T/list"; : >"$T/names"
# model images maps noise tol "options": run here, compared in one Python.
# A noise file other than - is given to both sides (--noise-file).
case_ref() {
    n=$((n + 1))
    nf=-; [ "$4" = - ] || nf=$T/$4
    check "$1 $3: $6" cnn-evaluate -q -m "$T/$1.h5" --maps "$T/$3.h5" $6 \
        $([ "$4" = - ] || echo --noise-file "$nf") -o "$T/e$n.h5" "$T/$2.h5"
    echo "$T/$1.h5 $T/$2.h5 $T/$3.h5 $T/e$n.h5 $nf $5" >>"$T/list"
    echo "$1 $3: $6 = NumPy/PyTorch" >>"$T/names"
}
case_ref lenet li lo - 1e-4 "--metric deletion --steps 16"
case_ref lenet li lo - 1e-4 "--metric insertion --steps 10 --blur-sigma 2"
case_ref lenet li ls - 1e-4 "--metric deletion --steps 7 --fill gray --batch 3"
case_ref lenet li ls - 1e-4 "--metric deletion --steps 256 --fill blur --blur-sigma 1.5"
case_ref lenet li lx - 1e-4 "--metric deletion --steps 20 --fill 0.3 -t class=2"
case_ref lenet li lx - 1e-4 "--metric insertion --steps 33 -t pred --batch 8"
case_ref resnet ri ro - 1e-4 "--metric deletion --steps 25"
case_ref resnet ri rs - 1e-4 "--metric insertion --steps 9 --blur-sigma 3 --batch 4"
case_ref resnet ri rr - 1e-4 "--metric deletion --steps 12 --fill blur --range 1:3"
for k in deletion insertion; do
    cnn-evaluate -q -m "$T/resnet.h5" --maps "$T/ro.h5" --metric $k --steps 6 \
        -o "$T/c0$k.h5" "$T/ri.h5"
    cnn-evaluate -q -m "$T/resnet.h5" --maps "$T/ro.h5" --metric $k --steps 6 -t pred \
        --batch 2 -o "$T/c1$k.h5" "$T/ri.h5"
    check_py "$k: -t pred (its point at the image from the pick) = the maps' pred (run)" -c "
import h5py, numpy as np
a = h5py.File('$T/c0$k.h5')['curve'][()]
b = h5py.File('$T/c1$k.h5')['curve'][()]
assert a.shape == b.shape == (3, 7), (a.shape, b.shape)
assert np.abs(a - b).max() < 1e-6, np.abs(a - b).max()"
done
case_ref lenet li ls zn1.h5 1e-3 "--metric infidelity --samples 8 --noise 0.1"
case_ref lenet li lo zn1.h5 1e-3 "--metric infidelity --samples 5 --noise 0.05 --batch 2"
case_ref resnet ri rs zn3.h5 1e-3 "--metric infidelity --samples 6 --noise 0.1"
case_ref resnet ri ro zn3.h5 1e-3 "--metric infidelity --samples 6 --noise 0.1"
case_ref lenet li ls zu1.h5 1e-3 "--metric sensitivity --samples 6"
case_ref lenet li lx zu1.h5 1e-3 "--metric sensitivity --samples 4 --radius 0.05 --batch 3"
case_ref resnet ri rg zu3.h5 1e-3 "--metric sensitivity --samples 5"
case_ref lenet li ls - 1e-5 "--metric sanity"
case_ref lenet li lx - 1e-5 "--metric sanity --seed 3 --batch 2"
case_ref resnet ri rs - 1e-5 "--metric sanity"

# Data randomisation: the same small net trained on the true labels and on
# shuffled ones; --shuffle-labels must equal training on the labels
# permuted by the documented generator (bit for bit, one thread).
$PY "$R" images "$T/lenet.h5" "$T/lt.h5" 40 || exit 1
$PY "$E" shuffle "$T/lt.h5" "$T/ltp.h5" 5 || exit 1
A='conv4k3p1,relu,maxpool2,conv6k3p1,relu,maxpool2,flatten,dense'
cnn-train -q -a "$A" -e 3 --seed 5 --threads 1 --batch 8 --mean 0.2 --std 0.5 -o "$T/true.h5" "$T/lt.h5"
check "cnn-train --shuffle-labels" cnn-train -q -a "$A" -e 3 --seed 5 --threads 1 --batch 8 \
    --mean 0.2 --std 0.5 --shuffle-labels -o "$T/shuf.h5" "$T/lt.h5"
cnn-train -q -a "$A" -e 3 --seed 5 --threads 1 --batch 8 --mean 0.2 --std 0.5 -o "$T/shufp.h5" "$T/ltp.h5"
check_py "--shuffle-labels = training on the labels permuted as documented" -c "
import h5py, numpy as np
a, b, c = h5py.File('$T/shuf.h5'), h5py.File('$T/shufp.h5'), h5py.File('$T/true.h5')
ya, yb = h5py.File('$T/lt.h5')['labels'][()], h5py.File('$T/ltp.h5')['labels'][()]
assert (ya != yb).sum() > 20 and (np.sort(ya) == np.sort(yb)).all()
ws = []
a['nodes'].visititems(lambda k, v: ws.append('nodes/' + k) if isinstance(v, h5py.Dataset) else None)
assert len(ws) == 6, ws
assert all(np.array_equal(a[k][()], b[k][()]) for k in ws)
assert not all(np.array_equal(a[k][()], c[k][()]) for k in ws)
assert 'shuffle-labels' in str(a.attrs.get('source', ''))"
cnn-saliency -q -m "$T/true.h5" -t label --range 0:6 -o "$T/ts.h5" "$T/lt.h5"
cnn-saliency -q -m "$T/true.h5" -t pred -M input-x-gradient --range 0:6 -o "$T/tx.h5" "$T/lt.h5"
case_ref true lt ts - 1e-5 "--metric sanity --range 0:6 --shuffled-model $T/shuf.h5"
case_ref true lt tx - 1e-5 "--metric sanity --range 0:6 --batch 4 --shuffled-model $T/shuf.h5"
# -t: the curve's point at the image itself comes from the class's pick.
case_ref resnet ri ro - 1e-4 "--metric deletion --steps 25 -t pred --batch 7"
case_ref resnet ri ro - 1e-4 "--metric insertion --steps 11 -t pred"

$PY "$E" batch "$T/list" "$T/results" >"$T/.pyout" 2>"$T/.err"
i=0
while IFS= read -r name; do
    i=$((i + 1))
    r=$(sed -n "${i}p" "$T/results" 2>/dev/null)
    if [ "$r" = ok ]; then pass "$name"; else fail "$name" "${r:-no result: $(tail -c 300 "$T/.err")}"; fi
done <"$T/names"

check_py "the output: kind, shapes, carried ids and labels, attributes" -c "
import h5py
f = h5py.File('$T/e1.h5'); a = f.attrs
assert a['kind'] == 'evaluation' and a['metric'] == 'deletion' and a['fill'] == 'zero'
assert f['curve'].shape == (5, 17) and f['auc'].shape == (5,) and f['target'].shape == (5,)
assert list(f['ids'][()]) == [100, 101, 102, 103, 104] and list(f['labels'][()]) == [0, 1, 2, 3, 4]
assert int(a['steps'][0]) == 16 and a['measure'] == 'prob' and len(f['classes']) == 10
g = h5py.File('$T/e10.h5'); assert g['infidelity'].shape == (5,) and g.attrs['measure'] == 'logit'"
$PY -c "
import h5py, shutil
shutil.copy('$T/li.h5', '$T/lp.h5')
with h5py.File('$T/lp.h5', 'r+') as f:
    f.create_dataset('paths', data=['p%d.png' % i for i in range(5)], dtype=h5py.string_dtype())" || exit 1
cnn-occlude -q -m "$T/lenet.h5" -t label -w 4 --stride 2 --per-pixel --range 1:4 -o "$T/lo14.h5" "$T/li.h5"
check "images with /paths, a range" cnn-evaluate -q -m "$T/lenet.h5" --maps "$T/lo14.h5" \
    --metric deletion --steps 4 --range 1:4 -o "$T/paths.h5" "$T/lp.h5"
check_py "/paths of the range are carried" -c "
import h5py; p = [s.decode() if isinstance(s, bytes) else s for s in h5py.File('$T/paths.h5')['paths'][()]]
assert p == ['p1.png', 'p2.png', 'p3.png'], p"
# Without a noise file the draws come from --seed: the same seed, the same scores.
check "infidelity with drawn noise" cnn-evaluate -q -m "$T/lenet.h5" --maps "$T/ls.h5" \
    --metric infidelity --seed 7 -o "$T/d1.h5" "$T/li.h5"
cnn-evaluate -q -m "$T/lenet.h5" --maps "$T/ls.h5" --metric infidelity --seed 7 --batch 3 \
    -o "$T/d2.h5" "$T/li.h5"
check_py "the same seed gives the same scores, whatever --batch" -c "
import h5py, numpy as np
assert np.array_equal(h5py.File('$T/d1.h5')['infidelity'][()], h5py.File('$T/d2.h5')['infidelity'][()])"

check_py "sanity: one map per re-initialised layer, top down" -c "
import h5py, numpy as np
f = h5py.File('$T/e17.h5'); g = h5py.File('$T/e19.h5')
assert [s.decode() if isinstance(s, bytes) else s for s in f['layers'][()]] == ['fc', 'conv2', 'conv1']
assert f['cascade'].shape == (5, 4, 16, 16) and f['spearman'].shape == (5, 3) and f.attrs['metric'] == 'sanity'
assert [s.decode() if isinstance(s, bytes) else s for s in g['layers'][()]][:2] == ['fc', 'c3b']"
cnn-evaluate -q -m "$T/lenet.h5" --maps "$T/lx.h5" --metric sanity --seed 3 -o "$T/sb.h5" "$T/li.h5"
check_py "sanity: the same network in every batch (--batch 2 = one batch)" -c "
import h5py, numpy as np
a, b = h5py.File('$T/e18.h5'), h5py.File('$T/sb.h5')
for d in ('cascade', 'spearman', 'ssim', 'hog'):
    assert np.allclose(a[d][()], b[d][()], rtol=1e-5, atol=1e-6), d"

check_py "data randomisation: one step, named shuffled-labels" -c "
import h5py
f = h5py.File('$T/e20.h5')
assert [s.decode() if isinstance(s, bytes) else s for s in f['layers'][()]] == ['shuffled-labels']
assert f['cascade'].shape == (6, 2, 16, 16) and f['ssim'].shape == (6, 1)
assert 'shuf.h5' in str(f.attrs['shuffled_model']) and 'init' not in f.attrs"

# Bad input: one line, non-zero exit, no output file.
check_error "a shuffled model of another architecture" 1 "not the same architecture" "$T/b17.h5" \
    cnn-evaluate -m "$T/lenet.h5" --maps "$T/ls.h5" --metric sanity --shuffled-model "$T/true.h5" \
    -o "$T/b17.h5" "$T/li.h5"
check_error "--shuffled-model goes with sanity only" 2 "shuffled-model does not go with --metric deletion" "$T/b18.h5" \
    cnn-evaluate -m "$T/lenet.h5" --maps "$T/lo.h5" --metric deletion --shuffled-model "$T/shuf.h5" \
    -o "$T/b18.h5" "$T/li.h5"
check_error "maps of other images" 1 "do not match the images" "$T/b1.h5" \
    cnn-evaluate -m "$T/resnet.h5" --maps "$T/rr.h5" --metric deletion --range 0:2 -o "$T/b1.h5" "$T/ri.h5"
$PY -c "
import h5py, shutil
shutil.copy('$T/li.h5', '$T/li2.h5')
with h5py.File('$T/li2.h5', 'r+') as f: f['images'][...] = f['images'][()] * 0.5" || exit 1
check_error "maps of other pixels with the same ids" 1 "map 0 was made from other pixels .*do not match the images" "$T/b14.h5" \
    cnn-evaluate -m "$T/lenet.h5" --maps "$T/lo.h5" --metric deletion -o "$T/b14.h5" "$T/li2.h5"
check_error "maps of fewer rows than the images" 1 "2 maps, but .* has 3 images in the range" "$T/b2.h5" \
    cnn-evaluate -m "$T/resnet.h5" --maps "$T/rr.h5" --metric deletion -o "$T/b2.h5" "$T/ri.h5"
check_error "--steps larger than the pixel count" 2 "steps 300 is more than the 256 pixels" "$T/b3.h5" \
    cnn-evaluate -m "$T/lenet.h5" --maps "$T/lo.h5" --metric deletion --steps 300 -o "$T/b3.h5" "$T/li.h5"
check_error "unknown metric" 2 "unknown metric 'fidelity'" "$T/b4.h5" \
    cnn-evaluate -m "$T/lenet.h5" --maps "$T/lo.h5" --metric fidelity -o "$T/b4.h5" "$T/li.h5"
check_error "window maps are not per pixel" 1 "maps are 7x7, not the images' 16x16 pixels" "$T/b5.h5" \
    cnn-evaluate -m "$T/lenet.h5" --maps "$T/lw.h5" --metric insertion -o "$T/b5.h5" "$T/li.h5"
check_error "no maps" 2 "no maps" "$T/b6.h5" \
    cnn-evaluate -m "$T/lenet.h5" --metric deletion -o "$T/b6.h5" "$T/li.h5"
check_error "sensitivity of occlusion maps" 1 "cnn-saliency's maps only" "$T/b7.h5" \
    cnn-evaluate -m "$T/lenet.h5" --maps "$T/lo.h5" --metric sensitivity -o "$T/b7.h5" "$T/li.h5"
check_error "maps file of another model's images" 1 "images are 3x17x18" "$T/b8.h5" \
    cnn-evaluate -m "$T/lenet.h5" --maps "$T/lo.h5" --metric deletion -o "$T/b8.h5" "$T/ri.h5"
check_error "noise file of another shape" 1 "/noise should be at least 8 x 1 x 16 x 16" "$T/b9.h5" \
    cnn-evaluate -m "$T/lenet.h5" --maps "$T/ls.h5" --metric infidelity --samples 8 \
    --noise-file "$T/zu1.h5" -o "$T/b9.h5" "$T/li.h5"
check_error "a unit target" 1 "scores a class" "$T/b10.h5" \
    cnn-evaluate -m "$T/lenet.h5" --maps "$T/ls.h5" --metric deletion -t unit=conv2:1 -o "$T/b10.h5" "$T/li.h5"
check_error "not a maps file" 1 "expected maps" "$T/b11.h5" \
    cnn-evaluate -m "$T/lenet.h5" --maps "$T/li.h5" --metric deletion -o "$T/b11.h5" "$T/li.h5"
check_error "sanity of occlusion maps" 1 "sanity recomputes the attribution" "$T/b13.h5" \
    cnn-evaluate -m "$T/lenet.h5" --maps "$T/lo.h5" --metric sanity -o "$T/b13.h5" "$T/li.h5"
check_error "an option of another metric is refused" 2 "radius does not go with --metric deletion" "$T/b15.h5" \
    cnn-evaluate -m "$T/lenet.h5" --maps "$T/lo.h5" --metric deletion --radius 0.1 -o "$T/b15.h5" "$T/li.h5"
check_error "--fill goes with deletion only" 2 "fill does not go with --metric insertion" "$T/b16.h5" \
    cnn-evaluate -m "$T/lenet.h5" --maps "$T/lo.h5" --metric insertion -f gray -o "$T/b16.h5" "$T/li.h5"
check_error "a missing maps file" 1 "nosuch.h5" "$T/b12.h5" \
    cnn-evaluate -m "$T/lenet.h5" --maps "$T/nosuch.h5" --metric deletion -o "$T/b12.h5" "$T/li.h5"
check_error "-o the maps file" 1 "lo.h5" "" \
    cnn-evaluate -m "$T/lenet.h5" --maps "$T/lo.h5" --metric deletion -o "$T/lo.h5" "$T/li.h5"
check_py "the maps file is unharmed" -c "
import h5py; assert h5py.File('$T/lo.h5').attrs['kind'] == 'maps'"

# Progress counts the perturbed copies (5 images x 17 steps), labelled with
# the metric, on a terminal only (script(1) gives a pseudo-terminal).
if command -v script >/dev/null 2>&1; then
    script -qec "cnn-evaluate -m '$T/lenet.h5' --maps '$T/lo.h5' --metric deletion --steps 16 -o '$T/pg.h5' '$T/li.h5'" \
        /dev/null </dev/null >"$T/pty" 2>&1
    if tr '\r' '\n' <"$T/pty" | grep -q 'deletion .* 85/85'; then pass "progress on a terminal: deletion, 5 x 17 copies"
    else fail "progress on a terminal: deletion, 5 x 17 copies" "$(tr '\r' '\n' <"$T/pty" | tail -c 300)"; fi
else
    skip "progress on a terminal" "no script(1)"
fi
cnn-evaluate -m "$T/lenet.h5" --maps "$T/lo.h5" --metric deletion --steps 16 -o "$T/pg2.h5" "$T/li.h5" 2>"$T/pgerr"
if [ ! -s "$T/pgerr" ]; then pass "no progress when stderr is not a terminal"
else fail "no progress when stderr is not a terminal" "$(head -c 200 "$T/pgerr")"; fi
