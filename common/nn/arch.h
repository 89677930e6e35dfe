/* arch: a network architecture written as a compact string or a small text
 * file (docs/arch.md), turned into a model with freshly initialised weights
 * for cnn-train. Only chains (each layer feeds the next); graphs with Add or
 * Concat are written as model files directly (docs/model-format.md).
 *
 * "conv1=conv32k3,relu1=relu,conv2=conv64k3,relu2=relu,pool1=maxpool2,..."
 * Each item is [NAME=]LAYER; unnamed layers get conv1, relu1, pool1, fc1...
 * A file holds one item per line (commas allowed too), '#' starts a
 * comment. */
#ifndef CNN_ARCH_H
#define CNN_ARCH_H

#include <stddef.h>
#include <stdint.h>

#include "nn/model.h"

/* The classic Keras MNIST CNN; its last "dense" takes its width from the
 * number of classes of the training data. */
#define ARCH_DEFAULT                                                                  \
    "conv1=conv32k3,relu1=relu,conv2=conv64k3,relu2=relu,pool1=maxpool2,"             \
    "drop1=dropout0.25,flatten=flatten,fc1=dense128,relu3=relu,drop2=dropout0.5,"     \
    "fc2=dense"

/* Weight initialisation. */
typedef enum {
    ARCH_INIT_TORCH = 0,  /* PyTorch's default: weight and bias U(-1/sqrt(fan_in), +) */
    ARCH_INIT_HE          /* Kaiming/He uniform for ReLU: U(-sqrt(6/fan_in), +), bias 0 */
} arch_init;

/* Build a model for inputs c x h x w and nclasses classes from spec (a file
 * name when such a file exists, otherwise the string itself). Weights are
 * drawn from a generator seeded with seed, node by node in order. Returns
 * the prepared model, or NULL with a one-line reason in err. */
model *arch_build(const char *spec, int64_t c, int64_t h, int64_t w, int nclasses,
                  arch_init init, uint64_t seed, char *err, size_t errlen);

/* The spec's text: the file's content joined into one line, or the string
 * itself (malloc'd), for the model's provenance. NULL when a file cannot be
 * read. */
char *arch_text(const char *spec);

/* The node whose output is the logits: the last node, or the input of a
 * final Softmax. *has_softmax tells which. */
int arch_logits_node(const model *m, int *has_softmax);

#endif
