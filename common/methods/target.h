/* target: what an attribution or occlusion tool measures, one scalar per
 * image. Shared by cnn-saliency (which backpropagates from it) and
 * cnn-occlude (which only evaluates it), so both accept the same words:
 *
 *   class=K            logit (or probability) of class K; K an index or a
 *                      class name of the model
 *   label              of the image's own label (/labels)
 *   pred               of the class the model predicts for the clean image
 *   unit=LAYER:C       feature map C of LAYER, summarised by its maximum
 *   unit=LAYER:C:mean  ... by its mean, or :sum (":max" spells the default)
 *   unit=LAYER:C@X,Y   one position of the map (x across, y down)
 *   direction=LAYER:FILE  the activation of LAYER projected on a direction
 *                      of its channel space, averaged over positions:
 *                      (1/hw) sum_yx sum_c v_c a[c,y,x] (Lucid's
 *                      "direction"); FILE holds v, C numbers: a text file
 *                      (whitespace or commas) or an HDF5 file's /direction
 *                      or first row of /components (cnn-pca)
 *   strongest=LAYER    per image, the map of LAYER with the largest sum
 *                      (Zeiler & Fergus), measured by that sum; :max, :mean
 *                      or @X,Y choose another summary
 *
 * Every method that measures a target parses it here (cnn-saliency, its
 * CAMs, cnn-occlude), so all read one target the same way, match class
 * names (exactly, else ignoring case) and layers (nn/graph.h's
 * model_require) by one rule and word their errors alike; each writes the
 * class or map measured per image as /target in its maps file.
 * Targets that depend on the image (label, pred, strongest) are fixed once
 * per image from its clean forward pass (target_pick), so noisy or
 * interpolated copies (SmoothGrad, integrated gradients, occluded copies)
 * are measured on the same class or unit. */
#ifndef CNN_TARGET_H
#define CNN_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include "nn/engine.h"
#include "nn/model.h"

typedef enum { TARGET_CLASS, TARGET_LABEL, TARGET_PRED, TARGET_UNIT, TARGET_STRONGEST,
               TARGET_DIRECTION } target_kind;
/* TARGET_LOGODDS: z_c - A logsumexp_{j != c} z_j (A = target.odds_w); A = 1
 * is log(p_c / (1 - p_c)), the class's log-odds against all others: unlike
 * the probability it does not saturate, unlike the logit (A = 0) it pushes
 * down the nearest rival class. */
typedef enum { TARGET_LOGIT, TARGET_PROB, TARGET_LOGODDS } target_measure;
typedef enum { TARGET_MAP_MAX, TARGET_MAP_MEAN, TARGET_MAP_SUM, TARGET_MAP_AT } target_map;

typedef struct target {
    target_kind kind;
    target_measure measure;     /* class targets only */
    double odds_w;              /* TARGET_LOGODDS: the rivals' weight A */
    char *spec;                 /* the text as given (owned) */
    char *cls_name;             /* class=K as written (owned) */
    int cls;                    /* resolved class index */
    char *layer;                /* unit/strongest layer as written (owned) */
    int node;                   /* node measured: the logits, or the unit's layer */
    int64_t channel;            /* unit channel */
    target_map map;             /* unit, strongest: how a map becomes one number */
    int64_t y, x;               /* position (TARGET_MAP_AT) */
    int softmax;                /* the model ends in Softmax after the logits */
    char *dir_file;             /* direction: the file as written (owned) */
    float *dir;                 /* direction: v, one per channel (owned) */
} target;

/* A weighted sum of targets, "T1 + T2 - 0.5*T3" (Lucid's objective
 * arithmetic): terms joined by " + " or " - " (spaces around the sign, as
 * names may hold '-'), each optionally "W*" weighted. */
typedef struct target_expr {
    int n;
    target *t;
    double *w;
} target_expr;
int target_expr_parse(const char *spec, target_expr *x, char *err, size_t errlen);
void target_expr_free(target_expr *x);

/* The per-image choice target_pick makes: the node, channel (class or map)
 * and, for a single position, y and x (-1 when the map is summarised by
 * the target's map summary). */
typedef struct target_sel {
    int node;
    int64_t channel;
    int64_t y, x;
} target_sel;

/* Parse spec into t (zeroed first). Returns 0, or -1 with a one-line
 * reason in err. The caller frees with target_free. */
int target_parse(const char *spec, target *t, char *err, size_t errlen);
void target_free(target *t);
/* Check t against the model: layer and class names, channel and position
 * ranges. Dies with "FILE: ..." naming what would be right. */
void target_resolve(target *t, const model *m, const char *file);
/* Does the target need image labels? */
int target_needs_labels(const target *t);

/* After a forward pass over n images (which computed t->node), choose each
 * image's class or unit. labels may be NULL unless target_needs_labels;
 * a label outside the classes dies naming the row (ids[i] when ids is not
 * NULL). */
void target_pick(const target *t, const model *m, const engine *e, int n,
                 const int32_t *labels, const int64_t *ids, target_sel *sel);
/* The same from the target node's outputs of n images (act: n rows). */
void target_pick_rows(const target *t, const model *m, const float *act, int n,
                      const int32_t *labels, const int64_t *ids, target_sel *sel);

/* The measured value of each image of the last forward (n images; image i
 * uses sel[i % nsel], so one selection can serve several copies of an
 * image in a row: nsel = n for one-to-one). */
void target_value(const target *t, const engine *e, int n, const target_sel *sel, int nsel,
                  float *val);

/* The value of one image from its activations of t->node (row: C x h x w
 * floats) for the selection q, and d value / d row into g (zeroed, C*h*w
 * floats) when g is not NULL. For callers that keep activations outside
 * the engine (occlusion's incremental crops). */
double target_row_value(const target *t, const float *row, int64_t C, int64_t h, int64_t w,
                        const target_sel *q, float *g);

/* The seed for engine_backward from t->node: d value / d activation of
 * that node for each image (grad gets the node's activation shape, n
 * rows), and the values. Returns the node to backward from. */
int target_seed(const target *t, const engine *e, int n, const target_sel *sel, int nsel,
                tensor *grad, float *val);

#endif
