/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Part of dot-int.h, included there at the AVX-512 VNNI levels only (VNNI512): the decode kernels
 * of Q4_0 and Q5_0 (and, further down, of Q4_1 and Q5_1), four blocks (72 bytes for Q4_0) per
 * 512-bit step. The 256-bit kernels spend about twelve instructions on each 18-byte block
 * (unpack, one vpdpbusd, a scale conversion, a broadcast, a multiply, a conversion, a
 * multiply-add), so one Zen 4 core streamed only 15.5 GB/s where it reads 28. Here two loads
 * and one permute put block beta's 16 nibble bytes in 128-bit lane beta, its scale goes to that
 * lane's four floats (four scales converted at once, then one permute), and x comes in the
 * matching grouped layout (kern_xq_group()): about fourteen instructions per four blocks. Q5_0
 * (88 bytes per group) takes the same path with its fifth bits added by two masked adds. The
 * unpacking of a group is in group32-vnni.h, shared with the multi-row kernels.
 *
 * Q8_0 (136 bytes per group) takes it too, its bytes made unsigned against offsets of 128. Its
 * 256-bit kernel spent about nine instructions on each block (the sign trick's two among them)
 * and was bound by them on the Emerald Rapids class host: kernel-bench -r 910 -c 1152 -m 1 -t 1
 * -x q8 from L2 streamed 21.6 GB/s, this one 31.2; from DRAM on two threads (-c 1152 -t 2),
 * 0.360 against 0.385 ms a matrix (91 against 86 % of the read bandwidth, 3 alternated runs).
 * aid-infer bench -p 0 -n 96 -s 4: Gemma-3-1B Q8_0 25.9-26.7 against 23.5-23.8 tok/s,
 * Llama-3.2-1B Q8_0 21.2-21.4 against 19.0-19.3. Q8_0 has no rows kernel (its four scales a
 * group lie 34 bytes apart, beyond one load's reach for the word permutes of
 * g32v_scales_4rows()); whether one would gain over the single rows is not measured.
 *
 * Full groups of four blocks take the 512-bit path; the blocks past the last full group (a row
 * of 32 * (4 k + r) elements) take the 256-bit one, summed in float after the groups. The rows
 * kernels compute each row's float sums as the single-row kernels do, in the same order, so
 * their results are equal bit for bit, as kern_qdot_rows_fn promises. */

/* The int32 lanes of group g (blk) times x's group (xlo, xhi: its two vectors, off: minus the
 * sums per lane): lane 4 beta + j holds a quarter of block beta's product, its offset included
 * (8 for Q4_0, 16 for Q5_0 with its fifth bits added from qh, 128 for Q8_0 made unsigned).
 * *head: the load the scales of Q4_0 and Q5_0 come from in the rows kernel. */
static inline __attribute__((always_inline)) __m512i IFN(g32_isum)(
                const uint8_t *blk, uint32_t type, __m512i xlo, __m512i xhi, __m512i off, __m512i *head)
{
        __m512i lo, hi;

        if (type == GGML_TYPE_Q5_0) {
                g32v_q5_0_nibbles(blk, &lo, &hi, head);
                off = _mm512_slli_epi32(off, 4);
        } else if (type == GGML_TYPE_Q8_0) {
                g32v_q8_0_bytes(blk, &lo, &hi);
                *head = _mm512_setzero_si512();
                off = _mm512_slli_epi32(off, 7);
        } else {
                g32v_q4_0_nibbles(blk, &lo, &hi, head);
                off = _mm512_slli_epi32(off, 3);
        }
        return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(off, lo, xlo), hi, xhi);
}

/* Q4_0, Q5_0 and Q8_0 scale each block's exact integer product once: acc lane 4 beta + j gets
 * (dw dx) * S with S the block's whole sum. The rows kernel does the same for four rows in one
 * vector (g32_qdot_rows_t()), so a row's result does not depend on which kernel made it.
 *
 * Here, for one row: the four lanes of each block summed (every lane of block beta then holds
 * S), its two scales multiplied in four lanes and spread. */
static inline __attribute__((always_inline)) __m512 IFN(g32_group)(const uint8_t *blk, uint32_t type,
                __m512i xlo, __m512i xhi, __m512i off, __m128 dx4, __m512 acc)
{
        __m512i head;
        __m512i s = IFN(g32_isum)(blk, type, xlo, xhi, off, &head);
        __m128 dw4 = simd_f16x4_heads(blk, kern_block_bytes_32(type));

        s = _mm512_add_epi32(s, _mm512_shuffle_epi32(s, (_MM_PERM_ENUM)0x4e));
        s = _mm512_add_epi32(s, _mm512_shuffle_epi32(s, (_MM_PERM_ENUM)0xb1));
        return _mm512_fmadd_ps(g32v_spread4(_mm_mul_ps(dw4, dx4)), _mm512_cvtepi32_ps(s), acc);
}

/* The sums of a Q4_0, Q5_0 or Q8_0 accumulator over its four blocks, in the order of the rows kernel:
 * lane a of the result is (beta 0 + beta 2) + (beta 1 + beta 3) of lane a of each 128-bit lane. */
static inline __m128 IFN(g32_block_total)(__m512 acc)
{
        __m256 h = _mm256_add_ps(_mm512_castps512_ps256(acc),
                        _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1)));
        return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* Blocks first .. nb - 1 of a row, one by one: their products summed in float. */
static inline __attribute__((always_inline)) float IFN(g32_tail)(
                const uint8_t *row, uint32_t type, const struct kern_xq *x, size_t first, size_t nb)
{
        float sum = 0.0f;

        for (size_t i = first; i < nb; i++) {
                __m256i s, xv = simd_load256(x->qs + 32 * i), nl = simd_load256(x->nl4 + 8 * i);
                uint16_t d;
                if (type == GGML_TYPE_Q8_0) {
                        const struct block_q8_0 *b = (const struct block_q8_0 *)(const void *)row + i;
                        __m256i u = _mm256_xor_si256(simd_load256(b->qs), _mm256_set1_epi8((char)0x80));
                        s = DPBUSD(_mm256_slli_epi32(nl, 7), u, xv);
                        d = b->d;
                } else if (type == GGML_TYPE_Q5_0) {
                        const struct block_q5_0 *b = (const struct block_q5_0 *)(const void *)row + i;
                        s = DPBUSD(_mm256_slli_epi32(nl, 4), IFN(unpack_q5_0)(b), xv);
                        d = b->d;
                } else {
                        const struct block_q4_0 *b = (const struct block_q4_0 *)(const void *)row + i;
                        s = DPBUSD(_mm256_slli_epi32(nl, 3), IFN(unpack_q4_0)(b), xv);
                        d = b->d;
                }
                sum += F16(d) * x->d[i] * (float)simd_hsum_i32(s);
        }
        return sum;
}

/* Q4_1 and Q5_1 (x = d q + m) take the same grouped x. A lane's weights times x's elements sum
 * to d (q . qx) + m (sum of qx), and minus that sum is the lane's g_off, so each lane adds
 * dx (d s - m off): the integer dot product needs no offset, the mins cost one multiply-add.
 * The 256-bit kernel does one block at a time with the min term in scalar floats: from L2 on
 * one Zen 4 core it streamed 13.5 (Q4_1) and 14.2 GB/s (Q5_1), these 23.6 and 19.4. Gathering
 * Q4_1's scales with scalar loads, as Q4_0's are, was slower here (22.4): a permute of the
 * group's first load takes all eight. From DRAM, one thread, the rows kernel (4 rows, with
 * prefetches) streams 24.0-24.9 (Q4_1) and 19.8-20.6 GB/s (Q5_1) where these single-row kernels
 * stream 15.1-15.7 and 13.4-14.0. */

/* As g32_group(), for Q5_1 or Q4_1. */
static inline __attribute__((always_inline)) __m512 IFN(g32m_group)(const uint8_t *blk, uint32_t type,
                __m512i xlo, __m512i xhi, __m512i off, __m512 dx, __m512 acc)
{
        const __m512i d_idx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
        const __m512i m_idx = _mm512_add_epi32(d_idx, _mm512_set1_epi32(4));
        __m512i lo, hi;
        __m128i dmh;

        if (type == GGML_TYPE_Q5_1)
                g32v_q5_1_nibbles(blk, &lo, &hi, &dmh);
        else
                g32v_q4_1_nibbles(blk, &lo, &hi, &dmh);
        __m512 dm = _mm512_castps256_ps512(_mm256_cvtph_ps(dmh));
        __m512i s = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xlo), hi, xhi);
        __m512 t = _mm512_mul_ps(_mm512_permutexvar_ps(d_idx, dm), _mm512_cvtepi32_ps(s));
        t = _mm512_fnmadd_ps(_mm512_permutexvar_ps(m_idx, dm), _mm512_cvtepi32_ps(off), t);
        return _mm512_fmadd_ps(dx, t, acc);
}

/* Blocks first .. nb - 1, one by one, as the 256-bit kernel does them. */
static inline __attribute__((always_inline)) float IFN(g32m_tail)(
                const uint8_t *row, uint32_t type, const struct kern_xq *x, size_t first, size_t nb)
{
        float sum = 0.0f;

        for (size_t i = first; i < nb; i++) {
                __m256i q;
                uint16_t d, m;
                if (type == GGML_TYPE_Q5_1) {
                        const struct block_q5_1 *b = (const struct block_q5_1 *)(const void *)row + i;
                        q = IFN(unpack_q5_1)(b);
                        d = b->d, m = b->m;
                } else {
                        const struct block_q4_1 *b = (const struct block_q4_1 *)(const void *)row + i;
                        q = IFN(unpack_q4_1)(b);
                        d = b->d, m = b->m;
                }
                __m256i s = DPBUSD(_mm256_setzero_si256(), q, simd_load256(x->qs + 32 * i));
                sum += x->d[i] * (F16(d) * (float)simd_hsum_i32(s) + F16(m) * x->fs32[i]);
        }
        return sum;
}

static inline __attribute__((always_inline)) float IFN(g32_any_tail)(
                const uint8_t *row, uint32_t type, const struct kern_xq *x, size_t first, size_t nb)
{
        return kern_has_min_32(type) ? IFN(g32m_tail)(row, type, x, first, nb)
                                     : IFN(g32_tail)(row, type, x, first, nb);
}

/* The single-row kernel of all five types. The type is a constant, so each caller gets its own
 * code. */
static inline __attribute__((always_inline)) float IFN(g32_qdot)(
                const void *row, uint32_t type, const struct kern_xq *x, size_t n)
{
        const uint8_t *blk = row;
        const bool min = kern_has_min_32(type);
        const size_t gb = 4 * kern_block_bytes_32(type);
        size_t nb = n / 32, ng = nb / 4;
        __m512 acc = _mm512_setzero_ps();

        for (size_t g = 0; g < ng; g++) {
                __m512i xlo = _mm512_loadu_si512(x->g_qs + 128 * g),
                        xhi = _mm512_loadu_si512(x->g_qs + 128 * g + 64);
                __m512i off = _mm512_loadu_si512(x->g_off + 16 * g);
                kern_prefetch_ahead(blk + g * gb, gb);
                if (min)
                        acc = IFN(g32m_group)(blk + g * gb, type, xlo, xhi, off,
                                        _mm512_loadu_ps(x->g_d + 16 * g), acc);
                else
                        acc = IFN(g32_group)(
                                        blk + g * gb, type, xlo, xhi, off, _mm_loadu_ps(x->d + 4 * g), acc);
        }
        float sum = min ? _mm512_reduce_add_ps(acc) : _mm_cvtss_f32(IFN(g32_block_total)(acc));
        return sum + IFN(g32_any_tail)(row, type, x, 4 * ng, nb);
}

static float IFN(qdot_q4_0)(const void *row, const struct kern_xq *x, size_t n)
{
        return IFN(g32_qdot)(row, GGML_TYPE_Q4_0, x, n);
}

static float IFN(qdot_q5_0)(const void *row, const struct kern_xq *x, size_t n)
{
        return IFN(g32_qdot)(row, GGML_TYPE_Q5_0, x, n);
}

static float IFN(qdot_q8_0)(const void *row, const struct kern_xq *x, size_t n)
{
        return IFN(g32_qdot)(row, GGML_TYPE_Q8_0, x, n);
}

static float IFN(qdot_q4_1)(const void *row, const struct kern_xq *x, size_t n)
{
        return IFN(g32_qdot)(row, GGML_TYPE_Q4_1, x, n);
}

static float IFN(qdot_q5_1)(const void *row, const struct kern_xq *x, size_t n)
{
        return IFN(g32_qdot)(row, GGML_TYPE_Q5_1, x, n);
}

/* KERN_QDOT_ROWS rows of Q4_1 or Q5_1: x's group loaded once for all, and later rows
 * prefetched as QDOT_ROWS_32 does (see there why). Per row the same work as g32_qdot(). */
static inline __attribute__((always_inline)) void IFN(g32m_qdot_rows)(
                const void *rows, uint32_t type, size_t rb, const struct kern_xq *x, size_t n, float *out)
{
        const uint8_t *base = rows, *ahead = base + QDOT_ROWS_AHEAD * KERN_QDOT_ROWS * rb;
        const size_t gb = 4 * kern_block_bytes_32(type);
        size_t nb = n / 32, ng = nb / 4;
        const bool near = kern_rows_near_wanted();
        __m512 acc[KERN_QDOT_ROWS];

        for (int r = 0; r < KERN_QDOT_ROWS; r++)
                acc[r] = _mm512_setzero_ps();
        for (size_t g = 0; g < ng; g++) {
                __m512i xlo = _mm512_loadu_si512(x->g_qs + 128 * g),
                        xhi = _mm512_loadu_si512(x->g_qs + 128 * g + 64);
                __m512i off = _mm512_loadu_si512(x->g_off + 16 * g);
                __m512 dx = _mm512_loadu_ps(x->g_d + 16 * g);

                /* Unrolled: counting the loop was a tenth of a group's instructions, and the
                 * kernel is bound by its instructions when the data comes from cache (kernel-bench
                 * -r 910 -c 1152 -m 1 -t 1, Q4_0: 28.5 against 27.7 GB/s, medians of 10). */
#pragma GCC unroll 8
                for (size_t o = 0; o < KERN_QDOT_ROWS * gb; o += 64)
                        _mm_prefetch((const char *)ahead + KERN_QDOT_ROWS * gb * g + o, QDOT_ROWS_HINT);
                if (near)
                        kern_prefetch_rows_near(base + g * gb, rb, 2);
#pragma GCC unroll 4
                for (int r = 0; r < KERN_QDOT_ROWS; r++)
                        acc[r] = IFN(g32m_group)(
                                        base + (size_t)r * rb + g * gb, type, xlo, xhi, off, dx, acc[r]);
        }
        for (int r = 0; r < KERN_QDOT_ROWS; r++)
                out[r] = _mm512_reduce_add_ps(acc[r]) +
                         IFN(g32_any_tail)(base + (size_t)r * rb, type, x, 4 * ng, nb);
}

/* KERN_QDOT_ROWS rows of Q4_0 or Q5_0. Each row's integer lanes of a group (lane 4 beta + j) go
 * through a 4 x 4 transpose-and-add within each 128-bit lane, which leaves in lane 4 beta + r
 * row r's whole sum S of block beta. One conversion, one scale and one multiply-add then serve
 * the four rows, where each row took its own (a conversion of its four scales, their spread to
 * 16 lanes, a conversion of its sums and a multiply-add): the kernel is bound by its vector
 * instructions even from L1, and those were the dearest (with the float work taken out
 * altogether it streamed 30 % faster). kernel-bench -r 910 -c 1152 -m 1 -t 1 Q4_0 from L2:
 * 4 % faster (33.8 against 32.4 GB/s, medians of 8 alternated runs of a loop over the rows
 * kernel alone), Q5_0 3 %. The 16 scales come from the four groups' heads by two word permutes
 * (g32v_q4_0_scales_4rows(), g32v_q5_0_scales_4rows()) rather than 16 scalar loads and 24 shifts
 * and ors: Q4_0 7.44 against 7.72 cycles a group and row, Q5_0 10.74 against 11.57 (rows of
 * 1152 from L2, medians of 7 alternated runs). */
static inline __attribute__((always_inline)) void IFN(g32_qdot_rows_t)(
                const void *rows, uint32_t type, size_t rb, const struct kern_xq *x, size_t n, float *out)
{
        const bool q5 = type == GGML_TYPE_Q5_0;
        const uint8_t *base = rows, *ahead = base + QDOT_ROWS_AHEAD * KERN_QDOT_ROWS * rb;
        const size_t gb = 4 * kern_block_bytes_32(type);
        size_t nb = n / 32, ng = nb / 4;
        const bool near = kern_rows_near_wanted();
        __m512 acc = _mm512_setzero_ps();

        for (size_t g = 0; g < ng; g++) {
                const uint8_t *b0 = base + g * gb, *b1 = b0 + rb, *b2 = b1 + rb, *b3 = b2 + rb;
                __m512i xlo = _mm512_loadu_si512(x->g_qs + 128 * g),
                        xhi = _mm512_loadu_si512(x->g_qs + 128 * g + 64);
                __m512i off = _mm512_loadu_si512(x->g_off + 16 * g);

#pragma GCC unroll 8
                for (size_t o = 0; o < KERN_QDOT_ROWS * gb; o += 64)
                        _mm_prefetch((const char *)ahead + KERN_QDOT_ROWS * gb * g + o, QDOT_ROWS_HINT);
                if (near)
                        kern_prefetch_rows_near(b0, rb, 2);
                __m512i h0, h1, h2, h3;
                __m512i s0 = IFN(g32_isum)(b0, type, xlo, xhi, off, &h0),
                        s1 = IFN(g32_isum)(b1, type, xlo, xhi, off, &h1),
                        s2 = IFN(g32_isum)(b2, type, xlo, xhi, off, &h2),
                        s3 = IFN(g32_isum)(b3, type, xlo, xhi, off, &h3);
                __m512i u01 = _mm512_add_epi32(_mm512_unpacklo_epi32(s0, s1), _mm512_unpackhi_epi32(s0, s1));
                __m512i u23 = _mm512_add_epi32(_mm512_unpacklo_epi32(s2, s3), _mm512_unpackhi_epi32(s2, s3));
                __m512i t = _mm512_add_epi32(
                                _mm512_unpacklo_epi64(u01, u23), _mm512_unpackhi_epi64(u01, u23));
                __m512 dw = q5 ? g32v_q5_0_scales_4rows(h0, h1, h2, h3)
                               : g32v_q4_0_scales_4rows(h0, h1, h2, h3);
                acc = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_loadu_ps(x->g_d + 16 * g)),
                                _mm512_cvtepi32_ps(t), acc);
        }
        float total[KERN_QDOT_ROWS];
        _mm_storeu_ps(total, IFN(g32_block_total)(acc));
        for (int r = 0; r < KERN_QDOT_ROWS; r++)
                out[r] = total[r] + IFN(g32_any_tail)(base + (size_t)r * rb, type, x, 4 * ng, nb);
}

static void IFN(qdot_rows_q4_0)(const void *rows, size_t rb, const struct kern_xq *x, size_t n, float *out)
{
        IFN(g32_qdot_rows_t)(rows, GGML_TYPE_Q4_0, rb, x, n, out);
}

static void IFN(qdot_rows_q5_0)(const void *rows, size_t rb, const struct kern_xq *x, size_t n, float *out)
{
        IFN(g32_qdot_rows_t)(rows, GGML_TYPE_Q5_0, rb, x, n, out);
}

static void IFN(qdot_rows_q4_1)(const void *rows, size_t rb, const struct kern_xq *x, size_t n, float *out)
{
        IFN(g32m_qdot_rows)(rows, GGML_TYPE_Q4_1, rb, x, n, out);
}

static void IFN(qdot_rows_q5_1)(const void *rows, size_t rb, const struct kern_xq *x, size_t n, float *out)
{
        IFN(g32m_qdot_rows)(rows, GGML_TYPE_Q5_1, rb, x, n, out);
}
