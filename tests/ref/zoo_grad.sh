#!/bin/sh
# torchvision classification CNNs (random weights made a real test by
# tests/ref/zoo_se_ref.py's make_real) exported to ONNX at opsets 11 to 17
# by Debian's python3-torch/torchvision, imported by cnn-import: per family
# cnn-forward's logits, and cnn-saliency's input gradient (-M gradient),
# guided backprop (-M guided) and Grad-CAM on a named PyTorch module
# (-M gradcam -l layer4, features.denseblock4, ...) of logit 7 against
# float64 PyTorch, each within 1e-4 of the largest |value| per image. The
# float64 reference takes the ReLU, max-pool, HardSwish (-3, 3) and
# HardSigmoid decisions of our own forward, applies the guided rule of
# cnn-saliency(1) to ReLU, SiLU, GELU and HardSwish (g f'(x) where g > 0)
# and the true derivative to the gates (Sigmoid, HardSigmoid), and
# Grad-CAM's map weighs our activation of the module (tests/ref/
# zoo_grad_ref.py says why and how). Nets without BatchNorm or LayerNorm get
# each layer rescaled to unit output over sample images. Default families
# beyond ReLU/MaxPool: mobilenet_v3_small (HardSwish, HardSigmoid gates)
# and convnext_narrow (torchvision's ConvNeXt class at stages 32 to 256
# wide, two blocks each: GELU, LayerNorm, layer scale drawn in [0.1, 1]).
# alexnet and vgg run at 224x224 (their classifier reads 6x6 and 7x7 maps)
# with the 4096-wide Linear layers cut to 256.
# ZOO_FULL=1 adds mnasnet0_5, regnet_x_400mf and the big ones:
# wide_resnet50_2, vgg11_bn, googlenet, inception_v3 (299x299, the
# Winograd path's precision on a deep net), efficientnet_b0 and
# efficientnet_v2_s (SiLU, Sigmoid gates; tests/ref/zoo_se.sh checks
# efficientnet_b0's gradient and guided rule by default),
# mobilenet_v3_large and convnext_tiny (several minutes more).
# ZOO_GRAD_CASES picks cases.
. "$(dirname "$0")/../lib.sh"
REF=$TOP/tests/ref/zoo_grad_ref.py

if ! $PY -c 'import torch, torchvision, onnx, h5py' 2>/dev/null; then
    skip "torchvision zoo (gradients)" "Debian's python3-torchvision/python3-onnx/python3-h5py missing"
    exit 0
fi
for b in cnn-import cnn-forward cnn-saliency cnn-info; do
    if [ ! -x "$BIN/$b" ]; then skip "torchvision zoo (gradients)" "$b not built"; exit 0; fi
done

# ARCH:OPSET:SIZE:LAYER (the Grad-CAM module)
CASES="resnet50:11:64:layer4 resnext50_32x4d:12:64:layer4.2 densenet121:15:64:features.denseblock4
squeezenet1_1:16:64:features.12 alexnet:17:224:features.11 mobilenet_v2:14:64:features.18
shufflenet_v2_x0_5:12:64:conv5 regnet_y_400mf:13:64:trunk_output mobilenet_v3_small:13:64:features.12
convnext_narrow:14:64:features.7"
if [ -n "${ZOO_GRAD_CASES:-}" ]; then
    CASES=$ZOO_GRAD_CASES    # a subset, while working on one family
elif [ -n "${ZOO_FULL:-}" ]; then
    CASES="$CASES mnasnet0_5:12:64:layers regnet_x_400mf:13:64:trunk_output.block4 wide_resnet50_2:14:64:layer4 vgg11_bn:14:224:features.27 googlenet:12:96:inception5b
inception_v3:13:299:Mixed_7c efficientnet_b0:13:64:features.8 efficientnet_v2_s:15:64:features.7 mobilenet_v3_large:17:64:features.16
convnext_tiny:14:64:features.7"
fi
# one Python process exports them all: torch takes seconds to load
$PY "$REF" export "$T" $CASES >"$T/export.log" 2>&1
checks=""
for c in $CASES; do
    arch=${c%%:*}; rest=${c#*:}; op=${rest%%:*}; layer=${c##*:}; d=$T/$arch-$op
    if [ -f "$d/model.pt" ]; then pass "$arch opset $op: export from PyTorch (random weights, BatchNorm statistics from sample images)"
    else fail "$arch opset $op: export from PyTorch" "$(grep -v Warning "$T/export.log" | tail -c 400)"; continue; fi
    check "$arch opset $op: cnn-import" cnn-import -q "$d/model.onnx" -o "$d/model.h5"
    rm -f "$d/model.onnx"
    [ -f "$d/model.h5" ] || continue
    # --batch 1 here and for the gradient: the 2nd and 3rd images run on
    # what the engine kept from the 1st call (packed and transformed weights,
    # the direct path: direct.h), the paths a single call never takes;
    # guided backprop and Grad-CAM below run the 3 images as one batch
    check "$arch opset $op: cnn-forward --batch 1" \
        cnn-forward -q --batch 1 -m "$d/model.h5" "$d/images.h5" -o "$d/logits.h5"
    # our decisions: every ReLU, Clip and HardSigmoid output, every MaxPool
    # and HardSwish input
    keep=$(cnn-info "$d/model.h5" | awk 'NR > 5 && ($3 == "ReLU" || $3 == "Clip" || $3 == "HardSigmoid") { print $2 }
        NR > 5 && ($3 == "MaxPool" || $3 == "HardSwish") { print $4 }' | sort -u | paste -sd, -)
    if [ -n "$keep" ]; then
        check "$arch opset $op: cnn-forward -l (our decisions: ReLU, max-pool, HardSwish, HardSigmoid)" \
            cnn-forward -q -l "$keep" -m "$d/model.h5" "$d/images.h5" -o "$d/masks.h5"
    else
        cnn-forward -q -m "$d/model.h5" "$d/images.h5" -o "$d/masks.h5"
    fi
    check "$arch opset $op: cnn-forward -l $layer" \
        cnn-forward -q -l "$layer" -m "$d/model.h5" "$d/images.h5" -o "$d/camact.h5"
    check "$arch opset $op: cnn-saliency -M gradient --batch 1" \
        cnn-saliency -q --batch 1 -m "$d/model.h5" -M gradient -t class=7 "$d/images.h5" -o "$d/gradient.h5"
    check "$arch opset $op: cnn-saliency -M guided" \
        cnn-saliency -q -m "$d/model.h5" -M guided -t class=7 "$d/images.h5" -o "$d/guided.h5"
    check "$arch opset $op: cnn-saliency -M gradcam -l $layer (a PyTorch module path)" \
        cnn-saliency -q -m "$d/model.h5" -M gradcam -l "$layer" -t class=7 "$d/images.h5" -o "$d/gradcam.h5"
    checks="$checks $arch-$op:$layer"
done
# one Python process checks them all; its lines become TAP lines
if [ -n "$checks" ]; then
    # shellcheck disable=SC2086
    $PY "$REF" check "$T" $checks >"$T/check.log" 2>"$T/check.err" ||
        fail "reference checks" "$(tail -c 400 "$T/check.err")"
    while IFS="$(printf '\t')" read -r st what detail; do
        if [ "$st" = ok ]; then pass "$what"; echo "# $detail"
        else fail "$what" "$detail"; fi
    done <"$T/check.log"
fi
exit 0
