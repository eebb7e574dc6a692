/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Attention's products with a chunk of the KV cache on AVX-512 (see struct aid_att_kernels):
 * fp16 keys and values are widened in registers as they are read, so a decode tile neither
 * writes a converted copy of each chunk nor reads it back, and every product is one fused
 * multiply-add. The sums are those of attn-scalar.c, one fmaf() after the other, bit for bit.
 *
 * Llama-3.2-1B Q4_0, decode at a depth of 2048 positions, a chunk of 32 keys and 4 query rows
 * took 3300 TSC cycles with the chunk converted to f32 first and the products as a multiply
 * and an add: 1300 converting (waiting for the chunk's rows from memory), 1080 scores, 330
 * softmax, 570 products with V. With these kernels about 1800: 780 scores, 360 softmax, 610
 * products with V, where the two products alone take 490 and 455 from L1. Four sequences
 * decoding at that depth went from 76-86 to 103-110 tok/s (BENCHMARKS.md). */
#include <immintrin.h>

#include "kernels-internal.h"

/* Keys i .. i + 15 of element d of a chunk kept d-major, as floats. */
static inline __attribute__((always_inline)) __m512 key16(const void *k, bool f16, size_t d, size_t i)
{
        if (f16)
                return _mm512_cvtph_ps(
                                _mm256_loadu_si256((const __m256i *)(const void *)((const uint16_t *)k +
                                                                                   d * KERN_ATT_KEYS + i)));
        return _mm512_loadu_ps((const float *)k + d * KERN_ATT_KEYS + i);
}

/* The next chunk's slice d: step bytes of its keys and as many of its values. */
static inline __attribute__((always_inline)) void prefetch_slice(
                const char *next_k, const char *next_v, size_t step, size_t d)
{
        for (size_t o = 0; o < step; o += 64) {
                _mm_prefetch(next_k + d * step + o, _MM_HINT_T0);
                _mm_prefetch(next_v + d * step + o, _MM_HINT_T0);
        }
}

/* R (a constant once inlined) rows: eight accumulators for four, so that the multiply-adds of
 * one d do not wait for each other. */
static inline __attribute__((always_inline)) void scores_r(const float *const *q, const int R, const void *k,
                bool f16, unsigned hd, float scale, float (*s)[KERN_ATT_KEYS], const char *next_k,
                const char *next_v, size_t step)
{
        __m512 a[4][2];

        for (int j = 0; j < R; j++)
                a[j][0] = a[j][1] = _mm512_setzero_ps();
        for (size_t d = 0; d < hd; d++) {
                if (next_k)
                        prefetch_slice(next_k, next_v, step, d);
                const __m512 k0 = key16(k, f16, d, 0), k1 = key16(k, f16, d, 16);
#pragma GCC unroll 4
                for (int j = 0; j < R; j++) {
                        const __m512 qd = _mm512_set1_ps(q[j][d]);
                        a[j][0] = _mm512_fmadd_ps(qd, k0, a[j][0]);
                        a[j][1] = _mm512_fmadd_ps(qd, k1, a[j][1]);
                }
        }
        for (int j = 0; j < R; j++) {
                _mm512_storeu_ps(s[j], _mm512_mul_ps(a[j][0], _mm512_set1_ps(scale)));
                _mm512_storeu_ps(s[j] + 16, _mm512_mul_ps(a[j][1], _mm512_set1_ps(scale)));
        }
}

static inline __attribute__((always_inline)) void scores_any(const float *const *q, unsigned rows,
                const void *k, bool f16, unsigned hd, float scale, float (*s)[KERN_ATT_KEYS],
                const void *next_k, const void *next_v, size_t step)
{
        switch (rows) {
        case 1:
                scores_r(q, 1, k, f16, hd, scale, s, next_k, next_v, step);
                break;
        case 2:
                scores_r(q, 2, k, f16, hd, scale, s, next_k, next_v, step);
                break;
        case 3:
                scores_r(q, 3, k, f16, hd, scale, s, next_k, next_v, step);
                break;
        default:
                scores_r(q, 4, k, f16, hd, scale, s, next_k, next_v, step);
                break;
        }
}

static void scores_avx512(const float *const *q, unsigned rows, const void *k, bool f16, unsigned hd,
                float scale, float (*s)[KERN_ATT_KEYS], const void *next_k, const void *next_v, size_t step)
{
        if (f16)
                scores_any(q, rows, k, true, hd, scale, s, next_k, next_v, step);
        else
                scores_any(q, rows, k, false, hd, scale, s, next_k, next_v, step);
}

/* Elements d .. d + 15 of value row i (those m selects; the others 0). */
static inline __attribute__((always_inline)) __m512 value16(
                const void *v, bool f16, unsigned hd, size_t i, size_t d, __mmask16 m)
{
        if (f16)
                return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)v + i * hd + d));
        return _mm512_maskz_loadu_ps(m, (const float *)v + i * hd + d);
}

static inline __mmask16 lanes_from(unsigned hd, unsigned d)
{
        return hd - d >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (hd - d)) - 1);
}

/* Elements d .. d + 31 of rows j of o, as two vectors each, plus p[j][i] times value row i's
 * (v0, v1), one row i after the other: eight multiply-adds per value row in flight, each
 * element still adding its rows in key order. (Accumulators named one by one: as an array GCC
 * kept them on the stack.) */
static inline __attribute__((always_inline)) void pv4_32(float *const *o, const float *const *p,
                const void *v, bool f16, size_t i0, size_t i1, unsigned hd, unsigned d)
{
        __m512 a00 = _mm512_loadu_ps(o[0] + d), a01 = _mm512_loadu_ps(o[0] + d + 16);
        __m512 a10 = _mm512_loadu_ps(o[1] + d), a11 = _mm512_loadu_ps(o[1] + d + 16);
        __m512 a20 = _mm512_loadu_ps(o[2] + d), a21 = _mm512_loadu_ps(o[2] + d + 16);
        __m512 a30 = _mm512_loadu_ps(o[3] + d), a31 = _mm512_loadu_ps(o[3] + d + 16);
        const float *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3];

        for (size_t i = i0; i <= i1; i++) {
                const __m512 v0 = value16(v, f16, hd, i, d, 0xffff);
                const __m512 v1 = value16(v, f16, hd, i, d + 16, 0xffff);
                __m512 pj = _mm512_set1_ps(p0[i]);
                a00 = _mm512_fmadd_ps(pj, v0, a00);
                a01 = _mm512_fmadd_ps(pj, v1, a01);
                pj = _mm512_set1_ps(p1[i]);
                a10 = _mm512_fmadd_ps(pj, v0, a10);
                a11 = _mm512_fmadd_ps(pj, v1, a11);
                pj = _mm512_set1_ps(p2[i]);
                a20 = _mm512_fmadd_ps(pj, v0, a20);
                a21 = _mm512_fmadd_ps(pj, v1, a21);
                pj = _mm512_set1_ps(p3[i]);
                a30 = _mm512_fmadd_ps(pj, v0, a30);
                a31 = _mm512_fmadd_ps(pj, v1, a31);
        }
        _mm512_storeu_ps(o[0] + d, a00);
        _mm512_storeu_ps(o[0] + d + 16, a01);
        _mm512_storeu_ps(o[1] + d, a10);
        _mm512_storeu_ps(o[1] + d + 16, a11);
        _mm512_storeu_ps(o[2] + d, a20);
        _mm512_storeu_ps(o[2] + d + 16, a21);
        _mm512_storeu_ps(o[3] + d, a30);
        _mm512_storeu_ps(o[3] + d + 16, a31);
}

/* The same for elements d .. d + 15, those that m selects. */
static inline __attribute__((always_inline)) void pv4_16(float *const *o, const float *const *p,
                const void *v, bool f16, size_t i0, size_t i1, unsigned hd, unsigned d, __mmask16 m)
{
        __m512 a0 = _mm512_maskz_loadu_ps(m, o[0] + d), a1 = _mm512_maskz_loadu_ps(m, o[1] + d);
        __m512 a2 = _mm512_maskz_loadu_ps(m, o[2] + d), a3 = _mm512_maskz_loadu_ps(m, o[3] + d);
        const float *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3];

        for (size_t i = i0; i <= i1; i++) {
                const __m512 vv = value16(v, f16, hd, i, d, m);
                a0 = _mm512_fmadd_ps(_mm512_set1_ps(p0[i]), vv, a0);
                a1 = _mm512_fmadd_ps(_mm512_set1_ps(p1[i]), vv, a1);
                a2 = _mm512_fmadd_ps(_mm512_set1_ps(p2[i]), vv, a2);
                a3 = _mm512_fmadd_ps(_mm512_set1_ps(p3[i]), vv, a3);
        }
        _mm512_mask_storeu_ps(o[0] + d, m, a0);
        _mm512_mask_storeu_ps(o[1] + d, m, a1);
        _mm512_mask_storeu_ps(o[2] + d, m, a2);
        _mm512_mask_storeu_ps(o[3] + d, m, a3);
}

static inline __attribute__((always_inline)) void pv4_any(float *const *o, const float *const *p,
                const void *v, bool f16, unsigned i0, unsigned i1, unsigned hd)
{
        unsigned d = 0;

        for (; d + 32 <= hd; d += 32)
                pv4_32(o, p, v, f16, i0, i1, hd, d);
        for (; d < hd; d += 16)
                pv4_16(o, p, v, f16, i0, i1, hd, d, lanes_from(hd, d));
}

static void pv4_avx512(float *const *o, const float *const *p, const void *v, bool f16, unsigned i0,
                unsigned i1, unsigned hd)
{
        if (f16)
                pv4_any(o, p, v, true, i0, i1, hd);
        else
                pv4_any(o, p, v, false, i0, i1, hd);
}

const struct aid_att_kernels kern_att_avx512 = { .scores = scores_avx512, .pv4 = pv4_avx512 };
