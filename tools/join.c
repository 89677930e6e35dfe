/* cnn-join: concatenate the shards of one run (cnntools files written with
 * --range, e.g. by GNU Parallel) into the file one run would have written.
 * The work is common/io/join.c. */
#include <getopt.h>
#include <stdlib.h>

#include "base/cli.h"
#include "io/join.h"

static const char usage[] =
    "Usage: cnn-join [-o OUT.h5] SHARD.h5...\n"
    "Concatenates the rows of shard files of one run, in the order given, into\n"
    "one file of the same kind (images, activations, features, maps, ...): the\n"
    "file the unsharded run writes. Datasets whose first dimension is a shard's\n"
    "row count (the length of /ids) are concatenated with their stored types;\n"
    "every other dataset and every root attribute but the history must be the\n"
    "same in all shards (else an error: shards of different runs).\n"
    "\n"
    "      --stack         join files of different runs of one kind over the same\n"
    "                      images (maps of several methods, one ascent per class):\n"
    "                      datasets all have as rows (/maps, /ids, ...) stacked\n"
    "                      file after file, those all share kept once, each\n"
    "                      file's own datasets and attributes under /METHOD;\n"
    "                      /methods names the files, /method each row's\n"
    CLI_HELP_OUTPUT
    "  -q, --quiet         no information on stderr\n"
    "  -h, --help          this help\n"
    "      --version       version\n"
    "\nExit status: 0 success, 1 failure, 2 usage error.\n";

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    enum { OPT_STACK = 1000 };
    static const struct option longopts[] = { { "stack", no_argument, 0, OPT_STACK },
                                              CLI_COMMON_LONGOPTS, { 0, 0, 0, 0 } };
    struct cli_common co;
    cli_common_for(&co, 0);
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        if (c == OPT_STACK)
            join_set_stack(1);
        else
            cli_common_opt(c, optarg, &co, usage);
    }
    if (optind >= argc)
        die_usage("give the shard files to join");
    cli_check_stdout(co.output, "an HDF5 file");   /* before the work */
    join_files(co.output, argv + optind, argc - optind);
    return EXIT_SUCCESS;
}
