#!/bin/sh
# cnn-ascend --invert (Mahendran & Vedaldi 2015's representation
# inversion) against an independent float64 PyTorch implementation
# (tests/ref/ascend_lucid.py invert): the objective -|phi(x) -
# phi(x0)|^2 / |phi(x0)|^2 at each step (value) and the next image (its
# gradient), for three layers in one run and with the photo through the
# same random transformations as the image; the default recipe lowers the
# reconstruction error at every layer; bad input.
. "$(dirname "$0")/../lib.sh"
R=$TOP/tests/ref/ascend_lucid.py

$PY "$R" model "$T/o.h5" 11 13 || exit 1
$PY -c "import h5py, numpy as np, sys
with h5py.File(sys.argv[1], 'w') as f:
    f.attrs['kind'] = 'images'
    f['images'] = np.random.RandomState(5).uniform(0.1, 0.9, (2, 3, 11, 13)).astype(np.float32)" \
    "$T/ph.h5" || exit 1

check "--invert, 3 layers, pixels, plain steps" cnn-ascend -q -m "$T/o.h5" --invert "$T/ph.h5" \
    --layers conv1,pool1,relu2 --param pixel --no-decorrelate --optimizer sgd --transforms none \
    --lr 0.02 --steps 5 --snapshots 1 -o "$T/i.h5"
check_py "--invert: values and next images = PyTorch's, each layer" "$R" invert "$T/o.h5" \
    "$T/i.h5" "$T/ph.h5" 0.02
check "--invert with transforms" cnn-ascend -q -m "$T/o.h5" --invert "$T/ph.h5" --layers conv2 \
    --param pixel --no-decorrelate --optimizer sgd --transforms pad=2,jitter=2,rotate=10,jitter=1 \
    --lr 0.02 --steps 5 --snapshots 1 -o "$T/it.h5"
check_py "--invert with transforms: the photo through the same draws" "$R" invert "$T/o.h5" \
    "$T/it.h5" "$T/ph.h5" 0.02

check "--invert, default recipe (fft, decorrelate, transforms, Adam)" cnn-ascend -q -m "$T/o.h5" \
    --invert "$T/ph.h5" --layers conv1,relu2 --steps 60 -o "$T/id.h5"
check_py "default recipe: the relative error fell at each layer" -c "
import h5py, sys
f = h5py.File(sys.argv[1], 'r'); v = f['values'][()]
assert v.shape == (2, 61) and f['images'].shape[0] == 2, v.shape
assert [l.decode() if isinstance(l, bytes) else l for l in f['layers'][()]] == ['conv1', 'relu2']
for r in v:
    assert -r[-5:].mean() < 0.5 * -r[:5].mean(), r" "$T/id.h5"

O=$T/bad.h5
check_error "--invert without --layers" 2 "go together" "$O" \
    cnn-ascend -m "$T/o.h5" --invert "$T/ph.h5" -o "$O"
check_error "--invert at an unknown layer" 1 "no layer 'conv9'" "$O" \
    cnn-ascend -m "$T/o.h5" --invert "$T/ph.h5" --layers conv1,conv9 -o "$O"
check_error "--invert with a missing photo" 1 "nosuch.png" "$O" \
    cnn-ascend -m "$T/o.h5" --invert "$T/nosuch.png" --layers conv1 -o "$O"
echo "1..$_n"
