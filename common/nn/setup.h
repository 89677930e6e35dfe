/* setup: what every tool that runs a model over an images file does first,
 * in one place so that all of them check and word it alike: the model and
 * its thread count, the images file checked against the model's input
 * (one message with a hint), and the rows of --range. */
#ifndef CNN_SETUP_H
#define CNN_SETUP_H

#include <stdint.h>

#include "base/cli.h"
#include "io/h5io.h"
#include "io/imageio.h"
#include "nn/model.h"

/* The images argument of "TOOL -m MODEL [options] [IMAGES]" after getopt:
 * NULL (standard input) or the first operand (several only when all are
 * image files or folders, which setup_images reads as one); usage errors
 * for a missing -m ("no model: give -m MODEL.h5") or several files. */
const char *setup_args(const char *model_file, int argc, char **argv, int optind);
/* The images operand(s) opened as one images file: an images file as it
 * is, image files and folders (all the operands setup_args saw when
 * images is the first) read as cnn-images reads them with co's photo
 * options, sized and coloured for the model m by default (io/imageset.h).
 * m NULL: no default size or channels (as cnn-images). */
h5in *setup_open_images(const char *images, const model *m, const struct cli_common *co);
/* The first half alone, for tools whose images come in options. */
void setup_need_model(const char *model_file);

/* model_load, and the engine's threads (--threads; 0 leaves the default). */
model *setup_model(const char *model_file, const struct cli_common *co);

/* Dies unless in's /images is N x C x H x W with the model's C, H, W:
 * "IN: images are 1x20x20 (C x H x W) but MODEL wants 1x28x28; resize with
 * cnn-images --size" (or --rgb / --gray when the channels differ). Returns
 * N. */
int64_t setup_check_images(h5in *in, const model *m, const char *model_file);

/* The images (NULL = standard input; image files read by
 * setup_open_images) opened, of kind images and
 * checked against the model; *a, *b get the rows of co's --range
 * (dies when it lies outside). */
h5in *setup_images(const char *images, const model *m, const char *model_file,
                   const struct cli_common *co, int64_t *a, int64_t *b);



/* One image for the model (1 x C x H x W): a photo (PNG, JPEG, BMP; read
 * with the model's channels and resized to its H x W), or row `row` of an
 * images file checked by setup_check_images. what names it in errors
 * ("content", "--start"). *id gets the row's /ids value (the row when
 * there are none; 0 for a photo). When src is not NULL the images file is
 * left open there (NULL for a photo); else it is closed. */
tensor *setup_one_image(const char *path, int64_t row, const model *m, const char *model_file,
                        const char *what, int64_t *id, h5in **src);
#endif
