/* fvparam: Fourier and colour-decorrelated image parameterisations and
 * their adjoints (see fvparam.h). */
#include "methods/fvparam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

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

/* A complex DFT of one length n, forward (X_k = sum_j x_j e^{-2 pi i jk/n});
 * the inverse is conj(DFT(conj x)). Mixed-radix Cooley-Tukey over n's
 * prime factors while they are all <= FFT_MAXRADIX (224 = 2^5 7), else
 * Bluestein's chirp-z with a power-of-two convolution: O(n log n) for
 * every n. */
#define FFT_MAXRADIX 7

struct fvfft {
    int64_t n, nf, f[64];
    double *wr, *wi;           /* e^{-2 pi i k/n}, k < n */
    double *tr, *ti;           /* n work (the recursion's output) */
    struct fvfft *sub;         /* Bluestein: the power-of-two plan */
    double *cr, *ci;           /* chirp e^{-pi i k^2/n}, k < n */
    double *br, *bi;           /* DFT of the conjugate chirp, sub->n */
    double *ar, *ai;           /* sub->n work */
};

static fvfft *fft_plan(int64_t n);

static void fft_rec(const fvfft *p, const double *xr, const double *xi, int64_t stride,
                    double *yr, double *yi, int64_t n, int fi)
{
    if (n == 1) {
        yr[0] = xr[0];
        yi[0] = xi[0];
        return;
    }
    int64_t r = p->f[fi], m = n / r, step = p->n / n;
    for (int64_t j = 0; j < r; j++)
        fft_rec(p, xr + j * stride, xi + j * stride, stride * r, yr + j * m, yi + j * m, m, fi + 1);
    if (r == 2) {   /* the butterfly: y_k, y_{k+m} = a +- w^k b */
        for (int64_t k = 0; k < m; k++) {
            int64_t t = k * step;
            double br = yr[m + k] * p->wr[t] - yi[m + k] * p->wi[t];
            double bi = yr[m + k] * p->wi[t] + yi[m + k] * p->wr[t];
            double ar = yr[k], ai = yi[k];
            yr[k] = ar + br, yi[k] = ai + bi;
            yr[m + k] = ar - br, yi[m + k] = ai - bi;
        }
        return;
    }
    double sr[FFT_MAXRADIX], si[FFT_MAXRADIX];
    for (int64_t k = 0; k < m; k++) {
        for (int64_t j = 0; j < r; j++) {   /* twiddle the j-th sub-DFT's k-th */
            int64_t t = (j * k * step) % p->n;
            double a = yr[j * m + k], b = yi[j * m + k];
            sr[j] = a * p->wr[t] - b * p->wi[t];
            si[j] = a * p->wi[t] + b * p->wr[t];
        }
        for (int64_t q = 0; q < r; q++) {   /* a length-r DFT of them */
            double ar = 0, ai = 0;
            for (int64_t j = 0; j < r; j++) {
                int64_t t = (j * q % r) * (p->n / r);
                ar += sr[j] * p->wr[t] - si[j] * p->wi[t];
                ai += sr[j] * p->wi[t] + si[j] * p->wr[t];
            }
            yr[q * m + k] = ar;
            yi[q * m + k] = ai;
        }
    }
}

/* In place, forward. */
static void fft_run(fvfft *p, double *xr, double *xi)
{
    int64_t n = p->n;
    if (!p->sub) {
        fft_rec(p, xr, xi, 1, p->tr, p->ti, n, 0);
        memcpy(xr, p->tr, (size_t)n * sizeof *xr);
        memcpy(xi, p->ti, (size_t)n * sizeof *xi);
        return;
    }
    int64_t M = p->sub->n;
    for (int64_t k = 0; k < M; k++) {
        double a = k < n ? xr[k] : 0, b = k < n ? xi[k] : 0;
        p->ar[k] = k < n ? a * p->cr[k] - b * p->ci[k] : 0;
        p->ai[k] = k < n ? a * p->ci[k] + b * p->cr[k] : 0;
    }
    fft_run(p->sub, p->ar, p->ai);
    for (int64_t k = 0; k < M; k++) {   /* times DFT(b), then conj for the inverse */
        double a = p->ar[k], b = p->ai[k];
        p->ar[k] = a * p->br[k] - b * p->bi[k];
        p->ai[k] = -(a * p->bi[k] + b * p->br[k]);
    }
    fft_run(p->sub, p->ar, p->ai);
    for (int64_t k = 0; k < n; k++) {   /* conj, / M, times the chirp */
        double a = p->ar[k] / (double)M, b = -p->ai[k] / (double)M;
        xr[k] = a * p->cr[k] - b * p->ci[k];
        xi[k] = a * p->ci[k] + b * p->cr[k];
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
    p->ar = xmalloc((size_t)M * sizeof(double));
    p->ai = xmalloc((size_t)M * sizeof(double));
    for (int64_t k = 0; k < n; k++) {   /* b_k = conj chirp, at k and M - k */
        p->br[k] = p->cr[k];
        p->bi[k] = -p->ci[k];
        if (k) {
            p->br[M - k] = p->cr[k];
            p->bi[M - k] = -p->ci[k];
        }
    }
    fft_run(p->sub, p->br, p->bi);
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
    p->tr = xmalloc((size_t)n * sizeof(double));
    p->ti = xmalloc((size_t)n * sizeof(double));
    for (int64_t k = 0; k < n; k++) {
        p->wr[k] = cos(2 * M_PI * (double)k / (double)n);
        p->wi[k] = -sin(2 * M_PI * (double)k / (double)n);
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
    free(p->tr);
    free(p->ti);
    free(p->cr);
    free(p->ci);
    free(p->br);
    free(p->bi);
    free(p->ar);
    free(p->ai);
    free(p);
}

/* The inverse (unnormalised, e^{+2 pi i jk/n}) in place. */
static void fft_inverse(fvfft *p, double *xr, double *xi)
{
    for (int64_t k = 0; k < p->n; k++)
        xi[k] = -xi[k];
    fft_run(p, xr, xi);
    for (int64_t k = 0; k < p->n; k++)
        xi[k] = -xi[k];
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
    int64_t L = H > W ? H : W;
    f->br = xmalloc((size_t)L * sizeof(double));
    f->bi = xmalloc((size_t)L * sizeof(double));
    f->Yr = xmalloc((size_t)(C * H * Wf) * sizeof(double));
    f->Yi = xmalloc((size_t)(C * H * Wf) * sizeof(double));
}

void fvparam_free(fvparam *f)
{
    free(f->pre);
    free(f->gb);
    free(f->scale);
    fft_free(f->ph);
    fft_free(f->pw);
    free(f->br);
    free(f->bi);
    free(f->Yr);
    free(f->Yi);
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

/* Basis image b (C x H x W) from the spectrum p: an inverse DFT down
 * each column l of the scaled spectrum, then along each row the real part
 * of the inverse DFT of the half spectrum, column l weighted by
 * col_weight (the imaginary parts of fx = 0 and 1/2 meet sin = 0). */
static void spectrum_to_image(fvparam *f, const float *p, float *b)
{
    int64_t H = f->H, W = f->W, Wf = f->Wf;
    double *br = f->br, *bi = f->bi;
    for (int64_t c = 0; c < f->C; c++) {
        const float *pc = p + c * H * Wf * 2;
        double *Yr = f->Yr + c * H * Wf, *Yi = f->Yi + c * H * Wf;
        for (int64_t l = 0; l < Wf; l++) {
            for (int64_t k = 0; k < H; k++) {
                double s = f->scale[k * Wf + l];
                br[k] = s * pc[(k * Wf + l) * 2];
                bi[k] = s * pc[(k * Wf + l) * 2 + 1];
            }
            fft_inverse(f->ph, br, bi);
            for (int64_t n = 0; n < H; n++) {
                Yr[n * Wf + l] = br[n];
                Yi[n * Wf + l] = bi[n];
            }
        }
        for (int64_t n = 0; n < H; n++) {
            for (int64_t m = 0; m < W; m++) {
                br[m] = m < Wf ? col_weight(f, m) * Yr[n * Wf + m] : 0;
                bi[m] = m < Wf ? col_weight(f, m) * Yi[n * Wf + m] : 0;
            }
            fft_inverse(f->pw, br, bi);
            for (int64_t m = 0; m < W; m++)
                b[(c * H + n) * W + m] = (float)br[m];
        }
    }
}

/* The adjoint: d/d p (gp) from d/d b (gb): a forward DFT of each row
 * (its first Wf terms, weighted), then down each column, scaled. */
static void image_to_spectrum_grad(fvparam *f, const float *gb, float *gp)
{
    int64_t H = f->H, W = f->W, Wf = f->Wf;
    double *br = f->br, *bi = f->bi;
    for (int64_t c = 0; c < f->C; c++) {
        double *Yr = f->Yr + c * H * Wf, *Yi = f->Yi + c * H * Wf;
        const float *g = gb + c * H * W;
        for (int64_t n = 0; n < H; n++) {
            for (int64_t m = 0; m < W; m++) {
                br[m] = g[n * W + m];
                bi[m] = 0;
            }
            fft_run(f->pw, br, bi);
            for (int64_t l = 0; l < Wf; l++) {
                Yr[n * Wf + l] = col_weight(f, l) * br[l];
                Yi[n * Wf + l] = col_weight(f, l) * bi[l];
            }
        }
        float *pc = gp + c * H * Wf * 2;
        for (int64_t l = 0; l < Wf; l++) {
            for (int64_t n = 0; n < H; n++) {
                br[n] = Yr[n * Wf + l];
                bi[n] = Yi[n * Wf + l];
            }
            fft_run(f->ph, br, bi);
            for (int64_t k = 0; k < H; k++) {
                double s = f->scale[k * Wf + l];
                pc[(k * Wf + l) * 2] = (float)(s * br[k]);
                pc[(k * Wf + l) * 2 + 1] = (float)(s * bi[k]);
            }
        }
    }
}

void fvparam_image(fvparam *f, const float *p, float *img)
{
    int64_t HW = f->H * f->W, D = f->C * HW;
    if (f->fft)
        spectrum_to_image(f, p, f->pre);
    else
        memcpy(f->pre, p, (size_t)D * sizeof(float));
    if (f->decorrelate)
        for (int64_t q = 0; q < HW; q++) {
            double b[3] = { f->pre[q], f->pre[HW + q], f->pre[2 * HW + q] };
            for (int c = 0; c < 3; c++)
                f->pre[c * HW + q] =
                    (float)(f->M[c][0] * b[0] + f->M[c][1] * b[1] + f->M[c][2] * b[2]);
        }
    for (int64_t i = 0; i < D; i++)
        img[i] = (float)(1.0 / (1.0 + exp(-(double)f->pre[i])));
}

void fvparam_backward(fvparam *f, const float *gimg, const float *img, float *gp)
{
    int64_t HW = f->H * f->W, D = f->C * HW;
    float *g = f->fft ? f->gb : gp;
    for (int64_t i = 0; i < D; i++)
        g[i] = gimg[i] * img[i] * (1 - img[i]);
    if (f->decorrelate)
        for (int64_t q = 0; q < HW; q++) {
            double a[3] = { g[q], g[HW + q], g[2 * HW + q] };
            for (int j = 0; j < 3; j++)
                g[j * HW + q] =
                    (float)(f->M[0][j] * a[0] + f->M[1][j] * a[1] + f->M[2][j] * a[2]);
        }
    if (f->fft)
        image_to_spectrum_grad(f, f->gb, gp);
}
