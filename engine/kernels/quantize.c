/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <math.h>

#include "kernels-internal.h"

/* Reference quantizers, following the rounding rules of ggml's quantize_row_*_ref so that a
 * file we write dequantizes as llama.cpp expects. The K-quant sub-block scale searches are a
 * simpler variant of ggml's make_qx_quants / make_qkx2_quants: the same candidate grid of
 * inverse scales around the range-filling one, each scored by the weighted least-squares fit
 * of scale (and min) for the rounded levels, without ggml's extra refinement passes. They
 * serve tests and the model maker, where this costs a little accuracy and nothing else. */

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static int nearest_int(float f)
{
        return (int)lrintf(f); /* round half to even, as ggml's nearest_int */
}

static uint16_t fp16(float f)
{
        return aid_f32_to_fp16(f);
}

/* The element of largest magnitude, with its sign. */
static float signed_absmax(const float *x, int n)
{
        float amax = 0.0f, max = 0.0f;

        for (int i = 0; i < n; i++)
                if (fabsf(x[i]) > amax) {
                        amax = fabsf(x[i]);
                        max = x[i];
                }
        return max;
}

static void quantize_q4_0(const float *x, struct block_q4_0 *y)
{
        /* The largest-magnitude value maps to -8, the one level with no positive twin. */
        float d = signed_absmax(x, QK4_0) / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;

        y->d = fp16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
                int q0 = MIN(15, (int)(x[j] * id + 8.5f));
                int q1 = MIN(15, (int)(x[j + QK4_0 / 2] * id + 8.5f));
                y->qs[j] = (uint8_t)(q0 | q1 << 4);
        }
}

static void min_max(const float *x, int n, float *ret_min, float *ret_max)
{
        float mn = x[0], mx = x[0];

        for (int i = 1; i < n; i++) {
                mn = MIN(mn, x[i]);
                mx = MAX(mx, x[i]);
        }
        *ret_min = mn;
        *ret_max = mx;
}

static void quantize_q4_1(const float *x, struct block_q4_1 *y)
{
        float mn, mx;

        min_max(x, QK4_1, &mn, &mx);
        float d = (mx - mn) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y->d = fp16(d);
        y->m = fp16(mn);
        for (int j = 0; j < QK4_1 / 2; j++) {
                int q0 = MIN(15, (int)((x[j] - mn) * id + 0.5f));
                int q1 = MIN(15, (int)((x[j + QK4_1 / 2] - mn) * id + 0.5f));
                y->qs[j] = (uint8_t)(q0 | q1 << 4);
        }
}

static void store_qh(uint8_t qh[4], uint32_t v)
{
        for (int i = 0; i < 4; i++)
                qh[i] = (uint8_t)(v >> (8 * i));
}

static void quantize_q5_0(const float *x, struct block_q5_0 *y)
{
        float d = signed_absmax(x, QK5_0) / -16.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        uint32_t qh = 0;

        y->d = fp16(d);
        for (int j = 0; j < QK5_0 / 2; j++) {
                int q0 = MIN(31, (int)(x[j] * id + 16.5f));
                int q1 = MIN(31, (int)(x[j + QK5_0 / 2] * id + 16.5f));
                y->qs[j] = (uint8_t)((q0 & 0xf) | (q1 & 0xf) << 4);
                qh |= (uint32_t)(q0 >> 4) << j;
                qh |= (uint32_t)(q1 >> 4) << (j + QK5_0 / 2);
        }
        store_qh(y->qh, qh);
}

static void quantize_q5_1(const float *x, struct block_q5_1 *y)
{
        float mn, mx;
        uint32_t qh = 0;

        min_max(x, QK5_1, &mn, &mx);
        float d = (mx - mn) / 31.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y->d = fp16(d);
        y->m = fp16(mn);
        for (int j = 0; j < QK5_1 / 2; j++) {
                int q0 = MIN(31, (int)((x[j] - mn) * id + 0.5f));
                int q1 = MIN(31, (int)((x[j + QK5_1 / 2] - mn) * id + 0.5f));
                y->qs[j] = (uint8_t)((q0 & 0xf) | (q1 & 0xf) << 4);
                qh |= (uint32_t)(q0 >> 4) << j;
                qh |= (uint32_t)(q1 >> 4) << (j + QK5_1 / 2);
        }
        store_qh(y->qh, qh);
}

static void quantize_q8_0(const float *x, struct block_q8_0 *y)
{
        float amax = fabsf(signed_absmax(x, QK8_0));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;

        y->d = fp16(d);
        for (int j = 0; j < QK8_0; j++)
                y->qs[j] = (int8_t)roundf(x[j] * id);
}

/* Symmetric: x ~= scale * l, l in [-nmax, nmax - 1], stored as L = l + nmax. Weights x^2
 * (ggml's rmse_type 1) favour the large values that dominate a dot product. */
static float qx_quants(int n, int nmax, const float *x, uint8_t *L)
{
        float max = signed_absmax(x, n), best = 0.0f, best_iscale = 0.0f;

        if (fabsf(max) < 1e-30f) {
                memset(L, nmax, (size_t)n);
                return 0.0f;
        }
        for (int is = -9; is <= 9; is++) {
                float iscale = -((float)nmax + 0.1f * (float)is) / max, sumlx = 0.0f, suml2 = 0.0f;

                for (int i = 0; i < n; i++) {
                        int l = MAX(-nmax, MIN(nmax - 1, nearest_int(iscale * x[i])));
                        float w = x[i] * x[i];
                        sumlx += w * x[i] * (float)l;
                        suml2 += w * (float)l * (float)l;
                }
                /* For fixed levels the best scale is sumlx/suml2 and the error falls by
                 * sumlx^2/suml2: keep the candidate that removes the most. */
                if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
                        best = sumlx * sumlx / suml2;
                        best_iscale = iscale;
                }
        }
        float sumlx = 0.0f, suml2 = 0.0f;
        for (int i = 0; i < n; i++) {
                int l = MAX(-nmax, MIN(nmax - 1, nearest_int(best_iscale * x[i])));
                float w = x[i] * x[i];
                sumlx += w * x[i] * (float)l;
                suml2 += w * (float)l * (float)l;
                L[i] = (uint8_t)(l + nmax);
        }
        return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric: x ~= scale * L - ret_min, L in [0, nmax], ret_min >= 0 (the minimum is clamped
 * to at most 0, as ggml does, so that zero stays representable). */
static float qkx_quants(int n, int nmax, const float *x, const float *w, uint8_t *L, float rmin, int nstep,
                float *ret_min)
{
        float mn, mx, sum_w = 0.0f, sum_x = 0.0f;
        float best_err = INFINITY, best_scale = 0.0f, best_min = 0.0f;
        uint8_t Laux[QK_K];

        min_max(x, n, &mn, &mx);
        mn = MIN(mn, 0.0f);
        if (mx <= mn) {
                memset(L, 0, (size_t)n);
                *ret_min = -mn;
                return 0.0f;
        }
        for (int i = 0; i < n; i++) {
                sum_w += w[i];
                sum_x += w[i] * x[i];
        }
        for (int is = 0; is <= nstep; is++) {
                float iscale = (rmin + 0.1f * (float)is + (float)nmax) / (mx - mn);
                float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;

                for (int i = 0; i < n; i++) {
                        int l = MAX(0, MIN(nmax, nearest_int(iscale * (x[i] - mn))));
                        Laux[i] = (uint8_t)l;
                        sum_l += w[i] * (float)l;
                        sum_l2 += w[i] * (float)l * (float)l;
                        sum_xl += w[i] * (float)l * x[i];
                }
                /* Weighted least squares for x ~= scale * l + min over these levels. */
                float D = sum_w * sum_l2 - sum_l * sum_l;
                if (D <= 0.0f)
                        continue;
                float scale = (sum_w * sum_xl - sum_x * sum_l) / D;
                float min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
                if (min > 0.0f) {
                        min = 0.0f;
                        scale = sum_l2 > 0.0f ? sum_xl / sum_l2 : 0.0f;
                }
                float err = 0.0f;
                for (int i = 0; i < n; i++) {
                        float diff = scale * (float)Laux[i] + min - x[i];
                        err += w[i] * diff * diff;
                }
                if (err < best_err) {
                        best_err = err;
                        best_scale = scale;
                        best_min = min;
                        memcpy(L, Laux, (size_t)n);
                }
        }
        if (best_err == INFINITY) {
                float iscale = (float)nmax / (mx - mn);
                for (int i = 0; i < n; i++)
                        L[i] = (uint8_t)MAX(0, MIN(nmax, nearest_int(iscale * (x[i] - mn))));
                best_scale = 1.0f / iscale;
                best_min = mn;
        }
        *ret_min = -best_min;
        return best_scale;
}

/* The 12-byte 6-bit scale/min packing of Q4_K and Q5_K (inverse of kern_scale_min_k4). */
static void pack_scales_k4(uint8_t s[12], const uint8_t ls[8], const uint8_t lm[8])
{
        memset(s, 0, 12);
        for (int j = 0; j < 8; j++) {
                if (j < 4) {
                        s[j] = ls[j];
                        s[j + 4] = lm[j];
                } else {
                        s[j + 4] = (uint8_t)((ls[j] & 0xf) | (lm[j] & 0xf) << 4);
                        s[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
                        s[j] |= (uint8_t)((lm[j] >> 4) << 6);
                }
        }
}

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): fills d, dmin, scales and the levels L. */
static void quantize_k4_scales(const float *x, int nmax, float rmin, int nstep, uint16_t *ret_d,
                uint16_t *ret_dmin, uint8_t packed[12], uint8_t L[QK_K])
{
        float scales[8], mins[8], weights[32], max_scale = 0.0f, max_min = 0.0f, sum_x2 = 0.0f;
        uint8_t ls[8], lm[8];

        for (int i = 0; i < QK_K; i++)
                sum_x2 += x[i] * x[i];
        float av_x = sqrtf(sum_x2 / QK_K);
        for (int j = 0; j < 8; j++) {
                for (int l = 0; l < 32; l++)
                        weights[l] = av_x + fabsf(x[32 * j + l]);
                scales[j] = qkx_quants(32, nmax, x + 32 * j, weights, L + 32 * j, rmin, nstep, &mins[j]);
                max_scale = MAX(max_scale, scales[j]);
                max_min = MAX(max_min, mins[j]);
        }
        float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
        float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
        for (int j = 0; j < 8; j++) {
                ls[j] = (uint8_t)MAX(0, MIN(63, nearest_int(inv_scale * scales[j])));
                lm[j] = (uint8_t)MAX(0, MIN(63, nearest_int(inv_min * mins[j])));
        }
        pack_scales_k4(packed, ls, lm);
        *ret_d = fp16(max_scale / 63.0f);
        *ret_dmin = fp16(max_min / 63.0f);

        /* Re-round every element against the scales as they will be read back. */
        float d = kern_fp16_to_f32(*ret_d), dmin = kern_fp16_to_f32(*ret_dmin);
        for (int j = 0; j < 8; j++) {
                float dj = d * (float)ls[j], mj = dmin * (float)lm[j];
                if (dj == 0.0f)
                        continue;
                for (int l = 0; l < 32; l++)
                        L[32 * j + l] = (uint8_t)MAX(0, MIN(nmax, nearest_int((x[32 * j + l] + mj) / dj)));
        }
}

static void quantize_q4_K(const float *x, struct block_q4_K *y)
{
        uint8_t L[QK_K];

        quantize_k4_scales(x, 15, -1.0f, 20, &y->d, &y->dmin, y->scales, L);
        for (int j = 0; j < QK_K; j += 64)
                for (int l = 0; l < 32; l++)
                        y->qs[j / 2 + l] = (uint8_t)(L[j + l] | L[j + l + 32] << 4);
}

static void quantize_q5_K(const float *x, struct block_q5_K *y)
{
        uint8_t L[QK_K];

        quantize_k4_scales(x, 31, -0.5f, 15, &y->d, &y->dmin, y->scales, L);
        memset(y->qh, 0, sizeof(y->qh));
        uint8_t m1 = 1, m2 = 2;
        for (int j = 0; j < QK_K; j += 64, m1 <<= 2, m2 <<= 2)
                for (int l = 0; l < 32; l++) {
                        int l1 = L[j + l], l2 = L[j + l + 32];
                        if (l1 > 15) {
                                l1 -= 16;
                                y->qh[l] |= m1;
                        }
                        if (l2 > 15) {
                                l2 -= 16;
                                y->qh[l] |= m2;
                        }
                        y->qs[j / 2 + l] = (uint8_t)(l1 | l2 << 4);
                }
}

static void quantize_q6_K(const float *x, struct block_q6_K *y)
{
        float scales[QK_K / 16], max_scale = 0.0f, max_abs = 0.0f;
        uint8_t L[QK_K];

        for (int ib = 0; ib < QK_K / 16; ib++) {
                scales[ib] = qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
                if (fabsf(scales[ib]) > max_abs) {
                        max_abs = fabsf(scales[ib]);
                        max_scale = scales[ib];
                }
        }
        if (max_abs < 1e-30f) {
                memset(y, 0, sizeof(*y));
                return;
        }
        /* As for Q4_0, the largest scale takes the level without a positive twin (-128). */
        float iscale = -128.0f / max_scale;
        y->d = fp16(1.0f / iscale);
        for (int ib = 0; ib < QK_K / 16; ib++)
                y->scales[ib] = (int8_t)MIN(127, nearest_int(iscale * scales[ib]));
        float d = kern_fp16_to_f32(y->d);
        for (int j = 0; j < QK_K / 16; j++) {
                float dj = d * (float)y->scales[j];
                if (dj == 0.0f)
                        continue;
                for (int i = 0; i < 16; i++)
                        L[16 * j + i] = (uint8_t)(MAX(-32, MIN(31, nearest_int(x[16 * j + i] / dj))) + 32);
        }
        uint8_t *ql = y->ql, *qh = y->qh;
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32)
                for (int l = 0; l < 32; l++) {
                        uint8_t q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
                        ql[l] = (uint8_t)((q1 & 0xf) | (q3 & 0xf) << 4);
                        ql[l + 32] = (uint8_t)((q2 & 0xf) | (q4 & 0xf) << 4);
                        qh[l] = (uint8_t)((q1 >> 4) | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6);
                }
}

int aid_quantize_row(uint32_t type, const float *src, void *dst, size_t n)
{
        const struct ggml_type_traits *t;
        uint8_t *p = dst;

        if (!ggml_type_is_supported(type))
                return -EINVAL;
        t = ggml_type_traits_get(type);
        if (n % t->block_elems != 0)
                return -EINVAL;

        for (size_t i = 0; i < n / t->block_elems; i++) {
                const float *x = src + i * t->block_elems;
                void *b = p + i * t->block_bytes;
                uint16_t h;

                switch (type) {
                case GGML_TYPE_F32:
                        memcpy(b, x, sizeof(float));
                        break;
                case GGML_TYPE_F16:
                        h = aid_f32_to_fp16(*x);
                        memcpy(b, &h, sizeof(h));
                        break;
                case GGML_TYPE_BF16:
                        h = aid_f32_to_bf16(*x);
                        memcpy(b, &h, sizeof(h));
                        break;
                case GGML_TYPE_Q4_0:
                        quantize_q4_0(x, b);
                        break;
                case GGML_TYPE_Q4_1:
                        quantize_q4_1(x, b);
                        break;
                case GGML_TYPE_Q5_0:
                        quantize_q5_0(x, b);
                        break;
                case GGML_TYPE_Q5_1:
                        quantize_q5_1(x, b);
                        break;
                case GGML_TYPE_Q8_0:
                        quantize_q8_0(x, b);
                        break;
                case GGML_TYPE_Q4_K:
                        quantize_q4_K(x, b);
                        break;
                case GGML_TYPE_Q5_K:
                        quantize_q5_K(x, b);
                        break;
                case GGML_TYPE_Q6_K:
                        quantize_q6_K(x, b);
                        break;
                }
        }
        return 0;
}
