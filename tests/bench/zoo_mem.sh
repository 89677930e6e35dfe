#!/bin/sh
# Peak memory of one photo, whole command, for each zoo net (issue 19's
# target: a batch-1 forward's peak RSS within 1.5x the model's weights plus
# its two largest activations): `cnn-forward -p` on a photo beside
# zoo_one.js (ONNX Runtime: session creation and one run), the peak RSS of
# each (/usr/bin/time), the bound, and ours less the RSS the process has
# before any work (its shared libraries: `cnn-forward --help`), which no
# model changes. Prints "net ours_MB ort_MB weights_MB two_acts_MB bound_MB
# ours_less_libs_MB ratio", ratio = ours less libraries over weights plus
# two activations.
# Usage: tests/bench/zoo_mem.sh [NETS...] (after tests/bench/zoo.sh has made
# out/bench-cache/zoo/NET.onnx and .h5 and installed ONNX Runtime).
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-bin}
ZOO="$TOP/out/bench-cache/zoo"; ORT=${BENCH_ORT:-$TOP/out/bench-cache/ort}
photo="$TOP/../shared/photos/coral_hot_dog.jpg"
[ -f "$photo" ] || photo=$(ls "$TOP"/../shared/photos/*.jpg | head -n 1)
[ $# -gt 0 ] || set -- resnet18 resnet50 mobilenet_v2 vgg16 alexnet densenet121 efficientnet_b0 \
    regnet_y_400mf convnext_tiny
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
rss() {   # the peak RSS in MB of a command that must succeed
    /usr/bin/time -f "%M" -o "$T/t" "$@" >/dev/null 2>"$T/err" || { cat "$T/err" >&2; exit 1; }
    awk '{ printf "%.1f", $1 / 1024 }' "$T/t"
}
libs=$(rss "$TOP/$BIN/cnn-forward" --help)
printf "%-16s %8s %8s %8s %8s %8s %8s %6s\n" net ours ort weights two_acts bound ours-lib ratio
for n in "$@"; do
    [ -f "$ZOO/$n.h5" ] && [ -f "$ZOO/$n.onnx" ] || { echo "zoo_mem: $n: not in $ZOO (run zoo.sh)" >&2; continue; }
    ours=$(rss "$TOP/$BIN/cnn-forward" -m "$ZOO/$n.h5" -p "$photo")
    ort=-
    [ -d "$ORT/node_modules/onnxruntime-node" ] && ort=$(rss node "$TOP/tests/bench/zoo_one.js" "$ORT" 2 "$ZOO/$n.onnx")
    "$TOP/$BIN/cnn-info" --json "$ZOO/$n.h5" >"$T/info.json" || exit 1
    /usr/bin/python3 - "$T/info.json" "$n" "$ours" "$ort" "$libs" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
n, ours, ort, libs = sys.argv[2], float(sys.argv[3]), sys.argv[4], float(sys.argv[5])
w = d['total_params'] * 4 / 2**20
acts = sorted([c * h * w_ * 4 / 2**20 for c, h, w_ in
               [x['output_shape'] for x in d['nodes']] + [d['input_shape']]], reverse=True)
two = acts[0] + (acts[1] if len(acts) > 1 else 0)
print("%-16s %8.1f %8s %8.1f %8.1f %8.1f %8.1f %5.2fx" % (n, ours, ort, w, two, 1.5 * (w + two),
      ours - libs, (ours - libs) / (w + two)))
PY
done
echo "(the libraries alone, cnn-forward --help: $libs MB)"
