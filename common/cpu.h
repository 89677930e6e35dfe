/* cpu: make OpenBLAS use the kernels this CPU has.
 *
 * OpenBLAS (Debian's DYNAMIC_ARCH build) picks its kernels from the CPU
 * model; a model newer than the library (common on cloud VMs, which also
 * report "Intel Xeon Processor") falls back to Prescott, SSE3 kernels at a
 * tenth of the speed. OpenBLAS reads OPENBLAS_CORETYPE only while it loads,
 * before main, so cpu_fix_blas re-executes the program once with the right
 * core type (SkylakeX with AVX-512, Haswell with AVX2+FMA) when the choice
 * was Prescott and the CPU can do better. A user's OPENBLAS_CORETYPE is
 * respected; CNN_NO_BLAS_FIX=1 turns the fix off. */
#ifndef CNN_CPU_H
#define CNN_CPU_H

void cpu_fix_blas(char **argv);

#endif
