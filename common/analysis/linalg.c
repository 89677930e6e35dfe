#include "analysis/linalg.h"
#include "base/cli.h"
#include "base/cpu.h"
#include "base/par.h"
#include "base/progress.h"
#include "base/tensor.h"
#include "nn/thinmm.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Largest block of rows the gram route holds in double. */
#define GRAM_BLOCK_BYTES ((int64_t)256 << 20)
/* Largest exact matrix auto picks (8192^2 doubles = 512 MiB). */
#define EXACT_MAX 8192
/* Most memory the randomized route's basis takes (unless k needs more). */
#define KRYLOV_BYTES ((int64_t)256 << 20)

/* Randomized: columns added to the basis per pass. */
static int block_width(int k)
{
    return k < 12 ? 12 : k < 48 ? k : 48;
}

void linalg_set_threads(int n)
{
    if (n > 0) {
        cpu_blas_set_threads(n);
        omp_set_num_threads(n);
    } else {
        cpu_blas_threads();
    }
}

void linalg_check_finite(const float *x, int64_t rows, int64_t d, const char *name,
                         int64_t row0)
{
    finite_check_rows(x, rows, d, row0, name, "row", "feature", "column", NULL);
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
    cpu_blas_threads();
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

/* The rows come in batches; while the caller works on one batch, a
 * thread reads the next (the products of a pass run on every core, the
 * reading alone on one: done in turn, the other cores idle through each
 * read). Only that thread calls the source while it runs, so a source
 * built on the (not thread-safe) HDF5 library is safe as long as the
 * caller makes no HDF5 calls until stream_wait. A batch is mapped from
 * the file when the source can (no copy: the copy from the page cache was
 * a sixth of the CPU time of a randomized PCA), else read into a buffer,
 * allocated when first needed. */
typedef struct slot {
    const float *rows;
    int64_t cnt;
    void *token;         /* the mapping, to release */
    float *buf;
} slot;

typedef struct stream {
    const linalg_rows *src;
    int64_t batch;
    slot cur, ahead;     /* the batch handed out; the one being read ahead */
    int64_t astart, acnt;
    int wrap;            /* after the last batch, read ahead the first (more passes follow) */
    int busy;            /* the thread is running */
    error_trap trap;     /* what made it fail, for the main thread to say */
    pthread_t th;
    progress *pr;
    int64_t done;
} stream;

static void slot_fill(const stream *s, slot *b, int64_t start, int64_t cnt)
{
    const linalg_rows *src = s->src;
    b->cnt = cnt;
    b->rows = src->map ? src->map(src->ctx, start, &b->cnt, &b->token) : NULL;
    if (b->rows)
        return;
    if (!b->buf)
        b->buf = falloc((size_t)(s->batch * src->d));
    src->read(src->ctx, start, cnt, b->buf);
    b->rows = b->buf;
    b->cnt = cnt;
}

static void slot_release(const stream *s, slot *b)
{
    if (b->token)
        s->src->release(b->token);
    b->token = NULL;
    b->rows = NULL;
}

/* The thread reading ahead: a failure there (a read error, a bad value)
 * is recorded, not said: the main thread says it once, after the join,
 * as it would have had it read the batch itself. */
static void *read_ahead(void *arg)
{
    stream *s = arg;
    cli_thread_init();
    error_trap_thread(&s->trap);
    slot_fill(s, &s->ahead, s->astart, s->acnt);
    error_trap_thread(NULL);
    return NULL;
}

/* The stream whose thread may be running: an exit from the main thread
 * (a die() of its own) waits for it before the libraries' exit handlers
 * close the files it reads. */
static stream *live;
static pthread_once_t live_once = PTHREAD_ONCE_INIT;

static void join_live(void)
{
    if (live && live->busy && !pthread_equal(pthread_self(), live->th)) {
        pthread_join(live->th, NULL);
        live->busy = 0;
    }
}

static void register_join(void)
{
    atexit(join_live);
}

/* Wait for the reading ahead, if any; die with its error. */
static void stream_wait(stream *s)
{
    if (s->busy) {
        pthread_join(s->th, NULL);
        s->busy = 0;
        error_trap_check(&s->trap);
    }
}

/* The batch at row a: at most s->batch rows and none from end on; *cnt
 * says how many (a mapping may give fewer). It is the batch read ahead
 * when that one starts at a, else read now; then the next batch is read
 * ahead. A batch is valid until the next call. */
static const float *stream_next(stream *s, int64_t a, int64_t end, int64_t *cnt)
{
    int64_t want = end - a < s->batch ? end - a : s->batch;
    int have = s->busy && s->astart == a;
    stream_wait(s);
    slot_release(s, &s->cur);
    if (have) {
        slot t = s->cur;
        s->cur = s->ahead;
        s->ahead = t;
    } else {
        slot_release(s, &s->ahead);
        slot_fill(s, &s->cur, a, want);
    }
    *cnt = s->cur.cnt < want ? s->cur.cnt : want;
    s->done += *cnt;
    progress_update(s->pr, s->done);
    int64_t next = a + *cnt < s->src->n ? a + *cnt : s->wrap ? 0 : -1;
    if (next >= 0) {
        s->astart = next;
        s->acnt = s->src->n - next < s->batch ? s->src->n - next : s->batch;
        pthread_once(&live_once, register_join);
        live = s;
        s->busy = !pthread_create(&s->th, NULL, read_ahead, s);
    }
    return s->cur.rows;
}

static void stream_end(stream *s)
{
    stream_wait(s);
    live = NULL;
    slot_release(s, &s->cur);
    slot_release(s, &s->ahead);
    free(s->cur.buf);
    free(s->ahead.buf);
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

/* moments_add's arguments. */
typedef struct moments_job {
    moments *m;
    const float *x;
    int64_t rows;
} moments_job;

/* Blocks b0..b1-1 of 256 columns: each column's sums over the rows. */
static void moments_blocks(void *ctx, int64_t b0, int64_t b1, int t)
{
    const moments_job *a = ctx;
    moments *m = a->m;
    const float *x = a->x;
    int64_t d = m->d, rows = a->rows;
    (void)t;
    for (int64_t j0 = b0 * 256; j0 < b1 * 256 && j0 < d; j0 += 256) {
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
}

/* Every route's first pass goes through here, so it is also where values
 * are checked: a NaN or Inf makes the sums non-finite, and only then is the
 * batch searched for the first bad value. */
static void moments_add(moments *m, const float *x, int64_t rows, stream *s, int64_t start)
{
    const linalg_rows *src = s->src;
    int64_t d = m->d;
    moments_job mj = { m, x, rows };
    par_for((d + 255) / 256, rows * d > (1 << 16) ? par_threads() : 1, moments_blocks, &mj);
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

/* Finite features whose products overflow (values near 1e38) make a NaN
 * or Inf matrix: said as such, naming the file, never a LAPACK failure or
 * "all of the variance". */
static void too_large(const linalg_rows *src, const char *method)
{
    die("%s: the %s PCA came out NaN or infinite: the features are finite but too large "
        "for float arithmetic (scale them down)", src->name, method);
}

static void check_matrix(const double *a, int64_t n, const linalg_rows *src, const char *method)
{
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad |= !isfinite(a[i]);
    if (bad)
        too_large(src, method);
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
    for (int64_t a = 0, cnt; a < n; a += cnt) {
        const float *x = stream_next(s, a, n, &cnt);
        if (a == 0)
            moments_init(&m, d, x);
        moments_add(&m, x, cnt, s, a);
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
    check_matrix(c, d * d, s->src, "covariance");
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
    for (int64_t a = 0, cnt; a < n; a += cnt) {
        const float *x = stream_next(s, a, n, &cnt);
        if (a == 0)
            moments_init(&m, d, x);
        moments_add(&m, x, cnt, s, a);
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
        for (int64_t a = i0, cnt; a < i0 + ni; a += cnt) {
            const float *x = stream_next(s, a, i0 + ni, &cnt);
            for (int64_t i = 0; i < cnt; i++)
                for (int64_t j = 0; j < d; j++)
                    blk[(a - i0 + i) * d + j] = (double)x[i * d + j] - p->mean[j];
        }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)ni, (int)d, 1.0, blk, (int)d,
                    0.0, kg + i0 * n + i0, (int)n);
        for (int64_t a = i0 + ni, cnt; a < n; a += cnt) {
            const float *x = stream_next(s, a, n, &cnt);
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
    check_matrix(kg, n * n, s->src, "gram");
    top_eig(kg, n, k, w, u);
    free(kg);

    /* Components V = Xc^T U / sqrt(lambda): one more pass. */
    double *v = xcalloc((size_t)(d * k), sizeof(double));
    for (int64_t a = 0, cnt; a < n; a += cnt) {
        const float *x = stream_next(s, a, n, &cnt);
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

/* ---- randomized route: block Krylov ---- */

/* The basis of the randomized route, column-major so that only the columns
 * in use take memory: m orthonormal columns K of length D (double), their
 * images AK under A = Xc^T Xc, and the rows' coordinates Y = Xc K (N x m,
 * float), which give the projections at the end without another pass. */
typedef struct kbasis {
    int64_t d, n;
    int m;
    double *k, *ak;
    float *y;
} kbasis;

/* Make column c of kb->k (already filled) orthonormal to columns [0, c):
 * two rounds of classical Gram-Schmidt; a column that (nearly) lies in
 * their span is replaced by a random one. */
static void kb_orth_col(kbasis *kb, int c, rng *r)
{
    int64_t d = kb->d;
    double *h = xcalloc((size_t)(c + 1), sizeof(double));
    double *v = kb->k + c * d;
    for (int tries = 0;; tries++) {
        double n0 = cblas_dnrm2((int)d, v, 1);
        for (int round = 0; round < 2 && c > 0; round++) {
            cblas_dgemv(CblasColMajor, CblasTrans, (int)d, c, 1.0, kb->k, (int)d, v, 1, 0.0, h, 1);
            cblas_dgemv(CblasColMajor, CblasNoTrans, (int)d, c, -1.0, kb->k, (int)d, h, 1, 1.0, v,
                        1);
        }
        double n1 = cblas_dnrm2((int)d, v, 1);
        if (n0 > 0 && n1 > 1e-9 * n0 && isfinite(n1)) {
            cblas_dscal((int)d, 1.0 / n1, v, 1);
            break;
        }
        if (tries > 8)
            die("pca: cannot extend the Krylov basis");
        for (int64_t j = 0; j < d; j++)
            v[j] = rng_normal(r);
    }
    free(h);
}

/* A batch's float sums zf into the double ones zd, items i0..i1-1, zf
 * cleared for the next. */
typedef struct fold_job {
    double *zd;
    float *zf;
} fold_job;

static void fold_range(void *ctx, int64_t i0, int64_t i1, int t)
{
    const fold_job *a = ctx;
    (void)t;
    for (int64_t j = i0; j < i1; j++) {
        a->zd[j] += a->zf[j];
        a->zf[j] = 0;
    }
}

/* One pass over the rows: for the b columns Q = K[:, m0:m0+b),
 * Y[:, m0:m0+b) = Xc Q and AK[:, m0:m0+b) = Xc^T Xc Q, by two sgemm per
 * batch of rows. The rows are centred on the mean without touching them
 * (Yc = X Q - 1 c^T Q, Xc^T Yc = X^T Yc - c 1^T Yc); in the first pass
 * (mo != NULL), when the mean is not known yet, on the first row, and
 * corrected at the end. */
static void kb_pass(linalg_pca *p, stream *s, kbasis *kb, int m0, int b, moments *mo)
{
    int64_t n = p->n, d = p->d;
    /* Q and Z as D x w row-major, w = b rounded up to whole vectors (the
     * extra columns of Q are zero, and so are their Y and Z). */
    int w = (b + 15) / 16 * 16;
    float *q = falloc((size_t)(d * w));
    float *zf = falloc((size_t)(d * w));
    double *zd = xcalloc((size_t)(d * w), sizeof(double));
    double *ysum = xcalloc((size_t)b, sizeof(double));
    double *cq = xcalloc((size_t)b, sizeof(double));
    float *cqf = falloc((size_t)b);
    float *shift = mo ? falloc((size_t)d) : NULL;
    float *y = kb->y + m0 * n;
    for (int t = 0; t < b; t++)
        for (int64_t j = 0; j < d; j++)
            q[j * w + t] = (float)kb->k[(m0 + t) * d + j];
    const float *c = p->mean;
    /* Rows in sub-blocks of about 4 MiB, which stay in cache between the
     * two products. */
    int64_t sb = ((int64_t)1 << 20) / d;
    if (sb < 32)
        sb = 32;
    float *ys = falloc((size_t)(sb * w));
    for (int64_t a = 0, cnt; a < n; a += cnt) {
        const float *x = stream_next(s, a, n, &cnt);
        if (mo) {
            if (a == 0) {
                moments_init(mo, d, x);
                for (int64_t j = 0; j < d; j++)
                    shift[j] = x[j];
            }
            moments_add(mo, x, cnt, s, a);
            c = shift;
        }
        if (a == 0) {
            for (int64_t j = 0; j < d; j++)
                for (int t = 0; t < b; t++)
                    cq[t] += (double)c[j] * q[j * w + t];
            for (int t = 0; t < b; t++)
                cqf[t] = (float)cq[t];
        }
        for (int64_t i = 0; i < cnt; i += sb) {
            int64_t nr = cnt - i < sb ? cnt - i : sb;
            const float *xs = x + i * d;
            /* Y rows [a+i, a+i+nr) = X Q - 1 c^T Q; then Z += X^T Y. */
            thinmm_xq(xs, nr, d, q, w, ys);
            for (int64_t r = 0; r < nr; r++)
                for (int t = 0; t < b; t++) {
                    float v = ys[r * w + t] - cqf[t];
                    ys[r * w + t] = v;
                    ysum[t] += v;
                    y[t * n + a + i + r] = v;
                }
            thinmm_xty(xs, nr, d, ys, w, zf);
        }
        /* Z is summed in float over a batch, then in double: summed in
         * float over all the rows, the rounding of the running sums made
         * the Ritz residuals 10 times larger (60,000 x 9,216). */
        fold_job fj = { zd, zf };
        par_for(d * w, par_threads(), fold_range, &fj);
    }
    for (int t = 0; t < b; t++)
        for (int64_t j = 0; j < d; j++)
            kb->ak[(m0 + t) * d + j] = zd[j * w + t] - (double)c[j] * ysum[t];
    if (mo) {
        p->total_variance = moments_finish(mo, p->mean);
        /* sum (x-s)(x-s)^T = Xc^T Xc + n (mu-s)(mu-s)^T with n (mu - s) =
         * s1: subtract s1 (s1^T Q) / n; and Y = (X - s) Q becomes (X - mu) Q
         * by subtracting (mu - s)^T Q = s1^T Q / n from every row. */
        double *sq = xcalloc((size_t)b, sizeof(double));
        for (int t = 0; t < b; t++)
            for (int64_t j = 0; j < d; j++)
                sq[t] += mo->s1[j] * q[j * w + t];
        for (int t = 0; t < b; t++) {
            for (int64_t j = 0; j < d; j++)
                kb->ak[(m0 + t) * d + j] -= mo->s1[j] * sq[t] / (double)n;
            float sf = (float)(sq[t] / (double)n);
            for (int64_t r = 0; r < n; r++)
                y[t * n + r] -= sf;
        }
        free(sq);
        moments_free(mo);
    }
    free(q);
    free(zf);
    free(zd);
    free(ysum);
    free(cq);
    free(cqf);
    free(shift);
    free(ys);
}

/* a (rows x m, column-major, ld rows) <- a W, W m x r column-major (ld
 * ldw), r <= m: a block of rows at a time, so no second matrix that size. */
static void rot_d(double *a, int64_t rows, int m, const double *w, int ldw, int r)
{
    int64_t rb = 512;
    double *t = xmalloc((size_t)(rb * r) * sizeof(double));
    for (int64_t i = 0; i < rows; i += rb) {
        int64_t nb = rows - i < rb ? rows - i : rb;
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)nb, r, m, 1.0, a + i,
                    (int)rows, w, ldw, 0.0, t, (int)nb);
        for (int c = 0; c < r; c++)
            memcpy(a + c * rows + i, t + c * nb, (size_t)nb * sizeof(double));
    }
    free(t);
}

static void rot_f(float *a, int64_t rows, int m, const float *w, int ldw, int r)
{
    int64_t rb = 1024;
    float *t = falloc((size_t)(rb * r));
    for (int64_t i = 0; i < rows; i += rb) {
        int64_t nb = rows - i < rb ? rows - i : rb;
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)nb, r, m, 1.0f, a + i,
                    (int)rows, w, ldw, 0.0f, t, (int)nb);
        for (int c = 0; c < r; c++)
            memcpy(a + c * rows + i, t + c * nb, (size_t)nb * sizeof(float));
    }
    free(t);
}

/* Fill column c0 + t of kb->k, t < nb (made orthogonal to the first m0
 * columns already, n0[t] its norm before that), orthonormal to columns
 * [m0, c0 + t): two rounds of Gram-Schmidt; a column that (nearly) lay in
 * the span is replaced by a random one orthogonal to all before it. */
static void kb_orth_block(kbasis *kb, int m0, int nb, const double *n0, rng *r)
{
    int64_t d = kb->d;
    double *h = xcalloc((size_t)(m0 + nb + 1), sizeof(double));
    for (int t = 0; t < nb; t++) {
        double *v = kb->k + (m0 + t) * d, *base = kb->k + m0 * d;
        for (int round = 0; round < 2 && t > 0; round++) {
            cblas_dgemv(CblasColMajor, CblasTrans, (int)d, t, 1.0, base, (int)d, v, 1, 0.0, h, 1);
            cblas_dgemv(CblasColMajor, CblasNoTrans, (int)d, t, -1.0, base, (int)d, h, 1, 1.0, v,
                        1);
        }
        double n1 = cblas_dnrm2((int)d, v, 1);
        if (n0[t] > 0 && n1 > 1e-9 * n0[t] && isfinite(n1))
            cblas_dscal((int)d, 1.0 / n1, v, 1);
        else {
            for (int64_t j = 0; j < d; j++)
                v[j] = rng_normal(r);
            kb_orth_col(kb, m0 + t, r);
        }
    }
    free(h);
}

/* Block Krylov (block Lanczos with full reorthogonalisation and thick
 * restarts) on A = Xc^T Xc: the basis K grows by a block of b columns per
 * pass, each new block A Q_last made orthogonal to the basis (block
 * Gram-Schmidt twice, dgemm); after every pass, Rayleigh-Ritz on the whole
 * basis: H = K^T A K (dsyev), kept up to date a block of columns at a time,
 * as is G = (AK)^T AK, which gives the Ritz vectors' residuals
 * |A u - theta u|^2 = w^T G w - theta^2. Stops when every one of the top-k
 * Ritz vectors is within tol, estimated by the residual bound
 * sin(angle) <= |A u - theta u| / gap (gap to the nearest other Ritz value)
 * weighted by sqrt(theta_i / theta_1): the error the component adds to the
 * projections relative to their scale. When the basis is full (cap
 * columns), it restarts from the leading Ritz vectors. */
/* The Rayleigh-Ritz state of fit_randomized: P = K^T A K and
 * G = (AK)^T AK (ld cap), the work matrix h, the Ritz values theta and
 * coordinates w (descending, ld m), and gw = G w, pw = P w for the top k. */
typedef struct ritz {
    int cap, k;
    double *hh, *gg, *h, *theta, *w, *gw, *pw;
} ritz;

/* The start block, in kb's first b columns: random combinations of the
 * first batch's rows (centred on their mean), which lean towards the
 * leading components (half a power step for free), plus as much of random
 * Gaussian columns, so that no direction is missing from the start. */
static void kb_start(kbasis *kb, stream *s, int b, rng *r)
{
    int64_t d = kb->d, rows;
    for (int64_t i = 0; i < d * b; i++)
        kb->k[i] = rng_normal(r);
    const float *x = stream_next(s, 0, kb->n, &rows);
    s->done = 0;
    float *g = falloc((size_t)(rows * b)), *v = falloc((size_t)(d * b));
    double *gs = xcalloc((size_t)b, sizeof(double)), *mu = xcalloc((size_t)d, sizeof(double));
    for (int64_t i = 0; i < rows * b; i++) {
        g[i] = (float)rng_normal(r);
        gs[i % b] += g[i];
    }
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d; j++)
            mu[j] += x[i * d + j];
    /* v = (x - 1 mu^T)^T g = x^T g - mu (1^T g). */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, b, (int)rows, 1.0f, x, (int)d, g,
                b, 0.0f, v, b);
    for (int t = 0; t < b; t++) {
        double *c = kb->k + t * d, nv = 0, nr = 0;
        for (int64_t j = 0; j < d; j++) {
            double e = (double)v[j * b + t] - mu[j] / (double)rows * gs[t];
            v[j * b + t] = (float)e;
            nv += e * e;
            nr += c[j] * c[j];
        }
        nv = sqrt(nv);
        nr = sqrt(nr);
        if (nv > 0 && isfinite(nv))
            for (int64_t j = 0; j < d; j++)
                c[j] = c[j] / nr + (double)v[j * b + t] / nv;
    }
    free(g);
    free(v);
    free(gs);
    free(mu);
    for (int t = 0; t < b; t++)
        kb_orth_col(kb, t, r);
}

/* Rayleigh-Ritz on the basis of m = m0 + bb columns: the new columns and
 * rows of P and G, then H = P symmetrised (P is not quite symmetric: AK
 * is computed in float), its eigenpairs into theta and w, descending. */
static void ritz_solve(ritz *z, const kbasis *kb, int m0, int bb, const linalg_rows *src)
{
    int m = m0 + bb, cap = z->cap, d = (int)kb->d;
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, m, bb, d, 1.0, kb->k, d,
                kb->ak + m0 * kb->d, d, 0.0, z->hh + (int64_t)m0 * cap, cap);
    if (m0 > 0)
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, bb, m0, d, 1.0, kb->k + m0 * kb->d,
                    d, kb->ak, d, 0.0, z->hh + m0, cap);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, m, bb, d, 1.0, kb->ak, d,
                kb->ak + m0 * kb->d, d, 0.0, z->gg + (int64_t)m0 * cap, cap);
    for (int j = m0; j < m; j++)
        for (int i = 0; i < m0; i++)
            z->gg[(int64_t)i * cap + j] = z->gg[(int64_t)j * cap + i];
    for (int j = 0; j < m; j++)
        for (int i = 0; i < m; i++)
            z->h[(int64_t)j * m + i] =
                0.5 * (z->hh[(int64_t)j * cap + i] + z->hh[(int64_t)i * cap + j]);
    check_matrix(z->h, (int64_t)m * m, src, "randomized");
    if (LAPACKE_dsyev(LAPACK_COL_MAJOR, 'V', 'U', m, z->h, m, z->theta))
        die("pca: eigen-decomposition failed (LAPACK dsyev)");
    /* Ascending: make column i of w the i-th largest. */
    for (int i = 0; i < m / 2; i++) {
        double t = z->theta[i];
        z->theta[i] = z->theta[m - 1 - i];
        z->theta[m - 1 - i] = t;
    }
    for (int i = 0; i < m; i++)
        memcpy(z->w + (int64_t)i * m, z->h + (int64_t)(m - 1 - i) * m, (size_t)m * sizeof(double));
}

/* The largest estimated error of the top k Ritz vectors of an m-column
 * basis: |A u - theta u|^2 for u = K w, with r = (I - K K^T) AK w +
 * K (P w - theta w), is w^T G w - |P w|^2 + |P w - theta w|^2; over the
 * gap, weighted by sqrt(theta_i / theta_1). */
static double ritz_error(ritz *z, int m, int pass, int debug)
{
    int k = z->k, cap = z->cap;
    const double *w = z->w, *theta = z->theta;
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, k, m, 1.0, z->gg, cap, w, m, 0.0,
                z->gw, m);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, k, m, 1.0, z->hh, cap, w, m, 0.0,
                z->pw, m);
    double estimate = 0;
    for (int i = 0; i < k; i++) {
        const double *wi = w + (int64_t)i * m, *pi = z->pw + (int64_t)i * m;
        double rr = cblas_ddot(m, wi, 1, z->gw + (int64_t)i * m, 1) - cblas_ddot(m, pi, 1, pi, 1);
        for (int a = 0; a < m; a++)
            rr += (pi[a] - theta[i] * wi[a]) * (pi[a] - theta[i] * wi[a]);
        double res = rr > 0 ? sqrt(rr) : 0;
        double gap = theta[i] - theta[i + 1];
        if (i > 0 && theta[i - 1] - theta[i] < gap)
            gap = theta[i - 1] - theta[i];
        double wgt = theta[0] > 0 && theta[i] > 0 ? sqrt(theta[i] / theta[0]) : 0;
        double e = theta[i] <= 0 ? 0 : gap > 0 ? res / gap * wgt : INFINITY;
        if (debug)
            fprintf(stderr, "pca: pass %d basis %d component %d: theta %.6e residual %.3e"
                    " gap %.3e error %.3e\n", pass, m, i + 1, theta[i], res, gap, e);
        if (e > estimate)
            estimate = e;
    }
    return estimate;
}

/* Thick restart of an m-column basis to keep columns: the leading Ritz
 * vectors; their images, coordinates, H (diagonal: theta) and G follow by
 * linearity. */
static void ritz_restart(ritz *z, kbasis *kb, int m, int keep)
{
    const double *w = z->w;
    rot_d(kb->k, kb->d, m, w, m, keep);
    rot_d(kb->ak, kb->d, m, w, m, keep);
    float *wf = falloc((size_t)m * keep);
    for (int64_t i = 0; i < (int64_t)m * keep; i++)
        wf[i] = (float)w[i];
    rot_f(kb->y, kb->n, m, wf, m, keep);
    free(wf);
    double *t1 = xcalloc((size_t)m * keep, sizeof(double));
    double *mats[2] = { z->gg, z->hh };
    for (int q = 0; q < 2; q++) {
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, keep, m, 1.0, mats[q], z->cap,
                    w, m, 0.0, t1, m);
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, keep, keep, m, 1.0, w, m, t1, m, 0.0,
                    mats[q], z->cap);
    }
    free(t1);
}

/* The components (K w) and the fitted rows' projections (Xc U = Y W) of
 * the converged m-column basis. */
static void ritz_finish(linalg_pca *p, const ritz *z, const kbasis *kb, int m)
{
    int64_t n = p->n, d = p->d;
    int k = p->k;
    double *u = xcalloc((size_t)(d * k), sizeof(double));
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)d, k, m, 1.0, kb->k, (int)d, z->w,
                m, 0.0, u, (int)d);
    for (int i = 0; i < k; i++) {
        p->variance[i] = z->theta[i] > 0 ? z->theta[i] / (double)(n - 1) : 0;
        for (int64_t j = 0; j < d; j++)
            p->components[i * d + j] = (float)u[i * d + j];
    }
    free(u);
    float *wk = falloc((size_t)(m * k));
    for (int64_t i = 0; i < (int64_t)m * k; i++)
        wk[i] = (float)z->w[i];
    p->projections = falloc((size_t)(n * k));
    cblas_sgemm(CblasColMajor, CblasTrans, CblasTrans, k, (int)n, m, 1.0f, wk, m, kb->y, (int)n,
                0.0f, p->projections, k);
    free(wk);
}

static void fit_randomized(linalg_pca *p, stream *s, const linalg_pca_opts *o, int b, int cap)
{
    int64_t n = p->n, d = p->d;
    int k = p->k;
    int64_t mn = n < d ? n : d;
    if (cap > mn)
        cap = (int)mn;
    if (b > cap)
        b = cap;
    kbasis kb = { d, n, 0, NULL, NULL, NULL };
    kb.k = xcalloc((size_t)(d * cap), sizeof(double));
    kb.ak = xcalloc((size_t)(d * cap), sizeof(double));
    kb.y = xcalloc((size_t)(n * cap), sizeof(float));
    size_t cc = (size_t)cap * cap;
    ritz z = { cap, k, xcalloc(cc, sizeof(double)), xcalloc(cc, sizeof(double)),
               xcalloc(cc, sizeof(double)), xcalloc((size_t)cap, sizeof(double)),
               xcalloc(cc, sizeof(double)), xcalloc((size_t)cap * k, sizeof(double)),
               xcalloc((size_t)cap * k, sizeof(double)) };
    double *nb = xcalloc((size_t)(d * b), sizeof(double));   /* the next block */
    double *pr = xcalloc((size_t)cap * b, sizeof(double));
    double *n0 = xcalloc((size_t)b, sizeof(double));
    rng r;
    rng_seed(&r, o->seed);
    kb_start(&kb, s, b, &r);
    moments mo = { 0 };
    kb_pass(p, s, &kb, 0, b, &mo);
    int passes = 1, m0 = 0, bb = b;
    double estimate = INFINITY;
    const int debug = getenv("CNN_PCA_DEBUG") != NULL;
    for (;;) {
        int m = m0 + bb;
        kb.m = m;
        double tb = wall_seconds();
        ritz_solve(&z, &kb, m0, bb, s->src);
        int full = m >= mn;
        if (m > k || full) {
            estimate = full ? 0 : ritz_error(&z, m, passes, debug);
            if (estimate <= o->tol || full || passes >= o->max_passes)
                break;
        }
        /* The next block: A Q_last, made orthogonal to the basis. */
        int nbb = b < mn - m ? b : (int)(mn - m);
        for (int t = 0; t < nbb; t++) {
            memcpy(nb + t * d, kb.ak + (m0 + t % bb) * d, (size_t)d * sizeof(double));
            n0[t] = cblas_dnrm2((int)d, nb + t * d, 1);
        }
        for (int round = 0; round < 2; round++) {
            cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, m, nbb, (int)d, 1.0, kb.k, (int)d,
                        nb, (int)d, 0.0, pr, m);
            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)d, nbb, m, -1.0, kb.k,
                        (int)d, pr, m, 1.0, nb, (int)d);
        }
        if (m + nbb > cap) {
            ritz_restart(&z, &kb, m, cap - nbb);
            m = cap - nbb;
        }
        memcpy(kb.k + m * d, nb, (size_t)(d * nbb) * sizeof(double));
        kb_orth_block(&kb, m, nbb, n0, &r);
        double t0 = wall_seconds();
        kb_pass(p, s, &kb, m, nbb, NULL);
        if (debug)
            fprintf(stderr, "pca: pass %d: %.3f s in the rows, %.3f s in the basis\n", passes + 1,
                    wall_seconds() - t0, t0 - tb);
        m0 = m;
        bb = nbb;
        passes++;
    }
    p->passes = passes;
    p->convergence = estimate;
    ritz_finish(p, &z, &kb, kb.m);
    free(kb.k);
    free(kb.ak);
    free(kb.y);
    double *bufs[] = { z.hh, z.gg, z.h, z.theta, z.w, z.gw, z.pw, nb, pr, n0 };
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
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
    if (opt.max_passes <= 0)
        opt.max_passes = 25;
    if (opt.max_passes < 3)
        opt.max_passes = 3;
    if (opt.tol <= 0)
        opt.tol = 3e-4;
    int b = opt.block > 0 ? opt.block : block_width(k);
    const char *meth = opt.method && *opt.method ? opt.method : "auto";
    if (!strcmp(meth, "auto")) {
        int exact = mn <= 1024 || (mn <= EXACT_MAX && 4 * (k + b) >= mn);
        meth = !exact ? "randomized" : d <= n ? "covariance" : "gram";
    } else if (strcmp(meth, "covariance") && strcmp(meth, "gram") && strcmp(meth, "randomized")) {
        die("unknown PCA method '%s' (methods: auto covariance gram randomized)", meth);
    }
    linalg_pca *p = pca_new(n, d, k, meth);

    stream s = { 0 };
    s.src = src;
    /* Rows per batch: 8M / D rows, 32 MiB of floats (the products work on
     * sub-blocks of 4 MiB; 64 MiB batches were no faster). */
    s.batch = opt.batch > 0 ? opt.batch : ((int64_t)8 << 20) / d;
    if (s.batch < 16)
        s.batch = 16;
    if (s.batch > n)
        s.batch = n;
    s.wrap = !strcmp(meth, "randomized") || !strcmp(meth, "gram");
    int64_t expect = !strcmp(meth, "randomized") ? n * opt.max_passes
                   : !strcmp(meth, "gram") ? 3 * n : n;
    s.pr = progress_start("pca", expect);

    linalg_set_threads(opt.threads);
    if (!strcmp(meth, "covariance"))
        fit_covariance(p, &s);
    else if (!strcmp(meth, "gram"))
        fit_gram(p, &s);
    else {
        int64_t cap = opt.basis > 0 ? opt.basis : KRYLOV_BYTES / (16 * d + 4 * n);
        if (cap < k + 2 * b)
            cap = k + 2 * b;
        fit_randomized(p, &s, &opt, b, (int)(cap < mn ? cap : mn));
    }
    stream_end(&s);
    progress_end(s.pr);

    /* Finite features can still overflow float products (values near
     * 1e38): the result is checked, never reported as explaining all the
     * variance. */
    int bad = !isfinite(p->total_variance);
    for (int i = 0; i < k; i++)
        bad |= !isfinite(p->variance[i]);
    bad |= finite_first_bad(p->mean, d) >= 0 || finite_first_bad(p->components, (int64_t)k * d) >= 0;
    if (p->projections)
        bad |= finite_first_bad(p->projections, n * (int64_t)k) >= 0;
    if (bad)
        too_large(src, p->method);
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

linalg_summary linalg_summary_opt(const char *opt, const char *s)
{
    int k = linalg_summary_parse(s);
    if (k < 0)
        die_usage("%s: '%s' is not one of none, max, mean, absmax", opt, s);
    return (linalg_summary)k;
}
