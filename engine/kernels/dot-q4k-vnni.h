/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Part of dot-int.h, included there at the AVX-512 VNNI level only (VNNI512): the Q4_K
 * single-row kernel. Uses dot-int.h's IFN(), k4_unpack() and k4_mins(). */

/* Q4_K with AVX-512 VNNI: one 64-element chunk (sub-blocks 2j and 2j + 1) per vector, its
 * exact int32 dot per 4 by vpdpbusd (at most 4 * 15 * 127, an int16 in each lane), times the
 * sub-block's 6-bit scale by vpdpwssd, whose second word per lane is zero: no int16 pair sums
 * and no byte shuffles of the scales. The block's integer sum and its float scaling are the
 * scalar twin's, so the result is the scalar one bit for bit (as the multi-row kernel's).
 * One Zen 4 core, 8192 x 2048 from DRAM: 13.3 GB/s with maddubs + madd, 18.4 with this;
 * two vpdpwssd chains, as one chain of four was latency-bound (17.5 against 23.2 GB/s from
 * cache, when the float scaling was per lane). */

/* Lanes 0-7 select scale 2j, lanes 8-15 scale 2j + 1. */
static inline __m512i IFN(k4_idx)(int j)
{
        return _mm512_add_epi32(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                        _mm512_set1_epi32(2 * j));
}

static float IFN(qdot_q4_K)(const void *row, const struct kern_xq *x, size_t n)
{
        const struct block_q4_K *b = row;
        const __m512i m4 = _mm512_set1_epi8(0xf);
        float sum = 0.0f;

        for (size_t i = 0; i < n / QK_K; i++, b++) {
                const int8_t *qx = x->qs + QK_K * i;
                __m128i sc, m;

                IFN(k4_unpack)(b->scales, &sc, &m);
                __m512i sc32 = _mm512_cvtepu8_epi32(sc);
                __m512i isum0 = _mm512_setzero_si512(), isum1 = _mm512_setzero_si512();
                for (int j = 0; j < QK_K / 64; j += 2) {
                        /* The 32 bytes in both halves; the high half shifted to its high nibbles. */
                        __m512i q0 = _mm512_broadcast_i64x4(simd_load256(b->qs + 32 * j));
                        __m512i q1 = _mm512_broadcast_i64x4(simd_load256(b->qs + 32 * j + 32));
                        __m512i v0 = _mm512_and_si512(_mm512_mask_srli_epi16(q0, 0xffff0000u, q0, 4), m4);
                        __m512i v1 = _mm512_and_si512(_mm512_mask_srli_epi16(q1, 0xffff0000u, q1, 4), m4);
                        __m512i p0 = _mm512_dpbusd_epi32(
                                        _mm512_setzero_si512(), v0, _mm512_loadu_si512(qx + 64 * j));
                        __m512i p1 = _mm512_dpbusd_epi32(
                                        _mm512_setzero_si512(), v1, _mm512_loadu_si512(qx + 64 * j + 64));
                        isum0 = _mm512_dpwssd_epi32(
                                        isum0, p0, _mm512_permutexvar_epi32(IFN(k4_idx)(j), sc32));
                        isum1 = _mm512_dpwssd_epi32(
                                        isum1, p1, _mm512_permutexvar_epi32(IFN(k4_idx)(j + 1), sc32));
                }
                int32_t isum = _mm512_reduce_add_epi32(_mm512_add_epi32(isum0, isum1));
                int32_t imin = IFN(k4_mins)(m, x->s32 + QK_K / 32 * i);
                float dx = x->d[i];
                sum += F16(b->d) * dx * (float)isum - F16(b->dmin) * dx * (float)imin;
        }
        return sum;
}
