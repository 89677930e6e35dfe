/* dynlib: a shared library loaded when first needed (dlopen), not when the
 * program starts.
 *
 * Every library a program links is mapped and relocated before main, and
 * the pages that relocation touches stay resident: OpenBLAS (with
 * gfortran and quadmath) and libtiff (with libstdc++ behind its LERC
 * codec) cost every command 3.4 MB and a few milliseconds, though only
 * PCA, Eigen-CAM and the products of a build without the packed GEMM use
 * the first, and only a TIFF photo the second. Loaded on demand, they cost
 * nothing to the commands that never call them.
 *
 * A library is named by its soname (the Makefile passes the one the build
 * found, so the headers and the library agree). A missing library or
 * symbol is a one-line error (die). Safe to call from several threads. */
#ifndef CNN_DYNLIB_H
#define CNN_DYNLIB_H

typedef struct dynlib {
    const char *soname;
    const char *why;   /* for the error: "TIFF images", "matrix products" */
    void *handle;      /* set once loaded */
} dynlib;

#define DYNLIB(soname, why) { (soname), (why), 0 }

/* The address of symbol name in lib, loading lib on the first call. */
void *dynlib_sym(dynlib *lib, const char *name);
/* Whether lib has been loaded. */
int dynlib_loaded(const dynlib *lib);

#endif
