/* cnn-patches: for each feature map of a layer, the k strongest (image,
 * position) pairs over a dataset, their receptive-field crops and their
 * deconvnet projections (Zeiler & Fergus figure 2), as images files. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/arch.h"
#include "base/cli.h"
#include "nn/engine.h"
#include "io/h5io.h"
#include "io/pixels.h"
#include "nn/model.h"
#include "nn/setup.h"
#include "methods/patches.h"
#include "nn/rfield.h"

static const char usage[] =
    "Usage: cnn-patches -m MODEL.h5 -l LAYER [-k K] [--channels LIST] [options] [IMAGES.h5]\n"
    "For each feature map of LAYER, the K images whose strongest activation of\n"
    "the map is largest (one position per image), the receptive field of that\n"
    "position cropped from the image (gray where it leaves the image), and its\n"
    "deconvnet projection: only that activation kept, every other one of the\n"
    "layer zeroed, and passed back to the pixels (ReLUs pass positive\n"
    "gradients, max-pooling routes through its switches), cropped to the same\n"
    "window. Writes an images file, map by map, best first: /images (patches,\n"
    "M*K x C x RH x RW), /projections (normalised, same shape), /ids, /labels,\n"
    "/channel, /rank, /pos (y, x in the layer's map), /box (the window clipped to\n"
    "the image: y0, x0, y1, x1, ends exclusive) and /scores (the activation).\n"
    "\n"
    "  -m, --model FILE      model file (kind=model)\n"
    "  -l, --layer LAYER     the layer whose feature maps are ranked\n"
    "  -k, --top K           patches per feature map (default 9)\n"
    "  -c, --channels LIST   only these feature maps (\"0,3,5-9\"; default all)\n"
    "      --projections F   also write the projections as their own images\n"
    "                        file (for cnn-render grid), with /raw unnormalised\n"
    "      --normalize N     projections for display, per tile: absmax (default:\n"
    "                        0.5 + 0.5 v / max|v|, zero is mid-gray), minmax, none\n"
    CLI_IMAGE_HELP CLI_PHOTO_INTRO CLI_PHOTO_HELP
    CLI_HELP_OUTPUT CLI_HELP_RANGE CLI_HELP_BATCH CLI_HELP_THREADS CLI_HELP_END;

struct patches_opts {
    struct cli_common co;
    const char *model, *layer, *channels, *input, *projections;
    int k, norm;
};

enum { OPT_PROJECTIONS = 2001, OPT_NORMALIZE };

static void parse_args(int argc, char **argv, struct patches_opts *o)
{
    static const struct option longopts[] = {
        { "model", required_argument, 0, 'm' },
        { "layer", required_argument, 0, 'l' },
        { "top", required_argument, 0, 'k' },
        { "channels", required_argument, 0, 'c' },
        { "projections", required_argument, 0, OPT_PROJECTIONS },
        { "normalize", required_argument, 0, OPT_NORMALIZE },
        CLI_COMMON_LONGOPTS, CLI_IMAGE_LONGOPTS, CLI_PHOTO_LONGOPTS,
        { 0, 0, 0, 0 }
    };
    memset(o, 0, sizeof *o);
    cli_common_for(&o->co, CLI_RANGE | CLI_BATCH | CLI_THREADS);
    o->k = 9;
    o->norm = PATCHES_NORM_ABSMAX;
    int c;
    while ((c = getopt_long(argc, argv, "m:l:k:c:" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'l': o->layer = optarg; break;
        case 'k': o->k = (int)cli_long("-k", optarg, 1, 1 << 16); break;
        case 'c': o->channels = optarg; break;
        case OPT_PROJECTIONS: o->projections = optarg; break;
        case OPT_NORMALIZE:
            if ((o->norm = patches_norm_parse(optarg)) < 0)
                die_usage("--normalize: '%s' is not absmax, minmax or none", optarg);
            break;
        default:
            cli_common_opt(c, optarg, &o->co, usage);
        }
    }
    o->input = setup_args(o->model, argc, argv, optind);
    if (!o->layer)
        die_usage("no layer: give -l LAYER");
}

/* Pass 1: stream the dataset through the layer, keeping each map's best. */
static void rank(engine *e, int layer, h5in *in, int64_t a, int64_t n, int batch,
                 const int64_t *ms, patches_top *pt)
{
    tensor *xb = tensor_new4(batch, ms[0], ms[1], ms[2]);
    progress *pg = progress_start("rank", n);
    for (int64_t r = 0; r < n; r += batch) {
        int64_t c = n - r < batch ? n - r : batch;
        xb->dims[0] = c;
        pixels_read_into(in, a + r, c, xb->data);
        engine_forward_upto(e, xb, layer);
        patches_top_update(pt, engine_act(e, layer), r);
        progress_update(pg, r + c);
    }
    progress_end(pg);
    xb->dims[0] = batch;
    tensor_free(xb);
}

/* Metadata of the tiles, shared by both output files. */
static void write_meta(h5out *out, h5in *in, int64_t a, const patches_top *pt, const rfield *rf,
                       const int64_t *ms, const struct patches_opts *o, const char *lname)
{
    int64_t T = (int64_t)pt->nch * pt->k;
    int64_t *ids = xmalloc((size_t)T * sizeof *ids);
    int32_t *ch = xmalloc((size_t)T * sizeof *ch), *rk = xmalloc((size_t)T * sizeof *rk);
    int32_t *pos = xmalloc((size_t)T * 2 * sizeof *pos), *box = xmalloc((size_t)T * 4 * sizeof *box);
    int32_t *lab = NULL;
    tensor *sc = tensor_new(1, &T);
    int has_ids = h5in_has(in, "/ids"), has_lab = h5in_has(in, "/labels");
    if (has_lab)
        lab = xmalloc((size_t)T * sizeof *lab);
    for (int64_t t = 0; t < T; t++) {
        const patch_hit *h = &pt->hits[t];
        int64_t b[4];
        if (has_ids) {
            int64_t *v = h5in_read_i64(in, "/ids", a + h->row, 1);
            ids[t] = v[0];
            free(v);
        } else
            ids[t] = a + h->row;
        if (lab) {
            int32_t *v = h5in_read_i32(in, "/labels", a + h->row, 1);
            lab[t] = v[0];
            free(v);
        }
        ch[t] = pt->channels[t / pt->k];
        rk[t] = (int32_t)(t % pt->k);
        pos[2 * t] = (int32_t)h->y, pos[2 * t + 1] = (int32_t)h->x;
        rfield_box(rf, h->y, h->x, 1, ms[1], ms[2], b);
        for (int j = 0; j < 4; j++)
            box[4 * t + j] = (int32_t)b[j];
        sc->data[t] = h->score;
    }
    h5out_write_i64(out, "/ids", T, ids);
    if (lab)
        h5out_write_i32(out, "/labels", T, lab);
    h5out_carry_classes(out, in);
    if (h5in_has(in, "/paths")) {   /* each patch's source file */
        int np;
        char **p = h5in_read_strings(in, "/paths", &np), **pp = xmalloc((size_t)T * sizeof *pp + 1);
        for (int64_t t = 0; t < T; t++)
            pp[t] = a + pt->hits[t].row < np ? p[a + pt->hits[t].row] : "";
        h5out_write_strings(out, "/paths", (int)T, pp);
        free(pp);
        cli_free_list(p, np);
    }
    h5out_write_i32(out, "/channel", T, ch);
    h5out_write_i32(out, "/rank", T, rk);
    h5out_write_i32n(out, "/pos", 2, (int64_t[]){ T, 2 }, pos);
    h5out_write_i32n(out, "/box", 2, (int64_t[]){ T, 4 }, box);
    h5out_write(out, "/scores", sc);
    h5out_attr_str(out, "/", "model", o->model);
    h5out_attr_str(out, "/", "layer", lname);
    h5out_attr_i64(out, "/", "k", 1, (int64_t[]){ pt->k });
    h5out_attr_i64(out, "/", "rf_size", 2, rf->size);
    h5out_attr_i64(out, "/", "rf_jump", 2, rf->jump);
    h5out_attr_i64(out, "/", "rf_start", 2, rf->start);
    h5out_attr_str(out, "/", "normalize", patches_norm_name((patches_norm)o->norm));
    h5out_attr_str(out, "/", "fill", "0.5 (gray) outside the image; projections 0 there");
    tensor_free(sc);
    free(ids);
    free(ch);
    free(rk);
    free(pos);
    free(box);
    free(lab);
}

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    struct patches_opts o;
    parse_args(argc, argv, &o);
    cli_check_stdout(o.co.output, "an HDF5 file");   /* before the work */
    model *m = setup_model(o.model, &o.co);
    int layer = model_require(m, o.layer, o.model);
    const node *ln = &m->nodes[layer];
    int *chs, nch;
    if (o.channels)
        nch = cli_int_list("--channels", o.channels, (int)ln->shape[0], &chs);
    else {
        nch = (int)ln->shape[0];
        chs = xmalloc((size_t)nch * sizeof *chs);
        for (int c = 0; c < nch; c++)
            chs[c] = c;
    }
    int64_t a, b;
    h5in *in = setup_images(o.input, m, o.model, &o.co, &a, &b);
    int64_t n = b - a;
    if (o.k > n)
        die("%s: -k %d is larger than the dataset (%lld images; one patch per image and map)",
            in->name, o.k, (long long)n);

    rfield *rfs = xcalloc((size_t)m->n, sizeof *rfs);
    rfield_compute(m, rfs);
    rfield rf = rfs[layer];
    free(rfs);
    const int64_t *ms = m->in_shape;
    int64_t C = ms[0], rh = rf.size[0], rw = rf.size[1], tile = C * rh * rw;
    if (tile > ((int64_t)1 << 26))
        die("%s: layer '%s' sees %lldx%lld pixels, too large to crop", o.model, ln->name,
            (long long)rh, (long long)rw);

    /* The engine keeps every layer for a whole batch: no larger than the
     * data or the tiles of pass 2. */
    int64_t T = (int64_t)nch * o.k;
    int batch = o.co.batch;
    if (batch > n)
        batch = (int)n;
    engine *e = engine_new(m, batch, 0, 0);
    patches_top pt;
    patches_top_init(&pt, nch, chs, o.k);
    rank(e, layer, in, a, n, batch, ms, &pt);

    /* Pass 2: crops and projections, batch of hits by batch of hits; each
     * hit's image is read again (one row), so memory stays bounded. */
    h5out *out = h5out_create(o.co.output, "images", in);
    h5out *pout = o.projections ? h5out_create(o.projections, "images", in) : NULL;
    int64_t td[4] = { T, C, rh, rw };
    h5out_create_rows(out, "/images", 4, td);
    h5out_create_rows(out, "/projections", 4, td);
    if (pout) {
        h5out_create_rows(pout, "/images", 4, td);
        h5out_create_rows(pout, "/raw", 4, td);
    }
    tensor *xb = tensor_new4(batch, C, ms[1], ms[2]);
    tensor *pat = tensor_new4(batch, C, rh, rw), *prj = tensor_new4(batch, C, rh, rw);
    tensor *raw = tensor_new4(batch, C, rh, rw);
    int *bch = xmalloc((size_t)batch * sizeof *bch);
    int64_t imlen = C * ms[1] * ms[2];
    progress *pg = progress_start("project", T);
    for (int64_t t0 = 0; t0 < T; t0 += batch) {
        int64_t c = T - t0 < batch ? T - t0 : batch;
        xb->dims[0] = pat->dims[0] = prj->dims[0] = raw->dims[0] = c;
        for (int64_t i = 0; i < c; i++) {
            pixels_read_into(in, a + pt.hits[t0 + i].row, 1, xb->data + i * imlen);
            bch[i] = chs[(t0 + i) / o.k];
        }
        const tensor *g = patches_project(e, layer, xb, pt.hits + t0, bch);
        for (int64_t i = 0; i < c; i++) {
            int64_t box[4];
            patches_window(&rf, pt.hits[t0 + i].y, pt.hits[t0 + i].x, box);
            patches_crop(xb->data + i * imlen, C, ms[1], ms[2], box, 0.5f, pat->data + i * tile);
            patches_crop(g->data + i * imlen, C, ms[1], ms[2], box, 0.0f, raw->data + i * tile);
            memcpy(prj->data + i * tile, raw->data + i * tile, (size_t)tile * sizeof(float));
            patches_normalize(prj->data + i * tile, tile, (patches_norm)o.norm);
        }
        h5out_write_rows(out, "/images", t0, pat);
        h5out_write_rows(out, "/projections", t0, prj);
        if (pout) {
            h5out_write_rows(pout, "/images", t0, prj);
            h5out_write_rows(pout, "/raw", t0, raw);
        }
        progress_update(pg, t0 + c);
    }
    progress_end(pg);
    write_meta(out, in, a, &pt, &rf, ms, &o, ln->name);
    if (pout) {
        write_meta(pout, in, a, &pt, &rf, ms, &o, ln->name);
        h5out_commit(pout);
    }
    h5out_commit(out);

    xb->dims[0] = pat->dims[0] = prj->dims[0] = raw->dims[0] = batch;
    tensor_free(xb);
    tensor_free(pat);
    tensor_free(prj);
    tensor_free(raw);
    free(bch);
    free(chs);
    patches_top_free(&pt);
    engine_free(e);
    h5in_close(in);
    model_free(m);
    return EXIT_OK;
}
