/* arch: compact architecture descriptions -> models with initialised
 * weights. The grammar is documented in docs/arch.md; keep the two in step. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "nn/arch.h"
#include "base/cli.h"

/* Architecture files are a few lines, so reading at most 1 MiB keeps a
 * mistaken operand (an HDF5 file) cheap. */
static char *slurp(const char *path)
{
    return cli_read_file(path, ((size_t)1 << 20) - 1, NULL);
}

static int is_file(const char *spec)
{
    struct stat st;
    return stat(spec, &st) == 0 && S_ISREG(st.st_mode);
}

/* The items of a spec: commas and newlines separate, '#' comments to the end
 * of the line, blanks trimmed, empty items dropped. */
static int split_items(const char *text, char ***out)
{
    int n = 0, cap = 16;
    char **v = xmalloc((size_t)cap * sizeof *v);
    const char *p = text;
    while (*p) {
        const char *e = p;
        while (*e && *e != ',' && *e != '\n' && *e != '#')
            e++;
        const char *a = p, *b = e;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a) {
            if (n == cap)
                v = xrealloc(v, (size_t)(cap *= 2) * sizeof *v);
            v[n] = xmalloc((size_t)(b - a) + 1);
            memcpy(v[n], a, (size_t)(b - a));
            v[n][b - a] = 0;
            n++;
        }
        if (*e == '#')
            while (*e && *e != '\n')
                e++;
        p = *e ? e + 1 : e;
    }
    *out = v;
    return n;
}

char *arch_text(const char *spec)
{
    char *text = is_file(spec) ? slurp(spec) : xstrdup(spec);
    if (!text)
        return NULL;
    char **items;
    int n = split_items(text, &items);
    size_t len = 1;
    for (int i = 0; i < n; i++)
        len += strlen(items[i]) + 1;
    char *s = xmalloc(len);
    s[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i)
            strcat(s, ",");
        strcat(s, items[i]);
    }
    cli_free_list(items, n);
    free(text);
    return s;
}

/* ---- one layer ---- */

typedef enum {
    L_CONV, L_DENSE, L_RELU, L_RELU6, L_LEAKY, L_SIGMOID, L_TANH, L_MAXPOOL, L_AVGPOOL, L_GAP,
    L_DROPOUT, L_FLATTEN, L_SOFTMAX
} lkind;

typedef struct layer {
    lkind kind;
    int64_t out;             /* conv channels / dense width; 0 = number of classes */
    int64_t kh, kw, sh, sw, dh, dw, g;
    int same;                /* pad "same" (TensorFlow's rule) */
    int64_t pad[4];          /* t, l, b, r */
    double val;              /* dropout ratio / leaky alpha */
} layer;

static const struct {
    const char *word;
    lkind kind;
    const char *prefix;      /* default names: prefix + count */
} kinds[] = {
    /* Longer words first: "relu6" before "relu", "leakyrelu" before both. */
    { "conv", L_CONV, "conv" },         { "dense", L_DENSE, "fc" },
    { "leakyrelu", L_LEAKY, "lrelu" },  { "relu6", L_RELU6, "relu" },
    { "relu", L_RELU, "relu" },         { "sigmoid", L_SIGMOID, "sigmoid" },
    { "tanh", L_TANH, "tanh" },         { "maxpool", L_MAXPOOL, "pool" },
    { "avgpool", L_AVGPOOL, "pool" },   { "globalavgpool", L_GAP, "gap" },
    { "gap", L_GAP, "gap" },            { "dropout", L_DROPOUT, "drop" },
    { "flatten", L_FLATTEN, "flatten" }, { "softmax", L_SOFTMAX, "softmax" },
};
#define NKINDS ((int)(sizeof kinds / sizeof kinds[0]))

/* A positive integer at *p, or "AxB" into a, b (b = a when single). */
static int read_pair(const char **p, int64_t *a, int64_t *b)
{
    if (!isdigit((unsigned char)**p))
        return -1;
    char *e;
    *a = strtoll(*p, &e, 10);
    *b = *a;
    if (*e == 'x' && isdigit((unsigned char)e[1]))
        *b = strtoll(e + 1, &e, 10);
    *p = e;
    return 0;
}

/* Options after conv/pool: k3 s2 p1 psame d2 g4 (in any order). */
static int read_opts(const char *p, layer *L, int conv, const char *item, char *err, size_t len)
{
    while (*p) {
        char key = *p++;
        int64_t a, b;
        if (key == 'p' && !strncmp(p, "same", 4)) {
            L->same = 1;
            p += 4;
            continue;
        }
        if (!strchr(conv ? "ksdgp" : "ksp", key) || read_pair(&p, &a, &b) < 0)
            return errmsg(err, len, "'%s': cannot read '%c%s' (%s)", item, key, p,
                        conv ? "options: kK sS pP|psame dD gG" : "options: kK sS pP|psame");
        if (key == 'k')
            L->kh = a, L->kw = b;
        else if (key == 's')
            L->sh = a, L->sw = b;
        else if (key == 'd')
            L->dh = a, L->dw = b;
        else if (key == 'g')
            L->g = a;
        else
            L->pad[0] = L->pad[2] = a, L->pad[1] = L->pad[3] = b;
    }
    return 0;
}

static int parse_layer(const char *item, layer *L, int *kind_index, char *err, size_t len)
{
    memset(L, 0, sizeof *L);
    L->kh = L->kw = L->sh = L->sw = L->dh = L->dw = L->g = 1;
    int ki = -1;
    for (int i = 0; i < NKINDS; i++)
        if (!strncasecmp(item, kinds[i].word, strlen(kinds[i].word))) {
            ki = i;
            break;
        }
    if (ki < 0)
        return errmsg(err, len,
                    "unknown layer '%s' (known: conv dense relu relu6 leakyrelu sigmoid tanh "
                    "maxpool avgpool gap dropout flatten softmax)", item);
    *kind_index = ki;
    L->kind = kinds[ki].kind;
    const char *p = item + strlen(kinds[ki].word);
    char *e;
    switch (L->kind) {
    case L_CONV:
        if (!isdigit((unsigned char)*p))
            return errmsg(err, len, "'%s': conv needs its output channels, e.g. conv32k3", item);
        L->out = strtoll(p, &e, 10);
        L->kh = L->kw = 0;
        if (read_opts(e, L, 1, item, err, len) < 0)
            return -1;
        if (!L->kh)
            return errmsg(err, len, "'%s': conv needs its kernel size, e.g. conv32k3", item);
        if (L->out < 1 || L->kh < 1 || L->kw < 1 || L->sh < 1 || L->sw < 1 || L->dh < 1 ||
            L->dw < 1 || L->g < 1)
            return errmsg(err, len, "'%s': channels, kernel, stride, dilation and groups must be >= 1",
                        item);
        return 0;
    case L_MAXPOOL:
    case L_AVGPOOL:
        /* maxpool2 = 2x2 window, stride 2 (the window, unless given). */
        if (read_pair(&p, &L->kh, &L->kw) < 0)
            return errmsg(err, len, "'%s': pooling needs its window, e.g. maxpool2 or maxpool3s2", item);
        L->sh = 0;
        if (read_opts(p, L, 0, item, err, len) < 0)
            return -1;
        if (!L->sh)
            L->sh = L->kh, L->sw = L->kw;
        if (L->kh < 1 || L->kw < 1 || L->sh < 1 || L->sw < 1)
            return errmsg(err, len, "'%s': window and stride must be >= 1", item);
        return 0;
    case L_DENSE:
        if (*p) {
            L->out = strtoll(p, &e, 10);
            if (*e || L->out < 1)
                return errmsg(err, len, "'%s': dense takes its width, e.g. dense128 (or dense: one "
                            "per class)", item);
        }
        return 0;
    case L_DROPOUT:
        L->val = 0.5;
        if (*p) {
            errno = 0;
            L->val = strtod(p, &e);
            if (*e || errno || !(L->val >= 0 && L->val < 1))
                return errmsg(err, len, "'%s': dropout ratio must lie in [0, 1), e.g. dropout0.25",
                            item);
        }
        return 0;
    case L_LEAKY:
        L->val = 0.01;
        if (*p) {
            errno = 0;
            L->val = strtod(p, &e);
            if (*e || errno || !isfinite(L->val))
                return errmsg(err, len, "'%s': leakyrelu takes its slope, e.g. leakyrelu0.1", item);
        }
        return 0;
    default:
        if (*p)
            return errmsg(err, len, "'%s': %s takes no parameters", item, kinds[ki].word);
        return 0;
    }
}

/* Pads of TensorFlow's "same": output ceil(in/stride), the extra pixel at
 * the bottom/right. */
static void same_pads(int64_t in, int64_t k, int64_t s, int64_t d, int64_t *lo, int64_t *hi)
{
    int64_t out = (in + s - 1) / s, eff = d * (k - 1) + 1;
    int64_t total = (out - 1) * s + eff - in;
    if (total < 0)
        total = 0;
    *lo = total / 2;
    *hi = total - *lo;
}

static int valid_name(const char *s)
{
    if (!*s || strlen(s) > 63 || !strcmp(s, "input"))
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_-.", *s))
            return 0;
    return 1;
}

static tensor *uniform(int ndim, const int64_t *dims, double bound, rng *r)
{
    tensor *t = tensor_new(ndim, dims);
    int64_t n = tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        t->data[i] = (float)((2.0 * rng_uniform(r) - 1.0) * bound);
    return t;
}

/* Weight then bias of a conv/dense node, drawn in that order so a seed gives
 * the same model whatever else changes later in the chain. */
static void init_weights(node *nd, int ndim, const int64_t *wdims, int64_t fan_in, arch_init init,
                         rng *r)
{
    double wb = init == ARCH_INIT_HE ? sqrt(6.0 / (double)fan_in) : 1.0 / sqrt((double)fan_in);
    node_add_weight(nd, "weight", uniform(ndim, wdims, wb, r));
    int64_t bd = wdims[0];
    node_add_weight(nd, "bias", uniform(1, &bd, init == ARCH_INIT_HE ? 0.0 : wb, r));
}

/* The running shape of the chain while layers are added. */
typedef struct {
    int64_t C, H, W;
} chain_shape;

/* Splits "name = body" in place; the name (when given) must be valid.
 * Returns the body, or NULL with err set. */
static const char *item_split(char *item, char *name, size_t namelen, char *err, size_t errlen)
{
    char *eq = strchr(item, '=');
    name[0] = 0;
    if (!eq)
        return item;
    *eq = 0;
    const char *body = eq + 1;
    while (*body == ' ' || *body == '\t')
        body++;
    size_t k = strlen(item);
    while (k && (item[k - 1] == ' ' || item[k - 1] == '\t'))
        item[--k] = 0;
    if (!valid_name(item)) {
        errmsg(err, errlen, "layer name '%s': use letters, digits, '_', '-', '.' (not 'input')",
               item);
        return NULL;
    }
    snprintf(name, namelen, "%s", item);
    return body;
}

/* The default name of a layer: its kind's prefix and a count of the layers
 * of the same prefix so far (relu and relu6 share one). */
static void default_name(char *name, size_t namelen, const layer *L, int ki,
                         const int counts[NKINDS])
{
    int k = 0;
    for (int j = 0; j < NKINDS; j++)
        if (!strcmp(kinds[j].prefix, kinds[ki].prefix))
            k += counts[j];
    if (L->kind == L_FLATTEN || L->kind == L_SOFTMAX)
        snprintf(name, namelen, k ? "%s%d" : "%s", kinds[ki].prefix, k + 1);
    else
        snprintf(name, namelen, "%s%d", kinds[ki].prefix, k + 1);
}

/* A convolution or pooling layer: geometry checks, attributes, weights. */
static int add_window(model *m, const char *name, const char *body, layer *L, chain_shape *s,
                      arch_init init, rng *r, char *err, size_t errlen)
{
    int conv = L->kind == L_CONV;
    if (L->same) {
        same_pads(s->H, L->kh, L->sh, L->dh, &L->pad[0], &L->pad[2]);
        same_pads(s->W, L->kw, L->sw, L->dw, &L->pad[1], &L->pad[3]);
    }
    int64_t eh = L->dh * (L->kh - 1) + 1, ew = L->dw * (L->kw - 1) + 1;
    if (s->H + L->pad[0] + L->pad[2] < eh || s->W + L->pad[1] + L->pad[3] < ew) {
        errmsg(err, errlen, "%s (%s): window %lldx%lld is larger than its input %lldx%lld",
               name, body, (long long)eh, (long long)ew, (long long)s->H, (long long)s->W);
        return -1;
    }
    if (conv && s->C % L->g) {
        errmsg(err, errlen, "%s (%s): groups %lld do not divide the %lld input channels", name,
               body, (long long)L->g, (long long)s->C);
        return -1;
    }
    if (conv && L->out % L->g) {
        errmsg(err, errlen, "%s (%s): groups %lld do not divide the %lld output channels",
               name, body, (long long)L->g, (long long)L->out);
        return -1;
    }
    node *nd = model_add(m, name, conv ? "Conv" : L->kind == L_MAXPOOL ? "MaxPool" : "AvgPool",
                         NULL);
    double k2[2] = { (double)L->kh, (double)L->kw }, s2[2] = { (double)L->sh, (double)L->sw };
    double p4[4] = { (double)L->pad[0], (double)L->pad[1], (double)L->pad[2],
                     (double)L->pad[3] };
    node_set(nd, "kernel", 2, k2);
    node_set(nd, "stride", 2, s2);
    if (L->pad[0] || L->pad[1] || L->pad[2] || L->pad[3])
        node_set(nd, "pad", 4, p4);
    if (conv) {
        double d2[2] = { (double)L->dh, (double)L->dw };
        if (L->dh != 1 || L->dw != 1)
            node_set(nd, "dilation", 2, d2);
        if (L->g != 1)
            node_set1(nd, "groups", (double)L->g);
        int64_t wd[4] = { L->out, s->C / L->g, L->kh, L->kw };
        init_weights(nd, 4, wd, s->C / L->g * L->kh * L->kw, init, r);
        s->C = L->out;
    }
    s->H = (s->H + L->pad[0] + L->pad[2] - eh) / L->sh + 1;
    s->W = (s->W + L->pad[1] + L->pad[3] - ew) / L->sw + 1;
    return 0;
}

/* Adds one parsed layer to the chain, updating its shape. */
static int add_layer(model *m, const char *name, const char *body, layer *L, chain_shape *s,
                     int nclasses, arch_init init, rng *r, char *err, size_t errlen)
{
    node *nd;
    switch (L->kind) {
    case L_CONV:
    case L_MAXPOOL:
    case L_AVGPOOL:
        return add_window(m, name, body, L, s, init, r, err, errlen);
    case L_DENSE: {
        int64_t out = L->out ? L->out : nclasses;
        if (out < 1) {
            errmsg(err, errlen, "%s: 'dense' without a width needs the number of classes", name);
            return -1;
        }
        nd = model_add(m, name, "Dense", NULL);
        int64_t wd[2] = { out, s->C * s->H * s->W };
        init_weights(nd, 2, wd, s->C * s->H * s->W, init, r);
        s->C = out, s->H = s->W = 1;
        break;
    }
    case L_FLATTEN:
        model_add(m, name, "Flatten", NULL);
        s->C = s->C * s->H * s->W, s->H = s->W = 1;
        break;
    case L_GAP:
        model_add(m, name, "GlobalAvgPool", NULL);
        s->H = s->W = 1;
        break;
    case L_DROPOUT:
        nd = model_add(m, name, "Dropout", NULL);
        node_set1(nd, "ratio", L->val);
        break;
    case L_LEAKY:
        nd = model_add(m, name, "LeakyReLU", NULL);
        node_set1(nd, "alpha", L->val);
        break;
    case L_RELU6:
        nd = model_add(m, name, "Clip", NULL);
        node_set1(nd, "min", 0);
        node_set1(nd, "max", 6);
        break;
    case L_RELU: model_add(m, name, "ReLU", NULL); break;
    case L_SIGMOID: model_add(m, name, "Sigmoid", NULL); break;
    case L_TANH: model_add(m, name, "Tanh", NULL); break;
    case L_SOFTMAX: model_add(m, name, "Softmax", NULL); break;
    }
    return 0;
}

model *arch_build(const char *spec, int64_t c, int64_t h, int64_t w, int nclasses,
                  arch_init init, uint64_t seed, char *err, size_t errlen)
{
    char *text = is_file(spec) ? slurp(spec) : xstrdup(spec);
    if (!text) {
        errmsg(err, errlen, "%s: cannot read the architecture file", spec);
        return NULL;
    }
    char **items;
    int n = split_items(text, &items);
    free(text);
    if (!n) {
        errmsg(err, errlen, "empty architecture");
        cli_free_list(items, n);
        return NULL;
    }
    model *m = model_new(c, h, w);
    rng r;
    rng_seed(&r, seed);
    int counts[NKINDS] = { 0 };
    chain_shape s = { c, h, w };
    for (int i = 0; i < n; i++) {
        char name[80];
        const char *body = item_split(items[i], name, sizeof name, err, errlen);
        if (!body)
            goto bad;
        layer L;
        int ki = 0;
        if (parse_layer(body, &L, &ki, err, errlen) < 0)
            goto bad;
        if (!name[0])
            default_name(name, sizeof name, &L, ki, counts);
        counts[ki]++;
        if (model_find(m, name) >= 0) {
            errmsg(err, errlen, "layer name '%s' is used twice", name);
            goto bad;
        }
        if (add_layer(m, name, body, &L, &s, nclasses, init, &r, err, errlen) < 0)
            goto bad;
    }
    cli_free_list(items, n);
    char perr[256];
    if (model_prepare(m, perr, sizeof perr) < 0) {
        errmsg(err, errlen, "%s", perr);
        model_free(m);
        return NULL;
    }
    return m;
bad:
    cli_free_list(items, n);
    model_free(m);
    return NULL;
}

int arch_logits_node(const model *m, int *has_softmax)
{
    int last = m->n - 1;
    const node *nd = &m->nodes[last];
    int sm = !strcmp(nd->op, "Softmax") && nd->nin == 1 && nd->in[0] >= 0;
    if (has_softmax)
        *has_softmax = sm;
    return sm ? nd->in[0] : last;
}
