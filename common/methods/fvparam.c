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
    f->cy = xmalloc((size_t)H * sizeof(double));
    f->sy = xmalloc((size_t)H * sizeof(double));
    f->cx = xmalloc((size_t)W * sizeof(double));
    f->sx = xmalloc((size_t)W * sizeof(double));
    for (int64_t k = 0; k < H; k++) {
        f->cy[k] = cos(2 * M_PI * (double)k / (double)H);
        f->sy[k] = sin(2 * M_PI * (double)k / (double)H);
    }
    for (int64_t k = 0; k < W; k++) {
        f->cx[k] = cos(2 * M_PI * (double)k / (double)W);
        f->sx[k] = sin(2 * M_PI * (double)k / (double)W);
    }
    f->Yr = xmalloc((size_t)(C * H * Wf) * sizeof(double));
    f->Yi = xmalloc((size_t)(C * H * Wf) * sizeof(double));
}

void fvparam_free(fvparam *f)
{
    free(f->pre);
    free(f->gb);
    free(f->scale);
    free(f->cy);
    free(f->sy);
    free(f->cx);
    free(f->sx);
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

/* Basis image b (C x H x W) from the spectrum p. */
static void spectrum_to_image(fvparam *f, const float *p, float *b)
{
    int64_t H = f->H, W = f->W, Wf = f->Wf;
    for (int64_t c = 0; c < f->C; c++) {
        const float *pc = p + c * H * Wf * 2;
        double *Yr = f->Yr + c * H * Wf, *Yi = f->Yi + c * H * Wf;
        for (int64_t n = 0; n < H; n++)
            for (int64_t l = 0; l < Wf; l++) {
                double r = 0, i = 0;
                for (int64_t k = 0; k < H; k++) {
                    double s = f->scale[k * Wf + l], sr = s * pc[(k * Wf + l) * 2];
                    double si = s * pc[(k * Wf + l) * 2 + 1];
                    double co = f->cy[(k * n) % H], sn = f->sy[(k * n) % H];
                    r += sr * co - si * sn;
                    i += sr * sn + si * co;
                }
                Yr[n * Wf + l] = r;
                Yi[n * Wf + l] = i;
            }
        for (int64_t n = 0; n < H; n++)
            for (int64_t m = 0; m < W; m++) {
                double v = 0;
                for (int64_t l = 0; l < Wf; l++)
                    v += col_weight(f, l) * (Yr[n * Wf + l] * f->cx[(l * m) % W] -
                                             Yi[n * Wf + l] * f->sx[(l * m) % W]);
                b[(c * H + n) * W + m] = (float)v;
            }
    }
}

/* The adjoint: d/d p (gp) from d/d b (gb). */
static void image_to_spectrum_grad(fvparam *f, const float *gb, float *gp)
{
    int64_t H = f->H, W = f->W, Wf = f->Wf;
    for (int64_t c = 0; c < f->C; c++) {
        double *Yr = f->Yr + c * H * Wf, *Yi = f->Yi + c * H * Wf;
        const float *g = gb + c * H * W;
        for (int64_t n = 0; n < H; n++)
            for (int64_t l = 0; l < Wf; l++) {
                double r = 0, i = 0;
                for (int64_t m = 0; m < W; m++) {
                    r += g[n * W + m] * f->cx[(l * m) % W];
                    i -= g[n * W + m] * f->sx[(l * m) % W];
                }
                Yr[n * Wf + l] = col_weight(f, l) * r;
                Yi[n * Wf + l] = col_weight(f, l) * i;
            }
        float *pc = gp + c * H * Wf * 2;
        for (int64_t k = 0; k < H; k++)
            for (int64_t l = 0; l < Wf; l++) {
                double r = 0, i = 0;
                for (int64_t n = 0; n < H; n++) {
                    double co = f->cy[(k * n) % H], sn = f->sy[(k * n) % H];
                    r += Yr[n * Wf + l] * co + Yi[n * Wf + l] * sn;
                    i += -Yr[n * Wf + l] * sn + Yi[n * Wf + l] * co;
                }
                double s = f->scale[k * Wf + l];
                pc[(k * Wf + l) * 2] = (float)(s * r);
                pc[(k * Wf + l) * 2 + 1] = (float)(s * i);
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

void fv_adam_init(fv_adam *a, int64_t n, double lr)
{
    a->lr = lr;
    a->t = 0;
    a->n = n;
    a->m = xcalloc((size_t)n, sizeof *a->m);
    a->v = xcalloc((size_t)n, sizeof *a->v);
}

void fv_adam_step(fv_adam *a, float *p, const float *g)
{
    a->t++;
    double c1 = 1 - pow(0.9, a->t), c2 = 1 - pow(0.999, a->t);
    for (int64_t i = 0; i < a->n; i++) {
        a->m[i] = 0.9 * a->m[i] + 0.1 * g[i];
        a->v[i] = 0.999 * a->v[i] + 0.001 * (double)g[i] * g[i];
        p[i] += (float)(a->lr * (a->m[i] / c1) / (sqrt(a->v[i] / c2) + 1e-8));
    }
}

void fv_adam_free(fv_adam *a)
{
    free(a->m);
    free(a->v);
}
