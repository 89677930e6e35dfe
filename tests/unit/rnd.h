/* rnd: the unit tests' random arrays, n floats uniform in [-1, 1) drawn
 * from the file's generator R (each test seeds it with rng_seed). */
#ifndef CNN_TEST_RND_H
#define CNN_TEST_RND_H

#include <stdint.h>
#include <stdlib.h>

#include "base/rng.h"

static rng R;

static float *rnd(int64_t n)
{
    float *a = malloc((size_t)(n > 0 ? n : 1) * sizeof *a);
    for (int64_t i = 0; i < n; i++)
        a[i] = (float)(rng_uniform(&R) * 2 - 1);
    return a;
}

#endif
