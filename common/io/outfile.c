/* outfile: the one way a tool opens an output (see outfile.h). */
#include "io/outfile.h"
#include "base/alloc.h"
#include "base/error.h"
#include "base/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir_part(const char *p)
{
    const char *slash = strrchr(p, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == p)
        return xstrdup("/");
    char *d = xstrdup(p);
    d[slash - p] = '\0';
    return d;
}

/* Remove "BASE.tmp.PID" in dir whose PID no longer runs. */
static void remove_stale(const char *dir, const char *base)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t bl = strlen(base);
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (strncmp(n, base, bl) || strncmp(n + bl, ".tmp.", 5))
            continue;
        char *end;
        const char *num = n + bl + 5;
        long pid = strtol(num, &end, 10);
        if (end == num || *end || pid <= 0)
            continue;
        if (pid == (long)getpid() || (kill((pid_t)pid, 0) && errno == ESRCH)) {
            size_t len = strlen(dir) + strlen(n) + 2;
            char *p = xmalloc(len);
            snprintf(p, len, "%s/%s", dir, n);
            unlink(p);
            free(p);
        }
    }
    closedir(d);
}

outfile *outfile_open(const char *path, const char *what)
{
    outfile *o = xcalloc(1, sizeof *o);
    o->fd = -1;
    if (!path || !strcmp(path, "-")) {
        o->name = xstrdup("<stdout>");
        cli_check_stdout(path, what);
        if ((o->fd = dup(STDOUT_FILENO)) < 0)
            die("<stdout>: cannot write:");
        return o;
    }
    cli_check_output(path);
    o->name = xstrdup(path);
    struct stat st;
    if (!stat(path, &st) && !S_ISREG(st.st_mode)) {
        /* A FIFO, a device, a socket: written in place. */
        if ((o->fd = open(path, O_WRONLY | O_NOCTTY)) < 0)
            die("%s: cannot open:", path);
        if (what && isatty(o->fd))
            die_usage("refusing to write %s to a terminal (%s)", what, path);
        return o;
    }
    o->target = cli_resolve_link(path);
    if (!stat(o->target, &st) && cli_is_input(st.st_dev, st.st_ino))
        die("%s: is also an input of this command (it would be replaced while read; "
            "write to another name)", path);
    char *dir = dir_part(o->target);
    const char *base = strrchr(o->target, '/') ? strrchr(o->target, '/') + 1 : o->target;
    remove_stale(dir, base);
    free(dir);
    o->tmp = xmalloc(strlen(o->target) + 32);
    sprintf(o->tmp, "%s.tmp.%ld", o->target, (long)getpid());
    mode_t um = umask(0);
    umask(um);
    /* Registered before it exists: a signal between the two leaves nothing
     * (base/error.h removes registered temporaries on die, on a signal and
     * at exit; the one mechanism). */
    cli_register_tmp(o->tmp);
    o->fd = open(o->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666 & ~um);
    if (o->fd < 0) {
        cli_forget_tmp(o->tmp);
        die("%s: cannot create:", path);
    }
    return o;
}

FILE *outfile_stream(outfile *o)
{
    if (!o->stream && !(o->stream = fdopen(o->fd, "wb")))
        die("%s: cannot write:", o->name);
    return o->stream;
}

void outfile_write(outfile *o, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(o->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("%s: write error:", o->name);
        p += w;
        n -= (size_t)w;
    }
}

void outfile_commit(outfile *o)
{
    if (o->stream) {
        if (fflush(o->stream) || ferror(o->stream))
            die("%s: write error:", o->name);
    }
    if (o->tmp) {
        if (fsync(o->fd))
            die("%s: write error (fsync):", o->name);
    }
    int r = o->stream ? fclose(o->stream) : close(o->fd);
    o->stream = NULL;
    o->fd = -1;
    if (r && o->tmp)
        die("%s: write error:", o->name);
    if (o->tmp) {
        if (rename(o->tmp, o->target))
            die("%s: cannot rename into place:", o->name);
        cli_forget_tmp(o->tmp);
        /* The rename itself survives a crash once the folder is synced. */
        char *dir = dir_part(o->target);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    free(o->name);
    free(o->target);
    free(o->tmp);
    free(o);
}
