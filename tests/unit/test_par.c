/* Unit tests of the compute threads (base/par.c): every part of a run runs
 * exactly once, on 1 to 4 threads and 1 to PAR_MAX_PARTS parts, over
 * thousands of back-to-back runs (a worker that misses a run, or a part
 * claimed twice, shows in the counts); par_for's ranges cover their items
 * once; a run inside a part runs on the part's thread, par_busy says so,
 * and the caller's thread count is back after its parts; the caller
 * waits for a part a worker is still running (the part sleeps); and on
 * 16 threads over 2 cores, where workers are often not running when a
 * run starts, every part still runs once and every run ends; and asked
 * for more threads than PAR_MAX_PARTS, par_threads stops there.
 * par_for_fine: as many runs as par_fine_parts says, every item once,
 * in ranges each thread's own (the thread index it is given is below the
 * threads asked for, and no two ranges run at once with one index:
 * scratch per thread is safe), and a thread that is slow gets fewer
 * ranges than the other. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <omp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "base/par.h"

typedef struct counts {
    _Atomic int hit[PAR_MAX_PARTS];
    _Atomic int wrong_n;
    int n;
} counts;

static void count_part(void *ctx, int p, int n)
{
    counts *c = ctx;
    if (n != c->n || p < 0 || p >= n)
        atomic_fetch_add(&c->wrong_n, 1);
    else
        atomic_fetch_add(&c->hit[p], 1);
}

static void test_each_part_once(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 4; threads++) {
        omp_set_num_threads(threads);
        for (int n = 1; n <= PAR_MAX_PARTS; n++)
            for (int rep = 0; rep < (n < 8 ? 400 : 20); rep++) {
                counts c;
                memset(&c, 0, sizeof c);
                c.n = n;
                par_run(n, count_part, &c);
                assert_int_equal(atomic_load(&c.wrong_n), 0);
                for (int p = 0; p < n; p++)
                    assert_int_equal(atomic_load(&c.hit[p]), 1);
            }
    }
    omp_set_num_threads(2);
}

/* Items 0..n-1: each marked once; a part's range ascending and its own. */
typedef struct marks {
    _Atomic int *seen;
    _Atomic int bad;
} marks;

static void mark_range(void *ctx, int64_t i0, int64_t i1, int part)
{
    marks *m = ctx;
    (void)part;
    if (i0 >= i1)
        atomic_fetch_add(&m->bad, 1);
    for (int64_t i = i0; i < i1; i++)
        atomic_fetch_add(&m->seen[i], 1);
}

static void test_par_for_ranges(void **state)
{
    (void)state;
    _Atomic int seen[1000];
    omp_set_num_threads(2);
    const int64_t ns[] = { 1, 2, 3, 5, 63, 64, 65, 999 };
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
        for (int parts = 1; parts <= 70; parts += 3) {
            memset(seen, 0, sizeof seen);
            marks m = { seen, 0 };
            par_for(ns[k], parts, mark_range, &m);
            assert_int_equal(atomic_load(&m.bad), 0);
            for (int64_t i = 0; i < ns[k]; i++)
                assert_int_equal(atomic_load(&seen[i]), 1);
        }
}

/* A run inside a part: on the part's thread, every part once; par_busy
 * says so inside and not outside. */
typedef struct nest {
    _Atomic int inner, not_busy;
} nest;

static void inner_part(void *ctx, int p, int n)
{
    nest *s = ctx;
    (void)p, (void)n;
    atomic_fetch_add(&s->inner, 1);
}

static void outer_part(void *ctx, int p, int n)
{
    nest *s = ctx;
    (void)p, (void)n;
    if (!par_busy() || par_threads() != 1)
        atomic_fetch_add(&s->not_busy, 1);
    par_run(5, inner_part, s);
}

static void test_nested(void **state)
{
    (void)state;
    omp_set_num_threads(2);
    nest s = { 0, 0 };
    assert_false(par_busy());
    par_run(4, outer_part, &s);
    assert_false(par_busy());
    assert_int_equal(par_threads(), 2);   /* the caller's count back after its parts */
    assert_int_equal(atomic_load(&s.inner), 20);
    assert_int_equal(atomic_load(&s.not_busy), 0);
}

/* Part 1 sleeps 20 ms: par_run returns only after it has finished. */
typedef struct slow {
    _Atomic int done[2];
} slow;

static void slow_part(void *ctx, int p, int n)
{
    slow *s = ctx;
    (void)n;
    if (p == 1) {
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    atomic_store(&s->done[p], 1);
}

static void test_waits_for_started_parts(void **state)
{
    (void)state;
    omp_set_num_threads(2);
    for (int rep = 0; rep < 5; rep++) {
        slow s = { { 0, 0 } };
        par_run(2, slow_part, &s);
        assert_int_equal(atomic_load(&s.done[0]), 1);
        assert_int_equal(atomic_load(&s.done[1]), 1);
    }
}

/* More threads asked for than the machine has (16): the workers share
 * the cores and are often not running when a run starts; every part still
 * runs once, and a run of one part per thread ends. */
static void test_oversubscribed(void **state)
{
    (void)state;
    omp_set_num_threads(16);
    for (int rep = 0; rep < 300; rep++) {
        counts c;
        memset(&c, 0, sizeof c);
        c.n = 16 + rep % 48;
        par_run(c.n, count_part, &c);
        assert_int_equal(atomic_load(&c.wrong_n), 0);
        for (int p = 0; p < c.n; p++)
            assert_int_equal(atomic_load(&c.hit[p]), 1);
    }
    /* More threads than a run has parts: par_threads stops at the most
     * parts, and a run of them still runs each once. */
    omp_set_num_threads(PAR_MAX_PARTS + 36);
    assert_int_equal(par_threads(), PAR_MAX_PARTS);
    for (int rep = 0; rep < 20; rep++) {
        counts c;
        memset(&c, 0, sizeof c);
        c.n = PAR_MAX_PARTS;
        par_run(c.n, count_part, &c);
        assert_int_equal(atomic_load(&c.wrong_n), 0);
        for (int p = 0; p < c.n; p++)
            assert_int_equal(atomic_load(&c.hit[p]), 1);
    }
    omp_set_num_threads(2);
}

/* par_for_fine's ranges: items marked once; thread index t below the
 * threads asked for (lim); inuse[t] catches two ranges at once on one
 * index; slow: thread indices other than 0 sleep per range. */
typedef struct fine {
    _Atomic int *seen;
    _Atomic int bad, inuse[PAR_MAX_PARTS], items[PAR_MAX_PARTS];
    int lim, slow_ms;
} fine;

static void fine_range(void *ctx, int64_t i0, int64_t i1, int t)
{
    fine *f = ctx;
    if (i0 >= i1 || t < 0 || t >= f->lim || atomic_exchange(&f->inuse[t], 1)) {
        atomic_fetch_add(&f->bad, 1);
        return;
    }
    for (int64_t i = i0; i < i1; i++)
        atomic_fetch_add(&f->seen[i], 1);
    atomic_fetch_add(&f->items[t], (int)(i1 - i0));
    if (t && f->slow_ms) {
        struct timespec ts = { 0, f->slow_ms * 1000L * 1000 };
        nanosleep(&ts, NULL);
    }
    atomic_store(&f->inuse[t], 0);
}

static void test_par_for_fine(void **state)
{
    (void)state;
    static _Atomic int seen[1000];
    const int64_t ns[] = { 1, 2, 3, 7, 8, 9, 63, 64, 65, 999 };
    for (int threads = 1; threads <= 4; threads++) {
        omp_set_num_threads(threads);
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
            for (int lim = 1; lim <= 4; lim++)
                for (int rep = 0; rep < 20; rep++) {
                    static fine f;
                    memset(seen, 0, sizeof seen);
                    memset(&f, 0, sizeof f);
                    f.seen = seen, f.lim = lim;
                    par_for_fine(ns[k], lim, 1e12, fine_range, &f);
                    assert_int_equal(atomic_load(&f.bad), 0);
                    for (int64_t i = 0; i < ns[k]; i++)
                        assert_int_equal(atomic_load(&seen[i]), 1);
                }
    }
    /* How fine: PAR_FINE parts a thread when the work affords them, a
     * multiple of the threads, never under T (or n) nor over n. */
    assert_int_equal(par_fine_parts(1000, 2, 1e12), 2 * PAR_FINE);
    assert_int_equal(par_fine_parts(1000, 2, 5 * PAR_FINE_WORK), 4);
    assert_int_equal(par_fine_parts(1000, 2, 0), 2);
    assert_int_equal(par_fine_parts(3, 2, 1e12), 2);
    assert_int_equal(par_fine_parts(5, 2, 1e12), 4);
    assert_int_equal(par_fine_parts(1, 2, 1e12), 1);
    assert_int_equal(par_fine_parts(1000, 3, 7 * PAR_FINE_WORK), 6);
    /* The worker sleeps 20 ms a range, the caller not at all: of 8 ranges
     * of 100 items (PAR_FINE 4 a thread) the caller takes its own 4 and
     * then those the worker has not started. Three tries: the caller
     * itself may be kept off its core a while. */
    omp_set_num_threads(2);
    int most = 0;
    for (int rep = 0; rep < 3 && most <= 500; rep++) {
        static fine f;
        memset(seen, 0, sizeof seen);
        memset(&f, 0, sizeof f);
        f.seen = seen, f.lim = 2, f.slow_ms = 20;
        par_for_fine(800, 2, 1e12, fine_range, &f);
        assert_int_equal(atomic_load(&f.bad), 0);
        for (int64_t i = 0; i < 800; i++)
            assert_int_equal(atomic_load(&seen[i]), 1);
        int mine = atomic_load(&f.items[0]);
        most = mine > most ? mine : most;
    }
    assert_true(most > 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_part_once),
        cmocka_unit_test(test_par_for_ranges),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_waits_for_started_parts),
        cmocka_unit_test(test_oversubscribed),
        cmocka_unit_test(test_par_for_fine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
