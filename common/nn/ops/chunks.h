/* chunks: splitting the rows of an image into equal chunks of work, shared
 * by the im2col (conv.c) and Winograd (winograd.c) convolutions. */
#ifndef CNN_CHUNKS_H
#define CNN_CHUNKS_H

#include <stdint.h>

static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Rows per chunk of total rows: want, at least lo, at most total, then
 * evened out so that the chunks are equal (the last one no smaller than
 * needed). */
static inline int64_t chunk_rows(int64_t want, int64_t lo, int64_t total)
{
    int64_t r = want < lo ? lo : want;
    if (r < 1)
        r = 1;
    if (r > total)
        r = total;
    return ceil_div(total, ceil_div(total, r));
}

/* n images of total rows in chunks of *rows (*nch per image) on T threads:
 * when the few items do not divide among the threads (3 chunks on 2
 * threads: the last round leaves a thread idle, 67% of the machine), make
 * the chunks smaller until they do. */
static inline void chunks_balance(int64_t n, int64_t total, int T, int64_t *rows, int64_t *nch)
{
    int64_t items = n * *nch;
    if (T > 1 && items < 4 * T && items % T)
        for (int64_t c = *nch + 1; c <= total; c++) {
            int64_t r = ceil_div(total, c), nc = ceil_div(total, r);
            if (n * nc % T == 0) {
                *rows = r, *nch = nc;
                return;
            }
        }
}

#endif
