/* outfile: the one way a tool opens an output (HDF5, PNG, HTML).
 *
 * A regular file (or a path that does not exist yet) is written to a
 * temporary beside it, "NAME.tmp.PID", then fsync'ed and renamed over NAME
 * (and the folder fsync'ed): readers see the old file or the whole new one,
 * never a part, and a failed run leaves neither output nor temporary. A
 * symbolic link is followed to what it names, and that is replaced the
 * same way (the link stays). A path that is one of the tool's inputs (same
 * device and inode, cli_note_input) is refused. FIFOs, character devices,
 * sockets and "-" (standard output) are written in place: no temporary, no
 * rename. Temporaries of processes that no longer exist (a run killed with
 * SIGKILL) are removed when the next run opens the same output. */
#ifndef CNN_OUTFILE_H
#define CNN_OUTFILE_H

#include <stddef.h>
#include <stdio.h>

typedef struct outfile {
    char *name;    /* for messages: the path as given, or "<stdout>" */
    char *target;  /* the file renamed over (symlinks resolved); NULL in place */
    char *tmp;     /* the temporary being written; NULL in place */
    int fd;        /* the temporary's, or the FIFO's / device's / stdout's (a dup) */
    FILE *stream;  /* outfile_stream's */
} outfile;

/* Open path (NULL or "-" = standard output). what ("an HDF5 file", "a
 * PNG") is refused on a terminal when not NULL. Dies with one line naming
 * the path. */
outfile *outfile_open(const char *path, const char *what);
/* The output as a stdio stream (opened once, closed by commit). */
FILE *outfile_stream(outfile *o);
/* Write all of buf (dies on a short write: full disk, closed pipe). */
void outfile_write(outfile *o, const void *buf, size_t n);
/* Finish: flush, fsync, close and rename into place (or close in place),
 * then free o. Dies on any failure, leaving no output. */
void outfile_commit(outfile *o);

#endif
