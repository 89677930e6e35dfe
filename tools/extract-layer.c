/* cnn-extract-layer: one layer of an activations file as a features file
 * (N x D), whole maps flattened or each feature map summarised to one
 * value; or a layer's kernels as an images file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "io/actfile.h"
#include "io/h5io.h"
#include "analysis/linalg.h"
#include "nn/model.h"
#include "base/tensor.h"

static const char usage[] =
    "Usage: cnn-extract-layer -l LAYER [--summary S] [--channels LIST] [options] [FILE]\n"
    "       cnn-extract-layer --weights -m MODEL.h5 -l LAYER [-o FILE]\n"
    "One layer of an activations file (N x C x H x W in /act/LAYER; also 'logits'\n"
    "and 'probs') or the pixels of an images file (-l images) as a features file:\n"
    "/features (N x D), with the rows' /ids, /labels, /classes and /pred.\n"
    "\n"
    "  -l, --layer LAYER   the layer to extract\n"
    "      --summary S     none: flatten C x H x W (D = C*H*W; default);\n"
    "                      max, mean, absmax: one value per feature map (D = C)\n"
    "  -c, --channels LIST only these channels (\"0,3,5-9\"), in this order\n"
    "      --weights       the layer's kernels instead (Cout x Cin x kh x kw as\n"
    "                      /images of an images file; a dense layer's Dout x Din\n"
    "                      as Dout x 1 x 1 x Din), raw values, bias in /bias\n"
    "  -m, --model FILE    the model file (with --weights)\n"
    CLI_HELP_OUTPUT CLI_HELP_RANGE CLI_HELP_BATCH CLI_HELP_END;

struct extract_opts {
    struct cli_common co;
    const char *layer, *channels, *model, *input;
    int summary, weights;
};

enum { OPT_WEIGHTS = 2001, OPT_SUMMARY };

static void parse_args(int argc, char **argv, struct extract_opts *o)
{
    static const struct option longopts[] = {
        { "layer", required_argument, 0, 'l' },
        { "summary", required_argument, 0, OPT_SUMMARY },
        { "channels", required_argument, 0, 'c' },
        { "weights", no_argument, 0, OPT_WEIGHTS },
        { "model", required_argument, 0, 'm' },
        CLI_COMMON_LONGOPTS,
        { 0, 0, 0, 0 }
    };
    memset(o, 0, sizeof *o);
    cli_common_for(&o->co, CLI_RANGE | CLI_BATCH);
    int c;
    while ((c = getopt_long(argc, argv, "l:c:m:" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (c) {
        case 'l': o->layer = optarg; break;
        case OPT_SUMMARY: o->summary = linalg_summary_opt("--summary", optarg); break;
        case 'c': o->channels = optarg; break;
        case 'm': o->model = optarg; break;
        case OPT_WEIGHTS: o->weights = 1; break;
        default:
            cli_common_opt(c, optarg, &o->co, usage);
        }
    }
    if (!o->layer)
        die_usage("which layer? (-l LAYER)");
    if (optind < argc - 1)
        die_usage("one input file expected, got %d", argc - optind);
    o->input = optind < argc ? argv[optind] : NULL;
    if (o->weights && !o->model)
        die_usage("--weights needs the model file (-m MODEL.h5)");
    if (!o->weights && o->model)
        die_usage("-m is only used with --weights");
    if (o->weights && o->input)
        die_usage("--weights reads the model (-m), not an input file");
}

/* The dataset holding the layer; dies listing the layers present. */
static char *layer_dataset(h5in *in, const char *layer)
{
    char *kind = h5in_kind(in);
    if (kind && !strcmp(kind, "images")) {
        if (strcmp(layer, "images") && strcmp(layer, "input"))
            die("%s: an images file has only the layer 'images' (asked '%s')", in->name, layer);
        free(kind);
        return xstrdup("/images");
    }
    free(kind);
    return actfile_layer(in, layer, 1);
}

static int run_weights(struct extract_opts *o)
{
    model *m = model_load(o->model);
    int i = model_require(m, o->layer, o->model);
    node *nd = &m->nodes[i];
    tensor *w = node_weight(nd, "weight");
    if (!w)
        die("%s: layer '%s' (%s) has no weights", o->model, o->layer, nd->op);
    int64_t dims[4];
    if (w->ndim == 4) {
        memcpy(dims, w->dims, sizeof dims);
    } else if (w->ndim == 2) {
        dims[0] = w->dims[0];
        dims[1] = dims[2] = 1;
        dims[3] = w->dims[1];
    } else {
        die("%s: layer '%s' has %d-dimensional weights (expected 2 or 4)", o->model, o->layer,
            w->ndim);
    }
    h5out *out = h5out_create(o->co.output, "images", NULL);
    tensor img = { .ndim = 4, .dims = { dims[0], dims[1], dims[2], dims[3] }, .data = w->data };
    h5out_write(out, "/images", &img);
    int64_t *ids = xmalloc((size_t)(dims[0] + 1) * sizeof *ids);
    for (int64_t j = 0; j < dims[0]; j++)
        ids[j] = j;
    h5out_write_i64(out, "/ids", dims[0], ids);
    free(ids);
    tensor *b = node_weight(nd, "bias");
    if (b)
        h5out_write(out, "/bias", b);
    h5out_attr_str(out, "/", "layer", nd->name);   /* the name found */
    h5out_attr_str(out, "/", "op", nd->op);
    /* Kernels are not pixels in [0,1]: renderers normalise each tile. */
    h5out_attr_str(out, "/", "content", "weights");
    h5out_commit(out);
    model_free(m);
    return EXIT_OK;
}

static int run(struct extract_opts *o)
{
    if (o->weights)
        return run_weights(o);
    h5in *in = h5in_open(o->input);
    h5in_require_kind(in, "activations,images");
    char *dset = layer_dataset(in, o->layer);
    int64_t dims[TENSOR_MAXDIM];
    int nd = h5in_dims(in, dset, dims);
    int64_t n = dims[0], c, hw;
    if (nd == 2) {
        c = dims[1];
        hw = 1;
    } else if (nd == 4) {
        c = dims[1];
        hw = dims[2] * dims[3];
    } else {
        die("%s: %s should be N x C x H x W or N x D (has %d dimensions)", in->name, dset, nd);
    }
    int *ch = NULL, nch = (int)c;
    if (o->channels) {
        nch = cli_int_list("--channels", o->channels, (int)c, &ch);
    }
    int64_t a = o->co.range_a, b = o->co.range_b;
    cli_range_resolve(n, &a, &b);
    int64_t rowsz = c * hw;
    int64_t dout = o->summary == SUMMARY_NONE ? nch * hw : nch;

    h5out *out = h5out_create(o->co.output, "features", in);
    int64_t fd[2] = { b - a, dout };
    h5out_create_rows(out, "/features", 2, fd);
    int64_t batch = o->co.batch < b - a ? o->co.batch : b - a > 0 ? b - a : 1;
    float *x = falloc((size_t)(batch * rowsz));
    float *sum = falloc((size_t)(batch * c));
    tensor *f = tensor_new2(batch, dout);
    progress *pr = progress_start("extract", b - a);
    for (int64_t r = a; r < b; r += batch) {
        int64_t cnt = b - r < batch ? b - r : batch;
        h5in_read_rows_into(in, dset, r, cnt, x);
        const float *src = x;
        int64_t per = hw;   /* values per channel in src */
        if (o->summary != SUMMARY_NONE && hw > 1) {
            linalg_summarise(x, cnt, c, hw, o->summary, sum);
            src = sum;
            per = 1;
        }
        for (int64_t i = 0; i < cnt; i++)
            for (int j = 0; j < nch; j++) {
                int64_t cj = ch ? ch[j] : j;
                memcpy(f->data + i * dout + j * per, src + (i * c + cj) * per,
                       (size_t)per * sizeof(float));
            }
        f->dims[0] = cnt;
        h5out_write_rows(out, "/features", r - a, f);
        progress_update(pr, r + cnt - a);
    }
    progress_end(pr);
    h5out_carry(out, in, a, b);
    if (h5in_has(in, "/pred")) {
        int32_t *p = h5in_read_i32(in, "/pred", a, b - a);
        h5out_write_i32(out, "/pred", b - a, p);
        free(p);
    }
    h5out_attr_str(out, "/", "layer", strrchr(dset, '/') + 1);   /* the name found */
    h5out_attr_str(out, "/", "summary", linalg_summary_name(o->summary));
    int64_t shape[3] = { nch, nd == 4 ? dims[2] : 1, nd == 4 ? dims[3] : 1 };
    h5out_attr_i64(out, "/", "shape", 3, shape);
    int64_t *chl = xmalloc((size_t)nch * sizeof *chl);
    for (int j = 0; j < nch; j++)
        chl[j] = ch ? ch[j] : j;
    h5out_attr_i64(out, "/", "channels", nch, chl);
    free(chl);
    h5out_commit(out);
    tensor_free(f);
    free(sum);
    free(x);
    free(ch);
    h5in_close(in);
    free(dset);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    struct extract_opts o;
    parse_args(argc, argv, &o);
    cli_check_stdout(o.co.output, "an HDF5 file");   /* before the work */
    return run(&o);
}
