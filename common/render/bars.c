/* bars: cnn-render bars (see render.h). Each image beside a bar chart of
 * its top classes; the true class's bar in the highlight colour. */
#include "render/render.h"
#include "render/rows.h"
#include "base/numeric.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A panel's title: the file name (/paths of the file or of --images) and
 * the true class ("cat.jpg, true: tabby"), either alone, else the id. */
static void panel_title(const row_meta *m, int64_t i, char *buf, size_t n)
{
    char nb[32];
    char *path = rows_caption(m, CAP_PATH, i);
    const char *lab = m->labels ? rows_class_name(m, m->labels[i], nb, sizeof nb) : NULL;
    if (path && lab)
        snprintf(buf, n, "%.150s, true: %.150s", path, lab);
    else if (path || lab)
        snprintf(buf, n, "%s%.300s", lab ? "true: " : "", path ? path : lab);
    else
        snprintf(buf, n, "id %lld", (long long)rows_id(m, i));
    free(path);
}

void render_bars(const render_opts *o)
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
    rows_select(o, dims[0], &a, &b);
    if (b - a > 2000)
        die("%s: %lld rows are too many for one picture (choose some with --range)",
            in->name, (long long)(b - a));
    int64_t n = b - a, K = dims[1];
    tensor *p = h5in_read_rows(in, "/probs", a, n);
    row_meta m;
    rows_meta_read(o, in, a, b, &m);
    tensor *img = rows_images_for(o, in, &m, a, b);
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
                names[r] = xstrdup(rows_class_name(&m, idx[r], nb, sizeof nb));
                if (m.labels && m.labels[i] == idx[r])
                    hl = r;
            }
            char title[320];
            panel_title(&m, i, title, sizeof title);
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
            char *path = rows_each_path(o, &m, q);
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
    rows_meta_free(&m);
    h5in_close(in);
}
