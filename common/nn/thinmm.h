/* thinmm: the two products of a pass of the randomized PCA over a batch of
 * rows: Y = X Q and Z += X^T Y, X tall (r x D, row-major, row stride D),
 * Q and Y thin (w columns, w a multiple of THINMM_LANES). (The Dense op,
 * and colrun's dense layer with it, run on nn/densemm.h, whose
 * dot-product form streams W at full vector width at batch 1, where Q
 * would be one image padded to a vector.)
 *
 * With AVX-512 or AVX2+FMA these run on their own kernels, which read X
 * where it lies (no packing): a tile of 24 vector registers (AVX2: 12)
 * holds rows of Y (or columns of Z), the w values of a row of Q (or of Y)
 * are loaded once, and X's values are broadcast from memory into the
 * multiply-adds. OpenBLAS packs X once for each product, which cost a fifth
 * of a pass, and runs these shapes at 60-95 GFLOP/s on 2 cores. Without
 * either, both are cblas_sgemm calls. Both split the work over the OpenMP
 * threads, each output element computed by one thread in a fixed order
 * (blocks of 1024 terms, in order): the results depend neither on the
 * number of threads nor on w nor on the other columns. */
#ifndef CNN_THINMM_H
#define CNN_THINMM_H

#include <stdint.h>

/* 1 when the kernels are compiled in (AVX-512, or AVX2 with FMA); else
 * both are plain cblas_sgemm calls (on OpenBLAS's threads, not OpenMP's).
 * THINMM_LANES: the vector's floats, of which w must be a multiple. */
#if defined(__AVX512F__)
#define THINMM_KERNEL 1
#define THINMM_LANES 16
#elif defined(__AVX2__) && defined(__FMA__)
#define THINMM_KERNEL 1
#define THINMM_LANES 8
#else
#define THINMM_KERNEL 0
#define THINMM_LANES 16
#endif

/* Y (r x w, row-major) = X Q, Q (D x w, row-major). */
void thinmm_xq(const float *x, int64_t r, int64_t d, const float *q, int w, float *y);
/* Z (D x w, row-major) += X^T Y, Y (r x w, row-major). */
void thinmm_xty(const float *x, int64_t r, int64_t d, const float *y, int w, float *z);

#endif
