#include "nn/thinmm.h"

#include <cblas.h>

#if THINMM_KERNEL
#include <immintrin.h>

#include "base/par.h"

/* The vector: AVX-512's 16 lanes with 24 of its 32 registers as
 * accumulators, or AVX2's 8 with 12 of its 16 (the rest hold a row of b
 * and the broadcast). R1: a tile's rows when b is one vector wide. */
#if defined(__AVX512F__)
typedef __m512 vf;
#define VL 16
#define ACC 24
#define R1 16
#define vzero _mm512_setzero_ps
#define vload _mm512_loadu_ps
#define vstore _mm512_storeu_ps
#define vset1 _mm512_set1_ps
#define vfma _mm512_fmadd_ps
#define vadd _mm512_add_ps
#else
typedef __m256 vf;
#define VL 8
#define ACC 12
#define R1 12
#define vzero _mm256_setzero_ps
#define vload _mm256_loadu_ps
#define vstore _mm256_storeu_ps
#define vset1 _mm256_set1_ps
#define vfma _mm256_fmadd_ps
#define vadd _mm256_add_ps
#endif

/* Rows of Q per block of the X Q product: a block (64-192 KiB) stays in L2
 * while every row of X passes. */
#define XQ_KC 1024

/* Rows of X per sweep of the X^T Y product over its columns. Each row of
 * the sweep is a stream of addresses (rows lie D floats apart): up to 32
 * the hardware prefetchers follow them, at 64 they do not and the product
 * runs 2-3 times slower (10,000 x 21,632 rows, 48 columns, 2 threads). */
#define XTY_RB 32

#define INLINE static inline __attribute__((always_inline))

/* The one micro-kernel of both products: T rows of an output O (row
 * stride w) (=|+=) sums over n steps of a[t] b, where at step k the T
 * scalars a[t] = x[t * lane + k * step] are broadcast and b is the row
 * b + k * w (NV vectors): T x NV vectors of O in registers. X Q is that
 * with the tile's rows of X as lanes (lane D, step 1) and Q's rows as b;
 * X^T Y with J columns of X as lanes (lane 1, step D) and Y's rows as b.
 * Summed from zero and then added to O (first: stored): a sum of block
 * sums rounds less than one running sum. */
INLINE void tile(const float *x, int64_t lane, int64_t step, int64_t n, const float *b, int w,
                 float *o, int first, const int T, const int NV)
{
    vf c[ACC];
#pragma GCC unroll 24
    for (int i = 0; i < T * NV; i++)
        c[i] = vzero();
    for (int64_t k = 0; k < n; k++) {
        vf bv[3];
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++)
            bv[v] = vload(b + k * w + v * VL);
#pragma GCC unroll 24
        for (int t = 0; t < T; t++) {
            vf a = vset1(x[t * lane + k * step]);
#pragma GCC unroll 3
            for (int v = 0; v < NV; v++)
                c[t * NV + v] = vfma(a, bv[v], c[t * NV + v]);
        }
    }
#pragma GCC unroll 24
    for (int i = 0; i < T * NV; i++) {
        float *oi = o + (i / NV) * w + (i % NV) * VL;
        vstore(oi, first ? c[i] : vadd(c[i], vload(oi)));
    }
}

/* Rows [i0, i1) of Y, R = ACC / NV at a time, then one at a time. */
INLINE void xq_rows(const float *x, int64_t d, const float *q, int w, float *y, int64_t i0,
                    int64_t i1, const int NV)
{
    const int R = NV == 1 ? R1 : ACC / NV;
    for (int64_t k0 = 0; k0 < d; k0 += XQ_KC) {
        int64_t kc = d - k0 < XQ_KC ? d - k0 : XQ_KC;
        int64_t i = i0;
        for (; i + R <= i1; i += R)
            tile(x + i * d + k0, d, 1, kc, q + k0 * w, w, y + i * w, k0 == 0, R, NV);
        for (; i < i1; i++)
            tile(x + i * d + k0, d, 1, kc, q + k0 * w, w, y + i * w, k0 == 0, 1, NV);
    }
}

/* Columns [j0, j1) of X (rows of Z), J = ACC / NV at a time, then one. */
INLINE void xty_cols(const float *x, int64_t r, int64_t d, const float *y, int w, float *z,
                     int64_t j0, int64_t j1, const int NV)
{
    const int J = NV == 1 ? R1 : ACC / NV;
    for (int64_t i0 = 0; i0 < r; i0 += XTY_RB) {
        int64_t rb = r - i0 < XTY_RB ? r - i0 : XTY_RB;
        const float *xb = x + i0 * d, *yb = y + i0 * w;
        int64_t j = j0;
        for (; j + J <= j1; j += J)
            tile(xb + j, 1, d, rb, yb, w, z + j * w, 0, J, NV);
        for (; j < j1; j++)
            tile(xb + j, 1, d, rb, yb, w, z + j * w, 0, 1, NV);
    }
}

/* [a, b) of n split into nt parts, part t, boundaries multiples of m. */
static void part(int64_t n, int m, int nt, int t, int64_t *a, int64_t *b)
{
    int64_t units = (n + m - 1) / m;
    *a = units * t / nt * m;
    *b = units * (t + 1) / nt * m;
    if (*a > n)
        *a = n;
    if (*b > n)
        *b = n;
}

/* Wider products run in groups of 3 vectors of columns (X passes once per
 * group); the parts' bounds are multiples of every tile's rows. */
typedef struct thin_job {
    const float *x, *q;
    int64_t r, d;
    int w;
    float *y;
} thin_job;

static void xq_part(void *ctx, int t, int T)
{
    const thin_job *a = ctx;
    int64_t i0, i1;
    int w = a->w;
    part(a->r, 24, T, t, &i0, &i1);
    for (int c = 0; c < w; c += 3 * VL) {
        int nv = (w - c) / VL < 3 ? (w - c) / VL : 3;
        if (nv == 1)
            xq_rows(a->x, a->d, a->q + c, w, a->y + c, i0, i1, 1);
        else if (nv == 2)
            xq_rows(a->x, a->d, a->q + c, w, a->y + c, i0, i1, 2);
        else
            xq_rows(a->x, a->d, a->q + c, w, a->y + c, i0, i1, 3);
    }
}

/* q: y, y: z (thinmm_xty's names). */
static void xty_part(void *ctx, int t, int T)
{
    const thin_job *a = ctx;
    int64_t j0, j1;
    int w = a->w;
    part(a->d, 48, T, t, &j0, &j1);
    for (int c = 0; c < w; c += 3 * VL) {
        int nv = (w - c) / VL < 3 ? (w - c) / VL : 3;
        if (nv == 1)
            xty_cols(a->x, a->r, a->d, a->q + c, w, a->y + c, j0, j1, 1);
        else if (nv == 2)
            xty_cols(a->x, a->r, a->d, a->q + c, w, a->y + c, j0, j1, 2);
        else
            xty_cols(a->x, a->r, a->d, a->q + c, w, a->y + c, j0, j1, 3);
    }
}

void thinmm_xq(const float *x, int64_t r, int64_t d, const float *q, int w, float *y)
{
    thin_job a = { x, q, r, d, w, y };
    par_run(par_threads(), xq_part, &a);
}

void thinmm_xty(const float *x, int64_t r, int64_t d, const float *y, int w, float *z)
{
    thin_job a = { x, y, r, d, w, z };
    par_run(par_threads(), xty_part, &a);
}

#else

void thinmm_xq(const float *x, int64_t r, int64_t d, const float *q, int w, float *y)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r, w, (int)d, 1.0f, x, (int)d, q,
                w, 0.0f, y, w);
}

void thinmm_xty(const float *x, int64_t r, int64_t d, const float *y, int w, float *z)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, w, (int)r, 1.0f, x, (int)d, y,
                w, 1.0f, z, w);
}

#endif
