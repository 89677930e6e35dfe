/* file: small whole-file reads. */
#include "base/file.h"
#include "base/alloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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
