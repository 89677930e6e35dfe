/* Resize (ONNX Resize/Upsample, F.interpolate) of H x W to size OH x OW,
 * nearest or bilinear, each output coordinate mapped to the input as ONNX
 * says:
 *   coord 0 half_pixel          x = (o + 0.5) / scale - 0.5
 *         1 asymmetric          x = o / scale
 *         2 align_corners       x = o (in - 1) / (in scale - 1)
 *         3 pytorch_half_pixel  half_pixel, but 0 when out = 1
 * with scale = out / in, or the `scale` attribute when given (PyTorch's
 * scale_factor). Nearest rounds x by `nearest` (0 floor,
 * 1 round_prefer_floor, 2 round_prefer_ceil, 3 ceil); linear clamps x to
 * [0, in - 1] and mixes the two neighbours; cubic (mode 2) mixes the four
 * neighbours floor(x) - 1 .. floor(x) + 2, indices clamped to the image,
 * by Keys' kernel with a = `cubic_a` (-0.75, PyTorch's bicubic and ONNX's
 * default). The backward scatters the gradient with the same weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops.h"

static const op_attr_spec resize_attrs[] = {
    { "size", 2, 2 }, { "mode", 1, 1 }, { "coord", 1, 1 }, { "nearest", 1, 1 },
    { "scale", 2, 2 }, { "cubic_a", 1, 1 }, { NULL, 0, 0 }
};
static const op_weight_spec no_weights[] = { { NULL, 0 } };

/* Per output row or column: two source indices and the second's weight;
 * for cubic, four indices and four weights (c[4 o + k], cw[4 o + k]). */
typedef struct taps {
    int64_t *i0, *i1;
    float *w1;
    int64_t *c;
    float *cw;
} taps;

typedef struct resize_p {
    int64_t h, w, oh, ow;
    int linear;   /* 0 nearest, 1 linear, 2 cubic */
    taps ty, tx;
} resize_p;

/* Keys' cubic convolution weights of the taps at -1, 0, 1, 2 for the
 * fraction t, as PyTorch's upsample_bicubic2d computes them. */
static void cubic_weights(double t, double a, float *w)
{
    double x1 = t + 1, x2 = 1 - t, x3 = 2 - t;
    w[0] = (float)(((a * x1 - 5 * a) * x1 + 8 * a) * x1 - 4 * a);
    w[1] = (float)(((a + 2) * t - (a + 3)) * t * t + 1);
    w[2] = (float)(((a + 2) * x2 - (a + 3)) * x2 * x2 + 1);
    w[3] = (float)(((a * x3 - 5 * a) * x3 + 8 * a) * x3 - 4 * a);
}

static void map_axis(int64_t in, int64_t out, double scale, int coord, int nearest, int linear,
                     double a, taps *t)
{
    for (int64_t o = 0; o < out; o++) {
        double x;
        switch (coord) {
        case 1: x = o / scale; break;
        case 2: /* ONNX: the resized length is in * scale, unrounded */
            x = in * scale > 1 ? (double)o * (double)(in - 1) / (in * scale - 1) : 0;
            break;
        case 3: x = out > 1 ? (o + 0.5) / scale - 0.5 : 0; break;
        default: x = (o + 0.5) / scale - 0.5;
        }
        if (linear == 2) {
            double f = floor(x);
            cubic_weights(x - f, a, t->cw + 4 * o);
            for (int k = 0; k < 4; k++) {
                int64_t i = (int64_t)f - 1 + k;
                t->c[4 * o + k] = i < 0 ? 0 : i >= in ? in - 1 : i;
            }
            t->i0[o] = t->i1[o] = 0;
            t->w1[o] = 0;
        } else if (!linear) {
            double r;
            switch (nearest) {
            case 1: r = x - floor(x) == 0.5 ? floor(x) : floor(x + 0.5); break;
            case 2: r = floor(x + 0.5); break;
            case 3: r = ceil(x); break;
            default: r = floor(x);
            }
            int64_t i = (int64_t)r;
            i = i < 0 ? 0 : i >= in ? in - 1 : i;
            t->i0[o] = t->i1[o] = i;
            t->w1[o] = 0;
        } else {
            if (x < 0)
                x = 0;
            if (x > in - 1)
                x = (double)(in - 1);
            int64_t i = (int64_t)floor(x);
            t->i0[o] = i;
            t->i1[o] = i + 1 < in ? i + 1 : i;
            t->w1[o] = (float)(x - (double)i);
        }
    }
}

static int resize_prepare(node *nd, const int64_t *const *in, op_need *need, char *err,
                          size_t len)
{
    resize_p p;
    p.h = in[0][1], p.w = in[0][2];
    p.oh = op_attr_int(nd, "size", 0, 0), p.ow = op_attr_int(nd, "size", 1, 0);
    p.linear = (int)op_attr_int(nd, "mode", 0, 0);
    int coord = (int)op_attr_int(nd, "coord", 0, 0), nearest = (int)op_attr_int(nd, "nearest", 0, 0);
    if (p.oh < 1 || p.ow < 1 || p.oh > ((int64_t)1 << 24) || p.ow > ((int64_t)1 << 24)) {
        snprintf(err, len, "needs a 'size' attribute (height, width) of positive values");
        return -1;
    }
    if (coord < 0 || coord > 3 || nearest < 0 || nearest > 3 || p.linear < 0 || p.linear > 2) {
        snprintf(err, len, "mode must be 0..2, coord 0..3 and nearest 0..3");
        return -1;
    }
    double sh = node_get(nd, "scale", 0, (double)p.oh / (double)p.h);
    double sw = node_get(nd, "scale", 1, (double)p.ow / (double)p.w);
    if (!(sh > 0) || !(sw > 0)) {
        snprintf(err, len, "scale must be positive");
        return -1;
    }
    double a = node_get(nd, "cubic_a", 0, -0.75);
    /* one block (priv is freed with free()): the struct, then the tables */
    size_t n = (size_t)(p.oh + p.ow), nc = p.linear == 2 ? 4 * n : 0;
    resize_p *r = malloc(sizeof *r + (n + nc) * (2 * sizeof(int64_t) + sizeof(float)));
    if (!r) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    *r = p;
    int64_t *ib = (int64_t *)(r + 1), *cb = ib + 2 * n;
    float *fb = (float *)(cb + nc), *cf = fb + n;
    r->ty = (taps){ ib, ib + n, fb, cb, cf };
    r->tx = (taps){ ib + p.oh, ib + n + p.oh, fb + p.oh, cb + 4 * p.oh, cf + 4 * p.oh };
    map_axis(p.h, p.oh, sh, coord, nearest, p.linear, a, &r->ty);
    map_axis(p.w, p.ow, sw, coord, nearest, p.linear, a, &r->tx);
    nd->priv = r;
    nd->shape[0] = in[0][0], nd->shape[1] = p.oh, nd->shape[2] = p.ow;
    need->ws = 0, need->aux = 0;
    return 0;
}

/* One plane by the cubic taps: rows then columns, 16 taps an output. */
static void cubic_plane(const resize_p *p, const float *x, float *y)
{
    for (int64_t oy = 0; oy < p->oh; oy++) {
        const int64_t *ry = p->ty.c + 4 * oy;
        const float *wy = p->ty.cw + 4 * oy;
        for (int64_t ox = 0; ox < p->ow; ox++) {
            const int64_t *cx = p->tx.c + 4 * ox;
            const float *wx = p->tx.cw + 4 * ox;
            float v = 0;
            for (int k = 0; k < 4; k++) {
                const float *r = x + ry[k] * p->w;
                v += wy[k] * (wx[0] * r[cx[0]] + wx[1] * r[cx[1]] + wx[2] * r[cx[2]] + wx[3] * r[cx[3]]);
            }
            y[oy * p->ow + ox] = v;
        }
    }
}

static void cubic_plane_back(const resize_p *p, const float *g, float *gx)
{
    for (int64_t oy = 0; oy < p->oh; oy++) {
        const int64_t *ry = p->ty.c + 4 * oy;
        const float *wy = p->ty.cw + 4 * oy;
        for (int64_t ox = 0; ox < p->ow; ox++) {
            const int64_t *cx = p->tx.c + 4 * ox;
            const float *wx = p->tx.cw + 4 * ox;
            float v = g[oy * p->ow + ox];
            for (int k = 0; k < 4; k++)
                for (int j = 0; j < 4; j++)
                    gx[ry[k] * p->w + cx[j]] += v * wy[k] * wx[j];
        }
    }
}

/* Planes q0..q1-1 of the forward or the input gradient. */
typedef struct resize_job {
    const node *nd;
    const op_io *io;
} resize_job;

static void resize_planes(void *ctx, int64_t q0, int64_t q1, int t)
{
    const resize_job *a = ctx;
    const node *nd = a->nd;
    const op_io *io = a->io;
    const resize_p *p = nd->priv;
    int64_t hw = p->h * p->w, ohw = p->oh * p->ow;
    (void)t;
    for (int64_t q = q0; q < q1; q++) {
        const float *x = io->x[0] + q * hw;
        float *y = io->y + q * ohw;
        if (p->linear == 2) {
            cubic_plane(p, x, y);
            continue;
        }
        for (int64_t oy = 0; oy < p->oh; oy++) {
            const float *r0 = x + p->ty.i0[oy] * p->w, *r1 = x + p->ty.i1[oy] * p->w;
            float wy = p->ty.w1[oy];
            if (!p->linear) {
                /* Nearest copies, as PyTorch does: an infinity stays one
                 * (the interpolation below would make inf - inf = NaN). */
                for (int64_t ox = 0; ox < p->ow; ox++)
                    y[oy * p->ow + ox] = r0[p->tx.i0[ox]];
                continue;
            }
            for (int64_t ox = 0; ox < p->ow; ox++) {
                int64_t a = p->tx.i0[ox], b = p->tx.i1[ox];
                float wx = p->tx.w1[ox];
                /* PyTorch's weighted sum, not a + w (b - a): two equal
                 * infinities then stay an infinity instead of inf - inf. */
                float top = (1 - wx) * r0[a] + wx * r0[b], bot = (1 - wx) * r1[a] + wx * r1[b];
                y[oy * p->ow + ox] = (1 - wy) * top + wy * bot;
            }
        }
    }
}

static void resize_forward(const node *nd, const op_io *io)
{
    const resize_p *p = nd->priv;
    int64_t planes = (int64_t)io->n * nd->shape[0], ohw = p->oh * p->ow;
    resize_job a = { nd, io };
    op_par_for(planes, planes * ohw, resize_planes, &a);
}

static void resize_grad_planes(void *ctx, int64_t q0, int64_t q1, int t)
{
    const resize_job *a = ctx;
    const node *nd = a->nd;
    const op_io *io = a->io;
    const resize_p *p = nd->priv;
    int64_t hw = p->h * p->w, ohw = p->oh * p->ow;
    (void)t;
    for (int64_t q = q0; q < q1; q++) {
        float *gx = io->gx[0] + q * hw;
        const float *g = io->gy + q * ohw;
        if (p->linear == 2) {
            cubic_plane_back(p, g, gx);
            continue;
        }
        for (int64_t oy = 0; oy < p->oh; oy++) {
            float *r0 = gx + p->ty.i0[oy] * p->w, *r1 = gx + p->ty.i1[oy] * p->w;
            float wy = p->ty.w1[oy];
            for (int64_t ox = 0; ox < p->ow; ox++) {
                int64_t a = p->tx.i0[ox], b = p->tx.i1[ox];
                float wx = p->tx.w1[ox], v = g[oy * p->ow + ox];
                r0[a] += v * (1 - wy) * (1 - wx);
                r0[b] += v * (1 - wy) * wx;
                r1[a] += v * wy * (1 - wx);
                r1[b] += v * wy * wx;
            }
        }
    }
}

static void resize_backward(const node *nd, const op_io *io)
{
    const resize_p *p = nd->priv;
    int64_t planes = (int64_t)io->n * nd->shape[0], ohw = p->oh * p->ow;
    resize_job a = { nd, io };
    if (!io->gx[0])
        return;
    op_par_for(planes, planes * ohw, resize_grad_planes, &a);
}

const struct op_def op_resize = { "Resize", 1, 1, resize_attrs, no_weights, resize_prepare,
                                  resize_forward, resize_backward };
