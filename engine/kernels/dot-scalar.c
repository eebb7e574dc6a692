/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kernels-internal.h"

/* The scalar level: every type through dequantize-then-dot, the reference that the SIMD
 * kernels are tested against. */

float kern_dot_generic(uint32_t type, const void *row, const float *x, size_t cols)
{
        const struct ggml_type_traits *t = ggml_type_traits_get(type);
        /* One K-quant super-block, or 8 blocks of 32, or 256 plain elements per step: small
         * enough for the stack, large enough to amortise the call. */
        float buf[QK_K];
        size_t per_chunk = QK_K / t->block_elems;
        const uint8_t *p = row;
        float sum = 0.0f;

        for (size_t c = 0; c < cols;) {
                size_t nb = (cols - c) / t->block_elems;
                if (nb > per_chunk)
                        nb = per_chunk;
                for (size_t b = 0; b < nb; b++)
                        kern_dequant_block(type, p + b * t->block_bytes, buf + b * t->block_elems);
                size_t n = nb * t->block_elems;
                float part = 0.0f;
                for (size_t i = 0; i < n; i++)
                        part += buf[i] * x[c + i];
                sum += part;
                p += nb * t->block_bytes;
                c += n;
        }
        return sum;
}

#define GENERIC(T, name)                                                \
        static float name(const void *row, const float *x, size_t cols) \
        {                                                               \
                return kern_dot_generic(T, row, x, cols);               \
        }

GENERIC(GGML_TYPE_F32, dot_f32_scalar)
GENERIC(GGML_TYPE_F16, dot_f16_scalar)
GENERIC(GGML_TYPE_BF16, dot_bf16_scalar)
GENERIC(GGML_TYPE_Q4_0, dot_q4_0_scalar)
GENERIC(GGML_TYPE_Q4_1, dot_q4_1_scalar)
GENERIC(GGML_TYPE_Q5_0, dot_q5_0_scalar)
GENERIC(GGML_TYPE_Q5_1, dot_q5_1_scalar)
GENERIC(GGML_TYPE_Q8_0, dot_q8_0_scalar)
GENERIC(GGML_TYPE_Q4_K, dot_q4_K_scalar)
GENERIC(GGML_TYPE_Q5_K, dot_q5_K_scalar)
GENERIC(GGML_TYPE_Q6_K, dot_q6_K_scalar)

const struct kern_dot_table kern_dot_scalar = {
        .dot = {
                [GGML_TYPE_F32] = dot_f32_scalar,
                [GGML_TYPE_F16] = dot_f16_scalar,
                [GGML_TYPE_BF16] = dot_bf16_scalar,
                [GGML_TYPE_Q4_0] = dot_q4_0_scalar,
                [GGML_TYPE_Q4_1] = dot_q4_1_scalar,
                [GGML_TYPE_Q5_0] = dot_q5_0_scalar,
                [GGML_TYPE_Q5_1] = dot_q5_1_scalar,
                [GGML_TYPE_Q8_0] = dot_q8_0_scalar,
                [GGML_TYPE_Q4_K] = dot_q4_K_scalar,
                [GGML_TYPE_Q5_K] = dot_q5_K_scalar,
                [GGML_TYPE_Q6_K] = dot_q6_K_scalar,
        },
};
