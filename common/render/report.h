/* report: the demo's static HTML page (cnn-render html). A report
 * definition (pipelines/report.def documents the format: title, section,
 * text, figure, figure? lines) becomes one self-contained HTML5 file: inline
 * CSS, a table of contents, one <section> per section, each figure in a
 * <figure> with its caption and the commands that made it (the caption
 * file PATH.txt and, for a PNG, its tEXt "history" chunk), GIF/PNG/JPEG as
 * <img>, MP4/WebM as <video>. Links are relative to the page's folder, so
 * it works from file:// and can be moved with its figures. A small inline
 * script marks media that fail to load (class "broken") and keeps counts
 * in #report-status (data-figures, data-media, data-loaded, data-broken,
 * data-pending, data-missing) for headless checks. */
#ifndef CNN_REPORT_H
#define CNN_REPORT_H

#include "render/display.h"

/* Write the page for definition file def to out ("-" = standard output,
 * figures then relative to the current folder), through a temporary name
 * renamed when complete. Dies with one line "prog: FILE[:LINE]: what" on a
 * bad definition, a missing figure (not for figure?), a missing caption
 * file or an unwritable output, leaving no output. Returns the number of
 * figures shown; *missing gets the optional figures not built. */
int report_html(const char *def, const char *out, const display_opts *d, int *missing);

/* cnn-render html [-o FILE] [-q] REPORT.def: parse the command's options
 * (argv[0] is the command name) and write the page; usage is its --help
 * text. Returns the exit status. */
int report_cli(int argc, char **argv, const char *usage);

#endif
