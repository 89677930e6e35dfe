/* Unit tests of the dense layer's product (nn/densemm.c) against double
 * loops: inputs per row around the vector (8 or 16 lanes) and the block of
 * DENSEMM_KB, rows around the 8-row block and the 4-row tile, images
 * around the 3-image tile and the 48-image pass, with and without bias, to
 * 1e-5 of the sum of the terms' magnitudes (a dropped last part-vector,
 * row or image is off by far more; y starts as NaN, so an output never
 * written fails too). And the order of the sums (issue 20): an image's
 * outputs bit for bit the same alone, inside batches of every size, on 1,
 * 2 or 3 threads, and called from inside a parallel region. The AVX2
 * build (make v3) runs this test too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "nn/densemm.h"

#include "rnd.h"

static void check_values(int64_t r, int64_t d, int n, int bias)
{
    float *w = rnd(r * d), *x = rnd(n * d), *b = bias ? rnd(r) : NULL;
    float *y = malloc((size_t)(n * r) * sizeof *y);
    for (int64_t i = 0; i < n * r; i++)
        y[i] = NAN;
    densemm(w, r, d, x, n, b, y);
    for (int i = 0; i < n; i++)
        for (int64_t o = 0; o < r; o++) {
            double e = b ? b[o] : 0, m = b ? fabs(b[o]) : 0;
            for (int64_t k = 0; k < d; k++) {
                double t = (double)w[o * d + k] * x[(int64_t)i * d + k];
                e += t, m += fabs(t);
            }
            float v = y[(int64_t)i * r + o];
            if (!(fabs(v - e) <= 1e-5 * m + 1e-30))
                fail_msg("r %lld d %lld n %d bias %d: y[%d][%lld] = %.9g, want %.9g", (long long)r,
                         (long long)d, n, bias, i, (long long)o, v, e);
        }
    free(w), free(x), free(b), free(y);
}

static void test_values(void **state)
{
    (void)state;
    const int64_t rs[] = { 1, 3, 8, 13, 37 }, ds[] = { 1, 5, 8, 9, 16, 23, 511, 513, 1037 };
    const int ns[] = { 1, 2, 3, 4, 5, 7, 37, 50 };
    rng_seed(&R, 3);
    for (size_t a = 0; a < sizeof rs / sizeof *rs; a++)
        for (size_t c = 0; c < sizeof ds / sizeof *ds; c++)
            for (size_t e = 0; e < sizeof ns / sizeof *ns; e++)
                check_values(rs[a], ds[c], ns[e], (int)(a + c + e) % 2);
}

/* Image j of every batch (the images 0..n-1 of x) against image j alone
 * on one thread, bit for bit. */
static void check_order(int64_t r, int64_t d)
{
    const int ns[] = { 1, 2, 3, 4, 5, 6, 37, 50 }, N = 50;
    float *w = rnd(r * d), *x = rnd(N * d), *b = rnd(r);
    float *one = malloc((size_t)(N * r) * sizeof *one), *y = malloc((size_t)(N * r) * sizeof *y);
    omp_set_num_threads(1);
    for (int j = 0; j < N; j++)
        densemm(w, r, d, x + (int64_t)j * d, 1, b, one + (int64_t)j * r);
    for (int th = 1; th <= 3; th++) {
        omp_set_num_threads(th);
        for (size_t c = 0; c < sizeof ns / sizeof *ns; c++) {
            int n = ns[c];
            densemm(w, r, d, x, n, b, y);
            if (memcmp(y, one, (size_t)(n * r) * sizeof *y))
                fail_msg("r %lld d %lld: a batch of %d on %d threads differs from the images "
                         "alone", (long long)r, (long long)d, n, th);
        }
    }
    /* From inside a parallel region: each thread its own image, in one
     * thread's order (the product does not open a region of its own). */
    omp_set_num_threads(2);
    memset(y, 0, (size_t)(N * r) * sizeof *y);
#pragma omp parallel for schedule(dynamic)
    for (int j = 0; j < 7; j++)
        densemm(w, r, d, x + (int64_t)j * d, 1, b, y + (int64_t)j * r);
    if (memcmp(y, one, (size_t)(7 * r) * sizeof *y))
        fail_msg("r %lld d %lld: images in a parallel region differ", (long long)r, (long long)d);
    free(w), free(x), free(b), free(one), free(y);
}

static void test_order(void **state)
{
    (void)state;
    rng_seed(&R, 4);
    check_order(37, 1037);
    check_order(13, 23);
    check_order(64, 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
