/* Normalisation: LRN across channels (PyTorch semantics) and BatchNorm in
 * inference form (running statistics). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops.h"

static const op_weight_spec no_weights[] = { { NULL, 0 } };

/* LRN: y_c = x_c / (k + alpha/size * sum_{j in W(c)} x_j^2)^beta with
 * W(c) = c - size/2 .. c + (size-1)/2 clipped to the channels (PyTorch's
 * window; ONNX puts the extra channel of an even size after, not before). */
typedef struct lrn_p {
    int64_t c, hw, size;
    float alpha, beta, k;
} lrn_p;

static const op_attr_spec lrn_attrs[] = {
    { "size", 1, 1 }, { "alpha", 1, 1 }, { "beta", 1, 1 }, { "k", 1, 1 }, { NULL, 0, 0 }
};

static int lrn_prepare(node *nd, const int64_t *const *in, op_need *need, char *err, size_t len)
{
    lrn_p p;
    if (!node_has(nd, "size")) {
        snprintf(err, len, "needs a 'size' attribute (channels in the window)");
        return -1;
    }
    p.c = in[0][0], p.hw = in[0][1] * in[0][2];
    p.size = op_attr_int(nd, "size", 0, 5);
    p.alpha = (float)node_get(nd, "alpha", 0, 1e-4);
    p.beta = (float)node_get(nd, "beta", 0, 0.75);
    p.k = (float)node_get(nd, "k", 0, 1.0);
    if (p.size < 1 || !(p.k > 0) || !(p.alpha >= 0)) {
        snprintf(err, len, "size must be >= 1, k > 0 and alpha >= 0");
        return -1;
    }
    memcpy(nd->shape, in[0], sizeof nd->shape);
    need->ws = (size_t)(p.c * p.hw);
    need->aux = 0;
    return op_keep(nd, &p, sizeof p, err, len);
}

/* s (c x hw) = k + alpha/size * windowed sum of squares of x. */
static void lrn_scale(const lrn_p *p, const float *x, float *s)
{
    int64_t before = p->size / 2, after = (p->size - 1) / 2;
    float a = p->alpha / (float)p->size;
    for (int64_t c = 0; c < p->c; c++) {
        float *sc = s + c * p->hw;
        for (int64_t k = 0; k < p->hw; k++)
            sc[k] = 0;
        int64_t j0 = c - before < 0 ? 0 : c - before;
        int64_t j1 = c + after >= p->c ? p->c - 1 : c + after;
        for (int64_t j = j0; j <= j1; j++) {
            const float *xj = x + j * p->hw;
            for (int64_t k = 0; k < p->hw; k++)
                sc[k] += xj[k] * xj[k];
        }
        for (int64_t k = 0; k < p->hw; k++)
            sc[k] = p->k + a * sc[k];
    }
}

static void lrn_forward(const node *nd, const op_io *io)
{
    const lrn_p *p = nd->priv;
    int64_t chw = p->c * p->hw;
    for (int i = 0; i < io->n; i++) {
        const float *x = io->x[0] + i * chw;
        float *y = io->y + i * chw;
        lrn_scale(p, x, io->ws);
        for (int64_t k = 0; k < chw; k++)
            y[k] = x[k] * powf(io->ws[k], -p->beta);
    }
}

/* gx_i = g_i s_i^-beta - 2 alpha beta / size * x_i * sum_{c: i in W(c)}
 * g_c x_c s_c^(-beta-1); i in W(c) iff c in i - after .. i + before. */
static void lrn_backward(const node *nd, const op_io *io)
{
    const lrn_p *p = nd->priv;
    int64_t chw = p->c * p->hw, before = p->size / 2, after = (p->size - 1) / 2;
    float f = 2.0f * p->alpha * p->beta / (float)p->size;
    if (!io->gx[0])
        return;
    for (int i = 0; i < io->n; i++) {
        const float *x = io->x[0] + i * chw, *g = io->gy + i * chw;
        float *gx = io->gx[0] + i * chw, *s = io->ws;
        lrn_scale(p, x, s);
        /* s becomes t_c = g_c x_c s_c^(-beta-1); gx gets the direct term. */
        for (int64_t k = 0; k < chw; k++) {
            float sb = powf(s[k], -p->beta);
            gx[k] += g[k] * sb;
            s[k] = g[k] * x[k] * sb / s[k];
        }
        for (int64_t c = 0; c < p->c; c++) {
            int64_t j0 = c - after < 0 ? 0 : c - after;
            int64_t j1 = c + before >= p->c ? p->c - 1 : c + before;
            const float *xc = x + c * p->hw;
            float *gc = gx + c * p->hw;
            for (int64_t j = j0; j <= j1; j++) {
                const float *tj = s + j * p->hw;
                for (int64_t k = 0; k < p->hw; k++)
                    gc[k] -= f * xc[k] * tj[k];
            }
        }
    }
}

const struct op_def op_lrn = { "LRN", 1, 1, lrn_attrs, no_weights, lrn_prepare, lrn_forward,
                               lrn_backward };

/* BatchNorm (inference): y = gamma (x - mean) / sqrt(var + eps) + beta per
 * channel. mean and var are frozen statistics: their gradient stays zero,
 * so a trainer that steps every weight leaves them alone. */
typedef struct bn_p {
    int64_t c, hw;
    int ig, ib, im, iv;
} bn_p;

static const op_attr_spec bn_attrs[] = { { "eps", 1, 1 }, { NULL, 0, 0 } };
static const op_weight_spec bn_weights[] = {
    { "gamma", 1 }, { "beta", 1 }, { "mean", 1 }, { "var", 1 }, { NULL, 0 }
};

static int bn_prepare(node *nd, const int64_t *const *in, op_need *need, char *err, size_t len)
{
    bn_p p;
    p.c = in[0][0], p.hw = in[0][1] * in[0][2];
    p.ig = op_weight_index(nd, "gamma"), p.ib = op_weight_index(nd, "beta");
    p.im = op_weight_index(nd, "mean"), p.iv = op_weight_index(nd, "var");
    int idx[4] = { p.ig, p.ib, p.im, p.iv };
    for (int k = 0; k < 4; k++) {
        const tensor *t = nd->w[idx[k]];
        if (t->ndim != 1 || t->dims[0] != p.c) {
            snprintf(err, len, "weight '%s' must have %lld values (one per input channel)",
                     nd->wnames[idx[k]], (long long)p.c);
            return -1;
        }
    }
    double eps = node_get(nd, "eps", 0, 1e-5);
    const float *var = nd->w[p.iv]->data;
    for (int64_t c = 0; c < p.c; c++)
        if (!(var[c] + eps > 0)) {
            snprintf(err, len, "var[%lld] + eps = %g is not positive", (long long)c,
                     (double)var[c] + eps);
            return -1;
        }
    memcpy(nd->shape, in[0], sizeof nd->shape);
    need->ws = 2 * (size_t)p.c;   /* scale and shift */
    need->aux = 0;
    return op_keep(nd, &p, sizeof p, err, len);
}

/* gamma / sqrt(var + eps) into s: weights may change between calls
 * (training), so it is not cached in prepare. */
static void bn_scale(const node *nd, const bn_p *p, float *s)
{
    double eps = node_get(nd, "eps", 0, 1e-5);
    const float *g = nd->w[p->ig]->data, *v = nd->w[p->iv]->data;
    for (int64_t c = 0; c < p->c; c++)
        s[c] = (float)(g[c] / sqrt((double)v[c] + eps));
}

void op_batchnorm_affine(const node *nd, float *scale, float *shift)
{
    const bn_p *p = nd->priv;
    const float *b = nd->w[p->ib]->data, *m = nd->w[p->im]->data;
    bn_scale(nd, p, scale);
    for (int64_t c = 0; c < p->c; c++)
        shift[c] = b[c] - m[c] * scale[c];
}

/* Planes q0..q1-1 of the forward (s, t: scale and shift per channel) or
 * of the input gradient (s). */
typedef struct bn_run {
    const bn_p *p;
    const op_io *io;
    const float *s, *t;
} bn_run;

static void bn_planes(void *ctx, int64_t q0, int64_t q1, int part)
{
    const bn_run *r = ctx;
    const op_io *io = r->io;
    int64_t hw = r->p->hw;
    (void)part;
    for (int64_t q = q0; q < q1; q++) {
        int64_t c = q % r->p->c;
        act_affine(io->y + q * hw, io->x[0] + q * hw, hw, r->s[c], r->t[c], io->act);
    }
}

static void bn_grad_planes(void *ctx, int64_t q0, int64_t q1, int part)
{
    const bn_run *r = ctx;
    const op_io *io = r->io;
    int64_t hw = r->p->hw;
    (void)part;
    for (int64_t q = q0; q < q1; q++) {
        float *gx = io->gx[0] + q * hw, sc = r->s[q % r->p->c];
        const float *g = io->gy + q * hw;
        if (io->gset & 1)   /* gx fresh: stored, as the sum onto zeros rounds */
            for (int64_t k = 0; k < hw; k++)
                gx[k] = 0.0f + g[k] * sc;
        else
            for (int64_t k = 0; k < hw; k++)
                gx[k] += g[k] * sc;
    }
}

static void bn_forward(const node *nd, const op_io *io)
{
    const bn_p *p = nd->priv;
    float *s = io->ws, *t = io->ws + p->c;
    op_batchnorm_affine(nd, s, t);
    int64_t planes = (int64_t)io->n * p->c;
    bn_run r = { p, io, s, t };
    op_par_for(planes, planes * p->hw, bn_planes, &r);
}

static void bn_backward(const node *nd, const op_io *io)
{
    const bn_p *p = nd->priv;
    float *s = io->ws;
    bn_scale(nd, p, s);
    int64_t planes = (int64_t)io->n * p->c;
    if (io->gx[0]) {
        bn_run r = { p, io, s, NULL };
        op_par_for(planes, planes * p->hw, bn_grad_planes, &r);
    }
    if (io->gw) {
        const float *m = nd->w[p->im]->data, *v = nd->w[p->iv]->data;
        double eps = node_get(nd, "eps", 0, 1e-5);
        for (int64_t q = 0; q < planes; q++) {
            int64_t c = q % p->c;
            const float *x = io->x[0] + q * p->hw, *g = io->gy + q * p->hw;
            double sg = 0, sgx = 0;
            for (int64_t k = 0; k < p->hw; k++) {
                sg += g[k];
                sgx += (double)g[k] * (x[k] - m[c]);
            }
            io->gw[p->ib][c] += (float)sg;
            io->gw[p->ig][c] += (float)(sgx / sqrt((double)v[c] + eps));
        }
    }
}

const struct op_def op_batchnorm = { "BatchNorm", 1, 1, bn_attrs, bn_weights, bn_prepare,
                                     bn_forward, bn_backward };
