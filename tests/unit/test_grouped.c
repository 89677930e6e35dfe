/* Unit tests of the grouped convolution kernels (nn/ops/grouped.c) against
 * direct loops in double: forward (bias, residual, fused ReLU and Clip),
 * input gradient and weight and bias gradients over geometries that leave every edge case somewhere:
 * groups of 8, 4, 16, 3 and 1 output channels (blocks of the register
 * tile full and short), 1 to 9 input channels per group, output widths
 * that are not multiples of a vector, strides 1, 2 and 3 over odd sizes,
 * pads 0, 1, 2 and asymmetric, dilation 2, 1x1, 3x3, 5x5 and 3x5 filters,
 * batches of 1 to 3, one thread and two; each image alone against the
 * batch, bit for bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "nn/ops/grouped.h"

#include "near.h"
#include "rnd.h"

/* y (= conv + b + r), gx, gW, gb (+= the gradients of sum(gy . y)) in
 * double by the definition. */
static void reference(const grgeo *g, int n, const float *x, const float *W, const float *b,
                      const float *r, const float *gy, double *y, double *gx, double *gW,
                      double *gb)
{
    const dwgeo *p = &g->p;
    int64_t kk = p->kh * p->kw, G = p->c, cin = G * g->ci, cout = G * g->co;
    for (int i = 0; i < n; i++)
        for (int64_t o = 0; o < cout; o++) {
            int64_t gi = o / g->co;
            const float *w = W + o * g->ci * kk;
            for (int64_t oy = 0; oy < p->oh; oy++)
                for (int64_t ox = 0; ox < p->ow; ox++) {
                    int64_t yi = ((i * cout + o) * p->oh + oy) * p->ow + ox;
                    double s = b[o], gv = gy[yi];
                    gb[o] += gv;
                    for (int64_t c = 0; c < g->ci; c++) {
                        int64_t xc = (i * cin + gi * g->ci + c) * p->h * p->w;
                        for (int64_t ki = 0; ki < p->kh; ki++)
                            for (int64_t kj = 0; kj < p->kw; kj++) {
                                int64_t iy = oy * p->sh - p->pt + ki * p->dh;
                                int64_t ix = ox * p->sw - p->pl + kj * p->dw;
                                if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w)
                                    continue;
                                double wv = w[(c * p->kh + ki) * p->kw + kj];
                                s += wv * x[xc + iy * p->w + ix];
                                gx[xc + iy * p->w + ix] += wv * gv;
                                gW[(o * g->ci + c) * kk + ki * p->kw + kj] +=
                                    (double)x[xc + iy * p->w + ix] * gv;
                            }
                    }
                    y[yi] = s + r[yi];
                }
        }
}

static void check(int64_t G, int64_t ci, int64_t co, int64_t h, int64_t w, int64_t kh, int64_t kw,
                  int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pb, int64_t pr,
                  int64_t dh, int64_t dw, int n, int threads)
{
    grgeo g = { { G, h, w, 0, 0, kh, kw, sh, sw, pt, pl, dh, dw }, ci, co };
    g.p.oh = (h + pt + pb - dh * (kh - 1) - 1) / sh + 1;
    g.p.ow = (w + pl + pr - dw * (kw - 1) - 1) / sw + 1;
    int64_t cin = G * ci, cout = G * co, kk = kh * kw;
    int64_t xs = n * cin * h * w, ys = n * cout * g.p.oh * g.p.ow, per = ys / n;
    char what[200];
    snprintf(what, sizeof what,
             "g%lld ci%lld co%lld %lldx%lld k%lldx%lld s%lld,%lld p%lld,%lld,%lld,%lld d%lld,%lld "
             "n%d t%d",
             (long long)G, (long long)ci, (long long)co, (long long)h, (long long)w,
             (long long)kh, (long long)kw, (long long)sh, (long long)sw, (long long)pt,
             (long long)pl, (long long)pb, (long long)pr, (long long)dh, (long long)dw, n,
             threads);
    if (!gr_wanted(&g))
        fail_msg("%s: not taken by the grouped kernels", what);
    float *x = rnd(xs), *W = rnd(cout * ci * kk), *b = rnd(cout), *gy = rnd(ys), *r = rnd(ys);
    float *y = rnd(ys), *y0 = rnd(ys), *y3 = rnd(ys), *gx = rnd(xs);
    float *gW = rnd(cout * ci * kk), *gb = rnd(cout);
    for (int64_t i = 0; i < ys; i++)
        y[i] = NAN;   /* every output must be written */
    double *ry = calloc((size_t)ys, sizeof *ry), *rgx = calloc((size_t)xs, sizeof *rgx);
    double *rgW = calloc((size_t)(cout * ci * kk), sizeof *rgW);
    double *rgb = calloc((size_t)cout, sizeof *rgb);
    /* The gradients add onto gx, gW, gb. */
    for (int64_t i = 0; i < xs; i++)
        rgx[i] = gx[i];
    for (int64_t i = 0; i < cout * ci * kk; i++)
        rgW[i] = gW[i];
    for (int64_t i = 0; i < cout; i++)
        rgb[i] = gb[i];
    reference(&g, n, x, W, b, r, gy, ry, rgx, rgW, rgb);
    size_t wsn = gr_ws_floats(&g, threads);
    float *ws = malloc(wsn * sizeof *ws);
    for (size_t i = 0; i < wsn; i++)
        ws[i] = NAN;   /* the kernels must not read what they did not write */
    omp_set_num_threads(threads);
    gr_forward(&g, W, NULL, b, n, x, r, y, ws, threads, ACT_NO);
    double s, d = maxdiff(y, ry, ys, &s);
    if (!(d <= 1e-5 * s))
        fail_msg("forward %s: %g of %g", what, d, s);
    /* No residual; the fused ReLU and Clip as the ops on the stored values. */
    gr_forward(&g, W, NULL, b, n, x, NULL, y0, ws, threads, ACT_NO);
    for (int64_t i = 0; i < ys; i++)
        if (y0[i] + r[i] != y[i])
            fail_msg("forward %s at %lld: the residual is not added last", what, (long long)i);
    op_act acts[2] = { { ACT_RELU, 0.0f, 0.0f }, { ACT_CLIP, -0.25f, 0.5f } };
    for (int a = 0; a < 2; a++) {
        gr_forward(&g, W, NULL, b, n, x, r, y3, ws, threads, acts[a]);
        for (int64_t i = 0; i < ys; i++) {
            float v = act_apply(acts[a], y[i]);
            if (memcmp(&v, &y3[i], sizeof v))
                fail_msg("fused act %d %s at %lld: %.9g, not %.9g", acts[a].kind, what,
                         (long long)i, y3[i], v);
        }
    }
    gr_xgrad(&g, W, NULL, n, gy, gx, ws, threads);
    d = maxdiff(gx, rgx, xs, &s);
    if (!(d <= 1e-5 * s))
        fail_msg("input gradient %s: %g of %g", what, d, s);
    gr_wgrad(&g, n, x, gy, gW, gb, ws, threads);
    d = maxdiff(gW, rgW, cout * ci * kk, &s);
    if (!(d <= 1e-5 * s))
        fail_msg("weight gradient %s: %g of %g", what, d, s);
    d = maxdiff(gb, rgb, cout, &s);
    if (!(d <= 1e-5 * s))
        fail_msg("bias gradient %s: %g of %g", what, d, s);
    /* Weights packed once (the engine's cache) give the same bits. */
    float *wp = malloc(gr_packed_floats(&g) * sizeof *wp);
    gr_pack(&g, W, 0, wp);
    gr_forward(&g, W, wp, b, n, x, r, y3, ws, threads, ACT_NO);
    if (memcmp(y3, y, (size_t)ys * sizeof *y3))
        fail_msg("forward %s: packed weights differ", what);
    /* Batch and threads change nothing (issue 20): each image alone, on
     * one thread, gives the same bits as the batch. */
    float *gx1 = calloc((size_t)(xs / n), sizeof *gx1), *gxb = calloc((size_t)xs, sizeof *gxb);
    gr_pack(&g, W, 1, wp);
    gr_xgrad(&g, W, wp, n, gy, gxb, ws, threads);
    omp_set_num_threads(1);
    for (int i = 0; i < n; i++) {
        gr_forward(&g, W, NULL, b, 1, x + i * cin * h * w, r + i * per, y3, ws, 1, ACT_NO);
        if (memcmp(y3, y + i * per, (size_t)per * sizeof *y3))
            fail_msg("forward %s: image %d alone differs from the batch", what, i);
        memset(gx1, 0, (size_t)(xs / n) * sizeof *gx1);
        gr_xgrad(&g, W, NULL, 1, gy + i * per, gx1, ws, 1);
        if (memcmp(gx1, gxb + i * (xs / n), (size_t)(xs / n) * sizeof *gx1))
            fail_msg("input gradient %s: image %d alone differs from the batch", what, i);
    }
    omp_set_num_threads(threads);
    free(x), free(W), free(b), free(gy), free(r), free(y), free(y0), free(y3), free(gx);
    free(ry), free(rgx), free(ws), free(gx1), free(gxb), free(wp);
    free(gW), free(gb), free(rgW), free(rgb);
}

/* RegNet's layers in small: groups of 8, 3x3, pad 1, stride 1 and 2, map
 * widths around a vector (1..19: every tail), odd sizes at stride 2. */
static void test_grouped_regnet(void **state)
{
    (void)state;
    rng_seed(&R, 11);
    for (int64_t w = 1; w <= 19; w++) {
        check(3, 8, 8, 4 + w % 4, w, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1);
        check(2, 8, 8, 5 + w % 3, w, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3, 2);
    }
    /* Big enough that the threads split the groups. */
    check(13, 8, 8, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, 2);
    check(6, 8, 8, 29, 27, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 2);
    check(55, 8, 8, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, 2);
}

/* Other group widths (1-6, 8, 13 and 15 output channels; 1-9 and 16 input), pads 0
 * and 2 and asymmetric, dilation 2, stride 3 and mixed, other filters. */
static void test_grouped_edges(void **state)
{
    (void)state;
    rng_seed(&R, 12);
    check(4, 4, 4, 9, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, 2);
    check(3, 16, 15, 10, 13, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3, 2);
    check(2, 16, 8, 9, 9, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 2, 2);
    check(5, 3, 3, 11, 10, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1, 2, 2);
    check(2, 9, 1, 8, 13, 3, 3, 2, 2, 2, 0, 1, 2, 1, 1, 3, 1);
    check(3, 1, 2, 12, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2);
    check(2, 8, 8, 15, 18, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 3, 2);
    check(2, 8, 8, 15, 17, 3, 3, 2, 2, 2, 1, 2, 2, 2, 2, 3, 2);
    check(2, 5, 6, 17, 19, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 2, 2);
    check(2, 8, 8, 17, 19, 3, 3, 1, 2, 1, 0, 1, 2, 1, 1, 2, 2);
    check(3, 4, 8, 12, 14, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 2, 2);
    check(3, 8, 4, 13, 14, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 2, 2);
    check(2, 4, 8, 13, 11, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 2, 2);
    check(2, 4, 8, 14, 15, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 3, 2);
    check(2, 8, 8, 10, 11, 3, 5, 1, 2, 1, 2, 1, 2, 2, 1, 2, 2);
    check(3, 2, 2, 9, 8, 3, 3, 1, 1, 4, 3, 4, 5, 1, 1, 2, 2);
    /* Blocks of every width (AVX-512: 8 channels a block, AVX2: 4):
     * 13 = 8 + 5 and 5 output channels, 7 and 6 input channels (the
     * input gradient's blocks). */
    check(2, 7, 13, 11, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2);
    check(3, 6, 5, 10, 9, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grouped_regnet),
        cmocka_unit_test(test_grouped_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
