/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <immintrin.h>

#include "kernels-internal.h"

/* AVX-512 F/BW/VL/DQ: 16 lanes. */
#define N 16
typedef __m512 vf;
typedef __m512i vi;
#define vf_set1(f)     _mm512_set1_ps(f)
#define vf_add(a, b)   _mm512_add_ps(a, b)
#define vf_sub(a, b)   _mm512_sub_ps(a, b)
#define vf_mul(a, b)   _mm512_mul_ps(a, b)
#define vf_load(p)     _mm512_loadu_ps(p)
#define vf_store(p, v) _mm512_storeu_ps(p, v)
#define vf_load_f16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define vf_load_bf16(p)                        \
        _mm512_castsi512_ps(_mm512_slli_epi32( \
                        _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(p))), 16))
#define vi_load_u8(p) _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define vi_load_i8(p) _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define vi_set1(v)    _mm512_set1_epi32(v)
#define vi_and(a, b)  _mm512_and_si512(a, b)
#define vi_or(a, b)   _mm512_or_si512(a, b)
#define vi_add(a, b)  _mm512_add_epi32(a, b)
#define vi_sub(a, b)  _mm512_sub_epi32(a, b)
#define vi_slli(a, n) _mm512_slli_epi32(a, n)
#define vi_srli(a, n) _mm512_srli_epi32(a, n)
#define vi_srlv(a, s) _mm512_srlv_epi32(a, s)
#define vi_to_vf(a)   _mm512_cvtepi32_ps(a)
#define VI_LANES      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#define KFN(name)     name##_avx512

/* aid_f32_to_bf16() on 16 lanes, in the low half of each 32-bit lane: add 0x7fff plus the
 * kept part's lowest bit, keep the top half; NaNs are quieted instead, never rounded into
 * infinity. (vcvtneps2bf16 would flush subnormals, so it would not match.) */
static inline __m512i bf16_round(__m512 v)
{
        __m512i x = _mm512_castps_si512(v);
        __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
        __m512i r = _mm512_add_epi32(x, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
        __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);

        return _mm512_srli_epi32(_mm512_mask_or_epi32(r, nan, x, _mm512_set1_epi32(0x400000)), 16);
}

static inline void vh_store2_bf16(uint16_t *p, __m512 a, __m512 b)
{
        /* The pack interleaves a and b by 64-bit groups within each 128-bit lane: put a's four
         * groups first, then b's. */
        __m512i packed = _mm512_packus_epi32(bf16_round(a), bf16_round(b));
        __m512i order = _mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7);

        _mm512_storeu_si512((void *)p, _mm512_permutexvar_epi64(order, packed));
}

#include "dequant-simd.h"

const struct kern_dequant_table kern_dequant_avx512 = KERN_DEQUANT_TABLE_INIT;
