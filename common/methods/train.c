/* train: the training loop. Loss and optimiser arithmetic run serially in a
 * fixed order (they are tiny next to the convolutions), so nothing here
 * depends on thread scheduling. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/numeric.h"
#include "nn/arch.h"
#include "base/cli.h"
#include "base/progress.h"
#include "nn/engine.h"
#include "methods/train.h"

void train_defaults(train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 10;
    o->batch = 64;
    o->lr = 1e-3;
    o->optim = TRAIN_ADAM;
    o->momentum = 0.9;
    o->beta1 = 0.9, o->beta2 = 0.999, o->eps = 1e-8;
    o->lr_decay = 1.0;
    o->seed = 1;
}

/* A batch view: dims[0] set to the rows in use (the buffer holds the most). */
static void gather(const train_set *d, const int64_t *idx, int64_t n, tensor *xb)
{
    int64_t row = d->c * d->h * d->w;
    for (int64_t i = 0; i < n; i++)
        memcpy(xb->data + i * row, d->x + idx[i] * row, (size_t)row * sizeof(float));
    xb->dims[0] = n;
}

/* Softmax cross-entropy of logits (n x k) against labels: adds the summed
 * loss and correct count; writes d loss / d logits of the batch mean into
 * g when not NULL. */
static void xent(const float *z, const int32_t *y, const int64_t *idx, int64_t n, int64_t k,
                 float *g, double *loss, int64_t *correct)
{
    for (int64_t i = 0; i < n; i++) {
        const float *zi = z + i * k;
        int32_t lab = y[idx ? idx[i] : i];
        int64_t best = num_argmax(zi, k);
        double lse = num_logsumexp(zi, k);
        *loss += lse - (double)zi[lab];
        *correct += best == lab;
        if (g)
            for (int64_t j = 0; j < k; j++)
                g[i * k + j] = (float)((exp((double)zi[j] - lse) - (j == lab)) / (double)n);
    }
}

static int64_t out_width(const model *m, int node)
{
    const int64_t *s = m->nodes[node].shape;
    return s[0] * s[1] * s[2];
}

static void check_labels(const train_set *d, int64_t k, const char *what)
{
    for (int64_t i = 0; i < d->n; i++)
        if (d->y[i] < 0 || d->y[i] >= k)
            die("%s: label %d of row %lld is outside the model's %lld outputs", what, d->y[i],
                (long long)i, (long long)k);
}

static double eval_engine(engine *e, model *m, const train_set *d, int batch, double *loss)
{
    int L = arch_logits_node(m, NULL);
    int64_t k = out_width(m, L);
    tensor *xb = tensor_new4(batch, d->c, d->h, d->w);
    int64_t *idx = xmalloc((size_t)batch * sizeof *idx);
    double sum = 0;
    int64_t correct = 0;
    for (int64_t a = 0; a < d->n; a += batch) {
        int64_t n = d->n - a < batch ? d->n - a : batch;
        for (int64_t i = 0; i < n; i++)
            idx[i] = a + i;
        gather(d, idx, n, xb);
        engine_forward_upto(e, xb, L);
        xent(engine_act(e, L)->data, d->y, idx, n, k, NULL, &sum, &correct);
    }
    xb->dims[0] = batch;
    tensor_free(xb);
    free(idx);
    if (loss)
        *loss = d->n ? sum / (double)d->n : 0;
    return d->n ? (double)correct / (double)d->n : 0;
}

double train_evaluate(model *m, const train_set *d, int batch, double *loss)
{
    check_labels(d, out_width(m, arch_logits_node(m, NULL)), "evaluation data");
    if (batch > d->n)
        batch = d->n > 0 ? (int)d->n : 1;
    engine *e = engine_new(m, batch, 0, 0);
    double acc = eval_engine(e, m, d, batch, loss);
    engine_free(e);
    return acc;
}

/* One trainable tensor with its gradient and optimiser state. */
typedef struct param {
    tensor *w;
    int node, k;             /* which engine_wgrad */
    float *m1, *m2;
} param;

void train_shuffle_labels(int32_t *y, int64_t n, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed + TRAIN_LABEL_STREAM);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(&r, (uint64_t)i + 1);
        int32_t t = y[i];
        y[i] = y[j];
        y[j] = t;
    }
}

void train_run(model *m, const train_set *tr, const train_set *val, const train_opts *o,
               train_report cb, void *ctx)
{
    int L = arch_logits_node(m, NULL);
    int64_t k = out_width(m, L);
    check_labels(tr, k, "training data");
    if (val)
        check_labels(val, k, "validation data");
    /* No batch larger than the data (the engine holds a batch). */
    int batch = o->batch < tr->n ? o->batch : tr->n > 0 ? (int)tr->n : 1;
    /* Separate streams for the shuffle and the engine's dropout, both from
     * the seed, so changing one never shifts the other. */
    rng r;
    rng_seed(&r, o->seed);
    engine *e = engine_new(m, batch, 1, o->seed ^ 0x9e3779b97f4a7c15ull);

    int np = 0;
    for (int i = 0; i < m->n; i++)
        np += m->nodes[i].nw;
    param *ps = xcalloc((size_t)(np ? np : 1), sizeof *ps);
    np = 0;
    for (int i = 0; i < m->n; i++)
        for (int j = 0; j < m->nodes[i].nw; j++) {
            param *p = &ps[np++];
            p->w = m->nodes[i].w[j];
            p->node = i, p->k = j;
            size_t n = (size_t)tensor_numel(p->w);
            p->m1 = falloc(n);
            if (o->optim == TRAIN_ADAM)
                p->m2 = falloc(n);
        }

    int64_t *perm = xmalloc((size_t)(tr->n ? tr->n : 1) * sizeof *perm);
    for (int64_t i = 0; i < tr->n; i++)
        perm[i] = i;
    tensor *xb = tensor_new4(batch, tr->c, tr->h, tr->w);
    float *gbuf = falloc((size_t)(batch * k));
    double lr = o->lr;
    int64_t step = 0;

    for (int ep = 1; ep <= o->epochs; ep++) {
        double t0 = wall_seconds();
        for (int64_t i = tr->n - 1; i > 0; i--) {
            int64_t j = (int64_t)rng_below(&r, (uint64_t)i + 1);
            int64_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        char what[64];
        snprintf(what, sizeof what, "epoch %d/%d", ep, o->epochs);
        progress *pg = progress_start(what, tr->n);
        double sum = 0;
        int64_t correct = 0;
        engine_set_training(e, 1);
        for (int64_t a = 0; a < tr->n; a += batch) {
            int64_t n = tr->n - a < batch ? tr->n - a : batch;
            gather(tr, perm + a, n, xb);
            engine_forward_upto(e, xb, L);
            const tensor *z = engine_act(e, L);
            xent(z->data, tr->y, perm + a, n, k, gbuf, &sum, &correct);
            if (!isfinite(sum))
                die("training diverged (loss is not finite) in epoch %d: lower --lr", ep);
            tensor gt = *z;   /* the logits' shape; the data are the gradient */
            gt.data = gbuf;
            engine_zero_wgrad(e);
            engine_backward(e, L, &gt, RULE_STANDARD, 1);
            step++;
            double bc1 = 1 - pow(o->beta1, (double)step), bc2 = 1 - pow(o->beta2, (double)step);
            for (int q = 0; q < np; q++) {
                param *p = &ps[q];
                int64_t cnt = tensor_numel(p->w);
                float *w = p->w->data, *g = engine_wgrad(e, p->node, p->k)->data, *m1 = p->m1, *m2 = p->m2;
                float wd = (float)o->wd, flr = (float)lr;
                if (o->optim == TRAIN_SGD) {
                    float mu = (float)o->momentum;
                    for (int64_t i = 0; i < cnt; i++) {
                        float gi = g[i] + wd * w[i];
                        m1[i] = step == 1 ? gi : mu * m1[i] + gi;
                        w[i] -= flr * m1[i];
                    }
                } else {
                    float b1 = (float)o->beta1, b2 = (float)o->beta2;
                    float s1 = (float)(1 / bc1), s2 = (float)(1 / bc2), eps = (float)o->eps;
                    for (int64_t i = 0; i < cnt; i++) {
                        float gi = g[i] + wd * w[i];
                        m1[i] = b1 * m1[i] + (1 - b1) * gi;
                        m2[i] = b2 * m2[i] + (1 - b2) * gi * gi;
                        w[i] -= flr * (m1[i] * s1) / (sqrtf(m2[i] * s2) + eps);
                    }
                }
            }
            model_weights_changed(m);
            progress_update(pg, a + n);
        }
        progress_end(pg);
        train_epoch rep = { ep, o->epochs, tr->n ? sum / (double)tr->n : 0,
                            tr->n ? (double)correct / (double)tr->n : 0, -1, -1, 0 };
        if (val) {
            engine_set_training(e, 0);
            rep.val_acc = eval_engine(e, m, val, batch, &rep.val_loss);
        }
        rep.seconds = wall_seconds() - t0;
        if (cb)
            cb(&rep, ctx);
        lr *= o->lr_decay;
    }
    xb->dims[0] = batch;
    tensor_free(xb);
    free(gbuf);
    free(perm);
    for (int q = 0; q < np; q++) {
        free(ps[q].m1);
        free(ps[q].m2);
    }
    free(ps);
    engine_free(e);
}
