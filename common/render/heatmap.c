/* heatmap: cnn-render heatmap (see render.h). Maps upsampled over their
 * images in tiles, with a colour bar right of the tiles. */
#include "render/grid.h"
#include "render/render.h"
#include "render/rows.h"
#include "base/numeric.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void render_heatmap(const render_opts *o)
{
    h5in *in = h5in_open(o->input);
    h5in_require_kind(in, "maps");
    if (!h5in_has(in, "/maps"))
        die("%s: no dataset '/maps'", in->name);
    int64_t dims[TENSOR_MAXDIM];
    int nd = h5in_dims(in, "/maps", dims);
    if (nd == 4 && dims[1] == 1) {
        dims[1] = dims[2];
        dims[2] = dims[3];
        nd = 3;
    }
    if (nd != 3)
        die("%s: '/maps' has %d dimensions (expected N x H x W; reduce channels first)",
            in->name, nd);
    int mh = (int)dims[1], mw = (int)dims[2];
    if (mh < 1 || mw < 1 || mh > 4096 || mw > 4096)
        die("%s: '/maps' of %dx%d cannot be drawn", in->name, mh, mw);
    int64_t a, b;
    rows_select(o, dims[0], &a, &b);
    if (b - a > 5000)
        die("%s: %lld maps are too many for one picture (choose some with --range)",
            in->name, (long long)(b - a));
    tensor *maps = h5in_read_rows(in, "/maps", a, b - a);
    row_meta m;
    rows_meta_read(in, a, b, &m);
    tensor *img = rows_images_for(o, in, &m, a, b);
    int64_t n = b - a;
    double lo, hi;
    num_minmax(maps->data, tensor_numel(maps), &lo, &hi);
    if (o->sign) {
        double mx = fmax(fabs(lo), fabs(hi));
        lo = -mx;
        hi = mx;
    }
    if (o->has_vmin)
        lo = o->vmin;
    if (o->has_vmax)
        hi = o->vmax;
    if (hi <= lo)
        hi = lo + 1;
    int cmap = o->cmap >= 0 ? o->cmap : o->sign ? DRAW_CMAP_DIVERGING : DRAW_CMAP_JET;
    double alpha = o->alpha >= 0 ? o->alpha : img ? 0.5 : 1.0;
    int ih = img ? (int)img->dims[2] : mh, iw = img ? (int)img->dims[3] : mw;
    int ic = img ? (int)img->dims[1] : 1;
    if (img && ic != 1 && ic != 3)
        die("%s: images have %d channels (1 or 3 can be drawn)", o->images ? o->images : in->name, ic);
    /* Tiles near 224 pixels so numbers fit in the cells. */
    int scale = o->scale ? o->scale : grid_auto_scale(ih, iw, o->numbers ? 280 : 168);
    int tw = iw * scale, th = ih * scale, pad = o->pad, caph = 0;
    draw_filter mf = o->filter >= 0 ? (draw_filter)o->filter
                                    : o->numbers ? DRAW_NEAREST : DRAW_BILINEAR;
    draw_filter imf = iw * scale >= 2 * iw && iw < 64 ? DRAW_NEAREST : DRAW_BILINEAR;
    char **caps = NULL;
    if (o->caption != CAP_NONE) {
        caps = xcalloc((size_t)n, sizeof *caps);
        for (int64_t i = 0; i < n; i++)
            if ((caps[i] = rows_caption(&m, o->caption, i)))
                caph = GRID_CAPTION_H;
    }
    const char *fmt = o->numbers ? (o->format ? o->format : "%.0f") : NULL;
    int cbw = 74;   /* colour bar with tick labels */
    int cols = o->cols ? o->cols : grid_auto_cols(n, 8);
    int64_t nout = o->each ? n : 1;
    for (int64_t k = 0; k < nout; k++) {
        int64_t first = o->each ? k : 0, cnt = o->each ? 1 : n;
        int cc = o->each ? 1 : cols;
        int64_t rows = (cnt + cc - 1) / cc;
        int gh = (int)(rows * (th + caph + pad));
        if (rows * (th + caph + pad) + 2 * pad > 32767)
            die("%lld maps do not fit in one picture (use --range, --scale or --each)",
                (long long)cnt);
        int H = pad + (gh < 140 ? 140 : gh) + 14;
        draw_canvas *cv = draw_new(pad + cc * (tw + pad) + cbw, H);
        for (int64_t j = 0; j < cnt; j++) {
            int64_t i = first + j;
            double x = pad + (j % cc) * (tw + pad), y = pad + (double)(j / cc) * (th + caph + pad);
            if (img)
                draw_image(cv, img->data + i * ic * ih * iw, ic, ih, iw, x, y, tw, th, imf, 0, 1,
                           DRAW_CMAP_GRAY);
            draw_map(cv, maps->data + i * mh * mw, mh, mw, x, y, tw, th, mf, (float)lo,
                     (float)hi, cmap, alpha, fmt, 1.0);
            if (caps && caps[i])
                grid_caption(cv, caps[i], x + tw / 2.0, y + th, tw);
        }
        int cbh = gh - pad - caph < 120 ? 120 : gh - pad - caph;
        draw_colorbar(cv, pad + cc * (tw + pad) + 6, pad, 14, cbh, cmap, lo, hi, NULL);
        if (o->each) {
            char *p = rows_each_path(o, &m, k);
            draw_write_png(cv, p);
            free(p);
        } else
            draw_write_png(cv, o->co.output);
        draw_free(cv);
    }
    for (int64_t i = 0; caps && i < n; i++)
        free(caps[i]);
    free(caps);
    tensor_free(img);
    tensor_free(maps);
    rows_meta_free(&m);
    h5in_close(in);
}
