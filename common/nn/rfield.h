/* rfield: receptive-field arithmetic. For every node, per axis (0 = rows,
 * 1 = columns): the region of input pixels that can affect one output
 * position. Position (y, x) of a node's output sees input rows
 *   start[0] + y*jump[0]  ...  start[0] + y*jump[0] + size[0] - 1
 * (and the same for columns with index 1). start is the first input
 * coordinate of output position 0 and is negative where padding lies
 * outside the image; the region may run past the image on either side.
 * Dilated kernels and strides larger than a window leave holes: size is the
 * extent (bounding box), not a count of pixels. Used by cnn-info,
 * cnn-forward (attributes of /act/<layer>), cnn-patches and cnn-occlude. */
#ifndef CNN_RFIELD_H
#define CNN_RFIELD_H

#include <stdint.h>

#include "nn/model.h"

typedef struct rfield {
    int64_t size[2];
    int64_t jump[2];
    int64_t start[2];
} rfield;

/* Receptive fields of every node of a prepared model into rf (m->n
 * entries). Ops that keep the spatial grid (activations, BatchNorm, LRN,
 * Dropout, Softmax) pass it through; Conv and pooling grow it; Dense,
 * Flatten and GlobalAvgPool see their whole input; Add and Concat take the
 * union of their inputs. */
void rfield_compute(const model *m, rfield *rf);

/* The input box of output position (y, x): rows [box[0], box[2]), columns
 * [box[1], box[3]); clip=1 clips it to the h x w image. */
void rfield_box(const rfield *rf, int64_t y, int64_t x, int clip, int64_t h, int64_t w,
                int64_t box[4]);

/* Centre of output position (y, x) at the input, in pixels (may be .5). */
void rfield_center(const rfield *rf, int64_t y, int64_t x, double *cy, double *cx);

/* Parameters of node i (all its weights; BatchNorm's running statistics
 * included) and its multiply-accumulates per image (Conv and Dense only:
 * Cout*OH*OW*Cin/groups*kh*kw, Dout*Din; other ops count 0). */
int64_t rfield_node_params(const model *m, int i);
int64_t rfield_node_macs(const model *m, int i);

#endif
