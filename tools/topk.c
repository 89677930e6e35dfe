/* cnn-topk: per unit (a feature, a feature map, a class probability or
 * logit), the k rows with the largest (or smallest) response; optionally
 * the images of those rows, ready for a captioned grid. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "nn/setup.h"
#include "io/actfile.h"
#include "io/h5io.h"
#include "analysis/linalg.h"
#include "base/tensor.h"

static const char usage[] =
    "Usage: cnn-topk -k K [--lowest] [--units LIST] [--where KEY=V]... [SOURCE] [FILE]\n"
    "Per unit, the K rows of FILE with the largest (--lowest: smallest) score.\n"
    "FILE is a features or pca file (units are the columns of /features) or an\n"
    "activations file with a SOURCE. Writes a ranking file: /unit (U), /ids,\n"
    "/rows (U x K, the rows' ids and indices in FILE), /scores (U x K), and\n"
    "/labels, /pred (U x K) and /paths (the ranked rows' files, U x K strings\n"
    "flattened unit by unit) when FILE has them; or, with --gather, the ranked\n"
    "rows' images. Ties go to the lower id. The output is opened before the\n"
    "work: a terminal is refused at once.\n"
    "\n"
    "  -k, --top K         rows per unit (default 9)\n"
    "      --lowest        the smallest scores instead\n"
    "  -u, --unit J        only unit J (repeat, or --units)\n"
    "      --units LIST    only these units (\"0,3,5-9\")\n"
    "      --where KEY=V   only rows whose KEY (label or pred) is V; V may be a\n"
    "                      list \"3,8\" or class names; several --where must all hold\n"
    "SOURCE, for an activations file:\n"
    "      --probs         the class probabilities (units are classes)\n"
    "      --logits        the logits (units are classes)\n"
    "  -l, --layer LAYER   a layer; its feature maps are the units, each\n"
    "                      summarised by --summary max (default), mean, absmax,\n"
    "                      or none (every position a unit)\n"
    "      --summary S     as above\n"
    "Output:\n"
    "  -p, --print         print one line per unit on standard output, \"UNIT\n"
    "                      (CLASS): NAME SCORE | ...\", each row named by its\n"
    "                      /paths entry (else its id); no HDF5 file then\n"
    "                      unless -o is given\n"
    "      --gather IMAGES write the ranked rows' images from IMAGES (an images\n"
    "                      file with the same ids), unit by unit, best first: an\n"
    "                      images file with /images, /ids, /labels, /scores,\n"
    "                      /unit and /rank\n"
    "--gather's IMAGES may be image files or a folder, read as cnn-images reads them\n"
    "(the options as cnn-images's; give those the run that ranked them used):\n"
    CLI_PHOTO_HELP
    CLI_HELP_OUTPUT CLI_HELP_RANGE CLI_HELP_BATCH CLI_HELP_END;

#define MAXWHERE 8

struct topk_opts {
    struct cli_common co;
    int k, lowest, summary;
    const char *units, *layer, *gather, *input;
    int probs, logits, print;
    int nwhere;
    char *where[MAXWHERE];
    int *unit_list, nunit_list;
};

enum { OPT_LOWEST = 2001, OPT_UNITS, OPT_PROBS, OPT_LOGITS, OPT_GATHER, OPT_WHERE, OPT_SUMMARY };

static void parse_args(int argc, char **argv, struct topk_opts *o)
{
    static const struct option longopts[] = {
        { "top", required_argument, 0, 'k' },
        { "lowest", no_argument, 0, OPT_LOWEST },
        { "unit", required_argument, 0, 'u' },
        { "units", required_argument, 0, OPT_UNITS },
        { "where", required_argument, 0, OPT_WHERE },
        { "probs", no_argument, 0, OPT_PROBS },
        { "logits", no_argument, 0, OPT_LOGITS },
        { "layer", required_argument, 0, 'l' },
        { "summary", required_argument, 0, OPT_SUMMARY },
        { "gather", required_argument, 0, OPT_GATHER },
        { "print", no_argument, 0, 'p' },
        CLI_COMMON_LONGOPTS, CLI_PHOTO_LONGOPTS,
        { 0, 0, 0, 0 }
    };
    memset(o, 0, sizeof *o);
    cli_common_for(&o->co, CLI_RANGE | CLI_BATCH);
    o->co.batch = 256;
    o->k = 9;
    o->summary = SUMMARY_MAX;
    static char unitbuf[4096];
    int c;
    while ((c = getopt_long(argc, argv, "k:u:l:p" CLI_COMMON_SHORTOPTS, longopts, NULL)) !=
           -1) {
        switch (c) {
        case 'k': o->k = (int)cli_long("-k", optarg, 1, 1 << 20); break;
        case OPT_LOWEST: o->lowest = 1; break;
        case 'u':
        case OPT_UNITS:
            /* --unit repeats and --units lists add up to one list. */
            if (strlen(unitbuf) + strlen(optarg) + 2 > sizeof unitbuf)
                die_usage("--units: list too long");
            strcat(strcat(unitbuf, *unitbuf ? "," : ""), optarg);
            o->units = unitbuf;
            break;
        case OPT_WHERE:
            if (o->nwhere == MAXWHERE)
                die_usage("--where: at most %d", MAXWHERE);
            if (!strchr(optarg, '=') ||
                (strncmp(optarg, "label=", 6) && strncmp(optarg, "pred=", 5)))
                die_usage("--where: '%s' is not label=V or pred=V", optarg);
            o->where[o->nwhere++] = optarg;
            break;
        case OPT_PROBS: o->probs = 1; break;
        case OPT_LOGITS: o->logits = 1; break;
        case 'l': o->layer = optarg; break;
        case OPT_SUMMARY: o->summary = linalg_summary_opt("--summary", optarg); break;
        case OPT_GATHER: o->gather = optarg; break;
        case 'p': o->print = 1; break;
        default:
            cli_common_opt(c, optarg, &o->co, usage);
        }
    }
    if (o->probs + o->logits + !!o->layer > 1)
        die_usage("choose one source: --probs, --logits or -l LAYER");
    if (optind < argc - 1)
        die_usage("one input file expected, got %d", argc - optind);
    o->input = optind < argc ? argv[optind] : NULL;
}

/* What is ranked: a dataset of the input, its rows summarised or not. */
struct source {
    char *dset;
    int64_t n, c, hw;      /* rows; channels and positions (hw 1 for N x D) */
    int summarise;         /* per-map summary to one value */
    int64_t units;         /* columns after summary */
    const char *what;      /* for messages and the 'source' attribute */
};

static void open_source(h5in *in, const struct topk_opts *o, struct source *s)
{
    char *kind = h5in_kind(in);
    int rows_file = kind && (!strcmp(kind, "features") || !strcmp(kind, "pca"));
    free(kind);
    char path[600];
    memset(s, 0, sizeof *s);
    if (rows_file) {
        if (o->probs || o->logits || o->layer)
            die_usage("%s: a features or pca file is ranked by its /features columns "
                      "(--probs, --logits and -l are for activations)", in->name);
        s->dset = xstrdup("/features");
        s->what = "features";
    } else if (o->probs || o->logits) {
        s->what = o->probs ? "probs" : "logits";
        snprintf(path, sizeof path, "/%s", s->what);
        if (!h5in_has(in, path))
            die("%s: no /%s dataset", in->name, s->what);
        s->dset = xstrdup(path);
    } else if (o->layer) {
        s->dset = actfile_layer(in, o->layer, 0);
        s->what = o->layer;
    } else {
        die_usage("%s: an activations file needs a source: --probs, --logits or -l LAYER",
                  in->name);
    }
    int64_t dims[TENSOR_MAXDIM];
    int nd = h5in_dims(in, s->dset, dims);
    if (nd == 2) {
        s->c = dims[1];
        s->hw = 1;
    } else if (nd == 4) {
        s->c = dims[1];
        s->hw = dims[2] * dims[3];
    } else {
        die("%s: %s should be N x D or N x C x H x W (has %d dimensions)", in->name, s->dset,
            nd);
    }
    s->n = dims[0];
    s->summarise = s->hw > 1 && o->summary != SUMMARY_NONE;
    s->units = s->summarise ? s->c : s->c * s->hw;
}

/* Rows that pass every --where: a mask over [a, b). */
static unsigned char *where_mask(h5in *in, const struct topk_opts *o, int64_t a, int64_t b)
{
    int64_t n = b - a;
    unsigned char *keep = xmalloc((size_t)n + 1);
    memset(keep, 1, (size_t)n);
    int nc = 0;
    char **classes = NULL;
    if (o->nwhere && h5in_has(in, "/classes"))
        classes = h5in_read_strings(in, "/classes", &nc);
    for (int w = 0; w < o->nwhere; w++) {
        const char *key = o->where[w][0] == 'l' ? "label" : "pred";
        const char *val = strchr(o->where[w], '=') + 1;
        char dset[16];
        snprintf(dset, sizeof dset, "/%s%s", key, key[0] == 'l' ? "s" : "");
        if (!h5in_has(in, dset))
            die("%s: --where %s: the file has no %s", in->name, o->where[w], dset);
        char **vals;
        int nv = cli_split(val, ',', &vals);
        if (!nv)
            die_usage("--where %s: no value", o->where[w]);
        long *want = xmalloc((size_t)nv * sizeof *want);
        for (int i = 0; i < nv; i++) {
            char *end;
            want[i] = strtol(vals[i], &end, 10);
            if (*end || end == vals[i]) {
                int j;
                for (j = 0; j < nc && strcmp(classes[j], vals[i]); j++)
                    ;
                if (j == nc)
                    die_usage("--where %s: '%s' is neither a number nor a class name",
                              o->where[w], vals[i]);
                want[i] = j;
            }
        }
        int32_t *v = h5in_read_i32(in, dset, a, n);
        for (int64_t r = 0; r < n; r++) {
            int ok = 0;
            for (int i = 0; i < nv; i++)
                ok |= v[r] == want[i];
            keep[r] &= ok;
        }
        free(v);
        free(want);
        cli_free_list(vals, nv);
    }
    if (classes)
        cli_free_list(classes, nc);
    return keep;
}

typedef struct entry {
    float s;
    int64_t id, row;
} entry;

static int lowest_mode;

/* a ranks before b: the better score, then the lower id. */
static int better(const entry *a, const entry *b)
{
    if (a->s != b->s)
        return lowest_mode ? a->s < b->s : a->s > b->s;
    return a->id < b->id;
}

/* A heap per unit whose root is the worst kept entry. */
static void heap_push(entry *h, int *n, int k, entry e)
{
    if (*n < k) {
        int i = (*n)++;
        h[i] = e;
        while (i > 0) {
            int p = (i - 1) / 2;
            if (!better(&h[p], &h[i]))
                break;
            entry t = h[p];
            h[p] = h[i];
            h[i] = t;
            i = p;
        }
        return;
    }
    if (!better(&e, &h[0]))
        return;
    h[0] = e;
    for (int i = 0;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < k && better(&h[w], &h[l]))
            w = l;
        if (r < k && better(&h[w], &h[r]))
            w = r;
        if (w == i)
            break;
        entry t = h[w];
        h[w] = h[i];
        h[i] = t;
        i = w;
    }
}

static int cmp_entry(const void *a, const void *b)
{
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = ((const int64_t *)a)[0], y = ((const int64_t *)b)[0];
    return x < y ? -1 : x > y;
}

/* Write the ranked rows' images from an images file. */
static void gather(const struct topk_opts *o, h5in *src, h5out *out, int64_t nu,
                   const int64_t *units, int k, const entry *best)
{
    h5in *im = setup_open_images(o->gather, NULL, &o->co);
    h5in_require_kind(im, "images");
    int64_t dims[TENSOR_MAXDIM];
    int nd = h5in_dims(im, "/images", dims);
    int64_t nimg = dims[0];
    /* id -> row of the images file, by binary search over sorted pairs. */
    int64_t *map = xmalloc((size_t)(2 * nimg + 2) * sizeof *map);
    int64_t *ids = h5in_has(im, "/ids") ? h5in_read_i64(im, "/ids", 0, nimg) : NULL;
    for (int64_t i = 0; i < nimg; i++) {
        map[2 * i] = ids ? ids[i] : i;
        map[2 * i + 1] = i;
    }
    free(ids);
    qsort(map, (size_t)nimg, 2 * sizeof *map, cmp_i64);
    int32_t *labels = h5in_has(im, "/labels") ? h5in_read_i32(im, "/labels", 0, nimg) : NULL;
    int npaths = 0;
    char **paths = h5in_has(im, "/paths") ? h5in_read_strings(im, "/paths", &npaths) : NULL;
    char **opaths = xmalloc((size_t)(nu * k + 1) * sizeof *opaths);

    int64_t total = nu * k;
    int64_t od[TENSOR_MAXDIM];
    memcpy(od, dims, sizeof od);
    od[0] = total;
    h5out_create_rows(out, "/images", nd, od);
    int64_t *oid = xmalloc((size_t)(total + 1) * sizeof *oid);
    int64_t *ounit = xmalloc((size_t)(total + 1) * sizeof *ounit);
    int32_t *orank = xmalloc((size_t)(total + 1) * sizeof *orank);
    int32_t *olab = xmalloc((size_t)(total + 1) * sizeof *olab);
    tensor *sc = tensor_new(1, &total);
    for (int64_t u = 0; u < nu; u++)
        for (int r = 0; r < k; r++) {
            int64_t i = u * k + r, key[2] = { best[i].id, 0 };
            int64_t *hit = bsearch(key, map, (size_t)nimg, 2 * sizeof *map, cmp_i64);
            if (!hit)
                die("%s: has no image with id %lld (ranked from %s)", im->name,
                    (long long)best[i].id, src->name);
            tensor *img = h5in_read_rows(im, "/images", hit[1], 1);
            h5out_write_rows(out, "/images", i, img);
            tensor_free(img);
            oid[i] = best[i].id;
            ounit[i] = units[u];
            orank[i] = r;
            olab[i] = labels ? labels[hit[1]] : 0;
            opaths[i] = paths && hit[1] < npaths ? paths[hit[1]] : "";
            sc->data[i] = best[i].s;
        }
    h5out_write_i64(out, "/ids", total, oid);
    if (labels)
        h5out_write_i32(out, "/labels", total, olab);
    if (paths)
        h5out_write_strings(out, "/paths", (int)total, opaths);
    free(opaths);
    if (paths)
        cli_free_list(paths, npaths);
    h5out_write(out, "/scores", sc);
    h5out_write_i64(out, "/unit", total, ounit);
    h5out_write_i32(out, "/rank", total, orank);
    h5in *cls = h5in_has(im, "/classes") ? im : h5in_has(src, "/classes") ? src : NULL;
    if (cls) {
        int nc;
        char **c = h5in_read_strings(cls, "/classes", &nc);
        h5out_write_strings(out, "/classes", nc, c);
        cli_free_list(c, nc);
    }
    h5out_commit(out);
    tensor_free(sc);
    free(oid);
    free(ounit);
    free(orank);
    free(olab);
    free(labels);
    free(map);
    h5in_close(im);
}

/* Each ranked row's /paths entry (row-major U x K), or NULL when FILE has
 * no /paths. */
static char **ranked_paths(h5in *in, int64_t total, const entry *best)
{
    if (!h5in_has(in, "/paths"))
        return NULL;
    int np;
    char **p = h5in_read_strings(in, "/paths", &np);
    char **v = xcalloc((size_t)total + 1, sizeof *v);
    for (int64_t i = 0; i < total; i++)
        v[i] = xstrdup(best[i].row < np ? p[best[i].row] : "");
    cli_free_list(p, np);
    return v;
}

/* The ranking file: /unit, /ids, /rows, /scores, /labels and /pred,
 * /paths of the ranked rows, /classes. */
static void write_ranking(const struct topk_opts *o, h5in *in, h5out *out,
                          const struct source *s, int64_t a, int64_t b, int64_t nu,
                          const int64_t *units, int k, const entry *heap)
{
    int64_t total = nu * k;
    int64_t *oid = xmalloc((size_t)(total + 1) * sizeof *oid);
    int64_t *orow = xmalloc((size_t)(total + 1) * sizeof *orow);
    int64_t d2[2] = { nu, k };
    tensor *sc = tensor_new(2, d2);
    for (int64_t i = 0; i < total; i++) {
        oid[i] = heap[i].id;
        orow[i] = heap[i].row;
        sc->data[i] = heap[i].s;
    }
    h5out_write_i64(out, "/unit", nu, units);
    h5out_write_i64n(out, "/ids", 2, d2, oid);
    h5out_write_i64n(out, "/rows", 2, d2, orow);
    const char *inames[2] = { "/labels", "/pred" };
    for (int j = 0; j < 2; j++) {
        if (!h5in_has(in, inames[j]))
            continue;
        int32_t *all = h5in_read_i32(in, inames[j], a, b - a);
        int32_t *sel = xmalloc((size_t)(total + 1) * sizeof *sel);
        for (int64_t i = 0; i < total; i++)
            sel[i] = all[heap[i].row - a];
        h5out_write_i32n(out, inames[j], 2, d2, sel);
        free(sel);
        free(all);
    }
    char **paths = ranked_paths(in, total, heap);
    if (paths) {
        h5out_write_strings(out, "/paths", (int)total, paths);
        cli_free_list(paths, (int)total);
    }
    h5out_write(out, "/scores", sc);
    h5out_carry_classes(out, in);
    h5out_attr_str(out, "/", "source", s->what);
    h5out_attr_str(out, "/", "summary", s->summarise ? linalg_summary_name(o->summary) : "none");
    h5out_attr_str(out, "/", "order", o->lowest ? "lowest" : "highest");
    h5out_commit(out);
    tensor_free(sc);
    free(oid);
    free(orow);
}

/* --print: one line per unit, "UNIT (CLASS): NAME SCORE | NAME SCORE ...",
 * each row named by its /paths entry, else its id; CLASS when the units
 * are classes (--probs, --logits) and FILE has /classes. */
static void print_ranking(h5in *in, const struct source *s, int64_t nu, const int64_t *units,
                          int k, const entry *heap)
{
    char **paths = ranked_paths(in, nu * k, heap);
    int nc = 0;
    char **cls = NULL;
    if ((!strcmp(s->what, "probs") || !strcmp(s->what, "logits")) && h5in_has(in, "/classes"))
        cls = h5in_read_strings(in, "/classes", &nc);
    for (int64_t u = 0; u < nu; u++) {
        printf("%lld", (long long)units[u]);
        if (cls && units[u] < nc)
            printf(" (%s)", cls[units[u]]);
        for (int r = 0; r < k; r++) {
            const entry *e = &heap[u * k + r];
            printf("%s", r ? " | " : ": ");
            if (paths)
                printf("%s", paths[u * k + r]);
            else
                printf("%lld", (long long)e->id);
            printf(" %.4g", e->s);
        }
        printf("\n");
    }
    cli_flush_stdout();
    if (paths)
        cli_free_list(paths, (int)(nu * k));
    if (cls)
        cli_free_list(cls, nc);
}

static int run(struct topk_opts *o)
{
    lowest_mode = o->lowest;
    h5in *in = h5in_open(o->input);
    h5in_require_kind(in, "features,pca,activations");
    struct source s;
    open_source(in, o, &s);
    /* Opened before the work, so a terminal is refused at once. */
    h5out *out = !o->print || o->co.output
                     ? h5out_create(o->co.output, o->gather ? "images" : "ranking", in)
                     : NULL;
    int64_t a = o->co.range_a, b = o->co.range_b;
    cli_range_resolve(s.n, &a, &b);

    int *ul = NULL;
    int64_t nu = s.units;
    if (o->units) {
        if (s.units > (1 << 30))
            die("%s: too many units", in->name);
        nu = cli_int_list("--units", o->units, (int)s.units, &ul);
    }
    int64_t *units = xmalloc((size_t)(nu + 1) * sizeof *units);
    for (int64_t u = 0; u < nu; u++)
        units[u] = ul ? ul[u] : u;
    free(ul);

    unsigned char *keep = where_mask(in, o, a, b);
    int64_t nsel = 0;
    for (int64_t r = 0; r < b - a; r++)
        nsel += keep[r];
    if (nsel == 0)
        die("%s: no rows to rank (empty input, --range or --where selects nothing)", in->name);
    int k = o->k;
    if (k > nsel) {
        info("%s: only %lld rows selected: ranking %lld per unit, not %d", in->name,
             (long long)nsel, (long long)nsel, k);
        k = (int)nsel;
    }
    int64_t *ids = h5in_has(in, "/ids") ? h5in_read_i64(in, "/ids", a, b - a) : NULL;

    entry *heap = xcalloc((size_t)(nu * k), sizeof *heap);
    int *hn = xcalloc((size_t)nu, sizeof *hn);
    int64_t rowsz = s.c * s.hw, batch = o->co.batch < b - a ? o->co.batch : b - a > 0 ? b - a : 1;
    float *x = falloc((size_t)(batch * rowsz));
    float *sum = falloc((size_t)(batch * s.c));
    progress *pr = progress_start("rank", b - a);
    for (int64_t r0 = a; r0 < b; r0 += batch) {
        int64_t cnt = b - r0 < batch ? b - r0 : batch;
        h5in_read_rows_into(in, s.dset, r0, cnt, x);
        const float *v = x;
        if (s.summarise) {
            linalg_summarise(x, cnt, s.c, s.hw, o->summary, sum);
            v = sum;
        }
        for (int64_t i = 0; i < cnt; i++) {
            int64_t row = r0 + i;
            if (!keep[row - a])
                continue;
            entry e = { 0, ids ? ids[row - a] : row, row };
            for (int64_t u = 0; u < nu; u++) {
                e.s = v[i * s.units + units[u]];
                if (isnan(e.s))
                    die("%s: row %lld has a NaN value (unit %lld of %s)", in->name,
                        (long long)row, (long long)units[u], s.dset);
                heap_push(heap + u * k, &hn[u], k, e);
            }
        }
        progress_update(pr, r0 + cnt - a);
    }
    progress_end(pr);
    for (int64_t u = 0; u < nu; u++)
        qsort(heap + u * k, (size_t)k, sizeof *heap, cmp_entry);

    if (o->print)
        print_ranking(in, &s, nu, units, k, heap);
    if (out && o->gather)
        gather(o, in, out, nu, units, k, heap);
    else if (out)
        write_ranking(o, in, out, &s, a, b, nu, units, k, heap);
    free(x);
    free(sum);
    free(heap);
    free(hn);
    free(ids);
    free(keep);
    free(units);
    free(s.dset);
    h5in_close(in);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    struct topk_opts o;
    parse_args(argc, argv, &o);
    if (!o.print || o.co.output)   /* before the work */
        cli_check_stdout(o.co.output, "an HDF5 file");
    return run(&o);
}
