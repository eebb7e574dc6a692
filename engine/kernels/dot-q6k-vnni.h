/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Q6_K on 512-bit vectors at the AVX-512 VNNI levels: the helpers that the single-row kernel
 * (dot-int.h, VNNI512) and the multi-row kernel (dot-multi.h, MULTI512) build each row's result
 * from, in the same order, so that both give a row the same bits. They run where Q4_K's do
 * (kern_k_wide()); elsewhere the 256-bit kernels of dot-int.h and dot-multi.h.
 *
 * A super-block's two halves of 128 elements each keep their low four bits in 64 bytes of ql
 * (elements 0-63 in the low nibbles, 64-127 in the high ones) and their two high bits in 32
 * bytes of qh (bits 0-1 for elements 0-31, 2-3 for 32-63, 4-5 for 64-95, 6-7 for 96-127). So a
 * half's ql is one 512-bit load, its qh one broadcast to both 256-bit halves of a vector, and
 * one bit transform per qword (GFNI; else a shift per qword and a mask) moves the right two
 * bits of every qh byte to bits 4-5: two vectors of u8 q, elements 0-63 and 64-127, with no
 * byte moved across the vector.
 *
 * vpdpbusd then gives 16 int32 dots per four elements, starting from minus 32 times the
 * activations' sums per four (the -32 offset of q), so each is exact and at most 4 * 32 * 127
 * in size: an int16. 128-bit lane L of a 64-element vector is sub-block L of its 16 elements
 * (4 + L for elements 64-127), so packing the two vectors of a half to int16 (lane by lane)
 * puts sub-blocks L and 4 + L of the half in lane L, and one vpmaddwd / vpdpwssd with the
 * int8 scales as words multiplies each pair of words by their own sub-block's scale: 16 int32
 * lanes per super-block, each at most 2 * 2 * 16256 * 128 < 2^24, so exact in f32. They are
 * converted and multiply-added into a float vector with d * dx broadcast: no horizontal sum
 * and no scalar float work per super-block.
 *
 * On the Emerald Rapids class host, rows of 2048 from L1, cycles a super-block against the
 * 256-bit kernels: 1 row of x 18.5 against 27, 4 rows 39 against 65, 8 rows 69 against 108.
 * kernel-bench -x q8 -t 2 -b 1,4,8 Q6_K (8192 x 2048 from DRAM): one row 0.50-0.52 against
 * 0.55-0.58 ms, four 0.68 against 0.88-0.93, eight 0.95 against 1.49-1.52. */

#ifdef KERN_ICL
/* Rows of the affine bit transforms (byte 7 - i gives output bit i): qh bits 0-1, 2-3, 4-5 or
 * 6-7 to bits 4-5, the other bits cleared. */
#define Q6KW_BITS_01 0x0000000001020000ll
#define Q6KW_BITS_23 0x0000000004080000ll
#define Q6KW_BITS_45 0x0000000010200000ll
#define Q6KW_BITS_67 0x0000000040800000ll
#endif

/* The high two bits of elements 0-63 (lo) and 64-127 (hi) of a half as bits 4-5 of each byte;
 * qh: its 32 bytes in both 256-bit halves. */
static inline __attribute__((always_inline)) void q6kw_high_bits(__m512i qh, __m512i *lo, __m512i *hi)
{
#ifdef KERN_ICL
        const __m512i mlo = _mm512_setr_epi64(Q6KW_BITS_01, Q6KW_BITS_01, Q6KW_BITS_01, Q6KW_BITS_01,
                        Q6KW_BITS_23, Q6KW_BITS_23, Q6KW_BITS_23, Q6KW_BITS_23);
        const __m512i mhi = _mm512_setr_epi64(Q6KW_BITS_45, Q6KW_BITS_45, Q6KW_BITS_45, Q6KW_BITS_45,
                        Q6KW_BITS_67, Q6KW_BITS_67, Q6KW_BITS_67, Q6KW_BITS_67);

        *lo = _mm512_gf2p8affine_epi64_epi8(qh, mlo, 0);
        *hi = _mm512_gf2p8affine_epi64_epi8(qh, mhi, 0);
#else
        const __m512i m2 = _mm512_set1_epi8(0x30);

        *lo = _mm512_and_si512(_mm512_sllv_epi64(qh, _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2)), m2);
        *hi = _mm512_and_si512(_mm512_srlv_epi64(qh, _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2)), m2);
#endif
}

/* One super-block's weights, unpacked once for every activation row they meet: elements 64 j
 * .. 64 j + 63 as u8 in q[j]; in sc[h], for half h, lane L's words 0-3 the scale of sub-block
 * 8 h + L and words 4-7 that of 8 h + 4 + L. */
struct q6kw_w {
        __m512i q[4];
        __m512i sc[2];
};

static inline __attribute__((always_inline)) void q6kw_unpack(const struct block_q6_K *b, struct q6kw_w *ret)
{
        const __m512i m4 = _mm512_set1_epi8(0xf);
#define W(s) ((s) | (s) << 16)
        /* Word k of lane L: scale L (k < 4) or 4 + L. */
        const __m512i idx0 = _mm512_setr_epi32(W(0), W(0), W(4), W(4), W(1), W(1), W(5), W(5), W(2), W(2),
                        W(6), W(6), W(3), W(3), W(7), W(7));
#undef W
        __m512i sc = _mm512_castsi256_si512(
                        _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)b->scales)));

        /* Unrolled: a loop would keep q[] in memory. */
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
                __m512i ql = _mm512_loadu_si512((const void *)(b->ql + 64 * h));
                __m512i qh = _mm512_broadcast_i64x4(
                                _mm256_loadu_si256((const __m256i *)(const void *)(b->qh + 32 * h)));
                __m512i lo, hi;

                q6kw_high_bits(qh, &lo, &hi);
                ret->q[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, m4), lo);
                ret->q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), hi);
        }
        ret->sc[0] = _mm512_permutexvar_epi16(idx0, sc);
        ret->sc[1] = _mm512_permutexvar_epi16(_mm512_add_epi16(idx0, _mm512_set1_epi16(8)), sc);
}

/* The super-block's scaled integer dot with its 256 activations qx (off: minus 32 times their
 * sums per four, kern_xq's nl4_q6k), the -32 offset included, in 16 exact int32 lanes. The
 * offsets come ready from x: shifting nl4 here, four times a row and super-block, took a fifth
 * of the multi-row kernel's time on the Emerald Rapids class host (rows of 2048 from L1, 4 rows
 * of x: 48 against 39 cycles a super-block). */
static inline __attribute__((always_inline)) __m512i q6kw_isum(
                const struct q6kw_w *w, const int8_t *qx, const int32_t *off)
{
        __m512i p[4];

#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
                p[j] = _mm512_dpbusd_epi32(_mm512_loadu_si512((const void *)(off + 16 * j)), w->q[j],
                                _mm512_loadu_si512((const void *)(qx + 64 * j)));
        __m512i s = _mm512_madd_epi16(_mm512_packs_epi32(p[0], p[1]), w->sc[0]);
        return _mm512_dpwssd_epi32(s, _mm512_packs_epi32(p[2], p[3]), w->sc[1]);
}

/* acc += isum * (d * dx): d the super-block's scale, dx its activations'. */
static inline __attribute__((always_inline)) __m512 q6kw_add(
                __m512i isum, __m512 d, const float *dx, __m512 acc)
{
        return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(d, _mm512_set1_ps(*dx)), acc);
}
