/* cpu: settings that the thread and BLAS libraries read only while they
 * load, before main; cpu_setup re-executes the program once with them set.
 *
 * OPENBLAS_CORETYPE (unless set): Debian's OpenBLAS picks its kernels from
 * the CPU model; a model newer than the library (common on cloud VMs)
 * falls back to Prescott, SSE3 kernels at a tenth of the speed. When that
 * happened and the CPU has AVX-512 (or AVX2+FMA), SkylakeX (or Haswell).
 *
 * Denormals flushed to zero (FTZ/DAZ) in every compute thread: guided
 * backprop's positive-only gradients shrink into the denormal range on
 * deep nets, where each multiply costs ~100 cycles (VGG-16 guided backprop
 * went from 1.8 s to 0.63 s). MXCSR is per thread and OpenBLAS starts its
 * threads while it loads (on first use, base/blas.c), so the program sets
 * FTZ/DAZ at once and OpenBLAS loads with one thread
 * (OPENBLAS_NUM_THREADS=1 stays set); threads started later from it
 * inherit the setting: the pool's (base/par.c, which also hands each
 * worker its creator's), and OpenBLAS's when cpu_blas_threads asks
 * for the user's count (OPENBLAS_NUM_THREADS as it was, else all cores).
 *
 * CNN_NO_REEXEC=1 (set for the re-executed program) turns this off. */
#ifndef CNN_CPU_H
#define CNN_CPU_H

void cpu_setup(char **argv);

/* OpenBLAS's own threads (the user's OPENBLAS_NUM_THREADS, else all
 * cores), started on first need: by the callers whose BLAS work is large
 * (PCA, Eigen-CAM's eigenvectors). The engines run their few OpenBLAS
 * calls in the calling thread; an idle OpenBLAS thread spins
 * (sched_yield) for about 0.1 s after it starts, which cost every command
 * that much CPU time while it loaded its model. Once only; a no-op when
 * the program was not re-executed (OpenBLAS then has its own). */
void cpu_blas_threads(void);
/* n OpenBLAS threads, now and for good (a later cpu_blas_threads keeps
 * them). */
void cpu_blas_set_threads(int n);

/* Number of cores to use given --threads (0 = online cores). */
int cli_nthreads(int requested);

#endif
