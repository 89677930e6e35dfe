/* file: small whole-file reads. */
#include "base/file.h"
#include "base/alloc.h"
#include "base/error.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *cli_read_file(const char *path, size_t max, int *more)
{
    struct stat st;
    if (stat(path, &st))
        return NULL;
    if (S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, got;
    char *buf = xmalloc(cap);
    while (n < max && (got = fread(buf + n, 1, (cap - 1 < max ? cap - 1 : max) - n, f)) > 0) {
        n += got;
        if (n + 1 == cap && n < max)
            buf = xrealloc(buf, cap *= 2);
    }
    if (more)
        *more = n >= max && fgetc(f) != EOF;
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

unsigned char *cli_slurp(const char *path, size_t max, size_t *len)
{
    struct stat st;
    if (stat(path, &st))
        die("%s: cannot open:", path);
    if (S_ISDIR(st.st_mode))
        die("%s: is a directory (expected a file)", path);
    if ((uint64_t)st.st_size > max)
        die("%s: %lld bytes is too large for this kind of file (at most %zu)", path,
            (long long)st.st_size, max);
    FILE *f = fopen(path, "rb");
    if (!f)
        die("%s: cannot open:", path);
    size_t n = (size_t)st.st_size;
    unsigned char *buf = xmalloc(n + 1);
    size_t got = n ? fread(buf, 1, n, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (err || got != n)
        die("%s: read error (got %zu of %zu bytes)", path, got, n);
    buf[n] = '\0';
    *len = n;
    return buf;
}

char **cli_read_lines(const char *path, int *n)
{
    size_t len;
    char *s = (char *)cli_slurp(path, ((size_t)256 << 20), &len);
    if (memchr(s, '\0', len))
        die("%s: not a text file (contains NUL bytes)", path);
    int cap = 16, k = 0;
    char **v = xmalloc((size_t)cap * sizeof *v);
    char *p = s;
    while (*p) {
        char *e = strchr(p, '\n');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        size_t t = l;
        if (t && p[t - 1] == '\r')
            t--;
        if (k + 1 >= cap)
            v = xrealloc(v, (size_t)(cap *= 2) * sizeof *v);
        v[k] = xmalloc(t + 1);
        memcpy(v[k], p, t);
        v[k][t] = '\0';
        k++;
        p += l + (e != NULL);
    }
    free(s);
    v[k] = NULL;
    *n = k;
    return v;
}
