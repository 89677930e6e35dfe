#!/bin/sh
# Keras layers new to cnn-import and Keras 3's .keras archive, against a
# float64 PyTorch reading of the same nets (tests/ref/keras3_ref.py writes
# both from one set of random weights, without Keras): each layer in
# isolation (input -> 1x1 conv -> layer -> Flatten -> Dense), merges of
# broadcasting shapes, then a net of them all. Per case: the logits and
# cnn-saliency's input gradient of logit 7 to 1e-4 of their largest value,
# and the tested layer's activation at its Keras name; some cases also as a
# Keras 2 .h5 (hard_sigmoid is 0.2 x + 0.5 there) and some as Sequential.
. "$(dirname "$0")/../lib.sh"
REF=$TOP/tests/ref/keras3_ref.py
if ! $PY -c 'import torch, h5py' 2>/dev/null; then
    skip "Keras 3 layers and .keras" "Debian's python3-torch/python3-h5py missing"; exit 0
fi
for b in cnn-import cnn-forward cnn-saliency; do
    if [ ! -x "$BIN/$b" ]; then skip "Keras 3 layers and .keras" "$b not built"; exit 0; fi
done
$PY "$REF" make "$T/c" >"$T/make.log" 2>&1 || { fail "writing the Keras fixtures" "$(tail -c 400 "$T/make.log")"; exit 0; }

one() {   # one CASE FILE TAG: import, logits, gradient, tested layers
    c=$1 src=$2 tag=$3 d=$T/c/$1 what="$1${3:+ (Keras 2 .h5)}"
    check "$what: cnn-import" cnn-import -q "$src" -o "$d/m.h5"
    [ -f "$d/m.h5" ] || return
    layers=$($PY -c "import numpy as np, sys; print(','.join(k[4:len(k) - len(sys.argv[2])] for k in np.load(sys.argv[1]).files if k.startswith('act_') and k.endswith(sys.argv[2]) and (sys.argv[2] or not k.endswith('_k2'))))" "$d/ref.npz" "$tag")
    check "$what: cnn-forward" cnn-forward -q -m "$d/m.h5" ${layers:+-l "$layers"} "$d/images.h5" -o "$d/acts.h5"
    check_py "$what: logits equal float64 PyTorch's to 1e-4" "$REF" logits "$d" "$d/acts.h5" $tag
    sed 's/^/# /' "$T/.out"
    for l in $(echo "$layers" | tr ',' ' '); do
        check_py "$what: activation at layer '$l' equals PyTorch's" "$REF" layer "$d" "$d/acts.h5" "$l" $tag
    done
    check "$what: cnn-saliency -M gradient" cnn-saliency -q -m "$d/m.h5" -M gradient -t class=7 "$d/images.h5" -o "$d/maps.h5"
    [ -f "$d/maps.h5" ] &&
        check_py "$what: input gradient of logit 7 equals float64 PyTorch's to 1e-4" "$REF" grad "$d" "$d/maps.h5" $tag
    rm -f "$d/m.h5" "$d/acts.h5" "$d/maps.h5"
}
for d in "$T"/c/*/; do
    c=$(basename "$d")
    one "$c" "$d/model.keras" ""
    [ -f "$d/model.h5" ] && one "$c" "$d/model.h5" _k2
done
exit 0
