/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <immintrin.h>

#include "kernels-internal.h"
#include "simd-reduce.h"

/* AVX-512 F/BW/VL/DQ: 16 lanes. */
#define N 16
typedef __m512 vf;
typedef __m512i vi;
#define VF_ZERO           _mm512_setzero_ps()
#define vf_set1(f)        _mm512_set1_ps(f)
#define vf_load(p)        _mm512_loadu_ps(p)
#define vf_add(a, b)      _mm512_add_ps(a, b)
#define vf_mul(a, b)      _mm512_mul_ps(a, b)
#define vf_fma(a, b, c)   _mm512_fmadd_ps(a, b, c)
#define vf_fmsub(a, b, c) _mm512_fmsub_ps(a, b, c)
#define vf_reduce(v)      _mm512_reduce_add_ps(v)
#define vf_load_f16(p)    _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
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
#define vi_srl(a, n)  _mm512_srl_epi32(a, _mm_cvtsi32_si128(n))
#define vi_srlv(a, s) _mm512_srlv_epi32(a, s)
#define vi_to_vf(a)   _mm512_cvtepi32_ps(a)
#define VI_LANES      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#define F16(h)        _cvtsh_ss(h)
#define KFN(name)     name##_avx512

#include "dot-simd.h"

/* The integer path at 256 bits, with AVX-512BW/VL's mask-to-bytes for the Q5 fifth bits. */
#define DPBUSD(acc, u, s) \
        _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)))
#define BITS_TO_BYTES(m) _mm256_movm_epi8((__mmask32)(m))
#define IFN(name)        name##_avx512

#define INT512
#include "dot-int.h"

const struct kern_dot_table kern_dot_avx512 = {
        .dot = { KERN_DOT_TABLE_ENTRIES },
        .qdot = { KERN_QDOT_TABLE_ENTRIES },
        .quantize_x = quantize_x_avx512,
};

const kern_qdot_rows_fn kern_qdot_rows_avx512[_GGML_TYPE_MAX] = { KERN_QDOT_ROWS_TABLE_ENTRIES };
