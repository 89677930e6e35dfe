/* cone: the receptive-field cone executor. Given a model, the node to
 * measure and a set of input regions that change (P rectangles of the
 * input image), it recomputes, for a batch of items (an image of the last
 * base forward and one of the regions, with new values inside it), only
 * the part of each layer inside that region's receptive-field cone, from
 * crops of the cached unchanged forward. Occlusion (methods/occlude.h) is
 * its first user; any method that re-runs a network on locally changed
 * copies of an image (patches, Ablation-style masks) can use it.
 *
 * The plan is made once from the regions' geometry alone: per graph slot
 * (slot 0 the preprocessed input, slot i + 1 node i) and per region, the
 * rectangle of the slot's map the change can reach ("dirty"). Each slot is
 * then computed in one of two modes for a batch of items:
 *  - REGION: a fixed-size rectangle (the largest dirty extent over all
 *    regions, shifted to contain each region's dirty part and to stay
 *    inside the map), so every item has the same shape and the op runs on
 *    the whole batch at once. A spatial op (Conv, MaxPool, AvgPool) reads a
 *    crop of its input with a halo; positions outside the input map are
 *    written into the crop as the op's padding value (0, or -inf for
 *    MaxPool) and the op runs through a temporary copy of the node with no
 *    padding, which gives exactly the values of the padded original.
 *  - FULL: the whole map, from whole inputs (past 70% of a map, or at ops
 *    that see their whole input: Dense, Flatten, GlobalAvgPool).
 * A crop is the cached activation with the input slot's recomputed
 * rectangle pasted over it. Values the change cannot reach are recomputed
 * from unchanged inputs, so they equal the cache up to the summation order
 * of a smaller matrix product. */
#ifndef CNN_CONE_H
#define CNN_CONE_H

#include <stdint.h>

#include "nn/engine.h"
#include "nn/model.h"

typedef struct cone_spec {
    int upto;               /* node measured: only its ancestors are computed */
    int P;                  /* regions */
    const int32_t *boxes;   /* P x 4: rows [y0, y1), columns [x0, x1) of the
                             * input that region p changes (inside the image;
                             * an empty one changes nothing) */
    int batch;              /* most items per cone_run */
    int engine_batch;       /* images the engine's base forward takes */
} cone_spec;

typedef struct cone cone;

/* Plan the cones (dies when a box lies outside the image). The model must
 * outlive the result. */
cone *cone_new(model *m, const cone_spec *s);
void cone_free(cone *c);

/* The engine whose last forward (engine_forward_upto(e, x, spec.upto),
 * run by the caller) is the unchanged cache the items refer to. */
engine *cone_engine(cone *c);

/* Compute m items (m <= spec.batch): item li is image img[li] of the last
 * base forward with region pos[li] replaced by the values of repl there
 * (repl: per image of the base forward, C x H x W preprocessed values, as
 * the engine's first layer sees them). An item's values do not depend on
 * the other items of the call, its place among them or the threads. */
void cone_run(cone *c, int m, const int *img, const int *pos, const float *repl);

/* Item li of the last cone_run (image img, region p): channels
 * [c0, c0 + nc) of the measured node, whole maps (nc x h x w floats). */
void cone_read(const cone *c, int li, int img, int p, int64_t c0, int64_t nc, float *dst);

/* Multiply-accumulates cone_run has done so far, and what one item costs
 * through the whole graph up to the measured node. */
double cone_macs_done(const cone *c);
double cone_macs_item(const cone *c);

#endif
