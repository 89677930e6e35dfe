/* numeric: the small numeric helpers every method and tool shares, one
 * home each (softmax, argmax, top-k, range, Gaussian blur). */
#ifndef CNN_NUMERIC_H
#define CNN_NUMERIC_H

#include <stdint.h>

/* Index of the first maximum of v[0..n) (0 when n < 1). */
int64_t num_argmax(const float *v, int64_t n);

/* log sum_j exp(z[j]), computed in double after subtracting the maximum. */
double num_logsumexp(const float *z, int64_t k);

/* Softmax of z[0..k) in double precision into p (p may not alias z). */
void num_softmax(const float *z, int64_t k, double *p);
/* The same, rounded to float (p may alias z). */
void num_softmaxf(const float *z, int64_t k, float *p);

/* The k largest of v[0..n) by insertion (k is small), largest first; ties
 * keep the lower index first. idx and val get k entries (k <= n). */
void num_topk(const float *v, int64_t n, int k, int32_t *idx, float *val);

/* Smallest and largest finite value of v[0..n); 0 and 1 when there are
 * none. */
void num_minmax(const float *v, int64_t n, double *lo, double *hi);

/* Gaussian blur of one h x w plane, separable (rows, then columns), the
 * one rule of every method: radius ceil(3 sigma), weights
 * exp(-k^2 / (2 sigma^2)) normalised to sum 1, border pixels repeated
 * (indices clamp to the plane). sigma <= 0 copies. dst may be src. */
void num_blur(const float *src, int64_t h, int64_t w, double sigma, float *dst);

/* The pct-th percentile (0..100) of v[0..n), n >= 1, as numpy.percentile's
 * default (linear): sorted ascending, position p = pct/100 (n-1), value
 * v[floor p] + (p - floor p) (v[floor p + 1] - v[floor p]). v is sorted in
 * place. */
double num_percentile(double *v, int64_t n, double pct);

#endif
