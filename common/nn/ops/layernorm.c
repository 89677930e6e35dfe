/* Normalisation with statistics of the input itself:
 *   LayerNorm    over the channels at each position (ConvNeXt's LayerNorm
 *                on channels-last data, LayerNorm2d): mean and biased
 *                variance over c of x[c, y, x], then gamma[c], beta[c];
 *   InstanceNorm over each channel's H x W plane (per image), then gamma[c],
 *                beta[c] (ONNX InstanceNormalization, nn.InstanceNorm2d).
 * y = (x - mean) / sqrt(var + eps) * gamma + beta; the backward is the full
 * derivative through the statistics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops.h"

static const op_attr_spec ln_attrs[] = { { "eps", 1, 1 }, { NULL, 0, 0 } };
static const op_weight_spec ln_weights[] = { { "gamma", 1 }, { "beta", 1 }, { NULL, 0 } };

/* Channels a block of the per-position sums. */
#define LN_CB 16
static int64_t ln_blocks(int64_t c) { return (c + LN_CB - 1) / LN_CB; }

static int ln_prepare(node *nd, const int64_t *const *in, op_need *need, char *err, size_t len)
{
    int64_t c = in[0][0], hw = in[0][1] * in[0][2];
    for (int k = 0; k < nd->nw; k++) {
        const tensor *t = nd->w[k];
        if (t->ndim != 1 || t->dims[0] != c) {
            snprintf(err, len, "weight '%s' must have %lld values (one per input channel)",
                     nd->wnames[k], (long long)c);
            return -1;
        }
    }
    if (!(node_get(nd, "eps", 0, 1e-5) >= 0)) {
        snprintf(err, len, "eps must be >= 0");
        return -1;
    }
    memcpy(nd->shape, in[0], sizeof nd->shape);
    /* LayerNorm: per position mean, 1/std and two sums, and two partial
     * sums a block of LN_CB channels (ln_blocks_sum); InstanceNorm: none. Kept
     * for the backward (aux, per image): each position's mean and 1/std,
     * so that it does not compute them again (two passes over x). */
    int ln = !strcmp(nd->op, "LayerNorm");
    need->ws = ln ? (size_t)((4 + 2 * ln_blocks(c)) * hw) : 0;
    need->aux = ln ? 2 * (size_t)hw * sizeof(float) : 0;
    return 0;
}

/* The threads share each image's work by channel, as the layers before
 * and after (a convolution's output channels, an elementwise op's flat
 * split) lie in their caches: split by position, each thread read half of
 * every channel from the other core's cache, and LayerNorm on 2 threads
 * ran slower than on 1 (convnext_tiny's 23: forward 1.5 ms against 0.92,
 * backward 6.0 against 4.8). A sum over the channels at each position is
 * then made of partial sums, one a block of LN_CB channels (each in
 * channel order), added in block order: the same sums whatever the
 * thread count. Part t of T (par_run) does its share of each phase
 * (ln_part). */

/* Part t's share [*a, *b) of n. */
static void ln_share(int64_t n, int t, int T, int64_t *a, int64_t *b)
{
    *a = n * t / T, *b = n * (t + 1) / T;
}

/* ln_blocks_sum's f = 2 for one channel j: p += gh, p2 += gh (x - m) r, gh = gy
 * gamma[j] (restrict: the loop vectorises; it stayed scalar inline). */
static void ln_acc_grad(const float *restrict gy, float ga, const float *restrict xj,
                        const float *restrict m, const float *restrict r, float *restrict p,
                        float *restrict p2, int64_t hw)
{
    for (int64_t k = 0; k < hw; k++) {
        float gh = gy[k] * ga;
        p[k] += gh;
        p2[k] += gh * (xj[k] - m[k]) * r[k];
    }
}

/* dst[k] = (sum over the nb blocks b of P[b * hw + k], in block order) / c
 * for k0 <= k < k1. */
static void ln_reduce(const float *restrict P, int64_t nb, int64_t hw, int64_t c, int64_t k0,
                      int64_t k1, float *restrict dst)
{
    for (int64_t k = k0; k < k1; k++)
        dst[k] = P[k];
    for (int64_t b = 1; b < nb; b++)
        for (int64_t k = k0; k < k1; k++)
            dst[k] += P[b * hw + k];
    for (int64_t k = k0; k < k1; k++)
        dst[k] /= (float)c;
}

/* P[b * hw + k] = sum over block b's channels j of f(j, k), for part t's
 * blocks. f: 0 x, 1 (x - m)^2, 2 gy gamma and (into P2) gy gamma (x - m)
 * r. */
static void ln_blocks_sum(const float *x, const float *gy, const float *ga, int64_t c,
                          int64_t hw, const float *m, const float *r, float *P, float *P2, int f,
                          int t, int T)
{
    int64_t nb = ln_blocks(c), b0, b1;
    ln_share(nb, t, T, &b0, &b1);
    for (int64_t b = b0; b < b1; b++) {
        float *p = P + b * hw, *p2 = f == 2 ? P2 + b * hw : NULL;
        int64_t j1 = (b + 1) * LN_CB < c ? (b + 1) * LN_CB : c;
        for (int64_t k = 0; k < hw; k++)
            p[k] = 0;
        if (f == 2)
            for (int64_t k = 0; k < hw; k++)
                p2[k] = 0;
        for (int64_t j = b * LN_CB; j < j1; j++) {
            const float *xj = x + j * hw;
            if (f == 0)
                for (int64_t k = 0; k < hw; k++)
                    p[k] += xj[k];
            else if (f == 1)
                for (int64_t k = 0; k < hw; k++) {
                    float d = xj[k] - m[k];
                    p[k] += d * d;
                }
            else
                ln_acc_grad(gy + j * hw, ga[j], xj, m, r, p, p2, hw);
        }
    }
}

/* Part t's channels: those of its blocks. */
static void ln_channels(int64_t c, int t, int T, int64_t *j0, int64_t *j1)
{
    int64_t b0, b1;
    ln_share(ln_blocks(c), t, T, &b0, &b1);
    *j0 = b0 * LN_CB, *j1 = b1 * LN_CB < c ? b1 * LN_CB : c;
}

/* One image's LayerNorm, in phases (par_run parts; each phase ends before
 * the next starts). */
enum { LN_SUM0, LN_RED0, LN_SUM1, LN_RED1, LN_Y, LN_SUM2, LN_RED2, LN_DX };

typedef struct ln_job {
    int phase;
    int64_t c, hw;
    double eps;
    const float *x, *g, *ga, *be;
    float *y, *gx, *m, *r, *P, *P2, *s1, *s2;
    const op_io *io;
    int ig, ib;
} ln_job;

/* d/dx at channel j, position k: r (gh - mean_c(gh) - xh mean_c(gh xh)),
 * gh = gy gamma, xh = (x - m) r; the means in s1, s2. */
static inline float ln_dx(const float *x, const float *g, const float *ga, const float *m,
                          const float *r, const float *s1, const float *s2, int64_t hw,
                          int64_t j, int64_t k)
{
    float xh = (x[j * hw + k] - m[k]) * r[k];
    return r[k] * (g[j * hw + k] * ga[j] - s1[k] - xh * s2[k]);
}

static void ln_part(void *ctx, int t, int T)
{
    const ln_job *a = ctx;
    int64_t c = a->c, hw = a->hw, nb = ln_blocks(c), j0, j1, k0, k1;
    const float *x = a->x, *g = a->g, *ga = a->ga, *m = a->m, *r = a->r;
    ln_channels(c, t, T, &j0, &j1);
    ln_share(hw, t, T, &k0, &k1);
    switch (a->phase) {
    case LN_SUM0:
        ln_blocks_sum(x, NULL, NULL, c, hw, NULL, NULL, a->P, NULL, 0, t, T);
        break;
    case LN_RED0:
        ln_reduce(a->P, nb, hw, c, k0, k1, a->m);
        break;
    case LN_SUM1:
        ln_blocks_sum(x, NULL, NULL, c, hw, m, NULL, a->P, NULL, 1, t, T);
        break;
    case LN_RED1:
        ln_reduce(a->P, nb, hw, c, k0, k1, a->r);
        for (int64_t k = k0; k < k1; k++)
            a->r[k] = (float)(1.0 / sqrt((double)a->r[k] + a->eps));
        break;
    case LN_Y:
        for (int64_t j = j0; j < j1; j++)
            for (int64_t k = 0; k < hw; k++)
                a->y[j * hw + k] = (x[j * hw + k] - m[k]) * r[k] * ga[j] + a->be[j];
        break;
    case LN_SUM2: {
        const op_io *io = a->io;
        /* gamma's and beta's gradients: each channel's sums over the
         * positions, a part's channels its own */
        if (io->gw)
            for (int64_t j = j0; j < j1; j++) {
                double sg = 0, sgx = 0;
                for (int64_t k = 0; k < hw; k++) {
                    sg += g[j * hw + k];
                    sgx += (double)g[j * hw + k] * (x[j * hw + k] - m[k]) * r[k];
                }
                io->gw[a->ib][j] += (float)sg;
                io->gw[a->ig][j] += (float)sgx;
            }
        if (a->gx)
            ln_blocks_sum(x, g, ga, c, hw, m, r, a->P, a->P2, 2, t, T);
        break;
    }
    case LN_RED2:
        ln_reduce(a->P, nb, hw, c, k0, k1, a->s1);
        ln_reduce(a->P2, nb, hw, c, k0, k1, a->s2);
        break;
    default:
        /* gx fresh (io->gset): stored, as the sum onto zeros rounds */
        if (a->io->gset & 1)
            for (int64_t j = j0; j < j1; j++)
                for (int64_t k = 0; k < hw; k++)
                    a->gx[j * hw + k] = 0.0f + ln_dx(x, g, ga, m, r, a->s1, a->s2, hw, j, k);
        else
            for (int64_t j = j0; j < j1; j++)
                for (int64_t k = 0; k < hw; k++)
                    a->gx[j * hw + k] += ln_dx(x, g, ga, m, r, a->s1, a->s2, hw, j, k);
    }
}

/* Phases p0..p1 of a->x's image on T parts. */
static void ln_phases(ln_job *a, int p0, int p1, int T)
{
    for (a->phase = p0; a->phase <= p1; a->phase++)
        par_run(T, ln_part, a);
}

static void ln_forward(const node *nd, const op_io *io)
{
    int64_t c = nd->shape[0], hw = nd->shape[1] * nd->shape[2];
    ln_job a = { 0, c, hw, node_get(nd, "eps", 0, 1e-5), NULL, NULL,
                 nd->w[op_weight_index(nd, "gamma")]->data,
                 nd->w[op_weight_index(nd, "beta")]->data, NULL, NULL, NULL, NULL,
                 (float *)io->ws + 4 * hw, NULL, NULL, NULL, io, 0, 0 };
    int T = c * hw > OP_PAR_MIN ? par_threads() : 1;
    for (int i = 0; i < io->n; i++) {
        a.x = io->x[0] + i * c * hw, a.y = io->y + i * c * hw;
        /* the statistics kept for the backward, or (a forward-only
         * engine keeps none) in the workspace */
        a.m = io->aux ? (float *)io->aux + 2 * i * hw : io->ws, a.r = a.m + hw;
        ln_phases(&a, LN_SUM0, LN_Y, T);
    }
}

static void ln_backward(const node *nd, const op_io *io)
{
    int64_t c = nd->shape[0], hw = nd->shape[1] * nd->shape[2];
    int ig = op_weight_index(nd, "gamma"), ib = op_weight_index(nd, "beta");
    float *s1 = (float *)io->ws + 2 * hw, *s2 = s1 + hw, *P = s2 + hw;
    ln_job a = { 0, c, hw, node_get(nd, "eps", 0, 1e-5), NULL, NULL, nd->w[ig]->data, NULL,
                 NULL, NULL, NULL, NULL, P, P + ln_blocks(c) * hw, s1, s2, io, ig, ib };
    int T = c * hw > OP_PAR_MIN ? par_threads() : 1;
    for (int i = 0; i < io->n; i++) {
        a.x = io->x[0] + i * c * hw, a.g = io->gy + i * c * hw;
        a.gx = io->gx[0] ? io->gx[0] + i * c * hw : NULL;
        /* the forward's statistics of x, or (called without them) made
         * again in the workspace */
        a.m = io->aux ? (float *)io->aux + 2 * i * hw : io->ws, a.r = a.m + hw;
        if (!io->aux)
            ln_phases(&a, LN_SUM0, LN_RED1, T);
        ln_phases(&a, LN_SUM2, a.gx ? LN_DX : LN_SUM2, T);
    }
}

const struct op_def op_layernorm = { "LayerNorm", 1, 1, ln_attrs, ln_weights, ln_prepare,
                                     ln_forward, ln_backward };

/* One plane's mean and 1/sqrt(var + eps), in double. */
static void plane_stats(const float *x, int64_t hw, double eps, double *mean, double *rstd)
{
    double s = 0, v = 0;
    for (int64_t k = 0; k < hw; k++)
        s += x[k];
    s /= (double)hw;
    for (int64_t k = 0; k < hw; k++)
        v += (x[k] - s) * (x[k] - s);
    *mean = s;
    *rstd = 1.0 / sqrt(v / (double)hw + eps);
}

/* InstanceNorm's planes q0..q1-1. */
typedef struct in_job {
    const node *nd;
    const op_io *io;
    double eps;
    const float *ga, *be;
    int ig, ib;
} in_job;

static void in_planes(void *ctx, int64_t q0, int64_t q1, int t)
{
    const in_job *a = ctx;
    const op_io *io = a->io;
    int64_t c = a->nd->shape[0], hw = a->nd->shape[1] * a->nd->shape[2];
    (void)t;
    for (int64_t q = q0; q < q1; q++) {
        const float *x = io->x[0] + q * hw;
        float *y = io->y + q * hw;
        double mu, rs;
        plane_stats(x, hw, a->eps, &mu, &rs);
        float sa = (float)(rs * a->ga[q % c]), sb = (float)(a->be[q % c] - mu * rs * a->ga[q % c]);
        for (int64_t k = 0; k < hw; k++)
            y[k] = x[k] * sa + sb;
    }
}

static void in_grad_planes(void *ctx, int64_t q0, int64_t q1, int t)
{
    const in_job *a = ctx;
    const op_io *io = a->io;
    int64_t c = a->nd->shape[0], hw = a->nd->shape[1] * a->nd->shape[2];
    (void)t;
    for (int64_t q = q0; q < q1; q++) {
        const float *x = io->x[0] + q * hw, *g = io->gy + q * hw;
        double mu, rs, sg = 0, sgx = 0;
        plane_stats(x, hw, a->eps, &mu, &rs);
        for (int64_t k = 0; k < hw; k++) {
            sg += g[k];
            sgx += g[k] * (x[k] - mu) * rs;
        }
        if (io->gw) {
            io->gw[a->ib][q % c] += (float)sg;
            io->gw[a->ig][q % c] += (float)sgx;
        }
        if (io->gx[0]) {
            float *gx = io->gx[0] + q * hw;
            double gam = a->ga[q % c], m1 = sg / (double)hw, m2 = sgx / (double)hw;
            for (int64_t k = 0; k < hw; k++)
                gx[k] += (float)(rs * gam * (g[k] - m1 - (x[k] - mu) * rs * m2));
        }
    }
}

static void in_forward(const node *nd, const op_io *io)
{
    int64_t hw = nd->shape[1] * nd->shape[2], planes = (int64_t)io->n * nd->shape[0];
    in_job a = { nd, io, node_get(nd, "eps", 0, 1e-5),
                 nd->w[op_weight_index(nd, "gamma")]->data,
                 nd->w[op_weight_index(nd, "beta")]->data, 0, 0 };
    op_par_for(planes, planes * hw, in_planes, &a);
}

static void in_backward(const node *nd, const op_io *io)
{
    int64_t hw = nd->shape[1] * nd->shape[2], planes = (int64_t)io->n * nd->shape[0];
    int ig = op_weight_index(nd, "gamma"), ib = op_weight_index(nd, "beta");
    in_job a = { nd, io, node_get(nd, "eps", 0, 1e-5), nd->w[ig]->data, NULL, ig, ib };
    /* one part when weight gradients are summed across images */
    op_par_for(planes, io->gw ? 0 : planes * hw, in_grad_planes, &a);
}

const struct op_def op_instancenorm = { "InstanceNorm", 1, 1, ln_attrs, ln_weights, ln_prepare,
                                        in_forward, in_backward };
