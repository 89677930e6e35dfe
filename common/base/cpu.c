/* cpu: thread, kernel and floating-point settings (see cpu.h). */
#include <cblas.h>
#include <pmmintrin.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xmmintrin.h>

#include "base/alloc.h"
#include "base/blas.h"
#include "base/cpu.h"

/* The OpenBLAS core type this CPU should use, when OpenBLAS fell back to
 * Prescott; NULL when its own choice stands. */
static const char *better_core(void)
{
    const char *core = openblas_get_corename();
    if (!core || strcasecmp(core, "prescott"))
        return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
    return NULL;
}

/* OpenBLAS threads cpu_blas_threads starts; 0 once started (or never to
 * be: the program was not re-executed and OpenBLAS has its own). */
static int blas_wanted;

/* The OpenBLAS threads the user asked for (OPENBLAS_NUM_THREADS's value,
 * "" when unset): that many, else all cores. */
static int blas_count(const char *blas_threads)
{
    int n = atoi(blas_threads);
    if (n < 1) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    return n;
}

/* In the re-executed program: flush denormals to zero in this thread.
 * OpenBLAS, loaded on first use (base/blas.c), starts with the one thread
 * OPENBLAS_NUM_THREADS=1 (left set) gives it; the rest start later from
 * this thread (cpu_blas_threads) and inherit the setting. */
static void after_reexec(const char *blas_threads)
{
    _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
    _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
    blas_wanted = blas_count(blas_threads);
    unsetenv("CNN_BLAS_THREADS");
}

void cpu_blas_threads(void)
{
    if (blas_wanted > 1)
        blas_threads(blas_wanted);
    blas_wanted = 0;
}

void cpu_blas_set_threads(int n)
{
    blas_wanted = 0;
    blas_threads(n);
}

void cpu_setup(char **argv)
{
    const char *bt = getenv("CNN_BLAS_THREADS");
    if (bt && getenv("CNN_NO_REEXEC")) {
        after_reexec(bt);
        return;
    }
    if (!argv || getenv("CNN_NO_REEXEC"))
        return;
    /* OpenBLAS starts its threads while it loads: one thread then (here,
     * where better_core loads it, and in the re-executed program), the
     * rest after the denormal setting (after_reexec). */
    char *t = getenv("OPENBLAS_NUM_THREADS");
    t = t ? xstrdup(t) : NULL;
    setenv("CNN_BLAS_THREADS", t ? t : "", 1);
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    const char *core = getenv("OPENBLAS_CORETYPE") ? NULL : better_core();
    if (core)
        setenv("OPENBLAS_CORETYPE", core, 1);
    setenv("CNN_NO_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);
    /* exec failed: go on as we are, OpenBLAS's other threads started on
     * first need as in the re-executed program. */
    blas_wanted = blas_count(t ? t : "");
    if (t)
        setenv("OPENBLAS_NUM_THREADS", t, 1);
    else
        unsetenv("OPENBLAS_NUM_THREADS");
    unsetenv("CNN_BLAS_THREADS");
    free(t);
}

int cli_nthreads(int requested)
{
    if (requested > 0)
        return requested;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
