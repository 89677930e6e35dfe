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

static const op_attr_spec no_attrs[] = { { NULL, 0, 0 } };
static const op_weight_spec no_weights[] = { { NULL, 0 } };

/* Attribute values the formulas read. */
typedef struct pw_par {
    float alpha, beta;
} pw_par;

/* e^x in float, written so that the loops vectorise (libm's expf is a call
 * the compiler cannot vectorise without -ffast-math): x = n ln 2 + r with
 * |r| <= ln 2 / 2, e^r by Cephes' degree-6 polynomial (relative error
 * about 2e-7, as expf's rounding), 2^n put into the exponent bits. Inputs
 * beyond the float range saturate (0 below -87.3, 2^127.4 above 88.3). */
static inline float vexpf(float x)
{
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    float n = __builtin_rintf(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float e = p * r * r + r + 1.0f;
    union {
        int32_t i;
        float f;
    } u;
    u.i = ((int32_t)n + 127) << 23;
    return e * u.f;
}

static inline float sigm(float x) { return 1.0f / (1.0f + vexpf(-x)); }

/* erf(x) in float, written so that the loops vectorise (libm's erff is a
 * call: it was a fifth of a convnext_tiny forward): the odd/even rational
 * minimax form x P(x^2) / Q(x^2) on [-4, 4] of Eigen's and XLA's float
 * erf, the input clamped there (beyond, erf rounds to +-1 in float).
 * Absolute error at most 4.5e-7 (against libm's 4.5e-8; checked over
 * [-6, 6] against float64); NaN stays NaN. */
static inline float verff(float x)
{
    x = x < -4.0f ? -4.0f : x;
    x = x > 4.0f ? 4.0f : x;
    float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 - 2.10102402082508e-06f;
    p = p * x2 - 5.69250639462346e-05f;
    p = p * x2 - 7.34990630326855e-04f;
    p = p * x2 - 2.95459980854025e-03f;
    p = p * x2 - 1.60960333262415e-02f;
    float q = -1.45660718464996e-05f;
    q = q * x2 - 2.13374055278905e-04f;
    q = q * x2 - 1.68282697438203e-03f;
    q = q * x2 - 7.37332916720468e-03f;
    q = q * x2 - 1.42647390514189e-02f;
    return x * p / q;
}

static inline float hsig_f(float x, const pw_par *p)
{
    float v = p->alpha * x + p->beta;
    return v < 0 ? 0.0f : v > 1 ? 1.0f : v;
}
static inline float hsig_d(float x, float y, const pw_par *p)
{
    (void)x;
    return y > 0 && y < 1 ? p->alpha : 0.0f;
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
    return x * sigm(x);
}
static inline float silu_d(float x, float y, const pw_par *p)
{
    (void)y, (void)p;
    float s = sigm(x);
    return s * (1.0f + x * (1.0f - s));
}

static inline float gelu_f(float x, const pw_par *p)
{
    (void)p;
    return 0.5f * x * (1.0f + verff(x * (float)M_SQRT1_2));
}
static inline float gelu_d(float x, float y, const pw_par *p)
{
    (void)y, (void)p;
    float cdf = 0.5f * (1.0f + verff(x * (float)M_SQRT1_2));
    return cdf + x * vexpf(-0.5f * x * x) * (float)(0.5 * M_2_SQRTPI * M_SQRT1_2);
}

static inline float elu_f(float x, const pw_par *p)
{
    return x > 0 ? x : p->alpha * expm1f(x);
}
static inline float elu_d(float x, float y, const pw_par *p)
{
    (void)y;
    return x > 0 ? 1.0f : p->alpha * vexpf(x);
}

static inline float softplus_f(float x, const pw_par *p)
{
    (void)p;
    /* log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|) */
    return (x > 0 ? x : 0.0f) + log1pf(expf(-fabsf(x)));
}
static inline float softplus_d(float x, float y, const pw_par *p)
{
    (void)y, (void)p;
    return sigm(x);
}

static inline float selu_f(float x, const pw_par *p)
{
    return p->beta * (x > 0 ? x : p->alpha * expm1f(x));
}
static inline float selu_d(float x, float y, const pw_par *p)
{
    (void)y;
    return p->beta * (x > 0 ? 1.0f : p->alpha * vexpf(x));
}

static inline float mish_f(float x, const pw_par *p)
{
    return x * tanhf(softplus_f(x, p));
}
static inline float mish_d(float x, float y, const pw_par *p)
{
    (void)y;
    float t = tanhf(softplus_f(x, p));
    return t + x * sigm(x) * (1.0f - t * t);
}

/* forward and backward of a pointwise op; RULED: the backward follows the
 * rule (rectifiers), else the true gradient under every rule (gates). */
#define POINTWISE(NAME, RULED)                                                               \
    static void NAME##_forward(const node *nd, const op_io *io)                              \
    {                                                                                        \
        int64_t n = op_numel(nd, io->n);                                                        \
        const float *x = io->x[0];                                                           \
        float *y = io->y;                                                                    \
        pw_par p = { (float)node_get(nd, "alpha", 0, NAME##_alpha),                          \
                     (float)node_get(nd, "beta", 0, NAME##_beta) };                          \
        _Pragma("omp parallel for if (n > OP_PAR_MIN) schedule(static)")                     \
        for (int64_t i = 0; i < n; i++)                                                      \
            y[i] = NAME##_f(x[i], &p);                                                       \
    }                                                                                        \
    static void NAME##_backward(const node *nd, const op_io *io)                             \
    {                                                                                        \
        int64_t n = op_numel(nd, io->n);                                                        \
        const float *x = io->x[0], *y = io->y, *g = io->gy;                                  \
        float *gx = io->gx[0];                                                               \
        int rule = RULED ? io->rule : OP_RULE_STANDARD;                                      \
        pw_par p = { (float)node_get(nd, "alpha", 0, NAME##_alpha),                          \
                     (float)node_get(nd, "beta", 0, NAME##_beta) };                          \
        if (!gx)                                                                             \
            return;                                                                          \
        _Pragma("omp parallel for if (n > OP_PAR_MIN) schedule(static)")                     \
        for (int64_t i = 0; i < n; i++)                                                      \
            gx[i] += op_rule_grad(rule, g[i], NAME##_d(x[i], y[i], &p));                     \
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

static void prelu_forward(const node *nd, const op_io *io)
{
    const tensor *s = node_weight(nd, "slope");
    int64_t c = nd->shape[0], hw = nd->shape[1] * nd->shape[2], planes = (int64_t)io->n * c;
    int one = tensor_numel(s) == 1;
#pragma omp parallel for if (planes * hw > OP_PAR_MIN) schedule(static)
    for (int64_t q = 0; q < planes; q++) {
        const float *x = io->x[0] + q * hw;
        float *y = io->y + q * hw, a = s->data[one ? 0 : q % c];
        for (int64_t k = 0; k < hw; k++)
            y[k] = x[k] > 0 ? x[k] : a * x[k];
    }
}

static void prelu_backward(const node *nd, const op_io *io)
{
    const tensor *s = node_weight(nd, "slope");
    int64_t c = nd->shape[0], hw = nd->shape[1] * nd->shape[2], planes = (int64_t)io->n * c;
    int one = tensor_numel(s) == 1, rule = io->rule;
    float *gx = io->gx[0];
    if (gx) {
#pragma omp parallel for if (planes * hw > OP_PAR_MIN) schedule(static)
        for (int64_t q = 0; q < planes; q++) {
            const float *x = io->x[0] + q * hw, *g = io->gy + q * hw;
            float *d = gx + q * hw, a = s->data[one ? 0 : q % c];
            for (int64_t k = 0; k < hw; k++)
                d[k] += op_rule_grad(rule, g[k], x[k] > 0 ? 1.0f : a);
        }
    }
    int wi = op_weight_index(nd, "slope");
    if (!io->gw || wi < 0 || !io->gw[wi])
        return;
    /* d/d slope[c] = sum over images and positions with x <= 0 of g x */
    float *gs = io->gw[wi];
#pragma omp parallel for if (planes * hw > OP_PAR_MIN) schedule(static)
    for (int64_t ch = 0; ch < c; ch++) {
        double acc = 0;
        for (int i = 0; i < io->n; i++) {
            const float *x = io->x[0] + ((int64_t)i * c + ch) * hw, *g = io->gy + ((int64_t)i * c + ch) * hw;
            for (int64_t k = 0; k < hw; k++)
                acc += x[k] > 0 ? 0.0 : (double)g[k] * x[k];
        }
        if (one) {
#pragma omp atomic
            gs[0] += (float)acc;
        } else {
            gs[ch] += (float)acc;
        }
    }
}

const struct op_def op_prelu = { "PRelu", 1, 1, no_attrs, prelu_weights, prelu_prepare,
                                 prelu_forward, prelu_backward };
const struct op_def op_selu = { "Selu", 1, 1, selu_attrs, no_weights, op_same_prepare, selu_forward,
                                selu_backward };
const struct op_def op_mish = { "Mish", 1, 1, no_attrs, no_weights, op_same_prepare, mish_forward,
                                mish_backward };
