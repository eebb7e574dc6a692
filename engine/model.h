/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Language models: load a GGUF file (weights stay in the read-only mapping) and evaluate
 * batches of tokens from several independent sequences, each with its own KV cache. This is
 * the interface the daemon's scheduler uses for continuous batching. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum aid_arch {
        AID_ARCH_LLAMA,
        AID_ARCH_QWEN2,
        AID_ARCH_PHI3,
        AID_ARCH_GEMMA3,
};

/* Hyper-parameters, all read from the file's metadata. */
struct aid_hparams {
        enum aid_arch arch;
        uint32_t n_vocab;
        uint32_t n_ctx_train;
        uint32_t n_embd;
        uint32_t n_layer;
        uint32_t n_head;
        uint32_t n_head_kv;
        uint32_t head_dim;
        uint32_t n_ff;
        float rms_eps;
        float rope_base;         /* global layers */
        float rope_base_local;   /* gemma3 sliding-window layers */
        uint32_t sliding_window; /* gemma3; 0 = none */
        uint32_t n_rot;          /* dimensions RoPE rotates (rope.dimension_count, default head_dim) */
        float rope_freq_scale;   /* 1 / rope.scaling.factor for linear scaling, else 1 */
};

/* "llama", "qwen2", "phi3", "gemma3". */
const char *aid_arch_name(enum aid_arch arch);

struct aid_model;
struct aid_context;
struct aid_tokenizer;

int aid_model_load(const char *path, struct aid_model **ret_model, struct aid_error *err);
struct aid_model *aid_model_free(struct aid_model *m); /* accepts NULL, returns NULL */
const struct aid_hparams *aid_model_hparams(const struct aid_model *m);
/* NULL when the file has no usable vocabulary. */
const struct aid_tokenizer *aid_model_tokenizer(const struct aid_model *m);
/* Why aid_model_tokenizer() is NULL (the tokenizer's own error, or that the file names no
 * tokenizer model); NULL when there is a tokenizer. */
const char *aid_model_tokenizer_problem(const struct aid_model *m);
struct gguf_file;
/* The file the model was loaded from (open as long as the model), for metadata the engine does
 * not interpret itself, such as tokenizer.chat_template. */
const struct gguf_file *aid_model_gguf(const struct aid_model *m);

/* What the KV cache holds its keys and values in. AID_KV_AUTO: f32 for a model whose weights
 * are f32, whose precise logits an fp16 cache would move, and fp16 otherwise, as llama.cpp's
 * default does: half the memory of a long context, and half the bytes attention reads. */
enum aid_kv_type {
        AID_KV_AUTO = 0,
        AID_KV_F32,
        AID_KV_F16,
};

struct aid_context_params {
        uint32_t n_ctx;     /* positions per sequence (0 = the model's training context) */
        uint32_t n_seq_max; /* independent sequences (KV caches), >= 1 */
        uint32_t n_batch;   /* most entries per aid_decode() call */
        uint32_t n_threads; /* 0 = all cores */
        enum aid_kv_type kv_type;
};

int aid_context_new(struct aid_model *m, const struct aid_context_params *params,
                struct aid_context **ret_ctx, struct aid_error *err);
struct aid_context *aid_context_free(struct aid_context *c); /* accepts NULL, returns NULL */
/* AID_KV_F32 or AID_KV_F16, as the context was made, and the bytes its cache takes per position
 * of one sequence (K and V of every layer). */
enum aid_kv_type aid_context_kv_type(const struct aid_context *c);
size_t aid_context_kv_bytes_per_pos(const struct aid_context *c);

/* KV cache of one sequence (0 <= seq < n_seq_max). */
uint32_t aid_kv_seq_len(const struct aid_context *c, uint32_t seq);
void aid_kv_seq_clear(struct aid_context *c, uint32_t seq);
int aid_kv_seq_truncate(struct aid_context *c, uint32_t seq, uint32_t n_pos); /* keep positions < n_pos */
int aid_kv_seq_copy(struct aid_context *c, uint32_t src, uint32_t dst);

/* One token to evaluate: it goes to position `pos` of sequence `seq`, which must equal that
 * sequence's current length plus the number of earlier entries of the same sequence in this
 * batch (positions are appended in order). */
struct aid_batch_entry {
        int32_t token;
        uint32_t seq;
        uint32_t pos;
        bool want_logits;
};

/* Evaluates the batch: appends every entry's K/V to its sequence's cache and computes logits
 * where asked. -EINVAL (message) for a bad token id, sequence or position; -ENOSPC when a
 * sequence would outgrow n_ctx; -ECANCELED when the interrupt function (below) stopped it. On
 * failure no cache changes. */
int aid_decode(struct aid_context *c, const struct aid_batch_entry *entries, size_t n,
                struct aid_error *err);

/* Asked between two layers of every aid_decode() and before each layer's feed-forward half (so
 * a stop waits for half a layer at most): returning true stops the evaluation there
 * (-ECANCELED; the batch is as if never given, its work lost). For a caller with something
 * more urgent than a long batch in progress, such as a new request while a long prompt is
 * read. Called on the thread that called aid_decode(). fn NULL removes it. */
typedef bool (*aid_interrupt_fn)(void *userdata);
void aid_context_set_interrupt(struct aid_context *c, aid_interrupt_fn fn, void *userdata);

/* The threads the next aid_decode() calls use: n, at most the context's n_threads (as made),
 * at least 1. For a caller that sees other processes keep cores busy: the engine waits for all
 * its threads after every product, so one that shares its core loses a time slice each time.
 * Returns the count now in effect. */
uint32_t aid_context_set_threads(struct aid_context *c, uint32_t n);

/* The most entries, at most n, that one aid_decode() evaluates at its best cost per entry on
 * this model: n, or n - 1 where the last entry would cost a pass of its own through every
 * matrix (see aid_matmul_rows_best_count()): a batch of 9 entries of a Q4_0 model costs about
 * 30 % more than one of 8. For a scheduler that chooses how many prompt tokens go with its
 * running generations. */
size_t aid_context_batch_best_rows(const struct aid_context *c, size_t n);
/* The most entries one aid_decode() evaluates on the batched kernels, which read each weight
 * once for all entries and cost about the same per further entry; a larger batch goes to
 * oneDNN's matrix products, which dequantize every weight first and cost per entry otherwise.
 * For a scheduler whose model of a step's cost is measured on small steps. */
size_t aid_context_batch_rows_max(const struct aid_context *c);

/* n_vocab logits of the i-th entry of the last batch that had want_logits (in batch order). */
const float *aid_get_logits(const struct aid_context *c, size_t i);
