/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <gio/gio.h>

#include "aid/aid.h"

/* The names are read from dbus/aid-errors.h itself (not copied here), so that an error added
 * to the daemon's header without a client code fails this test. */
struct dbus_error_name {
        char *macro_suffix; /* PERMISSION_DENIED */
        char *name;         /* org.aid.Error.PermissionDenied */
};

static GPtrArray *read_error_names(void)
{
        const char *root = g_getenv("AID_SOURCE_ROOT");
        g_autofree char *path = NULL;
        g_autofree char *text = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GRegex) re = NULL;
        g_autoptr(GMatchInfo) match = NULL;
        GPtrArray *names = g_ptr_array_new();

        cr_assert(root, "AID_SOURCE_ROOT is not set (run through meson test)");
        path = g_build_filename(root, "dbus", "aid-errors.h", NULL);
        cr_assert(g_file_get_contents(path, &text, NULL, &error), "%s", error ? error->message : "");

        re = g_regex_new("^#define\\s+AID_ERROR_([A-Z_]+)\\s+\"(org\\.aid\\.Error\\.[A-Za-z]+)\"",
                        G_REGEX_MULTILINE, 0, NULL);
        g_regex_match(re, text, 0, &match);
        while (g_match_info_matches(match)) {
                struct dbus_error_name *n = g_new0(struct dbus_error_name, 1);
                n->macro_suffix = g_match_info_fetch(match, 1);
                n->name = g_match_info_fetch(match, 2);
                g_ptr_array_add(names, n);
                g_match_info_next(match, NULL);
        }
        cr_assert_geq(names->len, 9, "only %u org.aid.Error names found in %s", names->len, path);
        return names;
}

/* PERMISSION_DENIED -> permission-denied, the nickname of the AidError code. */
static char *nick_for(const char *macro_suffix)
{
        char *nick = g_ascii_strdown(macro_suffix, -1);

        g_strdelimit(nick, "_", '-');
        return nick;
}

Test(error_map, every_daemon_error_has_its_own_code)
{
        g_autoptr(GPtrArray) names = read_error_names();
        g_autoptr(GEnumClass) enum_class = g_type_class_ref(AID_TYPE_ERROR);
        g_autoptr(GHashTable) codes_seen = g_hash_table_new(g_direct_hash, g_direct_equal);

        (void)aid_error_quark();

        for (guint i = 0; i < names->len; i++) {
                const struct dbus_error_name *n = names->pdata[i];
                g_autofree char *nick = nick_for(n->macro_suffix);
                GEnumValue *expected = g_enum_get_value_by_nick(enum_class, nick);
                g_autoptr(GError) e = g_dbus_error_new_for_dbus_error(n->name, "model is on fire");
                g_autofree char *encoded = NULL;

                cr_assert(expected, "%s has no AidError code (nickname %s)", n->name, nick);
                cr_assert_eq(e->domain, AID_ERROR, "%s did not map into AID_ERROR", n->name);
                cr_assert_eq(e->code, expected->value, "%s mapped to code %d, expected %s", n->name, e->code,
                                expected->value_name);
                cr_assert(!g_hash_table_contains(codes_seen, GINT_TO_POINTER(e->code)), "%s shares code %d",
                                n->name, e->code);
                g_hash_table_add(codes_seen, GINT_TO_POINTER(e->code));

                /* and back: the code is sent as the same D-Bus name */
                encoded = g_dbus_error_encode_gerror(e);
                cr_assert_str_eq(encoded, n->name);

                cr_assert(g_dbus_error_strip_remote_error(e));
                cr_assert_str_eq(e->message, "model is on fire");
        }
}

Test(error_map, client_side_codes_have_no_daemon_name)
{
        g_autoptr(GPtrArray) names = read_error_names();
        const int client_codes[] = { AID_ERROR_DAEMON_NOT_RUNNING, AID_ERROR_BUS_UNREACHABLE,
                AID_ERROR_FAILED };

        for (size_t i = 0; i < G_N_ELEMENTS(client_codes); i++) {
                g_autoptr(GError) e = g_error_new_literal(AID_ERROR, client_codes[i], "x");
                g_autofree char *encoded = g_dbus_error_encode_gerror(e);

                cr_assert(!g_str_has_prefix(encoded, "org.aid.Error."), "client-side code %d encodes as %s",
                                client_codes[i], encoded);
        }

        /* Every other code is one of the daemon's names: nothing in AidError is left unmapped. */
        g_autoptr(GEnumClass) enum_class = g_type_class_ref(AID_TYPE_ERROR);
        cr_assert_eq(enum_class->n_values, names->len + G_N_ELEMENTS(client_codes),
                        "AidError has %u codes for %u daemon errors", enum_class->n_values, names->len);
}

Test(error_map, error_reply_message_arrives_as_aid_error)
{
        g_autoptr(GDBusMessage) call = g_dbus_message_new_method_call(
                        "org.aid.Daemon1", "/org/aid/Daemon1", "org.aid.Daemon1.Manager", "GetModelInfo");
        g_autoptr(GDBusMessage) reply = NULL;
        g_autoptr(GError) e = NULL;

        (void)aid_error_quark();
        g_dbus_message_set_serial(call, 7);
        reply = g_dbus_message_new_method_error_literal(
                        call, "org.aid.Error.NoSuchModel", "No model with id \"nope\"");

        cr_assert(g_dbus_message_to_gerror(reply, &e));
        cr_assert(g_error_matches(e, AID_ERROR, AID_ERROR_NO_SUCH_MODEL), "got %s %d: %s",
                        g_quark_to_string(e->domain), e->code, e->message);
        g_dbus_error_strip_remote_error(e);
        cr_assert_str_eq(e->message, "No model with id \"nope\"");
}
