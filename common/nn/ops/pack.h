/* pack: the convolution's own GEMM on panel-packed operands (AVX-512 or
 * AVX2+FMA).
 *
 * C (M x N, row-major, row stride ldc) = A (M x K) B (K x N). A is packed
 * in panels of PK_MR rows (pk_pack_a), B in panels of PK_NR columns: the
 * convolution writes its column matrix straight into that layout (element
 * (k, j) at (j / PK_NR) * bstride + k * PK_NR + j % PK_NR), so B is copied
 * once, not lowered and then packed again as a library GEMM would. The
 * micro-kernel keeps a PK_MR x PK_NR tile of C in vector registers;
 * blocks of PK_KC rows of B stay in L1 while every panel of A passes.
 * Without AVX-512 or AVX2+FMA at compile time pk_wanted() is 0 and
 * callers use OpenBLAS instead; convolutions (and occlusion's region
 * convolutions, nn/cone) ask pk_wanted() per product shape (see pack.c). */
#ifndef CNN_PACK_H
#define CNN_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "nn/ops/act.h"

/* The tile of the micro-kernel: PK_MR rows of A by PK_NR columns of B.
 * AVX-512: 12 x 32 in 24 zmm accumulators; AVX2+FMA: 6 x 16 in 12 ymm
 * accumulators (2 for B, 1 for A's broadcast: 15 of the 16 registers). */
#if defined(__AVX512F__)
#define PK_MR 12
#define PK_NR 32
#else
#define PK_MR 6
#define PK_NR 16
#endif
/* Rows of K per block of a packed A. */
#define PK_KC 256

/* PK_GEMM: 1 when a micro-kernel is compiled in (AVX-512, or AVX2 with
 * FMA): pk_gemm works whatever pk_wanted() says (Winograd runs on it with
 * either). PK_KERNEL: 1 for the AVX-512 one only. */
#if defined(__AVX512F__)
#define PK_KERNEL 1
#define PK_GEMM 1
#elif defined(__AVX2__) && defined(__FMA__)
#define PK_KERNEL 0
#define PK_GEMM 1
#else
#define PK_KERNEL 0
#define PK_GEMM 0
#endif

/* Should a convolution's M x K (x columns) product run here rather than on
 * OpenBLAS? CNN_CONV_PACK=0: never; else yes, whatever the shape (pack.c
 * says why; the shape stays an argument for a rule that needs it). */
int pk_wanted(int64_t M, int64_t K);
/* As CNN_CONV_PACK would: 1 always, 0 never, -1 unset (the default: as 1;
 * tests; a model prepared before keeps its choice until prepared again). */
void pk_set_mode(int mode);
/* Floats of a packed M x K matrix. */
size_t pk_a_size(int64_t M, int64_t K);
/* Where element (i, k) of an M x K matrix lies in its packed form (the
 * layout is described in pack.c; rows past M in the last panel are zero). */
static inline size_t pk_a_at(int64_t M, int64_t K, int64_t i, int64_t k)
{
    int64_t Mp = (M + PK_MR - 1) / PK_MR * PK_MR, k0 = k / PK_KC * PK_KC;
    int64_t kc = K - k0 < PK_KC ? K - k0 : PK_KC;
    return (size_t)(k0 * Mp + i / PK_MR * kc * PK_MR + (k - k0) * PK_MR + i % PK_MR);
}
/* Pack A (row-major, row stride lda) into Ap (pk_a_size floats). */
void pk_pack_a(const float *A, int64_t M, int64_t K, int64_t lda, float *Ap);
/* Pack the transpose of A: element (i, k) of the M x K matrix packed is
 * A[k * lda + i] (A row-major K x M, row stride lda): a 1x1 convolution's
 * input gradient multiplies by W^T with W as it lies. */
void pk_pack_at(const float *A, int64_t M, int64_t K, int64_t lda, float *Ap);
/* Write len values src[0], src[stride], ... into row k of a panel-packed
 * B (panel stride ps floats) at columns j0 .. j0+len-1; src NULL: zeros. */
void pk_put(float *Bp, int64_t ps, int64_t k, int64_t j0, const float *src, int64_t len,
            int64_t stride);
/* Zero columns n .. (the end of n's panel) of rows 0..K-1. */
void pk_zero_tail(float *Bp, int64_t ps, int64_t K, int64_t n);
/* C = Ap B (+ C when accumulate) (+ bias[i] on row i when bias), for the
 * n columns of B's panels (panel p at Bp + p * bstride; the last one
 * zero-padded). par: split the panels over the OpenMP threads. */
void pk_gemm(const float *Ap, int64_t M, int64_t K, const float *Bp, int64_t bstride, int64_t n,
             float *C, int64_t ldc, const float *bias, int accumulate, int par);
/* The same with row k of panel p at Bp + p * bstride + k * ldb: ldb =
 * PK_NR is pk_gemm; bstride = PK_NR and ldb = its row stride read a
 * row-major B where it lies (a 1x1 convolution's input), no copy, the
 * columns past n not read. R: a fused residual Add, R (M x n, row stride
 * ldc) added to the finished sum, or NULL; act: then a fused ReLU or Clip
 * on what is stored (act.h). Both round as the separate ops would:
 * act((A B + bias) + R). */
void pk_gemm_ld(const float *Ap, int64_t M, int64_t K, const float *Bp, int64_t bstride,
                int64_t ldb, int64_t n, float *C, int64_t ldc, const float *bias, int accumulate,
                int par, const float *R, op_act act);
/* pk_gemm_ld on this thread with B read where it lies at offsets: row k
 * of panel p (columns p PK_NR on) at B + off[k] + p * PK_NR, the columns
 * past n not read. A convolution's input, padded and split by column
 * phase (conv.c's implicit path), is its own lowering so: the offsets say
 * where each (channel, kernel row, kernel column) tap's run of inputs
 * starts. Each output is the same sum, in the same order, as pk_gemm_ld's
 * on that lowering. */
void pk_gemm_off(const float *Ap, int64_t M, int64_t K, const float *B, const int32_t *off,
                 int64_t n, float *C, int64_t ldc, const float *bias, int accumulate,
                 const float *R, op_act act);
/* pk_gemm_ld from A itself (row-major, row stride lda), each panel of A
 * packed right before its use, the rows split over the threads: for
 * products with more rows than columns, where A is read once. */
void pk_gemm_raw(const float *A, int64_t lda, int64_t M, int64_t K, const float *Bp,
                 int64_t bstride, int64_t ldb, int64_t n, float *C, int64_t ldc,
                 const float *bias, int accumulate, int par, const float *R, op_act act);
/* Thread t's share (of T, called inside a parallel region) of a product
 * split by rows of A: its panels of A, from Ap packed (A NULL) or from A
 * (Ap NULL, row stride lda, packed as used), against all of B. For
 * callers that give each thread a B of its own (conv.c's late layers at
 * batch 1). */
void pk_gemm_rows(const float *Ap, const float *A, int64_t lda, int64_t M, int64_t K,
                  const float *Bp, int64_t bstride, int64_t ldb, int64_t n, float *C,
                  int64_t ldc, const float *bias, int accumulate, const float *R, op_act act,
                  int t, int T);

#endif
