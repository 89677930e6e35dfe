/* cnn-pca: principal components of a features file (N x D), projections of
 * its rows, or of another file's rows onto components fitted elsewhere. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "io/h5io.h"
#include "analysis/linalg.h"
#include "base/tensor.h"

static const char usage[] =
    "Usage: cnn-pca [-k K] [options] [FEATURES.h5]\n"
    "       cnn-pca --fit FIT.h5 [-k K] [options] [--apply] FEATURES.h5\n"
    "Top-k principal components of a features file (N x D in /features); writes a\n"
    "pca file: /features (N x K projections), /components (K x D), /mean (D),\n"
    "/explained_variance, /explained_variance_ratio, /singular_values (K), and the\n"
    "rows' /ids, /labels, /classes, /pred.\n"
    "\n"
    "  -k, --components K  number of components (default 2)\n"
    "      --fit FILE      fit on FILE (a features file), or reuse the components\n"
    "                      of FILE (a pca file); project the input's rows\n"
    "      --apply FILE    the file whose rows are projected (same as the operand)\n"
    "      --method M      auto, covariance, gram or randomized (default auto)\n"
    "      --block B       randomized: basis columns added per pass (default\n"
    "                      K, at least 12, at most 48)\n"
    "      --basis M       randomized: most basis columns held, restart beyond\n"
    "                      (default: what fits in 256 MiB, at least K + 2 B)\n"
    "      --max-passes N  randomized: most passes over the data (default 25)\n"
    "      --tol T         randomized: stop at this estimated error of the\n"
    "                      projections, relative to their scale (default 3e-4)\n"
    "\n"
    "Routes (auto): exact when min(N, D) <= 1024, or min(N, D) <= 8192 and\n"
    "4 (K + B) >= min(N, D): covariance (D <= N; one pass, D x D in double) or\n"
    "gram (D > N; N x N in double); otherwise randomized block Krylov: a pass\n"
    "per B columns, memory (16 D + 4 N) bytes per basis column. The rows are\n"
    "streamed from the file in batches, never held whole.\n"
    "\n"
    CLI_HELP_OUTPUT CLI_HELP_RANGE CLI_HELP_BATCH CLI_HELP_THREADS CLI_HELP_SEED CLI_HELP_END;

struct pca_opts {
    struct cli_common co;
    int k, k_given;
    linalg_pca_opts lo;
    const char *fit, *apply, *input;
};

enum { OPT_FIT = 2001, OPT_APPLY, OPT_METHOD, OPT_BLOCK, OPT_BASIS, OPT_MAXPASSES, OPT_TOL };

static void parse_args(int argc, char **argv, struct pca_opts *o)
{
    static const struct option longopts[] = {
        { "components", required_argument, 0, 'k' },
        { "fit", required_argument, 0, OPT_FIT },
        { "apply", required_argument, 0, OPT_APPLY },
        { "method", required_argument, 0, OPT_METHOD },
        { "block", required_argument, 0, OPT_BLOCK },
        { "basis", required_argument, 0, OPT_BASIS },
        { "max-passes", required_argument, 0, OPT_MAXPASSES },
        { "tol", required_argument, 0, OPT_TOL },
        CLI_COMMON_LONGOPTS,
        { 0, 0, 0, 0 }
    };
    memset(o, 0, sizeof *o);
    cli_common_for(&o->co, CLI_RANGE | CLI_BATCH | CLI_THREADS | CLI_SEED);
    o->co.batch = 0;  /* 0: linalg sizes batches to about 32 MiB */
    o->k = 2;
    int c;
    while ((c = getopt_long(argc, argv, "k:" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (c) {
        case 'k':
            o->k = (int)cli_long("-k", optarg, 1, 1 << 20);
            o->k_given = 1;
            break;
        case OPT_FIT: o->fit = optarg; break;
        case OPT_APPLY: o->apply = optarg; break;
        case OPT_METHOD:
            if (strcmp(optarg, "auto") && strcmp(optarg, "covariance") &&
                strcmp(optarg, "gram") && strcmp(optarg, "randomized"))
                die_usage("--method: '%s' is not one of auto, covariance, gram, randomized",
                          optarg);
            o->lo.method = optarg;
            break;
        case OPT_BLOCK:
            o->lo.block = (int)cli_long("--block", optarg, 1, 10000);
            break;
        case OPT_BASIS:
            o->lo.basis = (int)cli_long("--basis", optarg, 2, 1000000);
            break;
        case OPT_MAXPASSES:
            o->lo.max_passes = (int)cli_long("--max-passes", optarg, 3, 1000);
            break;
        case OPT_TOL: o->lo.tol = cli_double("--tol", optarg, 1e-12, 1); break;
        default:
            cli_common_opt(c, optarg, &o->co, usage);
        }
    }
    if (optind < argc - 1)
        die_usage("one input file expected, got %d", argc - optind);
    o->input = optind < argc ? argv[optind] : NULL;
    if (o->apply && o->input)
        die_usage("give the file to project once: --apply FILE or the operand, not both");
    if (o->apply)
        o->input = o->apply;
    if (o->apply && !o->fit)
        die_usage("--apply needs --fit FILE (where the components come from)");
    o->lo.batch = o->co.batch;
    o->lo.seed = o->co.seed;
    o->lo.threads = o->co.threads;
}

/* Rows of /features, offset by --range. */
struct feat_src {
    h5in *in;
    int64_t a;
};

static void feat_read(void *ctx, int64_t start, int64_t count, float *buf)
{
    struct feat_src *s = ctx;
    h5in_read_rows_into(s->in, "/features", s->a + start, count, buf);
}

static const float *feat_map(void *ctx, int64_t start, int64_t *count, void **token)
{
    struct feat_src *s = ctx;
    h5map *m = xmalloc(sizeof *m);
    const float *rows = h5in_map_rows(s->in, "/features", s->a + start, count, m);
    if (!rows)
        free(m);
    *token = rows ? m : NULL;
    return rows;
}

static void feat_release(void *token)
{
    h5map_release(token);
    free(token);
}

static int64_t feat_dims(h5in *in, int64_t *n)
{
    int64_t dims[TENSOR_MAXDIM];
    int nd = h5in_dims(in, "/features", dims);
    if (nd != 2)
        die("%s: /features should be N x D (has %d dimensions)", in->name, nd);
    *n = dims[0];
    return dims[1];
}

/* Components from a pca file: the first k of them. */
static linalg_pca *load_pca(h5in *in, int k, int k_given)
{
    int64_t dims[TENSOR_MAXDIM];
    if (h5in_dims(in, "/components", dims) != 2)
        die("%s: /components should be K x D", in->name);
    if (!k_given)
        k = (int)dims[0];
    if (k > dims[0])
        die("%s: holds %lld components, %d asked", in->name, (long long)dims[0], k);
    linalg_pca *p = xcalloc(1, sizeof *p);
    p->k = k;
    p->d = dims[1];
    tensor *c = h5in_read_rows(in, "/components", 0, k);
    tensor *m = h5in_read(in, "/mean");
    if (tensor_numel(m) != p->d)
        die("%s: /mean has %lld values, /components %lld columns", in->name,
            (long long)tensor_numel(m), (long long)p->d);
    tensor *ev = h5in_read(in, "/explained_variance");
    tensor *er = h5in_read(in, "/explained_variance_ratio");
    if (tensor_numel(ev) < k || tensor_numel(er) < k)
        die("%s: fewer explained variances than components", in->name);
    p->components = falloc((size_t)(k * p->d));
    memcpy(p->components, c->data, (size_t)(k * p->d) * sizeof(float));
    p->mean = falloc((size_t)p->d);
    memcpy(p->mean, m->data, (size_t)p->d * sizeof(float));
    p->variance = xcalloc((size_t)k, sizeof(double));
    p->ratio = xcalloc((size_t)k, sizeof(double));
    for (int i = 0; i < k; i++) {
        p->variance[i] = ev->data[i];
        p->ratio[i] = er->data[i];
    }
    char *meth = h5in_attr_str(in, "/", "method");
    snprintf(p->method, sizeof p->method, "%s", meth ? meth : "unknown");
    free(meth);
    int64_t nfit = 0;
    h5in_attr_i64(in, "/", "n_samples", &nfit, 1);
    p->n = nfit;
    double tv = 0;
    h5in_attr_f64(in, "/", "total_variance", &tv, 1);
    p->total_variance = tv;
    tensor_free(c);
    tensor_free(m);
    tensor_free(ev);
    tensor_free(er);
    return p;
}

static void write_vec(h5out *out, const char *name, int64_t n, const double *v)
{
    tensor *t = tensor_new(1, &n);
    for (int64_t i = 0; i < n; i++)
        t->data[i] = (float)v[i];
    h5out_write(out, name, t);
    tensor_free(t);
}

static void copy_attr(h5out *out, h5in *in, const char *name)
{
    char *v = h5in_attr_str(in, "/", name);
    if (v)
        h5out_attr_str(out, "/", name, v);
    free(v);
}

static int run(struct pca_opts *o)
{
    h5in *in = h5in_open(o->input);
    h5in_require_kind(in, "features");
    int64_t n, d = feat_dims(in, &n);
    int64_t a = o->co.range_a, b = o->co.range_b;
    cli_range_resolve(n, &a, &b);
    if (b - a == 0)
        die("%s: no rows to analyse (empty input or --range)", in->name);

    linalg_pca *p;
    int same = !o->fit;
    if (o->fit) {
        h5in *fin = h5in_open(o->fit);
        h5in_require_kind(fin, "features,pca");
        char *kind = h5in_kind(fin);
        if (!strcmp(kind, "pca")) {
            p = load_pca(fin, o->k, o->k_given);
        } else {
            int64_t fn, fd = feat_dims(fin, &fn);
            struct feat_src fs = { fin, 0 };
            linalg_rows src = { fn, fd, feat_read, &fs, fin->name, 0, feat_map, feat_release };
            p = linalg_pca_fit(&src, o->k, &o->lo);
        }
        free(kind);
        if (p->d != d)
            die("%s: has %lld features per row, but the components were fitted on %lld (%s)",
                in->name, (long long)d, (long long)p->d, fin->name);
        h5in_close(fin);
    } else {
        struct feat_src fs = { in, a };
        linalg_rows src = { b - a, d, feat_read, &fs, in->name, a, feat_map, feat_release };
        p = linalg_pca_fit(&src, o->k, &o->lo);
    }
    int k = p->k;

    h5out *out = h5out_create(o->co.output, "pca", in);
    int64_t pd[2] = { b - a, k };
    h5out_create_rows(out, "/features", 2, pd);
    if (same && p->projections) {
        tensor t = { .ndim = 2, .dims = { b - a, k }, .data = p->projections };
        h5out_write_rows(out, "/features", 0, &t);
    } else {
        /* Stream the rows through the components in batches. */
        int64_t batch = o->co.batch > 0 ? o->co.batch : ((int64_t)8 << 20) / d;
        if (batch < 16)
            batch = 16;
        if (batch > b - a)
            batch = b - a;
        float *x = falloc((size_t)(batch * d));
        tensor *proj = tensor_new2(batch, k);
        progress *pr = progress_start("project", b - a);
        for (int64_t r = a; r < b; r += batch) {
            int64_t cnt = b - r < batch ? b - r : batch;
            h5in_read_rows_into(in, "/features", r, cnt, x);
            linalg_check_finite(x, cnt, d, in->name, r);
            linalg_pca_transform(p->mean, p->components, d, k, x, cnt, proj->data);
            finite_check_rows(proj->data, cnt, k, r, in->name, "row", "projection", "component",
                              ": the features are finite but too large for float arithmetic");
            proj->dims[0] = cnt;
            h5out_write_rows(out, "/features", r - a, proj);
            progress_update(pr, r + cnt - a);
        }
        progress_end(pr);
        tensor_free(proj);
        free(x);
    }
    tensor comp = { .ndim = 2, .dims = { k, d }, .data = p->components };
    h5out_write(out, "/components", &comp);
    tensor mean = { .ndim = 1, .dims = { d }, .data = p->mean };
    h5out_write(out, "/mean", &mean);
    write_vec(out, "/explained_variance", k, p->variance);
    write_vec(out, "/explained_variance_ratio", k, p->ratio);
    double *sv = xcalloc((size_t)k, sizeof(double));
    for (int i = 0; i < k; i++)
        sv[i] = p->n > 1 ? sqrt(p->variance[i] * (double)(p->n - 1)) : 0;
    write_vec(out, "/singular_values", k, sv);
    free(sv);
    h5out_attr_str(out, "/", "method", p->method);
    h5out_attr_str(out, "/", "sign_convention", "largest-magnitude loading positive");
    int64_t ns = p->n, passes = p->passes;
    h5out_attr_i64(out, "/", "n_samples", 1, &ns);
    h5out_attr_i64(out, "/", "passes", 1, &passes);
    h5out_attr_f64(out, "/", "total_variance", 1, &p->total_variance);
    h5out_attr_f64(out, "/", "convergence", 1, &p->convergence);
    copy_attr(out, in, "layer");
    copy_attr(out, in, "summary");
    h5out_carry(out, in, a, b);
    if (h5in_has(in, "/pred")) {
        int32_t *pr = h5in_read_i32(in, "/pred", a, b - a);
        h5out_write_i32(out, "/pred", b - a, pr);
        free(pr);
    }
    double expl = 0;
    for (int i = 0; i < k; i++)
        expl += p->ratio[i];
    if (same)
        info("%s: %d components of %lld x %lld by %s in %d passes explain %.1f%% of the variance",
             in->name, k, (long long)p->n, (long long)d, p->method, p->passes, 100 * expl);
    h5out_commit(out);
    h5in_close(in);
    linalg_pca_free(p);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    struct pca_opts o;
    parse_args(argc, argv, &o);
    cli_check_stdout(o.co.output, "an HDF5 file");   /* before the work */
    return run(&o);
}
