/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

size_t utf8_valid_prefix(const char *str, size_t len)
{
        const unsigned char *s = (const unsigned char *)str;
        size_t i = 0;

        while (i < len) {
                unsigned char c = s[i];
                size_t n;
                uint32_t cp;

                if (c < 0x80) {
                        i++;
                        continue;
                } else if (c >= 0xc2 && c <= 0xdf) {
                        n = 2;
                        cp = c & 0x1f;
                } else if (c >= 0xe0 && c <= 0xef) {
                        n = 3;
                        cp = c & 0x0f;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        n = 4;
                        cp = c & 0x07;
                } else
                        break;
                if (i + n > len)
                        break;
                for (size_t k = 1; k < n; k++) {
                        if ((s[i + k] & 0xc0) != 0x80)
                                return i;
                        cp = cp << 6 | (s[i + k] & 0x3f);
                }
                if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
                                (cp >= 0xd800 && cp <= 0xdfff))
                        break;
                i += n;
        }
        return i;
}

/* Models with byte tokens can produce bytes that are not UTF-8 (random weights do it all the
 * time); clients are promised valid UTF-8, so each such byte becomes U+FFFD, as GLib's
 * g_utf8_make_valid() does. */
int utf8_sanitize(const char *s, size_t len, char **buf, size_t *cap, size_t *ret_len)
{
        size_t n = 0;

        if (*cap < len * 3 + 1) {
                char *b = realloc(*buf, len * 3 + 1);
                if (!b)
                        return -ENOMEM;
                *buf = b;
                *cap = len * 3 + 1;
        }
        while (len > 0) {
                size_t ok = utf8_valid_prefix(s, len);
                memcpy(*buf + n, s, ok);
                n += ok;
                s += ok;
                len -= ok;
                if (len > 0) {
                        memcpy(*buf + n, "\xef\xbf\xbd", 3);
                        n += 3;
                        s++;
                        len--;
                }
        }
        (*buf)[n] = 0;
        *ret_len = n;
        return 0;
}

size_t utf8_copy_dbus_string(char *dst, const char *src, size_t len)
{
        size_t n = 0;

        for (const char *p = src, *end = src + len; p < end;) {
                const char *ok_end = p + utf8_valid_prefix(p, (size_t)(end - p));
                for (; p < ok_end; p++)
                        if (*p != '\0')
                                dst[n++] = *p;
                if (p < end)
                        p++; /* starts no valid character */
        }
        dst[n] = '\0';
        return n;
}
