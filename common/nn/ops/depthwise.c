/* depthwise: direct per-channel convolution (see depthwise.h); the
 * generic path works plane by plane in the phase-split layout of
 * planes.h. */
#include <string.h>

#include "base/par.h"
#include "nn/ops/depthwise.h"
#include "nn/ops/planes.h"
#include "nn/ops/simd.h"

/* The channel-interleaved path (AVX2 and FMA: every build this project
 * makes but a generic one): blocks of DW_CB channels of one image are
 * transposed into one padded buffer of pixels of DW_CB floats (padded row
 * r, column j at (r * wn + j) * DW_CB), so that each tap of an output pixel
 * is one multiply-add of a vector of weights (a tap's DW_CB channels) by
 * one of inputs, with no per-plane phase split and no loop over a plane's
 * short rows: a 7x7 plane is 49 pixels of DW_CB channels, not 7 rows of
 * 7. The output goes out through the same transposes (DW_CB x DW_CB), in
 * strips of rows (the padded input is filled just ahead of them, so both
 * stay in cache). DW_CB is 16 with AVX-512 (zmm; 8 had left half of each
 * multiply-add unused: mobilenet_v2's 14x14 and 7x7 depthwise layers at
 * batch 4 went from 0.19 to 0.15 and 0.13 to 0.10 ms), 8 with AVX2. */
#if defined(__AVX2__) && defined(__FMA__)
#define DW_CL 1
#include <immintrin.h>
#else
#define DW_CL 0
#endif
#if defined(__AVX512F__)
#define DW_CB 16
#else
#define DW_CB 8
#endif
/* The row path (the forward of 3x3 filters; see rv_forward): vectors of
 * RV_VL output columns, 16 with AVX-512, 8 with AVX2. */
#if defined(__AVX512F__)
#define DW_RV 1
#define RV_VL 16
#elif defined(__AVX2__) && defined(__FMA__)
#define DW_RV 1
#define RV_VL 8
#else
#define DW_RV 0
#endif
#if DW_RV
#define RV_MINW 16
#include <immintrin.h>
static int rv_wanted(const dwgeo *g);
static size_t rv_floats(const dwgeo *g);
#endif

typedef struct clay {
    int64_t hp, wn;      /* padded rows and columns the taps read */
    int64_t rows;        /* output rows per strip */
    size_t pad, strip;   /* floats: padded buffer, one strip of output */
} clay;

/* k's strips of rows of w pixels (about 256 pixels, at most h rows) and
 * its buffers' floats, once k.hp and k.wn are set. */
static clay cl_sized(clay k, int64_t w, int64_t h)
{
    k.rows = 256 / w < 1 ? 1 : 256 / w;
    if (k.rows > h)
        k.rows = h;
    k.pad = (size_t)(k.hp * k.wn * DW_CB);
    k.strip = (size_t)(k.rows * w * DW_CB);
    return k;
}

static clay cl_layout(const dwgeo *g)
{
    clay k;
    k.hp = (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    k.wn = (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1;
    return cl_sized(k, g->ow, g->oh);
}

/* The input gradient's: gy spread into a zero buffer G of rows hp, columns
 * wn (here: rows and columns of G), gy's pixel (oy, ox) at G's
 * ((kh - 1) dh + oy sh, (kw - 1) dw + ox sw), holes of a stride and margins
 * zero; then gx(iy, ix) = sum over the flipped taps (a, b) of
 * w(kh-1-a, kw-1-b) G(iy + pt + a dh, ix + pl + b dw): the forward's
 * stride-1 loops over G (the strided planes multiply the holes' zeros: 4x
 * the multiply-adds at stride 2, still faster than scattering). G covers
 * every input row and column, those no tap reads too (their sums are 0). */
static clay cx_layout(const dwgeo *g)
{
    clay k = cl_layout(g);
    int64_t r = g->h + g->pt > k.hp ? g->h + g->pt : k.hp;
    int64_t c = g->w + g->pl > k.wn ? g->w + g->pl : k.wn;
    k.hp = r + (g->kh - 1) * g->dh;
    k.wn = c + (g->kw - 1) * g->dw;
    return cl_sized(k, g->w, g->h);
}

/* Floats of one thread's slot: 16 to align it to 64 bytes, the padded
 * buffer, a strip (the larger of the forward's and the input gradient's),
 * then kk + 1 vectors: the weights and bias, or the weight gradient's sums. */
static size_t cl_ws_floats(const dwgeo *g)
{
    clay k = cl_layout(g), x = cx_layout(g);
    size_t f = k.pad + k.strip > x.pad + x.strip ? k.pad + k.strip : x.pad + x.strip;
    return 16 + f + (size_t)((g->kh * g->kw + 1) * DW_CB);
}

/* Which planes take the channel-interleaved path: the choice depends on
 * the geometry alone (a row's result must not depend on the batch). */
static int cl_wanted(const dwgeo *g)
{
    (void)g;
    return DW_CL;
}

size_t dw_ws_floats(const dwgeo *g)
{
    lay l = layout(g);
    size_t f = l.area + (size_t)(l.flat + 2 * reach(g, &l)) + 32;
    if (cl_wanted(g) && cl_ws_floats(g) > f)
        f = cl_ws_floats(g);
#if DW_RV
    if (rv_wanted(g) && rv_floats(g) > f)
        f = rv_floats(g);
#endif
    return f;
}

#if DW_CL || DW_RV
/* Thread t's slot of ws (slot floats each), from its first 64-byte
 * boundary (the vector paths' buffers). */
static float *ws_slot(float *ws, size_t slot, int t)
{
    float *s = ws + (size_t)t * slot;
    return s + (16 - ((uintptr_t)s / sizeof *s) % 16) % 16;
}
#endif


/* Threads for n planes: one when the work is small. */
/* par_for_fine's work for planes planes: 16 a float they read and
 * write, plus the taps' flops. */
static double dw_work(const dwgeo *g, int64_t planes)
{
    return (double)planes * (16.0 * (double)(g->h * g->w + g->oh * g->ow) +
                             2.0 * (double)(g->oh * g->ow * g->kh * g->kw));
}

static int nthreads(const dwgeo *g, int64_t planes, int threads)
{
    int T = par_threads();
    if (T > threads)
        T = threads;
    if (T > planes)
        T = (int)planes;
    if (planes * g->oh * g->ow * g->kh * g->kw < 32768)
        T = 1;
    return T < 1 ? 1 : T;
}


/* The flat output of one plane: out[f] = bias + sum over taps w[t] *
 * buf[to[t] + f], f < oh * len, each a chain of multiply-adds in tap order
 * (the same rounding at every f, whatever the block it falls in). Blocks of
 * DW_NB vectors of DW_VL floats stay in registers while the taps pass (one
 * load and one multiply-add per tap and vector; summing tap by tap into
 * out loaded and stored it kk times, and ran 5x5 and 7x7 layers at 3-6
 * GFLOP/s). The last vector may run past oh * len: out and the sub-planes
 * have 16 floats of room (dw_ws_floats, layout), and the lanes past the
 * end are never copied out. */
#if defined(__AVX512F__)
#define DW_VL 16
#else
#define DW_VL 8
#endif
#define DW_NB 8
/* The helpers below are static: the ABI note GCC gives (-Wpsabi) for a
 * vector of 32 bytes passed or returned without AVX (a build for generic
 * x86-64) concerns no caller outside this file. */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float dwvec __attribute__((vector_size(DW_VL * sizeof(float))));

static inline dwvec dw_load(const float *p)
{
    dwvec v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* nb (constant when inlined) vectors of out from f. */
static inline __attribute__((always_inline)) void dw_block(const float *buf, const int64_t *to,
                                                           int64_t kk, const float *w, float bias,
                                                           float *out, int64_t f, const int nb)
{
    dwvec acc[DW_NB];
#pragma GCC unroll 8
    for (int v = 0; v < nb; v++)
        acc[v] = (dwvec){ 0 } + bias;
    for (int64_t t = 0; t < kk; t++) {
        const float *src = buf + to[t] + f;
        dwvec wv = (dwvec){ 0 } + w[t];
#pragma GCC unroll 8
        for (int v = 0; v < nb; v++)
            acc[v] += wv * dw_load(src + v * DW_VL);
    }
#pragma GCC unroll 8
    for (int v = 0; v < nb; v++)
        memcpy(out + f + v * DW_VL, &acc[v], sizeof acc[v]);
}

/* out[f] = bias + sum over the kk taps w[t] src[to[t] + f], f < n (and up
 * to the next whole vector). */
static void taps_sum(const float *src, const int64_t *to, int64_t kk, const float *w, float bias,
                     float *restrict out, int64_t n)
{
    const float *buf = src;
    int64_t nv = (n + DW_VL - 1) / DW_VL, f = 0;
    if (kk == 9) {   /* 3x3: one pass, nine streams (as fast, one loop) */
        const float *t0 = buf + to[0], *t1 = buf + to[1], *t2 = buf + to[2], *t3 = buf + to[3];
        const float *t4 = buf + to[4], *t5 = buf + to[5], *t6 = buf + to[6], *t7 = buf + to[7];
        const float *t8 = buf + to[8];
        float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6],
              w7 = w[7], w8 = w[8];
#pragma omp simd
        for (int64_t k = 0; k < n; k++) {
            float s = bias + w0 * t0[k];
            s += w1 * t1[k];
            s += w2 * t2[k];
            s += w3 * t3[k];
            s += w4 * t4[k];
            s += w5 * t5[k];
            s += w6 * t6[k];
            s += w7 * t7[k];
            s += w8 * t8[k];
            out[k] = s;
        }
        return;
    }
    for (; nv >= DW_NB; nv -= DW_NB, f += DW_NB * DW_VL)
        dw_block(buf, to, kk, w, bias, out, f, DW_NB);
    switch (nv) {
    case 7: dw_block(buf, to, kk, w, bias, out, f, 7); break;
    case 6: dw_block(buf, to, kk, w, bias, out, f, 6); break;
    case 5: dw_block(buf, to, kk, w, bias, out, f, 5); break;
    case 4: dw_block(buf, to, kk, w, bias, out, f, 4); break;
    case 3: dw_block(buf, to, kk, w, bias, out, f, 3); break;
    case 2: dw_block(buf, to, kk, w, bias, out, f, 2); break;
    case 1: dw_block(buf, to, kk, w, bias, out, f, 1); break;
    default: break;
    }
}

static void plane_forward(const dwgeo *g, const lay *l, const int64_t *to, const float *buf,
                          const float *w, float bias, float *restrict out)
{
    taps_sum(buf, to, g->kh * g->kw, w, bias, out, l->flat);
}

#if DW_CL
static void cl_forward(const dwgeo *g, const float *W, const float *b, int n, const float *x,
                       float *y, float *ws, int threads, op_act act);
#endif

/* The row path (the forward of 3x3 filters on planes of at least RV_MINW
 * output columns, stride 1 or 2 both ways, no dilation): plane by plane,
 * with no transposes. Each vector of RV_VL output columns of a row is
 * summed in a register, bias then the taps in tap order (the interleaved
 * path's order and multiply-adds: the same sums, bit for bit), and stored
 * straight into the output plane. Stride 1 reads the input plane where it
 * lies: a tap's RV_VL columns are one load, masked where they fall in the
 * padding (zeros), and a padding row is a row of zeros. Stride 2 first
 * copies the plane into a zero-padded buffer whose rows are split into
 * their even and odd columns, so that a tap of RV_VL output columns is
 * again one load. A row's last vector runs past the row into the next
 * (rewritten after); the plane's last is stored lane by lane. While a
 * plane is summed the next plane's lines are asked for into L2. The
 * interleaved path transposed each block of 16 planes in and out, and
 * those transposes cost about five times its multiply-adds. */
#if DW_RV
#if RV_VL == 16
typedef __m512 rvv;
typedef __mmask16 rvm;
#define RV_SET1(x) _mm512_set1_ps(x)
#define RV_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define RV_MLOAD(m, p) _mm512_maskz_loadu_ps(m, p)
#define RV_LOAD(p) _mm512_loadu_ps(p)
#define RV_STORE(p, v) _mm512_storeu_ps(p, v)
#define RV_ACT(v, k, lo, hi) act_v16(v, k, lo, hi)
#define RV_ALL() ((rvm)0xffff)
/* Lanes i with 0 <= c0 + i < w. */
static inline rvm rv_cols(int64_t c0, int64_t w)
{
    return (rvm)(mask16(w - c0) & ~mask16(-c0));
}
/* The first n lanes of v to p (a masked store: fast with AVX-512). */
static inline void rv_store_n(float *p, rvv v, int64_t n)
{
    _mm512_mask_storeu_ps(p, mask16(n), v);
}
#else
typedef __m256 rvv;
typedef __m256i rvm;
#define RV_SET1(x) _mm256_set1_ps(x)
#define RV_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define RV_MLOAD(m, p) _mm256_maskload_ps(p, m)
#define RV_LOAD(p) _mm256_loadu_ps(p)
#define RV_STORE(p, v) _mm256_storeu_ps(p, v)
#define RV_ACT(v, k, lo, hi) act_v8(v, k, lo, hi)
#define RV_ALL() _mm256_set1_epi32(-1)
static inline rvm rv_cols(int64_t c0, int64_t w)
{
    return _mm256_andnot_si256(mask8(-c0), mask8(w - c0));
}
/* Lane by lane (vmaskmovps's store is microcoded on AMD). */
static inline void rv_store_n(float *p, rvv v, int64_t n)
{
    float t[8];
    _mm256_storeu_ps(t, v);
    memcpy(p, t, (size_t)n * sizeof *p);
}
#endif

typedef struct rvlay {
    int64_t nv;     /* vectors of RV_VL output columns per row */
    int64_t hp;     /* stride 2: padded rows the taps read */
    int64_t wq;     /* stride 2: floats per phase of a padded row */
    int64_t row;    /* stride 2: floats per padded row (2 wq) */
    size_t floats;  /* the buffer (stride 1: a row of zeros), 16 of alignment */
} rvlay;

static int rv_wanted(const dwgeo *g)
{
    /* 3x3 only: 5x5 (efficientnet_b0's 240x28x28 layer) ran 2.4x slower
     * than the interleaved path, for reasons not found (not the masks, not
     * 4K aliasing of input and output). */
    /* AVX2: stride 1 only (stride 2's split copy and loads ran 96x112x112
     * 1.2-1.4x slower than the interleaved path's 8x8 transposes). */
    return g->dh == 1 && g->dw == 1 && g->sh == g->sw &&
           (g->sw == 1 || (g->sw == 2 && RV_VL == 16)) && g->ow >= RV_MINW && g->ow <= 4096 &&
           g->kh == 3 && g->kw == 3;
}

static int64_t up16(int64_t v)
{
    return (v + 15) / 16 * 16;
}

static rvlay rv_layout(const dwgeo *g)
{
    rvlay r;
    r.nv = (g->ow + RV_VL - 1) / RV_VL;
    if (g->sw == 1) {
        r.hp = r.wq = r.row = 0;
        r.floats = (size_t)up16(g->w) + 32;
        return r;
    }
    r.hp = (g->oh - 1) * 2 + g->kh;
    /* What the taps read (the last vector's columns past ow included) and
     * what the copy writes (whole vectors of input, zeros past w). */
    int64_t rd = r.nv * RV_VL + (g->kw - 1) / 2 + 1;
    int64_t wr = (g->pl + up16(g->w) + 32) / 2 + 16;
    r.wq = up16(rd > wr ? rd : wr);
    r.row = 2 * r.wq;
    r.floats = (size_t)(r.hp * r.row) + 16;
    return r;
}

static size_t rv_floats(const dwgeo *g)
{
    return rv_layout(g).floats;
}

/* Input row src of w columns into padded row dst split by column parity:
 * padded column j = pl + input column at phase j % 2, index j / 2. Lanes
 * past w carry zeros. */
static void rv_split_row(const float *src, int64_t w, int64_t pl, int64_t wq, float *dst)
{
    float *pe = dst + (pl & 1) * wq + (pl >> 1), *po = dst + ((pl + 1) & 1) * wq + ((pl + 1) >> 1);
#if RV_VL == 16
    __m512i ev = idx_even(), od = idx_odd();
    for (int64_t x = 0; x < w; x += 32) {
        __m512 a = _mm512_maskz_loadu_ps(mask16(w - x), src + x);
        __m512 b = _mm512_maskz_loadu_ps(mask16(w - x - 16), src + x + 16);
        _mm512_storeu_ps(pe + x / 2, _mm512_permutex2var_ps(a, ev, b));
        _mm512_storeu_ps(po + x / 2, _mm512_permutex2var_ps(a, od, b));
    }
#else
    for (int64_t x = 0; x < w; x += 16) {
        __m256 a = _mm256_maskload_ps(src + x, mask8(w - x));
        __m256 b = _mm256_maskload_ps(src + x + 8, mask8(w - x - 8));
        /* a0 a2 b0 b2 | a4 a6 b4 b6, then the middle 64-bit pairs swapped */
        __m256 e = _mm256_shuffle_ps(a, b, 0x88), o = _mm256_shuffle_ps(a, b, 0xDD);
        _mm256_storeu_ps(pe + x / 2,
                         _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8)));
        _mm256_storeu_ps(po + x / 2,
                         _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xD8)));
    }
#endif
}

/* Vector v of R output rows (R, kh, kw, s, M constants): rows[j] is the
 * padded row j of the first's taps (its row r reads rows[r s + ki]); tap
 * (ki, kj) loads rows[.] + RV_VL v + off[kj], under mask mk[v kw + kj]
 * where M (AVX2: where a tap of v falls in the padding; plain loads else,
 * AVX2's masked load being slower than its plain one). R rows at once: R chains of
 * multiply-adds in flight (one vector's taps are one chain, 4 cycles a
 * link). The plane's last row's last vector is stored lane by lane.
 * Arguments, not a struct: a store through out may alias one, and its
 * fields were read again after each store. */
static inline __attribute__((always_inline)) void
rv_vec(const float *const *rows, const int64_t *off, const rvm *mk, int64_t v, int64_t nv,
       const rvv *wv, rvv bias, float *out, int64_t ow, int last, int kind, rvv lo, rvv hi,
       const int R, const int kh, const int kw, const int s, const int M)
{
    rvv acc[4];
    for (int r = 0; r < R; r++)
        acc[r] = bias;
    for (int ki = 0; ki < kh; ki++)
        for (int kj = 0; kj < kw; kj++) {
            rvm m = mk[v * kw + kj];
            for (int r = 0; r < R; r++) {
                const float *p = rows[r * s + ki] + v * RV_VL + off[kj];
                acc[r] = RV_FMA(wv[ki * kw + kj], M ? RV_MLOAD(m, p) : RV_LOAD(p), acc[r]);
            }
        }
    for (int r = 0; r < R; r++) {
        rvv o = RV_ACT(acc[r], kind, lo, hi);
        if (last && r == R - 1 && v == nv - 1)
            rv_store_n(out + r * ow + v * RV_VL, o, ow - v * RV_VL);
        else
            RV_STORE(out + r * ow + v * RV_VL, o);
    }
}

/* R output rows, the vectors from the last: a row's last runs past it
 * into the next row's first, written after it. edge[v]: v has a tap in
 * the padding. */
static inline __attribute__((always_inline)) void
rv_rows(const float *const *rows, const int64_t *off, const rvm *mk, const char *edge,
        int64_t nv, const rvv *wv, rvv bias, float *out, int64_t ow, int last, int kind, rvv lo,
        rvv hi, const int R, const int kh, const int kw, const int s)
{
    for (int64_t v = nv - 1; v >= 0; v--) {
        /* AVX-512: masked loads throughout (plain ones in the interior ran
         * mobilenet_v2's 112x112 layers 15-25% slower in the net) */
        if (RV_VL == 16 || edge[v])
            rv_vec(rows, off, mk, v, nv, wv, bias, out, ow, last, kind, lo, hi, R, kh, kw, s, 1);
        else
            rv_vec(rows, off, mk, v, nv, wv, bias, out, ow, last, kind, lo, hi, R, kh, kw, s, 0);
    }
}

/* One plane: stride 1 from the input plane xp (padding rows read zero),
 * stride 2 from the split buffer buf; rows by 4, the rest one by one. */
static inline __attribute__((always_inline)) void
rv_plane_k(const dwgeo *g, const rvlay *l, const float *xp, const float *buf, const float *zero,
           const rvm *mk, const char *edge, const float *w, float b, float *out,
           const float *next, op_act act, const int kh, const int kw, const int s)
{
    rvv wv[9], lo = RV_SET1(act.lo), hi = RV_SET1(act.hi);
    for (int t = 0; t < kh * kw; t++)
        wv[t] = RV_SET1(w[t]);
    rvv bias = RV_SET1(b);
    const int64_t nv = l->nv, row = l->row, oh = g->oh, ow = g->ow, h = g->h, iw = g->w;
    const int64_t pt = g->pt;
    const int kind = act.kind;
    int64_t off[3];
    for (int kj = 0; kj < kw; kj++)
        off[kj] = s == 1 ? kj - g->pl : (kj % 2) * l->wq + kj / 2;
    const int64_t lines = next ? (h * iw * 4 + 63) / 64 : 0, per = (lines + oh - 1) / oh;
    int64_t asked = 0;
    for (int64_t oy = 0; oy < oh;) {
        const int R = oh - oy >= 4 ? 4 : 1;
        for (; asked < (oy + R) * per && asked < lines; asked++)
            _mm_prefetch((const char *)next + 64 * asked, _MM_HINT_T1);
        const float *rows[3 * 2 + 3];
        for (int j = 0; j < (R - 1) * s + kh; j++) {
            int64_t iy = oy - pt + j;
            rows[j] = s == 2 ? buf + (oy * 2 + j) * row : iy >= 0 && iy < h ? xp + iy * iw : zero;
        }
        if (R == 4)
            rv_rows(rows, off, mk, edge, nv, wv, bias, out + oy * ow, ow, oy + 4 == oh, kind, lo,
                    hi, 4, kh, kw, s);
        else
            rv_rows(rows, off, mk, edge, nv, wv, bias, out + oy * ow, ow, oy + 1 == oh, kind, lo,
                    hi, 1, kh, kw, s);
        oy += R;
    }
}

/* 3x3 only (rv_wanted), each stride its own copy. */
static void rv_plane(const dwgeo *g, const rvlay *l, const float *xp, const float *buf,
                     const float *zero, const rvm *mk, const char *edge, const float *w, float b,
                     float *out, const float *next, op_act act)
{
    if (g->sw == 1)
        rv_plane_k(g, l, xp, buf, zero, mk, edge, w, b, out, next, act, 3, 3, 1);
    else
        rv_plane_k(g, l, xp, buf, zero, mk, edge, w, b, out, next, act, 3, 3, 2);
}

typedef struct rv_args {
    const dwgeo *g;
    const rvlay *l;
    const rvm *mk;
    const char *edge;
    const float *W, *b, *x;
    float *y, *ws;
    size_t slot;
    op_act act;
} rv_args;

/* Planes q0..q1-1 (a run, so that each knows its next). */
static void rv_range(void *ctx, int64_t q0, int64_t q1, int t)
{
    const rv_args *a = ctx;
    const dwgeo *g = a->g;
    const rvlay *l = a->l;
    int64_t hw = g->h * g->w, ohw = g->oh * g->ow, kk = g->kh * g->kw;
    float *buf = ws_slot(a->ws, a->slot, t);
    memset(buf, 0, (l->floats - 16) * sizeof *buf);
    /* Stride 2: the padded rows holding input rows (the rest stay zero). */
    int64_t r0 = g->pt > 0 ? g->pt : 0, r1 = g->pt + g->h < l->hp ? g->pt + g->h : l->hp;
    for (int64_t q = q0; q < q1; q++) {
        const float *xp = a->x + q * hw;
        for (int64_t r = r0; g->sw == 2 && r < r1; r++)
            rv_split_row(xp + (r - g->pt) * g->w, g->w, g->pl, l->wq, buf + r * l->row);
        rv_plane(g, l, xp, buf, buf, a->mk, a->edge, a->W + q % g->c * kk,
                 a->b ? a->b[q % g->c] : 0.0f, a->y + q * ohw, q + 1 < q1 ? xp + hw : NULL,
                 a->act);
    }
}

static void rv_forward(const dwgeo *g, const float *W, const float *b, int n, const float *x,
                       float *y, float *ws, int threads, op_act act)
{
    rvlay l = rv_layout(g);
    int64_t planes = (int64_t)n * g->c;
    size_t slot = dw_ws_floats(g);
    /* Each tap's mask per vector: stride 1 the columns inside the plane,
     * stride 2 all (the buffer holds the padding). */
    rvm mk[l.nv * g->kw];
    char edge[l.nv];
    for (int64_t v = 0; v < l.nv; v++) {
        int64_t c0 = v * RV_VL - g->pl;
        edge[v] = g->sw == 1 && (c0 < 0 || c0 + RV_VL + g->kw - 1 > g->w);
        for (int64_t kj = 0; kj < g->kw; kj++)
            mk[v * g->kw + kj] = g->sw == 2 ? RV_ALL() : rv_cols(c0 + kj, g->w);
    }
    int T = nthreads(g, planes, threads);
    rv_args a = { g, &l, mk, edge, W, b, x, y, ws, slot, act };
    par_for_fine(planes, T, dw_work(g, planes), rv_range, &a);
}
#endif

/* dw_forward's and dw_xgrad's planes q0..q1-1 on part t's slot. */
typedef struct dw_args {
    const dwgeo *g;
    const lay *l;
    const phases *ph;
    const float *W, *b, *x;
    float *y, *ws;
    size_t slot;
    op_act act;
} dw_args;

static void fwd_range(void *ctx, int64_t q0, int64_t q1, int t)
{
    const dw_args *a = ctx;
    const dwgeo *g = a->g;
    const lay *l = a->l;
    int64_t hw = g->h * g->w, ohw = g->oh * g->ow, kk = g->kh * g->kw;
    float *buf = a->ws + (size_t)t * a->slot, *out = buf + l->area;
    int64_t to[kk];
    tap_offsets(g, l, to);
    memset(buf, 0, l->area * sizeof *buf);
    for (int64_t q = q0; q < q1; q++) {
        int64_t c = q % g->c;
        fill_plane(g, l, a->ph, a->x + q * hw, buf);
        plane_forward(g, l, to, buf, a->W + c * kk, a->b ? a->b[c] : 0.0f, out);
        act_flat(out, l->flat, a->act);
        float *yp = a->y + q * ohw;
        for (int64_t oy = 0; oy < g->oh; oy++)
            copy(yp + oy * g->ow, out + oy * l->len, g->ow);
    }
}

void dw_forward(const dwgeo *g, const float *W, const float *b, int n, const float *x, float *y,
                float *ws, int threads, op_act act)
{
#if DW_RV
    if (rv_wanted(g)) {
        rv_forward(g, W, b, n, x, y, ws, threads, act);
        return;
    }
#endif
#if DW_CL
    if (cl_wanted(g)) {
        cl_forward(g, W, b, n, x, y, ws, threads, act);
        return;
    }
#endif
    lay l = layout(g);
    phases ph = col_phases(g, &l);
    int64_t planes = (int64_t)n * g->c;
    size_t slot = dw_ws_floats(g);
    int T = nthreads(g, planes, threads);
    dw_args a = { g, &l, &ph, W, b, x, y, ws, slot, act };
    par_for_fine(planes, T, dw_work(g, planes), fwd_range, &a);
}


#if DW_CL
static void cl_xgrad(const dwgeo *g, const float *W, int n, const float *gy, float *gx,
                     float *ws, int threads);
#endif

/* Planes q0..q1-1 of dw_xgrad (x: gy, y: gx). Stride 1: each padded
 * position p gathers the taps that read it, buf[p] = sum over t of w[t]
 * gf[p - to[t]], from gf with `reach` zeros on both sides, in registers
 * (taps_sum) and in tap order, as the scatter below adds them. Strided
 * planes scatter. */
static void xgrad_range(void *ctx, int64_t q0, int64_t q1, int part)
{
    const dw_args *a = ctx;
    const dwgeo *g = a->g;
    const lay *l = a->l;
    int64_t hw = g->h * g->w, ohw = g->oh * g->ow, kk = g->kh * g->kw;
    int64_t m = reach(g, l), np = l->hp * l->len;
    int gather = g->sh == 1 && g->sw == 1;
    float *buf = a->ws + (size_t)part * a->slot, *gf = buf + l->area;
    int64_t to[kk], from[kk];
    tap_offsets(g, l, to);
    if (gather) {
        for (int64_t t = 0; t < kk; t++)
            from[t] = m - to[t];
        memset(gf, 0, (size_t)(l->flat + 2 * m + 32) * sizeof *gf);
    }
    for (int64_t q = q0; q < q1; q++) {
        const float *w = a->W + q % g->c * kk;
        if (gather) {
            flat_gy(g, l, a->x + q * ohw, gf + m);
            taps_sum(gf, from, kk, w, 0.0f, buf, np);
            unfill_plane(g, l, a->ph, buf, a->y + q * hw);
            continue;
        }
        memset(buf, 0, l->area * sizeof *buf);
        flat_gy(g, l, a->x + q * ohw, gf);
        /* Each tap scatters gy times its weight onto what it read. */
        for (int64_t t = 0; t < kk; t++) {
            float *restrict dst = buf + to[t], wv = w[t];
            const float *restrict src = gf;
#pragma omp simd
            for (int64_t f = 0; f < l->flat; f++)
                dst[f] += wv * src[f];
        }
        unfill_plane(g, l, a->ph, buf, a->y + q * hw);
    }
}

void dw_xgrad(const dwgeo *g, const float *W, int n, const float *gy, float *gx, float *ws,
              int threads)
{
#if DW_CL
    if (cl_wanted(g)) {
        cl_xgrad(g, W, n, gy, gx, ws, threads);
        return;
    }
#endif
    lay l = layout(g);
    phases ph = col_phases(g, &l);
    int64_t planes = (int64_t)n * g->c;
    size_t slot = dw_ws_floats(g);
    int T = nthreads(g, planes, threads);
    dw_args a = { g, &l, &ph, W, NULL, gy, gx, ws, slot, ACT_NO };
    par_for_fine(planes, T, dw_work(g, planes), xgrad_range, &a);
}

#if DW_CL
static void cl_wgrad(const dwgeo *g, int n, const float *x, const float *gy, float *gW,
                     float *gb, float *ws, int threads);
#endif

/* dw_wgrad's and cl_wgrad's channels (blocks of channels) c0..c1-1 on
 * part t's slot: a channel's sums over images belong to one part. */
typedef struct dww_args {
    const dwgeo *g;
    const void *lay;   /* lay (dw_wgrad) or clay (cl_wgrad) */
    const phases *ph;
    int n;
    const float *x, *gy;
    float *gW, *gb, *ws;
    size_t slot;
} dww_args;

static void wgrad_range(void *ctx, int64_t c0, int64_t c1, int t)
{
    const dww_args *a = ctx;
    const dwgeo *g = a->g;
    const lay *l = a->lay;
    int64_t hw = g->h * g->w, ohw = g->oh * g->ow, kk = g->kh * g->kw;
    float *buf = a->ws + (size_t)t * a->slot, *gf = buf + l->area;
    int64_t to[kk];
    tap_offsets(g, l, to);
    memset(buf, 0, l->area * sizeof *buf);
    for (int64_t c = c0; c < c1; c++)
        for (int i = 0; i < a->n; i++) {
            int64_t q = (int64_t)i * g->c + c;
            const float *gp = a->gy + q * ohw;
            if (a->gb) {
                float s = 0;
#pragma omp simd reduction(+ : s)
                for (int64_t k = 0; k < ohw; k++)
                    s += gp[k];
                a->gb[c] += s;
            }
            if (!a->gW)
                continue;
            fill_plane(g, l, a->ph, a->x + q * hw, buf);
            flat_gy(g, l, gp, gf);
            for (int64_t tp = 0; tp < kk; tp++) {
                const float *src = buf + to[tp];
                float s = 0;
#pragma omp simd reduction(+ : s)
                for (int64_t f = 0; f < l->flat; f++)
                    s += gf[f] * src[f];
                a->gW[c * kk + tp] += s;
            }
        }
}

void dw_wgrad(const dwgeo *g, int n, const float *x, const float *gy, float *gW, float *gb,
              float *ws, int threads)
{
#if DW_CL
    if (cl_wanted(g)) {
        cl_wgrad(g, n, x, gy, gW, gb, ws, threads);
        return;
    }
#endif
    lay l = layout(g);
    phases ph = col_phases(g, &l);
    int64_t ohw = g->oh * g->ow, kk = g->kh * g->kw;
    int T = nthreads(g, g->c, threads);
    if ((int64_t)n * g->c * ohw * kk < 32768)
        T = 1;
    dww_args a = { g, &l, &ph, n, x, gy, gW, gb, ws, dw_ws_floats(g) };
    par_for(g->c, T, wgrad_range, &a);
}

#if DW_CL
/* The channel-interleaved path's vectors: DW_CB channels (AVX-512: 16 in
 * a zmm; AVX2: 8 in a ymm). */
#if defined(__AVX512F__)
typedef __m512 clv;
#define CV_LOAD(p) _mm512_load_ps(p)
#define CV_LOADU(p) _mm512_loadu_ps(p)
#define CV_STORE(p, v) _mm512_store_ps(p, v)
#define CV_STOREU(p, v) _mm512_storeu_ps(p, v)
#define CV_ADD(a, b) _mm512_add_ps(a, b)
#define CV_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define CV_ZERO() _mm512_setzero_ps()
#define CV_SET1(x) _mm512_set1_ps(x)
#define CV_MASKLOAD(p, n) _mm512_maskz_loadu_ps(mask16(n), p)
#else
typedef __m256 clv;
#define CV_LOAD(p) _mm256_load_ps(p)
#define CV_LOADU(p) _mm256_loadu_ps(p)
#define CV_STORE(p, v) _mm256_store_ps(p, v)
#define CV_STOREU(p, v) _mm256_storeu_ps(p, v)
#define CV_ADD(a, b) _mm256_add_ps(a, b)
#define CV_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define CV_ZERO() _mm256_setzero_ps()
#define CV_SET1(x) _mm256_set1_ps(x)
#define CV_MASKLOAD(p, n) _mm256_maskload_ps(p, mask8(n))
#endif

#if defined(__AVX512F__)
#define cl_tr tr16
#else
#define cl_tr tr8
#endif

/* Pixels dst[k * DW_CB + j] = src[j][k], k < cnt: DW_CB runs of a row (one
 * per channel) into cnt interleaved pixels; the tail by masked loads. */
static void cl_in(const float *const *src, int64_t off, int64_t cnt, float *dst, int64_t step)
{
    step *= DW_CB;
    clv r[DW_CB];
    int64_t k = 0;
    for (; k + DW_CB <= cnt; k += DW_CB) {
        for (int j = 0; j < DW_CB; j++)
            r[j] = CV_LOADU(src[j] + off + k);
        cl_tr(r);
        for (int j = 0; j < DW_CB; j++)
            CV_STORE(dst + (k + j) * step, r[j]);
    }
    if (k < cnt) {
        int m = (int)(cnt - k);
        for (int j = 0; j < DW_CB; j++)
            r[j] = CV_MASKLOAD(src[j] + off + k, m);
        cl_tr(r);
        float *d = dst + k * step;
#pragma GCC unroll 16
        for (int j = 0; j < DW_CB; j++) {
            if (j >= m)
                break;
            CV_STORE(d + j * step, r[j]);
        }
    }
}

/* The adjoint layout: dst[j][off + k] = src[k * DW_CB + j], j < cb, k < cnt. */
static inline __attribute__((always_inline)) void
cl_out_k(const float *src, int64_t cnt, float *const *dst, int64_t off, int cb, const int add)
{
    clv r[DW_CB];
    int64_t k = 0;
    for (; k + DW_CB <= cnt; k += DW_CB) {
        for (int j = 0; j < DW_CB; j++)
            r[j] = CV_LOAD(src + (k + j) * DW_CB);
        cl_tr(r);
        for (int j = 0; j < cb; j++)
            CV_STOREU(dst[j] + off + k, add ? CV_ADD(CV_LOADU(dst[j] + off + k), r[j]) : r[j]);
    }
    /* The tail by plain stores (a masked store is microcoded on AMD). */
    for (; k < cnt; k++)
        for (int j = 0; j < cb; j++)
            dst[j][off + k] = add ? dst[j][off + k] + src[k * DW_CB + j] : src[k * DW_CB + j];
}

/* The whole blocks (cb = 8, the common case) with constant bounds. */
static void cl_out(const float *src, int64_t cnt, float *const *dst, int64_t off, int cb, int add)
{
    if (cb == DW_CB && add)
        cl_out_k(src, cnt, dst, off, DW_CB, 1);
    else if (cb == DW_CB)
        cl_out_k(src, cnt, dst, off, DW_CB, 0);
    else
        cl_out_k(src, cnt, dst, off, cb, add);
}

/* The padded rows [r0, r1) of a block: the input rows they hold (zero
 * padding outside, written once per thread, never over). */
static void cl_fill(const dwgeo *g, const clay *k, const float *const *src, int64_t r0, int64_t r1,
                    float *buf)
{
    int64_t cnt = k->wn - g->pl < g->w ? k->wn - g->pl : g->w;
    for (int64_t r = r0; r < r1; r++) {
        int64_t iy = r - g->pt;
        if (iy < 0 || iy >= g->h || cnt <= 0)
            continue;
        cl_in(src, iy * g->w, cnt, buf + (r * k->wn + g->pl) * DW_CB, 1);
    }
}

/* The store's activation, as act_apply (act.h). */
#if defined(__AVX512F__)
#define cl_act act_v16
#else
#define cl_act act_v8
#endif

/* nb (constant) output pixels of row oy from column ox: bias + the taps in
 * tap order, each a multiply-add of DW_CB channels. */
static inline __attribute__((always_inline)) void
cl_px(const float *buf, int64_t wn, const clv *wv, clv bias, float *out, int64_t oy,
      int64_t ox, const int nb, const int64_t kh, const int64_t kw, const int64_t sh,
      const int64_t sw, const int64_t dh, const int64_t dw, int kind, clv lo, clv hi)
{
    clv acc[8];
#pragma GCC unroll 8
    for (int v = 0; v < nb; v++)
        acc[v] = bias;
    for (int64_t ki = 0; ki < kh; ki++) {
        const float *row = buf + ((oy * sh + ki * dh) * wn + ox * sw) * DW_CB;
        for (int64_t kj = 0; kj < kw; kj++) {
            clv w = wv[ki * kw + kj];
            const float *p = row + kj * dw * DW_CB;
#pragma GCC unroll 8
            for (int v = 0; v < nb; v++)
                acc[v] = CV_FMA(w, CV_LOAD(p + v * sw * DW_CB), acc[v]);
        }
    }
#pragma GCC unroll 8
    for (int v = 0; v < nb; v++)
        CV_STORE(out + v * DW_CB, cl_act(acc[v], kind, lo, hi));
}

/* Output rows [oy0, oy1) into out (rows of ow pixels), NB pixels at a
 * time and the row's tail in one block. 3x3 keeps its nine weight vectors
 * in registers beside NB = 4 sums; larger filters load a tap's weights
 * once for NB = 8 pixels. */
static inline __attribute__((always_inline)) void
cl_rows(const dwgeo *g, const clay *k, const float *buf, const clv *wsrc, clv bias,
        float *out, int64_t oy0, int64_t oy1, op_act act, const int NB, const int64_t kh,
        const int64_t kw, const int64_t sh, const int64_t sw, const int64_t dh, const int64_t dw)
{
    clv wreg[9], lo = CV_SET1(act.lo), hi = CV_SET1(act.hi);
    const clv *wv = wsrc;
    if (kh == 3 && kw == 3) {   /* unrolled: a loop became a memcpy, wreg memory */
        wreg[0] = wsrc[0], wreg[1] = wsrc[1], wreg[2] = wsrc[2];
        wreg[3] = wsrc[3], wreg[4] = wsrc[4], wreg[5] = wsrc[5];
        wreg[6] = wsrc[6], wreg[7] = wsrc[7], wreg[8] = wsrc[8];
        wv = wreg;
    }
    int kind = act.kind;
    for (int64_t oy = oy0; oy < oy1; oy++) {
        float *o = out + (oy - oy0) * g->ow * DW_CB;
        int64_t ox = 0;
        for (; ox + NB <= g->ow; ox += NB)
            cl_px(buf, k->wn, wv, bias, o + ox * DW_CB, oy, ox, NB, kh, kw, sh, sw, dh, dw, kind,
                  lo, hi);
        switch (g->ow - ox) {
#define CL_TAIL(R)                                                                         \
    case R:                                                                                \
        if (R < NB)                                                                        \
            cl_px(buf, k->wn, wv, bias, o + ox * DW_CB, oy, ox, R < NB ? R : 1, kh, kw, sh, \
                  sw, dh, dw, kind, lo, hi);                                              \
        break;
            CL_TAIL(1)
            CL_TAIL(2)
            CL_TAIL(3)
            CL_TAIL(4)
            CL_TAIL(5)
            CL_TAIL(6)
            CL_TAIL(7)
#undef CL_TAIL
        default: break;
        }
    }
}

static void cl_rows_any(const dwgeo *g, const clay *k, const float *buf, const clv *wv,
                        clv bias, float *out, int64_t oy0, int64_t oy1, op_act act)
{
    if (g->dh == 1 && g->dw == 1 && g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1)
        cl_rows(g, k, buf, wv, bias, out, oy0, oy1, act, 4, 3, 3, 1, 1, 1, 1);
    else if (g->dh == 1 && g->dw == 1 && g->kh == 3 && g->kw == 3 && g->sh == 2 && g->sw == 2)
        cl_rows(g, k, buf, wv, bias, out, oy0, oy1, act, 4, 3, 3, 2, 2, 1, 1);
    else if (g->dh == 1 && g->dw == 1 && g->kh == 5 && g->kw == 5 && g->sh == 1 && g->sw == 1)
        cl_rows(g, k, buf, wv, bias, out, oy0, oy1, act, 8, 5, 5, 1, 1, 1, 1);
    else if (g->dh == 1 && g->dw == 1 && g->kh == 5 && g->kw == 5 && g->sh == 2 && g->sw == 2)
        cl_rows(g, k, buf, wv, bias, out, oy0, oy1, act, 8, 5, 5, 2, 2, 1, 1);
    else
        cl_rows(g, k, buf, wv, bias, out, oy0, oy1, act, 8, g->kh, g->kw, g->sh, g->sw, g->dh,
                g->dw);
}

/* The threads' work: (image, block of DW_CB channels) pairs; the
 * forward's also by band of output rows, item (image, band, block). */
typedef struct clblk {
    int64_t q0;   /* first plane: image * c + first channel */
    int cb;       /* channels in the block (the last may have fewer) */
} clblk;

static clblk cl_block(const dwgeo *g, int64_t it)
{
    int64_t nblk = (g->c + DW_CB - 1) / DW_CB, c0 = it % nblk * DW_CB;
    clblk b = { it / nblk * g->c + c0, (int)(g->c - c0 < DW_CB ? g->c - c0 : DW_CB) };
    return b;
}

/* The forward's bands: 3x3 stride 2 on maps of 28 rows or more out
 * (AVX2: mobilenet_v2's and efficientnet_b0's stride-2 layers; AVX-512
 * takes those by rows, rv_forward) one a thread, so that a thread's
 * static share (par.h) is the rows the layer before wrote on the same
 * core (a 1x1 product splits its columns, an image's pixels, in the same
 * halves). By channel blocks alone each core read half its input from the
 * other core's cache: mobilenet_v2's 96 x 112 x 112 stride-2 layer took
 * 0.20 ms in the net against 0.10 alone (AVX2, batch 4). A band refills
 * kh - sh halo rows, and banded everywhere the depthwise layers ran slower
 * (in the net, both vector widths: convnext_tiny's 7x7 ones 1.45 -> 2.0
 * ms, efficientnet_b0's 0.87-0.94 -> 1.15-1.24); elsewhere one band. */
static int64_t cl_bands(const dwgeo *g, int T)
{
    return T > 1 && g->kh == 3 && g->kw == 3 && g->sh == 2 && g->sw == 2 && g->dh == 1 &&
                   g->oh >= 28
               ? T
               : 1;
}

/* Per-channel vectors: v[t * DW_CB + j] = W[(c0 + j) * kk + t] (0 past cb). */
static void cl_weights(const float *W, int64_t kk, int64_t c0, int cb, float *v, int flip)
{
    for (int64_t t = 0; t < kk; t++)
        for (int j = 0; j < DW_CB; j++)
            v[t * DW_CB + j] = j < cb ? W[(c0 + j) * kk + (flip ? kk - 1 - t : t)] : 0.0f;
}

/* cl_forward's and cl_xgrad's items i0..i1-1 (blocks of DW_CB planes) on
 * part t's slot. */
typedef struct cl_args {
    const dwgeo *g;
    const clay *k;
    const float *W, *b, *x;
    float *y, *ws;
    size_t slot;
    op_act act;
    int64_t bands;   /* the forward's bands of output rows (cl_bands); 1 */
} cl_args;

static void cl_fwd_range(void *ctx, int64_t i0, int64_t i1, int t)
{
    const cl_args *a = ctx;
    const dwgeo *g = a->g;
    const clay *k = a->k;
    int64_t kk = g->kh * g->kw, hw = g->h * g->w, ohw = g->oh * g->ow;
    float *buf = ws_slot(a->ws, a->slot, t), *out = buf + k->pad;
    float *wv = out + k->strip;
    memset(buf, 0, k->pad * sizeof *buf);
    int64_t nblk = (g->c + DW_CB - 1) / DW_CB;
    for (int64_t it = i0; it < i1; it++) {
        int64_t img = it / (a->bands * nblk), band = it / nblk % a->bands;
        clblk bk = cl_block(g, img * nblk + it % nblk);
        int64_t c0 = bk.q0 % g->c;
        const float *src[DW_CB];
        float *dst[DW_CB];
        /* Lanes past the last channel read its plane again. */
        for (int j = 0; j < DW_CB; j++) {
            int jj = j < bk.cb ? j : bk.cb - 1;
            src[j] = a->x + (bk.q0 + jj) * hw;
            dst[j] = a->y + (bk.q0 + jj) * ohw;
        }
        cl_weights(a->W, kk, c0, bk.cb, wv, 0);
        float bv[DW_CB];
        for (int j = 0; j < DW_CB; j++)
            bv[j] = a->b && j < bk.cb ? a->b[c0 + j] : 0.0f;
        clv bias = CV_LOADU(bv);
        int64_t ob0 = band * g->oh / a->bands, ob1 = (band + 1) * g->oh / a->bands;
        int64_t filled = ob0 * g->sh;
        for (int64_t oy0 = ob0; oy0 < ob1; oy0 += k->rows) {
            int64_t oy1 = oy0 + k->rows < ob1 ? oy0 + k->rows : ob1;
            int64_t need = (oy1 - 1) * g->sh + (g->kh - 1) * g->dh + 1;
            cl_fill(g, k, src, filled, need, buf);
            filled = need;
            cl_rows_any(g, k, buf, (const clv *)wv, bias, out, oy0, oy1, a->act);
            cl_out(out, (oy1 - oy0) * g->ow, dst, oy0 * g->ow, bk.cb, 0);
        }
    }
}

/* x: gy, y: gx. */
static void cl_xgrad_range(void *ctx, int64_t i0, int64_t i1, int t)
{
    const cl_args *a = ctx;
    const dwgeo *g = a->g;
    const clay *k = a->k;
    /* The forward's loops over G: stride 1, an output of h x w. */
    dwgeo f = *g;
    f.oh = g->h, f.ow = g->w, f.sh = 1, f.sw = 1;
    int64_t kk = g->kh * g->kw, hw = g->h * g->w, ohw = g->oh * g->ow;
    int64_t mh = (g->kh - 1) * g->dh, mw = (g->kw - 1) * g->dw;
    float *buf = ws_slot(a->ws, a->slot, t), *out = buf + k->pad;
    float *wv = out + k->strip;
    const float *at = buf + (g->pt * k->wn + g->pl) * DW_CB;
    memset(buf, 0, k->pad * sizeof *buf);
    for (int64_t it = i0; it < i1; it++) {
        clblk bk = cl_block(g, it);
        const float *src[DW_CB];
        float *dst[DW_CB];
        for (int j = 0; j < DW_CB; j++) {
            int jj = j < bk.cb ? j : bk.cb - 1;
            src[j] = a->x + (bk.q0 + jj) * ohw;
            dst[j] = a->y + (bk.q0 + jj) * hw;
        }
        cl_weights(a->W, kk, bk.q0 % g->c, bk.cb, wv, 1);
        for (int64_t oy = 0; oy < g->oh; oy++)
            cl_in(src, oy * g->ow, g->ow, buf + ((mh + oy * g->sh) * k->wn + mw) * DW_CB, g->sw);
        for (int64_t y0 = 0; y0 < g->h; y0 += k->rows) {
            int64_t y1 = y0 + k->rows < g->h ? y0 + k->rows : g->h;
            cl_rows_any(&f, k, at, (const clv *)wv, CV_ZERO(), out, y0, y1, ACT_NO);
            cl_out(out, (y1 - y0) * g->w, dst, y0 * g->w, bk.cb, 1);
        }
    }
}

static void cl_forward(const dwgeo *g, const float *W, const float *b, int n, const float *x,
                       float *y, float *ws, int threads, op_act act)
{
    clay k = cl_layout(g);
    int64_t nblk = (g->c + DW_CB - 1) / DW_CB, items = (int64_t)n * nblk;
    size_t slot = dw_ws_floats(g);
    int T = nthreads(g, items * DW_CB, threads);
    if (T > items)
        T = (int)items;
    int64_t bands = cl_bands(g, T);
    cl_args a = { g, &k, W, b, x, y, ws, slot, act, bands };
    par_for_fine(items * bands, T, dw_work(g, (int64_t)n * g->c), cl_fwd_range, &a);
}

static void cl_xgrad(const dwgeo *g, const float *W, int n, const float *gy, float *gx,
                     float *ws, int threads)
{
    clay k = cx_layout(g);
    int64_t nblk = (g->c + DW_CB - 1) / DW_CB, items = (int64_t)n * nblk;
    size_t slot = dw_ws_floats(g);
    int T = nthreads(g, items * DW_CB, threads);
    if (T > items)
        T = (int)items;
    cl_args a = { g, &k, W, NULL, gy, gx, ws, slot, ACT_NO, 1 };
    par_for_fine(items, T, dw_work(g, (int64_t)n * g->c), cl_xgrad_range, &a);
}

/* The sum over a row of ow pixels of a[ox] * b[ox * step] (8 channels), in
 * four chains (a fixed order: ox mod 4, then the tail on the first). */
static inline clv cl_dot(const float *a, const float *b, int64_t ow, int64_t step)
{
    clv s0 = CV_ZERO(), s1 = s0, s2 = s0, s3 = s0;
    int64_t ox = 0;
    step *= DW_CB;
    for (; ox + 4 <= ow; ox += 4) {
        s0 = CV_FMA(CV_LOAD(a + ox * DW_CB), CV_LOAD(b + ox * step), s0);
        s1 = CV_FMA(CV_LOAD(a + (ox + 1) * DW_CB),
                             CV_LOAD(b + (ox + 1) * step), s1);
        s2 = CV_FMA(CV_LOAD(a + (ox + 2) * DW_CB),
                             CV_LOAD(b + (ox + 2) * step), s2);
        s3 = CV_FMA(CV_LOAD(a + (ox + 3) * DW_CB),
                             CV_LOAD(b + (ox + 3) * step), s3);
    }
    for (; ox < ow; ox++)
        s0 = CV_FMA(CV_LOAD(a + ox * DW_CB), CV_LOAD(b + ox * step), s0);
    return CV_ADD(CV_ADD(s0, s1), CV_ADD(s2, s3));
}

/* The weight gradient on the forward's layout: per block of 8 channels
 * (one thread's, over all images in order), x padded as the forward pads
 * it and gy transposed a strip at a time; each tap's sum is one dot
 * product of 8 channels per output row, the rows' sums added per image
 * (shorter chains than one over the plane), then onto gW and gb. */
/* cl_wgrad's blocks b0..b1-1 of DW_CB channels, each over all images in
 * order (lay: the clay). */
static void cl_wgrad_range(void *ctx, int64_t b0, int64_t b1, int part)
{
    const dww_args *a = ctx;
    const dwgeo *g = a->g;
    const clay *k = a->lay;
    int64_t kk = g->kh * g->kw, hw = g->h * g->w, ohw = g->oh * g->ow;
    float *buf = ws_slot(a->ws, a->slot, part), *gyb = buf + k->pad;
    float *acc = gyb + k->strip;
    memset(buf, 0, k->pad * sizeof *buf);
    for (int64_t blk = b0; blk < b1; blk++) {
        int64_t c0 = blk * DW_CB;
        int cb = (int)(g->c - c0 < DW_CB ? g->c - c0 : DW_CB);
        for (int i = 0; i < a->n; i++) {
            int64_t q0 = (int64_t)i * g->c + c0;
            const float *xs[DW_CB], *gs[DW_CB];
            for (int j = 0; j < DW_CB; j++) {
                int jj = j < cb ? j : cb - 1;
                xs[j] = a->x + (q0 + jj) * hw;
                gs[j] = a->gy + (q0 + jj) * ohw;
            }
            /* acc: kk taps, then the bias. */
            memset(acc, 0, (size_t)((kk + 1) * DW_CB) * sizeof *acc);
            int64_t filled = 0;
            for (int64_t oy0 = 0; oy0 < g->oh; oy0 += k->rows) {
                int64_t oy1 = oy0 + k->rows < g->oh ? oy0 + k->rows : g->oh;
                for (int64_t oy = oy0; oy < oy1; oy++)
                    cl_in(gs, oy * g->ow, g->ow, gyb + (oy - oy0) * g->ow * DW_CB, 1);
                if (a->gW) {
                    int64_t need = (oy1 - 1) * g->sh + (g->kh - 1) * g->dh + 1;
                    cl_fill(g, k, xs, filled, need, buf);
                    filled = need;
                }
                for (int64_t oy = oy0; oy < oy1; oy++) {
                    const float *gr = gyb + (oy - oy0) * g->ow * DW_CB;
                    if (a->gb) {
                        clv s = CV_ZERO();
                        for (int64_t ox = 0; ox < g->ow; ox++)
                            s = CV_ADD(s, CV_LOAD(gr + ox * DW_CB));
                        float *ab = acc + kk * DW_CB;
                        CV_STORE(ab, CV_ADD(CV_LOAD(ab), s));
                    }
                    if (!a->gW)
                        continue;
                    for (int64_t ki = 0; ki < g->kh; ki++)
                        for (int64_t kj = 0; kj < g->kw; kj++) {
                            const float *row =
                                buf + ((oy * g->sh + ki * g->dh) * k->wn + kj * g->dw) * DW_CB;
                            float *ak = acc + (ki * g->kw + kj) * DW_CB;
                            clv s = cl_dot(gr, row, g->ow, g->sw);
                            CV_STORE(ak, CV_ADD(CV_LOAD(ak), s));
                        }
                }
            }
            for (int j = 0; j < cb; j++) {
                if (a->gW)
                    for (int64_t t = 0; t < kk; t++)
                        a->gW[(c0 + j) * kk + t] += acc[t * DW_CB + j];
                if (a->gb)
                    a->gb[c0 + j] += acc[kk * DW_CB + j];
            }
        }
    }
}

static void cl_wgrad(const dwgeo *g, int n, const float *x, const float *gy, float *gW,
                     float *gb, float *ws, int threads)
{
    clay k = cl_layout(g);
    int64_t nblk = (g->c + DW_CB - 1) / DW_CB, kk = g->kh * g->kw, ohw = g->oh * g->ow;
    int T = nthreads(g, g->c, threads);
    if ((int64_t)n * g->c * ohw * kk < 32768)
        T = 1;
    dww_args a = { g, &k, NULL, n, x, gy, gW, gb, ws, dw_ws_floats(g) };
    par_for(nblk, T, cl_wgrad_range, &a);
}
#endif
