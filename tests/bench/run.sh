#!/bin/sh
# make bench: cnntools' engine beside PyTorch (Debian python3-torch) on the
# same machine and thread count. Usage: tests/bench/run.sh [SECONDS] [THREADS]
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/bench/env.sh"
BUILD=${BUILD:-build}
secs=${1:-2}; threads=${2:-2}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
echo "bench: OpenBLAS core ${OPENBLAS_CORETYPE:-auto}, $threads threads, about ${secs}s per figure; higher is better except *_ms and *_s (times); ratio = how many times faster cnntools is" >&2
OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads "$TOP/$BUILD/bench/bench_engine" "$secs" >"$T/ours" || exit 1
/usr/bin/python3 "$TOP/tests/bench/bench_torch.py" "$secs" "$threads" >"$T/torch" || exit 1
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
