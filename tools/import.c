/* cnn-import: a trained model from another framework -> our model file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "import/import.h"
#include "import/import_keras.h"
#include "import/import_onnx.h"
#include "nn/model.h"

static const char usage[] =
    "Usage: cnn-import [OPTIONS] SRC -o MODEL.h5\n"
    "Import a trained model: TF.js layers (model.json + weight shards, or the\n"
    "folder holding them), Keras .h5 (model.save()), Keras 3 .keras (zip),\n"
    "ONNX. The format is recognised by content.\n"
    "\n"
    "      --classes FILE  class names, one per line (default: a labels.txt\n"
    "                      beside SRC when it has one name per output)\n"
    "      --mean R,G,B    preprocessing mean in [0,1] pixel units\n"
    "      --std R,G,B     preprocessing std in [0,1] pixel units\n"
    "                      (x' = (x - mean) / std; e.g. Keras MobileNet's\n"
    "                      (p - 127.5) / 127.5 is --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5)\n"
    "      --scale S       the model wants pixels in [0,S] (e.g. 255)\n"
    "      --size WxH      input size (needed when the file leaves it open)\n"
    "      --fold-bn       fold BatchNormalization into the preceding conv/dense\n"
    CLI_HELP_OUTPUT CLI_HELP_END;

enum { OPT_MEAN = 2001, OPT_STD, OPT_SCALE, OPT_SIZE, OPT_FOLD, OPT_CLASSES };

/* "a,b,c" or "a" (all channels) -> v[3]. */
static void parse3(const char *opt, const char *s, float *v, double lo)
{
    char **p;
    int n = cli_split(s, ',', &p);
    if (n != 1 && n != 3)
        die_usage("%s: give 1 or 3 comma-separated numbers (got '%s')", opt, s);
    for (int c = 0; c < 3; c++)
        v[c] = (float)cli_double(opt, p[n == 1 ? 0 : c], lo, 1e6);
    cli_free_list(p, n);
}

int main(int argc, char **argv)
{
    struct cli_common co;
    cli_start(argc, argv, &co, 0);
    import_opts o;
    import_opts_init(&o);
    static const struct option longopts[] = {
        { "classes", required_argument, 0, OPT_CLASSES },
        { "mean", required_argument, 0, OPT_MEAN },
        { "std", required_argument, 0, OPT_STD },
        { "scale", required_argument, 0, OPT_SCALE },
        { "size", required_argument, 0, OPT_SIZE },
        { "fold-bn", no_argument, 0, OPT_FOLD },
        CLI_COMMON_LONGOPTS,
        { 0, 0, 0, 0 }
    };
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (c) {
        case OPT_CLASSES: o.classes = optarg; break;
        case OPT_MEAN: parse3("--mean", optarg, o.mean, -1e6); o.has_mean = 1; break;
        case OPT_STD: parse3("--std", optarg, o.std, 1e-12); o.has_std = 1; break;
        case OPT_SCALE: o.scale = cli_double("--scale", optarg, 1e-12, 1e12); break;
        case OPT_SIZE: cli_size("--size", optarg, &o.width, &o.height); break;
        case OPT_FOLD: o.fold_bn = 1; break;
        default: cli_common_opt(c, optarg, &co, usage);
        }
    }
    if (optind != argc - 1)
        die_usage(optind >= argc ? "no model to import (give SRC)" : "one SRC at a time");
    if (o.scale > 0 && (o.has_mean || o.has_std))
        die_usage("--scale and --mean/--std exclude each other");
    const char *src = argv[optind];

    cli_check_stdout(co.output, "an HDF5 file");   /* before the work */
    const char *why;
    import_format f = import_sniff(src, &why);
    model *m = NULL;
    switch (f) {
    case IMPORT_TFJS: m = import_keras_tfjs(src, &o); break;
    case IMPORT_KERAS_H5: m = import_keras_h5(src, &o); break;
    case IMPORT_ONNX: m = import_onnx(src, &o); break;
    case IMPORT_KERAS_ZIP: m = import_keras_zip(src, &o); break;
    default: die("%s: unrecognised model format (%s)", src, why ? why : "unknown");
    }
    import_finish(m, &o, src);
    model_save(m, co.output);
    info("%d nodes, %lld parameters, input %lldx%lldx%lld", m->n,
         (long long)model_nparams(m), (long long)m->in_shape[0], (long long)m->in_shape[1],
         (long long)m->in_shape[2]);
    model_free(m);
    return EXIT_OK;
}
