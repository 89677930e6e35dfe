/* Unit tests of the receptive-field cone executor (nn/cone.c) outside
 * occlusion: regions of different sizes and shapes (a thin column, one
 * corner pixel, the whole image) on a net with padding, a strided and a
 * dilated convolution, max pooling and a dense layer; each item's values
 * at a middle layer and at the logits against the whole changed copy run
 * through the engine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/tensor.h"
#include "nn/arch.h"
#include "nn/cone.h"
#include "nn/engine.h"

static void check_at(model *m, int upto)
{
    enum { NI = 3, P = 5 };
    const int32_t boxes[P * 4] = { 0, 0, 3, 4, 5, 2, 12, 3, 14, 12, 15, 13, 0, 0, 15, 13,
                                   6, 7, 9, 11 };
    int64_t C = m->in_shape[0], H = m->in_shape[1], W = m->in_shape[2], img = C * H * W;
    rng r;
    rng_seed(&r, 5);
    tensor *x = tensor_new4(NI, C, H, W);
    float *repl = malloc((size_t)(NI * img) * sizeof *repl);
    for (int64_t k = 0; k < NI * img; k++) {
        x->data[k] = (float)rng_uniform(&r);
        repl[k] = (float)rng_uniform(&r);
    }
    cone_spec s = { upto, P, boxes, NI * P, NI };
    cone *c = cone_new(m, &s);
    engine_forward_upto(cone_engine(c), x, upto);
    int itimg[NI * P], itpos[NI * P];
    for (int k = 0; k < NI * P; k++)
        itimg[k] = k / P, itpos[k] = k % P;
    cone_run(c, NI * P, itimg, itpos, repl);
    engine *e = engine_new(m, 1, 0, 1);
    tensor *xc = tensor_new4(1, C, H, W);
    const int64_t *us = m->nodes[upto].shape;
    int64_t usz = us[0] * us[1] * us[2];
    float *got = malloc((size_t)usz * sizeof *got);
    for (int k = 0; k < NI * P; k++) {
        const int32_t *b = boxes + 4 * itpos[k];
        memcpy(xc->data, x->data + itimg[k] * img, (size_t)img * sizeof *xc->data);
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t y = b[0]; y < b[2]; y++)
                for (int64_t q = b[1]; q < b[3]; q++)
                    xc->data[(ch * H + y) * W + q] = repl[itimg[k] * img + (ch * H + y) * W + q];
        engine_forward_upto(e, xc, upto);
        const float *want = engine_act(e, upto)->data;
        cone_read(c, k, itimg[k], itpos[k], 0, us[0], got);
        double worst = 0, scale = 1e-6;
        for (int64_t q = 0; q < usz; q++) {
            worst = fmax(worst, fabs((double)got[q] - want[q]));
            scale = fmax(scale, fabs(want[q]));
        }
        assert_true(worst <= 1e-5 * scale);
    }
    free(got);
    tensor_free(xc);
    engine_free(e);
    cone_free(c);
    free(repl);
    tensor_free(x);
}

static void test_cone_regions(void **state)
{
    (void)state;
    char err[256];
    model *m = arch_build("c1=conv6k3p1,r1=relu,p1=maxpool2,c2=conv5k3s2p1,r2=relu,"
                          "c3=conv4k3d2p2,fl=flatten,fc=dense",
                          2, 15, 13, 7, ARCH_INIT_TORCH, 3, err, sizeof err);
    assert_non_null(m);
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->nodes[i].name, "c3") || !strcmp(m->nodes[i].name, "r1") ||
            !strcmp(m->nodes[i].name, "fc"))
            check_at(m, i);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cone_regions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
