/* Pooling: MaxPool (argmax switches kept for backward, used under every
 * ReLU rule), AvgPool, GlobalAvgPool. Window geometry and ceil_mode follow
 * PyTorch, with ONNX's asymmetric pads (top, left, bottom, right). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops.h"
#include "nn/ops/simd.h"

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
            s[oy * p->ow + ox] = (int32_t)arg;
        }
}

static void maxpool_forward(const node *nd, const op_io *io)
{
    const pool_p *p = nd->priv;
    int64_t planes = (int64_t)io->n * p->c, hw = p->h * p->w, ohw = p->oh * p->ow;
    int32_t *sw = io->aux;
#if defined(__AVX512F__)
    int fast = p->kh == 2 && p->kw == 2 && p->sh == 2 && p->sw == 2 && p->pt == 0 && p->pl == 0 &&
               p->dh == 1 && p->dw == 1 &&
               2 * p->oh <= p->h && 2 * p->ow <= p->w;
#endif
#pragma omp parallel for if (planes * ohw > OP_PAR_MIN / 4) schedule(static)
    for (int64_t q = 0; q < planes; q++) {
        const float *x = io->x[0] + q * hw;
        float *y = io->y + q * ohw;
        int32_t *s = sw + q * ohw;
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
        for (int64_t oy = 0; oy < p->oh; oy++) {
            int64_t y0 = oy * p->sh - p->pt, y1 = y0 + p->kh;
            if (y0 < 0) y0 = 0;
            if (y1 > p->h) y1 = p->h;
            for (int64_t ox = 0; ox < p->ow; ox++) {
                int64_t x0 = ox * p->sw - p->pl, x1 = x0 + p->kw;
                if (x0 < 0) x0 = 0;
                if (x1 > p->w) x1 = p->w;
                /* The first maximum in scan order, as PyTorch: without
                 * branches (random data mispredicts them), then the first
                 * NaN instead when there is one. */
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
                s[oy * p->ow + ox] = (int32_t)arg;
            }
        }
    }
}

static void maxpool_backward(const node *nd, const op_io *io)
{
    const pool_p *p = nd->priv;
    int64_t planes = (int64_t)io->n * p->c, hw = p->h * p->w, ohw = p->oh * p->ow;
    const int32_t *sw = io->aux;
    if (!io->gx[0])
        return;
#pragma omp parallel for if (planes * ohw > OP_PAR_MIN / 4) schedule(static)
    for (int64_t q = 0; q < planes; q++) {
        float *gx = io->gx[0] + q * hw;
        const float *g = io->gy + q * ohw;
        const int32_t *s = sw + q * ohw;
        for (int64_t k = 0; k < ohw; k++)
            if (s[k] >= 0)
                gx[s[k]] += g[k];
    }
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

static void avgpool_forward(const node *nd, const op_io *io)
{
    const pool_p *p = nd->priv;
    int64_t planes = (int64_t)io->n * p->c, hw = p->h * p->w, ohw = p->oh * p->ow;
#pragma omp parallel for if (planes * ohw > OP_PAR_MIN / 4) schedule(static)
    for (int64_t q = 0; q < planes; q++) {
        const float *x = io->x[0] + q * hw;
        float *y = io->y + q * ohw;
        for (int64_t oy = 0; oy < p->oh; oy++)
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

static void avgpool_backward(const node *nd, const op_io *io)
{
    const pool_p *p = nd->priv;
    int64_t planes = (int64_t)io->n * p->c, hw = p->h * p->w, ohw = p->oh * p->ow;
    if (!io->gx[0])
        return;
#pragma omp parallel for if (planes * ohw > OP_PAR_MIN / 4) schedule(static)
    for (int64_t q = 0; q < planes; q++) {
        float *gx = io->gx[0] + q * hw;
        const float *g = io->gy + q * ohw;
        for (int64_t oy = 0; oy < p->oh; oy++)
            for (int64_t ox = 0; ox < p->ow; ox++) {
                int64_t y0, y1, x0, x1;
                float v = g[oy * p->ow + ox] * avg_window(p, oy, ox, &y0, &y1, &x0, &x1);
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        gx[iy * p->w + ix] += v;
            }
    }
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

static void gap_forward(const node *nd, const op_io *io)
{
    int64_t hw = *(const int64_t *)nd->priv, planes = (int64_t)io->n * nd->shape[0];
    int64_t blocks = (planes + GAP_PLANES - 1) / GAP_PLANES;
#pragma omp parallel for if (planes * hw > OP_PAR_MIN) schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
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

static void gap_backward(const node *nd, const op_io *io)
{
    int64_t hw = *(const int64_t *)nd->priv, planes = (int64_t)io->n * nd->shape[0];
    if (!io->gx[0])
        return;
#pragma omp parallel for if (planes * hw > OP_PAR_MIN) schedule(static)
    for (int64_t q = 0; q < planes; q++) {
        float *gx = io->gx[0] + q * hw, v = io->gy[q] / (float)hw;
        for (int64_t k = 0; k < hw; k++)
            gx[k] += v;
    }
}

const struct op_def op_globalavgpool = { "GlobalAvgPool", 1, 1, no_attrs, no_weights, gap_prepare,
                                         gap_forward, gap_backward };
