/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <immintrin.h>

#include "kernels-internal.h"

/* AVX2 + F16C: 8 lanes. */
#define N 8
typedef __m256 vf;
typedef __m256i vi;
#define vf_set1(f)     _mm256_set1_ps(f)
#define vf_add(a, b)   _mm256_add_ps(a, b)
#define vf_sub(a, b)   _mm256_sub_ps(a, b)
#define vf_mul(a, b)   _mm256_mul_ps(a, b)
#define vf_load(p)     _mm256_loadu_ps(p)
#define vf_store(p, v) _mm256_storeu_ps(p, v)
#define vf_load_f16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define vf_load_bf16(p)                        \
        _mm256_castsi256_ps(_mm256_slli_epi32( \
                        _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p))), 16))
#define vi_load_u8(p) _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p)))
#define vi_load_i8(p) _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p)))
#define vi_set1(v)    _mm256_set1_epi32(v)
#define vi_and(a, b)  _mm256_and_si256(a, b)
#define vi_or(a, b)   _mm256_or_si256(a, b)
#define vi_add(a, b)  _mm256_add_epi32(a, b)
#define vi_sub(a, b)  _mm256_sub_epi32(a, b)
#define vi_slli(a, n) _mm256_slli_epi32(a, n)
#define vi_srli(a, n) _mm256_srli_epi32(a, n)
#define vi_srlv(a, s) _mm256_srlv_epi32(a, s)
#define vi_to_vf(a)   _mm256_cvtepi32_ps(a)
#define VI_LANES      _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)
#define KFN(name)     name##_avx2

/* aid_f32_to_bf16() on 8 lanes (see dequant-avx512.c), in the low half of each 32-bit lane. */
static inline __m256i bf16_round(__m256 v)
{
        __m256i x = _mm256_castps_si256(v);
        __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
        __m256i r = _mm256_add_epi32(x, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff)));
        __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));

        return _mm256_srli_epi32(
                        _mm256_blendv_epi8(r, _mm256_or_si256(x, _mm256_set1_epi32(0x400000)), nan), 16);
}

static inline void vh_store2_bf16(uint16_t *p, __m256 a, __m256 b)
{
        /* The pack gives a0-3 b0-3 | a4-7 b4-7: swap the middle 64-bit groups. */
        __m256i packed = _mm256_packus_epi32(bf16_round(a), bf16_round(b));

        _mm256_storeu_si256((__m256i *)(void *)p, _mm256_permute4x64_epi64(packed, 0xd8));
}

#include "dequant-simd.h"

const struct kern_dequant_table kern_dequant_avx2 = KERN_DEQUANT_TABLE_INIT;
