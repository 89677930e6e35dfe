/* cnn-evaluate: scores attributions (any maps file of cnn-saliency or
 * cnn-occlude) on the model and images they explain: deletion and
 * insertion curves (Petsiuk et al.), infidelity and max-sensitivity (Yeh et
 * al., as Captum's). The work is in common/methods/evaluate.c; this parses
 * options, checks that the maps fit the images, and writes the file. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "io/h5io.h"
#include "io/pixels.h"
#include "methods/evaluate.h"
#include "methods/saliency.h"
#include "methods/target.h"
#include "nn/arch.h"
#include "nn/model.h"
#include "nn/setup.h"

static const char usage[] =
    "Usage: cnn-evaluate -m MODEL.h5 --maps MAPS.h5 --metric M [options] [IMAGES.h5]\n"
    "Scores the attributions of MAPS.h5 (from cnn-saliency or cnn-occlude) on\n"
    "the images they explain. Writes an evaluation file (kind=evaluation):\n"
    "deletion/insertion: /curve (N x steps+1, the target's probability after\n"
    "each step) and /auc (N); infidelity: /infidelity (N); sensitivity:\n"
    "/sensitivity (N); sanity: /cascade (N x L+1 x H x W), /spearman, /ssim,\n"
    "/hog (N x L), /layers (L); and /target, /ids, /labels, /classes, /paths.\n"
    "\n"
    "  -m, --model FILE    model file (kind=model)\n"
    "      --maps FILE     the maps file (kind=maps) whose /maps (N x H x W) rank\n"
    "                      the pixels; its rows must be IMAGES.h5's (same /ids)\n"
    "      --metric M      deletion: ranked pixels replaced by --fill, most\n"
    "                      important first; insertion: put back into a blurred\n"
    "                      copy; infidelity: Gaussian perturbations against the\n"
    "                      attributions (/attr, else /maps on every channel);\n"
    "                      sensitivity: the largest relative change of the\n"
    "                      recomputed attribution within --radius; sanity:\n"
    "                      Adebayo et al.'s cascading randomisation, layers\n"
    "                      re-initialised from the top down, the recomputed map\n"
    "                      compared with the trained model's (Spearman, SSIM, HOG)\n"
    "  -t, --target T      the class scored: class=K, label or pred (default:\n"
    "                      the class the maps explain, their /target)\n"
    "      --steps N       deletion/insertion steps (default 100; at most H x W)\n"
    "  -f, --fill F        deletion's fill: zero (default), gray, blur or a\n"
    "                      number VALUE\n"
    "      --blur-sigma S  Gaussian sigma in pixels of insertion's start (and of\n"
    "                      --fill blur; default 5)\n"
    "      --samples N     infidelity/sensitivity perturbations (default 10)\n"
    "      --noise S       infidelity: sd of the perturbations (default 0.01)\n"
    "      --radius R      sensitivity: perturbations uniform in [-R, R] (default 0.02)\n"
    "      --noise-file F  /noise (samples x C x H x W) draws for every image:\n"
    "                      unit normal (infidelity) or uniform in [-1,1]\n"
    "                      (sensitivity), scaled by --noise or --radius\n"
    "      --shuffled-model FILE\n"
    "                      sanity: Adebayo et al.'s data randomisation instead of\n"
    "                      the cascade: the map on FILE (the same architecture\n"
    "                      trained on shuffled labels, cnn-train --shuffle-labels)\n"
    "                      compared with MODEL's; /layers is \"shuffled-labels\"\n"
    "      --batch N       perturbed copies per pass (default 64)\n"

    CLI_IMAGE_HELP
    CLI_HELP_OUTPUT CLI_HELP_RANGE CLI_HELP_THREADS CLI_HELP_SEED CLI_HELP_END;

enum { OPT_MAPS = 2001, OPT_METRIC, OPT_STEPS, OPT_BLUR, OPT_SAMPLES, OPT_NOISE, OPT_RADIUS,
       OPT_NOISE_FILE, OPT_FILL_BIT, OPT_SHUFFLED };

struct ev_opts {
    struct cli_common co;
    const char *model, *maps, *target, *input, *noise_file, *shuffled;
    int metric;
    unsigned given;             /* metric options set: 1 << (OPT_x - OPT_STEPS), fill */
    evaluate_cfg cfg;
};

/* A metric option given with a metric that does not read it is refused. */
static void refuse_others(const struct ev_opts *o)
{
    static const struct { int opt; const char *name; unsigned metrics; } t[] = {
        { OPT_STEPS, "--steps", 1u << EVAL_DELETION | 1u << EVAL_INSERTION },
        { OPT_BLUR, "--blur-sigma", 1u << EVAL_DELETION | 1u << EVAL_INSERTION },
        { OPT_SAMPLES, "--samples", 1u << EVAL_INFIDELITY | 1u << EVAL_SENSITIVITY },
        { OPT_NOISE, "--noise", 1u << EVAL_INFIDELITY },
        { OPT_RADIUS, "--radius", 1u << EVAL_SENSITIVITY },
        { OPT_NOISE_FILE, "--noise-file", 1u << EVAL_INFIDELITY | 1u << EVAL_SENSITIVITY },
        { OPT_FILL_BIT, "--fill", 1u << EVAL_DELETION },
        { OPT_SHUFFLED, "--shuffled-model", 1u << EVAL_SANITY },
    };
    for (size_t k = 0; k < sizeof t / sizeof *t; k++)
        if ((o->given >> (t[k].opt - OPT_STEPS) & 1) && !(t[k].metrics >> o->metric & 1))
            die_usage("%s does not go with --metric %s", t[k].name,
                      evaluate_metric_name((eval_metric)o->metric));
    if ((o->given >> (OPT_BLUR - OPT_STEPS) & 1) && o->metric == EVAL_DELETION &&
        o->cfg.fill != EVAL_FILL_BLUR)
        die_usage("--blur-sigma goes with insertion or --fill blur");
}

static void parse_args(int argc, char **argv, struct ev_opts *o)
{
    static const struct option longopts[] = {
        { "model", required_argument, 0, 'm' },
        { "maps", required_argument, 0, OPT_MAPS },
        { "metric", required_argument, 0, OPT_METRIC },
        { "target", required_argument, 0, 't' },
        { "steps", required_argument, 0, OPT_STEPS },
        { "fill", required_argument, 0, 'f' },
        { "blur-sigma", required_argument, 0, OPT_BLUR },
        { "samples", required_argument, 0, OPT_SAMPLES },
        { "noise", required_argument, 0, OPT_NOISE },
        { "radius", required_argument, 0, OPT_RADIUS },
        { "noise-file", required_argument, 0, OPT_NOISE_FILE },
        { "shuffled-model", required_argument, 0, OPT_SHUFFLED },
        CLI_COMMON_LONGOPTS, CLI_IMAGE_LONGOPTS,
        { 0, 0, 0, 0 }
    };
    memset(o, 0, sizeof *o);
    cli_common_for(&o->co, CLI_RANGE | CLI_BATCH | CLI_THREADS | CLI_SEED);
    evaluate_cfg *c = &o->cfg;
    o->metric = -1;
    c->steps = 100;
    c->fill = EVAL_FILL_ZERO;
    c->blur_sigma = 5.0;
    c->samples = 10;
    c->noise = 0.01;
    c->radius = 0.02;
    int ch;
    while ((ch = getopt_long(argc, argv, "m:t:f:" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (ch) {
        case 'm': o->model = optarg; break;
        case OPT_MAPS: o->maps = optarg; break;
        case OPT_METRIC:
            if ((o->metric = evaluate_metric_parse(optarg)) < 0)
                die_usage("--metric: unknown metric '%s' (deletion, insertion, infidelity, "
                          "sensitivity, sanity)", optarg);
            break;
        case 't': o->target = optarg; break;
        case OPT_STEPS: c->steps = (int)cli_long("--steps", optarg, 1, 1 << 24); break;
        case 'f': {
            int f = evaluate_fill_parse(optarg, &c->fill_value);
            if (f < 0)
                die_usage("--fill: '%s' is not zero, gray, blur or a number", optarg);
            c->fill = (eval_fill)f;
            break;
        }
        case OPT_BLUR: c->blur_sigma = cli_double("--blur-sigma", optarg, 1e-3, 1e4); break;
        case OPT_SAMPLES: c->samples = (int)cli_long("--samples", optarg, 1, 1 << 20); break;
        case OPT_NOISE: c->noise = cli_double("--noise", optarg, 0, 1e6); break;
        case OPT_RADIUS: c->radius = cli_double("--radius", optarg, 0, 1e6); break;
        case OPT_NOISE_FILE: o->noise_file = optarg; break;
        case OPT_SHUFFLED: o->shuffled = optarg; break;
        default:
            cli_common_opt(ch, optarg, &o->co, usage);
        }
        if (ch >= OPT_STEPS && ch <= OPT_SHUFFLED)
            o->given |= 1u << (ch - OPT_STEPS);
        if (ch == 'f')
            o->given |= 1u << (OPT_FILL_BIT - OPT_STEPS);
    }
    o->input = setup_args(o->model, argc, argv, optind);
    if (!o->maps)
        die_usage("no maps: give --maps MAPS.h5 (from cnn-saliency or cnn-occlude)");
    if (o->metric < 0)
        die_usage("no metric: give --metric deletion, insertion, infidelity, sensitivity or sanity");
    c->metric = (eval_metric)o->metric;
    refuse_others(o);
    c->batch = o->co.batch;
    c->seed = o->co.seed;
}

/* The maps file opened and checked against the images rows [a, b) and
 * the model: rows, /ids, and a /maps of the images' H x W where the metric
 * reads it. */
static h5in *open_maps(const struct ev_opts *o, h5in *in, const model *m, int64_t a, int64_t b)
{
    h5in *mp = h5in_open(o->maps);
    h5in_require_kind(mp, "maps");
    int64_t n = b - a, d[TENSOR_MAXDIM];
    if (!h5in_has(mp, "/maps"))
        die("%s: no dataset '/maps'", mp->name);
    int nd = h5in_dims(mp, "/maps", d);
    if (d[0] != n)
        die("%s: %lld maps, but %s has %lld images in the range (give --range as when the maps "
            "were made)", mp->name, (long long)d[0], in->name, (long long)n);
    int need_px = o->metric != EVAL_SENSITIVITY && o->metric != EVAL_SANITY &&
                  !(o->metric == EVAL_INFIDELITY && h5in_has(mp, "/attr"));
    if (need_px && (nd != 3 || d[1] != m->in_shape[1] || d[2] != m->in_shape[2]))
        die("%s: maps are %lldx%lld, not the images' %lldx%lld pixels (cnn-occlude --per-pixel "
            "gives maps per pixel)", mp->name, (long long)d[1], (long long)(nd > 2 ? d[2] : 1),
            (long long)m->in_shape[1], (long long)m->in_shape[2]);
    if (h5in_has(mp, "/ids") && h5in_has(in, "/ids")) {
        int64_t *mi = h5in_read_i64(mp, "/ids", 0, n), *ii = h5in_read_i64(in, "/ids", a, n);
        for (int64_t i = 0; i < n; i++)
            if (mi[i] != ii[i])
                die("%s: map %lld is of image id %lld but row %lld of %s has id %lld: the maps do "
                    "not match the images", mp->name, (long long)i, (long long)mi[i],
                    (long long)(a + i), in->name, (long long)ii[i]);
        free(mi);
        free(ii);
    }
    return mp;
}

/* The target: -t as given, or the maps' own class per row (/target). */
static void resolve_target(struct ev_opts *o, h5in *mp, model *m, int has_labels, target *t)
{
    char err[512];
    char *ms = h5in_attr_str(mp, "/", "measure");
    if (!o->target && ms && !strcmp(ms, "unit"))
        die("%s: the maps explain a unit, not a class; give -t class=K, label or pred", mp->name);
    if (!o->target && !h5in_has(mp, "/target"))
        die("%s: no /target (the class the maps explain); give -t class=K, label or pred", mp->name);
    if (target_parse(o->target ? o->target : "pred", t, err, sizeof err) < 0)
        die_usage("%s", err);
    t->measure = ms && !strcmp(ms, "prob") ? TARGET_PROB : TARGET_LOGIT;
    free(ms);
    target_resolve(t, m, o->model);
    if (target_needs_labels(t) && !has_labels)
        die("%s: no /labels, which target 'label' needs (use class=K or pred)",
            o->input ? o->input : "<stdin>");
}

/* Sensitivity and sanity recompute the attribution the maps hold: its
 * method and settings (and sanity's reduction) from the maps' attributes. */
static void saliency_from_maps(h5in *mp, const model *m, saliency_cfg *sc, evaluate_cfg *c)
{
    memset(sc, 0, sizeof *sc);
    char *meth = h5in_attr_str(mp, "/", "base_method");
    int64_t v[1];
    if (!meth || h5in_has(mp, "/window_maps") || h5in_attr_i64(mp, "/", "window", v, 1) > 0)
        die("%s: %s recomputes the attribution, which it can for cnn-saliency's maps only",
            mp->name, evaluate_metric_name(c->metric));
    int k = saliency_method_parse(meth);
    if (k < 0 || (h5in_attr_i64(mp, "/", "smooth", v, 1) > 0 && v[0]))
        die("%s: %s cannot recompute method '%s'%s", mp->name, evaluate_metric_name(c->metric), meth,
            k < 0 ? "" : " with --smooth (its noise differs per run)");
    sc->method = (sal_method)k;
    sc->steps = h5in_attr_i64(mp, "/", "steps", v, 1) > 0 ? (int)v[0] : 50;
    sc->samples = 1;
    char *bl = h5in_attr_str(mp, "/", "baseline");
    if (bl && strcmp(bl, "zeros")) {
        char *end;
        sc->baseline_value = strtod(bl, &end);
        sc->baseline = SAL_BASE_VALUE;
        if (*end || end == bl) {
            sc->baseline = SAL_BASE_BLUR;
            sc->blur_sigma = !strncmp(bl, "blur:", 5) ? atof(bl + 5) : 5.0;
        }
    }
    char *red = h5in_attr_str(mp, "/", "reduce");
    int r = red ? saliency_reduce_parse(red) : SAL_REDUCE_ABSMAX;
    c->reduce = r < 0 ? SAL_REDUCE_ABSMAX : (sal_reduce)r;
    free(red);
    char *layer = h5in_attr_str(mp, "/", "layer");
    sc->layer = k == SAL_GRADCAM && layer ? model_require(m, layer, mp->name) : 0;
    free(meth);
    free(bl);
    free(layer);
}

/* --noise-file's /noise: samples x C x H x W. */
static tensor *read_noise(const char *path, const model *m, int samples)
{
    h5in *nf = h5in_open(path);
    int64_t d[TENSOR_MAXDIM];
    if (!h5in_has(nf, "/noise"))
        die("%s: no dataset '/noise' (samples x C x H x W draws)", nf->name);
    int nd = h5in_dims(nf, "/noise", d);
    const int64_t *s = m->in_shape;
    if (nd != 4 || d[0] < samples || d[1] != s[0] || d[2] != s[1] || d[3] != s[2])
        die("%s: /noise should be at least %d x %lld x %lld x %lld (samples x C x H x W)", nf->name,
            samples, (long long)s[0], (long long)s[1], (long long)s[2]);
    tensor *t = h5in_read_rows(nf, "/noise", 0, samples);
    finite_check_rows(t->data, samples, s[0] * s[1] * s[2], 0, nf->name, "sample", "draw",
                      "value", NULL);
    h5in_close(nf);
    return t;
}

static void write_attrs(h5out *out, const struct ev_opts *o, h5in *mp, const target *t)
{
    const evaluate_cfg *c = &o->cfg;
    h5out_attr_str(out, "/", "metric", evaluate_metric_name(c->metric));
    h5out_attr_str(out, "/", "model", o->model);
    h5out_attr_str(out, "/", "maps", o->maps);
    h5out_attr_str(out, "/", "target", o->target ? t->spec : "the maps' /target");
    char *meth = h5in_attr_str(mp, "/", "method");
    if (meth)
        h5out_attr_str(out, "/", "maps_method", meth);
    free(meth);
    if (c->metric == EVAL_DELETION || c->metric == EVAL_INSERTION) {
        h5out_attr_i64(out, "/", "steps", 1, (int64_t[]){ c->steps });
        h5out_attr_str(out, "/", "measure", "prob");
        if (c->metric == EVAL_DELETION)
            h5out_attr_str(out, "/", "fill", evaluate_fill_name(c->fill));
        if (c->metric == EVAL_DELETION && c->fill == EVAL_FILL_VALUE)
            h5out_attr_f64(out, "/", "fill_value", 1, (double[]){ c->fill_value });
        if (c->metric == EVAL_INSERTION || c->fill == EVAL_FILL_BLUR)
            h5out_attr_f64(out, "/", "blur_sigma", 1, &c->blur_sigma);
        return;
    }
    h5out_attr_str(out, "/", "measure", t->measure == TARGET_PROB ? "prob" : "logit");
    if (c->metric == EVAL_SANITY) {
        h5out_attr_str(out, "/", "reduce", saliency_reduce_name(c->reduce));
        if (o->shuffled)
            h5out_attr_str(out, "/", "shuffled_model", o->shuffled);
        else
            h5out_attr_str(out, "/", "init", "uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))");
        h5out_attr_i64(out, "/", "seed", 1, (int64_t[]){ (int64_t)c->seed });
        return;
    }
    h5out_attr_i64(out, "/", "samples", 1, (int64_t[]){ c->samples });
    if (c->metric == EVAL_INFIDELITY)
        h5out_attr_f64(out, "/", "noise", 1, &c->noise);
    else
        h5out_attr_f64(out, "/", "radius", 1, &c->radius);
    if (o->noise_file)
        h5out_attr_str(out, "/", "noise_file", o->noise_file);
    else
        h5out_attr_i64(out, "/", "seed", 1, (int64_t[]){ (int64_t)c->seed });
}

/* What a run computes, all rows. */
struct results {
    int64_t n, per;             /* rows; floats of res per row */
    int curves, L;              /* deletion/insertion; sanity's layers */
    int *layers;
    float *res;                 /* /curve, /infidelity, /sensitivity or /cascade */
    float *auc;                 /* curves */
    float *rho, *ssim, *hog;    /* sanity: n x L */
};

static void results_new(struct results *rs, evaluator *ev, const model *m, int metric, int steps,
                        int64_t n)
{
    memset(rs, 0, sizeof *rs);
    rs->n = n;
    rs->curves = metric == EVAL_DELETION || metric == EVAL_INSERTION;
    rs->per = rs->curves ? steps + 1 : 1;
    if (metric == EVAL_SANITY) {
        rs->layers = xcalloc((size_t)m->n + 1, sizeof *rs->layers);
        rs->L = evaluate_sanity_layers(ev, rs->layers);
        rs->per = (rs->L + 1) * m->in_shape[1] * m->in_shape[2];
        rs->rho = falloc((size_t)(n * rs->L));
        rs->ssim = falloc((size_t)(n * rs->L));
        rs->hog = falloc((size_t)(n * rs->L));
    }
    rs->res = falloc((size_t)(n * rs->per));
    rs->auc = rs->curves ? falloc((size_t)n) : NULL;
}

static void results_free(struct results *rs)
{
    free(rs->layers);
    free(rs->res);
    free(rs->auc);
    free(rs->rho);
    free(rs->ssim);
    free(rs->hog);
}

/* /maps or /attr rows [r, r + c) of the maps file, checked finite; for
 * infidelity as N x Ca x H x W (Ca = C or 1). */
static tensor *read_maps(const struct ev_opts *o, h5in *mp, int64_t r, const tensor *x)
{
    int64_t c = x->dims[0];
    const char *ds = o->metric == EVAL_INFIDELITY && h5in_has(mp, "/attr") ? "/attr" : "/maps";
    tensor *mt = h5in_read_rows(mp, ds, r, c);
    finite_check_rows(mt->data, c, (int64_t)(tensor_numel(mt) / c), r, mp->name, "map", "value",
                      "pixel", NULL);
    if (o->metric != EVAL_INFIDELITY)
        return mt;
    const int64_t *sh = x->dims;
    if (mt->ndim == 4 && ((mt->dims[1] != sh[1] && mt->dims[1] != 1) || mt->dims[2] != sh[2] ||
                          mt->dims[3] != sh[3]))
        die("%s: /attr is N x %lld x %lld x %lld, not N x %lld x %lld x %lld (or one channel)",
            mp->name, (long long)mt->dims[1], (long long)mt->dims[2], (long long)mt->dims[3],
            (long long)sh[1], (long long)sh[2], (long long)sh[3]);
    if (mt->ndim == 3)
        mt->ndim = 4, mt->dims[3] = mt->dims[2], mt->dims[2] = mt->dims[1], mt->dims[1] = 1;
    return mt;
}

/* The maps' own copy of the images, when they have one, must be the
 * pixels read from the images file (ids alone may repeat across files). */
static void check_pixels(h5in *mp, h5in *in, int64_t a, int64_t r, const tensor *x)
{
    int64_t d[TENSOR_MAXDIM], c = x->dims[0];
    if (!h5in_has(mp, "/images") || h5in_dims(mp, "/images", d) != 4 || d[1] != x->dims[1] ||
        d[2] != x->dims[2] || d[3] != x->dims[3])
        return;
    tensor *mi = h5in_read_rows(mp, "/images", r, c);
    int64_t per = x->dims[1] * x->dims[2] * x->dims[3];
    for (int64_t k = 0; k < c * per; k++)
        if (fabsf(mi->data[k] - x->data[k]) > 1e-6f)
            die("%s: map %lld was made from other pixels than row %lld of %s (%g, not %g): the "
                "maps do not match the images", mp->name, (long long)(r + k / per),
                (long long)(a + r + k / per), in->name, (double)mi->data[k], (double)x->data[k]);
    tensor_free(mi);
}

/* One batch of c images from row r: the classes, then the metric. */
static void run_batch(evaluator *ev, const struct ev_opts *o, h5in *in, h5in *mp, int64_t a,
                      int64_t r, tensor *x, const int32_t *labels, const int64_t *ids, int32_t *cls,
                      struct results *rs)
{
    int64_t c = x->dims[0], L = rs->L;
    pixels_read_into(in, a + r, c, x->data);
    check_pixels(mp, in, a, r, x);
    int curves = o->metric == EVAL_DELETION || o->metric == EVAL_INSERTION;
    float *clean = o->target && curves ? xmalloc((size_t)c * sizeof *clean) : NULL;
    if (o->target)
        evaluate_pick(ev, x, labels ? labels + r : NULL, ids ? ids + r : NULL, cls + r, clean);
    const int64_t *id = ids ? ids + r : NULL;
    if (o->metric == EVAL_SENSITIVITY)
        evaluate_sensitivity(ev, x, cls + r, id, rs->res + r);
    else if (o->metric == EVAL_SANITY)
        evaluate_sanity(ev, x, cls + r, rs->res + r * rs->per, rs->rho + r * L,
                        rs->ssim + r * L, rs->hog + r * L);
    else {
        tensor *mt = read_maps(o, mp, r, x);
        if (o->metric == EVAL_INFIDELITY)
            evaluate_infidelity(ev, x, mt, cls + r, id, rs->res + r);
        else
            evaluate_curves(ev, x, mt->data, cls + r, clean, rs->res + r * rs->per,
                            rs->auc + r);
        tensor_free(mt);
    }
    free(clean);
}

/* The datasets of the output. */
static void write_results(h5out *out, const struct results *rs, const model *m, int metric)
{
    int64_t n = rs->n;
    if (rs->curves) {
        tensor ct = { .ndim = 2, .dims = { n, rs->per }, .data = rs->res };
        tensor at = { .ndim = 1, .dims = { n }, .data = rs->auc };
        h5out_write(out, "/curve", &ct);
        h5out_write(out, "/auc", &at);
    } else if (metric == EVAL_SANITY) {
        tensor ct = { .ndim = 4, .dims = { n, rs->L + 1, m->in_shape[1], m->in_shape[2] },
                      .data = rs->res };
        tensor pt = { .ndim = 2, .dims = { n, rs->L }, .data = rs->rho };
        tensor st = { .ndim = 2, .dims = { n, rs->L }, .data = rs->ssim };
        tensor ht = { .ndim = 2, .dims = { n, rs->L }, .data = rs->hog };
        h5out_write(out, "/cascade", &ct);
        h5out_write(out, "/spearman", &pt);
        h5out_write(out, "/ssim", &st);
        h5out_write(out, "/hog", &ht);
        char **names = xcalloc((size_t)rs->L, sizeof *names);
        for (int l = 0; l < rs->L; l++)
            names[l] = rs->layers[l] < 0 ? "shuffled-labels" : m->nodes[rs->layers[l]].name;
        h5out_write_strings(out, "/layers", rs->L, names);
        free(names);
    } else {
        tensor rt = { .ndim = 1, .dims = { n }, .data = rs->res };
        h5out_write(out, metric == EVAL_INFIDELITY ? "/infidelity" : "/sensitivity", &rt);
    }
}

/* The classes scored: the maps' /target (checked), or filled per batch. */
static int32_t *maps_classes(const struct ev_opts *o, h5in *mp, const model *m, int64_t n)
{
    if (o->target)
        return xcalloc((size_t)n, sizeof(int32_t));
    int32_t *cls = h5in_read_i32(mp, "/target", 0, n);
    const int64_t *sh = m->nodes[arch_logits_node(m, NULL)].shape;   /* classes, named or not */
    int64_t K = sh[0] * sh[1] * sh[2];
    for (int64_t i = 0; i < n; i++)
        if (cls[i] < 0 || cls[i] >= K)
            die("%s: map %lld explains class %d, but the model has %lld classes", mp->name,
                (long long)i, cls[i], (long long)K);
    return cls;
}

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    struct ev_opts o;
    parse_args(argc, argv, &o);
    cli_check_stdout(o.co.output, "an HDF5 file");   /* before the work */
    model *m = setup_model(o.model, &o.co);
    int64_t a, b;
    h5in *in = setup_images(o.input, m, o.model, &o.co, &a, &b);
    int64_t n = b - a, C = m->in_shape[0], H = m->in_shape[1], W = m->in_shape[2];
    if (n < 1)
        die("%s: no images in the range", in->name);
    evaluate_cfg *cfg = &o.cfg;
    if ((o.metric == EVAL_DELETION || o.metric == EVAL_INSERTION) && cfg->steps > H * W)
        die_usage("--steps %d is more than the %lld pixels of an image", cfg->steps,
                  (long long)(H * W));
    h5in *mp = open_maps(&o, in, m, a, b);
    int has_labels = h5in_has(in, "/labels");
    target tg;
    resolve_target(&o, mp, m, has_labels, &tg);
    tensor *noise = o.noise_file ? read_noise(o.noise_file, m, cfg->samples) : NULL;
    cfg->noise_data = noise ? noise->data : NULL;
    saliency_cfg sc;
    if (o.metric == EVAL_SENSITIVITY || o.metric == EVAL_SANITY) {
        saliency_from_maps(mp, m, &sc, cfg);
        cfg->sal = &sc;
    }
    model *shuffled = o.shuffled ? setup_model(o.shuffled, &o.co) : NULL;
    cfg->shuffled = shuffled;
    cfg->shuffled_file = o.shuffled;
    evaluator *ev = evaluate_new(m, &tg, cfg, o.model);
    int32_t *labels = has_labels ? h5in_read_i32(in, "/labels", a, n) : NULL;
    int64_t *ids = h5in_has(in, "/ids") ? h5in_read_i64(in, "/ids", a, n) : NULL;
    int32_t *cls = maps_classes(&o, mp, m, n);
    struct results rs;
    results_new(&rs, ev, m, o.metric, cfg->steps, n);
    int64_t chunk = o.co.batch < n ? o.co.batch : n;
    tensor *x = tensor_new4(chunk, C, H, W);
    progress *pg = progress_start(evaluate_metric_name(cfg->metric), evaluate_work(ev, n));
    evaluate_progress(ev, pg);
    for (int64_t r = 0; r < n; r += chunk) {
        x->dims[0] = n - r < chunk ? n - r : chunk;
        run_batch(ev, &o, in, mp, a, r, x, labels, ids, cls, &rs);
    }
    progress_end(pg);
    finite_check_rows(rs.res, n, rs.per, a, in->name, "image", "score", "value", FINITE_FROM_PIXELS);

    h5out *out = h5out_create(o.co.output, "evaluation", in);
    h5out_carry(out, in, a, b);
    if (!h5in_has(in, "/classes"))
        h5out_carry_classes(out, mp);
    h5out_write_i32(out, "/target", n, cls);
    write_results(out, &rs, m, o.metric);
    write_attrs(out, &o, mp, &tg);
    h5out_commit(out);
    evaluate_free(ev);
    results_free(&rs);
    target_free(&tg);
    tensor_free(noise);
    tensor_free(x);
    free(cls);
    free(labels);
    free(ids);
    h5in_close(mp);
    h5in_close(in);
    model_free(shuffled);
    model_free(m);
    return EXIT_OK;
}
