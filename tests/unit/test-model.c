/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The model / context API and what it does with bad input: small llama-shaped files written
 * here, each broken in one way, must fail with an error that names the problem. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ggml-type.h"
#include "gguf-write.h"
#include "kernels/quant.h"
#include "model.h"
#include "tokenizer/tokenizer.h"

#define E      32
#define N_HEAD 4
#define N_KV   2
#define HD     8
#define N_FF   64
#define N_LAY  2
#define N_VOC  16
#define N_CTX  8

static char tmpdir[64];
static float weights[N_FF * E];
static float ones[N_FF];

static void setup(void)
{
        uint32_t s = 12345;

        strcpy(tmpdir, "/tmp/test-model-XXXXXX");
        cr_assert_not_null(mkdtemp(tmpdir));
        for (size_t i = 0; i < ELEMENTSOF(weights); i++) {
                s = s * 1664525u + 1013904223u;
                weights[i] = ((float)(s >> 8) / (float)(1u << 24) - 0.5f) * 0.5f;
        }
        for (size_t i = 0; i < ELEMENTSOF(ones); i++)
                ones[i] = 1.0f;
}

static void teardown(void)
{
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        (void)!system(cmd);
}

TestSuite(model, .init = setup, .fini = teardown);

struct opts {
        const char *arch;        /* default "llama" */
        const char *omit_key;    /* a key left out */
        const char *swap_tensor; /* a matrix written transposed (wrong shape) */
        const char *q_tensor;    /* a matrix written as IQ4_NL, a type aid does not run */
        uint32_t n_head_kv;      /* default N_KV */
        uint32_t n_head;         /* default N_HEAD; when set, K and V also take n_head_kv heads */
        uint32_t vocab_size;     /* written as llama.vocab_size when set */
        bool no_tensors;
        bool q8_0;      /* every matrix in Q8_0, not F32 */
        uint32_t n_ctx; /* default N_CTX */
};

static void add_u32(struct gguf_writer *w, const struct opts *o, const char *key, uint32_t v)
{
        if (!o->omit_key || strcmp(o->omit_key, key) != 0)
                cr_assert_eq(gguf_writer_add_u32(w, key, v), 0);
}

static void add_matrix(
                struct gguf_writer *w, const struct opts *o, const char *name, uint64_t cols, uint64_t rows)
{
        uint64_t ne[2] = { cols, rows };
        uint32_t type = GGML_TYPE_F32;

        if (o->swap_tensor && strcmp(o->swap_tensor, name) == 0) {
                ne[0] = rows;
                ne[1] = cols;
        }
        if (o->q_tensor && strcmp(o->q_tensor, name) == 0)
                type = GGML_TYPE_IQ4_NL;
        if (o->q8_0) {
                static uint8_t q[N_FF * E / 32 * 34];
                cr_assert_eq(aid_quantize_row(GGML_TYPE_Q8_0, weights, q, cols * rows), 0);
                cr_assert_eq(gguf_writer_add_tensor(w, name, GGML_TYPE_Q8_0, 2, ne, q), 0, "%s", name);
                return;
        }
        cr_assert_eq(gguf_writer_add_tensor(w, name, type, 2, ne, weights), 0, "%s", name);
}

static void add_vector(struct gguf_writer *w, const char *name, uint64_t n)
{
        cr_assert_eq(gguf_writer_add_tensor(w, name, GGML_TYPE_F32, 1, &n, ones), 0, "%s", name);
}

static char *write_model(const char *file, const struct opts *o)
{
        struct gguf_writer *w = gguf_writer_new();
        struct aid_error err = { 0 };
        char *path, name[64];
        const uint32_t n_head = o->n_head ? o->n_head : N_HEAD, hd = E / n_head,
                       kv_heads = o->n_head ? o->n_head_kv : N_KV;

        cr_assert_not_null(w);
        cr_assert_gt(asprintf(&path, "%s/%s", tmpdir, file), 0);
        cr_assert_eq(gguf_writer_add_str(w, "general.architecture", o->arch ? o->arch : "llama"), 0);
        add_u32(w, o, "llama.context_length", o->n_ctx ? o->n_ctx : N_CTX);
        add_u32(w, o, "llama.embedding_length", E);
        add_u32(w, o, "llama.block_count", N_LAY);
        add_u32(w, o, "llama.feed_forward_length", N_FF);
        add_u32(w, o, "llama.attention.head_count", n_head);
        add_u32(w, o, "llama.attention.head_count_kv", o->n_head_kv ? o->n_head_kv : N_KV);
        if (o->vocab_size)
                add_u32(w, o, "llama.vocab_size", o->vocab_size);
        if (!o->omit_key || strcmp(o->omit_key, "llama.attention.layer_norm_rms_epsilon") != 0)
                cr_assert_eq(gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f), 0);

        if (!o->no_tensors) {
                add_matrix(w, o, "token_embd.weight", E, N_VOC);
                add_vector(w, "output_norm.weight", E);
                for (int l = 0; l < N_LAY; l++) {
#define NAME(s) (snprintf(name, sizeof(name), "blk.%d." s, l), name)
                        add_vector(w, NAME("attn_norm.weight"), E);
                        add_matrix(w, o, NAME("attn_q.weight"), E, n_head * hd);
                        add_matrix(w, o, NAME("attn_k.weight"), E, kv_heads * hd);
                        add_matrix(w, o, NAME("attn_v.weight"), E, kv_heads * hd);
                        add_matrix(w, o, NAME("attn_output.weight"), n_head * hd, E);
                        add_vector(w, NAME("ffn_norm.weight"), E);
                        add_matrix(w, o, NAME("ffn_gate.weight"), E, N_FF);
                        add_matrix(w, o, NAME("ffn_up.weight"), E, N_FF);
                        add_matrix(w, o, NAME("ffn_down.weight"), N_FF, E);
#undef NAME
                }
        }
        cr_assert_eq(gguf_writer_write(w, path, NULL, NULL, &err), 0, "%s", err.message);
        gguf_writer_free(w);
        return path;
}

/* Loading must fail with `code` and a message containing every string in `needles`. */
static void expect_load_error(const struct opts *o, int code, const char *needle1, const char *needle2)
{
        _cleanup_free_ char *path = write_model("bad.gguf", o);
        struct aid_model *m = NULL;
        struct aid_error err = { 0 };
        int r;

        r = aid_model_load(path, &m, &err);
        cr_assert_eq(r, code, "expected %d (%s), got %d: %s", code, strerror(-code), r, err.message);
        cr_assert_null(m);
        cr_assert_not_null(strstr(err.message, needle1), "message '%s' lacks '%s'", err.message, needle1);
        if (needle2)
                cr_assert_not_null(strstr(err.message, needle2), "message '%s' lacks '%s'", err.message,
                                needle2);
}

static struct aid_model *load_good(void)
{
        _cleanup_free_ char *path = write_model("good.gguf", &(struct opts){ 0 });
        struct aid_model *m = NULL;
        struct aid_error err = { 0 };

        cr_assert_eq(aid_model_load(path, &m, &err), 0, "%s", err.message);
        return m;
}

static struct aid_context *new_ctx(struct aid_model *m, uint32_t n_seq, uint32_t n_batch)
{
        struct aid_context_params p = { .n_ctx = 0, .n_seq_max = n_seq, .n_batch = n_batch, .n_threads = 1 };
        struct aid_context *c = NULL;
        struct aid_error err = { 0 };

        cr_assert_eq(aid_context_new(m, &p, &c, &err), 0, "%s", err.message);
        return c;
}

Test(model, loads_and_evaluates)
{
        struct aid_model *m = load_good();
        const struct aid_hparams *hp = aid_model_hparams(m);
        struct aid_context *c = new_ctx(m, 1, 4);
        struct aid_batch_entry b[3] = {
                { .token = 1, .seq = 0, .pos = 0 },
                { .token = 5, .seq = 0, .pos = 1, .want_logits = true },
                { .token = 15, .seq = 0, .pos = 2, .want_logits = true },
        };
        struct aid_error err = { 0 };

        cr_assert_eq(hp->arch, AID_ARCH_LLAMA);
        cr_assert_str_eq(aid_arch_name(hp->arch), "llama");
        cr_assert_eq(hp->n_vocab, N_VOC);
        cr_assert_eq(hp->head_dim, HD);
        cr_assert_eq(hp->n_rot, HD);
        cr_assert_eq(hp->n_ctx_train, N_CTX);
        cr_assert_float_eq(hp->rope_base, 10000.0f, 1e-3); /* llama.cpp's default */
        cr_assert_null(aid_model_tokenizer(m));

        cr_assert_eq(aid_decode(c, b, 3, &err), 0, "%s", err.message);
        cr_assert_eq(aid_kv_seq_len(c, 0), 3);
        for (size_t i = 0; i < 2; i++) {
                const float *l = aid_get_logits(c, i);
                cr_assert_not_null(l);
                for (int t = 0; t < N_VOC; t++)
                        cr_assert(isfinite(l[t]));
        }
        cr_assert_null(aid_get_logits(c, 2), "only two entries asked for logits");
        aid_context_free(c);
        aid_model_free(m);
        cr_assert_null(aid_model_free(NULL));
        cr_assert_null(aid_context_free(NULL));
}

Test(model, unsupported_architecture)
{
        expect_load_error(&(struct opts){ .arch = "mamba" }, -EOPNOTSUPP, "'mamba'", "not supported");
}

Test(model, vocabulary_only_file)
{
        expect_load_error(&(struct opts){ .no_tensors = true }, -EBADMSG, "no tensors", NULL);

        const char *dir = getenv("AID_FIXTURES");
        char path[4096];
        struct stat st;
        struct aid_model *m = NULL;
        struct aid_error err = { 0 };

        if (!dir || stat(dir, &st) < 0) {
                teardown(); /* criterion runs no .fini after a skip */
                cr_skip_test("fixtures folder %s absent: the llama.cpp vocabulary file is not tried",
                                dir ? dir : "(unset)");
        }
        snprintf(path, sizeof(path), "%s/vocab/ggml-vocab-llama-spm.gguf", dir);
        cr_assert_eq(aid_model_load(path, &m, &err), -EBADMSG, "%s", err.message);
        cr_assert_not_null(strstr(err.message, "no tensors"), "%s", err.message);
        cr_assert_not_null(strstr(err.message, "ggml-vocab-llama-spm.gguf"), "the path is named: %s",
                        err.message);
}

Test(model, missing_keys)
{
        expect_load_error(&(struct opts){ .omit_key = "llama.block_count" }, -EBADMSG, "llama.block_count",
                        "missing");
        expect_load_error(&(struct opts){ .omit_key = "llama.attention.layer_norm_rms_epsilon" }, -EBADMSG,
                        "llama.attention.layer_norm_rms_epsilon", NULL);
        expect_load_error(&(struct opts){ .omit_key = "llama.context_length" }, -EBADMSG,
                        "llama.context_length", NULL);
}

Test(model, contradictory_keys)
{
        expect_load_error(&(struct opts){ .n_head_kv = 3 }, -EBADMSG, "llama.attention.head_count_kv", NULL);
        expect_load_error(&(struct opts){ .vocab_size = N_VOC + 4 }, -EBADMSG, "token_embd.weight", "20");
}

Test(model, wrong_tensor_shape)
{
        expect_load_error(&(struct opts){ .swap_tensor = "blk.1.attn_k.weight" }, -EBADMSG,
                        "tensor 'blk.1.attn_k.weight' has shape [16, 32]", "expected [32, 16]");
        expect_load_error(&(struct opts){ .swap_tensor = "blk.0.ffn_down.weight" }, -EBADMSG,
                        "blk.0.ffn_down.weight", "expected [64, 32]");
}

Test(model, unsupported_tensor_type)
{
        expect_load_error(&(struct opts){ .q_tensor = "blk.0.attn_q.weight" }, -EOPNOTSUPP,
                        "blk.0.attn_q.weight", "IQ4_NL");
}

Test(model, missing_file)
{
        struct aid_model *m = NULL;
        struct aid_error err = { 0 };

        cr_assert_eq(aid_model_load("/nonexistent/model.gguf", &m, &err), -ENOENT);
        cr_assert_null(m);
}

Test(model, bad_context_parameters)
{
        struct aid_model *m = load_good();
        struct aid_context *c = NULL;
        struct aid_error err = { 0 };

        cr_assert_eq(aid_context_new(m, &(struct aid_context_params){ .n_seq_max = 0, .n_batch = 1 }, &c,
                                     &err),
                        -EINVAL);
        cr_assert_eq(aid_context_new(m, &(struct aid_context_params){ .n_seq_max = 1, .n_batch = 0 }, &c,
                                     &err),
                        -EINVAL);
        cr_assert_null(c);
        aid_model_free(m);
}

/* Every bad batch is refused with a message, and leaves caches and last logits as they were. */
Test(model, bad_batches_change_nothing)
{
        struct aid_model *m = load_good();
        struct aid_context *c = new_ctx(m, 2, 4);
        struct aid_batch_entry b[4] = {
                { .token = 1, .seq = 0, .pos = 0 },
                { .token = 2, .seq = 0, .pos = 1, .want_logits = true },
        };
        struct aid_error err = { 0 };
        float before[N_VOC];

        cr_assert_eq(aid_decode(c, b, 2, &err), 0, "%s", err.message);
        memcpy(before, aid_get_logits(c, 0), sizeof(before));

#define EXPECT_REFUSED(n, code, needle)                                                                 \
        do {                                                                                            \
                err = (struct aid_error){ 0 };                                                          \
                cr_assert_eq(aid_decode(c, b, n, &err), code, "%s", err.message);                       \
                cr_assert_not_null(strstr(err.message, needle), "message '%s' lacks '%s'", err.message, \
                                needle);                                                                \
                cr_assert_eq(aid_kv_seq_len(c, 0), 2);                                                  \
                cr_assert_eq(aid_kv_seq_len(c, 1), 0);                                                  \
                cr_assert_not_null(aid_get_logits(c, 0));                                               \
                cr_assert_arr_eq(aid_get_logits(c, 0), before, sizeof(before));                         \
        } while (0)

        /* A good entry first, then the bad one: the good one must not land either. */
        b[0] = (struct aid_batch_entry){ .token = 3, .seq = 1, .pos = 0, .want_logits = true };
        b[1] = (struct aid_batch_entry){ .token = N_VOC, .seq = 0, .pos = 2 };
        EXPECT_REFUSED(2, -EINVAL, "token id 16");
        b[1].token = -1;
        EXPECT_REFUSED(2, -EINVAL, "token id -1");
        b[1] = (struct aid_batch_entry){ .token = 3, .seq = 2, .pos = 0 };
        EXPECT_REFUSED(2, -EINVAL, "sequence 2");
        b[1] = (struct aid_batch_entry){ .token = 3, .seq = 0, .pos = 5 };
        EXPECT_REFUSED(2, -EINVAL, "position 5");
        b[1] = (struct aid_batch_entry){ .token = 3, .seq = 1, .pos = 0 }; /* seq 1 pos 0 twice */
        EXPECT_REFUSED(2, -EINVAL, "expected 1");
        EXPECT_REFUSED(5, -EINVAL, "n_batch");
        EXPECT_REFUSED(0, -EINVAL, "empty");

        /* Fill sequence 1 to the context size (the training context, 8), then one more. */
        for (uint32_t p = 0; p < N_CTX; p += 4) {
                for (uint32_t i = 0; i < 4; i++)
                        b[i] = (struct aid_batch_entry){ .token = (int32_t)(p + i), .seq = 1, .pos = p + i };
                cr_assert_eq(aid_decode(c, b, 4, &err), 0, "%s", err.message);
        }
        cr_assert_eq(aid_kv_seq_len(c, 1), N_CTX);
        b[0] = (struct aid_batch_entry){ .token = 1, .seq = 1, .pos = N_CTX, .want_logits = true };
        err = (struct aid_error){ 0 };
        cr_assert_eq(aid_decode(c, b, 1, &err), -ENOSPC, "%s", err.message);
        cr_assert_not_null(strstr(err.message, "context"), "%s", err.message);
        cr_assert_eq(aid_kv_seq_len(c, 1), N_CTX);

        aid_context_free(c);
        aid_model_free(m);
}

static unsigned interrupt_calls, interrupt_at;

static bool interrupt_at_call(void *userdata)
{
        cr_assert_eq(userdata, &interrupt_calls);
        return ++interrupt_calls == interrupt_at;
}

/* A batch stopped at any of its stop points (between two layers, before a layer's attention,
 * between attention's tasks, before the feed-forward half or its down projection) leaves the
 * cache and the logits as they were; given again, it gives what it gives uninterrupted. */
/* Stops the batch at each of its stop points in turn: each stop leaves no cache entry and no
 * logits, and the batch then gives the reference logits bit for bit. Returns the points. */
static unsigned check_every_stop(
                struct aid_model *m, const struct aid_batch_entry *b, size_t n, uint32_t n_batch)
{
        struct aid_context *c = new_ctx(m, 1, n_batch), *ref = new_ctx(m, 1, n_batch);
        struct aid_error err = { 0 };
        const size_t n_vocab = aid_model_hparams(m)->n_vocab;
        unsigned n_points;

        cr_assert_eq(aid_decode(ref, b, n, &err), 0, "%s", err.message);

        /* Never stopping changes nothing. */
        interrupt_calls = 0;
        interrupt_at = 0;
        aid_context_set_interrupt(c, interrupt_at_call, &interrupt_calls);
        cr_assert_eq(aid_decode(c, b, n, &err), 0, "%s", err.message);
        n_points = interrupt_calls;
        aid_kv_seq_clear(c, 0);

        for (interrupt_at = 1; interrupt_at <= n_points; interrupt_at++) {
                interrupt_calls = 0;
                cr_assert_eq(aid_decode(c, b, n, &err), -ECANCELED, "stopped at call %u", interrupt_at);
                cr_assert_not_null(strstr(err.message, "interrupted"), "%s", err.message);
                cr_assert_eq(interrupt_calls, interrupt_at);
                cr_assert_eq(aid_kv_seq_len(c, 0), 0);
                cr_assert_null(aid_get_logits(c, 0), "an interrupted batch has no logits");
        }

        aid_context_set_interrupt(c, NULL, NULL);
        cr_assert_eq(aid_decode(c, b, n, &err), 0, "%s", err.message);
        cr_assert_eq(aid_kv_seq_len(c, 0), n);
        cr_assert_arr_eq(aid_get_logits(c, 0), aid_get_logits(ref, 0), n_vocab * sizeof(float));
        aid_context_free(ref);
        aid_context_free(c);
        return n_points;
}

Test(model, interrupted_batch_changes_nothing)
{
        struct aid_model *m = load_good();
        const struct aid_batch_entry b[3] = {
                { .token = 1, .seq = 0, .pos = 0 },
                { .token = 5, .seq = 0, .pos = 1 },
                { .token = 15, .seq = 0, .pos = 2, .want_logits = true },
        };
        const unsigned n_layer = aid_model_hparams(m)->n_layer;
        unsigned n_points;

        cr_assert_geq(n_layer, 2, "the test model needs two layers to stop between them");
        /* Asked before every layer but the first, before its attention, before each of
         * attention's tasks (one thread here: the same ones every time), before the feed-forward
         * half and before its down projection. */
        n_points = check_every_stop(m, b, 3, 4);
        cr_assert_gt(n_points, 4 * n_layer - 1, "%u stop points: none inside attention?", n_points);
        aid_model_free(m);
}

/* A prompt's rows go to oneDNN, whose products stop between their panels of weight rows too. */
Test(model, interrupted_prompt_batch_stops_inside_its_products)
{
        _cleanup_free_ char *path = write_model("q8-long.gguf", &(struct opts){ .q8_0 = true, .n_ctx = 64 });
        struct aid_model *m = NULL;
        struct aid_error err = { 0 };
        struct aid_batch_entry b[40], few[3];
        unsigned n_points, few_points;

        cr_assert_eq(aid_model_load(path, &m, &err), 0, "%s", err.message);
        for (uint32_t i = 0; i < 40; i++)
                b[i] = (struct aid_batch_entry){ .token = (int32_t)(i * 7 % N_VOC), .seq = 0, .pos = i };
        b[39].want_logits = true;
        memcpy(few, b, sizeof(few));
        few[2].want_logits = true;
        few_points = check_every_stop(m, few, 3, 40);
        n_points = check_every_stop(m, b, 40, 40);
        /* q, k, v, the output projection, gate, up and down: one panel each in this model. */
        cr_assert_geq(n_points, few_points + 7 * N_LAY, "%u stop points against %u for three rows", n_points,
                        few_points);
        aid_model_free(m);
}

/* What a scheduler may put in one step on the batched kernels, by the feed-forward type: the
 * quantized types' multi-row kernels take up to AID_MATMUL_ROWS_MAX entries; F32 goes to oneDNN
 * from 16 on. A batch of the size given back still evaluates. */
Test(model, batch_sizes_for_a_scheduler)
{
        _cleanup_free_ char *path =
                        write_model("q8-batch.gguf", &(struct opts){ .q8_0 = true, .n_ctx = 64 });
        struct aid_model *m = load_good(), *mq = NULL;
        struct aid_error err = { 0 };
        struct aid_context *c = new_ctx(m, 1, 64), *cq;
        struct aid_batch_entry b[64];

        cr_assert_eq(aid_model_load(path, &mq, &err), 0, "%s", err.message);
        cq = new_ctx(mq, 1, 64);
        cr_assert_eq(aid_context_batch_rows_max(c), 15);
        cr_assert_eq(aid_context_batch_rows_max(cq), AID_MATMUL_ROWS_MAX);
        for (uint32_t i = 0; i < AID_MATMUL_ROWS_MAX; i++)
                b[i] = (struct aid_batch_entry){ .token = (int32_t)(i % N_VOC), .seq = 0, .pos = i };
        b[AID_MATMUL_ROWS_MAX - 1].want_logits = true;
        cr_assert_eq(aid_decode(cq, b, AID_MATMUL_ROWS_MAX, &err), 0, "%s", err.message);
        cr_assert_eq(aid_context_batch_best_rows(cq, 9), 8, "a ninth entry would cost a pass of its own");
        cr_assert_eq(aid_context_batch_best_rows(cq, 8), 8);
        aid_context_free(cq);
        aid_context_free(c);
        aid_model_free(mq);
        aid_model_free(m);
}

Test(model, kv_operations)
{
        struct aid_model *m = load_good();
        struct aid_context *c = new_ctx(m, 2, 4);
        struct aid_batch_entry b[4];
        struct aid_error err = { 0 };

        for (uint32_t i = 0; i < 4; i++)
                b[i] = (struct aid_batch_entry){ .token = (int32_t)i, .seq = 0, .pos = i };
        cr_assert_eq(aid_decode(c, b, 4, &err), 0, "%s", err.message);
        cr_assert_eq(aid_kv_seq_truncate(c, 5, 0), -EINVAL);
        cr_assert_eq(aid_kv_seq_copy(c, 0, 7), -EINVAL);
        cr_assert_eq(aid_kv_seq_len(c, 7), 0);
        cr_assert_eq(aid_kv_seq_truncate(c, 0, 10), 0, "truncating past the end keeps everything");
        cr_assert_eq(aid_kv_seq_len(c, 0), 4);
        cr_assert_eq(aid_kv_seq_copy(c, 0, 1), 0);
        cr_assert_eq(aid_kv_seq_len(c, 1), 4);
        cr_assert_eq(aid_kv_seq_truncate(c, 0, 1), 0);
        cr_assert_eq(aid_kv_seq_len(c, 0), 1);
        cr_assert_eq(aid_kv_seq_len(c, 1), 4, "the copy is independent");
        aid_kv_seq_clear(c, 1);
        cr_assert_eq(aid_kv_seq_len(c, 1), 0);
        /* After a clear, a sequence starts at position 0 again. */
        b[0] = (struct aid_batch_entry){ .token = 1, .seq = 1, .pos = 0, .want_logits = true };
        cr_assert_eq(aid_decode(c, b, 1, &err), 0, "%s", err.message);
        aid_context_free(c);
        aid_model_free(m);
}

/* Logits of tokens 3, 1, 4, 1, 5 in sequence 0 of a fresh context of kv_type, then of token 9
 * in sequence 0 and in sequence 1 (a copy of 0) together: want[0..N_VOC) and want[N_VOC..). */
static enum aid_kv_type logits_with_cache(struct aid_model *m, enum aid_kv_type kv_type, float *want)
{
        struct aid_context_params p = { .n_seq_max = 2, .n_batch = 8, .n_threads = 1, .kv_type = kv_type };
        static const int32_t toks[] = { 3, 1, 4, 1, 5 };
        struct aid_batch_entry b[5];
        struct aid_context *c = NULL;
        struct aid_error err = { 0 };
        enum aid_kv_type got;

        cr_assert_eq(aid_context_new(m, &p, &c, &err), 0, "%s", err.message);
        for (uint32_t i = 0; i < 5; i++)
                b[i] = (struct aid_batch_entry){ .token = toks[i], .seq = 0, .pos = i };
        cr_assert_eq(aid_decode(c, b, 5, &err), 0, "%s", err.message);
        cr_assert_eq(aid_kv_seq_copy(c, 0, 1), 0);
        b[0] = (struct aid_batch_entry){ .token = 9, .seq = 0, .pos = 5, .want_logits = true };
        b[1] = (struct aid_batch_entry){ .token = 9, .seq = 1, .pos = 5, .want_logits = true };
        cr_assert_eq(aid_decode(c, b, 2, &err), 0, "%s", err.message);
        memcpy(want, aid_get_logits(c, 0), N_VOC * sizeof(float));
        memcpy(want + N_VOC, aid_get_logits(c, 1), N_VOC * sizeof(float));
        got = aid_context_kv_type(c);
        cr_assert_eq(aid_context_kv_bytes_per_pos(c), 2 * N_LAY * N_KV * HD * (got == AID_KV_F16 ? 2 : 4));
        aid_context_free(c);
        return got;
}

/* The KV cache is f32 for an f32 model and fp16 for a quantized one unless asked otherwise;
 * fp16 keys and values move the logits by rounding only, and copies of an fp16 cache are whole. */
Test(model, kv_cache_types)
{
        _cleanup_free_ char *q8 = write_model("q8.gguf", &(struct opts){ .q8_0 = true });
        struct aid_model *m = load_good(), *mq = NULL;
        struct aid_context *c = NULL;
        struct aid_error err = { 0 };
        float l32[2 * N_VOC], l16[2 * N_VOC];
        double d2 = 0, r2 = 0;

        cr_assert_eq(logits_with_cache(m, AID_KV_AUTO, l32), AID_KV_F32, "an f32 model keeps an f32 cache");
        cr_assert_eq(logits_with_cache(m, AID_KV_F16, l16), AID_KV_F16);
        for (int i = 0; i < N_VOC; i++) {
                cr_assert_eq(l32[i], l32[N_VOC + i], "f32: the copied sequence gives the same logits");
                cr_assert_eq(l16[i], l16[N_VOC + i], "f16: the copied sequence gives the same logits");
                d2 += (double)(l16[i] - l32[i]) * (l16[i] - l32[i]);
                r2 += (double)l32[i] * l32[i];
        }
        cr_assert_gt(d2, 0, "an fp16 cache rounds");
        cr_assert_lt(sqrt(d2 / r2), 1e-2, "fp16 cache: rel rms %g", sqrt(d2 / r2));
        cr_assert_eq(logits_with_cache(m, AID_KV_F32, l16), AID_KV_F32);
        cr_assert_eq(memcmp(l16, l32, sizeof(l32)), 0, "asking for f32 is what AUTO gave");

        cr_assert_eq(aid_model_load(q8, &mq, &err), 0, "%s", err.message);
        cr_assert_eq(logits_with_cache(mq, AID_KV_AUTO, l16), AID_KV_F16, "a quantized model gets fp16");
        cr_assert_eq(aid_context_new(m,
                                     &(struct aid_context_params){
                                                     .n_seq_max = 1, .n_batch = 1, .kv_type = 7 },
                                     &c, &err),
                        -EINVAL);
        cr_assert_null(c);
        cr_assert_not_null(strstr(err.message, "KV cache type"), "%s", err.message);
        aid_model_free(mq);
        aid_model_free(m);
}

/* Logits of the last of 72 tokens of sequence 0: 69 in batches of up to 24 (attention's tall
 * tiles), then three one at a time (its decode tiles), at the given kernel level. */
static void logits_at_level(
                struct aid_model *m, enum aid_kv_type kv_type, enum aid_cpu_level level, float *ret)
{
        struct aid_context_params p = { .n_seq_max = 1, .n_batch = 24, .n_threads = 2, .kv_type = kv_type };
        struct aid_batch_entry b[24];
        struct aid_context *c = NULL;
        struct aid_error err = { 0 };
        uint32_t pos = 0;

        cr_assert_eq(aid_kernels_set_level(level), level);
        cr_assert_eq(aid_context_new(m, &p, &c, &err), 0, "%s", err.message);
        while (pos < 72) {
                uint32_t n = pos < 69 ? MIN(24u, 69 - pos) : 1;
                for (uint32_t i = 0; i < n; i++, pos++)
                        b[i] = (struct aid_batch_entry){ .token = (int32_t)(pos * 7 % N_VOC),
                                .seq = 0,
                                .pos = pos,
                                .want_logits = pos == 71 };
                cr_assert_eq(aid_decode(c, b, n, &err), 0, "%s", err.message);
        }
        memcpy(ret, aid_get_logits(c, 0), N_VOC * sizeof(float));
        aid_context_free(c);
}

/* Attention takes its AVX-512 kernels or, below that level, its generic vectors; both, over
 * several chunks of the cache and with either cache type, give the logits of the scalar level
 * within rounding. Heads of 8 (four heads a KV head) take the code for a part of a vector;
 * heads of 16 (two a KV head) that for whole ones. */
static void check_attention_paths(const char *file, const struct opts *o)
{
        _cleanup_free_ char *path = write_model(file, o);
        const enum aid_cpu_level best = aid_cpu_detect();
        struct aid_model *m = NULL;
        struct aid_error err = { 0 };

        cr_assert_eq(aid_model_load(path, &m, &err), 0, "%s", err.message);
        for (int kv = AID_KV_F32; kv <= AID_KV_F16; kv++) {
                float want[N_VOC], got[N_VOC];
                logits_at_level(m, (enum aid_kv_type)kv, AID_CPU_SCALAR, want);
                for (int level = AID_CPU_AVX2; level <= (int)best; level++) {
                        double d2 = 0, r2 = 0;
                        logits_at_level(m, (enum aid_kv_type)kv, (enum aid_cpu_level)level, got);
                        for (int i = 0; i < N_VOC; i++) {
                                d2 += (double)(got[i] - want[i]) * (got[i] - want[i]);
                                r2 += (double)want[i] * want[i];
                        }
                        cr_expect_lt(sqrt(d2 / r2), 1e-5,
                                        "%s, %s cache, %s: rel rms %g from the scalar level", file,
                                        kv == AID_KV_F16 ? "fp16" : "f32",
                                        aid_cpu_level_name((enum aid_cpu_level)level), sqrt(d2 / r2));
                }
        }
        aid_kernels_set_level(best);
        aid_model_free(m);
}

Test(model, attention_paths_agree)
{
        check_attention_paths("heads-8.gguf", &(struct opts){ .n_ctx = 96 });
        check_attention_paths("heads-16.gguf", &(struct opts){ .n_ctx = 96, .n_head = 2, .n_head_kv = 1 });
}

/* A model file's vocabulary comes with it: the prompt of the fixtures tokenizes to the ids
 * llama.cpp fed the model (BOS added, as the vocabulary asks). */
Test(model, fixture_model_has_tokenizer)
{
        const char *dir = getenv("AID_FIXTURES");
        const char *prompt = "The quick brown fox jumps over the lazy dog. Once upon a time";
        char path[4096];
        struct stat st;
        struct aid_model *m = NULL;
        struct aid_error err = { 0 };
        _cleanup_free_ int32_t *ids = NULL;
        size_t n = 0;
        FILE *f;

        if (!dir || stat(dir, &st) < 0) {
                teardown(); /* criterion runs no .fini after a skip */
                cr_skip_test("fixtures folder %s absent: set AID_FIXTURES to ../shared/fixtures",
                                dir ? dir : "(unset)");
        }
        snprintf(path, sizeof(path), "%s/models/tiny-phi3-Q4_0.gguf", dir);
        cr_assert_eq(aid_model_load(path, &m, &err), 0, "%s", err.message);
        cr_assert_eq(aid_model_hparams(m)->arch, AID_ARCH_PHI3);
        cr_assert_eq(aid_model_hparams(m)->n_vocab, 32064);
        cr_assert_not_null(aid_model_tokenizer(m));
        cr_assert_eq(aid_tokenize(aid_model_tokenizer(m), prompt, strlen(prompt),
                                     AID_TOKENIZE_ADD_SPECIAL | AID_TOKENIZE_PARSE_SPECIAL, &ids, &n, &err),
                        0, "%s", err.message);
        snprintf(path, sizeof(path), "%s/models/tiny-phi3-Q4_0.tokens.txt", dir);
        f = fopen(path, "r");
        cr_assert_not_null(f);
        for (size_t i = 0; i < n; i++) {
                int32_t want;
                cr_assert_eq(fscanf(f, "%d", &want), 1);
                cr_assert_eq(ids[i], want, "token %zu", i);
        }
        fclose(f);
        cr_assert_eq(n, 17);
        aid_model_free(m);
}
