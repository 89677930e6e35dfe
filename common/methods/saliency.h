/* saliency: gradient attributions of a target (target.h) with respect to
 * the input pixels, batch by batch: vanilla gradient (Simonyan et al.),
 * guided backprop (Springenberg et al.), deconvnet (Zeiler & Fergus),
 * input x gradient, SmoothGrad (Smilkov et al., on top of any of them),
 * integrated gradients (Sundararajan et al.) and Grad-CAM (Selvaraju et
 * al.). Gradients are with respect to the [0,1] pixels of the images file
 * (the engine applies the model's preprocessing Jacobian). */
#ifndef CNN_SALIENCY_H
#define CNN_SALIENCY_H

#include <stdint.h>

#include "nn/engine.h"
#include "nn/model.h"
#include "methods/target.h"
#include "base/tensor.h"

typedef enum {
    SAL_GRADIENT,
    SAL_GUIDED,
    SAL_DECONVNET,
    SAL_INPUT_X_GRADIENT,
    SAL_INTEGRATED,
    SAL_GRADCAM,
    SAL_SMOOTHGRAD      /* parsing only: becomes SAL_GRADIENT with smooth = 1 */
} sal_method;

typedef enum { SAL_REDUCE_MAX, SAL_REDUCE_ABSMAX, SAL_REDUCE_SUM, SAL_REDUCE_L2 } sal_reduce;
typedef enum { SAL_BASE_ZEROS, SAL_BASE_VALUE, SAL_BASE_BLUR } sal_baseline;

typedef struct saliency_cfg {
    sal_method method;
    int smooth;                  /* average over noisy copies (SmoothGrad) */
    double noise;                /* noise sd as a fraction of each image's range */
    int samples;
    const float *noise_data;     /* samples x C x H x W unit normal draws used for
                                  * every image, or NULL: drawn per image */
    uint64_t seed;
    int steps;                   /* integrated gradients */
    sal_baseline baseline;
    double baseline_value;       /* SAL_BASE_VALUE: every pixel */
    double blur_sigma;           /* SAL_BASE_BLUR: Gaussian sd in pixels */
    int layer;                   /* Grad-CAM node */
} saliency_cfg;

/* Parse method and reduction names; -1 when unknown. */
int saliency_method_parse(const char *s);
const char *saliency_method_name(sal_method m);
int saliency_reduce_parse(const char *s);
const char *saliency_reduce_name(sal_reduce r);

typedef struct saliency saliency;

/* A runner for batches of up to max_batch images. Checks the combination
 * (Grad-CAM's layer spatial and feeding the target, steps and samples
 * positive) and dies with one line naming file (the model) otherwise. The
 * model and target must outlive it. */
saliency *saliency_new(model *m, const target *t, const saliency_cfg *cfg, int max_batch,
                       const char *file);
void saliency_free(saliency *s);

/* Channels of the attribution: the image's, or 1 for Grad-CAM. */
int64_t saliency_channels(const saliency *s);

/* Attributions of x (n x C x H x W pixels, n <= max_batch). labels (may be
 * NULL unless the target needs them) and ids (for messages and the per
 * image noise streams; NULL = rows 0..n-1) describe the rows. Writes
 * attr (n x saliency_channels x H x W, dims set), score[i] (the target's
 * value at x), chosen[i] (the class or channel measured), and for
 * integrated gradients base[i] (the value at the baseline; else NaN); cam,
 * when not NULL and the method is Grad-CAM, gets the layer-resolution maps
 * (n x h x w, dims set). */
void saliency_run(saliency *s, const tensor *x, const int32_t *labels, const int64_t *ids,
                  tensor *attr, float *score, int32_t *chosen, float *base, tensor *cam);

/* Collapse channels: maps (n x H x W, dims set) from attr (n x C x H x W). */
void saliency_reduce_maps(const tensor *attr, sal_reduce how, tensor *maps);

/* Grad-CAM's layer resolution h x w (0 x 0 for other methods). */
void saliency_cam_shape(const saliency *s, int64_t *h, int64_t *w);

/* Bilinear resize of one h x w plane to H x W with PyTorch's
 * align_corners=False sampling (half-pixel centres, clamped). */
void saliency_upsample(const float *src, int64_t h, int64_t w, float *dst, int64_t H, int64_t W);


#endif
