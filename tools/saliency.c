/* cnn-saliency: attributions of a class or unit to the input pixels
 * (common/methods/saliency.h and the rooms it uses: cam, deeplift, lrp),
 * written as a maps file. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "io/h5io.h"
#include "io/pixels.h"
#include "nn/model.h"
#include "nn/setup.h"
#include "methods/saliency.h"
#include "methods/target.h"

static const char usage[] =
    "Usage: cnn-saliency -m MODEL.h5 [--method M] [--target T] [options] [IMAGES.h5]\n"
    "Attributions of a target to the input pixels of every image. Writes a maps\n"
    "file: /attr (N x C x H x W, per channel), /maps (N x H x W, channels reduced),\n"
    "/scores (the target's value), /target (class or channel measured), and\n"
    "/ids, /labels, /classes of the images; the CAMs add /cam (layer resolution)\n"
    "and /cam_weights (N x K, when the CAM has channel weights); integrated\n"
    "gradients, deeplift, gradientshap and lrp add /baseline_scores and\n"
    "/completeness.\n"
    "\n"
    "  -m, --model FILE    model file (kind=model)\n"
    "  -M, --method M      gradient (default), guided, deconvnet, input-x-gradient,\n"
    "                      smoothgrad, integrated-gradients, deeplift, gradientshap,\n"
    "                      lrp; the CAMs gradcam, gradcam++, xgradcam, layercam,\n"
    "                      eigencam, scorecam, ablationcam; guided-gradcam\n"
    "  -t, --target T      what is explained (as cnn-occlude; default label when\n"
    "                      the images have labels, else pred):\n"
    "                        class=K      class K (a number or a class name)\n"
    "                        label        each image's true label\n"
    "                        pred         the class predicted for the image\n"
    "                        unit=L:C     feature map C of layer L, its maximum;\n"
    "                                     unit=L:C:mean, unit=L:C:sum, or one\n"
    "                                     position unit=L:C@X,Y\n"
    "                        strongest=L  the map of layer L with the largest\n"
    "                                     sum on the clean image; strongest=L:max\n"
    "      --measure W     logit (default) or prob, for class targets\n"
    "  -r, --reduce R      channels to /maps: absmax (default), max, sum, l2\n"
    "SmoothGrad (--method smoothgrad, or --smooth on top of any method):\n"
    "      --smooth        average the method over noisy copies of each image\n"
    "      --smooth-stat S mean (SmoothGrad, default), sq (SmoothGrad^2: mean of\n"
    "                      squares) or var (VarGrad: variance)\n"
    "      --noise F       noise sd as a fraction of the image's range (0.15;\n"
    "                      gradientshap: 0)\n"
    "      --samples N     noisy copies (50); up to --batch rows of them go\n"
    "                      through the net at once (within about 2 GiB)\n"
    "      --noise-file F  unit normal draws /noise (S x C x H x W) to use for\n"
    "                      every image instead of --seed's (S samples); for\n"
    "                      gradientshap also /alpha (S path positions in [0,1])\n"
    "Integrated gradients, deeplift, gradientshap (reference-based):\n"
    "      --steps N       integrated gradients' Riemann steps k/N, k = 1..N (50);\n"
    "                      packed into passes of up to --batch rows\n"
    "      --baseline B    zeros (default), a pixel VALUE, or blur[:SIGMA]\n"
    "                      (Gaussian blur of the image, SIGMA pixels, default 5)\n"
    "      --baseline-file F  an images file of baselines instead: the first for\n"
    "                      integrated gradients and deeplift; gradientshap uses\n"
    "                      baseline j mod B for its sample j\n"
    "      --samples N     gradientshap's samples (50), with --noise\n"
    "LRP:\n"
    "      --rule R        epsilon (default), gamma or alpha1beta0 on Conv/Dense\n"
    "      --epsilon E     the stabiliser (1e-9)\n"
    "      --gamma G       the gamma rule's gamma (0.25)\n"
    "CAMs:\n"
    "  -l, --layer LAYER   the convolutional layer (required)\n"
    CLI_IMAGE_HELP CLI_PHOTO_INTRO CLI_PHOTO_HELP
    CLI_HELP_OUTPUT CLI_HELP_RANGE CLI_HELP_BATCH CLI_HELP_THREADS CLI_HELP_SEED CLI_HELP_END;

struct sal_opts {
    struct cli_common co;
    const char *model, *input, *target, *layer, *noise_file, *baseline, *baseline_file;
    int method, asked, reduce, measure, samples, samples_set, steps, steps_set;
    int smooth, stat, rule, noise_set, lrp_set;
    double noise, epsilon, gamma;
};

enum { OPT_MEASURE = 2001, OPT_SMOOTH, OPT_NOISE, OPT_SAMPLES, OPT_NOISE_FILE, OPT_STEPS,
       OPT_BASELINE, OPT_STAT, OPT_BASEFILE, OPT_RULE, OPT_EPSILON, OPT_GAMMA };

static const struct option longopts[] = {
    { "model", required_argument, 0, 'm' },
    { "method", required_argument, 0, 'M' },
    { "target", required_argument, 0, 't' },
    { "measure", required_argument, 0, OPT_MEASURE },
    { "reduce", required_argument, 0, 'r' },
    { "smooth", no_argument, 0, OPT_SMOOTH },
    { "smooth-stat", required_argument, 0, OPT_STAT },
    { "noise", required_argument, 0, OPT_NOISE },
    { "samples", required_argument, 0, OPT_SAMPLES },
    { "noise-file", required_argument, 0, OPT_NOISE_FILE },
    { "steps", required_argument, 0, OPT_STEPS },
    { "baseline", required_argument, 0, OPT_BASELINE },
    { "baseline-file", required_argument, 0, OPT_BASEFILE },
    { "rule", required_argument, 0, OPT_RULE },
    { "epsilon", required_argument, 0, OPT_EPSILON },
    { "gamma", required_argument, 0, OPT_GAMMA },
    { "layer", required_argument, 0, 'l' },
    CLI_COMMON_LONGOPTS, CLI_IMAGE_LONGOPTS, CLI_PHOTO_LONGOPTS,
    { 0, 0, 0, 0 }
};

/* One option into o (getopt's c and optarg). */
static void parse_opt(int c, const char *arg, struct sal_opts *o)
{
    switch (c) {
    case 'm': o->model = arg; break;
    case 'M':
        if ((o->method = saliency_method_parse(arg)) < 0)
            die_usage("unknown method '%s' (%s)", arg, saliency_method_list());
        break;
    case 't': o->target = arg; break;
    case OPT_MEASURE:
        if (strcmp(arg, "logit") && strcmp(arg, "prob"))
            die_usage("--measure: '%s' is not logit or prob", arg);
        o->measure = !strcmp(arg, "prob") ? TARGET_PROB : TARGET_LOGIT;
        break;
    case 'r':
        if ((o->reduce = saliency_reduce_parse(arg)) < 0)
            die_usage("--reduce: '%s' is not max, absmax, sum or l2", arg);
        break;
    case OPT_SMOOTH: o->smooth = 1; break;
    case OPT_STAT:
        if ((o->stat = saliency_stat_parse(arg)) < 0)
            die_usage("--smooth-stat: '%s' is not mean, sq or var", arg);
        break;
    case OPT_NOISE: o->noise = cli_double("--noise", arg, 0, 1e6), o->noise_set = 1; break;
    case OPT_SAMPLES:
        o->samples = (int)cli_long("--samples", arg, 1, 1 << 20);
        o->samples_set = 1;
        break;
    case OPT_NOISE_FILE: o->noise_file = arg; break;
    case OPT_STEPS: o->steps = (int)cli_long("--steps", arg, 1, 1 << 20), o->steps_set = 1; break;
    case OPT_BASELINE: o->baseline = arg; break;
    case OPT_BASEFILE: o->baseline_file = arg; break;
    case OPT_RULE:
        if ((o->rule = saliency_lrp_rule_parse(arg)) < 0)
            die_usage("--rule: '%s' is not epsilon, gamma or alpha1beta0", arg);
        o->lrp_set = 1;
        break;
    case OPT_EPSILON: o->epsilon = cli_double("--epsilon", arg, 0, 1e6), o->lrp_set = 1; break;
    case OPT_GAMMA: o->gamma = cli_double("--gamma", arg, 0, 1e6), o->lrp_set = 1; break;
    case 'l': o->layer = arg; break;
    default: cli_common_opt(c, arg, &o->co, usage);
    }
}

/* Options that do not fit the method: usage errors. */
static void check_opts(struct sal_opts *o)
{
    int m = o->method, ref = m == SAL_INTEGRATED || m == SAL_DEEPLIFT || m == SAL_GRADIENTSHAP;
    if (m == SAL_SMOOTHGRAD) {
        if (o->smooth)
            die_usage("--smooth goes on top of another method (smoothgrad is gradient --smooth)");
        o->method = SAL_GRADIENT;
        o->smooth = 1;
    }
    if (saliency_is_cam((sal_method)m) && !o->layer)
        die_usage("%s needs a layer: -l LAYER (a convolutional layer)",
                  saliency_method_name((sal_method)m));
    if (!saliency_is_cam((sal_method)m) && o->layer)
        die_usage("-l is the CAMs' layer; the target's layer goes in --target unit=LAYER:C");
    if (m == SAL_GRADIENTSHAP && o->smooth)
        die_usage("gradientshap is already a noisy average: no --smooth");
    int sampled = o->smooth || m == SAL_GRADIENTSHAP;
    if (!sampled && (o->noise_file || o->samples_set || o->noise_set))
        die_usage("--noise, --noise-file and --samples are for smoothgrad, --smooth or "
                  "gradientshap");
    if (!o->smooth && o->stat)
        die_usage("--smooth-stat is for smoothgrad or --smooth");
    if (o->steps_set && m != SAL_INTEGRATED)
        die_usage("--steps is for integrated-gradients");
    if (!ref && (o->baseline || o->baseline_file))
        die_usage("--baseline and --baseline-file are for integrated-gradients, deeplift and "
                  "gradientshap");
    if (o->baseline && o->baseline_file)
        die_usage("--baseline or --baseline-file, not both");
    if (o->lrp_set && m != SAL_LRP)
        die_usage("--rule, --epsilon and --gamma are for lrp");
    if (m == SAL_GRADIENTSHAP && !o->noise_set)
        o->noise = 0;
}

static void parse_args(int argc, char **argv, struct sal_opts *o)
{
    memset(o, 0, sizeof *o);
    cli_common_for(&o->co, CLI_RANGE | CLI_BATCH | CLI_THREADS | CLI_SEED);
    o->method = SAL_GRADIENT;
    o->reduce = SAL_REDUCE_ABSMAX;
    o->noise = 0.15;
    o->samples = 50;
    o->steps = 50;
    int c;
    while ((c = getopt_long(argc, argv, "m:M:t:r:l:" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1)
        parse_opt(c, optarg, o);
    o->input = setup_args(o->model, argc, argv, optind);
    o->asked = o->method;
    check_opts(o);
}

/* --baseline zeros | VALUE | blur[:SIGMA] into cfg. */
static void parse_baseline(const char *s, saliency_cfg *cfg)
{
    if (!s || !strcmp(s, "zeros"))
        cfg->baseline = SAL_BASE_ZEROS;
    else if (!strncmp(s, "blur", 4) && (!s[4] || s[4] == ':')) {
        cfg->baseline = SAL_BASE_BLUR;
        cfg->blur_sigma = s[4] ? cli_double("--baseline blur:SIGMA", s + 5, 0, 1e4) : 5.0;
    } else {
        cfg->baseline = SAL_BASE_VALUE;
        cfg->baseline_value = cli_double("--baseline", s, -1e6, 1e6);
    }
}

/* The noise file's draws (and /alpha, when asked for), checked against
 * the images' shape. */
static tensor *read_noise(const char *path, const int64_t *shape, int *samples, tensor **alpha)
{
    h5in *f = h5in_open(path);
    if (!h5in_has(f, "/noise"))
        die("%s: no dataset '/noise' (expected S x C x H x W unit normal draws)", f->name);
    int64_t d[TENSOR_MAXDIM];
    int nd = h5in_dims(f, "/noise", d);
    if (nd != 4 || d[0] < 1 || d[1] != shape[0] || d[2] != shape[1] || d[3] != shape[2])
        die("%s: /noise is %s, expected S x %lldx%lldx%lld (the model's input)", f->name,
            tensor_shape_str(nd, d, (char[64]){ 0 }, 64), (long long)shape[0],
            (long long)shape[1], (long long)shape[2]);
    tensor *t = h5in_read(f, "/noise");
    *samples = (int)d[0];
    if (alpha && h5in_has(f, "/alpha")) {
        int64_t da[TENSOR_MAXDIM];
        if (h5in_dims(f, "/alpha", da) != 1 || da[0] != d[0])
            die("%s: /alpha must hold one value per sample (%lld)", f->name, (long long)d[0]);
        *alpha = h5in_read(f, "/alpha");
    }
    h5in_close(f);
    return t;
}

/* The baseline images file, checked against the model like the images. */
static tensor *read_baselines(const char *path, const model *m, const char *model_file)
{
    h5in *f = h5in_open(path);
    int64_t n = setup_check_images(f, m, model_file);
    if (n < 1)
        die("%s: no baseline images", f->name);
    tensor *t = pixels_read(f, 0, n);
    h5in_close(f);
    return t;
}

static void write_attrs(h5out *out, const struct sal_opts *o, const saliency_cfg *cfg,
                        const model *m)
{
    h5out_attr_str(out, "/", "model", o->model);
    /* method as asked ("smoothgrad"); base_method is what is smoothed. */
    h5out_attr_str(out, "/", "method", saliency_method_name((sal_method)o->asked));
    h5out_attr_str(out, "/", "base_method", saliency_method_name((sal_method)o->method));
    h5out_attr_str(out, "/", "target", o->target);
    h5out_attr_str(out, "/", "measure", o->measure == TARGET_PROB ? "prob" : "logit");
    h5out_attr_str(out, "/", "reduce", saliency_reduce_name((sal_reduce)o->reduce));
    h5out_attr_i64(out, "/", "smooth", 1, (int64_t[]){ o->smooth });
    if (o->smooth || o->method == SAL_GRADIENTSHAP) {
        h5out_attr_f64(out, "/", "noise", 1, &o->noise);
        h5out_attr_i64(out, "/", "samples", 1, (int64_t[]){ cfg->samples });
        h5out_attr_i64(out, "/", "seed", 1, (int64_t[]){ (int64_t)o->co.seed });
        if (o->noise_file)
            h5out_attr_str(out, "/", "noise_file", o->noise_file);
    }
    if (o->smooth)
        h5out_attr_str(out, "/", "smooth_stat", saliency_stat_name(cfg->smooth_stat));
    if (o->method == SAL_INTEGRATED) {
        h5out_attr_i64(out, "/", "steps", 1, (int64_t[]){ o->steps });
        h5out_attr_str(out, "/", "riemann", "right: (x-b)/m * sum_{k=1..m} grad f(b + k/m (x-b))");
    }
    if (saliency_has_completeness((sal_method)o->method) && o->method != SAL_LRP)
        h5out_attr_str(out, "/", "baseline", o->baseline_file ? o->baseline_file
                                             : o->baseline ? o->baseline : "zeros");
    if (o->method == SAL_LRP) {
        h5out_attr_str(out, "/", "rule", saliency_lrp_rule_name(cfg->lrp_rule));
        h5out_attr_f64(out, "/", "epsilon", 1, &cfg->epsilon);
        if (cfg->lrp_rule == SAL_LRP_GAMMA)
            h5out_attr_f64(out, "/", "gamma", 1, &cfg->gamma);
    }
    if (saliency_is_cam((sal_method)o->method))
        h5out_attr_str(out, "/", "layer", m->nodes[cfg->layer].name);
}

/* Everything a run holds: the inputs, the runner, the output and the
 * batch buffers. */
struct run {
    struct sal_opts *o;
    model *m;
    h5in *in;
    int64_t a, b, n;
    target t;
    saliency_cfg cfg;
    tensor *noise, *alpha, *baselines;
    int batch;
    saliency *s;
    h5out *out;
    tensor *xb, *attr, *maps, *cam, *sc, *bs, *ce, *cw;
    int32_t *chosen;
    int comp;                     /* writes /completeness */
    double err, max, gap;         /* completeness: sums of |error|, |gap|; max |error| */
};

/* The target of --target (label when the images have labels, else pred). */
static void setup_target(struct run *r)
{
    struct sal_opts *o = r->o;
    int has_labels = h5in_has(r->in, "/labels");
    char err[512];
    if (target_parse(o->target ? o->target : has_labels ? "label" : "pred", &r->t, err,
                     sizeof err) < 0)
        die_usage("%s", err);
    o->target = r->t.spec;
    r->t.measure = (target_measure)o->measure;
    if (o->measure == TARGET_PROB && (r->t.kind == TARGET_UNIT || r->t.kind == TARGET_STRONGEST))
        die_usage("--measure prob is for class targets, not --target %s", r->t.spec);
    target_resolve(&r->t, r->m, o->model);
    if (target_needs_labels(&r->t) && !has_labels)
        die("%s: no /labels, which target 'label' needs (use class=K or pred)", r->in->name);
}

/* The runner's configuration from the options and files. */
static void setup_cfg(struct run *r)
{
    struct sal_opts *o = r->o;
    saliency_cfg *c = &r->cfg;
    c->method = (sal_method)o->method;
    c->smooth = o->smooth, c->smooth_stat = (sal_stat)o->stat;
    c->noise = o->noise, c->samples = o->samples, c->seed = o->co.seed, c->steps = o->steps;
    c->lrp_rule = (sal_lrp_rule)o->rule, c->epsilon = o->epsilon > 0 ? o->epsilon : 1e-9;
    c->gamma = o->gamma > 0 ? o->gamma : 0.25;
    parse_baseline(o->baseline, c);
    if (o->layer)
        c->layer = model_require(r->m, o->layer, o->model);
    if (o->noise_file) {
        int ns;
        r->noise = read_noise(o->noise_file, r->m->in_shape, &ns,
                              o->method == SAL_GRADIENTSHAP ? &r->alpha : NULL);
        if (o->samples_set && ns != o->samples)
            die("%s: holds %d samples but --samples is %d", o->noise_file, ns, o->samples);
        c->samples = ns;
        c->noise_data = r->noise->data;
        c->alpha_data = r->alpha ? r->alpha->data : NULL;
    }
    if (o->baseline_file) {
        r->baselines = read_baselines(o->baseline_file, r->m, o->model);
        c->baseline_data = r->baselines->data;
        c->baseline_count = r->baselines->dims[0];
    }
}

/* The output file, its attributes and datasets, and the batch buffers. */
static void setup_output(struct run *r)
{
    int64_t n = r->n, C = r->m->in_shape[0], H = r->m->in_shape[1], W = r->m->in_shape[2];
    int64_t ca = saliency_channels(r->s), ch, cw, K;
    saliency_cam_shape(r->s, &ch, &cw);
    r->out = h5out_create(r->o->co.output, "maps", r->in);
    write_attrs(r->out, r->o, &r->cfg, r->m);
    h5out_carry(r->out, r->in, r->a, r->b);
    /* The explained classes' names (/target indexes them) for photos. */
    if (!h5in_has(r->in, "/classes") && r->m->classes && r->m->nclasses > 0)
        h5out_write_strings(r->out, "/classes", r->m->nclasses, r->m->classes);
    h5out_create_rows(r->out, "/attr", 4, (int64_t[]){ n, ca, H, W });
    h5out_create_rows(r->out, "/maps", 3, (int64_t[]){ n, H, W });
    h5out_create_rows(r->out, "/scores", 1, &n);
    h5out_create_ints(r->out, "/target", n, 32);
    if (ch)
        h5out_create_rows(r->out, "/cam", 3, (int64_t[]){ n, ch, cw });
    if (saliency_cam_weights(r->s, &K))
        h5out_create_rows(r->out, "/cam_weights", 2, (int64_t[]){ n, K });
    if (r->comp) {
        h5out_create_rows(r->out, "/baseline_scores", 1, &n);
        h5out_create_rows(r->out, "/completeness", 1, &n);
    }
    int bt = r->batch;
    r->xb = tensor_new4(bt, C, H, W), r->attr = tensor_new4(bt, ca, H, W);
    r->maps = tensor_new(3, (int64_t[]){ bt, H, W });
    r->cam = ch ? tensor_new(3, (int64_t[]){ bt, ch, cw }) : NULL;
    r->cw = ch ? tensor_new2(bt, K) : NULL;
    r->sc = tensor_new(1, (int64_t[]){ bt }), r->bs = tensor_new(1, (int64_t[]){ bt });
    r->ce = tensor_new(1, (int64_t[]){ bt });
    r->chosen = xmalloc((size_t)bt * sizeof *r->chosen);
}

/* Completeness of c images: the attributions of each should add up to
 * f(x) - f(baseline) (LRP: f(x)); the error into r->ce, the running
 * totals into r, a line per image to stderr when verbose. */
static void completeness(struct run *r, int64_t c, const int64_t *ids, int verbose)
{
    int64_t len = tensor_rowsize(r->attr);
    for (int64_t i = 0; i < c; i++) {
        double sum = 0, gap = (double)r->sc->data[i] - r->bs->data[i];
        for (int64_t j = 0; j < len; j++)
            sum += r->attr->data[i * len + j];
        double e = sum - gap;
        r->ce->data[i] = (float)e;
        r->err += fabs(e);
        r->gap += fabs(gap);
        r->max = fabs(e) > r->max ? fabs(e) : r->max;
        if (verbose)
            info("image %lld: completeness error %.6g (sum of attributions %.6g, "
                 "f(x) - f(baseline) %.6g)", (long long)ids[i], e, sum, gap);
    }
}

/* Rows [row, row + c) of the images through the method, into the file. */
static void one_batch(struct run *r, int64_t row, int64_t c)
{
    int64_t g = r->a + row, ca = r->attr->dims[1], K;
    r->xb->dims[0] = c;
    pixels_read_into(r->in, g, c, r->xb->data);
    int64_t *ids = h5in_has(r->in, "/ids") ? h5in_read_i64(r->in, "/ids", g, c) : NULL;
    int32_t *lab = h5in_has(r->in, "/labels") ? h5in_read_i32(r->in, "/labels", g, c) : NULL;
    if (!ids) {
        ids = xmalloc((size_t)c * sizeof *ids);
        for (int64_t i = 0; i < c; i++)
            ids[i] = g + i;
    }
    saliency_run(r->s, r->xb, lab, ids, r->attr, r->sc->data, r->chosen, r->bs->data, r->cam);
    saliency_reduce_maps(r->attr, (sal_reduce)r->o->reduce, r->maps);
    finite_check_rows(r->sc->data, c, 1, g, r->in->name, "image", "target score", "column",
                      FINITE_FROM_PIXELS);
    finite_check_rows(r->attr->data, c, ca * r->xb->dims[2] * r->xb->dims[3], g, r->in->name,
                      "image", "attribution", "value", FINITE_FROM_PIXELS);
    r->sc->dims[0] = r->bs->dims[0] = r->ce->dims[0] = c;
    h5out_write_rows(r->out, "/attr", row, r->attr);
    h5out_write_rows(r->out, "/maps", row, r->maps);
    h5out_write_rows(r->out, "/scores", row, r->sc);
    h5out_write_i32_rows(r->out, "/target", row, c, r->chosen);
    if (r->cam)
        h5out_write_rows(r->out, "/cam", row, r->cam);
    const float *w = saliency_cam_weights(r->s, &K);
    if (w) {
        r->cw->dims[0] = c;
        memcpy(r->cw->data, w, (size_t)(c * K) * sizeof(float));
        h5out_write_rows(r->out, "/cam_weights", row, r->cw);
    }
    if (r->comp) {
        completeness(r, c, ids, r->n <= 20);
        h5out_write_rows(r->out, "/baseline_scores", row, r->bs);
        h5out_write_rows(r->out, "/completeness", row, r->ce);
    }
    free(ids);
    free(lab);
}

static void run_free(struct run *r)
{
    tensor *ts[] = { r->xb, r->attr, r->maps, r->cam, r->cw, r->sc, r->bs, r->ce };
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        if (ts[i]) {
            ts[i]->dims[0] = r->batch;
            tensor_free(ts[i]);
        }
    tensor_free(r->noise);
    tensor_free(r->alpha);
    tensor_free(r->baselines);
    free(r->chosen);
    saliency_free(r->s);
    target_free(&r->t);
    h5in_close(r->in);
    model_free(r->m);
}

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    struct sal_opts o;
    parse_args(argc, argv, &o);
    cli_check_stdout(o.co.output, "an HDF5 file");   /* before the work */
    struct run r = { .o = &o };
    r.m = setup_model(o.model, &o.co);
    r.in = setup_images(o.input, r.m, o.model, &o.co, &r.a, &r.b);
    r.n = r.b - r.a;
    setup_target(&r);
    setup_cfg(&r);
    /* The engine keeps every layer for a whole batch: no larger than the
     * data (a few 224 x 224 photos need not pay for 64). */
    r.batch = r.n < o.co.batch ? (r.n > 0 ? (int)r.n : 1) : o.co.batch;
    r.s = saliency_new(r.m, &r.t, &r.cfg, saliency_rows(r.m, &r.cfg, r.batch, o.co.batch),
                       o.model);
    r.comp = saliency_has_completeness((sal_method)o.method);
    setup_output(&r);
    saliency_progress(r.s, r.n);
    for (int64_t row = 0; row < r.n; row += r.batch)
        one_batch(&r, row, r.n - row < r.batch ? r.n - row : r.batch);
    saliency_progress_end(r.s);
    if (r.comp && r.n > 0)
        info("%s: completeness error mean %.4g, max %.4g (mean |f(x) - f(baseline)| %.4g) "
             "over %lld images", saliency_label(r.s), r.err / (double)r.n, r.max,
             r.gap / (double)r.n, (long long)r.n);
    h5out_commit(r.out);
    run_free(&r);
    return EXIT_OK;
}
