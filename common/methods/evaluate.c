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
#include "methods/evaluate.h"
#include "nn/engine.h"

struct evaluator {
    model *m;
    const target *t;
    target prob;                /* t measured as a probability (curves) */
    target label;               /* sensitivity: "label", fed each image's class */
    evaluate_cfg c;
    engine *e;
    int cap;                    /* copies per engine pass */
    int64_t C, H, W, chw;
    tensor *xb;                 /* a batch of copies */
    target_sel *sel;            /* cap selections */
    float *val;                 /* cap values */
    saliency *sal;
    tensor *attr;               /* sensitivity: cap attributions */
    int32_t *lab;               /* cap labels (the class) */
    float *score, *base;
    int32_t *chosen;
};

static const char *const metric_names[] = { "deletion", "insertion", "infidelity", "sensitivity" };
static const char *const fill_names[] = { "zero", "gray", "blur", "value" };

int evaluate_metric_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
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
    if (c->metric == EVAL_SENSITIVITY) {
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
    ev->e = engine_new(m, ev->cap, 0, 1);
    ev->xb = tensor_new4(ev->cap, ev->C, ev->H, ev->W);
    ev->sel = xcalloc((size_t)ev->cap, sizeof *ev->sel);
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
    tensor_free(ev->attr);
    free(ev->lab);
    free(ev->score);
    free(ev->base);
    free(ev->chosen);
    engine_free(ev->e);
    tensor_free(ev->xb);
    free(ev->sel);
    free(ev->val);
    free(ev);
}

void evaluate_pick(evaluator *ev, const tensor *x, const int32_t *labels, const int64_t *ids,
                   int32_t *cls)
{
    int n = (int)x->dims[0];
    for (int a = 0; a < n; a += ev->cap) {
        int k = n - a < ev->cap ? n - a : ev->cap;
        tensor xs = *x;
        xs.dims[0] = k;
        xs.data = x->data + (int64_t)a * ev->chw;
        engine_forward_upto(ev->e, &xs, ev->t->node);
        target_pick(ev->t, ev->m, ev->e, k, labels ? labels + a : NULL, ids ? ids + a : NULL,
                    ev->sel);
        for (int i = 0; i < k; i++)
            cls[a + i] = (int32_t)ev->sel[i].channel;
    }
}

/* The first k copies of ev->xb through the engine: the measure of t (the
 * class cls) of each into ev->val. */
static void measure_batch(evaluator *ev, const target *t, int k, int32_t cls)
{
    ev->xb->dims[0] = k;
    engine_forward_upto(ev->e, ev->xb, t->node);
    target_sel q = { t->node, cls, -1, -1 };
    target_value(t, ev->e, k, &q, 1, ev->val);
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
                     float *curve, float *auc)
{
    int64_t n = x->dims[0], hw = ev->H * ev->W, S = ev->c.steps;
    int32_t *order = xmalloc((size_t)hw * sizeof *order);
    float *cur = falloc((size_t)ev->chw), *end = falloc((size_t)ev->chw);
    for (int64_t i = 0; i < n; i++) {
        rank_pixels(maps + i * hw, hw, order);
        curve_ends(ev, x->data + i * ev->chw, cur, end);
        float *cv = curve + i * (S + 1);
        int64_t done = 0;
        for (int64_t k0 = 0; k0 <= S; k0 += ev->cap) {
            int k = (int)(S + 1 - k0 < ev->cap ? S + 1 - k0 : ev->cap);
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
