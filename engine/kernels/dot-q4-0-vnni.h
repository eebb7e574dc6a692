/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Part of dot-int.h, included there at the AVX-512 VNNI level only (VNNI512): Q4_0's decode
 * kernels, four blocks (72 bytes) per 512-bit step. The 256-bit kernels spend about twelve
 * instructions on each 18-byte block (unpack, one vpdpbusd, a scale conversion, a broadcast, a
 * multiply, a conversion, a multiply-add), so one Zen 4 core streamed only 15.5 GB/s where it
 * reads 28. Here two loads and one word permute put block beta's 16 nibble bytes in 128-bit lane
 * beta, one more permute its scale in that lane's four floats, and x comes in the matching
 * grouped layout (kern_xq_group()): about fourteen instructions per four blocks.
 *
 * Full groups of four blocks take the 512-bit path; the blocks past the last full group (a row
 * of 32 * (4 k + r) elements) take the 256-bit one, summed in float after the groups. The rows
 * kernel does per row exactly what the single-row kernel does, so their results are equal bit
 * for bit, as kern_qdot_rows_fn promises. */

/* Word k of the group's nibbles: block k / 8 holds its 16 bytes at bytes 18 beta + 2, words
 * 9 beta + 1 .. 9 beta + 8 of the group; from a load at the group (words 0-31) and one 8 bytes on
 * (its words 28-31 are the group's 32-35, indices 60-63 of the pair). Staying inside the group's
 * 72 bytes, the loads never read past a row's end. */
static inline __m512i IFN(q4_0_group_qs_idx)(void)
{
        return _mm512_set_epi16(63, 62, 61, 60, 31, 30, 29, 28, 26, 25, 24, 23, 22, 21, 20, 19, 17, 16, 15,
                        14, 13, 12, 11, 10, 8, 7, 6, 5, 4, 3, 2, 1);
}

/* The four blocks' f16 scales (words 0, 9, 18, 27), each in four consecutive words. */
static inline __m512i IFN(q4_0_group_d_idx)(void)
{
        return _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 27, 27, 27, 27, 18, 18, 18,
                        18, 9, 9, 9, 9, 0, 0, 0, 0);
}

/* acc plus the group at blk times x's group (xlo, xhi: its two vectors, off: -8 times the sums
 * per lane, dx: its scales), lane 4 beta + j scaled by block beta's two scales. */
static inline __attribute__((always_inline)) __m512 IFN(q4_0_group)(
                const uint8_t *blk, __m512i xlo, __m512i xhi, __m512i off, __m512 dx, __m512 acc)
{
        const __m512i m4 = _mm512_set1_epi8(0xf);
        __m512i a = _mm512_loadu_si512(blk), b = _mm512_loadu_si512(blk + 8);
        __m512i q = _mm512_permutex2var_epi16(a, IFN(q4_0_group_qs_idx)(), b);
        __m512 dw = _mm512_cvtph_ps(
                        _mm512_castsi512_si256(_mm512_permutexvar_epi16(IFN(q4_0_group_d_idx)(), a)));
        __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        __m512i s = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(off, lo, xlo), hi, xhi);
        return _mm512_fmadd_ps(_mm512_mul_ps(dw, dx), _mm512_cvtepi32_ps(s), acc);
}

/* Blocks first .. nb - 1 of a row, one by one: their products summed in float. */
static inline float IFN(q4_0_tail)(
                const struct block_q4_0 *b, const struct kern_xq *x, size_t first, size_t nb)
{
        float sum = 0.0f;

        for (size_t i = first; i < nb; i++) {
                __m256i s = DPBUSD(_mm256_slli_epi32(simd_load256(x->nl4 + QK4_0 / 4 * i), 3),
                                IFN(unpack_q4_0)(b + i), simd_load256(x->qs + QK4_0 * i));
                sum += F16(b[i].d) * x->d[i] * (float)simd_hsum_i32(s);
        }
        return sum;
}

#define Q4_0_GROUP_BYTES (4 * sizeof(struct block_q4_0))

static float IFN(qdot_q4_0)(const void *row, const struct kern_xq *x, size_t n)
{
        const uint8_t *blk = row;
        size_t nb = n / QK4_0, ng = nb / 4;
        __m512 acc = _mm512_setzero_ps();

        for (size_t g = 0; g < ng; g++)
                acc = IFN(q4_0_group)(blk + g * Q4_0_GROUP_BYTES, _mm512_loadu_si512(x->g_qs + 128 * g),
                                _mm512_loadu_si512(x->g_qs + 128 * g + 64),
                                _mm512_slli_epi32(_mm512_loadu_si512(x->g_off + 16 * g), 3),
                                _mm512_loadu_ps(x->g_d + 16 * g), acc);
        return _mm512_reduce_add_ps(acc) + IFN(q4_0_tail)(row, x, 4 * ng, nb);
}

/* KERN_QDOT_ROWS rows: x's group loaded once for all, and the next rows prefetched as
 * QDOT_ROWS_32 does (see there why). */
static void IFN(qdot_rows_q4_0)(const void *rows, size_t rb, const struct kern_xq *x, size_t n, float *out)
{
        const uint8_t *base = rows, *ahead = base + QDOT_ROWS_AHEAD * KERN_QDOT_ROWS * rb;
        size_t nb = n / QK4_0, ng = nb / 4;
        __m512 acc[KERN_QDOT_ROWS];

        for (int r = 0; r < KERN_QDOT_ROWS; r++)
                acc[r] = _mm512_setzero_ps();
        for (size_t g = 0; g < ng; g++) {
                __m512i xlo = _mm512_loadu_si512(x->g_qs + 128 * g),
                        xhi = _mm512_loadu_si512(x->g_qs + 128 * g + 64);
                __m512i off = _mm512_slli_epi32(_mm512_loadu_si512(x->g_off + 16 * g), 3);
                __m512 dx = _mm512_loadu_ps(x->g_d + 16 * g);

                for (size_t o = 0; o < KERN_QDOT_ROWS * Q4_0_GROUP_BYTES; o += 64)
                        _mm_prefetch((const char *)ahead + KERN_QDOT_ROWS * Q4_0_GROUP_BYTES * g + o,
                                        _MM_HINT_T0);
#pragma GCC unroll 4
                for (int r = 0; r < KERN_QDOT_ROWS; r++)
                        acc[r] = IFN(q4_0_group)(base + (size_t)r * rb + g * Q4_0_GROUP_BYTES, xlo, xhi, off,
                                        dx, acc[r]);
        }
        for (int r = 0; r < KERN_QDOT_ROWS; r++)
                out[r] = _mm512_reduce_add_ps(acc[r]) +
                         IFN(q4_0_tail)((const void *)(base + (size_t)r * rb), x, 4 * ng, nb);
}

#undef Q4_0_GROUP_BYTES
