/* imagefmt: the decoders besides PNG and JPEG (imagefmt.h). */
#include "io/imagefmt.h"
#include "base/cli.h"
#include "base/dynlib.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <webp/decode.h>

/* The one translation unit that instantiates stb_image; its code is not
 * ours, so its warnings are not made errors. PNG and JPEG go through
 * libpng and libjpeg-turbo, which report damage that stb_image would hide;
 * stb decodes BMP, GIF (first frame), TGA, PNM (P5, P6), PSD (composite)
 * and HDR (tone-mapped to 8 bits: gamma 1/2.2, clamped). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_TGA
#define STBI_ONLY_PNM
#define STBI_ONLY_PSD
#define STBI_ONLY_HDR
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_ASSERT(x) ((void)0)
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

static const char *fmt_name(int fmt)
{
    switch (fmt) {
    case IMAGEIO_BMP: return "BMP";
    case IMAGEIO_GIF: return "GIF";
    case IMAGEIO_TGA: return "TGA";
    case IMAGEIO_PNM: return "PNM";
    case IMAGEIO_PSD: return "PSD";
    case IMAGEIO_HDR: return "HDR";
    case IMAGEIO_TIFF: return "TIFF";
    case IMAGEIO_WEBP: return "WebP";
    default: return "image";
    }
}

/* Interleaved 8-bit pixels (stride k per pixel, the first c used) to a
 * planar {c, h, w} tensor of v / 255. */
static tensor *planar_u8(const unsigned char *px, int k, int c, int h, int w)
{
    tensor *t = tensor_new(3, (int64_t[]){ c, h, w });
    size_t plane = (size_t)w * (size_t)h;
    for (size_t i = 0; i < plane; i++)
        for (int j = 0; j < c; j++)
            t->data[(size_t)j * plane + i] = px[i * (size_t)k + (size_t)j] / 255.0f;
    return t;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A palette BMP whose colours are all grays is a gray image (PIL writes
 * mode L that way); stb_image would expand it to RGB. */
static int bmp_gray_palette(const unsigned char *b, size_t len)
{
    if (len < 54)
        return 0;
    uint32_t hsize = le32(b + 14), bpp = (uint32_t)b[28] | (uint32_t)b[29] << 8;
    if (bpp > 8 || hsize < 40)
        return 0;
    uint32_t ncol = le32(b + 46);
    if (ncol == 0 || ncol > (1u << bpp))
        ncol = 1u << bpp;
    size_t pal = 14 + (size_t)hsize;
    if (pal + 4 * (size_t)ncol > len)
        return 0;
    for (uint32_t i = 0; i < ncol; i++) {
        const unsigned char *e = b + pal + 4 * i;
        if (e[0] != e[1] || e[1] != e[2])
            return 0;
    }
    return 1;
}

static void stb_decode(int fmt, const char *path, const unsigned char *buf, size_t len, int *pc,
                       int *ph, int *pw, tensor **out, int64_t maxpix)
{
    int w, h, n;
    const char *name = fmt_name(fmt);
    if (len > INT32_MAX || !stbi_info_from_memory(buf, (int)len, &w, &h, &n))
        die("%s: corrupt %s (%s)", path, name, stbi_failure_reason());
    imagefmt_check_size(path, w, h, maxpix);
    /* The pixel array must be there: stb_image would read zeros past the
     * end of a truncated BMP. */
    if (fmt == IMAGEIO_BMP && le32(buf + 10) >= len)
        die("%s: corrupt BMP (file is truncated)", path);
    int c = fmt == IMAGEIO_BMP ? (bmp_gray_palette(buf, len) ? 1 : 3) : n <= 2 ? 1 : 3;
    *pc = c;
    *ph = h;
    *pw = w;
    if (!out)
        return;
    unsigned char *px = stbi_load_from_memory(buf, (int)len, &w, &h, &n, c);
    if (!px)
        die("%s: corrupt %s (%s)", path, name, stbi_failure_reason());
    *out = planar_u8(px, c, c, h, w);
    stbi_image_free(px);
}

/* ---- TIFF (libtiff, from memory) ------------------------------------------ */

struct mem {
    const unsigned char *buf;
    size_t len, off;
};

static tmsize_t mem_read(thandle_t h, void *p, tmsize_t n)
{
    struct mem *m = h;
    size_t k = n < 0 ? 0 : (size_t)n;
    if (k > m->len - m->off)
        k = m->len - m->off;
    memcpy(p, m->buf + m->off, k);
    m->off += k;
    return (tmsize_t)k;
}

static tmsize_t mem_write(thandle_t h, void *p, tmsize_t n)
{
    (void)h, (void)p, (void)n;
    return 0;
}

static toff_t mem_seek(thandle_t h, toff_t off, int whence)
{
    struct mem *m = h;
    uint64_t base = whence == SEEK_CUR ? m->off : whence == SEEK_END ? m->len : 0;
    uint64_t to = base + off;
    if (to > m->len)
        to = m->len;
    m->off = (size_t)to;
    return to;
}

static int mem_close(thandle_t h)
{
    (void)h;
    return 0;
}

static toff_t mem_size(thandle_t h)
{
    return ((struct mem *)h)->len;
}

/* libtiff is loaded with the first TIFF (base/dynlib.h): behind it come
 * libstdc++ and six codec libraries, 1.4 MB resident for every command
 * otherwise. */
#ifndef TIFF_SONAME
#define TIFF_SONAME "libtiff.so.6"
#endif
#define TIFF_FN(name) __typeof__(&TIFF##name) name
static struct {
    TIFF_FN(SetErrorHandler);
    TIFF_FN(SetWarningHandler);
    TIFF_FN(ClientOpen);
    TIFF_FN(GetField);
    TIFF_FN(GetFieldDefaulted);
    TIFF_FN(ReadRGBAImageOriented);
    TIFF_FN(Close);
} tiff;

static void tiff_load(void)
{
    static dynlib lib = DYNLIB(TIFF_SONAME, "TIFF images");
#define TIFF_SYM(name) tiff.name = (__typeof__(tiff.name))dynlib_sym(&lib, "TIFF" #name)
    TIFF_SYM(SetErrorHandler);
    TIFF_SYM(SetWarningHandler);
    TIFF_SYM(ClientOpen);
    TIFF_SYM(GetField);
    TIFF_SYM(GetFieldDefaulted);
    TIFF_SYM(ReadRGBAImageOriented);
    TIFF_SYM(Close);
#undef TIFF_SYM
}

static char tiff_msg[256];

static void tiff_error(const char *mod, const char *fmt, va_list ap)
{
    (void)mod;
    if (!tiff_msg[0])
        vsnprintf(tiff_msg, sizeof tiff_msg, fmt, ap);
}

static void tiff_decode(const char *path, const unsigned char *buf, size_t len, int *pc, int *ph,
                        int *pw, tensor **out, int64_t maxpix)
{
    static pthread_once_t loaded = PTHREAD_ONCE_INIT;
    pthread_once(&loaded, tiff_load);
    tiff.SetErrorHandler(tiff_error);
    tiff.SetWarningHandler(NULL);
    tiff_msg[0] = '\0';
    struct mem m = { buf, len, 0 };
    TIFF *tf = tiff.ClientOpen(path, "rm", &m, mem_read, mem_write, mem_seek, mem_close, mem_size,
                              NULL, NULL);
    if (!tf)
        die("%s: corrupt TIFF (%s)", path, tiff_msg[0] ? tiff_msg : "cannot open");
    uint32_t w = 0, h = 0;
    uint16_t spp = 1, photo = PHOTOMETRIC_RGB, extra = 0, *einfo = NULL;
    tiff.GetField(tf, TIFFTAG_IMAGEWIDTH, &w);
    tiff.GetField(tf, TIFFTAG_IMAGELENGTH, &h);
    tiff.GetFieldDefaulted(tf, TIFFTAG_SAMPLESPERPIXEL, &spp);
    tiff.GetFieldDefaulted(tf, TIFFTAG_EXTRASAMPLES, &extra, &einfo);
    tiff.GetFieldDefaulted(tf, TIFFTAG_PHOTOMETRIC, &photo);
    imagefmt_check_size(path, w, h, maxpix);
    int c = (photo == PHOTOMETRIC_MINISBLACK || photo == PHOTOMETRIC_MINISWHITE) &&
                    spp - extra <= 1 ? 1 : 3;
    *pc = c;
    *ph = (int)h;
    *pw = (int)w;
    if (out) {
        uint32_t *px = xmalloc((size_t)w * h * sizeof *px);
        if (!tiff.ReadRGBAImageOriented(tf, w, h, px, ORIENTATION_TOPLEFT, 1)) {
            free(px);
            tiff.Close(tf);
            die("%s: corrupt TIFF (%s)", path, tiff_msg[0] ? tiff_msg : "cannot read the pixels");
        }
        /* ABGR words: R in the low byte, as the bytes R, G, B, A. */
        tensor *t = tensor_new(3, (int64_t[]){ c, h, w });
        size_t plane = (size_t)w * h;
        for (size_t i = 0; i < plane; i++)
            for (int j = 0; j < c; j++)
                t->data[(size_t)j * plane + i] = (float)((px[i] >> (8 * j)) & 0xff) / 255.0f;
        free(px);
        *out = t;
    }
    tiff.Close(tf);
}

/* ---- WebP (libwebp) ------------------------------------------------------- */

static void webp_decode(const char *path, const unsigned char *buf, size_t len, int *pc, int *ph,
                        int *pw, tensor **out, int64_t maxpix)
{
    int w, h;
    if (!WebPGetInfo(buf, len, &w, &h))
        die("%s: corrupt WebP (bad header)", path);
    imagefmt_check_size(path, w, h, maxpix);
    *pc = 3;
    *ph = h;
    *pw = w;
    if (!out)
        return;
    unsigned char *px = WebPDecodeRGB(buf, len, &w, &h);
    if (!px)
        die("%s: corrupt WebP (cannot decode the pixels)", path);
    *out = planar_u8(px, 3, 3, h, w);
    WebPFree(px);
}

int imagefmt_sniff(const unsigned char *b, size_t n)
{
    if (n >= 14 && b[0] == 'B' && b[1] == 'M')
        return IMAGEIO_BMP;
    if (n >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6)))
        return IMAGEIO_GIF;
    if (n >= 3 && b[0] == 'P' && (b[1] == '5' || b[1] == '6') &&
        (b[2] == ' ' || b[2] == '\n' || b[2] == '\r' || b[2] == '\t'))
        return IMAGEIO_PNM;
    if (n >= 4 && !memcmp(b, "8BPS", 4))
        return IMAGEIO_PSD;
    if (n >= 6 && (!memcmp(b, "#?RADIANCE", n < 10 ? n : 10) || !memcmp(b, "#?RGBE", 6)))
        return IMAGEIO_HDR;
    if (n >= 4 && (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4)))
        return IMAGEIO_TIFF;
    if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4))
        return IMAGEIO_WEBP;
    return IMAGEIO_NONE;
}

void imagefmt_decode(int fmt, const char *path, const unsigned char *buf, size_t len, int *c,
                     int *h, int *w, tensor **out, int64_t maxpix)
{
    if (fmt == IMAGEIO_TIFF)
        tiff_decode(path, buf, len, c, h, w, out, maxpix);
    else if (fmt == IMAGEIO_WEBP)
        webp_decode(path, buf, len, c, h, w, out, maxpix);
    else
        stb_decode(fmt, path, buf, len, c, h, w, out, maxpix);
}

void imagefmt_check_size(const char *path, int64_t w, int64_t h, int64_t max)
{
    if (w <= 0 || h <= 0)
        die("%s: image header gives an empty size %lldx%lld", path, (long long)w, (long long)h);
    if (w > max / h)
        die("%s: image of %lldx%lld pixels exceeds the limit of %lld pixels (--max-pixels)",
            path, (long long)w, (long long)h, (long long)max);
}

/* ---- EXIF orientation ------------------------------------------------------ */

static unsigned rd16(const unsigned char *p, int be)
{
    return be ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0];
}

static uint32_t rd32(const unsigned char *p, int be)
{
    return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
              : le32(p);
}

/* Tag 0x0112 of IFD0 in a TIFF-structured block (the APP1 payload after
 * "Exif\0\0"); 1 when absent or out of range. */
static int tiff_orientation(const unsigned char *t, size_t n)
{
    if (n < 8 || (memcmp(t, "II", 2) && memcmp(t, "MM", 2)))
        return 1;
    int be = t[0] == 'M';
    uint32_t ifd = rd32(t + 4, be);
    if (ifd > n - 2 || n < 2)
        return 1;
    unsigned cnt = rd16(t + ifd, be);
    for (unsigned i = 0; i < cnt; i++) {
        size_t e = (size_t)ifd + 2 + 12 * (size_t)i;
        if (e + 12 > n)
            return 1;
        if (rd16(t + e, be) == 0x0112 && rd16(t + e + 2, be) == 3) {
            unsigned v = rd16(t + e + 8, be);
            return v >= 1 && v <= 8 ? (int)v : 1;
        }
    }
    return 1;
}

int imagefmt_jpeg_orientation(const unsigned char *b, size_t n)
{
    size_t i = 2;
    /* Markers up to the first scan: each is FF xx with a 2-byte length. */
    while (i + 4 <= n && b[i] == 0xff) {
        unsigned mk = b[i + 1];
        if (mk == 0xda || mk == 0xd9)
            break;
        if (mk == 0xff || (mk >= 0xd0 && mk <= 0xd7) || mk == 0x01) {
            i++;
            continue;
        }
        size_t len = (size_t)b[i + 2] << 8 | b[i + 3];
        if (len < 2 || i + 2 + len > n)
            break;
        if (mk == 0xe1 && len >= 8 && !memcmp(b + i + 4, "Exif\0\0", 6))
            return tiff_orientation(b + i + 10, len - 8);
        i += 2 + len;
    }
    return 1;
}

tensor *imagefmt_orient(const tensor *img, int o)
{
    int64_t c = img->dims[0], h = img->dims[1], w = img->dims[2];
    int swap = o >= 5;
    int64_t oh = swap ? w : h, ow = swap ? h : w;
    tensor *t = tensor_new(3, (int64_t[]){ c, oh, ow });
    for (int64_t k = 0; k < c; k++) {
        const float *src = img->data + k * h * w;
        float *dst = t->data + k * oh * ow;
        for (int64_t y = 0; y < oh; y++)
            for (int64_t x = 0; x < ow; x++) {
                int64_t sy, sx;   /* the source pixel of output (y, x) */
                switch (o) {
                case 2: sy = y, sx = w - 1 - x; break;
                case 3: sy = h - 1 - y, sx = w - 1 - x; break;
                case 4: sy = h - 1 - y, sx = x; break;
                case 5: sy = x, sx = y; break;
                case 6: sy = h - 1 - x, sx = y; break;
                case 7: sy = h - 1 - x, sx = w - 1 - y; break;
                case 8: sy = x, sx = w - 1 - y; break;
                default: sy = y, sx = x;
                }
                dst[y * ow + x] = src[sy * w + sx];
            }
    }
    return t;
}
