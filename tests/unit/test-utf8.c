/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What clients are promised of every Token: valid UTF-8, with the bytes of a random model
 * that are not replaced by U+FFFD and nothing else touched. */

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

Test(utf8, valid_prefix)
{
        static const struct {
                const char *s;
                size_t len, valid;
        } cases[] = {
                { "plain ascii", 11, 11 }, { "caf\xc3\xa9", 5, 5 },
                { "\xe2\x82\xac\xf0\x9f\x98\x80", 7, 7 },     /* € 😀 */
                { "ab\xc3", 3, 2 },                           /* cut character */
                { "ab\xe2\x82", 4, 2 }, { "\xc0\xaf", 2, 0 }, /* overlong '/' */
                { "\xe0\x80\xaf", 3, 0 },                     /* overlong, 3 bytes */
                { "\xed\xa0\x80", 3, 0 },                     /* surrogate U+D800 */
                { "\xf4\x90\x80\x80", 4, 0 },                 /* above U+10FFFF */
                { "x\x80y", 3, 1 },                           /* lone continuation byte */
                { "a\0b", 3, 3 },                             /* NUL is a character */
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                cr_expect_eq(utf8_valid_prefix(cases[i].s, cases[i].len), cases[i].valid, "case %zu", i);
}

Test(utf8, sanitize_replaces_only_bad_bytes)
{
        char *buf = NULL;
        size_t cap = 0, len = 0;

        cr_assert_eq(utf8_sanitize("caf\xc3\xa9 \xff!", 8, &buf, &cap, &len), 0);
        cr_assert_eq(len, strlen("caf\xc3\xa9 \xef\xbf\xbd!"));
        cr_assert_str_eq(buf, "caf\xc3\xa9 \xef\xbf\xbd!");

        /* Every byte bad: each becomes U+FFFD, the buffer grows to hold them. */
        cr_assert_eq(utf8_sanitize("\xff\xfe\x80", 3, &buf, &cap, &len), 0);
        cr_assert_str_eq(buf, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
        cr_assert_geq(cap, 10);

        cr_assert_eq(utf8_sanitize("", 0, &buf, &cap, &len), 0);
        cr_assert_eq(len, 0);
        cr_assert_str_eq(buf, "");
        free(buf);
}

Test(utf8, dbus_string_drops_nul_and_bad_bytes_only)
{
        char out[32];

        /* D-Bus strings hold no NUL: a NUL token of a random model is dropped, not a cut. */
        cr_assert_eq(utf8_copy_dbus_string(out, "a\0b", 3), 2);
        cr_assert_str_eq(out, "ab");
        cr_assert_eq(utf8_copy_dbus_string(out, "caf\xc3\xa9 \xff\xe2\x82\xac", 10), 9);
        cr_assert_str_eq(out, "caf\xc3\xa9 \xe2\x82\xac");
        /* A cut character at the end goes, the text before it stays. */
        cr_assert_eq(utf8_copy_dbus_string(out, "ok\xe2\x82", 4), 2);
        cr_assert_str_eq(out, "ok");
        cr_assert_eq(utf8_copy_dbus_string(out, "\0\xff", 2), 0);
        cr_assert_str_eq(out, "");
}
