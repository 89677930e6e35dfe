/* cam: the class activation maps of one layer, as pytorch-grad-cam defines
 * them. Each is cam = ReLU(sum_k w_k A_k) over the layer's maps A_k
 * (h x w), with channel weights w_k from:
 *   Grad-CAM    (Selvaraju et al. 2017)  mean over positions of G_k = d y / d A_k
 *   Grad-CAM++  (Chattopadhay et al. 2018, eq. 19)
 *               sum_p relu(G) G^2 / (2 G^2 + sum_q A_kq G^3 + 1e-6), 0 where G = 0
 *   XGrad-CAM   (Fu et al. 2020)  sum_p G A / (sum_q A_kq + 1e-7)
 *   Score-CAM   (Wang et al. 2020)  softmax over k of y(x o M_k), M_k the
 *               map upsampled to the input (bilinear, align_corners=True,
 *               as torch's UpsamplingBilinear2d) and scaled to [0,1]
 *               ((M - min) / (max - min + 1e-8)); x o M_k masks the
 *               preprocessed input (pixels mean + M (x - mean))
 *   Ablation-CAM (Desai & Ramaswamy 2020)  (y - y_k) / y, y_k the target
 *               with map k set to zero
 * and two without channel weights:
 *   LayerCAM    (Jiang et al. 2021)  ReLU(sum_k relu(G_k) o A_k)
 *   Eigen-CAM   (Muhammad & Yeasin 2020)  ReLU of the projection of the
 *               centred activations (h*w x K) on their first right
 *               singular vector, its sign chosen so that the projection's
 *               entry of largest magnitude is positive (the sign of an SVD
 *               is arbitrary; scikit-learn's svd_flip rule).
 * Unlike pytorch-grad-cam the maps are not rescaled to [0,1]: /cam keeps
 * the units of the layer (as Grad-CAM always has here). */
#ifndef CNN_CAM_H
#define CNN_CAM_H

#include <stdint.h>

#include "base/progress.h"
#include "base/tensor.h"
#include "methods/target.h"
#include "nn/engine.h"
#include "nn/model.h"

typedef enum {
    CAM_GRADCAM,
    CAM_GRADCAMPP,
    CAM_XGRADCAM,
    CAM_LAYERCAM,
    CAM_EIGENCAM,
    CAM_SCORECAM,
    CAM_ABLATIONCAM
} cam_kind;

/* Does the CAM use the target's gradient at the layer (one backward)? */
int cam_needs_grad(cam_kind k);
/* Does it have channel weights (all but LayerCAM and Eigen-CAM)? */
int cam_has_weights(cam_kind k);
/* Does it run masked forward passes of its own (Score-, Ablation-CAM)? */
int cam_needs_passes(cam_kind k);

/* What Score-CAM and Ablation-CAM need for their masked passes: the
 * engine (rows of up to max_batch), the target and each image's choice,
 * the clean images x ([0,1] pixels) and their target values score
 * (Ablation-CAM's y), and a progress bar advanced by one
 * per masked pass row (may be NULL). Score-CAM's passes and Ablation-
 * CAM's tail run in forward-only engines of their own (m, the tail's
 * model); only Ablation-CAM's reruns use e, and overwrite its
 * activations. */
typedef struct cam_passes {
    engine *e;
    model *m;
    const target *t;
    const target_sel *sel;
    int max_batch;
    const tensor *x;
    const float *score;
    progress *pg;
    int64_t pg_done;              /* progress units done before this call */
} cam_passes;

/* Does Ablation-CAM at node layer run the nodes after it as a model of
 * their own (no skip connection around the layer on the way to upto)?
 * When not, it reruns them in p->e (engine_rerun_from), which must then
 * be an ordinary engine; else p->e may be forward-only (keeping layer). */
int cam_has_tail(const model *m, int layer, int upto);

/* Rows per forward of the masked and ablated passes: as many, up to
 * max_rows, as keep m's largest activation of a chunk within the caches. */
int cam_pass_rows(const model *m, int max_rows);
/* A forward-only engine of rows rows for passes up to node upto. */
engine *cam_pass_engine(model *m, int upto, int rows);
/* The target's value of each row of xb (any number of rows) into val:
 * forwards of e (rows rows at most) chunk by chunk; sel: nsel selections,
 * one a row, or one for all (nsel 1). evaluate's copies go this way too. */
void cam_pass_values(engine *e, int rows, const tensor *xb, const target *t,
                     const target_sel *sel, int nsel, float *val);

/* Forward-only passes of m up to node upto, at most max_rows rows a call:
 * a forward-only engine of cam_pass_rows rows, and where the net from a
 * node with maps of at most 14 x 14 on to upto is one the column-batched
 * runner runs (nn/colrun.h; a cut with no skip connection around it), that
 * part on it instead, rows of many chunks together (resnet50: layer3 and
 * layer4), when tail is 1. The tail's weights are copied when it is made:
 * no tail (0) for callers that change the model's weights between
 * passes. */
typedef struct cam_pass cam_pass;
cam_pass *cam_pass_new(model *m, int upto, int max_rows, int tail);
void cam_pass_free(cam_pass *p);
/* The rows its engine takes a forward. */
int cam_pass_chunk(const cam_pass *p);
/* cam_pass_values through p: any number of rows of xb, t measured at
 * upto. */
void cam_pass_run(cam_pass *p, const tensor *xb, const target *t, const target_sel *sel,
                  int nsel, float *val);
/* Every row of xb through p: each one's whole output at upto into out
 * (rows x upto's C x H x W). */
void cam_pass_outputs(cam_pass *p, const tensor *xb, float *out);

/* The CAMs of n images at node layer: A the clean activations (n x K x h
 * x w; a copy, not the engine's, for the two that run passes), G the
 * target's gradient there (NULL unless cam_needs_grad), p (NULL unless
 * cam_needs_passes). Writes cam (n x h x w) and, when weights is not NULL
 * and the CAM has them, the channel weights (n x K). */
void cam_maps(cam_kind k, int layer, const tensor *A, const tensor *G, const cam_passes *p,
              float *cam, float *weights);

/* Bilinear resize of one h x w plane to H x W: align_corners=0 is
 * PyTorch's interpolate default (half-pixel centres, clamped), 1 its
 * align_corners=True (corner pixels aligned; UpsamplingBilinear2d). */
void cam_upsample(const float *src, int64_t h, int64_t w, float *dst, int64_t H, int64_t W,
                  int align_corners);

#endif
