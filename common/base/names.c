/* names: one rule for finding a layer by name (names.h). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"
#include "base/names.h"

/* Node name a starts with module name b and a separator ("layer4." or
 * "layer4/"), case ignored. */
static int in_module(const char *a, const char *b)
{
    size_t l = strlen(b);
    return l && !strncasecmp(a, b, l) && (a[l] == '.' || a[l] == '/');
}

int names_lookup(char *const *names, int n, const char *name, int *ambiguous)
{
    if (ambiguous)
        *ambiguous = 0;
    for (int k = 0; k < n; k++)
        if (!strcmp(names[k], name))
            return k;
    int found = -1;
    for (int k = 0; k < n; k++)
        if (!strcasecmp(names[k], name)) {
            if (found >= 0) {
                if (ambiguous)
                    *ambiguous = 1;
                return -1;   /* Conv1 and conv1 both exist */
            }
            found = k;
        }
    if (found >= 0)
        return found;
    for (int k = n - 1; k >= 0; k--)   /* the module's output: its last entry */
        if (in_module(names[k], name))
            return k;
    return -1;
}

/* Edit distance of a and b ignoring case (names are short; the cost is
 * capped at 63 characters). */
static int edit_distance(const char *a, size_t alen, const char *b)
{
    int la = (int)alen, lb = (int)strlen(b);
    if (la > 63) la = 63;
    if (lb > 63) lb = 63;
    int d[64];
    for (int j = 0; j <= lb; j++)
        d[j] = j;
    for (int i = 1; i <= la; i++) {
        int diag = d[0];
        d[0] = i;
        for (int j = 1; j <= lb; j++) {
            int up = d[j];
            int sub = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            int best = up + 1 < d[j - 1] + 1 ? up + 1 : d[j - 1] + 1;
            d[j] = sub < best ? sub : best;
            diag = up;
        }
    }
    return d[lb];
}

/* Append the first wl characters of word to "a b c" in buf unless they
 * are there already. */
static void list_add(char *buf, size_t len, const char *word, size_t wl)
{
    for (const char *p = buf; *p;) {
        size_t tl = strcspn(p, " ");
        if (tl == wl && !strncmp(p, word, wl))
            return;
        p += tl + (p[tl] == ' ');
    }
    size_t k = strlen(buf);
    if (k + wl + 2 < len)
        snprintf(buf + k, len - k, "%s%.*s", k ? " " : "", (int)wl, word);
}

/* The names of the nodes starting with the first plen characters of name
 * (case ignored), each shortened to the module that follows the prefix
 * ("layer4.1.conv2" -> "layer4" for prefix "lay"), without repeats. */
static void prefix_list(char *const *names, int n, const char *name, size_t plen, char *buf,
                        size_t len)
{
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        const char *nm = names[i];
        if (strncasecmp(nm, name, plen))
            continue;
        size_t wl = plen + strcspn(nm + plen, "./");
        list_add(buf, len, nm, wl);
    }
}

void names_missing(const char *f, char *const *names, int n, const char *name)
{
    int amb;
    names_lookup(names, n, name, &amb);
    char buf[4096];
    if (n <= 0)
        die("%s: no layer '%s' (layers: none)", f, name);
    if (amb) {
        buf[0] = '\0';
        for (int k = 0; k < n; k++)
            if (!strcasecmp(names[k], name))
                list_add(buf, sizeof buf, names[k], strlen(names[k]));
        die("%s: layer '%s' is ambiguous (layers: %s)", f, name, buf);
    }
    /* Every name when they fit on a line, else those sharing the longest
     * prefix with name, else the closest one. */
    size_t total = 0;
    for (int k = 0; k < n; k++)
        total += strlen(names[k]) + 1;
    if (total < 400) {
        buf[0] = '\0';
        for (int k = 0; k < n; k++)
            list_add(buf, sizeof buf, names[k], strlen(names[k]));
        die("%s: no layer '%s' (layers: %s)", f, name, buf);
    }
    size_t plen = 0;
    for (int k = 0; k < n; k++) {
        const char *nm = names[k];
        size_t l = 0;
        while (name[l] && tolower((unsigned char)nm[l]) == tolower((unsigned char)name[l]))
            l++;
        if (l > plen)
            plen = l;
    }
    /* The closest name or module ("layer4" of "layer4.0.conv1"). */
    int best = -1, bd = 1 << 30;
    size_t bl = 0;
    for (int k = 0; k < n; k++)
        for (size_t l = 1; names[k][0]; l++) {
            char c = names[k][l];
            if (!c || c == '.' || c == '/') {
                int d = edit_distance(names[k], l, name);
                if (d < bd)
                    bd = d, best = k, bl = l;
            }
            if (!c)
                break;
        }
    prefix_list(names, n, name, plen, buf, sizeof buf);
    /* a typo (the closest name or module within two edits) is named too */
    if (plen && best >= 0 && bd <= 2)
        die("%s: no layer '%s' (layers starting '%.*s': %s; did you mean '%.*s'?)", f, name,
            (int)plen, name, buf, (int)bl, names[best]);
    if (plen)
        die("%s: no layer '%s' (layers starting '%.*s': %s)", f, name, (int)plen, name, buf);
    die("%s: no layer '%s' (did you mean '%.*s'? modules: %s)", f, name, (int)bl,
        best >= 0 ? names[best] : "", buf);
}
