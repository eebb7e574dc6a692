/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <stdio.h>

/* Numbers as people read them: "1.2B" weights, "45M", "512". "-" for 0 (unknown). */
char *aidctl_format_count(guint64 n);

/* Text that came from the daemon (file names, a model file's metadata, executable paths, error
 * messages) as one line that is safe to print: control characters, which could break a table's
 * line in two or move the cursor, recolour or retitle the terminal, are shown escaped ("\n",
 * "\x1b"), and so are the characters that reorder text (bidirectional overrides). NULL gives
 * NULL. */
char *aidctl_printable(const char *s);

/* Generated text for a terminal: as aidctl_printable(), but newlines, tabs and the
 * left-to-right and right-to-left marks are kept. A model
 * writes what its prompt steers it to, and a prompt may hold text from anywhere (a web page, a
 * file): escape sequences in its answer could otherwise set the terminal's title or clipboard,
 * or hide text. */
char *aidctl_terminal_text(const char *s);

/* A plain-text table: columns padded to their widest cell, two spaces apart. */
typedef struct aidctl_table aidctl_table;

struct aidctl_table *aidctl_table_new(const char *const *header);
/* NULL cell prints "-"; cells are printed as aidctl_printable() shows them. */
void aidctl_table_add_row(struct aidctl_table *t, const char *const *cells);
void aidctl_table_print(const struct aidctl_table *t, FILE *out);
struct aidctl_table *aidctl_table_free(struct aidctl_table *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(aidctl_table, aidctl_table_free)
