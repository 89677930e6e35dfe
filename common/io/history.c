#include "io/history.h"
#include "base/cli.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* "2026-12-03T22:00:00Z": the stamp cli_init puts first on a line. */
static size_t stamp_len(const char *line)
{
    size_t n = strspn(line, "0123456789-T:Z");
    return n >= 10 && line[n - 1] == 'Z' && (line[n] == ' ' || !line[n]) ? n : 0;
}

int history_words(const char *s, char ***out)
{
    char **w = NULL;
    int n = 0;
    char *buf = xmalloc(strlen(s) + 1);
    while (*s) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        size_t k = 0;
        while (*s && *s != ' ' && *s != '\t') {
            if (*s == '\'') {
                for (s++; *s && *s != '\''; s++)
                    buf[k++] = *s;
                s += *s == '\'';
            } else if (*s == '\\' && s[1]) {
                buf[k++] = s[1];
                s += 2;
            } else {
                buf[k++] = *s++;
            }
        }
        buf[k] = '\0';
        w = xrealloc(w, (size_t)(n + 1) * sizeof *w);
        w[n++] = xstrdup(buf);
    }
    free(buf);
    *out = w;
    return n;
}

/* Add the folder of word w to dirs when w looks like a path below the
 * working folder (relative, with a '/', not starting with "../"). */
static void add_dir(char ***dirs, int *nd, const char *w)
{
    const char *eq = w[0] == '-' ? strchr(w, '=') : NULL;
    if (eq)
        w = eq + 1;
    const char *slash = strrchr(w, '/');
    if (w[0] == '-' || w[0] == '/' || !slash || slash == w || !strncmp(w, "../", 3) ||
        strstr(w, "/../"))
        return;
    char *d = xstrdup(w);
    d[slash - w] = '\0';
    for (int i = 0; i < *nd; i++)
        if (!strcmp((*dirs)[i], d)) {
            free(d);
            return;
        }
    *dirs = xrealloc(*dirs, (size_t)(*nd + 1) * sizeof **dirs);
    (*dirs)[(*nd)++] = d;
}

static void put_word(FILE *f, const char *w)
{
    char *q = xmalloc(4 * strlen(w) + 3);
    cli_shell_quote(q, w);
    fprintf(f, " %s", q);
    free(q);
}

void history_script(FILE *f, const char *hist, const char *what)
{
    char *h = xstrdup(hist ? hist : "");
    char **dirs = NULL;
    int nd = 0, ncmd = 0;
    for (char *line = h; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char save = line[len];
        line[len] = '\0';
        char **w;
        int nw = line[0] == '#' ? 0 : history_words(line + stamp_len(line), &w);
        for (int i = 1; i < nw; i++)
            add_dir(&dirs, &nd, w[i]);
        ncmd += nw > 0;
        if (nw)
            cli_free_list(w, nw);
        line[len] = save;
        line += len + (save == '\n');
    }
    fputs("#!/bin/sh\n", f);
    fputs("# How ", f);
    fputs(what, f);
    fputs(" was made (cnn-info --history): the commands that made its inputs,\n"
          "# each once and in the order they ran, then its own. Run it in the folder\n"
          "# they ran in (the paths are as they were given), the cnntools on PATH;\n"
          "# the commands of inputs made in another folder (data/) are not run.\n"
          "set -e\n", f);
    if (!ncmd)
        fputs("# (no history stored)\n", f);
    if (nd) {
        fputs("mkdir -p", f);
        for (int i = 0; i < nd; i++)
            put_word(f, dirs[i]);
        fputc('\n', f);
    }
    for (char *line = h, *save = NULL; (line = strtok_r(line, "\n", &save)); line = NULL) {
        if (line[0] == '#') {  /* an input's command, given (made elsewhere) */
            fprintf(f, "# given, not run: %s\n", line + 1);
            continue;
        }
        size_t s = stamp_len(line);
        const char *cmd = line + s;
        while (*cmd == ' ')
            cmd++;
        if (!*cmd)
            continue;
        if (s)
            fprintf(f, "# %.*s\n", (int)s, line);
        fprintf(f, "%s\n", cmd);
    }
    cli_free_list(dirs, nd);
    free(h);
}
