/* cnn-saliency: gradient attributions of a class or unit with respect to
 * the input pixels (common/methods/saliency.h), written as a maps file. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/arch.h"
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
    "/ids, /labels, /classes of the images; Grad-CAM adds /cam (layer resolution),\n"
    "integrated gradients /baseline_scores and /completeness.\n"
    "\n"
    "  -m, --model FILE    model file (kind=model)\n"
    "  -M, --method M      gradient (default), guided, deconvnet, input-x-gradient,\n"
    "                      smoothgrad, integrated-gradients, gradcam\n"
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
    "      --noise F       noise sd as a fraction of the image's range (0.15)\n"
    "      --samples N     noisy copies (50); up to --batch rows of them go\n"
    "                      through the net at once (within about 2 GiB)\n"
    "      --noise-file F  unit normal draws /noise (S x C x H x W) to use for\n"
    "                      every image instead of --seed's (S samples)\n"
    "Integrated gradients:\n"
    "      --steps N       Riemann steps k/N, k = 1..N (50); packed into passes\n"
    "                      of up to --batch rows, as --samples\n"
    "      --baseline B    zeros (default), a pixel VALUE, or blur[:SIGMA]\n"
    "                      (Gaussian blur of the image, SIGMA pixels, default 5)\n"
    "Grad-CAM:\n"
    "  -l, --layer LAYER   the convolutional layer (required)\n"
    CLI_IMAGE_HELP CLI_PHOTO_INTRO CLI_PHOTO_HELP
    CLI_HELP_OUTPUT CLI_HELP_RANGE CLI_HELP_BATCH CLI_HELP_THREADS CLI_HELP_SEED CLI_HELP_END;

struct sal_opts {
    struct cli_common co;
    const char *model, *input, *target, *layer, *noise_file, *baseline;
    int method, asked, reduce, measure, samples, samples_set, steps;
    int smooth;
    double noise;
};

enum { OPT_MEASURE = 2001, OPT_SMOOTH, OPT_NOISE, OPT_SAMPLES, OPT_NOISE_FILE, OPT_STEPS,
       OPT_BASELINE };

static void parse_args(int argc, char **argv, struct sal_opts *o)
{
    static const struct option longopts[] = {
        { "model", required_argument, 0, 'm' },
        { "method", required_argument, 0, 'M' },
        { "target", required_argument, 0, 't' },
        { "measure", required_argument, 0, OPT_MEASURE },
        { "reduce", required_argument, 0, 'r' },
        { "smooth", no_argument, 0, OPT_SMOOTH },
        { "noise", required_argument, 0, OPT_NOISE },
        { "samples", required_argument, 0, OPT_SAMPLES },
        { "noise-file", required_argument, 0, OPT_NOISE_FILE },
        { "steps", required_argument, 0, OPT_STEPS },
        { "baseline", required_argument, 0, OPT_BASELINE },
        { "layer", required_argument, 0, 'l' },
        CLI_COMMON_LONGOPTS, CLI_IMAGE_LONGOPTS, CLI_PHOTO_LONGOPTS,
        { 0, 0, 0, 0 }
    };
    memset(o, 0, sizeof *o);
    cli_common_for(&o->co, CLI_RANGE | CLI_BATCH | CLI_THREADS | CLI_SEED);
    o->method = SAL_GRADIENT;
    o->reduce = SAL_REDUCE_ABSMAX;
    o->noise = 0.15;
    o->samples = 50;
    o->steps = 50;
    o->baseline = "zeros";
    int c;
    while ((c = getopt_long(argc, argv, "m:M:t:r:l:" CLI_COMMON_SHORTOPTS, longopts, NULL)) !=
           -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'M':
            if ((o->method = saliency_method_parse(optarg)) < 0)
                die_usage("unknown method '%s' (gradient, guided, deconvnet, input-x-gradient, "
                          "smoothgrad, integrated-gradients, gradcam)", optarg);
            break;
        case 't': o->target = optarg; break;
        case OPT_MEASURE:
            if (strcmp(optarg, "logit") && strcmp(optarg, "prob"))
                die_usage("--measure: '%s' is not logit or prob", optarg);
            o->measure = !strcmp(optarg, "prob") ? TARGET_PROB : TARGET_LOGIT;
            break;
        case 'r':
            if ((o->reduce = saliency_reduce_parse(optarg)) < 0)
                die_usage("--reduce: '%s' is not max, absmax, sum or l2", optarg);
            break;
        case OPT_SMOOTH: o->smooth = 1; break;
        case OPT_NOISE: o->noise = cli_double("--noise", optarg, 0, 1e6); break;
        case OPT_SAMPLES:
            o->samples = (int)cli_long("--samples", optarg, 1, 1 << 20);
            o->samples_set = 1;
            break;
        case OPT_NOISE_FILE: o->noise_file = optarg; break;
        case OPT_STEPS: o->steps = (int)cli_long("--steps", optarg, 1, 1 << 20); break;
        case OPT_BASELINE: o->baseline = optarg; break;
        case 'l': o->layer = optarg; break;
        default:
            cli_common_opt(c, optarg, &o->co, usage);
        }
    }
    o->input = setup_args(o->model, argc, argv, optind);
    o->asked = o->method;
    if (o->method == SAL_SMOOTHGRAD) {
        if (o->smooth)
            die_usage("--smooth goes on top of another method (smoothgrad is gradient --smooth)");
        o->method = SAL_GRADIENT;
        o->smooth = 1;
    }
    if (o->method == SAL_GRADCAM && !o->layer)
        die_usage("gradcam needs a layer: -l LAYER (a convolutional layer)");
    if (o->method != SAL_GRADCAM && o->layer)
        die_usage("-l is Grad-CAM's layer; the target's layer goes in --target unit=LAYER:C");
    if (!o->smooth && (o->noise_file || o->samples_set))
        die_usage("--noise-file and --samples are for smoothgrad or --smooth");
}

/* --baseline zeros | VALUE | blur[:SIGMA] into cfg. */
static void parse_baseline(const char *s, saliency_cfg *cfg)
{
    if (!strcmp(s, "zeros"))
        cfg->baseline = SAL_BASE_ZEROS;
    else if (!strncmp(s, "blur", 4) && (!s[4] || s[4] == ':')) {
        cfg->baseline = SAL_BASE_BLUR;
        cfg->blur_sigma = s[4] ? cli_double("--baseline blur:SIGMA", s + 5, 0, 1e4) : 5.0;
    } else {
        cfg->baseline = SAL_BASE_VALUE;
        cfg->baseline_value = cli_double("--baseline", s, -1e6, 1e6);
    }
}

/* The noise file's draws, checked against the images' shape. */
/* Memory SmoothGrad may use to pack several noise samples in one pass. */
#define SAL_PACK_BYTES (2.0 * 1024 * 1024 * 1024)

static tensor *read_noise(const char *path, const int64_t *shape, int *samples)
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
    if (o->smooth) {
        h5out_attr_f64(out, "/", "noise", 1, &o->noise);
        h5out_attr_i64(out, "/", "samples", 1, (int64_t[]){ cfg->samples });
        h5out_attr_i64(out, "/", "seed", 1, (int64_t[]){ (int64_t)o->co.seed });
        if (o->noise_file)
            h5out_attr_str(out, "/", "noise_file", o->noise_file);
    }
    if (o->method == SAL_INTEGRATED) {
        h5out_attr_i64(out, "/", "steps", 1, (int64_t[]){ o->steps });
        h5out_attr_str(out, "/", "baseline", o->baseline);
        h5out_attr_str(out, "/", "riemann", "right: (x-b)/m * sum_{k=1..m} grad f(b + k/m (x-b))");
    }
    if (o->method == SAL_GRADCAM)
        h5out_attr_str(out, "/", "layer", m->nodes[cfg->layer].name);
}

static void create_datasets(h5out *out, int method, int64_t n, int64_t ca, int64_t H, int64_t W,
                            int64_t ch, int64_t cw)
{
    h5out_create_rows(out, "/attr", 4, (int64_t[]){ n, ca, H, W });
    h5out_create_rows(out, "/maps", 3, (int64_t[]){ n, H, W });
    h5out_create_rows(out, "/scores", 1, &n);
    h5out_create_ints(out, "/target", n, 32);
    if (method == SAL_GRADCAM)
        h5out_create_rows(out, "/cam", 3, (int64_t[]){ n, ch, cw });
    if (method == SAL_INTEGRATED) {
        h5out_create_rows(out, "/baseline_scores", 1, &n);
        h5out_create_rows(out, "/completeness", 1, &n);
    }
}

struct comp_stats {
    double err, max, gap;     /* sums of |error| and |f(x) - f(b)|, max |error| */
};

/* Integrated gradients' completeness: the attributions of each image
 * should add up to f(x) - f(baseline); the error goes to err[i], the
 * running totals to st, and a line per image to stderr when verbose. */
static void completeness(const tensor *attr, const float *fx, const float *fb,
                         const int64_t *ids, int verbose, struct comp_stats *st, float *err)
{
    int64_t n = attr->dims[0], len = tensor_rowsize(attr);
    for (int64_t i = 0; i < n; i++) {
        double sum = 0, gap = (double)fx[i] - fb[i];
        for (int64_t j = 0; j < len; j++)
            sum += attr->data[i * len + j];
        double e = sum - gap;
        err[i] = (float)e;
        st->err += fabs(e);
        st->gap += fabs(gap);
        st->max = fabs(e) > st->max ? fabs(e) : st->max;
        if (verbose)
            info("image %lld: completeness error %.6g (sum of attributions %.6g, "
                 "f(x) - f(baseline) %.6g)", (long long)ids[i], e, sum, gap);
    }
}

/* Rows per pass: batch images, times the noise samples or steps that
 * fit (see below). */
static int pass_rows(const model *m, const struct sal_opts *o, const saliency_cfg *cfg, int batch)
{
    /* SmoothGrad and integrated gradients fill the rest of --batch with
     * more noise samples or steps per pass (one MNIST digit: all 50 in one
     * pass of 50 rows), as long as the engine's activations and gradients
     * stay within about SAL_PACK_BYTES. */
    int rows = batch;
    int per = o->smooth ? cfg->samples : o->method == SAL_INTEGRATED ? cfg->steps : 1;
    if (per > 1) {
        double row_bytes = 8.0 * (double)(m->in_shape[0] * m->in_shape[1] * m->in_shape[2]);
        for (int i = 0; i < m->n; i++)
            row_bytes += 8.0 * (double)(m->nodes[i].shape[0] * m->nodes[i].shape[1] *
                                        m->nodes[i].shape[2]);
        int64_t spp = o->co.batch / batch < per ? o->co.batch / batch : per;
        int64_t fit = (int64_t)(SAL_PACK_BYTES / (row_bytes * batch));
        if (spp > fit)
            spp = fit;
        rows = batch * (spp > 1 ? (int)spp : 1);
    }
    return rows;
}

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    struct sal_opts o;
    parse_args(argc, argv, &o);
    model *m = setup_model(o.model, &o.co);
    int64_t a, b;
    h5in *in = setup_images(o.input, m, o.model, &o.co, &a, &b);
    int has_labels = h5in_has(in, "/labels");
    target t;
    char err[512];
    if (target_parse(o.target ? o.target : has_labels ? "label" : "pred", &t, err, sizeof err) < 0)
        die_usage("%s", err);
    o.target = t.spec;
    t.measure = (target_measure)o.measure;
    if (o.measure == TARGET_PROB && (t.kind == TARGET_UNIT || t.kind == TARGET_STRONGEST))
        die_usage("--measure prob is for class targets, not --target %s", t.spec);
    target_resolve(&t, m, o.model);

    saliency_cfg cfg = { 0 };
    cfg.method = (sal_method)o.method;
    cfg.smooth = o.smooth;
    cfg.noise = o.noise;
    cfg.samples = o.samples;
    cfg.seed = o.co.seed;
    cfg.steps = o.steps;
    parse_baseline(o.baseline, &cfg);
    if (o.layer)
        cfg.layer = model_require(m, o.layer, o.model);
    tensor *noise = NULL;
    if (o.noise_file) {
        int ns;
        noise = read_noise(o.noise_file, m->in_shape, &ns);
        if (o.samples_set && ns != o.samples)
            die("%s: holds %d samples but --samples is %d", o.noise_file, ns, o.samples);
        cfg.samples = ns;
        cfg.noise_data = noise->data;
    }

    int64_t n = b - a;
    if (target_needs_labels(&t) && !has_labels)
        die("%s: no /labels, which target 'label' needs (use class=K or pred)", in->name);

    /* The engine keeps every layer for a whole batch: no larger than the
     * data (a few 224 x 224 photos need not pay for 64). */
    int batch = n < o.co.batch ? (n > 0 ? (int)n : 1) : o.co.batch;
    int rows = pass_rows(m, &o, &cfg, batch);
    saliency *s = saliency_new(m, &t, &cfg, rows, o.model);
    int64_t C = m->in_shape[0], H = m->in_shape[1], W = m->in_shape[2];
    int64_t ca = saliency_channels(s), ch, cw;
    saliency_cam_shape(s, &ch, &cw);

    h5out *out = h5out_create(o.co.output, "maps", in);
    write_attrs(out, &o, &cfg, m);
    h5out_carry(out, in, a, b);
    /* The explained classes' names (/target indexes them) for photos. */
    if (!h5in_has(in, "/classes") && m->classes && m->nclasses > 0)
        h5out_write_strings(out, "/classes", m->nclasses, m->classes);
    create_datasets(out, o.method, n, ca, H, W, ch, cw);

    tensor *xb = tensor_new4(batch, C, H, W), *attr = tensor_new4(batch, ca, H, W);
    tensor *maps = tensor_new(3, (int64_t[]){ batch, H, W });
    tensor *cam = ch ? tensor_new(3, (int64_t[]){ batch, ch, cw }) : NULL;
    tensor *sc = tensor_new(1, (int64_t[]){ batch }), *bs = tensor_new(1, (int64_t[]){ batch });
    tensor *ce = tensor_new(1, (int64_t[]){ batch });
    int32_t *chosen = xmalloc((size_t)batch * sizeof *chosen);
    struct comp_stats cs = { 0, 0, 0 };
    progress *pg = progress_start(saliency_method_name((sal_method)o.method), n);
    for (int64_t r = 0; r < n; r += batch) {
        int64_t c = n - r < batch ? n - r : batch;
        xb->dims[0] = c;
        pixels_read_into(in, a + r, c, xb->data);
        int64_t *ids = h5in_has(in, "/ids") ? h5in_read_i64(in, "/ids", a + r, c) : NULL;
        int32_t *lab = h5in_has(in, "/labels") ? h5in_read_i32(in, "/labels", a + r, c) : NULL;
        if (!ids) {
            ids = xmalloc((size_t)c * sizeof *ids);
            for (int64_t i = 0; i < c; i++)
                ids[i] = a + r + i;
        }
        saliency_run(s, xb, lab, ids, attr, sc->data, chosen, bs->data, cam);
        saliency_reduce_maps(attr, (sal_reduce)o.reduce, maps);
        finite_check_rows(sc->data, c, 1, a + r, in->name, "image", "target score", "column",
                          FINITE_FROM_PIXELS);
        finite_check_rows(attr->data, c, ca * H * W, a + r, in->name, "image", "attribution",
                          "value", FINITE_FROM_PIXELS);
        sc->dims[0] = bs->dims[0] = ce->dims[0] = c;
        h5out_write_rows(out, "/attr", r, attr);
        h5out_write_rows(out, "/maps", r, maps);
        h5out_write_rows(out, "/scores", r, sc);
        h5out_write_i32_rows(out, "/target", r, c, chosen);
        if (cam)
            h5out_write_rows(out, "/cam", r, cam);
        if (o.method == SAL_INTEGRATED) {
            completeness(attr, sc->data, bs->data, ids, n <= 20, &cs, ce->data);
            h5out_write_rows(out, "/baseline_scores", r, bs);
            h5out_write_rows(out, "/completeness", r, ce);
        }
        free(ids);
        free(lab);
        progress_update(pg, r + c);
    }
    progress_end(pg);
    if (o.method == SAL_INTEGRATED && n > 0)
        info("integrated gradients, %d steps: completeness error mean %.4g, max %.4g "
             "(mean |f(x) - f(baseline)| %.4g) over %lld images", o.steps, cs.err / (double)n,
             cs.max, cs.gap / (double)n, (long long)n);
    h5out_commit(out);

    xb->dims[0] = attr->dims[0] = maps->dims[0] = sc->dims[0] = bs->dims[0] = ce->dims[0] = batch;
    tensor_free(xb);
    tensor_free(attr);
    tensor_free(maps);
    tensor_free(cam);
    tensor_free(sc);
    tensor_free(bs);
    tensor_free(ce);
    free(chosen);
    tensor_free(noise);
    saliency_free(s);
    target_free(&t);
    h5in_close(in);
    model_free(m);
    return EXIT_OK;
}
