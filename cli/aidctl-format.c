/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "aidctl-format.h"

#include <string.h>

char *aidctl_format_count(guint64 n)
{
        /* Model sizes are quoted in decimal units ("a 1.2B model"), not binary ones. */
        static const char *const units[] = { "", "K", "M", "B", "T" };
        double value = (double)n;
        size_t unit = 0;

        if (n == 0)
                return g_strdup("-");
        if (n < 1000)
                return g_strdup_printf("%" G_GUINT64_FORMAT, n);

        while (value >= 999.5 && unit + 1 < G_N_ELEMENTS(units)) {
                value /= 1000.0;
                unit++;
        }
        if (value < 9.95)
                return g_strdup_printf("%.1f%s", value, units[unit]);
        return g_strdup_printf("%.0f%s", value, units[unit]);
}

static gboolean reorders_text(gunichar c)
{
        return (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0x200e || c == 0x200f;
}

/* keep_lines: newlines, tabs and the left-to-right and right-to-left marks (which right-to-left
 * text uses and which reorder nothing beyond their neighbours) pass through, for text to read;
 * else they are escaped too (one line for a table or a log). */
static char *escape_controls(const char *s, gboolean keep_lines)
{
        g_autofree char *valid = NULL;
        GString *out;

        if (!s)
                return NULL;
        if (!g_utf8_validate(s, -1, NULL))
                s = valid = g_utf8_make_valid(s, -1);
        out = g_string_sized_new(strlen(s));
        for (const char *p = s; *p; p = g_utf8_next_char(p)) {
                gunichar c = g_utf8_get_char(p);

                if (keep_lines && (c == '\n' || c == '\t' || c == 0x200e || c == 0x200f))
                        g_string_append_len(out, p, g_utf8_next_char(p) - p);
                else if (c == '\n')
                        g_string_append(out, "\\n");
                else if (c == '\t')
                        g_string_append(out, "\\t");
                else if (c == '\r')
                        g_string_append(out, "\\r");
                else if (c < 0x20 || c == 0x7f)
                        g_string_append_printf(out, "\\x%02x", c);
                else if ((c >= 0x80 && c < 0xa0) || reorders_text(c))
                        g_string_append_printf(out, "\\u%04x", c);
                else
                        g_string_append_len(out, p, g_utf8_next_char(p) - p);
        }
        return g_string_free(out, FALSE);
}

char *aidctl_printable(const char *s)
{
        return escape_controls(s, FALSE);
}

char *aidctl_terminal_text(const char *s)
{
        return escape_controls(s, TRUE);
}

struct aidctl_table {
        guint n_columns;
        GPtrArray *rows; /* of char ** (n_columns strings each); row 0 is the header */
};

struct aidctl_table *aidctl_table_new(const char *const *header)
{
        struct aidctl_table *t = g_new0(struct aidctl_table, 1);

        t->n_columns = g_strv_length((char **)header);
        t->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
        aidctl_table_add_row(t, header);
        return t;
}

void aidctl_table_add_row(struct aidctl_table *t, const char *const *cells)
{
        char **row = g_new0(char *, t->n_columns + 1);

        for (guint i = 0; i < t->n_columns; i++)
                row[i] = cells[i] ? aidctl_printable(cells[i]) : g_strdup("-");
        g_ptr_array_add(t->rows, row);
}

void aidctl_table_print(const struct aidctl_table *t, FILE *out)
{
        g_autofree size_t *widths = g_new0(size_t, t->n_columns);

        for (guint r = 0; r < t->rows->len; r++) {
                char **row = t->rows->pdata[r];
                for (guint c = 0; c < t->n_columns; c++)
                        widths[c] = MAX(widths[c], (size_t)g_utf8_strlen(row[c], -1));
        }

        for (guint r = 0; r < t->rows->len; r++) {
                char **row = t->rows->pdata[r];
                for (guint c = 0; c < t->n_columns; c++) {
                        gboolean last = c + 1 == t->n_columns;
                        fputs(row[c], out);
                        if (!last)
                                fprintf(out, "%*s", (int)(widths[c] - g_utf8_strlen(row[c], -1) + 2), "");
                }
                fputc('\n', out);
        }
}

struct aidctl_table *aidctl_table_free(struct aidctl_table *t)
{
        if (!t)
                return NULL;
        g_ptr_array_unref(t->rows);
        g_free(t);
        return NULL;
}
