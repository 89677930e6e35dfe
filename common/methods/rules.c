/* rules: see rules.h. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "methods/rules.h"

char *rules_ancestors(const model *m, int to)
{
    char *mark = xcalloc((size_t)m->n, 1);
    mark[to] = 1;
    for (int i = to; i >= 0; i--)
        if (mark[i])
            for (int k = 0; k < m->nodes[i].nin; k++)
                if (m->nodes[i].in[k] >= 0)
                    mark[m->nodes[i].in[k]] = 1;
    return mark;
}

int rules_in(const char *const *names, const char *op)
{
    for (; *names; names++)
        if (!strcmp(*names, op))
            return 1;
    return 0;
}

int rules_uncovered(const model *m, int to, const char *const *const *lists)
{
    char *mark = rules_ancestors(m, to);
    int bad = -1;
    for (int i = to; i >= 0 && bad < 0; i--) {
        if (!mark[i])
            continue;
        int ok = 0;
        for (const char *const *const *l = lists; *l && !ok; l++)
            ok = rules_in(*l, m->nodes[i].op);
        if (!ok)
            bad = i;
    }
    free(mark);
    return bad;
}
