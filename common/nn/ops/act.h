/* act: the activation a convolution's store applies last when the engine
 * fuses the ReLU, Clip (ReLU6) or SiLU that follows it, rounded bit for
 * bit as those ops (ops/activ.c, ops/nonlin.c) would on the stored
 * value. */
#ifndef CNN_ACT_H
#define CNN_ACT_H

#include <stdint.h>

/* ACT_RELU: x > 0 or NaN: x, else +0 (the ReLU op: -0 becomes +0);
 * ACT_CLIP: x < lo: lo, x > hi: hi, else x (the Clip op: NaN and -0 stay);
 * ACT_SILU: x s(x), the SiLU op's vsiluf (vmath.h). */
enum { ACT_NONE = 0, ACT_RELU = 1, ACT_CLIP = 2, ACT_SILU = 3 };

typedef struct op_act {
    int kind;
    float lo, hi;   /* ACT_CLIP's bounds */
} op_act;

/* No activation. */
#define ACT_NO ((op_act){ ACT_NONE, 0.0f, 0.0f })

/* v[k] = vsiluf(v[k]), k < n: the SiLU op's loop (act.c, out of line:
 * the scalar and flat forms' SiLU). */
void act_silu(float *v, int64_t n);

static inline float act_apply(op_act a, float v)
{
    if (a.kind == ACT_RELU)
        return v > 0 || v != v ? v : 0.0f;
    if (a.kind == ACT_CLIP)
        return v < a.lo ? a.lo : v > a.hi ? a.hi : v;
    if (a.kind == ACT_SILU)
        act_silu(&v, 1);
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
    } else if (a.kind == ACT_SILU)
        act_silu(v, n);
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
        if (a.kind == ACT_SILU)
            act_silu(y, n);
    }
}

/* act_apply on a vector, the one vector form every store uses (lo, hi:
 * ACT_CLIP's bounds broadcast): ReLU keeps v > 0 and NaN (a
 * not-less-or-equal mask), else +0; Clip is max(lo, v) then min(hi, v)
 * with v second (returned when unordered or equal: NaN and -0 stay);
 * SiLU is vsiluf's operations in vsiluf's order, its multiply-adds the
 * fmaf vmath.h writes, so that each lane rounds as the op does in every
 * build (tests/unit/test_vmath.c). */
#if defined(__AVX2__)
#include <immintrin.h>
/* vsiluf on 8 lanes. */
static inline __m256 silu_v8(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f), magic = _mm256_set1_ps(12583039.0f);
    __m256 z = _mm256_or_ps(x, _mm256_set1_ps(-0.0f));   /* -|x| */
    __m256 v = _mm256_fmadd_ps(z, _mm256_set1_ps(1.44269504088896341f), magic);
    __m256 s = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(v), 23));
    __m256 n = _mm256_sub_ps(v, magic);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), z);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(1.9875691500e-4f), r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 e = _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), s, s);
    __m256 f = _mm256_div_ps(e, _mm256_add_ps(e, one));
    f = _mm256_andnot_ps(_mm256_cmp_ps(z, _mm256_set1_ps(-87.0f), _CMP_LT_OQ), f);
    f = _mm256_blendv_ps(_mm256_sub_ps(one, f), f, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
    return _mm256_mul_ps(x, f);
}
static inline __m256 act_v8(__m256 v, int kind, __m256 lo, __m256 hi)
{
    if (kind == ACT_RELU)
        return _mm256_and_ps(v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NLE_UQ));
    if (kind == ACT_CLIP)
        return _mm256_min_ps(hi, _mm256_max_ps(lo, v));
    if (kind == ACT_SILU)
        return silu_v8(v);
    return v;
}
#endif
#if defined(__AVX512F__)
/* vsiluf on 16 lanes. */
static inline __m512 silu_v16(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f), magic = _mm512_set1_ps(12583039.0f);
    __m512 z = _mm512_castsi512_ps(
        _mm512_or_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u)));
    __m512 v = _mm512_fmadd_ps(z, _mm512_set1_ps(1.44269504088896341f), magic);
    __m512 s = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(v), 23));
    __m512 n = _mm512_sub_ps(v, magic);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), z);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(1.9875691500e-4f), r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 e = _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), s, s);
    __m512 f = _mm512_div_ps(e, _mm512_add_ps(e, one));
    f = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(z, _mm512_set1_ps(-87.0f), _CMP_NLT_UQ), f);
    f = _mm512_mask_sub_ps(f, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_NLT_UQ), one, f);
    return _mm512_mul_ps(x, f);
}

static inline __m512 act_v16(__m512 v, int kind, __m512 lo, __m512 hi)
{
    if (kind == ACT_RELU)
        return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NLE_UQ), v);
    if (kind == ACT_CLIP)
        return _mm512_min_ps(hi, _mm512_max_ps(lo, v));
    if (kind == ACT_SILU)
        return silu_v16(v);
    return v;
}
#endif

#endif
