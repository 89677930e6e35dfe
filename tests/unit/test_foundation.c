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
#include <unistd.h>

#include "base/cli.h"
#include "io/h5io.h"
#include "base/tensor.h"
#include "nn/thinmm.h"

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

    h5in *in = h5in_open(path);
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
    assert_int_equal(nn, 5);
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

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensor_shapes),
        cmocka_unit_test(test_cli_lists),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_h5_roundtrip),
        cmocka_unit_test(test_thinmm),
        cmocka_unit_test(test_finite),
        cmocka_unit_test(test_error_trap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
