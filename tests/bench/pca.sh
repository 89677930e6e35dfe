#!/bin/sh
# PCA benchmark: cnn-pca against scikit-learn's default PCA (randomized
# solver) on a 10,000 x 21,632 conv1-like matrix, k = 2 and 50: wall time
# and peak memory (/usr/bin/time -v), and the gap to an exact PCA.
# Run from the repository root: sh tests/bench/pca.sh [N]
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/bench/env.sh"
BIN=${BIN:-bin}
case $BIN in /*) ;; *) BIN=$TOP/$BIN ;; esac
PY=/usr/bin/python3
N=${1:-10000}
T=$(mktemp -d "${TMPDIR:-/tmp}/cnnbench.XXXXXX")
trap 'rm -rf "$T"' EXIT
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || {
    echo "bench/pca: skipped (needs dataset-fashion-mnist)"; exit 0; }
$PY "$TOP/tests/bench/pca_fixture.py" make "$T/conv1.h5" "$N" || exit 1
peak() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
wall() { sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1"; }
for k in 2 50; do
    /usr/bin/time -v "$BIN/cnn-pca" -q -k $k -o "$T/ours$k.h5" "$T/conv1.h5" 2>"$T/t_ours"
    /usr/bin/time -v $PY "$TOP/tests/bench/pca_fixture.py" sklearn "$T/conv1.h5" $k >"$T/o_skl" 2>"$T/t_skl"
    echo "pca $N x 21632 k=$k: cnn-pca $(wall "$T/t_ours") $(peak "$T/t_ours") KB;" \
         "sklearn $(wall "$T/t_skl") $(peak "$T/t_skl") KB ($(cat "$T/o_skl"))"
done
