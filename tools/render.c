/* cnn-render: pictures from the files the other tools write: image grids
 * with captions, filter grids, labelled scatter plots, heat-map overlays
 * with a colour bar, top-k bar charts, the activations view, the report
 * page. A table of commands (name, usage, options it takes, function);
 * each function calls its room of common/render/ (render.h), which reads,
 * draws and writes. */
#include "base/cli.h"
#include "render/draw.h"
#include "render/render.h"
#include "render/report.h"
#include "render/rows.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_main[] =
    "Usage: cnn-render COMMAND [OPTION]... [FILE]\n"
    "Draw PNG pictures from cnntools files (FILE or '-' = standard input).\n"
    "\n"
    "Commands:\n"
    "  grid      images file -> montage of tiles with captions\n"
    "  filters   kernels stored as an images file (Cout x Cin x kh x kw) -> filter grid\n"
    "  scatter   features or pca file (N x D) -> scatter plot coloured by label\n"
    "  heatmap   maps files (N x H' x W') -> maps over their images, colour bar;\n"
    "            several files (methods) side by side, rows labelled from the data\n"
    "  bars      activations file with /probs -> image beside its top-5 classes\n"
    "  activations  activations file -> every feature map of a layer beside the\n"
    "            image, one PNG per image (the Deep Visualization Toolbox view)\n"
    "  html      report definition -> the demo's static HTML page (cnn-render html --help)\n"
    "\n"
    "'cnn-render COMMAND --help' describes each command's options.\n"
    "  -h, --help          this help\n"
    "      --version       version\n"
    "\nExit status: 0 success, 1 failure, 2 usage error.\n";

static const char usage_html[] =
    "Usage: cnn-render html [-o PAGE.html] [-q] [--display-quality Q] REPORT.def\n"
    "One static HTML page (inline CSS, relative links, works from file://) from a\n"
    "report definition (format: pipelines/report.def): title, sections, text and\n"
    "figures (PNG, GIF, JPEG as images; MP4, WebM as videos), each with its caption\n"
    "file PATH.txt (line 1 caption, further lines commands) and, for PNGs, the\n"
    "commands stored in the picture (tEXt \"history\"). Figure paths are relative\n"
    "to the page's folder. A missing 'figure' is an error; a missing 'figure?'\n"
    "is noted in the page. Beside a PNG figure X.png over 64 KiB the page embeds\n"
    "X.display.webp (written here: lossy, at most --display-width wide; only when\n"
    "at most 3/4 of the PNG's bytes) and links the picture to the PNG, which\n"
    "stays as it is; videos load nothing but their poster until played. The\n"
    "weight (footer, data-bytes) is the page plus every picture as embedded and\n"
    "every poster.\n\n"
    "  -o, --output FILE   page to write (default: standard output, not a tty,\n"
    "                      figures then relative to the current folder)\n"
    "      --display-quality Q  WebP quality of the display copies, 1..100\n"
    "                      (default 80); 0: none, every PNG shown as it is\n"
    "      --display-width PX   widest display copy (default 2052: the page's\n"
    "                      column at 2x pixel density)\n"
    "  -q, --quiet         no information on stderr\n"
    "  -h, --help          this help\n"
    "      --version       version\n"
    "\nExit status: 0 success, 1 failure, 2 usage error.\n";

#define OUTPUT_HELP \
    "      --classes SRC   class names: SRC's /classes (an HDF5 file: the model,\n" \
    "                      whose names maps files may lack), else a comma list or\n" \
    "                      a file of one name a line (default: FILE's /classes)\n" \
    "  -o, --output FILE   PNG to write (default: standard output, not a tty)\n" \
    "      --each DIR      one PNG per image in DIR (named by id) instead of one grid\n" \
    "      --range A:B     only rows A..B-1\n" \
    "  -q, --quiet         no information on stderr\n" \
    "  -h, --help          this help\n" \
    "      --version       version\n" \
    "\nExit status: 0 success, 1 failure, 2 usage error.\n"

/* How --images reads photos (heatmap, bars, activations). */
#define PHOTO_HELP \
    "--images may name photo files and folders (repeated, in the rows' order),\n" \
    "read as cnn-images reads them, by default at the size of the maps:\n" \
    "      --size WxH      read the photos at W x H (occlusion's window grid\n" \
    "                      and activations files have no image-sized maps)\n" \
    "      --crop center|WxH, --resize N, --no-orient, --max-pixels N\n" \
    "                      as cnn-images's\n"

#define TILE_HELP \
    "      --cols N        tiles per row (default: about square, at most 16)\n" \
    "      --scale N       pixels per image pixel, nearest neighbour (default:\n" \
    "                      so that a tile is about 84 pixels)\n" \
    "      --pad N         pixels between tiles (default 4)\n" \
    "      --filter nearest|bilinear  resampling (default nearest)\n" \
    "      --caption F[,F]...  text under each tile, fields joined by \", \": none,\n" \
    "                      label, id, score, path (/paths, of --images too), target\n" \
    "                      (/target's class or LAYER:C), unit (/unit: \"unit 35\"),\n" \
    "                      auto (default: score with label when /scores exists,\n" \
    "                      else label, else none)\n"

static const char usage_grid[] =
    "Usage: cnn-render grid [OPTION]... [FILE]\n"
    "Montage of the images (/images, N x C x H x W, C = 1 or 3) of FILE.\n"
    "Captions come from /labels and /classes (\"8\", \"cat\"), /ids and /scores\n"
    "(\"8 (0.97)\").\n\n"
    TILE_HELP
    "      --normalize none|tile|global  stretch values to the full range per tile\n"
    "                      or over all tiles (default none: values are in [0,1])\n"
    CLI_IMAGE_HELP
    "      --signed        signed values: symmetric range around 0, one-channel\n"
    "                      tiles in the diverging blue-white-red map\n"
    "      --clip P        with --normalize: the range's extent is the (100-P)th\n"
    "                      percentile of |v| (numpy's linear rule), not max |v|\n"
    "      --cmap NAME     one-channel colour map: gray (default), viridis, inferno,\n"
    "                      diverging, jet\n"
    "      --titles T,...  a title above each column (as many as columns)\n"
    "      --row-label F   a label left of each row of tiles: caption field F of\n"
    "                      the row's first tile (unit, label, path, target, ...)\n"
    OUTPUT_HELP;

static const char usage_filters[] =
    "Usage: cnn-render filters [OPTION]... [FILE]\n"
    "Grid of a convolution's kernels stored as an images file (/images,\n"
    "Cout x Cin x kh x kw; cnn-extract-layer --weights writes one). Each filter\n"
    "is normalised on its own. Cin = 3 gives RGB tiles; Cin = 1 gray tiles;\n"
    "otherwise one row per filter with one tile per input channel.\n\n"
    TILE_HELP
    "      --normalize tile|global|none  (default tile: per filter)\n"
    "      --signed        symmetric range around 0, diverging colour map\n"
    "      --cmap NAME     one-channel colour map (default gray)\n"
    "      --clip P        the range's extent: the (100-P)th percentile of |v|\n"
    OUTPUT_HELP;

static const char usage_scatter[] =
    "Usage: cnn-render scatter [OPTION]... [FILE]\n"
    "Scatter plot of two columns of a features or pca file, coloured by /labels\n"
    "with a legend from /classes. Axis titles show the explained variance\n"
    "ratio when /explained_variance_ratio exists (\"PC1 (12.3%)\").\n\n"
    "      --dims I,J      columns to plot, from 1 (default 1,2)\n"
    "      --dset NAME     dataset to plot (default /projections, else /features)\n"
    "      --title TEXT    title (default: \"PCA of LAYER\" from the layer attribute,\n"
    "                      else the file name; '' for none)\n"
    "      --size WxH      picture size (default 760x560)\n"
    "      --radius R      point radius in pixels (default 2.5)\n"
    OUTPUT_HELP;

static const char usage_heatmap[] =
    "Usage: cnn-render heatmap [OPTION]... [FILE]...\n"
    "Maps (/maps, N x H' x W', from cnn-occlude or cnn-saliency) upsampled over\n"
    "their images (/images of FILE, or --images) with a colour bar. Several FILEs\n"
    "(the same rows) are columns titled by their method, one row per image\n"
    "labelled by --caption's fields (default path,target).\n"
    "Signed data (a value below 0) draw in a diverging map over [-c, c], unsigned\n"
    "in viridis over [min, c]; c = max |v|, or with --clip its percentile.\n\n"
    "      --images FILE   images file with the same rows as the maps, or photo\n"
    "                      files and folders (repeat --images; below)\n"
    "      --clip P        c = the (100-P)th percentile of |v| (numpy's linear rule;\n"
    "                      Captum's outlier_perc), e.g. 0.5; larger |v| saturate\n"
    "      --normalize global|tile  one range over all drawn maps (default with one\n"
    "                      FILE) or one per map (default with several)\n"
    "      --change        each map minus its /baseline: the change of the score\n"
    "                      (cnn-occlude --output raw)\n"
    "      --attr          draw /attr as RGB, 0.5 + 0.5 v / c (guided backprop;\n"
    "                      --images then only names the rows)\n"
    "      --titles T,...  column titles (default: method, else target, else file)\n"
    "      --list          print column titles, row labels and tile ranges instead\n"
    "      --numbers       print each cell's value (as the lecture's \"Occluding 8\")\n"
    "      --format FMT    printf format of the numbers (default %.0f)\n"
    "      --signed        signed even when no value is below 0\n"
    "      --cmap NAME     " CMAP_NAMES " (default: diverging for\n"
    "                      signed data, viridis for unsigned)\n"
    "      --alpha A       opacity of the map over the image (default 0.5; 1 without images)\n"
    "      --vmin V, --vmax V  colour map range (default: see above)\n"
    CLI_IMAGE_HELP
    PHOTO_HELP
    TILE_HELP
    OUTPUT_HELP;

static const char usage_bars[] =
    "Usage: cnn-render bars [OPTION]... [FILE]\n"
    "Each image beside a bar chart of its top classes (/probs, N x K, with\n"
    "/classes); the true class (/labels) is drawn in green.\n\n"
    "      --images FILE   images file with the same rows (activations files\n"
    "                      often carry no /images), or photos (below)\n"
    "  -k, --top K         bars per image (default 5)\n"
    "      --cols N        panels per row (default 2)\n"
    CLI_IMAGE_HELP
    PHOTO_HELP
    OUTPUT_HELP;

static const char usage_activations[] =
    "Usage: cnn-render activations -l LAYER [OPTION]... [FILE]\n"
    "The Deep Visualization Toolbox view of each image of an activations file\n"
    "(cnn-forward -l LAYER): all the layer's feature maps (/act/LAYER, N x C x H x W)\n"
    "as a grid of tiles, channel k at column k % cols, row k / cols, beside the\n"
    "input image with its top-1 class (/topk_idx, /topk_prob or /pred, /classes).\n"
    "With --unit, a strip under it shows that channel's map over the image, its\n"
    "projection for this image (--projection) and its top dataset patches (--patches).\n"
    "A tile's value v is drawn as t = (v - lo) / (hi - lo) clipped to [0,1], pixel\n"
    "round(255 t) of the colour map, [lo, hi] as --normalize says.\n\n"
    "  -l, --layer LAYER   the layer (a group member of /act; needs spatial maps)\n"
    "      --images FILE   images file with the same rows (default: FILE's /images),\n"
    "                      or photos (below)\n"
    "      --normalize global|tile|none  [lo, hi]: min and max over all the\n"
    "                      image's maps (global, default), of each map (tile), or\n"
    "                      [0, 1] (none)\n"
    "      --vmin V, --vmax V  a fixed [lo, hi] for every image (no flicker in videos)\n"
    "      --cmap NAME     gray (default), viridis, inferno, jet, diverging\n"
    "      --scale N       pixels per map pixel (default: grid about 640 pixels wide)\n"
    "      --cols N        tiles per row (default: about square)\n"
    "      --pad N         pixels between tiles (default 2)\n"
    "      --highlight     outline the strongest map (largest value) in red\n"
    "      --label WORD    the title names the row as WORD ID (default: image)\n"
    "      --classes SRC   class names (an HDF5 file's /classes, or a list)\n"
    CLI_IMAGE_HELP
    "      --unit C        channel C's panel; its tile is outlined in blue\n"
    "      --projection F  maps file of cnn-saliency -t unit=LAYER:C (guided or\n"
    "                      deconvnet), same rows: its /attr is drawn as\n"
    "                      0.5 + 0.5 v / max|v|\n"
    "      --patches F     cnn-patches file of LAYER: the first 9 patches of channel C\n"
    PHOTO_HELP
    "  -o, --output FILE   PNG to write; with several images a pattern with one\n"
    "                      %d (printf, e.g. frames/%05d.png) that takes each row's\n"
    "                      id (/ids, else its row number)\n"
    "      --each DIR      one PNG per image in DIR, named by id (%06d.png)\n"
    "      --range A:B     only rows A..B-1\n"
    "  -q, --quiet         no information on stderr\n"
    "  -h, --help          this help\n"
    "      --version       version\n"
    "\nExit status: 0 success, 1 failure, 2 usage error.\n";

static const char usage_curves[] =
    "Usage: cnn-render curves [OPTION]... [FILE]...\n"
    "Draws cnn-evaluate's output, one panel per FILE side by side (e.g. the\n"
    "deletion and the insertion file of the same maps), each --size big.\n"
    "deletion, insertion: one line per row of /curve (N x steps+1) against the\n"
    "fraction of pixels changed (k / steps, 0 to 1), titled with the metric and\n"
    "the maps' method; the legend names each row (/paths, else its id) and its\n"
    "/auc. sanity: the mean over rows of /spearman, /ssim and /hog against the\n"
    "layer randomised (/layers, top layer first; Adebayo et al. 2018).\n\n"
    "      --title TEXT    panel title (default: the metric and the maps' method)\n"
    "      --size WxH      size of one panel (default 760x560)\n"
    "      --list          print one line per series instead: title, label and\n"
    "                      AUC, tab-separated (sanity: title, similarity and\n"
    "                      LAYER=mean for each layer)\n"
    "  -o, --output FILE   PNG to write (default: standard output, not a tty)\n"
    "      --range A:B     only rows A..B-1 (at most 64 curves in a panel)\n"
    "  -q, --quiet         no information on stderr\n"
    "  -h, --help          this help\n"
    "      --version       version\n"
    "\nExit status: 0 success, 1 failure, 2 usage error.\n";

enum {
    OPT_COLS = 2000, OPT_SCALE, OPT_PAD, OPT_CAPTION, OPT_NORMALIZE, OPT_SIGNED,
    OPT_CMAP, OPT_FILTER, OPT_EACH, OPT_DIMS, OPT_DSET, OPT_TITLE, OPT_SIZE,
    OPT_RADIUS, OPT_IMAGES, OPT_NUMBERS, OPT_FORMAT, OPT_ALPHA, OPT_VMIN, OPT_VMAX,
    OPT_HIGHLIGHT, OPT_UNIT, OPT_PROJECTION, OPT_PATCHES, OPT_LABEL, OPT_CLIP,
    OPT_CHANGE, OPT_ATTR, OPT_TITLES, OPT_LIST, OPT_CLASSES, OPT_ROW_LABEL,
};

/* For sanitizer builds (make test-asan): LeakSanitizer reads this hook.
 * fontconfig, which cairo's text calls, keeps its configuration cache for
 * the life of the process by design, and HDF5 1.10's H5LTopen_file_image
 * does not free its callback data for a DONT_COPY|DONT_RELEASE image (our
 * stdin reader): neither is a leak of ours. Unused in normal builds. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\nleak:H5LTopen_file_image\n";
}

/* Quiet about the suppressions above, so error tests still see one line. */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
    return "print_suppressions=0";
}

/* ---- options -------------------------------------------------------- */

/* --caption's and --row-label's fields, in CAP_* order. */
static const char *const caption_fields[] = { "auto", "none", "label", "id", "score", "path",
                                              "target", "unit" };

/* Which commands take which option, so a misplaced one (--numbers on a
 * grid) is a usage error instead of being silently ignored. */
enum { C_GRID = 1, C_FILTERS = 2, C_SCATTER = 4, C_HEATMAP = 8, C_BARS = 16, C_ACT = 32,
       C_CURVES = 64 };
#define C_TILES (C_GRID | C_FILTERS | C_HEATMAP)
/* The commands whose --images may be photos (read by io/imageset). */
#define PHOTO_CMDS (C_HEATMAP | C_BARS | C_ACT)
static int option_cmds(int c)
{
    switch (c) {
    case OPT_COLS: return C_TILES | C_BARS | C_ACT;
    case OPT_SCALE: case OPT_PAD: case OPT_CMAP:
        return C_TILES | C_ACT;
    case OPT_CAPTION: case OPT_FILTER: case OPT_SIGNED:
        return C_TILES;
    case OPT_NORMALIZE: return C_GRID | C_FILTERS | C_HEATMAP | C_ACT;
    case OPT_EACH: return C_TILES | C_BARS | C_ACT;
    case 'l': case OPT_HIGHLIGHT: case OPT_UNIT: case OPT_PROJECTION: case OPT_PATCHES:
    case OPT_LABEL:
        return C_ACT;
    case OPT_TITLE: return C_SCATTER | C_CURVES;
    case OPT_SIZE: return C_SCATTER | C_CURVES | PHOTO_CMDS;
    case CLI_OPT_CROP: case CLI_OPT_RESIZE: case CLI_OPT_NO_ORIENT: case CLI_OPT_MAX_PIXELS:
        return PHOTO_CMDS;
    case OPT_DIMS: case OPT_DSET: case OPT_RADIUS:
        return C_SCATTER;
    case OPT_IMAGES: return C_HEATMAP | C_BARS | C_ACT;
    case OPT_VMIN: case OPT_VMAX: return C_HEATMAP | C_ACT;
    case OPT_CLIP: return C_GRID | C_FILTERS | C_HEATMAP;
    case OPT_NUMBERS: case OPT_FORMAT: case OPT_ALPHA: case OPT_CHANGE:
    case OPT_ATTR:
        return C_HEATMAP;
    case OPT_TITLES: return C_HEATMAP | C_GRID;
    case OPT_ROW_LABEL: return C_GRID;
    case OPT_LIST: return C_HEATMAP | C_CURVES;
    case 'k': return C_BARS;
    case CLI_OPT_ALLOW_RANGE: return C_GRID | C_HEATMAP | C_BARS | C_ACT | C_CURVES;
    }
    return ~0;   /* the common options */
}

static int parse_enum(const char *opt, const char *arg, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(arg, names[i]))
            return i;
    die_usage("%s: unknown value '%s'", opt, arg);
}

/* The commands: name, usage, which options apply (option_cmds), what
 * draws. html is the report page (common/render/report.c). */
typedef struct render_cmd {
    const char *name;
    const char *usage;
    int bit;
    void (*run)(render_opts *o);
} render_cmd;

static void cmd_grid(render_opts *o) { render_grid(o, 0); }
static void cmd_filters(render_opts *o) { render_grid(o, 1); }
static void cmd_scatter(render_opts *o) { render_scatter(o); }
static void cmd_heatmap(render_opts *o) { render_heatmap(o); }
static void cmd_bars(render_opts *o) { render_bars(o); }
static void cmd_activations(render_opts *o) { render_activations(o); }
static void cmd_curves(render_opts *o) { render_curves(o); }

static const render_cmd commands[] = {
    { "grid", usage_grid, C_GRID, cmd_grid },
    { "filters", usage_filters, C_FILTERS, cmd_filters },
    { "scatter", usage_scatter, C_SCATTER, cmd_scatter },
    { "heatmap", usage_heatmap, C_HEATMAP, cmd_heatmap },
    { "bars", usage_bars, C_BARS, cmd_bars },
    { "activations", usage_activations, C_ACT, cmd_activations },
    { "curves", usage_curves, C_CURVES, cmd_curves },
    { "html", usage_html, 0, NULL },
};
#define COMMAND_NAMES "grid, filters, scatter, heatmap, bars, activations, curves, html"

static const struct option longopts[] = {
    CLI_COMMON_LONGOPTS, CLI_IMAGE_LONGOPTS,
    { "cols", required_argument, 0, OPT_COLS },
    { "scale", required_argument, 0, OPT_SCALE },
    { "pad", required_argument, 0, OPT_PAD },
    { "caption", required_argument, 0, OPT_CAPTION },
    { "normalize", required_argument, 0, OPT_NORMALIZE },
    { "signed", no_argument, 0, OPT_SIGNED },
    { "cmap", required_argument, 0, OPT_CMAP },
    { "filter", required_argument, 0, OPT_FILTER },
    { "each", required_argument, 0, OPT_EACH },
    { "dims", required_argument, 0, OPT_DIMS },
    { "dset", required_argument, 0, OPT_DSET },
    { "title", required_argument, 0, OPT_TITLE },
    { "size", required_argument, 0, OPT_SIZE },
    { "radius", required_argument, 0, OPT_RADIUS },
    { "images", required_argument, 0, OPT_IMAGES },
    { "crop", required_argument, 0, CLI_OPT_CROP },
    { "resize", required_argument, 0, CLI_OPT_RESIZE },
    { "no-orient", no_argument, 0, CLI_OPT_NO_ORIENT },
    { "max-pixels", required_argument, 0, CLI_OPT_MAX_PIXELS },
    { "numbers", no_argument, 0, OPT_NUMBERS },
    { "format", required_argument, 0, OPT_FORMAT },
    { "alpha", required_argument, 0, OPT_ALPHA },
    { "vmin", required_argument, 0, OPT_VMIN },
    { "vmax", required_argument, 0, OPT_VMAX },
    { "top", required_argument, 0, 'k' },
    { "layer", required_argument, 0, 'l' },
    { "highlight", no_argument, 0, OPT_HIGHLIGHT },
    { "unit", required_argument, 0, OPT_UNIT },
    { "projection", required_argument, 0, OPT_PROJECTION },
    { "patches", required_argument, 0, OPT_PATCHES },
    { "label", required_argument, 0, OPT_LABEL },
    { "clip", required_argument, 0, OPT_CLIP },
    { "change", no_argument, 0, OPT_CHANGE },
    { "attr", no_argument, 0, OPT_ATTR },
    { "titles", required_argument, 0, OPT_TITLES },
    { "row-label", required_argument, 0, OPT_ROW_LABEL },
    { "list", no_argument, 0, OPT_LIST },
    { "classes", required_argument, 0, OPT_CLASSES },
    { 0, 0, 0, 0 },
};

static void check_args(const render_cmd *rc, render_opts *o);
static void parse_captions(const char *arg, render_opts *o);
static void check_heatmap(render_opts *o);

/* The options after the command (argv[1], already replaced by the
 * program name for getopt's messages) into o. */
static void parse_args(int argc, char **argv, const render_cmd *rc, render_opts *o)
{
    static const char *const norms[] = { "none", "tile", "global" };
    static const char *const filters[] = { "nearest", "bilinear" };
    int c, li;
    while ((c = getopt_long(argc - 1, argv + 1, CLI_COMMON_SHORTOPTS "k:l:", longopts, &li)) != -1) {
        if (c != '?' && c != ':' && !(option_cmds(c) & rc->bit))
            die_usage("--%s does not apply to '%s' (see 'cnn-render %s --help')",
                      c == 'k' ? "top" : c == 'l' ? "layer" : longopts[li].name, rc->name, rc->name);
        switch (c) {
        case OPT_COLS: o->cols = (int)cli_long("--cols", optarg, 1, 1000); break;
        case OPT_SCALE: o->scale = (int)cli_long("--scale", optarg, 1, 64); break;
        case OPT_PAD: o->pad = (int)cli_long("--pad", optarg, 0, 200); o->pad_set = 1; break;
        case OPT_CAPTION: parse_captions(optarg, o); break;
        case OPT_ROW_LABEL:
            o->row_label = parse_enum("--row-label", optarg, caption_fields, CAP_UNIT + 1);
            if (o->row_label == CAP_AUTO)
                die_usage("--row-label: a field (label, id, score, path, target, unit) or none");
            break;
        case OPT_NORMALIZE: o->normalize = parse_enum("--normalize", optarg, norms, 3); break;
        case OPT_SIGNED: o->sign = SIGN_SIGNED; break;
        case OPT_CMAP:
            if ((o->cmap = draw_cmap_parse(optarg)) < 0)
                die_usage("--cmap: unknown colour map '%s' (" CMAP_NAMES ")", optarg);
            break;
        case OPT_FILTER: o->filter = parse_enum("--filter", optarg, filters, 2); break;
        case OPT_EACH: o->each = optarg; break;
        case OPT_DIMS: {
            int *v, nv = cli_int_list("--dims", optarg, 1 << 20, &v);
            if (nv != 2 || v[0] < 1 || v[1] < 1)
                die_usage("--dims: '%s' is not two columns I,J counted from 1", optarg);
            o->dimx = v[0];
            o->dimy = v[1];
            free(v);
            break;
        }
        case OPT_DSET: o->dset = optarg; break;
        case OPT_TITLE: o->title = optarg; break;
        case OPT_SIZE:
            if (rc->bit & PHOTO_CMDS) {   /* the size photos of --images are read at */
                cli_photo_opt(CLI_OPT_SIZE, optarg, &o->co.photo);
                break;
            }
            cli_size("--size", optarg, &o->width, &o->height);
            if (o->width < 200 || o->height < 150 || o->width > 8000 || o->height > 8000)
                die_usage("--size: %s is outside 200x150..8000x8000", optarg);
            break;
        case OPT_RADIUS: o->radius = cli_double("--radius", optarg, 0.5, 50); break;
        case OPT_IMAGES:
            o->image_list = xrealloc(o->image_list, (size_t)(o->nimage_list + 1) * sizeof(char *));
            o->image_list[o->nimage_list++] = optarg;
            o->images = o->image_list[0];
            break;
        case OPT_NUMBERS: o->numbers = 1; break;
        case OPT_FORMAT:
            /* One numeric conversion only: the format sees one double. */
            if (!strchr(optarg, '%') || strchr(strchr(optarg, '%') + 1, '%') ||
                !strpbrk(strchr(optarg, '%'), "fgeFGE") || strpbrk(optarg, "*n"))
                die_usage("--format: '%s' is not one %%f/%%g/%%e conversion", optarg);
            o->format = optarg;
            break;
        case OPT_ALPHA: o->alpha = cli_double("--alpha", optarg, 0, 1); break;
        case OPT_VMIN: o->vmin = cli_double("--vmin", optarg, -1e30, 1e30); o->has_vmin = 1; break;
        case OPT_VMAX: o->vmax = cli_double("--vmax", optarg, -1e30, 1e30); o->has_vmax = 1; break;
        case 'k': o->topk = (int)cli_long("--top", optarg, 1, 100); break;
        case 'l': o->layer = optarg; break;
        case OPT_HIGHLIGHT: o->highlight = 1; break;
        case OPT_UNIT: o->unit = (int)cli_long("--unit", optarg, 0, 16383); break;
        case OPT_PROJECTION: o->projection = optarg; break;
        case OPT_PATCHES: o->patches = optarg; break;
        case OPT_LABEL: o->label = optarg; break;
        case OPT_CLIP:
            o->clip = cli_double("--clip", optarg, 0, 100);
            if (o->clip >= 100)
                die_usage("--clip: %s is not a percentage below 100", optarg);
            break;
        case OPT_CHANGE: o->change = 1; break;
        case OPT_ATTR: o->attr = 1; break;
        case OPT_TITLES:
            if (o->titles)
                cli_free_list(o->titles, o->ntitles);
            o->ntitles = cli_split(optarg, ',', &o->titles);
            break;
        case OPT_LIST: o->list = 1; break;
        case OPT_CLASSES: o->classes = optarg; break;
        default:
            if (!cli_common_opt(c, optarg, &o->co, rc->usage))
                die_usage("unexpected option");
        }
    }
    optind++;   /* back to argv's numbering */
    if (optind < argc - 1 && !(rc->bit & (C_HEATMAP | C_CURVES)))
        die_usage("too many operands (one input file)");
    o->input = optind < argc ? argv[optind] : NULL;
    o->inputs = optind < argc ? argv + optind : NULL;
    o->ninputs = optind < argc ? argc - optind : 1;
    check_args(rc, o);
}

/* What the options say together. */
static void check_args(const render_cmd *rc, render_opts *o)
{
    if (rc->bit == C_HEATMAP)
        check_heatmap(o);
    if (rc->bit == C_CURVES && o->list && o->co.output)
        die_usage("--list prints to standard output (no -o)");
    for (int i = 0; rc->bit == C_CURVES && i < o->ninputs && o->inputs; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(o->inputs[i], "-") && !strcmp(o->inputs[j], "-"))
                die_usage("standard input can be read once");
    if (rc->bit == C_GRID && o->clip > 0 && o->normalize != NORM_TILE && o->normalize != NORM_GLOBAL)
        die_usage("--clip needs --normalize tile or global (grid's none draws [0,1])");
    if (o->each)
        rows_check_each_dir(o->each);
    if (o->has_vmin && o->has_vmax && o->vmax <= o->vmin)
        die_usage("--vmax must be larger than --vmin");
    if (o->dimx == o->dimy && rc->bit == C_SCATTER)
        warnx("--dims plots a column against itself");
    /* Kernels, and values stretched to the picture's range, need not lie
     * in [0,1] (they must be finite all the same). */
    if (rc->bit == C_FILTERS ||
        (rc->bit == C_GRID && (o->sign || o->normalize == NORM_TILE || o->normalize == NORM_GLOBAL)))
        finite_allow_range = 1;
}

/* --caption F[,F]...: fields of CAP_*; caption is the first. */
static void parse_captions(const char *arg, render_opts *o)
{
    char **f;
    int n = cli_split(arg, ',', &f);
    if (n < 1 || n > CAP_MAX)
        die_usage("--caption: '%s' is not 1 to %d fields", arg, CAP_MAX);
    for (int i = 0; i < n; i++)
        o->captions[i] = parse_enum("--caption", f[i], caption_fields, CAP_UNIT + 1);
    o->ncaptions = n;
    o->caption = o->captions[0];
    cli_free_list(f, n);
    if (n > 1)
        for (int i = 0; i < n; i++)
            if (o->captions[i] == CAP_NONE || o->captions[i] == CAP_AUTO)
                die_usage("--caption: none and auto stand alone ('%s')", arg);
}

static void check_heatmap(render_opts *o)
{
    if (o->normalize == NORM_NONE)
        die_usage("--normalize: heatmap takes global or tile");
    if (o->normalize == NORM_TILE && (o->has_vmin || o->has_vmax))
        die_usage("--vmin/--vmax fix one range; --normalize tile has one per map");
    if (o->attr && (o->numbers || o->alpha >= 0 || o->change))
        die_usage("--attr draws the attribution itself (no --numbers, --alpha or --change)");
    if (o->list && (o->co.output || o->each))
        die_usage("--list prints to standard output (no -o or --each)");
    if (o->ninputs > 1 && o->cols)
        die_usage("--cols: with several files each file is a column");
    if (o->titles && o->ntitles != o->ninputs)
        die_usage("--titles: %d titles for %d files", o->ntitles, o->ninputs);
    for (int i = 0; i < o->ninputs && o->inputs; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(o->inputs[i], "-") && !strcmp(o->inputs[j], "-"))
                die_usage("standard input can be read once");
    if (!o->ncaptions) {   /* default: the file name and what was measured */
        o->captions[0] = o->ninputs > 1 ? CAP_PATH : CAP_AUTO;
        o->captions[1] = CAP_TARGET;
        o->ncaptions = o->ninputs > 1 ? 2 : 1;
        o->caption = o->captions[0];
    }
}

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    if (argc < 2)
        die_usage("no command given (" COMMAND_NAMES ")");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help"))
        cli_help(usage_main);
    if (!strcmp(cmd, "--version"))
        cli_version();
    if (cmd[0] == '-')
        die_usage("unrecognized option '%s' (a command comes first: " COMMAND_NAMES ")", cmd);
    const render_cmd *rc = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0] && !rc; i++)
        if (!strcmp(cmd, commands[i].name))
            rc = &commands[i];
    if (!rc)
        die_usage("unknown command '%s' (" COMMAND_NAMES ")", cmd);
    argv[1] = argv[0];   /* getopt names the program in its messages */
    cli_getopt_args(argc - 1, argv + 1);
    if (!rc->run)
        return report_cli(argc - 1, argv + 1, rc->usage);
    render_opts o;
    memset(&o, 0, sizeof o);
    cli_common_for(&o.co, CLI_RANGE);
    o.co.honour &= ~CLI_COMPRESS;   /* writes PNG and HTML, no HDF5 */
    o.cmd = cmd;
    o.pad = 4;
    o.caption = CAP_AUTO;
    o.captions[0] = CAP_AUTO;
    o.row_label = CAP_NONE;
    o.normalize = NORM_DEFAULT;
    o.cmap = rc->bit == C_HEATMAP ? -1 : DRAW_CMAP_GRAY;
    o.filter = rc->bit == C_HEATMAP ? -1 : DRAW_NEAREST;
    o.dimx = 1;
    o.dimy = 2;
    o.width = 760;
    o.height = 560;
    o.alpha = -1;
    o.topk = 5;
    o.unit = -1;
    o.sign = rc->bit == C_HEATMAP ? SIGN_AUTO : SIGN_UNSIGNED;
    parse_args(argc, argv, rc, &o);
    if (!o.each && !o.list)   /* before the work */
        cli_check_stdout(o.co.output, "a PNG");
    rc->run(&o);
    free(o.image_list);
    if (o.titles)
        cli_free_list(o.titles, o.ntitles);
    return EXIT_OK;
}
