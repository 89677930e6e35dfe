/* cone: the receptive-field cone executor (see cone.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "base/par.h"
#include "nn/cone.h"
#include "nn/engine.h"
#include "nn/gemm.h"
#include "nn/ops.h"
#include "nn/ops/pack.h"
#include "nn/rfield.h"


enum { K_SPATIAL, K_POINT, K_WHOLE };
enum { M_SKIP, M_REGION, M_FULL };

/* Recompute a layer whole once its region covers this share of the map:
 * past it, crops and halos cost more than they save. */
#define CONE_FULL_SHARE 0.7

#define CONE_MAXIN 64

typedef struct onode {
    int kind, mode;
    int64_t c, h, w;               /* the slot's map */
    int64_t rh, rw;                /* REGION rectangle */
    int64_t eh, ew, sh, sw, pt, pl; /* spatial window (effective size), stride, leading pads */
    int64_t ch, cw;                /* spatial crop of the input */
    float padv;                    /* what padding means to the op */
    int adopt;                     /* one REGION input of the same rectangle: read it as is */
    int has_tmp;
    node tmp;                      /* the node over crops (no padding) */
    size_t ws, aux;                /* scratch floats per call; aux bytes per item */
    double macs;                   /* per item, in this mode */
    float *buf;                    /* this batch's values */
    size_t buflen;
    float *apk;                    /* conv_batch's packed weights (ops/pack.h) */
    int last;                      /* last node reading this slot (-1: none) */
} onode;
struct cone {
    model *m;
    int n, P, upto, batch;
    onode *on;                     /* n + 1 slots */
    int32_t *dirty;                /* P x (n+1) x 4: y0, x0, y1, x1 */
    int32_t *org;                  /* P x (n+1) x 2: REGION origin */
    engine *e;
    float *ws;
    void *aux;
    float *crop[CONE_MAXIN];
    float *col, *gout;             /* conv_batch's column matrix and product */
    size_t collen, goutlen;
    size_t croplen[CONE_MAXIN];
    int release;                   /* free slot buffers after their last reader */
    rng rng;
    double brute_item, done;
};

static int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t floordiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
static int64_t ceildiv(int64_t a, int64_t b) { return -floordiv(-a, b); }

static int32_t *D(const cone *o, int p, int s) { return o->dirty + ((int64_t)p * (o->n + 1) + s) * 4; }
static int32_t *O(const cone *o, int p, int s) { return o->org + ((int64_t)p * (o->n + 1) + s) * 2; }

static int is_point_op(const char *op)
{
    static const char *const pts[] = { "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Clip", "LRN",
                                       "BatchNorm", "Dropout", "Softmax", "Add", "Concat",
                                       "ChannelShuffle", "ChannelSlice", "LayerNorm",
                                       "HardSigmoid", "HardSwish", "SiLU", "GELU", "Elu",
                                       "PRelu", "Softplus", "LogSoftmax", "Sub", "Mul", "Div",
                                       "Selu", "Mish", "Mean", "Max", "Min", NULL };
    for (int i = 0; pts[i]; i++)
        if (!strcmp(op, pts[i]))
            return 1;
    return 0;
}

static const int64_t *slot_shape(const cone *o, int s)
{
    return s == 0 ? o->m->in_shape : o->m->nodes[s - 1].shape;
}

/* Spatial window of a Conv / pool node. */
static void spatial_geometry(const node *nd, onode *on)
{
    int64_t pad[4];
    op_pads(nd, pad);
    on->pt = pad[0], on->pl = pad[1];
    if (!strcmp(nd->op, "Conv")) {
        const tensor *w = node_weight(nd, "weight");
        int64_t dh = op_attr_int(nd, "dilation", 0, 1), dw = op_attr_int(nd, "dilation", 1, 1);
        on->eh = dh * (w->dims[2] - 1) + 1;
        on->ew = dw * (w->dims[3] - 1) + 1;
        on->sh = op_attr_int(nd, "stride", 0, 1);
        on->sw = op_attr_int(nd, "stride", 1, 1);
        on->padv = 0.0f;
    } else {
        int64_t kh = op_attr_int(nd, "kernel", 0, 1), kw = op_attr_int(nd, "kernel", 1, 1);
        /* a dilated MaxPool's window spans its dilated extent */
        on->eh = op_attr_int(nd, "dilation", 0, 1) * (kh - 1) + 1;
        on->ew = op_attr_int(nd, "dilation", 1, 1) * (kw - 1) + 1;
        on->sh = node_getn(nd, "stride") > 0 ? op_attr_int(nd, "stride", 0, kh) : kh;
        on->sw = node_getn(nd, "stride") > 0 ? op_attr_int(nd, "stride", 1, kw) : kw;
        on->padv = !strcmp(nd->op, "MaxPool") ? -INFINITY : 0.0f;
    }
}

/* An AvgPool whose windows all lie inside its input: dividing by the
 * window's size then holds whatever count_include_pad says, so a crop
 * without padding gives the same values. Others are computed whole. */
static int avgpool_croppable(const node *nd, const int64_t *in, const onode *on)
{
    int64_t pad[4];
    op_pads(nd, pad);
    if (pad[0] || pad[1] || pad[2] || pad[3])
        return 0;
    return (on->h - 1) * on->sh + on->eh <= in[1] && (on->w - 1) * on->sw + on->ew <= in[2];
}

/* A copy of nd without padding (and ceil_mode) prepared for inputs of the
 * given shapes; 0 when the op refuses them. */
static int make_tmp(onode *on, const node *nd, const int64_t (*shapes)[3], int strip_pad)
{
    node t = *nd;
    t.attrs = xcalloc((size_t)(nd->nattr ? nd->nattr : 1), sizeof *t.attrs);
    t.nattr = 0;
    for (int k = 0; k < nd->nattr; k++) {
        if (strip_pad && (!strcmp(nd->attrs[k].name, "pad") || !strcmp(nd->attrs[k].name, "ceil_mode")))
            continue;
        t.attrs[t.nattr++] = nd->attrs[k];
    }
    t.priv = NULL;
    const int64_t *in[CONE_MAXIN];
    for (int k = 0; k < nd->nin; k++)
        in[k] = shapes[k];
    op_need need = { .ws = 0, .fws = SIZE_MAX, .aux = 0 };
    char err[256];
    if (nd->def->prepare(&t, in, &need, err, sizeof err) != 0 || t.shape[0] != on->c ||
        t.shape[1] != on->rh || t.shape[2] != on->rw) {
        free(t.priv);
        free(t.attrs);
        return 0;
    }
    on->tmp = t;
    on->has_tmp = 1;
    on->ws = need.ws;
    on->aux = need.aux;
    return 1;
}

/* Output rows [lo, hi) of a spatial op whose windows touch input rows
 * [a, b). */
static void cone_rows(int64_t a, int64_t b, int64_t k, int64_t s, int64_t p, int64_t out, int64_t *lo,
                 int64_t *hi)
{
    if (a >= b) {
        *lo = *hi = 0;
        return;
    }
    *lo = imax(floordiv(a + p - k, s) + 1, 0);
    *hi = imin(ceildiv(b + p, s), out);
    if (*lo >= *hi)
        *lo = *hi = 0;
}

/* Slots, their modes (ancestors of the measured node or skipped) and the
 * input slot's dirty rectangles: the boxes, in a rectangle of their
 * largest extent shifted inside the image. */
static void plan_input(cone *o, const int32_t *boxes)
{
    model *m = o->m;
    int n = m->n, P = o->P;
    char *anc = xcalloc((size_t)n, 1);
    anc[o->upto] = 1;
    for (int i = o->upto; i >= 0; i--)
        if (anc[i])
            for (int k = 0; k < m->nodes[i].nin; k++)
                if (m->nodes[i].in[k] >= 0)
                    anc[m->nodes[i].in[k]] = 1;
    o->on = xcalloc((size_t)n + 1, sizeof *o->on);
    o->dirty = xcalloc((size_t)P * (size_t)(n + 1) * 4, sizeof *o->dirty);
    o->org = xcalloc((size_t)P * (size_t)(n + 1) * 2, sizeof *o->org);
    for (int s = 0; s <= n; s++) {
        const int64_t *sh = slot_shape(o, s);
        o->on[s].c = sh[0], o->on[s].h = sh[1], o->on[s].w = sh[2];
        o->on[s].mode = s == 0 || anc[s - 1] ? M_REGION : M_SKIP;
    }
    free(anc);
    onode *in0 = &o->on[0];
    in0->rh = in0->rw = 1;
    for (int p = 0; p < P; p++) {
        const int32_t *b = boxes + 4 * p;
        if (b[0] < 0 || b[1] < 0 || b[2] > in0->h || b[3] > in0->w || b[0] > b[2] || b[1] > b[3])
            die("cone: region %d (rows %d-%d, columns %d-%d) is outside the %lldx%lld image", p,
                b[0], b[2], b[1], b[3], (long long)in0->h, (long long)in0->w);
        in0->rh = imax(in0->rh, b[2] - b[0]);
        in0->rw = imax(in0->rw, b[3] - b[1]);
    }
    for (int p = 0; p < P; p++) {
        const int32_t *b = boxes + 4 * p;
        int32_t *d = D(o, p, 0), *g = O(o, p, 0);
        for (int k = 0; k < 4; k++)
            d[k] = b[k];
        g[0] = (int32_t)imin(b[0], in0->h - in0->rh);
        g[1] = (int32_t)imin(b[1], in0->w - in0->rw);
    }
}

/* Node i's kind (spatial window, pointwise, or whole-map) and its dirty
 * rectangle per region, from its inputs'; *rh x *rw gets the largest. */
static void plan_dirty(cone *o, int i, int64_t *rh, int64_t *rw)
{
    const model *m = o->m;
    onode *on = &o->on[i + 1];
    const node *nd = &m->nodes[i];
    int spatial = !strcmp(nd->op, "Conv") || !strcmp(nd->op, "MaxPool") || !strcmp(nd->op, "AvgPool");
    int point = is_point_op(nd->op) && nd->nin <= CONE_MAXIN;
    for (int k = 0; point && k < nd->nin; k++) {
        const int64_t *ik = nd->in[k] < 0 ? m->in_shape : m->nodes[nd->in[k]].shape;
        if (ik[1] != on->h || ik[2] != on->w)
            point = 0;
    }
    on->kind = spatial ? K_SPATIAL : point ? K_POINT : K_WHOLE;
    if (spatial)
        spatial_geometry(nd, on);
    *rh = *rw = 1;
    for (int p = 0; p < o->P; p++) {
        int32_t *d = D(o, p, i + 1);
        int64_t y0 = 0, y1 = 0, x0 = 0, x1 = 0;
        if (on->kind == K_SPATIAL) {
            int32_t *di = D(o, p, nd->in[0] + 1);
            cone_rows(di[0], di[2], on->eh, on->sh, on->pt, on->h, &y0, &y1);
            cone_rows(di[1], di[3], on->ew, on->sw, on->pl, on->w, &x0, &x1);
            if (y0 >= y1 || x0 >= x1)
                y0 = y1 = x0 = x1 = 0;
        } else {
            /* Union of the inputs' dirty rectangles. */
            int any = 0;
            for (int k = 0; k < nd->nin; k++) {
                int32_t *di = D(o, p, nd->in[k] + 1);
                if (di[0] >= di[2] || di[1] >= di[3])
                    continue;
                if (!any)
                    y0 = di[0], x0 = di[1], y1 = di[2], x1 = di[3];
                else
                    y0 = imin(y0, di[0]), x0 = imin(x0, di[1]), y1 = imax(y1, di[2]),
                    x1 = imax(x1, di[3]);
                any = 1;
            }
            if (any && on->kind == K_WHOLE)
                y0 = 0, x0 = 0, y1 = on->h, x1 = on->w;
        }
        d[0] = (int32_t)y0, d[1] = (int32_t)x0, d[2] = (int32_t)y1, d[3] = (int32_t)x1;
        *rh = imax(*rh, y1 - y0);
        *rw = imax(*rw, x1 - x0);
    }
}

/* Node i's mode: REGION of rh x rw when its op runs on crops (through a
 * padless copy), else FULL. Returns 1 for FULL. */
static int plan_mode(cone *o, int i, int64_t rh, int64_t rw)
{
    const model *m = o->m;
    onode *on = &o->on[i + 1];
    const node *nd = &m->nodes[i];
    const int64_t *in = nd->in[0] < 0 ? m->in_shape : m->nodes[nd->in[0]].shape;
    /* A Conv past the share still runs as a region (the whole map): its
     * batched GEMM beats the engine's per-image one. */
    int is_conv = !strcmp(nd->op, "Conv");
    if (is_conv && (double)(rh * rw) >= CONE_FULL_SHARE * (double)(on->h * on->w))
        rh = on->h, rw = on->w;
    int full = on->kind == K_WHOLE ||
               (!is_conv && (double)(rh * rw) >= CONE_FULL_SHARE * (double)(on->h * on->w));
    for (int k = 0; !full && k < nd->nin; k++)
        if (on->kind == K_POINT && o->on[nd->in[k] + 1].mode == M_FULL)
            full = 1;
    if (!full && !strcmp(nd->op, "AvgPool")) {
        on->h = nd->shape[1], on->w = nd->shape[2];
        full = !avgpool_croppable(nd, in, on);
    }
    if (full)
        return 1;
    int64_t shapes[CONE_MAXIN][3];
    onode *src = &o->on[nd->in[0] + 1];
    if (on->kind == K_POINT && nd->nin == 1 && src->mode == M_REGION) {
        on->adopt = 1;
        rh = src->rh, rw = src->rw;
    }
    on->rh = rh, on->rw = rw;
    if (on->kind == K_SPATIAL) {
        on->ch = (rh - 1) * on->sh + on->eh;
        on->cw = (rw - 1) * on->sw + on->ew;
        shapes[0][0] = in[0], shapes[0][1] = on->ch, shapes[0][2] = on->cw;
    } else
        for (int k = 0; k < nd->nin; k++) {
            shapes[k][0] = (nd->in[k] < 0 ? m->in_shape : m->nodes[nd->in[k]].shape)[0];
            shapes[k][1] = rh, shapes[k][2] = rw;
        }
    return !make_tmp(on, nd, (const int64_t(*)[3])shapes, on->kind == K_SPATIAL);
}

/* Node i's mode settled: FULL's scratch, or REGION's origin per region. */
static void plan_origin(cone *o, int i, int full)
{
    const model *m = o->m;
    onode *on = &o->on[i + 1];
    const node *nd = &m->nodes[i];
    if (full) {
        on->mode = M_FULL;
        on->rh = on->h, on->rw = on->w;
        on->ws = nd->need_ws;
        on->aux = nd->need_aux;
        on->macs = (double)rfield_node_macs(m, i);
        return;
    }
    on->macs = (double)rfield_node_macs(m, i) * (double)(on->rh * on->rw) / (double)(on->h * on->w);
    for (int p = 0; p < o->P; p++) {
        int32_t *d = D(o, p, i + 1), *g = O(o, p, i + 1);
        if (on->adopt) {
            int32_t *gi = O(o, p, nd->in[0] + 1);
            g[0] = gi[0], g[1] = gi[1];
        } else {
            g[0] = (int32_t)imax(0, imin(d[0], on->h - on->rh));
            g[1] = (int32_t)imax(0, imin(d[1], on->w - on->rw));
        }
    }
}

/* Last reader of each slot, so a batch's buffers go as soon as they are
 * read (VGG-sized maps for hundreds of changed copies add up); the
 * measured slot is kept. Small nets keep their buffers from batch to
 * batch instead (no page faults); 1 GiB of slot buffers decides. */
static void plan_release(cone *o)
{
    const model *m = o->m;
    int n = m->n;
    for (int s = 0; s <= n; s++)
        o->on[s].last = -1;
    for (int i = 0; i <= o->upto; i++)
        if (o->on[i + 1].mode != M_SKIP)
            for (int k = 0; k < m->nodes[i].nin; k++)
                o->on[m->nodes[i].in[k] + 1].last = i;
    o->on[o->upto + 1].last = n;
    double total = 0;
    for (int s = 0; s <= n; s++)
        if (o->on[s].mode != M_SKIP)
            total += (double)(o->on[s].c * o->on[s].rh * o->on[s].rw) * o->batch * sizeof(float);
    o->release = total > (double)(1 << 30);
}

static void plan(cone *o, const int32_t *boxes)
{
    plan_input(o, boxes);
    for (int i = 0; i < o->m->n; i++) {
        if (o->on[i + 1].mode == M_SKIP)
            continue;
        int64_t rh, rw;
        plan_dirty(o, i, &rh, &rw);
        plan_origin(o, i, plan_mode(o, i, rh, rw));
        o->brute_item += (double)rfield_node_macs(o->m, i);
    }
    plan_release(o);
}

/* Scratch that is always written before it is read: not zeroed. */
static float *grow(float **b, size_t *len, size_t need)
{
    if (*len < need) {
        free(*b);
        *b = xmalloc(need * sizeof **b);
        *len = need;
    }
    return *b;
}

/* The unchanged (cached) values of slot s for image img. */
static const float *slot_base(const cone *o, int s, int img)
{
    const onode *sn = &o->on[s];
    const tensor *t = s == 0 ? engine_preprocessed(o->e) : engine_act(o->e, s - 1);
    return t->data + (int64_t)img * sn->c * sn->h * sn->w;
}

/* Channels [c0, c0+nc), rows [y0, y0+hh), columns [x0, x0+ww) of slot s
 * for batch item li (image img, region p): the cache with the recomputed
 * rectangle pasted in, or the whole recomputed map; padv outside the map. */
static void gather(const cone *o, int s, int li, int img, int p, int64_t c0, int64_t nc,
                   int64_t y0, int64_t x0, int64_t hh, int64_t ww, float padv, float *dst)
{
    const onode *sn = &o->on[s];
    int64_t H = sn->h, W = sn->w, hw = H * W;
    const float *src, *reg = NULL;
    int64_t oy = 0, ox = 0, rh = sn->rh, rw = sn->rw;
    if (sn->mode == M_FULL)
        src = sn->buf + (int64_t)li * sn->c * hw;
    else {
        src = slot_base(o, s, img);
        reg = sn->buf + (int64_t)li * sn->c * rh * rw;
        const int32_t *g = O(o, p, s);
        oy = g[0], ox = g[1];
    }
    int64_t xa = imax(x0, 0), xb = imin(x0 + ww, W);
    int64_t ra = imax(xa, ox), rb = imin(xb, ox + rw);
    for (int64_t c = c0; c < c0 + nc; c++) {
        const float *sc = src + c * hw;
        for (int64_t r = 0; r < hh; r++) {
            float *d = dst + ((c - c0) * hh + r) * ww;
            int64_t yy = y0 + r;
            if (yy < 0 || yy >= H || xa >= xb) {
                for (int64_t q = 0; q < ww; q++)
                    d[q] = padv;
                continue;
            }
            for (int64_t q = 0; q < xa - x0; q++)
                d[q] = padv;
            memcpy(d + (xa - x0), sc + yy * W + xa, (size_t)(xb - xa) * sizeof *d);
            for (int64_t q = xb - x0; q < ww; q++)
                d[q] = padv;
            if (reg && yy >= oy && yy < oy + rh && ra < rb)
                memcpy(d + (ra - x0), reg + (c * rh + yy - oy) * rw + (ra - ox),
                       (size_t)(rb - ra) * sizeof *d);
        }
    }
}

/* Slot 0 for a batch: the input slot's rectangle of the preprocessed input
 * with repl inside each item's box. */
static void input_region(cone *o, int m, const int *img, const int *pos, const float *repl)
{
    onode *on = &o->on[0];
    int64_t C = on->c, H = on->h, W = on->w, rh = on->rh, rw = on->rw;
    float *buf = grow(&on->buf, &on->buflen, (size_t)(o->batch * C * rh * rw));
    for (int li = 0; li < m; li++) {
        const int32_t *d = D(o, pos[li], 0), *g = O(o, pos[li], 0);
        const float *base = slot_base(o, 0, img[li]);
        const float *rp = repl + (int64_t)img[li] * C * H * W;
        for (int64_t c = 0; c < C; c++)
            for (int64_t r = 0; r < rh; r++) {
                int64_t y = g[0] + r;
                float *dst = buf + ((li * C + c) * rh + r) * rw;
                for (int64_t q = 0; q < rw; q++) {
                    int64_t x = g[1] + q;
                    int in = y >= d[0] && y < d[2] && x >= d[1] && x < d[3];
                    dst[q] = (in ? rp : base)[(c * H + y) * W + x];
                }
            }
    }
}

/* Floats of column matrix one batched convolution may use. */
#define CONE_COL_LIMIT ((int64_t)1 << 24)

/* Item li's lowering (group gi) of its crop x: row k = (c, ki, kj) of the
 * column matrix at columns j0 .. j0 + N - 1, in the packed GEMM's panels
 * (ps: panel stride) when pk, else row-major with row stride ld. */
static void conv_lower(const node *nd, const onode *on, const float *x, int64_t cpg, int64_t kh,
                       int64_t kw, int pk, int64_t ps, float *col, int64_t ld, int64_t j0)
{
    int64_t dh = op_attr_int(nd, "dilation", 0, 1), dw = op_attr_int(nd, "dilation", 1, 1);
    int64_t ch = on->ch, cw = on->cw;
    for (int64_t c = 0; c < cpg; c++)
        for (int64_t ki = 0; ki < kh; ki++)
            for (int64_t kj = 0; kj < kw; kj++) {
                int64_t k = (c * kh + ki) * kw + kj;
                float *d = col + k * ld + j0;
                for (int64_t oy = 0; oy < on->rh; oy++) {
                    const float *sr = x + (c * ch + oy * on->sh + ki * dh) * cw + kj * dw;
                    if (pk)
                        pk_put(col, ps, k, j0 + oy * on->rw, sr, on->rw, on->sw);
                    else if (on->sw == 1)
                        memcpy(d + oy * on->rw, sr, (size_t)on->rw * sizeof *d);
                    else
                        for (int64_t ox = 0; ox < on->rw; ox++)
                            d[oy * on->rw + ox] = sr[ox * on->sw];
                }
            }
}

/* A Conv over m crops (padding already in them). Every output value is
 * computed the same way whatever the batch, its place in it and the
 * threads, so occlusion maps do not depend on --batch, --range or
 * --threads (issue 20):
 *  - on the packed GEMM (ops/pack.h; AVX-512, for the shapes the engine's
 *    own convolutions give it, pk_wanted): one product per group for many
 *    items at once, the column matrix holding every item's positions side
 *    by side in its panels, the weights packed once per node. Its kernel
 *    sums each output over K in the same blocks and order in whatever
 *    column and on whatever thread it lies;
 *  - else one single-threaded OpenBLAS product per item and group, of the
 *    same shape for every item (OpenBLAS rounds a column by its place in a
 *    product and by the product's shape), items on the pool's threads. */
typedef struct cb_job {
    const node *nd;
    const onode *on;
    const float *src;   /* the crops (cb_items, cb_lower), the products (cb_bias) */
    float *out, *col;
    int64_t ld;
} cb_job;

/* conv_batch's OpenBLAS items li0..li1-1, part t's columns its own. */
static void cb_items(void *ctx, int64_t li0, int64_t li1, int t)
{
    const cb_job *j = ctx;
    const node *nd = j->nd;
    const onode *on = j->on;
    const tensor *Wt = node_weight(nd, "weight"), *Bt = node_weight(nd, "bias");
    int64_t g = op_attr_int(nd, "groups", 0, 1);
    int64_t kh = Wt->dims[2], kw = Wt->dims[3], cpg = Wt->dims[1], cin = cpg * g;
    int64_t M = on->c / g, K = cpg * kh * kw, N = on->rh * on->rw;
    int64_t csz = cin * on->ch * on->cw;
    float *cl = j->col + (int64_t)t * K * N;
    for (int64_t li = li0; li < li1; li++)
        for (int64_t gi = 0; gi < g; gi++) {
            float *d = j->out + (li * on->c + gi * M) * N;
            conv_lower(nd, on, j->src + li * csz + gi * cpg * on->ch * on->cw, cpg, kh, kw, 0, 0,
                       cl, N, 0);
            gemm1(0, 0, (int)M, (int)N, (int)K, 1.0f, Wt->data + gi * M * K, (int)K, cl, (int)N,
                  0.0f, d, (int)N);
            for (int64_t c = 0; Bt && c < M; c++)
                for (int64_t q = 0; q < N; q++)
                    d[c * N + q] += Bt->data[gi * M + c];
        }
}

/* Items li0..li1-1 of a block lowered into the packed columns (src: the
 * block's first crop of the group). */
static void cb_lower(void *ctx, int64_t li0, int64_t li1, int t)
{
    const cb_job *j = ctx;
    const tensor *Wt = node_weight(j->nd, "weight");
    int64_t g = op_attr_int(j->nd, "groups", 0, 1);
    int64_t kh = Wt->dims[2], kw = Wt->dims[3], cpg = Wt->dims[1];
    int64_t K = cpg * kh * kw, N = j->on->rh * j->on->rw, csz = cpg * g * j->on->ch * j->on->cw;
    (void)t;
    for (int64_t li = li0; li < li1; li++)
        conv_lower(j->nd, j->on, j->src + li * csz, cpg, kh, kw, 1, K * PK_NR, j->col, j->ld,
                   li * N);
}

/* Items li0..li1-1 of a block: products (src, ld apart a channel) plus
 * bias into out. */
static void cb_bias(void *ctx, int64_t li0, int64_t li1, int t)
{
    const cb_job *j = ctx;
    const onode *on = j->on;
    const tensor *Bt = node_weight(j->nd, "bias");
    int64_t N = on->rh * on->rw;
    (void)t;
    for (int64_t li = li0; li < li1; li++)
        for (int64_t c = 0; c < on->c; c++) {
            float *d = j->out + (li * on->c + c) * N;
            const float *sr = j->src + c * j->ld + li * N;
            float bc = Bt ? Bt->data[c] : 0.0f;
            for (int64_t q = 0; q < N; q++)
                d[q] = sr[q] + bc;
        }
}

static void conv_batch(cone *o, const node *nd, onode *on, int m, const float *crop,
                       float *out)
{
    const tensor *Wt = node_weight(nd, "weight");
    int64_t g = op_attr_int(nd, "groups", 0, 1);
    int64_t kh = Wt->dims[2], kw = Wt->dims[3], cpg = Wt->dims[1], cin = cpg * g;
    int64_t M = on->c / g, K = cpg * kh * kw, N = on->rh * on->rw;
    int64_t csz = cin * on->ch * on->cw;
    int pk = PK_KERNEL && pk_wanted(M, K);
    if (!pk) {
        int par = m > 1 && m * M * K * N > (1 << 16) && !par_busy();
        int nt = par ? par_threads() : 1;
        cb_job j = { nd, on, crop, out, grow(&o->col, &o->collen, (size_t)(K * N * nt)), 0 };
        gemm_serial_blas();
        par_for(m, nt, cb_items, &j);
        return;
    }
    int64_t mb = CONE_COL_LIMIT / (K * N > 0 ? K * N : 1);
    mb = imax(1, imin(mb, m));
    float *col = grow(&o->col, &o->collen, (size_t)(K * (mb * N + PK_NR)));
    float *tmp = grow(&o->gout, &o->goutlen, (size_t)(on->c * mb * N));
    if (!on->apk) {
        size_t as = pk_a_size(M, K);
        on->apk = xmalloc((size_t)g * as * sizeof(float));
        for (int64_t gi = 0; gi < g; gi++)
            pk_pack_a(Wt->data + gi * M * K, M, K, K, on->apk + gi * as);
    }
    for (int64_t b0 = 0; b0 < m; b0 += mb) {
        int64_t nb = imin(mb, m - b0), ld = nb * N;
        for (int64_t gi = 0; gi < g; gi++) {
            cb_job j = { nd, on, crop + b0 * csz + gi * cpg * on->ch * on->cw, NULL, col, ld };
            par_for(nb, nb * K * N > (1 << 16) ? par_threads() : 1, cb_lower, &j);
            pk_zero_tail(col, K * PK_NR, K, ld);
            pk_gemm(on->apk + gi * pk_a_size(M, K), M, K, col, K * PK_NR, ld,
                    tmp + gi * M * ld, ld, NULL, 0, 1);
        }
        cb_job j = { nd, on, tmp, out + b0 * on->c * N, NULL, ld };
        par_for(nb, nb * on->c * N > (1 << 16) ? par_threads() : 1, cb_bias, &j);
    }
}

/* Node i over a batch of m items. */
typedef struct crop_job {
    cone *o;
    int i, s;
    const int *img, *pos;
    int64_t ch, cw;
    size_t csz;
    float *cb;
} crop_job;

/* Items li0..li1-1's crops from the cache (gather only reads). */
static void crop_items(void *ctx, int64_t li0, int64_t li1, int part)
{
    const crop_job *j = ctx;
    cone *o = j->o;
    const onode *on = &o->on[j->i + 1], *sn = &o->on[j->s];
    (void)part;
    for (int64_t li = li0; li < li1; li++) {
        int64_t y0 = 0, x0 = 0;
        if (on->mode == M_REGION) {
            const int32_t *g = O(o, j->pos[li], j->i + 1);
            y0 = g[0], x0 = g[1];
            if (on->kind == K_SPATIAL)
                y0 = y0 * on->sh - on->pt, x0 = x0 * on->sw - on->pl;
        }
        gather(o, j->s, (int)li, j->img[li], j->pos[li], 0, sn->c, y0, x0, j->ch, j->cw, on->padv,
               j->cb + j->csz * (size_t)li);
    }
}

static void run_node(cone *o, int i, int m, const int *img, const int *pos)
{
    const node *nd = &o->m->nodes[i];
    onode *on = &o->on[i + 1];
    const float *xin[CONE_MAXIN];
    const int64_t *xsh[CONE_MAXIN];
    int64_t shp[CONE_MAXIN][3];
    if (nd->nin > CONE_MAXIN)
        die("node '%s' has more than %d inputs", nd->name, CONE_MAXIN);
    size_t per = (size_t)(on->c * on->rh * on->rw);
    float *out = grow(&on->buf, &on->buflen, per * (size_t)o->batch);
    for (int k = 0; k < nd->nin; k++) {
        int s = nd->in[k] + 1;
        const onode *sn = &o->on[s];
        xsh[k] = shp[k];
        if (on->mode == M_FULL || !on->adopt) {
            int64_t ch, cw;
            if (on->mode == M_FULL) {
                shp[k][0] = sn->c, shp[k][1] = sn->h, shp[k][2] = sn->w;
                if (sn->mode == M_FULL) {
                    xin[k] = sn->buf;
                    continue;
                }
                ch = sn->h, cw = sn->w;
            } else if (on->kind == K_SPATIAL)
                ch = on->ch, cw = on->cw;
            else
                ch = on->rh, cw = on->rw;
            shp[k][0] = sn->c, shp[k][1] = ch, shp[k][2] = cw;
            size_t csz = (size_t)(sn->c * ch * cw);
            float *cb = grow(&o->crop[k], &o->croplen[k], csz * (size_t)m);
            crop_job cj = { o, i, s, img, pos, ch, cw, csz, cb };
            par_for(m, csz * (size_t)m > (1 << 16) ? par_threads() : 1, crop_items, &cj);
            xin[k] = cb;
        } else {
            shp[k][0] = sn->c, shp[k][1] = sn->rh, shp[k][2] = sn->rw;
            xin[k] = sn->buf;
        }
    }
    op_io io;
    memset(&io, 0, sizeof io);
    io.n = m;
    io.nin = nd->nin;
    io.x = xin;
    io.xshape = xsh;
    io.y = out;
    io.aux = o->aux;
    io.ws = o->ws;
    io.rng = &o->rng;
    if (on->mode == M_REGION && on->kind == K_SPATIAL && !strcmp(nd->op, "Conv"))
        conv_batch(o, nd, on, m, xin[0], out);
    else {
        const node *run = on->mode == M_FULL ? nd : &on->tmp;
        run->def->forward(run, &io);
    }
    o->done += on->macs * m;
}


cone *cone_new(model *m, const cone_spec *s)
{
    cone *o = xcalloc(1, sizeof *o);
    o->m = m;
    o->n = m->n;
    o->P = s->P;
    o->upto = s->upto;
    o->batch = s->batch > 0 ? s->batch : 1;
    if (o->upto < 0 || o->upto >= m->n)
        die("cone: node %d is not in the model", o->upto);
    plan(o, s->boxes);
    o->e = engine_new(m, s->engine_batch > 0 ? s->engine_batch : 1, 0, 1);
    size_t ws = 1, aux = 1;
    for (int i = 1; i <= o->n; i++) {
        if (o->on[i].ws > ws)
            ws = o->on[i].ws;
        if (o->on[i].aux * (size_t)o->batch > aux)
            aux = o->on[i].aux * (size_t)o->batch;
    }
    o->ws = falloc(ws);
    o->aux = xcalloc(1, aux);
    rng_seed(&o->rng, 1);
    return o;
}

void cone_free(cone *o)
{
    if (!o)
        return;
    for (int s = 0; s <= o->n; s++) {
        if (o->on[s].has_tmp) {
            free(o->on[s].tmp.priv);
            free(o->on[s].tmp.attrs);
        }
        free(o->on[s].buf);
        free(o->on[s].apk);
    }
    for (int k = 0; k < CONE_MAXIN; k++)
        free(o->crop[k]);
    free(o->col);
    free(o->gout);
    engine_free(o->e);
    free(o->on);
    free(o->dirty);
    free(o->org);
    free(o->ws);
    free(o->aux);
    free(o);
}

engine *cone_engine(cone *o) { return o->e; }

void cone_run(cone *o, int m, const int *img, const int *pos, const float *repl)
{
    if (m > o->batch)
        die("cone: %d items, more than the %d planned", m, o->batch);
    input_region(o, m, img, pos, repl);
    for (int i = 0; i <= o->upto; i++) {
        if (o->on[i + 1].mode == M_SKIP)
            continue;
        run_node(o, i, m, img, pos);
        for (int k = 0; k < o->m->nodes[i].nin; k++) {
            onode *sn = &o->on[o->m->nodes[i].in[k] + 1];
            if (o->release && sn->last == i) {
                free(sn->buf);
                sn->buf = NULL;
                sn->buflen = 0;
            }
        }
    }
}

void cone_read(const cone *o, int li, int img, int p, int64_t c0, int64_t nc, float *dst)
{
    const onode *U = &o->on[o->upto + 1];
    gather(o, o->upto + 1, li, img, p, c0, nc, 0, 0, U->h, U->w, 0, dst);
}

double cone_macs_done(const cone *o) { return o->done; }
double cone_macs_item(const cone *o) { return o->brute_item; }
