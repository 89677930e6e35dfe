/* engine: forward and backward over a prepared model (see engine.h).
 *
 * Every node's activation is kept (allocated once for max_batch images) so
 * backward can run from any node; gradient buffers are allocated on the
 * first backward, so forward-only tools do not pay for them. One scratch
 * workspace, sized for the hungriest op (a convolution's column matrix for
 * one image), is shared by all nodes.
 *
 * Preprocessing is the first step of forward: x'[c] = (x[s(c)] - mean[c]) /
 * std[c] with s(c) = 2 - c when the model wants BGR, else c (for models
 * without exactly 3 channels mean[0] and std[0] apply to every channel).
 * Backward applies its Jacobian, so the input gradient is with respect to
 * the [0,1] pixels the user has.
 *
 * Threads: one pool, OpenMP's. OpenBLAS is kept to one thread and the ops
 * split their products over the OpenMP threads themselves (gemm.h):
 * convolutions by image and by chunk of output rows (ops/conv.c), dense
 * layers by blocks of outputs; elementwise and pooling ops by images and
 * channels. Two pools on the same cores would wait on each other. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#ifdef CNN_ASAN
#include <sanitizer/asan_interface.h>
#define ASAN_GAP 64   /* floats */
#endif

/* Under AddressSanitizer the engine's uninitialised buffers (workspace,
 * activations) start as NaN, so that an op reading what it did not write
 * shows in the sanitizer build's tests; elsewhere nothing. */
static void asan_nan(float *p, size_t n)
{
#ifdef CNN_ASAN
    memset(p, 0xff, n * sizeof *p);
#else
    (void)p, (void)n;
#endif
}

#include "base/cli.h"
#include "nn/engine.h"
#include "nn/arena.h"
#include "base/progress.h"
#include "nn/gemm.h"
#include "nn/ops.h"

_Static_assert((int)RULE_STANDARD == (int)OP_RULE_STANDARD && (int)RULE_GUIDED == (int)OP_RULE_GUIDED &&
                   (int)RULE_DECONVNET == (int)OP_RULE_DECONVNET,
               "engine.h and ops.h disagree on the ReLU rules");

struct engine {
    model *m;
    int max_batch, n;          /* capacity; images in the last forward */
    int training;
    rng rng;
    tensor *input;             /* preprocessed input x' */
    tensor in;                 /* what the last forward read as x' (no data of its
                                * own): input, or the caller's rows themselves in a
                                * forward-only engine whose preprocessing is the
                                * identity (no copy; Ablation-CAM's tails) */
    tensor **act;              /* per node, max_batch x shape */
    void **aux;                /* per node, max_batch * need_aux bytes (or NULL) */
    float *ws;
    size_t wslen;
    int *valid;                /* computed by the last forward */
    tensor *gin;               /* d/dx' then, after backward, d/dx */
    tensor **grad;             /* per node d/d activation (lazy) */
    tensor ***wgrad;           /* per node, per weight (lazy) */
    char *mark;                /* scratch: ancestors of a node */
    char *fresh;               /* backward: node's gradient not written yet */
    int has_grad;              /* a backward has run since the last forward */
    engine_backward_fn bhook;  /* engine_set_backward_hook */
    double *pfwd, *pbwd;       /* engine_set_profile */
    void *bhook_ctx;
    /* engine_forward_only: the activations' shared buffer, and which
     * nodes keep theirs past the forward (NULL: an ordinary engine). */
    float *arena;
    size_t arena_len;
    size_t *wsoff;             /* node i's forward workspace at arena + wsoff[i] */
    char *kept;                /* the nodes callers read (forward-only or fused) */
    int fonly;                 /* engine_forward_only was called */
    /* Fused epilogues: fuse[c] of a Conv, FUSE_RELU and/or FUSE_ADD (it
     * applies the ReLU or Clip, or the residual Add after it in its store;
     * of a BatchNorm, FUSE_RELU; of a Concat, FUSE_BN and maybe FUSE_RELU:
     * the BatchNorm after it, then its ReLU, in the copy); of the nodes it
     * applies, FUSE_DONE. host[i]: the node that does node i's work;
     * add[c]: the Add fused into Conv c; act[c]: the ReLU or Clip node
     * fused into c; norm[c]: the BatchNorm fused into Concat c. */
    char *fuse;
    int *host, *add, *actn, *norm;
    /* engine_fuse: gshare[j] >= 0 when node j's gradient is its only
     * reader's, node gshare[j] (a ReLU, which masks it in place, or an
     * Add, which passes it unchanged): j's gradient lives in that node's
     * buffer, and no pass copies it there (-1: its own buffer); a ReLU
     * whose input shares its buffer loses its own gradient to the mask. */
    int *gshare;
    /* Per node, its weights as its products want them, kept across
     * forwards (cache) and backwards (bcache): op_cache. Users change
     * weights in place only through model_weights_changed (training,
     * sanity's re-initialisation); the backward hooks (DeepLift, LRP) get
     * none, as they may run an op on weights of their own. Costs a copy of
     * the Convs' weights each, four where Winograd runs (36 floats per 3x3
     * filter against 9). CNN_WEIGHT_CACHE=0: none (A/B runs, memory). */
    op_cache *cache, *bcache;
    /* engine_forward_only with max_batch > 1 (plan_prefix): nodes
     * 0..pre_s-1 (the large early maps) run image by image on pre, a
     * forward-only engine of one image, which writes the values of those
     * read after them or kept (pre_b, npre_b of them) straight into this
     * engine's rows; NULL: none. */
    engine *pre;
    int pre_s, *pre_b, npre_b;
};

enum { FUSE_RELU = 1, FUSE_DONE = 2, FUSE_ADD = 4, FUSE_BN = 8 };

/* The input's buffer: preprocess writes the rows of each forward. */
static tensor *batch_tensor(int64_t n, const int64_t *shape)
{
    return tensor_new4_raw(n, shape[0], shape[1], shape[2]);
}

/* A node's activation tensor without its data: allocated when the node is
 * first computed (act_data), so that a forward-only engine never holds
 * them all at once and a node never computed costs nothing. Activations
 * are not zeroed: an op writes every value of the rows it computes, and
 * the rows past a forward's batch are never touched, so an engine sized
 * for more rows than it runs costs only the address space. */
static tensor *act_tensor(int64_t n, const int64_t *shape)
{
    tensor *t = xcalloc(1, sizeof *t);
    t->ndim = 4;
    t->dims[0] = n, t->dims[1] = shape[0], t->dims[2] = shape[1], t->dims[3] = shape[2];
    return t;
}

static float *act_data(engine *e, int i)
{
    tensor *t = e->act[i];
    if (!t->data) {
        size_t n = (size_t)(e->max_batch * t->dims[1] * t->dims[2] * t->dims[3]);
        t->data = falloc_raw(n);
        asan_nan(t->data, n);
    }
    return t->data;
}

engine *engine_new(model *m, int max_batch, int training, uint64_t seed)
{
    if (max_batch < 1)
        die("engine: batch size %d must be at least 1", max_batch);
    gemm_serial_blas();
    engine *e = xcalloc(1, sizeof *e);
    e->m = m;
    e->max_batch = max_batch;
    e->training = training;
    rng_seed(&e->rng, seed);
    e->input = batch_tensor(max_batch, m->in_shape);
    e->act = xcalloc((size_t)m->n, sizeof *e->act);
    e->aux = xcalloc((size_t)m->n, sizeof *e->aux);
    e->valid = xcalloc((size_t)m->n, sizeof *e->valid);
    e->grad = xcalloc((size_t)m->n, sizeof *e->grad);
    e->wgrad = xcalloc((size_t)m->n, sizeof *e->wgrad);
    e->mark = xcalloc((size_t)m->n, 1);
    e->fresh = xcalloc((size_t)m->n + 1, 1);
    for (int i = 0; i < m->n; i++) {
        node *nd = &m->nodes[i];
        if (!nd->def)
            die("engine: model not prepared (node '%s')", nd->name);
        e->act[i] = act_tensor(max_batch, nd->shape);
        if (nd->need_aux)
            e->aux[i] = xcalloc((size_t)max_batch, nd->need_aux);
        if (nd->need_ws > e->wslen)
            e->wslen = nd->need_ws;
        if (nd->need_fws > e->wslen)
            e->wslen = nd->need_fws;
    }
    /* Not zeroed, and on ordinary pages: each op writes what it reads of
     * it, and pages no op touches cost no memory (need_ws covers the
     * largest path of each node, backward included: resnet18's 26 MB,
     * which one photo's forward mostly leaves untouched; on huge pages
     * regnet_y_400mf's 1.3 MB touched cost 6). A forward-only engine
     * frees it: its nodes' workspaces lie in its arena. */
    e->ws = falloc_part(e->wslen ? e->wslen : 1);
    asan_nan(e->ws, e->wslen);
    const char *wc = getenv("CNN_WEIGHT_CACHE");   /* "0": off (A/B runs, memory) */
    if (!wc || strcmp(wc, "0")) {
        e->cache = xcalloc((size_t)m->n, sizeof *e->cache);
        e->bcache = xcalloc((size_t)m->n, sizeof *e->bcache);
    }
    return e;
}

/* Node i's cache in caches (NULL: none) for a call of it, emptied when
 * the model's weights changed since it was made; none for the first call
 * after that: a single call (one photo through cnn-forward) packs or
 * transforms each layer's weights once either way, and keeping every
 * layer's copy would only add to its peak memory and time (resnet50: 151
 * against 249 MB, 0.36 against 0.46 s). */
static op_cache *current(const engine *e, op_cache *caches, int i)
{
    if (!caches)
        return NULL;
    op_cache *c = &caches[i];
    if (c->gen != e->m->wgen)
        c->w = NULL, c->gen = e->m->wgen, c->calls = 0;
    return c->calls++ ? c : NULL;
}

/* Node j's last reader when no node before it reads j (its sole
 * reader), else -1 (and -1 when none reads it). */
static int sole_reader(const model *m, int j, const int *last)
{
    int i = last[j];
    if (i == j)
        return -1;
    for (int t = j + 1; t < i; t++)
        for (int k = 0; k < m->nodes[t].nin; k++)
            if (m->nodes[t].in[k] == j)
                return -1;
    return i;
}

/* Whether node j's value is seen by node i alone, right after it is made:
 * j not kept and i its sole reader. */
static int only_reader(const engine *e, int j, int i, const int *last)
{
    return !e->kept[j] && sole_reader(e->m, j, last) == i;
}

/* The act kind (act.h) of node nd's op when an engine may fuse it into
 * a store, else ACT_NONE: ReLU and Clip (ReLU6) in forward-only and fused
 * engines (a ReLU's backward reads its output alone), SiLU in
 * forward-only ones (its backward needs the input, which the fused store
 * does not keep). */
static int act_kind(const engine *e, const node *nd)
{
    const char *op = nd->def->name;
    if (!strcmp(op, "ReLU"))
        return ACT_RELU;
    if (!strcmp(op, "Clip"))
        return ACT_CLIP;
    if (e->fonly && !strcmp(op, "SiLU"))
        return ACT_SILU;
    return ACT_NONE;
}

/* Node i's input when i is an activation (act_kind) that the engine can
 * fuse into the Conv or BatchNorm before it, or into the Conv whose store
 * does the Add before it or the Concat whose copy does the BatchNorm
 * before it (the input's only reader, so no one sees its value before the
 * activation), else -1. last: each node's last reader. CNN_FUSE_RELU=0:
 * never. BatchNorm: densenet's pre-activation BatchNorm -> ReLU pairs, one
 * pass over each map instead of two. SiLU: efficientnet's (its passes
 * were 17% of efficientnet_b0's forward at batch 4). */
static int fusable_act(const engine *e, int i, const int *last)
{
    const model *m = e->m;
    const node *nd = &m->nodes[i];
    const char *env = getenv("CNN_FUSE_RELU");   /* "0": off (A/B runs) */
    if ((env && !strcmp(env, "0")) || act_kind(e, nd) == ACT_NONE || nd->nin != 1 ||
        nd->in[0] < 0)
        return -1;
    int j = nd->in[0];
    const char *op = m->nodes[j].def->name;
    int host = (!strcmp(op, "Conv") || !strcmp(op, "BatchNorm")) && !e->fuse[j];
    if (!host && !(e->fuse[j] == FUSE_DONE && (e->fuse[e->host[j]] == FUSE_ADD ||
                                               e->fuse[e->host[j]] == FUSE_BN)))
        return -1;
    return only_reader(e, j, i, last) ? j : -1;
}

/* The Concat input of BatchNorm i that a forward-only engine can fuse it
 * into (the Concat's copy applies it: densenet's dense layers and
 * transitions, each a Concat read by a BatchNorm alone, so each map
 * crosses memory once, not twice), else -1. Not in an engine_fuse engine:
 * BatchNorm's backward reads its input. CNN_FUSE_BN=0: never. */
static int fusable_bn(const engine *e, int i, const int *last)
{
    const model *m = e->m;
    const node *nd = &m->nodes[i];
    const char *env = getenv("CNN_FUSE_BN");
    if (!e->fonly || (env && !strcmp(env, "0")) || nd->def != &op_batchnorm || nd->nin != 1 ||
        nd->in[0] < 0)
        return -1;
    int j = nd->in[0];
    if (m->nodes[j].def != &op_concat || e->fuse[j] || !only_reader(e, j, i, last))
        return -1;
    return j;
}

/* Floats of an arena worth huge pages (16 MB: the batch-4 arenas of
 * resnet50, densenet121, mobilenet_v2; at batch 1 only vgg16's). On
 * ordinary pages resnet50's 27.6 MB arena at batch 4 ran 1-2% slower and
 * vgg16's 2%, alternating binaries. */
#define ARENA_HUGE ((size_t)4 << 20)

/* The Conv input of Add i that a forward-only engine can fuse it into (the
 * Conv's store adds the other input, r): same shapes, r made before the
 * Conv (of two Convs the later one), the Conv's value seen by the Add
 * alone; else -1. CNN_FUSE_ADD=0: never. */
static int fusable_add(const engine *e, int i, const int *last)
{
    const model *m = e->m;
    const node *nd = &m->nodes[i];
    const char *env = getenv("CNN_FUSE_ADD");
    if ((env && !strcmp(env, "0")) || strcmp(nd->def->name, "Add") || nd->nin != 2 ||
        nd->in[0] < 0 || nd->in[1] < 0 || nd->in[0] == nd->in[1])
        return -1;
    for (int k = 0; k < 2; k++)
        if (memcmp(m->nodes[nd->in[k]].shape, nd->shape, sizeof nd->shape))
            return -1;
    int c = nd->in[0] > nd->in[1] ? nd->in[0] : nd->in[1];
    if (strcmp(m->nodes[c].def->name, "Conv") || e->fuse[c] || !only_reader(e, c, i, last))
        return -1;
    return c;
}

/* A forward-only engine of more than one image runs its early nodes
 * image by image (plan_prefix) when one node's activation for all the
 * images is over 16 PREFIX_BYTES: then every node up to the last whose
 * one-image activation is over PREFIX_BYTES. (The attribution methods'
 * passes, sized to 16 MB a chunk, stay batched: image by image was 3%
 * slower there.) CNN_PREFIX_BYTES overrides PREFIX_BYTES (tests, A/B
 * runs); 0: never. */
#define PREFIX_BYTES (1 << 20)

/* The image-by-image prefix of a forward-only engine (engine.pre): the
 * nodes up to the last whose one-image activation is over PREFIX_BYTES.
 * Run layer by layer over 4 images, mobilenet_v2's 112x112 maps (19 MB
 * for 96 channels) leave the caches between a convolution and the
 * depthwise one that reads them, and its early layers ran 20-35% slower
 * per image than at batch 1; image by image, each map is read while it
 * is still in L2 or L3. The later, small maps stay batched (their weights
 * read once for all the images). No fusion may cross the cut, nor may a
 * node after it read the model's input. */
static void plan_prefix(engine *e)
{
    const model *m = e->m;
    const char *env = getenv("CNN_PREFIX_BYTES");
    double lim = env ? atof(env) : PREFIX_BYTES;
    if (e->max_batch < 2 || lim <= 0)
        return;
    int s = 0, big = 0;
    for (int i = 0; i < m->n; i++) {
        const int64_t *sh = m->nodes[i].shape;
        double bytes = 4.0 * (double)(sh[0] * sh[1] * sh[2]);
        s = bytes > lim ? i + 1 : s;
        big |= bytes * e->max_batch > 16 * lim;
    }
    if (!big)
        return;
    for (int moved = 1; moved && s > 0 && s < m->n;) {
        moved = 0;
        for (int i = s; i < m->n && !moved; i++)
            if (e->fuse[i] == FUSE_DONE && e->host[i] < s)
                s = i + 1, moved = 1;
        for (int i = 0; i < s && !moved; i++)   /* a Conv whose fused Add is after */
            if ((e->fuse[i] & FUSE_ADD) && e->add[i] >= s)
                s = e->add[i] + 1, moved = 1;
    }
    if (s == 0)
        return;
    for (int i = s; i < m->n; i++)
        for (int k = 0; k < m->nodes[i].nin; k++)
            if (m->nodes[i].in[k] < 0)
                return;
    int *b = xcalloc((size_t)s, sizeof *b), nb = 0;
    for (int i = 0; i < s; i++) {
        int read = e->kept[i];
        for (int j = s; j < m->n && !read; j++)
            for (int k = 0; k < m->nodes[j].nin; k++)
                read |= m->nodes[j].in[k] == i;
        if (read)
            b[nb++] = i;
    }
    e->pre = engine_new(e->m, 1, e->training, 0);
    e->pre->rng = e->rng;
    engine_forward_only(e->pre, b, nb);
    e->pre_s = s, e->pre_b = b, e->npre_b = nb;
}

int engine_prefix(const engine *e) { return e->pre ? e->pre_s : 0; }

/* The nodes callers read (keep[0..nkeep-1] and the last node), for
 * engine_forward_only or engine_fuse, before the first forward; and each
 * node's last reader (itself when none), which the caller frees. */
static int *set_kept(engine *e, const int *keep, int nkeep, const char *what)
{
    const model *m = e->m;
    if (e->kept || e->has_grad)
        die("engine: %s after forward_only, engine_fuse or a backward", what);
    for (int i = 0; i < m->n; i++)
        if (e->act[i]->data)
            die("engine: %s after a forward", what);
    e->kept = xcalloc((size_t)m->n, 1);
    e->kept[m->n - 1] = 1;
    for (int k = 0; k < nkeep; k++)
        if (keep[k] >= 0 && keep[k] < m->n)
            e->kept[keep[k]] = 1;
    int *last = xcalloc((size_t)m->n, sizeof *last);
    for (int i = 0; i < m->n; i++) {
        last[i] = i;
        for (int k = 0; k < m->nodes[i].nin; k++)
            if (m->nodes[i].in[k] >= 0)
                last[m->nodes[i].in[k]] = i;
    }
    return last;
}

static void fuse_alloc(engine *e)
{
    int n = e->m->n;
    e->fuse = xcalloc((size_t)n, 1);
    e->host = xcalloc((size_t)n, sizeof *e->host);
    e->add = xcalloc((size_t)n, sizeof *e->add);
    e->actn = xcalloc((size_t)n, sizeof *e->actn);
    e->norm = xcalloc((size_t)n, sizeof *e->norm);
}

/* When node i is an activation or Add that the store of a Conv (or
 * BatchNorm, or Concat) before it can apply, or a BatchNorm that the copy
 * of a Concat can, record it (fuse, host, add, actn, norm) and return its
 * input j, whose buffer i then shares; else -1. */
static int fuse_node(engine *e, int i, const int *last)
{
    int j = fusable_act(e, i, last);
    if (j < 0)
        j = fusable_add(e, i, last);
    if (j < 0)
        j = fusable_bn(e, i, last);
    if (j < 0)
        return -1;
    int c = e->fuse[j] == FUSE_DONE ? e->host[j] : j;
    if (!strcmp(e->m->nodes[i].def->name, "Add"))
        e->fuse[c] |= FUSE_ADD, e->add[c] = i;
    else if (e->m->nodes[i].def == &op_batchnorm)
        e->fuse[c] |= FUSE_BN, e->norm[c] = i;
    else
        e->fuse[c] |= FUSE_RELU, e->actn[c] = i;
    e->fuse[i] = FUSE_DONE, e->host[i] = c;
    return j;
}

/* The node whose gradient buffer node j's shares in a fused engine
 * (gshare), or -1: j's only reader i reads it once and is a ReLU that is
 * not kept (its backward masks the gradient in place, so i's own is lost)
 * or an Add of two same-shaped inputs that is not kept (the gradient
 * passes unchanged; a kept one's would be lost when j is a ReLU whose own
 * input shares it and masks it in place: a BatchNorm -> ReLU -> Add). */
static int grad_share(const engine *e, int j, const int *last)
{
    const model *m = e->m;
    int i = sole_reader(m, j, last);
    if (i < 0)
        return -1;
    const node *nd = &m->nodes[i];
    if (nd->nin == 1 && nd->def == &op_relu)
        return e->kept[i] ? -1 : i;
    if (nd->def == &op_add && nd->nin == 2 && nd->in[0] != nd->in[1] &&
        !memcmp(m->nodes[j].shape, nd->shape, sizeof nd->shape))
        return e->kept[i] ? -1 : i;
    return -1;
}

/* The lowest node whose gradient lives in node i's buffer (i itself when
 * none below it), in *mask the highest ReLU among them that masks that
 * buffer in place (its input's gradient lives there too), or -1, and in
 * *kept whether one of them is kept (its gradient read after backward).
 * in: scratch of i + 1 flags (gshare leads to a higher node, so one pass
 * down from i settles each node's). */
static int share_low(const engine *e, int i, char *in, int *mask, int *kept)
{
    int low = i;
    *mask = -1, *kept = 0;
    for (int x = i; x >= 0; x--) {
        int y = e->gshare[x];
        in[x] = x == i || (y > x && y <= i && in[y]);
        if (!in[x])
            continue;
        low = x;
        *kept |= e->kept[x];
        const node *nd = &e->m->nodes[x];
        if (*mask < 0 && nd->def == &op_relu && nd->in[0] >= 0 && e->gshare[nd->in[0]] == x)
            *mask = x;
    }
    return low;
}

/* The Adds' part of gshare (after grad_share), each Add i of two
 * different same-shaped inputs that is not kept, in the model's order:
 * - Both inputs in i's buffer (grad_share: i their only reader): one
 *   input's chain must not mask the buffer in place while the other's
 *   still reads it (backward runs down the node order), or when the
 *   other's holds a kept node: then the first keeps a buffer of its own,
 *   which i's backward fills. Two ReLUs into one Add each masked the
 *   other's gradient.
 * - An input j that other nodes read too (resnet's identity: the block's
 *   first convolution), i its last reader: j's gradient may live in i's
 *   buffer as well, the others adding their terms onto i's gradient
 *   there, instead of i's backward copying it into j's own, when each of
 *   them comes before every node whose gradient is i's buffer (they then
 *   add after those have read it; j's own backward, before them, comes
 *   later still) and none of those is kept (its gradient would have j's
 *   terms added). resnet50's input gradient at batch 1: 13 copies of
 *   0.2-3.2 MB fewer. */
static void share_adds(engine *e, const int *last)
{
    const model *m = e->m;
    char *in = xmalloc((size_t)m->n);
    for (int i = 0; i < m->n; i++) {
        const node *nd = &m->nodes[i];
        if (nd->def != &op_add || nd->nin != 2 || nd->in[0] == nd->in[1] || e->kept[i])
            continue;
        int a = nd->in[0], b = nd->in[1];
        if (a >= 0 && b >= 0 && e->gshare[a] == i && e->gshare[b] == i) {
            int ma, mb, ka, kb, la = share_low(e, a, in, &ma, &ka),
                                lb = share_low(e, b, in, &mb, &kb);
            if (ma >= 0 && (lb < ma || kb))
                e->gshare[a] = -1;
            else if (mb >= 0 && (la < mb || ka))
                e->gshare[b] = -1;
        }
        for (int k = 0; k < 2; k++) {
            int j = nd->in[k], mask, kept;
            if (j < 0 || e->gshare[j] >= 0 || e->kept[j] || last[j] != i ||
                memcmp(m->nodes[j].shape, nd->shape, sizeof nd->shape))
                continue;
            /* j's other readers: at least one (else the first case
             * above has decided), each before low */
            int low = share_low(e, i, in, &mask, &kept), others = 0, ok = !kept;
            for (int t = j + 1; t < i && ok; t++)
                for (int q = 0; q < m->nodes[t].nin; q++)
                    if (m->nodes[t].in[q] == j) {
                        others++;
                        ok = t < low;
                    }
            if (ok && others)
                e->gshare[j] = i;
        }
    }
    free(in);
}

void engine_fuse(engine *e, const int *keep, int nkeep)
{
    const model *m = e->m;
    int *last = set_kept(e, keep, nkeep, "engine_fuse");
    fuse_alloc(e);
    for (int i = 0; i < m->n; i++) {
        int j = fuse_node(e, i, last);
        if (j >= 0)
            e->act[i]->data = act_data(e, j);
    }
    const char *env = getenv("CNN_GRAD_SHARE");   /* "0": off (A/B runs) */
    int share = !env || strcmp(env, "0");
    e->gshare = xmalloc((size_t)m->n * sizeof *e->gshare);
    for (int j = 0; j < m->n; j++)
        e->gshare[j] = share ? grad_share(e, j, last) : -1;
    if (share)
        share_adds(e, last);
    free(last);
}

/* Is x' = x, bit for bit ((x - 0) * 1, no channel swap)? */
static int identity_input(const model *m)
{
    int C = m->in_shape[0] == 3 ? 3 : 1;
    if (m->bgr && m->in_shape[0] == 3)
        return 0;
    for (int c = 0; c < C; c++)
        if (m->mean[c] != 0.0f || m->std[c] != 1.0f)
            return 0;
    return 1;
}

void engine_forward_only(engine *e, const int *keep, int nkeep)
{
    const model *m = e->m;
    int *last = set_kept(e, keep, nkeep, "forward_only");
    e->fonly = 1;
    /* No backward reads what the ops keep for it (max-pool switches):
     * they skip it when their aux is NULL. Dropout keeps its mask in
     * forward, when training. */
    for (int i = 0; i < m->n && !e->training; i++) {
        free(e->aux[i]);
        e->aux[i] = NULL;
    }
    /* Each node's output buffer (shared by the nodes fused into it) lives
     * from the node to its last reader, or to the end when kept; one arena
     * holds them all, at offsets where no two live at once overlap
     * (arena_plan), allocated but not touched: a node's output never
     * shares with its own inputs, and pages no node reaches cost no
     * memory. Block n + i is node i's forward workspace (need_fws, and a
     * fused BatchNorm's scale and shift after it), live at step i alone,
     * as TensorFlow Lite plans its ops' scratch buffers: a workspace of
     * its own held the largest of them all through the forward
     * (densenet121 at batch 1: its 7.3 MB arena and the 56x56 layers'
     * Winograd areas, 8.4 MB touched). Block 2n is the preprocessed
     * input, live until its last reader (none where the preprocessing is
     * the identity: take_input reads the rows in place). */
    int n = m->n, nb = 2 * n + 1, *buf = xmalloc((size_t)n * sizeof *buf);
    int *start = xmalloc((size_t)nb * sizeof *start);
    int *end = xmalloc((size_t)nb * sizeof *end);
    size_t *size = xcalloc((size_t)nb, sizeof *size);
    size_t *off = xmalloc((size_t)nb * sizeof *off);
    fuse_alloc(e);
    for (int i = 0; i < n; i++) {
        const tensor *t = e->act[i];
        int j = fuse_node(e, i, last);
        /* j >= 0: the node shares the buffer of its input j (the Conv or
         * its fused Add). */
        int b = buf[i] = j >= 0 ? buf[j] : i;
        start[i] = end[i] = i;
        if (j < 0)
            size[i] = (size_t)(e->max_batch * t->dims[1] * t->dims[2] * t->dims[3]);
        int to = e->kept[i] ? n : last[i];
        end[b] = to > end[b] ? to : end[b];
    }
    /* CNN_ARENA_WS=0: the engine's own workspace instead (A/B runs). In
     * the arena a node's workspace shares lines that the other thread
     * wrote a step before, and at batch 1, where a whole forward lives in
     * the caches, the lines move between the cores: the sum of the
     * nodes' least times was 2-8% higher on densenet121, regnet_y_400mf
     * and mobilenet_v2, resnet18 even, and efficientnet_b0's first
     * depthwise layer took 0.12-0.15 ms against 0.054 (2 threads; 0.085
     * against 0.073 on one). That is the price of densenet121's 4.1 MB
     * and regnet_y_400mf's 1.3 MB of one photo's peak. */
    const char *aw = getenv("CNN_ARENA_WS");
    int ws_in = !aw || strcmp(aw, "0");
    start[2 * n] = end[2 * n] = 0;
    for (int i = 0; i < n; i++) {
        const node *nd = &m->nodes[i];
        start[n + i] = end[n + i] = i;
        if (ws_in && e->fuse[i] != FUSE_DONE)
            size[n + i] = nd->need_fws + (e->fuse[i] & FUSE_BN ? 2 * (size_t)nd->shape[0] : 0);
        for (int k = 0; k < nd->nin; k++)
            if (nd->in[k] < 0)
                end[2 * n] = i;
    }
    if (!identity_input(m))
        size[2 * n] = (size_t)tensor_numel(e->input);
#ifdef CNN_ASAN
    /* Under AddressSanitizer every buffer has its own place and a
     * poisoned gap after it, so that an op writing past its output is
     * caught as it was when each buffer was its own allocation. */
    for (int i = 0; i < nb; i++)
        if (size[i])
            start[i] = 0, end[i] = n, size[i] += ASAN_GAP;
#endif
    /* 16 floats: each buffer on its own cache lines. */
    e->arena_len = arena_plan(nb, size, start, end, 16, off);
    /* Huge pages only for a large arena: its last one is faulted whole
     * (regnet_y_400mf's 4.4 MB at batch 1 took 6). */
    e->arena = e->arena_len >= ARENA_HUGE ? falloc_raw(e->arena_len) : falloc_part(e->arena_len);
    asan_nan(e->arena, e->arena_len);
    for (int i = 0; i < n; i++)
        e->act[i]->data = e->arena + off[buf[i]];
    if (ws_in) {
        e->wsoff = xmalloc((size_t)n * sizeof *e->wsoff);
        for (int i = 0; i < n; i++)
            e->wsoff[i] = off[n + i];
        free(e->ws);   /* no forward reads it now */
        e->ws = NULL, e->wslen = 0;
    }
    /* The input's rows in the arena, or none where take_input reads the
     * caller's in place: a forward-only engine's input owns no data. */
    free(e->input->data);
    e->input->data = size[2 * n] ? e->arena + off[2 * n] : NULL;
#ifdef CNN_ASAN
    for (int i = 0; i < nb; i++)
        if (size[i])
            ASAN_POISON_MEMORY_REGION(e->arena + off[i] + size[i] - ASAN_GAP,
                                      ASAN_GAP * sizeof(float));
#endif
    free(buf), free(start), free(end), free(size), free(off);
    free(last);
    plan_prefix(e);
}

static void free_grads(engine *e)
{
    for (int i = 0; i < e->m->n; i++) {
        tensor_free(e->grad[i]);
        e->grad[i] = NULL;
    }
    tensor_free(e->gin);
    e->gin = NULL;
}

void engine_free(engine *e)
{
    if (!e)
        return;
    free_grads(e);
    for (int i = 0; i < e->m->n; i++) {
        if (e->arena || (e->fuse && e->fuse[i] == FUSE_DONE))
            e->act[i]->data = NULL;   /* a shared buffer, freed below or by its host */
        tensor_free(e->act[i]);
        free(e->aux[i]);
        if (e->wgrad[i])
            for (int k = 0; k < e->m->nodes[i].nw; k++)
                tensor_free(e->wgrad[i][k]);
        free(e->wgrad[i]);
    }
    if (e->fonly)
        e->input->data = NULL;   /* the arena's, or none */
    tensor_free(e->input);
    free(e->act);
    free(e->aux);
    free(e->valid);
    free(e->grad);
    free(e->wgrad);
    free(e->mark);
    free(e->fresh);
    free(e->ws);
#ifdef CNN_ASAN
    if (e->arena)
        ASAN_UNPOISON_MEMORY_REGION(e->arena, e->arena_len * sizeof(float));
#endif
    free(e->arena);
    free(e->wsoff);
    free(e->kept);
    free(e->fuse);
    free(e->host);
    free(e->add);
    free(e->actn);
    free(e->norm);
    free(e->gshare);
    engine_free(e->pre);
    free(e->pre_b);
    for (int i = 0; e->cache && i < e->m->n; i++)
        free(e->cache[i].data), free(e->bcache[i].data);
    free(e->cache);
    free(e->bcache);
    free(e);
}

void engine_set_training(engine *e, int training) { e->training = training; }

void engine_set_threads(int n)
{
    if (n < 1)
        n = cli_nthreads(0);
    gemm_serial_blas();
    omp_set_num_threads(n);
}

int engine_batch(const engine *e) { return e->n; }

/* Mark `upto` and its ancestors. */
static void mark_ancestors(engine *e, int upto)
{
    memset(e->mark, 0, (size_t)e->m->n);
    e->mark[upto] = 1;
    for (int i = upto; i >= 0; i--) {
        if (!e->mark[i])
            continue;
        const node *nd = &e->m->nodes[i];
        for (int k = 0; k < nd->nin; k++)
            if (nd->in[k] >= 0)
                e->mark[nd->in[k]] = 1;
    }
}

static void set_batch(tensor *t, int n) { t->dims[0] = n; }

static void preprocess(engine *e, const tensor *x)
{
    const model *m = e->m;
    int64_t C = m->in_shape[0], hw = m->in_shape[1] * m->in_shape[2];
    int three = C == 3;
    for (int i = 0; i < e->n; i++)
        for (int64_t c = 0; c < C; c++) {
            int64_t src = m->bgr ? 2 - c : c;
            const float *xs = x->data + (i * C + src) * hw;
            float *xd = e->input->data + (i * C + c) * hw;
            float mu = m->mean[three ? c : 0], inv = 1.0f / m->std[three ? c : 0];
            for (int64_t k = 0; k < hw; k++)
                xd[k] = (xs[k] - mu) * inv;
        }
}

/* Inputs of node i as arrays for op_io. */
static void node_inputs(engine *e, const node *nd, const float **x, const int64_t **xs)
{
    for (int k = 0; k < nd->nin; k++) {
        int j = nd->in[k];
        x[k] = j < 0 ? e->in.data : e->act[j]->data;
        xs[k] = j < 0 ? e->m->in_shape : e->m->nodes[j].shape;
    }
}

/* Node i's forward over the batch. */
static void forward_node(engine *e, int i)
{
    const node *nd = &e->m->nodes[i];
    const float *xin[64];
    const int64_t *xsh[64];
    node_inputs(e, nd, xin, xsh);
    op_io io = { 0 };
    io.n = e->n;
    io.nin = nd->nin;
    io.x = xin;
    io.xshape = xsh;
    io.y = act_data(e, i);
    io.aux = e->aux[i];
    io.ws = e->wsoff ? e->arena + e->wsoff[i] : e->ws;
    io.training = e->training;
    io.rng = &e->rng;
    int f = e->fuse ? e->fuse[i] : 0;
    /* A Conv with fused nodes the forward does not reach (forward_upto)
     * runs plain: its residual may not be computed. */
    if ((f & FUSE_ADD) && !e->mark[e->add[i]])
        f = 0;
    if ((f & FUSE_BN) && !e->mark[e->norm[i]])
        f = 0;
    if ((f & FUSE_RELU) && !e->mark[e->actn[i]])
        f &= ~FUSE_RELU;
    if (f & FUSE_ADD) {
        const node *a = &e->m->nodes[e->add[i]];
        io.res = e->act[a->in[0] == i ? a->in[1] : a->in[0]]->data;
    }
    if (f & FUSE_RELU) {
        const node *a = &e->m->nodes[e->actn[i]];
        io.act.kind = act_kind(e, a);
        if (io.act.kind == ACT_CLIP) {   /* as clip_forward reads them */
            io.act.lo = (float)node_get(a, "min", 0, -INFINITY);
            io.act.hi = (float)node_get(a, "max", 0, INFINITY);
        }
    }
    if (f & FUSE_BN) {   /* the scale and shift the BatchNorm's own forward would take */
        float *s = io.ws + nd->need_fws;
        op_batchnorm_affine(&e->m->nodes[e->norm[i]], s, s + nd->shape[0]);
        io.scale = s, io.shift = s + nd->shape[0];
    }
    io.cache = current(e, e->cache, i);
    double t0 = e->pfwd ? wall_seconds() : 0;
    if (f != FUSE_DONE)   /* a fused ReLU or Add: done in its host's store */
        nd->def->forward(nd, &io);
    if (e->pfwd)
        e->pfwd[i] += wall_seconds() - t0;
    /* The buffer of a fused chain holds its last applied node's value. */
    int h = f == FUSE_DONE ? e->host[i] : i, hf = e->fuse ? e->fuse[h] : 0;
    e->valid[i] = f == FUSE_DONE ? !((hf & FUSE_RELU) && e->mark[e->actn[h]] && e->actn[h] != i)
                                 : !(f & (FUSE_RELU | FUSE_ADD | FUSE_BN));
}

/* x's rows as this forward's input: x' in e's buffer, or x itself where
 * a forward-only engine's preprocessing is the identity. */
static void take_input(engine *e, const tensor *x)
{
    e->n = (int)x->dims[0];
    e->has_grad = 0;
    set_batch(e->input, e->n);
    e->in = *e->input;
    if (e->fonly && identity_input(e->m))
        e->in.data = x->data;   /* read in place: forward-only keeps no input */
    else
        preprocess(e, x);
}

/* Nodes from..to-1 of this forward: the marked ones computed. */
static void run_nodes(engine *e, int from, int to)
{
    for (int i = from; i < to; i++) {
        e->valid[i] = 0;
        set_batch(e->act[i], e->n);
        if (e->mark[i])
            forward_node(e, i);
    }
}

/* The marked nodes before the prefix's cut, image by image on e->pre;
 * those read after the cut (or kept) write straight into their rows of
 * e's buffers (with the Conv whose store computes them, when fused: the
 * same values, no copy). */
static void run_prefix(engine *e, const tensor *x)
{
    engine *p = e->pre;
    const model *m = e->m;
    memset(p->mark, 0, (size_t)m->n);
    memcpy(p->mark, e->mark, (size_t)e->pre_s);
    /* p's nodes that write boundary node to[k]'s values (it, or its
     * fused chain: the same shape), and where they were. */
    int *who = xmalloc(2 * (size_t)e->pre_s * sizeof *who), *to = who + e->pre_s, nw = 0;
    for (int k = 0; k < e->npre_b; k++) {
        int b = e->pre_b[k];
        if (!e->mark[b])
            continue;
        act_data(e, b);
        int h = p->fuse[b] == FUSE_DONE ? p->host[b] : b;
        for (int i = h; i <= b; i++)
            if (i == h || i == b || (p->fuse[i] == FUSE_DONE && p->host[i] == h))
                to[nw] = b, who[nw++] = i;
    }
    float **keep = xmalloc((size_t)(nw ? nw : 1) * sizeof *keep);
    for (int k = 0; k < nw; k++)
        keep[k] = p->act[who[k]]->data;
    int64_t len = tensor_rowsize(x);
    for (int r = 0; r < e->n; r++) {
        tensor xr = *x;
        xr.dims[0] = 1;
        xr.data = x->data + r * len;
        for (int k = 0; k < nw; k++)
            p->act[who[k]]->data = e->act[to[k]]->data + r * tensor_rowsize(p->act[to[k]]);
        take_input(p, &xr);
        run_nodes(p, 0, e->pre_s);
    }
    for (int k = 0; k < nw; k++)
        p->act[who[k]]->data = keep[k];
    free(keep);
    free(who);
    for (int i = 0; i < e->pre_s; i++) {
        set_batch(e->act[i], e->n);
        e->valid[i] = 0;
    }
    for (int k = 0; k < e->npre_b; k++)
        e->valid[e->pre_b[k]] = e->mark[e->pre_b[k]];
}

void engine_forward_upto(engine *e, const tensor *x, int upto)
{
    const model *m = e->m;
    char a[64], b[64];
    if (upto < 0 || upto >= m->n)
        die("engine: no node %d", upto);
    if (x->ndim != 4 || x->dims[0] < 1 || x->dims[0] > e->max_batch ||
        x->dims[1] != m->in_shape[0] || x->dims[2] != m->in_shape[1] ||
        x->dims[3] != m->in_shape[2]) {
        int64_t want[4] = { e->max_batch, m->in_shape[0], m->in_shape[1], m->in_shape[2] };
        die("images are %s but the model takes N x %lldx%lldx%lld (N <= %d; model input %s)",
            tensor_shape_str(x->ndim, x->dims, a, sizeof a), (long long)want[1],
            (long long)want[2], (long long)want[3], e->max_batch,
            tensor_shape_str(3, m->in_shape, b, sizeof b));
    }
    int from = 0;
    if (e->pre && x->dims[0] > 1) {
        /* Only the prefix reads the input: its engine takes each row. */
        e->n = (int)x->dims[0];
        e->has_grad = 0;
        e->in.data = NULL;
        mark_ancestors(e, upto);
        run_prefix(e, x);
        from = e->pre_s;
    } else {
        take_input(e, x);
        mark_ancestors(e, upto);
    }
    run_nodes(e, from, m->n);
    /* A forward-only engine: the buffers of the nodes not kept now hold
     * later nodes' values, and the input's too when it lies in the
     * arena. */
    for (int i = 0; e->fonly && i < m->n; i++)
        if (!e->kept[i])
            e->valid[i] = 0;
    if (e->fonly && e->input->data)
        e->in.data = NULL;
}

void engine_rerun_from(engine *e, int from, int upto, engine_edit_fn fn, void *ctx)
{
    if (from < 0 || upto >= e->m->n || from > upto || !e->valid[from] || !e->valid[upto])
        die("engine: rerun from node %d to %d, which the last forward did not compute", from,
            upto);
    if (fn)
        fn(ctx, e->act[from]);
    e->has_grad = 0;
    mark_ancestors(e, upto);
    /* The nodes that depend on `from`: mark 2. */
    e->mark[from] = 2;
    for (int i = from + 1; i <= upto; i++) {
        const node *nd = &e->m->nodes[i];
        for (int k = 0; k < nd->nin && e->mark[i] == 1; k++)
            if (nd->in[k] >= 0 && e->mark[nd->in[k]] == 2)
                e->mark[i] = 2;
        if (e->mark[i] == 2)
            forward_node(e, i);
    }
}

void engine_forward(engine *e, const tensor *x) { engine_forward_upto(e, x, e->m->n - 1); }

const tensor *engine_act(const engine *e, int i)
{
    if (i < 0 || i >= e->m->n)
        die("engine: no node %d", i);
    if (!e->valid[i])
        die("engine: node '%s' was not computed by the last forward%s", e->m->nodes[i].name,
            e->kept ? " (or not kept by this forward-only or fused engine)" : "");
    return e->act[i];
}

const tensor *engine_output(const engine *e) { return engine_act(e, e->m->n - 1); }

const tensor *engine_preprocessed(const engine *e)
{
    if (!e->in.data)
        die("engine: this forward kept no preprocessed input (a forward-only engine's "
            "arena or image-by-image prefix held it)");
    return &e->in;
}

static void alloc_wgrad(engine *e, int i)
{
    const node *nd = &e->m->nodes[i];
    if (e->wgrad[i] || !nd->nw)
        return;
    e->wgrad[i] = xcalloc((size_t)nd->nw, sizeof *e->wgrad[i]);
    for (int k = 0; k < nd->nw; k++)
        e->wgrad[i][k] = tensor_new(nd->w[k]->ndim, nd->w[k]->dims);
}

static void zero(tensor *t) { memset(t->data, 0, (size_t)tensor_numel(t) * sizeof(float)); }

/* Node i's gradient tensor for this backward's batch: its own buffer, or
 * (gshare) a view of the buffer its chain of sole readers ends in. */
static tensor *grad_buffer(engine *e, int i)
{
    if (!e->grad[i]) {
        const int64_t *sh = e->m->nodes[i].shape;
        if (e->gshare && e->gshare[i] >= 0)
            e->grad[i] = tensor_borrow(4, (int64_t[]){ e->max_batch, sh[0], sh[1], sh[2] },
                                       grad_buffer(e, e->gshare[i])->data);
        else
            e->grad[i] = batch_tensor(e->max_batch, sh);
    }
    set_batch(e->grad[i], e->n);
    return e->grad[i];
}

static void chain_preprocess(engine *e);

void engine_backward(engine *e, int from, const tensor *grad, relu_rule rule, int want_wgrad)
{
    const model *m = e->m;
    char a[64], b[64];
    if (from < 0 || from >= m->n)
        die("engine: no node %d", from);
    if (e->fonly)
        die("engine: backward on a forward-only engine");
    if (!e->valid[from])
        die("engine: backward from '%s', which the last forward did not compute",
            m->nodes[from].name);
    const tensor *act = e->act[from];
    if (!tensor_same_shape(grad, act))
        die("engine: gradient for '%s' is %s, its activation is %s", m->nodes[from].name,
            tensor_shape_str(grad->ndim, grad->dims, a, sizeof a),
            tensor_shape_str(act->ndim, act->dims, b, sizeof b));
    /* Gradient buffers are allocated once and never cleared ahead: a
     * buffer is "fresh" until something writes it this backward. An op
     * with op_sets_grad stores into its fresh input gradients (io->gset), so
     * a node with one consumer (most of a CNN) is written once, not zeroed
     * and then added to; for the other ops, a node read twice by one op,
     * and under a backward hook (DeepLift, LRP add into what they are
     * given), the engine zeroes a fresh buffer right before the call. A
     * node left fresh when its own turn comes (no consumer wrote it) is
     * zeroed then. fresh[m->n]: the input's gradient. */
    if (!e->gin)
        e->gin = batch_tensor(e->max_batch, m->in_shape);
    set_batch(e->gin, e->n);
    mark_ancestors(e, from);
    for (int i = 0; i <= from; i++) {
        e->fresh[i] = 0;
        if (!e->mark[i])
            continue;
        grad_buffer(e, i);
        e->fresh[i] = 1;
    }
    e->fresh[m->n] = 1;
    memcpy(e->grad[from]->data, grad->data, (size_t)tensor_numel(grad) * sizeof(float));
    e->fresh[from] = 0;
    const float *xin[64];
    const int64_t *xsh[64];
    float *gx[64];
    for (int i = from; i >= 0; i--) {
        if (!e->mark[i])
            continue;
        const node *nd = &m->nodes[i];
        if (e->fresh[i]) {
            zero(e->grad[i]);
            e->fresh[i] = 0;
        }
        node_inputs(e, nd, xin, xsh);
        unsigned gset = 0;
        for (int k = 0; k < nd->nin; k++) {
            int j = nd->in[k] < 0 ? m->n : nd->in[k], once = 1;
            tensor *t = nd->in[k] < 0 ? e->gin : e->grad[j];
            gx[k] = t->data;
            for (int l = 0; l < nd->nin; l++)
                if (l != k && nd->in[l] == nd->in[k])
                    once = 0;
            if (!e->fresh[j])
                continue;
            if (once && k < 32 && op_sets_grad(nd->def) && !e->bhook)
                gset |= 1u << k;
            else
                zero(t);
        }
        for (int k = 0; k < nd->nin; k++)
            e->fresh[nd->in[k] < 0 ? m->n : nd->in[k]] = 0;
        float *gw[64];
        int use_w = want_wgrad && nd->nw > 0;
        if (use_w) {
            alloc_wgrad(e, i);
            for (int k = 0; k < nd->nw && k < 64; k++)
                gw[k] = e->wgrad[i][k]->data;
        }
        op_io io = { 0 };
        io.n = e->n;
        io.nin = nd->nin;
        io.x = xin;
        io.xshape = xsh;
        io.y = e->act[i]->data;
        io.gy = e->grad[i]->data;
        io.gx = gx;
        io.gw = use_w ? gw : NULL;
        io.gset = gset;
        io.aux = e->aux[i];
        io.ws = e->ws;
        io.rule = rule;
        io.training = e->training;
        io.rng = &e->rng;
        io.cache = e->bhook ? NULL : current(e, e->bcache, i);
        double t0 = e->pbwd ? wall_seconds() : 0;
        if (!e->bhook || !e->bhook(e->bhook_ctx, i, &io))
            nd->def->backward(nd, &io);
        if (e->pbwd)
            e->pbwd[i] += wall_seconds() - t0;
    }
    if (e->fresh[m->n])
        zero(e->gin);
    chain_preprocess(e);
    e->has_grad = 1;
}

/* Chain the input's gradient through preprocessing: dx[s(c)] = dx'[c] /
 * std[c]. In place when there is no channel swap; a swap exchanges
 * planes 0 and 2. */
static void chain_preprocess(engine *e)
{
    const model *m = e->m;
    int64_t C = m->in_shape[0], hw = m->in_shape[1] * m->in_shape[2];
    int three = C == 3;
    for (int i = 0; i < e->n; i++) {
        float *g = e->gin->data + i * C * hw;
        for (int64_t c = 0; c < C; c++) {
            float inv = 1.0f / m->std[three ? c : 0];
            for (int64_t k = 0; k < hw; k++)
                g[c * hw + k] *= inv;
        }
        if (m->bgr)
            for (int64_t k = 0; k < hw; k++) {
                float t = g[k];
                g[k] = g[2 * hw + k];
                g[2 * hw + k] = t;
            }
    }
}

const tensor *engine_input_grad(const engine *e)
{
    if (!e->gin || !e->has_grad)
        die("engine: no input gradient (backward has not run since the last forward)");
    return e->gin;
}

const tensor *engine_node_grad(const engine *e, int i)
{
    if (i < 0 || i >= e->m->n || !e->grad[i] || !e->has_grad)
        die("engine: no gradient for node %d (not an ancestor of the last backward)", i);
    const node *nd = &e->m->nodes[i];
    if (e->gshare && nd->def == &op_relu && nd->in[0] >= 0 && e->gshare[nd->in[0]] == i)
        die("engine: the gradient of '%s' was masked in place (not kept by engine_fuse)",
            e->m->nodes[i].name);
    return e->grad[i];
}

tensor *engine_wgrad(engine *e, int i, int k)
{
    if (i < 0 || i >= e->m->n || k < 0 || k >= e->m->nodes[i].nw)
        die("engine: node %d has no weight %d", i, k);
    alloc_wgrad(e, i);
    return e->wgrad[i][k];
}

void engine_zero_wgrad(engine *e)
{
    for (int i = 0; i < e->m->n; i++)
        if (e->wgrad[i])
            for (int k = 0; k < e->m->nodes[i].nw; k++)
                tensor_fill(e->wgrad[i][k], 0.0f);
}

void engine_set_profile(engine *e, double *fwd, double *bwd)
{
    e->pfwd = fwd;
    e->pbwd = bwd;
    if (e->pre)
        e->pre->pfwd = fwd;
}

void engine_set_backward_hook(engine *e, engine_backward_fn fn, void *ctx)
{
    if (fn && e->fuse && !e->fonly)
        die("engine: a backward hook on a fused engine (its ops would see fused inputs)");
    e->bhook = fn;
    e->bhook_ctx = ctx;
}
