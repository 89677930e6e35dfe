/* patches: top-k selection, receptive-field crops and deconvnet projections
 * for cnn-patches (see patches.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "methods/patches.h"

void patches_top_init(patches_top *pt, int nch, const int *channels, int k)
{
    pt->nch = nch;
    pt->k = k;
    pt->channels = channels;
    pt->hits = xcalloc((size_t)nch * (size_t)k, sizeof *pt->hits);
    pt->count = xcalloc((size_t)nch, sizeof *pt->count);
}

void patches_top_free(patches_top *pt)
{
    free(pt->hits);
    free(pt->count);
    memset(pt, 0, sizeof *pt);
}

/* Insert h into a best-first list of at most k; strict comparison keeps
 * the earlier row ahead on ties, as rows arrive in order. */
static void insert(patch_hit *list, int *count, int k, patch_hit h)
{
    if (*count == k && !(h.score > list[k - 1].score))
        return;
    int pos = *count < k ? (*count)++ : k - 1;
    while (pos > 0 && list[pos - 1].score < h.score) {
        list[pos] = list[pos - 1];
        pos--;
    }
    list[pos] = h;
}

void patches_top_update(patches_top *pt, const tensor *act, int64_t row0)
{
    int64_t n = act->dims[0], C = act->dims[1], h = act->dims[2], w = act->dims[3], hw = h * w;
    for (int u = 0; u < pt->nch; u++) {
        int64_t c = pt->channels[u];
        for (int64_t i = 0; i < n; i++) {
            const float *map = act->data + (i * C + c) * hw;
            int64_t b = 0;
            for (int64_t p = 1; p < hw; p++)
                if (map[p] > map[b])
                    b = p;
            patch_hit hit = { map[b], row0 + i, b / w, b % w };
            insert(pt->hits + (int64_t)u * pt->k, &pt->count[u], pt->k, hit);
        }
    }
}

void patches_window(const rfield *rf, int64_t y, int64_t x, int64_t box[4])
{
    rfield_box(rf, y, x, 0, 0, 0, box);
}

void patches_crop(const float *img, int64_t C, int64_t H, int64_t W, const int64_t box[4],
                  float fill, float *tile)
{
    int64_t bh = box[2] - box[0], bw = box[3] - box[1];
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < bh; y++)
            for (int64_t x = 0; x < bw; x++) {
                int64_t sy = box[0] + y, sx = box[1] + x;
                tile[(c * bh + y) * bw + x] = sy >= 0 && sy < H && sx >= 0 && sx < W
                                                  ? img[(c * H + sy) * W + sx]
                                                  : fill;
            }
}

const tensor *patches_project(engine *e, int layer, const tensor *x, const patch_hit *hits,
                              const int *ch)
{
    engine_forward_upto(e, x, layer);
    const tensor *a = engine_act(e, layer);
    tensor *seed = tensor_new(a->ndim, a->dims);
    int64_t C = a->dims[1], h = a->dims[2], w = a->dims[3];
    /* The seed is the activation itself at its position, zero elsewhere,
     * so the projection scales with how strongly the unit fired. */
    for (int64_t i = 0; i < a->dims[0]; i++) {
        int64_t o = ((i * C + ch[i]) * h + hits[i].y) * w + hits[i].x;
        seed->data[o] = a->data[o];
    }
    engine_backward(e, layer, seed, RULE_DECONVNET, 0);
    tensor_free(seed);
    return engine_input_grad(e);
}

static const char *const norm_names[] = { "absmax", "minmax", "none" };

int patches_norm_parse(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, norm_names[i]))
            return i;
    return -1;
}

const char *patches_norm_name(patches_norm n) { return norm_names[n]; }

void patches_normalize(float *v, int64_t len, patches_norm how)
{
    if (how == PATCHES_NORM_NONE || len < 1)
        return;
    double lo = v[0], hi = v[0], mx = 0;
    for (int64_t j = 0; j < len; j++) {
        lo = v[j] < lo ? v[j] : lo;
        hi = v[j] > hi ? v[j] : hi;
        mx = fabs(v[j]) > mx ? fabs(v[j]) : mx;
    }
    for (int64_t j = 0; j < len; j++)
        if (how == PATCHES_NORM_ABSMAX)
            v[j] = mx > 0 ? (float)(0.5 + 0.5 * v[j] / mx) : 0.5f;
        else
            v[j] = hi > lo ? (float)((v[j] - lo) / (hi - lo)) : 0.5f;
}
