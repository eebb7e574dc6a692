/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Fuzz inputs made of several strings: pieces separated by 0xff bytes, which no UTF-8 text
 * holds. */

#include <stddef.h>
#include <stdint.h>

/* The next piece of data[0..size) from *pos up to a 0xff byte (or the end), in *ret; *pos moves
 * past it. Returns its length. */
static inline size_t fuzz_next_piece(const uint8_t *data, size_t size, size_t *pos, const uint8_t **ret)
{
        size_t start = *pos, end = start;

        while (end < size && data[end] != 0xff)
                end++;
        *ret = data + start;
        *pos = end < size ? end + 1 : end;
        return end - start;
}
