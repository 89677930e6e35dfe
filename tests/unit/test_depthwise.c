/* Unit tests of the depthwise convolution kernels (nn/ops/depthwise.c)
 * against direct loops in double: forward, input gradient and weight
 * gradient over geometries that leave every edge case somewhere: output
 * widths that are not multiples of a vector (1..40), strides 1, 2 and 3
 * in either direction, asymmetric pads larger than the kernel's reach,
 * dilation, 1x1, 3x3, 5x3, 5x5 and 7x7 filters, several images and
 * channels (not multiples of 8 or 16: the interleaved path's blocks), one thread
 * and several, the fused ReLU and Clip, each image alone against the
 * batch. */
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
#include "nn/ops/depthwise.h"

#include "near.h"
#include "rnd.h"

/* y, gx, gW, gb in double by the definition. */
static void reference(const dwgeo *g, int n, const float *x, const float *W, const float *b,
                      const float *gy, double *y, double *gx, double *gW, double *gb)
{
    int64_t kk = g->kh * g->kw;
    for (int i = 0; i < n; i++)
        for (int64_t c = 0; c < g->c; c++) {
            const float *xp = x + (i * g->c + c) * g->h * g->w, *w = W + c * kk;
            const float *gp = gy + (i * g->c + c) * g->oh * g->ow;
            double *gxp = gx + (i * g->c + c) * g->h * g->w;
            for (int64_t oy = 0; oy < g->oh; oy++)
                for (int64_t ox = 0; ox < g->ow; ox++) {
                    double s = b[c], gv = gp[oy * g->ow + ox];
                    gb[c] += gv;
                    for (int64_t ki = 0; ki < g->kh; ki++)
                        for (int64_t kj = 0; kj < g->kw; kj++) {
                            int64_t iy = oy * g->sh - g->pt + ki * g->dh;
                            int64_t ix = ox * g->sw - g->pl + kj * g->dw;
                            if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
                                continue;
                            s += (double)w[ki * g->kw + kj] * xp[iy * g->w + ix];
                            gxp[iy * g->w + ix] += (double)w[ki * g->kw + kj] * gv;
                            gW[c * kk + ki * g->kw + kj] += (double)xp[iy * g->w + ix] * gv;
                        }
                    y[((i * g->c + c) * g->oh + oy) * g->ow + ox] = s;
                }
        }
}

static void check(int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                  int64_t pt, int64_t pl, int64_t pb, int64_t pr, int64_t dh, int64_t dw, int n,
                  int threads)
{
    dwgeo g = { c, h, w, 0, 0, kh, kw, sh, sw, pt, pl, dh, dw };
    g.oh = (h + pt + pb - dh * (kh - 1) - 1) / sh + 1;
    g.ow = (w + pl + pr - dw * (kw - 1) - 1) / sw + 1;
    int64_t xs = n * c * h * w, ys = n * c * g.oh * g.ow, kk = kh * kw;
    float *x = rnd(xs), *W = rnd(c * kk), *b = rnd(c), *gy = rnd(ys);
    float *y = rnd(ys), *gx = rnd(xs), *gW = rnd(c * kk), *gb = rnd(c);
    for (int64_t i = 0; i < ys; i++)
        y[i] = NAN;   /* every output must be written */
    double *ry = calloc((size_t)ys, sizeof *ry), *rgx = calloc((size_t)xs, sizeof *rgx);
    double *rgW = calloc((size_t)(c * kk), sizeof *rgW), *rgb = calloc((size_t)c, sizeof *rgb);
    /* Accumulation: the kernels add onto what gx, gW, gb hold. */
    for (int64_t i = 0; i < xs; i++)
        rgx[i] = gx[i];
    for (int64_t i = 0; i < c * kk; i++)
        rgW[i] = gW[i];
    for (int64_t i = 0; i < c; i++)
        rgb[i] = gb[i];
    reference(&g, n, x, W, b, gy, ry, rgx, rgW, rgb);
    float *ws = malloc(dw_ws_floats(&g) * (size_t)threads * sizeof *ws);
    for (size_t i = 0; i < dw_ws_floats(&g) * (size_t)threads; i++)
        ws[i] = NAN;   /* the kernels must not read what they did not write */
    omp_set_num_threads(threads);
    dw_forward(&g, W, b, n, x, y, ws, threads, ACT_NO);
    /* A fused ReLU6 (and a Clip inside the values' range) as the Clip op
     * would on the stored values. */
    float *y3 = malloc((size_t)ys * sizeof *y3);
    op_act six = { ACT_CLIP, n % 2 ? -0.25f : 0.0f, n % 2 ? 0.5f : 6.0f };
    dw_forward(&g, W, b, n, x, y3, ws, threads, six);
    for (int64_t i = 0; i < ys; i++) {
        float c = y[i] < six.lo ? six.lo : y[i] > six.hi ? six.hi : y[i];
        if (memcmp(&c, &y3[i], sizeof c))
            fail_msg("fused clip at %lld: %.9g, not %.9g", (long long)i, y3[i], c);
    }
    /* A fused ReLU as the ReLU op: -0 and negatives to +0, NaN kept. */
    op_act relu = { ACT_RELU, 0.0f, 0.0f };
    dw_forward(&g, W, b, n, x, y3, ws, threads, relu);
    for (int64_t i = 0; i < ys; i++) {
        float r = act_apply(relu, y[i]);
        if (memcmp(&r, &y3[i], sizeof r))
            fail_msg("fused relu at %lld: %.9g, not %.9g", (long long)i, y3[i], r);
    }
    /* Batch and threads change nothing (issue 20): each image alone, on
     * one thread, gives the same bits as the batch. */
    for (int i = 0; i < n; i++) {
        int64_t per = c * g.oh * g.ow;
        omp_set_num_threads(1);
        dw_forward(&g, W, b, 1, x + i * c * h * w, y3, ws, 1, ACT_NO);
        omp_set_num_threads(threads);
        if (memcmp(y3, y + i * per, (size_t)per * sizeof *y3))
            fail_msg("image %d alone differs from the batch of %d on %d threads", i, n,
                     threads);
    }
    free(y3);
    dw_xgrad(&g, W, n, gy, gx, ws, threads);
    dw_wgrad(&g, n, x, gy, gW, gb, ws, threads);
    double s, d;
    char what[160];
    snprintf(what, sizeof what,
             "c%lld %lldx%lld k%lldx%lld s%lld,%lld p%lld,%lld,%lld,%lld d%lld,%lld n%d t%d",
             (long long)c, (long long)h, (long long)w, (long long)kh, (long long)kw,
             (long long)sh, (long long)sw, (long long)pt, (long long)pl, (long long)pb,
             (long long)pr, (long long)dh, (long long)dw, n, threads);
    d = maxdiff(y, ry, ys, &s);
    if (!(d <= 1e-5 * s))
        fail_msg("forward %s: %g of %g", what, d, s);
    d = maxdiff(gx, rgx, xs, &s);
    if (!(d <= 1e-5 * s))
        fail_msg("input gradient %s: %g of %g", what, d, s);
    d = maxdiff(gW, rgW, c * kk, &s);
    if (!(d <= 1e-5 * s))
        fail_msg("weight gradient %s: %g of %g", what, d, s);
    d = maxdiff(gb, rgb, c, &s);
    if (!(d <= 1e-5 * s))
        fail_msg("bias gradient %s: %g of %g", what, d, s);
    free(x), free(W), free(b), free(gy), free(y), free(gx), free(gW), free(gb);
    free(ry), free(rgx), free(rgW), free(rgb), free(ws);
}

static void test_depthwise_mobilenet(void **state)
{
    (void)state;
    rng_seed(&R, 7);
    /* MobileNet's: 3x3, pad 1, stride 1 and 2, every width 1..40 (tails
     * of every length, widths below a vector). */
    for (int64_t w = 1; w <= 40; w++) {
        check(3, 5 + w % 4, w, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2);
        check(3, 6 + w % 3, w, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 2);
    }
    /* Big enough that the threads split the planes. */
    check(32, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, 2);
    check(48, 29, 27, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 3);
}

static void test_depthwise_edges(void **state)
{
    (void)state;
    rng_seed(&R, 8);
    /* No padding, asymmetric padding, pads past the kernel's reach. */
    check(4, 9, 11, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 2, 1);
    check(4, 9, 11, 3, 3, 1, 1, 2, 0, 1, 3, 1, 1, 2, 2);
    check(4, 10, 13, 3, 3, 2, 2, 0, 1, 2, 0, 1, 1, 2, 2);
    check(3, 8, 9, 3, 3, 1, 1, 4, 3, 4, 5, 1, 1, 1, 2);
    /* Stride 3 and mixed strides; strides larger than the kernel. */
    check(5, 17, 19, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 2, 2);
    check(5, 17, 19, 3, 3, 1, 2, 1, 0, 1, 2, 1, 1, 2, 2);
    check(5, 17, 19, 3, 3, 2, 1, 0, 1, 2, 1, 1, 1, 2, 2);
    check(3, 16, 21, 1, 1, 4, 3, 0, 0, 0, 0, 1, 1, 2, 2);
    /* Other filters: 1x1, 5x3, 7x7, 2x2; dilation. */
    check(6, 12, 14, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 2, 2);
    check(6, 12, 14, 5, 3, 2, 1, 2, 1, 2, 1, 1, 1, 2, 2);
    check(2, 20, 23, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 2, 2);
    check(2, 9, 10, 2, 2, 2, 2, 0, 0, 1, 1, 1, 1, 2, 2);
    check(4, 15, 18, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2);
    check(4, 15, 18, 3, 3, 2, 3, 1, 3, 2, 0, 2, 3, 2, 2);
}

/* The channel-interleaved path's cases: channels not a multiple of 8 or
 * 16 (one block short, one full and one short, 16 whole), rows and columns that leave
 * every tail of a block of output pixels, asymmetric pads, stride 2 over
 * odd sizes, 3x3 and 5x5 (their own kernels) and other filters (the
 * generic one), a bias and the fused activations (check). */
static void test_depthwise_blocks(void **state)
{
    (void)state;
    rng_seed(&R, 9);
    for (int64_t c = 1; c <= 19; c += 3)
        for (int64_t w = 1; w <= 11; w += 2) {
            check(c, 7, w, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2);
            check(c, 9, w + 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 2);
            check(c, 9, w + 4, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 2, 2);
            check(c, 11, w + 4, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 2, 2);
        }
    /* Asymmetric pads (TF "same" at stride 2 pads the bottom/right only)
     * and pads past the filter's reach, each kernel. */
    check(13, 7, 7, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1, 3, 2);
    check(13, 15, 9, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1, 2, 2);
    check(11, 14, 14, 3, 3, 1, 1, 0, 2, 2, 0, 1, 1, 2, 2);
    check(11, 13, 17, 5, 5, 2, 2, 1, 2, 2, 1, 1, 1, 2, 2);
    check(9, 9, 8, 5, 5, 1, 1, 4, 0, 1, 5, 1, 1, 2, 2);
    check(17, 12, 13, 7, 7, 2, 2, 3, 2, 3, 4, 1, 1, 2, 2);
    check(10, 10, 11, 3, 5, 1, 2, 1, 2, 1, 2, 2, 1, 2, 2);
    /* MobileNet's and EfficientNet's late layers: several blocks, threads. */
    check(40, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, 2);
    check(36, 14, 14, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 2);
    check(24, 14, 14, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 2, 2);
    check(28, 15, 15, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 3, 2);
    /* The forward's bands of output rows, one a thread (cl_bands: 3x3
     * stride 2, 28 rows out or more; fewer than 16 columns out, so that
     * AVX-512 takes this path too): 29 rows over 3 threads (9, 10 and
     * 10), a band's first input row inside the one before's last (a halo
     * row); 30 rows over 2 with pads on one side only; 27 rows and a 5x5
     * filter, one band. */
    check(12, 57, 21, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 3);
    check(9, 60, 13, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1, 2, 2);
    check(9, 54, 13, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 3);
    check(20, 58, 15, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 1, 3);
}

/* The row path's cases (3x3, outputs of 16 columns or more, stride 1 or
 * 2 (AVX2: 1), no dilation): every tail of a vector of 16 (widths
 * 16..49), pads of 0 to past the filter's reach on either side (masked
 * loads, rows of zeros; stride 2's split buffer), the threads' runs of
 * planes (a plane's next), rows by 4 and the rest; beside them the same
 * widths through the interleaved path (1x1, 5x5, 7x7, 3x5), which takes
 * every plane below 16 columns (test_depthwise_blocks). */
static void test_depthwise_rows(void **state)
{
    (void)state;
    rng_seed(&R, 10);
    for (int64_t w = 16; w <= 49; w++) {
        check(3, 4 + w % 5, w, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2);
        check(3, 7 + w % 4, 2 * w + w % 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 2);
        check(2, 6, w + 4, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1, 2);
        check(2, 9, 2 * w + 3, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2);
    }
    check(5, 9, 20, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 2, 2);
    check(5, 9, 20, 3, 3, 1, 1, 3, 4, 2, 5, 1, 1, 2, 2);
    check(5, 11, 37, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1, 2, 2);
    check(5, 11, 37, 3, 3, 2, 2, 3, 4, 0, 2, 1, 1, 2, 3);
    check(4, 13, 40, 7, 7, 1, 1, 3, 3, 3, 3, 1, 1, 2, 2);
    check(4, 13, 41, 7, 7, 2, 2, 3, 2, 4, 3, 1, 1, 2, 2);
    check(4, 10, 33, 3, 5, 1, 1, 1, 2, 1, 2, 1, 1, 2, 2);
    check(4, 10, 33, 3, 5, 2, 2, 1, 2, 1, 2, 1, 1, 2, 2);
    check(4, 8, 30, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 2, 2);
    check(4, 8, 30, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 2, 2);
    /* MobileNet's shapes, several planes per thread. */
    check(19, 56, 56, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2);
    check(21, 112, 112, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 3);
    check(17, 28, 28, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 3, 2);
    /* One image over 3 threads, 21 rows (groups of 4 and rows one by
     * one), stride 2 with a pad on one side only. */
    check(5, 21, 37, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3);
    check(5, 26, 45, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 3);
    check(6, 17, 33, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1, 2, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depthwise_mobilenet),
        cmocka_unit_test(test_depthwise_edges),
        cmocka_unit_test(test_depthwise_blocks),
        cmocka_unit_test(test_depthwise_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
