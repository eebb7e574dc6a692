/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* Q4_K at the AVX-512 VNNI level: the single-row kernel (included by dot-int.h under VNNI512,
 * where IFN() is defined) and the helpers that the multi-row kernel (dot-multi.h, MULTI512)
 * builds each row's result from, in the same order, so that both give a row the same bits.
 *
 * A super-block's 32-byte chunk j holds sub-block 2j in its low nibbles and 2j + 1 in its high
 * ones, each met by 32 contiguous activations: on 256-bit vectors no byte crosses a lane, and
 * vpdpbusd gives each sub-block's exact int32 dot per 4 (|p| <= 4 * 15 * 127, an int16). The
 * two dots of a chunk are packed to int16 (exact) and multiplied by their 6-bit scales with
 * one vpmaddwd / vpdpwssd, whose word pairs never straddle two sub-blocks: 8 int32 lanes per
 * super-block, each at most 4 * 2 * 7620 * 63 < 2^24, so exact in f32. They are converted and
 * multiply-added into a float vector with d * dx broadcast, and the mins' products with the
 * activations' sums per 32 likewise into a second one: no horizontal sum and no scalar float
 * work per super-block. The 6-bit scales and mins and the fp16 d, dmin of two super-blocks
 * are unpacked together, one per 128-bit lane, with vector instructions.
 *
 * The float order is not the scalar twin's (one expression per super-block); the levels'
 * bound (1e-5 * sum |w x|) holds. One Zen 4 core, 64 rows of 2048 from L2: 19 GB/s for the
 * earlier 512-bit kernel (broadcast chunks, vpermd + vpdpwssd per chunk, a horizontal sum and
 * scalar float work per super-block), 25.6 with that work in vectors, 33.5 with this one
 * (256-bit vectors: no broadcast loads, half the pipe time per instruction; the same design
 * on 512-bit vectors with broadcast chunks gave 26.7). */

/* The raw first 16 bytes (d, dmin, 12 bytes of scales and mins) of b[0] and, where two, b[1],
 * one per 128-bit lane (zero where not two). */
static inline __m256i q4k_vnni_head2(const struct block_q4_K *b, bool two)
{
        __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)b);
        __m128i hi = two ? _mm_loadu_si128((const __m128i *)(const void *)(b + 1)) : _mm_setzero_si128();

        return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

/* kern_unpack_k4() per 128-bit lane of q4k_vnni_head2(): with the dwords [d dmin, a, b, c],
 * dword 0 becomes scales 4-7 = (c & 0x0f..) | ((a >> 2) & 0x30..), dword 1 scales 0-3 =
 * a & 0x3f.., dword 2 mins 0-3 = b & 0x3f.., dword 3 mins 4-7 = ((c >> 4) & 0x0f..) |
 * ((b >> 2) & 0x30..). */
static inline __m256i q4k_vnni_scales_mins(__m256i v)
{
        __m256i low = _mm256_and_si256(v, _mm256_set1_epi8(0x3f));
        __m256i u = _mm256_srlv_epi32(_mm256_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 3, 3)),
                        _mm256_setr_epi32(0, 4, 2, 2, 0, 4, 2, 2));
        u = _mm256_and_si256(u, _mm256_setr_epi32(0x0f0f0f0f, 0x0f0f0f0f, 0x30303030, 0x30303030, 0x0f0f0f0f,
                                                0x0f0f0f0f, 0x30303030, 0x30303030));
        __m256i high = _mm256_or_si256(u, _mm256_shuffle_epi32(u, _MM_SHUFFLE(1, 0, 3, 2)));
        return _mm256_blend_epi32(low, high, 0x99);
}

/* vpshufb control for the scales of chunk j (sub-blocks s = 2j and t = 2j + 1): word k of
 * packs_epi32(p_s, p_t) in each 128-bit lane comes from p_s (k < 4) or p_t, and takes its
 * sub-block's scale byte (at 4 + s for s < 4, s - 4 above, as q4k_vnni_scales_mins() leaves
 * them) in its low byte; 0x80 zeroes the high byte. */
static inline __m256i q4k_vnni_ctrl(int j)
{
        const unsigned s = 2 * j < 4 ? 4 + 2 * j : 2 * j - 4, t = s + 1;
        const int ws = (int)(0x80008000u | s | s << 16), wt = (int)(0x80008000u | t | t << 16);

        return _mm256_setr_epi32(ws, ws, wt, wt, ws, ws, wt, wt);
}

/* One super-block's weights, unpacked once for every activation row they meet: the nibbles
 * of sub-block k as u8 in q[k], the scales of chunk j as words in sc[j]. */
struct q4k_vnni_w {
        __m256i q[8];
        __m256i sc[4];
};

/* smb: q4k_vnni_scales_mins() of the block's lane, in both lanes. */
static inline __attribute__((always_inline)) void q4k_vnni_unpack(
                const struct block_q4_K *b, __m256i smb, struct q4k_vnni_w *ret)
{
        const __m256i m4 = _mm256_set1_epi8(0xf);

        /* Written out: -O2 does not unroll, and a loop would keep q[] and sc[] in memory. */
#define CHUNK(j)                                                                                   \
        do {                                                                                       \
                __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(b->qs + 32 * (j))); \
                ret->q[2 * (j)] = _mm256_and_si256(q, m4);                                         \
                ret->q[2 * (j) + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);               \
                ret->sc[j] = _mm256_shuffle_epi8(smb, q4k_vnni_ctrl(j));                           \
        } while (0)
        CHUNK(0);
        CHUNK(1);
        CHUNK(2);
        CHUNK(3);
#undef CHUNK
}

/* The scaled int32 dot of chunk j with its 64 activations, added to acc (first: acc unused). */
static inline __attribute__((always_inline)) __m256i q4k_vnni_chunk(
                const struct q4k_vnni_w *w, int j, const int8_t *qx, bool first, __m256i acc)
{
        const __m256i z = _mm256_setzero_si256();
        __m256i p0 = _mm256_dpbusd_epi32(
                        z, w->q[2 * j], _mm256_loadu_si256((const __m256i *)(const void *)qx));
        __m256i p1 = _mm256_dpbusd_epi32(
                        z, w->q[2 * j + 1], _mm256_loadu_si256((const __m256i *)(const void *)(qx + 32)));
        __m256i p = _mm256_packs_epi32(p0, p1);

        return first ? _mm256_madd_epi16(p, w->sc[j]) : _mm256_dpwssd_epi32(acc, p, w->sc[j]);
}

/* The super-block's scaled integer dot with its 256 activations, in 8 exact int32 lanes. */
static inline __attribute__((always_inline)) __m256i q4k_vnni_isum(
                const struct q4k_vnni_w *w, const int8_t *qx)
{
        __m256i s0 = q4k_vnni_chunk(w, 0, qx, true, _mm256_setzero_si256());
        __m256i s1 = q4k_vnni_chunk(w, 1, qx + 64, true, _mm256_setzero_si256());
        s0 = q4k_vnni_chunk(w, 2, qx + 128, false, s0);
        s1 = q4k_vnni_chunk(w, 3, qx + 192, false, s1);
        return _mm256_add_epi32(s0, s1);
}

/* Adds super-blocks i and (where two) i + 1 of one activation row: acc += isum * d * dx per
 * block, accm += the mins times the activations' sums per 32 (s32, from block i) times
 * dmin * dx. v: q4k_vnni_head2(), sm: q4k_vnni_scales_mins() of it, dx: x->d + i. Where not
 * two, ib is unused and the second lane of everything is zero. */
static inline __attribute__((always_inline)) void q4k_vnni_add(__m256i v, __m256i sm, __m256i ia, __m256i ib,
                const float *dx, const int16_t *s32, bool two, __m256 *acc, __m256 *accm)
{
        __m128 hd = _mm_cvtph_ps(
                        _mm_unpacklo_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
        __m128 x2 = two ? _mm_castpd_ps(_mm_load_sd((const double *)(const void *)dx)) : _mm_load_ss(dx);
        /* [d dx, dmin dx] of block i, then of block i + 1. */
        __m256 scale = _mm256_castps128_ps256(_mm_mul_ps(hd, _mm_unpacklo_ps(x2, x2)));
        __m256i s = two ? _mm256_loadu_si256((const __m256i *)(const void *)s32)
                        : _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)s32));
        if (!two)
                s = _mm256_inserti128_si256(s, _mm_setzero_si128(), 1);
        __m256i imin = _mm256_madd_epi16(_mm256_unpackhi_epi8(sm, _mm256_setzero_si256()), s);

        *acc = _mm256_fmadd_ps(
                        _mm256_cvtepi32_ps(ia), _mm256_permutexvar_ps(_mm256_set1_epi32(0), scale), *acc);
        if (two)
                *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ib),
                                _mm256_permutexvar_ps(_mm256_set1_epi32(2), scale), *acc);
        *accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(imin),
                        _mm256_permutexvar_ps(_mm256_setr_epi32(1, 1, 1, 1, 3, 3, 3, 3), scale), *accm);
}

static inline float q4k_vnni_result(__m256 acc, __m256 accm)
{
        return simd_hsum_f32(acc) - simd_hsum_f32(accm);
}

#ifdef IFN
/* Super-blocks i and (where two) i + 1 of the row b points into. */
static inline __attribute__((always_inline)) void IFN(q4k_step)(const struct block_q4_K *b,
                const struct kern_xq *x, size_t i, bool two, __m256 *acc, __m256 *accm)
{
        const int8_t *qx = x->qs + QK_K * i;
        __m256i v = q4k_vnni_head2(b, two);
        __m256i sm = q4k_vnni_scales_mins(v);
        struct q4k_vnni_w w;
        __m256i ia, ib = _mm256_setzero_si256();

        q4k_vnni_unpack(b, _mm256_permute2x128_si256(sm, sm, 0x00), &w);
        ia = q4k_vnni_isum(&w, qx);
        if (two) {
                q4k_vnni_unpack(b + 1, _mm256_permute2x128_si256(sm, sm, 0x11), &w);
                ib = q4k_vnni_isum(&w, qx + QK_K);
        }
        q4k_vnni_add(v, sm, ia, ib, x->d + i, x->s32 + QK_K / 32 * i, two, acc, accm);
}

static float IFN(qdot_q4_K)(const void *row, const struct kern_xq *x, size_t n)
{
        const struct block_q4_K *b = row;
        __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
        size_t nb = n / QK_K, i = 0;

        for (; i + 2 <= nb; i += 2) {
                kern_prefetch_ahead(b + i, 2 * sizeof(*b));
                IFN(q4k_step)(b + i, x, i, true, &acc, &accm);
        }
        if (i < nb)
                IFN(q4k_step)(b + i, x, i, false, &acc, &accm);
        return q4k_vnni_result(acc, accm);
}
#endif
