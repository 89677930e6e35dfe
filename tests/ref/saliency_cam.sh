#!/bin/sh
# cnn-saliency's CAM family, SmoothGrad variants and reference-based methods
# against float64 PyTorch written from the published formulas
# (tests/ref/saliency_cam_ref.py): each CAM's /cam_weights, /cam and /attr
# to 1e-4, guided Grad-CAM, --smooth-stat sq and var with a noise file,
# DeepLift on a ReLU/avg-pool net and its completeness, LRP-epsilon
# relevance and conservation, GradientShap with a noise file; Ablation-CAM
# on a graph with a skip connection; progress on a terminal; bad input.
. "$(dirname "$0")/../lib.sh"
REF=$TOP/tests/ref/saliency_cam_ref.py

if ! $PY -c 'import torch, h5py' 2>/dev/null; then
    skip "cnn-saliency CAMs vs PyTorch" "python3-torch or h5py missing"
    exit 0
fi
{ $PY "$TOP/tests/ref/saliency_ref.py" setup "$T" && $PY "$REF" setup "$T"; } ||
    { fail "fixtures" "setup failed"; exit 0; }
M=$T/net.h5 M3=$T/net3.h5 I=$T/images.h5
: >"$T/cases"
queue() { name=$1; shift; printf '%s\t%s\n' "$name" "$*" >>"$T/cases"; }
# run NAME CHECK-ARGS -- TOOL-ARGS: run the tool into $T/NAME.h5, queue the check.
run() {
    name=$1; shift
    refargs=""
    while [ "$1" != "--" ]; do refargs="$refargs $1"; shift; done
    shift
    out=$T/$(echo "$name" | tr -c 'a-z0-9\n' _).h5
    if cnn-saliency -q -o "$out" "$@" 2>"$T/.err"; then
        # shellcheck disable=SC2086
        queue "$name" $(echo $refargs | sed "s|OUT|$out|")
    else fail "$name" "cnn-saliency failed: $(head -c 300 "$T/.err")"; fi
}

for cam in gradcam gradcam++ xgradcam layercam eigencam scorecam ablationcam guided-gradcam; do
    run "$cam at relu2 matches its formula" cam OUT $cam relu2 net label -- \
        -m "$M" -M $cam -l relu2 "$I"
done
run "gradcam++ at pool1 for class 2" cam OUT gradcam++ pool1 net class=2 -- \
    -m "$M" -M gradcam++ -l pool1 -t class=2 "$I"
run "scorecam at conv1 (negative maps), batches of 3" cam OUT scorecam conv1 net pred -- \
    -m "$M" -M scorecam -l conv1 -t pred --batch 3 "$I"
run "ablationcam at conv2 on the avg-pool net, passes of 2 rows" cam OUT ablationcam conv2 net3 label -- \
    -m "$M3" -M ablationcam -l conv2 --batch 2 "$I"
run "SmoothGrad^2 (--smooth-stat sq) with a noise file" smooth OUT sq 0.2 -- \
    -m "$M" -M smoothgrad --smooth-stat sq --noise 0.2 --noise-file "$T/noise.h5" "$I"
run "VarGrad (--smooth-stat var) with a noise file" smooth OUT var 0.2 -- \
    -m "$M" -M gradient --smooth --smooth-stat var --noise 0.2 --noise-file "$T/noise.h5" "$I"
run "deeplift (zeros) on a ReLU/avg-pool net and its completeness" deeplift OUT label zeros -- \
    -m "$M3" -M deeplift "$I"
run "deeplift from a constant baseline, class 1" deeplift OUT class=1 0.5 -- \
    -m "$M3" -M deeplift -t class=1 --baseline 0.5 "$I"
run "deeplift through max-pooling (Captum's rule) and its completeness" deeplift OUT pred 0.3 net -- \
    -m "$M" -M deeplift -t pred --baseline 0.3 "$I"
run "deeplift on the net with every op (BatchNorm, LeakyReLU, Clip, Add, Concat, pools) sums to f(x) - f(0)" \
    dlsum OUT net2 pred -- -m "$T/net2.h5" -M deeplift -t pred "$I"
run "lrp epsilon relevance matches the layer-by-layer rule" lrp OUT net3 label 1e-9 -- \
    -m "$M3" -M lrp "$I"
run "lrp epsilon 0.1 relevance and /completeness" lrp OUT net3 pred 0.1 -- \
    -m "$M3" -M lrp -t pred --epsilon 0.1 "$I"
# (eps 0.01: with eps ~ 0 a z near zero magnifies float32 rounding past 1e-4.)
run "lrp gamma rule (gamma 0.5) matches its formula" lrp OUT net3 label 0.01 gamma 0.5 -- \
    -m "$M3" -M lrp --rule gamma --gamma 0.5 --epsilon 0.01 "$I"
run "lrp alpha1beta0 (z+) rule matches its formula" lrp OUT net3 label 0.01 alpha1beta0 -- \
    -m "$M3" -M lrp --rule alpha1beta0 --epsilon 0.01 "$I"
run "lrp conserves relevance without biases" lrp OUT net3z label 1e-9 -- \
    -m "$T/net3z.h5" -M lrp "$I"
run "gradientshap with a baseline file and a noise file" gshap OUT label 0.1 -- \
    -m "$M3" -M gradientshap --noise 0.1 --noise-file "$T/shapnoise.h5" \
    --baseline-file "$T/baselines.h5" "$I"

# Ablation-CAM on a graph (occlude_ref.py's): r2 feeds an Add that also
# reads the layer before it (the rerun from the layer, engine_rerun_from);
# lr's descendants read only it and each other (the tail model alone).
{ $PY "$TOP/tests/ref/occlude_ref.py" models "$T" &&
  $PY "$TOP/tests/ref/occlude_ref.py" images "$T/resnet.h5" "$T/ri.h5" 3; } ||
    { fail "graph fixtures" "occlude_ref.py failed"; exit 0; }
run "ablationcam inside a skip connection (the rerun), batches of 4" ablgraph OUT "$T/resnet.h5" "$T/ri.h5" r2 -- \
    -m "$T/resnet.h5" -M ablationcam -l r2 -t pred --batch 4 "$T/ri.h5"
run "ablationcam where a skip starts (the tail alone), batches of 4" ablgraph OUT "$T/resnet.h5" "$T/ri.h5" lr -- \
    -m "$T/resnet.h5" -M ablationcam -l lr -t pred --batch 4 "$T/ri.h5"
run "ablationcam on a wide net's tail (column-batched: rank-1, Winograd, strided), batches of 16" \
    ablgraph OUT "$T/wide.h5" "$I" l1 -- -m "$T/wide.h5" -M ablationcam -l l1 -t pred --batch 16 "$I"

# Progress at the grain of the samples, labelled with the method, on a
# terminal only (6 images x 50 samples).
script -qec "$BIN/cnn-saliency -m $M -M smoothgrad -o $T/pg.h5 $I" /dev/null >"$T/tty" 2>&1
if grep -aq "cnn-saliency: smoothgrad .*/300" "$T/tty"; then pass "smoothgrad's progress counts samples on a terminal"
else fail "smoothgrad's progress counts samples on a terminal" "$(tail -c 300 "$T/tty")"; fi
script -qec "$BIN/cnn-saliency -m $M -M integrated-gradients --steps 20 -o $T/pg2.h5 $I" /dev/null >"$T/tty" 2>&1
if grep -aq "cnn-saliency: integrated-gradients .*/120" "$T/tty"; then pass "integrated gradients' progress counts steps"
else fail "integrated gradients' progress counts steps" "$(tail -c 300 "$T/tty")"; fi
cnn-saliency -m "$M" -M smoothgrad -o "$T/pg3.h5" "$I" 2>"$T/.err"
if [ ! -s "$T/.err" ]; then pass "no progress in a pipe"; else fail "no progress in a pipe" "$(head -c 200 "$T/.err")"; fi

# Bad input: one line, non-zero exit, no output file.
check_error "scorecam on a layer without spatial maps" 1 "scorecam layer 'fc1'.*not spatial" "$T/bad.h5" \
    cnn-saliency -m "$M" -M scorecam -l fc1 -o "$T/bad.h5" "$I"
check_error "layercam without a layer" 2 "layercam needs a layer" "$T/bad.h5" \
    cnn-saliency -m "$M" -M layercam -o "$T/bad.h5" "$I"
check_error "a baseline file of another shape" 1 "small.h5: images are 3x10x10.*wants 3x12x12" "$T/bad.h5" \
    cnn-saliency -m "$M3" -M deeplift --baseline-file "$T/small.h5" -o "$T/bad.h5" "$I"
check_error "lrp on an op without a rule names it" 1 "lrp: no rule for op 'Clip' \\(node 'r6'\\)" "$T/bad.h5" \
    cnn-saliency -m "$T/net2.h5" -M lrp -o "$T/bad.h5" "$I"
check_error "deeplift on an op without a rule names it" 1 "deeplift: no rule for op 'LRN' \\(node 'norm'\\)" "$T/bad.h5" \
    cnn-saliency -m "$T/netlrn.h5" -M deeplift -t class=0 -o "$T/bad.h5" "$I"
check_error "lrp of a probability" 1 "lrp explains a logit" "$T/bad.h5" \
    cnn-saliency -m "$M3" -M lrp --measure prob -o "$T/bad.h5" "$I"
check_error "unknown --smooth-stat" 2 "smooth-stat: 'median'" "$T/bad.h5" \
    cnn-saliency -m "$M" -M smoothgrad --smooth-stat median -o "$T/bad.h5" "$I"
check_error "--smooth-stat without smoothing" 2 "smooth-stat is for smoothgrad" "$T/bad.h5" \
    cnn-saliency -m "$M" -M gradient --smooth-stat var -o "$T/bad.h5" "$I"
check_error "unknown lrp rule" 2 "rule: 'zplus'" "$T/bad.h5" \
    cnn-saliency -m "$M3" -M lrp --rule zplus -o "$T/bad.h5" "$I"
check_error "--rule without lrp" 2 "are for lrp" "$T/bad.h5" \
    cnn-saliency -m "$M3" -M gradient --rule gamma -o "$T/bad.h5" "$I"

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
