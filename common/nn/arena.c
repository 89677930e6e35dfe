/* arena: offsets for blocks with known lifetimes (arena.h). */
#include "nn/arena.h"

#include <stdlib.h>

#include "base/alloc.h"

/* A block's place in the placing order: larger first, then the earlier. */
typedef struct {
    size_t size;
    int start, i;
} akey;

static int cmp_place(const void *a, const void *b)
{
    const akey *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return (x->start > y->start) - (x->start < y->start);
}

size_t arena_plan(int n, const size_t *size, const int *start, const int *end, size_t align,
                  size_t *off)
{
    akey *order = xmalloc((size_t)(n ? n : 1) * sizeof *order);
    int *placed = xmalloc((size_t)(n ? n : 1) * sizeof *placed), np = 0;
    int *meet = xmalloc((size_t)(n ? n : 1) * sizeof *meet);
    size_t total = 0;
    for (int i = 0; i < n; i++)
        order[i] = (akey){ size[i], start[i], i }, off[i] = 0;
    qsort(order, (size_t)n, sizeof *order, cmp_place);
    for (int a = 0; a < n; a++) {
        int i = order[a].i;
        if (!size[i])
            break;   /* sorted: the rest are empty too */
        size_t need = (size[i] + align - 1) / align * align;
        /* The placed blocks that live at a step block i lives at, by offset. */
        int nm = 0;
        for (int p = 0; p < np; p++) {
            int j = placed[p];
            if (start[j] <= end[i] && start[i] <= end[j]) {
                int q = nm++;
                while (q > 0 && off[meet[q - 1]] > off[j])
                    meet[q] = meet[q - 1], q--;
                meet[q] = j;
            }
        }
        /* The lowest gap between them that holds the block. */
        size_t at = 0;
        for (int q = 0; q < nm; q++) {
            int j = meet[q];
            if (at + need <= off[j])
                break;
            size_t past = off[j] + (size[j] + align - 1) / align * align;
            if (past > at)
                at = past;
        }
        off[i] = at;
        placed[np++] = i;
        if (at + need > total)
            total = at + need;
    }
    free(order), free(placed), free(meet);
    return total;
}
