/* depthwise: direct convolution of each channel with its own kh x kw
 * filter (groups = Cin = Cout: MobileNet's 3x3 layers), forward, input
 * gradient and weight gradient.
 *
 * In AVX2+FMA builds all three take blocks of 8 channels (16 with
 * AVX-512) of one image, transposed into a zero-padded buffer of pixels
 * of that many floats: each tap of an
 * output pixel is one vector multiply-add, with no per-plane geometry
 * (depthwise.c, "channel-interleaved path"). The forward of 3x3 filters
 * on planes of 16 or more output columns (AVX-512: stride 1 or 2; AVX2:
 * stride 1) works plane by plane instead, 16 (AVX2: 8) output columns to
 * a vector, reading the input where it lies (depthwise.c, "row path": no
 * transposes; the same sums). A build without AVX2 works plane by plane
 * as follows.
 *
 * Each thread copies one plane at a time into a zero-padded buffer split
 * into `stride` phases by column (phase p, column j = padded column
 * j * stride + p), so that every tap reads a contiguous run of a phase row
 * for a contiguous run of output columns: the loops over output columns
 * have no bounds checks and vectorise (AVX-512 or AVX2, whatever the build
 * targets). 3x3 filters sum their nine taps in registers and write each
 * output once; other sizes sum blocks of outputs in registers, tap by tap.
 * The input gradient of a stride-1 plane gathers, for each padded
 * position, gy times the taps that read it (the same register blocks over
 * gy with zero margins); a strided plane scatters gy times each tap into
 * the buffer; either is then added back onto the plane. The weight
 * gradient is a dot product per tap and row. */
#ifndef CNN_DEPTHWISE_H
#define CNN_DEPTHWISE_H

#include <stddef.h>
#include <stdint.h>

#include "nn/ops/act.h"
#include "nn/ops/planes.h"   /* dwgeo */

/* Workspace floats per thread. */
size_t dw_ws_floats(const dwgeo *g);
/* y = act(conv(x) + b) (b may be NULL) for n images; ws holds threads
 * slots. */
void dw_forward(const dwgeo *g, const float *W, const float *b, int n, const float *x, float *y,
                float *ws, int threads, op_act act);
/* gx += d/dx of sum(gy . y). */
void dw_xgrad(const dwgeo *g, const float *W, int n, const float *gy, float *gx, float *ws,
              int threads);
/* gW += d/dW, gb += d/db (either may be NULL). */
void dw_wgrad(const dwgeo *g, int n, const float *x, const float *gy, float *gW, float *gb,
              float *ws, int threads);

#endif
