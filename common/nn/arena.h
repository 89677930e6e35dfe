/* arena: one buffer for many blocks whose lifetimes are known in advance
 * (a forward-only engine's activations, its nodes' workspaces, its
 * preprocessed input): each block gets an offset such that two blocks
 * live at the same time never overlap.
 *
 * Greedy by size, as TensorFlow Lite's arena planner does: the largest
 * block first, each at the lowest offset where it fits between the blocks
 * already placed that it meets in time. On densenet121 at batch 1 it needs
 * 7.3 MB where a buffer for each size no free one had took 32.7 MB in 28
 * buffers (its dense layers' outputs live to the block's end while the
 * Concats between them grow). */
#ifndef CNN_ARENA_H
#define CNN_ARENA_H

#include <stddef.h>

/* Offsets (off[i], in floats, multiples of align) for n blocks of size[i]
 * floats, block i live over steps start[i] .. end[i] (inclusive: a block
 * whose last reader is step t does not share with t's output). Blocks of
 * size 0 get offset 0 and are ignored. Returns the floats the arena
 * needs. */
size_t arena_plan(int n, const size_t *size, const int *start, const int *end, size_t align,
                  size_t *off);

#endif
