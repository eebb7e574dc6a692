/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Groups of four 32-element blocks in 512-bit vectors, at the AVX-512 VNNI level: block beta's
 * 32 quants in 128-bit lane beta, elements 0-15 as the low nibbles ("lo") and 16-31 as the high
 * ones ("hi"). The single-row kernels (dot-q4-q5-vnni.h) and the multi-row kernels
 * (dot-multi.h) unpack Q4_0, Q5_0, Q8_0, Q4_1 and Q5_1 groups with these, so both read the weights
 * alike. Every load stays inside the group: a row's last group never reads past the row. */

#include <immintrin.h>
#include <stdint.h>

#include "kernels-internal.h"

/* Four floats (one per block) each in the four lanes of its block's 128-bit lane. */
static inline __m512 g32v_spread4(__m128 f)
{
        const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);

        return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(f));
}

/* The high nibble of each byte, in its low bits. With GFNI (KERN_ICL) one affine bit transform
 * does what a shift and a mask do: row i of its matrix (byte 7 - i) picks bit 4 + i for bit i
 * < 4, and bits 4-7 get nothing. The decode kernels are bound by their vector instructions:
 * kernel-bench -r 910 -c 1152 -m 1 -t 1 -l avx512-vnni -x q8 from L2, medians of 8 alternated
 * runs: Q4_0 29.1 against 28.4 GB/s, Q5_0 22.9 against 22.3, Q4_1 26.4 against 25.8. */
static inline __m512i g32v_high_nibbles(__m512i q)
{
#ifdef KERN_ICL
        return _mm512_gf2p8affine_epi64_epi8(q, _mm512_set1_epi64(0x1020408000000000ll), 0);
#else
        return _mm512_and_si512(_mm512_srli_epi16(q, 4), _mm512_set1_epi8(0xf));
#endif
}

/* Q4_0 (18-byte blocks, 72 bytes a group): block beta's scale is word 9 beta of *head (a load at
 * the group; see g32v_q4_0_scales_4rows()), its nibbles bytes 18 beta + 2 .. + 17. Those of
 * blocks 0 and 2 are dwords 0-3 and 9-12 of a load 2 bytes on, those of blocks 1 and 3 dwords
 * 3-6 and 12-15 of one 8 bytes on: one two-source dword permute gathers them, cheaper on Intel's
 * cores than the word permute it replaced (see g32v_q5_0_nibbles()). */
static inline void g32v_q4_0_nibbles(const uint8_t *blk, __m512i *lo, __m512i *hi, __m512i *head)
{
        const __m512i idx = _mm512_setr_epi32(0, 1, 2, 3, 19, 20, 21, 22, 9, 10, 11, 12, 28, 29, 30, 31);
        *head = _mm512_loadu_si512(blk);
        __m512i q = _mm512_permutex2var_epi32(_mm512_loadu_si512(blk + 2), idx, _mm512_loadu_si512(blk + 8));

        *lo = _mm512_and_si512(q, _mm512_set1_epi8(0xf));
        *hi = g32v_high_nibbles(q);
}

/* The scales of four rows' groups, as floats in the transposed order (lane 4 beta + r is row
 * r's of block beta), from the rows' heads (h0..h3: row r's scale of block beta is a word of
 * h_r). i01 and i23 are the word permutes that put rows 0, 1 and rows 2, 3 in place; a blend
 * joins them. Two permutes, where gathering the 16 words with scalar loads took 40
 * instructions. */
static inline __attribute__((always_inline)) __m512 g32v_scales_4rows(__m512i h0, __m512i h1, __m512i h2,
                __m512i h3, const uint16_t i01[32], const uint16_t i23[32])
{
        __m256i p01 = _mm512_castsi512_si256(_mm512_permutex2var_epi16(h0, _mm512_loadu_si512(i01), h1));
        __m256i p23 = _mm512_castsi512_si256(_mm512_permutex2var_epi16(h2, _mm512_loadu_si512(i23), h3));

        return _mm512_cvtph_ps(_mm256_mask_blend_epi16(0xcccc, p01, p23));
}

/* Q4_0's: word 9 beta of its head (see g32v_q4_0_nibbles()). */
static inline __m512 g32v_q4_0_scales_4rows(__m512i h0, __m512i h1, __m512i h2, __m512i h3)
{
        static const uint16_t i01[32] = { 0, 32, 0, 0, 9, 41, 0, 0, 18, 50, 0, 0, 27, 59 };
        static const uint16_t i23[32] = { 0, 0, 0, 32, 0, 0, 9, 41, 0, 0, 18, 50, 0, 0, 27, 59 };

        return g32v_scales_4rows(h0, h1, h2, h3, i01, i23);
}

/* The fifth bits of a Q5 group: qh's low words (bit e: element e) in the low 64 bits of qh, its
 * high words (element 16 + e) in the high 64 bits, block beta's at bits 16 beta. Bit 4 of a
 * nibble is clear: adding 16 where qh says so is or-ing it in. */
static inline void g32v_add_fifth_bits(__m128i qh, __m512i *lo, __m512i *hi)
{
        *lo = _mm512_mask_add_epi8(*lo, (__mmask64)_mm_cvtsi128_si64(qh), *lo, _mm512_set1_epi8(0x10));
        *hi = _mm512_mask_add_epi8(*hi, (__mmask64)_mm_extract_epi64(qh, 1), *hi, _mm512_set1_epi8(0x10));
}

/* Q5_0 (22-byte blocks, 88 bytes a group): block beta's scale is bytes 22 beta + 0, 1, its qh
 * (bit e: element e) bytes 22 beta + 2 .. + 5 and its nibbles bytes 22 beta + 6 .. + 21. From a
 * load 2 bytes on (a) and one 24 bytes on (b), every nibble and qh dword is dword-aligned: one
 * two-source dword permute gathers the nibbles (blocks 0 and 2 from a, 1 and 3 from b), and one
 * puts block beta's qh in dwords 0 and 2 of lane beta, its scale in dwords 1 and 3 (*heads:
 * words 2, 10, 18 and 27, see g32v_q5_0_scales_4rows()). Block 0's scale lies before a: a
 * masked dword broadcast from the group's start puts it in. The masks of the fifth bits then
 * take bit e of the qh for byte e of lane beta (elements 0-15, lo) or bit 16 + e (hi), and lo
 * and hi get them added (0..31, unsigned). With BITALG (KERN_ICL) one vpshufbitqmb per mask
 * picks those bits from the low dword of each qword; without, a byte shuffle gives each byte
 * the qh byte holding its bit (of dword 0) and a test against that bit makes the mask. (Moves
 * through general registers into mask registers cost more on Zen 4.) vpshufbitqmb made the
 * kernel 10 % faster on Zen 4: kernel-bench -r 910 -c 1152 -m 1 -t 1 -x q8 Q5_0 from L2, 26.3
 * against 23.9 GB/s (medians of 8 alternated runs), and 4 rows of x in the multi-row kernel
 * 7 %.
 *
 * The dword permutes replaced word permutes here and in g32v_q4_0_nibbles(). Timed in loops of
 * independent instructions on the Emerald Rapids class host, a 512-bit vpermt2w takes two
 * cycles of port 5 and vpermw one cycle of each vector port, where vpermt2d takes one of port 5
 * only; the kernels are bound by those two ports, even from L1. kernel-bench -r 910 -c 1152 -m
 * 1 -t 1 -x q8 -p 0 from L2, medians of 8 alternated runs: Q5_0 19.8 against 17.9 GB/s, Q4_0
 * 25.0 against 23.7; with four rows of x (-b 4), Q5_0 0.061 against 0.065 ms a call. */
static inline void g32v_q5_0_nibbles(const uint8_t *blk, __m512i *lo, __m512i *hi, __m512i *heads)
{
        const __m512i qs_idx = _mm512_setr_epi32(1, 2, 3, 4, 17, 18, 19, 20, 12, 13, 14, 15, 28, 29, 30, 31);
        const __m512i qh_idx = _mm512_setr_epi32(0, 0, 0, 0, 16, 5, 16, 5, 11, 21, 11, 21, 27, 26, 27, 26);
        __m512i a = _mm512_loadu_si512(blk + 2), b = _mm512_loadu_si512(blk + 24);
        __m512i q = _mm512_permutex2var_epi32(a, qs_idx, b);
        __m512i qh = _mm512_permutex2var_epi32(a, qh_idx, b);
        qh = _mm512_mask_broadcastd_epi32(qh, 0x0002, _mm_loadu_si32(blk));
#ifdef KERN_ICL
        /* Byte e of a lane: bit e of its qword (the qh in its low dword), or bit 16 + e. */
        const __m512i lo_bit = _mm512_broadcast_i32x4(
                        _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
        const __m512i hi_bit = _mm512_add_epi8(lo_bit, _mm512_set1_epi8(16));
        __mmask64 m_lo = _mm512_bitshuffle_epi64_mask(qh, lo_bit);
        __mmask64 m_hi = _mm512_bitshuffle_epi64_mask(qh, hi_bit);
#else
        /* Byte e of a lane: qh byte e / 8 (elements 0-15) or 2 + e / 8 (16-31), bit e % 8. */
        const __m512i lo_byte = _mm512_broadcast_i32x4(
                        _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
        const __m512i hi_byte = _mm512_broadcast_i32x4(
                        _mm_setr_epi8(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        const __m512i bit = _mm512_set1_epi64((long long)0x8040201008040201ull);
        __mmask64 m_lo = _mm512_test_epi8_mask(_mm512_shuffle_epi8(qh, lo_byte), bit);
        __mmask64 m_hi = _mm512_test_epi8_mask(_mm512_shuffle_epi8(qh, hi_byte), bit);
#endif

        *lo = _mm512_and_si512(q, _mm512_set1_epi8(0xf));
        *hi = g32v_high_nibbles(q);
        *lo = _mm512_mask_add_epi8(*lo, m_lo, *lo, _mm512_set1_epi8(0x10));
        *hi = _mm512_mask_add_epi8(*hi, m_hi, *hi, _mm512_set1_epi8(0x10));
        *heads = qh;
}

/* Q5_0's: block beta's scale is word 2, 10, 18 or 27 of its head (see g32v_q5_0_nibbles()). */
static inline __m512 g32v_q5_0_scales_4rows(__m512i h0, __m512i h1, __m512i h2, __m512i h3)
{
        static const uint16_t i01[32] = { 2, 34, 0, 0, 10, 42, 0, 0, 18, 50, 0, 0, 27, 59 };
        static const uint16_t i23[32] = { 0, 0, 2, 34, 0, 0, 10, 42, 0, 0, 18, 50, 0, 0, 27, 59 };

        return g32v_scales_4rows(h0, h1, h2, h3, i01, i23);
}

/* Q8_0 (34-byte blocks, 136 bytes a group): block beta's 32 quants are bytes 34 beta + 2 .. + 33,
 * loaded as they lie (bytes 0-15 to lane beta of lo, 16-31 to lane beta of hi) and made
 * unsigned (w + 128, by flipping the sign bit), so that the products start from 128 times the
 * offsets of x (minus its sums per four) where Q4_0's start from 8 times them. vpdpbusd sums
 * in int32, so 255 * 127 products cannot saturate. */
static inline void g32v_q8_0_bytes(const uint8_t *blk, __m512i *lo, __m512i *hi)
{
        const size_t bb = sizeof(struct block_q8_0);
        __m512i a = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const void *)(blk + 2))),
                        _mm256_loadu_si256((const void *)(blk + bb + 2)), 1);
        __m512i b = _mm512_inserti64x4(
                        _mm512_castsi256_si512(_mm256_loadu_si256((const void *)(blk + 2 * bb + 2))),
                        _mm256_loadu_si256((const void *)(blk + 3 * bb + 2)), 1);

        *lo = _mm512_xor_si512(_mm512_shuffle_i64x2(a, b, 0x88), _mm512_set1_epi8((char)0x80));
        *hi = _mm512_xor_si512(_mm512_shuffle_i64x2(a, b, 0xdd), _mm512_set1_epi8((char)0x80));
}

/* Q4_1 (20-byte blocks, 80 bytes a group): block beta's nibbles are dwords 5 beta + 1 .. 5 beta
 * + 4, taken from a load at the group and one 16 bytes on (dwords 4-19, indices 16-31); its d
 * and m (words 10 beta, 10 beta + 1) go to words 0-3 and 4-7 of *dm, by one permute of the
 * first load. */
static inline void g32v_q4_1_nibbles(const uint8_t *blk, __m512i *lo, __m512i *hi, __m128i *dm)
{
        const __m512i qs_idx = _mm512_setr_epi32(1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14, 28, 29, 30, 31);
        const __m512i dm_idx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                        0, 0, 0, 0, 31, 21, 11, 1, 30, 20, 10, 0);
        __m512i a = _mm512_loadu_si512(blk);
        __m512i q = _mm512_permutex2var_epi32(a, qs_idx, _mm512_loadu_si512(blk + 16));

        *lo = _mm512_and_si512(q, _mm512_set1_epi8(0xf));
        *hi = g32v_high_nibbles(q);
        *dm = _mm512_castsi512_si128(_mm512_permutexvar_epi16(dm_idx, a));
}

/* Q5_1 (24-byte blocks, 96 bytes a group), from a load at the group (words 0-31) and one 32
 * bytes on (words 16-47, indices 32-63): block beta's nibbles are dwords 6 beta + 2 .. 6 beta +
 * 5; its d, m and the low and high words of its qh (words 12 beta .. 12 beta + 3) go to words
 * beta, 4 + beta, 8 + beta and 12 + beta of one permute, whose low 128 bits are *dm. */
static inline void g32v_q5_1_nibbles(const uint8_t *blk, __m512i *lo, __m512i *hi, __m128i *dm)
{
        const __m512i qs_idx = _mm512_setr_epi32(2, 3, 4, 5, 8, 9, 10, 11, 14, 15, 24, 25, 28, 29, 30, 31);
        const __m512i sc_idx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 55, 43, 15,
                        3, 54, 42, 14, 2, 53, 41, 13, 1, 52, 40, 12, 0);
        __m512i a = _mm512_loadu_si512(blk), b = _mm512_loadu_si512(blk + 32);
        __m512i p = _mm512_permutex2var_epi16(a, sc_idx, b);
        __m512i q = _mm512_permutex2var_epi32(a, qs_idx, b);

        *lo = _mm512_and_si512(q, _mm512_set1_epi8(0xf));
        *hi = g32v_high_nibbles(q);
        g32v_add_fifth_bits(_mm512_extracti32x4_epi32(p, 1), lo, hi);
        *dm = _mm512_castsi512_si128(p);
}
