/* evaluate: deletion, insertion, infidelity and max-sensitivity of
 * attributions (see evaluate.h). Every perturbed copy goes through the
 * engine in batches of up to cfg.batch images. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "base/numeric.h"
#include "base/rng.h"
#include "methods/cam.h"
#include "methods/evaluate.h"
#include "nn/engine.h"

struct evaluator {
    model *m;
    const target *t;
    target prob;                /* t measured as a probability (curves) */
    target label;               /* sensitivity: "label", fed each image's class */
    evaluate_cfg c;
    cam_pass *pass;             /* forward-only passes (methods/cam.h) */
    int cap;                    /* copies per pass */
    int64_t C, H, W, chw;
    tensor *xb;                 /* a batch of copies */
    float *val;                 /* cap values */
    saliency *sal;
    saliency *sal2;             /* sanity: on the shuffled model */
    target label2;              /* its "label" target */
    tensor *attr;               /* sensitivity: cap attributions */
    int32_t *lab;               /* cap labels (the class) */
    float *score, *base;
    int32_t *chosen;
    int L;                      /* sanity: layers re-initialised, cascade order */
    int *layers;
    float **saved;              /* their trained weights, each node's together */
    tensor *mapbuf;             /* cap reduced maps */
    progress *pg;
    int64_t done;               /* copies and maps so far */
};

/* k more copies or maps done. */
static void advance(evaluator *ev, int64_t k)
{
    ev->done += k;
    progress_update(ev->pg, ev->done);
}

static const char *const metric_names[] = { "deletion", "insertion", "infidelity", "sensitivity",
                                            "sanity" };
static const char *const fill_names[] = { "zero", "gray", "blur", "value" };

int evaluate_metric_parse(const char *s)
{
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, metric_names[i]))
            return i;
    return -1;
}

const char *evaluate_metric_name(eval_metric m) { return metric_names[m]; }
const char *evaluate_fill_name(eval_fill f) { return fill_names[f]; }

int evaluate_fill_parse(const char *s, float *value)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, fill_names[i]))
            return i;
    if (!strcmp(s, "grey"))
        return EVAL_FILL_GRAY;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v))
        return -1;
    *value = (float)v;
    return EVAL_FILL_VALUE;
}

/* Sanity: the layers with weights, last first, and their trained
 * weights kept for restoring. */
static void sanity_setup(evaluator *ev, const char *file)
{
    const model *m = ev->m;
    ev->layers = xcalloc((size_t)m->n + 1, sizeof *ev->layers);
    if (ev->c.shuffled) {
        ev->layers[ev->L++] = -1;
        ev->saved = xcalloc(1, sizeof *ev->saved);
        ev->mapbuf = tensor_new(3, (int64_t[]){ ev->cap, ev->H, ev->W });
        return;
    }
    for (int i = m->n - 1; i >= 0; i--)
        if (node_weight(&m->nodes[i], "weight"))
            ev->layers[ev->L++] = i;
    if (ev->L < 1)
        die("%s: no layer with weights to re-initialise", file);
    if (ev->H < 7 || ev->W < 7)
        die("%s: sanity's SSIM needs maps of at least 7x7 pixels (these are %lldx%lld)", file,
            (long long)ev->H, (long long)ev->W);
    ev->saved = xcalloc((size_t)ev->L, sizeof *ev->saved);
    for (int l = 0; l < ev->L; l++) {
        const node *nd = &m->nodes[ev->layers[l]];
        int64_t tot = 0;
        for (int k = 0; k < nd->nw; k++)
            tot += tensor_numel(nd->w[k]);
        float *d = ev->saved[l] = falloc((size_t)tot);
        for (int k = 0; k < nd->nw; k++) {
            memcpy(d, nd->w[k]->data, (size_t)tensor_numel(nd->w[k]) * sizeof *d);
            d += tensor_numel(nd->w[k]);
        }
    }
    ev->mapbuf = tensor_new(3, (int64_t[]){ ev->cap, ev->H, ev->W });
}

/* The shuffled model must be m's architecture: the same input, classes,
 * nodes (names, ops, inputs) and weight shapes. */
static void same_architecture(const model *m, const model *s, const char *file, const char *sfile)
{
    if (memcmp(m->in_shape, s->in_shape, sizeof m->in_shape) || m->nclasses != s->nclasses)
        die("%s: takes %lldx%lldx%lld images to %d classes, but %s takes %lldx%lldx%lld to %d: "
            "not the same architecture", sfile, (long long)s->in_shape[0], (long long)s->in_shape[1],
            (long long)s->in_shape[2], s->nclasses, file, (long long)m->in_shape[0],
            (long long)m->in_shape[1], (long long)m->in_shape[2], m->nclasses);
    for (int i = 0; i < m->n || i < s->n; i++) {
        const node *a = i < m->n ? &m->nodes[i] : NULL, *b = i < s->n ? &s->nodes[i] : NULL;
        int same = a && b && !strcmp(a->name, b->name) && !strcmp(a->op, b->op) &&
                   a->nin == b->nin && a->nw == b->nw;
        for (int k = 0; same && k < a->nin; k++)
            same = a->in[k] == b->in[k];
        for (int k = 0; same && k < a->nw; k++)
            same = a->w[k]->ndim == b->w[k]->ndim &&
                   !memcmp(a->w[k]->dims, b->w[k]->dims, sizeof(int64_t) * (size_t)a->w[k]->ndim);
        if (!same)
            die("%s: node %d is %s (%s), but %s's is %s (%s): not the same architecture", sfile, i,
                b ? b->name : "missing", b ? b->op : "-", file, a ? a->name : "missing",
                a ? a->op : "-");
    }
}

/* Data randomisation: the attribution on the shuffled model too. */
static void shuffled_setup(evaluator *ev, const char *file)
{
    const evaluate_cfg *c = &ev->c;
    same_architecture(ev->m, c->shuffled, file, c->shuffled_file);
    char err[256];
    if (target_parse("label", &ev->label2, err, sizeof err) < 0)
        die("%s", err);
    ev->label2.measure = ev->t->measure;
    target_resolve(&ev->label2, c->shuffled, c->shuffled_file);
    ev->sal2 = saliency_new(c->shuffled, &ev->label2, c->sal, ev->cap, c->shuffled_file);
}

evaluator *evaluate_new(model *m, const target *t, const evaluate_cfg *c, const char *file)
{
    if (t->kind == TARGET_UNIT || t->kind == TARGET_STRONGEST)
        die("%s: target '%s': %s scores a class (give -t class=K, label or pred)", file, t->spec,
            metric_names[c->metric]);
    evaluator *ev = xcalloc(1, sizeof *ev);
    ev->m = m;
    ev->t = t;
    ev->c = *c;
    ev->prob = *t;
    ev->prob.measure = TARGET_PROB;
    ev->C = m->in_shape[0], ev->H = m->in_shape[1], ev->W = m->in_shape[2];
    ev->chw = ev->C * ev->H * ev->W;
    ev->cap = c->batch > 0 ? c->batch : 64;
    /* A curve's copies are one image's: no pass has more than steps + 1
     * rows, and larger buffers would only cost pages. */
    if ((c->metric == EVAL_DELETION || c->metric == EVAL_INSERTION) && ev->cap > c->steps + 1)
        ev->cap = (int)(c->steps + 1);
    if (c->metric == EVAL_SENSITIVITY || c->metric == EVAL_SANITY) {
        char err[256];
        if (target_parse("label", &ev->label, err, sizeof err) < 0)
            die("%s", err);
        ev->label.measure = t->measure;
        target_resolve(&ev->label, m, file);
        ev->sal = saliency_new(m, &ev->label, c->sal, ev->cap, file);
        ev->attr = tensor_new4(ev->cap, saliency_channels(ev->sal), ev->H, ev->W);
        ev->lab = xcalloc((size_t)ev->cap, sizeof *ev->lab);
        ev->score = falloc((size_t)ev->cap);
        ev->base = falloc((size_t)ev->cap);
        ev->chosen = xcalloc((size_t)ev->cap, sizeof *ev->chosen);
    }
    if (c->metric == EVAL_SANITY && c->shuffled)
        shuffled_setup(ev, file);
    if (c->metric == EVAL_SANITY)
        sanity_setup(ev, file);
    /* Only the target's node is read after a forward: a forward-only
     * engine, fed cache-sized chunks of each pass (methods/cam.h). */
    ev->pass = cam_pass_new(m, t->node, ev->cap, c->metric != EVAL_SANITY);
    ev->xb = tensor_new4(ev->cap, ev->C, ev->H, ev->W);
    ev->val = falloc((size_t)ev->cap);
    return ev;
}

void evaluate_free(evaluator *ev)
{
    if (!ev)
        return;
    if (ev->sal) {
        saliency_free(ev->sal);
        target_free(&ev->label);
    }
    if (ev->sal2) {
        saliency_free(ev->sal2);
        target_free(&ev->label2);
    }
    for (int l = 0; l < ev->L && ev->saved; l++)
        free(ev->saved[l]);
    free(ev->saved);
    free(ev->layers);
    tensor_free(ev->mapbuf);
    tensor_free(ev->attr);
    free(ev->lab);
    free(ev->score);
    free(ev->base);
    free(ev->chosen);
    cam_pass_free(ev->pass);
    tensor_free(ev->xb);
    free(ev->val);
    free(ev);
}

void evaluate_progress(evaluator *ev, progress *pg)
{
    ev->pg = pg;
    ev->done = 0;
}

int64_t evaluate_work(const evaluator *ev, int64_t n)
{
    switch (ev->c.metric) {
    case EVAL_DELETION:
    case EVAL_INSERTION: return n * (ev->c.steps + 1);
    case EVAL_SANITY: return n * (ev->L + 1);
    default: return n * (ev->c.samples + 1);
    }
}

void evaluate_pick(evaluator *ev, const tensor *x, const int32_t *labels, const int64_t *ids,
                   int32_t *cls, float *clean)
{
    int n = (int)x->dims[0], er = cam_pass_chunk(ev->pass);
    const int64_t *s = ev->m->nodes[ev->t->node].shape;
    int64_t len = s[0] * s[1] * s[2];
    /* A chunk of the pass's rows at a time: a direction target's layer can
     * be large. */
    float *out = falloc_raw((size_t)(er * len));
    target_sel *sel = xcalloc((size_t)er, sizeof *sel);
    for (int a = 0; a < n; a += er) {
        tensor xs = *x;
        xs.dims[0] = n - a < er ? n - a : er;
        xs.data = x->data + (int64_t)a * ev->chw;
        cam_pass_outputs(ev->pass, &xs, out);
        target_pick_rows(ev->t, ev->m, out, (int)xs.dims[0], labels ? labels + a : NULL,
                         ids ? ids + a : NULL, sel);
        for (int i = 0; i < (int)xs.dims[0]; i++) {
            cls[a + i] = (int32_t)sel[i].channel;
            if (clean)
                clean[a + i] = (float)target_row_value(&ev->prob, out + i * len, s[0], s[1],
                                                       s[2], &sel[i], NULL);
        }
    }
    free(sel);
    free(out);
}

/* The first k copies of ev->xb through the engine: the measure of t (the
 * class cls) of each into ev->val. */
static void measure_batch(evaluator *ev, const target *t, int k, int32_t cls)
{
    ev->xb->dims[0] = k;
    target_sel q = { t->node, cls, -1, -1 };
    cam_pass_run(ev->pass, ev->xb, t, &q, 1, ev->val);
    advance(ev, k);
}

typedef struct ranked {
    float v;
    int32_t i;
} ranked;

static int by_value(const void *a, const void *b)
{
    const ranked *p = a, *q = b;
    if (p->v != q->v)
        return p->v > q->v ? -1 : 1;
    return (p->i > q->i) - (p->i < q->i);
}

/* The pixels of one map in decreasing order, ties by index. */
static void rank_pixels(const float *map, int64_t hw, int32_t *order)
{
    ranked *r = xmalloc((size_t)hw * sizeof *r);
    for (int64_t k = 0; k < hw; k++)
        r[k].v = map[k], r[k].i = (int32_t)k;
    qsort(r, (size_t)hw, sizeof *r, by_value);
    for (int64_t k = 0; k < hw; k++)
        order[k] = r[k].i;
    free(r);
}

/* Each channel of img blurred (sigma) into dst. */
static void blur_image(const evaluator *ev, const float *img, float *dst)
{
    int64_t hw = ev->H * ev->W;
    for (int64_t c = 0; c < ev->C; c++)
        num_blur(img + c * hw, ev->H, ev->W, ev->c.blur_sigma, dst + c * hw);
}

/* The start image and what the ranked pixels become, for one image. */
static void curve_ends(const evaluator *ev, const float *img, float *start, float *end)
{
    if (ev->c.metric == EVAL_INSERTION) {
        blur_image(ev, img, start);
        memcpy(end, img, (size_t)ev->chw * sizeof *end);
        return;
    }
    memcpy(start, img, (size_t)ev->chw * sizeof *start);
    if (ev->c.fill == EVAL_FILL_BLUR) {
        blur_image(ev, img, end);
        return;
    }
    float v = ev->c.fill == EVAL_FILL_GRAY ? 0.5f : ev->c.fill == EVAL_FILL_VALUE ? ev->c.fill_value : 0.0f;
    for (int64_t k = 0; k < ev->chw; k++)
        end[k] = v;
}

void evaluate_curves(evaluator *ev, const tensor *x, const float *maps, const int32_t *cls,
                     const float *clean, float *curve, float *auc)
{
    int64_t n = x->dims[0], hw = ev->H * ev->W, S = ev->c.steps;
    /* The step that is the image itself (deletion's first, insertion's
     * last) has its value from evaluate_pick when given: steps lo..hi run. */
    int ins = ev->c.metric == EVAL_INSERTION;
    int64_t lo = clean && !ins, hi = S - (clean && ins);
    int32_t *order = xmalloc((size_t)hw * sizeof *order);
    float *cur = falloc((size_t)ev->chw), *end = falloc((size_t)ev->chw);
    for (int64_t i = 0; i < n; i++) {
        rank_pixels(maps + i * hw, hw, order);
        curve_ends(ev, x->data + i * ev->chw, cur, end);
        float *cv = curve + i * (S + 1);
        int64_t done = 0;
        if (clean) {
            cv[ins ? S : 0] = clean[i];
            advance(ev, 1);
        }
        for (int64_t k0 = lo; k0 <= hi; k0 += ev->cap) {
            int k = (int)(hi + 1 - k0 < ev->cap ? hi + 1 - k0 : ev->cap);
            for (int j = 0; j < k; j++) {
                int64_t upto = (k0 + j) * hw / S;
                for (; done < upto; done++)
                    for (int64_t c = 0; c < ev->C; c++)
                        cur[c * hw + order[done]] = end[c * hw + order[done]];
                memcpy(ev->xb->data + j * ev->chw, cur, (size_t)ev->chw * sizeof *cur);
            }
            measure_batch(ev, &ev->prob, k, cls[i]);
            memcpy(cv + k0, ev->val, (size_t)k * sizeof *cv);
        }
        double a = 0;
        for (int64_t k = 0; k < S; k++)
            a += 0.5 * ((double)cv[k] + (double)cv[k + 1]);
        auc[i] = (float)(a / (double)S);
    }
    free(order);
    free(cur);
    free(end);
}

/* Sample s's draws for an image (C x H x W): from the noise file, or from
 * the image's own stream (normal, or uniform in [-1,1]). */
static void draws(const evaluator *ev, rng *r, int64_t s, int normal, float *z)
{
    if (ev->c.noise_data) {
        memcpy(z, ev->c.noise_data + s * ev->chw, (size_t)ev->chw * sizeof *z);
        return;
    }
    for (int64_t k = 0; k < ev->chw; k++)
        z[k] = (float)(normal ? rng_normal(r) : 2.0 * rng_uniform(r) - 1.0);
}

static void seed_image(const evaluator *ev, rng *r, const int64_t *ids, int64_t i)
{
    rng_seed(r, ev->c.seed * 0x9E3779B97F4A7C15ULL + (uint64_t)(ids ? ids[i] : i) + 1);
}

void evaluate_infidelity(evaluator *ev, const tensor *x, const tensor *attr, const int32_t *cls,
                         const int64_t *ids, float *score)
{
    int64_t n = x->dims[0], S = ev->c.samples, hw = ev->H * ev->W;
    int64_t ca = attr->dims[1];
    float *pert = falloc((size_t)(ev->cap * ev->chw));
    double *dot = xcalloc((size_t)ev->cap, sizeof *dot);
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x->data + i * ev->chw, *ai = attr->data + i * ca * hw;
        rng r;
        seed_image(ev, &r, ids, i);
        memcpy(ev->xb->data, xi, (size_t)ev->chw * sizeof *xi);
        measure_batch(ev, ev->t, 1, cls[i]);
        double fx = ev->val[0], sum = 0;
        for (int64_t s0 = 0; s0 < S; s0 += ev->cap) {
            int k = (int)(S - s0 < ev->cap ? S - s0 : ev->cap);
            for (int j = 0; j < k; j++) {
                float *p = pert + j * ev->chw, *xj = ev->xb->data + j * ev->chw;
                draws(ev, &r, s0 + j, 1, p);
                double d = 0;
                for (int64_t q = 0; q < ev->chw; q++) {
                    p[q] = (float)(ev->c.noise * p[q]);
                    xj[q] = xi[q] - p[q];
                    d += (double)p[q] * ai[ca == 1 ? q % hw : q];
                }
                dot[j] = d;
            }
            measure_batch(ev, ev->t, k, cls[i]);
            for (int j = 0; j < k; j++) {
                double e = dot[j] - (fx - ev->val[j]);
                sum += e * e;
            }
        }
        score[i] = (float)(sum / (double)S);
    }
    free(pert);
    free(dot);
}

/* The attributions of the first k rows of ev->xb for class cls. */
static const tensor *attribute(evaluator *ev, int k, int32_t cls)
{
    for (int j = 0; j < k; j++)
        ev->lab[j] = cls;
    ev->xb->dims[0] = k;
    saliency_run(ev->sal, ev->xb, ev->lab, NULL, ev->attr, ev->score, ev->chosen, ev->base, NULL);
    advance(ev, k);
    return ev->attr;
}

void evaluate_sensitivity(evaluator *ev, const tensor *x, const int32_t *cls, const int64_t *ids,
                          float *score)
{
    int64_t n = x->dims[0], S = ev->c.samples;
    int64_t asz = saliency_channels(ev->sal) * ev->H * ev->W;
    float *a0 = falloc((size_t)asz), *z = falloc((size_t)ev->chw);
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x->data + i * ev->chw;
        rng r;
        seed_image(ev, &r, ids, i);
        memcpy(ev->xb->data, xi, (size_t)ev->chw * sizeof *xi);
        memcpy(a0, attribute(ev, 1, cls[i])->data, (size_t)asz * sizeof *a0);
        double n0 = 0, best = 0;
        for (int64_t q = 0; q < asz; q++)
            n0 += (double)a0[q] * a0[q];
        n0 = n0 > 0 ? sqrt(n0) : 1.0;
        for (int64_t s0 = 0; s0 < S; s0 += ev->cap) {
            int k = (int)(S - s0 < ev->cap ? S - s0 : ev->cap);
            for (int j = 0; j < k; j++) {
                float *xj = ev->xb->data + j * ev->chw;
                draws(ev, &r, s0 + j, 0, z);
                for (int64_t q = 0; q < ev->chw; q++)
                    xj[q] = xi[q] + (float)(ev->c.radius * z[q]);
            }
            const tensor *at = attribute(ev, k, cls[i]);
            for (int j = 0; j < k; j++) {
                double d = 0;
                for (int64_t q = 0; q < asz; q++) {
                    double e = (double)at->data[j * asz + q] - a0[q];
                    d += e * e;
                }
                d = sqrt(d) / n0;
                if (d > best)
                    best = d;
            }
        }
        score[i] = (float)best;
    }
    free(a0);
    free(z);
}

/* ---- sanity: cascading randomisation ---------------------------------- */

int evaluate_sanity_layers(const evaluator *ev, int *nodes)
{
    memcpy(nodes, ev->layers, (size_t)ev->L * sizeof *nodes);
    return ev->L;
}

/* Layer l's weights: drawn (restore = 0) or the trained ones back. */
static void sanity_weights(evaluator *ev, int l, int restore)
{
    node *nd = &ev->m->nodes[ev->layers[l]];
    const tensor *w = node_weight(nd, "weight");
    int64_t fan = w->dims[0] > 0 ? tensor_numel(w) / w->dims[0] : 1;
    double b = 1.0 / sqrt((double)(fan > 0 ? fan : 1));
    rng r;
    rng_seed(&r, ev->c.seed * 0x9E3779B97F4A7C15ULL + 0x5A17ULL + (uint64_t)ev->layers[l]);
    const float *src = ev->saved[l];
    for (int k = 0; k < nd->nw; k++) {
        int64_t nk = tensor_numel(nd->w[k]);
        float *d = nd->w[k]->data;
        for (int64_t q = 0; q < nk; q++)
            d[q] = restore ? src[q] : (float)((2.0 * rng_uniform(&r) - 1.0) * b);
        src += nk;
    }
    model_weights_changed(ev->m);
}

/* The maps of the n images of x for their classes, on the model as it is
 * now, into slot j of each image's cascade. */
static void sanity_maps(evaluator *ev, saliency *sal, const tensor *x, const int32_t *cls, int j,
                        float *cascade)
{
    int64_t n = x->dims[0], hw = ev->H * ev->W;
    memcpy(ev->xb->data, x->data, (size_t)(n * ev->chw) * sizeof *x->data);
    memcpy(ev->lab, cls, (size_t)n * sizeof *cls);
    ev->xb->dims[0] = n;
    saliency_run(sal, ev->xb, ev->lab, NULL, ev->attr, ev->score, ev->chosen, ev->base, NULL);
    saliency_reduce_maps(ev->attr, ev->c.reduce, ev->mapbuf);
    advance(ev, n);
    for (int64_t i = 0; i < n; i++)
        memcpy(cascade + (i * (ev->L + 1) + j) * hw, ev->mapbuf->data + i * hw,
               (size_t)hw * sizeof *cascade);
}

static double pearson(const double *a, const double *b, int64_t n)
{
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int64_t k = 0; k < n; k++)
        ma += a[k], mb += b[k];
    ma /= (double)n, mb /= (double)n;
    for (int64_t k = 0; k < n; k++) {
        sab += (a[k] - ma) * (b[k] - mb);
        saa += (a[k] - ma) * (a[k] - ma);
        sbb += (b[k] - mb) * (b[k] - mb);
    }
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0.0;
}

/* Ranks of v (average ranks for ties). */
static void avg_ranks(const float *v, int64_t n, double *rk)
{
    ranked *r = xmalloc((size_t)n * sizeof *r);
    for (int64_t k = 0; k < n; k++)
        r[k].v = v[k], r[k].i = (int32_t)k;
    qsort(r, (size_t)n, sizeof *r, by_value);
    for (int64_t a = 0, b; a < n; a = b) {
        for (b = a + 1; b < n && r[b].v == r[a].v; b++)
            ;
        for (int64_t k = a; k < b; k++)
            rk[r[k].i] = 0.5 * (double)(a + b - 1);
    }
    free(r);
}

static void unit_range(const float *v, int64_t n, double *o)
{
    double lo = v[0], hi = v[0];
    for (int64_t k = 1; k < n; k++)
        lo = v[k] < lo ? v[k] : lo, hi = v[k] > hi ? v[k] : hi;
    for (int64_t k = 0; k < n; k++)
        o[k] = hi > lo ? ((double)v[k] - lo) / (hi - lo) : 0.0;
}

/* Mean SSIM of two H x W maps in [0,1] over the 7 x 7 windows inside. */
static double ssim(const double *a, const double *b, int64_t H, int64_t W)
{
    const double np = 49, cn = 49.0 / 48.0, C1 = 1e-4, C2 = 9e-4;
    double sum = 0;
    int64_t cnt = 0;
    for (int64_t y = 3; y < H - 3; y++)
        for (int64_t x = 3; x < W - 3; x++) {
            double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
            for (int64_t u = y - 3; u <= y + 3; u++)
                for (int64_t v = x - 3; v <= x + 3; v++) {
                    double p = a[u * W + v], q = b[u * W + v];
                    sa += p, sb += q, saa += p * p, sbb += q * q, sab += p * q;
                }
            double ux = sa / np, uy = sb / np;
            double vx = cn * (saa / np - ux * ux), vy = cn * (sbb / np - uy * uy);
            double vxy = cn * (sab / np - ux * uy);
            sum += ((2 * ux * uy + C1) * (2 * vxy + C2)) / ((ux * ux + uy * uy + C1) * (vx + vy + C2));
            cnt++;
        }
    return sum / (double)cnt;
}

/* HOG features of an H x W map (see evaluate.h) into f; returns how many. */
static int64_t hog(const double *im, int64_t H, int64_t W, double *f)
{
    int64_t cell = 8, s = H < W ? H : W;
    if (s / cell < 3)
        cell = s / 3;
    int64_t nr = H / cell, nc = W / cell, nf = 0;
    double *h = xcalloc((size_t)(nr * nc * 9), sizeof *h);
    for (int64_t y = 0; y < nr * cell; y++)
        for (int64_t x = 0; x < nc * cell; x++) {
            double gr = y > 0 && y < H - 1 ? im[(y + 1) * W + x] - im[(y - 1) * W + x] : 0.0;
            double gc = x > 0 && x < W - 1 ? im[y * W + x + 1] - im[y * W + x - 1] : 0.0;
            double o = fmod(atan2(gr, gc) * 180.0 / M_PI + 360.0, 180.0);
            int bin = (int)(o / 20.0);
            h[((y / cell) * nc + x / cell) * 9 + (bin > 8 ? 8 : bin)] += hypot(gr, gc);
        }
    for (int64_t br = 0; br + 3 <= nr; br++)
        for (int64_t bc = 0; bc + 3 <= nc; bc++) {
            double *blk = f + nf, ss = 0;
            for (int64_t r = 0; r < 3; r++)
                for (int64_t k = 0; k < 27; k++)
                    blk[r * 27 + k] = h[((br + r) * nc + bc) * 9 + k] / (double)(cell * cell);
            for (int k = 0; k < 81; k++)
                ss += blk[k] * blk[k];
            double s2 = 0;
            for (int k = 0; k < 81; k++) {
                blk[k] = fmin(blk[k] / sqrt(ss + 1e-10), 0.2);
                s2 += blk[k] * blk[k];
            }
            for (int k = 0; k < 81; k++)
                blk[k] /= sqrt(s2 + 1e-10);
            nf += 81;
        }
    free(h);
    return nf;
}

/* The three similarities of map b to map a (H x W floats). */
static void similarities(const evaluator *ev, const float *a, const float *b, float *rho,
                         float *ss, float *hg)
{
    int64_t hw = ev->H * ev->W;
    double *ra = xmalloc((size_t)hw * 2 * sizeof *ra), *rb = ra + hw;
    avg_ranks(a, hw, ra);
    avg_ranks(b, hw, rb);
    *rho = (float)pearson(ra, rb, hw);
    unit_range(a, hw, ra);
    unit_range(b, hw, rb);
    *ss = (float)ssim(ra, rb, ev->H, ev->W);
    size_t most = (size_t)hw * 81 / 4 + 81;   /* cells of 2 pixels or more */
    double *fa = xmalloc(most * 2 * sizeof *fa), *fb = fa + most;
    int64_t nf = hog(ra, ev->H, ev->W, fa);
    hog(rb, ev->H, ev->W, fb);
    *hg = nf > 0 ? (float)pearson(fa, fb, nf) : 0.0f;
    free(ra);
    free(fa);
}

void evaluate_sanity(evaluator *ev, const tensor *x, const int32_t *cls, float *cascade,
                     float *spearman, float *ss, float *hg)
{
    int64_t n = x->dims[0], hw = ev->H * ev->W, L = ev->L;
    if (n > ev->cap)
        die("evaluate_sanity: %lld images, more than the batch of %d", (long long)n, ev->cap);
    sanity_maps(ev, ev->sal, x, cls, 0, cascade);
    if (ev->sal2)
        sanity_maps(ev, ev->sal2, x, cls, 1, cascade);
    for (int l = 0; l < L && !ev->sal2; l++) {
        sanity_weights(ev, l, 0);
        sanity_maps(ev, ev->sal, x, cls, l + 1, cascade);
    }
    for (int l = 0; l < L && !ev->sal2; l++)
        sanity_weights(ev, l, 1);
    for (int64_t i = 0; i < n; i++) {
        const float *c = cascade + i * (L + 1) * hw;
        for (int l = 0; l < L; l++)
            similarities(ev, c, c + (l + 1) * hw, spearman + i * L + l, ss + i * L + l,
                         hg + i * L + l);
    }
}
