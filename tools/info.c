/* cnn-info: what a model is made of: every node with its output shape,
 * parameters, multiply-accumulates and receptive field; totals. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "io/h5io.h"
#include "io/history.h"
#include "io/imageio.h"
#include "nn/model.h"
#include "nn/rfield.h"

static const char usage[] =
    "Usage: cnn-info [--json] MODEL.h5\n"
    "   or: cnn-info [--rows] FILE.h5\n"
    "   or: cnn-info --history FILE.h5|FIGURE.png\n"
    "Prints every node of a model: name, op, inputs, output shape (C x H x W),\n"
    "parameters, multiply-accumulates per image (MACs: Conv and Dense only; one\n"
    "MAC = one multiply and one add, so FLOPs = 2 x MACs), and the receptive field\n"
    "at the input: size (rows x columns of input pixels one output position sees),\n"
    "jump (input pixels between neighbouring output positions) and start (input\n"
    "row,column where output position 0,0's field begins; negative inside the\n"
    "padding). Position (y,x) sees rows start+y*jump .. start+y*jump+size-1.\n"
    "Then the totals.\n"
    "Any other cnntools file (images, activations, features, maps, ...): its\n"
    "kind, rows, root attributes, every dataset with shape and type, and the\n"
    "history of commands that made it (as ncdump -h or h5ls would, in our terms).\n"
    "\n"
    "  -r, --rows          print only the number of rows (the length of /ids), for\n"
    "                      scripts that shard a file with --range\n"
    "  -j, --json          one JSON object instead of the table\n"
    "      --history       print how FILE was made as a POSIX sh script: the commands\n"
    "                      of all its inputs (through cnn-join, cnn-images and every\n"
    "                      tool), each once, in the order they ran, then its own;\n"
    "                      paths as they were given, set -e, the output folders made\n"
    "                      first. A PNG of cnn-render: its tEXt history\n"
    "  -h, --help          this help\n"
    "      --version       version\n"
    "\nExit status: 0 success, 1 failure, 2 usage error.\n";

/* "3" when both axes agree, else "3x5" (sep "x") or "-1,0" (sep ","). */
static const char *pair(char *buf, size_t len, const int64_t v[2], const char *sep)
{
    if (v[0] == v[1])
        snprintf(buf, len, "%lld", (long long)v[0]);
    else
        snprintf(buf, len, "%lld%s%lld", (long long)v[0], sep, (long long)v[1]);
    return buf;
}

/* 1234567 -> "1,234,567". */
static const char *grouped(char *buf, size_t len, int64_t v)
{
    char raw[32];
    snprintf(raw, sizeof raw, "%lld", (long long)v);
    size_t n = strlen(raw), k = 0;
    for (size_t i = 0; i < n && k + 2 < len; i++) {
        if (i && (n - i) % 3 == 0 && raw[i - 1] != '-')
            buf[k++] = ',';
        buf[k++] = raw[i];
    }
    buf[k] = 0;
    return buf;
}

static json_t *ints(int n, const int64_t *v)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

static json_t *reals(int n, const float *v)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_real(v[i]));
    return a;
}

static void print_json(const char *path, const model *m, const rfield *rf)
{
    json_t *root = json_object(), *nodes = json_array();
    int nc = m->in_shape[0] == 3 ? 3 : 1;
    int64_t tp = 0, tm = 0;
    json_object_set_new(root, "model", json_string(path));
    json_object_set_new(root, "input_shape", ints(3, m->in_shape));
    json_object_set_new(root, "mean", reals(nc, m->mean));
    json_object_set_new(root, "std", reals(nc, m->std));
    json_object_set_new(root, "bgr", json_boolean(m->bgr));
    if (m->source)
        json_object_set_new(root, "source", json_string(m->source));
    json_t *cl = json_array();
    for (int i = 0; m->classes && i < m->nclasses; i++)
        json_array_append_new(cl, json_string(m->classes[i]));
    json_object_set_new(root, "classes", cl);
    for (int i = 0; i < m->n; i++) {
        const node *nd = &m->nodes[i];
        json_t *o = json_object(), *ins = json_array(), *r = json_object();
        for (int k = 0; k < nd->nin; k++)
            json_array_append_new(ins, json_string(nd->in_names[k]));
        int64_t p = rfield_node_params(m, i), mac = rfield_node_macs(m, i);
        tp += p, tm += mac;
        json_object_set_new(o, "index", json_integer(i));
        json_object_set_new(o, "name", json_string(nd->name));
        json_object_set_new(o, "op", json_string(nd->op));
        json_object_set_new(o, "inputs", ins);
        json_object_set_new(o, "output_shape", ints(3, nd->shape));
        json_object_set_new(o, "params", json_integer(p));
        json_object_set_new(o, "macs", json_integer(mac));
        json_object_set_new(r, "size", ints(2, rf[i].size));
        json_object_set_new(r, "jump", ints(2, rf[i].jump));
        json_object_set_new(r, "start", ints(2, rf[i].start));
        json_object_set_new(o, "receptive_field", r);
        json_array_append_new(nodes, o);
    }
    json_object_set_new(root, "nodes", nodes);
    json_object_set_new(root, "total_params", json_integer(tp));
    json_object_set_new(root, "total_macs", json_integer(tm));
    if (json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII) < 0)
        die("standard output:");
    putchar('\n');
    json_decref(root);
}

static void print_table(const char *path, const model *m, const rfield *rf)
{
    int nc = m->in_shape[0] == 3 ? 3 : 1;
    printf("model %s: input %lldx%lldx%lld (C x H x W), %d nodes\n", path,
           (long long)m->in_shape[0], (long long)m->in_shape[1], (long long)m->in_shape[2], m->n);
    printf("preprocessing: (x - mean) / std, mean");
    for (int c = 0; c < nc; c++)
        printf(" %g", m->mean[c]);
    printf(", std");
    for (int c = 0; c < nc; c++)
        printf(" %g", m->std[c]);
    printf("%s\n", m->bgr ? ", BGR channel order" : "");
    if (m->classes && m->nclasses > 0) {
        printf("classes: %d (", m->nclasses);
        for (int i = 0; i < m->nclasses && i < 10; i++)
            printf("%s%s", i ? " | " : "", m->classes[i]);   /* names may hold commas */
        printf("%s)\n", m->nclasses > 10 ? " | ..." : "");
    }
    if (m->source)
        printf("source: %s\n", m->source);
    /* Column widths from the content: names and inputs vary most. */
    int wn = 4, wi = 6, wo = 6;
    char b1[64], b2[64], b3[64], b4[64], b5[64], b6[64];
    for (int i = 0; i < m->n; i++) {
        const node *nd = &m->nodes[i];
        int l = (int)strlen(nd->name), li = 0;
        wn = l > wn ? l : wn;
        for (int k = 0; k < nd->nin; k++)
            li += (int)strlen(nd->in_names[k]) + (k ? 1 : 0);
        wi = li > wi ? li : wi;
        l = snprintf(b1, sizeof b1, "%lldx%lldx%lld", (long long)nd->shape[0],
                     (long long)nd->shape[1], (long long)nd->shape[2]);
        wo = l > wo ? l : wo;
    }
    if (wi > 30)
        wi = 30;
    printf("\n%3s  %-*s  %-13s  %-*s  %-*s  %11s  %13s  %7s  %5s  %7s\n", "#", wn, "name", "op",
           wi, "inputs", wo, "output", "params", "MACs", "rf size", "jump", "start");
    int64_t tp = 0, tm = 0;
    for (int i = 0; i < m->n; i++) {
        const node *nd = &m->nodes[i];
        char ins[256] = "";
        for (int k = 0; k < nd->nin; k++) {
            size_t l = strlen(ins);
            snprintf(ins + l, sizeof ins - l, "%s%s", k ? "," : "", nd->in_names[k]);
        }
        int64_t p = rfield_node_params(m, i), mac = rfield_node_macs(m, i);
        tp += p, tm += mac;
        snprintf(b1, sizeof b1, "%lldx%lldx%lld", (long long)nd->shape[0], (long long)nd->shape[1],
                 (long long)nd->shape[2]);
        printf("%3d  %-*s  %-13s  %-*s  %-*s  %11s  %13s  %7s  %5s  %7s\n", i, wn, nd->name, nd->op,
               wi, ins, wo, b1, grouped(b2, sizeof b2, p), grouped(b3, sizeof b3, mac),
               pair(b4, sizeof b4, rf[i].size, "x"), pair(b5, sizeof b5, rf[i].jump, "x"),
               pair(b6, sizeof b6, rf[i].start, ","));
    }
    printf("\ntotal: %s parameters, %s multiply-accumulates per image (%.1f MFLOPs)\n",
           grouped(b1, sizeof b1, tp), grouped(b2, sizeof b2, tm), 2e-6 * (double)tm);
}

static const char *type_name(hid_t t)
{
    static const char *const names[2][4] = { { "uint8", "uint16", "uint32", "uint64" },
                                              { "int8", "int16", "int32", "int64" } };
    size_t sz;
    switch (H5Tget_class(t)) {
    case H5T_FLOAT: return H5Tget_size(t) == 8 ? "float64" : H5Tget_size(t) == 2 ? "float16"
                                                                                : "float32";
    case H5T_INTEGER:
        sz = H5Tget_size(t);
        return names[H5Tget_sign(t) != H5T_SGN_NONE][sz == 8 ? 3 : sz == 4 ? 2 : sz == 2 ? 1 : 0];
    case H5T_STRING: return "string";
    default: return "other";
    }
}

static herr_t print_attr(hid_t o, const char *name, const H5A_info_t *ai, void *data)
{
    (void)ai;
    h5in *in = data;
    if (!strcmp(name, "history") || !strcmp(name, "kind"))
        return 0;
    hid_t a = H5Aopen(o, name, H5P_DEFAULT), t = H5Aget_type(a);
    H5T_class_t cl = H5Tget_class(t);
    H5Tclose(t);
    H5Aclose(a);
    printf("  %-14s ", name);
    if (cl == H5T_STRING) {
        char *v = h5in_attr_str(in, "/", name);
        printf("%s\n", v ? v : "");
        free(v);
    } else {
        double v[16];
        int n = h5in_attr_f64(in, "/", name, v, 16);
        for (int i = 0; i < n && i < 16; i++)
            printf("%s%g", i ? "," : "", v[i]);
        printf("%s\n", n > 16 ? ",..." : "");
    }
    return 0;
}

/* Any file but a model: kind, rows, attributes, datasets, history. */
static void print_file(h5in *in, const char *kind, int rows_only)
{
    int64_t rows = h5in_has(in, "/ids") ? h5in_nrows(in, "/ids") : -1;
    if (rows_only) {
        if (rows < 0)
            die("%s: no /ids: not a file of rows", in->name);
        printf("%lld\n", (long long)rows);
        return;
    }
    printf("%s: %s file", in->name, kind);
    if (rows >= 0)
        printf(", %lld rows", (long long)rows);
    printf("\n\nattributes:\n");
    hsize_t idx = 0;
    H5Aiterate2(in->f, H5_INDEX_NAME, H5_ITER_INC, &idx, print_attr, in);
    printf("\ndatasets:\n");
    char **p;
    int np = h5in_walk(in, &p);
    for (int i = 0; i < np; i++) {
        size_t l = strlen(p[i]);
        if (l > 1 && p[i][l - 1] == '/')
            continue;
        int64_t d[TENSOR_MAXDIM];
        int nd = h5in_dims(in, p[i], d);
        char shape[128] = "";
        for (int k = 0; k < nd; k++) {
            size_t sl = strlen(shape);
            snprintf(shape + sl, sizeof shape - sl, "%s%lld", k ? "x" : "", (long long)d[k]);
        }
        hid_t ds = H5Dopen2(in->f, p[i], H5P_DEFAULT), t = H5Dget_type(ds);
        printf("  %-24s %-18s %s\n", p[i], nd ? shape : "scalar", type_name(t));
        H5Tclose(t);
        H5Dclose(ds);
    }
    cli_free_list(p, np);
    char *h = h5in_attr_str(in, "/", "history");
    if (h)
        printf("\nhistory:\n%s%s", h, *h && h[strlen(h) - 1] != '\n' ? "\n" : "");
    free(h);
}

/* --history: the file's history (HDF5 root attribute or PNG tEXt) as a
 * script. */
static void print_history(const char *path)
{
    unsigned char magic[8] = { 0 };
    FILE *f = fopen(path, "rb");
    if (!f)
        die("%s: cannot open:", path);
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    char *h;
    if (got == 8 && !memcmp(magic, "\x89PNG\r\n\x1a\n", 8)) {
        h = imageio_png_text(path, "history");
    } else {
        h5in *in = h5in_open(path);
        h = h5in_attr_str(in, "/", "history");
        h5in_close(in);
    }
    if (!h)
        die("%s: no history stored (not written by cnntools?)", path);
    history_script(stdout, h, path);
    free(h);
    cli_flush_stdout();
}

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    static const struct option longopts[] = {
        { "json", no_argument, 0, 'j' },
        { "rows", no_argument, 0, 'r' },
        { "history", no_argument, 0, 'H' },
        { "help", no_argument, 0, 'h' },
        { "version", no_argument, 0, CLI_OPT_VERSION },
        { 0, 0, 0, 0 }
    };
    int json = 0, rows = 0, history = 0, c;
    while ((c = getopt_long(argc, argv, "jrh", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'r': rows = 1; break;
        case 'H': history = 1; break;
        case 'h': cli_help(usage);
        case CLI_OPT_VERSION: cli_version();
        default: {
            /* One line saying what is wrong, and the --help hint. */
            struct cli_common co;
            cli_common_defaults(&co);
            cli_common_opt('?', NULL, &co, usage);
        }
        }
    }
    if (optind != argc - 1)
        die_usage("one file expected, got %d", argc - optind);
    const char *path = argv[optind];
    if (history) {
        if (json || rows)
            die_usage("--history goes alone (not with --json or --rows)");
        print_history(path);
        return EXIT_OK;
    }
    h5in *in = h5in_open(path);
    char *kind = h5in_kind(in);
    if (!kind)
        die("%s: not a cnntools file (no 'kind' attribute)", in->name);
    if (strcmp(kind, "model") || rows) {
        if (json)
            die_usage("--json describes models only");
        print_file(in, kind, rows);
        cli_flush_stdout();
        free(kind);
        h5in_close(in);
        return EXIT_OK;
    }
    free(kind);
    h5in_close(in);
    model *m = model_load(path);
    rfield *rf = xcalloc((size_t)(m->n ? m->n : 1), sizeof *rf);
    rfield_compute(m, rf);
    if (json)
        print_json(path, m, rf);
    else
        print_table(path, m, rf);
    cli_flush_stdout();
    free(rf);
    model_free(m);
    return EXIT_OK;
}
