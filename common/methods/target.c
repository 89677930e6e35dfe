/* target: parsing, resolving and measuring the scalar an attribution or
 * occlusion explains (see target.h). Probabilities are a softmax of the
 * logits computed here in double precision, whether or not the model ends
 * in a Softmax node, so gradients of a probability go through the same
 * logits node either way. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/numeric.h"
#include "nn/arch.h"
#include "base/cli.h"
#include "methods/target.h"
#include "io/h5io.h"

/* A non-negative decimal integer filling all of s. */
static int parse_index(const char *s, int64_t *v)
{
    char *end;
    if (!*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || *end || x < 0)
        return -1;
    *v = x;
    return 0;
}

static const char target_words[] =
    "class=K, label, pred, unit=LAYER:C[:max|:mean|:sum|@X,Y] or "
    "strongest=LAYER[:max|:mean|:sum|@X,Y] or direction=LAYER:FILE";

/* A trailing "@X,Y" or ":max|:mean|:sum" of s (cut off in place) into t;
 * 0, or -1 on a malformed position. */
static int parse_summary(char *s, target *t)
{
    char *at = strrchr(s, '@');
    if (at) {
        *at = '\0';
        char *comma = strchr(at + 1, ',');
        if (!comma)
            return -1;
        *comma = '\0';
        if (parse_index(at + 1, &t->x) || parse_index(comma + 1, &t->y))   /* @X,Y */
            return -1;
        t->map = TARGET_MAP_AT;
        return 0;
    }
    char *colon = strrchr(s, ':');
    static const char *const words[] = { "max", "mean", "sum" };
    static const target_map maps[] = { TARGET_MAP_MAX, TARGET_MAP_MEAN, TARGET_MAP_SUM };
    for (int i = 0; colon && i < 3; i++)
        if (!strcmp(colon + 1, words[i])) {
            t->map = maps[i];
            *colon = '\0';
        }
    return 0;
}

int target_parse(const char *spec, target *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    t->cls = -1;
    t->node = -1;
    t->y = t->x = -1;
    t->spec = xstrdup(spec);
    if (!strcmp(spec, "label")) {
        t->kind = TARGET_LABEL;
        return 0;
    }
    if (!strcmp(spec, "pred")) {
        t->kind = TARGET_PRED;
        return 0;
    }
    if (!strncmp(spec, "class=", 6)) {
        if (!spec[6])
            return errmsg(err, errlen, "target '%s': no class after 'class='", spec);
        t->kind = TARGET_CLASS;
        t->cls_name = xstrdup(spec + 6);
        return 0;
    }
    if (!strncmp(spec, "direction=", 10)) {
        const char *colon = strrchr(spec + 10, ':');
        if (!colon || colon == spec + 10 || !colon[1])
            return errmsg(err, errlen, "target '%s': expected direction=LAYER:FILE", spec);
        t->kind = TARGET_DIRECTION;
        t->map = TARGET_MAP_MEAN;
        t->layer = xstrdup(spec + 10);
        t->layer[colon - spec - 10] = '\0';
        t->dir_file = xstrdup(colon + 1);
        return 0;
    }
    if (!strncmp(spec, "strongest=", 10) || !strncmp(spec, "unit=", 5)) {
        /* Parsed from the right: layer names may hold ':' (ONNX names do),
         * the channel, summary and position never do. */
        int unit = spec[0] == 'u';
        char *s = xstrdup(spec + (unit ? 5 : 10));
        t->kind = unit ? TARGET_UNIT : TARGET_STRONGEST;
        t->map = unit ? TARGET_MAP_MAX : TARGET_MAP_SUM;
        if (parse_summary(s, t) < 0) {
            free(s);
            return errmsg(err, errlen, "target '%s': position should be @X,Y with X, Y >= 0", spec);
        }
        if (unit) {
            char *colon = strrchr(s, ':');
            if (!colon || colon == s || parse_index(colon + 1, &t->channel)) {
                free(s);
                return errmsg(err, errlen, "target '%s': expected unit=LAYER:C[:max|:mean|:sum|@X,Y]",
                            spec);
            }
            *colon = '\0';
        }
        if (!*s) {
            free(s);
            return errmsg(err, errlen, "target '%s': no layer", spec);
        }
        t->layer = s;
        return 0;
    }
    return errmsg(err, errlen, "unknown target '%s' (expected %s)", spec, target_words);
}

void target_free(target *t)
{
    free(t->spec);
    free(t->cls_name);
    free(t->layer);
    free(t->dir_file);
    free(t->dir);
    memset(t, 0, sizeof *t);
}

/* A direction's numbers: an HDF5 file's /direction or first row of
 * /components, else a text file of numbers. *n gets the count. */
static float *read_direction(const char *file, int64_t *n)
{
    FILE *fp = fopen(file, "rb");
    if (!fp)
        die("%s: cannot open the direction file", file);
    char magic[8] = { 0 };
    size_t got = fread(magic, 1, 8, fp);
    if (got == 8 && !memcmp(magic, "\x89HDF\r\n\x1a\n", 8)) {
        fclose(fp);
        h5in *in = h5in_open(file);
        const char *ds = h5in_has(in, "/direction") ? "/direction" : "/components";
        if (!h5in_has(in, ds))
            die("%s: no /direction or /components for direction=", file);
        tensor *v = h5in_read_rows(in, ds, 0, 1);
        *n = tensor_numel(v);
        float *d = xmalloc((size_t)*n * sizeof *d);
        memcpy(d, v->data, (size_t)*n * sizeof *d);
        tensor_free(v);
        h5in_close(in);
        return d;
    }
    rewind(fp);
    int64_t cap = 16;
    float *d = xmalloc((size_t)cap * sizeof *d);
    *n = 0;
    double x;
    int c;
    for (;;) {
        while ((c = fgetc(fp)) == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r')
            ;
        if (c == EOF)
            break;
        ungetc(c, fp);
        if (fscanf(fp, "%lf", &x) != 1 || !isfinite(x))
            die("%s: direction file: not a finite number after %lld values", file, (long long)*n);
        if (*n == cap)
            d = xrealloc(d, (size_t)(cap *= 2) * sizeof *d);
        d[(*n)++] = (float)x;
    }
    fclose(fp);
    return d;
}

int target_needs_labels(const target *t) { return t->kind == TARGET_LABEL; }

static int64_t node_numel(const model *m, int i)
{
    const int64_t *s = m->nodes[i].shape;
    return s[0] * s[1] * s[2];
}

void target_resolve(target *t, const model *m, const char *file)
{
    int logits = arch_logits_node(m, &t->softmax);
    int64_t K = node_numel(m, logits);
    switch (t->kind) {
    case TARGET_CLASS: {
        int64_t k;
        t->node = logits;
        if (parse_index(t->cls_name, &k) == 0) {
            if (k >= K)
                die("%s: target '%s': class %lld out of range (the model has %lld classes: 0..%lld)",
                    file, t->spec, (long long)k, (long long)K, (long long)K - 1);
            t->cls = (int)k;
            break;
        }
        for (int pass = 0; pass < 2 && t->cls < 0; pass++)   /* exactly, else ignoring case */
            for (int i = 0; m->classes && i < m->nclasses && i < K; i++)
                if (!(pass ? strcasecmp : strcmp)(m->classes[i], t->cls_name)) {
                    t->cls = i;
                    break;
                }
        if (t->cls < 0)
            die("%s: target '%s': no class named '%s' (give an index 0..%lld%s)", file, t->spec,
                t->cls_name, (long long)K - 1, m->classes ? " or a name from the model's /classes" : "");
        break;
    }
    case TARGET_LABEL:
    case TARGET_PRED:
        t->node = logits;
        break;
    case TARGET_DIRECTION: {
        t->node = model_require(m, t->layer, file);
        int64_t n, C = m->nodes[t->node].shape[0];
        t->dir = read_direction(t->dir_file, &n);
        if (n != C)
            die("%s: target '%s': the direction has %lld values but layer '%s' has %lld channels",
                t->dir_file, t->spec, (long long)n, m->nodes[t->node].name, (long long)C);
        break;
    }
    case TARGET_UNIT:
    case TARGET_STRONGEST: {
        t->node = model_require(m, t->layer, file);
        const int64_t *s = m->nodes[t->node].shape;
        if (t->kind == TARGET_UNIT && t->channel >= s[0])
            die("%s: target '%s': layer '%s' has %lld channels (0..%lld)", file, t->spec,
                m->nodes[t->node].name, (long long)s[0], (long long)s[0] - 1);
        if (t->map == TARGET_MAP_AT && (t->y >= s[1] || t->x >= s[2]))
            die("%s: target '%s': position @%lld,%lld (x,y) outside layer '%s' (%lldx%lld, WxH)",
                file, t->spec, (long long)t->x, (long long)t->y, m->nodes[t->node].name,
                (long long)s[2], (long long)s[1]);
        break;
    }
    }
}

/* A map (hw floats, w wide) as one number by t's summary, and its
 * gradient into g (hw floats, zeroed) when g is not NULL. The maximum's
 * gradient goes to its first position, as max-pooling's does. */
static double summarise(const target *t, const float *map, int64_t w, int64_t hw, float *g)
{
    if (t->map == TARGET_MAP_AT) {
        int64_t p = t->y * w + t->x;
        if (g)
            g[p] = 1;
        return map[p];
    }
    if (t->map == TARGET_MAP_MAX) {
        int64_t p = num_argmax(map, hw);
        if (g)
            g[p] = 1;
        return map[p];
    }
    double s = 0, d = t->map == TARGET_MAP_MEAN ? 1.0 / (double)hw : 1.0;
    for (int64_t p = 0; p < hw; p++) {
        s += map[p];
        if (g)
            g[p] = (float)d;
    }
    return s * d;
}

void target_pick(const target *t, const model *m, const engine *e, int n,
                 const int32_t *labels, const int64_t *ids, target_sel *sel)
{
    target_pick_rows(t, m, engine_act(e, t->node)->data, n, labels, ids, sel);
}

void target_pick_rows(const target *t, const model *m, const float *act, int n,
                      const int32_t *labels, const int64_t *ids, target_sel *sel)
{
    const int64_t *s = m->nodes[t->node].shape;
    int64_t K = s[0] * s[1] * s[2], hw = s[1] * s[2];
    for (int i = 0; i < n; i++) {
        target_sel *q = &sel[i];
        q->node = t->node;
        q->y = q->x = -1;
        switch (t->kind) {
        case TARGET_CLASS: q->channel = t->cls; break;
        case TARGET_LABEL:
            if (!labels)
                die("target 'label' needs the images' /labels");
            if (labels[i] < 0 || labels[i] >= K)
                die("image %lld: label %d is not a class of the model (0..%lld)",
                    (long long)(ids ? ids[i] : i), labels[i], (long long)K - 1);
            q->channel = labels[i];
            break;
        case TARGET_PRED: q->channel = num_argmax(act + i * K, K); break;
        case TARGET_UNIT: q->channel = t->channel; break;
        case TARGET_DIRECTION: q->channel = 0; break;
        case TARGET_STRONGEST: {
            /* The map whose summary is largest; ties to the lower channel. */
            double best = -INFINITY;
            for (int64_t c = 0; c < s[0]; c++) {
                double v = summarise(t, act + i * K + c * hw, s[2], hw, NULL);
                if (v > best)
                    best = v, q->channel = c;
            }
            break;
        }
        }
        if (t->map == TARGET_MAP_AT && (t->kind == TARGET_UNIT || t->kind == TARGET_STRONGEST))
            q->y = t->y, q->x = t->x;
    }
}

double target_row_value(const target *t, const float *row, int64_t C, int64_t h, int64_t w,
                        const target_sel *q, float *g)
{
    int64_t hw = h * w, K = C * hw;
    int cls_target = t->kind == TARGET_CLASS || t->kind == TARGET_LABEL || t->kind == TARGET_PRED;
    if (cls_target && t->measure == TARGET_PROB) {
        double *p = xmalloc((size_t)K * sizeof *p);
        num_softmax(row, K, p);
        double pc = p[q->channel];
        if (g)   /* d p_c / d z_j = p_c (delta_cj - p_j) */
            for (int64_t j = 0; j < K; j++)
                g[j] = (float)(pc * ((j == q->channel) - p[j]));
        free(p);
        return pc;
    }
    if (cls_target && t->measure == TARGET_LOGODDS) {
        /* z_c - A log sum_{j != c} e^{z_j}; d/dz_j = -A q_j (q the
         * softmax over j != c), d/dz_c = 1. */
        double mx = -INFINITY, s = 0;
        for (int64_t j = 0; j < K; j++)
            if (j != q->channel && row[j] > mx)
                mx = row[j];
        for (int64_t j = 0; j < K; j++)
            s += j != q->channel ? exp((double)row[j] - mx) : 0;
        for (int64_t j = 0; g && j < K; j++)
            g[j] = j == q->channel ? 1.0f : (float)(-t->odds_w * exp((double)row[j] - mx) / s);
        return row[q->channel] - t->odds_w * (mx + log(s));
    }
    if (cls_target) {
        if (g)
            g[q->channel] = 1;
        return row[q->channel];
    }
    if (t->kind == TARGET_DIRECTION) {
        double s = 0;
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = 0; p < hw; p++) {
                s += (double)t->dir[c] * row[c * hw + p];
                if (g)
                    g[c * hw + p] = (float)(t->dir[c] / (double)hw);
            }
        return s / (double)hw;
    }
    return summarise(t, row + q->channel * hw, w, hw, g ? g + q->channel * hw : NULL);
}

/* One image's value, and its seed when g is not NULL (g zeroed, K floats). */
static float measure(const target *t, const engine *e, int i, const target_sel *q, float *g)
{
    const tensor *a = engine_act(e, t->node);
    int64_t K = a->dims[1] * a->dims[2] * a->dims[3];
    return (float)target_row_value(t, a->data + (int64_t)i * K, a->dims[1], a->dims[2],
                                   a->dims[3], q, g);
}

void target_value(const target *t, const engine *e, int n, const target_sel *sel, int nsel,
                  float *val)
{
    for (int i = 0; i < n; i++)
        val[i] = measure(t, e, i, &sel[i % nsel], NULL);
}

int target_seed(const target *t, const engine *e, int n, const target_sel *sel, int nsel,
                tensor *grad, float *val)
{
    const tensor *a = engine_act(e, t->node);
    grad->ndim = 4;
    grad->dims[0] = n;
    for (int k = 1; k < 4; k++)
        grad->dims[k] = a->dims[k];
    int64_t K = a->dims[1] * a->dims[2] * a->dims[3];
    memset(grad->data, 0, (size_t)(n * K) * sizeof(float));
    for (int i = 0; i < n; i++) {
        float v = measure(t, e, i, &sel[i % nsel], grad->data + i * K);
        if (val)
            val[i] = v;
    }
    return t->node;
}

/* One term "[W*]TARGET" into t and *w. */
static int parse_term(const char *s, target *t, double *w, char *err, size_t errlen)
{
    *w = 1;
    const char *star = strchr(s, '*');
    if (star) {
        char *end;
        *w = strtod(s, &end);
        if (end != star || !isfinite(*w))
            return errmsg(err, errlen, "target term '%s': the weight before '*' is not a number", s);
        s = star + 1;
    }
    return target_parse(s, t, err, errlen);
}

int target_expr_parse(const char *spec, target_expr *x, char *err, size_t errlen)
{
    memset(x, 0, sizeof *x);
    char *s = xstrdup(spec), *p = s;
    double sign = 1;
    while (*p == ' ')
        p++;
    if (*p == '-' && p[1] == ' ')
        sign = -1, p += 2;
    for (;;) {
        char *plus = strstr(p, " + "), *minus = strstr(p, " - ");
        char *op = plus && (!minus || plus < minus) ? plus : minus;
        if (op)
            *op = '\0';
        while (*p == ' ')
            p++;
        x->t = xrealloc(x->t, (size_t)(x->n + 1) * sizeof *x->t);
        x->w = xrealloc(x->w, (size_t)(x->n + 1) * sizeof *x->w);
        if (!*p || parse_term(p, &x->t[x->n], &x->w[x->n], err, errlen) < 0) {
            if (!*p)
                errmsg(err, errlen, "target '%s': an empty term", spec);
            else
                target_free(&x->t[x->n]);
            free(s);
            target_expr_free(x);
            return -1;
        }
        x->w[x->n++] *= sign;
        if (!op)
            break;
        sign = op == minus ? -1 : 1;
        p = op + 3;
    }
    free(s);
    return 0;
}

void target_expr_free(target_expr *x)
{
    for (int i = 0; i < x->n; i++)
        target_free(&x->t[i]);
    free(x->t);
    free(x->w);
    memset(x, 0, sizeof *x);
}
