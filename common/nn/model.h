/* model: the checks that turn a graph into a runnable model (ops resolved,
 * shapes computed) and the HDF5 model file. The graph itself is nn/graph.h,
 * included here. */
#ifndef CNN_MODEL_H
#define CNN_MODEL_H

#include <stddef.h>

#include "nn/graph.h"

/* Resolve ops and inputs, check the graph (unknown op, dangling input,
 * cycle/order, weight shapes), compute every node's output shape. Returns 0,
 * or -1 with a one-line reason in err. */
int model_prepare(model *m, char *err, size_t errlen);

/* Load/save the HDF5 model file (kind=model); load dies with a clear message
 * naming the file on any problem, and calls model_prepare. */
model *model_load(const char *path);
void model_save(const model *m, const char *path);

#endif
