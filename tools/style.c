/* cnn-style: Gatys et al. 2016 style transfer, and texture synthesis with
 * --texture: optimises the pixels of one image so that its activations
 * match a content image at one layer and its Gram matrices match a style
 * image at several. The losses are in common/methods/style.c; this reads the two
 * images, runs Adam and writes the images file. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/arch.h"
#include "base/cli.h"
#include "nn/engine.h"
#include "io/h5io.h"
#include "io/pixels.h"
#include "io/imageio.h"
#include "nn/model.h"
#include "nn/setup.h"
#include "methods/style.h"
#include "methods/adam.h"

static const char usage[] =
    "Usage: cnn-style -m MODEL.h5 --content C --style S [options]\n"
    "       cnn-style -m MODEL.h5 --texture --style S [options]\n"
    "Style transfer (Gatys, Ecker & Bethge 2016): optimises an image whose\n"
    "activations at --content-layer match the content image and whose Gram\n"
    "matrices at --style-layers match the style image. C and S are images files\n"
    "(row 0, or --content-row/--style-row) or PNG/JPEG photos (crop-resized to\n"
    "the model's input). Writes an images file (kind=images): /images (1 row),\n"
    "/ids, /loss (steps+1 x 3: total, content, style before each step and at the\n"
    "end).\n"
    "Losses as in the paper: content 1/2 sum (F - P)^2; Gram G = F F^T summed\n"
    "over positions; style E_l = sum (G - A)^2 / (4 N^2 M^2) (N channels, M = HxW\n"
    "positions), averaged over the style layers; total = content-weight x\n"
    "content + style-weight x style.\n"
    "\n"
    "  -m, --model FILE        model file (kind=model)\n"
    "      --content C         content image (images file or photo)\n"
    "      --style S           style image (images file or photo)\n"
    "      --content-row R, --style-row R   rows of images files (default 0)\n"
    "      --content-layer L   default: the 4th ReLU with a spatial map (conv4)\n"
    "      --style-layers L,.. default: the first five such ReLUs\n"
    "      --content-weight A  default 1\n"
    "      --style-weight B    default 1000 (the paper's alpha/beta = 1e-3)\n"
    "      --steps N           Adam steps (default 200)\n"
    "      --lr R              Adam step size on [0,1] pixels (default 0.01)\n"
    "      --start S           content (default), noise (uniform [0,1)), or an\n"
    "                          images file (row 0)\n"
    "      --texture           style loss only (texture synthesis); starts from\n"
    "                          noise; no --content needed\n"
    "      --save-grad         also write /grad, the gradient of the total loss\n"
    "                          at the start image, and its losses as attribute\n"
    "                          loss0 (total, content, style)\n"
    CLI_IMAGE_HELP
    CLI_HELP_OUTPUT CLI_HELP_THREADS CLI_HELP_SEED CLI_HELP_END;

enum {
    OPT_CONTENT = 2001, OPT_STYLE, OPT_CROW, OPT_SROW, OPT_CLAYER, OPT_SLAYERS, OPT_CW, OPT_SW,
    OPT_STEPS, OPT_LR, OPT_START, OPT_TEXTURE, OPT_SAVEGRAD
};

struct st_opts {
    struct cli_common co;
    const char *model, *content, *style, *clayer, *slayers, *start;
    int64_t crow, srow;
    double cw, sw, lr;
    int steps, texture, save_grad;
};

static void parse_args(int argc, char **argv, struct st_opts *o)
{
    static const struct option longopts[] = {
        { "model", required_argument, 0, 'm' },
        { "content", required_argument, 0, OPT_CONTENT },
        { "style", required_argument, 0, OPT_STYLE },
        { "content-row", required_argument, 0, OPT_CROW },
        { "style-row", required_argument, 0, OPT_SROW },
        { "content-layer", required_argument, 0, OPT_CLAYER },
        { "style-layers", required_argument, 0, OPT_SLAYERS },
        { "content-weight", required_argument, 0, OPT_CW },
        { "style-weight", required_argument, 0, OPT_SW },
        { "steps", required_argument, 0, OPT_STEPS },
        { "lr", required_argument, 0, OPT_LR },
        { "start", required_argument, 0, OPT_START },
        { "texture", no_argument, 0, OPT_TEXTURE },
        { "save-grad", no_argument, 0, OPT_SAVEGRAD },
        CLI_COMMON_LONGOPTS, CLI_IMAGE_LONGOPTS,
        { 0, 0, 0, 0 }
    };
    memset(o, 0, sizeof *o);
    cli_common_for(&o->co, CLI_THREADS | CLI_SEED);
    o->cw = 1;
    o->sw = 1000;
    o->lr = 0.01;
    o->steps = 200;
    int c;
    while ((c = getopt_long(argc, argv, "m:" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case OPT_CONTENT: o->content = optarg; break;
        case OPT_STYLE: o->style = optarg; break;
        case OPT_CROW: o->crow = cli_long("--content-row", optarg, 0, INT64_MAX); break;
        case OPT_SROW: o->srow = cli_long("--style-row", optarg, 0, INT64_MAX); break;
        case OPT_CLAYER: o->clayer = optarg; break;
        case OPT_SLAYERS: o->slayers = optarg; break;
        case OPT_CW: o->cw = cli_double("--content-weight", optarg, 0, 1e30); break;
        case OPT_SW: o->sw = cli_double("--style-weight", optarg, 0, 1e30); break;
        case OPT_STEPS: o->steps = (int)cli_long("--steps", optarg, 1, 1 << 30); break;
        case OPT_LR: o->lr = cli_double("--lr", optarg, 0, 1e6); break;
        case OPT_START: o->start = optarg; break;
        case OPT_TEXTURE: o->texture = 1; break;
        case OPT_SAVEGRAD: o->save_grad = 1; break;
        default:
            cli_common_opt(c, optarg, &o->co, usage);
        }
    }
    setup_need_model(o->model);
    if (optind < argc)
        die_usage("unexpected operand '%s' (images go in --content and --style)", argv[optind]);
    if (!o->style)
        die_usage("no style image: give --style S");
    if (!o->texture && !o->content)
        die_usage("no content image: give --content C (or --texture for texture synthesis)");
    if (o->texture && o->clayer)
        die_usage("--texture has no content loss, so no --content-layer");
    if (!o->start)
        o->start = o->texture ? "noise" : "content";
    if (o->texture && !strcmp(o->start, "content") && !o->content)
        die_usage("--start content needs --content");
}

/* The attributes: inputs, layers, weights and the optimiser. */
static void write_attrs(h5out *out, const struct st_opts *o, const style_cfg *cfg, const model *m,
                        const int *snodes, int ns)
{
    h5out_attr_str(out, "/", "model", o->model);
    if (o->content)
        h5out_attr_str(out, "/", "content", o->content);
    h5out_attr_str(out, "/", "style", o->style);
    h5out_attr_str(out, "/", "start", o->start);
    if (cfg->content_node >= 0)
        h5out_attr_str(out, "/", "content_layer", m->nodes[cfg->content_node].name);
    size_t len = 1;
    for (int i = 0; i < ns; i++)
        len += strlen(m->nodes[snodes[i]].name) + 1;
    char *sl = xcalloc(len, 1);
    for (int i = 0; i < ns; i++) {
        if (i)
            strcat(sl, ",");
        strcat(sl, m->nodes[snodes[i]].name);
    }
    h5out_attr_str(out, "/", "style_layers", sl);
    h5out_attr_f64(out, "/", "weights", 2, (double[]){ cfg->content_weight, cfg->style_weight });
    h5out_attr_str(out, "/", "gram", "G = F F^T; E = sum (G - A)^2 / (4 N^2 M^2) (Gatys 2016 eq. 4)");
    h5out_attr_str(out, "/", "optimizer", "adam");
    h5out_attr_i64(out, "/", "steps", 1, (int64_t[]){ o->steps });
    h5out_attr_f64(out, "/", "lr", 1, &o->lr);
    free(sl);
}

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    struct st_opts o;
    parse_args(argc, argv, &o);
    cli_check_stdout(o.co.output, "an HDF5 file");   /* before the work */
    if (o.co.threads)
        engine_set_threads(o.co.threads);
    model *m = model_load(o.model);
    int64_t C = m->in_shape[0], H = m->in_shape[1], W = m->in_shape[2], D = C * H * W;

    int *deflt, dcontent;
    int ndef = style_default_layers(m, &deflt, &dcontent);
    style_cfg cfg = { 0 };
    int *snodes = deflt, ns = ndef;
    char **names = NULL;
    int nn = 0;
    if (o.slayers) {
        nn = cli_split(o.slayers, ',', &names);
        if (nn < 1)
            die_usage("--style-layers: no layers in '%s'", o.slayers);
        snodes = xmalloc((size_t)nn * sizeof *snodes);
        for (int i = 0; i < nn; i++)
            snodes[i] = model_require(m, names[i], o.model);
        ns = nn;
    } else if (ndef == 0)
        die("%s: no ReLU layer with a spatial map to take Gram matrices from; give "
            "--style-layers", o.model);
    cfg.content_node = o.texture ? -1 : o.clayer ? model_require(m, o.clayer, o.model)
                                                 : dcontent;
    if (!o.texture && cfg.content_node < 0)
        die("%s: no default content layer; give --content-layer", o.model);
    cfg.nstyle = ns;
    cfg.style_nodes = snodes;
    cfg.content_weight = o.texture ? 0 : o.cw;
    cfg.style_weight = o.sw;

    int64_t cid = 0, sid;
    tensor *content =
        o.content ? setup_one_image(o.content, o.crow, m, o.model, "content", &cid, NULL) : NULL;
    tensor *sty = setup_one_image(o.style, o.srow, m, o.model, "style", &sid, NULL);
    tensor *x;
    if (!strcmp(o.start, "content")) {
        if (!content)
            die_usage("--start content needs --content");
        x = tensor_clone(content);
    } else if (!strcmp(o.start, "noise")) {
        x = tensor_new4(1, C, H, W);
        rng r;
        rng_seed(&r, o.co.seed);
        for (int64_t i = 0; i < D; i++)
            x->data[i] = (float)rng_uniform(&r);
    } else {
        int64_t xid;
        x = setup_one_image(o.start, 0, m, o.model, "start", &xid, NULL);
    }

    engine *e = engine_new(m, 1, 0, o.co.seed);
    style *s = style_new(m, e, &cfg, content, sty);
    tensor *g = tensor_clone(x), *g0 = NULL;
    tensor *loss = tensor_new2(o.steps + 1, 3);
    adam opt;   /* descending on pixels kept in [0,1] */
    adam_init(&opt, D, o.lr);
    opt.clamp = 1;
    progress *pg = progress_start(o.texture ? "texture" : "style", o.steps);
    for (int step = 0; step <= o.steps; step++) {
        double lc, ls, L = style_loss_grad(s, x, g, &lc, &ls);
        if (!isfinite(L))
            die("step %d: the loss became non-finite (lower --lr or the weights)", step);
        loss->data[step * 3 + 0] = (float)L;
        loss->data[step * 3 + 1] = (float)lc;
        loss->data[step * 3 + 2] = (float)ls;
        if (step == 0 && o.save_grad)
            g0 = tensor_clone(g);
        if (step == o.steps)
            break;
        for (int64_t i = 0; i < D; i++)
            if (!isfinite(g->data[i]))
                die("step %d: the gradient became non-finite (lower --lr or the weights)", step);
        adam_step(&opt, x->data, g->data);
        progress_update(pg, step + 1);
    }
    progress_end(pg);
    const float *l0 = loss->data, *l1 = loss->data + o.steps * 3;
    info("loss %.6g -> %.6g after %d steps (content %.6g -> %.6g, style %.6g -> %.6g)", l0[0],
         l1[0], o.steps, l0[1], l1[1], l0[2], l1[2]);

    h5out *out = h5out_create(o.co.output, "images", NULL);
    h5out_write(out, "/images", x);
    h5out_write_i64(out, "/ids", 1, &cid);
    h5out_write(out, "/loss", loss);
    if (g0)
        h5out_write(out, "/grad", g0);
    double l0d[3] = { l0[0], l0[1], l0[2] }, l1d[3] = { l1[0], l1[1], l1[2] };
    h5out_attr_f64(out, "/", "loss0", 3, l0d);
    h5out_attr_f64(out, "/", "loss", 3, l1d);
    write_attrs(out, &o, &cfg, m, snodes, ns);
    h5out_commit(out);

    adam_free(&opt);
    tensor_free(loss);
    tensor_free(g);
    tensor_free(g0);
    tensor_free(x);
    tensor_free(sty);
    tensor_free(content);
    style_free(s);
    engine_free(e);
    if (snodes != deflt)
        free(snodes);
    free(deflt);
    if (names)
        cli_free_list(names, nn);
    model_free(m);
    return EXIT_OK;
}
