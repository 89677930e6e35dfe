/* winograd: F(2x2, 3x3) convolutions (see winograd.h).
 *
 * Transforms (Lavin & Gray):
 *   B^T = | 1  0 -1  0 |   G = |  1    0    0  |   A^T = | 1  1  1  0 |
 *         | 0  1  1  0 |       | 1/2  1/2  1/2 |         | 0  1 -1 -1 |
 *         | 0 -1  1  0 |       | 1/2 -1/2  1/2 |
 *         | 0  1  0 -1 |       |  0    0    1  |
 * A chunk's layout in a thread's slot: V, the transformed input, 16
 * matrices Cin x T (T the chunk's tiles, tile t = row * tw + column), in
 * PK_NR-column panels for the micro-kernel or row-major for sgemm; M, the
 * products, 16 matrices Cout x T row-major; then four padded rows of width
 * 2 tw + 2 and a row of w zeros. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "chunks.h"
#include "gemm.h"
#include "pack.h"
#include "winograd.h"

/* Floats of V and M one chunk aims at (4 MiB: the products' operands
 * stay in L2/L3 while every U_xi streams past). */
#define WINO_CHUNK (1024 * 1024)
/* Fewest tiles a chunk should have (below, the products are too thin). */
#define WINO_MIN_TILES 64
/* Fewest channels on either side for Winograd to pay (MNIST's first conv,
 * one channel in, stays on im2col). */
#define WINO_MIN_C 16

/* Fewest tiles a call should have: the transformed weights (16 Cin Cout
 * floats, 1.8 times the weights) are made and read once per call, which
 * below this costs more than the products save (a 14x14 VGG layer at
 * batch 1, 49 tiles, breaks even; at batch 2 Winograd is 15% faster). */
#define WINO_CALL_TILES 64

int wino_worth(const wgeo *g, int n) { return (int64_t)n * g->th * g->tw >= WINO_CALL_TILES; }

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
    g->tw = ceil_div(ow, 2), g->th = ceil_div(oh, 2);
    g->trows = chunk_rows(WINO_CHUNK / (16 * (cin + cout) * g->tw),
                          ceil_div(WINO_MIN_TILES, g->tw), g->th);
}

/* The distance between two of the 16 matrices of U, V or M holding n
 * floats: n rounded up to 4 KiB plus one cache line, so that the 16
 * matrices' rows do not all fall in the same cache sets (the transforms
 * read or write all 16 at once; at a power-of-two distance they would
 * evict each other). */
static size_t stagger(size_t n) { return (n + 1023) / 1024 * 1024 + 16; }

/* Floats of one transformed weight matrix Cout x Cin, packed, staggered. */
static size_t u_stride(const wgeo *g)
{
    return stagger(PK_KERNEL ? pk_a_size(g->cout, g->cin) : (size_t)(g->cout * g->cin));
}
static size_t u_floats(const wgeo *g) { return 16 * u_stride(g); }

/* Floats of one padded row: 2 tw + 2 columns, plus room for the vector
 * code to read 16 tiles past the last. */
static int64_t row_floats(const wgeo *g) { return (2 * g->tw + 2 + 64 + 15) / 16 * 16; }

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
    size_t f = 16 * (v_stride(g, g->trows) + m_stride(g, g->trows)) +
               (size_t)(4 * row_floats(g) + g->w);
    return (f + 15) / 16 * 16;
}

size_t wino_ws_floats(const wgeo *g, int wt)
{
    return u_floats(g) + (size_t)wt * slot_floats(g);
}

/* U_xi[o][c] = (G g G^T)[xi] for each filter g = W[o][c], into the 16
 * packed (or row-major) matrices: a panel of R output channels and a block
 * of WB input channels at a time, transformed into a block in L1 laid out
 * as U is, then copied out 16 runs of R WB floats (scattered single
 * stores miss the cache each time). The last panel's spare rows get 0. */
#define WB 32
static void weights(const wgeo *g, const float *W, float *U)
{
    enum { R = PK_KERNEL ? PK_MR : 1 };
    int64_t Ci = g->cin, Co = g->cout, np = ceil_div(Co, R), nb = ceil_div(Ci, WB);
    size_t us = u_stride(g);
#pragma omp parallel for schedule(static) if (Co * Ci > 4096)
    for (int64_t it = 0; it < np * nb; it++) {
        int64_t p = it / nb, c0 = it % nb * WB, cn = Ci - c0 < WB ? Ci - c0 : WB;
        float blk[16][WB][R];
        for (int64_t i = 0; i < R; i++) {
            int64_t o = p * R + i;
            for (int64_t c = 0; c < cn; c++) {
                float u[16] = { 0 };
                if (o < Co) {
                    const float *k = W + (o * Ci + c0 + c) * 9;
                    /* The next block's filters: a run of WB filters per
                     * row is too short for the hardware prefetcher. */
                    __builtin_prefetch(k + WB * 9);
                    float t[4][3];
                    for (int j = 0; j < 3; j++) {
                        t[0][j] = k[j];
                        t[1][j] = 0.5f * (k[j] + k[3 + j] + k[6 + j]);
                        t[2][j] = 0.5f * (k[j] - k[3 + j] + k[6 + j]);
                        t[3][j] = k[6 + j];
                    }
                    for (int r = 0; r < 4; r++) {
                        u[4 * r] = t[r][0];
                        u[4 * r + 1] = 0.5f * (t[r][0] + t[r][1] + t[r][2]);
                        u[4 * r + 2] = 0.5f * (t[r][0] - t[r][1] + t[r][2]);
                        u[4 * r + 3] = t[r][2];
                    }
                }
                for (int xi = 0; xi < 16; xi++)
                    blk[xi][c][i] = u[xi];
            }
        }
        /* Packed: rows c0.. of a panel are consecutive runs of R floats
         * (WB divides PK_KC, so a block stays in one block of K). */
        for (int xi = 0; xi < 16; xi++) {
            if (PK_KERNEL)
                memcpy(U + xi * us + pk_a_at(Co, Ci, p * R, c0), blk[xi],
                       (size_t)(cn * R) * sizeof(float));
            else
                for (int64_t c = 0; c < cn; c++)
                    U[xi * us + (size_t)(p * Ci + c0 + c)] = blk[xi][c][0];
        }
    }
}

#if PK_KERNEL
#include <immintrin.h>

static inline __mmask16 mask16(int64_t n) { return n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1); }

/* r_i = (B^T d) rows for n columns (16 at a time). */
static inline void down(const float *d0, const float *d1, const float *d2, const float *d3,
                        float *r0, float *r1, float *r2, float *r3, int64_t n)
{
    for (int64_t u = 0; u < n; u += 16) {
        __mmask16 m = mask16(n - u);
        __m512 a = _mm512_maskz_loadu_ps(m, d0 + u), b = _mm512_maskz_loadu_ps(m, d1 + u);
        __m512 c = _mm512_maskz_loadu_ps(m, d2 + u), e = _mm512_maskz_loadu_ps(m, d3 + u);
        _mm512_mask_storeu_ps(r0 + u, m, _mm512_sub_ps(a, c));
        _mm512_mask_storeu_ps(r1 + u, m, _mm512_add_ps(b, c));
        _mm512_mask_storeu_ps(r2 + u, m, _mm512_sub_ps(c, b));
        _mm512_mask_storeu_ps(r3 + u, m, _mm512_sub_ps(b, e));
    }
}

/* (. B) along n tiles of padded row r (tile t at r[2t .. 2t+3]) into
 * o0..o3, 16 tiles at a time: the even and odd columns are separated by
 * one permutation each. */
static inline void across(const float *r, float *o0, float *o1, float *o2, float *o3, int64_t n)
{
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (int64_t u = 0; u < n; u += 16) {
        const float *q = r + 2 * u;
        __m512 x0 = _mm512_loadu_ps(q), x1 = _mm512_loadu_ps(q + 16);
        __m512 y0 = _mm512_loadu_ps(q + 2), y1 = _mm512_loadu_ps(q + 18);
        __m512 a = _mm512_permutex2var_ps(x0, ev, x1), b = _mm512_permutex2var_ps(x0, od, x1);
        __m512 c = _mm512_permutex2var_ps(y0, ev, y1), e = _mm512_permutex2var_ps(y0, od, y1);
        __mmask16 m = mask16(n - u);
        _mm512_mask_storeu_ps(o0 + u, m, _mm512_sub_ps(a, c));
        _mm512_mask_storeu_ps(o1 + u, m, _mm512_add_ps(b, c));
        _mm512_mask_storeu_ps(o2 + u, m, _mm512_sub_ps(c, b));
        _mm512_mask_storeu_ps(o3 + u, m, _mm512_sub_ps(b, e));
    }
}
#else
static inline void down(const float *d0, const float *d1, const float *d2, const float *d3,
                        float *r0, float *r1, float *r2, float *r3, int64_t n)
{
    for (int64_t u = 0; u < n; u++) {
        float a = d0[u], b = d1[u], c = d2[u], e = d3[u];
        r0[u] = a - c, r1[u] = b + c, r2[u] = c - b, r3[u] = b - e;
    }
}

static inline void across(const float *r, float *o0, float *o1, float *o2, float *o3, int64_t n)
{
    for (int64_t u = 0; u < n; u++) {
        float a = r[2 * u], b = r[2 * u + 1], c = r[2 * u + 2], e = r[2 * u + 3];
        o0[u] = a - c, o1[u] = b + c, o2[u] = c - b, o3[u] = b - e;
    }
}
#endif

/* V for tile rows ty0..ty1-1 of image x: for each channel and tile row,
 * the four input rows (zeros outside the image) are combined down the
 * columns (B^T d) into four padded rows, then along each tile (. B) into
 * 16 values per tile, written straight to their place in V's panels (or
 * rows) a run of tiles at a time. */
static void input_transform(const wgeo *g, const float *x, int64_t ty0, int64_t ty1, float *V,
                            int64_t vs, int64_t T, float *rows, const float *zero, int64_t c0,
                            int64_t c1)
{
    int64_t tw = g->tw, wp = row_floats(g), pl = g->pl, w = g->w, ps = g->cin * PK_NR;
    float *r[4] = { rows, rows + wp, rows + 2 * wp, rows + 3 * wp };
    /* Columns of a padded row outside the image stay zero. */
    memset(rows, 0, 4 * (size_t)wp * sizeof *rows);
    int64_t n = w < 2 * tw + 2 - pl ? w : 2 * tw + 2 - pl;
    for (int64_t c = c0; c < c1; c++) {
        const float *xc = x + c * g->h * w;
        for (int64_t ty = ty0; ty < ty1; ty++) {
            const float *d[4];
            for (int i = 0; i < 4; i++) {
                int64_t iy = 2 * ty - g->pt + i;
                d[i] = iy >= 0 && iy < g->h ? xc + iy * w : zero;
            }
            down(d[0], d[1], d[2], d[3], r[0] + pl, r[1] + pl, r[2] + pl, r[3] + pl, n);
            for (int64_t t = 0, len; t < tw; t += len) {
                int64_t j = (ty - ty0) * tw + t; /* the tile's column of V */
                float *dst;
                if (PK_KERNEL) {
                    len = PK_NR - j % PK_NR < tw - t ? PK_NR - j % PK_NR : tw - t;
                    dst = V + j / PK_NR * ps + c * PK_NR + j % PK_NR;
                } else {
                    len = tw - t;
                    dst = V + c * T + j;
                }
                for (int i = 0; i < 4; i++)
                    across(r[i] + 2 * t, dst + 4 * i * vs, dst + (4 * i + 1) * vs,
                           dst + (4 * i + 2) * vs, dst + (4 * i + 3) * vs, len);
            }
        }
    }
}

#if PK_KERNEL
/* Y = A^T m A for n tiles (16 at a time) whose 16 products lie at
 * m + xi ms, into output rows y0 and y1 (NULL: past the image) from
 * column 0, cols of which are inside the image; bias bc, onto y when acc. */
static inline void up(const float *m, int64_t ms, int64_t n, float bc, float *y0, float *y1,
                      int64_t cols, int acc)
{
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi =
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    __m512 bb = _mm512_set1_ps(bc);
    for (int64_t u = 0; u < n; u += 16) {
        __mmask16 mk = mask16(n - u);
        __m512 v0[4], v1[4];
        for (int j = 0; j < 4; j++) {
            __m512 a = _mm512_maskz_loadu_ps(mk, m + j * ms + u);
            __m512 b = _mm512_maskz_loadu_ps(mk, m + (4 + j) * ms + u);
            __m512 c = _mm512_maskz_loadu_ps(mk, m + (8 + j) * ms + u);
            __m512 d = _mm512_maskz_loadu_ps(mk, m + (12 + j) * ms + u);
            v0[j] = _mm512_add_ps(_mm512_add_ps(a, b), c);
            v1[j] = _mm512_sub_ps(_mm512_sub_ps(b, c), d);
        }
        int64_t left = cols - 2 * u;
        __mmask16 m0 = mask16(left), m1 = mask16(left - 16 > 0 ? left - 16 : 0);
        for (int row = 0; row < 2; row++) {
            float *y = row ? y1 : y0;
            if (!y)
                break;
            __m512 *v = row ? v1 : v0;
            __m512 z0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(v[0], v[1]), v[2]), bb);
            __m512 z1 = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(v[1], v[2]), v[3]), bb);
            __m512 p = _mm512_permutex2var_ps(z0, lo, z1), q = _mm512_permutex2var_ps(z0, hi, z1);
            float *o = y + 2 * u;
            if (acc) {
                p = _mm512_add_ps(p, _mm512_maskz_loadu_ps(m0, o));
                q = _mm512_add_ps(q, _mm512_maskz_loadu_ps(m1, o + 16));
            }
            _mm512_mask_storeu_ps(o, m0, p);
            _mm512_mask_storeu_ps(o + 16, m1, q);
        }
    }
}
#else
static inline void up(const float *m, int64_t ms, int64_t n, float bc, float *y0, float *y1,
                      int64_t cols, int acc)
{
    for (int64_t t = 0; t < n; t++) {
        float v[2][4];
        for (int j = 0; j < 4; j++) {
            float a = m[j * ms + t], b = m[(4 + j) * ms + t], c = m[(8 + j) * ms + t],
                  d = m[(12 + j) * ms + t];
            v[0][j] = a + b + c;
            v[1][j] = b - c - d;
        }
        for (int row = 0; row < 2; row++) {
            float *y = row ? y1 : y0;
            if (!y)
                break;
            float z[2] = { v[row][0] + v[row][1] + v[row][2] + bc,
                           v[row][1] - v[row][2] - v[row][3] + bc };
            for (int k = 0; k < 2 && 2 * t + k < cols; k++)
                y[2 * t + k] = acc ? y[2 * t + k] + z[k] : z[k];
        }
    }
}
#endif

/* Y = A^T m A for each output channel and tile of the chunk, plus bias,
 * into (beta 0) or onto (beta 1) y. */
static void output_transform(const wgeo *g, const float *M, int64_t ms, int64_t T, const float *b,
                             int64_t ty0, int64_t ty1, float *y, float beta, int64_t o0,
                             int64_t o1)
{
    for (int64_t o = o0; o < o1; o++)
        for (int64_t ty = ty0; ty < ty1; ty++) {
            float *y0 = y + (o * g->oh + 2 * ty) * g->ow;
            up(M + o * T + (ty - ty0) * g->tw, ms, g->tw, b ? b[o] : 0.0f, y0,
               2 * ty + 1 < g->oh ? y0 + g->ow : NULL, g->ow, beta != 0);
        }
}

/* Product xi of a chunk: M_xi = U_xi V_xi. */
static void product(const wgeo *g, const float *U, int xi, float *V, int64_t vs, float *M,
                    int64_t ms, int64_t T)
{
    float *Vx = V + xi * vs, *Mx = M + xi * ms;
    const float *Ux = U + (size_t)xi * u_stride(g);
    if (PK_KERNEL) {
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
    l.V = slot, l.M = l.V + 16 * l.vs, l.rows = l.M + 16 * l.ms;
    l.zero = l.rows + 4 * row_floats(g);
    return l;
}

/* One chunk, tile rows ty0..ty1-1 of one image, on this thread. */
static void chunk(const wgeo *g, const float *U, const float *b, const float *x, float *y,
                  int64_t ty0, int64_t ty1, float *slot, float beta)
{
    clay l = layout(g, ty0, ty1, slot);
    memset(l.zero, 0, (size_t)g->w * sizeof *l.zero);
    input_transform(g, x, ty0, ty1, l.V, l.vs, l.T, l.rows, l.zero, 0, g->cin);
    for (int xi = 0; xi < 16; xi++)
        product(g, U, xi, l.V, l.vs, l.M, l.ms, l.T);
    output_transform(g, l.M, l.ms, l.T, b, ty0, ty1, y, beta, 0, g->cout);
}

/* One chunk on T threads together (called outside a parallel region):
 * the input transform split by channels, the 16 products among the
 * threads (each reads only its own U_xi: U, 16 Cin Cout floats, crosses
 * memory once instead of once per thread), the output transform split by
 * output channels. For few, small images (one 14x14 VGG layer at batch 1:
 * 49 tiles), where a chunk per thread would have each thread stream all of
 * U for a sliver of tiles. Scratch rows of thread t > 0: slot t. */
static void chunk_together(const wgeo *g, const float *U, const float *b, const float *x,
                           float *y, int64_t ty0, int64_t ty1, float *slots, size_t sl,
                           float beta, int T)
{
    clay l = layout(g, ty0, ty1, slots);
#pragma omp parallel num_threads(T)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        float *rows = t ? slots + (size_t)t * sl : l.rows, *zero = rows + 4 * row_floats(g);
        memset(zero, 0, (size_t)g->w * sizeof *zero);
        int64_t c0 = g->cin * t / nt, c1 = g->cin * (t + 1) / nt;
        input_transform(g, x, ty0, ty1, l.V, l.vs, l.T, rows, zero, c0, c1);
#pragma omp barrier
#pragma omp for schedule(static)
        for (int xi = 0; xi < 16; xi++)
            product(g, U, xi, l.V, l.vs, l.M, l.ms, l.T);
        int64_t o0 = g->cout * t / nt, o1 = g->cout * (t + 1) / nt;
        output_transform(g, l.M, l.ms, l.T, b, ty0, ty1, y, beta, o0, o1);
    }
}

void wino_run(const wgeo *g, const float *W, const float *b, int n, const float *x, float *y,
              float beta, float *ws, int wt)
{
    gemm_serial_blas();
    float *U = ws, *slots = ws + u_floats(g);
    size_t sl = slot_floats(g);
    weights(g, W, U);
    int T = omp_get_max_threads();
    if (T > wt)
        T = wt;
    int64_t trows = g->trows, nch = ceil_div(g->th, trows), items = (int64_t)n * nch;
    int64_t xs = g->cin * g->h * g->w, ys = g->cout * g->oh * g->ow;
    /* Fewer items than two per thread: the threads work on each together. */
    if (T > 1 && items < 2 * T) {
        for (int64_t it = 0; it < items; it++) {
            int64_t i = it / nch, ty0 = it % nch * trows;
            int64_t ty1 = ty0 + trows < g->th ? ty0 + trows : g->th;
            chunk_together(g, U, b, x + i * xs, y + i * ys, ty0, ty1, slots, sl, beta, T);
        }
        return;
    }
    /* A smaller chunk fits the same slot. */
    chunks_balance(n, g->th, T, &trows, &nch);
    items = (int64_t)n * nch;
#pragma omp parallel for num_threads(T) schedule(dynamic) if (T > 1 && items > 1)
    for (int64_t it = 0; it < items; it++) {
        int64_t i = it / nch, ty0 = it % nch * trows;
        int64_t ty1 = ty0 + trows < g->th ? ty0 + trows : g->th;
        chunk(g, U, b, x + i * xs, y + i * ys, ty0, ty1, slots + (size_t)omp_get_thread_num() * sl,
              beta);
    }
}
