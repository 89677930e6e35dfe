/* Unit tests of nn/ops/vmath.h (the vectorisable float exp, expm1, log1p,
 * logistic, tanh and erf of the pointwise ops) against libm's double
 * functions on a dense grid over each function's range (a million points
 * and the edges), to the error bounds vmath.h states; the loops are the
 * ops' kind, so gcc vectorises them as it does in the ops. NaN stays NaN,
 * the saturations are where vmath.h says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp),  cmocka_unit_test(test_expm1), cmocka_unit_test(test_log1p),
        cmocka_unit_test(test_sigm), cmocka_unit_test(test_tanh),  cmocka_unit_test(test_erf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
