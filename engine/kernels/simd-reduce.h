/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Horizontal sums, unaligned loads and the K types' small helpers shared by the integer
 * kernels (dot-int.h, dot-multi.h).
 * Static inline: each SIMD level's file compiles them with its own instruction set. */

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

/* The fp16 scales at the head of four blocks block_bytes apart from blk (four blocks in a
 * row, or one block of four rows a row's bytes apart), as four floats.
 * Scalar loads and a 128-bit conversion: they run beside the vector work, where gathering
 * the words with a permute and converting a whole vector of them costs vector time. */
static inline __m128 simd_f16x4_heads(const uint8_t *blk, size_t block_bytes)
{
        uint16_t h0, h1, h2, h3;

        /* Spelled out: with a stride known only at run time (rows) GCC kept the loop, and its
         * four word stores then stalled the quadword load that read them back. */
        memcpy(&h0, blk, sizeof(h0));
        memcpy(&h1, blk + block_bytes, sizeof(h1));
        memcpy(&h2, blk + 2 * block_bytes, sizeof(h2));
        memcpy(&h3, blk + 3 * block_bytes, sizeof(h3));
        uint64_t v = h0 | (uint64_t)h1 << 16 | (uint64_t)h2 << 32 | (uint64_t)h3 << 48;
        return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)v));
}

/* The d and m (two fp16 at the head of each block) of four blocks block_bytes apart: d of
 * blocks 0-3 in the low four floats, m in the high four. */
static inline __m256 simd_f16x4x2_dm(const uint8_t *blk, size_t block_bytes)
{
        return _mm256_set_m128(simd_f16x4_heads(blk + 2, block_bytes), simd_f16x4_heads(blk, block_bytes));
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

/* u8 x s8 products of 32 elements, pairs summed, then pairs of pairs weighted by the 16-bit
 * scales in sc: exact int32. */
static inline __m256i simd_scaled_dot(__m256i q, const int8_t *qx, __m256i sc)
{
        return _mm256_madd_epi16(_mm256_maddubs_epi16(q, simd_load256(qx)), sc);
}

/* Q5_K's 64-element chunk j: its 32 bytes of nibbles v with the fifth bits from *h, the
 * super-block's qh advanced by j chunks. Bit k of each qh byte belongs to sub-block k: take bit
 * 0 for the low nibbles (sub-block 2j) and the next for the high ones, shifting one bit down
 * each time (16-bit shifts: bits that cross into the byte below stay above bit 0 for the 8
 * steps). */
static inline void simd_q5k_chunk(__m256i v, __m256i *h, __m256i *lo, __m256i *hi)
{
        const __m256i m4 = _mm256_set1_epi8(0xf), one = _mm256_set1_epi8(1);
        __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(*h, one), 4);

        *h = _mm256_srli_epi16(*h, 1);
        __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(*h, one), 4);
        *h = _mm256_srli_epi16(*h, 1);
        *lo = _mm256_or_si256(_mm256_and_si256(v, m4), h0);
        *hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), h1);
}

/* kern_unpack_k4() into registers: the 8 scales (u8) in the low 64 bits of *ret_sc, the mins
 * in *ret_m (4-byte stores read back by one 8-byte load would stall on store forwarding). */
static inline void simd_k4_unpack(const uint8_t q[12], __m128i *ret_sc, __m128i *ret_m)
{
        uint32_t a, b, c;

        memcpy(&a, q, 4);
        memcpy(&b, q + 4, 4);
        memcpy(&c, q + 8, 4);
        uint64_t sc = (a & 0x3f3f3f3fu) | (uint64_t)((c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u)) << 32;
        uint64_t m = (b & 0x3f3f3f3fu) | (uint64_t)(((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u))
                                                         << 32;
        *ret_sc = _mm_cvtsi64_si128((long long)sc);
        *ret_m = _mm_cvtsi64_si128((long long)m);
}
