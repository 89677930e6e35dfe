/* occlude: occlusion sensitivity (Zeiler & Fergus 2014). A window of fill
 * values slides over each image; for every window position the network is
 * run on the occluded image and one response is recorded: a class logit or
 * probability, or a unit of any layer. Used by cnn-occlude.
 *
 * Window positions: rows y0 = 0, S, 2S, ... (columns alike). With the "clip"
 * padding policy there are ceil((H - h) / S) + 1 of them, so the last
 * window reaches the bottom edge; a window that runs past the edge occludes
 * only its part inside the image (nothing is occluded outside it). With
 * "none" there are floor((H - h) / S) + 1 (Captum's positions: every window
 * lies inside the image, a remainder of the image may stay uncovered).
 *
 * Two methods give the same maps (to float rounding):
 *  - naive: occluded copies of the image, batch after batch, through the
 *    whole engine;
 *  - incremental (default): the unoccluded forward is cached; an occluder
 *    changes only the part of each spatial layer inside its receptive-field
 *    cone, so for every layer only a rectangle around that cone is
 *    recomputed: the receptive-field cone executor (nn/cone.h), with each
 *    window position as one of its regions.
 * This file holds the method: window positions, fills, the measure and the
 * map transforms. */
#ifndef CNN_OCCLUDE_H
#define CNN_OCCLUDE_H

#include <stdint.h>

#include "nn/model.h"
#include "base/progress.h"
#include "base/tensor.h"
#include "methods/target.h"

typedef enum { OCC_FILL_GRAY, OCC_FILL_ZERO, OCC_FILL_MEAN, OCC_FILL_BLUR, OCC_FILL_VALUE } occlude_fill;
typedef enum { OCC_OUT_RAW, OCC_OUT_DIFF, OCC_OUT_PERCENT } occlude_output;
typedef enum { OCC_PAD_CLIP, OCC_PAD_NONE } occlude_padding;

typedef struct occlude_spec {
    int wh, ww;                 /* window height, width (pixels) */
    int sh, sw;                 /* stride */
    occlude_padding padding;
    occlude_fill fill;
    float fill_value;           /* OCC_FILL_VALUE */
    double blur_sigma;          /* OCC_FILL_BLUR; <= 0: max(wh, ww) / 4 */
    const target *target;       /* what is measured, resolved against the model
                                   (methods/target.h); must outlive the occlude */
    int naive;                  /* 1: brute force through the engine */
    int batch;                  /* occluded copies per pass */
    int64_t images;             /* most images per occlude_run (0: not said):
                                 * a pass holds no more copies than they make */
} occlude_spec;

typedef struct occlude occlude;

/* Check the spec against the model (dies with one line on a window larger
 * than the image, a model without class scores...; the target's class,
 * unit and position were checked by target_resolve) and plan the incremental
 * computation (nn/cone.h). The model
 * must outlive the result. */
occlude *occlude_new(model *m, const occlude_spec *s);
void occlude_free(occlude *o);
/* Window positions per column and row: the maps are hm x wm. */
void occlude_grid(const occlude *o, int *hm, int *wm);
/* Window (py, px)'s occluded box, clipped to the image: rows [b0, b2),
 * columns [b1, b3). */
void occlude_window(const occlude *o, int py, int px, int64_t box[4]);

/* Report windows done to pg (started by the caller with the total number
 * of windows, images x positions) as occlude_run goes; NULL: none. */
void occlude_progress(occlude *o, progress *pg);

/* Occlusion maps of n images x (n x C x H x W pixels in [0,1]). labels
 * (n; NULL unless the target is label) and ids (n; NULL: row numbers, for
 * errors) go to target_pick on the unoccluded images; chosen (n) receives
 * the class or channel measured, maps (n x hm x wm) the measured value per
 * window position, base (n) the unoccluded value. */
void occlude_run(occlude *o, const tensor *x, const int32_t *labels, const int64_t *ids,
                 int32_t *chosen, float *maps, float *base);

/* Turn raw values into the requested output: diff = base - value (positive
 * where occluding lowers the response), percent = 100 * diff / |base| (0
 * when base is 0). */
void occlude_transform(occlude_output out, int64_t n, int64_t per, float *maps, const float *base);

/* The Captum form: each pixel's value averaged over the windows that cover
 * it (0 where none does); map is hm x wm, px is H x W. */
void occlude_per_pixel(const occlude *o, const float *map, float *px);

/* Multiply-accumulates done so far, and what brute force (every occluded
 * copy through the whole graph up to the target) would have done. */
void occlude_macs(const occlude *o, double *done, double *brute);
/* Which node the map is measured at (for the file's attributes). */
int occlude_measure_node(const occlude *o);

#endif
