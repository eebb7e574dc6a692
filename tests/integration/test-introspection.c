/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The live interface must be exactly the contract in dbus/org.aid.Daemon1.xml: clients (and
 * libaid) are written against that file, so any drift is a bug in one of the two. */

#include "testbus.h"

#include <criterion/criterion.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#define IFACE "org.aid.Daemon1.Manager"
#define ECS   "org.freedesktop.DBus.Property.EmitsChangedSignal"

static struct testbus tb;

static void setup(void)
{
        testbus_setup(&tb);
}

static void teardown(void)
{
        testbus_teardown(&tb);
}

TestSuite(introspection, .init = setup, .fini = teardown, .timeout = 60);

static void diff(GString *out, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void diff(GString *out, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        g_string_append_vprintf(out, fmt, ap);
        va_end(ap);
        g_string_append_c(out, '\n');
}

static void compare_args(GString *out, const char *what, const char *member, GDBusArgInfo **want,
                GDBusArgInfo **have, const char *dir)
{
        guint n_want = want ? g_strv_length((char **)want) : 0;
        guint n_have = have ? g_strv_length((char **)have) : 0;

        if (n_want != n_have) {
                diff(out, "%s %s: %u %s%sarguments in the XML, %u live", what, member, n_want, dir,
                                dir[0] ? " " : "", n_have);
                return;
        }
        for (guint i = 0; i < n_want; i++) {
                if (g_strcmp0(want[i]->name, have[i]->name) != 0)
                        diff(out, "%s %s: %s argument %u is named '%s' in the XML, '%s' live", what, member,
                                        dir, i, want[i]->name, have[i]->name);
                if (g_strcmp0(want[i]->signature, have[i]->signature) != 0)
                        diff(out, "%s %s: %s argument '%s' has type '%s' in the XML, '%s' live", what,
                                        member, dir, want[i]->name, want[i]->signature, have[i]->signature);
        }
}

/* The D-Bus specification's default for a property without the annotation is "true". */
static const char *emits_changed(GDBusPropertyInfo *p)
{
        const char *v = g_dbus_annotation_info_lookup(p->annotations, ECS);
        return v ? v : "true";
}

static const char *access_name(GDBusPropertyInfoFlags f)
{
        switch ((int)f) {
        case G_DBUS_PROPERTY_INFO_FLAGS_READABLE:
                return "read";
        case G_DBUS_PROPERTY_INFO_FLAGS_WRITABLE:
                return "write";
        case G_DBUS_PROPERTY_INFO_FLAGS_READABLE | G_DBUS_PROPERTY_INFO_FLAGS_WRITABLE:
                return "readwrite";
        }
        return "none";
}

/* Every difference between two versions of one interface, one line each; "" when equal. */
static char *compare_interfaces(GDBusInterfaceInfo *want, GDBusInterfaceInfo *have)
{
        GString *out = g_string_new(NULL);

        for (guint i = 0; want->methods && want->methods[i]; i++) {
                GDBusMethodInfo *w = want->methods[i];
                GDBusMethodInfo *h = g_dbus_interface_info_lookup_method(have, w->name);
                if (!h) {
                        diff(out, "method %s is in the XML but not live", w->name);
                        continue;
                }
                compare_args(out, "method", w->name, w->in_args, h->in_args, "in");
                compare_args(out, "method", w->name, w->out_args, h->out_args, "out");
        }
        for (guint i = 0; have->methods && have->methods[i]; i++)
                if (!g_dbus_interface_info_lookup_method(want, have->methods[i]->name))
                        diff(out, "method %s is live but not in the XML", have->methods[i]->name);

        for (guint i = 0; want->properties && want->properties[i]; i++) {
                GDBusPropertyInfo *w = want->properties[i];
                GDBusPropertyInfo *h = g_dbus_interface_info_lookup_property(have, w->name);
                if (!h) {
                        diff(out, "property %s is in the XML but not live", w->name);
                        continue;
                }
                if (g_strcmp0(w->signature, h->signature) != 0)
                        diff(out, "property %s has type '%s' in the XML, '%s' live", w->name, w->signature,
                                        h->signature);
                if (w->flags != h->flags)
                        diff(out, "property %s has access '%s' in the XML, '%s' live", w->name,
                                        access_name(w->flags), access_name(h->flags));
                if (strcmp(emits_changed(w), emits_changed(h)) != 0)
                        diff(out, "property %s: EmitsChangedSignal is '%s' in the XML, '%s' live", w->name,
                                        emits_changed(w), emits_changed(h));
        }
        for (guint i = 0; have->properties && have->properties[i]; i++)
                if (!g_dbus_interface_info_lookup_property(want, have->properties[i]->name))
                        diff(out, "property %s is live but not in the XML", have->properties[i]->name);

        for (guint i = 0; want->signals && want->signals[i]; i++) {
                GDBusSignalInfo *w = want->signals[i];
                GDBusSignalInfo *h = g_dbus_interface_info_lookup_signal(have, w->name);
                if (!h) {
                        diff(out, "signal %s is in the XML but not live", w->name);
                        continue;
                }
                compare_args(out, "signal", w->name, w->args, h->args, "");
        }
        for (guint i = 0; have->signals && have->signals[i]; i++)
                if (!g_dbus_interface_info_lookup_signal(want, have->signals[i]->name))
                        diff(out, "signal %s is live but not in the XML", have->signals[i]->name);

        return g_string_free(out, false);
}

static GDBusNodeInfo *parse(const char *xml, const char *what)
{
        g_autoptr(GError) e = NULL;
        GDBusNodeInfo *node = g_dbus_node_info_new_for_xml(xml, &e);

        cr_assert(node, "cannot parse %s: %s", what, e ? e->message : "?");
        return node;
}

static GDBusNodeInfo *contract(void)
{
        const char *path = g_getenv("AID_DBUS_XML");
        g_autofree char *xml = NULL;

        cr_assert(path, "AID_DBUS_XML is not set (meson sets it to dbus/org.aid.Daemon1.xml)");
        cr_assert(g_file_get_contents(path, &xml, NULL, NULL), "cannot read %s", path);
        return parse(xml, path);
}

static GDBusInterfaceInfo *interface_named(GDBusNodeInfo *node, const char *name, const char *what)
{
        GDBusInterfaceInfo *i = g_dbus_node_info_lookup_interface(node, name);

        cr_assert(i, "%s has no interface %s", what, name);
        return i;
}

static GDBusInterfaceInfo *interface(GDBusNodeInfo *node, const char *what)
{
        return interface_named(node, IFACE, what);
}

Test(introspection, live_manager_interface_matches_the_xml)
{
        g_autoptr(GDBusNodeInfo) want = contract(), have = NULL;
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GVariant) v = NULL;
        g_autoptr(GError) e = NULL;
        g_autofree char *differences = NULL;
        const char *xml;

        testbus_start_aid(&tb, NULL);
        c = g_dbus_connection_new_for_address_sync(tb.address,
                        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                        NULL, NULL, &e);
        cr_assert(c, "%s", e ? e->message : "?");
        v = g_dbus_connection_call_sync(c, "org.aid.Daemon1", "/org/aid/Daemon1",
                        "org.freedesktop.DBus.Introspectable", "Introspect", NULL, G_VARIANT_TYPE("(s)"),
                        G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &e);
        cr_assert(v, "Introspect failed: %s", e ? e->message : "?");
        g_variant_get(v, "(&s)", &xml);
        have = parse(xml, "the live introspection");

        differences = compare_interfaces(interface(want, "the XML"), interface(have, "the live object"));
        cr_assert_str_empty(differences, "the live " IFACE " differs from $AID_DBUS_XML:\n%s\nlive XML:\n%s",
                        differences, xml);
}

/* The comparison itself must see the differences it exists for. */
Test(introspection, comparison_reports_each_difference)
{
        g_autoptr(GDBusNodeInfo) want = contract(), have = NULL;
        g_autofree char *differences = NULL;
        static const char changed[] =
                        "<node><interface name='" IFACE "'>"
                        "<property name='Version' type='s' access='read'>"
                        "<annotation name='" ECS "' value='const'/></property>"
                        "<property name='BusMode' type='s' access='readwrite'>"
                        "<annotation name='" ECS "' value='const'/></property>"
                        "<property name='Models' type='aa{sv}' access='read'/>"
                        "<property name='DefaultModels' type='a{sv}' access='read'>"
                        "<annotation name='" ECS "' value='invalidates'/></property>"
                        "<method name='ListModels'><arg name='list' type='aa{sv}' direction='out'/></method>"
                        "<method name='GetModelInfo'><arg name='id' type='u' direction='in'/>"
                        "<arg name='info' type='a{sv}' direction='out'/></method>"
                        "<method name='Extra'/>"
                        "<signal name='ModelsChanged'/>"
                        "</interface></node>";

        have = parse(changed, "the altered XML");
        differences = compare_interfaces(interface(want, "the XML"), interface(have, "the altered XML"));

        static const char *const expected[] = {
                "method GetModelInfo: in argument 'id' has type 's' in the XML, 'u' live",
                "method ListModels: out argument 0 is named 'models' in the XML, 'list' live",
                "method Rescan is in the XML but not live",
                "method Extra is live but not in the XML",
                "property BusMode has access 'read' in the XML, 'readwrite' live",
                "property Models: EmitsChangedSignal is 'invalidates' in the XML, 'true' live",
                "property DefaultModels has type 'a{ss}' in the XML, 'a{sv}' live",
                "signal ModelsChanged: 1 arguments in the XML, 0 live",
        };
        for (size_t i = 0; i < G_N_ELEMENTS(expected); i++)
                cr_assert(strstr(differences, expected[i]), "not reported: %s\nreported:\n%s", expected[i],
                                differences);
        cr_assert_null(strstr(differences, "Version"), "an equal property was reported:\n%s", differences);
}

static GDBusConnection *connect_bus(void)
{
        g_autoptr(GError) e = NULL;
        GDBusConnection *c = g_dbus_connection_new_for_address_sync(tb.address,
                        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                        NULL, NULL, &e);

        cr_assert(c, "%s", e ? e->message : "?");
        return c;
}

/* The live introspection of path, or NULL (and *ret_error) when the call fails. */
static char *introspect(GDBusConnection *c, const char *path, GError **ret_error)
{
        g_autoptr(GVariant) v = g_dbus_connection_call_sync(c, "org.aid.Daemon1", path,
                        "org.freedesktop.DBus.Introspectable", "Introspect", NULL, G_VARIANT_TYPE("(s)"),
                        G_DBUS_CALL_FLAGS_NONE, 10000, NULL, ret_error);
        char *xml;

        if (!v)
                return NULL;
        g_variant_get(v, "(s)", &xml);
        return xml;
}

static void assert_matches(GDBusNodeInfo *want, const char *xml, const char *name)
{
        g_autoptr(GDBusNodeInfo) have = parse(xml, "the live introspection");
        g_autofree char *differences = compare_interfaces(interface_named(want, name, "the XML"),
                        interface_named(have, name, "the live object"));

        cr_assert_str_empty(differences, "the live %s differs from $AID_DBUS_XML:\n%s\nlive XML:\n%s", name,
                        differences, xml);
}

static char *call_for_path(GDBusConnection *c, const char *method, GVariant *args)
{
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) v = g_dbus_connection_call_sync(c, "org.aid.Daemon1", "/org/aid/Daemon1",
                        "org.aid.Daemon1.Text", method, args, G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NONE,
                        10000, NULL, &e);
        char *path;

        cr_assert(v, "%s failed: %s", method, e ? e->message : "?");
        g_variant_get(v, "(o)", &path);
        return path;
}

/* Text on the root object, Request and Chat on the objects they live on (which only their creator
 * may introspect). */
Test(introspection, live_text_interfaces_match_the_xml)
{
        g_autoptr(GDBusNodeInfo) want = contract();
        g_autoptr(GDBusConnection) c = NULL;
        g_autofree char *policy_dir = g_build_filename(tb.dir, "policy", NULL);
        g_autofree char *policy = g_build_filename(policy_dir, "00.conf", NULL);
        g_autofree char *conf = g_strdup_printf("[Policy]\nDirectories=%s\n", policy_dir);
        g_autofree char *root = NULL, *chat = NULL, *chat_xml = NULL, *request_xml = NULL;

        /* Without the fixtures there is no model to make a chat or a request with: Text alone. */
        if (testbus_fixtures())
                testbus_add_fixture_model(&tb, "models/tiny-llama-v512-F32.gguf", NULL);
        cr_assert_eq(g_mkdir(policy_dir, 0755), 0);
        cr_assert(g_file_set_contents(policy, "[Default]\ntext=allow\n", -1, NULL));
        testbus_start_aid(&tb, conf);
        c = connect_bus();

        root = introspect(c, "/org/aid/Daemon1", NULL);
        cr_assert(root);
        assert_matches(want, root, "org.aid.Daemon1.Text");
        if (!testbus_fixtures()) {
                testbus_teardown(&tb); /* .fini does not run after a skip */
                cr_skip_test("fixtures folder absent: Request and Chat need a model (set AID_FIXTURES)");
        }

        chat = call_for_path(c, "CreateChat", g_variant_new_parsed("({'max_tokens': <uint32 4>},)"));
        chat_xml = introspect(c, chat, NULL);
        cr_assert(chat_xml, "cannot introspect %s", chat);
        assert_matches(want, chat_xml, "org.aid.Daemon1.Chat");

        /* A request object lives while it generates: a few hundred tokens of the tiny model, a
         * fraction of a second, so a loaded machine may need another try. */
        for (int attempt = 0; attempt < 5 && !request_xml; attempt++) {
                g_autofree char *request = call_for_path(c, "StartGeneration",
                                g_variant_new_parsed("('Once upon a time', {'max_tokens': <uint32 400>, "
                                                     "'temperature': <0.0>})"));
                request_xml = introspect(c, request, NULL);
        }
        cr_assert(request_xml, "no request object lived long enough to be introspected");
        assert_matches(want, request_xml, "org.aid.Daemon1.Request");
}
