/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Byte-level BPE (tokenizer.ggml.model = gpt2): pre-tokenized words are written in GPT-2's
 * byte alphabet (every byte a printable character) and merged by the rank of
 * tokenizer.ggml.merges, lowest first. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer-internal.h"

/* GPT-2's bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the others map in
 * order to U+0100 and up. */
static bool byte_is_printable(unsigned b)
{
        return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t aid_gpt2_byte_to_cp(uint8_t b)
{
        if (byte_is_printable(b))
                return b;
        uint32_t n = 0;
        for (unsigned i = 0; i < b; i++)
                n += !byte_is_printable(i);
        return 256 + n;
}

int aid_gpt2_cp_to_byte(uint32_t cp)
{
        if (cp < 256)
                return byte_is_printable(cp) ? (int)cp : -1;
        if (cp >= 256 + 68)
                return -1;
        uint32_t n = cp - 256;
        for (unsigned b = 0; b < 256; b++)
                if (!byte_is_printable(b) && n-- == 0)
                        return (int)b;
        return -1;
}

static bool bpe_pair(const struct aid_tokenizer *t, const char *text, const struct aid_symbol *a,
                const struct aid_symbol *b, double *ret_priority)
{
        int32_t left = aid_vocab_find(t, text + a->off, a->len);
        int32_t right = aid_vocab_find(t, text + b->off, b->len);
        if (left < 0 || right < 0)
                return false;
        int64_t rank = aid_vocab_merge_rank(t, left, right);
        if (rank < 0)
                return false;
        *ret_priority = -(double)rank;
        return true;
}

static int bpe_word(const struct aid_tokenizer *t, const char *word, size_t len, struct aid_tokens *out)
{
        int32_t id;
        if (t->ignore_merges && (id = aid_vocab_find(t, word, len)) >= 0)
                return aid_tokens_push(out, id);

        _cleanup_free_ struct aid_symbol *symbols = NULL;
        size_t n;
        int r = aid_merge_symbols(t, word, len, bpe_pair, &symbols, &n);
        if (r < 0)
                return r;
        for (int32_t i = n > 0 ? 0 : -1; i >= 0 && r >= 0; i = symbols[i].next) {
                id = aid_vocab_find(t, word + symbols[i].off, symbols[i].len);
                if (id >= 0) {
                        r = aid_tokens_push(out, id);
                        continue;
                }
                /* No token for the merged text: llama.cpp falls back to single-byte tokens and
                 * drops the bytes that have none. */
                for (uint32_t j = 0; j < symbols[i].len && r >= 0; j++) {
                        id = aid_vocab_find(t, word + symbols[i].off + j, 1);
                        if (id >= 0)
                                r = aid_tokens_push(out, id);
                }
        }
        return r;
}

int aid_bpe_tokenize(const struct aid_tokenizer *t, const char *text, size_t len, struct aid_tokens *out)
{
        _cleanup_free_ uint32_t *cpts = NULL;
        _cleanup_free_ size_t *lens = NULL;
        size_t n_cpts, n_words;
        int r = aid_pretokenize(t->pre, text, len, &cpts, &n_cpts, &lens, &n_words);
        if (r < 0)
                return r;

        /* A code point is at most 4 bytes, each byte at most 2 in GPT-2's alphabet. */
        _cleanup_free_ char *word = NULL;
        size_t cap = 0;
        for (size_t w = 0, start = 0; w < n_words; start += lens[w], w++) {
                if (lens[w] * 8 > cap) {
                        free(word);
                        cap = lens[w] * 8;
                        word = malloc(cap);
                        if (!word)
                                return -ENOMEM;
                }
                size_t o = 0;
                for (size_t i = start; i < start + lens[w]; i++) {
                        char raw[4];
                        size_t n = aid_utf8_encode(cpts[i], raw);
                        for (size_t j = 0; j < n; j++)
                                o += aid_utf8_encode(aid_gpt2_byte_to_cp((uint8_t)raw[j]), word + o);
                }
                r = bpe_word(t, word, o, out);
                if (r < 0)
                        return r;
        }
        return 0;
}
