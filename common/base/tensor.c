#include "base/tensor.h"
#include "base/alloc.h"
#include "base/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


int64_t shape_numel(int ndim, const int64_t *dims, int64_t limit)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            return -1;
        if (dims[i] && n > limit / dims[i])
            return -1;
        n *= dims[i];
    }
    return n;
}

static tensor *tensor_make(int ndim, const int64_t *dims, int zero)
{
    char buf[128];
    if (ndim < 0 || ndim > TENSOR_MAXDIM)
        die("tensor of %d dimensions (at most %d)", ndim, TENSOR_MAXDIM);
    int64_t n = shape_numel(ndim, dims, INT64_MAX / (int64_t)sizeof(float));
    if (n < 0)
        die("tensor shape %s is too large",
            tensor_shape_str(ndim, dims, buf, sizeof buf));
    tensor *t = xmalloc(sizeof *t);
    t->ndim = ndim;
    memset(t->dims, 0, sizeof t->dims);
    memcpy(t->dims, dims, (size_t)ndim * sizeof *dims);
    t->data = zero ? falloc((size_t)n) : falloc_raw((size_t)n);
    t->borrowed = 0;
    return t;
}

tensor *tensor_new(int ndim, const int64_t *dims) { return tensor_make(ndim, dims, 1); }
tensor *tensor_new_raw(int ndim, const int64_t *dims) { return tensor_make(ndim, dims, 0); }

tensor *tensor_new4_raw(int64_t n, int64_t c, int64_t h, int64_t w)
{
    int64_t dims[4] = { n, c, h, w };
    return tensor_new_raw(4, dims);
}

tensor *tensor_new2(int64_t n, int64_t d)
{
    int64_t dims[2] = { n, d };
    return tensor_new(2, dims);
}

tensor *tensor_new4(int64_t n, int64_t c, int64_t h, int64_t w)
{
    int64_t dims[4] = { n, c, h, w };
    return tensor_new(4, dims);
}

tensor *tensor_borrow(int ndim, const int64_t *dims, float *data)
{
    char buf[128];
    if (ndim < 0 || ndim > TENSOR_MAXDIM ||
        shape_numel(ndim, dims, INT64_MAX / (int64_t)sizeof(float)) < 0)
        die("tensor shape %s is not valid", tensor_shape_str(ndim, dims, buf, sizeof buf));
    tensor *t = xcalloc(1, sizeof *t);
    t->ndim = ndim;
    memcpy(t->dims, dims, (size_t)ndim * sizeof *dims);
    t->data = data;
    t->borrowed = 1;
    return t;
}

tensor *tensor_clone(const tensor *t)
{
    tensor *c = tensor_new(t->ndim, t->dims);
    memcpy(c->data, t->data, (size_t)tensor_numel(t) * sizeof(float));
    return c;
}

void tensor_free(tensor *t)
{
    if (!t)
        return;
    if (!t->borrowed)
        free(t->data);
    free(t);
}

int64_t tensor_numel(const tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->dims[i];
    return n;
}

int64_t tensor_rowsize(const tensor *t)
{
    int64_t n = 1;
    for (int i = 1; i < t->ndim; i++)
        n *= t->dims[i];
    return n;
}

char *tensor_shape_str(int ndim, const int64_t *dims, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndim && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%lld", i ? "x" : "",
                                (long long)dims[i]);
    return buf;
}

int tensor_same_shape(const tensor *a, const tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i])
            return 0;
    return 1;
}

void tensor_fill(tensor *t, float v)
{
    int64_t n = tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        t->data[i] = v;
}
