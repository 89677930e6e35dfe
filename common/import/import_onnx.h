/* import_onnx: ONNX models in (what PyTorch's torch.onnx.export and most
 * converters write), parsed with protobuf-c from the onnx.proto Debian's
 * libonnx-dev ships. Opsets 6-17 of the default domain.
 *
 * Ops: Conv, Gemm, MatMul (constant weight), Relu, LeakyRelu, Clip, Sigmoid,
 * Tanh, MaxPool, AveragePool, GlobalAveragePool, LRN (odd sizes), Batch-
 * Normalization (inference), Dropout, Flatten (axis 1), Reshape (flattening),
 * Softmax (over channels), Add, Sum, Concat (channels), Pad (zeros, folded
 * into the next Conv or pool), Identity; Add/Sub/Mul/Div by a scalar or
 * per-channel constant (a depthwise 1x1 convolution); and constant folding
 * of the Constant, ConstantOfShape, Shape, Gather, Slice, Unsqueeze, Squeeze,
 * Concat, Cast, Transpose, Reshape and arithmetic chains exporters emit
 * around Flatten/Reshape and F.pad.
 *
 * Tensors: images N x C x H x W; 1-D signals N x C x L as our C x 1 x L
 * (Conv1d, pools); vectors N x D as D x 1 x 1. --fold-bn folds a
 * BatchNormalization into the Conv/Gemm before it when nothing else reads
 * that. Anything else is refused with one line naming the node, its op and
 * the opset, saying "not supported".
 *
 * Naming: every node keeps its ONNX node name, or its first output's name
 * when the node is unnamed, so activations are addressable by the names
 * shown by Netron or onnx.helper; as our names cannot hold '/' or ',',
 * PyTorch's "/layer1/layer1.0/conv1/Conv" becomes "layer1.layer1.0.conv1.Conv"
 * (leading '/' dropped, '/' -> '.', ',' -> '_'). Nodes that are identities in our graph
 * (Identity, Pad folded into its consumer, Reshape that keeps the layout,
 * constant folding) make no node: their names resolve to nothing.
 *
 * The batch axis stays symbolic: a model exported at batch 1 runs at any
 * batch. Weights come from initializers (raw_data little-endian or the
 * typed fields); external data is refused with a clear message. */
#ifndef CNN_IMPORT_ONNX_H
#define CNN_IMPORT_ONNX_H

#include "import/import.h"
#include "nn/model.h"

/* An unprepared model from an ONNX file (the caller runs import_finish).
 * Dies with one line naming the file, and for graph problems the node, its
 * op and the opset. o->width/height (--size) give the input's height and
 * width, required when the file leaves them dynamic. */
model *import_onnx(const char *path, const import_opts *o);

#endif
