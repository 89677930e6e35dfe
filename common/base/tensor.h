/* tensor: dense float32 arrays, batch axis first (N x C x H x W for images
 * and activations, N x D for features). */
#ifndef CNN_TENSOR_H
#define CNN_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "base/alloc.h"

#define TENSOR_MAXDIM 8

typedef struct tensor {
    int ndim;
    int64_t dims[TENSOR_MAXDIM];
    float *data;            /* owned unless borrowed; 64-byte aligned; numel floats */
    int borrowed;           /* 1: data belongs to someone else (tensor_borrow) */
} tensor;

/* A zero-filled tensor of the given shape; dies on overflow or out of memory.
 * The caller owns it and frees it with tensor_free. */
tensor *tensor_new(int ndim, const int64_t *dims);
tensor *tensor_new2(int64_t n, int64_t d);
tensor *tensor_new4(int64_t n, int64_t c, int64_t h, int64_t w);
/* As tensor_new, contents undefined (falloc_raw): for tensors written
 * whole before they are read. */
tensor *tensor_new_raw(int ndim, const int64_t *dims);
tensor *tensor_new4_raw(int64_t n, int64_t c, int64_t h, int64_t w);
/* A tensor over data it does not own: tensor_free frees the header only.
 * For a model's weights where they lie in a mapping of its file (the
 * model unmaps it). data must be 64-byte aligned. */
tensor *tensor_borrow(int ndim, const int64_t *dims, float *data);
/* A deep copy (owned). */
tensor *tensor_clone(const tensor *t);
void tensor_free(tensor *t);

/* Number of elements; product of dims (1 for ndim 0). */
int64_t tensor_numel(const tensor *t);
/* Elements per row: numel / dims[0]. */
int64_t tensor_rowsize(const tensor *t);
/* Product of dims with overflow check: returns -1 when it exceeds limit. */
int64_t shape_numel(int ndim, const int64_t *dims, int64_t limit);
/* "2x3x28x28" into buf; returns buf. */
char *tensor_shape_str(int ndim, const int64_t *dims, char *buf, size_t len);
int tensor_same_shape(const tensor *a, const tensor *b);
void tensor_fill(tensor *t, float v);

#endif
