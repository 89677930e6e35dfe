/* import_onnx: ONNX ModelProto -> model graph (see import_onnx.h).
 *
 * One pass over the graph's nodes in their (topological) order. Every ONNX
 * value is either a constant (initializer, Constant node, or folded from
 * constants) or dynamic: produced by one of our nodes, with its per-image
 * shape known here. Shapes are tracked so that the Shape -> Gather ->
 * Unsqueeze -> Concat -> Reshape chains exporters write can be folded; the
 * batch dimension is kept symbolic (IMPORT_ONNX_BATCH) so that a model
 * exported at batch 1 still runs at any batch. */
#include "import/import_onnx.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "onnx/onnx.pb-c.h"
#include "base/tensor.h"


#define ONNX_OPSET_MIN 6
#define ONNX_OPSET_MAX 17
/* Limits that keep hostile files from asking for absurd work. */
#define ONNX_MAX_FILE ((size_t)4 << 30)
#define ONNX_MAX_NUMEL ((int64_t)1 << 31)
#define ONNX_MAX_DIM ((int64_t)1 << 24)
/* The batch dimension inside folded shape constants. */
#define IMPORT_ONNX_BATCH INT64_MIN

/* A constant: float or integer data with an ONNX shape. */
typedef struct onnx_const {
    int ndim;
    int64_t dims[TENSOR_MAXDIM];
    int64_t n;
    int isint;
    float *f;                    /* !isint */
    int64_t *i;                  /* isint */
} onnx_const;

enum { VAL_CONST = 1, VAL_DYN = 2 };

typedef struct onnx_value {
    char *name;                  /* ONNX value name */
    int kind;
    const Onnx__TensorProto *tp; /* constant not yet decoded */
    onnx_const *c;               /* decoded constant */
    char *node;                  /* dynamic: our node producing it ("input") */
    int rank;                    /* dynamic: ONNX rank, 4 (N,C,H,W) or 2 (N,D) */
    int64_t shape[3];            /* dynamic: C, H, W (rank 2: D, 1, 1) */
    int nonneg;                  /* dynamic: known >= 0 (after ReLU etc.) */
    int64_t pad[4];              /* pending zero Pad: t, l, b, r */
    int has_pad;
    const char *pad_node;        /* the Pad node's name, for messages */
    /* dynamic values that are views of our N x C x H x W storage, only
     * some ops may read them (see in_dyn): */
    int shuf;                    /* channel shuffle: 1 = N x g x C/g x H x W, 2 = transposed */
    int64_t sgroups;             /* its g */
    int foldable;                /* made by LayerNorm or MatMul: a per-channel Mul/Add may fold in */
    /* LayerNorm written out (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt,
     * Div): the stage reached, the normalised value's name, eps */
    int ln;
    char *ln_src;
    double ln_eps;
    /* PyTorch's LocalResponseNorm written out (see lrn_step; its square's
     * source is ln_src) */
    int lrn;
    int64_t lrn_size, lrn_pad[2];
    double lrn_alpha, lrn_k, lrn_beta;
    int nhwc;                    /* N x H x W x C (a Transpose 0,2,3,1) of shape C, H, W */
} onnx_value;

typedef struct onnx_ctx {
    const char *path;
    const import_opts *o;
    int opset;
    model *m;
    onnx_value *v;
    int nv, cap;
    int *hash;                   /* open addressing: index into v, -1 empty */
    int hcap;
    /* the node being converted, for messages */
    const Onnx__GraphProto *g;
    const Onnx__NodeProto *np;
    const char *nname;
    size_t k;                    /* its index in g->node */
    char *skip;                  /* per g->node: folded into an earlier node (GELU) */
    /* every constant allocated, freed at the end */
    onnx_const **consts;
    int nconsts, capconsts;
    int64_t const_max, const_left;   /* elements constants may take (const_new) */
    char **names;                /* our node names, to keep them unique */
    /* PyTorch module paths (see torch_path): each of our nodes made from a
     * scoped ONNX node, and every ONNX node's path */
    struct origin { char *tmp, *path, *op; } *orig;
    int norig, caporig;
    char **paths;
    int npaths;
    const char *op_hint;         /* op word for names when a pattern makes the node */
} onnx_ctx;

static const struct origin *origin_of(const onnx_ctx *x, const char *tmp);
static char *torch_path(const char *name);

/* ------------------------------------------------------------ messages */

static const char *node_label(const onnx_ctx *x)
{
    return x->nname ? x->nname : "?";
}

/* Die naming the file, the node, its op and the opset. */
static void __attribute__((noreturn, format(printf, 2, 3)))
ndie(const onnx_ctx *x, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (x->np)
        die("%s: node '%s' (%s, opset %d): %s", x->path, node_label(x), x->np->op_type, x->opset,
            msg);
    die("%s: %s", x->path, msg);
}

/* ------------------------------------------------------------ value table */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int val_find(const onnx_ctx *x, const char *name)
{
    if (!x->hcap)
        return -1;
    for (uint64_t k = hash_str(name) & (uint64_t)(x->hcap - 1);; k = (k + 1) & (uint64_t)(x->hcap - 1)) {
        int i = x->hash[k];
        if (i < 0)
            return -1;
        if (!strcmp(x->v[i].name, name))
            return i;
    }
}

static void rehash(onnx_ctx *x)
{
    free(x->hash);
    x->hcap = 64;
    while (x->hcap < 4 * x->cap)
        x->hcap *= 2;
    x->hash = xmalloc((size_t)x->hcap * sizeof *x->hash);
    for (int k = 0; k < x->hcap; k++)
        x->hash[k] = -1;
    for (int i = 0; i < x->nv; i++) {
        uint64_t k = hash_str(x->v[i].name) & (uint64_t)(x->hcap - 1);
        while (x->hash[k] >= 0)
            k = (k + 1) & (uint64_t)(x->hcap - 1);
        x->hash[k] = i;
    }
}

/* A new or replaced value named name (ONNX allows no redefinition, but a
 * malformed file might: the last definition wins, as in a sequential read). */
static onnx_value *val_put(onnx_ctx *x, const char *name)
{
    int i = val_find(x, name);
    if (i >= 0) {
        onnx_value *v = &x->v[i];
        char *keep = v->name;
        free(v->node);
        free(v->ln_src);
        memset(v, 0, sizeof *v);
        v->name = keep;
        return v;
    }
    if (x->nv == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 256;
        x->v = xrealloc(x->v, (size_t)x->cap * sizeof *x->v);
        rehash(x);
    }
    onnx_value *v = &x->v[x->nv];
    memset(v, 0, sizeof *v);
    v->name = xstrdup(name);
    x->nv++;
    uint64_t k = hash_str(name) & (uint64_t)(x->hcap - 1);
    while (x->hash[k] >= 0)
        k = (k + 1) & (uint64_t)(x->hcap - 1);
    x->hash[k] = x->nv - 1;
    return v;
}

/* ------------------------------------------------------------ constants */

static onnx_const *const_new(onnx_ctx *x, int ndim, const int64_t *dims, int isint)
{
    onnx_const *c = xcalloc(1, sizeof *c);
    c->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        c->dims[d] = dims[d];
    c->n = shape_numel(ndim, dims, ONNX_MAX_NUMEL);
    if (c->n < 0)
        ndie(x, "constant too large");
    /* Constants computed in the graph (ConstantOfShape, broadcasts, Concat)
     * can claim far more than the file holds (found by fuzzing): all of
     * them together get a budget in proportion to the file. The budget
     * counts empty axes as 1, as the folding loops walk the other axes. */
    int64_t walk = 1;
    for (int d = 0; d < ndim; d++)
        if (__builtin_mul_overflow(walk, dims[d] > 1 ? dims[d] : 1, &walk) || walk > x->const_left)
            ndie(x, "constants take more than the %lld elements a %lld-byte file allows",
                 (long long)x->const_max, (long long)((x->const_max - ((int64_t)1 << 24)) / 8));
    x->const_left -= walk;
    c->isint = isint;
    if (isint)
        c->i = xcalloc((size_t)c->n + 1, sizeof *c->i);
    else
        c->f = xcalloc((size_t)c->n + 1, sizeof *c->f);
    if (x->nconsts == x->capconsts) {
        x->capconsts = x->capconsts ? 2 * x->capconsts : 64;
        x->consts = xrealloc(x->consts, (size_t)x->capconsts * sizeof *x->consts);
    }
    x->consts[x->nconsts++] = c;
    return c;
}

static uint64_t le_bytes(const uint8_t *p, int n)
{
    uint64_t u = 0;
    for (int k = n - 1; k >= 0; k--)
        u = (u << 8) | p[k];
    return u;
}

static const char *dtype_name(int t)
{
    static const char *names[] = { "undefined", "float", "uint8", "int8", "uint16", "int16",
                                   "int32", "int64", "string", "bool", "float16", "double",
                                   "uint32", "uint64", "complex64", "complex128", "bfloat16" };
    return t >= 0 && t < (int)(sizeof names / sizeof *names) ? names[t] : "unknown";
}

/* Decode a TensorProto: sizes are checked against the bytes really present
 * before anything is allocated, so a tensor that claims 2 GB in a 1 KB file
 * is an error, not an allocation. */
static onnx_const *const_decode(onnx_ctx *x, const Onnx__TensorProto *tp)
{
    const char *tn = tp->name && *tp->name ? tp->name : "(unnamed)";
    if ((tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) ||
        tp->n_external_data) {
        const char *loc = "?";
        for (size_t k = 0; k < tp->n_external_data; k++)
            if (tp->external_data[k]->key && !strcmp(tp->external_data[k]->key, "location"))
                loc = tp->external_data[k]->value ? tp->external_data[k]->value : "?";
        ndie(x, "tensor '%s' keeps its data in an external file ('%s'), which is not supported: "
                "re-save the model with its weights inside (onnx.save_model(m, path, "
                "save_as_external_data=False))", tn, loc);
    }
    if (tp->segment)
        ndie(x, "tensor '%s' is segmented, which is not supported", tn);
    if (tp->n_dims > TENSOR_MAXDIM)
        ndie(x, "tensor '%s' has %zu dimensions (at most %d)", tn, tp->n_dims, TENSOR_MAXDIM);
    for (size_t d = 0; d < tp->n_dims; d++)
        if (tp->dims[d] < 0)
            ndie(x, "tensor '%s' has a negative dimension", tn);
    int64_t n = shape_numel((int)tp->n_dims, tp->dims, ONNX_MAX_NUMEL);
    if (n < 0)
        ndie(x, "tensor '%s' claims more than %lld elements", tn, (long long)ONNX_MAX_NUMEL);
    int dt = tp->has_data_type ? tp->data_type : 0;
    int esize, isint, sign = 1;
    switch (dt) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: esize = 4; isint = 0; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: esize = 8; isint = 0; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: esize = 8; isint = 1; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: esize = 8; isint = 1; sign = 0; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: esize = 4; isint = 1; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: esize = 4; isint = 1; sign = 0; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: esize = 2; isint = 1; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: esize = 2; isint = 1; sign = 0; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: esize = 1; isint = 1; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8: esize = 1; isint = 1; sign = 0; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: esize = 1; isint = 1; sign = 0; break;
    default:
        ndie(x, "tensor '%s' has data type %s (%d), which is not supported (float, double and "
                "integers are)", tn, dtype_name(dt), dt);
    }
    size_t have;
    if (tp->has_raw_data) {
        have = tp->raw_data.len / (size_t)esize;
        if (tp->raw_data.len != (size_t)n * (size_t)esize)
            ndie(x, "tensor '%s' claims %lld elements (%lld bytes) but holds %zu bytes", tn,
                 (long long)n, (long long)n * esize, tp->raw_data.len);
    } else {
        if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) have = tp->n_float_data;
        else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) have = tp->n_double_data;
        else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) have = tp->n_int64_data;
        else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__UINT64 || dt == ONNX__TENSOR_PROTO__DATA_TYPE__UINT32)
            have = tp->n_uint64_data;
        else have = tp->n_int32_data;
        if (have != (size_t)n)
            ndie(x, "tensor '%s' claims %lld elements but holds %zu", tn, (long long)n, have);
    }
    onnx_const *c = const_new(x, (int)tp->n_dims, tp->dims, isint);
    for (int64_t k = 0; k < n; k++) {
        double fv = 0;
        int64_t iv = 0;
        if (tp->has_raw_data) {
            const uint8_t *p = tp->raw_data.data + k * esize;
            uint64_t u = le_bytes(p, esize);
            if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
                uint32_t u32 = (uint32_t)u;
                float f;
                memcpy(&f, &u32, 4);
                fv = f;
            } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) {
                memcpy(&fv, &u, 8);
            } else if (sign && esize < 8) {
                /* sign-extend */
                int sh = 64 - 8 * esize;
                iv = (int64_t)(u << sh) >> sh;
            } else {
                iv = (int64_t)u;
            }
        } else {
            if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) fv = tp->float_data[k];
            else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) fv = tp->double_data[k];
            else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) iv = tp->int64_data[k];
            else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__UINT64 || dt == ONNX__TENSOR_PROTO__DATA_TYPE__UINT32)
                iv = (int64_t)tp->uint64_data[k];
            else iv = tp->int32_data[k];
        }
        if (isint)
            c->i[k] = iv;
        else
            c->f[k] = (float)fv;
    }
    return c;
}

/* ------------------------------------------------------------ attributes */

static const Onnx__AttributeProto *attr_find(const Onnx__NodeProto *np, const char *name)
{
    for (size_t k = 0; k < np->n_attribute; k++)
        if (np->attribute[k]->name && !strcmp(np->attribute[k]->name, name))
            return np->attribute[k];
    return NULL;
}

static int64_t attr_int(const onnx_ctx *x, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = attr_find(x->np, name);
    if (!a)
        return def;
    if (!a->has_i)
        ndie(x, "attribute '%s' should be an integer", name);
    return a->i;
}

static double attr_float(const onnx_ctx *x, const char *name, double def)
{
    const Onnx__AttributeProto *a = attr_find(x->np, name);
    if (!a)
        return def;
    if (a->has_f)
        return a->f;
    if (a->has_i)
        return (double)a->i;
    ndie(x, "attribute '%s' should be a number", name);
}

/* Integer list attribute: number of values (-1 when absent); dies beyond max. */
static int attr_ints(const onnx_ctx *x, const char *name, int64_t *out, int max)
{
    const Onnx__AttributeProto *a = attr_find(x->np, name);
    if (!a)
        return -1;
    if ((int64_t)a->n_ints > max)
        ndie(x, "attribute '%s' has %zu values (at most %d expected)", name, a->n_ints, max);
    for (size_t k = 0; k < a->n_ints; k++)
        out[k] = a->ints[k];
    return (int)a->n_ints;
}

static const char *attr_str(const onnx_ctx *x, const char *name, const char *def, char *buf, size_t len)
{
    const Onnx__AttributeProto *a = attr_find(x->np, name);
    if (!a || !a->has_s)
        return def;
    size_t l = a->s.len < len - 1 ? a->s.len : len - 1;
    memcpy(buf, a->s.data, l);
    buf[l] = '\0';
    return buf;
}

/* ------------------------------------------------------------ inputs */

static int nin(const onnx_ctx *x)
{
    /* trailing empty names are omitted optional inputs */
    int n = (int)x->np->n_input;
    while (n > 0 && !*x->np->input[n - 1])
        n--;
    return n;
}

static int has_in(const onnx_ctx *x, int i)
{
    return i < (int)x->np->n_input && *x->np->input[i];
}

static onnx_value *in_val(onnx_ctx *x, int i)
{
    if (!has_in(x, i))
        ndie(x, "input %d is missing", i + 1);
    int k = val_find(x, x->np->input[i]);
    if (k < 0)
        ndie(x, "input '%s' is produced by no node, initializer or graph input", x->np->input[i]);
    return &x->v[k];
}

static onnx_const *as_const(onnx_ctx *x, onnx_value *v)
{
    if (v->kind != VAL_CONST)
        return NULL;
    if (!v->c)
        v->c = const_decode(x, v->tp);
    return v->c;
}

/* Input i, which must be a constant ("what" says what it is). */
static onnx_const *in_const(onnx_ctx *x, int i, const char *what)
{
    onnx_value *v = in_val(x, i);
    onnx_const *c = as_const(x, v);
    if (!c)
        ndie(x, "%s ('%s') is computed from the input, which is not supported (it must be a "
                "constant, an initializer)", what, v->name);
    return c;
}

/* in_dyn's flags: the caller folds a pending Pad; the caller handles a
 * channels-last view (elementwise ops, the per-pixel ops of a ConvNeXt
 * block). */
#define IN_PAD 1
#define IN_NHWC 2

/* Input i, which must be computed from the model input; a pending Pad is
 * refused unless the caller folds it (allow & IN_PAD), a channels-last view
 * unless it reads one (allow & IN_NHWC). */
static onnx_value *in_dyn(onnx_ctx *x, int i, int allow)
{
    onnx_value *v = in_val(x, i);
    int allow_pad = allow & IN_PAD;
    if (v->kind != VAL_DYN)
        ndie(x, "input '%s' is a constant; only ops on the model input's data are supported here",
             v->name);
    if (v->shuf)
        ndie(x, "input '%s' is the %s of a channel shuffle; only Reshape N x C x H x W -> N x g x "
                "C/g x H x W -> Transpose (0,2,1,3,4) -> Reshape N x C x H x W is supported", v->name,
             v->shuf == 1 ? "5-D Reshape" : "5-D Transpose");
    if (v->lrn)
        ndie(x, "input '%s' is a step of a LocalResponseNorm written out (Mul X X, Unsqueeze, "
                "Pad, AveragePool, ...); only that chain is supported on it", v->name);
    if (v->ln)
        ndie(x, "input '%s' is a step of a LayerNorm written out (ReduceMean, Sub, Pow, "
                "ReduceMean, Add, Sqrt, Div over the channels); only that chain is supported "
                "on it", v->name);
    if (v->nhwc && !(allow & IN_NHWC))
        ndie(x, "input '%s' is channels-last (a Transpose 0,2,3,1); only per-pixel ops over the "
                "channels (LayerNorm, MatMul, per-channel Mul/Add, elementwise activations) may "
                "read it before the Transpose back (0,3,1,2)", v->name);
    if (v->has_pad && !allow_pad)
        ndie(x, "Pad '%s' must be followed by Conv, MaxPool or AveragePool to be folded into "
                "them (a free-standing Pad is not supported)", v->pad_node);
    return v;
}

static int64_t f2i(onnx_ctx *x, float f)
{
    /* float -> integer is undefined behaviour out of range */
    if (!(f > -9e18f && f < 9e18f))
        ndie(x, "value %g does not fit an integer", f);
    return (int64_t)f;
}

static int64_t const_int(onnx_ctx *x, const onnx_const *c, int64_t k)
{
    if (k >= c->n)
        ndie(x, "constant has too few values");
    return c->isint ? c->i[k] : f2i(x, c->f[k]);
}

static double const_num(const onnx_const *c, int64_t k)
{
    return c->isint ? (double)c->i[k] : c->f[k];
}

/* ------------------------------------------------------------ outputs */

/* Our node's name for the current ONNX node: its name, or its first
 * output's; made unique and never "input" (the model input's reserved
 * name). Model names cannot hold '/' (HDF5 paths) or ',' (input lists):
 * PyTorch's scope names "/layer1/layer1.0/conv1/Conv" lose the leading '/'
 * and the others become '.', "layer1.layer1.0.conv1.Conv"; ',' becomes '_'. */
static char *our_name(onnx_ctx *x)
{
    const char *base = x->np->name && *x->np->name ? x->np->name
                       : x->np->n_output && *x->np->output[0] ? x->np->output[0] : x->np->op_type;
    while (*base == '/')
        base++;
    if (!*base)
        base = x->np->op_type;
    char *s = xmalloc(strlen(base) + 24);
    strcpy(s, base);
    for (char *p = s; *p; p++)
        if (*p == ',')
            *p = '_';
        else if (*p == '/')
            *p = '.';
    if (!strcmp(s, "input"))
        strcat(s, "_");
    size_t l = strlen(s);
    for (int k = 2; model_find(x->m, s) >= 0; k++)
        snprintf(s + l, 24, "_%d", k);
    return s;
}

/* The PyTorch module path of a node torch.onnx.export (1.13) named
 * "/layer4/layer4.1/relu_1/Relu": the scopes are the modules called, each
 * written as its unqualified name (from its last non-numeric atom on:
 * "layer4.1" for layer4[1], "conv1" for layer4[1].conv1), the last part is
 * the op. Rebuilt: "layer4.1.relu_1" ("" for an op in the model's own
 * forward). NULL when the name is not such a scope name. ',' becomes '_'
 * (names are listed with commas). */
static char *torch_path(const char *name)
{
    if (!name || name[0] != '/' || !name[1])
        return NULL;
    char *full = xcalloc(1, strlen(name) + 2), *unq = xcalloc(1, strlen(name) + 2);
    const char *p = name + 1;
    for (;;) {
        const char *e = strchr(p, '/');
        if (!e)
            break;   /* the last part is the op */
        size_t l = (size_t)(e - p), u = strlen(unq);
        if (l) {
            /* layer4 then layer4.1: a numbered child of the module before */
            int child = u && l > u + 1 && !strncmp(p, unq, u) && p[u] == '.';
            for (size_t k = u + 1; child && k < l; k++)
                child = (p[k] >= '0' && p[k] <= '9') || (p[k] == '.' && p[k - 1] != '.');
            if (child)
                strncat(full, p + u, l - u);
            else {
                if (*full)
                    strcat(full, ".");
                strncat(full, p, l);
            }
            memcpy(unq, p, l);
            unq[l] = '\0';
        }
        p = e + 1;
    }
    free(unq);
    for (char *q = full; *q; q++)
        if (*q == ',')
            *q = '_';
    return full;
}

/* Output k of the current node as a dynamic value made by node `ours`. */
static onnx_value *out_dyn_k(onnx_ctx *x, int k, const char *ours, int rank, const int64_t shape[3],
                             int nonneg)
{
    if ((int)x->np->n_output <= k || !*x->np->output[k])
        ndie(x, "node has no output %d", k + 1);
    onnx_value *v = val_put(x, x->np->output[k]);
    v->kind = VAL_DYN;
    v->node = xstrdup(ours);
    v->rank = rank;
    for (int d = 0; d < 3; d++)
        v->shape[d] = shape[d];
    v->nonneg = nonneg;
    return v;
}

/* Output 0 of the current node as a dynamic value made by node `ours`. */
static onnx_value *out_dyn(onnx_ctx *x, const char *ours, int rank, const int64_t shape[3], int nonneg)
{
    return out_dyn_k(x, 0, ours, rank, shape, nonneg);
}

static void out_const(onnx_ctx *x, onnx_const *c)
{
    if (x->np->n_output < 1 || !*x->np->output[0])
        ndie(x, "node has no output");
    onnx_value *v = val_put(x, x->np->output[0]);
    v->kind = VAL_CONST;
    v->c = c;
}

/* Output 0 is input value src under another name (no node). */
static void out_alias(onnx_ctx *x, const onnx_value *src)
{
    onnx_value copy = *src;
    if (x->np->n_output < 1 || !*x->np->output[0])
        ndie(x, "node has no output");
    onnx_value *v = val_put(x, x->np->output[0]);
    char *keep = v->name;
    *v = copy;
    v->name = keep;
    v->node = copy.node ? xstrdup(copy.node) : NULL;
    v->ln_src = copy.ln_src ? xstrdup(copy.ln_src) : NULL;
}

/* Append our node for the current ONNX node; inputs are values. */
static node *add_node(onnx_ctx *x, const char *name, const char *op, int n, onnx_value *const *ins)
{
    size_t l = 1;
    for (int k = 0; k < n; k++)
        l += strlen(ins[k]->node) + 1;
    char *s = xmalloc(l);
    s[0] = '\0';
    for (int k = 0; k < n; k++) {
        if (k)
            strcat(s, ",");
        strcat(s, ins[k]->node);
    }
    node *nd = model_add(x->m, name, op, s);
    free(s);
    const char *raw = x->np && x->np->name ? x->np->name : "";
    if (*raw)
        nd->alias = xstrdup(raw);
    char *path = torch_path(raw);
    if (path) {
        if (x->norig == x->caporig) {
            x->caporig = x->caporig ? 2 * x->caporig : 64;
            x->orig = xrealloc(x->orig, (size_t)x->caporig * sizeof *x->orig);
        }
        struct origin *o = &x->orig[x->norig++];
        o->tmp = xstrdup(name);
        o->path = path;
        o->op = xstrdup(x->op_hint ? x->op_hint : x->np->op_type);
    }
    return nd;
}

static tensor *tensor_of(const float *f, int ndim, const int64_t *dims)
{
    tensor *t = tensor_new(ndim, dims);
    memcpy(t->data, f, (size_t)tensor_numel(t) * sizeof *f);
    return t;
}

static void set2(node *nd, const char *key, int64_t a, int64_t b)
{
    double v[2] = { (double)a, (double)b };
    node_set(nd, key, 2, v);
}

static void set4(node *nd, const char *key, const int64_t p[4])
{
    double v[4] = { (double)p[0], (double)p[1], (double)p[2], (double)p[3] };
    node_set(nd, key, 4, v);
}

/* Ops with channels and spatial axes: N x C x H x W, or N x C x L. */
static void need_spatial(onnx_ctx *x, const onnx_value *v)
{
    if (v->rank != 4 && v->rank != 3)
        ndie(x, "input '%s' of rank %d is not supported (only N x C x H x W and N x C x L)",
             v->name, v->rank);
}

/* ------------------------------------------------------------ spatial */

typedef struct spatial {
    int64_t k[2], s[2], d[2], p[4];   /* p: t, l, b, r */
} spatial;

/* An integer list attribute of exactly nsp values (the spatial axes) into
 * the last nsp of out[2]; absent leaves out alone. */
static void spatial_list(onnx_ctx *x, const char *name, int nsp, int64_t *out)
{
    int64_t v[8];
    int n = attr_ints(x, name, v, 8);
    if (n < 0)
        return;
    if (n != nsp)
        ndie(x, "%s has %d values (%d expected)", name, n, nsp);
    for (int k = 0; k < nsp; k++)
        out[2 - nsp + k] = v[k];
}

/* kernel_shape / strides / dilations / pads / auto_pad of Conv and the
 * pools, with the kernel from the weight (Conv) or the attribute. A 1-D
 * signal (N x C x L, rank 3) is our C x 1 x L: its one spatial axis is our
 * width, the height axis has kernel, stride and dilation 1, no padding. */
static void spatial_attrs(onnx_ctx *x, const onnx_value *in, spatial *sp, int want_kernel)
{
    int nsp = in->rank - 2;
    if (nsp != 1 && nsp != 2)
        ndie(x, "input of rank %d is not supported (only 1-D and 2-D: N x C x L, N x C x H x W)",
             in->rank);
    int64_t v[8];
    if (want_kernel) {
        int n = attr_ints(x, "kernel_shape", v, 8);
        if (n != nsp)
            ndie(x, n < 0 ? "kernel_shape is missing" : "kernel_shape has %d values; %d expected", n, nsp);
        sp->k[0] = 1;
        spatial_list(x, "kernel_shape", nsp, sp->k);
    } else {
        int64_t kk[2] = { sp->k[0], sp->k[1] };
        spatial_list(x, "kernel_shape", nsp, kk);
        if (kk[0] != sp->k[0] || kk[1] != sp->k[1])
            ndie(x, "kernel_shape does not match the weight's");
    }
    sp->s[0] = sp->s[1] = sp->d[0] = sp->d[1] = 1;
    for (int k = 0; k < 4; k++)
        sp->p[k] = 0;
    spatial_list(x, "strides", nsp, sp->s);
    spatial_list(x, "dilations", nsp, sp->d);
    for (int k = 0; k < 2; k++)
        if (sp->k[k] < 1 || sp->k[k] > ONNX_MAX_DIM || sp->s[k] < 1 || sp->s[k] > ONNX_MAX_DIM ||
            sp->d[k] < 1 || sp->d[k] > ONNX_MAX_DIM)
            ndie(x, "kernel, strides and dilations must be positive");
    char buf[32];
    const char *ap = attr_str(x, "auto_pad", "NOTSET", buf, sizeof buf);
    if (!strcmp(ap, "NOTSET")) {
        int n = attr_ints(x, "pads", v, 8);
        if (n >= 0) {
            if (n != 2 * nsp)
                ndie(x, "pads has %d values (%d expected)", n, 2 * nsp);
            /* ONNX: the begins of each spatial axis, then the ends */
            for (int k = 0; k < nsp; k++) {
                sp->p[2 - nsp + k] = v[k];
                sp->p[4 - nsp + k] = v[nsp + k];
            }
        }
    } else if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
        for (int k = 2 - nsp; k < 2; k++) {
            int64_t i = in->shape[1 + k];
            int64_t o = (i + sp->s[k] - 1) / sp->s[k];
            int64_t tot = (o - 1) * sp->s[k] + (sp->k[k] - 1) * sp->d[k] + 1 - i;
            if (tot < 0)
                tot = 0;
            int64_t small = tot / 2, big = tot - small;
            sp->p[k] = ap[5] == 'U' ? small : big;
            sp->p[k + 2] = ap[5] == 'U' ? big : small;
        }
    } else if (strcmp(ap, "VALID")) {
        ndie(x, "auto_pad '%s' is not supported", ap);
    }
    for (int k = 0; k < 4; k++)
        if (sp->p[k] < 0 || sp->p[k] > ONNX_MAX_DIM)
            ndie(x, "pads must be non-negative");
}

static int64_t out_size(int64_t i, int64_t pb, int64_t pe, int64_t k, int64_t d, int64_t s, int ceil_mode)
{
    int64_t span = i + pb + pe - (k - 1) * d - 1;
    if (span < 0)
        return 0;
    int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    /* PyTorch and ONNX Runtime: the last window must start inside the
     * input or the leading padding */
    if (ceil_mode && (o - 1) * s >= i + pb)
        o--;
    return o;
}

static void fold_pending_pad(onnx_value *in, spatial *sp)
{
    if (in->has_pad)
        for (int k = 0; k < 4; k++)
            sp->p[k] += in->pad[k];
}

/* ------------------------------------------------------------ ops */

static void op_conv(onnx_ctx *x)
{
    onnx_value *in = in_dyn(x, 0, 1);
    if (in->rank != 4 && in->rank != 3)
        ndie(x, "input of rank %d is not supported (only 1-D and 2-D convolutions)", in->rank);
    onnx_const *w = in_const(x, 1, "the weight");
    if (w->isint || w->ndim != in->rank)
        ndie(x, "the weight must be a float tensor of rank %d (Cout x Cin/groups x kernel)", in->rank);
    /* 1-D kernels are 1 x k */
    int64_t wd[4] = { w->dims[0], w->dims[1], in->rank == 4 ? w->dims[2] : 1, w->dims[in->rank - 1] };
    spatial sp;
    sp.k[0] = wd[2];
    sp.k[1] = wd[3];
    spatial_attrs(x, in, &sp, 0);
    int64_t g = attr_int(x, "group", 1);
    int64_t cout = w->dims[0], cin = in->shape[0];
    if (g < 1 || cin % g || w->dims[1] * g != cin || cout % g)
        ndie(x, "weight %lldx%lldx%lldx%lld with group %lld does not fit %lld input channels",
             (long long)wd[0], (long long)wd[1], (long long)wd[2], (long long)wd[3],
             (long long)g, (long long)cin);
    fold_pending_pad(in, &sp);
    onnx_const *b = NULL;
    if (has_in(x, 2)) {
        b = in_const(x, 2, "the bias");
        if (b->isint || b->n != cout)
            ndie(x, "bias has %lld values, %lld expected", (long long)b->n, (long long)cout);
    }
    int64_t shape[3] = { cout, out_size(in->shape[1], sp.p[0], sp.p[2], sp.k[0], sp.d[0], sp.s[0], 0),
                         out_size(in->shape[2], sp.p[1], sp.p[3], sp.k[1], sp.d[1], sp.s[1], 0) };
    if (shape[1] < 1 || shape[2] < 1)
        ndie(x, "kernel larger than the padded input");
    char *name = our_name(x);
    node *nd = add_node(x, name, OP_CONV, 1, &in);
    set2(nd, AT_KERNEL, sp.k[0], sp.k[1]);
    set2(nd, AT_STRIDE, sp.s[0], sp.s[1]);
    set4(nd, AT_PAD, sp.p);
    set2(nd, AT_DILATION, sp.d[0], sp.d[1]);
    node_set1(nd, AT_GROUPS, (double)g);
    node_add_weight(nd, "weight", tensor_of(w->f, 4, wd));
    if (b)
        node_add_weight(nd, "bias", tensor_of(b->f, 1, &cout));
    out_dyn(x, name, in->rank, shape, 0);
    free(name);
}

static void op_pool(onnx_ctx *x, int ismax)
{
    onnx_value *in = in_dyn(x, 0, 1);
    if (in->rank != 4 && in->rank != 3)
        ndie(x, "input of rank %d is not supported (only 1-D and 2-D pooling)", in->rank);
    if (x->np->n_output > 1 && *x->np->output[1])
        ndie(x, "the Indices output is not supported");
    spatial sp;
    spatial_attrs(x, in, &sp, 1);
    if (!ismax && (sp.d[0] != 1 || sp.d[1] != 1))
        ndie(x, "dilated AveragePool is not supported (dilated MaxPool is)");
    int ceil_mode = (int)attr_int(x, "ceil_mode", 0);
    int cip = ismax ? 0 : (int)attr_int(x, "count_include_pad", 0);
    int own_pad = sp.p[0] || sp.p[1] || sp.p[2] || sp.p[3];
    if (in->has_pad) {
        /* An explicit zero Pad: its zeros take part in the max (only the
         * same as our padding when the values are non-negative) and count
         * in the average. */
        if (ismax && !in->nonneg)
            ndie(x, "a zero Pad before MaxPool of possibly negative values is not supported");
        if (!ismax && !cip && own_pad)
            ndie(x, "a zero Pad before AveragePool with its own pads and count_include_pad=0 "
                    "is not supported");
        if (!ismax)
            cip = 1;
        fold_pending_pad(in, &sp);
    }
    int64_t shape[3] = { in->shape[0],
                         out_size(in->shape[1], sp.p[0], sp.p[2], sp.k[0], sp.d[0], sp.s[0], ceil_mode),
                         out_size(in->shape[2], sp.p[1], sp.p[3], sp.k[1], sp.d[1], sp.s[1], ceil_mode) };
    if (shape[1] < 1 || shape[2] < 1)
        ndie(x, "kernel larger than the padded input");
    for (int k = 0; k < 4; k++)
        if (sp.p[k] >= sp.d[k % 2] * (sp.k[k % 2] - 1) + 1)
            ndie(x, "pads (with any Pad folded in) must be smaller than the kernel");
    char *name = our_name(x);
    node *nd = add_node(x, name, ismax ? OP_MAXPOOL : OP_AVGPOOL, 1, &in);
    set2(nd, AT_KERNEL, sp.k[0], sp.k[1]);
    set2(nd, AT_STRIDE, sp.s[0], sp.s[1]);
    set4(nd, AT_PAD, sp.p);
    if (sp.d[0] != 1 || sp.d[1] != 1)
        set2(nd, AT_DILATION, sp.d[0], sp.d[1]);
    if (ceil_mode)
        node_set1(nd, AT_CEIL, 1);
    if (!ismax)
        node_set1(nd, AT_COUNT_PAD, cip);
    out_dyn(x, name, in->rank, shape, in->nonneg);
    free(name);
}

static void op_gap(onnx_ctx *x)
{
    onnx_value *in = in_dyn(x, 0, 0);
    need_spatial(x, in);
    char *name = our_name(x);
    add_node(x, name, OP_GAP, 1, &in);
    int64_t shape[3] = { in->shape[0], 1, 1 };
    out_dyn(x, name, in->rank, shape, in->nonneg);
    free(name);
}

/* Unary ops keeping the shape; attributes set by the caller. */
static node *op_unary(onnx_ctx *x, const char *op, int nonneg)
{
    /* elementwise ops do not mind a channels-last view; LRN and Softmax
     * work across channels */
    int elementwise = strcmp(op, OP_LRN) && strcmp(op, OP_SOFTMAX);
    onnx_value *in = in_dyn(x, 0, elementwise ? IN_NHWC : 0);
    char *name = our_name(x);
    node *nd = add_node(x, name, op, 1, &in);
    int64_t shape[3] = { in->shape[0], in->shape[1], in->shape[2] };
    int nhwc = in->nhwc;
    onnx_value *o = out_dyn(x, name, in->rank, shape,
                            nonneg || (in->nonneg && strcmp(op, OP_TANH) && strcmp(op, OP_LEAKY)));
    o->nhwc = nhwc;
    free(name);
    return nd;
}

static double clip_bound(onnx_ctx *x, int i, const char *attr, double def)
{
    if (x->opset < 11)
        return attr_float(x, attr, def);
    if (!has_in(x, i))
        return def;
    onnx_const *c = in_const(x, i, i == 1 ? "min" : "max");
    if (c->n != 1)
        ndie(x, "%s must be a scalar", attr);
    return const_num(c, 0);
}

static void op_clip(onnx_ctx *x)
{
    double lo = clip_bound(x, 1, "min", -FLT_MAX), hi = clip_bound(x, 2, "max", FLT_MAX);
    node *nd = op_unary(x, OP_CLIP, lo >= 0);
    node_set1(nd, AT_MIN, lo);
    node_set1(nd, AT_MAX, hi);
}

static void op_lrn(onnx_ctx *x)
{
    onnx_value *in = in_val(x, 0);
    if (in->kind == VAL_DYN)
        need_spatial(x, in);
    int64_t size = attr_int(x, "size", 0);
    if (size < 1)
        ndie(x, "size must be a positive integer");
    /* PyTorch's window (ours) and ONNX's differ for even sizes only */
    if (size % 2 == 0)
        ndie(x, "LRN with an even size (%lld) is not supported (ONNX centres the window "
                "differently from PyTorch)", (long long)size);
    node *nd = op_unary(x, OP_LRN, 0);
    node_set1(nd, AT_SIZE, (double)size);
    node_set1(nd, AT_ALPHA, attr_float(x, "alpha", 1e-4));
    node_set1(nd, AT_BETA, attr_float(x, "beta", 0.75));
    node_set1(nd, AT_LRN_K, attr_float(x, "bias", 1.0));
}

/* How many node inputs and graph outputs read what our node `ours`
 * computes, under any of its ONNX names. */
static int node_uses(const onnx_ctx *x, const char *ours)
{
    int n = 0;
    for (int i = 0; i < x->nv; i++) {
        const onnx_value *v = &x->v[i];
        if (v->kind != VAL_DYN || strcmp(v->node, ours))
            continue;
        for (size_t k = 0; k < x->g->n_node; k++)
            for (size_t j = 0; j < x->g->node[k]->n_input; j++)
                n += !strcmp(x->g->node[k]->input[j], v->name);
        for (size_t k = 0; k < x->g->n_output; k++)
            n += x->g->output[k]->name && !strcmp(x->g->output[k]->name, v->name);
    }
    return n;
}

/* How many node inputs and graph outputs read the ONNX value name. (A
 * value folded into its producer, as affine_fold does, then has one use,
 * and its alias is checked the same way in turn.) */
static int value_uses(const onnx_ctx *x, const char *name)
{
    int n = 0;
    for (size_t k = 0; k < x->g->n_node; k++)
        for (size_t j = 0; j < x->g->node[k]->n_input; j++)
            n += !strcmp(x->g->node[k]->input[j], name);
    for (size_t k = 0; k < x->g->n_output; k++)
        n += x->g->output[k]->name && !strcmp(x->g->output[k]->name, name);
    return n;
}

/* --fold-bn: BatchNorm folded into the Conv or Dense before it, when that
 * feeds nothing else: w' = w s, b' = (b - mean) s + beta, s = gamma /
 * sqrt(var + eps). The BatchNorm's name then resolves to nothing; the
 * conv's activation is the normalised one. Returns 0 when it cannot fold. */
static int bn_fold(onnx_ctx *x, onnx_value *in, onnx_const *const *w, double eps)
{
    if (!strcmp(in->node, "input") || in->has_pad)
        return 0;
    int i = model_find(x->m, in->node);
    if (i < 0)
        return 0;
    node *nd = &x->m->nodes[i];
    if (strcmp(nd->op, OP_CONV) && strcmp(nd->op, OP_DENSE))
        return 0;
    if (node_uses(x, in->node) != 1)
        return 0;
    tensor *W = node_weight(nd, "weight"), *B = node_weight(nd, "bias");
    int64_t c = in->shape[0];
    if (!W || W->dims[0] != c)
        return 0;
    if (!B) {
        B = tensor_new(1, &c);
        node_add_weight(nd, "bias", B);
    }
    int64_t per = tensor_numel(W) / c;
    for (int64_t o = 0; o < c; o++) {
        double sc = w[0]->f[o] / sqrt((double)w[3]->f[o] + eps);
        for (int64_t k = 0; k < per; k++)
            W->data[o * per + k] = (float)(W->data[o * per + k] * sc);
        B->data[o] = (float)((B->data[o] - w[2]->f[o]) * sc + w[1]->f[o]);
    }
    out_alias(x, in);
    return 1;
}

static void op_bn(onnx_ctx *x)
{
    onnx_value *in = in_dyn(x, 0, 0);
    if (attr_int(x, "training_mode", 0))
        ndie(x, "training_mode=1 is not supported (export the model in eval mode)");
    if (x->opset < 9 && !attr_int(x, "spatial", 1))
        ndie(x, "spatial=0 is not supported");
    if (x->opset < 7 && !attr_int(x, "is_test", 0))
        ndie(x, "is_test=0 (training) is not supported");
    for (size_t k = 1; k < x->np->n_output; k++)
        if (*x->np->output[k])
            ndie(x, "the running-statistics outputs (training) are not supported");
    int64_t c = in->shape[0];
    static const char *wn[4] = { "gamma", "beta", "mean", "var" };
    static const char *what[4] = { "scale", "B", "input_mean", "input_var" };
    onnx_const *w[4];
    for (int k = 0; k < 4; k++) {
        w[k] = in_const(x, k + 1, what[k]);
        if (w[k]->isint || w[k]->n != c)
            ndie(x, "%s has %lld values, %lld expected", what[k], (long long)w[k]->n, (long long)c);
    }
    double eps = attr_float(x, "epsilon", 1e-5);
    if (x->o->fold_bn && bn_fold(x, in, w, eps))
        return;
    char *name = our_name(x);
    node *nd = add_node(x, name, OP_BN, 1, &in);
    node_set1(nd, AT_EPS, eps);
    for (int k = 0; k < 4; k++)
        node_add_weight(nd, wn[k], tensor_of(w[k]->f, 1, &c));
    int64_t shape[3] = { in->shape[0], in->shape[1], in->shape[2] };   /* out_dyn may move in */
    out_dyn(x, name, in->rank, shape, 0);
    free(name);
}

static void op_dropout(onnx_ctx *x)
{
    double rate = attr_float(x, "ratio", 0.5);
    if (x->opset >= 12 && has_in(x, 1)) {
        onnx_const *c = in_const(x, 1, "ratio");
        if (c->n != 1)
            ndie(x, "ratio must be a scalar");
        rate = const_num(c, 0);
    }
    if (x->opset >= 12 && has_in(x, 2)) {
        onnx_const *c = in_const(x, 2, "training_mode");
        if (c->n == 1 && const_num(c, 0) != 0)
            ndie(x, "training_mode=true is not supported (export the model in eval mode)");
    }
    if (!(rate >= 0 && rate < 1))
        ndie(x, "ratio %g is outside [0, 1)", rate);
    /* The mask output, when used, fails later as an unknown value. */
    node *nd = op_unary(x, OP_DROPOUT, 0);
    node_set1(nd, AT_RATIO, rate);
}

static void op_flatten(onnx_ctx *x)
{
    onnx_value *in = in_dyn(x, 0, 0);
    int64_t axis = attr_int(x, "axis", 1);
    if (axis < 0)
        axis += in->rank;
    if (axis != 1)
        ndie(x, "Flatten with axis %lld is not supported (only axis 1: N x rest)", (long long)axis);
    char *name = our_name(x);
    add_node(x, name, OP_FLATTEN, 1, &in);
    int64_t shape[3] = { in->shape[0] * in->shape[1] * in->shape[2], 1, 1 };
    out_dyn(x, name, 2, shape, in->nonneg);
    free(name);
}

/* Softmax and LogSoftmax (op). */
static void softmax_like(onnx_ctx *x, const char *op)
{
    onnx_value *in = in_dyn(x, 0, 0);
    int64_t axis = attr_int(x, "axis", x->opset >= 13 ? -1 : 1);
    if (axis < 0)
        axis += in->rank;
    /* Our Softmax normalises over the channels at each position: ONNX's
     * from opset 13 on axis 1; before 13 ONNX flattens from the axis on,
     * which is the same only when H = W = 1. */
    int ok = axis == 1 && (in->rank == 2 || x->opset >= 13 || (in->shape[1] == 1 && in->shape[2] == 1));
    if (!ok)
        ndie(x, "%s over axis %lld of a rank-%d tensor%s is not supported (only over "
                "channels, axis 1)", x->np->op_type, (long long)axis, in->rank,
             x->opset < 13 && axis == 1 ? " (before opset 13: over all of C x H x W)" : "");
    op_unary(x, op, !strcmp(op, OP_SOFTMAX));
}

static void op_softmax(onnx_ctx *x) { softmax_like(x, OP_SOFTMAX); }

/* Scalar or per-channel constant c broadcast against dynamic value v
 * (numpy rules): C floats into out, or -1 when c varies along H or W or
 * the batch. */
static int per_channel(const onnx_value *v, const onnx_const *c, float *out)
{
    int64_t C = v->shape[0];
    if (c->ndim > v->rank)
        return -1;
    int64_t caxis = -1;   /* c's axis aligned with our channel axis */
    int chan = v->nhwc ? v->rank - 1 : 1;   /* the channel axis in ONNX's order */
    for (int d = 0; d < c->ndim; d++) {
        int vd = v->rank - c->ndim + d;   /* aligned axis of v */
        if (c->dims[d] == 1)
            continue;
        if (vd == chan && c->dims[d] == C)
            caxis = d;
        else
            return -1;
    }
    for (int64_t k = 0; k < C; k++) {
        double val;
        if (caxis < 0) {
            if (c->n != 1)
                return -1;
            val = const_num(c, 0);
        } else {
            val = const_num(c, k);   /* other axes all 1: the k-th element */
        }
        out[k] = (float)val;
    }
    return 0;
}

/* y = w * x + b per channel, as a depthwise 1x1 convolution: exact, and
 * every op the engine has already handles it forwards and backwards. */
static void affine_node(onnx_ctx *x, onnx_value *in, const float *w, const float *b, int nonneg)
{
    int64_t C = in->shape[0];
    char *name = our_name(x);
    node *nd = add_node(x, name, OP_CONV, 1, &in);
    set2(nd, AT_STRIDE, 1, 1);
    int64_t p[4] = { 0, 0, 0, 0 };
    set4(nd, AT_PAD, p);
    set2(nd, AT_DILATION, 1, 1);
    node_set1(nd, AT_GROUPS, (double)C);
    int64_t wd[4] = { C, 1, 1, 1 };
    node_add_weight(nd, "weight", tensor_of(w, 4, wd));
    node_add_weight(nd, "bias", tensor_of(b, 1, &C));
    int nhwc = in->nhwc;
    int64_t shape[3] = { C, in->shape[1], in->shape[2] };   /* out_dyn may move in */
    out_dyn(x, name, in->rank, shape, nonneg)->nhwc = nhwc;
    free(name);
}

/* y = w * x + b folded into the LayerNorm or the MatMul-made 1x1 Conv that
 * computes x, when the same PyTorch module (or, without scope names, any
 * exporter) wrote both and nothing else reads x: LayerNorm's weight and
 * bias, Linear's bias. Returns 1 when folded (the output is x's alias). */
static int affine_fold(onnx_ctx *x, onnx_value *in, const float *w, const float *b)
{
    if (!in->foldable || in->has_pad || !strcmp(in->node, "input"))
        return 0;
    int i = model_find(x->m, in->node);
    if (i < 0 || value_uses(x, in->name) != 1)
        return 0;
    const struct origin *o = origin_of(x, in->node);
    char *here = torch_path(x->np->name);
    int same = o ? here && !strcmp(here, o->path) : !here;
    free(here);
    if (!same)
        return 0;
    node *nd = &x->m->nodes[i];
    int64_t C = in->shape[0];
    int ln = !strcmp(nd->op, OP_LAYERNORM);
    tensor *W = node_weight(nd, ln ? "gamma" : "weight"), *B = node_weight(nd, ln ? "beta" : "bias");
    if (!W || W->dims[0] != C)
        return 0;
    if (!B) {
        B = tensor_new(1, &C);
        node_add_weight(nd, ln ? "beta" : "bias", B);
    }
    int64_t per = tensor_numel(W) / C;
    for (int64_t k = 0; k < C; k++) {
        for (int64_t j = 0; j < per; j++)
            W->data[k * per + j] *= w[k];
        B->data[k] = B->data[k] * w[k] + b[k];
    }
    out_alias(x, in);
    return 1;
}

static int64_t bcast_index(const onnx_const *c, int ndim, const int64_t *dims, int64_t flat)
{
    /* index into c (right-aligned, broadcast) of element flat of dims */
    int64_t idx = 0, stride = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        int64_t i = flat % dims[d];
        flat /= dims[d];
        int cd = d - (ndim - c->ndim);
        if (cd >= 0) {
            if (c->dims[cd] != 1)
                idx += i * stride;
            stride *= c->dims[cd];
        }
    }
    return idx;
}

/* Elementwise arithmetic on two constants (shape arithmetic, mostly). */
static void fold_binary(onnx_ctx *x, const char *op, onnx_const *a, onnx_const *b)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t dims[TENSOR_MAXDIM];
    for (int d = 0; d < nd; d++) {
        int da = d - (nd - a->ndim), db = d - (nd - b->ndim);
        int64_t ea = da >= 0 ? a->dims[da] : 1, eb = db >= 0 ? b->dims[db] : 1;
        if (ea != eb && ea != 1 && eb != 1)
            ndie(x, "constant shapes do not broadcast");
        dims[d] = ea == 1 ? eb : ea;
    }
    int isint = a->isint && b->isint;
    onnx_const *c = const_new(x, nd, dims, isint);
    for (int64_t k = 0; k < c->n; k++) {
        int64_t ia = bcast_index(a, nd, dims, k), ib = bcast_index(b, nd, dims, k);
        if (isint) {
            int64_t u = a->i[ia], v = b->i[ib], r;
            if (u == IMPORT_ONNX_BATCH || v == IMPORT_ONNX_BATCH)
                ndie(x, "arithmetic on the batch size is not supported");
            int ovf = 0;
            switch (op[0]) {
            case 'A': ovf = __builtin_add_overflow(u, v, &r); break;
            case 'S': ovf = __builtin_sub_overflow(u, v, &r); break;
            case 'M': ovf = __builtin_mul_overflow(u, v, &r); break;
            default:
                if (!v || (u == INT64_MIN && v == -1))
                    ndie(x, "integer division by zero or overflow");
                r = u / v;
            }
            if (ovf)
                ndie(x, "integer overflow in constant arithmetic");
            c->i[k] = r;
        } else {
            double u = const_num(a, ia), v = const_num(b, ib), r;
            switch (op[0]) {
            case 'A': r = u + v; break;
            case 'S': r = u - v; break;
            case 'M': r = u * v; break;
            default: r = u / v;
            }
            c->f[k] = (float)r;
        }
    }
    out_const(x, c);
}

/* ------------------------------------------------------------ arithmetic
 * of computed tensors, and the activations exporters write as patterns */

/* The node of the graph that alone reads value `name` (its index in
 * g->node), or -1 when none, several or a graph output read it. */
static long sole_reader(const onnx_ctx *x, const char *name)
{
    long who = -1;
    for (size_t k = 0; k < x->g->n_output; k++)
        if (x->g->output[k]->name && !strcmp(x->g->output[k]->name, name))
            return -1;
    for (size_t k = 0; k < x->g->n_node; k++)
        for (size_t j = 0; j < x->g->node[k]->n_input; j++)
            if (!strcmp(x->g->node[k]->input[j], name)) {
                if (who >= 0)
                    return -1;
                who = (long)k;
            }
    return who;
}

/* Is value `name` a scalar constant equal to v (to float precision)? It
 * may be an initializer, a folded constant or a Constant node later in the
 * graph (exporters put them just before their reader). */
static int const_scalar_is(onnx_ctx *x, const char *name, double v)
{
    int i = val_find(x, name);
    onnx_const *c = NULL;
    if (i >= 0) {
        c = as_const(x, &x->v[i]);
    } else {
        for (size_t k = x->k + 1; k < x->g->n_node && !c; k++) {
            const Onnx__NodeProto *np = x->g->node[k];
            const Onnx__AttributeProto *a;
            if (strcmp(np->op_type, "Constant") || np->n_output < 1 || strcmp(np->output[0], name))
                continue;
            if ((a = attr_find(np, "value")) && a->t)
                c = const_decode(x, a->t);
            else if ((a = attr_find(np, "value_float")) && a->has_f)
                return fabs(a->f - v) <= 1e-6 * fabs(v);
            else
                return 0;
        }
    }
    if (!c || c->n != 1)
        return 0;
    return fabs(const_num(c, 0) - v) <= 1e-6 * fabs(v);
}

/* Node k is op `type` with `name` as one of its two inputs; the other one
 * (index returned in *other) is what the pattern checks. */
static int is_binary_on(const onnx_ctx *x, long k, const char *type, const char *name, int *other)
{
    if (k < 0)
        return 0;
    const Onnx__NodeProto *np = x->g->node[k];
    if (strcmp(np->op_type, type) || np->n_input != 2 || np->n_output < 1 ||
        (np->domain && *np->domain && strcmp(np->domain, "ai.onnx")))
        return 0;
    *other = !strcmp(np->input[0], name) ? 1 : !strcmp(np->input[1], name) ? 0 : -1;
    return *other >= 0;
}

/* GELU as PyTorch exports it before opset 20:
 *   Div(x, sqrt 2) -> Erf -> Add(., 1) -> Mul(x, .) -> Mul(., 0.5)
 * The current node is the Div; when the chain follows, each link read by
 * the next alone, it becomes one GELU node whose output is the last Mul's
 * and the four later nodes are skipped. Returns 0 when it does not fit. */
static int fold_gelu(onnx_ctx *x)
{
    const Onnx__NodeProto *np = x->np;
    onnx_value *in = in_val(x, 0);
    if (in->kind != VAL_DYN || in->has_pad || np->n_output < 1 ||
        !const_scalar_is(x, np->input[1], M_SQRT2))
        return 0;
    long kerf = sole_reader(x, np->output[0]);
    if (kerf < 0 || strcmp(x->g->node[kerf]->op_type, "Erf") || x->g->node[kerf]->n_output < 1)
        return 0;
    int o1, o2, o3;
    long kadd = sole_reader(x, x->g->node[kerf]->output[0]);
    if (!is_binary_on(x, kadd, "Add", x->g->node[kerf]->output[0], &o1) ||
        !const_scalar_is(x, x->g->node[kadd]->input[o1], 1.0))
        return 0;
    long kmul = sole_reader(x, x->g->node[kadd]->output[0]);
    if (!is_binary_on(x, kmul, "Mul", x->g->node[kadd]->output[0], &o2) ||
        strcmp(x->g->node[kmul]->input[o2], np->input[0]))
        return 0;
    long khalf = sole_reader(x, x->g->node[kmul]->output[0]);
    if (!is_binary_on(x, khalf, "Mul", x->g->node[kmul]->output[0], &o3) ||
        !const_scalar_is(x, x->g->node[khalf]->input[o3], 0.5))
        return 0;
    char *name = our_name(x);
    add_node(x, name, OP_GELU, 1, &in);
    const char *outname = x->g->node[khalf]->output[0];
    onnx_value src = *in;   /* val_put may move the value table */
    onnx_value *v = val_put(x, outname);
    v->kind = VAL_DYN;
    v->node = xstrdup(name);
    v->rank = src.rank;
    v->nhwc = src.nhwc;     /* ConvNeXt's GELU runs on a channels-last view */
    memcpy(v->shape, src.shape, sizeof v->shape);
    x->skip[kerf] = x->skip[kadd] = x->skip[kmul] = x->skip[khalf] = 1;
    free(name);
    return 1;
}

/* Mul(x, Sigmoid(x)) is SiLU and Mul(x, HardSigmoid(x)) with PyTorch's
 * 1/6, 1/2 is HardSwish (PyTorch's exports before opset 14, and
 * EfficientNet's and MobileNetV3's activations): when the gate reads x and
 * only this Mul reads the gate, the gate node becomes the activation and
 * the Mul makes no node. Returns 0 when it does not fit. */
static int fold_gate(onnx_ctx *x, onnx_value *a, onnx_value *b)
{
    if (!strcmp(b->node, "input") || b->rank != a->rank || memcmp(a->shape, b->shape, sizeof a->shape))
        return 0;
    int i = model_find(x->m, b->node);
    if (i < 0)
        return 0;
    node *nd = &x->m->nodes[i];
    if (nd->nin != 1 || strcmp(nd->in_names[0], a->node))
        return 0;
    const char *to;
    if (!strcmp(nd->op, OP_SIGMOID))
        to = OP_SILU;
    else if (!strcmp(nd->op, OP_HSIG) && fabs(node_get(nd, AT_ALPHA, 0, 0.2) - 1.0 / 6) < 1e-6 &&
             node_get(nd, AT_BETA, 0, 0.5) == 0.5)
        to = OP_HSWISH;
    else
        return 0;
    if (node_uses(x, b->node) != 1)
        return 0;
    free(nd->op);
    nd->op = xstrdup(to);
    nd->nattr = 0;
    out_alias(x, b);
    x->v[val_find(x, x->np->output[0])].nonneg = 0;
    return 1;
}

/* Add, Sub, Mul, Div of two computed tensors: per-image shapes broadcast
 * along C, H, W (ops/binary.c); the ranks must agree (ONNX would align a
 * rank-2 N x D with H x W, which no CNN means). */
static void arith_dyn(onnx_ctx *x, const char *op)
{
    onnx_value *a = in_dyn(x, 0, 0), *b = in_dyn(x, 1, 0);
    if (op[0] == 'M' && (fold_gate(x, a, b) || fold_gate(x, b, a)))
        return;
    char sa[64], sb[64];
    snprintf(sa, sizeof sa, "%lldx%lldx%lld", (long long)a->shape[0], (long long)a->shape[1],
             (long long)a->shape[2]);
    snprintf(sb, sizeof sb, "%lldx%lldx%lld", (long long)b->shape[0], (long long)b->shape[1],
             (long long)b->shape[2]);
    if (a->rank != b->rank)
        ndie(x, "%s of a rank-%d and a rank-%d tensor is not supported (broadcasting between "
                "computed tensors needs equal ranks)", op, a->rank, b->rank);
    int64_t shape[3];
    for (int d = 0; d < 3; d++) {
        if (a->shape[d] != b->shape[d] && a->shape[d] != 1 && b->shape[d] != 1)
            ndie(x, "%s of tensors shaped %s and %s (C x H x W per image): they do not "
                    "broadcast (each axis must agree or be 1)", op, sa, sb);
        shape[d] = a->shape[d] == 1 ? b->shape[d] : a->shape[d];
    }
    const char *ours = !strcmp(op, "Sub") ? OP_SUB : !strcmp(op, "Mul") ? OP_MUL
                       : !strcmp(op, "Div") ? OP_DIV : OP_ADD;
    char *name = our_name(x);
    onnx_value *ins[2] = { a, b };
    add_node(x, name, ours, 2, ins);
    int nonneg = strcmp(ours, OP_SUB) && a->nonneg && b->nonneg;
    out_dyn(x, name, a->rank, shape, nonneg);
    free(name);
}

/* Add, Sub, Mul, Div, Sum. */
static int ln_arith(onnx_ctx *x, const char *op);

static void op_arith(onnx_ctx *x, const char *op)
{
    if (ln_arith(x, op))
        return;
    if (nin(x) != 2)
        ndie(x, "%d inputs (2 supported)", nin(x));
    onnx_value *a = in_val(x, 0), *b = in_val(x, 1);
    if (a->kind == VAL_CONST && b->kind == VAL_CONST) {
        fold_binary(x, op, as_const(x, a), as_const(x, b));
        return;
    }
    if (a->kind == VAL_DYN && b->kind == VAL_DYN) {
        if (!strcmp(op, "Add") || !strcmp(op, "Sum")) {
            /* Same shapes, possibly both channels-last views: one Add. */
            onnx_value *p = in_dyn(x, 0, IN_NHWC), *q = in_dyn(x, 1, IN_NHWC);
            if (p->rank == q->rank && p->nhwc == q->nhwc && !memcmp(p->shape, q->shape, sizeof p->shape)) {
                char *name = our_name(x);
                onnx_value *ins[2] = { p, q };
                add_node(x, name, OP_ADD, 2, ins);
                int nhwc = p->nhwc;
                int64_t shape[3] = { p->shape[0], p->shape[1], p->shape[2] };   /* out_dyn may move p */
                out_dyn(x, name, p->rank, shape, p->nonneg && q->nonneg)->nhwc = nhwc;
                free(name);
                return;
            }
        }
        /* Broadcasting Add/Sub/Mul/Div (channels-first tensors only). */
        arith_dyn(x, op);
        return;
    }
    if (op[0] == 'D' && b->kind == VAL_CONST && fold_gelu(x))
        return;
    int cfirst = a->kind == VAL_CONST;
    onnx_value *d = in_dyn(x, cfirst ? 1 : 0, IN_NHWC);
    onnx_const *c = as_const(x, cfirst ? a : b);
    int64_t C = d->shape[0];
    float *cv = xmalloc((size_t)C * sizeof *cv), *w = xmalloc((size_t)C * sizeof *w),
          *bb = xmalloc((size_t)C * sizeof *bb);
    if (per_channel(d, c, cv))
        ndie(x, "%s of a constant shaped %s is not supported (only scalar and per-channel constants)",
             op, tensor_shape_str(c->ndim, c->dims, (char[96]){ 0 }, 96));
    int nonneg = 0;
    for (int64_t k = 0; k < C; k++) {
        switch (op[0]) {
        case 'A': w[k] = 1; bb[k] = cv[k]; break;
        case 'S': w[k] = cfirst ? -1 : 1; bb[k] = cfirst ? cv[k] : -cv[k]; break;
        case 'M': w[k] = cv[k]; bb[k] = 0; break;
        default:
            if (cfirst)
                ndie(x, "dividing a constant by a computed tensor is not supported");
            w[k] = 1.0f / cv[k];
            bb[k] = 0;
        }
    }
    if (op[0] == 'M' || op[0] == 'D') {
        nonneg = d->nonneg;
        for (int64_t k = 0; k < C; k++)
            if (w[k] < 0)
                nonneg = 0;
    }
    if (!affine_fold(x, d, w, bb))
        affine_node(x, d, w, bb, nonneg);
    free(cv);
    free(w);
    free(bb);
}

static void matmul_nhwc(onnx_ctx *x, onnx_value *a);

static void op_gemm(onnx_ctx *x, int matmul)
{
    onnx_value *a = in_dyn(x, 0, matmul ? IN_NHWC : 0);
    if (a->nhwc) {
        matmul_nhwc(x, a);
        return;
    }
    if (a->rank != 2)
        ndie(x, "input A of rank %d is not supported (only N x D: a Flatten or Reshape must "
                "come first)", a->rank);
    onnx_const *B = in_const(x, 1, "B (the weight)");
    if (B->isint || B->ndim != 2)
        ndie(x, "B must be a float matrix");
    int tA = matmul ? 0 : (int)attr_int(x, "transA", 0), tB = matmul ? 0 : (int)attr_int(x, "transB", 0);
    double alpha = matmul ? 1 : attr_float(x, "alpha", 1.0), beta = matmul ? 1 : attr_float(x, "beta", 1.0);
    if (tA)
        ndie(x, "transA=1 (transposing the batch) is not supported");
    int64_t din = a->shape[0];
    int64_t bin = tB ? B->dims[1] : B->dims[0], dout = tB ? B->dims[0] : B->dims[1];
    if (bin != din)
        ndie(x, "B is %lldx%lld but the input has %lld features", (long long)B->dims[0],
             (long long)B->dims[1], (long long)din);
    int64_t wd[2] = { dout, din };
    tensor *W = tensor_new(2, wd);
    for (int64_t o = 0; o < dout; o++)
        for (int64_t i = 0; i < din; i++)
            W->data[o * din + i] = (float)(alpha * (tB ? B->f[o * din + i] : B->f[i * dout + o]));
    tensor *bias = NULL;
    if (!matmul && has_in(x, 2)) {
        onnx_const *C = in_const(x, 2, "C (the bias)");
        int ok = !C->isint && (C->n == 1 || (C->n == dout && C->dims[C->ndim - 1] == dout));
        if (!ok)
            ndie(x, "C shaped %s is not supported (a scalar or one value per output is)",
                 tensor_shape_str(C->ndim, C->dims, (char[96]){ 0 }, 96));
        bias = tensor_new(1, &dout);
        for (int64_t o = 0; o < dout; o++)
            bias->data[o] = (float)(beta * C->f[C->n == 1 ? 0 : o]);
    }
    char *name = our_name(x);
    node *nd = add_node(x, name, OP_DENSE, 1, &a);
    node_add_weight(nd, "weight", W);
    if (bias)
        node_add_weight(nd, "bias", bias);
    int64_t shape[3] = { dout, 1, 1 };
    out_dyn(x, name, 2, shape, 0);
    free(name);
}

static void op_concat(onnx_ctx *x)
{
    int n = nin(x);
    if (n < 1)
        ndie(x, "no inputs");
    int allc = 1, anyc = 0;
    for (int k = 0; k < n; k++) {
        int c = in_val(x, k)->kind == VAL_CONST;
        allc &= c;
        anyc |= c;
    }
    int64_t axis = attr_int(x, "axis", x->opset < 11 ? 1 : 0);
    if (allc) {
        onnx_const *c0 = as_const(x, in_val(x, 0));
        int nd = c0->ndim;
        if (axis < 0)
            axis += nd;
        if (axis < 0 || axis >= nd)
            ndie(x, "axis out of range");
        int64_t dims[TENSOR_MAXDIM];
        memcpy(dims, c0->dims, sizeof dims);
        dims[axis] = 0;
        int isint = 1;
        for (int k = 0; k < n; k++) {
            onnx_const *c = as_const(x, in_val(x, k));
            if (c->ndim != nd)
                ndie(x, "constants of different ranks");
            for (int d = 0; d < nd; d++)
                if (d != axis && c->dims[d] != c0->dims[d])
                    ndie(x, "constant shapes do not match");
            dims[axis] += c->dims[axis];
            isint &= c->isint;
        }
        onnx_const *r = const_new(x, nd, dims, isint);
        int64_t outer = 1, inner = 1;
        for (int d = 0; d < axis; d++)
            outer *= dims[d];
        for (int d = axis + 1; d < nd; d++)
            inner *= dims[d];
        int64_t off = 0;
        for (int k = 0; k < n; k++) {
            onnx_const *c = as_const(x, in_val(x, k));
            int64_t blk = c->dims[axis] * inner;
            for (int64_t o = 0; o < outer; o++)
                for (int64_t j = 0; j < blk; j++) {
                    int64_t dst = o * dims[axis] * inner + off + j, src = o * blk + j;
                    if (isint) r->i[dst] = c->i[src];
                    else r->f[dst] = (float)const_num(c, src);
                }
            off += blk;
        }
        out_const(x, r);
        return;
    }
    if (anyc)
        ndie(x, "Concat of a constant with computed tensors is not supported");
    onnx_value **ins = xmalloc((size_t)n * sizeof *ins);
    int64_t shape[3] = { 0, 0, 0 };
    int nonneg = 1;
    for (int k = 0; k < n; k++) {
        ins[k] = in_dyn(x, k, 0);
        if (k == 0) {
            if (axis < 0)
                axis += ins[0]->rank;
            if (axis != 1)
                ndie(x, "Concat along axis %lld is not supported (only channels, axis 1)",
                     (long long)axis);
            memcpy(shape, ins[0]->shape, sizeof shape);
            shape[0] = 0;
        }
        if (ins[k]->rank != ins[0]->rank || ins[k]->shape[1] != ins[0]->shape[1] ||
            ins[k]->shape[2] != ins[0]->shape[2])
            ndie(x, "inputs differ in rank or spatial size");
        shape[0] += ins[k]->shape[0];
        nonneg &= ins[k]->nonneg;
    }
    char *name = our_name(x);
    add_node(x, name, OP_CONCAT, n, ins);
    out_dyn(x, name, ins[0]->rank, shape, nonneg);
    free(name);
    free(ins);
}

static void op_pad(onnx_ctx *x)
{
    onnx_value *in = in_dyn(x, 0, 1);
    need_spatial(x, in);
    char buf[32];
    const char *mode = attr_str(x, "mode", "constant", buf, sizeof buf);
    if (strcmp(mode, "constant"))
        ndie(x, "Pad mode '%s' is not supported (only constant zeros)", mode);
    int r = in->rank;
    int64_t p[8];
    double value = 0;
    if (x->opset < 11) {
        if (attr_ints(x, "pads", p, 8) != 2 * r)
            ndie(x, "pads must have %d values", 2 * r);
        value = attr_float(x, "value", 0.0);
    } else {
        onnx_const *c = in_const(x, 1, "pads");
        if (c->n != 2 * r)
            ndie(x, "pads must have %d values", 2 * r);
        for (int k = 0; k < 2 * r; k++)
            p[k] = const_int(x, c, k);
        if (has_in(x, 2)) {
            onnx_const *v = in_const(x, 2, "constant_value");
            if (v->n >= 1)
                value = const_num(v, 0);
        }
        if (has_in(x, 3))
            ndie(x, "the axes input is not supported");
    }
    if (value != 0)
        ndie(x, "Pad with value %g is not supported (only zeros)", value);
    /* N, C, (H,) W begins then ends */
    if (p[0] || p[1] || p[r] || p[r + 1])
        ndie(x, "padding the batch or channel axis is not supported");
    for (int k = 0; k < 2 * r; k++)
        if (p[k] < 0 || p[k] > ONNX_MAX_DIM)
            ndie(x, "negative (cropping) pads are not supported");
    onnx_value *o;
    {
        onnx_value copy = *in;
        o = val_put(x, x->np->output[0]);
        char *keep = o->name;
        *o = copy;
        o->name = keep;
        o->node = xstrdup(copy.node);
    }
    int64_t add[4] = { r == 4 ? p[2] : 0, p[r - 1], r == 4 ? p[6] : 0, p[2 * r - 1] };
    for (int k = 0; k < 4; k++)
        o->pad[k] = (in->has_pad ? in->pad[k] : 0) + add[k];
    o->has_pad = 1;
    o->pad_node = x->nname;
}

/* Reshape of a computed tensor: only what is a no-op on our contiguous
 * N x C x H x W storage and expressible in our shapes. */
static void op_reshape_const(onnx_ctx *x, onnx_const *c);
static int reshape_shuffle(onnx_ctx *x, onnx_value *in);

static void op_reshape(onnx_ctx *x)
{
    onnx_const *cin = as_const(x, in_val(x, 0));
    if (cin) {
        op_reshape_const(x, cin);
        return;
    }
    if (reshape_shuffle(x, in_val(x, 0)))
        return;
    onnx_value *in = in_dyn(x, 0, 0);
    onnx_const *s = in_const(x, 1, "the target shape");
    if (!s->isint || s->ndim != 1 || s->n < 1 || s->n > TENSOR_MAXDIM)
        ndie(x, "the target shape must be a 1-D integer tensor");
    int allowzero = (int)attr_int(x, "allowzero", 0);
    int64_t per = in->shape[0] * in->shape[1] * in->shape[2];
    int64_t in_dims[4] = { IMPORT_ONNX_BATCH, in->shape[0], in->shape[1], in->shape[2] };
    if (in->rank == 3)
        in_dims[2] = in->shape[2];
    int64_t t[TENSOR_MAXDIM];
    int n = (int)s->n, neg = -1;
    for (int k = 0; k < n; k++) {
        t[k] = s->i[k];
        if (t[k] == 0 && !allowzero)
            t[k] = k < in->rank ? in_dims[k] : 0;
        if (t[k] == -1) {
            if (neg >= 0)
                ndie(x, "more than one -1 in the target shape");
            neg = k;
        }
    }
    /* the batch is the first dimension: symbolic, -1, or the export batch */
    int64_t rest = 1;
    for (int k = 1; k < n; k++)
        if (k != neg) {
            if (t[k] < 0 || t[k] > ONNX_MAX_NUMEL || __builtin_mul_overflow(rest, t[k], &rest))
                ndie(x, "Reshape to these dimensions is not supported");
        }
    if (neg > 0) {
        if (rest <= 0 || per % rest)
            ndie(x, "target shape does not fit %lld values per image", (long long)per);
        t[neg] = per / rest;
        rest = per;
    }
    if (rest != per || (t[0] != IMPORT_ONNX_BATCH && t[0] != -1 && t[0] < 1))
        ndie(x, "Reshape that moves values between images is not supported (only flattening "
                "each image)");
    char sb[128];
    int64_t nt[3] = { 1, 1, 1 };
    for (int k = 1; k < n && k < 4; k++)
        nt[k - 1] = t[k];
    if (n == 2 || (n == 4 && t[2] == 1 && t[3] == 1)) {
        int64_t shape[3] = { per, 1, 1 };
        if (in->shape[1] == 1 && in->shape[2] == 1) {
            onnx_value copy = *in;
            copy.rank = n == 2 ? 2 : 4;
            out_alias(x, &copy);
            return;
        }
        char *name = our_name(x);
        add_node(x, name, OP_FLATTEN, 1, &in);
        out_dyn(x, name, n == 2 ? 2 : 4, shape, in->nonneg);
        free(name);
        return;
    }
    if (n == 4 && in->rank == 4 && !memcmp(nt, in->shape, sizeof nt)) {
        out_alias(x, in);
        return;
    }
    if (n == 3 && in->rank == 3 && nt[0] == in->shape[0] && nt[1] == in->shape[2]) {
        out_alias(x, in);
        return;
    }
    for (int k = 0; k < n; k++)
        if (t[k] == IMPORT_ONNX_BATCH)
            t[k] = -1;
    ndie(x, "Reshape to %s is not supported (only flattening to N x D)",
         tensor_shape_str(n, t, sb, sizeof sb));
}

/* ---------------------------------------------- folded shape arithmetic */

static onnx_const *const_ints(onnx_ctx *x, int64_t n)
{
    return const_new(x, 1, &n, 1);
}

static void op_shape(onnx_ctx *x)
{
    onnx_value *in = in_val(x, 0);
    int64_t d[TENSOR_MAXDIM];
    int r;
    if (in->kind == VAL_DYN) {
        r = in->rank;
        if (in->shuf || in->ln)
            ndie(x, "Shape of a channel-shuffle or LayerNorm intermediate is not supported");
        d[0] = IMPORT_ONNX_BATCH;
        for (int k = 1; k < r; k++)
            d[k] = in->shape[k - 1];
        if (r == 3)
            d[2] = in->shape[2];   /* N x C x L is our C x 1 x L */
        if (in->nhwc)
            d[1] = in->shape[1], d[2] = in->shape[2], d[3] = in->shape[0];
    } else {
        onnx_const *c = as_const(x, in);
        r = c->ndim;
        memcpy(d, c->dims, sizeof d);
    }
    int64_t st = attr_int(x, "start", 0), en = attr_int(x, "end", r);
    if (st < 0) st += r;
    if (en < 0) en += r;
    if (st < 0) st = 0;
    if (en > r) en = r;
    if (en < st) en = st;
    onnx_const *c = const_ints(x, en - st);
    for (int64_t k = st; k < en; k++)
        c->i[k - st] = d[k];
    out_const(x, c);
}

static void op_gather(onnx_ctx *x)
{
    onnx_value *dv = in_val(x, 0);
    onnx_const *data = as_const(x, dv);
    if (!data)
        ndie(x, "Gather on computed tensors is not supported (only on constants)");
    onnx_const *idx = in_const(x, 1, "indices");
    int64_t axis = attr_int(x, "axis", 0);
    if (axis < 0)
        axis += data->ndim;
    if (axis < 0 || axis >= data->ndim || !idx->isint)
        ndie(x, "bad axis or indices");
    int nd = data->ndim - 1 + idx->ndim;
    if (nd > TENSOR_MAXDIM)
        ndie(x, "result has too many dimensions");
    int64_t dims[TENSOR_MAXDIM];
    int k = 0;
    for (int d = 0; d < axis; d++) dims[k++] = data->dims[d];
    for (int d = 0; d < idx->ndim; d++) dims[k++] = idx->dims[d];
    for (int d = (int)axis + 1; d < data->ndim; d++) dims[k++] = data->dims[d];
    onnx_const *r = const_new(x, nd, dims, data->isint);
    int64_t outer = 1, inner = 1, len = data->dims[axis];
    for (int d = 0; d < axis; d++) outer *= data->dims[d];
    for (int d = (int)axis + 1; d < data->ndim; d++) inner *= data->dims[d];
    int64_t o = 0;
    for (int64_t a = 0; a < outer; a++)
        for (int64_t j = 0; j < idx->n; j++) {
            int64_t ix = idx->i[j] < 0 ? idx->i[j] + len : idx->i[j];
            if (ix < 0 || ix >= len)
                ndie(x, "index %lld out of range", (long long)idx->i[j]);
            for (int64_t b = 0; b < inner; b++, o++) {
                int64_t src = (a * len + ix) * inner + b;
                if (data->isint) r->i[o] = data->i[src];
                else r->f[o] = data->f[src];
            }
        }
    out_const(x, r);
}

/* Unsqueeze and Squeeze of constants (axes as attribute before opset 13,
 * as input from 13). */
static void op_squeeze(onnx_ctx *x, int unsq)
{
    onnx_value *v = in_val(x, 0);
    onnx_const *c = as_const(x, v);
    int64_t axes[TENSOR_MAXDIM];
    int na = -1;
    if (x->opset < 13) {
        na = attr_ints(x, "axes", axes, TENSOR_MAXDIM);
    } else if (has_in(x, 1)) {
        onnx_const *a = in_const(x, 1, "axes");
        if (a->n > TENSOR_MAXDIM)
            ndie(x, "too many axes");
        na = (int)a->n;
        for (int k = 0; k < na; k++)
            axes[k] = const_int(x, a, k);
    }
    if (!c) {
        /* On computed tensors: only what leaves our storage unchanged,
         * N x D <-> N x D x 1 x 1. */
        onnx_value *d = in_dyn(x, 0, 0);
        int64_t want[2] = { 2, 3 };
        int ok = na == 2;
        for (int k = 0; ok && k < 2; k++) {
            int64_t ax = axes[k] < 0 ? axes[k] + (unsq ? 4 : d->rank) : axes[k];
            ok = ax == want[0] || ax == want[1];
            if (k && ax == (axes[0] < 0 ? axes[0] + (unsq ? 4 : d->rank) : axes[0]))
                ok = 0;
        }
        if (ok && unsq && d->rank == 2) {
            onnx_value copy = *d;
            copy.rank = 4;
            out_alias(x, &copy);
            return;
        }
        if (ok && !unsq && d->rank == 4 && d->shape[1] == 1 && d->shape[2] == 1) {
            onnx_value copy = *d;
            copy.rank = 2;
            out_alias(x, &copy);
            return;
        }
        ndie(x, "%s of a computed tensor is not supported (only between N x D and N x D x 1 x 1)",
             unsq ? "Unsqueeze" : "Squeeze");
    }
    int64_t dims[TENSOR_MAXDIM];
    int nd = 0;
    if (unsq) {
        if (na < 0)
            ndie(x, "axes are missing");
        nd = c->ndim + na;
        if (nd > TENSOR_MAXDIM)
            ndie(x, "too many dimensions");
        int mark[TENSOR_MAXDIM] = { 0 };
        for (int k = 0; k < na; k++) {
            int64_t ax = axes[k] < 0 ? axes[k] + nd : axes[k];
            if (ax < 0 || ax >= nd || mark[ax])
                ndie(x, "bad axes");
            mark[ax] = 1;
        }
        for (int d = 0, s = 0; d < nd; d++)
            dims[d] = mark[d] ? 1 : c->dims[s++];
    } else {
        int drop[TENSOR_MAXDIM] = { 0 };
        for (int k = 0; k < na; k++) {
            int64_t ax = axes[k] < 0 ? axes[k] + c->ndim : axes[k];
            if (ax < 0 || ax >= c->ndim || c->dims[ax] != 1)
                ndie(x, "bad axes");
            drop[ax] = 1;
        }
        for (int d = 0; d < c->ndim; d++)
            if (!(na < 0 ? c->dims[d] == 1 : drop[d]))
                dims[nd++] = c->dims[d];
    }
    onnx_const *r = const_new(x, nd, dims, c->isint);
    if (c->isint) memcpy(r->i, c->i, (size_t)c->n * sizeof *r->i);
    else memcpy(r->f, c->f, (size_t)c->n * sizeof *r->f);
    out_const(x, r);
}

static onnx_const *const_copy_shape(onnx_ctx *x, const onnx_const *c, int nd, const int64_t *dims)
{
    onnx_const *r = const_new(x, nd, dims, c->isint);
    if (r->n != c->n)
        ndie(x, "constant reshaped from %lld to %lld values", (long long)c->n, (long long)r->n);
    if (c->isint) memcpy(r->i, c->i, (size_t)c->n * sizeof *r->i);
    else memcpy(r->f, c->f, (size_t)c->n * sizeof *r->f);
    return r;
}

/* Reshape of a constant (the pads arithmetic PyTorch emits for F.pad). */
static void op_reshape_const(onnx_ctx *x, onnx_const *c)
{
    onnx_const *s = in_const(x, 1, "the target shape");
    if (!s->isint || s->ndim != 1 || s->n > TENSOR_MAXDIM)
        ndie(x, "the target shape must be a 1-D integer tensor");
    int64_t dims[TENSOR_MAXDIM], known = 1;
    int neg = -1, allowzero = (int)attr_int(x, "allowzero", 0);
    for (int k = 0; k < s->n; k++) {
        dims[k] = s->i[k];
        if (dims[k] == 0 && !allowzero) {
            if (k >= c->ndim)
                ndie(x, "0 in the target shape beyond the input's rank");
            dims[k] = c->dims[k];
        }
        if (dims[k] == -1) {
            if (neg >= 0)
                ndie(x, "more than one -1 in the target shape");
            neg = k;
        } else if (dims[k] < 0) {
            ndie(x, "bad target shape");
        } else if (__builtin_mul_overflow(known, dims[k], &known)) {
            ndie(x, "target shape too large");
        }
    }
    if (neg >= 0) {
        if (!known || c->n % known)
            ndie(x, "target shape does not fit %lld values", (long long)c->n);
        dims[neg] = c->n / known;
    }
    out_const(x, const_copy_shape(x, c, (int)s->n, dims));
}

static void op_constant_of_shape(onnx_ctx *x)
{
    onnx_const *s = in_const(x, 0, "the shape");
    if (!s->isint || s->ndim != 1 || s->n > TENSOR_MAXDIM)
        ndie(x, "the shape must be a 1-D integer tensor");
    for (int k = 0; k < s->n; k++)
        if (s->i[k] < 0)
            ndie(x, "negative dimension");
    const Onnx__AttributeProto *a = attr_find(x->np, "value");
    onnx_const *v = a && a->t ? const_decode(x, a->t) : NULL;
    if (v && v->n != 1)
        ndie(x, "value must hold one element");
    onnx_const *r = const_new(x, (int)s->n, s->i, v ? v->isint : 0);
    for (int64_t k = 0; k < r->n; k++) {
        if (r->isint) r->i[k] = v->i[0];
        else r->f[k] = v ? v->f[0] : 0.0f;
    }
    out_const(x, r);
}

static void slice_dyn(onnx_ctx *x);

/* Slice of a constant: starts/ends/axes as attributes before opset 10,
 * inputs (with steps) from 10; clamping as the ONNX spec says. */
static void op_slice(onnx_ctx *x)
{
    onnx_const *c = as_const(x, in_val(x, 0));
    if (!c) {
        slice_dyn(x);
        return;
    }
    int64_t st[TENSOR_MAXDIM], en[TENSOR_MAXDIM], ax[TENSOR_MAXDIM], sp[TENSOR_MAXDIM];
    int n;
    if (x->opset < 10) {
        n = attr_ints(x, "starts", st, TENSOR_MAXDIM);
        if (n < 0 || attr_ints(x, "ends", en, TENSOR_MAXDIM) != n)
            ndie(x, "starts and ends must have the same length");
        if (attr_ints(x, "axes", ax, TENSOR_MAXDIM) < 0)
            for (int k = 0; k < n; k++)
                ax[k] = k;
        for (int k = 0; k < n; k++)
            sp[k] = 1;
    } else {
        onnx_const *a = in_const(x, 1, "starts"), *b = in_const(x, 2, "ends");
        n = (int)a->n;
        if (b->n != n || n > TENSOR_MAXDIM)
            ndie(x, "starts and ends must have the same length");
        for (int k = 0; k < n; k++) {
            st[k] = const_int(x, a, k);
            en[k] = const_int(x, b, k);
            ax[k] = k;
            sp[k] = 1;
        }
        if (has_in(x, 3)) {
            onnx_const *q = in_const(x, 3, "axes");
            for (int k = 0; k < n; k++)
                ax[k] = const_int(x, q, k);
        }
        if (has_in(x, 4)) {
            onnx_const *q = in_const(x, 4, "steps");
            for (int k = 0; k < n; k++) {
                sp[k] = const_int(x, q, k);
                if (sp[k] < -ONNX_MAX_NUMEL || sp[k] > ONNX_MAX_NUMEL)
                    ndie(x, "bad steps");
            }
        }
    }
    int64_t b0[TENSOR_MAXDIM], stp[TENSOR_MAXDIM], dims[TENSOR_MAXDIM];
    for (int d = 0; d < c->ndim; d++) {
        b0[d] = 0;
        stp[d] = 1;
        dims[d] = c->dims[d];
    }
    for (int k = 0; k < n; k++) {
        int64_t d = ax[k] < 0 ? ax[k] + c->ndim : ax[k], len;
        if (d < 0 || d >= c->ndim || !sp[k])
            ndie(x, "bad axes or steps");
        len = c->dims[d];
        int64_t s0 = st[k], e0 = en[k];
        if (s0 < 0) s0 += len;
        if (e0 < 0) e0 += len;
        if (sp[k] > 0) {
            s0 = s0 < 0 ? 0 : s0 > len ? len : s0;
            e0 = e0 < 0 ? 0 : e0 > len ? len : e0;
            dims[d] = e0 > s0 ? (e0 - s0 + sp[k] - 1) / sp[k] : 0;
        } else {
            s0 = s0 < 0 ? -1 : s0 > len - 1 ? len - 1 : s0;
            e0 = e0 < -1 ? -1 : e0 > len - 1 ? len - 1 : e0;
            dims[d] = s0 > e0 ? (s0 - e0 - sp[k] - 1) / -sp[k] : 0;
        }
        b0[d] = s0;
        stp[d] = sp[k];
    }
    onnx_const *r = const_new(x, c->ndim, dims, c->isint);
    for (int64_t k = 0; k < r->n; k++) {
        int64_t rem = k, src = 0, stride = 1;
        for (int d = c->ndim - 1; d >= 0; d--) {
            int64_t i = rem % dims[d];
            rem /= dims[d];
            src += (b0[d] + i * stp[d]) * stride;
            stride *= c->dims[d];
        }
        if (c->isint) r->i[k] = c->i[src];
        else r->f[k] = c->f[src];
    }
    out_const(x, r);
}

static void op_cast(onnx_ctx *x)
{
    onnx_value *v = in_val(x, 0);
    if (v->kind == VAL_DYN) {
        int64_t to = attr_int(x, "to", 1);
        if (to != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
            ndie(x, "Cast of computed tensors to %s is not supported", dtype_name((int)to));
        out_alias(x, in_dyn(x, 0, 0));
        return;
    }
    onnx_const *c = as_const(x, v);
    int64_t to = attr_int(x, "to", 1);
    int isint = !(to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || to == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE);
    onnx_const *r = const_new(x, c->ndim, c->dims, isint);
    for (int64_t k = 0; k < c->n; k++) {
        if (isint) r->i[k] = c->isint ? c->i[k] : f2i(x, c->f[k]);
        else r->f[k] = (float)const_num(c, k);
    }
    out_const(x, r);
}

static void transpose_dyn(onnx_ctx *x);

static void op_transpose(onnx_ctx *x)
{
    onnx_value *v = in_val(x, 0);
    onnx_const *c = as_const(x, v);
    if (!c) {
        transpose_dyn(x);
        return;
    }
    int64_t perm[TENSOR_MAXDIM];
    int np = attr_ints(x, "perm", perm, TENSOR_MAXDIM);
    if (np < 0) {
        np = c->ndim;
        for (int d = 0; d < np; d++)
            perm[d] = np - 1 - d;
    }
    if (np != c->ndim)
        ndie(x, "perm does not match the rank");
    int64_t dims[TENSOR_MAXDIM], st[TENSOR_MAXDIM];
    int seen[TENSOR_MAXDIM] = { 0 };
    for (int d = 0; d < np; d++) {
        if (perm[d] < 0 || perm[d] >= np || seen[perm[d]]++)
            ndie(x, "bad perm");
        dims[d] = c->dims[perm[d]];
    }
    int64_t s = 1;
    for (int d = np - 1; d >= 0; d--) {
        st[d] = s;
        s *= c->dims[d];
    }
    onnx_const *r = const_new(x, np, dims, c->isint);
    for (int64_t k = 0; k < r->n; k++) {
        int64_t rem = k, src = 0;
        for (int d = np - 1; d >= 0; d--) {
            int64_t i = rem % dims[d];
            rem /= dims[d];
            src += i * st[perm[d]];
        }
        if (c->isint) r->i[k] = c->i[src];
        else r->f[k] = c->f[src];
    }
    out_const(x, r);
}

static void op_constant(onnx_ctx *x)
{
    const Onnx__AttributeProto *a;
    onnx_const *c = NULL;
    if ((a = attr_find(x->np, "value")) && a->t) {
        c = const_decode(x, a->t);
    } else if ((a = attr_find(x->np, "value_float")) && a->has_f) {
        c = const_new(x, 0, NULL, 0);
        c->f[0] = a->f;
    } else if ((a = attr_find(x->np, "value_int")) && a->has_i) {
        c = const_new(x, 0, NULL, 1);
        c->i[0] = a->i;
    } else if ((a = attr_find(x->np, "value_floats"))) {
        int64_t n = (int64_t)a->n_floats;
        c = const_new(x, 1, &n, 0);
        memcpy(c->f, a->floats, a->n_floats * sizeof *c->f);
    } else if ((a = attr_find(x->np, "value_ints"))) {
        int64_t n = (int64_t)a->n_ints;
        c = const_new(x, 1, &n, 1);
        memcpy(c->i, a->ints, a->n_ints * sizeof *c->i);
    } else {
        ndie(x, "Constant without a value, value_float(s) or value_int(s) is not supported");
    }
    out_const(x, c);
}

/* ------------------------------------------- views: shuffle, NHWC, LayerNorm */

/* Reshape's target shape for an input of ONNX dims d (rank r): 0 copies
 * the input's dimension (unless allowzero), one -1 is inferred from the
 * values per image; t[0], the batch, is kept as given. Returns the rank. */
static int reshape_dims(onnx_ctx *x, const int64_t *d, int r, int64_t *t)
{
    onnx_const *s = in_const(x, 1, "the target shape");
    if (!s->isint || s->ndim != 1 || s->n < 1 || s->n > TENSOR_MAXDIM)
        ndie(x, "the target shape must be a 1-D integer tensor");
    int n = (int)s->n, neg = -1, allowzero = (int)attr_int(x, "allowzero", 0);
    int64_t per = 1, rest = 1;
    for (int k = 1; k < r; k++)
        per *= d[k];
    for (int k = 0; k < n; k++) {
        t[k] = s->i[k];
        if (t[k] == 0 && !allowzero)
            t[k] = k < r ? d[k] : 0;
        if (t[k] == -1 && k > 0) {
            if (neg >= 0)
                ndie(x, "more than one -1 in the target shape");
            neg = k;
        } else if (k > 0 && (t[k] < 0 || t[k] > ONNX_MAX_NUMEL ||
                             __builtin_mul_overflow(rest, t[k], &rest)))
            ndie(x, "Reshape to these dimensions is not supported");
    }
    if (neg > 0) {
        if (rest <= 0 || per % rest)
            ndie(x, "target shape does not fit %lld values per image", (long long)per);
        t[neg] = per / rest;
    }
    return n;
}

/* Reshape N x C x H x W -> N x g x C/g x H x W (the start of a channel
 * shuffle), or of such a view back. Returns 0 when in is neither. */
static int reshape_shuffle(onnx_ctx *x, onnx_value *in)
{
    if (in->kind != VAL_DYN || in->has_pad || in->nhwc || in->ln)
        return 0;
    int64_t C = in->shape[0], H = in->shape[1], W = in->shape[2], t[TENSOR_MAXDIM];
    if (!in->shuf) {
        if (in->rank != 4)
            return 0;
        int64_t d[4] = { 1, C, H, W };
        if (reshape_dims(x, d, 4, t) != 5 || t[1] < 1 || t[1] * t[2] != C || t[3] != H || t[4] != W)
            return 0;
        onnx_value v = *in;
        v.rank = 5;
        v.shuf = 1;
        v.sgroups = t[1];
        out_alias(x, &v);
        return 1;
    }
    int64_t g = in->sgroups;
    int64_t d[5] = { 1, in->shuf == 1 ? g : C / g, in->shuf == 1 ? C / g : g, H, W };
    int n = reshape_dims(x, d, 5, t);
    if (n != 4 || t[1] != C || t[2] != H || t[3] != W) {
        char sb[128];
        ndie(x, "Reshape of the 5-D channel-shuffle view to %s is not supported (only back to "
                "N x %lld x %lld x %lld)", tensor_shape_str(n, t, sb, sizeof sb), (long long)C,
             (long long)H, (long long)W);
    }
    onnx_value v = *in;
    v.rank = 4;
    v.shuf = 0;
    if (in->shuf == 1) {   /* split and joined again: nothing moved */
        out_alias(x, &v);
        return 1;
    }
    char *name = our_name(x);
    onnx_value *src = &v;
    x->op_hint = OP_SHUFFLE;
    node *nd = add_node(x, name, OP_SHUFFLE, 1, &src);
    x->op_hint = NULL;
    node_set1(nd, "groups", (double)g);
    int64_t shape[3] = { C, H, W };
    out_dyn(x, name, 4, shape, v.nonneg);
    free(name);
    return 1;
}

/* Transpose of a computed tensor: only views our storage can follow. */
static void transpose_dyn(onnx_ctx *x)
{
    onnx_value *in = in_val(x, 0);
    int64_t perm[TENSOR_MAXDIM];
    int np = attr_ints(x, "perm", perm, TENSOR_MAXDIM);
    static const int64_t shuf[5] = { 0, 2, 1, 3, 4 }, tolast[4] = { 0, 2, 3, 1 },
                         tofirst[4] = { 0, 3, 1, 2 };
    onnx_value v = *in;
    int ok = 0;
    if (in->shuf && np == 5 && !memcmp(perm, shuf, sizeof shuf)) {
        v.shuf = 3 - in->shuf;
        ok = 1;
    } else if (!in->shuf && !in->ln && !in->has_pad && in->rank == 4 && np == 4) {
        if (!in->nhwc && !memcmp(perm, tolast, sizeof tolast))
            v.nhwc = 1, ok = 1;
        else if (in->nhwc && !memcmp(perm, tofirst, sizeof tofirst))
            v.nhwc = 0, ok = 1;
    }
    if (!ok) {
        char pb[96] = "";
        for (int k = 0; k < np && strlen(pb) < 80; k++)
            snprintf(pb + strlen(pb), sizeof pb - strlen(pb), "%s%lld", k ? "," : "", (long long)perm[k]);
        ndie(x, "Transpose of a computed %s tensor with perm (%s) is not supported (only NCHW -> "
                "NHWC (0,2,3,1) and back (0,3,1,2) around per-pixel ops, and a channel shuffle's "
                "(0,2,1,3,4) between two Reshapes)",
             in->shuf ? "5-D" : in->nhwc ? "channels-last" : "N x C x H x W", np < 0 ? "reversed" : pb);
    }
    v.foldable = 0;
    out_alias(x, &v);
}

/* Channels a .. b-1 of a computed tensor as output k (a no-op alias when
 * they are all of them). */
static void channel_slice(onnx_ctx *x, onnx_value *in, int k, int64_t a, int64_t b)
{
    int64_t shape[3] = { b - a, in->shape[1], in->shape[2] };
    if (a == 0 && b == in->shape[0] && k == 0) {
        out_alias(x, in);
        return;
    }
    char *name = our_name(x);
    node *nd = add_node(x, name, OP_CSLICE, 1, &in);
    node_set1(nd, "start", (double)a);
    node_set1(nd, "end", (double)b);
    out_dyn_k(x, k, name, in->rank, shape, in->nonneg);
    free(name);
}

/* Slice of a computed tensor: along the channels only, step 1. */
static void slice_dyn(onnx_ctx *x)
{
    onnx_value *in = in_dyn(x, 0, 0);
    if (x->opset < 10)
        ndie(x, "Slice of computed tensors before opset 10 is not supported");
    onnx_const *a = in_const(x, 1, "starts"), *b = in_const(x, 2, "ends");
    if (a->n != 1 || b->n != 1)
        ndie(x, "Slice of a computed tensor along %lld axes is not supported (only along the "
                "channels, axis 1)", (long long)a->n);
    int64_t axis = 0, step = 1, C = in->shape[0];
    if (has_in(x, 3))
        axis = const_int(x, in_const(x, 3, "axes"), 0);
    if (has_in(x, 4))
        step = const_int(x, in_const(x, 4, "steps"), 0);
    if (axis < 0)
        axis += in->rank;
    if (axis != 1 || step != 1)
        ndie(x, "Slice of a computed tensor along axis %lld with step %lld is not supported (only "
                "along the channels, axis 1, step 1)", (long long)axis, (long long)step);
    int64_t s0 = const_int(x, a, 0), e0 = const_int(x, b, 0);
    if (s0 < 0) s0 += C;
    if (e0 < 0) e0 += C;
    s0 = s0 < 0 ? 0 : s0 > C ? C : s0;
    e0 = e0 < 0 ? 0 : e0 > C ? C : e0;
    if (e0 <= s0)
        ndie(x, "Slice keeps no channels");
    channel_slice(x, in, 0, s0, e0);
}

/* Split along the channels into outputs of the given sizes (equal parts
 * when none are given). */
static void op_split(onnx_ctx *x)
{
    onnx_value *in = in_dyn(x, 0, 0);
    int64_t axis = attr_int(x, "axis", 0), sz[64], C = in->shape[0];
    if (axis < 0)
        axis += in->rank;
    if (axis != 1)
        ndie(x, "Split along axis %lld is not supported (only the channels, axis 1)", (long long)axis);
    int no = (int)x->np->n_output, ns = -1;
    if (no < 1 || no > 64)
        ndie(x, "Split into %d outputs is not supported (1 to 64 are)", no);
    if (x->opset < 13) {
        ns = attr_ints(x, "split", sz, 64);
    } else if (has_in(x, 1)) {
        onnx_const *c = in_const(x, 1, "split");
        if (c->n > 64)
            ndie(x, "too many parts");
        ns = (int)c->n;
        for (int k = 0; k < ns; k++)
            sz[k] = const_int(x, c, k);
    }
    if (ns < 0) {
        if (C % no)
            ndie(x, "%lld channels do not split into %d equal parts", (long long)C, no);
        ns = no;
        for (int k = 0; k < no; k++)
            sz[k] = C / no;
    }
    int64_t tot = 0;
    for (int k = 0; k < ns; k++) {
        if (sz[k] < 1)
            ndie(x, "split sizes must be positive");
        tot += sz[k];
    }
    if (ns != no || tot != C)
        ndie(x, "split sizes do not add up to the %lld channels in %d outputs", (long long)C, no);
    int64_t a = 0;
    for (int k = 0; k < no; a += sz[k], k++)
        if (*x->np->output[k])
            channel_slice(x, in, k, a, a + sz[k]);
}

/* Axes of a ReduceMean (attribute before opset 18): 1 when they are the
 * channel axis alone (the last of a channels-last view, axis 1 otherwise). */
static int reduces_channels(onnx_ctx *x, const onnx_value *v)
{
    int64_t ax[8];
    int n = attr_ints(x, "axes", ax, 8);
    if (n != 1 || !attr_int(x, "keepdims", 1))
        return 0;
    int64_t a = ax[0] < 0 ? ax[0] + v->rank : ax[0];
    return v->rank == 4 && a == (v->nhwc ? 3 : 1);
}

/* Our LayerNorm over the channels of value src (the chain's input). */
static void layernorm_node(onnx_ctx *x, onnx_value *src, double eps, const onnx_const *g,
                           const onnx_const *b)
{
    int64_t C = src->shape[0];
    onnx_value sv = *src;   /* out_dyn may move the value table */
    const char *hint = x->op_hint;
    x->op_hint = "LayerNorm";
    char *name = our_name(x);
    node *nd = add_node(x, name, OP_LAYERNORM, 1, &src);
    x->op_hint = hint;
    node_set1(nd, AT_EPS, eps);
    tensor *G = tensor_new(1, &C), *B = tensor_new(1, &C);
    for (int64_t k = 0; k < C; k++) {
        G->data[k] = g ? (float)const_num(g, k) : 1.0f;
        B->data[k] = b ? (float)const_num(b, k) : 0.0f;
    }
    node_add_weight(nd, "gamma", G);
    node_add_weight(nd, "beta", B);
    onnx_value *o = out_dyn(x, name, sv.rank, sv.shape, 0);
    o->nhwc = sv.nhwc;
    o->foldable = 1;
    free(name);
}

static void op_reduce(onnx_ctx *x, int ismax);

static void f_reducemean(onnx_ctx *x)
{
    onnx_value *v = in_val(x, 0);
    if (v->kind == VAL_DYN && !v->shuf && !v->has_pad && (v->ln == 0 || v->ln == 3) &&
        reduces_channels(x, v)) {
        onnx_value o = *v;
        if (v->ln == 0)
            o.ln_src = v->name;
        o.ln = v->ln + 1;
        out_alias(x, &o);
        return;
    }
    /* the mean over H and W (x.mean([2, 3])): a GlobalAvgPool */
    op_reduce(x, 0);
}

static void f_pow(onnx_ctx *x)
{
    onnx_value *v = in_val(x, 0);
    onnx_const *e = in_val(x, 1)->kind == VAL_CONST ? as_const(x, in_val(x, 1)) : NULL;
    if (v->kind == VAL_DYN && v->ln == 2 && e && e->n == 1 && const_num(e, 0) == 2) {
        onnx_value o = *v;
        o.ln = 3;
        out_alias(x, &o);
        return;
    }
    ndie(x, "Pow is supported only as the square of a LayerNorm's centred input");
}

static void f_sqrt(onnx_ctx *x)
{
    onnx_value *v = in_val(x, 0);
    if (v->kind == VAL_DYN && v->ln == 5) {
        onnx_value o = *v;
        o.ln = 6;
        out_alias(x, &o);
        return;
    }
    ndie(x, "Sqrt is supported only as the standard deviation of a LayerNorm");
}

/* The arithmetic steps of a written-out LayerNorm; 0 when a, b are not. */
static int ln_arith(onnx_ctx *x, const char *op)
{
    if (nin(x) != 2)
        return 0;
    onnx_value *a = in_val(x, 0), *b = in_val(x, 1);
    if (!(a->kind == VAL_DYN && a->ln) && !(b->kind == VAL_DYN && b->ln))
        return 0;
    onnx_value o = *a;
    if (op[0] == 'S' && a->kind == VAL_DYN && !a->ln && b->kind == VAL_DYN && b->ln == 1 &&
        !strcmp(b->ln_src, a->name)) {
        o.ln = 2;                       /* x - mean */
        o.ln_src = b->ln_src;
    } else if (op[0] == 'M' && a->ln == 2 && b->ln == 2 && a == b) {
        o.ln = 3;                       /* (x - mean)^2 as a product */
    } else if (op[0] == 'A' && (a->ln == 4 || b->ln == 4) &&
               (a->kind == VAL_CONST || b->kind == VAL_CONST)) {
        onnx_value *v = a->ln == 4 ? a : b;
        onnx_const *e = as_const(x, a->ln == 4 ? b : a);
        if (e->n != 1)
            return 0;
        o = *v;
        o.ln = 5;                       /* var + eps */
        o.ln_eps = const_num(e, 0);
    } else if (op[0] == 'D' && a->ln == 2 && b->kind == VAL_DYN && b->ln == 6 &&
               !strcmp(a->ln_src, b->ln_src)) {
        int k = val_find(x, a->ln_src);
        if (k < 0)
            return 0;
        layernorm_node(x, &x->v[k], b->ln_eps, NULL, NULL);
        return 1;
    } else {
        ndie(x, "%s does not continue the LayerNorm chain (ReduceMean, Sub, Pow, ReduceMean, "
                "Add eps, Sqrt, Div) that its input '%s' is part of", op,
             (a->kind == VAL_DYN && a->ln ? a : b)->name);
    }
    out_alias(x, &o);
    return 1;
}

/* ONNX LayerNormalization (opset 17): over the channels of a channels-last
 * view (axis -1), or of N x C (x 1 x 1). */
static void f_layernorm(onnx_ctx *x)
{
    onnx_value *in = in_dyn(x, 0, IN_NHWC);
    int64_t axis = attr_int(x, "axis", -1);
    if (axis < 0)
        axis += in->rank;
    int ok = (in->nhwc && axis == 3) || (!in->nhwc && axis == 1 &&
                                         (in->rank == 2 || (in->shape[1] == 1 && in->shape[2] == 1)));
    if (!ok)
        ndie(x, "LayerNormalization over axis %lld of a rank-%d %s tensor is not supported (only over "
                "the channels: the last axis of NHWC, or N x C)", (long long)axis, in->rank,
             in->nhwc ? "channels-last" : "N x C x H x W");
    for (size_t k = 1; k < x->np->n_output; k++)
        if (*x->np->output[k])
            ndie(x, "the Mean and InvStdDev outputs are not supported");
    int64_t C = in->shape[0];
    onnx_const *g = in_const(x, 1, "Scale"), *b = has_in(x, 2) ? in_const(x, 2, "B") : NULL;
    if (g->n != C || (b && b->n != C))
        ndie(x, "Scale and B must have %lld values", (long long)C);
    layernorm_node(x, in, attr_float(x, "epsilon", 1e-5), g, b);
}

/* MatMul of a channels-last view by a constant C x D: a 1x1 convolution. */
static void matmul_nhwc(onnx_ctx *x, onnx_value *a)
{
    onnx_const *B = in_const(x, 1, "B (the weight)");
    int64_t C = a->shape[0];
    if (B->isint || B->ndim != 2 || B->dims[0] != C)
        ndie(x, "B must be a float matrix with %lld rows (the channels)", (long long)C);
    int64_t D = B->dims[1], wd[4] = { D, C, 1, 1 };
    tensor *W = tensor_new(4, wd);
    for (int64_t o = 0; o < D; o++)
        for (int64_t i = 0; i < C; i++)
            W->data[o * C + i] = B->f[i * D + o];
    char *name = our_name(x);
    node *nd = add_node(x, name, OP_CONV, 1, &a);
    set2(nd, AT_STRIDE, 1, 1);
    int64_t p[4] = { 0, 0, 0, 0 };
    set4(nd, AT_PAD, p);
    set2(nd, AT_DILATION, 1, 1);
    node_set1(nd, AT_GROUPS, 1);
    node_add_weight(nd, "weight", W);
    int64_t shape[3] = { D, a->shape[1], a->shape[2] };
    onnx_value *o = out_dyn(x, name, 4, shape, 0);
    o->nhwc = 1;
    o->foldable = 1;
    free(name);
}

/* InstanceNormalization: per image and channel over H x W. */
static void f_instnorm(onnx_ctx *x)
{
    onnx_value *in = in_dyn(x, 0, 0);
    need_spatial(x, in);
    int64_t C = in->shape[0];
    onnx_const *g = in_const(x, 1, "scale"), *b = in_const(x, 2, "B");
    if (g->isint || b->isint || g->n != C || b->n != C)
        ndie(x, "scale and B must have %lld float values", (long long)C);
    char *name = our_name(x);
    node *nd = add_node(x, name, OP_INSTNORM, 1, &in);
    node_set1(nd, AT_EPS, attr_float(x, "epsilon", 1e-5));
    node_add_weight(nd, "gamma", tensor_of(g->f, 1, &C));
    node_add_weight(nd, "beta", tensor_of(b->f, 1, &C));
    int64_t shape[3] = { in->shape[0], in->shape[1], in->shape[2] };
    out_dyn(x, name, in->rank, shape, 0);
    free(name);
}

/* Resize (opset 10+) and Upsample (7-9) over H and W: nearest, linear or
 * cubic (Keys' kernel, cubic_coeff_a; edges clamped, exclude_outside 0);
 * the coordinate modes and nearest roundings our Resize op knows. */
static void op_resize_onnx(onnx_ctx *x)
{
    onnx_value *in = in_dyn(x, 0, 0);
    if (in->rank != 4)
        ndie(x, "only N x C x H x W inputs are supported (rank %d given)", in->rank);
    int up = !strcmp(x->np->op_type, "Upsample");
    char mb[32], cb[48], nb[48];
    const char *mode = attr_str(x, "mode", "nearest", mb, sizeof mb);
    int linear = !strcmp(mode, "linear") || !strcmp(mode, "bilinear") ? 1 : !strcmp(mode, "cubic") ? 2 : 0;
    if (!linear && strcmp(mode, "nearest"))
        ndie(x, "mode '%s' is not supported (nearest, linear and cubic are)", mode);
    int coord = 1, nearest = 0;   /* before opset 11: asymmetric, floor */
    if (!up && x->opset >= 11) {
        static const char *cm[] = { "half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel" };
        static const char *nm[] = { "floor", "round_prefer_floor", "round_prefer_ceil", "ceil" };
        const char *c = attr_str(x, "coordinate_transformation_mode", "half_pixel", cb, sizeof cb);
        const char *n = attr_str(x, "nearest_mode", "round_prefer_floor", nb, sizeof nb);
        coord = -1, nearest = -1;
        for (int k = 0; k < 4; k++) {
            if (!strcmp(c, cm[k])) coord = k;
            if (!strcmp(n, nm[k])) nearest = k;
        }
        if (coord < 0)
            ndie(x, "coordinate_transformation_mode '%s' is not supported (half_pixel, asymmetric, "
                    "align_corners, pytorch_half_pixel are)", c);
        if (nearest < 0)
            ndie(x, "nearest_mode '%s' is not supported", n);
        if (attr_int(x, "exclude_outside", 0))
            ndie(x, "exclude_outside=1 is not supported");
    }
    /* scales: attribute (Upsample 7-8), input 1 (Upsample 9, Resize 10),
     * input 2 (Resize 11+); sizes: input 3 (Resize 11+) */
    double sc[4] = { 1, 1, 0, 0 };
    int64_t size[2] = { 0, 0 };
    const Onnx__AttributeProto *sa = up ? attr_find(x->np, "scales") : NULL;
    onnx_const *s = NULL, *z = NULL;
    if (sa) {
        if (sa->n_floats != 4)
            ndie(x, "scales must have 4 values");
        for (int k = 0; k < 4; k++)
            sc[k] = sa->floats[k];
    } else {
        int si = (up || x->opset < 11) ? 1 : 2;
        if (has_in(x, si) && (s = in_const(x, si, "scales"))->n == 0)
            s = NULL;
        if (!up && x->opset >= 11 && has_in(x, 3))
            z = in_const(x, 3, "sizes");
        if (s) {
            if (s->n != 4)
                ndie(x, "scales must have 4 values");
            for (int k = 0; k < 4; k++)
                sc[k] = const_num(s, k);
        }
    }
    if (z) {
        if (z->n != 4)
            ndie(x, "sizes must have 4 values");
        if (const_int(x, z, 0) != 1 && const_int(x, z, 0) != IMPORT_ONNX_BATCH &&
            const_int(x, z, 1) != in->shape[0])
            ndie(x, "resizing the batch or the channels is not supported");
        size[0] = const_int(x, z, 2), size[1] = const_int(x, z, 3);
        sc[2] = sc[3] = 0;
    } else if (s || sa) {
        if (sc[0] != 1 || sc[1] != 1)
            ndie(x, "resizing the batch or the channels is not supported");
        if (!(sc[2] > 0 && sc[3] > 0 && sc[2] < 1e6 && sc[3] < 1e6))
            ndie(x, "scales must be positive");
        size[0] = (int64_t)floor(in->shape[1] * sc[2]);
        size[1] = (int64_t)floor(in->shape[2] * sc[3]);
    } else {
        ndie(x, "neither scales nor sizes are given");
    }
    if (size[0] < 1 || size[1] < 1 || size[0] > ONNX_MAX_DIM || size[1] > ONNX_MAX_DIM)
        ndie(x, "output size %lldx%lld is not supported", (long long)size[0], (long long)size[1]);
    char *name = our_name(x);
    node *nd = add_node(x, name, OP_RESIZE, 1, &in);
    set2(nd, "size", size[0], size[1]);
    node_set1(nd, "mode", linear);
    node_set1(nd, "coord", coord);
    node_set1(nd, "nearest", nearest);
    if (linear == 2)
        node_set1(nd, "cubic_a", attr_float(x, "cubic_coeff_a", -0.75f));
    if (sc[2] > 0) {
        double v[2] = { sc[2], sc[3] };
        node_set(nd, "scale", 2, v);
    }
    int64_t shape[3] = { in->shape[0], size[0], size[1] };
    out_dyn(x, name, 4, shape, in->nonneg);
    free(name);
}

/* ConvTranspose's pads from output_shape or auto_pad SAME_UPPER/LOWER
 * (ONNX: total = s (in - 1) + output_padding + (k - 1) d + 1 - out; SAME
 * outputs in x s; SAME_UPPER and NOTSET pad total/2 at the start, the
 * rest at the end, SAME_LOWER the other way round). A negative end pad
 * (output_shape above the natural size) grows output_padding. */
static void convtranspose_pads(onnx_ctx *x, const onnx_value *in, spatial *sp, int64_t *op)
{
    char buf[32];
    const char *ap = attr_str(x, "auto_pad", "NOTSET", buf, sizeof buf);
    int same = !strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER");
    if (!same && strcmp(ap, "NOTSET") && strcmp(ap, "VALID"))
        ndie(x, "auto_pad '%s' is not supported", ap);
    int64_t os[4];
    int n = attr_ints(x, "output_shape", os, 4);
    if (n >= 0 && n != 2 && n != 4)
        ndie(x, "output_shape has %d values (2 expected: H, W)", n);
    if (n < 0 && !same) {
        if (!strcmp(ap, "VALID"))
            for (int k = 0; k < 4; k++)
                sp->p[k] = 0;
        return;
    }
    for (int k = 0; k < 2; k++) {
        int64_t i = in->shape[1 + k];
        int64_t out = n >= 0 ? os[n - 2 + k] : i * sp->s[k];
        if (out < 1 || out > ONNX_MAX_DIM)
            ndie(x, "output_shape %lld is not supported", (long long)out);
        int64_t tot = sp->s[k] * (i - 1) + op[k] + (sp->k[k] - 1) * sp->d[k] + 1 - out;
        int64_t half = tot / 2;
        int64_t pb = strcmp(ap, "SAME_LOWER") ? half : tot - half, pe = tot - pb;
        if (pb < 0)
            ndie(x, "output_shape %lld needs the output to grow at its start, which is not supported",
                 (long long)out);
        if (pe < 0)
            op[k] -= pe, pe = 0;
        sp->p[k] = pb, sp->p[k + 2] = pe;
    }
}

/* ConvTranspose: 2-D; pads given, or made from output_shape or auto_pad. */
static void op_convtranspose(onnx_ctx *x)
{
    onnx_value *in = in_dyn(x, 0, 0);
    if (in->rank != 4)
        ndie(x, "input of rank %d is not supported (only 2-D: N x C x H x W)", in->rank);
    onnx_const *w = in_const(x, 1, "the weight");
    int64_t g = attr_int(x, "group", 1), cin = in->shape[0];
    if (w->isint || w->ndim != 4 || w->dims[0] != cin || g < 1 || cin % g)
        ndie(x, "the weight must be a float Cin x Cout/group x kh x kw tensor with Cin = %lld",
             (long long)cin);
    spatial sp;
    sp.k[0] = w->dims[2];
    sp.k[1] = w->dims[3];
    spatial_attrs(x, in, &sp, 0);
    int64_t op[2] = { 0, 0 };
    spatial_list(x, "output_padding", 2, op);
    convtranspose_pads(x, in, &sp, op);
    for (int k = 0; k < 2; k++)
        if (op[k] >= sp.s[k] && op[k] >= sp.d[k])
            ndie(x, "output_padding (or output_shape) adds %lld rows or columns; below the stride "
                 "%lld is supported", (long long)op[k], (long long)sp.s[k]);
    int64_t cout = w->dims[1] * g;
    onnx_const *b = NULL;
    if (has_in(x, 2)) {
        b = in_const(x, 2, "the bias");
        if (b->isint || b->n != cout)
            ndie(x, "bias has %lld values, %lld expected", (long long)b->n, (long long)cout);
    }
    int64_t shape[3] = { cout,
                         (in->shape[1] - 1) * sp.s[0] - sp.p[0] - sp.p[2] + sp.d[0] * (sp.k[0] - 1) + 1 + op[0],
                         (in->shape[2] - 1) * sp.s[1] - sp.p[1] - sp.p[3] + sp.d[1] * (sp.k[1] - 1) + 1 + op[1] };
    if (shape[1] < 1 || shape[2] < 1 || shape[1] > ONNX_MAX_DIM || shape[2] > ONNX_MAX_DIM)
        ndie(x, "output size %lldx%lld is not supported", (long long)shape[1], (long long)shape[2]);
    char *name = our_name(x);
    node *nd = add_node(x, name, OP_DECONV, 1, &in);
    set2(nd, AT_STRIDE, sp.s[0], sp.s[1]);
    set4(nd, AT_PAD, sp.p);
    set2(nd, AT_DILATION, sp.d[0], sp.d[1]);
    node_set1(nd, AT_GROUPS, (double)g);
    if (op[0] || op[1])
        set2(nd, "output_padding", op[0], op[1]);
    node_add_weight(nd, "weight", tensor_of(w->f, 4, w->dims));
    if (b)
        node_add_weight(nd, "bias", tensor_of(b->f, 1, &cout));
    out_dyn(x, name, 4, shape, 0);
    free(name);
}

/* ------------------------------------------- PyTorch's LocalResponseNorm */

/* F.local_response_norm as torch.onnx.export writes it (opset 9-17):
 *   div = X * X, Unsqueeze 1, Reshape N x 1 x C x H x W, Pad the C axis by
 *   size/2 before and (size-1)/2 after, AveragePool (size, 1, 1), [Shape,
 *   Gather, Equal, If: Squeeze 1], Reshape N x C x H x W, Mul alpha, Add k,
 *   Pow beta; X / div
 * followed step by step (value field lrn: 1 the square, 2 5-D, 3 padded,
 * 4 pooled, 5 4-D again, 6 scaled, 7 shifted, 8 the power) and folded into
 * one LRN node, whose window and alpha are PyTorch's. */

/* The one node reading output 0 of the current node, or NULL. */
static const Onnx__NodeProto *sole_consumer(const onnx_ctx *x)
{
    const Onnx__NodeProto *c = NULL;
    const char *out = x->np->n_output ? x->np->output[0] : "";
    for (size_t k = 0; k < x->g->n_node; k++)
        for (size_t j = 0; j < x->g->node[k]->n_input; j++)
            if (!strcmp(x->g->node[k]->input[j], out)) {
                if (c && c != x->g->node[k])
                    return NULL;
                c = x->g->node[k];
            }
    return c;
}

static int lrn_scalar(onnx_ctx *x, int i, double *v)
{
    onnx_value *c = in_val(x, i);
    onnx_const *k = c->kind == VAL_CONST ? as_const(x, c) : NULL;
    if (!k || k->n != 1)
        return 0;
    *v = const_num(k, 0);
    return 1;
}

static void lrn_out(onnx_ctx *x, const onnx_value *from, int stage, int rank)
{
    onnx_value o = *from;
    o.lrn = stage;
    o.rank = rank;
    out_alias(x, &o);
}

/* The steps of the LocalResponseNorm pattern that make its window over
 * the channels: Pad (of the channel axis only, with zeros), then
 * AveragePool of kernel size x 1 x 1; 1 when node x is one (handled). */
static int lrn_window_step(onnx_ctx *x, const char *op, const onnx_value *v, int st)
{
    if (!strcmp(op, "Pad") && (st == 2 || st == 3) && x->opset >= 11) {
        onnx_const *p = in_const(x, 1, "pads");
        if (p->n == 10) {
            int ok = 1;
            for (int k = 0; k < 10; k++)
                if (k != 2 && k != 7 && const_int(x, p, k))
                    ok = 0;
            double val = 0;
            if (has_in(x, 2) && !lrn_scalar(x, 2, &val))
                ok = 0;
            if (ok && val == 0) {
                onnx_value o = *v;
                o.lrn_pad[0] += const_int(x, p, 2);
                o.lrn_pad[1] += const_int(x, p, 7);
                lrn_out(x, &o, 3, 5);
                return 1;
            }
        }
    }
    if (!strcmp(op, "AveragePool") && (st == 2 || st == 3)) {
        int64_t k[3], s[3] = { 1, 1, 1 }, p[6] = { 0 };
        if (attr_ints(x, "kernel_shape", k, 3) == 3 && k[1] == 1 && k[2] == 1 &&
            attr_ints(x, "strides", s, 3) != 0 && s[0] == 1 && s[1] == 1 && s[2] == 1 &&
            (attr_ints(x, "pads", p, 6), !p[0] && !p[1] && !p[2] && !p[3] && !p[4] && !p[5]) &&
            v->lrn_pad[0] == k[0] / 2 && v->lrn_pad[1] == (k[0] - 1) / 2) {
            onnx_value o = *v;
            o.lrn_size = k[0];
            lrn_out(x, &o, 4, 5);
            return 1;
        }
    }
    return 0;
}

/* 1 when the current node is a step of the pattern (handled here). */
static int lrn_step(onnx_ctx *x)
{
    const char *op = x->np->op_type;
    int n = nin(x);
    onnx_value *a = n >= 1 && has_in(x, 0) ? in_val(x, 0) : NULL;
    onnx_value *b = n >= 2 && has_in(x, 1) ? in_val(x, 1) : NULL;
    int la = a && a->kind == VAL_DYN ? a->lrn : 0, lb = b && b->kind == VAL_DYN ? b->lrn : 0;
    if (!la && !lb) {
        /* the start: X * X read only by an Unsqueeze */
        const Onnx__NodeProto *c;
        if (!strcmp(op, "Mul") && n == 2 && a->kind == VAL_DYN && a == b && !a->ln && !a->shuf &&
            !a->nhwc && !a->has_pad && a->rank == 4 && (c = sole_consumer(x)) &&
            !strcmp(c->op_type, "Unsqueeze")) {
            onnx_value o = *a;
            o.ln_src = a->name;
            lrn_out(x, &o, 1, 4);
            return 1;
        }
        return 0;
    }
    onnx_value *v = la ? a : b;
    int st = v->lrn;
    int64_t ax[TENSOR_MAXDIM];
    if (!strcmp(op, "Unsqueeze") && st == 1) {
        lrn_out(x, v, 2, 5);
        return 1;
    }
    if (!strcmp(op, "Reshape") && (st >= 2 && st <= 5)) {
        onnx_const *s = in_const(x, 1, "the target shape");
        if (s->n == 5 && st <= 4 && const_int(x, s, 1) == 1)
            return lrn_out(x, v, st, 5), 1;
        if (s->n == 4 && (st == 4 || st == 5))
            return lrn_out(x, v, 5, 4), 1;
    }
    if (lrn_window_step(x, op, v, st))
        return 1;
    if (!strcmp(op, "Shape") && st >= 2 && st <= 5) {
        int r = st == 5 ? 4 : 5;
        onnx_const *c = const_ints(x, r);
        c->i[0] = IMPORT_ONNX_BATCH;
        if (r == 5)
            c->i[1] = 1, c->i[2] = v->shape[0], c->i[3] = v->shape[1], c->i[4] = v->shape[2];
        else
            c->i[1] = v->shape[0], c->i[2] = v->shape[1], c->i[3] = v->shape[2];
        if (attr_find(x->np, "start") || attr_find(x->np, "end"))
            ndie(x, "Shape with start or end inside a LocalResponseNorm is not supported");
        out_const(x, c);
        return 1;
    }
    if (!strcmp(op, "Squeeze") && st == 4) {
        int na = x->opset < 13 ? attr_ints(x, "axes", ax, TENSOR_MAXDIM) : -1;
        if (x->opset >= 13 && has_in(x, 1)) {
            onnx_const *c = in_const(x, 1, "axes");
            na = (int)c->n;
            for (int k = 0; k < na && k < TENSOR_MAXDIM; k++)
                ax[k] = const_int(x, c, k);
        }
        if (na == 1 && (ax[0] == 1 || ax[0] == -4))
            return lrn_out(x, v, 5, 4), 1;
    }
    if (!strcmp(op, "Identity") && st)
        return lrn_out(x, v, st, v->rank), 1;
    double c;
    if (!strcmp(op, "Mul") && st == 5 && n == 2 && lrn_scalar(x, la ? 1 : 0, &c)) {
        onnx_value o = *v;
        o.lrn_alpha = c;
        return lrn_out(x, &o, 6, 4), 1;
    }
    if (!strcmp(op, "Add") && st == 6 && n == 2 && lrn_scalar(x, la ? 1 : 0, &c)) {
        onnx_value o = *v;
        o.lrn_k = c;
        return lrn_out(x, &o, 7, 4), 1;
    }
    if (!strcmp(op, "Pow") && st == 7 && la && lrn_scalar(x, 1, &c)) {
        onnx_value o = *v;
        o.lrn_beta = c;
        return lrn_out(x, &o, 8, 4), 1;
    }
    if (!strcmp(op, "Div") && lb == 8 && !la && a->kind == VAL_DYN && !strcmp(a->name, b->ln_src)) {
        onnx_value src = *a;
        char *name = our_name(x);
        onnx_value *ins = &src;
        node *nd = add_node(x, name, OP_LRN, 1, &ins);
        node_set1(nd, AT_SIZE, (double)b->lrn_size);
        node_set1(nd, AT_ALPHA, b->lrn_alpha);
        node_set1(nd, AT_BETA, b->lrn_beta);
        node_set1(nd, AT_LRN_K, b->lrn_k);
        out_dyn(x, name, 4, src.shape, 0);
        free(name);
        return 1;
    }
    ndie(x, "%s does not continue the LocalResponseNorm pattern (Mul X X, Unsqueeze, Reshape, Pad, "
            "AveragePool, Squeeze/Reshape, Mul alpha, Add k, Pow beta, Div) that input '%s' is part of",
         op, v->name);
}

/* Equal of constants (the If in PyTorch's LocalResponseNorm). */
static void op_equal(onnx_ctx *x)
{
    onnx_value *a = in_val(x, 0), *b = in_val(x, 1);
    onnx_const *p = as_const(x, a), *q = as_const(x, b);
    if (!p || !q)
        ndie(x, "Equal of computed tensors is not supported (only of constants)");
    if (p->n != q->n && p->n != 1 && q->n != 1)
        ndie(x, "Equal of constants of different sizes is not supported");
    int64_t n = p->n > q->n ? p->n : q->n;
    onnx_const *r = const_ints(x, n);
    if (p->ndim == 0 && q->ndim == 0)
        r->ndim = 0;
    for (int64_t k = 0; k < n; k++)
        r->i[k] = const_num(p, p->n == 1 ? 0 : k) == const_num(q, q->n == 1 ? 0 : k);
    out_const(x, r);
}

static void convert_node(onnx_ctx *x, const Onnx__NodeProto *np);

/* If on a constant condition: the chosen branch's nodes, its outputs
 * become the If's. */
static void op_if(onnx_ctx *x)
{
    onnx_const *c = in_const(x, 0, "the condition");
    if (c->n != 1)
        ndie(x, "the condition must be one value");
    const Onnx__AttributeProto *a = attr_find(x->np, const_num(c, 0) ? "then_branch" : "else_branch");
    if (!a || !a->g)
        ndie(x, "the branch graph is missing");
    const Onnx__GraphProto *g = a->g;
    if (g->n_output != x->np->n_output)
        ndie(x, "the branch has %zu outputs, the If %zu", g->n_output, x->np->n_output);
    const Onnx__NodeProto *self = x->np;
    const char *selfname = x->nname;
    for (size_t k = 0; k < g->n_node; k++)
        convert_node(x, g->node[k]);
    x->np = self;
    x->nname = selfname;
    for (size_t k = 0; k < g->n_output; k++) {
        int i = g->output[k]->name ? val_find(x, g->output[k]->name) : -1;
        if (i < 0)
            ndie(x, "the branch output '%s' is produced by no node", g->output[k]->name);
        onnx_value copy = x->v[i];
        onnx_value *v = val_put(x, x->np->output[k]);
        char *keep = v->name;
        *v = copy;
        v->name = keep;
        v->node = copy.node ? xstrdup(copy.node) : NULL;
        v->ln_src = copy.ln_src ? xstrdup(copy.ln_src) : NULL;
    }
}

/* ReduceMean / ReduceMax over the spatial axes (H and W; L of N x C x L):
 * GlobalAvgPool / GlobalMaxPool. keepdims 0 leaves N x C. */
static void op_reduce(onnx_ctx *x, int ismax)
{
    onnx_value *in = in_dyn(x, 0, 0);
    need_spatial(x, in);
    int64_t ax[8];
    int n = attr_ints(x, "axes", ax, 8);
    if (n < 0 && has_in(x, 1)) {
        onnx_const *c = in_const(x, 1, "axes");
        n = c->n < 8 ? (int)c->n : 8;
        for (int k = 0; k < n; k++)
            ax[k] = const_int(x, c, k);
    }
    int64_t keep = attr_int(x, "keepdims", 1);
    unsigned seen = 0;
    for (int k = 0; k < n; k++) {
        int64_t a = ax[k] < 0 ? ax[k] + in->rank : ax[k];
        if (a < 0 || a >= in->rank)
            ndie(x, "axis %lld is out of range for a rank-%d tensor", (long long)ax[k], in->rank);
        seen |= 1u << a;
    }
    unsigned want = in->rank == 4 ? 0xcu : 0x4u;
    if (n < 0 || seen != want)
        ndie(x, "%s over %s is not supported (only over the spatial axes, %s)", x->np->op_type,
             n < 0 ? "every axis" : "these axes", in->rank == 4 ? "2 and 3" : "2");
    char *name = our_name(x);
    add_node(x, name, ismax ? OP_GMP : OP_GAP, 1, &in);
    int64_t shape[3] = { in->shape[0], 1, 1 };
    out_dyn(x, name, keep ? in->rank : 2, shape, in->nonneg);
    free(name);
}

static void op_gmp(onnx_ctx *x)
{
    onnx_value *in = in_dyn(x, 0, 0);
    need_spatial(x, in);
    char *name = our_name(x);
    add_node(x, name, OP_GMP, 1, &in);
    int64_t shape[3] = { in->shape[0], 1, 1 };
    out_dyn(x, name, in->rank, shape, in->nonneg);
    free(name);
}

/* PRelu: the slope a constant of one value or one per channel. */
static void op_prelu(onnx_ctx *x)
{
    onnx_value *in = in_dyn(x, 0, 0);
    onnx_const *c = in_const(x, 1, "slope");
    int64_t C = in->shape[0];
    float *w = xmalloc((size_t)C * sizeof *w);
    /* before opset 7 a 1-D slope of C values is per channel (PyTorch's
     * exports then); from 7 on it broadcasts as numpy's */
    if (x->opset < 7 && !c->isint && c->ndim == 1 && c->n == C && C > 1)
        for (int64_t k = 0; k < C; k++)
            w[k] = c->f[k];
    else if (c->isint || per_channel(in, c, w))
        ndie(x, "a slope shaped %s is not supported (one value, or one per channel)",
             tensor_shape_str(c->ndim, c->dims, (char[96]){ 0 }, 96));
    node *nd = op_unary(x, OP_PRELU, 0);
    node_add_weight(nd, "slope", tensor_of(w, 1, &C));
    free(w);
}

static void op_hardsigmoid(onnx_ctx *x)
{
    double a = attr_float(x, "alpha", 0.2), b = attr_float(x, "beta", 0.5);
    node *nd = op_unary(x, OP_HSIG, 1);
    node_set1(nd, AT_ALPHA, a);
    node_set1(nd, AT_BETA, b);
}

static void op_elu(onnx_ctx *x)
{
    double a = attr_float(x, "alpha", 1.0);
    node *nd = op_unary(x, OP_ELU, 0);
    node_set1(nd, AT_ALPHA, a);
}

/* Selu: ONNX's gamma is our beta. */
static void op_selu(onnx_ctx *x)
{
    double a = attr_float(x, "alpha", 1.67326319217681884765625),
           gm = attr_float(x, "gamma", 1.05070102214813232421875);
    node *nd = op_unary(x, OP_SELU, 0);
    node_set1(nd, AT_ALPHA, a);
    node_set1(nd, AT_BETA, gm);
}

static void op_gelu(onnx_ctx *x)
{
    char buf[16];
    if (strcmp(attr_str(x, "approximate", "none", buf, sizeof buf), "none"))
        ndie(x, "approximate='%s' is not supported (only the exact erf form)", buf);
    op_unary(x, OP_GELU, 0);
}

/* ------------------------------------------------------------ the graph */

typedef struct onnx_op {
    const char *name;
    void (*fn)(onnx_ctx *x);
} onnx_op;

static void f_relu(onnx_ctx *x) { op_unary(x, OP_RELU, 1); }
static void f_sigmoid(onnx_ctx *x) { op_unary(x, OP_SIGMOID, 1); }
static void f_tanh(onnx_ctx *x) { op_unary(x, OP_TANH, 0); }
static void f_leaky(onnx_ctx *x)
{
    double a = attr_float(x, "alpha", 0.01);
    node *nd = op_unary(x, OP_LEAKY, 0);
    node_set1(nd, AT_ALPHA, a);
}
static void f_maxpool(onnx_ctx *x) { op_pool(x, 1); }
static void f_avgpool(onnx_ctx *x) { op_pool(x, 0); }
static void f_gemm(onnx_ctx *x) { op_gemm(x, 0); }
static void f_matmul(onnx_ctx *x) { op_gemm(x, 1); }
static void f_add(onnx_ctx *x) { op_arith(x, "Add"); }
static void f_sub(onnx_ctx *x) { op_arith(x, "Sub"); }
static void f_mul(onnx_ctx *x) { op_arith(x, "Mul"); }
static void f_div(onnx_ctx *x) { op_arith(x, "Div"); }
/* Sum: one input is that input; two, an Add (op_arith: broadcasting,
 * constants); more, one Add node of computed tensors of one shape. */
static void f_sum(onnx_ctx *x)
{
    int n = nin(x);
    if (n == 1) {
        out_alias(x, in_dyn(x, 0, 0));
        return;
    }
    if (n == 2) {
        op_arith(x, "Sum");
        return;
    }
    onnx_value **ins = xmalloc((size_t)n * sizeof *ins);
    for (int k = 0; k < n; k++) {
        if (in_val(x, k)->kind != VAL_DYN)
            ndie(x, "Sum of %d inputs with a constant one (input %d) is not supported "
                 "(only of computed tensors of one shape)", n, k);
        ins[k] = in_dyn(x, k, IN_NHWC);
    }
    int nonneg = 1;
    for (int k = 0; k < n; k++) {
        const onnx_value *p = ins[k], *q = ins[0];
        if (p->rank != q->rank || p->nhwc != q->nhwc || memcmp(p->shape, q->shape, sizeof p->shape))
            ndie(x, "Sum of %d inputs shaped %s and %s is not supported (more than 2 inputs "
                 "must share one shape)", n,
                 tensor_shape_str(q->rank - 1, q->shape, (char[96]){ 0 }, 96),
                 tensor_shape_str(p->rank - 1, p->shape, (char[96]){ 0 }, 96));
        nonneg &= p->nonneg;
    }
    char *name = our_name(x);
    add_node(x, name, OP_ADD, n, ins);
    int nhwc = ins[0]->nhwc, rank = ins[0]->rank;
    int64_t shape[3] = { ins[0]->shape[0], ins[0]->shape[1], ins[0]->shape[2] };
    free(ins);
    out_dyn(x, name, rank, shape, nonneg)->nhwc = nhwc;
    free(name);
}
/* Mean, Max, Min: one node of any number of computed tensors of one rank
 * whose C, H, W broadcast (each agrees or is 1); one input is that input. */
static void op_variadic(onnx_ctx *x, const char *ours)
{
    int n = nin(x);
    if (n == 1) {
        out_alias(x, in_dyn(x, 0, 0));
        return;
    }
    onnx_value **ins = xmalloc((size_t)n * sizeof *ins);
    int64_t shape[3] = { 1, 1, 1 };
    int all_nonneg = 1, any_nonneg = 0, rank = 0;
    for (int k = 0; k < n; k++) {
        if (in_val(x, k)->kind != VAL_DYN)
            ndie(x, "input %d is a constant: %s of a constant is not supported (only of "
                 "computed tensors)", k, ours);
        onnx_value *p = ins[k] = in_dyn(x, k, 0);
        if (k && p->rank != rank)
            ndie(x, "%s of a rank-%d and a rank-%d tensor is not supported (broadcasting "
                 "between computed tensors needs equal ranks)", ours, rank, p->rank);
        rank = p->rank;
        for (int d = 0; d < 3; d++) {
            if (p->shape[d] != 1 && shape[d] != 1 && p->shape[d] != shape[d])
                ndie(x, "%s of tensors shaped %s and ... %s (C x H x W per image, input %d): "
                     "they do not broadcast (each axis must agree or be 1)", ours,
                     tensor_shape_str(3, ins[0]->shape, (char[96]){ 0 }, 96),
                     tensor_shape_str(3, p->shape, (char[96]){ 0 }, 96), k);
            if (p->shape[d] != 1)
                shape[d] = p->shape[d];
        }
        all_nonneg &= p->nonneg;
        any_nonneg |= p->nonneg;
    }
    char *name = our_name(x);
    add_node(x, name, ours, n, ins);
    free(ins);
    out_dyn(x, name, rank, shape, strcmp(ours, OP_MAX) ? all_nonneg : any_nonneg);
    free(name);
}
static void f_mean(onnx_ctx *x) { op_variadic(x, OP_MEAN); }
static void f_max(onnx_ctx *x) { op_variadic(x, OP_MAX); }
static void f_min(onnx_ctx *x) { op_variadic(x, OP_MIN); }
static void f_identity(onnx_ctx *x) { out_alias(x, in_val(x, 0)); }
static void f_hardswish(onnx_ctx *x) { op_unary(x, OP_HSWISH, 0); }
static void f_softplus(onnx_ctx *x) { op_unary(x, OP_SOFTPLUS, 1); }
static void f_logsoftmax(onnx_ctx *x) { softmax_like(x, OP_LOGSOFTMAX); }
static void f_reducemax(onnx_ctx *x) { op_reduce(x, 1); }
static void f_unsqueeze(onnx_ctx *x) { op_squeeze(x, 1); }
static void f_squeeze(onnx_ctx *x) { op_squeeze(x, 0); }

static const onnx_op onnx_ops[] = {
    { "Conv", op_conv }, { "Gemm", f_gemm }, { "MatMul", f_matmul }, { "Relu", f_relu },
    { "LeakyRelu", f_leaky }, { "Clip", op_clip }, { "Sigmoid", f_sigmoid }, { "Tanh", f_tanh },
    { "MaxPool", f_maxpool }, { "AveragePool", f_avgpool }, { "GlobalAveragePool", op_gap },
    { "LRN", op_lrn }, { "BatchNormalization", op_bn }, { "Dropout", op_dropout },
    { "Flatten", op_flatten }, { "Reshape", op_reshape }, { "Softmax", op_softmax },
    { "Add", f_add }, { "Sub", f_sub }, { "Mul", f_mul }, { "Div", f_div }, { "Sum", f_sum },
    { "Mean", f_mean }, { "Max", f_max }, { "Min", f_min },
    { "Concat", op_concat }, { "Pad", op_pad }, { "Identity", f_identity },
    { "Constant", op_constant }, { "Shape", op_shape }, { "Gather", op_gather },
    { "Unsqueeze", f_unsqueeze }, { "Squeeze", f_squeeze }, { "Cast", op_cast },
    { "Transpose", op_transpose }, { "ConstantOfShape", op_constant_of_shape },
    { "Slice", op_slice }, { "Split", op_split }, { "ReduceMean", f_reducemean },
    { "Pow", f_pow }, { "Sqrt", f_sqrt }, { "LayerNormalization", f_layernorm },
    { "InstanceNormalization", f_instnorm }, { "Resize", op_resize_onnx },
    { "Upsample", op_resize_onnx }, { "ConvTranspose", op_convtranspose },
    { "Equal", op_equal }, { "If", op_if },
    { "HardSigmoid", op_hardsigmoid }, { "HardSwish", f_hardswish }, { "Elu", op_elu },
    { "PRelu", op_prelu }, { "Softplus", f_softplus }, { "Gelu", op_gelu },
    { "LogSoftmax", f_logsoftmax }, { "ReduceMax", f_reducemax }, { "GlobalMaxPool", op_gmp },
    { "Selu", op_selu },
};

static const char *supported_list(void)
{
    static char buf[4096];   /* about 20 bytes an op */
    if (!buf[0])
        for (size_t k = 0; k < sizeof onnx_ops / sizeof *onnx_ops; k++) {
            if (k)
                strcat(buf, " ");
            strcat(buf, onnx_ops[k].name);
        }
    return buf;
}

/* One ONNX node into the value table and our graph. */
static void convert_node(onnx_ctx *x, const Onnx__NodeProto *np)
{
    x->np = np;
    x->nname = np->name && *np->name ? np->name
               : np->n_output && *np->output[0] ? np->output[0] : "(unnamed)";
    if (!np->op_type)
        ndie(x, "node without an op");
    if (np->domain && *np->domain && strcmp(np->domain, "ai.onnx"))
        die("%s: node '%s': op %s of domain '%s' is not supported (only the default ONNX "
            "domain is)", x->path, x->nname, np->op_type, np->domain);
    size_t j;
    for (j = 0; j < sizeof onnx_ops / sizeof *onnx_ops; j++)
        if (!strcmp(onnx_ops[j].name, np->op_type))
            break;
    if (j == sizeof onnx_ops / sizeof *onnx_ops)
        die("%s: node '%s': op %s (opset %d) is not supported (supported: %s)", x->path,
            x->nname, np->op_type, x->opset, supported_list());
    if (!lrn_step(x))
        onnx_ops[j].fn(x);
}

static int is_initializer(const Onnx__GraphProto *g, const char *name)
{
    for (size_t k = 0; k < g->n_initializer; k++)
        if (g->initializer[k]->name && !strcmp(g->initializer[k]->name, name))
            return 1;
    return 0;
}

/* The one image input: its shape per image, with --size for dynamic or
 * overridden height and width. */
static void graph_input(onnx_ctx *x, const Onnx__GraphProto *g)
{
    const Onnx__ValueInfoProto *in = NULL;
    int n = 0;
    char names[256] = "";
    for (size_t k = 0; k < g->n_input; k++) {
        const Onnx__ValueInfoProto *v = g->input[k];
        if (!v->name || is_initializer(g, v->name))
            continue;
        if (!in)
            in = v;
        if (strlen(names) + strlen(v->name) + 2 < sizeof names) {
            if (n)
                strcat(names, " ");
            strcat(names, v->name);
        }
        n++;
    }
    if (!in)
        die("%s: the graph has no input (every input is an initializer)", x->path);
    if (n > 1)
        die("%s: the graph has %d inputs (%s); only models with one image input are supported",
            x->path, n, names);
    if (!in->type || in->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !in->type->tensor_type)
        die("%s: input '%s' is not a tensor", x->path, in->name);
    const Onnx__TypeProto__Tensor *tt = in->type->tensor_type;
    if (tt->has_elem_type && tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        die("%s: input '%s' has element type %s; only float inputs are supported", x->path,
            in->name, dtype_name(tt->elem_type));
    if (!tt->shape)
        die("%s: input '%s' has no shape: pass --size WxH, and the file must give the rank and "
            "channels", x->path, in->name);
    int r = (int)tt->shape->n_dim;
    int64_t d[4] = { 0, 0, 0, 0 };
    for (int k = 0; k < r && k < 4; k++) {
        const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[k];
        d[k] = dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ? dm->dim_value : 0;
        if (d[k] < 0 || d[k] > ONNX_MAX_DIM)
            die("%s: input '%s' has an absurd dimension", x->path, in->name);
    }
    int64_t shape[3] = { 1, 1, 1 };
    if (r == 4) {
        if (x->o->width > 0 && x->o->height > 0) {
            d[2] = x->o->height;
            d[3] = x->o->width;
        }
        if (!d[1])
            die("%s: input '%s' has a dynamic channel count; only the height and width may be "
                "dynamic", x->path, in->name);
        if (!d[2] || !d[3])
            die("%s: input '%s' has a dynamic size (N x %lld x %s x %s): pass --size WxH (width x height)",
                x->path, in->name, (long long)d[1], d[2] ? "H" : "height", d[3] ? "W" : "width");
        shape[0] = d[1];
        shape[1] = d[2];
        shape[2] = d[3];
    } else if (r == 3) {
        /* a 1-D signal N x C x L is our C x 1 x L */
        if (x->o->width > 0)
            d[2] = x->o->width;
        if (!d[1] || !d[2])
            die("%s: input '%s' (N x C x L) has a dynamic %s: pass --size L", x->path, in->name,
                d[1] ? "length" : "channel count");
        shape[0] = d[1];
        shape[2] = d[2];
    } else if (r == 2) {
        if (!d[1])
            die("%s: input '%s' (N x D) has a dynamic D", x->path, in->name);
        shape[0] = d[1];
    } else {
        die("%s: input '%s' has rank %d, which is not supported (only images N x C x H x W, "
            "signals N x C x L and vectors N x D)", x->path, in->name, r);
    }
    x->m->in_shape[0] = shape[0];
    x->m->in_shape[1] = shape[1];
    x->m->in_shape[2] = shape[2];
    onnx_value *v = val_put(x, in->name);
    v->kind = VAL_DYN;
    v->node = xstrdup("input");
    v->rank = r;
    memcpy(v->shape, shape, sizeof shape);
}

/* The graph output must be our last node (the engine's output); move it
 * there when nothing after it uses it. */
static void graph_output(onnx_ctx *x, const Onnx__GraphProto *g)
{
    if (g->n_output < 1)
        die("%s: the graph has no output", x->path);
    if (g->n_output > 1)
        info("%s: %zu graph outputs; the model's output is the first, '%s'", x->path,
             g->n_output, g->output[0]->name);
    int k = val_find(x, g->output[0]->name ? g->output[0]->name : "");
    if (k < 0)
        die("%s: the graph output '%s' is produced by no node", x->path, g->output[0]->name);
    onnx_value *v = &x->v[k];
    if (v->kind == VAL_DYN && v->has_pad)
        die("%s: Pad '%s' must be followed by Conv, MaxPool or AveragePool to be folded into "
            "them (a free-standing Pad is not supported)", x->path, v->pad_node);
    if (v->kind == VAL_DYN && (v->nhwc || v->shuf || v->ln || v->lrn))
        die("%s: the graph output '%s' is %s, which is not supported (the output must be "
            "N x C x H x W or N x D)", x->path, v->name,
            v->nhwc ? "channels-last (a Transpose 0,2,3,1)" : v->shuf ? "a 5-D channel-shuffle view"
                                                            : "a step of a written-out normalisation");
    if (v->kind != VAL_DYN || !strcmp(v->node, "input"))
        die("%s: the graph output '%s' is %s: a graph that computes nothing is not supported",
            x->path, v->name, v->kind != VAL_DYN ? "a constant" : "the input itself");
    model *m = x->m;
    int i = model_find(m, v->node);
    if (i == m->n - 1)
        return;
    for (int j = i + 1; j < m->n; j++)
        for (int q = 0; q < m->nodes[j].nin; q++)
            if (!strcmp(m->nodes[j].in_names[q], v->node))
                die("%s: the graph output '%s' feeds later nodes; such graphs are not supported",
                    x->path, v->name);
    node tmp = m->nodes[i];
    memmove(&m->nodes[i], &m->nodes[i + 1], (size_t)(m->n - 1 - i) * sizeof tmp);
    m->nodes[m->n - 1] = tmp;
}

/* Is some ONNX node inside module path p (p is not a leaf module)? */
static int path_has_children(const onnx_ctx *x, const char *p)
{
    size_t l = strlen(p);
    for (int k = 0; k < x->npaths; k++)
        if (!strncmp(x->paths[k], p, l) && x->paths[k][l] == '.')
            return 1;
    return 0;
}

static const struct origin *origin_of(const onnx_ctx *x, const char *tmp)
{
    for (int k = 0; k < x->norig; k++)
        if (!strcmp(x->orig[k].tmp, tmp))
            return &x->orig[k];
    return NULL;
}

/* Names users know: a node made from PyTorch's "/layer4/layer4.1/conv1/Conv"
 * is renamed "layer4.1.conv1", its module path. A module's last node takes
 * the plain path and its other nodes path.Op; an op in the forward of a
 * module that has submodules (the residual Add of a block) is path.Op, so
 * that the plain path of a block stays free and names its output through
 * the module-prefix lookup ("layer4.1" -> its last node); an op of the
 * model's own forward is its op ("Flatten"). Repeats get _2, _3. The ONNX
 * node name stays the node's alias. */
static void torch_names(onnx_ctx *x)
{
    model *m = x->m;
    if (!x->norig)
        return;
    char **newn = xcalloc((size_t)m->n, sizeof *newn);
    const struct origin **org = xcalloc((size_t)m->n, sizeof *org);
    for (int i = 0; i < m->n; i++)
        org[i] = origin_of(x, m->nodes[i].name);
    /* names kept first, so that renamed nodes yield to them */
    for (int i = 0; i < m->n; i++)
        if (!org[i])
            newn[i] = xstrdup(m->nodes[i].name);
    for (int i = 0; i < m->n; i++) {
        const struct origin *o = org[i];
        if (!o)
            continue;
        int plain = *o->path && !path_has_children(x, o->path);
        for (int j = i + 1; plain && j < m->n; j++)
            if (org[j] && !strcmp(org[j]->path, o->path))
                plain = 0;
        size_t l = strlen(o->path) + strlen(o->op) + 24;
        char *s = xmalloc(l);
        if (plain)
            snprintf(s, l, "%s", o->path);
        else
            snprintf(s, l, "%s%s%s", o->path, *o->path ? "." : "", o->op);
        size_t base = strlen(s);
        for (int k = 2;; k++) {
            int clash = !strcmp(s, "input");
            for (int j = 0; !clash && j < m->n; j++)
                clash = j != i && newn[j] && !strcmp(newn[j], s);
            if (!clash)
                break;
            snprintf(s + base, l - base, "_%d", k);
        }
        newn[i] = s;
    }
    for (int i = 0; i < m->n; i++) {
        node *nd = &m->nodes[i];
        for (int k = 0; k < nd->nin; k++) {
            int j = model_find(m, nd->in_names[k]);
            if (j >= 0 && strcmp(newn[j], nd->in_names[k])) {
                free(nd->in_names[k]);
                nd->in_names[k] = xstrdup(newn[j]);
            }
        }
    }
    for (int i = 0; i < m->n; i++) {
        node *nd = &m->nodes[i];
        free(nd->name);
        nd->name = newn[i];
        if (nd->alias && !strcmp(nd->alias, nd->name)) {
            free(nd->alias);
            nd->alias = NULL;
        }
    }
    free(newn);
    free(org);
}

/* Control characters in names from the file become '?', the same way in
 * every place a name appears (so the graph's links survive): a message
 * naming them stays one line on a terminal. */
static void clean(char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

static void clean_graph(Onnx__GraphProto *g)
{
    for (size_t k = 0; k < g->n_node; k++) {
        Onnx__NodeProto *n = g->node[k];
        clean(n->name);
        clean(n->op_type);
        clean(n->domain);
        for (size_t j = 0; j < n->n_input; j++)
            clean(n->input[j]);
        for (size_t j = 0; j < n->n_output; j++)
            clean(n->output[j]);
    }
    for (size_t k = 0; k < g->n_initializer; k++)
        clean(g->initializer[k]->name);
    for (size_t k = 0; k < g->n_input; k++)
        clean(g->input[k]->name);
    for (size_t k = 0; k < g->n_output; k++)
        clean(g->output[k]->name);
}

static void ctx_free(onnx_ctx *x)
{
    for (int i = 0; i < x->nv; i++) {
        free(x->v[i].name);
        free(x->v[i].node);
        free(x->v[i].ln_src);
    }
    free(x->v);
    free(x->hash);
    for (int i = 0; i < x->nconsts; i++) {
        free(x->consts[i]->f);
        free(x->consts[i]->i);
        free(x->consts[i]);
    }
    free(x->consts);
    for (int i = 0; i < x->norig; i++) {
        free(x->orig[i].tmp);
        free(x->orig[i].path);
        free(x->orig[i].op);
    }
    free(x->orig);
    cli_free_list(x->paths, x->npaths);
    free(x->skip);
}

model *import_onnx(const char *path, const import_opts *o)
{
    size_t len;
    unsigned char *buf = cli_read_file(path, ONNX_MAX_FILE, 0, &len);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    if (!mp)
        die("%s: not a valid ONNX model (the protobuf data is truncated or corrupt)", path);
    if (!mp->graph)
        die("%s: the ONNX model has no graph", path);
    /* 8 constant elements per byte of file, at least 16M (see const_new) */
    onnx_ctx x = { .path = path, .o = o, .opset = -1,
                   .const_max = ((int64_t)1 << 24) + 8 * (int64_t)len };
    x.const_left = x.const_max;
    for (size_t k = 0; k < mp->n_opset_import; k++) {
        const Onnx__OperatorSetIdProto *op = mp->opset_import[k];
        if (!op->domain || !*op->domain || !strcmp(op->domain, "ai.onnx"))
            x.opset = op->has_version ? (int)op->version : 1;
    }
    if (x.opset < 0)
        x.opset = mp->has_ir_version && mp->ir_version < 3 ? 1 : -1;
    if (x.opset < ONNX_OPSET_MIN || x.opset > ONNX_OPSET_MAX)
        die("%s: opset %d of the default ONNX domain is not supported (%d to %d are)", path,
            x.opset, ONNX_OPSET_MIN, ONNX_OPSET_MAX);

    Onnx__GraphProto *g = mp->graph;
    x.g = g;
    clean_graph(g);
    clean(mp->producer_name);
    clean(mp->producer_version);
    x.m = model_new(1, 1, 1);
    /* initializers are decoded when used, so unused ones cost nothing */
    for (size_t k = 0; k < g->n_initializer; k++) {
        const Onnx__TensorProto *tp = g->initializer[k];
        if (!tp->name || !*tp->name)
            die("%s: an initializer has no name", path);
        onnx_value *v = val_put(&x, tp->name);
        v->kind = VAL_CONST;
        v->tp = tp;
    }
    if (g->n_sparse_initializer)
        die("%s: sparse initializers are not supported", path);
    graph_input(&x, g);
    x.paths = xcalloc(g->n_node + 1, sizeof *x.paths);
    for (size_t k = 0; k < g->n_node; k++) {
        char *p = torch_path(g->node[k]->name);
        if (p)
            x.paths[x.npaths++] = p;
    }

    x.skip = xcalloc(g->n_node ? g->n_node : 1, 1);
    for (size_t k = 0; k < g->n_node; k++) {
        if (x.skip[k])   /* folded into an earlier node's pattern (GELU) */
            continue;
        x.k = k;
        convert_node(&x, g->node[k]);
    }
    x.np = NULL;
    graph_output(&x, g);
    torch_names(&x);
    if (x.m->n == 0)
        die("%s: the graph computes nothing", path);

    char src[512];
    snprintf(src, sizeof src, "ONNX %s%s%s, opset %d", mp->producer_name && *mp->producer_name ? mp->producer_name : "model",
             mp->producer_version && *mp->producer_version ? " " : "",
             mp->producer_version ? mp->producer_version : "", x.opset);
    free(x.m->source);
    x.m->source = xstrdup(src);
    model *m = x.m;
    ctx_free(&x);
    onnx__model_proto__free_unpacked(mp, NULL);
    free(buf);
    return m;
}
