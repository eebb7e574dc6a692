/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stddef.h>

#include "ggml-type.h"
#include "macro.h"

/* Block geometry as ggml defines it (ggml-common.h; the same numbers are in gguf-py's
 * GGML_QUANT_SIZES, which is the public statement of the file format). A wrong entry here
 * would make every tensor offset after the first tensor of that type wrong, so types whose
 * size could not be confirmed are left out and load as "unknown type". */
static const struct ggml_type_traits traits[_GGML_TYPE_MAX] = {
        [GGML_TYPE_F32] = { "F32", 1, 4, false },
        [GGML_TYPE_F16] = { "F16", 1, 2, false },
        [GGML_TYPE_Q4_0] = { "Q4_0", 32, 18, true },        /* f16 d, 16 B nibbles */
        [GGML_TYPE_Q4_1] = { "Q4_1", 32, 20, true },        /* f16 d, f16 m, 16 B */
        [GGML_TYPE_Q5_0] = { "Q5_0", 32, 22, true },        /* f16 d, 4 B high bits, 16 B */
        [GGML_TYPE_Q5_1] = { "Q5_1", 32, 24, true },        /* f16 d, f16 m, 4 B, 16 B */
        [GGML_TYPE_Q8_0] = { "Q8_0", 32, 34, true },        /* f16 d, 32 B */
        [GGML_TYPE_Q8_1] = { "Q8_1", 32, 36, true },        /* f16 d, f16 s, 32 B */
        [GGML_TYPE_Q2_K] = { "Q2_K", 256, 84, true },       /* 16 scales, 64 quants, 2 f16 */
        [GGML_TYPE_Q3_K] = { "Q3_K", 256, 110, true },      /* 32 hmask, 64 quants, 12 scales, f16 */
        [GGML_TYPE_Q4_K] = { "Q4_K", 256, 144, true },      /* 2 f16, 12 scales, 128 quants */
        [GGML_TYPE_Q5_K] = { "Q5_K", 256, 176, true },      /* 2 f16, 12 scales, 32 qh, 128 qs */
        [GGML_TYPE_Q6_K] = { "Q6_K", 256, 210, true },      /* 128 ql, 64 qh, 16 scales, f16 */
        [GGML_TYPE_Q8_K] = { "Q8_K", 256, 292, true },      /* f32 d, 256 qs, 16 i16 bsums */
        [GGML_TYPE_IQ2_XXS] = { "IQ2_XXS", 256, 66, true }, /* f16 + QK_K/4 */
        [GGML_TYPE_IQ2_XS] = { "IQ2_XS", 256, 74, true },   /* f16 + QK_K/4 + QK_K/32 */
        [GGML_TYPE_IQ3_XXS] = { "IQ3_XXS", 256, 98, true }, /* f16 + QK_K/4 + QK_K/8 */
        [GGML_TYPE_IQ1_S] = { "IQ1_S", 256, 50, true },     /* f16 + QK_K/8 + QK_K/16 */
        [GGML_TYPE_IQ4_NL] = { "IQ4_NL", 32, 18, true },    /* f16 + 16 */
        [GGML_TYPE_IQ3_S] = { "IQ3_S", 256, 110, true },    /* f16 + QK_K/4 + /8 + /32 + 4 */
        [GGML_TYPE_IQ2_S] = { "IQ2_S", 256, 82, true },     /* f16 + QK_K/4 + QK_K/16 */
        [GGML_TYPE_IQ4_XS] = { "IQ4_XS", 256, 136, true },  /* 2 + 2 + QK_K/2 + QK_K/64 */
        [GGML_TYPE_I8] = { "I8", 1, 1, false },
        [GGML_TYPE_I16] = { "I16", 1, 2, false },
        [GGML_TYPE_I32] = { "I32", 1, 4, false },
        [GGML_TYPE_I64] = { "I64", 1, 8, false },
        [GGML_TYPE_F64] = { "F64", 1, 8, false },
        [GGML_TYPE_IQ1_M] = { "IQ1_M", 256, 56, true }, /* QK_K/8 + QK_K/16 + QK_K/32 */
        [GGML_TYPE_BF16] = { "BF16", 1, 2, false },
        [GGML_TYPE_TQ1_0] = { "TQ1_0", 256, 54, true }, /* f16 + 4 * 13 */
        [GGML_TYPE_TQ2_0] = { "TQ2_0", 256, 66, true }, /* f16 + 64 */
        [GGML_TYPE_MXFP4] = { "MXFP4", 32, 17, true },  /* e8m0 scale + 16 B */
};

const struct ggml_type_traits *ggml_type_traits_get(uint32_t type)
{
        if (type >= ELEMENTSOF(traits) || !traits[type].name)
                return NULL;
        return &traits[type];
}

const char *ggml_type_name(uint32_t type)
{
        const struct ggml_type_traits *t = ggml_type_traits_get(type);

        return t ? t->name : "unknown";
}

bool ggml_type_is_supported(uint32_t type)
{
        switch (type) {
        case GGML_TYPE_F32:
        case GGML_TYPE_F16:
        case GGML_TYPE_BF16:
        case GGML_TYPE_Q8_0:
        case GGML_TYPE_Q4_0:
        case GGML_TYPE_Q4_1:
        case GGML_TYPE_Q5_0:
        case GGML_TYPE_Q5_1:
        case GGML_TYPE_Q4_K:
        case GGML_TYPE_Q5_K:
        case GGML_TYPE_Q6_K:
                return true;
        default:
                return false;
        }
}

int ggml_row_bytes(uint32_t type, uint64_t n, uint64_t *ret_bytes)
{
        const struct ggml_type_traits *t = ggml_type_traits_get(type);
        uint64_t bytes;

        if (!t || n % t->block_elems != 0)
                return -EINVAL;
        if (__builtin_mul_overflow(n / t->block_elems, (uint64_t)t->block_bytes, &bytes))
                return -EOVERFLOW;
        *ret_bytes = bytes;
        return 0;
}

/* llama.cpp's enum llama_ftype, without the LLAMA_FTYPE_(MOSTLY_|ALL_) prefix. Gaps are
 * values llama.cpp retired (4: Q4_1_SOME_F16, 5/6: Q4_2/Q4_3, 33..35: Q4_0_4_4...). */
static const char *const file_types[] = {
        [0] = "F32",
        [1] = "F16",
        [2] = "Q4_0",
        [3] = "Q4_1",
        [7] = "Q8_0",
        [8] = "Q5_0",
        [9] = "Q5_1",
        [10] = "Q2_K",
        [11] = "Q3_K_S",
        [12] = "Q3_K_M",
        [13] = "Q3_K_L",
        [14] = "Q4_K_S",
        [15] = "Q4_K_M",
        [16] = "Q5_K_S",
        [17] = "Q5_K_M",
        [18] = "Q6_K",
        [19] = "IQ2_XXS",
        [20] = "IQ2_XS",
        [21] = "Q2_K_S",
        [22] = "IQ3_XS",
        [23] = "IQ3_XXS",
        [24] = "IQ1_S",
        [25] = "IQ4_NL",
        [26] = "IQ3_S",
        [27] = "IQ3_M",
        [28] = "IQ2_S",
        [29] = "IQ2_M",
        [30] = "IQ4_XS",
        [31] = "IQ1_M",
        [32] = "BF16",
        [36] = "TQ1_0",
        [37] = "TQ2_0",
        [38] = "MXFP4_MOE",
};

const char *ggml_file_type_name(uint32_t file_type)
{
        if (file_type >= ELEMENTSOF(file_types))
                return NULL;
        return file_types[file_type];
}
