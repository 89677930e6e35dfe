/* pack: panel-packed GEMM for convolutions (see pack.h). */
#include <stdlib.h>
#include <string.h>

#include "nn/ops/pack.h"

/* PK_KC rows of B per block: a 256 x 32 block of B (32 KiB) stays in L1. */

size_t pk_a_size(int64_t M, int64_t K)
{
    return (size_t)((M + PK_MR - 1) / PK_MR * PK_MR) * (size_t)K;
}

#if defined(__AVX512F__)
#include <immintrin.h>

/* Transpose the 16 x 16 block in r (r[i] row i) in place. */
static inline void transpose16(__m512 r[16])
{
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* r[4g + j], 128-bit lane L: rows 4g..4g+3 of column 4L + j. */
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        r[4 * g] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        r[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        r[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        r[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        __m512 a = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);
        __m512 b = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xDD);
        __m512 c = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
        __m512 d = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xDD);
        t[j] = _mm512_shuffle_f32x4(a, c, 0x88);
        t[8 + j] = _mm512_shuffle_f32x4(a, c, 0xDD);
        t[4 + j] = _mm512_shuffle_f32x4(b, d, 0x88);
        t[12 + j] = _mm512_shuffle_f32x4(b, d, 0xDD);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        r[i] = t[i];
}

/* Columns k .. k+15 of the mr rows at A (row stride lda) into a panel's
 * rows k .. k+15 (PK_MR floats each; rows past mr zero). */
static inline void pack16(const float *A, int64_t lda, int mr, float *d)
{
    __m512 r[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        r[i] = i < mr ? _mm512_loadu_ps(A + i * lda) : _mm512_setzero_ps();
    transpose16(r);
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++)
        _mm512_mask_storeu_ps(d + j * PK_MR, (__mmask16)((1u << PK_MR) - 1), r[j]);
}
#define PK_VEC 16
#else
#define PK_VEC 0
#endif

/* Layout: blocks of PK_KC rows of K one after the other (block b at
 * b * PK_KC * Mp, Mp = M rounded up to PK_MR), in a block the panels of
 * PK_MR rows (panel p at p * kc * PK_MR), in a panel element (k, i) at
 * k * PK_MR + i: the block of A one pass over B needs is contiguous. With
 * AVX-512, 16 columns at a time by a register transpose (the scalar copy
 * took 6-9% of a batch-1 forward). */
void pk_pack_a(const float *A, int64_t M, int64_t K, int64_t lda, float *Ap)
{
    int64_t np = (M + PK_MR - 1) / PK_MR, Mp = np * PK_MR;
#pragma omp parallel for schedule(static) if (M * K > (1 << 18))
    for (int64_t p = 0; p < np; p++) {
        int64_t i0 = p * PK_MR, mr = M - i0 < PK_MR ? M - i0 : PK_MR;
        for (int64_t k0 = 0; k0 < K; k0 += PK_KC) {
            int64_t kc = K - k0 < PK_KC ? K - k0 : PK_KC, k = 0;
            float *d = Ap + k0 * Mp + p * kc * PK_MR;
#if PK_VEC
            for (; k + PK_VEC <= kc; k += PK_VEC)
                pack16(A + i0 * lda + k0 + k, lda, (int)mr, d + k * PK_MR);
#endif
            for (; k < kc; k++) {
                for (int64_t i = 0; i < mr; i++)
                    d[k * PK_MR + i] = A[(i0 + i) * lda + k0 + k];
                for (int64_t i = mr; i < PK_MR; i++)
                    d[k * PK_MR + i] = 0;
            }
        }
    }
}

void pk_put(float *Bp, int64_t ps, int64_t k, int64_t j0, const float *src, int64_t len,
            int64_t stride)
{
    for (int64_t t = 0; t < len;) {
        int64_t j = j0 + t, r = j % PK_NR, seg = PK_NR - r < len - t ? PK_NR - r : len - t;
        float *d = Bp + j / PK_NR * ps + k * PK_NR + r;
        if (!src)
            memset(d, 0, (size_t)seg * sizeof *d);
        else if (stride == 1)
            memcpy(d, src + t, (size_t)seg * sizeof *d);
        else
            for (int64_t u = 0; u < seg; u++)
                d[u] = src[(t + u) * stride];
        t += seg;
    }
}

void pk_zero_tail(float *Bp, int64_t ps, int64_t K, int64_t n)
{
    int64_t npad = (n + PK_NR - 1) / PK_NR * PK_NR;
    if (npad > n)
        for (int64_t k = 0; k < K; k++)
            memset(Bp + n / PK_NR * ps + k * PK_NR + n % PK_NR, 0,
                   (size_t)(npad - n) * sizeof(float));
}

#if defined(__AVX512F__)
#include "nn/ops/simd.h"

/* CNN_CONV_PACK: -1 unset, 0 off, 1 on; -2 not read yet. */
static int pk_mode = -2;

static int pk_env(void)
{
    if (pk_mode == -2) {
        const char *e = getenv("CNN_CONV_PACK");
        pk_mode = !e || !*e ? -1 : strcmp(e, "0") != 0;
    }
    return pk_mode;
}

void pk_set_mode(int mode) { pk_mode = mode < 0 ? -1 : mode > 0; }

/* Occlusion's region convolutions: only on request (CNN_CONV_PACK=1). */
int pk_available(void) { return pk_env() == 1; }

/* OpenBLAS picks its Haswell (AVX2) kernels on this AMD EPYC, so the
 * AVX-512 micro-kernel with the lowering written straight into panels
 * beats lowering + OpenBLAS on every zoo net (interleaved, 2 threads,
 * loaded machine: resnet18 batch 1 18.1 against 11.4 img/s, resnet50 11.3
 * against 6.3, alexnet 46.6 against 20.4), and mobilenet_v2's 16-channel
 * 1x1 layer and 27-deep first layer (OpenBLAS took 11% of its batch-1
 * samples there, a third of it zeroing C for beta = 0). Fewer rows (output
 * channels) leave most of a 12-row panel empty, and a shorter K (MNIST's
 * first layer, 9) spends the kernel storing its tile: those stay on
 * OpenBLAS. */
int pk_wanted(int64_t M, int64_t K)
{
    int e = pk_env();
    return e < 0 ? M >= 16 && K >= 16 : e;
}

/* One PK_MR x PK_NR tile: C[0..mr) x [0..nr) (=|+=) A B over kc (row k of
 * B at B + k * ldb: PK_NR in a packed panel, the row stride of a
 * row-major B; columns past nr are not read); load: add C's values, bias:
 * add bias[i] to row i. */
static inline void kernel(int64_t kc, const float *A, const float *B, int64_t ldb, float *C,
                          int64_t ldc, int mr, int nr, int load, const float *bias)
{
    __m512 c0[PK_MR], c1[PK_MR];
    __mmask16 m0 = mask16(nr), m1 = mask16(nr - 16);
#pragma GCC unroll 12
    for (int i = 0; i < PK_MR; i++)
        c0[i] = _mm512_setzero_ps(), c1[i] = _mm512_setzero_ps();
    if (nr > 16)
        for (int64_t k = 0; k < kc; k++) {
            __m512 b0 = _mm512_loadu_ps(B + k * ldb);
            __m512 b1 = _mm512_maskz_loadu_ps(m1, B + k * ldb + 16);
#pragma GCC unroll 12
            for (int i = 0; i < PK_MR; i++) {
                __m512 a = _mm512_set1_ps(A[k * PK_MR + i]);
                c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
                c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
            }
        }
    else /* the last panel of a row of panels, half of it or less used */
        for (int64_t k = 0; k < kc; k++) {
            __m512 b0 = _mm512_maskz_loadu_ps(m0, B + k * ldb);
#pragma GCC unroll 12
            for (int i = 0; i < PK_MR; i++)
                c0[i] = _mm512_fmadd_ps(_mm512_set1_ps(A[k * PK_MR + i]), b0, c0[i]);
        }
#pragma GCC unroll 12
    for (int i = 0; i < PK_MR; i++) {
        if (i >= mr)
            break;
        float *c = C + i * ldc;
        __m512 v0 = c0[i], v1 = c1[i];
        if (load) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, c));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, c + 16));
        }
        if (bias) {
            __m512 bb = _mm512_set1_ps(bias[i]);
            v0 = _mm512_add_ps(v0, bb);
            v1 = _mm512_add_ps(v1, bb);
        }
        _mm512_mask_storeu_ps(c, m0, v0);
        _mm512_mask_storeu_ps(c + 16, m1, v1);
    }
}

/* Loops, outermost first: blocks of PK_KC rows of K (that block of A,
 * M x PK_KC, stays in L2), panels of B (a PK_KC x PK_NR block in L1),
 * panels of A. With more columns than rows (early layers, big batches) the
 * panels of B are split over the threads, each reading all of A's block;
 * with more rows than columns (late layers at batch 1: 512 x 49) the
 * panels of A, each thread reading its share of A and all of B's few
 * panels: A is the bigger operand, and 2 panels of B over 2 threads left
 * one of them with a 17-column tail. A thread keeps the same panels of A
 * in every K block (a static schedule over the same count), so it adds
 * onto tiles only it wrote. */
void pk_gemm_ld(const float *Ap, int64_t M, int64_t K, const float *Bp, int64_t bstride,
                int64_t ldb, int64_t n, float *C, int64_t ldc, const float *bias, int accumulate,
                int par)
{
    int64_t np = (n + PK_NR - 1) / PK_NR, nm = (M + PK_MR - 1) / PK_MR;
    if (K == 0) {
        /* No products: C is its bias (or stays). */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < n; j++)
                C[i * ldc + j] = (accumulate ? C[i * ldc + j] : 0) + (bias ? bias[i] : 0);
        return;
    }
    int bym = M > n;
#pragma omp parallel if (par && (bym ? nm : np) > 1)
    for (int64_t k0 = 0; k0 < K; k0 += PK_KC) {
        int64_t kc = K - k0 < PK_KC ? K - k0 : PK_KC;
        const float *Ak = Ap + k0 * nm * PK_MR;
        int load = k0 > 0 || accumulate;
        if (bym)
            for (int64_t p = 0; p < np; p++) {
                int nr = n - p * PK_NR < PK_NR ? (int)(n - p * PK_NR) : PK_NR;
                const float *B = Bp + p * bstride + k0 * ldb;
#pragma omp for schedule(static) nowait
                for (int64_t a = 0; a < nm; a++) {
                    int64_t i0 = a * PK_MR;
                    int mr = M - i0 < PK_MR ? (int)(M - i0) : PK_MR;
                    kernel(kc, Ak + i0 * kc, B, ldb, C + i0 * ldc + p * PK_NR, ldc, mr, nr, load,
                           k0 == 0 && bias ? bias + i0 : NULL);
                }
            }
        else {
#pragma omp for schedule(static)
            for (int64_t p = 0; p < np; p++) {
                int nr = n - p * PK_NR < PK_NR ? (int)(n - p * PK_NR) : PK_NR;
                const float *B = Bp + p * bstride + k0 * ldb;
                for (int64_t i0 = 0; i0 < M; i0 += PK_MR) {
                    int mr = M - i0 < PK_MR ? (int)(M - i0) : PK_MR;
                    kernel(kc, Ak + i0 * kc, B, ldb, C + i0 * ldc + p * PK_NR, ldc, mr, nr, load,
                           k0 == 0 && bias ? bias + i0 : NULL);
                }
            }
        }
    }
}

void pk_gemm(const float *Ap, int64_t M, int64_t K, const float *Bp, int64_t bstride, int64_t n,
             float *C, int64_t ldc, const float *bias, int accumulate, int par)
{
    pk_gemm_ld(Ap, M, K, Bp, bstride, PK_NR, n, C, ldc, bias, accumulate, par);
}

#else

int pk_available(void) { return 0; }
void pk_set_mode(int mode) { (void)mode; }
int pk_wanted(int64_t M, int64_t K)
{
    (void)M, (void)K;
    return 0;
}

void pk_gemm(const float *Ap, int64_t M, int64_t K, const float *Bp, int64_t bstride, int64_t n,
             float *C, int64_t ldc, const float *bias, int accumulate, int par)
{
    (void)Ap, (void)M, (void)K, (void)Bp, (void)bstride, (void)n, (void)C, (void)ldc, (void)bias,
        (void)accumulate, (void)par;
}

void pk_gemm_ld(const float *Ap, int64_t M, int64_t K, const float *Bp, int64_t bstride,
                int64_t ldb, int64_t n, float *C, int64_t ldc, const float *bias, int accumulate,
                int par)
{
    (void)ldb;
    pk_gemm(Ap, M, K, Bp, bstride, n, C, ldc, bias, accumulate, par);
}

#endif
