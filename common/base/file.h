/* file: whole-file reads, the one home for them (a text file's lines, a
 * binary file). */
#ifndef CNN_FILE_H
#define CNN_FILE_H

#include <stddef.h>

/* The first max bytes of a small file, NUL-terminated (malloc'd): *more
 * (when not NULL) is set when the file is longer. NULL with errno set when
 * it cannot be opened or read, or is a directory. */
char *cli_read_file(const char *path, size_t max, int *more);

/* Whole file into memory (NUL-terminated), refusing files over max bytes.
 * *len gets the size. Dies naming the file. */
unsigned char *cli_slurp(const char *path, size_t max, size_t *len);

/* Lines of a text file (trailing CR/LF stripped, blank last line dropped;
 * NULL-terminated); dies when unreadable, not text or over 256 MiB. Free
 * with cli_free_list. */
char **cli_read_lines(const char *path, int *n);

#endif
