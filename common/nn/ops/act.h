/* act: the activation a convolution's store applies last when the engine
 * fuses the ReLU or Clip (ReLU6) that follows it, rounded bit for bit as
 * those ops (ops/activ.c) would on the stored value. */
#ifndef CNN_ACT_H
#define CNN_ACT_H

#include <stdint.h>

/* ACT_RELU: x > 0 or NaN: x, else +0 (the ReLU op: -0 becomes +0);
 * ACT_CLIP: x < lo: lo, x > hi: hi, else x (the Clip op: NaN and -0 stay). */
enum { ACT_NONE = 0, ACT_RELU = 1, ACT_CLIP = 2 };

typedef struct op_act {
    int kind;
    float lo, hi;   /* ACT_CLIP's bounds */
} op_act;

/* No activation. */
#define ACT_NO ((op_act){ ACT_NONE, 0.0f, 0.0f })

static inline float act_apply(op_act a, float v)
{
    if (a.kind == ACT_RELU)
        return v > 0 || v != v ? v : 0.0f;
    if (a.kind == ACT_CLIP)
        return v < a.lo ? a.lo : v > a.hi ? a.hi : v;
    return v;
}

/* v[k] = act(v[k]), k < n: one loop per kind, each vectorised (over a
 * whole flat plane: per output row the short rows ran mostly in tails). */
static inline void act_flat(float *v, int64_t n, op_act a)
{
    float lo = a.lo, hi = a.hi;
    if (a.kind == ACT_CLIP) {
#pragma omp simd
        for (int64_t k = 0; k < n; k++)
            v[k] = v[k] < lo ? lo : v[k] > hi ? hi : v[k];
    } else if (a.kind == ACT_RELU) {
#pragma omp simd
        for (int64_t k = 0; k < n; k++)
            v[k] = v[k] > 0 || v[k] != v[k] ? v[k] : 0.0f;
    }
}

/* y[k] = act(x[k] * sc + sh), k < n: BatchNorm's store, and a Concat's
 * when the engine fuses the BatchNorm after it (the same rounding). */
static inline void act_affine(float *y, const float *x, int64_t n, float sc, float sh, op_act a)
{
    float lo = a.lo, hi = a.hi;
    if (a.kind == ACT_CLIP) {
#pragma omp simd
        for (int64_t k = 0; k < n; k++) {
            float v = x[k] * sc + sh;
            y[k] = v < lo ? lo : v > hi ? hi : v;
        }
    } else if (a.kind == ACT_RELU) {
#pragma omp simd
        for (int64_t k = 0; k < n; k++) {
            float v = x[k] * sc + sh;
            y[k] = v > 0 || v != v ? v : 0.0f;
        }
    } else {
#pragma omp simd
        for (int64_t k = 0; k < n; k++)
            y[k] = x[k] * sc + sh;
    }
}

/* act_apply on a vector, the one vector form every store uses (lo, hi:
 * ACT_CLIP's bounds broadcast): ReLU keeps v > 0 and NaN (a
 * not-less-or-equal mask), else +0; Clip is max(lo, v) then min(hi, v)
 * with v second (returned when unordered or equal: NaN and -0 stay). */
#if defined(__AVX2__)
#include <immintrin.h>
static inline __m256 act_v8(__m256 v, int kind, __m256 lo, __m256 hi)
{
    if (kind == ACT_RELU)
        return _mm256_and_ps(v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NLE_UQ));
    if (kind == ACT_CLIP)
        return _mm256_min_ps(hi, _mm256_max_ps(lo, v));
    return v;
}
#endif
#if defined(__AVX512F__)
static inline __m512 act_v16(__m512 v, int kind, __m512 lo, __m512 hi)
{
    if (kind == ACT_RELU)
        return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NLE_UQ), v);
    if (kind == ACT_CLIP)
        return _mm512_min_ps(hi, _mm512_max_ps(lo, v));
    return v;
}
#endif

#endif
