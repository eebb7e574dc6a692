/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Part of dot-int.h, included there at the AVX-512 VNNI level only (VNNI512): the decode kernels
 * of Q4_0 and Q5_0 (and, further down, of Q4_1 and Q5_1), four blocks (72 bytes for Q4_0) per
 * 512-bit step. The 256-bit kernels spend about twelve instructions on each 18-byte block
 * (unpack, one vpdpbusd, a scale conversion, a broadcast, a multiply, a conversion, a
 * multiply-add), so one Zen 4 core streamed only 15.5 GB/s where it reads 28. Here two loads
 * and one permute put block beta's 16 nibble bytes in 128-bit lane beta, its scale goes to that
 * lane's four floats (four scales converted at once, then one permute), and x comes in the
 * matching grouped layout (kern_xq_group()): about fourteen instructions per four blocks. Q5_0
 * (88 bytes per group) takes the same path with its fifth bits added by two masked adds, the
 * masks taken from its four qh by the permute that gathers its scales. The unpacking of a group
 * is in group32-vnni.h, shared with the multi-row kernels.
 *
 * Full groups of four blocks take the 512-bit path; the blocks past the last full group (a row
 * of 32 * (4 k + r) elements) take the 256-bit one, summed in float after the groups. The rows
 * kernel does per row exactly what the single-row kernel does, so their results are equal bit
 * for bit, as kern_qdot_rows_fn promises. */

/* Q4_0's four f16 scales, each in the four float lanes of its block: scalar loads and one
 * 128-bit conversion. A 512-bit vcvtph2ps of permuted words (sixteen conversions for four
 * values) cost a sixth of the kernel's time on Zen 4 (kernel-bench from L2, one thread: 25.8
 * against 28.4 GB/s). */
static inline __m512 IFN(q4_0_group_d)(const uint8_t *blk)
{
        return g32v_spread4(simd_f16x4_heads(blk, sizeof(struct block_q4_0)));
}

/* acc plus the group at blk times x's group (xlo, xhi: its two vectors, off: minus the sums
 * per lane, dx: its scales), lane 4 beta + j scaled by block beta's two scales. q5: Q5_0
 * (fifth bits added from qh, offset 16) rather than Q4_0 (offset 8). */
static inline __attribute__((always_inline)) __m512 IFN(g32_group)(
                const uint8_t *blk, bool q5, __m512i xlo, __m512i xhi, __m512i off, __m512 dx, __m512 acc)
{
        __m512i lo, hi;
        __m512 dw;

        if (q5) {
                g32v_q5_0_nibbles(blk, &lo, &hi);
                dw = g32v_spread4(simd_f16x4_heads(blk, sizeof(struct block_q5_0)));
                off = _mm512_slli_epi32(off, 4);
        } else {
                g32v_q4_0_nibbles(blk, &lo, &hi);
                dw = IFN(q4_0_group_d)(blk);
                off = _mm512_slli_epi32(off, 3);
        }
        __m512i s = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(off, lo, xlo), hi, xhi);
        return _mm512_fmadd_ps(_mm512_mul_ps(dw, dx), _mm512_cvtepi32_ps(s), acc);
}

/* Blocks first .. nb - 1 of a row, one by one: their products summed in float. */
static inline __attribute__((always_inline)) float IFN(g32_tail)(
                const uint8_t *row, bool q5, const struct kern_xq *x, size_t first, size_t nb)
{
        float sum = 0.0f;

        for (size_t i = first; i < nb; i++) {
                __m256i s, xv = simd_load256(x->qs + 32 * i), nl = simd_load256(x->nl4 + 8 * i);
                uint16_t d;
                if (q5) {
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

/* As g32_group(), for Q5_1 (q5) or Q4_1. */
static inline __attribute__((always_inline)) __m512 IFN(g32m_group)(
                const uint8_t *blk, bool q5, __m512i xlo, __m512i xhi, __m512i off, __m512 dx, __m512 acc)
{
        const __m512i d_idx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
        const __m512i m_idx = _mm512_add_epi32(d_idx, _mm512_set1_epi32(4));
        __m512i lo, hi;
        __m128i dmh;

        if (q5)
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
                const uint8_t *row, bool q5, const struct kern_xq *x, size_t first, size_t nb)
{
        float sum = 0.0f;

        for (size_t i = first; i < nb; i++) {
                __m256i q;
                uint16_t d, m;
                if (q5) {
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

/* Bytes in a group of four blocks. */
static inline size_t IFN(g32_group_bytes)(bool q5, bool min)
{
        return 4 * (q5 ? (min ? sizeof(struct block_q5_1) : sizeof(struct block_q5_0))
                       : (min ? sizeof(struct block_q4_1) : sizeof(struct block_q4_0)));
}

static inline __attribute__((always_inline)) __m512 IFN(g32_any_group)(const uint8_t *blk, bool q5, bool min,
                __m512i xlo, __m512i xhi, __m512i off, __m512 dx, __m512 acc)
{
        return min ? IFN(g32m_group)(blk, q5, xlo, xhi, off, dx, acc)
                   : IFN(g32_group)(blk, q5, xlo, xhi, off, dx, acc);
}

static inline __attribute__((always_inline)) float IFN(g32_any_tail)(
                const uint8_t *row, bool q5, bool min, const struct kern_xq *x, size_t first, size_t nb)
{
        return min ? IFN(g32m_tail)(row, q5, x, first, nb) : IFN(g32_tail)(row, q5, x, first, nb);
}

/* The single-row kernel of all four types: q5 for Q5_0 and Q5_1, min for Q4_1 and Q5_1. The
 * arguments are constants, so each caller gets its own code. */
static inline __attribute__((always_inline)) float IFN(g32_qdot)(
                const void *row, bool q5, bool min, const struct kern_xq *x, size_t n)
{
        const uint8_t *blk = row;
        const size_t gb = IFN(g32_group_bytes)(q5, min);
        size_t nb = n / 32, ng = nb / 4;
        __m512 acc = _mm512_setzero_ps();

        for (size_t g = 0; g < ng; g++) {
                __m512i xlo = _mm512_loadu_si512(x->g_qs + 128 * g),
                        xhi = _mm512_loadu_si512(x->g_qs + 128 * g + 64);
                __m512i off = _mm512_loadu_si512(x->g_off + 16 * g);
                __m512 dx = _mm512_loadu_ps(x->g_d + 16 * g);
                acc = IFN(g32_any_group)(blk + g * gb, q5, min, xlo, xhi, off, dx, acc);
        }
        return _mm512_reduce_add_ps(acc) + IFN(g32_any_tail)(row, q5, min, x, 4 * ng, nb);
}

static float IFN(qdot_q4_0)(const void *row, const struct kern_xq *x, size_t n)
{
        return IFN(g32_qdot)(row, false, false, x, n);
}

static float IFN(qdot_q5_0)(const void *row, const struct kern_xq *x, size_t n)
{
        return IFN(g32_qdot)(row, true, false, x, n);
}

static float IFN(qdot_q4_1)(const void *row, const struct kern_xq *x, size_t n)
{
        return IFN(g32_qdot)(row, false, true, x, n);
}

static float IFN(qdot_q5_1)(const void *row, const struct kern_xq *x, size_t n)
{
        return IFN(g32_qdot)(row, true, true, x, n);
}

/* KERN_QDOT_ROWS rows of any of the four types: x's group loaded once for all, and later rows
 * prefetched as QDOT_ROWS_32 does (see there why). Per row the same work as g32_qdot(). */
static inline __attribute__((always_inline)) void IFN(g32_qdot_rows)(const void *rows, bool q5, bool min,
                size_t rb, const struct kern_xq *x, size_t n, float *out)
{
        const uint8_t *base = rows, *ahead = base + QDOT_ROWS_AHEAD * KERN_QDOT_ROWS * rb;
        const size_t gb = IFN(g32_group_bytes)(q5, min);
        size_t nb = n / 32, ng = nb / 4;
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
#pragma GCC unroll 4
                for (int r = 0; r < KERN_QDOT_ROWS; r++)
                        acc[r] = IFN(g32_any_group)(
                                        base + (size_t)r * rb + g * gb, q5, min, xlo, xhi, off, dx, acc[r]);
        }
        for (int r = 0; r < KERN_QDOT_ROWS; r++)
                out[r] = _mm512_reduce_add_ps(acc[r]) +
                         IFN(g32_any_tail)(base + (size_t)r * rb, q5, min, x, 4 * ng, nb);
}

static void IFN(qdot_rows_q4_0)(const void *rows, size_t rb, const struct kern_xq *x, size_t n, float *out)
{
        IFN(g32_qdot_rows)(rows, false, false, rb, x, n, out);
}

static void IFN(qdot_rows_q5_0)(const void *rows, size_t rb, const struct kern_xq *x, size_t n, float *out)
{
        IFN(g32_qdot_rows)(rows, true, false, rb, x, n, out);
}

static void IFN(qdot_rows_q4_1)(const void *rows, size_t rb, const struct kern_xq *x, size_t n, float *out)
{
        IFN(g32_qdot_rows)(rows, false, true, rb, x, n, out);
}

static void IFN(qdot_rows_q5_1)(const void *rows, size_t rb, const struct kern_xq *x, size_t n, float *out)
{
        IFN(g32_qdot_rows)(rows, true, true, rb, x, n, out);
}
