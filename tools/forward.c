/* cnn-forward: run a model over an images file in batches; write chosen
 * layers' activations, logits, probabilities and top-k predictions (an
 * activations file), or print the top-k classes per image. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/numeric.h"
#include "nn/arch.h"
#include "base/cli.h"
#include "nn/engine.h"
#include "io/h5io.h"
#include "io/pixels.h"
#include "nn/model.h"
#include "nn/setup.h"
#include "nn/rfield.h"

static const char usage[] =
    "Usage: cnn-forward -m MODEL.h5 [-l LAYER,...|--all] [options] [IMAGES.h5]\n"
    "Runs the model over an images file and writes an activations file\n"
    "(kind=activations): /act/LAYER (N x C x H x W) for each chosen layer, /logits\n"
    "and /probs (N x K), /pred (N, int32), /topk_idx (N x k, int32) and /topk_prob\n"
    "(N x k); /ids, /labels travel with the rows. /classes holds the model's class\n"
    "names (what /pred indexes) when it has them, else the images file's; the\n"
    "images file's /classes go to /label_classes when they differ from the\n"
    "model's. Layer names match exactly, or ignoring case when that is unique.\n"
    "\n"
    "  -m, --model FILE    model file (kind=model)\n"
    "  -l, --layers L,...  layers whose activations to keep (default none)\n"
    "      --all           keep every layer's activations\n"
    "  -k, --top K         classes in /topk_* and --print (default 5)\n"
    "  -p, --print         print the top-k classes of every image on standard\n"
    "                      output (no HDF5 file then unless -o is given)\n"
    CLI_IMAGE_HELP CLI_PHOTO_INTRO CLI_PHOTO_HELP
    CLI_HELP_OUTPUT CLI_HELP_RANGE CLI_HELP_BATCH CLI_HELP_THREADS CLI_HELP_END;

struct fwd_opts {
    struct cli_common co;
    const char *model, *layers, *input;
    int all, print, k;
};

enum { OPT_ALL = 2001 };

static void parse_args(int argc, char **argv, struct fwd_opts *o)
{
    static const struct option longopts[] = {
        { "model", required_argument, 0, 'm' },
        { "layers", required_argument, 0, 'l' },
        { "all", no_argument, 0, OPT_ALL },
        { "top", required_argument, 0, 'k' },
        { "print", no_argument, 0, 'p' },
        CLI_COMMON_LONGOPTS, CLI_IMAGE_LONGOPTS, CLI_PHOTO_LONGOPTS,
        { 0, 0, 0, 0 }
    };
    memset(o, 0, sizeof *o);
    cli_common_for(&o->co, CLI_RANGE | CLI_BATCH | CLI_THREADS);
    o->k = 5;
    int c;
    while ((c = getopt_long(argc, argv, "m:l:k:p" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'l': o->layers = optarg; break;
        case OPT_ALL: o->all = 1; break;
        case 'k': o->k = (int)cli_long("-k", optarg, 1, 1 << 20); break;
        case 'p': o->print = 1; break;
        default:
            cli_common_opt(c, optarg, &o->co, usage);
        }
    }
    o->input = setup_args(o->model, argc, argv, optind);
    if (o->all && o->layers)
        die_usage("give -l LAYERS or --all, not both");
}

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
    if (cn->cls)
        h5out_write_strings(out, "/classes", cn->ncls, cn->cls);
    if (cn->dcls && cn->cls != cn->dcls && !same_strings(cn->cls, cn->ncls, cn->dcls, cn->ndcls))
        h5out_write_strings(out, "/label_classes", cn->ndcls, cn->dcls);
    else if (cn->dcls && !cn->cls)
        h5out_write_strings(out, "/classes", cn->ndcls, cn->dcls);
    free(rf);
    return out;
}

/* --print: "ID (label L): class p% | ..." for rows s..s+c-1 of the batch. */
static void print_rows(const struct class_names *cn, const int64_t *pids, const int32_t *plab,
                       int64_t a, int64_t s, int64_t c, int k, const int32_t *tix, const float *tp)
{
    for (int64_t i = 0; i < c; i++) {
        int64_t r = s + i;
        printf("%lld", (long long)(pids ? pids[r] : a + r));
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

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    struct fwd_opts o;
    parse_args(argc, argv, &o);
    model *m = setup_model(o.model, &o.co);
    int nl = 0, *li = NULL;
    if (o.all) {
        nl = m->n;
        li = xmalloc((size_t)nl * sizeof *li);
        for (int i = 0; i < nl; i++)
            li[i] = i;
    } else if (o.layers) {
        char **names;
        nl = cli_split(o.layers, ',', &names);
        li = xmalloc((size_t)(nl ? nl : 1) * sizeof *li);
        for (int i = 0; i < nl; i++)
            li[i] = model_require(m, names[i], o.model);
        cli_free_list(names, nl);
    }

    int64_t a, b;
    h5in *in = setup_images(o.input, m, o.model, &o.co, &a, &b);
    int64_t n = b - a;

    int sm;
    int L = arch_logits_node(m, &sm);
    int64_t K = m->nodes[L].shape[0] * m->nodes[L].shape[1] * m->nodes[L].shape[2];
    int k = o.k < K ? o.k : (int)K;

    /* Class names: the model's, else the images file's. */
    struct class_names cn = { m->classes, NULL, m->nclasses, 0 };
    if (h5in_has(in, "/classes"))
        cn.dcls = h5in_read_strings(in, "/classes", &cn.ndcls);
    if (!cn.cls || cn.ncls <= 0)
        cn.cls = cn.dcls, cn.ncls = cn.ndcls;
    if (cn.ncls != K)
        cn.cls = NULL, cn.ncls = 0;   /* names that do not fit the outputs are not shown */

    h5out *out = NULL;
    if (!o.print || o.co.output)
        out = create_output(&o, m, li, nl, in, a, n, K, k, &cn);

    /* The engine and buffers hold what a batch needs, never more rows than
     * the command selects (one photo costs one image). */
    int batch = o.co.batch < n ? o.co.batch : n > 0 ? (int)n : 1;
    engine *e = engine_new(m, batch, 0, 0);
    tensor *xb = tensor_new4(batch, m->in_shape[0], m->in_shape[1], m->in_shape[2]);
    tensor *lg = tensor_new2(batch, K), *pr = tensor_new2(batch, K), *tp = tensor_new2(batch, k);
    int32_t *pred = xmalloc((size_t)batch * sizeof *pred);
    int32_t *tix = xmalloc((size_t)batch * (size_t)k * sizeof *tix);
    int64_t *pids = NULL;
    int32_t *plab = NULL;
    if (o.print) {
        pids = h5in_has(in, "/ids") ? h5in_read_i64(in, "/ids", a, n) : NULL;
        plab = h5in_has(in, "/labels") ? h5in_read_i32(in, "/labels", a, n) : NULL;
    }
    progress *pg = progress_start("forward", n);
    for (int64_t s = 0; s < n; s += batch) {
        int64_t c = n - s < batch ? n - s : batch;
        xb->dims[0] = c;
        pixels_read_into(in, a + s, c, xb->data);
        engine_forward(e, xb);
        const tensor *z = engine_act(e, L);
        /* Finite pixels that give NaN or Inf: said, and nothing written. */
        finite_check_rows(z->data, c, K, a + s, in->name, "image", "logit", "class", FINITE_FROM_PIXELS);
        for (int i = 0; i < nl; i++) {
            const tensor *t = engine_act(e, li[i]);
            char w[300];
            snprintf(w, sizeof w, "%s activation", m->nodes[li[i]].name);
            finite_check_rows(t->data, c, tensor_numel(t) / c, a + s, in->name, "image", w,
                              "value", FINITE_FROM_PIXELS);
        }
        lg->dims[0] = pr->dims[0] = tp->dims[0] = c;
        memcpy(lg->data, z->data, (size_t)(c * K) * sizeof(float));
        if (sm)
            memcpy(pr->data, engine_output(e)->data, (size_t)(c * K) * sizeof(float));
        else
            for (int64_t i = 0; i < c; i++)
                num_softmaxf(lg->data + i * K, K, pr->data + i * K);
        for (int64_t i = 0; i < c; i++) {
            num_topk(pr->data + i * K, K, k, tix + i * k, tp->data + i * k);
            pred[i] = tix[i * k];
        }
        if (out) {
            for (int i = 0; i < nl; i++) {
                char path[512];
                snprintf(path, sizeof path, "/act/%s", m->nodes[li[i]].name);
                h5out_write_rows(out, path, s, engine_act(e, li[i]));
            }
            h5out_write_rows(out, "/logits", s, lg);
            h5out_write_rows(out, "/probs", s, pr);
            h5out_write_rows(out, "/topk_prob", s, tp);
            h5out_write_i32_rows(out, "/pred", s, c, pred);
            h5out_write_rows_raw(out, "/topk_idx", H5T_NATIVE_INT32, s, 2, (int64_t[]){ c, k },
                                 tix);
        }
        if (o.print)
            print_rows(&cn, pids, plab, a, s, c, k, tix, tp->data);
        progress_update(pg, s + c);
    }
    progress_end(pg);
    if (out)
        h5out_commit(out);
    if (o.print && fflush(stdout) != 0)
        die("standard output:");

    xb->dims[0] = batch;
    lg->dims[0] = pr->dims[0] = tp->dims[0] = batch;
    tensor_free(xb);
    tensor_free(lg);
    tensor_free(pr);
    tensor_free(tp);
    free(pred);
    free(tix);
    free(pids);
    free(plab);
    free(li);
    if (cn.dcls)
        cli_free_list(cn.dcls, cn.ndcls);
    engine_free(e);
    model_free(m);
    h5in_close(in);
    return EXIT_OK;
}
