/* Unit tests of the Conv op through the engine (nn/ops/conv.c) against
 * direct loops in double: forward, input gradient, weight and bias
 * gradients, on each of its paths: the packed GEMM (pack.h; AVX-512, or
 * AVX2 in the v3 build) forced on, forced off (OpenBLAS), and chosen by
 * shape; 1x1 direct, im2col, transposed-convolution and col2im input
 * gradients, Winograd. Geometries leave every edge somewhere: output
 * channels that are not a multiple of the 12-row (AVX2: 6-row) panel,
 * output widths and chunks that are not a multiple of the 32-column (16)
 * panel (1..40 columns), K over several 256-row blocks, strides 1-3,
 * asymmetric pads and pads past the kernel's reach, dilation, groups, one
 * thread and two, one image and several. */
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
#include "nn/engine.h"
#include "nn/model.h"
#include "nn/ops/pack.h"

#include "near.h"

static rng R;

static tensor *rnd(int nd, int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t dims[4] = { a, b, c, d };
    tensor *t = tensor_new(nd, dims);
    for (int64_t i = 0; i < tensor_numel(t); i++)
        t->data[i] = (float)(rng_uniform(&R) * 2 - 1);
    return t;
}

typedef struct geo {
    int64_t cin, h, w, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, g;
} geo;

/* y, gx, gW, gb of n images in double by the definition. */
static void reference(const geo *q, int64_t oh, int64_t ow, int n, const float *x,
                      const float *W, const float *b, const float *gy, double *y, double *gx,
                      double *gW, double *gb)
{
    int64_t ci = q->cin / q->g, co = q->cout / q->g, kk = q->kh * q->kw;
    for (int i = 0; i < n; i++)
        for (int64_t o = 0; o < q->cout; o++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++) {
                    int64_t yi = ((i * q->cout + o) * oh + oy) * ow + ox;
                    double s = b[o], gv = gy[yi];
                    gb[o] += gv;
                    for (int64_t c = 0; c < ci; c++)
                        for (int64_t ki = 0; ki < q->kh; ki++)
                            for (int64_t kj = 0; kj < q->kw; kj++) {
                                int64_t iy = oy * q->sh - q->pt + ki * q->dh;
                                int64_t ix = ox * q->sw - q->pl + kj * q->dw;
                                if (iy < 0 || iy >= q->h || ix < 0 || ix >= q->w)
                                    continue;
                                int64_t xi = ((i * q->cin + o / co * ci + c) * q->h + iy) * q->w + ix;
                                int64_t wi = (o * ci + c) * kk + ki * q->kw + kj;
                                s += (double)W[wi] * x[xi];
                                gx[xi] += (double)W[wi] * gv;
                                gW[wi] += (double)x[xi] * gv;
                            }
                    y[yi] = s;
                }
}

static void compare(const char *what, const char *geo_s, const float *a, const double *b,
                    int64_t n)
{
    double s, d = maxdiff(a, b, n, &s);
    if (!(d <= 2e-5 * s))
        fail_msg("%s %s: %g of %g", what, geo_s, d, s);
}

/* NaN into every value of t (the engine's output, which it lends as const):
 * what a call leaves unwritten shows. */
static void poison(const tensor *t)
{
    for (int64_t i = 0; i < tensor_numel(t); i++)
        t->data[i] = NAN;
}

/* One convolution in every pack mode, n images, on `threads` threads. */
static void check(geo q, int n, int threads)
{
    int64_t oh = (q.h + q.pt + q.pb - q.dh * (q.kh - 1) - 1) / q.sh + 1;
    int64_t ow = (q.w + q.pl + q.pr - q.dw * (q.kw - 1) - 1) / q.sw + 1;
    int64_t ci = q.cin / q.g, kk = q.kh * q.kw;
    int64_t xs = n * q.cin * q.h * q.w, ys = n * q.cout * oh * ow, wl = q.cout * ci * kk;
    tensor *W = rnd(4, q.cout, ci, q.kh, q.kw), *b = rnd(1, q.cout, 0, 0, 0);
    tensor *x = rnd(4, n, q.cin, q.h, q.w), *gy = rnd(4, n, q.cout, oh, ow);
    for (int64_t i = 0; i < xs; i++)
        x->data[i] = (x->data[i] + 1) / 2;   /* pixels in [0,1] */
    double *ry = calloc((size_t)ys, sizeof *ry), *rgx = calloc((size_t)xs, sizeof *rgx);
    double *rgW = calloc((size_t)wl, sizeof *rgW), *rgb = calloc((size_t)q.cout, sizeof *rgb);
    reference(&q, oh, ow, n, x->data, W->data, b->data, gy->data, ry, rgx, rgW, rgb);
    char gs[200];
    snprintf(gs, sizeof gs,
             "cin%lld %lldx%lld cout%lld k%lldx%lld s%lld,%lld p%lld,%lld,%lld,%lld d%lld,%lld "
             "g%lld n%d t%d",
             (long long)q.cin, (long long)q.h, (long long)q.w, (long long)q.cout,
             (long long)q.kh, (long long)q.kw, (long long)q.sh, (long long)q.sw,
             (long long)q.pt, (long long)q.pl, (long long)q.pb, (long long)q.pr,
             (long long)q.dh, (long long)q.dw, (long long)q.g, n, threads);
    omp_set_num_threads(threads);
    for (int mode = -1; mode <= 1; mode++) {
        pk_set_mode(mode);
        model *m = model_new(q.cin, q.h, q.w);
        node *nd = model_add(m, "conv", "Conv", "input");
        double st[2] = { (double)q.sh, (double)q.sw }, dl[2] = { (double)q.dh, (double)q.dw };
        double pd[4] = { (double)q.pt, (double)q.pl, (double)q.pb, (double)q.pr };
        double gr[1] = { (double)q.g };
        node_set(nd, "stride", 2, st);
        node_set(nd, "dilation", 2, dl);
        node_set(nd, "pad", 4, pd);
        node_set(nd, "groups", 1, gr);
        node_add_weight(nd, "weight", tensor_clone(W));
        node_add_weight(nd, "bias", tensor_clone(b));
        char err[256];
        if (model_prepare(m, err, sizeof err))
            fail_msg("prepare %s: %s", gs, err);
        engine *e = engine_new(m, n, 0, 1);
        char gm[240];
        snprintf(gm, sizeof gm, "%s pack %s", gs, mode < 0 ? "auto" : mode ? "on" : "off");
        /* Twice: a second call must not depend on what the first left. */
        for (int rep = 0; rep < 2; rep++) {
            if (rep)
                poison(engine_output(e));   /* the second call writes every output */
            engine_forward(e, x);
            compare("forward", gm, engine_output(e)->data, ry, ys);
            engine_zero_wgrad(e);
            engine_backward(e, 0, gy, RULE_STANDARD, 1);
            compare("input gradient", gm, engine_input_grad(e)->data, rgx, xs);
            compare("weight gradient", gm, engine_wgrad(e, 0, 0)->data, rgW, wl);
            compare("bias gradient", gm, engine_wgrad(e, 0, 1)->data, rgb, q.cout);
        }
        engine_free(e);
        model_free(m);
    }
    pk_set_mode(-1);
    tensor_free(W), tensor_free(b), tensor_free(x), tensor_free(gy);
    free(ry), free(rgx), free(rgW), free(rgb);
}

#define G(cin, h, w, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, g)                            \
    ((geo){ cin, h, w, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, g })

/* Output channels 24..37 (panel tails of every length against 12 rows),
 * widths 1..40 (column tails against 32), 3x3 stride 1 and 2. */
static void test_conv_tails(void **state)
{
    (void)state;
    rng_seed(&R, 11);
    for (int64_t w = 1; w <= 40; w += 3)
        check(G(4, 3 + w % 3, w, 24 + w % 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1), 2, 2);
    for (int64_t c = 24; c <= 37; c++)
        check(G(5, 6, 7, c, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1), 1, c % 2 + 1);
    /* 1x1 stride 1 read where the input lies: columns 1..40 and 49
     * (one panel under 16, one over, two with a 17-column tail). */
    for (int64_t w = 1; w <= 40; w += 3)
        check(G(20 + w % 7, 1 + w % 2, w, 16 + w % 13, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1), 2, 2);
    check(G(64, 7, 7, 40, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1), 1, 2);
    /* K = Cin k^2 across several 256-row blocks, with a remainder. */
    check(G(61, 6, 9, 26, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1), 2, 2);
    check(G(300, 4, 5, 25, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1), 2, 2);
}

/* 1x1 (direct and padded or strided), strides 1-4, asymmetric pads and
 * pads past the kernel's reach, dilation, 5x5, 7x7 and 11x11 first
 * layers; output rows up to 64 wide (lowered whole) and wider. */
static void test_conv_edges(void **state)
{
    (void)state;
    rng_seed(&R, 12);
    check(G(40, 7, 9, 30, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1), 3, 2);
    check(G(40, 7, 9, 30, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1), 2, 2);
    check(G(40, 7, 9, 30, 1, 1, 1, 1, 1, 0, 2, 1, 1, 1, 1), 1, 2);
    check(G(8, 11, 13, 28, 3, 3, 3, 2, 2, 0, 1, 3, 1, 1, 1), 2, 2);
    check(G(8, 11, 13, 28, 3, 3, 1, 1, 4, 3, 4, 5, 1, 1, 1), 1, 1);
    check(G(8, 12, 14, 28, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1), 2, 2);
    check(G(3, 23, 21, 32, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1), 2, 2);
    check(G(3, 31, 29, 32, 11, 11, 4, 4, 2, 2, 2, 2, 1, 1, 1), 1, 2);
    check(G(24, 9, 10, 36, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1), 2, 2);
    /* rows of 8 outputs and more at strides 2 and 4 (the lowering's
     * vector blocks, the last one ending at the input's last float) */
    check(G(3, 9, 45, 20, 7, 7, 2, 2, 0, 0, 0, 0, 1, 1, 1), 2, 1);
    check(G(3, 9, 45, 20, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1), 1, 2);
    check(G(3, 13, 71, 20, 11, 11, 4, 4, 2, 2, 2, 2, 1, 1, 1), 1, 2);
    check(G(3, 15, 67, 20, 11, 11, 4, 4, 0, 0, 0, 0, 1, 1, 1), 2, 1);
    check(G(16, 7, 49, 20, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1), 2, 2);
    /* the same lowerings in output rows wider than 64 (above, lower_short's
     * rows built whole; here the cursor's runs), and short rows with
     * dilation and rows wholly in the padding */
    check(G(3, 9, 141, 20, 7, 7, 2, 2, 0, 0, 0, 0, 1, 1, 1), 1, 2);
    check(G(3, 9, 141, 20, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1), 1, 1);
    check(G(3, 13, 275, 20, 11, 11, 4, 4, 2, 2, 2, 2, 1, 1, 1), 1, 2);
    check(G(3, 15, 271, 20, 11, 11, 4, 4, 0, 0, 0, 0, 1, 1, 1), 1, 1);
    check(G(5, 4, 133, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1), 1, 2);
    check(G(8, 7, 8, 28, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1), 2, 2);
    check(G(8, 3, 4, 28, 3, 3, 1, 1, 4, 3, 4, 5, 1, 1, 1), 2, 1);
    check(G(8, 3, 4, 28, 3, 3, 2, 1, 4, 3, 4, 5, 1, 1, 1), 1, 2);
}

/* Groups (ResNeXt/AlexNet-like and RegNet-like), and 3x3 stride-1 layers
 * with 16+ channels on Winograd, large enough for several chunks. */
static void test_conv_groups_wino(void **state)
{
    (void)state;
    rng_seed(&R, 13);
    check(G(48, 9, 11, 72, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2), 2, 2);
    check(G(64, 8, 7, 64, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 4), 2, 2);
    check(G(48, 10, 9, 96, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 3), 2, 2);
    check(G(32, 29, 19, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1), 2, 2);
    check(G(24, 70, 66, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1), 1, 2);
}

/* Winograd's edges on every path (AVX-512: 16-tile vectors and 32-column
 * panels; AVX2: 8-tile vectors, 16-column panels): tiles per row 4..11
 * (vector tails of every length, widths not a multiple of 4: the output
 * transform's column tail), chunks that end mid-panel, pads 0, 1, 2 and
 * asymmetric (tiles reading past the image on each side), output
 * channels off the 12- and 6-row panels, accumulation of the input
 * gradient. Every shape has 32+ tiles an image, so runs by Winograd. */
static void test_conv_wino_tails(void **state)
{
    (void)state;
    rng_seed(&R, 14);
    for (int64_t w = 13; w <= 44; w += 3)
        check(G(16 + w % 5, 29 + w % 3, w, 17 + w % 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1),
              1 + w % 2, 1 + w % 2);
    check(G(20, 30, 18, 22, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1), 2, 2);
    check(G(20, 27, 19, 22, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1, 1), 1, 2);
    check(G(20, 28, 21, 19, 3, 3, 1, 1, 0, 2, 1, 0, 1, 1, 1), 2, 1);
    check(G(17, 30, 30, 29, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1), 3, 2);
    /* 16 tiles an image (14x14): by Winograd with 64 channels a side,
     * by im2col below (wino_worth) */
    check(G(64, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1), 2, 2);
    check(G(48, 14, 14, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1), 1, 2);
    /* A first (uncached) call makes U a block of output channels at a
     * time (2 MiB of it): 256 channels in, 100 out is blocks of 48, 48
     * and 4 (AVX-512; AVX2 54 and 46), and its input gradient's 100 in,
     * 256 out 144 and 112; the second call reads the whole cached U. */
    check(G(256, 16, 16, 100, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1), 1, 2);
    /* Batches of 16-tile images on two threads: 5 (an odd image left for
     * the threads together) and 13; 14x15 leaves a column tail in each
     * image's tiles. */
    check(G(64, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1), 5, 2);
    check(G(64, 14, 15, 72, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1), 13, 2);
}

/* The col2im input gradient (strides 2 and 3) with its scatter split by
 * bands of input rows (one image on two threads; a band may end inside a
 * channel: 3 and 5 channels), chunks whose rows share input rows, gy
 * copied into panels for chunks of 64 columns or fewer (7x7 and 5x9
 * planes) and read in place above that; the 1x1 input gradient's copy
 * of a short plane (gy no taller than W^T) and of several images. */
static void test_conv_col2im(void **state)
{
    (void)state;
    rng_seed(&R, 15);
    check(G(3, 29, 27, 20, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1), 1, 2);
    check(G(5, 17, 19, 24, 5, 5, 2, 2, 2, 1, 0, 2, 1, 1, 1), 1, 2);
    check(G(20, 14, 14, 40, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1), 1, 2);
    check(G(40, 14, 13, 20, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1), 2, 2);
    check(G(18, 14, 14, 36, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1), 1, 2);
    check(G(18, 10, 18, 36, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1), 3, 2);
    check(G(17, 16, 15, 22, 3, 3, 3, 2, 2, 0, 1, 3, 2, 1, 1), 1, 2);
    check(G(32, 13, 12, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2), 1, 2);
    check(G(48, 5, 7, 20, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1), 1, 2);
    check(G(48, 7, 7, 20, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1), 3, 2);
    check(G(40, 4, 9, 40, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1), 2, 1);
    /* Three chunks of one image on two threads: a round of two, then the
     * third's product split over both. */
    check(G(8, 58, 56, 20, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1), 1, 2);
    /* One image on two threads with fewer columns than output channels
     * (conv.c make_plan: the image one chunk, its product split by rows
     * of W; col2im: the chunk's product split by rows of W^T): 3x3
     * stride 2 and 1, 1x1 direct and stride 2, rows off the panel. */
    check(G(24, 9, 7, 75, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1), 1, 2);
    check(G(20, 5, 6, 43, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1), 1, 2);
    check(G(40, 7, 5, 77, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1), 1, 2);
    check(G(30, 8, 9, 61, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1), 1, 2);
    /* Several such images: an image a thread, the weights packed from
     * the second forward on; one thread. */
    check(G(24, 9, 7, 75, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1), 3, 2);
    check(G(40, 7, 5, 77, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1), 5, 2);
    check(G(20, 7, 7, 52, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1), 7, 2);
    check(G(30, 8, 9, 61, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1), 4, 1);
}

/* A prepared model of one convolution of geometry q (stride and pads;
 * no dilation or groups) with weight W and bias b (or NULL), both taken. */
static model *strided_model(geo q, tensor *W, tensor *b)
{
    model *m = model_new(q.cin, q.h, q.w);
    node *nd = model_add(m, "conv", "Conv", "input");
    double st[2] = { (double)q.sh, (double)q.sw };
    double pd[4] = { (double)q.pt, (double)q.pl, (double)q.pb, (double)q.pr };
    node_set(nd, "stride", 2, st);
    node_set(nd, "pad", 4, pd);
    node_add_weight(nd, "weight", W);
    if (b)
        node_add_weight(nd, "bias", b);
    char err[256];
    if (model_prepare(m, err, sizeof err))
        fail_msg("prepare: %s", err);
    return m;
}

/* One image's output and input gradient alone and first in a batch of
 * 3, bit for bit (issue 20), on two threads: through col2im (strides 2,
 * a 7x7 first layer) where one image runs its chunks in rounds over the
 * threads, or one chunk's product over both, and a batch an image per
 * thread, in the same chunks; a forward of one image with fewer columns
 * than output channels split by rows of W, a batch by images. */
static void invariant(geo q)
{
    int64_t oh = (q.h + q.pt + q.pb - q.kh) / q.sh + 1, ow = (q.w + q.pl + q.pr - q.kw) / q.sw + 1;
    int64_t xs = q.cin * q.h * q.w;
    omp_set_num_threads(2);
    model *m = strided_model(q, rnd(4, q.cout, q.cin, q.kh, q.kw), NULL);
    tensor *x = rnd(4, 3, q.cin, q.h, q.w), *gy = rnd(4, 3, q.cout, oh, ow);
    engine *e = engine_new(m, 3, 0, 1);
    engine_forward(e, x);   /* twice: the second on the weights kept packed */
    engine_forward(e, x);
    int64_t ys = q.cout * oh * ow;
    float *y3 = malloc((size_t)ys * sizeof *y3), *g3 = malloc((size_t)xs * sizeof *g3);
    memcpy(y3, engine_output(e)->data, (size_t)ys * sizeof *y3);
    engine_backward(e, 0, gy, RULE_STANDARD, 0);
    memcpy(g3, engine_input_grad(e)->data, (size_t)xs * sizeof *g3);
    x->dims[0] = gy->dims[0] = 1;
    engine_forward(e, x);
    const char *bad = memcmp(y3, engine_output(e)->data, (size_t)ys * sizeof *y3) ? "output" : NULL;
    engine_backward(e, 0, gy, RULE_STANDARD, 0);
    if (!bad && memcmp(g3, engine_input_grad(e)->data, (size_t)xs * sizeof *g3))
        bad = "input gradient";
    if (bad)
        fail_msg("cin%lld %lldx%lld cout%lld k%lld s%lld: the %s alone differs", (long long)q.cin,
                 (long long)q.h, (long long)q.w, (long long)q.cout, (long long)q.kh,
                 (long long)q.sh, bad);
    free(y3), free(g3);
    engine_free(e);
    model_free(m);
    tensor_free(x), tensor_free(gy);
}

static void test_conv_col2im_batch(void **state)
{
    (void)state;
    rng_seed(&R, 16);
    /* Planes of 512+ output columns: chunks of at least 256 (an image
     * smaller is one chunk). */
    invariant(G(24, 58, 56, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1));
    invariant(G(3, 112, 110, 32, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1));
    invariant(G(40, 56, 56, 64, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1));
    /* Fewer columns than output channels (a 7x7 map, resnet's last
     * stage): one image's product split by rows of W, a batch's not. */
    invariant(G(64, 14, 14, 96, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1));
    invariant(G(96, 7, 7, 128, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1));
    /* Products on OpenBLAS (pk_wanted: fewer than 16 rows, or K under
     * 16), which rounds a column by the call's shape: chunks fixed by the
     * geometry alone. 8 output channels; a 3-channel first layer's input
     * gradient (3 rows); MNIST's first layer (K = 9). */
    invariant(G(12, 40, 37, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1));
    invariant(G(12, 40, 37, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1));
    invariant(G(3, 48, 45, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1));
    invariant(G(1, 28, 28, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1));
}

/* The output of geometry q (weights W, bias b) on x, n images, 2 threads,
 * with the path that environment variable var turns off allowed or not
 * (CNN_CONV_IMPLICIT, CNN_CONV_DIRECT: "1" forces the direct one), into
 * y. */
static void forward_with(geo q, const tensor *W, const tensor *b, const tensor *x,
                         const char *var, const char *val, float *y, int64_t ys)
{
    setenv(var, val, 1);
    omp_set_num_threads(2);
    model *m = strided_model(q, tensor_clone(W), tensor_clone(b));
    engine *e = engine_new(m, (int)x->dims[0], 0, 1);
    engine_forward(e, x);
    poison(engine_output(e));   /* the second call must write every output */
    engine_forward(e, x);       /* the weights kept packed */
    memcpy(y, engine_output(e)->data, (size_t)ys * sizeof *y);
    engine_free(e);
    model_free(m);
    unsetenv(var);
}

/* Geometry q's forward of 3 images with var set to on and to "0" (each
 * check()ed against float64 with it forced on first), bit for bit. */
static void same_with(geo q, const char *var, const char *on, const char *what, size_t i)
{
    int64_t oh = (q.h + q.pt + q.pb - q.dh * (q.kh - 1) - 1) / q.sh + 1;
    int64_t ow = (q.w + q.pl + q.pr - q.dw * (q.kw - 1) - 1) / q.sw + 1, ys = 3 * q.cout * oh * ow;
    tensor *W = rnd(4, q.cout, q.cin, q.kh, q.kw), *b = rnd(1, q.cout, 0, 0, 0);
    tensor *x = rnd(4, 3, q.cin, q.h, q.w);
    float *yi = malloc((size_t)ys * sizeof *yi), *yl = malloc((size_t)ys * sizeof *yl);
    forward_with(q, W, b, x, var, on, yi, ys);
    forward_with(q, W, b, x, var, "0", yl, ys);
    if (memcmp(yi, yl, (size_t)ys * sizeof *yi))
        fail_msg("geometry %zu: the %s product differs from the lowered one", i, what);
    free(yi), free(yl);
    tensor_free(W), tensor_free(b), tensor_free(x);
}

/* The implicit path (stems: few input channels, kh kw >= 4 sh sw, output
 * rows of 32+ columns (AVX2: 16+), conv.c's conv_implicit): against the
 * float64 definition (check), and bit for bit against the lowered
 * product it replaces. Widths either side of whole panels, output
 * channels off the 12-row panel, strides 1-4 (3: the scalar phase split),
 * asymmetric pads, pads past the kernel's reach (rows wholly zero), K over
 * one 256-row block. */
static void test_conv_implicit(void **state)
{
    (void)state;
    rng_seed(&R, 17);
    static const geo gs[] = {
        { 3, 9, 69, 20, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1 },      /* ow 35 */
        { 3, 8, 64, 13, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1 },      /* ow 32 */
        { 1, 10, 99, 37, 7, 7, 2, 2, 3, 2, 1, 3, 1, 1, 1 },     /* ow 49, pads uneven */
        { 3, 7, 131, 64, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1 },     /* ow 66 */
        { 2, 6, 48, 25, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1 },      /* ow 48 */
        { 4, 5, 33, 30, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1 },      /* ow 31: AVX2 only */
        { 3, 6, 63, 16, 3, 3, 1, 1, 4, 4, 4, 3, 1, 1, 1 },      /* pads past the kernel */
        { 3, 13, 131, 24, 11, 11, 4, 4, 2, 2, 2, 2, 1, 1, 1 },  /* ow 32, alexnet's */
        { 3, 12, 190, 40, 9, 9, 3, 3, 1, 2, 3, 4, 1, 1, 1 },    /* stride 3 */
        { 4, 11, 70, 28, 9, 9, 2, 2, 4, 4, 4, 4, 1, 1, 1 },     /* K 324: two blocks */
        { 3, 11, 99, 17, 5, 5, 2, 1, 2, 2, 2, 2, 1, 1, 1 },     /* strides 2 x 1 */
    };
    for (size_t i = 0; i < sizeof gs / sizeof *gs; i++) {
        check(gs[i], 2, 1 + (int)(i % 2));
        same_with(gs[i], "CNN_CONV_IMPLICIT", "1", "implicit", i);
    }
}

/* The direct path (direct.h: strided convolutions, or any with
 * CNN_CONV_DIRECT=1): against the float64 definition and bit for bit
 * against the lowered product on the packed GEMM. Output widths 1..30
 * (tiles of 14 with AVX-512, 6 with AVX2, and every tail), output
 * channels off the 32- (16-) channel block, strides 1-4 and 2 x 1,
 * asymmetric pads and pads past the kernel's reach, dilation, K over one
 * and several 256-tap blocks (bias on the first, each later added on), a
 * 1x1 stride-2 read where the input lies, a 7x7 stride-2 stem; items
 * by output row (each thread padding the rows it reads) and by block
 * (one padded copy, weights past 768 KB). */
static void test_conv_direct(void **state)
{
    (void)state;
    rng_seed(&R, 19);
    static const geo gs[] = {
        { 5, 6, 7, 24, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1 },       /* ow 4, K 45: 2-row tiles */
        { 8, 9, 5, 20, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1 },       /* ow 3, oh 5 (AVX2 2 rows) */
        { 40, 9, 59, 37, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1 },     /* ow 30, K 360 */
        { 30, 5, 27, 33, 3, 3, 2, 2, 0, 1, 2, 0, 1, 1, 1 },     /* pads uneven */
        { 64, 6, 12, 48, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1 },     /* 1x1 in place, K 64 */
        { 300, 4, 28, 17, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1 },    /* 1x1, K 300, ow 14 */
        { 300, 7, 9, 40, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1 },     /* 1x1 stride 1, 2-row tiles */
        { 130, 14, 14, 96, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1 },   /* densenet's 1x1 */
        { 3, 9, 69, 20, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1 },      /* a stem, ow 35 */
        { 3, 13, 131, 24, 11, 11, 4, 4, 2, 2, 2, 2, 1, 1, 1 },  /* stride 4 */
        { 7, 12, 40, 19, 5, 5, 3, 3, 1, 2, 3, 4, 1, 1, 1 },     /* stride 3 */
        { 9, 11, 20, 35, 5, 5, 2, 1, 2, 2, 2, 2, 1, 1, 1 },     /* strides 2 x 1 */
        { 6, 10, 17, 16, 3, 3, 2, 2, 4, 4, 4, 3, 1, 1, 1 },     /* pads past the kernel */
        { 11, 14, 23, 40, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1 },    /* dilation 2 */
        { 16, 7, 9, 70, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1 },      /* stride 1 (forced) */
        /* by output row, each thread padding its own rows: 3 blocks,
         * 2-row tiles, 9 rows (the last item one row), 45 items split
         * inside the second image and inside a row's blocks */
        { 20, 9, 6, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
        /* weights past 768 KB: by block, one padded copy shared */
        { 512, 7, 7, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
    };
    for (size_t i = 0; i < sizeof gs / sizeof *gs; i++) {
        setenv("CNN_CONV_DIRECT", "1", 1);
        check(gs[i], 2, 1 + (int)(i % 2));
        unsetenv("CNN_CONV_DIRECT");
        same_with(gs[i], "CNN_CONV_DIRECT", "1", "direct", i);
    }
}

int main(void)
{
    setenv("CNN_PAR_FLOPS", "1", 1);   /* every product split, however small */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_tails),
        cmocka_unit_test(test_conv_edges),
        cmocka_unit_test(test_conv_groups_wino),
        cmocka_unit_test(test_conv_wino_tails),
        cmocka_unit_test(test_conv_col2im),
        cmocka_unit_test(test_conv_col2im_batch),
        cmocka_unit_test(test_conv_implicit),
        cmocka_unit_test(test_conv_direct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
