/* activations: cnn-render activations (see render.h): reads the
 * activations file and its companions (images, the unit's projection, its
 * patches) and draws each row with actview. */
#include "render/actview.h"
#include "render/render.h"
#include "render/rows.h"
#include "io/actfile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


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
    return rows_images(pf, first, first + cnt);
}

/* "tabby 53%" for row r (relative to the selection), or NULL. */
static char *top1_text(h5in *in, const row_meta *m, int64_t row)
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
    const char *name = rows_class_name(m, k, nb, sizeof nb);
    if (isfinite(p))
        snprintf(buf, sizeof buf, "%s %.0f%%", name, 100.0 * p);
    else
        snprintf(buf, sizeof buf, "%s", name);
    return xstrdup(buf);
}

/* How the activations view normalises, from --normalize, --vmin, --vmax. */
static actview_opts act_view_opts(const render_opts *o)
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
static h5in *act_projection(const render_opts *o, h5in *in, const row_meta *m, int64_t a, int64_t b,
                            char **pname)
{
    h5in *pj = rows_companion(o, o->projection, "/attr", in, m, a, b);
    int64_t pd[TENSOR_MAXDIM];
    if (h5in_dims(pj, "/attr", pd) != 4 || pd[1] < 1 || pd[2] < 1 || pd[3] < 1 ||
        pd[2] > 8192 || pd[3] > 8192)
        die("%s: '/attr' is not N x C x H x W (not a cnn-saliency maps file)", pj->name);
    /* /target: the one maps schema of every method (older /targets files
     * are not read) */
    if (h5in_has(pj, "/target")) {
        int32_t *tg = h5in_read_i32(pj, "/target", a, b - a);
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

void render_activations(const render_opts *o)
{
    if (!o->layer)
        die_usage("activations needs -l LAYER");
    h5in *in = h5in_open(o->input);
    h5in_require_kind(in, "activations");
    int64_t dims[4];
    char *dset = act_layer(in, o->layer, dims);
    int64_t a, b;
    rows_select(o, dims[0], &a, &b);
    if (o->unit >= dims[1])
        die("%s: --unit %d but layer '%s' has %lld channels", in->name, o->unit, o->layer,
            (long long)dims[1]);
    if ((o->projection || o->patches) && o->unit < 0)
        die_usage("--projection and --patches need --unit C");
    char *fmt = o->co.output ? rows_out_pattern(o->co.output) : NULL;
    if (b - a > 1 && !fmt && !o->each)
        die_usage("%lld images: give -o a pattern with %%d (one PNG per image, e.g. "
                  "frames/%%05d.png), --each DIR, or one row with --range",
                  (long long)(b - a));
    row_meta m;
    rows_meta_read(o, in, a, b, &m);
    actview_opts vo = act_view_opts(o);
    /* Every companion is checked before the first picture is written. */
    h5in *im = o->images ? rows_companion(o, o->images, "/images", in, &m, a, b)
               : h5in_has(in, "/images") ? in : NULL;
    if (im)
        tensor_free(rows_images(im, a, a + 1));   /* shape checks */
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
        tensor *img = im ? rows_images(im, a + i, a + i + 1) : NULL;
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
            char *p = rows_each_path(o, &m, i);
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
    rows_meta_free(&m);
    h5in_close(in);
}
