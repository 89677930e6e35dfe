/* Channel rearrangements: ChannelShuffle (ShuffleNet's Reshape N x g x C/g
 * x H x W -> Transpose(0,2,1,3,4) -> Reshape N x C x H x W, as one op) and
 * ChannelSlice (channels start .. end-1, PyTorch's x.chunk / x[:, a:b]). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops.h"

static const op_weight_spec no_weights[] = { { NULL, 0 } };

/* y channel j*g + i = x channel i*(C/g) + j, i < g, j < C/g. */
static const op_attr_spec shuffle_attrs[] = { { "groups", 1, 1 }, { NULL, 0, 0 } };

static int shuffle_prepare(node *nd, const int64_t *const *in, op_need *need, char *err,
                           size_t len)
{
    int64_t g = op_attr_int(nd, "groups", 0, 0);
    need->ws = 0, need->aux = 0;
    memcpy(nd->shape, in[0], sizeof nd->shape);
    if (g >= 1 && in[0][0] % g == 0)
        return 0;
    snprintf(err, len, "groups (%lld) must be >= 1 and divide the %lld channels", (long long)g,
             (long long)in[0][0]);
    return -1;
}

/* Copies plane src of each image to plane dst (or adds, backward). */
typedef struct shuffle_job {
    const node *nd;
    const float *x;
    float *y;
    int back;
} shuffle_job;

static void shuffle_planes(void *ctx, int64_t q0, int64_t q1, int t)
{
    const shuffle_job *a = ctx;
    const node *nd = a->nd;
    int64_t c = nd->shape[0], hw = nd->shape[1] * nd->shape[2];
    int64_t g = op_attr_int(nd, "groups", 0, 1), cg = c / g;
    (void)t;
    for (int64_t q = q0; q < q1; q++) {
        int64_t img = q / c, o = q % c, i = o % g, j = o / g;
        int64_t src = img * c + i * cg + j;   /* the input plane of output plane q */
        if (!a->back) {
            memcpy(a->y + q * hw, a->x + src * hw, (size_t)hw * sizeof *a->y);
        } else {
            const float *gy = a->x + q * hw;
            float *gx = a->y + src * hw;
            for (int64_t k = 0; k < hw; k++)
                gx[k] += gy[k];
        }
    }
}

static void shuffle_run(const node *nd, int n, const float *x, float *y, int back)
{
    int64_t planes = (int64_t)n * nd->shape[0], hw = nd->shape[1] * nd->shape[2];
    shuffle_job a = { nd, x, y, back };
    op_par_for(planes, planes * hw, shuffle_planes, &a);
}

static void shuffle_forward(const node *nd, const op_io *io)
{
    shuffle_run(nd, io->n, io->x[0], io->y, 0);
}

static void shuffle_backward(const node *nd, const op_io *io)
{
    if (io->gx[0])
        shuffle_run(nd, io->n, io->gy, io->gx[0], 1);
}

const struct op_def op_channelshuffle = { "ChannelShuffle", 1, 1, shuffle_attrs, no_weights,
                                          shuffle_prepare, shuffle_forward, shuffle_backward };

static const op_attr_spec slice_attrs[] = { { "start", 1, 1 }, { "end", 1, 1 }, { NULL, 0, 0 } };

static int slice_prepare(node *nd, const int64_t *const *in, op_need *need, char *err, size_t len)
{
    int64_t a = op_attr_int(nd, "start", 0, 0), b = op_attr_int(nd, "end", 0, in[0][0]);
    if (a < 0 || b > in[0][0] || a >= b) {
        snprintf(err, len, "channels %lld..%lld are not within the input's %lld", (long long)a,
                 (long long)b - 1, (long long)in[0][0]);
        return -1;
    }
    nd->shape[0] = b - a, nd->shape[1] = in[0][1], nd->shape[2] = in[0][2];
    need->ws = 0, need->aux = 0;
    return 0;
}

static void slice_forward(const node *nd, const op_io *io)
{
    int64_t hw = nd->shape[1] * nd->shape[2], c = nd->shape[0], cin = io->xshape[0][0];
    int64_t a = op_attr_int(nd, "start", 0, 0);
    for (int i = 0; i < io->n; i++)
        memcpy(io->y + i * c * hw, io->x[0] + (i * cin + a) * hw, (size_t)(c * hw) * sizeof(float));
}

static void slice_backward(const node *nd, const op_io *io)
{
    int64_t hw = nd->shape[1] * nd->shape[2], c = nd->shape[0], cin = io->xshape[0][0];
    int64_t a = op_attr_int(nd, "start", 0, 0);
    if (!io->gx[0])
        return;
    for (int i = 0; i < io->n; i++) {
        float *gx = io->gx[0] + (i * cin + a) * hw;
        const float *g = io->gy + i * c * hw;
        for (int64_t k = 0; k < c * hw; k++)
            gx[k] += g[k];
    }
}

const struct op_def op_channelslice = { "ChannelSlice", 1, 1, slice_attrs, no_weights,
                                        slice_prepare, slice_forward, slice_backward };
