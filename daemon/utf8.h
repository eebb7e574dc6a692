/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* UTF-8 as aid promises it to clients: whole characters, no overlong forms, no surrogates, no
 * code points above U+10FFFF. */

#include <stddef.h>

/* Length of the longest prefix of str[0..len) made of valid characters. */
size_t utf8_valid_prefix(const char *str, size_t len);

/* str[0..len) with each byte that starts no valid character replaced by U+FFFD, into *buf
 * (grown as needed, *cap its size; NUL-terminated), its length in *ret_len. 0 or -ENOMEM. */
int utf8_sanitize(const char *str, size_t len, char **buf, size_t *cap, size_t *ret_len);

/* str[0..len) as a D-Bus string into dst (len + 1 bytes): D-Bus strings hold no NUL, and a byte
 * that starts no valid character is dropped too. Returns the length written before dst's NUL. */
size_t utf8_copy_dbus_string(char *dst, const char *src, size_t len);
