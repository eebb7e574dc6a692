/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "ggml-type.h"

/* Bytes of one 256-element row, as ggml lays each type out. */
static const struct {
        uint32_t type;
        const char *name;
        uint64_t bytes_256;
} supported[] = {
        { GGML_TYPE_F32, "F32", 1024 },
        { GGML_TYPE_F16, "F16", 512 },
        { GGML_TYPE_BF16, "BF16", 512 },
        { GGML_TYPE_Q8_0, "Q8_0", 272 },
        { GGML_TYPE_Q4_0, "Q4_0", 144 },
        { GGML_TYPE_Q4_1, "Q4_1", 160 },
        { GGML_TYPE_Q5_0, "Q5_0", 176 },
        { GGML_TYPE_Q5_1, "Q5_1", 192 },
        { GGML_TYPE_Q4_K, "Q4_K", 144 },
        { GGML_TYPE_Q5_K, "Q5_K", 176 },
        { GGML_TYPE_Q6_K, "Q6_K", 210 },
};

Test(ggml_type, supported_row_sizes)
{
        for (size_t i = 0; i < sizeof(supported) / sizeof(supported[0]); i++) {
                uint64_t bytes = 0;

                cr_assert(ggml_type_is_supported(supported[i].type), "%s", supported[i].name);
                cr_assert_str_eq(ggml_type_name(supported[i].type), supported[i].name);
                cr_assert_eq(ggml_row_bytes(supported[i].type, 256, &bytes), 0, "%s", supported[i].name);
                cr_assert_eq(bytes, supported[i].bytes_256, "%s: %lu", supported[i].name,
                                (unsigned long)bytes);
                /* A row of 4096 (a real embedding width) is 16 times as large. */
                cr_assert_eq(ggml_row_bytes(supported[i].type, 4096, &bytes), 0);
                cr_assert_eq(bytes, supported[i].bytes_256 * 16, "%s", supported[i].name);
        }
}

Test(ggml_type, known_but_unsupported)
{
        static const uint32_t types[] = { GGML_TYPE_Q8_1, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q8_K,
                GGML_TYPE_IQ2_XXS, GGML_TYPE_IQ4_XS, GGML_TYPE_I8, GGML_TYPE_F64, GGML_TYPE_TQ1_0,
                GGML_TYPE_MXFP4 };

        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
                cr_assert_not_null(ggml_type_traits_get(types[i]), "%u", types[i]);
                cr_assert_not(ggml_type_is_supported(types[i]), "%s", ggml_type_name(types[i]));
        }
}

Test(ggml_type, block_geometry_of_other_types)
{
        static const struct {
                uint32_t type;
                uint32_t elems, bytes;
        } geo[] = {
                { GGML_TYPE_Q8_1, 32, 36 },
                { GGML_TYPE_Q2_K, 256, 84 },
                { GGML_TYPE_Q3_K, 256, 110 },
                { GGML_TYPE_Q8_K, 256, 292 },
                { GGML_TYPE_IQ2_XXS, 256, 66 },
                { GGML_TYPE_IQ2_XS, 256, 74 },
                { GGML_TYPE_IQ3_XXS, 256, 98 },
                { GGML_TYPE_IQ1_S, 256, 50 },
                { GGML_TYPE_IQ4_NL, 32, 18 },
                { GGML_TYPE_IQ3_S, 256, 110 },
                { GGML_TYPE_IQ2_S, 256, 82 },
                { GGML_TYPE_IQ4_XS, 256, 136 },
                { GGML_TYPE_I8, 1, 1 },
                { GGML_TYPE_I16, 1, 2 },
                { GGML_TYPE_I32, 1, 4 },
                { GGML_TYPE_I64, 1, 8 },
                { GGML_TYPE_F64, 1, 8 },
                { GGML_TYPE_IQ1_M, 256, 56 },
                { GGML_TYPE_TQ1_0, 256, 54 },
                { GGML_TYPE_TQ2_0, 256, 66 },
                { GGML_TYPE_MXFP4, 32, 17 },
        };

        for (size_t i = 0; i < sizeof(geo) / sizeof(geo[0]); i++) {
                const struct ggml_type_traits *t = ggml_type_traits_get(geo[i].type);

                cr_assert_not_null(t);
                cr_assert_eq(t->block_elems, geo[i].elems, "%s", t->name);
                cr_assert_eq(t->block_bytes, geo[i].bytes, "%s", t->name);
                cr_assert_eq(t->quantized, geo[i].elems > 1, "%s", t->name);
        }
}

Test(ggml_type, row_not_multiple_of_block)
{
        uint64_t bytes = 12345;

        cr_assert_eq(ggml_row_bytes(GGML_TYPE_Q4_0, 33, &bytes), -EINVAL);
        cr_assert_eq(ggml_row_bytes(GGML_TYPE_Q4_K, 128, &bytes), -EINVAL);
        cr_assert_eq(ggml_row_bytes(GGML_TYPE_Q6_K, 257, &bytes), -EINVAL);
        cr_assert_eq(bytes, 12345, "ret_bytes must be untouched on failure");
        cr_assert_eq(ggml_row_bytes(GGML_TYPE_F32, 33, &bytes), 0);
        cr_assert_eq(bytes, 132);
}

Test(ggml_type, row_overflow)
{
        uint64_t bytes = 7;

        cr_assert_eq(ggml_row_bytes(GGML_TYPE_F32, UINT64_MAX / 2, &bytes), -EOVERFLOW);
        cr_assert_eq(ggml_row_bytes(GGML_TYPE_Q8_0, (UINT64_MAX / 32) * 32, &bytes), -EOVERFLOW);
        cr_assert_eq(bytes, 7);
        /* The largest F32 row that fits. */
        cr_assert_eq(ggml_row_bytes(GGML_TYPE_F32, UINT64_MAX / 4, &bytes), 0);
        cr_assert_eq(bytes, (UINT64_MAX / 4) * 4);
}

Test(ggml_type, unknown_types)
{
        static const uint32_t gaps[] = { 4, 5, 31, 32, 33, 36, 37, 38, _GGML_TYPE_MAX, 1000, UINT32_MAX };
        uint64_t bytes;

        for (size_t i = 0; i < sizeof(gaps) / sizeof(gaps[0]); i++) {
                cr_assert_null(ggml_type_traits_get(gaps[i]), "%u", gaps[i]);
                cr_assert_str_eq(ggml_type_name(gaps[i]), "unknown");
                cr_assert_not(ggml_type_is_supported(gaps[i]));
                cr_assert_eq(ggml_row_bytes(gaps[i], 256, &bytes), -EINVAL);
        }
}

Test(ggml_type, file_type_names)
{
        cr_assert_str_eq(ggml_file_type_name(0), "F32");
        cr_assert_str_eq(ggml_file_type_name(1), "F16");
        cr_assert_str_eq(ggml_file_type_name(7), "Q8_0");
        cr_assert_str_eq(ggml_file_type_name(15), "Q4_K_M");
        cr_assert_str_eq(ggml_file_type_name(18), "Q6_K");
        cr_assert_str_eq(ggml_file_type_name(21), "Q2_K_S");
        cr_assert_str_eq(ggml_file_type_name(32), "BF16");
        cr_assert_str_eq(ggml_file_type_name(38), "MXFP4_MOE");
        cr_assert_null(ggml_file_type_name(4));
        cr_assert_null(ggml_file_type_name(5));
        cr_assert_null(ggml_file_type_name(33));
        cr_assert_null(ggml_file_type_name(39));
        cr_assert_null(ggml_file_type_name(UINT32_MAX));
}
