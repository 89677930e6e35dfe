/* render: the commands of cnn-render (grid, filters, scatter, heatmap,
 * bars, activations, curves) over the files the other tools write. The tool parses
 * its options into a render_opts and calls one render_* function, which
 * reads the input, draws and writes the PNG(s): to o->co.output (NULL or
 * "-" = standard output), one per row in o->each, or (activations) one per
 * row through an -o pattern with %d. cnn-render(1) documents every option;
 * each room's header says how its picture is laid out. */
#ifndef CNN_RENDER_H
#define CNN_RENDER_H

#include "base/cli.h"

/* --caption: the text under each tile. */
enum { CAP_AUTO, CAP_NONE, CAP_LABEL, CAP_ID, CAP_SCORE, CAP_PATH, CAP_TARGET, CAP_UNIT };
#define CAP_MAX 4           /* fields in one --caption list */
/* --normalize: one value range per tile, over all tiles, or the data's
 * own ([0,1], or [-1,1] signed); NORM_DEFAULT lets the command choose. */
enum { NORM_DEFAULT = -1, NORM_NONE, NORM_TILE, NORM_GLOBAL };
/* --sign: signed (a range symmetric around 0, diverging map), unsigned
 * (sequential map) or SIGN_AUTO: signed when the drawn data go below 0. */
enum { SIGN_AUTO = -1, SIGN_UNSIGNED, SIGN_SIGNED };

typedef struct render_opts {
    struct cli_common co;
    const char *cmd, *input, *images, *each, *dset, *title, *format;
    const char *classes;    /* --classes: class names from elsewhere, or NULL */
    char **image_list;      /* every --images (photo files and folders, or one
                             * images file); images = image_list[0] */
    int nimage_list;
    char **inputs;          /* heatmap, curves: every FILE (a column each); input = inputs[0] */
    int ninputs;
    int cols, scale, pad, caption, normalize, sign, cmap, filter, numbers, topk;
    int captions[CAP_MAX], ncaptions;   /* --caption's list; caption = its first */
    double clip;            /* --clip P: |values| clipped at their (100-P)th percentile; 0 none */
    int change, attr, list; /* heatmap --change, --attr; heatmap and curves --list */
    int row_label;          /* grid --row-label: a CAP_* field left of each row; CAP_NONE none */
    char **titles;          /* heatmap --titles, one per FILE; grid: one per column; or NULL */
    int ntitles;
    int dimx, dimy, width, height;
    double radius, alpha, vmin, vmax;
    int has_vmin, has_vmax;
    const char *layer, *projection, *patches, *label;   /* activations */
    int unit, highlight, pad_set;
} render_opts;

/* grid (filters = 0): an images file as tiles; filters (1): kernels. */
void render_grid(render_opts *o, int filters);
/* scatter: two columns of a features or pca file. */
void render_scatter(const render_opts *o);
/* heatmap: the maps of a maps file over their images. */
void render_heatmap(const render_opts *o);
/* bars: each image beside its top-k classes. */
void render_bars(const render_opts *o);
/* activations: the Deep Visualization Toolbox view of each row. */
void render_activations(const render_opts *o);
/* curves: cnn-evaluate's deletion/insertion curves or sanity similarities,
 * one panel per FILE (curves.c). */
void render_curves(const render_opts *o);

#endif
