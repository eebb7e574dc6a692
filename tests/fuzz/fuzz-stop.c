/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The stop-string matcher on arbitrary stop strings and fragments (both come from clients and
 * models): it must never crash or leak, and what it releases must be exactly the text before
 * the first stop string, or all of it. Input: the first byte's low two bits are the number of
 * stop strings; then the stop strings and the fragments, separated by 0xff bytes (which no UTF-8
 * text holds). */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-pieces.h"
#include "stop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void append(char **buf, size_t *len, const char *s, size_t n)
{
        *buf = realloc(*buf, *len + n + 1);
        if (!*buf)
                abort();
        memcpy(*buf + *len, s, n);
        *len += n;
        (*buf)[*len] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *stops[3] = { NULL, NULL, NULL };
        char *full = NULL, *out = NULL;
        size_t n_stops, pos = 1, full_len = 0, out_len = 0;
        struct aid_stop *m = NULL;
        struct aid_error err = {};
        struct aid_stop_chunk c = { 0 };
        const uint8_t *piece;
        size_t n;

        if (size == 0)
                return 0;
        n_stops = data[0] & 3;
        for (size_t i = 0; i < n_stops; i++) {
                n = fuzz_next_piece(data, size, &pos, &piece);
                stops[i] = strndup((const char *)piece, n);
                if (!stops[i])
                        abort();
        }
        if (aid_stop_new((const char *const *)stops, n_stops, &m, &err) < 0)
                goto done;

        append(&full, &full_len, "", 0);
        append(&out, &out_len, "", 0);
        while (pos < size && !c.stopped) {
                n = fuzz_next_piece(data, size, &pos, &piece);
                append(&full, &full_len, (const char *)piece, n);
                if (aid_stop_feed(m, (const char *)piece, n, &c) < 0)
                        abort();
                append(&out, &out_len, c.text, c.len);
        }
        if (!c.stopped) {
                if (aid_stop_flush(m, &c) < 0)
                        abort();
                append(&out, &out_len, c.text, c.len);
        }

        /* What came out is what went in, up to the stop string. */
        if (out_len > full_len || memcmp(out, full, out_len) != 0)
                abort();
        if (c.stopped) {
                if (c.stop_index < 0 || (size_t)c.stop_index >= n_stops)
                        abort();
                const char *s = stops[c.stop_index];
                if (full_len - out_len < strlen(s) || memcmp(full + out_len, s, strlen(s)) != 0)
                        abort();
        } else if (out_len != full_len) {
                abort();
        }
        /* No stop string in what was shown: the first one ends the text. */
        for (size_t i = 0; i < n_stops; i++)
                if (memmem(out, out_len, stops[i], strlen(stops[i])))
                        abort();
done:
        aid_stop_free(m);
        for (size_t i = 0; i < n_stops; i++)
                free(stops[i]);
        free(full);
        free(out);
        return 0;
}
