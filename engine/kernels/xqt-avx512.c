/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fill of x side by side (struct kern_xqt) in 512-bit vectors, the same bytes as
 * kern_xqt_fill_scalar(). The batched kernels need this layout before every product, and the
 * scalar fill, 4 bytes at a time, ran on one thread while the other waited: 1.45 % of the
 * samples of a four-sequence decode (perf, aid-infer bench -s 4, Llama-3.2-1B Q4_0), about 3 %
 * of a step's wall time. This one took 0.26 %.
 *
 * Per group and half, each of the four rows gives two permutes (its 32 dwords to the lanes of
 * h = 0 and h = 1, lane 4 beta + j taking dword 8 beta + 4 h + j), and rotation k's vectors
 * take lane j of each 128-bit lane from row (j + k) % 4: three blends. Rows past n and blocks
 * past the row's end are zero (masked loads never read past a row). */
#include <immintrin.h>

#include "kernels-internal.h"

/* Dwords 8 beta + 4 h + j to lane 4 beta + j, from a row's two vectors (dwords 0-15, 16-31). */
static inline __m512i quads_of_half(__m512i a, __m512i b, int h)
{
        const __m512i idx = _mm512_add_epi32(
                        _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27),
                        _mm512_set1_epi32(4 * h));

        return _mm512_permutex2var_epi32(a, idx, b);
}

/* Lane 4 beta + j from r[(j + k) % 4]: row r lands where j = (r - k) % 4. */
static inline __m512i rotation(const __m512i r[4], int k)
{
        __m512i v = r[0];

        for (int row = 1; row < 4; row++)
                v = _mm512_mask_blend_epi32((__mmask16)(0x1111u << ((row - k) & 3)), v, r[row]);
        return v;
}

void kern_xqt_fill_avx512(const struct kern_xq *x, size_t n, size_t cols, struct kern_xqt *xt)
{
        const size_t H = n <= 4 ? 1 : 2, nb = cols / 32, ng = (nb + 3) / 4;

        xt->group = (int)(4 * H);
        for (size_t g = 0; g < ng; g++) {
                /* Blocks of this group in the row: their dwords (8 a block), scales and sums. */
                const size_t blocks = nb - 4 * g < 4 ? nb - 4 * g : 4;
                const uint32_t dwords = (uint32_t)(1ull << (8 * blocks)) - 1u;
                const __mmask16 m0 = (__mmask16)dwords, m1 = (__mmask16)(dwords >> 16);
                const __mmask8 mb = (__mmask8)((1u << blocks) - 1u);

                for (size_t s = 0; s < H; s++) {
                        __m512i lo[4], hi[4];
                        __m128 d[4], off[4];

                        for (size_t r = 0; r < 4; r++) {
                                const size_t a = 4 * s + r;
                                if (a >= n) {
                                        lo[r] = hi[r] = _mm512_setzero_si512();
                                        d[r] = off[r] = _mm_setzero_ps();
                                        continue;
                                }
                                const int8_t *qs = x[a].qs + 128 * g;
                                __m512i va = _mm512_maskz_loadu_epi32(m0, qs),
                                        vb = _mm512_maskz_loadu_epi32(m1, qs + 64);
                                lo[r] = quads_of_half(va, vb, 0);
                                hi[r] = quads_of_half(va, vb, 1);
                                d[r] = _mm_maskz_loadu_ps(mb, x[a].d + 4 * g);
                                /* -8 times the block sums (int16), as int32. */
                                __m128i sums = _mm_cvtepi16_epi32(_mm_maskz_loadu_epi16(mb, x[a].s32 + 4 * g));
                                off[r] = _mm_castsi128_ps(_mm_sub_epi32(
                                                _mm_setzero_si128(), _mm_slli_epi32(sums, 3)));
                        }
                        for (int k = 0; k < 4; k++) {
                                _mm512_storeu_si512(xt->qs + ((g * 8 + 2 * (size_t)k) * H + s) * 64,
                                                rotation(lo, k));
                                _mm512_storeu_si512(xt->qs + ((g * 8 + 2 * (size_t)k + 1) * H + s) * 64,
                                                rotation(hi, k));
                        }
                        /* Lane 4 beta + a: row a's value of block beta, a 4 x 4 transpose. */
                        _MM_TRANSPOSE4_PS(d[0], d[1], d[2], d[3]);
                        _MM_TRANSPOSE4_PS(off[0], off[1], off[2], off[3]);
                        const size_t k = (g * H + s) * 16;
                        for (size_t beta = 0; beta < 4; beta++) {
                                _mm_storeu_ps(xt->d + k + 4 * beta, d[beta]);
                                _mm_storeu_ps((float *)(void *)(xt->off + k + 4 * beta), off[beta]);
                        }
                }
        }
}
