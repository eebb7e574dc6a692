/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* WordPiece for BERT vocabularies as llama.cpp does it: the text is lowercased and reduced to
 * base letters (first code point of the canonical decomposition), split on whitespace and
 * around punctuation, ASCII symbols and CJK ideographs; each word, prefixed with U+2581, is
 * covered greedily by the longest vocabulary pieces, or becomes [UNK] as a whole. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer-internal.h"

static bool is_cjk(uint32_t c)
{
        /* The ranges of HF tokenizers' _is_chinese_char, including its 0x2B920 start. */
        return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
               (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
               (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
               (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int wpm_word(const struct aid_tokenizer *t, const char *word, size_t n, struct aid_tokens *out)
{
        size_t mark = out->n;
        for (size_t i = 0; i < n;) {
                bool match = false;
                for (size_t j = MIN(n, i + t->max_token_len + 1); j > i; j--) {
                        int32_t id = aid_vocab_find(t, word + i, j - i);
                        if (id >= 0) {
                                int r = aid_tokens_push(out, id);
                                if (r < 0)
                                        return r;
                                match = true;
                                i = j;
                                break;
                        }
                }
                if (!match) {
                        out->n = mark;
                        break;
                }
        }
        if (out->n == mark && t->unk >= 0)
                return aid_tokens_push(out, t->unk);
        return 0;
}

int aid_wpm_tokenize(const struct aid_tokenizer *t, const char *text, size_t len, struct aid_tokens *out)
{
        /* "▁" + the word; lowercase mappings stay within 4 bytes per code point */
        _cleanup_free_ char *word = malloc(3 + 4 * len + 4);
        size_t n = 0;
        int r;

        if (!word)
                return -ENOMEM;
        memcpy(word, "\xe2\x96\x81", 3);
        for (size_t pos = 0; pos < len;) {
                uint32_t c = aid_ucd_nfd_first(aid_utf8_decode(text, len, &pos));
                unsigned f = aid_ucd_flags(c);
                if (f & AID_UCD_WHITESPACE) {
                        if (n > 0 && (r = wpm_word(t, word, 3 + n, out)) < 0)
                                return r;
                        n = 0;
                        continue;
                }
                if (c == 0 || c == 0xFFFD || (f & AID_UCD_CATEGORY_MASK) == AID_UCD_CONTROL)
                        continue;
                char s[4];
                size_t sl = aid_utf8_encode(aid_ucd_tolower(c), s);
                unsigned cat = f & AID_UCD_CATEGORY_MASK;
                if (cat == AID_UCD_PUNCTUATION || (c < 0x7F && cat == AID_UCD_SYMBOL) || is_cjk(c)) {
                        if (n > 0 && (r = wpm_word(t, word, 3 + n, out)) < 0)
                                return r;
                        memcpy(word + 3, s, sl);
                        if ((r = wpm_word(t, word, 3 + sl, out)) < 0)
                                return r;
                        n = 0;
                        continue;
                }
                memcpy(word + 3 + n, s, sl);
                n += sl;
        }
        if (n > 0)
                return wpm_word(t, word, 3 + n, out);
        return 0;
}
