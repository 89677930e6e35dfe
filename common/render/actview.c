/* actview: the Deep Visualization Toolbox view (see actview.h). */
#include "base/numeric.h"
#include "render/actview.h"

#include "base/cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNIT_S 224          /* side of each square of the unit panel */
#define LINE_H 18           /* a caption line */
#define GRID_TARGET 640     /* automatic scale: grid about this wide */

static const double black[3] = { 0, 0, 0 };
static const double grey[3] = { 0.35, 0.35, 0.35 };
static const double red[3] = { 0.9, 0.1, 0.1 };
static const double blue[3] = { 0.1, 0.4, 1.0 };

void actview_layout(const actview_frame *f, const actview_opts *o, int *scale, int *cols)
{
    int c = o->cols;
    if (c <= 0)
        c = (int)ceil(sqrt((double)f->c));
    if (c > f->c)
        c = f->c;
    if (c < 1)
        c = 1;
    int s = o->scale;
    if (s <= 0) {
        s = GRID_TARGET / (c * (f->w > f->h ? f->w : f->h));
        s = s < 1 ? 1 : s > 16 ? 16 : s;
    }
    *scale = s;
    *cols = c;
}

/* num_minmax into floats. */
static void minmax(const float *v, size_t n, float *lo, float *hi)
{
    double a, b;
    num_minmax(v, (int64_t)n, &a, &b);
    *lo = (float)a;
    *hi = (float)b;
}

void actview_range(const actview_frame *f, const actview_opts *o, int ch, float *lo, float *hi)
{
    size_t plane = (size_t)f->h * f->w;
    if (o->normalize == ACTVIEW_NORM_FIXED) {
        *lo = o->vmin;
        *hi = o->vmax;
    } else if (o->normalize == ACTVIEW_NORM_TILE)
        minmax(f->act + (size_t)ch * plane, plane, lo, hi);
    else
        minmax(f->act, (size_t)f->c * plane, lo, hi);
    if (!(*hi > *lo))
        *hi = *lo + 1;
}

int actview_strongest(const float *act, int c, int h, int w)
{
    size_t plane = (size_t)h * w;
    int best = 0;
    float bv = -INFINITY;
    for (int k = 0; k < c; k++)
        for (size_t i = 0; i < plane; i++)
            if (act[k * plane + i] > bv) {
                bv = act[k * plane + i];
                best = k;
            }
    return best;
}

/* The image's display size: its own up to ACTVIEW_IMG_MAX, else shrunk. */
static void image_size(const actview_frame *f, int *dw, int *dh)
{
    if (!f->img) {
        *dw = *dh = 0;
        return;
    }
    int m = f->ih > f->iw ? f->ih : f->iw;
    double s = m <= ACTVIEW_IMG_MAX ? 1.0 : (double)ACTVIEW_IMG_MAX / m;
    *dw = (int)lround(f->iw * s);
    *dh = (int)lround(f->ih * s);
    if (*dw < 1) *dw = 1;
    if (*dh < 1) *dh = 1;
}

static void caption(draw_canvas *cv, double cx, double y, double w, const char *s)
{
    char *t = draw_text_fit(cv, 11, 0, s, w);
    draw_text(cv, cx, y, 11, DRAW_CENTER, black, 0, t);
    free(t);
}

static void draw_grid(draw_canvas *cv, const actview_frame *f, const actview_opts *o,
                      int x0, int y0, int scale, int cols)
{
    int tw = f->w * scale, th = f->h * scale, g = o->tile_gap;
    int ow = g < 2 ? g : 2;      /* outline width, inside the gaps */
    size_t plane = (size_t)f->h * f->w;
    int strong = o->highlight ? actview_strongest(f->act, f->c, f->h, f->w) : -1;
    /* Outlines first, so no tile is painted over by a neighbour's. */
    for (int pass = 0; pass < 2 && ow > 0; pass++) {
        int k = pass ? o->unit : strong;
        if (k < 0 || k >= f->c)
            continue;
        int x = x0 + (k % cols) * (tw + g), y = y0 + (k / cols) * (th + g);
        draw_rect(cv, x - ow, y - ow, tw + 2 * ow, th + 2 * ow, pass ? blue : red, 1);
    }
    float lo = 0, hi = 1;
    if (o->normalize != ACTVIEW_NORM_TILE)
        actview_range(f, o, 0, &lo, &hi);
    for (int k = 0; k < f->c; k++) {
        if (o->normalize == ACTVIEW_NORM_TILE)
            actview_range(f, o, k, &lo, &hi);
        int x = x0 + (k % cols) * (tw + g), y = y0 + (k / cols) * (th + g);
        draw_image(cv, f->act + k * plane, 1, f->h, f->w, x, y, tw, th, DRAW_NEAREST, lo, hi,
                   o->cmap);
    }
}

/* The projection shown as cnn-patches does: 0.5 + 0.5 v / max|v| (zero is
 * mid-gray). */
static void draw_projection(draw_canvas *cv, const actview_frame *f, double x, double y)
{
    size_t n = (size_t)f->pc * f->ph * f->pw;
    float m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(f->proj[i]) && fabsf(f->proj[i]) > m)
            m = fabsf(f->proj[i]);
    if (m == 0)
        m = 1;
    draw_image(cv, f->proj, f->pc == 3 ? 3 : 1, f->ph, f->pw, x, y, UNIT_S, UNIT_S,
               DRAW_BILINEAR, -m, m, DRAW_CMAP_GRAY);
}

static void draw_patches(draw_canvas *cv, const actview_frame *f, double x, double y)
{
    int n = f->npatch < 9 ? f->npatch : 9, g = 2, cell = (UNIT_S - 2 * g) / 3;
    size_t sz = (size_t)f->kc * f->kh * f->kw;
    for (int i = 0; i < n; i++) {
        double s = (double)cell / (f->kh > f->kw ? f->kh : f->kw);
        double dw = f->kw * s, dh = f->kh * s;
        double cx = x + (i % 3) * (cell + g) + (cell - dw) / 2;
        double cy = y + (i / 3) * (cell + g) + (cell - dh) / 2;
        draw_image(cv, f->patches + i * sz, f->kc == 3 ? 3 : 1, f->kh, f->kw, cx, cy, dw, dh,
                   s >= 2 ? DRAW_NEAREST : DRAW_BILINEAR, 0, 1, DRAW_CMAP_GRAY);
    }
}

static void placeholder(draw_canvas *cv, double x, double y, const char *s)
{
    static const double light[3] = { 0.92, 0.92, 0.92 };
    draw_rect(cv, x, y, UNIT_S, UNIT_S, light, 1);
    caption(cv, x + UNIT_S / 2.0, y + UNIT_S / 2.0, UNIT_S - 8, s);
}

static void draw_unit(draw_canvas *cv, const actview_frame *f, const actview_opts *o, int x,
                      int y, int dw, int dh)
{
    char buf[256];
    int u = o->unit;
    size_t plane = (size_t)f->h * f->w;
    const float *map = f->act + (size_t)u * plane;
    float lo, hi, mlo, mhi;
    actview_range(f, o, u, &lo, &hi);
    minmax(map, plane, &mlo, &mhi);
    /* Over the image the map spans its own range, so a weak unit shows. */
    float olo = mlo, ohi = mhi > mlo ? mhi : mlo + 1;
    snprintf(buf, sizeof buf, "unit %d of %s", u, f->layer);
    draw_text(cv, x, y + 13, 13, DRAW_LEFT, blue, 1, buf);
    y += LINE_H + 2;
    int step = UNIT_S + ACTVIEW_GAP;
    /* 1: the map over the image (bilinear, viridis as the report's other
     * unsigned maps, half transparent). */
    if (f->img) {
        double s = (double)UNIT_S / (dw > dh ? dw : dh);
        double iw = dw * s, ih = dh * s;
        draw_image(cv, f->img, f->ic == 3 ? 3 : 1, f->ih, f->iw, x + (UNIT_S - iw) / 2,
                   y + (UNIT_S - ih) / 2, iw, ih, DRAW_BILINEAR, 0, 1, DRAW_CMAP_GRAY);
        draw_map(cv, map, f->h, f->w, x + (UNIT_S - iw) / 2, y + (UNIT_S - ih) / 2, iw, ih,
                 DRAW_BILINEAR, olo, ohi, DRAW_CMAP_VIRIDIS, 0.5, NULL, 1);
    } else
        draw_map(cv, map, f->h, f->w, x, y, UNIT_S, UNIT_S, DRAW_BILINEAR, lo, hi, o->cmap, 1,
                 NULL, 1);
    snprintf(buf, sizeof buf, "activation (max %.3g)", mhi);
    caption(cv, x + UNIT_S / 2.0, y + UNIT_S + 14, UNIT_S, buf);
    /* 2: the projection for this image. */
    if (f->proj)
        draw_projection(cv, f, x + step, y);
    else
        placeholder(cv, x + step, y, "no projection (--projection)");
    caption(cv, x + step + UNIT_S / 2.0, y + UNIT_S + 14, UNIT_S,
            f->proj_name ? f->proj_name : "projection");
    /* 3: the unit's top patches over the dataset. */
    if (f->patches && f->npatch > 0)
        draw_patches(cv, f, x + 2 * step, y);
    else
        placeholder(cv, x + 2 * step, y, "no patches (--patches)");
    if (f->patches && f->npatch > 0)
        snprintf(buf, sizeof buf, "top %d dataset patches", f->npatch < 9 ? f->npatch : 9);
    else
        snprintf(buf, sizeof buf, "dataset patches");
    caption(cv, x + 2 * step + UNIT_S / 2.0, y + UNIT_S + 14, UNIT_S, buf);
}

draw_canvas *actview_draw(const actview_frame *f, const actview_opts *o)
{
    int scale, cols;
    actview_layout(f, o, &scale, &cols);
    int rows = (f->c + cols - 1) / cols, g = o->tile_gap;
    int64_t gw = (int64_t)cols * f->w * scale + (int64_t)(cols - 1) * g;
    int64_t gh = (int64_t)rows * f->h * scale + (int64_t)(rows - 1) * g;
    int dw, dh;
    image_size(f, &dw, &dh);
    int gx = ACTVIEW_MARGIN + (dw ? dw + ACTVIEW_GAP : 0), top = ACTVIEW_MARGIN + ACTVIEW_TITLE_H;
    int64_t body = gh > dh + LINE_H ? gh : dh + LINE_H;
    int unit = o->unit >= 0 && o->unit < f->c;
    int64_t W = gx + gw + ACTVIEW_MARGIN, strip_w = 3 * UNIT_S + 2 * ACTVIEW_GAP;
    if (unit && 2 * ACTVIEW_MARGIN + strip_w > W)
        W = 2 * ACTVIEW_MARGIN + strip_w;
    if (W < 360)
        W = 360;
    int64_t H = top + body + ACTVIEW_MARGIN;
    if (unit)
        H += ACTVIEW_GAP + LINE_H + 2 + UNIT_S + LINE_H;
    if (W > 16384 || H > 16384)
        die("%d maps of %dx%d at scale %d make a %lldx%lld picture (too large; lower --scale "
            "or set --cols)", f->c, f->h, f->w, scale, (long long)W, (long long)H);
    draw_canvas *cv = draw_new((int)W, (int)H);
    char buf[512];
    snprintf(buf, sizeof buf, "%s: %d maps of %dx%d%s%s", f->layer, f->c, f->h, f->w,
             f->label ? ", " : "", f->label ? f->label : "");
    char *t = draw_text_fit(cv, 14, 1, buf, (double)W - 2 * ACTVIEW_MARGIN);
    draw_text(cv, ACTVIEW_MARGIN, ACTVIEW_MARGIN + 16, 14, DRAW_LEFT, black, 1, t);
    free(t);
    if (f->img) {
        draw_image(cv, f->img, f->ic == 3 ? 3 : 1, f->ih, f->iw, ACTVIEW_MARGIN, top, dw, dh,
                   dw == f->iw && dh == f->ih ? DRAW_NEAREST : DRAW_BILINEAR, 0, 1,
                   DRAW_CMAP_GRAY);
        if (f->top1) {
            snprintf(buf, sizeof buf, "top-1: %s", f->top1);
            caption(cv, ACTVIEW_MARGIN + dw / 2.0, top + dh + 14, dw < 120 ? 120 : dw, buf);
        }
    } else if (f->top1) {
        snprintf(buf, sizeof buf, "top-1: %s", f->top1);
        draw_text(cv, (double)W - ACTVIEW_MARGIN, ACTVIEW_MARGIN + 16, 11, DRAW_RIGHT, grey, 0,
                  buf);
    }
    draw_grid(cv, f, o, gx, top, scale, cols);
    if (unit)
        draw_unit(cv, f, o, ACTVIEW_MARGIN, (int)(top + body + ACTVIEW_GAP), dw, dh);
    return cv;
}
