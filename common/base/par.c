/* par: the compute threads (par.h).
 *
 * One pool per process. A run publishes its parts as bits of avail
 * (release: fn, ctx and nparts were written before); a thread claims a
 * part by clearing its bit (compare-and-swap), runs it, and counts it in
 * done. The caller claims like any thread and, when no bit is left,
 * waits for done to reach nparts: only for parts a worker has started.
 * A run's fields change only after every part is done, so a thread that
 * claimed a bit reads the fields of that bit's run. Between runs avail is
 * 0: nothing to claim.
 *
 * Sleeping: a worker counts itself in sleepers, reads seq, checks avail
 * and waits on seq; a caller publishes avail, then, if any worker
 * sleeps, bumps seq and wakes them (all sequentially consistent, so one
 * of the two sees the other). The caller sleeps on done the same way,
 * with waiting. */
#define _GNU_SOURCE
#include "base/par.h"

#include <immintrin.h>
#include <limits.h>
#include <linux/futex.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Spin this long (ns) for work, or for the last parts, before sleeping. */
#define PAR_SPIN_NS 30000

static struct {
    _Atomic uint64_t avail;   /* parts not yet claimed, a bit each */
    _Atomic uint32_t done;    /* parts finished */
    _Atomic uint32_t seq;     /* bumped to wake sleeping workers */
    _Atomic int sleepers;     /* workers asleep on seq, or going to */
    _Atomic int waiting;      /* the caller asleep on done */
    atomic_flag owner;        /* a run is going */
    par_fn *fn;
    void *ctx;
    int nparts, T;
    int workers;              /* started: threads 1..workers */
    unsigned mxcsr;           /* the creator's, for each worker */
} P = { .owner = ATOMIC_FLAG_INIT };

static _Thread_local int busy;

static void futex_wait(_Atomic uint32_t *w, uint32_t v)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w, int n)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A part for thread t of T: the first left of its own share, else the
 * last left of all; -1 when none is left. */
static int claim(int t, int T, int n)
{
    uint64_t a = atomic_load_explicit(&P.avail, memory_order_acquire);
    uint64_t own = 0;
    if (t < T) {
        int lo = (int)((int64_t)n * t / T), hi = (int)((int64_t)n * (t + 1) / T);
        own = (hi >= 64 ? ~0ull : (1ull << hi) - 1) & ~((1ull << lo) - 1);
    }
    while (a) {
        int b = a & own ? __builtin_ctzll(a & own) : 63 - __builtin_clzll(a);
        if (atomic_compare_exchange_weak_explicit(&P.avail, &a, a & ~(1ull << b),
                                                  memory_order_acq_rel,
                                                  memory_order_acquire))
            return b;
    }
    return -1;
}

/* Claim and run parts until none is left; the number run, and in *n
 * their run's nparts. All are of one run: it cannot end while this
 * thread holds parts it has not counted in done. A worker's first claim
 * may prefer by the last run's nparts and T (read before it), which only
 * changes which part it takes. */
static uint32_t work(int t, int *n)
{
    uint32_t k = 0;
    int p;
    while ((p = claim(t, P.T, P.nparts)) >= 0) {
        *n = P.nparts;
        P.fn(P.ctx, p, *n);
        k++;
    }
    return k;
}

static void *worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    _mm_setcsr(P.mxcsr);
    busy = 1;
    omp_set_num_threads(1);
    for (;;) {
        if (atomic_load_explicit(&P.avail, memory_order_relaxed)) {
            int n = 0;
            uint32_t k = work(t, &n);
            if (k) {
                uint32_t d = atomic_fetch_add(&P.done, k) + k;
                if (d == (uint32_t)n && atomic_load(&P.waiting))
                    futex_wake(&P.done, 1);
            }
            continue;
        }
        int64_t t0 = now_ns();
        int found = 0;
        for (int i = 0; !found; i++) {
            _mm_pause();
            found = atomic_load_explicit(&P.avail, memory_order_relaxed) != 0;
            if ((i & 31) == 31 && now_ns() - t0 > PAR_SPIN_NS)
                break;
        }
        if (found)
            continue;
        atomic_fetch_add(&P.sleepers, 1);
        uint32_t s = atomic_load(&P.seq);
        if (!atomic_load(&P.avail))
            futex_wait(&P.seq, s);
        atomic_fetch_sub(&P.sleepers, 1);
    }
    return NULL;
}

/* Threads 1..n-1 started (once; a failed start leaves fewer, which only
 * gives the caller more parts). */
static void grow(int n)
{
    P.mxcsr = _mm_getcsr();
    while (P.workers + 1 < n) {
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&th, &at, worker, (void *)(intptr_t)(P.workers + 1));
        pthread_attr_destroy(&at);
        if (rc)
            return;
        P.workers++;
    }
}

typedef struct range_args {
    int64_t n;
    par_range_fn *fn;
    void *ctx;
} range_args;

static void range_part(void *ctx, int p, int np)
{
    const range_args *a = ctx;
    int64_t i0 = a->n * p / np, i1 = a->n * (p + 1) / np;
    if (i0 < i1)
        a->fn(a->ctx, i0, i1, p);
}

void par_for(int64_t n, int nparts, par_range_fn *fn, void *ctx)
{
    if (nparts > n)
        nparts = (int)n;
    range_args a = { n, fn, ctx };
    par_run(nparts, range_part, &a);
}

int par_threads(void) { return omp_get_max_threads(); }

int par_busy(void) { return busy || omp_in_parallel(); }

void par_run(int nparts, par_fn *fn, void *ctx)
{
    if (nparts <= 0)
        return;
    int T = par_threads();
    T = T < nparts ? T : nparts;
    int omp = omp_get_max_threads();
    if (nparts > PAR_MAX_PARTS || T <= 1 || par_busy() ||
        atomic_flag_test_and_set_explicit(&P.owner, memory_order_acquire)) {
        int was = busy;
        busy = 1;
        omp_set_num_threads(1);
        for (int p = 0; p < nparts; p++)
            fn(ctx, p, nparts);
        omp_set_num_threads(omp);
        busy = was;
        return;
    }
    grow(T);
    P.fn = fn, P.ctx = ctx, P.nparts = nparts, P.T = T;
    atomic_store_explicit(&P.done, 0, memory_order_relaxed);
    atomic_store(&P.avail, nparts == 64 ? ~0ull : (1ull << nparts) - 1);
    if (atomic_load(&P.sleepers)) {
        atomic_fetch_add(&P.seq, 1);
        futex_wake(&P.seq, INT_MAX);
    }
    busy = 1;
    omp_set_num_threads(1);
    int n = nparts;
    uint32_t k = work(0, &n);
    omp_set_num_threads(omp);
    busy = 0;
    uint32_t d = atomic_fetch_add(&P.done, k) + k;
    int64_t t0 = 0;
    for (int i = 0; d != (uint32_t)nparts; i++) {
        _mm_pause();
        d = atomic_load_explicit(&P.done, memory_order_acquire);
        if (d == (uint32_t)nparts || (i & 31) != 31)
            continue;
        if (!t0)
            t0 = now_ns();
        else if (now_ns() - t0 > PAR_SPIN_NS) {
            atomic_store(&P.waiting, 1);
            d = atomic_load(&P.done);
            if (d != (uint32_t)nparts)
                futex_wait(&P.done, d);
            atomic_store(&P.waiting, 0);
            d = atomic_load(&P.done);
        }
    }
    atomic_thread_fence(memory_order_acquire);
    atomic_flag_clear_explicit(&P.owner, memory_order_release);
}
