/* Unit tests of ascend_diversity (methods/ascend.c, Lucid's diversity
 * penalty): known values (K identical images: every pair's cosine is 1,
 * P = K - 1; images whose maps live on disjoint channels: orthogonal Gram
 * matrices, P = 0) and the gradient dP/dF against central differences of
 * the value, for K = 2, 3, 4. (tests/ref/ascend_div.sh checks value and
 * gradient through a model against PyTorch.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "methods/ascend.h"

static void test_known_values(void **state)
{
    (void)state;
    enum { n = 3, k = 5 };
    float F[4 * n * k];
    rng r;
    rng_seed(&r, 7);
    for (int i = 0; i < n * k; i++)
        F[i] = (float)rng_uniform(&r);
    for (int K = 2; K <= 4; K++) {
        for (int j = 1; j < K; j++)
            memcpy(F + j * n * k, F, sizeof(float) * n * k);
        assert_true(fabs(ascend_diversity(F, K, n, k, NULL) - (K - 1)) < 1e-5);
    }
    /* image 0 only on channel 0, image 1 only on channel 2 */
    memset(F, 0, sizeof F);
    for (int p = 0; p < k; p++) {
        F[0 * k + p] = 1.0f + p;
        F[n * k + 2 * k + p] = 2.0f - 0.3f * p;
    }
    assert_true(fabs(ascend_diversity(F, 2, n, k, NULL)) < 1e-12);
}

static void test_gradient(void **state)
{
    (void)state;
    enum { n = 4, k = 6 };
    rng r;
    rng_seed(&r, 11);
    for (int K = 2; K <= 4; K++) {
        int64_t N = (int64_t)K * n * k;
        float *F = malloc((size_t)N * sizeof *F), *dF = malloc((size_t)N * sizeof *dF);
        for (int64_t i = 0; i < N; i++)
            F[i] = (float)(rng_uniform(&r) * 2 - 0.5);
        ascend_diversity(F, K, n, k, dF);
        double worst = 0, scale = 0;
        for (int64_t i = 0; i < N; i++) {
            float keep = F[i];
            double h = 1e-2;
            F[i] = keep + (float)h;
            double up = ascend_diversity(F, K, n, k, NULL);
            F[i] = keep - (float)h;
            double dn = ascend_diversity(F, K, n, k, NULL);
            F[i] = keep;
            double fd = (up - dn) / (2 * h);
            worst = fmax(worst, fabs(fd - dF[i]));
            scale = fmax(scale, fabs(fd));
        }
        assert_true(scale > 1e-3);
        assert_true(worst < 1e-3 * scale + 1e-5);
        free(F);
        free(dF);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_gradient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
