/* gemm: OpenMP-split single-threaded OpenBLAS products (see gemm.h). */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>

#include "base/blas.h"
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

void gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
          const float *B, int ldb, float beta, float *C, int ldc)
{
    gemm_serial_blas();
    int T = omp_in_parallel() ? 1 : omp_get_max_threads();
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
#pragma omp parallel for num_threads(T) schedule(static)
    for (int t = 0; t < T; t++) {
        int lo = t * blk, n = len - lo < blk ? len - lo : blk;
        if (n <= 0)
            continue;
        if (splitn)
            gemm1(ta, tb, M, n, K, alpha, A, lda, tb ? B + (long)lo * ldb : B + lo, ldb, beta,
                  C + lo, ldc);
        else
            gemm1(ta, tb, n, N, K, alpha, ta ? A + lo : A + (long)lo * lda, lda, B, ldb, beta,
                  C + (long)lo * ldc, ldc);
    }
}
