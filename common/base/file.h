/* file: small whole-file reads. */
#ifndef CNN_FILE_H
#define CNN_FILE_H

#include <stddef.h>

/* The first max bytes of a small file, NUL-terminated (malloc'd): *more
 * (when not NULL) is set when the file is longer. NULL with errno set when
 * it cannot be opened or read, or is a directory. */
char *cli_read_file(const char *path, size_t max, int *more);

#endif
