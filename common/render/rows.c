/* rows: the rows of the render commands' inputs (see rows.h). */
#include "render/rows.h"
#include "io/imageset.h"
#include "io/pixels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The layer whose channels /target holds, from the "target" attribute
 * (unit=LAYER:C..., strongest=LAYER...), or NULL for class targets. */
static char *unit_layer(h5in *in)
{
    char *t = h5in_attr_str(in, "/", "target");
    if (!t)
        return NULL;
    const char *eq = strchr(t, '=');
    if (!eq || (strncmp(t, "unit=", 5) && strncmp(t, "strongest=", 10))) {
        free(t);
        return NULL;
    }
    char *layer = xstrdup(eq + 1);
    layer[strcspn(layer, ":@")] = 0;
    free(t);
    return layer;
}

/* --classes SRC: an HDF5 file's /classes (a model file), else names as
 * cli_names reads them (a list, @FILE, a file of lines). */
static void classes_from(row_meta *m, const char *src)
{
    static const char sig[8] = "\x89HDF\r\n\x1a\n";
    char head[8] = { 0 };
    FILE *f = fopen(src, "rb");
    int h5 = f && fread(head, 1, 8, f) == 8 && !memcmp(head, sig, 8);
    if (f)
        fclose(f);
    if (m->classes)
        cli_free_list(m->classes, m->nclasses);
    if (!h5) {
        m->nclasses = cli_names(src, &m->classes);
        return;
    }
    h5in *in = h5in_open(src);
    if (!h5in_has(in, "/classes"))
        die("%s: no dataset '/classes' (--classes wants class names)", in->name);
    m->classes = h5in_read_strings(in, "/classes", &m->nclasses);
    h5in_close(in);
}

void rows_meta_read(const render_opts *o, h5in *in, int64_t a, int64_t b, row_meta *m)
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
    if (h5in_has(in, "/target") && h5in_nrows(in, "/target") >= b) {
        m->target = h5in_read_i32(in, "/target", a, b - a);
        m->target_layer = unit_layer(in);
    }
    if (h5in_has(in, "/unit") && h5in_nrows(in, "/unit") >= b)
        m->unit = h5in_read_i64(in, "/unit", a, b - a);
    rows_meta_paths(m, in);
    if (o->classes)
        classes_from(m, o->classes);
}

void rows_meta_paths(row_meta *m, h5in *f)
{
    if (m->paths || !h5in_has(f, "/paths"))
        return;
    m->paths = h5in_read_strings(f, "/paths", &m->npaths);
    if (m->npaths < m->a + m->n) {
        cli_free_list(m->paths, m->npaths);
        m->paths = NULL;
        m->npaths = 0;
    }
}

void rows_meta_free(row_meta *m)
{
    free(m->ids);
    free(m->labels);
    free(m->scores);
    free(m->target);
    free(m->target_layer);
    free(m->unit);
    if (m->classes)
        cli_free_list(m->classes, m->nclasses);
    if (m->paths)
        cli_free_list(m->paths, m->npaths);
}

const char *rows_class_name(const row_meta *m, int32_t k, char *buf, size_t n)
{
    if (m->classes && k >= 0 && k < m->nclasses && m->classes[k][0])
        return m->classes[k];
    snprintf(buf, n, "%d", k);
    return buf;
}

/* A score in a caption: two decimals ("0.97"); a small one (a probability
 * of 3e-05) in scientific notation instead of 0.00; one just under 1 with
 * the decimals that tell it from 1 up to 0.999 ("0.996"), and above 0.999
 * by its distance from 1, two significant digits ("1−6.0e-08" for
 * 0.99999994, "1−1.2e-07" for the float below it), so the top-k of a
 * confident model read apart. */
static void score_text(char *buf, size_t n, float s)
{
    if (s != 0 && fabsf(s) < 0.01f)
        snprintf(buf, n, "%.1e", s);
    else if (s > 0.999f && s < 1)
        snprintf(buf, n, "1\xe2\x88\x92%.1e", 1.0 - (double)s);
    else if (s >= 0.995f && s < 1)
        snprintf(buf, n, "%.3f", s);
    else
        snprintf(buf, n, "%.2f", s);
}

char *rows_caption(const row_meta *m, int mode, int64_t i)
{
    char buf[320], nb[32], sc[32];
    if (mode == CAP_AUTO)
        mode = m->scores ? CAP_SCORE : m->labels ? CAP_LABEL : CAP_NONE;
    switch (mode) {
    case CAP_LABEL:
        if (!m->labels)
            return NULL;
        return xstrdup(rows_class_name(m, m->labels[i], nb, sizeof nb));
    case CAP_ID:
        snprintf(buf, sizeof buf, "%lld", (long long)rows_id(m, i));
        return xstrdup(buf);
    case CAP_SCORE:
        if (!m->scores)
            return NULL;
        score_text(sc, sizeof sc, m->scores[i]);
        if (m->labels)
            snprintf(buf, sizeof buf, "%s (%s)", rows_class_name(m, m->labels[i], nb, sizeof nb), sc);
        else
            snprintf(buf, sizeof buf, "%s", sc);
        return xstrdup(buf);
    case CAP_PATH: {
        if (!m->paths)
            return NULL;
        const char *p = m->paths[m->a + i], *sl = strrchr(p, '/');
        return xstrdup(sl ? sl + 1 : p);
    }
    case CAP_UNIT:
        if (!m->unit)
            return NULL;
        snprintf(buf, sizeof buf, "unit %lld", (long long)m->unit[i]);
        return xstrdup(buf);
    case CAP_TARGET:
        if (!m->target)
            return NULL;
        if (m->target_layer)
            snprintf(buf, sizeof buf, "%.200s:%d", m->target_layer, m->target[i]);
        else
            snprintf(buf, sizeof buf, "%s", rows_class_name(m, m->target[i], nb, sizeof nb));
        return xstrdup(buf);
    }
    return NULL;
}

char *rows_caption_list(const row_meta *m, const int *fields, int nf, int64_t i)
{
    char *out = NULL;
    for (int k = 0; k < nf; k++) {
        char *t = rows_caption(m, fields[k], i);
        if (!t)
            continue;
        if (!out) {
            out = t;
            continue;
        }
        char *j = xmalloc(strlen(out) + strlen(t) + 3);
        sprintf(j, "%s, %s", out, t);
        free(out);
        free(t);
        out = j;
    }
    return out;
}

/* Rows [a, b) of the input after --range. */
void rows_select(const render_opts *o, int64_t n, int64_t *a, int64_t *b)
{
    *a = o->co.range_a;
    *b = o->co.range_b;
    cli_range_resolve(n, a, b);
    if (*b <= *a)
        die("no rows selected (--range is empty)");
}

/* /images as N x C x H x W (3-D files are N x H x W gray). */
tensor *rows_images(h5in *in, int64_t a, int64_t b)
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

void rows_check_each_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode))
        die("%s: not a folder (--each needs an existing folder)", dir);
}

int64_t rows_id(const row_meta *m, int64_t i)
{
    return m->ids ? m->ids[i] : m->a + i;
}

char *rows_each_path(const render_opts *o, const row_meta *m, int64_t i)
{
    size_t n = strlen(o->each) + 40;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%06lld.png", o->each, (long long)rows_id(m, i));
    return p;
}

void rows_emit(const render_opts *o, const row_meta *m, int64_t i, draw_canvas *cv)
{
    if (!o->each) {
        draw_write_png(cv, o->co.output);
        return;
    }
    char *p = rows_each_path(o, m, i);
    draw_write_png(cv, p);
    free(p);
}

/* -o as a pattern: one integer conversion (%d, %5d, %05d; %% for a '%')
 * turned into a format of one long long. NULL when there is none. */
char *rows_out_pattern(const char *s)
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
/* --images as photo files and folders: read as cnn-images reads them, at
 * --size / --crop / --resize when given, else at the size of in's maps
 * (N x H x W /maps the size of the images: saliency's, or occlusion's with
 * --per-pixel); the photo's own size when in has no such maps. */
static h5in *open_photos(const render_opts *o, h5in *in)
{
    int w = 0, h = 0;
    int64_t d[TENSOR_MAXDIM];
    const struct cli_photo *ph = &o->co.photo;
    if (!ph->w && !ph->cw && h5in_has(in, "/maps") && h5in_dims(in, "/maps", d) == 3) {
        int64_t pp = 1;
        if (h5in_attr_i64(in, "/", "per_pixel", &pp, 1) == 1 && !pp)
            die_usage("%s: its maps are occlusion's window grid, not the images' size: give "
                      "--size WxH (or --crop, --resize) for the photos of --images", in->name);
        w = (int)d[2], h = (int)d[1];
    }
    return imageset_open(o->nimage_list, o->image_list, ph, 0, w, h);
}

h5in *rows_companion(const render_opts *o, const char *path, const char *dset, h5in *in,
                     const row_meta *m, int64_t a, int64_t b)
{
    if ((!o->input || !strcmp(o->input, "-")) && !strcmp(path, "-"))
        die_usage("a second file and the input cannot both be standard input");
    int photos = 0;
    for (int i = 0; path == o->images && i < o->nimage_list; i++)
        photos |= imageset_is_photo(o->image_list[i]);
    if (path == o->images && o->nimage_list > 1 && !photos)
        die_usage("--images: one images file, or image files and folders");
    h5in *f = photos ? open_photos(o, in) : h5in_open(path);
    if (!h5in_has(f, dset))
        die("%s: no dataset '%s'%s", f->name, dset,
            !strcmp(dset, "/images") ? " (not an images file)" : "");
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

tensor *rows_images_for(const render_opts *o, h5in *in, row_meta *m, int64_t a, int64_t b)
{
    if (!o->images)
        return h5in_has(in, "/images") ? rows_images(in, a, b) : NULL;
    h5in *im = rows_companion(o, o->images, "/images", in, m, a, b);
    rows_meta_paths(m, im);
    tensor *t = rows_images(im, a, b);
    h5in_close(im);
    return t;
}
