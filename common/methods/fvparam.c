/* fvparam: Fourier and colour-decorrelated image parameterisations and
 * their adjoints (see fvparam.h). */
#include "methods/fvparam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/par.h"

void fv_colour_default(double M[3][3])
{
    static const double s[3][3] = {
        { 0.26, 0.09, 0.02 }, { 0.27, 0.00, -0.05 }, { 0.27, -0.09, 0.03 },
    };
    double mx = 0;
    for (int j = 0; j < 3; j++) {
        double n = sqrt(s[0][j] * s[0][j] + s[1][j] * s[1][j] + s[2][j] * s[2][j]);
        mx = n > mx ? n : mx;
    }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            M[i][j] = s[i][j] / mx;
}

/* Eigenpairs of a symmetric 3 x 3 matrix by cyclic Jacobi rotations:
 * a is destroyed, its diagonal left holding the eigenvalues; columns of V
 * are the eigenvectors. */
static void jacobi3(double a[3][3], double V[3][3])
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            V[i][j] = i == j;
    for (int sweep = 0; sweep < 50; sweep++)
        for (int p = 0; p < 2; p++)
            for (int q = p + 1; q < 3; q++) {
                if (fabs(a[p][q]) < 1e-300)
                    continue;
                double th = (a[q][q] - a[p][p]) / (2 * a[p][q]);
                double t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < 3; k++) {   /* a <- a J */
                    double akp = a[k][p], akq = a[k][q];
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for (int k = 0; k < 3; k++) {   /* a <- J^T a */
                    double apk = a[p][k], aqk = a[q][k];
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for (int k = 0; k < 3; k++) {
                    double vkp = V[k][p], vkq = V[k][q];
                    V[k][p] = c * vkp - s * vkq;
                    V[k][q] = s * vkp + c * vkq;
                }
            }
}

int fv_colour_stats(const float *x, int64_t n, int64_t HW, double M[3][3])
{
    double mean[3] = { 0 }, cov[3][3] = { { 0 } }, N = (double)(n * HW);
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            for (int64_t p = 0; p < HW; p++)
                mean[c] += x[(i * 3 + c) * HW + p] / N;
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = 0; p < HW; p++) {
            double d[3];
            for (int c = 0; c < 3; c++)
                d[c] = x[(i * 3 + c) * HW + p] - mean[c];
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++)
                    cov[a][b] += d[a] * d[b] / N;
        }
    double V[3][3];
    jacobi3(cov, V);
    int ord[3] = { 0, 1, 2 };
    for (int a = 0; a < 3; a++)
        for (int b = a + 1; b < 3; b++)
            if (cov[ord[b]][ord[b]] > cov[ord[a]][ord[a]]) {
                int t = ord[a];
                ord[a] = ord[b];
                ord[b] = t;
            }
    double mx = 0;
    for (int j = 0; j < 3; j++) {
        double lam = cov[ord[j]][ord[j]], r = sqrt(lam > 0 ? lam : 0), sum = 0;
        for (int i = 0; i < 3; i++)
            sum += V[i][ord[j]];
        for (int i = 0; i < 3; i++)
            M[i][j] = (sum < 0 ? -r : r) * V[i][ord[j]];
        mx = r > mx ? r : mx;   /* V's columns are unit: the column norm is r */
    }
    if (!(mx > 0))
        return -1;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            M[i][j] /= mx;
    return 0;
}

/* Complex DFTs of one length n over a batch of B vectors at once: element
 * j of vector b lies at x[j * ld + b], so every step is a loop over b that
 * the compiler vectorises. Forward (X_k = sum_j x_j e^{-2 pi i jk/n}); the
 * inverse is conj(DFT(conj x)). Mixed-radix Cooley-Tukey over n's prime
 * factors while they are all <= FFT_MAXRADIX (224 = 2^5 7; the odd radices
 * pair x_j with x_{r-j}), else Bluestein's chirp-z with a power-of-two
 * convolution: O(n log n) for every n. */
#define FFT_MAXRADIX 7

struct fvfft {
    int64_t n, nf, f[64];
    double *wr, *wi;           /* e^{-2 pi i k/n}, k < n */
    double rc[FFT_MAXRADIX + 1][FFT_MAXRADIX], rs[FFT_MAXRADIX + 1][FFT_MAXRADIX];
                               /* radix r: cos, sin of 2 pi t/r */
    struct fvfft *sub;         /* Bluestein: the power-of-two plan */
    double *cr, *ci;           /* chirp e^{-pi i k^2/n}, k < n */
    double *br, *bi;           /* DFT of the conjugate chirp, sub->n */
};

static fvfft *fft_plan(int64_t n);

/* Doubles of work fft_run needs for a batch of B. */
static size_t fft_work(const fvfft *p, int64_t B)
{
    if (p->sub)
        return (size_t)(2 * p->sub->n * B) + fft_work(p->sub, B);
    return (size_t)(2 * p->n * B + 2 * FFT_MAXRADIX * B);
}

/* The DFT of the n elements x_{j xs} (each B wide, ld apart) into y
 * (element j at y + j B); tmp holds 2 FFT_MAXRADIX B. */
static void fft_rec(const fvfft *p, const double *xr, const double *xi, int64_t xs, int64_t ld,
                    double *restrict yr, double *restrict yi, int64_t B, int64_t n, int fi,
                    double *restrict tmp)
{
    if (n == 1) {
        memcpy(yr, xr, (size_t)B * sizeof *yr);
        memcpy(yi, xi, (size_t)B * sizeof *yi);
        return;
    }
    int64_t r = p->f[fi], m = n / r, step = p->n / n;
    for (int64_t j = 0; j < r; j++)
        fft_rec(p, xr + j * xs * ld, xi + j * xs * ld, xs * r, ld, yr + j * m * B,
                yi + j * m * B, B, m, fi + 1, tmp);
    if (r == 2) {   /* the butterfly: y_k, y_{k+m} = a +- w^k b */
        for (int64_t k = 0; k < m; k++) {
            double wr = p->wr[k * step], wi = p->wi[k * step];
            double *restrict ar = yr + k * B, *restrict ai = yi + k * B;
            double *restrict cr = yr + (m + k) * B, *restrict ci = yi + (m + k) * B;
            for (int64_t b = 0; b < B; b++) {
                double tr = cr[b] * wr - ci[b] * wi, ti = cr[b] * wi + ci[b] * wr;
                double a = ar[b], c = ai[b];
                ar[b] = a + tr, ai[b] = c + ti;
                cr[b] = a - tr, ci[b] = c - ti;
            }
        }
        return;
    }
    /* Odd r: s_j = w^{jk} y_j; with a_j = s_j + s_{r-j}, d_j = s_j -
     * s_{r-j}, y_q = s_0 + sum_j a_j cos(2 pi jq/r) - i d_j sin(..) and
     * y_{r-q} the same with + i d_j sin(..), j, q = 1 .. (r-1)/2. */
    double *sr = tmp, *si = tmp + FFT_MAXRADIX * B;
    int64_t h = (r - 1) / 2;
    for (int64_t k = 0; k < m; k++) {
        for (int64_t j = 1; j < r; j++) {
            int64_t t = (j * k * step) % p->n;
            double wr = p->wr[t], wi = p->wi[t];
            const double *restrict ar = yr + (j * m + k) * B, *restrict ai = yi + (j * m + k) * B;
            double *restrict qr = sr + j * B, *restrict qi = si + j * B;
            for (int64_t b = 0; b < B; b++) {
                qr[b] = ar[b] * wr - ai[b] * wi;
                qi[b] = ar[b] * wi + ai[b] * wr;
            }
        }
        for (int64_t j = 1; j <= h; j++) {   /* s_j <- a_j, s_{r-j} <- d_j */
            double *restrict pr = sr + j * B, *restrict pi = si + j * B;
            double *restrict qr = sr + (r - j) * B, *restrict qi = si + (r - j) * B;
            for (int64_t b = 0; b < B; b++) {
                double u = pr[b], v = pi[b];
                pr[b] = u + qr[b], pi[b] = v + qi[b];
                qr[b] = u - qr[b], qi[b] = v - qi[b];
            }
        }
        double *restrict y0r = yr + k * B, *restrict y0i = yi + k * B;
        for (int64_t q = 1; q <= h; q++) {   /* u <- the cos sum, v <- the sin sum */
            double *restrict ur = yr + (q * m + k) * B, *restrict ui = yi + (q * m + k) * B;
            int64_t o = ((r - q) * m + k) * B;
            double *restrict vr = yr + o, *restrict vi = yi + o;
            memcpy(ur, y0r, (size_t)B * sizeof *ur);
            memcpy(ui, y0i, (size_t)B * sizeof *ui);
            memset(vr, 0, (size_t)B * sizeof *vr);
            memset(vi, 0, (size_t)B * sizeof *vi);
            for (int64_t j = 1; j <= h; j++) {
                int64_t t = j * q % r;
                double c = p->rc[r][t], sn = p->rs[r][t];
                const double *restrict pr = sr + j * B, *restrict pi = si + j * B;
                const double *restrict dr = sr + (r - j) * B, *restrict di = si + (r - j) * B;
                for (int64_t b = 0; b < B; b++) {
                    ur[b] += pr[b] * c, ui[b] += pi[b] * c;
                    vr[b] += di[b] * sn, vi[b] -= dr[b] * sn;
                }
            }
            for (int64_t b = 0; b < B; b++) {
                double Rr = ur[b], Ri = ui[b], Ir = vr[b], Ii = vi[b];
                ur[b] = Rr + Ir, ui[b] = Ri + Ii;
                vr[b] = Rr - Ir, vi[b] = Ri - Ii;
            }
        }
        for (int64_t j = 1; j <= h; j++)
            for (int64_t b = 0; b < B; b++)
                y0r[b] += sr[j * B + b], y0i[b] += si[j * B + b];
    }
}

/* In place, forward, on B vectors whose elements lie ld apart. */
static void fft_run(const fvfft *p, double *xr, double *xi, int64_t ld, int64_t B, double *work)
{
    int64_t n = p->n;
    if (!p->sub) {
        double *tr = work, *ti = work + n * B;
        fft_rec(p, xr, xi, 1, ld, tr, ti, B, n, 0, work + 2 * n * B);
        for (int64_t j = 0; j < n; j++) {
            memcpy(xr + j * ld, tr + j * B, (size_t)B * sizeof *xr);
            memcpy(xi + j * ld, ti + j * B, (size_t)B * sizeof *xi);
        }
        return;
    }
    int64_t M = p->sub->n;
    double *ar = work, *ai = work + M * B, *sw = work + 2 * M * B;
    for (int64_t k = 0; k < M; k++)
        for (int64_t b = 0; b < B; b++) {
            double a = k < n ? xr[k * ld + b] : 0, c = k < n ? xi[k * ld + b] : 0;
            ar[k * B + b] = k < n ? a * p->cr[k] - c * p->ci[k] : 0;
            ai[k * B + b] = k < n ? a * p->ci[k] + c * p->cr[k] : 0;
        }
    fft_run(p->sub, ar, ai, B, B, sw);
    for (int64_t k = 0; k < M; k++)   /* times DFT(b), then conj for the inverse */
        for (int64_t b = 0; b < B; b++) {
            double a = ar[k * B + b], c = ai[k * B + b];
            ar[k * B + b] = a * p->br[k] - c * p->bi[k];
            ai[k * B + b] = -(a * p->bi[k] + c * p->br[k]);
        }
    fft_run(p->sub, ar, ai, B, B, sw);
    for (int64_t k = 0; k < n; k++)   /* conj, / M, times the chirp */
        for (int64_t b = 0; b < B; b++) {
            double a = ar[k * B + b] / (double)M, c = -ai[k * B + b] / (double)M;
            xr[k * ld + b] = a * p->cr[k] - c * p->ci[k];
            xi[k * ld + b] = a * p->ci[k] + c * p->cr[k];
        }
}

static void fft_bluestein(fvfft *p)
{
    int64_t n = p->n, M = 1;
    while (M < 2 * n - 1)
        M *= 2;
    p->sub = fft_plan(M);
    p->cr = xmalloc((size_t)n * sizeof(double));
    p->ci = xmalloc((size_t)n * sizeof(double));
    for (int64_t k = 0; k < n; k++) {   /* k^2 mod 2n keeps the angle exact */
        double a = M_PI * (double)((k * k) % (2 * n)) / (double)n;
        p->cr[k] = cos(a);
        p->ci[k] = -sin(a);
    }
    p->br = xcalloc((size_t)M, sizeof(double));
    p->bi = xcalloc((size_t)M, sizeof(double));
    for (int64_t k = 0; k < n; k++) {   /* b_k = conj chirp, at k and M - k */
        p->br[k] = p->cr[k];
        p->bi[k] = -p->ci[k];
        if (k) {
            p->br[M - k] = p->cr[k];
            p->bi[M - k] = -p->ci[k];
        }
    }
    double *w = xmalloc(fft_work(p->sub, 1) * sizeof *w);
    fft_run(p->sub, p->br, p->bi, 1, 1, w);
    free(w);
}

static fvfft *fft_plan(int64_t n)
{
    fvfft *p = xcalloc(1, sizeof *p);
    p->n = n;
    int64_t m = n;
    for (int64_t r = 2; r <= FFT_MAXRADIX && m > 1; r++)
        while (m % r == 0) {
            p->f[p->nf++] = r;
            m /= r;
        }
    if (m > 1) {
        fft_bluestein(p);
        return p;
    }
    p->wr = xmalloc((size_t)n * sizeof(double));
    p->wi = xmalloc((size_t)n * sizeof(double));
    for (int64_t k = 0; k < n; k++) {
        p->wr[k] = cos(2 * M_PI * (double)k / (double)n);
        p->wi[k] = -sin(2 * M_PI * (double)k / (double)n);
    }
    for (int r = 3; r <= FFT_MAXRADIX; r += 2)
        for (int t = 0; t < r; t++) {
            p->rc[r][t] = cos(2 * M_PI * t / r);
            p->rs[r][t] = sin(2 * M_PI * t / r);
        }
    return p;
}

static void fft_free(fvfft *p)
{
    if (!p)
        return;
    fft_free(p->sub);
    free(p->wr);
    free(p->wi);
    free(p->cr);
    free(p->ci);
    free(p->br);
    free(p->bi);
    free(p);
}

/* fft_batch's arguments. */
typedef struct batch_job {
    fvparam *f;
    const fvfft *p;
    double *xr, *xi;
    int64_t B;
    int inverse;
} batch_job;

/* Part t's vectors (a multiple of 4 of them but for the last part's). */
static void batch_part(void *ctx, int t, int nt)
{
    const batch_job *a = ctx;
    const fvfft *p = a->p;
    double *xr = a->xr, *xi = a->xi;
    int64_t B = a->B;
    int64_t lo = (B * t / nt) & ~(int64_t)3;
    int64_t hi = t == nt - 1 ? B : (B * (t + 1) / nt) & ~(int64_t)3;
    if (a->inverse)
        for (int64_t j = 0; j < p->n; j++)
            for (int64_t b = lo; b < hi; b++)
                xi[j * B + b] = -xi[j * B + b];
    fft_run(p, xr + lo, xi + lo, B, hi - lo, a->f->work[t]);
    if (a->inverse)
        for (int64_t j = 0; j < p->n; j++)
            for (int64_t b = lo; b < hi; b++)
                xi[j * B + b] = -xi[j * B + b];
}

/* The DFT (inverse: unnormalised, e^{+2 pi i jk/n}) of B vectors whose
 * elements lie B apart, in place, the batch split among the parts
 * (each vector's arithmetic is the same whatever the split). */
static void fft_batch(fvparam *f, const fvfft *p, double *xr, double *xi, int64_t B, int inverse)
{
    int nt = par_threads();
    nt = nt < f->nwork ? nt : f->nwork;
    if (B < 64)
        nt = 1;
    batch_job a = { f, p, xr, xi, B, inverse };
    par_run(nt, batch_part, &a);
}

void fvparam_init(fvparam *f, int64_t C, int64_t H, int64_t W, int fft, int decorrelate,
                  const double M[3][3])
{
    memset(f, 0, sizeof *f);
    f->C = C, f->H = H, f->W = W, f->Wf = W / 2 + 1;
    f->fft = fft;
    f->decorrelate = decorrelate;
    if (M)
        memcpy(f->M, M, sizeof f->M);
    else
        fv_colour_default(f->M);
    f->pre = xmalloc((size_t)(C * H * W) * sizeof *f->pre);
    f->gb = xmalloc((size_t)(C * H * W) * sizeof *f->gb);
    if (!fft)
        return;
    int64_t Wf = f->Wf;
    f->scale = xmalloc((size_t)(H * Wf) * sizeof *f->scale);
    double lo = 1.0 / (double)(H > W ? H : W);
    for (int64_t k = 0; k < H; k++)
        for (int64_t l = 0; l < Wf; l++) {
            /* numpy.fft.fftfreq: k/H for k < (H+1)/2, else (k-H)/H. */
            double fy = (double)(k < (H + 1) / 2 ? k : k - H) / (double)H;
            double fx = (double)l / (double)W, fr = sqrt(fx * fx + fy * fy);
            f->scale[k * Wf + l] = 1.0 / (fr > lo ? fr : lo) / 4.0 / sqrt((double)(H * W));
        }
    f->ph = fft_plan(H);
    f->pw = fft_plan(W);
    f->B2 = (C * H + 1) / 2;
    f->Xr = xmalloc((size_t)(H * C * Wf) * sizeof(double));
    f->Xi = xmalloc((size_t)(H * C * Wf) * sizeof(double));
    f->Zr = xmalloc((size_t)(W * f->B2) * sizeof(double));
    f->Zi = xmalloc((size_t)(W * f->B2) * sizeof(double));
    int nt = par_threads();
    f->nwork = nt < 1 ? 1 : nt > FV_MAXWORK ? FV_MAXWORK : nt;
    size_t a = fft_work(f->ph, C * Wf), b = fft_work(f->pw, f->B2);
    for (int t = 0; t < f->nwork; t++)   /* room for a whole batch: any split fits */
        f->work[t] = xmalloc((a > b ? a : b) * sizeof(double));
}

void fvparam_free(fvparam *f)
{
    free(f->pre);
    free(f->gb);
    free(f->scale);
    fft_free(f->ph);
    fft_free(f->pw);
    free(f->Xr);
    free(f->Xi);
    free(f->Zr);
    free(f->Zi);
    for (int t = 0; t < f->nwork; t++)
        free(f->work[t]);
    memset(f, 0, sizeof *f);
}

int64_t fvparam_size(const fvparam *f)
{
    return f->fft ? f->C * f->H * f->Wf * 2 : f->C * f->H * f->W;
}

/* irfft2 weight of column l: 1 for fx = 0 and the Nyquist column of an
 * even W, 2 for the others (each stands for itself and its conjugate). */
static double col_weight(const fvparam *f, int64_t l)
{
    return l == 0 || (f->W % 2 == 0 && l == f->W / 2) ? 1.0 : 2.0;
}

/* A pass's arguments: f, its inputs x (and y), its output out. */
typedef struct fv_job {
    fvparam *f;
    const float *x, *y;
    float *out;
} fv_job;

/* The scaled spectrum x into X, rows k0..k1-1. */
static void spec_in(void *ctx, int64_t k0, int64_t k1, int t)
{
    const fv_job *a = ctx;
    const fvparam *f = a->f;
    const float *p = a->x;
    int64_t C = f->C, H = f->H, Wf = f->Wf, B1 = C * Wf;
    double *Xr = f->Xr, *Xi = f->Xi;
    (void)t;
    for (int64_t k = k0; k < k1; k++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t l = 0; l < Wf; l++) {
                double s = f->scale[k * Wf + l];
                const float *pc = p + (c * H * Wf + k * Wf + l) * 2;
                Xr[k * B1 + c * Wf + l] = s * pc[0];
                Xi[k * B1 + c * Wf + l] = s * pc[1];
            }
}

/* Columns m0..m1-1 of the rows' Hermitian wholes, two rows a pair, into Z. */
static void spec_rows(void *ctx, int64_t m0, int64_t m1, int t)
{
    const fv_job *a = ctx;
    const fvparam *f = a->f;
    int64_t C = f->C, H = f->H, W = f->W, Wf = f->Wf, B1 = C * Wf, B2 = f->B2, R = C * H;
    const double *Xr = f->Xr, *Xi = f->Xi;
    double *Zr = f->Zr, *Zi = f->Zi;
    int nyq = W % 2 == 0;
    (void)t;
    for (int64_t m = m0; m < m1; m++) {
        int64_t l = m < Wf ? m : W - m;
        double sg = m < Wf ? 1 : -1, keep = l == 0 || (nyq && l == W / 2) ? 0 : 1;
        for (int64_t q = 0; q < B2; q++) {
            int64_t r1 = q, r2 = q + B2;
            const double *y1 = Xr + (r1 % H) * B1 + (r1 / H) * Wf + l;
            double ar = *y1, ai = sg * keep * Xi[y1 - Xr], br = 0, bi = 0;
            if (r2 < R) {
                int64_t o = (r2 % H) * B1 + (r2 / H) * Wf + l;
                br = Xr[o], bi = sg * keep * Xi[o];
            }
            Zr[m * B2 + q] = ar - bi;
            Zi[m * B2 + q] = ai + br;
        }
    }
}

/* Row pairs q0..q1-1 of Z into the image out. */
static void spec_out(void *ctx, int64_t q0, int64_t q1, int t)
{
    const fv_job *a = ctx;
    const fvparam *f = a->f;
    float *b = a->out;
    int64_t W = f->W, B2 = f->B2, R = f->C * f->H;
    const double *Zr = f->Zr, *Zi = f->Zi;
    (void)t;
    for (int64_t q = q0; q < q1; q++)
        for (int64_t m = 0; m < W; m++) {
            b[q * W + m] = (float)Zr[m * B2 + q];
            if (q + B2 < R)
                b[(q + B2) * W + m] = (float)Zi[m * B2 + q];
        }
}

/* Basis image b (C x H x W) from the spectrum p: an inverse DFT down
 * every column (c, l) of the scaled spectrum at once (X: H x C Wf), then
 * along the rows. A row's half spectrum Y_l (l < Wf) is extended to the
 * Hermitian whole (Y_{W-l} = conj Y_l; the imaginary parts of fx = 0 and
 * 1/2 dropped, as irfft2 does), whose inverse DFT is real; rows q and
 * q + B2 (B2 = ceil(C H / 2)) go through one complex DFT as A + i B, the
 * first row the real part of the result, the second the imaginary. */
static void spectrum_to_image(fvparam *f, const float *p, float *b)
{
    int T = par_threads();
    fv_job a = { f, p, NULL, b };
    par_for(f->H, T, spec_in, &a);
    fft_batch(f, f->ph, f->Xr, f->Xi, f->C * f->Wf, 1);
    par_for(f->W, T, spec_rows, &a);
    fft_batch(f, f->pw, f->Zr, f->Zi, f->B2, 1);
    par_for(f->B2, T, spec_out, &a);
}

/* The image gradient x's row pairs into Z, columns m0..m1-1. */
static void grad_in(void *ctx, int64_t m0, int64_t m1, int t)
{
    const fv_job *a = ctx;
    const fvparam *f = a->f;
    const float *gb = a->x;
    int64_t W = f->W, B2 = f->B2, R = f->C * f->H;
    double *Zr = f->Zr, *Zi = f->Zi;
    (void)t;
    for (int64_t m = m0; m < m1; m++)
        for (int64_t q = 0; q < B2; q++) {
            Zr[m * B2 + q] = gb[q * W + m];
            Zi[m * B2 + q] = q + B2 < R ? gb[(q + B2) * W + m] : 0;
        }
}

/* Columns l0..l1-1 of the row pairs' DFTs, split and weighted, into X. */
static void grad_rows(void *ctx, int64_t l0, int64_t l1, int t)
{
    const fv_job *a = ctx;
    const fvparam *f = a->f;
    int64_t C = f->C, H = f->H, W = f->W, Wf = f->Wf, B1 = C * Wf, B2 = f->B2, R = C * H;
    double *Xr = f->Xr, *Xi = f->Xi;
    const double *Zr = f->Zr, *Zi = f->Zi;
    (void)t;
    for (int64_t l = l0; l < l1; l++) {
        int64_t l2 = (W - l) % W;
        double w = col_weight(f, l) / 2;
        for (int64_t q = 0; q < B2; q++) {
            double zr = Zr[l * B2 + q], zi = Zi[l * B2 + q];
            double yr = Zr[l2 * B2 + q], yi = Zi[l2 * B2 + q];
            int64_t r1 = q, r2 = q + B2, o1 = (r1 % H) * B1 + (r1 / H) * Wf + l;
            Xr[o1] = w * (zr + yr);
            Xi[o1] = w * (zi - yi);
            if (r2 < R) {
                int64_t o2 = (r2 % H) * B1 + (r2 / H) * Wf + l;
                Xr[o2] = w * (zi + yi);
                Xi[o2] = -w * (zr - yr);
            }
        }
    }
}

/* Rows k0..k1-1 of X, scaled, into the spectrum gradient out. */
static void grad_out(void *ctx, int64_t k0, int64_t k1, int t)
{
    const fv_job *a = ctx;
    const fvparam *f = a->f;
    float *gp = a->out;
    int64_t C = f->C, H = f->H, Wf = f->Wf, B1 = C * Wf;
    const double *Xr = f->Xr, *Xi = f->Xi;
    (void)t;
    for (int64_t k = k0; k < k1; k++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t l = 0; l < Wf; l++) {
                double s = f->scale[k * Wf + l];
                float *pc = gp + (c * H * Wf + k * Wf + l) * 2;
                pc[0] = (float)(s * Xr[k * B1 + c * Wf + l]);
                pc[1] = (float)(s * Xi[k * B1 + c * Wf + l]);
            }
}

/* The adjoint: d/d p (gp) from d/d b (gb): the forward DFT of each row
 * (two real rows q, q + B2 as one complex row z = a + i b, then A_l =
 * (z_l + conj z_{W-l}) / 2, B_l = (z_l - conj z_{W-l}) / 2i), its first
 * Wf terms weighted, then down every column at once, scaled. */
static void image_to_spectrum_grad(fvparam *f, const float *gb, float *gp)
{
    int T = par_threads();
    fv_job a = { f, gb, NULL, gp };
    par_for(f->W, T, grad_in, &a);
    fft_batch(f, f->pw, f->Zr, f->Zi, f->B2, 0);
    par_for(f->Wf, T, grad_rows, &a);
    fft_batch(f, f->ph, f->Xr, f->Xi, f->C * f->Wf, 0);
    par_for(f->H, T, grad_out, &a);
}

/* Pixels q0..q1-1 of out through the colour matrix M (adjoint: M^T). */
static void colour_fwd(void *ctx, int64_t q0, int64_t q1, int t)
{
    const fv_job *a = ctx;
    const fvparam *f = a->f;
    float *pre = a->out;
    int64_t HW = f->H * f->W;
    (void)t;
    for (int64_t q = q0; q < q1; q++) {
        double b[3] = { pre[q], pre[HW + q], pre[2 * HW + q] };
        for (int c = 0; c < 3; c++)
            pre[c * HW + q] = (float)(f->M[c][0] * b[0] + f->M[c][1] * b[1] + f->M[c][2] * b[2]);
    }
}

static void colour_adj(void *ctx, int64_t q0, int64_t q1, int t)
{
    const fv_job *a = ctx;
    const fvparam *f = a->f;
    float *g = a->out;
    int64_t HW = f->H * f->W;
    (void)t;
    for (int64_t q = q0; q < q1; q++) {
        double v[3] = { g[q], g[HW + q], g[2 * HW + q] };
        for (int j = 0; j < 3; j++)
            g[j * HW + q] = (float)(f->M[0][j] * v[0] + f->M[1][j] * v[1] + f->M[2][j] * v[2]);
    }
}

/* The sigmoid of x, items i0..i1-1, into out. */
static void sigmoid_fwd(void *ctx, int64_t i0, int64_t i1, int t)
{
    const fv_job *a = ctx;
    const float *pre = a->x;
    float *img = a->out;
    (void)t;
    for (int64_t i = i0; i < i1; i++)
        img[i] = (float)(1.0 / (1.0 + exp(-(double)pre[i])));
}

/* The sigmoid's adjoint: the gradient x through the image y into out. */
static void sigmoid_adj(void *ctx, int64_t i0, int64_t i1, int t)
{
    const fv_job *a = ctx;
    const float *gimg = a->x, *img = a->y;
    float *g = a->out;
    (void)t;
    for (int64_t i = i0; i < i1; i++)
        g[i] = gimg[i] * img[i] * (1 - img[i]);
}

void fvparam_image(fvparam *f, const float *p, float *img)
{
    int64_t HW = f->H * f->W, D = f->C * HW;
    int T = par_threads();
    if (f->fft)
        spectrum_to_image(f, p, f->pre);
    else
        memcpy(f->pre, p, (size_t)D * sizeof(float));
    fv_job a = { f, f->pre, NULL, f->pre };
    if (f->decorrelate)
        par_for(HW, T, colour_fwd, &a);
    a.out = img;
    par_for(D, T, sigmoid_fwd, &a);
}

void fvparam_backward(fvparam *f, const float *gimg, const float *img, float *gp)
{
    int64_t HW = f->H * f->W, D = f->C * HW;
    int T = par_threads();
    float *g = f->fft ? f->gb : gp;
    fv_job a = { f, gimg, img, g };
    par_for(D, T, sigmoid_adj, &a);
    if (f->decorrelate)
        par_for(HW, T, colour_adj, &a);
    if (f->fft)
        image_to_spectrum_grad(f, f->gb, gp);
}
