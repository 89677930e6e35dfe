/* imagefmt: the image decoders besides PNG and JPEG, for imageio: BMP,
 * GIF (first frame), TGA, PNM, PSD and HDR through stb_image, TIFF through
 * libtiff, WebP through libwebp; and the EXIF orientation of a JPEG (the
 * APP1 tag 0x0112, read here) with the transform that applies it. */
#ifndef CNN_IMAGEFMT_H
#define CNN_IMAGEFMT_H

#include <stddef.h>
#include <stdint.h>

#include "base/tensor.h"

enum imageio_format { IMAGEIO_NONE = 0, IMAGEIO_PNG, IMAGEIO_JPEG, IMAGEIO_BMP, IMAGEIO_GIF,
                      IMAGEIO_TGA, IMAGEIO_PNM, IMAGEIO_PSD, IMAGEIO_HDR, IMAGEIO_TIFF,
                      IMAGEIO_WEBP };

/* Dies unless w x h is a non-empty image of at most max pixels. */
void imagefmt_check_size(const char *path, int64_t w, int64_t h, int64_t max);

/* IMAGEIO_BMP ... IMAGEIO_WEBP from the first bytes; IMAGEIO_NONE if none
 * (TGA has no magic number: imageio knows it by its extension). */
int imagefmt_sniff(const unsigned char *b, size_t n);
/* Header (out NULL) or whole decode of format fmt, as imageio's decoders:
 * *c 1 (gray) or 3, alpha dropped, v / 255. Dies naming path. */
void imagefmt_decode(int fmt, const char *path, const unsigned char *buf, size_t len, int *c,
                     int *h, int *w, tensor **out, int64_t max_pixels);
/* The EXIF orientation (1..8) of a JPEG held in b; 1 when it has none. */
int imagefmt_jpeg_orientation(const unsigned char *b, size_t n);
/* A new {C, H, W} tensor with orientation o applied, as PIL's
 * ImageOps.exif_transpose (2 mirror, 3 rotate 180, 4 flip, 5 transpose,
 * 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 anticlockwise). */
tensor *imagefmt_orient(const tensor *img, int o);

#endif
