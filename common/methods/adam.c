/* adam: Adam on an input's parameters (see adam.h). */
#include "methods/adam.h"

#include <math.h>
#include <stdlib.h>

#include "base/alloc.h"

void adam_init(adam *a, int64_t n, double lr)
{
    a->lr = lr;
    a->b1 = 0.9;
    a->b2 = 0.999;
    a->eps = 1e-8;
    a->ascend = a->clamp = 0;
    a->lo = 0, a->hi = 1;
    a->t = 0;
    a->n = n;
    a->m = xcalloc((size_t)(n > 0 ? n : 1), sizeof *a->m);
    a->v = xcalloc((size_t)(n > 0 ? n : 1), sizeof *a->v);
}

void adam_step(adam *a, float *p, const float *g)
{
    a->t++;
    double c1 = 1 - pow(a->b1, a->t), c2 = 1 - pow(a->b2, a->t);
    double sign = a->ascend ? 1 : -1;
#pragma omp parallel for schedule(static) if (a->n > 4096)
    for (int64_t i = 0; i < a->n; i++) {
        a->m[i] = a->b1 * a->m[i] + (1 - a->b1) * g[i];
        a->v[i] = a->b2 * a->v[i] + (1 - a->b2) * (double)g[i] * g[i];
        double v = p[i] + sign * a->lr * (a->m[i] / c1) / (sqrt(a->v[i] / c2) + a->eps);
        if (a->clamp)
            v = v < a->lo ? a->lo : v > a->hi ? a->hi : v;
        p[i] = (float)v;
    }
}

void adam_free(adam *a)
{
    free(a->m);
    free(a->v);
    a->m = a->v = NULL;
}
