/* winograd: 3x3, stride-1 convolutions by Winograd's minimal filtering
 * F(4x4, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2016), on the interpolation points 0, -1, 1, 1/2, -2 and
 * infinity (Barabasz et al., 2020; winograd.c).
 *
 * Each 4x4 block of output (a tile) comes from a 6x6 block d of the padded
 * input: Y = A^T [(G g G^T) . (B^T d B)] A. Summed over input channels, the
 * 36 elementwise products become 36 matrix products, one per position xi of
 * the 6x6 transformed tile: M_xi (Cout x tiles) = U_xi (Cout x Cin) V_xi
 * (Cin x tiles). That is 36 multiply-adds per tile and channel pair where a
 * direct convolution (or im2col + GEMM) does 144: 4 times fewer. (F(2x2,
 * 3x3), 2.25 times fewer, was 20% slower end to end on VGG-16.) The
 * transforms cost precision: on a 128 -> 128 channel layer of ReLU'd
 * inputs, 2.5e-6 of the largest output from float64, against 2.6e-7 for
 * im2col; Lavin & Gray's points 0, +-1, +-2 gave 8.3e-6 (README,
 * "Precision"; the reference tests hold whole nets to 1e-4 of PyTorch's).
 *
 * Work is split into chunks of tile rows of one image, sized so that a
 * chunk's transformed input and products stay near L2; the (image, chunk)
 * items run in parallel, each on one thread. With the packed micro-kernel
 * (pack.h's PK_GEMM: AVX-512, or AVX2 with FMA) the transformed weights are
 * packed once per call, the transforms are vector code (16 lanes, 8 with
 * AVX2) and the input transform writes straight into the kernel's panels;
 * without it the transforms are scalar and each product an OpenBLAS sgemm.
 *
 * colrun (nn/colrun.h) runs the same Winograd over the tiles of many
 * images at once, with its own tiling, on the weight and panel transforms
 * below. */
#ifndef CNN_WINOGRAD_H
#define CNN_WINOGRAD_H

#include <stddef.h>
#include <stdint.h>

#include "nn/ops/act.h"

typedef struct wgeo {
    int64_t cin, h, w, cout, oh, ow, pt, pl;
    int64_t tw, th;      /* tiles per row, tile rows */
    int64_t trows;       /* tile rows per chunk */
} wgeo;

/* Whether a convolution with these parameters runs by Winograd: kernel
 * 3x3, stride 1, dilation 1, one group, enough channels for the products
 * to dominate the transforms, and CNN_CONV_WINOGRAD not "0". */
int wino_wanted(int64_t cin, int64_t cout, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                int64_t dh, int64_t dw, int64_t groups);
/* The geometry of a convolution of cin x h x w into cout x oh x ow with
 * top and left pads pt, pl. */
void wino_init(wgeo *g, int64_t cin, int64_t h, int64_t w, int64_t cout, int64_t oh, int64_t ow,
               int64_t pt, int64_t pl);
/* Whether Winograd is worth it for this geometry (enough tiles per image
 * to amortise the weight transform); else the caller runs im2col. It does
 * not depend on the batch, so neither do the results. */
int wino_worth(const wgeo *g);
/* Workspace floats for wt threads (transformed weights and a slot each). */
size_t wino_ws_floats(const wgeo *g, int wt);
/* Floats of the transformed weights, and the transform of W into U. */
size_t wino_u_floats(const wgeo *g);
void wino_weights(const wgeo *g, const float *W, float *U);
/* Floats from one of U's 36 transformed weight matrices to the next (each
 * packed as pk_pack_a would, with PK_GEMM). */
size_t wino_u_stride(const wgeo *g);
/* For callers that tile for themselves (PK_GEMM only): a panel of PK_NR
 * tiles, tile l's 6x6 input element (i, j) at d[(6i + j) PK_NR + l], into
 * V_xi's row at v + xi vs (PK_NR floats each, xi = 6i + j of B^T d B); and
 * back, the 36 products of PK_NR tiles at m + xi ms into the 4x4 outputs
 * A^T m A + bias, element (i, j) of tile l at y[(4i + j) PK_NR + l]. */
void wino_in_panel(const float *d, float *v, size_t vs);
void wino_out_panel(const float *m, size_t ms, float bias, float *y);
/* y (+)= conv(x; W, b) for n images (beta 0 or 1), W Cout x Cin x 3 x 3,
 * b NULL or Cout; ws: wino_ws_floats(g, wt) floats. U: W already
 * transformed (wino_weights, kept by the caller), or NULL. Then y =
 * act(y + r) (r: a fused residual Add, n images as y, or NULL; act: a
 * fused activation, act.h), as the ops would round them. */
void wino_run(const wgeo *g, const float *W, const float *U, const float *b, int n,
              const float *x, float *y, float beta, float *ws, int wt, const float *r, op_act act);

#endif
