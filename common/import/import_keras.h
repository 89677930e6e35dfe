/* import_keras: Keras models in, from the TF.js layers format (model.json
 * with modelTopology + weightsManifest, little-endian weight shards
 * concatenated per group in listed order) or a Keras HDF5 file (topology
 * JSON in the root attribute model_config, weights under
 * /model_weights/<layer>/...).
 *
 * Sequential and functional models with one input and one output. Layers:
 * InputLayer, Conv2D, DepthwiseConv2D, SeparableConv2D, Dense,
 * BatchNormalization, ReLU (max_value, negative_slope), LeakyReLU,
 * Activation (relu, relu6, sigmoid, tanh, softmax, linear), Softmax,
 * ZeroPadding2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D,
 * Flatten, Reshape (flattening only), Dropout, Add, Concatenate (channels),
 * and Rescaling right after the input (becomes the preprocessing).
 * Also: Conv2DTranspose, LayerNormalization, UpSampling2D, GlobalMaxPooling2D,
 * ELU, PReLU, Subtract/Multiply/Average and broadcasting Add, Normalization
 * chained with Rescaling after the input; Keras 3 .keras archives.
 *
 * Naming: every node keeps its Keras layer's name. A layer with a fused
 * activation becomes two nodes, "<layer>_preact" (the linear part) and
 * "<layer>" (after the activation), so the name the user knows gives what
 * Keras' layer.output gives. Layers that are identities in our channels-
 * first layout (linear Activation, ZeroPadding2D folded into the next conv,
 * Reshape between 1x1xC and C, a BatchNormalization folded by --fold-bn)
 * make no node: their name resolves to nothing. A ZeroPadding2D folds into
 * the next convolution, max-pool (when its input is >= 0, as after a ReLU)
 * or valid average pool; anywhere else it is an error (no Pad op).
 *
 * Layout: kernels HWIO -> OIHW, depthwise H x W x C x M -> C*M x 1 x H x W
 * with groups = C; a Dense after Flatten of an H x W x C map has its rows
 * permuted from HWC to CHW order; TF "same" padding is computed exactly
 * (asymmetric: the extra row/column goes bottom/right). */
#ifndef CNN_IMPORT_KERAS_H
#define CNN_IMPORT_KERAS_H

#include "import/import.h"
#include "nn/model.h"

/* path: model.json or the folder holding it. */
model *import_keras_tfjs(const char *path, const import_opts *o);
/* path: a Keras .h5 saved with model.save(). */
model *import_keras_h5(const char *path, const import_opts *o);
/* path: a Keras 3 .keras zip (config.json, metadata.json, model.weights.h5
 * with weights under /layers/<snake_case class>[_n]/vars/0, 1, ...). */
model *import_keras_zip(const char *path, const import_opts *o);

#endif
