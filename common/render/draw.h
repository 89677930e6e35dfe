/* draw: plots for cnn-render on top of cairo (anti-aliased shapes, real
 * fonts through fontconfig, a PNG writer). A canvas is an ARGB32 surface
 * whose row 0 is the top of the picture, as in the images file (H axis
 * downwards), so tensors are drawn without flips or transposes.
 * Every failure dies with one line (die()). */
#ifndef CNN_DRAW_H
#define CNN_DRAW_H

#include "render/colormap.h"

#include <stdint.h>

typedef struct draw_canvas draw_canvas;

/* A w x h canvas filled white. */
draw_canvas *draw_new(int w, int h);
void draw_free(draw_canvas *cv);
int draw_width(const draw_canvas *cv);
int draw_height(const draw_canvas *cv);
/* Write PNG: path NULL or "-" = standard output; otherwise to a temporary
 * name in the same folder, renamed when complete (no partial file). RGB,
 * or RGBA when a pixel is transparent. A tEXt chunk "history" records the
 * history of every HDF5 file the process read (h5io_inputs_history) and
 * this command's line (cli_history_line). */
void draw_write_png(draw_canvas *cv, const char *path);

/* The tab10 palette (matplotlib's categorical colours), index mod 10. */
void draw_class_rgb(int k, double rgb[3]);

typedef enum { DRAW_NEAREST, DRAW_BILINEAR } draw_filter;

/* Draw a C x H x W float image (C = 1 gray, 3 RGB; others: first channel)
 * into the rectangle (x, y, dw, dh). Values map lo -> 0, hi -> 1 and are
 * clipped. One channel goes through cmap (gray draws plain gray). */
void draw_image(draw_canvas *cv, const float *px, int c, int h, int w,
                double x, double y, double dw, double dh, draw_filter f,
                float lo, float hi, draw_cmap cmap);
/* A map (H' x W') over the rectangle, upsampled bilinearly (or nearest),
 * coloured by cmap over [lo, hi], blended with alpha. When fmt is not NULL
 * each cell's value (times scale) is printed with printf format fmt in its
 * centre, in black or white whichever reads better on the cell. */
void draw_map(draw_canvas *cv, const float *map, int h, int w,
              double x, double y, double dw, double dh, draw_filter f,
              float lo, float hi, draw_cmap cmap, double alpha,
              const char *fmt, double scale);

/* Shapes and text. Colours are RGB in [0,1]. */
void draw_rect(draw_canvas *cv, double x, double y, double w, double h,
               const double rgb[3], int fill);
void draw_line(draw_canvas *cv, double x0, double y0, double x1, double y1,
               double width, const double rgb[3]);
typedef enum { DRAW_LEFT, DRAW_CENTER, DRAW_RIGHT } draw_align;
/* Text with its baseline at y (DejaVu Sans). bold: 0/1. vertical: rotated
 * 90 degrees counter-clockwise (y axis titles), centred on (x, y). */
void draw_text(draw_canvas *cv, double x, double y, double size, draw_align a,
               const double rgb[3], int bold, const char *s);
void draw_text_vertical(draw_canvas *cv, double x, double y, double size,
                        const double rgb[3], const char *s);
double draw_text_width(draw_canvas *cv, double size, int bold, const char *s);
/* Text shortened with "..." to fit in width (malloc'd). */
char *draw_text_fit(draw_canvas *cv, double size, int bold, const char *s, double width);

/* A vertical colour bar in (x, y, w, h): hi at the top, with 5 ticks and
 * their values to its right (label under the numbers when not NULL). */
void draw_colorbar(draw_canvas *cv, double x, double y, double w, double h,
                   draw_cmap cmap, double lo, double hi, const char *label);

/* Tick positions for [lo, hi]: "nice" steps (1, 2, 5 x 10^k); returns the
 * count (<= max) in ticks. */
int draw_ticks(double lo, double hi, int max, double *ticks);

/* A scatter plot in (x, y, w, h) including its axes, ticks, titles and the
 * legend to the right of the plotting area. cls[i] picks the colour
 * (tab10; -1 or NULL: one colour); names[k] label the legend (NULL: "k").
 * nclass = number of legend entries. */
typedef struct draw_scatter_spec {
    const float *px, *py;
    const int32_t *cls;
    int64_t n;
    int nclass;
    char *const *names;
    const char *xlabel, *ylabel, *title;
    double radius;
} draw_scatter_spec;
void draw_scatter(draw_canvas *cv, double x, double y, double w, double h,
                  const draw_scatter_spec *s);

/* Horizontal bar chart in (x, y, w, h): k bars, value in [0,1] with the
 * percentage printed and name on the left; bar hi is drawn in the
 * highlight colour (-1: none). */
void draw_bars(draw_canvas *cv, double x, double y, double w, double h,
               const float *values, char *const *names, int k, int hi,
               const char *title);

#endif
