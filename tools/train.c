/* cnn-train: train a model from an architecture description on an images
 * file; writes a model file (kind=model). */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/arch.h"
#include "base/cli.h"
#include "nn/setup.h"
#include "nn/engine.h"
#include "io/h5io.h"
#include "io/pixels.h"
#include "nn/model.h"
#include "methods/train.h"

static const char usage[] =
    "Usage: cnn-train [options] TRAIN.h5 -o MODEL.h5\n"
    "Trains a network on an images file (/images N x C x H x W in [0,1], /labels,\n"
    "/classes) with softmax cross-entropy and writes a model file: weights, class\n"
    "names, input shape and preprocessing. One line per epoch on stderr: training\n"
    "loss and accuracy (dropout on), and validation accuracy with --val.\n"
    "\n"
    "  -a, --arch SPEC      architecture: a compact string or a file with one layer\n"
    "                       per line (docs/arch.md); default the Keras MNIST CNN:\n"
    "                       " ARCH_DEFAULT "\n"
    "  -e, --epochs N       passes over the data (default 10; 0 writes the\n"
    "                       initialised model)\n"
    "      --lr R           learning rate (default 0.001)\n"
    "      --lr-decay F     multiply the learning rate by F after each epoch (default 1)\n"
    "      --optim O        adam or sgd (default adam)\n"
    "      --momentum M     SGD momentum (default 0.9)\n"
    "      --wd W           L2 weight decay (default 0)\n"
    "      --init I         torch (PyTorch's default, U(+-1/sqrt(fan_in))) or he\n"
    "                       (Kaiming uniform, U(+-sqrt(6/fan_in)), zero biases);\n"
    "                       default torch\n"
    "      --val FILE       images file to report accuracy on after every epoch\n"
    "      --classes C      class names: comma-separated, or a file with one per line\n"
    "                       (default the data's /classes, else 0..K-1)\n"
    "      --mean M         preprocessing mean: one value or one per channel\n"
    "      --std S          preprocessing standard deviation (same form)\n"
    "                       (the model stores them; tools feed it (x - mean) / std)\n"
    "      --range A:B      train on rows A..B-1 only\n"
    "      --batch N        mini-batch size (default 64)\n"
    "      --shuffle-labels train on the labels permuted at random (from --seed),\n"
    "                       the class counts kept: the model of Adebayo et al.'s\n"
    "                       data-randomisation test (cnn-evaluate --metric sanity\n"
    "                       --shuffled-model); --val keeps its true labels\n"
    "      --seed S         weights, shuffling and dropout (default 1); the same seed\n"
    "                       gives the same weights bit for bit on one machine with\n"
    "                       the same --threads\n"
    CLI_IMAGE_HELP
    "IMAGES (and --val) may be image folders (one subfolder per class) read as\n"
    "cnn-images reads them, with its options:\n"
    CLI_PHOTO_HELP
    CLI_HELP_OUTPUT CLI_HELP_THREADS CLI_HELP_END;   /* --range, --batch, --seed: above */

struct train_args {
    struct cli_common co;
    train_opts to;
    const char *arch, *val, *classes, *mean, *std, *input;
    arch_init init;
    int shuffle_labels;
};

enum { OPT_LR = 2001, OPT_LRDECAY, OPT_OPTIM, OPT_MOMENTUM, OPT_WD, OPT_INIT, OPT_VAL,
       OPT_CLASSES, OPT_MEAN, OPT_STD, OPT_SHUFFLE_LABELS };

static void parse_args(int argc, char **argv, struct train_args *o)
{
    static const struct option longopts[] = {
        { "arch", required_argument, 0, 'a' },
        { "epochs", required_argument, 0, 'e' },
        { "lr", required_argument, 0, OPT_LR },
        { "lr-decay", required_argument, 0, OPT_LRDECAY },
        { "optim", required_argument, 0, OPT_OPTIM },
        { "momentum", required_argument, 0, OPT_MOMENTUM },
        { "wd", required_argument, 0, OPT_WD },
        { "init", required_argument, 0, OPT_INIT },
        { "val", required_argument, 0, OPT_VAL },
        { "classes", required_argument, 0, OPT_CLASSES },
        { "mean", required_argument, 0, OPT_MEAN },
        { "std", required_argument, 0, OPT_STD },
        { "shuffle-labels", no_argument, 0, OPT_SHUFFLE_LABELS },
        CLI_COMMON_LONGOPTS, CLI_IMAGE_LONGOPTS, CLI_PHOTO_LONGOPTS,
        { 0, 0, 0, 0 }
    };
    memset(o, 0, sizeof *o);
    cli_common_for(&o->co, CLI_RANGE | CLI_BATCH | CLI_THREADS | CLI_SEED);
    train_defaults(&o->to);
    o->arch = ARCH_DEFAULT;
    int c;
    while ((c = getopt_long(argc, argv, "a:e:" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (c) {
        case 'a': o->arch = optarg; break;
        case 'e': o->to.epochs = (int)cli_long("--epochs", optarg, 0, 1000000); break;
        case OPT_LR: o->to.lr = cli_double("--lr", optarg, 0, 1e6); break;
        case OPT_LRDECAY: o->to.lr_decay = cli_double("--lr-decay", optarg, 0, 1e6); break;
        case OPT_MOMENTUM: o->to.momentum = cli_double("--momentum", optarg, 0, 1); break;
        case OPT_WD: o->to.wd = cli_double("--wd", optarg, 0, 1e6); break;
        case OPT_OPTIM:
            if (!strcmp(optarg, "adam"))
                o->to.optim = TRAIN_ADAM;
            else if (!strcmp(optarg, "sgd"))
                o->to.optim = TRAIN_SGD;
            else
                die_usage("--optim: '%s' is not adam or sgd", optarg);
            break;
        case OPT_INIT:
            if (!strcmp(optarg, "torch"))
                o->init = ARCH_INIT_TORCH;
            else if (!strcmp(optarg, "he"))
                o->init = ARCH_INIT_HE;
            else
                die_usage("--init: '%s' is not torch or he", optarg);
            break;
        case OPT_VAL: o->val = optarg; break;
        case OPT_CLASSES: o->classes = optarg; break;
        case OPT_MEAN: o->mean = optarg; break;
        case OPT_STD: o->std = optarg; break;
        case OPT_SHUFFLE_LABELS: o->shuffle_labels = 1; break;
        default:
            cli_common_opt(c, optarg, &o->co, usage);
        }
    }
    if (optind < argc - 1)
        die_usage("one training file expected, got %d", argc - optind);
    o->input = optind < argc ? argv[optind] : NULL;
    o->to.batch = o->co.batch;
    o->to.seed = o->co.seed;
}

/* An images file in memory, checked: 4-D /images and /labels. */
typedef struct dataset {
    h5in *in;
    float *x;
    int32_t *y;
    int64_t n, c, h, w;
    char **classes;
    int nclasses;
} dataset;

static void load(dataset *d, const char *path, int64_t a, int64_t b, const struct cli_common *co)
{
    memset(d, 0, sizeof *d);
    d->in = setup_open_images(path, NULL, co);
    h5in_require_kind(d->in, "images");
    int64_t dims[TENSOR_MAXDIM];
    if (h5in_dims(d->in, "/images", dims) != 4)
        die("%s: /images should be N x C x H x W", d->in->name);
    if (!h5in_has(d->in, "/labels"))
        die("%s: has no /labels (training needs a label per image)", d->in->name);
    cli_range_resolve(dims[0], &a, &b);
    d->n = b - a, d->c = dims[1], d->h = dims[2], d->w = dims[3];
    if (d->n < 1)
        die("%s: no images in rows %lld:%lld", d->in->name, (long long)a, (long long)b);
    if (h5in_nrows(d->in, "/labels") != dims[0])
        die("%s: %lld labels for %lld images", d->in->name,
            (long long)h5in_nrows(d->in, "/labels"), (long long)dims[0]);
    tensor *t = pixels_read(d->in, a, d->n);
    d->x = t->data;   /* keep the pixels, drop the header */
    t->data = NULL;
    tensor_free(t);
    d->y = h5in_read_i32(d->in, "/labels", a, d->n);
    if (h5in_has(d->in, "/classes"))
        d->classes = h5in_read_strings(d->in, "/classes", &d->nclasses);
}

static int max_label(const dataset *d)
{
    int32_t mx = -1;
    for (int64_t i = 0; i < d->n; i++) {
        if (d->y[i] < 0)
            die("%s: negative label %d in row %lld", d->in->name, d->y[i], (long long)i);
        if (d->y[i] > mx)
            mx = d->y[i];
    }
    return mx;
}

/* --mean/--std: one value for every channel or one per channel. */
static void per_channel(const char *opt, const char *s, int64_t c, float *v, double lo)
{
    char **p;
    int n = cli_split(s, ',', &p);
    if (n != 1 && n != c)
        die_usage("%s: give 1 or %lld values (one per channel), not %d", opt, (long long)c, n);
    for (int64_t i = 0; i < c && i < 3; i++)
        v[i] = (float)cli_double(opt, p[n == 1 ? 0 : i], lo, 1e6);
    cli_free_list(p, n);
}

static void report(const train_epoch *ep, void *ctx)
{
    (void)ctx;
    if (ep->val_acc >= 0)
        info("epoch %d/%d: loss %.4f, train acc %.2f%%, val loss %.4f, val acc %.2f%% (%.1f s)",
             ep->epoch, ep->epochs, ep->loss, 100 * ep->acc, ep->val_loss, 100 * ep->val_acc,
             ep->seconds);
    else
        info("epoch %d/%d: loss %.4f, train acc %.2f%% (%.1f s)", ep->epoch, ep->epochs, ep->loss,
             100 * ep->acc, ep->seconds);
}

/* Fail before minutes of training, not after, when -o cannot be written. */
static void check_output(const char *path)
{
    if (!path || !strcmp(path, "-")) {
        cli_check_stdout(path, "an HDF5 file");
        return;
    }
    char *dup = xstrdup(path);
    const char *dir = dirname(dup);
    if (access(dir, W_OK) != 0)
        die("%s: cannot write in '%s':", path, dir);
    free(dup);
}

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    struct train_args o;
    parse_args(argc, argv, &o);
    if (o.co.threads)
        engine_set_threads(o.co.threads);
    check_output(o.co.output);

    dataset tr, va;
    load(&tr, o.input, o.co.range_a, o.co.range_b, &o.co);
    int top = max_label(&tr);
    if (o.shuffle_labels)
        train_shuffle_labels(tr.y, tr.n, o.co.seed);
    char **names = NULL;
    int nclasses = 0;
    if (o.classes)
        nclasses = cli_names(o.classes, &names);
    else if (tr.classes) {
        names = tr.classes, nclasses = tr.nclasses;
        tr.classes = NULL;
    }
    if (names && nclasses <= top)
        die("%s: label %d but only %d class names%s", tr.in->name, top, nclasses,
            o.classes ? " given with --classes" : " in /classes");
    if (!names) {
        nclasses = top + 1;
        names = xmalloc((size_t)nclasses * sizeof *names);
        for (int i = 0; i < nclasses; i++) {
            char b[16];
            snprintf(b, sizeof b, "%d", i);
            names[i] = xstrdup(b);
        }
    }
    if (o.val) {
        load(&va, o.val, 0, -1, &o.co);
        if (va.c != tr.c || va.h != tr.h || va.w != tr.w)
            die("%s: images are %lldx%lldx%lld, the training images %lldx%lldx%lld",
                va.in->name, (long long)va.c, (long long)va.h, (long long)va.w, (long long)tr.c,
                (long long)tr.h, (long long)tr.w);
        if (max_label(&va) >= nclasses)
            die("%s: label %d but the training data has %d classes", va.in->name,
                max_label(&va), nclasses);
    }

    char err[512];
    model *m = arch_build(o.arch, tr.c, tr.h, tr.w, nclasses, o.init, o.co.seed, err, sizeof err);
    if (!m)
        die_usage("--arch: %s", err);
    int L = arch_logits_node(m, NULL);
    int64_t width = m->nodes[L].shape[0] * m->nodes[L].shape[1] * m->nodes[L].shape[2];
    if (width != nclasses)
        die_usage("--arch: the network ends in %lld outputs (%s) but the data has %d classes; end it "
            "in 'dense' to get one per class", (long long)width, m->nodes[L].name, nclasses);
    m->nclasses = nclasses;
    m->classes = names;
    if (o.mean)
        per_channel("--mean", o.mean, tr.c, m->mean, -1e6);
    if (o.std)
        per_channel("--std", o.std, tr.c, m->std, 1e-12);
    char *text = arch_text(o.arch);
    size_t sl = strlen(text) + 128;
    m->source = xmalloc(sl);
    snprintf(m->source, sl, "cnn-train --arch %s --init %s --seed %llu%s", text,
             o.init == ARCH_INIT_HE ? "he" : "torch", (unsigned long long)o.co.seed,
             o.shuffle_labels ? " --shuffle-labels" : "");
    free(text);
    info("%s: %d images %lldx%lldx%lld, %d classes; %lld parameters", tr.in->name, (int)tr.n,
         (long long)tr.c, (long long)tr.h, (long long)tr.w, nclasses,
         (long long)model_nparams(m));

    train_set ts = { tr.x, tr.y, tr.n, tr.c, tr.h, tr.w };
    train_set vs = { 0 };
    if (o.val)
        vs = (train_set){ va.x, va.y, va.n, va.c, va.h, va.w };
    train_run(m, &ts, o.val ? &vs : NULL, &o.to, report, NULL);
    model_save(m, o.co.output);

    model_free(m);
    free(tr.x);
    free(tr.y);
    if (tr.classes)   /* unused when --classes gave the names */
        cli_free_list(tr.classes, tr.nclasses);
    h5in_close(tr.in);
    if (o.val) {
        free(va.x);
        free(va.y);
        if (va.classes)
            cli_free_list(va.classes, va.nclasses);
        h5in_close(va.in);
    }
    return EXIT_OK;
}
