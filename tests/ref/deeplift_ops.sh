#!/bin/sh
# The newer pointwise ops in the attribution methods that keep per-op
# lists (tests/ref/deeplift_ops_ref.py builds the net): DeepLift's rescale
# rule through Elu, Selu and Softplus, Captum's max-pool rule through
# elementwise Max and Min of computed tensors, Mean as a linear op, checked
# by completeness (the attributions add up to f(x) - f(0) of float64
# PyTorch); cnn-occlude's receptive-field cones passing through the same
# ops: equal to --exact-naive, and cheaper than recomputing whole maps.
. "$(dirname "$0")/../lib.sh"
REF=$TOP/tests/ref/deeplift_ops_ref.py

if ! $PY -c 'import torch, onnx, h5py' 2>/dev/null; then
    skip "DeepLift / occlusion on the newer pointwise ops" "python3-torch/onnx/h5py missing"
    exit 0
fi
if ! $PY "$REF" export "$T" >"$T/export.log" 2>&1; then
    fail "write the net" "$(tail -c 400 "$T/export.log")"
    exit 0
fi
check "cnn-import the Elu/Selu/Softplus/Max/Min/Mean net" cnn-import -q "$T/model.onnx" -o "$T/m.h5"
check "deeplift on it" cnn-saliency -q -m "$T/m.h5" -M deeplift -t pred -o "$T/dl.h5" "$T/images.h5"
check_py "deeplift through Elu, Selu, Softplus, Max, Min, Mean sums to f(x) - f(0)" \
    "$REF" sum "$T" "$T/dl.h5"
sed 's/^/# /' "$T/.out"

cnn-occlude -q -m "$T/m.h5" -t pred -w 3 --stride 2 --output raw -o "$T/inc.h5" "$T/images.h5"
cnn-occlude -q -m "$T/m.h5" -t pred -w 3 --stride 2 --output raw --exact-naive \
    -o "$T/naive.h5" "$T/images.h5"
check_py "occlusion through Elu, Selu, Softplus, Max, Min, Mean equals --exact-naive" -c '
import sys, h5py, numpy as np
a = h5py.File(sys.argv[1])["maps"][...]; b = h5py.File(sys.argv[2])["maps"][...]
e = np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)
sys.exit(0 if e < 1e-5 else "relative difference %g" % e)' "$T/inc.h5" "$T/naive.h5"
# with every op of this net pointwise to the cones, 19% of brute force's
# multiply-accumulates; a pointwise op missing from the cone's list makes
# it recompute whole maps (25% when Selu, Max, Min and Mean were missing)
pct=$(cnn-occlude --stats -m "$T/m.h5" -t pred -w 3 --stride 2 --output raw -o "$T/st.h5" \
      "$T/images.h5" 2>&1 | sed -n 's/.*(\([0-9.]*\)%)$/\1/p')
if [ -n "$pct" ] && awk -v p="$pct" 'BEGIN { exit !(p < 21) }'; then
    pass "occlusion cones pass through the pointwise ops ($pct% of brute force)"
else fail "occlusion cones pass through the pointwise ops" "computed ${pct:-?}% of brute force, want < 21%"; fi
