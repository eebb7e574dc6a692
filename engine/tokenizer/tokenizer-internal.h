/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "tokenizer.h"
#include "unicode.h"

/* tokenizer.ggml.token_type values (llama.cpp's llama_token_type). */
enum {
        AID_TOKEN_UNDEFINED = 0,
        AID_TOKEN_NORMAL = 1,
        AID_TOKEN_UNKNOWN = 2,
        AID_TOKEN_CONTROL = 3,
        AID_TOKEN_USER_DEFINED = 4,
        AID_TOKEN_UNUSED = 5,
        AID_TOKEN_BYTE = 6,
};

enum aid_vocab_kind {
        AID_VOCAB_SPM,
        AID_VOCAB_BPE,
        AID_VOCAB_WPM,
};

struct aid_token {
        uint32_t off, len; /* text in aid_tokenizer.text */
        float score;
        uint8_t type;
        bool rstrip; /* matched special text eats the whitespace after it */
};

struct aid_pretokenizer;

struct aid_tokenizer {
        enum aid_vocab_kind kind;
        const struct aid_pretokenizer *pre;
        bool ignore_merges; /* BPE: a word that is a token is taken whole (llama3) */

        size_t n_tokens;
        struct aid_token *tokens;
        char *text;
        size_t max_token_len;

        uint32_t *slots; /* text -> id + 1 (0: empty), open addressing */
        size_t slots_mask;

        uint64_t *merge_keys; /* (left id << 32 | right id) + 1, 0: empty */
        uint32_t *merge_ranks;
        size_t merges_mask;

        int32_t byte_token[256]; /* SPM byte fallback: <0xXX> */

        int32_t *special; /* control, user-defined and unknown tokens, longest text first */
        size_t n_special;
        int32_t *eog;
        size_t n_eog;

        int32_t bos, eos, eot, eom, unk, sep;
        bool add_bos, add_eos, add_sep, add_space_prefix;
};

/* Growable token output. */
struct aid_tokens {
        int32_t *ids;
        size_t n, cap;
};
int aid_tokens_push(struct aid_tokens *out, int32_t id);

int32_t aid_vocab_find(const struct aid_tokenizer *t, const char *s, size_t len);
int64_t aid_vocab_merge_rank(const struct aid_tokenizer *t, int32_t left, int32_t right);
int aid_vocab_load(struct aid_tokenizer *t, const struct gguf_file *f, struct aid_error *err);

/* Symbol merging shared by SentencePiece (highest score first) and BPE (lowest rank first):
 * both take the best adjacent pair, leftmost on ties, until none is left. */
struct aid_symbol {
        int32_t prev, next;
        uint32_t off, len; /* len 0: merged into its left neighbour */
};
/* Priority of merging symbols a and b (higher first), false if they do not merge. */
typedef bool (*aid_pair_fn)(const struct aid_tokenizer *t, const char *text, const struct aid_symbol *a,
                const struct aid_symbol *b, double *ret_priority);
/* Splits text into UTF-8 characters and merges; *ret_symbols (malloc) in order, linked by
 * next from index 0 (-1 ends). */
int aid_merge_symbols(const struct aid_tokenizer *t, const char *text, size_t len, aid_pair_fn pair,
                struct aid_symbol **ret_symbols, size_t *ret_n);

int aid_spm_tokenize(const struct aid_tokenizer *t, const char *text, size_t len, bool space_prefix,
                struct aid_tokens *out);
int aid_bpe_tokenize(const struct aid_tokenizer *t, const char *text, size_t len, struct aid_tokens *out);
int aid_wpm_tokenize(const struct aid_tokenizer *t, const char *text, size_t len, struct aid_tokens *out);

/* Pre-tokenizers: NULL for an unknown name. */
const struct aid_pretokenizer *aid_pretokenizer_find(const char *name, size_t len, bool *ret_ignore_merges);
/* Splits text into words; *ret_lens (malloc) holds each word's length in code points, over the
 * code points *ret_cpts (malloc) decoded from text. */
int aid_pretokenize(const struct aid_pretokenizer *p, const char *text, size_t len, uint32_t **ret_cpts,
                size_t *ret_n_cpts, size_t **ret_lens, size_t *ret_n_words);

/* GPT-2's reversible byte <-> printable character map. */
uint32_t aid_gpt2_byte_to_cp(uint8_t b);
int aid_gpt2_cp_to_byte(uint32_t cp); /* -1 if cp is no byte's character */

int aid_token_piece(const struct aid_tokenizer *t, int32_t id, bool special, size_t lstrip, char *buf,
                size_t size);
