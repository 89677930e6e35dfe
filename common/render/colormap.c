/* colormap: colour map tables (see colormap.h). */
#include "render/colormap.h"
#include "base/alloc.h"
#include "base/numeric.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct { double t, r, g, b; } stop;

static const stop jet[] = {
    {0.0, 0.0, 0.0, 0.5}, {0.125, 0.0, 0.0, 1.0}, {0.375, 0.0, 1.0, 1.0},
    {0.625, 1.0, 1.0, 0.0}, {0.875, 1.0, 0.0, 0.0}, {1.0, 0.5, 0.0, 0.0},
};
static const stop gray[] = { {0.0, 0, 0, 0}, {1.0, 1, 1, 1} };

#define NMAPS 5
static float tables[NMAPS][256][3];
static int tables_ready;

static void from_stops(float (*tab)[3], const stop *s, int n)
{
    for (int i = 0; i < 256; i++) {
        double t = i / 255.0;
        int j = 0;
        while (j < n - 2 && t > s[j + 1].t)
            j++;
        double u = (t - s[j].t) / (s[j + 1].t - s[j].t);
        u = u < 0 ? 0 : u > 1 ? 1 : u;
        tab[i][0] = (float)(s[j].r + u * (s[j + 1].r - s[j].r));
        tab[i][1] = (float)(s[j].g + u * (s[j + 1].g - s[j].g));
        tab[i][2] = (float)(s[j].b + u * (s[j + 1].b - s[j].b));
    }
}

static void from_hex(float (*tab)[3], const uint32_t *hex)
{
    for (int i = 0; i < 256; i++) {
        tab[i][0] = (float)((hex[i] >> 16) & 255) / 255.0f;
        tab[i][1] = (float)((hex[i] >> 8) & 255) / 255.0f;
        tab[i][2] = (float)(hex[i] & 255) / 255.0f;
    }
}

static void tables_init(void)
{
    if (tables_ready)
        return;
    from_stops(tables[DRAW_CMAP_GRAY], gray, 2);
    from_hex(tables[DRAW_CMAP_VIRIDIS], cmap_viridis);
    from_hex(tables[DRAW_CMAP_DIVERGING], cmap_rdbu);
    from_stops(tables[DRAW_CMAP_JET], jet, (int)(sizeof jet / sizeof *jet));
    from_hex(tables[DRAW_CMAP_INFERNO], cmap_inferno);
    tables_ready = 1;
}

int draw_cmap_parse(const char *s)
{
    static const char *names[NMAPS] = { "gray", "viridis", "diverging", "jet", "inferno" };
    for (int i = 0; i < NMAPS; i++)
        if (!strcmp(s, names[i]))
            return i;
    if (!strcmp(s, "grey"))
        return DRAW_CMAP_GRAY;
    if (!strcmp(s, "rdbu"))
        return DRAW_CMAP_DIVERGING;
    return -1;
}

int cmap_index(double t)
{
    if (!(t >= 0))   /* NaN too */
        return 0;
    if (t >= 1)
        return 255;
    return (int)(t * 255.0 + 0.5);
}

const float *cmap_entry(draw_cmap m, int i)
{
    tables_init();
    return tables[m][i];
}

void draw_cmap_rgb(draw_cmap m, double t, double rgb[3])
{
    const float *c = cmap_entry(m, cmap_index(t));
    rgb[0] = c[0];
    rgb[1] = c[1];
    rgb[2] = c[2];
}

void cmap_range(const float *v, int64_t n, int sign, double clip, double *lo, double *hi)
{
    double *tmp = clip > 0 ? xmalloc((size_t)(n > 0 ? n : 1) * sizeof *tmp) : NULL;
    double mx = 0, a, b;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i])) {
            mx = fmax(mx, fabs(v[i]));
            if (tmp)
                tmp[k++] = fabs(v[i]);
        }
    double c = tmp && k ? num_percentile(tmp, k, 100.0 - clip) : mx;
    free(tmp);
    num_minmax(v, n, &a, &b);
    *lo = sign ? -c : a;
    *hi = sign ? c : clip > 0 ? c : b;
    if (*hi <= *lo)
        *hi = *lo + 1;
}
