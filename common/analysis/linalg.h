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
 *   randomized  block Krylov (block Lanczos with full reorthogonalisation
 *               and thick restarts; Musco & Musco 2015, Halko, Martinsson &
 *               Tropp 2011) on A = Xc^T Xc from a random start block: every
 *               pass streams the rows once and adds a block of b columns
 *               Q to the basis K, computing Y = Xc Q and A Q = Xc^T Y
 *               (two products per block of rows, thinmm.h, the centring
 *               folded in); the next block is A Q made orthogonal to K
 *               (block Gram-Schmidt twice, in double). After every pass,
 *               Rayleigh-Ritz on the whole basis (K^T A K, dsyev; kept up
 *               to date a block at a time) gives the components, and
 *               K^T A K with (AK)^T AK the Ritz residuals |A u - theta u|
 *               at no cost in passes. It
 *               stops after max_passes, or when for every one of the top-k
 *               Ritz vectors the bound sin(angle to the true component)
 *               <= residual / gap (gap to the nearest other Ritz value),
 *               weighted by sqrt(its variance / the first one's), i.e. the
 *               error it adds to the projections relative to their scale,
 *               is below tol. Projections come from Y without another
 *               pass. Memory (16 D + 4 N) bytes per basis column, at most
 *               `basis' columns (256 MiB by default; beyond, it restarts
 *               from the leading Ritz vectors), plus a batch: 336 columns,
 *               130 MiB, for k = 50 on 10,000 x 21,632. The start block
 *               mixes random columns with random combinations of the
 *               first batch's rows (half a power step for free).
 *               CNN_PCA_DEBUG in the environment prints every pass's
 *               Ritz values, residuals and times.
 *   auto        exact when min(N, D) <= 1024, or when 4 (k + b) >= min(N, D)
 *               and min(N, D) <= 8192 (the exact matrix then fits in
 *               512 MiB); covariance when D <= N, else gram. Otherwise
 *               randomized: for a 60,000 x 9,216 matrix the covariance
 *               route costs N D^2 = 5e12 flops in double, the randomized
 *               one 4 N D (columns in the basis): 8e10 for k = 2 (36
 *               columns), 7e11 for k = 50 (336).
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
    /* Optional (NULL: always read): rows [start, start + *count) where
     * they lie, without a copy, or NULL when they cannot be had that way;
     * it may give fewer rows (at least one: *count says how many); the
     * token goes to release() when the caller is done with them. */
    const float *(*map)(void *ctx, int64_t start, int64_t *count, void **token);
    void (*release)(void *token);
} linalg_rows;

typedef struct linalg_pca_opts {
    const char *method;    /* "auto" (NULL), "covariance", "gram", "randomized" */
    int64_t batch;         /* rows per batch; 0 = about 32 MiB of floats */
    int block;             /* randomized: columns added per pass (default
                            * k, at least 12, at most 48) */
    int basis;             /* randomized: most columns the basis holds before
                            * it restarts (default: what fits in 256 MiB, at
                            * least k + 2 block) */
    int max_passes;        /* randomized: passes over the data (default 25) */
    double tol;            /* randomized: convergence (default 3e-4) */
    uint64_t seed;         /* randomized: start subspace */
    int threads;           /* BLAS and OpenMP threads; 0: the libraries'
                            * defaults */
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

/* Die "name: row R has a NaN feature (column C)" (or "an infinite
 * feature", base/finite.h) on the first NaN or Inf of the
 * rows x d block x, whose first row is row row0 of the file. */
void linalg_check_finite(const float *x, int64_t rows, int64_t d, const char *name,
                         int64_t row0);

/* BLAS threads (OpenBLAS); n <= 0: the default (base/cpu.h). */
void linalg_set_threads(int n);

/* Per-feature-map summaries: x is rows x c x hw; out is rows x c. */
typedef enum { SUMMARY_NONE = 0, SUMMARY_MAX, SUMMARY_MEAN, SUMMARY_ABSMAX } linalg_summary;
/* "none", "max", "mean", "absmax" -> the enum; -1 when unknown. */
int linalg_summary_parse(const char *s);
/* The same for an option's argument: a usage error naming the option and
 * the words when unknown. */
linalg_summary linalg_summary_opt(const char *opt, const char *s);
const char *linalg_summary_name(linalg_summary s);
void linalg_summarise(const float *x, int64_t rows, int64_t c, int64_t hw, linalg_summary s,
                      float *out);

#endif
