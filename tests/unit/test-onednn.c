/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-type.h"
#include "kernels/quant.h"
#include "onednn.h"

/* Products checked against a float64 reference computed from exactly the values oneDNN is
 * given: where the object computes in bf16 the reference rounds A (and dequantized weights) to
 * bf16 first, so the only difference left is f32 accumulation, bounded by a small multiple of
 * K·eps·Σ|a·b|. */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float frand(void)
{
        /* xorshift64*: reproducible, no libc state. */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return (float)((rng_state * 0x2545f4914f6cdd1dull) >> 40) / (float)(1u << 24) * 2.0f - 1.0f;
}

static float *rand_matrix(size_t rows, size_t cols)
{
        float *m = malloc(rows * cols * sizeof(float));

        cr_assert_not_null(m);
        for (size_t i = 0; i < rows * cols; i++)
                m[i] = frand();
        return m;
}

static float round_bf16(float x)
{
        return aid_bf16_to_f32(aid_f32_to_bf16(x));
}

/* c (m×n, ldc) against Σ_k a[i][k]·w[j][k] in float64; a: lda apart, w: dense k. */
static void check_product(const float *c, size_t ldc, const float *a, size_t lda, const float *w, size_t m,
                size_t n, size_t k, bool bf16)
{
        for (size_t i = 0; i < m; i++)
                for (size_t j = 0; j < n; j++) {
                        double ref = 0, mag = 0;

                        for (size_t l = 0; l < k; l++) {
                                double av = bf16 ? round_bf16(a[i * lda + l]) : a[i * lda + l];
                                double wv = bf16 ? round_bf16(w[j * k + l]) : w[j * k + l];

                                ref += av * wv;
                                mag += fabs(av * wv);
                        }
                        double tol = 4.0 * (double)k * 0x1p-24 * mag + 1e-30;
                        cr_assert(fabs(c[i * ldc + j] - ref) <= tol,
                                        "C[%zu][%zu] = %.9g, reference %.9g (tol %.3g, m=%zu n=%zu k=%zu%s)",
                                        i, j, c[i * ldc + j], ref, tol, m, n, k, bf16 ? ", bf16" : "");
                }
}

static struct aid_onednn *new_dnn(unsigned flags)
{
        struct aid_onednn *dnn = NULL;
        struct aid_error err = { 0 };

        cr_assert_eq(aid_onednn_new(flags, &dnn, &err), 0, "%s", err.message);
        return dnn;
}

static void f32_case(size_t m, size_t n, size_t k, size_t pad)
{
        struct aid_onednn *dnn = new_dnn(AID_ONEDNN_FORCE_F32);
        struct aid_error err = { 0 };
        size_t lda = k + pad, ldb = k + 2 * pad, ldc = n + pad;
        float *a = rand_matrix(m, lda), *b = rand_matrix(n, ldb), *w = malloc(n * k * sizeof(float));
        float *c = calloc(m * ldc, sizeof(float));

        /* The reference takes dense weights. */
        for (size_t j = 0; j < n; j++)
                memcpy(w + j * k, b + j * ldb, k * sizeof(float));
        cr_assert_eq(aid_onednn_matmul(dnn, a, m, k, lda, GGML_TYPE_F32, b, n, ldb, c, ldc, &err), 0, "%s",
                        err.message);
        check_product(c, ldc, a, lda, w, m, n, k, false);
        free(a), free(b), free(w), free(c);
        aid_onednn_free(dnn);
}

Test(onednn, f32_odd_shapes)
{
        f32_case(7, 13, 37, 0);
        f32_case(1, 1, 1, 0);
        f32_case(1, 300, 129, 0);
        f32_case(65, 33, 257, 0);
        f32_case(9, 17, 31, 5); /* views into wider buffers */
}

/* BF16 weights: bf16 products on CPUs that have them (A rounded to bf16), f32 elsewhere. */
Test(onednn, bf16_weights)
{
        struct aid_onednn *dnn = new_dnn(0);
        struct aid_error err = { 0 };
        const size_t m = 11, n = 29, k = 67;
        float *a = rand_matrix(m, k), *w = rand_matrix(n, k), *c = calloc(m * n, sizeof(float));
        uint16_t *wb = malloc(n * k * sizeof(uint16_t));

        for (size_t i = 0; i < n * k; i++) {
                wb[i] = aid_f32_to_bf16(w[i]);
                w[i] = aid_bf16_to_f32(wb[i]);
        }
        cr_assert_eq(aid_onednn_matmul(dnn, a, m, k, 0, GGML_TYPE_BF16, wb, n, 0, c, 0, &err), 0, "%s",
                        err.message);
        check_product(c, n, a, k, w, m, n, k, aid_onednn_uses_bf16(dnn));
        free(a), free(w), free(c), free(wb);
        aid_onednn_free(dnn);

        /* Forced f32: the same weights, A not rounded. */
        dnn = new_dnn(AID_ONEDNN_FORCE_F32);
        cr_assert_not(aid_onednn_uses_bf16(dnn));
        aid_onednn_free(dnn);
}

Test(onednn, primitives_are_cached_per_shape_and_thread_count)
{
        struct aid_onednn *dnn = new_dnn(AID_ONEDNN_FORCE_F32);
        struct aid_onednn_stats st;
        struct aid_error err = { 0 };
        const size_t m = 8, n = 24, k = 40;
        float *a = rand_matrix(m, k), *b = rand_matrix(n, k), *c1 = calloc(m * n, 4), *c2 = calloc(m * n, 4);
        int saved = omp_get_max_threads();

        omp_set_num_threads(2);
        for (int i = 0; i < 3; i++)
                cr_assert_eq(aid_onednn_matmul(dnn, a, m, k, 0, GGML_TYPE_F32, b, n, 0, c1, 0, &err), 0);
        aid_onednn_get_stats(dnn, &st);
        cr_assert_eq(st.primitives_created, 1);
        cr_assert_eq(st.cache_hits, 2);
        cr_assert_eq(st.calls, 3);
        cr_assert_eq(st.n_cached, 1);
        cr_assert_str_neq(aid_onednn_last_impl(dnn), "");

        /* Another M is another primitive... */
        cr_assert_eq(aid_onednn_matmul(dnn, a, m - 1, k, 0, GGML_TYPE_F32, b, n, 0, c2, 0, &err), 0);
        aid_onednn_get_stats(dnn, &st);
        cr_assert_eq(st.primitives_created, 2);
        /* ... and so is a new thread count, with the same numbers. */
        omp_set_num_threads(1);
        cr_assert_eq(aid_onednn_matmul(dnn, a, m, k, 0, GGML_TYPE_F32, b, n, 0, c2, 0, &err), 0);
        aid_onednn_get_stats(dnn, &st);
        cr_assert_eq(st.primitives_created, 3);
        cr_assert_eq(memcmp(c1, c2, m * n * sizeof(float)), 0);
        omp_set_num_threads(saved);

        /* More shapes than the cache holds: it stays bounded and keeps working. */
        float *wide = rand_matrix(AID_ONEDNN_CACHE_SIZE + 3, k), *row = calloc(AID_ONEDNN_CACHE_SIZE + 3, 4);
        for (size_t i = 1; i <= AID_ONEDNN_CACHE_SIZE + 3; i++)
                cr_assert_eq(aid_onednn_matmul(dnn, a, 1, k, 0, GGML_TYPE_F32, wide, i, 0, row, 0, &err), 0);
        aid_onednn_get_stats(dnn, &st);
        cr_assert_eq(st.n_cached, AID_ONEDNN_CACHE_SIZE);
        check_product(row, 0, a, k, wide, 1, AID_ONEDNN_CACHE_SIZE + 3, k, false);
        free(a), free(b), free(c1), free(c2), free(wide), free(row);
        aid_onednn_free(dnn);
}

/* Quantizes n rows of k with the reference quantizer, then checks the dequantizing product
 * against dequantize + float64 product. */
static void dequant_case(unsigned flags, uint32_t type, size_t m, size_t n, size_t k)
{
        struct aid_onednn *dnn = new_dnn(flags);
        struct aid_onednn_stats st;
        struct aid_error err = { 0 };
        uint64_t row_bytes;
        float *a = rand_matrix(m, k), *w = rand_matrix(n, k), *c = calloc(m * n, sizeof(float));
        uint8_t *q;
        bool bf16;

        cr_assert_eq(ggml_row_bytes(type, k, &row_bytes), 0);
        q = malloc(n * row_bytes);
        for (size_t j = 0; j < n; j++) {
                cr_assert_eq(aid_quantize_row(type, w + j * k, q + j * row_bytes, k), 0);
                cr_assert_eq(aid_dequantize_row(type, q + j * row_bytes, w + j * k, k), 0);
        }
        cr_assert_eq(aid_onednn_matmul_dequant(dnn, type, q, 0, n, a, m, k, 0, c, 0, NULL, NULL, &err), 0,
                        "%s", err.message);
        /* F16 always widens to f32; the others go bf16 where the CPU has it. */
        bf16 = aid_onednn_uses_bf16(dnn) && type != GGML_TYPE_F16;
        check_product(c, n, a, k, w, m, n, k, bf16);

        aid_onednn_get_stats(dnn, &st);
        cr_assert_gt(st.panel_bytes, 0);
        cr_assert_leq(st.panel_bytes, AID_ONEDNN_PANEL_BYTES + 64);
        free(a), free(w), free(c), free(q);
        aid_onednn_free(dnn);
}

Test(onednn, dequant_q8_0)
{
        dequant_case(0, GGML_TYPE_Q8_0, 5, 37, 96);
        dequant_case(AID_ONEDNN_FORCE_F32, GGML_TYPE_Q8_0, 5, 37, 96);
}

Test(onednn, dequant_q4_k)
{
        dequant_case(0, GGML_TYPE_Q4_K, 3, 19, 512);
        dequant_case(AID_ONEDNN_FORCE_F32, GGML_TYPE_Q4_K, 3, 19, 512);
}

Test(onednn, dequant_f16_and_others)
{
        dequant_case(0, GGML_TYPE_F16, 4, 9, 64);
        dequant_case(0, GGML_TYPE_Q4_0, 2, 9, 64);
        dequant_case(0, GGML_TYPE_Q6_K, 2, 9, 256);
}

struct stop_counter {
        unsigned calls, stop_at; /* stop_at 0: never */
};

static bool stop_at_call(void *userdata)
{
        struct stop_counter *sc = userdata;

        return ++sc->calls == sc->stop_at;
}

/* A product is asked whether to stop before each panel of weight rows, and stops there. */
Test(onednn, dequant_stops_between_panels)
{
        struct aid_onednn *dnn = new_dnn(0);
        struct aid_error err = { 0 };
        const size_t m = 2, k = 8192, n = 1100;
        const size_t elem = aid_onednn_uses_bf16(dnn) ? 2 : 4;
        const size_t panel_rows = AID_ONEDNN_PANEL_BYTES / (k * elem) / 16 * 16;
        const unsigned panels = (unsigned)((n + panel_rows - 1) / panel_rows);
        struct stop_counter sc = { 0 };
        uint64_t row_bytes;
        float *a = rand_matrix(m, k), *c1 = calloc(m * n, sizeof(float)), *c2 = calloc(m * n, sizeof(float));
        uint8_t *q;

        cr_assert_geq(panels, 3, "the case needs several panels");
        cr_assert_eq(ggml_row_bytes(GGML_TYPE_Q8_0, k, &row_bytes), 0);
        q = malloc(n * row_bytes);
        for (size_t j = 0; j < n; j++) {
                float *w = rand_matrix(1, k);
                cr_assert_eq(aid_quantize_row(GGML_TYPE_Q8_0, w, q + j * row_bytes, k), 0);
                free(w);
        }

        cr_assert_eq(aid_onednn_matmul_dequant(dnn, GGML_TYPE_Q8_0, q, 0, n, a, m, k, 0, c1, 0, stop_at_call,
                                     &sc, &err),
                        0, "%s", err.message);
        cr_assert_eq(sc.calls, panels, "asked %u times for %u panels", sc.calls, panels);

        for (sc.stop_at = 1; sc.stop_at <= panels; sc.stop_at++) {
                sc.calls = 0;
                cr_assert_eq(aid_onednn_matmul_dequant(dnn, GGML_TYPE_Q8_0, q, 0, n, a, m, k, 0, c2, 0,
                                             stop_at_call, &sc, &err),
                                -ECANCELED);
                cr_assert_eq(sc.calls, sc.stop_at, "it went on after the stop");
                cr_assert_not_null(strstr(err.message, "stopped"), "%s", err.message);
        }
        /* A stop leaves nothing behind: the next product is the same. */
        cr_assert_eq(aid_onednn_matmul_dequant(
                                     dnn, GGML_TYPE_Q8_0, q, 0, n, a, m, k, 0, c2, 0, NULL, NULL, &err),
                        0, "%s", err.message);
        cr_assert_eq(memcmp(c1, c2, m * n * sizeof(float)), 0);
        free(a), free(c1), free(c2), free(q);
        aid_onednn_free(dnn);
}

/* The dequantizing product equals the plain product on the scalar dequantizer's weights
 * (rounded by aid_f32_to_bf16() where products run in bf16) bit for bit: the SIMD panels
 * hold exactly those values, and the same primitive multiplies them. */
static void panel_exact_case(unsigned flags, uint32_t type, size_t m, size_t n, size_t k)
{
        struct aid_onednn *dnn = new_dnn(flags);
        struct aid_error err = { 0 };
        enum aid_cpu_level best = aid_kernels_get_level();
        uint64_t row_bytes;
        float *a = rand_matrix(m, k), *w = rand_matrix(n, k);
        float *c1 = calloc(m * n, sizeof(float)), *c2 = calloc(m * n, sizeof(float));
        uint16_t *wb = malloc(n * k * sizeof(uint16_t));
        bool bf16 = aid_onednn_uses_bf16(dnn) && type != GGML_TYPE_F16;
        uint8_t *q;

        cr_assert_eq(ggml_row_bytes(type, k, &row_bytes), 0);
        q = malloc(n * row_bytes);
        aid_kernels_set_level(AID_CPU_SCALAR);
        for (size_t j = 0; j < n; j++) {
                cr_assert_eq(aid_quantize_row(type, w + j * k, q + j * row_bytes, k), 0);
                cr_assert_eq(aid_dequantize_row(type, q + j * row_bytes, w + j * k, k), 0);
        }
        aid_kernels_set_level(best);
        for (size_t i = 0; i < n * k; i++)
                wb[i] = aid_f32_to_bf16(w[i]);
        cr_assert_eq(aid_onednn_matmul_dequant(dnn, type, q, 0, n, a, m, k, 0, c1, 0, NULL, NULL, &err), 0,
                        "%s", err.message);
        cr_assert_eq(aid_onednn_matmul(dnn, a, m, k, 0, bf16 ? GGML_TYPE_BF16 : GGML_TYPE_F32,
                                     bf16 ? (const void *)wb : (const void *)w, n, 0, c2, 0, &err),
                        0, "%s", err.message);
        cr_assert_eq(memcmp(c1, c2, m * n * sizeof(float)), 0, "%s panel differs from the scalar weights (%s)",
                        ggml_type_name(type), bf16 ? "bf16" : "f32");
        free(a), free(w), free(c1), free(c2), free(wb), free(q);
        aid_onednn_free(dnn);
}

Test(onednn, dequant_panels_equal_scalar_weights)
{
        static const uint32_t types[] = { GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, GGML_TYPE_Q5_0, GGML_TYPE_Q4_K,
                GGML_TYPE_Q6_K, GGML_TYPE_Q5_K, GGML_TYPE_Q4_1 };

        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
                panel_exact_case(0, types[i], 7, 48, 512);
                panel_exact_case(AID_ONEDNN_FORCE_F32, types[i], 7, 48, 512);
        }
}

/* Wider than one panel: rows beyond the first panel land in the right columns of C. */
Test(onednn, dequant_several_panels)
{
        dequant_case(0, GGML_TYPE_Q8_0, 3, 8200, 512);
}

Test(onednn, bad_arguments)
{
        struct aid_onednn *dnn = new_dnn(0);
        struct aid_error err = { 0 };
        float a[64] = { 0 }, c[64];
        uint8_t q[1024] = { 0 };

        cr_assert_eq(aid_onednn_matmul(dnn, a, 1, 32, 0, GGML_TYPE_Q8_0, q, 1, 0, c, 0, &err), -EINVAL);
        cr_assert_neq(strstr(err.message, "Q8_0"), NULL, "%s", err.message);
        cr_assert_eq(aid_onednn_matmul(dnn, a, 0, 32, 0, GGML_TYPE_F32, q, 1, 0, c, 0, &err), -EINVAL);
        cr_assert_eq(aid_onednn_matmul(dnn, a, 1, 32, 16, GGML_TYPE_F32, q, 1, 0, c, 0, &err), -EINVAL);
        /* Q4_K rows are whole 256-element blocks. */
        cr_assert_eq(aid_onednn_matmul_dequant(
                                     dnn, GGML_TYPE_Q4_K, q, 0, 1, a, 1, 64, 0, c, 0, NULL, NULL, &err),
                        -EINVAL);
        cr_assert_eq(aid_onednn_matmul_dequant(
                                     dnn, GGML_TYPE_IQ2_XXS, q, 0, 1, a, 1, 256, 0, c, 0, NULL, NULL, &err),
                        -EOPNOTSUPP);
        cr_assert_neq(strstr(err.message, "IQ2_XXS"), NULL, "%s", err.message);
        aid_onednn_free(dnn);
}
