/* file: whole-file reads, the one home for them (a text file's lines, a
 * binary file); the files a tool read (so an output is never one of them);
 * what an output path names, checked before any work. */
#ifndef CNN_FILE_H
#define CNN_FILE_H

#include <stddef.h>

/* The first max bytes of a small file, NUL-terminated (malloc'd): *more
 * (when not NULL) is set when the file is longer. NULL with errno set when
 * it cannot be opened or read, or is a directory. */
char *cli_read_file(const char *path, size_t max, int *more);

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
/* Whole file into memory (NUL-terminated), refusing files over max bytes.
 * *len gets the size. Dies naming the file. */
unsigned char *cli_slurp(const char *path, size_t max, size_t *len);

/* Lines of a text file (trailing CR/LF stripped, blank last line dropped;
 * NULL-terminated); dies when unreadable, not text or over 256 MiB. Free
 * with cli_free_list. */
char **cli_read_lines(const char *path, int *n);

#endif
