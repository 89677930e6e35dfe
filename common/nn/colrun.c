/* colrun: many rows of a small-map part of a model at once (see colrun.h). */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/par.h"
#include "nn/colrun.h"
#include "nn/ops.h"
#include "nn/ops/pack.h"
#include "nn/ops/winograd.h"
#include "nn/densemm.h"

enum { CR_CONV, CR_RELU, CR_ADD, CR_GAP, CR_FLAT, CR_DENSE, CR_COPY };

typedef struct crnode {
    int kind, nin, in[2];          /* in: node index, -1 the input */
    int64_t c, h, w;               /* output shape */
    int64_t ci, ih, iw;            /* input 0's shape */
    /* Conv */
    int64_t kh, kw, sh, sw, dh, dw, pt, pl, K;
    const float *W, *b;
    float *Ap;                     /* W packed (pk_pack_a) */
    float *base;                   /* reads the input: its clean output, c x h x w */
    float *U;                      /* by Winograd: the 36 transformed weights, packed */
    size_t us;                     /* floats from one of them to the next */
    int64_t th, tw;                /* its tiles per map: rows, columns */
    /* Dense */
    int64_t din;
    int last;                      /* the last node that reads this one */
    int buf;                       /* its buffer while alive, -1 none */
} crnode;

struct colrun {
    int n, rows;                   /* nodes (m's 0..upto), rows a pass */
    int64_t ic, ih, iw;            /* the input's shape */
    crnode *nd;                    /* m->n entries; used[i] says which run */
    char *used;
    int in_last;                   /* last node reading the input directly (not a rank-1 conv) */
    int in_all;                    /* last node reading the input */
    const float *clean;
    float *col;                    /* a convolution's lowered input, in panels */
    size_t ncol;
    float *wm;                     /* Winograd's 36 products */
    size_t nwm;
    int nbuf;                      /* activation buffers, reused as nodes die */
    float **bufs;
    size_t *cap;
    char *busy;
};

static int64_t crn_size(const crnode *q) { return q->c * q->h * q->w; }

static int supported(const node *nd, const int64_t *in, crnode *q)
{
    const char *op = nd->op;
    q->ci = in[0], q->ih = in[1], q->iw = in[2];
    if (!strcmp(op, "ReLU"))
        q->kind = CR_RELU;
    else if (!strcmp(op, "Dropout"))
        q->kind = CR_COPY;
    else if (!strcmp(op, "GlobalAvgPool"))
        q->kind = CR_GAP;
    else if (!strcmp(op, "Flatten"))
        q->kind = CR_FLAT;
    else if (!strcmp(op, "Add"))
        q->kind = CR_ADD;
    else if (!strcmp(op, "Dense") || !strcmp(op, "Gemm")) {
        int iw = op_weight_index(nd, "weight"), ib = op_weight_index(nd, "bias");
        if (iw < 0 || nd->w[iw]->ndim != 2)
            return 0;
        q->kind = CR_DENSE;
        q->W = nd->w[iw]->data, q->b = ib >= 0 ? nd->w[ib]->data : NULL;
        q->din = in[0] * in[1] * in[2];
        if (nd->w[iw]->dims[1] != q->din || nd->w[iw]->dims[0] != nd->shape[0])
            return 0;
    } else if (!strcmp(op, "Conv")) {
        int iw = op_weight_index(nd, "weight"), ib = op_weight_index(nd, "bias");
        if (iw < 0 || op_attr_int(nd, "groups", 0, 1) != 1 || nd->w[iw]->ndim != 4)
            return 0;
        const tensor *W = nd->w[iw];
        int64_t pad[4];
        op_pads(nd, pad);
        q->kind = CR_CONV;
        q->kh = W->dims[2], q->kw = W->dims[3];
        q->sh = op_attr_int(nd, "stride", 0, 1), q->sw = op_attr_int(nd, "stride", 1, 1);
        q->dh = op_attr_int(nd, "dilation", 0, 1), q->dw = op_attr_int(nd, "dilation", 1, 1);
        q->pt = pad[0], q->pl = pad[1];
        q->K = in[0] * q->kh * q->kw;
        q->W = W->data, q->b = ib >= 0 ? nd->w[ib]->data : NULL;
        if (W->dims[1] != in[0] || W->dims[0] != nd->shape[0])
            return 0;
    } else
        return 0;
    return 1;
}

/* Winograd's F(4x4, 3x3) for the 3x3 stride-1 convolutions, the engine's
 * (nn/ops/winograd.h: its weight and panel transforms), the tiles of all
 * rows the columns of each of the 36 products: the engine runs these maps
 * (7x7: 4 tiles an image) by im2col, too few tiles for the transforms to
 * pay; here rows x 4 of them share each product. Whether a convolution
 * runs by Winograd depends on its shape alone (wino_wanted), never on the
 * rows: a row's values do not depend on how many share its pass. */
#define WN 36
#define L PK_NR

/* y = conv(x) + b for n rows by Winograd: V_xi (ci x tiles, in panels) =
 * B^T d B of every 6x6 input tile, M_xi = U_xi V_xi, y = A^T M A; the
 * transforms a panel of PK_NR tiles at a time (wino_in_panel,
 * wino_out_panel). */
/* wino_rows' phases: the input transform by (panel, channel), the
 * products, the output transform by (channel, panel). */
typedef struct wr_job {
    colrun *c;
    const crnode *q;
    const float *x;
    int n;
    float *y;
} wr_job;

static void wr_in(void *ctx, int64_t i0, int64_t i1, int part)
{
    const wr_job *a = ctx;
    const crnode *q = a->q;
    int n = a->n;
    int64_t T = n * q->th * q->tw, np = (T + L - 1) / L;
    int64_t ihw = q->ih * q->iw, ps = q->ci * L;
    size_t vs = (size_t)(np * L * q->ci);
    float *V = a->c->col;
    (void)part;
    for (int64_t it = i0; it < i1; it++) {
        int64_t p = it / q->ci, ch = it % q->ci;
        const float *xc = a->x + ch * n * ihw;
        float d[6][6][L];
        for (int l = 0; l < L; l++) {
            int64_t t = p * L + l;
            int64_t r = t / (q->th * q->tw), ty = t / q->tw % q->th, tx = t % q->tw;
            for (int i = 0; i < 6; i++) {
                int64_t iy = 4 * ty - q->pt + i;
                for (int j = 0; j < 6; j++) {
                    int64_t ix = 4 * tx - q->pl + j;
                    d[i][j][l] = t < T && iy >= 0 && iy < q->ih && ix >= 0 && ix < q->iw
                                     ? xc[r * ihw + iy * q->iw + ix]
                                     : 0.0f;
                }
            }
        }
        wino_in_panel(&d[0][0][0], V + p * ps + ch * L, vs);
    }
}

static void wr_products(void *ctx, int64_t x0, int64_t x1, int part)
{
    const wr_job *a = ctx;
    const crnode *q = a->q;
    int64_t T = a->n * q->th * q->tw, np = (T + L - 1) / L, ps = q->ci * L;
    size_t vs = (size_t)(np * L * q->ci), ms = (size_t)(T * q->c);
    (void)part;
    for (int64_t xi = x0; xi < x1; xi++)
        pk_gemm(q->U + xi * q->us, q->c, q->ci, a->c->col + xi * vs, ps, T, a->c->wm + xi * ms, T,
                NULL, 0, 0);
}

static void wr_out(void *ctx, int64_t i0, int64_t i1, int part)
{
    const wr_job *a = ctx;
    const crnode *q = a->q;
    int n = a->n;
    int64_t T = n * q->th * q->tw, np = (T + L - 1) / L, ohw = q->h * q->w;
    size_t ms = (size_t)(T * q->c);
    const float *Mx = a->c->wm;
    (void)part;
    for (int64_t it = i0; it < i1; it++) {
        int64_t o = it / np, p = it % np, nl = T - p * L < L ? T - p * L : L;
        float out[4][4][L];
        /* The last panel's lanes past T read the next channel's products,
         * or the L floats of slack after M, and are not stored. */
        wino_out_panel(Mx + (size_t)(o * T + p * L), ms, q->b ? q->b[o] : 0.0f, &out[0][0][0]);
        for (int l = 0; l < nl; l++) {
            int64_t t = p * L + l;
            int64_t r = t / (q->th * q->tw), ty = t / q->tw % q->th, tx = t % q->tw;
            float *yo = a->y + o * n * ohw + r * ohw;
            for (int i = 0; i < 4 && 4 * ty + i < q->h; i++)
                for (int j = 0; j < 4 && 4 * tx + j < q->w; j++)
                    yo[(4 * ty + i) * q->w + 4 * tx + j] = out[i][j][l];
        }
    }
}

static void wino_rows(colrun *c, const crnode *q, const float *x, int n, float *y)
{
    int64_t T = n * q->th * q->tw, np = (T + L - 1) / L;
    wr_job a = { c, q, x, n, y };
    par_for(np * q->ci, par_threads(), wr_in, &a);
    /* The 36 products, whole ones a part (one run, not 36). */
    par_for(WN, par_threads(), wr_products, &a);
    par_for(q->c * np, par_threads(), wr_out, &a);
}
#undef L

colrun *colrun_new(const model *m, int upto, int rows)
{
    return colrun_new_from(m, -1, upto, rows);
}

colrun *colrun_new_from(const model *m, int from, int upto, int rows)
{
    /* Without the micro-kernel (pk_gemm does nothing) the engine's path. */
    if (!PK_GEMM || upto < 0 || upto >= m->n || rows < 1 || from >= upto)
        return NULL;
    colrun *c = xcalloc(1, sizeof *c);
    c->n = upto + 1, c->rows = rows;
    const int64_t *ins = from < 0 ? m->in_shape : m->nodes[from].shape;
    c->ic = ins[0], c->ih = ins[1], c->iw = ins[2];
    c->nd = xcalloc((size_t)c->n, sizeof *c->nd);
    c->used = xcalloc((size_t)c->n, 1);
    c->in_last = c->in_all = -1;
    c->used[upto] = 1;
    for (int i = upto; i > from; i--)
        for (int k = 0; c->used[i] && k < m->nodes[i].nin; k++)
            if (m->nodes[i].in[k] >= 0 && m->nodes[i].in[k] != from)
                c->used[m->nodes[i].in[k]] = 1;
    int ok = 1;
    for (int i = 0; i <= from; i++)   /* a node after from reads one before it */
        ok = ok && !c->used[i];
    for (int i = 0; i < c->n && ok; i++) {
        const node *nd = &m->nodes[i];
        crnode *q = &c->nd[i];
        q->last = -1, q->buf = -1;
        if (!c->used[i])
            continue;
        if (nd->nin < 1 || nd->nin > 2) {
            ok = 0;
            break;
        }
        q->nin = nd->nin;
        const int64_t *in[2];
        for (int k = 0; k < nd->nin; k++) {
            q->in[k] = nd->in[k] == from ? -1 : nd->in[k];
            in[k] = q->in[k] < 0 ? ins : m->nodes[nd->in[k]].shape;
        }
        q->c = nd->shape[0], q->h = nd->shape[1], q->w = nd->shape[2];
        ok = supported(nd, in[0], q) && (q->kind == CR_ADD) == (nd->nin == 2);
        if (ok && q->kind == CR_ADD)
            ok = in[0][0] == in[1][0] && in[0][1] == in[1][1] && in[0][2] == in[1][2] &&
                 crn_size(q) == in[0][0] * in[0][1] * in[0][2];
        if (ok && (q->kind == CR_RELU || q->kind == CR_COPY))
            ok = crn_size(q) == in[0][0] * in[0][1] * in[0][2];
        if (ok && q->kind == CR_GAP)
            ok = q->c == in[0][0] && q->h == 1 && q->w == 1;
        if (ok && q->kind == CR_FLAT)
            ok = crn_size(q) == in[0][0] * in[0][1] * in[0][2];
        for (int k = 0; ok && k < nd->nin; k++) {
            if (q->in[k] >= 0)
                c->nd[q->in[k]].last = i;
            else if (c->in_all = i, q->kind != CR_CONV && q->kind != CR_GAP)
                c->in_last = i;
        }
        if (ok && q->kind == CR_CONV && q->in[0] >= 0 &&
            wino_wanted(q->ci, q->c, q->kh, q->kw, q->sh, q->sw, q->dh, q->dw, 1)) {
            q->th = (q->h + 3) / 4, q->tw = (q->w + 3) / 4;
            /* V: ci x Tp each, M: c x T each */
            int64_t T = rows * q->th * q->tw, Tp = (T + PK_NR - 1) / PK_NR * PK_NR;
            size_t v = WN * (size_t)(Tp * q->ci), mm = WN * (size_t)(T * q->c);
            c->ncol = v > c->ncol ? v : c->ncol;
            c->nwm = mm > c->nwm ? mm : c->nwm;
            wgeo g;
            wino_init(&g, q->ci, q->ih, q->iw, q->c, q->h, q->w, q->pt, q->pl);
            q->us = wino_u_stride(&g);
            q->U = falloc_raw(wino_u_floats(&g));
            wino_weights(&g, q->W, q->U);
            continue;
        }
        if (ok && q->kind == CR_CONV) {
            size_t col = (size_t)((rows * q->h * q->w + PK_NR - 1) / PK_NR * PK_NR) * (size_t)q->K;
            c->ncol = col > c->ncol ? col : c->ncol;
            q->Ap = falloc_raw(pk_a_size(q->c, q->K));
            pk_pack_a(q->W, q->c, q->K, q->K, q->Ap);
            if (q->in[0] < 0)
                q->base = falloc_raw((size_t)crn_size(q));
        }
        if (ok && q->kind == CR_GAP && q->in[0] < 0)
            q->base = falloc_raw((size_t)q->c);
    }
    if (!ok || !c->used[upto]) {
        colrun_free(c);
        return NULL;
    }
    c->col = falloc_raw(c->ncol ? c->ncol : 1);
    c->wm = c->nwm ? falloc_raw(c->nwm + PK_NR) : NULL;   /* slack: wino_rows */
    /* at most every node, the input and the Dense op's two work buffers */
    c->bufs = xcalloc((size_t)c->n + 3, sizeof *c->bufs);
    c->cap = xcalloc((size_t)c->n + 3, sizeof *c->cap);
    c->busy = xcalloc((size_t)c->n + 3, 1);
    return c;
}

void colrun_free(colrun *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++) {
        free(c->nd[i].Ap);
        free(c->nd[i].base);
        free(c->nd[i].U);
    }
    free(c->wm);
    for (int b = 0; b < c->nbuf; b++)
        free(c->bufs[b]);
    free(c->bufs);
    free(c->cap);
    free(c->busy);
    free(c->col);
    free(c->nd);
    free(c->used);
    free(c);
}

int colrun_rows(const colrun *c) { return c->rows; }

/* A free buffer of at least len floats (the smallest that fits, else a
 * new one); its index. */
static int buf_take(colrun *c, size_t len)
{
    int best = -1;
    for (int b = 0; b < c->nbuf; b++)
        if (!c->busy[b] && c->cap[b] >= len && (best < 0 || c->cap[b] < c->cap[best]))
            best = b;
    if (best < 0) {
        for (int b = 0; b < c->nbuf; b++)   /* grow the largest free one */
            if (!c->busy[b] && (best < 0 || c->cap[b] > c->cap[best]))
                best = b;
        if (best < 0)
            best = c->nbuf++;
        free(c->bufs[best]);
        c->bufs[best] = falloc_raw(len);
        c->cap[best] = len;
    }
    c->busy[best] = 1;
    return best;
}

/* conv_rows' lowering, rows k0..k1-1 of the column matrix. */
typedef struct low_job {
    const crnode *q;
    const float *x;
    int n;
    float *col;
} low_job;

static void low_rows(void *ctx, int64_t k0, int64_t k1, int part)
{
    const low_job *a = ctx;
    const crnode *q = a->q;
    const float *x = a->x;
    int n = a->n;
    int64_t ohw = q->h * q->w, ihw = q->ih * q->iw, N = n * ohw;
    int64_t ps = q->K * PK_NR, np = (N + PK_NR - 1) / PK_NR;
    float *col = a->col;
    int direct = q->kh == 1 && q->kw == 1 && q->sh == 1 && q->sw == 1 && !q->pt && !q->pl &&
                 q->h == q->ih && q->w == q->iw;
    (void)part;
    for (int64_t k = k0; k < k1; k++) {
        int64_t ci = k / (q->kh * q->kw), ky = k / q->kw % q->kh, kx = k % q->kw;
        const float *xc = x + ci * n * ihw;
        if (direct) {
            for (int64_t p = 0; p < np; p++) {
                int64_t j0 = p * PK_NR, len = N - j0 < PK_NR ? N - j0 : PK_NR;
                float *d = col + p * ps + k * PK_NR;
                memcpy(d, xc + j0, (size_t)len * sizeof *d);
                memset(d + len, 0, (size_t)(PK_NR - len) * sizeof *d);
            }
            continue;
        }
        /* column j at d[jj]: d is row k of j's panel, jj = j % PK_NR */
        float *d = col + k * PK_NR;
        int64_t jj = 0;
#define PUT(v)                                                                                  \
    do {                                                                                        \
        d[jj] = (v);                                                                            \
        if (++jj == PK_NR)                                                                      \
            jj = 0, d += ps;                                                                    \
    } while (0)
        for (int r = 0; r < n; r++)
            for (int64_t oy = 0; oy < q->h; oy++) {
                int64_t iy = oy * q->sh - q->pt + ky * q->dh;
                if (iy < 0 || iy >= q->ih) {
                    for (int64_t ox = 0; ox < q->w; ox++)
                        PUT(0.0f);
                    continue;
                }
                const float *xr = xc + r * ihw + iy * q->iw;
                int64_t ix = kx * q->dw - q->pl;
                for (int64_t ox = 0; ox < q->w; ox++, ix += q->sw)
                    PUT(ix >= 0 && ix < q->iw ? xr[ix] : 0.0f);
            }
        while (jj)
            PUT(0.0f);
#undef PUT
    }
}

/* y (c x n*oh*ow, channel-major) = conv(x) + b for n rows of x (ci x
 * n*ih*iw): the lowering in panels of PK_NR columns, one packed product. */
static void conv_rows(colrun *c, const crnode *q, const float *x, int n, float *y)
{
    int64_t N = n * q->h * q->w, ps = q->K * PK_NR;
    low_job a = { q, x, n, c->col };
    par_for(q->K, q->K * N > (1 << 16) ? par_threads() : 1, low_rows, &a);
    pk_gemm(q->Ap, q->c, q->K, c->col, ps, N, y, N, q->b, 0, 1);
}

void colrun_clean(colrun *c, const float *clean)
{
    c->clean = clean;
    for (int i = 0; i < c->n; i++)
        if (c->used[i] && c->nd[i].base && c->nd[i].kind == CR_CONV)
            conv_rows(c, &c->nd[i], clean, 1, c->nd[i].base);
        else if (c->used[i] && c->nd[i].base)   /* GlobalAvgPool, as below */
            for (int64_t ch = 0; ch < c->nd[i].c; ch++) {
                int64_t hw = c->ih * c->iw;
                double s = 0;
                for (int64_t t = 0; t < hw; t++)
                    s += clean[ch * hw + t];
                c->nd[i].base[ch] = (float)(s / (double)hw);
            }
}

/* y = the clean output of q less input channel chan[r]'s contribution, for
 * each row r (q reads the input directly). */
/* conv_ablated's output channels o0..o1-1. */
typedef struct abl_job {
    const colrun *c;
    const crnode *q;
    const int64_t *chan;
    int n;
    float *y;
} abl_job;

static void abl_1x1(void *ctx, int64_t o0, int64_t o1, int part)
{
    const abl_job *j = ctx;
    const crnode *q = j->q;
    int64_t ohw = q->h * q->w, ihw = q->ih * q->iw, N = j->n * ohw;
    int64_t sh = q->sh * q->iw, sw = q->sw;
    (void)part;
    for (int64_t o = o0; o < o1; o++)
        for (int r = 0; r < j->n; r++) {
            const float *a = j->c->clean + j->chan[r] * ihw, *bo = q->base + o * ohw;
            float w = q->W[o * q->ci + j->chan[r]], *yo = j->y + o * N + r * ohw;
            for (int64_t oy = 0; oy < q->h; oy++)
                for (int64_t ox = 0; ox < q->w; ox++)
                    yo[oy * q->w + ox] = bo[oy * q->w + ox] - w * a[oy * sh + ox * sw];
        }
}

static void abl_any(void *ctx, int64_t o0, int64_t o1, int part)
{
    const abl_job *j = ctx;
    const crnode *q = j->q;
    int64_t ohw = q->h * q->w, ihw = q->ih * q->iw, N = j->n * ohw, kk = q->kh * q->kw;
    (void)part;
    for (int64_t o = o0; o < o1; o++) {
        const float *bo = q->base + o * ohw;
        for (int r = 0; r < j->n; r++) {
            const float *a = j->c->clean + j->chan[r] * ihw;
            const float *wk = q->W + (o * q->ci + j->chan[r]) * kk;
            float *yo = j->y + o * N + r * ohw;
            for (int64_t oy = 0; oy < q->h; oy++)
                for (int64_t ox = 0; ox < q->w; ox++) {
                    float s = 0;
                    for (int64_t ky = 0; ky < q->kh; ky++) {
                        int64_t iy = oy * q->sh - q->pt + ky * q->dh;
                        if (iy < 0 || iy >= q->ih)
                            continue;
                        for (int64_t kx = 0; kx < q->kw; kx++) {
                            int64_t ix = ox * q->sw - q->pl + kx * q->dw;
                            if (ix >= 0 && ix < q->iw)
                                s += wk[ky * q->kw + kx] * a[iy * q->iw + ix];
                        }
                    }
                    yo[oy * q->w + ox] = bo[oy * q->w + ox] - s;
                }
        }
    }
}

static void conv_ablated(const colrun *c, const crnode *q, const int64_t *chan, int n, float *y)
{
    int64_t N = n * q->h * q->w, kk = q->kh * q->kw;
    abl_job j = { c, q, chan, n, y };
    if (kk == 1 && !q->pt && !q->pl)   /* 1x1: one product a value */
        par_for(q->c, q->c * N > (1 << 16) ? par_threads() : 1, abl_1x1, &j);
    else
        par_for(q->c, q->c * N * kk > (1 << 16) ? par_threads() : 1, abl_any, &j);
}

/* run's ReLU, Add and GlobalAvgPool (k = channel * n + row; hw floats
 * each) over items k0..k1-1. */
typedef struct el_job {
    int kind;
    const float *x0, *x1;
    float *y;
    int64_t hw;
} el_job;

static void el_range(void *ctx, int64_t k0, int64_t k1, int part)
{
    const el_job *e = ctx;
    const float *x0 = e->x0, *x1 = e->x1;
    float *y = e->y;
    (void)part;
    if (e->kind == CR_RELU)
        for (int64_t k = k0; k < k1; k++)
            y[k] = x0[k] > 0 || x0[k] != x0[k] ? x0[k] : 0.0f;
    else if (e->kind == CR_ADD)
        for (int64_t k = k0; k < k1; k++)
            y[k] = x0[k] + x1[k];
    else
        for (int64_t k = k0; k < k1; k++) {
            const float *p = x0 + k * e->hw;
            double s = 0;
            for (int64_t t = 0; t < e->hw; t++)
                s += p[t];
            y[k] = (float)(s / (double)e->hw);
        }
}

/* The pass of n rows whose channel-major input is buffer xb (or none:
 * -1), freed after its last reader: by chan (ablation) the convolutions
 * reading the input take their rank-1 updates, else (chan NULL) run on it.
 * Node upto's values into out, row by row. */
static void run(colrun *c, int xb, const int64_t *chan, int n, float *out)
{
    float *xin = xb >= 0 ? c->bufs[xb] : NULL;
    for (int i = 0; i < c->n; i++) {
        crnode *q = &c->nd[i];
        if (!c->used[i])
            continue;
        const float *x[2];
        for (int k = 0; k < q->nin; k++)
            x[k] = q->in[k] < 0 ? xin : c->bufs[c->nd[q->in[k]].buf];
        int64_t len = n * crn_size(q);
        /* ReLU, Add and Dropout write over an input read for the last time. */
        int inplace = q->kind == CR_RELU || q->kind == CR_ADD || q->kind == CR_COPY, steal = -1;
        for (int k = 0; inplace && k < q->nin && steal < 0; k++)
            if (q->in[k] >= 0 && c->nd[q->in[k]].last == i)
                steal = q->in[k];
        if (steal >= 0) {
            q->buf = c->nd[steal].buf;
            c->nd[steal].buf = -1;
        } else
            q->buf = buf_take(c, (size_t)len);
        float *y = c->bufs[q->buf];
        switch (q->kind) {
        case CR_CONV:
            if (q->base && chan)
                conv_ablated(c, q, chan, n, y);
            else if (q->U)
                wino_rows(c, q, x[0], n, y);
            else
                conv_rows(c, q, x[0], n, y);
            break;
        case CR_RELU:
        case CR_ADD: {
            el_job e = { q->kind, x[0], x[1], y, 0 };
            par_for(len, len > (1 << 16) ? par_threads() : 1, el_range, &e);
            break;
        }
        case CR_COPY:
            if (y != x[0])
                memcpy(y, x[0], (size_t)len * sizeof *y);
            break;
        case CR_GAP: {
            int64_t ihw2 = q->ih * q->iw;
            if (q->base && chan) {   /* the clean means, channel chan[r] 0 */
                for (int64_t ch = 0; ch < q->c; ch++)
                    for (int r = 0; r < n; r++)
                        y[ch * n + r] = chan[r] == ch ? 0.0f : q->base[ch];
                break;
            }
            el_job e = { CR_GAP, x[0], NULL, y, ihw2 };
            par_for(len, len * ihw2 > (1 << 16) ? par_threads() : 1, el_range, &e);
            break;
        }
        case CR_FLAT: {   /* (ch, row, p) to (ch * hw + p, row) */
            int64_t ihw2 = q->ih * q->iw;
            for (int64_t ch = 0; ch < q->ci; ch++)
                for (int r = 0; r < n; r++)
                    for (int64_t t = 0; t < ihw2; t++)
                        y[(ch * ihw2 + t) * n + r] = x[0][(ch * n + r) * ihw2 + t];
            break;
        }
        case CR_DENSE: {
            /* The Dense op's product (densemm: each output summed in the
             * same order whatever the rows), on the rows made row-major. */
            int xb = buf_take(c, (size_t)(q->din * n));
            float *xr = c->bufs[xb];
            int64_t ihw2 = q->ih * q->iw;
            for (int r = 0; r < n; r++)
                for (int64_t k = 0; k < q->din; k++)
                    xr[r * q->din + k] = x[0][(k / ihw2 * n + r) * ihw2 + k % ihw2];
            float *yr = c->bufs[buf_take(c, (size_t)(q->c * n))];
            densemm(q->W, q->c, q->din, xr, n, q->b, yr);
            for (int64_t o = 0; o < q->c; o++)
                for (int r = 0; r < n; r++)
                    y[o * n + r] = yr[r * q->c + o];
            /* the two work buffers: the last two taken */
            c->busy[xb] = 0;
            for (int b = 0; b < c->nbuf; b++)
                if (c->bufs[b] == yr)
                    c->busy[b] = 0;
            break;
        }
        }
        /* Inputs read for the last time free their buffers. */
        for (int k = 0; k < q->nin; k++) {
            crnode *p = q->in[k] >= 0 ? &c->nd[q->in[k]] : NULL;
            if (p && p->last == i && p->buf >= 0) {
                c->busy[p->buf] = 0;
                p->buf = -1;
            }
        }
        if (xb >= 0 && (chan ? c->in_last : c->in_all) == i) {
            c->busy[xb] = 0;
            xb = -1;
        }
    }
    /* node upto (the last) in row order */
    crnode *q = &c->nd[c->n - 1];
    const float *y = c->bufs[q->buf];
    int64_t D = crn_size(q), hw = q->h * q->w;
    for (int r = 0; r < n; r++)
        for (int64_t d = 0; d < D; d++)
            out[r * D + d] = y[(d / hw * n + r) * hw + d % hw];
    c->busy[q->buf] = 0;
    q->buf = -1;
}

void colrun_ablate(colrun *c, const int64_t *chan, int n, float *out)
{
    int64_t ihw = c->ih * c->iw;
    int xb = -1;
    if (c->in_last >= 0) {   /* the ablated copies, channel-major */
        xb = buf_take(c, (size_t)(c->ic * n * ihw));
        float *xin = c->bufs[xb];
        for (int64_t ch = 0; ch < c->ic; ch++)
            for (int r = 0; r < n; r++) {
                float *d = xin + (ch * n + r) * ihw;
                if (chan[r] == ch)
                    memset(d, 0, (size_t)ihw * sizeof *d);
                else
                    memcpy(d, c->clean + ch * ihw, (size_t)ihw * sizeof *d);
            }
    }
    run(c, xb, chan, n, out);
}

/* Channels ch0..ch1-1 of n rows of x copied channel-major into xin. */
typedef struct cm_job {
    const colrun *c;
    const float *x;
    int n;
    float *xin;
} cm_job;

static void cm_channels(void *ctx, int64_t ch0, int64_t ch1, int part)
{
    const cm_job *j = ctx;
    int64_t ihw = j->c->ih * j->c->iw;
    (void)part;
    for (int64_t ch = ch0; ch < ch1; ch++)
        for (int r = 0; r < j->n; r++)
            memcpy(j->xin + (ch * j->n + r) * ihw, j->x + (r * j->c->ic + ch) * ihw,
                   (size_t)ihw * sizeof *j->xin);
}

void colrun_forward(colrun *c, const float *x, int n, float *out)
{
    int64_t ihw = c->ih * c->iw;
    int xb = buf_take(c, (size_t)(c->ic * n * ihw));
    cm_job j = { c, x, n, c->bufs[xb] };
    par_for(c->ic, c->ic * n * ihw > (1 << 16) ? par_threads() : 1, cm_channels, &j);
    run(c, xb, NULL, n, out);
}
