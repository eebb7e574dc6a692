/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* The 256-bit kernels below run at the AVX-512 VNNI levels (EVEX forms) and at the AVX2 level
 * with AVX-VNNI (KERN_AVX_VNNI, VEX forms); the 512-bit ones only where AVX-512 is. */
#ifdef __AVX512VL__
#define K4_DPBUSD256(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
#define K4_DPWSSD256(acc, a, b) _mm256_dpwssd_epi32(acc, a, b)
#else
#define K4_DPBUSD256(acc, u, s) _mm256_dpbusd_avx_epi32(acc, u, s)
#define K4_DPWSSD256(acc, a, b) _mm256_dpwssd_avx_epi32(acc, a, b)
#endif

/* Q4_K (and Q5_K) at the AVX-512 VNNI levels and at the AVX2 level with AVX-VNNI: the
 * single-row kernel (included by dot-int.h, where IFN() is defined) and the helpers that the
 * multi-row kernel (dot-multi.h) builds each row's result from, in the same order, so that both
 * give a row the same bits.
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
 * on 512-bit vectors with broadcast chunks gave 26.7).
 *
 * Intel's cores run a 512-bit instruction in one go on two ports, where a 256-bit one takes
 * one of three: there the same work on 512-bit vectors (q4kw_*, below) halves the instructions
 * that the multi-row kernel repeats for every row of x. On the Emerald Rapids class host, rows
 * of 2048 from L1, cycles a super-block (a program outside the tree over
 * kern_qdot_multi_avx512_icl[Q4_K]): 4 rows of x 42.8-43.5 against 47.1-47.5, 8 rows 77.4-79.6
 * against 85.6-86.0, one row 18.3 against 17.7; aid-infer bench -s 4 on Llama-3.2-1B Q4_K,
 * three alternated runs: 84.3-93.8 against 74.5-85.7 tok/s. aid_kernels_set_k_wide() picks
 * the width (aid_kernels_default_k_wide(): Intel's CPUs); the single-row and multi-row
 * kernels read it alike, so a row's bits never depend on which of them ran.
 *
 * Q5_K takes both paths too, its fifth bits or-ed into the nibbles (q5k_vnni_unpack(),
 * q5kw_unpack()), where it had only the generic 256-bit kernel of dot-int.h (vpmaddubsw, a
 * horizontal sum and scalar float work per super-block). Same host, kernel-bench -x q8 -c 2048
 * -l avx512-icl Q5_K, the generic kernel against these at 256 and 512 bits (-w): from L2 (-r
 * 910 -m 1 -t 1) 12.2 against 18.3 and 22.4 GB/s; from DRAM on two threads 0.55-0.57 against
 * 0.48 and 0.42-0.44 ms a matrix, four rows of x 1.06-1.10 against 0.69 and 0.61-0.62.
 * aid-infer bench -p 0 -n 96 -s 4 on Llama-3.2-1B Q5_K_M (512 bits), three alternated runs:
 * 24.7-25.4 against 29.0-29.1 tok/s, four sequences 54.3-55.3 against 78.2-79.3. */

/* The raw first 16 bytes (d, dmin, 12 bytes of scales and mins) of the super-block at b and,
 * where two, of the next one (bb bytes on), one per 128-bit lane (zero where not two). Q4_K and
 * Q5_K begin alike. */
static inline __m256i q4k_vnni_head2(const void *b, size_t bb, bool two)
{
        __m128i lo = _mm_loadu_si128((const __m128i *)b);
        __m128i hi = two ? _mm_loadu_si128((const __m128i *)(const void *)((const uint8_t *)b + bb))
                         : _mm_setzero_si128();

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

/* qs: the super-block's 128 bytes of nibbles; smb: q4k_vnni_scales_mins() of the block's
 * lane, in both lanes. */
static inline __attribute__((always_inline)) void q4k_vnni_unpack(
                const uint8_t *qs, __m256i smb, struct q4k_vnni_w *ret)
{
        const __m256i m4 = _mm256_set1_epi8(0xf);

        /* Written out: -O2 does not unroll, and a loop would keep q[] and sc[] in memory. */
#define CHUNK(j)                                                                                \
        do {                                                                                    \
                __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(qs + 32 * (j))); \
                ret->q[2 * (j)] = _mm256_and_si256(q, m4);                                      \
                ret->q[2 * (j) + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);            \
                ret->sc[j] = _mm256_shuffle_epi8(smb, q4k_vnni_ctrl(j));                        \
        } while (0)
        CHUNK(0);
        CHUNK(1);
        CHUNK(2);
        CHUNK(3);
#undef CHUNK
}

/* Q5_K: its fifth bits (bit 2j of qh[l] for element l of sub-block 2j, 2j + 1 for sub-block
 * 2j + 1) or-ed into bit 4 of the nibbles. The quants are then 0..31: a dot per 4 is at most
 * 4 * 31 * 127 (an int16), a lane at most 4 * 2 * 15748 * 63 < 2^24, still exact in f32. */
static inline __attribute__((always_inline)) void q5k_vnni_unpack(
                const struct block_q5_K *b, __m256i smb, struct q4k_vnni_w *ret)
{
        __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)b->qh);

        q4k_vnni_unpack(b->qs, smb, ret);
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
                __m256i lo, hi;
                simd_q5k_chunk(_mm256_setzero_si256(), &h, &lo, &hi);
                ret->q[2 * j] = _mm256_or_si256(ret->q[2 * j], lo);
                ret->q[2 * j + 1] = _mm256_or_si256(ret->q[2 * j + 1], hi);
        }
}

/* The scaled int32 dot of chunk j with its 64 activations, added to acc (first: acc unused). */
static inline __attribute__((always_inline)) __m256i q4k_vnni_chunk(
                const struct q4k_vnni_w *w, int j, const int8_t *qx, bool first, __m256i acc)
{
        const __m256i z = _mm256_setzero_si256();
        __m256i p0 = K4_DPBUSD256(z, w->q[2 * j], _mm256_loadu_si256((const __m256i *)(const void *)qx));
        __m256i p1 = K4_DPBUSD256(
                        z, w->q[2 * j + 1], _mm256_loadu_si256((const __m256i *)(const void *)(qx + 32)));
        __m256i p = _mm256_packs_epi32(p0, p1);

        return first ? _mm256_madd_epi16(p, w->sc[j]) : K4_DPWSSD256(acc, p, w->sc[j]);
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
                        _mm256_cvtepi32_ps(ia), _mm256_permutevar8x32_ps(scale, _mm256_set1_epi32(0)), *acc);
        if (two)
                *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ib),
                                _mm256_permutevar8x32_ps(scale, _mm256_set1_epi32(2)), *acc);
        *accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(imin),
                        _mm256_permutevar8x32_ps(scale, _mm256_setr_epi32(1, 1, 1, 1, 3, 3, 3, 3)), *accm);
}

static inline float q4k_vnni_result(__m256 acc, __m256 accm)
{
        return simd_hsum_f32(acc) - simd_hsum_f32(accm);
}

#ifdef __AVX512F__
/* A super-block's 128 bytes of nibbles are four 32-byte chunks: chunk j holds sub-block 2j in
 * its low nibbles and 2j + 1 in its high ones, met by activations 64 j .. 64 j + 63. A chunk
 * goes to both halves of a 512-bit vector with a plain broadcast load, and one bit transform
 * (GFNI, KERN_ICL; else a shift per qword and a mask) keeps the low nibbles in the low half and
 * the high ones in the high half: sub-blocks 2j and 2j + 1 side by side, against 64 contiguous
 * activations. Each vpdpbusd then gives 16 exact int32 dots per 4; two chunks' are packed to
 * int16 (exact), 128-bit lane by lane, and multiplied by their 6-bit scales with one vpmaddwd
 * / vpdpwssd, whose word pairs never straddle two sub-blocks: 16 int32 lanes per super-block,
 * each at most 2 * 2 * 7620 * 63 < 2^24, so exact in f32. */
#ifdef KERN_ICL
/* Rows of the affine bit transforms (byte 7 - i gives bit i): bits 0-3 of each byte, or 4-7
 * moved to 0-3, the other bits cleared. */
#define Q4KW_LOW_NIBBLE  0x0102040800000000ll
#define Q4KW_HIGH_NIBBLE 0x1020408000000000ll
#endif

static inline __m512i q4kw_chunk_pair(const uint8_t *chunk)
{
        __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)chunk));
#ifdef KERN_ICL
        const __m512i m = _mm512_setr_epi64(Q4KW_LOW_NIBBLE, Q4KW_LOW_NIBBLE, Q4KW_LOW_NIBBLE,
                        Q4KW_LOW_NIBBLE, Q4KW_HIGH_NIBBLE, Q4KW_HIGH_NIBBLE, Q4KW_HIGH_NIBBLE,
                        Q4KW_HIGH_NIBBLE);
        return _mm512_gf2p8affine_epi64_epi8(v, m, 0);
#else
        const __m512i shift = _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4);
        return _mm512_and_si512(_mm512_srlv_epi64(v, shift), _mm512_set1_epi8(0xf));
#endif
}

/* vpshufb control for the scales of chunks j and j + 1 (j 0 or 2) in packs_epi32(p_j, p_j+1):
 * in 128-bit lane L, words 0-3 come from p_j and take the scale of sub-block 2j (L < 2) or 2j
 * + 1, words 4-7 from p_j+1 and that of 2j + 2 or 2j + 3. Scale s is byte 4 + s for s < 4 and s
 * - 4 above, as q4k_vnni_scales_mins() leaves them, in the low byte; 0x80 zeroes the high one. */
static inline __m512i q4kw_ctrl(int j)
{
        const unsigned s = j == 0 ? 4 : 0;
#define W(byte) ((int)(0x80008000u | (byte) | (byte) << 16))
        const int a = W(s), b = W(s + 2), c = W(s + 1), d = W(s + 3);
#undef W

        return _mm512_setr_epi32(a, a, b, b, a, a, b, b, c, c, d, d, c, c, d, d);
}

/* One super-block's weights, unpacked once for every activation row they meet: chunk j's two
 * sub-blocks in q[j] (q4kw_chunk_pair()), the scales of chunks 0, 1 and 2, 3 as words in
 * sc[0] and sc[1]. */
struct q4kw_w {
        __m512i q[4];
        __m512i sc[2];
};

/* qs: the super-block's 128 bytes of nibbles; sm: q4k_vnni_scales_mins() of two super-blocks;
 * lane: which of them (0 or 1) it is. */
static inline __attribute__((always_inline)) void q4kw_unpack(
                const uint8_t *qs, __m256i sm, int lane, struct q4kw_w *ret)
{
        __m512i s = _mm512_castsi256_si512(sm);
        /* Two calls: clang wants the immediate constant before inlining. */
        __m512i smb = lane ? _mm512_shuffle_i32x4(s, s, 0x55) : _mm512_shuffle_i32x4(s, s, 0x00);

        /* Unrolled, here and in q4kw_isum(): a loop would keep q[] in memory. */
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
                ret->q[j] = q4kw_chunk_pair(qs + 32 * j);
        ret->sc[0] = _mm512_shuffle_epi8(smb, q4kw_ctrl(0));
        ret->sc[1] = _mm512_shuffle_epi8(smb, q4kw_ctrl(2));
}

/* Q5_K on the same path: its fifth bits (bit 2j of qh[l] for element l of sub-block 2j, bit
 * 2j + 1 for sub-block 2j + 1) go to bit 4 of chunk j's bytes. qh is broadcast to both halves
 * once; per chunk one bit transform (GFNI, KERN_ICL) or a byte test picks the chunk's bit of
 * the low half and the next bit of the high half, and an or or a masked add puts it in. The
 * quants are then 0..31: a dot per 4 is at most 4 * 31 * 127 (an int16), a lane at most 2 * 2
 * * 15748 * 63 < 2^24, still exact in f32; the mins and the float work are Q4_K's. */
static inline __attribute__((always_inline)) void q5kw_unpack(
                const struct block_q5_K *b, __m256i sm, int lane, struct q4kw_w *ret)
{
        __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)b->qh));

        q4kw_unpack(b->qs, sm, lane, ret);
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
#ifdef KERN_ICL
                /* Byte 3 of a qword's matrix makes bit 4: there, bit 2j (low half) or 2j + 1. */
                const long long lo = (1ll << (2 * j)) << 24, hi = (2ll << (2 * j)) << 24;
                __m512i m = _mm512_setr_epi64(lo, lo, lo, lo, hi, hi, hi, hi);
                ret->q[j] = _mm512_or_si512(ret->q[j], _mm512_gf2p8affine_epi64_epi8(h, m, 0));
#else
                const unsigned long long bits = 0x0101010101010101ull << (2 * j);
                const long long lo = (long long)bits, hi = (long long)(bits << 1);
                __mmask64 m = _mm512_test_epi8_mask(h, _mm512_setr_epi64(lo, lo, lo, lo, hi, hi, hi, hi));
                ret->q[j] = _mm512_mask_add_epi8(ret->q[j], m, ret->q[j], _mm512_set1_epi8(0x10));
#endif
        }
}

/* The super-block's scaled integer dot with its 256 activations, in 16 exact int32 lanes. */
static inline __attribute__((always_inline)) __m512i q4kw_isum(const struct q4kw_w *w, const int8_t *qx)
{
        __m512i p[4];

#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
                p[j] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w->q[j],
                                _mm512_loadu_si512((const void *)(qx + 64 * j)));
        __m512i s = _mm512_madd_epi16(_mm512_packs_epi32(p[0], p[1]), w->sc[0]);
        return _mm512_dpwssd_epi32(s, _mm512_packs_epi32(p[2], p[3]), w->sc[1]);
}

/* What the rows of x share in a step over super-blocks i and (where two) i + 1: d of each,
 * spread over 16 lanes, dmin of each over four, and the mins as words. Zero where not two. */
struct q4kw_head {
        __m512 d0, d1;
        __m256 dmin;
        __m256i mins;
};

static inline __attribute__((always_inline)) struct q4kw_head q4kw_head(__m256i v, __m256i sm)
{
        /* [d0 dmin0 d1 dmin1] */
        __m128 hd = _mm_cvtph_ps(
                        _mm_unpacklo_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
        __m512 h = _mm512_castps128_ps512(hd);

        return (struct q4kw_head){
                .d0 = _mm512_permutexvar_ps(_mm512_set1_epi32(0), h),
                .d1 = _mm512_permutexvar_ps(_mm512_set1_epi32(2), h),
                .dmin = _mm256_permutexvar_ps(
                                _mm256_setr_epi32(1, 1, 1, 1, 3, 3, 3, 3), _mm256_castps128_ps256(hd)),
                .mins = _mm256_unpackhi_epi8(sm, _mm256_setzero_si256()),
        };
}

/* Adds super-blocks i and (where two) i + 1 of one activation row: acc += isum * (d * dx) per
 * block, accm += the mins times the activations' sums per 32 (s32, from block i) times dmin *
 * dx. dx: x->d + i. Where not two, ib is unused and the second lane of accm's terms is zero. */
static inline __attribute__((always_inline)) void q4kw_add(const struct q4kw_head *h, __m512i ia, __m512i ib,
                const float *dx, const int16_t *s32, bool two, __m512 *acc, __m256 *accm)
{
        __m256i s = two ? _mm256_loadu_si256((const __m256i *)(const void *)s32)
                        : _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)s32));
        if (!two)
                s = _mm256_inserti128_si256(s, _mm_setzero_si128(), 1);
        __m256 dx2 = _mm256_set_m128(_mm_broadcast_ss(two ? dx + 1 : dx), _mm_broadcast_ss(dx));

        *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia), _mm512_mul_ps(h->d0, _mm512_set1_ps(dx[0])), *acc);
        if (two)
                *acc = _mm512_fmadd_ps(
                                _mm512_cvtepi32_ps(ib), _mm512_mul_ps(h->d1, _mm512_set1_ps(dx[1])), *acc);
        *accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(h->mins, s)),
                        _mm256_mul_ps(h->dmin, dx2), *accm);
}

static inline float q4kw_result(__m512 acc, __m256 accm)
{
        return _mm512_reduce_add_ps(acc) - simd_hsum_f32(accm);
}

#endif

/* Bytes in a super-block of Q5_K (q5) or Q4_K. */
static inline size_t k45_block_bytes(bool q5)
{
        return q5 ? sizeof(struct block_q5_K) : sizeof(struct block_q4_K);
}

/* The super-block at blk, Q5_K's (q5) or Q4_K's, unpacked as q4k_vnni_unpack() does. */
static inline __attribute__((always_inline)) void k45_vnni_unpack(
                const uint8_t *blk, bool q5, __m256i smb, struct q4k_vnni_w *w)
{
        if (q5)
                q5k_vnni_unpack((const struct block_q5_K *)(const void *)blk, smb, w);
        else
                q4k_vnni_unpack(((const struct block_q4_K *)(const void *)blk)->qs, smb, w);
}

#ifdef __AVX512F__
/* The super-block at blk, Q5_K's (q5) or Q4_K's, unpacked as q4kw_unpack() does. */
static inline __attribute__((always_inline)) void k45w_unpack(
                const uint8_t *blk, bool q5, __m256i sm, int lane, struct q4kw_w *w)
{
        if (q5)
                q5kw_unpack((const struct block_q5_K *)(const void *)blk, sm, lane, w);
        else
                q4kw_unpack(((const struct block_q4_K *)(const void *)blk)->qs, sm, lane, w);
}
#endif

#ifdef IFN
/* Super-blocks i and (where two) i + 1 of a row of Q4_K or (q5) Q5_K: b is super-block i. */
static inline __attribute__((always_inline)) void IFN(k45_step)(const uint8_t *b, bool q5,
                const struct kern_xq *x, size_t i, bool two, __m256 *acc, __m256 *accm)
{
        const size_t bb = k45_block_bytes(q5);
        const int8_t *qx = x->qs + QK_K * i;
        __m256i v = q4k_vnni_head2(b, bb, two);
        __m256i sm = q4k_vnni_scales_mins(v);
        struct q4k_vnni_w w;
        __m256i ia, ib = _mm256_setzero_si256();

        k45_vnni_unpack(b, q5, _mm256_permute2x128_si256(sm, sm, 0x00), &w);
        ia = q4k_vnni_isum(&w, qx);
        if (two) {
                k45_vnni_unpack(b + bb, q5, _mm256_permute2x128_si256(sm, sm, 0x11), &w);
                ib = q4k_vnni_isum(&w, qx + QK_K);
        }
        q4k_vnni_add(v, sm, ia, ib, x->d + i, x->s32 + QK_K / 32 * i, two, acc, accm);
}

#ifdef __AVX512F__
/* The same on 512-bit vectors (q4kw_*), for Q4_K or (q5) Q5_K: b is super-block i. */
static inline __attribute__((always_inline)) void IFN(k45w_step)(const uint8_t *b, bool q5,
                const struct kern_xq *x, size_t i, bool two, __m512 *acc, __m256 *accm)
{
        const size_t bb = k45_block_bytes(q5);
        const int8_t *qx = x->qs + QK_K * i;
        __m256i v = q4k_vnni_head2(b, bb, two);
        __m256i sm = q4k_vnni_scales_mins(v);
        struct q4kw_head h = q4kw_head(v, sm);
        struct q4kw_w w;
        __m512i ia, ib = _mm512_setzero_si512();

        k45w_unpack(b, q5, sm, 0, &w);
        ia = q4kw_isum(&w, qx);
        if (two) {
                k45w_unpack(b + bb, q5, sm, 1, &w);
                ib = q4kw_isum(&w, qx + QK_K);
        }
        q4kw_add(&h, ia, ib, x->d + i, x->s32 + QK_K / 32 * i, two, acc, accm);
}

/* The single-row kernel of Q4_K or (q5) Q5_K on 512-bit vectors. */
static inline __attribute__((always_inline)) float IFN(k45w_qdot)(
                const void *row, bool q5, const struct kern_xq *x, size_t n)
{
        const uint8_t *b = row;
        const size_t bb = k45_block_bytes(q5), nb = n / QK_K;
        __m512 acc = _mm512_setzero_ps();
        __m256 accm = _mm256_setzero_ps();
        size_t i = 0;

        for (; i + 2 <= nb; i += 2) {
                kern_prefetch_ahead(b + i * bb, 2 * bb);
                IFN(k45w_step)(b + i * bb, q5, x, i, true, &acc, &accm);
        }
        if (i < nb)
                IFN(k45w_step)(b + i * bb, q5, x, i, false, &acc, &accm);
        return q4kw_result(acc, accm);
}
#endif

/* The single-row kernel of Q4_K or (q5) Q5_K, on the vectors kern_k_wide() says. */
static inline __attribute__((always_inline)) float IFN(k45_qdot)(
                const void *row, bool q5, const struct kern_xq *x, size_t n)
{
        const uint8_t *b = row;
        const size_t bb = k45_block_bytes(q5), nb = n / QK_K;
        __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
        size_t i = 0;

#ifdef __AVX512F__
        if (kern_k_wide())
                return IFN(k45w_qdot)(row, q5, x, n);
#endif
        for (; i + 2 <= nb; i += 2) {
                kern_prefetch_ahead(b + i * bb, 2 * bb);
                IFN(k45_step)(b + i * bb, q5, x, i, true, &acc, &accm);
        }
        if (i < nb)
                IFN(k45_step)(b + i * bb, q5, x, i, false, &acc, &accm);
        return q4k_vnni_result(acc, accm);
}

static float IFN(qdot_q4_K)(const void *row, const struct kern_xq *x, size_t n)
{
        return IFN(k45_qdot)(row, false, x, n);
}

static float IFN(qdot_q5_K)(const void *row, const struct kern_xq *x, size_t n)
{
        return IFN(k45_qdot)(row, true, x, n);
}
#endif
