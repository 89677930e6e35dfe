/* grouped: direct convolution of groups with few output channels (see
 * grouped.h), in the phase-split padded layout of planes.h. */
#include <string.h>

#include "base/par.h"
#include "nn/ops/grouped.h"
#include "nn/ops/planes.h"

/* The forward's and input gradient's register block: GR_FB channels x
 * GR_NV vectors of GR_W floats. AVX2: 4 x 3 vectors of 8 (12
 * accumulators: enough to cover the multiply-add's latency on both pipes,
 * with 3 loads and 4 broadcasts per 12 multiply-adds). AVX-512: 8 x 3
 * vectors of 16 (24 of its 32 registers; 3 loads and 8 broadcasts per 24
 * multiply-adds). Each position's sum is the same chain whatever the
 * block, so all give the same results. With 4 x 3 x 8 on the AVX-512
 * machine regnet_y_400mf's grouped 3x3 layers ran at 24-36% of its FMA
 * peak (half of it is all 8-wide multiply-adds can reach there). The
 * weight gradient's block is GR_OB channels (gw_block). */
#define GR_OB 4
#define GR_NV 3
#if defined(__AVX512F__)
#define GR_W 16
#define GR_FB 8
#else
#define GR_W 8
#define GR_FB 4
#endif
/* The helpers below are static: the ABI note GCC gives (-Wpsabi) for a
 * vector of 32 or 64 bytes passed or returned without AVX or AVX-512 (a
 * build for generic x86-64) concerns no caller outside this file. */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float grvec __attribute__((vector_size(8 * sizeof(float))));
/* The block's vectors (gr_block): GR_W floats. */
typedef float gbvec __attribute__((vector_size(GR_W * sizeof(float))));

static inline grvec gr_load(const float *p)
{
    grvec v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline gbvec gb_load(const float *p)
{
    gbvec v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* w in every lane: one vbroadcastss from memory ((gbvec){ 0 } + w is an
 * add as well, 0 + -0 being +0). */
static inline gbvec gb_bcast(float w)
{
#if GR_W == 16
    return (gbvec){ w, w, w, w, w, w, w, w, w, w, w, w, w, w, w, w };
#else
    return (gbvec){ w, w, w, w, w, w, w, w };
#endif
}

/* The geometry's plane layout, with the phases of its columns. */
typedef struct glay {
    lay l;
    phases ph;
    int64_t kk, hw, ohw;
    int64_t os;    /* floats per plane of the flat output (flat + a block vector) */
    int64_t m;     /* gy's zero margins for the input gradient (gr_xgrad) */
    int64_t gs;    /* floats per flat gy plane (margins and a tail included) */
} glay;

static glay glayout(const grgeo *g)
{
    glay k;
    k.l = layout(&g->p);
    k.ph = col_phases(&g->p, &k.l);
    k.kk = g->p.kh * g->p.kw;
    k.hw = g->p.h * g->p.w;
    k.ohw = g->p.oh * g->p.ow;
    k.os = (k.l.flat + GR_W + GR_W - 1) / GR_W * GR_W;
    k.m = (g->p.kh - 1) * g->p.dh / g->p.sh * k.l.len + (g->p.kw - 1) * g->p.dw / g->p.sw;
    k.gs = k.l.flat + 2 * k.m + 32;
    return k;
}

/* A thread's slot: the padded input planes (forward) or gy's flat planes
 * (input gradient), and GR_FB planes of output; or both kinds of planes
 * (weight gradient). */
static size_t slot_floats(const grgeo *g)
{
    glay k = glayout(g);
    size_t fw = (size_t)g->ci * k.l.area + (size_t)(GR_FB * k.os);
    size_t bw = (size_t)(g->co * k.gs) + (size_t)GR_FB * k.l.area;
    size_t ww = (size_t)g->ci * k.l.area + (size_t)(g->co * k.gs);   /* gr_wgrad */
    size_t f = fw > bw ? fw : bw;
    return (f > ww ? f : ww) + 32;
}

/* Blocks of GR_FB channels in n. */
static int64_t blocks(int64_t n)
{
    return (n + GR_FB - 1) / GR_FB;
}

size_t gr_packed_floats(const grgeo *g)
{
    int64_t f = blocks(g->co) * g->ci, x = blocks(g->ci) * g->co;
    return (size_t)(g->p.c * (f > x ? f : x) * g->p.kh * g->p.kw * GR_FB);
}

int gr_wanted(const grgeo *g)
{
    return g->p.c > 1 && g->co < 16 && slot_floats(g) <= (size_t)1 << 22;
}

size_t gr_ws_floats(const grgeo *g, int threads)
{
    return slot_floats(g) * (size_t)threads + gr_packed_floats(g);
}

/* The forward's weights for gr_sum: block b of group gi at
 * wp + (gi * blocks(co) + b) * ci kk GR_FB, [c][t][o] = W[b GR_FB + o][c][t]
 * (a pair's channels side by side). */
static void pack_forward(const grgeo *g, const float *W, float *wp)
{
    int64_t ci = g->ci, co = g->co, kk = g->p.kh * g->p.kw;
    for (int64_t gi = 0; gi < g->p.c; gi++)
        for (int64_t b = 0; b < blocks(co); b++) {
            float *d = wp + (gi * blocks(co) + b) * ci * kk * GR_FB;
            for (int64_t c = 0; c < ci; c++)
                for (int64_t t = 0; t < kk; t++)
                    for (int64_t o = 0; o < GR_FB; o++) {
                        int64_t oc = b * GR_FB + o;
                        d[(c * kk + t) * GR_FB + o] =
                            oc < co ? W[((gi * co + oc) * ci + c) * kk + t] : 0.0f;
                    }
        }
}

/* The taps in order of the sub-plane they read (planes.h), and in their
 * order within one: tap ord[j]; those of sub-plane P are j = start[P] ..
 * start[P + 1] - 1. */
static void phase_order(const dwgeo *p, int64_t *ord, int64_t *start)
{
    int64_t np = p->sh * p->sw, j = 0;
    for (int64_t P = 0; P < np; P++) {
        start[P] = j;
        for (int64_t ki = 0; ki < p->kh; ki++)
            for (int64_t kj = 0; kj < p->kw; kj++)
                if ((ki * p->dh) % p->sh * p->sw + (kj * p->dw) % p->sw == P)
                    ord[j++] = ki * p->kw + kj;
    }
    start[np] = j;
}

/* The input gradient's: block b of group gi at
 * wp + (gi * blocks(ci) + b) * co kk GR_FB, [o][j][c] = W[o][b GR_FB + c][ord[j]]
 * (phase_order). */
static void pack_xgrad(const grgeo *g, const float *W, float *wp)
{
    int64_t ci = g->ci, co = g->co, kk = g->p.kh * g->p.kw;
    int64_t ord[kk], start[g->p.sh * g->p.sw + 1];
    phase_order(&g->p, ord, start);
    for (int64_t gi = 0; gi < g->p.c; gi++)
        for (int64_t b = 0; b < blocks(ci); b++) {
            float *d = wp + (gi * blocks(ci) + b) * co * kk * GR_FB;
            for (int64_t o = 0; o < co; o++)
                for (int64_t t = 0; t < kk; t++)
                    for (int64_t c = 0; c < GR_FB; c++) {
                        int64_t ic = b * GR_FB + c;
                        d[(o * kk + t) * GR_FB + c] =
                            ic < ci ? W[((gi * co + o) * ci + ic) * kk + ord[t]] : 0.0f;
                    }
        }
}

/* nv vectors of out from f, no channels (both constant when inlined):
 * out[o os + f + k] = init[o] + the sum over
 * i < ni, t < kk of w[i wi + t GR_FB + o] src[i ss + off[t] + f + k], each
 * a chain of multiply-adds in (i, t) order: the same rounding at every
 * position, whatever the block it falls in. */
static inline __attribute__((always_inline)) void
gr_block(const float *src, int64_t ss, int64_t ni, const int64_t *off, int64_t kk, const float *w,
         int64_t wi, const float *init, float *out, int64_t os, int64_t f, const int no,
         const int nv)
{
    gbvec acc[GR_FB][GR_NV];
#pragma GCC unroll 8
    for (int o = 0; o < no; o++)
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++)
            acc[o][v] = gb_bcast(init[o]);
    for (int64_t i = 0; i < ni; i++) {
        const float *s = src + i * ss + f, *wt = w + i * wi;
        for (int64_t t = 0; t < kk; t++, wt += GR_FB) {
            gbvec xv[GR_NV];
#pragma GCC unroll 3
            for (int v = 0; v < nv; v++)
                xv[v] = gb_load(s + off[t] + v * GR_W);
#pragma GCC unroll 8
            for (int o = 0; o < no; o++) {
                gbvec wv = gb_bcast(wt[o]);
#pragma GCC unroll 3
                for (int v = 0; v < nv; v++)
                    acc[o][v] += wv * xv[v];
            }
        }
    }
#pragma GCC unroll 8
    for (int o = 0; o < no; o++)
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++)
            memcpy(out + o * os + f + v * GR_W, &acc[o][v], sizeof acc[o][v]);
}

/* gr_block over positions 0..n-1 (and up to GR_W - 1 past them). */
static inline __attribute__((always_inline)) void
gr_span(const float *src, int64_t ss, int64_t ni, const int64_t *off, int64_t kk, const float *w,
        int64_t wi, const float *init, float *out, int64_t os, int64_t n, const int no)
{
    int64_t f = 0;
    for (; f + GR_W * GR_NV <= n; f += GR_W * GR_NV)
        gr_block(src, ss, ni, off, kk, w, wi, init, out, os, f, no, GR_NV);
    if (n - f > 2 * GR_W)
        gr_block(src, ss, ni, off, kk, w, wi, init, out, os, f, no, 3);
    else if (n - f > GR_W)
        gr_block(src, ss, ni, off, kk, w, wi, init, out, os, f, no, 2);
    else if (n - f > 0)
        gr_block(src, ss, ni, off, kk, w, wi, init, out, os, f, no, 1);
}

/* gr_span for no = 1..GR_FB channels. */
static void gr_sum(const float *src, int64_t ss, int64_t ni, const int64_t *off, int64_t kk,
                   const float *w, int64_t wi, const float *init, float *out, int64_t os,
                   int64_t n, int no)
{
    switch (no) {
#if GR_FB > 4
    case 8: gr_span(src, ss, ni, off, kk, w, wi, init, out, os, n, 8); break;
    case 7: gr_span(src, ss, ni, off, kk, w, wi, init, out, os, n, 7); break;
    case 6: gr_span(src, ss, ni, off, kk, w, wi, init, out, os, n, 6); break;
    case 5: gr_span(src, ss, ni, off, kk, w, wi, init, out, os, n, 5); break;
#endif
    case 4: gr_span(src, ss, ni, off, kk, w, wi, init, out, os, n, 4); break;
    case 3: gr_span(src, ss, ni, off, kk, w, wi, init, out, os, n, 3); break;
    case 2: gr_span(src, ss, ni, off, kk, w, wi, init, out, os, n, 2); break;
    default: gr_span(src, ss, ni, off, kk, w, wi, init, out, os, n, 1); break;
    }
}

void gr_pack(const grgeo *g, const float *W, int xgrad, float *wp)
{
    (xgrad ? pack_xgrad : pack_forward)(g, W, wp);
}

/* Threads for items of work units each: one when the work is small. */
static int nthreads(int64_t items, double work, int threads)
{
    int T = par_threads();
    if (T > threads)
        T = threads;
    if (T > items)
        T = (int)items;
    if (work < 65536)
        T = 1;
    return T < 1 ? 1 : T;
}

/* Thread t's slot. */
static float *slot_of(float *ws, const grgeo *g, int t)
{
    return ws + (size_t)t * slot_floats(g);
}

/* The packed weights: Wp (the engine's cache), or W packed (gr_pack) into
 * the workspace past the threads' slots. */
static const float *packed(const grgeo *g, const float *W, const float *Wp, int xgrad,
                           float *ws, int threads)
{
    if (Wp)
        return Wp;
    float *d = ws + slot_floats(g) * (size_t)threads;
    gr_pack(g, W, xgrad, d);
    return d;
}

/* gr_forward's and gr_xgrad's (image, group) items i0..i1-1 on part t's
 * slot (x, y: gy, gx for the input gradient). */
typedef struct gr_job {
    const grgeo *g;
    const glay *k;
    const float *wp, *b, *x, *r;
    float *y, *ws;
    op_act act;
    const int64_t *ord, *start;
} gr_job;

static void gr_fwd_items(void *ctx, int64_t i0, int64_t i1, int t)
{
    const gr_job *a = ctx;
    const grgeo *g = a->g;
    const glay *k = a->k;
    int64_t ci = g->ci, co = g->co, kk = k->kk, G = g->p.c;
    float *buf = slot_of(a->ws, g, t);
    float *out = buf + (size_t)ci * k->l.area;
    int64_t to[kk];
    tap_offsets(&g->p, &k->l, to);
    memset(buf, 0, (size_t)ci * k->l.area * sizeof *buf);
    const float zero[GR_FB] = { 0 };
    for (int64_t it = i0; it < i1; it++) {
        int64_t i = it / G, gi = it % G;
        for (int64_t c = 0; c < ci; c++)
            fill_plane(&g->p, &k->l, &k->ph, a->x + ((i * G + gi) * ci + c) * k->hw,
                       buf + c * k->l.area);
        for (int64_t o0 = 0; o0 < co; o0 += GR_FB) {
            int no = co - o0 < GR_FB ? (int)(co - o0) : GR_FB;
            const float *wt = a->wp + (gi * blocks(co) + o0 / GR_FB) * ci * kk * GR_FB;
            gr_sum(buf, (int64_t)k->l.area, ci, to, kk, wt, kk * GR_FB,
                   a->b ? a->b + gi * co + o0 : zero, out, k->os, k->l.flat, no);
            for (int o = 0; o < no; o++) {
                int64_t q = (i * G + gi) * co + o0 + o;
                float *yp = a->y + q * k->ohw;
                const float *rp = a->r ? a->r + q * k->ohw : NULL, *op = out + o * k->os;
                /* The sums (plus the residual), then act: as the ops. */
                for (int64_t oy = 0; oy < g->p.oh; oy++) {
                    float *restrict yr = yp + oy * g->p.ow;
                    const float *restrict sr = op + oy * k->l.len;
                    if (rp) {
                        const float *restrict rr = rp + oy * g->p.ow;
#pragma omp simd
                        for (int64_t ox = 0; ox < g->p.ow; ox++)
                            yr[ox] = sr[ox] + rr[ox];
                    } else
                        copy(yr, sr, g->p.ow);
                }
                act_flat(yp, k->ohw, a->act);
            }
        }
    }
}

void gr_forward(const grgeo *g, const float *W, const float *Wp, const float *b, int n,
                const float *x, const float *r, float *y, float *ws, int threads, op_act act)
{
    glay k = glayout(g);
    int64_t ci = g->ci, co = g->co, kk = k.kk, G = g->p.c, items = (int64_t)n * G;
    double macs = (double)items * (double)(co * ci * kk * k.ohw);
    int T = nthreads(items, macs, threads);
    gr_job a = { g, &k, packed(g, W, Wp, 0, ws, threads), b, x, r, y, ws, act, NULL, NULL };
    par_for_fine(items, T, 2.0 * macs, gr_fwd_items, &a);
}

/* Each position q of sub-plane P of an input plane's padded layout
 * gathers the taps that read it: the sum over o and P's taps t of
 * W[o][c][t] gf_o[q + m - r_t], r_t = to[t] - P sp the tap's offset in
 * the sub-plane, from gy's flat planes with m zeros on either side (m
 * the largest r_t): the forward's block over sub-planes of hq rows
 * (hq len <= flat + m), no adds into memory. */
static void gr_xgrad_items(void *ctx, int64_t i0, int64_t i1, int t)
{
    const gr_job *a = ctx;
    const grgeo *g = a->g;
    const glay *k = a->k;
    int64_t ci = g->ci, co = g->co, kk = k->kk, G = g->p.c;
    int64_t nph = g->p.sh * g->p.sw, nq = k->l.hq * k->l.len;
    const int64_t *ord = a->ord, *start = a->start;
    float *gf = slot_of(a->ws, g, t);
    float *buf = gf + co * k->gs;
    int64_t to[kk], from[kk];
    tap_offsets(&g->p, &k->l, to);
    for (int64_t P = 0; P < nph; P++)
        for (int64_t j = start[P]; j < start[P + 1]; j++)
            from[j] = k->m - (to[ord[j]] - P * k->l.sp);
    memset(gf, 0, (size_t)(co * k->gs) * sizeof *gf);
    const float zero[GR_FB] = { 0 };
    for (int64_t it = i0; it < i1; it++) {
        int64_t i = it / G, gi = it % G;
        for (int64_t o = 0; o < co; o++)
            flat_gy(&g->p, &k->l, a->x + ((i * G + gi) * co + o) * k->ohw,
                    gf + o * k->gs + k->m);
        for (int64_t c0 = 0; c0 < ci; c0 += GR_FB) {
            int nc = ci - c0 < GR_FB ? (int)(ci - c0) : GR_FB;
            const float *wt = a->wp + (gi * blocks(ci) + c0 / GR_FB) * co * kk * GR_FB;
            for (int64_t P = 0; P < nph; P++)
                gr_sum(gf, k->gs, co, from + start[P], start[P + 1] - start[P],
                       wt + start[P] * GR_FB, kk * GR_FB, zero, buf + P * k->l.sp,
                       (int64_t)k->l.area, nq, nc);
            for (int c = 0; c < nc; c++)
                unfill_plane(&g->p, &k->l, &k->ph, buf + c * k->l.area,
                             a->y + ((i * G + gi) * ci + c0 + c) * k->hw);
        }
    }
}

void gr_xgrad(const grgeo *g, const float *W, const float *Wp, int n, const float *gy, float *gx,
              float *ws, int threads)
{
    glay k = glayout(g);
    int64_t ci = g->ci, co = g->co, kk = k.kk, G = g->p.c, items = (int64_t)n * G;
    double macs = (double)items * (double)(co * ci * kk * k.ohw);
    int T = nthreads(items, macs, threads);
    int64_t nph = g->p.sh * g->p.sw, ord[kk], start[nph + 1];
    phase_order(&g->p, ord, start);
    gr_job a = { g, &k, packed(g, W, Wp, 1, ws, threads), NULL, gy, NULL, gx, ws, ACT_NO, ord,
                 start };
    par_for_fine(items, T, 2.0 * macs, gr_xgrad_items, &a);
}

typedef int grivec __attribute__((vector_size(8 * sizeof(int))));
_Static_assert(GR_OB == 4, "gw_block's sums of lanes take 4 x 2 accumulators");

/* Lanes a0+a1, a2+a3, b0+b1, b2+b3, a4+a5, a6+a7, b4+b5, b6+b7 (vhaddps). */
static inline grvec pair_sums(grvec a, grvec b)
{
    return __builtin_shuffle(a, b, (grivec){ 0, 2, 8, 10, 4, 6, 12, 14 }) +
           __builtin_shuffle(a, b, (grivec){ 1, 3, 9, 11, 5, 7, 13, 15 });
}

/* The weight gradient's block: s[o 2 + p] = the sum over the nv * 8
 * positions f of gf[o gs + f] xs[p][f], for no (<= GR_OB) channels o and
 * np (<= 2) (input channel, tap) pairs p (the rest of s: 0); each lane a
 * chain in f order, the 8 accumulators' lanes summed together by a tree of
 * shuffles (summing them one by one cost more than the sums on 7x7 maps).
 * 4 + 2 loads per 8 multiply-adds. */
static inline __attribute__((always_inline)) void
gw_block(const float *gf, int64_t gs, const float *const *xs, int64_t nv, float *s, const int no,
         const int np)
{
    grvec acc[GR_OB][2];
#pragma GCC unroll 4
    for (int o = 0; o < GR_OB; o++)
#pragma GCC unroll 2
        for (int p = 0; p < 2; p++)
            acc[o][p] = (grvec){ 0 };
    for (int64_t f = 0; f < nv * 8; f += 8) {
        grvec gv[GR_OB];
#pragma GCC unroll 4
        for (int o = 0; o < no; o++)
            gv[o] = gr_load(gf + o * gs + f);
#pragma GCC unroll 2
        for (int p = 0; p < np; p++) {
            grvec xv = gr_load(xs[p] + f);
#pragma GCC unroll 4
            for (int o = 0; o < no; o++)
                acc[o][p] += gv[o] * xv;
        }
    }
    grvec u0 = pair_sums(pair_sums(acc[0][0], acc[0][1]), pair_sums(acc[1][0], acc[1][1]));
    grvec u1 = pair_sums(pair_sums(acc[2][0], acc[2][1]), pair_sums(acc[3][0], acc[3][1]));
    grvec t = __builtin_shuffle(u0, u1, (grivec){ 0, 1, 2, 3, 8, 9, 10, 11 }) +
              __builtin_shuffle(u0, u1, (grivec){ 4, 5, 6, 7, 12, 13, 14, 15 });
    memcpy(s, &t, sizeof t);
}

/* gw_block for no = 1..GR_OB channels, np = 1 or 2 pairs. */
static void gw_sum(const float *gf, int64_t gs, const float *const *xs, int64_t nv, float *s,
                   int no, int np)
{
#define GW_CASE(k)                                     \
    case k:                                            \
        if (np == 2)                                   \
            gw_block(gf, gs, xs, nv, s, k, 2);         \
        else                                           \
            gw_block(gf, gs, xs, nv, s, k, 1);         \
        break;
    switch (no) {
        GW_CASE(4)
        GW_CASE(3)
        GW_CASE(2)
    default:
        GW_CASE(1)
    }
#undef GW_CASE
}

/* gr_wgrad's groups g0..g1-1 on part t's slot: a group's sums over the
 * images belong to one part, in image order. */
typedef struct grw_job {
    const grgeo *g;
    const glay *k;
    int n;
    const float *x, *gy;
    float *gW, *gb, *ws;
} grw_job;

static void gr_wgrad_groups(void *ctx, int64_t g0, int64_t g1, int t)
{
    const grw_job *a = ctx;
    const grgeo *g = a->g;
    const glay *k = a->k;
    int64_t ci = g->ci, co = g->co, kk = k->kk, G = g->p.c, nv = (k->l.flat + 7) / 8;
    float *buf = slot_of(a->ws, g, t);
    float *gf = buf + (size_t)ci * k->l.area;
    int64_t to[kk];
    tap_offsets(&g->p, &k->l, to);
    memset(buf, 0, ((size_t)ci * k->l.area + (size_t)(co * k->gs)) * sizeof *buf);
    for (int64_t gi = g0; gi < g1; gi++)
        for (int i = 0; i < a->n; i++) {
            const float *gp = a->gy + ((int64_t)i * G + gi) * co * k->ohw;
            if (a->gb)
                for (int64_t o = 0; o < co; o++) {
                    float s = 0;
#pragma omp simd reduction(+ : s)
                    for (int64_t f = 0; f < k->ohw; f++)
                        s += gp[o * k->ohw + f];
                    a->gb[gi * co + o] += s;
                }
            if (!a->gW)
                continue;
            for (int64_t c = 0; c < ci; c++)
                fill_plane(&g->p, &k->l, &k->ph, a->x + (((int64_t)i * G + gi) * ci + c) * k->hw,
                           buf + c * k->l.area);
            for (int64_t o = 0; o < co; o++)
                flat_gy(&g->p, &k->l, gp + o * k->ohw, gf + o * k->gs);
            for (int64_t o0 = 0; o0 < co; o0 += GR_OB) {
                int no = co - o0 < GR_OB ? (int)(co - o0) : GR_OB;
                for (int64_t q = 0; q < ci * kk; q += 2) {
                    int np = ci * kk - q < 2 ? 1 : 2;
                    const float *xs[2];
                    float s[2 * GR_OB];
                    for (int p = 0; p < np; p++)
                        xs[p] = buf + (q + p) / kk * k->l.area + to[(q + p) % kk];
                    gw_sum(gf + o0 * k->gs, k->gs, xs, nv, s, no, np);
                    for (int o = 0; o < no; o++)
                        for (int p = 0; p < np; p++)
                            a->gW[(gi * co + o0 + o) * ci * kk + q + p] += s[o * 2 + p];
                }
            }
        }
}

void gr_wgrad(const grgeo *g, int n, const float *x, const float *gy, float *gW, float *gb,
              float *ws, int threads)
{
    glay k = glayout(g);
    int64_t ci = g->ci, co = g->co, kk = k.kk, G = g->p.c;
    int T = nthreads(G, (double)n * (double)(G * co * ci * kk * k.ohw), threads);
    grw_job a = { g, &k, n, x, gy, gW, gb, ws };
    par_for(G, T, gr_wgrad_groups, &a);
}
