/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "kernels-internal.h"

size_t kern_xqt_bytes(size_t cols)
{
        size_t n = (cols + 255) / 256 * 256;
        return n * 8 + n / 32 * 8 * (sizeof(float) + sizeof(int32_t));
}

struct kern_xqt kern_xqt_layout(uint8_t *mem, size_t cols)
{
        size_t n = (cols + 255) / 256 * 256;

        return (struct kern_xqt){
                .qs = (int8_t *)mem,
                .d = (float *)(void *)(mem + n * 8),
                .off = (int32_t *)(void *)(mem + n * 8 + n / 32 * 8 * sizeof(float)),
                .group = 8,
        };
}

void kern_xqt_fill_scalar(const struct kern_xq *x, size_t n, size_t cols, struct kern_xqt *xt)
{
        const size_t H = n <= 4 ? 1 : 2, nb = cols / 32, ng = (nb + 3) / 4;

        xt->group = (int)(4 * H);
        for (size_t g = 0; g < ng; g++)
                for (size_t s = 0; s < H; s++) {
                        /* Vector 2 k + h: lane 4 beta + j holds quad j of half h of block beta
                         * of row (j + k) % 4 of the half. */
                        for (size_t q = 0; q < 8; q++) {
                                int8_t *dst = xt->qs + ((g * 8 + q) * H + s) * 64;
                                const size_t k = q / 2, h = q % 2;
                                for (size_t l = 0; l < 16; l++) {
                                        const size_t j = l % 4, b = 4 * g + l / 4, a = 4 * s + (j + k) % 4;
                                        if (a < n && b < nb)
                                                memcpy(dst + 4 * l, x[a].qs + 32 * b + 16 * h + 4 * j, 4);
                                        else
                                                memset(dst + 4 * l, 0, 4);
                                }
                        }
                        for (size_t l = 0; l < 16; l++) {
                                size_t b = 4 * g + l / 4, a = 4 * s + l % 4, k = (g * H + s) * 16 + l;
                                xt->d[k] = a < n && b < nb ? x[a].d[b] : 0.0f;
                                xt->off[k] = a < n && b < nb ? -8 * x[a].s32[b] : 0;
                        }
                }
}

/* The scalar twins of the multi-row integer kernels: each block is unpacked once to plain
 * integers, then met by every row with the single-row twins' arithmetic (dot-int-scalar.c),
 * in the same order, so these give exactly kern_qdot_scalar[type] per row. */

static void qdot_multi_q4_0_scalar(const void *row, const struct kern_xq *x, const struct kern_xqt *xt,
                size_t n, size_t cols, float *out)
{
        (void)xt;
        const struct block_q4_0 *b = row;
        float sum[KERN_QDOT_MULTI_MAX];

        for (size_t r = 0; r < n; r++)
                sum[r] = out[r];

        for (size_t i = 0; i < cols / QK4_0; i++, b++) {
                int q[QK4_0];
                float dw = kern_fp16_to_f32(b->d);

                for (int j = 0; j < QK4_0 / 2; j++) {
                        q[j] = b->qs[j] & 0xf;
                        q[j + QK4_0 / 2] = b->qs[j] >> 4;
                }
                for (size_t r = 0; r < n; r++) {
                        const int8_t *qx = x[r].qs + QK4_0 * i;
                        int isum = 0;
                        for (int j = 0; j < QK4_0 / 2; j++)
                                isum += q[j] * qx[j] + q[j + QK4_0 / 2] * qx[j + QK4_0 / 2];
                        isum -= 8 * x[r].s32[i];
                        sum[r] += dw * x[r].d[i] * (float)isum;
                }
        }
        for (size_t r = 0; r < n; r++)
                out[r] = sum[r];
}

static void qdot_multi_q5_0_scalar(const void *row, const struct kern_xq *x, const struct kern_xqt *xt,
                size_t n, size_t cols, float *out)
{
        (void)xt;
        const struct block_q5_0 *b = row;
        float sum[KERN_QDOT_MULTI_MAX];

        for (size_t r = 0; r < n; r++)
                sum[r] = out[r];

        for (size_t i = 0; i < cols / QK5_0; i++, b++) {
                int q[QK5_0];
                uint32_t qh;
                float dw = kern_fp16_to_f32(b->d);

                memcpy(&qh, b->qh, sizeof(qh));
                for (int j = 0; j < QK5_0 / 2; j++) {
                        q[j] = (b->qs[j] & 0xf) | (int)((qh >> j) & 1) << 4;
                        q[j + QK5_0 / 2] = (b->qs[j] >> 4) | (int)((qh >> (j + QK5_0 / 2)) & 1) << 4;
                }
                for (size_t r = 0; r < n; r++) {
                        const int8_t *qx = x[r].qs + QK5_0 * i;
                        int isum = 0;
                        for (int j = 0; j < QK5_0; j++)
                                isum += q[j] * qx[j];
                        isum -= 16 * x[r].s32[i];
                        sum[r] += dw * x[r].d[i] * (float)isum;
                }
        }
        for (size_t r = 0; r < n; r++)
                out[r] = sum[r];
}

/* Q4_1 (q5 false) and Q5_1: sums and mins apart, added at the end, as their single-row twins. */
static void qdot_multi_min_scalar(
                const uint8_t *row, bool q5, const struct kern_xq *x, size_t n, size_t cols, float *out)
{
        const size_t bb = q5 ? sizeof(struct block_q5_1) : sizeof(struct block_q4_1);
        float sum[KERN_QDOT_MULTI_MAX], mins[KERN_QDOT_MULTI_MAX];

        for (size_t r = 0; r < n; r++)
                sum[r] = out[r], mins[r] = 0.0f;

        for (size_t i = 0; i < cols / 32; i++) {
                const uint8_t *b = row + i * bb, *qs = b + (q5 ? 8 : 4);
                uint16_t d, m;
                uint32_t qh = 0;
                int q[32];

                memcpy(&d, b, sizeof(d));
                memcpy(&m, b + 2, sizeof(m));
                if (q5)
                        memcpy(&qh, b + 4, sizeof(qh));
                for (int j = 0; j < 16; j++) {
                        q[j] = (qs[j] & 0xf) | (int)((qh >> j) & 1) << 4;
                        q[j + 16] = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
                }
                float dw = kern_fp16_to_f32(d), mw = kern_fp16_to_f32(m);
                for (size_t r = 0; r < n; r++) {
                        const int8_t *qx = x[r].qs + 32 * i;
                        int isum = 0;
                        for (int j = 0; j < 32; j++)
                                isum += q[j] * qx[j];
                        sum[r] += dw * x[r].d[i] * (float)isum;
                        mins[r] += mw * x[r].d[i] * x[r].fs32[i];
                }
        }
        for (size_t r = 0; r < n; r++)
                out[r] = sum[r] + mins[r];
}

static void qdot_multi_q4_1_scalar(const void *row, const struct kern_xq *x, const struct kern_xqt *xt,
                size_t n, size_t cols, float *out)
{
        (void)xt;
        qdot_multi_min_scalar(row, false, x, n, cols, out);
}

static void qdot_multi_q5_1_scalar(const void *row, const struct kern_xq *x, const struct kern_xqt *xt,
                size_t n, size_t cols, float *out)
{
        (void)xt;
        qdot_multi_min_scalar(row, true, x, n, cols, out);
}

static void qdot_multi_q8_0_scalar(const void *row, const struct kern_xq *x, const struct kern_xqt *xt,
                size_t n, size_t cols, float *out)
{
        (void)xt;
        const struct block_q8_0 *b = row;
        float sum[KERN_QDOT_MULTI_MAX];

        for (size_t r = 0; r < n; r++)
                sum[r] = out[r];

        for (size_t i = 0; i < cols / QK8_0; i++, b++) {
                float dw = kern_fp16_to_f32(b->d);

                for (size_t r = 0; r < n; r++) {
                        const int8_t *qx = x[r].qs + QK8_0 * i;
                        int isum = 0;
                        for (int j = 0; j < QK8_0; j++)
                                isum += b->qs[j] * qx[j];
                        sum[r] += dw * x[r].d[i] * (float)isum;
                }
        }
        for (size_t r = 0; r < n; r++)
                out[r] = sum[r];
}

/* Q4_K and (q5) Q5_K: each super-block's quants unpacked once, then met by the n rows as the
 * single-row twins do. */
static void qdot_multi_k45_scalar(
                const void *row, bool q5, const struct kern_xq *x, size_t n, size_t cols, float *out)
{
        float sum[KERN_QDOT_MULTI_MAX];

        for (size_t r = 0; r < n; r++)
                sum[r] = out[r];

        for (size_t i = 0; i < cols / QK_K; i++) {
                const struct block_q4_K *b4 = (const struct block_q4_K *)row + i;
                const struct block_q5_K *b5 = (const struct block_q5_K *)row + i;
                const uint8_t *qs = q5 ? b5->qs : b4->qs;
                uint8_t sc[8], m[8], q[QK_K];
                float d = kern_fp16_to_f32(q5 ? b5->d : b4->d),
                      dmin = kern_fp16_to_f32(q5 ? b5->dmin : b4->dmin);

                kern_unpack_k4(q5 ? b5->scales : b4->scales, sc, m);
                for (int j = 0; j < QK_K / 64; j++)
                        for (int l = 0; l < 32; l++) {
                                int h0 = q5 ? (b5->qh[l] >> (2 * j)) & 1 : 0;
                                int h1 = q5 ? (b5->qh[l] >> (2 * j + 1)) & 1 : 0;
                                q[64 * j + l] = (uint8_t)((qs[32 * j + l] & 0xf) | h0 << 4);
                                q[64 * j + 32 + l] = (uint8_t)((qs[32 * j + l] >> 4) | h1 << 4);
                        }
                for (size_t r = 0; r < n; r++) {
                        const int8_t *qx = x[r].qs + QK_K * i;
                        const int16_t *s32 = x[r].s32 + QK_K / 32 * i;
                        int32_t isum = 0, imin = 0;
                        for (int j = 0; j < QK_K / 64; j++) {
                                int lo = 0, hi = 0;
                                for (int l = 0; l < 32; l++) {
                                        lo += q[64 * j + l] * qx[64 * j + l];
                                        hi += q[64 * j + 32 + l] * qx[64 * j + 32 + l];
                                }
                                isum += sc[2 * j] * lo + sc[2 * j + 1] * hi;
                        }
                        for (int j = 0; j < 8; j++)
                                imin += m[j] * s32[j];
                        float dx = x[r].d[i];
                        sum[r] += d * dx * (float)isum - dmin * dx * (float)imin;
                }
        }
        for (size_t r = 0; r < n; r++)
                out[r] = sum[r];
}

static void qdot_multi_q4_K_scalar(const void *row, const struct kern_xq *x, const struct kern_xqt *xt,
                size_t n, size_t cols, float *out)
{
        (void)xt;
        qdot_multi_k45_scalar(row, false, x, n, cols, out);
}

static void qdot_multi_q5_K_scalar(const void *row, const struct kern_xq *x, const struct kern_xqt *xt,
                size_t n, size_t cols, float *out)
{
        (void)xt;
        qdot_multi_k45_scalar(row, true, x, n, cols, out);
}

static void qdot_multi_q6_K_scalar(const void *row, const struct kern_xq *x, const struct kern_xqt *xt,
                size_t n, size_t cols, float *out)
{
        (void)xt;
        const struct block_q6_K *b = row;
        float sum[KERN_QDOT_MULTI_MAX];

        for (size_t r = 0; r < n; r++)
                sum[r] = out[r];

        for (size_t i = 0; i < cols / QK_K; i++, b++) {
                /* q[e]: the unsigned 6-bit value of element e of the super-block. */
                uint8_t q[QK_K];
                float d = kern_fp16_to_f32(b->d);

                for (int h = 0; h < 2; h++) {
                        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
                        for (int k = 0; k < 4; k++)
                                for (int l = 0; l < 32; l++) {
                                        uint8_t lo = ql[l + 32 * (k & 1)];
                                        q[128 * h + 32 * k + l] = (uint8_t)((k >= 2 ? lo >> 4 : lo & 0xf) |
                                                                            ((qh[l] >> (2 * k)) & 3) << 4);
                                }
                }
                for (size_t r = 0; r < n; r++) {
                        const int8_t *qx = x[r].qs + QK_K * i;
                        const int16_t *s16 = x[r].s16 + QK_K / 16 * i;
                        int32_t isum = 0, ioff = 0;
                        for (int k = 0; k < QK_K / 16; k++) {
                                int part = 0;
                                for (int l = 16 * k; l < 16 * k + 16; l++)
                                        part += q[l] * qx[l];
                                isum += b->scales[k] * part;
                        }
                        for (int k = 0; k < QK_K / 16; k++)
                                ioff += b->scales[k] * s16[k];
                        isum -= 32 * ioff;
                        sum[r] += d * x[r].d[i] * (float)isum;
                }
        }
        for (size_t r = 0; r < n; r++)
                out[r] = sum[r];
}

const kern_qdot_multi_fn kern_qdot_multi_scalar[_GGML_TYPE_MAX] = {
        [GGML_TYPE_Q4_0] = qdot_multi_q4_0_scalar,
        [GGML_TYPE_Q5_0] = qdot_multi_q5_0_scalar,
        [GGML_TYPE_Q4_1] = qdot_multi_q4_1_scalar,
        [GGML_TYPE_Q5_1] = qdot_multi_q5_1_scalar,
        [GGML_TYPE_Q8_0] = qdot_multi_q8_0_scalar,
        [GGML_TYPE_Q4_K] = qdot_multi_q4_K_scalar,
        [GGML_TYPE_Q5_K] = qdot_multi_q5_K_scalar,
        [GGML_TYPE_Q6_K] = qdot_multi_q6_K_scalar,
};
