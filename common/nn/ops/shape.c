/* Structure: Flatten (C x H x W -> C*H*W x 1 x 1; the data are already in
 * that order), Add (elementwise sum of n inputs of one shape) and Concat
 * (along channels; all inputs share H x W). */
#include <stdio.h>
#include <string.h>

#include "nn/ops.h"

static const op_attr_spec no_attrs[] = { { NULL, 0, 0 } };
static const op_weight_spec no_weights[] = { { NULL, 0 } };

static int64_t per_image(const int64_t *s) { return s[0] * s[1] * s[2]; }

static int flatten_prepare(node *nd, const int64_t *const *in, op_need *need, char *err,
                           size_t len)
{
    (void)err;
    (void)len;
    nd->shape[0] = per_image(in[0]), nd->shape[1] = 1, nd->shape[2] = 1;
    need->ws = 0, need->aux = 0;
    return 0;
}

static void flatten_forward(const node *nd, const op_io *io)
{
    memcpy(io->y, io->x[0], (size_t)(io->n * nd->shape[0]) * sizeof(float));
}

static void flatten_backward(const node *nd, const op_io *io)
{
    int64_t n = io->n * nd->shape[0];
    if (io->gx[0])
        for (int64_t i = 0; i < n; i++)
            io->gx[0][i] += io->gy[i];
}

const struct op_def op_flatten = { "Flatten", 1, 1, no_attrs, no_weights, flatten_prepare,
                                   flatten_forward, flatten_backward };

static int add_prepare(node *nd, const int64_t *const *in, op_need *need, char *err, size_t len)
{
    for (int k = 1; k < nd->nin; k++)
        if (memcmp(in[k], in[0], 3 * sizeof(int64_t))) {
            snprintf(err, len, "input '%s' is %lldx%lldx%lld but '%s' is %lldx%lldx%lld",
                     nd->in_names[k], (long long)in[k][0], (long long)in[k][1],
                     (long long)in[k][2], nd->in_names[0], (long long)in[0][0],
                     (long long)in[0][1], (long long)in[0][2]);
            return -1;
        }
    memcpy(nd->shape, in[0], sizeof nd->shape);
    need->ws = 0, need->aux = 0;
    return 0;
}

static void add_forward(const node *nd, const op_io *io)
{
    int64_t n = io->n * per_image(nd->shape);
    float *y = io->y;
    memcpy(y, io->x[0], (size_t)n * sizeof(float));
    for (int k = 1; k < io->nin; k++) {
        const float *x = io->x[k];
#pragma omp parallel for if (n > OP_PAR_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++)
            y[i] += x[i];
    }
}

static void add_backward(const node *nd, const op_io *io)
{
    int64_t n = io->n * per_image(nd->shape);
    for (int k = 0; k < io->nin; k++) {
        float *gx = io->gx[k];
        const float *g = io->gy;
        if (!gx)
            continue;
#pragma omp parallel for if (n > OP_PAR_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++)
            gx[i] += g[i];
    }
}

const struct op_def op_add = { "Add", 1, 0, no_attrs, no_weights, add_prepare, add_forward,
                               add_backward };

static int concat_prepare(node *nd, const int64_t *const *in, op_need *need, char *err,
                          size_t len)
{
    int64_t c = 0;
    for (int k = 0; k < nd->nin; k++) {
        if (in[k][1] != in[0][1] || in[k][2] != in[0][2]) {
            snprintf(err, len, "input '%s' is %lldx%lld but '%s' is %lldx%lld (height x width)",
                     nd->in_names[k], (long long)in[k][1], (long long)in[k][2],
                     nd->in_names[0], (long long)in[0][1], (long long)in[0][2]);
            return -1;
        }
        c += in[k][0];
    }
    nd->shape[0] = c, nd->shape[1] = in[0][1], nd->shape[2] = in[0][2];
    need->ws = 0, need->aux = 0;
    return 0;
}

static void concat_forward(const node *nd, const op_io *io)
{
    int64_t chw = per_image(nd->shape);
    for (int i = 0; i < io->n; i++) {
        float *y = io->y + i * chw;
        for (int k = 0; k < io->nin; k++) {
            int64_t m = per_image(io->xshape[k]);
            memcpy(y, io->x[k] + i * m, (size_t)m * sizeof(float));
            y += m;
        }
    }
}

static void concat_backward(const node *nd, const op_io *io)
{
    int64_t chw = per_image(nd->shape);
    for (int i = 0; i < io->n; i++) {
        const float *g = io->gy + i * chw;
        for (int k = 0; k < io->nin; k++) {
            int64_t m = per_image(io->xshape[k]);
            if (io->gx[k]) {
                float *gx = io->gx[k] + i * m;
                for (int64_t j = 0; j < m; j++)
                    gx[j] += g[j];
            }
            g += m;
        }
    }
}

const struct op_def op_concat = { "Concat", 1, 0, no_attrs, no_weights, concat_prepare,
                                  concat_forward, concat_backward };
