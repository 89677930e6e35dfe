#!/bin/sh
# make bench (cam, issue 21): Score-CAM, Ablation-CAM and deletion/insertion
# on torchvision's resnet50 (random weights, the ONNX file of zoo.sh through
# cnn-import) beside the same computations in PyTorch (cam_torch.py), one
# 224x224 image, the predicted class, the same batch of copies:
#   scorecam:    cnn-saliency -M scorecam -l LAYER (one masked forward of
#                the whole net per channel of LAYER)
#   ablationcam: cnn-saliency -M ablationcam -l LAYER (one pass of the net
#                after LAYER per channel), for each LAYER of BENCH_CAM_LAYERS
#   deletion, insertion: cnn-evaluate --steps STEPS on the Ablation-CAM map
#                of the first of them
# Times are wall and CPU seconds (user + system, all threads; the steadier
# figure on a shared machine): ours of the whole command (the 100 MB model
# file read included, about 0.15 CPU s), PyTorch's of the computation alone
# (network built, image read before).
# Rounds alternate ours and PyTorch's, command by command; the table shows
# medians.
# Usage: tests/bench/cam.sh [THREADS]
# Environment: BENCH_CAM_LAYERS (default "layer3 layer4": layer3's 1024
# maps each run layer4, the pooling and the dense layer; layer4's 2048 run
# only the last two, so set-up dominates), BENCH_CAM_SCORE_LAYER (default
# maxpool, 64 maps: 64 whole forwards; Score-CAM's cost grows with the
# channels, layer2's 512 take PyTorch most of an hour here), BENCH_CAM_BATCH
# (64), BENCH_CAM_STEPS (20), BENCH_ROUNDS (2). At the defaults one round
# takes about 3 minutes on 2 idle cores, nearly all of it PyTorch's.
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/bench/env.sh"
. "$TOP/tests/bench/median.sh"
BIN=${BIN:-bin}
case $BIN in /*) ;; *) BIN=$TOP/$BIN ;; esac
thr=${1:-2}; rounds=${BENCH_ROUNDS:-2}
layers=${BENCH_CAM_LAYERS:-layer3 layer4}; slayer=${BENCH_CAM_SCORE_LAYER:-maxpool}
batch=${BENCH_CAM_BATCH:-64}; steps=${BENCH_CAM_STEPS:-20}
PY=/usr/bin/python3
ZOO="$TOP/out/bench-cache/zoo"
P=$TOP/tests/bench/cam_torch.py
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
export OPENBLAS_NUM_THREADS=$thr OMP_NUM_THREADS=$thr
bench_wait

$PY "$TOP/tests/bench/zoo_export.py" "$ZOO" resnet50 2>&1 | grep -v -i warn >&2
[ -f "$ZOO/resnet50.h5" ] || "$BIN/cnn-import" -q "$ZOO/resnet50.onnx" -o "$ZOO/resnet50.h5" || exit 1
M=$ZOO/resnet50.h5
$PY -c "
import h5py, numpy as np
x = np.random.default_rng(3).random((1, 3, 224, 224)).astype(np.float32)
with h5py.File('$T/x.h5', 'w') as f:
    f.attrs['kind'] = 'images'; f['images'] = x" || exit 1
# -l takes torchvision's module name: the last node of layer4 (its output).
SL=$slayer

# ours NAME CMD...: wall and CPU seconds of the command.
ours() {
    name=$1; shift
    /usr/bin/time -f "%e %U %S" -o "$T/time" "$@" 2>"$T/err" >/dev/null || { cat "$T/err" >&2; exit 1; }
    read -r wall usr sys <"$T/time"
    echo "ours $name: wall $wall, cpu $usr + $sys" >&2
    printf '%s\t%s\n' "$name" "$wall" >>"$T/ours.all"
    printf '%s\t%s\n' "$name" "$(echo "$usr + $sys" | bc)" >>"$T/ourscpu.all"
}
torch() {
    name=$1; shift
    $PY "$P" "$@" >"$T/py" || exit 1
    echo "pytorch $name: $(tr '\t\n' '  ' <"$T/py")" >&2
    printf '%s\t%s\n' "$name" "$(awk -F'\t' '$1 == "seconds" { print $2 }' "$T/py")" >>"$T/torch.all"
    printf '%s\t%s\n' "$name" "$(awk -F'\t' '$1 == "cpu" { print $2 }' "$T/py")" >>"$T/torchcpu.all"
    printf '%s\t%s\n' "$name" "$(awk -F'\t' '$1 == "check" { print $2 }' "$T/py")" >"$T/check.$name"
}
: >"$T/ours.all"; : >"$T/torch.all"; : >"$T/ourscpu.all"; : >"$T/torchcpu.all"
r=0
while [ $r -lt "$rounds" ]; do
    ours "scorecam_$slayer" "$BIN/cnn-saliency" -q --threads "$thr" --batch "$batch" -m "$M" -t pred \
        -M scorecam -l "$SL" -o "$T/sc.h5" "$T/x.h5"
    torch "scorecam_$slayer" scorecam "$T/x.h5" "$slayer" "$thr" "$batch"
    first=
    for L in $layers; do
        ours "ablationcam_$L" "$BIN/cnn-saliency" -q --threads "$thr" --batch "$batch" -m "$M" \
            -t pred -M ablationcam -l "$L" -o "$T/ab_$L.h5" "$T/x.h5"
        torch "ablationcam_$L" ablationcam "$T/x.h5" "$L" "$thr" "$batch"
        [ -n "$first" ] || { first=$L; cp "$T/ab_$L.h5" "$T/ab.h5"; }
    done
    for k in deletion insertion; do
        ours "${k}_$steps" "$BIN/cnn-evaluate" -q --threads "$thr" --batch "$batch" -m "$M" \
            --maps "$T/ab.h5" --metric $k --steps "$steps" -o "$T/$k.h5" "$T/x.h5"
        torch "${k}_$steps" $k "$T/x.h5" "$T/ab.h5" "$thr" "$batch" "$steps"
    done
    r=$((r + 1))
done
for f in ours torch ourscpu torchcpu; do median "$T/$f.all" >"$T/$f"; done
# What each side computed: CAM sums and AUCs (they should agree closely).
# (in the table's order: the names sorted as the median files are)
cs=$($PY -c "
import h5py
v = {'scorecam_$slayer': h5py.File('$T/sc.h5')['cam'][()].sum(),
     'deletion_$steps': h5py.File('$T/deletion.h5')['auc'][0],
     'insertion_$steps': h5py.File('$T/insertion.h5')['auc'][0]}
for L in '$layers'.split():
    v['ablationcam_' + L] = h5py.File('$T/ab_%s.h5' % L)['cam'][()].sum()
print(' '.join('%s=%.6g' % kv for kv in v.items()))")
echo "cam: resnet50 224x224, one image, batch $batch, $thr threads, median of $rounds round(s); seconds, lower is better"
awk -F'\t' -v cs="$cs" '
  BEGIN { n = split(cs, kv, " "); for (j = 1; j <= n; j++) { split(kv[j], q, "="); c[q[1]] = q[2] } }
  FILENAME ~ /torchcpu$/ { pc[$1] = $2; next }
  FILENAME ~ /ourscpu$/ { oc[$1] = $2; next }
  FILENAME ~ /torch$/ { pt[$1] = $2; next }
  FILENAME ~ /check/ { ck[$1] = $2; next }
  function ratio(a, b) { return (a > 0 && b > 0) ? sprintf("%.2fx", a / b) : "-" }
  FNR == 1 { printf "%-20s %8s %8s %7s  %8s %8s %7s  %10s %10s\n", "", "wall:us", "pytorch", "speedup",
             "cpu:us", "pytorch", "speedup", "sum/auc:us", "pytorch" }
  { p = ($1 in pt) ? pt[$1] : "-"
    printf "%-20s %8s %8s %7s  %8s %8s %7s  %10s %10s\n", $1, $2, p, ratio(p, $2), oc[$1], pc[$1],
           ratio(pc[$1], oc[$1]), c[$1], ck[$1] }' \
    "$T/torchcpu" "$T/ourscpu" "$T/torch" "$T"/check.* "$T/ours"
