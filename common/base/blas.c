/* blas: OpenBLAS and LAPACKE loaded on first use (see blas.h). Each
 * forwarder looks its function up once; the prototypes are the headers'
 * own, so a mismatch does not compile. */
#include <cblas.h>
#include <lapacke.h>
#include <pthread.h>

#include "base/blas.h"
#include "base/dynlib.h"

#ifndef BLAS_SONAME
#define BLAS_SONAME "libopenblas.so.0"
#endif
#ifndef LAPACKE_SONAME
#define LAPACKE_SONAME "liblapacke.so.3"
#endif

static dynlib openblas_lib = DYNLIB(BLAS_SONAME, "matrix products");
static dynlib lapacke_lib = DYNLIB(LAPACKE_SONAME, "eigenvectors");

/* The thread count blas_threads asked for before OpenBLAS was loaded. */
static int pending_threads;

static void load_openblas(void)
{
    void (*set)(int) = (void (*)(int))dynlib_sym(&openblas_lib, "openblas_set_num_threads");
    int n = __atomic_load_n(&pending_threads, __ATOMIC_ACQUIRE);
    if (n > 0)
        set(n);
}

static void *openblas(const char *name)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, load_openblas);
    return dynlib_sym(&openblas_lib, name);
}

static void *lapacke(const char *name)
{
    return dynlib_sym(&lapacke_lib, name);
}

/* f: the library's function name, found by lib (openblas or lapacke) on
 * the first call. */
#define RESOLVE(lib, name)                                                          \
    static __typeof__(&name) name##_fn;                                             \
    __typeof__(&name) f = __atomic_load_n(&name##_fn, __ATOMIC_ACQUIRE);            \
    if (!f) {                                                                       \
        f = (__typeof__(&name))lib(#name);                                          \
        __atomic_store_n(&name##_fn, f, __ATOMIC_RELEASE);                          \
    }

void blas_threads(int n)
{
    if (!dynlib_loaded(&openblas_lib)) {
        __atomic_store_n(&pending_threads, n, __ATOMIC_RELEASE);
        if (!dynlib_loaded(&openblas_lib))
            return;
    }
    if (openblas_get_num_threads() != n)
        openblas_set_num_threads(n);
}

/* cblas_sgemm and cblas_dgemm: the same forwarder on floats and doubles. */
#define GEMM(T, name)                                                                       \
    void name(const enum CBLAS_ORDER o, const enum CBLAS_TRANSPOSE ta,                      \
              const enum CBLAS_TRANSPOSE tb, const blasint M, const blasint N, const blasint K, \
              const T alpha, const T *A, const blasint lda, const T *B, const blasint ldb,    \
              const T beta, T *C, const blasint ldc)                                        \
    {                                                                                       \
        RESOLVE(openblas, name);                                                            \
        f(o, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);                         \
    }
GEMM(float, cblas_sgemm)
GEMM(double, cblas_dgemm)

void cblas_dgemv(const enum CBLAS_ORDER o, const enum CBLAS_TRANSPOSE t, const blasint m,
                 const blasint n, const double alpha, const double *a, const blasint lda,
                 const double *x, const blasint incx, const double beta, double *y,
                 const blasint incy)
{
    RESOLVE(openblas, cblas_dgemv);
    f(o, t, m, n, alpha, a, lda, x, incx, beta, y, incy);
}

void cblas_dsyrk(const enum CBLAS_ORDER o, const enum CBLAS_UPLO u, const enum CBLAS_TRANSPOSE t,
                 const blasint N, const blasint K, const double alpha, const double *A,
                 const blasint lda, const double beta, double *C, const blasint ldc)
{
    RESOLVE(openblas, cblas_dsyrk);
    f(o, u, t, N, K, alpha, A, lda, beta, C, ldc);
}

double cblas_ddot(const blasint n, const double *x, const blasint incx, const double *y,
                  const blasint incy)
{
    RESOLVE(openblas, cblas_ddot);
    return f(n, x, incx, y, incy);
}

double cblas_dnrm2(const blasint n, const double *x, const blasint incx)
{
    RESOLVE(openblas, cblas_dnrm2);
    return f(n, x, incx);
}

void cblas_dscal(const blasint n, const double alpha, double *x, const blasint incx)
{
    RESOLVE(openblas, cblas_dscal);
    f(n, alpha, x, incx);
}

char *openblas_get_corename(void)
{
    RESOLVE(openblas, openblas_get_corename);
    return f();
}

int openblas_get_num_threads(void)
{
    RESOLVE(openblas, openblas_get_num_threads);
    return f();
}

void openblas_set_num_threads(int n)
{
    RESOLVE(openblas, openblas_set_num_threads);
    f(n);
}

lapack_int LAPACKE_dsyev(int layout, char jobz, char uplo, lapack_int n, double *a, lapack_int lda,
                         double *w)
{
    RESOLVE(lapacke, LAPACKE_dsyev);
    return f(layout, jobz, uplo, n, a, lda, w);
}

lapack_int LAPACKE_dsyevr(int layout, char jobz, char range, char uplo, lapack_int n, double *a,
                          lapack_int lda, double vl, double vu, lapack_int il, lapack_int iu,
                          double abstol, lapack_int *m, double *w, double *z, lapack_int ldz,
                          lapack_int *isuppz)
{
    RESOLVE(lapacke, LAPACKE_dsyevr);
    return f(layout, jobz, range, uplo, n, a, lda, vl, vu, il, iu, abstol, m, w, z, ldz, isuppz);
}
