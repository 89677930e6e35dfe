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

static const char usage[] =
    "Usage: cnn-occlude -m MODEL.h5 [--target T] [options] [IMAGES.h5]\n"
    "   or: cnn-occlude --join [-o OUT.h5] SHARD.h5...\n"
    "Slides a window of fill over each image and records, per window position,\n"
    "a class score or a unit's response. Writes a maps file (kind=maps): /maps\n"
    "(N x Hm x Wm), /baseline (N, the unoccluded value), /targets (N, the class\n"
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
    "                                     position unit=L:C@Y,X\n"
    "                        strongest=L  the map of layer L with the largest\n"
    "                                     total (sum) on the unoccluded image\n"
    "                                     (Zeiler & Fergus); strongest=L:max ...\n"
    "  -w, --window HxW    occluder size in pixels (or N for NxN; default 8)\n"
    "  -s, --stride S      step between positions (S or SHxSW; default 4)\n"
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
    "  --batch N is occluded copies per pass (default 256).\n"
    CLI_IMAGE_HELP
    CLI_COMMON_HELP;

enum {
    OPT_PADDING = 2001, OPT_BLUR, OPT_MEASURE, OPT_OUTPUT, OPT_PERPIXEL, OPT_NAIVE,
    OPT_NOIMAGES, OPT_STATS, OPT_JOIN
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

/* "HxW" or "N". */
static void parse_hw(const char *opt, const char *s, int *h, int *w)
{
    const char *x = strchr(s, 'x');
    if (!x) {
        *h = *w = (int)cli_long(opt, s, 1, 1 << 20);
        return;
    }
    char buf[64];
    size_t k = (size_t)(x - s);
    if (k == 0 || k >= sizeof buf)
        die_usage("%s: '%s' is not HxW or N", opt, s);
    memcpy(buf, s, k);
    buf[k] = 0;
    *h = (int)cli_long(opt, buf, 1, 1 << 20);
    *w = (int)cli_long(opt, x + 1, 1, 1 << 20);
}

static void parse_args(int argc, char **argv, struct occ_opts *o)
{
    static const struct option longopts[] = {
        { "model", required_argument, 0, 'm' },
        { "target", required_argument, 0, 't' },
        { "window", required_argument, 0, 'w' },
        { "stride", required_argument, 0, 's' },
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
        CLI_COMMON_LONGOPTS, CLI_IMAGE_LONGOPTS,
        { 0, 0, 0, 0 }
    };
    /* --output names the map transform here; -o FILE still names the file.
     * The common table's "output" comes later, so getopt_long finds ours. */
    memset(o, 0, sizeof *o);
    cli_common_defaults(&o->co);
    o->co.batch = 256;
    occlude_spec *s = &o->spec;
    s->wh = s->ww = 8;
    s->sh = s->sw = 4;
    s->fill = OCC_FILL_GRAY;
    s->padding = OCC_PAD_CLIP;
    int c;
    while ((c = getopt_long(argc, argv, "m:t:w:s:f:" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 't': o->target = optarg; break;
        case 'w': parse_hw("--window", optarg, &s->wh, &s->ww); break;
        case 's': parse_hw("--stride", optarg, &s->sh, &s->sw); break;
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
    if (!o->model)
        die_usage("no model given (-m MODEL.h5)");
    if (optind < argc - 1)
        die_usage("one images file expected, got %d", argc - optind);
    o->input = optind < argc ? argv[optind] : NULL;
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

/* "max" / "mean" / "sum" after a ':' */
static int parse_summary(const char *t, const char *s)
{
    if (!strcmp(s, "max")) return OCC_SUM_MAX;
    if (!strcmp(s, "mean")) return OCC_SUM_MEAN;
    if (!strcmp(s, "sum")) return OCC_SUM_SUM;
    die_usage("--target %s: summary '%s' is not max, mean or sum", t, s);
}

/* The target and measure into spec; layers and classes checked against
 * the model (unknown ones die with the list of what exists). */
static void resolve_target(struct occ_opts *o, model *m, int has_labels)
{
    occlude_spec *s = &o->spec;
    const char *t = o->target ? o->target : has_labels ? "label" : "pred";
    if (!strcmp(t, "label")) {
        if (!has_labels)
            die("%s: --target label needs /labels in the images file",
                o->input ? o->input : "<stdin>");
        s->target = OCC_TARGET_LABEL;
    } else if (!strcmp(t, "pred"))
        s->target = OCC_TARGET_PRED;
    else if (!strncmp(t, "class=", 6)) {
        const char *v = t + 6;
        char *end;
        long k = strtol(v, &end, 10);
        s->target = OCC_TARGET_CLASS;
        if (*v && !*end)
            s->cls = k < 0 || k > 1 << 30 ? -1 : (int)k;
        else {
            s->cls = -1;
            for (int i = 0; m->classes && i < m->nclasses; i++)
                if (!strcmp(m->classes[i], v))
                    s->cls = i;
            if (s->cls < 0)
                die("%s: no class '%s' in the model", o->model, v);
        }
        if (s->cls < 0)
            die("class %s is not a class index", v);
    } else if (!strncmp(t, "unit=", 5) || !strncmp(t, "strongest=", 10)) {
        int unit = t[0] == 'u';
        char *spec = xstrdup(t + (unit ? 5 : 10));
        char *at = strchr(spec, '@');
        if (at) {
            *at++ = 0;
            char *comma = strchr(at, ',');
            if (!comma)
                die_usage("--target %s: position is @Y,X", t);
            *comma++ = 0;
            s->summary = OCC_SUM_AT;
            s->at_y = (int)cli_long("--target @Y", at, 0, 1 << 20);
            s->at_x = (int)cli_long("--target @X", comma, 0, 1 << 20);
        } else
            s->summary = unit ? OCC_SUM_MAX : OCC_SUM_SUM;
        char *colon = strchr(spec, ':');
        char *rest = NULL;
        if (colon) {
            *colon = 0;
            rest = colon + 1;
        }
        s->node = model_require(m, spec, o->model);
        if (unit) {
            if (!rest || !*rest)
                die_usage("--target %s: give the feature map, unit=LAYER:C", t);
            char *c2 = strchr(rest, ':');
            if (c2) {
                *c2++ = 0;
                if (at)
                    die_usage("--target %s: a position and a summary cannot both be given", t);
                s->summary = parse_summary(t, c2);
            }
            s->channel = (int)cli_long("--target unit channel", rest, 0, 1 << 30);
            s->target = OCC_TARGET_UNIT;
        } else {
            if (rest) {
                if (at)
                    die_usage("--target %s: a position and a summary cannot both be given", t);
                s->summary = parse_summary(t, rest);
            }
            s->target = OCC_TARGET_STRONGEST;
        }
        free(spec);
    } else
        die_usage("--target: '%s' is not class=K, label, pred, unit=LAYER:C or strongest=LAYER", t);
    int unitlike = s->target == OCC_TARGET_UNIT || s->target == OCC_TARGET_STRONGEST;
    const char *ms = o->measure ? o->measure : unitlike ? "unit" : "logit";
    if (!strcmp(ms, "logit")) s->measure = OCC_MEASURE_LOGIT;
    else if (!strcmp(ms, "prob")) s->measure = OCC_MEASURE_PROB;
    else if (!strcmp(ms, "unit")) s->measure = OCC_MEASURE_UNIT;
    else die_usage("--measure: '%s' is not logit, prob or unit", ms);
    if (unitlike != (s->measure == OCC_MEASURE_UNIT))
        die_usage("--measure %s does not go with --target %s", ms, t);
}

static const char *fill_name(int f)
{
    static const char *const n[] = { "gray", "zero", "mean", "blur", "value" };
    return n[f];
}

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    struct occ_opts o;
    parse_args(argc, argv, &o);
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
    engine_set_threads(o.co.threads);
    model *m = model_load(o.model);
    h5in *in = h5in_open(o.input);
    h5in_require_kind(in, "images");
    int64_t dims[TENSOR_MAXDIM];
    int nd = h5in_dims(in, "/images", dims);
    if (nd != 4 || dims[1] != m->in_shape[0] || dims[2] != m->in_shape[1] ||
        dims[3] != m->in_shape[2])
        die("%s: images are %lldx%lldx%lld but the model %s takes %lldx%lldx%lld", in->name,
            nd == 4 ? (long long)dims[1] : -1LL, nd == 4 ? (long long)dims[2] : -1LL,
            nd == 4 ? (long long)dims[3] : -1LL, o.model, (long long)m->in_shape[0],
            (long long)m->in_shape[1], (long long)m->in_shape[2]);
    int64_t a = o.co.range_a, b = o.co.range_b;
    cli_range_resolve(dims[0], &a, &b);
    int64_t n = b - a;
    if (n < 1)
        die("%s: no images in the range", in->name);
    int has_labels = h5in_has(in, "/labels");
    resolve_target(&o, m, has_labels);
    int64_t chunk = n < 64 ? n : 64;   /* images per occlude_run */
    o.spec.images = chunk;
    occlude *oc = occlude_new(m, &o.spec);
    int hm, wm;
    occlude_grid(oc, &hm, &wm);
    int64_t C = m->in_shape[0], H = m->in_shape[1], W = m->in_shape[2];
    int32_t *labels = has_labels ? h5in_read_i32(in, "/labels", a, n) : NULL;

    h5out *out = h5out_create(o.co.output, "maps", in);
    int64_t md[3] = { n, o.per_pixel ? H : hm, o.per_pixel ? W : wm };
    int64_t wd[3] = { n, hm, wm };
    int64_t id[4] = { n, C, H, W };
    h5out_create_rows(out, "/maps", 3, md);
    if (o.per_pixel)
        h5out_create_rows(out, "/window_maps", 3, wd);
    if (!o.no_images)
        h5out_create_rows(out, "/images", 4, id);
    h5out_carry(out, in, a, b);
    if (!h5in_has(in, "/classes") && m->classes && m->nclasses > 0)
        h5out_write_strings(out, "/classes", m->nclasses, m->classes);

    tensor *x = tensor_new4(chunk, C, H, W);
    tensor *mp = tensor_new(3, (int64_t[]){ chunk, hm, wm });
    tensor *pp = o.per_pixel ? tensor_new(3, (int64_t[]){ chunk, H, W }) : NULL;
    float *base = xcalloc((size_t)n, sizeof *base);
    int32_t *targets = xcalloc((size_t)n, sizeof *targets);
    progress *pg = progress_start("occlude", n);
    for (int64_t s = 0; s < n; s += chunk) {
        int64_t c = n - s < chunk ? n - s : chunk;
        x->dims[0] = mp->dims[0] = c;
        pixels_read_into(in, a + s, c, x->data);
        for (int64_t i = 0; i < c; i++)
            targets[s + i] = labels ? labels[s + i] : 0;
        occlude_run(oc, x, targets + s, mp->data, base + s);
        finite_check_rows(base + s, c, 1, a + s, in->name, "image", "target score", "column",
                          FINITE_FROM_PIXELS);
        finite_check_rows(mp->data, c, (int64_t)hm * wm, a + s, in->name, "image",
                          "occluded score", "window", FINITE_FROM_PIXELS);
        occlude_transform(outk, c, (int64_t)hm * wm, mp->data, base + s);
        if (o.per_pixel) {
            pp->dims[0] = c;
            for (int64_t i = 0; i < c; i++)
                occlude_per_pixel(oc, mp->data + i * hm * wm, pp->data + i * H * W);
            h5out_write_rows(out, "/maps", s, pp);
            h5out_write_rows(out, "/window_maps", s, mp);
        } else
            h5out_write_rows(out, "/maps", s, mp);
        if (!o.no_images)
            h5out_write_rows(out, "/images", s, x);
        progress_update(pg, s + c);
    }
    progress_end(pg);
    tensor bt = { 1, { n }, base };
    h5out_write(out, "/baseline", &bt);
    h5out_write_i32(out, "/targets", n, targets);

    const occlude_spec *sp = &o.spec;
    static const char *const meas[] = { "logit", "prob", "unit" };
    static const char *const outs[] = { "raw", "diff", "percent" };
    static const char *const sums[] = { "max", "mean", "sum", "at" };
    const char *tg = o.target ? o.target : has_labels ? "label" : "pred";
    h5out_attr_str(out, "/", "model", o.model);
    h5out_attr_str(out, "/", "target", tg);
    h5out_attr_str(out, "/", "layer", m->nodes[occlude_measure_node(oc)].name);
    if (sp->target == OCC_TARGET_UNIT || sp->target == OCC_TARGET_STRONGEST) {
        h5out_attr_str(out, "/", "summary", sums[sp->summary]);
        if (sp->summary == OCC_SUM_AT)
            h5out_attr_i64(out, "/", "position", 2, (int64_t[]){ sp->at_y, sp->at_x });
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
    h5out_attr_str(out, "/", "measure", meas[sp->measure]);
    h5out_attr_str(out, "/", "output", outs[outk]);
    h5out_attr_i64(out, "/", "per_pixel", 1, (int64_t[]){ o.per_pixel });
    h5out_attr_str(out, "/", "method", sp->naive ? "naive" : "incremental");
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
    tensor_free(x);
    tensor_free(mp);
    tensor_free(pp);
    occlude_free(oc);
    h5in_close(in);
    model_free(m);
    return EXIT_OK;
}
