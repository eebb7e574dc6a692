/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Stop strings for streamed text. Generated text arrives in fragments (one per token); the
 * matcher says how much of it can be shown now and whether a stop string has completed. It holds
 * back the longest tail that is still the beginning of some stop string, and any incomplete
 * UTF-8 character at the end, so that what it releases never contains a stop string or a piece
 * of one that completes later, and never ends inside a character. The stop string itself and
 * everything after it are dropped.
 *
 * Matching is on bytes. With valid UTF-8 on both sides this is matching on characters: a UTF-8
 * encoding cannot start inside another character's encoding. */

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

struct aid_stop;

/* stops: n_stops NUL-terminated strings, copied. n_stops may be 0 (the matcher then only keeps
 * characters whole). -EINVAL for an empty stop string or one that is not valid UTF-8; -ENOMEM. */
int aid_stop_new(const char *const *stops, size_t n_stops, struct aid_stop **ret, struct aid_error *err);
struct aid_stop *aid_stop_free(struct aid_stop *m); /* accepts NULL, returns NULL */

struct aid_stop_chunk {
        const char *text; /* safe to show; not NUL-terminated; valid until the next call on m */
        size_t len;
        bool stopped;   /* a stop string completed: text is the last of the output */
        int stop_index; /* which stop string (index into the constructor's array), -1 if none */
};

/* Appends a fragment and returns the text that became safe. Once stopped, later fragments are
 * ignored (empty chunk, stopped set again). -ENOMEM. */
int aid_stop_feed(struct aid_stop *m, const char *frag, size_t len, struct aid_stop_chunk *ret);

/* End of generation without a stop string (max tokens, end-of-generation token): releases what
 * was held back, including an incomplete trailing character as it is. */
int aid_stop_flush(struct aid_stop *m, struct aid_stop_chunk *ret);

/* Ready for a new stream with the same stop strings. */
void aid_stop_reset(struct aid_stop *m);
