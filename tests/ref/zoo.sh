#!/bin/sh
# torchvision classification CNNs (random weights, BatchNorm statistics from
# random images, layer scales redrawn; tests/ref/zoo_ref.py) exported to ONNX
# (opset 13, 64x64) by Debian's python3-torch, imported by cnn-import: the
# logits of cnn-forward within 1e-4 of max|logit| of float64 PyTorch.
#   shufflenet_v2_x0_5   channel shuffle (Reshape-Transpose-Reshape), x.chunk
#                        (Slice of channels), ReduceMean over H, W
#   convnext_tiny_relu   the ConvNeXt block with ReLU for GELU: Transpose to
#                        NHWC and back, LayerNorm written out, Linear as
#                        MatMul + Add, layer scale, LayerNorm2d
#   convnext_tiny        the same with GELU (x * 0.5 * (1 + erf(x / sqrt 2)))
#   opsnet               a small net of Resize (nearest, bilinear, align_corners),
#                        InstanceNorm, dilated ceil-mode MaxPool
#   lrnnet               nn.LocalResponseNorm (exported as Mul, Unsqueeze, Pad,
#                        AveragePool, If, ..., Div: folded into LRN), ConvTranspose2d
. "$(dirname "$0")/../lib.sh"
REF=$TOP/tests/ref/zoo_ref.py

if ! $PY -c 'import torch, torchvision, onnx, h5py' 2>/dev/null; then
    skip "torchvision zoo" "Debian's python3-torch/torchvision/onnx/h5py missing"
    exit 0
fi
for arch in opsnet lrnnet shufflenet_v2_x0_5 convnext_tiny_relu convnext_tiny; do
    d=$T/$arch
    check_py "$arch: export from PyTorch (opset 13, O(1) logits that differ between images)" \
        "$REF" export "$arch" "$d"
    [ -f "$d/model.onnx" ] || continue
    check "$arch: cnn-import" cnn-import -q "$d/model.onnx" -o "$d/model.h5"
    [ -f "$d/model.h5" ] || continue
    check "$arch: cnn-forward" cnn-forward -q -m "$d/model.h5" "$d/images.h5" -o "$d/acts.h5"
    [ -f "$d/acts.h5" ] || continue
    check_py "$arch: logits within 1e-4 of float64 PyTorch" "$REF" compare "$d" "$d/acts.h5"
    sed 's/^/# /' "$T/.out"
done

# Module paths address what users know: a block by its prefix, a layer exactly.
d=$T/shufflenet_v2_x0_5
if [ -f "$d/model.h5" ]; then
    check "shufflenet: -l stage2.0.branch2.0 (module path)" \
        cnn-forward -q -l stage2.0.branch2.0 -m "$d/model.h5" "$d/images.h5" -o "$T/one.h5"
fi
d=$T/convnext_tiny_relu
if [ -f "$d/model.h5" ]; then
    check "convnext: -l features.1.0.block.2 (the LayerNorm)" \
        cnn-forward -q -l features.1.0.block.2 -m "$d/model.h5" "$d/images.h5" -o "$T/one.h5"
fi
exit 0
