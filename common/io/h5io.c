#define _GNU_SOURCE   /* dladdr */
#include "io/h5io.h"
#include "base/alloc.h"
#include "base/cli.h"
#include "io/history.h"
#include "base/finite.h"
#include "io/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5_hl.h>
#include <math.h>
#include <execinfo.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest array a tool will allocate from a file's claim (16 GiB). */
#define H5IO_MAX_FLOATS ((int64_t)1 << 32)
/* Objects of this many bytes or more start at a multiple of 64 in the files
 * h5out writes: a model's weights can then be used where they lie
 * (h5in_map_tensor) and keep the alignment tensors promise. */
#define H5IO_ALIGN_FROM 256

/* libhdf5 1.10 trusts lengths inside a file: a corrupt one can make it
 * read out of bounds and crash (in its global heap, where variable-length
 * strings live, in a group's link table, ...) or loop forever on a global
 * heap (found by fuzzing; tests/fuzz/README.md). Both end the tool as any
 * bad input does, with die()'s one line naming the file, no output left:
 * a SIGSEGV or SIGBUS whose stack passes through libhdf5 (a frame in a
 * shared libhdf5, or in a function named H5*: the tools link its static
 * archive and export its symbols, Makefile) names the input an h5in
 * function was working on (a fault elsewhere stays a crash), and
 * variable-length strings are read under a 10 s alarm. Off under
 * AddressSanitizer (CNN_ASAN), which must keep reporting. */
#define H5IO_STRING_SECONDS 10

static const char *volatile reading;   /* the input an h5in function works on */

#ifndef CNN_ASAN
static struct sigaction old_segv, old_bus, old_alrm;
static unsigned left;
static volatile int hang_armed;

/* Whether code address p lies in HDF5. */
static int in_hdf5(void *p)
{
    Dl_info d;
    if (!dladdr(p, &d))
        return 0;
    return (d.dli_fname && strstr(d.dli_fname, "libhdf5")) ||
           (d.dli_sname && !strncmp(d.dli_sname, "H5", 2));
}

/* Files mapped by h5in_map_tensor (a model's weights) until released: a
 * fault in one (SIGBUS: the file shrank while in use) names the file. */
#define H5IO_MAPS 16
static struct { uintptr_t a, b; char name[240]; } mapped[H5IO_MAPS];

static void note_map(void *base, size_t len, const char *name)
{
    for (int k = 0; k < H5IO_MAPS; k++)
        if (!mapped[k].a) {
            snprintf(mapped[k].name, sizeof mapped[k].name, "%s", name);
            mapped[k].b = (uintptr_t)base + len;
            mapped[k].a = (uintptr_t)base;
            return;
        }
}

static void forget_map(void *base)
{
    for (int k = 0; k < H5IO_MAPS; k++)
        if (mapped[k].a == (uintptr_t)base)
            mapped[k].a = mapped[k].b = 0;
}

static void h5_crash(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    for (int k = 0; sig == SIGBUS && si && k < H5IO_MAPS; k++)
        if ((uintptr_t)si->si_addr >= mapped[k].a && (uintptr_t)si->si_addr < mapped[k].b)
            die("%s: the file was truncated or replaced in place while in use", mapped[k].name);
    void *f[48];
    int n = backtrace(f, 48);
    for (int i = 0; reading && i < n; i++)
        if (in_hdf5(f[i]))
            die("%s: corrupt HDF5 file (the HDF5 library crashed reading it)", reading);
    /* Not in libhdf5: the fault happens again under the handler before. */
    sigaction(sig, sig == SIGBUS ? &old_bus : &old_segv, NULL);
}

static void h5_hang(int sig)
{
    (void)sig;
    hang_armed = 0;   /* die() may return to a caller: the fuzzing harness */
    alarm(0);
    sigaction(SIGALRM, &old_alrm, NULL);
    die("%s: corrupt HDF5 file (the HDF5 library found no end reading it)", reading);
}
#endif

/* Transfer properties of every numeric dataset read and write: type
 * conversions (uint8 pixels to float, and back) through 64 KiB buffers.
 * HDF5's default, 1 MiB each for the converted values and the
 * background, cleared when made and kept in its free lists, stayed 2 MB
 * of one photo's peak memory. Strings too (xfer_strings): with a buffer
 * size set, HDF5 refuses an element larger than it, and a file's
 * fixed-length strings may be longer than 64 KiB. */
static hid_t xfer(void)
{
    static hid_t p = -1;
    if (p < 0) {
        p = H5Pcreate(H5P_DATASET_XFER);
        if (p < 0 || H5Pset_buffer(p, (size_t)64 << 10, NULL, NULL) < 0)
            p = H5P_DEFAULT;
    }
    return p;
}

/* For strings of elem bytes (the larger of the file's and memory's):
 * xfer()'s, or, when 16 of them pass 64 KiB, a buffer of 16 (close it
 * with xfer_close). */
static hid_t xfer_strings(size_t elem)
{
    if (elem <= ((size_t)4 << 10))
        return xfer();
    hid_t p = H5Pcreate(H5P_DATASET_XFER);
    if (p < 0 || H5Pset_buffer(p, 16 * elem, NULL, NULL) < 0) {
        if (p >= 0)
            H5Pclose(p);
        return H5P_DEFAULT;
    }
    return p;
}

static void xfer_close(hid_t p)
{
    if (p != xfer() && p != H5P_DEFAULT)
        H5Pclose(p);
}

/* Installed with the first input. */
static void crash_guard(void)
{
#ifndef CNN_ASAN
    static int done;
    if (done++)
        return;
    void *f[4];
    backtrace(f, 4);   /* the unwinder loads now, not in the handler */
    in_hdf5(f[0]);     /* and dladdr takes its first call here too */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h5_crash;
    sa.sa_flags = SA_NODEFER | SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
#endif
}

/* Arm (1) or disarm (0) the alarm around a read of strings. */
static void hang_guard(int on)
{
#ifndef CNN_ASAN
    if (on) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = h5_hang;
        sa.sa_flags = SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGALRM, &sa, &old_alrm);
        hang_armed = 1;
        left = alarm(H5IO_STRING_SECONDS);
    } else if (hang_armed) {
        hang_armed = 0;
        alarm(left);
        sigaction(SIGALRM, &old_alrm, NULL);
    }
#else
    (void)on;
#endif
}

/* Standard input (a pipe) copied to a temporary file in $TMPDIR (or
 * /tmp), registered for removal until h5in_open has it open and unlinks
 * it: a pipe stage then reads, maps and is bounded like a file, instead of
 * holding the whole input in memory. Returns the path (caller frees);
 * *len gets the bytes. */
static char *spool_stdin(int64_t *len)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    size_t pl = strlen(dir) + 32;
    char *path = xmalloc(pl);
    snprintf(path, pl, "%s/cnn-stdin-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0)
        die("<stdin>: cannot spool to a temporary file in %s:", dir);
    cli_register_tmp(path);
    enum { BLOCK = 1 << 20 };
    char *buf = xmalloc(BLOCK);
    *len = 0;
    for (;;) {
        ssize_t r = read(STDIN_FILENO, buf, BLOCK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("<stdin>: read error:");
        if (r == 0)
            break;
        for (ssize_t w = 0; w < r;) {
            ssize_t k = write(fd, buf + w, (size_t)(r - w));
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0)
                die("<stdin>: cannot spool to %s:", path);
            w += k;
        }
        *len += r;
    }
    free(buf);
    if (close(fd))
        die("<stdin>: cannot spool to %s:", path);
    return path;
}

/* Provenance. A file's root "history" holds one command per line, each
 * "STAMP TOOL ARGS..." with every argument a shell word (cli_init), in an
 * order that can be replayed: the commands of all the inputs of the command
 * that wrote it (each line once, in the order first seen: every line comes
 * after the lines that made its inputs), then its own. A command whose
 * output went down a pipe ends in " |" and the reader's own line then
 * continues it ("STAMP A ... | B ..."); standard input or output redirected
 * from or to a file is written as "< PATH" / "> PATH". */
static char *inputs_history;
static char *pipe_line;      /* the line of the command that fed our stdin */
static char *stdin_from;     /* " < PATH": standard input was that file */

/* The path of an open descriptor, relative to the working folder when it
 * lies below it, shell-quoted after the prefix (malloc'd; NULL if unknown). */
static char *fd_path(int fd, const char *prefix)
{
    char link[64], path[4096], cwd[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return NULL;
    path[n] = '\0';
    const char *p = path;
    size_t c = getcwd(cwd, sizeof cwd) ? strlen(cwd) : 0;
    if (c && !strncmp(path, cwd, c) && path[c] == '/')
        p = path + c + 1;
    char *s = xmalloc(strlen(prefix) + 4 * strlen(p) + 3);
    strcpy(s, prefix);
    cli_shell_quote(s + strlen(prefix), p);
    return s;
}

static int ends_in_pipe(const char *line)
{
    size_t n = strlen(line);
    return n >= 2 && !strcmp(line + n - 2, " |");
}

static void add_line(const char *line)
{
    size_t n = strlen(line), have = inputs_history ? strlen(inputs_history) : 0;
    for (const char *p = inputs_history; p && (p = strstr(p, line)); p++)
        if ((p == inputs_history || p[-1] == '\n') && p[n] == '\n')
            return;
    inputs_history = xrealloc(inputs_history, have + n + 2);
    memcpy(inputs_history + have, line, n);
    memcpy(inputs_history + have + n, "\n", 2);
}

static void add_given(const char *line, int given)
{
    if (!given || line[0] == '#') {
        add_line(line);
        return;
    }
    char *g = xmalloc(strlen(line) + 2);
    g[0] = '#';
    strcpy(g + 1, line);
    add_line(g);
    free(g);
}

/* Whether the command of line wrote path: path is one of its words (or
 * the value of one of its --option=value words), "./" aside. */
static int line_names(const char *line, const char *path)
{
    char **w;
    int nw = history_words(line, &w), found = 0;
    while (!strncmp(path, "./", 2))
        path += 2;
    for (int i = 0; i < nw && !found; i++) {
        const char *v = w[i][0] == '-' && strchr(w[i], '=') ? strchr(w[i], '=') + 1 : w[i];
        while (!strncmp(v, "./", 2))
            v += 2;
        found = !strcmp(v, path);
    }
    cli_free_list(w, nw);
    return found;
}

/* Add the lines of history h (consumed), of a file read at path (NULL:
 * standard input). piped: it came down a pipe, so its last line (when it
 * ends in " |") is held to go right before our own. A file whose last
 * command wrote it under another name (made in another folder, as data/
 * is, or copied, or linked) is given: its lines are kept as "#LINE", to
 * read, not to run, since running them here would not make it. */
static void note_lines(char *h, int piped, const char *path)
{
    if (!h)
        return;
    char *last = h + strlen(h);
    while (last > h && last[-1] == '\n')
        *--last = '\0';
    last = strrchr(h, '\n') ? strrchr(h, '\n') + 1 : h;
    int given = path && *last && !line_names(last, path);
    char *save = NULL;
    last = NULL;
    for (char *line = strtok_r(h, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (last)
            add_given(last, given);
        last = line;
    }
    if (last && piped && ends_in_pipe(last) && !pipe_line)
        pipe_line = xstrdup(last);
    else if (last)
        add_given(last, given);
    free(h);
}

static void note_history(h5in *in, const char *path, int piped)
{
    note_lines(h5in_attr_str(in, "/", "history"), piped, path);
}

void h5io_note_history(const char *hist, const char *path)
{
    note_lines(hist ? xstrdup(hist) : NULL, 0, path);
}

const char *h5io_inputs_history(void) { return inputs_history ? inputs_history : ""; }

void h5io_forget_inputs_history(void)
{
    free(inputs_history);
    free(pipe_line);
    free(stdin_from);
    inputs_history = pipe_line = stdin_from = NULL;
}

char *h5io_output_history(const char *path)
{
    const char *ih = h5io_inputs_history(), *me = cli_history_line();
    if (pipe_line)  /* "STAMP A ... |" then our line without its stamp */
        me += strcspn(me, " ");
    char *to = NULL;
    struct stat st;
    if ((!path || !strcmp(path, "-")) && !fstat(STDOUT_FILENO, &st))
        to = S_ISFIFO(st.st_mode) ? xstrdup(" |")
             : S_ISREG(st.st_mode) ? fd_path(STDOUT_FILENO, " > ") : NULL;
    size_t n = strlen(ih) + (pipe_line ? strlen(pipe_line) : 0) + strlen(me) +
               (stdin_from ? strlen(stdin_from) : 0) + (to ? strlen(to) : 0) + 1;
    char *h = xmalloc(n);
    snprintf(h, n, "%s%s%s%s%s", ih, pipe_line ? pipe_line : "", me,
             stdin_from ? stdin_from : "", to ? to : "");
    free(to);
    return h;
}

static h5in *open_file(const char *path, int once);

static h5in *open_in(const char *path, int once)
{
    int std = !path || !strcmp(path, "-");
    struct stat st;
    int file = std && !fstat(STDIN_FILENO, &st) && S_ISREG(st.st_mode);
    if (file && !stdin_from)
        stdin_from = fd_path(STDIN_FILENO, " < ");
    h5in *in = open_file(path, once);
    note_history(in, std ? NULL : path, std && !file);
    return in;
}

h5in *h5in_open(const char *path) { return open_in(path, 0); }

h5in *h5in_open_once(const char *path) { return open_in(path, 1); }

void h5io_release(void)
{
    H5garbage_collect();
    alloc_trim();
}

h5in *h5in_open_image(void *buf, size_t len, const char *name)
{
    h5in *in = xcalloc(1, sizeof *in);
    crash_guard();
    in->name = xstrdup(name);
    in->image = buf;
    reading = in->name;
    static const unsigned char sig[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };
    if (len < 8 || memcmp(buf, sig, 8))
        die("%s: not an HDF5 file", name);
    /* The core driver on a copy of the image (H5LTopen_file_image, which
     * can avoid the copy, leaks its bookkeeping in libhdf5 1.10). */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0 ||
        H5Pset_file_image(fapl, buf, len) < 0)
        die("%s: cannot open as HDF5 (out of memory?)", name);
    in->f = H5Fopen(name, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    reading = NULL;
    free(in->image);
    in->image = NULL;
    if (in->f < 0)
        die("%s: cannot open as HDF5 (truncated or corrupt)", name);
    return in;
}

/* Metadata cache of a file read once, object by object (h5in_open_once):
 * 128 KiB. HDF5's default starts at 2 MiB and grows; densenet121's model
 * file (600 datasets) left 3-4 MB more heap behind by the time the engine
 * ran (one photo's peak 75.8 -> 69.7 MB with h5io_release), at the same
 * load time (0.18 s). */
#define ONCE_MDC ((size_t)128 << 10)

/* File access properties: default, or with a small metadata cache. */
static hid_t access_plist(int once)
{
    if (!once)
        return H5P_DEFAULT;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5AC_cache_config_t c;
    c.version = H5AC__CURR_CACHE_CONFIG_VERSION;
    if (fapl >= 0 && H5Pget_mdc_config(fapl, &c) >= 0) {
        c.set_initial_size = 1;
        c.initial_size = c.max_size = ONCE_MDC;
        c.min_size = ONCE_MDC / 2;
        H5Pset_mdc_config(fapl, &c);
    }
    return fapl;
}

static h5in *open_file(const char *path, int once)
{
    h5in *in = xcalloc(1, sizeof *in);
    crash_guard();
    if (!path || !strcmp(path, "-")) {
        int64_t len;
        in->name = xstrdup("<stdin>");
        reading = in->name;
        if (isatty(STDIN_FILENO))
            die_usage("no input file given and standard input is a terminal");
        cli_note_input_fd(STDIN_FILENO);
        char *spool = spool_stdin(&len);
        if (len == 0)
            die("<stdin>: empty input (expected an HDF5 file)");
        hid_t fapl = access_plist(once);
        if (H5Fis_hdf5(spool) <= 0 || (in->f = H5Fopen(spool, H5F_ACC_RDONLY, fapl)) < 0)
            die("<stdin>: not an HDF5 file (or truncated)");
        if (once)
            H5Pclose(fapl);
        /* Open: the name can go now, the data stays until the file closes. */
        unlink(spool);
        cli_forget_tmp(spool);
        free(spool);
        return in;
    }
    in->name = xstrdup(path);
    reading = in->name;
    struct stat st;
    if (stat(path, &st))
        die("%s: cannot open:", path);
    if (S_ISDIR(st.st_mode))
        die("%s: is a directory (expected an HDF5 file)", path);
    cli_note_input(path);
    if (st.st_size == 0)
        die("%s: empty file (expected an HDF5 file)", path);
    if (access(path, R_OK))
        die("%s: cannot read:", path);
    if (H5Fis_hdf5(path) <= 0)
        die("%s: not an HDF5 file", path);
    hid_t fapl = access_plist(once);
    in->f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (once)
        H5Pclose(fapl);
    if (in->f < 0)
        die("%s: cannot open as HDF5 (truncated or corrupt)", path);
    return in;
}

void h5in_close(h5in *in)
{
    if (!in)
        return;
    reading = in->name;
    H5Fclose(in->f);
    reading = NULL;
    free(in->image);
    free(in->name);
    free(in->present);
    free(in);
}

/* The one test of presence every reader goes through: absent (0), present
 * (1), or there but broken, which dies: a link whose object cannot be
 * opened (a damaged object header), or a group whose links cannot be read,
 * is a corrupt file, never "no such dataset". */
int h5in_has(h5in *in, const char *dset)
{
    /* H5Lexists fails on a missing intermediate group: walk the path. */
    reading = in->name;
    char buf[512];
    if (strlen(dset) >= sizeof buf)
        return 0;
    strcpy(buf, dset);
    for (char *p = buf + (buf[0] == '/'); ; p++) {
        char c = *p;
        if (c == '/' || c == '\0') {
            *p = '\0';
            htri_t e = buf[0] && strcmp(buf, "/") ? H5Lexists(in->f, buf, H5P_DEFAULT) : 1;
            if (e < 0)
                die("%s: '%s' is corrupt (its links cannot be read)", in->name, buf);
            if (e == 0)
                return 0;
            hid_t o = H5Oopen(in->f, buf, H5P_DEFAULT);
            if (o < 0)
                die("%s: '%s' is corrupt (it is listed but cannot be opened)", in->name, buf);
            H5Oclose(o);
            if (c == '\0')
                return 1;
            *p = '/';
        }
    }
}

/* obj is there (h5in_has); the answer for the object whose attributes
 * were read last is kept (a model's node has a dozen, read one by one). */
static int has_object(h5in *in, const char *obj)
{
    if (!strcmp(obj, "/") || (in->present && !strcmp(obj, in->present)))
        return 1;
    if (!h5in_has(in, obj))
        return 0;
    free(in->present);
    in->present = xstrdup(obj);
    return 1;
}

char *h5in_attr_str(h5in *in, const char *obj, const char *name)
{
    reading = in->name;
    if (!has_object(in, obj))
        return NULL;
    htri_t e = H5Aexists_by_name(in->f, obj, name, H5P_DEFAULT);
    if (e < 0)
        die("%s: the attributes of '%s' are corrupt", in->name, obj);
    if (e == 0)
        return NULL;
    hid_t a = H5Aopen_by_name(in->f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0)
        die("%s: attribute '%s' of '%s' is corrupt", in->name, name, obj);
    hid_t t = H5Aget_type(a), s = H5Aget_space(a);
    char *res = NULL;
    if (H5Tget_class(t) == H5T_STRING && H5Sget_simple_extent_npoints(s) == 1) {
        if (H5Tis_variable_str(t) > 0) {
            char *v = NULL;
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(t));
            hang_guard(1);
            herr_t r = H5Aread(a, mt, &v);
            hang_guard(0);
            if (r < 0)
                die("%s: attribute '%s' of '%s' is corrupt", in->name, name, obj);
            if (v) {
                res = xstrdup(v);
                H5free_memory(v);
            }
            H5Tclose(mt);
        } else {
            size_t sz = H5Tget_size(t);
            if (sz < (1u << 24)) {
                res = xcalloc(sz + 1, 1);
                hid_t mt = H5Tcopy(H5T_C_S1);
                H5Tset_size(mt, sz + 1);
                H5Tset_cset(mt, H5Tget_cset(t));
                if (H5Aread(a, mt, res) < 0)
                    die("%s: attribute '%s' of '%s' is corrupt", in->name, name, obj);
                H5Tclose(mt);
            }
        }
    }
    H5Sclose(s);
    H5Tclose(t);
    H5Aclose(a);
    return res;
}

static int attr_num(h5in *in, const char *obj, const char *name, hid_t mt, void *v, int max)
{
    reading = in->name;
    if (!has_object(in, obj))
        return -1;
    htri_t e = H5Aexists_by_name(in->f, obj, name, H5P_DEFAULT);
    if (e < 0)
        die("%s: the attributes of '%s' are corrupt", in->name, obj);
    if (e == 0)
        return -1;
    hid_t a = H5Aopen_by_name(in->f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0)
        die("%s: attribute '%s' of '%s' is corrupt", in->name, name, obj);
    hid_t s = H5Aget_space(a), t = H5Aget_type(a);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    int res = -1;
    H5T_class_t cl = H5Tget_class(t);
    if (n >= 0 && n <= max && (cl == H5T_INTEGER || cl == H5T_FLOAT) &&
        H5Aread(a, mt, v) >= 0)
        res = (int)n;
    else if (n > max)
        die("%s: attribute %s of %s has %lld values (at most %d expected)", in->name,
            name, obj, (long long)n, max);
    H5Tclose(t);
    H5Sclose(s);
    H5Aclose(a);
    return res;
}

int h5in_attr_f64(h5in *in, const char *obj, const char *name, double *v, int max)
{
    return attr_num(in, obj, name, H5T_NATIVE_DOUBLE, v, max);
}

int h5in_attr_i64(h5in *in, const char *obj, const char *name, int64_t *v, int max)
{
    return attr_num(in, obj, name, H5T_NATIVE_INT64, v, max);
}

char *h5in_kind(h5in *in) { return h5in_attr_str(in, "/", "kind"); }

void h5in_require_kind(h5in *in, const char *kinds)
{
    char *k = h5in_kind(in);
    if (!k)
        die("%s: no 'kind' attribute (not a cnntools file; expected %s)", in->name, kinds);
    char **v;
    int n = cli_split(kinds, ',', &v), ok = 0;
    for (int i = 0; i < n; i++)
        ok |= !strcmp(v[i], k);
    cli_free_list(v, n);
    if (!ok)
        die("%s: is a %s file (expected %s)", in->name, k, kinds);
    free(k);
}

static hid_t open_dset(h5in *in, const char *dset)
{
    reading = in->name;
    if (!h5in_has(in, dset))
        die("%s: no dataset '%s'", in->name, dset);
    hid_t d = H5Dopen2(in->f, dset, H5P_DEFAULT);
    if (d < 0) {
        H5O_info_t oi;
        if (H5Oget_info_by_name(in->f, dset, &oi, H5P_DEFAULT) >= 0 &&
            oi.type != H5O_TYPE_DATASET)
            die("%s: '%s' is not a dataset", in->name, dset);
        die("%s: dataset '%s' is corrupt (cannot be opened)", in->name, dset);
    }
    return d;
}

int h5in_dims(h5in *in, const char *dset, int64_t *dims)
{
    hid_t d = open_dset(in, dset), s = H5Dget_space(d);
    int nd = H5Sget_simple_extent_ndims(s);
    if (nd < 0 || nd > TENSOR_MAXDIM)
        die("%s: dataset '%s' has an unsupported rank", in->name, dset);
    hsize_t hd[TENSOR_MAXDIM];
    H5Sget_simple_extent_dims(s, hd, NULL);
    for (int i = 0; i < nd; i++)
        dims[i] = (int64_t)hd[i];
    H5Sclose(s);
    H5Dclose(d);
    return nd;
}

int64_t h5in_nrows(h5in *in, const char *dset)
{
    int64_t dims[TENSOR_MAXDIM];
    int nd = h5in_dims(in, dset, dims);
    return nd ? dims[0] : 1;
}

/* Read rows [start, start+count) of dset into buf with memory type mt. */
static void read_rows(h5in *in, const char *dset, hid_t mt, int64_t start, int64_t count,
                      void *buf)
{
    hid_t d = open_dset(in, dset), fs = H5Dget_space(d);
    int nd = H5Sget_simple_extent_ndims(fs);
    hid_t t = H5Dget_type(d);
    H5T_class_t cl = H5Tget_class(t);
    H5Tclose(t);
    if (cl != H5T_INTEGER && cl != H5T_FLOAT)
        die("%s: dataset '%s' is not numeric", in->name, dset);
    herr_t r;
    if (nd == 0) {
        r = H5Dread(d, mt, H5S_ALL, H5S_ALL, xfer(), buf);
    } else {
        hsize_t hd[TENSOR_MAXDIM], off[TENSOR_MAXDIM] = { 0 };
        H5Sget_simple_extent_dims(fs, hd, NULL);
        off[0] = (hsize_t)start;
        hd[0] = (hsize_t)count;
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, hd, NULL);
        hid_t ms = H5Screate_simple(nd, hd, NULL);
        r = H5Dread(d, mt, ms, fs, xfer(), buf);
        H5Sclose(ms);
    }
    H5Sclose(fs);
    H5Dclose(d);
    if (r < 0)
        die("%s: cannot read dataset '%s' (truncated or corrupt file)", in->name, dset);
}

void h5in_read_rows_raw(h5in *in, const char *dset, hid_t mt, int64_t start, int64_t count,
                        void *buf)
{
    read_rows(in, dset, mt, start, count, buf);
}

/* /images stored as 8-bit unsigned integers (a common way to keep pixels)
 * hold 0..255: they are read as value/255, as the schema's [0,1], with a
 * note once per file. 1 for every other dataset. */
static float pixel_scale(h5in *in, const char *dset)
{
    if (strcmp(dset, "/images") && strcmp(dset, "images"))
        return 1;
    hid_t d = H5Dopen2(in->f, dset, H5P_DEFAULT);
    if (d < 0)
        return 1;
    hid_t t = H5Dget_type(d);
    int u8 = H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 1 &&
             H5Tget_sign(t) == H5T_SGN_NONE;
    H5Tclose(t);
    H5Dclose(d);
    if (!u8)
        return 1;
    if (!in->noted_u8) {
        in->noted_u8 = 1;
        info("%s: /images holds uint8 pixels: read as value/255", in->name);
    }
    return 1.0f / 255.0f;
}

static void scale(float *v, size_t n, float s)
{
    if (s != 1)
        for (size_t i = 0; i < n; i++)
            v[i] *= s;
}

tensor *h5in_read_rows(h5in *in, const char *dset, int64_t start, int64_t count)
{
    int64_t dims[TENSOR_MAXDIM];
    char buf[128];
    int nd = h5in_dims(in, dset, dims);
    int64_t n = nd ? dims[0] : 1;
    if (start < 0 || count < 0 || start + count > n)
        die("%s: rows %lld..%lld of '%s' lie outside its %lld rows", in->name,
            (long long)start, (long long)(start + count), dset, (long long)n);
    if (nd)
        dims[0] = count;
    if (shape_numel(nd, dims, H5IO_MAX_FLOATS) < 0)
        die("%s: dataset '%s' claims an absurd shape %s", in->name, dset,
            tensor_shape_str(nd, dims, buf, sizeof buf));
    tensor *t = tensor_new_raw(nd, dims);   /* the read fills it */
    if (tensor_numel(t)) {
        read_rows(in, dset, H5T_NATIVE_FLOAT, start, count, t->data);
        scale(t->data, (size_t)tensor_numel(t), pixel_scale(in, dset));
    }
    return t;
}

/* File offset of rows [start, start+*count) of d (rank nd, dims) when
 * stored as raw little-endian float32; -1 otherwise. Chunks must be whole
 * rows: *count becomes the rows up to the first chunk that does not follow
 * the one before it in the file (HDF5 puts index nodes between chunks). */
static int64_t rows_offset(hid_t d, int nd, const int64_t *dims, int64_t start, int64_t *count)
{
    int64_t row = 4, off = -1;
    for (int i = 1; i < nd; i++)
        row *= dims[i];
    hid_t t = H5Dget_type(d), dcpl = H5Dget_create_plist(d);
    int ok = t >= 0 && dcpl >= 0 && H5Tequal(t, H5T_IEEE_F32LE) > 0 &&
             H5Tequal(H5T_NATIVE_FLOAT, H5T_IEEE_F32LE) > 0 && H5Pget_nfilters(dcpl) == 0;
    H5D_layout_t lay = ok ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    if (lay == H5D_CONTIGUOUS) {
        haddr_t a = H5Dget_offset(d);
        if (a != HADDR_UNDEF)
            off = (int64_t)a + start * row;
    } else if (lay == H5D_CHUNKED && nd >= 1 && nd <= TENSOR_MAXDIM) {
        hsize_t ch[TENSOR_MAXDIM], co[TENSOR_MAXDIM] = { 0 };
        int whole = H5Pget_chunk(dcpl, nd, ch) == nd && ch[0] > 0;
        for (int i = 1; i < nd && whole; i++)
            whole = (int64_t)ch[i] == dims[i];
        int64_t cr = whole ? (int64_t)ch[0] : 1, c0 = start / cr, c1 = (start + *count - 1) / cr;
        haddr_t prev = HADDR_UNDEF;
        for (int64_t c = c0; whole && c <= c1; c++) {
            unsigned mask;
            haddr_t a;
            hsize_t size;
            co[0] = (hsize_t)(c * cr);
            int good = H5Dget_chunk_info_by_coord(d, co, &mask, &a, &size) >= 0 &&
                       a != HADDR_UNDEF && mask == 0 && (int64_t)size == cr * row;
            if (c == c0 && good)
                off = (int64_t)a + (start - c0 * cr) * row;
            if (!good || (c > c0 && a != prev + size)) {
                if (c > c0)
                    *count = c * cr - start;
                break;
            }
            prev = a;
        }
    }
    if (t >= 0)
        H5Tclose(t);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return off;
}

/* The descriptor of in's file when HDF5's offsets are offsets in it (the
 * default driver, no user block); -1 otherwise. */
static int plain_fd(h5in *in)
{
    if (in->image)
        return -1;
    hid_t fapl = H5Fget_access_plist(in->f), fcpl = H5Fget_create_plist(in->f);
    hsize_t ub = 1;
    int plain = fapl >= 0 && fcpl >= 0 && H5Pget_driver(fapl) == H5FD_SEC2 &&
                H5Pget_userblock(fcpl, &ub) >= 0 && ub == 0;
    if (fapl >= 0)
        H5Pclose(fapl);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    int *fd = NULL;
    if (!plain || H5Fget_vfd_handle(in->f, H5P_DEFAULT, (void **)&fd) < 0 || !fd)
        return -1;
    return *fd;
}

/* File offset of rows [start, start + *count) of dset, of rank nd and
 * dims (see rows_offset); -1 when they have none. */
static int64_t dset_offset(h5in *in, const char *dset, int nd, const int64_t *dims,
                           int64_t start, int64_t *count)
{
    hid_t d = H5Dopen2(in->f, dset, H5P_DEFAULT);
    if (d < 0)
        return -1;
    int64_t off = rows_offset(d, nd, dims, start, count);
    H5Dclose(d);
    return off;
}

const float *h5in_map_rows(h5in *in, const char *dset, int64_t start, int64_t *count,
                           h5map *m)
{
    m->base = NULL;
    m->len = 0;
    int64_t dims[TENSOR_MAXDIM], got = *count;
    int fd = plain_fd(in);
    if (fd < 0 || got <= 0 || !H5Lexists(in->f, dset, H5P_DEFAULT))
        return NULL;
    int nd = h5in_dims(in, dset, dims);
    if (nd < 1 || start < 0 || start + got > dims[0])
        return NULL;
    int64_t off = dset_offset(in, dset, nd, dims, start, &got), len = got * 4;
    for (int i = 1; i < nd; i++)
        len *= dims[i];
    struct stat st;
    /* Past the end of the file a mapping faults (SIGBUS): a truncated
     * file is left to HDF5's read and its error. */
    if (off < 0 || off % 4 || fstat(fd, &st) || off + len > (int64_t)st.st_size)
        return NULL;
    int64_t pg = sysconf(_SC_PAGESIZE), delta = off % pg;
    void *b = mmap(NULL, (size_t)(len + delta), PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd,
                   (off_t)(off - delta));
    if (b == MAP_FAILED)
        return NULL;
    m->base = b;
    m->len = (size_t)(len + delta);
    *count = got;
    return (const float *)((char *)b + delta);
}

tensor *h5in_map_tensor(h5in *in, const char *dset, h5map *whole)
{
    int64_t dims[TENSOR_MAXDIM];
    int fd = plain_fd(in), nd = fd < 0 ? 0 : h5in_dims(in, dset, dims);
    if (nd < 1 || dims[0] < 1)
        return NULL;
    int64_t got = dims[0], off = dset_offset(in, dset, nd, dims, 0, &got);
    int64_t n = shape_numel(nd, dims, H5IO_MAX_FLOATS);
    struct stat st;
    if (off < 0 || off % 64 || got != dims[0] || n < 1 || fstat(fd, &st) ||
        off + 4 * n > (int64_t)st.st_size)
        return NULL;
    if (!whole->base) {
        /* Private and writable: a write (training) copies that page for
         * this process alone. */
        void *b = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (b == MAP_FAILED)
            return NULL;
        whole->base = b;
        whole->len = (size_t)st.st_size;
#ifndef CNN_ASAN
        note_map(b, whole->len, in->name);
#endif
    }
    if (off + 4 * n > (int64_t)whole->len)
        return NULL;
    char *p = (char *)whole->base + off;
#ifdef MADV_POPULATE_READ
    /* The dataset's pages in now, in one call, as the page cache holds
     * them (populating for writing would copy them). */
    int64_t pg = sysconf(_SC_PAGESIZE), delta = off % pg;
    madvise(p - delta, (size_t)(4 * n + delta), MADV_POPULATE_READ);
#endif
    return tensor_borrow(nd, dims, (float *)p);
}

void h5map_release(h5map *m)
{
#ifndef CNN_ASAN
    forget_map(m->base);
#endif
    if (m->base)
        munmap(m->base, m->len);
    m->base = NULL;
    m->len = 0;
}

void h5in_read_rows_into(h5in *in, const char *dset, int64_t start, int64_t count, float *buf)
{
    int64_t dims[TENSOR_MAXDIM];
    int nd = h5in_dims(in, dset, dims);
    int64_t n = nd ? dims[0] : 1;
    if (start < 0 || count < 0 || start + count > n)
        die("%s: rows %lld..%lld of '%s' lie outside its %lld rows", in->name,
            (long long)start, (long long)(start + count), dset, (long long)n);
    if (!count)
        return;
    if (nd == 0) {
        read_rows(in, dset, H5T_NATIVE_FLOAT, start, count, buf);
        return;
    }
    float px = pixel_scale(in, dset);
    /* Without a chunk cache HDF5 reads whole chunks straight into buf
     * instead of through its cache and a copy: batches are sequential, so
     * the cache would only help the one chunk two batches share. */
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    H5Pset_chunk_cache(dapl, 0, 0, 1.0);
    hid_t d = H5Dopen2(in->f, dset, dapl);
    H5Pclose(dapl);
    if (d < 0)
        die("%s: '%s' is not a dataset", in->name, dset);
    hid_t t = H5Dget_type(d);
    H5T_class_t cl = H5Tget_class(t);
    H5Tclose(t);
    if (cl != H5T_INTEGER && cl != H5T_FLOAT)
        die("%s: dataset '%s' is not numeric", in->name, dset);
    hid_t fs = H5Dget_space(d);
    hsize_t hd[TENSOR_MAXDIM], off[TENSOR_MAXDIM] = { 0 };
    for (int i = 0; i < nd; i++)
        hd[i] = (hsize_t)dims[i];
    off[0] = (hsize_t)start;
    hd[0] = (hsize_t)count;
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, hd, NULL);
    hid_t ms = H5Screate_simple(nd, hd, NULL);
    herr_t r = H5Dread(d, H5T_NATIVE_FLOAT, ms, fs, xfer(), buf);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
    if (r < 0)
        die("%s: cannot read dataset '%s' (truncated or corrupt file)", in->name, dset);
    size_t nv = (size_t)count;
    for (int i = 1; i < nd; i++)
        nv *= (size_t)dims[i];
    scale(buf, nv, px);
}

tensor *h5in_read(h5in *in, const char *dset)
{
    return h5in_read_rows(in, dset, 0, h5in_nrows(in, dset));
}

static void *read_ints(h5in *in, const char *dset, hid_t mt, size_t size, int64_t start,
                       int64_t count)
{
    int64_t dims[TENSOR_MAXDIM];
    int nd = h5in_dims(in, dset, dims);
    if (nd != 1)
        die("%s: '%s' should be one-dimensional (has %d dimensions)", in->name, dset, nd);
    if (count < 0)
        count = dims[0] - start;
    if (start < 0 || count < 0 || start + count > dims[0])
        die("%s: rows %lld..%lld of '%s' lie outside its %lld rows", in->name,
            (long long)start, (long long)(start + count), dset, (long long)dims[0]);
    if (count > H5IO_MAX_FLOATS)
        die("%s: dataset '%s' claims an absurd length", in->name, dset);
    void *v = xcalloc((size_t)count + 1, size);
    if (count)
        read_rows(in, dset, mt, start, count, v);
    return v;
}

int64_t *h5in_read_i64(h5in *in, const char *dset, int64_t start, int64_t count)
{
    return read_ints(in, dset, H5T_NATIVE_INT64, sizeof(int64_t), start, count);
}

int32_t *h5in_read_i32(h5in *in, const char *dset, int64_t start, int64_t count)
{
    return read_ints(in, dset, H5T_NATIVE_INT32, sizeof(int32_t), start, count);
}

char **h5in_read_strings(h5in *in, const char *dset, int *n)
{
    hid_t d = open_dset(in, dset), s = H5Dget_space(d), t = H5Dget_type(d);
    hssize_t np = H5Sget_simple_extent_npoints(s);
    if (H5Tget_class(t) != H5T_STRING || np < 0 || np > (1 << 24))
        die("%s: '%s' is not a list of strings", in->name, dset);
    char **v = xcalloc((size_t)np + 1, sizeof *v);
    herr_t r;
    if (H5Tis_variable_str(t) > 0) {
        char **raw = xcalloc((size_t)np + 1, sizeof *raw);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t));
        hang_guard(1);
        r = H5Dread(d, mt, H5S_ALL, H5S_ALL, xfer(), raw);
        hang_guard(0);
        for (hssize_t i = 0; r >= 0 && i < np; i++)
            v[i] = xstrdup(raw[i] ? raw[i] : "");
        if (r >= 0)
            H5Dvlen_reclaim(mt, s, H5P_DEFAULT, raw);
        H5Tclose(mt);
        free(raw);
    } else {
        size_t sz = H5Tget_size(t);
        char *raw = xcalloc((size_t)np + 1, sz + 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, sz + 1);
        H5Tset_cset(mt, H5Tget_cset(t));
        hid_t px = xfer_strings(sz + 1);
        r = H5Dread(d, mt, H5S_ALL, H5S_ALL, px, raw);
        xfer_close(px);
        for (hssize_t i = 0; r >= 0 && i < np; i++)
            v[i] = xstrdup(raw + (size_t)i * (sz + 1));
        H5Tclose(mt);
        free(raw);
    }
    if (r < 0)
        die("%s: cannot read strings '%s'", in->name, dset);
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
    *n = (int)np;
    return v;
}

struct list_ctx { char **v; int n, cap; };

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)g;
    (void)info;
    struct list_ctx *c = data;
    if (c->n == c->cap)
        c->v = xrealloc(c->v, (size_t)(c->cap = c->cap ? 2 * c->cap : 16) * sizeof *c->v);
    c->v[c->n++] = xstrdup(name);
    return 0;
}

int h5in_list(h5in *in, const char *group, char ***names)
{
    reading = in->name;
    if (strcmp(group, "/") && !h5in_has(in, group))
        die("%s: no group '%s'", in->name, group);
    hid_t g = H5Gopen2(in->f, group, H5P_DEFAULT);
    if (g < 0)
        die("%s: '%s' is not a group", in->name, group);
    struct list_ctx c = { 0 };
    hsize_t idx = 0;
    if (H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, list_cb, &c) < 0) {
        for (int i = 0; i < c.n; i++)
            free(c.v[i]);
        c.n = 0;
        idx = 0;
        H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, list_cb, &c);
    }
    H5Gclose(g);
    *names = c.v ? c.v : xcalloc(1, sizeof(char *));
    return c.n;
}

static void walk(h5in *in, const char *g, char ***v, int *n, int *cap)
{
    char **names;
    int k = h5in_list(in, g, &names);
    for (int i = 0; i < k; i++) {
        size_t len = strlen(g) + strlen(names[i]) + 3;
        char *p = xmalloc(len);
        snprintf(p, len, "%s%s%s", g, strcmp(g, "/") ? "/" : "", names[i]);
        H5O_info_t oi;
        if (H5Oget_info_by_name(in->f, p, &oi, H5P_DEFAULT) < 0)
            die("%s: cannot read object '%s'", in->name, p);
        if (*n + 1 >= *cap)
            *v = xrealloc(*v, (size_t)(*cap = *cap ? 2 * *cap : 32) * sizeof **v);
        if (oi.type == H5O_TYPE_GROUP) {
            char *q = xmalloc(len + 1);
            snprintf(q, len + 1, "%s/", p);
            (*v)[(*n)++] = q;
            walk(in, p, v, n, cap);
            free(p);
        } else if (oi.type == H5O_TYPE_DATASET) {
            (*v)[(*n)++] = p;
        } else {
            free(p);
        }
    }
    cli_free_list(names, k);
}


int h5in_walk(h5in *in, char ***paths)
{
    char **v = NULL;
    int n = 0, cap = 0;
    walk(in, "/", &v, &n, &cap);
    *paths = v ? v : xcalloc(1, sizeof(char *));
    return n;
}

/* ---- output ---- */

static hid_t lcpl(void)
{
    static hid_t p = -1;
    if (p < 0) {
        p = H5Pcreate(H5P_LINK_CREATE);
        H5Pset_create_intermediate_group(p, 1);
    }
    return p;
}

static hid_t gcpl(void)
{
    static hid_t p = -1;
    if (p < 0) {
        p = H5Pcreate(H5P_GROUP_CREATE);
        H5Pset_obj_track_times(p, 0);
        H5Pset_link_creation_order(p, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    }
    return p;
}

/* A write HDF5 refused: the system's reason when it left one (a full disk,
 * a file size limit), else what failed. */
static void __attribute__((noreturn)) write_failed(h5out *out, const char *what)
{
    if (errno == ENOSPC || errno == EFBIG || errno == EDQUOT || errno == EIO)
        die("%s: cannot write %s:", out->name, what);
    die("%s: cannot write %s", out->name, what);
}

h5out *h5out_create(const char *path, const char *kind, h5in *src)
{
    h5out *out = xcalloc(1, sizeof *out);
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    out->of = outfile_open(path, "an HDF5 file");
    out->name = xstrdup(out->of->name);
    if (!out->of->tmp) {
        /* In place (standard output, a FIFO, a device): HDF5 needs to seek,
         * so the file is built in memory and written on commit. */
        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
        H5Pset_fapl_core(fapl, 1 << 20, 0);
        char nm[64];
        snprintf(nm, sizeof nm, "cnn-stdout-%ld.h5", (long)getpid());
        H5Pset_alignment(fapl, H5IO_ALIGN_FROM, 64);
        out->f = H5Fcreate(nm, H5F_ACC_TRUNC, fcpl, fapl);
        H5Pclose(fapl);
    } else {
        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
        H5Pset_alignment(fapl, H5IO_ALIGN_FROM, 64);
        out->f = H5Fcreate(out->of->tmp, H5F_ACC_TRUNC, fcpl, fapl);
        H5Pclose(fapl);
    }
    H5Pclose(fcpl);
    if (out->f < 0)
        write_failed(out, "the HDF5 file");
    h5out_attr_str(out, "/", "kind", kind);
    (void)src;  /* every input's history is there (h5io_output_history) */
    char *hist = h5io_output_history(path);
    h5out_attr_str(out, "/", "history", hist);
    free(hist);
    return out;
}

void h5out_commit(h5out *out)
{
    errno = 0;
    if (H5Fflush(out->f, H5F_SCOPE_GLOBAL) < 0)
        write_failed(out, "the HDF5 file");
    if (!out->of->tmp) {
        ssize_t n = H5Fget_file_image(out->f, NULL, 0);
        if (n < 0)
            die("%s: cannot build the HDF5 file image", out->name);
        void *buf = xmalloc((size_t)n);
        if (H5Fget_file_image(out->f, buf, (size_t)n) < 0)
            die("%s: cannot build the HDF5 file image", out->name);
        H5Fclose(out->f);
        outfile_write(out->of, buf, (size_t)n);
        free(buf);
    } else if (H5Fclose(out->f) < 0) {
        write_failed(out, "the HDF5 file");
    }
    outfile_commit(out->of);
    free(out->name);
    free(out);
}

void h5out_group(h5out *out, const char *group)
{
    if (H5Lexists(out->f, group, H5P_DEFAULT) > 0)
        return;
    hid_t g = H5Gcreate2(out->f, group, lcpl(), gcpl(), H5P_DEFAULT);
    if (g < 0)
        die("%s: cannot create group '%s'", out->name, group);
    H5Gclose(g);
}

/* The creation properties of every dataset written: no time stamps (the
 * same run gives the same bytes); chunked when chunked is set (row
 * datasets, written in parts: chunks of about 1 MiB of whole rows) or
 * when --compress applies (cli_compress: numbers, not strings, of at
 * least a chunk's worth of 1,024 values), then HDF5's shuffle and deflate
 * filters at that level. Readers need nothing: HDF5 inflates on reading
 * (h5in_map_rows maps only unfiltered data and reads the rest). */
static hid_t dataset_dcpl(hid_t ft, int nd, const int64_t *dims, int chunked)
{
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(dcpl, 0);
    int64_t numel = shape_numel(nd, dims, INT64_MAX), row = 1;
    int compress = cli_compress > 0 && H5Tget_class(ft) != H5T_STRING && numel >= 1024;
    if (!nd || dims[0] <= 0 || (!chunked && !compress))
        return dcpl;
    hsize_t ch[TENSOR_MAXDIM];
    for (int i = 0; i < nd; i++) {
        ch[i] = dims[i] > 0 ? (hsize_t)dims[i] : 1;
        if (i)
            row *= dims[i] > 0 ? dims[i] : 1;
    }
    int64_t rows = (1 << 18) / row;
    if (rows < 1)
        rows = 1;
    if (rows < dims[0])
        ch[0] = (hsize_t)rows;
    H5Pset_chunk(dcpl, nd, ch);
    if (compress) {
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, (unsigned)cli_compress);
    }
    return dcpl;
}

static void write_plain(h5out *out, const char *dset, hid_t ft, hid_t mt, int nd,
                        const int64_t *dims, const void *data)
{
    hsize_t hd[TENSOR_MAXDIM];
    for (int i = 0; i < nd; i++)
        hd[i] = (hsize_t)dims[i];
    hid_t s = H5Screate_simple(nd, hd, NULL);
    hid_t dcpl = dataset_dcpl(ft, nd, dims, 0);
    hid_t d = H5Dcreate2(out->f, dset, ft, s, lcpl(), dcpl, H5P_DEFAULT);
    if (d < 0)
        die("%s: cannot create dataset '%s' (exists already?)", out->name, dset);
    if (shape_numel(nd, dims, INT64_MAX) > 0 &&
        H5Dwrite(d, mt, H5S_ALL, H5S_ALL, xfer(), data) < 0)
        write_failed(out, "a dataset");
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(s);
}

/* Every float a tool writes passes here first: a NaN or an infinity is
 * refused (the tool dies, so no output is left) with one line naming the
 * output, the dataset and where. The tools that can say more (which image,
 * which logit) check their results before this. */
static void refuse_nonfinite(h5out *out, const char *dset, hid_t mt, int nd, const int64_t *dims,
                             int64_t start, const void *data)
{
    int f32 = H5Tequal(mt, H5T_NATIVE_FLOAT) > 0, f64 = !f32 && H5Tequal(mt, H5T_NATIVE_DOUBLE) > 0;
    int64_t n = shape_numel(nd, dims, INT64_MAX), i = -1;
    if (out->keep_nonfinite || n <= 0 || (!f32 && !f64))
        return;
    if (f32) {
        i = finite_first_bad(data, n);
    } else {
        for (int64_t k = 0; k < n && i < 0; k++)
            if (!isfinite(((const double *)data)[k]))
                i = k;
    }
    if (i < 0)
        return;
    double v = f32 ? ((const float *)data)[i] : ((const double *)data)[i];
    int64_t row = nd ? n / dims[0] : n;
    die("%s: refusing to write %s to '%s' (row %lld, element %lld): the result is not finite",
        out->name, isnan(v) ? "a NaN" : "an infinity", dset,
        (long long)(start + (nd ? i / row : 0)), (long long)(nd ? i % row : 0));
}

void h5out_write(h5out *out, const char *dset, const tensor *t)
{
    refuse_nonfinite(out, dset, H5T_NATIVE_FLOAT, t->ndim, t->dims, 0, t->data);
    write_plain(out, dset, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, t->ndim, t->dims, t->data);
}

void h5out_write_i64(h5out *out, const char *dset, int64_t n, const int64_t *v)
{
    write_plain(out, dset, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &n, v);
}

void h5out_write_i32(h5out *out, const char *dset, int64_t n, const int32_t *v)
{
    write_plain(out, dset, H5T_STD_I32LE, H5T_NATIVE_INT32, 1, &n, v);
}

void h5out_write_i64n(h5out *out, const char *dset, int ndim, const int64_t *dims,
                      const int64_t *v)
{
    write_plain(out, dset, H5T_STD_I64LE, H5T_NATIVE_INT64, ndim, dims, v);
}

void h5out_write_i32n(h5out *out, const char *dset, int ndim, const int64_t *dims,
                      const int32_t *v)
{
    write_plain(out, dset, H5T_STD_I32LE, H5T_NATIVE_INT32, ndim, dims, v);
}

void h5out_write_strings(h5out *out, const char *dset, int n, char *const *v)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    int64_t dims = n;
    write_plain(out, dset, t, t, 1, &dims, v);
    H5Tclose(t);
}

static void create_chunked(h5out *out, const char *dset, hid_t ft, int nd, const int64_t *dims)
{
    hsize_t hd[TENSOR_MAXDIM] = { 0 };
    for (int i = 0; i < nd; i++)
        hd[i] = (hsize_t)dims[i];
    hid_t s = H5Screate_simple(nd, hd, NULL);
    hid_t dcpl = dataset_dcpl(ft, nd, dims, 1);
    hid_t d = H5Dcreate2(out->f, dset, ft, s, lcpl(), dcpl, H5P_DEFAULT);
    if (d < 0)
        die("%s: cannot create dataset '%s'", out->name, dset);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(s);
}

void h5out_create_rows(h5out *out, const char *dset, int ndim, const int64_t *dims)
{
    create_chunked(out, dset, H5T_IEEE_F32LE, ndim, dims);
}

void h5out_create_ints(h5out *out, const char *dset, int64_t n, int bits)
{
    create_chunked(out, dset, bits == 64 ? H5T_STD_I64LE : H5T_STD_I32LE, 1, &n);
}

static void write_rows(h5out *out, const char *dset, hid_t mt, int64_t start, int nd,
                       const int64_t *dims, const void *data)
{
    hid_t d = H5Dopen2(out->f, dset, H5P_DEFAULT);
    if (d < 0)
        die("%s: no dataset '%s' to write rows to", out->name, dset);
    hid_t fs = H5Dget_space(d);
    hsize_t hd[TENSOR_MAXDIM], off[TENSOR_MAXDIM] = { 0 };
    for (int i = 0; i < nd; i++)
        hd[i] = (hsize_t)dims[i];
    off[0] = (hsize_t)start;
    if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, hd, NULL) < 0 ||
        H5Sselect_valid(fs) <= 0)
        die("%s: rows %lld.. do not fit dataset '%s'", out->name, (long long)start, dset);
    hid_t ms = H5Screate_simple(nd, hd, NULL);
    if (dims[0] > 0 && H5Dwrite(d, mt, ms, fs, xfer(), data) < 0)
        write_failed(out, "rows of a dataset");
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
}

void h5out_create_rows_typed(h5out *out, const char *dset, hid_t ft, int ndim,
                             const int64_t *dims)
{
    create_chunked(out, dset, ft, ndim, dims);
}

void h5out_write_rows_raw(h5out *out, const char *dset, hid_t mt, int64_t start, int ndim,
                          const int64_t *dims, const void *data)
{
    refuse_nonfinite(out, dset, mt, ndim, dims, start, data);
    write_rows(out, dset, mt, start, ndim, dims, data);
}

void h5out_write_rows(h5out *out, const char *dset, int64_t start, const tensor *rows)
{
    refuse_nonfinite(out, dset, H5T_NATIVE_FLOAT, rows->ndim, rows->dims, start, rows->data);
    write_rows(out, dset, H5T_NATIVE_FLOAT, start, rows->ndim, rows->dims, rows->data);
}

void h5out_write_i64_rows(h5out *out, const char *dset, int64_t start, int64_t n,
                          const int64_t *v)
{
    write_rows(out, dset, H5T_NATIVE_INT64, start, 1, &n, v);
}

void h5out_write_i32_rows(h5out *out, const char *dset, int64_t start, int64_t n,
                          const int32_t *v)
{
    write_rows(out, dset, H5T_NATIVE_INT32, start, 1, &n, v);
}

static hid_t attr_target(h5out *out, const char *obj)
{
    hid_t o = H5Oopen(out->f, obj, H5P_DEFAULT);
    if (o < 0)
        die("%s: no object '%s' for an attribute", out->name, obj);
    return o;
}

static void put_attr(h5out *out, const char *obj, const char *name, hid_t ft, hid_t mt,
                     hid_t space, const void *v)
{
    hid_t o = attr_target(out, obj);
    if (H5Aexists(o, name) > 0)
        H5Adelete(o, name);
    hid_t a = H5Acreate2(o, name, ft, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, mt, v) < 0)
        die("%s: cannot write attribute '%s' of '%s'", out->name, name, obj);
    H5Aclose(a);
    H5Oclose(o);
}

void h5out_attr_str(h5out *out, const char *obj, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t s = H5Screate(H5S_SCALAR);
    put_attr(out, obj, name, t, t, s, &v);
    H5Sclose(s);
    H5Tclose(t);
}

void h5out_attr_f64(h5out *out, const char *obj, const char *name, int n, const double *v)
{
    hsize_t hn = (hsize_t)n;
    hid_t s = H5Screate_simple(1, &hn, NULL);
    put_attr(out, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, s, v);
    H5Sclose(s);
}

void h5out_attr_i64(h5out *out, const char *obj, const char *name, int n, const int64_t *v)
{
    hsize_t hn = (hsize_t)n;
    hid_t s = H5Screate_simple(1, &hn, NULL);
    put_attr(out, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, s, v);
    H5Sclose(s);
}

void h5out_carry(h5out *out, h5in *in, int64_t a, int64_t b)
{
    int64_t n = b - a;
    if (in && h5in_has(in, "/ids")) {
        int64_t *ids = h5in_read_i64(in, "/ids", a, n);
        h5out_write_i64(out, "/ids", n, ids);
        free(ids);
    } else {
        int64_t *ids = xmalloc((size_t)(n + 1) * sizeof *ids);
        for (int64_t i = 0; i < n; i++)
            ids[i] = a + i;
        h5out_write_i64(out, "/ids", n, ids);
        free(ids);
    }
    if (in && h5in_has(in, "/labels")) {
        int32_t *l = h5in_read_i32(in, "/labels", a, n);
        h5out_write_i32(out, "/labels", n, l);
        free(l);
    }
    if (in)
        h5out_carry_classes(out, in);
    h5out_carry_paths(out, in, a, b);
}

void h5out_carry_paths(h5out *out, h5in *in, int64_t a, int64_t b)
{
    /* Not over names the tool wrote itself (cnn-perturb's). */
    if (!in || !h5in_has(in, "/paths") || H5Lexists(out->f, "/paths", H5P_DEFAULT) > 0)
        return;
    int np;
    char **p = h5in_read_strings(in, "/paths", &np);
    if (a >= 0 && a <= b && b <= np)
        h5out_write_strings(out, "/paths", (int)(b - a), p + a);
    cli_free_list(p, np);
}

void h5out_carry_classes(h5out *out, h5in *in)
{
    if (!h5in_has(in, "/classes"))
        return;
    int nc;
    char **c = h5in_read_strings(in, "/classes", &nc);
    h5out_write_strings(out, "/classes", nc, c);
    cli_free_list(c, nc);
}
