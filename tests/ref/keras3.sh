#!/bin/sh
# Keras layers new to cnn-import and Keras 3's .keras archive, against a
# float64 PyTorch reading of the same nets (tests/ref/keras3_ref.py writes
# both from one set of random weights, without Keras): each layer in
# isolation (input -> 1x1 conv -> layer -> Flatten -> Dense), merges of
# broadcasting shapes, then a net of them all. Per case: the logits and
# cnn-saliency's input gradient of logit 7 to 1e-4 of their largest value,
# and the tested layer's activation at its Keras name; some cases also as a
# Keras 2 .h5 and TF.js folder (hard_sigmoid is 0.2 x + 0.5 there) and some
# as Sequential.
. "$(dirname "$0")/../lib.sh"
REF=$TOP/tests/ref/keras3_ref.py
if ! $PY -c 'import torch, h5py' 2>/dev/null; then
    skip "Keras 3 layers and .keras" "Debian's python3-torch/python3-h5py missing"; exit 0
fi
for b in cnn-import cnn-forward cnn-saliency; do
    if [ ! -x "$BIN/$b" ]; then skip "Keras 3 layers and .keras" "$b not built"; exit 0; fi
done
$PY "$REF" make "$T/c" >"$T/make.log" 2>&1 || { fail "writing the Keras fixtures" "$(tail -c 400 "$T/make.log")"; exit 0; }

one() {   # one CASE FILE TAG: import, forward, saliency; then every check in one Python
    c=$1 src=$2 tag=$3 d=$T/c/$1 what="$1${3:+ (Keras 2 ${4:-.h5})}"
    layers=$(sed -n "s/^${tag:-k3} //p" "$d/layers.txt")
    if cnn-import -q "$src" -o "$d/m.h5" 2>"$T/.err" &&
        cnn-forward -q -m "$d/m.h5" ${layers:+-l "$layers"} "$d/images.h5" -o "$d/acts.h5" 2>"$T/.err" &&
        cnn-saliency -q -m "$d/m.h5" -M gradient -t class=7 "$d/images.h5" -o "$d/maps.h5" 2>"$T/.err"; then
        pass "$what: cnn-import, cnn-forward -l ${layers:-(none)}, cnn-saliency -M gradient"
    else
        fail "$what: cnn-import, cnn-forward, cnn-saliency" "$(head -c 400 "$T/.err")"; return
    fi
    $PY "$REF" verify "$d" "$d/acts.h5" "$d/maps.h5" $tag >"$T/.v" 2>&1
    [ -s "$T/.v" ] || fail "$what: the checks ran" "$(tail -c 400 "$T/.v")"
    while IFS='	' read -r st chk why; do
        if [ "$st" = ok ]; then pass "$what: $chk"; echo "# $why"; else fail "$what: $chk" "$why"; fi
    done <"$T/.v"
    rm -f "$d/m.h5" "$d/acts.h5" "$d/maps.h5"
}
for d in "$T"/c/*/; do
    c=$(basename "$d")
    case $c in ${KERAS3_ONLY:-*}) ;; *) continue ;; esac   # KERAS3_ONLY='deconv*': a subset
    one "$c" "$d/model.keras" ""
    [ -f "$d/model.h5" ] && one "$c" "$d/model.h5" _k2
    [ -d "$d/tfjs" ] && one "$c" "$d/tfjs" _k2 TF.js
done
exit 0
