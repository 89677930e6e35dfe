/* pack: panel-packed GEMM for convolutions (see pack.h). */
#include <stdlib.h>
#include <string.h>


#include "base/par.h"
#include "nn/ops/pack.h"

/* Panels of A a thread packs (or takes) together in a product split by
 * rows: 4 x 6 x 256 floats with AVX2, 24 KiB (48 with AVX-512). */
#define PK_GA 4

/* Columns the tile kernel may take beside a panel, lanes along A's rows
 * (kernel's nt): AVX-512's 32 accumulators hold 4 more beside the 24 of
 * a full tile; AVX2's 16 none. */
#if defined(__AVX512F__)
#define PK_FOLD 4
#else
#define PK_FOLD 0
#endif

/* PK_KC rows of B per block: a 256 x 32 block of B (32 KiB) stays in L1. */

size_t pk_a_size(int64_t M, int64_t K)
{
    return (size_t)((M + PK_MR - 1) / PK_MR * PK_MR) * (size_t)K;
}

#if defined(__AVX512F__)
#include <immintrin.h>

#include "nn/ops/simd.h"   /* tr16 */

/* Columns k .. k+15 of the mr rows at A (row stride lda) into a panel's
 * rows k .. k+15 (PK_MR floats each; rows past mr zero). */
static inline void pack16(const float *A, int64_t lda, int mr, float *d)
{
    __m512 r[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        r[i] = i < mr ? _mm512_loadu_ps(A + i * lda) : _mm512_setzero_ps();
    tr16(r);
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++)
        _mm512_mask_storeu_ps(d + j * PK_MR, (__mmask16)((1u << PK_MR) - 1), r[j]);
}
#define PK_VEC 16
#elif PK_GEMM
#include <immintrin.h>

/* Columns k .. k+7 of the mr (<= 6) rows at A (row stride lda) into a
 * panel's rows k .. k+7 (PK_MR floats each; rows past mr zero): an 8 x 8
 * register transpose whose two last rows are zero. */
static inline void pack8(const float *A, int64_t lda, int mr, float *d)
{
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++)
        r[i] = i < mr ? _mm256_loadu_ps(A + i * lda) : _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* r[4g + j], 128-bit lane L: rows 4g..4g+3 of column 4L + j. */
    for (int g = 0; g < 2; g++) {
        r[4 * g] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        r[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        r[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        r[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int j = 0; j < 4; j++) {
        t[j] = _mm256_permute2f128_ps(r[j], r[4 + j], 0x20);
        t[4 + j] = _mm256_permute2f128_ps(r[j], r[4 + j], 0x31);
    }
    /* 8 lanes each, in order, each store's two spare lanes overwritten by
     * the next (a masked store is microcoded on AMD); the last 4 + 2. */
    for (int j = 0; j < 7; j++)
        _mm256_storeu_ps(d + j * PK_MR, t[j]);
    _mm_storeu_ps(d + 7 * PK_MR, _mm256_castps256_ps128(t[7]));
    _mm_storel_pi((__m64 *)(d + 7 * PK_MR + 4), _mm256_extractf128_ps(t[7], 1));
}
#define PK_VEC 8
#else
#define PK_VEC 0
#endif

/* Layout: blocks of PK_KC rows of K one after the other (block b at
 * b * PK_KC * Mp, Mp = M rounded up to PK_MR), in a block the panels of
 * PK_MR rows (panel p at p * kc * PK_MR), in a panel element (k, i) at
 * k * PK_MR + i: the block of A one pass over B needs is contiguous. With
 * AVX-512, 16 columns at a time by a register transpose (the scalar copy
 * took 6-9% of a batch-1 forward), with AVX2 8 at a time (the scalar copy
 * cost a third of the time of resnet18's 512-channel 3x3 layers at batch 1,
 * where the weights are most of the data). */
/* Rows i0 .. i0+mr-1, columns k0 .. k0+kc-1 of A into one panel at d
 * (element (k, i) at k * PK_MR + i; rows past mr zero). */
static void pack_panel(const float *A, int64_t lda, int64_t mr, int64_t kc, float *d)
{
    int64_t k = 0;
#if PK_VEC
    for (; k + PK_VEC <= kc; k += PK_VEC)
#if PK_KERNEL
        pack16(A + k, lda, (int)mr, d + k * PK_MR);
#else
        pack8(A + k, lda, (int)mr, d + k * PK_MR);
#endif
#endif
    for (; k < kc; k++) {
        for (int64_t i = 0; i < mr; i++)
            d[k * PK_MR + i] = A[i * lda + k];
        for (int64_t i = mr; i < PK_MR; i++)
            d[k * PK_MR + i] = 0;
    }
}

/* Panels p0..p1-1 of A packed (pk_pack_a) or of A^T (pk_pack_at). */
typedef struct pack_job {
    const float *A;
    int64_t M, K, lda;
    float *Ap;
} pack_job;

static void pack_panels(void *ctx, int64_t p0, int64_t p1, int t)
{
    const pack_job *a = ctx;
    int64_t M = a->M, K = a->K, Mp = (M + PK_MR - 1) / PK_MR * PK_MR;
    (void)t;
    for (int64_t p = p0; p < p1; p++) {
        int64_t i0 = p * PK_MR, mr = M - i0 < PK_MR ? M - i0 : PK_MR;
        for (int64_t k0 = 0; k0 < K; k0 += PK_KC) {
            int64_t kc = K - k0 < PK_KC ? K - k0 : PK_KC;
            pack_panel(a->A + i0 * a->lda + k0, a->lda, mr, kc, a->Ap + k0 * Mp + p * kc * PK_MR);
        }
    }
}

static void pack_t_panels(void *ctx, int64_t p0, int64_t p1, int t)
{
    const pack_job *a = ctx;
    int64_t M = a->M, K = a->K, Mp = (M + PK_MR - 1) / PK_MR * PK_MR;
    (void)t;
    for (int64_t p = p0; p < p1; p++) {
        int64_t i0 = p * PK_MR, mr = M - i0 < PK_MR ? M - i0 : PK_MR;
        for (int64_t k0 = 0; k0 < K; k0 += PK_KC) {
            int64_t kc = K - k0 < PK_KC ? K - k0 : PK_KC;
            float *d = a->Ap + k0 * Mp + p * kc * PK_MR;
            for (int64_t k = 0; k < kc; k++) {
                const float *r = a->A + (k0 + k) * a->lda + i0;
                for (int64_t i = 0; i < PK_MR; i++)
                    d[k * PK_MR + i] = i < mr ? r[i] : 0.0f;
            }
        }
    }
}

void pk_pack_a(const float *A, int64_t M, int64_t K, int64_t lda, float *Ap)
{
    pack_job a = { A, M, K, lda, Ap };
    par_for((M + PK_MR - 1) / PK_MR, M * K > (1 << 18) ? par_threads() : 1, pack_panels, &a);
}

void pk_pack_at(const float *A, int64_t M, int64_t K, int64_t lda, float *Ap)
{
    pack_job a = { A, M, K, lda, Ap };
    par_for((M + PK_MR - 1) / PK_MR, M * K > (1 << 18) ? par_threads() : 1, pack_t_panels, &a);
}

void pk_put(float *Bp, int64_t ps, int64_t k, int64_t j0, const float *src, int64_t len,
            int64_t stride)
{
    for (int64_t t = 0; t < len;) {
        int64_t j = j0 + t, r = j % PK_NR, seg = PK_NR - r < len - t ? PK_NR - r : len - t;
        float *d = Bp + j / PK_NR * ps + k * PK_NR + r;
        if (!src)
            memset(d, 0, (size_t)seg * sizeof *d);
        else if (stride == 1)
            memcpy(d, src + t, (size_t)seg * sizeof *d);
        else
            for (int64_t u = 0; u < seg; u++)
                d[u] = src[(t + u) * stride];
        t += seg;
    }
}

void pk_zero_tail(float *Bp, int64_t ps, int64_t K, int64_t n)
{
    int64_t npad = (n + PK_NR - 1) / PK_NR * PK_NR;
    if (npad > n)
        for (int64_t k = 0; k < K; k++)
            memset(Bp + n / PK_NR * ps + k * PK_NR + n % PK_NR, 0,
                   (size_t)(npad - n) * sizeof(float));
}

#if PK_GEMM

/* CNN_CONV_PACK: -1 unset, 0 off, 1 on; -2 not read yet. */
static int pk_mode = -2;

static int pk_env(void)
{
    if (pk_mode == -2) {
        const char *e = getenv("CNN_CONV_PACK");
        pk_mode = !e || !*e ? -1 : strcmp(e, "0") != 0;
    }
    return pk_mode;
}

void pk_set_mode(int mode) { pk_mode = mode < 0 ? -1 : mode > 0; }

/* OpenBLAS picks its Haswell (AVX2) kernels on this AMD EPYC, so the
 * AVX-512 micro-kernel with the lowering written straight into panels
 * beats lowering + OpenBLAS on every zoo net (interleaved, 2 threads,
 * loaded machine: resnet18 batch 1 18.1 against 11.4 img/s, resnet50 11.3
 * against 6.3, alexnet 46.6 against 20.4), and mobilenet_v2's 16-channel
 * 1x1 layer and 27-deep first layer (OpenBLAS took 11% of its batch-1
 * samples there, a third of it zeroing C for beta = 0). The AVX2 kernel
 * (x86-64-v3 build) matches OpenBLAS's Haswell one on the same products
 * (resnet18 batch 1 and 4, one thread, CPU time: within the noise), so
 * both instruction sets use the same rule.
 *
 * Products with fewer than 16 rows (output channels) or a K under 16
 * (MNIST's first layer, 9) stayed on OpenBLAS until OpenBLAS became a
 * library loaded on first use (base/dynlib.h): they were the only calls
 * that loaded it into a forward (efficientnet_b0's squeeze-excitation,
 * regnet_y_400mf's 8-channel groups), 2 MB resident. On the packed GEMM
 * they ran as fast (interleaved, 2 threads, batch 1 and 4: regnet,
 * efficientnet_b0 and mobilenet_v2 within +-2%, the MNIST net 0-15%
 * faster), so every shape runs here. */
int pk_wanted(int64_t M, int64_t K)
{
    (void)M, (void)K;
    return pk_env() != 0;
}

#include "nn/ops/simd.h"
#include <immintrin.h>

/* A column's epilogue with its rows in the lanes of v (the columns
 * kernel() takes beside a panel, tail_tile's): its first rows sums (row i
 * at C + i * ldc), then the tile kernel's epilogue in its order (load: +
 * C, + bias[i], + R, the fused activation), lane for lane the tile's
 * rounding. C and R gathered, the results scattered (AVX-512) or stored
 * lane by lane from the register (AVX2): through a buffer and scalar loads
 * each load waited on the vector store before it (9% of a 2048 x 512 x 49
 * product's time with AVX-512, 6% with AVX2, for its one such column). */
#if defined(__AVX512F__)
static inline void col_epilogue(__m512 v, int rows, float *C, int64_t ldc, int load,
                                const float *bias, const float *R, op_act act)
{
    __mmask16 mm = mask16(rows);
    __m512i vi = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32((int)ldc));
    if (load)
        v = _mm512_add_ps(v, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mm, vi, C, 4));
    if (bias)
        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mm, bias));
    if (R)
        v = _mm512_add_ps(v, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mm, vi, R, 4));
    v = act_v16(v, act.kind, _mm512_set1_ps(act.lo), _mm512_set1_ps(act.hi));
    _mm512_mask_i32scatter_ps(C, mm, vi, v, 4);
}
#elif PK_GEMM
static inline void col_epilogue(__m256 v, int rows, float *C, int64_t ldc, int load,
                                const float *bias, const float *R, op_act act)
{
    __m256i mm = mask8(rows);
    __m256i vi = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                    _mm256_set1_epi32((int)ldc));
    if (load)
        v = _mm256_add_ps(v, _mm256_mask_i32gather_ps(_mm256_setzero_ps(), C, vi,
                                                      _mm256_castsi256_ps(mm), 4));
    if (bias)
        v = _mm256_add_ps(v, _mm256_maskload_ps(bias, mm));
    if (R)
        v = _mm256_add_ps(v, _mm256_mask_i32gather_ps(_mm256_setzero_ps(), R, vi,
                                                      _mm256_castsi256_ps(mm), 4));
    v = act_v8(v, act.kind, _mm256_set1_ps(act.lo), _mm256_set1_ps(act.hi));
    __m128 h[2] = { _mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1) };
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        if (i >= rows)
            break;
        int bits = _mm_extract_ps(h[i / 4], i % 4);
        memcpy(C + i * ldc, &bits, sizeof bits);
    }
}
#endif

/* Ask for the mr rows of a tile's C (load: its sum so far, to add on),
 * or only R's when a residual is fused and C is only written, while its
 * K loop runs: the epilogue reads and writes a row of PK_NR
 * floats at a stride of ldc, a pattern the hardware prefetchers miss.
 * The residual Add fused into resnet50's layer1 convolutions (3 MB read
 * per image from L3) ran at 55% of the unfused product's speed without
 * it; the engine's head of cnn-evaluate's deletion (conv1 to layer3.0, 21
 * rows) went from 0.61 to 0.56 s. R's lines only when fused: asking for
 * C's as well (twice the lines in flight) left resnet50's layer3 1x1
 * product with the Add at 0.31-0.34 ms an image at batch 4 against
 * 0.30-0.32 (bench_engine bottleneck 1024 14 256 4 4), and layer1's at
 * 0.39-0.42 against 0.35-0.38 (with tile_prefetch_l2's R only too). */
static inline __attribute__((always_inline)) void
tile_prefetch(const float *C, const float *R, int64_t ldc, int mr, int load)
{
    /* every line a row of PK_NR floats may touch, aligned or not */
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < PK_NR + 16; j += 16) {
            int64_t o = i * ldc + (j < PK_NR ? j : PK_NR - 1);
            if (!R || load)
                _mm_prefetch((const char *)(C + o), _MM_HINT_T0);
            if (R)
                _mm_prefetch((const char *)(R + o), _MM_HINT_T0);
        }
}

/* Ask, into L2, for the mr rows of a later tile's R (a fused residual's
 * product split by panels of B: the same rows of the next panel; split
 * by rows of A: the next group's rows, same columns; rows past the
 * thread's last group may be asked for, which is harmless).
 * tile_prefetch's lead, one tile's K loop, was too short for lines from
 * memory: in resnet50's layer1 at batch 4 (the residual written three
 * layers before, 12.8 MB, out of cache) the first row's load of R
 * stalled every tile, and the 64 -> 256 1x1 product with the Add took
 * 0.50-0.57 ms an image against 0.32 without it; with the next panel's
 * lines asked for a panel ahead, 0.35-0.38. By rows of A (layer2's to
 * layer4's 1x1 products with the Add, chunks of fewer columns than
 * rows): 1-10% per layer at batch 1 and 4, resnet50's convolutions 1.8%
 * in all. The same for C when the product adds onto a sum made elsewhere
 * (a 1x1 input gradient added onto the residual's, which the Add's
 * backward wrote before the block's three convolutions': out of cache):
 * resnet's 256 -> 64 input gradient at 56x56 took 0.47-0.48 ms in the net
 * against 0.25 alone, and with C asked for a panel ahead 0.28-0.29
 * (bench_engine bottleneck 256 56 64 3 1; 128 channels at 28x28 0.33-0.35
 * -> 0.27-0.29). Only in the first K block: later ones add onto the
 * thread's own tiles, and 1x1 forwards with K over 256 ran 2-3% slower
 * with it. */
static inline __attribute__((always_inline)) void tile_prefetch_l2(const float *R, int64_t ldc, int mr)
{
    for (int i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(R + i * ldc), _MM_HINT_T1);
        _mm_prefetch((const char *)(R + i * ldc + PK_NR - 1), _MM_HINT_T1);
    }
}

/* Ask for one row of a panel of B read where it lies (a row-major B's
 * PK_NR floats, on two or three cache lines): the next panel's, while
 * the tile kernel runs on this one. That B (a 1x1 convolution's input)
 * is read a row of PK_NR floats at a stride of its width, which the
 * hardware prefetchers miss: resnet50's 1024 x 196 input of layer3's
 * first 1x1 convolutions, out of cache, made its 256 x 1024 x 196
 * product 35% slower than in cache. */
/* Inlined always, as tile_prefetch and tile_prefetch_l2 are: a call GCC
 * 12 leaves out of line is found to touch no memory and dropped,
 * prefetches and all. b_prefetch went so once the K loop moved into the
 * inlined kloop (resnet50's 256 -> 64 1x1 forward at 56x56 8% slower);
 * tile_prefetch had gone so unnoticed (emitted again, resnet50's
 * convolutions at batch 1, sum of least node times, AVX-512: forward
 * 21.70 -> 21.30 ms, backward 22.74 -> 22.15; AVX2 37.8 and 37.6 -> 37.9
 * and 37.1). */
static inline __attribute__((always_inline)) void b_prefetch(const float *b)
{
    _mm_prefetch((const char *)b, _MM_HINT_T0);
    _mm_prefetch((const char *)(b + 16), _MM_HINT_T0);
    _mm_prefetch((const char *)(b + PK_NR - 1), _MM_HINT_T0);
}

#if defined(__AVX512F__)

/* The K loop of kernel() on a full panel (nr > 16: half: 0) or on its
 * first half, and on NT more columns (column j's row k at Bt + k * ldb
 * + j) with the lanes along A's rows: a panel's PK_MR values of one k in
 * one vector times column j's value, one accumulator per column (ct[j],
 * lane i: row i), the same multiply-adds in the same order as the tile's
 * (test_gemm). */
static inline __attribute__((always_inline)) void
kloop(int64_t kc, const float *A, const float *B, int64_t ldb, __mmask16 m0, __mmask16 m1,
      const float *pf, const float *pfa, const int32_t *bo, const float *Bt, __m512 *c0,
      __m512 *c1, __m512 *ct, const int full, const int NT)
{
    for (int64_t k = 0; k < kc; k++) {
        const float *bk = bo ? B + bo[k] : B + k * ldb;
        __m512 b0 = full ? _mm512_loadu_ps(bk) : _mm512_maskz_loadu_ps(m0, bk);
        __m512 b1 = full ? _mm512_maskz_loadu_ps(m1, bk + 16) : b0;
        __asm__("" : "+v"(b0), "+v"(b1));   /* in registers (the AVX2 kernel says why) */
        if (pf)
            b_prefetch(pf + k * ldb);
        if (pfa)
            _mm_prefetch((const char *)(pfa + k * PK_MR), _MM_HINT_T0);
        if (NT) {
            __m512 av = _mm512_maskz_loadu_ps(mask16(PK_MR), A + k * PK_MR);
#pragma GCC unroll 4
            for (int j = 0; j < NT; j++)
                ct[j] = _mm512_fmadd_ps(av, _mm512_set1_ps(Bt[k * ldb + j]), ct[j]);
        }
#pragma GCC unroll 12
        for (int i = 0; i < PK_MR; i++) {
            __m512 a = _mm512_set1_ps(A[k * PK_MR + i]);
            c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
            if (full)
                c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
        }
    }
}

/* One PK_MR x PK_NR tile: C[0..mr) x [0..nr) (=|+=) A B over kc (row k of
 * B at B + k * ldb: PK_NR in a packed panel, the row stride of a
 * row-major B; columns past nr are not read); load: add C's values, bias:
 * add bias[i] to row i; R: add R's values (row stride ldc), then act: the
 * fused activation of the sum stored (R and act: the last K block's call
 * only).
 * In that order, so that a fused Add and ReLU round as the ops do.
 * nt (<= PK_FOLD) more columns, C's and R's columns nr .. nr+nt-1, their B
 * column j's row k at Bt + k * ldb + j (kloop): a panel's last 1-3
 * columns past its first 16, or a last panel of 1-4 columns folded into
 * the full one before it (gemm_part), in the loop that already reads
 * A's panel from L1. They went to tail() after the panels, which read
 * the group of A's panels (48 KB) from L2 again for them: a 2048 x 512 x
 * 49 product (resnet50's 7x7 1x1 layers) ran 20% slower than the same at
 * 48 columns, and 196 columns (14x14) cost 10% more than 192.
 * pf, pfa (or NULL): ask for row k of another panel of B (b_prefetch)
 * and the k-th PK_MR floats from pfa on, each k of a full panel. bo (or
 * NULL): row k of B at B + bo[k] instead (pk_gemm_off; ldb unused; nt 0).
 * Not inlined: inside gemm_core's loops GCC 12 (-march=native on an AMD
 * Zen 5, tuned as znver3) kept constants of the epilogue in registers
 * across the K loop and spilled B's two vectors to the stack, each FMA
 * reading one back (resnet50's 1x1 layers at 100-136 GFLOP/s on one core
 * of 213; 150-192 in a function of its own). */
__attribute__((noinline)) static void kernel(int64_t kc, const float *A, const float *B,
                                             int64_t ldb, float *C, int64_t ldc, int mr, int nr,
                                             int load, const float *bias, const float *R,
                                             op_act act, const float *pf, const float *pfa,
                                             const int32_t *bo, int nt, const float *Bt)
{
    __m512 c0[PK_MR], c1[PK_MR], ct[PK_FOLD];
    __mmask16 m0 = mask16(nr), m1 = mask16(nr - 16);
#pragma GCC unroll 12
    for (int i = 0; i < PK_MR; i++)
        c0[i] = _mm512_setzero_ps(), c1[i] = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int j = 0; j < PK_FOLD; j++)
        ct[j] = _mm512_setzero_ps();
    /* nr > 16: a full panel (of 17 to 32 columns); else the last panel
     * of a row of panels, half of it or less used */
#define PK_KLOOP(F, T)                                                                           kloop(kc, A, B, ldb, m0, m1, pf, pfa, bo, Bt, c0, c1, ct, F, T)
    switch (nt) {
    case 0: nr > 16 ? PK_KLOOP(1, 0) : PK_KLOOP(0, 0); break;
    case 1: nr > 16 ? PK_KLOOP(1, 1) : PK_KLOOP(0, 1); break;
    case 2: nr > 16 ? PK_KLOOP(1, 2) : PK_KLOOP(0, 2); break;
    case 3: nr > 16 ? PK_KLOOP(1, 3) : PK_KLOOP(0, 3); break;
    default: nr > 16 ? PK_KLOOP(1, 4) : PK_KLOOP(0, 4); break;
    }
#undef PK_KLOOP
#pragma GCC unroll 12
    for (int i = 0; i < PK_MR; i++) {
        if (i >= mr)
            break;
        float *c = C + i * ldc;
        __m512 v0 = c0[i], v1 = c1[i];
        if (load) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, c));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, c + 16));
        }
        if (bias) {
            __m512 bb = _mm512_set1_ps(bias[i]);
            v0 = _mm512_add_ps(v0, bb);
            v1 = _mm512_add_ps(v1, bb);
        }
        if (R) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, R + i * ldc));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, R + i * ldc + 16));
        }
        v0 = act_v16(v0, act.kind, _mm512_set1_ps(act.lo), _mm512_set1_ps(act.hi));
        v1 = act_v16(v1, act.kind, _mm512_set1_ps(act.lo), _mm512_set1_ps(act.hi));
        _mm512_mask_storeu_ps(c, m0, v0);
        _mm512_mask_storeu_ps(c + 16, m1, v1);
    }
    /* the columns beside, down their rows (unrolled: ct stays in registers) */
#pragma GCC unroll 4
    for (int j = 0; j < PK_FOLD; j++) {
        if (j >= nt)
            break;
        col_epilogue(ct[j], mr, C + nr + j, ldc, load, bias, R ? R + nr + j : NULL, act);
    }
}

#else
#include <immintrin.h>


/* The AVX2+FMA tile, 6 x 16 (see the AVX-512 one above): a full panel
 * with plain loads and stores, a partial one (the last of a row of
 * panels) through lane masks so that a row-major B is not read past nr. */
static inline void kernel(int64_t kc, const float *A, const float *B, int64_t ldb, float *C,
                          int64_t ldc, int mr, int nr, int load, const float *bias,
                          const float *R, op_act act, const float *pf, const float *pfa,
                          const int32_t *bo, int nt, const float *Bt)
{
    (void)nt, (void)Bt;   /* PK_FOLD 0: never more columns */
    __m256 c0[PK_MR], c1[PK_MR];
#pragma GCC unroll 6
    for (int i = 0; i < PK_MR; i++)
        c0[i] = _mm256_setzero_ps(), c1[i] = _mm256_setzero_ps();
    int full = nr == PK_NR;
    __m256i m0 = mask8(nr), m1 = mask8(nr - 8);
    if (full)
        for (int64_t k = 0; k < kc; k++) {
            const float *bk = bo ? B + bo[k] : B + k * ldb;
            __m256 b0 = _mm256_loadu_ps(bk), b1 = _mm256_loadu_ps(bk + 8);
            /* In registers: GCC may otherwise fold the two loads into the
             * 12 multiply-adds (12 loads a k; the fused-Add layers of
             * resnet50 ran 25% slower when a change elsewhere in the loop
             * tipped it that way). */
            __asm__("" : "+x"(b0), "+x"(b1));
            if (pf)
                b_prefetch(pf + k * ldb);
            if (pfa)
                _mm_prefetch((const char *)(pfa + k * PK_MR), _MM_HINT_T0);
#pragma GCC unroll 6
            for (int i = 0; i < PK_MR; i++) {
                __m256 a = _mm256_broadcast_ss(A + k * PK_MR + i);
                c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
                c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
            }
        }
    else if (nr > 8)
        for (int64_t k = 0; k < kc; k++) {
            const float *bk = bo ? B + bo[k] : B + k * ldb;
            __m256 b0 = _mm256_loadu_ps(bk);
            __m256 b1 = _mm256_maskload_ps(bk + 8, m1);
            __asm__("" : "+x"(b0), "+x"(b1));
            if (pf)
                b_prefetch(pf + k * ldb);
            if (pfa)
                _mm_prefetch((const char *)(pfa + k * PK_MR), _MM_HINT_T0);
#pragma GCC unroll 6
            for (int i = 0; i < PK_MR; i++) {
                __m256 a = _mm256_broadcast_ss(A + k * PK_MR + i);
                c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
                c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
            }
        }
    else
        for (int64_t k = 0; k < kc; k++) {
            __m256 b0 = _mm256_maskload_ps(bo ? B + bo[k] : B + k * ldb, m0);
#pragma GCC unroll 6
            for (int i = 0; i < PK_MR; i++)
                c0[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(A + k * PK_MR + i), b0, c0[i]);
        }
#pragma GCC unroll 6
    for (int i = 0; i < PK_MR; i++) {
        if (i >= mr)
            break;
        float *c = C + i * ldc;
        __m256 v0 = c0[i], v1 = c1[i];
        if (load) {
            v0 = _mm256_add_ps(v0, full ? _mm256_loadu_ps(c) : _mm256_maskload_ps(c, m0));
            v1 = _mm256_add_ps(v1, full ? _mm256_loadu_ps(c + 8) : _mm256_maskload_ps(c + 8, m1));
        }
        if (bias) {
            __m256 bb = _mm256_set1_ps(bias[i]);
            v0 = _mm256_add_ps(v0, bb);
            v1 = _mm256_add_ps(v1, bb);
        }
        if (R) {
            const float *r = R + i * ldc;
            v0 = _mm256_add_ps(v0, full ? _mm256_loadu_ps(r) : _mm256_maskload_ps(r, m0));
            v1 = _mm256_add_ps(v1, full ? _mm256_loadu_ps(r + 8) : _mm256_maskload_ps(r + 8, m1));
        }
        v0 = act_v8(v0, act.kind, _mm256_set1_ps(act.lo), _mm256_set1_ps(act.hi));
        v1 = act_v8(v1, act.kind, _mm256_set1_ps(act.lo), _mm256_set1_ps(act.hi));
        if (full) {
            _mm256_storeu_ps(c, v0);
            _mm256_storeu_ps(c + 8, v1);
        } else {
            _mm256_maskstore_ps(c, m0, v0);
            _mm256_maskstore_ps(c + 8, m1, v1);
        }
    }
}

#endif
/* The last panel of a row of panels when its columns past PK_TAIL_AT are
 * 1 to PK_TAIL: with AVX2 the whole panel when it has 1 to 3 columns
 * (a 7x7 map's 49 = 3 x 16 + 1). (With AVX-512 the columns past the
 * first 16 of such a panel, 49 = 32 + 16 + 1, went here too; the tile
 * kernel now takes them in its own K loop, kernel's nt, and gemm_part
 * calls tail() with AVX2 only.)
 * The tile kernel would spend a whole vector of multiply-adds on them
 * (AVX2: the 1-column tail of M=2048 K=512 n=49 cost 0.73 of a full
 * panel, 69.6 GFLOP/s against 84.8 at n=48; AVX-512: resnet50's layer4.1
 * alone went from 87-142 to 102-162 GFLOP/s with it, README).
 * Here the lanes run along A's rows instead (a panel's PK_MR values of
 * one k lie together), for NA panels and NR columns at once, one
 * accumulator each. Each output is the same sum over k in order of the
 * same fused multiply-adds, then the same epilogue (col_epilogue), so it
 * is bit for bit what the tile kernel gives (tests/unit/test_gemm.c
 * checks it). A: NA panels as floats apart; mlast: rows of the last
 * panel. */
#define PK_TAIL 3
#if defined(__AVX512F__)
#define PK_TAIL_AT 16
typedef __m512 tvec;
#define TV_LANES 16
#define TV_ZERO() _mm512_setzero_ps()
/* The PK_MR = 12 floats of a panel's k (masked: the 4 past them may lie
 * past the panel). */
#define TV_LOAD_A(p, last) ((void)(last), _mm512_maskz_loadu_ps(mask16(PK_MR), (p)))
#define TV_SET1(x) _mm512_set1_ps(x)
#define TV_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#else
#define PK_TAIL_AT 0
typedef __m256 tvec;
#define TV_LANES 8
#define TV_ZERO() _mm256_setzero_ps()
/* Eight floats from the k's six (the two past them are the next k's, or
 * past the panel: masked on the last k only, as a masked load is
 * slower). */
#define TV_LOAD_A(p, last) ((last) ? _mm256_maskload_ps((p), mask8(PK_MR)) : _mm256_loadu_ps(p))
#define TV_SET1(x) _mm256_set1_ps(x)
#define TV_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#endif
static inline __attribute__((always_inline)) void
tail_tile(int64_t kc, const float *A, int64_t as, const float *B, int64_t ldb, float *C,
          int64_t ldc, int mlast, int load, const float *bias, const float *R, op_act act,
          const int NA, const int NR)
{
    tvec c[PK_GA][PK_TAIL];   /* NA x NR <= 12 of them used */
#pragma GCC unroll 4
    for (int a = 0; a < NA; a++)
#pragma GCC unroll 4
        for (int j = 0; j < NR; j++)
            c[a][j] = TV_ZERO();
    for (int64_t k = 0; k < kc; k++) {
        tvec av[PK_GA];
#pragma GCC unroll 4
        for (int a = 0; a < NA; a++)
            av[a] = TV_LOAD_A(A + a * as + k * PK_MR, k + 1 == kc);
#pragma GCC unroll 4
        for (int j = 0; j < NR; j++) {
            tvec b = TV_SET1(B[k * ldb + j]);
#pragma GCC unroll 4
            for (int a = 0; a < NA; a++)
                c[a][j] = TV_FMA(av[a], b, c[a][j]);
        }
    }
#pragma GCC unroll 4
    for (int a = 0; a < NA; a++)
#pragma GCC unroll 4
        for (int j = 0; j < NR; j++)
            col_epilogue(c[a][j], a < NA - 1 ? PK_MR : mlast, C + a * PK_MR * ldc + j, ldc, load,
                         bias ? bias + a * PK_MR : NULL, R ? R + a * PK_MR * ldc + j : NULL, act);
}
/* tail_tile for na (1..PK_GA) panels and nr (1..PK_TAIL) columns: at
 * most 12 accumulators (with a row of A and a broadcast, 14 of AVX2's 16
 * registers). (AVX2: tails of 4 columns, 3 panels at a time, were no
 * faster than the tile kernel's half panel.) */
static void tail(int64_t kc, const float *A, int64_t as, int na, const float *B, int64_t ldb,
                 float *C, int64_t ldc, int mlast, int nr, int load, const float *bias,
                 const float *R, op_act act)
{
#define PK_T(NA, NR)                                                                            \
    case (NA) * 4 + (NR):                                                                      \
        tail_tile(kc, A, as, B, ldb, C, ldc, mlast, load, bias, R, act, NA, NR);              \
        return;
    switch (na * 4 + nr) {
        PK_T(1, 1) PK_T(1, 2) PK_T(1, 3) PK_T(2, 1) PK_T(2, 2) PK_T(2, 3)
        PK_T(3, 1) PK_T(3, 2) PK_T(3, 3) PK_T(4, 1) PK_T(4, 2) PK_T(4, 3)
    }
#undef PK_T
}

/* Loops, outermost first: blocks of PK_KC rows of K (that block of A,
 * M x PK_KC, stays in L2), panels of B (a PK_KC x PK_NR block in L1),
 * panels of A. With more columns than rows (early layers, big batches) the
 * panels of B are split over the threads, each reading all of A's block;
 * with more rows than columns (late layers at batch 1: 512 x 49) the
 * panels of A, each thread reading its share of A and all of B's few
 * panels (a PK_KC x n block in L2): A is the bigger operand, and 2 panels
 * of B over 2 threads left one of them with a 17-column tail. Then a
 * panel of A may be packed right before its use (Ap NULL: from A, row
 * stride lda, into a buffer in L1), so that the weights cross memory once
 * (packing all of them first and reading them back cost 15-25% of
 * resnet18's 512-channel layers at batch 1). A thread keeps the same
 * panels of A in every K block (a static schedule over the same count), so
 * it adds onto tiles only it wrote. */
/* Of a panel's nr columns, how many the tile kernel takes: all, or
 * PK_TAIL_AT when the 1..PK_TAIL past those go to tail(). */
static int tile_cols(int nr)
{
    int tl = nr - PK_TAIL_AT;
    return tl > 0 && tl <= PK_TAIL ? PK_TAIL_AT : nr;
}

/* Panel p's columns (of np panels, n columns; panels bstride floats
 * apart): *nr in all, *at for the tile kernel and *nt more it takes
 * beside them (kernel's nt), their B *tb floats on from the panel's (the
 * next panel's, a last panel of at most PK_FOLD columns folded into the
 * full one before it; else this panel's past PK_TAIL_AT), the rest (nr -
 * at - nt) for tail(). 0: the panel was folded into the one before. */
static int panel_cols(int64_t n, int64_t p, int64_t np, int64_t bstride, int *nr, int *at,
                      int *nt, int64_t *tb)
{
    int last = (int)(n - (np - 1) * PK_NR);
    *nr = n - p * PK_NR < PK_NR ? (int)(n - p * PK_NR) : PK_NR;
    *nt = 0;
    if (PK_FOLD && np > 1 && last <= PK_FOLD) {
        if (p == np - 1)
            return 0;
        if (p == np - 2) {
            *at = *nr, *nt = last, *tb = bstride;
            return 1;
        }
    }
    *at = tile_cols(*nr), *tb = *at;
    if (PK_FOLD && *at < *nr)
        *nt = *nr - *at;
    return 1;
}

/* The tile kernel on panels a0..a0+na-1 of a packed K block (Ak: its
 * first panel, PK_MR * kc floats apart) and nr columns of one panel of B
 * (and nt more, B column j at Bt + j, kernel's)
 * (C and R at that panel's first column; bias: the whole bias, or NULL).
 * pf: the next panel of B, asked for during the first tile (or NULL);
 * pfa: pgn panels of A (pkc rows of K each) asked for one per tile; far
 * (with R, or with C's sum so far made elsewhere; else 0): each tile's
 * rows of R (else C) far floats on asked for into L2 (tile_prefetch_l2). */
static void row_tiles(int64_t kc, const float *Ak, int64_t a0, int64_t na, int64_t M,
                      const float *B, int64_t ldb, float *C, int64_t ldc, int nr, int load,
                      const float *bias, const float *R, op_act act, const float *pf,
                      const float *pfa, int64_t pgn, int64_t pkc, int64_t far, int nt,
                      const float *Bt)
{
    for (int64_t a = a0; a < a0 + na; a++) {
        int64_t i0 = a * PK_MR;
        int mr = M - i0 < PK_MR ? (int)(M - i0) : PK_MR;
        if (far)
            tile_prefetch_l2((R ? R : C) + i0 * ldc + far, ldc, mr);
        tile_prefetch(C + i0 * ldc, R ? R + i0 * ldc : NULL, ldc, mr, load);
        kernel(kc, Ak + (a - a0) * PK_MR * kc, B, ldb, C + i0 * ldc, ldc, mr, nr, load,
               bias ? bias + i0 : NULL, R ? R + i0 * ldc : NULL, act, a == a0 ? pf : NULL,
               pfa && a - a0 < pgn ? pfa + (a - a0) * PK_MR * pkc : NULL, NULL, nt, Bt);
    }
}

/* Thread t's share (of T) of gemm_core's product: its panels of A (bym)
 * or of B, the same ones in every K block, so that it adds onto tiles only
 * it wrote (no barrier between the blocks). */
static void gemm_part(const float *Ap, const float *A, int64_t lda, int64_t M, int64_t K,
                      const float *Bp, int64_t bstride, int64_t ldb, int64_t n, float *C,
                      int64_t ldc, const float *bias, int accumulate, const float *R,
                      op_act act, int bym, int t, int T)
{
    int64_t np = (n + PK_NR - 1) / PK_NR, nm = (M + PK_MR - 1) / PK_MR;
    for (int64_t k0 = 0; k0 < K; k0 += PK_KC) {
        int64_t kc = K - k0 < PK_KC ? K - k0 : PK_KC;
        const float *Ak = Ap ? Ap + k0 * nm * PK_MR : NULL;
        int load = k0 > 0 || accumulate;
        /* C's sum so far made elsewhere (accumulate), read in the first K
         * block: out of cache, as R may be (tile_prefetch_l2; AVX-512 only:
         * the AVX2 tile's K loop, twice as long, was lead enough, and the
         * same 256 -> 64 input gradient ran no faster with it). */
        int cold = PK_KERNEL && accumulate && k0 == 0;
        op_act last = { k0 + kc >= K ? act.kind : ACT_NONE, act.lo, act.hi };
        const float *Rk = k0 + kc >= K ? R : NULL;
        if (bym) {
            /* This thread's panels a0..a1-1 (the same in every K block),
             * PK_GA at a time: each panel of B, read from L2, serves the
             * group from L1. */
            int64_t a0 = nm * t / T, a1 = nm * (t + 1) / T;
            for (int64_t ga = a0; ga < a1; ga += PK_GA) {
                int64_t gn = a1 - ga < PK_GA ? a1 - ga : PK_GA;
                float buf[PK_GA * PK_KC * PK_MR] __attribute__((aligned(64)));
                const float *pa = Ak ? Ak + ga * PK_MR * kc : buf;
                for (int64_t a = ga; !Ak && a < ga + gn; a++) {
                    int64_t i0 = a * PK_MR;
                    pack_panel(A + i0 * lda + k0, lda, M - i0 < PK_MR ? M - i0 : PK_MR, kc,
                               buf + (a - ga) * PK_MR * kc);
                }
                /* The group after this one (of this K block, or this
                 * thread's first of the next), asked for while the
                 * first panel of B passes this one (in the kernel's
                 * loop, a line every k or so): out of cache (the
                 * weights of resnet50's layers at batch 1 come from
                 * memory) its first pass waited on each line, and a
                 * 512 x 2048 x 49 product ran 15-20% under its speed
                 * in cache. */
                const float *nxa = NULL;
                int64_t ngn = 0, nkc = kc;
                if (Ak && ga + PK_GA < a1) {
                    nxa = Ak + (ga + PK_GA) * PK_MR * kc;
                    ngn = a1 - ga - PK_GA < PK_GA ? a1 - ga - PK_GA : PK_GA;
                } else if (Ak && k0 + PK_KC < K) {
                    nkc = K - k0 - PK_KC < PK_KC ? K - k0 - PK_KC : PK_KC;
                    nxa = Ap + (k0 + PK_KC) * nm * PK_MR + a0 * PK_MR * nkc;
                    ngn = a1 - a0 < PK_GA ? a1 - a0 : PK_GA;
                }
                for (int64_t p = 0; p < np; p++) {
                    int nr, at, nt;
                    int64_t tb;
                    if (!panel_cols(n, p, np, bstride, &nr, &at, &nt, &tb))
                        continue;
                    int64_t il = (ga + gn - 1) * PK_MR, j0 = p * PK_NR;
                    const float *B = Bp + p * bstride + k0 * ldb;
                    /* A B read where it lies: the next panel, which
                     * the first group reads first (b_prefetch). */
                    const float *pf = ldb != PK_NR && ga == a0 && p + 1 < np ? B + bstride : NULL;
                    if (at > 0)
                        row_tiles(kc, pa, ga, gn, M, B, ldb, C + j0, ldc, at, load,
                                  k0 == 0 ? bias : NULL, Rk ? Rk + j0 : NULL, last, pf,
                                  p == 0 ? nxa : NULL, ngn, nkc,
                                  (Rk || cold) && ga + PK_GA < a1 ? PK_GA * PK_MR * ldc : 0, nt,
                                  B + tb);
                    if (at + nt < nr)
                        tail(kc, pa, PK_MR * kc, (int)gn, B + at, ldb,
                             C + ga * PK_MR * ldc + j0 + at, ldc,
                             M - il < PK_MR ? (int)(M - il) : PK_MR, nr - at, load,
                             k0 == 0 && bias ? bias + ga * PK_MR : NULL,
                             Rk ? Rk + ga * PK_MR * ldc + j0 + at : NULL, last);
                }
            }
        } else {
            for (int64_t p = np * t / T; p < np * (t + 1) / T; p++) {
                int nr, at, nt;
                int64_t tb;
                if (!panel_cols(n, p, np, bstride, &nr, &at, &nt, &tb))
                    continue;
                const float *B = Bp + p * bstride + k0 * ldb;
                const float *pf = ldb != PK_NR && p + 1 < np ? B + bstride : NULL;
                if (at > 0)
                    row_tiles(kc, Ak, 0, nm, M, B, ldb, C + p * PK_NR, ldc, at, load,
                              k0 == 0 ? bias : NULL, Rk ? Rk + p * PK_NR : NULL, last, pf,
                              NULL, 0, 0, (Rk || cold) && p + 1 < np * (t + 1) / T ? PK_NR : 0,
                              nt, B + tb);
                for (int64_t i0 = 0; at + nt < nr && i0 < M; i0 += PK_GA * PK_MR) {
                    int64_t gn = (M - i0 + PK_MR - 1) / PK_MR < PK_GA ? (M - i0 + PK_MR - 1) / PK_MR
                                                                      : PK_GA;
                    int64_t il = i0 + (gn - 1) * PK_MR, j0 = p * PK_NR + at;
                    tail(kc, Ak + i0 * kc, PK_MR * kc, (int)gn, B + at, ldb, C + i0 * ldc + j0,
                         ldc, M - il < PK_MR ? (int)(M - il) : PK_MR, nr - at, load,
                         k0 == 0 && bias ? bias + i0 : NULL, Rk ? Rk + i0 * ldc + j0 : NULL, last);
                }
            }
        }
    }
}

/* gemm_part's arguments, for par_run. */
typedef struct gemm_args {
    const float *Ap, *A;
    int64_t lda, M, K;
    const float *Bp;
    int64_t bstride, ldb, n;
    float *C;
    int64_t ldc;
    const float *bias;
    int accumulate;
    const float *R;
    op_act act;
    int bym;
} gemm_args;

static void gemm_piece(void *ctx, int t, int T)
{
    const gemm_args *g = ctx;
    gemm_part(g->Ap, g->A, g->lda, g->M, g->K, g->Bp, g->bstride, g->ldb, g->n, g->C, g->ldc,
              g->bias, g->accumulate, g->R, g->act, g->bym, t, T);
}

static void gemm_core(const float *Ap, const float *A, int64_t lda, int64_t M, int64_t K,
                      const float *Bp, int64_t bstride, int64_t ldb, int64_t n, float *C,
                      int64_t ldc, const float *bias, int accumulate, int par, const float *R,
                      op_act act)
{
    int64_t np = (n + PK_NR - 1) / PK_NR, nm = (M + PK_MR - 1) / PK_MR;
    if (K == 0) {
        /* No products: C is its bias (or stays). */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < n; j++) {
                float v = (accumulate ? C[i * ldc + j] : 0) + (bias ? bias[i] : 0);
                v = R ? v + R[i * ldc + j] : v;
                C[i * ldc + j] = act_apply(act, v);
            }
        return;
    }
    int bym = !Ap || M > n;
    /* A parallel region only when split: a region of one thread (the
     * products of a Winograd chunk, a chunk of a convolution on a thread
     * of its own) still costs libgomp's team start and closing barrier, a
     * futex wake each, a system call that took 1-2 us on these machines
     * (hundreds per resnet18 forward). */
    if (par && (bym ? nm : np) > 1 && par_threads() > 1 && !par_busy()) {
        gemm_args g = { Ap, A, lda, M, K, Bp, bstride, ldb, n, C, ldc, bias, accumulate, R,
                        act, bym };
        /* Up to PAR_FINE parts a thread (par.h: a slower core takes fewer),
         * each of two groups of PK_GA panels of A or 2 panels of B at
         * least. */
        int T = par_threads();
        int parts = par_fine_parts(bym ? nm / (2 * PK_GA) : np / 2, T, 2.0 * (double)(M * n) * K);
        par_run(parts > T ? parts : T, gemm_piece, &g);
    } else
        gemm_part(Ap, A, lda, M, K, Bp, bstride, ldb, n, C, ldc, bias, accumulate, R, act, bym,
                  0, 1);
}

void pk_gemm_ld(const float *Ap, int64_t M, int64_t K, const float *Bp, int64_t bstride,
                int64_t ldb, int64_t n, float *C, int64_t ldc, const float *bias, int accumulate,
                int par, const float *R, op_act act)
{
    gemm_core(Ap, NULL, 0, M, K, Bp, bstride, ldb, n, C, ldc, bias, accumulate, par, R, act);
}

void pk_gemm_raw(const float *A, int64_t lda, int64_t M, int64_t K, const float *Bp,
                 int64_t bstride, int64_t ldb, int64_t n, float *C, int64_t ldc,
                 const float *bias, int accumulate, int par, const float *R, op_act act)
{
    gemm_core(NULL, A, lda, M, K, Bp, bstride, ldb, n, C, ldc, bias, accumulate, par, R, act);
}

void pk_gemm_rows(const float *Ap, const float *A, int64_t lda, int64_t M, int64_t K,
                  const float *Bp, int64_t bstride, int64_t ldb, int64_t n, float *C,
                  int64_t ldc, const float *bias, int accumulate, const float *R, op_act act,
                  int t, int T)
{
    if (K == 0) {
        if (t == 0)
            gemm_core(Ap, A, lda, M, K, Bp, bstride, ldb, n, C, ldc, bias, accumulate, 0, R, act);
        return;
    }
    gemm_part(Ap, A, lda, M, K, Bp, bstride, ldb, n, C, ldc, bias, accumulate, R, act, 1, t, T);
}

void pk_gemm_off(const float *Ap, int64_t M, int64_t K, const float *B, const int32_t *off,
                 int64_t n, float *C, int64_t ldc, const float *bias, int accumulate,
                 const float *R, op_act act)
{
    int64_t np = (n + PK_NR - 1) / PK_NR, nm = (M + PK_MR - 1) / PK_MR;
    for (int64_t k0 = 0; k0 < K; k0 += PK_KC) {
        int64_t kc = K - k0 < PK_KC ? K - k0 : PK_KC;
        const float *Ak = Ap + k0 * nm * PK_MR;
        int load = k0 > 0 || accumulate;
        op_act last = { k0 + kc >= K ? act.kind : ACT_NONE, act.lo, act.hi };
        const float *Rk = k0 + kc >= K ? R : NULL;
        for (int64_t p = 0; p < np; p++) {
            int nr = n - p * PK_NR < PK_NR ? (int)(n - p * PK_NR) : PK_NR;
            int64_t j0 = p * PK_NR;
            for (int64_t a = 0; a < nm; a++) {
                int64_t i0 = a * PK_MR;
                int mr = M - i0 < PK_MR ? (int)(M - i0) : PK_MR;
                float *c = C + i0 * ldc + j0;
                const float *r = Rk ? Rk + i0 * ldc + j0 : NULL;
                tile_prefetch(c, r, ldc, mr, load);
                kernel(kc, Ak + a * PK_MR * kc, B + j0, 0, c, ldc, mr, nr, load,
                       k0 == 0 && bias ? bias + i0 : NULL, r, last, NULL, NULL, off + k0, 0,
                       NULL);
            }
        }
    }
}

void pk_gemm(const float *Ap, int64_t M, int64_t K, const float *Bp, int64_t bstride, int64_t n,
             float *C, int64_t ldc, const float *bias, int accumulate, int par)
{
    pk_gemm_ld(Ap, M, K, Bp, bstride, PK_NR, n, C, ldc, bias, accumulate, par, NULL,
               ACT_NO);
}

#else /* no micro-kernel: OpenBLAS everywhere */

void pk_set_mode(int mode) { (void)mode; }
int pk_wanted(int64_t M, int64_t K)
{
    (void)M, (void)K;
    return 0;
}

void pk_gemm(const float *Ap, int64_t M, int64_t K, const float *Bp, int64_t bstride, int64_t n,
             float *C, int64_t ldc, const float *bias, int accumulate, int par)
{
    (void)Ap, (void)M, (void)K, (void)Bp, (void)bstride, (void)n, (void)C, (void)ldc, (void)bias,
        (void)accumulate, (void)par;
}

void pk_gemm_ld(const float *Ap, int64_t M, int64_t K, const float *Bp, int64_t bstride,
                int64_t ldb, int64_t n, float *C, int64_t ldc, const float *bias, int accumulate,
                int par, const float *R, op_act act)
{
    (void)ldb, (void)R, (void)act;
    pk_gemm(Ap, M, K, Bp, bstride, n, C, ldc, bias, accumulate, par);
}

void pk_gemm_raw(const float *A, int64_t lda, int64_t M, int64_t K, const float *Bp,
                 int64_t bstride, int64_t ldb, int64_t n, float *C, int64_t ldc,
                 const float *bias, int accumulate, int par, const float *R, op_act act)
{
    (void)A, (void)lda, (void)ldb, (void)R, (void)act;
    pk_gemm(NULL, M, K, Bp, bstride, n, C, ldc, bias, accumulate, par);
}

void pk_gemm_rows(const float *Ap, const float *A, int64_t lda, int64_t M, int64_t K,
                  const float *Bp, int64_t bstride, int64_t ldb, int64_t n, float *C,
                  int64_t ldc, const float *bias, int accumulate, const float *R, op_act act,
                  int t, int T)
{
    (void)Ap, (void)A, (void)lda, (void)M, (void)K, (void)Bp, (void)bstride, (void)ldb, (void)n,
        (void)C, (void)ldc, (void)bias, (void)accumulate, (void)R, (void)act, (void)t, (void)T;
}

void pk_gemm_off(const float *Ap, int64_t M, int64_t K, const float *B, const int32_t *off,
                 int64_t n, float *C, int64_t ldc, const float *bias, int accumulate,
                 const float *R, op_act act)
{
    (void)Ap, (void)M, (void)K, (void)B, (void)off, (void)n, (void)C, (void)ldc, (void)bias,
        (void)accumulate, (void)R, (void)act;
}

#endif
