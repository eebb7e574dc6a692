/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Streaming detokenization: pieces are concatenated and cut after the last complete UTF-8
 * character, so that a character spread over byte tokens reaches the reader whole. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer-internal.h"

struct aid_detokenizer {
        const struct aid_tokenizer *t;
        bool special;
        bool strip_space; /* still to apply to the next token */
        char held[4];     /* start of an incomplete character */
        size_t n_held;
        char *buf;
        size_t cap;
};

int aid_detokenizer_new(const struct aid_tokenizer *t, unsigned flags, struct aid_detokenizer **ret)
{
        struct aid_detokenizer *d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->t = t;
        d->special = flags & AID_DETOKENIZE_SPECIAL;
        d->strip_space = (flags & AID_DETOKENIZE_STRIP_LEADING_SPACE) && t->add_space_prefix;
        *ret = d;
        return 0;
}

struct aid_detokenizer *aid_detokenizer_free(struct aid_detokenizer *d)
{
        if (d) {
                free(d->buf);
                free(d);
        }
        return NULL;
}

static int reserve(struct aid_detokenizer *d, size_t n)
{
        if (n <= d->cap)
                return 0;
        size_t cap = MAX(n, 2 * d->cap);
        char *buf = realloc(d->buf, cap);
        if (!buf)
                return -ENOMEM;
        d->buf = buf;
        d->cap = cap;
        return 0;
}

/* Bytes at the end of s[0..n) that start a character not finished yet. */
static size_t incomplete_tail(const char *s, size_t n)
{
        for (size_t k = 1; k <= MIN(n, 3); k++) {
                uint8_t c = (uint8_t)s[n - k];
                if ((c & 0xC0) == 0x80)
                        continue; /* continuation byte: look further back */
                if (c >= 0xC0 && aid_utf8_len(c) > k)
                        return k;
                return 0;
        }
        return 0;
}

int aid_detokenizer_push(struct aid_detokenizer *d, int32_t token, const char **ret_text, size_t *ret_len)
{
        size_t lstrip = d->strip_space ? 1 : 0;
        int n = aid_token_piece(d->t, token, d->special, lstrip, NULL, 0);
        if (n < 0)
                return n;
        int r = reserve(d, d->n_held + (size_t)n + 1);
        if (r < 0)
                return r;
        d->strip_space = false;
        memcpy(d->buf, d->held, d->n_held);
        aid_token_piece(d->t, token, d->special, lstrip, d->buf + d->n_held, (size_t)n);
        size_t total = d->n_held + (size_t)n;
        size_t keep = incomplete_tail(d->buf, total);
        memcpy(d->held, d->buf + total - keep, keep);
        d->n_held = keep;
        d->buf[total - keep] = 0;
        *ret_text = d->buf;
        *ret_len = total - keep;
        return 0;
}

int aid_detokenizer_flush(struct aid_detokenizer *d, const char **ret_text, size_t *ret_len)
{
        int r = reserve(d, d->n_held + 1);
        if (r < 0)
                return r;
        memcpy(d->buf, d->held, d->n_held);
        d->buf[d->n_held] = 0;
        *ret_text = d->buf;
        *ret_len = d->n_held;
        d->n_held = 0;
        return 0;
}
