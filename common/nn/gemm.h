/* gemm: the engine's matrix products (row-major single precision).
 *
 * Threads: the engine keeps OpenBLAS to one thread and parallelises with
 * OpenMP itself, so that one pool of threads does all the work (two pools
 * on the same cores wait on each other) and so that several single-threaded
 * products can run at once, one per image or per block of columns. gemm()
 * splits one product over the OpenMP threads; gemm1() runs it on the
 * calling thread, for use inside a parallel region. */
#ifndef CNN_GEMM_H
#define CNN_GEMM_H

/* C = alpha op(A) op(B) + beta C, op(A) M x K, op(B) K x N, C M x N;
 * ta/tb: nonzero = transposed (A stored K x M, B stored N x K). */
void gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
          const float *B, int ldb, float beta, float *C, int ldc);
void gemm1(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
           const float *B, int ldb, float beta, float *C, int ldc);
/* Flops of work below which a thread is not worth starting (2e6, or the
 * environment's CNN_PAR_FLOPS). */
double gemm_par_flops(void);
/* Keep OpenBLAS to one thread from now on, or from its load when it is
 * not loaded yet (the engine calls it). */
void gemm_serial_blas(void);

#endif
