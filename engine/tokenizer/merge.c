/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The merge loop of SentencePiece and BPE: a heap of adjacent pairs, best first, leftmost on
 * ties; a popped pair whose symbols changed since it was pushed is stale and skipped. */
#include <errno.h>
#include <stdlib.h>

#include "tokenizer-internal.h"

struct bigram {
        int32_t left, right;
        double priority;
        uint32_t len;
};

struct heap {
        struct bigram *items;
        size_t n, cap;
};

static bool before(const struct bigram *a, const struct bigram *b)
{
        return a->priority > b->priority || (a->priority == b->priority && a->left < b->left);
}

static int heap_push(struct heap *h, struct bigram b)
{
        if (h->n == h->cap) {
                size_t cap = h->cap ? 2 * h->cap : 64;
                struct bigram *items = realloc(h->items, cap * sizeof(*items));
                if (!items)
                        return -ENOMEM;
                h->items = items;
                h->cap = cap;
        }
        size_t i = h->n++;
        while (i > 0 && before(&b, &h->items[(i - 1) / 2])) {
                h->items[i] = h->items[(i - 1) / 2];
                i = (i - 1) / 2;
        }
        h->items[i] = b;
        return 0;
}

static struct bigram heap_pop(struct heap *h)
{
        struct bigram top = h->items[0], last = h->items[--h->n];
        size_t i = 0;
        for (;;) {
                size_t c = 2 * i + 1;
                if (c >= h->n)
                        break;
                if (c + 1 < h->n && before(&h->items[c + 1], &h->items[c]))
                        c++;
                if (!before(&h->items[c], &last))
                        break;
                h->items[i] = h->items[c];
                i = c;
        }
        if (h->n > 0)
                h->items[i] = last;
        return top;
}

static int try_add(const struct aid_tokenizer *t, const char *text, const struct aid_symbol *symbols,
                int32_t left, int32_t right, aid_pair_fn pair, struct heap *h)
{
        if (left < 0 || right < 0)
                return 0;
        double priority;
        if (!pair(t, text, &symbols[left], &symbols[right], &priority))
                return 0;
        return heap_push(
                        h, (struct bigram){ left, right, priority, symbols[left].len + symbols[right].len });
}

int aid_merge_symbols(const struct aid_tokenizer *t, const char *text, size_t len, aid_pair_fn pair,
                struct aid_symbol **ret_symbols, size_t *ret_n)
{
        _cleanup_free_ struct aid_symbol *symbols = calloc(MAX(len, 1), sizeof(*symbols));
        struct heap h = {};
        size_t n = 0;
        int r = 0;

        if (!symbols)
                return -ENOMEM;
        for (size_t off = 0; off < len; n++) {
                size_t l = MIN(aid_utf8_len((uint8_t)text[off]), len - off);
                symbols[n] = (struct aid_symbol){ (int32_t)n - 1, off + l < len ? (int32_t)n + 1 : -1,
                        (uint32_t)off, (uint32_t)l };
                off += l;
        }
        for (size_t i = 1; i < n && r >= 0; i++)
                r = try_add(t, text, symbols, (int32_t)i - 1, (int32_t)i, pair, &h);

        while (r >= 0 && h.n > 0) {
                struct bigram b = heap_pop(&h);
                struct aid_symbol *l = &symbols[b.left], *rt = &symbols[b.right];
                if (l->len == 0 || rt->len == 0 || l->len + rt->len != b.len)
                        continue;
                l->len += rt->len;
                rt->len = 0;
                l->next = rt->next;
                if (rt->next >= 0)
                        symbols[rt->next].prev = b.left;
                r = try_add(t, text, symbols, l->prev, b.left, pair, &h);
                if (r >= 0)
                        r = try_add(t, text, symbols, b.left, l->next, pair, &h);
        }
        free(h.items);
        if (r < 0)
                return r;
        *ret_symbols = TAKE_PTR(symbols);
        *ret_n = n;
        return 0;
}
