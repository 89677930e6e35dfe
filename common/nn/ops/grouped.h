/* grouped: direct convolution of groups with few output channels (RegNet's
 * and ResNeXt's 3x3 layers: groups of 8 channels), forward, input
 * gradient and weight gradient.
 *
 * On the GEMM such a group is a product of 8 rows (below the packed GEMM's
 * 16: pk_wanted), so each group went through im2col and OpenBLAS at 9-25
 * GFLOP/s. Here each thread copies one group's input planes of one image
 * into the phase-split padded layout of planes.h (the depthwise path's),
 * so that every (input channel, tap) pair is a run over the flat output
 * plane at a fixed offset; a register block holds GR_OB output channels x
 * GR_NV vectors of 8 flat positions, and each pair costs GR_NV vector
 * loads and GR_OB weight broadcasts for GR_OB x GR_NV multiply-adds. The
 * block is written with GCC's vector types, 8 floats wide in every build
 * (AVX2+FMA here; an AVX-512 build runs the same 8-wide code).
 *
 * The input gradient gathers, for each position of each sub-plane of an
 * input plane's padded layout, the taps that read it from gy's flat planes
 * (zero margins): the forward's block with the roles of the channels
 * swapped, over the taps of that sub-plane (all of them at stride 1, about
 * a quarter at stride 2); the padded planes are then added back onto gx. Each image's results come from its own planes in an
 * order fixed by the geometry: they do not depend on the batch or the
 * threads. */
#ifndef CNN_GROUPED_H
#define CNN_GROUPED_H

#include <stddef.h>
#include <stdint.h>

#include "nn/ops/act.h"
#include "nn/ops/planes.h"

typedef struct grgeo {
    dwgeo p;           /* one plane's geometry (p.c: the groups) */
    int64_t ci, co;    /* input and output channels per group */
} grgeo;

/* Whether the direct kernels take g's convolution (groups of fewer than
 * 16 output channels, input planes of a group that fit a thread's slot). */
int gr_wanted(const grgeo *g);
/* Workspace floats for threads threads (a slot each, and the weights
 * repacked). */
size_t gr_ws_floats(const grgeo *g, int threads);
/* The weights W repacked as the forward (xgrad 0) or the input gradient
 * (xgrad 1) reads them, into wp (gr_packed_floats): callers that keep
 * them across calls pass them as Wp below. */
size_t gr_packed_floats(const grgeo *g);
void gr_pack(const grgeo *g, const float *W, int xgrad, float *wp);
/* y = act(conv(x) + b (+ r)) for n images (b, r may be NULL); Wp: W
 * packed (gr_pack), or NULL to pack it into ws, which holds threads slots
 * and the packed weights. */
void gr_forward(const grgeo *g, const float *W, const float *Wp, const float *b, int n,
                const float *x, const float *r, float *y, float *ws, int threads, op_act act);
/* gx += d/dx of sum(gy . y); Wp as above. */
void gr_xgrad(const grgeo *g, const float *W, const float *Wp, int n, const float *gy, float *gx,
              float *ws, int threads);
/* gW += d/dW, gb += d/db (either may be NULL): per (output channel, input
 * channel, tap) a dot product of gy's flat plane with the padded input's
 * run, 4 channels x 2 pairs at a time; each group's sums over the images
 * on one thread, in image order. */
void gr_wgrad(const grgeo *g, int n, const float *x, const float *gy, float *gW, float *gb,
              float *ws, int threads);

#endif
