/* direct: a convolution's forward without lowering (see direct.h). */
#include <stdlib.h>
#include <string.h>

#include "base/par.h"
#include "nn/gemm.h"
#include "nn/ops/direct.h"
#include "nn/ops/pack.h"
#include "nn/ops/simd.h"

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#define DC_ON 1
#include <immintrin.h>
#else
#define DC_ON 0
#endif

/* DC_VL floats a vector, DC_NC = 2 DC_VL output channels a block, tiles
 * of up to DC_TW pixels: AVX-512 2 x 14 accumulators (a 14- or 28-wide
 * map's rows in whole tiles, 56 in four) beside the two weight vectors
 * and a broadcast; AVX2 2 x 6 of its 16 registers. */
#if defined(__AVX512F__)
#define DC_VL 16
#define DC_TW 14
typedef __m512 dcv;
#define DV_ZERO() _mm512_setzero_ps()
#define DV_SET1(x) _mm512_set1_ps(x)
#define DV_LOAD(p) _mm512_load_ps(p)
#define DV_STORE(p, v) _mm512_store_ps(p, v)
#define DV_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define DV_ADD(a, b) _mm512_add_ps(a, b)
/* tile_out's: lanes 0..n-1 as a mask, the masked load (zeros past) and
 * store, the transpose of DC_VL vectors, the activation */
typedef __mmask16 dcm;
#define DV_MASK(n) mask16(n)
#define DV_MLOAD(p, m) _mm512_maskz_loadu_ps(m, p)
#define DV_MSTORE(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define DV_TR(v) tr16(v)
#define DV_ACT(v, a, lo, hi) act_v16(v, (a).kind, lo, hi)
#elif DC_ON
#define DC_VL 8
#define DC_TW 6
typedef __m256 dcv;
#define DV_ZERO() _mm256_setzero_ps()
#define DV_SET1(x) _mm256_set1_ps(x)
#define DV_LOAD(p) _mm256_load_ps(p)
#define DV_STORE(p, v) _mm256_store_ps(p, v)
#define DV_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define DV_ADD(a, b) _mm256_add_ps(a, b)
typedef __m256i dcm;
#define DV_MASK(n) mask8(n)
#define DV_MLOAD(p, m) _mm256_maskload_ps(p, m)
#define DV_MSTORE(p, m, v) _mm256_maskstore_ps(p, m, v)
#define DV_TR(v) tr8(v)
#define DV_ACT(v, a, lo, hi) act_v8(v, (a).kind, lo, hi)
#else
#define DC_VL 8
#define DC_TW 1
#endif
#define DC_NC (2 * DC_VL)

/* Images padded and run together (their padded copies in the workspace):
 * up to DC_GROUP, as many as DC_GROUP_FLOATS hold (at least one). */
#define DC_GROUP 4
#define DC_GROUP_FLOATS (2 << 20)
/* Taps: the offsets table lives on the caller's stack. */
#define DC_MAX_K 16384

/* The padded input's rows and columns: every row and column a tap reads. */
static int64_t pad_rows(const dcgeo *g)
{
    int64_t r = (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    return r > g->h + g->pt ? r : g->h + g->pt;
}
static int64_t pad_cols(const dcgeo *g)
{
    int64_t c = (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1;
    return c > g->w + g->pl ? c : g->w + g->pl;
}
/* Whether the input is read through a padded copy (else where it lies). */
static int padded(const dcgeo *g)
{
    return g->pt || g->pl || pad_rows(g) > g->h || pad_cols(g) > g->w;
}

int dc_wanted(const dcgeo *g)
{
    const char *e = getenv("CNN_CONV_DIRECT");
    int64_t K = g->cin * g->kh * g->kw;
    if (!DC_ON || (e && !strcmp(e, "0")) || K > DC_MAX_K ||
        DC_GROUP * g->cin * pad_rows(g) * pad_cols(g) >= (1LL << 31))
        return 0;
    if (e && !strcmp(e, "1"))
        return 1;
    /* Where it was measured faster than the lowered product or Winograd
     * (2 threads, in the net, least of the passes; the rest were 5-50%
     * slower: the 1x1 and 3x3 layers of resnet50 and VGG on larger maps,
     * mobilenet's and efficientnet's 1x1 layers of few input channels):
     * - strided, more than one tap: resnet50's stride-2 3x3 layers at
     *   batch 1 0.68 against 1.03 ms at 14x14, 0.67 against 0.88 at
     *   28x28, 0.79 against 0.96 at 7x7; its 7x7 conv1 even;
     * - strided 1x1 to maps over 7x7: resnet50's downsamples with their
     *   fused Add at 28x28 and 14x14 0.57-0.67 against 0.71-0.78 ms at
     *   batch 1, 0.67-0.70 against 0.71-0.73 at batch 4; resnet18's
     *   0.06-0.08 against 0.09-0.11 (once the lowered product's fused
     *   Add asked for R's lines ahead, pack.c; before, up to 25% slower
     *   at batch 4). At 7x7 no faster;
     * - maps whose rows fit two to a tile (7x7), more than one tap:
     *   resnet50's 3x3 layers 0.63-0.68 against 0.76 at batch 4, even at
     *   batch 1;
     * - 5x5 and larger: alexnet's 5x5 layer 1.07 against 1.49 ms;
     * - one block of output channels (densenet's 32-channel 3x3 layers:
     *   0.066 against 0.110 ms at 14x14, 4-5% faster at 56x56 and 28x28);
     * - 1x1 on maps of 196 pixels or fewer to at most 128 channels from
     *   128 or more (densenet's 1x1 layers at 14x14: 0.08 against 0.10
     *   ms; mobilenet_v2's 64- and 96-channel ones 10-20% faster). */
    int64_t taps = g->kh * g->kw;
#if !defined(__AVX512F__)
    /* With AVX2 (tiles of up to 6 pixels by 16 channels, transposed out
     * 8 x 8), measured alone at batch 1 against the lowered product (the
     * AVX2 build on the AVX-512 machine, 2 threads): strided layers with
     * rows of more than 7 outputs and K of 64 or more (resnet50's 7x7
     * stem 1.17 against 1.25 ms, its 128- and 256-channel stride-2 3x3
     * layers 1.10-1.14 against 1.35-1.39 and 1.32-1.34 against
     * 1.41-1.48; alexnet's 11x11 stem 0.72 against 0.88; convnext's 2x2
     * downsamples 0.65 against 0.74), 5x5 and larger (alexnet's 5x5
     * layer 2.25 against 2.53-2.68) and densenet's 32-channel 3x3
     * layers (0.08 against 0.14 ms at 14x14). Not: 1x1 layers (strided
     * ones 10-80% slower), 7-wide rows (a tile of 4 and one of 3), the
     * 3-channel 3x3 and 4x4 stems (K 27 and 48: even or slower). */
    if (taps == 1)
        return 0;
    return ((g->sh > 1 || g->sw > 1) && g->ow > 7 && K >= 64) || taps >= 25 ||
           (g->cout <= 32 && K >= 128);
#endif
    if (taps == 1)
        return g->sh > 1 || g->sw > 1 ? g->oh * g->ow > 49
                                      : g->oh * g->ow <= 196 && g->cout <= 128 && K >= 128;
    return g->sh > 1 || g->sw > 1 || 2 * g->ow <= DC_TW || taps >= 25 ||
           (g->cout <= 32 && K >= 128);
}

size_t dc_w_floats(const dcgeo *g)
{
    int64_t nb = (g->cout + DC_NC - 1) / DC_NC;
    return (size_t)(nb * g->cin * g->kh * g->kw * DC_NC);
}

void dc_pack(const dcgeo *g, const float *W, float *Wp)
{
    int64_t K = g->cin * g->kh * g->kw, nb = (g->cout + DC_NC - 1) / DC_NC;
    /* A channel's weights read in order (their row), written DC_NC apart
     * into its block (which stays in L2). */
    for (int64_t b = 0; b < nb; b++)
        for (int64_t j = 0; j < DC_NC; j++) {
            int64_t o = b * DC_NC + j;
            float *d = Wp + b * K * DC_NC + j;
            for (int64_t k = 0; k < K; k++)
                d[k * DC_NC] = o < g->cout ? W[o * K + k] : 0.0f;
        }
}

/* Items by output row (then block), the weights read once a thread,
 * when they fit L2 beside the input rows (a 128-channel 3x3 layer's 590
 * KB); else by block, each block's weights staying in L2 while the
 * images' rows pass (a 512-channel 3x3 layer's 9.4 MB). By output row,
 * resnet50's 128-channel stride-2 3x3 layer alone ran 0.71 against 0.85
 * ms, its 7x7 conv1 0.66 against 0.84. */
static int rowmajor(const dcgeo *g)
{
    return (size_t)(g->cin * g->kh * g->kw) * (size_t)g->cout * sizeof(float) <= 768 * 1024;
}

/* A padded input by output row (rowmajor): each thread pads the rows its
 * own items read, an image at a time, into a slot of its own, and no
 * thread waits on another. With one shared copy, each thread padding a
 * share of the rows and all reading them after a barrier, half of what a
 * thread read came from the other core's cache: densenet121's 128 -> 32
 * 3x3 layer at 14x14 alone ran 0.059 ms at batch 1 against 0.051 with
 * each thread padding the whole image itself. */
static int own_pad(const dcgeo *g) { return padded(g) && rowmajor(g); }

static int group(const dcgeo *g)
{
    int64_t ps = g->cin * pad_rows(g) * pad_cols(g), k = DC_GROUP_FLOATS / ps;
    return !padded(g) ? DC_GROUP : k < 1 ? 1 : k > DC_GROUP ? DC_GROUP : (int)k;
}

size_t dc_ws_floats(const dcgeo *g, int threads)
{
    size_t ps = (size_t)(g->cin * pad_rows(g) * pad_cols(g));
    if (own_pad(g))
        return (size_t)threads * ps + 16;
    return padded(g) ? (size_t)group(g) * ps + 16 : 0;
}

#if DC_ON
/* Taps ahead whose input lines a tile asks for (into L1) while it sums:
 * a tap's pixels lie on one or two lines of a plane of their own (a
 * channel, a kernel row), so the taps jump between planes, which the
 * hardware prefetchers miss. 2 threads, least of the passes, against
 * none: resnet50's layer4.0.conv2 (3x3 stride 2 to 7x7) in the net at
 * batch 4 0.82-0.86 -> 0.68-0.70 ms an image, layer3.0's downsample
 * 0.68-0.70 -> 0.64-0.66, the others within 2%; alone, the 3x3 stride-2
 * layers of resnet18/50 at 28x28 and 14x14 +4 to +18% (batch 1 and 4).
 * 3, 8 and 16 taps ahead: less; 64 and 128: no more, or less. */
#define DC_PF 32
/* The sums of one tile: TR rows (1 or 2) of TW pixels from x0 (the input
 * at the tile's first pixel's corner; pixel p of a row at + p sw, the
 * second row at + rs), the taps at x0 + off[k], the block's packed
 * weights wp; the final sums (the bias in) into t, pixel p of row q at t
 * + (q TW + p) DC_NC. SW: the stride when constant, else 0 (sw read).
 * wn (or NULL): the next block's weights, of which tap q >> qs is asked
 * for (the T2 hint) at each k where q = q0 + k is a multiple of 2^qs, so
 * that the 2^qs items of a block (item j at q0 = j K) ask for all of it
 * between them. */
static inline __attribute__((always_inline)) void
dc_tile(const float *x0, int64_t rs, const int32_t *off, int64_t K, const float *wp,
        const float *bias, float *t, const int TW, const int TR, const int SW, int64_t sw,
        const float *wn, int64_t q0, int qs)
{
    const int64_t s = SW ? SW : sw;
    const int64_t qm = ((int64_t)1 << qs) - 1;
    for (int64_t k0 = 0; k0 < K; k0 += PK_KC) {
        int64_t k1 = K - k0 < PK_KC ? K : k0 + PK_KC;
        dcv a0[DC_TW], a1[DC_TW];
#pragma GCC unroll 14
        for (int p = 0; p < TW * TR; p++)
            a0[p] = DV_ZERO(), a1[p] = DV_ZERO();
        for (int64_t k = k0; k < k1; k++) {
            const float *xs = x0 + off[k];
            if (k + DC_PF < K) {
                const float *xp = x0 + off[k + DC_PF];
                _mm_prefetch((const char *)xp, _MM_HINT_T0);
                _mm_prefetch((const char *)(xp + (TW - 1) * s), _MM_HINT_T0);
                if (TR > 1) {
                    _mm_prefetch((const char *)(xp + rs), _MM_HINT_T0);
                    _mm_prefetch((const char *)(xp + rs + (TW - 1) * s), _MM_HINT_T0);
                }
            }
            if (wn) {
                int64_t q = q0 + k;
                if (!(q & qm) && (q >> qs) < K) {
                    _mm_prefetch((const char *)(wn + (q >> qs) * DC_NC), _MM_HINT_T2);
                    _mm_prefetch((const char *)(wn + (q >> qs) * DC_NC + DC_VL), _MM_HINT_T2);
                }
            }
            dcv w0 = DV_LOAD(wp + k * DC_NC), w1 = DV_LOAD(wp + k * DC_NC + DC_VL);
#pragma GCC unroll 14
            for (int p = 0; p < TW * TR; p++) {
                dcv v = DV_SET1(p < TW ? xs[p * s] : xs[rs + (p - TW) * s]);
                a0[p] = DV_FMA(v, w0, a0[p]);
                a1[p] = DV_FMA(v, w1, a1[p]);
            }
        }
        /* As the packed GEMM's epilogue: the first block + bias, each
         * later one + what the blocks before summed. */
#pragma GCC unroll 14
        for (int p = 0; p < TW * TR; p++) {
            float *tp = t + p * DC_NC;
            if (k0 == 0) {
                if (bias) {
                    a0[p] = DV_ADD(a0[p], DV_LOAD(bias));
                    a1[p] = DV_ADD(a1[p], DV_LOAD(bias + DC_VL));
                }
            } else {
                a0[p] = DV_ADD(a0[p], DV_LOAD(tp));
                a1[p] = DV_ADD(a1[p], DV_LOAD(tp + DC_VL));
            }
            DV_STORE(tp, a0[p]);
            DV_STORE(tp + DC_VL, a1[p]);
        }
    }
}

/* dc_tile for tr rows (1, or 2 of at most DC_TW / 2) of tw pixels, stride
 * sw, asking for wn's taps as it does. */
static void dc_tile_any(const float *x0, int64_t rs, const int32_t *off, int64_t K,
                        const float *wp, const float *bias, float *t, int tw, int tr, int64_t sw,
                        const float *wn, int64_t q0, int qs)
{
#define DC_S(TW, TR, SW)                                                                         \
    case ((TR) * 16 + (TW)) * 8 + (SW):                                                        \
        dc_tile(x0, rs, off, K, wp, bias, t, TW, TR, SW, sw, wn, q0, qs);                     \
        return;
#define DC_W(TW, TR) DC_S(TW, TR, 0) DC_S(TW, TR, 1) DC_S(TW, TR, 2) DC_S(TW, TR, 4)
    int sc = sw == 1 || sw == 2 || sw == 4 ? (int)sw : 0;
    switch ((tr * 16 + tw) * 8 + sc) {
        DC_W(1, 1) DC_W(2, 1) DC_W(3, 1) DC_W(4, 1) DC_W(5, 1) DC_W(6, 1)
        DC_W(1, 2) DC_W(2, 2) DC_W(3, 2)
#if DC_TW > 6
        DC_W(7, 1) DC_W(8, 1) DC_W(9, 1) DC_W(10, 1) DC_W(11, 1) DC_W(12, 1) DC_W(13, 1)
        DC_W(14, 1) DC_W(4, 2) DC_W(5, 2) DC_W(6, 2) DC_W(7, 2)
#endif
    default: break;
    }
#undef DC_W
#undef DC_S
}

/* The shared state of one call. */
typedef struct dcrun {
    const dcgeo *g;
    const float *Wp, *b, *x, *r;
    float *y, *xp;
    const int32_t *off;
    int64_t K, nb, RS, CS;
    int rowmajor;   /* items by output row, then block (else block, row) */
    int R;          /* output rows per item: 2 on maps of DC_TW / 2 columns or fewer */
    int64_t nr;     /* items per image and block: ceil(oh / R) */
    int64_t nt;     /* tiles a row: ceil(ow / DC_TW), of even widths (a
                     * narrow last tile, few accumulators, ran at a
                     * fraction of the others' rate) */
    op_act act;
    int n;          /* images */
} dcrun;

/* Rows cr0..cr1 (channel-major; a channel past cin is the next image's,
 * as in x) of the padded copy xp of the images from x. */
static void pad_part(const dcrun *d, const float *x, float *xp, int64_t cr0, int64_t cr1)
{
    const dcgeo *g = d->g;
    int64_t Hp = pad_rows(g), Wp = pad_cols(g);
    for (int64_t cr = cr0; cr < cr1; cr++) {
        int64_t c = cr / Hp, iy = cr % Hp - g->pt;
        float *o = xp + cr * Wp;
        if (iy < 0 || iy >= g->h) {
            memset(o, 0, (size_t)Wp * sizeof *o);
            continue;
        }
        memset(o, 0, (size_t)g->pl * sizeof *o);
        memcpy(o + g->pl, x + (c * g->h + iy) * g->w, (size_t)g->w * sizeof *o);
        memset(o + g->pl + g->w, 0, (size_t)(Wp - g->pl - g->w) * sizeof *o);
    }
}

/* The tile's sums t (pixel p's DC_NC channels at t + p DC_NC) out into
 * the planes: channel j's tw pixels at y + j ohw, + r's (when fused),
 * then the activation, as the packed GEMM's epilogue rounds them. DC_VL
 * channels at a time through a DC_VL x DC_VL transpose (one value at a
 * time the transpose cost a third of a 7x7 stem's time with AVX-512, and
 * the AVX2 build never took the direct path; by gathers, a channel at a
 * time, resnet50's conv1 alone ran 0.70 against 0.60 ms). */
static void tile_out(const float *t, int tw, int nc, float *y, const float *r, int64_t ohw,
                     op_act act)
{
    dcm m = DV_MASK(tw);
    const dcv lo = DV_SET1(act.lo), hi = DV_SET1(act.hi);
    for (int h = 0; h < nc; h += DC_VL) {
        dcv v[DC_VL];
        for (int p = 0; p < DC_VL; p++)
            v[p] = p < tw ? DV_LOAD(t + p * DC_NC + h) : DV_ZERO();
        DV_TR(v);   /* v[j]: channel h + j's tw pixels */
        for (int j = 0; j < DC_VL && h + j < nc; j++) {
            dcv u = v[j];
            if (r)
                u = DV_ADD(u, DV_MLOAD(r + (h + j) * ohw, m));
            DV_MSTORE(y + (h + j) * ohw, m, DV_ACT(u, act, lo, hi));
        }
    }
}

/* Ask for the lines of a tile's row o (tw pixels of nc channels) of p:
 * the fused residual's, which tile_out reads, else the output's, which
 * it writes, while dc_tile runs. Read or written a row of at most DC_TW
 * pixels per channel, at a stride of ohw, a pattern the hardware
 * prefetchers miss: resnet50's 28x28 and 14x14 downsamples with their
 * Add ran 0.66-0.70 ms an image at batch 4 without, 0.64-0.66 with; its
 * conv1 and stride-2 3x3 layers 1-3% faster (C's lines). */
static inline void tile_prefetch(const float *p, int64_t o, int tw, int nc, int64_t ohw)
{
    for (int j = 0; j < nc; j++) {
        _mm_prefetch((const char *)(p + o + j * ohw), _MM_HINT_T0);
        _mm_prefetch((const char *)(p + o + j * ohw + tw - 1), _MM_HINT_T0);
    }
}

/* Items it0..it1 of images i0..i0+ni-1: (block, image, output row) in
 * that order, or (image, output row, block) when d->rowmajor; image i's
 * input at xin + (i - i0) xs. */
static void tiles_part(const dcrun *d, int i0, int ni, const float *xin, int64_t xs, int64_t it0,
                       int64_t it1)
{
    const dcgeo *g = d->g;
    int64_t ohw = g->oh * g->ow, ys = g->cout * ohw;
    float t[DC_VL * DC_NC] __attribute__((aligned(64)));   /* tile_out reads DC_VL rows */
    float bb[DC_NC] __attribute__((aligned(64)));
    int64_t blk = -1;
    /* By block (weights over 768 KB, rowmajor()): each of a block's first
     * 2^qs items (of its m) asks for a 2^-qs share of the next block's
     * weights while it sums (dc_tile's wn), so that they come from
     * cache, not memory, when that block starts. In the net the weights cross
     * memory (resnet50's are 100 MB), and each block's first item waited
     * on them: resnet50's three 512-channel 3x3 layers at 7x7, 2 threads,
     * sum of their least times over 6 alternating passes, 2.26 -> 1.86
     * ms at batch 1, 1.80 -> 1.74 an image at batch 4 (alone, weights
     * in cache, 1.68 at batch 1). With the T0 or T1 hint it gained
     * less; asking for only the first half, less. */
    int64_t m = ni * d->nr;
    int qs = 0;
    while (((int64_t)2 << qs) <= m)
        qs++;
    for (int64_t it = it0; it < it1; it++) {
        int64_t b, i, ir;
        if (d->rowmajor) {
            b = it % d->nb, ir = it / d->nb % d->nr, i = it / d->nb / d->nr;
        } else {
            b = it / (ni * d->nr), i = it / d->nr % ni, ir = it % d->nr;
        }
        int64_t c0 = b * DC_NC, oy = ir * d->R;
        int nc = g->cout - c0 < DC_NC ? (int)(g->cout - c0) : DC_NC;
        int tr = g->oh - oy < d->R ? (int)(g->oh - oy) : d->R;
        if (b != blk && d->b) {
            for (int j = 0; j < DC_NC; j++)
                bb[j] = j < nc ? d->b[c0 + j] : 0.0f;
        }
        blk = b;
        const float *wp = d->Wp + b * d->K * DC_NC, *xi = xin + i * xs;
        float *y = d->y + (i0 + i) * ys + c0 * ohw;
        const float *r = d->r ? d->r + (i0 + i) * ys + c0 * ohw : NULL;
        const float *wn = NULL;
        int64_t q0 = 0;
        if (!d->rowmajor && b + 1 < d->nb && (b + 1) * m < it1) {
            wn = wp + d->K * DC_NC;
            q0 = (it - b * m) * d->K;
        }
        for (int64_t tx = 0; tx < d->nt; tx++) {
            int64_t ox = tx * g->ow / d->nt;
            int tw = (int)((tx + 1) * g->ow / d->nt - ox);
            for (int q = 0; q < tr; q++)
                tile_prefetch(r ? r : y, (oy + q) * g->ow + ox, tw, nc, ohw);
            dc_tile_any(xi + oy * g->sh * d->RS + ox * g->sw, g->sh * d->RS, d->off, d->K, wp,
                        d->b ? bb : NULL, t, tw, tr, g->sw, tx ? NULL : wn, q0, qs);
            for (int q = 0; q < tr; q++) {
                int64_t o = (oy + q) * g->ow + ox;
                tile_out(t + q * tw * DC_NC, tw, nc, y + o, r ? r + o : NULL, ohw, d->act);
            }
        }
    }
}

/* Thread t's share (of T) of the items of n images by output row, the
 * input padded into its own slot (own_pad): image by image, the padded
 * rows its items there read, in every channel, then those items. */
static void dc_part_own(const dcrun *d, int n, int t, int T)
{
    const dcgeo *g = d->g;
    int64_t xs = g->cin * g->h * g->w, Hp = pad_rows(g), ps = g->cin * Hp * pad_cols(g);
    int64_t per = d->nr * d->nb, items = n * per;
    int64_t it0 = items * t / T, it1 = items * (t + 1) / T;
    float *xp = d->xp + t * ps;
    for (int64_t i = it0 / per; i < n && i * per < it1; i++) {
        int64_t a = it0 > i * per ? it0 - i * per : 0;
        int64_t b = it1 < (i + 1) * per ? it1 - i * per : per;
        /* output rows oy0..oy1-1, read from padded rows r0..r1-1 */
        int64_t oy0 = a / d->nb * d->R, oy1 = ((b - 1) / d->nb + 1) * d->R;
        oy1 = oy1 < g->oh ? oy1 : g->oh;
        int64_t r0 = oy0 * g->sh, r1 = (oy1 - 1) * g->sh + (g->kh - 1) * g->dh + 1;
        for (int64_t c = 0; c < g->cin; c++)
            pad_part(d, d->x + i * xs, xp, c * Hp + r0, c * Hp + r1);
        tiles_part(d, (int)i, 1, xp, ps, a, b);
    }
}

/* dc_part_own as a par_run part. */
static void own_piece(void *ctx, int t, int T)
{
    const dcrun *d = ctx;
    dc_part_own(d, d->n, t, T);
}

/* One group's phase (dc_all): padded rows, or items. */
typedef struct dcphase {
    const dcrun *d;
    int i0, ni;
    const float *xin;
    int64_t xs;
} dcphase;

static void pad_range(void *ctx, int64_t r0, int64_t r1, int t)
{
    const dcphase *f = ctx;
    (void)t;
    pad_part(f->d, f->xin, f->d->xp, r0, r1);
}

static void tiles_range(void *ctx, int64_t a, int64_t b, int t)
{
    const dcphase *f = ctx;
    (void)t;
    tiles_part(f->d, f->i0, f->ni, f->xin, f->xs, a, b);
}

/* Every image on T threads, DC_GROUP images at a time (a block of
 * weights read once for them all; group()): the rows of their padded
 * copies, then (after all are written) the items. */
static void dc_all(const dcrun *d, int n, int T)
{
    const dcgeo *g = d->g;
    if (own_pad(g)) {
        par_run(T, own_piece, (void *)d);
        return;
    }
    int64_t xs = g->cin * g->h * g->w, ps = g->cin * pad_rows(g) * pad_cols(g);
    int gn = group(g);
    for (int i0 = 0; i0 < n; i0 += gn) {
        int ni = n - i0 < gn ? n - i0 : gn;
        dcphase f = { d, i0, ni, d->x + i0 * xs, xs };
        if (d->xp) {
            par_for_fine((int64_t)ni * g->cin * pad_rows(g), T, 16.0 * (double)(ni * ps),
                         pad_range, &f);
            f.xin = d->xp, f.xs = ps;
        }
        double flops = 2.0 * ni * (double)(g->cout * g->oh * g->ow) *
                       (double)(g->cin * g->kh * g->kw);
        par_for_fine((int64_t)ni * d->nb * d->nr, T, flops, tiles_range, &f);
    }
}
#endif

void dc_forward(const dcgeo *g, const float *Wp, const float *b, int n, const float *x,
                const float *r, float *y, float *ws, int threads, op_act act)
{
#if DC_ON
    int64_t K = g->cin * g->kh * g->kw;
    int pad = padded(g);
    int64_t RS = pad ? pad_cols(g) : g->w, CS = pad ? pad_rows(g) * RS : g->h * g->w;
    int32_t off[K];
    for (int64_t c = 0, k = 0; c < g->cin; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++, k++)
                off[k] = (int32_t)(c * CS + ki * g->dh * RS + kj * g->dw);
    dcrun d = { g, Wp, b, x, r, y, pad ? ws : NULL, off, K, (g->cout + DC_NC - 1) / DC_NC,
                RS, CS, 0, 2 * g->ow <= DC_TW ? 2 : 1, 0, 0, act, n };
    d.nr = (g->oh + d.R - 1) / d.R;
    d.nt = (g->ow + DC_TW - 1) / DC_TW;
    d.rowmajor = rowmajor(g);
    int T = par_threads();
    if (T > threads)
        T = threads;
    double flops = 2.0 * n * (double)g->cout * (double)(g->oh * g->ow) * (double)K;
    if (T > flops / gemm_par_flops())
        T = (int)(flops / gemm_par_flops());
    if (T > d.nb * d.nr)
        T = (int)(d.nb * d.nr);
    dc_all(&d, n, T < 1 ? 1 : T);
#else
    (void)g, (void)Wp, (void)b, (void)n, (void)x, (void)r, (void)y, (void)ws, (void)threads;
    (void)act;
#endif
}
