/* cli: what every tool shares: program name, errors and exit codes, number
 * parsing with range checks, the common options, progress on stderr, and
 * removal of unfinished outputs when a tool dies. */
#ifndef CNN_CLI_H
#define CNN_CLI_H

#include <stdint.h>
#include <stdio.h>

#define CNN_VERSION "0.1.0"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Set the program name (from argv[0]'s basename), remember the command line
 * for the history attribute, silence HDF5's automatic error printing. Call
 * first in every main. */
void cli_init(int argc, char **argv);
const char *cli_progname(void);
/* The command line as one string (time-stamped history line, owned by cli). */
const char *cli_history_line(void);

/* Print "prog: message" (and ": strerror(errno)" when the format ends with
 * ':') to stderr and exit 1; die_usage exits 2 and suggests --help. */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Informational line on stderr unless --quiet. */
void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern int cli_quiet;

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
/* Comma-separated integer list with ranges "0,3,5-9". */
int cli_int_list(const char *opt, const char *s, int max, int **out);

/* Common options every tool declares with the same meaning. Use
 * CLI_COMMON_LONGOPTS in the option table and cli_common_opt() in the
 * getopt switch's default branch. */
struct cli_common {
    const char *output;     /* -o; NULL = stdout */
    int64_t range_a, range_b;  /* --range; 0, -1 = all */
    int batch;              /* --batch */
    int threads;            /* --threads; 0 = all cores */
    uint64_t seed;          /* --seed */
};
#define CLI_OPT_RANGE 1001
#define CLI_OPT_BATCH 1002
#define CLI_OPT_THREADS 1003
#define CLI_OPT_SEED 1004
#define CLI_OPT_VERSION 1005
#define CLI_COMMON_LONGOPTS                                   \
    { "help", no_argument, 0, 'h' },                          \
    { "version", no_argument, 0, CLI_OPT_VERSION },           \
    { "quiet", no_argument, 0, 'q' },                         \
    { "output", required_argument, 0, 'o' },                  \
    { "range", required_argument, 0, CLI_OPT_RANGE },         \
    { "batch", required_argument, 0, CLI_OPT_BATCH },         \
    { "threads", required_argument, 0, CLI_OPT_THREADS },     \
    { "seed", required_argument, 0, CLI_OPT_SEED }
/* Short options the common ones use; append to a tool's optstring. */
#define CLI_COMMON_SHORTOPTS "ho:q"
/* Text for --help describing the common options. */
#define CLI_COMMON_HELP                                                      \
    "  -o, --output FILE   write here (default: standard output, not a tty)\n" \
    "      --range A:B     only rows A..B-1 of the input\n"                    \
    "      --batch N       rows per batch (bounds memory; default 64)\n"       \
    "      --threads N     worker threads (default: all cores)\n"              \
    "      --seed S        random seed (default 1)\n"                          \
    "  -q, --quiet         no progress or information on stderr\n"             \
    "  -h, --help          this help\n"                                        \
    "      --version       version\n"                                          \
    "\nExit status: 0 success, 1 failure, 2 usage error.\n"
void cli_common_defaults(struct cli_common *co);
/* Handle a common option; returns 1 if handled. Exits for --help/--version
 * (usage is the tool's help text) and on '?' (usage error). */
int cli_common_opt(int c, const char *arg, struct cli_common *co, const char *usage);

/* Progress bar on stderr, drawn only when stderr is a terminal and not
 * --quiet. */
typedef struct progress progress;
progress *progress_start(const char *what, int64_t total);
void progress_update(progress *p, int64_t done);
void progress_end(progress *p);

/* The first max bytes of a small file, NUL-terminated (malloc'd): *more
 * (when not NULL) is set when the file is longer. NULL with errno set when
 * it cannot be opened or read, or is a directory. */
char *cli_read_file(const char *path, size_t max, int *more);

/* Register a temporary file to be removed if the tool dies before
 * cli_forget_tmp() is called for it. */
void cli_register_tmp(const char *path);
void cli_forget_tmp(const char *path);

/* Deterministic random numbers: xoshiro256** seeded by splitmix64. */
typedef struct { uint64_t s[4]; } rng;
void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
double rng_uniform(rng *r);          /* [0, 1) */
double rng_normal(rng *r);           /* N(0, 1) */
uint64_t rng_below(rng *r, uint64_t n);  /* [0, n) */

/* Number of cores to use given --threads (0 = online cores). */
int cli_nthreads(int requested);

#endif
