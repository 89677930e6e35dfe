/* fvtransform: the random, differentiable transformations of feature
 * visualisation ("transformation robustness", Olah et al. 2017; Lucid's
 * transform.standard_transforms), applied to the image every step before
 * the model sees it, with the adjoint that carries the gradient back.
 *
 * The chain, on a C x H x W image, in this order:
 *   pad P       a border of P pixels of grey 0.5 (constant), H+2P square;
 *   jitter J1   a crop of J1 pixels less each way at a random offset
 *               0..J1 (Lucent's jitter);
 *   scale, rotate  one bilinear resampling, PyTorch's
 *               grid_sample(affine_grid(theta), align_corners=False,
 *               padding zeros) with theta = R(a) / s: the picture magnified
 *               by s (drawn from the scale list) and turned by a degrees
 *               (a whole number drawn uniformly from -A..A) about the
 *               centre; its output is the model's size plus J2 each way,
 *               so the crop so far is also fitted to that size;
 *   jitter J2   a crop to the model's H x W at a random offset 0..J2.
 * Lucid's standard set (lucid/optvis/transform.py, as Lucent): pad 12,
 * jitter 8, scale 1 + (i - 5)/50 for i = 0..10 (0.9 .. 1.1), rotate 10
 * (Lucid draws 0 five times more often; here every angle alike), jitter 4.
 * It replaced a milder set (scales 0.95 .. 1.05, rotate 5) when
 * tests/bench/fv.sh showed it transfers better: 7 of 8 Tiny Darknet
 * classes in MobileNet's top 5 against 5. */
#ifndef CNN_FVTRANSFORM_H
#define CNN_FVTRANSFORM_H

#include <stddef.h>
#include <stdint.h>

#include "base/rng.h"

#define FVT_MAX_SCALES 16

typedef struct fvt_cfg {
    int on;
    int pad, jitter1, jitter2;
    int rotate;                    /* degrees: a is drawn from -rotate..rotate */
    int nscale;
    double scale[FVT_MAX_SCALES];  /* none: 1 */
} fvt_cfg;

/* One step's draws. */
typedef struct fvt_draw {
    int oy1, ox1, oy2, ox2;
    double s, deg;
} fvt_draw;

/* Lucid's standard set. */
void fvt_standard(fvt_cfg *t);
/* Parse "pad=12,jitter=8,scale=0.95:1.05,rotate=5,jitter=4" (the first
 * jitter is J1, a second J2; a scale list is colon-separated) or
 * "standard" or "none". 0, or -1 with a reason in err. */
int fvt_parse(const char *spec, fvt_cfg *t, char *err, size_t errlen);
/* The standard set shrunk for a small image: pad and jitters scaled by
 * side / 224 (rounded) when the image's smaller side is under 224. */
void fvt_fit(fvt_cfg *t, int64_t H, int64_t W);
/* 0 when the chain fits an H x W image, else -1 with a reason. */
int fvt_check(const fvt_cfg *t, int64_t H, int64_t W, char *err, size_t errlen);
void fvt_draw_next(const fvt_cfg *t, rng *r, fvt_draw *d);

/* out (C x H x W) = the chain applied to x (C x H x W) with the draws d;
 * work holds 2 C (H + 2 pad) (W + 2 pad) floats. */
void fvt_forward(const fvt_cfg *t, const fvt_draw *d, const float *x, int64_t C, int64_t H,
                 int64_t W, float *out, float *work);
/* gx (C x H x W) = the chain's adjoint applied to gout (C x H x W). */
void fvt_backward(const fvt_cfg *t, const fvt_draw *d, const float *gout, int64_t C, int64_t H,
                  int64_t W, float *gx, float *work);
size_t fvt_work_size(const fvt_cfg *t, int64_t C, int64_t H, int64_t W);

/* grid_sample (bilinear, align_corners=False, zeros outside) of in
 * (C x Hi x Wi) on affine_grid(theta, Ho x Wo) into out; and its adjoint,
 * which adds into gin (C x Hi x Wi) from gout. */
void fvt_affine(const float *in, int64_t C, int64_t Hi, int64_t Wi, const double theta[6],
                float *out, int64_t Ho, int64_t Wo);
void fvt_affine_adjoint(const float *gout, int64_t C, int64_t Hi, int64_t Wi,
                        const double theta[6], float *gin, int64_t Ho, int64_t Wo);

#endif
