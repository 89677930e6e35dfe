/* simd: the small vector helpers the ops share (masks for a row's tail,
 * the even/odd split of two vectors): AVX2's with AVX2 (and AVX-512) at
 * compile time, AVX-512's with AVX-512. */
#ifndef CNN_SIMD_H
#define CNN_SIMD_H

#if defined(__AVX2__)
#include <immintrin.h>
#include <stdint.h>

/* Lanes 0..n-1 of 8 as a vmaskmov mask (none for n <= 0, all 8 for
 * n >= 8). */
static inline __m256i mask8(int64_t n)
{
    int k = n < 0 ? 0 : n > 8 ? 8 : (int)n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif

#if defined(__AVX512F__)
#include <immintrin.h>
#include <stdint.h>

/* Lanes 0..n-1 (none for n <= 0, all 16 for n >= 16). */
static inline __mmask16 mask16(int64_t n)
{
    return n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* Indices for _mm512_permutex2var_ps(a, idx, b): the even elements of the
 * 32 of a and b (0, 2, ..., 30), and the odd ones. */
static inline __m512i idx_even(void)
{
    return _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}
static inline __m512i idx_odd(void)
{
    return _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}
#endif

#endif
