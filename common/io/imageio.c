#include "io/imageio.h"
#include "base/cli.h"
#include "io/outfile.h"
#include "io/imagefmt.h"

#include <errno.h>
#include <math.h>
#include <jerror.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>

/* The one translation unit that instantiates stb_image_resize; its code is
 * not ours, so its warnings are not made errors. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STBIR_ASSERT(x) ((void)0)
#include <stb/stb_image_resize.h>
#pragma GCC diagnostic pop

int64_t imageio_max_pixels = IMAGEIO_MAX_PIXELS_DEFAULT;
int imageio_orient = 1;

int imageio_sniff(const unsigned char *b, size_t n)
{
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8))
        return IMAGEIO_PNG;
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
        return IMAGEIO_JPEG;
    return imagefmt_sniff(b, n);
}

static const char *const image_exts[] = { ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga",
                                          ".ppm", ".pgm", ".pnm", ".psd", ".hdr", ".tif",
                                          ".tiff", ".webp", NULL };

int imageio_has_image_ext(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/'))
        return 0;
    for (int i = 0; image_exts[i]; i++)
        if (!strcasecmp(dot, image_exts[i]))
            return 1;
    return 0;
}

/* Whole file in memory: images are compressed, so this is small next to the
 * decoded pixels, and decoders then never see a short read from stdio. */
static unsigned char *slurp(const char *path, size_t *len)
{
    unsigned char *buf = cli_read_file(path, (size_t)1 << 32, 0, len);
    if (*len == 0)
        die("%s: empty file (expected a PNG or JPEG image)", path);
    return buf;
}

/* ---- PNG ---------------------------------------------------------------- */

struct png_src {
    const unsigned char *buf;
    size_t len, off;
    char msg[200];
};

static void png_err(png_structp png, png_const_charp msg)
{
    struct png_src *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_read_mem(png_structp png, png_bytep out, size_t n)
{
    struct png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->off)
        png_error(png, "file is truncated");
    memcpy(out, s->buf + s->off, n);
    s->off += n;
}

/* Decode (or only read the header when out is NULL). */
static void png_decode(const char *path, const unsigned char *buf, size_t len, int *pc,
                       int *ph, int *pw, tensor **out)
{
    struct png_src src = { buf, len, 0, "" };
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_err, png_warn);
    if (!png)
        die("%s: out of memory for libpng", path);
    png_infop info = png_create_info_struct(png);
    /* Volatile: assigned between setjmp and a possible longjmp. */
    unsigned char *volatile pix = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(pix);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        die("%s: corrupt PNG (%s)", path, src.msg);
    }
    png_set_read_fn(png, &src, png_read_mem);
    /* Our limit comes first; libpng's own (1e6 per side) is looser. */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int ct = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    imageio_check_size(path, w, h);
    int c = (ct & PNG_COLOR_MASK_COLOR) ? 3 : 1;
    *pc = c;
    *ph = (int)h;
    *pw = (int)w;
    if (!out) {
        png_destroy_read_struct(&png, &info, NULL);
        return;
    }
    if (ct == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (ct == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    /* Alpha is dropped; a palette with a tRNS chunk gains one when it is
     * expanded, so that goes too. */
    if ((ct & PNG_COLOR_MASK_ALPHA) ||
        (ct == PNG_COLOR_TYPE_PALETTE && png_get_valid(png, info, PNG_INFO_tRNS)))
        png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int ch = png_get_channels(png, info);
    int bps = png_get_bit_depth(png, info) == 16 ? 2 : 1;
    if (ch != c)
        png_error(png, "unexpected channel count after expansion");
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)w * (size_t)c * (size_t)bps)
        png_error(png, "unexpected row size");
    pix = xmalloc(rowbytes * h);
    rows = xmalloc(h * sizeof *rows);
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = pix + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    tensor *t = tensor_new(3, (int64_t[]){ c, h, w });
    size_t plane = (size_t)w * h;
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++)
            for (int k = 0; k < c; k++) {
                const unsigned char *p = pix + y * rowbytes + (x * (size_t)c + (size_t)k) * (size_t)bps;
                float v = bps == 2 ? (float)((p[0] << 8) | p[1]) / 65535.0f : (float)p[0] / 255.0f;
                t->data[(size_t)k * plane + y * w + x] = v;
            }
    free(pix);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    *out = t;
}

/* ---- JPEG --------------------------------------------------------------- */

struct jpg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
};

static void jpg_error_exit(j_common_ptr ci)
{
    struct jpg_err *e = (struct jpg_err *)ci->err;
    ci->err->format_message(ci, e->msg);
    longjmp(e->jb, 1);
}

/* libjpeg only warns on a truncated or damaged stream and fills the rest
 * with grey; a truncated file must be an error, so the warnings that mean
 * lost data are raised to errors. Harmless ones (extra bytes between
 * markers, which cameras write) are ignored. */
static void jpg_emit(j_common_ptr ci, int level)
{
    if (level >= 0)
        return;
    int code = ci->err->msg_code;
    if (code == JWRN_EXTRANEOUS_DATA || code == JWRN_ADOBE_XFORM || code == JWRN_BOGUS_ICC ||
        code == JWRN_JFIF_MAJOR)
        return;
    jpg_error_exit(ci);
}

static void jpg_decode(const char *path, const unsigned char *buf, size_t len, int *pc, int *ph,
                       int *pw, tensor **out)
{
    struct jpeg_decompress_struct ci;
    struct jpg_err err;
    unsigned char *volatile row = NULL;
    tensor *volatile t = NULL;
    ci.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpg_error_exit;
    err.mgr.emit_message = jpg_emit;
    err.msg[0] = '\0';
    if (setjmp(err.jb)) {
        jpeg_destroy_decompress(&ci);
        free(row);
        tensor_free(t);
        die("%s: corrupt JPEG (%s)", path, err.msg);
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, buf, (unsigned long)len);
    jpeg_read_header(&ci, TRUE);
    imageio_check_size(path, ci.image_width, ci.image_height);
    int c = ci.num_components == 1 ? 1 : 3;
    *pc = c;
    *ph = (int)ci.image_height;
    *pw = (int)ci.image_width;
    if (!out) {
        jpeg_destroy_decompress(&ci);
        return;
    }
    int cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
    ci.out_color_space = c == 1 ? JCS_GRAYSCALE : cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&ci);
    int w = (int)ci.output_width, h = (int)ci.output_height, oc = ci.output_components;
    t = tensor_new(3, (int64_t[]){ c, h, w });
    row = xmalloc((size_t)w * (size_t)oc);
    size_t plane = (size_t)w * (size_t)h;
    /* Adobe writes CMYK inverted; that is what nearly every CMYK JPEG is. */
    int inv = ci.saw_Adobe_marker;
    while (ci.output_scanline < ci.output_height) {
        size_t y = ci.output_scanline;
        JSAMPROW r = row;
        jpeg_read_scanlines(&ci, &r, 1);
        for (int x = 0; x < w; x++) {
            const unsigned char *p = row + (size_t)x * (size_t)oc;
            if (cmyk) {
                float k = (inv ? p[3] : 255 - p[3]) / 255.0f;
                for (int j = 0; j < 3; j++)
                    t->data[(size_t)j * plane + y * (size_t)w + (size_t)x] =
                        (inv ? p[j] : 255 - p[j]) / 255.0f * k;
            } else {
                for (int j = 0; j < c; j++)
                    t->data[(size_t)j * plane + y * (size_t)w + (size_t)x] = p[j] / 255.0f;
            }
        }
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    free(row);
    *out = t;
}

int imageio_sniff_path(const char *path, const unsigned char *b, size_t n)
{
    int fmt = imageio_sniff(b, n);
    const char *dot = strrchr(path, '.');
    return fmt == IMAGEIO_NONE && dot && !strcasecmp(dot, ".tga") ? IMAGEIO_TGA : fmt;
}

static void decode(const char *path, int *c, int *h, int *w, tensor **out)
{
    size_t len;
    unsigned char *buf = slurp(path, &len);
    int fmt = imageio_sniff_path(path, buf, len), orient = 1;
    switch (fmt) {
    case IMAGEIO_PNG:
        png_decode(path, buf, len, c, h, w, out);
        break;
    case IMAGEIO_JPEG:
        jpg_decode(path, buf, len, c, h, w, out);
        orient = imageio_orient ? imagefmt_jpeg_orientation(buf, len) : 1;
        break;
    case IMAGEIO_NONE:
        die("%s: not an image (PNG, JPEG, BMP, GIF, TGA, PNM, PSD, HDR, TIFF or WebP)", path);
    default:
        imagefmt_decode(fmt, path, buf, len, c, h, w, out, imageio_max_pixels);
    }
    free(buf);
    if (orient >= 5) {   /* a quarter turn: width and height swap */
        int t = *h;
        *h = *w;
        *w = t;
    }
    if (orient > 1 && out) {
        tensor *t = imagefmt_orient(*out, orient);
        tensor_free(*out);
        *out = t;
    }
}

void imageio_info(const char *path, int *c, int *h, int *w)
{
    decode(path, c, h, w, NULL);
}

tensor *imageio_convert(const tensor *img, int channels)
{
    int64_t c = img->dims[0], h = img->dims[1], w = img->dims[2];
    if (channels == 0 || channels == c)
        return tensor_clone(img);
    tensor *t = tensor_new(3, (int64_t[]){ channels, h, w });
    size_t plane = (size_t)(h * w);
    if (channels == 1) {
        for (size_t i = 0; i < plane; i++)
            t->data[i] = 0.299f * img->data[i] + 0.587f * img->data[plane + i] +
                         0.114f * img->data[2 * plane + i];
    } else {
        for (int k = 0; k < channels; k++)
            memcpy(t->data + (size_t)k * plane, img->data, plane * sizeof(float));
    }
    return t;
}

tensor *imageio_read(const char *path, int channels)
{
    int c, h, w;
    tensor *t = NULL;
    decode(path, &c, &h, &w, &t);
    if (channels == 0 || channels == c)
        return t;
    tensor *u = imageio_convert(t, channels);
    tensor_free(t);
    return u;
}

static tensor *resize_region(const tensor *img, int h, int w, int filter, float s0, float t0,
                             float s1, float t1)
{
    int c = (int)img->dims[0], ih = (int)img->dims[1], iw = (int)img->dims[2];
    tensor *t = tensor_new(3, (int64_t[]){ c, h, w });
    stbir_filter f = filter == IMAGEIO_AREA ? STBIR_FILTER_BOX : STBIR_FILTER_TRIANGLE;
    /* Planar data: one single-channel resize per plane. */
    for (int k = 0; k < c; k++)
        if (!stbir_resize_region(img->data + (size_t)k * (size_t)ih * (size_t)iw, iw, ih,
                                 iw * (int)sizeof(float), t->data + (size_t)k * (size_t)h * (size_t)w,
                                 w, h, w * (int)sizeof(float), STBIR_TYPE_FLOAT, 1,
                                 STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP, STBIR_EDGE_CLAMP,
                                 f, f, STBIR_COLORSPACE_LINEAR, NULL, s0, t0, s1, t1))
            die("cannot resize an image from %dx%d to %dx%d", iw, ih, w, h);
    /* Triangle and box filters never overshoot, but rounding can leave a
     * hair outside [0, 1]; the schema promises [0, 1]. */
    int64_t n = tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        t->data[i] = t->data[i] < 0 ? 0 : t->data[i] > 1 ? 1 : t->data[i];
    return t;
}

tensor *imageio_resize(const tensor *img, int h, int w, int filter)
{
    if (img->dims[1] == h && img->dims[2] == w)
        return tensor_clone(img);
    return resize_region(img, h, w, filter, 0, 0, 1, 1);
}

tensor *imageio_crop_resize(const tensor *img, int h, int w, int filter)
{
    int64_t ih = img->dims[1], iw = img->dims[2];
    /* Whole pixels, so the result equals cropping then resizing (what PIL's
     * crop + resize or torchvision's CenterCrop after Resize approximate). */
    int64_t cw = iw, chh = ih;
    if (iw * h > ih * w)
        cw = (ih * w + h / 2) / h;
    else
        chh = (iw * h + w / 2) / w;
    if (cw < 1)
        cw = 1;
    if (chh < 1)
        chh = 1;
    int64_t x0 = (iw - cw) / 2, y0 = (ih - chh) / 2;
    int c = (int)img->dims[0];
    tensor *crop = tensor_new(3, (int64_t[]){ c, chh, cw });
    for (int k = 0; k < c; k++)
        for (int64_t y = 0; y < chh; y++)
            memcpy(crop->data + ((size_t)k * chh + y) * cw,
                   img->data + ((size_t)k * ih + y0 + y) * iw + x0, (size_t)cw * sizeof(float));
    tensor *t = imageio_resize(crop, h, w, filter);
    tensor_free(crop);
    return t;
}

/* ---- PNG out -------------------------------------------------------------- */

static void png_write_err(png_structp png, png_const_charp msg)
{
    char *m = png_get_error_ptr(png);
    snprintf(m, 200, "%s", msg);
    png_longjmp(png, 1);
}

void imageio_write_png_u8(const char *path, const uint8_t *hwc, int c, int h, int w, int stride)
{
    imageio_write_png_text(path, hwc, c, h, w, stride, NULL, NULL);
}

/* tEXt is Latin-1: plain ASCII goes there, anything else in iTXt (UTF-8). */
static void png_set_one_text(png_structp png, png_infop info, const char *key, const char *text)
{
    png_text t;
    memset(&t, 0, sizeof t);
    t.key = (png_charp)key;
    t.text = (png_charp)text;
    t.text_length = strlen(text);
    t.compression = PNG_TEXT_COMPRESSION_NONE;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p >= 0x80) {
            t.compression = PNG_ITXT_COMPRESSION_NONE;
            t.itxt_length = t.text_length;
            t.text_length = 0;
            break;
        }
    png_set_text(png, info, &t, 1);
}

void imageio_write_png_text(const char *path, const uint8_t *hwc, int c, int h, int w,
                            int stride, const char *key, const char *text)
{
    static const int types[5] = { 0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                  PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA };
    if (c < 1 || c > 4 || h < 1 || w < 1)
        die("cannot write a PNG of %d channels, %dx%d", c, w, h);
    outfile *of = outfile_open(path, "a PNG");
    const char *name = of->name;
    FILE *f = outfile_stream(of);
    char msg[200] = "";
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, msg, png_write_err, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info)
        die("%s: out of memory for libpng", name);
    if (setjmp(png_jmpbuf(png)))
        die("%s: cannot write PNG (%s)", name, msg);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, types[c], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (key && text)
        png_set_one_text(png, info, key, text);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(hwc + (size_t)y * (size_t)stride));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    outfile_commit(of);
}

void imageio_write_png(const char *path, const float *chw, int c, int h, int w)
{
    size_t plane = (size_t)h * (size_t)w;
    uint8_t *buf = xmalloc(plane * (size_t)c);
    for (size_t i = 0; i < plane; i++)
        for (int k = 0; k < c; k++) {
            float v = chw[(size_t)k * plane + i];
            v = v != v ? 0 : v < 0 ? 0 : v > 1 ? 1 : v;
            buf[i * (size_t)c + (size_t)k] = (uint8_t)(v * 255.0f + 0.5f);
        }
    imageio_write_png_u8(path, buf, c, h, w, w * c);
    free(buf);
}

/* ---- PNG text chunks in ---------------------------------------------------- */

static void png_text_err(png_structp png, png_const_charp msg)
{
    (void)msg;
    png_longjmp(png, 1);
}

char *imageio_png_text(const char *path, const char *key)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char sig[8];
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8)) {
        fclose(f);
        return NULL;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, png_text_err, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_infop end = info ? png_create_info_struct(png) : NULL;
    char *volatile res = NULL;
    if (!end || setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, &end);
        fclose(f);
        return res;
    }
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    /* Text chunks before the pixels are enough (ours are written there). */
    png_read_info(png, info);
    png_textp t;
    int n = 0;
    png_get_text(png, info, &t, &n);
    for (int i = 0; i < n && !res; i++)
        if (!strcmp(t[i].key, key))
            res = xstrdup(t[i].text ? t[i].text : "");
    png_destroy_read_struct(&png, &info, &end);
    fclose(f);
    return res;
}

/* ---- Pillow's bilinear resize, exactly --------------------------------------- */

#define PIL_PRECISION_BITS (32 - 8 - 2)

/* Pillow's precompute_coeffs for the bilinear filter, then its
 * normalize_coeffs_8bpc: per output pixel, the first input pixel, the
 * count, and ksize fixed-point weights. */
static int pil_coeffs(int in, int out, int **bounds, int32_t **kk)
{
    double scale = (double)in / out, fs = scale < 1.0 ? 1.0 : scale, support = fs;
    int ksize = (int)ceil(support) * 2 + 1;
    *bounds = xmalloc((size_t)out * 2 * sizeof **bounds);
    *kk = xmalloc((size_t)out * (size_t)ksize * sizeof **kk);
    double *k = xmalloc((size_t)ksize * sizeof *k);
    for (int xx = 0; xx < out; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / fs;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0)
            xmin = 0;
        if (xmax > in)
            xmax = in;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double a = fabs((x + xmin - center + 0.5) * ss);
            k[x] = a < 1.0 ? 1.0 - a : 0.0;
            ww += k[x];
        }
        for (int x = 0; x < ksize; x++) {
            double v = x < xmax ? (ww != 0.0 ? k[x] / ww : k[x]) : 0.0;
            (*kk)[(size_t)xx * ksize + x] =
                (int32_t)(v < 0 ? -0.5 + v * (1 << PIL_PRECISION_BITS)
                                : 0.5 + v * (1 << PIL_PRECISION_BITS));
        }
        (*bounds)[2 * xx] = xmin;
        (*bounds)[2 * xx + 1] = xmax;
    }
    free(k);
    return ksize;
}

static uint8_t pil_clip8(int64_t v)
{
    if (v >= ((int64_t)1 << PIL_PRECISION_BITS << 8))
        return 255;
    if (v <= 0)
        return 0;
    return (uint8_t)(v >> PIL_PRECISION_BITS);
}

/* One pass over a plane of u8: n lines of `in` samples `step` apart (the
 * other axis `line` apart) -> `out` samples per line. */
static void pil_pass(const uint8_t *src, uint8_t *dst, int nlines, int in, int out,
                     ptrdiff_t sstep, ptrdiff_t sline, ptrdiff_t dstep, ptrdiff_t dline)
{
    int *bounds;
    int32_t *kk;
    int ksize = pil_coeffs(in, out, &bounds, &kk);
    (void)in;
    for (int l = 0; l < nlines; l++)
        for (int xx = 0; xx < out; xx++) {
            int64_t ss = (int64_t)1 << (PIL_PRECISION_BITS - 1);
            const int32_t *k = kk + (size_t)xx * ksize;
            for (int x = 0; x < bounds[2 * xx + 1]; x++)
                ss += (int64_t)src[l * sline + (bounds[2 * xx] + x) * sstep] * k[x];
            dst[l * dline + xx * dstep] = pil_clip8(ss);
        }
    free(bounds);
    free(kk);
}

tensor *imageio_resize_pil(const tensor *img, int h, int w)
{
    int64_t c = img->dims[0], ih = img->dims[1], iw = img->dims[2];
    if (ih == h && iw == w)
        return tensor_clone(img);
    size_t ip = (size_t)(ih * iw);
    uint8_t *a = xmalloc(ip), *t = xmalloc((size_t)ih * (size_t)w), *b = xmalloc((size_t)h * w);
    tensor *o = tensor_new(3, (int64_t[]){ c, h, w });
    for (int64_t k = 0; k < c; k++) {
        const float *s = img->data + (size_t)k * ip;
        for (size_t i = 0; i < ip; i++) {
            float v = s[i] * 255.0f + 0.5f;
            a[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
        /* Pillow skips a pass whose axis keeps its size. */
        const uint8_t *r = a;
        if (iw != w) {
            pil_pass(a, t, (int)ih, (int)iw, w, 1, iw, 1, w);
            r = t;
        }
        int64_t rw = iw != w ? w : iw;
        if (ih != h)
            pil_pass(r, b, (int)rw, (int)ih, h, rw, 1, w, 1);
        else
            memcpy(b, r, (size_t)h * w);
        float *d = o->data + (size_t)k * h * w;
        for (size_t i = 0; i < (size_t)h * w; i++)
            d[i] = b[i] / 255.0f;
    }
    free(a);
    free(t);
    free(b);
    return o;
}

/* Python's int(round(v / 2.0)) for an integer v: halves go to even. */
static int64_t round_half_even_div2(int64_t v)
{
    int64_t q = v >= 0 ? v / 2 : -((-v) / 2);
    if (v % 2 == 0)
        return q;
    /* v / 2 = q +- 0.5: round to the even one of q and q +- 1 */
    int64_t other = v > 0 ? q + 1 : q - 1;
    return q % 2 == 0 ? q : other;
}

tensor *imageio_resize_center_crop(const tensor *img, int short_side, int ch, int cw)
{
    int64_t c = img->dims[0], h = img->dims[1], w = img->dims[2];
    tensor *r;
    if (short_side > 0) {
        int64_t sh = w <= h ? w : h, lg = w <= h ? h : w;
        int64_t nl = (int64_t)((double)short_side * (double)lg / (double)sh);
        int64_t nw = w <= h ? short_side : nl, nh = w <= h ? nl : short_side;
        r = imageio_resize_pil(img, (int)nh, (int)nw);
    } else
        r = tensor_clone(img);
    if (ch <= 0 || cw <= 0)
        return r;
    h = r->dims[1], w = r->dims[2];
    /* Larger than the image: torchvision pads with zeros first. */
    int64_t pl = cw > w ? (cw - w) / 2 : 0, pt = ch > h ? (ch - h) / 2 : 0;
    int64_t ph = h + (ch > h ? ch - h : 0), pw = w + (cw > w ? cw - w : 0);
    int64_t top = round_half_even_div2(ph - ch), left = round_half_even_div2(pw - cw);
    tensor *o = tensor_new(3, (int64_t[]){ c, ch, cw });
    for (int64_t k = 0; k < c; k++)
        for (int64_t y = 0; y < ch; y++)
            for (int64_t x = 0; x < cw; x++) {
                int64_t sy = y + top - pt, sx = x + left - pl;
                o->data[(k * ch + y) * cw + x] =
                    sy >= 0 && sy < h && sx >= 0 && sx < w ? r->data[(k * h + sy) * w + sx] : 0.0f;
            }
    tensor_free(r);
    return o;
}
