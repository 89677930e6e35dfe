/* ascend: gradient ascent on the input (see ascend.h). Each step is one
 * forward of the image (or the K images of --diversity) and one backward
 * per objective term (and one from the diversity layer). */
#include "base/numeric.h"
#include "methods/ascend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "methods/adam.h"
#include "methods/fvparam.h"
#include "methods/style.h"
#include "nn/gemm.h"

void ascend_defaults(ascend_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->steps = 100;
    c->lr = 0.1;
    c->seed = 1;
    c->until_pred = -1;
    c->inv_node = -1;
}

void ascend_lucid(ascend_cfg *c)
{
    c->fft = c->decorrelate = 1;
    c->adam = 1;
    c->lr = 0.05;
    c->steps = 256;
    c->init_sd = 0.01;
    fvt_standard(&c->tf);
}

int ascend_preset(int k, ascend_cfg *c)
{
    /* Yosinski et al. 2015, Table 1: decay, blur width (sigma), blur
     * every, norm percentile, contribution percentile. Their decay acts on
     * mean-subtracted pixels, ours pulls towards the model's mean (the
     * same point); their learning rate was for [0,255] pixels, so ours is
     * left as given. */
    static const double sets[4][5] = {
        { 0, 0.5, 4, 50, 0 },
        { 0.3, 0, 0, 20, 0 },
        { 0.0001, 1.0, 4, 0, 0 },
        { 0, 0.5, 4, 0, 90 },
    };
    if (k < 1 || k > 4)
        return -1;
    const double *s = sets[k - 1];
    c->l2 = s[0];
    c->blur_sigma = s[1];
    c->blur_every = (int)s[2];
    c->clip_norm = s[3];
    c->clip_contrib = s[4];
    return 0;
}

void ascend_blur(float *x, int64_t C, int64_t H, int64_t W, double sigma)
{
    for (int64_t c = 0; c < C; c++)
        num_blur(x + c * H * W, H, W, sigma, x + c * H * W);
}

/* Reset to the centre every pixel whose score lies below the pct-th
 * percentile of the scores (strictly below, as the toolbox did). */
static void clip_pixels(float *x, int64_t C, int64_t HW, const double *score, double *tmp,
                        double pct, const float *centre)
{
    memcpy(tmp, score, (size_t)HW * sizeof *tmp);
    double th = num_percentile(tmp, HW, pct);
    for (int64_t p = 0; p < HW; p++)
        if (score[p] < th)
            for (int64_t c = 0; c < C; c++)
                x[c * HW + p] = centre[c];
}

/* Circular shift of one image (C x H x W) by (dy, dx): out[y][x] =
 * in[y - dy][x - dx]. */
static void roll(const float *in, float *out, int64_t C, int64_t H, int64_t W, int dy, int dx)
{
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < H; y++) {
            int64_t sy = ((y - dy) % H + H) % H;
            for (int64_t j = 0; j < W; j++)
                out[(c * H + y) * W + j] = in[(c * H + sy) * W + ((j - dx) % W + W) % W];
        }
}

static void check_finite(const float *v, int64_t n, const char *what, int step)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            die("step %d: the %s became non-finite (lower --lr, or add --l2/--blur)", step, what);
}

/* The L2 and L-infinity size of x - x0 into res. */
static void change_size(const tensor *x0, const tensor *x, ascend_result *res)
{
    double s2 = 0, mx = 0;
    for (int64_t i = 0; i < tensor_numel(x); i++) {
        double d = fabs((double)x->data[i] - x0->data[i]);
        s2 += d * d;
        mx = d > mx ? d : mx;
    }
    res->l2 = sqrt(s2);
    res->linf = mx;
}

/* One step's update of the image p from its gradient g: the ascent step,
 * then Yosinski et al.'s regularisers (L2 decay toward the centre, blur,
 * norm and contribution clipping) and the clamp to [0, 1]. */
static void ascend_update(float *p, const float *g, int64_t C, int64_t H, int64_t W,
                          const ascend_cfg *c, int step, double *score, double *tmp)
{
    int64_t HW = H * W, D = C * HW;
    for (int64_t i = 0; i < D; i++)
        p[i] += (float)c->lr * g[i];
    if (c->l2 > 0)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t i = 0; i < HW; i++) {
                float *q = &p[ch * HW + i];
                *q = c->centre[ch] + (float)(1.0 - c->l2) * (*q - c->centre[ch]);
            }
    if (c->blur_sigma > 0 && c->blur_every > 0 && step % c->blur_every == 0)
        ascend_blur(p, C, H, W, c->blur_sigma);
    if (c->clip_norm > 0) {
        for (int64_t i = 0; i < HW; i++) {
            double s = 0;
            for (int64_t ch = 0; ch < C; ch++) {
                double d = p[ch * HW + i] - c->centre[ch];
                s += d * d;
            }
            score[i] = sqrt(s);
        }
        clip_pixels(p, C, HW, score, tmp, c->clip_norm, c->centre);
    }
    if (c->clip_contrib > 0) {
        /* First-order change of the objective were the pixel reset to
         * the centre: -(x - c) . g summed over channels. */
        for (int64_t i = 0; i < HW; i++) {
            double s = 0;
            for (int64_t ch = 0; ch < C; ch++)
                s -= (p[ch * HW + i] - c->centre[ch]) * g[ch * HW + i];
            score[i] = fabs(s);
        }
        clip_pixels(p, C, HW, score, tmp, c->clip_contrib, c->centre);
    }
    for (int64_t i = 0; i < D; i++)
        p[i] = p[i] < 0 ? 0 : p[i] > 1 ? 1 : p[i];
}

double ascend_diversity(const float *F, int K, int64_t n, int64_t k, float *dF)
{
    int64_t nn = n * n;
    float *G = falloc((size_t)nn), *U = falloc((size_t)nn);
    double *g = xmalloc((size_t)(K * nn) * sizeof *g), *sum = xcalloc((size_t)nn, sizeof *sum);
    double *nrm = xmalloc((size_t)K * sizeof *nrm), P = 0;
    for (int i = 0; i < K; i++) {
        style_gram(F + i * n * k, n, k, G);
        double s2 = 0;
        for (int64_t q = 0; q < nn; q++)
            s2 += (double)G[q] * G[q];
        nrm[i] = sqrt(s2) > 1e-12 ? sqrt(s2) : 1e-12;   /* F.normalize's eps */
        for (int64_t q = 0; q < nn; q++) {
            g[i * nn + q] = G[q] / nrm[i];
            sum[q] += g[i * nn + q];
        }
    }
    for (int i = 0; i < K; i++)
        for (int64_t q = 0; q < nn; q++)
            P += g[i * nn + q] * (sum[q] - g[i * nn + q]);
    P /= K;
    for (int i = 0; dF && i < K; i++) {
        /* dP/dg_i = 2 (sum - g_i) / K; through the normalisation,
         * dP/dG_i = (u - <u, g_i> g_i) / |G_i| (u alone below eps); and
         * G = F F^T gives dP/dF_i = (U + U^T) F_i. */
        const double *gi = g + i * nn;
        double ug = 0;
        for (int64_t q = 0; q < nn; q++)
            ug += 2.0 * (sum[q] - gi[q]) / K * gi[q];
        if (nrm[i] <= 1e-12)
            ug = 0;
        for (int64_t q = 0; q < nn; q++)
            G[q] = (float)((2.0 * (sum[q] - gi[q]) / K - ug * gi[q]) / nrm[i]);
        for (int64_t a = 0; a < n; a++)
            for (int64_t b = 0; b < n; b++)
                U[a * n + b] = G[a * n + b] + G[b * n + a];
        gemm(0, 0, (int)n, (int)k, (int)n, 1.0f, U, (int)n, F + i * n * k, (int)k, 0.0f,
             dF + i * n * k, (int)k);
    }
    free(G);
    free(U);
    free(g);
    free(sum);
    free(nrm);
    return P;
}

double ascend_inversion(const float *a, const float *r, int64_t n, float *da)
{
    double s = 0, r2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - r[i];
        s += d * d;
        r2 += (double)r[i] * r[i];
    }
    r2 = r2 > 1e-12 ? r2 : 1e-12;
    for (int64_t i = 0; da && i < n; i++)
        da[i] = (float)(-2.0 * ((double)a[i] - r[i]) / r2);
    return -s / r2;
}

/* Per-run state of the objective: each term's selections (K per term),
 * a seed large enough for any term's node, the diversity seed, and for
 * inversion the photo's activations (iref, K x the node's size; have_ref
 * once computed without transformations) and its seed. */
typedef struct objstate {
    target_sel *sel;
    int have_sel;
    tensor *seed, *dseed, *iseed, *photo;
    float *acc, *iref;
    int have_ref;
} objstate;

static void obj_init(objstate *o, const model *m, const target_expr *ex, const ascend_cfg *c,
                     int64_t K, int64_t D)
{
    int64_t mx = 1;
    for (int i = 0; i < ex->n; i++) {
        const int64_t *sh = m->nodes[ex->t[i].node].shape;
        mx = sh[0] * sh[1] * sh[2] > mx ? sh[0] * sh[1] * sh[2] : mx;
    }
    o->sel = xcalloc((size_t)(ex->n * K), sizeof *o->sel);
    o->have_sel = 0;
    o->seed = tensor_new4(K, mx, 1, 1);
    o->dseed = NULL;
    if (c->diversity > 0) {
        const int64_t *sh = m->nodes[c->div_node].shape;
        o->dseed = tensor_new4(K, sh[0], sh[1], sh[2]);
    }
    o->acc = xmalloc((size_t)(K * D) * sizeof *o->acc);
    o->iseed = o->photo = NULL;
    o->iref = NULL;
    o->have_ref = 0;
    if (c->inv_node >= 0) {
        const int64_t *sh = m->nodes[c->inv_node].shape;
        o->iseed = tensor_new4(K, sh[0], sh[1], sh[2]);
        o->iref = xmalloc((size_t)tensor_numel(o->iseed) * sizeof *o->iref);
        o->photo = tensor_new4(K, m->in_shape[0], m->in_shape[1], m->in_shape[2]);
    }
}

static void obj_free(objstate *o)
{
    free(o->sel);
    tensor_free(o->seed);
    tensor_free(o->dseed);
    tensor_free(o->iseed);
    tensor_free(o->photo);
    free(o->acc);
    free(o->iref);
}

/* Inversion: the photo's activations at the node, through the step's
 * transformation d when there is one (one forward; K copies). */
static void inv_ref(objstate *o, engine *e, const ascend_cfg *c, const fvt_draw *d,
                    float *work)
{
    if (c->inv_node < 0 || (o->have_ref && !c->tf.on))
        return;
    int64_t K = o->photo->dims[0], C = o->photo->dims[1], H = o->photo->dims[2];
    int64_t W = o->photo->dims[3], D = C * H * W;
    for (int64_t k = 0; k < K; k++)
        if (c->tf.on)
            fvt_forward(&c->tf, d, c->inv_photo, C, H, W, o->photo->data + k * D, work);
        else
            memcpy(o->photo->data + k * D, c->inv_photo, (size_t)D * sizeof(float));
    engine_forward(e, o->photo);
    memcpy(o->iref, engine_act(e, c->inv_node)->data,
           (size_t)tensor_numel(o->iseed) * sizeof(float));
    o->have_ref = 1;
}

/* Add w times the input gradient of the last backward into acc (first:
 * replace). */
static void obj_add(objstate *o, const engine *e, double w, int64_t n, int first)
{
    const float *gi = engine_input_grad(e)->data;
    for (int64_t k = 0; k < n; k++)
        o->acc[k] = (first ? 0.0f : o->acc[k]) + (float)w * gi[k];
}

/* The objective sum_k (sum_i w_i target_i(x_k) + inversion(x_k)) - W P(x) at the K images
 * x (one forward), the first image's prediction, and, when g is not
 * NULL, its gradient with respect to x (one backward per term, and one
 * from the diversity layer, weighted and summed). */
static float objective(const model *m, engine *e, const target_expr *ex, const ascend_cfg *c,
                       const tensor *x, objstate *o, int *pred, float *g)
{
    int K = (int)x->dims[0];
    int64_t DK = tensor_numel(x);
    engine_forward(e, x);
    if (!o->have_sel) {
        for (int i = 0; i < ex->n; i++)
            target_pick(&ex->t[i], m, e, K, NULL, NULL, &o->sel[i * K]);
        o->have_sel = 1;
    }
    const tensor *out = engine_output(e);
    *pred = (int)num_argmax(out->data, tensor_rowsize(out));
    double v = 0;
    float *vi = xmalloc((size_t)K * sizeof *vi);
    for (int i = 0; i < ex->n; i++) {
        target_value(&ex->t[i], e, K, &o->sel[i * K], K, vi);
        for (int k = 0; k < K; k++)
            v += ex->w[i] * vi[k];
    }
    free(vi);
    if (o->iseed) {
        int64_t n = tensor_numel(o->iseed) / K;
        const float *a = engine_act(e, c->inv_node)->data;
        for (int k = 0; k < K; k++)
            v += ascend_inversion(a + k * n, o->iref + k * n, n,
                                  g ? o->iseed->data + k * n : NULL);
    }
    const int64_t *sh = o->dseed ? m->nodes[c->div_node].shape : NULL;
    if (o->dseed)
        v -= c->diversity * ascend_diversity(engine_act(e, c->div_node)->data, K, sh[0],
                                             sh[1] * sh[2], g ? o->dseed->data : NULL);
    if (!g)
        return (float)v;
    for (int i = 0; i < ex->n; i++) {
        int from = target_seed(&ex->t[i], e, K, &o->sel[i * K], K, o->seed, NULL);
        engine_backward(e, from, o->seed, RULE_STANDARD, 0);
        obj_add(o, e, ex->w[i], DK, i == 0);
    }
    if (o->iseed) {
        engine_backward(e, c->inv_node, o->iseed, RULE_STANDARD, 0);
        obj_add(o, e, 1.0, DK, ex->n == 0);
    }
    if (o->dseed) {
        engine_backward(e, c->div_node, o->dseed, RULE_STANDARD, 0);
        obj_add(o, e, -c->diversity, DK, ex->n == 0 && !o->iseed);
    }
    memcpy(g, o->acc, (size_t)DK * sizeof(float));
    return (float)v;
}

/* The record of one step's value; 1 when the run should stop. */
static int record(const ascend_cfg *c, int step, float v, int pred, float *values,
                  ascend_result *res)
{
    if (!isfinite(v))
        die("step %d: the objective became non-finite (lower --lr)", step);
    if (values)
        values[step] = v;
    if (step == 0) {
        res->value0 = v;
        res->pred0 = pred;
    }
    res->value = v;
    res->pred = pred;
    res->steps_done = step;
    if (c->until_pred >= 0 && pred == c->until_pred) {
        res->reached = 1;
        return 1;
    }
    return step == c->steps;
}

/* Feature visualisation: parameters p make the image (fvparam), the
 * model sees it through the random transformations (fvtransform), and
 * the gradient goes back through both to p. Plain pixels (neither fft
 * nor decorrelate) are the parameters themselves, kept in [0,1]. */
static void fv_run(const model *m, engine *e, const target_expr *ex, tensor *x, const ascend_cfg *c,
                   int snap_every, ascend_snap_fn snap, void *ctx, float *values,
                   ascend_result *res)
{
    int64_t K = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], D = C * H * W;
    int lucid = c->fft || c->decorrelate;
    fvparam fp;
    fvparam_init(&fp, C, H, W, c->fft, c->decorrelate, c->have_colour ? c->colour : NULL);
    int64_t np = lucid ? fvparam_size(&fp) : D;   /* per image */
    float *p = lucid ? xcalloc((size_t)(K * np), sizeof *p) : x->data;
    float *gp = xmalloc((size_t)(K * np) * sizeof *gp), *g = xmalloc((size_t)(K * D) * sizeof *g);
    float *work = xmalloc(fvt_work_size(&c->tf, C, H, W) * sizeof *work);
    tensor *xt = tensor_clone(x);
    objstate os;
    obj_init(&os, m, ex, c, K, D);
    rng r;
    rng_seed(&r, c->seed);
    for (int64_t i = 0; lucid && i < K * np; i++)
        p[i] = (float)(c->init_sd * rng_normal(&r));
    adam opt;
    adam_init(&opt, c->adam ? K * np : 0, c->lr);
    opt.ascend = 1;
    int pred;
    memset(res, 0, sizeof *res);
    progress *pg = progress_start("ascent", c->steps);
    for (int step = 0;; step++) {
        for (int64_t k = 0; lucid && k < K; k++)
            fvparam_image(&fp, p + k * np, x->data + k * D);
        if (snap && snap_every > 0 && step % snap_every == 0 && step < c->steps)
            snap(ctx, step, x);
        fvt_draw d = { 0 };
        if (c->tf.on) {   /* one draw for the batch, as Lucent */
            fvt_draw_next(&c->tf, &r, &d);
            if (c->draws && step < c->steps)
                c->draws[step] = d;
            for (int64_t k = 0; k < K; k++)
                fvt_forward(&c->tf, &d, x->data + k * D, C, H, W, xt->data + k * D, work);
        } else
            memcpy(xt->data, x->data, (size_t)(K * D) * sizeof(float));
        inv_ref(&os, e, c, &d, work);
        int last = step == c->steps;
        float v = objective(m, e, ex, c, xt, &os, &pred, last ? NULL : g);
        if (record(c, step, v, pred, values, res))
            break;
        if (c->tf.on) {
            memcpy(xt->data, g, (size_t)(K * D) * sizeof(float));
            for (int64_t k = 0; k < K; k++)
                fvt_backward(&c->tf, &d, xt->data + k * D, C, H, W, g + k * D, work);
        }
        check_finite(g, K * D, "gradient", step);
        for (int64_t k = 0; k < K; k++)
            if (lucid)
                fvparam_backward(&fp, g + k * D, x->data + k * D, gp + k * np);
        if (!lucid)
            memcpy(gp, g, (size_t)(K * D) * sizeof(float));
        if (c->adam)
            adam_step(&opt, p, gp);
        else
            for (int64_t i = 0; i < K * np; i++)
                p[i] += (float)c->lr * gp[i];
        for (int64_t i = 0; !lucid && i < K * D; i++)
            p[i] = p[i] < 0 ? 0 : p[i] > 1 ? 1 : p[i];
        check_finite(p, K * np, "parameters", step + 1);
        progress_update(pg, step + 1);
    }
    progress_end(pg);
    adam_free(&opt);
    fvparam_free(&fp);   /* x holds the image of the last step's p */
    if (lucid)
        free(p);
    free(gp);
    free(g);
    free(work);
    tensor_free(xt);
    obj_free(&os);
}

void ascend_run(const model *m, engine *e, const target_expr *ex, tensor *x, const ascend_cfg *c,
                int snap_every, ascend_snap_fn snap, void *ctx, float *values,
                ascend_result *res)
{
    if (c->fft || c->decorrelate || c->tf.on || c->adam || x->dims[0] > 1 || c->diversity > 0 ||
        c->inv_node >= 0) {
        tensor *x0 = tensor_clone(x);
        fv_run(m, e, ex, x, c, snap_every, snap, ctx, values, res);
        change_size(x0, x, res);
        tensor_free(x0);
        return;
    }
    int64_t C = x->dims[1], H = x->dims[2], W = x->dims[3], HW = H * W, D = C * HW;
    tensor *x0 = tensor_clone(x), *xs = tensor_clone(x), *g = tensor_clone(x);
    objstate os;
    obj_init(&os, m, ex, c, 1, D);
    double *score = xmalloc((size_t)HW * sizeof *score), *tmp = xmalloc((size_t)HW * sizeof *tmp);
    rng r;
    rng_seed(&r, c->seed);
    memset(res, 0, sizeof *res);
    progress *pg = progress_start("ascent", c->steps);

    for (int step = 0;; step++) {
        /* Jitter: the gradient is taken at a shifted copy and shifted back,
         * so the image does not fit one pixel grid. */
        int dy = 0, dx = 0;
        if (c->jitter > 0 && step < c->steps) {
            dy = (int)rng_below(&r, 2 * (uint64_t)c->jitter + 1) - c->jitter;
            dx = (int)rng_below(&r, 2 * (uint64_t)c->jitter + 1) - c->jitter;
        }
        /* The value and prediction are those of x itself; with jitter the
         * gradient then comes from a second forward of the shifted copy. */
        int pred, shifted = dy || dx, last = step == c->steps;
        float v = objective(m, e, ex, c, x, &os, &pred, shifted || last ? NULL : g->data);
        if (snap && snap_every > 0 && step % snap_every == 0 && step < c->steps)
            snap(ctx, step, x);
        if (record(c, step, v, pred, values, res))
            break;
        if (shifted) {
            int pj;
            roll(x->data, xs->data, C, H, W, dy, dx);
            objective(m, e, ex, c, xs, &os, &pj, xs->data);
            roll(xs->data, g->data, C, H, W, -dy, -dx);
        }
        check_finite(g->data, D, "gradient", step);

        float *p = x->data;
        ascend_update(p, g->data, C, H, W, c, step, score, tmp);
        check_finite(p, D, "image", step + 1);
        progress_update(pg, step + 1);
    }
    progress_end(pg);

    change_size(x0, x, res);
    free(score);
    free(tmp);
    obj_free(&os);
    tensor_free(x0);
    tensor_free(xs);
    tensor_free(g);
}
