#include "cli.h"
#include "cpu.h"
#include "tensor.h"

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

int cli_quiet;
static const char *progname = "cnn";
static char *history;
#define MAXTMP 16
static char *tmpfiles[MAXTMP];

static void remove_tmpfiles(void)
{
    for (int i = 0; i < MAXTMP; i++)
        if (tmpfiles[i]) {
            unlink(tmpfiles[i]);
            free(tmpfiles[i]);
            tmpfiles[i] = NULL;
        }
}

static void on_signal(int sig)
{
    for (int i = 0; i < MAXTMP; i++)
        if (tmpfiles[i])
            unlink(tmpfiles[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

char *cli_read_file(const char *path, size_t max, int *more)
{
    struct stat st;
    if (stat(path, &st))
        return NULL;
    if (S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, got;
    char *buf = xmalloc(cap);
    while (n < max && (got = fread(buf + n, 1, (cap - 1 < max ? cap - 1 : max) - n, f)) > 0) {
        n += got;
        if (n + 1 == cap && n < max)
            buf = xrealloc(buf, cap *= 2);
    }
    if (more)
        *more = n >= max && fgetc(f) != EOF;
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

void cli_register_tmp(const char *path)
{
    for (int i = 0; i < MAXTMP; i++)
        if (!tmpfiles[i]) {
            tmpfiles[i] = xstrdup(path);
            return;
        }
    die("too many temporary files");
}

void cli_forget_tmp(const char *path)
{
    for (int i = 0; i < MAXTMP; i++)
        if (tmpfiles[i] && !strcmp(tmpfiles[i], path)) {
            free(tmpfiles[i]);
            tmpfiles[i] = NULL;
        }
}

void cli_init(int argc, char **argv)
{
    cpu_setup(argv);
    if (argc > 0 && argv[0]) {
        const char *s = strrchr(argv[0], '/');
        progname = s ? s + 1 : argv[0];
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    atexit(remove_tmpfiles);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, on_signal);

    char stamp[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    size_t len = strlen(stamp) + strlen(CNN_VERSION) + 8;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 3;
    history = xmalloc(len);
    int off = sprintf(history, "%s", stamp);
    for (int i = 0; i < argc; i++) {
        const char *a = i == 0 ? progname : argv[i];
        int quote = a[0] == '\0' || strpbrk(a, " \t'\"") != NULL;
        off += sprintf(history + off, quote ? " '%s'" : " %s", a);
    }
}

const char *cli_progname(void) { return progname; }
const char *cli_history_line(void) { return history ? history : ""; }

static void vmsg(const char *fmt, va_list ap)
{
    int saved = errno;
    fprintf(stderr, "%s: ", progname);
    vfprintf(stderr, fmt, ap);
    size_t n = strlen(fmt);
    if (n && fmt[n - 1] == ':')
        fprintf(stderr, " %s", strerror(saved));
    fputc('\n', stderr);
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    exit(EXIT_FAIL);
}

void die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '%s --help' for more information.\n", progname);
    exit(EXIT_USAGE);
}

void warnx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: warning: ", progname);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void info(const char *fmt, ...)
{
    if (cli_quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", progname);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void cli_help(const char *usage)
{
    fputs(usage, stdout);
    exit(fflush(stdout) || ferror(stdout) ? EXIT_FAIL : EXIT_OK);
}

void cli_version(void)
{
    printf("%s (cnntools) %s\n", progname, CNN_VERSION);
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
        co->output = strcmp(arg, "-") ? arg : NULL;
        return 1;
    case CLI_OPT_RANGE:
        cli_range("--range", arg, &co->range_a, &co->range_b);
        return 1;
    case CLI_OPT_BATCH:
        co->batch = (int)cli_long("--batch", arg, 1, 1 << 20);
        return 1;
    case CLI_OPT_THREADS:
        co->threads = (int)cli_long("--threads", arg, 0, 1024);
        return 1;
    case CLI_OPT_SEED:
        co->seed = (uint64_t)cli_long("--seed", arg, 0, LONG_MAX);
        return 1;
    case '?':
    case ':':
        fprintf(stderr, "Try '%s --help' for more information.\n", progname);
        exit(EXIT_USAGE);
    }
    return 0;
}

struct progress {
    const char *what;
    int64_t total, last;
    double t0;
    int active;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

progress *progress_start(const char *what, int64_t total)
{
    progress *p = xcalloc(1, sizeof *p);
    p->what = what;
    p->total = total;
    p->last = -1;
    p->t0 = now_s();
    p->active = !cli_quiet && isatty(STDERR_FILENO);
    return p;
}

void progress_update(progress *p, int64_t done)
{
    if (!p || !p->active || p->total <= 0)
        return;
    int64_t pct = done * 100 / p->total;
    if (pct == p->last)
        return;
    p->last = pct;
    int bar = (int)(pct * 30 / 100);
    double el = now_s() - p->t0;
    double eta = done > 0 ? el * (double)(p->total - done) / (double)done : 0;
    fprintf(stderr, "\r%s: %-12s [%.*s%*s] %3lld%% %lld/%lld eta %.0fs ", progname,
            p->what, bar, "##############################", 30 - bar, "",
            (long long)pct, (long long)done, (long long)p->total, eta);
    fflush(stderr);
}

void progress_end(progress *p)
{
    if (!p)
        return;
    if (p->active && p->last >= 0)
        fputs("\r\033[K", stderr);
    free(p);
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rng_seed(rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

double rng_uniform(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

double rng_normal(rng *r)
{
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t rng_below(rng *r, uint64_t n)
{
    if (n == 0)
        return 0;
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, x;
    do
        x = rng_next(r);
    while (x >= lim);
    return x % n;
}

int cli_nthreads(int requested)
{
    if (requested > 0)
        return requested;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
