/* Unit tests of the model and the engine: finite-difference gradient checks
 * (input and weights) on small random nets covering every op, the model
 * file round trip, malformed graphs, dropout in training. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cli.h"
#include "nn/arena.h"
#include "nn/engine.h"
#include "nn/model.h"
#include "nn/ops.h"

static tensor *rand_tensor(rng *r, int nd, const int64_t *dims, double scale, double shift)
{
    tensor *t = tensor_new(nd, dims);
    for (int64_t i = 0; i < tensor_numel(t); i++)
        t->data[i] = (float)(shift + scale * rng_normal(r));
    return t;
}

static void add_w(node *n, rng *r, const char *name, int nd, int64_t a, int64_t b, int64_t c,
                  int64_t d, double scale, double shift)
{
    int64_t dims[4] = { a, b, c, d };
    node_add_weight(n, name, rand_tensor(r, nd, dims, scale, shift));
}

/* m prepared (the test fails with the reason if it cannot be). */
static model *prepared(model *m)
{
    char err[512];
    if (model_prepare(m, err, sizeof err))
        fail_msg("%s", err);
    return m;
}

/* Net 1, a chain through the spatial ops. */
static model *net_chain(void)
{
    rng r;
    rng_seed(&r, 11);
    model *m = model_new(3, 11, 9);
    m->mean[0] = 0.4f, m->mean[1] = 0.5f, m->mean[2] = 0.45f;
    m->std[0] = 0.2f, m->std[1] = 0.3f, m->std[2] = 0.25f;
    m->bgr = 1;
    node *n = model_add(m, "conv1", "Conv", "input");
    double st[2] = { 2, 1 }, pad[4] = { 1, 0, 2, 1 };
    node_set(n, "stride", 2, st);
    node_set(n, "pad", 4, pad);
    add_w(n, &r, "weight", 4, 6, 3, 3, 3, 0.4, 0);
    add_w(n, &r, "bias", 1, 6, 0, 0, 0, 0.1, 0);
    n = model_add(m, "bn", "BatchNorm", NULL);
    add_w(n, &r, "gamma", 1, 6, 0, 0, 0, 0.1, 1);
    add_w(n, &r, "beta", 1, 6, 0, 0, 0, 0.1, 0);
    add_w(n, &r, "mean", 1, 6, 0, 0, 0, 0.1, 0);
    add_w(n, &r, "var", 1, 6, 0, 0, 0, 0.1, 1);
    n = model_add(m, "leaky", "LeakyReLU", NULL);
    node_set1(n, "alpha", 0.1);
    n = model_add(m, "lrn", "LRN", NULL);
    node_set1(n, "size", 3);
    node_set1(n, "alpha", 0.3);
    node_set1(n, "k", 1.5);
    n = model_add(m, "pool", "MaxPool", NULL);
    double k3[1] = { 3 }, s2[1] = { 2 }, p1[1] = { 1 };
    node_set(n, "kernel", 1, k3);
    node_set(n, "stride", 1, s2);
    node_set(n, "pad", 1, p1);
    node_set1(n, "ceil_mode", 1);
    n = model_add(m, "conv2", "Conv", NULL);
    node_set1(n, "groups", 2);
    double dil[2] = { 2, 1 }, p2[2] = { 2, 1 };
    node_set(n, "dilation", 2, dil);
    node_set(n, "pad", 2, p2);
    add_w(n, &r, "weight", 4, 4, 3, 3, 3, 0.4, 0);
    n = model_add(m, "clip", "Clip", NULL);
    node_set1(n, "min", 0);
    node_set1(n, "max", 0.8);
    n = model_add(m, "avg", "AvgPool", NULL);
    double k2[2] = { 2, 2 }, pa[4] = { 1, 0, 0, 1 };
    node_set(n, "kernel", 2, k2);
    node_set(n, "pad", 4, pa);
    node_set1(n, "stride", 1);
    n = model_add(m, "flat", "Flatten", NULL);
    n = model_add(m, "drop", "Dropout", NULL);
    node_set1(n, "ratio", 0.5);
    /* Dense's input size follows from the shapes above: prepare to learn it. */
    prepared(m);
    int64_t din = m->nodes[m->n - 1].shape[0];
    n = model_add(m, "fc", "Dense", NULL);
    add_w(n, &r, "weight", 2, 5, din, 0, 0, 0.3, 0);
    add_w(n, &r, "bias", 1, 5, 0, 0, 0, 0.1, 0);
    n = model_add(m, "sig", "Sigmoid", NULL);
    return prepared(m);
}

/* Net 2, a DAG: 1x1 conv, depthwise conv, Tanh, ReLU, Add, Concat,
 * GlobalAvgPool, Dense, Softmax. */
static model *net_dag(void)
{
    rng r;
    rng_seed(&r, 12);
    model *m = model_new(2, 6, 7);
    node *n = model_add(m, "c1", "Conv", "input");
    add_w(n, &r, "weight", 4, 4, 2, 1, 1, 0.5, 0);
    add_w(n, &r, "bias", 1, 4, 0, 0, 0, 0.1, 0);
    n = model_add(m, "r1", "ReLU", NULL);
    n = model_add(m, "dw", "Conv", "r1");
    node_set1(n, "groups", 4);
    node_set1(n, "pad", 1);
    add_w(n, &r, "weight", 4, 4, 1, 3, 3, 0.5, 0);
    n = model_add(m, "t", "Tanh", "dw");
    n = model_add(m, "c3", "Conv", "input");
    double pd[2] = { 1, 0 };
    node_set(n, "pad", 2, pd);
    double ks[2] = { 3, 1 };
    node_set(n, "kernel", 2, ks);
    add_w(n, &r, "weight", 4, 4, 2, 3, 1, 0.5, 0);
    n = model_add(m, "sum", "Add", "t,r1,c3");
    n = model_add(m, "cat", "Concat", "sum,t,sum");
    n = model_add(m, "gap", "GlobalAvgPool", NULL);
    n = model_add(m, "fc", "Dense", NULL);
    add_w(n, &r, "weight", 2, 6, 12, 0, 0, 0.5, 0);
    n = model_add(m, "sm", "Softmax", NULL);
    return prepared(m);
}

/* The ops ShuffleNet, ConvNeXt and upsampling nets bring: LayerNorm over
 * channels, ChannelShuffle, ChannelSlice, InstanceNorm, ConvTranspose,
 * Resize, a dilated MaxPool. */
static model *net_views(void)
{
    rng r;
    rng_seed(&r, 13);
    model *m = model_new(2, 5, 6);
    node *n = model_add(m, "c1", "Conv", "input");
    node_set1(n, "pad", 1);
    add_w(n, &r, "weight", 4, 4, 2, 3, 3, 0.5, 0);
    n = model_add(m, "ln", "LayerNorm", NULL);
    add_w(n, &r, "gamma", 1, 4, 0, 0, 0, 0.2, 1);
    add_w(n, &r, "beta", 1, 4, 0, 0, 0, 0.2, 0);
    n = model_add(m, "sh", "ChannelShuffle", NULL);
    node_set1(n, "groups", 2);
    n = model_add(m, "s1", "ChannelSlice", "sh");
    node_set1(n, "start", 1);
    node_set1(n, "end", 4);
    /* InstanceNorm ignores a per-channel affine map of its input: a Tanh
     * between keeps LayerNorm's weights visible */
    model_add(m, "t", "Tanh", NULL);
    n = model_add(m, "in", "InstanceNorm", NULL);
    add_w(n, &r, "gamma", 1, 3, 0, 0, 0, 0.2, 1);
    add_w(n, &r, "beta", 1, 3, 0, 0, 0, 0.2, 0);
    n = model_add(m, "up", "ConvTranspose", NULL);
    node_set1(n, "stride", 2);
    node_set1(n, "pad", 1);
    add_w(n, &r, "weight", 4, 3, 2, 3, 3, 0.5, 0);
    add_w(n, &r, "bias", 1, 2, 0, 0, 0, 0.1, 0);
    n = model_add(m, "rs", "Resize", NULL);
    double sz[2] = { 7, 13 };
    node_set(n, "size", 2, sz);
    node_set1(n, "mode", 1);
    n = model_add(m, "mp", "MaxPool", NULL);
    node_set1(n, "kernel", 2);
    node_set1(n, "stride", 2);
    node_set1(n, "dilation", 2);
    n = model_add(m, "fc", "Dense", NULL);
    add_w(n, &r, "weight", 2, 3, 2 * 3 * 6, 0, 0, 0.5, 0);
    return prepared(m);
}

/* Net 3, the ops of today's CNNs (ops/nonlin.c, ops/binary.c,
 * ops/reduce.c): rectifiers, an SE gate (C x H x W times C x 1 x 1), a
 * 1 x H x W map broadcast over channels, Div, GlobalMaxPool, LogSoftmax. */
static model *net_modern(void)
{
    rng r;
    rng_seed(&r, 13);
    model *m = model_new(2, 5, 6);
    node *n = model_add(m, "c1", "Conv", "input");
    add_w(n, &r, "weight", 4, 4, 2, 1, 1, 0.8, 0);
    add_w(n, &r, "bias", 1, 4, 0, 0, 0, 0.2, 0);
    model_add(m, "silu", "SiLU", "c1");
    model_add(m, "gelu", "GELU", "c1");
    model_add(m, "hsw", "HardSwish", "c1");
    n = model_add(m, "elu", "Elu", "c1");
    node_set1(n, "alpha", 0.6);
    n = model_add(m, "prelu", "PRelu", "c1");
    add_w(n, &r, "slope", 1, 4, 0, 0, 0, 0.2, 0.2);
    model_add(m, "sp", "Softplus", "c1");
    model_add(m, "gap", "GlobalAvgPool", "silu");
    n = model_add(m, "hsig", "HardSigmoid", "gap");
    node_set1(n, "alpha", 0.3);
    model_add(m, "se", "Mul", "gelu,hsig");
    n = model_add(m, "c2", "Conv", "hsw");
    add_w(n, &r, "weight", 4, 1, 4, 1, 1, 0.5, 0);
    model_add(m, "sub", "Sub", "se,c2");
    model_add(m, "q", "Div", "prelu,sp");
    model_add(m, "selu", "Selu", "c1");
    model_add(m, "mish", "Mish", "c1");
    model_add(m, "mean", "Mean", "selu,gap");   /* 4x5x6 with 4x1x1 */
    model_add(m, "mx", "Max", "mish,hsig,mean");
    model_add(m, "mn", "Min", "mx,sp");
    model_add(m, "sum", "Add", "sub,q,elu,mn");
    model_add(m, "gmp", "GlobalMaxPool", "sum");
    n = model_add(m, "fc", "Dense", "gmp");
    add_w(n, &r, "weight", 2, 3, 4, 0, 0, 0.5, 0);
    model_add(m, "lsm", "LogSoftmax", NULL);
    return prepared(m);
}

static tensor *rand_input(const model *m, int n, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    tensor *x = tensor_new4(n, m->in_shape[0], m->in_shape[1], m->in_shape[2]);
    for (int64_t i = 0; i < tensor_numel(x); i++)
        x->data[i] = (float)rng_uniform(&r);
    return x;
}

/* L = sum(seed * output of node `at`), in double. */
static double loss(engine *e, const tensor *x, int at, const tensor *seed)
{
    engine_forward_upto(e, x, at);
    const tensor *y = engine_act(e, at);
    double s = 0;
    for (int64_t i = 0; i < tensor_numel(y); i++)
        s += (double)y->data[i] * seed->data[i];
    return s;
}

/* *v = val; a weight of w (NULL: v is an input) changed in place is
 * announced, so that the engine drops what it made from it (packed
 * weights). */
static void fd_put(model *w, float *v, float val)
{
    *v = val;
    if (w)
        model_weights_changed(w);
}

/* The central difference of the loss in *v (an input pixel, or a weight
 * of w) into *fd. Returns 1, leaving it, where the one-sided differences
 * disagree: a kink (ReLU at 0, a max-pool switch changing) lies within h
 * and no derivative is defined there. */
static int fd_at(engine *e, model *w, float *v, const tensor *x, int at, const tensor *seed,
                 double h, double scale, double *fd)
{
    float v0 = *v;
    double l0 = loss(e, x, at, seed);
    fd_put(w, v, v0 + (float)h);
    double lp = loss(e, x, at, seed);
    fd_put(w, v, v0 - (float)h);
    double lm = loss(e, x, at, seed);
    fd_put(w, v, v0);
    double dp = (lp - l0) / h, dm = (l0 - lm) / h;
    *fd = (lp - lm) / (2 * h);
    return fabs(dp - dm) > 0.05 * scale;
}

/* Central differences on float32 values: compare against the analytic
 * gradient with a tolerance relative to the gradient's scale. */
static void fd_check(model *m, int at, int nb)
{
    engine *e = engine_new(m, nb, 0, 1);
    tensor *x = rand_input(m, nb, 5);
    engine_forward(e, x);
    rng r;
    rng_seed(&r, 9);
    const tensor *y = engine_act(e, at);
    tensor *seed = rand_tensor(&r, y->ndim, y->dims, 1, 0);
    engine_zero_wgrad(e);
    engine_backward(e, at, seed, RULE_STANDARD, 1);
    tensor *gx = tensor_clone(engine_input_grad(e));
    const double h = 1e-3;
    double worst = 0, scale = 1e-3;
    for (int64_t i = 0; i < tensor_numel(gx); i++)
        scale = fmax(scale, fabs(gx->data[i]));
    int kinks = 0;
    for (int t = 0; t < 40; t++) {
        int64_t i = (int64_t)rng_below(&r, (uint64_t)tensor_numel(x));
        double fd;
        if (fd_at(e, NULL, x->data + i, x, at, seed, h, scale, &fd)) {
            kinks++;
            continue;
        }
        worst = fmax(worst, fabs(fd - gx->data[i]) / scale);
    }
    if (worst > 1e-2 || kinks > 8)
        fail_msg("input gradient: finite differences disagree by %.3g of the scale (%d kinks)",
                 worst, kinks);
    /* Weights: a few entries of every weight of every ancestor. */
    for (int nd = 0; nd <= at; nd++)
        for (int k = 0; k < m->nodes[nd].nw; k++) {
            const char *wn = m->nodes[nd].wnames[k];
            if (!strcmp(wn, "mean") || !strcmp(wn, "var"))
                continue;       /* frozen statistics: zero by design */
            tensor *w = m->nodes[nd].w[k];
            tensor *gw = engine_wgrad(e, nd, k);
            double ws = 1e-3, wworst = 0;
            for (int64_t j = 0; j < tensor_numel(gw); j++)
                ws = fmax(ws, fabs(gw->data[j]));
            int wk = 0;
            for (int t = 0; t < 12; t++) {
                int64_t j = (int64_t)rng_below(&r, (uint64_t)tensor_numel(w));
                double fd;
                if (fd_at(e, m, w->data + j, x, at, seed, h, ws, &fd)) {
                    wk++;
                    continue;
                }
                wworst = fmax(wworst, fabs(fd - gw->data[j]) / ws);
            }
            if (wworst > 1e-2 || wk > 3)
                fail_msg("node %s weight %s: finite differences disagree by %.3g of the scale",
                         m->nodes[nd].name, wn, wworst);
        }
    tensor_free(gx);
    tensor_free(seed);
    tensor_free(x);
    engine_free(e);
}

/* 3x3 stride-1 convolutions with 16+ channels run by Winograd F(4x4,3x3)
 * (ops/winograd.c; on OpenBLAS without AVX-512): forward and input
 * gradient against direct loops in double, over odd and even sizes,
 * symmetric, asymmetric and no padding, several images. */
static void test_winograd(void **state)
{
    (void)state;
    static const int64_t geo[][8] = {
        /* cin, cout, h, w, pad t, l, b, r */
        { 16, 16, 18, 14, 1, 1, 1, 1 }, { 17, 19, 9, 12, 2, 0, 1, 1 },
        { 24, 16, 11, 13, 0, 0, 0, 0 }, { 32, 20, 30, 41, 1, 1, 1, 1 },
        { 16, 33, 3, 3, 2, 2, 2, 2 },   { 16, 16, 130, 70, 1, 1, 1, 1 },
    };
    for (size_t gi = 0; gi < sizeof geo / sizeof geo[0]; gi++) {
        const int64_t *q = geo[gi];
        int64_t ci = q[0], co = q[1], h = q[2], w = q[3], pt = q[4], pl = q[5];
        int64_t oh = h + pt + q[6] - 2, ow = w + pl + q[7] - 2;
        rng r;
        rng_seed(&r, 40 + gi);
        model *m = model_new(ci, h, w);
        node *n = model_add(m, "c", "Conv", "input");
        double pad[4] = { (double)pt, (double)pl, (double)q[6], (double)q[7] };
        node_set(n, "pad", 4, pad);
        add_w(n, &r, "weight", 4, co, ci, 3, 3, 0.3, 0);
        if (gi % 2 == 0)
            add_w(n, &r, "bias", 1, co, 0, 0, 0, 0.5, 0);
        prepared(m);
        /* 5 images: a chunk per thread; 1: the threads on each chunk
         * together (the 130 x 70 image has two chunks); too few 4x4 tiles
         * (the 9 x 12 image, and 5 images of 3 x 3): im2col. Partial
         * tiles at the right and bottom edges in most. */
        const int nb = gi % 2 ? 1 : 5;
        engine *e = engine_new(m, nb, 0, 1);
        tensor *x = rand_input(m, nb, 7 + gi);
        engine_forward(e, x);
        const tensor *y = engine_act(e, 0);
        tensor *seed = rand_tensor(&r, y->ndim, y->dims, 1, 0);
        engine_backward(e, 0, seed, RULE_STANDARD, 0);
        const tensor *gx = engine_input_grad(e);
        const float *W = n->w[0]->data, *B = n->nw > 1 ? n->w[1]->data : NULL;
        double *ry = calloc((size_t)(nb * co * oh * ow), sizeof *ry);
        double *rg = calloc((size_t)(nb * ci * h * w), sizeof *rg);
        for (int i = 0; i < nb; i++)
            for (int64_t o = 0; o < co; o++)
                for (int64_t oy = 0; oy < oh; oy++)
                    for (int64_t ox = 0; ox < ow; ox++) {
                        int64_t yi = ((i * co + o) * oh + oy) * ow + ox;
                        double s = B ? B[o] : 0;
                        for (int64_t c = 0; c < ci; c++)
                            for (int ki = 0; ki < 3; ki++)
                                for (int kj = 0; kj < 3; kj++) {
                                    int64_t iy = oy - pt + ki, ix = ox - pl + kj;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                        continue;
                                    int64_t xi = ((i * ci + c) * h + iy) * w + ix;
                                    double wv = W[((o * ci + c) * 3 + ki) * 3 + kj];
                                    s += wv * x->data[xi];
                                    rg[xi] += wv * seed->data[yi];
                                }
                        ry[yi] = s;
                    }
        double ys = 0, gs = 0, ye = 0, ge = 0;
        for (int64_t k = 0; k < nb * co * oh * ow; k++)
            ys = fmax(ys, fabs(ry[k])), ye = fmax(ye, fabs(ry[k] - y->data[k]));
        for (int64_t k = 0; k < nb * ci * h * w; k++)
            gs = fmax(gs, fabs(rg[k])), ge = fmax(ge, fabs(rg[k] - gx->data[k]));
        if (ye > 1e-5 * ys || ge > 1e-5 * gs)
            fail_msg("geometry %zu: forward off by %.3g of %.3g, input gradient by %.3g of %.3g",
                     gi, ye, ys, ge, gs);
        free(ry);
        free(rg);
        tensor_free(seed);
        tensor_free(x);
        engine_free(e);
        model_free(m);
    }
}

/* 2x2 max-pool (the vectorised path where windows lie inside the plane)
 * against loops: ties (values from a set of four), NaN, -inf, 16 outputs
 * per row and a tail, an odd width (the last column unused); the switches
 * through the input gradient. */
/* A prepared model of one 2x2 pool (op: MaxPool or AvgPool; stride 2,
 * the default) on C x H x W. */
static model *pool2x2_model(const char *op, int64_t C, int64_t H, int64_t W)
{
    model *m = model_new(C, H, W);
    node *n = model_add(m, "p", op, "input");
    double k[2] = { 2, 2 };
    node_set(n, "kernel", 2, k);
    prepared(m);
    return m;
}

static void test_maxpool(void **state)
{
    (void)state;
    const int64_t C = 3, H = 7, W = 37, OH = 3, OW = 18;
    model *m = pool2x2_model("MaxPool", C, H, W);
    engine *e = engine_new(m, 2, 0, 1);
    int64_t dims[4] = { 2, C, H, W };
    tensor *x = tensor_new(4, dims);
    rng r;
    rng_seed(&r, 3);
    for (int64_t i = 0; i < tensor_numel(x); i++) {
        double u = rng_uniform(&r);
        x->data[i] = u < 0.03 ? NAN : u < 0.06 ? -INFINITY : (float)(int)(4 * rng_uniform(&r)) - 1;
    }
    for (int64_t i = 0; i < 4; i++) /* one window all -inf */
        x->data[(i / 2) * W + i % 2] = -INFINITY;
    engine_forward(e, x);
    const tensor *y = engine_act(e, 0);
    int64_t ydims[4] = { 2, C, OH, OW };
    tensor *seed = tensor_new(4, ydims);
    for (int64_t i = 0; i < tensor_numel(seed); i++)
        seed->data[i] = (float)(i + 1);
    engine_backward(e, 0, seed, RULE_STANDARD, 0);
    const tensor *gx = engine_input_grad(e);
    double *rg = calloc((size_t)tensor_numel(x), sizeof *rg);
    for (int64_t pl = 0; pl < 2 * C; pl++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                const float *xp = x->data + pl * H * W;
                float best = -INFINITY;
                int64_t arg = 2 * oy * W + 2 * ox, nan = -1;
                for (int64_t dy = 0; dy < 2; dy++)
                    for (int64_t dx = 0; dx < 2; dx++) {
                        int64_t i = (2 * oy + dy) * W + 2 * ox + dx;
                        if (xp[i] > best)
                            best = xp[i], arg = i;
                        if (nan < 0 && isnan(xp[i]))
                            nan = i;
                    }
                if (nan >= 0)
                    best = xp[nan], arg = nan;
                int64_t yi = (pl * OH + oy) * OW + ox;
                float got = y->data[yi];
                assert_true(isnan(best) ? isnan(got) : got == best);
                rg[pl * H * W + arg] += seed->data[yi];
            }
    for (int64_t i = 0; i < tensor_numel(x); i++)
        assert_true(gx->data[i] == (float)rg[i]);
    engine *f = engine_new(m, 2, 0, 1);   /* forward only: no switches */
    engine_forward_only(f, NULL, 0);
    engine_forward(f, x);
    assert_memory_equal(engine_output(f)->data, y->data, (size_t)tensor_numel(y) * sizeof *y->data);
    engine_free(f);
    free(rg);
    tensor_free(seed);
    tensor_free(x);
    engine_free(e);
    model_free(m);
}

/* The 2x2 stride-2 average pool's vector rows (16 or 8 outputs a step,
 * then single ones): widths 2..41 (every tail, an odd last column
 * unused), odd heights, -0, inf and NaN: bit for bit the sum in scan
 * order from +0, times 1/4, as the scalar loop; the input gradient
 * 0 + g / 4 in each window, 0 outside them. */
static void test_avgpool_2x2(void **state)
{
    (void)state;
    for (int64_t W = 2; W <= 41; W++) {
        const int64_t C = 2, H = 5 + W % 2, OH = H / 2, OW = W / 2;
        model *m = pool2x2_model("AvgPool", C, H, W);
        engine *e = engine_new(m, 1, 0, 1);
        int64_t dims[4] = { 1, C, H, W };
        tensor *x = tensor_new(4, dims);
        rng r;
        rng_seed(&r, 5 + (uint64_t)W);
        for (int64_t i = 0; i < tensor_numel(x); i++) {
            double u = rng_uniform(&r);
            x->data[i] = u < 0.02   ? NAN
                         : u < 0.04 ? INFINITY
                         : u < 0.3  ? -0.0f
                                    : (float)(rng_uniform(&r) - 0.5);
        }
        engine_forward(e, x);
        const float *y = engine_output(e)->data;
        for (int64_t c = 0; c < C; c++)
            for (int64_t oy = 0; oy < OH; oy++)
                for (int64_t ox = 0; ox < OW; ox++) {
                    const float *p = x->data + (c * H + 2 * oy) * W + 2 * ox;
                    float s = 0;
                    s += p[0];
                    s += p[1];
                    s += p[W];
                    s += p[W + 1];
                    s *= 0.25f;
                    float got = y[(c * OH + oy) * OW + ox];
                    if (!(isnan(s) ? isnan(got) : got == s && signbit(got) == signbit(s)))
                        fail_msg("W %lld (%lld, %lld): %g against %g", (long long)W,
                                 (long long)oy, (long long)ox, got, s);
                }
        /* backward: each window's four inputs get 0 + g / 4 */
        int64_t gd[4] = { 1, C, OH, OW };
        tensor *gy = tensor_new(4, gd);
        for (int64_t i = 0; i < tensor_numel(gy); i++)
            gy->data[i] = i % 7 == 3 ? -0.0f : (float)(rng_uniform(&r) - 0.5);
        engine_backward(e, 0, gy, RULE_STANDARD, 0);
        const float *gx = engine_input_grad(e)->data;
        for (int64_t c = 0; c < C; c++)
            for (int64_t iy = 0; iy < H; iy++)
                for (int64_t ix = 0; ix < W; ix++) {
                    float want = 0.0f;
                    if (iy / 2 < OH && ix / 2 < OW)
                        want += gy->data[(c * OH + iy / 2) * OW + ix / 2] * 0.25f;
                    float got = gx[(c * H + iy) * W + ix];
                    if (!(got == want && signbit(got) == signbit(want)))
                        fail_msg("W %lld gradient (%lld, %lld): %g against %g", (long long)W,
                                 (long long)iy, (long long)ix, got, want);
                }
        tensor_free(gy);
        tensor_free(x);
        engine_free(e);
        model_free(m);
    }
}

/* Max-pools of every geometry without dilation (the AVX2 path's phases
 * and ring, and the rows it leaves to the scalar loop) against loops over
 * the definition: kernels 2, 3, 5 (and 3x2), strides 1 to 3, pads 0 to 2
 * (asymmetric too), ceil_mode, odd widths around a vector's 8 outputs,
 * ties (values from a set of four), -inf and a window of -inf only;
 * NaN in one plane of the two images' three. Outputs bit for bit, the
 * switches through the input gradient, each image alone as in the batch,
 * a forward-only engine's (no switches) as the ordinary one's. */
static void maxpool_case(int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                         const int64_t pad[4], int ceil_mode, uint64_t seed)
{
    const int64_t C = 3;
    model *m = model_new(C, H, W);
    node *n = model_add(m, "p", "MaxPool", "input");
    double k[2] = { (double)kh, (double)kw }, st[2] = { (double)sh, (double)sw };
    double pd[4] = { (double)pad[0], (double)pad[1], (double)pad[2], (double)pad[3] };
    double cm = ceil_mode;
    node_set(n, "kernel", 2, k);
    node_set(n, "stride", 2, st);
    node_set(n, "pad", 4, pd);
    node_set(n, "ceil_mode", 1, &cm);
    prepared(m);
    int64_t OH = n->shape[1], OW = n->shape[2];
    engine *e = engine_new(m, 2, 0, 1);
    int64_t dims[4] = { 2, C, H, W };
    tensor *x = tensor_new(4, dims);
    rng r;
    rng_seed(&r, seed);
    for (int64_t i = 0; i < tensor_numel(x); i++) {
        double u = rng_uniform(&r);
        int nanplane = (i / (H * W)) == 4;
        x->data[i] = nanplane && u < 0.03   ? NAN
                     : u < 0.06             ? -INFINITY
                                            : (float)(int)(4 * rng_uniform(&r)) - 1;
        if (x->data[i] == 0 && rng_uniform(&r) < 0.5)
            x->data[i] = -0.0f;   /* ties of -0 and +0: the first in scan order */
    }
    for (int64_t i = 0; i < kh * kw && i / kw < H && i % kw < W; i++) /* a window of -inf */
        x->data[H * W + (i / kw) * W + i % kw] = -INFINITY;
    engine_forward(e, x);
    int64_t ydims[4] = { 2, C, OH, OW };
    tensor *y = tensor_new(4, ydims), *seedg = tensor_new(4, ydims);
    memcpy(y->data, engine_act(e, 0)->data, (size_t)tensor_numel(y) * sizeof *y->data);
    for (int64_t i = 0; i < tensor_numel(seedg); i++)
        seedg->data[i] = (float)(i + 1);
    engine_backward(e, 0, seedg, RULE_STANDARD, 0);
    const tensor *gx = engine_input_grad(e);
    double *rg = calloc((size_t)tensor_numel(x), sizeof *rg);
    for (int64_t pl = 0; pl < 2 * C; pl++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                const float *xp = x->data + pl * H * W;
                float best = -INFINITY;
                int64_t arg = -1, nan = -1;
                for (int64_t i = 0; i < kh; i++)
                    for (int64_t j = 0; j < kw; j++) {
                        int64_t iy = oy * sh - pad[0] + i, ix = ox * sw - pad[1] + j;
                        if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                            continue;
                        if (arg < 0 || xp[iy * W + ix] > best)
                            best = xp[iy * W + ix], arg = iy * W + ix;
                        if (nan < 0 && isnan(xp[iy * W + ix]))
                            nan = iy * W + ix;
                    }
                assert_true(arg >= 0);
                if (nan >= 0)
                    best = xp[nan], arg = nan;
                int64_t yi = (pl * OH + oy) * OW + ox;
                float got = y->data[yi];
                assert_true(isnan(best) ? isnan(got) : got == best && signbit(got) == signbit(best));
                rg[pl * H * W + arg] += seedg->data[yi];
            }
    for (int64_t i = 0; i < tensor_numel(x); i++)
        assert_true(gx->data[i] == (float)rg[i]);
    /* the second image alone */
    int64_t d1[4] = { 1, C, H, W };
    tensor *x1 = tensor_new(4, d1);
    memcpy(x1->data, x->data + C * H * W, (size_t)(C * H * W) * sizeof *x1->data);
    engine_forward(e, x1);
    assert_memory_equal(engine_act(e, 0)->data, y->data + C * OH * OW,
                        (size_t)(C * OH * OW) * sizeof *y->data);
    /* a forward-only engine (no switches kept): the same outputs */
    engine *f = engine_new(m, 2, 0, 1);
    engine_forward_only(f, NULL, 0);
    engine_forward(f, x);
    assert_memory_equal(engine_output(f)->data, y->data, (size_t)tensor_numel(y) * sizeof *y->data);
    engine_free(f);
    free(rg);
    tensor_free(x1);
    tensor_free(seedg);
    tensor_free(y);
    tensor_free(x);
    engine_free(e);
    model_free(m);
}

static void test_maxpool_geometry(void **state)
{
    (void)state;
    static const int64_t ks[][2] = { { 2, 2 }, { 3, 3 }, { 5, 5 }, { 3, 2 } };
    static const int64_t widths[] = { 1, 5, 8, 9, 17, 23, 37 };
    uint64_t seed = 11;
    for (size_t a = 0; a < sizeof ks / sizeof *ks; a++)
        for (int64_t s = 1; s <= 3; s++)
            for (int64_t pd = 0; pd <= 2; pd++)
                for (size_t b = 0; b < sizeof widths / sizeof *widths; b++)
                    for (int cm = 0; cm <= 1; cm++) {
                        int64_t kh = ks[a][0], kw = ks[a][1], W = widths[b], H = 7 + b % 3;
                        /* pads below the kernel; the last of each set one-sided */
                        int64_t pad[4] = { pd, pd, pd, pd };
                        if (b == 3)
                            pad[2] = 0, pad[3] = pd > 0 ? pd - 1 : 0;
                        if (pd >= kh || pd >= kw || W + pad[1] + pad[3] < kw)
                            continue;
                        maxpool_case(H, W, kh, kw, s % 3 + 1, s, pad, cm, seed++);
                    }
}

static void test_fd_chain(void **state)
{
    (void)state;
    model *m = net_chain();
    fd_check(m, m->n - 1, 2);
    fd_check(m, model_find(m, "pool"), 2);   /* from a middle node */
    model_free(m);
}

static void test_fd_dag(void **state)
{
    (void)state;
    model *m = net_dag();
    fd_check(m, m->n - 1, 3);
    fd_check(m, model_find(m, "cat"), 1);
    model_free(m);
}

static void test_fd_views(void **state)
{
    (void)state;
    model *m = net_views();
    fd_check(m, m->n - 1, 2);
    fd_check(m, model_find(m, "in"), 1);
    model_free(m);
}

static void test_fd_modern(void **state)
{
    (void)state;
    model *m = net_modern();
    fd_check(m, m->n - 1, 2);
    fd_check(m, model_find(m, "sum"), 1);
    model_free(m);
}

/* Every registered op appears in the unit nets (so the FD tests cover all). */
static void test_ops_covered(void **state)
{
    (void)state;
    model *a = net_chain(), *b = net_dag(), *c = net_views(), *d = net_modern();
    for (int i = 0; op_at(i); i++) {
        const char *nm = op_at(i)->name;
        int found = 0;
        for (int k = 0; k < a->n; k++)
            found |= !strcmp(a->nodes[k].op, nm);
        for (int k = 0; k < b->n; k++)
            found |= !strcmp(b->nodes[k].op, nm);
        for (int k = 0; k < c->n; k++)
            found |= !strcmp(c->nodes[k].op, nm);
        for (int k = 0; k < d->n; k++)
            found |= !strcmp(d->nodes[k].op, nm);
        if (!found)
            fail_msg("op %s is not covered by the unit nets", nm);
    }
    assert_non_null(op_find("Gemm"));
    assert_null(op_find("Swish"));
    model_free(a);
    model_free(b);
    model_free(c);
    model_free(d);
}

/* The three rules on ReLU: deconvnet ignores the forward input, guided is
 * the standard gradient with negative entries removed. */
static void test_rules(void **state)
{
    (void)state;
    model *m = model_new(1, 1, 4);
    model_add(m, "r", "ReLU", "input");
    prepared(m);
    engine *e = engine_new(m, 1, 0, 1);
    tensor *x = tensor_new4(1, 1, 1, 4), *g = tensor_new4(1, 1, 1, 4);
    float xv[4] = { 0.5f, -0.5f, 0.5f, -0.5f }, gv[4] = { 1, 1, -1, -1 };
    memcpy(x->data, xv, sizeof xv);
    memcpy(g->data, gv, sizeof gv);
    float want[3][4] = { { 1, 0, -1, 0 }, { 1, 0, 0, 0 }, { 1, 1, 0, 0 } };
    engine_forward(e, x);
    for (int r = 0; r < 3; r++) {
        engine_backward(e, 0, g, (relu_rule)r, 0);
        const tensor *gx = engine_input_grad(e);
        for (int k = 0; k < 4; k++)
            assert_float_equal(gx->data[k], want[r][k], 1e-7);
    }
    tensor_free(x);
    tensor_free(g);
    engine_free(e);
    model_free(m);
}

static void test_roundtrip(void **state)
{
    (void)state;
    model *m = net_dag();
    m->source = xstrdup("unit test");
    m->nclasses = 6;
    m->classes = xcalloc(7, sizeof(char *));
    for (int i = 0; i < 6; i++) {
        char b[32];
        snprintf(b, sizeof b, "class %d", i);
        m->classes[i] = xstrdup(b);
    }
    char path[] = "/tmp/cnn-test-model-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    unlink(path);
    model_save(m, path);
    model *l = model_load(path);
    unlink(path);
    assert_int_equal(l->n, m->n);
    assert_int_equal(l->nclasses, 6);
    assert_string_equal(l->classes[5], "class 5");
    assert_string_equal(l->source, "unit test");
    assert_int_equal(model_nparams(l), model_nparams(m));
    for (int i = 0; i < m->n; i++) {
        assert_string_equal(l->nodes[i].name, m->nodes[i].name);
        assert_string_equal(l->nodes[i].op, m->nodes[i].op);
        assert_int_equal(l->nodes[i].nin, m->nodes[i].nin);
        assert_memory_equal(l->nodes[i].shape, m->nodes[i].shape, sizeof m->nodes[i].shape);
    }
    tensor *x = rand_input(m, 2, 3);
    engine *a = engine_new(m, 2, 0, 1), *b = engine_new(l, 2, 0, 1);
    engine_forward(a, x);
    engine_forward(b, x);
    assert_memory_equal(engine_output(a)->data, engine_output(b)->data,
                        (size_t)tensor_numel(engine_output(a)) * sizeof(float));
    engine_free(a);
    engine_free(b);
    tensor_free(x);
    model_free(l);
    model_free(m);
}

/* The whole of a file, malloc'd, its length in *len. */
static char *slurp(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    rewind(f);
    char *b = malloc((size_t)*len);
    assert_int_equal(fread(b, 1, (size_t)*len, f), (size_t)*len);
    fclose(f);
    return b;
}

/* model_load uses the weights h5out wrote where they lie in the file
 * (h5in_map_tensor): those of 256 bytes or more are borrowed (smaller
 * ones where they happen to lie at a multiple of 64), all are 64-byte
 * aligned and equal to the saved ones; the model
 * runs as the saved one; a write into a borrowed weight changes this
 * process's model and never the file; the model outlives the file's name. */
/* A net with two weights of 256 bytes or more (the file maps them). */
static model *net_wide(void)
{
    rng r;
    rng_seed(&r, 21);
    model *m = model_new(8, 10, 10);
    node *n = model_add(m, "c", "Conv", "input");
    node_set1(n, "pad", 1);
    add_w(n, &r, "weight", 4, 16, 8, 3, 3, 0.3, 0);
    add_w(n, &r, "bias", 1, 16, 0, 0, 0, 0.1, 0);
    model_add(m, "r", "ReLU", NULL);
    model_add(m, "gap", "GlobalAvgPool", NULL);
    n = model_add(m, "fc", "Dense", NULL);
    add_w(n, &r, "weight", 2, 10, 16, 0, 0, 0.5, 0);
    return prepared(m);
}

/* net_wide saved to a new file named from template path. */
static model *saved_wide(char *path)
{
    model *m = net_wide();
    int fd = mkstemp(path);
    close(fd);
    unlink(path);
    model_save(m, path);
    return m;
}

static void test_mapped_weights(void **state)
{
    (void)state;
    char path[] = "/tmp/cnn-test-mapped-XXXXXX";
    model *m = saved_wide(path);
    long len0, len1;
    char *before = slurp(path, &len0);
    model *l = model_load(path);
    int borrowed = 0;
    for (int i = 0; i < m->n; i++)
        for (int k = 0; k < m->nodes[i].nw; k++) {
            const tensor *a = m->nodes[i].w[k], *b = l->nodes[i].w[k];
            int64_t ne = tensor_numel(a);
            if (ne * 4 >= 256)
                assert_true(b->borrowed);
            assert_int_equal((uintptr_t)b->data % 64, 0);
            assert_memory_equal(a->data, b->data, (size_t)ne * sizeof(float));
            borrowed += b->borrowed;
        }
    assert_true(borrowed >= 2);
    assert_non_null(l->wmap);
    tensor *x = rand_input(m, 2, 5);
    engine *a = engine_new(m, 2, 0, 1), *b = engine_new(l, 2, 0, 1);
    engine_forward(a, x);
    engine_forward(b, x);
    size_t out = (size_t)tensor_numel(engine_output(a)) * sizeof(float);
    assert_memory_equal(engine_output(a)->data, engine_output(b)->data, out);
    l->nodes[0].w[0]->data[5] += 1.0f;
    l->nodes[3].w[0]->data[7] -= 2.0f;
    model_weights_changed(l);
    char *after = slurp(path, &len1);
    unlink(path);
    engine_forward(b, x);
    assert_memory_not_equal(engine_output(a)->data, engine_output(b)->data, out);
    assert_float_equal(l->nodes[0].w[0]->data[5], m->nodes[0].w[0]->data[5] + 1.0f, 1e-6);
    assert_int_equal(len0, len1);
    assert_memory_equal(before, after, (size_t)len0);
    free(before);
    free(after);
    engine_free(a);
    engine_free(b);
    tensor_free(x);
    model_free(l);
    model_free(m);
}

static void expect_prepare_error(model *m, const char *needle)
{
    char err[512];
    assert_int_equal(model_prepare(m, err, sizeof err), -1);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not mention '%s'", err, needle);
    model_free(m);
}

static model *tiny(void)
{
    model *m = model_new(1, 5, 5);
    node *n = model_add(m, "c", "Conv", "input");
    int64_t d[4] = { 2, 1, 3, 3 };
    node_add_weight(n, "weight", tensor_new(4, d));
    model_add(m, "r", "ReLU", NULL);
    return m;
}

static void test_bad_graphs(void **state)
{
    (void)state;
    model *m = tiny();
    prepared(m);
    assert_int_equal(m->nodes[0].shape[0], 2);
    assert_int_equal(m->nodes[0].shape[1], 3);
    model_free(m);

    m = tiny();
    free(m->nodes[1].op);
    m->nodes[1].op = xstrdup("Swish");
    expect_prepare_error(m, "unknown op 'Swish'");

    m = tiny();
    free(m->nodes[0].in_names[0]);
    m->nodes[0].in_names[0] = xstrdup("r");
    expect_prepare_error(m, "not an earlier node");

    m = tiny();
    free(m->nodes[1].in_names[0]);
    m->nodes[1].in_names[0] = xstrdup("nope");
    expect_prepare_error(m, "'nope' is not a node");

    m = tiny();
    node_set1(&m->nodes[0], "strides", 2);
    expect_prepare_error(m, "unknown attribute 'strides'");

    m = tiny();
    int64_t d[4] = { 2, 2, 3, 3 };
    node_add_weight(&m->nodes[0], "weight", tensor_new(4, d));
    expect_prepare_error(m, "input channels per group");

    m = tiny();
    node_set1(&m->nodes[0], "pad", -1);
    expect_prepare_error(m, "pads >= 0");

    m = tiny();
    free(m->nodes[1].name);
    m->nodes[1].name = xstrdup("c");
    expect_prepare_error(m, "used twice");

    m = tiny();
    int64_t big[4] = { 2, 1, 7, 7 };
    node_add_weight(&m->nodes[0], "weight", tensor_new(4, big));
    expect_prepare_error(m, "larger than the padded input");

    m = tiny();
    m->bgr = 1;
    expect_prepare_error(m, "bgr needs 3 input channels");
}

/* model_load on a broken file exits 1 with one line naming the file. */
/* This binary run again as "test_engine MODE PATH" (a fresh process:
 * exit() in a forked copy of a process with OpenBLAS/OpenMP threads may
 * hang or crash): its exit status, its standard error into buf. */
static int run_child(const char *mode, const char *path, char *buf, size_t cap)
{
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 2);
        close(pfd[0]);
        execl("/proc/self/exe", "test_engine", mode, path, (char *)NULL);
        _exit(99);
    }
    close(pfd[1]);
    memset(buf, 0, cap);
    /* Read to the end: the message may come in pieces. */
    ssize_t got = 0, r;
    while ((r = read(pfd[0], buf + got, cap - 1 - (size_t)got)) > 0)
        got += r;
    close(pfd[0]);
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st))
        fail_msg("%s child did not exit (signal %d): %s", mode,
                 WIFSIGNALED(st) ? WTERMSIG(st) : 0, buf);
    return WEXITSTATUS(st);
}

/* The child's mode on path (removed after) exits 1 with a message naming
 * the file and saying what. */
static void child_dies(const char *mode, const char *path, const char *what)
{
    char buf[512];
    int st = run_child(mode, path, buf, sizeof buf);
    unlink(path);
    assert_int_equal(st, 1);
    assert_non_null(strstr(buf, path));
    assert_non_null(strstr(buf, what));
}

static void test_load_dies(void **state)
{
    (void)state;
    char path[] = "/tmp/cnn-test-bad-XXXXXX";
    int fd = mkstemp(path);
    assert_true(write(fd, "not hdf5", 8) == 8);
    close(fd);
    child_dies("--load", path, "not an HDF5 file");
}

/* A model file truncated while its weights are in use where they lie in
 * it: one line naming the file and exit 1, not a bus error. */
static void test_mapped_truncated(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    skip();   /* the sanitizer keeps SIGBUS: io/h5io.c's guard is off under it */
#endif
    char path[] = "/tmp/cnn-test-trunc-XXXXXX";
    model *m = saved_wide(path);
    model_free(m);
    child_dies("--load-truncate", path, "truncated");
}

/* Dropout: identity at inference; in training about ratio of the values
 * are zero, the rest scaled, the same seed gives the same mask, and the
 * gradient follows the mask. */
static void test_dropout(void **state)
{
    (void)state;
    model *m = model_new(1, 40, 50);
    node *n = model_add(m, "d", "Dropout", "input");
    node_set1(n, "ratio", 0.25);
    prepared(m);
    tensor *x = rand_input(m, 2, 1);
    for (int64_t i = 0; i < tensor_numel(x); i++)
        x->data[i] += 0.5f;      /* strictly positive, so zero means dropped */
    engine *e = engine_new(m, 2, 0, 7), *f = engine_new(m, 2, 1, 7);
    engine_forward(e, x);
    assert_memory_equal(engine_output(e)->data, x->data, (size_t)tensor_numel(x) * sizeof(float));
    engine_set_training(e, 1);
    engine_forward(e, x);
    engine_forward(f, x);
    const tensor *y = engine_output(e);
    assert_memory_equal(y->data, engine_output(f)->data, (size_t)tensor_numel(x) * sizeof(float));
    int64_t zeros = 0, nn = tensor_numel(x);
    for (int64_t i = 0; i < nn; i++) {
        if (y->data[i] == 0)
            zeros++;
        else
            assert_float_equal(y->data[i], x->data[i] / 0.75f, 1e-5);
    }
    assert_true(zeros > nn / 5 && zeros < nn * 3 / 10);
    tensor *g = tensor_clone(x);
    tensor_fill(g, 1);
    engine_backward(e, 0, g, RULE_STANDARD, 0);
    const tensor *gx = engine_input_grad(e);
    for (int64_t i = 0; i < nn; i++)
        assert_float_equal(gx->data[i], y->data[i] == 0 ? 0.0f : 1 / 0.75f, 1e-6);
    tensor_free(g);
    tensor_free(x);
    engine_free(e);
    engine_free(f);
    model_free(m);
}

/* Weight gradients accumulate over backward calls until zeroed. */
static void test_wgrad_accumulates(void **state)
{
    (void)state;
    model *m = net_dag();
    engine *e = engine_new(m, 2, 0, 1);
    tensor *x = rand_input(m, 2, 4);
    engine_forward(e, x);
    tensor *g = tensor_clone(engine_output(e));
    tensor_fill(g, 0.3f);
    g->data[0] = 1;
    engine_zero_wgrad(e);
    engine_backward(e, m->n - 1, g, RULE_STANDARD, 1);
    tensor *once = tensor_clone(engine_wgrad(e, 0, 0));
    engine_backward(e, m->n - 1, g, RULE_STANDARD, 1);
    const tensor *twice = engine_wgrad(e, 0, 0);
    for (int64_t i = 0; i < tensor_numel(once); i++)
        assert_float_equal(twice->data[i], 2 * once->data[i], 1e-6 + 1e-5 * fabs(once->data[i]));
    engine_zero_wgrad(e);
    for (int64_t i = 0; i < tensor_numel(once); i++)
        assert_true(engine_wgrad(e, 0, 0)->data[i] == 0);
    tensor_free(once);
    tensor_free(g);
    tensor_free(x);
    engine_free(e);
    model_free(m);
}

/* Conv -> ReLU or Clip pairs on each of the Conv's paths (the packed GEMM
 * with 24 output channels and K = 72 and a ReLU, a 1x1 one read in place
 * and a Clip inside the values' range, depthwise and ReLU6), and a
 * BatchNorm -> ReLU pair, which a forward-only engine fuses (the
 * activation in the Conv's or BatchNorm's store). */
static model *net_fused(void)
{
    rng r;
    rng_seed(&r, 17);
    model *m = model_new(8, 13, 11);
    node *n = model_add(m, "c1", "Conv", "input");
    double pad[1] = { 1 };
    node_set(n, "pad", 1, pad);
    add_w(n, &r, "weight", 4, 24, 8, 3, 3, 0.3, 0);
    add_w(n, &r, "bias", 1, 24, 0, 0, 0, 0.2, 0);
    model_add(m, "r1", "ReLU", NULL);
    n = model_add(m, "c2", "Conv", NULL);
    add_w(n, &r, "weight", 4, 24, 24, 1, 1, 0.3, 0);
    n = model_add(m, "r2", "Clip", NULL);
    double lo[1] = { -0.1 }, hi[1] = { 0.4 }, six[1] = { 6 }, zero[1] = { 0 };
    node_set(n, "min", 1, lo);
    node_set(n, "max", 1, hi);
    n = model_add(m, "dw", "Conv", NULL);
    node_set1(n, "groups", 24);
    add_w(n, &r, "weight", 4, 24, 1, 3, 3, 0.5, 0);
    add_w(n, &r, "bias", 1, 24, 0, 0, 0, 0.2, 0);
    n = model_add(m, "r3", "Clip", NULL);
    node_set(n, "min", 1, zero);
    node_set(n, "max", 1, six);
    n = model_add(m, "bn", "BatchNorm", NULL);   /* pre-activation, as densenet's */
    add_w(n, &r, "gamma", 1, 24, 0, 0, 0, 0.5, 1);
    add_w(n, &r, "beta", 1, 24, 0, 0, 0, 0.3, -0.2);
    add_w(n, &r, "mean", 1, 24, 0, 0, 0, 0.3, 0.4);
    add_w(n, &r, "var", 1, 24, 0, 0, 0, 0.1, 1);
    model_add(m, "r4", "ReLU", NULL);
    model_add(m, "gap", "GlobalAvgPool", NULL);
    return prepared(m);
}

/* A Conv with bias and its weights. */
static node *conv_node(model *m, rng *r, const char *name, const char *in, int64_t co, int64_t ci,
                       int64_t k, int64_t pad, int64_t dil, int64_t groups)
{
    node *n = model_add(m, name, "Conv", in);
    double p[1] = { (double)pad }, d[1] = { (double)dil };
    node_set(n, "pad", 1, p);
    node_set(n, "dilation", 1, d);
    if (groups > 1)
        node_set1(n, "groups", groups);
    add_w(n, r, "weight", 4, co, ci / groups, k, k, 0.3, 0);
    add_w(n, r, "bias", 1, co, 0, 0, 0, 0.2, 0);
    return n;
}

/* Conv -> Add (-> ReLU) chains a forward-only engine fuses (the residual
 * added, then the ReLU, in the Conv's store), on each of the Conv's paths:
 * the packed GEMM 1x1 read in place, Winograd, depthwise, the packed GEMM
 * over two K blocks (3x3 dilated, 32 channels: K = 288), OpenBLAS (8
 * output channels), the direct path (stride 2); the Conv as the Add's first and second input, an Add
 * of two Convs (the later one takes it), with and without the ReLU. */
static model *net_residual(void)
{
    rng r;
    rng_seed(&r, 23);
    model *m = model_new(16, 24, 24);   /* 36 tiles: c2 on Winograd (wino_worth) */
    conv_node(m, &r, "c0", "input", 24, 16, 3, 1, 1, 1);
    model_add(m, "r0", "ReLU", NULL);
    conv_node(m, &r, "c1", "r0", 24, 24, 1, 0, 1, 1);
    model_add(m, "a1", "Add", "r0,c1");
    model_add(m, "r1", "ReLU", NULL);
    conv_node(m, &r, "c2", "r1", 24, 24, 3, 1, 1, 1);
    model_add(m, "a2", "Add", "c2,r1");
    conv_node(m, &r, "c3", "a2", 24, 24, 3, 1, 1, 24);
    model_add(m, "a3", "Add", "c3,a2");
    model_add(m, "r3", "ReLU", NULL);
    conv_node(m, &r, "c4", "r3", 32, 24, 3, 1, 1, 1);
    conv_node(m, &r, "c5", "c4", 32, 32, 3, 2, 2, 1);
    model_add(m, "a5", "Add", "c4,c5");
    model_add(m, "r5", "ReLU", NULL);
    conv_node(m, &r, "c6", "r5", 8, 32, 1, 0, 1, 1);
    conv_node(m, &r, "c7", "r5", 8, 32, 1, 0, 1, 1);
    model_add(m, "a7", "Add", "c6,c7");
    /* resnet's downsample: a 3x3 and a 1x1 at stride 2 (the direct
     * path, direct.h), the Add and ReLU fused into the later one */
    double s2[2] = { 2, 2 };
    node_set(conv_node(m, &r, "c8", "a7", 40, 8, 3, 1, 1, 1), "stride", 2, s2);
    node_set(conv_node(m, &r, "c9", "r5", 40, 32, 1, 0, 1, 1), "stride", 2, s2);
    model_add(m, "a9", "Add", "c8,c9");
    model_add(m, "r9", "ReLU", NULL);
    model_add(m, "gap", "GlobalAvgPool", NULL);
    return prepared(m);
}

/* Adds whose inputs' gradients a fused engine may keep in the Add's own
 * buffer: two ReLUs (each masks in place what it is given: they must not
 * share one buffer), a Conv and the input that Conv reads (s0: not
 * shareable, the Conv's backward would read and write one buffer), and
 * resnet's identity (b0, read by the block's first Conv and by the Add;
 * its gradient the Add's plus that Conv's), twice in a row, then once
 * more where the block's one Conv reads the identity (not shareable). */
static model *net_adds(void)
{
    rng r;
    rng_seed(&r, 29);
    model *m = model_new(8, 12, 12);
    conv_node(m, &r, "c0", "input", 8, 8, 3, 1, 1, 1);
    model_add(m, "ra", "ReLU", NULL);
    conv_node(m, &r, "c1", "input", 8, 8, 1, 0, 1, 1);
    model_add(m, "rb", "ReLU", NULL);
    model_add(m, "s0", "Add", "ra,rb");
    conv_node(m, &r, "c2", "s0", 8, 8, 3, 1, 1, 1);
    model_add(m, "s1", "Add", "c2,s0");
    model_add(m, "b0", "ReLU", NULL);
    conv_node(m, &r, "p0", "b0", 4, 8, 1, 0, 1, 1);
    model_add(m, "q0", "ReLU", NULL);
    conv_node(m, &r, "p1", "q0", 8, 4, 3, 1, 1, 1);
    model_add(m, "s2", "Add", "p1,b0");
    model_add(m, "b1", "ReLU", NULL);
    conv_node(m, &r, "p2", "b1", 4, 8, 1, 0, 1, 1);
    model_add(m, "q2", "ReLU", NULL);
    conv_node(m, &r, "p3", "q2", 8, 4, 3, 1, 1, 1);
    model_add(m, "s3", "Add", "b1,p3");
    model_add(m, "b3", "ReLU", NULL);
    conv_node(m, &r, "p4", "b3", 8, 8, 1, 0, 1, 1);
    model_add(m, "s4", "Add", "p4,b3");
    model_add(m, "gap", "GlobalAvgPool", NULL);
    return prepared(m);
}

/* BatchNorm -> ReLU (or Clip) after a Concat, as densenet's dense layers
 * and transitions: a forward-only engine applies them in the Concat's
 * copy (its planes, 24x21, split over the threads for 3 images and
 * more). A Concat of one input (k1), of two and three (k2, k3: Clip, and
 * ReLU), and one read by an Add as well as its BatchNorm (k4: not
 * fused), then a BatchNorm -> ReLU after the Add (the BatchNorm's store). */
static model *net_densenet(void)
{
    rng r;
    rng_seed(&r, 31);
    model *m = model_new(8, 24, 21);
    const char *bns[5] = { "b1", "b2", "b3", "b4", "b5" }, *ins[5] = { "k1", "k2", "k3", "k4", "a4" };
    int64_t chans[5] = { 16, 32, 48, 32, 32 };
    conv_node(m, &r, "c0", "input", 16, 8, 3, 1, 1, 1);
    for (int k = 0; k < 5; k++) {
        if (k == 0)
            model_add(m, "k1", "Concat", "c0");
        else if (k == 1)
            model_add(m, "k2", "Concat", "c0,c2");
        else if (k == 2)
            model_add(m, "k3", "Concat", "c0,c2,c3");
        else if (k == 3)
            model_add(m, "k4", "Concat", "c3,c4");
        else
            model_add(m, "a4", "Add", "r4,k4");
        node *n = model_add(m, bns[k], "BatchNorm", ins[k]);
        add_w(n, &r, "gamma", 1, chans[k], 0, 0, 0, 0.5, 1);
        add_w(n, &r, "beta", 1, chans[k], 0, 0, 0, 0.3, -0.2);
        add_w(n, &r, "mean", 1, chans[k], 0, 0, 0, 0.3, 0.4);
        add_w(n, &r, "var", 1, chans[k], 0, 0, 0, 0.1, 1);
        char rn[4] = { 'r', (char)('1' + k), 0, 0 };
        n = model_add(m, rn, k == 1 ? "Clip" : "ReLU", NULL);
        if (k == 1) {
            double lo[1] = { -0.1 }, hi[1] = { 0.4 };
            node_set(n, "min", 1, lo);
            node_set(n, "max", 1, hi);
        }
        if (k == 0) {
            conv_node(m, &r, "c1", "r1", 16, 16, 1, 0, 1, 1);
            conv_node(m, &r, "c2", "c1", 16, 16, 3, 1, 1, 1);
        } else if (k == 1) {
            conv_node(m, &r, "c3", "r2", 16, 32, 3, 1, 1, 1);
        } else if (k == 2) {
            conv_node(m, &r, "c4", "r3", 16, 48, 1, 0, 1, 1);
        }
    }
    model_add(m, "gap", "GlobalAvgPool", NULL);
    return prepared(m);
}

/* Late-layer shapes: maps of fewer pixels (30) than output channels
 * (each product's weights split by rows over the threads for one image,
 * conv.c make_plan), the residual Add and the ReLUs fused into the
 * stores; 3x3 and 1x1, one product over two K blocks (K = 360). */
static model *net_late(void)
{
    rng r;
    rng_seed(&r, 29);
    model *m = model_new(16, 6, 5);
    conv_node(m, &r, "c0", "input", 40, 16, 3, 1, 1, 1);
    model_add(m, "r0", "ReLU", NULL);
    conv_node(m, &r, "c1", "r0", 40, 40, 1, 0, 1, 1);
    model_add(m, "a1", "Add", "r0,c1");
    model_add(m, "r1", "ReLU", NULL);
    conv_node(m, &r, "c2", "r1", 48, 40, 3, 1, 1, 1);
    model_add(m, "r2", "ReLU", NULL);
    model_add(m, "gap", "GlobalAvgPool", NULL);
    return prepared(m);
}

/* Nodes nodes[0..nn-1] of engine b against ordinary engine a's, bit for
 * bit, both run on x now. */
static void same_acts(engine *a, engine *b, const tensor *x, const int *nodes, int nn,
                      const char *what)
{
    engine_forward(a, x);
    engine_forward(b, x);
    for (int j = 0; j < nn; j++) {
        const tensor *ya = engine_act(a, nodes[j]), *yb = engine_act(b, nodes[j]);
        for (int64_t i = 0; i < tensor_numel(ya); i++)
            if (memcmp(&ya->data[i], &yb->data[i], sizeof(float)))
                fail_msg("%s, node %d: %g against %g at %lld", what, nodes[j], yb->data[i],
                         ya->data[i], (long long)i);
    }
}

/* engine_forward_only: the same output and kept node, bit for bit, as an
 * ordinary engine, on nets with branches and joins (a buffer handed on
 * before its last reader has run changes the output) and with fused
 * Conv -> ReLU or Clip and BatchNorm -> ReLU pairs (net_fused; its kept
 * node is a fused Clip) and Conv -> Add -> ReLU chains (net_residual; its
 * kept node a fused Add, which keeps the ReLU after it apart), twice in a
 * row with different batches. */
static void test_forward_only(void **state)
{
    (void)state;
    model *(*nets[])(void) = { net_chain, net_dag, net_views, net_modern, net_fused,
                               net_residual, net_densenet };
    for (size_t k = 0; k < sizeof nets / sizeof *nets; k++) {
        model *m = nets[k]();
        int keep = k == 6 ? 11 : k == 5 ? 8 : k == 4 ? 3 : 1 + (int)k % 2, last = m->n - 1;
        engine *a = engine_new(m, 3, 0, 0), *b = engine_new(m, 3, 0, 0);
        engine_forward_only(b, &keep, 1);
        for (int round = 0; round < 2; round++) {
            tensor *x = rand_input(m, 3 - round, 40 + (uint64_t)round);
            int nodes[2] = { keep, last };
            char what[64];
            snprintf(what, sizeof what, "net %zu round %d", k, round);
            same_acts(a, b, x, nodes, 2, what);
            tensor_free(x);
        }
        engine_free(a), engine_free(b);
        model_free(m);
    }
}

/* arena_plan: blocks that meet in time never overlap, offsets keep the
 * alignment, the arena holds every block and is no larger than all of
 * them side by side nor smaller than the most alive at one step; a block
 * reuses the place of one it never meets (a chain of three: the third
 * where the first was). Random lifetimes and sizes, zeros among them. */
static void test_arena(void **state)
{
    (void)state;
    size_t size3[3] = { 100, 50, 100 }, off3[3];
    int s3[3] = { 0, 1, 2 }, e3[3] = { 1, 2, 3 };
    assert_int_equal(arena_plan(3, size3, s3, e3, 16, off3), 112 + 64);
    assert_int_equal(off3[0], 0);
    assert_int_equal(off3[2], 0);
    assert_int_equal(off3[1], 112);
    rng r;
    rng_seed(&r, 7);
    for (int round = 0; round < 200; round++) {
        int n = 1 + round % 50, start[50], end[50];
        size_t size[50], off[50], align = round % 3 ? 16 : 1, all = 0;
        for (int i = 0; i < n; i++) {
            start[i] = (int)(rng_uniform(&r) * 40);
            end[i] = start[i] + (int)(rng_uniform(&r) * (round % 4 ? 10 : 40));
            size[i] = rng_uniform(&r) < 0.1 ? 0 : 1 + (size_t)(rng_uniform(&r) * 1000);
            all += (size[i] + align - 1) / align * align;
        }
        size_t total = arena_plan(n, size, start, end, align, off), most = 0;
        for (int t = 0; t < 80; t++) {
            size_t live = 0;
            for (int i = 0; i < n; i++)
                if (start[i] <= t && t <= end[i])
                    live += size[i];
            most = live > most ? live : most;
        }
        assert_true(total <= all);
        assert_true(total >= most);
        for (int i = 0; i < n; i++) {
            if (!size[i])
                continue;
            assert_int_equal(off[i] % align, 0);
            assert_true(off[i] + size[i] <= total);
            for (int j = 0; j < i; j++)
                if (size[j] && start[i] <= end[j] && start[j] <= end[i] &&
                    off[i] < off[j] + size[j] && off[j] < off[i] + size[i])
                    fail_msg("round %d: blocks %d and %d meet in time and overlap", round, i, j);
        }
    }
}

/* Tensors a and b equal value for value (a zero's sign aside: an Add
 * whose input's gradient shares its buffer passes -0 where the copy,
 * gy + 0, made +0; NaN equal to NaN). */
static void same_values(const tensor *a, const tensor *b, const char *what)
{
    assert_int_equal(tensor_numel(a), tensor_numel(b));
    for (int64_t i = 0; i < tensor_numel(a); i++)
        if (!(a->data[i] == b->data[i] || (a->data[i] != a->data[i] && b->data[i] != b->data[i])))
            fail_msg("%s: %g against %g at %lld", what, b->data[i], a->data[i], (long long)i);
}

/* A tensor of y's shape, uniform in [-0.5, 0.5) from seed s (a backward's
 * seed). */
static tensor *uniform_like(const tensor *y, uint64_t s)
{
    tensor *t = tensor_new(y->ndim, y->dims);
    rng r;
    rng_seed(&r, s);
    for (int64_t i = 0; i < tensor_numel(t); i++)
        t->data[i] = (float)rng_uniform(&r) - 0.5f;
    return t;
}

/* The ops that store into a fresh input gradient (op_sets_grad, io->gset:
 * not zeroed by the engine) write every value of it: a backward whose
 * gradient buffers (the input's and every node's) hold NaN from the
 * start gives, under each rule, the same values bit for bit as the first
 * backward did. An op on the list that added onto its input's gradient
 * there, or left part of it unwritten, leaves NaN. The unit nets hold
 * every op (test_ops_covered). */
static void test_fresh_grads(void **state)
{
    (void)state;
    model *(*nets[])(void) = { net_chain, net_dag, net_views, net_modern, net_densenet };
    for (size_t k = 0; k < sizeof nets / sizeof *nets; k++) {
        model *m = nets[k]();
        int last = m->n - 1;
        char *anc = calloc((size_t)m->n, 1);
        anc[last] = 1;
        for (int i = last; i >= 0; i--)
            for (int j = 0; anc[i] && j < m->nodes[i].nin; j++)
                if (m->nodes[i].in[j] >= 0)
                    anc[m->nodes[i].in[j]] = 1;
        engine *e = engine_new(m, 2, 0, 0);
        tensor *x = rand_input(m, 2, 90 + k);
        engine_forward(e, x);
        for (int rule = RULE_STANDARD; rule <= RULE_DECONVNET; rule++) {
            const tensor *y = engine_output(e);
            tensor *seed = uniform_like(y, 95 + (uint64_t)rule);
            engine_backward(e, last, seed, (relu_rule)rule, 0);
            tensor *want = tensor_clone(engine_input_grad(e));
            tensor **wn = calloc((size_t)m->n, sizeof *wn);
            for (int i = 0; i < last; i++)
                if (anc[i])
                    wn[i] = tensor_clone(engine_node_grad(e, i));
            tensor_fill((tensor *)engine_input_grad(e), NAN);
            for (int i = 0; i < last; i++)
                if (anc[i])
                    tensor_fill((tensor *)engine_node_grad(e, i), NAN);
            engine_backward(e, last, seed, (relu_rule)rule, 0);
            char what[128];
            snprintf(what, sizeof what, "net %zu rule %d input grad", k, rule);
            same_values(want, engine_input_grad(e), what);
            for (int i = 0; i < last; i++)
                if (wn[i]) {
                    snprintf(what, sizeof what, "net %zu rule %d grad of %s (%s)", k, rule,
                             m->nodes[i].name, m->nodes[i].op);
                    same_values(wn[i], engine_node_grad(e, i), what);
                    tensor_free(wn[i]);
                }
            free(wn);
            tensor_free(want);
            tensor_free(seed);
        }
        tensor_free(x);
        free(anc);
        engine_free(e);
        model_free(m);
    }
}

/* engine_fuse: the output and a kept node bit for bit as an ordinary
 * engine's, and the input gradient and the kept node's gradient under
 * each ReLU rule the same values, on the fused pairs and chains of
 * net_fused (Conv -> ReLU, Clip, BatchNorm -> ReLU), net_residual and
 * net_late (Conv -> Add -> ReLU on each product path), each node of them
 * kept in turn (a gradient kept in its reader's buffer, masked there in
 * place by a ReLU or passed on by an Add, must still be the node's own),
 * twice with different batches. A fused ReLU's backward reads its own
 * output where its input was: a rule that read the input's value, not
 * its sign, would differ. */
static void test_fused_grad(void **state)
{
    (void)state;
    model *(*nets[])(void) = { net_fused, net_residual, net_late, net_densenet, net_adds };
    for (size_t k = 0; k < sizeof nets / sizeof *nets; k++) {
        model *m = nets[k]();
        int last = m->n - 1;
        engine *a = engine_new(m, 3, 0, 0);
        for (int keep = 0; keep < m->n; keep++) {
            engine *b = engine_new(m, 3, 0, 0);
            engine_fuse(b, &keep, 1);
            for (int round = 0; round < 2; round++) {
                tensor *x = rand_input(m, 3 - round, 70 + (uint64_t)round);
                int nodes[2] = { keep, last };
                char what[128];
                snprintf(what, sizeof what, "net %zu keep %d round %d", k, keep, round);
                same_acts(a, b, x, nodes, 2, what);
                for (int rule = RULE_STANDARD; rule <= RULE_DECONVNET; rule++) {
                    const tensor *y = engine_act(a, last);
                    tensor *seed = uniform_like(y, 80 + (uint64_t)rule);
                    engine_backward(a, last, seed, (relu_rule)rule, 0);
                    engine_backward(b, last, seed, (relu_rule)rule, 0);
                    snprintf(what, sizeof what, "net %zu keep %d round %d rule %d input grad", k,
                             keep, round, rule);
                    same_values(engine_input_grad(a), engine_input_grad(b), what);
                    snprintf(what, sizeof what, "net %zu round %d rule %d grad of kept %s", k,
                             round, rule, m->nodes[keep].name);
                    same_values(engine_node_grad(a, keep), engine_node_grad(b, keep), what);
                    tensor_free(seed);
                }
                tensor_free(x);
            }
            engine_free(b);
        }
        engine_free(a);
        model_free(m);
    }
}

/* The activation of a Conv whose value its fused Add replaced, and the
 * gradient of a ReLU that backward masked in place: engine_act and
 * engine_node_grad die (the child exits 1 naming the node), they do not
 * return the Add's value or the ReLU's input's gradient. */
static void test_fused_act_dies(void **state)
{
    (void)state;
    char buf[512];
    assert_int_equal(run_child("--fused-act", "c1", buf, sizeof buf), 1);
    assert_non_null(strstr(buf, "'c1'"));
    unsetenv("CNN_GRAD_SHARE");   /* on, as by default */
    assert_int_equal(run_child("--fused-grad", "r0", buf, sizeof buf), 1);
    assert_non_null(strstr(buf, "'r0'"));
}

/* A forward-only engine whose early nodes run image by image
 * (engine_prefix; CNN_PREFIX_BYTES lowered to these nets' sizes): the
 * output and a kept node bit for bit as an ordinary engine's, at full
 * and partial batches, for every cut the nets allow (fusions are not
 * cut: a cut between a Conv and its fused Add, or a node after the cut
 * left uncomputed, changes the output), a kept node before and after it. */
static void test_prefix(void **state)
{
    (void)state;
    model *(*nets[])(void) = { net_chain, net_dag, net_modern, net_fused, net_residual,
                               net_densenet };
    int cuts = 0;
    for (size_t k = 0; k < sizeof nets / sizeof *nets; k++) {
        model *m = nets[k]();
        engine *a = engine_new(m, 5, 0, 0);
        for (int t = 0; t < m->n; t++) {
            const int64_t *sh = m->nodes[t].shape;
            char lim[32];
            snprintf(lim, sizeof lim, "%lld", (long long)(4 * sh[0] * sh[1] * sh[2] - 1));
            setenv("CNN_PREFIX_BYTES", lim, 1);
            int keep = t / 2, last = m->n - 1;
            engine *b = engine_new(m, 5, 0, 0);
            engine_forward_only(b, &keep, 1);
            unsetenv("CNN_PREFIX_BYTES");
            int s = engine_prefix(b);
            assert_true(s >= 0 && s <= m->n);
            cuts += s > 0 && s < m->n;
            for (int round = 0; round < 3; round++) {
                tensor *x = rand_input(m, round == 0 ? 5 : round == 1 ? 2 : 1, 60 + (uint64_t)t);
                int nodes[2] = { keep, last };
                char what[96];
                snprintf(what, sizeof what, "net %zu cut %d (limit %s) round %d", k, s, lim, round);
                same_acts(a, b, x, nodes, 2, what);
                tensor_free(x);
            }
            engine_free(b);
        }
        engine_free(a);
        model_free(m);
    }
    assert_true(cuts >= 10);
}

/* An engine without the weight cache (CNN_WEIGHT_CACHE=0): the reference
 * the caching engines are compared with. */
static engine *uncached_engine(model *m, int nb)
{
    setenv("CNN_WEIGHT_CACHE", "0", 1);
    engine *e = engine_new(m, nb, 0, 0);
    unsetenv("CNN_WEIGHT_CACHE");
    return e;
}

/* The last node of forward-only engine b against ordinary engine a's, bit
 * for bit, both run on x now. */
static void same_output(engine *a, engine *b, const tensor *x, int last, const char *what)
{
    same_acts(a, b, x, &last, 1, what);
}

/* A forward-only engine keeps its Convs' weights packed or transformed
 * from the second forward on (op_cache): bit for bit as an ordinary
 * engine's, and weights changed in place and announced
 * (model_weights_changed, as training and sanity's re-initialisation do)
 * are used by the next forwards, the first on them and those after. */
static void test_weight_cache(void **state)
{
    (void)state;
    model *(*nets[])(void) = { net_fused, net_residual, net_late, net_densenet, net_adds };
    for (size_t k = 0; k < sizeof nets / sizeof *nets; k++) {
        model *m = nets[k]();
        int last = m->n - 1;
        engine *a = uncached_engine(m, 5), *b = engine_new(m, 5, 0, 0);
        engine_forward_only(b, &last, 1);
        tensor *x = rand_input(m, 5, 77);
        char what[64];
        for (int round = 0; round < 3; round++) {
            snprintf(what, sizeof what, "net %zu round %d", k, round);
            same_output(a, b, x, last, what);
        }
        for (int i = 0; i < m->n; i++)
            for (int w = 0; w < m->nodes[i].nw; w++)
                for (int64_t q = 0; q < tensor_numel(m->nodes[i].w[w]); q++)
                    m->nodes[i].w[w]->data[q] *= q % 3 ? -0.75f : 1.25f;
        model_weights_changed(m);
        for (int round = 0; round < 3; round++) {
            snprintf(what, sizeof what, "net %zu new weights, round %d", k, round);
            same_output(a, b, x, last, what);
        }
        tensor_free(x);
        engine_free(a), engine_free(b);
        model_free(m);
    }
}

/* A net of a real network's sizes, on each of the Conv forward's uses of
 * its workspace: a 7x7 stride-2 stem on 3 channels (the implicit path:
 * packed weights and the input's copy), a 3x3 stride-2 layer whose
 * chunks are part of its 28x28 output at batch 1 and whole images from
 * two images on (make_plan), Winograd at 28x28, a 1x1 at 28x28 read in
 * place, 3x3 stride-2 ones down to 7x7, a 1x1 at 7x7 with more output
 * channels than pixels (conv_rows, its input copied into panels),
 * depthwise and grouped 3x3 (8 channels a group). */
static model *net_sized(void)
{
    rng r;
    rng_seed(&r, 31);
    model *m = model_new(3, 112, 112);
    static const struct {
        const char *name;
        int64_t co, ci, k, pad, stride, groups;
    } c[] = { { "stem", 32, 3, 7, 3, 2, 1 },   { "down1", 64, 32, 3, 1, 2, 1 },
              { "wino", 64, 64, 3, 1, 1, 1 },  { "wide", 128, 64, 1, 0, 1, 1 },
              { "down2", 128, 128, 3, 1, 2, 1 }, { "down3", 256, 128, 3, 1, 2, 1 },
              { "late", 512, 256, 1, 0, 1, 1 }, { "dw", 512, 512, 3, 1, 1, 512 },
              { "group", 512, 512, 3, 1, 1, 64 } };
    const char *in = "input";
    for (size_t k = 0; k < sizeof c / sizeof *c; k++) {
        node *n = conv_node(m, &r, c[k].name, in, c[k].co, c[k].ci, c[k].k, c[k].pad, 1,
                            c[k].groups);
        node_set1(n, "stride", (double)c[k].stride);
        char relu[16];
        snprintf(relu, sizeof relu, "r%zu", k);
        model_add(m, relu, "ReLU", NULL);
        in = NULL;
    }
    model_add(m, "gap", "GlobalAvgPool", NULL);
    return prepared(m);
}

/* A forward-only engine's workspace lies in its arena beside the
 * activations (each node's need_fws, live at its own step), in a layout
 * of the forward's own (conv_fwd_workspace): net_sized's output bit for
 * bit as an ordinary engine's (its workspace a buffer of its own) and,
 * at batch 4, as each image's alone at batch 1; with CNN_ARENA_WS=0 (the
 * engine's own workspace) too. A forward slot sized for
 * batch 1's chunks is overrun only at batch 2 and more (the stride-2
 * layer's whole images); conv_run dies then, and without that check the
 * batch-4 outputs differed. */
static void test_forward_ws(void **state)
{
    (void)state;
    model *m = net_sized();
    int last = m->n - 1;
    engine *a = engine_new(m, 4, 0, 0), *b = engine_new(m, 4, 0, 0), *c = engine_new(m, 1, 0, 0);
    engine *d = engine_new(m, 4, 0, 0);
    engine_forward_only(b, &last, 1);
    engine_forward_only(c, &last, 1);
    setenv("CNN_ARENA_WS", "0", 1);   /* the engine's own workspace */
    engine_forward_only(d, &last, 1);
    unsetenv("CNN_ARENA_WS");
    tensor *x = rand_input(m, 4, 91);
    same_output(a, b, x, last, "net_sized, batch 4");
    same_output(a, d, x, last, "net_sized, batch 4, CNN_ARENA_WS=0");
    const tensor *yb = engine_act(b, last);
    int64_t row = tensor_numel(yb) / 4, in = tensor_numel(x) / 4;
    for (int i = 0; i < 4; i++) {
        tensor *xi = tensor_new4(1, x->dims[1], x->dims[2], x->dims[3]);
        memcpy(xi->data, x->data + i * in, (size_t)in * sizeof(float));
        engine_forward(c, xi);
        const tensor *yc = engine_act(c, last);
        if (memcmp(yc->data, yb->data + i * row, (size_t)row * sizeof(float)))
            fail_msg("net_sized: image %d at batch 1 differs from its row at batch 4", i);
        tensor_free(xi);
    }
    tensor_free(x);
    engine_free(a), engine_free(b), engine_free(c), engine_free(d);
    model_free(m);
}

/* The three input-gradient paths of a Conv: a 3x3 same-size one by the
 * transposed convolution (Winograd), a strided 3x3 one by col2im, a 1x1 one
 * by W^T gy in place; then the global average. */
static model *net_xgrad(void)
{
    rng r;
    rng_seed(&r, 23);
    model *m = model_new(16, 18, 14);
    double pad[1] = { 1 };
    node *n = model_add(m, "c1", "Conv", "input");
    node_set(n, "pad", 1, pad);
    add_w(n, &r, "weight", 4, 16, 16, 3, 3, 0.3, 0);
    add_w(n, &r, "bias", 1, 16, 0, 0, 0, 0.2, 0);
    model_add(m, "r1", "ReLU", NULL);
    n = model_add(m, "c2", "Conv", NULL);
    node_set(n, "pad", 1, pad);
    node_set1(n, "stride", 2);
    add_w(n, &r, "weight", 4, 24, 16, 3, 3, 0.3, 0);
    n = model_add(m, "c3", "Conv", NULL);
    add_w(n, &r, "weight", 4, 24, 24, 1, 1, 0.3, 0);
    model_add(m, "gap", "GlobalAvgPool", NULL);
    return prepared(m);
}

/* The input gradient of engine e for x and seed s at node last (a
 * copy). */
static tensor *input_grad(engine *e, int last, const tensor *x, const tensor *s)
{
    engine_forward(e, x);
    engine_backward(e, last, s, RULE_STANDARD, 0);
    return tensor_clone(engine_input_grad(e));
}

/* Every engine keeps its Convs' weights as their products want them
 * across calls, for the backward's input gradient too (op_cache: W^T
 * packed, or the flipped weights packed or transformed): a second call is
 * the first bit for bit, and weights changed in place and announced are
 * used by the next call, bit for bit as a fresh engine's. */
static void test_grad_weight_cache(void **state)
{
    (void)state;
    model *(*nets[])(void) = { net_xgrad, net_fused, net_residual, net_modern };
    for (size_t k = 0; k < sizeof nets / sizeof *nets; k++) {
        model *m = nets[k]();
        engine *b = engine_new(m, 2, 0, 0);
        tensor *x = rand_input(m, 2, 78);
        rng r;
        rng_seed(&r, 5);
        engine_forward(b, x);
        const tensor *y = engine_act(b, m->n - 1);
        tensor *s = rand_tensor(&r, y->ndim, y->dims, 1, 0);
        tensor *g1 = input_grad(b, m->n - 1, x, s), *g2 = input_grad(b, m->n - 1, x, s);
        assert_memory_equal(g1->data, g2->data, (size_t)tensor_numel(g1) * sizeof(float));
        for (int i = 0; i < m->n; i++)
            for (int w = 0; w < m->nodes[i].nw; w++)
                for (int64_t q = 0; q < tensor_numel(m->nodes[i].w[w]); q++)
                    m->nodes[i].w[w]->data[q] *= q % 3 ? -0.75f : 1.25f;
        model_weights_changed(m);
        engine *a = uncached_engine(m, 2);
        tensor *ga = input_grad(a, m->n - 1, x, s);
        for (int round = 0; round < 2; round++) {   /* the cache is made on the second */
            tensor *gb = input_grad(b, m->n - 1, x, s);
            for (int64_t i = 0; i < tensor_numel(ga); i++)
                if (memcmp(&ga->data[i], &gb->data[i], sizeof(float)))
                    fail_msg("net %zu after new weights, call %d: gradient %g against %g at %lld",
                             k, round, gb->data[i], ga->data[i], (long long)i);
            tensor_free(gb);
        }
        tensor_free(x), tensor_free(s), tensor_free(g1), tensor_free(g2);
        tensor_free(ga);
        engine_free(a), engine_free(b);
        model_free(m);
    }
}

/* Two Dense layers straight on a 3x19x19 input: 1083 inputs (not a whole
 * number of vectors, three blocks of densemm's) to 37 outputs, a ReLU,
 * then 37 inputs to 10. */
static model *net_dense(void)
{
    rng r;
    rng_seed(&r, 21);
    model *m = model_new(3, 19, 19);
    node *n = model_add(m, "fc1", "Dense", "input");
    add_w(n, &r, "weight", 2, 37, 3 * 19 * 19, 0, 0, 0.05, 0);
    add_w(n, &r, "bias", 1, 37, 0, 0, 0, 0.1, 0);
    model_add(m, "r1", "ReLU", NULL);
    n = model_add(m, "fc2", "Dense", NULL);
    add_w(n, &r, "weight", 2, 10, 37, 0, 0, 0.3, 0);
    add_w(n, &r, "bias", 1, 10, 0, 0, 0, 0.1, 0);
    return prepared(m);
}

/* Issue 20 through the Dense op: an image's logits bit for bit the same
 * alone (one thread) and inside batches of 5 and 37, on 1 and 2 threads. */
static void test_dense_batches(void **state)
{
    (void)state;
    model *m = net_dense();
    int last = m->n - 1;
    tensor *x = rand_input(m, 37, 77);
    int64_t per = tensor_numel(x) / 37, nout = 10;
    float *alone = malloc((size_t)(37 * nout) * sizeof *alone);
    omp_set_num_threads(1);
    engine *e = engine_new(m, 37, 0, 0);
    tensor *xi = tensor_new4(1, 3, 19, 19);
    for (int j = 0; j < 37; j++) {
        memcpy(xi->data, x->data + j * per, (size_t)per * sizeof(float));
        engine_forward(e, xi);
        memcpy(alone + j * nout, engine_act(e, last)->data, (size_t)nout * sizeof(float));
    }
    const int ns[] = { 5, 37 };
    for (int th = 1; th <= 2; th++) {
        omp_set_num_threads(th);
        for (int c = 0; c < 2; c++) {
            tensor *xb = tensor_new4(ns[c], 3, 19, 19);
            memcpy(xb->data, x->data, (size_t)(ns[c] * per) * sizeof(float));
            engine_forward(e, xb);
            if (memcmp(engine_act(e, last)->data, alone, (size_t)(ns[c] * nout) * sizeof(float)))
                fail_msg("a batch of %d on %d threads: logits differ from the images alone",
                         ns[c], th);
            tensor_free(xb);
        }
    }
    omp_set_num_threads(omp_get_num_procs());
    tensor_free(xi), tensor_free(x), free(alone);
    engine_free(e);
    model_free(m);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--load")) {
        cli_init(argc, argv);
        model_free(model_load(argv[2]));
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "--load-truncate")) {
        cli_init(argc, argv);
        model *m = model_load(argv[2]);
        if (truncate(argv[2], 0))
            return 98;
        double sum = 0;
        for (int i = 0; i < m->n; i++)
            for (int k = 0; k < m->nodes[i].nw; k++)
                for (int64_t j = 0; j < tensor_numel(m->nodes[i].w[k]); j++)
                    sum += m->nodes[i].w[k]->data[j];
        printf("%g\n", sum);
        return 0;
    }
    if (argc == 3 && (!strcmp(argv[1], "--fused-act") || !strcmp(argv[1], "--fused-grad"))) {
        cli_init(argc, argv);
        model *m = net_residual();
        engine *e = engine_new(m, 1, 0, 0);
        engine_fuse(e, NULL, 0);
        tensor *x = rand_input(m, 1, 1);
        engine_forward(e, x);
        if (!strcmp(argv[1], "--fused-act"))
            engine_act(e, model_find(m, argv[2]));
        tensor *g = tensor_new(engine_output(e)->ndim, engine_output(e)->dims);
        g->data[0] = 1;
        engine_backward(e, m->n - 1, g, RULE_STANDARD, 0);
        engine_node_grad(e, model_find(m, argv[2]));
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_chain),
        cmocka_unit_test(test_forward_only),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_fused_grad),
        cmocka_unit_test(test_fresh_grads),
        cmocka_unit_test(test_fused_act_dies),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_weight_cache),
        cmocka_unit_test(test_forward_ws),
        cmocka_unit_test(test_grad_weight_cache),
        cmocka_unit_test(test_winograd),
        cmocka_unit_test(test_maxpool),
        cmocka_unit_test(test_avgpool_2x2),
        cmocka_unit_test(test_maxpool_geometry),
        cmocka_unit_test(test_fd_dag),
        cmocka_unit_test(test_fd_views),
        cmocka_unit_test(test_fd_modern),
        cmocka_unit_test(test_ops_covered),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_mapped_weights),
        cmocka_unit_test(test_mapped_truncated),
        cmocka_unit_test(test_bad_graphs),
        cmocka_unit_test(test_load_dies),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_wgrad_accumulates),
        cmocka_unit_test(test_dense_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
