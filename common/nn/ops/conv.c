/* Conv (2-D convolution, PyTorch/ONNX semantics) and Dense (Gemm).
 *
 * Conv lowers the input to a column matrix (im2col: rows c,ki,kj; columns
 * output positions) and multiplies by the weight matrix Cout x Cin/g*kh*kw
 * with one GEMM per group. The lowering is done a chunk of output rows at a
 * time, about CONV_CHUNK floats (L2-sized), so that a chunk is still in
 * cache when its GEMM reads it and the workspace stays small; the (image,
 * chunk) items run in parallel, one single-threaded GEMM each (gemm.h).
 * With fewer items than threads (one small image) the items run in turn,
 * each lowering parallel over channels and its GEMM split over threads. A
 * 1x1, stride-1, unpadded convolution needs no lowering: the input plane is
 * already the column matrix.
 *
 * Backward: the weight gradient sums gy x col^T over the same items, each
 * thread into its own accumulator (a static schedule: the same sums in the
 * same order every run, so training is reproducible). The input gradient of a stride-1
 * convolution is itself a convolution of gy (flipped, transposed weights,
 * pads (k-1)d - pad), so it runs through the same fast path; other strides
 * use col2im, in parallel over images (or, for one image, each chunk's
 * product split over the threads and its scatter by bands of rows), its
 * product W^T gy on the packed GEMM (W^T packed once per call). 3x3 stride-1 convolutions with 16 channels or more on both sides
 * and enough tiles per image (and so their input gradients) run by
 * Winograd's F(4x4, 3x3) instead (winograd.h). A fresh input gradient
 * (io->gset) is stored by the GEMM paths (beta 0), not zeroed and added
 * to. A depthwise convolution
 * (groups = Cin = Cout) would be Cin GEMMs of one row each, so it runs as
 * direct vectorised loops over the planes instead (depthwise.h), and so
 * does any other grouped convolution whose groups have fewer than 16
 * output channels (RegNet's groups of 8: grouped.h).
 *
 * Products with 16+ output channels and K >= 16 run on the engine's own
 * packed GEMM (pack.h; pk_wanted; AVX-512 or AVX2+FMA), the lowering
 * written straight into its panels and a 1x1 stride-1 input read where it
 * lies; the rest, and every product of a build with neither, on OpenBLAS. */
#include <omp.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/par.h"
#include "nn/ops/chunks.h"
#include "nn/ops/depthwise.h"
#include "nn/ops/direct.h"
#include "nn/ops/grouped.h"
#include "nn/gemm.h"
#include "nn/ops.h"
#include "nn/ops/pack.h"
#include "nn/ops/simd.h"
#include "nn/densemm.h"
#include "nn/ops/winograd.h"

/* Floats of column matrix one chunk aims at (2 MiB). */
#define CONV_CHUNK (512 * 1024)
/* Fewest columns a chunk's GEMM should have (below, packing dominates). */
#define CONV_MIN_COLS 256
/* The geometry of one convolution. */
typedef struct cgeo {
    int64_t cin, h, w, cout, oh, ow, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, g;
    int64_t crows;       /* output rows per chunk */
    int direct;          /* 1x1, stride 1, no padding: no lowering */
    int pk;              /* on the packed GEMM (pack.h), lowered into panels */
    int imp;             /* implicit: no lowering, B read from the input (conv_implicit) */
} cgeo;

/* Where a call's parts lie in the workspace (floats): the threads'
 * slots, then the packed weights (pk), Winograd's area, the implicit
 * path's input copy (offsets). */
typedef struct wslay {
    size_t slot;   /* floats of each thread's slot (from ws[0], slot apart) */
    size_t apk, wino, xq;
} wslay;

typedef struct conv_p {
    cgeo f;              /* the convolution */
    cgeo t;              /* its input gradient as a convolution (tgrad) */
    int iw, ib;          /* weight/bias index in nd->w; ib -1 = no bias */
    int depthwise;       /* groups = Cin = Cout: direct loops, no GEMM */
    dwgeo dg;            /* its geometry (depthwise.h) */
    int grouped;         /* groups of < 16 output channels: direct loops (grouped.h) */
    grgeo gg;            /* their geometry */
    int tgrad;           /* input gradient through the transposed convolution */
    int pkt;             /* 1x1 input gradient on the packed GEMM (W^T packed) */
    int pkc;             /* col2im's product W^T gy on the packed GEMM */
    int wt;              /* threads the workspace has slots for */
    size_t slot;         /* a backward call's slot (lb.slot), which make_plan reads */
    int wino_f, wino_t;  /* forward, tgrad by Winograd (winograd.h) */
    wgeo wf, wtg;        /* their geometries */
    wslay lb;            /* the workspace's parts in a backward call (conv_workspace) */
    wslay lf;            /* in a forward call (conv_fwd_workspace) */
    int dc;              /* forward without lowering (direct.h) */
    dcgeo dcg;           /* its geometry */
} conv_p;

static const op_attr_spec conv_attrs[] = {
    { "kernel", 1, 2 }, { "stride", 1, 2 }, { "pad", 1, 4 }, { "dilation", 1, 2 },
    { "groups", 1, 1 }, { NULL, 0, 0 }
};
static const op_weight_spec conv_weights[] = { { "weight", 1 }, { "bias", 0 }, { NULL, 0 } };

/* Rows of the column matrix (per image, all groups). */
static int64_t col_rows(const cgeo *q) { return q->direct ? 0 : q->cin * q->kh * q->kw; }
/* Rows of the lowered chunk the forward writes: the packed GEMM (pack.h)
 * reads a lowering written into panels, or a 1x1 convolution's input
 * where it lies (pk_gemm_ld). */
static int64_t lower_rows(const cgeo *q) { return q->pk && !q->direct ? q->cin * q->kh * q->kw : col_rows(q); }
/* Floats of a lowered chunk of rows output rows (panels padded). */
static size_t chunk_floats(const cgeo *q, int64_t rows)
{
    return (size_t)(lower_rows(q) * (rows * q->ow + PK_NR));
}

/* The implicit path (conv_implicit): a convolution of few input
 * channels (a network's stem: 3 colours) whose lowering copies each input
 * value 4 times or more (kh kw >= 4 sh sw), with output rows of a panel
 * or more, on the packed GEMM, one group, no dilation; CNN_CONV_IMPLICIT=0
 * turns it off. The lowering of resnet's 7x7 stride-2 conv1 writes 12
 * floats per input value, to be read once by a product of 64 rows: in
 * resnet18 at batch 1 (2 threads) conv1 went from 0.92-1.15 to 0.73-0.90
 * ms, alexnet's 11x11 stride-4 conv from 0.86-1.04 to 0.58-0.59,
 * densenet121's conv0 from 1.00-1.09 to 0.87-0.89. Where each value is
 * copied fewer times the lowering is cheap and the implicit product's
 * unaligned rows of B cost more than it saves (3x3 stride 2 to 32
 * channels: even; convnext's 4x4 stride-4 stem: 15% slower). */
#define IMP_MAX_CIN 4
#define IMP_MAX_K 1024
/* Widest padded row imp_row splits through a buffer on the stack. */
#define IMP_ROW 4096
static int imp_wanted(const cgeo *q)
{
    const char *e = getenv("CNN_CONV_IMPLICIT");
    if (e && !strcmp(e, "0"))
        return 0;
    return q->pk && q->kh * q->kw >= 4 * q->sh * q->sw && q->g == 1 && q->dh == 1 &&
           q->dw == 1 && !q->direct && q->ow >= PK_NR && q->cin <= IMP_MAX_CIN &&
           q->cin * q->kh * q->kw <= IMP_MAX_K && q->oh * q->ow >= q->cout &&
           q->cin * (q->h + q->pt + q->pb) * (q->w + q->pl + q->pr + 16 * q->sw) < (1LL << 30);
}

/* The implicit path's padded input split by column phase: per channel,
 * per padded row, sw runs of ceil(Wp / sw) floats rounded up to 16, run
 * px holding the padded row's columns px, px + sw, ... (then zeros); then
 * room for a vector read. */
static int64_t imp_run(const cgeo *q)
{
    return ceil_div(ceil_div(q->w + q->pl + q->pr, q->sw), 16) * 16;
}
static size_t imp_floats(const cgeo *q)
{
    return (size_t)(q->cin * (q->h + q->pt + q->pb) * q->sw * imp_run(q) + 2 * PK_NR);
}

/* Output rows per chunk for wt threads: about CONV_CHUNK floats, at least
 * CONV_MIN_COLS columns, at least 2 chunks per thread for one image when
 * that leaves the columns above the minimum, equal chunks. */
static void set_chunk(cgeo *q, int wt)
{
    q->pk = pk_wanted(q->cout / q->g, q->cin / q->g * q->kh * q->kw);
    q->imp = imp_wanted(q);
    if (!lower_rows(q)) {
        q->crows = q->oh;
        return;
    }
    int64_t r = CONV_CHUNK / (lower_rows(q) * q->ow);
    if (r > ceil_div(q->oh, 2 * wt))
        r = ceil_div(q->oh, 2 * wt);
    q->crows = chunk_rows(r, ceil_div(CONV_MIN_COLS, q->ow), q->oh);
}

/* The forward geometry *q of node nd on an input of shape in, checked
 * against its weight W; -1 with err filled when they do not fit. */
static int conv_geometry(const node *nd, const int64_t *in, const tensor *W, int ib, cgeo *q,
                         char *err, size_t len)
{
    q->cin = in[0], q->h = in[1], q->w = in[2];
    if (W->ndim != 4) {
        snprintf(err, len, "weight must be 4-D (Cout x Cin/groups x kh x kw), has %d dimensions",
                 W->ndim);
        return -1;
    }
    q->cout = W->dims[0], q->kh = W->dims[2], q->kw = W->dims[3];
    q->g = op_attr_int(nd, "groups", 0, 1);
    q->sh = op_attr_int(nd, "stride", 0, 1), q->sw = op_attr_int(nd, "stride", 1, 1);
    q->dh = op_attr_int(nd, "dilation", 0, 1), q->dw = op_attr_int(nd, "dilation", 1, 1);
    int64_t pad[4];
    op_pads(nd, pad);
    q->pt = pad[0], q->pl = pad[1], q->pb = pad[2], q->pr = pad[3];
    if (node_has(nd, "kernel") && (op_attr_int(nd, "kernel", 0, 0) != q->kh ||
                                   op_attr_int(nd, "kernel", 1, 0) != q->kw)) {
        snprintf(err, len, "kernel attribute %lldx%lld disagrees with the weight's %lldx%lld",
                 (long long)op_attr_int(nd, "kernel", 0, 0),
                 (long long)op_attr_int(nd, "kernel", 1, 0), (long long)q->kh, (long long)q->kw);
        return -1;
    }
    if (q->g < 1 || q->sh < 1 || q->sw < 1 || q->dh < 1 || q->dw < 1 || pad[0] < 0 || pad[1] < 0 ||
        pad[2] < 0 || pad[3] < 0 || q->kh < 1 || q->kw < 1 || q->cout < 1) {
        snprintf(err, len, "groups, stride, dilation and kernel must be >= 1 and pads >= 0");
        return -1;
    }
    if (q->cin % q->g || q->cout % q->g) {
        snprintf(err, len, "groups %lld does not divide input channels %lld and output channels %lld",
                 (long long)q->g, (long long)q->cin, (long long)q->cout);
        return -1;
    }
    if (W->dims[1] != q->cin / q->g) {
        snprintf(err, len, "weight has %lld input channels per group, the input gives %lld/%lld = %lld",
                 (long long)W->dims[1], (long long)q->cin, (long long)q->g,
                 (long long)(q->cin / q->g));
        return -1;
    }
    if (ib >= 0 && (nd->w[ib]->ndim != 1 || nd->w[ib]->dims[0] != q->cout)) {
        snprintf(err, len, "bias must have %lld values (one per output channel)", (long long)q->cout);
        return -1;
    }
    int64_t eh = q->dh * (q->kh - 1) + 1, ew = q->dw * (q->kw - 1) + 1;
    if (q->h + q->pt + q->pb < eh || q->w + q->pl + q->pr < ew) {
        snprintf(err, len, "kernel %lldx%lld (dilated) is larger than the padded input %lldx%lld",
                 (long long)eh, (long long)ew, (long long)(q->h + q->pt + q->pb),
                 (long long)(q->w + q->pl + q->pr));
        return -1;
    }
    q->oh = (q->h + q->pt + q->pb - eh) / q->sh + 1;
    q->ow = (q->w + q->pl + q->pr - ew) / q->sw + 1;
    q->direct = q->kh == 1 && q->kw == 1 && q->sh == 1 && q->sw == 1 && !q->pt && !q->pl &&
                !q->pb && !q->pr;
    return 0;
}

/* Workspace floats of a prepared convolution: a slot per thread (a chunk's
 * column matrix and, in backward, the gradient of one), the transposed
 * weights, the packed weights and Winograd's; sets p's offsets. */
static size_t conv_workspace(conv_p *p, size_t wlen)
{
    const cgeo *q = &p->f;
    /* col2im's gradient of a chunk has Cin k^2 rows even where the forward
     * lowers nothing (a 1x1 convolution reads its input as it is). */
    size_t cf = chunk_floats(q, q->crows), cd = (size_t)(q->cin * q->kh * q->kw * q->crows * q->ow);
    if (cd > cf)
        cf = cd;
    size_t ct = p->tgrad ? chunk_floats(&p->t, p->t.crows) : 0;
    p->slot = 2 * (cf > ct ? cf : ct);
    if (p->slot && p->slot < 2 * (size_t)CONV_CHUNK)
        p->slot = 2 * (size_t)CONV_CHUNK;
    p->slot = (p->slot + 15) / 16 * 16;
    p->lb.slot = p->slot;
    size_t alen = 0;
    p->lb.apk = p->slot * (size_t)p->wt + (p->tgrad ? (wlen + 15) / 16 * 16 : 0);
    /* Packed weights only where a chunk can have as many columns as rows
     * (conv_run; else each panel is packed as it is used). */
    if (q->pk && q->oh * q->ow >= q->cout / q->g)
        alen = (size_t)q->g * pk_a_size(q->cout / q->g, q->cin / q->g * q->kh * q->kw);
    p->pkt = q->direct && pk_wanted(q->cin / q->g, q->cout / q->g);
    if (p->pkt) {
        /* conv_xgrad_direct's packed W^T */
        size_t at = (size_t)q->g * pk_a_size(q->cin / q->g, q->cout / q->g);
        if (at > alen)
            alen = at;
    }
    /* conv_xgrad_col2im's packed W^T (K x M per group), gy read in place,
     * whatever the plane: OpenBLAS, given W transposed, copies all of it
     * on every call (a third of its time on a 512-channel 3x3 stride-2
     * layer); on the packed GEMM (tail kernel, rows split over threads)
     * resnet50's 7x7 stride-2 downsample ran 3.3 against 3.8 ms, layer4's
     * 3x3 stride-2 conv 3.8 against 4.0 (1 thread, CPU time), and at 2
     * threads 4.9 against 6.1 and 5.4 against 6.7. */
    p->pkc = !q->direct && pk_wanted(q->cin / q->g * q->kh * q->kw, q->cout / q->g);
    if (p->pkc) {
        size_t at = (size_t)q->g * pk_a_size(q->cin / q->g * q->kh * q->kw, q->cout / q->g);
        if (at > alen)
            alen = at;
    }
    if (p->tgrad && p->t.pk && p->t.oh * p->t.ow >= p->t.cout / p->t.g) {
        size_t at = (size_t)q->g * pk_a_size(q->cin / q->g, q->cout / q->g * q->kh * q->kw);
        if (at > alen)
            alen = at;
    }
    p->lb.wino = p->lb.apk + alen;
    size_t wl = 0;
    p->wino_f = !p->depthwise &&
                wino_wanted(q->cin, q->cout, q->kh, q->kw, q->sh, q->sw, q->dh, q->dw, q->g);
    /* Winograd's area (its transformed weights: 36 Cout Cin floats, 38 MB
     * for a 512-channel layer) only where it runs: a 7x7 plane of
     * resnet18/50's last stage has too few tiles (wino_worth) and runs on
     * the GEMM, and reserving the area made a batch-1 forward's workspace
     * 71 MB. */
    if (p->wino_f) {
        wino_init(&p->wf, q->cin, q->h, q->w, q->cout, q->oh, q->ow, q->pt, q->pl);
        p->wino_f = wino_worth(&p->wf);
        wl = p->wino_f ? wino_ws_floats(&p->wf, p->wt) : 0;
    }
    const cgeo *t = &p->t;
    p->wino_t = p->tgrad && !p->depthwise &&
                wino_wanted(t->cin, t->cout, t->kh, t->kw, 1, 1, t->dh, t->dw, t->g);
    if (p->wino_t) {
        wino_init(&p->wtg, t->cin, t->h, t->w, t->cout, t->oh, t->ow, t->pt, t->pl);
        p->wino_t = wino_worth(&p->wtg);
        if (p->wino_t && wino_ws_floats(&p->wtg, p->wt) > wl)
            wl = wino_ws_floats(&p->wtg, p->wt);
    }
    if (q->imp)
        wl += imp_floats(q);
    p->lb.xq = p->lb.wino + (q->imp ? wl - imp_floats(q) : 0);
    if (p->depthwise) {
        p->dg = (dwgeo){ q->cin, q->h, q->w, q->oh, q->ow, q->kh, q->kw, q->sh, q->sw, q->pt,
                         q->pl, q->dh, q->dw };
        return dw_ws_floats(&p->dg) * (size_t)p->wt;
    }
    /* The grouped kernels' slots, or the GEMM paths' (the weight gradient). */
    if (p->grouped && gr_ws_floats(&p->gg, p->wt) > p->lb.wino + wl)
        return gr_ws_floats(&p->gg, p->wt);
    return p->lb.wino + wl;
}

/* The forward's own layout of the workspace (p->lf), each path's parts
 * from ws[0]: Winograd's area alone; the implicit path's packed weights
 * and input copy; the lowering's slots and the packed weights; the
 * depthwise, grouped and direct kernels' workspaces. Returns the floats a
 * forward call touches (op_need.fws): a forward-only engine places them
 * in its arena beside the activations, where conv_workspace's layout,
 * the backward's parts between the forward's, would take a block of
 * backward parts no forward touches (densenet121's Winograd area lies
 * past its slots and packed transposes). */
static size_t fwd_slot(const conv_p *p);
static size_t conv_fwd_workspace(conv_p *p)
{
    const cgeo *q = &p->f;
    if (p->depthwise)
        return dw_ws_floats(&p->dg) * (size_t)p->wt;
    if (p->grouped)
        return gr_ws_floats(&p->gg, p->wt);
    int64_t M = q->cout / q->g, K = q->cin / q->g * q->kh * q->kw;
    size_t alen = q->pk && (q->imp || q->oh * q->ow >= M) ? (size_t)q->g * pk_a_size(M, K) : 0;
    alen = (alen + 15) / 16 * 16;
    size_t n;
    p->lf = (wslay){ 0, 0, 0, 0 };
    if (p->wino_f)
        n = wino_ws_floats(&p->wf, p->wt);
    else if (q->imp)
        p->lf.xq = alen, n = alen + imp_floats(q);
    else {
        p->lf.slot = fwd_slot(p);
        p->lf.apk = p->lf.slot * (size_t)p->wt, n = p->lf.apk + alen;
    }
    if (p->dc && dc_ws_floats(&p->dcg, p->wt) > n)
        n = dc_ws_floats(&p->dcg, p->wt);
    return n;
}

static int conv_prepare(node *nd, const int64_t *const *in, op_need *need, char *err, size_t len)
{
    conv_p p = { 0 };
    cgeo *q = &p.f;
    p.iw = op_weight_index(nd, "weight");
    p.ib = op_weight_index(nd, "bias");
    const tensor *W = nd->w[p.iw];
    if (conv_geometry(nd, in[0], W, p.ib, q, err, len) < 0)
        return -1;
    int64_t eh = q->dh * (q->kh - 1) + 1, ew = q->dw * (q->kw - 1) + 1;
    nd->shape[0] = q->cout, nd->shape[1] = q->oh, nd->shape[2] = q->ow;
    p.depthwise = q->g > 1 && q->g == q->cin && q->cout == q->cin;
    p.gg = (grgeo){ { q->g, q->h, q->w, q->oh, q->ow, q->kh, q->kw, q->sh, q->sw, q->pt, q->pl,
                      q->dh, q->dw },
                    q->cin / q->g, q->cout / q->g };
    p.grouped = !p.depthwise && gr_wanted(&p.gg);
    p.wt = par_threads();
    if (p.wt < omp_get_num_procs())
        p.wt = omp_get_num_procs();
    if (p.wt > 256)
        p.wt = 256;
    set_chunk(q, p.wt);
    /* The input gradient as a convolution of gy: stride 1, every pad at
     * most the dilated kernel's reach, so the transposed pads are >= 0. */
    p.tgrad = q->sh == 1 && q->sw == 1 && q->pt <= eh - 1 && q->pb <= eh - 1 &&
              q->pl <= ew - 1 && q->pr <= ew - 1;
    if (p.tgrad) {
        cgeo *t = &p.t;
        *t = *q;
        t->cin = q->cout, t->h = q->oh, t->w = q->ow, t->cout = q->cin, t->oh = q->h, t->ow = q->w;
        t->pt = eh - 1 - q->pt, t->pb = eh - 1 - q->pb, t->pl = ew - 1 - q->pl,
        t->pr = ew - 1 - q->pr;
        t->direct = t->kh == 1 && t->kw == 1 && !t->pt && !t->pl && !t->pb && !t->pr;
        set_chunk(t, p.wt);
        t->imp = 0;   /* the workspace has the forward's input copy only */
    }
    need->ws = conv_workspace(&p, (size_t)tensor_numel(W));
    p.dcg = (dcgeo){ q->cin, q->h, q->w, q->cout, q->oh, q->ow, q->kh, q->kw, q->sh, q->sw,
                     q->pt, q->pl, q->pb, q->pr, q->dh, q->dw };
    p.dc = q->pk && q->g == 1 && !p.depthwise && !p.grouped && !p.wino_f && dc_wanted(&p.dcg);
    if (p.dc && dc_ws_floats(&p.dcg, p.wt) > need->ws)
        need->ws = dc_ws_floats(&p.dcg, p.wt);
    need->fws = conv_fwd_workspace(&p);
    need->aux = 0;
    conv_p *r = malloc(sizeof *r);
    if (!r) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    *r = p;
    nd->priv = r;
    return 0;
}

/* For kernel column kj: the input column offset off of output column 0
 * and the output columns lo..hi-1 whose input column lies inside the
 * image (lo <= hi). */
static void col_range(const cgeo *p, int64_t kj, int64_t *off, int64_t *lo, int64_t *hi)
{
    *off = kj * p->dw - p->pl;
    *lo = *off < 0 ? (-*off + p->sw - 1) / p->sw : 0;
    *hi = p->w - *off <= 0 ? 0 : (p->w - *off - 1) / p->sw + 1;
    if (*hi > p->ow)
        *hi = p->ow;
    if (*lo > *hi)
        *lo = *hi;
}

/* Lower output rows oy0..oy1-1 of one image x (cin x h x w) into col
 * (cin*kh*kw x (oy1-oy0)*ow); channels c0..c1-1 only. */
static void im2col_rows(const cgeo *p, const float *x, float *col, int64_t oy0, int64_t oy1,
                        int64_t c0, int64_t c1)
{
    int64_t nc = (oy1 - oy0) * p->ow;
    for (int64_t c = c0; c < c1; c++)
        for (int64_t ki = 0; ki < p->kh; ki++)
            for (int64_t kj = 0; kj < p->kw; kj++) {
                float *row = col + ((c * p->kh + ki) * p->kw + kj) * nc;
                const float *xc = x + c * p->h * p->w;
                int64_t off, lo, hi;
                col_range(p, kj, &off, &lo, &hi);
                for (int64_t oy = oy0; oy < oy1; oy++) {
                    float *r = row + (oy - oy0) * p->ow;
                    int64_t iy = oy * p->sh - p->pt + ki * p->dh;
                    if (iy < 0 || iy >= p->h) {
                        memset(r, 0, (size_t)p->ow * sizeof *r);
                        continue;
                    }
                    /* Indices, not a pointer off the row's start (off < 0). */
                    int64_t base = iy * p->w + off;
                    for (int64_t ox = 0; ox < lo; ox++)
                        r[ox] = 0;
                    if (p->sw == 1 && hi > lo)
                        memcpy(r + lo, xc + base + lo, (size_t)(hi - lo) * sizeof *r);
                    else
                        for (int64_t ox = lo; ox < hi; ox++)
                            r[ox] = xc[base + ox * p->sw];
                    for (int64_t ox = hi; ox < p->ow; ox++)
                        r[ox] = 0;
                }
            }
}

/* The input rows iy0..iy1-1 that output rows oy0..oy1-1 reach. */
static void in_rows(const cgeo *p, int64_t oy0, int64_t oy1, int64_t *iy0, int64_t *iy1)
{
    *iy0 = oy0 * p->sh - p->pt;
    *iy1 = (oy1 - 1) * p->sh - p->pt + (p->kh - 1) * p->dh + 1;
    if (*iy0 < 0)
        *iy0 = 0;
    if (*iy1 > p->h)
        *iy1 = p->h;
    if (*iy1 < *iy0)
        *iy1 = *iy0;
}

/* g[0] += r[0], g[sw] += r[1], ... n of them: stride 1 as a plain loop
 * (vectorised), stride 2 16 at a time with AVX-512 (8 with AVX2), each
 * sum r added into its even lane and only those lanes loaded and stored
 * (an odd one may be the next row's, another thread's); the same
 * additions, bit for bit. */
static inline void col2im_run(float *restrict g, const float *restrict r, int64_t n, int64_t sw)
{
    int64_t i = 0;
    if (sw == 1) {
        for (; i < n; i++)
            g[i] += r[i];
        return;
    }
#if defined(__AVX512F__)
    if (sw == 2) {
        const __m512i lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
        const __m512i hi = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14,
                                             15, 15);
        for (; i + 16 <= n; i += 16) {
            __m512 v = _mm512_loadu_ps(r + i);
            float *d = g + 2 * i;
            __m512 a = _mm512_loadu_ps(d), b = _mm512_maskz_loadu_ps(0x7fff, d + 16);
            _mm512_mask_storeu_ps(d, 0x5555, _mm512_add_ps(a, _mm512_permutexvar_ps(lo, v)));
            _mm512_mask_storeu_ps(d + 16, 0x5555, _mm512_add_ps(b, _mm512_permutexvar_ps(hi, v)));
        }
    }
#elif defined(__AVX2__)
    if (sw == 2) {
        const __m256i lo = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
        const __m256i hi = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
        const __m256i ev = _mm256_setr_epi32(-1, 0, -1, 0, -1, 0, -1, 0);
        for (; i + 8 <= n; i += 8) {
            __m256 v = _mm256_loadu_ps(r + i);
            float *d = g + 2 * i;
            __m256 a = _mm256_maskload_ps(d, ev), b = _mm256_maskload_ps(d + 8, ev);
            _mm256_maskstore_ps(d, ev, _mm256_add_ps(a, _mm256_permutevar8x32_ps(v, lo)));
            _mm256_maskstore_ps(d + 8, ev, _mm256_add_ps(b, _mm256_permutevar8x32_ps(v, hi)));
        }
    }
#endif
    for (; i < n; i++)
        g[i * sw] += r[i];
}

/* Whether col2im may store a fresh gx rather than add onto zeros: a 1x1,
 * unpadded, strided convolution (resnet's downsample layers) gives each
 * input value one term or none, so each chunk writes its rows of gx
 * whole, the terms at their places (0 + v, as added onto zeros) and zeros
 * between (the gx memset and the adding pass read 4 times the values). */
static int col2im_stores(const cgeo *p)
{
    return p->kh == 1 && p->kw == 1 && !p->pt && !p->pl && !p->pb && !p->pr &&
           (p->sh > 1 || p->sw > 1);
}

/* The input rows of output rows oy0..oy1-1 (in_rows), or when store
 * (col2im_stores) every input row from oy0's on to oy1's, so that the
 * chunks write every row once ((oh - 1) sh < h <= oh sh for a 1x1
 * unpadded kernel). */
static void band_rows(const cgeo *p, int64_t oy0, int64_t oy1, int store, int64_t *iy0,
                      int64_t *iy1)
{
    if (!store) {
        in_rows(p, oy0, oy1, iy0, iy1);
        return;
    }
    *iy0 = oy0 * p->sh;
    *iy1 = oy1 * p->sh > p->h ? p->h : oy1 * p->sh;
}

/* The adjoint of im2col_rows for output rows oy0..oy1-1: add col's
 * entries onto the image gx, rows r0..r1-1 of the chunk's cin x (iy1 -
 * iy0) input rows (in_rows) only, so that bands of rows split over
 * threads touch disjoint parts of gx (a split over the channels left a
 * thread idle on a 3-channel first layer). Each row of col is read in
 * order; each value gets its terms in the order of the kernel's rows,
 * then columns, whatever the split. With store (col2im_stores, a fresh
 * gx), the band's rows are written instead (band_rows). */
static void col2im_band(const cgeo *p, const float *col, float *gx, int64_t oy0, int64_t oy1,
                        int64_t r0, int64_t r1, int store)
{
    int64_t nc = (oy1 - oy0) * p->ow, iy0, iy1;
    band_rows(p, oy0, oy1, store, &iy0, &iy1);
    int64_t ny = iy1 - iy0;
    if (!ny)
        return;
    if (store) {
        for (int64_t rr = r0; rr < r1; rr++) {
            int64_t c = rr / ny, iy = iy0 + rr % ny, oy = iy / p->sh;
            float *g = gx + (c * p->h + iy) * p->w;
            memset(g, 0, (size_t)p->w * sizeof *g);
            if (iy % p->sh)
                continue;
            const float *r = col + c * nc + (oy - oy0) * p->ow;
            for (int64_t ox = 0; ox < p->ow; ox++)
                g[ox * p->sw] = 0.0f + r[ox];
        }
        return;
    }
    for (int64_t c = r0 / ny; c * ny < r1; c++) {
        /* This channel's rows ya..yb-1 of the band. */
        int64_t ya = c * ny < r0 ? iy0 + r0 - c * ny : iy0;
        int64_t yb = (c + 1) * ny > r1 ? iy0 + r1 - c * ny : iy1;
        float *gc = gx + c * p->h * p->w;
        for (int64_t ki = 0; ki < p->kh; ki++)
            for (int64_t kj = 0; kj < p->kw; kj++) {
                const float *row = col + ((c * p->kh + ki) * p->kw + kj) * nc;
                int64_t off, lo, hi;
                col_range(p, kj, &off, &lo, &hi);
                for (int64_t oy = oy0; oy < oy1; oy++) {
                    int64_t iy = oy * p->sh - p->pt + ki * p->dh;
                    if (iy < ya || iy >= yb)
                        continue;
                    const float *r = row + (oy - oy0) * p->ow;
                    /* Indices, not a pointer off the row's start (off < 0). */
                    int64_t base = iy * p->w + off;
                    col2im_run(gc + base + lo * p->sw, r + lo, hi - lo, p->sw);
                }
            }
    }
}

/* Whether a 1x1 convolution's chunk of nc columns is copied into panels
 * (im2col_panels is that copy for it) rather than read where it lies: a
 * short row (a 7x7 map's 49 floats) leaves each 16-float row of a panel
 * across two cache lines and the block of B out of L1; copied, resnet50's
 * 2048 x 512 x 49 product ran at 80 GFLOP/s against 69 (1 thread, the
 * copy included), while at 196 columns (14x14) and more the two were
 * even. The slot (conv_workspace: at least 2 CONV_CHUNK floats) holds
 * the copy up to 16384 channels. */
#define COPY_COLS 64
static int copy_direct(const cgeo *q, int64_t nc)
{
    return q->direct && nc <= COPY_COLS && q->cin / q->g * (COPY_COLS + PK_NR) <= 2 * CONV_CHUNK;
}

/* The flops of n images through the convolution. */
static double conv_flops(const cgeo *q, int n)
{
    return 2.0 * (double)n * (double)(q->cout * q->oh * q->ow) *
           (double)(q->cin / q->g * q->kh * q->kw);
}

/* The chunk plan of one call: rows per chunk, chunks per image, threads. */
typedef struct plan {
    int64_t crows, nch, items;
    int T, rows;   /* rows: conv_rows (each thread its own lowering) */
} plan;

/* Output pixels up to which make_plan's split by rows of the weights gives
 * each thread a lowering of its own (conv_rows says why). */
#define ROWS_OWN 64

static plan make_plan(const cgeo *q, int n, int wt, size_t slot)
{
    plan pl;
    int T = par_threads();
    if (T > wt)
        T = wt;
    pl.crows = q->crows;
    pl.rows = 0;
    /* Fewer images than threads and an image's columns fewer than the
     * weights' rows (late layers at batch 1): one chunk an image, its
     * product split over the threads by rows of the weights (pack.c's
     * gemm_core), each thread packing and reading only its share of them,
     * rather than two chunks that each multiply a few columns (28 and 21
     * of a 7x7 map, in part-empty panels) by all of them. resnet50 batch
     * 1, 2 threads, least of the passes: layer4's 3x3 convolutions 2.35
     * to 1.92-2.08 ms, its 1x1 ones 1.00 to 0.79, the forward 48.3 to
     * 45.3 ms. The sums are the same either way (each output's terms in
     * the same order, whatever the chunk or thread). */
    if (q->pk && n < T && q->oh * q->ow < q->cout / q->g && chunk_floats(q, q->oh) <= slot) {
        pl.crows = q->oh, pl.nch = 1, pl.items = n, pl.T = T;
        pl.rows = q->oh * q->ow <= ROWS_OWN;
        return pl;
    }
    /* One image of a 1x1 convolution read where it lies (no lowering):
     * one chunk, its product split over the threads by pk_gemm in
     * PAR_FINE parts each (par.h), where two chunks gave each thread its
     * half whatever its core's speed. resnet50's 56x56 and 28x28 1x1
     * layers at batch 1. */
    if (q->pk && q->direct && n < T && q->oh * q->ow > COPY_COLS &&
        conv_flops(q, 1) >= T * gemm_par_flops()) {
        pl.crows = q->oh, pl.nch = 1, pl.items = n, pl.T = T;
        return pl;
    }
    /* A product on OpenBLAS (not q->pk: fewer than 16 output channels,
     * or K under 16) rounds a column by the call's shape: its chunks are
     * the geometry's alone (q->crows), one single-threaded call each,
     * whatever the batch and the threads, so that an image's values do
     * not depend on them (issue 20; an 8-channel 3x3 layer at batch 1 and
     * 2 differed in the last bits). */
    if (!q->pk) {
        pl.nch = ceil_div(q->oh, pl.crows);
        pl.items = (int64_t)n * pl.nch;
        pl.T = T;
        return pl;
    }
    /* An image per thread or more: whole images when they fit the slot.
     * (fwd_slot sizes a forward's slot for each chunk this plan gives.) */
    if (lower_rows(q) && n >= T && chunk_floats(q, q->oh) <= slot / 2)
        pl.crows = q->oh;
    pl.nch = ceil_div(q->oh, pl.crows);
    pl.items = (int64_t)n * pl.nch;
    double flops = conv_flops(q, n);
    if (T > flops / gemm_par_flops())
        T = (int)(flops / gemm_par_flops());
    pl.T = T < 1 ? 1 : T;
    chunks_balance(n, q->oh, pl.T, &pl.crows, &pl.nch);
    pl.items = (int64_t)n * pl.nch;
    return pl;
}

/* The floats a chunk of rows output rows writes into its slot: its
 * lowering, or a 1x1 convolution's copy into panels of at most COPY_COLS
 * of its columns (copy_direct; the last, shorter chunk copies fewer). */
static size_t slot_floats(const cgeo *q, int64_t rows)
{
    size_t s = chunk_floats(q, rows);
    int64_t nc = rows * q->ow < COPY_COLS ? rows * q->ow : COPY_COLS;
    if (q->pk && copy_direct(q, 1) && (size_t)(q->cin * (nc + PK_NR)) > s)
        s = (size_t)(q->cin * (nc + PK_NR));
    return s;
}

/* The floats of a forward call's slot (p->lf.slot): what a chunk of
 * make_plan's rows writes, q->crows or fewer, or the whole image in its
 * two cases that take it (conv_rows' among them); none for a 1x1
 * convolution read where it lies. The backward's slot is larger: col2im's
 * gradient of a chunk. */
static size_t fwd_slot(const conv_p *p)
{
    const cgeo *q = &p->f;
    size_t s = slot_floats(q, q->crows), whole = chunk_floats(q, q->oh);
    if (q->pk && ((q->oh * q->ow < q->cout / q->g && whole <= p->slot) ||
                  (lower_rows(q) && whole <= p->slot / 2)) && slot_floats(q, q->oh) > s)
        s = slot_floats(q, q->oh);
    return (s + 15) / 16 * 16;
}

/* n values into a panel row from column r on (r + n <= PK_NR): s[0],
 * s[sw], ... or zeros (s NULL). Inlined into cur_put: the runs are a row
 * of a late layer's output at most, and pk_put's calls and divisions on
 * each of them cost 7-9% of resnet18's and alexnet's batch-1 forwards.
 * With AVX2 8 at a time for strides 1, 2 and 4 (resnet's 7x7 stride-2
 * conv1 went from 65 to 71 GFLOP/s, alexnet's 11x11 stride-4 one from 62
 * to 65), the last block ending at n, overlapping the one before (AMD's
 * masked stores are slow); runs under 8 one by one. */
#if defined(__AVX2__)
/* s[0], s[sw], ..., s[7 sw] for sw 1, 2 or 4, by whole loads and
 * shuffles; last: nothing past s[7 sw] is read (it may lie past the
 * input), else s[8 sw - 1] is there to be read. */
static inline __m256 block8(const float *s, int64_t sw, int last)
{
    if (sw == 1)
        return _mm256_loadu_ps(s);
    if (sw == 2) {
        __m256 b = last ? _mm256_maskload_ps(s + 8, _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, -1, 0))
                        : _mm256_loadu_ps(s + 8);
        __m256 e = _mm256_shuffle_ps(_mm256_loadu_ps(s), b, 0x88);   /* s0 s2 s8 s10 | s4 s6 s12 s14 */
        return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xd8));
    }
    __m256 d = last ? _mm256_maskload_ps(s + 24, _mm256_setr_epi32(-1, -1, -1, -1, -1, 0, 0, 0))
                    : _mm256_loadu_ps(s + 24);
    __m256 ab = _mm256_shuffle_ps(_mm256_loadu_ps(s), _mm256_loadu_ps(s + 8), 0x88);
    __m256 cd = _mm256_shuffle_ps(_mm256_loadu_ps(s + 16), d, 0x88);
    __m256 e = _mm256_shuffle_ps(ab, cd, 0x88);   /* s0 s8 s16 s24 | s4 s12 s20 s28 */
    return _mm256_permutevar8x32_ps(e, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* run_put for n < 8 or another stride, written out for the short runs
 * (left to itself the compiler calls memset or memcpy, or inlines rep
 * stos, for such loops; 7x7 maps are made of such runs). */
static inline void run_short(float *restrict d, const float *restrict s, int64_t n, int64_t sw)
{
    if (s && sw > 1) {
        for (int64_t u = 0; u < n; u++)
            d[u] = s[u * sw];
    } else if (n >= 4) {
        __m128 a = s ? _mm_loadu_ps(s) : _mm_setzero_ps(), b = s ? _mm_loadu_ps(s + n - 4) : a;
        _mm_storeu_ps(d, a);
        _mm_storeu_ps(d + n - 4, b);
    } else {
        if (n > 0)
            d[0] = s ? s[0] : 0.0f;
        if (n > 1)
            d[1] = s ? s[1] : 0.0f;
        if (n > 2)
            d[2] = s ? s[2] : 0.0f;
    }
}

static inline void run_put(float *restrict d, const float *restrict s, int64_t n, int64_t sw)
{
    if (n < 8 || (s && sw != 1 && sw != 2 && sw != 4)) {
        run_short(d, s, n, sw);
        return;
    }
    int64_t u = 0;
    if (!s) {
        __m256 z = _mm256_setzero_ps();
        __asm__("" : "+x"(z));   /* opaque: stores, not a memset call */
        for (; u + 8 < n; u += 8)
            _mm256_storeu_ps(d + u, z);
        _mm256_storeu_ps(d + n - 8, z);
        return;
    }
    for (; u + 8 < n; u += 8)   /* s[(u + 8) sw] is there: a later element */
        _mm256_storeu_ps(d + u, block8(s + u * sw, sw, 0));
    _mm256_storeu_ps(d + n - 8, block8(s + (n - 8) * sw, sw, 1));
}
#else
__attribute__((optimize("no-tree-loop-distribute-patterns"))) static inline void
run_put(float *restrict d, const float *restrict s, int64_t n, int64_t sw)
{
    if (!s)
        for (int64_t u = 0; u < n; u++)
            d[u] = 0.0f;
    else if (sw == 1)
        for (int64_t u = 0; u < n; u++)
            d[u] = s[u];
    else
        for (int64_t u = 0; u < n; u++)
            d[u] = s[u * sw];
}
#endif

/* A cursor over one row k of the panels, column by column. */
typedef struct pcur {
    float *d;      /* the current panel's row k */
    int64_t r;     /* the column in it */
    int64_t ps;    /* panel stride */
} pcur;

/* The next n columns: s[0], s[sw], ... or zeros (s NULL). */
static inline void cur_put(pcur *c, const float *s, int64_t n, int64_t sw)
{
    while (n > 0) {
        int64_t seg = PK_NR - c->r < n ? PK_NR - c->r : n;
        run_put(c->d + c->r, s, seg, sw);
        s = s ? s + seg * sw : NULL;
        n -= seg;
        if ((c->r += seg) == PK_NR)
            c->r = 0, c->d += c->ps;
    }
}

/* Most columns of a chunk lowered a row at a time (lower_short), and
 * the widest output row it takes (wider rows are long runs, which the
 * cursor writes with little overhead). */
#define SHORT_CHUNK 1024
#define SHORT_ROW 64
/* Floats of lower_short's buffer: 4 rows of SHORT_CHUNK columns, more of
 * fewer. */
#define SHORT_BUF (4 * (SHORT_CHUNK + 16))

/* t[0..n) = s[0], s[sw], ... (n <= SHORT_ROW); with AVX, by whole
 * stores (AMD's masked ones are slow): the zeros past n land where zeros
 * or later runs belong (t has 16 floats to spare). Nothing past
 * s[(n - 1) sw] is read. */
static inline void short_run(float *restrict t, const float *restrict s, int64_t n, int64_t sw)
{
#if defined(__AVX512F__)
    if (sw == 1) {
        for (; n >= 16; n -= 16, t += 16, s += 16)
            _mm512_storeu_ps(t, _mm512_loadu_ps(s));
        _mm512_storeu_ps(t, _mm512_maskz_loadu_ps(mask16(n), s));
        return;
    }
    if (sw == 2) {
        for (; n > 0; n -= 16, t += 16, s += 32) {
            __m512 a = _mm512_maskz_loadu_ps(mask16(2 * n - 1), s);
            __m512 b = _mm512_maskz_loadu_ps(mask16(2 * n - 17), s + 16);
            _mm512_storeu_ps(t, _mm512_maskz_mov_ps(mask16(n), _mm512_permutex2var_ps(a, idx_even(), b)));
        }
        return;
    }
#elif defined(__AVX2__)
    if (sw == 1) {
        for (; n >= 8; n -= 8, t += 8, s += 8)
            _mm256_storeu_ps(t, _mm256_loadu_ps(s));
        _mm256_storeu_ps(t, _mm256_maskload_ps(s, mask8(n)));
        return;
    }
    if (sw == 2 || sw == 4) {
        for (; n >= 8; n -= 8, t += 8, s += 8 * sw)
            _mm256_storeu_ps(t, block8(s, sw, 1));
    }
#endif
    for (int64_t u = 0; u < n; u++)
        t[u] = s[u * sw];
}

/* d[0..n) = s[0..n) (zeros when s is NULL), n a multiple of 16,
 * written out: for these short lengths GCC calls memset or inlines rep
 * stos, slow to start. */
static inline void short_copy(float *restrict d, const float *restrict s, int64_t n)
{
#if defined(__AVX512F__)
    for (int64_t u = 0; u < n; u += 16)
        _mm512_storeu_ps(d + u, s ? _mm512_load_ps(s + u) : _mm512_setzero_ps());
#elif defined(__AVX2__)
    for (int64_t u = 0; u < n; u += 8)
        _mm256_storeu_ps(d + u, s ? _mm256_load_ps(s + u) : _mm256_setzero_ps());
#else
    for (int64_t u = 0; u < n; u++)
        d[u] = s ? s[u] : 0.0f;
#endif
}

#if defined(__AVX512F__)
/* Taps of lower_plane's tables (a 7x7 kernel). */
#define PLANE_TAPS 49

/* lower_short for a whole image whose input and output planes are at
 * most 64 floats each (7x7 and 8x8 maps; stride 1, no dilation): a
 * channel's plane in four vectors, each tap's row of the lowering made
 * by two permutations per 16 columns (and a blend between the plane's
 * halves), its padding zeroed by a mask, stored straight into the
 * panels. Built run by run (lower_short), resnet's layer4 3x3 convolutions
 * (4608 x 49, forward and input gradient) spent 11% of their time
 * lowering. */
static void lower_plane(const cgeo *p, const float *x, float *col, int64_t c0, int64_t c1)
{
    int64_t kk = p->kh * p->kw, hw = p->h * p->w, ohw = p->oh * p->ow;
    int64_t ps = p->cin * kk * PK_NR, nq = (ohw + PK_NR - 1) / PK_NR * (PK_NR / 16);
    int32_t iv[PLANE_TAPS][64] __attribute__((aligned(64)));
    __mmask16 ok[PLANE_TAPS][4] = { { 0 } };
    for (int64_t j = 0, oy = 0, ox = 0; j < 16 * nq; j++) {
        for (int64_t t = 0, ki = 0, kj = 0; t < kk; t++) {
            int64_t iy = oy - p->pt + ki, ix = ox - p->pl + kj;
            int in = j < ohw && iy >= 0 && iy < p->h && ix >= 0 && ix < p->w;
            iv[t][j] = in ? (int32_t)(iy * p->w + ix) : 0;
            ok[t][j / 16] |= (__mmask16)(in << (j % 16));
            if (++kj == p->kw)
                kj = 0, ki++;
        }
        if (++ox == p->ow)
            ox = 0, oy++;
    }
    const __m512i half = _mm512_set1_epi32(32);
    for (int64_t c = c0; c < c1; c++) {
        const float *xc = x + c * hw;
        __m512 v0 = _mm512_maskz_loadu_ps(mask16(hw), xc);
        __m512 v1 = _mm512_maskz_loadu_ps(mask16(hw - 16), xc + 16);
        __m512 v2 = _mm512_maskz_loadu_ps(mask16(hw - 32), xc + 32);
        __m512 v3 = _mm512_maskz_loadu_ps(mask16(hw - 48), xc + 48);
        for (int64_t t = 0; t < kk; t++) {
            float *d = col + (c * kk + t) * PK_NR;
            for (int64_t q = 0; q < nq; q++) {
                __m512i ix = _mm512_load_si512(iv[t] + 16 * q);
                __m512 a = _mm512_permutex2var_ps(v0, ix, v1);
                if (hw > 32)
                    a = _mm512_mask_blend_ps(_mm512_test_epi32_mask(ix, half), a,
                                             _mm512_permutex2var_ps(v2, ix, v3));
                _mm512_storeu_ps(d + q / 2 * ps + q % 2 * 16, _mm512_maskz_mov_ps(ok[t][q], a));
            }
        }
    }
}
#endif

/* im2col_panels for a chunk of at most SHORT_CHUNK columns in output
 * rows of at most SHORT_ROW (late layers' 7x7 to 28x28 maps at batch
 * 1): each row k built whole in a buffer, then stored into its panels a
 * panel row at a time. Through the cursor (cur_put) such a chunk is
 * three short runs per output row, each with its panel bookkeeping: the
 * lowering of resnet18's 512-channel 3x3 layer4 convolutions (4608 x 49)
 * was 12% of their time, of resnet50's stride-2 layer2.0.conv2 (1152 x
 * 196) 14%. */
static void lower_short(const cgeo *p, const float *x, float *col, int64_t oy0, int64_t oy1,
                        int64_t c0, int64_t c1)
{
#if defined(__AVX512F__)
    if (oy0 == 0 && oy1 == p->oh && p->h * p->w <= 64 && p->oh * p->ow <= 64 && p->sh == 1 &&
        p->sw == 1 && p->dh == 1 && p->dw == 1 && p->kh * p->kw <= PLANE_TAPS) {
        lower_plane(p, x, col, c0, c1);
        return;
    }
#endif
    int64_t kk = p->kh * p->kw, kt = p->cin * kk, nc = (oy1 - oy0) * p->ow, ps = kt * PK_NR;
    int64_t np = (nc + PK_NR - 1) / PK_NR, ts = np * PK_NR + 16;
    /* rows built nb at a time (SHORT_BUF floats), then stored: a row's loads right
     * after the overlapping stores that built it wait for them (a failed
     * store-to-load forward each), which cost as much as the rest */
    int64_t nb = SHORT_BUF / ts;
    float t[SHORT_BUF] __attribute__((aligned(64)));
    for (int64_t kb = c0 * kk; kb < c1 * kk; kb += nb) {
        int64_t ke = kb + nb < c1 * kk ? kb + nb : c1 * kk;
        for (int64_t k = kb; k < ke; k++) {
            int64_t c = k / kk, ki = k % kk / p->kw, kj = k % p->kw, off, lo, hi;
            const float *xc = x + c * p->h * p->w;
            float *tk = t + (k - kb) * ts;
            col_range(p, kj, &off, &lo, &hi);
            short_copy(tk, NULL, np * PK_NR);
            for (int64_t oy = oy0; oy < oy1; oy++) {
                int64_t iy = oy * p->sh - p->pt + ki * p->dh;
                if (iy >= 0 && iy < p->h && hi > lo)
                    short_run(tk + (oy - oy0) * p->ow + lo, xc + iy * p->w + off + lo * p->sw,
                              hi - lo, p->sw);
            }
        }
        for (int64_t k = kb; k < ke; k++)
            for (int64_t q = 0; q < np; q++)
                short_copy(col + q * ps + k * PK_NR, t + (k - kb) * ts + q * PK_NR, PK_NR);
    }
}

/* Lower output rows oy0..oy1-1 of image x, channels c0..c1-1, into
 * panels of PK_NR columns (pack.h): element (k, j) at
 * (j / PK_NR) * kt * PK_NR + k * PK_NR + j % PK_NR, kt = cin*kh*kw; the
 * last panel's columns past the chunk are zero. */
static void im2col_panels(const cgeo *p, const float *x, float *col, int64_t oy0, int64_t oy1,
                          int64_t c0, int64_t c1)
{
    int64_t kt = p->cin * p->kh * p->kw, nc = (oy1 - oy0) * p->ow, ps = kt * PK_NR;
    int64_t npad = (nc + PK_NR - 1) / PK_NR * PK_NR;
    if (npad <= SHORT_CHUNK && p->ow <= SHORT_ROW) {
        lower_short(p, x, col, oy0, oy1, c0, c1);
        return;
    }
    for (int64_t c = c0; c < c1; c++)
        for (int64_t ki = 0; ki < p->kh; ki++)
            for (int64_t kj = 0; kj < p->kw; kj++) {
                int64_t k = (c * p->kh + ki) * p->kw + kj;
                const float *xc = x + c * p->h * p->w;
                int64_t off, lo, hi;
                col_range(p, kj, &off, &lo, &hi);
                pcur cu = { col + k * PK_NR, 0, ps };
                for (int64_t oy = oy0; oy < oy1; oy++) {
                    int64_t iy = oy * p->sh - p->pt + ki * p->dh;
                    if (iy < 0 || iy >= p->h) {
                        cur_put(&cu, NULL, p->ow, 1);
                        continue;
                    }
                    /* Zeros, the columns inside the image, zeros. */
                    cur_put(&cu, NULL, lo, 1);
                    if (hi > lo)
                        cur_put(&cu, xc + iy * p->w + off + lo * p->sw, hi - lo, p->sw);
                    cur_put(&cu, NULL, p->ow - hi, 1);
                }
                cur_put(&cu, NULL, npad - nc, 1);
            }
}

/* A lowering of output rows oy0..oy1-1 from src into
 * dst, input channels c0..c1-1: channels touch disjoint parts of dst. */
typedef void lower_fn(const cgeo *p, const float *src, float *dst, int64_t oy0, int64_t oy1,
                      int64_t c0, int64_t c1);

typedef struct lower_args {
    lower_fn *fn;
    const cgeo *q;
    const float *src;
    float *dst;
    int64_t oy0, oy1;
} lower_args;

static void lower_range(void *ctx, int64_t c0, int64_t c1, int t)
{
    const lower_args *a = ctx;
    (void)t;
    a->fn(a->q, a->src, a->dst, a->oy0, a->oy1, c0, c1);
}

/* Every channel: in parallel over channels when par (called outside a
 * parallel region), else on this thread. */
static void by_channels(lower_fn *fn, const cgeo *q, const float *src, float *dst, int64_t oy0,
                        int64_t oy1, int par)
{
    if (par) {
        /* a range of channels a thread, one call each (lower_plane makes
         * its tables once a call) */
        lower_args a = { fn, q, src, dst, oy0, oy1 };
        double floats = (double)(q->cin * q->kh * q->kw) * (double)((oy1 - oy0) * q->ow);
        par_for_fine(q->cin, par_threads(), 16.0 * floats, lower_range, &a);
    } else
        fn(q, src, dst, oy0, oy1, 0, q->cin);
}

/* The column matrix of chunk oy0..oy1 of image x (ld: its row stride). */
static const float *chunk_cols(const cgeo *q, const float *x, float *col, int64_t oy0, int64_t oy1,
                               int par, int64_t *ld)
{
    if (q->direct) {
        *ld = q->oh * q->ow;
        return x + oy0 * q->ow;
    }
    *ld = (oy1 - oy0) * q->ow;
    by_channels(im2col_rows, q, x, col, oy0, oy1, par);
    return col;
}

/* The packed GEMM's B for chunk oy0..oy1 of image x: the input where it
 * lies (1x1, row stride ldb the plane's) or its lowering written into
 * panels at col (by_channels: over the threads when par); group g's at
 * B + g gs, panel p's at + p ps. */
typedef struct bpan {
    const float *B;
    int64_t gs, ps, ldb;
} bpan;

static bpan chunk_b(const cgeo *q, const float *x, float *col, int64_t oy0, int64_t oy1, int par)
{
    int64_t ohw = q->oh * q->ow, K = q->cin / q->g * q->kh * q->kw;
    if (!q->direct || copy_direct(q, (oy1 - oy0) * q->ow)) {
        by_channels(im2col_panels, q, x, col, oy0, oy1, par);
        return (bpan){ col, K * PK_NR, q->g * K * PK_NR, PK_NR };
    }
    return (bpan){ x + oy0 * q->ow, K * ohw, PK_NR, ohw };
}

/* y (+)= conv(x) + b (+ r) over chunk oy0..oy1 of one image, then ReLU
 * act (act.h); par: split over threads (called outside a parallel region);
 * apk: the packed weights (NULL on the packed path: W packed panel by
 * panel as it is used); r: a fused residual Add (the image's), or NULL. */
static void conv_chunk(const cgeo *q, const float *W, const float *apk, const float *b,
                       const float *x, float *y, int64_t oy0, int64_t oy1, float *col, float beta,
                       int par, const float *r, op_act act)
{
    int64_t ohw = q->oh * q->ow, M = q->cout / q->g, K = q->cin / q->g * q->kh * q->kw;
    int64_t nc = (oy1 - oy0) * q->ow;
    if (q->pk) {
        bpan bp = chunk_b(q, x, col, oy0, oy1, par);
        const float *B = bp.B;
        int64_t gs = bp.gs, ps = bp.ps, ldb = bp.ldb;
        size_t as = pk_a_size(M, K);
        for (int64_t g = 0; g < q->g; g++) {
            float *yg = y + g * M * ohw + oy0 * q->ow;
            const float *bg = b ? b + g * M : NULL, *rg = r ? r + g * M * ohw + oy0 * q->ow : NULL;
            if (apk)
                pk_gemm_ld(apk + g * as, M, K, B + g * gs, ps, ldb, nc, yg, ohw, bg, beta != 0,
                           par, rg, act);
            else
                pk_gemm_raw(W + g * M * K, K, M, K, B + g * gs, ps, ldb, nc, yg, ohw, bg,
                            beta != 0, par, rg, act);
        }
        return;
    }
    int64_t ld;
    const float *B = chunk_cols(q, x, col, oy0, oy1, par, &ld);
    for (int64_t g = 0; g < q->g; g++)
        (par ? gemm : gemm1)(0, 0, (int)M, (int)nc, (int)K, 1.0f, W + g * M * K, (int)K,
                             B + g * K * ld, (int)ld, beta, y + g * M * ohw + oy0 * q->ow,
                             (int)ohw);
    if (b || act.kind || r)
        for (int64_t c = 0; c < q->cout; c++) {
            float *yc = y + c * ohw + oy0 * q->ow, bc = b ? b[c] : 0.0f;
            const float *rc = r ? r + c * ohw + oy0 * q->ow : NULL;
            for (int64_t k = 0; k < nc; k++) {
                float v = yc[k] + bc;
                v = rc ? v + rc[k] : v;
                yc[k] = act_apply(act, v);
            }
        }
}

/* A convolution's call as par_run's parts see it: conv_rows' (pl NULL)
 * and conv_run's items (items_range). */
typedef struct conv_args {
    const cgeo *q;
    const plan *pl;
    const float *W, *apk, *b, *x;
    float *y, *ws;
    size_t slot;
    float beta;
    const float *r;
    op_act act;
} conv_args;

/* conv_rows' parts: the product's rows of the weights in np parts, each
 * thread lowering the image once, into its own slot, before its first. */
typedef struct rows_args {
    conv_args c;
    char have[PAR_MAX_PARTS];   /* thread t's lowering made (bp[t]) */
    bpan bp[PAR_MAX_PARTS];
} rows_args;

static void rows_piece(void *ctx, int p, int np)
{
    rows_args *ra = ctx;
    const conv_args *a = &ra->c;
    const cgeo *q = a->q;
    int64_t ohw = q->oh * q->ow, M = q->cout / q->g, K = q->cin / q->g * q->kh * q->kw;
    size_t as = pk_a_size(M, K);
    int t = par_self();
    if (!ra->have[t])
        ra->bp[t] = chunk_b(q, a->x, a->ws + (size_t)t * a->slot, 0, q->oh, 0), ra->have[t] = 1;
    bpan bp = ra->bp[t];
    for (int64_t g = 0; g < q->g; g++)
        pk_gemm_rows(a->apk ? a->apk + g * as : NULL, a->apk ? NULL : a->W + g * M * K, K, M, K,
                     bp.B + g * bp.gs, bp.ps, bp.ldb, ohw, a->y + g * M * ohw, ohw,
                     a->b ? a->b + g * M : NULL, a->beta != 0, a->r ? a->r + g * M * ohw : NULL,
                     a->act, p, np);
}

/* y (+)= conv(x) + b (+ r), then act, for one image split by rows of the
 * weights over T threads (make_plan's first case: late layers at batch
 * 1), each thread lowering the whole image into a slot of its own (slot
 * floats apart from ws on) and reading only that. Shared, each thread's
 * half of the lowering was read by the other from its core's cache, and
 * each pass's writes had to take the lines back: the lowering took 7% of
 * a 2048 -> 512 1x1 layer at 7x7 on two threads against 2% on one (and
 * the layer ran 1.3 times faster on two threads than on one). For maps
 * of ROWS_OWN pixels at most (7x7): at 14x14 lowering all of it twice
 * cost more than the sharing (resnet50's 256-channel 3x3 stride-2 layer:
 * 0.70-0.72 ms shared, 0.77-0.78 each its own). The rows go in up to
 * PAR_FINE parts a thread of 8 panels or more (par.h: a slower core
 * takes fewer), a multiple of T. */
static void conv_rows(const cgeo *q, const float *W, const float *apk, const float *b,
                      const float *x, float *y, float *ws, size_t slot, float beta,
                      const float *r, op_act act, int T)
{
    rows_args a = { { q, NULL, W, apk, b, x, y, ws, slot, beta, r, act }, { 0 }, { { 0 } } };
    int parts = par_fine_parts(ceil_div(q->cout / q->g, PK_MR) / 8, T, conv_flops(q, 1));
    par_run(parts > T ? parts : T, rows_piece, &a);
}

/* A fused Add (r, or NULL) and ReLU or Clip where the product could not
 * take them in its store (depthwise with an Add): y + r, then
 * act, as the ops. */
typedef struct act_job {
    float *y;
    const float *r;
    op_act act;
} act_job;

static void act_range(void *ctx, int64_t i0, int64_t i1, int t)
{
    const act_job *a = ctx;
    float *y = a->y;
    const float *r = a->r;
    (void)t;
    for (int64_t i = i0; i < i1; i++) {
        float v = r ? y[i] + r[i] : y[i];
        y[i] = act_apply(a->act, v);
    }
}

static void act_pass(float *y, const float *r, op_act act, int64_t n)
{
    if (!r && !act.kind)
        return;
    act_job j = { y, r, act };
    par_for(n, n > (1 << 16) ? par_threads() : 1, act_range, &j);
}

/* One input row src into the implicit path's layout at d: the row padded
 * (pl zeros before, zeros after), its columns px, px + sw, ... at
 * d + px run. */
static void imp_row(const cgeo *q, const float *src, float *d, int64_t run)
{
    int64_t s = q->sw, pl = q->pl, w = q->w, wp = s * run;
    if (s == 1) {
        memset(d, 0, (size_t)pl * sizeof *d);
        memcpy(d + pl, src, (size_t)w * sizeof *d);
        memset(d + pl + w, 0, (size_t)(wp - pl - w) * sizeof *d);
        return;
    }
    float t[IMP_ROW + 32];
    if (wp > IMP_ROW) {
        for (int64_t px = 0; px < s; px++)
            for (int64_t j = 0; j < run; j++) {
                int64_t ix = j * s + px - pl;
                d[px * run + j] = ix >= 0 && ix < w ? src[ix] : 0.0f;
            }
        return;
    }
    memset(t, 0, (size_t)pl * sizeof *t);
    memcpy(t + pl, src, (size_t)w * sizeof *t);
    memset(t + pl + w, 0, (size_t)(wp + 32 - pl - w) * sizeof *t);
    int64_t j = 0;
#if defined(__AVX512F__)
    if (s == 2) {
        const __m512i ev = idx_even(), od = idx_odd();
        for (; j + 16 <= run; j += 16) {
            __m512 a = _mm512_loadu_ps(t + 2 * j), b = _mm512_loadu_ps(t + 2 * j + 16);
            _mm512_storeu_ps(d + j, _mm512_permutex2var_ps(a, ev, b));
            _mm512_storeu_ps(d + run + j, _mm512_permutex2var_ps(a, od, b));
        }
    }
#endif
    for (; j < run; j++)
        for (int64_t px = 0; px < s; px++)
            d[px * run + j] = t[j * s + px];
}

/* y (+)= conv(x) (+ b) (+ r) for n images, then act, without lowering:
 * each image's padded input split by column phase into xq (imp_floats),
 * where the taps (c, ki, kj) of output row oy's columns ox.. lie in runs,
 * xq + (oy sh + ki) RS + c CS + (kj % sw) run + kj / sw + ox; pk_gemm_off
 * reads the product's B there, an output row per call, rows over the
 * threads. The same sums as the lowered product's, bit for bit. */
/* conv_implicit's two phases for one image: its rows into xq (channel
 * by padded row), then the products of output rows. */
typedef struct imp_args {
    const cgeo *q;
    const float *apk, *b;
    float *xq;
    const int32_t *off;
    int64_t run, Hp, RS, CS, K;
    float beta;
    op_act act;
    const float *x, *r;
    float *y;
} imp_args;

static void imp_rows(void *ctx, int64_t cr0, int64_t cr1, int t)
{
    const imp_args *a = ctx;
    const cgeo *q = a->q;
    (void)t;
    for (int64_t cr = cr0; cr < cr1; cr++) {
        int64_t c = cr / a->Hp, iy = cr % a->Hp - q->pt;
        float *d = a->xq + c * a->CS + (cr % a->Hp) * a->RS;
        if (iy < 0 || iy >= q->h) {
            memset(d, 0, (size_t)a->RS * sizeof *d);
            continue;
        }
        imp_row(q, a->x + (c * q->h + iy) * q->w, d, a->run);
    }
}

static void imp_products(void *ctx, int64_t oy0, int64_t oy1, int t)
{
    const imp_args *a = ctx;
    const cgeo *q = a->q;
    int64_t ohw = q->oh * q->ow;
    (void)t;
    for (int64_t oy = oy0; oy < oy1; oy++)
        pk_gemm_off(a->apk, q->cout, a->K, a->xq + oy * q->sh * a->RS, a->off, q->ow,
                    a->y + oy * q->ow, ohw, a->b, a->beta != 0, a->r ? a->r + oy * q->ow : NULL,
                    a->act);
}

static void conv_implicit(const conv_p *cp, const cgeo *q, const float *apk, const float *b,
                          int n, const float *x, float *y, float beta, float *xq, const float *r,
                          op_act act)
{
    int64_t s = q->sw, run = imp_run(q), Hp = q->h + q->pt + q->pb, RS = s * run, CS = Hp * RS;
    int64_t K = q->cin * q->kh * q->kw, ohw = q->oh * q->ow;
    int64_t xs = q->cin * q->h * q->w, ys = q->cout * ohw;
    int32_t off[IMP_MAX_K];
    for (int64_t c = 0, k = 0; c < q->cin; c++)
        for (int64_t ki = 0; ki < q->kh; ki++)
            for (int64_t kj = 0; kj < q->kw; kj++, k++)
                off[k] = (int32_t)(c * CS + ki * RS + kj % s * run + kj / s);
    int T = par_threads();
    if (T > cp->wt)
        T = cp->wt;
    imp_args a = { q, apk, b, xq, off, run, Hp, RS, CS, K, beta, act, NULL, NULL, NULL };
    for (int i = 0; i < n; i++) {
        a.x = x + i * xs, a.r = r ? r + i * ys : NULL, a.y = y + i * ys;
        par_for_fine(q->cin * Hp, T, 16.0 * (double)(q->cin * CS), imp_rows, &a);
        par_for_fine(q->oh, T, 2.0 * (double)(q->cout * K) * (double)ohw, imp_products, &a);
    }
}

/* conv_run's (image, chunk) items i0..i1-1, on part t's slot. */
static void items_range(void *ctx, int64_t i0, int64_t i1, int t)
{
    const conv_args *a = ctx;
    const cgeo *q = a->q;
    const plan *pl = a->pl;
    int64_t xs = q->cin * q->h * q->w, ys = q->cout * q->oh * q->ow;
    for (int64_t it = i0; it < i1; it++) {
        int64_t i = it / pl->nch, oy0 = it % pl->nch * pl->crows;
        int64_t oy1 = oy0 + pl->crows < q->oh ? oy0 + pl->crows : q->oh;
        conv_chunk(q, a->W, a->apk, a->b, a->x + i * xs, a->y + i * ys, oy0, oy1,
                   a->ws + (size_t)t * a->slot, a->beta, 0, a->r ? a->r + i * ys : NULL, a->act);
    }
}

/* y (+)= conv(x) (+ b) (+ r) for n images, then act; by
 * Winograd when wg. pre: W as the product wants it (conv_prepared), or
 * NULL. l: where the call's parts lie in ws (cp->lf or cp->lb). */
static void conv_run(const conv_p *cp, const wslay *l, const cgeo *q, const wgeo *wg,
                     const float *W, const float *pre, const float *b, int n, const float *x,
                     float *y, float beta, float *ws, const float *r, op_act act)
{
    if (wg && wino_worth(wg)) {
        wino_run(wg, W, pre, b, n, x, y, beta, ws + l->wino, cp->wt, r, act);
        return;
    }
    gemm_serial_blas();
    plan pl = make_plan(q, n, cp->wt, cp->slot);
    int64_t xs = q->cin * q->h * q->w, ys = q->cout * q->oh * q->ow;
    const float *apk = q->pk ? pre : NULL;
    int64_t M = q->cout / q->g, K = q->cin / q->g * q->kh * q->kw;
    /* Weights packed once for all chunks, unless every chunk has fewer
     * columns than rows: then each panel is packed as it is used
     * (pk_gemm_raw). */
    if (q->pk && !apk && (q->imp || pl.crows * q->ow >= M)) {
        float *a = ws + l->apk;
        apk = a;
        for (int64_t g = 0; g < q->g; g++)
            pk_pack_a(W + g * M * K, M, K, K, a + g * pk_a_size(M, K));
    }
    if (q->imp) {
        conv_implicit(cp, q, apk, b, n, x, y, beta, ws + l->xq, r, act);
        return;
    }
    /* What a chunk writes into its slot must fit (fwd_slot sizes a
     * forward's, conv_workspace a backward's): an overrun would be the
     * next thread's slot or the packed weights, silently. */
    size_t need = slot_floats(q, pl.crows);
    if (need > l->slot)
        die("conv: internal error: a chunk of %lld rows needs %zu floats of workspace, its "
            "slot has %zu", (long long)pl.crows, need, l->slot);
    if (pl.rows) {
        for (int i = 0; i < n; i++)
            conv_rows(q, W, apk, b, x + i * xs, y + i * ys, ws, l->slot, beta,
                      r ? r + i * ys : NULL, act, pl.T);
        return;
    }
    if (pl.items < pl.T && q->pk) {   /* each chunk's product split over the threads */
        for (int64_t it = 0; it < pl.items; it++) {
            int64_t i = it / pl.nch, oy0 = it % pl.nch * pl.crows;
            int64_t oy1 = oy0 + pl.crows < q->oh ? oy0 + pl.crows : q->oh;
            conv_chunk(q, W, apk, b, x + i * xs, y + i * ys, oy0, oy1, ws, beta, 1,
                       r ? r + i * ys : NULL, act);
        }
        return;
    }
    /* Thread t takes the t-th run of (image, chunk) items first, as the
     * direct, depthwise and Winograd paths split a batch, so that a layer
     * reads mostly what its own thread wrote in the layer before (from its
     * own core's cache), then what another thread has not started
     * (par_for_fine: its runs are finer). Dynamically, items went to whichever
     * thread came first, and mobilenet_v2's depthwise layers at batch 4
     * ran slower on two threads than on one (each thread's input in the
     * other core's cache): with both here and in winograd.c static, the
     * net +6-8% at batch 4 (alternating pairs), resnet50 +0-3%,
     * efficientnet_b0 0-2%, mobilenet_v2 at batch 1 -2 to +2%, resnet18
     * within noise, densenet121 at batch 4 -1-2%. The chunks are equal
     * (chunks_balance). */
    conv_args a = { q, &pl, W, apk, b, x, y, ws, l->slot, beta, r, act };
    par_for_fine(pl.items, pl.T, conv_flops(q, n), items_range, &a);
}

/* c's data (op_cache) when it was made from weights W, else NULL. */
static const float *cache_hit(const op_cache *c, const float *W)
{
    return c && c->data && c->w == W ? c->data : NULL;
}

/* c's data made anew for the weights at W: n floats for the caller to
 * fill (with what those weights give). */
static float *cache_remake(op_cache *c, const float *W, size_t n)
{
    free(c->data);
    c->data = falloc_raw(n);
    c->w = W;
    return c->data;
}

/* W as the product of geometry q wants it, kept in c (op_cache) for the
 * node's weights at key (W itself, or what W was made from): wg's
 * Winograd transform where it runs (wg NULL: none) or q's packed panels of
 * every group (the same panels, so the same sums, as packed per call);
 * NULL for the other paths or without c (the engine gives none to a
 * node's first call on a set of weights). Packing resnet18's weights on
 * every call cost 6-7% of a forward. */
static const float *conv_prepared(const cgeo *q, const wgeo *wg, const float *W,
                                  const float *key, op_cache *c)
{
    int64_t M = q->cout / q->g, K = q->cin / q->g * q->kh * q->kw;
    int wino = wg && wino_worth(wg);
    if (!c || (!wino && !q->pk))
        return NULL;
    if (cache_hit(c, key))
        return c->data;
    float *d = cache_remake(c, key, wino ? wino_u_floats(wg) : (size_t)q->g * pk_a_size(M, K));
    if (wino)
        wino_weights(wg, W, d);
    else
        for (int64_t g = 0; g < q->g; g++)
            pk_pack_a(W + g * M * K, M, K, K, d + g * pk_a_size(M, K));
    return d;
}

/* The input gradient's W^T packed (pk_pack_at, each group) for the
 * col2im and 1x1 paths, kept in c (op_cache) as conv_prepared does, or
 * packed into buf without c: W^T is K x M, K = cin/g k^2, M = cout/g. */
static const float *xgrad_packed(const cgeo *q, const float *W, op_cache *c, float *buf)
{
    int64_t M = q->cout / q->g, K = q->cin / q->g * q->kh * q->kw;
    if (cache_hit(c, W))
        return c->data;
    float *dst = c ? cache_remake(c, W, (size_t)q->g * pk_a_size(K, M)) : buf;
    for (int64_t g = 0; g < q->g; g++)
        pk_pack_at(W + g * M * K, K, M, K, dst + g * pk_a_size(K, M));
    return dst;
}

/* The grouped kernels' packed weights (gr_pack: the forward's, or xgrad
 * the input gradient's) kept in c as conv_prepared does; NULL without c
 * (the kernels pack them into their workspace). */
static const float *gr_prepared(const conv_p *p, const float *W, op_cache *c, int xgrad)
{
    if (!c)
        return NULL;
    if (cache_hit(c, W))
        return c->data;
    float *d = cache_remake(c, W, gr_packed_floats(&p->gg));
    gr_pack(&p->gg, W, xgrad, d);
    return d;
}

/* The direct path's packed weights (dc_pack) kept in c as conv_prepared
 * does; NULL without c. */
static const float *dc_prepared(const conv_p *p, const float *W, op_cache *c)
{
    if (!c)
        return NULL;
    if (cache_hit(c, W))
        return c->data;
    float *d = cache_remake(c, W, dc_w_floats(&p->dcg));
    dc_pack(&p->dcg, W, d);
    return d;
}

static void conv_forward(const node *nd, const op_io *io)
{
    const conv_p *p = nd->priv;
    const float *W = nd->w[p->iw]->data, *b = p->ib >= 0 ? nd->w[p->ib]->data : NULL;
    if (p->depthwise) {
        /* The activation in the depthwise store, unless an Add comes first. */
        dw_forward(&p->dg, W, b, io->n, io->x[0], io->y, io->ws, p->wt,
                   io->res ? ACT_NO : io->act);
        if (io->res)
            act_pass(io->y, io->res, io->act, (int64_t)io->n * p->f.cout * p->f.oh * p->f.ow);
        return;
    }
    if (p->grouped) {
        gr_forward(&p->gg, W, gr_prepared(p, W, io->cache, 0), b, io->n, io->x[0], io->res,
                   io->y, io->ws, p->wt, io->act);
        return;
    }
    /* The direct path with the engine's cache only: a node's first call
     * (one photo) keeps the lowered product, which packs per panel where
     * the direct path would need all the weights packed first. */
    const float *dp = p->dc ? dc_prepared(p, W, io->cache) : NULL;
    if (dp) {
        dc_forward(&p->dcg, dp, b, io->n, io->x[0], io->res, io->y, io->ws, p->wt, io->act);
        return;
    }
    const wgeo *wg = p->wino_f ? &p->wf : NULL;
    conv_run(p, &p->lf, &p->f, wg, W, conv_prepared(&p->f, wg, W, W, io->cache), b, io->n,
             io->x[0], io->y, 0.0f, io->ws, io->res, io->act);
}

/* conv_wgrad's items i0..i1-1, part t's into its own accumulator (part
 * 0: gW and gb themselves). */
typedef struct wgrad_job {
    const conv_p *p;
    const plan *pl;
    const op_io *io;
    float *gW, *gb, *acc;
    int T;
} wgrad_job;

static void wgrad_items(void *ctx, int64_t i0, int64_t i1, int t)
{
    const wgrad_job *a = ctx;
    const conv_p *p = a->p;
    const plan pl = *a->pl;
    const op_io *io = a->io;
    const cgeo *q = &p->f;
    int T = a->T;
    int64_t ohw = q->oh * q->ow, M = q->cout / q->g, K = q->cin / q->g * q->kh * q->kw;
    int64_t xs = q->cin * q->h * q->w, ys = q->cout * ohw, wl = q->cout * K;
    float *aw = t ? a->acc + (size_t)(t - 1) * (size_t)(wl + q->cout) : a->gW;
    float *ab = t ? aw + wl : a->gb;
    for (int64_t it = i0; it < i1; it++) {
        int64_t i = it / pl.nch, oy0 = it % pl.nch * pl.crows, ld;
        int64_t oy1 = oy0 + pl.crows < q->oh ? oy0 + pl.crows : q->oh, nc = (oy1 - oy0) * q->ow;
        const float *gy = io->gy + i * ys + oy0 * q->ow;
        if (aw) {
            const float *B = chunk_cols(q, io->x[0] + i * xs, io->ws + (size_t)t * p->slot, oy0,
                                        oy1, T == 1 && pl.T > 1, &ld);
            for (int64_t g = 0; g < q->g; g++)
                (T == 1 && pl.T > 1 ? gemm : gemm1)(0, 1, (int)M, (int)K, (int)nc, 1.0f,
                                                    gy + g * M * ohw, (int)ohw, B + g * K * ld,
                                                    (int)ld, 1.0f, aw + g * M * K, (int)K);
        }
        if (ab)
            for (int64_t c = 0; c < q->cout; c++) {
                const float *gc = gy + c * ohw;
                float s = 0;
                for (int64_t k = 0; k < nc; k++)
                    s += gc[k];
                ab[c] += s;
            }
    }
}

/* Weight (and bias) gradients: sum over (image, chunk) items of
 * gy_chunk x col_chunk^T, each part into its own accumulator. */
static void conv_wgrad(const conv_p *p, float *gW, float *gb, const op_io *io)
{
    const cgeo *q = &p->f;
    int64_t K = q->cin / q->g * q->kh * q->kw, wl = q->cout * K;
    plan pl = make_plan(q, io->n, p->wt, p->slot);
    int T = pl.items < pl.T ? 1 : pl.T;
    float *acc = T > 1 ? calloc((size_t)(T - 1) * (size_t)(wl + q->cout), sizeof(float)) : NULL;
    if (T > 1 && !acc)
        T = 1;
    gemm_serial_blas();
    wgrad_job a = { p, &pl, io, gW, gb, acc, T };
    par_for(pl.items, T, wgrad_items, &a);
    for (int t = 1; t < T; t++) {
        const float *aw = acc + (size_t)(t - 1) * (size_t)(wl + q->cout);
        if (gW)
            for (int64_t k = 0; k < wl; k++)
                gW[k] += aw[k];
        if (gb)
            for (int64_t c = 0; c < q->cout; c++)
                gb[c] += aw[wl + c];
    }
    free(acc);
}

/* Rows oy0..oy1-1 of an image's output gradient gy (q's cout planes of
 * oh x ow) copied into panels at bp, as a 1x1 convolution's input is
 * (im2col_panels); par: over the threads (called outside a parallel
 * region). */
static void gy_panels(const cgeo *q, const float *gy, float *bp, int64_t oy0, int64_t oy1, int par)
{
    cgeo yq = { .cin = q->cout, .h = q->oh, .w = q->ow, .oh = q->oh, .ow = q->ow, .kh = 1,
                .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .g = q->g };
    by_channels(im2col_panels, &yq, gy, bp, oy0, oy1, par);
}

/* Output rows *oy0..*oy1-1 of chunk ch of q's prepared chunks (q->crows
 * rows each). */
static void chunk_span(const cgeo *q, int64_t ch, int64_t *oy0, int64_t *oy1)
{
    *oy0 = ch * q->crows;
    *oy1 = *oy0 + q->crows < q->oh ? *oy0 + q->crows : q->oh;
}

/* The gradient of the column matrix of chunk ch of one image (its
 * gradient gy) into dcol: W^T gy per group, on the packed GEMM (apk: W^T
 * packed) or OpenBLAS; par: split over the threads (called outside a
 * parallel region). */
static void col_grad(const conv_p *p, const float *W, const float *apk, const float *gy,
                     float *dcol, int64_t ch, int par)
{
    const cgeo *q = &p->f;
    int64_t ohw = q->oh * q->ow, M = q->cout / q->g, K = q->cin / q->g * q->kh * q->kw;
    int64_t oy0, oy1;
    chunk_span(q, ch, &oy0, &oy1);
    int64_t nc = (oy1 - oy0) * q->ow;
    /* A chunk of short rows (a 7x7 map's 49 floats) of gy copied into
     * panels (after the chunk's gradient, where the slot has room), as
     * the forward copies a 1x1 convolution's input (copy_direct): read in
     * place, each 16-float row of a panel crosses two cache lines.
     * resnet50's 7x7 stride-2 downsample: 2.9-3.0 against 3.3-3.4 ms (1
     * thread, CPU time); on conv1's 3136-column chunks the copy cost more
     * than it saved (4.0 against 3.8 ms). */
    const float *B = gy + oy0 * q->ow;
    int64_t bs = PK_NR, ldb = ohw, gs = M * ohw;
    float *bp = dcol + q->g * K * nc;
    if (apk && nc <= 64 && (size_t)(q->g * K * nc + q->cout * (nc + PK_NR)) <= p->slot) {
        gy_panels(q, gy, bp, oy0, oy1, par);
        B = bp, bs = q->cout * PK_NR, ldb = PK_NR, gs = M * PK_NR;
    }
    for (int64_t g = 0; g < q->g; g++) {
        if (apk)
            pk_gemm_ld(apk + g * pk_a_size(K, M), K, M, B + g * gs, bs, ldb, nc,
                       dcol + g * K * nc, nc, NULL, 0, par, NULL, ACT_NO);
        else
            (par ? gemm : gemm1)(1, 0, (int)K, (int)nc, (int)M, 1.0f, W + g * M * K, (int)K,
                                 gy + g * M * ohw + oy0 * q->ow, (int)ohw, 0.0f,
                                 dcol + g * K * nc, (int)nc);
    }
}

/* Thread t of nt's band of the scatter of chunk ch's column gradient
 * col onto gx (col2im_band over the chunk's cin x input rows). */
static void col2im_share(const cgeo *q, const float *col, float *gx, int64_t ch, int t, int nt,
                         int store)
{
    int64_t oy0, oy1, iy0, iy1;
    chunk_span(q, ch, &oy0, &oy1);
    band_rows(q, oy0, oy1, store, &iy0, &iy1);
    int64_t rows = q->cin * (iy1 - iy0);
    col2im_band(q, col, gx, oy0, oy1, rows * t / nt, rows * (t + 1) / nt, store);
}

/* Chunks 0..nch-1 of one image's input gradient by col2im in rounds of
 * one a thread: each chunk's product W^T gy on its thread, then the
 * round's scatters one chunk after the other, each split over the
 * threads by bands of rows. */
/* col2im_rounds' and col2im_split's phases. */
typedef struct c2i_args {
    const conv_p *p;
    const float *W, *apk, *gy;
    float *gx, *ws;
    int64_t nch, c0, ch;
    int store;
} c2i_args;

static void round_grads(void *ctx, int t, int nt)
{
    const c2i_args *a = ctx;
    (void)nt;
    if (a->c0 + t < a->nch)
        col_grad(a->p, a->W, a->apk, a->gy, a->ws + (size_t)t * a->p->slot, a->c0 + t, 0);
}

/* Chunk ch's scatter, its columns in slot ch - c0. */
static void round_share(void *ctx, int t, int nt)
{
    const c2i_args *a = ctx;
    col2im_share(&a->p->f, a->ws + (size_t)(a->ch - a->c0) * a->p->slot, a->gx, a->ch, t, nt,
                 a->store);
}

static void col2im_rounds(const conv_p *p, const float *W, const float *apk, const float *gy,
                          float *gx, float *ws, int64_t nch, int T, int store)
{
    c2i_args a = { p, W, apk, gy, gx, ws, nch, 0, 0, store };
    for (a.c0 = 0; a.c0 < nch; a.c0 += T) {
        par_run(T, round_grads, &a);
        for (a.ch = a.c0; a.ch < a.c0 + T && a.ch < nch; a.ch++)
            par_run(T, round_share, &a);
    }
}

/* Chunk ch of one image's input gradient by col2im on all T threads: the
 * product split by rows of W^T (the packed GEMM gives the same sums split
 * or not), then the scatter by bands of rows. For chunks fewer than the
 * threads (a 7x7 or 14x14 map is one chunk; 28x28 maps are 3 on 2
 * threads), where a round of one chunk a thread would leave threads idle
 * through the product: resnet50 batch 1, 2 threads, least ms: its 14x14
 * and 7x7 stride-2 layers' backward 3.4 -> 1.7, its 28x28 ones' (3
 * chunks) 2.14 -> 1.76 and 1.89 -> 1.66. */
static void col2im_split(const conv_p *p, const float *W, const float *apk, const float *gy,
                         float *gx, float *ws, int64_t ch, int T, int store)
{
    col_grad(p, W, apk, gy, ws, ch, 1);
    c2i_args a = { p, W, apk, gy, gx, ws, ch + 1, ch, ch, store };
    par_run(T, round_share, &a);
}

/* Images i0..i1-1 of conv_xgrad_col2im, each on part t's slot. */
typedef struct c2i_img {
    const conv_p *p;
    const float *W, *apk;
    const op_io *io;
    int64_t nch;
    int store;
} c2i_img;

static void c2i_images(void *ctx, int64_t i0, int64_t i1, int t)
{
    const c2i_img *a = ctx;
    const cgeo *q = &a->p->f;
    int64_t xs = q->cin * q->h * q->w, ys = q->cout * q->oh * q->ow;
    float *dcol = a->io->ws + (size_t)t * a->p->slot;
    for (int64_t i = i0; i < i1; i++) {
        float *gx = a->io->gx[0] + i * xs;
        for (int64_t ch = 0; ch < a->nch; ch++) {
            col_grad(a->p, a->W, a->apk, a->io->gy + i * ys, dcol, ch, 0);
            col2im_share(q, dcol, gx, ch, 0, 1, a->store);
        }
    }
}

/* Input gradient by col2im: in parallel over images, each image's chunks
 * in turn on one thread. With fewer images than threads, an image's
 * chunks in rounds of one per thread (col2im_rounds), those left over for
 * a last round short of threads one at a time on all of them
 * (col2im_split; each value gets its terms in the same order either
 * way). Splitting each chunk's product and scatter for every chunk
 * instead (chunks in turn) cost, 2 threads, process CPU ms: conv1 5.7-5.9 against 3.3-4.4 now, 128x56->128 3x3 stride 2
 * 4.8-5.5 against 3.5, 1024x14->2048 1x1 stride 2 4.6-4.9 against
 * 3.9-4.0 (the forwards 3.5-4.2, 3.0-4.3, 3.4-3.7). */
static void conv_xgrad_col2im(const conv_p *p, const float *W, const op_io *io)
{
    const cgeo *q = &p->f;
    int64_t xs = q->cin * q->h * q->w, ys = q->cout * q->oh * q->ow;
    /* The prepared chunks whatever the batch (not make_plan's, whole
     * images for a batch of one per thread or more): a value of gx sums
     * its terms chunk by chunk, so that other chunks would round an
     * image's gradient differently alone and in a batch (issue 20; 2
     * threads: 7564 of the 401408 values of a 128-channel 3x3 stride-2
     * layer's input gradient differed). */
    int64_t nch = ceil_div(q->oh, q->crows);
    int T = par_threads();
    if (T > p->wt)
        T = p->wt;
    gemm_serial_blas();
    /* On the packed GEMM: W^T packed once (pk_pack_at; kept across calls
     * in the engine's cache), gy's rows read where they lie, as the 1x1
     * path does (no OpenBLAS transpose copies of W per chunk). */
    const float *apk = p->pkc ? xgrad_packed(q, W, io->cache, io->ws + p->lb.apk) : NULL;
    int store = (io->gset & 1) && col2im_stores(q);   /* gx not zeroed (conv_backward) */
    if (io->n < T) {
        /* Chunks in rounds of one a thread; those left over for a last
         * round short of threads each on all of them. */
        int64_t full = apk ? nch / T * T : nch;
        for (int i = 0; i < io->n; i++) {
            const float *gy = io->gy + i * ys;
            float *gx = io->gx[0] + i * xs;
            col2im_rounds(p, W, apk, gy, gx, io->ws, full, T, store);
            for (int64_t ch = full; ch < nch; ch++)
                col2im_split(p, W, apk, gy, gx, io->ws, ch, T, store);
        }
        return;
    }
    c2i_img a = { p, W, apk, io, nch, store };
    par_for(io->n, T, c2i_images, &a);
}

/* Item it of conv_xgrad_direct: image it / nb, columns it % nb * bl on
 * (bl of them, or the rest); alone: the only item (its product split
 * over the threads). */
static void xgrad_item(const conv_p *p, const float *W, const op_io *io, const float *apk,
                       int64_t it, int64_t nb, int64_t bl, int alone, int t)
{
    int set = io->gset & 1;   /* gx fresh: stored (beta 0), not added */
    const cgeo *q = &p->f;
    int64_t hw = q->h * q->w, Co = q->cout / q->g, Ci = q->cin / q->g;
    int64_t i = it / nb, c0 = it % nb * bl, nc = hw - c0 < bl ? hw - c0 : bl;
    /* A short plane (7x7) of gy copied into panels first, as the
     * forward's copy_direct does and for the same reason, where gy
     * has no more rows than W^T (it is the smaller operand): the
     * input gradient of resnet50's layer4 conv1 (2048 x 512 x 49)
     * ran 1.30 against 1.44 ms (1 thread, CPU time); of its conv3
     * (512 x 2048 x 49) no faster at 1 thread and slower at 2. */
    const float *B = io->gy + i * q->cout * hw + c0;
    int64_t bs = PK_NR, ldb = hw, gs = Co * hw;
    if (apk && hw <= 64 && Co <= Ci && (size_t)(q->cout * (hw + PK_NR)) <= p->slot) {
        float *bp = io->ws + (size_t)t * p->slot;
        gy_panels(q, io->gy + i * q->cout * hw, bp, 0, q->oh, alone);
        B = bp, bs = q->cout * PK_NR, ldb = PK_NR, gs = Co * PK_NR;
    }
    for (int64_t g = 0; g < q->g; g++) {
        const float *gy = io->gy + (i * q->cout + g * Co) * hw + c0;
        float *gx = io->gx[0] + (i * q->cin + g * Ci) * hw + c0;
        if (apk)
            pk_gemm_ld(apk + g * pk_a_size(Ci, Co), Ci, Co, B + g * gs, bs, ldb, nc, gx, hw,
                       NULL, !set, alone, NULL, ACT_NO);
        else
            gemm1(1, 0, (int)Ci, (int)nc, (int)Co, 1.0f, W + g * Co * Ci, (int)Ci, gy,
                  (int)hw, set ? 0.0f : 1.0f, gx, (int)hw);
    }
}

typedef struct xgrad_args {
    const conv_p *p;
    const float *W;
    const op_io *io;
    const float *apk;
    int64_t nb, bl;
} xgrad_args;

static void xgrad_range(void *ctx, int64_t i0, int64_t i1, int t)
{
    const xgrad_args *a = ctx;
    for (int64_t it = i0; it < i1; it++)
        xgrad_item(a->p, a->W, a->io, a->apk, it, a->nb, a->bl, 0, t);
}

/* Input gradient of a 1x1, stride-1, unpadded convolution: gx += W^T gy,
 * one GEMM per image and group on the activations as they lie (no
 * lowering; on the packed GEMM W^T packed once per call, else OpenBLAS
 * reading W transposed); (image, block of columns) items in
 * parallel, blocks of at least CONV_MIN_COLS columns. */
static void conv_xgrad_direct(const conv_p *p, const float *W, const op_io *io)
{
    const cgeo *q = &p->f;
    int64_t hw = q->h * q->w, Ci = q->cin / q->g;
    int T = par_threads();
    if (T > p->wt)
        T = p->wt;
    double flops = 2.0 * io->n * (double)(q->cout * Ci * hw);
    if (T > flops / gemm_par_flops())
        T = (int)(flops / gemm_par_flops());
    if (T < 1)
        T = 1;
    /* Blocks per image: enough items for the threads, columns whole
     * vectors; one image on the packed GEMM: one item, its product split
     * by pk_gemm in PAR_FINE parts a thread (par.h). */
    int64_t nb = io->n == 1 && p->pkt ? 1 : ceil_div(T, io->n);
    int64_t bl = ceil_div(ceil_div(hw, nb), 16) * 16;
    if (bl < CONV_MIN_COLS)
        bl = CONV_MIN_COLS;
    nb = ceil_div(hw, bl);
    int64_t items = io->n * nb;
    gemm_serial_blas();
    /* On the packed GEMM: W^T packed once (pk_pack_at; kept across calls
     * in the engine's cache), gy read in place. */
    const float *apk = p->pkt ? xgrad_packed(q, W, io->cache, io->ws + p->lb.apk) : NULL;
    /* One item: called here, not in a one-thread parallel region, where
     * its product's own parallel region would be nested and libgomp would
     * start and end a thread for it on every call (about 20 a resnet50
     * input gradient at batch 1). */
    if (items == 1) {
        xgrad_item(p, W, io, apk, 0, nb, bl, 1, 0);
        return;
    }
    xgrad_args a = { p, W, io, apk, nb, bl };
    par_for_fine(items, T, flops, xgrad_range, &a);
}

/* W' of conv_xgrad_transposed into Wt. */
/* flip_weights' blocks b0..b1-1 (group, block of TB x TB (c, o) pairs). */
enum { FLIP_TB = 32 };

typedef struct flip_job {
    const cgeo *q;
    const float *W;
    float *Wt;
} flip_job;

static void flip_blocks(void *ctx, int64_t b0, int64_t b1, int t)
{
    const flip_job *a = ctx;
    const cgeo *q = a->q;
    int64_t Co = q->cout / q->g, Ci = q->cin / q->g, kk = q->kh * q->kw;
    int64_t nbc = ceil_div(Ci, FLIP_TB), nbo = ceil_div(Co, FLIP_TB);
    (void)t;
    for (int64_t gb = b0; gb < b1; gb++) {
        int64_t g = gb / (nbc * nbo), b = gb % (nbc * nbo);
        int64_t c0 = b / nbo * FLIP_TB, o0 = b % nbo * FLIP_TB;
        int64_t c1 = c0 + FLIP_TB < Ci ? c0 + FLIP_TB : Ci;
        int64_t o1 = o0 + FLIP_TB < Co ? o0 + FLIP_TB : Co;
        for (int64_t c = c0; c < c1; c++)
            for (int64_t o = o0; o < o1; o++) {
                const float *src = a->W + ((g * Co + o) * Ci + c) * kk;
                float *dst = a->Wt + ((g * Ci + c) * Co + o) * kk;
                for (int64_t k = 0; k < kk; k++)
                    dst[k] = src[kk - 1 - k];
            }
    }
}

/* In blocks of FLIP_TB x FLIP_TB (c, o) pairs, so that both the rows read
 * and the rows written stay in cache: one pass over c for each o (or the
 * reverse) strides by Ci k^2 or Co k^2 floats, 2.4 M floats of a
 * 512-channel 3x3 layer through a cache line per element. */
static void flip_weights(const conv_p *p, const float *W, float *Wt)
{
    const cgeo *q = &p->f;
    int64_t Co = q->cout / q->g, Ci = q->cin / q->g, kk = q->kh * q->kw;
    int64_t nb = q->g * ceil_div(Ci, FLIP_TB) * ceil_div(Co, FLIP_TB);
    flip_job a = { q, W, Wt };
    par_for(nb, q->g * Ci * Co * kk > (1 << 16) ? par_threads() : 1, flip_blocks, &a);
}

/* Input gradient as the convolution of gy with the flipped, transposed
 * weights: W'[g*Ci + c][o][ki][kj] = W[g*Co + o][c][kh-1-ki][kw-1-kj].
 * With the engine's cache, W' packed or transformed is made once and kept
 * (keyed by W), and later calls neither flip nor pack. */
static void conv_xgrad_transposed(const conv_p *p, const float *W, const op_io *io)
{
    const wgeo *wg = p->wino_t ? &p->wtg : NULL;
    float *Wt = io->ws + p->slot * (size_t)p->wt;
    const float *pre = cache_hit(io->cache, W);
    if (!pre) {
        flip_weights(p, W, Wt);
        pre = conv_prepared(&p->t, wg, Wt, W, io->cache);
    }
    conv_run(p, &p->lb, &p->t, wg, Wt, pre, NULL, io->n, io->gy, io->gx[0],
             io->gset & 1 ? 0.0f : 1.0f, io->ws, NULL, ACT_NO);
}

static void conv_backward(const node *nd, const op_io *io)
{
    const conv_p *p = nd->priv;
    const float *W = nd->w[p->iw]->data;
    float *gW = io->gw ? io->gw[p->iw] : NULL;
    float *gb = io->gw && p->ib >= 0 ? io->gw[p->ib] : NULL;
    /* A fresh gx (io->gset): the GEMM paths store it (beta 0, as the sum
     * onto zeros rounds but for the sign of a zero); col2im, depthwise and grouped
     * add into it, so it is zeroed for them. */
    const cgeo *q = &p->f;
    int tr = p->tgrad && ((p->wino_t && wino_worth(&p->wtg)) ||
                          q->cout * q->h * q->w <= q->cin * q->oh * q->ow);
    if (io->gx[0] && (io->gset & 1) &&
        (p->depthwise || p->grouped || !(q->direct || tr || col2im_stores(q))))
        memset(io->gx[0], 0, (size_t)(io->n * q->cin * q->h * q->w) * sizeof(float));
    if (p->depthwise) {
        if (gW || gb)
            dw_wgrad(&p->dg, io->n, io->x[0], io->gy, gW, gb, io->ws, p->wt);
        if (io->gx[0])
            dw_xgrad(&p->dg, W, io->n, io->gy, io->gx[0], io->ws, p->wt);
        return;
    }
    if ((gW || gb) && p->grouped)
        gr_wgrad(&p->gg, io->n, io->x[0], io->gy, gW, gb, io->ws, p->wt);
    else if (gW || gb)
        conv_wgrad(p, gW, gb, io);
    if (io->gx[0] && p->grouped) {
        gr_xgrad(&p->gg, W, gr_prepared(p, W, io->cache, 1), io->n, io->gy, io->gx[0], io->ws,
                 p->wt);
        return;
    }
    /* The transposed convolution lowers gy (Cout k^2 x H W floats), col2im
     * the input's gradient (Cin k^2 x OH OW): the smaller wins, unless the
     * transposed one runs by Winograd. */
    if (io->gx[0] && q->direct)
        conv_xgrad_direct(p, W, io);
    else if (io->gx[0]) {
        if (tr)
            conv_xgrad_transposed(p, W, io);
        else
            conv_xgrad_col2im(p, W, io);
    }
}

const struct op_def op_conv = { "Conv", 1, 1, conv_attrs, conv_weights, conv_prepare,
                                conv_forward, conv_backward };

/* ---- Dense: y = W x + b over the flattened input (C*H*W features). ---- */

/* The dense products: every output is the sum of its terms in an order
 * fixed by the inputs alone, computed by one thread, whatever the batch
 * and the threads, so a row's logits and gradients do not depend on
 * --batch, --range or --threads (issue 20). A library GEMM does not
 * promise that: OpenBLAS rounds a row differently by its place in the call
 * (rows 0-15 and 16-31 of a 32-row product) and by the call's shape.
 * Forward on densemm (W and the inputs read in place, dot-product form: at
 * batch 1 W streams once at full vector width). Backward, blocks of
 * inputs on the threads, W's rows in order, DENSE_ROWS images at a time. */
#define DENSE_ROWS 32
#define DENSE_COLS 256

/* Floats of gx one block of images keeps in L2 while W's rows stream past. */
#define DENSE_L2 (64 * 1024)

/* gx (n x d) += gy (n x r) W (r x d), each output summed over W's rows in
 * order; blocks of columns of gx in parallel, as wide as a block of
 * DENSE_ROWS images' gradients keeps in L2 and at most a thread's share
 * (at least DENSE_COLS): W then streams in runs of thousands of floats a
 * row. In blocks of 256 columns, every run was 1 KiB on a page of its
 * own, and alexnet's first dense layer (151 MB of weights) took 25 ms at
 * batch 1 against the 12-15 it takes to stream. */
/* dense_xgrad's blocks j0..j1-1 of kw columns. */
typedef struct dxg_job {
    const float *gy;
    int n;
    int64_t r, d, kw;
    const float *W;
    float *gx;
} dxg_job;

static void dense_xgrad_blocks(void *ctx, int64_t j0, int64_t j1, int t)
{
    const dxg_job *a = ctx;
    const float *gy = a->gy, *W = a->W;
    float *gx = a->gx;
    int n = a->n;
    int64_t r = a->r, d = a->d, kw = a->kw;
    (void)t;
    for (int64_t j = j0; j < j1; j++) {
        int64_t k0 = j * kw, kn = d - k0 < kw ? d - k0 : kw;
        for (int i0 = 0; i0 < n; i0 += DENSE_ROWS) {
            int rb = n - i0 < DENSE_ROWS ? n - i0 : DENSE_ROWS;
            int64_t o = 0;
            /* Four rows of W a pass over gx's block, added one after
             * another (the same operations, in the same order, as one row
             * a pass): a quarter of the loads and stores of gx. */
            for (; o + 4 <= r; o += 4) {
                const float *w0 = W + o * d + k0, *w1 = w0 + d, *w2 = w1 + d, *w3 = w2 + d;
                for (int i = i0; i < i0 + rb; i++) {
                    const float *gyi = gy + (int64_t)i * r + o;
                    float g0 = gyi[0], g1 = gyi[1], g2 = gyi[2], g3 = gyi[3];
                    float *gi = gx + (int64_t)i * d + k0;
                    for (int64_t k = 0; k < kn; k++) {
                        float v = gi[k];
                        v += g0 * w0[k];
                        v += g1 * w1[k];
                        v += g2 * w2[k];
                        v += g3 * w3[k];
                        gi[k] = v;
                    }
                }
            }
            for (; o < r; o++) {
                const float *wo = W + o * d + k0;
                for (int i = i0; i < i0 + rb; i++) {
                    float g = gy[(int64_t)i * r + o], *gi = gx + (int64_t)i * d + k0;
                    for (int64_t k = 0; k < kn; k++)
                        gi[k] += g * wo[k];
                }
            }
        }
    }
}

static void dense_xgrad(const float *gy, int n, int64_t r, int64_t d, const float *W, float *gx)
{
    int T = par_busy() ? 1 : par_threads();
    int64_t rows = n < DENSE_ROWS ? n : DENSE_ROWS, kw = DENSE_L2 / rows;
    if (kw > ceil_div(d, T))
        kw = ceil_div(d, T);
    kw = ceil_div(kw, 16) * 16;
    if (kw < DENSE_COLS)
        kw = DENSE_COLS;
    int64_t nb = ceil_div(d, kw);
    dxg_job a = { gy, n, r, d, kw, W, gx };
    par_for(nb, par_threads(), dense_xgrad_blocks, &a);
}

typedef struct dense_p {
    int64_t din, dout;
    int iw, ib;
} dense_p;

static const op_attr_spec dense_attrs[] = { { NULL, 0, 0 } };

static int dense_prepare(node *nd, const int64_t *const *in, op_need *need, char *err, size_t len)
{
    dense_p p;
    p.iw = op_weight_index(nd, "weight");
    p.ib = op_weight_index(nd, "bias");
    const tensor *W = nd->w[p.iw];
    p.din = in[0][0] * in[0][1] * in[0][2];
    if (W->ndim != 2) {
        snprintf(err, len, "weight must be 2-D (Dout x Din), has %d dimensions", W->ndim);
        return -1;
    }
    p.dout = W->dims[0];
    if (W->dims[1] != p.din) {
        snprintf(err, len, "weight expects %lld inputs, the input gives %lldx%lldx%lld = %lld",
                 (long long)W->dims[1], (long long)in[0][0], (long long)in[0][1],
                 (long long)in[0][2], (long long)p.din);
        return -1;
    }
    if (p.ib >= 0 && (nd->w[p.ib]->ndim != 1 || nd->w[p.ib]->dims[0] != p.dout)) {
        snprintf(err, len, "bias must have %lld values (one per output)", (long long)p.dout);
        return -1;
    }
    nd->shape[0] = p.dout, nd->shape[1] = 1, nd->shape[2] = 1;
    need->ws = 0, need->aux = 0;
    return op_keep(nd, &p, sizeof p, err, len);
}

static void dense_forward(const node *nd, const op_io *io)
{
    const dense_p *p = nd->priv;
    densemm(nd->w[p->iw]->data, p->dout, p->din, io->x[0], io->n,
            p->ib >= 0 ? nd->w[p->ib]->data : NULL, io->y);
}

static void dense_backward(const node *nd, const op_io *io)
{
    const dense_p *p = nd->priv;
    if (io->gx[0])
        dense_xgrad(io->gy, io->n, p->dout, p->din, nd->w[p->iw]->data, io->gx[0]);
    if (io->gw) {
        gemm(1, 0, (int)p->dout, (int)p->din, io->n, 1.0f, io->gy, (int)p->dout, io->x[0],
             (int)p->din, 1.0f, io->gw[p->iw], (int)p->din);
        if (p->ib >= 0)
            for (int i = 0; i < io->n; i++)
                for (int64_t o = 0; o < p->dout; o++)
                    io->gw[p->ib][o] += io->gy[i * p->dout + o];
    }
}

const struct op_def op_dense = { "Dense", 1, 1, dense_attrs, conv_weights, dense_prepare,
                                 dense_forward, dense_backward };
