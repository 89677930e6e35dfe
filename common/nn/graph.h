/* graph: the network in memory (DESIGN.md "Model file"). An ordered list of
 * named nodes in topological order; each has an op (looked up in the op
 * registry, nn/ops.h, by model_prepare), named inputs, numeric attributes
 * and weights. Shapes are per image, channels first: C x H x W (a flat
 * vector of D features is D x 1 x 1). Input pixels are in [0,1]; the
 * model's own preprocessing x' = (x - mean[c]) / std[c] (after optional
 * RGB->BGR) is applied by the engine, so gradients are with respect to
 * [0,1] pixels.
 *
 * Weight layouts follow PyTorch: Conv "weight" Cout x Cin/groups x kh x kw,
 * "bias" Cout; Dense "weight" Dout x Din, "bias" Dout; BatchNorm "gamma",
 * "beta", "mean", "var" (C each). */
#ifndef CNN_GRAPH_H
#define CNN_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "base/tensor.h"

#define MODEL_MAXATTRV 8

typedef struct attr {
    char name[32];
    int n;                       /* number of values */
    double v[MODEL_MAXATTRV];
} attr;

struct op_def;

typedef struct node {
    char *name;
    char *alias;                 /* another name it answers to (the ONNX node's), or NULL */
    char *op;                    /* op name as in the registry, e.g. "Conv" */
    const struct op_def *def;    /* set by model_prepare */
    int nin;
    char **in_names;             /* producer node names; "input" = model input */
    int *in;                     /* producer indices; -1 = model input (set by model_prepare) */
    int nattr;
    attr *attrs;
    int nw;
    char **wnames;
    tensor **w;
    int64_t shape[3];            /* output C, H, W per image (set by model_prepare) */
    void *priv;                  /* op's private data (set by the op's prepare) */
    size_t need_ws;              /* scratch floats the op needs per call (model_prepare) */
    size_t need_fws;             /* of those, what a forward call touches (from the start) */
    size_t need_aux;             /* bytes per image kept from forward to backward */
} node;

typedef struct model {
    int n;
    node *nodes;
    int64_t in_shape[3];         /* C, H, W */
    float mean[3], std[3];       /* preprocessing on [0,1] pixels */
    int bgr;                     /* 1: the model wants BGR channel order */
    int nclasses;
    char **classes;              /* may be NULL */
    char *source;                /* free text: where the model came from */
    uint64_t wgen;               /* weight generation: model_weights_changed */
    void *wmap;                  /* the file mapping weights borrow from (model_load) */
    size_t wmap_len;
} model;

/* An empty model (identity preprocessing, no nodes). */
model *model_new(int64_t c, int64_t h, int64_t w);
void model_free(model *m);
/* Append a node; inputs is a comma-separated list of producer names ("input"
 * for the model input; NULL = the previous node, or the input for the first).
 * Returns the node (owned by the model; valid until the next add). */
node *model_add(model *m, const char *name, const char *op, const char *inputs);
/* Attributes: set one (replacing), read with a default. */
void node_set(node *n, const char *key, int nv, const double *v);
void node_set1(node *n, const char *key, double v);
int node_has(const node *n, const char *key);
double node_get(const node *n, const char *key, int i, double def);
int node_getn(const node *n, const char *key);
/* Whoever changes weight values in place (training, sanity's
 * re-initialisation) says so: engines drop what they made from them
 * (packed or transformed copies). */
static inline void model_weights_changed(model *m) { m->wgen++; }
/* Weights: takes ownership of t. */
void node_add_weight(node *n, const char *wname, tensor *t);
tensor *node_weight(const node *n, const char *wname);   /* NULL if absent */
/* Index of the node named exactly name, else of the node with that alias
 * (the ONNX node name an importer kept), -1 if none (for wiring a graph). */
int model_find(const model *m, const char *name);
/* The node a user named (-l, targets, --weights ...), by the one rule of
 * base/names.h: the exact name, else the only one equal ignoring case
 * ("Conv1" finds conv1; *ambiguous set when several are), else a module:
 * the last node named "NAME." or "NAME/..." (its output: "layer4" finds
 * "layer4.1.relu_2"). -1 when none. ambiguous may be NULL. */
int model_lookup(const model *m, const char *name, int *ambiguous);
/* model_lookup, dying with names_missing's one line ("FILE: no layer 'x'
 * (layers: ...)") when nothing is found. */
int model_require(const model *m, const char *name, const char *file);

/* Total parameters. */
int64_t model_nparams(const model *m);

#endif
