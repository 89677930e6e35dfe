/* deeplift: the rescale rule through the engine's backward hook (see
 * deeplift.h). The baseline's activations are copied after its forward
 * pass; the input's forward then fills the engine, and backward asks the
 * hook at every node: elementwise nonlinearities get the rescale
 * multiplier, every other op its own (linear) backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "methods/deeplift.h"
#include "methods/rules.h"
#include "nn/ops.h"

/* Single-input elementwise nonlinearities: the rescale rule applies. */
static const char *const nonlinear[] = { "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Clip",
                                         "HardSigmoid", "HardSwish", "SiLU", "GELU", "Elu",
                                         "Selu", "Mish", "Softplus", NULL };
/* Max-pooling: Captum's rule through both passes' switches. */
static const char *const pools[] = { "MaxPool", "GlobalMaxPool", NULL };
/* Elementwise Max / Min of computed tensors: the same rule, the inputs
 * being the pool's window (every input's switches, then the baseline's). */
static const char *const extrema[] = { "Max", "Min", NULL };
/* Affine ops (and routing): their gradient is the DeepLift multiplier. */
static const char *const linear[] = { "Conv", "Dense", "Gemm", "AvgPool", "GlobalAvgPool",
                                      "BatchNorm", "Flatten", "Dropout", "Add", "Sub",
                                      "Concat", "ChannelShuffle", "ChannelSlice",
                                      "ConvTranspose", "Mean", NULL };

void deeplift_check(const model *m, int target_node, const char *file)
{
    static const char *const *const lists[] = { nonlinear, linear, pools, extrema, NULL };
    int bad = rules_uncovered(m, target_node, lists);
    if (bad >= 0)
        die("%s: deeplift: no rule for op '%s' (node '%s'); the rescale rule covers "
            "elementwise nonlinearities, max-pooling and linear ops", file, m->nodes[bad].op,
            m->nodes[bad].name);
}

struct dl_ctx {
    const model *m;
    float **ref;            /* per node, the baseline's activation (or NULL) */
    float *ref_in;          /* the baseline's preprocessed input */
};

/* The op's own backward of gy (n rows) into a zeroed buffer, through the
 * switches of the input x (whose output is y). */
static float *route(const node *nd, const op_io *io, const float *x, const float *y,
                    void *aux, const float *gy, int64_t inlen)
{
    float *g = xcalloc((size_t)inlen, sizeof *g);
    op_io own = *io;
    const float *xs[1] = { x };
    own.x = xs;
    own.y = (float *)y;
    own.gy = gy;
    own.gx = &g;
    own.gw = NULL;
    own.aux = aux;
    own.rule = OP_RULE_STANDARD;
    nd->def->backward(nd, &own);
    return g;
}

/* Captum's max-pool rule: with m = max(y, y'), the output's change splits
 * into m - y' (routed through the input's switches) and y - m (through
 * the baseline's), each times d/dy; the sum at an input position, over
 * x - x', is its multiplier (the gradient where |x - x'| < 1e-10). The
 * contributions then add up to d/dy (y - y'), as the rule promises. */
static void maxpool_rule(const struct dl_ctx *c, const node *nd, const op_io *io)
{
    int64_t len = op_numel(nd, io->n);
    int64_t inlen = (int64_t)io->n * io->xshape[0][0] * io->xshape[0][1] * io->xshape[0][2];
    const float *xr = nd->in[0] < 0 ? c->ref_in : c->ref[nd->in[0]];
    float *yr = xmalloc((size_t)len * sizeof *yr), *t1 = xmalloc((size_t)len * sizeof *t1);
    float *t2 = xmalloc((size_t)len * sizeof *t2);
    void *aux = xcalloc(nd->need_aux * (size_t)io->n + 1, 1);
    op_io own = *io;
    const float *xs[1] = { xr };
    own.x = xs, own.y = yr, own.aux = aux;
    nd->def->forward(nd, &own);            /* the baseline's switches */
    for (int64_t k = 0; k < len; k++) {
        double m = io->y[k] > yr[k] ? io->y[k] : yr[k];
        t1[k] = (float)((double)io->gy[k] * (m - yr[k]));
        t2[k] = (float)((double)io->gy[k] * ((double)io->y[k] - m));
    }
    float *u1 = route(nd, io, io->x[0], io->y, io->aux, t1, inlen);
    float *u2 = route(nd, io, xr, yr, aux, t2, inlen);
    float *g = route(nd, io, io->x[0], io->y, io->aux, io->gy, inlen);
    for (int64_t k = 0; k < inlen; k++) {
        double dx = (double)io->x[0][k] - xr[k];
        io->gx[0][k] += fabs(dx) < 1e-10 ? g[k] : (float)(((double)u1[k] + u2[k]) / dx);
    }
    free(yr), free(t1), free(t2), free(aux), free(u1), free(u2), free(g);
}

/* The baseline's copy of input k of node nd. */
static const float *ref_of(const struct dl_ctx *c, const node *nd, int k)
{
    return nd->in[k] < 0 ? c->ref_in : c->ref[nd->in[k]];
}

/* The op's own backward of gy into zeroed buffers, one per input, through
 * the switches of inputs xs (output y). */
static float **route_all(const node *nd, const op_io *io, const float *const *xs,
                         const float *y, const float *gy)
{
    float **g = xcalloc((size_t)io->nin, sizeof *g);
    for (int k = 0; k < io->nin; k++)
        g[k] = xcalloc((size_t)op_in_numel(io, k), sizeof *g[k]);
    op_io own = *io;
    own.x = xs;
    own.y = (float *)y;
    own.gy = gy;
    own.gx = g;
    own.gw = NULL;
    own.rule = OP_RULE_STANDARD;
    nd->def->backward(nd, &own);
    return g;
}

static void free_all(float **g, int nin)
{
    for (int k = 0; k < nin; k++)
        free(g[k]);
    free(g);
}

/* Elementwise Max (Min) of nin computed tensors, as Captum's max-pool rule
 * with the inputs as the window: m = max(y, y') (min for Min); gy (m - y')
 * routed through the input's switches, gy (y - m) through the baseline's;
 * each input position's multiplier is their sum over its x - x' (the
 * gradient where they agree). The contributions add up to gy (y - y'). */
static void extrema_rule(const struct dl_ctx *c, const node *nd, const op_io *io)
{
    int nin = io->nin, is_max = !strcmp(nd->op, "Max");
    int64_t len = op_numel(nd, io->n);
    const float **xr = xcalloc((size_t)nin, sizeof *xr);
    for (int k = 0; k < nin; k++)
        xr[k] = ref_of(c, nd, k);
    const float *yr = c->ref[nd - c->m->nodes];
    float *t1 = xmalloc((size_t)len * sizeof *t1), *t2 = xmalloc((size_t)len * sizeof *t2);
    for (int64_t k = 0; k < len; k++) {
        double y = io->y[k], r = yr[k];
        double m = is_max ? (y > r ? y : r) : (y < r ? y : r);
        t1[k] = (float)((double)io->gy[k] * (m - r));
        t2[k] = (float)((double)io->gy[k] * (y - m));
    }
    float **u1 = route_all(nd, io, io->x, io->y, t1);
    float **u2 = route_all(nd, io, xr, yr, t2);
    float **g = route_all(nd, io, io->x, io->y, io->gy);
    for (int j = 0; j < nin; j++) {
        if (!io->gx[j])
            continue;
        int64_t n = op_in_numel(io, j);
        for (int64_t k = 0; k < n; k++) {
            double dx = (double)io->x[j][k] - xr[j][k];
            io->gx[j][k] += fabs(dx) < 1e-10 ? g[j][k]
                            : (float)(((double)u1[j][k] + u2[j][k]) / dx);
        }
    }
    free_all(u1, nin), free_all(u2, nin), free_all(g, nin);
    free(t1), free(t2), free(xr);
}

static int rescale(void *ctx, int i, const op_io *io)
{
    const struct dl_ctx *c = ctx;
    const node *nd = &c->m->nodes[i];
    if (rules_in(extrema, nd->op)) {
        extrema_rule(c, nd, io);
        return 1;
    }
    if (rules_in(pools, nd->op) && io->gx[0]) {
        maxpool_rule(c, nd, io);
        return 1;
    }
    if (!rules_in(nonlinear, nd->op) || !io->gx[0])
        return 0;
    int64_t len = op_numel(nd, io->n);
    const float *xr = nd->in[0] < 0 ? c->ref_in : c->ref[nd->in[0]], *yr = c->ref[i];
    float *d = xcalloc((size_t)len, sizeof *d);
    op_io own = *io;
    own.gx = &d;
    own.rule = OP_RULE_STANDARD;
    nd->def->backward(nd, &own);     /* g f'(x): where x and x' (nearly) agree */
    for (int64_t k = 0; k < len; k++) {
        double dx = (double)io->x[0][k] - xr[k];
        io->gx[0][k] += fabs(dx) < 1e-10 ? d[k]
                        : (float)((double)io->gy[k] * ((double)io->y[k] - yr[k]) / dx);
    }
    free(d);
    return 1;
}

void deeplift_attr(engine *e, const model *m, const target *t, const target_sel *sel,
                   const tensor *x, const tensor *b, tensor *out)
{
    int n = (int)x->dims[0];
    struct dl_ctx c = { m, xcalloc((size_t)m->n, sizeof(float *)), NULL };
    engine_forward_upto(e, b, t->node);
    char *on = rules_ancestors(m, t->node);
    for (int i = 0; i <= t->node; i++)
        if (on[i] && (rules_in(nonlinear, m->nodes[i].op) || rules_in(pools, m->nodes[i].op)
                      || rules_in(extrema, m->nodes[i].op))) {
            const node *nd = &m->nodes[i];
            const tensor *a = engine_act(e, i);
            if (!c.ref[i]) {
                c.ref[i] = xmalloc((size_t)tensor_numel(a) * sizeof(float));
                memcpy(c.ref[i], a->data, (size_t)tensor_numel(a) * sizeof(float));
            }
            int nin = rules_in(extrema, nd->op) ? nd->nin : 1;
            for (int k = 0; k < nin; k++) {
                int p = nd->in[k];
                const tensor *ai = p < 0 ? engine_preprocessed(e) : engine_act(e, p);
                float **dst = p < 0 ? &c.ref_in : &c.ref[p];
                if (!*dst) {
                    *dst = xmalloc((size_t)tensor_numel(ai) * sizeof(float));
                    memcpy(*dst, ai->data, (size_t)tensor_numel(ai) * sizeof(float));
                }
            }
        }
    free(on);
    engine_forward_upto(e, x, t->node);
    const int64_t *ts = m->nodes[t->node].shape;
    tensor *seed = tensor_new4(n, ts[0], ts[1], ts[2]);
    target_seed(t, e, n, sel, n, seed, NULL);
    engine_set_backward_hook(e, rescale, &c);
    engine_backward(e, t->node, seed, RULE_STANDARD, 0);
    engine_set_backward_hook(e, NULL, NULL);
    const float *g = engine_input_grad(e)->data;
    int64_t len = tensor_numel(x);
    out->dims[0] = n;
    for (int64_t k = 0; k < len; k++)
        out->data[k] = (float)(((double)x->data[k] - b->data[k]) * g[k]);
    tensor_free(seed);
    for (int i = 0; i < m->n; i++)
        free(c.ref[i]);
    free(c.ref);
    free(c.ref_in);
}
