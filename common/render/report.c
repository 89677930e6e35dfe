#include "render/report.h"
#include "render/display.h"
#include "base/cli.h"
#include "io/history.h"
#include "io/imageio.h"
#include "io/outfile.h"
#include "base/tensor.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_TITLE "cnntools report"
#define NOT_BUILT "needs the pretrained ImageNet models; see README.md"
/* Above this, page and figures together, the page is too heavy for a phone
 * (cnn-render html warns; pipelines/check-report.sh fails). */
#define MAX_BYTES 6000000

/* ---- small text helpers --------------------------------------------- */

/* HTML-escape s (text and attribute values alike). */
static void put_esc(FILE *f, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
}

/* A relative path as a URL: every byte but unreserved ones and '/' is
 * percent-encoded (spaces, '#', '?', '%', non-ASCII UTF-8). */
static void put_url(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (isalnum(*p) || strchr("-._~/", *p))
            fputc(*p, f);
        else
            fprintf(f, "%%%02X", *p);
}

/* The whole of a small text file (malloc'd, NUL-terminated); NULL with errno
 * set when it cannot be read; dies past 64 MiB. */
static char *slurp(const char *path)
{
    return cli_read_file(path, (size_t)1 << 26, CLI_READ_OR_NULL, NULL);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

static int file_exists(const char *path)
{
    struct stat st;
    return !stat(path, &st) && S_ISREG(st.st_mode);
}

static const char *ext_of(const char *path)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    return dot && (!slash || dot > slash) ? dot + 1 : "";
}

/* ---- the definition ------------------------------------------------- */

enum item_kind { IT_SECTION, IT_TEXT, IT_FIGURE };

typedef struct item {
    enum item_kind kind;
    int line, optional, video;
    char *id, *text;     /* section id and title; paragraph; figure path */
} item;

typedef struct report {
    const char *def;     /* for messages */
    char *title;
    item *items;
    int n, cap, nsections;
} report;

static void add_item(report *r, enum item_kind k, int line, char *id, char *text)
{
    if (r->n == r->cap)
        r->items = xrealloc(r->items, (size_t)(r->cap = r->cap ? 2 * r->cap : 32) * sizeof *r->items);
    r->items[r->n++] = (item){ k, line, 0, 0, id, text };
}

static int valid_id(const char *s)
{
    if (!isalpha((unsigned char)*s))
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
            return 0;
    return 1;
}

static void parse_section(report *r, int line, char *args)
{
    char *id = args, *title = args + strcspn(args, " \t");
    if (*title)
        *title++ = '\0';
    title = trim(title);
    if (!*id || !*title)
        die("%s:%d: 'section' needs an ID and a title (section ID TITLE...)", r->def, line);
    if (!valid_id(id))
        die("%s:%d: section ID '%s' is not a letter followed by letters, digits, '-' or '_'",
            r->def, line, id);
    for (int i = 0; i < r->n; i++)
        if (r->items[i].kind == IT_SECTION && !strcmp(r->items[i].id, id))
            die("%s:%d: section ID '%s' is already used on line %d", r->def, line, id,
                r->items[i].line);
    add_item(r, IT_SECTION, line, xstrdup(id), xstrdup(title));
    r->nsections++;
}

static void parse_figure(report *r, int line, char *path, int optional)
{
    if (!*path)
        die("%s:%d: 'figure' needs a path (relative to the page's folder)", r->def, line);
    if (path[0] == '/' || strstr(path, "://"))
        die("%s:%d: %s: figure paths are relative to the page's folder (no absolute paths "
            "or URLs)", r->def, line, path);
    const char *e = ext_of(path);
    int video = !strcasecmp(e, "mp4") || !strcasecmp(e, "webm");
    if (!video && strcasecmp(e, "png") && strcasecmp(e, "gif") && strcasecmp(e, "jpg") &&
        strcasecmp(e, "jpeg") && strcasecmp(e, "svg") && strcasecmp(e, "webp"))
        die("%s:%d: %s: not a picture or a video (png, gif, jpg, svg, webp, mp4, webm)",
            r->def, line, path);
    add_item(r, IT_FIGURE, line, NULL, xstrdup(path));
    r->items[r->n - 1].optional = optional;
    r->items[r->n - 1].video = video;
}

static void parse_line(report *r, int line, char *s)
{
    s = trim(s);
    if (!*s || *s == '#')
        return;
    char *args = s + strcspn(s, " \t");
    if (*args)
        *args++ = '\0';
    args = trim(args);
    if (!strcmp(s, "title")) {
        if (r->title || r->n)
            die("%s:%d: 'title' comes once, before everything else", r->def, line);
        if (!*args)
            die("%s:%d: 'title' needs a text", r->def, line);
        r->title = xstrdup(args);
    } else if (!strcmp(s, "section")) {
        parse_section(r, line, args);
    } else if (!strcmp(s, "text")) {
        if (!*args)
            die("%s:%d: 'text' needs a text", r->def, line);
        add_item(r, IT_TEXT, line, NULL, xstrdup(args));
    } else if (!strcmp(s, "figure") || !strcmp(s, "figure?")) {
        parse_figure(r, line, args, s[6] == '?');
    } else {
        die("%s:%d: unknown directive '%s' (title, section, text, figure, figure?)", r->def,
            line, s);
    }
}

static void parse_def(report *r, const char *def)
{
    memset(r, 0, sizeof *r);
    r->def = def;
    char *buf = slurp(def);
    if (!buf)
        die("%s: cannot read report definition:", def);
    if (strlen(buf) == 0)
        die("%s: empty report definition (expected title, section, text, figure lines)", def);
    int line = 1;
    for (char *s = buf; s; line++) {
        char *nl = strchr(s, '\n');
        if (nl)
            *nl = '\0';
        parse_line(r, line, s);
        s = nl ? nl + 1 : NULL;
    }
    free(buf);
    if (!r->nsections)
        die("%s: no 'section' line (a report has at least one section)", def);
    if (!r->title)
        r->title = xstrdup(DEFAULT_TITLE);
}

static void free_report(report *r)
{
    for (int i = 0; i < r->n; i++) {
        free(r->items[i].id);
        free(r->items[i].text);
    }
    free(r->items);
    free(r->title);
}

/* ---- the page ------------------------------------------------------- */

static const char css[] =
    "  :root { --fg: #1d232b; --muted: #5b6572; --line: #d9dee5; --bg: #ffffff;\n"
    "          --panel: #f5f7fa; --accent: #1f5fa8; --warn: #8a5a00; --bad: #b3261e; }\n"
    "  * { box-sizing: border-box; }\n"
    "  body { margin: 0; color: var(--fg); background: var(--bg);\n"
    "         font: 16px/1.55 system-ui, -apple-system, \"Segoe UI\", \"DejaVu Sans\", sans-serif; }\n"
    "  header, nav, main, footer { max-width: 1100px; margin: 0 auto; padding: 0 24px; }\n"
    "  header { padding-top: 32px; border-bottom: 1px solid var(--line); }\n"
    "  h1 { font-size: 1.9rem; line-height: 1.25; margin: 0 0 16px; }\n"
    "  h2 { font-size: 1.4rem; margin: 40px 0 8px; padding-top: 8px;\n"
    "       border-top: 1px solid var(--line); }\n"
    "  a { color: var(--accent); }\n"
    "  nav h2 { border: 0; margin-top: 20px; font-size: 1.1rem; }\n"
    "  nav ol { columns: 2 280px; margin: 0; padding-left: 1.4em; }\n"
    "  figure { margin: 20px 0 28px; padding: 12px; background: var(--panel);\n"
    "           border: 1px solid var(--line); border-radius: 6px; }\n"
    "  figure img, figure video { display: block; max-width: 100%; height: auto;\n"
    "           margin: 0 auto; background: #fff; }\n"
    "  figcaption { margin-top: 8px; color: var(--fg); overflow-wrap: anywhere; }\n"
    "  .links { margin: 4px 0 0; font-size: 0.85em; color: var(--muted); overflow-wrap: anywhere; }\n"
    "  .fignum { font-weight: 600; }\n"
    "  .path { color: var(--muted); font-size: 0.85em; font-family: monospace; }\n"
    "  details { margin-top: 6px; font-size: 0.9em; }\n"
    "  summary { cursor: pointer; color: var(--muted); }\n"
    "  details h3 { font-size: 0.9em; margin: 8px 0 2px; color: var(--muted); }\n"
    "  pre { margin: 0; padding: 8px 10px; background: #fff; border: 1px solid var(--line);\n"
    "        border-radius: 4px; overflow-x: auto; font-size: 0.85em; line-height: 1.4; }\n"
    "  .not-built { padding: 18px; border: 2px dashed var(--warn); color: var(--warn);\n"
    "               background: #fffaf0; border-radius: 4px; text-align: center; }\n"
    "  img.broken, video.broken { min-width: 240px; min-height: 60px;\n"
    "               outline: 3px dashed var(--bad); }\n"
    "  .broken-note { color: var(--bad); font-weight: 600; text-align: center; }\n"
    "  footer { margin: 48px auto 32px; color: var(--muted); font-size: 0.85em;\n"
    "           border-top: 1px solid var(--line); padding-top: 12px; }\n"
    "  @media (max-width: 600px) {\n"
    "    header, nav, main, footer { padding: 0 10px; }\n"
    "    h1 { font-size: 1.45rem; } h2 { font-size: 1.2rem; margin-top: 28px; }\n"
    "    figure { margin: 14px 0 20px; padding: 6px; }\n"
    "  }\n";

/* Marks media that failed (class "broken", data-broken, a visible note) and
 * keeps the counts in #report-status and the page title. */
static const char script[] =
    "(function () {\n"
    "  var st = document.getElementById('report-status'), title = document.title;\n"
    "  var media = document.querySelectorAll('figure img, figure video');\n"
    "  if (location.hash === '#check')  /* pipelines/check-report.sh: load all now */\n"
    "    media.forEach(function (m) {\n"
    "      if (m.tagName === 'IMG') m.loading = 'eager';\n"
    "      else { m.preload = 'metadata'; m.load(); }\n"
    "    });\n"
    "  function state(m) {\n"
    "    if (m.tagName === 'IMG')\n"
    "      return !m.complete ? 'pending' : m.naturalWidth > 0 ? 'loaded' : 'broken';\n"
    "    if (m.error) return 'broken';\n"
    "    /* preload=none: nothing but the poster until played */\n"
    "    if (m.preload === 'none' && m.networkState === m.NETWORK_IDLE) return 'loaded';\n"
    "    return m.readyState >= 1 ? 'loaded' : 'pending';\n"
    "  }\n"
    "  function update() {\n"
    "    var n = { loaded: 0, broken: 0, pending: 0 };\n"
    "    media.forEach(function (m) {\n"
    "      var s = state(m);\n"
    "      n[s]++;\n"
    "      if (s === 'broken' && !m.classList.contains('broken')) {\n"
    "        m.classList.add('broken');\n"
    "        var src = decodeURI(m.getAttribute('src'));\n"
    "        m.setAttribute('data-broken', src);\n"
    "        var p = document.createElement('p');\n"
    "        p.className = 'broken-note';\n"
    "        p.textContent = 'failed to load: ' + src;\n"
    "        m.parentNode.insertBefore(p, m.nextSibling);\n"
    "      }\n"
    "    });\n"
    "    st.setAttribute('data-loaded', n.loaded);\n"
    "    st.setAttribute('data-broken', n.broken);\n"
    "    st.setAttribute('data-pending', n.pending);\n"
    "    st.setAttribute('data-view-width', window.innerWidth);\n"
    "    st.setAttribute('data-page-width', document.documentElement.scrollWidth);\n"
    "    st.textContent = st.getAttribute('data-figures') + ' figures, ' + n.loaded +\n"
    "      ' of ' + media.length + ' images loaded, ' + n.broken + ' broken, ' +\n"
    "      st.getAttribute('data-missing') + ' not built.';\n"
    "    document.title = title + (n.broken ? ' [' + n.broken + ' broken]' : '');\n"
    "    if (window.parent !== window) {  /* in check-report's phone-width frame */\n"
    "      var msg = { broken_list: [] };\n"
    "      [].forEach.call(st.attributes, function (a) { msg[a.name] = a.value; });\n"
    "      document.querySelectorAll('figure [data-broken]').forEach(function (m) {\n"
    "        msg.broken_list.push(m.getAttribute('data-broken'));\n"
    "      });\n"
    "      window.parent.postMessage(msg, '*');\n"
    "    }\n"
    "  }\n"
    "  media.forEach(function (m) {\n"
    "    ['load', 'error', 'loadedmetadata'].forEach(function (e) {\n"
    "      m.addEventListener(e, update);\n"
    "    });\n"
    "  });\n"
    "  window.addEventListener('load', update);\n"
    "  update();\n"
    "})();\n";

static void put_head(FILE *f, const report *r)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<meta name=\"generator\" content=\"cnn-render html (cnntools " CNN_VERSION ")\">\n"
          "<title>", f);
    put_esc(f, r->title);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<header>\n<h1>", css);
    put_esc(f, r->title);
    fputs("</h1>\n</header>\n<nav id=\"toc\">\n<h2>Contents</h2>\n<ol>\n", f);
    for (int i = 0; i < r->n; i++)
        if (r->items[i].kind == IT_SECTION) {
            fprintf(f, "<li><a href=\"#%s\">", r->items[i].id);
            put_esc(f, r->items[i].text);
            fputs("</a></li>\n", f);
        }
    fputs("</ol>\n</nav>\n<main>\n", f);
}

/* Caption file PATH.txt of a figure: line 1 the caption, then commands.
 * NULL when absent. */
static char *read_caption(const char *file)
{
    size_t n = strlen(file) + 5;
    char *cap = xmalloc(n);
    snprintf(cap, n, "%s.txt", file);
    char *s = slurp(cap);
    free(cap);
    return s;
}

static void put_pre(FILE *f, const char *heading, const char *text)
{
    fprintf(f, "<h3>%s</h3>\n<pre>", heading);
    put_esc(f, text);
    fputs("</pre>\n", f);
}

static char *figure_file(const char *base, const item *it)
{
    if (!strcmp(base, "."))
        return xstrdup(it->text);
    size_t n = strlen(base) + strlen(it->text) + 2;
    char *file = xmalloc(n);
    snprintf(file, n, "%s/%s", base, it->text);
    return file;
}

/* The caption (first line) and the details block: the caption file's
 * further lines, and the script that makes the figure again (its history,
 * cnn-info --history). */
static void put_caption(FILE *f, int num, const char *path, char *captext, const char *script)
{
    char *rest = captext ? strchr(captext, '\n') : NULL;
    if (rest)
        *rest++ = '\0';
    fprintf(f, "<figcaption><span class=\"fignum\">Figure %d.</span> ", num);
    put_esc(f, captext ? trim(captext) : "");
    fputs(" <span class=\"path\">", f);
    put_esc(f, path);
    fputs("</span></figcaption>\n", f);
    rest = rest ? trim(rest) : NULL;
    int has_rest = rest && *rest;
    if (!has_rest && !script)
        return;
    fputs("<details><summary>How it was made</summary>\n", f);
    if (has_rest)
        put_pre(f, "Commands (the pipeline rule)", rest);
    if (script) {
        fprintf(f, "<h3>The script that makes it again (its history: the commands of all its "
                   "inputs, then cnn-render&#39;s; <code>cnn-info --history</code>)</h3>\n"
                   "<pre id=\"fig-%d-script\">", num);
        put_esc(f, script);
        fputs("</pre>\n", f);
    }
    fputs("</details>\n", f);
}

/* Width and height of a PNG or GIF from its header (0 when unknown). */
static void media_size(const char *file, int *w, int *h)
{
    unsigned char b[24] = { 0 };
    FILE *f = fopen(file, "rb");
    size_t n = f ? fread(b, 1, sizeof b, f) : 0;
    if (f)
        fclose(f);
    *w = *h = 0;
    if (n >= 24 && !memcmp(b, "\x89PNG", 4)) {
        *w = (int)((unsigned)b[16] << 24 | (unsigned)b[17] << 16 | (unsigned)b[18] << 8 | b[19]);
        *h = (int)((unsigned)b[20] << 24 | (unsigned)b[21] << 16 | (unsigned)b[22] << 8 | b[23]);
    } else if (n >= 10 && !memcmp(b, "GIF8", 4)) {
        *w = b[6] | b[7] << 8;
        *h = b[8] | b[9] << 8;
    }
}

static long long file_bytes(const char *path)
{
    struct stat st;
    return stat(path, &st) ? 0 : (long long)st.st_size;
}

/* A video's poster frame: PATH.poster.png or, for X.mp4, X.png, when
 * there (malloc'd, relative to the page; NULL when none). */
static char *poster_of(const char *base, const char *rel)
{
    const char *e = ext_of(rel);
    size_t n = strlen(rel) + 16;
    char *cand[2] = { xmalloc(n), xmalloc(n) };
    snprintf(cand[0], n, "%s.poster.png", rel);
    snprintf(cand[1], n, "%.*spng", (int)(e - rel), rel);
    char *found = NULL;
    for (int i = 0; i < 2 && !found; i++) {
        item it = { .text = cand[i] };
        char *file = figure_file(base, &it);
        if (file_exists(file))
            found = xstrdup(cand[i]);
        free(file);
    }
    free(cand[0]);
    free(cand[1]);
    return found;
}

/* The display copy of a PNG (render/display) when one is made, else the
 * figure itself: the page-relative path to embed (malloc'd); *bytes gets
 * what a reader downloads for it. */
static char *shown_copy(const char *base, const char *rel, const display_opts *d,
                        long long *bytes)
{
    char *file = figure_file(base, &(item){ .text = (char *)rel });
    char *shown = strcasecmp(ext_of(rel), "png") ? NULL : display_copy(file, rel, d);
    if (shown) {
        char *df = display_path(file);
        *bytes = file_bytes(df);
        free(df);
    } else {
        *bytes = file_bytes(file);
        shown = xstrdup(rel);
    }
    free(file);
    return shown;
}

/* The picture or video, lazily loaded (its size given, so the page does
 * not jump as they come), a picture linked to its figure file; returns the
 * bytes a reader downloads when it is shown: the picture (its display copy
 * when there is one), or a video's poster (preload="none": the video
 * itself comes when played). */
static long long put_media(FILE *f, const item *it, const char *base, const char *file,
                           const char *alt, const display_opts *d)
{
    long long bytes = 0;
    if (it->video) {
        char *poster = poster_of(base, it->text);
        fputs("<video controls loop muted playsinline preload=\"none\"", f);
        if (poster) {
            char *shown = shown_copy(base, poster, d, &bytes);
            fputs(" poster=\"", f);
            put_url(f, shown);
            fputc('"', f);
            free(shown);
            free(poster);
        }
        fputs(" src=\"", f);
        put_url(f, it->text);
        fputs("\"></video>\n", f);
        return bytes;
    }
    int w, h;
    media_size(file, &w, &h);
    char *shown = shown_copy(base, it->text, d, &bytes);
    fputs("<a href=\"", f);
    put_url(f, it->text);
    fputs("\"><img src=\"", f);
    put_url(f, shown);
    fputs("\" loading=\"lazy\" decoding=\"async\"", f);
    if (w > 0 && h > 0)
        fprintf(f, " width=\"%d\" height=\"%d\"", w, h);
    fputs(" alt=\"", f);
    put_esc(f, alt);
    fputs("\"></a>\n", f);
    free(shown);
    return bytes;
}

/* Every figure (but optional ones) and its caption file are there: checked
 * before any output. */
static void check_figures(const report *r, const char *base)
{
    for (int i = 0; i < r->n; i++) {
        const item *it = &r->items[i];
        if (it->kind != IT_FIGURE)
            continue;
        char *file = figure_file(base, it);
        int present = file_exists(file);
        if (!present && !it->optional)
            die("%s:%d: %s: figure not found (build it first, or mark it 'figure?' if "
                "optional)", r->def, it->line, file);
        char *cap = present ? read_caption(file) : NULL;
        if (present && !cap)
            die("%s:%d: %s.txt: cannot read the figure's caption file:", r->def, it->line,
                file);
        if (present && !*trim(cap))
            die("%s:%d: %s.txt: empty caption file (line 1 is the caption)", r->def,
                it->line, file);
        free(cap);
        free(file);
    }
}

/* What the page holds: figures shown, not built, media, and the bytes a
 * reader downloads (the page and every picture, video and poster). */
typedef struct tally {
    int shown, missing, nmedia;
    long long bytes;
} tally;

/* The page-relative link of a path a command named (relative to the
 * folder cnn-render html runs in): NULL unless it is a file below base. */
static char *page_link(const char *base, const char *w)
{
    if (!file_exists(w) || w[0] == '/' || !strncmp(w, "../", 3))
        return NULL;
    if (!strcmp(base, "."))
        return xstrdup(w);
    size_t n = strlen(base);
    return !strncmp(w, base, n) && w[n] == '/' ? xstrdup(w + n + 1) : NULL;
}

/* Links under the caption: the data files the figure's last command read
 * (the .h5 words of the last history line), and its script (a download). */
static void put_links(FILE *f, const char *base, const char *rel, const char *hist,
                      const char *script)
{
    const char *last = hist, *nl;
    while ((nl = strchr(last, '\n')) && nl[1])
        last = nl + 1;
    char *line = xstrdup(last);
    line[strcspn(line, "\n")] = '\0';
    char **w;
    int nw = history_words(line, &w), nlinks = 0;
    fputs("<p class=\"links\">", f);
    for (int i = 0; i < nw; i++) {
        const char *v = w[i][0] == '-' && strchr(w[i], '=') ? strchr(w[i], '=') + 1 : w[i];
        char *href = strcasecmp(ext_of(v), "h5") ? NULL : page_link(base, v);
        if (!href)
            continue;
        fputs(nlinks++ ? ", " : "Data: ", f);
        fputs("<a href=\"", f);
        put_url(f, href);
        fputs("\">", f);
        put_esc(f, href);
        fputs("</a>", f);
        free(href);
    }
    const char *name = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    fputs(nlinks ? ". Script: " : "Script: ", f);
    fputs("<a download=\"", f);
    put_esc(f, name);
    fputs(".sh\" href=\"data:text/plain;charset=utf-8,", f);
    put_url(f, script);
    fputs("\">", f);
    put_esc(f, name);
    fputs(".sh</a> (runs in an empty folder holding data/)</p>\n", f);
    cli_free_list(w, nw);
    free(line);
}

/* One figure; counts it in t (shown, or an optional one not built). */
static void put_figure(FILE *f, const item *it, const char *base, int num, tally *t,
                       const display_opts *d)
{
    char *file = figure_file(base, it);
    int present = file_exists(file);
    char *cap = read_caption(file);
    fprintf(f, "<figure id=\"fig-%d\"%s data-src=\"", num, present ? "" : " class=\"missing\"");
    put_esc(f, it->text);
    fputs("\">\n", f);
    if (present) {
        char *first = xstrdup(cap);
        first[strcspn(first, "\n")] = '\0';
        t->bytes += put_media(f, it, base, file, trim(first), d);
        free(first);
        t->shown++;
        t->nmedia++;
    } else {
        fputs("<div class=\"not-built\">Not built: " NOT_BUILT ".</div>\n", f);
        t->missing++;
    }
    char *hist = present && !strcasecmp(ext_of(it->text), "png") ? imageio_png_text(file, "history")
                                                                  : NULL;
    char *script = NULL;
    size_t slen = 0;
    if (hist && *trim(hist)) {
        FILE *sf = open_memstream(&script, &slen);
        if (!sf)
            die("out of memory");
        history_script(sf, hist, it->text);
        if (fclose(sf))
            die("out of memory");
    }
    put_caption(f, num, it->text, cap, script);
    if (script)
        put_links(f, base, it->text, hist, script);
    fputs("</figure>\n", f);
    free(script);
    free(hist);
    free(cap);
    free(file);
}

static void put_body(FILE *f, const report *r, const char *base, tally *t,
                     const display_opts *d)
{
    int open = 0, num = 0;
    for (int i = 0; i < r->n; i++) {
        const item *it = &r->items[i];
        if (it->kind == IT_SECTION) {
            if (open)
                fputs("</section>\n", f);
            fprintf(f, "<section id=\"%s\">\n<h2>", it->id);
            put_esc(f, it->text);
            fputs("</h2>\n", f);
            open = 1;
        } else if (it->kind == IT_TEXT) {
            fputs("<p>", f);
            put_esc(f, it->text);
            fputs("</p>\n", f);
        } else {
            put_figure(f, it, base, ++num, t, d);
        }
    }
    if (open)
        fputs("</section>\n", f);
}

static void put_tail(FILE *f, const char *def, const tally *t)
{
    fputs("</main>\n<footer>\n", f);
    fprintf(f, "<p id=\"report-status\" data-figures=\"%d\" data-media=\"%d\" "
               "data-missing=\"%d\" data-bytes=\"%lld\" data-loaded=\"0\" data-broken=\"0\" "
               "data-pending=\"%d\">%d figures, %d not built.</p>\n",
            t->shown, t->nmedia, t->missing, t->bytes, t->nmedia, t->shown, t->missing);
    fprintf(f, "<p>The page and its figures: %.1f MB.</p>\n", (double)t->bytes / 1e6);
    fputs("<p>Made by <code>cnn-render html ", f);
    put_esc(f, def);
    fputs("</code> (cnntools " CNN_VERSION "). Each figure&#39;s commands are under "
          "&ldquo;How it was made&rdquo;.</p>\n</footer>\n<script>\n", f);
    fputs(script, f);
    fputs("</script>\n</body>\n</html>\n", f);
}

/* ---- output --------------------------------------------------------- */

static char *dir_of(const char *path)
{
    if (!strcmp(path, "-"))
        return xstrdup(".");
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    char *d = xstrdup(path);
    d[slash - path] = '\0';
    return d;
}

int report_html(const char *def, const char *out, const display_opts *d, int *missing)
{
    report r;
    parse_def(&r, def);
    char *base = dir_of(out);
    struct stat st;
    if (stat(base, &st) || !S_ISDIR(st.st_mode))
        die("%s: no folder %s for the page (its figures live there)", out, base);
    check_figures(&r, base);
    char *body = NULL, *data = NULL;
    size_t blen = 0, len = 0;
    FILE *f = open_memstream(&body, &blen);
    if (!f)
        die("out of memory");
    tally t = { 0 };
    put_head(f, &r);
    put_body(f, &r, base, &t, d);
    if (fclose(f))
        die("out of memory");
    /* The weight counts the page itself, whose tail says the weight: a few
     * rounds until the number holds still. */
    long long media = t.bytes;
    for (int round = 0; round < 4; round++) {
        free(data);
        data = NULL;
        f = open_memstream(&data, &len);
        if (!f)
            die("out of memory");
        put_tail(f, def, &t);
        if (fclose(f))
            die("out of memory");
        long long total = media + (long long)(blen + len);
        if (total == t.bytes)
            break;
        t.bytes = total;
    }
    outfile *of = outfile_open(out, "an HTML page");
    outfile_write(of, body, blen);
    outfile_write(of, data, len);
    outfile_commit(of);
    if (t.bytes > MAX_BYTES)
        warnx("%s: the page and its figures weigh %.1f MB, over %d MB: too heavy for a phone "
              "(an MP4 for a GIF, --display-quality lower)", strcmp(out, "-") ? out : "<stdout>",
              (double)t.bytes / 1e6, MAX_BYTES / 1000000);
    free(body);
    free(data);
    free(base);
    free_report(&r);
    *missing = t.missing;
    return t.shown;
}

enum { OPT_DISPLAY_QUALITY = 1000, OPT_DISPLAY_WIDTH };

int report_cli(int argc, char **argv, const char *usage)
{
    struct cli_common co;
    cli_common_defaults(&co);
    static const struct option longopts[] = {
        { "help", no_argument, 0, 'h' },
        { "version", no_argument, 0, CLI_OPT_VERSION },
        { "quiet", no_argument, 0, 'q' },
        { "output", required_argument, 0, 'o' },
        { "display-quality", required_argument, 0, OPT_DISPLAY_QUALITY },
        { "display-width", required_argument, 0, OPT_DISPLAY_WIDTH },
        { 0, 0, 0, 0 },
    };
    display_opts d = { DISPLAY_QUALITY, DISPLAY_MAX_WIDTH };
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1)
        if (c == OPT_DISPLAY_QUALITY)
            d.quality = (int)cli_long("--display-quality", optarg, 0, 100);
        else if (c == OPT_DISPLAY_WIDTH)
            d.max_width = (int)cli_long("--display-width", optarg, 16, 1 << 16);
        else if (!cli_common_opt(c, optarg, &co, usage))
            die_usage("unexpected option");
    if (optind != argc - 1)
        die_usage(optind < argc ? "too many operands (one report definition)"
                                : "no report definition given (e.g. pipelines/report.def)");
    const char *out = co.output ? co.output : "-";   /* -o - */
    int missing;
    int shown = report_html(argv[optind], out, &d, &missing);
    info("%s: %d figures, %d not built", strcmp(out, "-") ? out : "<stdout>", shown, missing);
    return EXIT_OK;
}
