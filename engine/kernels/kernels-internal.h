/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Private to engine/kernels: ggml's block layouts (as GGUF files store them, little-endian,
 * packed, 2-byte aligned inside a tensor whose data starts 32-byte aligned) and the per-level
 * row dot products that aid_matvec() dispatches to. */

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "quant.h"

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK_K  256

/* x = d * (q - 8), q in the low nibbles for elements 0..15 and the high ones for 16..31. */
struct block_q4_0 {
        uint16_t d;
        uint8_t qs[QK4_0 / 2];
};
/* x = d * q + m. */
struct block_q4_1 {
        uint16_t d, m;
        uint8_t qs[QK4_1 / 2];
};
/* x = d * (q - 16); bit j of qh (little-endian u32) is bit 4 of element j. */
struct block_q5_0 {
        uint16_t d;
        uint8_t qh[4];
        uint8_t qs[QK5_0 / 2];
};
/* x = d * q + m. */
struct block_q5_1 {
        uint16_t d, m;
        uint8_t qh[4];
        uint8_t qs[QK5_1 / 2];
};
/* x = d * q. */
struct block_q8_0 {
        uint16_t d;
        int8_t qs[QK8_0];
};
/* 8 sub-blocks of 32: x = d * sc[j] * q - dmin * m[j], 6-bit sc/m packed in `scales`;
 * each 64 elements use 32 bytes of qs, low nibbles first. */
struct block_q4_K {
        uint16_t d, dmin;
        uint8_t scales[12];
        uint8_t qs[QK_K / 2];
};
/* As Q4_K with a fifth bit per element in qh (bit 2i / 2i+1 for the i-th 64-element half). */
struct block_q5_K {
        uint16_t d, dmin;
        uint8_t scales[12];
        uint8_t qh[QK_K / 8];
        uint8_t qs[QK_K / 2];
};
/* 16 sub-blocks of 16: x = d * scales[j] * (q - 32), q = 4 low bits in ql, 2 high in qh. */
struct block_q6_K {
        uint8_t ql[QK_K / 2];
        uint8_t qh[QK_K / 4];
        int8_t scales[QK_K / 16];
        uint16_t d;
};

static_assert(sizeof(struct block_q4_0) == 18, "block_q4_0 layout");
static_assert(sizeof(struct block_q4_1) == 20, "block_q4_1 layout");
static_assert(sizeof(struct block_q5_0) == 22, "block_q5_0 layout");
static_assert(sizeof(struct block_q5_1) == 24, "block_q5_1 layout");
static_assert(sizeof(struct block_q8_0) == 34, "block_q8_0 layout");
static_assert(sizeof(struct block_q4_K) == 144, "block_q4_K layout");
static_assert(sizeof(struct block_q5_K) == 176, "block_q5_K layout");
static_assert(sizeof(struct block_q6_K) == 210, "block_q6_K layout");

/* Software conversions shared by the scalar code (no F16C in the scalar objects). */
static inline float kern_fp16_to_f32(uint16_t h)
{
        uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
        uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
        float f;

        if (exp == 0x1f)
                bits = sign | 0x7f800000u | (mant << 13);
        else if (exp == 0) {
                /* Subnormal (or zero): mant * 2^-24 is exact in f32. */
                f = (float)mant * 0x1p-24f;
                memcpy(&bits, &f, sizeof(bits));
                bits |= sign;
        } else
                bits = sign | ((exp + 112u) << 23) | (mant << 13);
        memcpy(&f, &bits, sizeof(f));
        return f;
}

static inline float kern_bf16_to_f32(uint16_t b)
{
        uint32_t bits = (uint32_t)b << 16;
        float f;

        memcpy(&f, &bits, sizeof(f));
        return f;
}

/* Q4_K / Q5_K: 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes. */
static inline void kern_scale_min_k4(int j, const uint8_t *q, uint8_t *ret_d, uint8_t *ret_m)
{
        if (j < 4) {
                *ret_d = q[j] & 63;
                *ret_m = q[j + 4] & 63;
        } else {
                *ret_d = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
                *ret_m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
}

/* One block of `type` to f32 (block_elems of ggml_type_traits_get()). */
void kern_dequant_block(uint32_t type, const void *block, float *dst);

/* sum_c row[c] * x[c] over cols elements of one row. NULL entries fall back to the generic
 * dequantize-and-dot path of the scalar level. */
typedef float (*kern_dot_fn)(const void *row, const float *x, size_t cols);

struct kern_dot_table {
        kern_dot_fn dot[_GGML_TYPE_MAX];
};

extern const struct kern_dot_table kern_dot_scalar;
extern const struct kern_dot_table kern_dot_avx2;
extern const struct kern_dot_table kern_dot_avx512;

/* Generic path: dequantize a chunk of blocks to a stack buffer and dot in f32. */
float kern_dot_generic(uint32_t type, const void *row, const float *x, size_t cols);
