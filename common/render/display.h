/* display: the copy of a report figure that the page shows (cnn-render
 * html). A figure PNG is the reproducible artifact (pipelines/rerun-report.sh
 * re-makes it pixel for pixel) and stays as it is; beside a heavy one,
 * X.png, the page embeds X.display.webp, a lossy WebP (libwebp) no wider
 * than the page shows it at twice the pixel density, and links the picture
 * to the PNG. */
#ifndef CNN_DISPLAY_H
#define CNN_DISPLAY_H

/* The widest a figure is shown: the page's 1100 px column less its margins
 * and the figure's padding (1026 CSS px), at 2x density. */
#define DISPLAY_MAX_WIDTH 2052
/* Lossy WebP quality (libwebp's 0..100); 0 makes no display copies. */
#define DISPLAY_QUALITY 80
/* PNGs at most this big are shown as they are (small pictures, mostly
 * pixel-sharp digits, gain little and would blur). */
#define DISPLAY_MIN_BYTES 65536

typedef struct display_opts {
    int quality;      /* 1..100; 0 = none */
    int max_width;    /* pixels */
} display_opts;

/* The display copy of the PNG figure file (rel: its path relative to the
 * page): X.display.webp beside it, written when the PNG is over
 * DISPLAY_MIN_BYTES and the WebP (downscaled to o->max_width when wider)
 * is at most 3/4 of the PNG's size. Returns its page-relative path
 * (malloc'd), or NULL when the PNG is to be shown itself (then a stale
 * copy of an earlier run is removed). Dies with one line on a write
 * failure. */
char *display_copy(const char *file, const char *rel, const display_opts *o);

/* The display copy's path for a figure path X.png: X.display.webp
 * (malloc'd). */
char *display_path(const char *png);

#endif
