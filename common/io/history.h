/* history: a file's provenance (the root "history" of an HDF5 file, the
 * tEXt "history" of a PNG; what goes in it: io/h5io.h,
 * h5io_output_history) as a POSIX sh script that replays it. */
#ifndef CNN_HISTORY_H
#define CNN_HISTORY_H

#include <stdio.h>

/* Print hist (one "STAMP COMMAND" a line, inputs' commands first) as a
 * script: "#!/bin/sh", a comment naming what (the file), "set -e", one
 * "mkdir -p" for the folders of the relative paths the commands name (so
 * that it runs in an empty folder holding the inputs), then each command
 * as stored, after a comment with its time stamp. */
void history_script(FILE *f, const char *hist, const char *what);
/* The shell words of one stored command line (its stamp, if any, is a word
 * too), unquoted ('...' and backslashes); "|", "<" and ">" come as words
 * of their own. Returns the count; free with cli_free_list. */
int history_words(const char *line, char ***out);

#endif
