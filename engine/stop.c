/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stop.h"

/* Bytes a UTF-8 sequence takes, from its first byte; 0 for a byte that cannot start one. */
static size_t utf8_seq_len(unsigned char c)
{
        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                return 2;
        if (c >= 0xe0 && c <= 0xef)
                return 3;
        if (c >= 0xf0 && c <= 0xf4)
                return 4;
        return 0;
}

/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const char *s, size_t len)
{
        const unsigned char *p = (const unsigned char *)s;
        for (size_t i = 0; i < len;) {
                size_t n = utf8_seq_len(p[i]);
                if (n == 0 || n > len - i)
                        return false;
                for (size_t j = 1; j < n; j++)
                        if ((p[i + j] & 0xc0) != 0x80)
                                return false;
                if ((p[i] == 0xe0 && p[i + 1] < 0xa0) || (p[i] == 0xed && p[i + 1] > 0x9f) ||
                                (p[i] == 0xf0 && p[i + 1] < 0x90) || (p[i] == 0xf4 && p[i + 1] > 0x8f))
                        return false;
                i += n;
        }
        return true;
}

/* Bytes at the end of s that begin a character whose remaining bytes have not arrived yet. */
static size_t utf8_incomplete_tail(const char *s, size_t len)
{
        const unsigned char *p = (const unsigned char *)s;
        for (size_t k = 1; k <= 3 && k <= len; k++) {
                unsigned char c = p[len - k];
                if ((c & 0xc0) == 0x80)
                        continue; /* continuation byte: look further back */
                size_t n = utf8_seq_len(c);
                return n > k ? k : 0;
        }
        return 0;
}

struct aid_stop {
        char **stops;
        size_t *lens;
        size_t n_stops;
        size_t max_len;

        char *buf;       /* held text, then the released text at its start until the next call */
        size_t len;      /* bytes in buf */
        size_t released; /* bytes at the start of buf handed out by the last call */
        size_t cap;
        bool stopped;
        int stop_index;
};

int aid_stop_new(const char *const *stops, size_t n_stops, struct aid_stop **ret, struct aid_error *err)
{
        if (n_stops > 0 && !stops)
                return aid_error_set(err, -EINVAL, "no stop strings given");

        struct aid_stop *m = calloc(1, sizeof(*m));
        if (!m)
                return aid_error_set(err, -ENOMEM, "out of memory for the stop strings");
        m->stop_index = -1;
        if (n_stops > 0) {
                m->stops = calloc(n_stops, sizeof(char *));
                m->lens = calloc(n_stops, sizeof(size_t));
                if (!m->stops || !m->lens) {
                        aid_stop_free(m);
                        return aid_error_set(err, -ENOMEM, "out of memory for the stop strings");
                }
        }
        for (size_t i = 0; i < n_stops; i++) {
                size_t l = stops[i] ? strlen(stops[i]) : 0;
                if (l == 0) {
                        aid_stop_free(m);
                        return aid_error_set(err, -EINVAL, "stop string %zu is empty", i);
                }
                if (!utf8_valid(stops[i], l)) {
                        aid_stop_free(m);
                        return aid_error_set(err, -EINVAL, "stop string %zu is not valid UTF-8", i);
                }
                m->stops[i] = strdup(stops[i]);
                if (!m->stops[i]) {
                        aid_stop_free(m);
                        return aid_error_set(err, -ENOMEM, "out of memory for the stop strings");
                }
                m->n_stops = i + 1;
                m->lens[i] = l;
                m->max_len = MAX(m->max_len, l);
        }
        *ret = m;
        return 0;
}

struct aid_stop *aid_stop_free(struct aid_stop *m)
{
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_stops; i++)
                free(m->stops[i]);
        free(m->stops);
        free(m->lens);
        free(m->buf);
        free(m);
        return NULL;
}

void aid_stop_reset(struct aid_stop *m)
{
        m->len = 0;
        m->released = 0;
        m->stopped = false;
        m->stop_index = -1;
}

/* Drops what the previous call handed out. */
static void drop_released(struct aid_stop *m)
{
        if (m->released == 0)
                return;
        memmove(m->buf, m->buf + m->released, m->len - m->released);
        m->len -= m->released;
        m->released = 0;
}

static int append(struct aid_stop *m, const char *frag, size_t len)
{
        if (len > SIZE_MAX - m->len)
                return -ENOMEM;
        /* always a buffer, even for empty fragments: chunks never point to NULL */
        if (m->len + len > m->cap || !m->buf) {
                size_t cap = MAX(m->len + len, MAX(m->cap * 2, (size_t)64));
                char *b = realloc(m->buf, cap);
                if (!b)
                        return -ENOMEM;
                m->buf = b;
                m->cap = cap;
        }
        if (len > 0)
                memcpy(m->buf + m->len, frag, len);
        m->len += len;
        return 0;
}

/* Length of the longest tail of buf[0..len) that is a proper prefix of some stop string. */
static size_t held_prefix(const struct aid_stop *m)
{
        size_t k = MIN(m->len, m->max_len > 0 ? m->max_len - 1 : 0);
        for (; k > 0; k--) {
                const char *tail = m->buf + m->len - k;
                for (size_t i = 0; i < m->n_stops; i++)
                        if (m->lens[i] > k && memcmp(m->stops[i], tail, k) == 0)
                                return k;
        }
        return 0;
}

static void out(struct aid_stop *m, size_t n, struct aid_stop_chunk *ret)
{
        m->released = n;
        *ret = (struct aid_stop_chunk){
                .text = m->buf ? m->buf : "",
                .len = n,
                .stopped = m->stopped,
                .stop_index = m->stop_index,
        };
}

int aid_stop_feed(struct aid_stop *m, const char *frag, size_t len, struct aid_stop_chunk *ret)
{
        drop_released(m);
        if (m->stopped) {
                out(m, 0, ret);
                return 0;
        }
        if (append(m, frag, len) < 0)
                return -ENOMEM;

        /* Earliest occurrence of any stop string; on a tie at the same place the longer one,
         * although either cuts the text at the same byte. The held tail is shorter than every
         * stop string, so a match may start there but no match lies wholly in it. */
        const char *first = NULL;
        for (size_t i = 0; i < m->n_stops; i++) {
                const char *hit = memmem(m->buf, m->len, m->stops[i], m->lens[i]);
                if (hit && (!first || hit < first ||
                                           (hit == first && m->lens[i] > m->lens[m->stop_index]))) {
                        first = hit;
                        m->stop_index = (int)i;
                }
        }
        if (first) {
                m->stopped = true;
                m->len = (size_t)(first - m->buf);
                out(m, m->len, ret);
                return 0;
        }

        size_t keep = held_prefix(m);
        /* Never release half a character: a token may end in the middle of one. */
        keep = MAX(keep, utf8_incomplete_tail(m->buf, m->len));
        out(m, m->len - keep, ret);
        return 0;
}

int aid_stop_flush(struct aid_stop *m, struct aid_stop_chunk *ret)
{
        drop_released(m);
        out(m, m->stopped ? 0 : m->len, ret);
        return 0;
}
