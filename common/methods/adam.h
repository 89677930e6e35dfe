/* adam: the one Adam (Kingma & Ba 2015) of the optimisations on an input
 * (cnn-ascend's parameters, cnn-style's pixels), with PyTorch's
 * torch.optim.Adam defaults: betas 0.9 and 0.999, eps 1e-8, bias
 * correction, moments kept in double. By default a step descends
 * (p -= lr m^ / (sqrt(v^) + eps)); ascend climbs instead. With clamp, each
 * parameter is put back into [lo, hi] after the step (cnn-style's pixels
 * in [0,1]: projected Adam). cnn-train's Adam, over the weights of a
 * model with decay, is its own (methods/train). */
#ifndef CNN_ADAM_H
#define CNN_ADAM_H

#include <stdint.h>

typedef struct adam {
    double lr, b1, b2, eps;
    int ascend;                /* climb the objective instead of descending */
    int clamp;                 /* keep parameters in [lo, hi] */
    double lo, hi;
    int t;
    int64_t n;
    double *m, *v;
} adam;

/* n parameters, step size lr; descending, no clamp (set the fields). */
void adam_init(adam *a, int64_t n, double lr);
/* One step on p from the gradient g (both n long). */
void adam_step(adam *a, float *p, const float *g);
void adam_free(adam *a);

#endif
