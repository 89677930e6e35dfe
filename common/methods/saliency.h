/* saliency: gradient attributions of a target (target.h) with respect to
 * the input pixels, batch by batch: vanilla gradient (Simonyan et al.),
 * guided backprop (Springenberg et al.), deconvnet (Zeiler & Fergus),
 * input x gradient, SmoothGrad (Smilkov et al., on top of any of them),
 * integrated gradients (Sundararajan et al.), the CAM family of
 * methods/cam.h with guided Grad-CAM (Selvaraju et al.), DeepLift's
 * rescale rule (methods/deeplift.h), GradientShap (Lundberg & Lee) and LRP
 * (methods/lrp.h). Gradients are with respect to the [0,1] pixels of the images file
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
    SAL_SMOOTHGRAD,     /* parsing only: becomes SAL_GRADIENT with smooth = 1 */
    SAL_GRADCAMPP,
    SAL_XGRADCAM,
    SAL_LAYERCAM,
    SAL_EIGENCAM,
    SAL_SCORECAM,
    SAL_ABLATIONCAM,
    SAL_GUIDED_GRADCAM, /* guided backprop x upsampled Grad-CAM */
    SAL_DEEPLIFT,
    SAL_GRADIENTSHAP,
    SAL_LRP
} sal_method;

/* What --smooth keeps of the noisy copies' maps M_j (Captum's NoiseTunnel):
 * mean M_j (SmoothGrad), mean M_j^2 (SmoothGrad^2), mean M_j^2 - (mean
 * M_j)^2 (VarGrad). */
typedef enum { SAL_STAT_MEAN, SAL_STAT_SQ, SAL_STAT_VAR } sal_stat;
typedef enum { SAL_LRP_EPSILON, SAL_LRP_GAMMA, SAL_LRP_ALPHA1BETA0 } sal_lrp_rule;

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
    /* Added with the CAM family and the reference methods (zero = the
     * defaults, so older initialisers keep working). */
    sal_stat smooth_stat;
    const float *baseline_data;  /* baseline_count x C x H x W baseline images (DeepLift
                                  * uses the first, GradientShap cycles through them),
                                  * or NULL: the --baseline rule */
    int64_t baseline_count;
    const float *alpha_data;     /* GradientShap: samples path positions in [0,1], or
                                  * NULL: drawn per image */
    sal_lrp_rule lrp_rule;
    double epsilon;              /* LRP stabiliser (0: 1e-9) */
    double gamma;                /* LRP gamma rule (0: 0.25) */
} saliency_cfg;

/* Parse method and reduction names; -1 when unknown. */
int saliency_method_parse(const char *s);
/* "gradient, guided, ..." for messages and --help. */
const char *saliency_method_list(void);
/* Is m one of the CAMs (a layer, /cam at its resolution)? */
int saliency_is_cam(sal_method m);
/* Does m write /baseline_scores and /completeness (integrated gradients,
 * DeepLift, GradientShap: f(x) - f(baseline); LRP: f(x), baseline 0)? */
int saliency_has_completeness(sal_method m);
int saliency_stat_parse(const char *s);
const char *saliency_stat_name(sal_stat st);
int saliency_lrp_rule_parse(const char *s);
const char *saliency_lrp_rule_name(sal_lrp_rule r);
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

/* Channels of the attribution: the image's, or 1 for the CAMs (guided
 * Grad-CAM keeps the image's). */
int64_t saliency_channels(const saliency *s);

/* Rows one engine pass should hold for batches of `batch` images: the
 * batch times the noise samples, steps or masked copies per image that
 * fit in max_rows rows and about 2 GiB of activations. */
int saliency_rows(const model *m, const saliency_cfg *cfg, int batch, int max_rows);

/* A progress bar over n images at the grain of the method's inner loops
 * (noise samples, steps, masked passes), labelled with the method;
 * saliency_run advances it and saliency_free ends it. */
void saliency_progress(saliency *s, int64_t n);
/* Clear the bar now (before a summary line). */
void saliency_progress_end(saliency *s);
/* The label: the method's name ("smoothgrad" for the smoothed gradient),
 * "+smooth" when another method is smoothed. */
const char *saliency_label(const saliency *s);

/* The CAMs' channel weights from the last saliency_run (n x K floats,
 * *K set), or NULL for methods without them. */
const float *saliency_cam_weights(const saliency *s, int64_t *K);

/* Attributions of x (n x C x H x W pixels, n <= max_batch). labels (may be
 * NULL unless the target needs them) and ids (for messages and the per
 * image noise streams; NULL = rows 0..n-1) describe the rows. Writes
 * attr (n x saliency_channels x H x W, dims set), score[i] (the target's
 * value at x), chosen[i] (the class or channel measured), and for the
 * methods of saliency_has_completeness base[i] (the value at the baseline;
 * else NaN); cam, when not NULL and the method is a CAM, gets the
 * layer-resolution maps (n x h x w, dims set). Advances the bar of
 * saliency_progress, if any. */
void saliency_run(saliency *s, const tensor *x, const int32_t *labels, const int64_t *ids,
                  tensor *attr, float *score, int32_t *chosen, float *base, tensor *cam);

/* Collapse channels: maps (n x H x W, dims set) from attr (n x C x H x W). */
void saliency_reduce_maps(const tensor *attr, sal_reduce how, tensor *maps);

/* The CAM layer's resolution h x w (0 x 0 for other methods). */
void saliency_cam_shape(const saliency *s, int64_t *h, int64_t *w);

/* Bilinear resize of one h x w plane to H x W with PyTorch's
 * align_corners=False sampling (half-pixel centres, clamped);
 * cam_upsample with align_corners 0. */
void saliency_upsample(const float *src, int64_t h, int64_t w, float *dst, int64_t H, int64_t W);


#endif
