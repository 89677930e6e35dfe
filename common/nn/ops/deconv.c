/* ConvTranspose (PyTorch's ConvTranspose2d, ONNX ConvTranspose): the
 * gradient of a convolution taken as a layer. Weight Cin x Cout/groups x kh
 * x kw; input pixel (iy, ix) adds x * w[ky, kx] to output (iy sh - pt +
 * ky dh, ix sw - pl + kx dw);
 *   OH = (H - 1) sh - pt - pb + dh (kh - 1) + 1 + output_padding.
 * Direct loops, each output (or input-gradient, or weight-gradient) plane
 * owned by one thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops.h"

static const op_attr_spec dc_attrs[] = {
    { "kernel", 1, 2 }, { "stride", 1, 2 }, { "pad", 1, 4 }, { "dilation", 1, 2 },
    { "groups", 1, 1 }, { "output_padding", 1, 2 }, { NULL, 0, 0 }
};
static const op_weight_spec dc_weights[] = { { "weight", 1 }, { "bias", 0 }, { NULL, 0 } };

typedef struct dc_p {
    int64_t cin, h, w, cout, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw, g;
    int iw, ib;
} dc_p;

static int dc_prepare(node *nd, const int64_t *const *in, op_need *need, char *err, size_t len)
{
    dc_p p;
    p.iw = op_weight_index(nd, "weight"), p.ib = op_weight_index(nd, "bias");
    const tensor *W = nd->w[p.iw];
    p.cin = in[0][0], p.h = in[0][1], p.w = in[0][2];
    p.g = op_attr_int(nd, "groups", 0, 1);
    if (W->ndim != 4 || p.g < 1 || W->dims[0] != p.cin || p.cin % p.g) {
        snprintf(err, len, "weight must be Cin x Cout/groups x kh x kw with Cin = %lld divisible "
                 "by groups", (long long)p.cin);
        return -1;
    }
    p.cout = W->dims[1] * p.g, p.kh = W->dims[2], p.kw = W->dims[3];
    if (node_getn(nd, "kernel") > 0 &&
        (op_attr_int(nd, "kernel", 0, 0) != p.kh || op_attr_int(nd, "kernel", 1, 0) != p.kw)) {
        snprintf(err, len, "kernel does not match the weight's %lldx%lld", (long long)p.kh,
                 (long long)p.kw);
        return -1;
    }
    p.sh = op_attr_int(nd, "stride", 0, 1), p.sw = op_attr_int(nd, "stride", 1, 1);
    p.dh = op_attr_int(nd, "dilation", 0, 1), p.dw = op_attr_int(nd, "dilation", 1, 1);
    int64_t pad[4];
    op_pads(nd, pad);
    p.pt = pad[0], p.pl = pad[1];
    int64_t oph = op_attr_int(nd, "output_padding", 0, 0), opw = op_attr_int(nd, "output_padding", 1, 0);
    if (p.sh < 1 || p.sw < 1 || p.dh < 1 || p.dw < 1 || pad[0] < 0 || pad[1] < 0 || pad[2] < 0 ||
        pad[3] < 0 || oph < 0 || opw < 0 || (oph >= p.sh && oph >= p.dh) ||
        (opw >= p.sw && opw >= p.dw)) {
        snprintf(err, len, "stride and dilation must be >= 1, pads and output_padding >= 0 "
                 "(output_padding below the stride)");
        return -1;
    }
    if (p.ib >= 0 && (nd->w[p.ib]->ndim != 1 || nd->w[p.ib]->dims[0] != p.cout)) {
        snprintf(err, len, "bias must have %lld values", (long long)p.cout);
        return -1;
    }
    p.oh = (p.h - 1) * p.sh - pad[0] - pad[2] + p.dh * (p.kh - 1) + 1 + oph;
    p.ow = (p.w - 1) * p.sw - pad[1] - pad[3] + p.dw * (p.kw - 1) + 1 + opw;
    if (p.oh < 1 || p.ow < 1) {
        snprintf(err, len, "the output would be empty (%lldx%lld)", (long long)p.oh, (long long)p.ow);
        return -1;
    }
    nd->shape[0] = p.cout, nd->shape[1] = p.oh, nd->shape[2] = p.ow;
    need->ws = 0, need->aux = 0;
    nd->priv = malloc(sizeof p);
    if (nd->priv)
        memcpy(nd->priv, &p, sizeof p);
    else
        snprintf(err, len, "out of memory");
    return nd->priv ? 0 : -1;
}

/* Visit every (input pixel, tap) pair of input plane x and output plane y
 * for weight slice k (kh x kw): y[o] += x[i] k[t] (mode 0), x[i] += y[o] k[t]
 * (mode 1, the input gradient), k[t] += x[i] y[o] (mode 2). */
static void dc_pair(const dc_p *p, float *x, float *y, float *k, int mode)
{
    for (int64_t ky = 0; ky < p->kh; ky++)
        for (int64_t iy = 0; iy < p->h; iy++) {
            int64_t oy = iy * p->sh - p->pt + ky * p->dh;
            if (oy < 0 || oy >= p->oh)
                continue;
            for (int64_t kx = 0; kx < p->kw; kx++) {
                float *kt = k + ky * p->kw + kx, s = 0;
                for (int64_t ix = 0; ix < p->w; ix++) {
                    int64_t ox = ix * p->sw - p->pl + kx * p->dw;
                    if (ox < 0 || ox >= p->ow)
                        continue;
                    if (mode == 0)
                        y[oy * p->ow + ox] += x[iy * p->w + ix] * *kt;
                    else if (mode == 1)
                        x[iy * p->w + ix] += y[oy * p->ow + ox] * *kt;
                    else
                        s += x[iy * p->w + ix] * y[oy * p->ow + ox];
                }
                if (mode == 2)
                    *kt += s;
            }
        }
}

/* Planes q0..q1-1 of the forward (output planes), the input gradient
 * (input planes) or the weight gradient (input channels). */
typedef struct dcv_job {
    const node *nd;
    const op_io *io;
} dcv_job;

static void dcv_planes(void *ctx, int64_t q0, int64_t q1, int t)
{
    const dcv_job *a = ctx;
    const op_io *io = a->io;
    const dc_p *p = a->nd->priv;
    const float *W = a->nd->w[p->iw]->data, *b = p->ib >= 0 ? a->nd->w[p->ib]->data : NULL;
    int64_t cig = p->cin / p->g, cog = p->cout / p->g, hw = p->h * p->w, ohw = p->oh * p->ow;
    (void)t;
    for (int64_t q = q0; q < q1; q++) {
        int64_t img = q / p->cout, co = q % p->cout, gi = co / cog, col = co % cog;
        float *y = io->y + q * ohw;
        for (int64_t k = 0; k < ohw; k++)
            y[k] = b ? b[co] : 0.0f;
        for (int64_t ci = gi * cig; ci < (gi + 1) * cig; ci++)
            dc_pair(p, (float *)(io->x[0] + (img * p->cin + ci) * hw), y,
                    (float *)(W + (ci * cog + col) * p->kh * p->kw), 0);
    }
}

static void dcv_grad_planes(void *ctx, int64_t q0, int64_t q1, int t)
{
    const dcv_job *a = ctx;
    const op_io *io = a->io;
    const dc_p *p = a->nd->priv;
    const float *W = a->nd->w[p->iw]->data;
    int64_t cig = p->cin / p->g, cog = p->cout / p->g, hw = p->h * p->w, ohw = p->oh * p->ow;
    float *gy = (float *)io->gy;
    (void)t;
    for (int64_t q = q0; q < q1; q++) {
        int64_t img = q / p->cin, ci = q % p->cin, gi = ci / cig;
        for (int64_t col = 0; col < cog; col++)
            dc_pair(p, io->gx[0] + q * hw, gy + (img * p->cout + gi * cog + col) * ohw,
                    (float *)(W + (ci * cog + col) * p->kh * p->kw), 1);
    }
}

static void dcv_wgrad_channels(void *ctx, int64_t c0, int64_t c1, int t)
{
    const dcv_job *a = ctx;
    const op_io *io = a->io;
    const dc_p *p = a->nd->priv;
    int64_t cig = p->cin / p->g, cog = p->cout / p->g, hw = p->h * p->w, ohw = p->oh * p->ow;
    float *gy = (float *)io->gy;
    (void)t;
    for (int64_t ci = c0; ci < c1; ci++) {
        int64_t gi = ci / cig;
        for (int i = 0; i < io->n; i++)
            for (int64_t col = 0; col < cog; col++)
                dc_pair(p, (float *)(io->x[0] + ((int64_t)i * p->cin + ci) * hw),
                        gy + ((int64_t)i * p->cout + gi * cog + col) * ohw,
                        io->gw[p->iw] + (ci * cog + col) * p->kh * p->kw, 2);
    }
}

static void dc_forward(const node *nd, const op_io *io)
{
    const dc_p *p = nd->priv;
    dcv_job a = { nd, io };
    par_for((int64_t)io->n * p->cout, par_threads(), dcv_planes, &a);
}

static void dc_backward(const node *nd, const op_io *io)
{
    const dc_p *p = nd->priv;
    int64_t ohw = p->oh * p->ow;
    const float *gy = io->gy;
    dcv_job a = { nd, io };
    if (io->gx[0])
        par_for((int64_t)io->n * p->cin, par_threads(), dcv_grad_planes, &a);
    if (io->gw) {
        par_for(p->cin, par_threads(), dcv_wgrad_channels, &a);
        if (p->ib >= 0)
            for (int i = 0; i < io->n; i++)
                for (int64_t co = 0; co < p->cout; co++) {
                    const float *g = gy + ((int64_t)i * p->cout + co) * ohw;
                    double s = 0;
                    for (int64_t k = 0; k < ohw; k++)
                        s += g[k];
                    io->gw[p->ib][co] += (float)s;
                }
    }
}

const struct op_def op_convtranspose = { "ConvTranspose", 1, 1, dc_attrs, dc_weights, dc_prepare,
                                         dc_forward, dc_backward };
