/* cnn-perturb: the "parts, shape or texture?" image edits on an images
 * file: shuffle tiles, silhouettes, a fixed occluder box, or a grid of
 * occluders (one row per position). Pixels come from common/methods/perturb.c;
 * this parses options and streams rows through. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "io/h5io.h"
#include "io/pixels.h"
#include "nn/setup.h"
#include "methods/perturb.h"

static const char usage[] =
    "Usage: cnn-perturb COMMAND [options] [IMAGES.h5]\n"
    "Edits every image of an images file and writes an images file (kind=images)\n"
    "with /ids, /labels and /classes carried, ready for cnn-forward --print.\n"
    "\n"
    "Commands:\n"
    "  shuffle --tiles CxR   cut into C columns x R rows of equal tiles and place\n"
    "                        them in a random order (per image, from --seed and the\n"
    "                        image's id); /perm gets each position's source tile.\n"
    "                        R must divide the height and C the width (else an\n"
    "                        error: crop first with cnn-images --size)\n"
    "  silhouette            object black on white: the object is where --mask\n"
    "                        MASKS.h5 (an images file, one row per image or one for\n"
    "                        all, first channel >= 0.5) is set, or where the mean\n"
    "                        over channels is below --threshold T (default 0.5);\n"
    "                        --invert swaps object and background\n"
    "  occlude --box X,Y,W,H [--fill F]   fill one box (inside the image)\n"
    "  grid-occlude --size S [--stride T] [--fill F]\n"
    "                        one output row per position of an SxS occluder (S or\n"
    "                        WxH) moved by T (S or WxH; default S) while fully\n"
    "                        inside; /box\n"
    "                        holds each row's X,Y,W,H, /source the input row\n"
    "  --fill F: gray (0.5, default), zero, mean (the image's channel means), or a\n"
    "  number.\n"
    "\n"
    CLI_IMAGE_HELP
    "IMAGES: an images file, or image files and folders read as cnn-images reads\n"
    "them (/paths then name each output row: cat.jpg#occlude@16,32):\n"
    CLI_PHOTO_REST_HELP
    CLI_HELP_OUTPUT CLI_HELP_RANGE CLI_HELP_BATCH CLI_HELP_SEED CLI_HELP_END;

enum { CMD_SHUFFLE, CMD_SILHOUETTE, CMD_OCCLUDE, CMD_GRID };
enum { OPT_TILES = 2001, OPT_MASK, OPT_THRESHOLD, OPT_INVERT, OPT_BOX, OPT_FILL, OPT_SIZE,
       OPT_STRIDE };

struct pt_opts {
    struct cli_common co;
    int cmd;
    const char *input, *mask;
    int tr, tc;
    double threshold;
    int invert;
    int64_t box[4];
    int have_box;
    int fill;
    float fill_value;
    int sh, sw, th, tw, have_size;
};

/* "A,B,C,D" non-negative integers. */
static void parse_box(const char *s, int64_t *v)
{
    char **p;
    int n = cli_split(s, ',', &p);
    if (n != 4)
        die_usage("--box: '%s' is not X,Y,W,H", s);
    for (int i = 0; i < 4; i++)
        v[i] = cli_long("--box", p[i], 0, 1L << 30);
    cli_free_list(p, n);
    if (v[2] < 1 || v[3] < 1)
        die_usage("--box: '%s': width and height must be at least 1", s);
}

static void parse_args(int argc, char **argv, struct pt_opts *o)
{
    static const struct option longopts[] = {
        { "tiles", required_argument, 0, OPT_TILES },
        { "mask", required_argument, 0, OPT_MASK },
        { "threshold", required_argument, 0, OPT_THRESHOLD },
        { "invert", no_argument, 0, OPT_INVERT },
        { "box", required_argument, 0, OPT_BOX },
        { "fill", required_argument, 0, OPT_FILL },
        { "size", required_argument, 0, OPT_SIZE },
        { "stride", required_argument, 0, OPT_STRIDE },
        CLI_COMMON_LONGOPTS, CLI_IMAGE_LONGOPTS, CLI_PHOTO_REST_LONGOPTS,
        { 0, 0, 0, 0 }
    };
    memset(o, 0, sizeof *o);
    cli_common_for(&o->co, CLI_RANGE | CLI_BATCH | CLI_SEED);
    o->threshold = 0.5;
    o->fill = PERTURB_FILL_GRAY;
    if (argc < 2)
        die_usage("no command (shuffle, silhouette, occlude, grid-occlude)");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h"))
        cli_help(usage);
    if (!strcmp(cmd, "--version"))
        cli_version();
    if (!strcmp(cmd, "shuffle")) o->cmd = CMD_SHUFFLE;
    else if (!strcmp(cmd, "silhouette")) o->cmd = CMD_SILHOUETTE;
    else if (!strcmp(cmd, "occlude")) o->cmd = CMD_OCCLUDE;
    else if (!strcmp(cmd, "grid-occlude")) o->cmd = CMD_GRID;
    else
        die_usage("unknown command '%s' (shuffle, silhouette, occlude, grid-occlude)", cmd);
    argc--;
    argv++;
    cli_getopt_args(argc, argv);
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (c) {
        case OPT_TILES: cli_size("--tiles", optarg, &o->tc, &o->tr); break;
        case OPT_MASK: o->mask = optarg; break;
        case OPT_THRESHOLD: o->threshold = cli_double("--threshold", optarg, 0, 1); break;
        case OPT_INVERT: o->invert = 1; break;
        case OPT_BOX: parse_box(optarg, o->box); o->have_box = 1; break;
        case OPT_FILL:
            if ((o->fill = perturb_fill_parse(optarg, &o->fill_value)) < 0)
                die_usage("--fill: '%s' is not gray, zero, mean or a number", optarg);
            break;
        case OPT_SIZE: cli_size("--size", optarg, &o->sw, &o->sh); o->have_size = 1; break;
        case OPT_STRIDE: cli_size("--stride", optarg, &o->tw, &o->th); break;
        default:
            cli_common_opt(c, optarg, &o->co, usage);
        }
    }
    if (optind < argc - 1)
        die_usage("one images file expected, got %d", argc - optind);
    o->input = optind < argc ? argv[optind] : NULL;
    if (o->cmd == CMD_SHUFFLE && !o->tr)
        die_usage("shuffle needs --tiles CxR");
    if (o->cmd == CMD_OCCLUDE && !o->have_box)
        die_usage("occlude needs --box X,Y,W,H");
    if (o->cmd == CMD_GRID && !o->have_size)
        die_usage("grid-occlude needs --size S");
    if (o->cmd == CMD_GRID && !o->th)
        o->th = o->sh, o->tw = o->sw;
}

/* The mask rows: one per input row in [a, b), or one for all. */
static tensor *read_mask(const char *path, int64_t a, int64_t b, int64_t H, int64_t W,
                         int64_t *stride)
{
    h5in *f = h5in_open(path);
    if (!h5in_has(f, "/images"))
        die("%s: no dataset '/images' (the mask is an images file)", f->name);
    int64_t d[TENSOR_MAXDIM];
    int nd = h5in_dims(f, "/images", d);
    if (nd != 4 || d[2] != H || d[3] != W)
        die("%s: masks are %s, expected N x C x %lld x %lld (the images' size)", f->name,
            tensor_shape_str(nd, d, (char[64]){ 0 }, 64), (long long)H, (long long)W);
    tensor *t;
    if (d[0] == 1) {
        t = pixels_read(f, 0, 1);
        *stride = 0;
    } else {
        if (d[0] < b)
            die("%s: %lld masks for %lld images", f->name, (long long)d[0], (long long)b);
        t = pixels_read(f, a, b - a);
        *stride = d[1] * H * W;
    }
    h5in_close(f);
    return t;
}

/* The tiles, box or grid occluder against the images' W x H. */
static void check_geometry(const struct pt_opts *o, const char *name, int64_t H, int64_t W)
{
    if (o->cmd == CMD_SHUFFLE && (H % o->tr || W % o->tc))
        die("%s: %lldx%lld (WxH) images do not split into %dx%d (CxR) equal tiles (width "
            "must divide by %d and height by %d; crop or resize first, e.g. cnn-images "
            "--size)", name, (long long)W, (long long)H, o->tc, o->tr, o->tc, o->tr);
    if (o->cmd == CMD_OCCLUDE && (o->box[0] + o->box[2] > W || o->box[1] + o->box[3] > H))
        die("--box %lld,%lld,%lld,%lld lies outside the %lldx%lld (WxH) images", (long long)o->box[0],
            (long long)o->box[1], (long long)o->box[2], (long long)o->box[3], (long long)W,
            (long long)H);
    if (o->cmd == CMD_GRID && (o->sh > H || o->sw > W))
        die("--size %dx%d is larger than the %lldx%lld (WxH) images", o->sw, o->sh, (long long)W,
            (long long)H);
}

/* What is recorded per row beside the pixels: shuffle's permutations;
 * grid-occlude's box, source row, id and label of each output row. */
typedef struct pt_rows {
    int32_t *perm;
    int64_t ny, nx;
    int32_t *box, *src, *lab;
    int64_t *ids;
} pt_rows;

/* cnt rows r.. of the batch xb (input rows a + r..) shuffled, silhouetted
 * or boxed into yb. */
static void perturb_rows(const struct pt_opts *o, const tensor *xb, tensor *yb, int64_t r,
                         int64_t cnt, int64_t a, const int64_t *ids, const tensor *mask,
                         int64_t mstride, int32_t *perm)
{
    int64_t C = xb->dims[1], H = xb->dims[2], W = xb->dims[3], D = C * H * W;
    for (int64_t i = 0; i < cnt; i++) {
        const float *x = xb->data + i * D;
        float *y = yb->data + i * D;
        int64_t id = ids ? ids[r + i] : a + r + i;
        if (o->cmd == CMD_SHUFFLE) {
            /* Seeded by the image's id, so a shard gives the same shuffle
             * as the whole file. */
            rng g;
            rng_seed(&g, o->co.seed ^ ((uint64_t)id * 0x9E3779B97F4A7C15ULL));
            perturb_shuffle(x, y, C, H, W, o->tr, o->tc, &g, perm + (r + i) * o->tr * o->tc);
        } else if (o->cmd == CMD_SILHOUETTE) {
            const float *mk = mask ? mask->data + (r + i) * mstride : NULL;
            perturb_silhouette(x, mk, y, C, H, W, o->threshold, o->invert);
        } else
            perturb_box(x, y, C, H, W, o->box[0], o->box[1], o->box[2], o->box[3], o->fill,
                        o->fill_value);
    }
}

/* One image x's grid of occluded copies into yb, output rows row0..,
 * recorded in g (source row src, id, label). */
static void grid_image(const struct pt_opts *o, pt_rows *g, const float *x, tensor *yb,
                       int64_t row0, int64_t src, int64_t id, int32_t label)
{
    int64_t C = yb->dims[1], H = yb->dims[2], W = yb->dims[3], D = C * H * W, k = 0;
    for (int64_t py = 0; py < g->ny; py++)
        for (int64_t px = 0; px < g->nx; px++, k++) {
            int64_t bx = px * o->tw, by = py * o->th, q = row0 + k;
            perturb_box(x, yb->data + k * D, C, H, W, bx, by, o->sw, o->sh, o->fill,
                        o->fill_value);
            g->box[q * 4 + 0] = (int32_t)bx;
            g->box[q * 4 + 1] = (int32_t)by;
            g->box[q * 4 + 2] = o->sw;
            g->box[q * 4 + 3] = o->sh;
            g->src[q] = (int32_t)src;
            g->ids[q] = id;
            g->lab[q] = label;
        }
}

/* Everything but /images: the rows' ids, labels and classes, and what was
 * done to them. */
static void write_extras(const struct pt_opts *o, h5out *out, h5in *in, const pt_rows *g,
                         int64_t rows, int64_t n, int has_labels, int64_t a, int64_t b)
{
    if (o->cmd == CMD_GRID) {
        h5out_write_i64(out, "/ids", rows, g->ids);
        if (has_labels)
            h5out_write_i32(out, "/labels", rows, g->lab);
        h5out_carry_classes(out, in);
        h5out_write_i32n(out, "/box", 2, (int64_t[]){ rows, 4 }, g->box);
        h5out_write_i32(out, "/source", rows, g->src);
        h5out_attr_i64(out, "/", "grid", 2, (int64_t[]){ g->ny, g->nx });
    } else
        h5out_carry(out, in, a, b);
    static const char *names[] = { "shuffle", "silhouette", "occlude", "grid-occlude" };
    h5out_attr_str(out, "/", "perturbation", names[o->cmd]);
    if (o->cmd == CMD_SHUFFLE) {
        h5out_write_i32n(out, "/perm", 2, (int64_t[]){ n, (int64_t)o->tr * o->tc }, g->perm);
        h5out_attr_i64(out, "/", "tiles", 2, (int64_t[]){ o->tr, o->tc });
        h5out_attr_i64(out, "/", "seed", 1, (int64_t[]){ (int64_t)o->co.seed });
    }
    if (o->cmd == CMD_OCCLUDE)
        h5out_attr_i64(out, "/", "box", 4, o->box);
}

/* /paths: each output row named by its source (its /paths entry, else its
 * id) and the perturbation: "cat.jpg#shuffle4x4", "cat.jpg#silhouette",
 * "cat.jpg#occlude@16,32" (the box's corner), so that cnn-forward --print
 * says which is which. per rows per input row; box: their boxes. */
static void write_names(h5out *out, h5in *in, const struct pt_opts *o, int64_t a, int64_t n,
                        int64_t per, const int32_t *box)
{
    int np = 0;
    char **src = h5in_has(in, "/paths") ? h5in_read_strings(in, "/paths", &np) : NULL;
    int64_t *ids = h5in_has(in, "/ids") ? h5in_read_i64(in, "/ids", a, n) : NULL;
    char **v = xmalloc((size_t)(n * per + 1) * sizeof *v);
    for (int64_t i = 0; i < n * per; i++) {
        int64_t r = i / per;
        char base[64], what[96];
        snprintf(base, sizeof base, "%lld", (long long)(ids ? ids[r] : a + r));
        const int32_t *bx = box ? box + i * 4 : NULL;
        if (o->cmd == CMD_SHUFFLE)
            snprintf(what, sizeof what, "shuffle%dx%d", o->tc, o->tr);
        else if (o->cmd == CMD_SILHOUETTE)
            snprintf(what, sizeof what, "silhouette");
        else
            snprintf(what, sizeof what, "occlude@%lld,%lld",
                     (long long)(bx ? bx[0] : o->box[0]), (long long)(bx ? bx[1] : o->box[1]));
        const char *b = src && a + r < np ? src[a + r] : base;
        v[i] = xmalloc(strlen(b) + strlen(what) + 2);
        sprintf(v[i], "%s#%s", b, what);
    }
    h5out_write_strings(out, "/paths", (int)(n * per), v);
    cli_free_list(v, (int)(n * per));
    if (src)
        cli_free_list(src, np);
    free(ids);
}

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    struct pt_opts o;
    parse_args(argc, argv, &o);
    cli_check_stdout(o.co.output, "an HDF5 file");   /* before the work */
    h5in *in = setup_open_images(o.input, NULL, &o.co);
    h5in_require_kind(in, "images");
    if (!h5in_has(in, "/images"))
        die("%s: no dataset '/images' (not an images file)", in->name);
    int64_t d[TENSOR_MAXDIM];
    int nd = h5in_dims(in, "/images", d);
    if (nd != 4)
        die("%s: /images should be N x C x H x W (has %d dimensions)", in->name, nd);
    int64_t C = d[1], H = d[2], W = d[3], D = C * H * W;
    int64_t a = o.co.range_a, b = o.co.range_b;
    cli_range_resolve(d[0], &a, &b);
    int64_t n = b - a;

    /* Everything that can be refused is refused before the output exists. */
    check_geometry(&o, in->name, H, W);
    tensor *mask = NULL;
    int64_t mstride = 0;
    if (o.cmd == CMD_SILHOUETTE && o.mask)
        mask = read_mask(o.mask, a, b, H, W, &mstride);
    else if (o.mask)
        die_usage("--mask is for silhouette");

    int64_t ny = o.cmd == CMD_GRID ? (H - o.sh) / o.th + 1 : 1;
    int64_t nx = o.cmd == CMD_GRID ? (W - o.sw) / o.tw + 1 : 1;
    int64_t per = ny * nx, rows = n * per;

    h5out *out = h5out_create(o.co.output, "images", in);
    h5out_create_rows(out, "/images", 4, (int64_t[]){ rows, C, H, W });
    pt_rows g = { .ny = ny, .nx = nx };
    int has_labels = h5in_has(in, "/labels");
    int64_t *ids = h5in_has(in, "/ids") ? h5in_read_i64(in, "/ids", a, n) : NULL;
    int32_t *lab = has_labels ? h5in_read_i32(in, "/labels", a, n) : NULL;
    if (o.cmd == CMD_SHUFFLE)
        g.perm = xmalloc((size_t)(n ? n : 1) * (size_t)(o.tr * o.tc) * sizeof *g.perm);
    if (o.cmd == CMD_GRID) {
        g.box = xmalloc((size_t)(rows ? rows : 1) * 4 * sizeof *g.box);
        g.src = xmalloc((size_t)(rows ? rows : 1) * sizeof *g.src);
        g.ids = xmalloc((size_t)(rows ? rows : 1) * sizeof *g.ids);
        g.lab = xmalloc((size_t)(rows ? rows : 1) * sizeof *g.lab);
    }

    int64_t batch = o.co.batch > 0 ? o.co.batch : 64;
    if (batch > n)
        batch = n > 0 ? n : 1;
    tensor *xb = tensor_new4(batch, C, H, W);
    tensor *yb = tensor_new4(o.cmd == CMD_GRID ? per : batch, C, H, W);
    progress *pg = progress_start("perturb", n);
    for (int64_t r = 0; r < n; r += batch) {
        int64_t cnt = n - r < batch ? n - r : batch;
        pixels_read_into(in, a + r, cnt, xb->data);
        if (o.cmd != CMD_GRID) {
            perturb_rows(&o, xb, yb, r, cnt, a, ids, mask, mstride, g.perm);
            yb->dims[0] = cnt;
            h5out_write_rows(out, "/images", r, yb);
            yb->dims[0] = batch;
        } else {
            for (int64_t i = 0; i < cnt; i++) {
                grid_image(&o, &g, xb->data + i * D, yb, (r + i) * per,
                           a + r + i, ids ? ids[r + i] : a + r + i, lab ? lab[r + i] : 0);
                h5out_write_rows(out, "/images", (r + i) * per, yb);
            }
        }
        progress_update(pg, r + cnt);
    }
    progress_end(pg);

    write_names(out, in, &o, a, n, per, o.cmd == CMD_GRID ? g.box : NULL);
    write_extras(&o, out, in, &g, rows, n, has_labels, a, b);
    h5out_commit(out);

    tensor_free(xb);
    tensor_free(yb);
    tensor_free(mask);
    free(g.perm);
    free(g.box);
    free(g.src);
    free(g.ids);
    free(g.lab);
    free(ids);
    free(lab);
    h5in_close(in);
    return EXIT_OK;
}
