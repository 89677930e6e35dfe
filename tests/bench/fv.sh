#!/bin/sh
# Feature-visualisation quality (issue 22's Quality section), measured as
# Lucid argues, by robustness and transfer: for 8 ImageNet classes on Tiny
# Darknet, each setting's image for the class is transformed 16 times at
# random (scale 0.8-1.2, rotation +-15 degrees, shift +-16 px; bilinear,
# borders repeated) and the class's mean softmax probability under Tiny
# Darknet is its robust probability; it transfers when the class is in
# MobileNet v1 0.25's top 5 on the untransformed image. Settings: the old
# pixel path (pipelines/imagenet.mk's flags, Yosinski's regularisers),
# cnn-ascend's default, and (FV_LUCENT=1) a Lucent-style synthesis in PyTorch on the same
# weights (tests/bench/fv_torch.py). All scoring is cnn-forward's (the
# PyTorch port of Tiny Darknet is first checked against it). Then speed:
# one step of the default recipe on resnet50 (torchvision's, random
# weights) at 224, ours and PyTorch's, 2 threads each, wall and CPU
# seconds (the CPU figure steadier on a shared machine): ours the
# difference of /usr/bin/time's runs of 1 and 41 steps over 40, PyTorch's
# the mean of steps 2 to 41 of one run (time, process_time), its model
# seeing 224 x 224 as ours does (fv_torch.py at_size).
# Environment: FV_CLASSES (comma list of names), FV_FLAGS (extra
# cnn-ascend flags for the default), FV_LUCENT=1 adds the PyTorch
# synthesis (FV_STEPS steps, default 256; half an hour on 2 cores, 0.8 s a
# step: off by default, its scores are in README), FV_SPEED=0 skips the
# speed part, FV_QUALITY=0 the scores, FV_ROUNDS (3) sets the speed's
# interleaved rounds. Needs ../shared/models (or IMAGENET_SRC).
# Cost on the 2-core machine: our classes run two at a time, one thread
# each: about 1 minute for the pixel setting and 3-6 for the default
# (depending on the load), under a minute for the scoring, about 15 s a
# speed round.
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/bench/env.sh"
. "$TOP/tests/bench/median.sh"
BIN=${BIN:-bin}
case $BIN in /*) ;; *) BIN=$TOP/$BIN ;; esac
PY=/usr/bin/python3
FT=$TOP/tests/bench/fv_torch.py
SRC=${IMAGENET_SRC:-$TOP/../shared/models}
TD=$SRC/darknet-tiny MB=$SRC/mobilenet_v1_0.25_224
[ -f "$TD/model.json" ] && [ -f "$MB/model.json" ] || { echo "bench/fv: skipped (no $SRC/darknet-tiny, mobilenet_v1_0.25_224)"; exit 0; }
CLASSES=${FV_CLASSES:-goldfish,robin,macaw,tabby,espresso,pizza,lemon,volcano}
STEPS=${FV_STEPS:-256}
YOS="--start noise --steps 60 --l2 0.0001 --blur 1.0 --blur-every 4 --jitter 8 --lr 0.05"
CACHE=${CNN_BENCH_CACHE:-$TOP/out/bench-cache}
T=$(mktemp -d "${TMPDIR:-/tmp}/cnnfv.XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir -p "$CACHE/fv" || exit 1
td=$CACHE/fv/darknet-tiny.h5 mb=$CACHE/fv/mobilenet.h5
[ -f "$td" ] || "$BIN/cnn-import" -q "$TD" -o "$td" || exit 1
[ -f "$mb" ] || "$BIN/cnn-import" -q --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5 "$MB" -o "$mb" || exit 1
$PY "$FT" classes "$TD" "$MB" "$CLASSES" "$T/classes.txt" || exit 1
export OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2
# Spinning OpenMP threads on a busy machine made PyTorch's steps 10x slower
# (env.sh, bench_wait: a short spin, then sleep).
bench_wait
echo "bench/fv: $(uptime | sed 's/.*load/load/') (a loaded machine slows the timings, not the scores)"

# Ours: one ascent per class, rows joined in the classes' order.
ours() {   # label flags...
    lab=$1; shift
    t0=$(date +%s.%N); files=
    n=0
    while read -r nm a b; do   # two at a time, one thread each
        "$BIN/cnn-ascend" -q --threads 1 -m "$td" -t "class=$a" "$@" -o "$T/$lab-$nm.h5" &
        files="$files $T/$lab-$nm.h5" n=$((n + 1))
        [ $((n % 2)) = 0 ] && wait
    done <"$T/classes.txt"
    wait
    "$BIN/cnn-images" -q $files -o "$T/$lab.h5" || exit 1
    echo "$lab: $(echo "$(date +%s.%N) - $t0" | bc | xargs printf '%.0f') s for $(wc -l <"$T/classes.txt") classes" >&2
}
score() {   # label
    $PY "$FT" transform "$T/$1.h5" "$T/$1-tf.h5" 16 7 || exit 1
    "$BIN/cnn-forward" -q -m "$td" "$T/$1-tf.h5" -o "$T/$1-td.h5" || exit 1
    "$BIN/cnn-forward" -q -m "$mb" "$T/$1.h5" -o "$T/$1-mb.h5" || exit 1
    $PY "$FT" score "$T/$1-td.h5" "$T/$1-mb.h5" "$T/classes.txt" 16 "$1"
}
if [ "${FV_QUALITY:-1}" != 0 ]; then
ours pixel $YOS
score pixel
ours default $FV_FLAGS
score default
fi
if [ "${FV_LUCENT:-0}" = 1 ]; then
    idx=$(awk '{print $2}' "$T/classes.txt" | paste -sd,)
    t0=$(date +%s)
    $PY "$FT" synth "$TD" "$idx" "$T/lucent.h5" "$STEPS" 1 >"$T/lucent.s" || exit 1
    echo "lucent: $(($(date +%s) - t0)) s for the classes ($(cat "$T/lucent.s") s a step)" >&2
    "$BIN/cnn-forward" -q -m "$td" "$T/lucent.h5" -o "$T/lucent-fw.h5" || exit 1
    $PY "$FT" check "$TD" "$T/lucent.h5" "$T/lucent-fw.h5" || exit 1
    score lucent
fi
[ -n "$FV_KEEP" ] && [ "${FV_QUALITY:-1}" != 0 ] && cp "$T"/pixel.h5 "$T"/default.h5 "$FV_KEEP/"

[ "${FV_SPEED:-1}" = 0 ] && exit 0
ZOO=$CACHE/zoo
[ -f "$ZOO/resnet50.h5" ] || { $PY "$TOP/tests/bench/zoo_export.py" "$ZOO" resnet50 2>&1 | grep -v -i warn >&2
    "$BIN/cnn-import" -q "$ZOO/resnet50.onnx" -o "$ZOO/resnet50.h5" || exit 1; }
step() {   # steps -> wall and CPU seconds (user + system, all threads) of the whole run
    /usr/bin/time -f '%e %U %S' -o "$T/time" "$BIN/cnn-ascend" -q --threads 2 \
        -m "$ZOO/resnet50.h5" -t class=1 --steps "$1" -o "$T/r.h5" || exit 1
    awk '{ print $1, $2 + $3 }' "$T/time"
}
# FV_ROUNDS interleaved rounds (default 3): this machine's speed moves by
# half between minutes, so each round's ratio is printed and the median
# of the ratios is the figure.
: >"$T/ratios"
r=0
while [ $r -lt "${FV_ROUNDS:-3}" ]; do
    r=$((r + 1))
    set -- $(step 1) $(step 41)
    ours=$(echo "($3 - $1) / 40" | bc -l) ours_cpu=$(echo "($4 - $2) / 40" | bc -l)
    set -- $($PY "$FT" speed 40)
    w=$(echo "$1 / $ours" | bc -l) c=$(echo "$2 / $ours_cpu" | bc -l)
    printf 'speed round %d: ours %.4f s (%.4f s CPU), PyTorch %.4f s (%.4f s CPU): %.2fx wall, %.2fx CPU\n' \
        "$r" "$ours" "$ours_cpu" "$1" "$2" "$w" "$c"
    printf 'wall\t%s\ncpu\t%s\n' "$w" "$c" >>"$T/ratios"
done
median "$T/ratios" | awk -F'\t' '{ r[$1] = $2 } END {
    printf "speed: one step (fft, decorrelate, standard transforms, Adam) on resnet50 at 224, 2 threads: PyTorch / ours, median of the rounds %.2fx wall, %.2fx CPU\n", r["wall"], r["cpu"] }'
