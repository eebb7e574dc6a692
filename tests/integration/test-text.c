/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Text generation over D-Bus, end to end: a private bus, the real aid with fixture models, and
 * real clients (GDBus connections of this process, gdbus processes). The fixture models have
 * random weights: their text is gibberish, but greedy sampling makes it exactly reproducible,
 * and the fixtures record llama.cpp's greedy continuation of their prompt. */

#include "testbus.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gguf.h"
#include "tokenizer/tokenizer.h"

#define TEXT_IFACE    "org.aid.Daemon1.Text"
#define REQUEST_IFACE "org.aid.Daemon1.Request"
#define CHAT_IFACE    "org.aid.Daemon1.Chat"
#define LLAMA         "tiny-llama-v512-F32"
#define PHI3          "tiny-phi3-Q4_0"
#define WAIT_USEC     (60 * G_USEC_PER_SEC)

static struct testbus tb;
static char *policy_dir;
static char *bin_dir;

static void setup(void)
{
        testbus_setup(&tb);
        policy_dir = g_build_filename(tb.dir, "policy", NULL);
        bin_dir = g_build_filename(tb.dir, "bin", NULL);
        cr_assert_eq(g_mkdir(policy_dir, 0755), 0);
        cr_assert_eq(g_mkdir(bin_dir, 0755), 0);
}

static void teardown(void)
{
        testbus_teardown(&tb);
        g_clear_pointer(&policy_dir, g_free);
        g_clear_pointer(&bin_dir, g_free);
}

TestSuite(text, .init = setup, .fini = teardown, .timeout = 240);

/* A copy of gdbus named name (its path is the app id aid sees). */
static char *tool(const char *name)
{
        g_autofree char *gdbus = g_find_program_in_path("gdbus");
        g_autofree char *contents = NULL;
        char *path = g_build_filename(bin_dir, name, NULL);
        gsize length;

        cr_assert(gdbus, "gdbus is not installed");
        cr_assert(g_file_get_contents(gdbus, &contents, &length, NULL));
        cr_assert(g_file_set_contents(path, contents, (gssize)length, NULL));
        cr_assert_eq(chmod(path, 0755), 0);
        return path;
}

/* The fixture models and a policy that allows text, plus policy_extra (may be NULL). One thread
 * keeps the tests polite on a shared machine and changes no result (greedy is exact). */
static void start(const char *policy_extra)
{
        g_autofree char *policy = g_build_filename(policy_dir, "00-test.conf", NULL);
        g_autofree char *conf = g_strdup_printf("[Policy]\nDirectories=%s\n[Text]\nThreads=1\n", policy_dir);
        g_autofree char *contents =
                        g_strdup_printf("[Default]\ntext=allow\n%s", policy_extra ? policy_extra : "");

        testbus_add_fixture_model(&tb, "models/" LLAMA ".gguf", NULL);
        testbus_add_fixture_model(&tb, "models/" PHI3 ".gguf", NULL);
        cr_assert(g_file_set_contents(policy, contents, -1, NULL));
        testbus_start_aid(&tb, conf);
}

static char *fixture_text(const char *name)
{
        g_autofree char *path = g_build_filename(testbus_fixtures(), "models", name, NULL);
        char *s = NULL;

        cr_assert(g_file_get_contents(path, &s, NULL, NULL), "cannot read %s", path);
        return s;
}

/* The fixture's greedy token ids after its prompt, as text: what aid must generate. */
static char *greedy_text(const char *model, unsigned n)
{
        g_autofree char *gguf_path = g_strdup_printf("%s/models/%s.gguf", testbus_fixtures(), model);
        g_autofree char *name = g_strdup_printf("%s.greedy.txt", model);
        g_autofree char *ids = fixture_text(name);
        g_auto(GStrv) words = g_strsplit_set(g_strstrip(ids), " \n", -1);
        struct aid_error err = {};
        struct gguf_file *f = NULL;
        struct aid_tokenizer *t = NULL;
        struct aid_detokenizer *d = NULL;
        GString *out = g_string_new(NULL);
        const char *piece;
        size_t len;

        cr_assert_eq(gguf_open(gguf_path, &f, &err), 0, "%s", err.message);
        cr_assert_eq(aid_tokenizer_new_from_gguf(f, &t, &err), 0, "%s", err.message);
        cr_assert_eq(aid_detokenizer_new(t, 0, &d), 0);
        for (unsigned i = 0; i < n && words[i]; i++) {
                cr_assert_eq(aid_detokenizer_push(
                                             d, (int32_t)g_ascii_strtoll(words[i], NULL, 10), &piece, &len),
                                0);
                g_string_append_len(out, piece, (gssize)len);
        }
        cr_assert_eq(aid_detokenizer_flush(d, &piece, &len), 0);
        g_string_append_len(out, piece, (gssize)len);
        aid_detokenizer_free(d);
        aid_tokenizer_free(t);
        gguf_close(f);
        /* A random model's byte tokens make bytes that are not UTF-8; aid sends each as U+FFFD,
         * as g_utf8_make_valid() does. */
        char *valid = g_utf8_make_valid(out->str, (gssize)out->len);
        g_string_free(out, true);
        return valid;
}

static GDBusConnection *connect_bus(void)
{
        g_autoptr(GError) e = NULL;
        GDBusConnection *c = g_dbus_connection_new_for_address_sync(tb.address,
                        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                        NULL, NULL, &e);

        cr_assert(c, "cannot connect: %s", e ? e->message : "?");
        return c;
}

static GVariant *greedy(unsigned max_tokens)
{
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&b, "{sv}", "temperature", g_variant_new_double(0));
        g_variant_builder_add(&b, "{sv}", "max_tokens", g_variant_new_uint32(max_tokens));
        return g_variant_builder_end(&b);
}

static GVariant *option(const char *key, GVariant *value)
{
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&b, "{sv}", key, value);
        return g_variant_builder_end(&b);
}

static GVariant *call(GDBusConnection *c, const char *path, const char *iface, const char *method,
                GVariant *args, GError **e)
{
        return g_dbus_connection_call_sync(c, "org.aid.Daemon1", path, iface, method, args, NULL,
                        G_DBUS_CALL_FLAGS_NONE, (int)(WAIT_USEC / 1000), NULL, e);
}

/* Calls and asserts that it fails with the D-Bus error name want; returns the message. */
static char *call_fails(GDBusConnection *c, const char *path, const char *iface, const char *method,
                GVariant *args, const char *want)
{
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) v = call(c, path, iface, method, args, &e);
        g_autofree char *name = NULL;

        cr_assert_null(v, "%s.%s succeeded; expected %s", iface, method, want);
        name = g_dbus_error_get_remote_error(e);
        cr_assert_str_eq(name ? name : "(none)", want, "%s.%s: expected %s, got %s", iface, method, want,
                        e->message);
        g_dbus_error_strip_remote_error(e);
        return g_strdup(e->message);
}

static char *generate(GDBusConnection *c, const char *prompt, GVariant *options, GVariant **ret_stats)
{
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) v = call(c, "/org/aid/Daemon1", TEXT_IFACE, "Generate",
                        g_variant_new("(s@a{sv})", prompt, options), &e);
        char *text;

        cr_assert(v, "Generate failed: %s", e ? e->message : "?");
        g_variant_get(v, "(s@a{sv})", &text, ret_stats);
        return text;
}

/* What one connection saw of its requests' signals, by object path. */
struct stream {
        GString *text;
        unsigned n_tokens;
        unsigned n_ends;       /* Finished + Failed: must be 1 */
        bool signal_after_end; /* anything after Finished/Failed */
        char *error_name;      /* Failed */
        GVariant *stats;       /* Finished */
};

struct collector {
        GDBusConnection *c;
        guint id;
        GHashTable *streams; /* path → struct stream */
        unsigned n_signals;
};

static void stream_free(gpointer p)
{
        struct stream *s = p;

        g_string_free(s->text, true);
        g_free(s->error_name);
        if (s->stats)
                g_variant_unref(s->stats);
        g_free(s);
}

static void on_signal(GDBusConnection *c, const char *sender, const char *path, const char *iface,
                const char *member, GVariant *params, gpointer userdata)
{
        struct collector *col = userdata;
        struct stream *s = g_hash_table_lookup(col->streams, path);

        col->n_signals++;
        if (!s) {
                s = g_new0(struct stream, 1);
                s->text = g_string_new(NULL);
                g_hash_table_insert(col->streams, g_strdup(path), s);
        }
        if (s->n_ends > 0)
                s->signal_after_end = true;
        if (strcmp(member, "Token") == 0) {
                const char *t;
                g_variant_get(params, "(&s)", &t);
                g_string_append(s->text, t);
                s->n_tokens++;
        } else if (strcmp(member, "Finished") == 0) {
                s->n_ends++;
                s->stats = g_variant_get_child_value(params, 0);
        } else if (strcmp(member, "Failed") == 0) {
                s->n_ends++;
                g_variant_get(params, "(ss)", &s->error_name, NULL);
        }
}

static struct collector *collector_new(GDBusConnection *c)
{
        struct collector *col = g_new0(struct collector, 1);

        col->c = g_object_ref(c);
        col->streams = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, stream_free);
        col->id = g_dbus_connection_signal_subscribe(c, NULL, REQUEST_IFACE, NULL, NULL, NULL,
                        G_DBUS_SIGNAL_FLAGS_NONE, on_signal, col, NULL);
        return col;
}

static void collector_free(struct collector *col)
{
        g_dbus_connection_signal_unsubscribe(col->c, col->id);
        g_hash_table_destroy(col->streams);
        g_object_unref(col->c);
        g_free(col);
}

static gboolean on_timeout(gpointer p)
{
        *(bool *)p = true;
        return G_SOURCE_REMOVE;
}

/* Runs the main context until done(arg) or the timeout. */
static gboolean on_tick(gpointer p)
{
        return G_SOURCE_CONTINUE;
}

/* Runs the main context until done(arg) or the timeout; done() is also polled every 10 ms, for
 * conditions no event announces (a line in aid's log). */
static bool iterate_until(bool (*done)(void *), void *arg, gint64 usec)
{
        bool timed_out = false;
        guint t = g_timeout_add((guint)(usec / 1000), on_timeout, &timed_out);
        guint tick = g_timeout_add(10, on_tick, NULL);

        while (!done(arg) && !timed_out)
                g_main_context_iteration(NULL, true);
        if (!timed_out)
                g_source_remove(t);
        g_source_remove(tick);
        return done(arg);
}

struct wait_stream {
        struct collector *col;
        const char *path;
        unsigned min_tokens; /* or: the first token */
};

static bool stream_ended(void *p)
{
        struct wait_stream *w = p;
        struct stream *s = g_hash_table_lookup(w->col->streams, w->path);
        return s && s->n_ends > 0;
}

static bool stream_has_tokens(void *p)
{
        struct wait_stream *w = p;
        struct stream *s = g_hash_table_lookup(w->col->streams, w->path);
        return s && (s->n_tokens >= w->min_tokens || s->n_ends > 0);
}

static struct stream *wait_end(struct collector *col, const char *path)
{
        struct wait_stream w = { col, path, 0 };

        cr_assert(iterate_until(stream_ended, &w, WAIT_USEC), "%s did not end within 60 s", path);
        return g_hash_table_lookup(col->streams, path);
}

static char *start_generation(GDBusConnection *c, const char *prompt, GVariant *options)
{
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) v = call(c, "/org/aid/Daemon1", TEXT_IFACE, "StartGeneration",
                        g_variant_new("(s@a{sv})", prompt, options), &e);
        char *path;

        cr_assert(v, "StartGeneration failed: %s", e ? e->message : "?");
        g_variant_get(v, "(o)", &path);
        return path;
}

static uint32_t stat_u(GVariant *stats, const char *key)
{
        uint32_t v = 0;
        cr_assert(g_variant_lookup(stats, key, "u", &v), "stats have no %s (u)", key);
        return v;
}

static uint64_t stat_t(GVariant *stats, const char *key)
{
        uint64_t v = 0;
        cr_assert(g_variant_lookup(stats, key, "t", &v), "stats have no %s (t)", key);
        return v;
}

static const char *stat_s(GVariant *stats, const char *key)
{
        const char *v = NULL;
        cr_assert(g_variant_lookup(stats, key, "&s", &v), "stats have no %s (s)", key);
        return v;
}

/* Lets signals still on their way arrive and be dispatched. */
static void drain_late_signals(unsigned ms)
{
        g_usleep(ms * 1000);
        while (g_main_context_iteration(NULL, false))
                ;
}

/* What a whole stream promises: one Finished and nothing after it, Generate's text, and the
 * daemon's own count of the Token signals that arrived (for aid-load's cost per token). */
static void assert_whole_stream(const struct stream *s, const char *text)
{
        cr_assert_null(s->error_name, "the request failed: %s", s->error_name);
        cr_assert_eq(s->n_ends, 1, "Finished came %u times", s->n_ends);
        cr_assert_not(s->signal_after_end, "a signal came after Finished");
        cr_assert_str_eq(s->text->str, text, "the streamed text differs from Generate's");
        cr_assert_eq(stat_t(s->stats, "token_signals"), s->n_tokens);
        cr_assert_gt(stat_t(s->stats, "token_signals_send_us"), 0, "sending took no time at all");
}

/* Whether an object exists, as another connection sees it: a stranger is refused at an existing
 * object (PermissionDenied) and told there is none at a removed one (UnknownObject). */
static bool object_exists(GDBusConnection *stranger, const char *path, const char *iface)
{
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) v = call(stranger, path, "org.freedesktop.DBus.Properties", "GetAll",
                        g_variant_new("(s)", iface), &e);
        g_autofree char *name = NULL;

        cr_assert_null(v, "a stranger could read %s", path);
        name = g_dbus_error_get_remote_error(e);
        if (g_strcmp0(name, "org.aid.Error.PermissionDenied") == 0)
                return true;
        cr_assert(g_strcmp0(name, "org.freedesktop.DBus.Error.UnknownObject") == 0 ||
                                        g_strcmp0(name, "org.freedesktop.DBus.Error.UnknownInterface") ==
                                                        0 ||
                                        g_strcmp0(name, "org.freedesktop.DBus.Error.UnknownMethod") == 0,
                        "unexpected error at %s: %s", path, e->message);
        return false;
}

Test(text, generate_returns_the_greedy_continuation_with_stats)
{
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GVariant) stats = NULL;
        g_autofree char *prompt = NULL, *text = NULL, *want = NULL;
        uint64_t ttft = 0;
        double tps = 0;

        start(NULL);
        c = connect_bus();
        prompt = fixture_text(LLAMA ".prompt.txt");
        want = greedy_text(LLAMA, 32);
        text = generate(c, prompt, greedy(32), &stats);

        cr_assert_str_eq(text, want, "aid's greedy text differs from the fixture's greedy continuation");
        cr_assert_eq(stat_u(stats, "prompt_tokens"), 40);
        cr_assert_eq(stat_u(stats, "generated_tokens"), 32);
        cr_assert_str_eq(stat_s(stats, "finish_reason"), "length");
        cr_assert_str_eq(stat_s(stats, "model"), LLAMA);
        cr_assert(g_variant_lookup(stats, "time_to_first_token_us", "t", &ttft));
        cr_assert(g_variant_lookup(stats, "tokens_per_second", "d", &tps));
        cr_assert_gt(ttft, 0);
        cr_assert_gt(tps, 0);
}

Test(text, streamed_tokens_equal_generate_and_finished_comes_last_once)
{
        g_autoptr(GDBusConnection) c = NULL, stranger = NULL;
        g_autoptr(GVariant) stats = NULL;
        g_autofree char *prompt = NULL, *text = NULL, *path = NULL;
        struct collector *col;
        struct stream *s;

        start(NULL);
        c = connect_bus();
        stranger = connect_bus();
        prompt = fixture_text(LLAMA ".prompt.txt");
        text = generate(c, prompt, greedy(64), &stats);

        col = collector_new(c);
        path = start_generation(c, prompt, greedy(64));
        cr_assert(g_str_has_prefix(path, "/org/aid/Daemon1/request/"), "%s", path);
        s = wait_end(col, path);
        drain_late_signals(100);

        assert_whole_stream(s, text);
        cr_assert_gt(s->n_tokens, 1, "the text came in one piece: it was not streamed");
        cr_assert_eq(stat_u(s->stats, "generated_tokens"), stat_u(stats, "generated_tokens"));
        cr_assert_eq(stat_u(s->stats, "prompt_tokens"), 40);
        cr_assert_not(object_exists(stranger, path, REQUEST_IFACE), "the request object outlived Finished");
        collector_free(col);
}

/* Calls that keep aid's loop busy: each new one as soon as one returns, 8 in flight. */
struct busy_loop {
        GDBusConnection *c;
        bool stop;
        unsigned in_flight, done;
};

static void busy_call(struct busy_loop *b);

static void on_busy_reply(GObject *source, GAsyncResult *res, gpointer p)
{
        struct busy_loop *b = p;
        G_GNUC_UNUSED g_autoptr(GVariant) v =
                        g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, NULL);

        b->in_flight--;
        b->done++;
        if (!b->stop)
                busy_call(b);
}

static void busy_call(struct busy_loop *b)
{
        b->in_flight++;
        g_dbus_connection_call(b->c, "org.aid.Daemon1", "/org/aid/Daemon1",
                        "org.freedesktop.DBus.Introspectable", "Introspect", NULL, NULL,
                        G_DBUS_CALL_FLAGS_NONE, -1, NULL, on_busy_reply, b);
}

static bool busy_drained(void *p)
{
        return ((struct busy_loop *)p)->in_flight == 0;
}

Test(text, streamed_text_stays_whole_and_in_order_while_the_loop_is_busy)
{
        g_autoptr(GDBusConnection) c = NULL, busy = NULL;
        g_autoptr(GVariant) stats = NULL;
        g_autofree char *prompt = NULL, *text = NULL, *path = NULL;
        struct collector *col;
        struct stream *s;

        start(NULL);
        c = connect_bus();
        busy = connect_bus();
        prompt = fixture_text(LLAMA ".prompt.txt");
        text = generate(c, prompt, greedy(64), &stats);

        /* The worker sends the pieces itself, but only when the loop is not dispatching; the
         * pieces it must leave behind go with the next one or before Finished. */
        struct busy_loop b = { .c = busy };
        for (int i = 0; i < 8; i++)
                busy_call(&b);
        col = collector_new(c);
        path = start_generation(c, prompt, greedy(64));
        s = wait_end(col, path);
        b.stop = true;
        cr_assert(iterate_until(busy_drained, &b, WAIT_USEC));
        drain_late_signals(100);

        assert_whole_stream(s, text);
        cr_assert_gt(b.done, 8, "the loop was not kept busy");
        collector_free(col);
}

/* Incoming messages in the order the socket delivered them (a filter sees each on GDBus's
 * thread before anything is dispatched): Token signals of path that came after the reply to
 * the call with serial. */
struct after_reply {
        const char *path;
        guint32 serial;
        gint seen_reply, tokens_after;
};

static GDBusMessage *count_tokens_after_reply(
                GDBusConnection *c, GDBusMessage *m, gboolean incoming, gpointer p)
{
        struct after_reply *a = p;

        if (!incoming)
                return m;
        if (g_dbus_message_get_message_type(m) == G_DBUS_MESSAGE_TYPE_METHOD_RETURN &&
                        g_dbus_message_get_reply_serial(m) == a->serial)
                g_atomic_int_set(&a->seen_reply, 1);
        else if (g_atomic_int_get(&a->seen_reply) &&
                        g_dbus_message_get_message_type(m) == G_DBUS_MESSAGE_TYPE_SIGNAL &&
                        g_strcmp0(g_dbus_message_get_member(m), "Token") == 0 &&
                        g_strcmp0(g_dbus_message_get_path(m), a->path) == 0)
                g_atomic_int_inc(&a->tokens_after);
        return m;
}

Test(text, sigterm_while_streaming_exits_cleanly_and_quietly)
{
        g_autoptr(GDBusConnection) c = NULL;
        g_autofree char *prompt = NULL, *path = NULL, *log = NULL;
        struct collector *col;
        int status;

        start(NULL);
        c = connect_bus();
        prompt = fixture_text(LLAMA ".prompt.txt");
        col = collector_new(c);
        path = start_generation(c, prompt, greedy(400));
        struct wait_stream w = { col, path, 3 };
        cr_assert(iterate_until(stream_has_tokens, &w, WAIT_USEC), "no token within 60 s");

        /* The worker sends Token signals itself and may be mid-step when the loop ends. */
        status = testbus_stop_aid(&tb);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "aid's status on SIGTERM: %d", status);
        cr_assert(g_file_get_contents(tb.aid_log, &log, NULL, NULL));
        cr_assert(strstr(log, "Received SIGTERM, exiting."), "%s", log);
        cr_assert_null(strstr(log, "Failed"), "%s", log);
        collector_free(col);
}

/* A model's file name goes into aid's log; a newline in it must not make up a log line of its
 * own, nor an escape sequence reach the terminal of whoever reads the log. */
Test(text, a_file_name_with_control_characters_stays_one_escaped_log_line)
{
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GVariant) stats = NULL;
        g_autofree char *text = NULL, *log = NULL;
        const char *id = "evil\naid: audit: app=forged decision=allow \033[2J";
        g_autofree char *file = g_strconcat(id, ".gguf", NULL);
        GVariantBuilder b;

        testbus_add_fixture_model(&tb, "models/" LLAMA ".gguf", file);
        start(NULL);
        c = connect_bus();
        g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&b, "{sv}", "max_tokens", g_variant_new_uint32(2));
        g_variant_builder_add(&b, "{sv}", "model", g_variant_new_string(id));
        text = generate(c, "Hello", g_variant_builder_end(&b), &stats);

        cr_assert(g_file_get_contents(tb.aid_log, &log, NULL, NULL));
        cr_assert(strstr(log, "evil\\naid: audit: app=forged decision=allow \\x1b[2J.gguf: ready."),
                        "the model's load is not logged with its name escaped:\n%s", log);
        cr_assert_null(strstr(log, "\naid: audit: app=forged"), "a file name forged a log line:\n%s", log);
        cr_assert_null(strchr(log, '\033'), "an ESC reached the log:\n%s", log);
}

Test(text, cancel_mid_stream_fails_with_cancelled_and_nothing_follows)
{
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) v = NULL;
        g_autofree char *prompt = NULL, *path = NULL;
        struct collector *col;
        struct stream *s;
        unsigned n_at_cancel;

        start(NULL);
        c = connect_bus();
        prompt = fixture_text(LLAMA ".prompt.txt");
        col = collector_new(c);
        path = start_generation(c, prompt, greedy(400));
        struct wait_stream w = { col, path, 1 };
        cr_assert(iterate_until(stream_has_tokens, &w, WAIT_USEC), "no token within 60 s");

        /* A serial of our own, far above GDBus's count, so that the filter knows the reply
         * before the call is even sent. */
        struct after_reply after = { .path = path, .serial = 0x7fff0000 };
        guint filter = g_dbus_connection_add_filter(c, count_tokens_after_reply, &after, NULL);
        g_autoptr(GDBusMessage) cancel =
                        g_dbus_message_new_method_call("org.aid.Daemon1", path, REQUEST_IFACE, "Cancel");
        g_dbus_message_set_serial(cancel, after.serial);
        g_autoptr(GDBusMessage) reply = g_dbus_connection_send_message_with_reply_sync(c, cancel,
                        G_DBUS_SEND_MESSAGE_FLAGS_PRESERVE_SERIAL, (int)(WAIT_USEC / 1000), NULL, NULL, &e);
        cr_assert(reply && g_dbus_message_get_message_type(reply) == G_DBUS_MESSAGE_TYPE_METHOD_RETURN,
                        "Cancel failed: %s", e ? e->message : "an error reply");
        n_at_cancel = ((struct stream *)g_hash_table_lookup(col->streams, path))->n_tokens;
        s = wait_end(col, path);
        drain_late_signals(200);

        g_dbus_connection_remove_filter(c, filter);
        cr_assert_str_eq(s->error_name ? s->error_name : "(Finished)", "org.aid.Error.Cancelled");
        cr_assert_eq(s->n_ends, 1);
        cr_assert_eq(g_atomic_int_get(&after.tokens_after), 0, "%d Token signals came after Cancel's reply",
                        g_atomic_int_get(&after.tokens_after));
        cr_assert_not(s->signal_after_end, "a signal came after Failed");
        cr_assert_lt(s->n_tokens, 300, "cancelling did not stop the generation (%u tokens, %u at Cancel)",
                        s->n_tokens, n_at_cancel);
        /* The object is gone: a second Cancel finds nothing. */
        g_clear_pointer(&v, g_variant_unref);
        g_clear_error(&e);
        v = call(c, path, REQUEST_IFACE, "Cancel", NULL, &e);
        cr_assert_null(v, "the request object outlived Failed");
        collector_free(col);
}

static unsigned log_count(const char *needle)
{
        g_autofree char *log = NULL;
        unsigned n = 0;

        if (!g_file_get_contents(tb.aid_log, &log, NULL, NULL))
                return 0;
        for (const char *p = log; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

struct log_wait {
        const char *needle;
        unsigned n;
};

static bool log_reached(void *p)
{
        struct log_wait *w = p;
        return log_count(w->needle) >= w->n;
}

/* A gdbus process blocked in Generate, killed with SIGKILL once its request runs; true when it was
 * killed while the request ran (false: the request ended first, try again). */
static bool kill_gdbus_mid_generate(const char *prompt, unsigned attempt)
{
        g_autofree char *gdbus = g_find_program_in_path("gdbus");
        g_auto(GStrv) env = g_environ_setenv(g_get_environ(), "DBUS_SESSION_BUS_ADDRESS", tb.address, true);
        const char *options = "{'temperature': <0.0>, 'max_tokens': <uint32 400>}";
        const char *argv[] = { gdbus, "call", "--session", "--dest", "org.aid.Daemon1", "--object-path",
                "/org/aid/Daemon1", "--method", TEXT_IFACE ".Generate", prompt, options, NULL };
        g_autoptr(GError) e = NULL;
        struct log_wait started = { "max_tokens 400.", attempt + 1 };
        struct log_wait cancelled = { "its client left the bus, cancelling it", attempt + 1 };
        GPid pid;
        int status;

        cr_assert(gdbus, "gdbus is not installed");
        cr_assert(g_spawn_async(NULL, (char **)argv, env,
                                  G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, &pid,
                                  &e),
                        "%s", e ? e->message : "?");
        cr_assert(iterate_until(log_reached, &started, WAIT_USEC), "the client's request never started");
        kill(pid, SIGKILL);
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status))
                return false;
        /* Killed while its reply was on the way is possible too: then nothing is cancelled. */
        return iterate_until(log_reached, &cancelled, 2 * G_USEC_PER_SEC);
}

Test(text, a_client_killed_or_gone_mid_stream_stops_its_work_and_the_daemon_serves_on)
{
        g_autoptr(GDBusConnection) c = NULL, gone = NULL, stranger = NULL;
        g_autoptr(GVariant) stats = NULL;
        g_autofree char *prompt = NULL, *want = NULL, *text = NULL, *path = NULL;
        struct collector *col;
        bool killed = false;

        start(NULL);
        prompt = fixture_text(LLAMA ".prompt.txt");
        want = greedy_text(LLAMA, 32);
        stranger = connect_bus();

        for (unsigned attempt = 0; attempt < 5 && !killed; attempt++)
                killed = kill_gdbus_mid_generate(prompt, attempt);
        cr_assert(killed,
                        "in 5 attempts, no gdbus was killed while its request ran (or aid did not notice)");

        /* A connection that closes while its request streams. */
        gone = connect_bus();
        col = collector_new(gone);
        path = start_generation(gone, prompt, greedy(400));
        struct wait_stream w = { col, path, 1 };
        cr_assert(iterate_until(stream_has_tokens, &w, WAIT_USEC), "no token within 60 s");
        collector_free(col);
        cr_assert(g_dbus_connection_close_sync(gone, NULL, NULL));
        for (int i = 0; i < 200 && object_exists(stranger, path, REQUEST_IFACE); i++)
                g_usleep(10 * 1000);
        cr_assert_not(object_exists(stranger, path, REQUEST_IFACE), "the request of a gone client stayed");

        cr_assert(testbus_aid_alive(&tb), "aid died");
        c = connect_bus();
        text = generate(c, prompt, greedy(32), &stats);
        cr_assert_str_eq(text, want, "the next request's text is wrong");
}

/* What `cp model.gguf` over the file does: open it truncated (which waits while aid holds a
 * lease on it) and write it whole again. */
struct rewrite {
        const char *path;
        GBytes *contents;
        int error; /* errno of a failed open or write, 0 when it was written */
};

static gpointer rewrite_file(gpointer p)
{
        struct rewrite *w = p;
        gsize len;
        const char *data = g_bytes_get_data(w->contents, &len);
        int fd = open(w->path, O_WRONLY | O_TRUNC | O_CLOEXEC);

        if (fd < 0) {
                w->error = errno;
                return NULL;
        }
        for (gsize done = 0; done < len;) {
                ssize_t n = write(fd, data + done, len - done);
                if (n < 0) {
                        w->error = errno;
                        break;
                }
                done += (gsize)n;
        }
        close(fd);
        return NULL;
}

/* Where aid can take no lease, a model file truncated in use still ends aid with SIGBUS at the
 * next read of the weights: nothing in the middle of a matrix product can be recovered. aid
 * then says why on standard error (daemon/mapping-fault.h) before it ends by the signal. The
 * lease is taken away as on a system: a file of another owner, and aid without CAP_LEASE
 * (setpriv drops it), which needs root to set up. */
Test(text, a_model_file_truncated_without_a_lease_ends_aid_with_sigbus_and_says_why)
{
        static const char *const without_cap_lease[] = { "setpriv", "--bounding-set", "-lease", "--inh-caps",
                "-lease", NULL };
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GVariant) stats = NULL;
        g_autofree char *model = NULL, *prompt = NULL, *text = NULL, *log = NULL;
        g_autofree char *setpriv = g_find_program_in_path("setpriv");
        int status = -1, fd;

        if (geteuid() != 0 || !setpriv)
                cr_skip_test("needs root and setpriv(1): a model file of another owner, and aid without "
                             "CAP_LEASE");
        tb.aid_wrapper = without_cap_lease;
        start(NULL);
        /* Before the first request, which loads the model and would take the lease. */
        model = g_build_filename(tb.models_dir, LLAMA ".gguf", NULL);
        cr_assert_eq(chown(model, 65534, 65534), 0, "chown %s: %s", model, g_strerror(errno));
        c = connect_bus();
        prompt = fixture_text(LLAMA ".prompt.txt");
        text = generate(c, prompt, greedy(4), &stats);
        g_clear_pointer(&text, g_free);
        g_clear_pointer(&stats, g_variant_unref);

        /* No lease holds this back: the pages of the mapping are gone at once. */
        fd = open(model, O_WRONLY | O_TRUNC | O_CLOEXEC);
        cr_assert_geq(fd, 0, "%s: %s", model, g_strerror(errno));
        close(fd);
        for (unsigned i = 0; i < 20 && status == -1; i++) {
                g_autoptr(GError) e = NULL;
                G_GNUC_UNUSED g_autoptr(GVariant) v = call(c, "/org/aid/Daemon1", TEXT_IFACE, "Generate",
                                g_variant_new("(s@a{sv})", prompt, greedy(4)), &e);
                status = testbus_wait_aid_exit(&tb, G_USEC_PER_SEC / 2);
        }
        if (status == -1) {
                g_file_get_contents(tb.aid_log, &log, NULL, NULL);
                cr_assert_fail("aid still serves after its model's file was truncated; aid.log:\n%s", log);
        }
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS, "aid ended with status %d", status);
        cr_assert(g_file_get_contents(tb.aid_log, &log, NULL, NULL));
        cr_assert(strstr(log, "aid: SIGBUS reading mapped memory at 0x"), "%s", log);
        cr_assert(strstr(log, "was truncated or overwritten while in use"), "%s", log);
}

/* A model file written over while a request uses its mapping: the truncation used to kill aid
 * with SIGBUS at the next read of the weights. Its lease (daemon/model-lease.h) now holds the
 * writer back until the request has failed with the reason and the file is unmapped; the file,
 * once written, serves again. */
Test(text, a_model_file_written_over_in_use_fails_its_requests_and_aid_serves_on)
{
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GVariant) stats = NULL;
        g_autofree char *prompt = NULL, *want = NULL, *text = NULL, *model = NULL, *fixture = NULL,
                        *contents = NULL;
        struct collector *col;
        struct stream *s = NULL;
        gsize len;

        start(NULL);
        model = g_build_filename(tb.models_dir, LLAMA ".gguf", NULL);
        /* The guard is the kernel's: where the file system has no leases, aid goes without. */
        int probe = open(model, O_RDONLY | O_CLOEXEC);
        cr_assert_geq(probe, 0);
        if (fcntl(probe, F_SETLEASE, F_RDLCK) < 0) {
                int e = errno;
                close(probe);
                testbus_teardown(&tb);
                cr_skip_test("no read leases in %s (%s): aid cannot guard its mapping there", tb.models_dir,
                                g_strerror(e));
        }
        close(probe);
        c = connect_bus();
        prompt = fixture_text(LLAMA ".prompt.txt");
        fixture = g_strdup_printf("%s/models/%s.gguf", testbus_fixtures(), LLAMA);
        cr_assert(g_file_get_contents(fixture, &contents, &len, NULL));
        struct rewrite w = { .path = model, .contents = g_bytes_new_take(g_steal_pointer(&contents), len) };
        col = collector_new(c);
        /* The tiny model can write all its tokens before the writer gets in: such a run tests
         * nothing and is tried again. */
        for (unsigned attempt = 0; attempt < 5; attempt++) {
                g_autofree char *path = start_generation(c, prompt, greedy(400));
                struct wait_stream ws = { col, path, 1 };
                cr_assert(iterate_until(stream_has_tokens, &ws, WAIT_USEC), "no token within 60 s");
                GThread *writer = g_thread_new("rewrite", rewrite_file, &w);
                s = wait_end(col, path);
                g_thread_join(writer);
                cr_assert_eq(w.error, 0, "writing %s: %s", model, g_strerror(w.error));
                if (s->error_name)
                        break;
        }
        cr_assert_str_eq(
                        s && s->error_name ? s->error_name : "(Finished)", "org.aid.Error.ModelUnavailable");
        cr_assert(log_count("is being written to: stopping the requests that use it") >= 1,
                        "aid did not say why");
        cr_assert(testbus_aid_alive(&tb), "aid died");
        /* The same bytes again: the same greedy text. */
        want = greedy_text(LLAMA, 32);
        text = generate(c, prompt, greedy(32), &stats);
        cr_assert_str_eq(text, want);
        g_bytes_unref(w.contents);
        collector_free(col);
}

Test(text, other_connections_cannot_touch_a_request_or_chat)
{
        g_autoptr(GDBusConnection) owner = NULL, other = NULL;
        g_autoptr(GVariant) v = NULL;
        g_autofree char *prompt = NULL, *path = NULL, *chat = NULL, *msg = NULL;
        struct collector *owner_col, *other_col;
        struct stream *s;
        GVariantBuilder b;

        start(NULL);
        owner = connect_bus();
        other = connect_bus();
        prompt = fixture_text(LLAMA ".prompt.txt");
        owner_col = collector_new(owner);
        other_col = collector_new(other);

        path = start_generation(owner, prompt, greedy(300));
        msg = call_fails(other, path, REQUEST_IFACE, "Cancel", NULL, "org.aid.Error.PermissionDenied");
        cr_assert(strstr(msg, "another connection"), "%s", msg);
        g_free(call_fails(other, path, "org.freedesktop.DBus.Introspectable", "Introspect", NULL,
                        "org.aid.Error.PermissionDenied"));
        s = wait_end(owner_col, path);
        cr_assert_null(s->error_name, "the stranger's Cancel took effect: %s", s->error_name);
        cr_assert_gt(s->n_tokens, 0);

        g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&b, "{sv}", "model", g_variant_new_string(PHI3));
        v = call(owner, "/org/aid/Daemon1", TEXT_IFACE, "CreateChat", g_variant_new("(a{sv})", &b), NULL);
        cr_assert(v, "CreateChat failed");
        g_variant_get(v, "(o)", &chat);
        g_free(call_fails(other, chat, "org.freedesktop.DBus.Properties", "Get",
                        g_variant_new("(ss)", CHAT_IFACE, "TokensUsed"), "org.aid.Error.PermissionDenied"));
        g_free(call_fails(other, chat, "org.freedesktop.DBus.Properties", "GetAll",
                        g_variant_new("(s)", CHAT_IFACE), "org.aid.Error.PermissionDenied"));
        g_free(call_fails(other, chat, CHAT_IFACE, "Send", g_variant_new("(s@a{sv})", "hello", greedy(4)),
                        "org.aid.Error.PermissionDenied"));
        g_free(call_fails(other, chat, CHAT_IFACE, "Reset", NULL, "org.aid.Error.PermissionDenied"));
        g_free(call_fails(other, chat, CHAT_IFACE, "Close", NULL, "org.aid.Error.PermissionDenied"));
        /* The owner still has it. */
        g_clear_pointer(&v, g_variant_unref);
        v = call(owner, chat, "org.freedesktop.DBus.Properties", "Get",
                        g_variant_new("(ss)", CHAT_IFACE, "Model"), NULL);
        cr_assert(v, "the owner lost its chat");

        /* The signals went to the owner alone. */
        while (g_main_context_iteration(NULL, false))
                ;
        cr_assert_eq(other_col->n_signals, 0, "another connection received %u of the owner's signals",
                        other_col->n_signals);
        collector_free(owner_col);
        collector_free(other_col);
}

static uint32_t chat_u(GDBusConnection *c, const char *chat, const char *property)
{
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) v = call(c, chat, "org.freedesktop.DBus.Properties", "Get",
                        g_variant_new("(ss)", CHAT_IFACE, property), &e);
        g_autoptr(GVariant) inner = NULL;

        cr_assert(v, "Get %s: %s", property, e ? e->message : "?");
        g_variant_get(v, "(v)", &inner);
        return g_variant_get_uint32(inner);
}

struct tokens_used {
        const char *path;
        uint32_t value;
        unsigned n;
};

static void on_properties_changed(GDBusConnection *c, const char *sender, const char *path,
                const char *iface, const char *member, GVariant *params, gpointer userdata)
{
        struct tokens_used *t = userdata;
        g_autoptr(GVariant) changed = NULL;
        const char *name;

        if (strcmp(path, t->path) != 0)
                return;
        g_variant_get(params, "(&s@a{sv}@as)", &name, &changed, NULL);
        if (strcmp(name, CHAT_IFACE) == 0 && g_variant_lookup(changed, "TokensUsed", "u", &t->value))
                t->n++;
}

static bool tokens_used_changed(void *p)
{
        return ((struct tokens_used *)p)->n > 0;
}

/* Sends one turn and waits for its answer; a change of TokensUsed is signalled before Finished.
 * (A turn may leave it as it was: two turns in a row that fill the context both end at its
 * last position.) */
static GVariant *chat_turn(GDBusConnection *c, struct collector *col, struct tokens_used *t,
                const char *chat, const char *message)
{
        g_autoptr(GVariant) v = NULL;
        g_autoptr(GError) e = NULL;
        g_autofree char *req = NULL;
        const uint32_t before = chat_u(c, chat, "TokensUsed");
        uint32_t after;
        struct stream *s;

        t->n = 0;
        v = call(c, chat, CHAT_IFACE, "Send", g_variant_new("(s@a{sv})", message, greedy(8)), &e);
        cr_assert(v, "Send failed: %s", e ? e->message : "?");
        g_variant_get(v, "(o)", &req);
        s = wait_end(col, req);
        cr_assert_null(s->error_name, "the turn failed: %s", s->error_name);
        after = chat_u(c, chat, "TokensUsed");
        cr_assert(after == before || t->n > 0,
                        "TokensUsed went from %u to %u with no change signalled before Finished", before,
                        after);
        cr_assert(t->n == 0 || after == t->value, "PropertiesChanged (%u) and Get (%u) disagree", t->value,
                        after);
        return g_variant_ref(s->stats);
}

/* One answer at a time: while it runs, another Send or a Reset is refused with a reason, and the
 * chat takes messages again once the answer is cancelled. A loaded machine could keep this
 * client from the first token until all 400 are out: such a try tested nothing and is made
 * again, up to 5 times; a chat that takes two messages at once still fails every try. */
Test(text, a_chat_answers_one_message_at_a_time)
{
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GVariant) v = NULL;
        g_autofree char *chat = NULL, *req = NULL;
        struct collector *col;
        struct stream *s;
        bool caught = false;

        start(NULL);
        c = connect_bus();
        col = collector_new(c);
        v = call(c, "/org/aid/Daemon1", TEXT_IFACE, "CreateChat",
                        g_variant_new("(@a{sv})", option("model", g_variant_new_string(PHI3))), NULL);
        cr_assert(v, "CreateChat failed");
        g_variant_get(v, "(o)", &chat);
        for (int attempt = 0; attempt < 5 && !caught; attempt++) {
                g_autoptr(GVariant) second = NULL;
                g_autoptr(GError) e = NULL;
                g_autofree char *name = NULL, *second_req = NULL;

                g_clear_pointer(&v, g_variant_unref);
                g_clear_pointer(&req, g_free);
                v = call(c, chat, CHAT_IFACE, "Send",
                                g_variant_new("(s@a{sv})", "Tell me a long story.", greedy(400)), NULL);
                cr_assert(v, "Send failed");
                g_variant_get(v, "(o)", &req);
                struct wait_stream w = { col, req, 1 };
                cr_assert(iterate_until(stream_has_tokens, &w, WAIT_USEC), "no token within 60 s");

                second = call(c, chat, CHAT_IFACE, "Send",
                                g_variant_new("(s@a{sv})", "And then?", greedy(8)), &e);
                if (second) {
                        /* The long answer was over already: let both end, start afresh. */
                        cr_assert_eq(wait_end(col, req)->n_ends, 1);
                        g_variant_get(second, "(o)", &second_req);
                        wait_end(col, second_req);
                        g_clear_pointer(&v, g_variant_unref);
                        v = call(c, chat, CHAT_IFACE, "Reset", NULL, NULL);
                        continue;
                }
                name = g_dbus_error_get_remote_error(e);
                cr_assert_str_eq(name ?: "(none)", "org.aid.Error.QuotaExceeded", "%s", e->message);
                cr_assert(strstr(e->message, "still answering"), "%s", e->message);
                g_free(call_fails(c, chat, CHAT_IFACE, "Reset", NULL, "org.aid.Error.QuotaExceeded"));
                caught = true;
        }
        cr_assert(caught, "the answer of 400 tokens was over before a second Send, 5 times");

        g_clear_pointer(&v, g_variant_unref);
        v = call(c, req, REQUEST_IFACE, "Cancel", NULL, NULL);
        s = wait_end(col, req);
        cr_assert(v || s->n_ends == 1, "Cancel failed while the answer ran");
        g_clear_pointer(&v, g_variant_unref);
        g_clear_pointer(&req, g_free);
        v = call(c, chat, CHAT_IFACE, "Send", g_variant_new("(s@a{sv})", "And then?", greedy(8)), NULL);
        cr_assert(v, "the chat took no message after its answer ended");
        g_variant_get(v, "(o)", &req);
        s = wait_end(col, req);
        cr_assert_null(s->error_name, "%s", s->error_name);
        collector_free(col);
}

Test(text, a_chat_keeps_its_context_between_turns)
{
        g_autoptr(GDBusConnection) c = NULL, stranger = NULL;
        g_autoptr(GVariant) v = NULL, stats1 = NULL, stats2 = NULL;
        g_autofree char *chat = NULL;
        struct collector *col;
        struct tokens_used t = {};
        GVariantBuilder b;
        uint32_t used0, used1, used2, p1, e1, p2, e2, g2;
        guint sub;

        start(NULL);
        c = connect_bus();
        stranger = connect_bus();
        col = collector_new(c);
        g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&b, "{sv}", "model", g_variant_new_string(PHI3));
        g_variant_builder_add(&b, "{sv}", "system_prompt", g_variant_new_string("You answer briefly."));
        g_variant_builder_add(&b, "{sv}", "temperature", g_variant_new_double(0));
        v = call(c, "/org/aid/Daemon1", TEXT_IFACE, "CreateChat", g_variant_new("(a{sv})", &b), NULL);
        cr_assert(v, "CreateChat failed");
        g_variant_get(v, "(o)", &chat);
        t.path = chat;
        sub = g_dbus_connection_signal_subscribe(c, NULL, "org.freedesktop.DBus.Properties",
                        "PropertiesChanged", chat, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_properties_changed, &t,
                        NULL);
        g_clear_pointer(&v, g_variant_unref);
        v = call(c, chat, "org.freedesktop.DBus.Properties", "Get",
                        g_variant_new("(ss)", CHAT_IFACE, "Model"), NULL);
        cr_assert(v);
        cr_assert(strstr(g_variant_print(v, false), PHI3));

        used0 = chat_u(c, chat, "TokensUsed");
        stats1 = chat_turn(c, col, &t, chat, "Tell me a story about a fox.");
        used1 = t.value;
        p1 = stat_u(stats1, "prompt_tokens");
        e1 = stat_u(stats1, "prompt_evaluated_tokens");
        cr_assert_eq(e1, p1, "the first turn has nothing cached: %u of %u evaluated", e1, p1);
        cr_assert_gt(used1, p1, "TokensUsed %u after a turn of %u prompt tokens", used1, p1);
        cr_assert_gt(chat_u(c, chat, "ContextSize"), used1);

        stats2 = chat_turn(c, col, &t, chat, "And then?");
        used2 = t.value;
        p2 = stat_u(stats2, "prompt_tokens");
        e2 = stat_u(stats2, "prompt_evaluated_tokens");
        g2 = stat_u(stats2, "generated_tokens");
        /* The conversation so far stayed in the KV cache: turn 2 evaluated only what was not in it. */
        cr_assert_eq(e2, p2 - used1, "turn 2: %u prompt tokens, %u evaluated, %u were in the context", p2,
                        e2, used1);
        cr_assert_lt(e2, used1);
        cr_assert_gt(used2, p2);
        cr_assert_leq(used2, p2 + g2, "TokensUsed grew by more than the new turn: %u → %u (%u + %u)", used1,
                        used2, p2, g2);

        /* Reset keeps the system prompt only. */
        t.n = 0;
        g_clear_pointer(&v, g_variant_unref);
        v = call(c, chat, CHAT_IFACE, "Reset", NULL, NULL);
        cr_assert(v, "Reset failed");
        if (chat_u(c, chat, "TokensUsed") != used0)
                cr_assert(iterate_until(tokens_used_changed, &t, WAIT_USEC),
                                "no TokensUsed change after Reset");
        cr_assert_eq(chat_u(c, chat, "TokensUsed"), used0, "Reset left %u tokens; the new chat had %u",
                        chat_u(c, chat, "TokensUsed"), used0);

        g_clear_pointer(&v, g_variant_unref);
        v = call(c, chat, CHAT_IFACE, "Close", NULL, NULL);
        cr_assert(v, "Close failed");
        cr_assert_not(object_exists(stranger, chat, CHAT_IFACE), "the chat outlived Close");
        g_dbus_connection_signal_unsubscribe(c, sub);
        collector_free(col);
}

Test(text, concurrent_clients_each_get_their_solo_text)
{
        static const char *const prompts[] = {
                "The quick brown fox jumps over the lazy dog. Once upon a time",
                "In a hole in the ground there lived",
                "It was the best of times, it was the worst of times",
                "Call me Ishmael. Some years ago",
        };
        GDBusConnection *clients[4];
        struct collector *cols[4];
        char *solo[4], *paths[4];

        start(NULL);
        for (size_t i = 0; i < 4; i++) {
                g_autoptr(GVariant) stats = NULL;

                clients[i] = connect_bus();
                cols[i] = collector_new(clients[i]);
                solo[i] = generate(clients[i], prompts[i], greedy(48), &stats);
        }
        for (size_t i = 0; i < 4; i++)
                paths[i] = start_generation(clients[i], prompts[i], greedy(48));
        for (size_t i = 0; i < 4; i++) {
                struct stream *s = wait_end(cols[i], paths[i]);

                cr_assert_null(s->error_name, "client %zu failed: %s", i, s->error_name);
                cr_assert_str_eq(s->text->str, solo[i], "client %zu's text differs from its solo text", i);
        }
        for (size_t i = 0; i < 4; i++) {
                collector_free(cols[i]);
                g_object_unref(clients[i]);
                g_free(solo[i]);
                g_free(paths[i]);
        }
}

/* Options holding key twice: a dictionary on the bus may repeat a key. */
static GVariant *twice(const char *key, GVariant *first, GVariant *second)
{
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&b, "{sv}", key, first);
        g_variant_builder_add(&b, "{sv}", key, second);
        return g_variant_builder_end(&b);
}

static char *generate_fails(GDBusConnection *c, const char *prompt, GVariant *options, const char *want)
{
        return call_fails(c, "/org/aid/Daemon1", TEXT_IFACE, "Generate",
                        g_variant_new("(s@a{sv})", prompt, options), want);
}

Test(text, bad_arguments_get_the_right_error_and_the_daemon_serves_on)
{
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GVariant) stats = NULL;
        g_autofree char *prompt = NULL, *text = NULL, *want = NULL, *broken = NULL, *msg = NULL;
        const char *invalid = "org.aid.Error.InvalidArgument";

        testbus_add_fixture_model(&tb, "whisper/whisper-d64-random-f16.bin", NULL);
        broken = g_build_filename(tb.models_dir, "broken.gguf", NULL);
        cr_assert(g_file_set_contents(broken, "GGUF but not really", -1, NULL));
        start(NULL);
        c = connect_bus();
        prompt = fixture_text(LLAMA ".prompt.txt");

        msg = generate_fails(c, prompt, option("max_tokens", g_variant_new_string("32")), invalid);
        cr_assert_str_eq(msg, "option 'max_tokens' must be of type u, got s");
        g_clear_pointer(&msg, g_free);
        msg = generate_fails(c, prompt, option("temperature", g_variant_new_int32(0)), invalid);
        cr_assert_str_eq(msg, "option 'temperature' must be of type d, got i");
        g_clear_pointer(&msg, g_free);
        msg = generate_fails(c, prompt, option("stop", g_variant_new_string("x")), invalid);
        cr_assert_str_eq(msg, "option 'stop' must be of type as, got s");
        g_clear_pointer(&msg, g_free);
        msg = generate_fails(c, prompt, option("colour", g_variant_new_string("blue")), invalid);
        cr_assert(strstr(msg, "unknown option 'colour'"), "%s", msg);
        g_clear_pointer(&msg, g_free);
        msg = generate_fails(c, "", greedy(8), invalid);
        cr_assert(strstr(msg, "prompt is empty"), "%s", msg);
        g_clear_pointer(&msg, g_free);
        msg = generate_fails(c, prompt, option("max_tokens", g_variant_new_uint32(0)), invalid);
        g_clear_pointer(&msg, g_free);
        msg = generate_fails(c, prompt, option("top_p", g_variant_new_double(2)), invalid);
        cr_assert(strstr(msg, "top_p"), "%s", msg);
        g_clear_pointer(&msg, g_free);
        msg = generate_fails(c, prompt, option("temperature", g_variant_new_double(1e9)), invalid);
        cr_assert_str_eq(msg, "option 'temperature' must be a finite number from -1e6 to 1e6, got 1e+09");
        g_clear_pointer(&msg, g_free);
        msg = generate_fails(c, prompt,
                        twice("max_tokens", g_variant_new_uint32(0), g_variant_new_uint32(8)), invalid);
        cr_assert_str_eq(msg, "option 'max_tokens' is given more than once");
        g_clear_pointer(&msg, g_free);
        msg = generate_fails(c, prompt, option("priority", g_variant_new_string("urgent")), invalid);
        g_clear_pointer(&msg, g_free);
        msg = generate_fails(c, prompt, option("max_tokens", g_variant_new_uint32(G_MAXUINT32)),
                        "org.aid.Error.TooLarge");
        cr_assert(strstr(msg, "max_tokens"), "%s", msg);
        g_clear_pointer(&msg, g_free);
        msg = generate_fails(c, prompt, option("model", g_variant_new_string("no-such-model")),
                        "org.aid.Error.NoSuchModel");
        g_clear_pointer(&msg, g_free);
        msg = generate_fails(c, prompt, option("model", g_variant_new_string("broken")),
                        "org.aid.Error.ModelUnavailable");
        cr_assert(strstr(msg, "not usable"), "%s", msg);
        g_clear_pointer(&msg, g_free);
        msg = generate_fails(c, prompt, option("model", g_variant_new_string("whisper-d64-random-f16")),
                        "org.aid.Error.ModelUnavailable");
        cr_assert(strstr(msg, "not a text model"), "%s", msg);
        g_clear_pointer(&msg, g_free);
        g_free(call_fails(c, "/org/aid/Daemon1", TEXT_IFACE, "StartGeneration",
                        g_variant_new("(s@a{sv})", "", greedy(8)), invalid));
        g_free(call_fails(c, "/org/aid/Daemon1", TEXT_IFACE, "CreateChat",
                        g_variant_new("(@a{sv})", option("model", g_variant_new_uint32(1))), invalid));

        cr_assert(testbus_aid_alive(&tb), "aid died");
        want = greedy_text(LLAMA, 32);
        text = generate(c, prompt, greedy(32), &stats);
        cr_assert_str_eq(text, want);
}

/* A random value of a random type for an option: the types aid expects and others, with the
 * values at the edges of each. */
static GVariant *random_value(GRand *r, int depth)
{
        static const double doubles[] = { 0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e308, -1e308, 1e-310 };
        static const char *const strings[] = { "", "x", "high", "low", "normal", "urgent", "tiny-phi3-Q4_0",
                "no-such-model", "\n", "<|end|>", "é", "\xe2\x82\xac" };

        switch (g_rand_int_range(r, 0, depth < 2 ? 12 : 10)) {
        case 0:
                return g_variant_new_uint32(
                                g_rand_boolean(r) ? (guint32)g_rand_int_range(r, 0, 9) : g_rand_int(r));
        case 1:
                return g_variant_new_int32((gint32)g_rand_int(r));
        case 2:
                return g_variant_new_double(doubles[g_rand_int_range(r, 0, G_N_ELEMENTS(doubles))]);
        case 3:
                return g_variant_new_double(
                                g_rand_boolean(r) ? NAN : (g_rand_boolean(r) ? INFINITY : -INFINITY));
        case 4:
                return g_variant_new_string(strings[g_rand_int_range(r, 0, G_N_ELEMENTS(strings))]);
        case 5: {
                /* Up to 20 stop strings of 0 to 300 bytes: over both limits at times. */
                GVariantBuilder b;
                g_variant_builder_init(&b, G_VARIANT_TYPE("as"));
                for (int n = g_rand_int_range(r, 0, 21); n > 0; n--) {
                        g_autofree char *str = g_strnfill((gsize)g_rand_int_range(r, 0, 301), 'a' + n % 26);
                        g_variant_builder_add(&b, "s", str);
                }
                return g_variant_builder_end(&b);
        }
        case 6:
                return g_variant_new_boolean(g_rand_boolean(r));
        case 7:
                return g_variant_new_uint64(g_rand_boolean(r) ? G_MAXUINT64 : (guint64)g_rand_int(r));
        case 8:
                return g_variant_new_int64(G_MININT64 + (gint64)g_rand_int(r));
        case 9:
                return g_variant_new_byte((guchar)g_rand_int(r));
        case 10:
                return g_variant_new_variant(random_value(r, depth + 1));
        default: {
                GVariantBuilder b;
                g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
                g_variant_builder_add(&b, "{sv}", "max_tokens", random_value(r, depth + 1));
                return g_variant_builder_end(&b);
        }
        }
}

/* Options with 0 to 5 keys, mostly aid's own, each with a random value. Generations are kept
 * short: max_tokens, when it is a valid one, is at most 8. */
static GVariant *random_options(GRand *r)
{
        static const char *const keys[] = { "max_tokens", "temperature", "top_k", "top_p", "min_p",
                "repeat_penalty", "seed", "stop", "model", "priority", "system_prompt", "colour", "" };
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&b, "{sv}", "max_tokens", g_variant_new_uint32(4));
        for (int n = g_rand_int_range(r, 0, 6); n > 0; n--) {
                const char *key = keys[g_rand_int_range(r, 0, G_N_ELEMENTS(keys))];
                g_variant_builder_add(&b, "{sv}", key, random_value(r, 0));
        }
        return g_variant_builder_end(&b);
}

/* Every reply to a malformed call is an error aid names (or the bus's InvalidArgs), and aid keeps
 * serving: 300 calls of Generate, CreateChat and Chat.Send with random options (a fixed seed,
 * printed on failure), then the fixture's greedy text. D-Bus allows a duplicate key; aid refuses
 * it with a named error like any other bad option. */
Test(text, random_options_get_named_errors_and_aid_serves_on)
{
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GVariant) stats = NULL;
        g_autofree char *prompt = NULL, *want = NULL, *text = NULL;
        /* AID_TEST_SEED= runs another sequence (to look for more, by hand). */
        const guint32 seed = g_getenv("AID_TEST_SEED")
                                             ? (guint32)g_ascii_strtoull(g_getenv("AID_TEST_SEED"), NULL, 10)
                                             : 20261124;
        g_autoptr(GRand) r = g_rand_new_with_seed(seed);
        unsigned n_ok = 0, n_err = 0;

        start(NULL);
        c = connect_bus();
        prompt = fixture_text(LLAMA ".prompt.txt");
        for (unsigned i = 0; i < 300; i++) {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) v = NULL;
                g_autofree char *chat = NULL;
                int what = g_rand_int_range(r, 0, 3);

                if (what == 0)
                        v = call(c, "/org/aid/Daemon1", TEXT_IFACE, "Generate",
                                        g_variant_new("(s@a{sv})", g_rand_boolean(r) ? prompt : "Hi",
                                                        random_options(r)),
                                        &e);
                else {
                        v = call(c, "/org/aid/Daemon1", TEXT_IFACE, "CreateChat",
                                        g_variant_new("(@a{sv})", random_options(r)), &e);
                        if (v && what == 2) {
                                g_variant_get(v, "(o)", &chat);
                                g_clear_pointer(&v, g_variant_unref);
                                v = call(c, chat, CHAT_IFACE, "Send",
                                                g_variant_new("(s@a{sv})", "Hello", random_options(r)), &e);
                                /* The answer runs on; Close cancels it. */
                                g_autoptr(GVariant) closed = call(c, chat, CHAT_IFACE, "Close", NULL, NULL);
                                cr_assert(closed, "call %u (seed %u): Close failed", i, seed);
                        } else if (v) {
                                g_variant_get(v, "(o)", &chat);
                                g_autoptr(GVariant) closed = call(c, chat, CHAT_IFACE, "Close", NULL, NULL);
                                cr_assert(closed, "call %u (seed %u): Close failed", i, seed);
                        }
                }
                if (v) {
                        n_ok++;
                        continue;
                }
                g_autofree char *name = g_dbus_error_get_remote_error(e);
                cr_assert(name && (g_str_has_prefix(name, "org.aid.Error.") ||
                                                  g_str_equal(name,
                                                                  "org.freedesktop.DBus.Error.InvalidArgs")),
                                "call %u (seed %u): %s: %s", i, seed, name ? name : "(not a D-Bus error)",
                                e->message);
                cr_assert(testbus_aid_alive(&tb), "call %u (seed %u): aid died", i, seed);
                n_err++;
        }
        /* Both kinds came up, or the options were not random enough to test anything. */
        cr_assert_gt(n_ok, 20, "%u calls succeeded", n_ok);
        cr_assert_gt(n_err, 20, "%u calls failed", n_err);
        cr_log_info("seed %u: %u calls answered, %u refused with a named error", seed, n_ok, n_err);
        want = greedy_text(LLAMA, 32);
        text = generate(c, prompt, greedy(32), &stats);
        cr_assert_str_eq(text, want);
}

Test(text, no_text_model_is_model_unavailable)
{
        g_autoptr(GDBusConnection) c = NULL;
        g_autofree char *msg = NULL;
        g_autofree char *policy = g_build_filename(policy_dir, "00-test.conf", NULL);
        g_autofree char *conf = g_strdup_printf("[Policy]\nDirectories=%s\n", policy_dir);

        cr_assert(g_file_set_contents(policy, "[Default]\ntext=allow\n", -1, NULL));
        testbus_start_aid(&tb, conf);
        c = connect_bus();
        msg = generate_fails(c, "Hello", greedy(4), "org.aid.Error.ModelUnavailable");
        cr_assert(strstr(msg, "no text model is installed"), "%s", msg);
}

/* Invalid UTF-8 never reaches aid: the bus itself refuses a message that carries it (GDBus will
 * not even build one). aid checks again, and keeps serving. */
Test(text, invalid_utf8_is_refused_before_aid_and_aid_serves_on)
{
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GVariant) stats = NULL;
        g_autofree char *out = NULL, *err = NULL, *text = NULL;
        g_autofree char *busctl = g_find_program_in_path("busctl");
        int r;

        start(NULL);
        if (busctl) {
                const char *argv[] = { busctl, "--user", "call", "org.aid.Daemon1", "/org/aid/Daemon1",
                        TEXT_IFACE, "Generate", "sa{sv}", "caf\xc3\x28", "0", NULL };
                r = testbus_run(&tb, &out, &err, argv);
                cr_assert_neq(r, 0, "invalid UTF-8 was accepted: %s", out);
        }
        c = connect_bus();
        text = generate(c, "caf\xc3\xa9", greedy(4), &stats);
        cr_assert(g_utf8_validate(text, -1, NULL));
        cr_assert(testbus_aid_alive(&tb));
}

Test(text, a_denied_app_gets_permission_denied_and_no_data)
{
        g_autofree char *denied = tool("aid-denied-client");
        g_autofree char *limited = tool("aid-limited-client");
        g_autofree char *extra =
                        g_strdup_printf("[App %s]\ntext=deny\n[App %s]\nMaxTokens=16\n", denied, limited);
        g_autofree char *prompt = NULL;
        static const char *const methods[][3] = {
                { "Generate", "Hello", "{}" },
                { "StartGeneration", "Hello", "{}" },
                { "CreateChat", "{}", NULL },
        };

        start(extra);
        prompt = fixture_text(LLAMA ".prompt.txt");
        for (size_t i = 0; i < G_N_ELEMENTS(methods); i++) {
                g_autofree char *out = NULL, *err = NULL;
                g_autofree char *m = g_strdup_printf(TEXT_IFACE ".%s", methods[i][0]);
                const char *argv[] = { denied, "call", "--session", "--dest", "org.aid.Daemon1",
                        "--object-path", "/org/aid/Daemon1", "--method", m, methods[i][1], methods[i][2],
                        NULL };

                cr_assert_neq(testbus_run(&tb, &out, &err, argv), 0, "%s was allowed: %s", m, out);
                cr_assert(strstr(err, "org.aid.Error.PermissionDenied"), "%s: %s", m, err);
                cr_assert(strstr(err, "may not use 'text'"), "%s: %s", m, err);
                cr_assert_str_empty(out, "a denied call returned data: %s", out);
        }

        /* MaxTokens= caps what an app may ask for. */
        {
                g_autofree char *out = NULL, *err = NULL;
                const char *argv[] = { limited, "call", "--session", "--dest", "org.aid.Daemon1",
                        "--object-path", "/org/aid/Daemon1", "--method", TEXT_IFACE ".Generate", prompt,
                        "{'max_tokens': <uint32 32>}", NULL };

                cr_assert_neq(testbus_run(&tb, &out, &err, argv), 0, "%s", out);
                cr_assert(strstr(err, "org.aid.Error.TooLarge"), "%s", err);
                cr_assert(strstr(err, "MaxTokens="), "%s", err);
        }
        {
                g_autofree char *out = NULL, *err = NULL;
                const char *argv[] = { limited, "call", "--session", "--dest", "org.aid.Daemon1",
                        "--object-path", "/org/aid/Daemon1", "--method", TEXT_IFACE ".Generate", prompt,
                        "{'max_tokens': <uint32 16>, 'temperature': <0.0>}", NULL };

                cr_assert_eq(testbus_run(&tb, &out, &err, argv), 0, "%s", err);
                cr_assert(strstr(out, "'generated_tokens': <uint32 16>"), "%s", out);
        }
}

/* The Manager's Models entry of id: its state and whether it has load_progress / state_reason. */
static char *model_state(GDBusConnection *c, const char *id)
{
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) v =
                        call(c, "/org/aid/Daemon1", "org.aid.Daemon1.Manager", "ListModels", NULL, &e);
        g_autoptr(GVariant) list = NULL;
        GVariantIter i;
        GVariant *m;

        cr_assert(v, "ListModels: %s", e ? e->message : "?");
        list = g_variant_get_child_value(v, 0);
        g_variant_iter_init(&i, list);
        while ((m = g_variant_iter_next_value(&i))) {
                const char *mid = NULL, *state = NULL;
                char *ret = NULL;

                if (g_variant_lookup(m, "id", "&s", &mid) && strcmp(mid, id) == 0) {
                        cr_assert(g_variant_lookup(m, "state", "&s", &state), "model %s has no state", id);
                        ret = g_strdup(state);
                }
                g_variant_unref(m);
                if (ret)
                        return ret;
        }
        cr_assert_fail("no model %s", id);
        return NULL;
}

static void on_models_changed(GDBusConnection *c, const char *sender, const char *path, const char *iface,
                const char *member, GVariant *params, gpointer userdata)
{
        g_autoptr(GVariant) invalidated = g_variant_get_child_value(params, 2);
        g_autofree const char **names = g_variant_get_strv(invalidated, NULL);

        for (size_t i = 0; names[i]; i++)
                if (strcmp(names[i], "Models") == 0)
                        (*(unsigned *)userdata)++;
}

struct state_wait {
        GDBusConnection *c;
        const char *want;
};

static bool state_is(void *p)
{
        struct state_wait *w = p;
        g_autofree char *s = model_state(w->c, LLAMA);
        return strcmp(s, w->want) == 0;
}

Test(text, the_model_loads_on_first_use_shows_its_state_and_unloads_when_idle)
{
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GVariant) stats = NULL;
        g_autofree char *state = NULL, *text = NULL;
        g_autofree char *policy = g_build_filename(policy_dir, "00-test.conf", NULL);
        g_autofree char *conf =
                        g_strdup_printf("[Policy]\nDirectories=%s\n[Daemon]\nIdleUnloadSec=1\n", policy_dir);
        unsigned n_changes = 0, n_before;
        guint sub;

        testbus_add_fixture_model(&tb, "models/" LLAMA ".gguf", NULL);
        cr_assert(g_file_set_contents(policy, "[Default]\ntext=allow\n", -1, NULL));
        testbus_start_aid(&tb, conf);
        c = connect_bus();
        sub = g_dbus_connection_signal_subscribe(c, NULL, "org.freedesktop.DBus.Properties",
                        "PropertiesChanged", "/org/aid/Daemon1", "org.aid.Daemon1.Manager",
                        G_DBUS_SIGNAL_FLAGS_NONE, on_models_changed, &n_changes, NULL);

        state = model_state(c, LLAMA);
        cr_assert_str_eq(state, "unloaded", "the model was loaded before anyone asked");
        text = generate(c, "Once upon a time", greedy(4), &stats);
        g_free(state);
        state = model_state(c, LLAMA);
        cr_assert_str_eq(state, "ready");
        while (g_main_context_iteration(NULL, false))
                ;
        cr_assert_gt(n_changes, 0, "no PropertiesChanged for Models while the model loaded");

        n_before = n_changes;
        struct state_wait w = { c, "unloaded" };
        cr_assert(iterate_until(state_is, &w, 20 * G_USEC_PER_SEC),
                        "the model stayed loaded with IdleUnloadSec=1");
        while (g_main_context_iteration(NULL, false))
                ;
        cr_assert_gt(n_changes, n_before, "no PropertiesChanged for Models when the model unloaded");

        /* And it comes back on the next use. */
        g_free(text);
        g_clear_pointer(&stats, g_variant_unref);
        text = generate(c, "Once upon a time", greedy(4), &stats);
        g_dbus_connection_signal_unsubscribe(c, sub);
}

Test(text, max_concurrent_limits_an_apps_running_requests)
{
        g_autoptr(GDBusConnection) c = NULL;
        g_autofree char *prompt = NULL;
        struct collector *col;
        bool refused = false;

        start("MaxConcurrent=1\n");
        c = connect_bus();
        col = collector_new(c);
        prompt = fixture_text(LLAMA ".prompt.txt");
        /* The second call must come while the first runs (a fraction of a second): retried on a
         * machine slow enough to let the first one end. */
        for (int attempt = 0; attempt < 5 && !refused; attempt++) {
                g_autofree char *path = start_generation(c, prompt, greedy(400));
                g_autoptr(GError) e = NULL;
                G_GNUC_UNUSED g_autoptr(GVariant) v = call(c, "/org/aid/Daemon1", TEXT_IFACE, "Generate",
                                g_variant_new("(s@a{sv})", prompt, greedy(4)), &e);

                if (!v) {
                        g_autofree char *name = g_dbus_error_get_remote_error(e);
                        cr_assert_str_eq(name, "org.aid.Error.QuotaExceeded", "%s", e->message);
                        cr_assert(strstr(e->message, "MaxConcurrent="), "%s", e->message);
                        refused = true;
                }
                wait_end(col, path);
        }
        cr_assert(refused, "a second request ran beside the first with MaxConcurrent=1");
        /* With the first one done, the next runs. */
        {
                g_autoptr(GVariant) stats = NULL;
                g_autofree char *text = generate(c, prompt, greedy(4), &stats);

                cr_assert_eq(stat_u(stats, "generated_tokens"), 4, "%s", text);
        }
        collector_free(col);
}

/* Open chats are bounded per app: each may hold a conversation and a megabyte of system prompt
 * until it is closed. */
Test(text, an_app_has_at_most_64_open_chats)
{
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GPtrArray) chats = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) v = NULL;

        start(NULL);
        c = connect_bus();
        for (;;) {
                GVariantBuilder b;
                g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
                g_variant_builder_add(&b, "{sv}", "model", g_variant_new_string(PHI3));
                g_clear_pointer(&v, g_variant_unref);
                v = call(c, "/org/aid/Daemon1", TEXT_IFACE, "CreateChat", g_variant_new("(a{sv})", &b), &e);
                if (!v)
                        break;
                char *path;
                g_variant_get(v, "(o)", &path);
                g_ptr_array_add(chats, path);
                cr_assert_leq(chats->len, 64, "more than 64 chats open");
        }
        g_autofree char *name = g_dbus_error_get_remote_error(e);
        cr_assert_str_eq(name, "org.aid.Error.QuotaExceeded", "%s", e->message);
        cr_assert(strstr(e->message, "64 open chats"), "%s", e->message);
        cr_assert_eq(chats->len, 64);
        /* Closing one makes room for one. */
        g_clear_error(&e);
        v = call(c, chats->pdata[0], CHAT_IFACE, "Close", NULL, &e);
        cr_assert(v, "Close failed: %s", e ? e->message : "?");
        g_clear_pointer(&v, g_variant_unref);
        GVariantBuilder b;
        g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
        v = call(c, "/org/aid/Daemon1", TEXT_IFACE, "CreateChat", g_variant_new("(a{sv})", &b), &e);
        cr_assert(v, "no chat after one was closed: %s", e ? e->message : "?");
}

Test(text, stop_strings_and_seeds_do_what_the_options_say)
{
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GVariant) stats = NULL, stopped_stats = NULL, s1 = NULL, s2 = NULL;
        g_autofree char *prompt = NULL, *text = NULL, *stopped = NULL, *stop = NULL, *a = NULL, *b = NULL;
        const char *stops[] = { NULL, NULL };
        GVariantBuilder builder;
        const char *at;

        start(NULL);
        c = connect_bus();
        prompt = fixture_text(LLAMA ".prompt.txt");
        text = generate(c, prompt, greedy(32), &stats);
        cr_assert_geq(strlen(text), 12, "%s", text);

        /* A piece of the middle of the text: generation ends just before its first occurrence. */
        stop = g_strndup(text + strlen(text) / 2, 3);
        at = strstr(text, stop);
        stops[0] = stop;
        g_variant_builder_init(&builder, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&builder, "{sv}", "temperature", g_variant_new_double(0));
        g_variant_builder_add(&builder, "{sv}", "max_tokens", g_variant_new_uint32(32));
        g_variant_builder_add(&builder, "{sv}", "stop", g_variant_new_strv(stops, -1));
        stopped = generate(c, prompt, g_variant_builder_end(&builder), &stopped_stats);
        cr_assert_eq(strlen(stopped), (size_t)(at - text), "stop '%s': got '%s' from '%s'", stop, stopped,
                        text);
        cr_assert(strncmp(stopped, text, strlen(stopped)) == 0);
        cr_assert_str_eq(stat_s(stopped_stats, "finish_reason"), "stop");

        /* The same seed gives the same sampled text. */
        for (int i = 0; i < 2; i++) {
                g_variant_builder_init(&builder, G_VARIANT_TYPE("a{sv}"));
                g_variant_builder_add(&builder, "{sv}", "temperature", g_variant_new_double(1.0));
                g_variant_builder_add(&builder, "{sv}", "seed", g_variant_new_uint64(42));
                g_variant_builder_add(&builder, "{sv}", "max_tokens", g_variant_new_uint32(24));
                g_variant_builder_add(&builder, "{sv}", "priority", g_variant_new_string("background"));
                if (i == 0)
                        a = generate(c, prompt, g_variant_builder_end(&builder), &s1);
                else
                        b = generate(c, prompt, g_variant_builder_end(&builder), &s2);
        }
        cr_assert_str_eq(a, b, "the same seed gave two texts");
}

static void on_overflow(GDBusConnection *c, const char *sender, const char *path, const char *iface,
                const char *member, GVariant *params, gpointer userdata)
{
        uint32_t dropped;

        g_variant_get(params, "(u)", &dropped);
        *(uint32_t *)userdata += dropped;
}

Test(text, a_chat_that_outgrows_its_context_drops_its_oldest_turns)
{
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GVariant) v = NULL;
        g_autofree char *chat = NULL;
        g_autofree char *policy = g_build_filename(policy_dir, "00-test.conf", NULL);
        g_autofree char *conf =
                        g_strdup_printf("[Policy]\nDirectories=%s\n[Text]\nContextSize=128\n", policy_dir);
        struct collector *col;
        struct tokens_used t = {};
        uint32_t dropped = 0, ctx;
        GVariantBuilder b;
        guint sub, sub2;

        testbus_add_fixture_model(&tb, "models/" PHI3 ".gguf", NULL);
        cr_assert(g_file_set_contents(policy, "[Default]\ntext=allow\n", -1, NULL));
        testbus_start_aid(&tb, conf);
        c = connect_bus();
        col = collector_new(c);
        g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&b, "{sv}", "system_prompt", g_variant_new_string("You answer briefly."));
        g_variant_builder_add(&b, "{sv}", "temperature", g_variant_new_double(0));
        v = call(c, "/org/aid/Daemon1", TEXT_IFACE, "CreateChat", g_variant_new("(a{sv})", &b), NULL);
        cr_assert(v, "CreateChat failed");
        g_variant_get(v, "(o)", &chat);
        t.path = chat;
        sub = g_dbus_connection_signal_subscribe(c, NULL, "org.freedesktop.DBus.Properties",
                        "PropertiesChanged", chat, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_properties_changed, &t,
                        NULL);
        sub2 = g_dbus_connection_signal_subscribe(c, NULL, CHAT_IFACE, "ContextOverflow", chat, NULL,
                        G_DBUS_SIGNAL_FLAGS_NONE, on_overflow, &dropped, NULL);

        for (int turn = 0; turn < 20 && dropped == 0; turn++) {
                g_autoptr(GVariant) stats =
                                chat_turn(c, col, &t, chat, "Tell me one more thing about foxes.");
                ctx = chat_u(c, chat, "ContextSize");
                cr_assert_eq(ctx, 128, "ContextSize= is not the chat's context");
                cr_assert_leq(t.value, ctx, "turn %d: %u tokens in a context of %u", turn, t.value, ctx);
                cr_assert_lt(stat_u(stats, "prompt_tokens"), ctx, "turn %d's prompt does not fit", turn);
        }
        cr_assert_gt(dropped, 0, "20 turns never overflowed a context of 128 tokens");
        g_dbus_connection_signal_unsubscribe(c, sub);
        g_dbus_connection_signal_unsubscribe(c, sub2);
        collector_free(col);
}

Test(text, a_chat_with_a_model_without_a_chat_template_fails_its_turn_with_the_reason)
{
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GVariant) v = NULL;
        g_autoptr(GError) e = NULL;
        g_autofree char *chat = NULL, *req = NULL;
        struct collector *col;
        struct stream *s;
        GVariantBuilder b;

        start(NULL);
        c = connect_bus();
        col = collector_new(c);
        g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&b, "{sv}", "model", g_variant_new_string(LLAMA));
        v = call(c, "/org/aid/Daemon1", TEXT_IFACE, "CreateChat", g_variant_new("(a{sv})", &b), &e);
        cr_assert(v, "CreateChat failed: %s", e ? e->message : "?");
        g_variant_get(v, "(o)", &chat);
        g_clear_pointer(&v, g_variant_unref);
        v = call(c, chat, CHAT_IFACE, "Send", g_variant_new("(s@a{sv})", "Hello", greedy(4)), &e);
        cr_assert(v, "Send failed: %s", e ? e->message : "?");
        g_variant_get(v, "(o)", &req);
        s = wait_end(col, req);
        cr_assert_str_eq(s->error_name ? s->error_name : "(Finished)", "org.aid.Error.ModelUnavailable");
        cr_assert_eq(s->n_tokens, 0);
        collector_free(col);
}

/* ---- many apps at once, in any order ------------------------------------------------------- */

struct life_conn {
        GDBusConnection *c;
        struct collector *col;
        GPtrArray *requests; /* object paths of its streamed requests */
        GPtrArray *chats;    /* object paths of its open chats */
        bool closed;
};

struct life {
        GRand *r;
        guint32 seed;
        unsigned pending; /* calls without a reply yet */
        unsigned n_ok, n_err;
        char *bad; /* the first reply that is not a result or a named error */
};

enum life_kind {
        LIFE_START,
        LIFE_GENERATE,
        LIFE_CANCEL,
        LIFE_CREATE_CHAT,
        LIFE_SEND,
        LIFE_RESET,
        LIFE_CLOSE_CHAT,
        LIFE_PROPERTIES
};

struct life_call {
        struct life *l;
        struct life_conn *lc;
        enum life_kind kind;
};

static struct life_conn *life_conn_new(void)
{
        struct life_conn *lc = g_new0(struct life_conn, 1);

        lc->c = connect_bus();
        lc->col = collector_new(lc->c);
        lc->requests = g_ptr_array_new_with_free_func(g_free);
        lc->chats = g_ptr_array_new_with_free_func(g_free);
        return lc;
}

static void life_conn_free(struct life_conn *lc)
{
        collector_free(lc->col);
        g_object_unref(lc->c);
        g_ptr_array_unref(lc->requests);
        g_ptr_array_unref(lc->chats);
        g_free(lc);
}

/* Errors a call may meet here: aid's own, an object already gone (a request that ended, a chat
 * closed), and, on a connection this test closed, the closed connection. */
static bool life_error_expected(const struct life_call *call, const GError *e)
{
        g_autofree char *name = g_dbus_error_get_remote_error(e);

        if (name)
                return g_str_has_prefix(name, "org.aid.Error.") ||
                       g_str_equal(name, "org.freedesktop.DBus.Error.UnknownObject");
        return call->lc->closed &&
               (g_error_matches(e, G_IO_ERROR, G_IO_ERROR_CLOSED) ||
                               g_error_matches(e, G_DBUS_ERROR, G_DBUS_ERROR_DISCONNECTED));
}

static void on_life_reply(GObject *source, GAsyncResult *res, gpointer p)
{
        struct life_call *call = p;
        struct life *l = call->l;
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) v = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &e);

        l->pending--;
        if (!v) {
                l->n_err++;
                if (!l->bad && !life_error_expected(call, e))
                        l->bad = g_strdup_printf("call kind %d: %s", call->kind, e->message);
        } else {
                l->n_ok++;
                if (call->kind == LIFE_START || call->kind == LIFE_SEND || call->kind == LIFE_CREATE_CHAT) {
                        const char *path;
                        g_variant_get(v, "(&o)", &path);
                        g_ptr_array_add(call->kind == LIFE_CREATE_CHAT ? call->lc->chats
                                                                       : call->lc->requests,
                                        g_strdup(path));
                }
        }
        g_free(call);
}

static void life_call(struct life *l, struct life_conn *lc, enum life_kind kind, const char *path,
                const char *iface, const char *method, GVariant *args)
{
        struct life_call *call = g_new0(struct life_call, 1);

        *call = (struct life_call){ l, lc, kind };
        l->pending++;
        g_dbus_connection_call(lc->c, "org.aid.Daemon1", path, iface, method, args, NULL,
                        G_DBUS_CALL_FLAGS_NONE, (int)(WAIT_USEC / 1000), NULL, on_life_reply, call);
}

static GVariant *life_options(struct life *l, bool with_model, unsigned max_tokens)
{
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&b, "{sv}", "max_tokens",
                        g_variant_new_uint32(1 + g_rand_int_range(l->r, 0, (gint32)max_tokens)));
        g_variant_builder_add(
                        &b, "{sv}", "temperature", g_variant_new_double(g_rand_boolean(l->r) ? 0 : 0.8));
        if (with_model)
                g_variant_builder_add(&b, "{sv}", "model",
                                g_variant_new_string(g_rand_int_range(l->r, 0, 10) < 3 ? PHI3 : LLAMA));
        return g_variant_builder_end(&b);
}

static const char *life_pick(struct life *l, GPtrArray *a)
{
        return a->len ? a->pdata[g_rand_int_range(l->r, 0, (gint32)a->len)] : NULL;
}

static bool never(void *p)
{
        return false;
}

/* One random step of one app. */
static void life_step(struct life *l, struct life_conn **conns, size_t n_conns, GPtrArray *closed)
{
        static const char *const prompts[] = { "Hello", "Once upon a time",
                "The quick brown fox jumps over the lazy dog", "Käse, 日本語 und ☃" };
        const size_t i = (size_t)g_rand_int_range(l->r, 0, (gint32)n_conns);
        struct life_conn *lc = conns[i];
        const char *prompt = prompts[g_rand_int_range(l->r, 0, G_N_ELEMENTS(prompts))];
        const int what = g_rand_int_range(l->r, 0, 100);
        const char *path;

        if (what < 30)
                life_call(l, lc, LIFE_START, "/org/aid/Daemon1", TEXT_IFACE, "StartGeneration",
                                g_variant_new("(s@a{sv})", prompt, life_options(l, true, 48)));
        else if (what < 38)
                life_call(l, lc, LIFE_GENERATE, "/org/aid/Daemon1", TEXT_IFACE, "Generate",
                                g_variant_new("(s@a{sv})", prompt, life_options(l, true, 16)));
        else if (what < 52) {
                if ((path = life_pick(l, lc->requests)))
                        life_call(l, lc, LIFE_CANCEL, path, REQUEST_IFACE, "Cancel", NULL);
        } else if (what < 58)
                life_call(l, lc, LIFE_CREATE_CHAT, "/org/aid/Daemon1", TEXT_IFACE, "CreateChat",
                                g_variant_new("(@a{sv})", option("model", g_variant_new_string(PHI3))));
        else if (what < 74) {
                if ((path = life_pick(l, lc->chats)))
                        life_call(l, lc, LIFE_SEND, path, CHAT_IFACE, "Send",
                                        g_variant_new("(s@a{sv})", prompt, life_options(l, false, 32)));
        } else if (what < 79) {
                if ((path = life_pick(l, lc->chats)))
                        life_call(l, lc, LIFE_RESET, path, CHAT_IFACE, "Reset", NULL);
        } else if (what < 84) {
                if ((path = life_pick(l, lc->chats))) {
                        life_call(l, lc, LIFE_CLOSE_CHAT, path, CHAT_IFACE, "Close", NULL);
                        g_ptr_array_remove(lc->chats, (gpointer)path);
                }
        } else if (what < 87) {
                /* The app quits: its connection closes with whatever it had running. */
                lc->closed = true;
                g_dbus_connection_close_sync(lc->c, NULL, NULL);
                g_ptr_array_add(closed, lc);
                conns[i] = life_conn_new();
        } else
                life_call(l, lc, LIFE_PROPERTIES, "/org/aid/Daemon1", "org.freedesktop.DBus.Properties",
                                "GetAll", g_variant_new("(s)", "org.aid.Daemon1.Manager"));
}

static bool life_settled(void *p)
{
        return ((struct life *)p)->pending == 0;
}

/* Several apps at once doing what apps do, in a random order and at random moments: streamed
 * requests of two models (so the model is swapped back and forth), Generate, Cancel of their own
 * requests (running or over), chats with Send, Reset and Close, and apps that quit mid-stream.
 * Every reply is a result or a named error, every stream of an app still there ends exactly once,
 * aid stays up, and its greedy text is then the fixture's. The seed is fixed (AID_TEST_SEED= runs
 * another); the timing is not, so each run also tries other interleavings. */
Test(text, many_apps_at_once_in_a_random_order_leave_aid_serving)
{
        const guint32 seed = g_getenv("AID_TEST_SEED")
                                             ? (guint32)g_ascii_strtoull(g_getenv("AID_TEST_SEED"), NULL, 10)
                                             : 20261124;
        struct life l = { .r = g_rand_new_with_seed(seed), .seed = seed };
        g_autoptr(GPtrArray) closed = g_ptr_array_new_with_free_func((GDestroyNotify)life_conn_free);
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GVariant) stats = NULL;
        g_autofree char *prompt = NULL, *want = NULL, *text = NULL;
        struct life_conn *conns[4];
        unsigned n_streams = 0;

        start(NULL);
        for (size_t i = 0; i < G_N_ELEMENTS(conns); i++)
                conns[i] = life_conn_new();
        for (unsigned step = 0; step < 250; step++) {
                life_step(&l, conns, G_N_ELEMENTS(conns), closed);
                iterate_until(never, NULL, g_rand_int_range(l.r, 0, 15) * 1000);
        }
        cr_assert(iterate_until(life_settled, &l, WAIT_USEC), "seed %u: %u calls got no reply within 60 s",
                        seed, l.pending);
        cr_assert_null(l.bad, "seed %u: %s", seed, l.bad);
        cr_assert(testbus_aid_alive(&tb), "seed %u: aid died", seed);

        for (size_t i = 0; i < G_N_ELEMENTS(conns); i++) {
                for (guint k = 0; k < conns[i]->requests->len; k++) {
                        struct stream *s = wait_end(conns[i]->col, conns[i]->requests->pdata[k]);

                        cr_assert_eq(s->n_ends, 1, "seed %u: a stream ended %u times", seed, s->n_ends);
                        cr_assert_not(s->signal_after_end, "seed %u: a signal came after the end", seed);
                        n_streams++;
                }
                life_conn_free(conns[i]);
        }
        cr_log_info("seed %u: %u replies, %u of them errors; %u streams of apps still there; %u apps quit",
                        seed, l.n_ok + l.n_err, l.n_err, n_streams, closed->len);
        cr_assert_gt(l.n_ok, 50, "seed %u: too few calls succeeded to test anything", seed);
        cr_assert_gt(n_streams, 10, "seed %u", seed);

        c = connect_bus();
        prompt = fixture_text(LLAMA ".prompt.txt");
        want = greedy_text(LLAMA, 32);
        text = generate(c, prompt, greedy(32), &stats);
        cr_assert_str_eq(text, want, "seed %u: after the crowd, aid's greedy text differs", seed);

        /* And it exits cleanly: in the ASan build, a request or chat object that outlived its app
         * is a leak, and LeakSanitizer makes the exit status non-zero. */
        g_clear_object(&c);
        int status = testbus_stop_aid(&tb);
        g_autofree char *log = NULL;
        cr_assert(g_file_get_contents(tb.aid_log, &log, NULL, NULL));
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "seed %u: aid's exit status %d:\n%s", seed,
                        status, log);
        cr_assert_null(strstr(log, "Sanitizer"), "seed %u:\n%s", seed, log);
        g_rand_free(l.r);
        g_free(l.bad);
}
