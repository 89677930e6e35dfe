# Sourced by the benchmarks: give the references (NumPy, scikit-learn and
# PyTorch on Debian's OpenBLAS) the same OpenBLAS kernels that cnntools
# chooses (common/base/cpu.c), so that a CPU model OpenBLAS does not know does
# not slow the reference down to Prescott kernels.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    f=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
    case $f in
    *avx512f*avx512dq*avx512bw*avx512vl*) export OPENBLAS_CORETYPE=SkylakeX ;;
    *avx2*) case $f in *fma*) export OPENBLAS_CORETYPE=Haswell ;; esac ;;
    esac
fi

# Idle OpenMP threads in cnntools and PyTorch (both on libgomp): as the
# tools set them by default (common/base/cpu.h), a short spin (about 20 us)
# and then sleep. Spinning for long takes the cores from the working
# threads on a machine shared with other work (PyTorch's mobilenet_v2 ran 20
# times slower so here); not spinning at all makes each parallel loop wait
# for its threads to wake. ONNX Runtime's pool has no such middle setting:
# zoo_ort.js turns its spinning off. BENCH_SPIN=1 leaves each library its
# own default.
bench_wait() {
    [ "${BENCH_SPIN:-0}" = 1 ] || export OMP_WAIT_POLICY=passive GOMP_SPINCOUNT=2000
}
