/* error: the program name, messages and exits, and the temporary files
 * removed when a tool dies or is killed.
 *
 * One exit path: die() and die_usage() print their line, remove the
 * registered temporary files (io/outfile registers every output's) and
 * leave with _exit(): no atexit handler runs, HDF5's included (its close of
 * a file whose write failed crashed on a full disk). The first thread to
 * die wins; any other thread that calls die() afterwards waits for the
 * process to end. The same list is emptied by SIGINT, SIGTERM, SIGHUP and
 * SIGPIPE (then the signal ends the process as it would have) and at a
 * normal exit(). */
#include "base/error.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_quiet;
static const char *progname = "cnn";
#define MAXTMP 16
static char *tmpfiles[MAXTMP];
static atomic_int dying;
static pthread_t dier;

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

void error_init(const char *argv0)
{
    if (argv0) {
        const char *s = strrchr(argv0, '/');
        progname = s ? s + 1 : argv0;
    }
    atexit(remove_tmpfiles);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    signal(SIGPIPE, on_signal);
    /* Past a file size limit (ulimit -f) write() fails with EFBIG and the
     * tool says so, as on a full disk, instead of being killed. */
    signal(SIGXFSZ, SIG_IGN);
}

void cli_register_tmp(const char *path)
{
    for (int i = 0; i < MAXTMP; i++)
        if (!tmpfiles[i]) {
            if (!(tmpfiles[i] = strdup(path)))
                die("out of memory");
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

const char *cli_progname(void) { return progname; }

/* "prog: " + the message with control bytes escaped (a name read from a
 * bad file cannot move the cursor or ring the bell) + "\n", in one write. */
static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
    int saved = errno;
    char raw[1024], line[4200];
    vsnprintf(raw, sizeof raw, fmt, ap);
    size_t n = strlen(fmt);
    if (n && fmt[n - 1] == ':') {
        size_t k = strlen(raw);
        snprintf(raw + k, sizeof raw - k, " %s", strerror(saved));
    }
    int k = snprintf(line, sizeof line, "%s: %s", progname, prefix);
    if (k < 0 || (size_t)k >= sizeof line)
        k = 0;
    for (const unsigned char *p = (const unsigned char *)raw; *p && (size_t)k < sizeof line - 6; p++) {
        if (*p < 0x20 || *p == 0x7f)
            k += snprintf(line + k, sizeof line - (size_t)k, "\\x%02x", *p);
        else
            line[k++] = (char)*p;
    }
    line[k++] = '\n';
    fflush(stderr);
    for (const char *p = line; k > 0;) {
        ssize_t w = write(STDERR_FILENO, p, (size_t)k);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        k -= (int)w;
    }
    errno = saved;
}

/* Claim the exit: the first caller returns, a later one from another thread
 * waits for the first to end the process, one from the same thread (a hook
 * that died) leaves at once. */
static void claim(int code)
{
    int expected = 0;
    if (atomic_compare_exchange_strong(&dying, &expected, 1)) {
        dier = pthread_self();
        return;
    }
    if (pthread_equal(dier, pthread_self()))
        _exit(code);
    for (;;)
        pause();
}

static void __attribute__((noreturn)) leave(int code)
{
    for (int i = 0; i < MAXTMP; i++)
        if (tmpfiles[i])
            unlink(tmpfiles[i]);
    signal(SIGPIPE, SIG_IGN);
    fflush(stdout);
    _exit(code);
}

static __thread error_trap *trap;

void error_trap_thread(error_trap *t)
{
    if (t) {
        t->failed = 0;
        t->msg[0] = 0;
    }
    trap = t;
}

void error_trap_check(const error_trap *t)
{
    if (t && t->failed)
        die("%s", t->msg);
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (trap) {
        /* The message as vmsg() would print it, without the program. */
        int saved = errno;
        size_t len = sizeof trap->msg, n = strlen(fmt);
        int k = vsnprintf(trap->msg, len, fmt, ap);
        if (k >= 0 && (size_t)k < len && n && fmt[n - 1] == ':')
            snprintf(trap->msg + k, len - (size_t)k, " %s", strerror(saved));
        va_end(ap);
        trap->failed = 1;
        trap = NULL;
        pthread_exit(NULL);
    }
    claim(EXIT_FAIL);
    vmsg("", fmt, ap);
    va_end(ap);
    leave(EXIT_FAIL);
}

void die_usage(const char *fmt, ...)
{
    claim(EXIT_USAGE);
    va_list ap;
    va_start(ap, fmt);
    vmsg("", fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '%s --help' for more information.\n", progname);
    leave(EXIT_USAGE);
}

void warnx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("warning: ", fmt, ap);
    va_end(ap);
}

void info(const char *fmt, ...)
{
    if (cli_quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vmsg("", fmt, ap);
    va_end(ap);
}

int errmsg(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return -1;
}
