/* Unit tests of the foundation: tensors, number parsing, random numbers,
 * the HDF5 file schema (write, read back, atomic output) and the thin
 * products of the randomized PCA. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/blas.h"
#include "base/cli.h"
#include "base/dynlib.h"
#include "base/names.h"
#include "base/numeric.h"
#include "io/h5io.h"
#include "io/outfile.h"
#include "base/tensor.h"
#include "nn/thinmm.h"

#include <cblas.h>

static void test_tensor_shapes(void **state)
{
    (void)state;
    tensor *t = tensor_new4(2, 3, 4, 5);
    assert_int_equal(tensor_numel(t), 120);
    assert_int_equal(tensor_rowsize(t), 60);
    assert_true(((uintptr_t)t->data & 63) == 0);
    for (int64_t i = 0; i < 120; i++)
        assert_true(t->data[i] == 0.0f);
    char buf[64];
    assert_string_equal(tensor_shape_str(t->ndim, t->dims, buf, sizeof buf), "2x3x4x5");
    tensor *c = tensor_clone(t);
    assert_true(tensor_same_shape(t, c));
    tensor_free(c);
    tensor_free(t);
    int64_t huge[4] = { 100000, 100000, 100000, 100000 };
    assert_int_equal(shape_numel(4, huge, INT64_MAX), -1);
    int64_t neg[2] = { 3, -1 };
    assert_int_equal(shape_numel(2, neg, INT64_MAX), -1);
}

static void test_cli_lists(void **state)
{
    (void)state;
    char **v;
    int n = cli_split("conv1,,conv2,fc1", ',', &v);
    assert_int_equal(n, 3);
    assert_string_equal(v[0], "conv1");
    assert_string_equal(v[2], "fc1");
    cli_free_list(v, n);
    int *iv;
    n = cli_int_list("--channels", "0,3,5-7", 10, &iv);
    assert_int_equal(n, 5);
    assert_int_equal(iv[0], 0);
    assert_int_equal(iv[1], 3);
    assert_int_equal(iv[4], 7);
    free(iv);
    assert_int_equal(cli_long("--k", "42", 1, 100), 42);
    assert_true(cli_double("--lr", "1e-3", 0, 1) == 1e-3);
    int64_t a, b;
    cli_range("--range", "10:20", &a, &b);
    assert_int_equal(a, 10);
    assert_int_equal(b, 20);
    cli_range("--range", "5:", &a, &b);
    assert_int_equal(b, -1);
    cli_range_resolve(100, &a, &b);
    assert_int_equal(b, 100);
    int w, h;
    cli_size("--size", "224x160", &w, &h);
    assert_int_equal(w, 224);
    assert_int_equal(h, 160);
}

static void test_rng(void **state)
{
    (void)state;
    rng r1, r2;
    rng_seed(&r1, 7);
    rng_seed(&r2, 7);
    for (int i = 0; i < 100; i++)
        assert_true(rng_next(&r1) == rng_next(&r2));
    double s = 0, s2 = 0;
    int n = 100000;
    for (int i = 0; i < n; i++) {
        double x = rng_normal(&r1);
        s += x;
        s2 += x * x;
        assert_true(rng_below(&r2, 10) < 10);
    }
    assert_true(fabs(s / n) < 0.02);
    assert_true(fabs(s2 / n - 1) < 0.03);
}

static void test_h5_roundtrip(void **state)
{
    (void)state;
    char dir[] = "/tmp/cnnunitXXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/a.h5", dir);

    tensor *t = tensor_new4(3, 1, 2, 2);
    for (int i = 0; i < 12; i++)
        t->data[i] = (float)i * 0.5f;
    h5out *out = h5out_create(path, "images", NULL);
    /* Nothing is visible under the final name until commit. */
    assert_int_equal(access(path, F_OK), -1);
    h5out_create_rows(out, "/images", 4, t->dims);
    tensor *rows = tensor_new4(2, 1, 2, 2);
    memcpy(rows->data, t->data + 4, 8 * sizeof(float));
    h5out_write_rows(out, "/images", 1, rows);
    rows->dims[0] = 1;
    memcpy(rows->data, t->data, 4 * sizeof(float));
    h5out_write_rows(out, "/images", 0, rows);
    int64_t ids[3] = { 10, 11, 12 };
    int32_t labels[3] = { 7, 8, 9 };
    h5out_write_i64(out, "/ids", 3, ids);
    h5out_write_i32(out, "/labels", 3, labels);
    char *classes[] = { "cat", "dog" };
    h5out_write_strings(out, "/classes", 2, classes);
    double ms[2] = { 0.5, 2.0 };
    h5out_write(out, "/deep/group/t", t);
    h5out_attr_f64(out, "/deep/group/t", "ms", 2, ms);
    h5out_commit(out);
    assert_int_equal(access(path, F_OK), 0);

    /* Fixed-length strings longer than the 64 KiB conversion buffer (a
     * file another program wrote): read through a buffer of their own. */
    enum { LONG = 100000 };
    char *fixed = calloc(3, LONG);
    assert_non_null(fixed);
    fixed[0] = 'a';
    memset(fixed + LONG, 'x', LONG);   /* no terminator: all LONG bytes */
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, LONG);
    hid_t sp = H5Screate_simple(1, (hsize_t[]){ 3 }, NULL);
    hid_t d = H5Dcreate2(f, "/fixed", st, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Dwrite(d, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, fixed) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(st);
    H5Fclose(f);
    free(fixed);

    h5in *in = h5in_open(path);
    int nf;
    char **rf = h5in_read_strings(in, "/fixed", &nf);
    assert_int_equal(nf, 3);
    assert_string_equal(rf[0], "a");
    assert_int_equal(strlen(rf[1]), LONG);
    assert_true(rf[1][0] == 'x' && rf[1][LONG - 1] == 'x');
    assert_string_equal(rf[2], "");
    cli_free_list(rf, nf);
    char *kind = h5in_kind(in);
    assert_string_equal(kind, "images");
    free(kind);
    char *hist = h5in_attr_str(in, "/", "history");
    assert_non_null(strstr(hist, "test_foundation"));
    free(hist);
    tensor *r = h5in_read(in, "/images");
    assert_int_equal(r->ndim, 4);
    for (int i = 0; i < 12; i++)
        assert_true(r->data[i] == t->data[i]);
    tensor_free(r);
    r = h5in_read_rows(in, "/images", 2, 1);
    assert_true(r->data[0] == t->data[8]);
    tensor_free(r);
    int64_t *ri = h5in_read_i64(in, "/ids", 1, 2);
    assert_int_equal(ri[0], 11);
    assert_int_equal(ri[1], 12);
    free(ri);
    int32_t *rl = h5in_read_i32(in, "/labels", 0, -1);
    assert_int_equal(rl[2], 9);
    free(rl);
    int nc;
    char **rc = h5in_read_strings(in, "/classes", &nc);
    assert_int_equal(nc, 2);
    assert_string_equal(rc[1], "dog");
    cli_free_list(rc, nc);
    double rms[4];
    assert_int_equal(h5in_attr_f64(in, "/deep/group/t", "ms", rms, 4), 2);
    assert_true(rms[1] == 2.0);
    assert_int_equal(h5in_attr_f64(in, "/deep/group/t", "absent", rms, 4), -1);
    assert_true(h5in_has(in, "/deep/group/t"));
    assert_false(h5in_has(in, "/deep/nothing/t"));
    char **names;
    int nn = h5in_list(in, "/", &names);
    assert_int_equal(nn, 6);
    assert_string_equal(names[0], "images");   /* creation order */
    cli_free_list(names, nn);
    h5in_close(in);

    unlink(path);
    rmdir(dir);
    tensor_free(rows);
    tensor_free(t);
}

/* thinmm against loops in double: widths of one, two and three vectors and
 * past 48 (groups), rows and columns that leave tails in every tile, on
 * one and on several threads. */
/* die() from eight threads at once: exit 1, one line, control bytes
 * escaped, the registered temporary removed. */
static char die_tmp[64];

static void *die_thread(void *arg)
{
    die("thread %d says \033[2J\a", (int)(intptr_t)arg);
}

static void test_die_threads(void **state)
{
    (void)state;
    snprintf(die_tmp, sizeof die_tmp, "/tmp/cnn-unit-%ld.tmp", (long)getpid());
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd[1], STDERR_FILENO);
        close(fd[0]);
        error_init("cnn-unit");
        FILE *t = fopen(die_tmp, "w");
        if (t)
            fclose(t);
        cli_register_tmp(die_tmp);
        pthread_t th[8];
        for (int i = 0; i < 8; i++)
            pthread_create(&th[i], NULL, die_thread, (void *)(intptr_t)i);
        for (int i = 0; i < 8; i++)
            pthread_join(th[i], NULL);
        _exit(42);
    }
    close(fd[1]);
    char buf[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fd[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    int lines = 0;
    for (size_t i = 0; i < n; i++) {
        lines += buf[i] == '\n';
        assert_true(buf[i] == '\n' || ((unsigned char)buf[i] >= 0x20 && buf[i] != 0x7f));
    }
    assert_int_equal(lines, 1);
    assert_true(strncmp(buf, "cnn-unit: thread ", 17) == 0);
    assert_non_null(strstr(buf, "\\x1b[2J\\x07"));
    struct stat sb;
    assert_int_not_equal(stat(die_tmp, &sb), 0);
}

/* dynlib_sym in a child: its exit status and what it wrote to stderr. */
static int dynlib_child(dynlib *lib, const char *name, char *buf, size_t len)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 2);
        error_init("cnn-unit");
        dynlib_sym(lib, name);
        _exit(0);
    }
    close(fd[1]);
    ssize_t k = 0, r;
    while ((size_t)k < len - 1 && (r = read(fd[0], buf + k, len - 1 - (size_t)k)) > 0)
        k += r;
    buf[k] = '\0';
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Libraries loaded on first use: a symbol found once loaded; a missing
 * library or symbol one line and exit 1; the BLAS forwarders' results. */
static void test_dynlib(void **state)
{
    (void)state;
    static dynlib m = DYNLIB("libm.so.6", "a test");
    assert_false(dynlib_loaded(&m));
    double (*f)(double) = (double (*)(double))dynlib_sym(&m, "cbrt");
    assert_true(dynlib_loaded(&m));
    assert_true(fabs(f(27.0) - 3.0) < 1e-12);
    char buf[512];
    static dynlib none = DYNLIB("libcnn-no-such-library.so.9", "a test");
    assert_int_equal(dynlib_child(&none, "f", buf, sizeof buf), 1);
    assert_non_null(strstr(buf, "cnn-unit: cannot load libcnn-no-such-library.so.9 (needed for "
                                "a test): "));
    assert_true(strchr(buf, '\n') == buf + strlen(buf) - 1);   /* one line */
    assert_int_equal(dynlib_child(&m, "cnn_no_such_symbol", buf, sizeof buf), 1);
    assert_string_equal(buf, "cnn-unit: libm.so.6 has no cnn_no_such_symbol (needed for a test)\n");
    /* OpenBLAS through the forwarders, its thread count set before it loads. */
    blas_threads(1);
    double x[3] = { 1, 2, 3 }, y[3] = { 4, -5, 6 };
    assert_true(cblas_ddot(3, x, 1, y, 1) == 12.0);
    assert_int_equal(openblas_get_num_threads(), 1);
    blas_threads(2);
    assert_int_equal(openblas_get_num_threads(), 2);
    blas_threads(1);
}

/* The output opener: a temporary beside the target while writing, renamed
 * on commit; a dead process's temporary removed, a live one's kept. */
static void test_outfile(void **state)
{
    (void)state;
    char dir[] = "/tmp/cnn-unit-XXXXXX", path[128], stale[160], live[160], tmp[160];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/o.bin", dir);
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    snprintf(stale, sizeof stale, "%s.tmp.%ld", path, (long)dead);
    snprintf(live, sizeof live, "%s.tmp.1", path);
    fclose(fopen(stale, "w"));
    fclose(fopen(live, "w"));
    outfile *o = outfile_open(path, NULL);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_string_equal(o->tmp, tmp);
    outfile_write(o, "abc", 3);
    struct stat sb;
    assert_int_equal(stat(tmp, &sb), 0);
    assert_int_not_equal(stat(path, &sb), 0);
    outfile_commit(o);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 3);
    assert_int_not_equal(stat(tmp, &sb), 0);
    assert_int_not_equal(stat(stale, &sb), 0);
    assert_int_equal(stat(live, &sb), 0);
    unlink(live);
    unlink(path);
    rmdir(dir);
}

/* finite_first_bad: the first bad value wherever it lies (inside a block
 * of 4096, at its edges, in a short tail), -1 when none. */
static void test_finite(void **state)
{
    (void)state;
    int64_t n = 3 * 4096 + 17;
    float *v = calloc((size_t)n, sizeof *v);
    assert_int_equal(finite_first_bad(v, n), -1);
    assert_int_equal(finite_first_bad(v, 0), -1);
    const int64_t at[] = { 0, 4095, 4096, 8191, 3 * 4096, n - 1 };
    for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
        v[at[i]] = i % 2 ? INFINITY : NAN;
        if (i + 1 < sizeof at / sizeof *at)
            v[at[i] + 1] = -INFINITY;   /* a later bad value does not win */
        assert_int_equal(finite_first_bad(v, n), at[i]);
        memset(v, 0, (size_t)n * sizeof *v);
    }
    v[5] = 3e38f;   /* large is finite */
    assert_int_equal(finite_first_bad(v, n), -1);
    free(v);
}

/* error_trap: die() on a trapped thread records the message (with
 * strerror for a trailing ':') and ends only that thread. */
static void *dies(void *arg)
{
    error_trap_thread(arg);
    errno = ENOENT;
    die("%s: cannot read row %d:", "f.h5", 7);
    return NULL;   /* not reached */
}

static void test_error_trap(void **state)
{
    (void)state;
    error_trap t;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, dies, &t), 0);
    pthread_join(th, NULL);
    assert_int_equal(t.failed, 1);
    char want[256];
    snprintf(want, sizeof want, "f.h5: cannot read row 7: %s", strerror(ENOENT));
    assert_string_equal(t.msg, want);
}

static void test_thinmm(void **state)
{
    (void)state;
    const int64_t rs[] = { 1, 7, 37, 100 }, ds[] = { 1, 9, 23, 1100 };
    const int ws[] = { 16, 32, 48, 64, 112 };
    rng g;
    rng_seed(&g, 5);
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 5; c++) {
                int64_t r = rs[a], d = ds[b];
                int w = ws[c];
                float *x = falloc((size_t)(r * d)), *q = falloc((size_t)(d * w));
                float *y = falloc((size_t)(r * w)), *z = falloc((size_t)(d * w));
                for (int64_t i = 0; i < r * d; i++)
                    x[i] = (float)rng_normal(&g);
                for (int64_t i = 0; i < d * w; i++)
                    q[i] = (float)rng_normal(&g), z[i] = (float)rng_normal(&g);
                double *z0 = xcalloc((size_t)(d * w), sizeof(double));
                for (int64_t i = 0; i < d * w; i++)
                    z0[i] = z[i];
                thinmm_xq(x, r, d, q, w, y);
                thinmm_xty(x, r, d, y, w, z);
                for (int64_t i = 0; i < r; i++)
                    for (int t = 0; t < w; t++) {
                        double e = 0, m = 0;
                        for (int64_t k = 0; k < d; k++) {
                            e += (double)x[i * d + k] * q[k * w + t];
                            m += fabs((double)x[i * d + k] * q[k * w + t]);
                        }
                        assert_true(fabs(y[i * w + t] - e) <= 1e-5 * m + 1e-30);
                    }
                for (int64_t j = 0; j < d; j++)
                    for (int t = 0; t < w; t++) {
                        double e = z0[j * w + t], m = fabs(e);
                        for (int64_t i = 0; i < r; i++) {
                            e += (double)x[i * d + j] * y[i * w + t];
                            m += fabs((double)x[i * d + j] * y[i * w + t]);
                        }
                        assert_true(fabs(z[j * w + t] - e) <= 1e-5 * m + 1e-30);
                    }
                free(x);
                free(q);
                free(y);
                free(z);
                free(z0);
            }
}

static void test_numeric(void **state)
{
    (void)state;
    float z[4] = { 0.0f, (float)log(2.0), (float)log(2.0), -INFINITY };
    double p[4];
    num_softmax(z, 3, p);
    assert_true(fabs(p[0] - 0.2) < 1e-7 && fabs(p[1] - 0.4) < 1e-7 && fabs(p[2] - 0.4) < 1e-7);
    assert_true(fabs(num_logsumexp(z, 3) - log(5.0)) < 1e-7);
    assert_int_equal(num_argmax(z, 4), 1);                 /* first of the ties */
    float v[6] = { 3, 9, 1, 9, 5, 7 }, val[3];
    int32_t idx[3];
    num_topk(v, 6, 3, idx, val);
    assert_int_equal(idx[0], 1);
    assert_int_equal(idx[1], 3);
    assert_int_equal(idx[2], 5);
    double lo, hi;
    float w[3] = { NAN, -2, 4 };
    num_minmax(w, 3, &lo, &hi);
    assert_true(lo == -2 && hi == 4);
    num_minmax(w, 1, &lo, &hi);
    assert_true(lo == 0 && hi == 1);
    /* A point blurred: the separable Gaussian of radius ceil(3 sigma),
     * normalised; at the border the repeated pixels add their weight. */
    float img[15 * 15] = { 0 }, out[15 * 15];
    img[7 * 15 + 7] = 1;
    double sg = 1.2, k[8], s = 0;
    for (int i = -4; i <= 4; i++)
        s += exp(-i * i / (2 * sg * sg));
    for (int i = 0; i <= 4; i++)
        k[i] = exp(-i * i / (2 * sg * sg)) / s;
    num_blur(img, 15, 15, sg, out);
    for (int y = 0; y < 15; y++)
        for (int x = 0; x < 15; x++) {
            int dy = abs(y - 7), dx = abs(x - 7);
            double want = dy <= 4 && dx <= 4 ? k[dy] * k[dx] : 0;
            assert_true(fabs(out[y * 15 + x] - want) < 1e-7);
        }
    float edge[5] = { 1, 0, 0, 0, 0 };
    num_blur(edge, 1, 5, 1.0, edge);                       /* in place, one row */
    double s1 = 0, e1 = 0;
    for (int i = -3; i <= 3; i++)
        s1 += exp(-i * i / 2.0);
    for (int i = -3; i <= 0; i++)                          /* x = 0 sees pixel 0 four times */
        e1 += exp(-i * i / 2.0) / s1;
    assert_true(fabs(edge[0] - e1) < 1e-6);
}

/* names_missing's one line (it dies: run it in a child). */
static void missing_line(char *const *names, int n, const char *name, char *buf, size_t len)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 2);
        names_missing("m.h5", names, n, name);
    }
    close(fd[1]);
    ssize_t k = read(fd[0], buf, len - 1), r;
    while (k >= 0 && (size_t)k < len - 1 && (r = read(fd[0], buf + k, len - 1 - (size_t)k)) > 0)
        k += r;
    buf[k > 0 ? k : 0] = '\0';
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
}

static void test_names(void **state)
{
    (void)state;
    char *small[] = { "conv1", "Conv2", "conv2", "layer4.0.conv1", "layer4.0.relu", "layer4.1.conv1",
                      "layer4.1.relu", "layer40", "fc" };
    int n = 9, amb;
    assert_int_equal(names_lookup(small, n, "conv1", &amb), 0);        /* exact */
    assert_int_equal(names_lookup(small, n, "CONV1", &amb), 0);        /* case ignored */
    assert_int_equal(names_lookup(small, n, "Conv2", &amb), 1);        /* exact wins */
    assert_int_equal(names_lookup(small, n, "CONV2", &amb), -1);       /* two ignoring case */
    assert_int_equal(amb, 1);
    assert_int_equal(names_lookup(small, n, "layer4", &amb), 6);       /* module: its last node */
    assert_int_equal(amb, 0);
    assert_int_equal(names_lookup(small, n, "Layer4.0", &amb), 4);
    assert_int_equal(names_lookup(small, n, "layer4.", &amb), -1);
    assert_int_equal(names_lookup(small, n, "layer", &amb), -1);       /* not a module */
    assert_int_equal(names_lookup(small, n, "FC", &amb), 8);
    char buf[8192];
    missing_line(small, n, "conv9", buf, sizeof buf);
    assert_non_null(strstr(buf, "m.h5: no layer 'conv9' (layers: conv1 Conv2 conv2 layer4.0.conv1"));
    missing_line(small, n, "CONV2", buf, sizeof buf);
    assert_non_null(strstr(buf, "layer 'CONV2' is ambiguous (layers: Conv2 conv2)"));
    /* A long model: the names sharing the prefix, shortened to modules,
     * never cut off before the ones asked about. */
    char *big[400];
    for (int i = 0; i < 400; i++) {
        big[i] = malloc(32);
        snprintf(big[i], 32, "layer%d.%d.conv%d", 1 + i / 100, i % 100 / 10, i % 10);
    }
    missing_line(big, 400, "layer9", buf, sizeof buf);
    assert_non_null(strstr(buf, "no layer 'layer9' (layers starting 'layer': layer1 layer2 layer3 "
                                "layer4; did you mean 'layer1'?)\n"));
    missing_line(big, 400, "layr4", buf, sizeof buf);
    assert_non_null(strstr(buf, "no layer 'layr4' (layers starting 'lay': layer1 layer2 layer3 "
                                "layer4; did you mean 'layer4'?)\n"));
    missing_line(big, 400, "layer4.3.conv", buf, sizeof buf);
    assert_non_null(strstr(buf, "(layers starting 'layer4.3.conv': layer4.3.conv0 layer4.3.conv1 "));
    assert_non_null(strstr(buf, "layer4.3.conv9; did you mean 'layer4.3.conv0'?)\n"));
    missing_line(big, 400, "xlayer4", buf, sizeof buf);
    assert_non_null(strstr(buf, "no layer 'xlayer4' (did you mean 'layer4'? modules: layer1 "));
    assert_int_equal(names_lookup(big, 400, "LAYER3.9", &amb), 299);
    for (int i = 0; i < 400; i++)
        free(big[i]);
}

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensor_shapes),
        cmocka_unit_test(test_cli_lists),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_h5_roundtrip),
        cmocka_unit_test(test_thinmm),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_numeric),
        cmocka_unit_test(test_die_threads),
        cmocka_unit_test(test_outfile),
        cmocka_unit_test(test_finite),
        cmocka_unit_test(test_error_trap),
        cmocka_unit_test(test_dynlib),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
