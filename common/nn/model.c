/* model: the checks that make a graph runnable and the HDF5 model file.
 *
 * File layout (kind=model; docs/model-format.md has the full reference with
 * every op's attributes and weights, and an h5py example):
 *
 *   /                      attributes
 *     kind          "model"
 *     input_shape   int64[3]    C, H, W of one input image
 *     mean, std     float64[1 or 3]  x' = (x - mean[c]) / std[c] on [0,1]
 *                               pixels, per model channel (after the BGR
 *                               swap); one value applies to every channel;
 *                               default 0 and 1
 *     bgr           int64       1: the model wants channels in BGR order
 *     source        string      free text: where the model came from
 *     history       string      commands that produced the file
 *   /classes                string[nclasses]   class names (optional)
 *   /nodes/<i>/             one group per node, i = 0, 1, ... in topological
 *                           order (names are decimal; written as 0000, 0001)
 *     attributes name (string), op (string), inputs (string: comma-separated
 *       producer names, "input" = the model input; absent = the previous
 *       node, or the input for node 0), and each op attribute as a float64
 *       array of 1..8 values (stride, pad, ...)
 *     datasets: the node's weights by name (weight, bias, gamma, ...),
 *       float32 (any numeric type is converted), PyTorch layouts
 *
 * Reading never trusts the file: every problem (unknown op, a node reading
 * a later or missing node, wrong attribute or weight shape) dies with one
 * line naming the file and the node. Non-finite weights only warn: a
 * diverged model is still worth inspecting. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "base/cli.h"
#include "base/finite.h"
#include "io/h5io.h"
#include "nn/model.h"
#include "nn/ops.h"

static int spec_attr(const struct op_def *d, const char *name, int *min, int *max)
{
    for (const op_attr_spec *s = d->attrs; s && s->name; s++)
        if (!strcmp(s->name, name)) {
            *min = s->min, *max = s->max;
            return 1;
        }
    return 0;
}

static int spec_weight(const struct op_def *d, const char *name)
{
    for (const op_weight_spec *s = d->weights; s && s->name; s++)
        if (!strcmp(s->name, name))
            return 1;
    return 0;
}

/* Check one node's op, inputs, attributes and weights, then let the op
 * compute its shape. */
static int prepare_node(model *m, int i, char *err, size_t len)
{
    node *nd = &m->nodes[i];
    char buf[512];
    const struct op_def *d = op_find(nd->op);
    if (!d) {
        snprintf(err, len, "node '%s': unknown op '%s' (ops: %s)", nd->name, nd->op, op_names());
        return -1;
    }
    nd->def = d;
    if (nd->nin < d->min_in || (d->max_in && nd->nin > d->max_in)) {
        if (d->max_in == d->min_in)
            snprintf(buf, sizeof buf, "%d", d->min_in);
        else if (!d->max_in)
            snprintf(buf, sizeof buf, "at least %d", d->min_in);
        else
            snprintf(buf, sizeof buf, "%d to %d", d->min_in, d->max_in);
        snprintf(err, len, "node '%s' (%s): has %d inputs, takes %s", nd->name, nd->op, nd->nin,
                 buf);
        return -1;
    }
    const int64_t *shapes[64];
    if (nd->nin > 64) {
        snprintf(err, len, "node '%s' (%s): %d inputs is too many (at most 64)", nd->name, nd->op,
                 nd->nin);
        return -1;
    }
    for (int k = 0; k < nd->nin; k++) {
        const char *in = nd->in_names[k];
        if (!strcmp(in, "input")) {
            nd->in[k] = -1;
            shapes[k] = m->in_shape;
            continue;
        }
        int j = model_find(m, in);
        if (j < 0) {
            snprintf(err, len, "node '%s' (%s): input '%s' is not a node of the model", nd->name,
                     nd->op, in);
            return -1;
        }
        if (j >= i) {
            snprintf(err, len,
                     "node '%s' (%s): input '%s' is not an earlier node (nodes must be in "
                     "topological order; a cycle has none)",
                     nd->name, nd->op, in);
            return -1;
        }
        nd->in[k] = j;
        shapes[k] = m->nodes[j].shape;
    }
    for (int k = 0; k < nd->nattr; k++) {
        const attr *a = &nd->attrs[k];
        int mn, mx;
        if (!spec_attr(d, a->name, &mn, &mx)) {
            size_t l = 0;
            buf[0] = '\0';
            for (const op_attr_spec *s = d->attrs; s && s->name && l + 40 < sizeof buf; s++)
                l += (size_t)snprintf(buf + l, sizeof buf - l, "%s%s", l ? " " : "", s->name);
            snprintf(err, len, "node '%s' (%s): unknown attribute '%s' (%s takes: %s)", nd->name,
                     nd->op, a->name, nd->op, l ? buf : "none");
            return -1;
        }
        if (a->n < mn || a->n > mx) {
            snprintf(err, len, "node '%s' (%s): attribute '%s' has %d values, wants %d%s%.0d",
                     nd->name, nd->op, a->name, a->n, mn, mx > mn ? " to " : "",
                     mx > mn ? mx : 0);
            return -1;
        }
        for (int v = 0; v < a->n; v++)
            if (isnan(a->v[v])) {
                snprintf(err, len, "node '%s' (%s): attribute '%s' is NaN", nd->name, nd->op,
                         a->name);
                return -1;
            }
    }
    for (int k = 0; k < nd->nw; k++) {
        if (!spec_weight(d, nd->wnames[k])) {
            snprintf(err, len, "node '%s' (%s): unexpected weight '%s'", nd->name, nd->op,
                     nd->wnames[k]);
            return -1;
        }
    }
    for (const op_weight_spec *s = d->weights; s && s->name; s++)
        if (s->required && !node_weight(nd, s->name)) {
            snprintf(err, len, "node '%s' (%s): missing weight '%s'", nd->name, nd->op, s->name);
            return -1;
        }
    free(nd->priv);
    nd->priv = NULL;
    op_need need = { .ws = 0, .fws = SIZE_MAX, .aux = 0 };
    if (d->prepare(nd, shapes, &need, buf, sizeof buf)) {
        snprintf(err, len, "node '%s' (%s): %s", nd->name, nd->op, buf);
        return -1;
    }
    if (nd->shape[0] < 1 || nd->shape[1] < 1 || nd->shape[2] < 1) {
        snprintf(err, len, "node '%s' (%s): output shape %lldx%lldx%lld is empty", nd->name,
                 nd->op, (long long)nd->shape[0], (long long)nd->shape[1],
                 (long long)nd->shape[2]);
        return -1;
    }
    if (shape_numel(3, nd->shape, (int64_t)1 << 31) < 0) {
        snprintf(err, len, "node '%s' (%s): output shape %lldx%lldx%lld is too large", nd->name,
                 nd->op, (long long)nd->shape[0], (long long)nd->shape[1],
                 (long long)nd->shape[2]);
        return -1;
    }
    nd->need_ws = need.ws;
    nd->need_fws = need.fws == SIZE_MAX ? need.ws : need.fws;
    nd->need_aux = need.aux;
    return 0;
}

int model_prepare(model *m, char *err, size_t errlen)
{
    if (shape_numel(3, m->in_shape, (int64_t)1 << 31) <= 0 || m->in_shape[0] < 1 ||
        m->in_shape[1] < 1 || m->in_shape[2] < 1) {
        snprintf(err, errlen, "input shape %lldx%lldx%lld is not valid",
                 (long long)m->in_shape[0], (long long)m->in_shape[1], (long long)m->in_shape[2]);
        return -1;
    }
    if (m->bgr && m->in_shape[0] != 3) {
        snprintf(err, errlen, "bgr needs 3 input channels, the model has %lld",
                 (long long)m->in_shape[0]);
        return -1;
    }
    for (int c = 0; c < 3; c++)
        if (!isfinite(m->mean[c]) || !isfinite(m->std[c]) || m->std[c] == 0) {
            snprintf(err, errlen, "preprocessing mean %g / std %g is not valid (std must be "
                     "finite and non-zero)", m->mean[c], m->std[c]);
            return -1;
        }
    if (m->n == 0) {
        snprintf(err, errlen, "the model has no nodes");
        return -1;
    }
    for (int i = 0; i < m->n; i++) {
        const char *nm = m->nodes[i].name;
        if (!nm[0] || !strcmp(nm, "input") || strchr(nm, ',') || strchr(nm, '/')) {
            snprintf(err, errlen, "node %d: name '%s' is not allowed (empty, 'input', or "
                     "containing ',' or '/')", i, nm);
            return -1;
        }
        if (model_find(m, nm) != i) {
            snprintf(err, errlen, "node %d: name '%s' is used twice", i, nm);
            return -1;
        }
    }
    for (int i = 0; i < m->n; i++)
        if (prepare_node(m, i, err, errlen))
            return -1;
    return 0;
}


/* ---- the file ---- */

struct attr_names { char **v; int n, cap; };

static herr_t attr_name_cb(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)loc;
    (void)info;
    struct attr_names *a = data;
    if (a->n == a->cap)
        a->v = xrealloc(a->v, (size_t)(a->cap = a->cap ? 2 * a->cap : 8) * sizeof *a->v);
    a->v[a->n++] = xstrdup(name);
    return 0;
}

/* Names of the attributes of object obj, in name order. */
static int attr_list(h5in *in, const char *obj, char ***names)
{
    struct attr_names a = { 0 };
    hid_t o = H5Oopen(in->f, obj, H5P_DEFAULT);
    if (o < 0)
        die("%s: cannot open '%s'", in->name, obj);
    hsize_t idx = 0;
    if (H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_name_cb, &a) < 0)
        die("%s: cannot list the attributes of '%s'", in->name, obj);
    H5Oclose(o);
    *names = a.v ? a.v : xcalloc(1, sizeof(char *));
    return a.n;
}

static int is_group(h5in *in, const char *path)
{
    H5O_info_t oi;
#if H5_VERSION_GE(1, 12, 0)
    if (H5Oget_info_by_name3(in->f, path, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
#else
    if (H5Oget_info_by_name(in->f, path, &oi, H5P_DEFAULT) < 0)
#endif
        return -1;
    return oi.type == H5O_TYPE_GROUP;
}

/* Preprocessing values: 1 value (all channels) or 3. */
static void read_pre(h5in *in, const char *name, float *v, double def)
{
    double d[3];
    int n = h5in_attr_f64(in, "/", name, d, 3);
    if (n < 0) {
        if (h5in_attr_str(in, "/", name))
            die("%s: attribute '%s' must be numeric", in->name, name);
        for (int c = 0; c < 3; c++)
            v[c] = (float)def;
        return;
    }
    if (n != 1 && n != 3)
        die("%s: attribute '%s' has %d values (1 or 3 expected)", in->name, name, n);
    for (int c = 0; c < 3; c++)
        v[c] = (float)d[n == 1 ? 0 : c];
}

static int cmp_index(const void *a, const void *b)
{
    long x = strtol(*(char *const *)a, NULL, 10), y = strtol(*(char *const *)b, NULL, 10);
    return (x > y) - (x < y);
}

static void load_node(h5in *in, model *m, const char *grp, int i, h5map *wmap)
{
    char *name = h5in_attr_str(in, grp, "name");
    char *op = h5in_attr_str(in, grp, "op");
    char *inputs = h5in_attr_str(in, grp, "inputs");
    if (!name || !op)
        die("%s: node %d (%s) has no '%s' string attribute", in->name, i, grp,
            name ? "op" : "name");
    node *nd = model_add(m, name, op, inputs);
    nd->alias = h5in_attr_str(in, grp, "alias");
    char **an;
    int na = attr_list(in, grp, &an);
    for (int k = 0; k < na; k++) {
        if (!strcmp(an[k], "name") || !strcmp(an[k], "op") || !strcmp(an[k], "inputs") ||
            !strcmp(an[k], "alias"))
            continue;
        double v[MODEL_MAXATTRV];
        if (strlen(an[k]) >= sizeof nd->attrs[0].name)
            die("%s: node '%s': attribute name '%s' is too long", in->name, name, an[k]);
        int nv = h5in_attr_f64(in, grp, an[k], v, MODEL_MAXATTRV);
        if (nv < 1)
            die("%s: node '%s': attribute '%s' is not a numeric value or array", in->name, name,
                an[k]);
        node_set(nd, an[k], nv, v);
    }
    cli_free_list(an, na);
    char **dn;
    int nds = h5in_list(in, grp, &dn);
    for (int k = 0; k < nds; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", grp, dn[k]);
        if (is_group(in, path) != 0)
            die("%s: node '%s': '%s' is not a weight dataset", in->name, name, dn[k]);
        /* In place in the file where they can be (most weights of a
         * model h5out wrote): no copy, no fresh pages to fault in. */
        tensor *t = h5in_map_tensor(in, path, wmap);
        if (!t)
            t = h5in_read(in, path);
        int64_t bad = 0, ne = tensor_numel(t);
        for (int64_t j = finite_first_bad(t->data, ne); j >= 0 && j < ne; j++)
            bad += !isfinite(t->data[j]);
        if (bad)
            warnx("%s: node '%s': weight '%s' has %lld non-finite values", in->name, name,
                  dn[k], (long long)bad);
        node_add_weight(nd, dn[k], t);
    }
    cli_free_list(dn, nds);
    free(name);
    free(op);
    free(inputs);
}

/* Class names name the model's outputs: as many names as outputs of the
 * last node, or none. 0 when they fit. */
static int classes_misfit(const model *m, int64_t *outputs)
{
    if (!m->classes || m->nclasses <= 0 || m->n <= 0)
        return 0;
    const int64_t *s = m->nodes[m->n - 1].shape;
    *outputs = s[0] * s[1] * s[2];
    return *outputs != m->nclasses;
}

model *model_load(const char *path)
{
    h5in *in = h5in_open_once(path);
    h5in_require_kind(in, "model");
    int64_t shp[3];
    int n = h5in_attr_i64(in, "/", "input_shape", shp, 3);
    if (n != 3)
        die("%s: root attribute 'input_shape' must be three integers C, H, W", in->name);
    for (int k = 0; k < 3; k++)
        if (shp[k] < 1 || shp[k] > (1 << 20))
            die("%s: input_shape %lldx%lldx%lld is not valid", in->name, (long long)shp[0],
                (long long)shp[1], (long long)shp[2]);
    model *m = model_new(shp[0], shp[1], shp[2]);
    read_pre(in, "mean", m->mean, 0.0);
    read_pre(in, "std", m->std, 1.0);
    int64_t bgr = 0;
    if (h5in_attr_i64(in, "/", "bgr", &bgr, 1) == 0)
        die("%s: attribute 'bgr' is empty", in->name);
    m->bgr = bgr != 0;
    m->source = h5in_attr_str(in, "/", "source");
    if (h5in_has(in, "/classes"))
        m->classes = h5in_read_strings(in, "/classes", &m->nclasses);
    if (!h5in_has(in, "/nodes"))
        die("%s: no /nodes group (a model file has one group per node)", in->name);
    char **gn;
    h5map wmap = { NULL, 0 };
    int ng = h5in_list(in, "/nodes", &gn);
    for (int k = 0; k < ng; k++) {
        char *end;
        long v = strtol(gn[k], &end, 10);
        if (!gn[k][0] || *end || v < 0)
            die("%s: /nodes/%s: node groups must be named by their index (0000, 0001, ...)",
                in->name, gn[k]);
    }
    qsort(gn, (size_t)ng, sizeof *gn, cmp_index);
    for (int k = 0; k < ng; k++) {
        if (strtol(gn[k], NULL, 10) != k)
            die("%s: /nodes: node indices must run 0..%d without gaps or repeats (found %s)",
                in->name, ng - 1, gn[k]);
        char grp[64];
        snprintf(grp, sizeof grp, "/nodes/%s", gn[k]);
        if (is_group(in, grp) != 1)
            die("%s: %s is not a group", in->name, grp);
        load_node(in, m, grp, k, &wmap);
    }
    m->wmap = wmap.base;
    m->wmap_len = wmap.len;
    cli_free_list(gn, ng);
    char err[1024];
    if (model_prepare(m, err, sizeof err))
        die("%s: %s", in->name, err);
    int64_t K;
    if (classes_misfit(m, &K))
        die("%s: /classes has %d names but the model has %lld outputs", in->name,
            m->nclasses, (long long)K);
    h5in_close(in);
    return m;
}

void model_save(const model *m, const char *path)
{
    int64_t K = 0;
    if (classes_misfit(m, &K) && K > 0)
        die("%s: %d class names for a model of %lld outputs", path ? path : "<stdout>",
            m->nclasses, (long long)K);
    h5out *out = h5out_create(path, "model", NULL);
    h5out_attr_i64(out, "/", "input_shape", 3, m->in_shape);
    int nc = m->in_shape[0] == 3 ? 3 : 1;
    double v[3];
    for (int c = 0; c < 3; c++)
        v[c] = m->mean[c];
    h5out_attr_f64(out, "/", "mean", nc, v);
    for (int c = 0; c < 3; c++)
        v[c] = m->std[c];
    h5out_attr_f64(out, "/", "std", nc, v);
    int64_t bgr = m->bgr;
    h5out_attr_i64(out, "/", "bgr", 1, &bgr);
    if (m->source)
        h5out_attr_str(out, "/", "source", m->source);
    if (m->classes && m->nclasses > 0)
        h5out_write_strings(out, "/classes", m->nclasses, m->classes);
    h5out_group(out, "/nodes");
    for (int i = 0; i < m->n; i++) {
        const node *nd = &m->nodes[i];
        char grp[64], path2[512];
        snprintf(grp, sizeof grp, "/nodes/%04d", i);
        h5out_group(out, grp);
        h5out_attr_str(out, grp, "name", nd->name);
        h5out_attr_str(out, grp, "op", nd->op);
        if (nd->alias)
            h5out_attr_str(out, grp, "alias", nd->alias);
        size_t l = 1;
        for (int k = 0; k < nd->nin; k++)
            l += strlen(nd->in_names[k]) + 1;
        char *ins = xcalloc(l, 1);
        for (int k = 0; k < nd->nin; k++) {
            if (k)
                strcat(ins, ",");
            strcat(ins, nd->in_names[k]);
        }
        h5out_attr_str(out, grp, "inputs", ins);
        free(ins);
        for (int k = 0; k < nd->nattr; k++)
            h5out_attr_f64(out, grp, nd->attrs[k].name, nd->attrs[k].n, nd->attrs[k].v);
        for (int k = 0; k < nd->nw; k++) {
            snprintf(path2, sizeof path2, "%s/%s", grp, nd->wnames[k]);
            h5out_write(out, path2, nd->w[k]);
        }
    }
    h5out_commit(out);
}
