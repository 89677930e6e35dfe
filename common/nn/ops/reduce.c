/* Reductions over a whole feature map: GlobalMaxPool (ONNX GlobalMaxPool,
 * ReduceMax over H and W). The position of each plane's maximum (the first
 * in scan order; a NaN wins, as in MaxPool) is kept for backward, which
 * routes the gradient there under every rule, like max-pool switches. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nn/ops.h"

static const op_attr_spec no_attrs[] = { { NULL, 0, 0 } };
static const op_weight_spec no_weights[] = { { NULL, 0 } };

static int gmp_prepare(node *nd, const int64_t *const *in, op_need *need, char *err, size_t len)
{
    (void)err;
    (void)len;
    if (in[0][1] * in[0][2] > INT32_MAX) {
        snprintf(err, len, "a %lldx%lld map is too large", (long long)in[0][1],
                 (long long)in[0][2]);
        return -1;
    }
    nd->shape[0] = in[0][0], nd->shape[1] = 1, nd->shape[2] = 1;
    need->ws = 0;
    need->aux = (size_t)in[0][0] * sizeof(int32_t);
    return 0;
}

/* Planes q0..q1-1 of the forward (ctx: the op_io). */
static void gmp_planes(void *ctx, int64_t q0, int64_t q1, int t)
{
    const op_io *io = ctx;
    const int64_t *s = io->xshape[0];
    int64_t hw = s[1] * s[2];
    int32_t *arg = io->aux;
    (void)t;
    for (int64_t q = q0; q < q1; q++) {
        const float *x = io->x[0] + q * hw;
        int64_t best = 0;
        float m = x[0];
        for (int64_t k = 1; k < hw && m == m; k++)
            if (x[k] > m || x[k] != x[k])
                m = x[k], best = k;
        io->y[q] = m;
        if (arg)   /* NULL: a forward-only engine's */
            arg[q] = (int32_t)best;
    }
}

static void gmp_forward(const node *nd, const op_io *io)
{
    const int64_t *s = io->xshape[0];
    int64_t planes = (int64_t)io->n * nd->shape[0];
    op_par_for(planes, planes * s[1] * s[2], gmp_planes, (void *)io);
}

static void gmp_backward(const node *nd, const op_io *io)
{
    const int64_t *s = io->xshape[0];
    int64_t hw = s[1] * s[2], planes = (int64_t)io->n * nd->shape[0];
    const int32_t *arg = io->aux;
    if (!io->gx[0])
        return;
    for (int64_t q = 0; q < planes; q++)
        io->gx[0][q * hw + arg[q]] += io->gy[q];
}

const struct op_def op_globalmaxpool = { "GlobalMaxPool", 1, 1, no_attrs, no_weights, gmp_prepare,
                                         gmp_forward, gmp_backward };
