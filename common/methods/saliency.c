/* saliency: the attribution methods (see saliency.h). Every method is one
 * map M(x) computed from one or more backward passes over the whole batch;
 * SmoothGrad averages M over noisy copies x + sigma_i * eps, so it composes
 * with every other method.
 *
 * Integrated gradients use the right Riemann sum of Sundararajan et al.
 * (eq. 3): attr = (x - b) / m * sum_{k=1..m} grad f(b + k/m (x - b)),
 * whose completeness error sum(attr) - (f(x) - f(b)) shrinks as m grows.
 *
 * Grad-CAM: alpha_k = spatial mean of d target / d A_k at the chosen layer,
 * cam = ReLU(sum_k alpha_k A_k), resized to the input bilinearly with
 * half-pixel centres (PyTorch's interpolate, align_corners=False).
 *
 * The CAMs (methods/cam.h) share Grad-CAM's layer checks, its /cam at
 * layer resolution and its upsampling; guided Grad-CAM multiplies guided
 * backprop by that upsampled Grad-CAM. DeepLift and LRP replace the
 * backward of some ops through the engine's backward hook
 * (methods/deeplift.h, methods/lrp.h).
 *
 * GradientShap (Captum's: SmoothGrad over input-minus-baseline x
 * gradient): attr = 1/m sum_j (x~_j - b_j) o grad f(b_j + a_j (x~_j - b_j)),
 * x~_j = x + sigma eps_j, b_j the (j mod B)-th baseline, a_j ~ U[0,1).
 *
 * SmoothGrad noise: sigma_i = noise * (max x_i - min x_i) per image (1 when
 * the image is constant), eps from a generator seeded by (seed, image id),
 * so the result does not depend on --batch or --range (shards agree). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/numeric.h"
#include "base/cli.h"
#include "methods/cam.h"
#include "methods/deeplift.h"
#include "methods/lrp.h"
#include "methods/rules.h"
#include "methods/saliency.h"

static const char *const method_names[] = {
    [SAL_GRADIENT] = "gradient",
    [SAL_GUIDED] = "guided",
    [SAL_DECONVNET] = "deconvnet",
    [SAL_INPUT_X_GRADIENT] = "input-x-gradient",
    [SAL_INTEGRATED] = "integrated-gradients",
    [SAL_GRADCAM] = "gradcam",
    [SAL_SMOOTHGRAD] = "smoothgrad",
    [SAL_GRADCAMPP] = "gradcam++",
    [SAL_XGRADCAM] = "xgradcam",
    [SAL_LAYERCAM] = "layercam",
    [SAL_EIGENCAM] = "eigencam",
    [SAL_SCORECAM] = "scorecam",
    [SAL_ABLATIONCAM] = "ablationcam",
    [SAL_GUIDED_GRADCAM] = "guided-gradcam",
    [SAL_DEEPLIFT] = "deeplift",
    [SAL_GRADIENTSHAP] = "gradientshap",
    [SAL_LRP] = "lrp",
};
static const char *const reduce_names[] = { "max", "absmax", "sum", "l2" };
static const char *const stat_names[] = { "mean", "sq", "var" };
static const char *const rule_names[] = { "epsilon", "gamma", "alpha1beta0" };

/* The CAM each CAM method computes (guided Grad-CAM: Grad-CAM). */
static const struct { sal_method m; cam_kind k; } cams[] = {
    { SAL_GRADCAM, CAM_GRADCAM }, { SAL_GRADCAMPP, CAM_GRADCAMPP },
    { SAL_XGRADCAM, CAM_XGRADCAM }, { SAL_LAYERCAM, CAM_LAYERCAM },
    { SAL_EIGENCAM, CAM_EIGENCAM }, { SAL_SCORECAM, CAM_SCORECAM },
    { SAL_ABLATIONCAM, CAM_ABLATIONCAM }, { SAL_GUIDED_GRADCAM, CAM_GRADCAM },
};

static int find_cam(sal_method m, cam_kind *k)
{
    for (size_t i = 0; i < sizeof cams / sizeof *cams; i++)
        if (cams[i].m == m) {
            if (k)
                *k = cams[i].k;
            return 1;
        }
    return 0;
}

int saliency_is_cam(sal_method m) { return find_cam(m, NULL); }

int saliency_has_completeness(sal_method m)
{
    return m == SAL_INTEGRATED || m == SAL_DEEPLIFT || m == SAL_GRADIENTSHAP || m == SAL_LRP;
}

static int parse_name(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

int saliency_stat_parse(const char *s) { return parse_name(s, stat_names, 3); }
const char *saliency_stat_name(sal_stat st) { return stat_names[st]; }
int saliency_lrp_rule_parse(const char *s) { return parse_name(s, rule_names, 3); }
const char *saliency_lrp_rule_name(sal_lrp_rule r) { return rule_names[r]; }

const char *saliency_method_list(void)
{
    static char buf[512];
    if (!buf[0])
        for (size_t i = 0; i < sizeof method_names / sizeof *method_names; i++)
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? ", " : "",
                     method_names[i]);
    return buf;
}

int saliency_method_parse(const char *s)
{
    return parse_name(s, method_names, (int)(sizeof method_names / sizeof *method_names));
}

const char *saliency_method_name(sal_method m) { return method_names[m]; }

int saliency_reduce_parse(const char *s) { return parse_name(s, reduce_names, 4); }

const char *saliency_reduce_name(sal_reduce r) { return reduce_names[r]; }

struct saliency {
    model *m;
    const target *t;
    saliency_cfg cfg;
    int max_batch;
    engine *e;
    relu_rule rule;
    int64_t C, H, W, hw, ca;      /* image shape; attribution channels */
    int is_cam;
    cam_kind ck;
    int64_t ch, cw, K;            /* the CAM layer's resolution and channels */
    tensor *xin, *base, *one, *acc2, *seed, *cam1, *camacc, *A;
    float *w1, *wacc;             /* CAM weights: one pass, and as returned */
    target_sel *sel;
    float *val;
    rng *rngs;
    progress *pg;
    int64_t done, units;          /* progress: done so far; units per image */
    char label[64];
    int clean;                    /* e holds the clean pass of the batch, val its values */
};

/* Is node a an ancestor of (or equal to) node b? */
static int feeds(const model *m, int a, int b)
{
    char *mark = rules_ancestors(m, b);
    int r = mark[a];
    free(mark);
    return r;
}

/* The CAM layer: spatial and feeding the target; its shape into s. */
static void check_cam_layer(saliency *s, const char *file)
{
    const model *m = s->m;
    const char *name = method_names[s->cfg.method];
    int L = s->cfg.layer;
    const node *nd = &m->nodes[L];
    if (nd->shape[1] * nd->shape[2] < 2)
        die("%s: %s layer '%s' (%s) is not spatial: its output is %lldx%lldx%lld "
            "(choose a convolutional layer with an H x W grid)", file, name, nd->name, nd->op,
            (long long)nd->shape[0], (long long)nd->shape[1], (long long)nd->shape[2]);
    if (!feeds(m, L, s->t->node))
        die("%s: %s layer '%s' does not feed the target '%s' (node '%s')", file, name,
            nd->name, s->t->spec, m->nodes[s->t->node].name);
    s->K = nd->shape[0], s->ch = nd->shape[1], s->cw = nd->shape[2];
}

/* Dies unless the configuration is one the method can run. */
static void check_cfg(saliency *s, const char *file)
{
    const saliency_cfg *c = &s->cfg;
    if (c->smooth && (c->samples < 1 || !(c->noise >= 0)))
        die("smoothgrad: %d samples at noise %g (need samples >= 1, noise >= 0)", c->samples,
            c->noise);
    if (c->method == SAL_INTEGRATED && c->steps < 1)
        die("integrated-gradients: %d steps (need at least 1)", c->steps);
    if (c->method == SAL_GRADIENTSHAP && c->smooth)
        die("gradientshap is already a noisy average: no --smooth");
    if (c->method == SAL_GRADIENTSHAP && (c->samples < 1 || !(c->noise >= 0)))
        die("gradientshap: %d samples at noise %g (need samples >= 1, noise >= 0)", c->samples,
            c->noise);
    if (c->method == SAL_DEEPLIFT)
        deeplift_check(s->m, s->t->node, file);
    if (c->method == SAL_LRP) {
        if (s->t->measure == TARGET_PROB)
            die("%s: lrp explains a logit or a unit (--measure prob has no relevance rule)",
                file);
        lrp_check(s->m, s->t->node, file);
    }
}

saliency *saliency_new(model *m, const target *t, const saliency_cfg *cfg, int max_batch,
                       const char *file)
{
    saliency *s = xcalloc(1, sizeof *s);
    s->m = m;
    s->t = t;
    s->cfg = *cfg;
    s->max_batch = max_batch;
    if (s->cfg.method == SAL_SMOOTHGRAD) {
        s->cfg.method = SAL_GRADIENT;
        s->cfg.smooth = 1;
    }
    check_cfg(s, file);
    s->rule = s->cfg.method == SAL_GUIDED ? RULE_GUIDED
              : s->cfg.method == SAL_DECONVNET ? RULE_DECONVNET : RULE_STANDARD;
    s->C = m->in_shape[0], s->H = m->in_shape[1], s->W = m->in_shape[2];
    s->hw = s->H * s->W;
    s->ca = s->C;
    s->is_cam = find_cam(s->cfg.method, &s->ck);
    if (s->is_cam) {
        check_cam_layer(s, file);
        s->ca = s->cfg.method == SAL_GUIDED_GRADCAM ? s->C : 1;
        s->cam1 = tensor_new(3, (int64_t[]){ max_batch, s->ch, s->cw });
        s->camacc = tensor_new(3, (int64_t[]){ max_batch, s->ch, s->cw });
        s->A = tensor_new4_raw(max_batch, s->K, s->ch, s->cw);
        s->w1 = xcalloc((size_t)(max_batch * s->K), sizeof *s->w1);
        s->wacc = xcalloc((size_t)(max_batch * s->K), sizeof *s->wacc);
    }
    s->e = engine_new(m, max_batch, 0, cfg->seed);
    /* Score-, Ablation- and Eigen-CAM need no gradient: only the layer and
     * the target are read after a forward (Ablation-CAM's reruns need an
     * ordinary engine when no tail model splits off, cam.h). */
    if (s->is_cam && !cam_needs_grad(s->ck) &&
        (s->ck != CAM_ABLATIONCAM || cam_has_tail(m, s->cfg.layer, t->node)))
        engine_forward_only(s->e, (int[]){ s->cfg.layer, t->node }, 2);
    /* The gradient methods read the target and the CAM layer only: their
     * ReLUs and Adds fused (engine_fuse). DeepLift and LRP replace the
     * ops' backward and read every node's input. */
    else if (s->cfg.method != SAL_DEEPLIFT && s->cfg.method != SAL_LRP)
        engine_fuse(s->e, (int[]){ s->is_cam ? s->cfg.layer : t->node, t->node }, 2);
    /* Rows written before they are read (not zeroed: a batch of fewer
     * rows than max_batch never touches the rest). */
    s->xin = tensor_new4_raw(max_batch, s->C, s->H, s->W);
    s->base = tensor_new4_raw(max_batch, s->C, s->H, s->W);
    s->one = tensor_new4_raw(max_batch, s->ca, s->H, s->W);
    s->acc2 = tensor_new4_raw(max_batch, s->ca, s->H, s->W);
    const int64_t *ts = m->nodes[t->node].shape;
    s->seed = tensor_new4(max_batch, ts[0], ts[1], ts[2]);
    s->sel = xcalloc((size_t)max_batch, sizeof *s->sel);
    s->val = xcalloc((size_t)max_batch, sizeof *s->val);
    s->rngs = xcalloc((size_t)max_batch, sizeof *s->rngs);
    sal_method me = s->cfg.method;
    s->units = me == SAL_INTEGRATED ? s->cfg.steps : me == SAL_GRADIENTSHAP ? s->cfg.samples
               : s->is_cam && cam_needs_passes(s->ck) ? s->K : 1;
    if (s->cfg.smooth)
        s->units *= s->cfg.samples;
    int sg = me == SAL_GRADIENT && s->cfg.smooth;     /* SmoothGrad proper */
    snprintf(s->label, sizeof s->label, "%s%s", sg ? "smoothgrad" : method_names[me],
             s->cfg.smooth && !sg ? "+smooth" : "");
    return s;
}

void saliency_free(saliency *s)
{
    if (!s)
        return;
    engine_free(s->e);
    tensor *ts[] = { s->xin, s->base, s->one, s->acc2, s->seed, s->cam1, s->camacc, s->A };
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        if (ts[i]) {
            ts[i]->dims[0] = s->max_batch;
            tensor_free(ts[i]);
        }
    progress_end(s->pg);
    free(s->w1);
    free(s->wacc);
    free(s->sel);
    free(s->val);
    free(s->rngs);
    free(s);
}

int64_t saliency_channels(const saliency *s) { return s->ca; }

void saliency_cam_shape(const saliency *s, int64_t *h, int64_t *w)
{
    *h = s->ch;
    *w = s->cw;
}

const float *saliency_cam_weights(const saliency *s, int64_t *K)
{
    *K = s->K;
    return s->is_cam && cam_has_weights(s->ck) ? s->wacc : NULL;
}

void saliency_progress(saliency *s, int64_t n)
{
    progress_end(s->pg);
    s->pg = progress_start(s->label, n * s->units);
    s->done = 0;
}

void saliency_progress_end(saliency *s)
{
    progress_end(s->pg);
    s->pg = NULL;
}

const char *saliency_label(const saliency *s) { return s->label; }

static void advance(saliency *s, int64_t units)
{
    s->done += units;
    progress_update(s->pg, s->done);
}

/* Memory the packed passes may use (several noise samples, steps or
 * masked copies of an image in one pass). */
#define SAL_PACK_BYTES (2.0 * 1024 * 1024 * 1024)

int saliency_rows(const model *m, const saliency_cfg *cfg, int batch, int max_rows)
{
    int per = cfg->smooth || cfg->method == SAL_SMOOTHGRAD || cfg->method == SAL_GRADIENTSHAP
                  ? cfg->samples
              : cfg->method == SAL_INTEGRATED ? cfg->steps
              : cfg->method == SAL_SCORECAM || cfg->method == SAL_ABLATIONCAM
                  ? (int)m->nodes[cfg->layer].shape[0] : 1;
    if (per <= 1)
        return batch;
    double row_bytes = 8.0 * (double)(m->in_shape[0] * m->in_shape[1] * m->in_shape[2]);
    for (int i = 0; i < m->n; i++)
        row_bytes += 8.0 * (double)(m->nodes[i].shape[0] * m->nodes[i].shape[1] *
                                    m->nodes[i].shape[2]);
    int64_t spp = max_rows / batch < per ? max_rows / batch : per;
    int64_t fit = (int64_t)(SAL_PACK_BYTES / (row_bytes * batch));
    if (spp > fit)
        spp = fit;
    return batch * (spp > 1 ? (int)spp : 1);
}

static void set_rows(tensor *t, int n) { t->dims[0] = n; }

/* One forward and backward of xin (n rows) from the target under rule. */
static const tensor *pass_grad(saliency *s, const tensor *xin, relu_rule rule)
{
    int n = (int)xin->dims[0];
    engine_forward_upto(s->e, xin, s->t->node);
    int from = target_seed(s->t, s->e, n, s->sel, n, s->seed, s->val);
    engine_backward(s->e, from, s->seed, rule, 0);
    return engine_input_grad(s->e);
}

void saliency_upsample(const float *src, int64_t h, int64_t w, float *dst, int64_t H, int64_t W)
{
    cam_upsample(src, h, w, dst, H, W, 0);
}

/* The baseline of xin into s->base: the first baseline image, or the
 * --baseline rule. */
static void make_baseline(saliency *s, const tensor *xin)
{
    int n = (int)xin->dims[0];
    set_rows(s->base, n);
    int64_t len = (int64_t)n * s->C * s->hw;
    if (s->cfg.baseline_data) {
        for (int i = 0; i < n; i++)
            memcpy(s->base->data + (int64_t)i * s->C * s->hw, s->cfg.baseline_data,
                   (size_t)(s->C * s->hw) * sizeof(float));
        return;
    }
    switch (s->cfg.baseline) {
    case SAL_BASE_ZEROS: memset(s->base->data, 0, (size_t)len * sizeof(float)); break;
    case SAL_BASE_VALUE:
        for (int64_t j = 0; j < len; j++)
            s->base->data[j] = (float)s->cfg.baseline_value;
        break;
    case SAL_BASE_BLUR:
        for (int64_t p = 0; p < (int64_t)n * s->C; p++)
            num_blur(xin->data + p * s->hw, s->H, s->W, s->cfg.blur_sigma,
                          s->base->data + p * s->hw);
        break;
    }
}

/* Image copies per pass when the engine has room for several of the m
 * points (steps, samples) of each of n rows; sel extended to them. */
static int points_per_pass(saliency *s, int n, int m)
{
    int spp = s->max_batch / n > 1 ? s->max_batch / n : 1;
    if (spp > m)
        spp = m;
    for (int r = n; r < spp * n; r++)
        s->sel[r] = s->sel[r % n];
    return spp;
}

/* Integrated gradients of xin (n rows) into out. */
static void integrated(saliency *s, tensor *xin, tensor *out)
{
    int n = (int)xin->dims[0];
    int64_t len = (int64_t)n * s->C * s->hw;
    /* The baseline follows xin, so under --smooth a blurred baseline
     * is the blur of the noisy copy. */
    make_baseline(s, xin);
    float *x1 = xmalloc((size_t)len * sizeof *x1);
    memcpy(x1, xin->data, (size_t)len * sizeof(float));
    memset(out->data, 0, (size_t)len * sizeof(float));
    /* Rows j*n + i hold step k + j of row i; the sum runs in step order. */
    int m = s->cfg.steps, spp = points_per_pass(s, n, m);
    tensor *z = tensor_new4((int64_t)spp * n, s->C, s->H, s->W);
    for (int k = 1; k <= m; k += spp) {
        int ks = m - k + 1 < spp ? m - k + 1 : spp;
        set_rows(z, ks * n);
        for (int jj = 0; jj < ks; jj++) {
            double a = (double)(k + jj) / m;
            float *zj = z->data + (int64_t)jj * len;
            for (int64_t j = 0; j < len; j++)
                zj[j] = (float)(s->base->data[j] + a * (x1[j] - s->base->data[j]));
        }
        const float *g = pass_grad(s, z, RULE_STANDARD)->data;
        for (int jj = 0; jj < ks; jj++)
            for (int64_t j = 0; j < len; j++)
                out->data[j] += g[(int64_t)jj * len + j];
        advance(s, (int64_t)ks * n);
    }
    for (int64_t j = 0; j < len; j++)
        out->data[j] = (float)((double)out->data[j] * (x1[j] - s->base->data[j]) / m);
    tensor_free(z);
    free(x1);
}

/* Noise sd of each of the n images of x: noise times its value range (1
 * when constant); each image's generator seeded by (seed, id). */
static void noise_setup(saliency *s, const tensor *x, const int64_t *ids, double *sigma)
{
    int n = (int)x->dims[0];
    for (int i = 0; i < n; i++) {
        const float *xi = x->data + (int64_t)i * s->C * s->hw;
        float lo = xi[0], hi = xi[0];
        for (int64_t j = 1; j < s->C * s->hw; j++)
            lo = xi[j] < lo ? xi[j] : lo, hi = xi[j] > hi ? xi[j] : hi;
        sigma[i] = s->cfg.noise * (hi > lo ? (double)hi - lo : 1.0);
        rng_seed(&s->rngs[i], s->cfg.seed ^ (0x9E3779B97F4A7C15ULL *
                                               (uint64_t)((ids ? ids[i] : i) + 1)));
    }
}

/* x + sigma eps (one image, len values) into dst: eps from the noise
 * file's sample k, else the image's generator. */
static void add_noise(saliency *s, const float *x, int64_t len, double sigma, int k, rng *r,
                      float *dst)
{
    const float *eps = s->cfg.noise_data ? s->cfg.noise_data + (int64_t)k * len : NULL;
    for (int64_t q = 0; q < len; q++)
        dst[q] = (float)(x[q] + sigma * (eps ? (double)eps[q] : rng_normal(r)));
}

/* GradientShap of x (n images) into out; s->val gets nothing useful. */
static void gradientshap(saliency *s, const tensor *x, const double *sigma, tensor *out)
{
    int n = (int)x->dims[0], m = s->cfg.samples;
    int64_t len1 = s->C * s->hw, len = n * len1;
    int64_t B = s->cfg.baseline_data ? s->cfg.baseline_count : 1;
    make_baseline(s, x);       /* the rule's baseline when there is no file */
    int spp = points_per_pass(s, n, m);
    tensor *z = tensor_new4((int64_t)spp * n, s->C, s->H, s->W);
    float *d = xmalloc((size_t)(spp * len) * sizeof *d);
    memset(out->data, 0, (size_t)len * sizeof(float));
    for (int k0 = 0; k0 < m; k0 += spp) {
        int ks = m - k0 < spp ? m - k0 : spp;
        set_rows(z, ks * n);
        for (int j = 0; j < ks; j++)
            for (int i = 0; i < n; i++) {
                int64_t o = (int64_t)(j * n + i) * len1;
                const float *b = s->cfg.baseline_data
                                     ? s->cfg.baseline_data + ((k0 + j) % B) * len1
                                     : s->base->data + i * len1;
                add_noise(s, x->data + i * len1, len1, sigma[i], k0 + j, &s->rngs[i], d + o);
                double a = s->cfg.alpha_data ? s->cfg.alpha_data[k0 + j]
                                             : rng_uniform(&s->rngs[i]);
                for (int64_t q = 0; q < len1; q++) {
                    d[o + q] -= b[q];
                    z->data[o + q] = (float)(b[q] + a * d[o + q]);
                }
            }
        const float *g = pass_grad(s, z, RULE_STANDARD)->data;
        for (int j = 0; j < ks; j++)
            for (int64_t q = 0; q < len; q++)
                out->data[q] += g[(int64_t)j * len + q] * d[(int64_t)j * len + q];
        advance(s, (int64_t)ks * n);
    }
    for (int64_t q = 0; q < len; q++)
        out->data[q] /= (float)m;
    tensor_free(z);
    free(d);
}

/* A CAM of xin (n rows): /cam into s->cam1, weights into s->w1, the
 * upsampled map (times guided backprop for guided Grad-CAM) into out. */
static void cam_once(saliency *s, tensor *xin, tensor *out)
{
    int n = (int)xin->dims[0];
    int L = s->cfg.layer;
    const tensor *G = NULL;
    if (cam_needs_grad(s->ck)) {
        pass_grad(s, xin, RULE_STANDARD);
        G = engine_node_grad(s->e, L);
    } else if (!s->clean) {   /* else saliency_run's clean pass of these images */
        engine_forward_upto(s->e, xin, s->t->node);
        target_value(s->t, s->e, n, s->sel, n, s->val);
    }
    s->clean = 0;
    const tensor *A = engine_act(s->e, L);
    set_rows(s->A, n);
    memcpy(s->A->data, A->data, (size_t)tensor_numel(s->A) * sizeof(float));
    set_rows(s->cam1, n);
    cam_passes p = { s->e, s->m, s->t, s->sel, s->max_batch, xin, s->val, s->pg, s->done };
    cam_maps(s->ck, L, s->A, G, cam_needs_passes(s->ck) ? &p : NULL, s->cam1->data, s->w1);
    advance(s, cam_needs_passes(s->ck) ? (int64_t)n * s->K : n);
    const float *gb = NULL;
    if (s->cfg.method == SAL_GUIDED_GRADCAM) {
        engine_backward(s->e, s->t->node, s->seed, RULE_GUIDED, 0);
        gb = engine_input_grad(s->e)->data;
    }
    float *up = xmalloc((size_t)s->hw * sizeof *up);
    for (int i = 0; i < n; i++) {
        cam_upsample(s->cam1->data + i * s->ch * s->cw, s->ch, s->cw, up, s->H, s->W, 0);
        for (int64_t c = 0; c < s->ca; c++) {
            float *o = out->data + ((int64_t)i * s->ca + c) * s->hw;
            for (int64_t q = 0; q < s->hw; q++)
                o[q] = gb ? gb[((int64_t)i * s->C + c) * s->hw + q] * up[q] : up[q];
        }
    }
    free(up);
}

/* M(xin) into out (n x ca x H x W); the CAMs also fill s->cam1. */
static void method_once(saliency *s, tensor *xin, tensor *out, const double *sigma)
{
    int n = (int)xin->dims[0];
    int64_t len = (int64_t)n * s->C * s->hw;
    set_rows(out, n);
    if (s->is_cam) {
        cam_once(s, xin, out);
        return;
    }
    switch (s->cfg.method) {
    case SAL_INPUT_X_GRADIENT: {
        const float *g = pass_grad(s, xin, RULE_STANDARD)->data;
        for (int64_t j = 0; j < len; j++)
            out->data[j] = g[j] * xin->data[j];
        break;
    }
    case SAL_INTEGRATED: integrated(s, xin, out); return;
    case SAL_GRADIENTSHAP: gradientshap(s, xin, sigma, out); return;
    case SAL_DEEPLIFT:
        make_baseline(s, xin);
        deeplift_attr(s->e, s->m, s->t, s->sel, xin, s->base, out);
        break;
    case SAL_LRP: {
        lrp_cfg lc = { (int)s->cfg.lrp_rule, s->cfg.epsilon > 0 ? s->cfg.epsilon : 1e-9,
                       s->cfg.gamma > 0 ? s->cfg.gamma : 0.25 };
        lrp_attr(s->e, s->m, s->t, s->sel, xin, &lc, out);
        break;
    }
    default:
        memcpy(out->data, pass_grad(s, xin, s->rule)->data, (size_t)len * sizeof(float));
    }
    advance(s, n);
}

/* The target's value at the baselines (completeness): f(b) of the
 * method's baseline, GradientShap's mean over the baseline images, 0 for
 * LRP (relevance conservation: the attributions add up to f(x)). */
static void baseline_values(saliency *s, const tensor *x, float *base)
{
    int n = (int)x->dims[0];
    sal_method me = s->cfg.method;
    if (me == SAL_LRP) {
        memset(base, 0, (size_t)n * sizeof *base);
        return;
    }
    if (me != SAL_GRADIENTSHAP || !s->cfg.baseline_data) {
        make_baseline(s, x);
        engine_forward_upto(s->e, s->base, s->t->node);
        target_value(s->t, s->e, n, s->sel, n, base);
        return;
    }
    int64_t B = s->cfg.baseline_count, len1 = s->C * s->hw;
    float *v = xmalloc((size_t)s->max_batch * sizeof *v);
    for (int i = 0; i < n; i++) {
        double sum = 0;
        for (int64_t b0 = 0; b0 < B; b0 += s->max_batch) {
            int r = B - b0 < s->max_batch ? (int)(B - b0) : s->max_batch;
            tensor bt = { .ndim = 4, .dims = { r, s->C, s->H, s->W },
                          .data = (float *)s->cfg.baseline_data + b0 * len1 };
            engine_forward_upto(s->e, &bt, s->t->node);
            target_value(s->t, s->e, r, s->sel + i, 1, v);
            for (int j = 0; j < r; j++)
                sum += v[j];
        }
        base[i] = (float)(sum / (double)B);
    }
    free(v);
}

/* Adds one pass's rows (ks copies of the n images) into the smoothing
 * sums: attr (and attr^2 in acc2), the CAMs and their weights. */
static void smooth_add(saliency *s, int n, int ks, tensor *attr)
{
    int64_t alen = (int64_t)n * s->ca * s->hw, chw = s->ch * s->cw;
    for (int j = 0; j < ks; j++) {
        const float *one = s->one->data + (int64_t)j * alen;
        for (int64_t q = 0; q < alen; q++) {
            attr->data[q] += one[q];
            s->acc2->data[q] += one[q] * one[q];
        }
        if (!s->is_cam)
            continue;
        for (int64_t q = 0; q < n * chw; q++)
            s->camacc->data[q] += s->cam1->data[(int64_t)j * n * chw + q];
        for (int64_t q = 0; q < n * s->K; q++)
            s->wacc[q] += s->w1[(int64_t)j * n * s->K + q];
    }
}

/* SmoothGrad over the method: the statistic of --smooth-stat over
 * cfg.samples noisy copies of x into attr; the CAMs' mean into s->camacc. */
static void smooth_run(saliency *s, const tensor *x, const int64_t *ids, tensor *attr)
{
    int n = (int)x->dims[0], m = s->cfg.samples;
    int64_t len1 = s->C * s->hw, alen = (int64_t)n * s->ca * s->hw;
    double *sigma = xmalloc((size_t)n * sizeof *sigma);
    noise_setup(s, x, ids, sigma);
    memset(attr->data, 0, (size_t)alen * sizeof(float));
    memset(s->acc2->data, 0, (size_t)alen * sizeof(float));
    if (s->is_cam) {
        memset(s->camacc->data, 0, (size_t)(n * s->ch * s->cw) * sizeof(float));
        memset(s->wacc, 0, (size_t)(n * s->K) * sizeof(float));
    }
    /* Rows j*n + i hold sample k0 + j of image i, and each image's noise
     * is drawn in sample order, so the maps do not depend on the packing. */
    int spp = points_per_pass(s, n, m);
    for (int k0 = 0; k0 < m; k0 += spp) {
        int ks = m - k0 < spp ? m - k0 : spp;
        set_rows(s->xin, ks * n);
        for (int j = 0; j < ks; j++)
            for (int i = 0; i < n; i++)
                add_noise(s, x->data + i * len1, len1, sigma[i], k0 + j, &s->rngs[i],
                          s->xin->data + (int64_t)(j * n + i) * len1);
        method_once(s, s->xin, s->one, NULL);
        smooth_add(s, n, ks, attr);
    }
    for (int64_t j = 0; j < alen; j++) {
        double mu = attr->data[j] / (double)m, sq = s->acc2->data[j] / (double)m;
        attr->data[j] = (float)(s->cfg.smooth_stat == SAL_STAT_SQ ? sq
                                : s->cfg.smooth_stat == SAL_STAT_VAR ? sq - mu * mu : mu);
    }
    if (s->is_cam) {
        for (int64_t j = 0; j < n * s->ch * s->cw; j++)
            s->camacc->data[j] /= (float)m;
        for (int64_t j = 0; j < n * s->K; j++)
            s->wacc[j] /= (float)m;
    }
    free(sigma);
}

void saliency_run(saliency *s, const tensor *x, const int32_t *labels, const int64_t *ids,
                  tensor *attr, float *score, int32_t *chosen, float *base, tensor *cam)
{
    int n = (int)x->dims[0];
    int64_t len = (int64_t)n * s->C * s->hw, chw = s->ch * s->cw;
    /* The clean pass fixes each image's class or unit. */
    engine_forward_upto(s->e, x, s->t->node);
    target_pick(s->t, s->m, s->e, n, labels, ids, s->sel);
    target_value(s->t, s->e, n, s->sel, n, score);
    for (int i = 0; i < n; i++) {
        chosen[i] = (int32_t)s->sel[i].channel;
        base[i] = NAN;
    }
    if (saliency_has_completeness(s->cfg.method))
        baseline_values(s, x, base);
    set_rows(s->xin, n);
    attr->ndim = 4;
    attr->dims[0] = n, attr->dims[1] = s->ca, attr->dims[2] = s->H, attr->dims[3] = s->W;
    if (s->cfg.smooth) {
        smooth_run(s, x, ids, attr);
    } else {
        double *sigma = xmalloc((size_t)n * sizeof *sigma);
        if (s->cfg.method == SAL_GRADIENTSHAP)
            noise_setup(s, x, ids, sigma);
        memcpy(s->xin->data, x->data, (size_t)len * sizeof(float));
        /* The forward-only CAMs need no other pass of the clean images
         * than the one above (when no baseline pass came after it). */
        s->clean = !saliency_has_completeness(s->cfg.method);
        if (s->clean)
            memcpy(s->val, score, (size_t)n * sizeof *score);
        method_once(s, s->xin, attr, sigma);
        s->clean = 0;
        free(sigma);
        if (s->is_cam) {
            memcpy(s->camacc->data, s->cam1->data, (size_t)(n * chw) * sizeof(float));
            memcpy(s->wacc, s->w1, (size_t)(n * s->K) * sizeof(float));
        }
    }
    if (cam && s->is_cam) {
        memcpy(cam->data, s->camacc->data, (size_t)(n * chw) * sizeof(float));
        cam->ndim = 3;
        cam->dims[0] = n, cam->dims[1] = s->ch, cam->dims[2] = s->cw;
    }
}

void saliency_reduce_maps(const tensor *attr, sal_reduce how, tensor *maps)
{
    int64_t n = attr->dims[0], C = attr->dims[1], hw = attr->dims[2] * attr->dims[3];
    maps->ndim = 3;
    maps->dims[0] = n, maps->dims[1] = attr->dims[2], maps->dims[2] = attr->dims[3];
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = 0; p < hw; p++) {
            const float *a = attr->data + i * C * hw + p;
            double v = how == SAL_REDUCE_MAX ? a[0] : how == SAL_REDUCE_ABSMAX ? fabs(a[0]) : 0;
            for (int64_t c = 0; c < C; c++) {
                double q = a[c * hw];
                switch (how) {
                case SAL_REDUCE_MAX: v = q > v ? q : v; break;
                case SAL_REDUCE_ABSMAX: v = fabs(q) > v ? fabs(q) : v; break;
                case SAL_REDUCE_SUM: v += q; break;
                case SAL_REDUCE_L2: v += q * q; break;
                }
            }
            maps->data[i * hw + p] = (float)(how == SAL_REDUCE_L2 ? sqrt(v) : v);
        }
}
