#!/bin/sh
# cnn-info: shapes, parameters, multiply-accumulates and receptive fields
# checked against PyTorch and an independent receptive-field measurement
# (tests/cli/info_check.py); the text table; bad inputs.
. "$(dirname "$0")/../lib.sh"
H=$TOP/tests/cli

# A net with every geometry cnn-info must get right: stride, padding,
# dilation, asymmetric ("same" with an even kernel) padding, groups,
# non-square kernels and strides, max and average pooling, a non-square
# input, global pooling and a dense layer.
ARCH="c1=conv8k3s2p1,r1=relu,c2=conv16k5d2psame,p1=maxpool3s2p1,c3=conv12k3x1s1x2p0x1g4,t1=tanh,c4=conv4k2psame,p2=avgpool2,gap,fc=dense"
$PY "$H/random_images.py" "$T/r.h5" 4 3 29 23 4
check "a random model of a known architecture" cnn-train -q --epochs 0 -a "$ARCH" "$T/r.h5" -o "$T/geo.h5"
check "cnn-info --json" sh -c 'cnn-info --json "$1" >"$2"' sh "$T/geo.h5" "$T/geo.json"
check_py "shapes, params, MACs, receptive fields match PyTorch and measurement" \
    "$H/info_check.py" "$T/geo.h5" "$T/geo.json"

# The default architecture (the Keras MNIST CNN).
$PY "$H/random_images.py" "$T/m.h5" 4 1 28 28 10
check "a random default MNIST CNN" cnn-train -q --epochs 0 "$T/m.h5" -o "$T/mnist.h5"
cnn-info --json "$T/mnist.h5" >"$T/mnist.json"
check_py "default CNN: matches PyTorch and measurement" "$H/info_check.py" "$T/mnist.h5" "$T/mnist.json"
check "cnn-info table" sh -c 'cnn-info "$1" >"$2"' sh "$T/mnist.h5" "$T/table.txt"
# Keras reports 1,199,882 parameters for this network.
if grep -q '^total: 1,199,882 parameters, 11,992,448 multiply-accumulates' "$T/table.txt"; then
    pass "table totals (1,199,882 parameters as Keras counts)"
else fail "table totals" "$(tail -1 "$T/table.txt")"; fi
if grep -Eq '^ +4 +pool1 +MaxPool +relu2 +64x12x12 +0 +0 +6 +2 +0$' "$T/table.txt"; then
    pass "table row: pool1 64x12x12, field 6, jump 2, start 0"
else fail "table row pool1" "$(grep pool1 "$T/table.txt")"; fi
if grep -q '^classes: 10 (c0 | c1 | ' "$T/table.txt" && grep -q '^source: cnn-train' "$T/table.txt"; then
    pass "table names the classes and the source"
else fail "table names the classes and the source" "$(head -5 "$T/table.txt")"; fi

# Bad inputs: one line, exit 1.
check_error "missing model file" 1 "cnn-info: .*nope.h5" "" cnn-info "$T/nope.h5"
check_error "--json on an images file" 2 "cnn-info: .*models only" "" cnn-info --json "$T/r.h5"
printf 'not hdf5\n' >"$T/text.h5"
check_error "a text file is not a model" 1 "cnn-info: .*text.h5" "" cnn-info "$T/text.h5"
check_error "two operands" 2 "cnn-info: " "" cnn-info "$T/mnist.h5" "$T/mnist.h5"

# Any other file: kind, rows, datasets, history; --rows for scripts.
check "an images file is described" sh -c "cnn-info '$T/r.h5' >'$T/desc.txt'"
check_py "the description names kind, rows and datasets" -c "
import re; t = open('$T/desc.txt').read()
assert re.search(r'images file, 4 rows', t), t
assert re.search(r'/images +4x3x29x23 +float32', t), t
assert re.search(r'/ids +4 +int64', t), t"
n=$(cnn-info --rows "$T/r.h5")
if [ "$n" = 4 ]; then pass "--rows prints the row count"; else fail "--rows prints the row count" "got '$n'"; fi
check_error "--rows of a model" 1 "cnn-info: .*(/ids|rows)" "" cnn-info --rows "$T/geo.h5"

echo "1..$_n"
