/* forward: see forward.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/forward.h"
#include "base/numeric.h"
#include "io/pixels.h"
#include "nn/arch.h"
#include "nn/engine.h"
#include "nn/rfield.h"
#include "nn/setup.h"

static int same_strings(char **a, int na, char **b, int nb)
{
    if (na != nb)
        return 0;
    for (int i = 0; i < na; i++)
        if (strcmp(a[i], b[i]))
            return 0;
    return 1;
}

/* Class names for the outputs (cls: the model's, else the images file's,
 * NULL when they do not fit) and the images file's own (dcls). */
struct class_names {
    char **cls, **dcls;
    int ncls, ndcls;
};

/* The activations file: /act/LAYER of each chosen layer with its op and
 * receptive field (rfield.h), /logits, /probs, top-k and /pred created for
 * n rows; the rows' ids (made when absent), labels and class names. */
static h5out *create_output(const struct fwd_opts *o, const model *m, const int *li, int nl,
                            h5in *in, int64_t a, int64_t n, int64_t K, int k,
                            const struct class_names *cn)
{
    rfield *rf = xcalloc((size_t)m->n, sizeof *rf);
    rfield_compute(m, rf);
    h5out *out = h5out_create(o->co.output, "activations", in);
    h5out_attr_str(out, "/", "model", o->model);
    for (int i = 0; i < nl; i++) {
        const node *q = &m->nodes[li[i]];
        char path[512];
        snprintf(path, sizeof path, "/act/%s", q->name);
        int64_t ad[4] = { n, q->shape[0], q->shape[1], q->shape[2] };
        h5out_create_rows(out, path, 4, ad);
        /* What downstream tools need without the model: the op and the
         * receptive field of each position (rfield.h). */
        h5out_attr_str(out, path, "op", q->op);
        h5out_attr_i64(out, path, "rf_size", 2, rf[li[i]].size);
        h5out_attr_i64(out, path, "rf_jump", 2, rf[li[i]].jump);
        h5out_attr_i64(out, path, "rf_start", 2, rf[li[i]].start);
    }
    int64_t kd[2] = { n, K }, td[2] = { n, k };
    h5out_create_rows(out, "/logits", 2, kd);
    h5out_create_rows(out, "/probs", 2, kd);
    h5out_create_rows(out, "/topk_prob", 2, td);
    h5out_create_ints(out, "/pred", n, 32);
    h5out_create_rows_typed(out, "/topk_idx", H5T_STD_I32LE, 2, (int64_t[]){ n, k });
    /* The rows' identity: ids (made when absent), labels, class names. */
    int64_t *ids;
    if (h5in_has(in, "/ids"))
        ids = h5in_read_i64(in, "/ids", a, n);
    else {
        ids = xmalloc((size_t)(n ? n : 1) * sizeof *ids);
        for (int64_t i = 0; i < n; i++)
            ids[i] = a + i;
    }
    h5out_write_i64(out, "/ids", n, ids);
    free(ids);
    if (h5in_has(in, "/labels")) {
        int32_t *lab = h5in_read_i32(in, "/labels", a, n);
        h5out_write_i32(out, "/labels", n, lab);
        free(lab);
    }
    h5out_carry_paths(out, in, a, a + n);
    if (cn->cls)
        h5out_write_strings(out, "/classes", cn->ncls, cn->cls);
    if (cn->dcls && cn->cls != cn->dcls && !same_strings(cn->cls, cn->ncls, cn->dcls, cn->ndcls))
        h5out_write_strings(out, "/label_classes", cn->ndcls, cn->dcls);
    else if (cn->dcls && !cn->cls)
        h5out_write_strings(out, "/classes", cn->ndcls, cn->dcls);
    free(rf);
    return out;
}

/* What --print says of each row: its /paths name, else its id. */
struct row_names {
    int64_t *ids;
    int32_t *labels;
    char **paths;
    int npaths;
};

/* --print: "NAME (label L): class p% | ..." for rows s..s+c-1 of the
 * batch; NAME is the row's /paths entry, else its id. */
static void print_rows(const struct class_names *cn, const struct row_names *rn, int64_t a,
                       int64_t s, int64_t c, int k, const int32_t *tix, const float *tp)
{
    const int32_t *plab = rn->labels;
    for (int64_t i = 0; i < c; i++) {
        int64_t r = s + i;
        if (rn->paths && a + r < rn->npaths)
            printf("%s", rn->paths[a + r]);
        else
            printf("%lld", (long long)(rn->ids ? rn->ids[r] : a + r));
        if (plab) {
            int32_t y = plab[r];
            const char *yn = cn->dcls && y >= 0 && y < cn->ndcls ? cn->dcls[y]
                             : !cn->dcls && cn->cls && y >= 0 && y < cn->ncls ? cn->cls[y] : NULL;
            if (yn)
                printf(" (label %s)", yn);
            else
                printf(" (label %d)", y);
        }
        for (int j = 0; j < k; j++) {
            int32_t q = tix[i * k + j];
            printf("%s", j ? " | " : ": ");
            if (cn->cls)
                printf("%s %.2f%%", cn->cls[q], 100.0 * tp[i * k + j]);
            else
                printf("%d %.2f%%", q, 100.0 * tp[i * k + j]);
        }
        putchar('\n');
    }
}

/* The layers -l names (or every one with --all): *nl indices. */
static int *chosen_layers(const struct fwd_opts *o, const model *m, int *nl)
{
    int *li = NULL;
    *nl = 0;
    if (o->all) {
        *nl = m->n;
        li = xmalloc((size_t)*nl * sizeof *li);
        for (int i = 0; i < *nl; i++)
            li[i] = i;
    } else if (o->layers) {
        char **names;
        int nn = cli_split(o->layers, ',', &names);
        li = xmalloc((size_t)(nn ? nn : 1) * sizeof *li);
        /* two names of one layer (-l layer4,layer4.1 in a ResNet, or a
         * node and its alias) keep it once: one /act/ dataset per layer */
        for (int i = 0; i < nn; i++) {
            int k = model_require(m, names[i], o->model), dup = 0;
            for (int j = 0; j < *nl; j++)
                dup |= li[j] == k;
            if (!dup)
                li[(*nl)++] = k;
        }
        cli_free_list(names, nn);
    }
    return li;
}

/* Class names: the model's, else the images file's; none when they do not
 * fit the K outputs. */
static void class_names_of(const model *m, h5in *in, int64_t K, struct class_names *cn)
{
    cn->cls = m->classes, cn->ncls = m->nclasses, cn->dcls = NULL, cn->ndcls = 0;
    if (h5in_has(in, "/classes"))
        cn->dcls = h5in_read_strings(in, "/classes", &cn->ndcls);
    if (!cn->cls || cn->ncls <= 0)
        cn->cls = cn->dcls, cn->ncls = cn->ndcls;
    if (cn->ncls != K)
        cn->cls = NULL, cn->ncls = 0;
}

/* The buffers of one batch. */
struct fwd_bufs {
    tensor *xb, *lg, *pr, *tp;
    int32_t *pred, *tix;
};

/* Logits, probabilities and top-k of the c rows in the engine now. */
static void batch_outputs(engine *e, int L, int sm, int64_t K, int k, int64_t c,
                          struct fwd_bufs *bf)
{
    const tensor *z = engine_act(e, L);
    bf->lg->dims[0] = bf->pr->dims[0] = bf->tp->dims[0] = c;
    memcpy(bf->lg->data, z->data, (size_t)(c * K) * sizeof(float));
    if (sm)
        memcpy(bf->pr->data, engine_output(e)->data, (size_t)(c * K) * sizeof(float));
    else
        for (int64_t i = 0; i < c; i++)
            num_softmaxf(bf->lg->data + i * K, K, bf->pr->data + i * K);
    for (int64_t i = 0; i < c; i++) {
        num_topk(bf->pr->data + i * K, K, k, bf->tix + i * k, bf->tp->data + i * k);
        bf->pred[i] = bf->tix[i * k];
    }
}

/* Finite pixels that give NaN or Inf: said, and nothing written. */
static void check_finite(engine *e, const model *m, int L, int64_t K, const int *li, int nl,
                         int64_t c, int64_t row0, const char *name)
{
    finite_check_rows(engine_act(e, L)->data, c, K, row0, name, "image", "logit", "class",
                      FINITE_FROM_PIXELS);
    for (int i = 0; i < nl; i++) {
        const tensor *t = engine_act(e, li[i]);
        char w[300];
        snprintf(w, sizeof w, "%s activation", m->nodes[li[i]].name);
        finite_check_rows(t->data, c, tensor_numel(t) / c, row0, name, "image", w, "value",
                          FINITE_FROM_PIXELS);
    }
}

static void write_batch(h5out *out, engine *e, const model *m, const int *li, int nl, int64_t s,
                        int64_t c, int k, const struct fwd_bufs *bf)
{
    for (int i = 0; i < nl; i++) {
        char path[512];
        snprintf(path, sizeof path, "/act/%s", m->nodes[li[i]].name);
        h5out_write_rows(out, path, s, engine_act(e, li[i]));
    }
    h5out_write_rows(out, "/logits", s, bf->lg);
    h5out_write_rows(out, "/probs", s, bf->pr);
    h5out_write_rows(out, "/topk_prob", s, bf->tp);
    h5out_write_i32_rows(out, "/pred", s, c, bf->pred);
    h5out_write_rows_raw(out, "/topk_idx", H5T_NATIVE_INT32, s, 2, (int64_t[]){ c, k }, bf->tix);
}

static void row_names_read(h5in *in, int64_t a, int64_t n, struct row_names *rn)
{
    memset(rn, 0, sizeof *rn);
    rn->ids = h5in_has(in, "/ids") ? h5in_read_i64(in, "/ids", a, n) : NULL;
    rn->labels = h5in_has(in, "/labels") ? h5in_read_i32(in, "/labels", a, n) : NULL;
    if (h5in_has(in, "/paths"))
        rn->paths = h5in_read_strings(in, "/paths", &rn->npaths);
}

static void row_names_free(struct row_names *rn)
{
    free(rn->ids);
    free(rn->labels);
    if (rn->paths)
        cli_free_list(rn->paths, rn->npaths);
}

void fwd_run(const struct fwd_opts *o)
{
    model *m = setup_model(o->model, &o->co);
    int nl, *li = chosen_layers(o, m, &nl);
    int64_t a, b;
    h5in *in = setup_images(o->input, m, o->model, &o->co, &a, &b);
    int64_t n = b - a;
    int sm, L = arch_logits_node(m, &sm);
    int64_t K = m->nodes[L].shape[0] * m->nodes[L].shape[1] * m->nodes[L].shape[2];
    int k = o->k < K ? o->k : (int)K;
    struct class_names cn;
    class_names_of(m, in, K, &cn);
    h5out *out = !o->print || o->co.output ? create_output(o, m, li, nl, in, a, n, K, k, &cn)
                                           : NULL;
    /* The engine and buffers hold what a batch needs, never more rows than
     * the command selects (one photo costs one image). */
    int batch = o->co.batch < n ? o->co.batch : n > 0 ? (int)n : 1;
    struct row_names rn = { 0 };
    if (o->print)
        row_names_read(in, a, n, &rn);
    tensor *xb = tensor_new4(batch, m->in_shape[0], m->in_shape[1], m->in_shape[2]);
    /* One batch (one photo): its pixels are read now and the images file
     * closed, so that what HDF5 keeps for an open file (a 512 KiB table of
     * its metadata cache, the chunk cache) is not held through the
     * forward (regnet_y_400mf, one photo: 0.5 MB of its peak). */
    char *iname = xstrdup(in->name);
    if (n > 0 && n <= batch) {
        xb->dims[0] = n;
        pixels_read_into(in, a, n, xb->data);
        h5in_close(in);
        in = NULL;
    }
    /* What loading the model, reading the photos and their names freed
     * goes back before the engine's buffers grow (densenet121, one photo:
     * 3.7 MB). */
    h5io_release();
    engine *e = engine_new(m, batch, 0, 0);
    /* Forward only: the chosen layers and the logits keep their values,
     * the other activations share buffers (engine_forward_only). */
    int *keep = xmalloc((size_t)(nl + 1) * sizeof *keep);
    for (int i = 0; i < nl; i++)
        keep[i] = li[i];
    keep[nl] = L;
    engine_forward_only(e, keep, nl + 1);
    free(keep);
    struct fwd_bufs bf = {
        xb, tensor_new2(batch, K), tensor_new2(batch, K), tensor_new2(batch, k),
        xmalloc((size_t)batch * sizeof(int32_t)), xmalloc((size_t)batch * (size_t)k * sizeof(int32_t))
    };
    progress *pg = progress_start("forward", n);
    for (int64_t s = 0; s < n; s += batch) {
        int64_t c = n - s < batch ? n - s : batch;
        bf.xb->dims[0] = c;
        if (in)
            pixels_read_into(in, a + s, c, bf.xb->data);
        engine_forward(e, bf.xb);
        check_finite(e, m, L, K, li, nl, c, a + s, iname);
        batch_outputs(e, L, sm, K, k, c, &bf);
        if (out)
            write_batch(out, e, m, li, nl, s, c, k, &bf);
        if (o->print)
            print_rows(&cn, &rn, a, s, c, k, bf.tix, bf.tp->data);
        progress_update(pg, s + c);
    }
    progress_end(pg);
    if (out)
        h5out_commit(out);
    if (o->print)
        cli_flush_stdout();
    bf.xb->dims[0] = bf.lg->dims[0] = bf.pr->dims[0] = bf.tp->dims[0] = batch;
    tensor_free(bf.xb);
    tensor_free(bf.lg);
    tensor_free(bf.pr);
    tensor_free(bf.tp);
    free(bf.pred);
    free(bf.tix);
    row_names_free(&rn);
    free(li);
    if (cn.dcls)
        cli_free_list(cn.dcls, cn.ndcls);
    engine_free(e);
    model_free(m);
    h5in_close(in);
    free(iname);
}
