#!/bin/sh
# cnn-occlude against an independent PyTorch brute force (tests/ref/occlude_ref.py,
# Captum's Occlusion loop) on two models written with h5py: a LeNet-like
# chain (MaxPool with ceil_mode) and a graph with BatchNorm, a residual Add,
# a Concat, a dilated and a 1x1 Conv, Tanh, AvgPool, GlobalAvgPool and a
# final Softmax, RGB in BGR order. Every target kind, fill and output;
# windows at the borders and strides that do not divide the size; the
# incremental method against --exact-naive; --per-pixel; bad input.
. "$(dirname "$0")/../lib.sh"
R=$TOP/tests/ref/occlude_ref.py

$PY "$R" models "$T" || exit 1
$PY "$R" images "$T/lenet.h5" "$T/li.h5" 5 || exit 1
$PY "$R" images "$T/resnet.h5" "$T/ri.h5" 3 || exit 1

n=0
: >"$T/list"; : >"$T/names"
# model images "cnn-occlude options": queued against PyTorch; and the
# incremental method against --exact-naive (raw values, relative 1e-5).
# All comparisons run in one Python at the end (torch loads once).
case_ref() {
    n=$((n + 1))
    check "$1: $3" cnn-occlude -q -m "$T/$1.h5" $3 -o "$T/c$n.h5" "$T/$2.h5"
    echo "check $T/$1.h5 $T/$2.h5 $T/c$n.h5 1e-4" >>"$T/list"
    echo "$1: $3 = PyTorch" >>"$T/names"
}
case_naive() {
    n=$((n + 1))
    cnn-occlude -q -m "$T/$1.h5" $3 --output raw -o "$T/i$n.h5" "$T/$2.h5"
    cnn-occlude -q -m "$T/$1.h5" $3 --output raw --exact-naive -o "$T/n$n.h5" "$T/$2.h5"
    echo "same $T/i$n.h5 $T/n$n.h5 1e-5" >>"$T/list"
    echo "$1: $3 incremental = --exact-naive" >>"$T/names"
}

case_ref lenet li "-t class=3 -w 4 --stride 3"
case_ref lenet li "-t pred -w 5 --stride 2 --fill zero --output raw"
case_ref lenet li "-t label -w 16 --stride 1"
case_ref lenet li "-t class=8 -w 5x3 --stride 3x2 --output percent --padding none"
case_ref lenet li "-t class=1 -w 4 --stride 3 --batch 7"
# Stride past the window: the last row and column of positions start at
# the edge and occlude nothing (empty regions for the cone executor).
case_ref lenet li "-t class=3 -w 2 --stride 4"
case_ref resnet ri "-t label -w 5 --stride 3"
case_ref resnet ri "-t class=2 -w 6 --stride 4 --fill mean --measure prob --output percent"
case_ref resnet ri "-t class=c -w 4 --stride 2 --fill blur"
case_ref resnet ri "-t pred -w 4 --stride 3 --fill blur --blur-sigma 2.5 --output raw"
case_ref resnet ri "-t unit=c2:3 -w 3 --stride 2 --fill 0.25"
case_ref resnet ri "-t unit=cat:5:mean -w 5 --stride 2 --padding none"
case_ref resnet ri "-t unit=add:1@5,4 -w 3 --stride 2"
case_ref resnet ri "-t strongest=th -w 4 --stride 3"
case_ref resnet ri "-t strongest=c1:max -w 2 --stride 2 --per-pixel"
case_ref resnet ri "-t label -w 5 --stride 4 --per-pixel --padding none"
case_ref resnet ri "-t pred -w 3x7 --stride 5 --range 1:3"

case_naive lenet li "-t class=3 -w 4 --stride 1"
case_naive lenet li "-t unit=conv2:2:sum -w 6 --stride 4"
case_naive lenet li "-t label -w 3 --stride 5"
case_naive resnet ri "-t label -w 3 --stride 2 --fill blur"
case_naive resnet ri "-t strongest=cat -w 5 --stride 3"
case_naive resnet ri "-t unit=mp:0@3,2 -w 2 --stride 1 --batch 5"
# The region convolutions on the engine's packed GEMM (ops/pack.c, opt-in).
export CNN_CONV_PACK=1
case_ref lenet li "-t class=3 -w 4 --stride 3 --batch 7"
case_ref resnet ri "-t label -w 5 --stride 3"
case_naive resnet ri "-t strongest=cat -w 5 --stride 3"
unset CNN_CONV_PACK

$PY "$R" batch "$T/list" "$T/results" >"$T/.pyout" 2>"$T/.err"
i=0
while IFS= read -r name; do
    i=$((i + 1))
    r=$(sed -n "${i}p" "$T/results" 2>/dev/null)
    if [ "$r" = ok ]; then pass "$name"; else fail "$name" "${r:-no result: $(tail -c 300 "$T/.err")}"; fi
done <"$T/names"

# Output carries the rows' ids and labels, and what was measured.
check "attributes and carried datasets" cnn-occlude -q -m "$T/lenet.h5" -t class=3 -w 4 --stride 3 \
    --range 2:5 -o "$T/attr.h5" "$T/li.h5"
check_py "kind=maps, /ids, /labels, /baseline, attributes" -c "
import h5py, numpy as np
f = h5py.File('$T/attr.h5')
a = f.attrs
assert a['kind'] == 'maps' and a['target'] == 'class=3' and a['fill'] == 'gray'
assert list(a['window']) == [4, 4] and list(a['stride']) == [3, 3] and a['padding'] == 'clip'
assert a['measure'] == 'logit' and a['output'] == 'diff' and a['layer'] == 'fc'
assert f['maps'].shape == (3, 5, 5) and f['baseline'].shape == (3,)
assert list(f['ids'][()]) == [102, 103, 104] and list(f['labels'][()]) == [2, 3, 4]
assert f['images'].shape == (3, 1, 16, 16) and len(f['classes']) == 10
"
# Sizes are WxH: a window 5 wide and 3 high, moved 3 across and 2 down, on
# 16x16 images: ceil((16-3)/2)+1 = 8 rows of ceil((16-5)/3)+1 = 5 positions.
check "--window 5x3 --stride 3x2 (WxH)" cnn-occlude -q -m "$T/lenet.h5" -t class=3 -w 5x3 \
    --stride 3x2 --range 0:2 -o "$T/geo.h5" "$T/li.h5"
check_py "maps are 8 rows x 5 columns; attributes window and stride stay (h, w)" -c "
import h5py; f = h5py.File('$T/geo.h5')
assert f['maps'].shape == (2, 8, 5), f['maps'].shape
assert list(f.attrs['window']) == [3, 5] and list(f.attrs['stride']) == [2, 3]"
check_py "the class or map measured is /target, as in every maps file" -c "
import h5py; f = h5py.File('$T/attr.h5'); assert 'targets' not in f and list(f['target'][()]) == [3, 3, 3]"

# One target grammar (methods/target.h) with cnn-saliency: layers and
# class names found by the same rule, the same error lines.
cnn-occlude -q -m "$T/resnet.h5" -t unit=c2:3 -w 3 --stride 2 -o "$T/lc.h5" "$T/ri.h5"
check "a layer named ignoring case (unit=C2:3)" \
    cnn-occlude -q -m "$T/resnet.h5" -t unit=C2:3 -w 3 --stride 2 -o "$T/uc.h5" "$T/ri.h5"
check_py "the same maps as unit=c2:3" -c "
import h5py, numpy as np
a, b = h5py.File('$T/lc.h5'), h5py.File('$T/uc.h5')
assert np.array_equal(a['maps'][()], b['maps'][()]) and np.array_equal(a['target'][()], b['target'][()])"
for t in hottest unit=conv9:0 unit=conv2:6 class=10 unit=conv2:1@0,9 'unit=conv2'; do
    cnn-occlude -m "$T/lenet.h5" -t "$t" -o "$T/e1.h5" "$T/li.h5" 2>&1 | sed 's/cnn-occlude//' >"$T/e1"
    cnn-saliency -m "$T/lenet.h5" -t "$t" -o "$T/e2.h5" "$T/li.h5" 2>&1 | sed 's/cnn-saliency//' >"$T/e2"
    if cmp -s "$T/e1" "$T/e2" && [ -s "$T/e1" ]; then pass "-t $t: the same error as cnn-saliency's"
    else fail "-t $t: the same error as cnn-saliency's" "$(cat "$T/e1" "$T/e2")"; fi
done
check "a pipe in and out" sh -c "cat '$T/li.h5' | cnn-occlude -q -m '$T/lenet.h5' -t pred -w 4 --stride 4 > '$T/pipe.h5'"
check_py "piped output is a maps file" -c "
import h5py; f = h5py.File('$T/pipe.h5'); assert f.attrs['kind'] == 'maps' and f['maps'].shape == (5, 4, 4)"

# Shards (as GNU Parallel runs them with --range) join into the whole run.
cnn-occlude -q -m "$T/resnet.h5" -t label -w 4 --stride 3 --range 0:1 -o "$T/s1.h5" "$T/ri.h5"
cnn-occlude -q -m "$T/resnet.h5" -t label -w 4 --stride 3 --range 1:3 -o "$T/s2.h5" "$T/ri.h5"
cnn-occlude -q -m "$T/resnet.h5" -t label -w 4 --stride 3 -o "$T/s12.h5" "$T/ri.h5"
check "--join shards" cnn-occlude --join -o "$T/j.h5" "$T/s1.h5" "$T/s2.h5"
check_py "joined shards = one run" -c "
import h5py, numpy as np
a, b = h5py.File('$T/j.h5'), h5py.File('$T/s12.h5')
assert sorted(a) == sorted(b) and a.attrs['target'] == 'label' and list(a.attrs['window']) == [4, 4]
for k in b:
    x, y = np.array(a[k][()]), np.array(b[k][()])
    assert x.shape == y.shape, k
    assert np.allclose(x, y, atol=1e-5) if x.dtype.kind == 'f' else np.array_equal(x, y), k
"
cnn-occlude -q -m "$T/resnet.h5" -t pred -w 4 --stride 3 --range 1:3 -o "$T/s3.h5" "$T/ri.h5"
check_error "--join refuses shards of different runs" 1 "target 'pred' differs" "$T/j2.h5" \
    cnn-occlude --join -o "$T/j2.h5" "$T/s1.h5" "$T/s3.h5"

# Bad input: one line, non-zero exit, no output file.
check_error "window larger than the image" 1 "window 17x17 is larger" "$T/b1.h5" \
    cnn-occlude -m "$T/lenet.h5" -w 17 -o "$T/b1.h5" "$T/li.h5"
check_error "stride 0" 2 "stride" "$T/b2.h5" cnn-occlude -m "$T/lenet.h5" --stride 0 -o "$T/b2.h5" "$T/li.h5"
check_error "unknown layer lists the layers" 1 "no layer 'conv9' \(layers: conv1 relu1" "$T/b3.h5" \
    cnn-occlude -m "$T/lenet.h5" -t unit=conv9:0 -o "$T/b3.h5" "$T/li.h5"
check_error "unit beyond the layer's maps" 1 "target 'unit=conv2:6': layer 'conv2' has 6 channels" "$T/b4.h5" \
    cnn-occlude -m "$T/lenet.h5" -t unit=conv2:6 -o "$T/b4.h5" "$T/li.h5"
check_error "class beyond the model's" 1 "target 'class=10': class 10 out of range \(the model has 10 classes" "$T/b5.h5" \
    cnn-occlude -m "$T/lenet.h5" -t class=10 -o "$T/b5.h5" "$T/li.h5"
check_error "unknown target" 2 "unknown target 'hottest' \(expected class=K, label, pred" "$T/b6.h5" \
    cnn-occlude -m "$T/lenet.h5" -t hottest -o "$T/b6.h5" "$T/li.h5"
check_error "images of the wrong size" 1 "images are 3x17x18 \(C x H x W\) but .*lenet.h5 wants 1x16x16; make gray images" "$T/b7.h5" \
    cnn-occlude -m "$T/lenet.h5" -o "$T/b7.h5" "$T/ri.h5"
check_error "unknown fill" 2 "fill" "$T/b8.h5" cnn-occlude -m "$T/lenet.h5" -f purple -o "$T/b8.h5" "$T/li.h5"
check_error "measure that does not fit the target" 2 "does not go with" "$T/b9.h5" \
    cnn-occlude -m "$T/lenet.h5" -t pred --measure unit -o "$T/b9.h5" "$T/li.h5"
check_error "position outside the layer" 1 "outside layer 'conv2'" "$T/b10.h5" \
    cnn-occlude -m "$T/lenet.h5" -t unit=conv2:1@0,9 -o "$T/b10.h5" "$T/li.h5"
check_error "not an images file" 1 "expected images" "$T/b11.h5" \
    cnn-occlude -m "$T/lenet.h5" -o "$T/b11.h5" "$T/lenet.h5"
check_error "no model" 2 "no model" "" cnn-occlude "$T/li.h5"

# Progress counts windows (images x positions), labelled occlusion, on a
# terminal only (script(1) gives a pseudo-terminal).
if command -v script >/dev/null 2>&1; then
    script -qec "cnn-occlude -m '$T/lenet.h5' -t label -w 4 --stride 2 -o '$T/pg.h5' '$T/li.h5'" \
        /dev/null </dev/null >"$T/pty" 2>&1
    if tr '\r' '\n' <"$T/pty" | grep -q 'occlusion .* 245/245'; then
        pass "progress on a terminal: occlusion, 5 images x 49 windows"
    else fail "progress on a terminal: occlusion, 5 images x 49 windows" "$(tr '\r' '\n' <"$T/pty" | tail -c 300)"; fi
else
    skip "progress on a terminal" "no script(1)"
fi
cnn-occlude -m "$T/lenet.h5" -t label -w 4 --stride 2 -o "$T/pg2.h5" "$T/li.h5" 2>"$T/pgerr"
if [ ! -s "$T/pgerr" ]; then pass "no progress when stderr is not a terminal"
else fail "no progress when stderr is not a terminal" "$(head -c 200 "$T/pgerr")"; fi
