/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"

/* A small GGUF writer: enough to make good files in memory and then break them one field at
 * a time. Everything is little-endian, as on the machines aid runs on. */

struct buf {
        uint8_t *d;
        size_t len, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
        if (b->len + n > b->cap) {
                b->cap = (b->len + n) * 2 + 64;
                b->d = realloc(b->d, b->cap);
                cr_assert_not_null(b->d);
        }
        if (n > 0)
                memcpy(b->d + b->len, p, n);
        b->len += n;
}

static void put_u8(struct buf *b, uint8_t v)
{
        put(b, &v, 1);
}
static void put_u16(struct buf *b, uint16_t v)
{
        put(b, &v, 2);
}
static void put_u32(struct buf *b, uint32_t v)
{
        put(b, &v, 4);
}
static void put_u64(struct buf *b, uint64_t v)
{
        put(b, &v, 8);
}
static void put_f32(struct buf *b, float v)
{
        put(b, &v, 4);
}
static void put_f64(struct buf *b, double v)
{
        put(b, &v, 8);
}
static void put_strn(struct buf *b, const char *s, uint64_t n)
{
        put_u64(b, n);
        put(b, s, n);
}
static void put_str(struct buf *b, const char *s)
{
        put_strn(b, s, strlen(s));
}

/* Key and type of a key/value; the caller writes the value. */
static void kv_head(struct buf *b, const char *key, uint32_t type)
{
        put_str(b, key);
        put_u32(b, type);
}

static void kv_u32(struct buf *b, const char *key, uint32_t v)
{
        kv_head(b, key, GGUF_TYPE_UINT32);
        put_u32(b, v);
}

static void kv_str(struct buf *b, const char *key, const char *v)
{
        kv_head(b, key, GGUF_TYPE_STRING);
        put_str(b, v);
}

#define AUTO_OFFSET UINT64_MAX

struct tinfo {
        const char *name;
        uint32_t n_dims;
        uint64_t ne[4];
        uint32_t type;
        uint64_t offset; /* AUTO_OFFSET: next aligned place after the previous tensor */
};

static uint64_t tinfo_bytes(const struct tinfo *t)
{
        uint64_t row = 0, rows = 1;

        /* Broken tensors (unknown type, bad row) get some bytes all the same. */
        if (t->n_dims == 0 || ggml_row_bytes(t->type, t->ne[0], &row) < 0)
                return 32;
        for (uint32_t j = 1; j < t->n_dims; j++)
                rows *= t->ne[j];
        return row * rows;
}

/* Header, the key/values in kvs, tensor infos, padding and data. Tensor data bytes are
 * (offset + i) & 0xff so that tests can check the pointers. A file without tensors ends right
 * after the key/values, like llama.cpp's vocab files. */
static struct buf build(uint32_t version, const struct buf *kvs, uint64_t n_kv, struct tinfo *t, size_t n_t,
                uint32_t alignment)
{
        struct buf b = {};
        uint64_t next = 0, end = 0;

        put_u32(&b, GGUF_MAGIC);
        put_u32(&b, version);
        put_u64(&b, n_t);
        put_u64(&b, n_kv);
        if (kvs)
                put(&b, kvs->d, kvs->len);
        for (size_t i = 0; i < n_t; i++) {
                if (t[i].offset == AUTO_OFFSET) {
                        t[i].offset = next;
                }
                next = t[i].offset + tinfo_bytes(&t[i]);
                next = (next + alignment - 1) / alignment * alignment;
                if (t[i].offset + tinfo_bytes(&t[i]) > end)
                        end = t[i].offset + tinfo_bytes(&t[i]);

                put_str(&b, t[i].name);
                put_u32(&b, t[i].n_dims);
                for (uint32_t j = 0; j < t[i].n_dims; j++)
                        put_u64(&b, t[i].ne[j]);
                put_u32(&b, t[i].type);
                put_u64(&b, t[i].offset);
        }
        if (n_t > 0) {
                size_t data_start;

                while (b.len % alignment != 0)
                        put_u8(&b, 0);
                data_start = b.len;
                /* Tensors too large to write are for tests that refuse them before the data. */
                for (uint64_t i = 0; i < end && i < (UINT64_C(1) << 20); i++)
                        put_u8(&b, (uint8_t)((i + data_start) & 0xff));
        }
        return b;
}

static void buf_free(struct buf *b)
{
        free(b->d);
        *b = (struct buf){};
}

static int open_buf(const struct buf *b, struct gguf_file **f, struct aid_error *err)
{
        *err = (struct aid_error){};
        return gguf_open_memory(b->d, b->len, f, err);
}

/* Asserts that b is refused with code and a message holding every fragment. */
static void assert_refused(const struct buf *b, int code, const char *const *fragments)
{
        struct gguf_file *f = NULL;
        struct aid_error err;
        int r;

        r = open_buf(b, &f, &err);
        cr_assert_eq(r, code, "expected %d, got %d (%s)", code, r, err.message);
        cr_assert_null(f, "ret_file must be untouched on failure");
        cr_assert_eq(err.code, r);
        for (size_t i = 0; fragments && fragments[i]; i++)
                cr_assert(strstr(err.message, fragments[i]), "message '%s' lacks '%s'", err.message,
                                fragments[i]);
}
#define REFUSED(b, code, ...) assert_refused((b), (code), (const char *const[]){ __VA_ARGS__, NULL })

/* One key/value of every type, arrays included. */
static uint64_t all_types_kvs(struct buf *kv)
{
        kv_str(kv, "general.architecture", "llama");
        kv_head(kv, "t.u8", GGUF_TYPE_UINT8);
        put_u8(kv, 200);
        kv_head(kv, "t.i8", GGUF_TYPE_INT8);
        put_u8(kv, (uint8_t)-100);
        kv_head(kv, "t.u16", GGUF_TYPE_UINT16);
        put_u16(kv, 60000);
        kv_head(kv, "t.i16", GGUF_TYPE_INT16);
        put_u16(kv, (uint16_t)-30000);
        kv_u32(kv, "t.u32", 4000000000u);
        kv_head(kv, "t.i32", GGUF_TYPE_INT32);
        put_u32(kv, (uint32_t)-2000000000);
        kv_head(kv, "t.f32", GGUF_TYPE_FLOAT32);
        put_f32(kv, 1.5f);
        kv_head(kv, "t.bool", GGUF_TYPE_BOOL);
        put_u8(kv, 1);
        kv_head(kv, "t.u64", GGUF_TYPE_UINT64);
        put_u64(kv, UINT64_MAX - 1);
        kv_head(kv, "t.i64", GGUF_TYPE_INT64);
        put_u64(kv, (uint64_t)INT64_MIN);
        kv_head(kv, "t.f64", GGUF_TYPE_FLOAT64);
        put_f64(kv, -2.25);
        kv_str(kv, "t.empty_str", "");

        kv_head(kv, "t.tokens", GGUF_TYPE_ARRAY);
        put_u32(kv, GGUF_TYPE_STRING);
        put_u64(kv, 3);
        put_str(kv, "<s>");
        put_str(kv, "");
        put_str(kv, "\xe2\x96\x81the");

        kv_head(kv, "t.scores", GGUF_TYPE_ARRAY);
        put_u32(kv, GGUF_TYPE_FLOAT32);
        put_u64(kv, 2);
        put_f32(kv, -1.0f);
        put_f32(kv, 0.25f);

        kv_head(kv, "t.i16s", GGUF_TYPE_ARRAY);
        put_u32(kv, GGUF_TYPE_INT16);
        put_u64(kv, 3);
        put_u16(kv, (uint16_t)-1);
        put_u16(kv, 7);
        put_u16(kv, (uint16_t)-32768);

        kv_head(kv, "t.empty_arr", GGUF_TYPE_ARRAY);
        put_u32(kv, GGUF_TYPE_UINT64);
        put_u64(kv, 0);

        /* [[1, 2], [], [[ "x" ]]] is not expressible (one element type per array), so:
         * t.nested = [[1, 2], [3]] (arrays of INT32) and t.deep = [[["x", "yz"]]]. */
        kv_head(kv, "t.nested", GGUF_TYPE_ARRAY);
        put_u32(kv, GGUF_TYPE_ARRAY);
        put_u64(kv, 2);
        put_u32(kv, GGUF_TYPE_INT32);
        put_u64(kv, 2);
        put_u32(kv, 1);
        put_u32(kv, (uint32_t)-2);
        put_u32(kv, GGUF_TYPE_INT32);
        put_u64(kv, 1);
        put_u32(kv, 3);

        kv_head(kv, "t.deep", GGUF_TYPE_ARRAY);
        put_u32(kv, GGUF_TYPE_ARRAY);
        put_u64(kv, 1);
        put_u32(kv, GGUF_TYPE_ARRAY);
        put_u64(kv, 1);
        put_u32(kv, GGUF_TYPE_STRING);
        put_u64(kv, 2);
        put_str(kv, "x");
        put_str(kv, "yz");
        return 19;
}

static struct tinfo small_tensors[] = {
        { "token_embd.weight", 2, { 8, 4 }, GGML_TYPE_F32, AUTO_OFFSET },
        { "blk.0.attn_q.weight", 2, { 32, 2 }, GGML_TYPE_Q4_0, AUTO_OFFSET },
        { "blk.0.ffn_down.weight", 3, { 256, 1, 2 }, GGML_TYPE_Q4_K, AUTO_OFFSET },
        { "output_norm.weight", 1, { 8 }, GGML_TYPE_F16, AUTO_OFFSET },
};

static struct buf small_file(uint32_t version)
{
        struct tinfo t[4];
        struct buf kv = {}, b;
        uint64_t n;

        memcpy(t, small_tensors, sizeof(t));
        n = all_types_kvs(&kv);
        b = build(version, &kv, n, t, 4, GGUF_DEFAULT_ALIGNMENT);
        buf_free(&kv);
        return b;
}

static void check_all_types(const struct gguf_file *f)
{
        struct aid_error err = {};
        const struct gguf_value *v, *inner;
        struct gguf_str s;
        uint32_t u32;
        uint64_t u64;
        int64_t i64;
        float f32;
        bool b;

        cr_assert_eq(gguf_n_kv(f), 19);
        cr_assert_str_eq(gguf_kv_at(f, 0)->key, "general.architecture");
        cr_assert_eq(gguf_kv_at(f, 0)->file_offset, 24);
        cr_assert_eq(gguf_get_str(f, "general.architecture", &s, &err), 0);
        cr_assert(gguf_str_eq(s, "llama"));

        cr_assert_eq(gguf_find_kv(f, "t.u8")->value.u64, 200);
        cr_assert_eq(gguf_find_kv(f, "t.i8")->value.i64, -100);
        cr_assert_eq(gguf_find_kv(f, "t.u16")->value.u64, 60000);
        cr_assert_eq(gguf_find_kv(f, "t.i16")->value.i64, -30000);
        cr_assert_eq(gguf_get_u32(f, "t.u32", &u32, &err), 0);
        cr_assert_eq(u32, 4000000000u);
        cr_assert_eq(gguf_get_i64(f, "t.i32", &i64, &err), 0);
        cr_assert_eq(i64, -2000000000);
        cr_assert_eq(gguf_get_f32(f, "t.f32", &f32, &err), 0);
        cr_assert_eq(f32, 1.5f);
        cr_assert_eq(gguf_get_bool(f, "t.bool", &b, &err), 0);
        cr_assert(b);
        cr_assert_eq(gguf_get_u64(f, "t.u64", &u64, &err), 0);
        cr_assert_eq(u64, UINT64_MAX - 1);
        cr_assert_eq(gguf_get_i64(f, "t.i64", &i64, &err), 0);
        cr_assert_eq(i64, INT64_MIN);
        cr_assert_eq(gguf_find_kv(f, "t.f64")->value.type, GGUF_TYPE_FLOAT64);
        cr_assert_eq(gguf_find_kv(f, "t.f64")->value.f64, -2.25);
        cr_assert_eq(gguf_get_str(f, "t.empty_str", &s, &err), 0);
        cr_assert_eq(s.len, 0);

        cr_assert_eq(gguf_get_arr(f, "t.tokens", GGUF_TYPE_STRING, &v, &err), 0);
        cr_assert_eq(v->arr.n, 3);
        cr_assert(gguf_str_eq(gguf_arr_str(v, 0), "<s>"));
        cr_assert(gguf_str_eq(gguf_arr_str(v, 1), ""));
        cr_assert(gguf_str_eq(gguf_arr_str(v, 2), "\xe2\x96\x81the"));
        cr_assert_null(gguf_arr_str(v, 3).data);

        cr_assert_eq(gguf_get_arr(f, "t.scores", GGUF_TYPE_FLOAT32, &v, &err), 0);
        cr_assert_eq(v->arr.n, 2);
        cr_assert_eq(gguf_arr_f64(v, 0), -1.0);
        cr_assert_eq(gguf_arr_f64(v, 1), 0.25);

        cr_assert_eq(gguf_get_arr(f, "t.i16s", _GGUF_TYPE_MAX, &v, &err), 0);
        cr_assert_eq(v->arr.elem_type, GGUF_TYPE_INT16);
        cr_assert_eq(gguf_arr_i64(v, 0), -1);
        cr_assert_eq(gguf_arr_i64(v, 1), 7);
        cr_assert_eq(gguf_arr_i64(v, 2), -32768);

        cr_assert_eq(gguf_get_arr(f, "t.empty_arr", GGUF_TYPE_UINT64, &v, &err), 0);
        cr_assert_eq(v->arr.n, 0);

        cr_assert_eq(gguf_get_arr(f, "t.nested", GGUF_TYPE_ARRAY, &v, &err), 0);
        cr_assert_eq(v->arr.n, 2);
        inner = gguf_arr_arr(v, 0);
        cr_assert_eq(inner->arr.elem_type, GGUF_TYPE_INT32);
        cr_assert_eq(inner->arr.n, 2);
        cr_assert_eq(gguf_arr_i64(inner, 0), 1);
        cr_assert_eq(gguf_arr_i64(inner, 1), -2);
        inner = gguf_arr_arr(v, 1);
        cr_assert_eq(inner->arr.n, 1);
        cr_assert_eq(gguf_arr_u64(inner, 0), 3);
        cr_assert_null(gguf_arr_arr(v, 2));

        cr_assert_eq(gguf_get_arr(f, "t.deep", GGUF_TYPE_ARRAY, &v, &err), 0);
        inner = gguf_arr_arr(gguf_arr_arr(v, 0), 0);
        cr_assert_not_null(inner);
        cr_assert_eq(inner->arr.elem_type, GGUF_TYPE_STRING);
        cr_assert(gguf_str_eq(gguf_arr_str(inner, 0), "x"));
        cr_assert(gguf_str_eq(gguf_arr_str(inner, 1), "yz"));
}

static void check_small_tensors(const struct gguf_file *f, const uint8_t *base)
{
        static const uint64_t bytes[] = { 8 * 4 * 4, 2 * 18, 2 * 144, 8 * 2 };
        const struct gguf_tensor *t;

        cr_assert_eq(gguf_n_tensors(f), 4);
        cr_assert_eq(gguf_data_offset(f) % gguf_alignment(f), 0);
        for (uint64_t i = 0; i < 4; i++) {
                t = gguf_tensor_at(f, i);
                cr_assert_str_eq(t->name, small_tensors[i].name);
                cr_assert_eq(gguf_find_tensor(f, small_tensors[i].name), t);
                cr_assert_eq(t->n_dims, small_tensors[i].n_dims);
                cr_assert_eq(t->type, small_tensors[i].type);
                cr_assert_eq(t->n_bytes, bytes[i], "%s: %" PRIu64, t->name, t->n_bytes);
                cr_assert_eq(t->offset % gguf_alignment(f), 0);
                cr_assert_eq((const uint8_t *)t->data, base + gguf_data_offset(f) + t->offset);
                /* The builder fills data with the low byte of the file position. */
                cr_assert_eq(((const uint8_t *)t->data)[0], (gguf_data_offset(f) + t->offset) & 0xff);
        }
        t = gguf_find_tensor(f, "blk.0.ffn_down.weight");
        cr_assert_eq(t->ne[0], 256);
        cr_assert_eq(t->ne[1], 1);
        cr_assert_eq(t->ne[2], 2);
        cr_assert_eq(t->ne[3], 1);
        cr_assert_eq(gguf_tensor_n_elements(t), 512);
        cr_assert_null(gguf_find_tensor(f, "blk.0.ffn_up.weight"));
        cr_assert_null(gguf_tensor_at(f, 4));
}

Test(gguf, good_v3_and_v2_read_back_exactly)
{
        for (uint32_t version = 2; version <= 3; version++) {
                struct buf b = small_file(version);
                struct gguf_file *f = NULL;
                struct aid_error err;

                cr_assert_eq(open_buf(&b, &f, &err), 0, "v%u: %s", version, err.message);
                cr_assert_eq(gguf_version(f), version);
                cr_assert_eq(gguf_file_size(f), b.len);
                cr_assert_eq(gguf_alignment(f), GGUF_DEFAULT_ALIGNMENT);
                check_all_types(f);
                check_small_tensors(f, b.d);
                f = gguf_close(f);
                cr_assert_null(f);
                buf_free(&b);
        }
        cr_assert_null(gguf_close(NULL));
}

Test(gguf, key_value_only_file_without_padding)
{
        struct buf kv = {}, b;
        struct gguf_file *f = NULL;
        struct aid_error err;

        kv_str(&kv, "general.architecture", "llama");
        kv_head(&kv, "x", GGUF_TYPE_UINT8);
        put_u8(&kv, 1);
        b = build(3, &kv, 2, NULL, 0, 32);
        cr_assert_neq(b.len % 32, 0, "the test needs a file whose end is not aligned");
        cr_assert_eq(open_buf(&b, &f, &err), 0, "%s", err.message);
        cr_assert_eq(gguf_n_tensors(f), 0);
        cr_assert_leq(gguf_data_offset(f), b.len);
        gguf_close(f);
        buf_free(&kv);
        buf_free(&b);
}

Test(gguf, alignment_key_honoured)
{
        struct tinfo t[] = {
                { "a", 1, { 3 }, GGML_TYPE_F32, AUTO_OFFSET },
                { "b", 1, { 5 }, GGML_TYPE_F32, AUTO_OFFSET },
        };
        struct buf kv = {}, b;
        struct gguf_file *f = NULL;
        struct aid_error err;

        kv_u32(&kv, "general.alignment", 256);
        b = build(3, &kv, 1, t, 2, 256);
        cr_assert_eq(open_buf(&b, &f, &err), 0, "%s", err.message);
        cr_assert_eq(gguf_alignment(f), 256);
        cr_assert_eq(gguf_data_offset(f), 256);
        cr_assert_eq(gguf_find_tensor(f, "b")->offset, 256);
        cr_assert_eq((const uint8_t *)gguf_find_tensor(f, "b")->data, b.d + 512);
        gguf_close(f);
        buf_free(&b);

        /* The same offsets are misaligned for an alignment of 512. */
        t[1].offset = 256;
        buf_free(&kv);
        kv_u32(&kv, "general.alignment", 512);
        b = build(3, &kv, 1, t, 2, 512);
        REFUSED(&b, -EBADMSG, "tensor 1 ('b')", "data offset 0x100", "not a multiple of the alignment 512");
        buf_free(&b);
        buf_free(&kv);
}

Test(gguf, bad_alignment_values)
{
        static const uint32_t bad[] = { 0, 3, 48, 0x80000001u };
        struct buf kv = {}, b;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                kv_u32(&kv, "general.alignment", bad[i]);
                b = build(3, &kv, 1, NULL, 0, 32);
                REFUSED(&b, -EBADMSG, "'general.alignment'", "not a power of two");
                buf_free(&b);
                buf_free(&kv);
        }

        kv_head(&kv, "general.alignment", GGUF_TYPE_UINT64);
        put_u64(&kv, 32);
        b = build(3, &kv, 1, NULL, 0, 32);
        REFUSED(&b, -EBADMSG, "key/value 0 ('general.alignment')", "type UINT64", "expected UINT32");
        buf_free(&b);
        buf_free(&kv);
}

Test(gguf, every_truncation_fails_cleanly)
{
        struct buf b = small_file(3);
        struct gguf_file *f = NULL;
        struct aid_error err;

        for (size_t len = 0; len < b.len; len++) {
                /* An exact-size copy, so that a sanitizer build would see any over-read. */
                uint8_t *copy = malloc(len ? len : 1);
                int r;

                cr_assert_not_null(copy);
                memcpy(copy, b.d, len);
                err = (struct aid_error){};
                r = gguf_open_memory(copy, len, &f, &err);
                cr_assert_lt(r, 0, "truncated to %zu of %zu bytes but accepted", len, b.len);
                cr_assert_null(f);
                cr_assert_eq(err.code, r);
                cr_assert_neq(err.message[0], '\0', "no message at length %zu", len);
                free(copy);
        }
        buf_free(&b);
}

Test(gguf, truncated_messages_name_field_and_offset)
{
        struct buf kv = {}, b;

        kv_u32(&kv, "general.alignment", 64);
        b = build(3, &kv, 1, NULL, 0, 32);
        b.len = 0x28; /* inside the key "general.alignment" (17 bytes at 0x20) */
        REFUSED(&b, -EBADMSG,
                        "key/value 0: key length 0x11 at offset 0x18 runs past the end of the file (size "
                        "0x28)");
        b.len = 20;
        REFUSED(&b, -EBADMSG, "key/value count at offset 0x10 runs past the end");
        b.len = 0x31 + 2; /* inside the value type */
        REFUSED(&b, -EBADMSG,
                        "key/value 0 ('general.alignment'): value type at offset 0x31 runs past the end");
        b.len = 0x35 + 2; /* inside the UINT32 value */
        REFUSED(&b, -EBADMSG,
                        "key/value 0 ('general.alignment'): UINT32 at offset 0x35 runs past the end of the "
                        "file (size 0x37)");
        buf_free(&b);
        buf_free(&kv);
}

Test(gguf, wrong_magic)
{
        struct buf b = small_file(3);

        memcpy(b.d, "\x78\x56\x34\x12", 4);
        REFUSED(&b, -EBADMSG, "bad magic 0x12345678 at offset 0x0: not a GGUF file");
        b.len = 2;
        REFUSED(&b, -EBADMSG, "too small");
        buf_free(&b);
}

Test(gguf, versions_1_and_99_refused)
{
        struct buf b = small_file(3);

        b.d[4] = 1;
        REFUSED(&b, -EPROTONOSUPPORT, "version 1", "not supported");
        b.d[4] = 99;
        REFUSED(&b, -EPROTONOSUPPORT, "unsupported GGUF version 99 at offset 0x4");
        memcpy(b.d + 4, "\0\0\0\3", 4);
        REFUSED(&b, -EPROTONOSUPPORT, "big-endian");
        buf_free(&b);
}

Test(gguf, absurd_counts_fail_fast)
{
        struct buf b = small_file(3);
        uint64_t huge = UINT64_C(1) << 62;

        memcpy(b.d + 16, &huge, 8);
        REFUSED(&b, -EBADMSG, "key/value count 4611686018427387904 at offset 0x10 is impossible");
        huge = UINT64_MAX;
        memcpy(b.d + 16, &huge, 8);
        REFUSED(&b, -EBADMSG, "key/value count");

        buf_free(&b);
        b = small_file(3);
        huge = UINT64_C(1) << 62;
        memcpy(b.d + 8, &huge, 8);
        REFUSED(&b, -EBADMSG, "tensor count 4611686018427387904 at offset 0x8 is impossible");
        buf_free(&b);
}

Test(gguf, string_lengths_past_the_end)
{
        struct buf kv = {}, b;
        uint64_t len = 0xffffffff;

        /* key "tokenizer.ggml.model" (20 bytes) at 0x18: type at 0x34, string length at 0x38. */
        kv_str(&kv, "tokenizer.ggml.model", "llama");
        b = build(3, &kv, 1, NULL, 0, 32);
        memcpy(b.d + 0x38, &len, 8);
        REFUSED(&b, -EBADMSG,
                        "key/value 0 ('tokenizer.ggml.model'): string length 0xffffffff at offset 0x38 runs "
                        "past the end of the file (size 0x45)");
        memcpy(b.d + 0x18, &len, 8);
        REFUSED(&b, -EBADMSG, "key/value 0: key length 0xffffffff at offset 0x18 runs past the end");
        buf_free(&b);
        buf_free(&kv);

        /* A string inside a string array. */
        kv_head(&kv, "tokenizer.ggml.tokens", GGUF_TYPE_ARRAY);
        put_u32(&kv, GGUF_TYPE_STRING);
        put_u64(&kv, 2);
        put_str(&kv, "a");
        put_u64(&kv, UINT64_MAX);
        b = build(3, &kv, 1, NULL, 0, 32);
        REFUSED(&b, -EBADMSG, "key/value 0 ('tokenizer.ggml.tokens')",
                        "array string length 0xffffffffffffffff");
        buf_free(&b);
        buf_free(&kv);
}

Test(gguf, huge_array_counts_fail_before_allocating)
{
        static const uint32_t elem_types[] = { GGUF_TYPE_STRING, GGUF_TYPE_ARRAY, GGUF_TYPE_UINT32,
                GGUF_TYPE_UINT8 };

        for (size_t i = 0; i < sizeof(elem_types) / sizeof(elem_types[0]); i++) {
                struct buf kv = {}, b;

                kv_head(&kv, "a", GGUF_TYPE_ARRAY);
                put_u32(&kv, elem_types[i]);
                put_u64(&kv, UINT64_C(1) << 60);
                put_str(&kv, "padding so that some bytes follow");
                b = build(3, &kv, 1, NULL, 0, 32);
                REFUSED(&b, -EBADMSG, "key/value 0 ('a'): array of 1152921504606846976",
                                "does not fit in the 0x29 bytes left");
                buf_free(&b);
                buf_free(&kv);
        }
}

Test(gguf, unknown_value_types)
{
        struct buf kv = {}, b;

        kv_u32(&kv, "ok", 1);
        kv_head(&kv, "general.weird", 13);
        put_u32(&kv, 0);
        b = build(3, &kv, 2, NULL, 0, 32);
        REFUSED(&b, -EBADMSG, "key/value 1 ('general.weird'): unknown value type 13 at offset 0x");
        buf_free(&b);
        buf_free(&kv);

        kv_head(&kv, "arr", GGUF_TYPE_ARRAY);
        put_u32(&kv, 0x100);
        put_u64(&kv, 0);
        b = build(3, &kv, 1, NULL, 0, 32);
        REFUSED(&b, -EBADMSG, "key/value 0 ('arr'): unknown array element type 256 at offset 0x27");
        buf_free(&b);
        buf_free(&kv);
}

Test(gguf, bad_keys)
{
        struct buf kv = {}, b;

        kv_u32(&kv, "", 1);
        b = build(3, &kv, 1, NULL, 0, 32);
        REFUSED(&b, -EBADMSG, "key/value 0: empty key at offset 0x18");
        buf_free(&b);
        buf_free(&kv);

        put_strn(&kv, "gen\0eral", 8);
        put_u32(&kv, GGUF_TYPE_UINT8);
        put_u8(&kv, 1);
        b = build(3, &kv, 1, NULL, 0, 32);
        REFUSED(&b, -EBADMSG, "key at offset 0x18 contains a NUL byte");
        buf_free(&b);
        buf_free(&kv);

        kv_u32(&kv, "general.file_type", 1);
        kv_str(&kv, "general.name", "x");
        kv_u32(&kv, "general.file_type", 2);
        b = build(3, &kv, 3, NULL, 0, 32);
        REFUSED(&b, -EBADMSG, "key/value 2 ('general.file_type'): duplicate key",
                        "first defined by key/value 0 at offset 0x18");
        buf_free(&b);
        buf_free(&kv);
}

Test(gguf, nesting_depth_limit)
{
        for (uint32_t depth = GGUF_MAX_ARRAY_DEPTH; depth <= GGUF_MAX_ARRAY_DEPTH + 1; depth++) {
                struct buf kv = {}, b;
                struct gguf_file *f = NULL;
                struct aid_error err;
                int r;

                kv_head(&kv, "deep", GGUF_TYPE_ARRAY);
                for (uint32_t d = 1; d < depth; d++) {
                        put_u32(&kv, GGUF_TYPE_ARRAY);
                        put_u64(&kv, 1);
                }
                put_u32(&kv, GGUF_TYPE_UINT8);
                put_u64(&kv, 1);
                put_u8(&kv, 42);
                b = build(3, &kv, 1, NULL, 0, 32);
                r = open_buf(&b, &f, &err);
                if (depth <= GGUF_MAX_ARRAY_DEPTH) {
                        const struct gguf_value *v = &gguf_find_kv(f, "deep")->value;

                        cr_assert_eq(r, 0, "%s", err.message);
                        for (uint32_t d = 1; d < depth; d++)
                                v = gguf_arr_arr(v, 0);
                        cr_assert_eq(gguf_arr_u64(v, 0), 42);
                        gguf_close(f);
                } else {
                        cr_assert_eq(r, -EBADMSG);
                        cr_assert(strstr(err.message, "nested deeper than 8"), "%s", err.message);
                }
                buf_free(&b);
                buf_free(&kv);
        }
}

static void refuse_tensors(struct tinfo *t, size_t n, const char *const *fragments)
{
        struct buf b = build(3, NULL, 0, t, n, 32);

        assert_refused(&b, -EBADMSG, fragments);
        buf_free(&b);
}
#define REFUSE_TENSORS(t, ...) \
        refuse_tensors((t), sizeof(t) / sizeof((t)[0]), (const char *const[]){ __VA_ARGS__, NULL })

Test(gguf, unknown_tensor_type)
{
        struct tinfo t[] = { { "blk.0.attn_k.weight", 2, { 32, 2 }, 31, 0 } };

        REFUSE_TENSORS(t, "tensor 0 ('blk.0.attn_k.weight'): unknown tensor type 31 at offset 0x");
        t[0].type = _GGML_TYPE_MAX;
        REFUSE_TENSORS(t, "unknown tensor type 40");
}

Test(gguf, misaligned_tensor_offset)
{
        struct tinfo t[] = {
                { "a", 1, { 4 }, GGML_TYPE_F32, 0 },
                { "blk.0.ffn_up.weight", 1, { 4 }, GGML_TYPE_F32, 16 },
        };

        REFUSE_TENSORS(t, "tensor 1 ('blk.0.ffn_up.weight')", "data offset 0x10 at offset 0x",
                        "not a multiple of the alignment 32");
}

Test(gguf, overlapping_tensors)
{
        struct tinfo t[] = {
                { "first", 1, { 16 }, GGML_TYPE_F32, 0 },   /* 64 bytes */
                { "second", 1, { 8 }, GGML_TYPE_F32, 128 }, /* 32 bytes */
                { "third", 1, { 8 }, GGML_TYPE_F32, 32 },   /* inside first */
        };

        REFUSE_TENSORS(t, "tensor 'third': data range", "overlaps tensor 'first'");
        t[2].offset = 0;
        REFUSE_TENSORS(t, "overlaps tensor 'first'");
        t[2].offset = 64; /* touching is fine */
        {
                struct buf b = build(3, NULL, 0, t, 3, 32);
                struct gguf_file *f = NULL;
                struct aid_error err;

                cr_assert_eq(open_buf(&b, &f, &err), 0, "%s", err.message);
                gguf_close(f);
                buf_free(&b);
        }
}

Test(gguf, duplicate_tensor_name)
{
        struct tinfo t[] = {
                { "output.weight", 1, { 8 }, GGML_TYPE_F32, AUTO_OFFSET },
                { "token_embd.weight", 1, { 8 }, GGML_TYPE_F32, AUTO_OFFSET },
                { "output.weight", 1, { 8 }, GGML_TYPE_F32, AUTO_OFFSET },
        };

        REFUSE_TENSORS(t, "tensor 2 ('output.weight'): duplicate name, also used by tensor 0");
}

Test(gguf, bad_tensor_names)
{
        char long_name[GGUF_MAX_TENSOR_NAME + 2];
        struct tinfo t[] = { { "", 1, { 8 }, GGML_TYPE_F32, 0 } };

        REFUSE_TENSORS(t, "tensor 0: empty tensor name at offset 0x18");
        memset(long_name, 'x', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        t[0].name = long_name;
        REFUSE_TENSORS(t, "tensor name of 64 bytes", "longer than 63");
        long_name[GGUF_MAX_TENSOR_NAME] = '\0';
        {
                struct buf b = build(3, NULL, 0, t, 1, 32);
                struct gguf_file *f = NULL;
                struct aid_error err;

                cr_assert_eq(open_buf(&b, &f, &err), 0, "%s", err.message);
                gguf_close(f);
                buf_free(&b);
        }
}

Test(gguf, n_dims_0_and_5)
{
        struct tinfo t[] = { { "x", 0, { 8 }, GGML_TYPE_F32, 0 } };

        REFUSE_TENSORS(t, "tensor 0 ('x'): n_dims 0 at offset 0x21 is outside 1..4");
        t[0].n_dims = 5;
        t[0].ne[1] = t[0].ne[2] = t[0].ne[3] = 1;
        {
                /* build() writes only 4 dims; write a fifth by hand. */
                struct buf b = {};

                put_u32(&b, GGUF_MAGIC);
                put_u32(&b, 3);
                put_u64(&b, 1);
                put_u64(&b, 0);
                put_str(&b, "x");
                put_u32(&b, 5);
                for (int j = 0; j < 5; j++)
                        put_u64(&b, 1);
                put_u32(&b, GGML_TYPE_F32);
                put_u64(&b, 0);
                while (b.len % 32)
                        put_u8(&b, 0);
                put_u32(&b, 0);
                REFUSED(&b, -EBADMSG, "tensor 0 ('x'): n_dims 5 at offset 0x21 is outside 1..4");
                buf_free(&b);
        }
}

Test(gguf, bad_dimensions)
{
        struct tinfo t[] = { { "w", 2, { 8, 0 }, GGML_TYPE_F32, 0 } };

        REFUSE_TENSORS(t, "tensor 0 ('w'): dimension 1 = 0 at offset 0x2d is not >= 1");
        t[0].ne[1] = UINT64_MAX; /* -1 as ggml's int64_t */
        REFUSE_TENSORS(t, "dimension 1 = -1");
        t[0].ne[0] = UINT64_C(1) << 32;
        t[0].ne[1] = UINT64_C(1) << 32;
        REFUSE_TENSORS(t, "tensor 0 ('w'): element count overflows at dimension 1");
        t[0].ne[0] = UINT64_C(1) << 31;
        t[0].ne[1] = UINT64_C(1) << 32;
        REFUSE_TENSORS(t, "element count overflows"); /* 2^63 > INT64_MAX */
}

Test(gguf, row_not_multiple_of_block)
{
        struct tinfo t[] = { { "blk.0.attn_v.weight", 2, { 33, 2 }, GGML_TYPE_Q4_0, 0 } };

        REFUSE_TENSORS(t, "tensor 0 ('blk.0.attn_v.weight'): row of 33 elements is not a multiple of the "
                          "Q4_0 block size 32");
}

Test(gguf, tensor_data_past_the_end)
{
        struct tinfo t[] = { { "blk.3.attn_q.weight", 1, { 8 }, GGML_TYPE_F32, 0 } };
        struct buf b = build(3, NULL, 0, t, 1, 32);
        uint64_t off = 0x1000;

        /* The offset field is the last 8 bytes of the tensor info, before the padding. */
        memcpy(b.d + 24 + 8 + strlen(t[0].name) + 4 + 8 + 4, &off, 8);
        REFUSED(&b, -EBADMSG,
                        "tensor 'blk.3.attn_q.weight': data range 0x1060..0x1080 exceeds file size 0x80");
        off = UINT64_MAX - 31;
        memcpy(b.d + 24 + 8 + strlen(t[0].name) + 4 + 8 + 4, &off, 8);
        REFUSED(&b, -EBADMSG, "tensor 'blk.3.attn_q.weight': data offset 0xffffffffffffffe0", "overflows");
        buf_free(&b);
}

Test(gguf, getters)
{
        struct buf kv = {}, b;
        struct gguf_file *f = NULL;
        struct aid_error err;
        uint32_t u32 = 77;
        uint64_t u64;
        int64_t i64;
        float f32;
        bool bo;
        struct gguf_str s;
        const struct gguf_value *v;

        kv_head(&kv, "neg", GGUF_TYPE_INT32);
        put_u32(&kv, (uint32_t)-5);
        kv_head(&kv, "big", GGUF_TYPE_UINT64);
        put_u64(&kv, UINT64_C(1) << 40);
        kv_head(&kv, "small", GGUF_TYPE_INT8);
        put_u8(&kv, 9);
        kv_str(&kv, "s", "text");
        kv_head(&kv, "b", GGUF_TYPE_BOOL);
        put_u8(&kv, 2); /* llama.cpp reads any nonzero byte as true */
        kv_head(&kv, "arr", GGUF_TYPE_ARRAY);
        put_u32(&kv, GGUF_TYPE_UINT8);
        put_u64(&kv, 0);
        b = build(3, &kv, 6, NULL, 0, 32);
        cr_assert_eq(open_buf(&b, &f, &err), 0, "%s", err.message);

        cr_assert_eq(gguf_get_u32(f, "missing", &u32, &err), -ENOKEY);
        cr_assert(strstr(err.message, "'missing'"), "%s", err.message);
        cr_assert_eq(gguf_get_u32(f, "neg", &u32, &err), -EBADMSG);
        cr_assert(strstr(err.message, "-5 does not fit UINT32"), "%s", err.message);
        cr_assert_eq(gguf_get_u32(f, "big", &u32, &err), -EBADMSG);
        cr_assert_eq(u32, 77, "ret untouched on failure");
        cr_assert_eq(gguf_get_u32(f, "small", &u32, &err), 0);
        cr_assert_eq(u32, 9);
        cr_assert_eq(gguf_get_u64(f, "big", &u64, &err), 0);
        cr_assert_eq(u64, UINT64_C(1) << 40);
        cr_assert_eq(gguf_get_i64(f, "neg", &i64, &err), 0);
        cr_assert_eq(i64, -5);
        cr_assert_eq(gguf_get_u32(f, "s", &u32, &err), -EBADMSG);
        cr_assert(strstr(err.message, "key 's': expected UINT32, found STRING"), "%s", err.message);
        cr_assert_eq(gguf_get_f32(f, "small", &f32, &err), -EBADMSG);
        cr_assert_eq(gguf_get_str(f, "arr", &s, &err), -EBADMSG);
        cr_assert(strstr(err.message, "found ARRAY of UINT8"), "%s", err.message);
        cr_assert_eq(gguf_get_bool(f, "b", &bo, &err), 0);
        cr_assert(bo);
        cr_assert_eq(gguf_get_bool(f, "small", &bo, &err), -EBADMSG);
        cr_assert_eq(gguf_get_arr(f, "arr", GGUF_TYPE_STRING, &v, &err), -EBADMSG);
        cr_assert(strstr(err.message, "expected ARRAY of STRING, found ARRAY of UINT8"), "%s", err.message);
        cr_assert_eq(gguf_get_arr(f, "s", _GGUF_TYPE_MAX, &v, &err), -EBADMSG);

        cr_assert_str_eq(gguf_value_type_name(GGUF_TYPE_FLOAT64), "FLOAT64");
        cr_assert_str_eq(gguf_value_type_name(13), "unknown");
        {
                _cleanup_free_ char *c = NULL;

                cr_assert_eq(gguf_get_str(f, "s", &s, &err), 0);
                c = gguf_str_dup(s);
                cr_assert_str_eq(c, "text");
                cr_assert_not(gguf_str_eq(s, "tex"));
        }
        gguf_close(f);
        buf_free(&b);
        buf_free(&kv);
}

Test(gguf, open_file_on_disk)
{
        char path[] = "/tmp/aid-test-gguf-XXXXXX";
        struct buf b = small_file(3);
        struct gguf_file *f = NULL;
        struct aid_error err = {};
        int fd;

        fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, b.d, b.len), (ssize_t)b.len);
        close(fd);

        cr_assert_eq(gguf_open(path, &f, &err), 0, "%s", err.message);
        check_all_types(f);
        cr_assert_eq(gguf_file_size(f), b.len);
        cr_assert_eq(((const uint8_t *)gguf_tensor_at(f, 0)->data)[0], b.d[gguf_data_offset(f)]);
        gguf_close(f);

        /* A broken file names itself in the message. */
        b.d[0] = 'X';
        fd = open(path, O_WRONLY | O_TRUNC);
        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, b.d, 64), 64);
        close(fd);
        f = NULL;
        cr_assert_eq(gguf_open(path, &f, &err), -EBADMSG);
        cr_assert_null(f);
        cr_assert(strstr(err.message, path) && strstr(err.message, "bad magic"), "%s", err.message);

        fd = open(path, O_WRONLY | O_TRUNC);
        close(fd);
        cr_assert_eq(gguf_open(path, &f, &err), -EBADMSG);
        cr_assert(strstr(err.message, "too small"), "%s", err.message);

        unlink(path);
        cr_assert_eq(gguf_open(path, &f, &err), -ENOENT);
        cr_assert(strstr(err.message, path), "%s", err.message);
        cr_assert_eq(gguf_open("/tmp", &f, &err), -EISDIR);
        buf_free(&b);
}

struct prefault_seen {
        unsigned calls, stop_after;
        uint64_t last_done, total;
        bool monotonic;
};

static int prefault_progress(uint64_t done, uint64_t total, void *userdata)
{
        struct prefault_seen *s = userdata;

        s->monotonic = s->monotonic && done > s->last_done && done <= total &&
                       (s->calls == 0 || total == s->total);
        s->calls++;
        s->last_done = done;
        s->total = total;
        return s->stop_after && s->calls >= s->stop_after;
}

Test(gguf, prefault_reads_the_data_with_progress)
{
        char path[] = "/tmp/aid-test-gguf-XXXXXX";
        struct buf b = small_file(3);
        struct gguf_file *f = NULL;
        struct aid_error err = {};
        struct prefault_seen seen = { .monotonic = true };
        uint64_t size = 100u << 20;
        int fd;

        /* 100 MiB, mostly a hole after the tensors: several slices of reading. */
        fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, b.d, b.len), (ssize_t)b.len);
        cr_assert_eq(ftruncate(fd, (off_t)size), 0);
        close(fd);
        cr_assert_eq(gguf_open(path, &f, &err), 0, "%s", err.message);

        cr_assert_eq(gguf_prefault(f, prefault_progress, &seen, &err), 0, "%s", err.message);
        cr_assert_geq(seen.calls, 3, "one progress call per slice, %u calls", seen.calls);
        cr_assert(seen.monotonic, "progress went backwards or past the total");
        cr_assert_eq(seen.last_done, seen.total, "progress did not end at the total");
        cr_assert_geq(seen.total, size - gguf_data_offset(f));
        cr_assert_leq(seen.total, size);
        cr_assert_eq(((const uint8_t *)gguf_tensor_at(f, 0)->data)[0], b.d[gguf_data_offset(f)]);

        seen = (struct prefault_seen){ .monotonic = true, .stop_after = 1 };
        cr_assert_eq(gguf_prefault(f, prefault_progress, &seen, &err), -ECANCELED);
        cr_assert_eq(seen.calls, 1);
        cr_assert(strstr(err.message, "cancel"), "%s", err.message);
        gguf_close(f);
        unlink(path);

        /* A file in memory has nothing to read. */
        cr_assert_eq(gguf_open_memory(b.d, b.len, &f, &err), 0, "%s", err.message);
        seen = (struct prefault_seen){ .monotonic = true };
        cr_assert_eq(gguf_prefault(f, prefault_progress, &seen, &err), 0);
        cr_assert_eq(seen.calls, 0);
        gguf_close(f);
        buf_free(&b);
}

/* Fixtures */

static const char *fixtures_dir(void)
{
        const char *dir = getenv("AID_FIXTURES");
        struct stat st;

        if (!dir || stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                cr_skip_test("fixtures folder %s absent: set AID_FIXTURES to ../shared/fixtures",
                                dir ? dir : "(AID_FIXTURES unset)");
        return dir;
}

static struct gguf_file *open_fixture(const char *sub, const char *name)
{
        char path[4096];
        struct gguf_file *f = NULL;
        struct aid_error err = {};

        snprintf(path, sizeof(path), "%s/%s/%s", fixtures_dir(), sub, name);
        cr_assert_eq(gguf_open(path, &f, &err), 0, "%s", err.message);
        return f;
}

/* What any well-formed model or vocab file must satisfy, checked independently of the
 * parser's own checks. */
static void check_sane(const char *path, const struct gguf_file *f)
{
        struct aid_error err = {};
        struct gguf_str arch;
        uint64_t prev_end = 0;

        cr_assert_eq(gguf_version(f), 3, "%s", path);
        cr_assert_eq(gguf_get_str(f, "general.architecture", &arch, &err), 0, "%s: %s", path, err.message);
        cr_assert_gt(arch.len, 0);
        for (uint64_t i = 0; i < gguf_n_kv(f); i++)
                cr_assert_gt(strlen(gguf_kv_at(f, i)->key), 0);

        for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
                const struct gguf_tensor *t = gguf_tensor_at(f, i);
                uint64_t row = 0;

                cr_assert_not_null(ggml_type_traits_get(t->type), "%s: %s", path, t->name);
                cr_assert_eq(ggml_row_bytes(t->type, t->ne[0], &row), 0);
                cr_assert_eq(t->n_bytes, row * (gguf_tensor_n_elements(t) / t->ne[0]), "%s: %s", path,
                                t->name);
                /* llama.cpp writes tensors in order, each at the previous end rounded up. */
                cr_assert_geq(t->offset, prev_end, "%s: %s", path, t->name);
                prev_end = t->offset + t->n_bytes;
                cr_assert_leq(gguf_data_offset(f) + prev_end, gguf_file_size(f));
        }
}

static void for_each_gguf(const char *sub, size_t *ret_count)
{
        char dir[4096];
        struct dirent *de;
        DIR *d;
        size_t n = 0;

        snprintf(dir, sizeof(dir), "%s/%s", fixtures_dir(), sub);
        d = opendir(dir);
        cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                struct gguf_file *f;

                if (len < 5 || strcmp(de->d_name + len - 5, ".gguf") != 0)
                        continue;
                f = open_fixture(sub, de->d_name);
                check_sane(de->d_name, f);
                if (strcmp(sub, "vocab") == 0) {
                        const struct gguf_value *tokens;
                        struct aid_error err = {};

                        cr_assert_eq(gguf_n_tensors(f), 0, "%s", de->d_name);
                        cr_assert_eq(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens,
                                                     &err),
                                        0, "%s: %s", de->d_name, err.message);
                        cr_assert_geq(tokens->arr.n, 512);
                } else {
                        cr_assert_gt(gguf_n_tensors(f), 0, "%s", de->d_name);
                }
                gguf_close(f);
                n++;
        }
        closedir(d);
        *ret_count = n;
}

Test(gguf_fixtures, every_model_opens)
{
        size_t n = 0;

        for_each_gguf("models", &n);
        cr_assert_geq(n, 19, "expected the 19 model files of fixtures/README.md, found %zu", n);
}

Test(gguf_fixtures, every_vocab_opens)
{
        size_t n = 0;

        for_each_gguf("vocab", &n);
        cr_assert_eq(n, 7, "expected 7 vocab files, found %zu", n);
}

Test(gguf_fixtures, vocab_token_counts)
{
        static const struct {
                const char *file;
                uint64_t n_tokens;
        } vocabs[] = {
                { "ggml-vocab-llama-spm.gguf", 32000 },
                { "ggml-vocab-phi-3.gguf", 32064 },
                { "ggml-vocab-gpt-2.gguf", 50257 },
                { "ggml-vocab-deepseek-llm.gguf", 102400 },
                { "ggml-vocab-falcon.gguf", 65024 },
                { "ggml-vocab-bert-bge.gguf", 30522 },
                { "ggml-vocab-v512-spm.gguf", 512 },
        };

        for (size_t i = 0; i < sizeof(vocabs) / sizeof(vocabs[0]); i++) {
                struct gguf_file *f = open_fixture("vocab", vocabs[i].file);
                const struct gguf_value *tokens;
                struct aid_error err = {};

                cr_assert_eq(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, &err), 0);
                cr_assert_eq(tokens->arr.n, vocabs[i].n_tokens, "%s: %" PRIu64, vocabs[i].file,
                                tokens->arr.n);
                gguf_close(f);
        }
}

Test(gguf_fixtures, tiny_llama_f32)
{
        struct gguf_file *f = open_fixture("models", "tiny-llama-v512-F32.gguf");
        const struct gguf_tensor *t;
        const struct gguf_value *tokens;
        struct aid_error err = {};
        struct gguf_str s;
        uint32_t n_embd = 0;

        cr_assert_eq(gguf_get_str(f, "general.architecture", &s, &err), 0);
        cr_assert(gguf_str_eq(s, "llama"));
        cr_assert_eq(gguf_get_u32(f, "llama.embedding_length", &n_embd, &err), 0, "%s", err.message);
        cr_assert_eq(n_embd, 256);
        cr_assert_eq(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, &err), 0);
        cr_assert_eq(tokens->arr.n, 512);
        t = gguf_find_tensor(f, "token_embd.weight");
        cr_assert_not_null(t);
        cr_assert_eq(t->n_dims, 2);
        cr_assert_eq(t->ne[0], 256);
        cr_assert_eq(t->ne[1], 512);
        cr_assert_eq(t->type, GGML_TYPE_F32);
        cr_assert_eq(t->n_bytes, 256 * 512 * 4);
        gguf_close(f);
}

Test(gguf_fixtures, tiny_llama_q4_k_m_mixes_types)
{
        struct gguf_file *f = open_fixture("models", "tiny-llama-v512-Q4_K_M.gguf");
        bool q4k = false, q6k = false;

        for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
                q4k |= gguf_tensor_at(f, i)->type == GGML_TYPE_Q4_K;
                q6k |= gguf_tensor_at(f, i)->type == GGML_TYPE_Q6_K;
        }
        cr_assert(q4k && q6k, "Q4_K: %d, Q6_K: %d", q4k, q6k);
        gguf_close(f);
}
