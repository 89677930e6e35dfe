/* The op registry: the list of ops and the attribute helpers they share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops.h"

static const struct op_def *const registry[] = {
    &op_conv, &op_dense, &op_relu, &op_leakyrelu, &op_sigmoid, &op_tanh, &op_clip,
    &op_maxpool, &op_avgpool, &op_globalavgpool, &op_lrn, &op_batchnorm, &op_dropout,
    &op_flatten, &op_softmax, &op_add, &op_concat,
    &op_channelshuffle, &op_channelslice, &op_layernorm, &op_instancenorm, &op_resize,
    &op_convtranspose,
    &op_hardsigmoid, &op_hardswish, &op_silu, &op_gelu, &op_elu, &op_prelu, &op_softplus,
    &op_logsoftmax, &op_sub, &op_mul, &op_div, &op_globalmaxpool, &op_mean, &op_max, &op_min,
    &op_selu, &op_mish,
};
#define NOPS ((int)(sizeof registry / sizeof registry[0]))

const struct op_def *op_find(const char *name)
{
    if (!name)
        return NULL;
    if (!strcmp(name, "Gemm"))
        return &op_dense;
    for (int i = 0; i < NOPS; i++)
        if (!strcmp(registry[i]->name, name))
            return registry[i];
    return NULL;
}

const struct op_def *op_at(int i)
{
    return i >= 0 && i < NOPS ? registry[i] : NULL;
}

const char *op_names(void)
{
    /* Built from the constant table, so the same text every call. */
    static char buf[1024];
    if (!buf[0]) {
        size_t k = 0;
        for (int i = 0; i < NOPS && k + 20 < sizeof buf; i++)
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s", i ? " " : "",
                                  registry[i]->name);
    }
    return buf;
}

int64_t op_attr_int(const node *nd, const char *key, int i, int64_t def)
{
    int n = node_getn(nd, key);
    if (n <= 0)
        return def;
    return (int64_t)node_get(nd, key, i < n ? i : n - 1, (double)def);
}

void op_pads(const node *nd, int64_t pad[4])
{
    int n = node_getn(nd, "pad");
    for (int i = 0; i < 4; i++)
        pad[i] = 0;
    if (n == 1)
        pad[0] = pad[1] = pad[2] = pad[3] = (int64_t)node_get(nd, "pad", 0, 0);
    else if (n == 2) {
        pad[0] = pad[2] = (int64_t)node_get(nd, "pad", 0, 0);
        pad[1] = pad[3] = (int64_t)node_get(nd, "pad", 1, 0);
    } else if (n == 4)
        for (int i = 0; i < 4; i++)
            pad[i] = (int64_t)node_get(nd, "pad", i, 0);
}

int op_keep(node *nd, const void *p, size_t size, char *err, size_t len)
{
    void *q = malloc(size);
    if (!q) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    memcpy(q, p, size);
    nd->priv = q;
    return 0;
}

int op_weight_index(const node *nd, const char *wname)
{
    for (int k = 0; k < nd->nw; k++)
        if (!strcmp(nd->wnames[k], wname))
            return k;
    return -1;
}

int64_t op_numel(const node *nd, int n)
{
    return (int64_t)n * nd->shape[0] * nd->shape[1] * nd->shape[2];
}

int64_t op_in_numel(const op_io *io, int k)
{
    return (int64_t)io->n * io->xshape[k][0] * io->xshape[k][1] * io->xshape[k][2];
}

int op_same_prepare(node *nd, const int64_t *const *in, op_need *need, char *err, size_t len)
{
    (void)err;
    (void)len;
    memcpy(nd->shape, in[0], sizeof nd->shape);
    need->ws = 0, need->aux = 0;
    return 0;
}

int op_sets_grad(const struct op_def *def)
{
    static const struct op_def *const sets[] = {
        /* products and sums */
        &op_conv, &op_add, &op_mul, &op_concat,
        /* activations */
        &op_relu, &op_leakyrelu, &op_clip, &op_sigmoid, &op_tanh, &op_hardsigmoid,
        &op_hardswish, &op_silu, &op_gelu, &op_elu, &op_softplus, &op_selu, &op_mish,
        /* norms and pools */
        &op_batchnorm, &op_layernorm, &op_maxpool, &op_avgpool, &op_globalavgpool,
    };
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
        if (def == sets[i])
            return 1;
    return 0;
}
