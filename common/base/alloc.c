/* alloc: allocation that dies on failure (never returns NULL). */
#include "base/alloc.h"
#include "base/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

float *falloc_raw(size_t n)
{
    void *p = NULL;
    size_t bytes = (n ? n : 1) * sizeof(float);
    if (n > SIZE_MAX / sizeof(float) || posix_memalign(&p, 64, bytes))
        die("out of memory (%zu floats)", n);
    return p;
}

float *falloc(size_t n)
{
    float *p = falloc_raw(n);
    memset(p, 0, (n ? n : 1) * sizeof(float));
    return p;
}
