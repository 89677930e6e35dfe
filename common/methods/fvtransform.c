/* fvtransform: pad, jitter, scale and rotate, forward and adjoint (see
 * fvtransform.h). */
#include "methods/fvtransform.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "base/par.h"

void fvt_standard(fvt_cfg *t)
{
    memset(t, 0, sizeof *t);
    t->on = 1;
    t->pad = 12;
    t->jitter1 = 8;
    t->jitter2 = 4;
    t->rotate = 10;
    t->nscale = 11;
    for (int i = 0; i < 11; i++)   /* 1 + (i - 5) / 50: 0.9, 0.92, .., 1.1 */
        t->scale[i] = 1 + (i - 5) / 50.0;
}

static int parse_int(const char *s, int *v)
{
    char *end;
    long x = strtol(s, &end, 10);
    if (!*s || *end || x < 0 || x > 100000)
        return -1;
    *v = (int)x;
    return 0;
}

/* One "name=value" item into t; njit counts the jitters seen. */
static int parse_item(char *it, fvt_cfg *t, int *njit, char *err, size_t errlen)
{
    char *eq = strchr(it, '=');
    if (!eq)
        return errmsg(err, errlen, "--transforms: '%s' is not NAME=VALUE "
                      "(pad, jitter, scale, rotate)", it);
    *eq = '\0';
    const char *v = eq + 1;
    if (!strcmp(it, "scale")) {
        char *tmp = xstrdup(v), *save = NULL;
        t->nscale = 0;
        for (char *s = strtok_r(tmp, ":", &save); s; s = strtok_r(NULL, ":", &save)) {
            char *end;
            double x = strtod(s, &end);
            if (*end || !(x >= 0.1 && x <= 10) || t->nscale == FVT_MAX_SCALES) {
                free(tmp);
                return errmsg(err, errlen, "--transforms: scale '%s' should be up to %d "
                              "factors in [0.1, 10] joined by ':'", v, FVT_MAX_SCALES);
            }
            t->scale[t->nscale++] = x;
        }
        free(tmp);
        return t->nscale ? 0 : errmsg(err, errlen, "--transforms: empty scale list");
    }
    int x, *dst = !strcmp(it, "pad") ? &t->pad : !strcmp(it, "rotate") ? &t->rotate
                : !strcmp(it, "jitter") ? (*njit == 0 ? &t->jitter1 : &t->jitter2) : NULL;
    if (!dst)
        return errmsg(err, errlen, "--transforms: unknown transform '%s' (pad, jitter, scale, "
                      "rotate)", it);
    if (parse_int(v, &x) < 0)
        return errmsg(err, errlen, "--transforms: %s=%s is not a whole number >= 0", it, v);
    if (!strcmp(it, "jitter") && ++*njit > 2)
        return errmsg(err, errlen, "--transforms: at most two jitters (before and after "
                      "scale and rotate)");
    *dst = x;
    return 0;
}

int fvt_parse(const char *spec, fvt_cfg *t, char *err, size_t errlen)
{
    if (!strcmp(spec, "standard")) {
        fvt_standard(t);
        return 0;
    }
    memset(t, 0, sizeof *t);
    if (!strcmp(spec, "none"))
        return 0;
    t->on = 1;
    char *s = xstrdup(spec), *save = NULL;
    int njit = 0, rc = 0;
    for (char *it = strtok_r(s, ",", &save); it && rc == 0; it = strtok_r(NULL, ",", &save))
        rc = parse_item(it, t, &njit, err, errlen);
    free(s);
    return rc;
}

void fvt_fit(fvt_cfg *t, int64_t H, int64_t W)
{
    double f = (double)(H < W ? H : W) / 224.0;
    if (f >= 1)
        return;
    t->pad = (int)lround(t->pad * f);
    t->jitter1 = (int)lround(t->jitter1 * f);
    t->jitter2 = (int)lround(t->jitter2 * f);
}

int fvt_check(const fvt_cfg *t, int64_t H, int64_t W, char *err, size_t errlen)
{
    int64_t side = H < W ? H : W;
    if (!t->on)
        return 0;
    if (t->pad >= side || t->jitter1 >= side || t->jitter2 >= side || t->rotate > 180)
        return errmsg(err, errlen, "--transforms: pad %d, jitters %d and %d must each be "
                      "smaller than the image (%lldx%lld) and rotate at most 180", t->pad,
                      t->jitter1, t->jitter2, (long long)H, (long long)W);
    return 0;
}

void fvt_draw_next(const fvt_cfg *t, rng *r, fvt_draw *d)
{
    d->oy1 = (int)rng_below(r, (uint64_t)t->jitter1 + 1);
    d->ox1 = (int)rng_below(r, (uint64_t)t->jitter1 + 1);
    d->s = t->nscale ? t->scale[rng_below(r, (uint64_t)t->nscale)] : 1.0;
    d->deg = (double)((int)rng_below(r, 2 * (uint64_t)t->rotate + 1) - t->rotate);
    d->oy2 = (int)rng_below(r, (uint64_t)t->jitter2 + 1);
    d->ox2 = (int)rng_below(r, (uint64_t)t->jitter2 + 1);
}

/* Output pixel (i, j)'s four source corners and weights (index -1: out
 * of the image, weight 0). */
static void corners(int64_t Hi, int64_t Wi, const double th[6], int64_t Ho, int64_t Wo,
                    int64_t i, int64_t j, int64_t idx[4], double w[4])
{
    double xo = (2.0 * (double)j + 1) / (double)Wo - 1, yo = (2.0 * (double)i + 1) / (double)Ho - 1;
    double xs = th[0] * xo + th[1] * yo + th[2], ys = th[3] * xo + th[4] * yo + th[5];
    double ix = ((xs + 1) * (double)Wi - 1) / 2, iy = ((ys + 1) * (double)Hi - 1) / 2;
    double fx = floor(ix), fy = floor(iy), ax = ix - fx, ay = iy - fy;
    int64_t x0 = (int64_t)fx, y0 = (int64_t)fy;
    for (int k = 0; k < 4; k++) {
        int64_t y = y0 + (k >> 1), x = x0 + (k & 1);
        w[k] = ((k >> 1) ? ay : 1 - ay) * ((k & 1) ? ax : 1 - ax);
        idx[k] = y >= 0 && y < Hi && x >= 0 && x < Wi ? y * Wi + x : -1;
    }
}

/* fvt_affine's or its adjoint's arguments. */
typedef struct affine_job {
    const float *in;
    float *out;
    int64_t C, Hi, Wi, Ho, Wo;
    const double *theta;
} affine_job;

/* Output rows i0..i1-1. */
static void affine_rows(void *ctx, int64_t i0, int64_t i1, int t)
{
    const affine_job *a = ctx;
    const float *in = a->in;
    float *out = a->out;
    int64_t C = a->C, Hi = a->Hi, Wi = a->Wi, Ho = a->Ho, Wo = a->Wo;
    (void)t;
    for (int64_t i = i0; i < i1; i++)
        for (int64_t j = 0; j < Wo; j++) {
            int64_t idx[4];
            double w[4];
            corners(Hi, Wi, a->theta, Ho, Wo, i, j, idx, w);
            for (int64_t c = 0; c < C; c++) {
                double v = 0;
                for (int k = 0; k < 4; k++)
                    if (idx[k] >= 0)
                        v += w[k] * in[c * Hi * Wi + idx[k]];
                out[(c * Ho + i) * Wo + j] = (float)v;
            }
        }
}

void fvt_affine(const float *in, int64_t C, int64_t Hi, int64_t Wi, const double theta[6],
                float *out, int64_t Ho, int64_t Wo)
{
    affine_job a = { in, out, C, Hi, Wi, Ho, Wo, theta };
    par_for(Ho, Ho * Wo > 4096 ? par_threads() : 1, affine_rows, &a);
}

/* The adjoint's channels part, part + n, ... (in: gout, out: gin). */
static void adjoint_part(void *ctx, int t, int n)
{
    const affine_job *a = ctx;
    const float *gout = a->in;
    float *gin = a->out;
    int64_t C = a->C, Hi = a->Hi, Wi = a->Wi, Ho = a->Ho, Wo = a->Wo;
    for (int64_t i = 0; i < Ho; i++)
        for (int64_t j = 0; j < Wo; j++) {
            int64_t idx[4];
            double w[4];
            corners(Hi, Wi, a->theta, Ho, Wo, i, j, idx, w);
            for (int64_t c = t; c < C; c += n)
                for (int k = 0; k < 4; k++)
                    if (idx[k] >= 0)
                        gin[c * Hi * Wi + idx[k]] +=
                            (float)(w[k] * gout[(c * Ho + i) * Wo + j]);
        }
}

void fvt_affine_adjoint(const float *gout, int64_t C, int64_t Hi, int64_t Wi,
                        const double theta[6], float *gin, int64_t Ho, int64_t Wo)
{
    /* Each part its own channels (each sums in the same order whatever
     * the parts), each pixel's corners found once per part. */
    int nt = par_threads();
    nt = Ho * Wo > 4096 ? (nt < C ? nt : (int)C) : 1;
    affine_job a = { gout, gin, C, Hi, Wi, Ho, Wo, theta };
    par_run(nt, adjoint_part, &a);
}

size_t fvt_work_size(const fvt_cfg *t, int64_t C, int64_t H, int64_t W)
{
    int64_t a = (H + 2 * t->pad) * (W + 2 * t->pad), b = (H + t->jitter2) * (W + t->jitter2);
    return (size_t)(2 * C * (a > b ? a : b));
}

static void theta_of(const fvt_draw *d, double th[6])
{
    double a = d->deg * M_PI / 180, c = cos(a) / d->s, s = sin(a) / d->s;
    th[0] = c, th[1] = -s, th[2] = 0;
    th[3] = s, th[4] = c, th[5] = 0;
}

void fvt_forward(const fvt_cfg *t, const fvt_draw *d, const float *x, int64_t C, int64_t H,
                 int64_t W, float *out, float *work)
{
    int64_t P = t->pad, Hp = H + 2 * P, Wp = W + 2 * P, Hb = Hp - t->jitter1, Wb = Wp - t->jitter1;
    int64_t Ha = H + t->jitter2, Wa = W + t->jitter2;
    float *b = work, *a = work + C * Hp * Wp;
    for (int64_t c = 0; c < C; c++)   /* pad, then jitter: b is Hb x Wb */
        for (int64_t y = 0; y < Hb; y++)
            for (int64_t j = 0; j < Wb; j++) {
                int64_t sy = y + d->oy1 - P, sx = j + d->ox1 - P;
                b[(c * Hb + y) * Wb + j] = sy >= 0 && sy < H && sx >= 0 && sx < W ?
                    x[(c * H + sy) * W + sx] : 0.5f;
            }
    double th[6];
    theta_of(d, th);
    fvt_affine(b, C, Hb, Wb, th, a, Ha, Wa);
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < H; y++)
            memcpy(out + (c * H + y) * W, a + (c * Ha + y + d->oy2) * Wa + d->ox2,
                   (size_t)W * sizeof(float));
}

void fvt_backward(const fvt_cfg *t, const fvt_draw *d, const float *gout, int64_t C, int64_t H,
                  int64_t W, float *gx, float *work)
{
    int64_t P = t->pad, Hp = H + 2 * P, Wp = W + 2 * P, Hb = Hp - t->jitter1, Wb = Wp - t->jitter1;
    int64_t Ha = H + t->jitter2, Wa = W + t->jitter2;
    float *b = work, *a = work + C * Hp * Wp;
    memset(a, 0, (size_t)(C * Ha * Wa) * sizeof(float));
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < H; y++)
            memcpy(a + (c * Ha + y + d->oy2) * Wa + d->ox2, gout + (c * H + y) * W,
                   (size_t)W * sizeof(float));
    double th[6];
    theta_of(d, th);
    memset(b, 0, (size_t)(C * Hb * Wb) * sizeof(float));
    fvt_affine_adjoint(a, C, Hb, Wb, th, b, Ha, Wa);
    memset(gx, 0, (size_t)(C * H * W) * sizeof(float));
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < Hb; y++)
            for (int64_t j = 0; j < Wb; j++) {
                int64_t sy = y + d->oy1 - P, sx = j + d->ox1 - P;
                if (sy >= 0 && sy < H && sx >= 0 && sx < W)
                    gx[(c * H + sy) * W + sx] += b[(c * Hb + y) * Wb + j];
            }
}
