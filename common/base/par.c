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
 * Each run bumps runs after publishing avail. A worker notes runs, claims
 * what it can, then waits for runs to move: spinning PAR_SPIN_NS, then
 * asleep on it (a futex), counted in sleepers; the caller wakes the
 * sleepers after bumping runs (both sequentially consistent, so one of
 * the two sees the other). The caller sleeps on done the same way, with
 * waiting. */
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
    _Atomic uint32_t runs;    /* runs published: what workers wait on */
    _Atomic int sleepers;     /* workers asleep on runs, or going to */
    _Atomic int waiting;      /* the caller asleep on done */
    atomic_flag owner;        /* a run is going */
    par_fn *fn;
    void *ctx;
    _Atomic int nparts, T;    /* read before a claim too (relaxed): see work */
    int workers;              /* started: threads 1..workers */
} P = { .owner = ATOMIC_FLAG_INIT };

static _Thread_local int busy, self;

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
    int lo = (int)((int64_t)n * t / T), hi = (int)((int64_t)n * (t + 1) / T);
    uint64_t own = (hi >= 64 ? ~0ull : (1ull << hi) - 1) & ~((1ull << lo) - 1);
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
 * thread holds parts it has not counted in done. A worker's first look
 * may read the last run's nparts and T (before its claim), which only
 * changes which part it prefers, or keeps a thread past the run's T out
 * until it looks again. */
static uint32_t work(int t, int *n)
{
    uint32_t k = 0;
    int p, T;
    while ((T = atomic_load_explicit(&P.T, memory_order_relaxed)) > t &&
           (p = claim(t, T, atomic_load_explicit(&P.nparts, memory_order_relaxed))) >= 0) {
        *n = atomic_load_explicit(&P.nparts, memory_order_relaxed);
        P.fn(P.ctx, p, *n);
        k++;
    }
    return k;
}

static void *worker(void *arg)
{
    /* arg: the creator's MXCSR (denormals flushed, cpu.h) << 8 | t */
    int t = (int)((uintptr_t)arg & 0xff);
    _mm_setcsr((unsigned)((uintptr_t)arg >> 8));
    busy = 1, self = t;
    omp_set_num_threads(1);
    for (;;) {
        uint32_t seen = atomic_load(&P.runs);
        int n = 0;
        uint32_t k = work(t, &n);
        if (k) {
            uint32_t d = atomic_fetch_add(&P.done, k) + k;
            if (d == (uint32_t)n && atomic_load(&P.waiting))
                futex_wake(&P.done, 1);
        }
        /* the next run: spin a while, then sleep */
        int64_t t0 = now_ns();
        int moved = 0;
        for (int i = 0; !moved; i++) {
            _mm_pause();
            moved = atomic_load_explicit(&P.runs, memory_order_relaxed) != seen;
            if ((i & 31) == 31 && now_ns() - t0 > PAR_SPIN_NS)
                break;
        }
        if (moved)
            continue;
        atomic_fetch_add(&P.sleepers, 1);
        if (atomic_load(&P.runs) == seen)
            futex_wait(&P.runs, seen);
        atomic_fetch_sub(&P.sleepers, 1);
    }
    return NULL;
}

/* Threads 1..n-1 started (once; a failed start leaves fewer, which only
 * gives the caller more parts). */
static void grow(int n)
{
    while (P.workers + 1 < n) {
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        uintptr_t arg = (uintptr_t)_mm_getcsr() << 8 | (uintptr_t)(P.workers + 1);
        int rc = pthread_create(&th, &at, worker, (void *)arg);
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

/* Part p of np's items i0..i1-1: OpenMP's static schedule, the first
 * n % np parts one item more (the caller's among them: a worker may start
 * late). */
static void part_items(int64_t n, int p, int np, int64_t *i0, int64_t *i1)
{
    int64_t q = n / np, r = n % np;
    *i0 = p * q + (p < r ? p : r), *i1 = *i0 + q + (p < r);
}

static void range_part(void *ctx, int p, int np)
{
    const range_args *a = ctx;
    int64_t i0, i1;
    part_items(a->n, p, np, &i0, &i1);
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

int par_threads(void)
{
    int n = omp_get_max_threads();
    return n < PAR_MAX_PARTS ? n : PAR_MAX_PARTS;
}

int par_busy(void) { return busy || omp_in_parallel(); }

/* par_run on at most T threads. */
static void run(int nparts, int T, par_fn *fn, void *ctx)
{
    if (nparts <= 0)
        return;
    int omp = omp_get_max_threads(), most = par_threads();
    T = T < most ? T : most;
    T = T < nparts ? T : nparts;
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
    P.fn = fn, P.ctx = ctx;
    atomic_store_explicit(&P.nparts, nparts, memory_order_relaxed);
    atomic_store_explicit(&P.T, T, memory_order_relaxed);
    atomic_store_explicit(&P.done, 0, memory_order_relaxed);
    atomic_store(&P.avail, nparts == 64 ? ~0ull : (1ull << nparts) - 1);
    atomic_fetch_add(&P.runs, 1);
    if (atomic_load(&P.sleepers))
        futex_wake(&P.runs, INT_MAX);
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

void par_run(int nparts, par_fn *fn, void *ctx) { run(nparts, PAR_MAX_PARTS, fn, ctx); }

int par_self(void) { return self; }

static void fine_part(void *ctx, int p, int np)
{
    const range_args *a = ctx;
    int64_t i0, i1;
    part_items(a->n, p, np, &i0, &i1);
    if (i0 < i1)
        a->fn(a->ctx, i0, i1, self);
}

int par_fine_parts(int64_t n, int T, double work)
{
    int64_t np = (int64_t)T * PAR_FINE;
    double most = work / PAR_FINE_WORK;
    if ((double)np > most)
        np = (int64_t)most / T * T;
    np = np > T ? np : T;
    if (np > n)
        np = n >= T ? n / T * T : n;
    return (int)(np < PAR_MAX_PARTS ? np : PAR_MAX_PARTS);
}

void par_for_fine(int64_t n, int nthreads, double work, par_range_fn *fn, void *ctx)
{
    if (n <= 0)
        return;
    int T = nthreads < par_threads() ? nthreads : par_threads();
    int np = T > 1 ? par_fine_parts(n, T, work) : 1;
    if (np <= 1 || par_busy()) {
        fn(ctx, 0, n, 0);
        return;
    }
    range_args a = { n, fn, ctx };
    run(np, T, fine_part, &a);
}
