/* deeplift: DeepLift's rescale rule (Shrikumar et al. 2017), as Captum's
 * DeepLift computes it: the chain rule with every elementwise
 * nonlinearity's derivative replaced by the multiplier
 * (f(x) - f(x')) / (x - x') between the input's and the baseline's
 * forward passes (the true derivative where |x - x'| < 1e-10), and
 * attr = (x - x') o the resulting multipliers at the pixels. Max-pooling
 * follows Captum's rule: with m = max(y, y'), d/dy (m - y') is routed
 * through the input's switches and d/dy (y - m) through the baseline's,
 * and their sum at an input over x - x' is its multiplier. Linear ops
 * (convolutions, dense, average pooling, BatchNorm, Add, Concat, ...)
 * keep their gradient, so the attributions of each image add up to
 * f(x) - f(baseline) (summation-to-delta). The other nonlinear ops with
 * several inputs per output (LRN, Softmax, Mul, normalisations) have no
 * rule here. */
#ifndef CNN_DEEPLIFT_H
#define CNN_DEEPLIFT_H

#include "base/tensor.h"
#include "methods/target.h"
#include "nn/engine.h"
#include "nn/model.h"

/* Dies "FILE: deeplift: no rule for op 'X' (node 'N') ..." when an op
 * feeding target_node has no rule. */
void deeplift_check(const model *m, int target_node, const char *file);

/* Attributions of x (n rows) against the baselines b (n rows) into out
 * (n x C x H x W, rows set); sel: each row's target choice. Uses (and
 * leaves) the engine's backward hook. */
void deeplift_attr(engine *e, const model *m, const target *t, const target_sel *sel,
                   const tensor *x, const tensor *b, tensor *out);

#endif
