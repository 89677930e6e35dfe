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
 * Perturbed images are not clipped to [0,1] (as Captum's are not). */
#ifndef CNN_EVALUATE_H
#define CNN_EVALUATE_H

#include <stdint.h>

#include "methods/saliency.h"
#include "methods/target.h"
#include "nn/model.h"
#include "base/tensor.h"

typedef enum { EVAL_DELETION, EVAL_INSERTION, EVAL_INFIDELITY, EVAL_SENSITIVITY } eval_metric;
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
    const saliency_cfg *sal;    /* sensitivity: the attribution to recompute */
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

/* The target's class for each of n images (n <= batch) from their clean
 * forward pass (target_pick: label, pred, class=K). */
void evaluate_pick(evaluator *ev, const tensor *x, const int32_t *labels, const int64_t *ids,
                   int32_t *cls);

/* Deletion or insertion of n images x (n x C x H x W) ranked by maps
 * (n x H x W): curve (n x (steps + 1)) and auc (n), for class cls[i]. */
void evaluate_curves(evaluator *ev, const tensor *x, const float *maps, const int32_t *cls,
                     float *curve, float *auc);

/* Infidelity of attributions attr (n x Ca x H x W, Ca = C or 1) of class
 * cls[i]; ids (NULL: 0..n-1) seed the draws. */
void evaluate_infidelity(evaluator *ev, const tensor *x, const tensor *attr, const int32_t *cls,
                         const int64_t *ids, float *score);

/* Max-sensitivity of the attribution of class cls[i]. */
void evaluate_sensitivity(evaluator *ev, const tensor *x, const int32_t *cls, const int64_t *ids,
                          float *score);

#endif
