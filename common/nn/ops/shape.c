/* Structure: Flatten (C x H x W -> C*H*W x 1 x 1; the data are already in
 * that order) and Concat (along channels; all inputs share H x W). Add is
 * with the other arithmetic in ops/binary.c. */
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

/* Each output plane (image i, channel c) is input k's plane c - off[k]
 * (off[k] <= c < off[k + 1]), copied, or with the BatchNorm the engine
 * fused after it applied (io->scale: act_affine, as BatchNorm rounds). */
typedef struct concat_job {
    const node *nd;
    const op_io *io;
    const int64_t *off;
} concat_job;

static void concat_planes(void *ctx, int64_t q0, int64_t q1, int t)
{
    const concat_job *a = ctx;
    const op_io *io = a->io;
    const int64_t *off = a->off;
    int64_t c = a->nd->shape[0], hw = a->nd->shape[1] * a->nd->shape[2];
    (void)t;
    for (int64_t q = q0; q < q1; q++) {
        int64_t i = q / c, ch = q % c;
        int k = 0;
        while (ch >= off[k + 1])
            k++;
        int64_t ck = off[k + 1] - off[k];
        const float *x = io->x[k] + (i * ck + ch - off[k]) * hw;
        float *y = io->y + q * hw;
        if (io->scale)
            act_affine(y, x, hw, io->scale[ch], io->shift[ch], io->act);
        else
            memcpy(y, x, (size_t)hw * sizeof(float));
    }
}

static void concat_forward(const node *nd, const op_io *io)
{
    int64_t c = nd->shape[0], hw = nd->shape[1] * nd->shape[2], planes = io->n * c;
    int64_t off[65];
    off[0] = 0;
    for (int k = 0; k < io->nin; k++)
        off[k + 1] = off[k] + io->xshape[k][0];
    concat_job a = { nd, io, off };
    op_par_for(planes, planes * hw, concat_planes, &a);
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
                if (io->gset >> k & 1)   /* fresh: stored, as the sum onto zeros rounds */
                    for (int64_t j = 0; j < m; j++)
                        gx[j] = g[j] + 0.0f;
                else
                    for (int64_t j = 0; j < m; j++)
                        gx[j] += g[j];
            }
            g += m;
        }
    }
}

const struct op_def op_concat = { "Concat", 1, 0, no_attrs, no_weights, concat_prepare,
                                  concat_forward, concat_backward };
