/* Pooling: MaxPool (argmax switches kept for backward, used under every
 * ReLU rule), AvgPool, GlobalAvgPool. Window geometry and ceil_mode follow
 * PyTorch, with ONNX's asymmetric pads (top, left, bottom, right). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops.h"
#include "nn/ops/simd.h"
#if defined(__AVX2__)
#include <immintrin.h>
#endif

typedef struct pool_p {
    int64_t c, h, w, oh, ow, kh, kw, sh, sw, pt, pl, pb, pr;
    int64_t dh, dw;              /* MaxPool dilation */
    int include_pad;
} pool_p;

static const op_attr_spec pool_attrs[] = {
    { "kernel", 1, 2 }, { "stride", 1, 2 }, { "pad", 1, 4 }, { "ceil_mode", 1, 1 },
    { "count_include_pad", 1, 1 }, { NULL, 0, 0 }
};
static const op_attr_spec maxpool_attrs[] = {
    { "kernel", 1, 2 }, { "stride", 1, 2 }, { "pad", 1, 4 }, { "ceil_mode", 1, 1 },
    { "dilation", 1, 2 }, { NULL, 0, 0 }
};
static const op_weight_spec no_weights[] = { { NULL, 0 } };

/* PyTorch's pooling_output_shape with separate leading/trailing pads. */
static int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p0, int64_t p1, int ceil_mode)
{
    int64_t span = in + p0 + p1 - k;
    int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + p0)
        o--;
    return o;
}

static int pool_prepare(node *nd, const int64_t *const *in, op_need *need, char *err, size_t len)
{
    pool_p p;
    if (!node_has(nd, "kernel")) {
        snprintf(err, len, "needs a 'kernel' attribute (kh, kw)");
        return -1;
    }
    p.c = in[0][0], p.h = in[0][1], p.w = in[0][2];
    p.kh = op_attr_int(nd, "kernel", 0, 1), p.kw = op_attr_int(nd, "kernel", 1, 1);
    p.sh = op_attr_int(nd, "stride", 0, p.kh), p.sw = op_attr_int(nd, "stride", 1, p.kw);
    if (node_getn(nd, "stride") <= 0)
        p.sh = p.kh, p.sw = p.kw;
    int64_t pad[4];
    op_pads(nd, pad);
    p.pt = pad[0], p.pl = pad[1], p.pb = pad[2], p.pr = pad[3];
    p.include_pad = node_get(nd, "count_include_pad", 0, 0) != 0;
    int ceil_mode = node_get(nd, "ceil_mode", 0, 0) != 0;
    if (p.kh < 1 || p.kw < 1 || p.sh < 1 || p.sw < 1) {
        snprintf(err, len, "kernel and stride must be >= 1");
        return -1;
    }
    p.dh = op_attr_int(nd, "dilation", 0, 1), p.dw = op_attr_int(nd, "dilation", 1, 1);
    if (p.dh < 1 || p.dw < 1) {
        snprintf(err, len, "dilation must be >= 1");
        return -1;
    }
    /* the window's extent: a dilated kernel spans dh (kh - 1) + 1 rows */
    int64_t eh = p.dh * (p.kh - 1) + 1, ew = p.dw * (p.kw - 1) + 1;
    if (p.pt < 0 || p.pl < 0 || p.pb < 0 || p.pr < 0 || p.pt >= eh || p.pb >= eh ||
        p.pl >= ew || p.pr >= ew) {
        snprintf(err, len, "pads must be >= 0 and smaller than the kernel %lldx%lld",
                 (long long)eh, (long long)ew);
        return -1;
    }
    if (p.h + p.pt + p.pb < eh || p.w + p.pl + p.pr < ew) {
        snprintf(err, len, "kernel %lldx%lld is larger than the padded input %lldx%lld",
                 (long long)eh, (long long)ew, (long long)(p.h + p.pt + p.pb),
                 (long long)(p.w + p.pl + p.pr));
        return -1;
    }
    p.oh = pool_out(p.h, eh, p.sh, p.pt, p.pb, ceil_mode);
    p.ow = pool_out(p.w, ew, p.sw, p.pl, p.pr, ceil_mode);
    nd->shape[0] = p.c, nd->shape[1] = p.oh, nd->shape[2] = p.ow;
    need->ws = 0;
    need->aux = !strcmp(nd->op, "MaxPool") ? (size_t)(p.c * p.oh * p.ow) * sizeof(int32_t) : 0;
    return op_keep(nd, &p, sizeof p, err, len);
}

/* A 2x2, stride-2 pool whose windows lie inside the plane. */
static int pool_2x2(const pool_p *p)
{
    return p->kh == 2 && p->kw == 2 && p->sh == 2 && p->sw == 2 && p->pt == 0 && p->pl == 0 &&
           2 * p->oh <= p->h && 2 * p->ow <= p->w;
}

#if defined(__AVX512F__)

/* Output row oy of a 2x2, stride-2, unpadded max-pool whose windows all lie
 * inside the plane, 16 outputs at a time: the even and odd columns of the
 * two input rows by one permutation each, then the scalar loop's rules
 * (the first maximum in scan order; the first NaN when there is one). */
static void max2x2_row(const float *x, int64_t w, int64_t oy, int64_t ow, float *y, int32_t *s)
{
    const __m512i ev = idx_even(), od = idx_odd();
    const float *r0 = x + 2 * oy * w, *r1 = r0 + w;
    for (int64_t ox = 0; ox < ow; ox += 16) {
        int64_t left = 2 * (ow - ox);
        __mmask16 m0 = mask16(left), m1 = mask16(left - 16), mo = mask16(ow - ox);
        __m512 t0 = _mm512_maskz_loadu_ps(m0, r0 + 2 * ox), t1 = _mm512_maskz_loadu_ps(m1, r0 + 2 * ox + 16);
        __m512 u0 = _mm512_maskz_loadu_ps(m0, r1 + 2 * ox), u1 = _mm512_maskz_loadu_ps(m1, r1 + 2 * ox + 16);
        __m512 v[4] = { _mm512_permutex2var_ps(t0, ev, t1), _mm512_permutex2var_ps(t0, od, t1),
                        _mm512_permutex2var_ps(u0, ev, u1), _mm512_permutex2var_ps(u0, od, u1) };
        /* Window x's first element: 2 oy w + 2 ox + 2 x. */
        __m512i base = _mm512_add_epi32(_mm512_set1_epi32((int32_t)(2 * oy * w + 2 * ox)), ev);
        const int32_t off[4] = { 0, 1, (int32_t)w, (int32_t)w + 1 };
        __m512 m = _mm512_set1_ps(-INFINITY);
        __m512i arg = base;
        for (int k = 0; k < 4; k++) {
            __mmask16 gt = _mm512_cmp_ps_mask(v[k], m, _CMP_GT_OQ);
            m = _mm512_mask_mov_ps(m, gt, v[k]);
            arg = _mm512_mask_add_epi32(arg, gt, base, _mm512_set1_epi32(off[k]));
        }
        for (int k = 3; k >= 0; k--) {
            __mmask16 nan = _mm512_cmp_ps_mask(v[k], v[k], _CMP_UNORD_Q);
            m = _mm512_mask_mov_ps(m, nan, v[k]);
            arg = _mm512_mask_add_epi32(arg, nan, base, _mm512_set1_epi32(off[k]));
        }
        _mm512_mask_storeu_ps(y + oy * ow + ox, mo, m);
        if (s)
            _mm512_mask_storeu_epi32(s + oy * ow + ox, mo, arg);
    }
}
#endif

/* One plane of a dilated max-pool: taps (oy sh - pt + i dh, ox sw - pl +
 * j dw) inside the plane; the first maximum in scan order, NaN first. A
 * window of padding only gives -inf and no switch (-1). */
static void maxpool_dilated(const pool_p *p, const float *x, float *y, int32_t *s)
{
    for (int64_t oy = 0; oy < p->oh; oy++)
        for (int64_t ox = 0; ox < p->ow; ox++) {
            float m = -INFINITY;
            int64_t arg = -1;
            for (int64_t i = 0; i < p->kh; i++) {
                int64_t iy = oy * p->sh - p->pt + i * p->dh;
                if (iy < 0 || iy >= p->h)
                    continue;
                for (int64_t j = 0; j < p->kw; j++) {
                    int64_t ix = ox * p->sw - p->pl + j * p->dw;
                    if (ix < 0 || ix >= p->w)
                        continue;
                    float v = x[iy * p->w + ix];
                    if (arg < 0 || v > m || (v != v && m == m)) {
                        m = v;
                        arg = iy * p->w + ix;
                    }
                }
            }
            y[oy * p->ow + ox] = m;
            if (s)
                s[oy * p->ow + ox] = (int32_t)arg;
        }
}

/* One output row oy of a max-pool without dilation, by the definition:
 * the first maximum in scan order, as PyTorch, found without branches
 * (random data mispredicts them), then the first NaN instead when the
 * window has one. The windows hold at least one element of the plane
 * (pads are smaller than the kernel, ceil_mode's last window starts
 * inside), whose first is the switch when all are -inf. */
static void maxpool_row(const pool_p *p, const float *x, int64_t oy, float *y, int32_t *s)
{
    int64_t y0 = oy * p->sh - p->pt, y1 = y0 + p->kh;
    if (y0 < 0) y0 = 0;
    if (y1 > p->h) y1 = p->h;
    for (int64_t ox = 0; ox < p->ow; ox++) {
        int64_t x0 = ox * p->sw - p->pl, x1 = x0 + p->kw;
        if (x0 < 0) x0 = 0;
        if (x1 > p->w) x1 = p->w;
        float m = -INFINITY;
        int64_t arg = y0 * p->w + x0;
        int nan = 0;
        for (int64_t iy = y0; iy < y1; iy++)
            for (int64_t ix = x0; ix < x1; ix++) {
                float v = x[iy * p->w + ix];
                int gt = v > m;
                m = gt ? v : m;
                arg = gt ? iy * p->w + ix : arg;
                nan |= v != v;
            }
        for (int64_t iy = y0; nan && iy < y1; iy++)
            for (int64_t ix = x0; ix < x1; ix++)
                if (isnan(x[iy * p->w + ix])) {
                    m = x[iy * p->w + ix];
                    arg = iy * p->w + ix;
                    goto done;
                }
    done:
        y[oy * p->ow + ox] = m;
        if (s)
            s[oy * p->ow + ox] = (int32_t)arg;
    }
}

#if defined(__AVX2__)

/* A max-pool without dilation, 8 outputs of a row at a time. Each input
 * row is split once into its sw column phases (phase e, entry k: column
 * k sw + e), with -inf where a window reaches past the plane, so that tap
 * (i, j) of 8 neighbouring outputs is one contiguous load: column
 * ox sw - pl + j = (ox + q) sw + e for j - pl = q sw + e. The phases of
 * the kh input rows a window spans stay in a ring (row iy in slot iy mod
 * kh). The taps go in scan order with a strict >, and the switches start
 * at each window's first element of the plane, so the padding's -inf
 * never wins and the results are maxpool_row's; an output row whose input
 * rows hold a NaN is left to maxpool_row. */
typedef struct mp_ring {
    int64_t lq;       /* floats of one phase of one row */
    int64_t lead;     /* entries before k = 0: ceil(pl / sw) */
    float *buf;       /* kh slots of sw phases of lq floats */
    int *nan;         /* per slot: the row holds a NaN */
    int64_t *off;     /* tap j's entry in a slot relative to lane 0's k = ox */
} mp_ring;

static void mp_ring_free(mp_ring *r)
{
    free(r->buf);
    free(r->nan);
    free(r->off);
    r->buf = NULL, r->nan = NULL, r->off = NULL;
}

/* Entries k0 <= k < k1 of phase e of a row of w columns: column k sw + e,
 * or -inf past the plane. Whether one is a NaN. */
static int mp_fill_cols(const float *row, int64_t w, int64_t sw, int64_t e, int64_t k0,
                        int64_t k1, float *d)
{
    int nan = 0;
    for (int64_t k = k0; k < k1; k++) {
        int64_t ix = k * sw + e;
        float v = ix >= 0 && ix < w ? row[ix] : -INFINITY;
        nan |= v != v;
        d[k] = v;
    }
    return nan;
}

/* The first n of the 8 floats at a (none for n <= 0), -inf in the others. */
static inline __m256 mp_load(const float *a, int64_t n)
{
    if (n >= 8)
        return _mm256_loadu_ps(a);
    __m256 ninf = _mm256_set1_ps(-INFINITY);
    if (n <= 0)
        return ninf;
    __m256i m = mask8(n);
    return _mm256_blendv_ps(ninf, _mm256_maskload_ps(a, m), _mm256_castsi256_ps(m));
}

/* Input row iy into slot: its phases and whether it holds a NaN.
 * Entries k < 0 lie left of the plane (k sw + e < 0 for e < sw). */
static void mp_fill(const pool_p *p, const mp_ring *r, const float *x, int64_t iy, int64_t slot)
{
    int64_t S = p->sw, lq = r->lq, lead = r->lead, w = p->w;
    float *ph = r->buf + slot * S * lq;
    const float *row = x + iy * w;
    if (S > 2) {
        int nan = 0;
        for (int64_t e = 0; e < S; e++)
            nan |= mp_fill_cols(row, w, S, e, -lead, lq - lead, ph + e * lq + lead);
        r->nan[slot] = nan;
        return;
    }
    for (int64_t e = 0; e < S; e++)
        for (int64_t t = 0; t < lead; t++)
            ph[e * lq + t] = -INFINITY;
    __m256 nan = _mm256_setzero_ps();
    if (S == 1) {
        for (int64_t k = 0; lead + k < lq; k += 8) {
            __m256 v = mp_load(row + k, w - k);
            nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
            _mm256_storeu_ps(ph + lead + k, v);
        }
    } else {
        for (int64_t k = 0; lead + k < lq; k += 8) {
            __m256 a = mp_load(row + 2 * k, w - 2 * k), b = mp_load(row + 2 * k + 8, w - 2 * k - 8);
            nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, b, _CMP_UNORD_Q));   /* either */
            /* a0 a2 b0 b2 | a4 a6 b4 b6, then the middle 64-bit pairs swapped */
            __m256 ev = _mm256_shuffle_ps(a, b, 0x88), od = _mm256_shuffle_ps(a, b, 0xdd);
            ev = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), 0xd8));
            od = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), 0xd8));
            _mm256_storeu_ps(ph + lead + k, ev);
            _mm256_storeu_ps(ph + lq + lead + k, od);
        }
    }
    r->nan[slot] = !_mm256_testz_ps(nan, nan);
}

/* Output row oy from the phases of its window's input rows y0 .. y1 - 1
 * (rows[0] ..); the switches too when s is not NULL (want: s != NULL,
 * a constant where inlined). */
static inline __attribute__((always_inline)) void
mp_row_(const pool_p *p, const mp_ring *r, int64_t oy, int64_t y0, int64_t y1,
        const float *const *rows, float *y, int32_t *s, const int want)
{
    int64_t w = p->w;
    const __m256i laneS = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                             _mm256_set1_epi32((int32_t)p->sw));
    for (int64_t ox0 = 0; ox0 < p->ow; ox0 += 8) {
        /* lane l's window starts at column (ox0 + l) sw - pl */
        __m256i col = _mm256_add_epi32(laneS, _mm256_set1_epi32((int32_t)(ox0 * p->sw - p->pl)));
        __m256i arg = _mm256_add_epi32(_mm256_max_epi32(col, _mm256_setzero_si256()),
                                       _mm256_set1_epi32((int32_t)(y0 * w)));
        __m256 m = _mm256_set1_ps(-INFINITY);
        for (int64_t iy = y0; iy < y1; iy++) {
            const float *ph = rows[iy - y0] + ox0;
            __m256i at = _mm256_add_epi32(col, _mm256_set1_epi32((int32_t)(iy * w)));
            for (int64_t j = 0; j < p->kw; j++) {
                __m256 v = _mm256_loadu_ps(ph + r->off[j]);
                if (want) {
                    __m256 gt = _mm256_cmp_ps(v, m, _CMP_GT_OQ);
                    __m256i idx = _mm256_add_epi32(at, _mm256_set1_epi32((int32_t)j));
                    arg = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(arg),
                                                               _mm256_castsi256_ps(idx), gt));
                }
                m = _mm256_max_ps(v, m);   /* v > m ? v : m */
            }
        }
        int64_t left = p->ow - ox0;
        if (left >= 8) {
            _mm256_storeu_ps(y + oy * p->ow + ox0, m);
            if (want)
                _mm256_storeu_si256((__m256i *)(s + oy * p->ow + ox0), arg);
        } else {
            __m256i mask = mask8(left);
            _mm256_maskstore_ps(y + oy * p->ow + ox0, mask, m);
            if (want)
                _mm256_maskstore_epi32(s + oy * p->ow + ox0, mask, arg);
        }
    }
}

/* A forward-only engine keeps no switches (s NULL): the maxima alone,
 * a quarter of the work per tap (resnet50's 3x3 stride-2 max-pool). */
static void mp_row(const pool_p *p, const mp_ring *r, int64_t oy, int64_t y0, int64_t y1,
                   const float *const *rows, float *y, int32_t *s)
{
    if (s)
        mp_row_(p, r, oy, y0, y1, rows, y, s, 1);
    else
        mp_row_(p, r, oy, y0, y1, rows, y, NULL, 0);
}

/* One plane through the ring. Rows are filled in order, each once (the
 * windows' last rows never go back), so slots follow without a division. */
static void mp_plane(const pool_p *p, const mp_ring *r, const float *x, float *y, int32_t *s)
{
    int64_t kh = p->kh, next = 0, nslot = 0;   /* the next input row to fill, its slot */
    const float *rows[kh];
    for (int64_t oy = 0; oy < p->oh; oy++) {
        int64_t y0 = oy * p->sh - p->pt, y1 = y0 + kh;
        if (y0 < 0) y0 = 0;
        if (y1 > p->h) y1 = p->h;
        if (next < y0)
            next = y0, nslot = y0 % kh;
        for (; next < y1; next++) {
            mp_fill(p, r, x, next, nslot);
            nslot = nslot + 1 == kh ? 0 : nslot + 1;
        }
        int64_t sl = nslot - (y1 - y0);   /* row y0's slot */
        sl = sl < 0 ? sl + kh : sl;
        int nan = 0;
        for (int64_t i = 0; i < y1 - y0; i++) {
            rows[i] = r->buf + (sl * p->sw) * r->lq + r->lead;
            nan |= r->nan[sl];
            sl = sl + 1 == kh ? 0 : sl + 1;
        }
        if (nan)
            maxpool_row(p, x, oy, y, s);
        else
            mp_row(p, r, oy, y0, y1, rows, y, s);
    }
}

/* The ring for p's planes, with its taps' offsets; buf NULL when out of
 * memory (the scalar loop then does the work). */
static mp_ring mp_ring_new(const pool_p *p)
{
    mp_ring r = { 0, 0, NULL, NULL, NULL };
    int64_t S = p->sw, ow8 = (p->ow + 7) / 8 * 8;
    r.lead = (p->pl + S - 1) / S;
    /* the last tap of the last lane: ow8 - 1 + floor((kw - 1 - pl) / sw) */
    int64_t k1 = ow8 + (p->kw - 1 - p->pl) / S;
    r.lq = r.lead + (k1 + 7) / 8 * 8;   /* mp_fill stores 8 at a time */
    r.buf = malloc((size_t)(p->kh * S * r.lq) * sizeof *r.buf);
    r.nan = malloc((size_t)p->kh * sizeof *r.nan);
    r.off = malloc((size_t)p->kw * sizeof *r.off);
    if (!r.buf || !r.nan || !r.off) {
        mp_ring_free(&r);
        return r;
    }
    for (int64_t j = 0; j < p->kw; j++) {
        int64_t d = j - p->pl, e = ((d % S) + S) % S;
        r.off[j] = e * r.lq + (d - e) / S;
    }
    return r;
}
#endif

/* A pool op's planes q0..q1-1 (forward or input gradient). */
typedef struct pool_job {
    const node *nd;
    const op_io *io;
} pool_job;

static void maxpool_planes(void *ctx, int64_t q0, int64_t q1, int t)
{
    const pool_job *a = ctx;
    const pool_p *p = a->nd->priv;
    const op_io *io = a->io;
    int64_t hw = p->h * p->w, ohw = p->oh * p->ow;
    int32_t *sw = io->aux;
    (void)t;
#if defined(__AVX512F__)
    int fast = pool_2x2(p) && p->dh == 1 && p->dw == 1;
#endif
#if defined(__AVX2__)
    mp_ring r = { 0, 0, NULL, NULL, NULL };
    if (p->dh == 1 && p->dw == 1)
        r = mp_ring_new(p);
#endif
    for (int64_t q = q0; q < q1; q++) {
        const float *x = io->x[0] + q * hw;
        float *y = io->y + q * ohw;
        int32_t *s = sw ? sw + q * ohw : NULL;   /* NULL: forward only */
#if defined(__AVX512F__)
        if (fast) {
            for (int64_t oy = 0; oy < p->oh; oy++)
                max2x2_row(x, p->w, oy, p->ow, y, s);
            continue;
        }
#endif
        if (p->dh > 1 || p->dw > 1) {
            maxpool_dilated(p, x, y, s);
            continue;
        }
#if defined(__AVX2__)
        if (r.buf) {
            mp_plane(p, &r, x, y, s);
            continue;
        }
#endif
        for (int64_t oy = 0; oy < p->oh; oy++)
            maxpool_row(p, x, oy, y, s);
    }
#if defined(__AVX2__)
    mp_ring_free(&r);
#endif
}

/* A pool's planes on the pool's threads past OP_PAR_MIN / 4 outputs. */
static void pool_planes(const node *nd, const op_io *io, int64_t work, par_range_fn *fn)
{
    const pool_p *p = nd->priv;
    pool_job a = { nd, io };
    op_par_for((int64_t)io->n * p->c, work * 4, fn, &a);
}

static void maxpool_forward(const node *nd, const op_io *io)
{
    const pool_p *p = nd->priv;
    pool_planes(nd, io, (int64_t)io->n * p->c * p->oh * p->ow, maxpool_planes);
}

static void maxpool_grad_planes(void *ctx, int64_t q0, int64_t q1, int t)
{
    const pool_job *a = ctx;
    const pool_p *p = a->nd->priv;
    const op_io *io = a->io;
    int64_t hw = p->h * p->w, ohw = p->oh * p->ow;
    const int32_t *sw = io->aux;
    (void)t;
    for (int64_t q = q0; q < q1; q++) {
        float *gx = io->gx[0] + q * hw;
        const float *g = io->gy + q * ohw;
        const int32_t *s = sw + q * ohw;
        if (io->gset & 1)   /* gx fresh: each plane zeroed while in cache */
            memset(gx, 0, (size_t)hw * sizeof *gx);
        for (int64_t k = 0; k < ohw; k++)
            if (s[k] >= 0)
                gx[s[k]] += g[k];
    }
}

static void maxpool_backward(const node *nd, const op_io *io)
{
    const pool_p *p = nd->priv;
    if (io->gx[0])
        pool_planes(nd, io, (int64_t)io->n * p->c * p->oh * p->ow, maxpool_grad_planes);
}

const struct op_def op_maxpool = { "MaxPool", 1, 1, maxpool_attrs, no_weights, pool_prepare,
                                   maxpool_forward, maxpool_backward };

/* Window of output (oy, ox) clipped to the image, and its divisor. */
static inline float avg_window(const pool_p *p, int64_t oy, int64_t ox, int64_t *y0, int64_t *y1,
                               int64_t *x0, int64_t *x1)
{
    int64_t a = oy * p->sh - p->pt, b = ox * p->sw - p->pl;
    int64_t ae = a + p->kh, be = b + p->kw;
    /* PyTorch: the padded extent counts only up to the trailing pad. */
    int64_t pae = ae < p->h + p->pb ? ae : p->h + p->pb;
    int64_t pbe = be < p->w + p->pr ? be : p->w + p->pr;
    int64_t full = (pae - a) * (pbe - b);
    *y0 = a < 0 ? 0 : a, *y1 = ae > p->h ? p->h : ae;
    *x0 = b < 0 ? 0 : b, *x1 = be > p->w ? p->w : be;
    int64_t cnt = p->include_pad ? full : (*y1 - *y0) * (*x1 - *x0);
    return cnt > 0 ? 1.0f / (float)cnt : 0.0f;
}

/* Output row oy of a 2x2, stride-2 average pool whose windows lie inside
 * the plane (DenseNet's transitions), 8 or 16 at a time: the sum in the
 * scalar loop's order, ((0 + x00) + x01) + x10) + x11, times 1/4, so the
 * same bits. */
static void avg2x2_row(const float *x, int64_t w, int64_t oy, int64_t ow, float *y)
{
    const float *r0 = x + 2 * oy * w, *r1 = r0 + w;
    float *yo = y + oy * ow;
    int64_t ox = 0;
#if defined(__AVX512F__)
    const __m512i ev = idx_even(), od = idx_odd();
    for (; ox + 16 <= ow; ox += 16) {
        __m512 a0 = _mm512_loadu_ps(r0 + 2 * ox), a1 = _mm512_loadu_ps(r0 + 2 * ox + 16);
        __m512 b0 = _mm512_loadu_ps(r1 + 2 * ox), b1 = _mm512_loadu_ps(r1 + 2 * ox + 16);
        __m512 s = _mm512_add_ps(_mm512_setzero_ps(), _mm512_permutex2var_ps(a0, ev, a1));
        s = _mm512_add_ps(s, _mm512_permutex2var_ps(a0, od, a1));
        s = _mm512_add_ps(s, _mm512_permutex2var_ps(b0, ev, b1));
        s = _mm512_add_ps(s, _mm512_permutex2var_ps(b0, od, b1));
        _mm512_storeu_ps(yo + ox, _mm512_mul_ps(s, _mm512_set1_ps(0.25f)));
    }
#elif defined(__AVX2__)
    for (; ox + 8 <= ow; ox += 8) {
        __m256 v[4];
        for (int r = 0; r < 2; r++) {
            const float *src = (r ? r1 : r0) + 2 * ox;
            __m256 a = _mm256_loadu_ps(src), b = _mm256_loadu_ps(src + 8);
            __m256 e = _mm256_shuffle_ps(a, b, 0x88), o = _mm256_shuffle_ps(a, b, 0xdd);
            v[2 * r] = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xd8));
            v[2 * r + 1] = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xd8));
        }
        __m256 s = _mm256_add_ps(_mm256_setzero_ps(), v[0]);
        s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s, v[1]), v[2]), v[3]);
        _mm256_storeu_ps(yo + ox, _mm256_mul_ps(s, _mm256_set1_ps(0.25f)));
    }
#endif
    for (; ox < ow; ox++) {
        float s = 0;
        s += r0[2 * ox];
        s += r0[2 * ox + 1];
        s += r1[2 * ox];
        s += r1[2 * ox + 1];
        yo[ox] = s * 0.25f;
    }
}

static void avgpool_planes(void *ctx, int64_t q0, int64_t q1, int t)
{
    const pool_job *a = ctx;
    const pool_p *p = a->nd->priv;
    const op_io *io = a->io;
    int64_t hw = p->h * p->w, ohw = p->oh * p->ow;
    int two = pool_2x2(p);
    (void)t;
    for (int64_t q = q0; q < q1; q++) {
        const float *x = io->x[0] + q * hw;
        float *y = io->y + q * ohw;
        for (int64_t oy = 0; two && oy < p->oh; oy++)
            avg2x2_row(x, p->w, oy, p->ow, y);
        for (int64_t oy = 0; !two && oy < p->oh; oy++)
            for (int64_t ox = 0; ox < p->ow; ox++) {
                int64_t y0, y1, x0, x1;
                float inv = avg_window(p, oy, ox, &y0, &y1, &x0, &x1);
                float s = 0;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        s += x[iy * p->w + ix];
                y[oy * p->ow + ox] = s * inv;
            }
    }
}

static void avgpool_forward(const node *nd, const op_io *io)
{
    const pool_p *p = nd->priv;
    pool_planes(nd, io, (int64_t)io->n * p->c * p->oh * p->ow, avgpool_planes);
}

/* avg2x2_row's backward: each of the window's four gradients += g / 4
 * (g times 1/4, as the scalar loop; the windows do not overlap). */
static void avg2x2_back_row(const float *g, int64_t w, int64_t oy, int64_t ow, float *gx)
{
    float *r0 = gx + 2 * oy * w, *r1 = r0 + w;
    const float *go = g + oy * ow;
    int64_t ox = 0;
#if defined(__AVX512F__)
    const __m512i lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i hi = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    for (; ox + 16 <= ow; ox += 16) {
        __m512 v = _mm512_mul_ps(_mm512_loadu_ps(go + ox), _mm512_set1_ps(0.25f));
        __m512 a = _mm512_permutexvar_ps(lo, v), b = _mm512_permutexvar_ps(hi, v);
        for (int r = 0; r < 2; r++) {
            float *d = (r ? r1 : r0) + 2 * ox;
            _mm512_storeu_ps(d, _mm512_add_ps(_mm512_loadu_ps(d), a));
            _mm512_storeu_ps(d + 16, _mm512_add_ps(_mm512_loadu_ps(d + 16), b));
        }
    }
#elif defined(__AVX2__)
    for (; ox + 8 <= ow; ox += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(go + ox), _mm256_set1_ps(0.25f));
        __m256 ul = _mm256_unpacklo_ps(v, v), uh = _mm256_unpackhi_ps(v, v);
        __m256 a = _mm256_permute2f128_ps(ul, uh, 0x20), b = _mm256_permute2f128_ps(ul, uh, 0x31);
        for (int r = 0; r < 2; r++) {
            float *d = (r ? r1 : r0) + 2 * ox;
            _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), a));
            _mm256_storeu_ps(d + 8, _mm256_add_ps(_mm256_loadu_ps(d + 8), b));
        }
    }
#endif
    for (; ox < ow; ox++) {
        float v = go[ox] * 0.25f;
        r0[2 * ox] += v;
        r0[2 * ox + 1] += v;
        r1[2 * ox] += v;
        r1[2 * ox + 1] += v;
    }
}

static void avgpool_grad_planes(void *ctx, int64_t q0, int64_t q1, int t)
{
    const pool_job *a = ctx;
    const pool_p *p = a->nd->priv;
    const op_io *io = a->io;
    int64_t hw = p->h * p->w, ohw = p->oh * p->ow;
    int two = pool_2x2(p);
    (void)t;
    for (int64_t q = q0; q < q1; q++) {
        float *gx = io->gx[0] + q * hw;
        const float *g = io->gy + q * ohw;
        if (io->gset & 1)   /* gx fresh: each plane zeroed while in cache */
            memset(gx, 0, (size_t)hw * sizeof *gx);
        for (int64_t oy = 0; two && oy < p->oh; oy++)
            avg2x2_back_row(g, p->w, oy, p->ow, gx);
        for (int64_t oy = 0; !two && oy < p->oh; oy++)
            for (int64_t ox = 0; ox < p->ow; ox++) {
                int64_t y0, y1, x0, x1;
                float v = g[oy * p->ow + ox] * avg_window(p, oy, ox, &y0, &y1, &x0, &x1);
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        gx[iy * p->w + ix] += v;
            }
    }
}

static void avgpool_backward(const node *nd, const op_io *io)
{
    const pool_p *p = nd->priv;
    if (io->gx[0])
        pool_planes(nd, io, (int64_t)io->n * p->c * p->oh * p->ow, avgpool_grad_planes);
}

const struct op_def op_avgpool = { "AvgPool", 1, 1, pool_attrs, no_weights, pool_prepare,
                                   avgpool_forward, avgpool_backward };

static const op_attr_spec no_attrs[] = { { NULL, 0, 0 } };

static int gap_prepare(node *nd, const int64_t *const *in, op_need *need, char *err, size_t len)
{
    (void)err;
    (void)len;
    nd->shape[0] = in[0][0], nd->shape[1] = 1, nd->shape[2] = 1;
    need->ws = 0, need->aux = 0;
    /* The input plane size, kept for forward/backward. */
    int64_t *hw = malloc(sizeof *hw);
    if (!hw) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    *hw = in[0][1] * in[0][2];
    nd->priv = hw;
    return 0;
}

/* Each plane's mean is its sum in position order, in double. The sum of
 * one plane is a chain of dependent additions (a few cycles each), so
 * GAP_PLANES planes are summed side by side, each still in its own order
 * (the same value as alone): resnet50's 7x7 planes of Ablation-CAM's
 * copies went 3x faster. */
#define GAP_PLANES 8

/* Blocks b0..b1-1 of GAP_PLANES planes (pool_job). */
static void gap_blocks(void *ctx, int64_t b0, int64_t b1, int t)
{
    const pool_job *a = ctx;
    const op_io *io = a->io;
    int64_t hw = *(const int64_t *)a->nd->priv, planes = (int64_t)io->n * a->nd->shape[0];
    (void)t;
    for (int64_t b = b0; b < b1; b++) {
        int64_t q0 = b * GAP_PLANES;
        if (planes - q0 < GAP_PLANES) {
            for (int64_t q = q0; q < planes; q++) {
                const float *x = io->x[0] + q * hw;
                double s = 0;
                for (int64_t k = 0; k < hw; k++)
                    s += x[k];
                io->y[q] = (float)(s / (double)hw);
            }
            continue;
        }
        const float *x = io->x[0] + q0 * hw;
        double s[GAP_PLANES] = { 0 };
        for (int64_t k = 0; k < hw; k++)
            for (int j = 0; j < GAP_PLANES; j++)
                s[j] += x[j * hw + k];
        for (int j = 0; j < GAP_PLANES; j++)
            io->y[q0 + j] = (float)(s[j] / (double)hw);
    }
}

static void gap_forward(const node *nd, const op_io *io)
{
    int64_t hw = *(const int64_t *)nd->priv, planes = (int64_t)io->n * nd->shape[0];
    pool_job a = { nd, io };
    op_par_for((planes + GAP_PLANES - 1) / GAP_PLANES, planes * hw, gap_blocks, &a);
}

static void gap_grad_planes(void *ctx, int64_t q0, int64_t q1, int t)
{
    const pool_job *a = ctx;
    const op_io *io = a->io;
    int64_t hw = *(const int64_t *)a->nd->priv;
    (void)t;
    for (int64_t q = q0; q < q1; q++) {
        float *gx = io->gx[0] + q * hw, v = io->gy[q] / (float)hw;
        if (io->gset & 1)   /* gx fresh: stored, as the sum onto zeros rounds */
            for (int64_t k = 0; k < hw; k++)
                gx[k] = v + 0.0f;
        else
            for (int64_t k = 0; k < hw; k++)
                gx[k] += v;
    }
}

static void gap_backward(const node *nd, const op_io *io)
{
    int64_t hw = *(const int64_t *)nd->priv, planes = (int64_t)io->n * nd->shape[0];
    pool_job a = { nd, io };
    if (io->gx[0])
        op_par_for(planes, planes * hw, gap_grad_planes, &a);
}

const struct op_def op_globalavgpool = { "GlobalAvgPool", 1, 1, no_attrs, no_weights, gap_prepare,
                                         gap_forward, gap_backward };
