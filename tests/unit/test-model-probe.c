/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ggml-type.h"
#include "gguf.h"
#include "model-probe.h"
#include "whisper-file.h"

static char tmpdir[64];

static void make_tmpdir(void)
{
        strcpy(tmpdir, "/tmp/test-model-probe-XXXXXX");
        cr_assert_not_null(mkdtemp(tmpdir));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static void remove_tmpdir(void)
{
        /* Only files this suite wrote live there. */
        nftw(tmpdir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(model_probe, .init = make_tmpdir, .fini = remove_tmpdir);

static const char *fixtures(void)
{
        const char *dir = getenv("AID_FIXTURES");
        struct stat st;

        if (!dir || stat(dir, &st) < 0) {
                remove_tmpdir(); /* criterion runs no .fini after a skip */
                cr_skip_test("fixtures folder %s absent: set AID_FIXTURES to ../shared/fixtures",
                                dir ? dir : "(unset)");
        }
        return dir;
}

static char *write_file(const char *name, const void *data, size_t size)
{
        char *path;
        FILE *f;

        cr_assert_gt(asprintf(&path, "%s/%s", tmpdir, name), 0);
        f = fopen(path, "w");
        cr_assert_not_null(f);
        cr_assert_eq(fwrite(data, 1, size, f), size);
        cr_assert_eq(fclose(f), 0);
        return path;
}

static void *read_whole(const char *path, size_t *ret_size)
{
        struct stat st;
        void *data;
        FILE *f;

        cr_assert_eq(stat(path, &st), 0, "%s", path);
        data = malloc((size_t)st.st_size);
        cr_assert_not_null(data);
        f = fopen(path, "r");
        cr_assert_not_null(f);
        cr_assert_eq(fread(data, 1, (size_t)st.st_size, f), (size_t)st.st_size);
        fclose(f);
        *ret_size = (size_t)st.st_size;
        return data;
}

static bool has_type(const struct aid_model_meta *m, uint32_t type)
{
        for (uint32_t i = 0; i < m->n_tensor_types; i++)
                if (m->tensor_types[i].type == type)
                        return m->tensor_types[i].n_tensors > 0;
        return false;
}

/* ---- the fixture models ---- */

static const struct {
        const char *file;
        const char *architecture;
        const char *file_type; /* general.file_type as llama.cpp names it (README table) */
        uint32_t main_type;    /* the type most tensors have */
} models[] = {
        { "tiny-llama-v512-F32.gguf", "llama", "F32", GGML_TYPE_F32 },
        { "tiny-llama-v512-F16.gguf", "llama", "F16", GGML_TYPE_F16 },
        { "tiny-llama-v512-BF16.gguf", "llama", "BF16", GGML_TYPE_BF16 },
        { "tiny-llama-v512-Q8_0.gguf", "llama", "Q8_0", GGML_TYPE_Q8_0 },
        { "tiny-llama-v512-Q4_0.gguf", "llama", "Q4_0", GGML_TYPE_Q4_0 },
        { "tiny-llama-v512-Q4_1.gguf", "llama", "Q4_1", GGML_TYPE_Q4_1 },
        { "tiny-llama-v512-Q5_0.gguf", "llama", "Q5_0", GGML_TYPE_Q5_0 },
        { "tiny-llama-v512-Q5_1.gguf", "llama", "Q5_1", GGML_TYPE_Q5_1 },
        /* llama-quantize's Q4_K / Q5_K are aliases that write the _M file type. */
        { "tiny-llama-v512-Q4_K.gguf", "llama", "Q4_K_M", GGML_TYPE_Q4_K },
        { "tiny-llama-v512-Q5_K.gguf", "llama", "Q5_K_M", GGML_TYPE_Q5_K },
        { "tiny-llama-v512-Q6_K.gguf", "llama", "Q6_K", GGML_TYPE_Q6_K },
        { "tiny-llama-v512-Q4_K_M.gguf", "llama", "Q4_K_M", GGML_TYPE_Q4_K },
        { "tiny-gemma3-v512-F32.gguf", "gemma3", "F32", GGML_TYPE_F32 },
        { "tiny-gemma3-v512-Q8_0.gguf", "gemma3", "Q8_0", GGML_TYPE_Q8_0 },
        { "tiny-gemma3-v512-Q4_0.gguf", "gemma3", "Q4_0", GGML_TYPE_Q4_0 },
        { "tiny-gemma3-v512-Q4_K.gguf", "gemma3", "Q4_K_M", GGML_TYPE_Q4_K },
        { "tiny-qwen2-v512-F32.gguf", "qwen2", "F32", GGML_TYPE_F32 },
        { "tiny-qwen2-v512-Q8_0.gguf", "qwen2", "Q8_0", GGML_TYPE_Q8_0 },
        { "tiny-phi3-Q4_0.gguf", "phi3", "Q4_0", GGML_TYPE_Q4_0 },
};

Test(model_probe, fixture_models_are_usable)
{
        const char *dir = fixtures();
        uint64_t llama_params = 0;

        for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
                _cleanup_free_ char *path = NULL;
                struct aid_model_meta m = { 0 };
                struct aid_error err = { 0 };
                struct stat st;
                uint32_t sum = 0;

                cr_assert_gt(asprintf(&path, "%s/models/%s", dir, models[i].file), 0);
                cr_assert_eq(stat(path, &st), 0, "%s", path);
                cr_assert_eq(aid_model_probe(path, &m, &err), 0, "%s: %s", models[i].file, err.message);

                cr_assert_eq(m.format, AID_MODEL_FORMAT_GGUF);
                cr_assert_null(m.unsupported_reason, "%s: %s", models[i].file, m.unsupported_reason);
                cr_assert_str_eq(m.architecture, models[i].architecture, "%s", models[i].file);
                cr_assert_str_eq(m.capability, "text");
                cr_assert_eq(m.context_length, 512, "%s: %lu", models[i].file, m.context_length);
                cr_assert_not_null(m.file_type, "%s", models[i].file);
                cr_assert_str_eq(m.file_type, models[i].file_type, "%s", models[i].file);
                cr_assert_not_null(m.name, "%s: general.name", models[i].file);
                cr_assert_eq(m.file_size, (uint64_t)st.st_size);

                cr_assert_gt(m.n_tensor_types, 0);
                cr_assert_eq(m.tensor_types[0].type, models[i].main_type, "%s: most frequent type %s",
                                models[i].file, ggml_type_name(m.tensor_types[0].type));
                for (uint32_t t = 0; t < m.n_tensor_types; t++) {
                        sum += m.tensor_types[t].n_tensors;
                        if (t > 0)
                                cr_assert_geq(m.tensor_types[t - 1].n_tensors, m.tensor_types[t].n_tensors,
                                                "%s: not most frequent first", models[i].file);
                }
                cr_assert_eq(sum, m.n_tensors);
                /* Norm weights stay F32 in every quantized file. */
                cr_assert(has_type(&m, GGML_TYPE_F32), "%s", models[i].file);

                /* An F32 file is its parameters plus a small header. */
                if (models[i].main_type == GGML_TYPE_F32)
                        cr_assert(m.n_params * 4 <= m.file_size && m.n_params * 4 + 65536 > m.file_size,
                                        "%s: %lu parameters in %lu bytes", models[i].file, m.n_params,
                                        m.file_size);
                /* Quantizing changes the bytes, not the shapes. */
                if (strcmp(models[i].architecture, "llama") == 0) {
                        if (llama_params == 0)
                                llama_params = m.n_params;
                        cr_assert_eq(m.n_params, llama_params, "%s", models[i].file);
                }

                /* Of the fixtures only tiny-phi3 has a chat template: the first Phi-3-mini one,
                 * which drops system messages. */
                cr_assert_not_null(m.chat_template, "%s", models[i].file);
                if (strcmp(models[i].architecture, "phi3") == 0) {
                        cr_assert_str_eq(m.chat_template, "phi3", "%s", models[i].file);
                        cr_assert_not(m.chat_keeps_system, "%s", models[i].file);
                } else {
                        cr_assert_str_eq(m.chat_template, "none", "%s", models[i].file);
                }

                aid_model_meta_clear(&m);
                cr_assert_null(m.architecture);
                cr_assert_null(m.chat_template);
                cr_assert_eq(m.n_tensor_types, 0);
        }
}

Test(model_probe, q4_k_m_mixes_q4_k_and_q6_k)
{
        _cleanup_free_ char *path = NULL;
        struct aid_model_meta m = { 0 };
        struct aid_error err = { 0 };

        cr_assert_gt(asprintf(&path, "%s/models/tiny-llama-v512-Q4_K_M.gguf", fixtures()), 0);
        cr_assert_eq(aid_model_probe(path, &m, &err), 0, "%s", err.message);
        cr_assert_str_eq(m.file_type, "Q4_K_M");
        cr_assert_eq(m.n_tensor_types, 3);
        cr_assert_eq(m.tensor_types[0].type, GGML_TYPE_Q4_K);
        /* README: Q6_K for token_embd, blk.{2,3}.attn_v and blk.{2,3}.ffn_down. */
        cr_assert(has_type(&m, GGML_TYPE_Q6_K));
        cr_assert_eq(m.tensor_types[2].type, GGML_TYPE_Q6_K);
        cr_assert_eq(m.tensor_types[2].n_tensors, 5);
        aid_model_meta_clear(&m);
}

Test(model_probe, vocabulary_files_have_no_weights)
{
        static const char *const files[] = {
                "ggml-vocab-bert-bge.gguf",
                "ggml-vocab-deepseek-llm.gguf",
                "ggml-vocab-falcon.gguf",
                "ggml-vocab-gpt-2.gguf",
                "ggml-vocab-llama-spm.gguf",
                "ggml-vocab-phi-3.gguf",
                "ggml-vocab-v512-spm.gguf",
        };
        const char *dir = fixtures();

        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                _cleanup_free_ char *path = NULL;
                struct aid_model_meta m = { 0 };
                struct aid_error err = { 0 };

                cr_assert_gt(asprintf(&path, "%s/vocab/%s", dir, files[i]), 0);
                cr_assert_eq(aid_model_probe(path, &m, &err), 0, "%s: %s", files[i], err.message);
                cr_assert_not_null(m.unsupported_reason, "%s", files[i]);
                cr_assert_str_eq(m.unsupported_reason, "vocabulary-only file: it has no weights");
                cr_assert_not_null(m.architecture);
                cr_assert_eq(m.n_tensors, 0);
                cr_assert_eq(m.n_params, 0);
                cr_assert_eq(m.n_tensor_types, 0);
                aid_model_meta_clear(&m);
        }
}

Test(model_probe, whisper_fixture_is_speech)
{
        _cleanup_free_ char *path = NULL;
        struct aid_model_meta m = { 0 };
        struct aid_error err = { 0 };

        cr_assert_gt(asprintf(&path, "%s/whisper/whisper-d64-random-f16.bin", fixtures()), 0);
        cr_assert_eq(aid_model_probe(path, &m, &err), 0, "%s", err.message);
        cr_assert_eq(m.format, AID_MODEL_FORMAT_WHISPER_GGML);
        cr_assert_str_eq(m.architecture, "whisper");
        cr_assert_str_eq(m.capability, "speech");
        cr_assert_str_eq(m.name, "whisper-unknown");
        cr_assert_str_eq(m.file_type, "F16");
        cr_assert_eq(m.context_length, 448);
        cr_assert_eq(m.file_size, 8258876);
        cr_assert_eq(m.n_tensors, 89);
        /* Sum of the README's 89 shapes. */
        cr_assert_eq(m.n_params, 3705088);
        cr_assert_null(m.unsupported_reason, "%s", m.unsupported_reason);
        cr_assert_eq(m.n_tensor_types, 2);
        /* 2 convs + 4 encoder x 2 + ... matrices are F16; 1-D and positional tensors F32. */
        cr_assert(has_type(&m, GGML_TYPE_F16) && has_type(&m, GGML_TYPE_F32));
        cr_assert_eq(m.tensor_types[0].n_tensors + m.tensor_types[1].n_tensors, 89);
        aid_model_meta_clear(&m);
}

/* ---- files that are not models ---- */

static void expect_probe_error(const char *path, int code, const char *fragment)
{
        struct aid_model_meta m = { .n_tensors = 12345 };
        struct aid_error err = { 0 };
        int r;

        r = aid_model_probe(path, &m, &err);
        cr_assert_eq(r, code, "%s: expected %d, got %d: %s", path, code, r, err.message);
        cr_assert_eq(err.code, code);
        cr_assert_not_null(strstr(err.message, fragment), "message '%s' lacks '%s'", err.message, fragment);
        cr_assert_not_null(strstr(err.message, path), "message '%s' does not name the file", err.message);
        cr_assert_eq(m.n_tensors, 12345, "ret must be untouched on failure");
}

Test(model_probe, random_bytes_are_not_a_model)
{
        _cleanup_free_ char *path = NULL;
        uint8_t bytes[4096];

        srand(7);
        for (size_t i = 0; i < sizeof(bytes); i++)
                bytes[i] = (uint8_t)rand();
        bytes[0] = 0x89, bytes[1] = 'P', bytes[2] = 'N', bytes[3] = 'G';
        path = write_file("random.bin", bytes, sizeof(bytes));
        expect_probe_error(path, -EMEDIUMTYPE,
                        "not a model file: unknown magic 0x474e5089, expected GGUF or whisper.cpp ggml");
}

Test(model_probe, empty_and_tiny_files)
{
        _cleanup_free_ char *empty = write_file("empty.gguf", "", 0);
        _cleanup_free_ char *three = write_file("three.gguf", "GGU", 3);

        expect_probe_error(empty, -EMEDIUMTYPE, "the file is empty (0 bytes)");
        expect_probe_error(three, -EMEDIUMTYPE, "3 bytes are too short for a model file");
}

Test(model_probe, missing_file_and_directory)
{
        expect_probe_error("/nonexistent/model.gguf", -ENOENT, "cannot open");
        expect_probe_error(tmpdir, -EISDIR, "is a directory");
}

Test(model_probe, truncated_gguf_names_the_offset)
{
        _cleanup_free_ char *src = NULL;
        _cleanup_free_ void *data = NULL;
        size_t size;
        /* Inside the key/values, inside the tensor infos, inside the tensor data. */
        const size_t cuts[] = { 100, 4000, 0 };

        cr_assert_gt(asprintf(&src, "%s/models/tiny-qwen2-v512-Q8_0.gguf", fixtures()), 0);
        data = read_whole(src, &size);
        for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
                _cleanup_free_ char *path = NULL;
                size_t cut = cuts[i] ? cuts[i] : size - 1000;
                struct aid_model_meta m = { 0 };
                struct aid_error err = { 0 };
                int r;

                path = write_file("truncated.gguf", data, cut);
                r = aid_model_probe(path, &m, &err);
                cr_assert_lt(r, 0, "cut at %zu accepted", cut);
                cr_assert_not_null(strstr(err.message, path), "%s", err.message);
                /* A file position in hex, whatever words the reader puts around it. */
                cr_assert(strstr(err.message, "0x") != NULL, "cut at %zu: %s", cut, err.message);
        }
}

Test(model_probe, truncated_whisper_names_the_tensor)
{
        _cleanup_free_ char *src = NULL, *path = NULL;
        _cleanup_free_ void *data = NULL;
        struct aid_model_meta m = { 0 };
        struct aid_error err = { 0 };
        size_t size;

        cr_assert_gt(asprintf(&src, "%s/whisper/whisper-d64-random-f16.bin", fixtures()), 0);
        data = read_whole(src, &size);
        path = write_file("truncated.bin", data, size - 1);
        cr_assert_eq(aid_model_probe(path, &m, &err), -EBADMSG, "%s", err.message);
        cr_assert_not_null(strstr(err.message, path));
        cr_assert_not_null(strstr(err.message, "tensor 'decoder.ln.bias' at offset 0x"), "%s", err.message);
        cr_assert_not_null(strstr(err.message, "runs past the end of the file"), "%s", err.message);
}

/* ---- small GGUF files written here, for the cases no fixture has ---- */

struct gguf_builder {
        uint8_t *data;
        size_t size, allocated;
};

static void gb_put(struct gguf_builder *b, const void *p, size_t n)
{
        if (b->size + n > b->allocated) {
                b->allocated = (b->size + n) * 2 + 64;
                b->data = realloc(b->data, b->allocated);
                cr_assert_not_null(b->data);
        }
        memcpy(b->data + b->size, p, n);
        b->size += n;
}

static void gb_u32(struct gguf_builder *b, uint32_t v)
{
        gb_put(b, &v, 4); /* the test machine is little-endian, as GGUF */
}

static void gb_u64(struct gguf_builder *b, uint64_t v)
{
        gb_put(b, &v, 8);
}

static void gb_str(struct gguf_builder *b, const char *s)
{
        gb_u64(b, strlen(s));
        gb_put(b, s, strlen(s));
}

struct kv {
        const char *key;
        const char *str; /* a string value, or NULL for u32 */
        uint32_t u32;
};

struct tensor {
        const char *name;
        uint32_t type;
        uint64_t ne0, ne1;
};

/* GGUF v3: header, key/values, tensor infos, padding to 32, data (zeros). */
static char *write_gguf(const char *file, const struct kv *kvs, size_t n_kv, const struct tensor *ts,
                size_t n_tensors)
{
        struct gguf_builder b = { 0 };
        uint64_t offset = 0;
        char *path;

        gb_u32(&b, GGUF_MAGIC);
        gb_u32(&b, 3);
        gb_u64(&b, n_tensors);
        gb_u64(&b, n_kv);
        for (size_t i = 0; i < n_kv; i++) {
                gb_str(&b, kvs[i].key);
                if (kvs[i].str) {
                        gb_u32(&b, GGUF_TYPE_STRING);
                        gb_str(&b, kvs[i].str);
                } else {
                        gb_u32(&b, GGUF_TYPE_UINT32);
                        gb_u32(&b, kvs[i].u32);
                }
        }
        for (size_t i = 0; i < n_tensors; i++) {
                uint64_t bytes;

                cr_assert_eq(ggml_row_bytes(ts[i].type, ts[i].ne0, &bytes), 0);
                gb_str(&b, ts[i].name);
                gb_u32(&b, 2);
                gb_u64(&b, ts[i].ne0);
                gb_u64(&b, ts[i].ne1);
                gb_u32(&b, ts[i].type);
                gb_u64(&b, offset);
                offset += (bytes * ts[i].ne1 + 31) / 32 * 32;
        }
        while (b.size % 32)
                gb_put(&b, "", 1);
        for (uint64_t i = 0; i < offset; i++)
                gb_put(&b, "", 1);

        path = write_file(file, b.data, b.size);
        free(b.data);
        return path;
}

Test(model_probe, gguf_without_architecture)
{
        const struct kv kvs[] = { { "general.name", "nameless", 0 } };
        const struct tensor ts[] = { { "token_embd.weight", GGML_TYPE_F32, 8, 4 } };
        _cleanup_free_ char *path = write_gguf("noarch.gguf", kvs, 1, ts, 1);

        expect_probe_error(path, -ENOKEY, "general.architecture");
}

Test(model_probe, unsupported_architecture)
{
        const struct kv kvs[] = { { "general.architecture", "mamba", 0 },
                { "mamba.context_length", NULL, 1024 } };
        const struct tensor ts[] = { { "token_embd.weight", GGML_TYPE_F16, 8, 4 } };
        _cleanup_free_ char *path = write_gguf("mamba.gguf", kvs, 2, ts, 1);
        struct aid_model_meta m = { 0 };
        struct aid_error err = { 0 };

        cr_assert_eq(aid_model_probe(path, &m, &err), 0, "%s", err.message);
        cr_assert_str_eq(m.unsupported_reason, "architecture 'mamba' is not supported by aid's engine");
        cr_assert_str_eq(m.capability, "text");
        cr_assert_eq(m.context_length, 1024);
        cr_assert_null(m.name);
        /* No general.file_type: named after the matrices. */
        cr_assert_str_eq(m.file_type, "F16");
        cr_assert_eq(m.n_params, 32);
        aid_model_meta_clear(&m);
}

Test(model_probe, unsupported_tensor_type)
{
        const struct kv kvs[] = {
                { "general.architecture", "llama", 0 },
                { "general.file_type", NULL, 20 },
        };
        const struct tensor ts[] = {
                { "blk.0.ffn_up.weight", GGML_TYPE_IQ2_XS, 256, 2 },
                { "blk.0.ffn_down.weight", GGML_TYPE_IQ2_XS, 256, 2 },
                { "token_embd.weight", GGML_TYPE_Q8_0, 256, 2 },
        };
        _cleanup_free_ char *path = write_gguf("iq2.gguf", kvs, 2, ts, 3);
        struct aid_model_meta m = { 0 };
        struct aid_error err = { 0 };

        cr_assert_eq(aid_model_probe(path, &m, &err), 0, "%s", err.message);
        cr_assert_str_eq(m.unsupported_reason, "tensor type IQ2_XS is not supported by aid's engine yet");
        cr_assert_str_eq(m.file_type, "IQ2_XS");
        cr_assert_eq(m.context_length, 0);
        cr_assert_eq(m.n_tensor_types, 2);
        cr_assert_eq(m.tensor_types[0].type, GGML_TYPE_IQ2_XS);
        cr_assert_eq(m.tensor_types[0].n_tensors, 2);
        cr_assert_eq(m.tensor_types[1].type, GGML_TYPE_Q8_0);
        cr_assert_eq(m.n_params, 3 * 512);
        aid_model_meta_clear(&m);
}

Test(model_probe, mmproj_is_vision)
{
        const struct kv kvs[] = { { "general.architecture", "clip", 0 } };
        const struct tensor ts[] = { { "v.patch_embd.weight", GGML_TYPE_F16, 16, 4 } };
        _cleanup_free_ char *path = write_gguf("mmproj.gguf", kvs, 1, ts, 1);
        struct aid_model_meta m = { 0 };
        struct aid_error err = { 0 };

        cr_assert_eq(aid_model_probe(path, &m, &err), 0, "%s", err.message);
        cr_assert_str_eq(m.capability, "vision");
        cr_assert_not_null(m.unsupported_reason);
        aid_model_meta_clear(&m);
}

Test(model_probe, meta_clear_accepts_null_and_empty)
{
        struct aid_model_meta m = { 0 };

        aid_model_meta_clear(NULL);
        aid_model_meta_clear(&m);
        cr_assert_null(m.architecture);
}
