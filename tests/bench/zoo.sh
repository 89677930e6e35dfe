#!/bin/sh
# make bench (zoo): torchvision networks (random weights) through cnntools'
# engine, ONNX Runtime (npm onnxruntime-node, CPU) and PyTorch, forward
# images/s at each batch, the same ONNX file for cnn-import and ONNX Runtime.
# Usage: tests/bench/zoo.sh [SECONDS] [THREADS]
# Environment: BENCH_NETS (default "resnet18 resnet50 mobilenet_v2 vgg16
# alexnet densenet121 efficientnet_b0 regnet_y_400mf convnext_tiny"; a net
# cnn-import refuses is left out with a note), BENCH_BATCHES ("1,4"),
# BENCH_ROUNDS (3), BENCH_LAYERS (1: each conv layer alone, once, in GFLOP/s
# and % of the FMA peak; 0: not), BENCH_GRAD (1: the input gradient and
# guided backprop of one image, forward included, beside PyTorch's; ONNX
# Runtime has no backward; 0: not), BENCH_LOCKSTEP (1: the forward
# against ONNX Runtime again, passes taken in turns, below; 0: not),
# BENCH_ISA (avx2: the peers on AVX2 too, for the AVX2 build on an AVX-512
# machine, `make bench-zoo-v3`: ONNX Runtime from a copy that skips its
# AVX-512 kernels,
# tests/bench/ort_avx2.sh; PyTorch with ATEN_CPU_CAPABILITY=avx2,
# ONEDNN_MAX_CPU_ISA=AVX2 and OpenBLAS's Haswell kernels; the layers
# against the AVX2 FMA peak).
# Rounds alternate ours, ONNX Runtime's, PyTorch's, net by net, and the
# table shows each figure's median (the machine's speed drifts over minutes)
# and, beside ONNX Runtime, the median of the rounds' own ratios ("paired").
# ONNX Runtime is installed on first use into out/bench-cache/ort (npm,
# --ignore-scripts: its Linux x64 library ships in the package), the ONNX
# files and imported models are made once into out/bench-cache/zoo.
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/bench/env.sh"
. "$TOP/tests/bench/median.sh"
BUILD=${BUILD:-build}; BIN=${BIN:-bin}
secs=${1:-2}; threads=${2:-2}; rounds=${BENCH_ROUNDS:-3}
nets=${BENCH_NETS:-resnet18 resnet50 mobilenet_v2 vgg16 alexnet densenet121 efficientnet_b0 regnet_y_400mf convnext_tiny}
grad=; [ "${BENCH_GRAD:-1}" = 0 ] || grad=grad
batches=${BENCH_BATCHES:-1,4}
isa=${BENCH_ISA:-}
case $isa in
'' | avx2) ;;
*) echo "zoo: BENCH_ISA must be avx2 or unset, not '$isa'" >&2; exit 2 ;;
esac
ORT_VERSION=1.30.0
CACHE="$TOP/out/bench-cache"; ORT="$CACHE/ort"; ZOO="$CACHE/zoo"
ENGINE="$TOP/$BUILD/bench/bench_engine"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT

if [ ! -d "$ORT/node_modules/onnxruntime-node" ]; then
    echo "zoo: installing onnxruntime-node $ORT_VERSION into $ORT (npm)" >&2
    if ! { command -v node >/dev/null && mkdir -p "$ORT" && (cd "$ORT" &&
        npm install --ignore-scripts --no-audit --no-fund --loglevel=error \
            "onnxruntime-node@$ORT_VERSION" >&2); }; then
        rm -rf "$ORT/node_modules"
        echo "zoo: skipped: node or onnxruntime-node could not be installed (npm offline?)" >&2
        exit 0
    fi
fi
/usr/bin/python3 "$TOP/tests/bench/zoo_export.py" "$ZOO" $nets 2>&1 | grep -v -i warn >&2
ok=
for n in $nets; do
    [ -f "$ZOO/$n.onnx" ] || { echo "zoo: $n.onnx was not made" >&2; exit 1; }
    if [ -f "$ZOO/$n.h5" ] || "$TOP/$BIN/cnn-import" -q "$ZOO/$n.onnx" -o "$ZOO/$n.h5"; then
        ok="$ok $n"
    else
        echo "zoo: $n left out: cnn-import refused its ONNX file (above)" >&2
    fi
done
nets=$ok
if [ "$isa" = avx2 ]; then
    sh "$TOP/tests/bench/ort_avx2.sh" "$ORT" "$CACHE/ort-avx2" || exit 1
    ORT="$CACHE/ort-avx2"
    export ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2 \
        OPENBLAS_CORETYPE=Haswell
    echo "zoo: AVX2 peers: ONNX Runtime without its AVX-512 kernels ($ORT), PyTorch on AVX2" >&2
fi
export BENCH_ORT="$ORT"

export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
# Idle threads: a short spin, then sleep (env.sh, bench_wait).
bench_wait
echo "zoo: $threads threads, about ${secs}s per figure, median of $rounds alternating rounds; img/s, higher is better; ratio = cnntools / other" >&2
: >"$T/ours.all"; : >"$T/ort.all"; : >"$T/torch.all"; : >"$T/peak.all"; : >"$T/cores.all"
# Each core alone before every round and after the last (bench_engine
# cores): whether the run caught one core slower than the other.
cores() {
    "$ENGINE" 0.5 cores "$threads" >"$T/cores.one" || return 1
    awk -v r="$1" '{ print r "\t" $0 }' "$T/cores.one" >>"$T/cores.all"
}
r=0
while [ $r -lt "$rounds" ]; do
    cores "before round $((r + 1))" || exit 1
    "$ENGINE" "$secs" peak >>"$T/peak.all" || exit 1
    for n in $nets; do
        "$ENGINE" "$secs" model "$ZOO/$n.h5" "$n" "$batches" $grad >>"$T/ours.all" || exit 1
        node "$TOP/tests/bench/zoo_ort.js" "$ORT" "$secs" "$threads" "$ZOO/$n.onnx" "$n" \
            "$batches" >>"$T/ort.all" || exit 1
        /usr/bin/python3 "$TOP/tests/bench/zoo_torch.py" "$secs" "$threads" "$n" "$batches" \
            $grad >>"$T/torch.all" || exit 1
    done
    r=$((r + 1))
done
cores "after the last round" || exit 1
# Lockstep (BENCH_LOCKSTEP, default 1): our forward passes and ONNX
# Runtime's taken in turns through two named pipes (bench_engine.c's
# lockstep mode: blocks of 0.2 s, a cold pass untimed), at each batch.
# Both medians then come from the same seconds of the machine, whose speed
# moves by 5-30% within seconds, so their ratio does not carry that move
# as figures taken a few seconds apart do. rounds runs of about secs each
# (one process pair a run); the table gives the median of each side and
# of the runs' ratios. (PyTorch ran slower for a while after each pause
# of a turn, so the backward stays in the rounds above.)
if [ "${BENCH_LOCKSTEP:-1}" != 0 ]; then
    mkfifo "$T/go" "$T/done" || exit 1
    : >"$T/ls.all"
    r=0
    while [ $r -lt "$rounds" ]; do
        for n in $nets; do
            for b in $(echo "$batches" | tr ',' ' '); do
                node "$TOP/tests/bench/zoo_ort.js" "$ORT" "$secs" "$threads" "$ZOO/$n.onnx" "$n" \
                    "$b" lockstep "$T/go" "$T/done" >"$T/peer" &
                pid=$!
                if ! "$ENGINE" "$secs" lockstep "$T/go" "$T/done" "$ZOO/$n.h5" "$n" "$b" \
                    >"$T/mine" || ! grep -q _lockstep_ms "$T/mine"; then
                    kill "$pid" 2>/dev/null; wait "$pid"
                    echo "zoo: lockstep $n (batch $b) failed" >&2; exit 1
                fi
                wait "$pid" || { echo "zoo: lockstep $n: ONNX Runtime's side failed" >&2; exit 1; }
                awk -F'\t' 'FILENAME ~ /peer$/ { p[$1] = $2; next }
                  $1 ~ /_lockstep_ms$/ && $2 > 0 && p[$1] > 0 {
                    printf "%s\t%s\t%s\t%.4f\n", $1, $2, p[$1], p[$1] / $2 }' \
                    "$T/peer" "$T/mine" >>"$T/ls.all"
            done
        done
        r=$((r + 1))
    done
fi
for f in ours ort torch peak; do median "$T/$f.all" >"$T/$f"; done
# The paired ratio: ours over ONNX Runtime's round by round (the two ran
# seconds apart), then the median of those; steadier than the ratio of
# the two medians when the machine's speed drifts between rounds.
awk -F'\t' 'FILENAME ~ /ort.all$/ { ort[$1, ++no[$1]] = $2; next }
  $1 ~ /_img_per_s$/ && ((k = $1) SUBSEP (++nu[$1])) in ort && ort[k, nu[k]] > 0 {
    printf "%s\t%.4f\n", k, $2 / ort[k, nu[k]] }' "$T/ort.all" "$T/ours.all" >"$T/paired.all"
median "$T/paired.all" >"$T/paired"
awk -F'\t' '
  FILENAME ~ /ort$/ { ort[$1] = $2; next }
  FILENAME ~ /torch$/ { pt[$1] = $2; next }
  FILENAME ~ /paired$/ { pr[$1] = $2; next }
  function ratio(a, b) { return (b > 0) ? sprintf("%.2fx", a / b) : "-" }
  BEGIN { printf "%-30s %10s %10s %10s %9s %9s %9s\n", "forward img/s", "cnntools", "onnxrt", "pytorch", "/onnxrt", "paired", "/pytorch" }
  $1 ~ /_ms$/ { next }
  { o = ($1 in ort) ? ort[$1] : "-"; p = ($1 in pt) ? pt[$1] : "-"
    q = ($1 in pr) ? sprintf("%.2fx", pr[$1]) : "-"
    printf "%-30s %10s %10s %10s %9s %9s %9s\n", $1, $2, o, p, ratio($2, o), q, ratio($2, p) }' \
    "$T/ort" "$T/torch" "$T/paired" "$T/ours"
if [ -n "$grad" ]; then
    echo
    # Times: ratio = PyTorch's / ours (how many times faster we are).
    awk -F'\t' '
      FILENAME ~ /torch$/ { pt[$1] = $2; next }
      BEGIN { printf "%-30s %10s %10s %9s\n", "backward ms, batch 1", "cnntools", "pytorch", "speedup" }
      $1 ~ /_ms$/ && $1 !~ /_cpu_ms$/ { p = ($1 in pt) ? pt[$1] : "-"
        printf "%-30s %10s %10s %9s\n", $1, $2, p, (p > 0 && $2 > 0) ? sprintf("%.2fx", p / $2) : "-" }' \
        "$T/torch" "$T/ours"
fi
if [ -s "$T/ls.all" ]; then
    echo
    # ms per image; ratio = ONNX Runtime's time over ours (above 1: we are
    # faster), the median of the runs' ratios.
    for c in 2 3 4; do cut -f1,$c "$T/ls.all" >"$T/ls.col"; median "$T/ls.col" >"$T/ls.m$c"; done
    awk -F'\t' 'FILENAME ~ /m2$/ { o[$1] = $2; order[++n] = $1; next }
      FILENAME ~ /m3$/ { p[$1] = $2; next }
      { r[$1] = $2 }
      END { printf "%-30s %10s %10s %9s\n", "lockstep forward ms/img", "cnntools", "onnxrt", "ratio"
        for (i = 1; i <= n; i++) { k = order[i]
          printf "%-30s %10s %10s %8.2fx\n", k, o[k], p[k], r[k] } }' \
        "$T/ls.m2" "$T/ls.m3" "$T/ls.m4"
fi
echo
# cnntools' CPU time per image (all threads) in the same runs: on a loaded
# machine the steadier figure for before/after comparisons.
awk -F'\t' 'BEGIN { printf "%-30s %10s\n", "forward CPU ms per image", "cnntools" }
  $1 ~ /_cpu_ms$/ { printf "%-30s %10s\n", $1, $2 }' "$T/ours"
echo
awk -F'\t' '{ printf "%-30s %10s\n", $1, $2 }' "$T/peak"
# The cores alone: one core slower than the other (15-50% at times on
# these machines, README) slows every 2-thread figure of that moment.
echo
awk -F'\t' '
  BEGIN { print "each core alone, 1 thread: resnet 56x56 3x3 layer least ms (FMA GFLOP/s)" }
  $2 ~ /_fma_peak_gflops$/ { c = $2; sub(/_fma.*/, "", c); g[$1, c] = $3; next }
  $2 ~ /_wino_56x56_ms$/ { c = $2; sub(/_wino.*/, "", c)
    if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
    line[$1] = line[$1] sprintf("  %s %s (%s)", c, $3, g[$1, c])
    if (!($1 in lo) || $3 < lo[$1]) lo[$1] = $3
    if (!($1 in hi) || $3 > hi[$1]) hi[$1] = $3 }
  END { for (i = 1; i <= n; i++) { k = order[i]; sp = lo[k] > 0 ? hi[k] / lo[k] : 0
          printf "%-22s%s  slowest/fastest %.2fx\n", k ":", line[k], sp
          if (sp > worst) worst = sp }
        if (worst >= 1.10)
          printf "a slow phase: one core ran the layer %.2fx slower than the other (2-thread figures wait for it)\n", worst }' \
    "$T/cores.all"
# One photo, whole command with model load, against ONNX Runtime's session
# creation and one run (tests/bench/zoo_one.sh), for resnet50 when it ran.
case " $nets " in *" resnet50 "*)
    echo; BIN=$BIN sh "$TOP/tests/bench/zoo_one.sh" resnet50 "$rounds" "$threads" ;;
esac
# The peak memory of one photo through each net, ours and ONNX Runtime's,
# against the bound (tests/bench/zoo_mem.sh).
echo; BIN=$BIN OMP_NUM_THREADS=$threads sh "$TOP/tests/bench/zoo_mem.sh" $nets
[ "${BENCH_LAYERS:-1}" = 0 ] && exit 0
# Each conv layer alone (batch 1, once) against the peak of the widest
# instructions the CPU has, on the same threads: the peak measured again
# after the layers (the machine's speed drifts over minutes), and the
# higher of that and the rounds' median taken, so that a slow phase at
# the rounds' start does not flatter the layers.
: >"$T/layers"
for n in $nets; do
    "$ENGINE" "$secs" model "$ZOO/$n.h5" "$n" "" layers >>"$T/layers" || exit 1
done
"$ENGINE" "$secs" peak >"$T/peak2" || exit 1
pk=$(awk -F'\t' -v t="${isa:+${isa}_}${threads}t" 'FNR == 1 { seen = 0 }
  $1 ~ "_" t "_" && !seen { seen = 1; if ($2 > p) p = $2 } END { print p + 0 }' "$T/peak" "$T/peak2")
echo
echo "FMA peak for the layers, $threads threads: $pk GFLOP/s (the higher of the rounds' median and one run after the layers)"
# Then how many reach 70% of the peak, of all and of those of 10 MFLOP or
# more (a layer of a few hundred thousand, a squeeze-excitation product
# on a 1x1 map, runs for microseconds), and the share of the layers'
# time and FLOPs in those that reach it: by the mean rate, and by the
# quickest pass ("best"; bench_engine.c's model_layer says why).
awk -F'\t' -v pk="${pk:-0}" '
  BEGIN { printf "%-96s %8s %7s %8s %7s %8s\n", "conv layer alone, batch 1 (net_node_kernel_stride_in_out)", "GFLOP/s", "% peak", "best", "% peak", "MFLOP" }
  function sum(k, g) { hit = pk > 0 && g >= 0.7 * pk; t = (g > 0) ? $3 / g : 0
    h[k] += hit; fh[k] += hit * $3; tt[k] += t; th[k] += hit * t
    if ($3 >= 10) hb[k] += hit }
  function line(k, what) {
    printf "at >= 70%% of %.0f GFLOP/s (%s): %d of %d layers, %d of the %d of 10 MFLOP or more;", pk, what, h[k], n, hb[k], nb
    printf " %.0f%% of their FLOPs and %.0f%% of their time\n", 100 * fh[k] / f, 100 * th[k] / tt[k] }
  { b = ($4 != "") ? $4 : $2
    printf "%-96s %8.1f %6.0f%% %8.1f %6.0f%% %8.1f\n", $1, $2, (pk > 0) ? 100 * $2 / pk : 0, b, (pk > 0) ? 100 * b / pk : 0, $3
    n++; f += $3; if ($3 >= 10) nb++
    sum(0, $2); sum(1, b) }
  END { if (n && pk > 0) { line(0, "mean rate"); line(1, "quickest pass") } }' "$T/layers"
