#!/bin/sh
# Occlusion speed (issue 5): cnn-occlude's incremental method and
# --exact-naive beside the PyTorch brute-force loop (Debian python3-torch)
# on the same machine and thread count, gray window, class logit:
#   mnist: the Keras MNIST CNN (random weights), 28x28, window 6 stride 2, 100 images
#   vgg:   a VGG-16-shaped net (random weights), 224x224, window 32 stride 16, one image
# Prints seconds (wall and CPU), ms per map, and the multiply-accumulates
# computed against brute force. Usage: tests/bench/occlude.sh [THREADS] [mnist|vgg|all]
# (BENCH_VGG_NAIVE=1 also times --exact-naive on VGG: minutes.)
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/bench/env.sh"
BIN=${BIN:-bin}
case $BIN in /*) ;; *) BIN=$TOP/$BIN ;; esac
thr=${1:-2}; which=${2:-all}
PY=/usr/bin/python3
B=$TOP/tests/bench/occlude_bench.py
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
export OPENBLAS_NUM_THREADS=$thr OMP_NUM_THREADS=$thr

# run LABEL MAPS CMD...: time it; wall, CPU and ms per map.
run() {
    label=$1 maps=$2; shift 2
    /usr/bin/time -f "%e %U %S" -o "$T/time" "$@" 2>"$T/err" || { cat "$T/err"; return 1; }
    read -r wall usr sys <"$T/time"
    printf '%-36s wall %7.2f s  cpu %7.2f s  %8.1f ms/map   %s\n' "$label" "$wall" \
        "$(echo "$usr + $sys" | bc)" "$(echo "1000 * $wall / $maps" | bc -l)" \
        "$(sed -n 's/.*windows: \(.*\)/\1/p' "$T/err")"
}

if [ "$which" = mnist ] || [ "$which" = all ]; then
    $PY "$B" mnist "$T/m.h5" "$T/mi.h5" 100 || exit 1
    echo "MNIST CNN 28x28, window 6 stride 2 (144 positions), 100 images, $thr threads"
    run "cnn-occlude (incremental)" 100 "$BIN/cnn-occlude" -q --stats --threads "$thr" -m "$T/m.h5" \
        -t class=8 -w 6 --stride 2 -o "$T/o1.h5" "$T/mi.h5" || exit 1
    run "cnn-occlude --exact-naive" 100 "$BIN/cnn-occlude" -q --stats --threads "$thr" --exact-naive \
        -m "$T/m.h5" -t class=8 -w 6 --stride 2 -o "$T/o2.h5" "$T/mi.h5" || exit 1
    run "pytorch brute force (batch 256)" 100 $PY "$B" torch "$T/m.h5" "$T/mi.h5" 6 2 "$thr" || exit 1
fi
if [ "$which" = vgg ] || [ "$which" = all ]; then
    $PY "$B" vgg "$T/v.h5" "$T/vi.h5" 1 || exit 1
    echo "VGG-16 shape 224x224, window 32 stride 16 (169 positions), 1 image, $thr threads"
    run "cnn-occlude (incremental)" 1 "$BIN/cnn-occlude" -q --stats --threads "$thr" --batch 64 \
        -m "$T/v.h5" -t class=1 -w 32 --stride 16 -o "$T/v1.h5" "$T/vi.h5" || exit 1
    if [ -n "${BENCH_VGG_NAIVE:-}" ]; then
        run "cnn-occlude --exact-naive" 1 "$BIN/cnn-occlude" -q --stats --threads "$thr" --batch 32 \
            --exact-naive -m "$T/v.h5" -t class=1 -w 32 --stride 16 -o "$T/v2.h5" "$T/vi.h5" || exit 1
    fi
    run "pytorch brute force (batch 32)" 1 $PY "$B" torch "$T/v.h5" "$T/vi.h5" 32 16 "$thr" 32 || exit 1
fi
