/* file: whole-file reads, the files a tool read, what -o names. */
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

/* Read f to the end into a buffer grown as needed (a FIFO, a device or a
 * file that grew since stat), at most max bytes: -1 past max, -2 on a read
 * error; else the length. *buf holds it, NUL-terminated. */
static int64_t read_all(FILE *f, size_t hint, size_t max, char **buf)
{
    size_t cap = (hint < max ? hint : max) + 2, n = 0;
    char *b = xmalloc(cap);
    for (;;) {
        if (n + 1 == cap) {
            if (n > max)
                break;
            cap = cap - 1 > max / 2 ? max + 2 : 2 * cap;
            b = xrealloc(b, cap);
        }
        size_t r = fread(b + n, 1, cap - 1 - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int64_t res = ferror(f) ? -2 : n > max ? -1 : (int64_t)n;
    b[n] = '\0';
    *buf = b;
    return res;
}

void *cli_read_file(const char *path, size_t max, int flags, size_t *len)
{
    struct stat st;
    FILE *f = NULL;
    if (!stat(path, &st) && S_ISDIR(st.st_mode))
        errno = EISDIR;
    else
        f = fopen(path, "rb");
    if (!f) {
        if (flags & CLI_READ_OR_NULL)
            return NULL;
        die("%s: cannot open:", path);
    }
    cli_note_input_fd(fileno(f));
    if (fstat(fileno(f), &st))
        st.st_size = 0;
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
        die("%s: %lld bytes is too large for this kind of file (at most %zu)", path,
            (long long)st.st_size, max);
    char *buf;
    int64_t n = read_all(f, S_ISREG(st.st_mode) ? (size_t)st.st_size : 4096, max, &buf);
    fclose(f);
    if (n == -1)
        die("%s: too large for this kind of file (more than %zu bytes)", path, max);
    if (n < 0)
        die("%s: read error", path);
    if (len)
        *len = (size_t)n;
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

void cli_check_stdout(const char *path, const char *what)
{
    if ((!path || !strcmp(path, "-")) && what && isatty(STDOUT_FILENO))
        die_usage("refusing to write %s to a terminal (use -o FILE or a pipe)", what);
}

void cli_flush_stdout(void)
{
    if (fflush(stdout) || ferror(stdout))
        die("<stdout>: cannot write:");
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

char **cli_read_lines(const char *path, int *n)
{
    size_t len;
    char *s = cli_read_file(path, (size_t)256 << 20, 0, &len);
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
