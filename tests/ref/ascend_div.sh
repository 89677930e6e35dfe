#!/bin/sh
# cnn-ascend --count K --diversity W (Lucid's objectives.diversity)
# against an independent float64 PyTorch implementation
# (tests/ref/ascend_div.py): K noise images, plain pixel steps; each
# step's objective (sum of the images' objectives - W x the Gram-matrix
# cosine-similarity penalty) and the next images (its gradient through the
# model) = PyTorch's; rows; bad input.
. "$(dirname "$0")/../lib.sh"
R=$TOP/tests/ref/ascend_div.py

$PY "$TOP/tests/ref/ascend_lucid.py" model "$T/o.h5" 11 13 || exit 1
for c in "3 conv2 class=2 4" "2 relu1 unit=conv2:3:mean 20" "4 relu2 unit=relu2:1:mean 50"; do
    set -- $c
    check "--count $1 --diversity $4 --diversity-layer $2 -t $3 runs" cnn-ascend -q \
        -m "$T/o.h5" -t "$3" --count "$1" --diversity "$4" --diversity-layer "$2" \
        --start noise --param pixel --no-decorrelate --transforms none --optimizer sgd \
        --lr 0.02 --steps 3 --snapshots 1 -o "$T/d.h5"
    check_py "K=$1, $2, $3: values and steps = PyTorch's (Lucent's diversity)" "$R" run \
        "$T/o.h5" "$T/d.h5" "$3" "$4" "$2" 0.02
done
check "default layer: the unit term's" cnn-ascend -q -m "$T/o.h5" -t unit=conv2:1:mean \
    --count 2 --diversity 1 --steps 2 -o "$T/u.h5"
check_py "default layer = conv2, K rows" -c "
import h5py, sys
f = h5py.File(sys.argv[1], 'r')
assert f.attrs['diversity_layer'] == 'conv2' and f['images'].shape[0] == 2, dict(f.attrs)" "$T/u.h5"
check "default layer for a class: a ReLU" cnn-ascend -q -m "$T/o.h5" -t class=1 --count 3 \
    --diversity 1 --steps 2 -o "$T/c.h5"
check_py "class target: layer relu*, 3 rows" -c "
import h5py, sys
f = h5py.File(sys.argv[1], 'r')
assert f.attrs['diversity_layer'].startswith('relu') and f['images'].shape[0] == 3, dict(f.attrs)" \
    "$T/c.h5"

O=$T/bad.h5
check_error "--diversity with K=1" 2 "needs --count K with K >= 2" "$O" \
    cnn-ascend -m "$T/o.h5" -t class=1 --diversity 1 -o "$O"
check_error "unknown diversity layer" 1 "no layer 'conv9'" "$O" \
    cnn-ascend -m "$T/o.h5" -t class=1 --count 2 --diversity 1 --diversity-layer conv9 -o "$O"
check_error "--count with Yosinski's regularisers" 2 "do not go with Yosinski" "$O" \
    cnn-ascend -m "$T/o.h5" -t class=1 --count 2 --l2 0.1 -o "$O"
echo "1..$_n"
