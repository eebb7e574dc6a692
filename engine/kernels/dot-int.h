/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The integer path for one instruction set, included by dot-avx2.c, dot-avx512.c and
 * dot-avx512-vnni.c: weights times activations quantized to 8 bits (struct kern_xq), as ggml
 * computes decode. Unpacked weights are u8 (q, or q + 128 for Q8_0 without the sign trick) and
 * activations s8, so one u8 x s8 multiply-add does 32 products per 256-bit vector where the f32
 * path does 8; the weights' offsets (-8, -16, -32) and mins multiply the activations' block
 * sums instead of every element. Integer sums are exact and equal the scalar twins'
 * (dot-int-scalar.c); the K types also scale them in the same float order as their twins.
 *
 * Provided by the includer:
 *   DPBUSD(acc, u, s)    int32 lanes of acc plus the sums of 4 adjacent u8 * s8 products
 *   BITS_TO_BYTES(m)     __m256i with byte j 0xff where bit j of the uint32_t m is set
 *   F16(h)               one half to f32
 *   IFN(name)            name with the level's suffix
 *   INT512               (optional) defined where 512-bit kernels may be used
 *   VNNI512              (optional) and 512-bit vpdpbusd / vpdpwssd (AVX512-VNNI)
 *
 * u8 * s8 pair sums in int16 (maddubs) never saturate here: the largest is 2 * 63 * 127
 * (Q6_K) and, for Q8_0 through the sign trick, 2 * 128 * 127. */

/* 16 nibbles of a 32-element block: low ones (elements 0-15) in the low lane, high ones
 * (16-31) in the high lane, as u8. The 16 bytes go to both lanes in one load (vbroadcasti128),
 * and one variable shift moves the high lane's dwords right by 4: two vector instructions and
 * no shuffle, where a shift of the low half and vinserti128 took the shuffle port once a block
 * and row. */
static inline __m256i IFN(nibbles)(const uint8_t *qs)
{
        const __m256i shift = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
        __m256i raw = _mm256_broadcastsi128_si256(simd_load128(qs));

        return _mm256_and_si256(_mm256_srlv_epi32(raw, shift), _mm256_set1_epi8(0xf));
}

/* The sums and the groups of kern_xq_sums() for block b of 32 elements (p: its quants, in
 * order), from the vector at hand: the same integers, in a few vector instructions where the
 * shared scalar loops took about 3 us per 6912 elements. Decode quantizes x before each product
 * on the calling thread while the other threads wait (four times a layer), so this time counts
 * in full. */
static inline void IFN(xq_sums_32)(const struct kern_xq *xq, size_t n, size_t b, __m256i p, float d)
{
        /* Sums of four (u8 ones times s8 quants), then of their int16 pairs. */
        __m256i s4 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), p), _mm256_set1_epi16(1));
        __m128i lo = _mm256_castsi256_si128(s4), hi = _mm256_extracti128_si256(s4, 1);
        __m128i h = _mm_hadd_epi32(lo, hi); /* 0+1, 2+3, 4+5, 6+7 */

        h = _mm_hadd_epi32(h, h); /* elements 0-15, 16-31 */
        _mm256_storeu_si256(
                        (__m256i *)(void *)(xq->nl4 + 8 * b), _mm256_sub_epi32(_mm256_setzero_si256(), s4));
        xq->s16[2 * b] = (int16_t)_mm_cvtsi128_si32(h);
        xq->s16[2 * b + 1] = (int16_t)_mm_extract_epi32(h, 1);
        xq->s32[b] = (int16_t)(xq->s16[2 * b] + xq->s16[2 * b + 1]);
        xq->fs32[b] = (float)xq->s32[b];
        if (b < n / 128 * 4) {
                const size_t g = b / 4, beta = b % 4;
                _mm_storeu_si128((__m128i *)(void *)(xq->g_qs + 128 * g + 16 * beta),
                                _mm256_castsi256_si128(p));
                _mm_storeu_si128((__m128i *)(void *)(xq->g_qs + 128 * g + 64 + 16 * beta),
                                _mm256_extracti128_si256(p, 1));
                _mm_storeu_si128((__m128i *)(void *)(xq->g_off + 16 * g + 4 * beta),
                                _mm_sub_epi32(_mm_setzero_si128(), _mm_add_epi32(lo, hi)));
                _mm_storeu_ps(xq->g_d + 16 * g + 4 * beta, _mm_set1_ps(d));
        }
}

static void IFN(quantize_x)(const float *x, size_t n, size_t block, const struct kern_xq *xq)
{
        const __m256 sign = _mm256_set1_ps(-0.0f);
        const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);

        for (size_t b = 0; b < n / block; b++) {
                const float *xb = x + b * block;
                __m256 mx = _mm256_setzero_ps();

                for (size_t i = 0; i < block; i += 8)
                        mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + i)));
                __m128 m = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
                m = _mm_max_ps(m, _mm_movehl_ps(m, m));
                m = _mm_max_ss(m, _mm_movehdup_ps(m));
                float d = _mm_cvtss_f32(m) / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
                const __m256 vid = _mm256_set1_ps(id);

                xq->d[b] = d;
                for (size_t i = 0; i < block; i += 32) {
                        /* Round to nearest even, as lrintf() in the scalar twin. */
                        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + i), vid));
                        __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + i + 8), vid));
                        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + i + 16), vid));
                        __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + i + 24), vid));
                        /* The packs work per 128-bit lane; the permute restores element order. */
                        __m256i p = _mm256_permutevar8x32_epi32(
                                        _mm256_packs_epi16(_mm256_packs_epi32(i0, i1),
                                                        _mm256_packs_epi32(i2, i3)),
                                        order);
                        _mm256_storeu_si256((__m256i *)(void *)(xq->qs + b * block + i), p);
                        if (block == 32)
                                IFN(xq_sums_32)(xq, n, b, p, d);
                }
        }
        if (block != 32)
                kern_xq_sums(xq, n, block);
}

#ifndef VNNI512 /* at the VNNI levels, four blocks a step: dot-q4-q5-vnni.h */
static float IFN(qdot_q8_0)(const void *row, const struct kern_xq *x, size_t n)
{
        const struct block_q8_0 *b = row;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        size_t nb = n / QK8_0, i = 0;

        /* Sign trick: |w| as u8 (|-128| = 128 still fits) times qx with w's sign. */
#define Q8_0_BLOCK(acc)                                                                                  \
        do {                                                                                             \
                __m256i w = simd_load256(b->qs), xv = simd_load256(x->qs + QK8_0 * i);                   \
                kern_prefetch_ahead(b, sizeof(*b));                                                      \
                __m256i s = DPBUSD(_mm256_setzero_si256(), _mm256_abs_epi8(w), _mm256_sign_epi8(xv, w)); \
                acc = _mm256_fmadd_ps(_mm256_set1_ps(F16(b->d) * x->d[i]), _mm256_cvtepi32_ps(s), acc);  \
                b++, i++;                                                                                \
        } while (0)
        while (i + 2 <= nb) {
                Q8_0_BLOCK(acc0);
                Q8_0_BLOCK(acc1);
        }
        if (i < nb)
                Q8_0_BLOCK(acc0);
#undef Q8_0_BLOCK
        return simd_hsum_f32(_mm256_add_ps(acc0, acc1));
}
#endif

/* Q4_0 and Q5_0: q unsigned; the products start from -offset times the activations' sums
 * per 4 (offset 2^shift), the lanes they land in. Two blocks per step into two accumulators so
 * that the float latency chains interleave. */
#define QDOT_32_OFFSET(name, block_t, QK, shift, unpack)                                                    \
        static float IFN(name)(const void *row, const struct kern_xq *x, size_t n)                          \
        {                                                                                                   \
                const block_t *b = row;                                                                     \
                __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                              \
                size_t nb = n / QK, i = 0;                                                                  \
                for (; i + 2 <= nb; i += 2, b += 2) {                                                       \
                        __m256i s0 = DPBUSD(_mm256_slli_epi32(simd_load256(x->nl4 + QK / 4 * i), shift),    \
                                        unpack(b), simd_load256(x->qs + QK * i));                           \
                        __m256i s1 = DPBUSD(                                                                \
                                        _mm256_slli_epi32(simd_load256(x->nl4 + QK / 4 * (i + 1)), shift),  \
                                        unpack(b + 1), simd_load256(x->qs + QK * (i + 1)));                 \
                        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(F16(b[0].d) * x->d[i]),                       \
                                        _mm256_cvtepi32_ps(s0), acc0);                                      \
                        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(F16(b[1].d) * x->d[i + 1]),                   \
                                        _mm256_cvtepi32_ps(s1), acc1);                                      \
                }                                                                                           \
                if (i < nb) {                                                                               \
                        __m256i s0 = DPBUSD(_mm256_slli_epi32(simd_load256(x->nl4 + QK / 4 * i), shift),    \
                                        unpack(b), simd_load256(x->qs + QK * i));                           \
                        acc0 = _mm256_fmadd_ps(                                                             \
                                        _mm256_set1_ps(F16(b->d) * x->d[i]), _mm256_cvtepi32_ps(s0), acc0); \
                }                                                                                           \
                return simd_hsum_f32(_mm256_add_ps(acc0, acc1));                                            \
        }

/* Q4_1 and Q5_1: q unsigned, the min times the block's sum of qx. Even blocks go to acc0 and
 * min0, odd ones to acc1 and min1; the min term is one fused multiply-add a block, as each
 * lane of the rows kernel's (QDOT_ROWS_32M) does it, so that the two agree bit for bit. */
#define QDOT_32_MIN_BLOCK(unpack, QK, acc, min)                                                      \
        do {                                                                                         \
                __m256i s = DPBUSD(_mm256_setzero_si256(), unpack(b), simd_load256(x->qs + QK * i)); \
                float dx = x->d[i];                                                                  \
                acc = _mm256_fmadd_ps(_mm256_set1_ps(F16(b->d) * dx), _mm256_cvtepi32_ps(s), acc);   \
                min = _mm_fmadd_ss(_mm_set_ss(F16(b->m) * dx), _mm_set_ss(x->fs32[i]), min);         \
                b++, i++;                                                                            \
        } while (0)
#define QDOT_32_MIN(name, block_t, QK, unpack)                                                           \
        static float IFN(name)(const void *row, const struct kern_xq *x, size_t n)                       \
        {                                                                                                \
                const block_t *b = row;                                                                  \
                __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                           \
                __m128 min0 = _mm_setzero_ps(), min1 = _mm_setzero_ps();                                 \
                size_t nb = n / QK, i = 0;                                                               \
                while (i + 2 <= nb) {                                                                    \
                        QDOT_32_MIN_BLOCK(unpack, QK, acc0, min0);                                       \
                        QDOT_32_MIN_BLOCK(unpack, QK, acc1, min1);                                       \
                }                                                                                        \
                if (i < nb)                                                                              \
                        QDOT_32_MIN_BLOCK(unpack, QK, acc0, min0);                                       \
                return simd_hsum_f32(_mm256_add_ps(acc0, acc1)) + _mm_cvtss_f32(_mm_add_ss(min0, min1)); \
        }

static inline __m256i IFN(unpack_q4_0)(const struct block_q4_0 *b)
{
        return IFN(nibbles)(b->qs);
}

static inline __m256i IFN(unpack_q4_1)(const struct block_q4_1 *b)
{
        return IFN(nibbles)(b->qs);
}

/* The fifth bits: bit j of qh is bit 4 of element j, and byte j of the vector is element j.
 * AVX-512BW adds 16 to the bytes qh selects in one masked add (bit 4 of a nibble is clear, so
 * add is or), where AVX2 spreads the bits to bytes, masks and ors (3 instructions more). */
static inline __m256i IFN(q5_or_high)(__m256i q, const uint8_t qh[4])
{
        uint32_t m;

        memcpy(&m, qh, sizeof(m));
#ifdef INT512
        return _mm256_mask_add_epi8(q, (__mmask32)m, q, _mm256_set1_epi8(0x10));
#else
        return _mm256_or_si256(q, _mm256_and_si256(BITS_TO_BYTES(m), _mm256_set1_epi8(0x10)));
#endif
}

static inline __m256i IFN(unpack_q5_0)(const struct block_q5_0 *b)
{
        return IFN(q5_or_high)(IFN(nibbles)(b->qs), b->qh);
}

static inline __m256i IFN(unpack_q5_1)(const struct block_q5_1 *b)
{
        return IFN(q5_or_high)(IFN(nibbles)(b->qs), b->qh);
}

#ifndef VNNI512
QDOT_32_OFFSET(qdot_q4_0, struct block_q4_0, QK4_0, 3, IFN(unpack_q4_0))
QDOT_32_OFFSET(qdot_q5_0, struct block_q5_0, QK5_0, 4, IFN(unpack_q5_0))
#endif

/* KERN_QDOT_ROWS rows at once (kern_qdot_rows_fn) for decode: the single-row kernels are
 * compute-bound on short rows (one core streamed 12-14 GB/s of Q4_0 from DRAM or cache alike,
 * Gemma-3-1B's rows are 1152 wide), so x's vectors, offsets and scale are loaded once per block
 * for all rows. Per row the block's work and the order of its float sums are the single-row
 * kernel's (even blocks into acc0, odd into acc1, one hsum): each out[r] is that kernel's
 * result bit for bit. ROW_DOT(b, xv, off) gives a block's exact int32 lanes.
 *
 * The hardware prefetchers see KERN_QDOT_ROWS short streams per group (10-36 cache lines a
 * row) and fall behind: without help 4 rows streamed 6 GB/s from DRAM against 12 for one row at
 * a time, though 25% faster from cache. So each step prefetches the same share of the group
 * QDOT_ROWS_AHEAD groups on (groups are contiguous; past the matrix's end prefetches are
 * harmless). Not for Q8_0: on Zen 4 its single-row kernel already read at one core's bandwidth
 * (19-22 GB/s), and 4 rows were no faster (15-22). The single-row kernels prefetch on their own
 * where the CPU needs it (kern_prefetch_ahead(): on Intel's Xeons, not on Zen 4), and there the
 * rows kernels also take each row's next lines into L1 (kern_prefetch_rows_near()).
 *
 * The prefetches go to L2 (QDOT_ROWS_HINT), not L1: a core has few L1 miss buffers, and
 * prefetches into L1 held them while the kernel's own loads waited. On Zen 4, Llama-3.2-1B Q4_0
 * decode on one thread streamed 17-20 GB/s with T0 prefetches 2 groups on, 23-27 with T1 at 3,
 * 4 or 8 groups on (or T2 at 4), and on two threads 41-45 GB/s where the host's read probes
 * gave 53-59 (T0: at most 37). */
#define QDOT_ROWS_AHEAD 4
#define QDOT_ROWS_HINT  _MM_HINT_T1
static_assert(KERN_QDOT_ROWS == 4, "QDOT_ROWS_32 spells out 4 rows");
/* Row r of the step's four: block i's exact int32 lanes, scaled by scale[r] (see below), into
 * the accumulator acc ## r. The accumulators are eight scalars, not arrays: GCC kept arrays in
 * memory, and with the scales stored in the loop it then stored every accumulator too. */
#define QDOT_ROWS_32_ROW(block_t, ROW_DOT, acc, i, r)                                    \
        do {                                                                             \
                const block_t *b = (const block_t *)(const void *)(base + (r)*rb) + (i); \
                __m256 s = _mm256_cvtepi32_ps(ROW_DOT(b, xv, off));                      \
                acc##r = _mm256_fmadd_ps(_mm256_broadcast_ss(&scale[r]), s, acc##r);     \
        } while (0)
/* Blocks i and i + 1 of the four rows: their share of the rows QDOT_ROWS_AHEAD groups on into
 * L2, and (near) each row's line KERN_NEAR_BYTES on into L1. Once for the two blocks: a block
 * a row is 18 to 24 bytes, and prefetching for each issued the same lines again. */
#define QDOT_ROWS_32_PREFETCH(block_t, i)                                                              \
        do {                                                                                           \
                for (size_t o = 0; o < 2 * KERN_QDOT_ROWS * sizeof(block_t); o += 64)                  \
                        _mm_prefetch((const char *)ahead + KERN_QDOT_ROWS * sizeof(block_t) * (i) + o, \
                                        QDOT_ROWS_HINT);                                               \
                if (near)                                                                              \
                        kern_prefetch_rows_near((const block_t *)(const void *)base + (i), rb, 1);     \
        } while (0)
/* The four rows' block scales are converted together (simd_f16x4_heads(): scalar loads, one
 * 128-bit conversion), times x's, and each row broadcasts its own from memory, a load: per row
 * and block, a word broadcast and a conversion took the shuffle port twice. Each lane's float
 * is F16(d) * dx, as the single-row kernel's. With IFN(nibbles)' single shift, a block and row
 * went from twelve vector instructions to seven (five with AVX-VNNI). On the Emerald Rapids
 * class host, kernel-bench -r 910 -c 1152 -m 1 -t 1 -x q8 -l avx2 from L2 (3 alternated runs):
 * Q4_0 11.2 -> 14.7 GB/s (-V 0), 13.6 -> 15.8 (-V 1); Q5_0 9.8 -> 12.1, 11.4 -> 14.2; from
 * DRAM on two threads (-r 6912) Q4_0 20.2 -> 22.6, Q5_0 17.3 -> 20.7. A permute from the
 * register instead of the broadcast from memory: 13.7 (-V 0) and 16.7 (-V 1) for Q4_0. */
#define QDOT_ROWS_32_STEP(block_t, QK, ROW_DOT, OFF, acc, i)                                        \
        do {                                                                                        \
                __m256i xv = simd_load256(x->qs + QK * (i));                                        \
                __m256i off = OFF(i);                                                               \
                _mm_storeu_ps(scale, _mm_mul_ps(simd_f16x4_heads(base + sizeof(block_t) * (i), rb), \
                                                     _mm_set1_ps(x->d[i])));                        \
                QDOT_ROWS_32_ROW(block_t, ROW_DOT, acc, i, 0);                                      \
                QDOT_ROWS_32_ROW(block_t, ROW_DOT, acc, i, 1);                                      \
                QDOT_ROWS_32_ROW(block_t, ROW_DOT, acc, i, 2);                                      \
                QDOT_ROWS_32_ROW(block_t, ROW_DOT, acc, i, 3);                                      \
        } while (0)
#define QDOT_ROWS_32(name, block_t, QK, ROW_DOT, OFF)                                                     \
        static void IFN(name)(const void *rows, size_t rb, const struct kern_xq *x, size_t n, float *out) \
        {                                                                                                 \
                const uint8_t *base = rows, *ahead = base + QDOT_ROWS_AHEAD * KERN_QDOT_ROWS * rb;        \
                const bool near = kern_rows_near_wanted();                                                \
                float scale[KERN_QDOT_ROWS];                                                              \
                __m256 acc00 = _mm256_setzero_ps(), acc01 = acc00, acc02 = acc00, acc03 = acc00;          \
                __m256 acc10 = acc00, acc11 = acc00, acc12 = acc00, acc13 = acc00;                        \
                size_t nb = n / QK, i = 0;                                                                \
                for (; i + 2 <= nb; i += 2) {                                                             \
                        QDOT_ROWS_32_PREFETCH(block_t, i);                                                \
                        QDOT_ROWS_32_STEP(block_t, QK, ROW_DOT, OFF, acc0, i);                            \
                        QDOT_ROWS_32_STEP(block_t, QK, ROW_DOT, OFF, acc1, i + 1);                        \
                }                                                                                         \
                if (i < nb) {                                                                             \
                        QDOT_ROWS_32_PREFETCH(block_t, i);                                                \
                        QDOT_ROWS_32_STEP(block_t, QK, ROW_DOT, OFF, acc0, i);                            \
                }                                                                                         \
                out[0] = simd_hsum_f32(_mm256_add_ps(acc00, acc10));                                      \
                out[1] = simd_hsum_f32(_mm256_add_ps(acc01, acc11));                                      \
                out[2] = simd_hsum_f32(_mm256_add_ps(acc02, acc12));                                      \
                out[3] = simd_hsum_f32(_mm256_add_ps(acc03, acc13));                                      \
        }

/* Q4_1 and Q5_1, four rows: as QDOT_ROWS_32, with each row's d and m converted together
 * (simd_f16x4x2_dm()) and the min terms of the four rows in the lanes of one vector (min0 for
 * even blocks, min1 for odd ones, as in the single-row kernel). Below the VNNI levels they had
 * none, and one row at a time streamed half of what Q4_0 did: kernel-bench -r 6912 -c 1152 -x
 * q8 -l avx2 -V 0 from DRAM on two threads, Q4_1 11.2 -> 21.7 GB/s, Q5_1 10.9 -> 20.8 (-l
 * avx512: 10.7 -> 20.4-21.6); Gemma-3-1B Q5_K_M decode there (its 1152-wide rows are Q5_1),
 * aid-infer bench --level avx2 --avx-vnni 0: 17.8-18.8 -> 25.4-25.8 tok/s. */
#define QDOT_ROWS_32M_STEP(block_t, QK, ROW_DOT, acc, min, i)                                   \
        do {                                                                                    \
                __m256i xv = simd_load256(x->qs + QK * (i));                                    \
                __m256 dm = _mm256_mul_ps(simd_f16x4x2_dm(base + sizeof(block_t) * (i), rb),    \
                                _mm256_set1_ps(x->d[i]));                                       \
                _mm_storeu_ps(scale, _mm256_castps256_ps128(dm));                               \
                QDOT_ROWS_32_ROW(block_t, ROW_DOT, acc, i, 0);                                  \
                QDOT_ROWS_32_ROW(block_t, ROW_DOT, acc, i, 1);                                  \
                QDOT_ROWS_32_ROW(block_t, ROW_DOT, acc, i, 2);                                  \
                QDOT_ROWS_32_ROW(block_t, ROW_DOT, acc, i, 3);                                  \
                min = _mm_fmadd_ps(_mm256_extractf128_ps(dm, 1), _mm_set1_ps(x->fs32[i]), min); \
        } while (0)
#define QDOT_ROWS_32M(name, block_t, QK, ROW_DOT)                                                         \
        static void IFN(name)(const void *rows, size_t rb, const struct kern_xq *x, size_t n, float *out) \
        {                                                                                                 \
                const uint8_t *base = rows, *ahead = base + QDOT_ROWS_AHEAD * KERN_QDOT_ROWS * rb;        \
                const bool near = kern_rows_near_wanted();                                                \
                float scale[KERN_QDOT_ROWS], mins[KERN_QDOT_ROWS];                                        \
                __m256 acc00 = _mm256_setzero_ps(), acc01 = acc00, acc02 = acc00, acc03 = acc00;          \
                __m256 acc10 = acc00, acc11 = acc00, acc12 = acc00, acc13 = acc00;                        \
                __m128 min0 = _mm_setzero_ps(), min1 = min0;                                              \
                size_t nb = n / QK, i = 0;                                                                \
                for (; i + 2 <= nb; i += 2) {                                                             \
                        QDOT_ROWS_32_PREFETCH(block_t, i);                                                \
                        QDOT_ROWS_32M_STEP(block_t, QK, ROW_DOT, acc0, min0, i);                          \
                        QDOT_ROWS_32M_STEP(block_t, QK, ROW_DOT, acc1, min1, i + 1);                      \
                }                                                                                         \
                if (i < nb) {                                                                             \
                        QDOT_ROWS_32_PREFETCH(block_t, i);                                                \
                        QDOT_ROWS_32M_STEP(block_t, QK, ROW_DOT, acc0, min0, i);                          \
                }                                                                                         \
                _mm_storeu_ps(mins, _mm_add_ps(min0, min1));                                              \
                out[0] = simd_hsum_f32(_mm256_add_ps(acc00, acc10)) + mins[0];                            \
                out[1] = simd_hsum_f32(_mm256_add_ps(acc01, acc11)) + mins[1];                            \
                out[2] = simd_hsum_f32(_mm256_add_ps(acc02, acc12)) + mins[2];                            \
                out[3] = simd_hsum_f32(_mm256_add_ps(acc03, acc13)) + mins[3];                            \
        }

#define Q4_0_OFF(i)          _mm256_slli_epi32(simd_load256(x->nl4 + QK4_0 / 4 * (i)), 3)
#define Q5_0_OFF(i)          _mm256_slli_epi32(simd_load256(x->nl4 + QK5_0 / 4 * (i)), 4)
#define Q4_0_DOT(b, xv, off) DPBUSD(off, IFN(unpack_q4_0)(b), xv)
#define Q5_0_DOT(b, xv, off) DPBUSD(off, IFN(unpack_q5_0)(b), xv)

#define Q4_1_DOT(b, xv, off) DPBUSD(_mm256_setzero_si256(), IFN(unpack_q4_1)(b), xv)
#define Q5_1_DOT(b, xv, off) DPBUSD(_mm256_setzero_si256(), IFN(unpack_q5_1)(b), xv)

#ifdef VNNI512
#include "group32-vnni.h"

#include "dot-q4-q5-vnni.h"
#else
QDOT_ROWS_32(qdot_rows_q4_0, struct block_q4_0, QK4_0, Q4_0_DOT, Q4_0_OFF)
QDOT_ROWS_32(qdot_rows_q5_0, struct block_q5_0, QK5_0, Q5_0_DOT, Q5_0_OFF)
QDOT_ROWS_32M(qdot_rows_q4_1, struct block_q4_1, QK4_1, Q4_1_DOT)
QDOT_ROWS_32M(qdot_rows_q5_1, struct block_q5_1, QK5_1, Q5_1_DOT)
#endif
#undef Q4_0_OFF
#undef Q5_0_OFF
#undef Q4_0_DOT
#undef Q5_0_DOT
#undef Q4_1_DOT
#undef Q5_1_DOT

#define KERN_QDOT_ROWS_TABLE_ENTRIES                                                    \
        [GGML_TYPE_Q4_0] = IFN(qdot_rows_q4_0), [GGML_TYPE_Q5_0] = IFN(qdot_rows_q5_0), \
        [GGML_TYPE_Q4_1] = IFN(qdot_rows_q4_1), [GGML_TYPE_Q5_1] = IFN(qdot_rows_q5_1)
#ifndef VNNI512
QDOT_32_MIN(qdot_q4_1, struct block_q4_1, QK4_1, IFN(unpack_q4_1))
QDOT_32_MIN(qdot_q5_1, struct block_q5_1, QK5_1, IFN(unpack_q5_1))
#endif

/* The 16-bit scale j of a vector holding 8 of them in both lanes, broadcast: shuffle control
 * bytes (2j, 2j + 1) repeated. */
static inline __m256i IFN(word_ctrl)(int j)
{
        return _mm256_set1_epi16((short)(2 * j | (2 * j + 1) << 8));
}

/* Q4_K and Q5_K: the min term from the 8 mins and the activations' sums per 32. */
static inline int32_t IFN(k4_mins)(__m128i m, const int16_t *s32)
{
        return simd_hsum_i32x4(_mm_madd_epi16(_mm_cvtepu8_epi16(m), simd_load128(s32)));
}

/* Q4_K's and Q5_K's kernels with vpdpbusd on 256-bit vectors (dot-q4k-vnni.h), where there is
 * one: at the AVX-512 VNNI levels, and at the AVX2 level with AVX-VNNI. */
#if defined(VNNI512) || defined(KERN_AVX_VNNI)
#define K4_VNNI256
#endif

#if defined(INT512) && !defined(VNNI512)
/* 512 bits: the 32 bytes of one 64-element chunk give its low nibbles (sub-block 2j, the first
 * 32 activations) and high nibbles (2j + 1, the next 32) as one vector, in activation order. */
static float IFN(qdot_q4_K)(const void *row, const struct kern_xq *x, size_t n)
{
        const struct block_q4_K *b = row;
        const __m512i m4 = _mm512_set1_epi8(0xf);
        float sum = 0.0f;

        for (size_t i = 0; i < n / QK_K; i++, b++) {
                const int8_t *qx = x->qs + QK_K * i;

                kern_prefetch_ahead(b, sizeof(*b));
                __m128i sc, m;
                __m512i acc = _mm512_setzero_si512();

                simd_k4_unpack(b->scales, &sc, &m);
                __m512i scv = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(sc));
                for (int j = 0; j < QK_K / 64; j++) {
                        __m256i q = simd_load256(b->qs + 32 * j);
                        __m512i v = _mm512_and_si512(_mm512_inserti64x4(_mm512_castsi256_si512(q),
                                                                     _mm256_srli_epi16(q, 4), 1),
                                        m4);
                        /* Scale word 2j in the low half, 2j + 1 in the high half. */
                        __m512i ctrl = _mm512_inserti64x4(_mm512_castsi256_si512(IFN(word_ctrl)(2 * j)),
                                        IFN(word_ctrl)(2 * j + 1), 1);
                        __m512i p = _mm512_maddubs_epi16(v, _mm512_loadu_si512(qx + 64 * j));
                        acc = _mm512_add_epi32(acc, _mm512_madd_epi16(p, _mm512_shuffle_epi8(scv, ctrl)));
                }
                int32_t isum = _mm512_reduce_add_epi32(acc);
                int32_t imin = IFN(k4_mins)(m, x->s32 + QK_K / 32 * i);
                float dx = x->d[i];
                sum += F16(b->d) * dx * (float)isum - F16(b->dmin) * dx * (float)imin;
        }
        return sum;
}
#elif !defined(K4_VNNI256)
static float IFN(qdot_q4_K)(const void *row, const struct kern_xq *x, size_t n)
{
        const struct block_q4_K *b = row;
        const __m256i m4 = _mm256_set1_epi8(0xf);
        float sum = 0.0f;

        for (size_t i = 0; i < n / QK_K; i++, b++) {
                const int8_t *qx = x->qs + QK_K * i;

                kern_prefetch_ahead(b, sizeof(*b));
                __m128i sc, m;
                __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();

                simd_k4_unpack(b->scales, &sc, &m);
                __m256i scv = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sc));
                for (int j = 0; j < QK_K / 64; j++) {
                        __m256i q = simd_load256(b->qs + 32 * j);
                        __m256i lo = _mm256_and_si256(q, m4),
                                hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                        acc0 = _mm256_add_epi32(acc0,
                                        simd_scaled_dot(lo, qx + 64 * j,
                                                        _mm256_shuffle_epi8(scv, IFN(word_ctrl)(2 * j))));
                        acc1 = _mm256_add_epi32(
                                        acc1, simd_scaled_dot(hi, qx + 64 * j + 32,
                                                              _mm256_shuffle_epi8(scv,
                                                                              IFN(word_ctrl)(2 * j + 1))));
                }
                int32_t isum = simd_hsum_i32(_mm256_add_epi32(acc0, acc1));
                int32_t imin = IFN(k4_mins)(m, x->s32 + QK_K / 32 * i);
                float dx = x->d[i];
                sum += F16(b->d) * dx * (float)isum - F16(b->dmin) * dx * (float)imin;
        }
        return sum;
}

#endif

#ifdef K4_VNNI256
#include "dot-q4k-vnni.h" /* Q4_K's and Q5_K's kernels */
#else
static float IFN(qdot_q5_K)(const void *row, const struct kern_xq *x, size_t n)
{
        const struct block_q5_K *b = row;
        float sum = 0.0f;

        for (size_t i = 0; i < n / QK_K; i++, b++) {
                const int8_t *qx = x->qs + QK_K * i;

                kern_prefetch_ahead(b, sizeof(*b));
                __m128i sc, m;
                __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();

                simd_k4_unpack(b->scales, &sc, &m);
                __m256i scv = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sc));
                __m256i h = simd_load256(b->qh);
                for (int j = 0; j < QK_K / 64; j++) {
                        __m256i lo, hi;
                        simd_q5k_chunk(simd_load256(b->qs + 32 * j), &h, &lo, &hi);
                        acc0 = _mm256_add_epi32(acc0,
                                        simd_scaled_dot(lo, qx + 64 * j,
                                                        _mm256_shuffle_epi8(scv, IFN(word_ctrl)(2 * j))));
                        acc1 = _mm256_add_epi32(
                                        acc1, simd_scaled_dot(hi, qx + 64 * j + 32,
                                                              _mm256_shuffle_epi8(scv,
                                                                              IFN(word_ctrl)(2 * j + 1))));
                }
                int32_t isum = simd_hsum_i32(_mm256_add_epi32(acc0, acc1));
                int32_t imin = IFN(k4_mins)(m, x->s32 + QK_K / 32 * i);
                float dx = x->d[i];
                sum += F16(b->d) * dx * (float)isum - F16(b->dmin) * dx * (float)imin;
        }
        return sum;
}
#endif

#ifdef VNNI512
#include "dot-q6k-vnni.h"

/* Q6_K on 512-bit vectors (dot-q6k-vnni.h). */
static float IFN(qdot_q6_K_wide)(const struct block_q6_K *b, const struct kern_xq *x, size_t n)
{
        __m512 acc = _mm512_setzero_ps();

        for (size_t i = 0; i < n / QK_K; i++, b++) {
                struct q6kw_w w;

                kern_prefetch_ahead(b, sizeof(*b));
                q6kw_unpack(b, &w);
                acc = q6kw_add(q6kw_isum(&w, x->qs + QK_K * i, x->nl4_q6k + QK_K / 4 * i),
                                _mm512_set1_ps(F16(b->d)), x->d + i, acc);
        }
        return _mm512_reduce_add_ps(acc);
}
#endif

static float IFN(qdot_q6_K)(const void *row, const struct kern_xq *x, size_t n)
{
        const struct block_q6_K *b = row;
        const __m256i m4 = _mm256_set1_epi8(0xf), m2 = _mm256_set1_epi8(0x30);
        /* The 16 scales as int16 with the even sub-blocks in the low lane and the odd ones in
         * the high lane: the 32 elements of one vector span sub-blocks 2p (low lane) and
         * 2p + 1 (high lane), so one in-lane shuffle gives both scales. */
        const __m128i split = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
        float sum = 0.0f;

#ifdef VNNI512
        if (kern_k_wide())
                return IFN(qdot_q6_K_wide)(b, x, n);
#endif
        for (size_t i = 0; i < n / QK_K; i++, b++) {
                const int8_t *qx = x->qs + QK_K * i;

                kern_prefetch_ahead(b, sizeof(*b));
                __m128i sc8 = simd_load128(b->scales);
                __m256i sc = _mm256_cvtepi8_epi16(sc8);
                __m256i scv = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, split));
                __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();

                for (int h = 0; h < 2; h++) {
                        const uint8_t *ql = b->ql + 64 * h;
                        const int8_t *xh = qx + 128 * h;
                        __m256i a = simd_load256(ql), c = simd_load256(ql + 32),
                                hb = simd_load256(b->qh + 32 * h);
                        /* Two high bits per element: bits 0-1, 2-3, 4-5, 6-7 of qh to bits 4-5. */
                        __m256i q1 = _mm256_or_si256(_mm256_and_si256(a, m4),
                                        _mm256_and_si256(_mm256_slli_epi16(hb, 4), m2));
                        __m256i q2 = _mm256_or_si256(_mm256_and_si256(c, m4),
                                        _mm256_and_si256(_mm256_slli_epi16(hb, 2), m2));
                        __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4),
                                        _mm256_and_si256(hb, m2));
                        __m256i q4 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(c, 4), m4),
                                        _mm256_and_si256(_mm256_srli_epi16(hb, 2), m2));
                        int p = 4 * h;
                        acc0 = _mm256_add_epi32(
                                        acc0, simd_scaled_dot(q1, xh,
                                                              _mm256_shuffle_epi8(scv, IFN(word_ctrl)(p))));
                        acc1 = _mm256_add_epi32(acc1,
                                        simd_scaled_dot(q2, xh + 32,
                                                        _mm256_shuffle_epi8(scv, IFN(word_ctrl)(p + 1))));
                        acc0 = _mm256_add_epi32(acc0,
                                        simd_scaled_dot(q3, xh + 64,
                                                        _mm256_shuffle_epi8(scv, IFN(word_ctrl)(p + 2))));
                        acc1 = _mm256_add_epi32(acc1,
                                        simd_scaled_dot(q4, xh + 96,
                                                        _mm256_shuffle_epi8(scv, IFN(word_ctrl)(p + 3))));
                }
                /* The -32 offset: 32 * sum_k sc[k] * (sum of qx over sub-block k). */
                __m256i off = _mm256_madd_epi16(sc, simd_load256(x->s16 + QK_K / 16 * i));
                int32_t isum = simd_hsum_i32(
                                _mm256_sub_epi32(_mm256_add_epi32(acc0, acc1), _mm256_slli_epi32(off, 5)));
                sum += F16(b->d) * x->d[i] * (float)isum;
        }
        return sum;
}

#define KERN_QDOT_TABLE_ENTRIES                                               \
        [GGML_TYPE_Q8_0] = IFN(qdot_q8_0), [GGML_TYPE_Q4_0] = IFN(qdot_q4_0), \
        [GGML_TYPE_Q4_1] = IFN(qdot_q4_1), [GGML_TYPE_Q5_0] = IFN(qdot_q5_0), \
        [GGML_TYPE_Q5_1] = IFN(qdot_q5_1), [GGML_TYPE_Q4_K] = IFN(qdot_q4_K), \
        [GGML_TYPE_Q5_K] = IFN(qdot_q5_K), [GGML_TYPE_Q6_K] = IFN(qdot_q6_K)
