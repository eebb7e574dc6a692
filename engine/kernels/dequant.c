/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "kernels-internal.h"

/* Scalar dequantization, element order exactly as ggml defines each block. */

static void dequant_q4_0(const struct block_q4_0 *b, float *y)
{
        float d = kern_fp16_to_f32(b->d);

        for (int j = 0; j < QK4_0 / 2; j++) {
                y[j] = d * (float)((b->qs[j] & 0xf) - 8);
                y[j + QK4_0 / 2] = d * (float)((b->qs[j] >> 4) - 8);
        }
}

static void dequant_q4_1(const struct block_q4_1 *b, float *y)
{
        float d = kern_fp16_to_f32(b->d), m = kern_fp16_to_f32(b->m);

        for (int j = 0; j < QK4_1 / 2; j++) {
                y[j] = d * (float)(b->qs[j] & 0xf) + m;
                y[j + QK4_1 / 2] = d * (float)(b->qs[j] >> 4) + m;
        }
}

static uint32_t load_qh(const uint8_t qh[4])
{
        return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static void dequant_q5_0(const struct block_q5_0 *b, float *y)
{
        float d = kern_fp16_to_f32(b->d);
        uint32_t qh = load_qh(b->qh);

        for (int j = 0; j < QK5_0 / 2; j++) {
                int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
                y[j] = d * (float)(((b->qs[j] & 0xf) | h0 << 4) - 16);
                y[j + QK5_0 / 2] = d * (float)(((b->qs[j] >> 4) | h1 << 4) - 16);
        }
}

static void dequant_q5_1(const struct block_q5_1 *b, float *y)
{
        float d = kern_fp16_to_f32(b->d), m = kern_fp16_to_f32(b->m);
        uint32_t qh = load_qh(b->qh);

        for (int j = 0; j < QK5_1 / 2; j++) {
                int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
                y[j] = d * (float)((b->qs[j] & 0xf) | h0 << 4) + m;
                y[j + QK5_1 / 2] = d * (float)((b->qs[j] >> 4) | h1 << 4) + m;
        }
}

static void dequant_q8_0(const struct block_q8_0 *b, float *y)
{
        float d = kern_fp16_to_f32(b->d);

        for (int j = 0; j < QK8_0; j++)
                y[j] = d * (float)b->qs[j];
}

static void dequant_q4_K(const struct block_q4_K *b, float *y)
{
        float d = kern_fp16_to_f32(b->d), dmin = kern_fp16_to_f32(b->dmin);
        const uint8_t *q = b->qs;

        for (int j = 0; j < QK_K / 64; j++, q += 32, y += 64) {
                uint8_t sc, m;

                kern_scale_min_k4(2 * j, b->scales, &sc, &m);
                float d1 = d * sc, m1 = dmin * m;
                kern_scale_min_k4(2 * j + 1, b->scales, &sc, &m);
                float d2 = d * sc, m2 = dmin * m;
                for (int l = 0; l < 32; l++) {
                        y[l] = d1 * (float)(q[l] & 0xf) - m1;
                        y[l + 32] = d2 * (float)(q[l] >> 4) - m2;
                }
        }
}

static void dequant_q5_K(const struct block_q5_K *b, float *y)
{
        float d = kern_fp16_to_f32(b->d), dmin = kern_fp16_to_f32(b->dmin);
        const uint8_t *q = b->qs;

        for (int j = 0; j < QK_K / 64; j++, q += 32, y += 64) {
                uint8_t sc, m, u1 = (uint8_t)(1u << (2 * j)), u2 = (uint8_t)(2u << (2 * j));

                kern_scale_min_k4(2 * j, b->scales, &sc, &m);
                float d1 = d * sc, m1 = dmin * m;
                kern_scale_min_k4(2 * j + 1, b->scales, &sc, &m);
                float d2 = d * sc, m2 = dmin * m;
                for (int l = 0; l < 32; l++) {
                        y[l] = d1 * (float)((q[l] & 0xf) + (b->qh[l] & u1 ? 16 : 0)) - m1;
                        y[l + 32] = d2 * (float)((q[l] >> 4) + (b->qh[l] & u2 ? 16 : 0)) - m2;
                }
        }
}

static void dequant_q6_K(const struct block_q6_K *b, float *y)
{
        float d = kern_fp16_to_f32(b->d);
        const uint8_t *ql = b->ql, *qh = b->qh;
        const int8_t *sc = b->scales;

        for (int n = 0; n < QK_K; n += 128, ql += 64, qh += 32, sc += 8, y += 128) {
                for (int l = 0; l < 32; l++) {
                        int is = l / 16;
                        int q1 = ((ql[l] & 0xf) | ((qh[l] >> 0) & 3) << 4) - 32;
                        int q2 = ((ql[l + 32] & 0xf) | ((qh[l] >> 2) & 3) << 4) - 32;
                        int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
                        int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
                        y[l] = d * sc[is] * (float)q1;
                        y[l + 32] = d * sc[is + 2] * (float)q2;
                        y[l + 64] = d * sc[is + 4] * (float)q3;
                        y[l + 96] = d * sc[is + 6] * (float)q4;
                }
        }
}

void kern_dequant_block(uint32_t type, const void *block, float *dst)
{
        uint16_t h;

        switch (type) {
        case GGML_TYPE_F32:
                memcpy(dst, block, sizeof(float));
                break;
        case GGML_TYPE_F16:
                memcpy(&h, block, sizeof(h));
                *dst = kern_fp16_to_f32(h);
                break;
        case GGML_TYPE_BF16:
                memcpy(&h, block, sizeof(h));
                *dst = kern_bf16_to_f32(h);
                break;
        case GGML_TYPE_Q4_0:
                dequant_q4_0(block, dst);
                break;
        case GGML_TYPE_Q4_1:
                dequant_q4_1(block, dst);
                break;
        case GGML_TYPE_Q5_0:
                dequant_q5_0(block, dst);
                break;
        case GGML_TYPE_Q5_1:
                dequant_q5_1(block, dst);
                break;
        case GGML_TYPE_Q8_0:
                dequant_q8_0(block, dst);
                break;
        case GGML_TYPE_Q4_K:
                dequant_q4_K(block, dst);
                break;
        case GGML_TYPE_Q5_K:
                dequant_q5_K(block, dst);
                break;
        case GGML_TYPE_Q6_K:
                dequant_q6_K(block, dst);
                break;
        default:
                assert(!"unsupported type");
        }
}

/* The current level's row kernels, or NULL at the scalar level. */
static const struct kern_dequant_table *dequant_table(void)
{
        switch (aid_kernels_get_level()) {
        case AID_CPU_AVX512:
        case AID_CPU_AVX512_VNNI:
        case AID_CPU_AVX512_ICL:
                return &kern_dequant_avx512;
        case AID_CPU_AVX2:
                return &kern_dequant_avx2;
        case AID_CPU_SCALAR:
                break;
        }
        return NULL;
}

static int check_row(uint32_t type, size_t n, const struct ggml_type_traits **ret_traits)
{
        const struct ggml_type_traits *t;

        if (!ggml_type_is_supported(type))
                return -EINVAL;
        t = ggml_type_traits_get(type);
        if (n % t->block_elems != 0)
                return -EINVAL;
        *ret_traits = t;
        return 0;
}

/* The scalar twin of every level's row kernel. */
static void dequantize_row_scalar(uint32_t type, const struct ggml_type_traits *t, const uint8_t *p, float *dst,
                size_t n)
{
        switch (type) {
        case GGML_TYPE_F32:
                memcpy(dst, p, n * sizeof(float));
                break;
        case GGML_TYPE_F16:
        case GGML_TYPE_BF16:
                for (size_t i = 0; i < n; i++) {
                        uint16_t h;
                        memcpy(&h, p + 2 * i, sizeof(h));
                        dst[i] = type == GGML_TYPE_F16 ? kern_fp16_to_f32(h) : kern_bf16_to_f32(h);
                }
                break;
        default:
                for (size_t i = 0; i < n / t->block_elems; i++)
                        kern_dequant_block(type, p + i * t->block_bytes, dst + i * t->block_elems);
                break;
        }
}

int aid_dequantize_row(uint32_t type, const void *src, float *dst, size_t n)
{
        const struct kern_dequant_table *tab = dequant_table();
        const struct ggml_type_traits *t;
        int r = check_row(type, n, &t);

        if (r < 0)
                return r;
        if (tab && tab->f32[type])
                tab->f32[type](src, dst, n);
        else
                dequantize_row_scalar(type, t, src, dst, n);
        return 0;
}

int aid_dequantize_row_bf16(uint32_t type, const void *src, uint16_t *dst, size_t n)
{
        const struct kern_dequant_table *tab = dequant_table();
        const struct ggml_type_traits *t;
        const uint8_t *p = src;
        int r = check_row(type, n, &t);

        if (r < 0)
                return r;
        if (tab && tab->bf16[type]) {
                tab->bf16[type](src, dst, n);
                return 0;
        }
        /* Whole blocks through a small f32 buffer: the largest block is QK_K elements. */
        size_t step = t->block_elems == 1 ? QK_K : t->block_elems;
        size_t step_bytes = step / t->block_elems * t->block_bytes;
        float buf[QK_K];

        for (size_t i = 0; i < n; i += step, p += step_bytes) {
                size_t m = n - i < step ? n - i : step;
                dequantize_row_scalar(type, t, p, buf, m);
                for (size_t j = 0; j < m; j++)
                        dst[i + j] = aid_f32_to_bf16(buf[j]);
        }
        return 0;
}
