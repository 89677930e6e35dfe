/* cnn-render: pictures from the files the other tools write: image grids
 * with captions, filter grids, labelled scatter plots, heat-map overlays
 * with a colour bar, top-k bar charts. All drawing is in common/render/draw.c;
 * this file picks datasets, lays out tiles and writes the PNG. */
#include "base/numeric.h"
#include "render/actview.h"
#include "base/cli.h"
#include "nn/setup.h"
#include "render/draw.h"
#include "io/actfile.h"
#include "io/h5io.h"
#include "io/pixels.h"
#include "render/report.h"
#include "base/tensor.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage_main[] =
    "Usage: cnn-render COMMAND [OPTION]... [FILE]\n"
    "Draw PNG pictures from cnntools files (FILE or '-' = standard input).\n"
    "\n"
    "Commands:\n"
    "  grid      images file -> montage of tiles with captions\n"
    "  filters   kernels stored as an images file (Cout x Cin x kh x kw) -> filter grid\n"
    "  scatter   features or pca file (N x D) -> scatter plot coloured by label\n"
    "  heatmap   maps file (N x H' x W') -> maps over their images, colour bar\n"
    "  bars      activations file with /probs -> image beside its top-5 classes\n"
    "  activations  activations file -> every feature map of a layer beside the\n"
    "            image, one PNG per image (the Deep Visualization Toolbox view)\n"
    "  html      report definition -> the demo's static HTML page (cnn-render html --help)\n"
    "\n"
    "'cnn-render COMMAND --help' describes each command's options.\n"
    "  -h, --help          this help\n"
    "      --version       version\n"
    "\nExit status: 0 success, 1 failure, 2 usage error.\n";

static const char usage_html[] =
    "Usage: cnn-render html [-o out/index.html] [-q] REPORT.def\n"
    "One static HTML page (inline CSS, relative links, works from file://) from a\n"
    "report definition (format: pipelines/report.def): title, sections, text and\n"
    "figures (PNG, GIF, JPEG as images; MP4, WebM as videos), each with its caption\n"
    "file PATH.txt (line 1 caption, further lines commands) and, for PNGs, the\n"
    "commands stored in the picture (tEXt \"history\"). Figure paths are relative\n"
    "to the page's folder. A missing 'figure' is an error; a missing 'figure?'\n"
    "is noted in the page.\n\n"
    "  -o, --output FILE   page to write (default out/index.html; '-' standard output)\n"
    "  -q, --quiet         no information on stderr\n"
    "  -h, --help          this help\n"
    "      --version       version\n"
    "\nExit status: 0 success, 1 failure, 2 usage error.\n";

#define OUTPUT_HELP \
    "  -o, --output FILE   PNG to write (default: standard output, not a tty)\n" \
    "      --each DIR      one PNG per image in DIR (named by id) instead of one grid\n" \
    "      --range A:B     only rows A..B-1\n" \
    "  -q, --quiet         no information on stderr\n" \
    "  -h, --help          this help\n" \
    "      --version       version\n" \
    "\nExit status: 0 success, 1 failure, 2 usage error.\n"

#define TILE_HELP \
    "      --cols N        tiles per row (default: about square, at most 16)\n" \
    "      --scale N       pixels per image pixel, nearest neighbour (default:\n" \
    "                      so that a tile is about 84 pixels)\n" \
    "      --pad N         pixels between tiles (default 4)\n" \
    "      --filter nearest|bilinear  resampling (default nearest)\n" \
    "      --caption none|label|id|score|auto  text under each tile (default auto:\n" \
    "                      score with label when /scores exists, else label, else none)\n"

static const char usage_grid[] =
    "Usage: cnn-render grid [OPTION]... [FILE]\n"
    "Montage of the images (/images, N x C x H x W, C = 1 or 3) of FILE.\n"
    "Captions come from /labels and /classes (\"8\", \"cat\"), /ids and /scores\n"
    "(\"8 (0.97)\").\n\n"
    TILE_HELP
    "      --normalize none|tile|global  stretch values to the full range per tile\n"
    "                      or over all tiles (default none: values are in [0,1])\n"
    CLI_IMAGE_HELP
    "      --signed        signed values: symmetric range around 0, one-channel\n"
    "                      tiles in the diverging blue-white-red map\n"
    "      --cmap NAME     one-channel colour map: gray (default), viridis, diverging, jet\n"
    OUTPUT_HELP;

static const char usage_filters[] =
    "Usage: cnn-render filters [OPTION]... [FILE]\n"
    "Grid of a convolution's kernels stored as an images file (/images,\n"
    "Cout x Cin x kh x kw; cnn-extract-layer --weights writes one). Each filter\n"
    "is normalised on its own. Cin = 3 gives RGB tiles; Cin = 1 gray tiles;\n"
    "otherwise one row per filter with one tile per input channel.\n\n"
    TILE_HELP
    "      --normalize tile|global|none  (default tile: per filter)\n"
    "      --signed        symmetric range around 0, diverging colour map\n"
    "      --cmap NAME     one-channel colour map (default gray)\n"
    OUTPUT_HELP;

static const char usage_scatter[] =
    "Usage: cnn-render scatter [OPTION]... [FILE]\n"
    "Scatter plot of two columns of a features or pca file, coloured by /labels\n"
    "with a legend from /classes. Axis titles show the explained variance\n"
    "ratio when /explained_variance_ratio exists (\"PC1 (12.3%)\").\n\n"
    "      --dims I,J      columns to plot, from 1 (default 1,2)\n"
    "      --dset NAME     dataset to plot (default /projections, else /features)\n"
    "      --title TEXT    title (default: \"PCA of LAYER\" from the layer attribute,\n"
    "                      else the file name; '' for none)\n"
    "      --size WxH      picture size (default 760x560)\n"
    "      --radius R      point radius in pixels (default 2.5)\n"
    OUTPUT_HELP;

static const char usage_heatmap[] =
    "Usage: cnn-render heatmap [OPTION]... [FILE]\n"
    "Maps (/maps, N x H' x W', from cnn-occlude or cnn-saliency) upsampled over\n"
    "their images (/images of FILE, or --images) with a colour bar.\n\n"
    "      --images FILE   images file with the same rows as the maps\n"
    "      --numbers       print each cell's value (as the lecture's \"Occluding 8\")\n"
    "      --format FMT    printf format of the numbers (default %.0f)\n"
    "      --signed        diverging colour map over a range symmetric around 0\n"
    "      --cmap NAME     jet (default), viridis, gray, diverging\n"
    "      --alpha A       opacity of the map over the image (default 0.5; 1 without images)\n"
    "      --vmin V, --vmax V  colour map range (default: over all drawn maps)\n"
    CLI_IMAGE_HELP
    TILE_HELP
    OUTPUT_HELP;

static const char usage_bars[] =
    "Usage: cnn-render bars [OPTION]... [FILE]\n"
    "Each image beside a bar chart of its top classes (/probs, N x K, with\n"
    "/classes); the true class (/labels) is drawn in green.\n\n"
    "      --images FILE   images file with the same rows (activations files\n"
    "                      often carry no /images)\n"
    "  -k, --top K         bars per image (default 5)\n"
    "      --cols N        panels per row (default 2)\n"
    CLI_IMAGE_HELP
    OUTPUT_HELP;

static const char usage_activations[] =
    "Usage: cnn-render activations -l LAYER [OPTION]... [FILE]\n"
    "The Deep Visualization Toolbox view of each image of an activations file\n"
    "(cnn-forward -l LAYER): all the layer's feature maps (/act/LAYER, N x C x H x W)\n"
    "as a grid of tiles, channel k at column k % cols, row k / cols, beside the\n"
    "input image with its top-1 class (/topk_idx, /topk_prob or /pred, /classes).\n"
    "With --unit, a strip under it shows that channel's map over the image, its\n"
    "projection for this image (--projection) and its top dataset patches (--patches).\n"
    "A tile's value v is drawn as t = (v - lo) / (hi - lo) clipped to [0,1], pixel\n"
    "round(255 t) of the colour map, [lo, hi] as --normalize says.\n\n"
    "  -l, --layer LAYER   the layer (a group member of /act; needs spatial maps)\n"
    "      --images FILE   images file with the same rows (default: FILE's /images)\n"
    "      --normalize global|tile|none  [lo, hi]: min and max over all the\n"
    "                      image's maps (global, default), of each map (tile), or\n"
    "                      [0, 1] (none)\n"
    "      --vmin V, --vmax V  a fixed [lo, hi] for every image (no flicker in videos)\n"
    "      --cmap NAME     gray (default), viridis, jet, diverging\n"
    "      --scale N       pixels per map pixel (default: grid about 640 pixels wide)\n"
    "      --cols N        tiles per row (default: about square)\n"
    "      --pad N         pixels between tiles (default 2)\n"
    "      --highlight     outline the strongest map (largest value) in red\n"
    "      --label WORD    the title names the row as WORD ID (default: image)\n"
    CLI_IMAGE_HELP
    "      --unit C        channel C's panel; its tile is outlined in blue\n"
    "      --projection F  maps file of cnn-saliency -t unit=LAYER:C (guided or\n"
    "                      deconvnet), same rows: its /attr is drawn as\n"
    "                      0.5 + 0.5 v / max|v|\n"
    "      --patches F     cnn-patches file of LAYER: the first 9 patches of channel C\n"
    "  -o, --output FILE   PNG to write; with several images a pattern with one\n"
    "                      %d (printf, e.g. frames/%05d.png) that takes each row's\n"
    "                      id (/ids, else its row number)\n"
    "      --each DIR      one PNG per image in DIR, named by id (%06d.png)\n"
    "      --range A:B     only rows A..B-1\n"
    "  -q, --quiet         no information on stderr\n"
    "  -h, --help          this help\n"
    "      --version       version\n"
    "\nExit status: 0 success, 1 failure, 2 usage error.\n";

enum { CAP_AUTO, CAP_NONE, CAP_LABEL, CAP_ID, CAP_SCORE };
enum { NORM_DEFAULT = -1, NORM_NONE, NORM_TILE, NORM_GLOBAL };

enum {
    OPT_COLS = 2000, OPT_SCALE, OPT_PAD, OPT_CAPTION, OPT_NORMALIZE, OPT_SIGNED,
    OPT_CMAP, OPT_FILTER, OPT_EACH, OPT_DIMS, OPT_DSET, OPT_TITLE, OPT_SIZE,
    OPT_RADIUS, OPT_IMAGES, OPT_NUMBERS, OPT_FORMAT, OPT_ALPHA, OPT_VMIN, OPT_VMAX,
    OPT_HIGHLIGHT, OPT_UNIT, OPT_PROJECTION, OPT_PATCHES, OPT_LABEL,
};

typedef struct ropts {
    struct cli_common co;
    const char *cmd, *input, *images, *each, *dset, *title, *format;
    int cols, scale, pad, caption, normalize, sign, cmap, filter, numbers, topk;
    int dimx, dimy, width, height;
    double radius, alpha, vmin, vmax;
    int has_vmin, has_vmax;
    const char *layer, *projection, *patches, *label;   /* activations */
    int unit, highlight, pad_set;
} ropts;

/* ---- input helpers -------------------------------------------------- */

typedef struct meta {
    int64_t n;              /* rows selected */
    int64_t a;              /* first row */
    int64_t *ids;           /* n, or NULL */
    int32_t *labels;        /* n, or NULL */
    char **classes;
    int nclasses;
    float *scores;          /* n, or NULL */
} meta;

static void meta_read(h5in *in, int64_t a, int64_t b, meta *m)
{
    memset(m, 0, sizeof *m);
    m->a = a;
    m->n = b - a;
    if (h5in_has(in, "/ids") && h5in_nrows(in, "/ids") >= b)
        m->ids = h5in_read_i64(in, "/ids", a, b - a);
    if (h5in_has(in, "/labels") && h5in_nrows(in, "/labels") >= b)
        m->labels = h5in_read_i32(in, "/labels", a, b - a);
    if (h5in_has(in, "/classes"))
        m->classes = h5in_read_strings(in, "/classes", &m->nclasses);
    if (h5in_has(in, "/scores") && h5in_nrows(in, "/scores") >= b) {
        /* One score per row; of a 2-D /scores the first column. */
        tensor *t = h5in_read_rows(in, "/scores", a, b - a);
        int64_t rs = tensor_rowsize(t);
        m->scores = xmalloc((size_t)m->n * sizeof *m->scores);
        for (int64_t i = 0; i < m->n; i++)
            m->scores[i] = t->data[i * rs];
        tensor_free(t);
    }
}

static void meta_free(meta *m)
{
    free(m->ids);
    free(m->labels);
    free(m->scores);
    if (m->classes)
        cli_free_list(m->classes, m->nclasses);
}

static const char *class_name(const meta *m, int32_t k, char *buf, size_t n)
{
    if (m->classes && k >= 0 && k < m->nclasses && m->classes[k][0])
        return m->classes[k];
    snprintf(buf, n, "%d", k);
    return buf;
}

/* Caption for row i under the chosen mode (malloc'd, or NULL). */
static char *caption(const meta *m, int mode, int64_t i)
{
    char buf[256], nb[32];
    if (mode == CAP_AUTO)
        mode = m->scores ? CAP_SCORE : m->labels ? CAP_LABEL : CAP_NONE;
    switch (mode) {
    case CAP_LABEL:
        if (!m->labels)
            return NULL;
        return xstrdup(class_name(m, m->labels[i], nb, sizeof nb));
    case CAP_ID:
        snprintf(buf, sizeof buf, "%lld", (long long)(m->ids ? m->ids[i] : m->a + i));
        return xstrdup(buf);
    case CAP_SCORE:
        if (!m->scores)
            return NULL;
        /* Two decimals, but a small score (a probability of 3e-05) keeps
         * its digits instead of printing as 0.00. */
        if (m->labels)
            snprintf(buf, sizeof buf,
                     m->scores[i] != 0 && fabsf(m->scores[i]) < 0.01f ? "%s (%.1e)" : "%s (%.2f)",
                     class_name(m, m->labels[i], nb, sizeof nb), m->scores[i]);
        else
            snprintf(buf, sizeof buf, "%.3g", m->scores[i]);
        return xstrdup(buf);
    }
    return NULL;
}

/* Rows [a, b) of the input after --range. */
static void rows_of(const ropts *o, int64_t n, int64_t *a, int64_t *b)
{
    *a = o->co.range_a;
    *b = o->co.range_b;
    cli_range_resolve(n, a, b);
    if (*b <= *a)
        die("no rows selected (--range is empty)");
}

/* /images as N x C x H x W (3-D files are N x H x W gray). */
static tensor *read_images(h5in *in, int64_t a, int64_t b)
{
    if (!h5in_has(in, "/images"))
        die("%s: no dataset '/images' (not an images file)", in->name);
    int64_t dims[TENSOR_MAXDIM];
    int nd = h5in_dims(in, "/images", dims);
    if (nd != 3 && nd != 4)
        die("%s: '/images' has %d dimensions (expected N x C x H x W)", in->name, nd);
    tensor *t = pixels_read(in, a, b - a);
    if (nd == 3) {
        t->ndim = 4;
        t->dims[3] = t->dims[2];
        t->dims[2] = t->dims[1];
        t->dims[1] = 1;
    }
    if (t->dims[2] < 1 || t->dims[3] < 1 || t->dims[2] > 8192 || t->dims[3] > 8192)
        die("%s: '/images' of %lldx%lld pixels cannot be drawn", in->name,
            (long long)t->dims[2], (long long)t->dims[3]);
    return t;
}

static void check_each_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode))
        die("%s: not a folder (--each needs an existing folder)", dir);
}

static char *each_path(const ropts *o, const meta *m, int64_t i)
{
    size_t n = strlen(o->each) + 40;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%06lld.png", o->each, (long long)(m->ids ? m->ids[i] : m->a + i));
    return p;
}

/* ---- tiles ---------------------------------------------------------- */

static const double black[3] = { 0, 0, 0 };

typedef struct tileset {
    const float *data;      /* ntiles tiles of c x h x w */
    int64_t ntiles;
    int c, h, w;
    int group;              /* tiles normalised together (a filter's channels) */
    char **captions;        /* ntiles, entries may be NULL; or NULL */
} tileset;

#define CAPTION_H 16

static int auto_scale(int h, int w, int target)
{
    int m = h > w ? h : w, s = (target + m / 2) / m;
    return s < 1 ? 1 : s;
}

static int auto_cols(int64_t n, int max)
{
    int c = (int)ceil(sqrt((double)n));
    return c > max ? max : c < 1 ? 1 : c;
}

/* Value range of tiles [t0, t0+cnt) under the options. */
static void tile_range(const ropts *o, const tileset *ts, int64_t t0, int64_t cnt,
                       float *lo, float *hi)
{
    size_t ts_n = (size_t)ts->c * ts->h * ts->w;
    double a = 0, b = 1;
    if (o->normalize == NORM_NONE) {
        if (o->sign)
            a = -1;
    } else {
        num_minmax(ts->data + t0 * ts_n, cnt * (int64_t)ts_n, &a, &b);
        if (o->sign) {
            double m = fmax(fabs(a), fabs(b));
            a = -m;
            b = m;
        }
        if (b <= a)
            b = a + 1;
    }
    *lo = (float)a;
    *hi = (float)b;
}

/* Caption centred under a tile: a smaller font before shortening, since a
 * 28-pixel digit at scale 2 leaves little room for "8 (0.97)". */
/* cx: the tile's centre; w: the room the text may take. */
static void tile_caption(draw_canvas *cv, const char *text, double cx, double y, double w)
{
    double size = 11;
    while (size > 8 && draw_text_width(cv, size, 0, text) > w)
        size -= 1;
    char *s = draw_text_fit(cv, size, 0, text, w);
    draw_text(cv, cx, y + 12, size, DRAW_CENTER, black, 0, s);
    free(s);
}

static void draw_tile(draw_canvas *cv, const ropts *o, const tileset *ts, int64_t t,
                      float lo, float hi, double x, double y, int scale)
{
    size_t ts_n = (size_t)ts->c * ts->h * ts->w;
    int c = ts->c == 3 ? 3 : 1;
    draw_image(cv, ts->data + t * ts_n, c, ts->h, ts->w, x, y,
               (double)ts->w * scale, (double)ts->h * scale,
               o->filter ? DRAW_BILINEAR : DRAW_NEAREST, lo, hi, o->cmap);
    if (ts->captions && ts->captions[t])
        tile_caption(cv, ts->captions[t], x + ts->w * scale / 2.0, y + ts->h * scale,
                     ts->w * scale + o->pad);
}

static void render_tiles(const ropts *o, const tileset *ts, const meta *m, const char *out)
{
    int scale = o->scale ? o->scale : auto_scale(ts->h, ts->w, 84);
    int cols = o->cols ? o->cols : ts->group > 1 ? ts->group : auto_cols(ts->ntiles, 16);
    int caph = 0;
    for (int64_t t = 0; ts->captions && t < ts->ntiles; t++)
        if (ts->captions[t])
            caph = CAPTION_H;
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
            char *p = each_path(o, m, r);
            draw_write_png(cv, p);
            free(p);
            draw_free(cv);
        }
        return;
    }
    int64_t rows = (ts->ntiles + cols - 1) / cols;
    if (rows > 32767 || (int64_t)cols * (tw + pad) + pad > 32767 ||
        rows * (th + caph + pad) + pad > 32767)
        die("%lld tiles of %dx%d pixels do not fit in one picture (use --range, --scale or --each)",
            (long long)ts->ntiles, tw, th);
    draw_canvas *cv = draw_new(pad + cols * (tw + pad), (int)(pad + rows * (th + caph + pad)));
    for (int64_t g = 0; g * ts->group < ts->ntiles; g++) {
        float lo = glo, hi = ghi;
        if (o->normalize == NORM_TILE)
            tile_range(o, ts, g * ts->group, ts->group, &lo, &hi);
        for (int64_t k = 0; k < ts->group; k++) {
            int64_t t = g * ts->group + k;
            draw_tile(cv, o, ts, t, lo, hi, pad + (t % cols) * (tw + pad),
                      pad + (double)(t / cols) * (th + caph + pad), scale);
        }
    }
    draw_write_png(cv, out);
    draw_free(cv);
}

static void cmd_grid(ropts *o, int filters)
{
    h5in *in = h5in_open(o->input);
    int64_t dims[TENSOR_MAXDIM];
    if (!h5in_has(in, "/images"))
        die("%s: no dataset '/images' (not an images file)", in->name);
    int64_t a, b;
    h5in_dims(in, "/images", dims);
    rows_of(o, dims[0], &a, &b);
    if (b - a > 20000 || (b - a) * shape_numel(3, dims + 1, INT64_MAX / 2) > ((int64_t)1 << 28))
        die("%s: %lld images of %s are too many for one picture (choose some with --range)",
            in->name, (long long)(b - a), tensor_shape_str(3, dims + 1, (char[64]){0}, 64));
    tensor *img = read_images(in, a, b);
    meta m;
    meta_read(in, a, b, &m);
    tileset ts = { img->data, img->dims[0], (int)img->dims[1], (int)img->dims[2],
                   (int)img->dims[3], 1, NULL };
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
            ts.captions[i] = caption(&m, cap, i);
    }
    render_tiles(o, &ts, &m, o->co.output);
    if (ts.captions) {
        for (int64_t i = 0; i < ts.ntiles; i++)
            free(ts.captions[i]);
        free(ts.captions);
    }
    meta_free(&m);
    tensor_free(img);
    h5in_close(in);
}

/* ---- scatter -------------------------------------------------------- */

static void cmd_scatter(ropts *o)
{
    h5in *in = h5in_open(o->input);
    h5in_require_kind(in, "features,pca");
    const char *dset = o->dset;
    if (!dset)
        dset = h5in_has(in, "/projections") ? "/projections" : "/features";
    if (!h5in_has(in, dset))
        die("%s: no dataset '%s' (a features or pca file has /features or /projections)",
            in->name, dset);
    int64_t dims[TENSOR_MAXDIM];
    int nd = h5in_dims(in, dset, dims);
    if (nd != 2)
        die("%s: '%s' has %d dimensions (expected N x D)", in->name, dset, nd);
    if (o->dimx > dims[1] || o->dimy > dims[1])
        die("%s: --dims %d,%d but '%s' has %lld columns", in->name, o->dimx, o->dimy, dset,
            (long long)dims[1]);
    int64_t a, b;
    rows_of(o, dims[0], &a, &b);
    tensor *t = h5in_read_rows(in, dset, a, b - a);
    meta m;
    meta_read(in, a, b, &m);
    int64_t n = b - a, d = dims[1];
    float *px = xmalloc((size_t)n * sizeof *px), *py = xmalloc((size_t)n * sizeof *py);
    for (int64_t i = 0; i < n; i++) {
        px[i] = t->data[i * d + o->dimx - 1];
        py[i] = t->data[i * d + o->dimy - 1];
    }
    int nclass = 0;
    if (m.labels) {
        for (int64_t i = 0; i < n; i++)
            if (m.labels[i] + 1 > nclass)
                nclass = m.labels[i] + 1;
        if (m.classes && m.nclasses > nclass)
            nclass = m.nclasses;
        if (nclass > 100)
            nclass = 100;
    }
    char *kind = h5in_kind(in);
    int pca = kind && !strcmp(kind, "pca");
    char xl[96], yl[96];
    double ratio[2] = { -1, -1 };
    if (h5in_has(in, "/explained_variance_ratio")) {
        tensor *r = h5in_read(in, "/explained_variance_ratio");
        int64_t k = tensor_numel(r);
        if (o->dimx <= k)
            ratio[0] = r->data[o->dimx - 1];
        if (o->dimy <= k)
            ratio[1] = r->data[o->dimy - 1];
        tensor_free(r);
        pca = 1;
    }
    const char *stem = pca ? "PC" : "feature ";
    int dd[2] = { o->dimx, o->dimy };
    char *lab[2] = { xl, yl };
    for (int i = 0; i < 2; i++) {
        if (ratio[i] >= 0)
            snprintf(lab[i], 96, "%s%d (%.1f%%)", stem, dd[i], ratio[i] * 100);
        else
            snprintf(lab[i], 96, "%s%d", stem, dd[i]);
    }
    /* Default title: the layer the features come from (cnn-extract-layer and
     * cnn-pca keep it as an attribute), else the file's name. */
    char *layer = h5in_attr_str(in, "/", "layer");
    char tbuf[256];
    const char *title = o->title;
    if (!title && layer)
        snprintf(tbuf, sizeof tbuf, "%s%s", pca ? "PCA of " : "", layer), title = tbuf;
    if (!title && strcmp(in->name, "<stdin>")) {
        const char *s = strrchr(in->name, '/');
        title = s ? s + 1 : in->name;
    }
    if (!title)
        title = pca ? "PCA" : "";
    draw_scatter_spec s = { px, py, m.labels, n, nclass, m.classes, xl, yl,
                            title[0] ? title : NULL, o->radius };
    draw_canvas *cv = draw_new(o->width, o->height);
    draw_scatter(cv, 0, 0, o->width, o->height, &s);
    draw_write_png(cv, o->co.output);
    draw_free(cv);
    free(layer);
    free(kind);
    free(px);
    free(py);
    meta_free(&m);
    tensor_free(t);
    h5in_close(in);
}

/* ---- images from a second file -------------------------------------- */

/* Images for rows [a, b): from FILE's own /images, or --images. The ids
 * must agree when both files have them, so a map never lands on the wrong
 * picture. NULL when there are none. */
static tensor *images_for(const ropts *o, h5in *in, const meta *m, int64_t a, int64_t b)
{
    if (!o->images)
        return h5in_has(in, "/images") ? read_images(in, a, b) : NULL;
    if ((!o->input || !strcmp(o->input, "-")) && !strcmp(o->images, "-"))
        die_usage("--images and the input cannot both be standard input");
    h5in *im = setup_open_images(o->images, NULL, &o->co);
    if (!h5in_has(im, "/images"))
        die("%s: no dataset '/images' (not an images file)", im->name);
    int64_t n = h5in_nrows(im, "/images");
    if (n < b)
        die("%s: has %lld images but %s has %lld rows", im->name, (long long)n, in->name,
            (long long)b);
    if (m->ids && h5in_has(im, "/ids") && h5in_nrows(im, "/ids") >= b) {
        int64_t *ids = h5in_read_i64(im, "/ids", a, b - a), i = 0;
        while (i < b - a && ids[i] == m->ids[i])
            i++;
        int64_t bad = i < b - a ? ids[i] : 0;
        free(ids);   /* before dying too: sanitizer builds count it */
        if (i < b - a)
            die("%s: row %lld has id %lld but %s has id %lld (not the same images)",
                im->name, (long long)(a + i), (long long)bad, in->name, (long long)m->ids[i]);
    }
    tensor *t = read_images(im, a, b);
    h5in_close(im);
    return t;
}

/* ---- heatmap -------------------------------------------------------- */

static void cmd_heatmap(ropts *o)
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
    rows_of(o, dims[0], &a, &b);
    if (b - a > 5000)
        die("%s: %lld maps are too many for one picture (choose some with --range)",
            in->name, (long long)(b - a));
    tensor *maps = h5in_read_rows(in, "/maps", a, b - a);
    meta m;
    meta_read(in, a, b, &m);
    tensor *img = images_for(o, in, &m, a, b);
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
    int scale = o->scale ? o->scale : auto_scale(ih, iw, o->numbers ? 280 : 168);
    int tw = iw * scale, th = ih * scale, pad = o->pad, caph = 0;
    draw_filter mf = o->filter >= 0 ? (draw_filter)o->filter
                                    : o->numbers ? DRAW_NEAREST : DRAW_BILINEAR;
    draw_filter imf = iw * scale >= 2 * iw && iw < 64 ? DRAW_NEAREST : DRAW_BILINEAR;
    char **caps = NULL;
    if (o->caption != CAP_NONE) {
        caps = xcalloc((size_t)n, sizeof *caps);
        for (int64_t i = 0; i < n; i++)
            if ((caps[i] = caption(&m, o->caption, i)))
                caph = CAPTION_H;
    }
    const char *fmt = o->numbers ? (o->format ? o->format : "%.0f") : NULL;
    int cbw = 74;   /* colour bar with tick labels */
    int cols = o->cols ? o->cols : auto_cols(n, 8);
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
                tile_caption(cv, caps[i], x + tw / 2.0, y + th, tw);
        }
        int cbh = gh - pad - caph < 120 ? 120 : gh - pad - caph;
        draw_colorbar(cv, pad + cc * (tw + pad) + 6, pad, 14, cbh, cmap, lo, hi, NULL);
        if (o->each) {
            char *p = each_path(o, &m, k);
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
    meta_free(&m);
    h5in_close(in);
}

/* ---- bars ----------------------------------------------------------- */

static void cmd_bars(ropts *o)
{
    h5in *in = h5in_open(o->input);
    if (!h5in_has(in, "/probs"))
        die("%s: no dataset '/probs' (run cnn-forward, which writes class probabilities)",
            in->name);
    int64_t dims[TENSOR_MAXDIM];
    int nd = h5in_dims(in, "/probs", dims);
    if (nd != 2 || dims[1] < 1)
        die("%s: '/probs' has %d dimensions (expected N x K)", in->name, nd);
    int64_t a, b;
    rows_of(o, dims[0], &a, &b);
    if (b - a > 2000)
        die("%s: %lld rows are too many for one picture (choose some with --range)",
            in->name, (long long)(b - a));
    int64_t n = b - a, K = dims[1];
    tensor *p = h5in_read_rows(in, "/probs", a, n);
    meta m;
    meta_read(in, a, b, &m);
    tensor *img = images_for(o, in, &m, a, b);
    int k = o->topk < K ? o->topk : (int)K;
    int ic = 1, ih = 0, iw = 0;
    if (img) {
        ic = (int)img->dims[1], ih = (int)img->dims[2], iw = (int)img->dims[3];
        if (ic != 1 && ic != 3)
            die("%s: images have %d channels (1 or 3 can be drawn)", o->images ? o->images : in->name, ic);
    }
    int box = 128, barw = 360, ph = 26 * k + 34 < box + 8 ? box + 8 : 26 * k + 34;
    if (ph < box + 24)
        ph = box + 24;
    int pw = (img ? box + 12 : 0) + barw, pad = o->pad < 8 ? 8 : o->pad;
    int cols = o->cols ? o->cols : (n < 2 ? 1 : 2);
    int64_t nout = o->each ? n : 1;
    int32_t *idx = xmalloc((size_t)K * sizeof *idx);
    float *vals = xmalloc((size_t)k * sizeof *vals);
    char **names = xcalloc((size_t)k, sizeof *names);
    char nb[32];
    for (int64_t q = 0; q < nout; q++) {
        int64_t first = o->each ? q : 0, cnt = o->each ? 1 : n;
        int cc = o->each ? 1 : (cnt < cols ? (int)cnt : cols);
        int64_t rows = (cnt + cc - 1) / cc;
        if (rows * (ph + pad) + pad > 32767)
            die("%lld panels do not fit in one picture (use --range or --each)", (long long)cnt);
        draw_canvas *cv = draw_new(pad + cc * (pw + pad), (int)(pad + rows * (ph + pad)));
        for (int64_t j = 0; j < cnt; j++) {
            int64_t i = first + j;
            double x = pad + (j % cc) * (pw + pad), y = pad + (double)(j / cc) * (ph + pad);
            const float *pr = p->data + i * K;
            num_topk(pr, K, k, idx, vals);   /* ties keep the lower class */
            int hl = -1;
            for (int r = 0; r < k; r++) {
                free(names[r]);
                names[r] = xstrdup(class_name(&m, idx[r], nb, sizeof nb));
                if (m.labels && m.labels[i] == idx[r])
                    hl = r;
            }
            char title[160];
            if (m.labels)
                snprintf(title, sizeof title, "true: %s", class_name(&m, m.labels[i], nb, sizeof nb));
            else
                snprintf(title, sizeof title, "id %lld", (long long)(m.ids ? m.ids[i] : a + i));
            double bx = x;
            if (img) {
                double s = (double)box / (ih > iw ? ih : iw);
                double dw = iw * s, dh = ih * s;
                draw_image(cv, img->data + i * ic * ih * iw, ic, ih, iw, x + (box - dw) / 2,
                           y + 22 + (box - dh) / 2, dw, dh, s >= 2 ? DRAW_NEAREST : DRAW_BILINEAR,
                           0, 1, DRAW_CMAP_GRAY);
                bx += box + 12;
            }
            draw_bars(cv, bx, y, barw, ph, vals, names, k, hl, title);
        }
        if (o->each) {
            char *path = each_path(o, &m, q);
            draw_write_png(cv, path);
            free(path);
        } else
            draw_write_png(cv, o->co.output);
        draw_free(cv);
    }
    for (int r = 0; r < k; r++)
        free(names[r]);
    free(names);
    free(vals);
    free(idx);
    tensor_free(img);
    tensor_free(p);
    meta_free(&m);
    h5in_close(in);
}

/* ---- activations (the Deep Visualization Toolbox view) ---------------- */

/* -o as a pattern: one integer conversion (%d, %5d, %05d; %% for a '%')
 * turned into a format of one long long. NULL when there is none. */
static char *out_pattern(const char *s)
{
    size_t n = strlen(s);
    char *f = xmalloc(n + 8), *q = f;
    int conv = 0;
    for (const char *p = s; *p; p++) {
        *q++ = *p;
        if (*p != '%')
            continue;
        if (p[1] == '%') {
            *q++ = *++p;
            continue;
        }
        const char *d = p + 1;
        if (*d == '0')
            *q++ = *d++;
        for (int i = 0; *d >= '0' && *d <= '9'; i++)
            if (i >= 2)
                die_usage("-o: '%s': a field width of at most 2 digits", s);
            else
                *q++ = *d++;
        if (*d != 'd' || ++conv > 1)
            die_usage("-o: '%s' is not a file name with one %%d (e.g. frames/%%05d.png)", s);
        *q++ = 'l', *q++ = 'l', *q++ = 'd';
        p = d;
    }
    *q = 0;
    if (!conv) {
        free(f);
        return NULL;
    }
    return f;
}

/* A second file whose dataset dset has the input's rows [a, b): enough
 * rows, and the same /ids where both files have them. */
static h5in *open_companion(const ropts *o, const char *path, const char *dset, h5in *in,
                            const meta *m, int64_t a, int64_t b)
{
    if ((!o->input || !strcmp(o->input, "-")) && !strcmp(path, "-"))
        die_usage("%s and the input cannot both be standard input", path);
    h5in *f = h5in_open(path);
    if (!h5in_has(f, dset))
        die("%s: no dataset '%s'", f->name, dset);
    int64_t n = h5in_nrows(f, dset);
    if (n < b)
        die("%s: has %lld rows but %s has %lld (not the same images)", f->name, (long long)n,
            in->name, (long long)b);
    if (m->ids && h5in_has(f, "/ids") && h5in_nrows(f, "/ids") >= b) {
        int64_t *ids = h5in_read_i64(f, "/ids", a, b - a), i = 0;
        while (i < b - a && ids[i] == m->ids[i])
            i++;
        int64_t bad = i < b - a ? ids[i] : 0;
        free(ids);
        if (i < b - a)
            die("%s: row %lld has id %lld but %s has id %lld (not the same images)", f->name,
                (long long)(a + i), (long long)bad, in->name, (long long)m->ids[i]);
    }
    return f;
}

/* The layer's dataset /act/LAYER with spatial maps; dims get N, C, H, W. */
static char *act_layer(h5in *in, const char *layer, int64_t *dims)
{
    char *d = actfile_layer(in, layer, 0);
    int64_t dd[TENSOR_MAXDIM];
    int nd = h5in_dims(in, d, dd);
    if (nd != 4 || dd[2] * dd[3] < 2)
        die("%s: layer '%s' has no spatial maps (%s per image; choose a convolutional "
            "layer)", in->name, layer, tensor_shape_str(nd - 1, dd + 1, (char[64]){0}, 64));
    if (dd[1] < 1 || dd[1] > 16384)
        die("%s: layer '%s' has %lld channels", in->name, layer, (long long)dd[1]);
    memcpy(dims, dd, 4 * sizeof *dims);
    return d;
}

/* Up to 9 patches of channel u from a cnn-patches file, as one tensor. */
static tensor *unit_patches(h5in *pf, const char *layer, int u)
{
    char *pl = h5in_attr_str(pf, "/", "layer");
    if (pl && strcmp(pl, layer))
        die("%s: patches of layer '%s', not '%s'", pf->name, pl, layer);
    free(pl);
    if (!h5in_has(pf, "/channel") || !h5in_has(pf, "/images"))
        die("%s: no '/channel' or '/images' (not a cnn-patches file)", pf->name);
    int64_t n = h5in_nrows(pf, "/channel"), first = -1, cnt = 0;
    int32_t *ch = h5in_read_i32(pf, "/channel", 0, n);
    for (int64_t i = 0; i < n && cnt < 9; i++)
        if (ch[i] == u) {
            if (first < 0)
                first = i;
            if (i != first + cnt)
                break;
            cnt++;
        }
    free(ch);
    if (!cnt)
        die("%s: no patches of channel %d (cnn-patches -c %d makes them)", pf->name, u, u);
    return read_images(pf, first, first + cnt);
}

/* "tabby 53%" for row r (relative to the selection), or NULL. */
static char *top1_text(h5in *in, const meta *m, int64_t row)
{
    char nb[32], buf[256];
    int32_t k = -1;
    float p = NAN;
    if (h5in_has(in, "/topk_idx") && h5in_has(in, "/topk_prob")) {
        int32_t v[1];
        float *pr;
        int64_t dims[TENSOR_MAXDIM];
        if (h5in_dims(in, "/topk_idx", dims) != 2 || dims[1] < 1)
            return NULL;
        int32_t *idx = xmalloc((size_t)dims[1] * sizeof *idx);
        h5in_read_rows_raw(in, "/topk_idx", H5T_NATIVE_INT32, row, 1, idx);
        v[0] = idx[0];
        free(idx);
        tensor *t = h5in_read_rows(in, "/topk_prob", row, 1);
        pr = t->data;
        k = v[0];
        p = pr[0];
        tensor_free(t);
    } else if (h5in_has(in, "/pred")) {
        int32_t *pd = h5in_read_i32(in, "/pred", row, 1);
        k = pd[0];
        free(pd);
    } else
        return NULL;
    const char *name = class_name(m, k, nb, sizeof nb);
    if (isfinite(p))
        snprintf(buf, sizeof buf, "%s %.0f%%", name, 100.0 * p);
    else
        snprintf(buf, sizeof buf, "%s", name);
    return xstrdup(buf);
}

/* How the activations view normalises, from --normalize, --vmin, --vmax. */
static actview_opts act_view_opts(const ropts *o)
{
    actview_opts vo = { ACTVIEW_NORM_GLOBAL, 0, 1, (draw_cmap)o->cmap, o->scale, o->cols,
                        o->pad_set ? o->pad : 2, o->highlight, o->unit };
    if (o->normalize == NORM_TILE)
        vo.normalize = ACTVIEW_NORM_TILE;
    else if (o->normalize == NORM_NONE)
        vo.normalize = ACTVIEW_NORM_FIXED;
    if (o->has_vmin || o->has_vmax) {
        if (o->normalize == NORM_TILE)
            die_usage("--vmin/--vmax fix one range; --normalize tile has one per map");
        vo.normalize = ACTVIEW_NORM_FIXED;
        vo.vmin = o->has_vmin ? (float)o->vmin : 0;
        vo.vmax = o->has_vmax ? (float)o->vmax : 1;
        if (!(vo.vmax > vo.vmin))
            die_usage("--vmax must be larger than --vmin");
    }
    return vo;
}

/* The --projection file (a cnn-saliency maps file of --unit), checked for
 * rows [a, b); *pname gets its panel's title. */
static h5in *act_projection(const ropts *o, h5in *in, meta *m, int64_t a, int64_t b,
                            char **pname)
{
    h5in *pj = open_companion(o, o->projection, "/attr", in, m, a, b);
    int64_t pd[TENSOR_MAXDIM];
    if (h5in_dims(pj, "/attr", pd) != 4 || pd[1] < 1 || pd[2] < 1 || pd[3] < 1 ||
        pd[2] > 8192 || pd[3] > 8192)
        die("%s: '/attr' is not N x C x H x W (not a cnn-saliency maps file)", pj->name);
    /* /target; files of before the one maps schema said /targets */
    const char *tds = h5in_has(pj, "/target") ? "/target" : "/targets";
    if (h5in_has(pj, tds)) {
        int32_t *tg = h5in_read_i32(pj, tds, a, b - a);
        int64_t i = 0;
        while (i < b - a && tg[i] == o->unit)
            i++;
        int32_t bad = i < b - a ? tg[i] : 0;
        free(tg);
        if (i < b - a)
            die("%s: row %lld explains channel %d, not --unit %d (cnn-saliency -t "
                "unit=%s:%d)", pj->name, (long long)(a + i), bad, o->unit, o->layer, o->unit);
    }
    char *meth = h5in_attr_str(pj, "/", "method");
    size_t n = (meth ? strlen(meth) : 0) + 32;
    *pname = xmalloc(n);
    snprintf(*pname, n, "%s (this image)", meth ? meth : "projection");
    if (meth && !strcmp(meth, "guided"))
        snprintf(*pname, n, "guided backprop (this image)");
    free(meth);
    return pj;
}

static void cmd_activations(ropts *o)
{
    if (!o->layer)
        die_usage("activations needs -l LAYER");
    h5in *in = h5in_open(o->input);
    h5in_require_kind(in, "activations");
    int64_t dims[4];
    char *dset = act_layer(in, o->layer, dims);
    int64_t a, b;
    rows_of(o, dims[0], &a, &b);
    if (o->unit >= dims[1])
        die("%s: --unit %d but layer '%s' has %lld channels", in->name, o->unit, o->layer,
            (long long)dims[1]);
    if ((o->projection || o->patches) && o->unit < 0)
        die_usage("--projection and --patches need --unit C");
    char *fmt = o->co.output ? out_pattern(o->co.output) : NULL;
    if (b - a > 1 && !fmt && !o->each)
        die_usage("%lld images: give -o a pattern with %%d (one PNG per image, e.g. "
                  "frames/%%05d.png), --each DIR, or one row with --range",
                  (long long)(b - a));
    meta m;
    meta_read(in, a, b, &m);
    actview_opts vo = act_view_opts(o);
    /* Every companion is checked before the first picture is written. */
    h5in *im = o->images ? open_companion(o, o->images, "/images", in, &m, a, b)
               : h5in_has(in, "/images") ? in : NULL;
    if (im)
        tensor_free(read_images(im, a, a + 1));   /* shape checks */
    h5in *pj = NULL;
    char *pname = NULL;
    if (o->projection)
        pj = act_projection(o, in, &m, a, b, &pname);
    tensor *pat = NULL;
    if (o->patches) {
        if ((!o->input || !strcmp(o->input, "-")) && !strcmp(o->patches, "-"))
            die_usage("--patches and the input cannot both be standard input");
        h5in *pf = h5in_open(o->patches);
        pat = unit_patches(pf, o->layer, o->unit);
        h5in_close(pf);
    }
    actview_frame f = { o->layer, NULL, (int)dims[1], (int)dims[2], (int)dims[3],
                        NULL, 0, 0, 0, NULL, NULL, NULL, 0, 0, 0, pname, NULL, 0, 0, 0, 0 };
    if (pat) {
        f.patches = pat->data;
        f.npatch = (int)pat->dims[0];
        f.kc = (int)pat->dims[1], f.kh = (int)pat->dims[2], f.kw = (int)pat->dims[3];
    }
    {   /* the picture's size before any row is drawn: too large dies here */
        int sc, cols;
        actview_layout(&f, &vo, &sc, &cols);
        int64_t rows = (f.c + cols - 1) / cols;
        if ((int64_t)cols * f.w * sc > 16000 || rows * f.h * sc > 16000)
            die("%d maps of %dx%d at scale %d do not fit in one picture (lower --scale or "
                "set --cols)", f.c, f.h, f.w, sc);
    }
    progress *pg = progress_start("render", b - a);
    for (int64_t i = 0; i < b - a; i++) {
        tensor *act = h5in_read_rows(in, dset, a + i, 1);
        tensor *img = im ? read_images(im, a + i, a + i + 1) : NULL;
        tensor *prj = pj ? h5in_read_rows(pj, "/attr", a + i, 1) : NULL;
        long long id = m.ids ? m.ids[i] : a + i;
        char label[160];
        snprintf(label, sizeof label, "%.120s %lld", o->label ? o->label : "image", id);
        char *top1 = top1_text(in, &m, a + i);
        f.act = act->data;
        f.label = label;
        f.top1 = top1;
        if (img) {
            f.img = img->data;
            f.ic = (int)img->dims[1], f.ih = (int)img->dims[2], f.iw = (int)img->dims[3];
        }
        if (prj) {
            f.proj = prj->data;
            f.pc = (int)prj->dims[1], f.ph = (int)prj->dims[2], f.pw = (int)prj->dims[3];
        }
        draw_canvas *cv = actview_draw(&f, &vo);
        if (o->each) {
            char *p = each_path(o, &m, i);
            draw_write_png(cv, p);
            free(p);
        } else if (fmt) {
            size_t n = strlen(fmt) + 32;
            char *p = xmalloc(n);
            snprintf(p, n, fmt, id);
            draw_write_png(cv, p);
            free(p);
        } else
            draw_write_png(cv, o->co.output);
        draw_free(cv);
        free(top1);
        tensor_free(act);
        tensor_free(img);
        tensor_free(prj);
        progress_update(pg, i + 1);
    }
    progress_end(pg);
    tensor_free(pat);
    free(pname);
    free(fmt);
    free(dset);
    if (pj)
        h5in_close(pj);
    if (im && im != in)
        h5in_close(im);
    meta_free(&m);
    h5in_close(in);
}

/* For sanitizer builds (make test-asan): LeakSanitizer reads this hook.
 * fontconfig, which cairo's text calls, keeps its configuration cache for
 * the life of the process by design, and HDF5 1.10's H5LTopen_file_image
 * does not free its callback data for a DONT_COPY|DONT_RELEASE image (our
 * stdin reader): neither is a leak of ours. Unused in normal builds. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\nleak:H5LTopen_file_image\n";
}

/* Quiet about the suppressions above, so error tests still see one line. */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
    return "print_suppressions=0";
}

/* ---- options -------------------------------------------------------- */

/* Which commands take which option, so a misplaced one (--numbers on a
 * grid) is a usage error instead of being silently ignored. */
enum { C_GRID = 1, C_FILTERS = 2, C_SCATTER = 4, C_HEATMAP = 8, C_BARS = 16, C_ACT = 32 };
#define C_TILES (C_GRID | C_FILTERS | C_HEATMAP)
static int option_cmds(int c)
{
    switch (c) {
    case OPT_COLS: return C_TILES | C_BARS | C_ACT;
    case OPT_SCALE: case OPT_PAD: case OPT_CMAP:
        return C_TILES | C_ACT;
    case OPT_CAPTION: case OPT_FILTER: case OPT_SIGNED:
        return C_TILES;
    case OPT_NORMALIZE: return C_GRID | C_FILTERS | C_ACT;
    case OPT_EACH: return C_TILES | C_BARS | C_ACT;
    case 'l': case OPT_HIGHLIGHT: case OPT_UNIT: case OPT_PROJECTION: case OPT_PATCHES:
    case OPT_LABEL:
        return C_ACT;
    case OPT_DIMS: case OPT_DSET: case OPT_TITLE: case OPT_SIZE: case OPT_RADIUS:
        return C_SCATTER;
    case OPT_IMAGES: return C_HEATMAP | C_BARS | C_ACT;
    case OPT_VMIN: case OPT_VMAX: return C_HEATMAP | C_ACT;
    case OPT_NUMBERS: case OPT_FORMAT: case OPT_ALPHA:
        return C_HEATMAP;
    case 'k': return C_BARS;
    case CLI_OPT_ALLOW_RANGE: return C_GRID | C_HEATMAP | C_BARS | C_ACT;
    }
    return ~0;   /* the common options */
}

static int parse_enum(const char *opt, const char *arg, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(arg, names[i]))
            return i;
    die_usage("%s: unknown value '%s'", opt, arg);
}

/* The commands: name, usage, which options apply (option_cmds), what
 * draws. html is the report page (common/render/report.c). */
typedef struct render_cmd {
    const char *name;
    const char *usage;
    int bit;
    void (*run)(ropts *o);
} render_cmd;

static void cmd_grid_maps(ropts *o) { cmd_grid(o, 0); }
static void cmd_filters(ropts *o) { cmd_grid(o, 1); }

static const render_cmd commands[] = {
    { "grid", usage_grid, C_GRID, cmd_grid_maps },
    { "filters", usage_filters, C_FILTERS, cmd_filters },
    { "scatter", usage_scatter, C_SCATTER, cmd_scatter },
    { "heatmap", usage_heatmap, C_HEATMAP, cmd_heatmap },
    { "bars", usage_bars, C_BARS, cmd_bars },
    { "activations", usage_activations, C_ACT, cmd_activations },
    { "html", usage_html, 0, NULL },
};
#define COMMAND_NAMES "grid, filters, scatter, heatmap, bars, activations, html"

static const struct option longopts[] = {
    CLI_COMMON_LONGOPTS, CLI_IMAGE_LONGOPTS,
    { "cols", required_argument, 0, OPT_COLS },
    { "scale", required_argument, 0, OPT_SCALE },
    { "pad", required_argument, 0, OPT_PAD },
    { "caption", required_argument, 0, OPT_CAPTION },
    { "normalize", required_argument, 0, OPT_NORMALIZE },
    { "signed", no_argument, 0, OPT_SIGNED },
    { "cmap", required_argument, 0, OPT_CMAP },
    { "filter", required_argument, 0, OPT_FILTER },
    { "each", required_argument, 0, OPT_EACH },
    { "dims", required_argument, 0, OPT_DIMS },
    { "dset", required_argument, 0, OPT_DSET },
    { "title", required_argument, 0, OPT_TITLE },
    { "size", required_argument, 0, OPT_SIZE },
    { "radius", required_argument, 0, OPT_RADIUS },
    { "images", required_argument, 0, OPT_IMAGES },
    { "numbers", no_argument, 0, OPT_NUMBERS },
    { "format", required_argument, 0, OPT_FORMAT },
    { "alpha", required_argument, 0, OPT_ALPHA },
    { "vmin", required_argument, 0, OPT_VMIN },
    { "vmax", required_argument, 0, OPT_VMAX },
    { "top", required_argument, 0, 'k' },
    { "layer", required_argument, 0, 'l' },
    { "highlight", no_argument, 0, OPT_HIGHLIGHT },
    { "unit", required_argument, 0, OPT_UNIT },
    { "projection", required_argument, 0, OPT_PROJECTION },
    { "patches", required_argument, 0, OPT_PATCHES },
    { "label", required_argument, 0, OPT_LABEL },
    { 0, 0, 0, 0 },
};

/* The options after the command (argv[1], already replaced by the
 * program name for getopt's messages) into o. */
static void parse_args(int argc, char **argv, const render_cmd *rc, ropts *o)
{
    static const char *const caps[] = { "auto", "none", "label", "id", "score" };
    static const char *const norms[] = { "none", "tile", "global" };
    static const char *const filters[] = { "nearest", "bilinear" };
    int c, li;
    while ((c = getopt_long(argc - 1, argv + 1, CLI_COMMON_SHORTOPTS "k:l:", longopts, &li)) != -1) {
        if (c != '?' && c != ':' && !(option_cmds(c) & rc->bit))
            die_usage("--%s does not apply to '%s' (see 'cnn-render %s --help')",
                      c == 'k' ? "top" : c == 'l' ? "layer" : longopts[li].name, rc->name, rc->name);
        switch (c) {
        case OPT_COLS: o->cols = (int)cli_long("--cols", optarg, 1, 1000); break;
        case OPT_SCALE: o->scale = (int)cli_long("--scale", optarg, 1, 64); break;
        case OPT_PAD: o->pad = (int)cli_long("--pad", optarg, 0, 200); o->pad_set = 1; break;
        case OPT_CAPTION: o->caption = parse_enum("--caption", optarg, caps, 5); break;
        case OPT_NORMALIZE: o->normalize = parse_enum("--normalize", optarg, norms, 3); break;
        case OPT_SIGNED: o->sign = 1; break;
        case OPT_CMAP:
            if ((o->cmap = draw_cmap_parse(optarg)) < 0)
                die_usage("--cmap: unknown colour map '%s' (gray, viridis, diverging, jet)", optarg);
            break;
        case OPT_FILTER: o->filter = parse_enum("--filter", optarg, filters, 2); break;
        case OPT_EACH: o->each = optarg; break;
        case OPT_DIMS: {
            int *v, nv = cli_int_list("--dims", optarg, 1 << 20, &v);
            if (nv != 2 || v[0] < 1 || v[1] < 1)
                die_usage("--dims: '%s' is not two columns I,J counted from 1", optarg);
            o->dimx = v[0];
            o->dimy = v[1];
            free(v);
            break;
        }
        case OPT_DSET: o->dset = optarg; break;
        case OPT_TITLE: o->title = optarg; break;
        case OPT_SIZE:
            cli_size("--size", optarg, &o->width, &o->height);
            if (o->width < 200 || o->height < 150 || o->width > 8000 || o->height > 8000)
                die_usage("--size: %s is outside 200x150..8000x8000", optarg);
            break;
        case OPT_RADIUS: o->radius = cli_double("--radius", optarg, 0.5, 50); break;
        case OPT_IMAGES: o->images = optarg; break;
        case OPT_NUMBERS: o->numbers = 1; break;
        case OPT_FORMAT:
            /* One numeric conversion only: the format sees one double. */
            if (!strchr(optarg, '%') || strchr(strchr(optarg, '%') + 1, '%') ||
                !strpbrk(strchr(optarg, '%'), "fgeFGE") || strpbrk(optarg, "*n"))
                die_usage("--format: '%s' is not one %%f/%%g/%%e conversion", optarg);
            o->format = optarg;
            break;
        case OPT_ALPHA: o->alpha = cli_double("--alpha", optarg, 0, 1); break;
        case OPT_VMIN: o->vmin = cli_double("--vmin", optarg, -1e30, 1e30); o->has_vmin = 1; break;
        case OPT_VMAX: o->vmax = cli_double("--vmax", optarg, -1e30, 1e30); o->has_vmax = 1; break;
        case 'k': o->topk = (int)cli_long("--top", optarg, 1, 100); break;
        case 'l': o->layer = optarg; break;
        case OPT_HIGHLIGHT: o->highlight = 1; break;
        case OPT_UNIT: o->unit = (int)cli_long("--unit", optarg, 0, 16383); break;
        case OPT_PROJECTION: o->projection = optarg; break;
        case OPT_PATCHES: o->patches = optarg; break;
        case OPT_LABEL: o->label = optarg; break;
        default:
            if (!cli_common_opt(c, optarg, &o->co, rc->usage))
                die_usage("unexpected option");
        }
    }
    optind++;   /* back to argv's numbering */
    if (optind < argc - 1)
        die_usage("too many operands (one input file)");
    o->input = optind < argc ? argv[optind] : NULL;
    if (o->each)
        check_each_dir(o->each);
    if (o->has_vmin && o->has_vmax && o->vmax <= o->vmin)
        die_usage("--vmax must be larger than --vmin");
    if (o->dimx == o->dimy && rc->bit == C_SCATTER)
        warnx("--dims plots a column against itself");
    /* Kernels, and values stretched to the picture's range, need not lie
     * in [0,1] (they must be finite all the same). */
    if (rc->bit == C_FILTERS ||
        (rc->bit == C_GRID && (o->sign || o->normalize == NORM_TILE || o->normalize == NORM_GLOBAL)))
        finite_allow_range = 1;
}

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    if (argc < 2)
        die_usage("no command given (" COMMAND_NAMES ")");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help"))
        cli_help(usage_main);
    if (!strcmp(cmd, "--version"))
        cli_version();
    if (cmd[0] == '-')
        die_usage("unrecognized option '%s' (a command comes first: " COMMAND_NAMES ")", cmd);
    const render_cmd *rc = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0] && !rc; i++)
        if (!strcmp(cmd, commands[i].name))
            rc = &commands[i];
    if (!rc)
        die_usage("unknown command '%s' (" COMMAND_NAMES ")", cmd);
    argv[1] = argv[0];   /* getopt names the program in its messages */
    cli_getopt_args(argc - 1, argv + 1);
    if (!rc->run)
        return report_cli(argc - 1, argv + 1, rc->usage);
    ropts o;
    memset(&o, 0, sizeof o);
    cli_common_for(&o.co, CLI_RANGE);
    o.cmd = cmd;
    o.pad = 4;
    o.caption = CAP_AUTO;
    o.normalize = NORM_DEFAULT;
    o.cmap = rc->bit == C_HEATMAP ? -1 : DRAW_CMAP_GRAY;
    o.filter = rc->bit == C_HEATMAP ? -1 : DRAW_NEAREST;
    o.dimx = 1;
    o.dimy = 2;
    o.width = 760;
    o.height = 560;
    o.alpha = -1;
    o.topk = 5;
    o.unit = -1;
    parse_args(argc, argv, rc, &o);
    rc->run(&o);
    return EXIT_OK;
}
