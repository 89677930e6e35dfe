/* progress: a bar on stderr while long work runs. */
#ifndef CNN_PROGRESS_H
#define CNN_PROGRESS_H

#include <stdint.h>

/* Progress bar on stderr, drawn only when stderr is a terminal and not
 * --quiet. */
typedef struct progress progress;
progress *progress_start(const char *what, int64_t total);
void progress_update(progress *p, int64_t done);
void progress_end(progress *p);

/* Seconds on the monotonic clock (for durations). */
double wall_seconds(void);

#endif
