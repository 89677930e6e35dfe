/* graph: the in-memory network, its nodes, attributes and weights, and
 * lookup of a layer by name. Knows nothing of ops (nn/ops.h) or files
 * (nn/model.c); both build on it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "base/names.h"
#include "io/h5io.h"
#include "nn/graph.h"

model *model_new(int64_t c, int64_t h, int64_t w)
{
    model *m = xcalloc(1, sizeof *m);
    m->in_shape[0] = c, m->in_shape[1] = h, m->in_shape[2] = w;
    for (int k = 0; k < 3; k++)
        m->mean[k] = 0.0f, m->std[k] = 1.0f;
    return m;
}

static void node_clear(node *n)
{
    free(n->name);
    free(n->alias);
    free(n->op);
    cli_free_list(n->in_names, n->nin);
    free(n->in);
    free(n->attrs);
    for (int k = 0; k < n->nw; k++) {
        free(n->wnames[k]);
        tensor_free(n->w[k]);
    }
    free(n->wnames);
    free(n->w);
    free(n->priv);
}

void model_free(model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n; i++)
        node_clear(&m->nodes[i]);
    free(m->nodes);
    h5map wm = { m->wmap, m->wmap_len };
    h5map_release(&wm);
    if (m->classes)
        cli_free_list(m->classes, m->nclasses);
    free(m->source);
    free(m);
}

node *model_add(model *m, const char *name, const char *op, const char *inputs)
{
    m->nodes = xrealloc(m->nodes, (size_t)(m->n + 1) * sizeof *m->nodes);
    node *n = &m->nodes[m->n];
    memset(n, 0, sizeof *n);
    n->name = xstrdup(name);
    n->op = xstrdup(op);
    if (inputs)
        n->nin = cli_split(inputs, ',', &n->in_names);
    else {
        n->nin = 1;
        n->in_names = xcalloc(2, sizeof *n->in_names);
        n->in_names[0] = xstrdup(m->n ? m->nodes[m->n - 1].name : "input");
    }
    n->in = xcalloc((size_t)n->nin + 1, sizeof *n->in);
    m->n++;
    return n;
}

static attr *node_attr(const node *n, const char *key)
{
    for (int k = 0; k < n->nattr; k++)
        if (!strcmp(n->attrs[k].name, key))
            return &n->attrs[k];
    return NULL;
}

void node_set(node *n, const char *key, int nv, const double *v)
{
    if (strlen(key) >= sizeof n->attrs[0].name)
        die("node '%s': attribute name '%s' is too long", n->name, key);
    if (nv < 0 || nv > MODEL_MAXATTRV)
        die("node '%s': attribute '%s' has %d values (at most %d)", n->name, key, nv,
            MODEL_MAXATTRV);
    attr *a = node_attr(n, key);
    if (!a) {
        n->attrs = xrealloc(n->attrs, (size_t)(n->nattr + 1) * sizeof *n->attrs);
        a = &n->attrs[n->nattr++];
        memset(a, 0, sizeof *a);
        strcpy(a->name, key);
    }
    a->n = nv;
    for (int k = 0; k < nv; k++)
        a->v[k] = v[k];
}

void node_set1(node *n, const char *key, double v) { node_set(n, key, 1, &v); }

int node_has(const node *n, const char *key) { return node_attr(n, key) != NULL; }

double node_get(const node *n, const char *key, int i, double def)
{
    const attr *a = node_attr(n, key);
    return a && i >= 0 && i < a->n ? a->v[i] : def;
}

int node_getn(const node *n, const char *key)
{
    const attr *a = node_attr(n, key);
    return a ? a->n : 0;
}

void node_add_weight(node *n, const char *wname, tensor *t)
{
    for (int k = 0; k < n->nw; k++)
        if (!strcmp(n->wnames[k], wname)) {
            tensor_free(n->w[k]);
            n->w[k] = t;
            return;
        }
    n->wnames = xrealloc(n->wnames, (size_t)(n->nw + 1) * sizeof *n->wnames);
    n->w = xrealloc(n->w, (size_t)(n->nw + 1) * sizeof *n->w);
    n->wnames[n->nw] = xstrdup(wname);
    n->w[n->nw++] = t;
}

tensor *node_weight(const node *n, const char *wname)
{
    for (int k = 0; k < n->nw; k++)
        if (!strcmp(n->wnames[k], wname))
            return n->w[k];
    return NULL;
}

int model_find(const model *m, const char *name)
{
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->nodes[i].name, name))
            return i;
    for (int i = 0; i < m->n; i++)
        if (m->nodes[i].alias && !strcmp(m->nodes[i].alias, name))
            return i;
    return -1;
}

int model_lookup(const model *m, const char *name, int *ambiguous)
{
    char **names = xmalloc((size_t)(m->n + 1) * sizeof *names);
    for (int i = 0; i < m->n; i++)
        names[i] = m->nodes[i].name;
    int amb = 0;
    int i = names_lookup(names, m->n, name, &amb);
    free(names);
    if (i < 0 && !amb)   /* the ONNX node name an importer kept as alias */
        for (int k = 0; k < m->n && i < 0; k++)
            if (m->nodes[k].alias && !strcmp(m->nodes[k].alias, name))
                i = k;
    if (ambiguous)
        *ambiguous = i < 0 && amb;
    return i;
}

int model_require(const model *m, const char *name, const char *file)
{
    int i = model_lookup(m, name, NULL);
    if (i >= 0)
        return i;
    char **names = xmalloc((size_t)(m->n + 1) * sizeof *names);
    for (int k = 0; k < m->n; k++)
        names[k] = m->nodes[k].name;
    names_missing(file ? file : "model", names, m->n, name);
}

int64_t model_nparams(const model *m)
{
    int64_t s = 0;
    for (int i = 0; i < m->n; i++)
        for (int k = 0; k < m->nodes[i].nw; k++)
            s += tensor_numel(m->nodes[i].w[k]);
    return s;
}
