#!/bin/sh
# cnn-ascend's feature-visualisation path (Olah et al. 2017, Lucid/Lucent)
# against an independent float64 PyTorch implementation
# (tests/ref/ascend_lucid.py): the Fourier parameterisation (torch.fft's
# irfftn, 1/f scaling), colour decorrelation and sigmoid, whose gradient
# is checked by following plain steps (sizes 12x12, 11x13, 14x20: every
# path of the FFT) and Adam steps image by image; each
# transformation (pad, jitter, scale, rotate, and the whole chain) forward
# and backward against F.pad, slicing and grid_sample/affine_grid; the
# colour matrix from images against numpy's eigh; bad input.
. "$(dirname "$0")/../lib.sh"
R=$TOP/tests/ref/ascend_lucid.py

$PY "$R" model "$T/e.h5" 12 12 || exit 1
$PY "$R" model "$T/o.h5" 11 13 || exit 1
$PY "$R" model "$T/g.h5" 28 28 1 || exit 1
$PY "$R" model "$T/r.h5" 14 20 || exit 1
$PY -c "import h5py, numpy as np, sys
with h5py.File(sys.argv[1], 'w') as f:
    f.attrs['kind'] = 'images'
    f['images'] = np.random.RandomState(3).uniform(0.2, 0.8, (2, 3, 11, 13)).astype(np.float32)
with h5py.File(sys.argv[2], 'w') as f:
    f.attrs['kind'] = 'images'
    f['images'] = np.random.RandomState(4).uniform(0, 1, (3, 1, 11, 13)).astype(np.float32)" \
    "$T/im.h5" "$T/gray.h5" || exit 1

# Parameterisations: from zero parameters, 6 plain steps (lr 2), every
# image = PyTorch's (even 12x12 and odd 11x13: the Nyquist column).
for m in e o; do
    for pd in "fft --decorrelate" "fft --no-decorrelate" "pixel --decorrelate"; do
        set -- $pd
        ts=class=2
        [ "$m$1$2" = offt--decorrelate ] && ts="class=2 unit=conv2:3@2,1"
        for t in $ts; do
            check "$m: --param $1 $2 $t runs" cnn-ascend -q -m "$T/$m.h5" -t "$t" --start zeros \
                --param "$1" "$2" --transforms none --optimizer sgd --lr 2 --steps 6 --snapshots 1 \
                -o "$T/p.h5"
            check_py "$m: --param $1 $2 $t: images and gradient = torch.fft" "$R" param "$T/$m.h5" \
                "$T/p.h5" "$t" "$([ "$1" = fft ] && echo 1 || echo 0)" \
                "$([ "$2" = --decorrelate ] && echo 1 || echo 0)" sgd 2
        done
    done
done
# Radices 7 and 5 of the FFT (11 and 13 above take Bluestein's path).
check "r: 14x20 fft runs" cnn-ascend -q -m "$T/r.h5" -t class=2 --start zeros --param fft \
    --decorrelate --transforms none --optimizer sgd --lr 2 --steps 4 --snapshots 1 -o "$T/p.h5"
check_py "r: 14x20 images and gradient = torch.fft" "$R" param "$T/r.h5" "$T/p.h5" class=2 1 1 sgd 2
check "Lucid recipe without transforms (Adam, lr 0.05)" cnn-ascend -q -m "$T/o.h5" -t class=1 \
    --start zeros --transforms none --steps 20 --snapshots 1 -o "$T/a.h5"
check_py "Adam steps = torch.optim.Adam's" "$R" param "$T/o.h5" "$T/a.h5" class=1 1 1 adam 0.05

# Objectives: a direction and a sum of terms; the whole run follows
# PyTorch's gradient of the same sum, each term computed on its own.
printf '0.5, -1, 0.25, 2, 0, -0.5\n' >"$T/dir.txt"
printf '1 2 3\n' >"$T/dir3.txt"
for t in "direction=conv2:$T/dir.txt" "unit=conv2:3:mean - 0.5*class=1 + direction=relu2:$T/dir.txt" \
    "- unit=relu1:2@3,4 + 2*unit=conv2:1:mean"; do
    check "objective '$t' runs" cnn-ascend -q -m "$T/o.h5" -t "$t" --start zeros --param fft \
        --decorrelate --transforms none --optimizer sgd --lr 2 --steps 5 --snapshots 1 -o "$T/x.h5"
    check_py "objective '$t': images and gradient = PyTorch's sum of terms" "$R" param "$T/o.h5" \
        "$T/x.h5" "$t" 1 1 sgd 2
done

# Class measures: the log-odds log(p / (1 - p)) = z_c - logsumexp of the
# other logits, the probability and the plain logit, against
# torch.logsumexp/softmax (class=K above: the default, logodds:0.5).
for ms in logodds prob logit; do
    check "--measure $ms runs" cnn-ascend -q -m "$T/o.h5" -t class=2 --measure $ms --start zeros \
        --param fft --decorrelate --transforms none --optimizer sgd --lr 2 --steps 5 --snapshots 1 \
        -o "$T/x.h5"
    check_py "--measure $ms: images and gradient = PyTorch's" "$R" param "$T/o.h5" "$T/x.h5" \
        "$ms=2" 1 1 sgd 2
done

# Transformations on plain pixels: objective (forward) and next image
# (backward) = PyTorch's with the same draws.
for tf in pad=3 jitter=3 scale=0.8:1.2:1.1 rotate=20 jitter=0,jitter=3 \
    pad=3,jitter=2,scale=0.9:1.05,rotate=10,jitter=2; do
    check "--transforms $tf runs" cnn-ascend -q -m "$T/o.h5" -t class=3 --start "$T/im.h5" \
        --param pixel --optimizer sgd --lr 0.05 --transforms "$tf" --steps 6 --snapshots 1 \
        -o "$T/t.h5"
    # A start image makes Yosinski's recipe the base: the class measure is the logit.
    check_py "--transforms $tf: forward and backward = pad/grid_sample" "$R" transform "$T/o.h5" \
        "$T/t.h5" logit=3 0.05
done

# The default (Lucid's recipe) runs and raises the objective.
check "default recipe" cnn-ascend -q -m "$T/e.h5" -t class=c2 --steps 40 -o "$T/d.h5"
check_py "default recipe: fft, decorrelated, Adam, transforms; objective rose" -c "
import h5py, sys
f = h5py.File(sys.argv[1], 'r'); a = f.attrs; v = f['values'][()]
assert a['param'] == 'fft' and a['decorrelate'] == 1 and a['optimizer'] == 'adam', dict(a)
assert a['transforms'] == 'standard' and 'draws' in f, dict(a)
assert v[-5:].mean() > v[:5].mean() + 1, v" "$T/d.h5"
check "default recipe on a grey model (fft, no decorrelation)" cnn-ascend -q -m "$T/g.h5" \
    -t class=1 --steps 3 -o "$T/g1.h5"
check "--colour-stats" cnn-ascend -q -m "$T/o.h5" -t class=1 --colour-stats "$T/im.h5" \
    --steps 2 -o "$T/c.h5"
check_py "--colour-stats matrix = numpy's U sqrt(Lambda), max column norm 1" "$R" colour \
    "$T/im.h5" "$T/c.h5"

# Bad input: one line, non-zero exit, no output.
O=$T/bad.h5
check_error "transforms larger than the image" 1 "must each be smaller than the image" "$O" \
    cnn-ascend -m "$T/e.h5" -t class=1 --transforms pad=12 -o "$O"
check_error "bad --measure" 2 "is not logit, prob, logodds or logodds:A" "$O" \
    cnn-ascend -m "$T/e.h5" -t class=1 --measure logodds:2 -o "$O"
check_error "--measure on a unit" 2 "measure is for class targets" "$O" \
    cnn-ascend -m "$T/o.h5" -t unit=conv2:1 --measure logit -o "$O"
check_error "unknown transform" 2 "unknown transform 'twist'" "$O" \
    cnn-ascend -m "$T/e.h5" -t class=1 --transforms twist=3 -o "$O"
check_error "colour matrix from grey images: not 3x3" 1 "3x3 colour matrix" "$O" \
    cnn-ascend -m "$T/o.h5" -t class=1 --colour-stats "$T/gray.h5" -o "$O"
check_error "--decorrelate on a grey model" 1 "needs an RGB model" "$O" \
    cnn-ascend -m "$T/g.h5" -t class=1 --decorrelate -o "$O"
check_error "fft with a start image" 2 "start image needs plain pixels" "$O" \
    cnn-ascend -m "$T/o.h5" -t class=1 --param fft --start "$T/im.h5" -o "$O"
check_error "bad --param" 2 "not pixel or fft" "$O" \
    cnn-ascend -m "$T/o.h5" -t class=1 --param wavelet -o "$O"
check_error "unknown objective term" 2 "unknown target 'neuron=conv2:1'" "$O" \
    cnn-ascend -m "$T/o.h5" -t "unit=conv2:1 + neuron=conv2:1" -o "$O"
check_error "direction of the wrong width" 1 "the direction has 3 values but layer 'conv2' has 6 channels" \
    "$O" cnn-ascend -m "$T/o.h5" -t "direction=conv2:$T/dir3.txt" -o "$O"
check_error "empty objective term" 2 "empty term" "$O" \
    cnn-ascend -m "$T/o.h5" -t "unit=conv2:1 + " -o "$O"
echo "1..$_n"
