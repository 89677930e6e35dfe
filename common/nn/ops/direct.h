/* direct: a convolution's forward with no lowering, output channels along
 * the vectors (AVX-512: 32 channels in 2 zmm; AVX2+FMA: 16 in 2 ymm) and
 * the input broadcast where it lies.
 *
 * A tile is up to DC_TW output pixels of one output row by one block of
 * DC_NC output channels, in 2 DC_TW vector accumulators. For each tap k =
 * (channel c, kernel row ki, kernel column kj), in that order, the tile's
 * pixels read the (zero-padded) input at one offset plus sw floats a
 * pixel, so each is a broadcast from a constant displacement and two
 * multiply-adds with the tap's DC_NC packed weights: no column matrix is
 * written or read back (lowering a stride-2 3x3 layer was a quarter of its
 * time), and any stride, padding and dilation costs the same. The sums are
 * those of the lowered product on the packed GEMM (pack.h), bit for bit:
 * the same fused multiply-adds in k order, the same PK_KC blocks of k each
 * summed from zero and added onto the block before, the bias on the first
 * block, then a fused residual Add and the activation. The tile goes out
 * through a small buffer, transposed into the planes (NCHW).
 *
 * Which convolutions take it by default (dc_wanted, measured in the
 * nets): with AVX-512, strided ones, 7x7 maps, 5x5 and larger kernels,
 * 32-channel outputs and small-map 1x1 layers to few channels; with
 * AVX2 none (its tiles measured slower than the GEMM and Winograd), and
 * without AVX2+FMA it is not compiled. CNN_CONV_DIRECT=1 takes it
 * wherever it can (the tests do), =0 nowhere. */
#ifndef CNN_DIRECT_H
#define CNN_DIRECT_H

#include <stddef.h>
#include <stdint.h>

#include "nn/ops/act.h"

/* The geometry: one group; pads top, left, bottom, right. */
typedef struct dcgeo {
    int64_t cin, h, w, cout, oh, ow, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
} dcgeo;

/* Whether the forward of g runs here (CNN_CONV_DIRECT=0: never, =1:
 * whenever it can; unset: by the geometry). */
int dc_wanted(const dcgeo *g);
/* Floats of the packed weights. */
size_t dc_w_floats(const dcgeo *g);
/* W (cout x cin x kh x kw) packed: per block of DC_NC output channels, per
 * tap k, the block's weights (zeros past cout). */
void dc_pack(const dcgeo *g, const float *W, float *Wp);
/* Workspace floats for up to threads threads (when g pads: the
 * zero-padded input of a few images, or of one image a thread). */
size_t dc_ws_floats(const dcgeo *g, int threads);
/* y = act(conv(x) + b (+ r)) for n images (b, r may be NULL) on at most
 * threads threads; Wp from dc_pack. */
void dc_forward(const dcgeo *g, const float *Wp, const float *b, int n, const float *x,
                const float *r, float *y, float *ws, int threads, op_act act);

#endif
