#!/bin/sh
# cnn-saliency and cnn-patches against PyTorch (tests/ref/saliency_ref.py):
# every attribution method to 1e-4 relative on a small conv/ReLU/max-pool/
# dense net with per-channel preprocessing; SmoothGrad through a file of
# noise draws so both sides add the same noise; integrated gradients'
# completeness; Grad-CAM against its formula; the patches' top-k, crop
# boxes (brute-force receptive fields) and deconvnet projections; bad input.
. "$(dirname "$0")/../lib.sh"
REF=$TOP/tests/ref/saliency_ref.py

if ! $PY -c 'import torch, h5py' 2>/dev/null; then
    skip "cnn-saliency vs PyTorch" "python3-torch or h5py missing"
    exit 0
fi
$PY "$REF" setup "$T" || { fail "fixtures" "saliency_ref.py setup failed"; exit 0; }
M=$T/net.h5 I=$T/images.h5
sal() { cnn-saliency -q -m "$M" "$@" "$I"; }
# Comparisons are queued and run by one Python process at the end (torch
# takes seconds to import); each still prints its own TAP line.
: >"$T/cases"
queue() { name=$1; shift; printf '%s\t%s\n' "$name" "$*" >>"$T/cases"; }

check "cnn-saliency --help" cnn-saliency --help
check "cnn-patches --help" cnn-patches --help

# method  output  ref options  --  tool options
cmp_method() {
    name=$1 method=$2 out=$T/$3; shift 3
    refopts=""
    while [ "$1" != "--" ]; do refopts="$refopts $1"; shift; done
    shift
    if sal --method "$method" -o "$out" "$@" 2>"$T/.err"; then
        # shellcheck disable=SC2086
        queue "$name" saliency "$out" "$method" $refopts
    else
        fail "$name" "cnn-saliency failed: $(head -c 300 "$T/.err")"
    fi
}

cmp_method "gradient of the label's logit matches PyTorch" gradient g.h5 \
    target=label -- --target label
cmp_method "gradient of a probability, --reduce l2" gradient gp.h5 \
    target=class=2 measure=prob reduce=l2 -- -t class=cat --measure prob --reduce l2
cmp_method "guided backprop matches PyTorch's guided ReLU" guided gb.h5 \
    target=label reduce=max -- --reduce max
cmp_method "deconvnet of a unit's map maximum matches PyTorch" deconvnet dc.h5 \
    target=unit=conv2:1 -- -t unit=conv2:1
cmp_method "gradient of a unit's map mean, in batches of 4" gradient um.h5 \
    target=unit=relu2:3:mean reduce=sum -- -t unit=relu2:3:mean --reduce sum --batch 4
cmp_method "gradient of one position of a map" gradient up.h5 \
    target=unit=conv1:2@4,3 -- -t unit=conv1:2@4,3
cmp_method "gradient of the strongest map (sum) of relu2" gradient st.h5 \
    target=strongest=relu2 -- -t strongest=relu2
cmp_method "deconvnet of the strongest map by its maximum" deconvnet stm.h5 \
    target=strongest=conv2:max -- -t strongest=conv2:max
cmp_method "input x gradient matches PyTorch" input-x-gradient ixg.h5 \
    target=class=1 -- -t class=1
cmp_method "smoothgrad with a noise file matches PyTorch" smoothgrad sg.h5 \
    target=class=3 noise=0.2 -- -t class=3 --noise 0.2 --noise-file "$T/noise.h5"
cmp_method "guided backprop --smooth (composed) matches PyTorch" guided sgg.h5 \
    target=label noise=0.1 -- -t label --smooth --noise 0.1 --noise-file "$T/noise.h5"
cmp_method "integrated gradients (zeros, 16 steps) and completeness" integrated-gradients ig.h5 \
    target=pred steps=16 -- -t pred --steps 16
cmp_method "integrated gradients from a blurred baseline, probability" integrated-gradients igb.h5 \
    target=label measure=prob steps=8 baseline=blur:1.5 -- -t label --measure prob --steps 8 --baseline blur:1.5
cmp_method "integrated gradients from a constant baseline" integrated-gradients igv.h5 \
    target=class=0 steps=8 baseline=0.5 -- -t class=0 --steps 8 --baseline 0.5

# The other ops (BatchNorm, LeakyReLU, grouped conv, Clip, Add, AvgPool,
# Concat, padded MaxPool, GlobalAvgPool logits) on a DAG.
M2=$T/net2.h5
sal2() { cnn-saliency -q -m "$M2" "$@" "$I"; }
for meth in gradient guided deconvnet; do
    if sal2 --method $meth -t pred -o "$T/n2$meth.h5" 2>"$T/.err"; then
        queue "net with every op: $meth matches PyTorch" saliency "$T/n2$meth.h5" $meth net=net2 target=pred
    else fail "net with every op: $meth" "$(head -c 300 "$T/.err")"; fi
done
if sal2 --method integrated-gradients --steps 8 -t class=1 --measure prob -o "$T/n2ig.h5" 2>"$T/.err"; then
    queue "net with every op: integrated gradients of a probability" saliency "$T/n2ig.h5" \
        integrated-gradients net=net2 target=class=1 measure=prob steps=8
else fail "net with every op: integrated gradients" "$(head -c 300 "$T/.err")"; fi
if sal2 --method gradcam -l cat -t label -o "$T/n2gc.h5" 2>"$T/.err"; then
    queue "net with every op: Grad-CAM at a Concat" gradcam "$T/n2gc.h5" cat net=net2 target=label
else fail "net with every op: Grad-CAM" "$(head -c 300 "$T/.err")"; fi

if sal --method gradcam -l relu2 -o "$T/gc.h5" 2>"$T/.err"; then
    queue "Grad-CAM at relu2 matches its formula (bilinear, align_corners=False)" \
        gradcam "$T/gc.h5" relu2 target=label
else fail "Grad-CAM at relu2" "$(head -c 300 "$T/.err")"; fi
if sal --method gradcam -l pool1 -t class=2 -o "$T/gc1.h5" 2>"$T/.err"; then
    queue "Grad-CAM at pool1 for class 2" gradcam "$T/gc1.h5" pool1 target=class=2
else fail "Grad-CAM at pool1" "$(head -c 300 "$T/.err")"; fi

sal --method integrated-gradients --steps 2 -o "$T/ig2.h5" 2>/dev/null
sal --method integrated-gradients --steps 64 -o "$T/ig64.h5" 2>/dev/null
queue "integrated gradients' completeness error shrinks with more steps" \
    completeness "$T/ig2.h5" "$T/ig64.h5"
cnn-saliency -m "$M" --method integrated-gradients --steps 4 -o "$T/ig4.h5" "$I" 2>"$T/.err"
if grep -q "image 103: completeness error" "$T/.err"; then pass "completeness error per image on stderr"
else fail "completeness error per image on stderr" "$(head -c 300 "$T/.err")"; fi
if grep -q "completeness error mean .* over 6 images" "$T/.err"; then pass "completeness summary on stderr"
else fail "completeness summary on stderr" "$(head -c 300 "$T/.err")"; fi

# Seeded noise: same seed, same maps; a shard equals the rows of the whole.
sal --method smoothgrad --samples 5 --seed 3 -o "$T/s1.h5"
sal --method smoothgrad --samples 5 --seed 3 --batch 2 --range 2:5 -o "$T/s2.h5"
sal --method smoothgrad --samples 5 --seed 4 -o "$T/s3.h5"
queue "smoothgrad: a --range shard in other batches equals those rows" same "$T/s1.h5" "$T/s2.h5" 2:5
queue "smoothgrad: another seed draws other noise" differ "$T/s1.h5" "$T/s3.h5"

# Patches: top 3 of maps 0 and 2 of relu2, streamed in batches of 4.
if cnn-patches -q -m "$M" -l relu2 -k 3 --channels 0,2 --batch 4 -o "$T/p.h5" \
       --projections "$T/pp.h5" "$I" 2>"$T/.err"; then
    queue "patches: top-k, crop boxes (brute-force receptive fields), crops and deconvnet projections match PyTorch" \
        patches "$T/p.h5" "$T/pp.h5" relu2 3 0,2
else fail "cnn-patches runs" "$(head -c 300 "$T/.err")"; fi
if command -v cnn-render >/dev/null && [ -x "$BIN/cnn-render" ]; then
    check "patches file draws with cnn-render grid" cnn-render grid -o "$T/p.png" "$T/p.h5"
    check "saliency maps draw with cnn-render heatmap --signed" \
        cnn-render heatmap --signed --images "$I" -o "$T/g.png" "$T/g.h5"
fi

# Bad input: one line, non-zero exit, no output file.
check_error "unknown method" 2 "unknown method 'occlusion'" "$T/bad.h5" \
    cnn-saliency -m "$M" --method occlusion -o "$T/bad.h5" "$I"
check_error "unknown target layer" 1 "no layer 'conv9'" "$T/bad.h5" \
    cnn-saliency -m "$M" -t unit=conv9:0 -o "$T/bad.h5" "$I"
check_error "unknown gradcam layer" 1 "no layer 'conv9'" "$T/bad.h5" \
    cnn-saliency -m "$M" --method gradcam -l conv9 -o "$T/bad.h5" "$I"
check_error "gradcam on a non-spatial layer" 1 "gradcam layer 'fc1'.*not spatial" "$T/bad.h5" \
    cnn-saliency -m "$M" --method gradcam -l fc1 -o "$T/bad.h5" "$I"
check_error "gradcam without a layer" 2 "gradcam needs a layer" "$T/bad.h5" \
    cnn-saliency -m "$M" --method gradcam -o "$T/bad.h5" "$I"
check_error "integrated gradients with 0 steps" 2 "steps.*out of range" "$T/bad.h5" \
    cnn-saliency -m "$M" --method integrated-gradients --steps 0 -o "$T/bad.h5" "$I"
check_error "negative smoothgrad noise" 2 "noise.*out of range" "$T/bad.h5" \
    cnn-saliency -m "$M" --method smoothgrad --noise -0.1 -o "$T/bad.h5" "$I"
check_error "--measure prob with a unit target" 2 "measure prob is for class targets" "$T/bad.h5" \
    cnn-saliency -m "$M" -t unit=conv1:0 --measure prob -o "$T/bad.h5" "$I"
check_error "label target without labels" 1 "no /labels" "$T/bad.h5" \
    cnn-saliency -m "$M" -t label -o "$T/bad.h5" "$T/nolabels.h5"
check_error "class out of range" 1 "class 7 out of range" "$T/bad.h5" \
    cnn-saliency -m "$M" -t class=7 -o "$T/bad.h5" "$I"
check_error "unknown target word" 2 "unknown target 'best'" "$T/bad.h5" \
    cnn-saliency -m "$M" -t best -o "$T/bad.h5" "$I"
check_error "saliency: wrong image size" 1 "images are 3x10x10.*wants 3x12x12" "$T/bad.h5" \
    cnn-saliency -m "$M" -o "$T/bad.h5" "$T/small.h5"
check_error "patches: k larger than the dataset" 1 "k 7 is larger than the dataset \\(6 images" "$T/bad.h5" \
    cnn-patches -m "$M" -l relu2 -k 7 -o "$T/bad.h5" "$I"
check_error "patches: unknown layer" 1 "no layer 'conv9'" "$T/bad.h5" \
    cnn-patches -m "$M" -l conv9 -o "$T/bad.h5" "$I"
check_error "patches: wrong image size" 1 "images are 3x10x10.*wants 3x12x12" "$T/bad.h5" \
    cnn-patches -m "$M" -l relu2 -k 2 -o "$T/bad.h5" "$T/small.h5"
check_error "patches: channel out of range" 2 "channels" "$T/bad.h5" \
    cnn-patches -m "$M" -l relu2 --channels 9 -o "$T/bad.h5" "$I"

# The queued comparisons, one TAP line each.
$PY "$REF" batch "$T" "$T/cases" >"$T/results" 2>"$T/.pyerr"
cut -f1 "$T/cases" >"$T/names"
while IFS= read -r name; do
    r=$(grep -F -m1 -e "PASS $name" -e "FAIL $name:" "$T/results")
    case $r in
    "PASS $name") pass "$name" ;;
    "FAIL $name:"*) fail "$name" "${r#"FAIL $name: "}" ;;
    *) fail "$name" "no result: $(tail -c 300 "$T/.pyerr")" ;;
    esac
done <"$T/names"
