/* lrp: layer-wise relevance propagation (Bach et al. 2015; the rules as
 * Montavon et al. 2019 state them, Captum's LRP choice of rule per layer).
 * The relevance of the output is the target's value (its seed times the
 * activation: the logit, or the unit's summary); each layer with a rule
 * hands its output relevance R_k back to its inputs a_j by
 *   R_j = a_j sum_k rho(w_jk) R_k / (z_k + eps sign(z_k)),
 *   z_k = sum_j a_j rho(w_jk) + rho(b_k), sign(0) = 1,
 * with rho(w) = w (epsilon rule), w + gamma max(0, w) (gamma rule) or
 * max(0, w) (alpha1beta0, the z+ rule) on convolutions and dense layers,
 * and the epsilon rule on pooling, BatchNorm and Add (Captum's default
 * for them). ReLU, Tanh, Dropout, Flatten and Concat pass relevance on
 * unchanged. The sum of the pixels' relevance equals the output's up to
 * what biases and eps absorb (relevance conservation). Any other op on
 * the way to the target has no rule: an error naming it. */
#ifndef CNN_LRP_H
#define CNN_LRP_H

#include "base/tensor.h"
#include "methods/target.h"
#include "nn/engine.h"
#include "nn/model.h"

typedef struct lrp_cfg {
    int rule;           /* 0 epsilon, 1 gamma, 2 alpha1beta0 (saliency.h's sal_lrp_rule) */
    double epsilon;
    double gamma;
} lrp_cfg;

/* Dies "FILE: lrp: no rule for op 'X' (node 'N') ..." when an op feeding
 * target_node has no rule. */
void lrp_check(const model *m, int target_node, const char *file);

/* Relevance of x's pixels (n rows) into out (n x C x H x W, rows set);
 * sel: each row's target choice. Uses (and leaves) the engine's backward
 * hook. */
void lrp_attr(engine *e, const model *m, const target *t, const target_sel *sel,
              const tensor *x, const lrp_cfg *cfg, tensor *out);

#endif
