/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Horizontal sums and unaligned loads shared by the integer kernels (dot-int.h, dot-multi.h).
 * Static inline: each SIMD level's file compiles them with its own instruction set. */

#include <immintrin.h>
#include <stdint.h>

static inline int32_t simd_hsum_i32(__m256i v)
{
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
        return _mm_cvtsi128_si32(s);
}

static inline int32_t simd_hsum_i32x4(__m128i s)
{
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
        return _mm_cvtsi128_si32(s);
}

static inline float simd_hsum_f32(__m256 v)
{
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
}

static inline __m256i simd_load256(const void *p)
{
        return _mm256_loadu_si256((const __m256i *)p);
}

static inline __m128i simd_load128(const void *p)
{
        return _mm_loadu_si128((const __m128i *)p);
}
