/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "aidctl-format.h"

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
                row[i] = g_strdup(cells[i] ? cells[i] : "-");
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
