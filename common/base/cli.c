#include "base/cli.h"
#include "base/cpu.h"
#include "base/tensor.h"

#include <errno.h>
#include <sys/stat.h>
#include <getopt.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *history;
static char **saved_argv;
static int saved_argc;

void cli_thread_init(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void cli_init(int argc, char **argv)
{
    cpu_setup(argv);
    error_init(argc > 0 ? argv[0] : NULL);
    const char *progname = cli_progname();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    /* getopt's own messages would name the full path and echo the bad
     * option's bytes: cli_common_opt prints ours. */
    opterr = 0;
    saved_argv = argv;
    saved_argc = argc;

    char stamp[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    size_t len = strlen(stamp) + strlen(CNN_VERSION) + 8;
    for (int i = 0; i < argc; i++)
        len += 4 * strlen(argv[i]) + 3;
    history = xmalloc(len);
    size_t off = (size_t)sprintf(history, "%s", stamp);
    for (int i = 0; i < argc; i++) {
        history[off++] = ' ';
        off += cli_shell_quote(history + off, i == 0 ? progname : argv[i]);
    }
}

size_t cli_shell_quote(char *dst, const char *s)
{
    /* Words of the portable file name set (and a few harmless signs) stay
     * bare; anything else goes in single quotes, a quote as '\''. */
    int bare = *s != '\0' && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                        "0123456789_./:=,+@%-") == strlen(s);
    size_t n = 0;
    if (bare) {
        n = strlen(s);
        memcpy(dst, s, n + 1);
        return n;
    }
    dst[n++] = '\'';
    for (; *s; s++)
        if (*s == '\'') {
            memcpy(dst + n, "'\\''", 4);
            n += 4;
        } else {
            dst[n++] = *s;
        }
    dst[n++] = '\'';
    dst[n] = '\0';
    return n;
}


void cli_getopt_args(int argc, char **argv)
{
    saved_argc = argc;
    saved_argv = argv;
}

const char *cli_history_line(void) { return history ? history : ""; }

void cli_help(const char *usage)
{
    fputs(usage, stdout);
    exit(fflush(stdout) || ferror(stdout) ? EXIT_FAIL : EXIT_OK);
}

void cli_version(void)
{
    printf("%s (cnntools) %s\n", cli_progname(), CNN_VERSION);
    exit(fflush(stdout) ? EXIT_FAIL : EXIT_OK);
}

long cli_long(const char *opt, const char *s, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end)
        die_usage("%s: '%s' is not an integer", opt, s);
    if (v < min || v > max)
        die_usage("%s: %ld is out of range (%ld..%ld)", opt, v, min, max);
    return v;
}

double cli_double(const char *opt, const char *s, double min, double max)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        die_usage("%s: '%s' is not a number", opt, s);
    if (v < min || v > max)
        die_usage("%s: %g is out of range (%g..%g)", opt, v, min, max);
    return v;
}

void cli_range(const char *opt, const char *s, int64_t *a, int64_t *b)
{
    const char *colon = strchr(s, ':');
    if (!colon)
        die_usage("%s: '%s' is not a range A:B", opt, s);
    char left[32] = "", right[32] = "";
    size_t ln = (size_t)(colon - s);
    if (ln >= sizeof left || strlen(colon + 1) >= sizeof right)
        die_usage("%s: '%s' is not a range A:B", opt, s);
    memcpy(left, s, ln);
    strcpy(right, colon + 1);
    *a = left[0] ? cli_long(opt, left, 0, INT64_MAX > LONG_MAX ? LONG_MAX : INT64_MAX) : 0;
    *b = right[0] ? cli_long(opt, right, 0, LONG_MAX) : -1;
    if (*b >= 0 && *b < *a)
        die_usage("%s: range %s is empty backwards (B < A)", opt, s);
}

void cli_range_resolve(int64_t n, int64_t *a, int64_t *b)
{
    /* An end past the last row is clamped, so fixed-size shards of
     * `parallel` cover a dataset whose size does not divide evenly. */
    if (*b < 0 || *b > n)
        *b = n;
    if (*a > *b)
        die("--range %lld:%lld lies outside the %lld rows of the input",
            (long long)*a, (long long)*b, (long long)n);
}

void cli_size(const char *opt, const char *s, int *w, int *h)
{
    const char *x = strpbrk(s, "xX");
    if (!x) {
        *w = *h = (int)cli_long(opt, s, 1, 65536);
        return;
    }
    char left[32];
    size_t ln = (size_t)(x - s);
    if (ln == 0 || ln >= sizeof left)
        die_usage("%s: '%s' is not a size WxH", opt, s);
    memcpy(left, s, ln);
    left[ln] = '\0';
    *w = (int)cli_long(opt, left, 1, 65536);
    *h = (int)cli_long(opt, x + 1, 1, 65536);
}

int cli_split(const char *s, char sep, char ***out)
{
    int n = 0, cap = 8;
    char **v = xmalloc((size_t)cap * sizeof *v);
    const char *p = s;
    for (;;) {
        const char *q = strchr(p, sep);
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len) {
            if (n == cap)
                v = xrealloc(v, (size_t)(cap *= 2) * sizeof *v);
            v[n] = xmalloc(len + 1);
            memcpy(v[n], p, len);
            v[n++][len] = '\0';
        }
        if (!q)
            break;
        p = q + 1;
    }
    *out = v;
    return n;
}

void cli_free_list(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int cli_int_list(const char *opt, const char *s, int max, int **out)
{
    char **parts;
    int np = cli_split(s, ',', &parts), n = 0, cap = 16;
    int *v = xmalloc((size_t)cap * sizeof *v);
    for (int i = 0; i < np; i++) {
        char *dash = strchr(parts[i] + 1, '-');
        long a, b;
        if (dash) {
            *dash = '\0';
            a = cli_long(opt, parts[i], 0, max - 1);
            b = cli_long(opt, dash + 1, 0, max - 1);
            if (b < a)
                die_usage("%s: range %ld-%ld runs backwards", opt, a, b);
        } else {
            a = b = cli_long(opt, parts[i], 0, max - 1);
        }
        for (long k = a; k <= b; k++) {
            if (n == cap)
                v = xrealloc(v, (size_t)(cap *= 2) * sizeof *v);
            v[n++] = (int)k;
        }
    }
    cli_free_list(parts, np);
    if (!n)
        die_usage("%s: empty list", opt);
    *out = v;
    return n;
}

void cli_common_defaults(struct cli_common *co)
{
    memset(co, 0, sizeof *co);
    co->range_b = -1;
    co->batch = 64;
    co->seed = 1;
    co->honour = CLI_RANGE | CLI_BATCH | CLI_THREADS | CLI_SEED | CLI_COMPRESS;
}

/* A common option the tool does not honour is a usage error. */
static void honoured(const struct cli_common *co, unsigned what, const char *opt)
{
    if (!(co->honour & what))
        die_usage("%s is not an option of %s", opt, cli_progname());
}

int cli_compress;
void cli_photo_opt(int c, const char *arg, struct cli_photo *p)
{
    switch (c) {
    case CLI_OPT_SIZE:
        cli_size("--size", arg, &p->w, &p->h);
        break;
    case CLI_OPT_CROP:
        if (!strcmp(arg, "center") || !strcmp(arg, "centre"))
            p->crop = 1;
        else if (arg[0] >= '0' && arg[0] <= '9')
            cli_size("--crop", arg, &p->cw, &p->ch);
        else
            die_usage("--crop: '%s' is not a crop (center, or a size WxH or N)", arg);
        break;
    case CLI_OPT_RESIZE:
        p->resize = (int)cli_long("--resize", arg, 1, 1 << 20);
        break;
    case CLI_OPT_FILTER:
        if (!strcmp(arg, "bilinear"))
            p->filter = 0;
        else if (!strcmp(arg, "area"))
            p->filter = 1;
        else
            die_usage("--filter: '%s' is not a filter (bilinear, area)", arg);
        break;
    case CLI_OPT_NO_ORIENT:
        p->no_orient = 1;
        break;
    case CLI_OPT_MAX_PIXELS:
        p->max_pixels = cli_long("--max-pixels", arg, 1, LONG_MAX);
        break;
    }
}

int cli_common_opt(int c, const char *arg, struct cli_common *co, const char *usage)
{
    switch (c) {
    case 'h':
        cli_help(usage);
    case CLI_OPT_VERSION:
        cli_version();
    case 'q':
        cli_quiet = 1;
        return 1;
    case 'o':
        cli_check_output(arg);
        co->output = strcmp(arg, "-") ? arg : NULL;
        return 1;
    case CLI_OPT_RANGE:
        honoured(co, CLI_RANGE, "--range");
        cli_range("--range", arg, &co->range_a, &co->range_b);
        return 1;
    case CLI_OPT_BATCH:
        honoured(co, CLI_BATCH, "--batch");
        co->batch = (int)cli_long("--batch", arg, 1, 1 << 20);
        return 1;
    case CLI_OPT_THREADS:
        honoured(co, CLI_THREADS, "--threads");
        co->threads = (int)cli_long("--threads", arg, 0, 1024);
        return 1;
    case CLI_OPT_ALLOW_RANGE:
        finite_allow_range = 1;
        return 1;
    case CLI_OPT_COMPRESS:
        honoured(co, CLI_COMPRESS, "--compress");
        cli_compress = arg ? (int)cli_long("--compress", arg, 1, 9) : 4;
        return 1;
    case CLI_OPT_SIZE: case CLI_OPT_CROP: case CLI_OPT_RESIZE: case CLI_OPT_FILTER:
    case CLI_OPT_NO_ORIENT: case CLI_OPT_MAX_PIXELS:
        cli_photo_opt(c, arg, &co->photo);
        return 1;
    case CLI_OPT_SEED:
        honoured(co, CLI_SEED, "--seed");
        co->seed = (uint64_t)cli_long("--seed", arg, 0, LONG_MAX);
        return 1;
    case '?':
    case ':': {
        /* The argument getopt just looked at (long options always move
         * optind past theirs). */
        const char *a = optind > 0 && optind <= saved_argc && saved_argv
                            ? saved_argv[optind - 1] : "";
        if (!optopt)
            die_usage("unrecognized option '%s'", a);
        if (!strncmp(a, "--", 2))
            die_usage(strchr(a, '=') ? "option '%s' takes no argument"
                                     : "option '%s' needs an argument", a);
        if (c == ':' || (optopt == 'o' && !strcmp(a, "-o")))
            die_usage("option '-%c' needs an argument", optopt);
        die_usage("invalid option '-%c' (or it needs an argument)", optopt);
    }
    }
    return 0;
}

int cli_names(const char *arg, char ***out)
{
    struct stat st;
    const char *path = arg[0] == '@' ? arg + 1 : !stat(arg, &st) && S_ISREG(st.st_mode) ? arg : NULL;
    if (!path && !strchr(arg, ',') && strchr(arg, '/'))
        die("%s: cannot open:", arg);   /* meant a file: say so, not "1 name" */
    if (!path)
        return cli_split(arg, ',', out);
    int n;
    *out = cli_read_lines(path, &n);
    return n;
}

void cli_common_for(struct cli_common *co, unsigned honour)
{
    cli_common_defaults(co);
    co->honour = honour | CLI_COMPRESS;
}

void cli_start(int argc, char **argv, struct cli_common *co, unsigned honour)
{
    cli_init(argc, argv);
    cli_common_for(co, honour);
}
