/* grid: image and filter grids (see grid.h and render.h). */
#include "render/grid.h"
#include "render/render.h"
#include "render/rows.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double black[3] = { 0, 0, 0 };

typedef struct tileset {
    const float *data;      /* ntiles tiles of c x h x w */
    int64_t ntiles;
    int c, h, w;
    int group;              /* tiles normalised together (a filter's channels) */
    char **captions;        /* ntiles, entries may be NULL; or NULL */
    char **rowlab;          /* --row-label: ntiles (the first of each row is used), or NULL */
} tileset;

#define TITLE_H 20          /* --titles: the band above the first row */

int grid_auto_scale(int h, int w, int target)
{
    int m = h > w ? h : w, s = (target + m / 2) / m;
    return s < 1 ? 1 : s;
}

int grid_auto_cols(int64_t n, int max)
{
    int c = (int)ceil(sqrt((double)n));
    return c > max ? max : c < 1 ? 1 : c;
}

/* Value range of tiles [t0, t0+cnt) under the options. */
static void tile_range(const render_opts *o, const tileset *ts, int64_t t0, int64_t cnt,
                       float *lo, float *hi)
{
    size_t ts_n = (size_t)ts->c * ts->h * ts->w;
    double a = 0, b = 1;
    if (o->normalize == NORM_NONE) {
        if (o->sign)
            a = -1;
    } else
        cmap_range(ts->data + t0 * ts_n, cnt * (int64_t)ts_n, o->sign, o->clip, &a, &b);
    *lo = (float)a;
    *hi = (float)b;
}

/* Caption centred under a tile: a smaller font before shortening, since a
 * 28-pixel digit at scale 2 leaves little room for "8 (0.97)". */
/* cx: the tile's centre; w: the room the text may take. */
void grid_caption(draw_canvas *cv, const char *text, double cx, double y, double w)
{
    double size = 11;
    while (size > 8 && draw_text_width(cv, size, 0, text) > w)
        size -= 1;
    char *s = draw_text_fit(cv, size, 0, text, w);
    draw_text(cv, cx, y + 12, size, DRAW_CENTER, black, 0, s);
    free(s);
}

static void draw_tile(draw_canvas *cv, const render_opts *o, const tileset *ts, int64_t t,
                      float lo, float hi, double x, double y, int scale)
{
    size_t ts_n = (size_t)ts->c * ts->h * ts->w;
    int c = ts->c == 3 ? 3 : 1;
    draw_image(cv, ts->data + t * ts_n, c, ts->h, ts->w, x, y,
               (double)ts->w * scale, (double)ts->h * scale,
               o->filter ? DRAW_BILINEAR : DRAW_NEAREST, lo, hi, o->cmap);
    if (ts->captions && ts->captions[t])
        grid_caption(cv, ts->captions[t], x + ts->w * scale / 2.0, y + ts->h * scale,
                     ts->w * scale + o->pad);
}

/* --titles above the columns, and --row-label's text left of each row
 * (the field of the row's first tile), bold, in a margin of left pixels. */
static void draw_labels(draw_canvas *cv, const render_opts *o, const tileset *ts, int cols,
                        int left, int top, int tw, int rh)
{
    for (int j = 0; o->titles && j < o->ntitles; j++) {
        char *s = draw_text_fit(cv, 12, 1, o->titles[j], tw + o->pad - 2);
        draw_text(cv, left + o->pad + j * (tw + o->pad) + tw / 2.0, top - 5, 12, DRAW_CENTER,
                  black, 1, s);
        free(s);
    }
    for (int64_t t = 0; ts->rowlab && t < ts->ntiles; t += cols)
        if (ts->rowlab[t]) {
            double y = top + o->pad + (double)(t / cols) * rh + ts->h * (double)o->scale / 2 + 4;
            draw_text(cv, o->pad, y, 12, DRAW_LEFT, black, 1, ts->rowlab[t]);
        }
}

/* The margin left of the tiles that --row-label's texts need (0: none). */
static int label_margin(const render_opts *o, const tileset *ts, int cols)
{
    double w = 0;
    draw_canvas *cv = ts->rowlab ? draw_new(1, 1) : NULL;
    for (int64_t t = 0; cv && t < ts->ntiles; t += cols)
        if (ts->rowlab[t])
            w = fmax(w, draw_text_width(cv, 12, 1, ts->rowlab[t]));
    if (cv)
        draw_free(cv);
    return w > 0 ? (int)ceil(w) + 2 * o->pad : 0;
}

static void render_tiles(const render_opts *o, const tileset *ts, const row_meta *m, const char *out)
{
    int scale = o->scale ? o->scale : grid_auto_scale(ts->h, ts->w, 84);
    int cols = o->cols ? o->cols : ts->group > 1 ? ts->group : grid_auto_cols(ts->ntiles, 16);
    int caph = 0;
    for (int64_t t = 0; ts->captions && t < ts->ntiles; t++)
        if (ts->captions[t])
            caph = GRID_CAPTION_H;
    int tw = ts->w * scale, th = ts->h * scale, pad = o->pad;
    float glo = 0, ghi = 1;
    if (o->normalize == NORM_GLOBAL || o->normalize == NORM_NONE)
        tile_range(o, ts, 0, ts->ntiles, &glo, &ghi);

    if (o->each) {
        /* One PNG per row of the input (a filter's channels stay together). */
        int64_t per = ts->group;
        for (int64_t r = 0; r * per < ts->ntiles; r++) {
            draw_canvas *cv = draw_new(2 * pad + (int)per * (tw + pad) - pad, 2 * pad + th + caph);
            float lo = glo, hi = ghi;
            if (o->normalize == NORM_TILE)
                tile_range(o, ts, r * per, per, &lo, &hi);
            for (int64_t k = 0; k < per; k++)
                draw_tile(cv, o, ts, r * per + k, lo, hi, pad + k * (tw + pad), pad, scale);
            char *p = rows_each_path(o, m, r);
            draw_write_png(cv, p);
            free(p);
            draw_free(cv);
        }
        return;
    }
    int64_t rows = (ts->ntiles + cols - 1) / cols;
    if (o->titles && o->ntitles != (ts->ntiles < cols ? ts->ntiles : cols))
        die_usage("--titles: %d titles for %lld columns", o->ntitles,
                  (long long)(ts->ntiles < cols ? ts->ntiles : cols));
    int left = label_margin(o, ts, cols), top = o->titles ? TITLE_H : 0;
    if (rows > 32767 || (int64_t)cols * (tw + pad) + pad + left > 32767 ||
        rows * (th + caph + pad) + pad + top > 32767)
        die("%lld tiles of %dx%d pixels do not fit in one picture (use --range, --scale or --each)",
            (long long)ts->ntiles, tw, th);
    draw_canvas *cv = draw_new(left + pad + cols * (tw + pad),
                               (int)(top + pad + rows * (th + caph + pad)));
    render_opts lo_opts = *o;
    lo_opts.scale = scale;
    draw_labels(cv, &lo_opts, ts, cols, left, top, tw, th + caph + pad);
    for (int64_t g = 0; g * ts->group < ts->ntiles; g++) {
        float lo = glo, hi = ghi;
        if (o->normalize == NORM_TILE)
            tile_range(o, ts, g * ts->group, ts->group, &lo, &hi);
        for (int64_t k = 0; k < ts->group; k++) {
            int64_t t = g * ts->group + k;
            draw_tile(cv, o, ts, t, lo, hi, left + pad + (t % cols) * (tw + pad),
                      top + pad + (double)(t / cols) * (th + caph + pad), scale);
        }
    }
    draw_write_png(cv, out);
    draw_free(cv);
}

void render_grid(render_opts *o, int filters)
{
    h5in *in = h5in_open(o->input);
    int64_t dims[TENSOR_MAXDIM];
    if (!h5in_has(in, "/images"))
        die("%s: no dataset '/images' (not an images file)", in->name);
    int64_t a, b;
    h5in_dims(in, "/images", dims);
    rows_select(o, dims[0], &a, &b);
    if (b - a > 20000 || (b - a) * shape_numel(3, dims + 1, INT64_MAX / 2) > ((int64_t)1 << 28))
        die("%s: %lld images of %s are too many for one picture (choose some with --range)",
            in->name, (long long)(b - a), tensor_shape_str(3, dims + 1, (char[64]){0}, 64));
    tensor *img = rows_images(in, a, b);
    row_meta m;
    rows_meta_read(o, in, a, b, &m);
    tileset ts = { img->data, img->dims[0], (int)img->dims[1], (int)img->dims[2],
                   (int)img->dims[3], 1, NULL, NULL };
    int cap = o->caption;
    if (filters) {
        if (o->normalize == NORM_DEFAULT)
            o->normalize = NORM_TILE;
        if (ts.c != 1 && ts.c != 3) {
            /* One gray tile per input channel; a filter's row is normalised
             * together so its channels compare. */
            ts.group = ts.c;
            ts.ntiles *= ts.c;
            ts.c = 1;
            if (cap == CAP_AUTO)
                cap = CAP_NONE;
        } else if (cap == CAP_AUTO)
            cap = CAP_ID;
    } else {
        if (o->normalize == NORM_DEFAULT)
            o->normalize = NORM_NONE;
        if (ts.c != 1 && ts.c != 3)
            die("%s: images have %d channels (grid draws 1 or 3; try 'cnn-render filters')",
                in->name, ts.c);
    }
    if (o->sign && o->cmap == DRAW_CMAP_GRAY)
        o->cmap = DRAW_CMAP_DIVERGING;
    if (cap != CAP_NONE && ts.group == 1) {
        ts.captions = xcalloc((size_t)ts.ntiles, sizeof *ts.captions);
        for (int64_t i = 0; i < ts.ntiles; i++)
            ts.captions[i] = cap == o->caption && o->ncaptions > 0
                                 ? rows_caption_list(&m, o->captions, o->ncaptions, i)
                                 : rows_caption(&m, cap, i);
    }
    if (o->row_label != CAP_NONE && ts.group == 1) {
        if (o->each)
            die_usage("--row-label and --titles label one picture (not --each)");
        ts.rowlab = xcalloc((size_t)ts.ntiles, sizeof *ts.rowlab);
        for (int64_t i = 0; i < ts.ntiles; i++)
            ts.rowlab[i] = rows_caption(&m, o->row_label, i);
    }
    if (o->titles && o->each)
        die_usage("--row-label and --titles label one picture (not --each)");
    render_tiles(o, &ts, &m, o->co.output);
    for (int64_t i = 0; i < ts.ntiles; i++) {
        free(ts.captions ? ts.captions[i] : NULL);
        free(ts.rowlab ? ts.rowlab[i] : NULL);
    }
    free(ts.captions);
    free(ts.rowlab);
    rows_meta_free(&m);
    tensor_free(img);
    h5in_close(in);
}
