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
#include <unistd.h>

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
    cli_note_input_fd(fileno(f));
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

/* ---- inputs and outputs --------------------------------------------- */

#define MAXIN 256
static struct { dev_t dev; ino_t ino; } inputs[MAXIN];
static int ninputs;

static void note(const struct stat *st)
{
    if (!S_ISREG(st->st_mode) || cli_is_input(st->st_dev, st->st_ino) || ninputs == MAXIN)
        return;
    inputs[ninputs].dev = st->st_dev;
    inputs[ninputs++].ino = st->st_ino;
}

void cli_note_input(const char *path)
{
    struct stat st;
    if (path && !stat(path, &st))
        note(&st);
}

void cli_note_input_fd(int fd)
{
    struct stat st;
    if (!fstat(fd, &st))
        note(&st);
}

int cli_is_input(unsigned long long dev, unsigned long long ino)
{
    for (int i = 0; i < ninputs; i++)
        if ((unsigned long long)inputs[i].dev == dev && (unsigned long long)inputs[i].ino == ino)
            return 1;
    return 0;
}

char *cli_resolve_link(const char *path)
{
    char *p = xstrdup(path);
    for (int hops = 0;; hops++) {
        struct stat st;
        if (lstat(p, &st) || !S_ISLNK(st.st_mode))
            return p;
        if (hops == 40)
            die("%s: too many levels of symbolic links", path);
        char buf[4096];
        ssize_t n = readlink(p, buf, sizeof buf - 1);
        if (n < 0)
            die("%s: cannot read the link:", path);
        buf[n] = '\0';
        char *q;
        const char *slash = strrchr(p, '/');
        if (buf[0] == '/' || !slash) {
            q = xstrdup(buf);
        } else {
            size_t dl = (size_t)(slash - p) + 1;
            q = xmalloc(dl + (size_t)n + 1);
            memcpy(q, p, dl);
            strcpy(q + dl, buf);
        }
        free(p);
        p = q;
    }
}

void cli_check_output(const char *path)
{
    if (!path || !strcmp(path, "-"))
        return;
    if (!*path)
        die_usage("-o: empty file name");
    struct stat st;
    if (!stat(path, &st)) {
        if (S_ISDIR(st.st_mode))
            die("%s: is a directory (-o names a file)", path);
        if (!S_ISREG(st.st_mode)) {
            if (access(path, W_OK))
                die("%s: cannot write:", path);
            return;
        }
    } else if (errno != ENOENT) {
        die("%s: cannot write:", path);
    }
    size_t n = strlen(path);
    if (path[n - 1] == '/')
        die("%s: names a folder (-o names a file)", path);
    /* A regular file is written beside what it finally names. */
    char *t = cli_resolve_link(path);
    char *slash = strrchr(t, '/');
    const char *dir = ".";
    if (slash == t)
        dir = "/";
    else if (slash) {
        *slash = '\0';
        dir = t;
    }
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
        die("%s: cannot create (cannot write in '%s': no such folder)", path, dir);
    }
    if (access(dir, W_OK | X_OK))
        die("%s: cannot create in '%s':", path, dir);
    free(t);
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
    cli_note_input_fd(fileno(f));
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
