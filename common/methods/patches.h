/* patches: Zeiler & Fergus's figure 2. For each feature map of a layer, the
 * k images whose strongest activation of that map is largest (one position
 * per image, its first maximum in scan order), the receptive field of that
 * position cropped from the image (rfield.h), and the deconvnet projection
 * of that single activation back to pixel space. */
#ifndef CNN_PATCHES_H
#define CNN_PATCHES_H

#include <stdint.h>

#include "nn/engine.h"
#include "nn/rfield.h"
#include "base/tensor.h"

typedef struct patch_hit {
    float score;           /* the activation */
    int64_t row;           /* row of the images file */
    int64_t y, x;          /* position in the layer's map */
} patch_hit;

/* Per selected channel, the best k hits seen so far, best first; ties go to
 * the row seen first. */
typedef struct patches_top {
    int nch, k;
    const int *channels;   /* channel of each slot (borrowed) */
    patch_hit *hits;       /* nch * k */
    int *count;            /* filled slots per channel */
} patches_top;

void patches_top_init(patches_top *pt, int nch, const int *channels, int k);
void patches_top_free(patches_top *pt);
/* Offer every image of act (n x C x h x w, the layer's activations of rows
 * row0 .. row0+n-1). */
void patches_top_update(patches_top *pt, const tensor *act, int64_t row0);

/* The receptive-field window of map position (y, x): unclipped rows
 * [box[0], box[2]) and columns [box[1], box[3]) (size rf->size). */
void patches_window(const rfield *rf, int64_t y, int64_t x, int64_t box[4]);
/* Copy window box of a C x H x W plane set into tile (C x bh x bw), fill
 * where the window leaves the image. */
void patches_crop(const float *img, int64_t C, int64_t H, int64_t W, const int64_t box[4],
                  float fill, float *tile);

/* Deconvnet projections of n hits: x holds each hit's image (n rows);
 * hit i keeps only its activation (channel ch[i], at its y, x) in layer
 * `layer`, every other activation of the layer zeroed, and goes back to
 * the pixels with RULE_DECONVNET. Returns the n input gradients (n x C x
 * H x W; the engine's buffer, valid until its next pass). */
const tensor *patches_project(engine *e, int layer, const tensor *x, const patch_hit *hits,
                              const int *ch);

/* Display normalisations of a projection tile (len floats, in place). */
typedef enum {
    PATCHES_NORM_ABSMAX,   /* 0.5 + 0.5 v / max|v|: zero is mid-gray, sign kept */
    PATCHES_NORM_MINMAX,   /* (v - min) / (max - min) */
    PATCHES_NORM_NONE
} patches_norm;
int patches_norm_parse(const char *s);
const char *patches_norm_name(patches_norm n);
void patches_normalize(float *v, int64_t len, patches_norm how);

#endif
