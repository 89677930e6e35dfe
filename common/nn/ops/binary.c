/* Elementwise arithmetic of computed tensors with broadcasting: Add, Mean,
 * Max, Min (any number of inputs), Sub, Mul, Div (two: x0 - x1, x0 * x1,
 * x0 / x1).
 *
 * Per-image shapes broadcast as numpy's: along each of C, H, W the inputs
 * have the output's extent or 1 (the batch is never broadcast). That covers
 * squeeze-and-excitation (C x H x W times C x 1 x 1), spatial attention
 * (1 x H x W) and same-shape residuals. Backward sums the gradient of a
 * broadcast input over the axes it was broadcast along.
 *
 * Loops: each image is walked as rows of the output's last axis, with H and
 * W merged into one row when every input allows it (the same shape, or
 * broadcast along both), so a C x 1 x 1 gate is one scalar per plane.
 * Forward rows are split over the OpenMP threads; backward splits images and
 * channels where an input owns its channel, images only where it is
 * broadcast along C (its gradient is then summed across channels).
 *
 * Max and Min send the gradient to the input that wins; where t inputs tie
 * for the winning value each gets 1/t of it (PyTorch's rule: torch.maximum
 * gives each of two tied inputs half, amax over a stack splits evenly). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops.h"

static const op_attr_spec no_attrs[] = { { NULL, 0, 0 } };
static const op_weight_spec no_weights[] = { { NULL, 0 } };

enum { B_ADD, B_SUB, B_MUL, B_DIV, B_MAX, B_MIN };

/* Geometry: rows of length w (H merged into W where allowed), and per
 * input its image size and the strides of C, row and element (0 where
 * broadcast). */
typedef struct bgeom {
    int64_t c, h, w;             /* output, possibly merged: h rows of w */
    int nin;
    struct {
        int64_t size, sc, sh, sw;
    } in[];
} bgeom;

static int binary_prepare(node *nd, const int64_t *const *in, op_need *need, char *err,
                          size_t len)
{
    int64_t o[3];
    for (int d = 0; d < 3; d++) {
        int j = -1;   /* the first input with an extent other than 1 */
        o[d] = 1;
        for (int k = 0; k < nd->nin; k++) {
            if (in[k][d] == 1)
                continue;
            if (j < 0) {
                j = k, o[d] = in[k][d];
            } else if (in[k][d] != o[d]) {
                snprintf(err, len,
                         "input '%s' is %lldx%lldx%lld and '%s' is %lldx%lldx%lld: they do "
                         "not broadcast (each of C, H, W must agree or be 1)",
                         nd->in_names[k], (long long)in[k][0], (long long)in[k][1],
                         (long long)in[k][2], nd->in_names[j], (long long)in[j][0],
                         (long long)in[j][1], (long long)in[j][2]);
                return -1;
            }
        }
    }
    bgeom *g = malloc(sizeof *g + (size_t)nd->nin * sizeof g->in[0]);
    if (!g) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    g->nin = nd->nin;
    /* H and W merge when, for every input, the H stride is W times the W
     * stride: both axes its own, or both broadcast. */
    int merge = 1;
    for (int k = 0; k < nd->nin; k++) {
        int bh = in[k][1] == 1 && o[1] > 1, bw = in[k][2] == 1 && o[2] > 1;
        if (o[1] > 1 && o[2] > 1 && bh != bw)
            merge = 0;
    }
    g->c = o[0], g->h = merge ? 1 : o[1], g->w = merge ? o[1] * o[2] : o[2];
    for (int k = 0; k < nd->nin; k++) {
        int64_t hw = in[k][1] * in[k][2];
        g->in[k].size = in[k][0] * hw;
        g->in[k].sc = in[k][0] == 1 ? 0 : hw;
        if (merge) {
            g->in[k].sh = 0;
            g->in[k].sw = hw == 1 ? 0 : 1;
        } else {
            g->in[k].sh = in[k][1] == 1 ? 0 : in[k][2];
            g->in[k].sw = in[k][2] == 1 ? 0 : 1;
        }
        /* An output axis of extent 1 never steps: its stride is moot, and
         * 1 (not 0) keeps the unit-stride loops below. */
        if (g->w == 1)
            g->in[k].sw = 1;
    }
    memcpy(nd->shape, o, sizeof o);
    nd->priv = g;
    need->ws = 0, need->aux = 0;
    return 0;
}

/* One output row y[0..w) = a op b, a and b with element strides sa, sb in
 * {0, 1}; the cases are separate loops so that each one vectorises. */
#define ROW_CASES(EXPR)                                                                     \
    if (sa && sb)                                                                           \
        for (int64_t j = 0; j < w; j++) {                                                   \
            float u = a[j], v = b[j];                                                       \
            y[j] = EXPR;                                                                    \
        }                                                                                   \
    else if (sa)                                                                            \
        for (int64_t j = 0; j < w; j++) {                                                   \
            float u = a[j], v = b[0];                                                       \
            y[j] = EXPR;                                                                    \
        }                                                                                   \
    else if (sb)                                                                            \
        for (int64_t j = 0; j < w; j++) {                                                   \
            float u = a[0], v = b[j];                                                       \
            y[j] = EXPR;                                                                    \
        }                                                                                   \
    else                                                                                    \
        for (int64_t j = 0; j < w; j++) {                                                   \
            float u = a[0], v = b[0];                                                       \
            y[j] = EXPR;                                                                    \
        }

static void row(int op, float *y, const float *a, int64_t sa, const float *b,
                int64_t sb, int64_t w)
{
    switch (op) {
    case B_ADD: ROW_CASES(u + v); break;
    case B_SUB: ROW_CASES(u - v); break;
    case B_MUL: ROW_CASES(u * v); break;
    case B_MAX: ROW_CASES(v > u ? v : u); break;
    case B_MIN: ROW_CASES(v < u ? v : u); break;
    default: ROW_CASES(u / v); break;
    }
}

/* One input's pass of binary_run: output rows r0..r1-1 from A (the
 * first input, or the sum so far) and input k. */
typedef struct bin_pass {
    int op, k;
    const bgeom *g;
    const op_io *io;
    const float *A;
    int64_t asz, asc, ash, asw;
} bin_pass;

static void bin_rows(void *ctx, int64_t r0, int64_t r1, int t)
{
    const bin_pass *p = ctx;
    const bgeom *g = p->g;
    const op_io *io = p->io;
    int k = p->k;
    (void)t;
    for (int64_t r = r0; r < r1; r++) {
        int64_t i = r / (g->c * g->h), c = r / g->h % g->c, h = r % g->h;
        const float *a = p->A + i * p->asz + c * p->asc + h * p->ash;
        const float *b = io->x[k] + i * g->in[k].size + c * g->in[k].sc + h * g->in[k].sh;
        row(p->op, io->y + r * g->w, a, p->asw, b, g->in[k].sw, g->w);
    }
}

static void binary_run(int op, const node *nd, const op_io *io)
{
    const bgeom *g = nd->priv;
    int64_t rows = (int64_t)io->n * g->c * g->h, ysz = g->c * g->h * g->w;
    for (int k = 1; k < io->nin; k++) {
        /* Add of several inputs: y = x0 + x1, then y += x2, ... */
        bin_pass p = { op, k, g, io, k == 1 ? io->x[0] : io->y,
                       k == 1 ? g->in[0].size : ysz, k == 1 ? g->in[0].sc : g->h * g->w,
                       k == 1 ? g->in[0].sh : g->w, k == 1 ? g->in[0].sw : 1 };
        op_par_for(rows, rows * g->w, bin_rows, &p);
    }
}

/* Max, Min: the share of the gradient at output element (i, c, h, j), of
 * value y, that goes to input k: 1/t when x_k is one of the t inputs equal
 * to y, else 0. */
static float win_share(const bgeom *g, const op_io *io, int k, int64_t i, int64_t c, int64_t h,
                       int64_t j, float y)
{
    int t = 0, mine = 0;
    for (int m = 0; m < io->nin; m++) {
        const float *p = io->x[m] + i * g->in[m].size + c * g->in[m].sc + h * g->in[m].sh;
        if (p[j * g->in[m].sw] == y)
            t++, mine |= m == k;
    }
    return mine ? 1.0f / (float)t : 0.0f;
}

/* Backward into input k: gx[k] += sum over the broadcast positions of
 * g * d(op)/d(x_k) (scale times g for Add, Sub and Mean). The other factor
 * (Mul, Div) is input 1 - k. set (Mul only, input k of the output's shape,
 * its gradient fresh: fresh_grad): stored, as the sum onto zeros rounds. */
/* binary_grad's units u0..u1-1 (disjoint parts of gx). */
typedef struct bgrad {
    int op, k, set;
    const bgeom *g;
    const op_io *io;
    const float *o;
    int64_t sz, sc, sh, sw, osz;
    int own_c;
    int64_t cper, osz2, osc, osh, osw;
    float sign;
} bgrad;

static void bgrad_units(void *ctx, int64_t u0, int64_t u1, int t)
{
    const bgrad *b = ctx;
    const bgeom *g = b->g;
    const op_io *io = b->io;
    const float *o = b->o;
    float *gx = io->gx[b->k];
    int op = b->op, k = b->k, set = b->set, own_c = b->own_c;
    int64_t sz = b->sz, sc = b->sc, sh = b->sh, sw = b->sw, osz = b->osz, cper = b->cper;
    int64_t osz2 = b->osz2, osc = b->osc, osh = b->osh, osw = b->osw;
    float sign = b->sign;
    (void)t;
    for (int64_t u = u0; u < u1; u++) {
        int64_t i = own_c ? u / g->c : u, c0 = own_c ? u % g->c : 0;
        for (int64_t c = c0; c < c0 + cper; c++)
            for (int64_t h = 0; h < g->h; h++) {
                const float *gy = io->gy + i * osz + (c * g->h + h) * g->w;
                float *d = gx + i * sz + c * sc + h * sh;
                const float *ov = o ? o + i * osz2 + c * osc + h * osh : NULL;
                const float *y = io->y + i * osz + (c * g->h + h) * g->w;
                const float *xk = io->x[k] + i * sz + c * sc + h * sh;
                int64_t w = g->w;
                if (sw) {
                    /* the input owns this row: elementwise */
                    if (op == B_ADD || op == B_SUB)
                        for (int64_t j = 0; j < w; j++)
                            d[j] += sign * gy[j];
                    else if (op == B_MAX || op == B_MIN)
                        for (int64_t j = 0; j < w; j++)
                            d[j] += gy[j] * win_share(g, io, k, i, c, h, j, y[j]);
                    else if (op == B_MUL && set)
                        for (int64_t j = 0; j < w; j++)
                            d[j] = 0.0f + gy[j] * ov[j * osw];
                    else if (op == B_MUL)
                        for (int64_t j = 0; j < w; j++)
                            d[j] += gy[j] * ov[j * osw];
                    else if (k == 0)
                        for (int64_t j = 0; j < w; j++)
                            d[j] += gy[j] / ov[j * osw];
                    else   /* d(a/b)/db = -y / b */
                        for (int64_t j = 0; j < w; j++)
                            d[j] -= gy[j] * y[j] / xk[j];
                } else {
                    /* broadcast along the row: one sum into d[0] */
                    double s = 0;
                    if (op == B_ADD || op == B_SUB) {
#pragma omp simd reduction(+ : s)
                        for (int64_t j = 0; j < w; j++)
                            s += gy[j];
                        s *= sign;
                    } else if (op == B_MAX || op == B_MIN) {
                        for (int64_t j = 0; j < w; j++)
                            s += (double)gy[j] * win_share(g, io, k, i, c, h, j, y[j]);
                    } else if (op == B_MUL) {
                        if (osw)
#pragma omp simd reduction(+ : s)
                            for (int64_t j = 0; j < w; j++)
                                s += (double)gy[j] * ov[j];
                        else
                            for (int64_t j = 0; j < w; j++)
                                s += (double)gy[j] * ov[0];
                    } else if (k == 0) {
                        for (int64_t j = 0; j < w; j++)
                            s += (double)gy[j] / ov[j * osw];
                    } else {
                        for (int64_t j = 0; j < w; j++)
                            s -= (double)gy[j] * y[j] / xk[0];
                    }
                    d[0] += (float)s;
                }
            }
    }
}

static void binary_grad(int op, float scale, const node *nd, const op_io *io, int k, int set)
{
    const bgeom *g = nd->priv;
    float *gx = io->gx[k];
    if (!gx)
        return;
    int64_t sz = g->in[k].size, sc = g->in[k].sc, sh = g->in[k].sh, sw = g->in[k].sw;
    int64_t osz = g->c * g->h * g->w;
    int own_c = sc != 0 || g->c == 1;
    int64_t units = own_c ? (int64_t)io->n * g->c : io->n;   /* disjoint parts of gx */
    int64_t cper = own_c ? 1 : g->c;
    const float *o = NULL;
    int64_t osz2 = 0, osc = 0, osh = 0, osw = 0;
    if (op == B_MUL || op == B_DIV) {
        o = io->x[1 - k];
        osz2 = g->in[1 - k].size, osc = g->in[1 - k].sc, osh = g->in[1 - k].sh, osw = g->in[1 - k].sw;
    }
    float sign = op == B_SUB && k == 1 ? -scale : scale;
    bgrad b = { op, k, set, g, io, o, sz, sc, sh, sw, osz, own_c, cper, osz2, osc, osh, osw,
                sign };
    op_par_for(units, io->n * osz, bgrad_units, &b);
}

static void binary_backward_all(int op, const node *nd, const op_io *io)
{
    for (int k = 0; k < io->nin; k++)
        binary_grad(op, 1.0f, nd, io, k, 0);
}

/* Add, Mean, Max, Min: one input is a copy of it. */
static void variadic_forward(int op, const node *nd, const op_io *io)
{
    if (io->nin == 1) {
        memcpy(io->y, io->x[0], (size_t)(io->n * nd->shape[0] * nd->shape[1] * nd->shape[2]) *
                                    sizeof(float));
        return;
    }
    binary_run(op, nd, io);
}

/* Whether input k's gradient is fresh (io->gset) and of the output's own
 * shape, for the op to store; a fresh one of another (broadcast) shape is
 * zeroed here, for the op to sum into. */
static int fresh_grad(const node *nd, const op_io *io, int k)
{
    if (!io->gx[k] || !(io->gset >> k & 1))
        return 0;
    if (!memcmp(io->xshape[k], nd->shape, 3 * sizeof nd->shape[0]))
        return 1;
    memset(io->gx[k], 0, (size_t)op_in_numel(io, k) * sizeof *io->gx[k]);
    return 0;
}

/* gx = gy + 0 (j: g, gx). */
static void add_copy(void *ctx, int64_t i0, int64_t i1, int t)
{
    const op_grad_job *j = ctx;
    const float *gy = j->g;
    float *gx = j->gx;
    (void)t;
    for (int64_t i = i0; i < i1; i++)
        gx[i] = gy[i] + 0.0f;
}

static void add_forward(const node *nd, const op_io *io) { variadic_forward(B_ADD, nd, io); }
/* A fresh input gradient of the output's own shape is gy + 0 (the sum onto
 * zeros). */
static void add_backward(const node *nd, const op_io *io)
{
    int64_t n = op_numel(nd, io->n);
    for (int k = 0; k < io->nin; k++) {
        float *gx = io->gx[k];
        if (!fresh_grad(nd, io, k)) {
            binary_grad(B_ADD, 1.0f, nd, io, k, 0);
            continue;
        }
        const float *gy = io->gy;
        if (gx == gy)   /* the engine keeps this input's gradient in gy's buffer */
            continue;
        op_grad_job j = { NULL, NULL, gy, gx, 0, 0 };
        op_par_for(n, n, add_copy, &j);
    }
}
/* Mean: the sum times 1/n, forward and backward. */
static void mean_forward(const node *nd, const op_io *io)
{
    variadic_forward(B_ADD, nd, io);
    int64_t sz = io->n * nd->shape[0] * nd->shape[1] * nd->shape[2];
    float r = 1.0f / (float)io->nin;
    for (int64_t j = 0; j < sz; j++)
        io->y[j] *= r;
}
static void mean_backward(const node *nd, const op_io *io)
{
    for (int k = 0; k < io->nin; k++)
        binary_grad(B_ADD, 1.0f / (float)io->nin, nd, io, k, 0);
}
static void max_forward(const node *nd, const op_io *io) { variadic_forward(B_MAX, nd, io); }
static void max_backward(const node *nd, const op_io *io) { binary_backward_all(B_MAX, nd, io); }
static void min_forward(const node *nd, const op_io *io) { variadic_forward(B_MIN, nd, io); }
static void min_backward(const node *nd, const op_io *io) { binary_backward_all(B_MIN, nd, io); }
static void sub_forward(const node *nd, const op_io *io) { binary_run(B_SUB, nd, io); }
static void sub_backward(const node *nd, const op_io *io) { binary_backward_all(B_SUB, nd, io); }
static void mul_forward(const node *nd, const op_io *io) { binary_run(B_MUL, nd, io); }
static void mul_backward(const node *nd, const op_io *io)
{
    for (int k = 0; k < io->nin; k++)
        binary_grad(B_MUL, 1.0f, nd, io, k, fresh_grad(nd, io, k));
}
static void div_forward(const node *nd, const op_io *io) { binary_run(B_DIV, nd, io); }
static void div_backward(const node *nd, const op_io *io) { binary_backward_all(B_DIV, nd, io); }

const struct op_def op_add = { "Add", 1, 0, no_attrs, no_weights, binary_prepare, add_forward,
                               add_backward };
const struct op_def op_sub = { "Sub", 2, 2, no_attrs, no_weights, binary_prepare, sub_forward,
                               sub_backward };
const struct op_def op_mul = { "Mul", 2, 2, no_attrs, no_weights, binary_prepare, mul_forward,
                               mul_backward };
const struct op_def op_div = { "Div", 2, 2, no_attrs, no_weights, binary_prepare, div_forward,
                               div_backward };
const struct op_def op_mean = { "Mean", 1, 0, no_attrs, no_weights, binary_prepare, mean_forward,
                                mean_backward };
const struct op_def op_max = { "Max", 1, 0, no_attrs, no_weights, binary_prepare, max_forward,
                               max_backward };
const struct op_def op_min = { "Min", 1, 0, no_attrs, no_weights, binary_prepare, min_forward,
                               min_backward };
