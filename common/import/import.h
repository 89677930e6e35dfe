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

/* Op and attribute names as the engine's ops read them
 * (docs/model-format.md, common/nn/ops/): the one vocabulary both
 * importers write (import_onnx.c, import_keras.c). */
#define OP_CONV "Conv"
#define OP_DENSE "Dense"
#define OP_RELU "ReLU"
#define OP_LEAKY "LeakyReLU"
#define OP_SIGMOID "Sigmoid"
#define OP_TANH "Tanh"
#define OP_CLIP "Clip"
#define OP_MAXPOOL "MaxPool"
#define OP_AVGPOOL "AvgPool"
#define OP_GAP "GlobalAvgPool"
#define OP_LRN "LRN"
#define OP_BN "BatchNorm"
#define OP_DROPOUT "Dropout"
#define OP_FLATTEN "Flatten"
#define OP_SOFTMAX "Softmax"
#define OP_ADD "Add"
#define OP_CONCAT "Concat"
#define OP_SHUFFLE "ChannelShuffle"
#define OP_CSLICE "ChannelSlice"
#define OP_LAYERNORM "LayerNorm"
#define OP_INSTNORM "InstanceNorm"
#define OP_RESIZE "Resize"
#define OP_DECONV "ConvTranspose"
#define OP_SUB "Sub"
#define OP_MUL "Mul"
#define OP_DIV "Div"
#define OP_MEAN "Mean"
#define OP_MAX "Max"
#define OP_MIN "Min"
#define OP_SELU "Selu"
#define OP_MISH "Mish"
#define OP_HSIG "HardSigmoid"
#define OP_HSWISH "HardSwish"
#define OP_SILU "SiLU"
#define OP_GELU "GELU"
#define OP_ELU "Elu"
#define OP_PRELU "PRelu"
#define OP_SOFTPLUS "Softplus"
#define OP_LOGSOFTMAX "LogSoftmax"
#define OP_GMP "GlobalMaxPool"
#define AT_KERNEL "kernel"        /* kh, kw */
#define AT_STRIDE "stride"        /* sh, sw */
#define AT_PAD "pad"              /* top, left, bottom, right */
#define AT_DILATION "dilation"    /* dh, dw */
#define AT_GROUPS "groups"
#define AT_ALPHA "alpha"          /* LeakyReLU slope; LRN alpha */
#define AT_BETA "beta"            /* LRN */
#define AT_SIZE "size"            /* LRN window (channels) */
#define AT_LRN_K "k"              /* LRN additive constant (ONNX "bias") */
#define AT_MIN "min"              /* Clip */
#define AT_MAX "max"
#define AT_EPS "eps"              /* BatchNorm */
#define AT_RATIO "ratio"          /* Dropout */
#define AT_COUNT_PAD "count_include_pad"   /* AvgPool: 0 = TF "same" (pads excluded) */
#define AT_CEIL "ceil_mode"       /* pools: PyTorch's output size and divisor */

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
    IMPORT_ONNX,              /* ONNX ModelProto */
    IMPORT_KERAS_ZIP          /* Keras 3 .keras zip (config.json + model.weights.h5) */
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
