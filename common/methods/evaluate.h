/* evaluate: how faithful an attribution is, scored on the model it
 * explains. Used by cnn-evaluate on any maps file (cnn-saliency,
 * cnn-occlude) and the images it explains.
 *
 *  - deletion / insertion (Petsiuk et al. 2018, "RISE"): the pixels are
 *    ranked by decreasing map value (ties: lower row-major index first).
 *    After step k (k = 0..steps) the first floor(k H W / steps) pixels of
 *    the ranking, all channels, are changed: deletion replaces them by the
 *    fill (zero by default) in the image; insertion starts from a blurred
 *    copy of the image (base/numeric's Gaussian blur, sigma blur_sigma) and
 *    puts the image's own pixels back. The curve is the target class's
 *    probability (softmax of the logits) after each step; its area is the
 *    trapezoid rule over x = k / steps in [0, 1].
 *  - infidelity (Yeh et al. 2019, as Captum's metrics.infidelity with
 *    normalize=False): perturbations I ~ N(0, noise^2) per pixel, samples
 *    of them; mean over samples of (sum(I * attr) - (f(x) - f(x - I)))^2,
 *    f the target's measure (logit or probability). A map without
 *    channels (n x H x W) applies to every channel.
 *  - sensitivity (Yeh et al. 2019, Captum's metrics.sensitivity_max):
 *    perturbations uniform in [-radius, radius] per pixel; the attribution
 *    is recomputed (methods/saliency.h) at x and at each x + I; the score is
 *    the largest ||attr(x + I) - attr(x)|| / ||attr(x)|| (Frobenius norm;
 *    a zero ||attr(x)|| counts as 1) over the samples.
 *  - sanity (Adebayo et al. 2018, cascading model randomisation): the
 *    layers with weights are re-initialised from the top (the output) down,
 *    one more at each step, each weight and bias drawn uniformly from
 *    [-b, b], b = 1 / sqrt(fan_in) (PyTorch's default initialisation; the
 *    draws depend on seed and the node only, so every batch sees the same
 *    network); the attribution is recomputed (methods/saliency.h) and
 *    reduced to a map as the maps file says, and compared with the map of
 *    the trained model by Spearman's rank correlation (average ranks for
 *    ties; 0 when a map is constant), SSIM (each map scaled to [0,1] by its
 *    own range; Wang et al.'s formula as scikit-image computes it: 7 x 7
 *    uniform windows, sample covariances, K1 = 0.01, K2 = 0.03, the mean
 *    over the windows inside the map) and HOG similarity (Pearson
 *    correlation of the two maps' HOG features: central-difference
 *    gradients, 0 on the border, 9 unsigned orientation bins of 20 degrees
 *    summing magnitudes per cell over its area, cells of 8 pixels (fewer
 *    when the map has less than 3 cells a side: min(H, W) / 3), blocks of
 *    3 x 3 cells normalised by L2-Hys, eps 1e-5, clipped at 0.2).
 *    Given a shuffled model (the same architecture trained on permuted
 *    labels, cnn-train --shuffle-labels), the data-randomisation variant
 *    instead: one step, the map of the same class on that model, compared
 *    with the trained model's by the same three similarities.
 * Perturbed images are not clipped to [0,1] (as Captum's are not). */
#ifndef CNN_EVALUATE_H
#define CNN_EVALUATE_H

#include <stdint.h>

#include "base/progress.h"
#include "methods/saliency.h"
#include "methods/target.h"
#include "nn/model.h"
#include "base/tensor.h"

typedef enum { EVAL_DELETION, EVAL_INSERTION, EVAL_INFIDELITY, EVAL_SENSITIVITY, EVAL_SANITY } eval_metric;
typedef enum { EVAL_FILL_ZERO, EVAL_FILL_GRAY, EVAL_FILL_BLUR, EVAL_FILL_VALUE } eval_fill;

typedef struct evaluate_cfg {
    eval_metric metric;
    int steps;                  /* deletion, insertion */
    eval_fill fill;             /* deletion */
    float fill_value;           /* EVAL_FILL_VALUE */
    double blur_sigma;          /* insertion's blurred start, deletion's blur fill */
    int samples;                /* infidelity, sensitivity */
    double noise;               /* infidelity: sd of the perturbations */
    double radius;              /* sensitivity: half-width of the perturbations */
    const float *noise_data;    /* samples x C x H x W draws used for every image
                                 * (unit normal for infidelity, uniform in [-1,1]
                                 * for sensitivity, then scaled), or NULL: drawn
                                 * per image from seed and the image's id */
    uint64_t seed;
    int batch;                  /* images per engine pass */
    const saliency_cfg *sal;    /* sensitivity, sanity: the attribution to recompute */
    sal_reduce reduce;          /* sanity: attribution to map */
    model *shuffled;            /* sanity: a model trained on shuffled labels
                                 * (data randomisation), or NULL: the cascade */
    const char *shuffled_file;  /* its file, for messages */
} evaluate_cfg;

/* Metric and fill names; -1 when unknown (a fill that is a number gives
 * EVAL_FILL_VALUE and *value). */
int evaluate_metric_parse(const char *s);
const char *evaluate_metric_name(eval_metric m);
int evaluate_fill_parse(const char *s, float *value);
const char *evaluate_fill_name(eval_fill f);

typedef struct evaluator evaluator;

/* An evaluator for the model and target t (resolved; class targets only,
 * its measure used by infidelity). Dies with one line naming file (the
 * model) on a combination that cannot run. Model and target must outlive
 * it. */
evaluator *evaluate_new(model *m, const target *t, const evaluate_cfg *c, const char *file);
void evaluate_free(evaluator *ev);

/* Progress: pg (started by the caller with evaluate_work's total) is
 * told of every perturbed copy or recomputed map as the runs go; NULL:
 * none. */
void evaluate_progress(evaluator *ev, progress *pg);
/* The copies and maps n images take under the configured metric. */
int64_t evaluate_work(const evaluator *ev, int64_t n);

/* The target's class for each of n images from their clean forward pass
 * (target_pick: label, pred, class=K) and, when clean is not NULL, the
 * probability of that class there (n). */
void evaluate_pick(evaluator *ev, const tensor *x, const int32_t *labels, const int64_t *ids,
                   int32_t *cls, float *clean);

/* Deletion or insertion of n images x (n x C x H x W) ranked by maps
 * (n x H x W): curve (n x (steps + 1)) and auc (n), for class cls[i].
 * clean (NULL, or evaluate_pick's): the probabilities of the images as
 * they are, the point of each curve that is the image itself (deletion's
 * first, insertion's last), which then is not run again. */
void evaluate_curves(evaluator *ev, const tensor *x, const float *maps, const int32_t *cls,
                     const float *clean, float *curve, float *auc);

/* Infidelity of attributions attr (n x Ca x H x W, Ca = C or 1) of class
 * cls[i]; ids (NULL: 0..n-1) seed the draws. */
void evaluate_infidelity(evaluator *ev, const tensor *x, const tensor *attr, const int32_t *cls,
                         const int64_t *ids, float *score);

/* Max-sensitivity of the attribution of class cls[i]. */
void evaluate_sensitivity(evaluator *ev, const tensor *x, const int32_t *cls, const int64_t *ids,
                          float *score);

/* Sanity: the layers re-initialised, in cascade order (the last layer
 * with weights first): their node indices into nodes (m->n entries at
 * most); returns how many (L). With a shuffled model: one step, index -1. */
int evaluate_sanity_layers(const evaluator *ev, int *nodes);

/* Sanity of n images (n <= batch) for class cls[i]: cascade (n x (L+1) x
 * H x W: the trained model's map, then one per randomisation step), and
 * spearman, ssim, hog (n x L) against the first. The model's weights are
 * restored before it returns. */
void evaluate_sanity(evaluator *ev, const tensor *x, const int32_t *cls, float *cascade,
                     float *spearman, float *ssim, float *hog);

#endif
