#!/bin/sh
# One photo, whole command, against ONNX Runtime (issue 19's target: within
# 1.3x its single-run time including model load): `cnn-forward -p` on a
# photo (JPEG decode, model load, engine, one forward) and zoo_one.js (ONNX
# Runtime session creation and one run on the same ONNX file), alternating,
# ROUNDS each; prints the medians of wall time, CPU time (user + system) and
# the peak RSS (/usr/bin/time). Wall time is what a user sees; on a shared
# machine the CPU time is the steadier figure.
# Usage: tests/bench/zoo_one.sh NET [ROUNDS] [THREADS] (after tests/bench/zoo.sh
# has made out/bench-cache/zoo/NET.onnx and .h5 and installed ONNX Runtime).
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/bench/median.sh"
BIN=${BIN:-bin}
net=${1:?usage: zoo_one.sh NET [ROUNDS] [THREADS]}; rounds=${2:-5}; threads=${3:-2}
ZOO="$TOP/out/bench-cache/zoo"; ORT=${BENCH_ORT:-$TOP/out/bench-cache/ort}
photo="$TOP/../shared/photos/coral_hot_dog.jpg"
[ -f "$photo" ] || photo=$(ls "$TOP"/../shared/photos/*.jpg | head -n 1)
. "$TOP/tests/bench/env.sh"
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
bench_wait
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
one() {   # $1 label, then the command
    l=$1; shift
    /usr/bin/time -f "%e %U %S %M" -o "$T/t" "$@" >/dev/null 2>"$T/err" || { cat "$T/err" >&2; exit 1; }
    read -r w u s m <"$T/t"
    printf 'wall\t%s\ncpu\t%s\nrss\t%s\n' "$w" "$(echo "$u $s" | awk '{print $1 + $2}')" \
        "$(echo "$m" | awk '{print $1 / 1024}')" >>"$T/$l"
}
for r in $(seq "$rounds"); do
    one ours "$TOP/$BIN/cnn-forward" -m "$ZOO/$net.h5" -p "$photo"
    one ort node "$TOP/tests/bench/zoo_one.js" "$ORT" "$threads" "$ZOO/$net.onnx"
done
for l in ours ort; do
    median "$T/$l" | awk -v p="${net}_${l}_one_photo" -F'\t' '{print p "_" $1 "\t" $2}'
done
