/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The read-bandwidth probe's loop on 512-bit loads. */
#include <immintrin.h>

#include "kernels-internal.h"

/* One 64-byte load a line: on Intel cores the scalar loop's eight loads and adds a line fill
 * the reorder buffer long before enough lines are in flight to cover DRAM's latency, and it
 * reads a third less than the kernels do (measured: 20.6 against 33 GB/s, 2 threads). */
uint64_t kern_read_sum_avx512(const void *buf, size_t bytes)
{
        const uint8_t *p = buf;
        size_t n = bytes / 64, i = 0;
        __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;

        for (; i + 4 <= n; i += 4) {
                const uint8_t *l = p + 64 * i;
                a = _mm512_add_epi64(a, _mm512_loadu_si512(l));
                b = _mm512_add_epi64(b, _mm512_loadu_si512(l + 64));
                c = _mm512_add_epi64(c, _mm512_loadu_si512(l + 128));
                d = _mm512_add_epi64(d, _mm512_loadu_si512(l + 192));
        }
        for (; i < n; i++)
                a = _mm512_add_epi64(a, _mm512_loadu_si512(p + 64 * i));
        /* Not _mm512_reduce_add_epi64(): GCC adds its lanes as signed scalars, which may
         * overflow; the vector adds wrap as the scalar probe's unsigned sum does. */
        __m512i s = _mm512_add_epi64(_mm512_add_epi64(a, b), _mm512_add_epi64(c, d));
        __m256i h = _mm256_add_epi64(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
        __m128i q = _mm_add_epi64(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        return (uint64_t)_mm_cvtsi128_si64(_mm_add_epi64(q, _mm_unpackhi_epi64(q, q)));
}
