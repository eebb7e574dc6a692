/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ggml-type.h"
#include "whisper-file.h"

/* ---- a small valid file, built here so that every broken variant is one edit away ---- */

struct buf {
        uint8_t *data;
        size_t size, allocated;
};

static void put(struct buf *b, const void *p, size_t n)
{
        if (b->size + n > b->allocated) {
                b->allocated = (b->size + n) * 2;
                b->data = realloc(b->data, b->allocated);
                cr_assert_not_null(b->data);
        }
        memcpy(b->data + b->size, p, n);
        b->size += n;
}

static void put_u32(struct buf *b, uint32_t v)
{
        uint8_t le[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };

        put(b, le, 4);
}

static void patch_u32(struct buf *b, size_t off, uint32_t v)
{
        uint8_t le[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };

        cr_assert_leq(off + 4, b->size);
        memcpy(b->data + off, le, 4);
}

/* Where the interesting fields of the small file are. */
struct layout {
        size_t hparams;   /* n_vocab */
        size_t filters;   /* n_mel */
        size_t vocab;     /* count */
        size_t token[3];  /* each token's length */
        size_t tensor[3]; /* each tensor's n_dims */
        size_t tensor_data[3];
        size_t end_of_vocab;
};

static const char *const small_tokens[] = { "!", "hello", "\xe2\x82\xac" };

static const struct {
        const char *name;
        uint32_t type;
        uint32_t n_dims;
        int32_t ne[3];
        size_t n_bytes;
} small_tensors[] = {
        /* Names of equal length, so that a one-byte edit makes a duplicate. */
        { "encoder.conv1.bias", GGML_TYPE_F32, 2, { 1, 8, 1 }, 8 * 4 },
        { "encoder.conv2.bias", GGML_TYPE_F16, 3, { 8, 2, 2 }, 32 * 2 },
        { "decoder.q8.weights", GGML_TYPE_Q8_0, 2, { 32, 2, 1 }, 2 * 34 },
};

static void build_small(struct buf *b, struct layout *l)
{
        /* n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer, n_text_ctx,
         * n_text_state, n_text_head, n_text_layer, n_mels, ftype */
        const int32_t hp[11] = { 8, 4, 8, 2, 4, 6, 8, 2, 1, 2, 1 };

        *b = (struct buf){ 0 };
        put_u32(b, WHISPER_FILE_MAGIC);
        l->hparams = b->size;
        for (size_t i = 0; i < 11; i++)
                put_u32(b, (uint32_t)hp[i]);

        l->filters = b->size;
        put_u32(b, 2);
        put_u32(b, 3);
        for (int i = 0; i < 6; i++) {
                float v = 0.125f * (float)i;
                put(b, &v, 4);
        }

        l->vocab = b->size;
        put_u32(b, 3);
        for (size_t i = 0; i < 3; i++) {
                l->token[i] = b->size;
                put_u32(b, (uint32_t)strlen(small_tokens[i]));
                put(b, small_tokens[i], strlen(small_tokens[i]));
        }
        l->end_of_vocab = b->size;

        for (size_t i = 0; i < 3; i++) {
                size_t name_len = strlen(small_tensors[i].name);

                l->tensor[i] = b->size;
                put_u32(b, small_tensors[i].n_dims);
                put_u32(b, (uint32_t)name_len);
                put_u32(b, small_tensors[i].type);
                for (uint32_t d = 0; d < small_tensors[i].n_dims; d++)
                        put_u32(b, (uint32_t)small_tensors[i].ne[d]);
                put(b, small_tensors[i].name, name_len);
                l->tensor_data[i] = b->size;
                for (size_t k = 0; k < small_tensors[i].n_bytes; k++) {
                        uint8_t byte = (uint8_t)(i * 16 + k);
                        put(b, &byte, 1);
                }
        }
}

/* Opens an exact-size heap copy, so that a read past the end is a sanitizer error. */
static int open_copy(const uint8_t *data, size_t size, struct whisper_file **ret, struct aid_error *err)
{
        void *copy = malloc(size ? size : 1);
        struct whisper_file *f = NULL;
        int r;

        cr_assert_not_null(copy);
        memcpy(copy, data, size);
        r = whisper_file_open_memory(copy, size, &f, err);
        if (r >= 0) {
                /* Touch everything the file hands out while the copy is still alive. */
                for (uint64_t i = 0; i < whisper_file_n_tensors(f); i++) {
                        const struct whisper_tensor *t = whisper_file_tensor_at(f, i);
                        volatile uint8_t first = ((const uint8_t *)t->data)[0];
                        volatile uint8_t last = ((const uint8_t *)t->data)[t->n_bytes - 1];
                        (void)first;
                        (void)last;
                }
                whisper_file_close(f);
                *ret = NULL;
        }
        free(copy);
        return r;
}

static void expect_error(struct buf *b, int code, const char *fragment)
{
        struct aid_error err = { 0 };
        struct whisper_file *f = (struct whisper_file *)0x1;
        int r;

        r = open_copy(b->data, b->size, &f, &err);
        cr_assert_eq(r, code, "expected %d (%s), got %d: %s", code, fragment, r, err.message);
        cr_assert_eq(err.code, code);
        cr_assert_not_null(strstr(err.message, fragment), "message '%s' lacks '%s'", err.message, fragment);
        cr_assert_eq(f, (struct whisper_file *)0x1, "ret_file must be untouched on failure");
}

Test(whisper_file, small_file_reads_back)
{
        struct aid_error err = { 0 };
        struct whisper_file *f = NULL;
        struct layout l;
        struct buf b;
        uint32_t n_mel, n_fft, len;
        const float *filters;

        build_small(&b, &l);
        cr_assert_eq(whisper_file_open_memory(b.data, b.size, &f, &err), 0, "%s", err.message);

        cr_assert_eq(whisper_file_size(f), b.size);
        cr_assert_eq(whisper_file_hparams(f)->n_text_ctx, 6);
        cr_assert_eq(whisper_file_hparams(f)->n_audio_layer, 4);
        cr_assert_str_eq(whisper_file_model_type(f), "tiny");
        cr_assert_str_eq(whisper_file_ftype_name(f), "F16");
        cr_assert_eq(whisper_file_weight_type(f), GGML_TYPE_F16);

        filters = whisper_file_mel_filters(f, &n_mel, &n_fft);
        cr_assert_eq(n_mel, 2);
        cr_assert_eq(n_fft, 3);
        cr_assert_float_eq(filters[5], 0.625f, 0);

        cr_assert_eq(whisper_file_n_tokens(f), 3);
        for (uint32_t i = 0; i < 3; i++) {
                const char *s = whisper_file_token(f, i, &len);
                cr_assert_eq(len, strlen(small_tokens[i]));
                cr_assert_eq(memcmp(s, small_tokens[i], len), 0);
        }
        cr_assert_null(whisper_file_token(f, 3, &len));

        cr_assert_eq(whisper_file_n_tensors(f), 3);
        for (uint64_t i = 0; i < 3; i++) {
                const struct whisper_tensor *t = whisper_file_tensor_at(f, i);

                cr_assert_str_eq(t->name, small_tensors[i].name);
                cr_assert_eq(t->type, small_tensors[i].type);
                cr_assert_eq(t->n_dims, small_tensors[i].n_dims);
                for (int d = 0; d < 3; d++)
                        cr_assert_eq(t->ne[d], small_tensors[i].ne[d], "tensor %s ne[%d]", t->name, d);
                cr_assert_eq(t->n_bytes, small_tensors[i].n_bytes);
                cr_assert_eq(t->file_offset, l.tensor_data[i]);
                cr_assert_eq((const uint8_t *)t->data, b.data + l.tensor_data[i]);
                cr_assert_eq(whisper_file_find_tensor(f, small_tensors[i].name), t);
        }
        cr_assert_null(whisper_file_tensor_at(f, 3));
        cr_assert_null(whisper_file_find_tensor(f, "encoder.conv3.bias"));

        whisper_file_close(f);
        free(b.data);
}

/* The same file through the mmap path. With AID_FUZZ_SEED_DIR set, the file is also left
 * there as a seed for tests/fuzz/fuzz-whisper-file. */
Test(whisper_file, small_file_from_disk)
{
        char path[] = "/tmp/test-whisper-file-XXXXXX";
        const char *seed_dir = getenv("AID_FUZZ_SEED_DIR");
        struct aid_error err = { 0 };
        struct whisper_file *f = NULL;
        struct layout l;
        struct buf b;
        int fd;

        build_small(&b, &l);
        fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, b.data, b.size), (ssize_t)b.size);
        close(fd);
        cr_assert_eq(whisper_file_open(path, &f, &err), 0, "%s", err.message);
        cr_assert_eq(whisper_file_n_tensors(f), 3);
        cr_assert_eq(memcmp(whisper_file_find_tensor(f, "decoder.q8.weights")->data,
                                     b.data + l.tensor_data[2], 68),
                        0);
        whisper_file_close(f);

        /* A defect far into the file is reported with the path in front. */
        patch_u32(&b, l.tensor[2] + 8, 4);
        fd = open(path, O_WRONLY | O_TRUNC);
        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, b.data, b.size), (ssize_t)b.size);
        close(fd);
        cr_assert_eq(whisper_file_open(path, &f, &err), -EBADMSG);
        cr_assert_eq(strncmp(err.message, path, strlen(path)), 0, "%s", err.message);
        cr_assert_not_null(
                        strstr(err.message, ": tensor 'decoder.q8.weights' at offset"), "%s", err.message);
        unlink(path);

        if (seed_dir) {
                char seed[4096];
                FILE *fp;

                patch_u32(&b, l.tensor[2] + 8, GGML_TYPE_Q8_0);
                snprintf(seed, sizeof(seed), "%s/small-whisper.bin", seed_dir);
                fp = fopen(seed, "w");
                cr_assert_not_null(fp, "%s", seed);
                cr_assert_eq(fwrite(b.data, 1, b.size, fp), b.size);
                fclose(fp);
        }
        free(b.data);
}

Test(whisper_file, close_accepts_null)
{
        cr_assert_null(whisper_file_close(NULL));
}

/* The directory runs "until the end of the file", so a cut exactly between tensors leaves a
 * shorter valid file: those cuts must succeed, every other cut must fail with a message. */
Test(whisper_file, truncation_at_every_byte)
{
        struct layout l;
        struct buf b;

        build_small(&b, &l);
        for (size_t n = 0; n < b.size; n++) {
                struct aid_error err = { 0 };
                struct whisper_file *f = NULL;
                bool boundary = n == l.end_of_vocab || n == l.tensor[1] || n == l.tensor[2];
                int r;

                r = open_copy(b.data, n, &f, &err);
                if (boundary) {
                        cr_assert_eq(r, 0, "cut at %zu between tensors: %s", n, err.message);
                        continue;
                }
                cr_assert_lt(r, 0, "cut at %zu of %zu was accepted", n, b.size);
                cr_assert_eq(err.code, r);
                cr_assert_neq(err.message[0], '\0', "cut at %zu: no message", n);
                if (n == 0)
                        cr_assert_not_null(strstr(err.message, "empty"), "%s", err.message);
                else
                        cr_assert_not_null(strstr(err.message, "runs past the end of the file"),
                                        "cut at %zu: %s", n, err.message);
        }
        free(b.data);
}

Test(whisper_file, truncated_tensor_names_the_tensor_and_sizes)
{
        struct layout l;
        struct buf b;
        char expect[256];

        build_small(&b, &l);
        b.size -= 1;
        snprintf(expect, sizeof(expect),
                        "tensor 'decoder.q8.weights' at offset 0x%zx: data size 0x44 runs past the end of "
                        "the "
                        "file (size 0x%zx)",
                        l.tensor[2], b.size);
        expect_error(&b, -EBADMSG, expect);
        free(b.data);
}

Test(whisper_file, bad_magic)
{
        struct layout l;
        struct buf b;

        build_small(&b, &l);
        memcpy(b.data, "GGUF", 4);
        expect_error(&b, -EMEDIUMTYPE, "magic 0x46554747 at offset 0x0, expected 0x67676d6c");
        free(b.data);
}

Test(whisper_file, hparams_out_of_range)
{
        static const struct {
                int field;
                int32_t value;
                const char *message;
        } cases[] = {
                { 3, 0, "hparams: n_audio_head 0 at offset 0x10 must be positive" },
                { 0, -5, "hparams: n_vocab -5 at offset 0x4 must be positive" },
                { 0, (1 << 20) + 1, "hparams: n_vocab 1048577 at offset 0x4 exceeds the limit 1048576" },
                { 5, 1 << 17, "hparams: n_text_ctx 131072 at offset 0x18 exceeds the limit 65536" },
                { 4, 257, "hparams: n_audio_layer 257 at offset 0x14 exceeds the limit 256" },
                { 9, 513, "hparams: n_mels 513 at offset 0x28 exceeds the limit 512" },
                { 3, 3, "hparams: n_audio_head 3 at offset 0x10 does not divide n_audio_state 8" },
                { 7, 5, "hparams: n_text_head 5 at offset 0x20 does not divide n_text_state 8" },
                { 10, 5, "hparams: ftype 5 at offset 0x2c is not a file type whisper.cpp writes" },
                { 10, 3009, "hparams: ftype 3009 at offset 0x2c" },
                { 10, -1, "hparams: ftype -1 at offset 0x2c" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct layout l;
                struct buf b;

                build_small(&b, &l);
                patch_u32(&b, l.hparams + 4 * (size_t)cases[i].field, (uint32_t)cases[i].value);
                expect_error(&b, -EBADMSG, cases[i].message);
                free(b.data);
        }
}

Test(whisper_file, quantized_ftype_with_version)
{
        struct aid_error err = { 0 };
        struct whisper_file *f = NULL;
        struct layout l;
        struct buf b;

        build_small(&b, &l);
        patch_u32(&b, l.hparams + 40, 2009); /* Q5_1, quantization version 2 */
        cr_assert_eq(whisper_file_open_memory(b.data, b.size, &f, &err), 0, "%s", err.message);
        cr_assert_str_eq(whisper_file_ftype_name(f), "Q5_1");
        cr_assert_eq(whisper_file_weight_type(f), GGML_TYPE_Q5_1);
        whisper_file_close(f);
        free(b.data);
}

Test(whisper_file, n_mel_mismatch)
{
        struct layout l;
        struct buf b;

        build_small(&b, &l);
        patch_u32(&b, l.filters, 3);
        expect_error(&b, -EBADMSG, "mel filters: n_mel 3 at offset 0x30 does not match hparams n_mels 2");
        free(b.data);
}

Test(whisper_file, absurd_vocab_count)
{
        struct layout l;
        struct buf b;
        char expect[128];

        build_small(&b, &l);
        patch_u32(&b, l.vocab, 0x7fffffff);
        snprintf(expect, sizeof(expect),
                        "vocabulary: count 2147483647 at offset 0x%zx must be 0..n_vocab (8)", l.vocab);
        expect_error(&b, -EBADMSG, expect);

        /* Within n_vocab, but more entries than bytes left. */
        patch_u32(&b, l.hparams, 1 << 20);
        patch_u32(&b, l.vocab, 1 << 20);
        expect_error(&b, -EBADMSG, "1048576 entries of at least 4 bytes runs past the end of the file");

        patch_u32(&b, l.vocab, (uint32_t)-1);
        expect_error(&b, -EBADMSG, "vocabulary: count -1");
        free(b.data);
}

Test(whisper_file, token_length_past_the_end)
{
        struct layout l;
        struct buf b;
        char expect[160];

        build_small(&b, &l);
        patch_u32(&b, l.token[1], 0xfffffff0u);
        snprintf(expect, sizeof(expect),
                        "vocabulary: token 1 at offset 0x%zx: length 0xfffffff0 runs past the end of the "
                        "file",
                        l.token[1]);
        expect_error(&b, -EBADMSG, expect);
        free(b.data);
}

Test(whisper_file, tensor_data_past_the_end)
{
        struct layout l;
        struct buf b;
        char expect[200];

        build_small(&b, &l);
        patch_u32(&b, l.tensor[1] + 12 + 4, 1000); /* ne[1] of the F16 tensor: 8 x 1000 x 2 */
        snprintf(expect, sizeof(expect),
                        "tensor 'encoder.conv2.bias' at offset 0x%zx: data size 0x7d00 runs past the end of "
                        "the "
                        "file (size 0x%zx)",
                        l.tensor[1], b.size);
        expect_error(&b, -EBADMSG, expect);

        /* 2^31-1 in every dimension: the element count does not fit in 64 bits. */
        for (int d = 0; d < 3; d++)
                patch_u32(&b, l.tensor[1] + 12 + 4 * (size_t)d, 0x7fffffff);
        expect_error(&b, -EBADMSG, "tensor 'encoder.conv2.bias'");
        free(b.data);
}

Test(whisper_file, unknown_tensor_type)
{
        static const uint32_t types[] = { 4, 12, 39, 1000, 0xffffffffu };

        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
                struct layout l;
                struct buf b;
                char expect[160];

                build_small(&b, &l);
                patch_u32(&b, l.tensor[1] + 8, types[i]);
                snprintf(expect, sizeof(expect), "tensor 'encoder.conv2.bias' at offset 0x%zx: type %d",
                                l.tensor[1], (int32_t)types[i]);
                expect_error(&b, -EBADMSG, expect);
                free(b.data);
        }
}

Test(whisper_file, n_dims_out_of_range)
{
        static const uint32_t dims[] = { 0, 4, 0xffffffffu };

        for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++) {
                struct layout l;
                struct buf b;
                char expect[128];

                build_small(&b, &l);
                patch_u32(&b, l.tensor[0], dims[i]);
                snprintf(expect, sizeof(expect), "tensor #0 at offset 0x%zx: n_dims %d must be 1..3",
                                l.tensor[0], (int32_t)dims[i]);
                expect_error(&b, -EBADMSG, expect);
                free(b.data);
        }
}

Test(whisper_file, bad_names_and_dimensions)
{
        struct layout l;
        struct buf b;

        build_small(&b, &l);
        patch_u32(&b, l.tensor[2] + 4, 0);
        expect_error(&b, -EBADMSG, "tensor #2 at offset");
        expect_error(&b, -EBADMSG, "name length 0 must be 1..255");
        patch_u32(&b, l.tensor[2] + 4, 256);
        expect_error(&b, -EBADMSG, "name length 256 must be 1..255");
        free(b.data);

        build_small(&b, &l);
        b.data[l.tensor_data[0] - 3] = '\0';
        expect_error(&b, -EBADMSG, "tensor #0 at offset 0x");
        expect_error(&b, -EBADMSG, "name contains a NUL byte");
        free(b.data);

        build_small(&b, &l);
        patch_u32(&b, l.tensor[0] + 12, 0); /* ne[0] */
        expect_error(&b, -EBADMSG, "tensor 'encoder.conv1.bias'");
        expect_error(&b, -EBADMSG, "ne[0] 0 at offset");
        free(b.data);

        build_small(&b, &l);
        patch_u32(&b, l.tensor[2] + 12, 48); /* Q8_0 rows are whole 32-element blocks */
        expect_error(&b, -EBADMSG, "ne[0] 48 is not a multiple of the Q8_0 block size 32");
        free(b.data);
}

Test(whisper_file, duplicate_tensor_name)
{
        struct layout l;
        struct buf b;
        char expect[200];

        build_small(&b, &l);
        /* "encoder.conv2.bias" -> "encoder.conv1.bias" */
        b.data[l.tensor_data[1] - strlen(".bias") - 1] = '1';
        snprintf(expect, sizeof(expect),
                        "tensor 'encoder.conv1.bias' at offset 0x%zx: duplicate name (tensor #0 has it, "
                        "data at "
                        "offset 0x%zx)",
                        l.tensor[1], l.tensor_data[0]);
        expect_error(&b, -EBADMSG, expect);
        free(b.data);
}

Test(whisper_file, many_tensors_are_indexed)
{
        struct aid_error err = { 0 };
        struct whisper_file *f = NULL;
        struct layout l;
        struct buf b;
        char name[32];

        build_small(&b, &l);
        b.size = l.end_of_vocab;
        for (int i = 0; i < 1000; i++) {
                float v = (float)i;

                snprintf(name, sizeof(name), "t.%04d", i);
                put_u32(&b, 1);
                put_u32(&b, (uint32_t)strlen(name));
                put_u32(&b, GGML_TYPE_F32);
                put_u32(&b, 1);
                put(&b, name, strlen(name));
                put(&b, &v, 4);
        }
        cr_assert_eq(whisper_file_open_memory(b.data, b.size, &f, &err), 0, "%s", err.message);
        cr_assert_eq(whisper_file_n_tensors(f), 1000);
        for (int i = 0; i < 1000; i++) {
                const struct whisper_tensor *t;
                float v;

                snprintf(name, sizeof(name), "t.%04d", i);
                t = whisper_file_find_tensor(f, name);
                cr_assert_not_null(t, "%s", name);
                memcpy(&v, t->data, 4);
                cr_assert_float_eq(v, (float)i, 0);
        }
        whisper_file_close(f);

        /* The same name at the far end of a long directory is still a duplicate. */
        snprintf(name, sizeof(name), "t.%04d", 17);
        put_u32(&b, 1);
        put_u32(&b, (uint32_t)strlen(name));
        put_u32(&b, GGML_TYPE_F32);
        put_u32(&b, 1);
        put(&b, name, strlen(name));
        put(&b, "abcd", 4);
        expect_error(&b, -EBADMSG, "tensor 't.0017' at offset");
        expect_error(&b, -EBADMSG, "duplicate name (tensor #17 has it");
        free(b.data);
}

Test(whisper_file, open_errors_name_the_path)
{
        char dir[] = "/tmp/test-whisper-file-XXXXXX";
        _cleanup_free_ char *path = NULL;
        struct aid_error err = { 0 };
        struct whisper_file *f = NULL;
        FILE *fp;

        cr_assert_eq(whisper_file_open("/nonexistent/ggml-tiny.bin", &f, &err), -ENOENT);
        cr_assert_not_null(strstr(err.message, "/nonexistent/ggml-tiny.bin"), "%s", err.message);

        cr_assert_not_null(mkdtemp(dir));
        cr_assert_lt(whisper_file_open(dir, &f, &err), 0);
        cr_assert_not_null(strstr(err.message, "not a regular file"), "%s", err.message);

        cr_assert_gt(asprintf(&path, "%s/empty.bin", dir), 0);
        fp = fopen(path, "w");
        cr_assert_not_null(fp);
        fclose(fp);
        cr_assert_eq(whisper_file_open(path, &f, &err), -EBADMSG);
        cr_assert_not_null(strstr(err.message, path), "%s", err.message);
        cr_assert_not_null(strstr(err.message, "the file is empty"), "%s", err.message);
        cr_assert_null(f);

        unlink(path);
        rmdir(dir);
}

/* ---- the real fixture (fixtures README, whisper/) ---- */

static char *fixture_path(const char *name)
{
        const char *dir = getenv("AID_FIXTURES");
        struct stat st;
        char *p;

        if (!dir || stat(dir, &st) < 0)
                cr_skip_test("fixtures folder %s absent: set AID_FIXTURES to ../shared/fixtures",
                                dir ? dir : "(unset)");
        cr_assert_gt(asprintf(&p, "%s/whisper/%s", dir, name), 0);
        return p;
}

static void expect_tensor(struct whisper_file *f, const char *name, uint32_t type, uint32_t n_dims,
                int32_t ne0, int32_t ne1, int32_t ne2)
{
        const struct whisper_tensor *t = whisper_file_find_tensor(f, name);
        size_t elem = type == GGML_TYPE_F32 ? 4 : 2;

        cr_assert_not_null(t, "tensor %s missing", name);
        cr_assert_eq(t->type, type, "%s: type %u", name, t->type);
        cr_assert_eq(t->n_dims, n_dims, "%s: n_dims %u", name, t->n_dims);
        cr_assert_eq(t->ne[0], ne0, "%s: ne[0] %d", name, t->ne[0]);
        cr_assert_eq(t->ne[1], ne1, "%s: ne[1] %d", name, t->ne[1]);
        cr_assert_eq(t->ne[2], ne2, "%s: ne[2] %d", name, t->ne[2]);
        cr_assert_eq(t->n_bytes, (uint64_t)ne0 * ne1 * ne2 * elem, "%s: %lu bytes", name, t->n_bytes);
}

static const char *block(const char *side, int layer, const char *part, const char *suffix)
{
        static char name[96];

        snprintf(name, sizeof(name), "%s.blocks.%d.%s%s", side, layer, part, suffix);
        return name;
}

Test(whisper_file, fixture_d64_random_f16)
{
        _cleanup_free_ char *path = fixture_path("whisper-d64-random-f16.bin");
        struct aid_error err = { 0 };
        struct whisper_file *f = NULL;
        const struct whisper_hparams *hp;
        const float *filters;
        uint32_t n_mel, n_fft, len;
        const char *tok;
        uint64_t end;
        struct stat st;

        cr_assert_eq(stat(path, &st), 0);
        cr_assert_eq(whisper_file_open(path, &f, &err), 0, "%s", err.message);
        cr_assert_eq(whisper_file_size(f), (uint64_t)st.st_size);

        hp = whisper_file_hparams(f);
        cr_assert_eq(hp->n_vocab, 51864);
        cr_assert_eq(hp->n_audio_ctx, 1500);
        cr_assert_eq(hp->n_audio_state, 64);
        cr_assert_eq(hp->n_audio_head, 2);
        cr_assert_eq(hp->n_audio_layer, 2);
        cr_assert_eq(hp->n_text_ctx, 448);
        cr_assert_eq(hp->n_text_state, 64);
        cr_assert_eq(hp->n_text_head, 2);
        cr_assert_eq(hp->n_text_layer, 2);
        cr_assert_eq(hp->n_mels, 80);
        cr_assert_eq(hp->ftype, 1);
        cr_assert_str_eq(whisper_file_model_type(f), "unknown");
        cr_assert_str_eq(whisper_file_ftype_name(f), "F16");

        /* The real tiny.en filter bank: Slaney-normalised triangles, small and non-negative. */
        filters = whisper_file_mel_filters(f, &n_mel, &n_fft);
        cr_assert_eq(n_mel, 80);
        cr_assert_eq(n_fft, 201);
        for (uint32_t i = 0; i < n_mel * n_fft; i++)
                cr_assert(isfinite(filters[i]) && filters[i] >= 0.0f && filters[i] < 0.05f, "filter %u: %g",
                                i, filters[i]);

        cr_assert_eq(whisper_file_n_tokens(f), 50257);
        tok = whisper_file_token(f, 0, &len);
        cr_assert(len == 1 && tok[0] == '!');
        tok = whisper_file_token(f, 220, &len);
        cr_assert(len == 1 && tok[0] == ' ');
        tok = whisper_file_token(f, 50256, &len);
        cr_assert(len == 13 && memcmp(tok, "<|endoftext|>", 13) == 0);

        cr_assert_eq(whisper_file_n_tensors(f), 89);
        cr_assert_str_eq(whisper_file_tensor_at(f, 0)->name, "encoder.positional_embedding");
        /* Header, filters and vocabulary take 586836 bytes; then n_dims, name length, type,
         * two ne and the 28-byte name. */
        cr_assert_eq(whisper_file_tensor_at(f, 0)->file_offset, 586836 + 12 + 8 + 28);
        cr_assert_str_eq(whisper_file_tensor_at(f, 88)->name, "decoder.ln.bias");
        end = whisper_file_tensor_at(f, 88)->file_offset + whisper_file_tensor_at(f, 88)->n_bytes;
        cr_assert_eq(end, (uint64_t)st.st_size);

        expect_tensor(f, "encoder.positional_embedding", GGML_TYPE_F32, 2, 64, 1500, 1);
        expect_tensor(f, "encoder.conv1.weight", GGML_TYPE_F16, 3, 3, 80, 64);
        expect_tensor(f, "encoder.conv1.bias", GGML_TYPE_F32, 2, 1, 64, 1);
        expect_tensor(f, "encoder.conv2.weight", GGML_TYPE_F16, 3, 3, 64, 64);
        expect_tensor(f, "encoder.conv2.bias", GGML_TYPE_F32, 2, 1, 64, 1);
        expect_tensor(f, "encoder.ln_post.weight", GGML_TYPE_F32, 1, 64, 1, 1);
        expect_tensor(f, "decoder.positional_embedding", GGML_TYPE_F32, 2, 64, 448, 1);
        expect_tensor(f, "decoder.token_embedding.weight", GGML_TYPE_F16, 2, 64, 51864, 1);
        expect_tensor(f, "decoder.ln.weight", GGML_TYPE_F32, 1, 64, 1, 1);
        expect_tensor(f, "decoder.ln.bias", GGML_TYPE_F32, 1, 64, 1, 1);

        for (int dec = 0; dec < 2; dec++)
                for (int layer = 0; layer < 2; layer++) {
                        const char *side = dec ? "decoder" : "encoder";

                        for (int a = 0; a < 1 + dec; a++) {
                                const char *attn = a ? "cross_attn" : "attn";

                                expect_tensor(f, block(side, layer, attn, ".query.weight"), GGML_TYPE_F16, 2,
                                                64, 64, 1);
                                expect_tensor(f, block(side, layer, attn, ".query.bias"), GGML_TYPE_F32, 1,
                                                64, 1, 1);
                                expect_tensor(f, block(side, layer, attn, ".key.weight"), GGML_TYPE_F16, 2,
                                                64, 64, 1);
                                cr_assert_null(whisper_file_find_tensor(
                                                f, block(side, layer, attn, ".key.bias")));
                                expect_tensor(f, block(side, layer, attn, ".value.weight"), GGML_TYPE_F16, 2,
                                                64, 64, 1);
                                expect_tensor(f, block(side, layer, attn, ".value.bias"), GGML_TYPE_F32, 1,
                                                64, 1, 1);
                                expect_tensor(f, block(side, layer, attn, ".out.weight"), GGML_TYPE_F16, 2,
                                                64, 64, 1);
                                expect_tensor(f, block(side, layer, attn, ".out.bias"), GGML_TYPE_F32, 1, 64,
                                                1, 1);
                                expect_tensor(f, block(side, layer, attn, "_ln.weight"), GGML_TYPE_F32, 1,
                                                64, 1, 1);
                                expect_tensor(f, block(side, layer, attn, "_ln.bias"), GGML_TYPE_F32, 1, 64,
                                                1, 1);
                        }
                        expect_tensor(f, block(side, layer, "mlp", ".0.weight"), GGML_TYPE_F16, 2, 64, 256,
                                        1);
                        expect_tensor(f, block(side, layer, "mlp", ".0.bias"), GGML_TYPE_F32, 1, 256, 1, 1);
                        expect_tensor(f, block(side, layer, "mlp", ".2.weight"), GGML_TYPE_F16, 2, 256, 64,
                                        1);
                        expect_tensor(f, block(side, layer, "mlp", ".2.bias"), GGML_TYPE_F32, 1, 64, 1, 1);
                        expect_tensor(f, block(side, layer, "mlp", "_ln.weight"), GGML_TYPE_F32, 1, 64, 1,
                                        1);
                        expect_tensor(f, block(side, layer, "mlp", "_ln.bias"), GGML_TYPE_F32, 1, 64, 1, 1);
                }

        whisper_file_close(f);
}
