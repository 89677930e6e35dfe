/* perturb: the lecture's "parts, shape or texture?" image edits, one
 * image (C x H x W floats in [0,1]) at a time: tiles shuffled (parts in
 * the wrong places), silhouettes (shape alone), boxes of fill (occluders). */
#ifndef CNN_PERTURB_H
#define CNN_PERTURB_H

#include <stdint.h>

#include "base/cli.h"

/* Cut the image into rows x cols equal tiles (H % rows == 0 and
 * W % cols == 0, which the caller checks) and place them in a random
 * order: tile perm[k] of the input lands at position k (row-major). perm
 * gets rows * cols entries. */
void perturb_shuffle(const float *in, float *out, int64_t C, int64_t H, int64_t W, int rows,
                     int cols, rng *r, int32_t *perm);

/* Object black (0), background white (1), in every channel. The object is
 * where mask (H x W, may be NULL) is >= 0.5, or else where the image's
 * luminance (mean over channels) is below threshold; invert swaps object
 * and background. */
void perturb_silhouette(const float *in, const float *mask, float *out, int64_t C, int64_t H,
                        int64_t W, double threshold, int invert);

enum { PERTURB_FILL_GRAY, PERTURB_FILL_ZERO, PERTURB_FILL_MEAN, PERTURB_FILL_VALUE };
/* Parse gray|zero|mean|VALUE; -1 when it is none of them. */
int perturb_fill_parse(const char *s, float *value);
/* Copy in to out with the box x, y, w, h (inside the image, checked by the
 * caller) filled: gray 0.5, zero, the image's own channel means, or value. */
void perturb_box(const float *in, float *out, int64_t C, int64_t H, int64_t W, int64_t bx,
                 int64_t by, int64_t bw, int64_t bh, int fill, float value);

#endif
