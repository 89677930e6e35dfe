#!/bin/sh
# Single ONNX ops in the forms torch.onnx.export does not write, built by
# hand (tests/ref/onnx_ops_ref.py), forward and backward against float64
# PyTorch to 1e-4: ConvTranspose with output_shape (growing and cropping
# the natural size, with dilation and output_padding) and with auto_pad
# SAME_UPPER / SAME_LOWER (grouped too); Sum of three and four computed
# tensors; Mean, Max and Min of two to four computed tensors broadcast along
# C, H and W, and Max/Min of tied inputs (each of t tied inputs gets 1/t of
# the gradient, PyTorch's rule); Selu; Resize cubic as PyTorch exports bicubic F.interpolate (scale 2,
# sizes up and down, align_corners both ways). Bad input: one line naming node, op and opset; no output file.
. "$(dirname "$0")/../lib.sh"
REF=$TOP/tests/ref/onnx_ops_ref.py
DRV=$TOP/${BUILD:-build}/tests/engine_driver

if ! $PY -c 'import torch, onnx, h5py' 2>/dev/null; then
    skip "ONNX single ops" "Debian's python3-torch/python3-onnx/python3-h5py missing"
    exit 0
fi
if [ ! -x "$BIN/cnn-import" ] || [ ! -x "$DRV" ]; then
    skip "ONNX single ops" "cnn-import or tests/engine_driver not built"
    exit 0
fi
if ! $PY "$REF" export "$T" >"$T/export.log" 2>&1; then
    fail "ONNX single ops: write the graphs" "$(tail -c 400 "$T/export.log")"
    exit 0
fi
for d in "$T"/*/; do
    c=$(basename "$d")
    check "$c: cnn-import" cnn-import -q "$d/model.onnx" -o "$d/model.h5"
    [ -f "$d/model.h5" ] || continue
    last=$(cnn-info "$d/model.h5" | awk 'NR > 5 && $1 ~ /^[0-9]+$/ { n = $2 } END { print n }')
    if "$DRV" "$d/model.h5" "$d/images.h5" "$d/seed.h5" "$last" "$d/out.h5" >/dev/null 2>"$T/.drv"; then
        check_py "$c: output and input gradient equal float64 PyTorch's" "$REF" compare "$d" "$d/out.h5" "$last"
        sed 's/^/# /' "$T/.out"
    else
        fail "$c: engine driver" "$(head -c 300 "$T/.drv")"
    fi
done

$PY "$REF" bad "$T"
check_error "ConvTranspose whose output_shape would grow at its start: clear error" 1 \
    "bad_grow.onnx: node 'up' \(ConvTranspose, opset 13\): output_shape 13 needs the output to grow at its start" \
    "$T/bad1.h5" cnn-import "$T/bad_grow.onnx" -o "$T/bad1.h5"
check_error "Sum of three inputs, one constant: clear error" 1 \
    "bad_const.onnx: node 'sum' \(Sum, opset 13\): Sum of 3 inputs with a constant one \(input 1\)" \
    "$T/bad2.h5" cnn-import "$T/bad_const.onnx" -o "$T/bad2.h5"
check_error "Sum of three inputs of two shapes: clear error" 1 \
    "bad_sum.onnx: node 'sum' \(Sum, opset 13\): Sum of 3 inputs shaped 4x7x6 and 4x3x3 is not supported" \
    "$T/bad3.h5" cnn-import "$T/bad_sum.onnx" -o "$T/bad3.h5"
check_error "Max of tensors that do not broadcast: clear error" 1 \
    "bad_max.onnx: node 'max' \(Max, opset 13\): Max of tensors shaped 4x7x6 and ... 4x3x3 \(C x H x W per image, input 1\): they do not broadcast" \
    "$T/bad4.h5" cnn-import "$T/bad_max.onnx" -o "$T/bad4.h5"
check_error "Min with a constant input: clear error" 1 \
    "bad_min.onnx: node 'min' \(Min, opset 13\): input 1 is a constant: Min of a constant is not supported" \
    "$T/bad5.h5" cnn-import "$T/bad_min.onnx" -o "$T/bad5.h5"
exit 0
