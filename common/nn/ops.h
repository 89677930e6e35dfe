/* ops: the operator registry (floor nn, README "Code map"). One op_def per op, each
 * in common/nn/ops/<family>.c; a new op is one file and one line in
 * nn/ops/registry.c. Attributes and weights of every op are documented in
 * docs/model-format.md.
 *
 * Data layout: every activation is N x C x H x W float32, contiguous, the
 * per-image shape being node->shape (C x H x W; a vector of D features is
 * D x 1 x 1). Ops see whole batches; backward accumulates (+=) into input and
 * weight gradients, so a node feeding several consumers (or one consumer
 * twice) sums correctly. The engine does not clear a gradient buffer ahead
 * of time: an op with op_sets_grad is told by io->gset which of its
 * input gradients nothing has written yet this backward, and stores (=)
 * into those; for the other ops the engine zeroes such a buffer right
 * before the call (so they always see zeros or earlier sums). */
#ifndef CNN_OPS_H
#define CNN_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "base/par.h"
#include "base/rng.h"
#include "nn/graph.h"
#include "nn/ops/act.h"

/* ReLU rules for the backward pass; the same values as engine.h's
 * relu_rule (ops sit below the engine, so they cannot include it). */
enum { OP_RULE_STANDARD = 0, OP_RULE_GUIDED = 1, OP_RULE_DECONVNET = 2 };

/* The backward of a rectifier-like nonlinearity under a rule, given the
 * incoming gradient g and the true local derivative d = f'(x):
 *   standard g d; guided g d where g > 0, else 0; deconvnet g where g > 0,
 *   else 0 (the backward signal through a plain ReLU, whatever x was). */
static inline float op_rule_grad(int rule, float g, float d)
{
    switch (rule) {
    case OP_RULE_GUIDED: return g > 0 ? g * d : 0.0f;
    case OP_RULE_DECONVNET: return g > 0 ? g : 0.0f;
    default: return g * d;
    }
}

/* A pointwise op's input gradient under a rule, in range functions for
 * op_par_for: gx[i] ASSIGN op_rule_grad(rule, g[i], D), D an expression
 * of i, x, y, a and b (the local derivative), ASSIGN += (onto gx) or =
 * 0.0f + (stored, a -0 made +0 as a sum onto zeros would). One function
 * per rule and assignment, so that each loop vectorises (with the switch
 * inside the loop, Clip's backward stayed scalar: 30% of mobilenet_v2's
 * input gradient). PRE: statements before the loop (locals D reads). */
typedef struct op_grad_job {
    const float *x, *y, *g;
    float *gx;
    float a, b;
} op_grad_job;

#define OP_RULE_FN(FN, ASSIGN, EXPR, PRE)                                                    \
    static void FN(void *ctx_, int64_t i0_, int64_t i1_, int t_)                             \
    {                                                                                        \
        const op_grad_job *j_ = ctx_;                                                        \
        const float *x = j_->x, *y = j_->y, *g = j_->g;                                      \
        float *gx = j_->gx, a = j_->a, b = j_->b;                                            \
        PRE;                                                                                 \
        (void)t_, (void)x, (void)y, (void)a, (void)b;                                        \
        for (int64_t i = i0_; i < i1_; i++)                                                  \
            gx[i] ASSIGN(EXPR);                                                              \
    }

/* NAME##_rule_grad(rule, set, n, job): the loop over n for the rule, into
 * a gradient stored (set: io->gset's bit for it, a fresh buffer) or added
 * onto. */
#define OP_RULE_FNS(NAME, D, PRE)                                                            \
    OP_RULE_FN(NAME##_std_set, = 0.0f +, g[i] * (D), PRE)                                    \
    OP_RULE_FN(NAME##_std_add, +=, g[i] * (D), PRE)                                          \
    OP_RULE_FN(NAME##_gd_set, = 0.0f +, g[i] > 0 ? g[i] * (D) : 0.0f, PRE)                   \
    OP_RULE_FN(NAME##_gd_add, +=, g[i] > 0 ? g[i] * (D) : 0.0f, PRE)                         \
    static void NAME##_rule_grad(int rule, int set, int64_t n, op_grad_job *j)               \
    {                                                                                        \
        par_range_fn *fn = rule == OP_RULE_DECONVNET ? (set ? op_deconv_set : op_deconv_add) \
                           : rule == OP_RULE_GUIDED  ? (set ? NAME##_gd_set : NAME##_gd_add) \
                                                     : (set ? NAME##_std_set : NAME##_std_add); \
        op_par_for(n, n, fn, j);                                                             \
    }

/* The deconvnet rule's loops, the same for every op (no D). */
static inline void op_deconv_set(void *ctx, int64_t i0, int64_t i1, int t)
{
    const op_grad_job *j = ctx;
    const float *g = j->g;
    float *gx = j->gx;
    (void)t;
    for (int64_t i = i0; i < i1; i++)
        gx[i] = 0.0f + (g[i] > 0 ? g[i] : 0.0f);
}

static inline void op_deconv_add(void *ctx, int64_t i0, int64_t i1, int t)
{
    const op_grad_job *j = ctx;
    const float *g = j->g;
    float *gx = j->gx;
    (void)t;
    for (int64_t i = i0; i < i1; i++)
        gx[i] += g[i] > 0 ? g[i] : 0.0f;
}

/* An attribute an op accepts, with how many values it may have. Names not
 * listed are refused by model_prepare (a typo like "strides" must not be
 * silently ignored). */
typedef struct op_attr_spec {
    const char *name;
    int min, max;
} op_attr_spec;

/* A weight an op accepts; required ones must be present. */
typedef struct op_weight_spec {
    const char *name;
    int required;
} op_weight_spec;

/* What prepare tells the engine an op needs besides its output. */
typedef struct op_need {
    size_t ws;           /* scratch floats for one forward/backward call (shared) */
    size_t fws;          /* of those, the floats a forward call touches, from ws[0]
                          * (model_prepare sets it to ws first: prepares that leave
                          * it say all of ws) */
    size_t aux;          /* bytes per image kept from forward to backward */
} op_need;

/* A node's weights in the form its product wants (a Conv's packed panels
 * or Winograd transform; in backward calls, those of its input gradient's
 * product: the packed transpose, or the flipped weights packed or
 * transformed), kept by an engine across calls (one for forward calls, one
 * for backward calls): data (freed with free()) was made from weights at
 * w, for the engine's model at weight generation gen (model.wgen); the op
 * remakes it when w differs or w is NULL (the engine clears it when the
 * generation moved, and gives none to a node's first call after that:
 * one call alone gains nothing from the copy and pays for it). */
typedef struct op_cache {
    float *data;
    const float *w;
    uint64_t gen;
    uint64_t calls;   /* the engine's, since gen: see engine.c's current() */
} op_cache;

/* One call of forward or backward over a batch of n images. */
typedef struct op_io {
    int n;
    int nin;
    const float *const *x;           /* inputs, n x in shape each */
    const int64_t *const *xshape;    /* per-image input shapes (C, H, W) */
    float *y;                        /* output, n x node->shape */
    const float *gy;                 /* backward: d loss / d y */
    float *const *gx;                /* backward: += d/dx per input; entries may be NULL */
    float *const *gw;                /* backward: += d/dw per weight; NULL = not wanted */
    void *aux;                       /* need.aux * n bytes owned by the engine;
                                        NULL in a forward-only engine (not
                                        training): keep nothing for backward */
    float *ws;                       /* need.ws floats, shared by all nodes */
    int rule;                        /* OP_RULE_* */
    int training;                    /* dropout active */
    rng *rng;                        /* training randomness */
    op_act act;                      /* forward: the engine fused the ReLU,
                                        Clip or SiLU that follows into this op
                                        (Conv, BatchNorm and Concat only;
                                        ops/act.h) */
    unsigned gset;                   /* backward, op_sets_grad ops only: bit k
                                        set: gx[k] holds no values yet (not
                                        zeroed); the op stores d/dx there (=,
                                        every element, as 0 + d/dx would round:
                                        -0 becomes +0) instead of adding */
    const float *res;                /* forward, or NULL: the engine fused the
                                        Add that follows (Conv only): y = conv
                                        + res (n x node->shape), then act,
                                        rounded as the ops would */
    const float *scale, *shift;      /* forward, or NULL: the engine fused the
                                        BatchNorm that follows (Concat only):
                                        y = x * scale[c] + shift[c] per output
                                        channel c, then act, rounded as
                                        BatchNorm would (op_batchnorm_affine) */
    op_cache *cache;                 /* or NULL: see op_cache */
} op_io;

struct op_def {
    const char *name;
    int min_in, max_in;              /* number of inputs; max_in 0 = any */
    const op_attr_spec *attrs;       /* {NULL}-terminated */
    const op_weight_spec *weights;   /* {NULL}-terminated; in save order */
    /* Check attribute values and weight shapes against the input shapes,
     * set nd->shape, nd->priv (freed with free()) and *need. Returns 0, or
     * -1 with a reason in err (without the node name: the caller adds it). */
    int (*prepare)(node *nd, const int64_t *const *in, op_need *need, char *err, size_t len);
    void (*forward)(const node *nd, const op_io *io);
    void (*backward)(const node *nd, const op_io *io);
};

/* Whether def's backward honours io->gset (the list in registry.c: Conv,
 * Add, Mul, the elementwise activations, BatchNorm, LayerNorm, Concat and
 * the average and max pools; tests/unit/test_engine.c's test_fresh_grads
 * checks each); for the others the engine zeroes fresh buffers first. */
int op_sets_grad(const struct op_def *def);

/* The op named name (case-sensitive; "Gemm" is an alias of Dense), or NULL. */
const struct op_def *op_find(const char *name);
/* The i-th registered op, NULL past the end. */
const struct op_def *op_at(int i);
/* "Conv Dense ReLU ..." for messages. */
const char *op_names(void);

/* Helpers shared by the op files. */
/* Integer attribute value i (broadcasting a single value), with default. */
int64_t op_attr_int(const node *nd, const char *key, int i, int64_t def);
/* Pads as top, left, bottom, right from "pad" with 1 (all), 2 (h, w) or 4
 * (t, l, b, r) values. */
void op_pads(const node *nd, int64_t pad[4]);
/* Index of a weight within nd->w in the op's spec order, as engine passes
 * gw in nd->w order; -1 when absent. */
int op_weight_index(const node *nd, const char *wname);
/* Elements of n images of the node's output shape. */
int64_t op_numel(const node *nd, int n);
/* Elements of io's n images of input k's shape. */
int64_t op_in_numel(const op_io *io, int k);
/* prepare of an op whose output has its (first) input's shape and needs
 * nothing else. */
int op_same_prepare(node *nd, const int64_t *const *in, op_need *need, char *err, size_t len);
/* The end of an op's prepare: a malloc'd copy of its parameters (size
 * bytes at p) becomes nd->priv. Returns 0, or -1 with "out of memory". */
int op_keep(node *nd, const void *p, size_t size, char *err, size_t len);
/* BatchNorm node nd's per-channel affine map (ops/norm.c): scale[c] =
 * gamma / sqrt(var + eps), shift[c] = beta - mean * scale[c]; what its
 * forward applies and what the engine hands a Concat it fuses it into. */
void op_batchnorm_affine(const node *nd, float *scale, float *shift);
/* Parallelise a loop over this many floats of elementwise work? */
#define OP_PAR_MIN 32768
/* fn over n items (par_for_fine: fn's last argument is the thread's, and
 * no fn keeps anything by it) of this many floats of elementwise work in
 * all (16 flops of par_for_fine's work a float): on the pool's threads
 * past OP_PAR_MIN, else on this one. */
static inline void op_par_for(int64_t n, int64_t floats, par_range_fn *fn, void *ctx)
{
    par_for_fine(n, floats > OP_PAR_MIN ? par_threads() : 1, 16.0 * (double)floats, fn, ctx);
}

/* The op definitions (one per op file). */
extern const struct op_def op_conv, op_dense, op_relu, op_leakyrelu, op_sigmoid, op_tanh,
    op_clip, op_maxpool, op_avgpool, op_globalavgpool, op_lrn, op_batchnorm, op_dropout,
    op_flatten, op_softmax, op_add, op_concat;
extern const struct op_def op_channelshuffle, op_channelslice, op_layernorm, op_instancenorm,
    op_resize, op_convtranspose;
/* ops/nonlin.c, ops/binary.c, ops/reduce.c */
extern const struct op_def op_hardsigmoid, op_hardswish, op_silu, op_gelu, op_elu, op_prelu,
    op_softplus, op_logsoftmax;
extern const struct op_def op_sub, op_mul, op_div, op_mean, op_max, op_min, op_selu, op_mish;
extern const struct op_def op_globalmaxpool;

#endif
