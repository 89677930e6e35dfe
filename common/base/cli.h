/* cli: what every tool's main shares: the command line for the history
 * attribute, number parsing with range checks, the common options, --help
 * and --version. It includes the base rooms a main needs besides (errors,
 * allocation, files, progress, random numbers, CPU setup), so a tool
 * includes "base/cli.h" once. */
#ifndef CNN_CLI_H
#define CNN_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "base/alloc.h"
#include "base/cpu.h"
#include "base/error.h"
#include "base/file.h"
#include "base/finite.h"
#include "base/progress.h"
#include "base/rng.h"

#define CNN_VERSION "0.1.0"


/* Set the program name (from argv[0]'s basename), remember the command line
 * for the history attribute, silence HDF5's automatic error printing. Call
 * first in every main. */
void cli_init(int argc, char **argv);
/* A tool that hands getopt a shifted argv (cnn-render's commands) says so,
 * so the message for a bad option names the right argument. */
void cli_getopt_args(int argc, char **argv);
/* What cli_init sets per thread, for a thread of the tool's own (HDF5,
 * when built thread-safe, prints its errors per thread unless told not). */
void cli_thread_init(void);
/* The command line as one string (time-stamped history line, owned by cli). */
const char *cli_history_line(void);
/* s as one POSIX shell word into dst (room for 4 * strlen(s) + 3 bytes):
 * bare when it holds only letters, digits and _./:=,+@%-, else in single
 * quotes with each quote written '\''. Returns the length written. */
size_t cli_shell_quote(char *dst, const char *s);

/* Print the usage text to stdout and exit 0 (--help) / version (--version). */
void cli_help(const char *usage) __attribute__((noreturn));
void cli_version(void) __attribute__((noreturn));

/* Numbers from option arguments; usage error (exit 2) naming the option when
 * the text is not a number or lies outside [min, max]. */
long cli_long(const char *opt, const char *s, long min, long max);
double cli_double(const char *opt, const char *s, double min, double max);
/* "A:B" (either side may be empty: ":B", "A:") -> [*a, *b); b = -1 means to
 * the end. */
void cli_range(const char *opt, const char *s, int64_t *a, int64_t *b);
/* Resolve a range against n rows; dies when it lies outside. */
void cli_range_resolve(int64_t n, int64_t *a, int64_t *b);
/* "WxH" or "N" (square) -> *w, *h. */
void cli_size(const char *opt, const char *s, int *w, int *h);
/* Comma-separated list; returns count and a malloc'd array of strdup'd
 * strings (free with cli_free_list). */
int cli_split(const char *s, char sep, char ***out);
void cli_free_list(char **v, int n);
/* A list of names given as an option (--classes): "@FILE" or the name of
 * an existing file, one name per line; else comma-separated ("a,b,c").
 * A single word with a '/' that is no file dies "cannot open".
 * Returns the count; free with cli_free_list. */
int cli_names(const char *arg, char ***out);
/* Comma-separated integer list with ranges "0,3,5-9". */
int cli_int_list(const char *opt, const char *s, int max, int **out);

/* Common options every tool declares with the same meaning. Use
 * CLI_COMMON_LONGOPTS in the option table and cli_common_opt() in the
 * getopt switch's default branch. */
/* How image files given directly to a tool become its images (io/imageset
 * reads them as cnn-images would; CLI_PHOTO_LONGOPTS fills this). */
struct cli_photo {
    int w, h;               /* --size WxH; 0 = the tool's default */
    int crop;               /* --crop center: 1 */
    int cw, ch;             /* --crop WxH: the centred window (torchvision CenterCrop) */
    int resize;             /* --resize N: the shorter side to N first (torchvision Resize) */
    int filter;             /* --filter: 0 bilinear, 1 area (for --size) */
    int channels;           /* 1 gray, 3 RGB; 0 = the tool's default */
    int no_orient;          /* --no-orient: EXIF orientation not applied */
    int64_t max_pixels;     /* --max-pixels; 0 = the default */
};

struct cli_common {
    const char *output;     /* -o; NULL = stdout */
    int64_t range_a, range_b;  /* --range; 0, -1 = all */
    int batch;              /* --batch */
    int threads;            /* --threads; 0 = all cores */
    uint64_t seed;          /* --seed */
    unsigned honour;        /* CLI_RANGE | ...: the ones this tool uses */
    struct cli_photo photo; /* CLI_PHOTO_LONGOPTS */
};
/* The common options with a value a tool may honour. A tool sets
 * co.honour after cli_common_defaults (default: all) and lists exactly
 * those in its --help (CLI_HELP_*); the others are refused as usage
 * errors ("--seed: cnn-import has no random choices"). -o, -q, -h and
 * --version are every tool's. */
enum { CLI_RANGE = 1, CLI_BATCH = 2, CLI_THREADS = 4, CLI_SEED = 8, CLI_COMPRESS = 16 };
/* --compress[=LEVEL]: the deflate level (1-9; 4 when none is given) of
 * every dataset the tool writes, with HDF5's shuffle filter before it, in
 * chunks (io/h5io's dataset creation reads it); 0 = uncompressed. Every
 * tool writes HDF5 but cnn-render, so cli_common_for grants CLI_COMPRESS
 * to all; a tool that writes none clears it (co.honour &= ~CLI_COMPRESS). */
extern int cli_compress;
#define CLI_OPT_RANGE 1001
#define CLI_OPT_BATCH 1002
#define CLI_OPT_THREADS 1003
#define CLI_OPT_SEED 1004
#define CLI_OPT_VERSION 1005
#define CLI_OPT_ALLOW_RANGE 1006
#define CLI_OPT_COMPRESS 1007
#define CLI_COMMON_LONGOPTS                                   \
    { "help", no_argument, 0, 'h' },                          \
    { "version", no_argument, 0, CLI_OPT_VERSION },           \
    { "quiet", no_argument, 0, 'q' },                         \
    { "output", required_argument, 0, 'o' },                  \
    { "range", required_argument, 0, CLI_OPT_RANGE },         \
    { "batch", required_argument, 0, CLI_OPT_BATCH },         \
    { "threads", required_argument, 0, CLI_OPT_THREADS },     \
    { "seed", required_argument, 0, CLI_OPT_SEED },           \
    { "compress", optional_argument, 0, CLI_OPT_COMPRESS }
/* Tools that read images files declare --allow-range too (finite.h: the
 * image check); cli_common_opt handles it. */
#define CLI_IMAGE_LONGOPTS { "allow-range", no_argument, 0, CLI_OPT_ALLOW_RANGE }
#define CLI_IMAGE_HELP                                                        \
    "      --allow-range   accept pixels outside [0,1] (never NaN or infinite)\n"
/* Tools that take image files as well as images files declare these
 * (cli_common_opt handles them): --size, --crop, --resize, --filter,
 * --no-orient, --max-pixels; tools with a --size of their own leave out
 * CLI_PHOTO_SIZE_LONGOPT. */
#define CLI_OPT_SIZE 1010
#define CLI_OPT_CROP 1011
#define CLI_OPT_RESIZE 1012
#define CLI_OPT_FILTER 1013
#define CLI_OPT_NO_ORIENT 1014
#define CLI_OPT_MAX_PIXELS 1015
#define CLI_PHOTO_SIZE_LONGOPT { "size", required_argument, 0, CLI_OPT_SIZE }
#define CLI_PHOTO_REST_LONGOPTS                                   \
    { "crop", required_argument, 0, CLI_OPT_CROP },               \
    { "resize", required_argument, 0, CLI_OPT_RESIZE },           \
    { "filter", required_argument, 0, CLI_OPT_FILTER },           \
    { "no-orient", no_argument, 0, CLI_OPT_NO_ORIENT },           \
    { "max-pixels", required_argument, 0, CLI_OPT_MAX_PIXELS }
#define CLI_PHOTO_LONGOPTS CLI_PHOTO_SIZE_LONGOPT, CLI_PHOTO_REST_LONGOPTS
#define CLI_PHOTO_SIZE_HELP                                                   \
    "      --size WxH      resample every image to W x H (N = square)\n"
#define CLI_PHOTO_REST_HELP                                                   \
    "      --crop center   with --size: keep the centred window of W:H first\n"  \
    "      --crop WxH      the centred W x H window (torchvision CenterCrop)\n"  \
    "      --resize N      shorter side to N first, Pillow's bilinear exactly\n" \
    "                      (torchvision Resize(N)); with --crop 224: ImageNet's\n" \
    "      --filter F      --size's filter: bilinear (default) or area\n"       \
    "      --no-orient     do not apply a JPEG's EXIF orientation\n"           \
    "      --max-pixels N  refuse images over N pixels (default 67108864)\n"
#define CLI_PHOTO_HELP CLI_PHOTO_SIZE_HELP CLI_PHOTO_REST_HELP
/* A tool's help says how image files are read (after its own options). */
#define CLI_PHOTO_INTRO                                                            \
    "IMAGES: an images file, or image files and folders read as cnn-images reads\n" \
    "them (PNG, JPEG, BMP, GIF, TGA, PNM, PSD, HDR, TIFF, WebP; by default resized\n" \
    "to the model's input with its channels; the options below as cnn-images's):\n"

/* Short options the common ones use; append to a tool's optstring. */
#define CLI_COMMON_SHORTOPTS "ho:q"
/* Text for --help describing the common options: a tool's usage ends with
 * CLI_HELP_OUTPUT, those of CLI_HELP_RANGE ... CLI_HELP_SEED it honours,
 * and CLI_HELP_END. */
#define CLI_HELP_OUTPUT                                                          \
    "  -o, --output FILE   write here (default: standard output, not a tty)\n"     \
    "      --compress[=L]  deflate the datasets (HDF5 shuffle + deflate, level L\n" \
    "                      1-9, default 4): smaller, slower to write\n"
#define CLI_HELP_RANGE "      --range A:B     only rows A..B-1 of the input\n"
#define CLI_HELP_BATCH "      --batch N       rows per batch (bounds memory; default 64)\n"
#define CLI_HELP_THREADS "      --threads N     worker threads (default: all cores)\n"
#define CLI_HELP_SEED "      --seed S        random seed (default 1)\n"
#define CLI_HELP_END                                                         \
    "  -q, --quiet         no progress or information on stderr\n"             \
    "  -h, --help          this help\n"                                        \
    "      --version       version\n"                                          \
    "\nExit status: 0 success, 1 failure, 2 usage error.\n"
void cli_common_defaults(struct cli_common *co);
/* Parse one of the CLI_PHOTO options into p (cnn-images calls it too). */
void cli_photo_opt(int c, const char *arg, struct cli_photo *p);
/* The defaults, and the value options this tool honours (CLI_RANGE | ...). */
void cli_common_for(struct cli_common *co, unsigned honour);
/* cli_init, then cli_common_for (a main that keeps the common options in
 * a struct cli_common of its own). */
void cli_start(int argc, char **argv, struct cli_common *co, unsigned honour);
/* Handle a common option; returns 1 if handled. Exits for --help/--version
 * (usage is the tool's help text) and on '?' (usage error: one line naming
 * the bad option, as getopt's messages are off). */
int cli_common_opt(int c, const char *arg, struct cli_common *co, const char *usage);

#endif
