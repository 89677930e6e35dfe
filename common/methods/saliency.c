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
 * SmoothGrad noise: sigma_i = noise * (max x_i - min x_i) per image (1 when
 * the image is constant), eps from a generator seeded by (seed, image id),
 * so the result does not depend on --batch or --range (shards agree). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/numeric.h"
#include "base/cli.h"
#include "methods/saliency.h"

static const char *const method_names[] = {
    [SAL_GRADIENT] = "gradient",
    [SAL_GUIDED] = "guided",
    [SAL_DECONVNET] = "deconvnet",
    [SAL_INPUT_X_GRADIENT] = "input-x-gradient",
    [SAL_INTEGRATED] = "integrated-gradients",
    [SAL_GRADCAM] = "gradcam",
    [SAL_SMOOTHGRAD] = "smoothgrad",
};
static const char *const reduce_names[] = { "max", "absmax", "sum", "l2" };

int saliency_method_parse(const char *s)
{
    for (int i = 0; i < (int)(sizeof method_names / sizeof *method_names); i++)
        if (!strcmp(s, method_names[i]))
            return i;
    return -1;
}

const char *saliency_method_name(sal_method m) { return method_names[m]; }

int saliency_reduce_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, reduce_names[i]))
            return i;
    return -1;
}

const char *saliency_reduce_name(sal_reduce r) { return reduce_names[r]; }

struct saliency {
    model *m;
    const target *t;
    saliency_cfg cfg;
    int max_batch;
    engine *e;
    relu_rule rule;
    int64_t C, H, W, hw, ca;      /* image shape; attribution channels */
    int64_t ch, cw;               /* Grad-CAM layer resolution */
    tensor *xin, *base, *one, *acc, *seed, *cam1, *camacc;
    target_sel *sel;
    float *val;
    rng *rngs;
};

/* Is node a an ancestor of (or equal to) node b? */
static int feeds(const model *m, int a, int b)
{
    char *mark = xcalloc((size_t)m->n, 1);
    mark[b] = 1;
    for (int i = b; i >= 0; i--)
        if (mark[i])
            for (int k = 0; k < m->nodes[i].nin; k++)
                if (m->nodes[i].in[k] >= 0)
                    mark[m->nodes[i].in[k]] = 1;
    int r = mark[a];
    free(mark);
    return r;
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
    if (s->cfg.smooth && (s->cfg.samples < 1 || !(s->cfg.noise >= 0)))
        die("smoothgrad: %d samples at noise %g (need samples >= 1, noise >= 0)", s->cfg.samples,
            s->cfg.noise);
    if (s->cfg.method == SAL_INTEGRATED && s->cfg.steps < 1)
        die("integrated-gradients: %d steps (need at least 1)", s->cfg.steps);
    s->rule = s->cfg.method == SAL_GUIDED ? RULE_GUIDED
              : s->cfg.method == SAL_DECONVNET ? RULE_DECONVNET : RULE_STANDARD;
    s->C = m->in_shape[0], s->H = m->in_shape[1], s->W = m->in_shape[2];
    s->hw = s->H * s->W;
    s->ca = s->C;
    if (s->cfg.method == SAL_GRADCAM) {
        int L = s->cfg.layer;
        const node *nd = &m->nodes[L];
        if (nd->shape[1] * nd->shape[2] < 2)
            die("%s: gradcam layer '%s' (%s) is not spatial: its output is %lldx%lldx%lld "
                "(choose a convolutional layer with an H x W grid)", file, nd->name, nd->op,
                (long long)nd->shape[0], (long long)nd->shape[1], (long long)nd->shape[2]);
        if (!feeds(m, L, t->node))
            die("%s: gradcam layer '%s' does not feed the target '%s' (node '%s')", file,
                nd->name, t->spec, m->nodes[t->node].name);
        s->ch = nd->shape[1], s->cw = nd->shape[2];
        s->ca = 1;
        s->cam1 = tensor_new(3, (int64_t[]){ max_batch, s->ch, s->cw });
        s->camacc = tensor_new(3, (int64_t[]){ max_batch, s->ch, s->cw });
    }
    s->e = engine_new(m, max_batch, 0, cfg->seed);
    s->xin = tensor_new4(max_batch, s->C, s->H, s->W);
    s->base = tensor_new4(max_batch, s->C, s->H, s->W);
    s->one = tensor_new4(max_batch, s->ca, s->H, s->W);
    s->acc = tensor_new4(max_batch, s->ca, s->H, s->W);
    const int64_t *ts = m->nodes[t->node].shape;
    s->seed = tensor_new4(max_batch, ts[0], ts[1], ts[2]);
    s->sel = xcalloc((size_t)max_batch, sizeof *s->sel);
    s->val = xcalloc((size_t)max_batch, sizeof *s->val);
    s->rngs = xcalloc((size_t)max_batch, sizeof *s->rngs);
    return s;
}

void saliency_free(saliency *s)
{
    if (!s)
        return;
    engine_free(s->e);
    tensor *ts[] = { s->xin, s->base, s->one, s->acc, s->seed, s->cam1, s->camacc };
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        if (ts[i]) {
            ts[i]->dims[0] = s->max_batch;
            tensor_free(ts[i]);
        }
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
    double sy = (double)h / (double)H, sx = (double)w / (double)W;
    for (int64_t Y = 0; Y < H; Y++) {
        double fy = ((double)Y + 0.5) * sy - 0.5;
        if (fy < 0)
            fy = 0;
        int64_t y0 = (int64_t)fy, y1 = y0 + (y0 < h - 1);
        double ly = fy - (double)y0;
        for (int64_t X = 0; X < W; X++) {
            double fx = ((double)X + 0.5) * sx - 0.5;
            if (fx < 0)
                fx = 0;
            int64_t x0 = (int64_t)fx, x1 = x0 + (x0 < w - 1);
            double lx = fx - (double)x0;
            double v = (1 - ly) * ((1 - lx) * src[y0 * w + x0] + lx * src[y0 * w + x1]) +
                       ly * ((1 - lx) * src[y1 * w + x0] + lx * src[y1 * w + x1]);
            dst[Y * W + X] = (float)v;
        }
    }
}

/* The integrated-gradients baseline of xin into s->base. */
static void make_baseline(saliency *s, const tensor *xin)
{
    int n = (int)xin->dims[0];
    set_rows(s->base, n);
    int64_t len = (int64_t)n * s->C * s->hw;
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

/* Grad-CAM of the last forward/backward into cam (n x h x w). */
static void gradcam_maps(saliency *s, int n, float *cam)
{
    const tensor *A = engine_act(s->e, s->cfg.layer), *G = engine_node_grad(s->e, s->cfg.layer);
    int64_t K = A->dims[1], hw = s->ch * s->cw;
    for (int i = 0; i < n; i++) {
        double *acc = xcalloc((size_t)hw, sizeof *acc);
        for (int64_t k = 0; k < K; k++) {
            const float *a = A->data + (i * K + k) * hw, *g = G->data + (i * K + k) * hw;
            double alpha = 0;
            for (int64_t p = 0; p < hw; p++)
                alpha += g[p];
            alpha /= (double)hw;
            for (int64_t p = 0; p < hw; p++)
                acc[p] += alpha * a[p];
        }
        for (int64_t p = 0; p < hw; p++)
            cam[i * hw + p] = acc[p] > 0 ? (float)acc[p] : 0.0f;
        free(acc);
    }
}

/* M(xin) into out (n x ca x H x W); Grad-CAM also fills s->cam1. */
static void method_once(saliency *s, tensor *xin, tensor *out)
{
    int n = (int)xin->dims[0];
    int64_t len = (int64_t)n * s->C * s->hw;
    set_rows(out, n);
    switch (s->cfg.method) {
    case SAL_GRADIENT:
    case SAL_GUIDED:
    case SAL_DECONVNET:
    case SAL_SMOOTHGRAD:
        memcpy(out->data, pass_grad(s, xin, s->rule)->data, (size_t)len * sizeof(float));
        break;
    case SAL_INPUT_X_GRADIENT: {
        const float *g = pass_grad(s, xin, RULE_STANDARD)->data;
        for (int64_t j = 0; j < len; j++)
            out->data[j] = g[j] * xin->data[j];
        break;
    }
    case SAL_INTEGRATED: {
        /* The baseline follows xin, so under --smooth a blurred baseline
         * is the blur of the noisy copy. */
        make_baseline(s, xin);
        float *x1 = xmalloc((size_t)len * sizeof *x1);
        memcpy(x1, xin->data, (size_t)len * sizeof(float));
        memset(out->data, 0, (size_t)len * sizeof(float));
        /* Several steps per pass when the engine has room: rows j*n + i
         * hold step k + j of row i; the sum runs in step order. */
        int m = s->cfg.steps, spp = s->max_batch / n > 1 ? s->max_batch / n : 1;
        if (spp > m)
            spp = m;
        for (int r = n; r < spp * n; r++)
            s->sel[r] = s->sel[r % n];
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
        }
        for (int64_t j = 0; j < len; j++)
            out->data[j] = (float)((double)out->data[j] * (x1[j] - s->base->data[j]) / m);
        tensor_free(z);
        free(x1);
        break;
    }
    case SAL_GRADCAM:
        pass_grad(s, xin, RULE_STANDARD);
        set_rows(s->cam1, n);
        gradcam_maps(s, n, s->cam1->data);
        for (int i = 0; i < n; i++)
            saliency_upsample(s->cam1->data + i * s->ch * s->cw, s->ch, s->cw,
                              out->data + i * s->hw, s->H, s->W);
        break;
    }
}

void saliency_run(saliency *s, const tensor *x, const int32_t *labels, const int64_t *ids,
                  tensor *attr, float *score, int32_t *chosen, float *base, tensor *cam)
{
    int n = (int)x->dims[0];
    int64_t len = (int64_t)n * s->C * s->hw, alen = (int64_t)n * s->ca * s->hw;
    int64_t chw = s->ch * s->cw;
    /* The clean pass fixes each image's class or unit. */
    engine_forward_upto(s->e, x, s->t->node);
    target_pick(s->t, s->m, s->e, n, labels, ids, s->sel);
    target_value(s->t, s->e, n, s->sel, n, score);
    for (int i = 0; i < n; i++) {
        chosen[i] = (int32_t)s->sel[i].channel;
        base[i] = NAN;
    }
    if (s->cfg.method == SAL_INTEGRATED) {
        make_baseline(s, x);
        engine_forward_upto(s->e, s->base, s->t->node);
        target_value(s->t, s->e, n, s->sel, n, base);
    }
    set_rows(s->xin, n);
    attr->ndim = 4;
    attr->dims[0] = n, attr->dims[1] = s->ca, attr->dims[2] = s->H, attr->dims[3] = s->W;
    if (!s->cfg.smooth) {
        memcpy(s->xin->data, x->data, (size_t)len * sizeof(float));
        method_once(s, s->xin, attr);
        if (cam && s->cfg.method == SAL_GRADCAM)
            memcpy(cam->data, s->cam1->data, (size_t)(n * chw) * sizeof(float));
    } else {
        double *sigma = xmalloc((size_t)n * sizeof *sigma);
        for (int i = 0; i < n; i++) {
            const float *xi = x->data + (int64_t)i * s->C * s->hw;
            float lo = xi[0], hi = xi[0];
            for (int64_t j = 1; j < s->C * s->hw; j++)
                lo = xi[j] < lo ? xi[j] : lo, hi = xi[j] > hi ? xi[j] : hi;
            sigma[i] = s->cfg.noise * (hi > lo ? (double)hi - lo : 1.0);
            rng_seed(&s->rngs[i], s->cfg.seed ^ (0x9E3779B97F4A7C15ULL *
                                                   (uint64_t)((ids ? ids[i] : i) + 1)));
        }
        memset(attr->data, 0, (size_t)alen * sizeof(float));
        if (s->camacc)
            memset(s->camacc->data, 0, (size_t)(n * chw) * sizeof(float));
        /* Several noise samples per pass when the engine has room: rows
         * j*n + i hold sample k0 + j of image i, and each image's noise is
         * drawn in sample order, so the maps do not depend on the packing. */
        int spp = s->max_batch / n > 1 ? s->max_batch / n : 1;
        for (int r = n; r < spp * n; r++)
            s->sel[r] = s->sel[r % n];
        for (int k0 = 0; k0 < s->cfg.samples; k0 += spp) {
            int ks = s->cfg.samples - k0 < spp ? s->cfg.samples - k0 : spp;
            set_rows(s->xin, ks * n);
            for (int j = 0; j < ks; j++)
                for (int i = 0; i < n; i++) {
                    int64_t o = (int64_t)i * s->C * s->hw, d = (int64_t)(j * n) * s->C * s->hw + o;
                    const float *eps =
                        s->cfg.noise_data ? s->cfg.noise_data + (k0 + j) * s->C * s->hw : NULL;
                    for (int64_t q = 0; q < s->C * s->hw; q++)
                        s->xin->data[d + q] =
                            (float)(x->data[o + q] +
                                    sigma[i] * (eps ? (double)eps[q] : rng_normal(&s->rngs[i])));
                }
            method_once(s, s->xin, s->one);
            for (int j = 0; j < ks; j++) {
                const float *one = s->one->data + (int64_t)j * alen;
                for (int64_t q = 0; q < alen; q++)
                    attr->data[q] += one[q];
                if (s->camacc)
                    for (int64_t q = 0; q < n * chw; q++)
                        s->camacc->data[q] += s->cam1->data[(int64_t)j * n * chw + q];
            }
        }
        for (int64_t j = 0; j < alen; j++)
            attr->data[j] /= (float)s->cfg.samples;
        if (cam && s->camacc)
            for (int64_t j = 0; j < n * chw; j++)
                cam->data[j] = s->camacc->data[j] / (float)s->cfg.samples;
        free(sigma);
    }
    if (cam && s->cfg.method == SAL_GRADCAM) {
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
