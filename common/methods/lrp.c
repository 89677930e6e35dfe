/* lrp: the rules of lrp.h through the engine's backward hook. What flows
 * backward is relevance, not gradient: a layer with a rule turns its
 * output relevance R into s = R / (z + eps sign z), runs its own
 * backward on s (with rho applied to its weights for the gamma and z+
 * rules) and hands x o (that backward) to its inputs; pass-through ops
 * copy R. The engine finally divides the input's relevance by the
 * preprocessing's std (the Jacobian it applies to gradients), which
 * lrp_attr undoes: relevance is per value, not per unit of pixel. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "methods/lrp.h"
#include "methods/rules.h"
#include "nn/ops.h"

static const char *const weighted[] = { "Conv", "Dense", "Gemm", NULL };
static const char *const epsilon_only[] = { "AvgPool", "GlobalAvgPool", "MaxPool",
                                            "GlobalMaxPool", "BatchNorm", "Add", NULL };
/* Copy relevance unchanged: elementwise (ReLU, Tanh, Dropout) ... */
static const char *const identity[] = { "ReLU", "Tanh", "Dropout", NULL };
/* ... or route it with their own backward (a reshape, a channel join). */
static const char *const routing[] = { "Flatten", "Concat", NULL };

void lrp_check(const model *m, int target_node, const char *file)
{
    static const char *const *const lists[] = { weighted, epsilon_only, identity, routing, NULL };
    int bad = rules_uncovered(m, target_node, lists);
    if (bad >= 0)
        die("%s: lrp: no rule for op '%s' (node '%s'); rules exist for Conv, Dense, pooling, "
            "BatchNorm, Add, and pass-through ReLU, Tanh, Dropout, Flatten, Concat", file,
            m->nodes[bad].op, m->nodes[bad].name);
}

struct lrp_ctx {
    const model *m;
    const lrp_cfg *cfg;
};

static double rho(const lrp_cfg *c, double w)
{
    return c->rule == 1 ? w + c->gamma * (w > 0 ? w : 0) : c->rule == 2 ? (w > 0 ? w : 0) : w;
}

/* The node with rho applied to its weights and bias (gamma, z+ rules):
 * nd's fields, its weight tensors replaced by copies in wt. */
static node modified(const struct lrp_ctx *c, const node *nd, tensor **wt)
{
    node mod = *nd;
    for (int k = 0; k < nd->nw; k++) {
        wt[k] = tensor_new(nd->w[k]->ndim, nd->w[k]->dims);
        for (int64_t q = 0; q < tensor_numel(wt[k]); q++)
            wt[k]->data[q] = (float)rho(c->cfg, nd->w[k]->data[q]);
    }
    mod.w = wt;
    return mod;
}

static int relevance(void *ctx, int i, const op_io *io)
{
    const struct lrp_ctx *c = ctx;
    const node *nd = &c->m->nodes[i];
    int64_t len = op_numel(nd, io->n);
    if (rules_in(identity, nd->op)) {
        for (int64_t k = 0; k < len; k++)
            io->gx[0][k] += io->gy[k];
        return 1;
    }
    if (rules_in(routing, nd->op))
        return 0;
    tensor *wt[16] = { 0 };
    int mod = rules_in(weighted, nd->op) && c->cfg->rule != 0 && nd->nw <= 16;
    node use = mod ? modified(c, nd, wt) : *nd;
    float *z = xmalloc((size_t)len * sizeof *z), *sd = xmalloc((size_t)len * sizeof *sd);
    op_io own = *io;
    if (mod) {
        own.y = z;
        use.def->forward(&use, &own);
    } else
        memcpy(z, io->y, (size_t)len * sizeof *z);
    for (int64_t k = 0; k < len; k++) {
        double zs = (double)z[k] + c->cfg->epsilon * (z[k] >= 0 ? 1 : -1);
        sd[k] = (float)((double)io->gy[k] / zs);
    }
    float *gx[64];
    int64_t inlen[64];
    for (int k = 0; k < nd->nin; k++) {
        inlen[k] = op_in_numel(io, k);
        gx[k] = io->gx[k] ? xcalloc((size_t)inlen[k], sizeof(float)) : NULL;
    }
    own.y = io->y;
    own.gy = sd;
    own.gx = gx;
    own.gw = NULL;
    own.rule = OP_RULE_STANDARD;
    use.def->backward(&use, &own);
    for (int k = 0; k < nd->nin; k++)
        if (gx[k]) {
            for (int64_t q = 0; q < inlen[k]; q++)
                io->gx[k][q] += io->x[k][q] * gx[k][q];
            free(gx[k]);
        }
    for (int k = 0; k < 16; k++)
        tensor_free(wt[k]);
    free(z);
    free(sd);
    return 1;
}

void lrp_attr(engine *e, const model *m, const target *t, const target_sel *sel,
              const tensor *x, const lrp_cfg *cfg, tensor *out)
{
    int n = (int)x->dims[0];
    engine_forward_upto(e, x, t->node);
    const int64_t *ts = m->nodes[t->node].shape;
    tensor *r = tensor_new4(n, ts[0], ts[1], ts[2]);
    target_seed(t, e, n, sel, n, r, NULL);
    const tensor *a = engine_act(e, t->node);
    for (int64_t k = 0; k < tensor_numel(r); k++)
        r->data[k] *= a->data[k];
    struct lrp_ctx c = { m, cfg };
    engine_set_backward_hook(e, relevance, &c);
    engine_backward(e, t->node, r, RULE_STANDARD, 0);
    engine_set_backward_hook(e, NULL, NULL);
    const float *g = engine_input_grad(e)->data;
    int64_t C = m->in_shape[0], hw = m->in_shape[1] * m->in_shape[2];
    out->dims[0] = n;
    for (int i = 0; i < n; i++)
        for (int64_t p = 0; p < C; p++) {
            /* Pixel channel p fed model channel s(p) (s swaps 0 and 2 for BGR). */
            int64_t c3 = C == 3 ? (m->bgr ? 2 - p : p) : 0;
            for (int64_t q = 0; q < hw; q++)
                out->data[(i * C + p) * hw + q] = g[(i * C + p) * hw + q] * m->std[c3];
        }
    tensor_free(r);
}
