/* keraszip: zip members into memory (keraszip.h). */
#include "import/keraszip.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <zip.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/file.h"

struct kzip {
    zip_t *z;
    char *path;
};

kzip *kzip_open(const char *path)
{
    int err = 0;
    cli_note_input(path);
    zip_t *z = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &err);
    if (!z) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, err);
        const char *msg = zip_error_strerror(&ze);
        /* copy before the error is freed */
        char buf[256];
        snprintf(buf, sizeof buf, "%s", msg);
        zip_error_fini(&ze);
        die("%s: not a readable zip archive (%s)", path, buf);
    }
    kzip *k = xcalloc(1, sizeof *k);
    k->z = z;
    k->path = xstrdup(path);
    return k;
}

unsigned char *kzip_read(kzip *k, const char *name, size_t max, size_t *len)
{
    zip_stat_t st;
    zip_stat_init(&st);
    zip_int64_t idx = zip_name_locate(k->z, name, 0);
    if (idx < 0)
        return NULL;
    if (zip_stat_index(k->z, (zip_uint64_t)idx, 0, &st) || !(st.valid & ZIP_STAT_SIZE))
        die("%s: member '%s': cannot read its header", k->path, name);
    if (st.size > max)
        die("%s: member '%s' claims %llu bytes (more than the %zu allowed)", k->path, name,
            (unsigned long long)st.size, max);
    zip_file_t *f = zip_fopen_index(k->z, (zip_uint64_t)idx, 0);
    if (!f)
        die("%s: member '%s': %s", k->path, name, zip_strerror(k->z));
    unsigned char *buf = xmalloc((size_t)st.size + 1);
    zip_int64_t got = st.size ? zip_fread(f, buf, st.size) : 0;
    unsigned char extra;
    /* Reading past the end makes libzip check the CRC of the whole member. */
    zip_int64_t more = got == (zip_int64_t)st.size ? zip_fread(f, &extra, 1) : -1;
    if (got != (zip_int64_t)st.size || more != 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", zip_file_strerror(f));
        zip_fclose(f);
        free(buf);
        die("%s: member '%s' is corrupt (%s)", k->path, name,
            got < 0 || more < 0 ? msg : "its size differs from its header");
    }
    if (zip_fclose(f))
        die("%s: member '%s' is corrupt (CRC mismatch)", k->path, name);
    buf[st.size] = '\0';
    *len = (size_t)st.size;
    return buf;
}

void kzip_close(kzip *k)
{
    if (!k)
        return;
    zip_discard(k->z);
    free(k->path);
    free(k);
}
