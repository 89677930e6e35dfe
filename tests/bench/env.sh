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
