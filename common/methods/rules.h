/* rules: the bookkeeping the methods with their own backward rules share
 * (DeepLift, LRP; the CAMs' layer check): which nodes feed a node, and
 * whether every op on the way has a rule. */
#ifndef CNN_RULES_H
#define CNN_RULES_H

#include "nn/model.h"

/* Marks (m->n bytes, malloc'd; the caller frees) of node `to` and the
 * nodes it depends on. */
char *rules_ancestors(const model *m, int to);
/* Is op one of the NULL-terminated names? */
int rules_in(const char *const *names, const char *op);
/* The last node feeding `to` (or `to` itself) whose op is in none of the
 * NULL-terminated lists (a NULL-terminated array of lists); -1 when every
 * op has a rule. */
int rules_uncovered(const model *m, int to, const char *const *const *lists);

#endif
