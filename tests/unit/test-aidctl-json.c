/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aidctl's --json output is JSON that strict parsers take, whatever the strings hold. */

#include <criterion/criterion.h>
#include <glib.h>
#include <string.h>

#include "aidctl-json.h"

/* JSON allows no character below U+0020 in a string: json-glib 1.6 leaves U+001F raw. */
Test(aidctl_json, no_control_character_is_left_raw)
{
        char all[32];

        for (int c = 1; c < 32; c++)
                all[c - 1] = (char)c;
        all[31] = '\0';
        for (int pretty = 0; pretty < 2; pretty++) {
                g_autoptr(JsonBuilder) b = json_builder_new();
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "text");
                json_builder_add_string_value(b, all);
                json_builder_end_object(b);
                g_autofree char *out = aidctl_json_to_string(b, pretty);

                for (const char *p = out; *p; p++)
                        cr_assert((unsigned char)*p >= 0x20 || (pretty && *p == '\n'), "byte 0x%02x in %s",
                                        (unsigned char)*p, out);
                cr_assert(strstr(out, "\\u001f\""), "%s", out);

                /* and it reads back as the same string */
                g_autoptr(JsonParser) parser = json_parser_new();
                cr_assert(json_parser_load_from_data(parser, out, -1, NULL));
                JsonObject *o = json_node_get_object(json_parser_get_root(parser));
                cr_assert_str_eq(json_object_get_string_member(o, "text"), all);
        }
}
