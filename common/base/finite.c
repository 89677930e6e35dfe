/* finite: see finite.h. */
#include "base/finite.h"

#include <math.h>

#include "base/error.h"

int finite_allow_range;

int64_t finite_first_bad(const float *v, int64_t n)
{
    /* Blocks of 4096 summed branch-free (the compiler vectorises this
     * loop); a bad block is searched value by value. */
    for (int64_t a = 0; a < n; a += 4096) {
        int64_t b = n - a < 4096 ? n : a + 4096;
        int bad = 0;
        for (int64_t i = a; i < b; i++)
            bad |= !isfinite(v[i]);
        if (bad)
            for (int64_t i = a; i < b; i++)
                if (!isfinite(v[i]))
                    return i;
    }
    return -1;
}

static const char *kind(float v)
{
    return isnan(v) ? "a NaN" : "an infinite";
}

void finite_check_rows(const float *x, int64_t rows, int64_t d, int64_t row0, const char *file,
                       const char *row, const char *what, const char *col, const char *tail)
{
    if (d <= 0)
        return;
    int64_t i = finite_first_bad(x, rows * d);
    if (i < 0)
        return;
    die("%s: %s %lld has %s %s (%s %lld)%s", file, row, (long long)(row0 + i / d), kind(x[i]),
        what, col, (long long)(i % d), tail ? tail : "");
}

void finite_check_images(const float *x, int64_t rows, const int64_t chw[3], int64_t row0,
                         const char *file)
{
    int64_t hw = chw[1] * chw[2], d = chw[0] * hw, n = rows * d;
    if (d <= 0)
        return;
    const float lo = -FINITE_RANGE_TOL, hi = 1 + FINITE_RANGE_TOL;
    int64_t bad = -1;
    for (int64_t a = 0; a < n && bad < 0; a += 4096) {
        int64_t b = n - a < 4096 ? n : a + 4096;
        int out = 0;
        /* !(v >= lo && v <= hi) holds for NaN too. */
        if (finite_allow_range)
            for (int64_t i = a; i < b; i++)
                out |= !isfinite(x[i]);
        else
            for (int64_t i = a; i < b; i++)
                out |= !(x[i] >= lo && x[i] <= hi);
        if (!out)
            continue;
        /* The first non-finite pixel of the block wins over an earlier
         * out-of-range one: it is the worse news. */
        for (int64_t i = a; i < b && bad < 0; i++)
            if (!isfinite(x[i]))
                bad = i;
        for (int64_t i = a; i < b && bad < 0; i++)
            if (!(x[i] >= lo && x[i] <= hi))
                bad = i;
    }
    if (bad < 0)
        return;
    int64_t r = bad / d, p = bad % d;
    long long c = (long long)(p / hw), y = (long long)(p % hw / chw[2]),
              xx = (long long)(p % chw[2]);
    float v = x[bad];
    if (!isfinite(v))
        die("%s: image %lld has %s pixel (channel %lld, y %lld, x %lld)", file,
            (long long)(row0 + r), kind(v), c, y, xx);
    die("%s: image %lld has a pixel of %g outside [0,1] (channel %lld, y %lld, x %lld); "
        "give --allow-range to accept it", file, (long long)(row0 + r), (double)v, c, y, xx);
}
