/* error: the program name, messages and exits, and the temporary files
 * removed when a tool dies or is killed. */
#include "base/error.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_quiet;
static const char *progname = "cnn";
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

void error_init(const char *argv0)
{
    if (argv0) {
        const char *s = strrchr(argv0, '/');
        progname = s ? s + 1 : argv0;
    }
    atexit(remove_tmpfiles);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, on_signal);
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
