/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Vocabulary from GGUF metadata: token texts, scores and types, the BPE merge ranks, special
 * token ids and the defaults llama.cpp applies per tokenizer model. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "tokenizer-internal.h"

static uint64_t hash_bytes(const char *s, size_t len)
{
        uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
        for (size_t i = 0; i < len; i++)
                h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
        return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x)
{
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 33;
        return x;
}

static size_t table_size(size_t n)
{
        size_t size = 16;
        while (size < 2 * n)
                size *= 2;
        return size;
}

int32_t aid_vocab_find(const struct aid_tokenizer *t, const char *s, size_t len)
{
        for (size_t i = hash_bytes(s, len) & t->slots_mask;; i = (i + 1) & t->slots_mask) {
                uint32_t v = t->slots[i];
                if (v == 0)
                        return -1;
                const struct aid_token *tok = &t->tokens[v - 1];
                if (tok->len == len && memcmp(t->text + tok->off, s, len) == 0)
                        return (int32_t)(v - 1);
        }
}

/* A later token with the same text replaces the earlier one, as in llama.cpp's map. */
static void vocab_insert(struct aid_tokenizer *t, uint32_t id)
{
        const struct aid_token *tok = &t->tokens[id];
        for (size_t i = hash_bytes(t->text + tok->off, tok->len) & t->slots_mask;;
                        i = (i + 1) & t->slots_mask) {
                uint32_t v = t->slots[i];
                if (v == 0 || (t->tokens[v - 1].len == tok->len &&
                                              memcmp(t->text + t->tokens[v - 1].off, t->text + tok->off,
                                                              tok->len) == 0)) {
                        t->slots[i] = id + 1;
                        return;
                }
        }
}

int64_t aid_vocab_merge_rank(const struct aid_tokenizer *t, int32_t left, int32_t right)
{
        if (!t->merge_keys)
                return -1;
        uint64_t key = (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
        for (size_t i = hash_u64(key) & t->merges_mask;; i = (i + 1) & t->merges_mask) {
                if (t->merge_keys[i] == 0)
                        return -1;
                if (t->merge_keys[i] == key)
                        return t->merge_ranks[i];
        }
}

/* The first occurrence of a pair keeps its rank, as llama.cpp's emplace does. */
static void merge_insert(struct aid_tokenizer *t, int32_t left, int32_t right, uint32_t rank)
{
        uint64_t key = (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
        for (size_t i = hash_u64(key) & t->merges_mask;; i = (i + 1) & t->merges_mask) {
                if (t->merge_keys[i] == key)
                        return;
                if (t->merge_keys[i] == 0) {
                        t->merge_keys[i] = key;
                        t->merge_ranks[i] = rank;
                        return;
                }
        }
}

static int load_merges(struct aid_tokenizer *t, const struct gguf_file *f, struct aid_error *err)
{
        const struct gguf_value *merges;
        int r = gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_TYPE_STRING, &merges, err);
        if (r < 0)
                return r;
        size_t size = table_size(merges->arr.n);
        t->merge_keys = calloc(size, sizeof(uint64_t));
        t->merge_ranks = calloc(size, sizeof(uint32_t));
        if (!t->merge_keys || !t->merge_ranks)
                return aid_error_set(err, -ENOMEM, "out of memory for %" PRIu64 " merges", merges->arr.n);
        t->merges_mask = size - 1;
        for (uint64_t i = 0; i < merges->arr.n; i++) {
                struct gguf_str m = gguf_arr_str(merges, i);
                const char *space = m.len > 1 ? memchr(m.data + 1, ' ', m.len - 1) : NULL;
                if (!space)
                        return aid_error_set(err, -EBADMSG,
                                        "tokenizer.ggml.merges[%" PRIu64
                                        "] '%.*s' is not two tokens separated by a space",
                                        i, (int)MIN(m.len, 64), m.data);
                size_t left_len = (size_t)(space - m.data);
                int32_t left = aid_vocab_find(t, m.data, left_len);
                int32_t right = aid_vocab_find(t, space + 1, m.len - left_len - 1);
                if (left < 0 || right < 0)
                        return aid_error_set(err, -EBADMSG,
                                        "tokenizer.ggml.merges[%" PRIu64
                                        "] '%.*s' names a token missing from tokenizer.ggml.tokens",
                                        i, (int)MIN(m.len, 64), m.data);
                merge_insert(t, left, right, (uint32_t)i);
        }
        return 0;
}

/* Optional token id key: absent keeps the default; negative means none. */
static int get_id(const struct gguf_file *f, const char *key, size_t n_tokens, int32_t *id,
                struct aid_error *err)
{
        if (!gguf_find_kv(f, key))
                return 0;
        int64_t v;
        int r = gguf_get_i64(f, key, &v, err);
        if (r < 0)
                return r;
        if (v < 0) {
                *id = -1;
                return 0;
        }
        if ((uint64_t)v >= n_tokens)
                return aid_error_set(err, -EBADMSG,
                                "%s = %" PRId64 " is outside the vocabulary of %zu tokens", key, v,
                                n_tokens);
        *id = (int32_t)v;
        return 0;
}

static int get_flag(const struct gguf_file *f, const char *key, bool *value, struct aid_error *err)
{
        if (!gguf_find_kv(f, key))
                return 0;
        return gguf_get_bool(f, key, value, err);
}

static int cmp_special(const void *a, const void *b, void *userdata)
{
        const struct aid_tokenizer *t = userdata;
        int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
        if (t->tokens[x].len != t->tokens[y].len)
                return t->tokens[x].len > t->tokens[y].len ? -1 : 1;
        return x < y ? -1 : x > y;
}

static bool name_contains(struct gguf_str name, const char *needle)
{
        size_t n = strlen(needle);
        for (size_t i = 0; i + n <= name.len; i++) {
                size_t j = 0;
                while (j < n && (name.data[i + j] | 0x20) == needle[j])
                        j++;
                if (j == n)
                        return true;
        }
        return false;
}

static void set_rstrip(struct aid_tokenizer *t, const char *text, bool value)
{
        int32_t id = aid_vocab_find(t, text, strlen(text));
        if (id >= 0)
                t->tokens[id].rstrip = value;
}

static int build_special(struct aid_tokenizer *t, const struct gguf_file *f)
{
        t->special = calloc(t->n_tokens, sizeof(int32_t));
        if (!t->special)
                return -ENOMEM;
        for (size_t i = 0; i < t->n_tokens; i++) {
                uint8_t type = t->tokens[i].type;
                if ((type == AID_TOKEN_CONTROL || type == AID_TOKEN_USER_DEFINED ||
                                    type == AID_TOKEN_UNKNOWN) &&
                                t->tokens[i].len > 0)
                        t->special[t->n_special++] = (int32_t)i;
        }
        qsort_r(t->special, t->n_special, sizeof(int32_t), cmp_special, t);

        /* llama.cpp gives Phi-3's special tokens an rstrip attribute by model name (the GGUF has
         * no per-token attributes): the whitespace after them is not text. */
        struct gguf_str name = { "", 0 };
        if (gguf_find_kv(f, "general.name"))
                (void)gguf_get_str(f, "general.name", &name, NULL);
        if (name_contains(name, "phi-3") || name_contains(name, "phi3")) {
                for (size_t i = 0; i < t->n_special; i++)
                        t->tokens[t->special[i]].rstrip = true;
                set_rstrip(t, "</s>", true);
                set_rstrip(t, "<unk>", false);
                set_rstrip(t, "<s>", false);
                set_rstrip(t, "<|endoftext|>", false);
        }
        return 0;
}

static int build_eog(struct aid_tokenizer *t)
{
        static const char *const eot_texts[] = {
                "<|eot_id|>",
                "<|im_end|>",
                "<|end|>",
                "<end_of_turn>",
                "<|endoftext|>",
                "<EOT>",
                "_<EOT>",
                "<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234>", /* DeepSeek (octal
                                                                                      escapes) */
                "<end_of_utterance>",
        };
        static const char *const eog_texts[] = {
                "<|eot_id|>",
                "<|im_end|>",
                "<|end|>",
                "<end_of_turn>",
                "<|endoftext|>",
                "<|eom_id|>",
                "<EOT>",
                "_<EOT>",
                "<|end_of_text|>",
                "<end_of_utterance>",
        };

        if (t->eot < 0)
                for (size_t i = 0; i < ELEMENTSOF(eot_texts) && t->eot < 0; i++)
                        t->eot = aid_vocab_find(t, eot_texts[i], strlen(eot_texts[i]));

        t->eog = calloc(ELEMENTSOF(eog_texts) + 3, sizeof(int32_t));
        if (!t->eog)
                return -ENOMEM;
        int32_t candidates[ELEMENTSOF(eog_texts) + 3] = { t->eos, t->eot, t->eom };
        for (size_t i = 0; i < ELEMENTSOF(eog_texts); i++)
                candidates[3 + i] = aid_vocab_find(t, eog_texts[i], strlen(eog_texts[i]));
        for (size_t i = 0; i < ELEMENTSOF(candidates); i++) {
                if (candidates[i] < 0)
                        continue;
                bool seen = false;
                for (size_t j = 0; j < t->n_eog; j++)
                        seen = seen || t->eog[j] == candidates[i];
                if (!seen)
                        t->eog[t->n_eog++] = candidates[i];
        }
        return 0;
}

static int load_tokens(struct aid_tokenizer *t, const struct gguf_file *f, struct aid_error *err)
{
        const struct gguf_value *tokens, *scores = NULL, *types = NULL;
        int r = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, err);
        if (r < 0)
                return r;
        if (tokens->arr.n == 0 || tokens->arr.n >= INT32_MAX)
                return aid_error_set(err, -EBADMSG, "tokenizer.ggml.tokens has %" PRIu64 " entries",
                                tokens->arr.n);
        size_t n = (size_t)tokens->arr.n;

        if (gguf_find_kv(f, "tokenizer.ggml.scores")) {
                r = gguf_get_arr(f, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, &scores, err);
                if (r < 0)
                        return r;
                if (scores->arr.n != n)
                        return aid_error_set(err, -EBADMSG,
                                        "tokenizer.ggml.scores has %" PRIu64
                                        " entries but tokenizer.ggml.tokens %zu",
                                        scores->arr.n, n);
        }
        if (gguf_find_kv(f, "tokenizer.ggml.token_type")) {
                r = gguf_get_arr(f, "tokenizer.ggml.token_type", _GGUF_TYPE_MAX, &types, err);
                if (r < 0)
                        return r;
                if (types->arr.elem_type > GGUF_TYPE_INT32 && types->arr.elem_type != GGUF_TYPE_UINT64 &&
                                types->arr.elem_type != GGUF_TYPE_INT64)
                        return aid_error_set(err, -EBADMSG,
                                        "tokenizer.ggml.token_type holds %s, not integers",
                                        gguf_value_type_name(types->arr.elem_type));
                if (types->arr.n != n)
                        return aid_error_set(err, -EBADMSG,
                                        "tokenizer.ggml.token_type has %" PRIu64
                                        " entries but tokenizer.ggml.tokens %zu",
                                        types->arr.n, n);
        }

        size_t text_size = 0;
        for (size_t i = 0; i < n; i++) {
                struct gguf_str s = gguf_arr_str(tokens, i);
                if (s.len > UINT32_MAX - text_size)
                        return aid_error_set(err, -EBADMSG, "tokenizer.ggml.tokens is too large");
                text_size += s.len;
        }
        t->tokens = calloc(n, sizeof(struct aid_token));
        t->text = malloc(text_size + 1);
        t->slots = calloc(table_size(n), sizeof(uint32_t));
        if (!t->tokens || !t->text || !t->slots)
                return aid_error_set(err, -ENOMEM, "out of memory for %zu tokens", n);
        t->slots_mask = table_size(n) - 1;
        t->n_tokens = n;

        size_t off = 0;
        for (size_t i = 0; i < n; i++) {
                struct gguf_str s = gguf_arr_str(tokens, i);
                struct aid_token *tok = &t->tokens[i];
                memcpy(t->text + off, s.data, s.len);
                tok->off = (uint32_t)off;
                tok->len = (uint32_t)s.len;
                off += s.len;
                tok->score = scores ? (float)gguf_arr_f64(scores, i) : 0.0f;
                tok->type = AID_TOKEN_NORMAL;
                if (types) {
                        int64_t type = gguf_arr_i64(types, i);
                        if (type < AID_TOKEN_UNDEFINED || type > AID_TOKEN_BYTE)
                                return aid_error_set(err, -EBADMSG,
                                                "tokenizer.ggml.token_type[%zu] = %" PRId64
                                                " is no token type",
                                                i, type);
                        tok->type = (uint8_t)type;
                }
                t->max_token_len = MAX(t->max_token_len, s.len);
                vocab_insert(t, (uint32_t)i);
        }
        return 0;
}

int aid_vocab_load(struct aid_tokenizer *t, const struct gguf_file *f, struct aid_error *err)
{
        struct gguf_str model;
        int r = gguf_get_str(f, "tokenizer.ggml.model", &model, err);
        if (r < 0)
                return r;
        if (gguf_str_eq(model, "llama"))
                t->kind = AID_VOCAB_SPM;
        else if (gguf_str_eq(model, "gpt2"))
                t->kind = AID_VOCAB_BPE;
        else if (gguf_str_eq(model, "bert"))
                t->kind = AID_VOCAB_WPM;
        else
                return aid_error_set(err, -EOPNOTSUPP,
                                "tokenizer model '%.*s' (tokenizer.ggml.model) is not supported; supported: "
                                "llama, gpt2, bert",
                                (int)MIN(model.len, 64), model.data);

        r = load_tokens(t, f, err);
        if (r < 0)
                return r;

        t->bos = t->eos = t->eot = t->eom = t->unk = t->sep = -1;
        switch (t->kind) {
        case AID_VOCAB_SPM:
                t->bos = 1, t->eos = 2, t->unk = 0;
                t->add_bos = true, t->add_space_prefix = true;
                break;
        case AID_VOCAB_BPE: {
                t->bos = 11, t->eos = 11;
                struct gguf_str pre = { "default", 7 };
                if (gguf_find_kv(f, "tokenizer.ggml.pre")) {
                        r = gguf_get_str(f, "tokenizer.ggml.pre", &pre, err);
                        if (r < 0)
                                return r;
                }
                t->pre = aid_pretokenizer_find(pre.data, pre.len, &t->ignore_merges);
                if (!t->pre)
                        return aid_error_set(err, -EOPNOTSUPP,
                                        "pre-tokenizer '%.*s' (tokenizer.ggml.pre) is not supported",
                                        (int)MIN(pre.len, 64), pre.data);
                /* llama.cpp adds BOS for the llama3 family by default. */
                t->add_bos = t->ignore_merges;
                r = load_merges(t, f, err);
                if (r < 0)
                        return r;
                break;
        }
        case AID_VOCAB_WPM:
                t->bos = 101, t->unk = 100, t->sep = 102;
                t->add_bos = true, t->add_sep = true;
                r = get_id(f, "tokenizer.ggml.cls_token_id", t->n_tokens, &t->bos, err);
                if (r < 0)
                        return r;
                break;
        }
        for (int32_t *id = &t->bos; id <= &t->sep; id++)
                if (*id >= (int32_t)t->n_tokens)
                        *id = -1;

        static const struct {
                const char *key;
                size_t offset;
        } ids[] = {
                { "tokenizer.ggml.bos_token_id", offsetof(struct aid_tokenizer, bos) },
                { "tokenizer.ggml.eos_token_id", offsetof(struct aid_tokenizer, eos) },
                { "tokenizer.ggml.eot_token_id", offsetof(struct aid_tokenizer, eot) },
                { "tokenizer.ggml.eom_token_id", offsetof(struct aid_tokenizer, eom) },
                { "tokenizer.ggml.unknown_token_id", offsetof(struct aid_tokenizer, unk) },
                { "tokenizer.ggml.seperator_token_id", offsetof(struct aid_tokenizer, sep) },
        };
        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                r = get_id(f, ids[i].key, t->n_tokens, (int32_t *)((char *)t + ids[i].offset), err);
                if (r < 0)
                        return r;
        }
        if ((r = get_flag(f, "tokenizer.ggml.add_bos_token", &t->add_bos, err)) < 0 ||
                        (r = get_flag(f, "tokenizer.ggml.add_eos_token", &t->add_eos, err)) < 0 ||
                        (r = get_flag(f, "tokenizer.ggml.add_sep_token", &t->add_sep, err)) < 0 ||
                        (r = get_flag(f, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix, err)) < 0)
                return r;

        for (int b = 0; b < 256; b++) {
                char hex[7];
                snprintf(hex, sizeof(hex), "<0x%02X>", b);
                char raw = (char)b;
                t->byte_token[b] = aid_vocab_find(t, hex, 6);
                if (t->byte_token[b] < 0)
                        t->byte_token[b] = aid_vocab_find(t, &raw, 1);
        }

        if (build_special(t, f) < 0 || build_eog(t) < 0)
                return aid_error_set(err, -ENOMEM, "out of memory");
        return 0;
}
