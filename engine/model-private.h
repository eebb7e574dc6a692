/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What model.c, context.c, kv-cache.c and the architecture files (models/) share. Not part of
 * the engine's public API. */

#include "gguf.h"
#include "model.h"

struct aid_onednn;

#ifdef _OPENMP
#define AID_OMP(x) _Pragma(x)
#else
#define AID_OMP(x)
#endif

/* A weight matrix used in place from the mapping: `rows` rows of `cols` elements of `type`,
 * row r at data + r * row_bytes. ggml's ne[0] is cols (the input dimension), ne[1] rows. A
 * 1-D tensor (norm weight, bias) is one row; those are always F32. data == NULL: absent. */
struct aid_weight {
        const char *name;
        uint32_t type;
        const void *data;
        size_t row_bytes;
        uint32_t rows;
        uint32_t cols;
};

struct aid_layer {
        struct aid_weight attn_norm;      /* [n_embd] */
        struct aid_weight wq, wk, wv;     /* [n_embd] -> [n_head*hd], [n_head_kv*hd], [n_head_kv*hd] */
        struct aid_weight wqkv;           /* phi3: [n_embd] -> [(n_head + 2*n_head_kv)*hd] */
        struct aid_weight bq, bk, bv;     /* optional biases (qwen2 has them) */
        struct aid_weight wo;             /* [n_head*hd] -> [n_embd] */
        struct aid_weight bo;             /* optional */
        struct aid_weight q_norm, k_norm; /* gemma3: [hd], per head */
        struct aid_weight post_attn_norm; /* gemma3: [n_embd] */
        struct aid_weight ffn_norm;       /* [n_embd] */
        struct aid_weight w_gate, w_up;   /* [n_embd] -> [n_ff] (phi3: w_up is [n_embd] -> [2*n_ff]) */
        struct aid_weight w_down;         /* [n_ff] -> [n_embd] */
        struct aid_weight post_ffw_norm;  /* gemma3: [n_embd] */
        bool sliding;                     /* attends to the last hp.sliding_window positions */
        float rope_base;
        float rope_freq_scale;
};

struct aid_model {
        struct gguf_file *gguf;
        struct aid_hparams hp;
        bool rope_neox;                /* pairs (i, i + n_rot/2) instead of (2i, 2i + 1) */
        float attn_scale;              /* applied to q·k */
        float embd_scale;              /* gemma3: sqrt(n_embd), else 1 */
        struct aid_weight token_embd;  /* [n_embd] x n_vocab rows */
        struct aid_weight output_norm; /* [n_embd] */
        struct aid_weight output;      /* [n_embd] -> [n_vocab]; token_embd when tied */
        struct aid_weight rope_freqs;  /* optional [n_rot/2]: llama3-style frequency divisors */
        struct aid_layer *layers;      /* [n_layer] */
        struct aid_tokenizer *tokenizer;
        /* Why tokenizer is NULL where the file names a tokenizer model; code 0 otherwise. */
        struct aid_error tokenizer_err;
};

/* Scratch, allocated once per context for n_batch entries (shapes per entry). */
struct aid_scratch {
        float *x;      /* [n_batch][n_embd] residual stream */
        float *xb;     /* [n_batch][n_embd] normalised input of a block */
        float *xb2;    /* [n_batch][n_embd] block output */
        float *q;      /* [n_batch][n_head*hd] */
        float *k;      /* [n_batch][n_head_kv*hd] */
        float *v;      /* [n_batch][n_head_kv*hd] */
        float *qkv;    /* phi3: [n_batch][(n_head + 2*n_head_kv)*hd] */
        float *att;    /* [n_batch][n_head*hd] attention output */
        float *hb;     /* [n_batch][2*n_ff] */
        float *hb2;    /* [n_batch][n_ff] */
        float *out_x;  /* [n_batch][n_embd] final hidden states of the entries that want logits */
        float *logits; /* [n_batch][n_vocab] */
        float *att_kv; /* fp16 cache: [n_threads_max][2][ATT_KEYS][hd], each attention thread's
                        * keys and values of one chunk in f32; NULL for an f32 cache */
        size_t n_logits;
};

/* The KV cache: v[layer][seq][kv_head][pos][head_dim], and k[layer][seq][kv_head][pos / 32]
 * [head_dim][pos % 32], in f32 or fp16 (elem bytes each, see aid_context_params.kv_type). Each
 * KV head's positions lie next to each other, so attention streams them: with the heads
 * interleaved per position, a head's key rows were kv_dim floats apart (2 KiB in Llama 3.2 1B),
 * two per page, and decode attention waited on memory at every key. The keys go in chunks of
 * AID_KV_CHUNK positions kept d-major (element d of the chunk's keys side by side), so that
 * attention multiplies a query with a chunk's keys as a vector per d, without transposing them
 * or summing across lanes (ops-attention.c); a value stays a row, as the products with the
 * weights of the softmax read it. */
#define AID_KV_CHUNK 32

struct aid_kv_cache {
        void *k;
        void *v;
        uint32_t *len; /* [n_seq] */
        uint32_t n_layer, n_seq, n_ctx, n_head_kv, head_dim;
        uint32_t n_ctx_chunks; /* n_ctx rounded up to whole chunks */
        bool f16;    /* fp16 elements, else f32 */
        size_t elem; /* bytes per element: 2 or 4 */
};

/* The RoPE angles of recent (position, base, scaling) triples and the frequencies of recent
 * bases (ops-rope.c). Enough slots for a decode step of a few sequences over the two bases
 * of Gemma 3; more only cost the lookups. */
#define AID_ROPE_FREQS  4
#define AID_ROPE_ANGLES 16
struct aid_rope_angle_key {
        uint32_t pos;
        float base, freq_scale;
        bool used;
};
struct aid_rope_cache {
        uint32_t half; /* n_rot / 2 */
        float freq_base[AID_ROPE_FREQS];
        bool freq_used[AID_ROPE_FREQS];
        struct aid_rope_angle_key angle_key[AID_ROPE_ANGLES];
        unsigned next_freq, next_angle; /* the slot to reuse next, round robin */
        double *freq_mem;               /* [AID_ROPE_FREQS][half] */
        float *angle_mem;               /* [AID_ROPE_ANGLES][2][half]: cos, then sin */
};
int aid_rope_cache_init(struct aid_rope_cache *rc, uint32_t n_rot);
void aid_rope_cache_done(struct aid_rope_cache *rc);

struct aid_context {
        struct aid_model *m;
        uint32_t n_ctx, n_seq_max, n_batch, n_threads;
        uint32_t n_threads_max; /* n_threads as made; aid_context_set_threads() stays within it */
        struct aid_kv_cache kv;
        struct aid_scratch s;
        struct aid_rope_cache rope;
        struct aid_onednn *dnn; /* prefill GEMMs; NULL: the plain batched loops */
        aid_interrupt_fn interrupt;
        void *interrupt_userdata;
};

/* For the forward passes, at the points where a batch may stop: before each layer after the
 * first, before its attention, between attention's tasks (on the calling thread), before its
 * feed-forward half and before that half's down projection. Where a new request behind a long
 * prompt waits least: no stretch between two of them is more than one or two matrix products. */
static inline bool aid_context_interrupted(const struct aid_context *c)
{
        return c->interrupt && c->interrupt(c->interrupt_userdata);
}

int aid_kv_cache_init(struct aid_kv_cache *kv, uint32_t n_layer, uint32_t n_seq, uint32_t n_ctx,
                uint32_t n_head_kv, uint32_t head_dim, bool f16);
void aid_kv_cache_done(struct aid_kv_cache *kv);
/* The index of the first element of one KV head's slab: its n_ctx_chunks positions, head_dim
 * elements each. */
static inline size_t aid_kv_slab(const struct aid_kv_cache *kv, uint32_t layer, uint32_t seq, uint32_t head)
{
        return (((size_t)layer * kv->n_seq + seq) * kv->n_head_kv + head) * kv->n_ctx_chunks * kv->head_dim;
}
/* The chunk of K that holds position pos (f32 or fp16, as kv->f16 says): element d of the key
 * at pos is its element d * AID_KV_CHUNK + pos % AID_KV_CHUNK. */
static inline void *aid_kv_k_chunk(
                const struct aid_kv_cache *kv, uint32_t layer, uint32_t seq, uint32_t head, uint32_t pos)
{
        return (char *)kv->k + (aid_kv_slab(kv, layer, seq, head) +
                                               (size_t)(pos / AID_KV_CHUNK) * AID_KV_CHUNK * kv->head_dim) *
                                               kv->elem;
}
/* The value row of position pos; the positions of a head follow. */
static inline void *aid_kv_v(
                const struct aid_kv_cache *kv, uint32_t layer, uint32_t seq, uint32_t head, uint32_t pos)
{
        return (char *)kv->v + (aid_kv_slab(kv, layer, seq, head) + (size_t)pos * kv->head_dim) * kv->elem;
}

/* Architecture files: finish loading (tensors, per-layer settings) and run the layers of a
 * validated batch, leaving the residual stream in s.x (the output norm and projection are
 * shared, in aid_decode()). The forward passes return false when aid_context_interrupted()
 * stopped them (at the points listed above it). */
int aid_llama_load(struct aid_model *m, struct aid_error *err);
bool aid_llama_forward(struct aid_context *c, const struct aid_batch_entry *e, size_t n);
int aid_gemma3_load(struct aid_model *m, struct aid_error *err);
bool aid_gemma3_forward(struct aid_context *c, const struct aid_batch_entry *e, size_t n);

/* Tensor lookup for the loaders: checks presence, shape (cols x rows; rows 0 = 1-D) and type,
 * and names the tensor and the expected and actual shape on error. `required` false leaves w
 * zeroed when the tensor is absent. */
int aid_model_weight(struct aid_model *m, struct aid_weight *w, bool required, uint32_t cols, uint32_t rows,
                struct aid_error *err, const char *fmt, ...) _printf_(7, 8);

/* The operations the forward passes are made of (context.c). n = batch rows. */
void aid_op_embed(const struct aid_context *c, const struct aid_batch_entry *e, size_t n, float *x);
/* out = x / sqrt(mean(x²) + eps) · w, per row of dim; the sum of squares in double
 * (ops-norm.c). out may be x. */
void aid_op_rmsnorm(
                float *out, const float *x, const struct aid_weight *w, size_t n, uint32_t dim, float eps);
/* y[n][w->rows] = x[n][w->cols] · Wᵀ (+ bias when bias->data), weights read once per batch.
 * A product on oneDNN's path (a prompt's rows) asks aid_context_interrupted() before each panel
 * of weight rows: false when that stopped it, y is then incomplete and the batch must stop. */
bool aid_op_matmul(const struct aid_context *c, const struct aid_weight *w, const struct aid_weight *bias,
                const float *x, size_t n, float *y) __attribute__((warn_unused_result));
/* aid_op_matmul() of n_parts (<= AID_MATVEC_PARTS_MAX) weights on the same x into y[p] (bias may
 * be NULL, or hold NULL or empty entries): for decode and the multi-row batches, weights of one
 * type and width share one quantized x and one parallel loop (one meeting of the threads
 * instead of one per weight); otherwise, one aid_op_matmul() each, and false as it says. */
bool aid_op_matmul_parts(const struct aid_context *c, const struct aid_weight *const *w,
                const struct aid_weight *const *bias, size_t n_parts, const float *x, size_t n,
                float *const *y) __attribute__((warn_unused_result));
/* Rotates n_heads heads of hd floats at one position (ops-rope.c). */
void aid_op_rope(struct aid_context *c, float *v, uint32_t n_heads, uint32_t hd, uint32_t pos, float base,
                float freq_scale);
/* Stores the batch's K/V of one layer in the cache, then computes attention of every entry
 * over its sequence (causal; sliding window when the layer says so). q [n][n_head*hd] -> out.
 * (ops-attention.c; it goes through the keys in chunks of AID_ATT_KEYS, and an fp16 cache's
 * chunk is converted into the thread's s.att_kv where a tile is tall or the CPU has no AVX-512.) */
#define AID_ATT_KEYS 32
/* Returns false when aid_context_interrupted() stopped it part way (asked by the calling
 * thread before each of its tasks): out is then incomplete and the batch must stop. */
bool aid_op_attention(struct aid_context *c, uint32_t layer, const struct aid_batch_entry *e, size_t n,
                const float *q, const float *k, const float *v, float *out);
/* x += y (ops-norm.c). */
void aid_op_add(float *x, const float *y, size_t len);

/* Activations on a vectorised e^x (ops-act.c), within 2 ulp of expf over the whole float range
 * (+inf above 88.72, subnormals and then 0 below −87.3, NaN kept). y may be the same array as
 * x, gate or up. aid_op_exp() is that e^x (exp16() in vec16.h, which attention's softmax
 * inlines) over an array: the tests check it through this. */
void aid_op_exp(float *y, const float *x, size_t n);
/* What the forward passes hand each thread at a time: a multiple of the 16 lanes, and large
 * enough that the threads' start costs vanish. */
#define AID_ACT_CHUNK ((size_t)1024)
/* y = silu(gate) ⊙ up, silu(x) = x / (1 + e^−x). */
void aid_op_silu_mul(float *y, const float *gate, const float *up, size_t n);
/* y = gelu_tanh(gate) ⊙ up (GELU's tanh approximation, Gemma's "gelu_pytorch_tanh"). */
void aid_op_gelu_tanh_mul(float *y, const float *gate, const float *up, size_t n);
