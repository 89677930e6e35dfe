/* numeric: shared small numeric helpers (numeric.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/numeric.h"

int64_t num_argmax(const float *v, int64_t n)
{
    int64_t b = 0;
    for (int64_t j = 1; j < n; j++)
        if (v[j] > v[b])
            b = j;
    return b;
}

double num_logsumexp(const float *z, int64_t k)
{
    double mx = z[num_argmax(z, k)], s = 0;
    for (int64_t j = 0; j < k; j++)
        s += exp((double)z[j] - mx);
    return mx + log(s);
}

void num_softmax(const float *z, int64_t k, double *p)
{
    double mx = z[num_argmax(z, k)], s = 0;
    for (int64_t j = 0; j < k; j++)
        s += (p[j] = exp((double)z[j] - mx));
    for (int64_t j = 0; j < k; j++)
        p[j] /= s;
}

void num_softmaxf(const float *z, int64_t k, float *p)
{
    double lse = num_logsumexp(z, k);
    for (int64_t j = 0; j < k; j++)
        p[j] = (float)exp((double)z[j] - lse);
}

void num_topk(const float *v, int64_t n, int k, int32_t *idx, float *val)
{
    int got = 0;
    for (int64_t j = 0; j < n; j++) {
        if (got == k && v[j] <= val[k - 1])
            continue;
        int pos = got < k ? got++ : k - 1;
        while (pos > 0 && val[pos - 1] < v[j]) {
            val[pos] = val[pos - 1];
            idx[pos] = idx[pos - 1];
            pos--;
        }
        val[pos] = v[j];
        idx[pos] = (int32_t)j;
    }
}

void num_minmax(const float *v, int64_t n, double *lo, double *hi)
{
    double a = INFINITY, b = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i])) {
            if (v[i] < a) a = v[i];
            if (v[i] > b) b = v[i];
        }
    if (!(b >= a))
        a = 0, b = 1;
    *lo = a;
    *hi = b;
}

void num_blur(const float *src, int64_t h, int64_t w, double sigma, float *dst)
{
    if (!(sigma > 0)) {
        if (dst != src)
            memmove(dst, src, (size_t)(h * w) * sizeof *dst);
        return;
    }
    int r = (int)ceil(3.0 * sigma);
    double *k = xmalloc((size_t)(2 * r + 1) * sizeof *k), sum = 0;
    for (int i = -r; i <= r; i++)
        sum += (k[i + r] = exp(-(double)i * i / (2 * sigma * sigma)));
    for (int i = 0; i <= 2 * r; i++)
        k[i] /= sum;
    double *tmp = xmalloc((size_t)(h * w) * sizeof *tmp);
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            double v = 0;
            for (int i = -r; i <= r; i++) {
                int64_t xx = x + i < 0 ? 0 : x + i >= w ? w - 1 : x + i;
                v += k[i + r] * src[y * w + xx];
            }
            tmp[y * w + x] = v;
        }
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            double v = 0;
            for (int i = -r; i <= r; i++) {
                int64_t yy = y + i < 0 ? 0 : y + i >= h ? h - 1 : y + i;
                v += k[i + r] * tmp[yy * w + x];
            }
            dst[y * w + x] = (float)v;
        }
    free(tmp);
    free(k);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double num_percentile(double *v, int64_t n, double pct)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double pos = pct / 100.0 * (double)(n - 1);
    int64_t lo = (int64_t)floor(pos);
    if (lo >= n - 1)
        return v[n - 1];
    return v[lo] + (pos - (double)lo) * (v[lo + 1] - v[lo]);
}
