/* actfile: finding a layer of an activations file (actfile.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cli.h"
#include "base/names.h"
#include "io/actfile.h"

char *actfile_layer(h5in *in, const char *layer, int outputs)
{
    char **names = NULL;
    int n = h5in_has(in, "/act") ? h5in_list(in, "/act", &names) : 0;
    int nact = n;
    static const char *const outs[] = { "logits", "probs" };
    for (int k = 0; outputs && k < 2; k++) {
        char path[16];
        snprintf(path, sizeof path, "/%s", outs[k]);
        if (h5in_has(in, path)) {
            names = xrealloc(names, (size_t)(n + 1) * sizeof *names);
            names[n++] = xstrdup(outs[k]);
        }
    }
    int i = names_lookup(names, n, layer, NULL);
    if (i < 0)
        names_missing(in->name, names, n, layer);
    size_t len = strlen(names[i]) + 8;
    char *path = xmalloc(len);
    snprintf(path, len, i < nact ? "/act/%s" : "/%s", names[i]);
    cli_free_list(names, n);
    return path;
}
