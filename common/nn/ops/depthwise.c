/* depthwise: direct per-channel convolution (see depthwise.h).
 *
 * The layout: the padded plane (rows hp, columns wn: those some tap reads)
 * split into sh x sw phase sub-planes, sub-plane (a, b) holding padded
 * element (i * sh + a, j * sw + b) at [i][j], rows of len floats. Output
 * (oy, ox) then reads, for tap (ki, kj), sub-plane (ki dh % sh, kj dw % sw)
 * at [oy + ki dh / sh][ox + kj dw / sw]: with the output laid out in rows of
 * the same len (columns ow..len-1 computed and dropped), each tap is one
 * run over the whole flat plane at a fixed offset. So a 7x7 output is one
 * loop of 7 len floats per tap, not 7 loops of 7. */
#include <omp.h>
#include <string.h>

#include "nn/ops/depthwise.h"

typedef struct lay {
    int64_t hp, wn, len, hq, sp;   /* sp: floats per sub-plane */
    size_t area;                   /* floats of all sub-planes */
    int64_t flat;                  /* oh * len */
} lay;

static lay layout(const dwgeo *g)
{
    lay l;
    l.hp = (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    l.wn = (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1;
    l.len = (l.wn + g->sw - 1) / g->sw;
    l.hq = (l.hp + g->sh - 1) / g->sh;
    /* The dropped columns of the last row read up to len + (kw-1)dw/sw
     * floats past the rows. */
    l.sp = l.hq * l.len + l.len + 16;
    l.area = (size_t)(g->sh * g->sw * l.sp);
    l.flat = g->oh * l.len;
    return l;
}

/* The reach of a stride-1 plane's taps in the flat layout: the input
 * gradient reads gy this far before and after its plane (dw_xgrad). */
static int64_t reach(const dwgeo *g, const lay *l)
{
    return (g->kh - 1) * g->dh * l->len + (g->kw - 1) * g->dw;
}

size_t dw_ws_floats(const dwgeo *g)
{
    lay l = layout(g);
    return l.area + (size_t)(l.flat + 2 * reach(g, &l)) + 32;
}

/* The offset of each tap's run in the sub-planes. */
static void tap_offsets(const dwgeo *g, const lay *l, int64_t *to)
{
    for (int64_t ki = 0; ki < g->kh; ki++)
        for (int64_t kj = 0; kj < g->kw; kj++) {
            int64_t r = ki * g->dh, c = kj * g->dw;
            to[ki * g->kw + kj] = ((r % g->sh) * g->sw + c % g->sw) * l->sp +
                                  r / g->sh * l->len + c / g->sw;
        }
}

/* Threads for n planes: one when the work is small. */
static int nthreads(const dwgeo *g, int64_t planes, int threads)
{
    int T = omp_get_max_threads();
    if (T > threads)
        T = threads;
    if (T > planes)
        T = (int)planes;
    if (planes * g->oh * g->ow * g->kh * g->kw < 32768)
        T = 1;
    return T < 1 ? 1 : T;
}

/* dst[k] = src[k s] and its adjoint, k < n; inlined with s = 2 as a
 * constant for stride 2 (the loads and stores then vectorise). */
static inline void gather(float *restrict dst, const float *restrict src, int64_t n, int64_t s)
{
    for (int64_t k = 0; k < n; k++)
        dst[k] = src[k * s];
}

static inline void scatter_add(float *restrict dst, const float *restrict src, int64_t n,
                               int64_t s)
{
    for (int64_t k = 0; k < n; k++)
        dst[k * s] += src[k];
}

/* Short rows: an inline loop beats a call of memcpy. */
static inline void copy(float *restrict dst, const float *restrict src, int64_t n)
{
#pragma omp simd
    for (int64_t k = 0; k < n; k++)
        dst[k] = src[k];
}

/* v[k] = act(v[k]), k < n: one loop per kind, each vectorised (over a
 * whole flat plane: per output row the short rows ran mostly in tails). */
static void act_flat(float *v, int64_t n, op_act a)
{
    float lo = a.lo, hi = a.hi;
    if (a.kind == ACT_CLIP) {
#pragma omp simd
        for (int64_t k = 0; k < n; k++)
            v[k] = v[k] < lo ? lo : v[k] > hi ? hi : v[k];
    } else if (a.kind == ACT_RELU) {
#pragma omp simd
        for (int64_t k = 0; k < n; k++)
            v[k] = v[k] > 0 || v[k] != v[k] ? v[k] : 0.0f;
    }
}

/* Where column phase b of a padded row takes its values: input columns
 * ix0, ix0 + sw, ... (cnt of them) at float at of the row. */
typedef struct phase {
    int64_t ix0, at, cnt;
} phase;

static phase col_phase(const dwgeo *g, const lay *l, int64_t b)
{
    phase c;
    int64_t xe = l->wn - g->pl < g->w ? l->wn - g->pl : g->w;
    c.ix0 = ((b - g->pl) % g->sw + g->sw) % g->sw;
    c.at = b * l->sp + (c.ix0 + g->pl) / g->sw;
    c.cnt = (xe - c.ix0 + g->sw - 1) / g->sw;
    return c;
}

/* The phases of the first DW_PH strides (the rest, rare, per row: per
 * row, the divisions cost more than copying the short rows of the late
 * layers did). */
#define DW_PH 4
typedef struct phases {
    phase b[DW_PH];
} phases;

static phases col_phases(const dwgeo *g, const lay *l)
{
    phases c;
    for (int64_t b = 0; b < g->sw && b < DW_PH; b++)
        c.b[b] = col_phase(g, l, b);
    return c;
}

static inline phase phase_at(const dwgeo *g, const lay *l, const phases *c, int64_t b)
{
    return b < DW_PH ? c->b[b] : col_phase(g, l, b);
}

/* body for each input row iy some tap reads, with row: where padded row
 * r = iy + pt starts (sub-plane r % sh, its row r / sh), stepped by phase
 * and row, not divided. */
#define FOR_PLANE_ROWS(g, l, iy, row, body)                                        \
    do {                                                                           \
        int64_t ph_ = (g)->pt % (g)->sh, base_ = (g)->pt / (g)->sh * (l)->len;     \
        for (int64_t iy = 0; iy < (g)->h && iy + (g)->pt < (l)->hp; iy++) {       \
            int64_t row = ph_ * (g)->sw * (l)->sp + base_;                         \
            if (++ph_ == (g)->sh)                                                  \
                ph_ = 0, base_ += (l)->len;                                        \
            body                                                                   \
        }                                                                          \
    } while (0)

/* Write plane x (h x w) into buf's interior; the rest (padding, margins)
 * no plane writes, so it stays as the caller zeroed it. */
static void fill_plane(const dwgeo *g, const lay *l, const phases *c, const float *x, float *buf)
{
    int64_t sw = g->sw;
    FOR_PLANE_ROWS(g, l, iy, at, {
        const float *xr = x + iy * g->w;
        float *row = buf + at;
        if (sw == 1) {
            copy(row + c->b[0].at, xr, c->b[0].cnt);
            continue;
        }
        /* Phase b holds the columns c = ix + pl = b (mod sw): input
         * columns ix0, ix0 + sw, ... (strided loads, which vectorise). */
        for (int64_t b = 0; b < sw; b++) {
            phase p = phase_at(g, l, c, b);
            if (sw == 2)
                gather(row + p.at, xr + p.ix0, p.cnt, 2);
            else
                gather(row + p.at, xr + p.ix0, p.cnt, sw);
        }
    });
}

/* The adjoint of fill_plane: gx (h x w) += buf's interior. */
static void unfill_plane(const dwgeo *g, const lay *l, const phases *c, const float *buf,
                         float *gx)
{
    int64_t sw = g->sw;
    FOR_PLANE_ROWS(g, l, iy, at, {
        float *restrict gr = gx + iy * g->w;
        const float *row = buf + at;
        if (sw == 1) {
            const float *restrict src = row + c->b[0].at;
            for (int64_t ix = 0; ix < c->b[0].cnt; ix++)
                gr[ix] += src[ix];
            continue;
        }
        for (int64_t b = 0; b < sw; b++) {
            phase p = phase_at(g, l, c, b);
            if (sw == 2)
                scatter_add(gr + p.ix0, row + p.at, p.cnt, 2);
            else
                scatter_add(gr + p.ix0, row + p.at, p.cnt, sw);
        }
    });
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

void dw_forward(const dwgeo *g, const float *W, const float *b, int n, const float *x, float *y,
                float *ws, int threads, op_act act)
{
    lay l = layout(g);
    phases ph = col_phases(g, &l);
    int64_t planes = (int64_t)n * g->c, hw = g->h * g->w, ohw = g->oh * g->ow;
    int64_t kk = g->kh * g->kw;
    size_t slot = dw_ws_floats(g);
    int T = nthreads(g, planes, threads);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        float *buf = ws + (size_t)omp_get_thread_num() * slot, *out = buf + l.area;
        int64_t to[kk];
        tap_offsets(g, &l, to);
        memset(buf, 0, l.area * sizeof *buf);
#pragma omp for schedule(static)
        for (int64_t q = 0; q < planes; q++) {
            int64_t c = q % g->c;
            fill_plane(g, &l, &ph, x + q * hw, buf);
            plane_forward(g, &l, to, buf, W + c * kk, b ? b[c] : 0.0f, out);
            act_flat(out, l.flat, act);
            float *yp = y + q * ohw;
            for (int64_t oy = 0; oy < g->oh; oy++)
                copy(yp + oy * g->ow, out + oy * l.len, g->ow);
        }
    }
}

/* gy's plane into rows of len floats, the dropped columns zero. */
static void flat_gy(const dwgeo *g, const lay *l, const float *gp, float *gf)
{
    for (int64_t oy = 0; oy < g->oh; oy++) {
        copy(gf + oy * l->len, gp + oy * g->ow, g->ow);
        for (int64_t k = g->ow; k < l->len; k++)
            gf[oy * l->len + k] = 0;
    }
}

void dw_xgrad(const dwgeo *g, const float *W, int n, const float *gy, float *gx, float *ws,
              int threads)
{
    lay l = layout(g);
    phases ph = col_phases(g, &l);
    int64_t planes = (int64_t)n * g->c, hw = g->h * g->w, ohw = g->oh * g->ow;
    int64_t kk = g->kh * g->kw;
    size_t slot = dw_ws_floats(g);
    int T = nthreads(g, planes, threads);
    /* Stride 1: each padded position p gathers the taps that read it,
     * buf[p] = sum over t of w[t] gf[p - to[t]], from gf with `reach`
     * zeros on both sides, in registers (taps_sum) and in tap order, as
     * the scatter below adds them. Strided planes scatter. */
    int64_t m = reach(g, &l), np = l.hp * l.len;
    int gather = g->sh == 1 && g->sw == 1;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        float *buf = ws + (size_t)omp_get_thread_num() * slot, *gf = buf + l.area;
        int64_t to[kk], from[kk];
        tap_offsets(g, &l, to);
        if (gather) {
            for (int64_t t = 0; t < kk; t++)
                from[t] = m - to[t];
            memset(gf, 0, (size_t)(l.flat + 2 * m + 32) * sizeof *gf);
        }
#pragma omp for schedule(static)
        for (int64_t q = 0; q < planes; q++) {
            const float *w = W + q % g->c * kk;
            if (gather) {
                flat_gy(g, &l, gy + q * ohw, gf + m);
                taps_sum(gf, from, kk, w, 0.0f, buf, np);
                unfill_plane(g, &l, &ph, buf, gx + q * hw);
                continue;
            }
            memset(buf, 0, l.area * sizeof *buf);
            flat_gy(g, &l, gy + q * ohw, gf);
            /* Each tap scatters gy times its weight onto what it read. */
            for (int64_t t = 0; t < kk; t++) {
                float *restrict dst = buf + to[t], wv = w[t];
                const float *restrict src = gf;
#pragma omp simd
                for (int64_t f = 0; f < l.flat; f++)
                    dst[f] += wv * src[f];
            }
            unfill_plane(g, &l, &ph, buf, gx + q * hw);
        }
    }
}

void dw_wgrad(const dwgeo *g, int n, const float *x, const float *gy, float *gW, float *gb,
              float *ws, int threads)
{
    lay l = layout(g);
    phases ph = col_phases(g, &l);
    int64_t hw = g->h * g->w, ohw = g->oh * g->ow, kk = g->kh * g->kw;
    size_t slot = dw_ws_floats(g);
    int T = nthreads(g, g->c, threads);
    if ((int64_t)n * g->c * ohw * kk < 32768)
        T = 1;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        float *buf = ws + (size_t)omp_get_thread_num() * slot, *gf = buf + l.area;
        int64_t to[kk];
        tap_offsets(g, &l, to);
        memset(buf, 0, l.area * sizeof *buf);
        /* A channel's sums over images belong to one thread. */
#pragma omp for schedule(static)
        for (int64_t c = 0; c < g->c; c++)
            for (int i = 0; i < n; i++) {
                int64_t q = (int64_t)i * g->c + c;
                const float *gp = gy + q * ohw;
                if (gb) {
                    float s = 0;
#pragma omp simd reduction(+ : s)
                    for (int64_t k = 0; k < ohw; k++)
                        s += gp[k];
                    gb[c] += s;
                }
                if (!gW)
                    continue;
                fill_plane(g, &l, &ph, x + q * hw, buf);
                flat_gy(g, &l, gp, gf);
                for (int64_t t = 0; t < kk; t++) {
                    const float *src = buf + to[t];
                    float s = 0;
#pragma omp simd reduction(+ : s)
                    for (int64_t f = 0; f < l.flat; f++)
                        s += gf[f] * src[f];
                    gW[c * kk + t] += s;
                }
            }
    }
}
