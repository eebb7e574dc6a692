/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Row dot products for one SIMD width, included by dot-avx2.c (8 lanes) and dot-avx512.c
 * (16 lanes) after they define the vector primitives below; the two files are compiled with
 * their own -m flags. Weights are dequantized in registers and multiplied with f32 x, so each
 * kernel computes exactly what the scalar level computes, in another summation order.
 *
 * Provided by the includer:
 *   N                           lanes per vector (8 or 16; divides 16)
 *   vf, vi                      float / int32 vector types
 *   VF_ZERO, vf_set1, vf_load, vf_add, vf_mul, vf_fma(a,b,c)=a*b+c, vf_fmsub(a,b,c)=a*b-c,
 *   vf_reduce                   horizontal sum
 *   vf_load_f16, vf_load_bf16   N halves / bfloats to f32
 *   vi_load_u8, vi_load_i8      N bytes zero- / sign-extended to int32
 *   vi_set1, vi_and, vi_or, vi_add, vi_sub, vi_slli(a, imm), vi_srli(a, imm), vi_srl(a, count),
 *   vi_srlv(a, counts), vi_to_vf, VI_LANES (0, 1, ..., N-1)
 *   F16(h)                      one half to f32 (F16C)
 *   KFN(name)                   name with the level's suffix */

static float KFN(dot_f32_f32)(const void *row, const float *x, size_t n)
{
        const float *w = row;
        vf a0 = VF_ZERO, a1 = VF_ZERO, a2 = VF_ZERO, a3 = VF_ZERO;
        size_t i = 0;

        for (; i + 4 * N <= n; i += 4 * N) {
                a0 = vf_fma(vf_load(w + i), vf_load(x + i), a0);
                a1 = vf_fma(vf_load(w + i + N), vf_load(x + i + N), a1);
                a2 = vf_fma(vf_load(w + i + 2 * N), vf_load(x + i + 2 * N), a2);
                a3 = vf_fma(vf_load(w + i + 3 * N), vf_load(x + i + 3 * N), a3);
        }
        for (; i + N <= n; i += N)
                a0 = vf_fma(vf_load(w + i), vf_load(x + i), a0);
        float s = vf_reduce(vf_add(vf_add(a0, a1), vf_add(a2, a3)));
        for (; i < n; i++)
                s += w[i] * x[i];
        return s;
}

#define DOT_HALF(name, load, tail)                                                    \
        static float KFN(name)(const void *row, const float *x, size_t n)             \
        {                                                                             \
                const uint16_t *w = row;                                              \
                vf a0 = VF_ZERO, a1 = VF_ZERO, a2 = VF_ZERO, a3 = VF_ZERO;            \
                size_t i = 0;                                                         \
                for (; i + 4 * N <= n; i += 4 * N) {                                  \
                        a0 = vf_fma(load(w + i), vf_load(x + i), a0);                 \
                        a1 = vf_fma(load(w + i + N), vf_load(x + i + N), a1);         \
                        a2 = vf_fma(load(w + i + 2 * N), vf_load(x + i + 2 * N), a2); \
                        a3 = vf_fma(load(w + i + 3 * N), vf_load(x + i + 3 * N), a3); \
                }                                                                     \
                for (; i + N <= n; i += N)                                            \
                        a0 = vf_fma(load(w + i), vf_load(x + i), a0);                 \
                float s = vf_reduce(vf_add(vf_add(a0, a1), vf_add(a2, a3)));          \
                for (; i < n; i++)                                                    \
                        s += tail(w[i]) * x[i];                                       \
                return s;                                                             \
        }

DOT_HALF(dot_f16_f32, vf_load_f16, kern_fp16_to_f32)
DOT_HALF(dot_bf16_f32, vf_load_bf16, kern_bf16_to_f32)

static float KFN(dot_q8_0_f32)(const void *row, const float *x, size_t n)
{
        const struct block_q8_0 *b = row;
        vf acc = VF_ZERO;

        for (size_t i = 0; i < n / QK8_0; i++, b++, x += QK8_0) {
                vf s0 = VF_ZERO, s1 = VF_ZERO;
                for (int l = 0; l < QK8_0; l += 2 * N) {
                        s0 = vf_fma(vi_to_vf(vi_load_i8(b->qs + l)), vf_load(x + l), s0);
                        s1 = vf_fma(vi_to_vf(vi_load_i8(b->qs + l + N)), vf_load(x + l + N), s1);
                }
                acc = vf_fma(vf_set1(F16(b->d)), vf_add(s0, s1), acc);
        }
        return vf_reduce(acc);
}

static float KFN(dot_q4_0_f32)(const void *row, const float *x, size_t n)
{
        const struct block_q4_0 *b = row;
        const vi mask = vi_set1(0xf), eight = vi_set1(8);
        vf acc = VF_ZERO;

        for (size_t i = 0; i < n / QK4_0; i++, b++, x += QK4_0) {
                vf s0 = VF_ZERO, s1 = VF_ZERO;
                for (int l = 0; l < QK4_0 / 2; l += N) {
                        vi q = vi_load_u8(b->qs + l);
                        s0 = vf_fma(vi_to_vf(vi_sub(vi_and(q, mask), eight)), vf_load(x + l), s0);
                        s1 = vf_fma(vi_to_vf(vi_sub(vi_srli(q, 4), eight)), vf_load(x + l + QK4_0 / 2), s1);
                }
                acc = vf_fma(vf_set1(F16(b->d)), vf_add(s0, s1), acc);
        }
        return vf_reduce(acc);
}

static float KFN(dot_q4_1_f32)(const void *row, const float *x, size_t n)
{
        const struct block_q4_1 *b = row;
        const vi mask = vi_set1(0xf);
        vf acc = VF_ZERO, accm = VF_ZERO;

        for (size_t i = 0; i < n / QK4_1; i++, b++, x += QK4_1) {
                vf s = VF_ZERO, xs = VF_ZERO;
                for (int l = 0; l < QK4_1 / 2; l += N) {
                        vi q = vi_load_u8(b->qs + l);
                        vf x0 = vf_load(x + l), x1 = vf_load(x + l + QK4_1 / 2);
                        s = vf_fma(vi_to_vf(vi_and(q, mask)), x0, s);
                        s = vf_fma(vi_to_vf(vi_srli(q, 4)), x1, s);
                        xs = vf_add(xs, vf_add(x0, x1));
                }
                acc = vf_fma(vf_set1(F16(b->d)), s, acc);
                accm = vf_fma(vf_set1(F16(b->m)), xs, accm);
        }
        return vf_reduce(vf_add(acc, accm));
}

static uint32_t KFN(load_u32)(const uint8_t *p)
{
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        return v;
}

/* Q5: bit (l + lane) of qh is the fifth bit of element l + lane, for lanes of the low half;
 * bit (16 + l + lane) for the high half. */
#define Q5_DOT(name, block_t, QK, offset, has_min)                                                     \
        static float KFN(name)(const void *row, const float *x, size_t n)                              \
        {                                                                                              \
                const block_t *b = row;                                                                \
                const vi mask = vi_set1(0xf), one = vi_set1(1), off = vi_set1(offset);                 \
                vf acc = VF_ZERO, accm = VF_ZERO;                                                      \
                for (size_t i = 0; i < n / QK; i++, b++, x += QK) {                                    \
                        vi qh = vi_set1((int)KFN(load_u32)(b->qh));                                    \
                        vf s = VF_ZERO, xs = VF_ZERO;                                                  \
                        for (int l = 0; l < QK / 2; l += N) {                                          \
                                vi q = vi_load_u8(b->qs + l);                                          \
                                vi sh = vi_add(VI_LANES, vi_set1(l));                                  \
                                vi h0 = vi_slli(vi_and(vi_srlv(qh, sh), one), 4);                      \
                                vi h1 = vi_slli(vi_and(vi_srlv(qh, vi_add(sh, vi_set1(16))), one), 4); \
                                vf x0 = vf_load(x + l), x1 = vf_load(x + l + QK / 2);                  \
                                s = vf_fma(vi_to_vf(vi_sub(vi_or(vi_and(q, mask), h0), off)), x0, s);  \
                                s = vf_fma(vi_to_vf(vi_sub(vi_or(vi_srli(q, 4), h1), off)), x1, s);    \
                                if (has_min)                                                           \
                                        xs = vf_add(xs, vf_add(x0, x1));                               \
                        }                                                                              \
                        acc = vf_fma(vf_set1(F16(b->d)), s, acc);                                      \
                        if (has_min)                                                                   \
                                accm = vf_fma(vf_set1(F16(Q5_MIN(b))), xs, accm);                      \
                }                                                                                      \
                return vf_reduce(vf_add(acc, accm));                                                   \
        }

#define Q5_MIN(b) 0
Q5_DOT(dot_q5_0_f32, struct block_q5_0, QK5_0, 16, 0)
#undef Q5_MIN
#define Q5_MIN(b) (b)->m
Q5_DOT(dot_q5_1_f32, struct block_q5_1, QK5_1, 0, 1)
#undef Q5_MIN

static float KFN(dot_q4_K_f32)(const void *row, const float *x, size_t n)
{
        const struct block_q4_K *b = row;
        const vi mask = vi_set1(0xf);
        vf acc0 = VF_ZERO, acc1 = VF_ZERO;

        for (size_t i = 0; i < n / QK_K; i++, b++) {
                float d = F16(b->d), dmin = F16(b->dmin);
                const uint8_t *q = b->qs;

                for (int j = 0; j < QK_K / 64; j++, q += 32, x += 64) {
                        uint8_t sc, m;
                        kern_scale_min_k4(2 * j, b->scales, &sc, &m);
                        vf d1 = vf_set1(d * sc), m1 = vf_set1(dmin * m);
                        kern_scale_min_k4(2 * j + 1, b->scales, &sc, &m);
                        vf d2 = vf_set1(d * sc), m2 = vf_set1(dmin * m);
                        for (int l = 0; l < 32; l += N) {
                                vi v = vi_load_u8(q + l);
                                vf w0 = vf_fmsub(vi_to_vf(vi_and(v, mask)), d1, m1);
                                vf w1 = vf_fmsub(vi_to_vf(vi_srli(v, 4)), d2, m2);
                                acc0 = vf_fma(w0, vf_load(x + l), acc0);
                                acc1 = vf_fma(w1, vf_load(x + l + 32), acc1);
                        }
                }
        }
        return vf_reduce(vf_add(acc0, acc1));
}

static float KFN(dot_q5_K_f32)(const void *row, const float *x, size_t n)
{
        const struct block_q5_K *b = row;
        const vi mask = vi_set1(0xf), bit = vi_set1(0x10);
        vf acc0 = VF_ZERO, acc1 = VF_ZERO;

        for (size_t i = 0; i < n / QK_K; i++, b++) {
                float d = F16(b->d), dmin = F16(b->dmin);
                const uint8_t *q = b->qs;

                for (int j = 0; j < QK_K / 64; j++, q += 32, x += 64) {
                        uint8_t sc, m;
                        kern_scale_min_k4(2 * j, b->scales, &sc, &m);
                        vf d1 = vf_set1(d * sc), m1 = vf_set1(dmin * m);
                        kern_scale_min_k4(2 * j + 1, b->scales, &sc, &m);
                        vf d2 = vf_set1(d * sc), m2 = vf_set1(dmin * m);
                        for (int l = 0; l < 32; l += N) {
                                vi v = vi_load_u8(q + l), h = vi_load_u8(b->qh + l);
                                /* Bits 2j and 2j+1 of qh, moved to bit 4. */
                                vi h0 = vi_and(vi_slli(vi_srl(h, 2 * j), 4), bit);
                                vi h1 = vi_and(vi_slli(vi_srl(h, 2 * j + 1), 4), bit);
                                vf w0 = vf_fmsub(vi_to_vf(vi_or(vi_and(v, mask), h0)), d1, m1);
                                vf w1 = vf_fmsub(vi_to_vf(vi_or(vi_srli(v, 4), h1)), d2, m2);
                                acc0 = vf_fma(w0, vf_load(x + l), acc0);
                                acc1 = vf_fma(w1, vf_load(x + l + 32), acc1);
                        }
                }
        }
        return vf_reduce(vf_add(acc0, acc1));
}

static float KFN(dot_q6_K_f32)(const void *row, const float *x, size_t n)
{
        const struct block_q6_K *b = row;
        const vi mask = vi_set1(0xf), hmask = vi_set1(0x30), off = vi_set1(32);
        vf acc0 = VF_ZERO, acc1 = VF_ZERO;

        for (size_t i = 0; i < n / QK_K; i++, b++) {
                float d = F16(b->d);
                const uint8_t *ql = b->ql, *qh = b->qh;
                const int8_t *sc = b->scales;

                for (int h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8, x += 128) {
                        for (int l = 0; l < 32; l += N) {
                                int is = l / 16;
                                vi a = vi_load_u8(ql + l), c = vi_load_u8(ql + l + 32),
                                   hb = vi_load_u8(qh + l);
                                /* Two high bits per element: bits 0-1, 2-3, 4-5, 6-7 of qh,
                                 * each moved to bits 4-5. */
                                vi q1 = vi_or(vi_and(a, mask), vi_and(vi_slli(hb, 4), hmask));
                                vi q2 = vi_or(vi_and(c, mask), vi_and(vi_slli(hb, 2), hmask));
                                vi q3 = vi_or(vi_srli(a, 4), vi_and(hb, hmask));
                                vi q4 = vi_or(vi_srli(c, 4), vi_and(vi_srli(hb, 2), hmask));
                                vf w1 = vf_mul(vi_to_vf(vi_sub(q1, off)), vf_set1(d * sc[is]));
                                vf w2 = vf_mul(vi_to_vf(vi_sub(q2, off)), vf_set1(d * sc[is + 2]));
                                vf w3 = vf_mul(vi_to_vf(vi_sub(q3, off)), vf_set1(d * sc[is + 4]));
                                vf w4 = vf_mul(vi_to_vf(vi_sub(q4, off)), vf_set1(d * sc[is + 6]));
                                acc0 = vf_fma(w1, vf_load(x + l), acc0);
                                acc1 = vf_fma(w2, vf_load(x + l + 32), acc1);
                                acc0 = vf_fma(w3, vf_load(x + l + 64), acc0);
                                acc1 = vf_fma(w4, vf_load(x + l + 96), acc1);
                        }
                }
        }
        return vf_reduce(vf_add(acc0, acc1));
}

#define KERN_DOT_TABLE_ENTRIES                                                      \
        [GGML_TYPE_F32] = KFN(dot_f32_f32), [GGML_TYPE_F16] = KFN(dot_f16_f32),     \
        [GGML_TYPE_BF16] = KFN(dot_bf16_f32), [GGML_TYPE_Q8_0] = KFN(dot_q8_0_f32), \
        [GGML_TYPE_Q4_0] = KFN(dot_q4_0_f32), [GGML_TYPE_Q4_1] = KFN(dot_q4_1_f32), \
        [GGML_TYPE_Q5_0] = KFN(dot_q5_0_f32), [GGML_TYPE_Q5_1] = KFN(dot_q5_1_f32), \
        [GGML_TYPE_Q4_K] = KFN(dot_q4_K_f32), [GGML_TYPE_Q5_K] = KFN(dot_q5_K_f32), \
        [GGML_TYPE_Q6_K] = KFN(dot_q6_K_f32)
