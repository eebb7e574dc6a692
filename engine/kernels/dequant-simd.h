/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Row dequantization for one SIMD width, included by dequant-avx2.c (8 lanes) and
 * dequant-avx512.c (16 lanes) after they define the primitives below. Every element is the
 * scalar level's value bit for bit: the same products and sums in the same order (the files
 * are compiled with -ffp-contract=off, so no multiply-add is ever fused), integers converted
 * to float exactly, and the block scales widened with the scalar code's own conversion.
 * bf16 output rounds each f32 value as aid_f32_to_bf16() does, in registers.
 *
 * Provided by the includer:
 *   N                              lanes per vector (8 or 16; divides 16)
 *   vf, vi                         float / int32 vector types
 *   vf_set1, vf_add, vf_sub, vf_mul, vf_load, vf_store (unaligned)
 *   vf_load_f16, vf_load_bf16      N halves / bfloats to f32 (exact for every finite value)
 *   vh_store2_bf16(p, a, b)        2N floats (a then b) to bf16 at p, rounded as aid_f32_to_bf16()
 *   vi_load_u8, vi_load_i8         N bytes zero- / sign-extended to int32
 *   vi_set1, vi_and, vi_or, vi_add, vi_sub, vi_slli, vi_srli, vi_srlv, vi_to_vf, VI_LANES
 *   KFN(name)                      name with the level's suffix */

#include <stdbool.h>

#define DQ_INLINE static inline __attribute__((always_inline))

/* count (even) vectors of consecutive elements from dst[o]: bf16 output converts them in
 * pairs, whose packing costs less than one vector at a time. */
DQ_INLINE void KFN(dq_flush)(void *dst, size_t o, const vf *v, int count, bool bf16)
{
        for (int i = 0; i < count; i += 2) {
                if (bf16) {
                        vh_store2_bf16((uint16_t *)dst + o + (size_t)i * N, v[i], v[i + 1]);
                } else {
                        vf_store((float *)dst + o + (size_t)i * N, v[i]);
                        vf_store((float *)dst + o + (size_t)(i + 1) * N, v[i + 1]);
                }
        }
}

DQ_INLINE void KFN(dq_q4_0)(const void *src, void *dst, size_t n, bool bf16)
{
        const struct block_q4_0 *b = src;

        for (size_t i = 0, o = 0; i < n / QK4_0; i++, b++, o += QK4_0) {
                vf v[QK4_0 / N];
                vf d = vf_set1(kern_fp16_to_f32(b->d));
                for (int h = 0; h < QK4_0 / 2; h += N) {
                        vi q = vi_load_u8(b->qs + h);
                        vf lo = vi_to_vf(vi_sub(vi_and(q, vi_set1(0xf)), vi_set1(8)));
                        vf hi = vi_to_vf(vi_sub(vi_srli(q, 4), vi_set1(8)));
                        v[(h) / N] = vf_mul(d, lo);
                        v[(QK4_0 / 2 + h) / N] = vf_mul(d, hi);
                }
                KFN(dq_flush)(dst, o, v, QK4_0 / N, bf16);
        }
}

DQ_INLINE void KFN(dq_q4_1)(const void *src, void *dst, size_t n, bool bf16)
{
        const struct block_q4_1 *b = src;

        for (size_t i = 0, o = 0; i < n / QK4_1; i++, b++, o += QK4_1) {
                vf v[QK4_1 / N];
                vf d = vf_set1(kern_fp16_to_f32(b->d)), m = vf_set1(kern_fp16_to_f32(b->m));
                for (int h = 0; h < QK4_1 / 2; h += N) {
                        vi q = vi_load_u8(b->qs + h);
                        vf lo = vi_to_vf(vi_and(q, vi_set1(0xf)));
                        vf hi = vi_to_vf(vi_srli(q, 4));
                        v[(h) / N] = vf_add(vf_mul(d, lo), m);
                        v[(QK4_1 / 2 + h) / N] = vf_add(vf_mul(d, hi), m);
                }
                KFN(dq_flush)(dst, o, v, QK4_1 / N, bf16);
        }
}

/* Bit 4 of the 5-bit values of lanes first..first+N-1, from the block's 32 high bits. */
DQ_INLINE vi KFN(dq_bit4)(vi qh, int first)
{
        return vi_slli(vi_and(vi_srlv(qh, vi_add(VI_LANES, vi_set1(first))), vi_set1(1)), 4);
}

DQ_INLINE void KFN(dq_q5_0)(const void *src, void *dst, size_t n, bool bf16)
{
        const struct block_q5_0 *b = src;

        for (size_t i = 0, o = 0; i < n / QK5_0; i++, b++, o += QK5_0) {
                vf v[QK5_0 / N];
                vf d = vf_set1(kern_fp16_to_f32(b->d));
                uint32_t bits;

                memcpy(&bits, b->qh, sizeof(bits));
                vi qh = vi_set1((int)bits);
                for (int h = 0; h < QK5_0 / 2; h += N) {
                        vi q = vi_load_u8(b->qs + h);
                        vi lo = vi_or(vi_and(q, vi_set1(0xf)), KFN(dq_bit4)(qh, h));
                        vi hi = vi_or(vi_srli(q, 4), KFN(dq_bit4)(qh, h + QK5_0 / 2));
                        v[(h) / N] = vf_mul(d, vi_to_vf(vi_sub(lo, vi_set1(16))));
                        v[(QK5_0 / 2 + h) / N] = vf_mul(d, vi_to_vf(vi_sub(hi, vi_set1(16))));
                }
                KFN(dq_flush)(dst, o, v, QK5_0 / N, bf16);
        }
}

DQ_INLINE void KFN(dq_q5_1)(const void *src, void *dst, size_t n, bool bf16)
{
        const struct block_q5_1 *b = src;

        for (size_t i = 0, o = 0; i < n / QK5_1; i++, b++, o += QK5_1) {
                vf v[QK5_1 / N];
                vf d = vf_set1(kern_fp16_to_f32(b->d)), m = vf_set1(kern_fp16_to_f32(b->m));
                uint32_t bits;

                memcpy(&bits, b->qh, sizeof(bits));
                vi qh = vi_set1((int)bits);
                for (int h = 0; h < QK5_1 / 2; h += N) {
                        vi q = vi_load_u8(b->qs + h);
                        vi lo = vi_or(vi_and(q, vi_set1(0xf)), KFN(dq_bit4)(qh, h));
                        vi hi = vi_or(vi_srli(q, 4), KFN(dq_bit4)(qh, h + QK5_1 / 2));
                        v[(h) / N] = vf_add(vf_mul(d, vi_to_vf(lo)), m);
                        v[(QK5_1 / 2 + h) / N] = vf_add(vf_mul(d, vi_to_vf(hi)), m);
                }
                KFN(dq_flush)(dst, o, v, QK5_1 / N, bf16);
        }
}

DQ_INLINE void KFN(dq_q8_0)(const void *src, void *dst, size_t n, bool bf16)
{
        const struct block_q8_0 *b = src;

        for (size_t i = 0, o = 0; i < n / QK8_0; i++, b++, o += QK8_0) {
                vf v[QK8_0 / N];
                vf d = vf_set1(kern_fp16_to_f32(b->d));
                for (int h = 0; h < QK8_0; h += N)
                        v[(h) / N] = vf_mul(d, vi_to_vf(vi_load_i8(b->qs + h)));
                KFN(dq_flush)(dst, o, v, QK8_0 / N, bf16);
        }
}

/* Q4_K and Q5_K: with_qh adds the fifth bits (Q5_K's qh, bits 2j and 2j+1 for half j). */
DQ_INLINE void KFN(dq_k4)(const uint16_t *dd, const uint8_t scales[12], const uint8_t *qh, const uint8_t *q,
                void *dst, size_t o, bool bf16)
{
        float d = kern_fp16_to_f32(dd[0]), dmin = kern_fp16_to_f32(dd[1]);
        uint8_t sc[8], m[8];

        kern_unpack_k4(scales, sc, m);
        for (int j = 0; j < QK_K / 64; j++, q += 32, o += 64) {
                vf d1 = vf_set1(d * sc[2 * j]), m1 = vf_set1(dmin * m[2 * j]);
                vf d2 = vf_set1(d * sc[2 * j + 1]), m2 = vf_set1(dmin * m[2 * j + 1]);
                vf v[64 / N];
                for (int l = 0; l < 32; l += N) {
                        vi x = vi_load_u8(q + l);
                        vi lo = vi_and(x, vi_set1(0xf)), hi = vi_srli(x, 4);
                        if (qh) {
                                vi h = vi_load_u8(qh + l);
                                lo = vi_or(lo, vi_slli(vi_and(vi_srli(h, 2 * j), vi_set1(1)), 4));
                                hi = vi_or(hi, vi_slli(vi_and(vi_srli(h, 2 * j + 1), vi_set1(1)), 4));
                        }
                        v[(l) / N] = vf_sub(vf_mul(d1, vi_to_vf(lo)), m1);
                        v[(32 + l) / N] = vf_sub(vf_mul(d2, vi_to_vf(hi)), m2);
                }
                KFN(dq_flush)(dst, o, v, 64 / N, bf16);
        }
}

DQ_INLINE void KFN(dq_q4_K)(const void *src, void *dst, size_t n, bool bf16)
{
        const struct block_q4_K *b = src;

        for (size_t i = 0; i < n / QK_K; i++, b++)
                KFN(dq_k4)(&b->d, b->scales, NULL, b->qs, dst, i * QK_K, bf16);
}

DQ_INLINE void KFN(dq_q5_K)(const void *src, void *dst, size_t n, bool bf16)
{
        const struct block_q5_K *b = src;

        for (size_t i = 0; i < n / QK_K; i++, b++)
                KFN(dq_k4)(&b->d, b->scales, b->qh, b->qs, dst, i * QK_K, bf16);
}

DQ_INLINE void KFN(dq_q6_K)(const void *src, void *dst, size_t n, bool bf16)
{
        const struct block_q6_K *b = src;

        for (size_t i = 0, o = 0; i < n / QK_K; i++, b++) {
                float d = kern_fp16_to_f32(b->d);
                const uint8_t *ql = b->ql, *qh = b->qh;
                const int8_t *sc = b->scales;

                for (int k = 0; k < QK_K; k += 128, ql += 64, qh += 32, sc += 8, o += 128) {
                        vf v[128 / N];
                        for (int l = 0; l < 32; l += N) {
                                int is = l / 16; /* one sub-block per vector: N divides 16 */
                                vi l0 = vi_load_u8(ql + l), l1 = vi_load_u8(ql + l + 32);
                                vi h = vi_load_u8(qh + l), m4 = vi_set1(0xf), m2 = vi_set1(3);
                                vi q1 = vi_or(vi_and(l0, m4), vi_slli(vi_and(h, m2), 4));
                                vi q2 = vi_or(vi_and(l1, m4), vi_slli(vi_and(vi_srli(h, 2), m2), 4));
                                vi q3 = vi_or(vi_srli(l0, 4), vi_slli(vi_and(vi_srli(h, 4), m2), 4));
                                vi q4 = vi_or(vi_srli(l1, 4), vi_slli(vi_srli(h, 6), 4));
                                vi c32 = vi_set1(32);
                                v[l / N] = vf_mul(vf_set1(d * sc[is]), vi_to_vf(vi_sub(q1, c32)));
                                v[(l + 32) / N] = vf_mul(vf_set1(d * sc[is + 2]), vi_to_vf(vi_sub(q2, c32)));
                                v[(l + 64) / N] = vf_mul(vf_set1(d * sc[is + 4]), vi_to_vf(vi_sub(q3, c32)));
                                v[(l + 96) / N] = vf_mul(vf_set1(d * sc[is + 6]), vi_to_vf(vi_sub(q4, c32)));
                        }
                        KFN(dq_flush)(dst, o, v, 128 / N, bf16);
                }
        }
}

DQ_INLINE void KFN(dq_f16)(const void *src, void *dst, size_t n, bool bf16)
{
        const uint16_t *s = src;
        size_t i = 0;

        for (; i + 2 * N <= n; i += 2 * N) {
                vf v[2] = { vf_load_f16(s + i), vf_load_f16(s + i + N) };
                KFN(dq_flush)(dst, i, v, 2, bf16);
        }
        for (; i < n; i++) {
                float f = kern_fp16_to_f32(s[i]);
                if (bf16)
                        ((uint16_t *)dst)[i] = aid_f32_to_bf16(f);
                else
                        ((float *)dst)[i] = f;
        }
}

/* bf16 to bf16 is a copy but for NaNs, which aid_f32_to_bf16() quiets. */
DQ_INLINE void KFN(dq_bf16)(const void *src, void *dst, size_t n, bool bf16)
{
        const uint16_t *s = src;
        size_t i = 0;

        for (; i + 2 * N <= n; i += 2 * N) {
                vf v[2] = { vf_load_bf16(s + i), vf_load_bf16(s + i + N) };
                KFN(dq_flush)(dst, i, v, 2, bf16);
        }
        for (; i < n; i++) {
                float f = kern_bf16_to_f32(s[i]);
                if (bf16)
                        ((uint16_t *)dst)[i] = aid_f32_to_bf16(f);
                else
                        ((float *)dst)[i] = f;
        }
}

DQ_INLINE void KFN(dq_f32)(const void *src, void *dst, size_t n, bool bf16)
{
        const float *s = src;
        size_t i = 0;

        if (!bf16) {
                memcpy(dst, src, n * sizeof(float));
                return;
        }
        for (; i + 2 * N <= n; i += 2 * N)
                vh_store2_bf16((uint16_t *)dst + i, vf_load(s + i), vf_load(s + i + N));
        for (; i < n; i++)
                ((uint16_t *)dst)[i] = aid_f32_to_bf16(s[i]);
}

#define DQ_WRAP(name)                                                          \
        static void KFN(name##_f32)(const void *src, float *dst, size_t n)     \
        {                                                                      \
                KFN(name)(src, dst, n, false);                                 \
        }                                                                      \
        static void KFN(name##_bf16)(const void *src, uint16_t *dst, size_t n) \
        {                                                                      \
                KFN(name)(src, dst, n, true);                                  \
        }

DQ_WRAP(dq_q4_0)
DQ_WRAP(dq_q4_1)
DQ_WRAP(dq_q5_0)
DQ_WRAP(dq_q5_1)
DQ_WRAP(dq_q8_0)
DQ_WRAP(dq_q4_K)
DQ_WRAP(dq_q5_K)
DQ_WRAP(dq_q6_K)
DQ_WRAP(dq_f16)
DQ_WRAP(dq_bf16)
DQ_WRAP(dq_f32)

#define DQ_ENTRIES(suffix)                                                                  \
        [GGML_TYPE_Q4_0] = KFN(dq_q4_0_##suffix), [GGML_TYPE_Q4_1] = KFN(dq_q4_1_##suffix), \
        [GGML_TYPE_Q5_0] = KFN(dq_q5_0_##suffix), [GGML_TYPE_Q5_1] = KFN(dq_q5_1_##suffix), \
        [GGML_TYPE_Q8_0] = KFN(dq_q8_0_##suffix), [GGML_TYPE_Q4_K] = KFN(dq_q4_K_##suffix), \
        [GGML_TYPE_Q5_K] = KFN(dq_q5_K_##suffix), [GGML_TYPE_Q6_K] = KFN(dq_q6_K_##suffix), \
        [GGML_TYPE_F16] = KFN(dq_f16_##suffix), [GGML_TYPE_BF16] = KFN(dq_bf16_##suffix),   \
        [GGML_TYPE_F32] = KFN(dq_f32_##suffix)

#define KERN_DEQUANT_TABLE_INIT                                          \
        {                                                                \
                .f32 = { DQ_ENTRIES(f32) }, .bf16 = { DQ_ENTRIES(bf16) } \
        }
