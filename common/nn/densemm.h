/* densemm: the dense layer's product, y = x W^T + b, in dot-product form:
 * W (r x D) and x (n x D) both read along D, where they lie, a vector of
 * consecutive weights of a row against a vector of consecutive inputs of
 * an image.
 *
 * The order of the sums (issue 20): output (i, o) is the sum over D in
 * blocks of DENSEMM_KB inputs; within a block each vector lane l sums the
 * terms k = l mod lanes, from zero, in k order (fused multiply-adds; a
 * last part-vector of D is loaded with its missing lanes zero); the
 * blocks' vectors are added in block order, the lanes summed in a fixed
 * tree, then b[o] added. That depends on k alone: not on n, on the other
 * images or rows, on the register tile an output falls in, nor on the
 * threads (each output computed by one, the rows split among them). An
 * image's outputs are bit for bit the same alone or in any batch. The
 * lanes are AVX-512's 16 or AVX2's 8 (so the two builds differ in
 * rounding); without either, a portable loop of 8 lanes' sums in k order. */
#ifndef CNN_DENSEMM_H
#define CNN_DENSEMM_H

#include <stdint.h>

/* Inputs per block: a block of 8 rows of W (16 KiB) and of a few images
 * stays in L1 while the tiles over the images pass it. */
#define DENSEMM_KB 512

/* y (n x r, row-major) = x (n x d, row-major) W^T (W: r x d, row-major)
 * + b (r values, or NULL for none). */
void densemm(const float *w, int64_t r, int64_t d, const float *x, int n, const float *b,
             float *y);

#endif
