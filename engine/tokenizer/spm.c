/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SentencePiece-style tokenization as llama.cpp does it for tokenizer.ggml.model = llama: an
 * optional leading space, spaces as U+2581, characters merged by vocabulary score, and the
 * characters no token covers emitted as <0xXX> byte tokens. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer-internal.h"

#define SPACE_MARK     "\xe2\x96\x81" /* U+2581 */
#define SPACE_MARK_LEN 3

static bool spm_pair(const struct aid_tokenizer *t, const char *text, const struct aid_symbol *a,
                const struct aid_symbol *b, double *ret_priority)
{
        int32_t id = aid_vocab_find(t, text + a->off, a->len + b->len);
        if (id < 0)
                return false;
        *ret_priority = t->tokens[id].score;
        return true;
}

int aid_spm_tokenize(const struct aid_tokenizer *t, const char *text, size_t len, bool space_prefix,
                struct aid_tokens *out)
{
        size_t n_spaces = space_prefix;
        for (size_t i = 0; i < len; i++)
                n_spaces += text[i] == ' ';
        size_t esc_len = len + n_spaces * (SPACE_MARK_LEN - 1) + space_prefix;
        _cleanup_free_ char *esc = malloc(esc_len + 1);
        if (!esc)
                return -ENOMEM;
        size_t o = 0;
        if (space_prefix) {
                memcpy(esc, SPACE_MARK, SPACE_MARK_LEN);
                o = SPACE_MARK_LEN;
        }
        for (size_t i = 0; i < len; i++) {
                if (text[i] == ' ') {
                        memcpy(esc + o, SPACE_MARK, SPACE_MARK_LEN);
                        o += SPACE_MARK_LEN;
                } else
                        esc[o++] = text[i];
        }

        _cleanup_free_ struct aid_symbol *symbols = NULL;
        size_t n;
        int r = aid_merge_symbols(t, esc, o, spm_pair, &symbols, &n);
        if (r < 0)
                return r;
        for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = symbols[i].next) {
                int32_t id = aid_vocab_find(t, esc + symbols[i].off, symbols[i].len);
                if (id >= 0) {
                        r = aid_tokens_push(out, id);
                        if (r < 0)
                                return r;
                        continue;
                }
                for (uint32_t j = 0; j < symbols[i].len; j++) {
                        int32_t b = t->byte_token[(uint8_t)esc[symbols[i].off + j]];
                        if (b < 0)
                                b = t->unk;
                        if (b >= 0 && (r = aid_tokens_push(out, b)) < 0)
                                return r;
                }
        }
        return 0;
}
