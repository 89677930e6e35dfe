/* engine: forward and backward passes of a prepared model over a batch.
 * Keeps every node's activation of the last forward for backward, with
 * three ReLU rules for the input gradient (standard, guided backprop,
 * deconvnet); max-pool routes through its switches in all three. The rules
 * act on the whole ReLU family: with f' the true local derivative (ReLU
 * x > 0, LeakyReLU 1 or alpha, Clip min < x < max), guided passes g f'(x)
 * where g > 0, deconvnet passes g where g > 0 whatever x was
 * (docs/model-format.md). Memory: every node's activation for max_batch
 * images (allocated when first computed), plus as much again for gradients
 * once backward has run; engine_forward_only keeps only what it must. */
#ifndef CNN_ENGINE_H
#define CNN_ENGINE_H

#include "nn/model.h"
#include "base/tensor.h"

typedef enum {
    RULE_STANDARD = 0,   /* the true gradient */
    RULE_GUIDED,         /* pass where forward input > 0 and gradient > 0 */
    RULE_DECONVNET       /* pass where gradient > 0, ignoring the forward input */
} relu_rule;

typedef struct engine engine;

/* An engine for batches of up to max_batch images. training=1 enables
 * dropout (with the seed) and BatchNorm in batch-statistics mode is not
 * supported: BatchNorm is always inference. The model must outlive it. */
engine *engine_new(model *m, int max_batch, int training, uint64_t seed);
void engine_free(engine *e);
/* Forward passes only (no backward, no rerun): the activations of the
 * nodes that keep[0..nkeep-1] does not name (the last node is always kept)
 * share buffers once no later node reads them, so a forward holds about
 * the weights and the few activations alive at once instead of every
 * node's. A Conv applies in its store the ReLU, or the residual Add (and
 * the ReLU after that), that alone reads its value, rounded as the ops
 * would (the output is byte-identical to an ordinary engine's). When the
 * model's preprocessing is the identity (mean 0, std 1, no channel swap:
 * a tail model of Ablation-CAM) the forward reads the caller's rows in
 * place instead of a copy. engine_act of a node not kept dies. Call before
 * the first forward. */
void engine_forward_only(engine *e, const int *keep, int nkeep);
/* An engine that runs backward, with forward's fusions: a Conv (or
 * BatchNorm) applies in its store the ReLU, Clip or residual Add that
 * alone reads its value, as engine_forward_only does, and the fused nodes
 * share its buffer (one pass over each map instead of two or three, and
 * the memory of one). Backward is unchanged: the ReLU family's rules read
 * their input's sign, and max(x, 0) has x's (Clip: the open interval
 * min < y < max holds where min < x < max), so a fused ReLU's backward
 * reads its own output in its input's buffer and passes the same values.
 * A gradient whose only reader is a ReLU or an Add is kept in that
 * reader's buffer (the ReLU masks it in place, the Add passes it on
 * without a copy). So the activations of the nodes whose value a fused
 * node replaced (a Conv before its ReLU) and the gradients of ReLUs
 * masked in place are not available (engine_act and engine_node_grad
 * die on them): name in keep[0..nkeep-1] every node whose activation or
 * gradient the caller reads or backward starts from (the last node is
 * always kept). No backward hook (DeepLift, LRP read every node's input).
 * Call before the first forward. */
void engine_fuse(engine *e, const int *keep, int nkeep);
/* A forward-only engine of more than one image whose early activations
 * are large (an image's over 1 MB, all of them over 16 MB) runs those
 * nodes image by image, the rest batched (the same values): the nodes
 * 0..engine_prefix()-1 that way; 0: none. */
int engine_prefix(const engine *e);
void engine_set_training(engine *e, int training);

/* Forward x (N x C x H x W pixels in [0,1], N <= max_batch); dies with a
 * message naming both shapes when x does not fit the model. */
void engine_forward(engine *e, const tensor *x);
/* Forward only as far as node `upto` (its ancestors). */
void engine_forward_upto(engine *e, const tensor *x, int upto);
/* Activation of node i from the last forward: N x C x H x W (owned by the
 * engine; valid until the next forward). */
const tensor *engine_act(const engine *e, int i);
/* The last node's output (the model's output, usually logits). */
const tensor *engine_output(const engine *e);

/* Backward from node `from` seeded with grad (same shape as its activation).
 * Computes the gradient with respect to the input pixels under `rule`, and
 * weight gradients (accumulated into engine_wgrad) when want_wgrad. */
void engine_backward(engine *e, int from, const tensor *grad, relu_rule rule, int want_wgrad);
/* d/dx of the last backward: N x C x H x W w.r.t. [0,1] pixels. */
const tensor *engine_input_grad(const engine *e);
/* Gradient of node i's weight k (same shape as the weight); zeroed by
 * engine_zero_wgrad. */
tensor *engine_wgrad(engine *e, int i, int k);
void engine_zero_wgrad(engine *e);

/* Threads for OpenBLAS and OpenMP together (they never run at once);
 * n < 1 = all online cores. Process-wide. */
void engine_set_threads(int n);
/* Images in the last forward. */
int engine_batch(const engine *e);
/* The preprocessed input of the last forward, what the first layer saw
 * (the caller's x itself in a forward-only engine that read it in place). */
const tensor *engine_preprocessed(const engine *e);
/* d/d activation of node i from the last backward (i an ancestor of, or,
 * the node backward started from). */
const tensor *engine_node_grad(const engine *e, int i);

/* An edit of a node's activation in place (engine_rerun_from). */
typedef void (*engine_edit_fn)(void *ctx, tensor *act);

/* Run again, for the images of the last forward, the nodes up to `upto`
 * that depend on node `from`, after fn (when not NULL) has edited from's
 * activation in place; the other nodes keep their activations. Ablation-
 * CAM reruns only the tail of the net for each set of zeroed maps. */
void engine_rerun_from(engine *e, int from, int upto, engine_edit_fn fn, void *ctx);

/* Replace the backward of chosen nodes (DeepLift's and LRP's rules): fn is
 * called for every node backward visits with the node's index and the op
 * call the engine is about to make (struct op_io of nn/ops.h: inputs,
 * output, d/d output, the input gradients to add to); it returns 1 when
 * it has done that node's backward itself, 0 to let the op's own run.
 * fn NULL removes the hook. */
struct op_io;
typedef int (*engine_backward_fn)(void *ctx, int i, const struct op_io *io);
void engine_set_backward_hook(engine *e, engine_backward_fn fn, void *ctx);

/* Time each node: from now on, every forward adds node i's wall seconds
 * to fwd[i] and every backward adds to bwd[i] (arrays of the model's node
 * count, owned by the caller; either may be NULL). A fused ReLU or Add
 * costs nothing of its own: its time is its Conv's. NULL, NULL stops. */
void engine_set_profile(engine *e, double *fwd, double *bwd);

#endif
