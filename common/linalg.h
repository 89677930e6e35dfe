/* linalg: principal component analysis of a matrix streamed by rows (LAPACKE
 * and CBLAS underneath), and the per-feature-map reductions that turn
 * activations into features.
 *
 * PCA never holds the N x D matrix: it asks a row source for batches, as
 * many passes as the chosen route needs. Routes (linalg_pca_opts.method):
 *
 *   covariance  one pass: D x D scatter matrix in double (dsyrk on rows
 *               shifted by the first row, then a mean correction, so large
 *               means do not cancel), top-k eigenpairs by dsyevr. Exact.
 *               Memory 8*D^2 bytes + a batch.
 *   gram        for D > N: N x N Gram matrix of the centred rows in double,
 *               built block by block (one block of rows held, the rest
 *               streamed), top-k by dsyevr, then one pass for the
 *               components V = Xc^T U / sqrt(lambda). Exact.
 *               Memory 8*N^2 bytes + a block (at most 256 MiB) + a batch.
 *   randomized  Halko, Martinsson & Tropp (2011) subspace iteration on
 *               Xc^T Xc with l = k + oversample columns: every pass streams
 *               the rows once (Y = Xc Q, Z += Xc^T Y, sgemm), Q <- orth(Z)
 *               (dgeqrf), and a Rayleigh-Ritz step (dsyev of Q^T Z) gives
 *               the current estimate. It stops after max_passes, or when
 *               for every one of the top-k Ritz vectors the estimated error
 *               is below tol: the sine of the angle it turned between the
 *               last two passes (the previous pass's error) times
 *               r / (1 - r), r the contraction between the last two such
 *               angles (the rest of a geometric series), weighted by
 *               sqrt(its variance / the first one's), i.e. the error it
 *               adds to the projections relative to their scale. Memory
 *               4*D*l*3 + 4*N*l bytes + a batch.
 *   auto        exact when min(N, D) <= 1024, or when l >= min(N, D)/4 and
 *               min(N, D) <= 8192 (the exact matrix then fits in 512 MiB);
 *               covariance when D <= N, else gram. Otherwise randomized.
 *
 * Conventions, as scikit-learn's PCA: explained variance uses the n - 1
 * denominator; the ratio divides by the total variance (sum of all column
 * variances). Signs: every component is flipped so that its largest-
 * magnitude loading (the first one on a tie) is positive, as scikit-learn
 * >= 1.5's svd_flip(u_based_decision=False); this depends only on the
 * components, so projections of new rows use the same signs. */
#ifndef CNN_LINALG_H
#define CNN_LINALG_H

#include <stdint.h>

/* A matrix of n rows and d columns read in batches: read() fills buf with
 * rows [start, start + count) (count x d floats, row-major) and dies on an
 * I/O error. name and row0 make messages name the file and its row. */
typedef struct linalg_rows {
    int64_t n, d;
    void (*read)(void *ctx, int64_t start, int64_t count, float *buf);
    void *ctx;
    const char *name;
    int64_t row0;
} linalg_rows;

typedef struct linalg_pca_opts {
    const char *method;    /* "auto" (NULL), "covariance", "gram", "randomized" */
    int64_t batch;         /* rows per batch; 0 = about 32 MiB of floats */
    int oversample;        /* randomized: extra columns (default max(10, k)) */
    int max_passes;        /* randomized: passes over the data (default 25) */
    double tol;            /* randomized: convergence (default 1e-4) */
    uint64_t seed;         /* randomized: start subspace */
    int threads;           /* BLAS threads; 0: the library's default, but
                            * 1 for randomized with l <= 32 (its thin
                            * products are memory-bound: more threads only
                            * contend, measured 2x slower on 2 cores) */
} linalg_pca_opts;

typedef struct linalg_pca {
    int64_t n, d;          /* rows fitted, features */
    int k;
    char method[16];       /* the route taken */
    float *mean;           /* d */
    float *components;     /* k x d, row-major, unit rows */
    double *variance;      /* k: explained variance (n - 1 denominator) */
    double *ratio;         /* k: explained variance ratio */
    double total_variance; /* sum of the column variances */
    int passes;            /* passes over the data */
    double convergence;    /* randomized: estimated error at the stop (0 if exact) */
    float *projections;    /* n x k of the fitted rows when the route got them
                            * for free (NULL otherwise: use transform) */
} linalg_pca;

/* Fit the top k components of the rows. Dies naming src->name and the row
 * and column on a non-finite value, and on n < 2, k < 1, k > min(n, d), or
 * all columns constant. The caller owns the result (linalg_pca_free). */
linalg_pca *linalg_pca_fit(const linalg_rows *src, int k, const linalg_pca_opts *o);
void linalg_pca_free(linalg_pca *p);
/* Project rows x (rows x d; centred in place, so overwritten) onto the
 * components: out is rows x k. */
void linalg_pca_transform(const float *mean, const float *components, int64_t d, int k,
                          float *x, int64_t rows, float *out);
/* Flip each of the k rows of comp (k x d) so that its largest-magnitude
 * entry is positive; flips the matching columns of proj (n x k) too when it
 * is not NULL. */
void linalg_sign_flip(float *comp, int k, int64_t d, float *proj, int64_t n);

/* Die "name: row R column C is not finite" on the first NaN or Inf of the
 * rows x d block x, whose first row is row row0 of the file. */
void linalg_check_finite(const float *x, int64_t rows, int64_t d, const char *name,
                         int64_t row0);

/* BLAS threads (OpenBLAS); n <= 0 leaves the library's default. */
void linalg_set_threads(int n);

/* Per-feature-map summaries: x is rows x c x hw; out is rows x c. */
typedef enum { SUMMARY_NONE = 0, SUMMARY_MAX, SUMMARY_MEAN, SUMMARY_ABSMAX } linalg_summary;
/* "none", "max", "mean", "absmax" -> the enum; -1 when unknown. */
int linalg_summary_parse(const char *s);
const char *linalg_summary_name(linalg_summary s);
void linalg_summarise(const float *x, int64_t rows, int64_t c, int64_t hw, linalg_summary s,
                      float *out);

#endif
