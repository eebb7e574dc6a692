/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf-write.h"
#include "gguf.h"

/* Files written by gguf-write.c must read back through gguf.c (the same strict reader that
 * opens users' models) with every value, array and tensor byte intact. */

static char dir[] = "/tmp/test-gguf-write-XXXXXX";

static void setup(void)
{
        cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        cr_assert_eq(system(cmd), 0);
}

TestSuite(gguf_write, .init = setup, .fini = teardown);

static char *path_in_dir(const char *name)
{
        char *p;

        cr_assert_geq(asprintf(&p, "%s/%s", dir, name), 0);
        return p;
}

static struct gguf_file *reopen(const char *path)
{
        struct gguf_file *f = NULL;
        struct aid_error err = { 0 };
        int r = gguf_open(path, &f, &err);

        cr_assert_eq(r, 0, "gguf_open: %s", err.message);
        return f;
}

Test(gguf_write, every_value_type)
{
        struct gguf_writer *w = gguf_writer_new();
        _cleanup_free_ char *path = path_in_dir("kv.gguf");
        struct gguf_file *f;
        const struct gguf_kv *kv;
        const struct gguf_value *arr;
        struct gguf_str s;
        struct aid_error err = { 0 };
        uint32_t u32;
        uint64_t u64;
        int64_t i64;
        float f32;
        bool b;
        static const char str_with_nul[] = { 'a', '\0', 'b' };
        const char *strs[] = { "", "tok", "\xe2\x96\x81hello", "<0x0A>" };
        const int16_t i16s[] = { -32768, -1, 0, 32767 };
        const double f64s[] = { 0.5, -1e300, 3.0 };
        const uint8_t bools[] = { 1, 0, 1 };

        cr_assert_not_null(w);
        cr_assert_eq(gguf_writer_add_u8(w, "t.u8", 200), 0);
        cr_assert_eq(gguf_writer_add_i8(w, "t.i8", -100), 0);
        cr_assert_eq(gguf_writer_add_u16(w, "t.u16", 65000), 0);
        cr_assert_eq(gguf_writer_add_i16(w, "t.i16", -30000), 0);
        cr_assert_eq(gguf_writer_add_u32(w, "t.u32", 4000000000u), 0);
        cr_assert_eq(gguf_writer_add_i32(w, "t.i32", -2000000000), 0);
        cr_assert_eq(gguf_writer_add_u64(w, "t.u64", UINT64_MAX - 5), 0);
        cr_assert_eq(gguf_writer_add_i64(w, "t.i64", INT64_MIN + 7), 0);
        cr_assert_eq(gguf_writer_add_f32(w, "t.f32", 1.5e-7f), 0);
        cr_assert_eq(gguf_writer_add_f64(w, "t.f64", -2.25e100), 0);
        cr_assert_eq(gguf_writer_add_bool(w, "t.bool", true), 0);
        cr_assert_eq(gguf_writer_add_str(w, "t.str", "llama"), 0);
        cr_assert_eq(gguf_writer_add_str_len(w, "t.strnul", str_with_nul, sizeof(str_with_nul)), 0);
        cr_assert_eq(gguf_writer_add_arr_str(w, "t.arr_str", strs, 4), 0);
        cr_assert_eq(gguf_writer_add_arr(w, "t.arr_i16", GGUF_TYPE_INT16, i16s, 4), 0);
        cr_assert_eq(gguf_writer_add_arr(w, "t.arr_f64", GGUF_TYPE_FLOAT64, f64s, 3), 0);
        cr_assert_eq(gguf_writer_add_arr(w, "t.arr_bool", GGUF_TYPE_BOOL, bools, 3), 0);
        cr_assert_eq(gguf_writer_add_arr(w, "t.arr_empty", GGUF_TYPE_UINT32, NULL, 0), 0);
        cr_assert_eq(gguf_writer_write(w, path, NULL, NULL, &err), 0, "%s", err.message);
        w = gguf_writer_free(w);

        f = reopen(path);
        cr_assert_eq(gguf_version(f), 3);
        cr_assert_eq(gguf_n_kv(f), 18);
        cr_assert_eq(gguf_n_tensors(f), 0);
        /* Order is kept. */
        cr_assert_str_eq(gguf_kv_at(f, 0)->key, "t.u8");
        cr_assert_str_eq(gguf_kv_at(f, 17)->key, "t.arr_empty");

        kv = gguf_find_kv(f, "t.u8");
        cr_assert_eq(kv->value.type, GGUF_TYPE_UINT8);
        cr_assert_eq(kv->value.u64, 200);
        kv = gguf_find_kv(f, "t.i8");
        cr_assert_eq(kv->value.type, GGUF_TYPE_INT8);
        cr_assert_eq(kv->value.i64, -100);
        kv = gguf_find_kv(f, "t.u16");
        cr_assert_eq(kv->value.type, GGUF_TYPE_UINT16);
        cr_assert_eq(kv->value.u64, 65000);
        kv = gguf_find_kv(f, "t.i16");
        cr_assert_eq(kv->value.type, GGUF_TYPE_INT16);
        cr_assert_eq(kv->value.i64, -30000);
        cr_assert_eq(gguf_get_u32(f, "t.u32", &u32, NULL), 0);
        cr_assert_eq(u32, 4000000000u);
        kv = gguf_find_kv(f, "t.i32");
        cr_assert_eq(kv->value.type, GGUF_TYPE_INT32);
        cr_assert_eq(kv->value.i64, -2000000000);
        cr_assert_eq(gguf_get_u64(f, "t.u64", &u64, NULL), 0);
        cr_assert_eq(u64, UINT64_MAX - 5);
        cr_assert_eq(gguf_get_i64(f, "t.i64", &i64, NULL), 0);
        cr_assert_eq(i64, INT64_MIN + 7);
        cr_assert_eq(gguf_get_f32(f, "t.f32", &f32, NULL), 0);
        cr_assert_eq(f32, 1.5e-7f);
        kv = gguf_find_kv(f, "t.f64");
        cr_assert_eq(kv->value.type, GGUF_TYPE_FLOAT64);
        cr_assert_eq(kv->value.f64, -2.25e100);
        cr_assert_eq(gguf_get_bool(f, "t.bool", &b, NULL), 0);
        cr_assert(b);
        cr_assert_eq(gguf_get_str(f, "t.str", &s, NULL), 0);
        cr_assert(gguf_str_eq(s, "llama"));
        cr_assert_eq(gguf_get_str(f, "t.strnul", &s, NULL), 0);
        cr_assert_eq(s.len, 3);
        cr_assert_eq(memcmp(s.data, str_with_nul, 3), 0);

        cr_assert_eq(gguf_get_arr(f, "t.arr_str", GGUF_TYPE_STRING, &arr, NULL), 0);
        cr_assert_eq(arr->arr.n, 4);
        for (int i = 0; i < 4; i++)
                cr_assert(gguf_str_eq(gguf_arr_str(arr, i), strs[i]), "string %d", i);
        cr_assert_eq(gguf_get_arr(f, "t.arr_i16", GGUF_TYPE_INT16, &arr, NULL), 0);
        for (int i = 0; i < 4; i++)
                cr_assert_eq(gguf_arr_i64(arr, i), i16s[i]);
        cr_assert_eq(gguf_get_arr(f, "t.arr_f64", GGUF_TYPE_FLOAT64, &arr, NULL), 0);
        for (int i = 0; i < 3; i++)
                cr_assert_eq(gguf_arr_f64(arr, i), f64s[i]);
        cr_assert_eq(gguf_get_arr(f, "t.arr_bool", GGUF_TYPE_BOOL, &arr, NULL), 0);
        for (int i = 0; i < 3; i++)
                cr_assert_eq(gguf_arr_u64(arr, i), bools[i]);
        cr_assert_eq(gguf_get_arr(f, "t.arr_empty", GGUF_TYPE_UINT32, &arr, NULL), 0);
        cr_assert_eq(arr->arr.n, 0);
        gguf_close(f);
}

/* Tensors of several types and odd sizes, so that padding is needed between them. */
static void check_tensors_with_alignment(uint32_t alignment)
{
        struct gguf_writer *w = gguf_writer_new();
        _cleanup_free_ char *path = path_in_dir("t.gguf");
        struct aid_error err = { 0 };
        struct gguf_file *f;
        float a[3 * 5];
        uint16_t h[7];
        uint8_t q8[2 * 34]; /* two Q8_0 blocks */
        float big[100];
        const uint64_t ne_a[] = { 3, 5 }, ne_h[] = { 7 }, ne_q[] = { 32, 2 }, ne_big[] = { 5, 2, 5, 2 };

        for (size_t i = 0; i < ELEMENTSOF(a); i++)
                a[i] = (float)i * 0.25f - 1.0f;
        for (size_t i = 0; i < ELEMENTSOF(h); i++)
                h[i] = (uint16_t)(0x3c00 + i);
        for (size_t i = 0; i < sizeof(q8); i++)
                q8[i] = (uint8_t)(i * 7 + 1);
        for (size_t i = 0; i < ELEMENTSOF(big); i++)
                big[i] = sinf((float)i);

        if (alignment != GGUF_DEFAULT_ALIGNMENT)
                cr_assert_eq(gguf_writer_add_u32(w, "general.alignment", alignment), 0);
        cr_assert_eq(gguf_writer_add_str(w, "general.architecture", "llama"), 0);
        cr_assert_eq(gguf_writer_add_tensor(w, "a", GGML_TYPE_F32, 2, ne_a, a), 0);
        cr_assert_eq(gguf_writer_add_tensor(w, "h", GGML_TYPE_F16, 1, ne_h, h), 0);
        cr_assert_eq(gguf_writer_add_tensor(w, "blk.0.q", GGML_TYPE_Q8_0, 2, ne_q, q8), 0);
        cr_assert_eq(gguf_writer_add_tensor(w, "big", GGML_TYPE_F32, 4, ne_big, big), 0);
        cr_assert_eq(gguf_writer_n_tensors(w), 4);
        cr_assert_eq(gguf_writer_write(w, path, NULL, NULL, &err), 0, "%s", err.message);
        gguf_writer_free(w);

        f = reopen(path);
        cr_assert_eq(gguf_alignment(f), alignment);
        cr_assert_eq(gguf_data_offset(f) % alignment, 0);
        cr_assert_eq(gguf_n_tensors(f), 4);
        for (uint64_t i = 0; i < 4; i++) {
                const struct gguf_tensor *t = gguf_tensor_at(f, i);

                cr_assert_eq(t->offset % alignment, 0, "tensor %s at %lu", t->name,
                                (unsigned long)t->offset);
                cr_assert_eq(((uintptr_t)t->data - (uintptr_t)gguf_tensor_at(f, 0)->data) % alignment, 0);
        }
        const struct gguf_tensor *t = gguf_find_tensor(f, "a");
        cr_assert_eq(t->type, GGML_TYPE_F32);
        cr_assert_eq(t->n_dims, 2);
        cr_assert_eq(t->ne[0], 3);
        cr_assert_eq(t->ne[1], 5);
        cr_assert_eq(t->n_bytes, sizeof(a));
        cr_assert_eq(memcmp(t->data, a, sizeof(a)), 0);
        t = gguf_find_tensor(f, "h");
        cr_assert_eq(t->type, GGML_TYPE_F16);
        cr_assert_eq(t->n_dims, 1);
        cr_assert_eq(memcmp(t->data, h, sizeof(h)), 0);
        t = gguf_find_tensor(f, "blk.0.q");
        cr_assert_eq(t->type, GGML_TYPE_Q8_0);
        cr_assert_eq(t->n_bytes, sizeof(q8));
        cr_assert_eq(memcmp(t->data, q8, sizeof(q8)), 0);
        t = gguf_find_tensor(f, "big");
        cr_assert_eq(t->n_dims, 4);
        cr_assert_eq(t->ne[2], 5);
        cr_assert_eq(t->ne[3], 2);
        cr_assert_eq(memcmp(t->data, big, sizeof(big)), 0);
        /* ggml pads after the last tensor too. */
        cr_assert_eq((gguf_file_size(f) - gguf_data_offset(f)) % alignment, 0);
        gguf_close(f);
}

Test(gguf_write, tensors_alignment_32)
{
        check_tensors_with_alignment(32);
}

Test(gguf_write, tensors_alignment_64)
{
        check_tensors_with_alignment(64);
}

Test(gguf_write, tensors_alignment_8)
{
        check_tensors_with_alignment(8);
}

/* The fill callback writes rows in chunks; the values depend on the absolute row so that a
 * misplaced chunk shows. */
static int fill_rows(void *userdata, uint64_t index, uint64_t row0, uint64_t n_rows, void *buf)
{
        const uint64_t *cols = userdata;
        float *out = buf;

        for (uint64_t r = 0; r < n_rows; r++)
                for (uint64_t c = 0; c < cols[index]; c++)
                        out[r * cols[index] + c] = (float)(index * 1000000 + (row0 + r) * 1000 + c);
        return 0;
}

Test(gguf_write, fill_callback_large_tensor)
{
        struct gguf_writer *w = gguf_writer_new();
        _cleanup_free_ char *path = path_in_dir("fill.gguf");
        struct aid_error err = { 0 };
        /* 4100 rows of 1100 f32 = 18 MB: more than one fill chunk. */
        uint64_t cols[2] = { 1100, 33 };
        const uint64_t ne0[] = { 1100, 4100 }, ne1[] = { 33, 3 };
        struct gguf_file *f;

        cr_assert_eq(gguf_writer_add_tensor(w, "x", GGML_TYPE_F32, 2, ne0, NULL), 0);
        cr_assert_eq(gguf_writer_add_tensor(w, "y", GGML_TYPE_F32, 2, ne1, NULL), 0);
        cr_assert_eq(gguf_writer_write(w, path, fill_rows, cols, &err), 0, "%s", err.message);
        gguf_writer_free(w);

        f = reopen(path);
        for (uint64_t i = 0; i < 2; i++) {
                const struct gguf_tensor *t = gguf_tensor_at(f, i);
                const float *v = t->data;

                for (uint64_t r = 0; r < t->ne[1]; r++)
                        for (uint64_t c = 0; c < t->ne[0]; c++)
                                cr_assert_eq(v[r * t->ne[0] + c], (float)(i * 1000000 + r * 1000 + c),
                                                "tensor %lu row %lu col %lu", (unsigned long)i,
                                                (unsigned long)r, (unsigned long)c);
        }
        gguf_close(f);
}

static int fill_fails(void *userdata, uint64_t index, uint64_t row0, uint64_t n_rows, void *buf)
{
        return -ENOSPC;
}

Test(gguf_write, failures_leave_no_file)
{
        struct gguf_writer *w = gguf_writer_new();
        _cleanup_free_ char *path = path_in_dir("fail.gguf");
        struct aid_error err = { 0 };
        const uint64_t ne[] = { 32 };
        struct stat st;

        cr_assert_eq(gguf_writer_add_tensor(w, "x", GGML_TYPE_F32, 1, ne, NULL), 0);
        cr_assert_eq(gguf_writer_write(w, path, fill_fails, NULL, &err), -ENOSPC);
        cr_assert_neq(strstr(err.message, "'x'"), NULL, "%s", err.message);
        cr_assert_eq(stat(path, &st), -1);
        gguf_writer_free(w);

        /* Nothing but our own files in the folder: the temporary is gone too. */
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s')\"", dir);
        cr_assert_eq(system(cmd), 0);
}

Test(gguf_write, bad_input_is_refused_and_sticky)
{
        struct gguf_writer *w = gguf_writer_new();
        _cleanup_free_ char *path = path_in_dir("bad.gguf");
        struct aid_error err = { 0 };
        const uint64_t ne_bad[] = { 33 }, ne_ok[] = { 32 };
        char long_name[80];
        struct stat st;

        memset(long_name, 'n', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';

        /* Each case on a fresh writer, since the first error sticks. */
        cr_assert_eq(gguf_writer_add_tensor(w, "q", GGML_TYPE_Q4_0, 1, ne_bad, NULL), -EINVAL);
        cr_assert_eq(gguf_writer_add_u32(w, "ok", 1), -EINVAL); /* sticky */
        cr_assert_eq(gguf_writer_write(w, path, NULL, NULL, &err), -EINVAL);
        cr_assert_neq(strstr(err.message, "Q4_0"), NULL, "%s", err.message);
        cr_assert_eq(stat(path, &st), -1);
        w = gguf_writer_free(w);

        w = gguf_writer_new();
        cr_assert_eq(gguf_writer_add_u32(w, "k", 1), 0);
        cr_assert_eq(gguf_writer_add_str(w, "k", "again"), -EEXIST);
        w = gguf_writer_free(w);

        w = gguf_writer_new();
        cr_assert_eq(gguf_writer_add_tensor(w, long_name, GGML_TYPE_F32, 1, ne_ok, NULL), -EINVAL);
        w = gguf_writer_free(w);

        w = gguf_writer_new();
        cr_assert_eq(gguf_writer_add_tensor(w, "t", GGML_TYPE_F32, 1, ne_ok, NULL), 0);
        cr_assert_eq(gguf_writer_add_tensor(w, "t", GGML_TYPE_F32, 1, ne_ok, NULL), -EEXIST);
        w = gguf_writer_free(w);

        w = gguf_writer_new();
        cr_assert_eq(gguf_writer_add_u32(w, "general.alignment", 48), -EINVAL);
        w = gguf_writer_free(w);

        w = gguf_writer_new();
        cr_assert_eq(gguf_writer_add_tensor(w, "t", 4 /* removed Q4_2 */, 1, ne_ok, NULL), -EINVAL);
        gguf_writer_free(w);
}

/* Runs the build's aid-make-model with args and --quiet, writing path; its exit status (its
 * messages go to standard error). Skips the test outside meson test, which says where the build
 * is. */
static int run_model_maker(const char *args, const char *path)
{
        const char *build = getenv("AID_BUILD_ROOT");
        char cmd[1024];

        if (!build) {
                teardown(); /* criterion runs no .fini after a skip */
                cr_skip_test("AID_BUILD_ROOT is not set: run through meson test to find aid-make-model");
        }
        snprintf(cmd, sizeof(cmd), "'%s/tools/aid-make-model' %s --quiet '%s'", build, args, path);
        cr_log_info("%s", cmd);
        return system(cmd);
}

/* The model maker is the writer's main user: a Qwen2.5-0.5B-shaped Q4_K file (one layer) must
 * read back with the published hyper-parameters, llama-quantize's fallback for rows of 896, and
 * a vocabulary of the real size. */
Test(gguf_write, model_maker_qwen2)
{
        _cleanup_free_ char *path = path_in_dir("qwen.gguf");
        const struct gguf_tensor *t;
        const struct gguf_value *arr;
        struct gguf_file *f;
        struct gguf_str s;
        uint32_t u;
        float eps;

        cr_assert_eq(run_model_maker("--shape qwen2.5-0.5b --type Q4_K --layers 1", path), 0);

        f = reopen(path);
        cr_assert_eq(gguf_get_str(f, "general.architecture", &s, NULL), 0);
        cr_assert(gguf_str_eq(s, "qwen2"));
        cr_assert_eq(gguf_get_u32(f, "qwen2.embedding_length", &u, NULL), 0);
        cr_assert_eq(u, 896);
        cr_assert_eq(gguf_get_u32(f, "qwen2.block_count", &u, NULL), 0);
        cr_assert_eq(u, 1);
        cr_assert_eq(gguf_get_u32(f, "qwen2.attention.head_count_kv", &u, NULL), 0);
        cr_assert_eq(u, 2);
        cr_assert_eq(gguf_get_f32(f, "qwen2.attention.layer_norm_rms_epsilon", &eps, NULL), 0);
        cr_assert_float_eq(eps, 1e-6f, 1e-12);
        cr_assert_eq(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &arr, NULL), 0);
        cr_assert_eq(arr->arr.n, 151936);
        cr_assert(gguf_str_eq(gguf_arr_str(arr, 3), "<0x00>"));

        t = gguf_find_tensor(f, "token_embd.weight");
        cr_assert_not_null(t);
        cr_assert_eq(t->ne[0], 896);
        cr_assert_eq(t->ne[1], 151936);
        cr_assert_eq(t->type, GGML_TYPE_Q5_0, "896 is no multiple of 256: Q4_K falls back to Q5_0");
        cr_assert_null(gguf_find_tensor(f, "output.weight"), "tied embeddings");
        t = gguf_find_tensor(f, "blk.0.ffn_down.weight");
        cr_assert_eq(t->type, GGML_TYPE_Q4_K);
        cr_assert_eq(t->ne[0], 4864);
        t = gguf_find_tensor(f, "blk.0.attn_k.bias");
        cr_assert_eq(t->type, GGML_TYPE_F32);
        cr_assert_eq(t->ne[0], 128);
        cr_assert_not_null(gguf_find_tensor(f, "blk.0.attn_k.weight"));
        cr_assert_null(gguf_find_tensor(f, "blk.1.attn_k.weight"));
        gguf_close(f);
}

/* --type Q4_K_M: llama-quantize's mixture, on the tiny shape with 8 layers (not tied). Q6_K for
 * output.weight and for attn_v and ffn_down in layers 0 and 7 (the first and last eighth) and 3
 * and 6 (every third between), Q4_K elsewhere; the file type is 15. */
Test(gguf_write, model_maker_q4_k_m_mixture)
{
        _cleanup_free_ char *path = path_in_dir("mix.gguf");
        const struct gguf_tensor *t;
        struct gguf_file *f;
        char name[64];
        uint32_t u;

        cr_assert_eq(run_model_maker("--shape tiny --type q4_k_m --layers 8", path), 0);

        f = reopen(path);
        cr_assert_eq(gguf_get_u32(f, "general.file_type", &u, NULL), 0);
        cr_assert_eq(u, 15);
        cr_assert_eq(gguf_find_tensor(f, "token_embd.weight")->type, GGML_TYPE_Q4_K);
        cr_assert_eq(gguf_find_tensor(f, "output.weight")->type, GGML_TYPE_Q6_K);
        for (unsigned l = 0; l < 8; l++) {
                const uint32_t want = l == 0 || l == 3 || l == 6 || l == 7 ? GGML_TYPE_Q6_K : GGML_TYPE_Q4_K;

                snprintf(name, sizeof(name), "blk.%u.attn_v.weight", l);
                t = gguf_find_tensor(f, name);
                cr_assert_eq(t->type, want, "%s: %s", name, ggml_type_name(t->type));
                snprintf(name, sizeof(name), "blk.%u.ffn_down.weight", l);
                t = gguf_find_tensor(f, name);
                cr_assert_eq(t->type, want, "%s: %s", name, ggml_type_name(t->type));
                snprintf(name, sizeof(name), "blk.%u.attn_q.weight", l);
                cr_assert_eq(gguf_find_tensor(f, name)->type, GGML_TYPE_Q4_K, "%s", name);
        }
        gguf_close(f);

        /* An unknown mixture is refused by name. */
        cr_assert_neq(run_model_maker("--shape tiny --type Q4_K_X", path), 0);
}
