/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <immintrin.h>

#include "kernels-internal.h"
#include "simd-reduce.h"

/* AVX2 + FMA + F16C: 8 lanes. */
#define N 8
typedef __m256 vf;
typedef __m256i vi;

static inline float hsum_avx2(__m256 v)
{
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
}

#define VF_ZERO           _mm256_setzero_ps()
#define vf_set1(f)        _mm256_set1_ps(f)
#define vf_load(p)        _mm256_loadu_ps(p)
#define vf_add(a, b)      _mm256_add_ps(a, b)
#define vf_mul(a, b)      _mm256_mul_ps(a, b)
#define vf_fma(a, b, c)   _mm256_fmadd_ps(a, b, c)
#define vf_fmsub(a, b, c) _mm256_fmsub_ps(a, b, c)
#define vf_reduce(v)      hsum_avx2(v)
#define vf_load_f16(p)    _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
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
#define vi_srl(a, n)  _mm256_srl_epi32(a, _mm_cvtsi32_si128(n))
#define vi_srlv(a, s) _mm256_srlv_epi32(a, s)
#define vi_to_vf(a)   _mm256_cvtepi32_ps(a)
#define VI_LANES      _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)
#define F16(h)        _cvtsh_ss(h)
#define KFN(name)     name##_avx2

#include "dot-simd.h"

/* The integer path: u8 x s8 through vpmaddubsw (pairs, int16) and vpmaddwd (int32). Built a
 * second time (meson.build) with KERN_AVX_VNNI for CPUs with AVX-VNNI (Alder Lake and later
 * Intel cores; aid_kernels_set_avx_vnni()): there one vpdpbusd does both steps and the add, with
 * the same exact sums (nothing here makes vpmaddubsw saturate). On the Emerald Rapids class host
 * (kernel-bench -l avx2 -x q8 -V 0|1, rows of 1152): from L2 on one thread Q4_0 14.2 against
 * 11.5 GB/s, Q5_0 11.7 against 10.2; from DRAM on two 0.242 against 0.258-0.268 ms a matrix
 * (Q4_0) and 0.317-0.319 against 0.348-0.354 (Q5_0). Q4_K and Q5_K then take the AVX-512
 * VNNI levels' 256-bit kernels (dot-q4k-vnni.h, in VEX form): from L2 19.8-19.9 against 11.3
 * GB/s (Q4_K) and 15.6-15.7 against 11.1 (Q5_K); from DRAM on two threads, rows of 2048,
 * 0.378-0.381 against 0.493-0.513 ms and 0.546-0.591 against 0.648-0.653; four rows of x
 * 0.63-0.67 against 1.04-1.06 and 0.83 against 1.18-1.19. Q6_K's kernel here multiplies by
 * its scales in vpmaddwd and gains nothing. */
#ifdef KERN_AVX_VNNI
#define DPBUSD(acc, u, s) _mm256_dpbusd_avx_epi32(acc, u, s)
#define IFN(name)         name##_avx_vnni
#else
#define DPBUSD(acc, u, s) \
        _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)))
#define IFN(name) name##_avx2
#endif
#define BITS_TO_BYTES(m) bits_to_bytes_avx2(m)

static inline __m256i bits_to_bytes_avx2(uint32_t m)
{
        /* Byte j takes byte j / 8 of m, keeps bit j % 8 and compares. */
        const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2,
                        2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
        const __m256i bit = _mm256_set1_epi64x(0x8040201008040201ll);
        __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)m), spread);
        return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

#include "dot-int.h"

const struct kern_dot_table IFN(kern_dot) = {
        .dot = { KERN_DOT_TABLE_ENTRIES },
        .qdot = { KERN_QDOT_TABLE_ENTRIES },
        .quantize_x = IFN(quantize_x),
};

const kern_qdot_rows_fn IFN(kern_qdot_rows)[_GGML_TYPE_MAX] = { KERN_QDOT_ROWS_TABLE_ENTRIES };
