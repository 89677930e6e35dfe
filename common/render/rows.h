/* rows: what a cnntools file says about its rows, for the render commands:
 * the rows --range selects, /ids, /labels, /classes and /scores, the
 * captions made from them, /images as N x C x H x W, a second file with
 * the same rows (same /ids where both have them), and where each picture
 * goes (-o, --each DIR, an -o pattern with %d). */
#ifndef CNN_RENDER_ROWS_H
#define CNN_RENDER_ROWS_H

#include "render/draw.h"
#include "render/render.h"
#include "io/h5io.h"
#include "base/tensor.h"

#include <stddef.h>
#include <stdint.h>

typedef struct row_meta {
    int64_t n;              /* rows selected */
    int64_t a;              /* first row */
    int64_t *ids;           /* n, or NULL */
    int32_t *labels;        /* n, or NULL */
    char **classes;
    int nclasses;
    float *scores;          /* n, or NULL (a 2-D /scores: its first column) */
    int32_t *target;        /* n: /target, the class or channel measured, or NULL */
    char *target_layer;     /* the layer when /target holds its channels, or NULL */
    char **paths;           /* /paths of the whole file (npaths >= a + n), or NULL */
    int64_t *unit;          /* n: /unit, the unit each row ranks (cnn-topk), or NULL */
    int npaths;
} row_meta;

/* Rows [a, b) of the input's metadata; the class names of --classes when
 * given (an HDF5 file's /classes, e.g. the model's, or a list of names). */
void rows_meta_read(const render_opts *o, h5in *in, int64_t a, int64_t b, row_meta *m);
/* /paths from f (the images file of the rows) when m has none yet. */
void rows_meta_paths(row_meta *m, h5in *f);
void rows_meta_free(row_meta *m);
/* Class k's name from /classes, else its number (in buf). */
const char *rows_class_name(const row_meta *m, int32_t k, char *buf, size_t n);
/* Caption for row i (relative to the selection) under mode CAP_* (malloc'd,
 * or NULL): "cat" (label), "12" (id), "cat (0.97)" (score), "cat.jpg"
 * (path: /paths without its folders), "tabby" or "conv5:245" (target: the
 * class named by /target and /classes, or the layer's channel), "unit 35"
 * (unit: /unit, the unit of cnn-topk whose top rows these are). */
char *rows_caption(const row_meta *m, int mode, int64_t i);
/* The captions of several modes joined by ", " (those without data left
 * out); NULL when none has data. */
char *rows_caption_list(const row_meta *m, const int *fields, int nf, int64_t i);
/* The id of row i: /ids, else its row number. */
int64_t rows_id(const row_meta *m, int64_t i);
/* Rows [a, b) of n after --range (dies when empty). */
void rows_select(const render_opts *o, int64_t n, int64_t *a, int64_t *b);
/* /images rows [a, b) as N x C x H x W (a 3-D dataset is N x H x W gray). */
tensor *rows_images(h5in *in, int64_t a, int64_t b);
/* A second file whose dataset dset has the input's rows [a, b): enough
 * rows, and the same /ids where both files have them. */
h5in *rows_companion(const render_opts *o, const char *path, const char *dset, h5in *in,
                     const row_meta *m, int64_t a, int64_t b);
/* Images for rows [a, b): FILE's own /images, or --images (a companion,
 * whose /paths m takes when it has none); NULL when there are none. */
tensor *rows_images_for(const render_opts *o, h5in *in, row_meta *m, int64_t a, int64_t b);

/* --each DIR must be an existing folder. */
void rows_check_each_dir(const char *dir);
/* DIR/ID.png (%06lld) for row i (malloc'd). */
char *rows_each_path(const render_opts *o, const row_meta *m, int64_t i);
/* Write cv: to --each's file of row i when --each is set, else to -o. */
void rows_emit(const render_opts *o, const row_meta *m, int64_t i, draw_canvas *cv);
/* -o as a pattern: one integer conversion (%d, %5d, %05d; %% for a '%')
 * turned into a format of one long long. NULL when there is none. */
char *rows_out_pattern(const char *s);

#endif
