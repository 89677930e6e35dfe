/* scatter: cnn-render scatter, two columns of a features or pca file
 * coloured by /labels with a legend from /classes (see render.h; the plot
 * itself is draw_scatter). */
#include "render/render.h"
#include "render/rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void render_scatter(const render_opts *o)
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
    rows_select(o, dims[0], &a, &b);
    tensor *t = h5in_read_rows(in, dset, a, b - a);
    row_meta m;
    rows_meta_read(o, in, a, b, &m);
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
    rows_meta_free(&m);
    tensor_free(t);
    h5in_close(in);
}
