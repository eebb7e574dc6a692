/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf.h"
#include "kernels/kernels-internal.h"
#include "kernels/quant.h"
#include "kernels/work-split.h"

static const uint32_t all_types[] = {
        GGML_TYPE_F32,
        GGML_TYPE_F16,
        GGML_TYPE_BF16,
        GGML_TYPE_Q8_0,
        GGML_TYPE_Q4_0,
        GGML_TYPE_Q4_1,
        GGML_TYPE_Q5_0,
        GGML_TYPE_Q5_1,
        GGML_TYPE_Q4_K,
        GGML_TYPE_Q5_K,
        GGML_TYPE_Q6_K,
};
#define N_TYPES (sizeof(all_types) / sizeof(all_types[0]))

static double rel_rms(const float *got, const float *ref, size_t n)
{
        double num = 0, den = 0;

        for (size_t i = 0; i < n; i++) {
                double d = (double)got[i] - ref[i];
                num += d * d;
                den += (double)ref[i] * ref[i];
        }
        return sqrt(num / den);
}

/* ---- the fixtures: quantized files made from the F32 parent by llama-quantize ---- */

static const char *fixtures_dir(void)
{
        const char *dir = getenv("AID_FIXTURES");
        struct stat st;

        if (!dir || stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                cr_skip_test("fixtures folder %s absent: set AID_FIXTURES or -Dfixtures=",
                                dir ? dir : "(unset)");
        return dir;
}

static struct gguf_file *open_fixture(const char *dir, const char *name)
{
        struct aid_error err = {};
        struct gguf_file *f = NULL;
        char path[4096];

        snprintf(path, sizeof(path), "%s/models/%s", dir, name);
        int r = gguf_open(path, &f, &err);
        cr_assert_eq(r, 0, "%s: %s", path, err.message);
        return f;
}

static float *dequant_tensor(const struct gguf_tensor *t)
{
        size_t n = gguf_tensor_n_elements(t);
        float *out = malloc(n * sizeof(float));

        cr_assert_not_null(out);
        cr_assert_eq(aid_dequantize_row(t->type, t->data, out, n), 0, "%s", ggml_type_name(t->type));
        return out;
}

struct fixture_case {
        const char *file;
        uint32_t type;
        double max_rel_rms; /* the format's own error on these weights, with some margin */
};

Test(kernels, fixture_dequantize_matches_f32_parent)
{
        /* A wrong bit layout gives a relative error near or above 1; the bounds sit a little
         * above each format's measured quantization error. */
        static const struct fixture_case cases[] = {
                { "tiny-llama-v512-F16.gguf", GGML_TYPE_F16, 5e-4 },
                { "tiny-llama-v512-BF16.gguf", GGML_TYPE_BF16, 3e-3 },
                { "tiny-llama-v512-Q8_0.gguf", GGML_TYPE_Q8_0, 0.008 },
                { "tiny-llama-v512-Q4_0.gguf", GGML_TYPE_Q4_0, 0.11 },
                { "tiny-llama-v512-Q4_1.gguf", GGML_TYPE_Q4_1, 0.10 },
                { "tiny-llama-v512-Q5_0.gguf", GGML_TYPE_Q5_0, 0.055 },
                { "tiny-llama-v512-Q5_1.gguf", GGML_TYPE_Q5_1, 0.05 },
                { "tiny-llama-v512-Q4_K.gguf", GGML_TYPE_Q4_K, 0.09 },
                { "tiny-llama-v512-Q5_K.gguf", GGML_TYPE_Q5_K, 0.045 },
                { "tiny-llama-v512-Q6_K.gguf", GGML_TYPE_Q6_K, 0.023 },
        };
        const char *dir = fixtures_dir();
        struct gguf_file *parent = open_fixture(dir, "tiny-llama-v512-F32.gguf");

        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
                struct gguf_file *f = open_fixture(dir, cases[c].file);

                for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
                        const struct gguf_tensor *t = gguf_tensor_at(f, i);
                        const struct gguf_tensor *p = gguf_find_tensor(parent, t->name);

                        cr_assert_not_null(p, "%s: %s not in the parent", cases[c].file, t->name);
                        if (t->n_dims < 2)
                                continue; /* norms stay F32 */
                        cr_assert_eq(t->type, cases[c].type, "%s: %s is %s", cases[c].file, t->name,
                                        ggml_type_name(t->type));
                        float *got = dequant_tensor(t), *ref = dequant_tensor(p);
                        double e = rel_rms(got, ref, gguf_tensor_n_elements(t));
                        cr_log_info("%s %s rel rms %.5f", cases[c].file, t->name, e);
                        cr_expect_lt(e, cases[c].max_rel_rms, "%s %s: rel rms %g", cases[c].file, t->name,
                                        e);
                        free(got);
                        free(ref);
                }
                gguf_close(f);
        }
        gguf_close(parent);
}

Test(kernels, fixture_matvec_matches_f32_parent)
{
        /* The product a decode step computes, on real llama-quantize output, at every level. */
        const char *dir = fixtures_dir();
        struct gguf_file *parent = open_fixture(dir, "tiny-llama-v512-F32.gguf");
        struct gguf_file *f = open_fixture(dir, "tiny-llama-v512-Q4_K.gguf");
        const struct gguf_tensor *t = gguf_find_tensor(f, "blk.0.ffn_down.weight");
        const struct gguf_tensor *p = gguf_find_tensor(parent, "blk.0.ffn_down.weight");
        size_t cols = t->ne[0], rows = t->ne[1];
        uint64_t rb, prb;
        float *x = malloc(cols * sizeof(float)), *y = malloc(rows * sizeof(float)),
              *yp = malloc(rows * sizeof(float));

        cr_assert_eq(ggml_row_bytes(t->type, cols, &rb), 0);
        cr_assert_eq(ggml_row_bytes(p->type, cols, &prb), 0);
        for (size_t i = 0; i < cols; i++)
                x[i] = sinf((float)i * 0.37f);
        aid_kernels_set_level(AID_CPU_SCALAR);
        aid_matvec(p->type, p->data, prb, x, yp, rows, cols);
        for (int mode = AID_MATVEC_F32X; mode <= AID_MATVEC_Q8X; mode++) {
                aid_matvec_set_mode((enum aid_matvec_mode)mode);
                for (int level = AID_CPU_SCALAR; level <= (int)aid_cpu_detect(); level++) {
                        aid_kernels_set_level((enum aid_cpu_level)level);
                        aid_matvec(t->type, t->data, rb, x, y, rows, cols);
                        double e = rel_rms(y, yp, rows);
                        cr_log_info("Q4_K ffn_down, %s x, level %s: rel rms %.5f",
                                        mode == AID_MATVEC_Q8X ? "8-bit" : "f32", aid_cpu_level_name(level),
                                        e);
                        cr_expect_lt(e, 0.09, "level %s: rel rms %g", aid_cpu_level_name(level), e);
                }
        }
        aid_matvec_set_mode(AID_MATVEC_AUTO);
        aid_kernels_set_level(aid_cpu_detect());
        free(x);
        free(y);
        free(yp);
        gguf_close(f);
        gguf_close(parent);
}

/* ---- fp16 / bf16 ---- */

static uint32_t f2u(float f)
{
        uint32_t u;
        memcpy(&u, &f, sizeof(u));
        return u;
}

static float u2f(uint32_t u)
{
        float f;
        memcpy(&f, &u, sizeof(f));
        return f;
}

Test(kernels, fp16_conversions)
{
        cr_assert_eq(aid_f32_to_fp16(1.0f), 0x3c00);
        cr_assert_eq(aid_f32_to_fp16(-2.0f), 0xc000);
        cr_assert_eq(aid_f32_to_fp16(-0.0f), 0x8000);
        cr_assert_eq(aid_f32_to_fp16(65504.0f), 0x7bff);
        cr_assert_eq(aid_f32_to_fp16(65519.0f), 0x7bff);
        cr_assert_eq(aid_f32_to_fp16(65520.0f), 0x7c00, "the tie above the largest half rounds to inf");
        cr_assert_eq(aid_f32_to_fp16(1e10f), 0x7c00);
        cr_assert_eq(aid_f32_to_fp16(-INFINITY), 0xfc00);
        cr_assert_eq(aid_f32_to_fp16(1.0f + 0x1p-11f), 0x3c00, "tie to even (down)");
        cr_assert_eq(aid_f32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3c02, "tie to even (up)");
        cr_assert_eq(aid_f32_to_fp16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01, "above the tie");
        cr_assert_eq(aid_f32_to_fp16(0x1p-14f), 0x0400, "smallest normal");
        cr_assert_eq(aid_f32_to_fp16(0x1p-24f), 0x0001, "smallest subnormal");
        cr_assert_eq(aid_f32_to_fp16(0x1p-25f), 0x0000, "tie to even gives zero");
        cr_assert_eq(aid_f32_to_fp16(1.5f * 0x1p-25f), 0x0001);
        cr_assert_eq(aid_f32_to_fp16(3 * 0x1p-25f), 0x0002, "subnormal tie to even (up)");
        cr_assert_eq(aid_f32_to_fp16(0x1p-14f - 0x1p-26f), 0x0400, "rounds up into the normals");
        cr_assert_eq(aid_f32_to_fp16(1e-30f), 0x0000);
        uint16_t nan = aid_f32_to_fp16(NAN);
        cr_assert((nan & 0x7c00) == 0x7c00 && (nan & 0x3ff) != 0, "NaN stays NaN: %#x", nan);
        cr_assert(isnan(aid_fp16_to_f32(aid_f32_to_fp16(u2f(0x7f800001)))),
                        "signalling NaN payload kept NaN");

        cr_assert_eq(aid_fp16_to_f32(0x3c00), 1.0f);
        cr_assert_eq(aid_fp16_to_f32(0x0001), 0x1p-24f);
        cr_assert_eq(aid_fp16_to_f32(0x03ff), 1023 * 0x1p-24f);
        cr_assert_eq(aid_fp16_to_f32(0x7bff), 65504.0f);
        cr_assert(isinf(aid_fp16_to_f32(0x7c00)) && aid_fp16_to_f32(0xfc00) < 0);
        cr_assert(isnan(aid_fp16_to_f32(0x7e00)));
        cr_assert_eq(f2u(aid_fp16_to_f32(0x8000)), 0x80000000u);

        /* Every half survives a round trip through f32. */
        for (uint32_t h = 0; h < 0x10000; h++) {
                float f = aid_fp16_to_f32((uint16_t)h);
                if (isnan(f))
                        continue;
                cr_assert_eq(aid_f32_to_fp16(f), h, "half %#x -> %a -> %#x", h, f, aid_f32_to_fp16(f));
        }
}

/* The row conversion the KV cache writes with rounds as aid_f32_to_fp16() does, at every level
 * (F16C from AVX2 on), in the vector body and in the tail. */
Test(kernels, fp16_row_conversion_equals_the_scalar_one)
{
        static const uint32_t special[] = { 0x3f800000, 0xbf800000, 0x80000000, 0x477fe000, 0x477fefff,
                0x477ff000, 0x501502f9, 0xff800000, 0x3f801000, 0x3f803000, 0x3f801008, 0x38800000,
                0x33800000, 0x33000000, 0x33400000, 0x33c00000, 0x387fc000, 0x0da24260, 0x7fc00000,
                0x7f800001 };
        enum { N = 203 }; /* a tail past the 8-element steps */
        float src[N];
        uint16_t got[N];
        uint32_t s = 99;

        for (size_t i = 0; i < N; i++) {
                if (i < ELEMENTSOF(special))
                        src[i] = u2f(special[i]);
                else {
                        s = s * 1664525u + 1013904223u;
                        /* Exponents across the half's normals, subnormals and overflow. */
                        src[i] = u2f((s & 0x807fffffu) | ((96u + (s >> 8) % 64u) << 23));
                }
        }
        for (int level = AID_CPU_SCALAR; level <= (int)aid_cpu_detect(); level++) {
                aid_kernels_set_level((enum aid_cpu_level)level);
                for (size_t n = 0; n <= N; n += n < 20 ? 1 : 61) {
                        memset(got, 0xa5, sizeof(got));
                        aid_f32_to_fp16_row(src, got, n);
                        for (size_t i = 0; i < n; i++) {
                                uint16_t want = aid_f32_to_fp16(src[i]);
                                if (isnan(src[i]))
                                        cr_assert((got[i] & 0x7c00) == 0x7c00 && (got[i] & 0x3ff),
                                                        "level %s: NaN %zu became %#x",
                                                        aid_cpu_level_name(level), i, got[i]);
                                else
                                        cr_assert_eq(got[i], want, "level %s, n %zu: %a -> %#x, want %#x",
                                                        aid_cpu_level_name(level), n, src[i], got[i], want);
                        }
                        if (n < N)
                                cr_assert_eq(got[n], 0xa5a5, "level %s: wrote past n %zu",
                                                aid_cpu_level_name(level), n);
                }
        }
        aid_kernels_set_level(aid_cpu_detect());
}

Test(kernels, bf16_conversions)
{
        cr_assert_eq(aid_f32_to_bf16(1.0f), 0x3f80);
        cr_assert_eq(aid_f32_to_bf16(u2f(0x3f808000)), 0x3f80, "tie to even (down)");
        cr_assert_eq(aid_f32_to_bf16(u2f(0x3f818000)), 0x3f82, "tie to even (up)");
        cr_assert_eq(aid_f32_to_bf16(u2f(0x3f808001)), 0x3f81);
        cr_assert_eq(aid_f32_to_bf16(u2f(0x7f7fffff)), 0x7f80, "max float rounds to inf");
        cr_assert_eq(aid_f32_to_bf16(INFINITY), 0x7f80);
        cr_assert_eq(aid_f32_to_bf16(u2f(0x00010000)), 0x0001, "subnormals keep their top bits");
        uint16_t nan = aid_f32_to_bf16(u2f(0x7fffffff));
        cr_assert((nan & 0x7f80) == 0x7f80 && (nan & 0x7f) != 0, "NaN stays NaN, never rounds to inf");
        cr_assert(isnan(aid_bf16_to_f32(aid_f32_to_bf16(u2f(0x7f800001)))));
        cr_assert_eq(aid_bf16_to_f32(0x3f80), 1.0f);
        cr_assert_eq(aid_bf16_to_f32(0xc040), -3.0f);
        for (uint32_t b = 0; b < 0x10000; b++) {
                float f = aid_bf16_to_f32((uint16_t)b);
                if (isnan(f))
                        continue;
                cr_assert_eq(aid_f32_to_bf16(f), b);
        }
}

/* ---- dequantization against a per-element reading of each layout ---- */

static uint16_t rd16(const uint8_t *p)
{
        return (uint16_t)(p[0] | p[1] << 8);
}

static void k4_scale_min(int j, const uint8_t *s, int *sc, int *m)
{
        /* Sub-blocks 0-3: low 6 bits of bytes 0-3 / 4-7. 4-7: a nibble of bytes 8-11 plus the
         * top two bits of bytes 0-3 / 4-7. */
        if (j < 4) {
                *sc = s[j] & 63;
                *m = s[j + 4] & 63;
        } else {
                *sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
                *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
        }
}

/* Element i of the block at b, straight from the format description. */
static float ref_elem(uint32_t type, const uint8_t *b, int i)
{
        int sc, m, q;

        switch (type) {
        case GGML_TYPE_Q4_0:
                q = i < 16 ? b[2 + i] & 15 : b[2 + i - 16] >> 4;
                return aid_fp16_to_f32(rd16(b)) * (float)(q - 8);
        case GGML_TYPE_Q4_1:
                q = i < 16 ? b[4 + i] & 15 : b[4 + i - 16] >> 4;
                return aid_fp16_to_f32(rd16(b)) * (float)q + aid_fp16_to_f32(rd16(b + 2));
        case GGML_TYPE_Q5_0:
                q = i < 16 ? b[6 + i] & 15 : b[6 + i - 16] >> 4;
                q |= ((b[2 + i / 8] >> (i % 8)) & 1) << 4;
                return aid_fp16_to_f32(rd16(b)) * (float)(q - 16);
        case GGML_TYPE_Q5_1:
                q = i < 16 ? b[8 + i] & 15 : b[8 + i - 16] >> 4;
                q |= ((b[4 + i / 8] >> (i % 8)) & 1) << 4;
                return aid_fp16_to_f32(rd16(b)) * (float)q + aid_fp16_to_f32(rd16(b + 2));
        case GGML_TYPE_Q8_0:
                return aid_fp16_to_f32(rd16(b)) * (float)(int8_t)b[2 + i];
        case GGML_TYPE_Q4_K:
        case GGML_TYPE_Q5_K: {
                int chunk = i / 64, l = i % 32, hi = (i / 32) % 2;
                const uint8_t *qs = b + (type == GGML_TYPE_Q4_K ? 16 : 48);
                q = hi ? qs[32 * chunk + l] >> 4 : qs[32 * chunk + l] & 15;
                if (type == GGML_TYPE_Q5_K)
                        q |= ((b[16 + l] >> (2 * chunk + hi)) & 1) << 4;
                k4_scale_min(i / 32, b + 4, &sc, &m);
                return aid_fp16_to_f32(rd16(b)) * (float)sc * (float)q -
                       aid_fp16_to_f32(rd16(b + 2)) * (float)m;
        }
        case GGML_TYPE_Q6_K: {
                int half = i / 128, r = i % 128, k = r / 32, l = r % 32;
                uint8_t lo = b[64 * half + l + (k & 1) * 32];
                q = (k >= 2 ? lo >> 4 : lo & 15) | ((b[128 + 32 * half + l] >> (2 * k)) & 3) << 4;
                sc = (int8_t)b[192 + 8 * half + l / 16 + 2 * k];
                return aid_fp16_to_f32(rd16(b + 208)) * (float)sc * (float)(q - 32);
        }
        case GGML_TYPE_F16:
                return aid_fp16_to_f32(rd16(b));
        case GGML_TYPE_BF16:
                return aid_bf16_to_f32(rd16(b));
        case GGML_TYPE_F32: {
                float f;
                memcpy(&f, b, sizeof(f));
                return f;
        }
        }
        return NAN;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return (uint32_t)(rng_state >> 16);
}

/* Roughly normal, like trained weights. */
static float gauss(void)
{
        float s = 0;
        for (int i = 0; i < 4; i++)
                s += (float)(rnd() & 0xffff) / 65536.0f;
        return (s - 2.0f) * 1.7f;
}

/* Random bytes for the quants, sane small fp16 scales where the layout has them. */
static void random_blocks(uint32_t type, uint8_t *p, size_t n_blocks)
{
        const struct ggml_type_traits *t = ggml_type_traits_get(type);

        for (size_t i = 0; i < n_blocks * t->block_bytes; i++)
                p[i] = (uint8_t)rnd();
        for (size_t k = 0; k < n_blocks; k++) {
                uint8_t *b = p + k * t->block_bytes;
                uint16_t h1 = aid_f32_to_fp16(0.01f + (float)(rnd() % 1000) * 1e-4f);
                uint16_t h2 = aid_f32_to_fp16(-0.05f + (float)(rnd() % 1000) * 1e-4f);
                switch (type) {
                case GGML_TYPE_Q6_K:
                        memcpy(b + 208, &h1, 2);
                        break;
                case GGML_TYPE_Q4_1:
                case GGML_TYPE_Q5_1:
                case GGML_TYPE_Q4_K:
                case GGML_TYPE_Q5_K:
                        memcpy(b + 2, &h2, 2);
                        /* fall through */
                case GGML_TYPE_Q4_0:
                case GGML_TYPE_Q5_0:
                case GGML_TYPE_Q8_0:
                        memcpy(b, &h1, 2);
                        break;
                case GGML_TYPE_F16:
                        h1 = aid_f32_to_fp16(gauss());
                        memcpy(b, &h1, 2);
                        break;
                case GGML_TYPE_BF16:
                        h1 = aid_f32_to_bf16(gauss());
                        memcpy(b, &h1, 2);
                        break;
                case GGML_TYPE_F32: {
                        float f = gauss();
                        memcpy(b, &f, 4);
                        break;
                }
                }
        }
}

Test(kernels, dequantize_matches_layout_reference)
{
        for (size_t ti = 0; ti < N_TYPES; ti++) {
                uint32_t type = all_types[ti];
                const struct ggml_type_traits *t = ggml_type_traits_get(type);
                size_t nb = 512 / t->block_elems + 3, n = nb * t->block_elems;
                uint8_t *buf = malloc(nb * t->block_bytes);
                float *out = malloc(n * sizeof(float));

                random_blocks(type, buf, nb);
                cr_assert_eq(aid_dequantize_row(type, buf, out, n), 0);
                for (size_t i = 0; i < n; i++) {
                        float ref = ref_elem(type, buf + (i / t->block_elems) * t->block_bytes,
                                        (int)(i % t->block_elems));
                        cr_assert(fabsf(out[i] - ref) <= 1e-6f * fabsf(ref),
                                        "%s element %zu: %g, expected %g", t->name, i, out[i], ref);
                }
                free(buf);
                free(out);
        }
        float dummy[32];
        cr_assert_eq(aid_dequantize_row(GGML_TYPE_Q2_K, dummy, dummy, 256), -EINVAL);
        cr_assert_eq(aid_dequantize_row(GGML_TYPE_Q4_0, dummy, dummy, 31), -EINVAL);
        cr_assert_eq(aid_dequantize_row(999, dummy, dummy, 32), -EINVAL);
}

/* Any 16-bit float bits but the inf / NaN exponent, subnormals included. */
static uint16_t random_finite_fp16(void)
{
        for (;;) {
                uint16_t h = (uint16_t)rnd();
                if ((h & 0x7c00) != 0x7c00)
                        return h;
        }
}

/* random_blocks() with arbitrary fp16 scales and mins, of every exponent (the SIMD kernels
 * must match the scalar ones even where the products round, overflow or are NaN); F16 rows
 * hold every finite half (the F16C conversion quiets signalling NaNs, the scalar one keeps
 * them). */
static void wild_blocks(uint32_t type, uint8_t *p, size_t n_blocks)
{
        const struct ggml_type_traits *t = ggml_type_traits_get(type);

        random_blocks(type, p, n_blocks);
        for (size_t k = 0; k < n_blocks; k++) {
                uint8_t *b = p + k * t->block_bytes;
                uint16_t h[2] = { (uint16_t)rnd(), (uint16_t)rnd() };

                if (k % 3 == 0) /* a third with finite scales only */
                        h[0] = random_finite_fp16(), h[1] = random_finite_fp16();
                switch (type) {
                case GGML_TYPE_Q6_K:
                        memcpy(b + 208, h, 2);
                        break;
                case GGML_TYPE_Q4_1:
                case GGML_TYPE_Q5_1:
                case GGML_TYPE_Q4_K:
                case GGML_TYPE_Q5_K:
                        memcpy(b, h, 4);
                        break;
                case GGML_TYPE_Q4_0:
                case GGML_TYPE_Q5_0:
                case GGML_TYPE_Q8_0:
                        memcpy(b, h, 2);
                        break;
                case GGML_TYPE_F16:
                        memcpy(b, &(uint16_t){ random_finite_fp16() }, 2);
                        break;
                case GGML_TYPE_BF16:
                        memcpy(b, h, 2);
                        break;
                }
        }
}

Test(kernels, dequantize_levels_match_scalar_bit_for_bit)
{
        enum aid_cpu_level best = aid_cpu_detect();

        for (size_t ti = 0; ti < N_TYPES; ti++) {
                uint32_t type = all_types[ti];
                const struct ggml_type_traits *t = ggml_type_traits_get(type);
                /* Odd lengths for the plain types: the kernels' scalar tails. */
                size_t nb = 2048 / t->block_elems + (t->block_elems == 1 ? 13 : 3), n = nb * t->block_elems;
                uint8_t *buf = malloc(nb * t->block_bytes);
                float *ref = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
                uint16_t *ref16 = malloc(n * sizeof(uint16_t)), *got16 = malloc(n * sizeof(uint16_t));

                cr_assert(buf && ref && got && ref16 && got16);
                wild_blocks(type, buf, nb);
                aid_kernels_set_level(AID_CPU_SCALAR);
                cr_assert_eq(aid_dequantize_row(type, buf, ref, n), 0);
                for (size_t i = 0; i < n; i++)
                        ref16[i] = aid_f32_to_bf16(ref[i]);
                for (int level = AID_CPU_SCALAR; level <= (int)best; level++) {
                        cr_assert_eq(aid_kernels_set_level((enum aid_cpu_level)level),
                                        (enum aid_cpu_level)level);
                        memset(got, 0xa5, n * sizeof(float));
                        memset(got16, 0xa5, n * sizeof(uint16_t));
                        cr_assert_eq(aid_dequantize_row(type, buf, got, n), 0);
                        cr_assert_eq(aid_dequantize_row_bf16(type, buf, got16, n), 0);
                        for (size_t i = 0; i < n; i++) {
                                uint32_t a, b;
                                /* Wild scales make NaNs, whose sign and payload follow the order
                                 * of the operands in each instruction, which compilers choose:
                                 * a NaN matches any NaN. */
                                if (isnan(got[i]) && isnan(ref[i]) && (got16[i] & 0x7fff) > 0x7f80 &&
                                                (ref16[i] & 0x7fff) > 0x7f80)
                                        continue;
                                memcpy(&a, &got[i], 4);
                                memcpy(&b, &ref[i], 4);
                                cr_assert_eq(a, b, "%s at %s, element %zu: %#x (%a), scalar %#x (%a)",
                                                t->name, aid_cpu_level_name((enum aid_cpu_level)level), i, a,
                                                got[i], b, ref[i]);
                                cr_assert_eq(got16[i], ref16[i],
                                                "%s bf16 at %s, element %zu: %#x, aid_f32_to_bf16(%a) = %#x",
                                                t->name, aid_cpu_level_name((enum aid_cpu_level)level), i,
                                                got16[i], ref[i], ref16[i]);
                        }
                }
                free(buf);
                free(ref);
                free(got);
                free(ref16);
                free(got16);
        }
        aid_kernels_set_level(best);
        uint16_t dummy[32];
        cr_assert_eq(aid_dequantize_row_bf16(GGML_TYPE_Q2_K, dummy, dummy, 256), -EINVAL);
        cr_assert_eq(aid_dequantize_row_bf16(GGML_TYPE_Q4_0, dummy, dummy, 31), -EINVAL);
}

/* bf16 rounding in registers: ties both ways, carries into the exponent, overflow to
 * infinity, subnormals, NaNs, as aid_f32_to_bf16() does them. */
Test(kernels, dequantize_bf16_rounds_as_scalar)
{
        enum aid_cpu_level best = aid_cpu_detect();
        static const uint32_t specials[] = { 0x3f808000, 0x3f818000, 0x3f808001, 0x3f7fffff, 0x7f7fffff,
                0x7f800000, 0xff800000, 0x7f800001, 0x7fc00000, 0xffffffff, 0x00010000, 0x00008000,
                0x00018000, 0x80000001, 0x00000000, 0x80000000 };
        enum { n = 4096 };
        uint32_t *src = malloc(n * 4);
        uint16_t *got = malloc(n * 2);

        cr_assert(src && got);
        for (size_t i = 0; i < n; i++)
                src[i] = i < sizeof(specials) / 4 ? specials[i] : (uint32_t)rnd() << 16 ^ (uint32_t)rnd();
        for (int level = AID_CPU_SCALAR; level <= (int)best; level++) {
                aid_kernels_set_level((enum aid_cpu_level)level);
                cr_assert_eq(aid_dequantize_row_bf16(GGML_TYPE_F32, src, got, n), 0);
                for (size_t i = 0; i < n; i++) {
                        float f;
                        memcpy(&f, &src[i], 4);
                        cr_assert_eq(got[i], aid_f32_to_bf16(f), "%#x at %s: %#x, expected %#x", src[i],
                                        aid_cpu_level_name((enum aid_cpu_level)level), got[i],
                                        aid_f32_to_bf16(f));
                }
        }
        aid_kernels_set_level(best);
        free(src);
        free(got);
}

/* ---- reference quantizers ---- */

Test(kernels, quantize_round_trip_error)
{
        /* Relative RMS bounds for roughly-normal data: each format's step size over the data's
         * spread, with a margin (llama-quantize's errors on the fixtures are about 2/3 of these). */
        static const struct {
                uint32_t type;
                double max;
        } bounds[] = {
                { GGML_TYPE_F32, 0 },
                { GGML_TYPE_F16, 5e-4 },
                { GGML_TYPE_BF16, 3e-3 },
                { GGML_TYPE_Q8_0, 0.008 },
                { GGML_TYPE_Q4_0, 0.12 },
                { GGML_TYPE_Q4_1, 0.11 },
                { GGML_TYPE_Q5_0, 0.06 },
                { GGML_TYPE_Q5_1, 0.055 },
                { GGML_TYPE_Q4_K, 0.10 },
                { GGML_TYPE_Q5_K, 0.05 },
                { GGML_TYPE_Q6_K, 0.025 },
        };
        const size_t n = 256 * 64;
        float *x = malloc(n * sizeof(float)), *back = malloc(n * sizeof(float));
        uint8_t *q = malloc(n * 4);

        for (size_t i = 0; i < n; i++)
                x[i] = gauss() * 0.02f;
        /* One all-zero block and one constant block: no division by zero, exact zeros back. */
        memset(x, 0, 256 * sizeof(float));
        for (size_t i = 256; i < 512; i++)
                x[i] = 0.5f;
        for (size_t b = 0; b < sizeof(bounds) / sizeof(bounds[0]); b++) {
                cr_assert_eq(aid_quantize_row(bounds[b].type, x, q, n), 0);
                cr_assert_eq(aid_dequantize_row(bounds[b].type, q, back, n), 0);
                for (size_t i = 0; i < 256; i++)
                        cr_assert_eq(back[i], 0.0f, "%s: zero block gave %g", ggml_type_name(bounds[b].type),
                                        back[i]);
                for (size_t i = 256; i < 512; i++)
                        cr_assert(fabsf(back[i] - 0.5f) < 0.01f, "%s: constant block gave %g",
                                        ggml_type_name(bounds[b].type), back[i]);
                double e = rel_rms(back + 512, x + 512, n - 512);
                cr_log_info("%s round trip rel rms %.5f", ggml_type_name(bounds[b].type), e);
                cr_expect_leq(e, bounds[b].max, "%s: rel rms %g", ggml_type_name(bounds[b].type), e);
        }
        cr_assert_eq(aid_quantize_row(GGML_TYPE_Q4_K, x, q, 255), -EINVAL);
        cr_assert_eq(aid_quantize_row(GGML_TYPE_Q3_K, x, q, 256), -EINVAL);
        free(x);
        free(back);
        free(q);
}

Test(kernels, quantize_matches_llama_quantize_quality)
{
        /* Our quantizers on the F32 parent land within 10% of llama-quantize's own error. */
        static const char *types[] = { "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K" };
        const char *dir = fixtures_dir();
        struct gguf_file *parent = open_fixture(dir, "tiny-llama-v512-F32.gguf");
        const struct gguf_tensor *p = gguf_find_tensor(parent, "token_embd.weight");
        size_t n = gguf_tensor_n_elements(p);
        float *ours = malloc(n * sizeof(float));
        uint8_t *q = malloc(n * 4);

        for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
                char name[64];
                snprintf(name, sizeof(name), "tiny-llama-v512-%s.gguf", types[k]);
                struct gguf_file *f = open_fixture(dir, name);
                const struct gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
                float *theirs = dequant_tensor(t);

                cr_assert_eq(aid_quantize_row(t->type, p->data, q, n), 0);
                cr_assert_eq(aid_dequantize_row(t->type, q, ours, n), 0);
                double e_ours = rel_rms(ours, p->data, n), e_theirs = rel_rms(theirs, p->data, n);
                cr_log_info("%s: ours %.5f, llama-quantize %.5f", types[k], e_ours, e_theirs);
                cr_expect_leq(e_ours, e_theirs * 1.10, "%s: ours %g vs llama-quantize %g", types[k], e_ours,
                                e_theirs);
                free(theirs);
                gguf_close(f);
        }
        free(ours);
        free(q);
        gguf_close(parent);
}

/* ---- matvec: every SIMD level against the scalar one ---- */

/* y for each level must equal the scalar level's up to summation order: |y - y_scalar| <=
 * 1e-5 * sum_c |w_rc x_c| (f32 accumulation in another order; the bound scales with the
 * magnitudes summed, not with a y that may cancel to near zero). */
static void check_levels(uint32_t type, size_t rows, size_t cols)
{
        const struct ggml_type_traits *t = ggml_type_traits_get(type);
        uint64_t rb;

        cr_assert_eq(ggml_row_bytes(type, cols, &rb), 0, "%s cols %zu", t->name, cols);
        uint8_t *w = malloc(rows * rb);
        float *x = malloc(cols * sizeof(float)), *wf = malloc(cols * sizeof(float));
        float *y = malloc(rows * sizeof(float)), *ys = malloc(rows * sizeof(float));
        double *mag = calloc(rows, sizeof(double));

        random_blocks(type, w, rows * rb / t->block_bytes);
        for (size_t c = 0; c < cols; c++)
                x[c] = gauss();
        for (size_t r = 0; r < rows; r++) {
                cr_assert_eq(aid_dequantize_row(type, w + r * rb, wf, cols), 0);
                for (size_t c = 0; c < cols; c++)
                        mag[r] += fabs((double)wf[c] * x[c]);
        }
        aid_kernels_set_level(AID_CPU_SCALAR);
        aid_matvec(type, w, rb, x, ys, rows, cols);
        for (size_t r = 0; r < rows; r++) {
                /* The scalar level itself against a double-precision sum. */
                double ref = 0;
                cr_assert_eq(aid_dequantize_row(type, w + r * rb, wf, cols), 0);
                for (size_t c = 0; c < cols; c++)
                        ref += (double)wf[c] * x[c];
                cr_assert(fabs(ys[r] - ref) <= 1e-5 * mag[r], "%s scalar row %zu: %g vs %g", t->name, r,
                                ys[r], ref);
        }
        for (int level = AID_CPU_AVX2; level <= (int)aid_cpu_detect(); level++) {
                cr_assert_eq(aid_kernels_set_level((enum aid_cpu_level)level), (enum aid_cpu_level)level);
                aid_matvec(type, w, rb, x, y, rows, cols);
                for (size_t r = 0; r < rows; r++)
                        cr_assert(fabs((double)y[r] - ys[r]) <= 1e-5 * mag[r],
                                        "%s %s %zux%zu row %zu: %.9g vs scalar %.9g", t->name,
                                        aid_cpu_level_name(level), rows, cols, r, y[r], ys[r]);
        }
        aid_kernels_set_level(aid_cpu_detect());
        free(w);
        free(x);
        free(wf);
        free(y);
        free(ys);
        free(mag);
}

Test(kernels, matvec_levels_match_scalar)
{
        static const size_t rows[] = { 1, 7, 33 };

        aid_matvec_set_mode(AID_MATVEC_F32X); /* the f32-x kernels; 8-bit x has its own tests */
        static const size_t cols_k[] = { 256, 768, 2816 };
        static const size_t cols_32[] = { 32, 96, 160 };
        static const size_t cols_plain[] = { 1, 17, 100, 333 };

        for (size_t ti = 0; ti < N_TYPES; ti++) {
                uint32_t type = all_types[ti];
                uint32_t be = ggml_type_traits_get(type)->block_elems;
                for (size_t r = 0; r < 3; r++) {
                        for (size_t c = 0; c < 3; c++)
                                check_levels(type, rows[r], cols_k[c]);
                        if (be <= 32)
                                for (size_t c = 0; c < 3; c++)
                                        check_levels(type, rows[r], cols_32[c]);
                        if (be == 1)
                                for (size_t c = 0; c < 4; c++)
                                        check_levels(type, rows[r], cols_plain[c]);
                }
        }
        aid_matvec_set_mode(AID_MATVEC_AUTO);
}

Test(kernels, matvec_threaded_equals_per_row)
{
        /* Large enough to be split across threads: every row is the same as computed alone. */
        const size_t rows = 301, cols = 2048;
        uint64_t rb;

        cr_assert_eq(ggml_row_bytes(GGML_TYPE_Q4_K, cols, &rb), 0);
        uint8_t *w = malloc(rows * rb);
        float *x = malloc(cols * sizeof(float)), *y = malloc(rows * sizeof(float));
        random_blocks(GGML_TYPE_Q4_K, w, rows * rb / 144);
        for (size_t c = 0; c < cols; c++)
                x[c] = gauss();
        aid_matvec(GGML_TYPE_Q4_K, w, rb, x, y, rows, cols);
        for (size_t r = 0; r < rows; r++) {
                float one;
                aid_matvec(GGML_TYPE_Q4_K, w + r * rb, rb, x, &one, 1, cols);
                cr_assert_eq(one, y[r], "row %zu", r);
        }
        free(w);
        free(x);
        free(y);
}

/* Several activation rows at once (the small-batch path of continuous batching) give, row for
 * row, what aid_matvec() gives each row alone, in every activation mode. With 8-bit x the
 * SIMD multi-row kernels of the 32-element types scale each block's integer sum once where the
 * single-row kernels scale 8 partial sums, the same products in another float order, so they
 * are held to the levels' float bound, |diff| <= 1e-5 * sum_c |w_c x_c|; everything else (the
 * K types at every level, every type at the scalar level or with f32 x) is bit-identical. */
static bool multi_reorders(uint32_t type, enum aid_matvec_mode mode)
{
        enum aid_cpu_level level = aid_kernels_get_level();

        return aid_matvec_uses_q8x(type) && level >= AID_CPU_AVX2 && mode != AID_MATVEC_F32X &&
               ggml_type_traits_get(type)->block_elems == 32;
}

/* Runs body with the Q4_K, Q5_K and Q6_K kernels on 256-bit and on 512-bit vectors
 * (aid_kernels_set_k_wide()), whatever the CPU's default, and with the AVX2 level's integer
 * kernels with and (where the CPU has it) without AVX-VNNI; then restores the defaults. */
static void for_each_kernel_variant(void (*body)(void))
{
        for (int vnni = 0; vnni < (aid_cpu_has_avx_vnni() ? 2 : 1); vnni++) {
                cr_assert_eq(aid_kernels_set_avx_vnni(vnni), vnni);
                for (int wide = 0; wide < 2; wide++) {
                        aid_kernels_set_k_wide(wide);
                        body();
                }
        }
        aid_kernels_set_k_wide(aid_kernels_default_k_wide());
        aid_kernels_set_avx_vnni(true);
}

static void matmul_rows_equals_matvec_per_row_body(void)
{
        const size_t rows = 67, cols = 512, ns[] = { 2, 5, 8, 11 };
        const enum aid_matvec_mode modes[] = { AID_MATVEC_AUTO, AID_MATVEC_F32X, AID_MATVEC_Q8X };
        enum aid_matvec_mode saved = aid_matvec_get_mode();

        static const enum aid_cpu_level levels[] = { AID_CPU_SCALAR, AID_CPU_AVX2, AID_CPU_AVX512_VNNI,
                AID_CPU_AVX512_ICL };
        for (size_t li = 0; li < ELEMENTSOF(levels) * ELEMENTSOF(modes); li++) {
                const size_t mi = li % ELEMENTSOF(modes);
                if (levels[li / ELEMENTSOF(modes)] > aid_cpu_detect())
                        continue;
                aid_kernels_set_level(levels[li / ELEMENTSOF(modes)]);
                aid_matvec_set_mode(modes[mi]);
                for (size_t ti = 0; ti < ELEMENTSOF(all_types); ti++) {
                        uint32_t type = all_types[ti];
                        const struct ggml_type_traits *tr = ggml_type_traits_get(type);
                        const size_t n = ns[ti % ELEMENTSOF(ns)];
                        uint64_t rb;

                        cr_assert_eq(ggml_row_bytes(type, cols, &rb), 0);
                        uint8_t *w = malloc(rows * rb);
                        float *x = malloc(n * cols * sizeof(float)), *y = malloc(n * rows * sizeof(float)),
                              *one = malloc(rows * sizeof(float)), *wf = malloc(cols * sizeof(float));
                        random_blocks(type, w, rows * rb / tr->block_bytes);
                        for (size_t c = 0; c < n * cols; c++)
                                x[c] = gauss();
                        aid_matmul_rows(type, w, rb, x, n, y, rows, cols);
                        for (size_t j = 0; j < n; j++) {
                                aid_matvec(type, w, rb, x + j * cols, one, rows, cols);
                                for (size_t r = 0; r < rows; r++) {
                                        if (!multi_reorders(type, modes[mi])) {
                                                cr_assert_eq(one[r], y[j * rows + r],
                                                                "%s %s mode %d: row %zu of x %zu", tr->name,
                                                                aid_cpu_level_name(aid_kernels_get_level()),
                                                                (int)modes[mi], r, j);
                                                continue;
                                        }
                                        double mag = 0.0;
                                        cr_assert_eq(aid_dequantize_row(type, w + r * rb, wf, cols), 0);
                                        for (size_t c = 0; c < cols; c++)
                                                mag += fabs((double)wf[c] * x[j * cols + c]);
                                        cr_assert(fabs((double)one[r] - y[j * rows + r]) <= 1e-5 * mag,
                                                        "%s mode %d: row %zu of x %zu: %.9g vs %.9g",
                                                        tr->name, (int)modes[mi], r, j, y[j * rows + r],
                                                        one[r]);
                                }
                        }
                        free(w);
                        free(x);
                        free(y);
                        free(one);
                        free(wf);
                }
        }
        aid_kernels_set_level(aid_cpu_detect());
        aid_matvec_set_mode(saved);
}

Test(kernels, matmul_rows_equals_matvec_per_row)
{
        for_each_kernel_variant(matmul_rows_equals_matvec_per_row_body);
}

Test(kernels, cpu_levels)
{
        enum aid_cpu_level best = aid_cpu_detect();

        cr_assert_eq(aid_kernels_set_level(AID_CPU_AVX512_ICL), best, "never above what the CPU has");
        cr_assert_eq(aid_kernels_get_level(), best);
        cr_assert_eq(aid_kernels_set_level(AID_CPU_SCALAR), AID_CPU_SCALAR);
        cr_assert_str_eq(aid_cpu_level_name(AID_CPU_AVX2), "avx2");
        aid_kernels_set_level(best);
}

/* ---- the integer path: x quantized to 8 bits once per product ---- */

static const uint32_t q8x_types[] = {
        GGML_TYPE_Q4_0,
        GGML_TYPE_Q4_K,
        GGML_TYPE_Q6_K,
        GGML_TYPE_Q8_0,
        GGML_TYPE_Q5_0,
        GGML_TYPE_Q5_1,
        GGML_TYPE_Q4_1,
        GGML_TYPE_Q5_K,
};
#define N_Q8X_TYPES (sizeof(q8x_types) / sizeof(q8x_types[0]))

static const struct kern_dot_table *level_table(int level)
{
        switch (level) {
        case AID_CPU_AVX2:
                return aid_kernels_get_avx_vnni() ? &kern_dot_avx_vnni : &kern_dot_avx2;
        case AID_CPU_AVX512:
                return &kern_dot_avx512;
        case AID_CPU_AVX512_VNNI:
                return &kern_dot_avx512_vnni;
        default:
                return &kern_dot_avx512_icl;
        }
}

static struct kern_xq xq_alloc(size_t n)
{
        struct kern_xq xq = {
                .qs = calloc(n, 1),
                .d = calloc(n / 32, sizeof(float)),
                .s16 = calloc(n / 16, sizeof(int16_t)),
                .s32 = calloc(n / 32, sizeof(int16_t)),
                .fs32 = calloc(n / 32, sizeof(float)),
                .nl4 = calloc(n / 4, sizeof(int32_t)),
                .nl4_q6k = calloc(n / 4, sizeof(int32_t)),
                .g_qs = calloc(n, 1),
                .g_off = calloc(n / 8, sizeof(int32_t)),
                .g_d = calloc(n / 8, sizeof(float)),
        };
        cr_assert(xq.qs && xq.d && xq.s16 && xq.s32 && xq.fs32 && xq.nl4 && xq.nl4_q6k && xq.g_qs &&
                        xq.g_off && xq.g_d);
        return xq;
}

static void xq_free(struct kern_xq *xq)
{
        free(xq->qs);
        free(xq->d);
        free(xq->s16);
        free(xq->s32);
        free(xq->fs32);
        free(xq->nl4);
        free(xq->nl4_q6k);
        free(xq->g_qs);
        free(xq->g_off);
        free(xq->g_d);
}

/* The x block of each weight type: 256 for the K types, 32 for the others. */
static size_t x_block(uint32_t type)
{
        return ggml_type_traits_get(type)->block_elems;
}

Test(kernels, quantize_x_levels_match_scalar)
{
        /* 22 groups of four 32-blocks, then 3 blocks of 32 that make no group. */
        const size_t n_all = 2816 + 96;
        float *x = malloc(n_all * sizeof(float));

        /* Blocks of very different magnitudes, and an all-zero 256 block (d = 0, no division). */
        for (size_t i = 0; i < n_all; i++)
                x[i] = gauss() * (float)(1 + (i / 32) % 7) * ((i / 32) % 5 == 0 ? 1e-3f : 1.0f);
        memset(x + 256, 0, 256 * sizeof(float));
        for (size_t block = 32; block <= 256; block *= 8) {
                const size_t n = n_all / block * block;
                struct kern_xq ref = xq_alloc(n);

                kern_quantize_x_scalar(x, n, block, &ref);
                for (size_t b = 0; b < n / block; b++) {
                        int qmax = 0;
                        for (size_t i = b * block; i < (b + 1) * block; i++) {
                                cr_assert(fabsf(x[i] - ref.d[b] * ref.qs[i]) <= 0.5001f * ref.d[b],
                                                "block %zu of %zu: x %g, d %g, q %d", b, block, x[i],
                                                ref.d[b], ref.qs[i]);
                                qmax = abs(ref.qs[i]) > qmax ? abs(ref.qs[i]) : qmax;
                        }
                        cr_assert_eq(qmax, ref.d[b] > 0 ? 127 : 0, "the largest |x| maps to 127");
                }
                for (size_t g = 0; g < n / 32; g++) {
                        int s = 0;
                        for (size_t i = 32 * g; i < 32 * g + 32; i++)
                                s += ref.qs[i];
                        cr_assert_eq(ref.s32[g], s);
                        cr_assert_eq(ref.fs32[g], (float)s);
                        cr_assert_eq(ref.s16[2 * g] + ref.s16[2 * g + 1], s);
                        cr_assert_eq(-(ref.nl4[8 * g] + ref.nl4[8 * g + 1] + ref.nl4[8 * g + 7] +
                                                     ref.nl4[8 * g + 2] + ref.nl4[8 * g + 3] +
                                                     ref.nl4[8 * g + 4] + ref.nl4[8 * g + 5] +
                                                     ref.nl4[8 * g + 6]),
                                        s);
                }
                /* Q6_K's offsets (filled for blocks of 256). */
                for (size_t g = 0; block == 256 && g < n / 4; g++)
                        cr_assert_eq(ref.nl4_q6k[g],
                                        -32 * (ref.qs[4 * g] + ref.qs[4 * g + 1] + ref.qs[4 * g + 2] +
                                                              ref.qs[4 * g + 3]));
                if (block == 32) {
                        /* The groups (filled for blocks of 32), element by element from their
                         * definition: lane 4 beta + j of
                         * group g multiplies elements 4 j .. 4 j + 3 and 16 + 4 j .. 16 + 4 j + 3
                         * of block 4 g + beta (22 groups; the last 3 blocks are in none). */
                        for (size_t g = 0; g < n / 128; g++)
                                for (size_t beta = 0; beta < 4; beta++) {
                                        size_t blk = 4 * g + beta;
                                        for (size_t e = 0; e < 32; e++)
                                                cr_assert_eq(ref.g_qs[128 * g + 64 * (e / 16) + 16 * beta +
                                                                             e % 16],
                                                                ref.qs[32 * blk + e]);
                                        for (size_t j = 0; j < 4; j++) {
                                                int sum = 0;
                                                for (size_t k = 0; k < 4; k++)
                                                        sum += ref.qs[32 * blk + 4 * j + k] +
                                                               ref.qs[32 * blk + 16 + 4 * j + k];
                                                cr_assert_eq(ref.g_off[16 * g + 4 * beta + j], -sum);
                                                cr_assert_eq(ref.g_d[16 * g + 4 * beta + j], ref.d[blk]);
                                        }
                                }
                }
                for (int level = AID_CPU_AVX2; level <= (int)aid_cpu_detect(); level++) {
                        struct kern_xq got = xq_alloc(n);

                        level_table(level)->quantize_x(x, n, block, &got);
                        const char *name = aid_cpu_level_name((enum aid_cpu_level)level);
                        cr_assert(memcmp(got.qs, ref.qs, n) == 0, "%s qs, block %zu", name, block);
                        cr_assert(memcmp(got.d, ref.d, n / block * sizeof(float)) == 0, "%s d", name);
                        cr_assert(memcmp(got.s16, ref.s16, n / 16 * sizeof(int16_t)) == 0, "%s s16", name);
                        cr_assert(memcmp(got.s32, ref.s32, n / 32 * sizeof(int16_t)) == 0, "%s s32", name);
                        cr_assert(memcmp(got.fs32, ref.fs32, n / 32 * sizeof(float)) == 0, "%s fs32", name);
                        cr_assert(memcmp(got.nl4, ref.nl4, n / 4 * sizeof(int32_t)) == 0, "%s nl4", name);
                        if (block == 256)
                                cr_assert(memcmp(got.nl4_q6k, ref.nl4_q6k, n / 4 * sizeof(int32_t)) == 0,
                                                "%s nl4_q6k", name);
                        if (block == 32) {
                                cr_assert(memcmp(got.g_qs, ref.g_qs, n / 128 * 128) == 0, "%s g_qs", name);
                                cr_assert(memcmp(got.g_off, ref.g_off, n / 128 * 16 * sizeof(int32_t)) == 0,
                                                "%s g_off", name);
                                cr_assert(memcmp(got.g_d, ref.g_d, n / 128 * 16 * sizeof(float)) == 0,
                                                "%s g_d", name);
                        }
                        xq_free(&got);
                }
                xq_free(&ref);
        }
        free(x);
}

/* Each SIMD level against the scalar twin with 8-bit x. Integer sums are exact at every level;
 * the float scaling of each block's sum and the order the blocks are added in may differ, so
 * |y - y_scalar| <= 1e-5 * sum_c |w_c x_c|, the f32 path's bound. */
static void check_q8x_levels(uint32_t type, size_t rows, size_t cols)
{
        const struct ggml_type_traits *t = ggml_type_traits_get(type);
        uint64_t rb;

        cr_assert_eq(ggml_row_bytes(type, cols, &rb), 0, "%s cols %zu", t->name, cols);
        uint8_t *w = malloc(rows * rb);
        float *x = malloc(cols * sizeof(float)), *wf = malloc(cols * sizeof(float));
        float *y = malloc(rows * sizeof(float)), *ys = malloc(rows * sizeof(float));
        double *mag = calloc(rows, sizeof(double));

        random_blocks(type, w, rows * rb / t->block_bytes);
        for (size_t c = 0; c < cols; c++)
                x[c] = gauss() * (float)(1 + (c / 32) % 3);
        for (size_t r = 0; r < rows; r++) {
                cr_assert_eq(aid_dequantize_row(type, w + r * rb, wf, cols), 0);
                for (size_t c = 0; c < cols; c++)
                        mag[r] += fabs((double)wf[c] * x[c]);
        }
        aid_matvec_set_mode(AID_MATVEC_Q8X);
        cr_assert(aid_matvec_uses_q8x(type));
        aid_kernels_set_level(AID_CPU_SCALAR);
        aid_matvec(type, w, rb, x, ys, rows, cols);
        for (int level = AID_CPU_AVX2; level <= (int)aid_cpu_detect(); level++) {
                cr_assert_eq(aid_kernels_set_level((enum aid_cpu_level)level), (enum aid_cpu_level)level);
                aid_matvec(type, w, rb, x, y, rows, cols);
                for (size_t r = 0; r < rows; r++)
                        cr_assert(fabs((double)y[r] - ys[r]) <= 1e-5 * mag[r],
                                        "%s %s 8-bit x %zux%zu row %zu: %.9g vs scalar %.9g", t->name,
                                        aid_cpu_level_name(level), rows, cols, r, y[r], ys[r]);
        }
        aid_kernels_set_level(aid_cpu_detect());
        aid_matvec_set_mode(AID_MATVEC_AUTO);
        free(w);
        free(x);
        free(wf);
        free(y);
        free(ys);
        free(mag);
}

static void q8x_levels_match_scalar_body(void)
{
        static const size_t rows[] = { 1, 7, 33 };
        static const size_t cols_k[] = { 256, 768, 2816 };
        static const size_t cols_32[] = { 32, 96, 160, 2048 };

        for (size_t ti = 0; ti < N_Q8X_TYPES; ti++) {
                uint32_t type = q8x_types[ti];
                for (size_t r = 0; r < 3; r++) {
                        for (size_t c = 0; c < 3; c++)
                                check_q8x_levels(type, rows[r], cols_k[c]);
                        if (x_block(type) == 32)
                                for (size_t c = 0; c < 4; c++)
                                        check_q8x_levels(type, rows[r], cols_32[c]);
                }
        }
}

Test(kernels, q8x_levels_match_scalar)
{
        for_each_kernel_variant(q8x_levels_match_scalar_body);
}

/* Scales that are powers of two and x on a grid of 1/128 with |x| = 127/128 in every block of
 * 32: then x quantizes exactly (d = 1/128), every float product and sum is exact, and each
 * level must give the exact product of the dequantized weights with x, bit for bit. This is
 * where a wrong integer sum anywhere (an offset, a min, a fifth or sixth bit, a saturation)
 * shows as a difference, not as a rounding error. */
static void pow2_scales(uint32_t type, uint8_t *p, size_t n_blocks)
{
        const struct ggml_type_traits *t = ggml_type_traits_get(type);
        uint16_t d = aid_f32_to_fp16(0x1p-6f);

        for (size_t k = 0; k < n_blocks; k++) {
                uint8_t *b = p + k * t->block_bytes;
                uint16_t m = aid_f32_to_fp16(-(float)(rnd() % 16) * 0x1p-6f);
                switch (type) {
                case GGML_TYPE_Q6_K:
                        memcpy(b + 208, &d, 2);
                        for (int j = 0; j < 16; j++)
                                b[192 + j] = (uint8_t)(int8_t)((int)(rnd() % 33) - 16);
                        break;
                case GGML_TYPE_Q4_1:
                case GGML_TYPE_Q5_1:
                        memcpy(b, &d, 2);
                        memcpy(b + 2, &m, 2);
                        break;
                case GGML_TYPE_Q4_K:
                case GGML_TYPE_Q5_K:
                        memcpy(b, &d, 2);
                        memcpy(b + 2, &d, 2);
                        break;
                default:
                        memcpy(b, &d, 2);
                        break;
                }
        }
}

static void q8x_exact_on_exact_data_body(void)
{
        static const size_t cols_list[] = { 256, 1024 };
        const size_t rows = 9;

        aid_matvec_set_mode(AID_MATVEC_Q8X);
        for (size_t ti = 0; ti < N_Q8X_TYPES; ti++) {
                uint32_t type = q8x_types[ti];
                const struct ggml_type_traits *t = ggml_type_traits_get(type);
                for (size_t ci = 0; ci < 2; ci++) {
                        size_t cols = cols_list[ci];
                        uint64_t rb;
                        cr_assert_eq(ggml_row_bytes(type, cols, &rb), 0);
                        uint8_t *w = malloc(rows * rb);
                        float *x = malloc(cols * sizeof(float)), *wf = malloc(cols * sizeof(float));
                        float *y = malloc(rows * sizeof(float));
                        double *ref = calloc(rows, sizeof(double));

                        random_blocks(type, w, rows * rb / t->block_bytes);
                        pow2_scales(type, w, rows * rb / t->block_bytes);
                        for (size_t c = 0; c < cols; c++)
                                x[c] = (float)((int)(rnd() % 255) - 127) / 128.0f;
                        for (size_t c = 0; c < cols; c += 32)
                                x[c + rnd() % 32] = rnd() & 1 ? 127.0f / 128.0f : -127.0f / 128.0f;
                        for (size_t r = 0; r < rows; r++) {
                                cr_assert_eq(aid_dequantize_row(type, w + r * rb, wf, cols), 0);
                                for (size_t c = 0; c < cols; c++)
                                        ref[r] += (double)wf[c] * x[c];
                        }
                        for (int level = AID_CPU_SCALAR; level <= (int)aid_cpu_detect(); level++) {
                                aid_kernels_set_level((enum aid_cpu_level)level);
                                aid_matvec(type, w, rb, x, y, rows, cols);
                                for (size_t r = 0; r < rows; r++)
                                        cr_assert_eq((double)y[r], ref[r],
                                                        "%s %s cols %zu row %zu: %.9g, exact %.9g", t->name,
                                                        aid_cpu_level_name(level), cols, r, y[r], ref[r]);
                        }
                        free(w);
                        free(x);
                        free(wf);
                        free(y);
                        free(ref);
                }
        }
        aid_kernels_set_level(aid_cpu_detect());
        aid_matvec_set_mode(AID_MATVEC_AUTO);
}

Test(kernels, q8x_exact_on_exact_data)
{
        for_each_kernel_variant(q8x_exact_on_exact_data_body);
}

/* Against the exact product of the dequantized weights with the unquantized x: the 8-bit x
 * moves each element by at most half its block's step, max|x| / 254, so
 * |y - sum w x| <= sum_c |w_c| * d_x(c) / 2 + 1e-5 * sum_c |w_c x_c| (the second term for the
 * float arithmetic). Checked at every level on trained-like weights. */
static void q8x_accuracy_against_double_body(void)
{
        const size_t rows = 16, cols = 2816;
        float *x = malloc(cols * sizeof(float)), *wf = malloc(cols * sizeof(float));
        float *y = malloc(rows * sizeof(float)), *src = malloc(cols * sizeof(float));
        double *dx = malloc(cols * sizeof(double));

        for (size_t c = 0; c < cols; c++)
                x[c] = gauss() * (float)(1 + (c / 32) % 5);
        aid_matvec_set_mode(AID_MATVEC_Q8X);
        for (size_t ti = 0; ti < N_Q8X_TYPES; ti++) {
                uint32_t type = q8x_types[ti];
                size_t xb = x_block(type);
                uint64_t rb;
                cr_assert_eq(ggml_row_bytes(type, cols, &rb), 0);
                uint8_t *w = malloc(rows * rb);

                for (size_t r = 0; r < rows; r++) {
                        for (size_t c = 0; c < cols; c++)
                                src[c] = gauss() * 0.02f;
                        cr_assert_eq(aid_quantize_row(type, src, w + r * rb, cols), 0);
                }
                for (size_t b = 0; b < cols / xb; b++) {
                        double amax = 0;
                        for (size_t i = b * xb; i < (b + 1) * xb; i++)
                                amax = fmax(amax, fabs(x[i]));
                        for (size_t i = b * xb; i < (b + 1) * xb; i++)
                                dx[i] = amax / 127;
                }
                for (int level = AID_CPU_SCALAR; level <= (int)aid_cpu_detect(); level++) {
                        aid_kernels_set_level((enum aid_cpu_level)level);
                        aid_matvec(type, w, rb, x, y, rows, cols);
                        double err2 = 0, ref2 = 0;
                        for (size_t r = 0; r < rows; r++) {
                                double ref = 0, bound = 0, mag = 0;
                                cr_assert_eq(aid_dequantize_row(type, w + r * rb, wf, cols), 0);
                                for (size_t c = 0; c < cols; c++) {
                                        ref += (double)wf[c] * x[c];
                                        bound += fabs(wf[c]) * dx[c] / 2;
                                        mag += fabs((double)wf[c] * x[c]);
                                }
                                bound += 1e-5 * mag;
                                cr_assert(fabs(y[r] - ref) <= bound,
                                                "%s %s row %zu: %.9g, exact %.9g, bound %.3g",
                                                ggml_type_name(type), aid_cpu_level_name(level), r, y[r],
                                                ref, bound);
                                err2 += (y[r] - ref) * (y[r] - ref);
                                ref2 += ref * ref;
                        }
                        if (level == AID_CPU_SCALAR)
                                cr_log_info("%s with 8-bit x: rel rms %.5f against f64",
                                                ggml_type_name(type), sqrt(err2 / ref2));
                }
                free(w);
        }
        aid_kernels_set_level(aid_cpu_detect());
        aid_matvec_set_mode(AID_MATVEC_AUTO);
        free(x);
        free(wf);
        free(y);
        free(src);
        free(dx);
}

Test(kernels, q8x_accuracy_against_double)
{
        for_each_kernel_variant(q8x_accuracy_against_double_body);
}

/* The multi-row kernels (n rows of x against one weight row, each block unpacked once): the
 * scalar twin gives exactly the single-row scalar kernel per row; every SIMD level is within the
 * float bound of the twin, for every n up to 8 and for sizes whose block count is not a
 * multiple of the 8-block groups. */
static const kern_qdot_multi_fn *multi_table(int level)
{
        return level >= AID_CPU_AVX512_ICL    ? kern_qdot_multi_avx512_icl
               : level >= AID_CPU_AVX512_VNNI ? kern_qdot_multi_avx512_vnni
               : level >= AID_CPU_AVX512      ? kern_qdot_multi_avx2 /* as dispatch.c falls back */
               : level >= AID_CPU_AVX2        ? (aid_kernels_get_avx_vnni() ? kern_qdot_multi_avx_vnni
                                                                            : kern_qdot_multi_avx2)
                                              : kern_qdot_multi_scalar;
}

static void qdot_multi_levels_match_scalar_body(void)
{
        static const uint32_t types[] = { GGML_TYPE_Q4_0, GGML_TYPE_Q5_0, GGML_TYPE_Q8_0, GGML_TYPE_Q4_1,
                GGML_TYPE_Q5_1, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K };
        static const size_t cols_32[] = { 32, 224, 288, 1152, 2048 }, cols_k[] = { 256, 768, 2304 };
        const size_t rows = 9;

        for (size_t ti = 0; ti < ELEMENTSOF(types); ti++) {
                uint32_t type = types[ti];
                const struct ggml_type_traits *t = ggml_type_traits_get(type);
                bool k = t->block_elems == QK_K;

                cr_assert(kern_qdot_multi_scalar[type], "%s has a scalar multi-row twin", t->name);
                for (size_t ci = 0; ci < (k ? ELEMENTSOF(cols_k) : ELEMENTSOF(cols_32)); ci++) {
                        size_t cols = k ? cols_k[ci] : cols_32[ci];
                        uint64_t rb;
                        struct kern_xq xq[KERN_QDOT_MULTI_MAX];
                        float *x = malloc(cols * sizeof(float)), *wf = malloc(cols * sizeof(float));

                        cr_assert_eq(ggml_row_bytes(type, cols, &rb), 0);
                        uint8_t *w = malloc(rows * rb);
                        random_blocks(type, w, rows * rb / t->block_bytes);
                        for (size_t j = 0; j < KERN_QDOT_MULTI_MAX; j++) {
                                for (size_t c = 0; c < cols; c++)
                                        x[c] = gauss() * (float)(1 + (c / 32 + j) % 3);
                                xq[j] = xq_alloc(cols);
                                kern_quantize_x_scalar(x, cols, t->block_elems, &xq[j]);
                        }
                        for (size_t r = 0; r < rows; r++) {
                                const uint8_t *row = w + r * rb;
                                double mag[KERN_QDOT_MULTI_MAX] = { 0 };
                                float ref[KERN_QDOT_MULTI_MAX], got[KERN_QDOT_MULTI_MAX];

                                /* The bound's magnitude from the quantized x the kernels see. */
                                cr_assert_eq(aid_dequantize_row(type, row, wf, cols), 0);
                                for (size_t j = 0; j < KERN_QDOT_MULTI_MAX; j++)
                                        for (size_t c = 0; c < cols; c++)
                                                mag[j] += fabs((double)wf[c] * xq[j].qs[c] *
                                                                xq[j].d[c / t->block_elems]);
                                size_t n = 1 + r % KERN_QDOT_MULTI_MAX;
                                uint8_t *tmem = aligned_alloc(64, kern_xqt_bytes(cols));
                                cr_assert(tmem);
                                struct kern_xqt xt = kern_xqt_layout(tmem, cols);
                                if (!k)
                                        kern_xqt_fill_scalar(xq, n, cols, &xt);
                                memset(ref, 0, sizeof(ref));
                                kern_qdot_multi_scalar[type](row, xq, &xt, n, cols, ref);
                                for (size_t j = 0; j < n; j++)
                                        cr_assert_eq(ref[j], kern_qdot_scalar[type](row, &xq[j], cols),
                                                        "%s cols %zu n %zu: scalar twin row %zu", t->name,
                                                        cols, n, j);
                                for (int level = AID_CPU_AVX2; level <= (int)aid_cpu_detect(); level++) {
                                        const kern_qdot_multi_fn *mt = multi_table(level);
                                        cr_assert(mt[type], "%s %s", t->name, aid_cpu_level_name(level));
                                        memset(got, 0, sizeof(got));
                                        mt[type](row, xq, &xt, n, cols, got);
                                        for (size_t j = 0; j < n; j++) {
                                                float one = level_table(level)->qdot[type](
                                                                row, &xq[j], cols);
                                                cr_assert(fabs((double)got[j] - ref[j]) <= 1e-5 * mag[j],
                                                                "%s %s cols %zu n %zu row %zu: %.9g vs "
                                                                "scalar %.9g",
                                                                t->name, aid_cpu_level_name(level), cols, n,
                                                                j, got[j], ref[j]);
                                                cr_assert(fabs((double)got[j] - one) <= 1e-5 * mag[j],
                                                                "%s %s: %.9g vs single-row %.9g", t->name,
                                                                aid_cpu_level_name(level), got[j], one);
                                                /* Those that keep the single-row order. */
                                                bool exact = type == GGML_TYPE_Q4_0 ||
                                                             type == GGML_TYPE_Q5_0 ||
                                                             type == GGML_TYPE_Q8_0;
                                                if (k || (exact && level >= AID_CPU_AVX512_VNNI))
                                                        cr_assert_eq(got[j], one,
                                                                        "%s %s cols %zu: bit-identical",
                                                                        t->name, aid_cpu_level_name(level),
                                                                        cols);
                                        }
                                }
                                free(tmem);
                        }
                        for (size_t j = 0; j < KERN_QDOT_MULTI_MAX; j++)
                                xq_free(&xq[j]);
                        free(w);
                        free(x);
                        free(wf);
                }
        }
}

Test(kernels, qdot_multi_levels_match_scalar)
{
        for_each_kernel_variant(qdot_multi_levels_match_scalar_body);
}

Test(kernels, matvec_modes)
{
        cr_assert_eq(aid_matvec_get_mode(), AID_MATVEC_AUTO);
        for (size_t ti = 0; ti < N_Q8X_TYPES; ti++)
                cr_assert(aid_matvec_uses_q8x(q8x_types[ti]), "%s", ggml_type_name(q8x_types[ti]));
        cr_assert(!aid_matvec_uses_q8x(GGML_TYPE_F32));
        cr_assert(!aid_matvec_uses_q8x(GGML_TYPE_F16));
        cr_assert(!aid_matvec_uses_q8x(GGML_TYPE_BF16));
        cr_assert(!aid_matvec_uses_q8x(GGML_TYPE_Q2_K), "not a supported type");
        cr_assert_eq(aid_matvec_set_mode(AID_MATVEC_F32X), AID_MATVEC_F32X);
        cr_assert(!aid_matvec_uses_q8x(GGML_TYPE_Q4_0));
        cr_assert_eq(aid_matvec_set_mode(AID_MATVEC_Q8X), AID_MATVEC_Q8X);
        cr_assert(aid_matvec_uses_q8x(GGML_TYPE_Q8_0));
        cr_assert(!aid_matvec_uses_q8x(GGML_TYPE_F16));
        cr_assert_eq(aid_matvec_set_mode((enum aid_matvec_mode)42), AID_MATVEC_AUTO);
}

/* Two threads calling aid_matvec() at once, each with its own x, each get their own answer:
 * the 8-bit x is per calling thread. */
struct caller {
        const uint8_t *w;
        size_t rb, rows, cols;
        const float *x;
        float *y;
        bool same;
};

static void *caller_run(void *p)
{
        struct caller *c = p;
        float *y = malloc(c->rows * sizeof(float));

        c->same = y != NULL;
        for (int k = 0; k < 200 && c->same; k++) {
                aid_matvec(GGML_TYPE_Q4_0, c->w, c->rb, c->x, y, c->rows, c->cols);
                c->same = memcmp(y, c->y, c->rows * sizeof(float)) == 0;
        }
        free(y);
        return NULL;
}

Test(kernels, matvec_concurrent_callers)
{
        const size_t rows = 40, cols = 1024;
        uint64_t rb;
        struct caller c[2];
        pthread_t th[2];

        cr_assert_eq(ggml_row_bytes(GGML_TYPE_Q4_0, cols, &rb), 0);
        uint8_t *w = malloc(rows * rb);
        random_blocks(GGML_TYPE_Q4_0, w, rows * rb / 18);
        for (int k = 0; k < 2; k++) {
                float *x = malloc(cols * sizeof(float));
                for (size_t i = 0; i < cols; i++)
                        x[i] = gauss() * (float)(k + 1);
                c[k] = (struct caller){ .w = w,
                        .rb = rb,
                        .rows = rows,
                        .cols = cols,
                        .x = x,
                        .y = malloc(rows * sizeof(float)) };
                aid_matvec(GGML_TYPE_Q4_0, w, rb, x, c[k].y, rows, cols);
        }
        for (int k = 0; k < 2; k++)
                cr_assert_eq(pthread_create(&th[k], NULL, caller_run, &c[k]), 0);
        for (int k = 0; k < 2; k++) {
                pthread_join(th[k], NULL);
                cr_assert(c[k].same, "caller %d got another caller's product", k);
                free((void *)c[k].x);
                free(c[k].y);
        }
        free(w);
}

/* Decode's rows kernels (KERN_QDOT_ROWS rows per call) at every level against the level's
 * single-row kernel: the same float operations in the same order per row, so equal bit for
 * bit, with scales of every exponent (wild_blocks: products that round, overflow or are NaN),
 * an odd number of blocks (the tail block), Gemma-3-1B's 1152 columns and rows not packed
 * (row_bytes larger than a row). */
static bool same_float(float a, float b)
{
        return f2u(a) == f2u(b) || (isnan(a) && isnan(b));
}

static void qdot_rows_equal_single_rows_body(void)
{
        static const uint32_t types[] = { GGML_TYPE_Q4_0, GGML_TYPE_Q5_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_1 };
        static const size_t cols_32[] = { 32, 64, 96, 1152, 2080 };
        const size_t groups = 3, pad = 6;

        for (size_t ti = 0; ti < ELEMENTSOF(types); ti++) {
                uint32_t type = types[ti];
                const struct ggml_type_traits *t = ggml_type_traits_get(type);

                for (size_t ci = 0; ci < ELEMENTSOF(cols_32); ci++) {
                        size_t cols = cols_32[ci], n_rows = groups * KERN_QDOT_ROWS;
                        uint64_t rb;
                        cr_assert_eq(ggml_row_bytes(type, cols, &rb), 0);
                        size_t stride = rb + pad;
                        uint8_t *w = malloc(n_rows * stride);
                        float *x = malloc(cols * sizeof(float));
                        struct kern_xq xq = xq_alloc(cols);

                        cr_assert(w && x);
                        for (size_t r = 0; r < n_rows; r++)
                                wild_blocks(type, w + r * stride, rb / t->block_bytes);
                        for (size_t c = 0; c < cols; c++)
                                x[c] = gauss() * (float)(1 + (c / 32) % 5);
                        kern_quantize_x_scalar(x, cols, t->block_elems, &xq);
                        for (int level = AID_CPU_AVX2; level <= (int)aid_cpu_detect(); level++) {
                                kern_qdot_rows_fn rfn = kern_qdot_rows_for((enum aid_cpu_level)level, type);
                                kern_qdot_fn one = level_table(level)->qdot[type];

                                cr_assert(rfn, "%s has a rows kernel at %s", t->name,
                                                aid_cpu_level_name(level));
                                for (size_t g = 0; g < groups; g++) {
                                        float got[KERN_QDOT_ROWS];
                                        const uint8_t *rows = w + g * KERN_QDOT_ROWS * stride;

                                        rfn(rows, stride, &xq, cols, got);
                                        for (size_t r = 0; r < KERN_QDOT_ROWS; r++) {
                                                float ref = one(rows + r * stride, &xq, cols);
                                                cr_assert(same_float(got[r], ref),
                                                                "%s %s cols %zu group %zu row %zu: %.9g vs "
                                                                "single-row %.9g",
                                                                t->name, aid_cpu_level_name(level), cols, g,
                                                                r, got[r], ref);
                                        }
                                }
                        }
                        cr_assert_null(kern_qdot_rows_for(AID_CPU_SCALAR, type),
                                        "the scalar twin is per row");
                        xq_free(&xq);
                        free(w);
                        free(x);
                }
        }
}

/* Every level's rows kernels, both AVX2 builds among them, give each row the bits of the same
 * level's single-row kernel. */
Test(kernels, qdot_rows_equal_single_rows)
{
        for_each_kernel_variant(qdot_rows_equal_single_rows_body);
}

/* aid_matvec() with 8-bit x over groups of rows, split across the threads, and the remainder
 * rows one by one: each row as computed alone, for every remainder. */
static void matvec_q8x_groups_equal_single_rows_body(void)
{
        /* Q8_0 has no rows kernel: the single-row loop. */
        static const uint32_t types[] = { GGML_TYPE_Q4_0, GGML_TYPE_Q5_0, GGML_TYPE_Q8_0 };
        const size_t cols = 1152;

        aid_matvec_set_mode(AID_MATVEC_Q8X);
        for (size_t ti = 0; ti < ELEMENTSOF(types); ti++) {
                uint32_t type = types[ti];
                const struct ggml_type_traits *t = ggml_type_traits_get(type);
                uint64_t rb;

                cr_assert_eq(ggml_row_bytes(type, cols, &rb), 0);
                /* Past the 256 KiB at which the product is threaded. */
                size_t base_rows = ((1u << 18) / rb + KERN_QDOT_ROWS) / KERN_QDOT_ROWS * KERN_QDOT_ROWS;
                uint8_t *w = malloc((base_rows + KERN_QDOT_ROWS) * rb);
                float *x = malloc(cols * sizeof(float)),
                      *y = malloc((base_rows + KERN_QDOT_ROWS) * sizeof(float));

                cr_assert(w && x && y);
                random_blocks(type, w, (base_rows + KERN_QDOT_ROWS) * rb / t->block_bytes);
                for (size_t c = 0; c < cols; c++)
                        x[c] = gauss();
                for (int level = AID_CPU_AVX2; level <= (int)aid_cpu_detect(); level++) {
                        aid_kernels_set_level((enum aid_cpu_level)level);
                        for (size_t rows = base_rows; rows < base_rows + KERN_QDOT_ROWS; rows++) {
                                aid_matvec(type, w, rb, x, y, rows, cols);
                                for (size_t r = 0; r < rows; r++) {
                                        float one;
                                        aid_matvec(type, w + r * rb, rb, x, &one, 1, cols);
                                        cr_assert(same_float(one, y[r]), "%s %s %zu rows: row %zu", t->name,
                                                        aid_cpu_level_name(level), rows, r);
                                }
                        }
                }
                free(w);
                free(x);
                free(y);
        }
        aid_kernels_set_level(aid_cpu_detect());
        aid_matvec_set_mode(AID_MATVEC_AUTO);
}

Test(kernels, matvec_q8x_groups_equal_single_rows)
{
        for_each_kernel_variant(matvec_q8x_groups_equal_single_rows_body);
}

/* Every unit exactly once, for teams of the split's size, smaller ones (a thread goes through
 * the shares of threads that never came) and single threads. */
Test(kernels, work_split_covers_every_unit_once)
{
        const size_t sizes[] = { 0, 1, 7, 8, 9, 63, 64, 65, 1000, 4099 };
        const unsigned shares[] = { 1, 2, 3, 4, 7 };

        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
                for (size_t j = 0; j < sizeof(shares) / sizeof(shares[0]); j++)
                        for (int team = 1; team <= 3; team++) {
                                const size_t n = sizes[i];
                                _Atomic unsigned *seen = calloc(n + 1, sizeof(*seen));
                                struct work_split ws;

                                work_split_init(&ws, n, shares[j], 8);
#pragma omp parallel num_threads(team)
                                {
                                        struct work_split_cursor cur = work_split_start(
                                                        &ws, (unsigned)omp_get_thread_num());
                                        size_t u0, u1;
                                        while (work_split_next(&ws, &cur, &u0, &u1)) {
                                                cr_assert(u0 < u1 && u1 <= n && u1 - u0 <= 8);
                                                for (size_t u = u0; u < u1; u++)
                                                        atomic_fetch_add(&seen[u], 1);
                                        }
                                }
                                for (size_t u = 0; u < n; u++)
                                        cr_assert_eq(seen[u], 1,
                                                        "unit %zu of %zu, %u shares, team %d: %u times", u,
                                                        n, shares[j], team, seen[u]);
                                free(seen);
                        }
}

/* A thread that comes late finds its share taken by the one that came first. */
Test(kernels, work_split_first_thread_takes_a_late_ones_share)
{
        const size_t n = 1000;
        size_t done_by[2] = { 0, 0 };
        atomic_bool first_done = false;
        struct work_split ws;
        int team = 0;

        work_split_init(&ws, n, 2, 8);
#pragma omp parallel num_threads(2)
        {
                const int t = omp_get_thread_num();
                size_t u0, u1, count = 0;

#pragma omp single
                team = omp_get_num_threads();
                if (t == 1)
                        while (!atomic_load(&first_done))
                                ;
                struct work_split_cursor cur = work_split_start(&ws, (unsigned)t);
                while (work_split_next(&ws, &cur, &u0, &u1))
                        count += u1 - u0;
                done_by[t] = count;
                if (t == 0)
                        atomic_store(&first_done, true);
        }
        if (team < 2)
                cr_skip_test("OpenMP gave a team of one thread");
        cr_assert_eq(done_by[0], n, "thread 0 did %zu of %zu units", done_by[0], n);
        cr_assert_eq(done_by[1], 0);
}

/* The bandwidth probe's loop adds the same words at every level, on slices of every length
 * in lines (the vector loops' tails included), and aid_read_sum() splits a buffer across
 * threads without losing or counting twice any line. */
Test(kernels, read_sum_levels_agree)
{
        const size_t lines = 1024 + 7;
        uint64_t *buf = aligned_alloc(64, lines * 64);

        cr_assert(buf);
        for (size_t i = 0; i < lines * 8; i++)
                buf[i] = 0x9e3779b97f4a7c15ull * (i + 1) ^ (i << 40);
        for (size_t n = 0; n <= 9; n++) {
                uint64_t want = 0;

                for (size_t i = 0; i < n * 8; i++)
                        want += buf[i + 8];
                for (int level = AID_CPU_SCALAR; level <= (int)aid_cpu_detect(); level++)
                        cr_assert_eq(kern_read_sum_for((enum aid_cpu_level)level)(buf + 8, n * 64), want,
                                        "level %s, %zu lines", aid_cpu_level_name((enum aid_cpu_level)level),
                                        n);
        }
        uint64_t want = kern_read_sum_scalar(buf, lines * 64);
        for (int level = AID_CPU_SCALAR; level <= (int)aid_cpu_detect(); level++) {
                cr_assert_eq(kern_read_sum_for((enum aid_cpu_level)level)(buf, lines * 64), want);
                aid_kernels_set_level((enum aid_cpu_level)level);
                for (int threads = 1; threads <= 3; threads++) {
                        omp_set_num_threads(threads);
                        /* Past 1 MiB, where it goes parallel: the buffer read 300 times over. */
                        uint64_t *big = aligned_alloc(64, 300 * lines * 64);
                        cr_assert(big);
                        for (size_t r = 0; r < 300; r++)
                                memcpy(big + r * lines * 8, buf, lines * 64);
                        cr_assert_eq(aid_read_sum(big, 300 * lines * 64), want * 300, "level %s, %d threads",
                                        aid_cpu_level_name((enum aid_cpu_level)level), threads);
                        free(big);
                }
        }
        aid_kernels_set_level(aid_cpu_detect());
        free(buf);
}

/* How far ahead the kernels prefetch changes no result at any level: the same bits with no
 * prefetch, the CPU's default and the largest distance (which reaches past the matrix). */
Test(kernels, prefetch_distance_changes_no_result)
{
        const size_t rows = 67, cols = 512;
        const size_t distances[] = { 4096, AID_KERNELS_PREFETCH_MAX };

        cr_assert_eq(aid_kernels_get_prefetch(), aid_kernels_default_prefetch(), "the default until set");
        cr_assert_eq(aid_kernels_set_prefetch(100), 64);
        cr_assert_eq(aid_kernels_set_prefetch(SIZE_MAX), AID_KERNELS_PREFETCH_MAX);
        cr_assert_eq(aid_kernels_set_prefetch(0), 0);
        cr_assert_eq(aid_kernels_get_prefetch(), 0);
        for (int level = AID_CPU_SCALAR; level <= (int)aid_cpu_detect(); level++) {
                aid_kernels_set_level((enum aid_cpu_level)level);
                for (size_t ti = 0; ti < N_TYPES; ti++) {
                        uint32_t type = all_types[ti];
                        const struct ggml_type_traits *tr = ggml_type_traits_get(type);
                        uint64_t rb;

                        cr_assert_eq(ggml_row_bytes(type, cols, &rb), 0);
                        uint8_t *w = malloc(rows * rb);
                        float *x = malloc(cols * sizeof(float)), *want = malloc(rows * sizeof(float)),
                              *got = malloc(rows * sizeof(float));
                        cr_assert(w && x && want && got);
                        random_blocks(type, w, rows * rb / tr->block_bytes);
                        for (size_t c = 0; c < cols; c++)
                                x[c] = gauss();
                        aid_kernels_set_prefetch(0);
                        aid_matvec(type, w, rb, x, want, rows, cols);
                        for (size_t d = 0; d < ELEMENTSOF(distances); d++) {
                                aid_kernels_set_prefetch(distances[d]);
                                aid_matvec(type, w, rb, x, got, rows, cols);
                                cr_assert(memcmp(got, want, rows * sizeof(float)) == 0,
                                                "%s %s, %zu bytes ahead", tr->name,
                                                aid_cpu_level_name((enum aid_cpu_level)level), distances[d]);
                        }
                        free(w);
                        free(x);
                        free(want);
                        free(got);
                }
        }
        aid_kernels_set_level(aid_cpu_detect());
        aid_kernels_set_prefetch(aid_kernels_default_prefetch());
}
