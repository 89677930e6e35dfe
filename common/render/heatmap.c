/* heatmap: cnn-render heatmap (see render.h and cnn-render(1)). Maps
 * (/maps, or with --attr the RGB /attr) of one or several maps files, one
 * column per file, upsampled over their images, with a colour bar right
 * of the tiles.
 *
 * Value range of a set S of values (a map with --normalize tile, all drawn
 * maps with global): c = max |v| over S, or with --clip P the (100-P)th
 * percentile of |v| over S (num_percentile: numpy.percentile's linear
 * rule). Signed data (some value below 0, or --signed) draw over [-c, c];
 * unsigned over [min S, c] (without --clip: [min S, max S]); --vmin and
 * --vmax replace the ends. A range with hi <= lo becomes [lo, lo + 1].
 * A value v is then the colour map's entry of t = (v - lo) / (hi - lo)
 * (colormap.h); --attr draws the three channels as RGB 0.5 + 0.5 v / c. */
#include "render/grid.h"
#include "render/render.h"
#include "render/rows.h"
#include "base/numeric.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROWLAB_W 128        /* row labels left of the tiles (several files) */
#define COLTITLE_H 20       /* column titles above the tiles (several files) */
#define CBAR_W 74           /* colour bar with its tick labels */

/* One maps file: a column of the picture. */
typedef struct hm_col {
    h5in *in;
    tensor *v;              /* rows x c x h x w, the values drawn */
    char *title;
} hm_col;

typedef struct hm {
    const render_opts *o;
    hm_col *col;
    int k;                  /* files */
    int64_t a, b, n;        /* rows [a, b) */
    int c, h, w;            /* values per row: c = 1 (maps) or 3 (--attr) */
    row_meta m;
    tensor *img;            /* n x ic x ih x iw, or NULL */
    int sign;               /* signed data */
    int cmap;
    double *lo, *hi;        /* range of (column j, row i) at j * n + i */
    int one_range;          /* every tile has the same range */
    char **rowlab;          /* n: captions, or NULL */
} hm;

/* The dataset of --attr (N x 3 x H x W) or of /maps (N x H x W, or
 * N x 1 x H x W); dims get N, C, H, W. */
static void value_dims(const render_opts *o, h5in *in, int64_t *d)
{
    const char *ds = o->attr ? "/attr" : "/maps";
    if (!h5in_has(in, ds))
        die("%s: no dataset '%s'%s", in->name, ds,
            o->attr ? " (--attr draws cnn-saliency's /attr)" : "");
    int64_t dims[TENSOR_MAXDIM];
    int nd = h5in_dims(in, ds, dims);
    if (o->attr && (nd != 4 || dims[1] != 3))
        die("%s: '/attr' is not N x 3 x H x W (--attr draws RGB attributions)", in->name);
    if (!o->attr && nd == 4 && dims[1] == 1) {
        dims[1] = dims[2];
        dims[2] = dims[3];
        nd = 3;
    }
    if (!o->attr && nd != 3)
        die("%s: '/maps' has %d dimensions (expected N x H x W; reduce channels first)",
            in->name, nd);
    d[0] = dims[0];
    d[1] = o->attr ? 3 : 1;
    d[2] = dims[nd - 2];
    d[3] = dims[nd - 1];
    if (d[2] < 1 || d[3] < 1 || d[2] > 4096 || d[3] > 4096)
        die("%s: '%s' of %lldx%lld cannot be drawn", in->name, ds, (long long)d[2],
            (long long)d[3]);
}

/* --change: each row's map minus its /baseline (the clean image's score),
 * for maps of raw scores (cnn-occlude --output raw). */
static void to_change(hm_col *cl, int64_t a, int64_t n)
{
    h5in *in = cl->in;
    char *out = h5in_attr_str(in, "/", "output");
    if (out && strcmp(out, "raw"))
        die("%s: maps are already relative to the baseline (output=%s; --change needs "
            "cnn-occlude --output raw)", in->name, out);
    free(out);
    if (!h5in_has(in, "/baseline") || h5in_nrows(in, "/baseline") < a + n)
        die("%s: no '/baseline' for every row (--change needs cnn-occlude's maps)", in->name);
    tensor *bt = h5in_read_rows(in, "/baseline", a, n);
    int64_t per = tensor_rowsize(cl->v);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < per; j++)
            cl->v->data[i * per + j] -= bt->data[i];
    tensor_free(bt);
}

/* A column's automatic title: the maps' method ("guided", "occlusion", ...). */
static char *auto_title(h5in *in)
{
    char *m = h5in_attr_str(in, "/", "method");
    return m ? m : xstrdup("");
}

static int titles_same(const hm *H)
{
    for (int j = 1; j < H->k; j++)
        if (strcmp(H->col[j].title, H->col[0].title))
            return 0;
    return 1;
}

/* --titles, else the automatic titles; when they are all the same, the
 * targets tell the columns apart, and failing that the file names. */
static void titles(hm *H)
{
    const render_opts *o = H->o;
    for (int j = 0; j < H->k; j++)
        H->col[j].title = o->titles ? xstrdup(o->titles[j]) : auto_title(H->col[j].in);
    if (o->titles || H->k < 2 || !titles_same(H))
        return;
    for (int j = 0; j < H->k; j++) {
        char *t = h5in_attr_str(H->col[j].in, "/", "target");
        free(H->col[j].title);
        H->col[j].title = t ? t : xstrdup("");
    }
    if (!titles_same(H))
        return;
    for (int j = 0; j < H->k; j++) {
        const char *name = H->col[j].in->name, *s = strrchr(name, '/');
        free(H->col[j].title);
        H->col[j].title = xstrdup(s ? s + 1 : name);
    }
}

/* Every file opened, checked and read: the same rows (and /ids) as the
 * first, the same shape of values. */
static void read_columns(hm *H)
{
    const render_opts *o = H->o;
    int64_t d0[4] = { 0 }, d[4] = { 0 };
    H->col = xcalloc((size_t)H->k, sizeof *H->col);
    for (int j = 0; j < H->k; j++) {
        hm_col *cl = &H->col[j];
        cl->in = j ? rows_companion(o, o->inputs[j], o->attr ? "/attr" : "/maps", H->col[0].in,
                                    &H->m, H->a, H->b)
                   : h5in_open(o->input);
        h5in_require_kind(cl->in, "maps");
        value_dims(o, cl->in, j ? d : d0);
        if (!j) {
            rows_select(o, d0[0], &H->a, &H->b);
            H->n = H->b - H->a;
            if (H->n * H->k > 5000)
                die("%s: %lld maps are too many for one picture (choose some with --range)",
                    cl->in->name, (long long)(H->n * H->k));
            rows_meta_read(o, cl->in, H->a, H->b, &H->m);
        } else if (memcmp(d + 1, d0 + 1, 3 * sizeof *d))
            die("%s: maps of %lldx%lld, but %s has %lldx%lld", cl->in->name, (long long)d[2],
                (long long)d[3], H->col[0].in->name, (long long)d0[2], (long long)d0[3]);
        cl->v = h5in_read_rows(cl->in, o->attr ? "/attr" : "/maps", H->a, H->n);
        if (o->change)
            to_change(cl, H->a, H->n);
    }
    H->c = (int)d0[1], H->h = (int)d0[2], H->w = (int)d0[3];
    titles(H);
}

/* The range of a set of values, S = the rows [i0, i0 + cnt) of every
 * column in cols (see the top of this file). */
static void set_range(const hm *H, int j0, int j1, int64_t i0, int64_t cnt, double *lo,
                      double *hi)
{
    const render_opts *o = H->o;
    int64_t per = (int64_t)H->c * H->h * H->w, tot = (j1 - j0) * cnt * per, k = 0;
    float *v = xmalloc((size_t)tot * sizeof *v);
    for (int j = j0; j < j1; j++) {
        memcpy(v + k, H->col[j].v->data + i0 * per, (size_t)(cnt * per) * sizeof *v);
        k += cnt * per;
    }
    cmap_range(v, tot, H->sign, o->clip, lo, hi);
    if (o->has_vmin)
        *lo = o->vmin;
    if (o->has_vmax)
        *hi = o->vmax;
    if (*hi <= *lo)
        *hi = *lo + 1;
    free(v);
}

/* Sign, colour map and the range of every tile. */
static void ranges(hm *H)
{
    const render_opts *o = H->o;
    int64_t per = (int64_t)H->c * H->h * H->w;
    H->sign = o->sign == SIGN_SIGNED || o->attr;
    for (int j = 0; j < H->k && o->sign == SIGN_AUTO && !H->sign; j++) {
        double a, b;
        num_minmax(H->col[j].v->data, H->n * per, &a, &b);
        H->sign = a < 0;
    }
    H->cmap = o->cmap >= 0 ? o->cmap : H->sign ? DRAW_CMAP_DIVERGING : DRAW_CMAP_VIRIDIS;
    int tile = o->normalize == NORM_TILE || (o->normalize == NORM_DEFAULT && H->k > 1);
    H->one_range = !tile;
    H->lo = xmalloc((size_t)(H->k * H->n) * sizeof *H->lo);
    H->hi = xmalloc((size_t)(H->k * H->n) * sizeof *H->hi);
    double glo = 0, ghi = 1;
    if (!tile)
        set_range(H, 0, H->k, 0, H->n, &glo, &ghi);
    for (int j = 0; j < H->k; j++)
        for (int64_t i = 0; i < H->n; i++) {
            double *lo = &H->lo[j * H->n + i], *hi = &H->hi[j * H->n + i];
            *lo = glo, *hi = ghi;
            if (tile)
                set_range(H, j, j + 1, i, 1, lo, hi);
        }
}

/* --list: the columns' titles, the rows' labels and every tile's range,
 * tab-separated, instead of a picture. */
static void list(const hm *H)
{
    for (int j = 0; j < H->k; j++)
        printf("column\t%d\t%s\n", j, H->col[j].title);
    for (int64_t i = 0; i < H->n; i++)
        printf("row\t%lld\t%s\n", (long long)i, H->rowlab && H->rowlab[i] ? H->rowlab[i] : "");
    for (int j = 0; j < H->k; j++)
        for (int64_t i = 0; i < H->n; i++)
            printf("range\t%d\t%lld\t%.9g\t%.9g\n", j, (long long)i, H->lo[j * H->n + i],
                   H->hi[j * H->n + i]);
    printf("cmap\t%d\t%s\n", H->cmap, H->sign ? "signed" : "unsigned");
    cli_flush_stdout();
}

typedef struct hm_layout {
    int tw, th, pad, caph, left, top, cc, scale;
    draw_filter mf, imf;
} hm_layout;

static hm_layout layout(const hm *H)
{
    const render_opts *o = H->o;
    hm_layout L = { 0 };
    int ih = H->img && !o->attr ? (int)H->img->dims[2] : H->h;
    int iw = H->img && !o->attr ? (int)H->img->dims[3] : H->w;
    /* Tiles near 168 pixels, 280 with numbers so they fit in the cells. */
    L.scale = o->scale ? o->scale : grid_auto_scale(ih, iw, o->numbers ? 280 : 168);
    L.tw = iw * L.scale, L.th = ih * L.scale, L.pad = o->pad;
    L.mf = o->filter >= 0 ? (draw_filter)o->filter : o->numbers ? DRAW_NEAREST : DRAW_BILINEAR;
    L.imf = iw * L.scale >= 2 * iw && iw < 64 ? DRAW_NEAREST : DRAW_BILINEAR;
    for (int64_t i = 0; H->k == 1 && H->rowlab && i < H->n; i++)
        if (H->rowlab[i])
            L.caph = GRID_CAPTION_H;
    L.left = H->k > 1 && H->rowlab ? ROWLAB_W : 0;
    L.top = H->k > 1 ? COLTITLE_H : 0;
    L.cc = H->k > 1 ? H->k : o->cols ? o->cols : grid_auto_cols(H->n, 8);
    return L;
}

/* Tile of row i, column j at (x, y). */
static void draw_cell(draw_canvas *cv, const hm *H, const hm_layout *L, int j, int64_t i,
                      double x, double y)
{
    const render_opts *o = H->o;
    const float *v = H->col[j].v->data + i * H->c * H->h * H->w;
    double lo = H->lo[j * H->n + i], hi = H->hi[j * H->n + i];
    if (o->attr) {
        draw_image(cv, v, 3, H->h, H->w, x, y, L->tw, L->th, L->imf, (float)lo, (float)hi,
                   DRAW_CMAP_GRAY);
        return;
    }
    double alpha = o->alpha >= 0 ? o->alpha : H->img ? 0.5 : 1.0;
    if (H->img) {
        int ic = (int)H->img->dims[1], ih = (int)H->img->dims[2], iw = (int)H->img->dims[3];
        draw_image(cv, H->img->data + i * ic * ih * iw, ic, ih, iw, x, y, L->tw, L->th, L->imf,
                   0, 1, DRAW_CMAP_GRAY);
    }
    const char *fmt = o->numbers ? (o->format ? o->format : "%.0f") : NULL;
    draw_map(cv, v, H->h, H->w, x, y, L->tw, L->th, L->mf, (float)lo, (float)hi, H->cmap, alpha,
             fmt, 1.0);
}

/* The labels of row i left of its tiles, one caption field a line. */
static void row_label(draw_canvas *cv, const hm *H, const hm_layout *L, int64_t i, double y)
{
    static const double black[3] = { 0, 0, 0 };
    const render_opts *o = H->o;
    int nl = 0;
    char *lines[CAP_MAX];
    for (int f = 0; f < o->ncaptions; f++)
        if ((lines[nl] = rows_caption(&H->m, o->captions[f], i)))
            nl++;
    double y0 = y + L->th / 2.0 - nl * 15 / 2.0 + 11;
    for (int f = 0; f < nl; f++) {
        char *s = draw_text_fit(cv, 11, f == 0, lines[f], L->left - 2 * L->pad - 4);
        draw_text(cv, L->pad, y0 + 15 * f, 11, DRAW_LEFT, black, f == 0, s);
        free(s);
        free(lines[f]);
    }
}

/* The colour bar: the values when every tile has one range, else the
 * fraction of each map's range ("per map"). */
static void colorbar(draw_canvas *cv, const hm *H, double x, double y, double h)
{
    const render_opts *o = H->o;
    if (o->attr)
        return;
    if (H->one_range)
        draw_colorbar(cv, x, y, 14, h, H->cmap, H->lo[0], H->hi[0], o->change ? "change" : NULL);
    else
        draw_colorbar(cv, x, y, 14, h, H->cmap, H->sign ? -1 : 0, 1, "per map");
}

/* One picture of rows [first, first + cnt). */
static void draw_rows(const hm *H, const hm_layout *L, int64_t first, int64_t cnt, int64_t out)
{
    static const double black[3] = { 0, 0, 0 };
    const render_opts *o = H->o;
    int cc = H->k > 1 ? H->k : o->each ? 1 : L->cc;
    int64_t tiles = H->k > 1 ? cnt * H->k : cnt, rows = (tiles + cc - 1) / cc;
    int rh = L->th + L->caph + L->pad;
    if (rows * rh + 2 * L->pad + L->top > 32767)
        die("%lld maps do not fit in one picture (use --range, --scale or --each)",
            (long long)tiles);
    int gh = (int)(rows * rh), barlab = !H->one_range || o->change ? 16 : 0;
    draw_canvas *cv = draw_new(L->left + L->pad + cc * (L->tw + L->pad) + (o->attr ? 0 : CBAR_W),
                               L->top + L->pad + (o->attr ? gh : (gh < 140 ? 140 : gh) + 14 + barlab));
    for (int j = 0; j < H->k && H->k > 1; j++) {
        char *s = draw_text_fit(cv, 12, 1, H->col[j].title, L->tw);
        draw_text(cv, L->left + L->pad + j * (L->tw + L->pad) + L->tw / 2.0, L->top - 5, 12,
                  DRAW_CENTER, black, 1, s);
        free(s);
    }
    for (int64_t t = 0; t < tiles; t++) {
        int64_t i = first + (H->k > 1 ? t / H->k : t);
        int j = H->k > 1 ? (int)(t % H->k) : 0;
        double x = L->left + L->pad + (t % cc) * (L->tw + L->pad);
        double y = L->top + L->pad + (double)(t / cc) * rh;
        draw_cell(cv, H, L, j, i, x, y);
        if (H->k == 1 && H->rowlab && H->rowlab[i])
            grid_caption(cv, H->rowlab[i], x + L->tw / 2.0, y + L->th, L->tw);
        if (H->k > 1 && j == 0 && L->left)
            row_label(cv, H, L, i, y);
    }
    int cbh = gh - L->pad - L->caph < 120 ? 120 : gh - L->pad - L->caph;
    colorbar(cv, H, L->left + L->pad + cc * (L->tw + L->pad) + 6, L->top + L->pad, cbh);
    rows_emit(o, &H->m, out, cv);
    draw_free(cv);
}

static void labels(hm *H)
{
    const render_opts *o = H->o;
    if (o->caption == CAP_NONE)
        return;
    H->rowlab = xcalloc((size_t)H->n, sizeof *H->rowlab);
    int any = 0;
    for (int64_t i = 0; i < H->n; i++)
        any |= (H->rowlab[i] = rows_caption_list(&H->m, o->captions, o->ncaptions, i)) != NULL;
    if (!any) {
        free(H->rowlab);
        H->rowlab = NULL;
    }
}

void render_heatmap(const render_opts *o)
{
    hm H = { 0 };
    H.o = o;
    H.k = o->ninputs > 0 ? o->ninputs : 1;
    read_columns(&H);
    if (!o->attr)
        H.img = rows_images_for(o, H.col[0].in, &H.m, H.a, H.b);
    else if (o->images) {   /* only for its /paths: --attr draws no photo */
        h5in *im = rows_companion(o, o->images, "/images", H.col[0].in, &H.m, H.a, H.b);
        rows_meta_paths(&H.m, im);
        h5in_close(im);
    }
    if (H.img && H.img->dims[1] != 1 && H.img->dims[1] != 3)
        die("%s: images have %lld channels (1 or 3 can be drawn)",
            o->images ? o->images : H.col[0].in->name, (long long)H.img->dims[1]);
    labels(&H);
    ranges(&H);
    if (o->list)
        list(&H);
    else {
        hm_layout L = layout(&H);
        for (int64_t k = 0; k < (o->each ? H.n : 1); k++)
            draw_rows(&H, &L, o->each ? k : 0, o->each ? 1 : H.n, k);
    }
    for (int64_t i = 0; H.rowlab && i < H.n; i++)
        free(H.rowlab[i]);
    free(H.rowlab);
    for (int j = 0; j < H.k; j++) {
        tensor_free(H.col[j].v);
        free(H.col[j].title);
        h5in_close(H.col[j].in);
    }
    free(H.col);
    free(H.lo);
    free(H.hi);
    tensor_free(H.img);
    rows_meta_free(&H.m);
}
