/* cpu: OpenBLAS kernel choice (see cpu.h). */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu.h"

void cpu_fix_blas(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE") || getenv("CNN_NO_BLAS_FIX") || !argv)
        return;
    const char *core = openblas_get_corename();
    if (!core || strcasecmp(core, "prescott"))
        return;
    __builtin_cpu_init();
    const char *want = NULL;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = "Haswell";
    if (!want)
        return;
    setenv("OPENBLAS_CORETYPE", want, 1);
    execv("/proc/self/exe", argv);
    /* exec failed: go on with the slow kernels. */
    unsetenv("OPENBLAS_CORETYPE");
}
