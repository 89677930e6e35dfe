/* style: Gatys, Ecker & Bethge 2016, "Image Style Transfer Using
 * Convolutional Neural Networks": an image whose activations at one layer
 * match a content image and whose Gram matrices at several layers match a
 * style image, found by optimising the pixels (Adam here).
 *
 * Losses, as in the paper (eq. 1, 4, 5), with F_l the N_l x M_l feature
 * maps (N_l channels, M_l = H x W positions) of the image at layer l:
 *   content  L_c = 1/2 sum (F - P)^2                 (P: the content's maps)
 *   Gram     G_l = F_l F_l^T (unnormalised sums over positions)
 *   style    E_l = 1/(4 N_l^2 M_l^2) sum (G_l - A_l)^2   (A_l: the style's)
 *            L_s = sum_l w_l E_l with w_l = 1/|style layers|
 *   total    L = content_weight L_c + style_weight L_s
 * Texture synthesis (Gatys et al. 2015) is content_weight 0. */
#ifndef CNN_STYLE_H
#define CNN_STYLE_H

#include "nn/engine.h"
#include "nn/model.h"
#include "base/tensor.h"

typedef struct style_cfg {
    int content_node;       /* -1: no content loss (texture) */
    int nstyle;
    const int *style_nodes;
    double content_weight, style_weight;
} style_cfg;

typedef struct style style;

/* G = F F^T (n x n) for feature maps F (n channels x k positions). */
void style_gram(const float *F, int64_t n, int64_t k, float *G);

/* Targets from the content image (may be NULL when content_node < 0) and
 * the style image, each 1 x C x H x W in [0,1]. e holds at least 1 image. */
style *style_new(const model *m, engine *e, const style_cfg *c, const tensor *content,
                 const tensor *style_img);
void style_free(style *s);

/* The loss at x (1 x C x H x W) and its gradient with respect to the
 * pixels into grad (same shape). *lc and *ls get the unweighted content
 * and style losses. Returns the total. */
double style_loss_grad(style *s, const tensor *x, tensor *grad, double *lc, double *ls);

/* Default layers when the user names none: the spatial outputs of the
 * ReLU family (one per conv block); style the first five, content the
 * fourth (the paper's conv1_1 .. conv5_1 and conv4_2 on VGG). Returns the
 * count of style nodes (into *style, malloc'd) and the content node. */
int style_default_layers(const model *m, int **style, int *content);

#endif
