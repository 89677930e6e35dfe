#!/bin/sh
# cnn-train: learns (a short run beats a threshold on held-out Fashion-MNIST
# rows), is reproducible bit for bit with --seed, stores classes, input
# shape and preprocessing; architecture strings and files; bad inputs.
# The full MNIST / Fashion-MNIST targets are in pipelines/mnist.mk.
. "$(dirname "$0")/../lib.sh"
H=$TOP/tests/cli

$PY "$H/random_images.py" "$T/rnd.h5" 64 1 12 12 3

# Reproducibility on a few hundred noise images, two epochs with dropout.
A="conv4k3,relu,maxpool2,dropout0.5,flatten,dense16,relu,dense"
check "train with --seed 7" cnn-train -q --epochs 2 --batch 16 --seed 7 -a "$A" "$T/rnd.h5" -o "$T/s7a.h5"
check "train again with --seed 7" cnn-train -q --epochs 2 --batch 16 --seed 7 -a "$A" "$T/rnd.h5" -o "$T/s7b.h5"
check "train with --seed 8" cnn-train -q --epochs 2 --batch 16 --seed 8 -a "$A" "$T/rnd.h5" -o "$T/s8.h5"
WEIGHTS='
import sys, h5py, numpy as np
def w(p):
    out = {}
    h5py.File(p, "r")["nodes"].visititems(lambda k, v: out.__setitem__(k, v[()].tobytes()) if isinstance(v, h5py.Dataset) else None)
    return out
a, b = w(sys.argv[1]), w(sys.argv[2])
same = a == b
sys.exit(0 if same == (sys.argv[3] == "same") else "weights %s" % ("equal" if same else "differ"))'
check_py "same seed: identical weights, bit for bit" -c "$WEIGHTS" "$T/s7a.h5" "$T/s7b.h5" same
check_py "another seed: different weights" -c "$WEIGHTS" "$T/s7a.h5" "$T/s8.h5" differ
check "sgd with momentum and weight decay runs" cnn-train -q --epochs 1 --optim sgd --lr 0.05 --momentum 0.9 --wd 1e-4 -a "$A" "$T/rnd.h5" -o "$T/sgd.h5"

# The model file: classes, input shape, preprocessing, history.
check "--mean/--std/--classes" cnn-train -q --epochs 0 --mean 0.5 --std 0.25 --classes a,b,c -a "$A" "$T/rnd.h5" -o "$T/pre.h5"
check_py "model file carries classes, input shape, preprocessing" -c "
import h5py, numpy as np
f = h5py.File('$T/pre.h5', 'r')
assert f.attrs['kind'] == 'model'
assert list(f.attrs['input_shape']) == [1, 12, 12], f.attrs['input_shape']
assert np.allclose(f.attrs['mean'], 0.5) and np.allclose(f.attrs['std'], 0.25)
assert [c.decode() if isinstance(c, bytes) else c for c in f['classes'][()]] == ['a', 'b', 'c']
assert 'cnn-train' in str(f.attrs['history'])"

# An architecture file: one layer per line, comments, blank lines.
printf '# a tiny net\nc1 = conv4k3\n\nrelu\nflatten\nout=dense   # one per class\n' >"$T/arch.txt"
check "--arch FILE" cnn-train -q --epochs 0 -a "$T/arch.txt" "$T/rnd.h5" -o "$T/file.h5"
if cnn-info "$T/file.h5" | grep -Eq '^ +3 +out +Dense +flatten1? +3x1x1'; then pass "--arch FILE layers and names"
else fail "--arch FILE layers and names" "$(cnn-info "$T/file.h5" 2>&1 | tail -6)"; fi

# Epoch lines on stderr, none with -q.
cnn-train --epochs 2 --val "$T/rnd.h5" -a "$A" "$T/rnd.h5" -o "$T/v.h5" 2>"$T/log.txt"
if [ "$(grep -Ec '^cnn-train: epoch [12]/2: loss [0-9.]+, train acc [0-9.]+%, val loss [0-9.]+, val acc [0-9.]+% \(' "$T/log.txt")" -eq 2 ]; then
    pass "one line per epoch with loss, train and val accuracy"
else fail "epoch lines" "$(cat "$T/log.txt")"; fi
cnn-train -q --epochs 1 -a "$A" "$T/rnd.h5" -o "$T/q.h5" 2>"$T/q.txt"
if [ ! -s "$T/q.txt" ]; then pass "-q: nothing on stderr"; else fail "-q" "$(cat "$T/q.txt")"; fi

# Learning: the default CNN, 2 epochs on 3,000 Fashion-MNIST training
# images, must classify 1,000 test images at >= 74% (chance: 10%). Seeds 1
# to 4 read 76.6-79.6%, with the convolutions on the packed GEMM or on
# OpenBLAS (CNN_CONV_PACK=0): which kernel rounds the sums moves a seed's
# result by up to 1.2 points either way, so 78% failed on one.
if [ -n "${CNN_ASAN:-}" ]; then
    skip "default CNN learns Fashion-MNIST" "too slow under AddressSanitizer"
elif [ -d /usr/share/datasets/fashion-mnist ]; then
    $PY "$H/fashion_images.py" "$T/ftr.h5" train 0 3000
    $PY "$H/fashion_images.py" "$T/fte.h5" test 0 1000
    check "default CNN, 2 epochs, 3,000 images" cnn-train -q --epochs 2 "$T/ftr.h5" -o "$T/f.h5"
    check "predict the test rows" cnn-forward -q -m "$T/f.h5" "$T/fte.h5" -o "$T/fa.h5"
    check_py "test accuracy >= 74%" -c "
import h5py, sys
f = h5py.File('$T/fa.h5', 'r')
acc = (f['pred'][()] == f['labels'][()]).mean()
print('accuracy', acc)
sys.exit(0 if acc >= 0.74 else 'accuracy %.4f < 0.74' % acc)"
else
    skip "default CNN learns Fashion-MNIST" "dataset-fashion-mnist not installed"
fi

# Bad inputs: one line, non-zero exit, no output file.
check_error "unknown layer in --arch" 2 "cnn-train: --arch: unknown layer 'foo' \(known: conv " "$T/b1.h5" \
    cnn-train -a conv4k3,foo "$T/rnd.h5" -o "$T/b1.h5"
check_error "output width not the number of classes" 2 "ends in 5 outputs .* 3 classes" "$T/b2.h5" \
    cnn-train -a conv4k3,flatten,dense5 "$T/rnd.h5" -o "$T/b2.h5"
check_error "duplicate layer names" 2 "'c1' is used twice" "$T/b3.h5" \
    cnn-train -a c1=conv4k3,c1=relu,dense "$T/rnd.h5" -o "$T/b3.h5"
check_error "a window larger than its input" 2 "larger than its input" "$T/b4.h5" \
    cnn-train -a conv4k13,dense "$T/rnd.h5" -o "$T/b4.h5"
$PY -c "
import h5py, numpy as np
with h5py.File('$T/nolab.h5', 'w') as f:
    f.attrs['kind'] = 'images'; f['images'] = np.zeros((2, 1, 12, 12), np.float32)"
check_error "images without labels" 1 "nolab.h5: has no /labels" "$T/b5.h5" \
    cnn-train "$T/nolab.h5" -o "$T/b5.h5"
check_error "a model as training data" 1 "cnn-train: .*pre.h5.*(kind|images)" "$T/b6.h5" \
    cnn-train "$T/pre.h5" -o "$T/b6.h5"
check_error "missing training file" 1 "cnn-train: .*none.h5" "$T/b7.h5" cnn-train "$T/none.h5" -o "$T/b7.h5"
check_error "--optim unknown" 2 "cnn-train: --optim: 'rmsprop' is not adam or sgd" "" cnn-train --optim rmsprop "$T/rnd.h5" -o "$T/b8.h5"
check_error "unwritable output folder" 1 "cannot write" "" cnn-train "$T/rnd.h5" -o "$T/no/such/dir/m.h5"

echo "1..$_n"
