/* finite: one check, one message shape, for values that must be finite
 * (pixels read, features read, results about to be written) and for pixels
 * that must lie in [0,1]. Each dies at the first bad value with one line:
 *   FILE: image 3 has a NaN pixel (channel 0, y 4, x 5)
 *   FILE: row 7 has an infinite feature (column 12)
 *   FILE: image 3 has a pixel of 1.5 outside [0,1] (channel 0, y 4, x 5);
 *         give --allow-range to accept it
 *   FILE: image 2 has a NaN logit (class 4): the model computed it from
 *         finite pixels
 * A vectorisable scan finds whether anything is wrong; only then is the
 * block searched for the first bad value. */
#ifndef CNN_FINITE_H
#define CNN_FINITE_H

#include <stdint.h>

/* Pixels may lie this far outside [0,1] (rounding in resizers and in
 * other programs' float images) before the range check refuses them. */
#define FINITE_RANGE_TOL 1e-3f

/* --allow-range: images outside [0,1] are accepted (non-finite ones never
 * are). Set by cli_common_opt. */
extern int finite_allow_range;

/* The tail of finite_check_rows for results of a model. */
#define FINITE_FROM_PIXELS ": the model computed it from finite pixels"

/* Index of the first non-finite value of v[0..n), or -1 when all are. */
int64_t finite_first_bad(const float *v, int64_t n);

/* Die "FILE: ROW R has a NaN|an infinite WHAT (COL C)TAIL" at the first
 * non-finite value of the rows x d block x, whose first row is row row0 of
 * the file; tail (may be NULL) is appended as given. */
void finite_check_rows(const float *x, int64_t rows, int64_t d, int64_t row0, const char *file,
                       const char *row, const char *what, const char *col, const char *tail);

/* Images: rows x chw[0] x chw[1] x chw[2] pixels, the first being image
 * row0 of file. Refuses non-finite pixels, and pixels outside [0,1] (with
 * FINITE_RANGE_TOL) unless finite_allow_range. */
void finite_check_images(const float *x, int64_t rows, const int64_t chw[3], int64_t row0,
                         const char *file);

#endif
