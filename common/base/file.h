/* file: whole-file reads, the one home for them (a text file's lines, a
 * binary file); the files a tool read (so an output is never one of them);
 * what an output path names, checked before any work. */
#ifndef CNN_FILE_H
#define CNN_FILE_H

#include <stddef.h>

/* The one whole-file reader: the file at path in memory, NUL-terminated
 * after its last byte (malloc'd; *len, when not NULL, gets the length).
 * Regular files, FIFOs and devices alike are read to the end. Dies with
 * one line naming the file when it holds more than max bytes (a regular
 * file is refused from its size, before anything is read) or a read fails;
 * when it cannot be opened (missing, unreadable, a directory) too, unless
 * flags has CLI_READ_OR_NULL: then NULL with errno set. The file is noted
 * as an input (cli_note_input). */
enum { CLI_READ_OR_NULL = 1 };
void *cli_read_file(const char *path, size_t max, int flags, size_t *len);

/* Remember a file the tool reads (its device and inode): io's output opener
 * refuses to replace it. cli_note_input_fd for an open descriptor
 * (standard input). Paths that cannot be stat'ed are ignored. */
void cli_note_input(const char *path);
void cli_note_input_fd(int fd);
/* 1 when (dev, ino) is a regular file noted as an input. */
int cli_is_input(unsigned long long dev, unsigned long long ino);

/* The path a symbolic link finally names (links followed one by one, a
 * relative target taken from the link's folder; the last one may dangle);
 * path itself when it is no link. malloc'd. Dies on a loop. */
char *cli_resolve_link(const char *path);

/* Check -o before any work (cli_common_opt does, on the option): "" is a
 * usage error; an existing directory, a missing or unwritable folder, an
 * existing file that cannot be written are errors naming the path. NULL and
 * "-" (standard output) pass. */
void cli_check_output(const char *path);
/* Refuse, before any work, to write what ("an HDF5 file", "a PNG") to
 * standard output (path NULL or "-") when that is a terminal: a usage
 * error (outfile_open gives the same one when the output is opened). */
void cli_check_stdout(const char *path, const char *what);
/* Flush printed text; a write error (a full disk, a closed pipe) dies
 * with "<stdout>: cannot write: REASON". */
void cli_flush_stdout(void);
/* Lines of a text file (trailing CR/LF stripped, blank last line dropped;
 * NULL-terminated); dies when unreadable, not text or over 256 MiB. Free
 * with cli_free_list. */
char **cli_read_lines(const char *path, int *n);

#endif
