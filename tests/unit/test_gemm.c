/* Unit tests of the packed GEMM (nn/ops/pack.c) against double loops:
 * pk_pack_a's layout (every element where pk_a_at says, the rows past M
 * zero) for row counts around the 12-row panel and K around the 16-column
 * transpose and the 256-row block; pk_gemm with tails of rows and columns,
 * several K blocks, bias, accumulation, B packed and B row-major
 * (pk_gemm_ld), A packed panel by panel as it is used (pk_gemm_raw), split
 * by columns (more columns than rows) and by rows (more rows than
 * columns), one thread and two; the fused residual Add (R) and ReLU or
 * Clip of pk_gemm_ld and pk_gemm_raw, to 1e-5 of the double loops and bit
 * for bit against the product stored and then added and rectified or
 * clipped (as the Add, ReLU and Clip ops would), R's columns past n never read. The panels are 12 x 32 with AVX-512 and
 * 6 x 16 with AVX2 (the x86-64-v3 build runs this test too): the sizes
 * below leave tails of both. Without either the kernel is not compiled in
 * and the test says so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "nn/ops/pack.h"

#include "rnd.h"

static void check_pack(int64_t M, int64_t K, int64_t lda)
{
    float *A = rnd(M * lda), *Ap = malloc(pk_a_size(M, K) * sizeof *Ap);
    for (size_t i = 0; i < pk_a_size(M, K); i++)
        Ap[i] = NAN;   /* every packed element must be written */
    pk_pack_a(A, M, K, lda, Ap);
    int64_t Mp = (M + PK_MR - 1) / PK_MR * PK_MR;
    for (int64_t i = 0; i < Mp; i++)
        for (int64_t k = 0; k < K; k++) {
            float want = i < M ? A[i * lda + k] : 0.0f, got = Ap[pk_a_at(M, K, i, k)];
            if (!(got == want))
                fail_msg("pk_pack_a M%lld K%lld lda%lld: (%lld, %lld) is %g, not %g",
                         (long long)M, (long long)K, (long long)lda, (long long)i, (long long)k,
                         got, want);
        }
    free(A), free(Ap);
}

static void test_pack_a(void **state)
{
    (void)state;
    rng_seed(&R, 21);
    if (!PK_GEMM)
        skip();
    static const int64_t ks[] = { 1, 15, 16, 17, 31, 32, 255, 256, 257, 300, 530 };
    for (int64_t M = 1; M <= 30; M++)
        for (size_t j = 0; j < sizeof ks / sizeof *ks; j++)
            check_pack(M, ks[j], ks[j] + M % 3);
    check_pack(600, 1000, 1000);   /* parallel over panels */
}

/* C = A B (+ C) (+ bias) with B (K x n, row-major) written into panels. */
static void check_gemm(int64_t M, int64_t K, int64_t n, int bias, int acc, int par, int threads)
{
    /* pk_gemm_ld's and pk_gemm_raw's fused ReLU or Clip (one with a bound
     * at zero, ReLU6's, one inside the values' range). */
    int relu = (int)(n + K) % 3;
    op_act act = { relu, relu == ACT_CLIP && n % 2 ? -0.25f : 0.0f, n % 2 ? 0.3f : 6.0f };
    int res = (int)(n + M) % 3 != 0;   /* and residual Add */
    int64_t ldc = n + 3, ps = K * PK_NR, np = (n + PK_NR - 1) / PK_NR;
    float *A = rnd(M * K), *B = rnd(K * n), *b = rnd(M), *C = rnd(M * ldc);
    float *Rs = rnd(M * ldc), *C4 = malloc((size_t)(M * ldc + 1) * sizeof *C4);
    for (int64_t i = 0; i < M * ldc; i++)
        Rs[i] = i % ldc < n ? Rs[i] : NAN;   /* past n: never read */
    float *Ap = malloc(pk_a_size(M, K) * sizeof *Ap), *Bp = malloc((size_t)(np * ps) * sizeof *Bp);
    double *want = malloc((size_t)(M * ldc) * sizeof *want);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < ldc; j++) {
            double s = j < n && !acc ? 0 : C[i * ldc + j];
            if (j < n) {
                for (int64_t k = 0; k < K; k++)
                    s += (double)A[i * K + k] * B[k * n + j];
                s += bias ? b[i] : 0;
            }
            want[i * ldc + j] = s;   /* columns past n untouched */
        }
    pk_pack_a(A, M, K, K, Ap);
    for (int64_t k = 0; k < K; k++)
        pk_put(Bp, ps, k, 0, B + k * n, n, 1);
    pk_zero_tail(Bp, ps, K, n);
    omp_set_num_threads(threads);
    /* B row-major where it lies (pk_gemm_ld), row stride n + 5. */
    int64_t ldb = n + 5;
    float *Br = malloc((size_t)(K * ldb + 1) * sizeof *Br);
    float *C2 = malloc((size_t)(M * ldc + 1) * sizeof *C2);
    float *C3 = malloc((size_t)(M * ldc + 1) * sizeof *C3);
    /* A where it lies (pk_gemm_raw), row stride K + 2. */
    float *Ar = malloc((size_t)(M * (K + 2) + 1) * sizeof *Ar);
    for (int64_t i = 0; i < M; i++)
        for (int64_t k = 0; k < K + 2; k++)
            Ar[i * (K + 2) + k] = k < K ? A[i * K + k] : NAN;
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < ldb; j++)
            Br[k * ldb + j] = j < n ? B[k * n + j] : NAN;
    for (int64_t i = 0; i < M * ldc; i++)
        C2[i] = C3[i] = C4[i] = C[i];
    pk_gemm(Ap, M, K, Bp, ps, n, C, ldc, bias ? b : NULL, acc, par);
    const float *Rv = res ? Rs : NULL;
    pk_gemm_ld(Ap, M, K, Br, PK_NR, ldb, n, C2, ldc, bias ? b : NULL, acc, par, Rv, act);
    pk_gemm_raw(Ar, K + 2, M, K, Bp, ps, PK_NR, n, C3, ldc, bias ? b : NULL, acc, par, Rv, act);
    /* The ops one after the other: the product stored, + R, ReLU. */
    pk_gemm_raw(Ar, K + 2, M, K, Bp, ps, PK_NR, n, C4, ldc, bias ? b : NULL, acc, par, NULL,
                ACT_NO);
    for (int64_t i = 0; i < M * ldc; i++)
        if (i % ldc < n) {
            float v = res ? C4[i] + Rs[i] : C4[i];
            C4[i] = relu == ACT_CLIP ? (v < act.lo ? act.lo : v > act.hi ? act.hi : v)
                    : !relu || v > 0 || v != v ? v : 0.0f;
        }
    for (int64_t i = 0; i < M * ldc; i++)
        if (C2[i] != C4[i] || C3[i] != C4[i])
            fail_msg("fused Add/ReLU M%lld K%lld n%lld res%d relu%d: element %lld is %.9g / %.9g, "
                     "not %.9g as the ops one after the other", (long long)M, (long long)K,
                     (long long)n, res, relu, (long long)i, C2[i], C3[i], C4[i]);
    static const char *const names[] = { "pk_gemm", "pk_gemm_ld", "pk_gemm_raw" };
    for (int v = 0; v < 3; v++) {
        const float *Cv = v == 2 ? C3 : v ? C2 : C;
        double d = 0, scale = 1e-30;
        for (int64_t i = 0; i < M * ldc; i++) {
            double w = want[i] + (v && res && i % ldc < n ? Rs[i] : 0);
            w = v && relu == ACT_RELU && i % ldc < n && !(w > 0) ? 0 : w;
            if (v && relu == ACT_CLIP && i % ldc < n)
                w = w < act.lo ? act.lo : w > act.hi ? act.hi : w;
            if (!(fabs(Cv[i] - w) <= d))
                d = isnan(Cv[i]) ? INFINITY : fabs(Cv[i] - w);
            scale = fabs(w) > scale ? fabs(w) : scale;
        }
        if (!(d <= 1e-5 * scale))
            fail_msg("%s M%lld K%lld n%lld bias%d acc%d par%d t%d relu%d res%d: %g of %g",
                     names[v], (long long)M, (long long)K, (long long)n,
                     bias, acc, par, threads, v ? relu : 0, v ? res : 0, d, scale);
    }
    free(A), free(B), free(b), free(C), free(Ap), free(Bp), free(want), free(Br), free(C2);
    free(C3), free(Ar), free(Rs), free(C4);
}

static void test_gemm_tails(void **state)
{
    (void)state;
    rng_seed(&R, 22);
    if (!PK_GEMM)
        skip();
    /* Column tails 1..40 against 32 (and the half-panel kernel), row tails. */
    for (int64_t n = 1; n <= 40; n++)
        check_gemm(13 + n % 12, 37, n, n % 2, n % 3 == 0, 1, 2);
    /* Several K blocks with a remainder; split by columns and by rows. */
    check_gemm(25, 600, 200, 1, 0, 1, 2);
    check_gemm(300, 530, 49, 1, 1, 1, 2);
    check_gemm(517, 257, 17, 0, 0, 1, 2);
    check_gemm(100, 300, 70, 1, 1, 0, 1);
    check_gemm(7, 0, 9, 1, 1, 1, 2);   /* K = 0: C is its bias */
}

/* The last panel's 1-3 column tails (pack.c's tail, AVX2, or the
 * columns the AVX-512 tile kernel takes beside a panel) against the tile
 * kernel on whole panels: the same product with B widened to whole panels (zero
 * columns) must give the same first n columns bit for bit, through every
 * entry (pk_gemm, pk_gemm_ld with bias, accumulation, R and ReLU or Clip,
 * pk_gemm_raw), split by rows (M > n) and by columns, several K blocks,
 * row tails of the last panel and 1-4 panels a group. */
static void check_tail_bits(int64_t M, int64_t K, int64_t n, int threads)
{
    int64_t nw = (n + PK_NR - 1) / PK_NR * PK_NR, ldc = nw + 1, ps = K * PK_NR;
    int relu = (int)(M + n) % 3;
    op_act act = { relu, relu == ACT_CLIP ? -0.25f : 0.0f, 0.3f };
    float *A = rnd(M * K), *B = rnd(K * n), *b = rnd(M), *Rs = rnd(M * ldc), *C0 = rnd(M * ldc);
    float *Ap = malloc(pk_a_size(M, K) * sizeof *Ap), *Bp = malloc((size_t)(nw / PK_NR * ps) * sizeof *Bp);
    float *Br = calloc((size_t)(K * nw), sizeof *Br);
    pk_pack_a(A, M, K, K, Ap);
    for (int64_t k = 0; k < K; k++) {
        pk_put(Bp, ps, k, 0, B + k * n, n, 1);
        for (int64_t j = 0; j < n; j++)
            Br[k * nw + j] = B[k * n + j];
    }
    pk_zero_tail(Bp, ps, K, n);
    omp_set_num_threads(threads);
    float *c[2][3];
    for (int w = 0; w < 2; w++) {
        int64_t cols = w ? nw : n;
        for (int v = 0; v < 3; v++) {
            c[w][v] = malloc((size_t)(M * ldc) * sizeof(float));
            for (int64_t i = 0; i < M * ldc; i++)
                c[w][v][i] = C0[i];
        }
        pk_gemm(Ap, M, K, Bp, ps, cols, c[w][0], ldc, NULL, 0, 1);
        pk_gemm_ld(Ap, M, K, Br, PK_NR, nw, cols, c[w][1], ldc, b, 1, 1, Rs, act);
        pk_gemm_raw(A, K, M, K, Bp, ps, PK_NR, cols, c[w][2], ldc, b, 0, 1, NULL, act);
    }
    for (int v = 0; v < 3; v++)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < n; j++)
                if (memcmp(&c[0][v][i * ldc + j], &c[1][v][i * ldc + j], sizeof(float)))
                    fail_msg("tail M%lld K%lld n%lld entry %d: (%lld, %lld) is %.9g, the tile "
                             "kernel's %.9g", (long long)M, (long long)K, (long long)n, v,
                             (long long)i, (long long)j, c[0][v][i * ldc + j],
                             c[1][v][i * ldc + j]);
    for (int w = 0; w < 2; w++)
        for (int v = 0; v < 3; v++)
            free(c[w][v]);
    free(A), free(B), free(b), free(Rs), free(C0), free(Ap), free(Bp), free(Br);
}

static void test_gemm_tail_bits(void **state)
{
    (void)state;
    rng_seed(&R, 23);
    if (!PK_GEMM)
        skip();
    /* 33-36, 68, 196: a last panel of 1-4 columns folded into the full one
     * before it (AVX-512's kernel nt) */
    static const int64_t ns[] = { 1, 2, 3, 17, 18, 19, 49, 50, 51, 4, 5, 20, 33, 34, 35, 36, 68, 196 };
    for (size_t t = 0; t < sizeof ns / sizeof *ns; t++) {
        check_tail_bits(2 * PK_MR * 4 + 5 + (int64_t)t, 300, ns[t], 1 + (int)(t % 2));
        check_tail_bits(7 + (int64_t)t, 40, ns[t], 1);
    }
    check_tail_bits(600, 530, 49, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_a),
        cmocka_unit_test(test_gemm_tails),
        cmocka_unit_test(test_gemm_tail_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
