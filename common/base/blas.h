/* blas: the CBLAS, LAPACKE and OpenBLAS functions the project calls,
 * defined here as forwarders to OpenBLAS and LAPACKE loaded on the first
 * call (dynlib.h says why). Callers include <cblas.h> and <lapacke.h> as
 * usual; no program links either library. Only the functions below
 * exist: a new one is added to blas.c (the link fails until it is). */
#ifndef CNN_BLAS_H
#define CNN_BLAS_H

/* n OpenBLAS threads: now when it is loaded, else as soon as it loads
 * (a command that never calls it never loads it for this). */
void blas_threads(int n);

#endif
