/* vmath: float exp, expm1, log1p, logistic, tanh and erf written so that
 * the ops' loops vectorise. libm's expf, tanhf, erff... are calls the
 * compiler cannot vectorise without -ffast-math, and on the zoo's SiLU,
 * GELU and Mish nets they cost as much as the convolutions around them.
 *
 * Each is straight-line float code (clamps and selects, no branches, no
 * table), so gcc -O3 turns a loop over them into AVX2 or AVX-512 code. The
 * polynomials are Cephes' (exp, log, tanh) and Eigen's/XLA's (erf); errors
 * against float64, checked over the ranges the comments give:
 *   vexpf    relative 2e-7 (expf's rounding); saturates below -87.3
 *            (1.2e-38) and above 88.3 (2^127.4)
 *   vexpm1f  relative 3e-7, no cancellation near 0 (Elu, Selu)
 *   vlog1pf  relative 2e-7 for u in [0, 1] (the softplus term)
 *   vsigmf   relative 3e-7 where the result is above 1e-37 (0 below
 *            about -87)
 *   vtanhf   absolute 2e-7 (relative near 0, where Cephes' odd polynomial
 *            is used)
 *   verff    absolute 4.5e-7
 * NaN stays NaN in each. tests/unit/test_vmath.c checks them against libm's
 * double functions over a dense grid. */
#ifndef CNN_VMATH_H
#define CNN_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^r - 1 for r = x - n ln 2 (|r| <= ln 2 / 2, ln 2 in two parts):
 * r + r^2 P(r), Cephes' degree-6 P. The multiply-adds here and in vsigmf
 * are written as fmaf: the ones GCC contracts them into at -O2 and above
 * (-ffp-contract=fast), made explicit so that every build, the -O1
 * sanitizer build among them, rounds them alike and as the fused stores'
 * vector SiLU (act.h) does. */
static inline float expm1_reduced(float x, float n)
{
    float r = fmaf(n, 2.12194440e-4f, fmaf(-n, 0.693359375f, x));
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    return fmaf(p * r, r, r);
}

/* x = n ln 2 + r with |r| <= ln 2 / 2; e^r - 1 (expm1_reduced) and 2^n
 * put into the exponent bits. The two parts, so that vexpm1f can add them
 * without cancellation. */
static inline float vexp_parts(float x, float *two_n)
{
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    float n = __builtin_rintf(x * 1.44269504088896341f);
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    memcpy(two_n, &bits, sizeof bits);
    return expm1_reduced(x, n);
}

/* e^x */
static inline float vexpf(float x)
{
    float s, em1 = vexp_parts(x, &s);
    return (em1 + 1.0f) * s;
}

/* e^x - 1 = 2^n (e^r - 1) + (2^n - 1): both parts exact or small, so no
 * cancellation for x near 0 (where n = 0 and it is the polynomial). */
static inline float vexpm1f(float x)
{
    float s, em1 = vexp_parts(x, &s);
    return em1 * s + (s - 1.0f);
}

/* log(1 + u) for u in [0, 1]: t = 1 + u = 2^e (1 + f) with e in {0, 1} and
 * 1 + f in [sqrt(1/2), sqrt 2], log(1 + f) by Cephes' logf polynomial; the
 * rounding of 1 + u is corrected by the factor u / (t - 1) (Goldberg), and
 * u so small that t == 1 gives u itself. */
static inline float vlog1pf(float u)
{
    float t = 1.0f + u, tm1 = t - 1.0f;
    int big = t > 1.41421356237f;
    float e = big ? 1.0f : 0.0f;
    float f = big ? 0.5f * t - 1.0f : tm1;
    float z = f * f;
    float p = 7.0376836292e-2f;
    p = p * f - 1.1514610310e-1f;
    p = p * f + 1.1676998740e-1f;
    p = p * f - 1.2420140846e-1f;
    p = p * f + 1.4249322787e-1f;
    p = p * f - 1.6668057665e-1f;
    p = p * f + 2.0000714765e-1f;
    p = p * f - 2.4999993993e-1f;
    p = p * f + 3.3333331174e-1f;
    float y = p * f * z - 2.12194440e-4f * e - 0.5f * z + f + 0.693359375f * e;
    float c = tm1 == 0.0f ? 1.0f : u / tm1;
    return tm1 == 0.0f ? u : y * c;
}

/* 1 / (1 + e^-x), as e / (1 + e) with e = e^-|x| in (0, 1] and 1 minus
 * that for x >= 0 (XNNPACK's way): no clamp before the exp, so fewer
 * instructions than vexpf (SiLU's cost is this function). n = rint(z
 * log2 e) by the magic-number addition (1.5 2^23 + 127: 2^n is its low
 * bits shifted into the exponent), e^r as vexp_parts; z below -87 (where
 * 2^n would not be a normal float) gives e = 0. */
static inline float vsigmf(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    b |= 0x80000000u;   /* z = -|x|; NaN stays NaN */
    float z;
    memcpy(&z, &b, sizeof z);
    float v = fmaf(z, 1.44269504088896341f, 12583039.0f), s;
    uint32_t vb;
    memcpy(&vb, &v, sizeof vb);
    vb <<= 23;
    memcpy(&s, &vb, sizeof s);
    float n = v - 12583039.0f;
    float e = fmaf(expm1_reduced(z, n), s, s);
    float f = e / (e + 1.0f);
    f = z < -87.0f ? 0.0f : f;
    return x < 0 ? f : 1.0f - f;
}

/* SiLU, x s(x), and GELU, x Phi(x) = x (1 + erf(x / sqrt 2)) / 2: the
 * ops' formulas (ops/nonlin.c), and a fused store's (ops/act.c), one
 * definition so that both round alike. */
static inline float vsiluf(float x)
{
    return x * vsigmf(x);
}

/* tanh: Cephes' odd polynomial for |x| < 0.625, 1 - 2 / (e^2|x| + 1) with
 * the sign beyond. */
static inline float vtanhf(float x)
{
    float a = x < 0 ? -x : x, z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = p * z * x + x;
    float big = 1.0f - 2.0f / (vexpf(2.0f * a) + 1.0f);
    big = x < 0 ? -big : big;
    return a < 0.625f ? small : big;
}

/* erf: the odd/even rational minimax form x P(x^2) / Q(x^2) on [-4, 4] of
 * Eigen's and XLA's float erf, the input clamped there (beyond, erf rounds
 * to +-1 in float). */
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

static inline float vgeluf(float x)
{
    return 0.5f * x * (1.0f + verff(x * (float)M_SQRT1_2));
}

#endif
