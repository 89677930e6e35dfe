/* cnn-ascend: gradient ascent on the input pixels to maximise a class or a
 * unit (activation maximisation, Yosinski et al. 2015), or to turn an
 * image into another class with --until-pred. The work is in
 * common/methods/ascend.c; this parses options, builds the start image and writes
 * the images file. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods/ascend.h"
#include "methods/fvparam.h"
#include "base/cli.h"
#include "nn/engine.h"
#include "io/h5io.h"
#include "io/pixels.h"
#include "io/imageio.h"
#include "nn/model.h"
#include "nn/setup.h"
#include "methods/style.h"
#include "methods/target.h"

static const char usage[] =
    "Usage: cnn-ascend -m MODEL.h5 [-t TARGET] [--start zeros|noise|IMAGE] [options]\n"
    "       cnn-ascend -m MODEL.h5 --invert PHOTO --layers L1,L2,.. [options]\n"
    "Gradient ascent on the input pixels: finds an image that maximises a class\n"
    "score or a unit's response, from zeros, noise or a chosen image. Writes an\n"
    "images file (kind=images): /images (the result last, after any --snapshots),\n"
    "/ids (the start image's id), /step (the step of each row), /values (the\n"
    "objective at every step), /scores (the objective at each row's step) and,\n"
    "for a class target, /labels (the class). Pixels stay in [0,1].\n"
    "\n"
    "  -m, --model FILE      model file (kind=model)\n"
    "  -t, --target T        class=K (a logit; K an index or a class name),\n"
    "                        pred (the start image's predicted class),\n"
    "                        unit=LAYER:C (feature map C, its maximum;\n"
    "                        :mean or :sum), unit=LAYER:C@X,Y (one position),\n"
    "                        direction=LAYER:FILE (mean over positions of the\n"
    "                        activation . v, v the C numbers of FILE: text,\n"
    "                        or HDF5 /direction or /components' first row),\n"
    "                        or a sum 'T1 + T2 - 0.5*T3' (spaces around signs)\n"
    "                        (default: class=CLASS of --until-pred)\n"
    "      --measure M       class targets: logit, prob, logodds or logodds:A\n"
    "                        (z_c - A logsumexp of the other logits; default\n"
    "                        logodds:0.5 on the Lucid recipe, logit on Yosinski's)\n"
    "      --start S         zeros, noise (0.5 + 0.1 N(0,1), clipped; with fft or\n"
    "                        decorrelate parameters N(0, 0.01^2), the default),\n"
    "                        an images file, or a PNG/JPEG photo (crop-resized\n"
    "                        to the model's input)\n"
    "      --start-row R     row of the images file to start from (default 0)\n"
    "      --steps N         gradient steps (default 256 Lucid, 100 Yosinski)\n"
    "      --lr R            step size (default 0.05 Lucid, 0.1 Yosinski)\n"
    "      --l2 D            decay: each step x <- m + (1-D)(x - m), m the\n"
    "                        model's mean pixel (default 0)\n"
    "      --blur SIGMA      Gaussian blur of this sigma (pixels) ...\n"
    "      --blur-every E    ... every E steps (default 4 when --blur is given)\n"
    "      --jitter P        gradient at a copy shifted by up to P pixels\n"
    "      --clip-norm PCT   reset pixels whose norm |x - m| is below the\n"
    "                        PCT-th percentile to m\n"
    "      --clip-contrib PCT  reset pixels whose contribution |(x - m) . grad|\n"
    "                        is below the PCT-th percentile to m\n"
    "Recipes: with no option of the Yosinski path (--l2, --blur, --blur-every,\n"
    "--jitter, --clip-norm, --clip-contrib, --preset yosinski or 1..4,\n"
    "--until-pred, --start IMAGE) the Lucid recipe of Olah et al. 2017 is used:\n"
    "--param fft --decorrelate --transforms standard --optimizer adam --lr 0.05\n"
    "--steps 256, parameters from N(0, 0.01^2). Options given override it.\n"
    "      --param P         pixel or fft (Fourier basis, 1/f scaled; fvparam.h)\n"
    "      --decorrelate     colours through Lucid's ImageNet matrix (or\n"
    "                        --colour-stats'); the image is sigmoid(M b)\n"
    "      --no-decorrelate  plain colours (the image is sigmoid(b) with fft)\n"
    "      --colour-stats F  the colour matrix from the RGB images of file F\n"
    "      --transforms T    standard, none, or pad=P,jitter=J1,scale=S1:S2..,\n"
    "                        rotate=A,jitter=J2 (any subset, in this order)\n"
    "      --optimizer O     sgd (plain steps) or adam\n"
    "      --preset K        lucid, yosinski (pixels, plain steps, no\n"
    "                        regulariser), or Yosinski et al. 2015 Table 1\n"
    "                        set K = 1..4 (decay,\n"
    "                        blur width, blur every, norm %, contribution %):\n"
    "                        1: 0, 0.5, 4, 50, 0    2: 0.3, 0, 0, 20, 0\n"
    "                        3: 1e-4, 1.0, 4, 0, 0  4: 0, 0.5, 4, 0, 90\n"
    "                        options given explicitly override the set\n"
    "      --count K         optimise K images together (rows: K per step;\n"
    "                        feature-visualisation path only; default 1)\n"
    "      --diversity W     subtract W x Lucid's diversity penalty of the K\n"
    "                        images (K >= 2): the summed cosine similarity of\n"
    "                        their Gram matrices at a layer, over pairs, / K\n"
    "      --diversity-layer L  that layer (default: the first unit or\n"
    "                        direction term's layer, else the fourth ReLU)\n"
    "      --snapshots E     also write the image every E steps (trajectory;\n"
    "                        --save-every E is the same)\n"
    "      --invert P        representation inversion (Mahendran & Vedaldi 2015):\n"
    "                        from noise, an image whose activations at each of\n"
    "                        --layers match those of photo P (PNG/JPEG or an\n"
    "                        images file, row --invert-row): maximises\n"
    "                        -|phi(x) - phi(P)|^2 / |phi(P)|^2 (plus -t's terms\n"
    "                        if given), P seen through the same transforms as x;\n"
    "                        one run per layer, rows in --layers' order, /layers\n"
    "                        names each row's layer, /values is layers x steps+1\n"
    "      --layers L1,L2..  the layers to invert (with --invert)\n"
    "      --invert-row R    row of --invert's images file (default 0)\n"
    "      --until-pred K    stop once the model predicts class K; reports the\n"
    "                        L2 and L-infinity size of the change\n"
    "The target's value and the model's prediction at the end go to stderr.\n"
    CLI_IMAGE_HELP
    CLI_HELP_OUTPUT CLI_HELP_THREADS CLI_HELP_SEED CLI_HELP_END;

enum {
    OPT_MEASURE = 2001, OPT_START, OPT_START_ROW, OPT_STEPS, OPT_LR, OPT_L2, OPT_BLUR,
    OPT_BLUR_EVERY, OPT_JITTER, OPT_CLIP_NORM, OPT_CLIP_CONTRIB, OPT_PRESET, OPT_SNAP,
    OPT_UNTIL, OPT_PARAM, OPT_DECOR, OPT_NODECOR, OPT_CSTATS, OPT_TF, OPT_OPTIM, OPT_COUNT,
    OPT_DIV, OPT_DIV_LAYER, OPT_INVERT, OPT_LAYERS, OPT_INVERT_ROW
};

struct asc_opts {
    struct cli_common co;
    const char *model, *target, *start, *until;
    int prob;                     /* --measure: -1 not given, 0 logit, 1 prob, 2 logodds */
    double odds;                  /* logodds:A's A */
    int given_measure;
    int64_t start_row;
    int preset, snap, yosinski;   /* preset: 1..4, 0 none, -1 lucid */
    /* The recipe's options as given (-1, NAN, NULL: not given). */
    int param, decor, adam, steps;
    double lr;
    const char *tf, *cstats;
    int count;                    /* images optimised together */
    const char *div_layer;
    const char *invert, *layers;  /* --invert PHOTO --layers L1,L2 */
    int64_t invert_row;
    /* Regularisers as given (NAN: not given, so a preset may set them). */
    double l2, blur, blur_every, clip_norm, clip_contrib;
    ascend_cfg cfg;
};

/* --measure logit, prob, logodds or logodds:A (A in [0, 1]; logodds is
 * A = 1). */
static void parse_measure(struct asc_opts *o, const char *s)
{
    o->odds = 1;
    if (!strcmp(s, "logit") || !strcmp(s, "prob") || !strcmp(s, "logodds")) {
        o->prob = !strcmp(s, "prob") ? 1 : !strcmp(s, "logodds") ? 2 : 0;
        return;
    }
    char *end;
    if (strncmp(s, "logodds:", 8) == 0) {
        o->odds = strtod(s + 8, &end);
        if (end != s + 8 && !*end && o->odds >= 0 && o->odds <= 1) {
            o->prob = 2;
            return;
        }
    }
    die_usage("--measure: '%s' is not logit, prob, logodds or logodds:A (A in [0, 1])", s);
}

/* The base recipe (Lucid unless an option of the Yosinski path is given)
 * and the recipe options given over it. */
static void recipe(struct asc_opts *o)
{
    ascend_cfg *cf = &o->cfg;
    int start_image = o->start && strcmp(o->start, "zeros") && strcmp(o->start, "noise");
    int yos = o->yosinski || o->preset > 0 || o->until || start_image || !isnan(o->l2) ||
              !isnan(o->blur) || !isnan(o->blur_every) || !isnan(o->clip_norm) ||
              !isnan(o->clip_contrib);
    if (o->preset == -1 && yos)
        die_usage("--preset lucid does not go with the Yosinski path's options (--l2, --blur, "
                  "--jitter, --clip-*, --until-pred, --start IMAGE)");
    if (!yos)
        ascend_lucid(cf);
    if (o->prob < 0) {   /* the default class measure (ascend.h: ASCEND_ODDS) */
        o->prob = yos ? 0 : 2;
        o->odds = ASCEND_ODDS;
    }
    if (o->param >= 0) cf->fft = o->param;
    if (o->decor >= 0) cf->decorrelate = o->decor;
    if (o->adam >= 0) cf->adam = o->adam;
    if (o->steps > 0) cf->steps = o->steps;
    if (!isnan(o->lr)) cf->lr = o->lr;
    char err[512];
    if (o->tf && fvt_parse(o->tf, &cf->tf, err, sizeof err) < 0)
        die_usage("%s", err);
    if (!o->start)
        o->start = cf->fft || cf->decorrelate ? "noise" : "zeros";
    if ((cf->fft || cf->decorrelate) && start_image)
        die_usage("--start %s: a start image needs plain pixels (--param pixel without "
                  "--decorrelate)", o->start);
    if ((cf->fft || cf->decorrelate) && (o->yosinski || o->preset > 0 || !isnan(o->l2) ||
        !isnan(o->blur) || o->cfg.jitter || !isnan(o->clip_norm) || !isnan(o->clip_contrib)))
        die_usage("--param fft and --decorrelate do not go with Yosinski's regularisers "
                  "(use --transforms)");
    cf->init_sd = strcmp(o->start, "zeros") ? 0.01 : 0;
}

/* --count and --diversity: K >= 2 for the penalty, and several images
 * only on the feature-visualisation path; --invert's companions. */
static void check_batch(const struct asc_opts *o)
{
    const ascend_cfg *cf = &o->cfg;
    if (!o->target && !o->until && !o->invert)
        die_usage("no target: give -t class=K or -t unit=LAYER:C (or --until-pred K, or "
                  "--invert PHOTO --layers L1,..)");
    if (cf->diversity > 0 && o->count < 2)
        die_usage("--diversity needs --count K with K >= 2 (the penalty compares the images)");
    if (o->div_layer && cf->diversity <= 0)
        die_usage("--diversity-layer goes with --diversity W (W > 0)");
    if (!o->invert != !o->layers)
        die_usage("--invert PHOTO and --layers L1,L2,.. go together");
    if (o->invert && o->until)
        die_usage("--invert does not go with --until-pred");
    if (o->invert && (cf->l2 > 0 || cf->blur_sigma > 0 || cf->jitter || cf->clip_norm > 0 ||
                      cf->clip_contrib > 0))
        die_usage("--invert does not go with Yosinski's regularisers (use --transforms)");
    if (o->count > 1 && (cf->l2 > 0 || cf->blur_sigma > 0 || cf->jitter || cf->clip_norm > 0 ||
                         cf->clip_contrib > 0 || o->until))
        die_usage("--count %d: several images do not go with Yosinski's regularisers or "
                  "--until-pred (use --transforms)", o->count);
}

static void parse_args(int argc, char **argv, struct asc_opts *o)
{
    static const struct option longopts[] = {
        { "model", required_argument, 0, 'm' },
        { "target", required_argument, 0, 't' },
        { "measure", required_argument, 0, OPT_MEASURE },
        { "start", required_argument, 0, OPT_START },
        { "start-row", required_argument, 0, OPT_START_ROW },
        { "steps", required_argument, 0, OPT_STEPS },
        { "lr", required_argument, 0, OPT_LR },
        { "l2", required_argument, 0, OPT_L2 },
        { "blur", required_argument, 0, OPT_BLUR },
        { "blur-every", required_argument, 0, OPT_BLUR_EVERY },
        { "jitter", required_argument, 0, OPT_JITTER },
        { "clip-norm", required_argument, 0, OPT_CLIP_NORM },
        { "clip-contrib", required_argument, 0, OPT_CLIP_CONTRIB },
        { "preset", required_argument, 0, OPT_PRESET },
        { "snapshots", required_argument, 0, OPT_SNAP },
        { "save-every", required_argument, 0, OPT_SNAP },
        { "until-pred", required_argument, 0, OPT_UNTIL },
        { "param", required_argument, 0, OPT_PARAM },
        { "decorrelate", no_argument, 0, OPT_DECOR },
        { "no-decorrelate", no_argument, 0, OPT_NODECOR },
        { "colour-stats", required_argument, 0, OPT_CSTATS },
        { "transforms", required_argument, 0, OPT_TF },
        { "optimizer", required_argument, 0, OPT_OPTIM },
        { "count", required_argument, 0, OPT_COUNT },
        { "diversity", required_argument, 0, OPT_DIV },
        { "diversity-layer", required_argument, 0, OPT_DIV_LAYER },
        { "invert", required_argument, 0, OPT_INVERT },
        { "layers", required_argument, 0, OPT_LAYERS },
        { "invert-row", required_argument, 0, OPT_INVERT_ROW },
        CLI_COMMON_LONGOPTS, CLI_IMAGE_LONGOPTS,
        { 0, 0, 0, 0 }
    };
    memset(o, 0, sizeof *o);
    cli_common_for(&o->co, CLI_THREADS | CLI_SEED);
    ascend_defaults(&o->cfg);
    o->start = NULL;
    o->param = o->decor = o->adam = o->steps = o->prob = -1;
    o->lr = NAN;
    o->count = 1;
    o->l2 = o->blur = o->blur_every = o->clip_norm = o->clip_contrib = NAN;
    int c;
    while ((c = getopt_long(argc, argv, "m:t:" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 't': o->target = optarg; break;
        case OPT_MEASURE:
            parse_measure(o, optarg);
            o->given_measure = 1;
            break;
        case OPT_START: o->start = optarg; break;
        case OPT_START_ROW: o->start_row = cli_long("--start-row", optarg, 0, INT64_MAX); break;
        case OPT_STEPS: o->steps = (int)cli_long("--steps", optarg, 1, 1 << 30); break;
        case OPT_LR: o->lr = cli_double("--lr", optarg, 0, 1e12); break;
        case OPT_L2: o->l2 = cli_double("--l2", optarg, 0, 1); break;
        case OPT_BLUR: o->blur = cli_double("--blur", optarg, 0, 1e4); break;
        case OPT_BLUR_EVERY: o->blur_every = (double)cli_long("--blur-every", optarg, 1, 1 << 30); break;
        case OPT_JITTER:
            o->cfg.jitter = (int)cli_long("--jitter", optarg, 0, 1 << 20);
            o->yosinski = 1;
            break;
        case OPT_CLIP_NORM: o->clip_norm = cli_double("--clip-norm", optarg, 0, 100); break;
        case OPT_CLIP_CONTRIB: o->clip_contrib = cli_double("--clip-contrib", optarg, 0, 100); break;
        case OPT_PRESET:
            if (!strcmp(optarg, "lucid"))
                o->preset = -1;
            else if (!strcmp(optarg, "yosinski"))
                o->yosinski = 1;
            else
                o->preset = (int)cli_long("--preset", optarg, 1, 4);
            break;
        case OPT_PARAM:
            if (strcmp(optarg, "pixel") && strcmp(optarg, "fft"))
                die_usage("--param: '%s' is not pixel or fft", optarg);
            o->param = !strcmp(optarg, "fft");
            break;
        case OPT_DECOR: o->decor = 1; break;
        case OPT_NODECOR: o->decor = 0; break;
        case OPT_CSTATS: o->cstats = optarg; break;
        case OPT_TF: o->tf = optarg; break;
        case OPT_OPTIM:
            if (strcmp(optarg, "sgd") && strcmp(optarg, "adam"))
                die_usage("--optimizer: '%s' is not sgd or adam", optarg);
            o->adam = !strcmp(optarg, "adam");
            break;
        case OPT_COUNT: o->count = (int)cli_long("--count", optarg, 1, 4096); break;
        case OPT_DIV: o->cfg.diversity = cli_double("--diversity", optarg, 0, 1e12); break;
        case OPT_DIV_LAYER: o->div_layer = optarg; break;
        case OPT_INVERT: o->invert = optarg; break;
        case OPT_LAYERS: o->layers = optarg; break;
        case OPT_INVERT_ROW: o->invert_row = cli_long("--invert-row", optarg, 0, INT64_MAX); break;
        case OPT_SNAP: o->snap = (int)cli_long("--snapshots", optarg, 1, 1 << 30); break;
        case OPT_UNTIL: o->until = optarg; break;
        default:
            cli_common_opt(c, optarg, &o->co, usage);
        }
    }
    setup_need_model(o->model);
    if (optind < argc)
        die_usage("unexpected operand '%s' (the start image goes in --start)", argv[optind]);
    ascend_cfg *cf = &o->cfg;
    recipe(o);

    if (o->preset > 0)
        ascend_preset(o->preset, cf);
    if (!isnan(o->l2)) cf->l2 = o->l2;
    if (!isnan(o->blur)) {
        cf->blur_sigma = o->blur;
        if (isnan(o->blur_every) && cf->blur_every == 0)
            cf->blur_every = 4;
    }
    if (!isnan(o->blur_every)) cf->blur_every = (int)o->blur_every;
    if (!isnan(o->clip_norm)) cf->clip_norm = o->clip_norm;
    if (!isnan(o->clip_contrib)) cf->clip_contrib = o->clip_contrib;
    cf->seed = o->co.seed;
    check_batch(o);
}

/* Lucid-style colour matrix from the RGB images of file. */
static void colour_stats(const char *file, ascend_cfg *cf)
{
    h5in *in = h5in_open(file);
    h5in_require_kind(in, "images");
    int64_t dims[TENSOR_MAXDIM];
    int nd = h5in_dims(in, "/images", dims);
    if (nd != 4 || dims[1] != 3)
        die("%s: --colour-stats needs RGB images (N x 3 x H x W) for a 3x3 colour matrix; "
            "these have %lld channel(s)", file, nd == 4 ? (long long)dims[1] : 0LL);
    tensor *x = pixels_read(in, 0, dims[0]);
    if (fv_colour_stats(x->data, dims[0], dims[2] * dims[3], cf->colour) < 0)
        die("%s: --colour-stats: the pixels have no colour variance", file);
    cf->have_colour = 1;
    tensor_free(x);
    h5in_close(in);
}

/* A class given as an index or a name, checked against the model. */
static int resolve_class(const char *s, const model *m, const char *file)
{
    char spec[600], err[512];
    snprintf(spec, sizeof spec, "class=%s", s);
    target t;
    if (target_parse(spec, &t, err, sizeof err) < 0)
        die_usage("--until-pred: %s", err);
    target_resolve(&t, m, file);
    int k = t.cls;
    target_free(&t);
    return k;
}

/* The start image, K = --count times (K x C x H x W; noise: K draws),
 * and its id. */
static tensor *start_image(struct asc_opts *o, const model *m, int64_t *id, h5in **src)
{
    int64_t C = m->in_shape[0], H = m->in_shape[1], W = m->in_shape[2], K = o->count;
    tensor *x = tensor_new4(K, C, H, W);
    *id = 0;
    *src = NULL;
    if (!strcmp(o->start, "zeros"))
        return x;
    if (!strcmp(o->start, "noise")) {
        rng r;
        rng_seed(&r, o->co.seed ^ 0x5eedULL);
        for (int64_t i = 0; i < K * C * H * W; i++) {
            double v = 0.5 + 0.1 * rng_normal(&r);
            x->data[i] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
        }
        return x;
    }
    tensor *one = setup_one_image(o->start, o->start_row, m, o->model, "--start", id, src);
    for (int64_t k = 0; k < K; k++)
        memcpy(x->data + k * C * H * W, one->data, (size_t)(C * H * W) * sizeof(float));
    tensor_free(one);
    return x;
}

struct snaps {
    int n, cap;
    float *rows;
    int32_t *steps, *run;   /* each row's step and run (--invert: layer) */
    int64_t D;
    int cur;                /* the run rows are added for */
};

static void add_row(struct snaps *s, int step, const tensor *x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        s->rows = xrealloc(s->rows, (size_t)s->cap * (size_t)s->D * sizeof(float));
        s->steps = xrealloc(s->steps, (size_t)s->cap * sizeof(int32_t));
        s->run = xrealloc(s->run, (size_t)s->cap * sizeof(int32_t));
    }
    memcpy(s->rows + (int64_t)s->n * s->D, x->data, (size_t)s->D * sizeof(float));
    s->run[s->n] = s->cur;
    s->steps[s->n++] = step;
}

/* One row per image of x (K with --count). */
static void add_rows(struct snaps *s, int step, const tensor *x)
{
    for (int64_t k = 0; k < x->dims[0]; k++)
        add_row(s, step, &(tensor){ .data = x->data + k * s->D });
}

static void snap_cb(void *ctx, int step, const tensor *x) { add_rows(ctx, step, x); }

static const char *class_name(const model *m, int k)
{
    return m->classes && k >= 0 && k < m->nclasses ? m->classes[k] : "";
}

/* The attributes: the settings and what the ascent reached. */
static void write_attrs(h5out *out, const struct asc_opts *o, const model *m,
                        const ascend_result *res)
{
    h5out_attr_str(out, "/", "model", o->model);
    h5out_attr_str(out, "/", "target", o->target);
    h5out_attr_str(out, "/", "start", o->start);
    h5out_attr_i64(out, "/", "steps", 1, (int64_t[]){ res->steps_done });
    h5out_attr_i64(out, "/", "preset", 1, (int64_t[]){ o->preset });
    h5out_attr_str(out, "/", "param", o->cfg.fft ? "fft" : "pixel");
    h5out_attr_i64(out, "/", "decorrelate", 1, (int64_t[]){ o->cfg.decorrelate });
    h5out_attr_str(out, "/", "optimizer", o->cfg.adam ? "adam" : "sgd");
    h5out_attr_i64(out, "/", "count", 1, (int64_t[]){ o->count });
    h5out_attr_f64(out, "/", "diversity", 1, &o->cfg.diversity);
    if (o->cfg.diversity > 0)
        h5out_attr_str(out, "/", "diversity_layer", m->nodes[o->cfg.div_node].name);
    if (o->cfg.decorrelate) {
        double M[3][3];
        if (o->cfg.have_colour)
            memcpy(M, o->cfg.colour, sizeof M);
        else
            fv_colour_default(M);
        h5out_attr_f64(out, "/", "colour", 9, &M[0][0]);
    }
    h5out_attr_str(out, "/", "transforms", o->cfg.tf.on ? (o->tf ? o->tf : "standard") : "none");
    h5out_attr_i64(out, "/", "seed", 1, (int64_t[]){ (int64_t)o->co.seed });
    h5out_attr_f64(out, "/", "lr", 1, &o->cfg.lr);
    h5out_attr_f64(out, "/", "l2", 1, &o->cfg.l2);
    h5out_attr_f64(out, "/", "blur", 1, &o->cfg.blur_sigma);
    h5out_attr_i64(out, "/", "blur_every", 1, (int64_t[]){ o->cfg.blur_every });
    h5out_attr_i64(out, "/", "jitter", 1, (int64_t[]){ o->cfg.jitter });
    h5out_attr_f64(out, "/", "clip_norm", 1, &o->cfg.clip_norm);
    h5out_attr_f64(out, "/", "clip_contrib", 1, &o->cfg.clip_contrib);
    double fin[2] = { res->value0, res->value };
    h5out_attr_f64(out, "/", "value", 2, fin);
    h5out_attr_i64(out, "/", "pred", 2, (int64_t[]){ res->pred0, res->pred });
    double ch[2] = { res->l2, res->linf };
    h5out_attr_f64(out, "/", "change_l2_linf", 2, ch);
}

/* /draws: each step's transformation (oy1, ox1, scale, degrees, oy2,
 * ox2), and the chain's settings as attributes; the colour matrix. */
static void write_draws(h5out *out, const ascend_cfg *c, int n)
{
    tensor *d = tensor_new(2, (int64_t[]){ n > 0 ? n : 1, 6 });
    for (int i = 0; i < n; i++) {
        const fvt_draw *w = &c->draws[i];
        float v[6] = { (float)w->oy1, (float)w->ox1, (float)w->s, (float)w->deg, (float)w->oy2,
                       (float)w->ox2 };
        memcpy(d->data + i * 6, v, sizeof v);
    }
    d->dims[0] = n;
    if (n > 0)
        h5out_write(out, "/draws", d);
    tensor_free(d);
    h5out_attr_i64(out, "/", "tf_pad_jitter_rotate", 4,
                   (int64_t[]){ c->tf.pad, c->tf.jitter1, c->tf.jitter2, c->tf.rotate });
}

/* The objective: terms parsed, each checked and resolved on the model. */
static void parse_target(const struct asc_opts *o, const model *m, target_expr *ex)
{
    char err[512];
    memset(ex, 0, sizeof *ex);
    if (!o->target)
        return;   /* --invert alone */
    if (target_expr_parse(o->target, ex, err, sizeof err) < 0)
        die_usage("%s", err);
    for (int i = 0; i < ex->n; i++) {
        target *ti = &ex->t[i];
        if (ti->kind == TARGET_LABEL || ti->kind == TARGET_STRONGEST)
            die_usage("--target %s: give class=K, pred, unit=LAYER:C or direction=LAYER:FILE",
                      ti->spec);
        if (o->given_measure && (ti->kind == TARGET_UNIT || ti->kind == TARGET_DIRECTION))
            die_usage("--measure is for class targets, not --target %s", ti->spec);
        ti->measure = o->prob == 1 ? TARGET_PROB : o->prob == 2 ? TARGET_LOGODDS : TARGET_LOGIT;
        ti->odds_w = o->odds;
        target_resolve(ti, m, o->model);
    }
}

/* The diversity layer: as named, else the first unit or direction
 * term's, else the fourth ReLU (style_default_layers' content layer). */
static int diversity_layer(const struct asc_opts *o, const model *m, const target_expr *ex)
{
    if (o->div_layer)
        return model_require(m, o->div_layer, o->model);
    for (int i = 0; i < ex->n; i++)
        if (ex->t[i].kind == TARGET_UNIT || ex->t[i].kind == TARGET_DIRECTION)
            return ex->t[i].node;
    int *v, nd;
    style_default_layers(m, &v, &nd);
    free(v);
    if (nd < 0)
        die("%s: --diversity: the model has no ReLU layer to default to; give "
            "--diversity-layer", o->model);
    return nd;
}

/* The runs: one ascent, or with --invert one per layer (the photo read
 * once). values gets steps + 1 floats per run; res the last run's. */
static int run_all(struct asc_opts *o, const model *m, engine *e, const target_expr *ex,
                   struct snaps *sn, float **vals, ascend_result *res, int64_t *id, h5in **src,
                   char ***lnames)
{
    int nrun = 1;
    char **names = NULL;
    int *nodes = NULL;
    tensor *photo = NULL;
    if (o->invert) {
        nrun = cli_split(o->layers, ',', &names);
        nodes = xmalloc((size_t)nrun * sizeof *nodes);
        for (int i = 0; i < nrun; i++)
            nodes[i] = model_require(m, names[i], o->model);
        int64_t pid;
        photo = setup_one_image(o->invert, o->invert_row, m, o->model, "--invert", &pid, NULL);
    }
    /* The nodes the objective reads: the terms', the diversity layer,
     * the inverted layers (and the output, always kept); the other ReLUs
     * and Adds fused into their convolutions (engine_fuse). */
    int nk = 0, *keep = xmalloc((size_t)(ex->n + nrun + 1) * sizeof *keep);
    for (int i = 0; i < ex->n; i++)
        keep[nk++] = ex->t[i].node;
    if (o->cfg.diversity > 0)
        keep[nk++] = o->cfg.div_node;
    for (int i = 0; o->invert && i < nrun; i++)
        keep[nk++] = nodes[i];
    engine_fuse(e, keep, nk);
    free(keep);
    float *values = xmalloc((size_t)nrun * (size_t)(o->cfg.steps + 1) * sizeof *values);
    *vals = values;
    for (int r = 0; r < nrun; r++) {
        h5in *more = NULL;
        tensor *x = start_image(o, m, id, r == 0 ? src : &more);
        if (more)
            h5in_close(more);
        if (o->invert) {
            o->cfg.inv_node = nodes[r];
            o->cfg.inv_photo = photo->data;
        }
        sn->cur = r;
        ascend_run(m, e, ex, x, &o->cfg, o->snap, snap_cb, sn,
                   values + (int64_t)r * (o->cfg.steps + 1), res);
        add_rows(sn, res->steps_done, x);
        if (o->invert)
            info("--invert %s at %s: relative error %.4g -> %.4g after %d steps", o->invert,
                 names[r], -res->value0, -res->value, res->steps_done);
        tensor_free(x);
    }
    tensor_free(photo);
    free(nodes);
    *lnames = names;
    return nrun;
}

/* The images file: rows, ids, steps, scores, labels, values, attributes. */
static void write_output(const struct asc_opts *o, const model *m, const target *t,
                         const struct snaps *sn, const float *values, int nrun, char **lnames,
                         const ascend_result *res, int64_t id, h5in *src)
{
    int64_t C = m->in_shape[0], H = m->in_shape[1], W = m->in_shape[2];
    int nv = o->cfg.steps + 1;
    h5out *out = h5out_create(o->co.output, "images", src);
    tensor *rows = tensor_new4(sn->n, C, H, W);
    memcpy(rows->data, sn->rows, (size_t)sn->n * (size_t)sn->D * sizeof(float));
    h5out_write(out, "/images", rows);
    int64_t *ids = xmalloc((size_t)sn->n * sizeof *ids);
    for (int i = 0; i < sn->n; i++)
        ids[i] = id;
    h5out_write_i64(out, "/ids", sn->n, ids);
    h5out_write_i32(out, "/step", sn->n, sn->steps);
    /* Each row's objective (/scores) and, for a class target, the class the
     * image is made for (/labels): cnn-render grid captions them, also after
     * cnn-join --stack of one ascent per class. */
    tensor *sc = tensor_new(1, (int64_t[]){ sn->n });
    int32_t *lab = xmalloc((size_t)sn->n * sizeof *lab);
    char **rl = xmalloc((size_t)sn->n * sizeof *rl);
    for (int i = 0; i < sn->n; i++) {
        int st = sn->steps[i] < res->steps_done ? sn->steps[i] : res->steps_done;
        sc->data[i] = values[(int64_t)sn->run[i] * nv + st];
        lab[i] = t && t->kind == TARGET_CLASS ? t->cls : res->pred0;
        rl[i] = lnames ? lnames[sn->run[i]] : NULL;
    }
    h5out_write(out, "/scores", sc);
    if (t && (t->kind == TARGET_CLASS || t->kind == TARGET_PRED))
        h5out_write_i32(out, "/labels", sn->n, lab);
    if (lnames)
        h5out_write_strings(out, "/layers", sn->n, rl);
    tensor *vt = nrun > 1 || lnames ? tensor_new(2, (int64_t[]){ nrun, res->steps_done + 1 })
                                    : tensor_new(1, (int64_t[]){ res->steps_done + 1 });
    for (int r = 0; r < nrun; r++)
        memcpy(vt->data + (int64_t)r * (res->steps_done + 1), values + (int64_t)r * nv,
               (size_t)(res->steps_done + 1) * sizeof(float));
    h5out_write(out, "/values", vt);
    if (m->classes)
        h5out_write_strings(out, "/classes", m->nclasses, m->classes);
    write_attrs(out, o, m, res);
    if (o->invert)
        h5out_attr_str(out, "/", "invert", o->invert);
    if (o->cfg.tf.on)
        write_draws(out, &o->cfg, res->steps_done);
    h5out_commit(out);
    tensor_free(rows);
    tensor_free(sc);
    tensor_free(vt);
    free(lab);
    free(rl);
    free(ids);
}

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    struct asc_opts o;
    parse_args(argc, argv, &o);
    cli_check_stdout(o.co.output, "an HDF5 file");   /* before the work */
    if (o.co.threads)
        engine_set_threads(o.co.threads);
    model *m = model_load(o.model);
    int64_t C = m->in_shape[0], H = m->in_shape[1], W = m->in_shape[2];

    if (o.until)
        o.cfg.until_pred = resolve_class(o.until, m, o.model);
    char tbuf[64];
    if (!o.target && !o.invert) {
        snprintf(tbuf, sizeof tbuf, "class=%d", o.cfg.until_pred);
        o.target = tbuf;
    }
    target_expr ex;
    char err[512];
    parse_target(&o, m, &ex);
    /* One term of weight 1 labels the rows by its class, as before. */
    const target *t = ex.n == 1 && ex.w[0] == 1 ? &ex.t[0] : NULL;
    if (o.cfg.diversity > 0)
        o.cfg.div_node = diversity_layer(&o, m, &ex);
    if (o.cfg.decorrelate && C != 3 && o.decor < 0)
        o.cfg.decorrelate = 0;   /* the default recipe on a grey model */
    if (o.cfg.decorrelate && C != 3)
        die("%s: --decorrelate needs an RGB model (3 channels; this one has %lld)", o.model,
            (long long)C);
    if (o.cstats)
        colour_stats(o.cstats, &o.cfg);
    if (!o.tf)
        fvt_fit(&o.cfg.tf, H, W);
    if (fvt_check(&o.cfg.tf, H, W, err, sizeof err) < 0)
        die("%s: %s", o.model, err);

    /* Decay and clipping pull towards the model's mean pixel, which is
     * where Yosinski et al.'s mean-subtracted zero lies. With bgr the
     * model's means are in BGR order. */
    for (int64_t c = 0; c < C && c < 3; c++) {
        int64_t mc = m->bgr && C == 3 ? 2 - c : c;
        float mean = C == 3 ? m->mean[mc] : m->mean[0];
        o.cfg.centre[c] = mean < 0 ? 0 : mean > 1 ? 1 : mean;
    }

    int64_t id;
    h5in *src;
    engine *e = engine_new(m, o.count, 0, o.co.seed);
    struct snaps sn = { .D = C * H * W };
    float *values;
    ascend_result res;
    if (o.cfg.tf.on)
        o.cfg.draws = xcalloc((size_t)o.cfg.steps, sizeof *o.cfg.draws);
    char **lnames;
    int nrun = run_all(&o, m, e, &ex, &sn, &values, &res, &id, &src, &lnames);

    if (o.cfg.until_pred >= 0) {
        if (res.reached)
            info("prediction %d %s reached after %d steps: change L2 %.6g, L-inf %.6g "
                 "(pixels in [0,1]; %lld values)", res.pred, class_name(m, res.pred),
                 res.steps_done, res.l2, res.linf, (long long)(C * H * W));
        else
            info("prediction still %d %s after %d steps (wanted %d %s): change L2 %.6g, "
                 "L-inf %.6g", res.pred, class_name(m, res.pred), res.steps_done,
                 o.cfg.until_pred, class_name(m, o.cfg.until_pred), res.l2, res.linf);
    }
    if (!o.invert)
        info("%s: %.6g -> %.6g after %d steps; prediction %d %s -> %d %s", o.target,
             res.value0, res.value, res.steps_done, res.pred0, class_name(m, res.pred0),
             res.pred, class_name(m, res.pred));
    write_output(&o, m, t, &sn, values, nrun, lnames, &res, id, src);

    if (lnames)
        cli_free_list(lnames, nrun);
    free(values);
    free(o.cfg.draws);
    free(sn.rows);
    free(sn.steps);
    free(sn.run);
    engine_free(e);
    target_expr_free(&ex);
    if (src)
        h5in_close(src);
    model_free(m);
    return EXIT_OK;
}
