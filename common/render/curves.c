/* curves: cnn-render curves, the output of cnn-evaluate drawn (see
 * render.h). One panel per FILE, side by side, each --size big:
 *  - deletion / insertion: one line per row of /curve (N x steps+1) against
 *    the fraction of pixels changed, k / steps in [0,1]; titled with the
 *    metric (and the maps' method); the legend, right of the axes, names
 *    each row (/paths without folders, else "id N") with its /auc.
 *  - sanity: the mean over rows of /spearman, /ssim and /hog (N x L) against
 *    the layer randomised, /layers' names on the x axis, top layer first
 *    (every k-th when they would overlap), titled with the maps' method
 *    (Adebayo et al.'s cascading randomisation figure).
 * --list prints one line per series instead: title, label, AUC (sanity: the
 * similarity's name and its L means). Other evaluation files (infidelity,
 * sensitivity) and other kinds of file are refused with one line. */
#include "render/render.h"
#include "render/rows.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 64

typedef struct plot_spec {
    const char *title, *xlabel, *ylabel;
    int nser, npts;
    const float *y[MAX_SERIES];   /* each npts values at x = i / (npts - 1) */
    char *label[MAX_SERIES];      /* legend entries */
    char **xnames;                /* npts tick names (sanity), or NULL: [0,1] */
    double ylo, yhi;              /* y range */
} plot_spec;

static const double ink[3] = { 0, 0, 0 }, grid_rgb[3] = { 0.88, 0.88, 0.88 };
/* The sanity file's similarities (datasets; --list names them so) and
 * their names in the legend. */
static const char *const sims[3] = { "/spearman", "/ssim", "/hog" };
static const char *const sim_names[3] = { "Spearman", "SSIM", "HOG" };

/* Every step-th of n tick names fits in step slots of the given width
 * (names wider than a slot would overlap): the step. */
static int name_step(draw_canvas *cv, char *const *names, int n, double slot)
{
    double w = 0;
    for (int i = 0; i < n; i++)
        w = fmax(w, fmin(draw_text_width(cv, 10, 0, names[i]), 90));
    int step = slot > 0 ? (int)ceil((w + 6) / slot) : 1;
    return step < 1 ? 1 : step > n ? n : step;
}

/* Axes, grid, ticks of p in (ax, ay, aw, ah). */
static void plot_axes(draw_canvas *cv, double ax, double ay, double aw, double ah,
                      const plot_spec *p)
{
    char buf[64];
    double t[16];
    int nt = draw_ticks(p->ylo, p->yhi, 6, t);
    for (int i = 0; i < nt; i++) {
        double ty = ay + ah - (t[i] - p->ylo) / (p->yhi - p->ylo) * ah;
        draw_line(cv, ax, ty, ax + aw, ty, 1, grid_rgb);
        snprintf(buf, sizeof buf, "%g", fabs(t[i]) < 1e-12 ? 0.0 : t[i]);
        draw_text(cv, ax - 6, ty + 4, 11, DRAW_RIGHT, ink, 0, buf);
    }
    int nx = p->xnames ? p->npts : draw_ticks(0, 1, 6, t);
    double slot = p->npts > 1 ? aw / (p->npts - 1) : aw;
    int step = p->xnames ? name_step(cv, p->xnames, p->npts, slot) : 1;
    for (int i = 0; i < nx; i++) {
        double f = p->xnames ? (p->npts > 1 ? (double)i / (p->npts - 1) : 0.5) : t[i];
        double tx = ax + f * aw;
        draw_line(cv, tx, ay, tx, ay + ah, 1, grid_rgb);
        draw_line(cv, tx, ay + ah, tx, ay + ah + 4, 1, ink);
        if (p->xnames && i % step)
            continue;   /* a tick without its name: the names would overlap */
        if (p->xnames) {
            char *s = draw_text_fit(cv, 10, 0, p->xnames[i], slot * step - 6);
            draw_text(cv, tx, ay + ah + 17, 10, DRAW_CENTER, ink, 0, s);
            free(s);
        } else {
            snprintf(buf, sizeof buf, "%g", t[i]);
            draw_text(cv, tx, ay + ah + 17, 11, DRAW_CENTER, ink, 0, buf);
        }
    }
    draw_rect(cv, ax, ay, aw, ah, ink, 0);
    draw_text(cv, ax + aw / 2, ay + ah + 38, 12, DRAW_CENTER, ink, 0, p->xlabel);
    draw_text_vertical(cv, ax - 48, ay + ah / 2, 12, ink, p->ylabel);
    draw_text(cv, ax + aw / 2, ay - 12, 14, DRAW_CENTER, ink, 1, p->title);
}

/* One panel: axes, the lines (tab10 colours), the legend to the right. */
static void plot_panel(draw_canvas *cv, double x, double y, double w, double h,
                       const plot_spec *p)
{
    double legend_w = 0;
    for (int s = 0; s < p->nser; s++)
        legend_w = fmax(legend_w, draw_text_width(cv, 11, 0, p->label[s]));
    legend_w = fmin(legend_w, 0.4 * w) + 34;
    double ax = x + 66, ay = y + 36, aw = w - 66 - 12 - legend_w, ah = h - 36 - 52;
    if (aw < 40 || ah < 40)
        die("a curves panel of %.0fx%.0f pixels is too small (--size)", w, h);
    plot_axes(cv, ax, ay, aw, ah, p);
    for (int s = 0; s < p->nser; s++) {
        double rgb[3];
        draw_class_rgb(s, rgb);
        for (int i = 1; i < p->npts; i++) {
            double x0 = ax + (double)(i - 1) / (p->npts - 1) * aw, x1 = ax + (double)i / (p->npts - 1) * aw;
            double y0 = ay + ah - (p->y[s][i - 1] - p->ylo) / (p->yhi - p->ylo) * ah;
            double y1 = ay + ah - (p->y[s][i] - p->ylo) / (p->yhi - p->ylo) * ah;
            draw_line(cv, x0, y0, x1, y1, 2, rgb);
        }
        double ly = ay + 8 + 18 * s;
        if (ly > ay + ah)
            continue;   /* more series than the legend holds */
        draw_line(cv, ax + aw + 10, ly - 4, ax + aw + 28, ly - 4, 2.5, rgb);
        char *t = draw_text_fit(cv, 11, 0, p->label[s], legend_w - 34);
        draw_text(cv, ax + aw + 32, ly, 11, DRAW_LEFT, ink, 0, t);
        free(t);
    }
}

/* What one file holds, read and checked before anything is drawn. */
typedef struct curve_file {
    plot_spec p;
    float *means;       /* sanity: 3 x L */
    tensor *curve;      /* deletion/insertion: N x S+1 */
    float *auc;
    char title[128];
} curve_file;

static void read_sanity(const render_opts *o, h5in *in, curve_file *cf)
{
    int nl = 0;
    if (!h5in_has(in, "/layers"))
        die("%s: a sanity evaluation without /layers", in->name);
    cf->p.xnames = h5in_read_strings(in, "/layers", &nl);
    cf->means = xmalloc((size_t)3 * (nl ? nl : 1) * sizeof *cf->means);
    for (int k = 0; k < 3; k++) {
        int64_t d[TENSOR_MAXDIM];
        if (!h5in_has(in, sims[k]) || h5in_dims(in, sims[k], d) != 2 || d[1] != nl || d[0] < 1)
            die("%s: %s is missing or not N x %d (one column per layer of /layers)",
                in->name, sims[k], nl);
        int64_t a, b;
        rows_select(o, d[0], &a, &b);
        tensor *t = h5in_read_rows(in, sims[k], a, b - a);
        for (int l = 0; l < nl; l++) {
            double s = 0;
            for (int64_t i = 0; i < b - a; i++)
                s += t->data[i * nl + l];
            cf->means[k * nl + l] = (float)(s / (double)(b - a));
        }
        tensor_free(t);
        cf->p.y[k] = cf->means + k * nl;
        cf->p.label[k] = xstrdup(sim_names[k]);
    }
    cf->p.nser = 3;
    cf->p.npts = nl;
    cf->p.xlabel = "layer randomised (cascading, top layer first)";
    cf->p.ylabel = "similarity to the original map (mean over rows)";
    /* A panel per file, each one method's maps: titled by the method. */
    char *meth = h5in_attr_str(in, "/", "maps_method");
    snprintf(cf->title, sizeof cf->title, "%s: cascading randomisation", meth ? meth : "sanity");
    free(meth);
}

static void read_curves(const render_opts *o, h5in *in, const char *metric, curve_file *cf)
{
    int64_t d[TENSOR_MAXDIM], a, b;
    if (!h5in_has(in, "/curve") || h5in_dims(in, "/curve", d) != 2 || d[1] < 2 ||
        !h5in_has(in, "/auc") || h5in_nrows(in, "/auc") != d[0])
        die("%s: a %s evaluation needs /curve (N x steps+1) and /auc (N)", in->name, metric);
    rows_select(o, d[0], &a, &b);
    if (b - a > MAX_SERIES)
        die("%s: %lld curves; at most %d in one panel (--range)", in->name,
            (long long)(b - a), MAX_SERIES);
    cf->curve = h5in_read_rows(in, "/curve", a, b - a);
    tensor *at = h5in_read_rows(in, "/auc", a, b - a);
    cf->auc = xmalloc((size_t)(b - a) * sizeof *cf->auc);
    memcpy(cf->auc, at->data, (size_t)(b - a) * sizeof *cf->auc);
    tensor_free(at);
    row_meta m;
    rows_meta_read(o, in, a, b, &m);
    double lo = 0, hi = 1;
    for (int64_t i = 0; i < b - a; i++) {
        cf->p.y[i] = cf->curve->data + i * d[1];
        for (int64_t k = 0; k < d[1]; k++) {
            lo = fmin(lo, cf->p.y[i][k]);
            hi = fmax(hi, cf->p.y[i][k]);
        }
        char *name = rows_caption(&m, CAP_PATH, i), buf[160];
        if (name)
            snprintf(buf, sizeof buf, "%s (AUC %.3f)", name, cf->auc[i]);
        else
            snprintf(buf, sizeof buf, "id %lld (AUC %.3f)", (long long)rows_id(&m, i), cf->auc[i]);
        free(name);
        cf->p.label[i] = xstrdup(buf);
    }
    rows_meta_free(&m);
    cf->p.nser = (int)(b - a);
    cf->p.npts = (int)d[1];
    cf->p.ylo = lo;
    cf->p.yhi = hi;
    cf->p.xlabel = metric[0] == 'd' ? "fraction of pixels deleted" : "fraction of pixels inserted";
    cf->p.ylabel = "probability of the target class";
    char *meth = h5in_attr_str(in, "/", "maps_method");
    snprintf(cf->title, sizeof cf->title, "%s%s%s%s", metric, meth ? " (" : "", meth ? meth : "",
             meth ? ")" : "");
    free(meth);
}

static void read_file(const render_opts *o, const char *path, curve_file *cf)
{
    memset(cf, 0, sizeof *cf);
    h5in *in = h5in_open(path);
    h5in_require_kind(in, "evaluation");
    char *metric = h5in_attr_str(in, "/", "metric");
    if (metric && !strcmp(metric, "sanity"))
        read_sanity(o, in, cf);
    else if (metric && (!strcmp(metric, "deletion") || !strcmp(metric, "insertion")))
        read_curves(o, in, metric, cf);
    else
        die("%s: an evaluation of metric '%s' has no curves (deletion, insertion or sanity)",
            in->name, metric ? metric : "?");
    if (cf->p.npts < 1)
        die("%s: nothing to draw", in->name);
    if (!cf->p.ylo && !cf->p.yhi) {   /* sanity: [min(0, data), 1] */
        cf->p.ylo = 0;
        cf->p.yhi = 1;
        for (int s = 0; s < cf->p.nser; s++)
            for (int i = 0; i < cf->p.npts; i++)
                if (isfinite(cf->p.y[s][i]))
                    cf->p.ylo = fmin(cf->p.ylo, floor(cf->p.y[s][i] * 10) / 10);
    }
    cf->p.title = o->title ? o->title : cf->title;
    free(metric);
    h5in_close(in);
}

static void list_file(const curve_file *cf)
{
    for (int s = 0; s < cf->p.nser; s++) {
        if (cf->p.xnames) {   /* sanity: the similarity and its means per layer */
            printf("%s\t%s", cf->p.title, sims[s] + 1);
            for (int i = 0; i < cf->p.npts; i++)
                printf("\t%s=%.6g", cf->p.xnames[i], cf->p.y[s][i]);
            printf("\n");
        } else {
            const char *l = cf->p.label[s];
            printf("%s\t%.*s\t%.6g\n", cf->p.title, (int)(strstr(l, " (AUC") - l), l, cf->auc[s]);
        }
    }
}

void render_curves(const render_opts *o)
{
    int nf = o->ninputs;
    curve_file *cf = xmalloc((size_t)nf * sizeof *cf);
    for (int f = 0; f < nf; f++)
        read_file(o, o->inputs ? o->inputs[f] : NULL, &cf[f]);
    if (o->list) {
        for (int f = 0; f < nf; f++)
            list_file(&cf[f]);
    } else {
        draw_canvas *cv = draw_new(o->width * nf, o->height);
        for (int f = 0; f < nf; f++)
            plot_panel(cv, (double)o->width * f, 0, o->width, o->height, &cf[f].p);
        draw_write_png(cv, o->co.output);
        draw_free(cv);
    }
    for (int f = 0; f < nf; f++) {
        for (int s = 0; s < cf[f].p.nser; s++)
            free(cf[f].p.label[s]);
        if (cf[f].p.xnames)
            cli_free_list(cf[f].p.xnames, cf[f].p.npts);
        free(cf[f].means);
        free(cf[f].auc);
        tensor_free(cf[f].curve);
    }
    free(cf);
}
