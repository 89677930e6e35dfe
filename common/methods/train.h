/* train: mini-batch training of a model's weights with softmax
 * cross-entropy on the logits (the last node, or the input of a final
 * Softmax), SGD with momentum or Adam, L2 weight decay, shuffling and
 * dropout from one seed. The same seed, data and thread count give the same
 * weights bit for bit: every reduction here runs in a fixed order, and the
 * engine's dropout masks are drawn serially. */
#ifndef CNN_TRAIN_H
#define CNN_TRAIN_H

#include <stdint.h>

#include "nn/model.h"

typedef enum { TRAIN_SGD = 0, TRAIN_ADAM } train_optim;

typedef struct train_opts {
    int epochs;
    int batch;
    double lr;
    train_optim optim;
    double momentum;         /* SGD (PyTorch's form: v = mu*v + g; w -= lr*v) */
    double beta1, beta2, eps;  /* Adam */
    double wd;               /* L2 decay added to every gradient (PyTorch's weight_decay) */
    double lr_decay;         /* lr multiplied by this after every epoch (1 = constant) */
    uint64_t seed;
} train_opts;

/* Defaults: Adam, lr 1e-3, betas 0.9/0.999, eps 1e-8, batch 64, 10 epochs,
 * momentum 0.9 (for SGD), no decay, seed 1. */
void train_defaults(train_opts *o);

/* A data set in memory: n images c x h x w in [0,1], labels in
 * [0, classes). */
typedef struct train_set {
    const float *x;
    const int32_t *y;
    int64_t n, c, h, w;
} train_set;

/* What one epoch did: mean training loss and accuracy over the batches as
 * they were trained (dropout on), and, when there is a validation set, its
 * loss and accuracy in inference mode (-1 without one). */
typedef struct train_epoch {
    int epoch, epochs;
    double loss, acc;
    double val_loss, val_acc;
    double seconds;
} train_epoch;

typedef void (*train_report)(const train_epoch *ep, void *ctx);

/* Train m in place for o->epochs epochs on tr, evaluating val (may be NULL)
 * after each; cb (may be NULL) hears about every epoch. Shows a progress bar
 * per epoch on a terminal. Dies when a label is outside the model's output
 * range or the loss becomes NaN. */
void train_run(model *m, const train_set *tr, const train_set *val, const train_opts *o,
               train_report cb, void *ctx);

/* Adebayo et al.'s data randomisation: permute the n labels y in place,
 * keeping how many images each class has. A Fisher-Yates shuffle (for i =
 * n-1 down to 1: swap y[i] with y[j], j = rng_below(i + 1)) drawn from a
 * stream of its own, rng_seed(seed + TRAIN_LABEL_STREAM), so the
 * initialisation, the batches' order and dropout are those of a run without
 * it. */
#define TRAIN_LABEL_STREAM 0x4c4142454c53ull   /* "LABELS" */
void train_shuffle_labels(int32_t *y, int64_t n, uint64_t seed);

/* Accuracy (fraction) and mean cross-entropy (into *loss unless NULL) of m
 * on d, in inference mode, batch images at a time. */
double train_evaluate(model *m, const train_set *d, int batch, double *loss);

#endif
