/* winograd: F(4x4, 3x3) convolutions (see winograd.h).
 *
 * Transforms (Toom-Cook on the points 0, -1, 1, 1/2, -2 and infinity,
 * Barabasz et al., "Error analysis and improving the accuracy of Winograd
 * convolution for deep neural networks", 2020; Lavin & Gray's 0, +-1, +-2
 * need coefficients up to 8 and 1/24 in every transform, and came out 2.2
 * times further from float64 on random layers and over 1e-4 of it on
 * inception_v3):
 *   B^T = | 1 -3/2  -2  3/2   1  0 |   G = |    1      0      0   |
 *         | 0   1 -5/2  1/2   1  0 |       | -1/3    1/3  -1/3  |
 *         | 0  -1  1/2  5/2   1  0 |       |  1/3    1/3   1/3  |
 *         | 0  -2   -1    2   1  0 |       | -16/15 -8/15 -4/15 |
 *         | 0 1/2   -1 -1/2   1  0 |       |  1/15  -2/15  4/15 |
 *         | 0   1 -3/2   -2 3/2  1 |       |    0      0      1   |
 *   A^T = | 1  1  1    1    1  0 |
 *         | 0 -1  1  1/2   -2  0 |
 *         | 0  1  1  1/4    4  0 |
 *         | 0 -1  1  1/8   -8  1 |
 * A chunk's layout in a thread's slot: V, the transformed input, 36
 * matrices Cin x T (T the chunk's tiles, tile t = row * tw + column), in
 * PK_NR-column panels for the micro-kernel or row-major for sgemm; M, the
 * products, 36 matrices Cout x T row-major; then six padded rows of width
 * 4 tw + 2 (and room for the vector code) and a row of w zeros. */
#include <stdlib.h>
#include <string.h>

#include "base/par.h"
#include "nn/ops/chunks.h"
#include "nn/gemm.h"
#include "nn/ops/pack.h"
#include "nn/ops/simd.h"
#include "nn/ops/winograd.h"

/* Positions of a transformed tile: 6 x 6. */
#define NX 36

/* Floats of V and M one chunk aims at (4 MiB: the products' operands
 * stay in L2/L3 while every U_xi streams past). */
#define WINO_CHUNK (1024 * 1024)
/* Floats of transformed weights an uncached call makes at a time (2 MiB;
 * u_block). */
#define WINO_U_BLOCK (512 * 1024)
/* Fewest tiles a chunk should have (below, the products are too thin). */
#define WINO_MIN_TILES 64
/* Fewest channels on either side for Winograd to pay (MNIST's first conv,
 * one channel in, stays on im2col). */
#define WINO_MIN_C 16

/* Fewest tiles an image should have: the transformed weights (36 Cin Cout
 * floats, 4 times the weights) are made and read once per call, which for
 * fewer tiles costs more than the products save (a 7x7 VGG layer is 4
 * tiles, and runs im2col; a 14x14 one is 16). Decided per image, never by
 * the batch: Winograd and im2col round differently, and a row's result
 * must not depend on how many rows share its call (issue 20). */
#if PK_GEMM
/* On pk_gemm with the vector transforms, AVX2 as AVX-512: on a 2-core
 * AVX2 EPYC a 14x14 plane (16 tiles; resnet50's layer3, 256 channels) ran
 * at 155-185 "direct" GFLOP/s by Winograd against 64-72 by im2col, while
 * 7x7 (4 tiles, 512 channels: U is 36 x 1 MiB read for 4 tiles) gained
 * nothing forward (resnet18 40.3 against 40.1 ms at batch 1, 41.8 against
 * 39.5 at 4) and lost on the input gradient (92 against 85 ms). */
#define WINO_IMAGE_TILES 16
#else
/* Without pk_gemm Winograd's products are 36 thin OpenBLAS calls, which
 * repack both operands every time: on the AVX2 EPYC a 14x14 plane ran at
 * 42 GFLOP/s by Winograd against 62 by im2col, while 28x28 (49 tiles) and
 * 56x56 stayed faster by Winograd. */
#define WINO_IMAGE_TILES 25
#endif

/* With few tiles (14x14 maps: 16) the transforms cost more than the
 * products save unless both sides have 64 channels or more: densenet121's
 * 3x3 128 -> 32 convolutions at 14x14 ran 0.126 ms forward and 0.103 its
 * input gradient (32 -> 128) by Winograd, 0.109 and 0.069 by im2col,
 * while 128 -> 64 was even and 256 -> 256 took 0.42 against 1.02. */
#define WINO_FEW_TILES 32
#define WINO_FEW_MIN_C 64

int wino_worth(const wgeo *g)
{
    int64_t tiles = g->th * g->tw, c = g->cin < g->cout ? g->cin : g->cout;
    return tiles >= WINO_IMAGE_TILES && (tiles >= WINO_FEW_TILES || c >= WINO_FEW_MIN_C);
}

int wino_wanted(int64_t cin, int64_t cout, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                int64_t dh, int64_t dw, int64_t groups)
{
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("CNN_CONV_WINOGRAD");
        on = !(e && !strcmp(e, "0"));
    }
    return on && kh == 3 && kw == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1 && groups == 1 &&
           cin >= WINO_MIN_C && cout >= WINO_MIN_C;
}

void wino_init(wgeo *g, int64_t cin, int64_t h, int64_t w, int64_t cout, int64_t oh, int64_t ow,
               int64_t pt, int64_t pl)
{
    g->cin = cin, g->h = h, g->w = w, g->cout = cout, g->oh = oh, g->ow = ow, g->pt = pt,
    g->pl = pl;
    g->tw = ceil_div(ow, 4), g->th = ceil_div(oh, 4);
    g->trows = chunk_rows(WINO_CHUNK / (NX * (cin + cout) * g->tw),
                          ceil_div(WINO_MIN_TILES, g->tw), g->th);
}

/* The distance between two of the 36 matrices of U, V or M holding n
 * floats: n rounded up to 4 KiB plus one cache line, so that the 36
 * matrices' rows do not all fall in the same cache sets (the transforms
 * read or write all 36 at once; at a power-of-two distance they would
 * evict each other). */
static size_t stagger(size_t n) { return (n + 1023) / 1024 * 1024 + 16; }

/* Floats of one transformed weight matrix Cout x Cin, packed, staggered. */
static size_t u_stride(const wgeo *g)
{
    return stagger(PK_GEMM ? pk_a_size(g->cout, g->cin) : (size_t)(g->cout * g->cin));
}
static size_t u_floats(const wgeo *g) { return NX * u_stride(g); }

/* Floats of one padded row: 4 tw + 2 columns, plus room for the vector
 * code to read 16 tiles (and one more) past the last. */
static int64_t row_floats(const wgeo *g) { return (4 * g->tw + 2 + 72 + 15) / 16 * 16; }

/* Tiles of a chunk of rows tile rows, and that rounded up to whole panels. */
static int64_t tiles_padded(const wgeo *g, int64_t rows)
{
    return ceil_div(rows * g->tw, PK_NR) * PK_NR;
}

/* Floats of one V and one M matrix of a chunk of rows tile rows. */
static size_t v_stride(const wgeo *g, int64_t rows)
{
    return stagger((size_t)(g->cin * tiles_padded(g, rows)));
}
static size_t m_stride(const wgeo *g, int64_t rows)
{
    return stagger((size_t)(g->cout * rows * g->tw));
}

static size_t slot_floats(const wgeo *g)
{
    size_t f = NX * (v_stride(g, g->trows) + m_stride(g, g->trows)) +
               (size_t)(6 * row_floats(g) + g->w);
    return (f + 15) / 16 * 16;
}

size_t wino_ws_floats(const wgeo *g, int wt)
{
    return u_floats(g) + (size_t)wt * slot_floats(g);
}

/* vf: a vector of VW floats, 16 with AVX-512, 8 with AVX2 (both with
 * pk_gemm's panels, PK_GEMM), else one float; the transforms below are
 * written once for all three. */
#if PK_KERNEL
#include <immintrin.h>

typedef __m512 vf;
#define VW 16
#define VLOAD _mm512_loadu_ps
#define VSTORE _mm512_storeu_ps
#define VSET1 _mm512_set1_ps
#define VADD _mm512_add_ps
#define VSUB _mm512_sub_ps
#define VMUL(a, b) _mm512_mul_ps(a, _mm512_set1_ps(b))
#define VFMA(a, b, c) _mm512_fmadd_ps(a, _mm512_set1_ps(b), c) /* a b + c */
#define VFNM(a, b, c) _mm512_fnmadd_ps(a, _mm512_set1_ps(b), c) /* c - a b */
#elif PK_GEMM
#include <immintrin.h>

typedef __m256 vf;
#define VW 8
#define VLOAD _mm256_loadu_ps
#define VSTORE _mm256_storeu_ps
#define VSET1 _mm256_set1_ps
#define VADD _mm256_add_ps
#define VSUB _mm256_sub_ps
#define VMUL(a, b) _mm256_mul_ps(a, _mm256_set1_ps(b))
#define VFMA(a, b, c) _mm256_fmadd_ps(a, _mm256_set1_ps(b), c)
#define VFNM(a, b, c) _mm256_fnmadd_ps(a, _mm256_set1_ps(b), c)
#else
typedef float vf;
#define VW 1
#define VLOAD(p) (*(p))
#define VSTORE(p, v) (*(p) = (v))
#define VSET1(a) (a)
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VFNM(a, b, c) ((c) - (a) * (b))
#endif

/* U_xi[o][c] = (G g G^T)[xi] for each filter g = W[o][c], into the 36
 * packed (or row-major) matrices: a panel of R output channels and a block
 * of WB input channels at a time, transformed into a block in L1 laid out
 * as U is, then copied out 36 runs of R WB floats (scattered single stores
 * miss the cache each time). The last panel's spare rows get 0. */
#define WB 16

/* The six values of G v for a column (or row) v = (a, b, c). */
static inline __attribute__((always_inline)) void gcol(vf a, vf b, vf c, vf *o)
{
    vf s = VADD(a, c);
    o[0] = a;
    o[1] = VMUL(VSUB(b, s), 1.0f / 3);
    o[2] = VMUL(VADD(s, b), 1.0f / 3);
    o[3] = VMUL(VFMA(a, 4.0f, VFMA(b, 2.0f, c)), -4.0f / 15);  /* -(16a + 8b + 4c) / 15 */
    o[4] = VMUL(VFMA(c, 4.0f, VFMA(b, -2.0f, a)), 1.0f / 15);  /* (a - 2b + 4c) / 15 */
    o[5] = c;
}

/* u = G g G^T (36 values, row-major) for filters g (taps k[0..8], row by
 * row). */
static inline __attribute__((always_inline)) void gtile(const vf *k, vf *u)
{
    vf t[3][6];
    for (int j = 0; j < 3; j++)
        gcol(k[j], k[3 + j], k[6 + j], t[j]);
    for (int r = 0; r < 6; r++)
        gcol(t[0][r], t[1][r], t[2][r], u + 6 * r);
}

/* Items i0..i1-1 (panel, block of input channels) of weights(). */
typedef struct wt_job {
    const wgeo *g;
    const float *W;
    float *U;
} wt_job;

static void weight_items(void *ctx, int64_t i0, int64_t i1, int t)
{
    const wt_job *a = ctx;
    const wgeo *g = a->g;
    const float *W = a->W;
    float *U = a->U;
    enum { R = PK_GEMM ? PK_MR : 1 };
    int64_t Ci = g->cin, Co = g->cout, nb = ceil_div(Ci, WB);
    size_t us = u_stride(g);
    (void)t;
    for (int64_t it = i0; it < i1; it++) {
        int64_t p = it / nb, c0 = it % nb * WB, cn = Ci - c0 < WB ? Ci - c0 : WB;
        float blk[NX][WB][R];
#if PK_KERNEL
        /* The R filters of a panel, one per vector lane (gathered 9 Ci
         * floats apart), one input channel at a time; rows past Co are
         * masked off and come out 0. */
        const __m512i idx = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 0, 0, 0),
            _mm512_set1_epi32((int)(Ci * 9)));
        int64_t live = Co - p * R < R ? Co - p * R : R;
        __mmask16 om = (__mmask16)((1u << live) - 1);
        const float *base = W + (p * R * Ci + c0) * 9;
        for (int64_t c = 0; c < cn; c++) {
            vf k[9], u[NX];
            for (int j = 0; j < 9; j++)
                k[j] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), om, idx, base + c * 9 + j, 4);
            gtile(k, u);
            for (int xi = 0; xi < NX; xi++)
                _mm512_mask_storeu_ps(blk[xi][c], (__mmask16)((1u << R) - 1), u[xi]);
        }
#elif PK_GEMM
        /* The same with R = 6 filters in 8 lanes, each tap's R values put
         * in place by scalar loads (a gather costs as much on AMD); lanes
         * past the panel's live rows are 0. */
        int64_t live = Co - p * R < R ? Co - p * R : R;
        const float *base = W + (p * R * Ci + c0) * 9;
        for (int64_t c = 0; c < cn; c++) {
            float kt[9][VW] = { { 0 } }, ut[VW];
            vf k[9], u[NX];
            for (int64_t l = 0; l < live; l++)
                for (int j = 0; j < 9; j++)
                    kt[j][l] = base[l * Ci * 9 + c * 9 + j];
            for (int j = 0; j < 9; j++)
                k[j] = VLOAD(kt[j]);
            gtile(k, u);
            for (int xi = 0; xi < NX; xi++) {
                VSTORE(ut, u[xi]);
                memcpy(blk[xi][c], ut, R * sizeof(float));
            }
        }
#else
        for (int64_t c = 0; c < cn; c++) {
            vf k[9] = { 0 }, u[NX];
            if (p < Co)
                memcpy(k, W + (p * Ci + c0 + c) * 9, sizeof k);
            gtile(k, u);
            for (int xi = 0; xi < NX; xi++)
                blk[xi][c][0] = u[xi];
        }
#endif
        /* Packed: rows c0.. of a panel are consecutive runs of R floats
         * (WB divides PK_KC, so a block stays in one block of K). */
        for (int xi = 0; xi < NX; xi++) {
            if (PK_GEMM)
                memcpy(U + xi * us + pk_a_at(Co, Ci, p * R, c0), blk[xi],
                       (size_t)(cn * R) * sizeof(float));
            else
                for (int64_t c = 0; c < cn; c++)
                    U[xi * us + (size_t)(p * Ci + c0 + c)] = blk[xi][c][0];
        }
    }
}

static void weights(const wgeo *g, const float *W, float *U)
{
    enum { R = PK_GEMM ? PK_MR : 1 };
    int64_t Ci = g->cin, Co = g->cout, np = ceil_div(Co, R), nb = ceil_div(Ci, WB);
    wt_job a = { g, W, U };
    par_for(np * nb, Co * Ci > 4096 ? par_threads() : 1, weight_items, &a);
}

/* o = B^T e for six values (vectors) e. */
static inline __attribute__((always_inline)) void bt6(const vf *e, vf *o)
{
    vf d31 = VSUB(e[3], e[1]), d42 = VSUB(e[4], e[2]);
    o[0] = VFMA(e[2], -2.0f, VFMA(d31, 1.5f, VADD(e[0], e[4])));  /* e0 - 3/2 e1 - 2e2 + 3/2 e3 + e4 */
    o[1] = VFMA(e[2], -2.5f, VFMA(e[3], 0.5f, VADD(e[1], e[4]))); /* e1 - 5/2 e2 + 1/2 e3 + e4 */
    o[2] = VFMA(e[2], 0.5f, VFMA(e[3], 2.5f, VSUB(e[4], e[1])));  /* -e1 + 1/2 e2 + 5/2 e3 + e4 */
    o[3] = VFMA(d31, 2.0f, d42);                                   /* -2e1 - e2 + 2e3 + e4 */
    o[4] = VFNM(d31, 0.5f, d42);                                   /* e1/2 - e2 - e3/2 + e4 */
    o[5] = VFMA(e[3], -2.0f, VFMA(d42, 1.5f, VADD(e[1], e[5])));  /* e1 - 3/2 e2 - 2e3 + 3/2 e4 + e5 */
}

/* o = A^T m for six values (vectors) m. */
static inline __attribute__((always_inline)) void at4(const vf *m, vf *o)
{
    vf a = VADD(m[1], m[2]), b = VSUB(m[2], m[1]);
    o[0] = VADD(VADD(m[0], a), VADD(m[3], m[4]));
    o[1] = VFMA(m[4], -2.0f, VFMA(m[3], 0.5f, b));
    o[2] = VFMA(m[4], 4.0f, VFMA(m[3], 0.25f, a));
    o[3] = VADD(VFMA(m[4], -8.0f, VFMA(m[3], 0.125f, b)), m[5]);
}

#if PK_KERNEL
/* r_i = (B^T d) rows for n columns (16 at a time). */
static void down(const float *const *d, float *const *r, int64_t n)
{
    for (int64_t u = 0; u < n; u += 16) {
        __mmask16 m = mask16(n - u);
        vf e[6], o[6];
        for (int i = 0; i < 6; i++)
            e[i] = _mm512_maskz_loadu_ps(m, d[i] + u);
        bt6(e, o);
        for (int i = 0; i < 6; i++)
            _mm512_mask_storeu_ps(r[i] + u, m, o[i]);
    }
}

/* Elements j = 0..3 of 16 tiles of four (tile t at q[4t .. 4t+3]): two
 * rounds of even/odd separation. */
static inline __attribute__((always_inline)) void split4(const float *q, vf *e0, vf *e1,
                                                          vf *e2, vf *e3)
{
    const __m512i ev = idx_even(), od = idx_odd();
    vf a0 = _mm512_loadu_ps(q), a1 = _mm512_loadu_ps(q + 16);
    vf a2 = _mm512_loadu_ps(q + 32), a3 = _mm512_loadu_ps(q + 48);
    vf e01 = _mm512_permutex2var_ps(a0, ev, a1), o01 = _mm512_permutex2var_ps(a0, od, a1);
    vf e23 = _mm512_permutex2var_ps(a2, ev, a3), o23 = _mm512_permutex2var_ps(a2, od, a3);
    *e0 = _mm512_permutex2var_ps(e01, ev, e23);
    if (e2)
        *e2 = _mm512_permutex2var_ps(e01, od, e23);
    *e1 = _mm512_permutex2var_ps(o01, ev, o23);
    if (e3)
        *e3 = _mm512_permutex2var_ps(o01, od, o23);
}

/* (. B) along n tiles of padded row r (tile t at r[4t .. 4t+5]) into
 * o[0..5], 16 tiles at a time. */
static void across(const float *r, float *const *o, int64_t n)
{
    for (int64_t u = 0; u < n; u += 16) {
        const float *q = r + 4 * u;
        vf e[6], t[6];
        split4(q, &e[0], &e[1], &e[2], &e[3]);
        split4(q + 4, &e[4], &e[5], NULL, NULL);
        bt6(e, t);
        __mmask16 m = mask16(n - u);
        for (int j = 0; j < 6; j++)
            _mm512_mask_storeu_ps(o[j] + u, m, t[j]);
    }
}
#elif PK_GEMM
/* r_i = (B^T d) rows for n columns, 8 at a time; the tail masked (d's
 * rows may end at the end of the input). */
static void down(const float *const *d, float *const *r, int64_t n)
{
    for (int64_t u = 0; u < n; u += 8) {
        vf e[6], o[6];
        if (n - u >= 8) {
            for (int i = 0; i < 6; i++)
                e[i] = _mm256_loadu_ps(d[i] + u);
            bt6(e, o);
            for (int i = 0; i < 6; i++)
                _mm256_storeu_ps(r[i] + u, o[i]);
        } else {
            __m256i m = mask8(n - u);
            for (int i = 0; i < 6; i++)
                e[i] = _mm256_maskload_ps(d[i] + u, m);
            bt6(e, o);
            for (int i = 0; i < 6; i++)
                _mm256_maskstore_ps(r[i] + u, m, o[i]);
        }
    }
}

/* Elements j = 0..3 of 8 tiles of four (tile t at q[4t .. 4t+3]): tiles
 * t and t + 4 in the two 128-bit lanes of row t, then a 4x4 transpose in
 * each lane. */
static inline __attribute__((always_inline)) void split4(const float *q, vf *e0, vf *e1,
                                                          vf *e2, vf *e3)
{
    vf a0 = _mm256_loadu2_m128(q + 16, q), a1 = _mm256_loadu2_m128(q + 20, q + 4);
    vf a2 = _mm256_loadu2_m128(q + 24, q + 8), a3 = _mm256_loadu2_m128(q + 28, q + 12);
    vf t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1);
    vf t2 = _mm256_unpacklo_ps(a2, a3), t3 = _mm256_unpackhi_ps(a2, a3);
    *e0 = _mm256_shuffle_ps(t0, t2, 0x44);
    *e1 = _mm256_shuffle_ps(t0, t2, 0xee);
    if (e2)
        *e2 = _mm256_shuffle_ps(t1, t3, 0x44);
    if (e3)
        *e3 = _mm256_shuffle_ps(t1, t3, 0xee);
}

/* (. B) along n tiles of padded row r (tile t at r[4t .. 4t+5]) into
 * o[0..5], 8 tiles at a time (r has room to read past the last). */
static void across(const float *r, float *const *o, int64_t n)
{
    for (int64_t u = 0; u < n; u += 8) {
        const float *q = r + 4 * u;
        vf e[6], t[6];
        split4(q, &e[0], &e[1], &e[2], &e[3]);
        split4(q + 4, &e[4], &e[5], NULL, NULL);
        bt6(e, t);
        if (n - u >= 8)
            for (int j = 0; j < 6; j++)
                _mm256_storeu_ps(o[j] + u, t[j]);
        else
            for (int j = 0; j < 6; j++)
                _mm256_maskstore_ps(o[j] + u, mask8(n - u), t[j]);
    }
}
#else
static void down(const float *const *d, float *const *r, int64_t n)
{
    for (int64_t u = 0; u < n; u++) {
        vf e[6], o[6];
        for (int i = 0; i < 6; i++)
            e[i] = d[i][u];
        bt6(e, o);
        for (int i = 0; i < 6; i++)
            r[i][u] = o[i];
    }
}

static void across(const float *r, float *const *o, int64_t n)
{
    for (int64_t u = 0; u < n; u++) {
        vf e[6], t[6];
        for (int j = 0; j < 6; j++)
            e[j] = r[4 * u + j];
        bt6(e, t);
        for (int j = 0; j < 6; j++)
            o[j][u] = t[j];
    }
}
#endif

/* V for tile rows ty0..ty1-1 of image x: for each channel and tile row,
 * the six input rows (zeros outside the image) are combined down the
 * columns (B^T d) into six padded rows, then along each tile (. B) into
 * 36 values per tile, written straight to their place in V's panels (or
 * rows) a run of tiles at a time. */
static void input_transform(const wgeo *g, const float *x, int64_t ty0, int64_t ty1, float *V,
                            int64_t vs, int64_t T, float *rows, const float *zero, int64_t c0,
                            int64_t c1)
{
    int64_t tw = g->tw, wp = row_floats(g), pl = g->pl, w = g->w, ps = g->cin * PK_NR;
    float *r[6], *rp[6];
    for (int i = 0; i < 6; i++)
        r[i] = rows + i * wp, rp[i] = r[i] + pl;
    /* Columns of a padded row outside the image stay zero. */
    memset(rows, 0, 6 * (size_t)wp * sizeof *rows);
    int64_t n = w < 4 * tw + 2 - pl ? w : 4 * tw + 2 - pl;
    for (int64_t c = c0; c < c1; c++) {
        const float *xc = x + c * g->h * w;
        for (int64_t ty = ty0; ty < ty1; ty++) {
            const float *d[6];
            for (int i = 0; i < 6; i++) {
                int64_t iy = 4 * ty - g->pt + i;
                d[i] = iy >= 0 && iy < g->h ? xc + iy * w : zero;
            }
            down(d, rp, n);
            for (int64_t t = 0, len; t < tw; t += len) {
                int64_t j = (ty - ty0) * tw + t; /* the tile's column of V */
                float *dst;
                if (PK_GEMM) {
                    len = PK_NR - j % PK_NR < tw - t ? PK_NR - j % PK_NR : tw - t;
                    dst = V + j / PK_NR * ps + c * PK_NR + j % PK_NR;
                } else {
                    len = tw - t;
                    dst = V + c * T + j;
                }
                for (int i = 0; i < 6; i++) {
                    float *o[6];
                    for (int k = 0; k < 6; k++)
                        o[k] = dst + (6 * i + k) * vs;
                    across(r[i] + 4 * t, o, len);
                }
            }
        }
    }
}

#if PK_KERNEL
/* Y = A^T m A for n tiles (16 at a time) whose 36 products lie at
 * m + xi ms, into output rows y[0..3] (NULL: past the image) from column
 * 0, cols of which are inside the image; bias bc, onto y when acc. */
static void up(const float *m, int64_t ms, int64_t n, float bc, float *const *y, int64_t cols,
               int acc)
{
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi =
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    vf bb = _mm512_set1_ps(bc);
    for (int64_t u = 0; u < n; u += 16) {
        __mmask16 mk = mask16(n - u);
        vf v[4][6]; /* v[k][j]: row k of A^T m, column j */
        for (int j = 0; j < 6; j++) {
            vf c[6], o[4];
            for (int i = 0; i < 6; i++)
                c[i] = _mm512_maskz_loadu_ps(mk, m + (6 * i + j) * ms + u);
            at4(c, o);
            for (int k = 0; k < 4; k++)
                v[k][j] = o[k];
        }
        int64_t left = cols - 4 * u;
        for (int k = 0; k < 4; k++) {
            if (!y[k])
                break;
            vf z[4];
            at4(v[k], z);
            for (int l = 0; l < 4; l++)
                z[l] = VADD(z[l], bb);
            /* Interleave: output column 4t + l is z[l][t]. */
            vf alo = _mm512_permutex2var_ps(z[0], lo, z[2]), ahi = _mm512_permutex2var_ps(z[0], hi, z[2]);
            vf blo = _mm512_permutex2var_ps(z[1], lo, z[3]), bhi = _mm512_permutex2var_ps(z[1], hi, z[3]);
            vf p[4] = { _mm512_permutex2var_ps(alo, lo, blo), _mm512_permutex2var_ps(alo, hi, blo),
                        _mm512_permutex2var_ps(ahi, lo, bhi), _mm512_permutex2var_ps(ahi, hi, bhi) };
            float *o = y[k] + 4 * u;
            for (int q = 0; q < 4; q++) {
                __mmask16 mq = mask16(left - 16 * q);
                if (acc)
                    p[q] = VADD(p[q], _mm512_maskz_loadu_ps(mq, o + 16 * q));
                _mm512_mask_storeu_ps(o + 16 * q, mq, p[q]);
            }
        }
    }
}
#elif PK_GEMM
/* The same 8 tiles at a time. Reading m past n tiles stays inside the
 * slot (M's matrices are staggered); those lanes land in columns past
 * cols and are not stored. */
static void up(const float *m, int64_t ms, int64_t n, float bc, float *const *y, int64_t cols,
               int acc)
{
    vf bb = _mm256_set1_ps(bc);
    for (int64_t u = 0; u < n; u += 8) {
        vf v[4][6]; /* v[k][j]: row k of A^T m, column j */
        for (int j = 0; j < 6; j++) {
            vf c[6], o[4];
            for (int i = 0; i < 6; i++)
                c[i] = _mm256_loadu_ps(m + (6 * i + j) * ms + u);
            at4(c, o);
            for (int k = 0; k < 4; k++)
                v[k][j] = o[k];
        }
        int64_t left = cols - 4 * u;
        for (int k = 0; k < 4; k++) {
            if (!y[k])
                break;
            vf z[4];
            at4(v[k], z);
            for (int l = 0; l < 4; l++)
                z[l] = VADD(z[l], bb);
            /* Interleave: output column 4t + l is z[l][t]; a 4x4
             * transpose in each 128-bit lane gives tiles t | t + 4. */
            vf u0 = _mm256_unpacklo_ps(z[0], z[1]), u1 = _mm256_unpackhi_ps(z[0], z[1]);
            vf u2 = _mm256_unpacklo_ps(z[2], z[3]), u3 = _mm256_unpackhi_ps(z[2], z[3]);
            vf t04 = _mm256_shuffle_ps(u0, u2, 0x44), t15 = _mm256_shuffle_ps(u0, u2, 0xee);
            vf t26 = _mm256_shuffle_ps(u1, u3, 0x44), t37 = _mm256_shuffle_ps(u1, u3, 0xee);
            vf p[4] = { _mm256_permute2f128_ps(t04, t15, 0x20),
                        _mm256_permute2f128_ps(t26, t37, 0x20),
                        _mm256_permute2f128_ps(t04, t15, 0x31),
                        _mm256_permute2f128_ps(t26, t37, 0x31) };
            float *o = y[k] + 4 * u;
            for (int q = 0; q < 4 && left > 8 * q; q++) {
                if (left - 8 * q >= 8) {
                    if (acc)
                        p[q] = VADD(p[q], _mm256_loadu_ps(o + 8 * q));
                    _mm256_storeu_ps(o + 8 * q, p[q]);
                } else {
                    __m256i mq = mask8(left - 8 * q);
                    if (acc)
                        p[q] = VADD(p[q], _mm256_maskload_ps(o + 8 * q, mq));
                    _mm256_maskstore_ps(o + 8 * q, mq, p[q]);
                }
            }
        }
    }
}
#else
static void up(const float *m, int64_t ms, int64_t n, float bc, float *const *y, int64_t cols,
               int acc)
{
    for (int64_t t = 0; t < n; t++) {
        vf v[4][6];
        for (int j = 0; j < 6; j++) {
            vf c[6], o[4];
            for (int i = 0; i < 6; i++)
                c[i] = m[(6 * i + j) * ms + t];
            at4(c, o);
            for (int k = 0; k < 4; k++)
                v[k][j] = o[k];
        }
        for (int k = 0; k < 4; k++) {
            if (!y[k])
                break;
            vf z[4];
            at4(v[k], z);
            for (int l = 0; l < 4 && 4 * t + l < cols; l++)
                y[k][4 * t + l] = (acc ? y[k][4 * t + l] : 0) + z[l] + bc;
        }
    }
}
#endif

/* Y = A^T m A for each output channel and tile of the chunk, plus bias,
 * into (beta 0) or onto (beta 1) y; then, on the four rows just written,
 * a fused residual Add (r: the image's, or NULL) and activation, as the
 * ops round them (act(y + r)): a pass over rows still in L1 instead of
 * one over the whole output after the convolution. */
static void output_transform(const wgeo *g, const float *M, int64_t ms, int64_t T, const float *b,
                             int64_t ty0, int64_t ty1, float *y, float beta, int64_t o0,
                             int64_t o1, const float *r, op_act act)
{
    for (int64_t o = o0; o < o1; o++)
        for (int64_t ty = ty0; ty < ty1; ty++) {
            float *yr[4];
            for (int k = 0; k < 4; k++)
                yr[k] = 4 * ty + k < g->oh ? y + (o * g->oh + 4 * ty + k) * g->ow : NULL;
            up(M + o * T + (ty - ty0) * g->tw, ms, g->tw, b ? b[o] : 0.0f, yr, g->ow, beta != 0);
            for (int k = 0; k < 4 && yr[k] && (r || act.kind); k++) {
                float *v = yr[k];
                const float *rk = r ? r + (yr[k] - y) : NULL;
                if (rk)
                    for (int64_t i = 0; i < g->ow; i++)
                        v[i] += rk[i];
                act_flat(v, g->ow, act);
            }
        }
}

/* Product xi of a chunk: M_xi = U_xi V_xi. */
static void product(const wgeo *g, const float *U, int xi, float *V, int64_t vs, float *M,
                    int64_t ms, int64_t T)
{
    float *Vx = V + xi * vs, *Mx = M + xi * ms;
    const float *Ux = U + (size_t)xi * u_stride(g);
    if (PK_GEMM) {
        pk_zero_tail(Vx, g->cin * PK_NR, g->cin, T);
        pk_gemm(Ux, g->cout, g->cin, Vx, g->cin * PK_NR, T, Mx, T, NULL, 0, 0);
    } else
        gemm1(0, 0, (int)g->cout, (int)T, (int)g->cin, 1.0f, Ux, (int)g->cin, Vx, (int)T, 0.0f,
              Mx, (int)T);
}

/* A chunk's layout in a slot. */
typedef struct clay {
    int64_t T, vs, ms;
    float *V, *M, *rows, *zero;
} clay;

static clay layout(const wgeo *g, int64_t ty0, int64_t ty1, float *slot)
{
    clay l;
    l.T = (ty1 - ty0) * g->tw, l.vs = (int64_t)v_stride(g, ty1 - ty0);
    l.ms = (int64_t)m_stride(g, ty1 - ty0);
    l.V = slot, l.M = l.V + NX * l.vs, l.rows = l.M + NX * l.ms;
    l.zero = l.rows + 6 * row_floats(g);
    return l;
}

/* One chunk, tile rows ty0..ty1-1 of one image, on this thread. */
static void chunk(const wgeo *g, const float *U, const float *b, const float *x, float *y,
                  int64_t ty0, int64_t ty1, float *slot, float beta, const float *r, op_act act)
{
    clay l = layout(g, ty0, ty1, slot);
    memset(l.zero, 0, (size_t)g->w * sizeof *l.zero);
    input_transform(g, x, ty0, ty1, l.V, l.vs, l.T, l.rows, l.zero, 0, g->cin);
    for (int xi = 0; xi < NX; xi++)
        product(g, U, xi, l.V, l.vs, l.M, l.ms, l.T);
    output_transform(g, l.M, l.ms, l.T, b, ty0, ty1, y, beta, 0, g->cout, r, act);
}

/* One chunk on T threads together (called outside a parallel region):
 * the input transform split by channels, the 36 products among the
 * threads (each reads only its own U_xi: U, 36 Cin Cout floats, crosses
 * memory once instead of once per thread), the output transform split by
 * output channels. For few, small images (one 14x14 VGG layer at batch 1:
 * 49 tiles), where a chunk per thread would have each thread stream all of
 * U for a sliver of tiles. Scratch rows of thread t > 0: slot t. */
/* chunk_together's phases (par_for_fine's runs, by input channels,
 * products and output channels; each phase ends before the next starts;
 * rows scratch: the thread's). */
typedef struct together {
    const wgeo *g;
    const float *U, *b, *x;
    float *y;
    int64_t ty0, ty1;
    float *slots;
    size_t sl;
    float beta;
    const float *r;
    op_act act;
    clay l;
} together;

static void together_in(void *ctx, int64_t c0, int64_t c1, int t)
{
    const together *c = ctx;
    const wgeo *g = c->g;
    float *rows = t ? c->slots + (size_t)t * c->sl : c->l.rows, *zero = rows + 6 * row_floats(g);
    memset(zero, 0, (size_t)g->w * sizeof *zero);
    input_transform(g, c->x, c->ty0, c->ty1, c->l.V, c->l.vs, c->l.T, rows, zero, c0, c1);
}

static void together_products(void *ctx, int64_t x0, int64_t x1, int t)
{
    const together *c = ctx;
    (void)t;
    for (int64_t xi = x0; xi < x1; xi++)
        product(c->g, c->U, (int)xi, c->l.V, c->l.vs, c->l.M, c->l.ms, c->l.T);
}

static void together_out(void *ctx, int64_t o0, int64_t o1, int t)
{
    const together *c = ctx;
    (void)t;
    output_transform(c->g, c->l.M, c->l.ms, c->l.T, c->b, c->ty0, c->ty1, c->y, c->beta, o0, o1,
                     c->r, c->act);
}

static void chunk_together(const wgeo *g, const float *U, const float *b, const float *x,
                           float *y, int64_t ty0, int64_t ty1, float *slots, size_t sl,
                           float beta, int T, const float *r, op_act act)
{
    together t = { g, U, b, x, y, ty0, ty1, slots, sl, beta, r, act,
                   layout(g, ty0, ty1, slots) };
    /* par_for_fine's work: 16 a float each transform reads and writes;
     * the products' flops */
    double tiles = (double)t.l.T;
    par_for_fine(g->cin, T, 16.0 * NX * 2 * (double)g->cin * tiles, together_in, &t);
    par_for_fine(NX, T, 2.0 * NX * (double)(g->cin * g->cout) * tiles, together_products, &t);
    par_for_fine(g->cout, T, 16.0 * NX * 2 * (double)g->cout * tiles, together_out, &t);
}

/* The panel transforms colrun tiles many images with: one vector of VW
 * tiles of the PK_NR at a time through the same bt6 and at4 as above, so
 * that the values are the engine's. */
void wino_in_panel(const float *d, float *v, size_t vs)
{
    for (int l = 0; l < PK_NR; l += VW) {
        vf e[6], t[6][6], o[6];
        for (int j = 0; j < 6; j++) {   /* B^T down each column */
            for (int i = 0; i < 6; i++)
                e[i] = VLOAD(d + (6 * i + j) * PK_NR + l);
            bt6(e, o);
            for (int i = 0; i < 6; i++)
                t[i][j] = o[i];
        }
        for (int i = 0; i < 6; i++) {   /* then . B along each row */
            bt6(t[i], o);
            for (int j = 0; j < 6; j++)
                VSTORE(v + (size_t)(6 * i + j) * vs + l, o[j]);
        }
    }
}

void wino_out_panel(const float *m, size_t ms, float bias, float *y)
{
    for (int l = 0; l < PK_NR; l += VW) {
        vf c[6], t[4][6], o[4];
        for (int j = 0; j < 6; j++) {   /* A^T down each column */
            for (int i = 0; i < 6; i++)
                c[i] = VLOAD(m + (size_t)(6 * i + j) * ms + l);
            at4(c, o);
            for (int k = 0; k < 4; k++)
                t[k][j] = o[k];
        }
        for (int k = 0; k < 4; k++) {   /* then . A along each row */
            at4(t[k], o);
            for (int j = 0; j < 4; j++)
                VSTORE(y + (4 * k + j) * PK_NR + l, VADD(o[j], VSET1(bias)));
        }
    }
}

size_t wino_u_stride(const wgeo *g) { return u_stride(g); }

size_t wino_u_floats(const wgeo *g) { return u_floats(g); }

void wino_weights(const wgeo *g, const float *W, float *U) { weights(g, W, U); }

/* Items i0..i1-1 of run, on part t's slot. */
typedef struct run_args {
    const wgeo *g;
    const float *U, *b, *x;
    float *y;
    int64_t xs, ys, trows, nch;
    float *slots;
    size_t sl;
    float beta;
    const float *r;
    op_act act;
} run_args;

static void run_items(void *ctx, int64_t i0, int64_t i1, int t)
{
    const run_args *a = ctx;
    const wgeo *g = a->g;
    for (int64_t it = i0; it < i1; it++) {
        int64_t i = it / a->nch, ty0 = it % a->nch * a->trows;
        int64_t ty1 = ty0 + a->trows < g->th ? ty0 + a->trows : g->th;
        chunk(g, a->U, a->b, a->x + i * a->xs, a->y + i * a->ys, ty0, ty1,
              a->slots + (size_t)t * a->sl, a->beta, a->r ? a->r + i * a->ys : NULL, a->act);
    }
}

/* wino_run for the output channels g->cout of images ys floats apart
 * (their first channel at y, r). */
static void run(const wgeo *g, const float *W, const float *Uc, const float *b, int n,
                const float *x, float *y, int64_t ys, float beta, float *ws, int wt,
                const float *r, op_act act)
{
    float *slots = ws + u_floats(g);
    const float *U = Uc ? Uc : ws;
    size_t sl = slot_floats(g);
    if (!Uc)
        weights(g, W, ws);
    int T = par_threads();
    if (T > wt)
        T = wt;
    int64_t trows = g->trows, nch = ceil_div(g->th, trows), items = (int64_t)n * nch;
    int64_t xs = g->cin * g->h * g->w;
    /* Fewer items than two per thread: the threads work on each together,
     * unless the image has more tiles than output channels and a tile row
     * for each thread: then each thread takes its own rows of tiles
     * whole. Together, the products read the transformed input V (36 Cin
     * x tiles) from both threads' transforms and the output transform
     * their M; apart, each thread reads all of U (36 Cin Cout), which
     * with few output channels is the smaller: densenet121's 3x3
     * 128 -> 32 convolutions at 56x56 went from 0.71 to 0.46 ms (ONNX
     * Runtime: 0.55), resnet50's 64 -> 64 from 0.49 to 0.43, while at
     * 14x14 (16 tiles) apart ran 1.7 times slower. */
    int apart = g->cout < g->th * g->tw && g->th >= T;
    if (T > 1 && items < 2 * T && !apart) {
        for (int64_t it = 0; it < items; it++) {
            int64_t i = it / nch, ty0 = it % nch * trows;
            int64_t ty1 = ty0 + trows < g->th ? ty0 + trows : g->th;
            chunk_together(g, U, b, x + i * xs, y + i * ys, ty0, ty1, slots, sl, beta, T,
                           r ? r + i * ys : NULL, act);
        }
        return;
    }
    /* A smaller chunk fits the same slot. Not on OpenBLAS: it rounds a
     * column by the call's shape, so a chunk of tiles chosen by the batch
     * and the threads would give an image last bits of its own at each
     * batch (pk_gemm's columns do not depend on the call's). */
    if (PK_GEMM)
        chunks_balance(n, g->th, T, &trows, &nch);
    items = (int64_t)n * nch;
    /* Thread t its own run of items first (conv.c's conv_run says why),
     * in par_for_fine's runs. */
    run_args a = { g, U, b, x, y, xs, ys, trows, nch, slots, sl, beta, r, act };
    par_for_fine(items, T, 2.0 * NX * (double)(g->cin * g->cout) * (double)(n * g->th * g->tw),
                 run_items, &a);
}

/* Output channels whose transformed weights one uncached call makes at a
 * time: U for all of them (36 Cin Cout floats, 4 times the weights) would
 * be written to the workspace whole and read back once; a block of them
 * is made, used over every tile and overwritten by the next, so that a
 * single call (one photo) touches a few MB of workspace, not the whole U
 * (resnet18's 256-channel layers: 9.4 MB, most of its one-photo
 * workspace). A multiple of the packed GEMM's panel. */
static int64_t u_block(const wgeo *g)
{
    int64_t blk = WINO_U_BLOCK / (NX * g->cin) / PK_MR * PK_MR;
    return blk < PK_MR ? PK_MR : blk;
}

void wino_run(const wgeo *g, const float *W, const float *Uc, const float *b, int n,
              const float *x, float *y, float beta, float *ws, int wt, const float *r, op_act act)
{
    gemm_serial_blas();
    /* Each output value is the same sum whatever the block: on pk_gemm its
     * row of U and the products' columns do not depend on the other rows.
     * Not on OpenBLAS, which picks its kernels by the call's shape: there
     * an uncached call could give other last bits than the cached one. */
    int64_t ys = g->cout * g->oh * g->ow, plane = g->oh * g->ow;
    int64_t blk = Uc || !PK_GEMM ? g->cout : u_block(g);
    for (int64_t o0 = 0; o0 < g->cout; o0 += blk) {
        wgeo h = *g;
        h.cout = g->cout - o0 < blk ? g->cout - o0 : blk;
        run(&h, W + o0 * g->cin * 9, Uc, b ? b + o0 : NULL, n, x, y + o0 * plane, ys, beta, ws,
            wt, r ? r + o0 * plane : NULL, act);
    }
}
