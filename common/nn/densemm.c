#include "nn/densemm.h"

#include "base/par.h"

/* Rows of W per block: the rows a thread's part is made of, and the rows
 * whose block of DENSEMM_KB inputs the tiles over the images share. */
#define RB 8

/* [a, b) of the r rows for thread t of nt, in whole blocks of RB. */
static void rows_of(int64_t r, int nt, int t, int64_t *a, int64_t *b)
{
    int64_t units = (r + RB - 1) / RB;
    *a = units * t / nt * RB;
    *b = units * (t + 1) / nt * RB;
    if (*a > r)
        *a = r;
    if (*b > r)
        *b = r;
}

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>

/* The vector: AVX-512's 16 lanes or AVX2's 8. TH: the rows of a tile over
 * 3 or 2 images, 8 with AVX-512's 32 registers (24 or 16 accumulators),
 * 4 with AVX2's 16 (12 or 8). */
#define ACC (3 * TH)

/* Images per pass over a block of rows: their partial sums, RB x IC
 * vectors (12 or 24 KiB), wait on the stack between blocks of inputs. */
#define IC 48

#include "nn/ops/simd.h"
#if defined(__AVX512F__)
typedef __m512 vf;
#define VL 16
#define TH 8
#define vzero _mm512_setzero_ps
#define vload _mm512_loadu_ps
#define vfma _mm512_fmadd_ps
#define vadd _mm512_add_ps
typedef __mmask16 vmask;
static inline vmask tail_mask(int64_t m) { return mask16(m); }
static inline vf vload_tail(const float *p, vmask m) { return _mm512_maskz_loadu_ps(m, p); }
/* The 16 lanes' sum: the halves added, then as an AVX2 vector's. */
static inline __m256 halves(vf v)
{
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    return _mm256_add_ps(_mm512_castps512_ps256(v), hi);
}
#else
typedef __m256 vf;
#define VL 8
#define TH 4
#define vzero _mm256_setzero_ps
#define vload _mm256_loadu_ps
#define vfma _mm256_fmadd_ps
#define vadd _mm256_add_ps
typedef __m256i vmask;
static inline vmask tail_mask(int64_t m) { return mask8(m); }
static inline vf vload_tail(const float *p, vmask m) { return _mm256_maskload_ps(p, m); }
static inline __m256 halves(vf v) { return v; }
#endif

#define INLINE static inline __attribute__((always_inline))

/* The lanes' sum in a fixed tree: 256-bit halves (AVX-512), then 128-bit
 * halves, then lanes (0+2)+(1+3). */
static inline float lanes_sum(vf v)
{
    __m256 h = halves(v);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* One vector of inputs at k (the lanes m only, for the last part-vector
 * of a row): NI vectors of x, TR of W, TR x NI multiply-adds into c. */
INLINE void step(const float *w, const float *x, int64_t d, int64_t k, vf *c, int tail, vmask m,
                 const int TR, const int NI)
{
    vf xv[3];
#pragma GCC unroll 3
    for (int i = 0; i < NI; i++)
        xv[i] = tail ? vload_tail(x + i * d + k, m) : vload(x + i * d + k);
#pragma GCC unroll 8
    for (int t = 0; t < TR; t++) {
        vf wv = tail ? vload_tail(w + t * d + k, m) : vload(w + t * d + k);
#pragma GCC unroll 3
        for (int i = 0; i < NI; i++)
            c[t * NI + i] = vfma(wv, xv[i], c[t * NI + i]);
    }
}

/* The register tile: TR rows of W (row stride d) against NI images of x
 * (row stride d) over kn inputs, TR x NI vectors summed from zero, stored
 * into tot (first block) or added to it (later ones); tot's row t, image
 * i at tot[t * ts + i]. */
INLINE void tile(const float *w, const float *x, int64_t d, int64_t kn, vf *tot, int ts,
                 int first, const int TR, const int NI)
{
    vf c[ACC];   /* TR x NI of them (a fixed size: an array the compiler
                  * sees whole stays in registers) */
#pragma GCC unroll 24
    for (int j = 0; j < TR * NI; j++)
        c[j] = vzero();
    vmask none = tail_mask(0);
    int64_t k = 0;
    for (; k + VL <= kn; k += VL)
        step(w, x, d, k, c, 0, none, TR, NI);
    if (k < kn)
        step(w, x, d, k, c, 1, tail_mask(kn - k), TR, NI);
#pragma GCC unroll 8
    for (int t = 0; t < TR; t++)
#pragma GCC unroll 3
        for (int i = 0; i < NI; i++)
            tot[t * ts + i] = first ? c[t * NI + i] : vadd(tot[t * ts + i], c[t * NI + i]);
}

/* One block of kn inputs for rows (w) and images (x), rb of them and ni:
 * TH rows x 3 images a tile (AVX2: 12 accumulators, 7 loads), the last
 * one or two images TH x 2 or 8 x 1; fewer than RB rows one at a time.
 * Which tile an output falls in changes nothing in its sum. */
static void block(const float *w, const float *x, int64_t d, int64_t kn, int rb, int ni, vf *tot,
                  int ts, int first)
{
    if (rb == RB) {
        int i = 0;
        for (; i + 3 <= ni; i += 3)
            for (int t = 0; t < RB; t += TH)
                tile(w + t * d, x + i * d, d, kn, tot + t * ts + i, ts, first, TH, 3);
        if (ni - i == 2)
            for (int t = 0; t < RB; t += TH)
                tile(w + t * d, x + i * d, d, kn, tot + t * ts + i, ts, first, TH, 2);
        else if (ni - i == 1)
            tile(w, x + i * d, d, kn, tot + i, ts, first, RB, 1);
        return;
    }
    for (int t = 0; t < rb; t++) {
        int i = 0;
        for (; i + 3 <= ni; i += 3)
            tile(w + t * d, x + i * d, d, kn, tot + t * ts + i, ts, first, 1, 3);
        for (; i < ni; i++)
            tile(w + t * d, x + i * d, d, kn, tot + t * ts + i, ts, first, 1, 1);
    }
}

/* Rows [o0, o1) of every image: blocks of RB rows, IC images at a time,
 * the inputs in blocks of DENSEMM_KB; tot holds the block's RB x ni
 * partial sums. (Tried: panels of 64 rows, each block of the inputs
 * through all of them so the images' block stays in L2: mixed on AVX-512
 * at 4-32 images, no gain on AVX2.) */
static void rows(const float *w, int64_t r, int64_t d, const float *x, int n, const float *b,
                 float *y, int64_t o0, int64_t o1)
{
    vf tot[RB * IC];
    for (int64_t o = o0; o < o1; o += RB) {
        int rb = o1 - o < RB ? (int)(o1 - o) : RB;
        for (int i0 = 0; i0 < n; i0 += IC) {
            int ni = n - i0 < IC ? n - i0 : IC;
            for (int64_t k0 = 0; k0 < d; k0 += DENSEMM_KB) {
                int64_t kn = d - k0 < DENSEMM_KB ? d - k0 : DENSEMM_KB;
                block(w + o * d + k0, x + (int64_t)i0 * d + k0, d, kn, rb, ni, tot, ni, k0 == 0);
            }
            for (int t = 0; t < rb; t++)
                for (int i = 0; i < ni; i++)
                    y[(int64_t)(i0 + i) * r + o + t] =
                        lanes_sum(tot[t * ni + i]) + (b ? b[o + t] : 0.0f);
        }
    }
}

#else

/* Portable: each output's 8 lanes' sums over k in order (a loop the
 * compiler vectorises), added (0+4)+(2+6) + (1+5)+(3+7). */
static void rows(const float *w, int64_t r, int64_t d, const float *x, int n, const float *b,
                 float *y, int64_t o0, int64_t o1)
{
    for (int64_t o = o0; o < o1; o++)
        for (int i = 0; i < n; i++) {
            const float *wo = w + o * d, *xi = x + (int64_t)i * d;
            float a[8] = { 0 };
            int64_t k = 0;
            for (; k + 8 <= d; k += 8)
                for (int l = 0; l < 8; l++)
                    a[l] += wo[k + l] * xi[k + l];
            for (int l = 0; k + l < d; l++)
                a[l] += wo[k + l] * xi[k + l];
            for (int l = 0; l < 4; l++)
                a[l] += a[l + 4];
            y[(int64_t)i * r + o] = ((a[0] + a[2]) + (a[1] + a[3])) + (b ? b[o] : 0.0f);
        }
}

#endif

typedef struct dense_job {
    const float *w;
    int64_t r, d;
    const float *x;
    int n;
    const float *b;
    float *y;
} dense_job;

static void dense_part(void *ctx, int t, int T)
{
    const dense_job *a = ctx;
    int64_t o0, o1;
    rows_of(a->r, T, t, &o0, &o1);
    rows(a->w, a->r, a->d, a->x, a->n, a->b, a->y, o0, o1);
}

void densemm(const float *w, int64_t r, int64_t d, const float *x, int n, const float *b,
             float *y)
{
    dense_job a = { w, r, d, x, n, b, y };
    par_run(par_threads(), dense_part, &a);
}
