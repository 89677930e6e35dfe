/* par: the compute threads. par_run(n, fn, ctx) calls fn(ctx, p, n) once
 * for each part p = 0..n-1, on the calling thread and the pool's, and
 * returns when every part is done: OpenMP's "parallel" region, with one
 * difference that matters on a loaded machine.
 *
 * A part is a work item, not a thread. Thread t of the T taking part
 * (par_threads(), at most n) claims the parts of its own static share
 * first (t n / T .. (t + 1) n / T - 1: what an OpenMP static schedule
 * would give it, so a layer reads what the same core wrote in the layer
 * before), then takes any part no thread has started, from the end. A
 * thread that has not woken yet (its core busy with other work) gets none:
 * the caller does its parts, and does not wait for it. Under libgomp
 * every loop waited for every thread of its team to be scheduled, and
 * with another program busy on one of the two cores resnet50's forward
 * fell from 43 to 23 images/s (ONNX Runtime's pool, which lets the caller
 * take what a worker has not started: 38).
 *
 * fn must not assume which thread runs a part, or that parts run at once
 * (a part never waits for another: there are no barriers; a phase after a
 * barrier is a second par_run). Values must depend on the part only: then
 * they are the same whichever thread ran it, and under any load.
 *
 * Idle workers spin about 30 us for the next run, then sleep (a futex).
 * Spinning for long (libgomp's default, 3 ms, when this was OpenMP) takes
 * the cores from other work: on 2 cores MNIST one image at a time ran
 * 3.5x slower, 5-10x on a busy machine. Not spinning makes every run wait
 * for its threads to wake: mobilenet_v2's batch-1 forward on 2 threads
 * ran at 75 images/s, slower than on one (70), and at 120 with a 20 us
 * spin. A par_run inside a part, inside an OpenMP region, or while
 * another thread's run is going, runs its parts in order on the calling
 * thread; inside a part OpenMP's thread count is 1, so par_threads() is
 * too. */
#ifndef CNN_PAR_H
#define CNN_PAR_H

#include <stdint.h>

/* The most parts of one run (a run of more runs them in order on the
 * calling thread), and so the most threads par_threads() gives. */
#define PAR_MAX_PARTS 64

typedef void par_fn(void *ctx, int part, int nparts);

void par_run(int nparts, par_fn *fn, void *ctx);

/* The same for n items split statically into nparts runs, as OpenMP's
 * static schedule splits them (the first n % nparts runs one item
 * longer): fn(ctx, i0, i1, part) for part p's items i0..i1-1 (none for an
 * empty run). */
typedef void par_range_fn(void *ctx, int64_t i0, int64_t i1, int part);
void par_for(int64_t n, int nparts, par_range_fn *fn, void *ctx);

/* par_for split finer, for balance: n items in up to PAR_FINE runs for
 * each of at most nthreads threads (par_fine_parts: at most PAR_MAX_PARTS,
 * each run's items as par_for's), claimed as par_run's parts: each
 * thread its own share first, in order, then the runs no thread has
 * started, from the end. When one core is slower than the
 * other (a virtual machine's core shared with another guest: on the
 * 2-core EPYC one core ran resnet50 alone 15-30% slower than the other,
 * at times, at the same FMA rate) its thread takes fewer runs, where an
 * even split waits for it at every layer. work: the loop's cost in flops
 * (a memory-bound loop: 16 a float it moves), which sets how fine. fn's
 * last argument is the calling thread's index (par_self(), below
 * nthreads; 0 when the items run in order on one thread), for scratch
 * kept per thread: fn must give the same values whichever thread runs an
 * item. */
#define PAR_FINE 4
void par_for_fine(int64_t n, int nthreads, double work, par_range_fn *fn, void *ctx);

/* How many parts par_for_fine splits n items of this work into on T
 * threads: PAR_FINE a thread, fewer where a part would get under
 * PAR_FINE_WORK flops (about 20 us of a core: below, a part's claim and
 * cache misses cost more than the balance saves; mobilenet_v2's batch-1
 * forward ran 3% slower split finely throughout), a multiple of T (even
 * shares when the cores are even), at most n and PAR_MAX_PARTS, at least
 * T (or n). For callers that split work of their own (pk_gemm's panels). */
#define PAR_FINE_WORK 4e6
int par_fine_parts(int64_t n, int T, double work);

/* The calling thread's index in the pool: 0 for the thread that starts
 * runs (and any thread outside the pool), t for worker t. */
int par_self(void);

/* Threads a run may use: OpenMP's count (omp_get_max_threads: the
 * engine's --threads, else OMP_NUM_THREADS, else the cores), at most
 * PAR_MAX_PARTS. */
int par_threads(void);

/* Whether this thread is inside a part or an OpenMP region: work it
 * starts runs on it alone. */
int par_busy(void);

#endif
