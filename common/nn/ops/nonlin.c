/* Pointwise nonlinearities of today's CNNs: HardSigmoid, HardSwish, SiLU,
 * GELU, Elu, Selu, Mish, PRelu, Softplus (LogSoftmax is with Softmax in
 * ops/activ.c).
 *
 * Backward rules (docs/model-format.md, cnn-saliency(1)): the rectifier-like
 * ones (HardSwish, SiLU, GELU, Elu, Selu, Mish, PRelu, Softplus) follow the ReLU
 * family's rule with their own true derivative f'(x) (op_rule_grad):
 *   standard   g f'(x)
 *   guided     g f'(x) where g > 0, else 0
 *   deconvnet  g where g > 0, else 0
 * HardSigmoid is a gate like Sigmoid and Tanh: it passes the true gradient
 * under every rule.
 *
 * Formulas and boundaries are PyTorch's (float64 reference, tests/ref):
 *   HardSigmoid  max(0, min(1, alpha x + beta)); f' = alpha strictly inside
 *   HardSwish    x min(max(x + 3, 0), 6) / 6; f' = 0 (x < -3), x/3 + 1/2
 *                (x <= 3), 1
 *   SiLU         x s(x), s the logistic; f' = s (1 + x (1 - s))
 *   GELU         x Phi(x) = x (1 + erf(x / sqrt 2)) / 2; f' = Phi + x phi
 *   Elu          x (x > 0), alpha (e^x - 1); f' = 1, alpha e^x
 *   Selu         beta times Elu (ONNX's gamma; defaults alpha 1.6732632,
 *                beta 1.0507010, Keras' and PyTorch's); f' = beta, beta alpha e^x
 *   Mish         x tanh(sp), sp = softplus(x); f' = tanh(sp) + x s(x) (1 - tanh(sp)^2)
 *   PRelu        x (x > 0), slope[c] x; f' = 1, slope[c]
 *   Softplus     log(1 + e^x); f' = s(x)
 * The loops are over whole batches, split over the OpenMP threads when
 * large (OP_PAR_MIN). */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "nn/ops.h"
#include "nn/ops/vmath.h"

static const op_attr_spec no_attrs[] = { { NULL, 0, 0 } };
static const op_weight_spec no_weights[] = { { NULL, 0 } };

/* Attribute values the formulas read. */
typedef struct pw_par {
    float alpha, beta;
} pw_par;

static inline float hsig_f(float x, const pw_par *p)
{
    float v = p->alpha * x + p->beta;
    v = v < 0 ? 0.0f : v;
    return v > 1 ? 1.0f : v; /* NaN stays NaN */
}
static inline float hsig_d(float x, float y, const pw_par *p)
{
    (void)x;
    return (y > 0) & (y < 1) ? p->alpha : 0.0f;
}

static inline float hswish_f(float x, const pw_par *p)
{
    (void)p;
    float r = x + 3.0f;
    r = r < 0 ? 0.0f : r > 6 ? 6.0f : r;
    return x * r / 6.0f;
}
static inline float hswish_d(float x, float y, const pw_par *p)
{
    (void)y, (void)p;
    return x < -3.0f ? 0.0f : x <= 3.0f ? x / 3.0f + 0.5f : 1.0f;
}

static inline float silu_f(float x, const pw_par *p)
{
    (void)p;
    return vsiluf(x);
}
static inline float silu_d(float x, float y, const pw_par *p)
{
    (void)y, (void)p;
    float s = vsigmf(x);
    return s * (1.0f + x * (1.0f - s));
}

static inline float gelu_f(float x, const pw_par *p)
{
    (void)p;
    return vgeluf(x);
}
static inline float gelu_d(float x, float y, const pw_par *p)
{
    (void)y, (void)p;
    float cdf = 0.5f * (1.0f + verff(x * (float)M_SQRT1_2));
    return cdf + x * vexpf(-0.5f * x * x) * (float)(0.5 * M_2_SQRTPI * M_SQRT1_2);
}

/* Both sides computed and one selected, so that the loops vectorise (a
 * branch around the exp keeps gcc from if-converting them). */
static inline float elu_f(float x, const pw_par *p)
{
    float e = p->alpha * vexpm1f(x > 0 ? 0.0f : x); /* NaN stays NaN */
    return x > 0 ? x : e;
}
static inline float elu_d(float x, float y, const pw_par *p)
{
    (void)y;
    float e = p->alpha * vexpf(x > 0 ? 0.0f : x);
    return x > 0 ? 1.0f : e;
}

static inline float softplus_f(float x, const pw_par *p)
{
    (void)p;
    /* log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|) */
    return (x > 0 ? x : 0.0f) + vlog1pf(vexpf(x > 0 ? -x : x));
}
static inline float softplus_d(float x, float y, const pw_par *p)
{
    (void)y, (void)p;
    return vsigmf(x);
}

static inline float selu_f(float x, const pw_par *p)
{
    return p->beta * elu_f(x, p);
}
static inline float selu_d(float x, float y, const pw_par *p)
{
    return p->beta * elu_d(x, y, p);
}

/* tanh(softplus(x)) = ((1 + w)^2 - 1) / ((1 + w)^2 + 1) with w = e^x, that
 * is m / (m + 2) with m = w (w + 2): no log, no second exp; 1 in float
 * from x = 15 on (before w^2 could overflow). */
static inline float tanh_softplus(float x)
{
    float w = vexpf(x > 15.0f ? 15.0f : x), m = w * (w + 2.0f);
    return x > 15.0f ? 1.0f : m / (m + 2.0f);
}
static inline float mish_f(float x, const pw_par *p)
{
    (void)p;
    return x * tanh_softplus(x);
}
static inline float mish_d(float x, float y, const pw_par *p)
{
    (void)y, (void)p;
    float t = tanh_softplus(x);
    return t + x * vsigmf(x) * (1.0f - t * t);
}

/* A pointwise forward's items (op_par_for). */
typedef struct pw_run {
    const float *x;
    float *y;
    pw_par p;
} pw_run;

/* forward and backward of a pointwise op; RULED: the backward follows the
 * rule (rectifiers), else the true gradient under every rule (gates). */
#define POINTWISE(NAME, RULED)                                                               \
    static void NAME##_range(void *ctx, int64_t i0, int64_t i1, int t)                       \
    {                                                                                        \
        const pw_run *r = ctx;                                                               \
        const float *x = r->x;                                                               \
        float *y = r->y;                                                                     \
        pw_par p = r->p;                                                                     \
        (void)t;                                                                             \
        for (int64_t i = i0; i < i1; i++)                                                    \
            y[i] = NAME##_f(x[i], &p);                                                       \
    }                                                                                        \
    static void NAME##_forward(const node *nd, const op_io *io)                              \
    {                                                                                        \
        pw_run r = { io->x[0], io->y,                                                        \
                     { (float)node_get(nd, "alpha", 0, NAME##_alpha),                        \
                       (float)node_get(nd, "beta", 0, NAME##_beta) } };                      \
        int64_t n = op_numel(nd, io->n);                                                     \
        op_par_for(n, n, NAME##_range, &r);                                                  \
    }                                                                                        \
    OP_RULE_FNS(NAME, NAME##_d(x[i], y[i], &p), pw_par p; p.alpha = a; p.beta = b)           \
    static void NAME##_backward(const node *nd, const op_io *io)                             \
    {                                                                                        \
        op_grad_job j = { io->x[0], io->y, io->gy, io->gx[0],                                \
                          (float)node_get(nd, "alpha", 0, NAME##_alpha),                     \
                          (float)node_get(nd, "beta", 0, NAME##_beta) };                     \
        if (j.gx)                                                                            \
            NAME##_rule_grad(RULED ? io->rule : OP_RULE_STANDARD, io->gset & 1,              \
                             op_numel(nd, io->n), &j);                                       \
    }

/* Default attributes (ONNX's). */
#define hsig_alpha 0.2
#define hsig_beta 0.5
#define hswish_alpha 0.0
#define hswish_beta 0.0
#define silu_alpha 0.0
#define silu_beta 0.0
#define gelu_alpha 0.0
#define gelu_beta 0.0
#define elu_alpha 1.0
#define elu_beta 0.0
#define softplus_alpha 0.0
#define softplus_beta 0.0
#define selu_alpha 1.6732632423543772
#define selu_beta 1.0507009873554805
#define mish_alpha 0.0
#define mish_beta 0.0

POINTWISE(hsig, 0)
POINTWISE(hswish, 1)
POINTWISE(silu, 1)
POINTWISE(gelu, 1)
POINTWISE(elu, 1)
POINTWISE(softplus, 1)
POINTWISE(selu, 1)
POINTWISE(mish, 1)

static const op_attr_spec hsig_attrs[] = { { "alpha", 1, 1 }, { "beta", 1, 1 }, { NULL, 0, 0 } };
static const op_attr_spec elu_attrs[] = { { "alpha", 1, 1 }, { NULL, 0, 0 } };
static const op_attr_spec selu_attrs[] = { { "alpha", 1, 1 }, { "beta", 1, 1 }, { NULL, 0, 0 } };

const struct op_def op_hardsigmoid = { "HardSigmoid", 1, 1, hsig_attrs, no_weights, op_same_prepare,
                                       hsig_forward, hsig_backward };
const struct op_def op_hardswish = { "HardSwish", 1, 1, no_attrs, no_weights, op_same_prepare,
                                     hswish_forward, hswish_backward };
const struct op_def op_silu = { "SiLU", 1, 1, no_attrs, no_weights, op_same_prepare, silu_forward,
                                silu_backward };
const struct op_def op_gelu = { "GELU", 1, 1, no_attrs, no_weights, op_same_prepare, gelu_forward,
                                gelu_backward };
const struct op_def op_elu = { "Elu", 1, 1, elu_attrs, no_weights, op_same_prepare, elu_forward,
                               elu_backward };
const struct op_def op_softplus = { "Softplus", 1, 1, no_attrs, no_weights, op_same_prepare,
                                    softplus_forward, softplus_backward };

/* PRelu: y = x (x > 0), slope[c] x else; "slope" holds C values or one. */
static const op_weight_spec prelu_weights[] = { { "slope", 1 }, { NULL, 0 } };

static int prelu_prepare(node *nd, const int64_t *const *in, op_need *need, char *err, size_t len)
{
    const tensor *s = node_weight(nd, "slope");
    int64_t k = tensor_numel(s);
    if (k != 1 && k != in[0][0]) {
        snprintf(err, len, "slope has %lld values; one, or one per channel (%lld), expected",
                 (long long)k, (long long)in[0][0]);
        return -1;
    }
    return op_same_prepare(nd, in, need, err, len);
}

/* PRelu's planes q0..q1-1: the forward, or the input gradient. */
typedef struct prelu_job {
    const node *nd;
    const op_io *io;
} prelu_job;

static void prelu_planes(void *ctx, int64_t q0, int64_t q1, int t)
{
    const prelu_job *a = ctx;
    const op_io *io = a->io;
    const tensor *s = node_weight(a->nd, "slope");
    int64_t c = a->nd->shape[0], hw = a->nd->shape[1] * a->nd->shape[2];
    int one = tensor_numel(s) == 1;
    (void)t;
    for (int64_t q = q0; q < q1; q++) {
        const float *x = io->x[0] + q * hw;
        float *y = io->y + q * hw, sl = s->data[one ? 0 : q % c];
        for (int64_t k = 0; k < hw; k++)
            y[k] = x[k] > 0 ? x[k] : sl * x[k];
    }
}

static void prelu_grad_planes(void *ctx, int64_t q0, int64_t q1, int t)
{
    const prelu_job *a = ctx;
    const op_io *io = a->io;
    const tensor *s = node_weight(a->nd, "slope");
    int64_t c = a->nd->shape[0], hw = a->nd->shape[1] * a->nd->shape[2];
    int one = tensor_numel(s) == 1, rule = io->rule;
    (void)t;
    for (int64_t q = q0; q < q1; q++) {
        const float *x = io->x[0] + q * hw, *g = io->gy + q * hw;
        float *d = io->gx[0] + q * hw, sl = s->data[one ? 0 : q % c];
        for (int64_t k = 0; k < hw; k++)
            d[k] += op_rule_grad(rule, g[k], x[k] > 0 ? 1.0f : sl);
    }
}

static void prelu_forward(const node *nd, const op_io *io)
{
    int64_t planes = (int64_t)io->n * nd->shape[0], hw = nd->shape[1] * nd->shape[2];
    prelu_job a = { nd, io };
    op_par_for(planes, planes * hw, prelu_planes, &a);
}

static void prelu_backward(const node *nd, const op_io *io)
{
    const tensor *s = node_weight(nd, "slope");
    int64_t c = nd->shape[0], hw = nd->shape[1] * nd->shape[2], planes = (int64_t)io->n * c;
    prelu_job a = { nd, io };
    if (io->gx[0])
        op_par_for(planes, planes * hw, prelu_grad_planes, &a);
    int wi = op_weight_index(nd, "slope");
    if (!io->gw || wi < 0 || !io->gw[wi])
        return;
    /* d/d slope[c] = sum over images and positions with x <= 0 of g x, in
     * channel order (serial: one slope for all channels sums them all) */
    float *gs = io->gw[wi];
    int one = tensor_numel(s) == 1;
    for (int64_t ch = 0; ch < c; ch++) {
        double acc = 0;
        for (int i = 0; i < io->n; i++) {
            const float *x = io->x[0] + ((int64_t)i * c + ch) * hw, *g = io->gy + ((int64_t)i * c + ch) * hw;
            for (int64_t k = 0; k < hw; k++)
                acc += x[k] > 0 ? 0.0 : (double)g[k] * x[k];
        }
        gs[one ? 0 : ch] += (float)acc;
    }
}

const struct op_def op_prelu = { "PRelu", 1, 1, no_attrs, prelu_weights, prelu_prepare,
                                 prelu_forward, prelu_backward };
const struct op_def op_selu = { "Selu", 1, 1, selu_attrs, no_weights, op_same_prepare, selu_forward,
                                selu_backward };
const struct op_def op_mish = { "Mish", 1, 1, no_attrs, no_weights, op_same_prepare, mish_forward,
                                mish_backward };
