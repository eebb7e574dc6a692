/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-type.h"
#include "model-private.h"
#include "tokenizer/tokenizer.h"

static const char *const arch_names[] = {
        [AID_ARCH_LLAMA] = "llama",
        [AID_ARCH_QWEN2] = "qwen2",
        [AID_ARCH_PHI3] = "phi3",
        [AID_ARCH_GEMMA3] = "gemma3",
};

const char *aid_arch_name(enum aid_arch arch)
{
        if ((size_t)arch >= ELEMENTSOF(arch_names))
                return "unknown";
        return arch_names[arch];
}

static void shape_str(char *buf, size_t size, const struct gguf_tensor *t)
{
        int o = snprintf(buf, size, "[");

        for (uint32_t d = 0; d < t->n_dims && o > 0 && (size_t)o < size; d++)
                o += snprintf(buf + o, size - (size_t)o, "%s%" PRIu64, d ? ", " : "", t->ne[d]);
        if (o > 0 && (size_t)o < size)
                snprintf(buf + o, size - (size_t)o, "]");
}

int aid_model_weight(struct aid_model *m, struct aid_weight *w, bool required, uint32_t cols, uint32_t rows,
                struct aid_error *err, const char *fmt, ...)
{
        const struct gguf_tensor *t;
        char name[GGUF_MAX_TENSOR_NAME + 1], have[96], want[48];
        uint64_t row_bytes;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(name, sizeof(name), fmt, ap);
        va_end(ap);

        t = gguf_find_tensor(m->gguf, name);
        if (!t) {
                if (required)
                        return aid_error_set(err, -EBADMSG, "tensor '%s' is missing", name);
                *w = (struct aid_weight){ 0 };
                return 0;
        }

        /* The reader gives dimensions past n_dims as 1, and, as llama.cpp, the sizes are compared
         * in all four: a 1-D tensor written as [E, 1] is the same tensor. */
        if (t->ne[0] != cols || t->ne[1] != (rows ? rows : 1) || t->ne[2] != 1 || t->ne[3] != 1) {
                shape_str(have, sizeof(have), t);
                if (rows)
                        snprintf(want, sizeof(want), "[%" PRIu32 ", %" PRIu32 "]", cols, rows);
                else
                        snprintf(want, sizeof(want), "[%" PRIu32 "]", cols);
                return aid_error_set(
                                err, -EBADMSG, "tensor '%s' has shape %s, expected %s", name, have, want);
        }
        if (rows == 0 && t->type != GGML_TYPE_F32)
                return aid_error_set(err, -EOPNOTSUPP,
                                "tensor '%s' has type %s; aid expects F32 for 1-D tensors", name,
                                ggml_type_name(t->type));
        if (!ggml_type_is_supported(t->type))
                return aid_error_set(err, -EOPNOTSUPP, "tensor '%s' has type %s, which aid does not support",
                                name, ggml_type_name(t->type));
        if (ggml_row_bytes(t->type, cols, &row_bytes) < 0)
                return aid_error_set(err, -EBADMSG,
                                "tensor '%s': row length %" PRIu32 " is no multiple of the %s block size",
                                name, cols, ggml_type_name(t->type));
        if (t->n_bytes < row_bytes * (rows ? rows : 1))
                return aid_error_set(err, -EBADMSG,
                                "tensor '%s': %" PRIu64 " bytes are too few for its shape", name,
                                t->n_bytes);

        *w = (struct aid_weight){
                .name = t->name,
                .type = t->type,
                .data = t->data,
                .row_bytes = row_bytes,
                .rows = rows ? rows : 1,
                .cols = cols,
        };
        return 0;
}

static int key_u32(const struct gguf_file *f, const char *arch, const char *suffix, bool required,
                uint32_t def, uint32_t *ret, struct aid_error *err)
{
        char key[128];

        snprintf(key, sizeof(key), "%s.%s", arch, suffix);
        if (!gguf_find_kv(f, key)) {
                if (required)
                        return aid_error_set(err, -EBADMSG, "missing key '%s'", key);
                *ret = def;
                return 0;
        }
        return gguf_get_u32(f, key, ret, err);
}

static int key_f32(const struct gguf_file *f, const char *arch, const char *suffix, bool required, float def,
                float *ret, struct aid_error *err)
{
        char key[128];

        snprintf(key, sizeof(key), "%s.%s", arch, suffix);
        if (!gguf_find_kv(f, key)) {
                if (required)
                        return aid_error_set(err, -EBADMSG, "missing key '%s'", key);
                *ret = def;
                return 0;
        }
        return gguf_get_f32(f, key, ret, err);
}

static int positive(const char *arch, const char *suffix, uint32_t v, struct aid_error *err)
{
        if (v == 0)
                return aid_error_set(err, -EBADMSG, "key '%s.%s' is 0", arch, suffix);
        return 0;
}

/* Positions are multiplied by 1 / factor: an infinite factor stops every rotation and one whose
 * inverse overflows (1e-45) makes the angles, and so the logits, NaN. */
static bool valid_rope_factor(float factor)
{
        return factor > 0 && isfinite(factor) && isfinite(1.0f / factor);
}

/* Linear scaling divides positions by the factor (ggml's freq_scale = 1 / factor). Llama 3's
 * frequency-dependent scaling needs no key: its per-frequency divisors come as the
 * rope_freqs.weight tensor. */
static int load_rope_scaling(struct aid_model *m, const char *arch, struct aid_error *err)
{
        struct aid_hparams *hp = &m->hp;
        struct gguf_str type = { "none", 4 };
        char key[128];
        float factor = 0;
        int r;

        hp->rope_freq_scale = 1.0f;
        snprintf(key, sizeof(key), "%s.rope.scaling.type", arch);
        if (gguf_find_kv(m->gguf, key)) {
                r = gguf_get_str(m->gguf, key, &type, err);
                if (r < 0)
                        return r;
        }
        if (gguf_str_eq(type, "none"))
                factor = 0;
        else if (gguf_str_eq(type, "linear")) {
                r = key_f32(m->gguf, arch, "rope.scaling.factor", true, 0, &factor, err);
                if (r < 0)
                        return r;
                if (!valid_rope_factor(factor))
                        return aid_error_set(err, -EBADMSG,
                                        "key '%s.rope.scaling.factor' (%g) must be finite and > 0, with a "
                                        "finite inverse",
                                        arch, factor);
        } else
                return aid_error_set(err, -EOPNOTSUPP,
                                "key '%s' = '%.*s': aid supports RoPE scaling 'none' and 'linear'", key,
                                (int)MIN(type.len, 32u), type.data);

        /* Older files say the same with rope.scale_linear. */
        if (factor == 0) {
                r = key_f32(m->gguf, arch, "rope.scale_linear", false, 0, &factor, err);
                if (r < 0)
                        return r;
                /* 0 says no scaling, as in llama.cpp. */
                if (factor != 0 && !valid_rope_factor(factor))
                        return aid_error_set(err, -EBADMSG,
                                        "key '%s.rope.scale_linear' (%g) must be 0, or finite and > 0 with "
                                        "a finite inverse",
                                        arch, factor);
        }
        if (factor > 0)
                hp->rope_freq_scale = 1.0f / factor;
        return 0;
}

static int load_hparams(struct aid_model *m, struct aid_error *err)
{
        struct aid_hparams *hp = &m->hp;
        const struct gguf_value *tokens = NULL;
        struct gguf_str arch_str;
        uint32_t key_len, val_len, n_vocab_key = 0;
        const char *arch;
        char archbuf[32];
        int r;

        r = gguf_get_str(m->gguf, "general.architecture", &arch_str, err);
        if (r == -ENOKEY)
                return aid_error_set(err, -EBADMSG, "missing key 'general.architecture'");
        if (r < 0)
                return r;
        /* As the registry's probe says it: a name with a NUL would end early in the message. */
        if (arch_str.len == 0 || memchr(arch_str.data, '\0', arch_str.len))
                return aid_error_set(
                                err, -EBADMSG, "key 'general.architecture' is empty or holds a NUL byte");
        for (size_t i = 0;; i++) {
                if (i == ELEMENTSOF(arch_names))
                        return aid_error_set(err, -EOPNOTSUPP,
                                        "architecture '%.*s' is not supported (aid runs llama, qwen2, phi3 "
                                        "and gemma3)",
                                        (int)MIN(arch_str.len, 64u), arch_str.data);
                if (gguf_str_eq(arch_str, arch_names[i])) {
                        hp->arch = (enum aid_arch)i;
                        break;
                }
        }
        snprintf(archbuf, sizeof(archbuf), "%s", arch_names[hp->arch]);
        arch = archbuf;

        if ((r = key_u32(m->gguf, arch, "context_length", true, 0, &hp->n_ctx_train, err)) < 0 ||
                        (r = key_u32(m->gguf, arch, "embedding_length", true, 0, &hp->n_embd, err)) < 0 ||
                        (r = key_u32(m->gguf, arch, "block_count", true, 0, &hp->n_layer, err)) < 0 ||
                        (r = key_u32(m->gguf, arch, "feed_forward_length", true, 0, &hp->n_ff, err)) < 0 ||
                        (r = key_u32(m->gguf, arch, "attention.head_count", true, 0, &hp->n_head, err)) <
                                        0 ||
                        (r = key_u32(m->gguf, arch, "attention.head_count_kv", false, hp->n_head,
                                         &hp->n_head_kv, err)) < 0 ||
                        (r = key_f32(m->gguf, arch, "attention.layer_norm_rms_epsilon", true, 0,
                                         &hp->rms_eps, err)) < 0 ||
                        (r = key_f32(m->gguf, arch, "rope.freq_base", false, 10000.0f, &hp->rope_base,
                                         err)) < 0)
                return r;
        if ((r = positive(arch, "context_length", hp->n_ctx_train, err)) < 0 ||
                        (r = positive(arch, "embedding_length", hp->n_embd, err)) < 0 ||
                        (r = positive(arch, "block_count", hp->n_layer, err)) < 0 ||
                        (r = positive(arch, "feed_forward_length", hp->n_ff, err)) < 0 ||
                        (r = positive(arch, "attention.head_count", hp->n_head, err)) < 0 ||
                        (r = positive(arch, "attention.head_count_kv", hp->n_head_kv, err)) < 0)
                return r;
        if (hp->n_head % hp->n_head_kv != 0)
                return aid_error_set(err, -EBADMSG,
                                "key '%s.attention.head_count' (%" PRIu32
                                ") is no multiple of '%s.attention.head_count_kv' (%" PRIu32 ")",
                                arch, hp->n_head, arch, hp->n_head_kv);
        /* Infinity passes "> 0" but is neither: an infinite epsilon zeroes every norm's output
         * and so all logits, an infinite base every rotation but the first pair's. */
        const bool eps_ok = hp->rms_eps > 0 && isfinite(hp->rms_eps);
        if (!eps_ok || !(hp->rope_base > 0 && isfinite(hp->rope_base)))
                return aid_error_set(err, -EBADMSG, "key '%s.%s' must be finite and > 0", arch,
                                eps_ok ? "rope.freq_base" : "attention.layer_norm_rms_epsilon");

        /* Heads are n_embd / n_head wide unless the file says otherwise (gemma3 does). */
        r = key_u32(m->gguf, arch, "attention.key_length", false, 0, &key_len, err);
        if (r < 0)
                return r;
        r = key_u32(m->gguf, arch, "attention.value_length", false, key_len, &val_len, err);
        if (r < 0)
                return r;
        if (key_len == 0) {
                if (hp->n_embd % hp->n_head != 0)
                        return aid_error_set(err, -EBADMSG,
                                        "key '%s.embedding_length' (%" PRIu32
                                        ") is no multiple of '%s.attention.head_count' (%" PRIu32
                                        ") and '%s.attention.key_length' is absent",
                                        arch, hp->n_embd, arch, hp->n_head, arch);
                key_len = hp->n_embd / hp->n_head;
                if (val_len == 0)
                        val_len = key_len;
        }
        if (key_len != val_len)
                return aid_error_set(err, -EOPNOTSUPP,
                                "keys '%s.attention.key_length' (%" PRIu32
                                ") and '%s.attention.value_length' (%" PRIu32
                                ") differ; aid needs them equal",
                                arch, key_len, arch, val_len);
        if (key_len % 2 != 0)
                return aid_error_set(err, -EBADMSG, "head size %" PRIu32 " is odd", key_len);
        /* The loaders compare tensor shapes with n_head · head_dim (and phi3's fused width,
         * that plus 2 · n_head_kv · head_dim) in 32 bits: a head count that wraps the product
         * around to the real width would pass those checks. */
        if ((uint64_t)hp->n_head * key_len > UINT32_MAX / 4)
                return aid_error_set(err, -EBADMSG,
                                "key '%s.attention.head_count' (%" PRIu32 ") times the head size %" PRIu32
                                " is too large",
                                arch, hp->n_head, key_len);
        hp->head_dim = key_len;

        r = key_u32(m->gguf, arch, "rope.dimension_count", false, hp->head_dim, &hp->n_rot, err);
        if (r < 0)
                return r;
        if (hp->n_rot == 0 || hp->n_rot % 2 != 0 || hp->n_rot > hp->head_dim)
                return aid_error_set(err, -EBADMSG,
                                "key '%s.rope.dimension_count' (%" PRIu32
                                ") must be even and at most the head size %" PRIu32,
                                arch, hp->n_rot, hp->head_dim);
        r = load_rope_scaling(m, arch, err);
        if (r < 0)
                return r;

        /* The vocabulary size: vocab_size when written, else the tokenizer's token count; both
         * must agree with each other and (checked with the tensors) with the embedding. */
        r = key_u32(m->gguf, arch, "vocab_size", false, 0, &n_vocab_key, err);
        if (r < 0)
                return r;
        if (gguf_find_kv(m->gguf, "tokenizer.ggml.tokens")) {
                r = gguf_get_arr(m->gguf, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, err);
                if (r < 0)
                        return r;
                if (n_vocab_key && tokens->arr.n != n_vocab_key)
                        return aid_error_set(err, -EBADMSG,
                                        "key '%s.vocab_size' (%" PRIu32
                                        ") contradicts 'tokenizer.ggml.tokens' (%" PRIu64 " tokens)",
                                        arch, n_vocab_key, tokens->arr.n);
                if (tokens->arr.n > UINT32_MAX / 2)
                        return aid_error_set(err, -EBADMSG, "'tokenizer.ggml.tokens' has too many tokens");
                hp->n_vocab = (uint32_t)tokens->arr.n;
        } else
                hp->n_vocab = n_vocab_key;

        hp->rope_base_local = hp->rope_base;
        return 0;
}

static int load_common_tensors(struct aid_model *m, struct aid_error *err)
{
        struct aid_hparams *hp = &m->hp;
        const struct gguf_tensor *emb;
        int r;

        if (gguf_n_tensors(m->gguf) == 0)
                return aid_error_set(err, -EBADMSG, "the file has no tensors (a vocabulary-only file?)");
        /* The kernels read the weights in place with typed and SIMD loads, so every tensor must
         * start aligned for its type. GGUF asks for a multiple of 8 (ggml takes any power of
         * two, and a smaller one leaves F32 and block data misaligned). */
        if (gguf_alignment(m->gguf) % 8 != 0)
                return aid_error_set(err, -EBADMSG,
                                "key 'general.alignment' (%" PRIu32
                                ") is no multiple of 8, as GGUF requires",
                                gguf_alignment(m->gguf));
        emb = gguf_find_tensor(m->gguf, "token_embd.weight");
        if (!emb)
                return aid_error_set(err, -EBADMSG, "tensor 'token_embd.weight' is missing");
        if (hp->n_vocab == 0) {
                /* No tokenizer and no vocab_size: the embedding says it. */
                if (emb->n_dims != 2 || emb->ne[1] > UINT32_MAX / 2)
                        return aid_error_set(err, -EBADMSG, "tensor 'token_embd.weight' is not a matrix");
                hp->n_vocab = (uint32_t)emb->ne[1];
        } else if (emb->n_dims == 2 && emb->ne[0] == hp->n_embd && emb->ne[1] != hp->n_vocab)
                return aid_error_set(err, -EBADMSG,
                                "the vocabulary has %" PRIu32
                                " tokens but tensor 'token_embd.weight' has %" PRIu64 " rows",
                                hp->n_vocab, emb->ne[1]);

        r = aid_model_weight(m, &m->token_embd, true, hp->n_embd, hp->n_vocab, err, "token_embd.weight");
        if (r < 0)
                return r;
        r = aid_model_weight(m, &m->output_norm, true, hp->n_embd, 0, err, "output_norm.weight");
        if (r < 0)
                return r;
        r = aid_model_weight(m, &m->output, false, hp->n_embd, hp->n_vocab, err, "output.weight");
        if (r < 0)
                return r;
        if (!m->output.data)
                m->output = m->token_embd; /* tied embeddings */
        r = aid_model_weight(m, &m->rope_freqs, false, hp->n_rot / 2, 0, err, "rope_freqs.weight");
        if (r < 0)
                return r;
        if (gguf_find_tensor(m->gguf, "rope_factors_long.weight"))
                return aid_error_set(err, -EOPNOTSUPP,
                                "tensor 'rope_factors_long.weight': LongRoPE scaling is not supported");

        /* Every layer has tensors of its own: a larger count is a bad key, not a reason to
         * allocate terabytes of layer records. */
        if (hp->n_layer > gguf_n_tensors(m->gguf))
                return aid_error_set(err, -EBADMSG,
                                "key '%s.block_count' (%" PRIu32 ") is more layers than the file's %" PRIu64
                                " tensors can hold",
                                arch_names[hp->arch], hp->n_layer, gguf_n_tensors(m->gguf));
        m->layers = calloc(hp->n_layer, sizeof(*m->layers));
        if (!m->layers)
                return aid_error_set(err, -ENOMEM, "out of memory");
        for (uint32_t l = 0; l < hp->n_layer; l++) {
                m->layers[l].rope_base = hp->rope_base;
                m->layers[l].rope_freq_scale = hp->rope_freq_scale;
        }
        m->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
        m->embd_scale = 1.0f;
        return 0;
}

int aid_model_load(const char *path, struct aid_model **ret_model, struct aid_error *err)
{
        struct aid_model *m;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return aid_error_set(err, -ENOMEM, "out of memory");
        r = gguf_open(path, &m->gguf, err);
        if (r < 0)
                goto fail;
        r = load_hparams(m, err);
        if (r < 0)
                goto fail;
        r = load_common_tensors(m, err);
        if (r < 0)
                goto fail;
        if (m->hp.arch == AID_ARCH_GEMMA3)
                r = aid_gemma3_load(m, err);
        else
                r = aid_llama_load(m, err);
        if (r < 0)
                goto fail;

        /* A model file without a usable vocabulary still evaluates token ids. */
        if (gguf_find_kv(m->gguf, "tokenizer.ggml.model")) {
                r = aid_tokenizer_new_from_gguf(m->gguf, &m->tokenizer, &m->tokenizer_err);
                if (r < 0) {
                        m->tokenizer = NULL;
                        if (m->tokenizer_err.code == 0)
                                aid_error_set(&m->tokenizer_err, r, "its vocabulary cannot be read: %s",
                                                strerror(-r));
                }
        }

        *ret_model = m;
        return 0;
fail:
        aid_error_prefix(err, "%s", path);
        aid_model_free(m);
        return r;
}

struct aid_model *aid_model_free(struct aid_model *m)
{
        if (!m)
                return NULL;
        aid_tokenizer_free(m->tokenizer);
        free(m->layers);
        gguf_close(m->gguf);
        free(m);
        return NULL;
}

const struct aid_hparams *aid_model_hparams(const struct aid_model *m)
{
        return &m->hp;
}

const struct aid_tokenizer *aid_model_tokenizer(const struct aid_model *m)
{
        return m->tokenizer;
}

const char *aid_model_tokenizer_problem(const struct aid_model *m)
{
        if (m->tokenizer)
                return NULL;
        if (m->tokenizer_err.code == 0)
                return "the file has no tokenizer.ggml.model key";
        return m->tokenizer_err.message;
}

const struct gguf_file *aid_model_gguf(const struct aid_model *m)
{
        return m->gguf;
}
