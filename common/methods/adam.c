/* adam: Adam on an input's parameters (see adam.h). */
#include "methods/adam.h"

#include <math.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "base/par.h"

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

/* One step's items i0..i1-1. */
typedef struct adam_job {
    adam *a;
    float *p;
    const float *g;
    double c1, c2, sign;
} adam_job;

static void adam_range(void *ctx, int64_t i0, int64_t i1, int t)
{
    const adam_job *j = ctx;
    adam *a = j->a;
    float *p = j->p;
    const float *g = j->g;
    double c1 = j->c1, c2 = j->c2, sign = j->sign;
    (void)t;
    for (int64_t i = i0; i < i1; i++) {
        a->m[i] = a->b1 * a->m[i] + (1 - a->b1) * g[i];
        a->v[i] = a->b2 * a->v[i] + (1 - a->b2) * (double)g[i] * g[i];
        double v = p[i] + sign * a->lr * (a->m[i] / c1) / (sqrt(a->v[i] / c2) + a->eps);
        if (a->clamp)
            v = v < a->lo ? a->lo : v > a->hi ? a->hi : v;
        p[i] = (float)v;
    }
}

void adam_step(adam *a, float *p, const float *g)
{
    a->t++;
    double c1 = 1 - pow(a->b1, a->t), c2 = 1 - pow(a->b2, a->t);
    double sign = a->ascend ? 1 : -1;
    adam_job j = { a, p, g, c1, c2, sign };
    par_for(a->n, a->n > 4096 ? par_threads() : 1, adam_range, &j);
}

void adam_free(adam *a)
{
    free(a->m);
    free(a->v);
    a->m = a->v = NULL;
}
