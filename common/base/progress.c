/* progress: a bar on stderr while long work runs. */
#include "base/progress.h"
#include "base/alloc.h"
#include "base/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct progress {
    const char *what;
    int64_t total, last;
    double t0;
    int active;
};

double wall_seconds(void)
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
    p->t0 = wall_seconds();
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
    double el = wall_seconds() - p->t0;
    double eta = done > 0 ? el * (double)(p->total - done) / (double)done : 0;
    fprintf(stderr, "\r%s: %-12s [%.*s%*s] %3lld%% %lld/%lld eta %.0fs ", cli_progname(),
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
