/* cam: the class activation maps (see cam.h). Weights and sums run in
 * double. Score-CAM packs up to max_batch masked copies of one image per
 * forward pass: K / max_batch passes per image (K the layer's channels).
 * Ablation-CAM never runs the net before the layer again. Zeroing a map
 * of layer L changes every position downstream, so the occlusion engine's
 * receptive-field cones (nn/cone.h, which follow a changed input rectangle)
 * do not apply; what does is the graph's cut: when everything from L to the
 * target reads only L or nodes after it, those nodes are copied into a
 * model of their own whose input is L's activation (the "tail"), and the
 * ablated copies, max_batch a pass, go through the tail alone; when the
 * target is a class's logit and the tail ends in a Dense layer, that layer
 * keeps only the selected classes' rows (resnet50 at layer4: 2048 copies
 * through 2048 x 1000 weights were 8 GFLOP, through 2048 x 1 are 8 MFLOP).
 * Otherwise (a skip connection around L) the image's copies run once and
 * then the nodes after L, K / max_batch times (engine_rerun_from).
 * Masked and ablated copies need no gradient: they go through
 * forward-only engines (nn/engine.h: shared buffers, fused ReLUs) in
 * chunks of cam_pass_rows rows, few enough that a chunk's activations stay
 * in the caches (a pass of 64 rows of resnet50 streams each layer's
 * hundreds of megabytes through memory and ran 1.5x slower per row).
 * Where the net past a cut is one nn/colrun runs (convolutions, ReLU, Add,
 * pooling to a dense layer), that part goes there instead, many rows in
 * each product: Ablation-CAM's tail with a class logit as target (the
 * layer's readers as updates of the clean pass), and cam_pass's tail from
 * the first cut with maps of at most 14x14 (Score-CAM, cnn-evaluate). */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/cli.h"
#include "base/cpu.h"
#include "base/numeric.h"
#include "methods/cam.h"
#include "nn/colrun.h"

int cam_needs_grad(cam_kind k) { return k <= CAM_LAYERCAM; }
int cam_has_weights(cam_kind k) { return k != CAM_LAYERCAM && k != CAM_EIGENCAM; }
int cam_needs_passes(cam_kind k) { return k == CAM_SCORECAM || k == CAM_ABLATIONCAM; }

/* Activations one chunk of a forward-only pass may hold (see the top). */
#define CAM_PASS_BYTES (16.0 * 1024 * 1024)

int cam_pass_rows(const model *m, int max_rows)
{
    int64_t big = m->in_shape[0] * m->in_shape[1] * m->in_shape[2];
    for (int i = 0; i < m->n; i++) {
        const int64_t *sh = m->nodes[i].shape;
        big = sh[0] * sh[1] * sh[2] > big ? sh[0] * sh[1] * sh[2] : big;
    }
    double r = CAM_PASS_BYTES / (4.0 * (double)(big > 0 ? big : 1));
    return r < 1 ? 1 : r > max_rows ? max_rows : (int)r;
}

engine *cam_pass_engine(model *m, int upto, int rows)
{
    engine *e = engine_new(m, rows, 0, 1);
    engine_forward_only(e, &upto, 1);
    return e;
}

void cam_pass_values(engine *e, int rows, const tensor *xb, const target *t,
                     const target_sel *sel, int nsel, float *val)
{
    int n = (int)xb->dims[0];
    int64_t len = tensor_rowsize(xb);
    for (int a = 0; a < n; a += rows) {
        tensor xs = *xb;
        xs.dims[0] = n - a < rows ? n - a : rows;
        xs.data = xb->data + (int64_t)a * len;
        engine_forward_upto(e, &xs, t->node);
        target_value(t, e, (int)xs.dims[0], sel + (nsel > 1 ? a : 0), nsel > 1 ? nsel - a : 1,
                     val + a);
    }
}

/* Maps of at most this many positions run on the column-batched runner
 * when the rest of the net after them is one (resnet50: layer3 on). */
#define CAM_TAIL_HW 196
/* Rows of a colrun pass: enough columns at the tail's smallest maps for
 * the packed products (16 x 7 x 7 = 784 at resnet50's layer4, 64 tiles for
 * Winograd), at most the caller's batch. */
#define CAM_COLRUN_COLS 768

/* Rows for a runner of m's nodes from+1 .. upto whose input has small
 * positions. */
static int colrun_rows_for(const model *m, int from, int upto, int64_t small, int max_rows)
{
    for (int j = from + 1; j <= upto; j++) {
        int64_t s = m->nodes[j].shape[1] * m->nodes[j].shape[2];
        small = s > 1 && s < small ? s : small;
    }
    int rows = (int)((CAM_COLRUN_COLS + small - 1) / small);
    return rows > max_rows ? max_rows : rows < 1 ? 1 : rows;
}

struct cam_pass {
    engine *e;                  /* forward-only, er rows a forward: the net, or up to cut */
    int er, upto, cut;          /* cut: where the tail starts, -1 none */
    colrun *cr;                 /* the nodes after cut up to upto */
    int cr_rows;
    int64_t cut_len, C, H, W;   /* a row at cut; upto's shape */
    float *stage, *out;         /* cr_rows rows at cut; their values at upto */
};

cam_pass *cam_pass_new(model *m, int upto, int max_rows, int tail)
{
    cam_pass *p = xcalloc(1, sizeof *p);
    p->upto = upto, p->cut = -1;
    p->er = cam_pass_rows(m, max_rows);
    const node *u = &m->nodes[upto];
    p->C = u->shape[0], p->H = u->shape[1], p->W = u->shape[2];
    for (int j = 0; tail && j < upto && !p->cr; j++) {
        const int64_t *sh = m->nodes[j].shape;
        if (sh[1] * sh[2] > CAM_TAIL_HW || sh[1] * sh[2] <= 1 || !cam_has_tail(m, j, upto))
            continue;
        p->cr_rows = colrun_rows_for(m, j, upto, sh[1] * sh[2], max_rows);
        p->cr = colrun_new_from(m, j, upto, p->cr_rows);
        if (!p->cr)
            continue;
        p->cut = j;
        p->cut_len = sh[0] * sh[1] * sh[2];
        p->stage = falloc_raw((size_t)(p->cr_rows * p->cut_len));
        p->out = falloc_raw((size_t)(p->cr_rows * p->C * p->H * p->W));
    }
    int keep[2] = { upto, p->cut };
    p->e = engine_new(m, p->er, 0, 1);
    engine_forward_only(p->e, keep, p->cut >= 0 ? 2 : 1);
    return p;
}

void cam_pass_free(cam_pass *p)
{
    if (!p)
        return;
    engine_free(p->e);
    colrun_free(p->cr);
    free(p->stage);
    free(p->out);
    free(p);
}

int cam_pass_chunk(const cam_pass *p) { return p->er; }

/* Where a pass's rows go: each one's measure of t (sel as cam_pass_run's)
 * into val, or, when out is not NULL, its whole output at upto into out. */
typedef struct pass_sink {
    const target *t;
    const target_sel *sel;
    int nsel;
    float *val, *out;
} pass_sink;

/* k rows of outputs (rows) of a pass, from its row a0 on, into s. */
static void sink_rows(const cam_pass *p, const pass_sink *s, const float *rows, int k, int a0)
{
    int64_t len = p->C * p->H * p->W;
    if (s->out) {
        memcpy(s->out + (int64_t)a0 * len, rows, (size_t)(k * len) * sizeof *rows);
        return;
    }
    for (int i = 0; i < k; i++)
        s->val[a0 + i] = (float)target_row_value(s->t, rows + i * len, p->C, p->H, p->W,
                                                 &s->sel[s->nsel > 1 ? (a0 + i) % s->nsel : 0],
                                                 NULL);
}

/* Every row of xb through p into s: the engine chunk by chunk up to the
 * cut, the rows staged there through the tail many at a time. */
static void pass_rows(cam_pass *p, const tensor *xb, const pass_sink *s)
{
    int n = (int)xb->dims[0], staged = 0, a0 = 0, last = p->cut < 0 ? p->upto : p->cut;
    int64_t len = tensor_rowsize(xb);
    /* The tail's passes evened out (21 rows: 11 and 10, not 16 and 5): a
     * row's values do not depend on the rows beside it. */
    int per = p->cr_rows;
    if (p->cut >= 0 && n > per) {
        int passes = (n + per - 1) / per;
        per = (n + passes - 1) / passes;
    }
    for (int a = 0; a < n; a += p->er) {
        tensor xs = *xb;
        xs.dims[0] = n - a < p->er ? n - a : p->er;
        xs.data = xb->data + (int64_t)a * len;
        engine_forward_upto(p->e, &xs, last);
        const float *act = engine_act(p->e, last)->data;
        if (p->cut < 0) {
            sink_rows(p, s, act, (int)xs.dims[0], a);
            continue;
        }
        for (int i = 0; i < (int)xs.dims[0]; i++) {
            memcpy(p->stage + staged * p->cut_len, act + i * p->cut_len,
                   (size_t)p->cut_len * sizeof(float));
            if (++staged == per) {
                colrun_forward(p->cr, p->stage, staged, p->out);
                sink_rows(p, s, p->out, staged, a0);
                a0 += staged, staged = 0;
            }
        }
    }
    if (staged) {
        colrun_forward(p->cr, p->stage, staged, p->out);
        sink_rows(p, s, p->out, staged, a0);
    }
}

void cam_pass_run(cam_pass *p, const tensor *xb, const target *t, const target_sel *sel,
                  int nsel, float *val)
{
    if (t->node != p->upto) {
        cam_pass_values(p->e, p->er, xb, t, sel, nsel, val);
        return;
    }
    pass_sink s = { t, sel, nsel, val, NULL };
    pass_rows(p, xb, &s);
}

void cam_pass_outputs(cam_pass *p, const tensor *xb, float *out)
{
    pass_sink s = { NULL, NULL, 0, NULL, out };
    pass_rows(p, xb, &s);
}

void cam_upsample(const float *src, int64_t h, int64_t w, float *dst, int64_t H, int64_t W,
                  int align_corners)
{
    double sy = (double)h / (double)H, sx = (double)w / (double)W;
    if (align_corners) {
        sy = H > 1 ? (double)(h - 1) / (double)(H - 1) : 0;
        sx = W > 1 ? (double)(w - 1) / (double)(W - 1) : 0;
    }
    for (int64_t Y = 0; Y < H; Y++) {
        double fy = align_corners ? (double)Y * sy : ((double)Y + 0.5) * sy - 0.5;
        if (fy < 0)
            fy = 0;
        int64_t y0 = (int64_t)fy, y1 = y0 + (y0 < h - 1);
        double ly = fy - (double)y0;
        for (int64_t X = 0; X < W; X++) {
            double fx = align_corners ? (double)X * sx : ((double)X + 0.5) * sx - 0.5;
            if (fx < 0)
                fx = 0;
            int64_t x0 = (int64_t)fx, x1 = x0 + (x0 < w - 1);
            double lx = fx - (double)x0;
            double v = (1 - ly) * ((1 - lx) * src[y0 * w + x0] + lx * src[y0 * w + x1]) +
                       ly * ((1 - lx) * src[y1 * w + x0] + lx * src[y1 * w + x1]);
            dst[Y * W + X] = (float)v;
        }
    }
}

/* Channel weights of the gradient CAMs for one image (a, g: K x hw). */
static void grad_weights(cam_kind k, const float *a, const float *g, int64_t K, int64_t hw,
                         double *w)
{
    for (int64_t c = 0; c < K; c++) {
        const float *ac = a + c * hw, *gc = g + c * hw;
        double sa = 0, s = 0;
        for (int64_t p = 0; p < hw; p++)
            sa += ac[p];
        for (int64_t p = 0; p < hw; p++) {
            double gv = gc[p];
            if (k == CAM_GRADCAM)
                s += gv;
            else if (k == CAM_XGRADCAM)
                s += gv * ac[p];
            else if (gv != 0) {   /* Grad-CAM++ */
                double g2 = gv * gv, aij = g2 / (2 * g2 + sa * g2 * gv + 1e-6);
                s += (gv > 0 ? gv : 0) * aij;
            }
        }
        w[c] = k == CAM_GRADCAM ? s / (double)hw : k == CAM_XGRADCAM ? s / (sa + 1e-7) : s;
    }
}

/* Eigen-CAM of one image (a: K x hw) into cam (hw). */
static void eigen_cam(const float *a, int64_t K, int64_t hw, float *cam)
{
    double *mu = xcalloc((size_t)K, sizeof *mu), *gram = xcalloc((size_t)(K * K), sizeof *gram);
    for (int64_t c = 0; c < K; c++) {
        for (int64_t p = 0; p < hw; p++)
            mu[c] += a[c * hw + p];
        mu[c] /= (double)hw;
    }
    for (int64_t c = 0; c < K; c++)
        for (int64_t d = c; d < K; d++) {
            double s = 0;
            for (int64_t p = 0; p < hw; p++)
                s += (a[c * hw + p] - mu[c]) * (a[d * hw + p] - mu[d]);
            gram[c * K + d] = s;
        }
    double ev, *v = xcalloc((size_t)K, sizeof *v);
    lapack_int found = 0, isuppz[2];
    cpu_blas_threads();
    lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', (lapack_int)K, gram,
                                     (lapack_int)K, 0, 0, (lapack_int)K, (lapack_int)K, 0.0,
                                     &found, &ev, v, 1, isuppz);
    if (info != 0 || found != 1)
        die("eigencam: eigen-decomposition failed (LAPACK dsyevr info %d)", (int)info);
    double *proj = xcalloc((size_t)hw, sizeof *proj), big = 0;
    for (int64_t p = 0; p < hw; p++) {
        for (int64_t c = 0; c < K; c++)
            proj[p] += (a[c * hw + p] - mu[c]) * v[c];
        if (fabs(proj[p]) > fabs(big))
            big = proj[p];
    }
    for (int64_t p = 0; p < hw; p++) {
        double q = big < 0 ? -proj[p] : proj[p];
        cam[p] = q > 0 ? (float)q : 0.0f;
    }
    free(mu);
    free(gram);
    free(v);
    free(proj);
}

/* Ablation-CAM's edit: every row back to the clean maps, then map chan[r]
 * of row r zeroed. */
struct ablate {
    const float *clean;     /* the image's maps at the layer, K x h x w */
    const int64_t *chan;
};

static void ablate_rows(void *ctx, tensor *act)
{
    const struct ablate *ab = ctx;
    int64_t K = act->dims[1], hw = act->dims[2] * act->dims[3];
    for (int64_t r = 0; r < act->dims[0]; r++) {
        memcpy(act->data + r * K * hw, ab->clean, (size_t)(K * hw) * sizeof(float));
        memset(act->data + (r * K + ab->chan[r]) * hw, 0, (size_t)hw * sizeof(float));
    }
}

/* Marks in use (m->n entries) the nodes after `from` up to `upto` that
 * depend on it (3; all their other ancestors 1); 1 when none of the
 * marked also reads a node before from (the tail is a model of its own). */
static int tail_nodes(const model *m, int from, int upto, char *use)
{
    if (from >= upto)
        return 0;
    use[upto] = 1;
    for (int i = upto; i > from; i--)
        for (int k = 0; use[i] && k < m->nodes[i].nin; k++)
            if (m->nodes[i].in[k] >= 0)
                use[m->nodes[i].in[k]] |= 1;
    use[from] = 3;
    int ok = 1;
    for (int i = from + 1; i <= upto; i++) {
        const node *nd = &m->nodes[i];
        int dep = 0, other = 0;
        for (int k = 0; k < nd->nin; k++) {
            int j = nd->in[k];
            if (j >= 0 && use[j] == 3)
                dep = 1;
            else
                other = 1;
        }
        if (use[i] && dep)
            use[i] = 3;
        if (use[i] == 3 && other)
            ok = 0;
    }
    return ok && use[upto] == 3;
}

int cam_has_tail(const model *m, int layer, int upto)
{
    char *use = xcalloc((size_t)m->n, 1);
    int ok = tail_nodes(m, layer, upto, use);
    free(use);
    return ok;
}

/* The classes a logit target reads of the tail's last node, when that is
 * a Dense layer (weight, bias): the distinct channels of sel[0..n-1] into
 * cls (ascending) and each image's place among them into at. Returns how
 * many, or 0 when the copies need every output (another target or
 * measure, another op, or every class selected). A Dense output is its own
 * sum over the inputs in input order whatever the other rows (nn/ops/conv.c),
 * so the rows kept compute the full layer's values bit for bit. */
static int64_t tail_classes(const model *m, int upto, const target *t, const target_sel *sel,
                            int n, int64_t *cls, int64_t *at)
{
    const node *nd = &m->nodes[upto];
    int logit = (t->kind == TARGET_CLASS || t->kind == TARGET_LABEL || t->kind == TARGET_PRED) &&
                t->measure == TARGET_LOGIT;
    if (!logit || strcmp(nd->op, "Dense") || nd->nw < 1 || nd->nw > 2 ||
        strcmp(nd->wnames[0], "weight") || (nd->nw == 2 && strcmp(nd->wnames[1], "bias")))
        return 0;
    int64_t D = nd->w[0]->dims[0], u = 0;
    char *seen = xcalloc((size_t)D, 1);
    for (int i = 0; i < n; i++)
        seen[sel[i].channel] = 1;
    for (int64_t c = 0; c < D; c++)
        if (seen[c])
            cls[u++] = c;
    for (int i = 0; i < n; i++)
        for (at[i] = 0; cls[at[i]] != sel[i].channel; at[i]++)
            ;
    free(seen);
    return u < D ? u : 0;
}

/* The nodes after `from` up to `upto` that depend on it (all its
 * descendants that are ancestors of upto) as a model whose input is from's
 * activation (identity preprocessing; weights copied), *tnode the index of
 * upto there; with ncls > 0 upto (a Dense layer) keeps only the outputs
 * cls[0..ncls-1], in that order. NULL when one of them also reads a node
 * before from. */
static model *tail_model(const model *m, int from, int upto, const int64_t *cls, int64_t ncls,
                         int *tnode)
{
    char *use = xcalloc((size_t)m->n, 1);
    int ok = tail_nodes(m, from, upto, use);
    const node *fn = &m->nodes[from];
    model *t = ok ? model_new(fn->shape[0], fn->shape[1], fn->shape[2]) : NULL;
    for (int i = from + 1; t && i <= upto; i++) {
        const node *nd = &m->nodes[i];
        if (use[i] != 3)
            continue;
        size_t len = 1;
        for (int k = 0; k < nd->nin; k++)
            len += strlen(nd->in_names[k]) + 8;
        char *ins = xcalloc(len, 1);
        for (int k = 0; k < nd->nin; k++) {
            strcat(ins, k ? "," : "");
            strcat(ins, nd->in[k] == from ? "input" : m->nodes[nd->in[k]].name);
        }
        node *o = model_add(t, nd->name, nd->op, ins);
        free(ins);
        for (int a = 0; a < nd->nattr; a++)
            node_set(o, nd->attrs[a].name, nd->attrs[a].n, nd->attrs[a].v);
        for (int k = 0; k < nd->nw; k++) {
            const tensor *src = nd->w[k];
            if (i == upto && ncls > 0) {   /* the rows cls of weight and bias */
                int64_t dims[2] = { ncls, src->ndim == 2 ? src->dims[1] : 1 };
                tensor *w = tensor_new(src->ndim, dims);
                for (int64_t r = 0; r < ncls; r++)
                    memcpy(w->data + r * dims[1], src->data + cls[r] * dims[1],
                           (size_t)dims[1] * sizeof(float));
                node_add_weight(o, nd->wnames[k], w);
                continue;
            }
            tensor *w = tensor_new(src->ndim, src->dims);
            memcpy(w->data, src->data, (size_t)tensor_numel(w) * sizeof(float));
            node_add_weight(o, nd->wnames[k], w);
        }
    }
    free(use);
    char err[256];
    if (t && model_prepare(t, err, sizeof err) < 0) {
        model_free(t);
        t = NULL;
    }
    if (t)
        *tnode = t->n - 1;
    return t;
}


/* ablation_tail on the column-batched runner, when the tail is one it
 * runs and the target a logit of the tail's last node (tail_classes):
 * y[i * K + c] = that output of image i with map c zeroed. 0 when it
 * cannot (then nothing is written). */
static int ablation_colrun(model *tm, int tnode, const tensor *A, const cam_passes *p,
                           const target_sel *sel, double *y)
{
    int logit = (p->t->kind == TARGET_CLASS || p->t->kind == TARGET_LABEL ||
                 p->t->kind == TARGET_PRED) && p->t->measure == TARGET_LOGIT;
    if (!logit)
        return 0;
    int rows = colrun_rows_for(tm, -1, tnode, tm->in_shape[1] * tm->in_shape[2], p->max_batch);
    colrun *cr = colrun_new(tm, tnode, rows);
    if (!cr)
        return 0;
    int n = (int)A->dims[0];
    int64_t K = A->dims[1], hw = A->dims[2] * A->dims[3], D = tm->nodes[tnode].shape[0];
    int64_t *chan = xmalloc((size_t)rows * sizeof *chan);
    float *val = xmalloc((size_t)(rows * D) * sizeof *val);
    for (int i = 0; i < n; i++) {
        colrun_clean(cr, A->data + (int64_t)i * K * hw);
        for (int64_t c0 = 0; c0 < K; c0 += rows) {
            int r = K - c0 < rows ? (int)(K - c0) : rows;
            for (int j = 0; j < r; j++)
                chan[j] = c0 + j;
            colrun_ablate(cr, chan, r, val);
            for (int j = 0; j < r; j++)
                y[(int64_t)i * K + c0 + j] = val[j * D + sel[i].channel];
            progress_update(p->pg, p->pg_done + (int64_t)i * K + c0 + r);
        }
    }
    free(chan);
    free(val);
    colrun_free(cr);
    return 1;
}

/* Ablation-CAM's scores of every image through the tail: copies of the
 * clean maps with one map zeroed each, max_batch a pass, into y (n x K). */
static void ablation_tail(model *tm, int tnode, const tensor *A, const cam_passes *p,
                          const target_sel *sel, double *y)
{
    int n = (int)A->dims[0];
    int64_t K = A->dims[1], hw = A->dims[2] * A->dims[3];
    if (tm->nodes[tnode].shape[1] * tm->nodes[tnode].shape[2] == 1 &&
        ablation_colrun(tm, tnode, A, p, sel, y))
        return;
    int rows = p->max_batch, er = cam_pass_rows(tm, rows);
    engine *te = cam_pass_engine(tm, tnode, er);
    target tt = *p->t;
    tt.node = tnode;
    tensor *xb = tensor_new4_raw(rows, K, A->dims[2], A->dims[3]);
    float *val = xmalloc((size_t)rows * sizeof *val);
    for (int i = 0; i < n; i++) {
        const float *clean = A->data + (int64_t)i * K * hw;
        for (int64_t c0 = 0; c0 < K; c0 += rows) {
            int r = K - c0 < rows ? (int)(K - c0) : rows;
            xb->dims[0] = r;
            for (int j = 0; j < r; j++) {
                float *d = xb->data + (int64_t)j * K * hw;
                memcpy(d, clean, (size_t)(K * hw) * sizeof *d);
                memset(d + (c0 + j) * hw, 0, (size_t)hw * sizeof *d);
            }
            cam_pass_values(te, er, xb, &tt, sel + i, 1, val);
            for (int j = 0; j < r; j++)
                y[(int64_t)i * K + c0 + j] = val[j];
            progress_update(p->pg, p->pg_done + (int64_t)i * K + c0 + r);
        }
    }
    xb->dims[0] = rows;
    tensor_free(xb);
    free(val);
    engine_free(te);
}

/* Ablation-CAM's K scores of image i into y: one forward of r copies of
 * the image, then for each r maps the net's tail from the layer on
 * (engine_rerun_from) with one map zeroed per row. */
static void ablation_scores(int layer, const tensor *A, int i, const cam_passes *p, double *y)
{
    int64_t K = A->dims[1], hw = A->dims[2] * A->dims[3], len = tensor_rowsize(p->x);
    int r = K < p->max_batch ? (int)K : p->max_batch;
    tensor *xb = tensor_new4(r, p->x->dims[1], p->x->dims[2], p->x->dims[3]);
    for (int j = 0; j < r; j++)
        memcpy(xb->data + j * len, p->x->data + (int64_t)i * len, (size_t)len * sizeof(float));
    engine_forward_upto(p->e, xb, p->t->node);
    int64_t *chan = xmalloc((size_t)r * sizeof *chan);
    float *val = xmalloc((size_t)r * sizeof *val);
    struct ablate ab = { A->data + (int64_t)i * K * hw, chan };
    for (int64_t c0 = 0; c0 < K; c0 += r) {
        for (int j = 0; j < r; j++)     /* past K: repeat the last map, unused */
            chan[j] = c0 + j < K ? c0 + j : K - 1;
        engine_rerun_from(p->e, layer, p->t->node, ablate_rows, &ab);
        target_value(p->t, p->e, r, p->sel + i, 1, val);
        for (int j = 0; j < r && c0 + j < K; j++)
            y[c0 + j] = val[j];
        progress_update(p->pg, p->pg_done + (int64_t)i * K + (c0 + r < K ? c0 + r : K));
    }
    tensor_free(xb);
    free(chan);
    free(val);
}

/* Score-CAM's masked copy of image xi (C x H x W pixels) under the
 * upsampled, [0,1]-scaled map mk (H x W): preprocessed input times mk. */
static void score_mask(const model *m, const float *xi, const float *mk, int64_t H, int64_t W,
                       float *dst)
{
    int64_t C = m->in_shape[0], HW = H * W;
    for (int64_t c = 0; c < C; c++) {
        int64_t pc = C == 3 ? (m->bgr ? 2 - c : c) : 0;
        double mu = m->mean[pc];
        for (int64_t q = 0; q < HW; q++)
            dst[c * HW + q] = (float)(mu + mk[q] * ((double)xi[c * HW + q] - mu));
    }
}

/* Score-CAM's K masked scores of image i into y, in passes of max_batch rows. */
static void score_scores(const tensor *A, int i, const cam_passes *p, double *y)
{
    const model *m = p->m;
    int64_t K = A->dims[1], h = A->dims[2], w = A->dims[3];
    int64_t C = m->in_shape[0], H = m->in_shape[1], W = m->in_shape[2], HW = H * W;
    int rows = p->max_batch;
    cam_pass *pe = cam_pass_new(p->m, p->t->node, rows, 1);
    tensor *xb = tensor_new4_raw(rows, C, H, W);
    float *up = xmalloc((size_t)HW * sizeof *up), *val = xmalloc((size_t)rows * sizeof *val);
    const float *xi = p->x->data + (int64_t)i * C * HW;
    for (int64_t c0 = 0; c0 < K; c0 += rows) {
        int r = K - c0 < rows ? (int)(K - c0) : rows;
        xb->dims[0] = r;
        for (int j = 0; j < r; j++) {
            cam_upsample(A->data + ((int64_t)i * K + c0 + j) * h * w, h, w, up, H, W, 1);
            double lo, hi;
            num_minmax(up, HW, &lo, &hi);
            for (int64_t q = 0; q < HW; q++)
                up[q] = (float)((up[q] - lo) / (hi - lo + 1e-8));
            score_mask(m, xi, up, H, W, xb->data + (int64_t)j * C * HW);
        }
        cam_pass_run(pe, xb, p->t, p->sel + i, 1, val);
        for (int j = 0; j < r; j++)
            y[c0 + j] = val[j];
        progress_update(p->pg, p->pg_done + (int64_t)i * K + c0 + r);
    }
    xb->dims[0] = rows;
    tensor_free(xb);
    cam_pass_free(pe);
    free(up);
    free(val);
}

/* Score-CAM's and Ablation-CAM's weights for image i into w (K). */
static void pass_weights(cam_kind k, int layer, const tensor *A, int i, const cam_passes *p,
                         const double *tail_y, double *w)
{
    int64_t K = A->dims[1];
    double *y = xmalloc((size_t)K * sizeof *y);
    if (k == CAM_SCORECAM)
        score_scores(A, i, p, y);
    else if (tail_y)
        memcpy(y, tail_y + (int64_t)i * K, (size_t)K * sizeof *y);
    else
        ablation_scores(layer, A, i, p, y);
    if (k == CAM_SCORECAM) {
        double mx = y[0], s = 0;
        for (int64_t c = 1; c < K; c++)
            mx = y[c] > mx ? y[c] : mx;
        for (int64_t c = 0; c < K; c++)
            s += w[c] = exp(y[c] - mx);
        for (int64_t c = 0; c < K; c++)
            w[c] /= s;
    } else {
        double y0 = p->score[i];
        for (int64_t c = 0; c < K; c++)
            w[c] = (y0 - y[c]) / y0;
    }
    free(y);
}

void cam_maps(cam_kind k, int layer, const tensor *A, const tensor *G, const cam_passes *p,
              float *cam, float *weights)
{
    int n = (int)A->dims[0];
    int64_t K = A->dims[1], hw = A->dims[2] * A->dims[3];
    double *w = xmalloc((size_t)K * sizeof *w), *acc = xmalloc((size_t)hw * sizeof *acc);
    double *tail_y = NULL;
    int tnode;
    model *tm = NULL;
    if (k == CAM_ABLATIONCAM) {
        /* Of a class's logit the copies need that class's output alone. */
        int64_t D = p->m->nodes[p->t->node].shape[0];
        int64_t *cls = xmalloc((size_t)(D > n ? D : n) * sizeof *cls);
        int64_t *at = xmalloc((size_t)n * sizeof *at);
        int64_t ncls = tail_classes(p->m, p->t->node, p->t, p->sel, n, cls, at);
        target_sel *sel = xmalloc((size_t)n * sizeof *sel);
        for (int i = 0; i < n; i++) {
            sel[i] = p->sel[i];
            if (ncls > 0)
                sel[i].channel = at[i];
        }
        tm = tail_model(p->m, layer, p->t->node, cls, ncls, &tnode);
        if (tm) {
            for (int i = 0; i < n; i++)
                sel[i].node = tnode;
            tail_y = xmalloc((size_t)(n * K) * sizeof *tail_y);
            ablation_tail(tm, tnode, A, p, sel, tail_y);
            model_free(tm);
        }
        free(cls);
        free(at);
        free(sel);
    }
    for (int i = 0; i < n; i++) {
        const float *a = A->data + (int64_t)i * K * hw;
        const float *g = G ? G->data + (int64_t)i * K * hw : NULL;
        float *ci = cam + (int64_t)i * hw;
        if (k == CAM_EIGENCAM) {
            eigen_cam(a, K, hw, ci);
            continue;
        }
        if (cam_needs_passes(k))
            pass_weights(k, layer, A, i, p, tail_y, w);
        else if (k != CAM_LAYERCAM)
            grad_weights(k, a, g, K, hw, w);
        memset(acc, 0, (size_t)hw * sizeof *acc);
        for (int64_t c = 0; c < K; c++)
            for (int64_t q = 0; q < hw; q++) {
                double wc = k == CAM_LAYERCAM ? (g[c * hw + q] > 0 ? g[c * hw + q] : 0) : w[c];
                acc[q] += wc * a[c * hw + q];
            }
        for (int64_t q = 0; q < hw; q++)
            ci[q] = acc[q] > 0 ? (float)acc[q] : 0.0f;
        if (weights && cam_has_weights(k))
            for (int64_t c = 0; c < K; c++)
                weights[(int64_t)i * K + c] = (float)w[c];
    }
    free(w);
    free(acc);
    free(tail_y);
}
