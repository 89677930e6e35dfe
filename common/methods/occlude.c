/* occlude: occlusion maps, brute force and incremental (see occlude.h).
 * The method is here: window positions, fills, the measured target, the
 * map transforms. The incremental forward of occluded copies is the
 * receptive-field cone executor's (nn/cone.h): each window position is one
 * of its regions and the preprocessed fill is what it pastes there. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "base/numeric.h"
#include "base/progress.h"
#include "methods/occlude.h"
#include "nn/cone.h"
#include "nn/engine.h"

struct occlude {
    model *m;
    occlude_spec s;
    int hm, wm, P;
    int upto;                      /* node whose activation is measured */
    int nb;                        /* images per unoccluded forward */
    cone *cn;                      /* the incremental forward; its engine runs both */
    engine *e;
    float *fill;                   /* nb x C x H x W pixels of the fill */
    float *prefill;                /* the same, preprocessed */
    tensor *xb;                    /* naive: occluded copies */
    int32_t *boxes;                /* P x 4: each window's box, clipped */
    progress *pg;                  /* windows done, or NULL */
    int64_t windows;
    double naive_done, brute;
};

static int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

void occlude_grid(const occlude *o, int *hm, int *wm)
{
    *hm = o->hm;
    *wm = o->wm;
}

void occlude_window(const occlude *o, int py, int px, int64_t box[4])
{
    int64_t H = o->m->in_shape[1], W = o->m->in_shape[2];
    box[0] = (int64_t)py * o->s.sh;
    box[1] = (int64_t)px * o->s.sw;
    box[2] = imin(box[0] + o->s.wh, H);
    box[3] = imin(box[1] + o->s.ww, W);
}

int occlude_measure_node(const occlude *o) { return o->upto; }

/* Window positions per axis under the padding policy. */
static void grid_size(occlude *o, int64_t H, int64_t W)
{
    const occlude_spec *s = &o->s;
    if (s->padding == OCC_PAD_CLIP) {
        o->hm = (int)((H - s->wh + s->sh - 1) / s->sh + 1);
        o->wm = (int)((W - s->ww + s->sw - 1) / s->sw + 1);
    } else {
        o->hm = (int)((H - s->wh) / s->sh + 1);
        o->wm = (int)((W - s->ww) / s->sw + 1);
    }
    o->P = o->hm * o->wm;
}

occlude *occlude_new(model *m, const occlude_spec *s)
{
    occlude *o = xcalloc(1, sizeof *o);
    o->m = m;
    o->s = *s;
    int64_t H = m->in_shape[1], W = m->in_shape[2];
    if (s->wh < 1 || s->ww < 1 || s->sh < 1 || s->sw < 1)
        die("window and stride must be at least 1");
    if (s->wh > H || s->ww > W)
        die("window %dx%d is larger than the model's %lldx%lld images", s->wh, s->ww,
            (long long)H, (long long)W);
    grid_size(o, H, W);
    if (s->batch < 1)
        o->s.batch = 1;
    if (s->images > 0 && o->s.batch > (int64_t)o->P * s->images)
        o->s.batch = (int)((int64_t)o->P * s->images);
    const target *t = s->target;
    if (t->node < 0 || t->node >= m->n)
        die("target '%s': not resolved against the model", t->spec);
    o->upto = t->node;
    if (t->kind != TARGET_UNIT && t->kind != TARGET_STRONGEST) {
        const node *nd = &m->nodes[t->node];
        if (nd->shape[1] != 1 || nd->shape[2] != 1)
            die("the model's output '%s' is %lldx%lldx%lld, not one score per class", nd->name,
                (long long)nd->shape[0], (long long)nd->shape[1], (long long)nd->shape[2]);
    }
    o->boxes = xcalloc((size_t)o->P * 4, sizeof *o->boxes);
    for (int p = 0; p < o->P; p++) {
        int64_t b[4];
        occlude_window(o, p / o->wm, p % o->wm, b);
        for (int k = 0; k < 4; k++)
            o->boxes[4 * p + k] = (int32_t)b[k];
    }
    o->nb = o->s.batch / o->P;
    if (o->nb < 1)
        o->nb = 1;
    if (o->nb > 256)
        o->nb = 256;
    cone_spec cs = { o->upto, o->P, o->boxes, o->s.batch,
                     s->naive ? (o->s.batch > o->nb ? o->s.batch : o->nb) : o->nb };
    o->cn = cone_new(m, &cs);
    o->e = cone_engine(o->cn);
    size_t img = (size_t)(m->in_shape[0] * H * W);
    o->fill = falloc(img * (size_t)o->nb);
    o->prefill = falloc(img * (size_t)o->nb);
    if (s->naive)
        o->xb = tensor_new4(o->s.batch, m->in_shape[0], H, W);
    return o;
}

void occlude_free(occlude *o)
{
    if (!o)
        return;
    cone_free(o->cn);
    tensor_free(o->xb);
    free(o->boxes);
    free(o->fill);
    free(o->prefill);
    free(o);
}

void occlude_progress(occlude *o, progress *pg)
{
    o->pg = pg;
    o->windows = 0;
}

/* Fill pixels for nb images (pixel space), then preprocessed as the engine
 * preprocesses, so a pasted fill equals what the engine makes of an
 * occluded copy bit for bit. */
static void make_fill(occlude *o, const float *x, int nimg)
{
    const model *m = o->m;
    int64_t C = m->in_shape[0], H = m->in_shape[1], W = m->in_shape[2], hw = H * W;
    for (int i = 0; i < nimg; i++)
        for (int64_t c = 0; c < C; c++) {
            const float *xs = x + (i * C + c) * hw;
            float *f = o->fill + (i * C + c) * hw;
            switch (o->s.fill) {
            case OCC_FILL_GRAY:
                for (int64_t k = 0; k < hw; k++) f[k] = 0.5f;
                break;
            case OCC_FILL_ZERO:
                for (int64_t k = 0; k < hw; k++) f[k] = 0.0f;
                break;
            case OCC_FILL_VALUE:
                for (int64_t k = 0; k < hw; k++) f[k] = o->s.fill_value;
                break;
            case OCC_FILL_MEAN: {
                double sum = 0;
                for (int64_t k = 0; k < hw; k++) sum += xs[k];
                float v = (float)(sum / (double)hw);
                for (int64_t k = 0; k < hw; k++) f[k] = v;
                break;
            }
            case OCC_FILL_BLUR: {
                double sg = o->s.blur_sigma > 0 ? o->s.blur_sigma
                                                : (o->s.wh > o->s.ww ? o->s.wh : o->s.ww) / 4.0;
                num_blur(xs, H, W, sg, f);
                break;
            }
            }
        }
    int three = C == 3;
    for (int i = 0; i < nimg; i++)
        for (int64_t c = 0; c < C; c++) {
            int64_t src = m->bgr ? 2 - c : c;
            const float *fs = o->fill + (i * C + src) * hw;
            float *fd = o->prefill + (i * C + c) * hw;
            float mu = m->mean[three ? c : 0], inv = 1.0f / m->std[three ? c : 0];
            for (int64_t k = 0; k < hw; k++)
                fd[k] = (fs[k] - mu) * inv;
        }
}

/* One value of the target from slot U's activations v (c x h x w floats;
 * for unit targets only the measured plane need be filled). */
static double measure(const occlude *o, const float *v, int64_t c, int64_t h, int64_t w,
                      const target_sel *q)
{
    return target_row_value(o->s.target, v, c, h, w, q, NULL);
}

/* One batch of mm items (image itimg[li] of the current chunk xs, window
 * itpos[li]) as occluded copies through the whole engine; the base
 * forward's cache is not needed again for these images. */
static void run_naive(occlude *o, const float *xs, int mm, const int *itimg, const int *itpos,
                      const target_sel *sel, float *maps)
{
    const model *m = o->m;
    int64_t C = m->in_shape[0], H = m->in_shape[1], W = m->in_shape[2], img = C * H * W;
    for (int li = 0; li < mm; li++) {
        float *dst = o->xb->data + li * img;
        const float *src = xs + itimg[li] * img;
        const float *f = o->fill + itimg[li] * img;
        const int32_t *d = o->boxes + 4 * itpos[li];
        memcpy(dst, src, (size_t)img * sizeof *dst);
        for (int64_t c = 0; c < C; c++)
            for (int64_t y = d[0]; y < d[2]; y++)
                memcpy(dst + (c * H + y) * W + d[1], f + (c * H + y) * W + d[1],
                       (size_t)(d[3] - d[1]) * sizeof *dst);
    }
    o->xb->dims[0] = mm;
    engine_forward_upto(o->e, o->xb, o->upto);
    const tensor *ot = engine_act(o->e, o->upto);
    int64_t usz = ot->dims[1] * ot->dims[2] * ot->dims[3];
    for (int li = 0; li < mm; li++)
        maps[(int64_t)itimg[li] * o->P + itpos[li]] =
            (float)measure(o, ot->data + li * usz, ot->dims[1], ot->dims[2], ot->dims[3],
                           &sel[itimg[li]]);
    o->naive_done += cone_macs_item(o->cn) * mm;
}

/* The same batch through the cone executor: only each window's cones. */
static void run_cones(occlude *o, int mm, const int *itimg, const int *itpos,
                      const target_sel *sel, float *vals, float *maps)
{
    const node *U = &o->m->nodes[o->upto];
    int64_t uc = U->shape[0], uh = U->shape[1], uw = U->shape[2];
    int unit = o->s.target->kind == TARGET_UNIT || o->s.target->kind == TARGET_STRONGEST;
    cone_run(o->cn, mm, itimg, itpos, o->prefill);
    for (int li = 0; li < mm; li++) {
        int64_t im = itimg[li];
        int64_t t = sel[im].channel;
        if (unit)
            cone_read(o->cn, li, (int)im, itpos[li], t, 1, vals + t * uh * uw);
        else
            cone_read(o->cn, li, (int)im, itpos[li], 0, uc, vals);
        maps[im * o->P + itpos[li]] = (float)measure(o, vals, uc, uh, uw, &sel[im]);
    }
}

void occlude_run(occlude *o, const tensor *x, const int32_t *labels, const int64_t *ids,
                 int32_t *chosen, float *maps, float *base)
{
    const model *m = o->m;
    int64_t img = m->in_shape[0] * m->in_shape[1] * m->in_shape[2];
    int64_t n = x->dims[0];
    const node *U = &m->nodes[o->upto];
    int64_t uc = U->shape[0], uh = U->shape[1], uw = U->shape[2], usz = uc * uh * uw;
    target_sel *sel = xcalloc((size_t)n + 1, sizeof *sel);
    float *vals = falloc((size_t)usz);
    int *itimg = xcalloc((size_t)o->s.batch, sizeof *itimg);
    int *itpos = xcalloc((size_t)o->s.batch, sizeof *itpos);
    tensor xs = *x;
    for (int64_t a = 0; a < n; a += o->nb) {
        int nimg = (int)imin(o->nb, n - a);
        xs.dims[0] = nimg;
        xs.data = x->data + a * img;
        engine_forward_upto(o->e, &xs, o->upto);
        const tensor *ut = engine_act(o->e, o->upto);
        /* Resolve the targets and the baselines on the unoccluded images. */
        target_pick(o->s.target, m, o->e, nimg, labels ? labels + a : NULL, ids ? ids + a : NULL,
                    sel + a);
        for (int i = 0; i < nimg; i++) {
            chosen[a + i] = (int32_t)sel[a + i].channel;
            base[a + i] = (float)measure(o, ut->data + i * usz, uc, uh, uw, &sel[a + i]);
        }
        make_fill(o, xs.data, nimg);
        int64_t items = (int64_t)nimg * o->P;
        for (int64_t b = 0; b < items; b += o->s.batch) {
            int mm = (int)imin(o->s.batch, items - b);
            for (int li = 0; li < mm; li++) {
                itimg[li] = (int)((b + li) / o->P);
                itpos[li] = (int)((b + li) % o->P);
            }
            if (o->s.naive)
                run_naive(o, xs.data, mm, itimg, itpos, sel + a, maps + a * o->P);
            else
                run_cones(o, mm, itimg, itpos, sel + a, vals, maps + a * o->P);
            o->brute += cone_macs_item(o->cn) * mm;
            o->windows += mm;
            progress_update(o->pg, o->windows);
        }
    }
    free(sel);
    free(vals);
    free(itimg);
    free(itpos);
}

void occlude_transform(occlude_output out, int64_t n, int64_t per, float *maps, const float *base)
{
    if (out == OCC_OUT_RAW)
        return;
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < per; k++) {
            float *v = &maps[i * per + k];
            double d = (double)base[i] - (double)*v;
            if (out == OCC_OUT_PERCENT)
                d = base[i] != 0 ? 100.0 * d / fabs((double)base[i]) : 0.0;
            *v = (float)d;
        }
}

void occlude_per_pixel(const occlude *o, const float *map, float *px)
{
    int64_t H = o->m->in_shape[1], W = o->m->in_shape[2];
    double *sum = xcalloc((size_t)(H * W), sizeof *sum);
    int *cnt = xcalloc((size_t)(H * W), sizeof *cnt);
    for (int py = 0; py < o->hm; py++)
        for (int qx = 0; qx < o->wm; qx++) {
            int64_t b[4];
            occlude_window(o, py, qx, b);
            for (int64_t y = b[0]; y < b[2]; y++)
                for (int64_t x = b[1]; x < b[3]; x++) {
                    sum[y * W + x] += map[py * o->wm + qx];
                    cnt[y * W + x]++;
                }
        }
    for (int64_t k = 0; k < H * W; k++)
        px[k] = cnt[k] ? (float)(sum[k] / cnt[k]) : 0.0f;
    free(sum);
    free(cnt);
}

void occlude_macs(const occlude *o, double *done, double *brute)
{
    *done = o->naive_done + cone_macs_done(o->cn);
    *brute = o->brute;
}
