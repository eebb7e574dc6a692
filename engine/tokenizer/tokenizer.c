/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Public entry points: special-token partition of the input, then the vocabulary's algorithm
 * on each stretch of plain text, BOS/EOS as llama_tokenize adds them. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "tokenizer-internal.h"

int aid_tokens_push(struct aid_tokens *out, int32_t id)
{
        if (out->n == out->cap) {
                size_t cap = out->cap ? 2 * out->cap : 64;
                int32_t *ids = realloc(out->ids, cap * sizeof(int32_t));
                if (!ids)
                        return -ENOMEM;
                out->ids = ids;
                out->cap = cap;
        }
        out->ids[out->n++] = id;
        return 0;
}

struct aid_tokenizer *aid_tokenizer_free(struct aid_tokenizer *t)
{
        if (!t)
                return NULL;
        free(t->tokens);
        free(t->text);
        free(t->slots);
        free(t->merge_keys);
        free(t->merge_ranks);
        free(t->special);
        free(t->eog);
        free(t);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct aid_tokenizer *, aid_tokenizer_free);

int aid_tokenizer_new_from_gguf(const struct gguf_file *f, struct aid_tokenizer **ret, struct aid_error *err)
{
        _cleanup_(aid_tokenizer_freep) struct aid_tokenizer *t = calloc(1, sizeof(*t));
        if (!t)
                return aid_error_set(err, -ENOMEM, "out of memory");
        int r = aid_vocab_load(t, f, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(t);
        return 0;
}

/* A stretch of the input: plain text (id < 0) or a special token. */
struct fragment {
        int32_t id;
        size_t off, len;
};

struct fragments {
        struct fragment *items;
        size_t n, cap;
};

static int fragments_push(struct fragments *v, struct fragment fr)
{
        if (v->n == v->cap) {
                size_t cap = v->cap ? 2 * v->cap : 16;
                struct fragment *items = realloc(v->items, cap * sizeof(*items));
                if (!items)
                        return -ENOMEM;
                v->items = items;
                v->cap = cap;
        }
        v->items[v->n++] = fr;
        return 0;
}

/* Splits every text fragment at the occurrences of one special token's text, leftmost first,
 * dropping the whitespace an rstrip token eats. */
static int split_at(const struct aid_tokenizer *t, const char *text, int32_t id, struct fragments *in,
                struct fragments *out)
{
        const struct aid_token *tok = &t->tokens[id];
        const char *needle = t->text + tok->off;
        int r;

        out->n = 0;
        for (size_t i = 0; i < in->n; i++) {
                struct fragment fr = in->items[i];
                if (fr.id >= 0 || fr.len < tok->len) {
                        if ((r = fragments_push(out, fr)) < 0)
                                return r;
                        continue;
                }
                size_t pos = fr.off, end = fr.off + fr.len;
                while (pos < end) {
                        const char *m = memmem(text + pos, end - pos, needle, tok->len);
                        if (!m)
                                break;
                        size_t at = (size_t)(m - text);
                        if (at > pos && (r = fragments_push(out, (struct fragment){ -1, pos, at - pos })) <
                                                        0)
                                return r;
                        if ((r = fragments_push(out, (struct fragment){ id, at, tok->len })) < 0)
                                return r;
                        pos = at + tok->len;
                        if (tok->rstrip)
                                while (pos < end && isspace((unsigned char)text[pos]))
                                        pos++;
                }
                if (pos < end && (r = fragments_push(out, (struct fragment){ -1, pos, end - pos })) < 0)
                        return r;
        }
        return 0;
}

static int partition(const struct aid_tokenizer *t, const char *text, size_t len, bool parse_special,
                struct fragments *ret)
{
        struct fragments a = {}, b = {};
        int r = fragments_push(&a, (struct fragment){ -1, 0, len });

        for (size_t i = 0; r >= 0 && i < t->n_special; i++) {
                int32_t id = t->special[i];
                uint8_t type = t->tokens[id].type;
                /* Without parse_special only user-defined tokens are split out, as llama.cpp
                 * (and HF tokenizers for added tokens) does. */
                if (!parse_special && type != AID_TOKEN_USER_DEFINED)
                        continue;
                r = split_at(t, text, id, &a, &b);
                struct fragments swap = a;
                a = b;
                b = swap;
        }
        free(b.items);
        if (r < 0) {
                free(a.items);
                return r;
        }
        *ret = a;
        return 0;
}

int aid_tokenize(const struct aid_tokenizer *t, const char *text, size_t len, unsigned flags,
                int32_t **ret_tokens, size_t *ret_n, struct aid_error *err)
{
        bool add_special = flags & AID_TOKENIZE_ADD_SPECIAL;
        struct aid_tokens out = {};
        struct fragments frags = {};
        int r = 0;

        if (!text && len > 0)
                return aid_error_set(err, -EINVAL, "no text");
        if (len > 0 && (r = partition(t, text, len, flags & AID_TOKENIZE_PARSE_SPECIAL, &frags)) < 0)
                goto fail;

        if (add_special && t->add_bos && t->bos >= 0 && (r = aid_tokens_push(&out, t->bos)) < 0)
                goto fail;
        bool prev_special = true; /* SentencePiece prefixes a space at the start and after specials */
        for (size_t i = 0; i < frags.n && r >= 0; i++) {
                struct fragment fr = frags.items[i];
                if (fr.id >= 0) {
                        r = aid_tokens_push(&out, fr.id);
                        prev_special = true;
                        continue;
                }
                switch (t->kind) {
                case AID_VOCAB_SPM:
                        r = aid_spm_tokenize(
                                        t, text + fr.off, fr.len, t->add_space_prefix && prev_special, &out);
                        break;
                case AID_VOCAB_BPE:
                        r = aid_bpe_tokenize(t, text + fr.off, fr.len, &out);
                        break;
                case AID_VOCAB_WPM:
                        r = aid_wpm_tokenize(t, text + fr.off, fr.len, &out);
                        break;
                }
                prev_special = false;
        }
        if (r >= 0 && add_special) {
                if (t->kind == AID_VOCAB_WPM) {
                        if (t->add_sep && t->sep >= 0)
                                r = aid_tokens_push(&out, t->sep);
                } else if (t->add_eos && t->eos >= 0)
                        r = aid_tokens_push(&out, t->eos);
        }
        if (r < 0)
                goto fail;
        free(frags.items);
        if (out.n == 0) {
                free(out.ids);
                out.ids = NULL;
        }
        *ret_tokens = out.ids;
        *ret_n = out.n;
        return 0;
fail:
        free(frags.items);
        free(out.ids);
        return aid_error_set(err, r, "tokenizing %zu bytes: %s", len, strerror(-r));
}

size_t aid_tokenizer_n_vocab(const struct aid_tokenizer *t)
{
        return t->n_tokens;
}

int32_t aid_tokenizer_bos(const struct aid_tokenizer *t)
{
        return t->bos;
}

int32_t aid_tokenizer_eos(const struct aid_tokenizer *t)
{
        return t->eos;
}

int32_t aid_tokenizer_eot(const struct aid_tokenizer *t)
{
        return t->eot;
}

int32_t aid_tokenizer_unk(const struct aid_tokenizer *t)
{
        return t->unk;
}

bool aid_tokenizer_add_bos(const struct aid_tokenizer *t)
{
        return t->add_bos;
}

bool aid_tokenizer_add_space_prefix(const struct aid_tokenizer *t)
{
        return t->add_space_prefix;
}

bool aid_tokenizer_is_eog(const struct aid_tokenizer *t, int32_t id)
{
        for (size_t i = 0; i < t->n_eog; i++)
                if (t->eog[i] == id)
                        return true;
        return false;
}

bool aid_tokenizer_is_control(const struct aid_tokenizer *t, int32_t id)
{
        if (id < 0 || (size_t)id >= t->n_tokens)
                return false;
        return t->tokens[id].type == AID_TOKEN_CONTROL || t->tokens[id].type == AID_TOKEN_UNKNOWN;
}

bool aid_tokenizer_is_user_defined(const struct aid_tokenizer *t, int32_t id)
{
        return id >= 0 && (size_t)id < t->n_tokens && t->tokens[id].type == AID_TOKEN_USER_DEFINED;
}

const char *aid_tokenizer_token_text(const struct aid_tokenizer *t, int32_t id, size_t *ret_len)
{
        if (id < 0 || (size_t)id >= t->n_tokens)
                return NULL;
        *ret_len = t->tokens[id].len;
        return t->text + t->tokens[id].off;
}

int32_t aid_tokenizer_find(const struct aid_tokenizer *t, const char *s, size_t len)
{
        return aid_vocab_find(t, s, len);
}

/* Appends to buf what fits; returns the full length. */
static size_t emit(char *buf, size_t size, size_t at, const char *s, size_t n)
{
        if (at < size)
                memcpy(buf + at, s, MIN(n, size - at));
        return at + n;
}

int aid_token_piece(const struct aid_tokenizer *t, int32_t id, bool special, size_t lstrip, char *buf,
                size_t size)
{
        if (id < 0 || (size_t)id >= t->n_tokens)
                return -EINVAL;
        const struct aid_token *tok = &t->tokens[id];
        const char *s = t->text + tok->off;
        size_t n = tok->len, o = 0;
        char tmp[4];

        switch (tok->type) {
        case AID_TOKEN_CONTROL:
        case AID_TOKEN_UNKNOWN:
                if (!special)
                        return 0;
                break;
        case AID_TOKEN_USER_DEFINED:
                break;
        case AID_TOKEN_NORMAL:
                if (t->kind == AID_VOCAB_BPE) {
                        /* GPT-2 characters back to bytes; a character outside that alphabet
                         * stays as it is. */
                        for (size_t pos = 0; pos < n;) {
                                size_t start = pos;
                                int b = aid_gpt2_cp_to_byte(aid_utf8_decode(s, n, &pos));
                                if (b >= 0) {
                                        tmp[0] = (char)b;
                                        if (lstrip > 0 && o == 0 && b == ' ') {
                                                lstrip--;
                                                continue;
                                        }
                                        o = emit(buf, size, o, tmp, 1);
                                } else
                                        o = emit(buf, size, o, s + start, pos - start);
                        }
                        return (int)o;
                }
                /* U+2581 back to spaces */
                for (size_t i = 0; i < n;) {
                        if (n - i >= 3 && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
                                i += 3;
                                if (lstrip > 0 && o == 0) {
                                        lstrip--;
                                        continue;
                                }
                                o = emit(buf, size, o, " ", 1);
                        } else
                                o = emit(buf, size, o, s + i++, 1);
                }
                return (int)o;
        case AID_TOKEN_BYTE:
                if (t->kind == AID_VOCAB_BPE)
                        return 0;
                if (n == 6 && memcmp(s, "<0x", 3) == 0) {
                        tmp[0] = (char)strtoul((char[]){ s[3], s[4], 0 }, NULL, 16);
                        s = tmp;
                        n = 1;
                }
                break;
        default: /* unused and undefined tokens have no text */
                return 0;
        }
        while (lstrip > 0 && n > 0 && *s == ' ') {
                s++;
                n--;
                lstrip--;
        }
        return (int)emit(buf, size, 0, s, n);
}

int aid_token_to_piece(const struct aid_tokenizer *t, int32_t id, bool special, char *buf, size_t size)
{
        return aid_token_piece(t, id, special, 0, buf, size);
}
