/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include "kernels-internal.h"

/* The integer path's scalar twins: the arithmetic the SIMD kernels must reproduce, written as
 * plainly as the formats allow. Integer sums are exact at every level; only the float scaling
 * of each block's integer sum may round differently where a SIMD kernel reorders it. */

void kern_quantize_x_scalar(const float *x, size_t n, size_t block, const struct kern_xq *xq)
{
        for (size_t b = 0; b < n / block; b++) {
                const float *xb = x + b * block;
                float amax = 0.0f;

                for (size_t i = 0; i < block; i++)
                        amax = fmaxf(amax, fabsf(xb[i]));
                /* 127, not 128: symmetric levels, so |q| <= 127 and the sign trick of the
                 * 8-bit weight kernels (which negates q) cannot overflow. */
                float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
                xq->d[b] = d;
                for (size_t i = 0; i < block; i++) {
                        long q = lrintf(xb[i] * id);
                        xq->qs[b * block + i] = (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
                }
        }
        kern_xq_sums(xq, n, block);
}

/* The 32-element types: sum += (dw * dx) * sum(q * qx), with the weight offset (-8, -16) or
 * min (m) applied to the block's sum of qx. */

static float qdot_q8_0_scalar(const void *row, const struct kern_xq *x, size_t n)
{
        const struct block_q8_0 *b = row;
        float sum = 0.0f;

        for (size_t i = 0; i < n / QK8_0; i++, b++) {
                const int8_t *qx = x->qs + QK8_0 * i;
                int isum = 0;
                for (int j = 0; j < QK8_0; j++)
                        isum += b->qs[j] * qx[j];
                sum += kern_fp16_to_f32(b->d) * x->d[i] * (float)isum;
        }
        return sum;
}

static float qdot_q4_0_scalar(const void *row, const struct kern_xq *x, size_t n)
{
        const struct block_q4_0 *b = row;
        float sum = 0.0f;

        for (size_t i = 0; i < n / QK4_0; i++, b++) {
                const int8_t *qx = x->qs + QK4_0 * i;
                int isum = 0;
                for (int j = 0; j < QK4_0 / 2; j++)
                        isum += (b->qs[j] & 0xf) * qx[j] + (b->qs[j] >> 4) * qx[j + QK4_0 / 2];
                isum -= 8 * x->s32[i];
                sum += kern_fp16_to_f32(b->d) * x->d[i] * (float)isum;
        }
        return sum;
}

static float qdot_q4_1_scalar(const void *row, const struct kern_xq *x, size_t n)
{
        const struct block_q4_1 *b = row;
        float sum = 0.0f, mins = 0.0f;

        for (size_t i = 0; i < n / QK4_1; i++, b++) {
                const int8_t *qx = x->qs + QK4_1 * i;
                int isum = 0;
                for (int j = 0; j < QK4_1 / 2; j++)
                        isum += (b->qs[j] & 0xf) * qx[j] + (b->qs[j] >> 4) * qx[j + QK4_1 / 2];
                sum += kern_fp16_to_f32(b->d) * x->d[i] * (float)isum;
                mins += kern_fp16_to_f32(b->m) * x->d[i] * x->fs32[i];
        }
        return sum + mins;
}

static uint32_t load_u32(const uint8_t *p)
{
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        return v;
}

/* Sum of q5 * qx over one Q5_0 / Q5_1 block, q5 unsigned (0..31). */
static int q5_isum(const uint8_t *qs, uint32_t qh, const int8_t *qx)
{
        int isum = 0;

        for (int j = 0; j < 16; j++) {
                int q0 = (qs[j] & 0xf) | (int)((qh >> j) & 1) << 4;
                int q1 = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
                isum += q0 * qx[j] + q1 * qx[j + 16];
        }
        return isum;
}

static float qdot_q5_0_scalar(const void *row, const struct kern_xq *x, size_t n)
{
        const struct block_q5_0 *b = row;
        float sum = 0.0f;

        for (size_t i = 0; i < n / QK5_0; i++, b++) {
                int isum = q5_isum(b->qs, load_u32(b->qh), x->qs + QK5_0 * i) - 16 * x->s32[i];
                sum += kern_fp16_to_f32(b->d) * x->d[i] * (float)isum;
        }
        return sum;
}

static float qdot_q5_1_scalar(const void *row, const struct kern_xq *x, size_t n)
{
        const struct block_q5_1 *b = row;
        float sum = 0.0f, mins = 0.0f;

        for (size_t i = 0; i < n / QK5_1; i++, b++) {
                int isum = q5_isum(b->qs, load_u32(b->qh), x->qs + QK5_1 * i);
                sum += kern_fp16_to_f32(b->d) * x->d[i] * (float)isum;
                mins += kern_fp16_to_f32(b->m) * x->d[i] * x->fs32[i];
        }
        return sum + mins;
}

/* The K types: per super-block, isum = sum_j sc[j] * sum(q * qx) over its sub-blocks and
 * imin = sum_j m[j] * sum(qx), both exact in int32; then
 * sum += (d * dx) * isum - (dmin * dx) * imin. */

static float qdot_q4_K_scalar(const void *row, const struct kern_xq *x, size_t n)
{
        const struct block_q4_K *b = row;
        float sum = 0.0f;

        for (size_t i = 0; i < n / QK_K; i++, b++) {
                const int8_t *qx = x->qs + QK_K * i;
                const int16_t *s32 = x->s32 + QK_K / 32 * i;
                uint8_t sc[8], m[8];
                int32_t isum = 0, imin = 0;

                kern_unpack_k4(b->scales, sc, m);
                for (int j = 0; j < QK_K / 64; j++) {
                        const uint8_t *q = b->qs + 32 * j;
                        int lo = 0, hi = 0;
                        for (int l = 0; l < 32; l++) {
                                lo += (q[l] & 0xf) * qx[64 * j + l];
                                hi += (q[l] >> 4) * qx[64 * j + 32 + l];
                        }
                        isum += sc[2 * j] * lo + sc[2 * j + 1] * hi;
                }
                for (int j = 0; j < 8; j++)
                        imin += m[j] * s32[j];
                float dx = x->d[i];
                sum += kern_fp16_to_f32(b->d) * dx * (float)isum -
                       kern_fp16_to_f32(b->dmin) * dx * (float)imin;
        }
        return sum;
}

static float qdot_q5_K_scalar(const void *row, const struct kern_xq *x, size_t n)
{
        const struct block_q5_K *b = row;
        float sum = 0.0f;

        for (size_t i = 0; i < n / QK_K; i++, b++) {
                const int8_t *qx = x->qs + QK_K * i;
                const int16_t *s32 = x->s32 + QK_K / 32 * i;
                uint8_t sc[8], m[8];
                int32_t isum = 0, imin = 0;

                kern_unpack_k4(b->scales, sc, m);
                for (int j = 0; j < QK_K / 64; j++) {
                        const uint8_t *q = b->qs + 32 * j;
                        int lo = 0, hi = 0;
                        for (int l = 0; l < 32; l++) {
                                int q0 = (q[l] & 0xf) | ((b->qh[l] >> (2 * j)) & 1) << 4;
                                int q1 = (q[l] >> 4) | ((b->qh[l] >> (2 * j + 1)) & 1) << 4;
                                lo += q0 * qx[64 * j + l];
                                hi += q1 * qx[64 * j + 32 + l];
                        }
                        isum += sc[2 * j] * lo + sc[2 * j + 1] * hi;
                }
                for (int j = 0; j < 8; j++)
                        imin += m[j] * s32[j];
                float dx = x->d[i];
                sum += kern_fp16_to_f32(b->d) * dx * (float)isum -
                       kern_fp16_to_f32(b->dmin) * dx * (float)imin;
        }
        return sum;
}

/* Q6_K: q6 unsigned (0..63) in the products; the -32 offset is sc[k] * 32 * (sum of qx over
 * sub-block k), folded into the same int32 sum. */
static float qdot_q6_K_scalar(const void *row, const struct kern_xq *x, size_t n)
{
        const struct block_q6_K *b = row;
        float sum = 0.0f;

        for (size_t i = 0; i < n / QK_K; i++, b++) {
                const int8_t *qx = x->qs + QK_K * i;
                const int16_t *s16 = x->s16 + QK_K / 16 * i;
                int32_t isum = 0, ioff = 0;

                for (int h = 0; h < 2; h++) {
                        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
                        const int8_t *sc = b->scales + 8 * h, *xh = qx + 128 * h;
                        for (int k = 0; k < 4; k++) {
                                for (int s = 0; s < 2; s++) {
                                        int part = 0;
                                        for (int l = 16 * s; l < 16 * s + 16; l++) {
                                                uint8_t lo = ql[l + 32 * (k & 1)];
                                                int q = (k >= 2 ? lo >> 4 : lo & 0xf) |
                                                        ((qh[l] >> (2 * k)) & 3) << 4;
                                                part += q * xh[32 * k + l];
                                        }
                                        isum += sc[2 * k + s] * part;
                                }
                        }
                }
                for (int k = 0; k < QK_K / 16; k++)
                        ioff += b->scales[k] * s16[k];
                isum -= 32 * ioff;
                sum += kern_fp16_to_f32(b->d) * x->d[i] * (float)isum;
        }
        return sum;
}

const kern_qdot_fn kern_qdot_scalar[_GGML_TYPE_MAX] = {
        [GGML_TYPE_Q8_0] = qdot_q8_0_scalar,
        [GGML_TYPE_Q4_0] = qdot_q4_0_scalar,
        [GGML_TYPE_Q4_1] = qdot_q4_1_scalar,
        [GGML_TYPE_Q5_0] = qdot_q5_0_scalar,
        [GGML_TYPE_Q5_1] = qdot_q5_1_scalar,
        [GGML_TYPE_Q4_K] = qdot_q4_K_scalar,
        [GGML_TYPE_Q5_K] = qdot_q5_K_scalar,
        [GGML_TYPE_Q6_K] = qdot_q6_K_scalar,
};
