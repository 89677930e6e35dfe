#!/bin/sh
# ONNX import against PyTorch and ONNX's own conformance data (TAP).
#  1. Classic architectures (written out in tests/ref/onnx_ref.py: torchvision
#     is not in Debian) with random weights, exported by Debian's python3-torch
#     at opsets 9, 11, 13 and 17: every imported node's activation from
#     cnn-forward --all, and the input gradient (tests/engine_driver), equal
#     PyTorch's to 1e-4 relative.
#  2. libonnx-testdata: node tests and pytorch-converted/pytorch-operator
#     models whose ops we import; failures fail, the out-of-scope list goes to
#     docs/onnx-conformance.md.
#  3. Bad input: truncated and random bytes, external data, a tensor claiming
#     2 GB in a small file, dynamic input size without --size, an unsupported
#     op, an unknown opset: one clear line, exit 1, no output file.
. "$(dirname "$0")/../lib.sh"

REF=$TOP/tests/ref/onnx_ref.py
DRV=$TOP/${BUILD:-build}/tests/engine_driver

if ! $PY -c 'import torch, onnx, h5py, numpy' 2>/dev/null; then
    skip "ONNX reference tests" "Debian's python3-torch/python3-onnx/python3-h5py missing"
    exit 0
fi
for b in cnn-import cnn-forward; do
    if [ ! -x "$BIN/$b" ]; then skip "ONNX reference tests" "$b not built"; exit 0; fi
done
# two bytes that look like ONNX: an importer that reads ONNX calls them corrupt
printf '\010\007' >"$T/probe.onnx"
if cnn-import "$T/probe.onnx" -o "$T/probe.h5" 2>&1 | grep -q 'not yet supported'; then
    skip "ONNX reference tests" "cnn-import does not dispatch ONNX to import_onnx() yet"
    exit 0
fi

# ---------------------------------------------------------- architectures
# Every architecture at one or more opsets; together every opset 9..17 the
# exporter's main paths take (Clip attributes vs inputs, Unsqueeze axes
# attribute vs input, Softmax axis semantics, Pad attributes vs inputs).
CASES="misc:9 misc:11 misc:13 misc:17 misc_dyn:9 misc_dyn:13 resnet18_dyn:17 alexnet:9 alexnet:17 zfnet_lrn:11
vgg11_bn:13 vgg11_bn_keepbn:9 vgg16:9 resnet18:9 resnet18_keepbn:13 resnet18:17
squeezenet1_1:11 squeezenet1_1:13 mobilenet_v2:9 mobilenet_v2_keepbn:11 mobilenet_v2:17"
# one Python process exports them all: torch takes seconds to load
$PY "$REF" export "$T" $CASES >"$T/export.log" 2>&1
for c in $CASES; do
    arch=${c%:*}; op=${c#*:}; d=$T/$arch-$op
    if [ -f "$d/ref.npz" ]; then pass "$arch opset $op: export from PyTorch"
    else fail "$arch opset $op: export from PyTorch" "$(grep "^$arch opset $op" "$T/export.log" | head -c 400)"; continue; fi
    check "$arch opset $op: cnn-import" cnn-import -q "$d/model.onnx" -o "$d/model.h5"
    [ -f "$d/model.h5" ] || continue
    check "$arch opset $op: cnn-forward --all" cnn-forward -q --all -m "$d/model.h5" "$d/images.h5" -o "$d/acts.h5"
    [ -f "$d/acts.h5" ] || continue
    if [ -x "$DRV" ]; then
        last=$($PY "$REF" last-node "$d/model.h5" 2>/dev/null)
        "$DRV" "$d/model.h5" "$d/images.h5" "$d/seed.h5" "$last" "$d/grad.h5" >/dev/null 2>"$T/.drv" ||
            fail "$arch opset $op: engine driver" "$(head -c 300 "$T/.drv")"
        if [ -f "$d/grad.h5" ]; then
            check_py "$arch opset $op: every activation and the input gradient equal PyTorch's" \
                "$REF" compare "$d" "$d/acts.h5" "$d/grad.h5"
        fi
    else
        check_py "$arch opset $op: every activation equals PyTorch's" "$REF" compare "$d" "$d/acts.h5"
    fi
    rm -f "$d/acts.h5" "$d/grad.h5"
done

# A model exported at batch 1 runs at batch 3 (the images above have 3), and
# the names are PyTorch's module paths, the ONNX node names their aliases.
if [ -f "$T/resnet18-17/model.h5" ]; then
    check "names are PyTorch module paths (layer1.0.conv1)" \
        cnn-forward -q -l layer1.0.conv1 -m "$T/resnet18-17/model.h5" "$T/resnet18-17/images.h5" -o "$T/one.h5"
    check "ONNX node names are aliases (/layer1/layer1.0/conv1/Conv)" \
        cnn-forward -q -l /layer1/layer1.0/conv1/Conv -m "$T/resnet18-17/model.h5" "$T/resnet18-17/images.h5" -o "$T/one.h5"
    # a module path in every tool that names a layer; two names of one layer
    # (a module and its last block) keep one /act/ dataset in cnn-forward
    R=$T/resnet18-17/model.h5 RI=$T/resnet18-17/images.h5
    rm -f "$T/two.h5"
    check "cnn-forward -l layer4,layer4.1 (one layer, two names)" \
        cnn-forward -q -l layer4,layer4.1,layer3 -m "$R" "$RI" -o "$T/two.h5"
    nact=$(h5ls "$T/two.h5/act" 2>/dev/null | wc -l)
    if [ "$nact" -eq 2 ]; then pass "... keeps layer4.1's activations once (2 datasets)"
    else fail "... keeps layer4.1's activations once" "$nact datasets in /act"; fi
    check "cnn-extract-layer -l layer4 on those activations" \
        cnn-extract-layer -q -l layer4 -o "$T/ex.h5" "$T/two.h5"
    check "cnn-topk -l layer4" cnn-topk -q -l layer4 -k 1 -o "$T/tk.h5" "$T/two.h5"
    check "cnn-saliency -M gradcam -l layer4.1" \
        cnn-saliency -q -m "$R" -M gradcam -l layer4.1 -o "$T/gc.h5" "$RI"
    check "cnn-patches -l layer4" cnn-patches -q -m "$R" -l layer4 -k 1 -o "$T/pt.h5" "$RI"
    check "cnn-occlude -t unit=layer4:3" \
        cnn-occlude -q -m "$R" -t unit=layer4:3 -w 8 --stride 16 -o "$T/oc.h5" "$RI"
    check "cnn-ascend -t unit=layer4.1:5" cnn-ascend -q -m "$R" -t unit=layer4.1:5 --steps 1 -o "$T/as.h5"
    check_error "an unknown module lists the modules sharing its prefix, and did you mean" 1 \
        "no layer 'layr4' \\(layers starting 'lay': layer1 layer2 layer3 layer4; did you mean 'layer4'\\?\\)" "$T/bad.h5" \
        cnn-saliency -q -m "$R" -M gradcam -l layr4 -o "$T/bad.h5" "$RI"
    check_error "... in cnn-forward too" 1 "no layer 'layer4.7' \\(layers starting 'layer4.': layer4.0 layer4.1; did you mean" \
        "$T/bad.h5" cnn-forward -q -l layer4.7 -m "$R" -o "$T/bad.h5" "$RI"
fi

# --fold-bn: BatchNormalization folded into the convolutions, same logits
for c in resnet18_keepbn-13 mobilenet_v2_keepbn-11; do
    d=$T/$c
    [ -f "$d/model.h5" ] || continue
    check "$c: cnn-import --fold-bn" cnn-import -q --fold-bn "$d/model.onnx" -o "$d/fold.h5"
    n0=$(h5ls "$d/model.h5/nodes" 2>/dev/null | wc -l); n1=$(h5ls "$d/fold.h5/nodes" 2>/dev/null | wc -l)
    if [ "$n1" -lt "$n0" ]; then pass "$c: --fold-bn removes the BatchNorm nodes ($n0 -> $n1)"
    else fail "$c: --fold-bn removes the BatchNorm nodes" "$n0 -> $n1 nodes"; fi
    cnn-forward -q -m "$d/model.h5" "$d/images.h5" -o "$d/u.h5" 2>/dev/null
    cnn-forward -q -m "$d/fold.h5" "$d/images.h5" -o "$d/f.h5" 2>/dev/null
    check_py "$c: --fold-bn gives the same logits" "$REF" same-logits "$d/u.h5" "$d/f.h5"
done

# ---------------------------------------------------------- conformance
if [ -d /usr/share/libonnx-testdata/data ]; then
    check_py "libonnx-testdata conformance (node, pytorch-converted, pytorch-operator)" \
        "$REF" conformance "$BIN" "$T/onnx-conformance.md"
    grep '^conformance:' "$T/.out" | sed 's/^/# /'
    grep '^FAIL' "$T/.out" | head -20 | sed 's/^/# /'
    # the out-of-scope list lives in docs/ (README links it); refreshed
    # only when it changed, so an unchanged tree stays unchanged
    if [ -f "$T/onnx-conformance.md" ] &&
        ! cmp -s "$T/onnx-conformance.md" "$TOP/docs/onnx-conformance.md" 2>/dev/null; then
        mkdir -p "$TOP/docs" 2>/dev/null && cp "$T/onnx-conformance.md" "$TOP/docs/onnx-conformance.md" 2>/dev/null
    fi
else
    skip "libonnx-testdata conformance" "libonnx-testdata not installed"
fi

# ---------------------------------------------------------- bad input
src=$T/misc-13/model.onnx
if [ -f "$src" ]; then
    head -c 700 "$src" >"$T/trunc.onnx"
    check_error "truncated ONNX: clear error" 1 "trunc.onnx: .*(truncated|corrupt|not valid)" \
        "$T/out1.h5" cnn-import "$T/trunc.onnx" -o "$T/out1.h5"
    { printf '\010\007'; head -c 4000 /dev/urandom; } >"$T/random.onnx"
    check_error "random bytes after an ONNX header: clear error" 1 "random.onnx: " \
        "$T/out2.h5" cnn-import "$T/random.onnx" -o "$T/out2.h5"
    head -c 4000 /dev/urandom >"$T/noise.onnx"
    check_error "random bytes: clear error" 1 "noise.onnx: " \
        "$T/out3.h5" cnn-import "$T/noise.onnx" -o "$T/out3.h5"
    $PY "$REF" tamper external "$src" "$T/external.onnx"
    check_error "external data: clear error" 1 "external.onnx: .*external" \
        "$T/out4.h5" cnn-import "$T/external.onnx" -o "$T/out4.h5"
    $PY "$REF" tamper huge "$src" "$T/huge.onnx"
    check_error "a tensor claiming 2 GB in a small file: clear error" 1 "huge.onnx: .*(claims|holds)" \
        "$T/out5.h5" cnn-import "$T/huge.onnx" -o "$T/out5.h5"
    $PY "$REF" tamper dynamic "$src" "$T/dynamic.onnx"
    check_error "dynamic input size without --size: asks for --size WxH, as the option reads it" 1 \
        "dynamic.onnx: .*--size WxH \\(width x height\\)" \
        "$T/out6.h5" cnn-import "$T/dynamic.onnx" -o "$T/out6.h5"
    check "dynamic input size with --size 21x21" cnn-import -q --size 21x21 "$T/dynamic.onnx" -o "$T/out7.h5"
    $PY "$REF" tamper unsupported "$src" "$T/elu.onnx"
    check_error "unsupported op: names the op, the node and the opset" 1 \
        "elu.onnx: node 'my_celu': op Celu \(opset 13\) is not supported" \
        "$T/out8.h5" cnn-import "$T/elu.onnx" -o "$T/out8.h5"
    $PY "$REF" tamper opset "$src" "$T/opset.onnx"
    check_error "unknown opset: clear error" 1 "opset.onnx: opset 99 .*not supported" \
        "$T/out9.h5" cnn-import "$T/opset.onnx" -o "$T/out9.h5"
    mkdir -p "$T/fuzz"
    check_py "200 mutated ONNX files: exit 0 or 1 with one line, no crash" \
        "$REF" fuzz "$BIN/cnn-import" "$src" 200 "$T/fuzz"
fi
exit 0
