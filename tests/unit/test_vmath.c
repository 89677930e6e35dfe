/* Unit tests of nn/ops/vmath.h (the vectorisable float exp, expm1, log1p,
 * logistic, tanh and erf of the pointwise ops) against libm's double
 * functions on a dense grid over each function's range (a million points
 * and the edges), to the error bounds vmath.h states; the loops are the
 * ops' kind, so gcc vectorises them as it does in the ops. NaN stays NaN,
 * the saturations are where vmath.h says. And the fused stores' SiLU
 * (nn/ops/act.h: its vector, scalar and flat forms) bit for bit against
 * the SiLU op's forward on the same values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <stdint.h>
#include <string.h>

#include "nn/ops.h"
#include "nn/ops/act.h"
#include "nn/ops/vmath.h"

enum { NPTS = 1 << 20 };

typedef float (*ffun)(float);
typedef double (*dfun)(double);

static float f_exp(float x) { return vexpf(x); }
static float f_expm1(float x) { return vexpm1f(x); }
static float f_log1p(float x) { return vlog1pf(x); }
static float f_sigm(float x) { return vsigmf(x); }
static float f_tanh(float x) { return vtanhf(x); }
static float f_erf(float x) { return verff(x); }
static double d_sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* The grid lo..hi, the function applied in one loop (vectorised as in the
 * ops), each result within rel * |want| + abs of the double function. */
static void check(const char *name, ffun f, dfun d, float lo, float hi, double rel, double abs_)
{
    float *x = malloc(NPTS * sizeof *x), *y = malloc(NPTS * sizeof *y);
    for (int i = 0; i < NPTS; i++)
        x[i] = lo + (hi - lo) * (float)i / (NPTS - 1);
    for (int i = 0; i < NPTS; i++)
        y[i] = f(x[i]);
    double worst = 0;
    int at = 0;
    for (int i = 0; i < NPTS; i++) {
        double want = d((double)x[i]);
        double err = fabs((double)y[i] - want) / (rel * fabs(want) + abs_);
        if (!(err <= worst))
            worst = err, at = i;
    }
    if (!(worst <= 1.0))
        fail_msg("%s(%.9g) = %.9g, not %.9g (%.3g of the bound)", name, x[at], y[at],
                 d((double)x[at]), worst);
    free(x), free(y);
}

static void test_exp(void **state)
{
    (void)state;
    check("vexpf", f_exp, exp, -87.0f, 88.0f, 2.5e-7, 0);
    check("vexpf", f_exp, exp, -1.0f, 1.0f, 2.5e-7, 0);
    assert_true(vexpf(-200.0f) > 0 && vexpf(-200.0f) < 1.3e-38f);
    assert_true(isfinite(vexpf(200.0f)) && vexpf(200.0f) > 1e38f);
    assert_true(isnan(vexpf(NAN)));
}

static void test_expm1(void **state)
{
    (void)state;
    check("vexpm1f", f_expm1, expm1, -30.0f, 30.0f, 3e-7, 0);
    check("vexpm1f", f_expm1, expm1, -1e-3f, 1e-3f, 3e-7, 0);
    assert_true(vexpm1f(-200.0f) == -1.0f);
    assert_true(vexpm1f(1e-30f) == 1e-30f);
    assert_true(isnan(vexpm1f(NAN)));
}

static void test_log1p(void **state)
{
    (void)state;
    check("vlog1pf", f_log1p, log1p, 0.0f, 1.0f, 2.5e-7, 0);
    check("vlog1pf", f_log1p, log1p, 0.0f, 1e-5f, 2.5e-7, 0);
    assert_true(vlog1pf(1e-30f) == 1e-30f);
    assert_true(isnan(vlog1pf(NAN)));
}

static void test_sigm(void **state)
{
    (void)state;
    check("vsigmf", f_sigm, d_sigm, -80.0f, 40.0f, 3e-7, 0);
    assert_true(vsigmf(INFINITY) == 1.0f && vsigmf(-INFINITY) < 1e-37f);
    assert_true(isnan(vsigmf(NAN)));
}

static void test_tanh(void **state)
{
    (void)state;
    check("vtanhf", f_tanh, tanh, -12.0f, 12.0f, 2.5e-7, 1e-7);
    check("vtanhf", f_tanh, tanh, -0.7f, 0.7f, 2.5e-7, 0);
    assert_true(vtanhf(50.0f) == 1.0f && vtanhf(-50.0f) == -1.0f);
    assert_true(isnan(vtanhf(NAN)));
}

static void test_erf(void **state)
{
    (void)state;
    check("verff", f_erf, erf, -6.0f, 6.0f, 0, 4.5e-7);
    assert_true(verff(10.0f) == 1.0f && verff(-10.0f) == -1.0f);
    assert_true(isnan(verff(NAN)));
}

/* The same float, or both NaN. */
static int same(float a, float b)
{
    uint32_t u, v;
    memcpy(&u, &a, sizeof u), memcpy(&v, &b, sizeof v);
    return u == v || (a != a && b != b);
}

/* x's bits as a float. */
static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The SiLU act's vector form (act_v16 or act_v8, the build's), scalar
 * form (act_apply), flat form (act_flat) and affine form (act_affine with
 * scale 1, shift -0) against op_silu's forward over a grid of [-120, 120],
 * random bit patterns (NaN, infinities, subnormals among them) and the
 * edges: equal bit for bit (NaN for NaN), as the engine's fused SiLU must
 * be for a fused forward to give the unfused one's values. A wrong
 * polynomial coefficient, a multiply-add the op does not make, or a wrong
 * saturation edge each fail here. */
static void test_silu_act(void **state)
{
    (void)state;
    enum { N = 1 << 17 };
    float *x = malloc(N * sizeof *x), *want = malloc(N * sizeof *want);
    float *got = malloc(N * sizeof *got);
    static const float edge[] = { 0.0f, -0.0f, 1.0f, -1.0f, 87.0f, -87.0f, -86.99999f,
                                  -87.00001f, 88.5f, -88.5f, 1e-30f, -1e-30f, 1e-45f,
                                  -1e-45f, INFINITY, -INFINITY, NAN, 3.4e38f, -3.4e38f };
    int ne = (int)(sizeof edge / sizeof *edge);
    uint64_t r = 88172645463325252ull;
    for (int i = 0; i < N; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        x[i] = i < ne ? edge[i] : i % 4 == 0 ? from_bits((uint32_t)(r >> 32))
                                             : -120.0f + 240.0f * (float)i / N;
    }
    node nd = { 0 };
    nd.shape[0] = N, nd.shape[1] = 1, nd.shape[2] = 1;
    const float *xin[1] = { x };
    op_io io = { 0 };
    io.n = 1, io.nin = 1, io.x = xin, io.y = want;
    op_silu.forward(&nd, &io);
    op_act a = { ACT_SILU, 0.0f, 0.0f };
#if defined(__AVX512F__)
    for (int i = 0; i < N; i += 16)
        _mm512_storeu_ps(got + i, act_v16(_mm512_loadu_ps(x + i), ACT_SILU, _mm512_setzero_ps(),
                                          _mm512_setzero_ps()));
#elif defined(__AVX2__)
    for (int i = 0; i < N; i += 8)
        _mm256_storeu_ps(got + i, act_v8(_mm256_loadu_ps(x + i), ACT_SILU, _mm256_setzero_ps(),
                                         _mm256_setzero_ps()));
#else
    for (int i = 0; i < N; i++)
        got[i] = act_apply(a, x[i]);
#endif
    for (int i = 0; i < N; i++)
        if (!same(got[i], want[i]))
            fail_msg("vector SiLU(%.9g) = %.9g, the op's %.9g", x[i], got[i], want[i]);
    for (int i = 0; i < N; i++)
        if (!same(act_apply(a, x[i]), want[i]))
            fail_msg("scalar SiLU(%.9g) = %.9g, the op's %.9g", x[i], act_apply(a, x[i]), want[i]);
    for (int len = 1; len <= 40; len++) {   /* every tail */
        memcpy(got, x + 1000, (size_t)len * sizeof *got);
        act_flat(got, len, a);
        for (int i = 0; i < len; i++)
            if (!same(got[i], want[1000 + i]))
                fail_msg("act_flat SiLU(%.9g), length %d = %.9g, the op's %.9g", x[1000 + i],
                         len, got[i], want[1000 + i]);
    }
    act_affine(got, x, N, 1.0f, -0.0f, a);   /* x * 1 + -0 is x, -0 too */
    for (int i = 0; i < N; i++)
        if (!same(got[i], want[i]))
            fail_msg("act_affine SiLU(%.9g) = %.9g, the op's %.9g", x[i], got[i], want[i]);
    free(x), free(want), free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp),  cmocka_unit_test(test_expm1), cmocka_unit_test(test_log1p),
        cmocka_unit_test(test_sigm), cmocka_unit_test(test_tanh),  cmocka_unit_test(test_erf),
        cmocka_unit_test(test_silu_act),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
