/* import: what every model importer shares (cnn-import, DESIGN.md floor 4):
 * the user's options (preprocessing, input size, classes, BatchNorm
 * folding), recognising a source file's format by its content, and the
 * finishing steps that turn an imported graph into a checked model.
 *
 * Each format is one loader  model *import_<fmt>(const char *path,
 * const import_opts *o)  that returns an unprepared model with its input
 * shape, nodes and weights in our layout (PyTorch's, see model.h); the tool
 * then calls import_finish. Loaders die() with one line naming the file and
 * what is wrong. */
#ifndef CNN_IMPORT_H
#define CNN_IMPORT_H

#include <stddef.h>

#include "nn/model.h"

typedef struct import_opts {
    const char *classes;      /* --classes: labels file, one per line; NULL = none */
    int has_mean, has_std;    /* --mean / --std given */
    float mean[3], std[3];    /* in [0,1] pixel units */
    double scale;             /* --scale S: the model wants pixels in [0,S]; 0 = not given */
    int width, height;        /* --size; 0 = from the file */
    int fold_bn;              /* --fold-bn: fold BatchNorm into the preceding conv/dense */
} import_opts;

void import_opts_init(import_opts *o);

/* Formats cnn-import recognises by content. */
typedef enum {
    IMPORT_UNKNOWN = 0,
    IMPORT_TFJS,              /* TF.js layers model.json (+ weight shards) */
    IMPORT_KERAS_H5,          /* Keras HDF5 with a model_config attribute */
    IMPORT_ONNX               /* ONNX ModelProto */
} import_format;

/* Look at a file's first bytes (a folder means its model.json). Sets *why to
 * a static hint when the format is unknown (e.g. "a Keras architecture
 * without weights"). Never dies except when the file cannot be read. */
import_format import_sniff(const char *path, const char **why);
const char *import_format_name(import_format f);

/* Apply options to an imported model: preprocessing (--mean/--std/--scale
 * override what the loader found), class names (--classes; else a
 * labels.txt beside the source whose line count matches the outputs),
 * then model_prepare, dying with the reason and the source's name. */
void import_finish(model *m, const import_opts *o, const char *src);

#endif
