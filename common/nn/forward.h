/* forward: cnn-forward's run. The model over the rows of an images file
 * (or image files, nn/setup) in batches of --batch: the chosen layers'
 * activations, /logits, /probs, /pred and the top-k (/topk_idx,
 * /topk_prob) into an activations file, with /ids, /labels, /paths and
 * the class names (the model's, else the images file's; the images file's
 * as /label_classes when they differ); or, with print, one line per row:
 * its /paths name (else its id), its label, the top-k classes. */
#ifndef CNN_FORWARD_H
#define CNN_FORWARD_H

#include "base/cli.h"

struct fwd_opts {
    struct cli_common co;
    const char *model, *layers, *input;
    int all, print, k;
};

void fwd_run(const struct fwd_opts *o);

#endif
