/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The integer path for n <= 8 activation rows at once (continuous batching), included by
 * dot-multi-avx2.c and dot-multi-avx512-vnni.c. Each weight block is unpacked once into
 * registers and multiplied with the n quantized activation blocks, where n calls of the
 * single-row kernels (dot-int.h) would unpack it n times.
 *
 * The K types reproduce the single-row kernels' arithmetic exactly (exact integer sums per
 * super-block, then the same scalar float expression in the same order), so a row's result does
 * not depend on how many others share the pass. Q4_0 and Q8_0 work on x laid side by side
 * (struct kern_xqt) and scale each block's exact integer sum once, where the single-row kernels
 * scale 8 partial sums per block: the same products in another float order, so they match the
 * single-row kernels within float rounding (|diff| <= 1e-5 * sum |w x|, as the levels do among
 * themselves).
 *
 * Provided by the includer:
 *   DPBUSD(acc, u, s)    int32 lanes of acc plus the sums of 4 adjacent u8 * s8 products
 *   MFN(name)            name with the level's suffix */

#define MULTI_MAX KERN_QDOT_MULTI_MAX

static inline int32_t MFN(hsum_i32)(__m256i v)
{
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
        return _mm_cvtsi128_si32(s);
}

static inline int32_t MFN(hsum_i32x4)(__m128i s)
{
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
        return _mm_cvtsi128_si32(s);
}

static inline float MFN(hsum_f32)(__m256 v)
{
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
}

static inline __m256i MFN(load256)(const void *p)
{
        return _mm256_loadu_si256((const __m256i *)p);
}

static inline __m128i MFN(load128)(const void *p)
{
        return _mm_loadu_si128((const __m128i *)p);
}

/* 16 nibbles of a 32-element block: low ones (elements 0-15) in the low lane, high ones
 * (16-31) in the high lane, as u8. */
static inline __m256i MFN(nibbles)(const uint8_t *qs)
{
        __m128i raw = MFN(load128)(qs);
        return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0xf));
}

/* Q4_0 and Q8_0 read x side by side (struct kern_xqt): vector v of a block holds one quad of
 * elements of each of A rows of x (4 or 8) per group of A lanes, so one vpdpbusd against the
 * weight quads broadcast to match makes 8 partial sums of different rows, and no horizontal
 * reduction is needed: per block, A products, then one conversion and one multiply-add by
 * dw * dx for all rows. Lane g * A + a belongs to row a; the rows' offsets (Q4_0's -8 * sum of
 * x, xt->off) are in group 0 only, and the groups are added at the end; d and off hold A lanes
 * per block (with A = 4 the scales fill both halves by a broadcast load). With A = 4, vector v holds quads
 * v (low half) and v + 4 (high half), which one in-lane vpshufd broadcasts from the unpacked
 * weights; with A = 8 all lanes hold quad v (vpermd). */
/* Quad v of each 128-bit half of w in all four of its int32 lanes (v a constant once unrolled). */
static inline __attribute__((always_inline)) __m256i MFN(shuffle_quad)(__m256i w, int v)
{
        switch (v) {
        case 0:
                return _mm256_shuffle_epi32(w, 0x00);
        case 1:
                return _mm256_shuffle_epi32(w, 0x55);
        case 2:
                return _mm256_shuffle_epi32(w, 0xaa);
        default:
                return _mm256_shuffle_epi32(w, 0xff);
        }
}

static inline __attribute__((always_inline)) void MFN(qdot_multi_32)(const uint8_t *row, size_t block_bytes,
                bool q8, const struct kern_xqt *xt, size_t n, size_t cols, float *out, const int A)
{
        const int G = 8 / A;
        const int8_t *xq = xt->qs;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();

        (void)G;
        for (size_t i = 0; i < cols / 32; i++, row += block_bytes) {
                uint16_t dh;
                __m256i w, s;

                memcpy(&dh, row, sizeof(dh));
                if (q8)
                        w = MFN(load256)(row + 2);
                else
                        /* Low nibbles in the low half, high ones in the high half. */
                        w = _mm256_and_si256(
                                        _mm256_srlv_epi64(_mm256_broadcastsi128_si256(MFN(load128)(row + 2)),
                                                        _mm256_setr_epi64x(0, 0, 4, 4)),
                                        _mm256_set1_epi8(0xf));
                /* Two chains of products: one chain of A vpdpbusd would make each block wait
                 * A times their latency. Q4_0's offsets start the first. */
                __m256i c[2] = { q8       ? _mm256_setzero_si256()
                                 : A == 4 ? _mm256_zextsi128_si256(MFN(load128)(xt->off + 4 * i))
                                          : MFN(load256)(xt->off + 8 * i),
                        _mm256_setzero_si256() };
#pragma GCC unroll 8
                for (int v = 0; v < A; v++) {
                        __m256i wb = A == 4 ? MFN(shuffle_quad)(w, v)
                                            : _mm256_permutevar8x32_epi32(w, _mm256_set1_epi32(v)),
                                xv = MFN(load256)(xq + 32 * v);
                        if (q8)
                                c[v & 1] = DPBUSD(c[v & 1], _mm256_abs_epi8(wb), _mm256_sign_epi8(xv, wb));
                        else
                                c[v & 1] = DPBUSD(c[v & 1], wb, xv);
                }
                xq += 32 * A;
                s = _mm256_add_epi32(c[0], c[1]);
                __m256 sc = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(dh)),
                                (A == 4 ? _mm256_broadcast_ps((const __m128 *)(const void *)(xt->d + 4 * i))
                                        : _mm256_loadu_ps(xt->d + 8 * i)));
                if (i & 1)
                        acc1 = _mm256_fmadd_ps(sc, _mm256_cvtepi32_ps(s), acc1);
                else
                        acc0 = _mm256_fmadd_ps(sc, _mm256_cvtepi32_ps(s), acc0);
        }
        float lanes[8];
        _mm256_storeu_ps(lanes, _mm256_add_ps(acc0, acc1));
        for (size_t a = 0; a < n; a++) {
                float sum = 0.0f;
                for (int g = 0; g < G; g++)
                        sum += lanes[g * A + (int)a];
                out[a] += sum;
        }
}

static void MFN(qdot_multi_q4_0)(const void *row, const struct kern_xq *x, const struct kern_xqt *xt,
                size_t n, size_t cols, float *out)
{
        (void)x;
        if (xt->group == 4)
                MFN(qdot_multi_32)(row, sizeof(struct block_q4_0), false, xt, n, cols, out, 4);
        else
                MFN(qdot_multi_32)(row, sizeof(struct block_q4_0), false, xt, n, cols, out, 8);
}

static void MFN(qdot_multi_q8_0)(const void *row, const struct kern_xq *x, const struct kern_xqt *xt,
                size_t n, size_t cols, float *out)
{
        (void)x;
        if (xt->group == 4)
                MFN(qdot_multi_32)(row, sizeof(struct block_q8_0), true, xt, n, cols, out, 4);
        else
                MFN(qdot_multi_32)(row, sizeof(struct block_q8_0), true, xt, n, cols, out, 8);
}

/* The 16-bit scale j of a vector holding 8 of them in both lanes, broadcast. */
static inline __m256i MFN(word_ctrl)(int j)
{
        return _mm256_set1_epi16((short)(2 * j | (2 * j + 1) << 8));
}

/* u8 x s8 products of 32 elements, pairs summed, then weighted by the 16-bit scales: exact. */
static inline __m256i MFN(scaled_dot)(__m256i q, const int8_t *qx, __m256i sc)
{
        return _mm256_madd_epi16(_mm256_maddubs_epi16(q, MFN(load256)(qx)), sc);
}

static void MFN(qdot_multi_q4_K)(const void *row, const struct kern_xq *x, const struct kern_xqt *xt,
                size_t n, size_t cols, float *out)
{
        (void)xt;
        const struct block_q4_K *b = row;
        const __m256i m4 = _mm256_set1_epi8(0xf);
        float sum[MULTI_MAX];

        for (size_t r = 0; r < n; r++)
                sum[r] = out[r];

        for (size_t i = 0; i < cols / QK_K; i++, b++) {
                uint8_t scb[8], mb[8];
                __m256i q[8], sc[8];

                kern_unpack_k4(b->scales, scb, mb);
                __m256i scv = _mm256_broadcastsi128_si256(
                                _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)scb)));
                __m128i m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mb));
                for (int j = 0; j < QK_K / 64; j++) {
                        __m256i v = MFN(load256)(b->qs + 32 * j);
                        q[2 * j] = _mm256_and_si256(v, m4);
                        q[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                        sc[2 * j] = _mm256_shuffle_epi8(scv, MFN(word_ctrl)(2 * j));
                        sc[2 * j + 1] = _mm256_shuffle_epi8(scv, MFN(word_ctrl)(2 * j + 1));
                }
                float d = _cvtsh_ss(b->d), dmin = _cvtsh_ss(b->dmin);
                for (size_t r = 0; r < n; r++) {
                        const int8_t *qx = x[r].qs + QK_K * i;
                        __m256i acc0 = MFN(scaled_dot)(q[0], qx, sc[0]);
                        __m256i acc1 = MFN(scaled_dot)(q[1], qx + 32, sc[1]);
                        for (int k = 2; k < 8; k += 2) {
                                acc0 = _mm256_add_epi32(acc0, MFN(scaled_dot)(q[k], qx + 32 * k, sc[k]));
                                acc1 = _mm256_add_epi32(acc1,
                                                MFN(scaled_dot)(q[k + 1], qx + 32 * k + 32, sc[k + 1]));
                        }
                        int32_t isum = MFN(hsum_i32)(_mm256_add_epi32(acc0, acc1));
                        int32_t imin = MFN(hsum_i32x4)(
                                        _mm_madd_epi16(m16, MFN(load128)(x[r].s32 + QK_K / 32 * i)));
                        float dx = x[r].d[i];
                        sum[r] += d * dx * (float)isum - dmin * dx * (float)imin;
                }
        }
        for (size_t r = 0; r < n; r++)
                out[r] = sum[r];
}

static void MFN(qdot_multi_q6_K)(const void *row, const struct kern_xq *x, const struct kern_xqt *xt,
                size_t n, size_t cols, float *out)
{
        (void)xt;
        const struct block_q6_K *b = row;
        const __m256i m4 = _mm256_set1_epi8(0xf), m2 = _mm256_set1_epi8(0x30);
        /* Even sub-blocks' scales in the low lane, odd ones in the high lane (dot-int.h). */
        const __m128i split = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
        float sum[MULTI_MAX];

        for (size_t r = 0; r < n; r++)
                sum[r] = out[r];

        for (size_t i = 0; i < cols / QK_K; i++, b++) {
                __m128i sc8 = MFN(load128)(b->scales);
                __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
                __m256i scv = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, split));
                __m256i q[8], sc[8];

                for (int h = 0; h < 2; h++) {
                        const uint8_t *ql = b->ql + 64 * h;
                        __m256i a = MFN(load256)(ql), c = MFN(load256)(ql + 32),
                                hb = MFN(load256)(b->qh + 32 * h);
                        q[4 * h] = _mm256_or_si256(_mm256_and_si256(a, m4),
                                        _mm256_and_si256(_mm256_slli_epi16(hb, 4), m2));
                        q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(c, m4),
                                        _mm256_and_si256(_mm256_slli_epi16(hb, 2), m2));
                        q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4),
                                        _mm256_and_si256(hb, m2));
                        q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(c, 4), m4),
                                        _mm256_and_si256(_mm256_srli_epi16(hb, 2), m2));
                        for (int p = 0; p < 4; p++)
                                sc[4 * h + p] = _mm256_shuffle_epi8(scv, MFN(word_ctrl)(4 * h + p));
                }
                float d = _cvtsh_ss(b->d);
                for (size_t r = 0; r < n; r++) {
                        const int8_t *qx = x[r].qs + QK_K * i;
                        __m256i acc0 = MFN(scaled_dot)(q[0], qx, sc[0]);
                        __m256i acc1 = MFN(scaled_dot)(q[1], qx + 32, sc[1]);
                        for (int k = 2; k < 8; k += 2) {
                                acc0 = _mm256_add_epi32(acc0, MFN(scaled_dot)(q[k], qx + 32 * k, sc[k]));
                                acc1 = _mm256_add_epi32(acc1,
                                                MFN(scaled_dot)(q[k + 1], qx + 32 * k + 32, sc[k + 1]));
                        }
                        /* The -32 offset: 32 * sum_k sc[k] * (sum of qx over sub-block k). */
                        __m256i off = _mm256_madd_epi16(sc16, MFN(load256)(x[r].s16 + QK_K / 16 * i));
                        int32_t isum = MFN(hsum_i32)(_mm256_sub_epi32(
                                        _mm256_add_epi32(acc0, acc1), _mm256_slli_epi32(off, 5)));
                        sum[r] += d * x[r].d[i] * (float)isum;
                }
        }
        for (size_t r = 0; r < n; r++)
                out[r] = sum[r];
}

#define KERN_QDOT_MULTI_ENTRIES                                                           \
        [GGML_TYPE_Q4_0] = MFN(qdot_multi_q4_0), [GGML_TYPE_Q8_0] = MFN(qdot_multi_q8_0), \
        [GGML_TYPE_Q4_K] = MFN(qdot_multi_q4_K), [GGML_TYPE_Q6_K] = MFN(qdot_multi_q6_K)
