/* setup: a model and the images file it runs on (setup.h). */
#include <stdlib.h>
#include <string.h>

#include "nn/setup.h"
#include "nn/engine.h"
#include "io/pixels.h"
#include "io/imageset.h"

void setup_need_model(const char *model_file)
{
    if (!model_file)
        die_usage("no model: give -m MODEL.h5");
}

/* The operands setup_args saw: several image files or folders read as one
 * images file by setup_images. */
static char **operands;
static int noperands;

const char *setup_args(const char *model_file, int argc, char **argv, int optind)
{
    setup_need_model(model_file);
    operands = argv + optind;
    noperands = argc - optind;
    for (int i = 0; i < noperands && noperands > 1; i++)
        if (!imageset_is_photo(operands[i]))
            die_usage("one images file expected, got %d operands (several image files or "
                      "folders are fine)", noperands);
    return noperands ? operands[0] : NULL;
}

h5in *setup_open_images(const char *images, const model *m, const struct cli_common *co)
{
    char *one[1] = { (char *)images };
    int n = images ? 1 : 0;
    char *const *v = one;
    if (images && noperands > 1 && images == operands[0])
        n = noperands, v = operands;
    int64_t C = m ? m->in_shape[0] : 0, H = m ? m->in_shape[1] : 0, W = m ? m->in_shape[2] : 0;
    return imageset_open(n, v, &co->photo, (int)C, (int)W, (int)H);
}

model *setup_model(const char *model_file, const struct cli_common *co)
{
    if (co->threads)
        engine_set_threads(co->threads);
    return model_load(model_file);
}

int64_t setup_check_images(h5in *in, const model *m, const char *model_file)
{
    int64_t d[TENSOR_MAXDIM];
    if (!h5in_has(in, "/images"))
        die("%s: no dataset '/images' (not an images file)", in->name);
    int nd = h5in_dims(in, "/images", d);
    if (nd != 4)
        die("%s: /images should be N x C x H x W (has %d dimensions)", in->name, nd);
    const int64_t *ms = m->in_shape;
    if (d[1] != ms[0] || d[2] != ms[1] || d[3] != ms[2]) {
        const char *hint = d[1] == 1 && ms[0] == 3   ? "make RGB images with cnn-images --rgb"
                           : d[1] == 3 && ms[0] == 1 ? "make gray images with cnn-images --gray"
                           : d[1] != ms[0]           ? "convert with cnn-images --gray or --rgb"
                                                     : "resize with cnn-images --size";
        die("%s: images are %lldx%lldx%lld (C x H x W) but %s wants %lldx%lldx%lld; %s", in->name,
            (long long)d[1], (long long)d[2], (long long)d[3], model_file, (long long)ms[0],
            (long long)ms[1], (long long)ms[2], hint);
    }
    return d[0];
}

h5in *setup_images(const char *images, const model *m, const char *model_file,
                   const struct cli_common *co, int64_t *a, int64_t *b)
{
    h5in *in = setup_open_images(images, m, co);
    h5in_require_kind(in, "images");
    int64_t n = setup_check_images(in, m, model_file);
    *a = co->range_a, *b = co->range_b;
    cli_range_resolve(n, a, b);
    return in;
}

tensor *setup_one_image(const char *path, int64_t row, const model *m, const char *model_file,
                        const char *what, int64_t *id, h5in **src)
{
    int64_t C = m->in_shape[0], H = m->in_shape[1], W = m->in_shape[2];
    tensor *x = tensor_new4(1, C, H, W);
    *id = 0;
    if (src)
        *src = NULL;
    if (imageio_has_image_ext(path)) {
        tensor *img = imageio_read(path, (int)C);
        tensor *rs = imageio_crop_resize(img, (int)H, (int)W, IMAGEIO_BILINEAR);
        memcpy(x->data, rs->data, (size_t)(C * H * W) * sizeof(float));
        tensor_free(img);
        tensor_free(rs);
        return x;
    }
    h5in *in = h5in_open(path);
    h5in_require_kind(in, "images");
    int64_t n = setup_check_images(in, m, model_file);
    if (row >= n)
        die("%s: %s row %lld but the file has %lld rows", in->name, what, (long long)row,
            (long long)n);
    pixels_read_into(in, row, 1, x->data);
    if (h5in_has(in, "/ids")) {
        int64_t *v = h5in_read_i64(in, "/ids", row, 1);
        *id = v[0];
        free(v);
    } else
        *id = row;
    if (src)
        *src = in;
    else
        h5in_close(in);
    return x;
}
