/* cnn-forward: run a model over an images file in batches; write chosen
 * layers' activations, logits, probabilities and top-k predictions (an
 * activations file), or print the top-k classes per image. */
#include <getopt.h>
#include <string.h>

#include "base/cli.h"
#include "nn/forward.h"
#include "nn/setup.h"

static const char usage[] =
    "Usage: cnn-forward -m MODEL.h5 [-l LAYER,...|--all] [options] [IMAGES...]\n"
    "Runs the model over an images file (or image files) and writes an activations file\n"
    "(kind=activations): /act/LAYER (N x C x H x W) for each chosen layer, /logits\n"
    "and /probs (N x K), /pred (N, int32), /topk_idx (N x k, int32) and /topk_prob\n"
    "(N x k); /ids, /labels, /paths travel with the rows. /classes holds the model's class\n"
    "names (what /pred indexes) when it has them, else the images file's; the\n"
    "images file's /classes go to /label_classes when they differ from the\n"
    "model's. Layer names match exactly, or ignoring case when that is unique.\n"
    "\n"
    "  -m, --model FILE    model file (kind=model)\n"
    "  -l, --layers L,...  layers whose activations to keep (default none)\n"
    "      --all           keep every layer's activations\n"
    "  -k, --top K         classes in /topk_* and --print (default 5)\n"
    "  -p, --print         print the top-k classes of every image on standard\n"
    "                      output, each named by its /paths entry (else its id);\n"
    "                      no HDF5 file then unless -o is given\n"
    CLI_IMAGE_HELP CLI_PHOTO_INTRO CLI_PHOTO_HELP
    CLI_HELP_OUTPUT CLI_HELP_RANGE CLI_HELP_BATCH CLI_HELP_THREADS CLI_HELP_END;

enum { OPT_ALL = 2001 };

static void parse_args(int argc, char **argv, struct fwd_opts *o)
{
    static const struct option longopts[] = {
        { "model", required_argument, 0, 'm' },
        { "layers", required_argument, 0, 'l' },
        { "all", no_argument, 0, OPT_ALL },
        { "top", required_argument, 0, 'k' },
        { "print", no_argument, 0, 'p' },
        CLI_COMMON_LONGOPTS, CLI_IMAGE_LONGOPTS, CLI_PHOTO_LONGOPTS,
        { 0, 0, 0, 0 }
    };
    memset(o, 0, sizeof *o);
    cli_common_for(&o->co, CLI_RANGE | CLI_BATCH | CLI_THREADS);
    o->k = 5;
    int c;
    while ((c = getopt_long(argc, argv, "m:l:k:p" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'l': o->layers = optarg; break;
        case OPT_ALL: o->all = 1; break;
        case 'k': o->k = (int)cli_long("-k", optarg, 1, 1 << 20); break;
        case 'p': o->print = 1; break;
        default:
            cli_common_opt(c, optarg, &o->co, usage);
        }
    }
    o->input = setup_args(o->model, argc, argv, optind);
    if (o->all && o->layers)
        die_usage("give -l LAYERS or --all, not both");
}

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    struct fwd_opts o;
    parse_args(argc, argv, &o);
    if (!o.print || o.co.output)   /* before the work */
        cli_check_stdout(o.co.output, "an HDF5 file");
    fwd_run(&o);
    return EXIT_OK;
}
