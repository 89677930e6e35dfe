/* pixels: the one reader of an images file's /images rows. Every batch it
 * loads is checked where it lies (base/finite.h): a NaN or infinite pixel
 * is refused, and so is a pixel outside [0,1] unless --allow-range. */
#ifndef CNN_PIXELS_H
#define CNN_PIXELS_H

#include <stdint.h>

#include "base/tensor.h"
#include "io/h5io.h"

/* Rows [start, start+count) of /images into buf (count x C x H x W). */
void pixels_read_into(h5in *in, int64_t start, int64_t count, float *buf);
/* The same as a new tensor (a 3-D N x H x W /images keeps its shape). */
tensor *pixels_read(h5in *in, int64_t start, int64_t count);
/* Check pixels already in memory: rows x chw, the first being image row0
 * of the file named name (for images made in memory from a file). */
void pixels_check(const float *x, int64_t rows, const int64_t chw[3], int64_t row0,
                  const char *name);

#endif
