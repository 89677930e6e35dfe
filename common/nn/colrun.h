/* colrun: a forward-only pass of a small-map part of a model over many
 * rows at once, for the attribution methods that run the same net on
 * hundreds of edited copies of one activation (Ablation-CAM's tail).
 *
 * The engine lays a batch out image by image (N x C x H x W) and runs each
 * convolution one image at a time: at 7x7 that is a product of 49 columns,
 * each panel of the weights packed again for every image and the weights
 * streamed from memory per image (resnet50's layer4, 60 MB of them, for
 * every one of 1024 ablated copies). Here activations are channel-major
 * over the rows (C x (rows x H x W): element (c, r, p) at
 * c * rows * hw + r * hw + p), so a convolution is one product of
 * rows x oh x ow columns on weights packed once, when the runner is made
 * (the engine's micro-kernel, nn/ops/pack.h, and its order of sums: the
 * values are the engine's im2col ones bit for bit). 3x3 stride-1
 * convolutions run by Winograd's F(4x4, 3x3) on the engine's points
 * (nn/ops/winograd.h; CNN_CONV_WINOGRAD=0 turns it off here too) with the
 * tiles of all rows as the columns of its 36 products: the engine runs a
 * 7x7 map (4 tiles) by im2col, where 16 rows give 64 tiles a product.
 * Every row's values are independent of the other rows and of how many
 * share a pass.
 *
 * Ablation (colrun_clean, colrun_ablate): row r is the clean input with
 * channel chan[r] zeroed. A convolution that reads the input directly is
 * linear in it, so its output is the clean output less channel chan[r]'s
 * own contribution (Cout x oh x ow x kh x kw products a row instead of
 * Cout x Cin x ...): in resnet50 at layer3 that is layer4.0's first 1x1
 * convolution and its downsampling, a quarter of the tail's work. Those
 * values differ from a full sum by rounding only (the clean sum less one
 * of its terms). A global average pooling of the input is the clean means
 * with channel chan[r]'s 0 (exactly: resnet50 at layer4, where that and
 * the dense layer are the whole tail). Other readers of the input get the
 * ablated copies. */
#ifndef CNN_COLRUN_H
#define CNN_COLRUN_H

#include <stdint.h>

#include "nn/graph.h"

typedef struct colrun colrun;

/* A runner of m's nodes that node upto depends on (m's input its input,
 * fed as is: m's preprocessing must be the identity) for at most rows rows
 * a pass. NULL when one of them is an op it does not run (it runs Conv
 * with groups 1, ReLU, Add of equal shapes, GlobalAvgPool, Flatten, Dense,
 * Dropout) or when there is no packed micro-kernel (pack.h). */
colrun *colrun_new(const model *m, int upto, int rows);
/* The same for the nodes after node from (its activation the input, fed
 * as is) that upto depends on, m's weights read where they lie (m must
 * outlive the runner; weights changed after are not seen); NULL too when
 * one of them reads a node before from. from -1 is colrun_new. */
colrun *colrun_new_from(const model *m, int from, int upto, int rows);
void colrun_free(colrun *c);
/* The rows of colrun_new. */
int colrun_rows(const colrun *c);
/* The clean input of the ablations that follow (C x H x W, the model's
 * input shape; kept by pointer until the next call): runs the convolutions
 * that read the input on it once. */
void colrun_clean(colrun *c, const float *clean);
/* n <= rows copies of the clean input, copy r with channel chan[r] zeroed,
 * through the net: node upto's values of copy r into out[r * D + d] (D its
 * C x H x W, in that order). */
void colrun_ablate(colrun *c, const int64_t *chan, int n, float *out);
/* n <= rows rows of input x (n x C x H x W, as the engine lays a batch)
 * through the net: node upto's values into out as colrun_ablate's. */
void colrun_forward(colrun *c, const float *x, int n, float *out);

#endif
