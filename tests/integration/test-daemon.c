/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The real aid on a private bus, driven by the clients people use (busctl, gdbus) and by
 * misbehaving raw connections: what it lists, how it answers, how it notices new models,
 * and that no client can make it exit. */

#include "config.h"
#include "testbus.h"

#include <criterion/criterion.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#define DEST  "org.aid.Daemon1"
#define PATH  "/org/aid/Daemon1"
#define IFACE "org.aid.Daemon1.Manager"

static struct testbus tb;

static void setup(void)
{
        testbus_setup(&tb);
}

static void teardown(void)
{
        testbus_teardown(&tb);
}

TestSuite(daemon, .init = setup, .fini = teardown, .timeout = 120);

/* The fixture models every listing test uses, plus a truncated copy of one of them. */
static void add_models(void)
{
        g_autofree char *good = NULL, *contents = NULL, *broken = NULL;
        gsize length;

        testbus_add_fixture_model(&tb, "models/tiny-llama-v512-Q4_0.gguf", NULL);
        testbus_add_fixture_model(&tb, "models/tiny-gemma3-v512-Q8_0.gguf", NULL);
        testbus_add_fixture_model(&tb, "whisper/whisper-d64-random-f16.bin", NULL);

        good = g_build_filename(tb.models_dir, "tiny-llama-v512-Q4_0.gguf", NULL);
        broken = g_build_filename(tb.models_dir, "broken.gguf", NULL);
        cr_assert(g_file_get_contents(good, &contents, &length, NULL));
        /* Header and tensor table intact, tensor data cut short. */
        cr_assert(g_file_set_contents(broken, contents, (gssize)(length / 3), NULL));
}

static char *run_ok(const char *const *argv)
{
        g_autofree char *out = NULL, *err = NULL;
        int rc = testbus_run(&tb, &out, &err, argv);

        cr_assert_eq(rc, 0, "%s %s failed (%d): %s", argv[0], argv[1], rc, err);
        return g_steal_pointer(&out);
}

/* busctl --json=short call ... ListModels: {"type":"aa{sv}","data":[[{key:{type,data}},...]]} */
static JsonArray *busctl_list_models(JsonParser *parser)
{
        const char *argv[] = { "busctl", "--user", "--json=short", "call", DEST, PATH, IFACE, "ListModels",
                NULL };
        g_autofree char *out = run_ok(argv);
        g_autoptr(GError) e = NULL;
        JsonObject *root;
        JsonArray *data;

        cr_assert(json_parser_load_from_data(parser, out, -1, &e), "busctl printed no JSON (%s): %s",
                        e ? e->message : "?", out);
        root = json_node_get_object(json_parser_get_root(parser));
        cr_assert_str_eq(json_object_get_string_member(root, "type"), "aa{sv}");
        data = json_object_get_array_member(root, "data");
        cr_assert_eq(json_array_get_length(data), 1);
        return json_array_get_array_element(data, 0);
}

static JsonObject *find_model(JsonArray *models, const char *id)
{
        for (guint i = 0; i < json_array_get_length(models); i++) {
                JsonObject *m = json_array_get_object_element(models, i);
                JsonObject *v = json_object_get_object_member(m, "id");
                if (v && g_strcmp0(json_object_get_string_member(v, "data"), id) == 0)
                        return m;
        }
        return NULL;
}

static JsonNode *field(JsonObject *model, const char *key, const char *type)
{
        JsonObject *v;

        cr_assert(json_object_has_member(model, key), "the model has no '%s'", key);
        v = json_object_get_object_member(model, key);
        cr_assert_str_eq(json_object_get_string_member(v, "type"), type, "'%s' has the wrong type", key);
        return json_object_get_member(v, "data");
}

Test(daemon, list_models_shows_good_and_broken_files)
{
        g_autoptr(JsonParser) parser = json_parser_new();
        JsonArray *models;
        JsonObject *m;
        const char *reason;

        add_models();
        testbus_start_aid(&tb, NULL);
        models = busctl_list_models(parser);
        cr_assert_eq(json_array_get_length(models), 4);

        m = find_model(models, "tiny-llama-v512-Q4_0");
        cr_assert(m, "tiny-llama-v512-Q4_0 is not listed");
        cr_assert(json_node_get_boolean(field(m, "usable", "b")));
        cr_assert_not(json_object_has_member(m, "reason"));
        cr_assert_str_eq(json_node_get_string(field(m, "format", "s")), "gguf");
        cr_assert_str_eq(json_node_get_string(field(m, "source", "s")), "config");
        cr_assert_str_eq(json_node_get_string(field(m, "architecture", "s")), "llama");
        cr_assert_str_eq(json_node_get_string(field(m, "capability", "s")), "text");
        cr_assert_str_eq(json_node_get_string(field(m, "file_type", "s")), "Q4_0");
        cr_assert_str_eq(json_node_get_string(field(m, "state", "s")), "unloaded");
        cr_assert_gt(json_node_get_int(field(m, "parameters", "t")), 0);
        cr_assert_eq(json_node_get_int(field(m, "context_length", "t")), 512);
        JsonObject *types = json_node_get_object(field(m, "tensor_types", "a{su}"));
        cr_assert(json_object_has_member(types, "Q4_0"), "no Q4_0 tensors listed");

        m = find_model(models, "whisper-d64-random-f16");
        cr_assert(m, "the whisper model is not listed");
        cr_assert_str_eq(json_node_get_string(field(m, "format", "s")), "whisper-ggml");
        cr_assert_str_eq(json_node_get_string(field(m, "capability", "s")), "speech");

        cr_assert(find_model(models, "tiny-gemma3-v512-Q8_0"), "the gemma3 model is not listed");

        m = find_model(models, "broken");
        cr_assert(m, "the truncated file is not listed");
        cr_assert_not(json_node_get_boolean(field(m, "usable", "b")));
        reason = json_node_get_string(field(m, "reason", "s"));
        /* The reason points at what is wrong: the data runs past the end of the file. */
        cr_assert(strstr(reason, "size") && strpbrk(reason, "0123456789"),
                        "the reason does not say where the file ends: %s", reason);
        cr_assert(testbus_aid_alive(&tb));
}

Test(daemon, get_model_info_with_gdbus)
{
        const char *argv[] = { "gdbus", "call", "--session", "--dest", DEST, "--object-path", PATH,
                "--method", IFACE ".GetModelInfo", "tiny-llama-v512-Q4_0", NULL };
        g_autofree char *out = NULL;
        g_autoptr(GVariant) v = NULL, info = NULL;
        g_autoptr(GError) e = NULL;
        const char *s;

        add_models();
        testbus_start_aid(&tb, NULL);
        out = run_ok(argv);
        v = g_variant_parse(G_VARIANT_TYPE("(a{sv})"), out, NULL, NULL, &e);
        cr_assert(v, "gdbus printed something that is no (a{sv}): %s (%s)", out, e ? e->message : "?");
        info = g_variant_get_child_value(v, 0);
        cr_assert(g_variant_lookup(info, "id", "&s", &s));
        cr_assert_str_eq(s, "tiny-llama-v512-Q4_0");
        cr_assert(g_variant_lookup(info, "path", "&s", &s));
        cr_assert(g_str_has_prefix(s, tb.models_dir), "%s", s);
        cr_assert(g_variant_lookup(info, "name", "&s", &s));
        cr_assert_str_eq(s, "tiny-llama-v512");
}

static void assert_call_fails(const char *const *argv, const char *error_name, const char *message)
{
        g_autofree char *out = NULL, *err = NULL;
        int rc = testbus_run(&tb, &out, &err, argv);

        cr_assert_neq(rc, 0, "%s succeeded: %s", argv[0], out);
        if (error_name)
                cr_assert(strstr(err, error_name), "no %s in: %s", error_name, err);
        if (message)
                cr_assert(strstr(err, message), "no '%s' in: %s", message, err);
}

Test(daemon, unknown_and_empty_ids_are_explained)
{
        const char *unknown[] = { "gdbus", "call", "--session", "--dest", DEST, "--object-path", PATH,
                "--method", IFACE ".GetModelInfo", "nope", NULL };
        const char *empty[] = { "gdbus", "call", "--session", "--dest", DEST, "--object-path", PATH,
                "--method", IFACE ".GetModelInfo", "", NULL };

        testbus_start_aid(&tb, NULL);
        assert_call_fails(unknown, "org.aid.Error.NoSuchModel",
                        "No model with id 'nope'. 'aidctl models' lists the available ones.");
        assert_call_fails(empty, "org.aid.Error.InvalidArgument", "empty");
        cr_assert(testbus_aid_alive(&tb));
}

static char *get_property(const char *name)
{
        const char *argv[] = { "busctl", "--user", "get-property", DEST, PATH, IFACE, name, NULL };
        return run_ok(argv);
}

Test(daemon, properties)
{
        g_autofree char *version = NULL, *mode = NULL, *defaults = NULL, *expected = NULL;

        add_models();
        /* The configured default beats the registry's own choice (the first usable model). */
        testbus_start_aid(&tb, "DefaultText=tiny-gemma3-v512-Q8_0\n");

        version = get_property("Version");
        expected = g_strdup_printf("s \"%s\"\n", AID_VERSION);
        cr_assert_str_eq(version, expected);

        mode = get_property("BusMode");
        cr_assert_str_eq(mode, "s \"address\"\n");

        defaults = get_property("DefaultModels");
        cr_assert(strstr(defaults, "\"text\" \"tiny-gemma3-v512-Q8_0\""), "%s", defaults);
        cr_assert(strstr(defaults, "\"speech\" \"whisper-d64-random-f16\""), "%s", defaults);
        cr_assert_null(strstr(defaults, "vision"), "there is no vision model: %s", defaults);
}

/* Counts ModelsChanged signals on our own connection to the private bus. */
struct watcher {
        GDBusConnection *connection;
        guint subscription;
        unsigned n_signals;
        guint32 last_n_models;
};

static void on_models_changed(GDBusConnection *c, const char *sender, const char *path, const char *iface,
                const char *signal, GVariant *params, gpointer userdata)
{
        struct watcher *w = userdata;

        g_variant_get(params, "(u)", &w->last_n_models);
        w->n_signals++;
}

static void watcher_start(struct watcher *w)
{
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) v = NULL;

        *w = (struct watcher){};
        w->connection = g_dbus_connection_new_for_address_sync(tb.address,
                        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                        NULL, NULL, &e);
        cr_assert(w->connection, "%s", e ? e->message : "?");
        w->subscription = g_dbus_connection_signal_subscribe(w->connection, DEST, IFACE, "ModelsChanged",
                        PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_models_changed, w, NULL);
        /* A round trip to the bus: the match rule is in place before anything changes. */
        v = g_dbus_connection_call_sync(w->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                        "org.freedesktop.DBus", "GetId", NULL, NULL, 0, 5000, NULL, &e);
        cr_assert(v, "%s", e ? e->message : "?");
}

/* Dispatches signals for timeout_ms, or until n signals have arrived when n > 0. */
static void watcher_wait(struct watcher *w, unsigned n, int timeout_ms)
{
        gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

        while (g_get_monotonic_time() < deadline && (n == 0 || w->n_signals < n))
                if (!g_main_context_iteration(NULL, false))
                        g_usleep(10 * 1000);
}

static void watcher_stop(struct watcher *w)
{
        g_dbus_connection_signal_unsubscribe(w->connection, w->subscription);
        g_clear_object(&w->connection);
}

Test(daemon, new_file_appears_through_inotify_with_one_rescan)
{
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autofree char *src = NULL, *dst = NULL, *contents = NULL;
        struct watcher w;
        gsize length;
        FILE *f;

        add_models();
        testbus_start_aid(&tb, NULL);
        watcher_start(&w);

        /* Written in pieces over about a second, as a slow copy would: the daemon must wait
         * for the end instead of listing a half-written (broken) model first. */
        src = g_build_filename(testbus_fixtures(), "models", "tiny-llama-v512-Q4_K.gguf", NULL);
        dst = g_build_filename(tb.models_dir, "new-model.gguf", NULL);
        cr_assert(g_file_get_contents(src, &contents, &length, NULL));
        f = fopen(dst, "we");
        cr_assert(f);
        for (gsize off = 0; off < length; off += length / 10 + 1) {
                gsize n = MIN(length - off, length / 10 + 1);
                cr_assert_eq(fwrite(contents + off, 1, n, f), n);
                fflush(f);
                g_usleep(100 * 1000);
        }
        fclose(f);

        watcher_wait(&w, 1, 10000);
        cr_assert_eq(w.n_signals, 1, "no ModelsChanged within 10 s of adding a model");
        cr_assert_eq(w.last_n_models, 5);
        /* Nothing else follows for the same copy. */
        watcher_wait(&w, 0, 1500);
        cr_assert_eq(w.n_signals, 1, "one copied file caused %u rescans that changed the list", w.n_signals);

        JsonArray *models = busctl_list_models(parser);
        JsonObject *m = find_model(models, "new-model");
        cr_assert(m, "the new model is not listed");
        cr_assert(json_node_get_boolean(field(m, "usable", "b")), "the copied model is listed as unusable");

        /* Removing it is noticed too. */
        cr_assert_eq(g_unlink(dst), 0);
        watcher_wait(&w, 2, 10000);
        cr_assert_eq(w.n_signals, 2, "no ModelsChanged after removing a model");
        cr_assert_eq(w.last_n_models, 4);
        watcher_stop(&w);
}

Test(daemon, sighup_and_rescan_pick_up_unwatched_directories)
{
        g_autofree char *late = g_build_filename(tb.dir, "late", NULL);
        g_autofree char *conf = NULL, *out = NULL, *src = NULL, *dst = NULL, *contents = NULL;
        const char *rescan[] = { "busctl", "--user", "call", DEST, PATH, IFACE, "Rescan", NULL };
        struct watcher w;
        gsize length;

        add_models();
        /* A configured directory that does not exist yet is not watched: creating it later
         * needs SIGHUP (or Rescan()). The key given last wins. */
        conf = g_strdup_printf("Directories=%s;%s\n", tb.models_dir, late);
        testbus_start_aid(&tb, conf);
        watcher_start(&w);

        src = g_build_filename(testbus_fixtures(), "models", "tiny-gemma3-v512-Q4_0.gguf", NULL);
        dst = g_build_filename(late, "late-model.gguf", NULL);
        cr_assert(g_file_get_contents(src, &contents, &length, NULL));
        cr_assert_eq(g_mkdir(late, 0755), 0);
        cr_assert(g_file_set_contents(dst, contents, (gssize)length, NULL));
        watcher_wait(&w, 0, 1000);
        cr_assert_eq(w.n_signals, 0, "a change in an unwatched directory was noticed");

        cr_assert_eq(kill(tb.aid_pid, SIGHUP), 0);
        watcher_wait(&w, 1, 10000);
        cr_assert_eq(w.n_signals, 1, "no ModelsChanged after SIGHUP");
        cr_assert_eq(w.last_n_models, 5);

        /* Now it is watched. */
        cr_assert_eq(g_unlink(dst), 0);
        watcher_wait(&w, 2, 10000);
        cr_assert_eq(w.n_signals, 2, "the directory found by SIGHUP is not watched");

        out = run_ok(rescan);
        cr_assert_str_eq(out, "u 4\n");
        watcher_stop(&w);
        cr_assert(testbus_aid_alive(&tb));
}

static GDBusConnection *raw_connection(void)
{
        g_autoptr(GError) e = NULL;
        GDBusConnection *c = g_dbus_connection_new_for_address_sync(tb.address,
                        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                        NULL, NULL, &e);

        cr_assert(c, "%s", e ? e->message : "?");
        return c;
}

Test(daemon, clients_that_vanish_mid_call_do_not_hurt)
{
        g_autoptr(JsonParser) parser = json_parser_new();

        add_models();
        testbus_start_aid(&tb, NULL);

        for (int i = 0; i < 50; i++) {
                g_autoptr(GDBusConnection) c = raw_connection();
                g_autoptr(GDBusMessage) m = g_dbus_message_new_method_call(
                                DEST, PATH, IFACE, i % 2 ? "ListModels" : "Rescan");
                g_autoptr(GError) e = NULL;

                cr_assert(g_dbus_connection_send_message(c, m, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, &e),
                                "%s", e ? e->message : "?");
                cr_assert(g_dbus_connection_flush_sync(c, NULL, &e), "%s", e ? e->message : "?");
                /* Gone before the reply can arrive. */
                cr_assert(g_dbus_connection_close_sync(c, NULL, &e), "%s", e ? e->message : "?");
        }

        cr_assert(testbus_aid_alive(&tb), "aid died after clients disconnected mid-call");
        cr_assert_eq(json_array_get_length(busctl_list_models(parser)), 4);
}

Test(daemon, malformed_calls_get_errors_and_aid_keeps_serving)
{
        const char *wrong_type[] = { "busctl", "--user", "call", DEST, PATH, IFACE, "GetModelInfo", "u", "5",
                NULL };
        const char *extra_arg[] = { "busctl", "--user", "call", DEST, PATH, IFACE, "ListModels", "s", "x",
                NULL };
        const char *no_arg[] = { "busctl", "--user", "call", DEST, PATH, IFACE, "GetModelInfo", NULL };
        const char *unknown_method[] = { "busctl", "--user", "call", DEST, PATH, IFACE, "Frobnicate", NULL };
        const char *unknown_iface[] = { "busctl", "--user", "call", DEST, PATH, "org.aid.Nope", "X", NULL };
        const char *unknown_path[] = { "busctl", "--user", "call", DEST, "/org/aid/Nope", IFACE,
                "ListModels", NULL };
        const char *set_readonly[] = { "busctl", "--user", "set-property", DEST, PATH, IFACE, "Version", "s",
                "9", NULL };
        const char *version[] = { "busctl", "--user", "get-property", DEST, PATH, IFACE, "Version", NULL };
        g_autofree char *out = NULL;

        testbus_start_aid(&tb, NULL);
        assert_call_fails(wrong_type, "nvalid", NULL);
        assert_call_fails(extra_arg, "nvalid", NULL);
        assert_call_fails(no_arg, "nvalid", NULL);
        assert_call_fails(unknown_method, "Unknown method", NULL);
        assert_call_fails(unknown_iface, NULL, NULL);
        assert_call_fails(unknown_path, NULL, NULL);
        assert_call_fails(set_readonly, NULL, NULL);

        cr_assert(testbus_aid_alive(&tb), "aid died after malformed calls");
        out = run_ok(version);
        cr_assert(strstr(out, AID_VERSION), "%s", out);
}

Test(daemon, sigterm_exits_cleanly)
{
        g_autofree char *log = NULL;
        int status;

        testbus_start_aid(&tb, NULL);
        status = testbus_stop_aid(&tb);
        cr_assert(WIFEXITED(status), "aid did not exit normally on SIGTERM (status %d)", status);
        cr_assert_eq(WEXITSTATUS(status), 0);
        cr_assert(g_file_get_contents(tb.aid_log, &log, NULL, NULL));
        cr_assert(strstr(log, "Received SIGTERM, exiting."), "%s", log);
}

/* SIGBUS is how a failed read of a mapped model file arrives (aid(8)); one sent by kill(2) takes
 * the same handler's other branch: aid says which, and still ends by the signal. */
Test(daemon, sigbus_is_said_and_ends_aid_by_it)
{
        g_autofree char *log = NULL;
        int status;

        testbus_start_aid(&tb, NULL);
        cr_assert_eq(kill(tb.aid_pid, SIGBUS), 0);
        status = testbus_wait_aid_exit(&tb, 20 * G_USEC_PER_SEC);
        cr_assert_neq(status, -1, "aid still runs 20 s after SIGBUS");
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS, "aid ended with status %d", status);
        cr_assert(g_file_get_contents(tb.aid_log, &log, NULL, NULL));
        cr_assert(strstr(log, "aid: received SIGBUS from another process; exiting by it."), "%s", log);
}

static int run_aid(char **ret_err, const char *arg1, const char *arg2)
{
        const char *argv[] = { g_getenv("AID_DAEMON"), arg1, arg2, NULL };

        return testbus_run(&tb, NULL, ret_err, argv);
}

Test(daemon, second_instance_on_the_same_bus_refuses_to_start)
{
        g_autofree char *address = NULL, *config = NULL, *err = NULL;

        testbus_start_aid(&tb, NULL);
        address = g_strdup_printf("--bus-address=%s", tb.address);
        config = g_strdup_printf("--config=%s", tb.config_path);
        cr_assert_eq(run_aid(&err, address, config), 1);
        cr_assert(strstr(err, "another aid already owns org.aid.Daemon1 on this bus"), "%s", err);
        cr_assert(testbus_aid_alive(&tb), "the first aid went away");
}

Test(daemon, bad_command_lines_and_configurations)
{
        g_autofree char *bad_conf = g_build_filename(tb.dir, "bad.conf", NULL);
        g_autofree char *idle_conf = g_build_filename(tb.dir, "idle.conf", NULL);
        g_autofree char *arg = NULL, *address = NULL;
        char *err = NULL;

        cr_assert_eq(run_aid(&err, "--frobnicate", NULL), 2, "%s", err);
        g_clear_pointer(&err, g_free);
        cr_assert_eq(run_aid(&err, "--log-level=loud", NULL), 2, "%s", err);
        cr_assert(strstr(err, "loud"), "%s", err);
        g_clear_pointer(&err, g_free);
        cr_assert_eq(run_aid(&err, "positional", NULL), 2, "%s", err);
        g_clear_pointer(&err, g_free);

        address = g_strdup_printf("--bus-address=%s", tb.address);
        cr_assert_eq(run_aid(&err, address, "--config=/nonexistent/aid.conf"), 1);
        cr_assert(strstr(err, "/nonexistent/aid.conf"), "%s", err);
        g_clear_pointer(&err, g_free);

        cr_assert(g_file_set_contents(bad_conf, "[Models]\nScanUserStores=false\nnonsense\n", -1, NULL));
        arg = g_strdup_printf("--config=%s", bad_conf);
        cr_assert_eq(run_aid(&err, address, arg), 1);
        g_autofree char *where = g_strdup_printf("%s:3:", bad_conf);
        cr_assert(strstr(err, where), "the error does not say %s: %s", where, err);
        g_clear_pointer(&err, g_free);

        cr_assert(g_file_set_contents(idle_conf, "[Daemon]\nIdleUnloadSec=-1\n", -1, NULL));
        g_free(arg);
        arg = g_strdup_printf("--config=%s", idle_conf);
        cr_assert_eq(run_aid(&err, address, arg), 1);
        cr_assert(strstr(err, "IdleUnloadSec"), "%s", err);
        g_clear_pointer(&err, g_free);

        cr_assert_eq(run_aid(&err, "--help", NULL), 0);
        g_clear_pointer(&err, g_free);
}
