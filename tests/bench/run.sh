#!/bin/sh
# make bench: cnntools' engine beside PyTorch (Debian python3-torch) on the
# same machine and thread count. Usage: tests/bench/run.sh [SECONDS] [THREADS]
# The machine's speed drifts by tens of percent over minutes (other guests
# on the host), so each group of figures runs alternately, ours then
# PyTorch's, BENCH_ROUNDS times (default 3), and the table shows each
# figure's median: a ratio then compares runs a few seconds apart.
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/bench/env.sh"
. "$TOP/tests/bench/median.sh"
BUILD=${BUILD:-build}
secs=${1:-2}; threads=${2:-2}; rounds=${BENCH_ROUNDS:-3}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
echo "bench: OpenBLAS core ${OPENBLAS_CORETYPE:-auto}, $threads threads, about ${secs}s per figure, median of $rounds alternating rounds; higher is better except *_ms and *_s (times); ratio = how many times faster cnntools is" >&2
: >"$T/ours.all"; : >"$T/torch.all"
r=0
while [ $r -lt "$rounds" ]; do
    for g in mnist alexnet resnet vgg layers; do
        OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads \
            "$TOP/$BUILD/bench/bench_engine" "$secs" $g >>"$T/ours.all" || exit 1
        /usr/bin/python3 "$TOP/tests/bench/bench_torch.py" "$secs" "$threads" $g >>"$T/torch.all" || exit 1
    done
    r=$((r + 1))
done
median "$T/ours.all" >"$T/ours"
median "$T/torch.all" >"$T/torch"
awk -F'\t' '
  FNR == NR { ref[$1] = $2; next }
  BEGIN { printf "%-44s %12s %12s %8s\n", "benchmark", "cnntools", "pytorch", "ratio" }
  {
    r = ($1 in ref) ? ref[$1] : "-"
    if ($1 ~ /_sgemm_/) { printf "%-44s %12s %12s %8s\n", "  (plain sgemm " substr($1, index($1, "_M")) ")", $2, "", ""; next }
    ratio = "-"
    if (r != "-" && r > 0 && $2 > 0) ratio = sprintf("%.2fx", ($1 ~ /_ms$/ || ($1 ~ /_s$/ && $1 !~ /_per_s$/)) ? r / $2 : $2 / r)
    printf "%-44s %12s %12s %8s\n", $1, $2, r, ratio
  }' "$T/torch" "$T/ours"
