#!/bin/sh
# The model engine against PyTorch (tests/ref/engine_ref.py): activations of
# every node, input gradients under the three ReLU rules, weight gradients;
# and malformed model files rejected with one line naming file and node.
. "$(dirname "$0")/../lib.sh"
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
DRV=$BUILD/tests/engine_driver
REF=$TOP/tests/ref/engine_ref.py

if [ ! -x "$DRV" ]; then
    fail "engine driver built" "$DRV missing (make BUILD=...)"
    exit 0
fi
if ! $PY -c 'import torch, h5py' 2>/dev/null; then
    skip "engine vs PyTorch" "python3-torch or h5py missing"
    exit 0
fi

# Every product split over threads, however small (common/nn/gemm.c).
export CNN_PAR_FLOPS=1
check_py "chain (strided asymmetric conv, BatchNorm, LRN, ceil max-pool, grouped dilated conv, LeakyReLU, AvgPool, Dense, BGR) matches PyTorch" \
    "$REF" "$DRV" "$T" chain
check_py "DAG (1x1 and depthwise conv, Clip, Tanh, Add of 3, Concat, pools, Softmax) matches PyTorch" \
    "$REF" "$DRV" "$T" dag
check_py "today's ops (HardSwish, SiLU, GELU, Elu, PRelu, Softplus, HardSigmoid gate, broadcast Mul/Sub/Div/Add, GlobalMaxPool, LogSoftmax) match PyTorch" \
    "$REF" "$DRV" "$T" modern
check_py "the same ops on maps large enough for the threaded loops match PyTorch" \
    "$REF" "$DRV" "$T" modern_big
check_py "backward from a middle node (even LRN, bias-free conv/dense, strided dilated depthwise) matches PyTorch" \
    "$REF" "$DRV" "$T" middle
check_py "convolutions in several chunks (transposed-convolution and col2im input gradients, padded 1x1) match PyTorch" \
    "$REF" "$DRV" "$T" big
check_py "3x3 convolutions by Winograd F(4x4,3x3) (padded, asymmetric, odd sizes, chunks) match PyTorch" \
    "$REF" "$DRV" "$T" wino
check_py "Winograd with its transformed weights made in blocks of output channels (256 -> 60) matches PyTorch" \
    "$REF" "$DRV" "$T" wino_blocks
check_py "NaN and infinite inputs through ReLU, LeakyReLU, Clip, both max-pool paths, 1x1 conv, Softmax: NaN where PyTorch has NaN" \
    "$REF" "$DRV" "$T" nan
check_py "LayerNorm over channels, InstanceNorm, ChannelShuffle, ChannelSlice, dilated (ceil-mode) max-pools match PyTorch" \
    "$REF" "$DRV" "$T" norms
check_py "Resize (nearest floor and half-pixel, bilinear half-pixel and align_corners; up and down) matches PyTorch" \
    "$REF" "$DRV" "$T" resize
check_py "ConvTranspose (strided, grouped, dilated, asymmetric pads, output_padding) matches PyTorch" \
    "$REF" "$DRV" "$T" deconv
check_py "MobileNet-like depthwise convolutions (3x3 stride 1 and 2, 5x5, dilated, tails) match PyTorch" \
    "$REF" "$DRV" "$T" mobile
# NaN and infinities through the ops of today's CNNs, node by node: NaN
# where PyTorch has NaN, the same infinities (issue 17).
for net in modern norms resize deconv mobile; do
    check_py "NaN and infinite inputs through the $net net: NaN and infinities where PyTorch has them" \
        "$REF" "$DRV" "$T" nan_$net
done
export CNN_CONV_WINOGRAD=0
check_py "the same net with Winograd off (im2col) matches PyTorch" "$REF" "$DRV" "$T" wino
unset CNN_CONV_WINOGRAD
# The engine's own packed GEMM (ops/pack.c) takes the convolutions with
# enough output channels by default; =1 forces it on every one, =0 keeps
# every one on OpenBLAS (as an AVX2 build does).
for v in 1 0; do
    export CNN_CONV_PACK=$v
    for net in chain dag big nan; do
        check_py "$net, CNN_CONV_PACK=$v (packed AVX-512 GEMM always / never), matches PyTorch" \
            "$REF" "$DRV" "$T" $net
    done
done
unset CNN_CONV_PACK

$PY "$REF" --bad "$T"
run_bad() { "$DRV" "$T/$1" "$T/bad_images.h5" "$T/bad_seed.h5" fc "$T/out.h5"; }
check_error "unknown op is refused" 1 "bad_op.h5: node 'l1': unknown op 'Swish'" "$T/out.h5" run_bad bad_op.h5
check_error "input from a later node is refused" 1 "bad_later.h5: node 'l1'.*not an earlier node" "$T/out.h5" run_bad bad_later.h5
check_error "a node reading itself (cycle) is refused" 1 "bad_self.h5: node 'lrn'.*not an earlier node" "$T/out.h5" run_bad bad_self.h5
check_error "input naming no node is refused" 1 "bad_missing.h5: node 'lrn'.*'nosuch' is not a node" "$T/out.h5" run_bad bad_missing.h5
check_error "weight shape mismatch is refused" 1 "bad_wshape.h5: node 'fc' \\(Dense\\): weight expects 7 inputs, the input gives 5x2x1 = 10" "$T/out.h5" run_bad bad_wshape.h5
check_error "unknown attribute is refused" 1 "bad_attr.h5: node 'mp'.*unknown attribute 'strides'" "$T/out.h5" run_bad bad_attr.h5
check_error "attribute with too many values is refused" 1 "bad_nattr.h5: node 'c1'.*'stride' has 3 values" "$T/out.h5" run_bad bad_nattr.h5
check_error "shapes that do not broadcast are refused" 1 "bad_bcast.h5: node 'm' \\(Mul\\): input 'fc' is 3x1x1 and 'dw' is 5x.*do not broadcast" "$T/out.h5" run_bad bad_bcast.h5
check_error "missing weight is refused" 1 "bad_noweight.h5: node 'c1'.*missing weight 'weight'" "$T/out.h5" run_bad bad_noweight.h5
check_error "file without nodes is refused" 1 "bad_nonodes.h5: no /nodes group" "$T/out.h5" run_bad bad_nonodes.h5
check_error "file of another kind is refused" 1 "bad_kind.h5: is a images file \\(expected model\\)" "$T/out.h5" run_bad bad_kind.h5
if run_bad nan_weight.h5 >"$T/.out" 2>"$T/.err" && grep -q "nan_weight.h5: node 'c1': weight 'weight' has 1 non-finite" "$T/.err"
then pass "NaN weights only warn"; else fail "NaN weights only warn" "$(head -c 300 "$T/.err")"; fi
