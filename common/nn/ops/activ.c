/* Elementwise ops: ReLU, LeakyReLU, Clip (the ReLU family, which honour the
 * backward rule), Sigmoid, Tanh, Dropout; and Softmax and LogSoftmax over
 * channels. The newer rectifiers are in ops/nonlin.c.
 *
 * The ReLU family under the three rules, with f' the true local derivative
 * (ReLU: x > 0; LeakyReLU: 1 or alpha; Clip: min < x < max):
 *   standard   g * f'(x)
 *   guided     g * f'(x) where g > 0, else 0  (ReLU: pass where x > 0 and
 *              g > 0; Clip: also x < max; LeakyReLU keeps alpha * g for
 *              x <= 0 and g > 0)
 *   deconvnet  g where g > 0, else 0, whatever x was (the backward signal
 *              goes through a plain ReLU, Zeiler & Fergus)
 * Boundaries follow PyTorch: ReLU passes where x > 0 (0 at x == 0), Clip is
 * hardtanh (0 at x == min and x == max). NaN goes through every one of them
 * as NaN (PyTorch's relu, leaky_relu and clamp keep it), and a NaN input
 * passes the gradient as PyTorch's threshold_backward does (not x <= 0). */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops.h"
#include "nn/ops/vmath.h"

static const op_attr_spec no_attrs[] = { { NULL, 0, 0 } };
static const op_weight_spec no_weights[] = { { NULL, 0 } };

static int64_t numel(const node *nd, int n)
{
    return (int64_t)n * nd->shape[0] * nd->shape[1] * nd->shape[2];
}

/* An elementwise forward's items i0..i1-1 (op_par_for): y from x, with
 * parameters a and b. */
typedef struct unary {
    const float *x;
    float *y;
    float a, b;
} unary;

static void relu_range(void *ctx, int64_t i0, int64_t i1, int t)
{
    const unary *u = ctx;
    const float *x = u->x;
    float *y = u->y;
    (void)t;
    for (int64_t i = i0; i < i1; i++)
        y[i] = x[i] > 0 || x[i] != x[i] ? x[i] : 0.0f;   /* NaN stays NaN, as in PyTorch */
}

static void relu_forward(const node *nd, const op_io *io)
{
    unary u = { io->x[0], io->y, 0, 0 };
    int64_t n = numel(nd, io->n);
    op_par_for(n, n, relu_range, &u);
}

OP_RULE_FNS(relu, x[i] <= 0 ? 0.0f : 1.0f, )

static void relu_backward(const node *nd, const op_io *io)
{
    op_grad_job j = { io->x[0], NULL, io->gy, io->gx[0], 0, 0 };
    if (j.gx)
        relu_rule_grad(io->rule, io->gset & 1, numel(nd, io->n), &j);
}

const struct op_def op_relu = { "ReLU", 1, 1, no_attrs, no_weights, op_same_prepare, relu_forward,
                                relu_backward };

static const op_attr_spec leaky_attrs[] = { { "alpha", 1, 1 }, { NULL, 0, 0 } };

static void leaky_range(void *ctx, int64_t i0, int64_t i1, int t)
{
    const unary *u = ctx;
    const float *x = u->x;
    float *y = u->y, a = u->a;
    (void)t;
    for (int64_t i = i0; i < i1; i++)
        y[i] = x[i] > 0 ? x[i] : a * x[i];
}

static void leaky_forward(const node *nd, const op_io *io)
{
    unary u = { io->x[0], io->y, (float)node_get(nd, "alpha", 0, 0.01), 0 };
    int64_t n = numel(nd, io->n);
    op_par_for(n, n, leaky_range, &u);
}

OP_RULE_FNS(leaky, x[i] > 0 ? 1.0f : a, )

static void leaky_backward(const node *nd, const op_io *io)
{
    op_grad_job j = { io->x[0], NULL, io->gy, io->gx[0], (float)node_get(nd, "alpha", 0, 0.01),
                      0 };
    if (j.gx)
        leaky_rule_grad(io->rule, io->gset & 1, numel(nd, io->n), &j);
}

const struct op_def op_leakyrelu = { "LeakyReLU", 1, 1, leaky_attrs, no_weights, op_same_prepare,
                                     leaky_forward, leaky_backward };

static const op_attr_spec clip_attrs[] = { { "min", 1, 1 }, { "max", 1, 1 }, { NULL, 0, 0 } };

static int clip_prepare(node *nd, const int64_t *const *in, op_need *need, char *err, size_t len)
{
    double lo = node_get(nd, "min", 0, -INFINITY), hi = node_get(nd, "max", 0, INFINITY);
    if (!(lo <= hi)) {
        snprintf(err, len, "min %g is greater than max %g", lo, hi);
        return -1;
    }
    return op_same_prepare(nd, in, need, err, len);
}

static void clip_range(void *ctx, int64_t i0, int64_t i1, int t)
{
    const unary *u = ctx;
    const float *x = u->x;
    float *y = u->y, lo = u->a, hi = u->b;
    (void)t;
    for (int64_t i = i0; i < i1; i++)
        y[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
}

static void clip_forward(const node *nd, const op_io *io)
{
    unary u = { io->x[0], io->y, (float)node_get(nd, "min", 0, -INFINITY),
                (float)node_get(nd, "max", 0, INFINITY) };
    int64_t n = numel(nd, io->n);
    op_par_for(n, n, clip_range, &u);
}

/* | not ||: both compares, no branch (a NaN input passes, as before);
 * a, b: min, max */
OP_RULE_FNS(clip, (x[i] <= a) | (x[i] >= b) ? 0.0f : 1.0f, )

static void clip_backward(const node *nd, const op_io *io)
{
    op_grad_job j = { io->x[0], NULL, io->gy, io->gx[0],
                      (float)node_get(nd, "min", 0, -INFINITY),
                      (float)node_get(nd, "max", 0, INFINITY) };
    if (j.gx)
        clip_rule_grad(io->rule, io->gset & 1, numel(nd, io->n), &j);
}

const struct op_def op_clip = { "Clip", 1, 1, clip_attrs, no_weights, clip_prepare, clip_forward,
                                clip_backward };

static void sigmoid_range(void *ctx, int64_t i0, int64_t i1, int t)
{
    const unary *u = ctx;
    const float *x = u->x;
    float *y = u->y;
    (void)t;
    for (int64_t i = i0; i < i1; i++)
        y[i] = vsigmf(x[i]);
}

static void sigmoid_forward(const node *nd, const op_io *io)
{
    unary u = { io->x[0], io->y, 0, 0 };
    int64_t n = numel(nd, io->n);
    op_par_for(n, n, sigmoid_range, &u);
}

/* The true gradient under every rule, rounded (g y)(1 - y). */
OP_RULE_FN(sigmoid_set, = 0.0f +, g[i] * y[i] * (1.0f - y[i]), )
OP_RULE_FN(sigmoid_add, +=, g[i] * y[i] * (1.0f - y[i]), )

static void sigmoid_backward(const node *nd, const op_io *io)
{
    op_grad_job j = { NULL, io->y, io->gy, io->gx[0], 0, 0 };
    int64_t n = numel(nd, io->n);
    if (j.gx)
        op_par_for(n, n, io->gset & 1 ? sigmoid_set : sigmoid_add, &j);
}

const struct op_def op_sigmoid = { "Sigmoid", 1, 1, no_attrs, no_weights, op_same_prepare,
                                   sigmoid_forward, sigmoid_backward };

static void tanh_range(void *ctx, int64_t i0, int64_t i1, int t)
{
    const unary *u = ctx;
    const float *x = u->x;
    float *y = u->y;
    (void)t;
    for (int64_t i = i0; i < i1; i++)
        y[i] = vtanhf(x[i]);
}

static void tanh_forward(const node *nd, const op_io *io)
{
    unary u = { io->x[0], io->y, 0, 0 };
    int64_t n = numel(nd, io->n);
    op_par_for(n, n, tanh_range, &u);
}

OP_RULE_FN(tanh_set, = 0.0f +, g[i] * (1.0f - y[i] * y[i]), )
OP_RULE_FN(tanh_add, +=, g[i] * (1.0f - y[i] * y[i]), )

static void tanh_backward(const node *nd, const op_io *io)
{
    op_grad_job j = { NULL, io->y, io->gy, io->gx[0], 0, 0 };
    int64_t n = numel(nd, io->n);
    if (j.gx)
        op_par_for(n, n, io->gset & 1 ? tanh_set : tanh_add, &j);
}

const struct op_def op_tanh = { "Tanh", 1, 1, no_attrs, no_weights, op_same_prepare, tanh_forward,
                                tanh_backward };

/* Dropout: identity at inference; in training a kept-element mask (one byte
 * per element, in aux) with inverted scaling 1/(1-ratio), as PyTorch. */
static const op_attr_spec dropout_attrs[] = { { "ratio", 1, 1 }, { NULL, 0, 0 } };

static int dropout_prepare(node *nd, const int64_t *const *in, op_need *need, char *err, size_t len)
{
    double r = node_get(nd, "ratio", 0, 0.5);
    if (!(r >= 0 && r < 1)) {
        snprintf(err, len, "ratio %g must lie in [0, 1)", r);
        return -1;
    }
    op_same_prepare(nd, in, need, err, len);
    need->aux = (size_t)(in[0][0] * in[0][1] * in[0][2]);
    return 0;
}

static void dropout_forward(const node *nd, const op_io *io)
{
    int64_t n = numel(nd, io->n);
    const float *x = io->x[0];
    if (!io->training || !io->rng) {
        memcpy(io->y, x, (size_t)n * sizeof(float));
        return;
    }
    double r = node_get(nd, "ratio", 0, 0.5);
    float scale = (float)(1.0 / (1.0 - r));
    unsigned char *mask = io->aux;
    /* Serial: the mask must not depend on the thread count (--seed). */
    for (int64_t i = 0; i < n; i++) {
        mask[i] = rng_uniform(io->rng) >= r;
        io->y[i] = mask[i] ? x[i] * scale : 0.0f;
    }
}

static void dropout_backward(const node *nd, const op_io *io)
{
    int64_t n = numel(nd, io->n);
    float *gx = io->gx[0];
    if (!gx)
        return;
    if (!io->training || !io->rng) {
        for (int64_t i = 0; i < n; i++)
            gx[i] += io->gy[i];
        return;
    }
    float scale = (float)(1.0 / (1.0 - node_get(nd, "ratio", 0, 0.5)));
    const unsigned char *mask = io->aux;
    for (int64_t i = 0; i < n; i++)
        gx[i] += mask[i] ? io->gy[i] * scale : 0.0f;
}

const struct op_def op_dropout = { "Dropout", 1, 1, dropout_attrs, no_weights, dropout_prepare,
                                   dropout_forward, dropout_backward };

/* Softmax and LogSoftmax over the channel axis at every position (a D x 1
 * x 1 vector: over its D features). Subtracting the maximum keeps expf
 * finite. LogSoftmax is x - m - log sum e^(x - m); its backward
 * gx = g - e^y sum g. Both pass the true gradient under every rule. */
/* Positions q0..q1-1 (image, pixel) of softmax_run or softmax_back. */
typedef struct sm_job {
    const node *nd;
    const op_io *io;
    int log_out;
} sm_job;

static void softmax_range(void *ctx, int64_t q0, int64_t q1, int t)
{
    const sm_job *sj = ctx;
    const op_io *io = sj->io;
    int64_t c = sj->nd->shape[0], hw = sj->nd->shape[1] * sj->nd->shape[2];
    (void)t;
    for (int64_t q = q0; q < q1; q++) {
        int64_t i = q / hw, k = q % hw;
        const float *x = io->x[0] + i * c * hw + k;
        float *y = io->y + i * c * hw + k;
        float m = x[0];
        for (int64_t j = 1; j < c; j++)
            m = x[j * hw] > m ? x[j * hw] : m;
        double s = 0;
        if (sj->log_out) {
            for (int64_t j = 0; j < c; j++)
                s += expf(x[j * hw] - m);
            float lse = m + (float)log(s);
            for (int64_t j = 0; j < c; j++)
                y[j * hw] = x[j * hw] - lse;
            continue;
        }
        for (int64_t j = 0; j < c; j++)
            s += y[j * hw] = expf(x[j * hw] - m);
        float inv = (float)(1.0 / s);
        for (int64_t j = 0; j < c; j++)
            y[j * hw] *= inv;
    }
}

static void softmax_run(const node *nd, const op_io *io, int log_out)
{
    int64_t c = nd->shape[0], hw = nd->shape[1] * nd->shape[2], np = (int64_t)io->n * hw;
    sm_job sj = { nd, io, log_out };
    op_par_for(np, np * c, softmax_range, &sj);
}

static void softmax_back_range(void *ctx, int64_t q0, int64_t q1, int t)
{
    const sm_job *sj = ctx;
    const op_io *io = sj->io;
    int64_t c = sj->nd->shape[0], hw = sj->nd->shape[1] * sj->nd->shape[2];
    (void)t;
    for (int64_t q = q0; q < q1; q++) {
        int64_t i = q / hw, k = q % hw, o = i * c * hw + k;
        const float *y = io->y + o, *g = io->gy + o;
        float *gx = io->gx[0] + o;
        double dot = 0;
        if (sj->log_out) {
            for (int64_t j = 0; j < c; j++)
                dot += g[j * hw];
            for (int64_t j = 0; j < c; j++)
                gx[j * hw] += g[j * hw] - expf(y[j * hw]) * (float)dot;
            continue;
        }
        for (int64_t j = 0; j < c; j++)
            dot += (double)g[j * hw] * y[j * hw];
        for (int64_t j = 0; j < c; j++)
            gx[j * hw] += y[j * hw] * (g[j * hw] - (float)dot);
    }
}

static void softmax_back(const node *nd, const op_io *io, int log_out)
{
    int64_t c = nd->shape[0], hw = nd->shape[1] * nd->shape[2], np = (int64_t)io->n * hw;
    sm_job sj = { nd, io, log_out };
    if (io->gx[0])
        op_par_for(np, np * c, softmax_back_range, &sj);
}

static void softmax_forward(const node *nd, const op_io *io) { softmax_run(nd, io, 0); }
static void softmax_backward(const node *nd, const op_io *io) { softmax_back(nd, io, 0); }
static void logsoftmax_forward(const node *nd, const op_io *io) { softmax_run(nd, io, 1); }
static void logsoftmax_backward(const node *nd, const op_io *io) { softmax_back(nd, io, 1); }

const struct op_def op_softmax = { "Softmax", 1, 1, no_attrs, no_weights, op_same_prepare,
                                   softmax_forward, softmax_backward };
const struct op_def op_logsoftmax = { "LogSoftmax", 1, 1, no_attrs, no_weights, op_same_prepare,
                                      logsoftmax_forward, logsoftmax_backward };
