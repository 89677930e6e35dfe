#!/bin/sh
# cnn-forward: activations, logits, probabilities and top-k against PyTorch
# on the same model file (tests/cli/forward_check.py); --range, --print,
# --all, standard output; bad inputs leave no output.
. "$(dirname "$0")/../lib.sh"
H=$TOP/tests/cli

# Images: Fashion-MNIST rows when Debian's dataset is installed, else noise.
if [ -d /usr/share/datasets/fashion-mnist ]; then
    $PY "$H/fashion_images.py" "$T/im.h5" test 0 100
else
    $PY "$H/random_images.py" "$T/im.h5" 100 1 28 28 10
fi
$PY "$H/random_images.py" "$T/rgb.h5" 3 3 28 28 10
$PY "$H/random_images.py" "$T/small.h5" 3 1 20 20 10

# A briefly trained default CNN, with preprocessing.
check "train a small model" cnn-train -q --epochs 1 --range 0:100 --mean 0.3 --std 0.4 "$T/im.h5" -o "$T/m.h5"
check "forward two layers, odd batch" cnn-forward -q -m "$T/m.h5" -l conv1,Conv2,fc1 --batch 7 "$T/im.h5" -o "$T/a.h5"
check_py "activations, logits, probs, top-k match PyTorch" "$H/forward_check.py" "$T/m.h5" "$T/im.h5" "$T/a.h5" 0 100
check "--range 10:37" cnn-forward -q -m "$T/m.h5" -l relu2 --range 10:37 "$T/im.h5" -o "$T/r.h5"
check_py "--range rows and ids" "$H/forward_check.py" "$T/m.h5" "$T/im.h5" "$T/r.h5" 10 37

# Every op of the compact architecture, ending in Softmax, with padding,
# strides, dilation, groups; random weights.
ARCH="conv6k3p1,leakyrelu0.1,maxpool3s2p1,conv8k3s2psame,sigmoid,conv8k3d2p2g2,relu6,avgpool2,tanh,flatten,dropout0.3,dense16,relu,gap,dense,softmax"
check "a random model of every layer kind" cnn-train -q --epochs 0 --init he -a "$ARCH" "$T/im.h5" -o "$T/m2.h5"
check "forward --all" cnn-forward -q -m "$T/m2.h5" --all "$T/im.h5" -o "$T/a2.h5"
check_py "every layer matches PyTorch (model ending in Softmax)" "$H/forward_check.py" "$T/m2.h5" "$T/im.h5" "$T/a2.h5" 0 100

# --print: one line per image with class names, no HDF5 file.
check "--print" sh -c 'cd "$1" && cnn-forward -m m.h5 --print -k 3 --range 0:5 im.h5 >p.txt' sh "$T"
if [ "$(wc -l <"$T/p.txt")" -eq 5 ] && ! ls "$T"/*.tmp.* >/dev/null 2>&1 &&
   grep -Eq '^0 \(label [^)]+\): [^|]+ [0-9.]+% \| [^|]+ [0-9.]+% \| [^|]+ [0-9.]+%$' "$T/p.txt"; then
    pass "--print: five lines 'id (label NAME): CLASS P% | ...'"
else fail "--print format" "$(head -2 "$T/p.txt")"; fi

# Standard output when it is a pipe or file.
check "HDF5 to standard output" sh -c 'cnn-forward -q -m "$1" --range 0:4 "$2" >"$3"' sh "$T/m.h5" "$T/im.h5" "$T/so.h5"
check_py "the stdout file is an activations file" -c "
import h5py; f = h5py.File('$T/so.h5', 'r'); assert f.attrs['kind'] == 'activations' and f['probs'].shape == (4, 10)"

# Bad inputs: one line, exit 1, no output file.
check_error "unknown layer lists the layers" 1 \
    "^cnn-forward: .*m.h5: no layer 'conv9' \(layers: conv1 relu1 conv2 .* fc2\)$" "$T/o1.h5" \
    cnn-forward -m "$T/m.h5" -l conv1,conv9 "$T/im.h5" -o "$T/o1.h5"
check_error "wrong image size names both shapes" 1 "small.h5: images are 1x20x20 .*wants 1x28x28" "$T/o2.h5" \
    cnn-forward -m "$T/m.h5" "$T/small.h5" -o "$T/o2.h5"
check_error "RGB images for a gray model" 1 "images are 3x28x28 .*wants 1x28x28.*--gray" "$T/o3.h5" \
    cnn-forward -m "$T/m.h5" "$T/rgb.h5" -o "$T/o3.h5"
check_error "missing model" 1 "cnn-forward: .*nomodel.h5" "$T/o4.h5" \
    cnn-forward -m "$T/nomodel.h5" "$T/im.h5" -o "$T/o4.h5"
check_error "an images file as the model" 1 "cnn-forward: .*im.h5.*(kind|model)" "$T/o5.h5" \
    cnn-forward -m "$T/im.h5" "$T/im.h5" -o "$T/o5.h5"
check_error "a model as the images" 1 "cnn-forward: .*m.h5.*(kind|images)" "$T/o6.h5" \
    cnn-forward -m "$T/m.h5" "$T/m.h5" -o "$T/o6.h5"
check_error "no -m" 2 "cnn-forward: .*-m" "" cnn-forward "$T/im.h5"
check_error "--range outside the rows" 1 "cnn-forward: .*(range|rows)" "$T/o7.h5" \
    cnn-forward -m "$T/m.h5" --range 150:200 "$T/im.h5" -o "$T/o7.h5"
check "--range past the end: an empty shard" cnn-forward -q -m "$T/m.h5" -l conv1 --range 100:120 "$T/im.h5" -o "$T/e.h5"
check_py "the empty shard has 0 rows" -c "
import h5py; f = h5py.File('$T/e.h5', 'r'); assert f['act/conv1'].shape == (0, 32, 26, 26) and f['pred'].shape == (0,)"

echo "1..$_n"
