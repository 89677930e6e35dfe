#!/bin/sh
# cnn-topk against numpy (stable sort, ties by id): features, probs,
# layers with summaries, --lowest, --units, --where; --gather; bad input.
. "$(dirname "$0")/../lib.sh"
A=$TOP/tests/cli/analysis.py

$PY "$A" acts "$T/acts.h5" 60 || exit 1
$PY "$A" images "$T/images.h5" "$T/acts.h5" || exit 1
cnn-extract-layer -q -l fc -o "$T/fc.h5" "$T/acts.h5" || exit 1

check "features, all units" cnn-topk -q -k 5 -o "$T/r1.h5" "$T/fc.h5"
check_py "features top 5 (ties by id)" "$A" topk "$T/fc.h5" features none 5 0 - - "$T/r1.h5"
check "features --lowest" cnn-topk -k 6 --lowest -o "$T/r2.h5" "$T/fc.h5"
check_py "features lowest 6" "$A" topk "$T/fc.h5" features none 6 1 - - "$T/r2.h5"
check "--probs --where label=2" cnn-topk -k 4 --probs --where label=2 -o "$T/r3.h5" "$T/acts.h5"
check_py "probs top 4 of label 2" "$A" topk "$T/acts.h5" probs none 4 0 - "label=2" "$T/r3.h5"
check "--logits --unit 1 --where pred=1" cnn-topk -k 3 --logits --unit 1 --where pred=1 -o "$T/r4.h5" "$T/acts.h5"
check_py "logits unit 1 of pred 1" "$A" topk "$T/acts.h5" logits none 3 0 1 "pred=1" "$T/r4.h5"
for s in max mean absmax none; do
    check "-l conv --summary $s --lowest" cnn-topk -k 5 -l conv --summary $s --lowest -o "$T/r5$s.h5" "$T/acts.h5"
    check_py "conv $s lowest" "$A" topk "$T/acts.h5" act/conv $s 5 1 - - "$T/r5$s.h5"
done
check "class names in --where, two filters, --units" \
    cnn-topk -k 4 -l conv --units 0,2-3 --where label=eight --where pred=0,1 -o "$T/r6.h5" "$T/acts.h5"
check_py "names and filters" "$A" topk "$T/acts.h5" act/conv max 4 0 0,2,3 "label=2;pred=0,1" "$T/r6.h5"
check "k larger than the selection shrinks k" cnn-topk -q -k 500 --probs -o "$T/r7.h5" "$T/acts.h5"
check_py "k = number of rows" "$A" topk "$T/acts.h5" probs none 500 0 - - "$T/r7.h5"
check "from a pipe" sh -c "cnn-extract-layer -q -l conv --summary mean '$T/acts.h5' | cnn-topk -k 3 > '$T/r8.h5'"
check_py "piped features" "$A" topk "$T/acts.h5" act/conv mean 3 0 - - "$T/r8.h5"
check "--gather images" cnn-topk -k 3 --probs --units 2 --where label=2 --gather "$T/images.h5" -o "$T/g.h5" "$T/acts.h5"
cnn-topk -k 3 --probs --units 2 --where label=2 -o "$T/g_r.h5" "$T/acts.h5"
check_py "gathered images, ids, labels and scores" "$A" gather "$T/g_r.h5" "$T/images.h5" "$T/g.h5"

# Bad input.
check_error "unknown layer lists the layers" 1 "no layer 'conv9' \(layers: conv fc\)" "$T/b1.h5" \
    cnn-topk -l conv9 -o "$T/b1.h5" "$T/acts.h5"
check_error "activations need a source" 2 "probs" "$T/b2.h5" cnn-topk -o "$T/b2.h5" "$T/acts.h5"
check_error "empty --where selection" 1 "no rows to rank" "$T/b3.h5" \
    cnn-topk --probs --where label=7 -o "$T/b3.h5" "$T/acts.h5"
check_error "bad --where key" 2 "where" "" cnn-topk --probs --where colour=2 "$T/acts.h5"
check_error "unit out of range" 2 "units" "$T/b4.h5" cnn-topk --unit 7 -o "$T/b4.h5" "$T/fc.h5"
check_error "wrong kind" 1 "is a images file" "$T/b5.h5" cnn-topk -o "$T/b5.h5" "$T/images.h5"
$PY -c "
import h5py, numpy as np
x = np.ones((5, 3), np.float32); x[3, 1] = np.nan
f = h5py.File('$T/nan.h5', 'w'); f.attrs['kind'] = 'features'; f['features'] = x"
check_error "NaN scores" 1 "row 3 has a NaN value \(unit 1 of /features\)$" "$T/b6.h5" cnn-topk -q -o "$T/b6.h5" "$T/nan.h5"
# A terminal is refused before the work: the NaN row is never reached.
if command -v script >/dev/null; then
    script -qec "$BIN/cnn-topk $T/nan.h5" /dev/null >"$T/tty.txt" 2>&1
    rc=$?
    if [ $rc -eq 2 ] && grep -q 'terminal' "$T/tty.txt" && ! grep -q 'NaN' "$T/tty.txt"; then
        pass "a terminal is refused before the ranking"
    else fail "a terminal is refused before the ranking" "rc=$rc $(head -c 300 "$T/tty.txt")"; fi
    # Every tool that writes HDF5 (or a PNG) refuses a terminal before its work: before
    # it even opens its (missing) inputs.
    X=$T/missing
    for cmd in "cnn-images $X.png" "cnn-forward -m $X.h5 $X.h5" "cnn-saliency -m $X.h5 $X.h5" \
        "cnn-occlude -m $X.h5 $X.h5" "cnn-patches -m $X.h5 -l c $X.h5" "cnn-pca $X.h5" \
        "cnn-extract-layer -l fc $X.h5" "cnn-perturb grid-occlude --size 4 $X.h5" \
        "cnn-ascend -m $X.h5 -t c" "cnn-style -m $X.h5 --style $X.png --content $X.png" \
        "cnn-evaluate -m $X.h5 --metric deletion --maps $X.h5 $X.h5" "cnn-train -a dense $X.h5" \
        "cnn-topk --probs $X.h5" "cnn-join $X.h5" "cnn-import $X.onnx" "cnn-render grid $X.h5" \
        "cnn-render heatmap --images $X.jpg $X.h5"; do
        script -qec "$BIN/$cmd" /dev/null >"$T/tty.txt" 2>&1
        rc=$?
        # shellcheck disable=SC2086
        set -- $cmd
        case $2 in -* | /*) name=$1 ;; *) name="$1 $2" ;; esac
        if [ $rc -eq 2 ] && head -1 "$T/tty.txt" | grep -Eq 'refusing to write (an HDF5 file|a PNG) to a terminal'; then
            pass "$name refuses a terminal first"
        else fail "$name refuses a terminal first" "rc=$rc $(head -c 300 "$T/tty.txt")"; fi
    done
fi
$PY -c "
import h5py, numpy as np
f = h5py.File('$T/other.h5', 'w'); f.attrs['kind'] = 'images'
f['images'] = np.zeros((3, 1, 2, 2), np.float32); f['ids'] = np.arange(3)"
check_error "gather: id missing from the images" 1 "no image with id" "$T/b7.h5" \
    cnn-topk -k 2 --probs --gather "$T/other.h5" -o "$T/b7.h5" "$T/acts.h5"
check_error "gather: not an images file" 1 "is a features file \(expected images\)" "$T/b8.h5" \
    cnn-topk -k 2 --probs --gather "$T/fc.h5" -o "$T/b8.h5" "$T/acts.h5"
