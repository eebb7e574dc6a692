/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The integer path for n <= 8 activation rows at once (continuous batching), included by
 * dot-multi-avx2.c and dot-multi-avx512-vnni.c. Each weight block is unpacked once into
 * registers and multiplied with the n quantized activation blocks, where n calls of the
 * single-row kernels (dot-int.h) would unpack it n times.
 *
 * The K types reproduce the single-row kernels' arithmetic exactly (exact integer sums per
 * super-block, then the same scalar float expression in the same order), so a row's result does
 * not depend on how many others share the pass. The 32-element types work on x laid side by side
 * (struct kern_xqt) and scale each block's exact integer sum once. At the AVX-512 VNNI levels
 * the single-row kernels of Q4_0, Q5_0 and Q8_0 do the same, in the same order, tail blocks
 * included (see tail_sums()), so their rows get the same bits batched or not. Elsewhere (Q4_1,
 * Q5_1, AVX2) the single-row kernels scale partial sums: the same products in another float
 * order, within float rounding of each other (|diff| <= 1e-5 * sum |w x|, as the levels are
 * among themselves).
 *
 * Provided by the includer:
 *   DPBUSD(acc, u, s)    int32 lanes of acc plus the sums of 4 adjacent u8 * s8 products
 *   MFN(name)            name with the level's suffix */

#define MULTI_MAX KERN_QDOT_MULTI_MAX

/* fn(..., k) with k the value of n (1 .. MULTI_MAX - 1, else MULTI_MAX) as a constant, after
 * the other arguments: one inlined copy of fn per count, so that its loops over the rows unroll
 * and the rows' sums stay in registers. */
#define MULTI_BY_COUNT(fn, n, ...)          \
        do {                                \
                switch (n) {                \
                case 1:                     \
                        fn(__VA_ARGS__, 1); \
                        break;              \
                case 2:                     \
                        fn(__VA_ARGS__, 2); \
                        break;              \
                case 3:                     \
                        fn(__VA_ARGS__, 3); \
                        break;              \
                case 4:                     \
                        fn(__VA_ARGS__, 4); \
                        break;              \
                case 5:                     \
                        fn(__VA_ARGS__, 5); \
                        break;              \
                case 6:                     \
                        fn(__VA_ARGS__, 6); \
                        break;              \
                case 7:                     \
                        fn(__VA_ARGS__, 7); \
                        break;              \
                default:                    \
                        fn(__VA_ARGS__, 8); \
                        break;              \
                }                           \
        } while (0)
static_assert(KERN_QDOT_MULTI_MAX == 8, "MULTI_BY_COUNT spells out 8 counts");

/* The weights are one stream (the rows of a matrix lie end to end), but these kernels spend so
 * long on each byte that the hardware prefetcher alone left them waiting on memory: each group
 * prefetches its bytes this far on, into L1. Llama-3.2-1B Q4_0, 4 sequences in the engine on 2
 * threads (aid-infer bench -s 4, three alternated runs each): no prefetch 100-107 tok/s; 1024
 * bytes on 115-121, 2048 114-124, 4096 115-120; into L2 (T1) 2048 bytes on 103-104, 8192
 * 114-120. With 2048 bytes, Q4_K went from 91-93 to 101 tok/s, Q8_0 from 80-81 to 81-87. (The
 * single-row kernels differ: their rows kernels prefetch into L2, see dot-int.h, and on Zen 4
 * Q4_K's single-row kernel gained nothing from prefetches: 2 KiB on into L2 it was half as fast.
 * On Intel's Xeons the single-row kernels do prefetch: kern_prefetch_ahead().) These were
 * measured on Zen 4. */
#define MULTI_PREFETCH_BYTES 2048

/* The 32-element types read x side by side (struct kern_xqt), four blocks of four rows per
 * 512-bit vector. A group's weights go once to the 128-bit lanes of their blocks, quads as the
 * block's bytes hold them: its 16 bytes of nibbles (Q4_0, Q4_1, and Q5_0 and Q5_1 with their
 * fifth bits, unpacked as the single-row kernels do, see group32-vnni.h) or each half of its 32
 * bytes (Q8_0). Lane 4 beta + j then holds quad j of block beta, and x's vectors bring the rows
 * to it in turn: in vectors 2 k and 2 k + 1 (rotation k), lane 4 beta + j holds row (j + k) % 4's
 * quad j of that block. Each rotation's two products sum four rows' partial products in its own
 * lane order; three in-lane shuffles put rotations 1-3 back in rotation 0's, where lane
 * 4 beta + a is row a, and their sum is then each row's whole sum of each block. Its float work
 * (one conversion, one scale, one multiply-add) covers 16 block-rows; the mins of Q4_1 and Q5_1
 * take one more multiply-add. A group takes 8 vpdpbusd, 3 vpshufd and about ten other vector
 * instructions. The layout before broadcast each quad of the weights to the four rows' lanes
 * instead, 8 vpshufd a group: rows of 1152, 4 rows of x from L1 on Zen 4, 19.1 against 19.7
 * cycles a group, and what it lets the four-row kernel (qdot_multi_rows_32()) do counts more.
 * Rows 5..8 are a second half of four with its own lanes, met by the same weights. The AVX2
 * level reads each 512-bit vector as two 256-bit ones, two blocks each. Rows of 8192 (x no
 * longer in L1) still cost more per block than rows of 2048; cutting them into column chunks
 * over tiles of 4-32 rows, so that x stays in L1, was measured no faster (2.8 against 3.0 ns
 * per block) and is not done. */

/* Q8_0's weights made unsigned (w + 128): its offset is then -128 times the sums of x, 16 times
 * Q4_0's. Only where DPBUSD is a true vpdpbusd: vpmaddubsw's int16 pairs would saturate. */
#ifdef MULTI512
#define Q8_BIAS 1
#else
#define Q8_BIAS 0
#endif

/* xt->off is -8 times x's block sums, Q4_0's offset; Q5_0's is 16 times, Q8_0's (made
 * unsigned, Q8_BIAS) 128 times. */
static inline int MFN(off_shift)(uint32_t type)
{
        return type == GGML_TYPE_Q8_0 ? 4 : type == GGML_TYPE_Q5_0 ? 1 : 0;
}

/* Vector q of half s (rows 4s..4s+3) of group g, of a layout with H halves. */
static inline const int8_t *MFN(xqt_vec)(const struct kern_xqt *xt, size_t g, int q, int s, int H)
{
        return xt->qs + ((g * 8 + (size_t)q) * (size_t)H + (size_t)s) * 64;
}

#ifdef MULTI512
#include "group32-vnni.h"

/* The sums of rotation k put back in their rows' lanes: lane a of each 128-bit lane of the
 * result is lane (a - k) % 4 of c (k 1..3, a constant once unrolled). */
static inline __attribute__((always_inline)) __m512i MFN(unrotate)(__m512i c, int k)
{
        switch (k) {
        case 1:
                return _mm512_shuffle_epi32(c, (_MM_PERM_ENUM)0x93);
        case 2:
                return _mm512_shuffle_epi32(c, (_MM_PERM_ENUM)0x4e);
        default:
                return _mm512_shuffle_epi32(c, (_MM_PERM_ENUM)0x39);
        }
}

/* A group's weights as the products want them: block beta's quads in 128-bit lane beta as its
 * bytes hold them (lo: elements 0-15, hi: 16-31, unsigned), its scale in the four lanes of beta
 * and, for Q4_1 and Q5_1, its min times -1/8 (see xt->off). */
struct MFN(group_w) {
        __m512i lo, hi;
        __m512 dw, mw;
};

static inline __attribute__((always_inline)) struct MFN(group_w)
                MFN(group_weights)(const uint8_t *blk, uint32_t type)
{
        const size_t bb = kern_block_bytes_32(type);
        struct MFN(group_w) w = { .mw = _mm512_setzero_ps() };

        if (type == GGML_TYPE_Q8_0) {
                g32v_q8_0_bytes(blk, &w.lo, &w.hi);
        } else if (type == GGML_TYPE_Q5_0) {
                __m512i heads;
                g32v_q5_0_nibbles(blk, &w.lo, &w.hi, &heads);
        } else if (type == GGML_TYPE_Q4_1 || type == GGML_TYPE_Q5_1) {
                __m128i dm;
                if (type == GGML_TYPE_Q5_1)
                        g32v_q5_1_nibbles(blk, &w.lo, &w.hi, &dm);
                else
                        g32v_q4_1_nibbles(blk, &w.lo, &w.hi, &dm);
        } else {
                /* The scales from the group's head by a word permute, as the single-row
                 * rows kernel takes them, cost 0.7 cycles a group more here (15.7 against 16.4,
                 * 4 rows of x, rows of 1152): the scalar loads run beside the vector work. */
                __m512i head;
                g32v_q4_0_nibbles(blk, &w.lo, &w.hi, &head);
        }
        w.dw = g32v_spread4(simd_f16x4_heads(blk, bb));
        if (kern_has_min_32(type))
                w.mw = g32v_spread4(_mm_mul_ps(simd_f16x4_heads(blk + 2, bb), _mm_set1_ps(-0.125f)));
        return w;
}

/* A group's weights against one half of x (its 8 vectors in xv, its offsets and scales at off
 * and d): acc plus the 16 lanes, scaled. Rotation k meets each row with the quads of lanes
 * (a - k) % 4, and three in-lane shuffles put them back: the sum is
 * (c0 + rot2(c2 + rot2(off))) + rot1(c1 + rot2(c3)), rot j taking lane a from lane (a - j) % 4.
 * Two chains, each starting from the shuffled sums of the other rotation of its parity, need one
 * add where four chains of their own needed three and a zeroed start each: the four-row kernel
 * went from 16.4 to 15.6 cycles a group and row (rows of 1152, 4 rows of x from L1, medians of
 * 7 alternated runs). One chain of eight (Horner's rule) was no faster: its latency showed. */
static inline __attribute__((always_inline)) __m512 MFN(half_product)(const struct MFN(group_w) * w,
                uint32_t type, const __m512i xv[8], const int32_t *off, const float *d, __m512 acc)
{
        __m512i a = kern_has_min_32(type) ? _mm512_setzero_si512()
                                          : MFN(unrotate)(_mm512_slli_epi32(_mm512_loadu_si512(off),
                                                                          MFN(off_shift)(type)),
                                                            2);
        __m512i b = _mm512_setzero_si512();
        a = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(a, w->lo, xv[4]), w->hi, xv[5]);
        b = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(b, w->lo, xv[6]), w->hi, xv[7]);
        a = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(MFN(unrotate)(a, 2), w->lo, xv[0]), w->hi, xv[1]);
        b = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(MFN(unrotate)(b, 2), w->lo, xv[2]), w->hi, xv[3]);
        __m512i t = _mm512_add_epi32(a, MFN(unrotate)(b, 1));
        __m512 xd = _mm512_loadu_ps(d);
        acc = _mm512_fmadd_ps(_mm512_mul_ps(w->dw, xd), _mm512_cvtepi32_ps(t), acc);
        if (kern_has_min_32(type)) /* m times the block's sum of x: off is -8 times that sum. */
                acc = _mm512_fmadd_ps(
                                _mm512_mul_ps(w->mw, xd), _mm512_cvtepi32_ps(_mm512_loadu_si512(off)), acc);
        return acc;
}

/* The 8 vectors of half s of group g. */
static inline __attribute__((always_inline)) void MFN(half_x)(
                const struct kern_xqt *xt, size_t g, int s, const int H, __m512i xv[8])
{
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++)
                xv[q] = _mm512_loadu_si512(MFN(xqt_vec)(xt, g, q, s, H));
}

/* Group g (4 blocks at blk) against the H halves of xt: acc[s] plus its 16 lanes, scaled. */
static inline __attribute__((always_inline)) void MFN(group_32)(const uint8_t *blk, uint32_t type,
                const struct kern_xqt *xt, size_t g, __m512 acc[2], const int H)
{
        const struct MFN(group_w) w = MFN(group_weights)(blk, type);

#pragma GCC unroll 2
        for (int s = 0; s < H; s++) {
                const size_t k = (g * (size_t)H + (size_t)s) * 16;
                __m512i xv[8];
                MFN(half_x)(xt, g, s, H, xv);
                acc[s] = MFN(half_product)(&w, type, xv, xt->off + k, xt->d + k, acc[s]);
        }
}

/* The rows' sums of acc[s] over its four blocks (rows 4s..4s+3 in the four lanes): the
 * reduction every 512-bit kernel ends with, in one order. */
static inline __m128 MFN(half_sums)(__m512 acc)
{
        __m256 h = _mm256_add_ps(_mm512_castps512_ps256(acc),
                        _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1)));
        return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* The rows' sums of acc, plus tail where there is one, added to out. */
static inline void MFN(group_out)(const __m512 acc[2], size_t n, float *out, const float *tail, const int H)
{
        for (int s = 0; s < H; s++) {
                float lanes[4];
                _mm_storeu_ps(lanes, MFN(half_sums)(acc[s]));
                for (size_t a = 0; a < 4 && 4 * (size_t)s + a < n; a++)
                        out[4 * s + a] += tail ? lanes[a] + tail[4 * s + a] : lanes[a];
        }
}

/* Q4_0, Q5_0 and Q8_0: the blocks past the last full group, summed per row apart from the
 * groups and added after them, as the single-row kernels do (dot-q4-q5-vnni.h, g32_tail()):
 * each block's exact integer sum times (d dx), in block order from 0. With the groups' sums in
 * the same order as theirs too, a row's result is then the same whether or not it was
 * batched. */
static inline bool MFN(exact_tail)(uint32_t type)
{
        return type == GGML_TYPE_Q4_0 || type == GGML_TYPE_Q5_0 || type == GGML_TYPE_Q8_0;
}

static inline void MFN(tail_sums)(const uint8_t *row, uint32_t type, const struct kern_xq *x, size_t first,
                size_t nb, size_t n, float *tail)
{
        const bool q5 = type == GGML_TYPE_Q5_0, q8 = type == GGML_TYPE_Q8_0;
        const size_t bb = kern_block_bytes_32(type);

        for (size_t a = 0; a < n; a++)
                tail[a] = 0.0f;
        for (size_t i = first; i < nb; i++) {
                const uint8_t *b = row + i * bb, *qs = b + (q5 ? 6 : 2);
                uint16_t d;
                uint32_t qh = 0;
                int q[32];

                memcpy(&d, b, sizeof(d));
                if (q5)
                        memcpy(&qh, b + 2, sizeof(qh));
                for (int j = 0; j < 16; j++) {
                        if (q8) {
                                q[j] = (int8_t)qs[j];
                                q[j + 16] = (int8_t)qs[j + 16];
                        } else {
                                q[j] = (qs[j] & 0xf) | (int)((qh >> j) & 1) << 4;
                                q[j + 16] = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
                        }
                }
                for (size_t a = 0; a < n; a++) {
                        const int8_t *qx = x[a].qs + 32 * i;
                        int32_t isum = 0, xsum = 0;
                        for (int j = 0; j < 32; j++) {
                                isum += q[j] * qx[j];
                                xsum += qx[j];
                        }
                        isum -= (q8 ? 0 : q5 ? 16 : 8) * xsum;
                        tail[a] += _cvtsh_ss(d) * x[a].d[i] * (float)isum;
                }
        }
}
#else
/* Q5_0's and Q5_1's fifth bits as 0x10 in the bytes whose bit is set: m0's 16 bits for the 128-bit lane of
 * one block, m1's for the other's. */
static inline __m256i MFN(fifth_bits)(uint32_t m0, uint32_t m1)
{
        const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0,
                        0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
        const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
        __m256i v = _mm256_set_m128i(_mm_set1_epi16((short)m1), _mm_set1_epi16((short)m0));

        v = _mm256_and_si256(_mm256_shuffle_epi8(v, spread), bit);
        return _mm256_and_si256(_mm256_cmpeq_epi8(v, bit), _mm256_set1_epi8(0x10));
}

/* Group g (4 blocks at blk) against the H halves of xt, as two halves of two blocks: acc[s]
 * plus its lanes, scaled. */
static inline __attribute__((always_inline)) void MFN(group_32)(const uint8_t *blk, uint32_t type,
                const struct kern_xqt *xt, size_t g, __m256 acc[2], const int H)
{
        const bool q8 = type == GGML_TYPE_Q8_0;
        const size_t bb = kern_block_bytes_32(type);
        __m128 f = simd_f16x4_heads(blk, bb);
        /* The mins of Q4_1 and Q5_1, times -1/8 (see xt->off). */
        __m128 fm = kern_has_min_32(type) ? _mm_mul_ps(simd_f16x4_heads(blk + 2, bb), _mm_set1_ps(-0.125f))
                                          : _mm_setzero_ps();

        for (int e = 0; e < 2; e++) {
                const uint8_t *b0 = blk + 2 * (size_t)e * bb, *b1 = b0 + bb;
                __m256i lo, hi;

                if (q8) {
                        __m256i a = simd_load256(b0 + 2), b = simd_load256(b1 + 2);
                        lo = _mm256_permute2x128_si256(a, b, 0x20);
                        hi = _mm256_permute2x128_si256(a, b, 0x31);
                } else {
                        /* The nibbles follow d (Q4_0), d and qh (Q5_0), d and m (Q4_1) or d, m and
                         * qh (Q5_1); qh follows d or d and m. */
                        const bool q5 = type == GGML_TYPE_Q5_0 || type == GGML_TYPE_Q5_1;
                        const size_t at_qh = kern_has_min_32(type) ? 4 : 2, at = at_qh + (q5 ? 4 : 0);
                        __m256i t = _mm256_loadu2_m128i(
                                        (const __m128i *)(b1 + at), (const __m128i *)(b0 + at));
                        lo = _mm256_and_si256(t, _mm256_set1_epi8(0xf));
                        hi = _mm256_and_si256(_mm256_srli_epi16(t, 4), _mm256_set1_epi8(0xf));
                        if (q5) {
                                uint32_t h0, h1;
                                memcpy(&h0, b0 + at_qh, sizeof(h0));
                                memcpy(&h1, b1 + at_qh, sizeof(h1));
                                lo = _mm256_or_si256(lo, MFN(fifth_bits)(h0 & 0xffff, h1 & 0xffff));
                                hi = _mm256_or_si256(hi, MFN(fifth_bits)(h0 >> 16, h1 >> 16));
                        }
                }
                __m256 dw = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(f),
                                _mm256_setr_epi32(2 * e, 2 * e, 2 * e, 2 * e, 2 * e + 1, 2 * e + 1,
                                                2 * e + 1, 2 * e + 1));
                for (int s = 0; s < H; s++) {
                        const size_t k0 = (g * (size_t)H + (size_t)s) * 16 + 8 * (size_t)e;
                        /* Rotation k meets row a with the quads of lanes (a - k) % 4 (see the
                         * 512-bit group_32()); the offsets start rotation 0's chain. */
                        __m256i c[4];
#pragma GCC unroll 4
                        for (int k = 0; k < 4; k++) {
                                c[k] = k == 0 && !q8 && !kern_has_min_32(type)
                                                       ? _mm256_slli_epi32(simd_load256(xt->off + k0),
                                                                         MFN(off_shift)(type))
                                                       : _mm256_setzero_si256();
#pragma GCC unroll 2
                                for (int h = 0; h < 2; h++) {
                                        __m256i w = h ? hi : lo;
                                        __m256i xv = simd_load256(
                                                        MFN(xqt_vec)(xt, g, 2 * k + h, s, H) + 32 * e);
                                        if (q8)
                                                c[k] = DPBUSD(c[k], _mm256_abs_epi8(w),
                                                                _mm256_sign_epi8(xv, w));
                                        else
                                                c[k] = DPBUSD(c[k], w, xv);
                                }
                        }
                        __m256i t = _mm256_add_epi32(
                                        _mm256_add_epi32(c[0], _mm256_shuffle_epi32(c[1], 0x93)),
                                        _mm256_add_epi32(_mm256_shuffle_epi32(c[2], 0x4e),
                                                        _mm256_shuffle_epi32(c[3], 0x39)));
                        __m256 xd = _mm256_loadu_ps(xt->d + k0);
                        acc[s] = _mm256_fmadd_ps(_mm256_mul_ps(dw, xd), _mm256_cvtepi32_ps(t), acc[s]);
                        if (kern_has_min_32(type)) {
                                /* m times the block's sum of x: xt->off is -8 times that sum. */
                                __m256 mw = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(fm),
                                                _mm256_setr_epi32(2 * e, 2 * e, 2 * e, 2 * e, 2 * e + 1,
                                                                2 * e + 1, 2 * e + 1, 2 * e + 1));
                                acc[s] = _mm256_fmadd_ps(_mm256_mul_ps(mw, xd),
                                                _mm256_cvtepi32_ps(simd_load256(xt->off + k0)), acc[s]);
                        }
                }
        }
}

static inline void MFN(group_out)(const __m256 acc[2], size_t n, float *out, const int H)
{
        for (int s = 0; s < H; s++) {
                float lanes[4];
                _mm_storeu_ps(lanes, _mm_add_ps(_mm256_castps256_ps128(acc[s]),
                                                     _mm256_extractf128_ps(acc[s], 1)));
                for (size_t a = 0; a < 4 && 4 * (size_t)s + a < n; a++)
                        out[4 * s + a] += lanes[a];
        }
}
#endif

static inline __attribute__((always_inline)) void MFN(qdot_multi_32)(const uint8_t *row, uint32_t type,
                const struct kern_xq *x, const struct kern_xqt *xt, size_t n, size_t cols, float *out,
                const int H)
{
        const size_t bb = kern_block_bytes_32(type), nb = cols / 32;
#ifdef MULTI512
        __m512 acc[2] = { _mm512_setzero_ps(), _mm512_setzero_ps() };
        float tail[MULTI_MAX];
        const bool exact = MFN(exact_tail)(type);
#else
        __m256 acc[2] = { _mm256_setzero_ps(), _mm256_setzero_ps() };
        const bool exact = false;
        (void)x;
#endif
        size_t g = 0;

        for (; 4 * g + 4 <= nb; g++) {
                for (size_t o = 0; o < 4 * bb; o += 64)
                        _mm_prefetch((const char *)row + 4 * g * bb + MULTI_PREFETCH_BYTES + o, _MM_HINT_T0);
                MFN(group_32)(row + 4 * g * bb, type, xt, g, acc, H);
        }
        if (4 * g < nb && !exact) {
                /* The last 1-3 blocks from a copy padded with zero blocks (scale 0, against x
                 * and offsets that the fill zeroed): the group reads whole blocks. */
                uint8_t pad[4 * sizeof(struct block_q8_0)] = { 0 };
                memcpy(pad, row + 4 * g * bb, (nb - 4 * g) * bb);
                MFN(group_32)(pad, type, xt, g, acc, H);
        }
#ifdef MULTI512
        if (exact && 4 * g < nb)
                MFN(tail_sums)(row, type, x, 4 * g, nb, n, tail);
        MFN(group_out)(acc, n, out, exact && 4 * g < nb ? tail : NULL, H);
#else
        MFN(group_out)(acc, n, out, H);
#endif
}

#define QDOT_MULTI_32(name, type)                                                                  \
        static void MFN(name)(const void *row, const struct kern_xq *x, const struct kern_xqt *xt, \
                        size_t n, size_t cols, float *out)                                         \
        {                                                                                          \
                if (xt->group == 4)                                                                \
                        MFN(qdot_multi_32)(row, type, x, xt, n, cols, out, 1);                     \
                else                                                                               \
                        MFN(qdot_multi_32)(row, type, x, xt, n, cols, out, 2);                     \
        }
QDOT_MULTI_32(qdot_multi_q4_0, GGML_TYPE_Q4_0)
QDOT_MULTI_32(qdot_multi_q5_0, GGML_TYPE_Q5_0)
QDOT_MULTI_32(qdot_multi_q8_0, GGML_TYPE_Q8_0)
QDOT_MULTI_32(qdot_multi_q4_1, GGML_TYPE_Q4_1)
QDOT_MULTI_32(qdot_multi_q5_1, GGML_TYPE_Q5_1)
#undef QDOT_MULTI_32

#ifdef MULTI512
/* KERN_QDOT_ROWS weight rows (rb bytes apart) against the n rows of x: each group of x's vectors
 * loaded once for the four. The 512-bit group_32() alone is bound by its vector work, loads
 * included, and holding x in registers across the rows took a sixth of a group's time (rows
 * of 1152, 4 rows of x from L1, Zen 4: 16.1 against 19.1 cycles per group and weight row; with
 * the old broadcast layout it gained nothing, 20.5 against 19.7). Every row gets the arithmetic
 * of qdot_multi_32(), in the same order, so its result does not depend on the kernel that made
 * it.
 *
 * The four rows are four streams read side by side; each group prefetches the same place in the
 * next four rows into L2. Llama-3.2-1B Q4_0, 4 sequences on 2 threads (aid-infer bench -s 4):
 * 140-147 tok/s; two tiles on, or into L3, the same; into L1 106-111; each row's own 2048
 * bytes on into L1, as qdot_multi_32() does, 88-90; half a tile on 81-84; none 77-81. The old
 * kernel: 114-121. (Those numbers are Zen 4's.) Where kern_rows_near_wanted() (Intel's Xeons),
 * each group also takes the four rows' lines KERN_NEAR_BYTES on into L1, as the single-sequence
 * rows kernels do: on the Emerald Rapids class host, -s 4, four alternated runs, Llama Q4_0
 * 117.8-123.1 against 112.0-120.6 tok/s, Q8_0 (three) 82.5-84.3 against 79.0-82.0. */
static inline __attribute__((always_inline)) void MFN(qdot_multi_rows_32)(const uint8_t *rows, size_t rb,
                uint32_t type, const struct kern_xq *x, const struct kern_xqt *xt, size_t n, size_t cols,
                float *y, size_t ys, const int H)
{
        const bool exact = MFN(exact_tail)(type);
        const size_t bb = kern_block_bytes_32(type), nb = cols / 32;
        __m512 acc[KERN_QDOT_ROWS][2];
        const bool near = kern_rows_near_wanted();
        size_t g = 0;

        for (int r = 0; r < KERN_QDOT_ROWS; r++)
                acc[r][0] = acc[r][1] = _mm512_setzero_ps();
        for (; 4 * g + 4 <= nb; g++)
#pragma GCC unroll 2
                for (int s = 0; s < H; s++) {
                        const size_t k = (g * (size_t)H + (size_t)s) * 16;
                        __m512i xv[8];
                        MFN(half_x)(xt, g, s, H, xv);
                        if (s == 0 && near)
                                kern_prefetch_rows_near(rows + 4 * g * bb, rb, 2);
#pragma GCC unroll 4
                        for (int r = 0; r < KERN_QDOT_ROWS; r++) {
                                const uint8_t *blk = rows + (size_t)r * rb + 4 * g * bb;
                                /* The next four rows, at the same place, into L2. */
                                if (s == 0)
                                        for (size_t o = 0; o < 4 * bb; o += 64)
                                                _mm_prefetch((const char *)blk + KERN_QDOT_ROWS * rb + o,
                                                                _MM_HINT_T1);
                                const struct MFN(group_w) w = MFN(group_weights)(blk, type);
                                acc[r][s] = MFN(half_product)(
                                                &w, type, xv, xt->off + k, xt->d + k, acc[r][s]);
                        }
                }
        const bool has_tail = 4 * g < nb;
        /* The tails' sums, zero past n: their lanes are summed but not stored. */
        float tail[KERN_QDOT_ROWS][MULTI_MAX] = { { 0 } };
        for (int r = 0; r < KERN_QDOT_ROWS; r++) {
                const uint8_t *row = rows + (size_t)r * rb;
                /* The last blocks as qdot_multi_32() takes them. */
                if (has_tail && exact)
                        MFN(tail_sums)(row, type, x, 4 * g, nb, n, tail[r]);
                else if (has_tail) {
                        uint8_t pad[4 * sizeof(struct block_q8_0)] = { 0 };
                        memcpy(pad, row + 4 * g * bb, (nb - 4 * g) * bb);
                        MFN(group_32)(pad, type, xt, g, acc[r], H);
                }
        }
        /* Each row of x gets the four weight rows' sums side by side: a 4 x 4 transpose and one
         * store per row of x, where a loop scattering single floats took 1.2 % of a 4-stream
         * step's samples (perf, 4 clients over D-Bus). */
        for (int s = 0; s < H; s++) {
                __m128 v[KERN_QDOT_ROWS];
                for (int r = 0; r < KERN_QDOT_ROWS; r++) {
                        v[r] = MFN(half_sums)(acc[r][s]);
                        if (has_tail && exact)
                                v[r] = _mm_add_ps(v[r], _mm_loadu_ps(tail[r] + 4 * s));
                }
                _MM_TRANSPOSE4_PS(v[0], v[1], v[2], v[3]);
                for (size_t a = 0; a < 4 && 4 * (size_t)s + a < n; a++)
                        _mm_storeu_ps(y + (4 * (size_t)s + a) * ys, v[a]);
        }
}

#define QDOT_MULTI_ROWS_32(name, type)                                                         \
        static void MFN(name)(const void *rows, size_t rb, const struct kern_xq *x,            \
                        const struct kern_xqt *xt, size_t n, size_t cols, float *y, size_t ys) \
        {                                                                                      \
                if (xt->group == 4)                                                            \
                        MFN(qdot_multi_rows_32)(rows, rb, type, x, xt, n, cols, y, ys, 1);     \
                else                                                                           \
                        MFN(qdot_multi_rows_32)(rows, rb, type, x, xt, n, cols, y, ys, 2);     \
        }
QDOT_MULTI_ROWS_32(qdot_multi_rows_q4_0, GGML_TYPE_Q4_0)
QDOT_MULTI_ROWS_32(qdot_multi_rows_q5_0, GGML_TYPE_Q5_0)
QDOT_MULTI_ROWS_32(qdot_multi_rows_q8_0, GGML_TYPE_Q8_0)
QDOT_MULTI_ROWS_32(qdot_multi_rows_q4_1, GGML_TYPE_Q4_1)
QDOT_MULTI_ROWS_32(qdot_multi_rows_q5_1, GGML_TYPE_Q5_1)
#undef QDOT_MULTI_ROWS_32
#endif

/* The 16-bit scale j of a vector holding 8 of them in both lanes, broadcast. */
static inline __m256i MFN(word_ctrl)(int j)
{
        return _mm256_set1_epi16((short)(2 * j | (2 * j + 1) << 8));
}

/* Q4_K and Q5_K (q5) where dot-q4k-vnni.h does not serve them (below the VNNI levels, and at
 * AVX2 without AVX-VNNI): the steps of their 256-bit single-row kernels (dot-int.h), each
 * super-block's quants and scales unpacked once for the n rows; every row gets the same exact
 * integer sums and the same float expression as alone, so the same bits. */
static inline __attribute__((always_inline)) void MFN(k45_multi)(
                const void *row, bool q5, const struct kern_xq *x, size_t n, size_t cols, float *out)
{
        const struct block_q4_K *b4 = row;
        const struct block_q5_K *b5 = row;
        const size_t bb = q5 ? sizeof(*b5) : sizeof(*b4);
        float sum[MULTI_MAX];

        for (size_t r = 0; r < n; r++)
                sum[r] = out[r];
        for (size_t i = 0; i < cols / QK_K; i++) {
                const uint8_t *blk = (const uint8_t *)row + i * bb, *qs = q5 ? b5[i].qs : b4[i].qs;
                __m128i scb, mb;
                __m256i q[8], sc[8];

                for (size_t o = 0; o < bb; o += 64)
                        _mm_prefetch((const char *)blk + MULTI_PREFETCH_BYTES + o, _MM_HINT_T0);
                simd_k4_unpack(q5 ? b5[i].scales : b4[i].scales, &scb, &mb);
                __m256i scv = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scb));
                __m256i h = q5 ? simd_load256(b5[i].qh) : _mm256_setzero_si256();
                /* Loops unrolled, here and below, so that q[] and sc[] stay in registers (as in
                 * Q6_K's kernel). */
#pragma GCC unroll 4
                for (int j = 0; j < QK_K / 64; j++) {
                        __m256i v = simd_load256(qs + 32 * j);
                        if (q5) {
                                simd_q5k_chunk(v, &h, &q[2 * j], &q[2 * j + 1]);
                        } else {
                                q[2 * j] = _mm256_and_si256(v, _mm256_set1_epi8(0xf));
                                q[2 * j + 1] = _mm256_and_si256(
                                                _mm256_srli_epi16(v, 4), _mm256_set1_epi8(0xf));
                        }
                        sc[2 * j] = _mm256_shuffle_epi8(scv, MFN(word_ctrl)(2 * j));
                        sc[2 * j + 1] = _mm256_shuffle_epi8(scv, MFN(word_ctrl)(2 * j + 1));
                }
                float d = _cvtsh_ss(q5 ? b5[i].d : b4[i].d), dmin = _cvtsh_ss(q5 ? b5[i].dmin : b4[i].dmin);
                for (size_t r = 0; r < n; r++) {
                        const int8_t *qx = x[r].qs + QK_K * i;
                        __m256i acc0 = simd_scaled_dot(q[0], qx, sc[0]);
                        __m256i acc1 = simd_scaled_dot(q[1], qx + 32, sc[1]);
#pragma GCC unroll 4
                        for (int j = 1; j < QK_K / 64; j++) {
                                acc0 = _mm256_add_epi32(
                                                acc0, simd_scaled_dot(q[2 * j], qx + 64 * j, sc[2 * j]));
                                acc1 = _mm256_add_epi32(acc1, simd_scaled_dot(q[2 * j + 1], qx + 64 * j + 32,
                                                                              sc[2 * j + 1]));
                        }
                        int32_t isum = simd_hsum_i32(_mm256_add_epi32(acc0, acc1));
                        int32_t imin = simd_hsum_i32x4(_mm_madd_epi16(
                                        _mm_cvtepu8_epi16(mb), simd_load128(x[r].s32 + QK_K / 32 * i)));
                        float dx = x[r].d[i];
                        sum[r] += d * dx * (float)isum - dmin * dx * (float)imin;
                }
        }
        for (size_t r = 0; r < n; r++)
                out[r] = sum[r];
}

#if defined(MULTI512) || defined(KERN_AVX_VNNI) /* where dot-int.h takes dot-q4k-vnni.h too */
#include "dot-q4k-vnni.h"

/* The single-row kernel's steps (dot-q4k-vnni.h), each super-block's weights unpacked once for
 * the n rows: every row gets the same integer lanes and the same float operations in the same
 * order as alone, so the same bits. Super-blocks i and (where two) i + 1. */
static inline __attribute__((always_inline)) void MFN(k45_multi_step)(const uint8_t *b, bool q5,
                const struct kern_xq *x, size_t n, size_t i, bool two, __m256 *acc, __m256 *accm)
{
        const size_t bb = k45_block_bytes(q5);
        __m256i v = q4k_vnni_head2(b, bb, two);
        __m256i sm = q4k_vnni_scales_mins(v);
        __m256i ia[MULTI_MAX], ib[MULTI_MAX];
        struct q4k_vnni_w w;

        k45_vnni_unpack(b, q5, _mm256_permute2x128_si256(sm, sm, 0x00), &w);
#pragma GCC unroll 8
        for (size_t r = 0; r < n; r++)
                ia[r] = q4k_vnni_isum(&w, x[r].qs + QK_K * i);
#pragma GCC unroll 8
        for (size_t r = 0; r < n; r++)
                ib[r] = _mm256_setzero_si256();
        if (two) {
                k45_vnni_unpack(b + bb, q5, _mm256_permute2x128_si256(sm, sm, 0x11), &w);
#pragma GCC unroll 8
                for (size_t r = 0; r < n; r++)
                        ib[r] = q4k_vnni_isum(&w, x[r].qs + QK_K * (i + 1));
        }
#pragma GCC unroll 8
        for (size_t r = 0; r < n; r++)
                q4k_vnni_add(v, sm, ia[r], ib[r], x[r].d + i, x[r].s32 + QK_K / 32 * i, two, &acc[r],
                                &accm[r]);
}

/* n a constant once inlined: with a variable count the rows' sums lived in memory. Rows of 2048
 * from L1, Zen 4, cycles a super-block: 1 row of x 19.4 against 27.6, 4 rows 47.4 against 50.3,
 * 8 rows 86.5 against 89.6. Even so GCC kept loops over the rows, their sums in memory, until
 * told to unroll them (the pragmas here and in k45_multi_step()): on an Intel Xeon,
 * kernel-bench -x none -t 1 -b 1,4,8 Q4_K, 4 rows 1.222 -> 1.14 ms, 8 rows 2.47 -> 2.01; llama
 * Q4_K, aid-infer bench -s 4, 83.6-86.1 -> 90.8-91.2 tok/s (three alternated runs each). */
static inline __attribute__((always_inline)) void MFN(k45_multi_n)(
                const uint8_t *b, bool q5, const struct kern_xq *x, size_t cols, float *out, const size_t n)
{
        const size_t bb = k45_block_bytes(q5);
        __m256 acc[MULTI_MAX], accm[MULTI_MAX];
        size_t nb = cols / QK_K, i = 0;

#pragma GCC unroll 8
        for (size_t r = 0; r < n; r++)
                acc[r] = accm[r] = _mm256_setzero_ps();
        for (; i + 2 <= nb; i += 2) {
                for (size_t o = 0; o < 2 * bb; o += 64)
                        _mm_prefetch((const char *)b + i * bb + MULTI_PREFETCH_BYTES + o, _MM_HINT_T0);
                MFN(k45_multi_step)(b + i * bb, q5, x, n, i, true, acc, accm);
        }
        if (i < nb)
                MFN(k45_multi_step)(b + i * bb, q5, x, n, i, false, acc, accm);
#pragma GCC unroll 8
        for (size_t r = 0; r < n; r++)
                out[r] += q4k_vnni_result(acc[r], accm[r]);
}

#ifdef MULTI512
/* As k45_multi_step(), on 512-bit vectors: b is super-block i. */
static inline __attribute__((always_inline)) void MFN(k45w_multi_step)(const uint8_t *b, bool q5,
                const struct kern_xq *x, size_t n, size_t i, bool two, __m512 *acc, __m256 *accm)
{
        const size_t bb = k45_block_bytes(q5);
        __m256i v = q4k_vnni_head2(b, bb, two);
        __m256i sm = q4k_vnni_scales_mins(v);
        struct q4kw_head h = q4kw_head(v, sm);
        __m512i ia[MULTI_MAX], ib[MULTI_MAX];
        struct q4kw_w w;

        k45w_unpack(b, q5, sm, 0, &w);
#pragma GCC unroll 8
        for (size_t r = 0; r < n; r++)
                ia[r] = q4kw_isum(&w, x[r].qs + QK_K * i);
#pragma GCC unroll 8
        for (size_t r = 0; r < n; r++)
                ib[r] = _mm512_setzero_si512();
        if (two) {
                k45w_unpack(b + bb, q5, sm, 1, &w);
#pragma GCC unroll 8
                for (size_t r = 0; r < n; r++)
                        ib[r] = q4kw_isum(&w, x[r].qs + QK_K * (i + 1));
        }
#pragma GCC unroll 8
        for (size_t r = 0; r < n; r++)
                q4kw_add(&h, ia[r], ib[r], x[r].d + i, x[r].s32 + QK_K / 32 * i, two, &acc[r], &accm[r]);
}

/* As k45_multi_n(), on 512-bit vectors (q4kw_*, dot-q4k-vnni.h). */
static inline __attribute__((always_inline)) void MFN(k45w_multi_n)(
                const uint8_t *b, bool q5, const struct kern_xq *x, size_t cols, float *out, const size_t n)
{
        const size_t bb = k45_block_bytes(q5);
        __m512 acc[MULTI_MAX];
        __m256 accm[MULTI_MAX];
        size_t nb = cols / QK_K, i = 0;

#pragma GCC unroll 8
        for (size_t r = 0; r < n; r++) {
                acc[r] = _mm512_setzero_ps();
                accm[r] = _mm256_setzero_ps();
        }
        for (; i + 2 <= nb; i += 2) {
                for (size_t o = 0; o < 2 * bb; o += 64)
                        _mm_prefetch((const char *)b + i * bb + MULTI_PREFETCH_BYTES + o, _MM_HINT_T0);
                MFN(k45w_multi_step)(b + i * bb, q5, x, n, i, true, acc, accm);
        }
        if (i < nb)
                MFN(k45w_multi_step)(b + i * bb, q5, x, n, i, false, acc, accm);
#pragma GCC unroll 8
        for (size_t r = 0; r < n; r++)
                out[r] += q4kw_result(acc[r], accm[r]);
}

#endif

/* Q4_K or (q5) Q5_K, on the vectors kern_k_wide() says where there is a choice. */
static inline __attribute__((always_inline)) void MFN(k45_qdot_multi)(
                const void *row, bool q5, const struct kern_xq *x, size_t n, size_t cols, float *out)
{
#ifdef MULTI512
        if (kern_k_wide()) {
                MULTI_BY_COUNT(MFN(k45w_multi_n), n, row, q5, x, cols, out);
                return;
        }
#endif
        MULTI_BY_COUNT(MFN(k45_multi_n), n, row, q5, x, cols, out);
}

static void MFN(qdot_multi_q4_K)(const void *row, const struct kern_xq *x, const struct kern_xqt *xt,
                size_t n, size_t cols, float *out)
{
        (void)xt;
        MFN(k45_qdot_multi)(row, false, x, n, cols, out);
}

static void MFN(qdot_multi_q5_K)(const void *row, const struct kern_xq *x, const struct kern_xqt *xt,
                size_t n, size_t cols, float *out)
{
        (void)xt;
        MFN(k45_qdot_multi)(row, true, x, n, cols, out);
}
#else
static void MFN(qdot_multi_q4_K)(const void *row, const struct kern_xq *x, const struct kern_xqt *xt,
                size_t n, size_t cols, float *out)
{
        (void)xt;
        MFN(k45_multi)(row, false, x, n, cols, out);
}

static void MFN(qdot_multi_q5_K)(const void *row, const struct kern_xq *x, const struct kern_xqt *xt,
                size_t n, size_t cols, float *out)
{
        (void)xt;
        MFN(k45_multi)(row, true, x, n, cols, out);
}
#endif

static inline __attribute__((always_inline)) void MFN(q6k_multi_n)(
                const void *row, const struct kern_xq *x, size_t cols, float *out, const size_t n)
{
        const struct block_q6_K *b = row;
        const __m256i m4 = _mm256_set1_epi8(0xf), m2 = _mm256_set1_epi8(0x30);
        /* Even sub-blocks' scales in the low lane, odd ones in the high lane (dot-int.h). */
        const __m128i split = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
        float sum[MULTI_MAX];
#pragma GCC unroll 8

        for (size_t r = 0; r < n; r++)
                sum[r] = out[r];

        for (size_t i = 0; i < cols / QK_K; i++, b++) {
                /* Prefetched as the other types' multi-row kernels are: without it, on an Intel
                 * Xeon, kernel-bench -x none -t 1 -b 1,4,8 Q6_K took 2.46 ms for 4 rows of x (1.09
                 * for one), with it 1.73; 8 rows 3.0 -> 2.8. */
                for (size_t o = 0; o < sizeof(*b); o += 64)
                        _mm_prefetch((const char *)b + MULTI_PREFETCH_BYTES + o, _MM_HINT_T0);
                __m128i sc8 = simd_load128(b->scales);
                __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
                __m256i scv = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, split));
                __m256i q[8], sc[8];

                /* Loops unrolled, here and below: with them in memory, q[] and sc[] were loaded
                 * again for every row. Rows of 2048 from L1, Zen 4, cycles a super-block: 1 row of
                 * x 31.5 against 49, 4 rows 74.5 against 97, 8 rows 131 against 166. */
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                        const uint8_t *ql = b->ql + 64 * h;
                        __m256i a = simd_load256(ql), c = simd_load256(ql + 32),
                                hb = simd_load256(b->qh + 32 * h);
                        q[4 * h] = _mm256_or_si256(_mm256_and_si256(a, m4),
                                        _mm256_and_si256(_mm256_slli_epi16(hb, 4), m2));
                        q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(c, m4),
                                        _mm256_and_si256(_mm256_slli_epi16(hb, 2), m2));
                        q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4),
                                        _mm256_and_si256(hb, m2));
                        q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(c, 4), m4),
                                        _mm256_and_si256(_mm256_srli_epi16(hb, 2), m2));
#pragma GCC unroll 4
                        for (int p = 0; p < 4; p++)
                                sc[4 * h + p] = _mm256_shuffle_epi8(scv, MFN(word_ctrl)(4 * h + p));
                }
                float d = _cvtsh_ss(b->d);
#pragma GCC unroll 8
                for (size_t r = 0; r < n; r++) {
                        const int8_t *qx = x[r].qs + QK_K * i;
                        __m256i acc0 = simd_scaled_dot(q[0], qx, sc[0]);
                        __m256i acc1 = simd_scaled_dot(q[1], qx + 32, sc[1]);
#pragma GCC unroll 4
                        for (int k = 2; k < 8; k += 2) {
                                acc0 = _mm256_add_epi32(acc0, simd_scaled_dot(q[k], qx + 32 * k, sc[k]));
                                acc1 = _mm256_add_epi32(acc1,
                                                simd_scaled_dot(q[k + 1], qx + 32 * k + 32, sc[k + 1]));
                        }
                        /* The -32 offset: 32 * sum_k sc[k] * (sum of qx over sub-block k). */
                        __m256i off = _mm256_madd_epi16(sc16, simd_load256(x[r].s16 + QK_K / 16 * i));
                        int32_t isum = simd_hsum_i32(_mm256_sub_epi32(
                                        _mm256_add_epi32(acc0, acc1), _mm256_slli_epi32(off, 5)));
                        sum[r] += d * x[r].d[i] * (float)isum;
                }
        }
#pragma GCC unroll 8
        for (size_t r = 0; r < n; r++)
                out[r] = sum[r];
}

#ifdef MULTI512
#include "dot-q6k-vnni.h"

/* The single-row kernel's steps on 512-bit vectors (dot-q6k-vnni.h), each super-block's
 * weights unpacked once for the n rows, in the same order: the same bits. */
static inline __attribute__((always_inline)) void MFN(q6kw_multi_n)(
                const struct block_q6_K *b, const struct kern_xq *x, size_t cols, float *out, const size_t n)
{
        __m512 acc[MULTI_MAX];

#pragma GCC unroll 8
        for (size_t r = 0; r < n; r++)
                acc[r] = _mm512_setzero_ps();
        for (size_t i = 0; i < cols / QK_K; i++, b++) {
                struct q6kw_w w;

                for (size_t o = 0; o < sizeof(*b); o += 64)
                        _mm_prefetch((const char *)b + MULTI_PREFETCH_BYTES + o, _MM_HINT_T0);
                q6kw_unpack(b, &w);
                __m512 d = _mm512_set1_ps(_cvtsh_ss(b->d));
#pragma GCC unroll 8
                for (size_t r = 0; r < n; r++)
                        acc[r] = q6kw_add(q6kw_isum(&w, x[r].qs + QK_K * i, x[r].nl4_q6k + QK_K / 4 * i), d,
                                        x[r].d + i, acc[r]);
        }
#pragma GCC unroll 8
        for (size_t r = 0; r < n; r++)
                out[r] += _mm512_reduce_add_ps(acc[r]);
}
#endif

static void MFN(qdot_multi_q6_K)(const void *row, const struct kern_xq *x, const struct kern_xqt *xt,
                size_t n, size_t cols, float *out)
{
        (void)xt;
#ifdef MULTI512
        if (kern_k_wide()) {
                MULTI_BY_COUNT(MFN(q6kw_multi_n), n, row, x, cols, out);
                return;
        }
#endif
        MULTI_BY_COUNT(MFN(q6k_multi_n), n, row, x, cols, out);
}

#define KERN_QDOT_MULTI_ENTRIES                                                           \
        [GGML_TYPE_Q4_0] = MFN(qdot_multi_q4_0), [GGML_TYPE_Q5_0] = MFN(qdot_multi_q5_0), \
        [GGML_TYPE_Q8_0] = MFN(qdot_multi_q8_0), [GGML_TYPE_Q4_1] = MFN(qdot_multi_q4_1), \
        [GGML_TYPE_Q5_1] = MFN(qdot_multi_q5_1), [GGML_TYPE_Q4_K] = MFN(qdot_multi_q4_K), \
        [GGML_TYPE_Q5_K] = MFN(qdot_multi_q5_K), [GGML_TYPE_Q6_K] = MFN(qdot_multi_q6_K)
