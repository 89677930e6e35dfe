#!/bin/sh
# cnn-import + cnn-forward against an independent NumPy forward pass
# (tests/ref/tfjs_ref.py reads model.json / .h5 directly, computes in NHWC
# float64): small generated Keras models at every named layer, and the two
# real ImageNet models of ../shared/models on the sample photos: the same
# top-5 classes and probabilities to 1e-4, and the README's sanity numbers.
. "$(dirname "$0")/../lib.sh"
REF=$TOP/tests/ref/tfjs_ref.py
TOL=1e-4
for b in cnn-import cnn-forward; do
    if [ ! -x "$BIN/$b" ]; then skip "import reference tests" "$b not built"; exit 0; fi
done

# ---- small models (tests/ref/keras_tiny.py): every layer kind, random weights
$PY "$TOP/tests/ref/keras_tiny.py" "$T/k" && $PY "$REF" random 8 10 3 "$T/r810.h5" &&
    $PY "$REF" random 6 6 3 "$T/r66.h5" && $PY "$REF" random 7 7 3 "$T/r77.h5" || { fail "writing the small test models"; exit 0; }
# Every Keras layer name except flat_i (our flattened vectors are in CHW
# order, Keras' in HWC; the Dense after it is permuted to match).
FUNC_LAYERS=conv_a,bn_a,dw_b,relu_b,conv_c,add_d,leaky_e,pool_f,avg_g,cat_h,dense_j,drop_k,dense_l
tiny() {   # tiny NAME SRC IMAGES LAYERS [cnn-import options]
    name=$1 src=$2 img=$3 layers=$4; shift 4
    check "$name: imports" cnn-import -q "$@" "$src" -o "$T/$name.h5"
    check "$name: cnn-forward runs" cnn-forward -q -m "$T/$name.h5" -l "$layers" "$img" -o "$T/$name.fwd.h5"
    $PY "$REF" run "$src" "$img" "$T/$name.npy" unit
    check_py "$name: probabilities equal NumPy's to $TOL" "$REF" compare "$T/$name.npy" "$T/$name.fwd.h5" - $TOL
    check_py "$name: activations at the Keras layer names equal NumPy's" "$REF" layers "$src" "$img" \
        "$T/$name.fwd.h5" unit "$layers" $TOL
}
tiny tfjs "$T/k/func" "$T/r810.h5" $FUNC_LAYERS
tiny h5 "$T/k/func.h5" "$T/r810.h5" $FUNC_LAYERS
tiny foldbn "$T/k/func" "$T/r810.h5" conv_a,dw_b,relu_b,add_d,dense_l --fold-bn
tiny seq "$T/k/seq.h5" "$T/r66.h5" conv2d_1,max_pooling2d_1,dense_1
tiny pads "$T/k/pads.h5" "$T/r77.h5" conv,maxpool,avgpool,dense
$PY "$REF" random 6 7 3 "$T/r67.h5" || fail "writing the SE test images"
SE_LAYERS=expand,dw,se_reduce,se_expand,se_excite,act_elu,act_softplus,act_hswish,act_lsm,probs
tiny se "$T/k/se.h5" "$T/r67.h5" $SE_LAYERS
tiny se3 "$T/k/se3" "$T/r67.h5" $SE_LAYERS

# ---- the real models
M=${SHARED:+$SHARED/models}
if [ -z "$M" ] || [ ! -f "$M/darknet-tiny/model.json" ] || [ ! -f "$M/mobilenet_v1_0.25_224/model.json" ]; then
    skip "real ImageNet models" "../shared/models absent"; exit 0
fi
# The shared photos, and skimage's chelsea/coffee and darknet's dog/eagle
# when `make data` has fetched them.
set -- "$SHARED"/photos/*.jpg
for p in skimage/chelsea.png skimage/coffee.png darknet/dog.jpg darknet/eagle.jpg; do
    [ -f "$DATA/fetched/$p" ] && set -- "$@" "$DATA/fetched/$p"
done
PHOTOS=$(for p in "$@"; do basename "$p"; done)
row() {   # row FILE: its row in photos.h5, -1 when absent
    echo "$PHOTOS" | awk -v f="$1" '$0 == f { print NR - 1; found = 1 } END { if (!found) print -1 }'
}
# The same 224x224 tensor goes to both sides: cnn-images when it exists,
# else PIL (bilinear resize of the whole photo, no crop, as cnn-images).
if [ -x "$BIN/cnn-images" ] && cnn-images -q --size 224x224 "$@" -o "$T/photos.h5" 2>"$T/.err"; then
    echo "# photos by cnn-images: $(echo $PHOTOS)"
else
    echo "# photos by PIL: $(echo $PHOTOS)"
    $PY "$REF" images - "$T/photos.h5" "$@"
fi
sanity() {   # sanity NAME LABELS PHOTO CLASS MINP: the README's numbers
    r=$(row "$3")
    if [ "$r" -lt 0 ]; then skip "$1: top-1 of $3 is $4" "$3 not fetched (make data)"; return; fi
    check_py "$1: top-1 of $3 is $4 (p >= $5)" "$REF" top1 "$T/$1.fwd.h5" "$2" "$r" "$4" "$5"
}
real() {   # real NAME DIR PREPROC [cnn-import options]
    name=$1 dir=$2 pre=$3; shift 3
    check "$name: imports" cnn-import -q "$@" "$dir" -o "$T/$name.h5"
    check "$name: cnn-forward runs on the photos" cnn-forward -q -m "$T/$name.h5" "$T/photos.h5" -o "$T/$name.fwd.h5"
    [ -f "$T/$name.npy" ] || $PY "$REF" run "$dir" "$T/photos.h5" "$T/$name.npy" "$pre"
    check_py "$name: top-5 and probabilities equal NumPy's to $TOL" "$REF" compare "$T/$name.npy" \
        "$T/$name.fwd.h5" "$dir/labels.txt" $TOL
    cat "$T/.out"
}
D=$M/darknet-tiny
real darknet "$D" unit
sanity darknet "$D/labels.txt" coral_parrot.jpg macaw 0.95
sanity darknet "$D/labels.txt" ml5_bird.jpg robin 0.95
sanity darknet "$D/labels.txt" chelsea.png "Egyptian cat" 0.6
sanity darknet "$D/labels.txt" coffee.png espresso 0.6
cp "$T/darknet.npy" "$T/darknet-fold.npy"
real darknet-fold "$D" unit --fold-bn
D=$M/mobilenet_v1_0.25_224
real mobilenet "$D" pm1 --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5
sanity mobilenet "$D/labels.txt" coral_parrot.jpg macaw 0.9
sanity mobilenet "$D/labels.txt" ml5_bird.jpg robin 0.95
sanity mobilenet "$D/labels.txt" coffee.png espresso 0.9
