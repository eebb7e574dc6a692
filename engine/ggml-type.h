/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Tensor element types as numbered in GGUF files (ggml's enum ggml_type; the numbers are
 * part of the file format, gaps are types ggml removed). */

#include <stdbool.h>
#include <stdint.h>

enum ggml_type {
        GGML_TYPE_F32 = 0,
        GGML_TYPE_F16 = 1,
        GGML_TYPE_Q4_0 = 2,
        GGML_TYPE_Q4_1 = 3,
        /* 4, 5: Q4_2, Q4_3, removed from the format */
        GGML_TYPE_Q5_0 = 6,
        GGML_TYPE_Q5_1 = 7,
        GGML_TYPE_Q8_0 = 8,
        GGML_TYPE_Q8_1 = 9,
        GGML_TYPE_Q2_K = 10,
        GGML_TYPE_Q3_K = 11,
        GGML_TYPE_Q4_K = 12,
        GGML_TYPE_Q5_K = 13,
        GGML_TYPE_Q6_K = 14,
        GGML_TYPE_Q8_K = 15,
        GGML_TYPE_IQ2_XXS = 16,
        GGML_TYPE_IQ2_XS = 17,
        GGML_TYPE_IQ3_XXS = 18,
        GGML_TYPE_IQ1_S = 19,
        GGML_TYPE_IQ4_NL = 20,
        GGML_TYPE_IQ3_S = 21,
        GGML_TYPE_IQ2_S = 22,
        GGML_TYPE_IQ4_XS = 23,
        GGML_TYPE_I8 = 24,
        GGML_TYPE_I16 = 25,
        GGML_TYPE_I32 = 26,
        GGML_TYPE_I64 = 27,
        GGML_TYPE_F64 = 28,
        GGML_TYPE_IQ1_M = 29,
        GGML_TYPE_BF16 = 30,
        /* 31..33: Q4_0_4_4, Q4_0_4_8, Q4_0_8_8, removed */
        GGML_TYPE_TQ1_0 = 34,
        GGML_TYPE_TQ2_0 = 35,
        /* 36..38: IQ4_NL_4_4, IQ4_NL_4_8, IQ4_NL_8_8, removed */
        GGML_TYPE_MXFP4 = 39,
        _GGML_TYPE_MAX,
};

/* Geometry of one type: `block_elems` elements are stored in `block_bytes` bytes. */
struct ggml_type_traits {
        const char *name;     /* "Q4_K" */
        uint32_t block_elems; /* 1 for plain types, 32 or 256 for quantized blocks */
        uint32_t block_bytes;
        bool quantized;
};

/* NULL for numbers that are no known type (gaps and values >= _GGML_TYPE_MAX). */
const struct ggml_type_traits *ggml_type_traits_get(uint32_t type);
const char *ggml_type_name(uint32_t type); /* "unknown" for no known type */

/* True for the types aid's engine computes with (DESIGN.md's list). */
bool ggml_type_is_supported(uint32_t type);

/* Bytes of a row of n elements: -EINVAL if n is not a multiple of the block size or the type
 * is unknown, -EOVERFLOW if it does not fit in 64 bits. */
int ggml_row_bytes(uint32_t type, uint64_t n, uint64_t *ret_bytes);

/* The name llama.cpp gives a general.file_type value ("Q4_K_M"), NULL when unknown. */
const char *ggml_file_type_name(uint32_t file_type);
