/* ascend: gradient ascent on the input pixels (activation maximisation),
 * with the regularisers of Yosinski et al. 2015, "Understanding Neural
 * Networks Through Deep Visualization": L2 decay, Gaussian blur every few
 * steps, clipping of pixels with small norm or small contribution; plus
 * jitter (random circular shifts before each gradient, as DeepDream). The
 * objective is any target.h target (a class logit or probability, a unit,
 * a direction) or a weighted sum of them (target_expr).
 * Pixels stay in [0,1].
 *
 * And feature visualisation as Olah et al. 2017 (Distill, "Feature
 * Visualization"; Lucid, Lucent): the image made from parameters in a
 * decorrelated basis (methods/fvparam.h: 1/f Fourier spectrum, colour
 * decorrelation, sigmoid), seen by the model through random pad, jitter,
 * scale and rotation each step (methods/fvtransform.h), the gradient
 * carried back through both, Adam on the parameters. */
#ifndef CNN_ASCEND_H
#define CNN_ASCEND_H

#include <stdint.h>

#include "nn/engine.h"
#include "nn/model.h"
#include "methods/fvtransform.h"
#include "methods/target.h"
#include "base/tensor.h"

/* The class measure of the Lucid recipe: z_c - ASCEND_ODDS logsumexp of
 * the other logits (target.h's TARGET_LOGODDS), the mean of the logit and
 * the log-odds. Chosen by tests/bench/fv.sh (tools/ascend.1): the logit
 * alone let tabby become tiger cat under transforms (robust probability
 * 0.875), the log-odds alone transferred to MobileNet less often. */
#define ASCEND_ODDS 0.5

typedef struct ascend_cfg {
    int steps;              /* gradient steps (> 0) */
    double lr;              /* step size on [0,1] pixels */
    double l2;              /* decay: x <- c + (1 - l2)(x - c) each step */
    double blur_sigma;      /* Gaussian blur sigma in pixels (0: none) */
    int blur_every;         /* blur every this many steps (0: never) */
    int jitter;             /* random shift of up to this many pixels (0: none) */
    double clip_norm;       /* percentile: pixels whose norm over channels lies
                               below it are reset to the centre (0: off) */
    double clip_contrib;    /* percentile: pixels whose |sum_c (x-c) g| lies
                               below it are reset to the centre (0: off) */
    uint64_t seed;          /* jitter draws */
    int until_pred;         /* stop once the model predicts this class; -1 off */
    float centre[3];        /* per channel: what decay and clipping pull to */
    /* Feature visualisation (Olah et al. 2017; methods/fvparam.h): with
     * fft or decorrelate the image is sigmoid(M . basis(p)) of parameters
     * p, Yosinski's regularisers and jitter do not apply, and p starts as
     * N(0, init_sd^2) draws (0: zeros, a grey 0.5 image). */
    int fft, decorrelate;
    double colour[3][3];    /* M (fvparam.h: Lucid's when have_colour is 0) */
    int have_colour;
    double init_sd;
    int adam;               /* Adam (lr as given) instead of plain steps */
    fvt_cfg tf;             /* transformations each step (tf.on) */
    fvt_draw *draws;        /* when not NULL (steps entries): each step's draws */
    /* Diversity (Lucid's objectives.diversity): with diversity W > 0 the
     * x of ascend_run holds K >= 2 images optimised together (feature
     * visualisation path only) and the objective is the sum of each
     * image's objective - W * ascend_diversity of their activations at
     * node div_node. */
    double diversity;
    int div_node;
    /* Representation inversion (Mahendran & Vedaldi 2015, "Understanding
     * Deep Image Representations by Inverting Them"): with inv_node >= 0
     * the objective gains, for each image, -|phi(x) - phi(x0)|^2 /
     * |phi(x0)|^2, phi the activations of node inv_node and x0 inv_photo
     * (C x H x W in [0,1]); with transformations x0 goes through the same
     * draw as x each step, so the two are compared as the model sees them.
     * The terms of the target expression (may be none) add to it. Feature
     * visualisation path only. */
    int inv_node;
    const float *inv_photo;
} ascend_cfg;

/* Lucid's / Lucent's diversity penalty of K images' maps F (K x n x k: n
 * channels, k positions): G_i = F_i F_i^T, g_i = G_i / max(|G_i|, 1e-12)
 * (Frobenius), P = sum over i != j of <g_i, g_j> / K, the mean summed
 * cosine similarity of the flattened Gram matrices (Lucent's
 * objectives.diversity returns -P, a loss to minimise). Returns P and,
 * when dF is not NULL, dP/dF (K x n x k) into it. */
double ascend_diversity(const float *F, int K, int64_t n, int64_t k, float *dF);

/* The inversion term -|a - r|^2 / |r|^2 of n activations a against the
 * reference r, and, when da is not NULL, its gradient with respect to a:
 * -2 (a - r) / |r|^2 (|r|^2 floored at 1e-12). */
double ascend_inversion(const float *a, const float *r, int64_t n, float *da);

/* Defaults: 100 steps, lr 0.1, no regulariser, pixels, plain steps, no
 * inversion. */
void ascend_defaults(ascend_cfg *c);
/* Yosinski et al. 2015, Table 1's four hyperparameter sets (k = 1..4):
 * decay, blur width and period, norm and contribution percentiles. Leaves
 * lr, steps and jitter alone. Returns -1 when k is not 1..4. */
int ascend_preset(int k, ascend_cfg *c);
/* Lucid's recipe (Lucent's render_vis defaults): fft, decorrelate, the
 * standard transforms, Adam with lr 0.05, 256 steps, init sd 0.01. */
void ascend_lucid(ascend_cfg *c);

typedef struct ascend_result {
    int steps_done;         /* gradient steps taken */
    float value0, value;    /* objective before and after */
    int pred0, pred;        /* predicted class before and after */
    int reached;            /* until_pred: the prediction became that class */
    double l2, linf;        /* size of x - x0 */
} ascend_result;

/* Called with the current image (1 x C x H x W) after step `step` (0 = the
 * start) whenever step is a multiple of the snapshot period. */
typedef void (*ascend_snap_fn)(void *ctx, int step, const tensor *x);

/* Run the ascent on x (K x C x H x W, in [0,1]; K > 1 only on the
 * feature-visualisation path; replaced by the result;
 * with fft or decorrelate its start is p's image, not x).
 * e must hold at least K images. The value is the sum over the K images
 * (less W P with diversity), the prediction the first image's. values,
 * when not NULL, gets the objective at every step 0..steps_done (steps + 1 floats; with transformations, of
 * the transformed image the model saw). snap_every 0: no
 * snapshots. Dies naming the step when a non-finite value appears. */
void ascend_run(const model *m, engine *e, const target_expr *ex, tensor *x, const ascend_cfg *c,
                int snap_every, ascend_snap_fn snap, void *ctx, float *values,
                ascend_result *res);

/* Gaussian blur of each channel of x (C x H x W floats) in place, by the
 * one rule of base/numeric.h (num_blur: radius ceil(3 sigma), borders
 * repeated). */
void ascend_blur(float *x, int64_t C, int64_t H, int64_t W, double sigma);

#endif
