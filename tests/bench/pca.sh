#!/bin/sh
# PCA benchmark: cnn-pca against scikit-learn's default PCA (its randomized
# solver), both on 2 threads, k = 2 and 50, on a 10,000 x 21,632 conv1-like
# matrix (D > N) and a 60,000 x 9,216 flatten-like one (N > D), both
# Fashion-MNIST images through random filters (tests/bench/pca_fixture.py):
# wall time and peak memory (/usr/bin/time -v) of each whole command, and
# the largest |component difference| from an exact PCA (covariance or Gram
# matrix in double, dsyevr), for the leading 10 components and for all k.
# Ours and scikit-learn's run alternately BENCH_ROUNDS times (default 3):
# the times are medians (this machine's speed drifts over minutes).
# The matrices (0.9 and 2.2 GB) and the exact components are made once
# into $CNN_BENCH_CACHE (default out/bench-cache, git-ignored) and reused:
# the first run takes some minutes more.
# Run from the repository root: sh tests/bench/pca.sh [N_CONV1] [N_FLAT]
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/bench/env.sh"
BIN=${BIN:-bin}
case $BIN in /*) ;; *) BIN=$TOP/$BIN ;; esac
PY=/usr/bin/python3
FX=$TOP/tests/bench/pca_fixture.py
N1=${1:-10000}
N2=${2:-60000}
THREADS=2
CACHE=${CNN_BENCH_CACHE:-$TOP/out/bench-cache}
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || {
    echo "bench/pca: skipped (needs dataset-fashion-mnist)"; exit 0; }
mkdir -p "$CACHE" || exit 1
T=$(mktemp -d "${TMPDIR:-/tmp}/cnnbench.XXXXXX")
trap 'rm -rf "$T"' EXIT

conv1=$CACHE/conv1_$N1.h5
flat=$CACHE/flat_$N2.h5
[ -f "$conv1" ] || { echo "bench/pca: making $conv1 (once)" >&2; $PY "$FX" make "$conv1" "$N1" || exit 1; }
[ -f "$flat" ] || { echo "bench/pca: making $flat (once)" >&2; $PY "$FX" make-pool "$flat" "$N2" || exit 1; }
for f in "$conv1" "$flat"; do
    [ -f "${f%.h5}.exact50.npy" ] && continue
    echo "bench/pca: exact PCA of $f (once, some minutes)" >&2
    OPENBLAS_NUM_THREADS=$THREADS $PY "$FX" exact "$f" 50 "${f%.h5}.exact50" || exit 1
done

secs() { sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1" |
         awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }'; }
mib() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1" | awk '{ printf "%.0f", $1 / 1024 }'; }
med() { sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ROUNDS=${BENCH_ROUNDS:-3}

printf '%-14s %3s %8s %8s %6s %9s %9s %7s %17s %17s\n' shape k "ours s" "sklrn s" ratio \
    "ours MiB" "sklrn MiB" "mem %" "ours |dc| 10/all" "sklrn |dc| 10/all"
for f in "$conv1" "$flat"; do
    shape=$($PY -c "import h5py; n, d = h5py.File('$f')['features'].shape; print(f'{n}x{d}')")
    for k in 2 50; do
        # Alternating rounds, the median time of each (the first round's
        # memory and accuracy: the runs are deterministic).
        r=0; : >"$T/so"; : >"$T/ss"
        while [ $r -lt "$ROUNDS" ]; do
            OPENBLAS_NUM_THREADS=$THREADS /usr/bin/time -v "$BIN/cnn-pca" -q -k $k -o "$T/ours.h5" "$f" \
                2>"$T/t_ours" || { cat "$T/t_ours"; exit 1; }
            /usr/bin/time -v $PY "$FX" sklearn "$f" $k "$T/skl.npy" >/dev/null 2>"$T/t_skl" ||
                { cat "$T/t_skl"; exit 1; }
            secs "$T/t_ours" >>"$T/so"; echo >>"$T/so"; secs "$T/t_skl" >>"$T/ss"; echo >>"$T/ss"
            if [ $r -eq 0 ]; then
                dc=$($PY "$FX" diff "$T/ours.h5" "${f%.h5}.exact50.npy")
                ds=$($PY "$FX" diff "$T/skl.npy" "${f%.h5}.exact50.npy")
                mo=$(mib "$T/t_ours"); ms=$(mib "$T/t_skl")
            fi
            r=$((r + 1))
        done
        so=$(med "$T/so"); ss=$(med "$T/ss")
        printf '%-14s %3d %8s %8s %5.2fx %9s %9s %6.1f%% %17s %17s\n' "$shape" $k "$so" "$ss" \
            "$(echo "$ss $so" | awk '{ print $1 / $2 }')" "$mo" "$ms" \
            "$(echo "$mo $ms" | awk '{ print 100 * $1 / $2 }')" "$(echo $dc | tr ' ' /)" \
            "$(echo $ds | tr ' ' /)"
    done
done
echo "(ratio: scikit-learn's time over ours; mem %: our peak as a share of scikit-learn's;"
echo " |dc|: largest |component difference| from an exact PCA, leading 10 / all k)"
