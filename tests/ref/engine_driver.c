/* Test driver for tests/ref/engine.sh: runs the engine on a model and an
 * images file and writes what PyTorch is compared with:
 *   /act/<node>          every node's activation
 *   /grad/<rule>         d/d pixels from node FROM seeded with SEED's /seed,
 *                        rule = standard, guided, deconvnet
 *   /wgrad/<node>/<w>    weight gradients of the standard backward
 * Usage: engine_driver MODEL IMAGES SEEDFILE FROM OUT */
#include <stdio.h>
#include <stdlib.h>

#include "base/cli.h"
#include "nn/engine.h"
#include "io/h5io.h"
#include "nn/model.h"

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    if (argc != 6)
        die_usage("usage: engine_driver MODEL IMAGES SEEDFILE FROM OUT");
    model *m = model_load(argv[1]);
    h5in *im = h5in_open(argv[2]);
    h5in_require_kind(im, "images");
    tensor *x = h5in_read(im, "/images");
    h5in *sf = h5in_open(argv[3]);
    tensor *seed = h5in_read(sf, "/seed");
    int from = model_require(m, argv[4], argv[1]);
    engine_set_threads(2);
    engine *e = engine_new(m, (int)x->dims[0], 0, 1);
    h5out *out = h5out_create(argv[5], "activations", im);
    out->keep_nonfinite = 1;   /* the NaN nets check NaN reaches where PyTorch's does */
    engine_forward(e, x);
    char path[512];
    for (int i = 0; i < m->n; i++) {
        snprintf(path, sizeof path, "/act/%s", m->nodes[i].name);
        h5out_write(out, path, engine_act(e, i));
    }
    static const char *rules[] = { "standard", "guided", "deconvnet" };
    for (int r = 2; r >= 0; r--) {
        engine_zero_wgrad(e);
        engine_backward(e, from, seed, (relu_rule)r, r == 0);
        snprintf(path, sizeof path, "/grad/%s", rules[r]);
        h5out_write(out, path, engine_input_grad(e));
    }
    for (int i = 0; i <= from; i++)
        for (int k = 0; k < m->nodes[i].nw; k++) {
            snprintf(path, sizeof path, "/wgrad/%s/%s", m->nodes[i].name, m->nodes[i].wnames[k]);
            h5out_write(out, path, engine_wgrad(e, i, k));
        }
    h5out_commit(out);
    engine_free(e);
    tensor_free(x);
    tensor_free(seed);
    h5in_close(im);
    h5in_close(sf);
    model_free(m);
    return 0;
}
