#!/bin/sh
# torchvision's squeeze-and-excitation and mobile families through ONNX
# (tests/ref/zoo_se_ref.py): EfficientNet (SiLU written as x*sigmoid(x),
# SE gates: Mul of a C x H x W map by a C x 1 x 1 one), MobileNetV3
# (HardSigmoid gates, HardSwish as x*HardSigmoid(x) before opset 14 and as
# its own op from 14), MnasNet (ReduceMean over H, W without keepdims),
# RegNetY (SE with ReLU) and RegNetX. Random weights made a real test
# (BatchNorm statistics from a pass over sample images), exported by
# Debian's python3-torch/torchvision at opsets 11, 13 and 17; cnn-import,
# cnn-forward's logits against float64 PyTorch to 1e-4 of the largest
# |logit|, and cnn-saliency's input gradient of one logit likewise on the
# EfficientNet and the MobileNetV3, also under the guided-backprop and
# deconvnet rules. First 'mix', a small net of every op
# and pattern these need (zoo_se_ref.py), at opsets 11, 13 and 17.
# ZOO_FULL=1 adds the big ones: efficientnet_v2_s, mobilenet_v3_large at
# 96x96 (opset 11: HardSigmoid folded), googlenet at 96x96 and inception_v3
# at 299x299 (the Winograd path's precision on a deep net; several minutes).
. "$(dirname "$0")/../lib.sh"
REF=$TOP/tests/ref/zoo_se_ref.py

if ! $PY -c 'import torch, torchvision, onnx, h5py' 2>/dev/null; then
    skip "torchvision zoo (SE and mobile families)" "Debian's python3-torchvision/python3-onnx/python3-h5py missing"
    exit 0
fi
for b in cnn-import cnn-forward cnn-saliency; do
    if [ ! -x "$BIN/$b" ]; then skip "torchvision zoo (SE and mobile families)" "$b not built"; exit 0; fi
done

CASES="mix:11:16 mix:13:16 mix:17:16 efficientnet_b0:13:64 mobilenet_v3_small:13:64 mobilenet_v3_small:17:64 mnasnet0_5:11:64
regnet_y_400mf:13:64 regnet_x_400mf:17:64"
GRAD="mix-11 mix-13 mix-17 efficientnet_b0-13 mobilenet_v3_small-13"
RULES="efficientnet_b0-13 mobilenet_v3_small-13"   # guided backprop and deconvnet too
if [ -n "${ZOO_FULL:-}" ]; then
    CASES="$CASES efficientnet_v2_s:13:64 mobilenet_v3_large:11:96 googlenet:13:96 inception_v3:13:299"
    GRAD="$GRAD mobilenet_v3_large-11"
fi
# one Python process exports them all: torch takes seconds to load
$PY "$REF" export "$T" $CASES >"$T/export.log" 2>&1
for c in $CASES; do
    arch=${c%%:*}; rest=${c#*:}; op=${rest%%:*}; d=$T/$arch-$op
    if [ -f "$d/ref.npz" ]; then pass "$arch opset $op: export from PyTorch (random weights, BatchNorm statistics from sample images)"
    else fail "$arch opset $op: export from PyTorch" "$(grep -v Warning "$T/export.log" | tail -c 400)"; continue; fi
    check "$arch opset $op: cnn-import" cnn-import -q "$d/model.onnx" -o "$d/model.h5"
    [ -f "$d/model.h5" ] || continue
    check "$arch opset $op: cnn-forward" cnn-forward -q -m "$d/model.h5" "$d/images.h5" -o "$d/acts.h5"
    [ -f "$d/acts.h5" ] || continue
    check_py "$arch opset $op: logits equal float64 PyTorch's to 1e-4" "$REF" logits "$d" "$d/acts.h5"
    sed 's/^/# /' "$T/.out"
    case " $GRAD " in *" $arch-$op "*)
        check "$arch opset $op: cnn-saliency -M gradient" cnn-saliency -q -m "$d/model.h5" -M gradient -t class=7 "$d/images.h5" -o "$d/maps.h5"
        [ -f "$d/maps.h5" ] &&
            check_py "$arch opset $op: input gradient of a logit equals float64 PyTorch's to 1e-4" "$REF" grad "$d" "$d/maps.h5"
        ;;
    esac
    case " $RULES " in *" $arch-$op "*)
        for rule in guided deconvnet; do
            check "$arch opset $op: cnn-saliency -M $rule" cnn-saliency -q -m "$d/model.h5" -M $rule -t class=7 "$d/images.h5" -o "$d/maps.h5"
            [ -f "$d/maps.h5" ] &&
                check_py "$arch opset $op: $rule input gradient (the rule on ReLU, SiLU, HardSwish) equals float64 PyTorch's to 1e-4" \
                    "$REF" grad "$d" "$d/maps.h5" $rule
        done
        ;;
    esac
    rm -f "$d/acts.h5" "$d/maps.h5"
done

# the folds: SiLU and HardSwish nodes, not Sigmoid/HardSigmoid times x
info_ops() { cnn-info "$1" 2>/dev/null | awk 'NR > 5 { print $3 }'; }
d=$T/efficientnet_b0-13
if [ -f "$d/model.h5" ]; then
    n=$(info_ops "$d/model.h5" | grep -c '^SiLU$')
    if [ "$n" -eq 49 ]; then pass "efficientnet_b0: x*sigmoid(x) folded into 49 SiLU nodes (the 16 SE gates stay Sigmoid)"
    else fail "efficientnet_b0: x*sigmoid(x) folded into SiLU" "$n SiLU nodes, 49 expected"; fi
fi
d=$T/mobilenet_v3_small-13
if [ -f "$d/model.h5" ]; then
    n=$(info_ops "$d/model.h5" | grep -c '^HardSwish$')
    if [ "$n" -eq 19 ]; then pass "mobilenet_v3_small opset 13: x*HardSigmoid(x) folded into 19 HardSwish nodes"
    else fail "mobilenet_v3_small opset 13: x*HardSigmoid(x) folded into HardSwish" "$n HardSwish nodes, 19 expected"; fi
fi

# bad input: one clear line naming node, op and opset; no output file
if $PY "$REF" bad "$T"; then
    check_error "Mul of C x H x W and C' x 1 x 1 that do not broadcast: clear error" 1 \
        "bcast.onnx: node 'se_mul' \(Mul, opset 13\): Mul of tensors shaped 5x8x8 and 4x1x1 .*do not broadcast" \
        "$T/bad1.h5" cnn-import "$T/bcast.onnx" -o "$T/bad1.h5"
    check_error "ReduceMean over channels: clear error" 1 \
        "reduce_c.onnx: (node 'chan_mean' \(ReduceMean, opset 13\): ReduceMean over these axes is not supported \(only over the spatial axes|the graph output 'y' is a step of a written-out normalisation, which is not supported)" \
        "$T/bad2.h5" cnn-import "$T/reduce_c.onnx" -o "$T/bad2.h5"
    check_error "Mul of a map and a flattened vector (ranks 4 and 2): clear error" 1 \
        "ranks.onnx: node 'rank_mul' \(Mul, opset 13\): Mul of a rank-4 and a rank-2 tensor is not supported" \
        "$T/bad3.h5" cnn-import "$T/ranks.onnx" -o "$T/bad3.h5"
else
    fail "writing the bad ONNX files"
fi
exit 0
