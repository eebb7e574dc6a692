/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <aid/aid.h>
#include <json-glib/json-glib.h>

/* --json output. Every key is always present (null when the daemon does not know the value),
 * so that scripts can rely on the shape. */
void aidctl_json_add_model(JsonBuilder *b, AidModelInfo *info);
void aidctl_json_add_default_models(JsonBuilder *b, GHashTable *defaults);

/* The builder's root as JSON text, pretty (indented by 2) or on one line, valid JSON: every
 * control character in a string escaped. */
char *aidctl_json_to_string(JsonBuilder *b, gboolean pretty);
/* That, with a final newline, on standard output. */
void aidctl_json_print(JsonBuilder *b, gboolean pretty);
