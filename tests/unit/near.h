/* near: how far the unit tests' float results lie from their double
 * references. */
#ifndef CNN_TEST_NEAR_H
#define CNN_TEST_NEAR_H

#include <math.h>
#include <stdint.h>

/* The largest |a[i] - b[i]| (infinite when an a[i] is NaN: a value not
 * written), and in *scale the largest |b[i]| (at least 1e-30). */
static inline double maxdiff(const float *a, const double *b, int64_t n, double *scale)
{
    double d = 0;
    *scale = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        if (!(fabs(a[i] - b[i]) <= d))   /* NaN (a value not written) too */
            d = isnan(a[i]) ? INFINITY : fabs(a[i] - b[i]);
        if (fabs(b[i]) > *scale)
            *scale = fabs(b[i]);
    }
    return d;
}

#endif
