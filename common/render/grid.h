/* grid: cnn-render grid and filters. Tiles of c x h x w values (c = 1 or 3)
 * at scale pixels per value, cols per row, pad pixels around and between
 * them, a caption band of GRID_CAPTION_H pixels under each row when a tile
 * has a caption. A tile's values map from [lo, hi] to [0, 1] (clipped):
 * --normalize tile takes each tile's (or a filter's row's) min and max,
 * global those of all tiles, none [0, 1] ([-1, 1] signed); signed ranges
 * are symmetric around 0. Also the helpers heatmap shares: the automatic
 * scale and columns, and a caption under a tile. */
#ifndef CNN_RENDER_GRID_H
#define CNN_RENDER_GRID_H

#include "render/draw.h"

#include <stdint.h>

#define GRID_CAPTION_H 16

/* Scale so that the longer side of an h x w tile is about target pixels. */
int grid_auto_scale(int h, int w, int target);
/* About square: ceil(sqrt(n)) columns, at most max. */
int grid_auto_cols(int64_t n, int max);
/* Caption centred at cx under a tile whose bottom is at y, in at most w
 * pixels: a smaller font (11 down to 8 points), then shortened with "...". */
void grid_caption(draw_canvas *cv, const char *text, double cx, double y, double w);

#endif
