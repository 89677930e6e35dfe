/* join: concatenate row shards (see join.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "io/h5io.h"
#include "io/join.h"
#include "base/tensor.h"

#define BLOCK_BYTES ((int64_t)64 << 20)

/* --stack: rows of different runs; what differs is dropped (join.h). */
static int stack_mode;

void join_set_stack(int on) { stack_mode = on; }

static int is_group(const char *p)
{
    size_t l = strlen(p);
    return l > 1 && p[l - 1] == '/';
}

/* ---- attributes: read whole (any type), compare, write ---- */

typedef struct {
    hid_t type, space;
    void *buf;
    size_t bytes;
    int vlen;          /* variable-length strings: buf holds char * */
    hssize_t count;
} attr_val;

static void attr_read(hid_t obj, const char *name, attr_val *v, const char *file)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0)
        die("%s: cannot open attribute '%s'", file, name);
    v->type = H5Aget_type(a);
    v->space = H5Aget_space(a);
    v->count = H5Sget_simple_extent_npoints(v->space);
    v->vlen = H5Tis_variable_str(v->type) > 0;
    size_t es = v->vlen ? sizeof(char *) : H5Tget_size(v->type);
    v->bytes = es * (size_t)(v->count > 0 ? v->count : 1);
    v->buf = xcalloc(1, v->bytes);
    if (H5Aread(a, v->type, v->buf) < 0)
        die("%s: cannot read attribute '%s'", file, name);
    H5Aclose(a);
}

static void attr_free(attr_val *v)
{
    if (v->vlen)
        H5Dvlen_reclaim(v->type, v->space, H5P_DEFAULT, v->buf);
    free(v->buf);
    H5Tclose(v->type);
    H5Sclose(v->space);
}

static int attr_equal(const attr_val *a, const attr_val *b)
{
    if (a->vlen != b->vlen || a->count != b->count || H5Tget_class(a->type) != H5Tget_class(b->type))
        return 0;
    if (a->vlen) {
        char *const *x = a->buf, *const *y = b->buf;
        for (hssize_t i = 0; i < a->count; i++)
            if (strcmp(x[i] ? x[i] : "", y[i] ? y[i] : ""))
                return 0;
        return 1;
    }
    return a->bytes == b->bytes && H5Tequal(a->type, b->type) > 0 && !memcmp(a->buf, b->buf, a->bytes);
}

struct names { char **v; int n, cap; };

static herr_t attr_name_cb(hid_t o, const char *name, const H5A_info_t *info, void *data)
{
    (void)o;
    (void)info;
    struct names *c = data;
    if (c->n == c->cap)
        c->v = xrealloc(c->v, (size_t)(c->cap = c->cap ? 2 * c->cap : 8) * sizeof *c->v);
    c->v[c->n++] = xstrdup(name);
    return 0;
}

static struct names attr_names(hid_t obj)
{
    struct names c = { 0 };
    hsize_t idx = 0;
    H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_name_cb, &c);
    return c;
}

static void names_free(struct names *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->v[i]);
    free(c->v);
}

/* A string attribute's value for messages, or "". */
static const char *attr_text(const attr_val *v, char *buf, size_t len)
{
    buf[0] = '\0';
    if (v->vlen && v->count >= 1 && ((char **)v->buf)[0])
        snprintf(buf, len, " '%s'", ((char **)v->buf)[0]);
    else if (!v->vlen && H5Tget_class(v->type) == H5T_STRING)
        snprintf(buf, len, " '%.*s'", (int)v->bytes, (const char *)v->buf);
    return buf;
}

/* Check that obj's attributes (but the history) agree in every shard, and
 * copy them to the output object dst (--stack: only those that agree). */
static void attrs_join(h5in **in, int nf, h5out *out, const char *obj, const char *dst, int copy)
{
    hid_t o0 = H5Oopen(in[0]->f, obj, H5P_DEFAULT);
    struct names nm = attr_names(o0);
    for (int k = 1; k < nf; k++) {
        hid_t ok = H5Oopen(in[k]->f, obj, H5P_DEFAULT);
        struct names nk = attr_names(ok);
        for (int i = 0; i < nk.n && !stack_mode; i++)
            if (strcmp(nk.v[i], "history") && H5Aexists(o0, nk.v[i]) <= 0)
                die("%s: attribute '%s' of '%s' is not in %s (join shards of one run only)",
                    in[k]->name, nk.v[i], obj, in[0]->name);
        names_free(&nk);
        H5Oclose(ok);
    }
    hid_t oo = copy ? H5Oopen(out->f, dst, H5P_DEFAULT) : -1;
    for (int i = 0; i < nm.n; i++) {
        const char *name = nm.v[i];
        if (!strcmp(name, "history") || (!strcmp(obj, "/") && !strcmp(name, "kind")))
            continue;
        attr_val a0;
        attr_read(o0, name, &a0, in[0]->name);
        int same = 1;
        for (int k = 1; k < nf && same; k++) {
            hid_t ok = H5Oopen(in[k]->f, obj, H5P_DEFAULT);
            if (H5Aexists(ok, name) <= 0) {
                if (stack_mode) {   /* not common to all: dropped */
                    same = 0;
                    H5Oclose(ok);
                    break;
                }
                die("%s: has no attribute '%s' on '%s' (join shards of one run only)", in[k]->name,
                    name, obj);
            }
            attr_val ak;
            attr_read(ok, name, &ak, in[k]->name);
            if (!attr_equal(&a0, &ak) && stack_mode)
                same = 0;
            else if (!attr_equal(&a0, &ak)) {
                char t0[96], tk[96];
                die("%s: %s%s differs from %s's%s (join shards of one run only)", in[k]->name,
                    name, attr_text(&ak, tk, sizeof tk), in[0]->name, attr_text(&a0, t0, sizeof t0));
            }
            attr_free(&ak);
            H5Oclose(ok);
        }
        if (copy && same) {
            if (H5Aexists(oo, name) > 0)
                H5Adelete(oo, name);
            hid_t a = H5Acreate2(oo, name, a0.type, a0.space, H5P_DEFAULT, H5P_DEFAULT);
            if (a < 0 || H5Awrite(a, a0.type, a0.buf) < 0)
                die("%s: cannot write attribute '%s' of '%s'", out->name, name, obj);
            H5Aclose(a);
        }
        attr_free(&a0);
    }
    if (copy)
        H5Oclose(oo);
    names_free(&nm);
    H5Oclose(o0);
}

/* ---- datasets ---- */

typedef struct {
    int nd;
    int64_t dims[TENSOR_MAXDIM];
    H5T_class_t cls;
} dinfo;

static dinfo dset_info(h5in *in, const char *p)
{
    dinfo d;
    hid_t id = H5Dopen2(in->f, p, H5P_DEFAULT);
    if (id < 0)
        die("%s: cannot open dataset '%s'", in->name, p);
    hid_t t = H5Dget_type(id);
    d.cls = H5Tget_class(t);
    H5Tclose(t);
    H5Dclose(id);
    d.nd = h5in_dims(in, p, d.dims);
    return d;
}

/* The whole dataset as bytes of its native memory type (strings as the
 * list of their values joined by NUL), for comparing shards. */
static char *dset_bytes(h5in *in, const char *p, const dinfo *d, size_t *len)
{
    if (d->cls == H5T_STRING) {
        int n;
        char **s = h5in_read_strings(in, p, &n);
        size_t tot = 1;
        for (int i = 0; i < n; i++)
            tot += strlen(s[i]) + 1;
        char *b = xmalloc(tot), *q = b;
        for (int i = 0; i < n; i++) {
            size_t l = strlen(s[i]) + 1;
            memcpy(q, s[i], l);
            q += l;
        }
        *len = (size_t)(q - b);
        cli_free_list(s, n);
        return b;
    }
    if (d->cls != H5T_INTEGER && d->cls != H5T_FLOAT)
        die("%s: dataset '%s' has a type cnn-join cannot compare", in->name, p);
    hid_t id = H5Dopen2(in->f, p, H5P_DEFAULT), ft = H5Dget_type(id);
    hid_t mt = H5Tget_native_type(ft, H5T_DIR_ASCEND);
    int64_t n = 1;
    for (int i = 0; i < d->nd; i++)
        n *= d->dims[i];
    *len = (size_t)n * H5Tget_size(mt);
    char *b = xmalloc(*len + 1);
    if (n > 0 && H5Dread(id, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, b) < 0)
        die("%s: cannot read dataset '%s' (truncated or corrupt file)", in->name, p);
    H5Tclose(mt);
    H5Tclose(ft);
    H5Dclose(id);
    return b;
}

/* Dataset p's rows of every shard, in order, into dst. */
static void copy_rows(h5in **in, int nf, h5out *out, const char *p, const char *dst,
                      const int64_t *rows)
{
    dinfo d = dset_info(in[0], p);
    hid_t id = H5Dopen2(in[0]->f, p, H5P_DEFAULT), ft = H5Dget_type(id);
    hid_t mt = H5Tget_native_type(ft, H5T_DIR_ASCEND);
    H5Dclose(id);
    int64_t total = 0, row = (int64_t)H5Tget_size(mt);
    for (int k = 0; k < nf; k++)
        total += rows[k];
    for (int i = 1; i < d.nd; i++)
        row *= d.dims[i];
    d.dims[0] = total;
    h5out_create_rows_typed(out, dst, ft, d.nd, d.dims);
    int64_t block = row > 0 ? BLOCK_BYTES / row : 1;
    if (block < 1)
        block = 1;
    void *buf = xmalloc((size_t)((block < total ? block : total) * row) + 1);
    int64_t at = 0;
    for (int k = 0; k < nf; k++) {
        for (int64_t s = 0; s < rows[k]; s += block) {
            int64_t c = rows[k] - s < block ? rows[k] - s : block;
            h5in_read_rows_raw(in[k], p, mt, s, c, buf);
            int64_t dims[TENSOR_MAXDIM];
            memcpy(dims, d.dims, sizeof dims);
            dims[0] = c;
            h5out_write_rows_raw(out, dst, mt, at + s, d.nd, dims, buf);
        }
        at += rows[k];
    }
    free(buf);
    H5Tclose(mt);
    H5Tclose(ft);
}

/* A 1-D string row dataset (/paths): the files' strings one after another. */
static void copy_string_rows(h5in **in, int nf, h5out *out, const char *p)
{
    int total = 0;
    char **all = NULL;
    for (int k = 0; k < nf; k++) {
        int n;
        char **v = h5in_read_strings(in[k], p, &n);
        all = xrealloc(all, (size_t)(total + n + 1) * sizeof *all);
        memcpy(all + total, v, (size_t)n * sizeof *v);
        total += n;
        free(v);
    }
    h5out_write_strings(out, p, total, all);
    cli_free_list(all, total);
}

/* A dataset copied once (class names, PCA components, ...). Strings and
 * numbers are read and written through h5io (HDF5's H5Ocopy crashes when
 * the output's disk fills during the copy); anything else is H5Ocopy'd
 * after a flush that reports a full disk first. Returns 1 when the
 * dataset's attributes are still to copy. */
static int copy_whole(h5in *in, h5out *out, const char *p, const char *dst)
{
    int64_t dims[TENSOR_MAXDIM];
    int nd = h5in_dims(in, p, dims);
    hid_t d = H5Dopen2(in->f, p, H5P_DEFAULT), ft = H5Dget_type(d);
    H5T_class_t cl = H5Tget_class(ft);
    H5Dclose(d);
    if (cl == H5T_STRING && nd == 1) {
        int n;
        char **v = h5in_read_strings(in, p, &n);
        h5out_write_strings(out, dst, n, v);
        cli_free_list(v, n);
        H5Tclose(ft);
        return 1;
    }
    if ((cl == H5T_INTEGER || cl == H5T_FLOAT) && nd >= 1) {
        hid_t mt = H5Tget_native_type(ft, H5T_DIR_ASCEND);
        int64_t n = shape_numel(nd, dims, (int64_t)1 << 32);
        if (n < 0)
            die("%s: dataset '%s' claims an absurd shape", in->name, p);
        void *buf = xmalloc((size_t)n * H5Tget_size(mt) + 1);
        if (n)
            h5in_read_rows_raw(in, p, mt, 0, dims[0], buf);
        h5out_create_rows_typed(out, dst, ft, nd, dims);
        if (n)
            h5out_write_rows_raw(out, dst, mt, 0, nd, dims, buf);
        free(buf);
        H5Tclose(mt);
        H5Tclose(ft);
        return 1;
    }
    H5Tclose(ft);
    if (H5Fflush(out->f, H5F_SCOPE_GLOBAL) < 0)
        die("%s: cannot write the HDF5 file:", out->name);
    hid_t lc = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lc, 1);
    if (H5Ocopy(in->f, p, out->f, dst, H5P_DEFAULT, lc) < 0)
        die("%s: cannot copy dataset '%s'", out->name, p);
    H5Pclose(lc);
    return 0;
}

/* ---- --stack: files of different runs over the same images ---- */

/* The name file k's own datasets and attributes go under: its 'method'
 * attribute ("occlusion" for cnn-occlude's maps), else its file name
 * without folder and extension; '/'
 * made '_', and -2, -3, ... added to a name taken by an earlier file or
 * by a top-level dataset of the result (all: the na dataset paths). */
static char *stack_name(h5in *in, char *const *taken, int k, char *const *all, int na)
{
    char *m = h5in_attr_str(in, "/", "method");
    if (!m) {
        const char *b = strrchr(in->name, '/');
        m = xstrdup(b ? b + 1 : in->name);
        char *dot = strrchr(m, '.');
        if (dot && dot != m)
            *dot = '\0';
    }
    for (char *c = m; *c; c++)
        if (*c == '/')
            *c = '_';
    size_t len = strlen(m) + 24;
    char *name = xmalloc(len);
    snprintf(name, len, "%s", m);
    for (int dup = 2, clash = 1; clash; dup++) {
        clash = 0;
        for (int i = 0; i < k && !clash; i++)
            clash = !strcmp(taken[i], name);
        for (int i = 0; i < na && !clash; i++)
            clash = !strncmp(all[i] + 1, name, strlen(name)) &&
                    (all[i][strlen(name) + 1] == '/' || !all[i][strlen(name) + 1]);
        clash = clash || !strcmp(name, "methods") || !strcmp(name, "method");
        if (clash)
            snprintf(name, len, "%s-%d", m, dup);
    }
    free(m);
    return name;
}

/* 1 when dataset p is a row dataset of every file with the same type and
 * the same shape past the rows (it stacks); 0 when it is in every file,
 * not a row dataset, and the same in all (it is copied once); -1 else
 * (each file's own). */
static int stack_share(h5in **in, int nf, const int64_t *rows, const char *p)
{
    for (int k = 0; k < nf; k++)
        if (!h5in_has(in[k], p))
            return -1;
    dinfo d0 = dset_info(in[0], p);
    int row = (d0.cls == H5T_INTEGER || d0.cls == H5T_FLOAT) && d0.nd >= 1, same = 1;
    for (int k = 0; k < nf; k++) {
        dinfo dk = dset_info(in[k], p);
        row = row && dk.nd == d0.nd && dk.cls == d0.cls && dk.dims[0] == rows[k] &&
              !memcmp(dk.dims + 1, d0.dims + 1, (size_t)(d0.nd - 1) * sizeof *d0.dims);
        same = same && dk.nd == d0.nd && dk.cls == d0.cls &&
               !memcmp(dk.dims, d0.dims, (size_t)d0.nd * sizeof *d0.dims);
    }
    if (!strcmp(p, "/maps") && !row)
        die("%s: --stack needs /maps of one size in every file (%s's differ; cnn-occlude "
            "--per-pixel gives maps of the image's size)", in[0]->name, in[nf - 1]->name);
    if (row)
        return 1;
    for (int k = 1; k < nf && same; k++) {
        size_t l0, lk;
        dinfo dk = dset_info(in[k], p);
        char *b0 = dset_bytes(in[0], p, &d0, &l0), *bk = dset_bytes(in[k], p, &dk, &lk);
        same = l0 == lk && !memcmp(b0, bk, l0);
        free(b0);
        free(bk);
    }
    return same ? 0 : -1;
}

/* --stack (join.h): the datasets every file has as rows are stacked, file
 * after file; those every file has the same are copied once; the rest,
 * and every file's root attributes, go under /NAME (stack_name). /methods
 * lists the names in order and /method gives each row's file. */
static void stack_files(h5in **in, int nf, const int64_t *rows, const char *kind,
                        const char *output)
{
    char **name = xcalloc((size_t)nf, sizeof *name), **all = NULL;
    int na = 0;
    for (int k = 0; k < nf; k++) {
        char **pk;
        int nk = h5in_walk(in[k], &pk);
        for (int i = 0; i < nk; i++) {
            int seen = is_group(pk[i]) || !strcmp(pk[i], "/method") || !strcmp(pk[i], "/methods");
            for (int j = 0; j < na && !seen; j++)
                seen = !strcmp(all[j], pk[i]);
            if (!seen) {
                all = xrealloc(all, (size_t)(na + 1) * sizeof *all);
                all[na++] = xstrdup(pk[i]);
            }
        }
        cli_free_list(pk, nk);
    }
    for (int k = 0; k < nf; k++)
        name[k] = stack_name(in[k], name, k, all, na);
    /* Every file's commands (each line once, in the order first seen),
     * then this one (h5out_create). */
    h5out *out = h5out_create(output, kind, in[0]);
    attrs_join(in, nf, out, "/", "/", 1);
    for (int k = 0; k < nf; k++) {
        char g[512];
        snprintf(g, sizeof g, "/%s", name[k]);
        h5out_group(out, g);
        attrs_join(in + k, 1, out, "/", g, 1);
    }
    for (int j = 0; j < na; j++) {
        const char *p = all[j];
        int share = stack_share(in, nf, rows, p);
        if (share == 1) {
            copy_rows(in, nf, out, p, p, rows);
            attrs_join(in, nf, out, p, p, 1);
        } else if (share == 0)
            attrs_join(in, nf, out, p, p, copy_whole(in[0], out, p, p));
        for (int k = 0; k < nf && share < 0; k++) {
            if (!h5in_has(in[k], p))
                continue;
            char dst[1024];
            snprintf(dst, sizeof dst, "/%s%s", name[k], p);
            dinfo d = dset_info(in[k], p);
            int copy = 1;
            if ((d.cls == H5T_INTEGER || d.cls == H5T_FLOAT) && d.nd >= 1 && d.dims[0] == rows[k])
                copy_rows(in + k, 1, out, p, dst, rows + k);
            else
                copy = copy_whole(in[k], out, p, dst);
            attrs_join(in + k, 1, out, p, dst, copy);
        }
    }
    int64_t total = 0;
    for (int k = 0; k < nf; k++)
        total += rows[k];
    int32_t *which = xmalloc((size_t)(total ? total : 1) * sizeof *which);
    for (int k = 0, at = 0; k < nf; k++)
        for (int64_t i = 0; i < rows[k]; i++)
            which[at++] = k;
    h5out_write_strings(out, "/methods", nf, name);
    h5out_write_i32(out, "/method", total, which);
    h5out_commit(out);
    free(which);
    cli_free_list(all, na);
    cli_free_list(name, nf);
}

void join_files(const char *output, char *const *files, int nf)
{
    if (nf < 1)
        die_usage("nothing to join: give the shard files");
    h5in **in = xcalloc((size_t)nf, sizeof *in);
    int64_t *rows = xcalloc((size_t)nf, sizeof *rows);
    char *kind0 = NULL;
    for (int k = 0; k < nf; k++) {
        in[k] = h5in_open(files[k]);
        char *kind = h5in_kind(in[k]);
        if (!kind)
            die("%s: not a cnntools file (no 'kind' attribute)", in[k]->name);
        if (!h5in_has(in[k], "/ids"))
            die("%s: no /ids, so its rows cannot be told from the rest", in[k]->name);
        rows[k] = h5in_nrows(in[k], "/ids");
        if (!k)
            kind0 = kind;
        else {
            if (strcmp(kind, kind0))
                die("%s: a %s file, but %s is a %s file", in[k]->name, kind, in[0]->name, kind0);
            free(kind);
        }
    }
    if (stack_mode) {
        stack_files(in, nf, rows, kind0, output);
        for (int k = 0; k < nf; k++)
            h5in_close(in[k]);
        free(rows);
        free(kind0);
        free(in);
        return;
    }
    char **paths;
    int np = h5in_walk(in[0], &paths);
    /* The same objects in every shard. */
    for (int k = 1; k < nf; k++) {
        char **pk;
        int nk = h5in_walk(in[k], &pk);
        for (int i = 0; i < nk; i++) {
            int found = 0;
            for (int j = 0; j < np && !found; j++)
                found = !strcmp(pk[i], paths[j]);
            if (!found)
                die("%s: '%s' is not in %s (join shards of one run only)", in[k]->name, pk[i],
                    in[0]->name);
        }
        for (int j = 0; j < np; j++) {
            int found = 0;
            for (int i = 0; i < nk && !found; i++)
                found = !strcmp(pk[i], paths[j]);
            if (!found)
                die("%s: has no '%s' that %s has (join shards of one run only)", in[k]->name,
                    paths[j], in[0]->name);
        }
        cli_free_list(pk, nk);
    }
    /* Classify: row datasets, and others that must agree. */
    int *isrow = xcalloc((size_t)np + 1, sizeof *isrow);
    for (int j = 0; j < np; j++) {
        if (is_group(paths[j]))
            continue;
        dinfo d0 = dset_info(in[0], paths[j]);
        /* /paths (each row's source file) is a row dataset of strings. */
        int strrow = d0.cls == H5T_STRING && d0.nd == 1 && !strcmp(paths[j], "/paths");
        int row = ((d0.cls == H5T_INTEGER || d0.cls == H5T_FLOAT) && d0.nd >= 1) || strrow;
        for (int k = 0; k < nf && row; k++) {
            dinfo dk = k ? dset_info(in[k], paths[j]) : d0;
            row = dk.nd == d0.nd && dk.cls == d0.cls && dk.dims[0] == rows[k];
        }
        isrow[j] = row && strrow ? 2 : row;
        if (!strcmp(paths[j], "/ids") && !row)
            die("%s: /ids is not a 1-D integer dataset", in[0]->name);
        for (int k = 1; k < nf; k++) {
            dinfo dk = dset_info(in[k], paths[j]);
            int shape = dk.nd != d0.nd || dk.cls != d0.cls ||
                memcmp(dk.dims + row, d0.dims + row, (size_t)(d0.nd - row) * sizeof *d0.dims);
            if (shape)
                die("%s: dataset '%s' differs in shape or type from %s's", in[k]->name, paths[j],
                    in[0]->name);
            if (row)
                continue;
            size_t l0, lk;
            char *b0 = dset_bytes(in[0], paths[j], &d0, &l0);
            char *bk = dset_bytes(in[k], paths[j], &dk, &lk);
            if (l0 != lk || memcmp(b0, bk, l0))
                die("%s: dataset '%s' differs from %s's (join shards of one run only)", in[k]->name,
                    paths[j], in[0]->name);
            free(b0);
            free(bk);
        }
    }
    h5out *out = h5out_create(output, kind0, in[0]);
    attrs_join(in, nf, out, "/", "/", 1);
    for (int j = 0; j < np; j++) {
        char *p = paths[j];
        if (is_group(p)) {
            p[strlen(p) - 1] = '\0';
            h5out_group(out, p);
            attrs_join(in, nf, out, p, p, 1);
        } else if (isrow[j] == 2) {
            copy_string_rows(in, nf, out, p);
        } else if (isrow[j] > 0) {
            copy_rows(in, nf, out, p, p, rows);
            attrs_join(in, nf, out, p, p, 1);
        } else {
            attrs_join(in, nf, out, p, p, copy_whole(in[0], out, p, p));
        }
    }
    h5out_commit(out);
    for (int k = 0; k < nf; k++)
        h5in_close(in[k]);
    cli_free_list(paths, np);
    free(isrow);
    free(rows);
    free(kind0);
    free(in);
}
