/* Conv (2-D convolution, PyTorch/ONNX semantics) and Dense (Gemm).
 *
 * Conv lowers each image to a column matrix (im2col: rows c,ki,kj; columns
 * output positions) and multiplies by the weight matrix Cout x Cin/g*kh*kw
 * with one cblas_sgemm per group. A 1x1, stride-1, unpadded convolution
 * needs no lowering: the input plane is already the column matrix. The
 * column matrix lives in the engine's shared workspace, sized by prepare
 * for one image; OpenBLAS parallelises each GEMM. A depthwise convolution
 * (groups = Cin = Cout) would be Cin GEMMs of one row each, so it runs as
 * direct loops over the planes instead, in parallel with OpenMP. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

typedef struct conv_p {
    int64_t cin, h, w, cout, oh, ow, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, g;
    int iw, ib;          /* weight/bias index in nd->w; ib -1 = no bias */
    int direct;          /* 1x1, stride 1, no padding: skip im2col */
    int depthwise;       /* groups = Cin = Cout: direct loops, no GEMM */
} conv_p;

static const op_attr_spec conv_attrs[] = {
    { "kernel", 1, 2 }, { "stride", 1, 2 }, { "pad", 1, 4 }, { "dilation", 1, 2 },
    { "groups", 1, 1 }, { NULL, 0, 0 }
};
static const op_weight_spec conv_weights[] = { { "weight", 1 }, { "bias", 0 }, { NULL, 0 } };

static int conv_prepare(node *nd, const int64_t *const *in, op_need *need, char *err, size_t len)
{
    conv_p p = { 0 };
    p.iw = op_weight_index(nd, "weight");
    p.ib = op_weight_index(nd, "bias");
    const tensor *W = nd->w[p.iw];
    p.cin = in[0][0], p.h = in[0][1], p.w = in[0][2];
    if (W->ndim != 4) {
        snprintf(err, len, "weight must be 4-D (Cout x Cin/groups x kh x kw), has %d dimensions",
                 W->ndim);
        return -1;
    }
    p.cout = W->dims[0], p.kh = W->dims[2], p.kw = W->dims[3];
    p.g = op_attr_int(nd, "groups", 0, 1);
    p.sh = op_attr_int(nd, "stride", 0, 1), p.sw = op_attr_int(nd, "stride", 1, 1);
    p.dh = op_attr_int(nd, "dilation", 0, 1), p.dw = op_attr_int(nd, "dilation", 1, 1);
    int64_t pad[4];
    op_pads(nd, pad);
    p.pt = pad[0], p.pl = pad[1], p.pb = pad[2], p.pr = pad[3];
    if (node_has(nd, "kernel") && (op_attr_int(nd, "kernel", 0, 0) != p.kh ||
                                   op_attr_int(nd, "kernel", 1, 0) != p.kw)) {
        snprintf(err, len, "kernel attribute %lldx%lld disagrees with the weight's %lldx%lld",
                 (long long)op_attr_int(nd, "kernel", 0, 0),
                 (long long)op_attr_int(nd, "kernel", 1, 0), (long long)p.kh, (long long)p.kw);
        return -1;
    }
    if (p.g < 1 || p.sh < 1 || p.sw < 1 || p.dh < 1 || p.dw < 1 || pad[0] < 0 || pad[1] < 0 ||
        pad[2] < 0 || pad[3] < 0 || p.kh < 1 || p.kw < 1 || p.cout < 1) {
        snprintf(err, len, "groups, stride, dilation and kernel must be >= 1 and pads >= 0");
        return -1;
    }
    if (p.cin % p.g || p.cout % p.g) {
        snprintf(err, len, "groups %lld does not divide input channels %lld and output channels %lld",
                 (long long)p.g, (long long)p.cin, (long long)p.cout);
        return -1;
    }
    if (W->dims[1] != p.cin / p.g) {
        snprintf(err, len, "weight has %lld input channels per group, the input gives %lld/%lld = %lld",
                 (long long)W->dims[1], (long long)p.cin, (long long)p.g,
                 (long long)(p.cin / p.g));
        return -1;
    }
    if (p.ib >= 0 && (nd->w[p.ib]->ndim != 1 || nd->w[p.ib]->dims[0] != p.cout)) {
        snprintf(err, len, "bias must have %lld values (one per output channel)", (long long)p.cout);
        return -1;
    }
    int64_t eh = p.dh * (p.kh - 1) + 1, ew = p.dw * (p.kw - 1) + 1;
    if (p.h + p.pt + p.pb < eh || p.w + p.pl + p.pr < ew) {
        snprintf(err, len, "kernel %lldx%lld (dilated) is larger than the padded input %lldx%lld",
                 (long long)eh, (long long)ew, (long long)(p.h + p.pt + p.pb),
                 (long long)(p.w + p.pl + p.pr));
        return -1;
    }
    p.oh = (p.h + p.pt + p.pb - eh) / p.sh + 1;
    p.ow = (p.w + p.pl + p.pr - ew) / p.sw + 1;
    p.direct = p.kh == 1 && p.kw == 1 && p.sh == 1 && p.sw == 1 && !p.pt && !p.pl && !p.pb && !p.pr;
    nd->shape[0] = p.cout, nd->shape[1] = p.oh, nd->shape[2] = p.ow;
    p.depthwise = p.g > 1 && p.g == p.cin && p.cout == p.cin;
    need->ws = p.direct || p.depthwise ? 0 : (size_t)(p.cin * p.kh * p.kw * p.oh * p.ow);
    need->aux = 0;
    conv_p *q = malloc(sizeof *q);
    if (!q) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    *q = p;
    nd->priv = q;
    return 0;
}

/* Lower one image x (cin x h x w) into col (cin*kh*kw x oh*ow). */
static void im2col(const conv_p *p, const float *x, float *col)
{
    int64_t ohw = p->oh * p->ow;
    for (int64_t c = 0; c < p->cin; c++)
        for (int64_t ki = 0; ki < p->kh; ki++)
            for (int64_t kj = 0; kj < p->kw; kj++) {
                float *row = col + ((c * p->kh + ki) * p->kw + kj) * ohw;
                const float *xc = x + c * p->h * p->w;
                int64_t off = kj * p->dw - p->pl;
                /* Output columns whose input column lies inside the image. */
                int64_t lo = off < 0 ? (-off + p->sw - 1) / p->sw : 0;
                int64_t hi = p->w - off <= 0 ? 0 : (p->w - off - 1) / p->sw + 1;
                if (hi > p->ow)
                    hi = p->ow;
                if (lo > hi)
                    lo = hi;
                for (int64_t oy = 0; oy < p->oh; oy++) {
                    float *r = row + oy * p->ow;
                    int64_t iy = oy * p->sh - p->pt + ki * p->dh;
                    if (iy < 0 || iy >= p->h) {
                        memset(r, 0, (size_t)p->ow * sizeof *r);
                        continue;
                    }
                    /* Indices, not a pointer off the row's start (off < 0). */
                    int64_t base = iy * p->w + off;
                    for (int64_t ox = 0; ox < lo; ox++)
                        r[ox] = 0;
                    if (p->sw == 1 && hi > lo)
                        memcpy(r + lo, xc + base + lo, (size_t)(hi - lo) * sizeof *r);
                    else
                        for (int64_t ox = lo; ox < hi; ox++)
                            r[ox] = xc[base + ox * p->sw];
                    for (int64_t ox = hi; ox < p->ow; ox++)
                        r[ox] = 0;
                }
            }
}

/* The adjoint of im2col: add col's entries back onto the image gx. */
static void col2im_add(const conv_p *p, const float *col, float *gx)
{
    int64_t ohw = p->oh * p->ow;
    for (int64_t c = 0; c < p->cin; c++)
        for (int64_t ki = 0; ki < p->kh; ki++)
            for (int64_t kj = 0; kj < p->kw; kj++) {
                const float *row = col + ((c * p->kh + ki) * p->kw + kj) * ohw;
                float *gc = gx + c * p->h * p->w;
                int64_t off = kj * p->dw - p->pl;
                int64_t lo = off < 0 ? (-off + p->sw - 1) / p->sw : 0;
                int64_t hi = p->w - off <= 0 ? 0 : (p->w - off - 1) / p->sw + 1;
                if (hi > p->ow)
                    hi = p->ow;
                for (int64_t oy = 0; oy < p->oh; oy++) {
                    int64_t iy = oy * p->sh - p->pt + ki * p->dh;
                    if (iy < 0 || iy >= p->h)
                        continue;
                    const float *r = row + oy * p->ow;
                    int64_t base = iy * p->w + off;
                    for (int64_t ox = lo; ox < hi; ox++)
                        gc[base + ox * p->sw] += r[ox];
                }
            }
}

/* Depthwise: each channel convolved with its own kh x kw filter. */
static void dw_forward(const conv_p *p, const float *W, const float *b, const op_io *io)
{
    int64_t planes = (int64_t)io->n * p->cin, hw = p->h * p->w, ohw = p->oh * p->ow;
#pragma omp parallel for if (planes * ohw * p->kh * p->kw > OP_PAR_MIN) schedule(static)
    for (int64_t q = 0; q < planes; q++) {
        int64_t c = q % p->cin;
        const float *x = io->x[0] + q * hw, *w = W + c * p->kh * p->kw;
        float *y = io->y + q * ohw;
        for (int64_t oy = 0; oy < p->oh; oy++)
            for (int64_t ox = 0; ox < p->ow; ox++) {
                float s = b ? b[c] : 0.0f;
                for (int64_t ki = 0; ki < p->kh; ki++) {
                    int64_t iy = oy * p->sh - p->pt + ki * p->dh;
                    if (iy < 0 || iy >= p->h)
                        continue;
                    for (int64_t kj = 0; kj < p->kw; kj++) {
                        int64_t ix = ox * p->sw - p->pl + kj * p->dw;
                        if (ix >= 0 && ix < p->w)
                            s += w[ki * p->kw + kj] * x[iy * p->w + ix];
                    }
                }
                y[oy * p->ow + ox] = s;
            }
    }
}

/* Parallel over channels, images inside: the weight gradient of a channel
 * sums over images, so one thread owns it. */
static void dw_backward(const conv_p *p, const float *W, float *gW, float *gb, const op_io *io)
{
    int64_t hw = p->h * p->w, ohw = p->oh * p->ow, kk = p->kh * p->kw;
    float *gx0 = io->gx[0];
#pragma omp parallel for if ((int64_t)io->n * p->cin * ohw * kk > OP_PAR_MIN) schedule(static)
    for (int64_t c = 0; c < p->cin; c++) {
        const float *w = W + c * kk;
        for (int i = 0; i < io->n; i++) {
            int64_t q = (int64_t)i * p->cin + c;
            const float *x = io->x[0] + q * hw, *g = io->gy + q * ohw;
            float *gx = gx0 ? gx0 + q * hw : NULL;
            for (int64_t oy = 0; oy < p->oh; oy++)
                for (int64_t ox = 0; ox < p->ow; ox++) {
                    float gv = g[oy * p->ow + ox];
                    if (gb)
                        gb[c] += gv;
                    for (int64_t ki = 0; ki < p->kh; ki++) {
                        int64_t iy = oy * p->sh - p->pt + ki * p->dh;
                        if (iy < 0 || iy >= p->h)
                            continue;
                        for (int64_t kj = 0; kj < p->kw; kj++) {
                            int64_t ix = ox * p->sw - p->pl + kj * p->dw;
                            if (ix < 0 || ix >= p->w)
                                continue;
                            if (gx)
                                gx[iy * p->w + ix] += w[ki * p->kw + kj] * gv;
                            if (gW)
                                gW[c * kk + ki * p->kw + kj] += x[iy * p->w + ix] * gv;
                        }
                    }
                }
        }
    }
}

static void conv_forward(const node *nd, const op_io *io)
{
    const conv_p *p = nd->priv;
    const float *W = nd->w[p->iw]->data, *b = p->ib >= 0 ? nd->w[p->ib]->data : NULL;
    if (p->depthwise) {
        dw_forward(p, W, b, io);
        return;
    }
    int64_t ohw = p->oh * p->ow, M = p->cout / p->g, K = p->cin / p->g * p->kh * p->kw;
    for (int i = 0; i < io->n; i++) {
        const float *x = io->x[0] + (int64_t)i * p->cin * p->h * p->w;
        float *y = io->y + (int64_t)i * p->cout * ohw;
        const float *col = x;
        if (!p->direct) {
            im2col(p, x, io->ws);
            col = io->ws;
        }
        for (int64_t g = 0; g < p->g; g++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)ohw, (int)K,
                        1.0f, W + g * M * K, (int)K, col + g * K * ohw, (int)ohw, 0.0f,
                        y + g * M * ohw, (int)ohw);
        if (b)
            for (int64_t c = 0; c < p->cout; c++) {
                float *yc = y + c * ohw, bc = b[c];
                for (int64_t k = 0; k < ohw; k++)
                    yc[k] += bc;
            }
    }
}

static void conv_backward(const node *nd, const op_io *io)
{
    const conv_p *p = nd->priv;
    const float *W = nd->w[p->iw]->data;
    float *gW = io->gw ? io->gw[p->iw] : NULL;
    float *gb = io->gw && p->ib >= 0 ? io->gw[p->ib] : NULL;
    float *gx0 = io->gx[0];
    int64_t ohw = p->oh * p->ow, M = p->cout / p->g, K = p->cin / p->g * p->kh * p->kw;
    int64_t hw = p->h * p->w;
    if (p->depthwise) {
        dw_backward(p, W, gW, gb, io);
        return;
    }
    for (int i = 0; i < io->n; i++) {
        const float *x = io->x[0] + (int64_t)i * p->cin * hw;
        const float *gy = io->gy + (int64_t)i * p->cout * ohw;
        if (gW) {
            const float *col = x;
            if (!p->direct) {
                im2col(p, x, io->ws);
                col = io->ws;
            }
            for (int64_t g = 0; g < p->g; g++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)K, (int)ohw,
                            1.0f, gy + g * M * ohw, (int)ohw, col + g * K * ohw, (int)ohw, 1.0f,
                            gW + g * M * K, (int)K);
        }
        if (gb)
            for (int64_t c = 0; c < p->cout; c++) {
                const float *gc = gy + c * ohw;
                float s = 0;
                for (int64_t k = 0; k < ohw; k++)
                    s += gc[k];
                gb[c] += s;
            }
        if (gx0) {
            float *gx = gx0 + (int64_t)i * p->cin * hw;
            /* Direct: the column matrix is the input gradient itself. */
            float *dcol = p->direct ? gx : io->ws;
            for (int64_t g = 0; g < p->g; g++)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)ohw, (int)M,
                            1.0f, W + g * M * K, (int)K, gy + g * M * ohw, (int)ohw,
                            p->direct ? 1.0f : 0.0f, dcol + g * K * ohw, (int)ohw);
            if (!p->direct)
                col2im_add(p, dcol, gx);
        }
    }
}

const struct op_def op_conv = { "Conv", 1, 1, conv_attrs, conv_weights, conv_prepare,
                                conv_forward, conv_backward };

/* ---- Dense: y = W x + b over the flattened input (C*H*W features). ---- */

typedef struct dense_p {
    int64_t din, dout;
    int iw, ib;
} dense_p;

static const op_attr_spec dense_attrs[] = { { NULL, 0, 0 } };

static int dense_prepare(node *nd, const int64_t *const *in, op_need *need, char *err, size_t len)
{
    dense_p p;
    p.iw = op_weight_index(nd, "weight");
    p.ib = op_weight_index(nd, "bias");
    const tensor *W = nd->w[p.iw];
    p.din = in[0][0] * in[0][1] * in[0][2];
    if (W->ndim != 2) {
        snprintf(err, len, "weight must be 2-D (Dout x Din), has %d dimensions", W->ndim);
        return -1;
    }
    p.dout = W->dims[0];
    if (W->dims[1] != p.din) {
        snprintf(err, len, "weight expects %lld inputs, the input gives %lldx%lldx%lld = %lld",
                 (long long)W->dims[1], (long long)in[0][0], (long long)in[0][1],
                 (long long)in[0][2], (long long)p.din);
        return -1;
    }
    if (p.ib >= 0 && (nd->w[p.ib]->ndim != 1 || nd->w[p.ib]->dims[0] != p.dout)) {
        snprintf(err, len, "bias must have %lld values (one per output)", (long long)p.dout);
        return -1;
    }
    nd->shape[0] = p.dout, nd->shape[1] = 1, nd->shape[2] = 1;
    need->ws = 0, need->aux = 0;
    dense_p *q = malloc(sizeof *q);
    if (!q) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    *q = p;
    nd->priv = q;
    return 0;
}

static void dense_forward(const node *nd, const op_io *io)
{
    const dense_p *p = nd->priv;
    const float *b = p->ib >= 0 ? nd->w[p->ib]->data : NULL;
    for (int i = 0; b && i < io->n; i++)
        memcpy(io->y + i * p->dout, b, (size_t)p->dout * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, io->n, (int)p->dout, (int)p->din, 1.0f,
                io->x[0], (int)p->din, nd->w[p->iw]->data, (int)p->din, b ? 1.0f : 0.0f, io->y,
                (int)p->dout);
}

static void dense_backward(const node *nd, const op_io *io)
{
    const dense_p *p = nd->priv;
    if (io->gx[0])
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, io->n, (int)p->din, (int)p->dout,
                    1.0f, io->gy, (int)p->dout, nd->w[p->iw]->data, (int)p->din, 1.0f, io->gx[0],
                    (int)p->din);
    if (io->gw) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)p->dout, (int)p->din, io->n,
                    1.0f, io->gy, (int)p->dout, io->x[0], (int)p->din, 1.0f, io->gw[p->iw],
                    (int)p->din);
        if (p->ib >= 0)
            for (int i = 0; i < io->n; i++)
                for (int64_t o = 0; o < p->dout; o++)
                    io->gw[p->ib][o] += io->gy[i * p->dout + o];
    }
}

const struct op_def op_dense = { "Dense", 1, 1, dense_attrs, conv_weights, dense_prepare,
                                 dense_forward, dense_backward };
