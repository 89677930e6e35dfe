/* import_keras: Keras topology JSON + weights (TF.js shards or Keras HDF5)
 * -> model (see import_keras.h for what is supported and how names and
 * layouts map). Everything read from the files is checked before it is
 * trusted: JSON types, shapes against the layer configs, byte counts
 * against file sizes, so bad input ends in one die() line. */
#define _GNU_SOURCE
#include "import/import_keras.h"

#include <hdf5.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cli.h"
#include "import/keraszip.h"
#include "io/h5io.h"
#include "base/tensor.h"


/* Limits that keep hostile files from asking for absurd work. */
#define KERAS_MAX_JSON ((size_t)256 << 20)
#define KERAS_MAX_LAYERS 100000
#define KERAS_MAX_DIM ((int64_t)1 << 24)
#define KERAS_MAX_NUMEL ((int64_t)1 << 31)

/* ---------------------------------------------------------------- weights */

enum { DT_F32, DT_F16, DT_U8Q, DT_U16Q, DT_I32 };

typedef struct kw_entry {
    char *full;                  /* name as in the file, for messages */
    char *layer;                 /* layer part ("conv1"; TF.js: the name's dirname) */
    char *role;                  /* "kernel", "bias", "gamma", ... */
    int ndim;
    int64_t dims[TENSOR_MAXDIM];
    const unsigned char *bytes;  /* TF.js: into a group buffer */
    int dtype;
    double qscale, qmin;         /* TF.js affine quantisation */
    char *dset;                  /* HDF5: dataset path */
} kw_entry;

typedef struct ktensor {
    char *node;                  /* our node producing it; "input" = model input */
    int rank;                    /* 3: a map (C, H, W); 1: a vector (c = D) */
    int64_t c, h, w;
    int pad[4];                  /* ZeroPadding2D still to apply: t, l, b, r */
    int64_t fh, fw, fc;          /* vector flattened in Keras (HWC) order from fh x fw x fc; fh = 0: none */
    int foldable;                /* node is a Conv/Dense whose raw output this is */
    int nonneg;                  /* values are >= 0 (after ReLU, sigmoid, ...) */
} ktensor;

typedef struct klayer {
    const char *name, *cls;
    json_t *cfg;
    int nin;
    int *in;                     /* producer layer indices */
    int state;                   /* topological sort: 0 new, 1 visiting, 2 done */
    int nuse;                    /* consumers (+1 for the model output) */
    int done;
    ktensor out;
} klayer;

typedef struct kimp {
    const char *src;             /* file name for messages */
    const import_opts *o;
    json_t *root;
    int nw;
    kw_entry *w;
    unsigned char **bufs;
    int nbufs;
    h5in *h5;
    int nl;
    klayer *l;
    int ninput;                  /* index of the input layer */
    int nsynth;                  /* 1: k->l[nl] is a synthetic input layer */
    int output;                  /* index of the output layer */
    int64_t in_c, in_h, in_w;
    int have_rescale;
    double rs_scale[3], rs_offset[3];
    int keras3;                  /* written by Keras 3 (hard_sigmoid's slope is 1/6, not 0.2) */
    model *m;
} kimp;

#define LDIE(k, L, fmt, ...) \
    die("%s: layer '%s' (%s): " fmt, (k)->src, (L)->name, (L)->cls, ##__VA_ARGS__)

static char *shape_str(int nd, const int64_t *d, char *buf, size_t len)
{
    return tensor_shape_str(nd, d, buf, len);
}

/* Little-endian reads, independent of the host. */
static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static float half_to_float(uint16_t h)
{
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, f = h & 0x3ff, u;
    if (e == 0) {
        if (f == 0) {
            u = s;
        } else {            /* subnormal: normalise */
            e = 127 - 15 + 1;
            while (!(f & 0x400)) {
                f <<= 1;
                e--;
            }
            u = s | e << 23 | (f & 0x3ff) << 13;
        }
    } else if (e == 31) {
        u = s | 0x7f800000u | f << 13;
    } else {
        u = s | (e + 127 - 15) << 23 | f << 13;
    }
    float r;
    memcpy(&r, &u, 4);
    return r;
}

/* Strip a ":0" suffix and split "a/b/role" into layer "a/b" and role. */
static void split_wname(const char *name, char **layer, char **role)
{
    char *s = xstrdup(name);
    char *c = strrchr(s, ':');
    if (c && c[1] && strspn(c + 1, "0123456789") == strlen(c + 1))
        *c = '\0';
    char *sl = strrchr(s, '/');
    if (sl) {
        *sl = '\0';
        *layer = xstrdup(s);
        *role = xstrdup(sl + 1);
    } else {
        *layer = xstrdup("");
        *role = xstrdup(s);
    }
    free(s);
}

static int ends_with_layer(const char *wl, const char *layer)
{
    size_t a = strlen(wl), b = strlen(layer);
    if (a == b)
        return !strcmp(wl, layer);
    return a > b && wl[a - b - 1] == '/' && !strcmp(wl + a - b, layer);
}

/* A weight by layer and role: an exact layer match first, then a name that
 * ends in "/<layer>" (TF.js names of nested models carry prefixes). HDF5
 * entries have layer = the group under /model_weights, whatever the inner
 * names. */
static kw_entry *kw_find(kimp *k, const char *layer, const char *role)
{
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < k->nw; i++)
            if (!strcmp(k->w[i].role, role) &&
                (pass ? ends_with_layer(k->w[i].layer, layer) : !strcmp(k->w[i].layer, layer)))
                return &k->w[i];
    return NULL;
}

/* A layer's weight in Keras layout, checked against the shape the config
 * implies. NULL when absent and optional. */
static tensor *kw_get(kimp *k, klayer *L, const char *role, int nd, const int64_t *want, int required)
{
    kw_entry *e = kw_find(k, L->name, role);
    char b1[128], b2[128];
    if (!e) {
        if (required)
            LDIE(k, L, "no weight '%s' in the file (expected %s/%s of shape %s)", role, L->name,
                 role, shape_str(nd, want, b1, sizeof b1));
        return NULL;
    }
    int same = e->ndim == nd;
    for (int i = 0; same && i < nd; i++)
        same = e->dims[i] == want[i];
    if (!same)
        LDIE(k, L, "weight '%s' has shape %s, the layer's config implies %s", e->full,
             shape_str(e->ndim, e->dims, b1, sizeof b1), shape_str(nd, want, b2, sizeof b2));
    tensor *t;
    if (e->dset) {
        /* A dataset may claim a size its file does not hold (HDF5 allocates
         * storage late and reads fill values): compare before reading. */
        hid_t d = H5Dopen2(k->h5->f, e->dset, H5P_DEFAULT);
        if (d < 0)
            die("%s: cannot open dataset '%s'", k->src, e->dset);
        hid_t ty = H5Dget_type(d), pl = H5Dget_create_plist(d);
        size_t esz = H5Tget_size(ty);
        int nfilt = pl >= 0 ? H5Pget_nfilters(pl) : 0;
        hsize_t stored = H5Dget_storage_size(d);
        int64_t numel = shape_numel(nd, want, KERAS_MAX_NUMEL);
        double need = (double)numel * (double)esz;
        H5Pclose(pl);
        H5Tclose(ty);
        H5Dclose(d);
        if (numel > 0 && (nfilt <= 0 ? (double)stored < need : stored == 0 || need > 1100.0 * (double)stored))
            die("%s: dataset '%s' claims %.0f bytes but the file stores %llu", k->src, e->dset,
                need, (unsigned long long)stored);
        t = h5in_read(k->h5, e->dset);
        t->ndim = nd;
        for (int i = 0; i < nd; i++)
            t->dims[i] = want[i];
    } else {
        t = tensor_new(nd, want);
        int64_t n = tensor_numel(t);
        const unsigned char *b = e->bytes;
        for (int64_t i = 0; i < n; i++) {
            float v;
            switch (e->dtype) {
            case DT_F32: {
                uint32_t u = le32(b + 4 * i);
                memcpy(&v, &u, 4);
                break;
            }
            case DT_F16: v = half_to_float((uint16_t)(b[2 * i] | b[2 * i + 1] << 8)); break;
            case DT_U8Q: v = (float)(b[i] * e->qscale + e->qmin); break;
            case DT_U16Q: v = (float)((b[2 * i] | b[2 * i + 1] << 8) * e->qscale + e->qmin); break;
            default: LDIE(k, L, "weight '%s' is not floating point", e->full);
            }
            t->data[i] = v;
        }
    }
    for (int64_t i = 0, n = tensor_numel(t); i < n; i++)
        if (!isfinite(t->data[i])) {
            tensor_free(t);
            LDIE(k, L, "weight '%s' holds a non-finite value", e->full);
        }
    return t;
}

static void kw_free(kimp *k)
{
    for (int i = 0; i < k->nw; i++) {
        free(k->w[i].full);
        free(k->w[i].layer);
        free(k->w[i].role);
        free(k->w[i].dset);
    }
    free(k->w);
    for (int i = 0; i < k->nbufs; i++)
        free(k->bufs[i]);
    free(k->bufs);
}

static kw_entry *kw_add(kimp *k)
{
    if (k->nw % 64 == 0)
        k->w = xrealloc(k->w, (size_t)(k->nw + 64) * sizeof *k->w);
    kw_entry *e = &k->w[k->nw++];
    memset(e, 0, sizeof *e);
    return e;
}

/* Entry e's dtype from the manifest's dtype dt and quantization q (either
 * may be NULL); returns its bytes per element. */
static int tfjs_dtype(kimp *k, kw_entry *e, json_t *dt, json_t *q)
{
    const char *dts = json_is_string(dt) ? json_string_value(dt) : "float32";
    int esz;
    if (json_is_object(q)) {
        json_t *qd = json_object_get(q, "dtype");
        const char *qs = json_is_string(qd) ? json_string_value(qd) : "";
        if (strcmp(dts, "float32"))
            die("%s: weight '%s': quantised %s weights are not supported", k->src,
                e->full, dts);
        if (!strcmp(qs, "float16")) {
            e->dtype = DT_F16;
            esz = 2;
        } else if (!strcmp(qs, "uint8") || !strcmp(qs, "uint16")) {
            e->dtype = qs[4] == '8' ? DT_U8Q : DT_U16Q;
            esz = qs[4] == '8' ? 1 : 2;
            json_t *sc = json_object_get(q, "scale"), *mn = json_object_get(q, "min");
            if (!json_is_number(sc) || !json_is_number(mn))
                die("%s: weight '%s': quantisation lacks 'scale' or 'min'", k->src,
                    e->full);
            e->qscale = json_number_value(sc);
            e->qmin = json_number_value(mn);
        } else {
            die("%s: weight '%s': unsupported quantisation dtype '%s'", k->src,
                e->full, qs);
        }
    } else if (!strcmp(dts, "float32")) {
        e->dtype = DT_F32;
        esz = 4;
    } else if (!strcmp(dts, "int32")) {
        e->dtype = DT_I32;
        esz = 4;
    } else {
        die("%s: weight '%s': unsupported dtype '%s'", k->src, e->full, dts);
    }
    return esz;
}

/* Group g's shards (paths, relative to dir) read back to back into one
 * buffer of need bytes (the caller hands it to k). The shards must hold exactly that
 * many bytes; sizes are checked before anything is allocated. */
static unsigned char *tfjs_read_shards(kimp *k, json_t *paths, size_t g, const char *dir,
                                       int64_t need)
{
    size_t np = json_array_size(paths);
    /* Paths first, so no allocation is pending when one is bad. */
    for (size_t i = 0; i < np; i++) {
        json_t *p = json_array_get(paths, i);
        if (!json_is_string(p) || !json_string_value(p)[0])
            die("%s: weightsManifest group %zu: shard path %zu is not a string", k->src,
                g + 1, i + 1);
        const char *ps = json_string_value(p);
        if (ps[0] == '/' || strstr(ps, ".."))
            die("%s: shard path '%s' leaves the model's folder", k->src, ps);
    }
    char **files = xcalloc(np + 1, sizeof *files);
    int64_t have = 0;
    for (size_t i = 0; i < np; i++) {
        const char *ps = json_string_value(json_array_get(paths, i));
        size_t l = strlen(dir) + strlen(ps) + 2;
        files[i] = xmalloc(l);
        snprintf(files[i], l, "%s%s%s", dir, dir[0] ? "/" : "", ps);
        struct stat st;
        if (stat(files[i], &st))
            die("%s: weight shard '%s' is missing", k->src, ps);
        if (!S_ISREG(st.st_mode))
            die("%s: weight shard '%s' is not a file", k->src, ps);
        have += st.st_size;
    }
    if (have != need)
        die("%s: weightsManifest group %zu: its weights need %lld bytes but its shards "
            "hold %lld (a short or wrong shard?)",
            k->src, g + 1, (long long)need, (long long)have);
    unsigned char *buf = xmalloc((size_t)need + 1);
    int64_t off = 0;
    for (size_t i = 0; i < np; i++) {
        FILE *f = fopen(files[i], "rb");
        if (!f)
            die("%s: cannot open:", files[i]);
        cli_note_input_fd(fileno(f));
        size_t want = (size_t)(need - off), got = fread(buf + off, 1, want, f);
        int more = fgetc(f) != EOF;
        fclose(f);
        off += (int64_t)got;
        if (more || (i + 1 == np && off != need))
            die("%s: weight shard changed size while reading", files[i]);
        free(files[i]);
    }
    free(files);
    return buf;
}

/* TF.js weightsManifest: groups of shards; each group's weights lie back to
 * back in its shards concatenated in order. */
static void tfjs_load_weights(kimp *k, json_t *man, const char *dir)
{
    if (!json_is_array(man))
        die("%s: 'weightsManifest' should be a list of groups", k->src);
    size_t ng = json_array_size(man);
    for (size_t g = 0; g < ng; g++) {
        json_t *grp = json_array_get(man, g), *paths = json_object_get(grp, "paths"),
               *ws = json_object_get(grp, "weights");
        if (!json_is_object(grp) || !json_is_array(paths) || !json_is_array(ws))
            die("%s: weightsManifest group %zu lacks 'paths' or 'weights' lists", k->src, g + 1);
        /* Bytes the manifest says the group holds. */
        int64_t need = 0;
        int first = k->nw;
        for (size_t i = 0; i < json_array_size(ws); i++) {
            json_t *wj = json_array_get(ws, i), *nm = json_object_get(wj, "name"),
                   *sh = json_object_get(wj, "shape"), *dt = json_object_get(wj, "dtype"),
                   *q = json_object_get(wj, "quantization");
            if (!json_is_object(wj) || !json_is_string(nm) || !json_is_array(sh))
                die("%s: weightsManifest group %zu entry %zu lacks 'name' or 'shape'", k->src,
                    g + 1, i + 1);
            kw_entry *e = kw_add(k);
            e->full = xstrdup(json_string_value(nm));
            split_wname(e->full, &e->layer, &e->role);
            if (json_array_size(sh) > TENSOR_MAXDIM)
                die("%s: weight '%s' has too many dimensions", k->src, e->full);
            e->ndim = (int)json_array_size(sh);
            for (int d = 0; d < e->ndim; d++) {
                json_t *v = json_array_get(sh, d);
                if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                    json_integer_value(v) > KERAS_MAX_NUMEL)
                    die("%s: weight '%s' has a bad shape", k->src, e->full);
                e->dims[d] = json_integer_value(v);
            }
            int64_t numel = shape_numel(e->ndim, e->dims, KERAS_MAX_NUMEL);
            char b1[128];
            if (numel < 0)
                die("%s: weight '%s' claims an absurd shape %s", k->src, e->full,
                    shape_str(e->ndim, e->dims, b1, sizeof b1));
            int esz = tfjs_dtype(k, e, dt, q);
            e->bytes = (const unsigned char *)(intptr_t)need;   /* offset for now */
            need += numel * esz;
            if (need > ((int64_t)1 << 40))
                die("%s: weightsManifest group %zu claims an absurd size", k->src, g + 1);
        }
        unsigned char *buf = tfjs_read_shards(k, paths, g, dir, need);
        k->bufs = xrealloc(k->bufs, (size_t)(k->nbufs + 1) * sizeof *k->bufs);
        k->bufs[k->nbufs++] = buf;
        for (int i = first; i < k->nw; i++)
            k->w[i].bytes = buf + (intptr_t)k->w[i].bytes;
    }
}

/* HDF5: every dataset under /model_weights/<layer>/ belongs to <layer>. */
struct h5walk {
    kimp *k;
    const char *layer;
    const char *base;
};

static herr_t h5_visit_cb(hid_t g, const char *name, const H5L_info_t *li, void *data)
{
    struct h5walk *w = data;
    if (li->type != H5L_TYPE_HARD)
        return 0;
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    if (o < 0)
        return 0;
    int isd = H5Iget_type(o) == H5I_DATASET;
    hid_t sp = isd ? H5Dget_space(o) : -1;
    int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    hsize_t hd[TENSOR_MAXDIM];
    if (isd && nd >= 0 && nd <= TENSOR_MAXDIM) {
        H5Sget_simple_extent_dims(sp, hd, NULL);
        kw_entry *e = kw_add(w->k);
        size_t l = strlen(w->base) + strlen(name) + 2;
        e->dset = xmalloc(l);
        snprintf(e->dset, l, "%s/%s", w->base, name);
        e->full = xstrdup(e->dset);
        char *lay;
        split_wname(name, &lay, &e->role);
        free(lay);
        e->layer = xstrdup(w->layer);
        e->ndim = nd;
        for (int i = 0; i < nd; i++)
            e->dims[i] = (int64_t)hd[i];
        e->dtype = DT_F32;
    }
    if (sp >= 0)
        H5Sclose(sp);
    H5Oclose(o);
    return 0;
}

static void h5_load_weights(kimp *k)
{
    const char *root = h5in_has(k->h5, "/model_weights") ? "/model_weights" : "/";
    char **names;
    int n = h5in_list(k->h5, root, &names);
    for (int i = 0; i < n; i++) {
        size_t l = strlen(root) + strlen(names[i]) + 2;
        char *base = xmalloc(l);
        snprintf(base, l, "%s%s%s", root, strcmp(root, "/") ? "/" : "", names[i]);
        hid_t g = H5Oopen(k->h5->f, base, H5P_DEFAULT);
        if (g >= 0 && H5Iget_type(g) == H5I_GROUP) {
            struct h5walk w = { k, names[i], base };
            H5Lvisit(g, H5_INDEX_NAME, H5_ITER_INC, h5_visit_cb, &w);
        }
        if (g >= 0)
            H5Oclose(g);
        free(base);
    }
    cli_free_list(names, n);
}

/* ------------------------------------------------------------------ JSON */

static json_t *cfg_get(klayer *L, const char *key)
{
    json_t *v = json_is_object(L->cfg) ? json_object_get(L->cfg, key) : NULL;
    return json_is_null(v) ? NULL : v;
}

static int64_t cfg_int(kimp *k, klayer *L, const char *key, int64_t def, int64_t lo, int64_t hi)
{
    json_t *v = cfg_get(L, key);
    if (!v)
        return def;
    if (json_is_array(v) && json_array_size(v) == 1)
        v = json_array_get(v, 0);
    double x;
    if (json_is_integer(v))
        x = (double)json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)))
        x = json_real_value(v);
    else
        LDIE(k, L, "'%s' should be an integer", key);
    if (x < (double)lo || x > (double)hi)
        LDIE(k, L, "'%s' = %g lies outside [%lld, %lld]", key, x, (long long)lo, (long long)hi);
    return (int64_t)x;
}

static double cfg_num(kimp *k, klayer *L, const char *key, double def)
{
    json_t *v = cfg_get(L, key);
    if (!v)
        return def;
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        LDIE(k, L, "'%s' should be a number", key);
    return json_number_value(v);
}

static const char *cfg_str(kimp *k, klayer *L, const char *key, const char *def)
{
    json_t *v = cfg_get(L, key);
    if (!v)
        return def;
    /* Keras 3 may serialise an activation as {"class_name": ..., "config": "relu"}. */
    if (json_is_object(v)) {
        json_t *c = json_object_get(v, "config");
        if (json_is_string(c))
            return json_string_value(c);
        json_t *cn = json_object_get(v, "class_name");
        if (json_is_string(cn))
            return json_string_value(cn);
    }
    if (!json_is_string(v))
        LDIE(k, L, "'%s' should be a string", key);
    return json_string_value(v);
}

/* An int or a pair [a, b] (a one-element list repeats). */
static void cfg_pair(kimp *k, klayer *L, const char *key, int def, int lo, int hi, int out[2])
{
    json_t *v = cfg_get(L, key);
    out[0] = out[1] = def;
    if (!v)
        return;
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if (n < 1 || n > 2)
            LDIE(k, L, "'%s' should have 2 values", key);
        for (size_t i = 0; i < 2; i++) {
            json_t *x = json_array_get(v, n == 1 ? 0 : i);
            if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi)
                LDIE(k, L, "'%s' should hold integers in [%d, %d]", key, lo, hi);
            out[i] = (int)json_integer_value(x);
        }
    } else if (json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi) {
        out[0] = out[1] = (int)json_integer_value(v);
    } else {
        LDIE(k, L, "'%s' should be an integer or a pair in [%d, %d]", key, lo, hi);
    }
}

static void check_channels_last(kimp *k, klayer *L)
{
    const char *df = cfg_str(k, L, "data_format", "channels_last");
    if (strcmp(df, "channels_last"))
        LDIE(k, L, "data_format '%s' is not supported (only channels_last)", df);
}

/* ------------------------------------------------------------- the graph */

static int layer_index(kimp *k, const char *name)
{
    for (int i = 0; i < k->nl; i++)
        if (!strcmp(k->l[i].name, name))
            return i;
    return -1;
}

/* [name, node_index, tensor_index, ...] -> layer index; only first calls of
 * single-output layers. */
static int parse_ref(kimp *k, klayer *L, json_t *ref)
{
    if (!json_is_array(ref) || json_array_size(ref) < 1 || !json_is_string(json_array_get(ref, 0)))
        LDIE(k, L, "malformed inbound node");
    const char *nm = json_string_value(json_array_get(ref, 0));
    int i = layer_index(k, nm);
    if (i < 0)
        LDIE(k, L, "input '%s' is not a layer of the model", nm);
    json_t *ni = json_array_get(ref, 1), *ti = json_array_get(ref, 2);
    if (json_is_integer(ni) && json_integer_value(ni) != 0)
        LDIE(k, L, "uses the %lld-th call of '%s' (shared layers are not supported)",
             (long long)json_integer_value(ni) + 1, nm);
    if (json_is_integer(ti) && json_integer_value(ti) != 0)
        LDIE(k, L, "uses output %lld of '%s' (multi-output layers are not supported)",
             (long long)json_integer_value(ti), nm);
    return i;
}

static void add_input(klayer *L, int idx)
{
    L->in = xrealloc(L->in, (size_t)(L->nin + 1) * sizeof *L->in);
    L->in[L->nin++] = idx;
}

/* Keras 3: {"args": [...], "kwargs": {...}} with tensors as
 * {"class_name": "__keras_tensor__", "config": {"keras_history": [...]}}. */
static void collect_k3(kimp *k, klayer *L, json_t *v, int depth)
{
    if (depth > 32)
        LDIE(k, L, "inbound nodes nest too deeply");
    if (json_is_object(v)) {
        json_t *cfg = json_object_get(v, "config");
        json_t *h = json_is_object(cfg) ? json_object_get(cfg, "keras_history") : NULL;
        if (h) {
            add_input(L, parse_ref(k, L, h));
            return;
        }
        const char *key;
        json_t *x;
        json_object_foreach(v, key, x) {
            if (strcmp(key, "kwargs"))   /* kwargs hold options such as training flags */
                collect_k3(k, L, x, depth + 1);
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            collect_k3(k, L, json_array_get(v, i), depth + 1);
    }
}

static void parse_inbound(kimp *k, klayer *L, json_t *ib)
{
    if (!ib || json_is_null(ib) || (json_is_array(ib) && json_array_size(ib) == 0))
        return;
    if (!json_is_array(ib))
        LDIE(k, L, "'inbound_nodes' should be a list");
    if (json_array_size(ib) > 1)
        LDIE(k, L, "is called %zu times (shared layers are not supported)", json_array_size(ib));
    json_t *call = json_array_get(ib, 0);
    if (json_is_object(call)) {
        collect_k3(k, L, json_object_get(call, "args"), 0);
    } else if (json_is_array(call)) {
        for (size_t i = 0; i < json_array_size(call); i++)
            add_input(L, parse_ref(k, L, json_array_get(call, i)));
    } else {
        LDIE(k, L, "malformed 'inbound_nodes'");
    }
}

/* "input_layers"/"output_layers": [[name, 0, 0]] or (Keras 3) [name, 0, 0]. */
static int io_layer(kimp *k, json_t *cfg, const char *key)
{
    json_t *v = json_object_get(cfg, key);
    if (!json_is_array(v) || json_array_size(v) == 0)
        die("%s: model config lacks '%s'", k->src, key);
    json_t *first = json_array_get(v, 0);
    if (json_is_string(first))
        first = v;
    else if (json_array_size(v) != 1)
        die("%s: the model has %zu %s (only one is supported)", k->src, json_array_size(v),
            !strcmp(key, "input_layers") ? "inputs" : "outputs");
    if (!json_is_array(first) || !json_is_string(json_array_get(first, 0)))
        die("%s: malformed '%s'", k->src, key);
    const char *nm = json_string_value(json_array_get(first, 0));
    int i = layer_index(k, nm);
    if (i < 0)
        die("%s: '%s' names '%s', which is not a layer", k->src, key, nm);
    return i;
}

static void read_layer(kimp *k, klayer *L, json_t *lj, size_t i)
{
    json_t *cn = json_object_get(lj, "class_name"), *cfg = json_object_get(lj, "config"),
           *nm = json_object_get(lj, "name");
    if (!json_is_object(lj) || !json_is_string(cn))
        die("%s: layer %zu has no 'class_name'", k->src, i + 1);
    if (!json_is_string(nm) && json_is_object(cfg))
        nm = json_object_get(cfg, "name");
    if (!json_is_string(nm) || !json_string_value(nm)[0])
        die("%s: layer %zu (%s) has no name", k->src, i + 1, json_string_value(cn));
    L->name = json_string_value(nm);
    L->cls = json_string_value(cn);
    L->cfg = cfg;
    if (!json_is_object(cfg))
        LDIE(k, L, "has no 'config' object");
}

/* Input shape from an InputLayer or a Sequential first layer's config. */
static int input_shape(kimp *k, klayer *L)
{
    json_t *s = cfg_get(L, "batch_input_shape");
    if (!s)
        s = cfg_get(L, "batch_shape");
    int batch = 1;
    if (!s) {
        s = cfg_get(L, "input_shape");
        batch = 0;
    }
    if (!s)
        return 0;
    if (!json_is_array(s) || json_array_size(s) != (size_t)(3 + batch))
        LDIE(k, L, "input shape should be (height, width, channels)");
    int64_t d[3];
    for (int i = 0; i < 3; i++) {
        json_t *x = json_array_get(s, (size_t)(i + batch));
        if (json_is_null(x))
            d[i] = 0;
        else if (json_is_integer(x) && json_integer_value(x) > 0 && json_integer_value(x) <= KERAS_MAX_DIM)
            d[i] = json_integer_value(x);
        else
            LDIE(k, L, "bad input shape");
    }
    if (!d[2])
        LDIE(k, L, "the number of input channels is not given");
    k->in_h = d[0];
    k->in_w = d[1];
    k->in_c = d[2];
    return 1;
}

static void parse_topology(kimp *k, json_t *mc)
{
    json_t *cls = json_object_get(mc, "class_name"), *cfg = json_object_get(mc, "config");
    if (!json_is_string(cls) || !cfg)
        die("%s: model config lacks 'class_name' or 'config'", k->src);
    const char *cs = json_string_value(cls);
    int seq = !strcmp(cs, "Sequential");
    if (!seq && strcmp(cs, "Model") && strcmp(cs, "Functional"))
        die("%s: unsupported model class '%s' (Sequential or functional Model expected)", k->src, cs);
    json_t *layers = json_is_array(cfg) ? cfg : json_object_get(cfg, "layers");
    if (!json_is_array(layers) || json_array_size(layers) == 0)
        die("%s: model config has no layers", k->src);
    if (json_array_size(layers) > KERAS_MAX_LAYERS)
        die("%s: %zu layers is more than supported", k->src, json_array_size(layers));
    size_t n = json_array_size(layers);
    k->nl = (int)n;
    k->l = xcalloc(n + 1, sizeof *k->l);
    for (size_t i = 0; i < n; i++)
        read_layer(k, &k->l[i], json_array_get(layers, i), i);
    for (int i = 0; i < k->nl; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(k->l[i].name, k->l[j].name))
                die("%s: two layers are named '%s'", k->src, k->l[i].name);
    k->ninput = -1;
    if (seq) {
        int start = 0;
        if (!strcmp(k->l[0].cls, "InputLayer")) {
            k->ninput = 0;
            start = 1;
            if (!input_shape(k, &k->l[0]))
                LDIE(k, &k->l[0], "no input shape");
        } else if (!input_shape(k, &k->l[0]) && !k->o->height) {
            die("%s: the Sequential model does not say its input shape (give --size WxH, "
                "width x height)", k->src);
        }
        for (int i = start; i < k->nl; i++)
            if (i > 0)
                add_input(&k->l[i], i - 1);
        k->output = k->nl - 1;
        if (k->ninput < 0) {
            /* No InputLayer: a synthetic one (after the last real layer,
             * outside k->nl so names never collide) feeds the first. */
            klayer *I = &k->l[k->nl];
            I->name = "input";
            I->cls = "InputLayer";
            k->ninput = k->nl;
            k->nsynth = 1;
            add_input(&k->l[0], k->nl);
        }
    } else {
        for (int i = 0; i < k->nl; i++)
            parse_inbound(k, &k->l[i], json_object_get(json_array_get(layers, (size_t)i), "inbound_nodes"));
        k->ninput = io_layer(k, cfg, "input_layers");
        k->output = io_layer(k, cfg, "output_layers");
        klayer *I = &k->l[k->ninput];
        if (strcmp(I->cls, "InputLayer"))
            LDIE(k, I, "the model's input should be an InputLayer");
        if (!input_shape(k, I))
            LDIE(k, I, "no input shape");
    }
    if (!k->in_c)
        k->in_c = 3;
}

/* Depth-first order from the output: producers first; cycles are errors. */
static void topo(kimp *k, int i, int *order, int *no, int depth)
{
    klayer *L = &k->l[i];
    if (L->state == 2)
        return;
    if (L->state == 1)
        LDIE(k, L, "the graph has a cycle through this layer");
    if (depth > KERAS_MAX_LAYERS)
        LDIE(k, L, "the graph is too deep");
    L->state = 1;
    for (int j = 0; j < L->nin; j++)
        topo(k, L->in[j], order, no, depth + 1);
    L->state = 2;
    order[(*no)++] = i;
}

/* ------------------------------------------------------------- emitting */

static int name_taken(kimp *k, const char *s, const klayer *self)
{
    if (!strcmp(s, "input") || model_find(k->m, s) >= 0)
        return 1;
    for (int i = 0; i < k->nl; i++)
        if (&k->l[i] != self && !strcmp(k->l[i].name, s))
            return 1;
    return 0;
}

/* Our node name for layer L (+ suffix): the Keras name with characters that
 * would break input lists or HDF5 paths replaced, made unique. */
static char *node_name(kimp *k, klayer *L, const char *suffix)
{
    size_t l = strlen(L->name) + strlen(suffix) + 16;
    char *s = xmalloc(l);
    snprintf(s, l, "%s%s", L->name, suffix);
    for (char *p = s; *p; p++)
        if (*p == '/' || *p == ',')
            *p = '_';
    size_t base = strlen(s);
    for (int i = 1; name_taken(k, s, suffix[0] ? NULL : L); i++)
        snprintf(s + base, l - base, "_%d", i);
    return s;
}

static node *emit(kimp *k, const char *name, const char *op, const char *inputs)
{
    return model_add(k->m, name, op, inputs);
}

static void set2(node *n, const char *key, double a, double b)
{
    double v[2] = { a, b };
    node_set(n, key, 2, v);
}

static void set4(node *n, const char *key, const int *p)
{
    double v[4] = { p[0], p[1], p[2], p[3] };
    node_set(n, key, 4, v);
}

static void out_alias(klayer *L, const ktensor *t)
{
    L->out = *t;
    L->out.node = xstrdup(t->node);
    L->out.foldable = 0;
}

static void out_node(klayer *L, char *node, int rank, int64_t c, int64_t h, int64_t w)
{
    memset(&L->out, 0, sizeof L->out);
    L->out.node = node;
    L->out.rank = rank;
    L->out.c = c;
    L->out.h = h;
    L->out.w = w;
}

static ktensor *in0(kimp *k, klayer *L)
{
    if (L->nin != 1)
        LDIE(k, L, "expects one input, has %d", L->nin);
    return &k->l[L->in[0]].out;
}

static void no_pending_pad(kimp *k, klayer *L, const ktensor *t)
{
    if (t->pad[0] || t->pad[1] || t->pad[2] || t->pad[3])
        LDIE(k, L, "follows a ZeroPadding2D, which can only be folded into a convolution");
}

static void need_map(kimp *k, klayer *L, const ktensor *t)
{
    if (t->rank != 3)
        LDIE(k, L, "needs a feature map (height x width x channels) input");
    if (t->fh)
        LDIE(k, L, "takes a flattened feature map reshaped back; not supported");
}

/* An activation after node `from`: returns the new node's name, or NULL for
 * "linear". */
static char *emit_act(kimp *k, klayer *L, const char *act, const char *name, const char *from)
{
    node *n;
    if (!strcmp(act, "linear"))
        return NULL;
    char *nm = xstrdup(name);
    if (!strcmp(act, "relu")) {
        emit(k, nm, OP_RELU, from);
    } else if (!strcmp(act, "relu6")) {
        n = emit(k, nm, OP_CLIP, from);
        node_set1(n, AT_MIN, 0.0);
        node_set1(n, AT_MAX, 6.0);
    } else if (!strcmp(act, "sigmoid")) {
        emit(k, nm, OP_SIGMOID, from);
    } else if (!strcmp(act, "tanh")) {
        emit(k, nm, OP_TANH, from);
    } else if (!strcmp(act, "softmax")) {
        emit(k, nm, OP_SOFTMAX, from);
    } else if (!strcmp(act, "leaky_relu")) {
        n = emit(k, nm, OP_LEAKY, from);
        node_set1(n, AT_ALPHA, 0.2);   /* Keras 3's default slope */
    } else if (!strcmp(act, "swish") || !strcmp(act, "silu")) {
        emit(k, nm, OP_SILU, from);
    } else if (!strcmp(act, "gelu")) {
        emit(k, nm, OP_GELU, from);    /* the string means approximate=False */
    } else if (!strcmp(act, "hard_sigmoid")) {
        /* Keras 2: 0.2 x + 0.5; Keras 3: relu6(x + 3) / 6 */
        n = emit(k, nm, OP_HSIG, from);
        node_set1(n, AT_ALPHA, k->keras3 ? 1.0 / 6 : 0.2);
        node_set1(n, AT_BETA, 0.5);
    } else if (!strcmp(act, "hard_silu") || !strcmp(act, "hard_swish")) {
        emit(k, nm, OP_HSWISH, from);
    } else if (!strcmp(act, "elu")) {
        n = emit(k, nm, OP_ELU, from);
        node_set1(n, AT_ALPHA, 1.0);
    } else if (!strcmp(act, "softplus")) {
        emit(k, nm, OP_SOFTPLUS, from);
    } else if (!strcmp(act, "selu")) {
        emit(k, nm, OP_SELU, from);    /* Keras' alpha and scale: the op's defaults */
    } else if (!strcmp(act, "mish")) {
        emit(k, nm, OP_MISH, from);
    } else if (!strcmp(act, "log_softmax")) {
        emit(k, nm, OP_LOGSOFTMAX, from);
    } else {
        LDIE(k, L, "activation '%s' is not supported (relu, relu6, sigmoid, tanh, softmax, "
                   "leaky_relu, swish, silu, gelu, hard_sigmoid, hard_silu, elu, selu, "
                   "softplus, mish, log_softmax, linear are)", act);
    }
    return nm;
}

/* Activations whose output is never negative: a zero padding after them
 * changes no maximum, so it can fold into a max-pool. */
static int act_nonneg(const char *act)
{
    return !strcmp(act, "relu") || !strcmp(act, "relu6") || !strcmp(act, "sigmoid") ||
           !strcmp(act, "softmax") || !strcmp(act, "hard_sigmoid") || !strcmp(act, "softplus");
}

/* The layer's main node (a Conv or Dense), then its fused activation if any;
 * returns the main node's name and sets L->out.node to the final one. */
static char *main_and_act(kimp *k, klayer *L, const char **act)
{
    *act = cfg_str(k, L, "activation", "linear");
    if (!strcmp(*act, "linear"))
        return node_name(k, L, "");
    return node_name(k, L, "_preact");
}

static void finish_act(kimp *k, klayer *L, const char *act, char *main, int rank, int64_t c,
                       int64_t h, int64_t w)
{
    char *fin = NULL;
    if (strcmp(act, "linear")) {
        char *nm = node_name(k, L, "");
        fin = emit_act(k, L, act, nm, main);
        free(nm);
    }
    out_node(L, fin ? fin : xstrdup(main), rank, c, h, w);
    L->out.foldable = fin == NULL;
    L->out.nonneg = act_nonneg(act);
    free(main);
}

/* TF "same": total = max((ceil(in/s)-1)*s + (k-1)*d + 1 - in, 0), the odd
 * one at the bottom/right. */
static void same_pad(int64_t in, int kk, int s, int d, int *lo, int *hi)
{
    int64_t out = (in + s - 1) / s, eff = (int64_t)(kk - 1) * d + 1;
    int64_t tot = (out - 1) * s + eff - in;
    if (tot < 0)
        tot = 0;
    *lo = (int)(tot / 2);
    *hi = (int)(tot - tot / 2);
}

/* Padding (t, l, b, r) and output size of a window op. */
static void window(kimp *k, klayer *L, const ktensor *t, const int ks[2], const int st[2],
                   const int dl[2], int pad[4], int64_t *oh, int64_t *ow)
{
    const char *p = cfg_str(k, L, "padding", "valid");
    int64_t h = t->h + t->pad[0] + t->pad[2], w = t->w + t->pad[1] + t->pad[3];
    memcpy(pad, t->pad, 4 * sizeof(int));
    if (!strcmp(p, "same")) {
        int a, b;
        same_pad(h, ks[0], st[0], dl[0], &a, &b);
        pad[0] += a;
        pad[2] += b;
        same_pad(w, ks[1], st[1], dl[1], &a, &b);
        pad[1] += a;
        pad[3] += b;
    } else if (strcmp(p, "valid")) {
        LDIE(k, L, "padding '%s' is not supported (valid, same are)", p);
    }
    int64_t eh = (int64_t)(ks[0] - 1) * dl[0] + 1, ew = (int64_t)(ks[1] - 1) * dl[1] + 1;
    int64_t ph = t->h + pad[0] + pad[2], pw = t->w + pad[1] + pad[3];
    if (ph < eh || pw < ew)
        LDIE(k, L, "window %dx%d is larger than its %lldx%lld input", ks[0], ks[1],
             (long long)t->h, (long long)t->w);
    *oh = (ph - eh) / st[0] + 1;
    *ow = (pw - ew) / st[1] + 1;
}

static void conv_attrs(node *n, const int ks[2], const int st[2], const int pad[4], const int dl[2],
                       int groups)
{
    set2(n, AT_KERNEL, ks[0], ks[1]);
    set2(n, AT_STRIDE, st[0], st[1]);
    set4(n, AT_PAD, pad);
    set2(n, AT_DILATION, dl[0], dl[1]);
    node_set1(n, AT_GROUPS, groups);
}

static void layer_conv(kimp *k, klayer *L, int depthwise, int separable)
{
    check_channels_last(k, L);
    ktensor *t = in0(k, L);
    need_map(k, L, t);
    int ks[2], st[2], dl[2], pad[4];
    cfg_pair(k, L, "kernel_size", 1, 1, 4096, ks);
    cfg_pair(k, L, "strides", 1, 1, 4096, st);
    cfg_pair(k, L, "dilation_rate", 1, 1, 4096, dl);
    if ((st[0] > 1 || st[1] > 1) && (dl[0] > 1 || dl[1] > 1))
        LDIE(k, L, "strides and dilation_rate both above 1 is not valid in Keras");
    int64_t cin = t->c, oh, ow;
    window(k, L, t, ks, st, dl, pad, &oh, &ow);
    int use_bias = 1;
    json_t *ub = cfg_get(L, "use_bias");
    if (ub && json_is_boolean(ub))
        use_bias = json_is_true(ub);
    const char *act;
    char *main = main_and_act(k, L, &act);
    if (depthwise || separable) {
        int64_t mult = cfg_int(k, L, "depth_multiplier", 1, 1, KERAS_MAX_DIM), cdw = cin * mult;
        int64_t kd[4] = { ks[0], ks[1], cin, mult };
        tensor *K = kw_get(k, L, "depthwise_kernel", 4, kd, 1);
        /* H x W x C x M -> (C*M) x 1 x H x W: output channel c*M + m. */
        int64_t od[4] = { cdw, 1, ks[0], ks[1] };
        tensor *W = tensor_new(4, od);
        for (int64_t y = 0; y < ks[0]; y++)
            for (int64_t x = 0; x < ks[1]; x++)
                for (int64_t c = 0; c < cin; c++)
                    for (int64_t mm = 0; mm < mult; mm++)
                        W->data[((c * mult + mm) * ks[0] + y) * ks[1] + x] =
                            K->data[((y * ks[1] + x) * cin + c) * mult + mm];
        tensor_free(K);
        char *dwname = separable ? node_name(k, L, "_dw") : xstrdup(main);
        node *n = emit(k, dwname, OP_CONV, t->node);
        conv_attrs(n, ks, st, pad, dl, (int)cin);
        node_add_weight(n, "weight", W);
        if (!separable) {
            int64_t bd[1] = { cdw };
            tensor *B = use_bias ? kw_get(k, L, "bias", 1, bd, 1) : NULL;
            if (B)
                node_add_weight(n, "bias", B);
            free(dwname);
            finish_act(k, L, act, main, 3, cdw, oh, ow);
            return;
        }
        /* Separable: a 1x1 pointwise conv follows the depthwise one. */
        int64_t filters = cfg_int(k, L, "filters", 0, 1, KERAS_MAX_DIM);
        int64_t pd[4] = { 1, 1, cdw, filters };
        tensor *P = kw_get(k, L, "pointwise_kernel", 4, pd, 1);
        int64_t wd[4] = { filters, cdw, 1, 1 };
        tensor *PW = tensor_new(4, wd);
        for (int64_t c = 0; c < cdw; c++)
            for (int64_t f = 0; f < filters; f++)
                PW->data[f * cdw + c] = P->data[c * filters + f];
        tensor_free(P);
        node *pn = emit(k, main, OP_CONV, dwname);
        int one[2] = { 1, 1 }, zero[4] = { 0, 0, 0, 0 };
        conv_attrs(pn, one, one, zero, one, 1);
        node_add_weight(pn, "weight", PW);
        int64_t bd[1] = { filters };
        tensor *B = use_bias ? kw_get(k, L, "bias", 1, bd, 1) : NULL;
        if (B)
            node_add_weight(pn, "bias", B);
        free(dwname);
        finish_act(k, L, act, main, 3, filters, oh, ow);
        return;
    }
    int64_t filters = cfg_int(k, L, "filters", 0, 1, KERAS_MAX_DIM);
    int64_t groups = cfg_int(k, L, "groups", 1, 1, KERAS_MAX_DIM);
    if (cin % groups || filters % groups)
        LDIE(k, L, "groups %lld does not divide %lld input and %lld output channels",
             (long long)groups, (long long)cin, (long long)filters);
    int64_t cg = cin / groups;
    int64_t kd[4] = { ks[0], ks[1], cg, filters };
    tensor *K = kw_get(k, L, "kernel", 4, kd, 1);
    /* HWIO -> OIHW */
    int64_t od[4] = { filters, cg, ks[0], ks[1] };
    tensor *W = tensor_new(4, od);
    for (int64_t y = 0; y < ks[0]; y++)
        for (int64_t x = 0; x < ks[1]; x++)
            for (int64_t c = 0; c < cg; c++)
                for (int64_t f = 0; f < filters; f++)
                    W->data[((f * cg + c) * ks[0] + y) * ks[1] + x] =
                        K->data[((y * ks[1] + x) * cg + c) * filters + f];
    tensor_free(K);
    node *n = emit(k, main, OP_CONV, t->node);
    conv_attrs(n, ks, st, pad, dl, (int)groups);
    node_add_weight(n, "weight", W);
    int64_t bd[1] = { filters };
    tensor *B = use_bias ? kw_get(k, L, "bias", 1, bd, 1) : NULL;
    if (B)
        node_add_weight(n, "bias", B);
    finish_act(k, L, act, main, 3, filters, oh, ow);
}

static void layer_dense(kimp *k, klayer *L)
{
    ktensor *t = in0(k, L);
    no_pending_pad(k, L, t);
    int64_t units = cfg_int(k, L, "units", 0, 1, KERAS_MAX_DIM);
    int use_bias = 1;
    json_t *ub = cfg_get(L, "use_bias");
    if (ub && json_is_boolean(ub))
        use_bias = json_is_true(ub);
    const char *act;
    char *main = main_and_act(k, L, &act);
    int spatial = t->rank == 3 && t->h * t->w > 1;
    int64_t din = spatial ? t->c : t->c * t->h * t->w;
    int64_t kd[2] = { din, units };
    tensor *K = kw_get(k, L, "kernel", 2, kd, 1);
    int64_t bd[1] = { units };
    tensor *B = use_bias ? kw_get(k, L, "bias", 1, bd, 1) : NULL;
    node *n;
    if (spatial) {
        /* Keras applies Dense to the last axis of a map: a 1x1 conv. */
        int64_t od[4] = { units, din, 1, 1 };
        tensor *W = tensor_new(4, od);
        for (int64_t c = 0; c < din; c++)
            for (int64_t u = 0; u < units; u++)
                W->data[u * din + c] = K->data[c * units + u];
        n = emit(k, main, OP_CONV, t->node);
        int one[2] = { 1, 1 }, zero[4] = { 0, 0, 0, 0 };
        conv_attrs(n, one, one, zero, one, 1);
        node_add_weight(n, "weight", W);
    } else {
        int64_t od[2] = { units, din };
        tensor *W = tensor_new(2, od);
        int64_t fh = t->fh, fw = t->fw, fc = t->fc;
        for (int64_t r = 0; r < din; r++) {
            /* Keras row r of a vector flattened in HWC order is our CHW index q. */
            int64_t q = r;
            if (fh) {
                int64_t c = r % fc, yx = r / fc;
                q = c * fh * fw + yx;
            }
            for (int64_t u = 0; u < units; u++)
                W->data[u * din + q] = K->data[r * units + u];
        }
        n = emit(k, main, OP_DENSE, t->node);
        node_add_weight(n, "weight", W);
    }
    tensor_free(K);
    if (B)
        node_add_weight(n, "bias", B);
    finish_act(k, L, act, main, spatial ? 3 : 1, units, spatial ? t->h : 1, spatial ? t->w : 1);
}

static void layer_bn(kimp *k, klayer *L)
{
    ktensor *t = in0(k, L);
    no_pending_pad(k, L, t);
    int64_t axis = cfg_int(k, L, "axis", -1, -8, 8);
    int okax = axis == -1 || (t->rank == 3 ? axis == 3 : axis == 1);
    if (!okax)
        LDIE(k, L, "axis %lld is not supported (only the channel axis)", (long long)axis);
    if (t->fh)
        LDIE(k, L, "normalises a vector flattened from a feature map; not supported");
    int64_t c = t->c;
    double eps = cfg_num(k, L, "epsilon", 1e-3);
    json_t *sc = cfg_get(L, "scale"), *ce = cfg_get(L, "center");
    int scale = !sc || json_is_true(sc), center = !ce || json_is_true(ce);
    int64_t d[1] = { c };
    tensor *gamma = scale ? kw_get(k, L, "gamma", 1, d, 1) : NULL;
    tensor *beta = center ? kw_get(k, L, "beta", 1, d, 1) : NULL;
    tensor *mean = kw_get(k, L, "moving_mean", 1, d, 1);
    tensor *var = kw_get(k, L, "moving_variance", 1, d, 1);
    if (!gamma) {
        gamma = tensor_new(1, d);
        tensor_fill(gamma, 1.0f);
    }
    if (!beta)
        beta = tensor_new(1, d);
    for (int64_t i = 0; i < c; i++)
        if (var->data[i] + eps <= 0) {
            tensor_free(gamma);
            tensor_free(beta);
            tensor_free(mean);
            tensor_free(var);
            LDIE(k, L, "moving_variance + epsilon is not positive at channel %lld", (long long)i);
        }
    klayer *P = &k->l[L->in[0]];
    if (k->o->fold_bn && t->foldable && P->nuse == 1) {
        /* y = gamma (Wx + b - mean) / sqrt(var + eps) + beta, per output
         * channel of the conv/dense that alone feeds this BN. */
        node *n = &k->m->nodes[model_find(k->m, t->node)];
        tensor *W = node_weight(n, "weight"), *B = node_weight(n, "bias");
        if (!B) {
            B = tensor_new(1, d);
            node_add_weight(n, "bias", B);
        }
        int64_t per = tensor_numel(W) / c;
        for (int64_t o = 0; o < c; o++) {
            double s = gamma->data[o] / sqrt((double)var->data[o] + eps);
            for (int64_t j = 0; j < per; j++)
                W->data[o * per + j] = (float)(W->data[o * per + j] * s);
            B->data[o] = (float)((B->data[o] - mean->data[o]) * s + beta->data[o]);
        }
        tensor_free(gamma);
        tensor_free(beta);
        tensor_free(mean);
        tensor_free(var);
        out_alias(L, t);
        L->out.foldable = 1;   /* a second BN could fold too */
        return;
    }
    char *nm = node_name(k, L, "");
    node *n = emit(k, nm, OP_BN, t->node);
    node_set1(n, AT_EPS, eps);
    node_add_weight(n, "gamma", gamma);
    node_add_weight(n, "beta", beta);
    node_add_weight(n, "mean", mean);
    node_add_weight(n, "var", var);
    out_node(L, nm, t->rank, t->c, t->h, t->w);
    L->out.fh = t->fh;
}

/* Element-wise layers keep their input's shape and layout. */
static void elementwise_out(klayer *L, char *nm, const ktensor *t)
{
    out_node(L, nm, t->rank, t->c, t->h, t->w);
    L->out.fh = t->fh;
    L->out.fw = t->fw;
    L->out.fc = t->fc;
}

static void layer_activation(kimp *k, klayer *L, const char *act)
{
    ktensor *t = in0(k, L);
    no_pending_pad(k, L, t);
    char *nm = node_name(k, L, "");
    char *got = emit_act(k, L, act, nm, t->node);
    free(nm);
    if (!got) {
        out_alias(L, t);
        return;
    }
    elementwise_out(L, got, t);
    L->out.nonneg = act_nonneg(act);
}

static void layer_relu(kimp *k, klayer *L)
{
    ktensor *t = in0(k, L);
    no_pending_pad(k, L, t);
    json_t *mv = cfg_get(L, "max_value");
    double slope = cfg_num(k, L, "negative_slope", 0.0), thr = cfg_num(k, L, "threshold", 0.0);
    if (thr != 0)
        LDIE(k, L, "threshold %g is not supported (only 0)", thr);
    if (mv && !json_is_number(mv))
        LDIE(k, L, "'max_value' should be a number");
    char *nm = node_name(k, L, "");
    node *n;
    if (slope != 0) {
        if (mv)
            LDIE(k, L, "negative_slope together with max_value is not supported");
        n = emit(k, nm, OP_LEAKY, t->node);
        node_set1(n, AT_ALPHA, slope);
    } else if (mv) {
        double mx = json_number_value(mv);
        if (!(mx > 0))
            LDIE(k, L, "max_value %g should be positive", mx);
        n = emit(k, nm, OP_CLIP, t->node);
        node_set1(n, AT_MIN, 0.0);
        node_set1(n, AT_MAX, mx);
    } else {
        emit(k, nm, OP_RELU, t->node);
    }
    elementwise_out(L, nm, t);
    L->out.nonneg = slope == 0;
}

static void layer_leaky(kimp *k, klayer *L)
{
    ktensor *t = in0(k, L);
    no_pending_pad(k, L, t);
    double a = cfg_get(L, "negative_slope") ? cfg_num(k, L, "negative_slope", 0.3)
                                            : cfg_num(k, L, "alpha", 0.3);
    char *nm = node_name(k, L, "");
    node *n = emit(k, nm, OP_LEAKY, t->node);
    node_set1(n, AT_ALPHA, a);
    elementwise_out(L, nm, t);
}

static void layer_softmax(kimp *k, klayer *L)
{
    ktensor *t = in0(k, L);
    no_pending_pad(k, L, t);
    int64_t axis = cfg_int(k, L, "axis", -1, -8, 8);
    if (axis != -1 && axis != (t->rank == 3 ? 3 : 1))
        LDIE(k, L, "softmax over axis %lld is not supported (only the channel axis)",
             (long long)axis);
    char *nm = node_name(k, L, "");
    emit(k, nm, OP_SOFTMAX, t->node);
    elementwise_out(L, nm, t);
    L->out.nonneg = 1;
}

static void layer_zeropad(kimp *k, klayer *L)
{
    check_channels_last(k, L);
    ktensor *t = in0(k, L);
    need_map(k, L, t);
    int p[4];   /* t, l, b, r */
    json_t *v = cfg_get(L, "padding");
    if (!v) {
        p[0] = p[1] = p[2] = p[3] = 1;
    } else if (json_is_integer(v)) {
        cfg_pair(k, L, "padding", 1, 0, 65536, p);
        p[2] = p[3] = p[0];
    } else if (json_is_array(v) && json_array_size(v) == 2 &&
               json_is_array(json_array_get(v, 0))) {
        /* ((top, bottom), (left, right)) */
        for (int a = 0; a < 2; a++) {
            json_t *pr = json_array_get(v, (size_t)a);
            if (!json_is_array(pr) || json_array_size(pr) != 2)
                LDIE(k, L, "'padding' should be ((top, bottom), (left, right))");
            for (int b = 0; b < 2; b++) {
                json_t *x = json_array_get(pr, (size_t)b);
                if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > 65536)
                    LDIE(k, L, "'padding' should hold integers in [0, 65536]");
                p[a == 0 ? (b ? 2 : 0) : (b ? 3 : 1)] = (int)json_integer_value(x);
            }
        }
    } else {
        int hw[2];
        cfg_pair(k, L, "padding", 1, 0, 65536, hw);   /* (symmetric h, symmetric w) */
        p[0] = p[2] = hw[0];
        p[1] = p[3] = hw[1];
    }
    /* No node: the padding rides on the tensor until a convolution takes it. */
    out_alias(L, t);
    for (int i = 0; i < 4; i++)
        L->out.pad[i] += p[i];
}

static void layer_pool(kimp *k, klayer *L, int avg)
{
    check_channels_last(k, L);
    ktensor *t = in0(k, L);
    need_map(k, L, t);
    int ks[2], st[2], one[2] = { 1, 1 }, pad[4];
    cfg_pair(k, L, "pool_size", 2, 1, 4096, ks);
    cfg_pair(k, L, "strides", 0, 1, 4096, st);
    if (!cfg_get(L, "strides"))
        memcpy(st, ks, sizeof st);
    /* A ZeroPadding2D before a pool (Keras ResNet50: ReLU, pad 1, max-pool
     * 3/2) folds exactly when every window keeps a real pixel and: max-pool
     * on values >= 0 (zeros change no maximum, our pads are ignored);
     * valid average pool (the zeros count: count_include_pad). */
    int zpad = t->pad[0] || t->pad[1] || t->pad[2] || t->pad[3];
    if (zpad) {
        if (t->pad[0] >= ks[0] || t->pad[2] >= ks[0] || t->pad[1] >= ks[1] || t->pad[3] >= ks[1])
            LDIE(k, L, "follows a ZeroPadding2D as wide as the pool window; not supported");
        if (!avg && !t->nonneg)
            LDIE(k, L, "follows a ZeroPadding2D on values that may be negative; not supported "
                       "(only after ReLU, sigmoid, softmax)");
        if (avg && strcmp(cfg_str(k, L, "padding", "valid"), "valid"))
            LDIE(k, L, "'same' padding after a ZeroPadding2D is not supported");
    }
    int64_t oh, ow;
    window(k, L, t, ks, st, one, pad, &oh, &ow);
    char *nm = node_name(k, L, "");
    node *n = emit(k, nm, avg ? OP_AVGPOOL : OP_MAXPOOL, t->node);
    set2(n, AT_KERNEL, ks[0], ks[1]);
    set2(n, AT_STRIDE, st[0], st[1]);
    set4(n, AT_PAD, pad);
    if (avg)   /* TF averages "same" windows over the real pixels only */
        node_set1(n, AT_COUNT_PAD, zpad ? 1.0 : 0.0);
    out_node(L, nm, 3, t->c, oh, ow);
    L->out.nonneg = t->nonneg;
}

static void layer_gap(kimp *k, klayer *L, int max)
{
    check_channels_last(k, L);
    ktensor *t = in0(k, L);
    need_map(k, L, t);
    no_pending_pad(k, L, t);
    char *nm = node_name(k, L, "");
    emit(k, nm, max ? OP_GMP : OP_GAP, t->node);
    json_t *kd = cfg_get(L, "keepdims");
    out_node(L, nm, kd && json_is_true(kd) ? 3 : 1, t->c, 1, 1);
    L->out.nonneg = max && t->nonneg;
}

static void layer_flatten(kimp *k, klayer *L)
{
    ktensor *t = in0(k, L);
    no_pending_pad(k, L, t);
    if (t->rank == 1) {
        out_alias(L, t);
        return;
    }
    check_channels_last(k, L);
    char *nm = node_name(k, L, "");
    emit(k, nm, OP_FLATTEN, t->node);
    out_node(L, nm, 1, t->c * t->h * t->w, 1, 1);
    if (t->h * t->w > 1 && t->c > 1) {
        L->out.fh = t->h;
        L->out.fw = t->w;
        L->out.fc = t->c;
    }
}

static void layer_reshape(kimp *k, klayer *L)
{
    ktensor *t = in0(k, L);
    no_pending_pad(k, L, t);
    json_t *ts = cfg_get(L, "target_shape");
    size_t n = json_array_size(ts);
    if (!json_is_array(ts) || n < 1 || n > 3)
        LDIE(k, L, "'target_shape' should list 1 to 3 sizes");
    int64_t total = t->c * t->h * t->w, d[3], prod = 1;
    int unknown = -1;
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(ts, i);
        if (!json_is_integer(x) || json_integer_value(x) < -1 || json_integer_value(x) == 0 ||
            json_integer_value(x) > KERAS_MAX_DIM)
            LDIE(k, L, "bad 'target_shape'");
        d[i] = json_integer_value(x);
        if (d[i] == -1) {
            if (unknown >= 0)
                LDIE(k, L, "'target_shape' has two -1 sizes");
            unknown = (int)i;
        } else {
            prod *= d[i];
        }
    }
    if (unknown >= 0) {
        if (total % prod)
            LDIE(k, L, "cannot reshape %lld values to the target shape", (long long)total);
        d[unknown] = total / prod;
        prod = total;
    }
    if (prod != total)
        LDIE(k, L, "target shape holds %lld values, its input %lld", (long long)prod,
             (long long)total);
    int flat_out = n == 1 || (n == 3 && d[0] == 1 && d[1] == 1) || (n == 2 && d[0] == 1);
    if (!flat_out)
        LDIE(k, L, "only flattening reshapes (to (N,) or (1, 1, N)) are supported");
    if (t->rank == 3 && t->h * t->w > 1) {
        if (n != 1)
            LDIE(k, L, "only flattening reshapes (to (N,) or (1, 1, N)) are supported");
        layer_flatten(k, L);
        return;
    }
    /* 1 x 1 x C and C are the same in our layout: no node. */
    out_alias(L, t);
    L->out.rank = n == 3 ? 3 : 1;
    L->out.c = total;
    L->out.h = L->out.w = 1;
}

/* Permute of a map (Keras dims 1, 2, 3 = H, W, C): followed where it moves
 * no data in our C x H x W layout, i.e. where the axes longer than 1 keep
 * their order (the identity, a swap with a length-1 axis, ...): then no
 * node, a new shape. */
static void layer_permute(kimp *k, klayer *L)
{
    ktensor *t = in0(k, L);
    no_pending_pad(k, L, t);
    json_t *ds = cfg_get(L, "dims");
    int p[3] = { 0, 0, 0 }, seen = 0;
    if (!json_is_array(ds) || json_array_size(ds) != (size_t)(t->rank == 3 ? 3 : 1))
        LDIE(k, L, "'dims' should list %d axes", t->rank == 3 ? 3 : 1);
    for (size_t i = 0; i < json_array_size(ds); i++) {
        json_t *v = json_array_get(ds, i);
        int a = json_is_integer(v) ? (int)json_integer_value(v) : 0;
        if (a < 1 || a > (t->rank == 3 ? 3 : 1) || (seen & 1 << a))
            LDIE(k, L, "'dims' is not a permutation of the axes 1 to %d", t->rank == 3 ? 3 : 1);
        seen |= 1 << a;
        p[i] = a;
    }
    out_alias(L, t);
    if (t->rank != 3)
        return;
    need_map(k, L, t);
    /* extents by Keras axis; our order is C, H, W: axes 3, 1, 2 */
    int64_t ext[4] = { 1, t->h, t->w, t->c };
    int before[3] = { 3, 1, 2 }, after[3] = { p[2], p[0], p[1] }, nb = 0, na = 0;
    for (int i = 0; i < 3; i++) {
        if (ext[before[i]] > 1)
            before[nb++] = before[i];
        if (ext[after[i]] > 1)
            after[na++] = after[i];
    }
    if (memcmp(before, after, (size_t)nb * sizeof *before))
        LDIE(k, L, "reorders axes (dims %d, %d, %d of a %lldx%lldx%lld map), which the "
                   "channels-first layout cannot follow; only permutations that move no data "
                   "(the axes longer than 1 keep their order) are supported",
             p[0], p[1], p[2], (long long)t->h, (long long)t->w, (long long)t->c);
    L->out.h = ext[p[0]];
    L->out.w = ext[p[1]];
    L->out.c = ext[p[2]];
}

static void layer_dropout(kimp *k, klayer *L)
{
    ktensor *t = in0(k, L);
    no_pending_pad(k, L, t);
    double rate = cfg_num(k, L, "rate", 0.5);
    if (rate < 0 || rate >= 1)
        LDIE(k, L, "rate %g should lie in [0, 1)", rate);
    char *nm = node_name(k, L, "");
    node *n = emit(k, nm, OP_DROPOUT, t->node);
    node_set1(n, AT_RATIO, rate);
    elementwise_out(L, nm, t);
    L->out.nonneg = t->nonneg;
}

/* LayerNormalization over the channel axis (our LayerNorm); a vector
 * flattened in Keras' HWC order has gamma and beta permuted to ours. */
static void layer_layernorm(kimp *k, klayer *L)
{
    ktensor *t = in0(k, L);
    no_pending_pad(k, L, t);
    json_t *ax = cfg_get(L, "axis");
    if (json_is_array(ax) && json_array_size(ax) == 1)
        ax = json_array_get(ax, 0);
    int64_t a = ax ? (json_is_integer(ax) ? json_integer_value(ax) : 99) : -1;
    if (a != -1 && a != (t->rank == 3 ? 3 : 1))
        LDIE(k, L, "normalising over axes other than the channels is not supported");
    json_t *rms = cfg_get(L, "rms_scaling");
    if (rms && json_is_true(rms))
        LDIE(k, L, "rms_scaling is not supported");
    double eps = cfg_num(k, L, "epsilon", 1e-3);
    if (!(eps >= 0))
        LDIE(k, L, "epsilon %g should not be negative", eps);
    json_t *sc = cfg_get(L, "scale"), *ce = cfg_get(L, "center");
    int64_t c = t->c, d[1] = { c };
    tensor *g = !sc || json_is_true(sc) ? kw_get(k, L, "gamma", 1, d, 1) : NULL;
    tensor *b = !ce || json_is_true(ce) ? kw_get(k, L, "beta", 1, d, 1) : NULL;
    if (!g) {
        g = tensor_new(1, d);
        tensor_fill(g, 1.0f);
    }
    if (!b)
        b = tensor_new(1, d);
    if (t->fh) {   /* row r of Keras' HWC vector is our CHW index q */
        tensor *g2 = tensor_new(1, d), *b2 = tensor_new(1, d);
        for (int64_t r = 0; r < c; r++) {
            int64_t q = (r % t->fc) * t->fh * t->fw + r / t->fc;
            g2->data[q] = g->data[r];
            b2->data[q] = b->data[r];
        }
        tensor_free(g);
        tensor_free(b);
        g = g2, b = b2;
    }
    char *nm = node_name(k, L, "");
    node *n = emit(k, nm, OP_LAYERNORM, t->node);
    node_set1(n, AT_EPS, eps);
    node_add_weight(n, "gamma", g);
    node_add_weight(n, "beta", b);
    elementwise_out(L, nm, t);
}

/* UpSampling2D by integer factors: nearest repeats (ONNX asymmetric
 * coordinates, floor), bilinear is TF's half-pixel resize. */
static void layer_upsample(kimp *k, klayer *L)
{
    check_channels_last(k, L);
    ktensor *t = in0(k, L);
    need_map(k, L, t);
    no_pending_pad(k, L, t);
    int f[2];
    cfg_pair(k, L, "size", 2, 1, 4096, f);
    const char *ip = cfg_str(k, L, "interpolation", "nearest");
    int linear = !strcmp(ip, "bilinear");
    if (!linear && strcmp(ip, "nearest"))
        LDIE(k, L, "interpolation '%s' is not supported (nearest, bilinear are)", ip);
    int64_t oh = t->h * f[0], ow = t->w * f[1];
    if (oh > KERAS_MAX_DIM || ow > KERAS_MAX_DIM)
        LDIE(k, L, "the output would be %lldx%lld", (long long)oh, (long long)ow);
    char *nm = node_name(k, L, "");
    node *n = emit(k, nm, OP_RESIZE, t->node);
    set2(n, "size", (double)oh, (double)ow);
    node_set1(n, "mode", linear);
    node_set1(n, "coord", linear ? 0 : 1);
    node_set1(n, "nearest", 0);
    out_node(L, nm, 3, t->c, oh, ow);
    L->out.nonneg = t->nonneg;
}

/* Keras' transposed-convolution length (conv_utils.deconv_output_length). */
static int64_t deconv_len(int64_t in, int kk, int s, int d, int same, int op)
{
    int64_t eff = (int64_t)(kk - 1) * d + 1;
    if (op < 0)
        return same ? in * s : in * s + (eff > s ? eff - s : 0);
    return (in - 1) * s + eff - (same ? 2 * (eff / 2) : 0) + op;
}

/* Conv2DTranspose: TF's conv2d_transpose, the gradient of a conv with the
 * output's size: the full (H - 1) s + dilated kernel rows are cropped by
 * TF's "same" split (the odd row at the bottom), or extended at the bottom
 * by output_padding when Keras' size is larger. Kernel kh x kw x Cout x Cin
 * -> Cin x Cout x kh x kw. */
static void layer_deconv(kimp *k, klayer *L)
{
    check_channels_last(k, L);
    ktensor *t = in0(k, L);
    need_map(k, L, t);
    no_pending_pad(k, L, t);
    int ks[2], st[2], dl[2], op[2] = { -1, -1 }, pad[4], opad[2];
    cfg_pair(k, L, "kernel_size", 1, 1, 4096, ks);
    cfg_pair(k, L, "strides", 1, 1, 4096, st);
    cfg_pair(k, L, "dilation_rate", 1, 1, 4096, dl);
    if (cfg_get(L, "output_padding"))
        cfg_pair(k, L, "output_padding", 0, 0, 4096, op);
    const char *p = cfg_str(k, L, "padding", "valid");
    int same = !strcmp(p, "same");
    if (!same && strcmp(p, "valid"))
        LDIE(k, L, "padding '%s' is not supported (valid, same are)", p);
    int64_t in[2] = { t->h, t->w }, out[2];
    for (int a = 0; a < 2; a++) {
        if (op[a] >= st[a] && op[a] >= dl[a])
            LDIE(k, L, "output_padding %d should be below the stride %d", op[a], st[a]);
        out[a] = deconv_len(in[a], ks[a], st[a], dl[a], same, op[a]);
        int64_t full = (in[a] - 1) * st[a] + (int64_t)(ks[a] - 1) * dl[a] + 1;
        int64_t tot = same || full > out[a] ? full - out[a] : 0;
        if (out[a] < 1 || out[a] > KERAS_MAX_DIM)
            LDIE(k, L, "the output would have %lld rows or columns", (long long)out[a]);
        pad[a] = tot > 0 ? (int)(tot / 2) : 0;
        pad[a + 2] = tot > 0 ? (int)(tot - tot / 2) : 0;
        opad[a] = tot < 0 ? (int)-tot : (int)(out[a] - (full - (tot > 0 ? tot : 0)));
        if (opad[a] >= st[a] && opad[a] >= dl[a])
            LDIE(k, L, "its output size needs %d extra rows or columns, more than the stride",
                 opad[a]);
    }
    int use_bias = 1;
    json_t *ub = cfg_get(L, "use_bias");
    if (ub && json_is_boolean(ub))
        use_bias = json_is_true(ub);
    int64_t filters = cfg_int(k, L, "filters", 0, 1, KERAS_MAX_DIM), cin = t->c;
    int64_t kd[4] = { ks[0], ks[1], filters, cin };
    tensor *K = kw_get(k, L, "kernel", 4, kd, 1);
    int64_t od[4] = { cin, filters, ks[0], ks[1] };
    tensor *W = tensor_new(4, od);
    for (int64_t y = 0; y < ks[0]; y++)
        for (int64_t x = 0; x < ks[1]; x++)
            for (int64_t f = 0; f < filters; f++)
                for (int64_t c = 0; c < cin; c++)
                    W->data[((c * filters + f) * ks[0] + y) * ks[1] + x] =
                        K->data[((y * ks[1] + x) * filters + f) * cin + c];
    tensor_free(K);
    int64_t bd[1] = { filters };
    tensor *B = use_bias ? kw_get(k, L, "bias", 1, bd, 1) : NULL;
    const char *act;
    char *main = main_and_act(k, L, &act);
    node *n = emit(k, main, OP_DECONV, t->node);
    set2(n, AT_KERNEL, ks[0], ks[1]);
    set2(n, AT_STRIDE, st[0], st[1]);
    int pd[4] = { pad[0], pad[1], pad[2], pad[3] };
    set4(n, AT_PAD, pd);
    set2(n, AT_DILATION, dl[0], dl[1]);
    set2(n, "output_padding", opad[0], opad[1]);
    node_add_weight(n, "weight", W);
    if (B)
        node_add_weight(n, "bias", B);
    finish_act(k, L, act, main, 3, filters, out[0], out[1]);
}

/* ELU(alpha) and PReLU (alpha shared over height and width: one slope per
 * channel, or one for all). */
static void layer_elu(kimp *k, klayer *L)
{
    ktensor *t = in0(k, L);
    no_pending_pad(k, L, t);
    char *nm = node_name(k, L, "");
    node *n = emit(k, nm, OP_ELU, t->node);
    node_set1(n, AT_ALPHA, cfg_num(k, L, "alpha", 1.0));
    elementwise_out(L, nm, t);
}

static void layer_prelu(kimp *k, klayer *L)
{
    ktensor *t = in0(k, L);
    no_pending_pad(k, L, t);
    if (t->fh)
        LDIE(k, L, "follows a flattened feature map; not supported");
    kw_entry *e = kw_find(k, L->name, "alpha");
    int64_t c = t->c;
    int64_t d3[3] = { 1, 1, c }, d1[1] = { c };
    if (!e)
        LDIE(k, L, "no weight 'alpha' in the file");
    int three = e->ndim == 3;
    if (three && t->rank != 3)
        LDIE(k, L, "alpha has 3 axes but the input is a vector");
    if (three && (e->dims[0] != 1 || e->dims[1] != 1))
        LDIE(k, L, "a slope per position is not supported (only shared_axes [1, 2])");
    tensor *A = kw_get(k, L, "alpha", three ? 3 : 1, three ? d3 : d1, 1);
    tensor *S = tensor_new(1, d1);
    memcpy(S->data, A->data, (size_t)c * sizeof(float));
    tensor_free(A);
    char *nm = node_name(k, L, "");
    node *n = emit(k, nm, OP_PRELU, t->node);
    node_add_weight(n, "slope", S);
    elementwise_out(L, nm, t);
}

/* Comma-separated producer nodes of a merge layer. */
static char *merge_inputs(kimp *k, klayer *L)
{
    if (L->nin < 2)
        LDIE(k, L, "needs at least two inputs, has %d", L->nin);
    size_t len = 1;
    for (int i = 0; i < L->nin; i++)
        len += strlen(k->l[L->in[i]].out.node) + 1;
    char *s = xcalloc(len, 1);
    for (int i = 0; i < L->nin; i++) {
        ktensor *t = &k->l[L->in[i]].out;
        no_pending_pad(k, L, t);
        if (i)
            strcat(s, ",");
        strcat(s, t->node);
    }
    return s;
}

/* The broadcast shape of a merge layer's inputs, per axis as NumPy's (our
 * C x H x W layout aligns Keras' trailing channel axis: a C vector or a
 * 1 x 1 x C map is C x 1 x 1). Vectors flattened from a map (HWC order)
 * only meet their own kind, shape for shape. */
static void merge_shape(kimp *k, klayer *L, int64_t so[3], int *rank)
{
    ktensor *a = &k->l[L->in[0]].out;
    so[0] = a->c, so[1] = a->h, so[2] = a->w;
    *rank = a->rank;
    for (int i = 1; i < L->nin; i++) {
        ktensor *b = &k->l[L->in[i]].out;
        int64_t sb[3] = { b->c, b->h, b->w };
        int ok = b->fh == a->fh && b->fw == a->fw && b->fc == a->fc;
        for (int d = 0; d < 3 && ok; d++) {
            if (a->fh && sb[d] != so[d])
                ok = 0;
            else if (sb[d] != so[d] && sb[d] != 1 && so[d] != 1)
                ok = 0;
            else if (so[d] == 1)
                so[d] = sb[d];
        }
        if (!ok) {
            char b1[64], b2[64];
            int64_t s0[3] = { a->h, a->w, a->c }, s1[3] = { b->h, b->w, b->c };
            LDIE(k, L, "inputs '%s' (%s) and '%s' (%s) do not broadcast", k->l[L->in[0]].name,
                 shape_str(a->rank == 3 ? 3 : 1, a->rank == 3 ? s0 : s0 + 2, b1, sizeof b1),
                 k->l[L->in[i]].name,
                 shape_str(b->rank == 3 ? 3 : 1, b->rank == 3 ? s1 : s1 + 2, b2, sizeof b2));
        }
        if (b->rank > *rank)
            *rank = b->rank;
    }
}

/* Add, Subtract, Multiply, Average, Maximum, Minimum of computed tensors
 * with broadcasting: Add, Maximum and Minimum take all inputs in one node;
 * Multiply chains two-input products ("<layer>_1", ... then "<layer>");
 * Average is the sum ("<layer>_sum") times 1/n by a 1x1 depthwise
 * convolution. */
static void layer_merge(kimp *k, klayer *L, const char *cls)
{
    int sub = !strcmp(cls, "Subtract"), mul = !strcmp(cls, "Multiply"),
        avg = !strcmp(cls, "Average"), mx = !strcmp(cls, "Maximum"), mn = !strcmp(cls, "Minimum");
    if (sub && L->nin != 2)
        LDIE(k, L, "has %d inputs (Subtract takes 2)", L->nin);
    char *ins = merge_inputs(k, L);
    int64_t so[3];
    int rank, nonneg = 1;
    merge_shape(k, L, so, &rank);
    for (int i = 0; i < L->nin; i++)
        nonneg = nonneg && k->l[L->in[i]].out.nonneg;
    char *nm = node_name(k, L, "");
    if (mul && L->nin > 2) {
        char *prev = xstrdup(k->l[L->in[0]].out.node);
        for (int i = 1; i < L->nin; i++) {
            char sfx[24];
            snprintf(sfx, sizeof sfx, "_%d", i);
            char *step = i + 1 == L->nin ? xstrdup(nm) : node_name(k, L, sfx);
            const char *b = k->l[L->in[i]].out.node;
            char *pair = xmalloc(strlen(prev) + strlen(b) + 2);
            sprintf(pair, "%s,%s", prev, b);
            emit(k, step, OP_MUL, pair);
            free(pair);
            free(prev);
            prev = step;
        }
        free(prev);
    } else if (avg) {
        char *sum = node_name(k, L, "_sum");
        emit(k, sum, OP_ADD, ins);
        node *n = emit(k, nm, OP_CONV, sum);
        int one[2] = { 1, 1 }, zero[4] = { 0, 0, 0, 0 };
        conv_attrs(n, one, one, zero, one, (int)so[0]);
        int64_t wd[4] = { so[0], 1, 1, 1 };
        tensor *W = tensor_new(4, wd);
        tensor_fill(W, (float)(1.0 / L->nin));
        node_add_weight(n, "weight", W);
        free(sum);
    } else {
        emit(k, nm, sub ? OP_SUB : mul ? OP_MUL : mx ? OP_MAX : mn ? OP_MIN : OP_ADD, ins);
    }
    free(ins);
    ktensor *a = &k->l[L->in[0]].out;
    out_node(L, nm, rank, so[0], so[1], so[2]);
    L->out.fh = a->fh;
    L->out.fw = a->fw;
    L->out.fc = a->fc;
    L->out.nonneg = nonneg && !sub;
}

static void layer_concat(kimp *k, klayer *L)
{
    char *ins = merge_inputs(k, L);
    ktensor *a = &k->l[L->in[0]].out;
    int64_t axis = cfg_int(k, L, "axis", -1, -8, 8);
    if (axis != -1 && axis != (a->rank == 3 ? 3 : 1))
        LDIE(k, L, "concatenation along axis %lld is not supported (only channels)",
             (long long)axis);
    int64_t c = 0;
    for (int i = 0; i < L->nin; i++) {
        ktensor *b = &k->l[L->in[i]].out;
        if (b->h != a->h || b->w != a->w || b->rank != a->rank)
            LDIE(k, L, "inputs '%s' and '%s' differ in height or width", k->l[L->in[0]].name,
                 k->l[L->in[i]].name);
        if (b->fh)
            LDIE(k, L, "concatenates a vector flattened from a feature map; not supported");
        c += b->c;
    }
    char *nm = node_name(k, L, "");
    emit(k, nm, OP_CONCAT, ins);   /* Concat joins channels; it has no attributes */
    free(ins);
    out_node(L, nm, a->rank, c, a->h, a->w);
}

/* Rescaling and Normalization right after the input, alone or chained:
 * per channel x_keras = raw * S + O with raw pixels 0..255 = 255 x (ours),
 * each layer composing its own affine map into (S, O); at the end
 * mean = -O / (255 S), std = 1 / (255 S) (preprocessing()). */
static void affine_after_input(kimp *k, klayer *L, const double a[3], const double b[3])
{
    ktensor *t = in0(k, L);
    no_pending_pad(k, L, t);
    int ok = !strcmp(t->node, "input");
    for (klayer *P = &k->l[L->in[0]]; ok; P = &k->l[P->in[0]]) {
        ok = P->nuse == 1;
        if (!strcmp(P->cls, "InputLayer"))
            break;
        ok = ok && P->nin == 1 &&
             (!strcmp(P->cls, "Rescaling") || !strcmp(P->cls, "Normalization"));
    }
    if (!ok)
        LDIE(k, L, "is only supported right after the model's input (it becomes the "
                   "preprocessing)");
    if (!k->have_rescale)
        for (int c = 0; c < 3; c++)
            k->rs_scale[c] = 1.0, k->rs_offset[c] = 0.0;
    for (int c = 0; c < 3; c++) {
        k->rs_scale[c] *= a[c];
        k->rs_offset[c] = k->rs_offset[c] * a[c] + b[c];
        if (!(k->rs_scale[c] > 0) || !isfinite(k->rs_scale[c]) || !isfinite(k->rs_offset[c]))
            LDIE(k, L, "the preprocessing up to this layer scales channel %d by %g (it should "
                       "be positive)", c, k->rs_scale[c]);
    }
    k->have_rescale = 1;
    out_alias(L, t);
}

static void layer_rescaling(kimp *k, klayer *L)
{
    double a[3], b[3];
    if (k->in_c > 3)
        LDIE(k, L, "preprocessing of more than 3 channels is not supported");
    for (int c = 0; c < 3; c++) {
        json_t *s = cfg_get(L, "scale"), *o = cfg_get(L, "offset");
        if (json_is_array(s))
            s = json_array_get(s, json_array_size(s) == 3 ? (size_t)c : 0);
        if (json_is_array(o))
            o = json_array_get(o, json_array_size(o) == 3 ? (size_t)c : 0);
        if ((s && !json_is_number(s)) || (o && !json_is_number(o)))
            LDIE(k, L, "'scale' and 'offset' should be numbers");
        a[c] = s ? json_number_value(s) : 1.0;
        b[c] = o ? json_number_value(o) : 0.0;
    }
    affine_after_input(k, L, a, b);
}

/* Normalization (x - mean) / max(sqrt(variance), 1e-7), the statistics from
 * the config or the layer's weights (1 or C values). */
static void normalization_stat(kimp *k, klayer *L, const char *key, double v[3])
{
    json_t *j = cfg_get(L, key);
    int64_t c = k->in_c;
    if (j) {
        size_t n = json_is_array(j) ? json_array_size(j) : 1;
        if (n != 1 && n != (size_t)c)
            LDIE(k, L, "'%s' should hold 1 or %lld values", key, (long long)c);
        for (int i = 0; i < c; i++) {
            json_t *x = json_is_array(j) ? json_array_get(j, n == 1 ? 0 : (size_t)i) : j;
            while (json_is_array(x) && json_array_size(x) == 1)
                x = json_array_get(x, 0);
            if (!json_is_number(x))
                LDIE(k, L, "'%s' should hold numbers", key);
            v[i] = json_number_value(x);
        }
        return;
    }
    kw_entry *e = kw_find(k, L->name, key);
    if (!e)
        LDIE(k, L, "no '%s' in its config or the file", key);
    int64_t n = shape_numel(e->ndim, e->dims, KERAS_MAX_NUMEL);
    if (n != 1 && n != c)
        LDIE(k, L, "weight '%s' holds %lld values (1 or %lld expected)", e->full, (long long)n,
             (long long)c);
    int64_t d[TENSOR_MAXDIM];
    memcpy(d, e->dims, sizeof d);
    tensor *t = kw_get(k, L, key, e->ndim, d, 1);
    for (int i = 0; i < c; i++)
        v[i] = t->data[n == 1 ? 0 : i];
    tensor_free(t);
}

static void layer_normalization(kimp *k, klayer *L)
{
    json_t *inv = cfg_get(L, "invert");
    if (k->in_c > 3)
        LDIE(k, L, "preprocessing of more than 3 channels is not supported");
    if (inv && json_is_true(inv))
        LDIE(k, L, "invert is not supported");
    json_t *ax = cfg_get(L, "axis");
    if (json_is_array(ax) && json_array_size(ax) == 1)
        ax = json_array_get(ax, 0);
    if (ax && !(json_is_integer(ax) && (json_integer_value(ax) == -1 || json_integer_value(ax) == 3)))
        LDIE(k, L, "only the channel axis is supported");
    double mean[3] = { 0, 0, 0 }, var[3] = { 1, 1, 1 }, a[3], b[3];
    normalization_stat(k, L, "mean", mean);
    normalization_stat(k, L, "variance", var);
    for (int c = 0; c < 3; c++) {
        double sd = c < k->in_c ? sqrt(var[c] > 0 ? var[c] : 0) : 1.0;
        if (sd < 1e-7)
            sd = 1e-7;
        a[c] = 1.0 / sd;
        b[c] = -mean[c] / sd;
    }
    affine_after_input(k, L, a, b);
}

static void emit_layer(kimp *k, klayer *L)
{
    const char *c = L->cls;
    if (!strcmp(c, "InputLayer"))
        LDIE(k, L, "a second input (only one is supported)");
    else if (!strcmp(c, "Conv2D") || !strcmp(c, "Convolution2D"))
        layer_conv(k, L, 0, 0);
    else if (!strcmp(c, "DepthwiseConv2D"))
        layer_conv(k, L, 1, 0);
    else if (!strcmp(c, "SeparableConv2D"))
        layer_conv(k, L, 0, 1);
    else if (!strcmp(c, "Dense"))
        layer_dense(k, L);
    else if (!strcmp(c, "BatchNormalization"))
        layer_bn(k, L);
    else if (!strcmp(c, "Activation"))
        layer_activation(k, L, cfg_str(k, L, "activation", "linear"));
    else if (!strcmp(c, "ReLU"))
        layer_relu(k, L);
    else if (!strcmp(c, "LeakyReLU"))
        layer_leaky(k, L);
    else if (!strcmp(c, "Softmax"))
        layer_softmax(k, L);
    else if (!strcmp(c, "ZeroPadding2D"))
        layer_zeropad(k, L);
    else if (!strcmp(c, "MaxPooling2D") || !strcmp(c, "MaxPool2D"))
        layer_pool(k, L, 0);
    else if (!strcmp(c, "AveragePooling2D") || !strcmp(c, "AvgPool2D"))
        layer_pool(k, L, 1);
    else if (!strcmp(c, "GlobalAveragePooling2D") || !strcmp(c, "GlobalAvgPool2D"))
        layer_gap(k, L, 0);
    else if (!strcmp(c, "GlobalMaxPooling2D") || !strcmp(c, "GlobalMaxPool2D"))
        layer_gap(k, L, 1);
    else if (!strcmp(c, "LayerNormalization"))
        layer_layernorm(k, L);
    else if (!strcmp(c, "UpSampling2D"))
        layer_upsample(k, L);
    else if (!strcmp(c, "Conv2DTranspose") || !strcmp(c, "Convolution2DTranspose"))
        layer_deconv(k, L);
    else if (!strcmp(c, "ELU"))
        layer_elu(k, L);
    else if (!strcmp(c, "PReLU"))
        layer_prelu(k, L);
    else if (!strcmp(c, "Flatten"))
        layer_flatten(k, L);
    else if (!strcmp(c, "Reshape"))
        layer_reshape(k, L);
    else if (!strcmp(c, "Dropout") || !strcmp(c, "SpatialDropout2D"))
        layer_dropout(k, L);
    else if (!strcmp(c, "Add") || !strcmp(c, "Subtract") || !strcmp(c, "Multiply") ||
             !strcmp(c, "Average") || !strcmp(c, "Maximum") || !strcmp(c, "Minimum"))
        layer_merge(k, L, c);
    else if (!strcmp(c, "Concatenate"))
        layer_concat(k, L);
    else if (!strcmp(c, "Rescaling"))
        layer_rescaling(k, L);
    else if (!strcmp(c, "Normalization"))
        layer_normalization(k, L);
    else if (!strcmp(c, "Permute"))
        layer_permute(k, L);
    else
        die("%s: unsupported layer class '%s' (layer '%s')", k->src, c, L->name);
}

/* Topology JSON (the Keras model config) -> our graph. */
static model *build(kimp *k, json_t *mc)
{
    if (!k->l)
        parse_topology(k, mc);
    int64_t h = k->in_h, w = k->in_w;
    if (k->o->height) {
        h = k->o->height;
        w = k->o->width;
    }
    if (!h || !w)
        die("%s: the model's input size is not fixed (give --size WxH)", k->src);
    k->m = model_new(k->in_c, h, w);
    int *order = xmalloc((size_t)(k->nl + 1) * sizeof *order), no = 0;
    topo(k, k->output, order, &no, 0);
    if (k->l[k->ninput].state != 2)
        die("%s: the output '%s' does not depend on the input", k->src, k->l[k->output].name);
    for (int i = 0; i < no; i++)
        for (int j = 0; j < k->l[order[i]].nin; j++)
            k->l[k->l[order[i]].in[j]].nuse++;
    k->l[k->output].nuse++;
    for (int i = 0; i < no; i++) {
        klayer *L = &k->l[order[i]];
        if (order[i] == k->ninput) {
            out_node(L, xstrdup("input"), 3, k->in_c, h, w);
            continue;
        }
        emit_layer(k, L);
        L->done = 1;
    }
    klayer *O = &k->l[k->output];
    no_pending_pad(k, O, &O->out);
    if (!strcmp(O->out.node, "input"))
        die("%s: the model does nothing (its output is its input)", k->src);
    /* The model's output is the last node: move nothing, but check. */
    if (strcmp(k->m->nodes[k->m->n - 1].name, O->out.node))
        die("%s: internal: the output '%s' is not the last node", k->src, O->out.node);
    free(order);
    return k->m;
}

static void preprocessing(kimp *k)
{
    model *m = k->m;
    if (k->have_rescale) {
        for (int c = 0; c < 3; c++) {
            m->std[c] = (float)(1.0 / (255.0 * k->rs_scale[c]));
            m->mean[c] = (float)(-k->rs_offset[c] / (255.0 * k->rs_scale[c]));
        }
        info("preprocessing from the Rescaling layer (assuming 0..255 pixels): mean %g,%g,%g std %g,%g,%g",
             m->mean[0], m->mean[1], m->mean[2], m->std[0], m->std[1], m->std[2]);
    } else if (!k->o->has_mean && !k->o->has_std && !(k->o->scale > 0)) {
        info("the file has no preprocessing: pixels go in as [0,1] (give --mean/--std or "
             "--scale if the model wants otherwise)");
    }
}

static void cleanup(kimp *k)
{
    for (int i = 0; i < k->nl + k->nsynth; i++) {
        free(k->l[i].in);
        free(k->l[i].out.node);
    }
    free(k->l);
    kw_free(k);
    if (k->h5)
        h5in_close(k->h5);
    json_decref(k->root);
}

/* Where the model came from, without the user's directories: the file's
 * name, and for model.json its folder's name too ("darknet-tiny/model.json"). */
static char *source_line(const char *fmt, const char *ver, const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    if (!strcmp(b, "model.json") && b > path + 1) {
        const char *d = b - 1;
        while (d > path && d[-1] != '/')
            d--;
        b = d;
    }
    char *s = xmalloc(strlen(fmt) + strlen(ver) + strlen(b) + 16);
    sprintf(s, fmt, ver, b);
    return s;
}

model *import_keras_tfjs(const char *path, const import_opts *o)
{
    kimp k = { 0 };
    k.o = o;
    struct stat st;
    char *jpath, *dir;
    if (!stat(path, &st) && S_ISDIR(st.st_mode)) {
        dir = xstrdup(path);
        for (size_t l = strlen(dir); l > 1 && dir[l - 1] == '/'; l--)
            dir[l - 1] = '\0';   /* "models/x/" -> "models/x" for tidy messages */
        jpath = xmalloc(strlen(dir) + 16);
        sprintf(jpath, "%s/model.json", dir);
    } else {
        jpath = xstrdup(path);
        const char *s = strrchr(path, '/');
        dir = s ? strndup(path, (size_t)(s - path)) : xstrdup("");
        if (!dir)
            die("out of memory");
        if (s == path) {
            free(dir);
            dir = xstrdup("/");
        }
    }
    k.src = jpath;
    size_t len;
    unsigned char *txt = cli_read_file(jpath, KERAS_MAX_JSON, 0, &len);
    json_error_t je;
    k.root = json_loadb((const char *)txt, len, JSON_REJECT_DUPLICATES, &je);
    free(txt);
    if (!k.root)
        die("%s: not valid JSON (line %d, column %d: %s)", jpath, je.line, je.column, je.text);
    if (!json_is_object(k.root))
        die("%s: not a TF.js model (the JSON is not an object)", jpath);
    json_t *top = json_object_get(k.root, "modelTopology"),
           *man = json_object_get(k.root, "weightsManifest");
    if (!json_is_object(top))
        die("%s: no 'modelTopology' (not a TF.js layers model)", jpath);
    json_t *fmt = json_object_get(k.root, "format");
    if (json_is_string(fmt) && !strcmp(json_string_value(fmt), "graph-model"))
        die("%s: a TF.js graph model (only the layers format is supported)", jpath);
    if (!man)
        die("%s: no 'weightsManifest' (the model has no weights)", jpath);
    json_t *mc = json_object_get(top, "model_config");
    if (!mc)
        mc = top;
    if (!json_is_object(mc))
        die("%s: 'model_config' is not an object", jpath);
    tfjs_load_weights(&k, man, dir);
    json_t *kv0 = json_object_get(top, "keras_version");
    k.keras3 = json_is_string(kv0) && json_string_value(kv0)[0] >= '3';
    build(&k, mc);
    preprocessing(&k);
    json_t *kv = json_object_get(top, "keras_version");
    model *m = k.m;
    m->source = source_line("TF.js layers model (Keras %s): %s",
                            json_is_string(kv) ? json_string_value(kv) : "?", jpath);
    cleanup(&k);
    free(dir);
    free(jpath);
    return m;
}

/* libhdf5 1.10 trusts some lengths inside a file: a corrupt global heap
 * (where variable-length strings such as model_config live) can make it
 * read out of bounds and crash, or loop forever (found by fuzzing).
 * io/h5io guards every read for all tools: such a crash, or a string
 * attribute that takes over 10 s, is the usual one-line error. */
static char *h5_attr(kimp *k, const char *name)
{
    return h5in_attr_str(k->h5, "/", name);
}

model *import_keras_h5(const char *path, const import_opts *o)
{
    kimp k = { 0 };
    k.o = o;
    k.src = path;
    k.h5 = h5in_open(path);
    char *cfg = h5_attr(&k, "model_config");
    if (!cfg) {
        if (h5in_has(k.h5, "/model_weights") || h5_attr(&k, "layer_names"))
            die("%s: Keras weights without the model's architecture (no 'model_config'; save "
                "with model.save(), not save_weights())", path);
        die("%s: not a Keras model file (no 'model_config' attribute)", path);
    }
    json_error_t je;
    k.root = json_loads(cfg, JSON_REJECT_DUPLICATES, &je);
    free(cfg);
    if (!k.root)
        die("%s: model_config is not valid JSON (line %d, column %d: %s)", path, je.line,
            je.column, je.text);
    if (!json_is_object(k.root))
        die("%s: model_config is not a JSON object", path);
    h5_load_weights(&k);
    char *kv0 = h5_attr(&k, "keras_version");
    k.keras3 = kv0 && kv0[0] >= '3';
    free(kv0);
    build(&k, k.root);
    preprocessing(&k);
    char *kv = h5_attr(&k, "keras_version");
    model *m = k.m;
    m->source = source_line("Keras HDF5 model (Keras %s): %s", kv ? kv : "?", path);
    free(kv);
    cleanup(&k);
    return m;
}

/* ------------------------------------------------------- Keras 3 .keras */

/* Keras' naming.to_snake_case of a class name: "Conv2DTranspose" ->
 * "conv2d_transpose", "BatchNormalization" -> "batch_normalization". */
static char *snake_case(const char *cls)
{
    size_t n = strlen(cls);
    char *a = xmalloc(n + 1), *b = xmalloc(2 * n + 1), *c = xmalloc(4 * n + 1);
    size_t na = 0, nb = 0, nc = 0;
    for (size_t i = 0; i < n; i++)
        if ((cls[i] >= 'a' && cls[i] <= 'z') || (cls[i] >= 'A' && cls[i] <= 'Z') ||
            (cls[i] >= '0' && cls[i] <= '9') || cls[i] == '_')
            a[na++] = cls[i];
    /* (.)([A-Z][a-z]+) -> \1_\2, left to right without overlap */
    for (size_t i = 0; i < na;) {
        size_t j = i + 2;
        while (j < na && a[j] >= 'a' && a[j] <= 'z')
            j++;
        if (i + 1 < na && a[i + 1] >= 'A' && a[i + 1] <= 'Z' && j > i + 2) {
            b[nb++] = a[i];
            b[nb++] = '_';
            for (size_t q = i + 1; q < j; q++)
                b[nb++] = a[q];
            i = j;
        } else {
            b[nb++] = a[i++];
        }
    }
    /* ([a-z])([A-Z]) -> \1_\2, then lower case */
    for (size_t i = 0; i < nb;) {
        if (i + 1 < nb && b[i] >= 'a' && b[i] <= 'z' && b[i + 1] >= 'A' && b[i + 1] <= 'Z') {
            c[nc++] = b[i];
            c[nc++] = '_';
            c[nc++] = b[i + 1];
            i += 2;
        } else {
            c[nc++] = b[i++];
        }
    }
    for (size_t i = 0; i < nc; i++)
        if (c[i] >= 'A' && c[i] <= 'Z')
            c[i] = (char)(c[i] - 'A' + 'a');
    c[nc] = '\0';
    free(a);
    free(b);
    return c;
}

/* The roles of a layer's variables in the order Keras 3 saves them
 * (trainable ones in creation order, then the others). */
static int k3_roles(klayer *L, const char *r[4])
{
    const char *c = L->cls;
    int n = 0;
    if (!strcmp(c, "BatchNormalization") || !strcmp(c, "LayerNormalization")) {
        json_t *sc = cfg_get(L, "scale"), *ce = cfg_get(L, "center");
        if (!sc || json_is_true(sc))
            r[n++] = "gamma";
        if (!ce || json_is_true(ce))
            r[n++] = "beta";
        if (c[0] == 'B') {
            r[n++] = "moving_mean";
            r[n++] = "moving_variance";
        }
    } else if (!strcmp(c, "DepthwiseConv2D")) {
        r[n++] = "depthwise_kernel";
        r[n++] = "bias";
    } else if (!strcmp(c, "SeparableConv2D")) {
        r[n++] = "depthwise_kernel";
        r[n++] = "pointwise_kernel";
        r[n++] = "bias";
    } else if (!strcmp(c, "PReLU")) {
        r[n++] = "alpha";
    } else if (!strcmp(c, "Normalization")) {
        r[n++] = "mean";
        r[n++] = "variance";
        r[n++] = "count";
    } else {
        r[n++] = "kernel";   /* Conv2D, Conv2DTranspose, Dense */
        r[n++] = "bias";
    }
    return n;
}

/* Keras 3's model.weights.h5: /layers/<snake_case(class)>[_<n>]/vars/<i>,
 * the layers in the config's order (model.layers), counted per class name
 * (Keras 2.13 wrote _layer_checkpoint_dependencies for layers). */
static void k3_load_weights(kimp *k)
{
    const char *root = h5in_has(k->h5, "/layers") ? "/layers"
                       : h5in_has(k->h5, "/_layer_checkpoint_dependencies")
                           ? "/_layer_checkpoint_dependencies" : NULL;
    if (!root)
        die("%s: model.weights.h5 has no /layers group (not Keras 3 weights)", k->src);
    char **seen = xcalloc((size_t)k->nl + 1, sizeof *seen);
    int *count = xcalloc((size_t)k->nl + 1, sizeof *count);
    for (int i = 0; i < k->nl; i++) {
        klayer *L = &k->l[i];
        char *sn = snake_case(L->cls);
        int j = 0;
        while (j < i && strcmp(seen[j], sn))
            j++;
        seen[i] = sn;
        char path[1024];
        int uses = count[j]++;
        if (uses)
            snprintf(path, sizeof path, "%s/%s_%d/vars", root, sn, uses);
        else
            snprintf(path, sizeof path, "%s/%s/vars", root, sn);
        if (!h5in_has(k->h5, path))
            continue;
        const char *roles[4];
        int nr = k3_roles(L, roles);
        char **names;
        int nv = h5in_list(k->h5, path, &names);
        for (int v = 0; v < nv; v++) {
            char *end;
            long idx = strtol(names[v], &end, 10);
            if (*end || idx < 0)
                continue;
            kw_entry *e = kw_add(k);
            size_t l = strlen(path) + strlen(names[v]) + 2;
            e->dset = xmalloc(l);
            snprintf(e->dset, l, "%s/%s", path, names[v]);
            e->full = xstrdup(e->dset);
            e->layer = xstrdup(L->name);
            e->role = xstrdup(idx < nr ? roles[idx] : names[v]);
            e->dtype = DT_F32;
            if (h5in_attr_str(k->h5, e->dset, "dtype"))
                LDIE(k, L, "weight '%s' is stored as %s (not supported)", e->dset, "bfloat16");
            e->ndim = h5in_dims(k->h5, e->dset, e->dims);
        }
        cli_free_list(names, nv);
    }
    for (int i = 0; i < k->nl; i++)
        free(seen[i]);
    free(seen);
    free(count);
}

/* A .keras zip: config.json (the model's serialized config), metadata.json
 * (keras_version) and model.weights.h5 read through an HDF5 file image. */
model *import_keras_zip(const char *path, const import_opts *o)
{
    kimp k = { 0 };
    k.o = o;
    k.src = path;
    kzip *z = kzip_open(path);
    size_t len;
    unsigned char *cfg = kzip_read(z, "config.json", KERAS_MAX_JSON, &len);
    if (!cfg)
        die("%s: a zip without config.json (not a Keras 3 .keras file)", path);
    json_error_t je;
    k.root = json_loadb((const char *)cfg, len, JSON_REJECT_DUPLICATES, &je);
    free(cfg);
    if (!k.root)
        die("%s: config.json is not valid JSON (line %d, column %d: %s)", path, je.line,
            je.column, je.text);
    if (!json_is_object(k.root))
        die("%s: config.json is not a JSON object", path);
    json_t *meta = NULL;
    unsigned char *mt = kzip_read(z, "metadata.json", 1 << 20, &len);
    if (mt)
        meta = json_loadb((const char *)mt, len, 0, &je);
    free(mt);
    json_t *kv = json_is_object(meta) ? json_object_get(meta, "keras_version") : NULL;
    char *ver = xstrdup(json_is_string(kv) ? json_string_value(kv) : "3");
    json_decref(meta);
    k.keras3 = ver[0] >= '3' || ver[0] < '0' || ver[0] > '9';
    size_t wlen;
    unsigned char *w = kzip_read(z, "model.weights.h5", (size_t)1 << 36, &wlen);
    if (!w)
        die("%s: no model.weights.h5 in the archive (the model has no weights, or they are "
            "in the .npz format, which is not supported)", path);
    kzip_close(z);
    char *wname = xmalloc(strlen(path) + 32);
    sprintf(wname, "%s:model.weights.h5", path);
    k.h5 = h5in_open_image(w, wlen, wname);
    free(wname);
    parse_topology(&k, k.root);
    k3_load_weights(&k);
    build(&k, k.root);
    preprocessing(&k);
    model *m = k.m;
    m->source = source_line("Keras 3 .keras model (Keras %s): %s", ver, path);
    free(ver);
    cleanup(&k);
    return m;
}
