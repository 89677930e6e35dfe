/* A plain driver for tests/fuzz/harness.c, for `make test` where clang's
 * libFuzzer may be missing: it links with any C compiler (the normal and the
 * AddressSanitizer+UBSan builds) and calls the harness' LLVMFuzzerInitialize
 * and LLVMFuzzerTestOneInput on
 *   1. every file named on the command line (folders: their files, in name
 *      order), as is;
 *   2. then RUNS mutations of them, the same on every machine: mutation i
 *      takes file i mod F and applies 1 to 4 edits chosen by a fixed
 *      generator seeded with i (a flipped bit, a byte set to 0, 0xff, 0x7f
 *      or 0x80, a 32-bit word set to 0, -1, 2^31-1 or a random value, a cut
 *      at a random length, a block copied over another).
 * After an input that leaves libhdf5 in a state not to be trusted (a
 * crash inside it that h5io turned into the usual error) the driver goes
 * on from the next input in a fresh process (exec of itself with -s). It
 * stops early, with a note, after SECONDS. An input that
 * takes over 20 s is reported as a hang. Memory: 8 GiB of address space on a plain build
 * (an allocation past it fails, and xmalloc's one-line error ends the
 * input); a sanitised one is bounded by ASAN_OPTIONS. A crash or sanitizer report names the input (file
 * and mutation) and leaves a copy in FUZZ_ARTIFACTS (when set).
 *
 *   driver [-r RUNS] [-t SECONDS] [-x SKIP] [-s START] FILE|DIR...
 * -x skips files whose name contains SKIP (the .h5lib. regressions: crashes
 * inside libhdf5 itself, seen only under ASan). */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct { char *path; uint8_t *data; size_t len; } seed;
static seed *seeds;
static size_t nseeds;
static const char *cur_name;
static long cur_mut = -1;
static const uint8_t *cur_data;
static size_t cur_len;

/* What ran when it went wrong: the input's name and mutation, and a copy. */
static void report(void)
{
    static int done;
    if (done++)
        return;
    char line[1200];
    int n = snprintf(line, sizeof line, "fuzz driver: failed on %s, mutation %ld\n",
                     cur_name ? cur_name : "?", cur_mut);
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
    const char *dir = getenv("FUZZ_ARTIFACTS");
    if (dir && cur_data) {
        char p[1100];
        snprintf(p, sizeof p, "%s/failed-%ld", dir, cur_mut);
        FILE *f = fopen(p, "wb");
        if (f) {
            fwrite(cur_data, 1, cur_len, f);
            fclose(f);
        }
    }
}

void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static void on_signal(int sig)
{
    report();
    if (sig == SIGALRM) {
        static const char m[] = "fuzz driver: an input ran for over 20 s (a hang)\n";
        if (write(STDERR_FILENO, m, sizeof m - 1) < 0)
            _exit(3);
        _exit(3);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static uint8_t *load(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, r;
    uint8_t *b = malloc(cap);
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0)
        if ((n += r) == cap)
            b = realloc(b, cap *= 2);
    fclose(f);
    *len = n;
    return b;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add(const char *path, const char *skip)
{
    struct stat st;
    if (stat(path, &st))
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return;
        char **names = NULL;
        size_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                names = realloc(names, (n + 1) * sizeof *names);
                names[n] = malloc(strlen(path) + strlen(e->d_name) + 2);
                sprintf(names[n++], "%s/%s", path, e->d_name);
            }
        closedir(d);
        if (n)
            qsort(names, n, sizeof *names, cmp);
        for (size_t i = 0; i < n; i++) {
            add(names[i], skip);
            free(names[i]);
        }
        free(names);
        return;
    }
    if (!S_ISREG(st.st_mode) || (skip && *skip && strstr(path, skip)))
        return;
    seed s = { strdup(path), NULL, 0 };
    if (!(s.data = load(path, &s.len)))
        return;
    seeds = realloc(seeds, (nseeds + 1) * sizeof *seeds);
    seeds[nseeds++] = s;
}

/* splitmix64: the mutations' fixed generator. */
static uint64_t next(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t mutate(uint8_t *b, size_t n, uint64_t *g)
{
    int edits = 1 + (int)(next(g) % 4);
    for (int e = 0; e < edits && n; e++) {
        size_t at = (size_t)(next(g) % n);
        switch (next(g) % 6) {
        case 0:
            b[at] ^= (uint8_t)(1u << (next(g) % 8));
            break;
        case 1: {
            static const uint8_t v[] = { 0, 0xff, 0x7f, 0x80 };
            b[at] = v[next(g) % 4];
            break;
        }
        case 2:
        case 3: {
            static const uint32_t v[] = { 0, 0xffffffffu, 0x7fffffffu, 0 };
            uint32_t w = v[next(g) % 4];
            if (!w)
                w = (uint32_t)next(g);
            for (int k = 0; k < 4 && at + (size_t)k < n; k++)
                b[at + (size_t)k] = (uint8_t)(w >> (8 * k));
            break;
        }
        case 4:
            if (next(g) % 4 == 0)   /* cuts are rarer: most of them end at once */
                n = at + 1;
            break;
        default: {
            size_t from = (size_t)(next(g) % n), len = 1 + (size_t)(next(g) % 64);
            if (from + len > n)
                len = n - from;
            if (at + len > n)
                len = n - at;
            memmove(b + at, b + from, len);
        }
        }
    }
    return n;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* Set by the harness when a library's state cannot be trusted after the
 * input (libhdf5 after a crash inside it that h5io turned into an error):
 * the driver then goes on in a fresh process (exec of itself). */
extern int fuzz_tainted;

static void run(const char *name, long mut, const uint8_t *d, size_t n)
{
    cur_name = name;
    cur_mut = mut;
    cur_data = d;
    cur_len = n;
    alarm(20);
    LLVMFuzzerTestOneInput(d, n);
    alarm(0);
}

int main(int argc, char **argv)
{
    long runs = 200, start = 0;
    double limit = 60;
    const char *skip = NULL;
    int opt;
    char **args = argv;
    while ((opt = getopt(argc, argv, "r:t:x:s:")) != -1) {
        if (opt == 's')
            start = atol(optarg);
        else if (opt == 'r')
            runs = atol(optarg);
        else if (opt == 't')
            limit = atof(optarg);
        else if (opt == 'x')
            skip = optarg;
        else {
            fprintf(stderr, "usage: %s [-r RUNS] [-t SECONDS] [-x SKIP] FILE|DIR...\n", argv[0]);
            return 2;
        }
    }
    int first = optind;
    for (int i = optind; i < argc; i++)
        add(argv[i], skip);
    if (!nseeds) {
        fprintf(stderr, "fuzz driver: no input files\n");
        return 2;
    }
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(report);
    signal(SIGALRM, on_signal);
    signal(SIGABRT, on_signal);
    if (!__sanitizer_set_death_callback) {   /* else the sanitizer reports these */
        /* 8 GiB of address space: past it an allocation fails, and the
         * tool's out-of-memory error is the answer (a sanitised build is
         * bounded by ASAN_OPTIONS instead). */
        struct rlimit rl = { (rlim_t)8 << 30, (rlim_t)8 << 30 };
        setrlimit(RLIMIT_AS, &rl);
        signal(SIGSEGV, on_signal);
        signal(SIGBUS, on_signal);
        signal(SIGFPE, on_signal);
    }
    LLVMFuzzerInitialize(&argc, &argv);
    double t0 = now();
    long done = 0, at = 0;
    uint8_t *buf = NULL;
    long m = 0;
    for (; at < (long)nseeds + runs && now() - t0 < limit; at++) {
        if (fuzz_tainted) {   /* go on from input `at` in a fresh process */
            char s_at[32], s_t[32], s_r[32];
            snprintf(s_at, sizeof s_at, "%ld", at);
            snprintf(s_t, sizeof s_t, "%g", limit - (now() - t0));
            snprintf(s_r, sizeof s_r, "%ld", runs);
            static char *v[256];   /* no malloc: the heap may be damaged */
            int k = 0;
            v[k++] = args[0];
            v[k++] = "-s";
            v[k++] = s_at;
            v[k++] = "-t";
            v[k++] = s_t;
            v[k++] = "-r";
            v[k++] = s_r;
            if (skip) {
                v[k++] = "-x";
                v[k++] = (char *)skip;
            }
            for (int i = first; i < argc && k < 255; i++)
                v[k++] = args[i];
            fflush(NULL);
            execv("/proc/self/exe", v);
            perror("exec");
            return 1;
        }
        if (at < start)
            continue;
        done++;
        if (at < (long)nseeds) {
            run(seeds[at].path, -1, seeds[at].data, seeds[at].len);
            continue;
        }
        m = at - (long)nseeds;
        const seed *s = &seeds[(size_t)m % nseeds];
        uint64_t g = (uint64_t)m * 7919 + 1;
        buf = realloc(buf, s->len + 1);
        memcpy(buf, s->data, s->len);
        size_t n = mutate(buf, s->len, &g);
        run(s->path, m, buf, n);
    }
    free(buf);
    printf("%ld inputs (%zu files, %ld mutations in all) %s%.1f s%s\n", done, nseeds,
           at > (long)nseeds ? at - (long)nseeds : 0, start ? "since the last restart in " : "in ",
           now() - t0, at < (long)nseeds + runs ? " (stopped at the time limit)" : "");
    for (size_t i = 0; i < nseeds; i++) {
        free(seeds[i].path);
        free(seeds[i].data);
    }
    free(seeds);
    return 0;
}
