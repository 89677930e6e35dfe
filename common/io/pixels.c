/* pixels: see pixels.h. */
#include "io/pixels.h"

#include "base/finite.h"

/* C x H x W of one image (a 3-D N x H x W dataset is gray). */
static void image_dims(h5in *in, int64_t chw[3])
{
    int64_t d[TENSOR_MAXDIM];
    int nd = h5in_dims(in, "/images", d);
    if (nd == 3)
        chw[0] = 1, chw[1] = d[1], chw[2] = d[2];
    else if (nd == 4)
        chw[0] = d[1], chw[1] = d[2], chw[2] = d[3];
    else
        chw[0] = chw[1] = chw[2] = 0;
}

void pixels_check(const float *x, int64_t rows, const int64_t chw[3], int64_t row0,
                  const char *name)
{
    finite_check_images(x, rows, chw, row0, name);
}

void pixels_read_into(h5in *in, int64_t start, int64_t count, float *buf)
{
    int64_t chw[3];
    image_dims(in, chw);
    h5in_read_rows_into(in, "/images", start, count, buf);
    finite_check_images(buf, count, chw, start, in->name);
}

tensor *pixels_read(h5in *in, int64_t start, int64_t count)
{
    int64_t chw[3];
    image_dims(in, chw);
    tensor *t = h5in_read_rows(in, "/images", start, count);
    finite_check_images(t->data, t->dims[0], chw, start, in->name);
    return t;
}
