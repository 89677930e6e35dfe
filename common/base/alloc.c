/* alloc: allocation that dies on failure (never returns NULL). */
#include "base/alloc.h"
#include "base/error.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        die("out of memory (%zu x %zu bytes)", n, size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

/* Allocations of HUGE_BYTES or more start on a 2 MB boundary and ask for
 * transparent huge pages (MADV_HUGEPAGE; the kernel's default mode on
 * Debian is "madvise"): one fault then maps 2 MB, not 4 KB. */
#define HUGE_BYTES ((size_t)4 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

/* Bytes of n floats (one at least) rounded up to a multiple of align (at
 * most HUGE_PAGE); dies when they would not fit a size_t. */
static size_t float_bytes(size_t n, size_t align)
{
    if (n > SIZE_MAX / sizeof(float) - HUGE_PAGE)
        die("out of memory (%zu floats)", n);
    size_t bytes = (n ? n : 1) * sizeof(float);
    return (bytes + align - 1) / align * align;
}

float *falloc_raw(size_t n)
{
    void *p = NULL;
    size_t bytes = float_bytes(n, 1);
    if (bytes >= HUGE_BYTES && !getenv("CNN_NO_HUGE")) {
        bytes = float_bytes(n, HUGE_PAGE);
        if (posix_memalign(&p, HUGE_PAGE, bytes))
            die("out of memory (%zu floats)", n);
#ifdef MADV_HUGEPAGE
        madvise(p, bytes, MADV_HUGEPAGE);
#endif
        return p;
    }
    if (posix_memalign(&p, 64, bytes))
        die("out of memory (%zu floats)", n);
    return p;
}

float *falloc_part(size_t n)
{
    void *p = NULL;
    size_t bytes = float_bytes(n, 4096);
    if (posix_memalign(&p, 4096, bytes))
        die("out of memory (%zu floats)", n);
#ifdef MADV_NOHUGEPAGE
    madvise(p, bytes, MADV_NOHUGEPAGE);
#endif
    return p;
}

float *falloc(size_t n)
{
    float *p = falloc_raw(n);
    memset(p, 0, (n ? n : 1) * sizeof(float));
    return p;
}

void alloc_trim(void)
{
    malloc_trim(0);
}
