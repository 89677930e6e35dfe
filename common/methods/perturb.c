/* perturb: image edits for the parts / shape / texture experiments (see
 * perturb.h). */
#include "methods/perturb.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void perturb_shuffle(const float *in, float *out, int64_t C, int64_t H, int64_t W, int rows,
                     int cols, rng *r, int32_t *perm)
{
    int n = rows * cols;
    for (int k = 0; k < n; k++)
        perm[k] = k;
    for (int k = n - 1; k > 0; k--) {   /* Fisher-Yates */
        int j = (int)rng_below(r, (uint64_t)k + 1);
        int32_t t = perm[k];
        perm[k] = perm[j];
        perm[j] = t;
    }
    int64_t th = H / rows, tw = W / cols;
    for (int k = 0; k < n; k++) {
        int64_t dy = (k / cols) * th, dx = (k % cols) * tw;
        int64_t sy = (perm[k] / cols) * th, sx = (perm[k] % cols) * tw;
        for (int64_t c = 0; c < C; c++)
            for (int64_t y = 0; y < th; y++)
                memcpy(out + (c * H + dy + y) * W + dx, in + (c * H + sy + y) * W + sx,
                       (size_t)tw * sizeof(float));
    }
}

void perturb_silhouette(const float *in, const float *mask, float *out, int64_t C, int64_t H,
                        int64_t W, double threshold, int invert)
{
    int64_t HW = H * W;
    for (int64_t p = 0; p < HW; p++) {
        int obj;
        if (mask)
            obj = mask[p] >= 0.5f;
        else {
            double s = 0;
            for (int64_t c = 0; c < C; c++)
                s += in[c * HW + p];
            obj = s / (double)C < threshold;
        }
        if (invert)
            obj = !obj;
        for (int64_t c = 0; c < C; c++)
            out[c * HW + p] = obj ? 0.0f : 1.0f;
    }
}

int perturb_fill_parse(const char *s, float *value)
{
    if (!strcmp(s, "gray") || !strcmp(s, "grey"))
        return PERTURB_FILL_GRAY;
    if (!strcmp(s, "zero"))
        return PERTURB_FILL_ZERO;
    if (!strcmp(s, "mean"))
        return PERTURB_FILL_MEAN;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v))
        return -1;
    *value = (float)v;
    return PERTURB_FILL_VALUE;
}

void perturb_box(const float *in, float *out, int64_t C, int64_t H, int64_t W, int64_t bx,
                 int64_t by, int64_t bw, int64_t bh, int fill, float value)
{
    int64_t HW = H * W;
    if (out != in)
        memcpy(out, in, (size_t)(C * HW) * sizeof(float));
    for (int64_t c = 0; c < C; c++) {
        float v = fill == PERTURB_FILL_GRAY ? 0.5f : fill == PERTURB_FILL_ZERO ? 0.0f : value;
        if (fill == PERTURB_FILL_MEAN) {
            /* The clean image's mean, so every occluder of a grid sees the
             * same fill. */
            double s = 0;
            for (int64_t p = 0; p < HW; p++)
                s += in[c * HW + p];
            v = (float)(s / (double)HW);
        }
        for (int64_t y = by; y < by + bh; y++)
            for (int64_t x = bx; x < bx + bw; x++)
                out[c * HW + y * W + x] = v;
    }
}
