/* act: the flat and scalar forms of a fused store's SiLU (see act.h). */
#include "nn/ops/act.h"
#include "nn/ops/vmath.h"

void act_silu(float *v, int64_t n)
{
#pragma omp simd
    for (int64_t k = 0; k < n; k++)
        v[k] = vsiluf(v[k]);
}
