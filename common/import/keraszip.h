/* keraszip: the members of a zip archive, such as a Keras 3 .keras file
 * (config.json, metadata.json, model.weights.h5), read whole into memory
 * with libzip: nothing is extracted to disk. Every failure dies with one
 * line naming the archive (and the member). */
#ifndef CNN_KERASZIP_H
#define CNN_KERASZIP_H

#include <stddef.h>

typedef struct kzip kzip;

/* Open for reading; dies when the file is not a readable zip archive. */
kzip *kzip_open(const char *path);
/* Member `name` whole, NUL-terminated (*len excludes the NUL); NULL when
 * the archive has no such member. Dies when it claims more than max bytes
 * or does not inflate to what its header says (CRC included). */
unsigned char *kzip_read(kzip *z, const char *name, size_t max, size_t *len);
void kzip_close(kzip *z);

#endif
