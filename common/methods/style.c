/* style: Gatys et al. losses and gradients (see style.h). One forward of
 * the whole net per evaluation, then one backward per distinct loss layer
 * (the engine seeds a single node); the input gradients add up. */
#include "methods/style.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "nn/gemm.h"

struct style {
    const model *m;
    engine *e;
    style_cfg cfg;
    tensor *P;              /* content maps at content_node */
    float **A;              /* style Gram per style layer (N x N) */
    float *G, *D;           /* scratch: Gram, and (G - A) F */
    int nnodes;             /* distinct loss layers */
    int *nodes;
    tensor **seed;          /* per distinct layer */
};

static int64_t node_numel(const model *m, int i)
{
    const int64_t *s = m->nodes[i].shape;
    return s[0] * s[1] * s[2];
}

void style_gram(const float *F, int64_t n, int64_t k, float *G)
{
    gemm(0, 1, (int)n, (int)n, (int)k, 1.0f, F, (int)k, F, (int)k, 0.0f, G, (int)n);
}

style *style_new(const model *m, engine *e, const style_cfg *c, const tensor *content,
                 const tensor *style_img)
{
    style *s = xcalloc(1, sizeof *s);
    s->m = m;
    s->e = e;
    s->cfg = *c;
    int *st = xmalloc((size_t)(c->nstyle ? c->nstyle : 1) * sizeof *st);
    memcpy(st, c->style_nodes, (size_t)c->nstyle * sizeof *st);
    s->cfg.style_nodes = st;
    int64_t maxn = 1, maxk = 1;
    s->nodes = xmalloc((size_t)(c->nstyle + 1) * sizeof *s->nodes);
    for (int i = -1; i < c->nstyle; i++) {
        int nd = i < 0 ? c->content_node : st[i];
        if (nd < 0)
            continue;
        int seen = 0;
        for (int j = 0; j < s->nnodes; j++)
            seen |= s->nodes[j] == nd;
        if (!seen)
            s->nodes[s->nnodes++] = nd;
    }
    s->seed = xcalloc((size_t)s->nnodes, sizeof *s->seed);
    for (int j = 0; j < s->nnodes; j++) {
        const int64_t *sh = m->nodes[s->nodes[j]].shape;
        s->seed[j] = tensor_new4(1, sh[0], sh[1], sh[2]);
    }
    if (c->content_node >= 0) {
        engine_forward(e, content);
        s->P = tensor_clone(engine_act(e, c->content_node));
    }
    engine_forward(e, style_img);
    s->A = xcalloc((size_t)(c->nstyle ? c->nstyle : 1), sizeof *s->A);
    for (int i = 0; i < c->nstyle; i++) {
        const int64_t *sh = m->nodes[st[i]].shape;
        int64_t n = sh[0], k = sh[1] * sh[2];
        maxn = n > maxn ? n : maxn;
        maxk = k > maxk ? k : maxk;
        s->A[i] = falloc((size_t)(n * n));
        style_gram(engine_act(e, st[i])->data, n, k, s->A[i]);
    }
    s->G = falloc((size_t)(maxn * maxn));
    s->D = falloc((size_t)(maxn * maxk));
    return s;
}

void style_free(style *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->cfg.nstyle; i++)
        free(s->A[i]);
    free(s->A);
    for (int j = 0; j < s->nnodes; j++)
        tensor_free(s->seed[j]);
    free(s->seed);
    free(s->nodes);
    free((int *)s->cfg.style_nodes);
    tensor_free(s->P);
    free(s->G);
    free(s->D);
    free(s);
}

static tensor *seed_of(style *s, int nd)
{
    for (int j = 0; j < s->nnodes; j++)
        if (s->nodes[j] == nd)
            return s->seed[j];
    return NULL;
}

double style_loss_grad(style *s, const tensor *x, tensor *grad, double *lc, double *ls)
{
    const style_cfg *c = &s->cfg;
    engine_forward(s->e, x);
    for (int j = 0; j < s->nnodes; j++)
        tensor_fill(s->seed[j], 0);
    double Lc = 0, Ls = 0;
    if (c->content_node >= 0) {
        const tensor *F = engine_act(s->e, c->content_node);
        float *g = seed_of(s, c->content_node)->data;
        int64_t K = node_numel(s->m, c->content_node);
        for (int64_t i = 0; i < K; i++) {
            double d = (double)F->data[i] - s->P->data[i];
            Lc += 0.5 * d * d;
            g[i] += (float)(c->content_weight * d);
        }
    }
    for (int i = 0; i < c->nstyle; i++) {
        int nd = c->style_nodes[i];
        const int64_t *sh = s->m->nodes[nd].shape;
        int64_t n = sh[0], k = sh[1] * sh[2];
        const float *F = engine_act(s->e, nd)->data;
        style_gram(F, n, k, s->G);
        double E = 0, norm = 1.0 / ((double)n * n * (double)k * k);
        for (int64_t q = 0; q < n * n; q++) {
            double d = (double)s->G[q] - s->A[i][q];
            E += d * d;
            s->G[q] = (float)d;
        }
        E *= 0.25 * norm;
        Ls += E / c->nstyle;
        /* dE/dF = (G - A) F / (N^2 M^2), weighted by w_l. */
        float wgt = (float)(c->style_weight / c->nstyle * norm);
        gemm(0, 0, (int)n, (int)k, (int)n, wgt, s->G, (int)n, F, (int)k, 1.0f,
             seed_of(s, nd)->data, (int)k);
    }
    tensor_fill(grad, 0);
    int64_t D = tensor_numel(grad);
    for (int j = 0; j < s->nnodes; j++) {
        engine_backward(s->e, s->nodes[j], s->seed[j], RULE_STANDARD, 0);
        const tensor *gi = engine_input_grad(s->e);
        for (int64_t i = 0; i < D; i++)
            grad->data[i] += gi->data[i];
    }
    *lc = Lc;
    *ls = Ls;
    return c->content_weight * Lc + c->style_weight * Ls;
}

int style_default_layers(const model *m, int **style, int *content)
{
    int *v = xmalloc((size_t)(m->n ? m->n : 1) * sizeof *v), n = 0;
    for (int i = 0; i < m->n; i++) {
        const node *nd = &m->nodes[i];
        int relu = !strcmp(nd->op, "ReLU") || !strcmp(nd->op, "LeakyReLU") ||
                   !strcmp(nd->op, "Clip");
        if (relu && (nd->shape[1] > 1 || nd->shape[2] > 1))
            v[n++] = i;
    }
    *content = n ? v[n < 4 ? n - 1 : 3] : -1;
    if (n > 5)
        n = 5;
    *style = v;
    return n;
}
