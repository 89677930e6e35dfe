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
    /* LayerNorm: per position mean, 1/std and two sums; InstanceNorm: none */
    need->ws = strcmp(nd->op, "LayerNorm") ? 0 : (size_t)(4 * hw);
    need->aux = 0;
    return 0;
}

/* mean (m) and 1/sqrt(var + eps) (r) at each of the hw positions of image x. */
static void ln_stats(const float *x, int64_t c, int64_t hw, double eps, float *m, float *r)
{
    for (int64_t k = 0; k < hw; k++)
        m[k] = 0, r[k] = 0;
    for (int64_t j = 0; j < c; j++)
        for (int64_t k = 0; k < hw; k++)
            m[k] += x[j * hw + k];
    for (int64_t k = 0; k < hw; k++)
        m[k] /= (float)c;
    for (int64_t j = 0; j < c; j++)
        for (int64_t k = 0; k < hw; k++) {
            float d = x[j * hw + k] - m[k];
            r[k] += d * d;
        }
    for (int64_t k = 0; k < hw; k++)
        r[k] = (float)(1.0 / sqrt((double)r[k] / (double)c + eps));
}

static void ln_forward(const node *nd, const op_io *io)
{
    int64_t c = nd->shape[0], hw = nd->shape[1] * nd->shape[2];
    double eps = node_get(nd, "eps", 0, 1e-5);
    const float *ga = nd->w[op_weight_index(nd, "gamma")]->data;
    const float *be = nd->w[op_weight_index(nd, "beta")]->data;
    float *m = io->ws, *r = m + hw;
    for (int i = 0; i < io->n; i++) {
        const float *x = io->x[0] + i * c * hw;
        float *y = io->y + i * c * hw;
        ln_stats(x, c, hw, eps, m, r);
#pragma omp parallel for if (c * hw > OP_PAR_MIN) schedule(static)
        for (int64_t j = 0; j < c; j++)
            for (int64_t k = 0; k < hw; k++)
                y[j * hw + k] = (x[j * hw + k] - m[k]) * r[k] * ga[j] + be[j];
    }
}

/* gx = r (gh - mean_c(gh) - xh mean_c(gh xh)), gh = gy gamma, xh = (x - m) r. */
static void ln_backward(const node *nd, const op_io *io)
{
    int64_t c = nd->shape[0], hw = nd->shape[1] * nd->shape[2];
    double eps = node_get(nd, "eps", 0, 1e-5);
    int ig = op_weight_index(nd, "gamma"), ib = op_weight_index(nd, "beta");
    const float *ga = nd->w[ig]->data;
    float *m = io->ws, *r = m + hw, *s1 = r + hw, *s2 = s1 + hw;
    for (int i = 0; i < io->n; i++) {
        const float *x = io->x[0] + i * c * hw, *g = io->gy + i * c * hw;
        ln_stats(x, c, hw, eps, m, r);
        if (io->gw)
            for (int64_t j = 0; j < c; j++) {
                double sg = 0, sgx = 0;
                for (int64_t k = 0; k < hw; k++) {
                    sg += g[j * hw + k];
                    sgx += (double)g[j * hw + k] * (x[j * hw + k] - m[k]) * r[k];
                }
                io->gw[ib][j] += (float)sg;
                io->gw[ig][j] += (float)sgx;
            }
        if (!io->gx[0])
            continue;
        float *gx = io->gx[0] + i * c * hw;
        for (int64_t k = 0; k < hw; k++)
            s1[k] = 0, s2[k] = 0;
        for (int64_t j = 0; j < c; j++)
            for (int64_t k = 0; k < hw; k++) {
                float gh = g[j * hw + k] * ga[j];
                s1[k] += gh;
                s2[k] += gh * (x[j * hw + k] - m[k]) * r[k];
            }
        for (int64_t k = 0; k < hw; k++)
            s1[k] /= (float)c, s2[k] /= (float)c;
#pragma omp parallel for if (c * hw > OP_PAR_MIN) schedule(static)
        for (int64_t j = 0; j < c; j++)
            for (int64_t k = 0; k < hw; k++) {
                float xh = (x[j * hw + k] - m[k]) * r[k];
                gx[j * hw + k] += r[k] * (g[j * hw + k] * ga[j] - s1[k] - xh * s2[k]);
            }
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

static void in_forward(const node *nd, const op_io *io)
{
    int64_t c = nd->shape[0], hw = nd->shape[1] * nd->shape[2], planes = (int64_t)io->n * c;
    double eps = node_get(nd, "eps", 0, 1e-5);
    const float *ga = nd->w[op_weight_index(nd, "gamma")]->data;
    const float *be = nd->w[op_weight_index(nd, "beta")]->data;
#pragma omp parallel for if (planes * hw > OP_PAR_MIN) schedule(static)
    for (int64_t q = 0; q < planes; q++) {
        const float *x = io->x[0] + q * hw;
        float *y = io->y + q * hw;
        double mu, rs;
        plane_stats(x, hw, eps, &mu, &rs);
        float a = (float)(rs * ga[q % c]), b = (float)(be[q % c] - mu * rs * ga[q % c]);
        for (int64_t k = 0; k < hw; k++)
            y[k] = x[k] * a + b;
    }
}

static void in_backward(const node *nd, const op_io *io)
{
    int64_t c = nd->shape[0], hw = nd->shape[1] * nd->shape[2], planes = (int64_t)io->n * c;
    double eps = node_get(nd, "eps", 0, 1e-5);
    int ig = op_weight_index(nd, "gamma"), ib = op_weight_index(nd, "beta");
    const float *ga = nd->w[ig]->data;
    /* serial over planes when weight gradients are summed across images */
#pragma omp parallel for if (!io->gw && planes * hw > OP_PAR_MIN) schedule(static)
    for (int64_t q = 0; q < planes; q++) {
        const float *x = io->x[0] + q * hw, *g = io->gy + q * hw;
        double mu, rs, sg = 0, sgx = 0;
        plane_stats(x, hw, eps, &mu, &rs);
        for (int64_t k = 0; k < hw; k++) {
            sg += g[k];
            sgx += g[k] * (x[k] - mu) * rs;
        }
        if (io->gw) {
            io->gw[ib][q % c] += (float)sg;
            io->gw[ig][q % c] += (float)sgx;
        }
        if (io->gx[0]) {
            float *gx = io->gx[0] + q * hw;
            double gam = ga[q % c], m1 = sg / (double)hw, m2 = sgx / (double)hw;
            for (int64_t k = 0; k < hw; k++)
                gx[k] += (float)(rs * gam * (g[k] - m1 - (x[k] - mu) * rs * m2));
        }
    }
}

const struct op_def op_instancenorm = { "InstanceNorm", 1, 1, ln_attrs, ln_weights, ln_prepare,
                                        in_forward, in_backward };
