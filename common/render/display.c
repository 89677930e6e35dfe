#include "render/display.h"
#include "base/alloc.h"
#include "base/error.h"
#include "base/tensor.h"
#include "io/imageio.h"
#include "io/outfile.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <webp/encode.h>

char *display_path(const char *png)
{
    size_t n = strlen(png);
    size_t stem = n > 4 && !strcasecmp(png + n - 4, ".png") ? n - 4 : n;
    char *s = xmalloc(stem + 14);
    memcpy(s, png, stem);
    strcpy(s + stem, ".display.webp");
    return s;
}

static long long bytes_of(const char *path)
{
    struct stat st;
    return stat(path, &st) ? -1 : (long long)st.st_size;
}

/* The PNG as interleaved 8-bit RGB, downscaled (box filter) to max_width
 * when wider; *w and *h get its size. */
static uint8_t *display_pixels(const char *file, int max_width, int *w, int *h)
{
    tensor *img = imageio_read(file, 3);
    *h = (int)img->dims[1];
    *w = (int)img->dims[2];
    if (*w > max_width) {
        int nh = (int)((int64_t)*h * max_width / *w);
        tensor *small = imageio_resize(img, nh > 0 ? nh : 1, max_width, IMAGEIO_AREA);
        tensor_free(img);
        img = small;
        *h = (int)img->dims[1];
        *w = (int)img->dims[2];
    }
    size_t plane = (size_t)*h * (size_t)*w;
    uint8_t *rgb = xmalloc(plane * 3);
    for (size_t i = 0; i < plane; i++)
        for (int k = 0; k < 3; k++) {
            float v = img->data[(size_t)k * plane + i] * 255.0f + 0.5f;
            rgb[i * 3 + (size_t)k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    tensor_free(img);
    return rgb;
}

char *display_copy(const char *file, const char *rel, const display_opts *o)
{
    char *out = display_path(file);
    long long png = bytes_of(file);
    uint8_t *webp = NULL;
    size_t len = 0;
    if (o->quality > 0 && png > DISPLAY_MIN_BYTES) {
        int w, h;
        uint8_t *rgb = display_pixels(file, o->max_width, &w, &h);
        len = WebPEncodeRGB(rgb, w, h, w * 3, (float)o->quality, &webp);
        free(rgb);
        if (!len)
            die("%s: cannot encode the display copy %s (libwebp failed)", file, out);
    }
    if (!webp || (long long)len * 4 > png * 3) {
        if (unlink(out) && errno != ENOENT)
            die("%s: cannot remove a stale display copy:", out);
        WebPFree(webp);
        free(out);
        return NULL;
    }
    outfile *of = outfile_open(out, NULL);
    outfile_write(of, webp, len);
    outfile_commit(of);
    WebPFree(webp);
    free(out);
    return display_path(rel);
}
