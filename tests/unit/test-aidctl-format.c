/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What aidctl prints of text it did not write: names and messages from the daemon as one safe
 * line, a model's answer as text that cannot drive the terminal. */

#include <criterion/criterion.h>
#include <glib.h>
#include <string.h>

#include "aidctl-format.h"

struct escape_case {
        const char *in, *line, *text; /* aidctl_printable(), aidctl_terminal_text() */
};

static const struct escape_case cases[] = {
        { "plain words", "plain words", "plain words" },
        { "two\nlines\tand a tab", "two\\nlines\\tand a tab", "two\nlines\tand a tab" },
        /* clear the screen; set the window title (OSC 0, BEL); write the clipboard (OSC 52) */
        { "\033[2Jgone", "\\x1b[2Jgone", "\\x1b[2Jgone" },
        { "\033]0;title\007", "\\x1b]0;title\\x07", "\\x1b]0;title\\x07" },
        { "\033]52;c;cm0gLXJm\033\\", "\\x1b]52;c;cm0gLXJm\\x1b\\", "\\x1b]52;c;cm0gLXJm\\x1b\\" },
        /* a carriage return would let the rest of a line overwrite its start */
        { "safe\rrm -rf", "safe\\rrm -rf", "safe\\rrm -rf" },
        { "del\x7f", "del\\x7f", "del\\x7f" },
        /* C1 controls: U+009B is an 8-bit CSI to some terminals */
        { "\xc2\x9b" "31m", "\\u009b31m", "\\u009b31m" },
        /* a right-to-left override reorders what follows; marks (U+200E, U+200F) belong to
         * right-to-left text and are kept in an answer */
        { "abc\xe2\x80\xae" "def", "abc\\u202edef", "abc\\u202edef" },
        { "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d\xe2\x80\x8f!", "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d\\u200f!",
                        "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d\xe2\x80\x8f!" },
        /* other characters pass untouched */
        { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
        /* bytes that are not UTF-8 become U+FFFD rather than reaching the terminal */
        { "bad\xff\033", "bad\xef\xbf\xbd\\x1b", "bad\xef\xbf\xbd\\x1b" },
        { "", "", "" },
};

Test(aidctl_format, control_characters_are_escaped)
{
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *line = aidctl_printable(cases[i].in);
                g_autofree char *text = aidctl_terminal_text(cases[i].in);

                cr_expect_str_eq(line, cases[i].line, "aidctl_printable, case %zu", i);
                cr_expect_str_eq(text, cases[i].text, "aidctl_terminal_text, case %zu", i);
        }
        cr_expect_null(aidctl_printable(NULL));
        cr_expect_null(aidctl_terminal_text(NULL));
}

/* Every C0 control but newline and tab, and every C1 control, is escaped in an answer: none of
 * the bytes that start a terminal's control sequences is left. */
Test(aidctl_format, no_control_byte_survives_in_an_answer)
{
        GString *all = g_string_new(NULL);

        for (gunichar c = 1; c < 0xa0; c++)
                g_string_append_unichar(all, c);
        g_autofree char *text = aidctl_terminal_text(all->str);
        for (const char *p = text; *p; p = g_utf8_next_char(p)) {
                gunichar c = g_utf8_get_char(p);
                cr_assert(c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f), "U+%04X was left in", c);
        }
        cr_expect(strstr(text, "\\x1b") && strstr(text, "\\u009b") && strstr(text, "\n\\x0b"));
        g_string_free(all, TRUE);
}

Test(aidctl_format, counts_read_as_people_read_them)
{
        static const struct {
                guint64 n;
                const char *s;
        } counts[] = { { 0, "-" }, { 7, "7" }, { 999, "999" }, { 1000, "1.0K" }, { 1234567, "1.2M" },
                { 45000000, "45M" }, { 999500, "1.0M" }, { 1235000000, "1.2B" } };

        for (size_t i = 0; i < G_N_ELEMENTS(counts); i++) {
                g_autofree char *s = aidctl_format_count(counts[i].n);
                cr_expect_str_eq(s, counts[i].s, "%" G_GUINT64_FORMAT, counts[i].n);
        }
}
