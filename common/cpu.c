/* cpu: thread and kernel settings read before main (see cpu.h). */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu.h"

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

void cpu_setup(char **argv)
{
    if (!argv || getenv("CNN_NO_REEXEC"))
        return;
    int again = 0;
    const char *core = getenv("OPENBLAS_CORETYPE") ? NULL : better_core();
    if (core) {
        setenv("OPENBLAS_CORETYPE", core, 1);
        again = 1;
    }
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "passive", 1);
        again = 1;
    }
    if (!again)
        return;
    setenv("CNN_NO_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);
    /* exec failed: go on as we are. */
}
