#include "linalg.h"
#include "cli.h"
#include "tensor.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Largest block of rows the gram route holds in double. */
#define GRAM_BLOCK_BYTES ((int64_t)256 << 20)
/* Largest exact matrix auto picks (8192^2 doubles = 512 MiB). */
#define EXACT_MAX 8192

void linalg_set_threads(int n)
{
    if (n > 0)
        openblas_set_num_threads(n);
}

void linalg_check_finite(const float *x, int64_t rows, int64_t d, const char *name,
                         int64_t row0)
{
    int bad = 0;
    /* A cheap vectorised scan first; the slow search only on failure. */
    for (int64_t i = 0; i < rows; i++) {
        const float *r = x + i * d;
        int b = 0;
        for (int64_t j = 0; j < d; j++)
            b |= !isfinite(r[j]);
        bad |= b;
    }
    if (!bad)
        return;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d; j++)
            if (!isfinite(x[i * d + j]))
                die("%s: row %lld column %lld is %s (features must be finite)", name,
                    (long long)(row0 + i), (long long)j, isnan(x[i * d + j]) ? "NaN" : "infinite");
}

void linalg_sign_flip(float *comp, int k, int64_t d, float *proj, int64_t n)
{
    for (int i = 0; i < k; i++) {
        float *c = comp + (int64_t)i * d;
        int64_t best = 0;
        for (int64_t j = 1; j < d; j++)
            if (fabsf(c[j]) > fabsf(c[best]))
                best = j;
        if (c[best] >= 0)
            continue;
        for (int64_t j = 0; j < d; j++)
            c[j] = -c[j];
        if (proj)
            for (int64_t r = 0; r < n; r++)
                proj[r * k + i] = -proj[r * k + i];
    }
}

void linalg_pca_transform(const float *mean, const float *components, int64_t d, int k,
                          float *x, int64_t rows, float *out)
{
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d; j++)
            x[i * d + j] -= mean[j];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, k, (int)d, 1.0f, x, (int)d,
                components, (int)d, 0.0f, out, k);
}

void linalg_pca_free(linalg_pca *p)
{
    if (!p)
        return;
    free(p->mean);
    free(p->components);
    free(p->variance);
    free(p->ratio);
    free(p->projections);
    free(p);
}

/* ---- streaming ---- */

typedef struct stream {
    const linalg_rows *src;
    int64_t batch;
    float *buf;
    progress *pr;
    int64_t done;
} stream;

/* Read rows [start, start+cnt) into s->buf. */
static float *stream_read(stream *s, int64_t start, int64_t cnt)
{
    s->src->read(s->src->ctx, start, cnt, s->buf);
    s->done += cnt;
    progress_update(s->pr, s->done);
    return s->buf;
}

/* Pass statistics shared by all routes: column sums and sums of squares
 * around a shift (the first row), so that variance survives large means. */
typedef struct moments {
    int64_t d, n;
    double *shift, *s1, *s2;
} moments;

static void moments_init(moments *m, int64_t d, const float *first)
{
    m->d = d;
    m->n = 0;
    m->shift = xcalloc((size_t)d, sizeof(double));
    m->s1 = xcalloc((size_t)d, sizeof(double));
    m->s2 = xcalloc((size_t)d, sizeof(double));
    for (int64_t j = 0; j < d; j++)
        m->shift[j] = first[j];
}

/* Every route's first pass goes through here, so it is also where values
 * are checked: a NaN or Inf makes the sums non-finite, and only then is the
 * batch searched for the first bad value. */
static void moments_add(moments *m, const float *x, int64_t rows, const linalg_rows *src,
                        int64_t start)
{
    int64_t d = m->d;
    for (int64_t j0 = 0; j0 < d; j0 += 256) {
        int64_t j1 = j0 + 256 < d ? j0 + 256 : d;
        for (int64_t i = 0; i < rows; i++) {
            const float *r = x + i * d;
            for (int64_t j = j0; j < j1; j++) {
                double v = (double)r[j] - m->shift[j];
                m->s1[j] += v;
                m->s2[j] += v * v;
            }
        }
    }
    m->n += rows;
    int bad = 0;
    for (int64_t j = 0; j < d; j++)
        bad |= !isfinite(m->s1[j]) || !isfinite(m->s2[j]);
    if (bad)
        linalg_check_finite(x, rows, d, src->name, src->row0 + start);
}

/* Mean into mu (float, d) and the total variance (n - 1 denominator). */
static double moments_finish(moments *m, float *mu)
{
    double tot = 0, n = (double)m->n;
    for (int64_t j = 0; j < m->d; j++) {
        double a = m->s1[j] / n;
        mu[j] = (float)(m->shift[j] + a);
        double v = (m->s2[j] - n * a * a) / (n - 1);
        tot += v > 0 ? v : 0;
    }
    return tot;
}

static void moments_free(moments *m)
{
    free(m->shift);
    free(m->s1);
    free(m->s2);
}

/* Top-k eigenpairs of the symmetric m x m row-major matrix a (upper
 * triangle used; destroyed): values descending into w, vectors as the
 * columns of z (m x k, row-major). */
static void top_eig(double *a, int64_t m, int k, double *w, double *z)
{
    double *wa = xcalloc((size_t)m, sizeof(double));
    double *za = xcalloc((size_t)(m * k), sizeof(double));
    lapack_int *isuppz = xcalloc((size_t)(2 * k), sizeof(lapack_int));
    lapack_int found = 0;
    lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', (lapack_int)m, a,
                                     (lapack_int)m, 0, 0, (lapack_int)(m - k + 1),
                                     (lapack_int)m, 0.0, &found, wa, za, k, isuppz);
    if (info != 0 || found != k)
        die("pca: eigen-decomposition failed (LAPACK dsyevr info %d)", (int)info);
    /* dsyevr returns ascending order; we want the largest first. */
    for (int i = 0; i < k; i++) {
        w[i] = wa[k - 1 - i];
        for (int64_t r = 0; r < m; r++)
            z[r * k + i] = za[r * k + (k - 1 - i)];
    }
    free(wa);
    free(za);
    free(isuppz);
}

static linalg_pca *pca_new(int64_t n, int64_t d, int k, const char *method)
{
    linalg_pca *p = xcalloc(1, sizeof *p);
    p->n = n;
    p->d = d;
    p->k = k;
    snprintf(p->method, sizeof p->method, "%s", method);
    p->mean = falloc((size_t)d);
    p->components = falloc((size_t)(d * k));
    p->variance = xcalloc((size_t)k, sizeof(double));
    p->ratio = xcalloc((size_t)k, sizeof(double));
    return p;
}

/* ---- covariance route ---- */

static void fit_covariance(linalg_pca *p, stream *s)
{
    int64_t n = p->n, d = p->d;
    int k = p->k;
    double *c = xcalloc((size_t)(d * d), sizeof(double));
    double *bd = xmalloc((size_t)(s->batch * d) * sizeof(double));
    moments m = { 0 };
    for (int64_t a = 0; a < n; a += s->batch) {
        int64_t cnt = n - a < s->batch ? n - a : s->batch;
        float *x = stream_read(s, a, cnt);
        if (a == 0)
            moments_init(&m, d, x);
        moments_add(&m, x, cnt, s->src, a);
        for (int64_t i = 0; i < cnt; i++)
            for (int64_t j = 0; j < d; j++)
                bd[i * d + j] = (double)x[i * d + j] - m.shift[j];
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)cnt, 1.0, bd, (int)d,
                    1.0, c, (int)d);
    }
    p->passes = 1;
    p->total_variance = moments_finish(&m, p->mean);
    /* Scatter around the shift minus n (mu - s)(mu - s)^T = s1 s1^T / n. */
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = i; j < d; j++)
            c[i * d + j] -= m.s1[i] * m.s1[j] / (double)n;
    double *w = xcalloc((size_t)k, sizeof(double));
    double *z = xcalloc((size_t)(d * k), sizeof(double));
    top_eig(c, d, k, w, z);
    for (int i = 0; i < k; i++) {
        p->variance[i] = w[i] > 0 ? w[i] / (double)(n - 1) : 0;
        for (int64_t j = 0; j < d; j++)
            p->components[i * d + j] = (float)z[j * k + i];
    }
    moments_free(&m);
    free(w);
    free(z);
    free(bd);
    free(c);
}

/* ---- gram route ---- */

static void fit_gram(linalg_pca *p, stream *s)
{
    int64_t n = p->n, d = p->d;
    int k = p->k;
    moments m = { 0 };
    for (int64_t a = 0; a < n; a += s->batch) {
        int64_t cnt = n - a < s->batch ? n - a : s->batch;
        float *x = stream_read(s, a, cnt);
        if (a == 0)
            moments_init(&m, d, x);
        moments_add(&m, x, cnt, s->src, a);
    }
    p->total_variance = moments_finish(&m, p->mean);
    moments_free(&m);
    p->passes = 1;

    double *kg = xcalloc((size_t)(n * n), sizeof(double));
    int64_t ob = GRAM_BLOCK_BYTES / (d * (int64_t)sizeof(double));
    if (ob < s->batch)
        ob = s->batch;
    if (ob > n)
        ob = n;
    double *blk = xmalloc((size_t)(ob * d) * sizeof(double));
    double *bd = xmalloc((size_t)(s->batch * d) * sizeof(double));
    for (int64_t i0 = 0; i0 < n; i0 += ob) {
        int64_t ni = n - i0 < ob ? n - i0 : ob;
        /* Hold rows [i0, i0+ni) centred, then stream rows j >= i0 against
         * them: the upper triangle of K is all dsyevr needs. */
        for (int64_t a = i0; a < i0 + ni; a += s->batch) {
            int64_t cnt = i0 + ni - a < s->batch ? i0 + ni - a : s->batch;
            float *x = stream_read(s, a, cnt);
            for (int64_t i = 0; i < cnt; i++)
                for (int64_t j = 0; j < d; j++)
                    blk[(a - i0 + i) * d + j] = (double)x[i * d + j] - p->mean[j];
        }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)ni, (int)d, 1.0, blk, (int)d,
                    0.0, kg + i0 * n + i0, (int)n);
        for (int64_t a = i0 + ni; a < n; a += s->batch) {
            int64_t cnt = n - a < s->batch ? n - a : s->batch;
            float *x = stream_read(s, a, cnt);
            for (int64_t i = 0; i < cnt; i++)
                for (int64_t j = 0; j < d; j++)
                    bd[i * d + j] = (double)x[i * d + j] - p->mean[j];
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)ni, (int)cnt, (int)d, 1.0,
                        blk, (int)d, bd, (int)d, 0.0, kg + i0 * n + a, (int)n);
        }
        p->passes++;
    }
    free(blk);

    double *w = xcalloc((size_t)k, sizeof(double));
    double *u = xcalloc((size_t)(n * k), sizeof(double));
    top_eig(kg, n, k, w, u);
    free(kg);

    /* Components V = Xc^T U / sqrt(lambda): one more pass. */
    double *v = xcalloc((size_t)(d * k), sizeof(double));
    for (int64_t a = 0; a < n; a += s->batch) {
        int64_t cnt = n - a < s->batch ? n - a : s->batch;
        float *x = stream_read(s, a, cnt);
        for (int64_t i = 0; i < cnt; i++)
            for (int64_t j = 0; j < d; j++)
                bd[i * d + j] = (double)x[i * d + j] - p->mean[j];
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, k, (int)cnt, 1.0, bd,
                    (int)d, u + a * k, k, 1.0, v, k);
    }
    p->passes++;
    p->projections = falloc((size_t)(n * k));
    for (int i = 0; i < k; i++) {
        double nrm = 0;
        for (int64_t j = 0; j < d; j++)
            nrm += v[j * k + i] * v[j * k + i];
        nrm = sqrt(nrm);
        /* Normalise by the vector's own length rather than sqrt(lambda):
         * the same in exact arithmetic, and still a unit vector when a
         * component of a rank-deficient matrix has lambda ~ 0. */
        for (int64_t j = 0; j < d; j++)
            p->components[i * d + j] = nrm > 0 ? (float)(v[j * k + i] / nrm) : 0.0f;
        double sl = w[i] > 0 ? sqrt(w[i]) : 0;
        for (int64_t r = 0; r < n; r++)
            p->projections[r * k + i] = (float)(u[r * k + i] * sl);
        p->variance[i] = w[i] > 0 ? w[i] / (double)(n - 1) : 0;
    }
    free(v);
    free(u);
    free(w);
    free(bd);
}

/* ---- randomized route ---- */

/* Orthonormal basis of the columns of z (rows x l, row-major, double), in
 * place. */
static void orth(double *z, int64_t rows, int l)
{
    double *tau = xcalloc((size_t)l, sizeof(double));
    if (LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (lapack_int)rows, l, z, l, tau) ||
        LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (lapack_int)rows, l, l, z, l, tau))
        die("pca: QR factorisation failed");
    free(tau);
}

static void fit_randomized(linalg_pca *p, stream *s, const linalg_pca_opts *o)
{
    int64_t n = p->n, d = p->d;
    int k = p->k;
    int64_t mn = n < d ? n : d;
    int l = (int)(k + o->oversample < mn ? k + o->oversample : mn);
    int maxp = o->max_passes;
    float *q = falloc((size_t)(d * l));     /* basis used by this pass */
    float *zf = falloc((size_t)(d * l));    /* Xc^T Xc Q accumulated */
    float *y = falloc((size_t)(n * l));     /* Xc Q of every row */
    double *zd = xcalloc((size_t)(d * l), sizeof(double));
    double *g = xcalloc((size_t)(l * l), sizeof(double));
    double *theta = xcalloc((size_t)l, sizeof(double));
    double *ucur = xcalloc((size_t)(d * k), sizeof(double));
    double *uprev = xcalloc((size_t)(d * k), sizeof(double));
    float *shift = falloc((size_t)d);

    rng r;
    rng_seed(&r, o->seed);
    for (int64_t i = 0; i < d * l; i++)
        q[i] = (float)rng_normal(&r);

    moments m = { 0 };
    int pass;
    double estimate = INFINITY;
    double *chg = xmalloc((size_t)k * sizeof(double));
    for (int i = 0; i < k; i++)
        chg[i] = INFINITY;
    double *cq = xcalloc((size_t)l, sizeof(double));
    double *ysum = xcalloc((size_t)l, sizeof(double));
    float *cqf = falloc((size_t)l);
    for (pass = 0;; pass++) {
        memset(zf, 0, (size_t)(d * l) * sizeof(float));
        memset(ysum, 0, (size_t)l * sizeof(double));
        /* Centre on c (the first row in pass 0, when the mean is not yet
         * known; the mean after) without touching the rows:
         * Yc = X Q - 1 (c^T Q) and Xc^T Yc = X^T Yc - c (1^T Yc). Saves a
         * sweep over the data per pass, which is memory-bound. */
        const float *c = p->mean;
        for (int64_t a = 0; a < n; a += s->batch) {
            int64_t cnt = n - a < s->batch ? n - a : s->batch;
            float *x = stream_read(s, a, cnt);
            if (pass == 0) {
                if (a == 0) {
                    moments_init(&m, d, x);
                    for (int64_t j = 0; j < d; j++)
                        shift[j] = x[j];
                }
                moments_add(&m, x, cnt, s->src, a);
                c = shift;
            }
            if (a == 0) {
                memset(cq, 0, (size_t)l * sizeof(double));
                for (int64_t j = 0; j < d; j++)
                    for (int t = 0; t < l; t++)
                        cq[t] += (double)c[j] * q[j * l + t];
                for (int t = 0; t < l; t++)
                    cqf[t] = (float)cq[t];
            }
            /* Sub-blocks small enough to stay in the last-level cache
             * between the two products. */
            int64_t sb = ((int64_t)1 << 20) / d;
            if (sb < 8)
                sb = 8;
            for (int64_t i = 0; i < cnt; i += sb) {
                int64_t nb = cnt - i < sb ? cnt - i : sb;
                float *xs = x + i * d, *ys = y + (a + i) * l;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, l, (int)d, 1.0f,
                            xs, (int)d, q, l, 0.0f, ys, l);
                for (int64_t r = 0; r < nb; r++)
                    for (int t = 0; t < l; t++) {
                        ys[r * l + t] -= cqf[t];
                        ysum[t] += ys[r * l + t];
                    }
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, l, (int)nb, 1.0f, xs,
                            (int)d, ys, l, 1.0f, zf, l);
            }
        }
        for (int64_t j = 0; j < d; j++)
            for (int t = 0; t < l; t++)
                zd[j * l + t] = (double)zf[j * l + t] - (double)c[j] * ysum[t];
        if (pass == 0) {
            p->total_variance = moments_finish(&m, p->mean);
            /* sum (x-s)(x-s)^T = Xc^T Xc + n (mu-s)(mu-s)^T with
             * n (mu - s) = s1: subtract s1 (s1^T Q) / n. */
            double *sq = xcalloc((size_t)l, sizeof(double));
            for (int64_t j = 0; j < d; j++)
                for (int c = 0; c < l; c++)
                    sq[c] += m.s1[j] * q[j * l + c];
            for (int64_t j = 0; j < d; j++)
                for (int c = 0; c < l; c++)
                    zd[j * l + c] -= m.s1[j] * sq[c] / (double)n;
            free(sq);
            moments_free(&m);
        } else {
            /* Rayleigh-Ritz on span(Q): G = Q^T Xc^T Xc Q. */
            for (int a = 0; a < l; a++)
                for (int b = 0; b < l; b++) {
                    double acc = 0;
                    for (int64_t j = 0; j < d; j++)
                        acc += (double)q[j * l + a] * zd[j * l + b];
                    g[a * l + b] = acc;
                }
            for (int a = 0; a < l; a++)
                for (int b = a + 1; b < l; b++)
                    g[a * l + b] = g[b * l + a] = 0.5 * (g[a * l + b] + g[b * l + a]);
            if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', l, g, l, theta))
                die("pca: eigen-decomposition failed (LAPACK dsyev)");
            /* Ascending: column l-1-i of g is the i-th largest. */
            memcpy(uprev, ucur, (size_t)(d * k) * sizeof(double));
            for (int64_t j = 0; j < d; j++)
                for (int i = 0; i < k; i++) {
                    double acc = 0;
                    for (int c = 0; c < l; c++)
                        acc += (double)q[j * l + c] * g[c * l + (l - 1 - i)];
                    ucur[j * k + i] = acc;
                }
            /* Per component: the change between passes measures the error
             * of the previous pass; with the contraction r seen between the
             * last two changes, change * r / (1 - r) estimates the error of
             * this one (subspace iteration converges geometrically). Weighted by the
             * component's standard deviation relative to the first, it is
             * the error the component adds to the projections relative to
             * their scale: trailing components of nearly equal variance,
             * which converge slowly and matter little, do not hold up the
             * leading ones. */
            if (pass >= 2) {
                estimate = 0;
                for (int i = 0; i < k; i++) {
                    /* The distance between the sign-aligned unit vectors
                     * (about the angle): sqrt(1 - cos^2) would bottom out
                     * near 3e-5 from rounding. */
                    double dot = 0, nn = 0, dd = 0;
                    for (int64_t j = 0; j < d; j++) {
                        dot += ucur[j * k + i] * uprev[j * k + i];
                        nn += ucur[j * k + i] * ucur[j * k + i];
                    }
                    double sg = dot < 0 ? -1 : 1;
                    for (int64_t j = 0; j < d; j++) {
                        double t = ucur[j * k + i] - sg * uprev[j * k + i];
                        dd += t * t;
                    }
                    double sn = sqrt(dd / (nn > 0 ? nn : 1));
                    double rate = isfinite(chg[i]) && chg[i] > 0 ? sn / chg[i] : 1;
                    chg[i] = sn;
                    double t0 = theta[l - 1], ti = theta[l - 1 - i];
                    double wgt = t0 > 0 && ti > 0 ? sqrt(ti / t0) : 1;
                    /* What is left of a geometric series of changes. */
                    double r = rate < 0.99 ? rate : 0.99;
                    /* Below 1e-6 the changes are rounding noise, whose
                     * "rate" means nothing. */
                    double e = (sn < 1e-6 ? sn : sn * r / (1 - r)) * wgt;
                    if (e > estimate)
                        estimate = e;
                }
            }
            if ((pass >= 2 && estimate <= o->tol) || pass + 1 >= maxp)
                break;
        }
        orth(zd, d, l);
        for (int64_t i = 0; i < d * l; i++)
            q[i] = (float)zd[i];
    }
    p->passes = pass + 1;
    p->convergence = estimate;
    for (int i = 0; i < k; i++) {
        p->variance[i] = theta[l - 1 - i] > 0 ? theta[l - 1 - i] / (double)(n - 1) : 0;
        for (int64_t j = 0; j < d; j++)
            p->components[i * d + j] = (float)ucur[j * k + i];
    }
    /* Projections of the fitted rows from the last pass: Xc U = (Xc Q) W. */
    float *wk = falloc((size_t)(l * k));
    for (int c = 0; c < l; c++)
        for (int i = 0; i < k; i++)
            wk[c * k + i] = (float)g[c * l + (l - 1 - i)];
    p->projections = falloc((size_t)(n * k));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, k, l, 1.0f, y, l, wk, k,
                0.0f, p->projections, k);
    free(wk);
    free(q);
    free(zf);
    free(y);
    free(zd);
    free(g);
    free(theta);
    free(ucur);
    free(uprev);
    free(shift);
    free(cq);
    free(ysum);
    free(cqf);
    free(chg);
}

linalg_pca *linalg_pca_fit(const linalg_rows *src, int k, const linalg_pca_opts *o)
{
    linalg_pca_opts def = { 0 };
    if (!o)
        o = &def;
    int64_t n = src->n, d = src->d, mn = n < d ? n : d;
    if (n < 2)
        die("%s: PCA needs at least 2 rows (has %lld)", src->name, (long long)n);
    if (d < 1)
        die("%s: features have no columns", src->name);
    if (k < 1 || k > mn)
        die("%s: k=%d components asked, but at most min(N, D) = %lld exist (N=%lld, D=%lld)",
            src->name, k, (long long)mn, (long long)n, (long long)d);
    linalg_pca_opts opt = *o;
    /* Convergence goes as (lambda_{l+1} / lambda_k)^passes: a wider
     * subspace costs little (the passes are bound by reading the rows) and
     * saves passes when k is large. */
    if (opt.oversample <= 0)
        opt.oversample = k > 10 ? k : 10;
    if (opt.max_passes <= 0)
        opt.max_passes = 25;
    if (opt.max_passes < 3)
        opt.max_passes = 3;
    if (opt.tol <= 0)
        opt.tol = 1e-4;
    const char *meth = opt.method && *opt.method ? opt.method : "auto";
    if (!strcmp(meth, "auto")) {
        int64_t l = k + opt.oversample < mn ? k + opt.oversample : mn;
        int exact = mn <= 1024 || (mn <= EXACT_MAX && 4 * l >= mn);
        meth = !exact ? "randomized" : d <= n ? "covariance" : "gram";
    } else if (strcmp(meth, "covariance") && strcmp(meth, "gram") && strcmp(meth, "randomized")) {
        die("unknown PCA method '%s' (methods: auto covariance gram randomized)", meth);
    }
    linalg_pca *p = pca_new(n, d, k, meth);

    stream s = { 0 };
    s.src = src;
    s.batch = opt.batch > 0 ? opt.batch : ((int64_t)8 << 20) / d;
    if (s.batch < 16)
        s.batch = 16;
    if (s.batch > n)
        s.batch = n;
    s.buf = falloc((size_t)(s.batch * d));
    int64_t expect = !strcmp(meth, "randomized") ? n * opt.max_passes
                   : !strcmp(meth, "gram") ? 3 * n : n;
    s.pr = progress_start("pca", expect);

    if (opt.threads > 0)
        linalg_set_threads(opt.threads);
    if (!strcmp(meth, "covariance"))
        fit_covariance(p, &s);
    else if (!strcmp(meth, "gram"))
        fit_gram(p, &s);
    else {
        /* Thin products (l <= 32 columns) are bound by memory bandwidth and
         * OpenBLAS's threads only contend there (2x slower on 2 cores);
         * wider ones are bound by arithmetic and gain from threads. */
        int64_t l = k + opt.oversample < mn ? k + opt.oversample : mn;
        if (opt.threads <= 0 && l <= 32)
            linalg_set_threads(1);
        fit_randomized(p, &s, &opt);
    }
    progress_end(s.pr);
    free(s.buf);

    if (!(p->total_variance > 0))
        die("%s: every feature is constant (zero variance): nothing to analyse", src->name);
    for (int i = 0; i < k; i++)
        p->ratio[i] = p->variance[i] / p->total_variance;
    linalg_sign_flip(p->components, k, d, p->projections, n);
    return p;
}

/* ---- feature-map summaries ---- */

static const char *const summary_names[] = { "none", "max", "mean", "absmax" };

int linalg_summary_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, summary_names[i]))
            return i;
    return -1;
}

const char *linalg_summary_name(linalg_summary s)
{
    return (unsigned)s < 4 ? summary_names[s] : "?";
}

void linalg_summarise(const float *x, int64_t rows, int64_t c, int64_t hw, linalg_summary s,
                      float *out)
{
    for (int64_t r = 0; r < rows * c; r++) {
        const float *v = x + r * hw;
        float acc;
        if (s == SUMMARY_MEAN) {
            double sum = 0;
            for (int64_t i = 0; i < hw; i++)
                sum += v[i];
            acc = (float)(sum / (double)(hw ? hw : 1));
        } else if (s == SUMMARY_ABSMAX) {
            acc = 0;
            for (int64_t i = 0; i < hw; i++)
                acc = fabsf(v[i]) > acc || isnan(v[i]) ? fabsf(v[i]) : acc;
        } else {
            acc = hw ? v[0] : 0;
            for (int64_t i = 1; i < hw; i++)
                acc = v[i] > acc || isnan(v[i]) ? v[i] : acc;
        }
        out[r] = acc;
    }
}
