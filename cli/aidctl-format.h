/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <stdio.h>

/* Numbers as people read them: "1.2B" weights, "45M", "512". "-" for 0 (unknown). */
char *aidctl_format_count(guint64 n);

/* A plain-text table: columns padded to their widest cell, two spaces apart. */
typedef struct aidctl_table aidctl_table;

struct aidctl_table *aidctl_table_new(const char *const *header);
void aidctl_table_add_row(struct aidctl_table *t, const char *const *cells); /* NULL cell prints "-" */
void aidctl_table_print(const struct aidctl_table *t, FILE *out);
struct aidctl_table *aidctl_table_free(struct aidctl_table *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(aidctl_table, aidctl_table_free)
