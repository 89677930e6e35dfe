/* gemm: OpenMP-split single-threaded OpenBLAS products (see gemm.h). */
#include <cblas.h>
#include <stdlib.h>

#include "base/blas.h"
#include "base/par.h"
#include "nn/gemm.h"

/* Below this many flops per thread a split costs more than it saves;
 * CNN_PAR_FLOPS overrides it (the tests set 1 to run every split). */
double gemm_par_flops(void)
{
    static double v;
    if (!v) {
        const char *e = getenv("CNN_PAR_FLOPS");
        double d = e ? atof(e) : 0;
        v = d > 0 ? d : 2e6;
    }
    return v;
}

void gemm_serial_blas(void)
{
    blas_threads(1);
}

void gemm1(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
           const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
                N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* gemm's blocks t of blk rows or columns of C (one OpenBLAS product
 * each). */
typedef struct gemm_job {
    int ta, tb, M, N, K;
    float alpha;
    const float *A;
    int lda;
    const float *B;
    int ldb;
    float beta;
    float *C;
    int ldc, splitn, len, blk;
} gemm_job;

static void gemm_block(void *ctx, int t, int T)
{
    const gemm_job *a = ctx;
    int lo = t * a->blk, n = a->len - lo < a->blk ? a->len - lo : a->blk;
    (void)T;
    if (n <= 0)
        return;
    if (a->splitn)
        gemm1(a->ta, a->tb, a->M, n, a->K, a->alpha, a->A, a->lda,
              a->tb ? a->B + (long)lo * a->ldb : a->B + lo, a->ldb, a->beta, a->C + lo, a->ldc);
    else
        gemm1(a->ta, a->tb, n, a->N, a->K, a->alpha, a->ta ? a->A + lo : a->A + (long)lo * a->lda,
              a->lda, a->B, a->ldb, a->beta, a->C + (long)lo * a->ldc, a->ldc);
}

void gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
          const float *B, int ldb, float beta, float *C, int ldc)
{
    gemm_serial_blas();
    int T = par_busy() ? 1 : par_threads();
    double flops = 2.0 * M * N * K;
    if (T > flops / gemm_par_flops())
        T = (int)(flops / gemm_par_flops());
    if (T <= 1) {
        gemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    /* Split the longer side of C into T blocks of whole 16-float vectors. */
    int splitn = N >= M, len = splitn ? N : M;
    int blk = (len + T - 1) / T;
    blk = (blk + 15) / 16 * 16;
    gemm_job a = { ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, splitn, len, blk };
    par_run(T, gemm_block, &a);
}
