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
                                         "HardSigmoid", "HardSwish", "SiLU", "GELU", "ELU",
                                         "Softplus", NULL };
/* Affine ops (and routing): their gradient is the DeepLift multiplier. */
static const char *const linear[] = { "Conv", "Dense", "Gemm", "AvgPool", "GlobalAvgPool",
                                      "BatchNorm", "Flatten", "Dropout", "Add", "Sub",
                                      "Concat", "ChannelShuffle", "ChannelSlice",
                                      "ConvTranspose", NULL };

void deeplift_check(const model *m, int target_node, const char *file)
{
    static const char *const *const lists[] = { nonlinear, linear, NULL };
    int bad = rules_uncovered(m, target_node, lists);
    if (bad >= 0)
        die("%s: deeplift: no rule for op '%s' (node '%s'); the rescale rule covers "
            "elementwise nonlinearities and linear ops", file, m->nodes[bad].op,
            m->nodes[bad].name);
}

struct dl_ctx {
    const model *m;
    float **ref;            /* per node, the baseline's activation (or NULL) */
    float *ref_in;          /* the baseline's preprocessed input */
};

static int rescale(void *ctx, int i, const op_io *io)
{
    const struct dl_ctx *c = ctx;
    const node *nd = &c->m->nodes[i];
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
    for (int i = 0; i <= t->node; i++)
        if (rules_in(nonlinear, m->nodes[i].op)) {
            const node *nd = &m->nodes[i];
            int p = nd->in[0];
            const tensor *a = engine_act(e, i), *ai = p < 0 ? engine_preprocessed(e)
                                                            : engine_act(e, p);
            c.ref[i] = xmalloc((size_t)tensor_numel(a) * sizeof(float));
            memcpy(c.ref[i], a->data, (size_t)tensor_numel(a) * sizeof(float));
            float **dst = p < 0 ? &c.ref_in : &c.ref[p];
            if (!*dst) {
                *dst = xmalloc((size_t)tensor_numel(ai) * sizeof(float));
                memcpy(*dst, ai->data, (size_t)tensor_numel(ai) * sizeof(float));
            }
        }
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
