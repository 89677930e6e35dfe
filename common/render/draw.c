#include "render/draw.h"
#include "base/cli.h"
#include "io/h5io.h"
#include "io/imageio.h"
#include "base/tensor.h"

#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct draw_canvas {
    cairo_surface_t *s;
    cairo_t *cr;
    int w, h;
};

#define FONT "DejaVu Sans"

/* Cairo caps image surfaces at 32767 pixels a side. */
#define DRAW_MAXSIDE 32767

draw_canvas *draw_new(int w, int h)
{
    if (w < 1 || h < 1 || w > DRAW_MAXSIDE || h > DRAW_MAXSIDE ||
        (int64_t)w * h > ((int64_t)1 << 26))
        die("picture of %dx%d pixels is too large (choose fewer images with --range, or a smaller --scale)", w, h);
    draw_canvas *cv = xcalloc(1, sizeof *cv);
    cv->s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
    if (cairo_surface_status(cv->s) != CAIRO_STATUS_SUCCESS)
        die("cannot create a %dx%d picture: %s", w, h,
            cairo_status_to_string(cairo_surface_status(cv->s)));
    cv->cr = cairo_create(cv->s);
    cv->w = w;
    cv->h = h;
    cairo_set_source_rgb(cv->cr, 1, 1, 1);
    cairo_paint(cv->cr);
    return cv;
}

void draw_free(draw_canvas *cv)
{
    if (!cv)
        return;
    cairo_destroy(cv->cr);
    cairo_surface_destroy(cv->s);
    free(cv);
}

int draw_width(const draw_canvas *cv) { return cv->w; }
int draw_height(const draw_canvas *cv) { return cv->h; }

/* The surface as 8-bit RGB rows (RGBA when any pixel is not opaque),
 * un-premultiplied; *c gets the channels. */
static uint8_t *surface_rgb(draw_canvas *cv, int *c)
{
    cairo_surface_flush(cv->s);
    const unsigned char *d = cairo_image_surface_get_data(cv->s);
    int stride = cairo_image_surface_get_stride(cv->s);
    int opaque = 1;
    for (int y = 0; y < cv->h && opaque; y++) {
        const uint32_t *row = (const uint32_t *)(d + (size_t)y * stride);
        for (int x = 0; x < cv->w; x++)
            if ((row[x] >> 24) != 255) {
                opaque = 0;
                break;
            }
    }
    *c = opaque ? 3 : 4;
    uint8_t *out = xmalloc((size_t)cv->w * cv->h * *c), *o = out;
    for (int y = 0; y < cv->h; y++) {
        const uint32_t *row = (const uint32_t *)(d + (size_t)y * stride);
        for (int x = 0; x < cv->w; x++) {
            uint32_t p = row[x], a = p >> 24;
            for (int k = 16; k >= 0; k -= 8) {
                uint32_t v = (p >> k) & 255;
                *o++ = (uint8_t)(a == 255 || a == 0 ? v : (v * 255 + a / 2) / a);
            }
            if (*c == 4)
                *o++ = (uint8_t)a;
        }
    }
    return out;
}

void draw_write_png(draw_canvas *cv, const char *path)
{
    int c;
    uint8_t *px = surface_rgb(cv, &c);
    /* Provenance: what made the inputs, then this command. */
    char *hist = h5io_output_history(path);
    imageio_write_png_text(path, px, c, cv->h, cv->w, cv->w * c, "history", hist);
    free(hist);
    free(px);
}

/* ---- colour maps ---------------------------------------------------- */

void draw_class_rgb(int k, double rgb[3])
{
    static const unsigned tab10[10] = {
        0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
        0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf,
    };
    unsigned c = tab10[((k % 10) + 10) % 10];
    rgb[0] = ((c >> 16) & 255) / 255.0;
    rgb[1] = ((c >> 8) & 255) / 255.0;
    rgb[2] = (c & 255) / 255.0;
}

/* ---- images and maps ------------------------------------------------ */

static inline uint32_t pack(double r, double g, double b)
{
    int R = (int)(r * 255 + 0.5), G = (int)(g * 255 + 0.5), B = (int)(b * 255 + 0.5);
    R = R < 0 ? 0 : R > 255 ? 255 : R;
    G = G < 0 ? 0 : G > 255 ? 255 : G;
    B = B < 0 ? 0 : B > 255 ? 255 : B;
    return 0xff000000u | (uint32_t)R << 16 | (uint32_t)G << 8 | (uint32_t)B;
}

/* Paint a native-resolution surface into a rectangle with the filter;
 * EXTEND_PAD keeps bilinear sampling from fading the borders. */
static void paint_scaled(draw_canvas *cv, cairo_surface_t *img, int w, int h,
                         double x, double y, double dw, double dh, draw_filter f,
                         double alpha)
{
    cairo_t *cr = cv->cr;
    cairo_save(cr);
    cairo_rectangle(cr, x, y, dw, dh);
    cairo_clip(cr);
    cairo_translate(cr, x, y);
    cairo_scale(cr, dw / w, dh / h);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_t *p = cairo_get_source(cr);
    cairo_pattern_set_filter(p, f == DRAW_NEAREST ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_BILINEAR);
    cairo_pattern_set_extend(p, CAIRO_EXTEND_PAD);
    cairo_paint_with_alpha(cr, alpha);
    cairo_restore(cr);
}

static cairo_surface_t *surface_new(int w, int h, uint32_t **data, int *stride)
{
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS)
        die("cannot create a %dx%d image surface", w, h);
    cairo_surface_flush(s);
    *data = (uint32_t *)cairo_image_surface_get_data(s);
    *stride = cairo_image_surface_get_stride(s) / 4;
    return s;
}

void draw_image(draw_canvas *cv, const float *px, int c, int h, int w,
                double x, double y, double dw, double dh, draw_filter f,
                float lo, float hi, draw_cmap cmap)
{
    uint32_t *d;
    int stride;
    cairo_surface_t *s = surface_new(w, h, &d, &stride);
    double span = hi > lo ? hi - lo : 1.0;
    size_t plane = (size_t)h * w;
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            size_t o = (size_t)i * w + j;
            if (c == 3) {
                double r = (px[o] - lo) / span, g = (px[plane + o] - lo) / span,
                       b = (px[2 * plane + o] - lo) / span;
                d[i * stride + j] = pack(isfinite(r) ? r : 0.5, isfinite(g) ? g : 0.5,
                                         isfinite(b) ? b : 0.5);
            } else {
                double t = (px[o] - lo) / span;
                const float *rgb = cmap_entry(cmap, cmap_index(t));
                d[i * stride + j] = isfinite(t) ? pack(rgb[0], rgb[1], rgb[2])
                                                : pack(0.5, 0.5, 0.5);
            }
        }
    cairo_surface_mark_dirty(s);
    paint_scaled(cv, s, w, h, x, y, dw, dh, f, 1.0);
    cairo_surface_destroy(s);
}

void draw_map(draw_canvas *cv, const float *map, int h, int w,
              double x, double y, double dw, double dh, draw_filter f,
              float lo, float hi, draw_cmap cmap, double alpha,
              const char *fmt, double scale)
{
    uint32_t *d;
    int stride;
    cairo_surface_t *s = surface_new(w, h, &d, &stride);
    double span = hi > lo ? hi - lo : 1.0;
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            double t = (map[(size_t)i * w + j] - lo) / span;
            const float *rgb = cmap_entry(cmap, cmap_index(t));
            d[i * stride + j] = isfinite(t) ? pack(rgb[0], rgb[1], rgb[2]) : pack(0.5, 0.5, 0.5);
        }
    cairo_surface_mark_dirty(s);
    paint_scaled(cv, s, w, h, x, y, dw, dh, f, alpha);
    cairo_surface_destroy(s);
    if (!fmt)
        return;
    /* Numbers sized to the cell; skipped when cells are too small to read. */
    double cw = dw / w, ch = dh / h;
    double size = fmin(ch * 0.45, cw * 0.32);
    if (size < 5)
        return;
    if (size > 16)
        size = 16;
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            double v = map[(size_t)i * w + j];
            char buf[32];
            snprintf(buf, sizeof buf, fmt, v * scale);
            double t = (v - lo) / span, rgb[3];
            draw_cmap_rgb(cmap, t, rgb);
            /* The cell's colour after blending decides black or white text. */
            double lum = alpha * (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) + (1 - alpha) * 0.5;
            double tc[3] = { lum < 0.5, lum < 0.5, lum < 0.5 };
            draw_text(cv, x + (j + 0.5) * cw, y + (i + 0.5) * ch + size * 0.36, size,
                      DRAW_CENTER, tc, 0, buf);
        }
}

/* ---- shapes and text ------------------------------------------------ */

void draw_rect(draw_canvas *cv, double x, double y, double w, double h,
               const double rgb[3], int fill)
{
    cairo_t *cr = cv->cr;
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    if (fill) {
        cairo_rectangle(cr, x, y, w, h);
        cairo_fill(cr);
    } else {
        cairo_set_line_width(cr, 1);
        cairo_rectangle(cr, x + 0.5, y + 0.5, w - 1, h - 1);
        cairo_stroke(cr);
    }
}

void draw_line(draw_canvas *cv, double x0, double y0, double x1, double y1,
               double width, const double rgb[3])
{
    cairo_t *cr = cv->cr;
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_set_line_width(cr, width);
    cairo_move_to(cr, x0, y0);
    cairo_line_to(cr, x1, y1);
    cairo_stroke(cr);
}

static void set_font(cairo_t *cr, double size, int bold)
{
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

double draw_text_width(draw_canvas *cv, double size, int bold, const char *s)
{
    cairo_text_extents_t e;
    set_font(cv->cr, size, bold);
    cairo_text_extents(cv->cr, s, &e);
    return e.x_advance;
}

char *draw_text_fit(draw_canvas *cv, double size, int bold, const char *s, double width)
{
    char *r = xstrdup(s);
    if (draw_text_width(cv, size, bold, r) <= width)
        return r;
    size_t n = strlen(r);
    char *buf = xmalloc(n + 4);
    while (n > 0) {
        n--;
        while (n > 0 && ((unsigned char)r[n] & 0xc0) == 0x80)   /* UTF-8 boundary */
            n--;
        memcpy(buf, r, n);
        strcpy(buf + n, "...");
        if (draw_text_width(cv, size, bold, buf) <= width)
            break;
    }
    free(r);
    return buf;
}

void draw_text(draw_canvas *cv, double x, double y, double size, draw_align a,
               const double rgb[3], int bold, const char *s)
{
    cairo_t *cr = cv->cr;
    double w = a == DRAW_LEFT ? 0 : draw_text_width(cv, size, bold, s);
    set_font(cr, size, bold);
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_move_to(cr, a == DRAW_LEFT ? x : a == DRAW_CENTER ? x - w / 2 : x - w, y);
    cairo_show_text(cr, s);
    cairo_new_path(cr);
}

void draw_text_vertical(draw_canvas *cv, double x, double y, double size,
                        const double rgb[3], const char *s)
{
    cairo_t *cr = cv->cr;
    double w = draw_text_width(cv, size, 0, s);
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, -M_PI / 2);
    set_font(cr, size, 0);
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_move_to(cr, -w / 2, size * 0.36);
    cairo_show_text(cr, s);
    cairo_new_path(cr);
    cairo_restore(cr);
}

/* ---- axes ----------------------------------------------------------- */

int draw_ticks(double lo, double hi, int max, double *ticks)
{
    if (!(hi > lo) || !isfinite(lo) || !isfinite(hi)) {
        ticks[0] = lo;
        return 1;
    }
    double raw = (hi - lo) / (max > 1 ? max - 1 : 1);
    double p = pow(10, floor(log10(raw)));
    double step = p;
    static const double mult[] = { 1, 2, 2.5, 5, 10 };
    for (int i = 0; i < 5; i++) {
        step = mult[i] * p;
        if ((floor(hi / step) - ceil(lo / step)) + 1 <= max)
            break;
    }
    int n = 0;
    for (double t = ceil(lo / step) * step; t <= hi + step * 1e-9 && n < max; t += step) {
        ticks[n++] = fabs(t) < step * 1e-9 ? 0 : t;
    }
    return n;
}

static void tick_label(double v, char *buf, size_t n)
{
    snprintf(buf, n, "%.4g", v);
}

static const double black[3] = { 0, 0, 0 };
static const double darkgray[3] = { 0.25, 0.25, 0.25 };
static const double lightgray[3] = { 0.88, 0.88, 0.88 };

void draw_colorbar(draw_canvas *cv, double x, double y, double w, double h,
                   draw_cmap cmap, double lo, double hi, const char *label)
{
    int rows = (int)h;
    if (rows < 2)
        return;
    for (int i = 0; i < rows; i++) {
        double t = 1.0 - (i + 0.5) / rows, rgb[3];
        draw_cmap_rgb(cmap, t, rgb);
        draw_rect(cv, x, y + i, w, 1.0, rgb, 1);
    }
    draw_rect(cv, x, y, w, h, darkgray, 0);
    double ticks[8];
    int n = draw_ticks(lo, hi, 6, ticks);
    for (int i = 0; i < n; i++) {
        double ty = hi > lo ? y + h - (ticks[i] - lo) / (hi - lo) * h : y + h / 2;
        char buf[32];
        tick_label(ticks[i], buf, sizeof buf);
        draw_line(cv, x + w, ty, x + w + 4, ty, 1, black);
        draw_text(cv, x + w + 6, ty + 4, 11, DRAW_LEFT, black, 0, buf);
    }
    if (label)
        draw_text(cv, x, y + h + 16, 11, DRAW_LEFT, black, 0, label);
}

void draw_scatter(draw_canvas *cv, double x, double y, double w, double h,
                  const draw_scatter_spec *s)
{
    /* Legend width from the longest class name, so none is clipped. */
    double legend_w = 0;
    char namebuf[64];
    for (int k = 0; k < s->nclass; k++) {
        const char *nm = s->names && s->names[k] ? s->names[k] : (snprintf(namebuf, sizeof namebuf, "%d", k), namebuf);
        double tw = draw_text_width(cv, 12, 0, nm);
        if (tw > legend_w)
            legend_w = tw;
    }
    if (legend_w > 0.3 * w)
        legend_w = 0.3 * w;
    if (s->nclass > 0)
        legend_w += 36;
    double ml = 72, mr = 16 + legend_w, mt = s->title ? 36 : 14, mb = 52;
    double ax = x + ml, ay = y + mt, aw = w - ml - mr, ah = h - mt - mb;
    if (aw < 20 || ah < 20)
        die("scatter plot of %.0fx%.0f pixels is too small", w, h);

    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int64_t i = 0; i < s->n; i++) {
        if (!isfinite(s->px[i]) || !isfinite(s->py[i]))
            continue;
        xmin = fmin(xmin, s->px[i]); xmax = fmax(xmax, s->px[i]);
        ymin = fmin(ymin, s->py[i]); ymax = fmax(ymax, s->py[i]);
    }
    if (!(xmax >= xmin)) { xmin = 0; xmax = 1; }
    if (!(ymax >= ymin)) { ymin = 0; ymax = 1; }
    if (xmax == xmin) { xmin -= 0.5; xmax += 0.5; }
    if (ymax == ymin) { ymin -= 0.5; ymax += 0.5; }
    double padx = 0.05 * (xmax - xmin), pady = 0.05 * (ymax - ymin);
    xmin -= padx; xmax += padx; ymin -= pady; ymax += pady;

    cairo_t *cr = cv->cr;
    /* Grid lines and ticks. */
    double ticks[12];
    char buf[32];
    int n = draw_ticks(xmin, xmax, 8, ticks);
    for (int i = 0; i < n; i++) {
        double tx = ax + (ticks[i] - xmin) / (xmax - xmin) * aw;
        draw_line(cv, tx, ay, tx, ay + ah, 1, lightgray);
        draw_line(cv, tx, ay + ah, tx, ay + ah + 5, 1, black);
        tick_label(ticks[i], buf, sizeof buf);
        draw_text(cv, tx, ay + ah + 18, 11, DRAW_CENTER, black, 0, buf);
    }
    n = draw_ticks(ymin, ymax, 8, ticks);
    for (int i = 0; i < n; i++) {
        double ty = ay + ah - (ticks[i] - ymin) / (ymax - ymin) * ah;
        draw_line(cv, ax, ty, ax + aw, ty, 1, lightgray);
        draw_line(cv, ax - 5, ty, ax, ty, 1, black);
        tick_label(ticks[i], buf, sizeof buf);
        draw_text(cv, ax - 7, ty + 4, 11, DRAW_RIGHT, black, 0, buf);
    }
    draw_rect(cv, ax, ay, aw, ah, black, 0);

    /* Points, clipped to the axes. */
    double r = s->radius > 0 ? s->radius : 2.5;
    cairo_save(cr);
    cairo_rectangle(cr, ax, ay, aw, ah);
    cairo_clip(cr);
    for (int64_t i = 0; i < s->n; i++) {
        if (!isfinite(s->px[i]) || !isfinite(s->py[i]))
            continue;
        double rgb[3] = { 0.12, 0.47, 0.71 };
        if (s->cls)
            draw_class_rgb(s->cls[i], rgb);
        double px = ax + (s->px[i] - xmin) / (xmax - xmin) * aw;
        double py = ay + ah - (s->py[i] - ymin) / (ymax - ymin) * ah;
        cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        cairo_arc(cr, px, py, r, 0, 2 * M_PI);
        cairo_fill(cr);
    }
    cairo_restore(cr);

    if (s->xlabel)
        draw_text(cv, ax + aw / 2, ay + ah + 40, 13, DRAW_CENTER, black, 0, s->xlabel);
    if (s->ylabel)
        draw_text_vertical(cv, x + 16, ay + ah / 2, 13, black, s->ylabel);
    if (s->title) {
        char *t = draw_text_fit(cv, 15, 1, s->title, w - 20);
        draw_text(cv, ax + aw / 2, y + 24, 15, DRAW_CENTER, black, 1, t);
        free(t);
    }
    /* Legend. */
    double lx = ax + aw + 14, ly = ay + 6;
    for (int k = 0; k < s->nclass && ly + 18 < y + h; k++) {
        const char *nm = s->names && s->names[k] ? s->names[k] : (snprintf(namebuf, sizeof namebuf, "%d", k), namebuf);
        double rgb[3];
        draw_class_rgb(k, rgb);
        cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        cairo_arc(cr, lx + 6, ly + 6, 5, 0, 2 * M_PI);
        cairo_fill(cr);
        char *t = draw_text_fit(cv, 12, 0, nm, legend_w - 36 > 10 ? legend_w - 20 : 10);
        draw_text(cv, lx + 18, ly + 10.5, 12, DRAW_LEFT, black, 0, t);
        free(t);
        ly += 18;
    }
}

void draw_bars(draw_canvas *cv, double x, double y, double w, double h,
               const float *values, char *const *names, int k, int hi,
               const char *title)
{
    double top = title ? 22 : 2;
    if (title) {
        char *t = draw_text_fit(cv, 13, 1, title, w - 4);
        draw_text(cv, x + 2, y + 15, 13, DRAW_LEFT, black, 1, t);
        free(t);
    }
    if (k < 1)
        return;
    double row = (h - top) / k, bh = fmin(row * 0.7, 22);
    double namew = w * 0.42, pctw = 52, barx = x + namew + 6, barw = w - namew - 6 - pctw;
    if (barw < 10)
        barw = 10;
    static const double blue[3] = { 0.25, 0.45, 0.75 }, green[3] = { 0.2, 0.63, 0.17 };
    for (int i = 0; i < k; i++) {
        double cy = y + top + (i + 0.5) * row;
        char *nm = draw_text_fit(cv, 12, i == hi, names[i] ? names[i] : "?", namew - 4);
        draw_text(cv, x + namew, cy + 4, 12, DRAW_RIGHT, black, i == hi, nm);
        free(nm);
        double v = values[i];
        v = !(v > 0) ? 0 : v > 1 ? 1 : v;
        draw_rect(cv, barx, cy - bh / 2, barw, bh, (double[3]){ 0.93, 0.93, 0.93 }, 1);
        draw_rect(cv, barx, cy - bh / 2, barw * v, bh, i == hi ? green : blue, 1);
        char buf[32];
        snprintf(buf, sizeof buf, "%.1f%%", values[i] * 100.0);
        draw_text(cv, barx + barw + 4, cy + 4, 11, DRAW_LEFT, black, 0, buf);
    }
}
