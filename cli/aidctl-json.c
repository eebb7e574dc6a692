/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>

#include "aidctl-json.h"

static void add_string(JsonBuilder *b, const char *key, const char *value)
{
        json_builder_set_member_name(b, key);
        if (value)
                json_builder_add_string_value(b, value);
        else
                json_builder_add_null_value(b);
}

/* JSON numbers are doubles in many readers; sizes and weight counts stay far below 2^53. */
static void add_uint(JsonBuilder *b, const char *key, guint64 value, gboolean zero_is_unknown)
{
        json_builder_set_member_name(b, key);
        if (value == 0 && zero_is_unknown)
                json_builder_add_null_value(b);
        else
                json_builder_add_int_value(b, (gint64)value);
}

void aidctl_json_add_model(JsonBuilder *b, AidModelInfo *info)
{
        const char *const *types = aid_model_info_get_tensor_types(info);

        json_builder_begin_object(b);
        add_string(b, "id", aid_model_info_get_id(info));
        add_string(b, "name", aid_model_info_get_name(info));
        add_string(b, "path", aid_model_info_get_path(info));
        add_string(b, "source", aid_model_info_get_source(info));
        add_string(b, "format", aid_model_info_get_format(info));
        json_builder_set_member_name(b, "usable");
        json_builder_add_boolean_value(b, aid_model_info_get_usable(info));
        add_string(b, "reason", aid_model_info_get_reason(info));
        add_uint(b, "size", aid_model_info_get_size(info), FALSE);
        add_string(b, "architecture", aid_model_info_get_architecture(info));
        add_string(b, "capability", aid_model_info_get_capability(info));
        add_uint(b, "parameters", aid_model_info_get_parameters(info), TRUE);
        add_uint(b, "context_length", aid_model_info_get_context_length(info), TRUE);
        add_string(b, "file_type", aid_model_info_get_file_type(info));

        json_builder_set_member_name(b, "tensor_types");
        json_builder_begin_object(b);
        for (size_t i = 0; types && types[i]; i++) {
                g_autofree char *type_name = g_strdup(types[i]);
                char *colon = strrchr(type_name, ':');
                if (colon)
                        *colon = '\0';
                json_builder_set_member_name(b, type_name);
                json_builder_add_int_value(b, aid_model_info_get_n_tensors_of_type(info, type_name));
        }
        json_builder_end_object(b);

        add_string(b, "state", aid_model_info_get_state(info));
        /* Always present, null where they do not apply: a script reads the same keys. */
        json_builder_set_member_name(b, "load_progress");
        if (g_strcmp0(aid_model_info_get_state(info), "loading") == 0)
                json_builder_add_double_value(b, aid_model_info_get_load_progress(info));
        else
                json_builder_add_null_value(b);
        add_string(b, "state_reason", aid_model_info_get_state_reason(info));
        add_string(b, "chat_template", aid_model_info_get_chat_template(info));
        json_builder_set_member_name(b, "chat_system_prompt");
        if (aid_model_info_get_chat_template(info))
                json_builder_add_boolean_value(b, aid_model_info_get_chat_system_prompt(info));
        else
                json_builder_add_null_value(b);
        json_builder_end_object(b);
}

void aidctl_json_add_default_models(JsonBuilder *b, GHashTable *defaults)
{
        g_autoptr(GList) keys = g_list_sort(g_hash_table_get_keys(defaults), (GCompareFunc)g_strcmp0);

        /* Sorted: the same daemon state always prints the same bytes. */
        json_builder_begin_object(b);
        for (GList *l = keys; l; l = l->next) {
                json_builder_set_member_name(b, l->data);
                json_builder_add_string_value(b, g_hash_table_lookup(defaults, l->data));
        }
        json_builder_end_object(b);
}

/* json-glib (1.6) writes U+001F in a string as the raw byte, where JSON needs "\u001f" for every
 * character below U+0020: strict parsers (Python's json, jq) refuse such output. The byte
 * appears in nothing json-glib writes outside strings, and never inside a multi-byte UTF-8
 * character, so each one is a character of a string to escape. */
static char *escape_unit_separators(char *text)
{
        GString *out;

        if (!strchr(text, '\x1f'))
                return text;
        out = g_string_sized_new(strlen(text) + 16);
        for (const char *p = text; *p; p++) {
                if (*p == '\x1f')
                        g_string_append(out, "\\u001f");
                else
                        g_string_append_c(out, *p);
        }
        g_free(text);
        return g_string_free(out, FALSE);
}

char *aidctl_json_to_string(JsonBuilder *b, gboolean pretty)
{
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = json_builder_get_root(b);

        json_generator_set_pretty(gen, pretty);
        json_generator_set_indent(gen, 2);
        json_generator_set_root(gen, root);
        return escape_unit_separators(json_generator_to_data(gen, NULL));
}

void aidctl_json_print(JsonBuilder *b, gboolean pretty)
{
        g_autofree char *text = aidctl_json_to_string(b, pretty);

        printf("%s\n", text);
        fflush(stdout);
}
