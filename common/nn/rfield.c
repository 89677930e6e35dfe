/* rfield: receptive fields, parameter and multiply-accumulate counts.
 * The recurrence (per axis), for a window of effective size
 * k' = dilation*(k-1)+1, stride s and leading pad p over an input with
 * field (size r, jump j, start t):
 *   size  = r + (k'-1)*j      jump = j*s      start = t - p*j
 * i.e. output 0 covers input grid cells -p .. k'-1-p of the layer's input. */
#include <string.h>

#include "nn/ops.h"
#include "nn/rfield.h"

static const int64_t *in_shape(const model *m, const node *nd, int k)
{
    return nd->in[k] < 0 ? m->in_shape : m->nodes[nd->in[k]].shape;
}

/* Window of a node (kernel, stride, dilation, leading pads) by op; 0 when
 * the op keeps the grid position for position. */
static int window(const model *m, const node *nd, int64_t k[2], int64_t s[2], int64_t d[2],
                  int64_t p[2])
{
    const int64_t *in = in_shape(m, nd, 0);
    int64_t pad[4];
    k[0] = k[1] = s[0] = s[1] = d[0] = d[1] = 1;
    p[0] = p[1] = 0;
    if (!strcmp(nd->op, "Conv")) {
        const tensor *w = node_weight(nd, "weight");
        k[0] = w && w->ndim == 4 ? w->dims[2] : op_attr_int(nd, "kernel", 0, 1);
        k[1] = w && w->ndim == 4 ? w->dims[3] : op_attr_int(nd, "kernel", 1, 1);
        for (int a = 0; a < 2; a++) {
            s[a] = op_attr_int(nd, "stride", a, 1);
            d[a] = op_attr_int(nd, "dilation", a, 1);
        }
        op_pads(nd, pad);
        p[0] = pad[0], p[1] = pad[1];
        return 1;
    }
    if (!strcmp(nd->op, "MaxPool") || !strcmp(nd->op, "AvgPool")) {
        for (int a = 0; a < 2; a++) {
            k[a] = op_attr_int(nd, "kernel", a, 1);
            /* The pooling ops' stride defaults to the window. */
            s[a] = op_attr_int(nd, "stride", a, k[a]);
            d[a] = op_attr_int(nd, "dilation", a, 1);
        }
        op_pads(nd, pad);
        p[0] = pad[0], p[1] = pad[1];
        return 1;
    }
    if (!strcmp(nd->op, "Dense") || !strcmp(nd->op, "Gemm") || !strcmp(nd->op, "Flatten") ||
        !strcmp(nd->op, "GlobalAvgPool")) {
        k[0] = in[1], k[1] = in[2];
        return 1;
    }
    /* Any other op that changes the grid size: treat as whole-input. */
    if (nd->shape[1] != in[1] || nd->shape[2] != in[2]) {
        k[0] = in[1], k[1] = in[2];
        if (nd->shape[1] > 1)
            s[0] = in[1] / nd->shape[1] > 0 ? in[1] / nd->shape[1] : 1;
        if (nd->shape[2] > 1)
            s[1] = in[2] / nd->shape[2] > 0 ? in[2] / nd->shape[2] : 1;
        return 1;
    }
    return 0;
}

/* Input k has one position and the node's output more. */
static int broadcast_in(const model *m, const node *nd, int k)
{
    const int64_t *in = in_shape(m, nd, k);
    return in[1] == 1 && in[2] == 1 && nd->shape[1] * nd->shape[2] > 1;
}

void rfield_compute(const model *m, rfield *rf)
{
    const rfield id = { { 1, 1 }, { 1, 1 }, { 0, 0 } };
    for (int i = 0; i < m->n; i++) {
        const node *nd = &m->nodes[i];
        /* Union of the inputs' fields (one input: that field). An input of
         * 1 x 1 positions broadcast over a larger map (a squeeze-and-
         * excitation gate, a global context) scales every position alike:
         * it is left out, as the field is where the map's positions differ. */
        int first = 0;
        while (first + 1 < nd->nin && broadcast_in(m, nd, first))
            first++;
        rfield u = nd->nin ? (nd->in[first] < 0 ? id : rf[nd->in[first]]) : id;
        for (int k = first + 1; k < nd->nin; k++) {
            if (broadcast_in(m, nd, k))
                continue;
            const rfield *o = nd->in[k] < 0 ? &id : &rf[nd->in[k]];
            for (int a = 0; a < 2; a++) {
                int64_t lo = u.start[a] < o->start[a] ? u.start[a] : o->start[a];
                int64_t e1 = u.start[a] + u.size[a], e2 = o->start[a] + o->size[a];
                u.start[a] = lo;
                u.size[a] = (e1 > e2 ? e1 : e2) - lo;
                if (o->jump[a] > u.jump[a])
                    u.jump[a] = o->jump[a];
            }
        }
        int64_t k[2], s[2], d[2], p[2];
        if (window(m, nd, k, s, d, p))
            for (int a = 0; a < 2; a++) {
                int64_t eff = d[a] * (k[a] - 1) + 1;
                u.size[a] += (eff - 1) * u.jump[a];
                u.start[a] -= p[a] * u.jump[a];
                u.jump[a] *= s[a];
            }
        rf[i] = u;
    }
}

void rfield_box(const rfield *rf, int64_t y, int64_t x, int clip, int64_t h, int64_t w,
                int64_t box[4])
{
    box[0] = rf->start[0] + y * rf->jump[0];
    box[1] = rf->start[1] + x * rf->jump[1];
    box[2] = box[0] + rf->size[0];
    box[3] = box[1] + rf->size[1];
    if (clip) {
        int64_t lim[4] = { h, w, h, w };
        for (int i = 0; i < 4; i++) {
            if (box[i] < 0)
                box[i] = 0;
            if (box[i] > lim[i])
                box[i] = lim[i];
        }
    }
}

void rfield_center(const rfield *rf, int64_t y, int64_t x, double *cy, double *cx)
{
    *cy = (double)(rf->start[0] + y * rf->jump[0]) + (double)(rf->size[0] - 1) / 2;
    *cx = (double)(rf->start[1] + x * rf->jump[1]) + (double)(rf->size[1] - 1) / 2;
}

int64_t rfield_node_params(const model *m, int i)
{
    const node *nd = &m->nodes[i];
    int64_t n = 0;
    for (int k = 0; k < nd->nw; k++)
        n += tensor_numel(nd->w[k]);
    return n;
}

int64_t rfield_node_macs(const model *m, int i)
{
    const node *nd = &m->nodes[i];
    const tensor *w = node_weight(nd, "weight");
    if (!w)
        return 0;
    if (!strcmp(nd->op, "Conv") && w->ndim == 4)
        return nd->shape[0] * nd->shape[1] * nd->shape[2] * w->dims[1] * w->dims[2] * w->dims[3];
    if ((!strcmp(nd->op, "Dense") || !strcmp(nd->op, "Gemm")) && w->ndim == 2)
        return w->dims[0] * w->dims[1];
    if (!strcmp(nd->op, "ConvTranspose") && w->ndim == 4) {
        /* every input value times its Cout/groups x kh x kw taps */
        const int64_t *in = in_shape(m, nd, 0);
        return in[0] * in[1] * in[2] * w->dims[1] * w->dims[2] * w->dims[3];
    }
    return 0;
}
