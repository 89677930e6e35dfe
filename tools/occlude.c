/* cnn-occlude: occlusion sensitivity maps (Zeiler & Fergus): slide a window
 * of fill over every image and record how a class score or a unit changes.
 * The work is in common/methods/occlude.c; this parses options, streams images in
 * and writes the maps file. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "nn/engine.h"
#include "io/h5io.h"
#include "io/pixels.h"
#include "io/join.h"
#include "nn/model.h"
#include "methods/occlude.h"
#include "methods/target.h"
#include "nn/setup.h"

static const char usage[] =
    "Usage: cnn-occlude -m MODEL.h5 [--target T] [options] [IMAGES.h5]\n"
    "   or: cnn-occlude --join [-o OUT.h5] SHARD.h5...\n"
    "Slides a window of fill over each image and records, per window position,\n"
    "a class score or a unit's response. Writes a maps file (kind=maps): /maps\n"
    "(N x Hm x Wm), /baseline (N, the unoccluded value), /target (N, the class\n"
    "or feature map measured), /images, /ids, /labels, /classes.\n"
    "\n"
    "  -m, --model FILE    model file (kind=model)\n"
    "  -t, --target T      what is measured (default label when the images have\n"
    "                      labels, else pred):\n"
    "                        class=K      class K (a number or a class name)\n"
    "                        label        each image's true label\n"
    "                        pred         each image's predicted class\n"
    "                        unit=L:C     feature map C of layer L, its maximum;\n"
    "                                     unit=L:C:mean, unit=L:C:sum, or one\n"
    "                                     position unit=L:C@X,Y\n"
    "                        strongest=L  the map of layer L with the largest\n"
    "                                     total (sum) on the unoccluded image\n"
    "                                     (Zeiler & Fergus); strongest=L:max ...\n"
    "  -w, --window WxH    occluder width x height in pixels (or N for NxN;\n"
    "                      default 8)\n"
    "      --stride WxH    step between positions across x down (or N; default 4)\n"
    "      --padding P     clip (default): positions until the window reaches the\n"
    "                      far edge, clipped there; none: windows fully inside\n"
    "                      (Captum's positions)\n"
    "  -f, --fill F        gray (0.5, default), zero, mean (the image's own\n"
    "                      channel means), blur (a Gaussian-blurred copy), or a\n"
    "                      number VALUE (pixels are in [0,1])\n"
    "      --blur-sigma S  Gaussian sigma for --fill blur (default max(h,w)/4)\n"
    "      --measure M     logit (default for classes), prob, unit (for units)\n"
    "      --output O      raw (the occluded value), diff (baseline - value;\n"
    "                      default), percent (100 * diff / |baseline|)\n"
    "      --per-pixel     /maps become N x H x W, each pixel the mean over the\n"
    "                      windows covering it (Captum's form); the window grid\n"
    "                      moves to /window_maps\n"
    "      --no-images     do not copy /images into the output\n"
    "      --exact-naive   run every occluded copy through the whole network\n"
    "                      (the default recomputes only each layer's changed part)\n"
    "      --join          concatenate the maps files given (shards of one run,\n"
    "                      e.g. from GNU Parallel with --range) into one\n"
    "      --stats         print the multiply-accumulates computed against brute force\n"
    "      --batch N       occluded copies per pass (default 256)\n"
    CLI_IMAGE_HELP CLI_PHOTO_INTRO CLI_PHOTO_HELP
    CLI_HELP_OUTPUT CLI_HELP_RANGE CLI_HELP_THREADS CLI_HELP_END;

enum {
    OPT_PADDING = 2001, OPT_BLUR, OPT_MEASURE, OPT_OUTPUT, OPT_PERPIXEL, OPT_NAIVE,
    OPT_NOIMAGES, OPT_STATS, OPT_JOIN, OPT_STRIDE
};

struct occ_opts {
    struct cli_common co;
    const char *model, *target, *input, *fill;
    const char *measure, *output;
    int per_pixel, no_images, stats, join;
    int nfiles;
    char **files;
    occlude_spec spec;
};

static void parse_args(int argc, char **argv, struct occ_opts *o)
{
    static const struct option longopts[] = {
        { "model", required_argument, 0, 'm' },
        { "target", required_argument, 0, 't' },
        { "window", required_argument, 0, 'w' },
        { "stride", required_argument, 0, OPT_STRIDE },
        { "padding", required_argument, 0, OPT_PADDING },
        { "fill", required_argument, 0, 'f' },
        { "blur-sigma", required_argument, 0, OPT_BLUR },
        { "measure", required_argument, 0, OPT_MEASURE },
        { "output", required_argument, 0, OPT_OUTPUT },
        { "per-pixel", no_argument, 0, OPT_PERPIXEL },
        { "exact-naive", no_argument, 0, OPT_NAIVE },
        { "no-images", no_argument, 0, OPT_NOIMAGES },
        { "stats", no_argument, 0, OPT_STATS },
        { "join", no_argument, 0, OPT_JOIN },
        CLI_COMMON_LONGOPTS, CLI_IMAGE_LONGOPTS, CLI_PHOTO_LONGOPTS,
        { 0, 0, 0, 0 }
    };
    /* --output names the map transform here; -o FILE still names the file.
     * The common table's "output" comes later, so getopt_long finds ours. */
    memset(o, 0, sizeof *o);
    cli_common_for(&o->co, CLI_RANGE | CLI_BATCH | CLI_THREADS);
    o->co.batch = 256;
    occlude_spec *s = &o->spec;
    s->wh = s->ww = 8;
    s->sh = s->sw = 4;
    s->fill = OCC_FILL_GRAY;
    s->padding = OCC_PAD_CLIP;
    int c;
    while ((c = getopt_long(argc, argv, "m:t:w:f:" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 't': o->target = optarg; break;
        case 'w': cli_size("--window", optarg, &s->ww, &s->wh); break;
        case OPT_STRIDE: cli_size("--stride", optarg, &s->sw, &s->sh); break;
        case OPT_PADDING:
            if (!strcmp(optarg, "clip")) s->padding = OCC_PAD_CLIP;
            else if (!strcmp(optarg, "none")) s->padding = OCC_PAD_NONE;
            else die_usage("--padding: '%s' is not clip or none", optarg);
            break;
        case 'f': o->fill = optarg; break;
        case OPT_BLUR: s->blur_sigma = cli_double("--blur-sigma", optarg, 1e-3, 1e4); break;
        case OPT_MEASURE: o->measure = optarg; break;
        case OPT_OUTPUT: o->output = optarg; break;
        case OPT_PERPIXEL: o->per_pixel = 1; break;
        case OPT_NAIVE: s->naive = 1; break;
        case OPT_NOIMAGES: o->no_images = 1; break;
        case OPT_STATS: o->stats = 1; break;
        case OPT_JOIN: o->join = 1; break;
        default:
            cli_common_opt(c, optarg, &o->co, usage);
        }
    }
    if (o->join) {
        o->nfiles = argc - optind;
        o->files = argv + optind;
        if (o->nfiles < 1)
            die_usage("--join needs the maps files to join");
        return;
    }
    o->input = setup_args(o->model, argc, argv, optind);
    if (o->fill) {
        if (!strcmp(o->fill, "gray") || !strcmp(o->fill, "grey")) s->fill = OCC_FILL_GRAY;
        else if (!strcmp(o->fill, "zero")) s->fill = OCC_FILL_ZERO;
        else if (!strcmp(o->fill, "mean")) s->fill = OCC_FILL_MEAN;
        else if (!strcmp(o->fill, "blur")) s->fill = OCC_FILL_BLUR;
        else {
            char *end;
            double v = strtod(o->fill, &end);
            if (end == o->fill || *end || !isfinite(v))
                die_usage("--fill: '%s' is not gray, zero, mean, blur or a number", o->fill);
            s->fill = OCC_FILL_VALUE;
            s->fill_value = (float)v;
        }
    }
    s->batch = o->co.batch;
}

/* The target (methods/target.h, as cnn-saliency reads it) and the
 * measure, resolved against the model. */
static void resolve_target(struct occ_opts *o, model *m, int has_labels, target *t)
{
    char err[512];
    if (target_parse(o->target ? o->target : has_labels ? "label" : "pred", t, err, sizeof err) < 0)
        die_usage("%s", err);
    o->target = t->spec;
    int unitlike = t->kind == TARGET_UNIT || t->kind == TARGET_STRONGEST;
    const char *ms = o->measure ? o->measure : unitlike ? "unit" : "logit";
    if (strcmp(ms, "logit") && strcmp(ms, "prob") && strcmp(ms, "unit"))
        die_usage("--measure: '%s' is not logit, prob or unit", ms);
    if (unitlike != !strcmp(ms, "unit"))
        die_usage("--measure %s does not go with --target %s", ms, t->spec);
    t->measure = !strcmp(ms, "prob") ? TARGET_PROB : TARGET_LOGIT;
    target_resolve(t, m, o->model);
    if (target_needs_labels(t) && !has_labels)
        die("%s: no /labels, which target 'label' needs (use class=K or pred)",
            o->input ? o->input : "<stdin>");
    o->spec.target = t;
}

static const char *fill_name(int f)
{
    static const char *const n[] = { "gray", "zero", "mean", "blur", "value" };
    return n[f];
}

/* The maps file's attributes: what was measured and how. */
static void write_attrs(h5out *out, const struct occ_opts *o, const target *t, const char *layer,
                        int outk)
{
    const occlude_spec *sp = &o->spec;
    static const char *const outs[] = { "raw", "diff", "percent" };
    static const char *const sums[] = { "max", "mean", "sum", "at" };
    int unitlike = t->kind == TARGET_UNIT || t->kind == TARGET_STRONGEST;
    h5out_attr_str(out, "/", "model", o->model);
    h5out_attr_str(out, "/", "target", o->target);
    h5out_attr_str(out, "/", "layer", layer);
    if (unitlike) {
        h5out_attr_str(out, "/", "summary", sums[t->map]);
        if (t->map == TARGET_MAP_AT)
            h5out_attr_i64(out, "/", "position", 2, (int64_t[]){ t->y, t->x });
    }
    h5out_attr_i64(out, "/", "window", 2, (int64_t[]){ sp->wh, sp->ww });
    h5out_attr_i64(out, "/", "stride", 2, (int64_t[]){ sp->sh, sp->sw });
    h5out_attr_str(out, "/", "padding", sp->padding == OCC_PAD_CLIP ? "clip" : "none");
    h5out_attr_str(out, "/", "fill", fill_name(sp->fill));
    if (sp->fill == OCC_FILL_VALUE)
        h5out_attr_f64(out, "/", "fill_value", 1, (double[]){ sp->fill_value });
    if (sp->fill == OCC_FILL_BLUR)
        h5out_attr_f64(out, "/", "blur_sigma", 1,
                       (double[]){ sp->blur_sigma > 0 ? sp->blur_sigma
                                                      : (sp->wh > sp->ww ? sp->wh : sp->ww) / 4.0 });
    h5out_attr_str(out, "/", "measure", unitlike ? "unit" : t->measure == TARGET_PROB ? "prob" : "logit");
    h5out_attr_str(out, "/", "output", outs[outk]);
    h5out_attr_i64(out, "/", "per_pixel", 1, (int64_t[]){ o->per_pixel });
    h5out_attr_str(out, "/", "method", "occlusion");
    h5out_attr_str(out, "/", "engine", sp->naive ? "naive" : "incremental");
}

/* The maps file's row datasets, and what it carries from the images. */
static void create_outputs(h5out *out, const struct occ_opts *o, const model *m, h5in *in,
                           int64_t a, int64_t b, int hm, int wm)
{
    int64_t n = b - a, C = m->in_shape[0], H = m->in_shape[1], W = m->in_shape[2];
    int64_t md[3] = { n, o->per_pixel ? H : hm, o->per_pixel ? W : wm };
    int64_t wd[3] = { n, hm, wm };
    int64_t id[4] = { n, C, H, W };
    h5out_create_rows(out, "/maps", 3, md);
    if (o->per_pixel)
        h5out_create_rows(out, "/window_maps", 3, wd);
    if (!o->no_images)
        h5out_create_rows(out, "/images", 4, id);
    h5out_carry(out, in, a, b);
    if (!h5in_has(in, "/classes") && m->classes && m->nclasses > 0)
        h5out_write_strings(out, "/classes", m->nclasses, m->classes);
}

/* The images, chunk by chunk: occlusion maps, checked, transformed and
 * written; targets and base get each image's class or map and its
 * unoccluded value. Progress counts windows. */
static void run_chunks(const struct occ_opts *o, occlude *oc, const model *m, h5in *in, h5out *out,
                       int64_t a, int64_t n, int64_t chunk, const int32_t *labels,
                       const int64_t *ids, int outk, int32_t *targets, float *base)
{
    int hm, wm;
    occlude_grid(oc, &hm, &wm);
    int64_t C = m->in_shape[0], H = m->in_shape[1], W = m->in_shape[2];
    tensor *x = tensor_new4(chunk, C, H, W);
    tensor *mp = tensor_new(3, (int64_t[]){ chunk, hm, wm });
    tensor *pp = o->per_pixel ? tensor_new(3, (int64_t[]){ chunk, H, W }) : NULL;
    progress *pg = progress_start("occlusion", n * hm * wm);
    occlude_progress(oc, pg);
    for (int64_t s = 0; s < n; s += chunk) {
        int64_t c = n - s < chunk ? n - s : chunk;
        x->dims[0] = mp->dims[0] = c;
        pixels_read_into(in, a + s, c, x->data);
        occlude_run(oc, x, labels ? labels + s : NULL, ids ? ids + s : NULL, targets + s, mp->data,
                    base + s);
        finite_check_rows(base + s, c, 1, a + s, in->name, "image", "target score", "column",
                          FINITE_FROM_PIXELS);
        finite_check_rows(mp->data, c, (int64_t)hm * wm, a + s, in->name, "image",
                          "occluded score", "window", FINITE_FROM_PIXELS);
        occlude_transform(outk, c, (int64_t)hm * wm, mp->data, base + s);
        if (o->per_pixel) {
            pp->dims[0] = c;
            for (int64_t i = 0; i < c; i++)
                occlude_per_pixel(oc, mp->data + i * hm * wm, pp->data + i * H * W);
            h5out_write_rows(out, "/maps", s, pp);
            h5out_write_rows(out, "/window_maps", s, mp);
        } else
            h5out_write_rows(out, "/maps", s, mp);
        if (!o->no_images)
            h5out_write_rows(out, "/images", s, x);
    }
    progress_end(pg);
    tensor_free(x);
    tensor_free(mp);
    tensor_free(pp);
}

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    struct occ_opts o;
    parse_args(argc, argv, &o);
    cli_check_stdout(o.co.output, "an HDF5 file");   /* before the work */
    if (o.join) {
        for (int k = 0; k < o.nfiles; k++) {
            h5in *in = h5in_open(o.files[k]);
            h5in_require_kind(in, "maps");
            h5in_close(in);
        }
        join_files(o.co.output, o.files, o.nfiles);
        return EXIT_OK;
    }
    int outk = OCC_OUT_DIFF;
    if (o.output) {
        if (!strcmp(o.output, "raw")) outk = OCC_OUT_RAW;
        else if (!strcmp(o.output, "diff")) outk = OCC_OUT_DIFF;
        else if (!strcmp(o.output, "percent")) outk = OCC_OUT_PERCENT;
        else die_usage("--output: '%s' is not raw, diff or percent (-o names the file)", o.output);
    }
    model *m = setup_model(o.model, &o.co);
    int64_t a, b;
    h5in *in = setup_images(o.input, m, o.model, &o.co, &a, &b);
    int64_t n = b - a;
    if (n < 1)
        die("%s: no images in the range", in->name);
    int has_labels = h5in_has(in, "/labels");
    target tg;
    resolve_target(&o, m, has_labels, &tg);
    int64_t chunk = n < 64 ? n : 64;   /* images per occlude_run */
    o.spec.images = chunk;
    occlude *oc = occlude_new(m, &o.spec);
    int hm, wm;
    occlude_grid(oc, &hm, &wm);
    int32_t *labels = has_labels ? h5in_read_i32(in, "/labels", a, n) : NULL;
    int64_t *ids = h5in_has(in, "/ids") ? h5in_read_i64(in, "/ids", a, n) : NULL;

    h5out *out = h5out_create(o.co.output, "maps", in);
    create_outputs(out, &o, m, in, a, b, hm, wm);
    float *base = xcalloc((size_t)n, sizeof *base);
    int32_t *targets = xcalloc((size_t)n, sizeof *targets);
    run_chunks(&o, oc, m, in, out, a, n, chunk, labels, ids, outk, targets, base);
    tensor bt = { .ndim = 1, .dims = { n }, .data = base };
    h5out_write(out, "/baseline", &bt);
    h5out_write_i32(out, "/target", n, targets);

    write_attrs(out, &o, &tg, m->nodes[occlude_measure_node(oc)].name, outk);
    h5out_commit(out);

    double done, brute;
    occlude_macs(oc, &done, &brute);
    if (o.stats)
        fprintf(stderr, "%s: %lld images x %d windows: %.4g MMAC computed, brute force %.4g MMAC (%.1f%%)\n",
                cli_progname(), (long long)n, hm * wm, done / 1e6, brute / 1e6,
                brute > 0 ? 100.0 * done / brute : 0.0);
    free(base);
    free(targets);
    free(labels);
    free(ids);
    target_free(&tg);
    occlude_free(oc);
    h5in_close(in);
    model_free(m);
    return EXIT_OK;
}
