/* imageio: image files in and out. PNG (libpng) and JPEG (libjpeg-turbo)
 * (and BMP, GIF, TGA, PNM, PSD, HDR, TIFF, WebP: io/imagefmt) decode to float [0,1] planar C x H x W tensors (3-D: dims {C, H, W});
 * PNG encode for the render tools; resampling with stb_image_resize; center
 * crop. Every failure dies with one line "prog: FILE: what is wrong". */
#ifndef CNN_IMAGEIO_H
#define CNN_IMAGEIO_H

#include <stdint.h>

#include "base/tensor.h"
#include "io/imagefmt.h"

/* Largest image (width x height) a decoder accepts; checked from the header,
 * before any pixel memory is allocated, so a forged header cannot exhaust
 * memory. 64 Mi pixels by default; tools expose it as --max-pixels. */
#define IMAGEIO_MAX_PIXELS_DEFAULT ((int64_t)1 << 26)
extern int64_t imageio_max_pixels;
/* 1 (default): a JPEG's EXIF orientation is applied as it decodes (the
 * sizes imageio_info gives are then the turned ones); --no-orient sets 0. */
extern int imageio_orient;


/* Format from the first bytes (magic numbers), IMAGEIO_NONE if none. */
int imageio_sniff(const unsigned char *buf, size_t n);
/* The same, and TGA (which has no magic number) by a .tga name. */
int imageio_sniff_path(const char *path, const unsigned char *buf, size_t n);
/* 1 when the file name ends in an image extension (any case): .png .jpg
 * .jpeg .bmp .gif .tga .ppm .pgm .pnm .psd .hdr .tif .tiff .webp. */
int imageio_has_image_ext(const char *path);

/* Header only: size and stored channels (1 gray or 3 colour; alpha is not
 * counted, palettes count as colour). Dies on a missing, empty, truncated
 * or non-image file, and on an image over imageio_max_pixels. */
void imageio_info(const char *path, int *c, int *h, int *w);

/* Dies unless w x h is a non-empty image within imageio_max_pixels. */
#define imageio_check_size(path, w, h) imagefmt_check_size(path, w, h, imageio_max_pixels)

/* Decode to a {C, H, W} tensor. channels: 0 = as stored (1 or 3), 1 = gray
 * (ITU-R 601 luma, as PIL's convert("L")), 3 = RGB (gray replicated).
 * Alpha is dropped, not composited (as PIL's convert("RGB")); 16-bit
 * samples keep their precision (v / 65535). */
tensor *imageio_read(const char *path, int channels);

/* Convert a {C, H, W} tensor between 1 and 3 channels (returns a new one;
 * same channels returns a clone). */
tensor *imageio_convert(const tensor *img, int channels);

enum imageio_filter { IMAGEIO_BILINEAR = 0, IMAGEIO_AREA = 1 };
/* Resample {C, H, W} to h x w with stb_image_resize (bilinear = triangle
 * filter widened when shrinking, area = box filter; edges clamp). */
tensor *imageio_resize(const tensor *img, int h, int w, int filter);
/* The largest centred window of aspect w:h, resampled to h x w. */
tensor *imageio_crop_resize(const tensor *img, int h, int w, int filter);

/* Pillow's Image.resize(BILINEAR) exactly (what torchvision's Resize does
 * to a PIL image): a triangle filter of support max(1, scale), pixels
 * quantised to 8 bits, coefficients in 22-bit fixed point, the horizontal
 * pass first and each pass rounded to 8 bits. Byte-identical to Pillow on
 * 8-bit images (16-bit ones are quantised to 8 bits first, as PIL does). */
tensor *imageio_resize_pil(const tensor *img, int h, int w);
/* torchvision's Resize(short) then CenterCrop((ch, cw)): the shorter side
 * to `short` (the longer int(short * long / short_old); short 0 = no
 * resize), then the centred ch x cw window, its corner rounded as
 * Python's round() does (half to even), zero-padded when larger. */
tensor *imageio_resize_center_crop(const tensor *img, int short_side, int ch, int cw);

/* Write planar float [0,1] pixels (c = 1 gray, 3 RGB, 4 RGBA) as an 8-bit
 * PNG. path NULL or "-" is standard output; a file is written to a
 * temporary name and renamed, so a failure leaves nothing. */
void imageio_write_png(const char *path, const float *chw, int c, int h, int w);
/* Same from interleaved 8-bit rows (c channels per pixel, stride bytes per
 * row), e.g. a cairo surface converted to RGB(A). */
void imageio_write_png_u8(const char *path, const uint8_t *hwc, int c, int h, int w,
                          int stride);
/* Same with one text chunk key = text (NULL: none): tEXt when text is
 * ASCII, else iTXt (UTF-8). cnn-render stores the commands that made a
 * picture there ("history"). */
void imageio_write_png_text(const char *path, const uint8_t *hwc, int c, int h, int w,
                            int stride, const char *key, const char *text);
/* The text of chunk key (tEXt, zTXt or iTXt before the pixels) of a PNG
 * file: malloc'd, NULL when the file is missing, not a PNG or has none. */
char *imageio_png_text(const char *path, const char *key);

#endif
