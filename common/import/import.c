/* import: options, format sniffing and finishing shared by the importers. */
#define _GNU_SOURCE   /* memmem */
#include "import/import.h"

#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cli.h"
#include "base/tensor.h"

/* Label files and model.json are text; anything bigger is not one. */
#define IMPORT_MAX_TEXT ((size_t)256 << 20)

void import_opts_init(import_opts *o)
{
    memset(o, 0, sizeof *o);
    for (int c = 0; c < 3; c++)
        o->std[c] = 1.0f;
}

const char *import_format_name(import_format f)
{
    switch (f) {
    case IMPORT_TFJS: return "TF.js layers";
    case IMPORT_KERAS_H5: return "Keras HDF5";
    case IMPORT_ONNX: return "ONNX";
    case IMPORT_KERAS_ZIP: return "Keras 3 .keras";
    default: return "unknown";
    }
}

/* ONNX files start with ModelProto field 1 (ir_version, varint: tag 0x08)
 * in every exporter we know; the value is small. */
static int looks_onnx(const unsigned char *b, size_t n)
{
    return n >= 2 && b[0] == 0x08 && b[1] >= 1 && b[1] <= 64;
}

import_format import_sniff(const char *path, const char **why)
{
    static char jsonpath[4096];
    *why = NULL;
    struct stat st;
    if (stat(path, &st))
        die("%s: cannot open:", path);
    if (S_ISDIR(st.st_mode)) {
        if ((size_t)snprintf(jsonpath, sizeof jsonpath, "%s/model.json", path) >= sizeof jsonpath)
            die("%s: path too long", path);
        if (stat(jsonpath, &st)) {
            *why = "a folder without model.json";
            return IMPORT_UNKNOWN;
        }
        path = jsonpath;
    }
    if (st.st_size == 0) {
        *why = "an empty file";
        return IMPORT_UNKNOWN;
    }
    FILE *f = fopen(path, "rb");
    if (!f)
        die("%s: cannot open:", path);
    cli_note_input_fd(fileno(f));
    unsigned char b[8192];
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);

    static const unsigned char h5sig[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };
    if (n >= 8 && !memcmp(b, h5sig, 8))
        return IMPORT_KERAS_H5;
    /* HDF5 files may have a user block (512, 1024, ... bytes) before the
     * signature; the library knows. */
    if (H5Fis_hdf5(path) > 0)
        return IMPORT_KERAS_H5;
    size_t i = 0;
    if (n >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf)
        i = 3;   /* UTF-8 byte order mark */
    while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
        i++;
    if (i < n && b[i] == '{') {
        /* Decide on keys only; the loader parses properly and reports
         * syntax errors with line and column. */
        if (memmem(b, n, "\"modelTopology\"", 15) || memmem(b, n, "\"weightsManifest\"", 17))
            return IMPORT_TFJS;
        if (memmem(b, n, "\"class_name\"", 12)) {
            *why = "a Keras architecture (model.to_json()) without weights: save the model "
                   "as .h5 or convert it with tensorflowjs_converter";
            return IMPORT_UNKNOWN;
        }
        /* A JSON whose first 8 KB do not show the keys: let the TF.js loader
         * say what is missing. */
        return IMPORT_TFJS;
    }
    if (looks_onnx(b, n))
        return IMPORT_ONNX;
    if (n >= 4 && (!memcmp(b, "PK\003\004", 4) || !memcmp(b, "PK\005\006", 4)))
        return IMPORT_KERAS_ZIP;   /* the loader says when it is not a .keras */
    *why = "not TF.js model.json, Keras .h5 or .keras, or ONNX";
    return IMPORT_UNKNOWN;
}

/* The model's output size per image, after model_prepare. */
static int64_t output_size(const model *m)
{
    if (m->n == 0)
        return 0;
    const node *o = &m->nodes[m->n - 1];
    return o->shape[0] * o->shape[1] * o->shape[2];
}

static char *beside(const char *src, const char *name)
{
    struct stat st;
    size_t l = strlen(src) + strlen(name) + 2;
    char *p = xmalloc(l);
    if (!stat(src, &st) && S_ISDIR(st.st_mode)) {
        snprintf(p, l, "%s/%s", src, name);
    } else {
        const char *s = strrchr(src, '/');
        if (s)
            snprintf(p, l, "%.*s/%s", (int)(s - src), src, name);
        else
            snprintf(p, l, "%s", name);
    }
    return p;
}

void import_finish(model *m, const import_opts *o, const char *src)
{
    /* Preprocessing: the options win over what the file implied. */
    if (o->scale > 0) {
        for (int c = 0; c < 3; c++) {
            m->mean[c] = 0.0f;
            m->std[c] = (float)(1.0 / o->scale);
        }
    }
    if (o->has_mean)
        memcpy(m->mean, o->mean, sizeof m->mean);
    if (o->has_std)
        memcpy(m->std, o->std, sizeof m->std);
    for (int c = 0; c < 3; c++)
        if (!(m->std[c] > 0))
            die("%s: std must be positive (got %g)", src, m->std[c]);

    char err[512];
    if (model_prepare(m, err, sizeof err))
        die("%s: imported graph is invalid: %s", src, err);

    int64_t nout = output_size(m);
    if (o->classes) {
        int n;
        char **v;
        n = cli_names(o->classes, &v);
        if (n != nout)
            die("%s: %d class names but the model has %lld outputs", o->classes, n,
                (long long)nout);
        if (m->classes)
            cli_free_list(m->classes, m->nclasses);
        m->classes = v;
        m->nclasses = n;
    } else if (!m->classes) {
        /* A labels.txt beside the source (the TF.js folders carry one) is
         * taken only when it names exactly one class per output. */
        char *p = beside(src, "labels.txt");
        struct stat st;
        if (!stat(p, &st) && S_ISREG(st.st_mode) && st.st_size < (off_t)IMPORT_MAX_TEXT) {
            int n;
            char **v = cli_read_lines(p, &n);
            if (n == nout && n > 1) {
                m->classes = v;
                m->nclasses = n;
                info("class names from %s", p);
            } else {
                cli_free_list(v, n);
            }
        }
        free(p);
    }
}
