/* actview: the Deep Visualization Toolbox view of one image (Yosinski et
 * al. 2015) for cnn-render activations: the input image, every feature map
 * of one layer as a grid of tiles, and optionally one unit's column (its
 * map over the image, its backprop/deconvnet projection for this image and
 * its top dataset patches). Drawing only; the tool reads the files.
 *
 * Layout (pixels, all integers; tests rely on it):
 *   title bar of ACTVIEW_TITLE_H at the top, under an outer margin of
 *   ACTVIEW_MARGIN; below it the input image at (ACTVIEW_MARGIN,
 *   ACTVIEW_MARGIN + ACTVIEW_TITLE_H) drawn at its own size when its
 *   longer side is at most ACTVIEW_IMG_MAX (else shrunk to that), and the
 *   grid to its right at x = ACTVIEW_MARGIN + image width + ACTVIEW_GAP.
 *   Tile k (channel k) lies at column k % cols, row k / cols, each
 *   w*scale x h*scale with tile_gap pixels between tiles. The unit panel,
 *   when drawn, is a strip under the image and grid.
 *
 * Normalisation of a tile (documented in cnn-render(1)): values map
 * linearly from [lo, hi] to [0, 1] and are clipped; pixel = colour map
 * entry round(255 t) (gray: that value in R, G and B). [lo, hi] is
 *   ACTVIEW_NORM_GLOBAL  min and max over all the layer's maps of the image
 *   ACTVIEW_NORM_TILE    min and max of the channel's own map
 *   ACTVIEW_NORM_FIXED   the given vmin, vmax (the same for every frame)
 * and a constant range (hi <= lo) becomes [lo, lo + 1]. */
#ifndef CNN_ACTVIEW_H
#define CNN_ACTVIEW_H

#include "render/draw.h"

#define ACTVIEW_MARGIN 8
#define ACTVIEW_TITLE_H 24
#define ACTVIEW_GAP 12
#define ACTVIEW_IMG_MAX 320

enum { ACTVIEW_NORM_GLOBAL, ACTVIEW_NORM_TILE, ACTVIEW_NORM_FIXED };

typedef struct actview_opts {
    int normalize;          /* ACTVIEW_NORM_* */
    float vmin, vmax;       /* for ACTVIEW_NORM_FIXED */
    draw_cmap cmap;
    int scale;              /* pixels per map pixel; 0 = automatic */
    int cols;               /* tiles per row; 0 = automatic */
    int tile_gap;           /* pixels between tiles (>= 2 for outlines) */
    int highlight;          /* outline the strongest channel in red */
    int unit;               /* the unit column's channel, -1 = none */
} actview_opts;

typedef struct actview_frame {
    const char *layer;      /* layer name */
    const float *act;       /* c x h x w maps */
    int c, h, w;
    const float *img;       /* ic x ih x iw in [0,1], or NULL */
    int ic, ih, iw;
    const char *label;      /* "image 12" (title) */
    const char *top1;       /* "tabby 53%" or NULL */
    /* The unit column (opts.unit >= 0): */
    const float *proj;      /* pc x ph x pw projection (raw), or NULL */
    int pc, ph, pw;
    const char *proj_name;  /* "guided backprop", "deconvnet" */
    const float *patches;   /* npatch x kc x kh x kw in [0,1], or NULL */
    int npatch, kc, kh, kw;
} actview_frame;

/* Scale and columns after the automatic choices. */
void actview_layout(const actview_frame *f, const actview_opts *o, int *scale, int *cols);
/* [lo, hi] of channel ch under the normalisation (see above). */
void actview_range(const actview_frame *f, const actview_opts *o, int ch, float *lo, float *hi);
/* The channel whose map has the largest value (lowest index on ties). */
int actview_strongest(const float *act, int c, int h, int w);
/* Draw the whole view on a new canvas (free with draw_free). */
draw_canvas *actview_draw(const actview_frame *f, const actview_opts *o);

#endif
