/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aidctl as a user runs it, and libaid as an application uses it (asynchronously, from a main
 * loop), against the real aid on a private bus. */
#include <aid/aid.h>
#include <criterion/criterion.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "config.h"
#include "testbus.h"

static struct testbus tb;

static void setup_bus(void)
{
        testbus_setup(&tb);
}

static void teardown_bus(void)
{
        testbus_teardown(&tb);
}

/* Two good models and one a user might have lying around half-downloaded. */
static void start_aid_with_models(void)
{
        g_autofree char *broken = g_build_filename(tb.models_dir, "broken.gguf", NULL);
        g_autoptr(GError) error = NULL;

        testbus_add_fixture_model(&tb, "models/tiny-llama-v512-Q4_0.gguf", NULL);
        testbus_add_fixture_model(&tb, "whisper/whisper-d64-random-f16.bin", NULL);
        cr_assert(g_file_set_contents(broken, "GGUF\x03\0\0\0truncated", 15, &error), "%s",
                        error ? error->message : "");
        testbus_start_aid(&tb, NULL);
}

typedef struct {
        int rc;
        char *out;
        char *err;
} Result;

static void result_clear(Result *r)
{
        g_clear_pointer(&r->out, g_free);
        g_clear_pointer(&r->err, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Result, result_clear)

/* aidctl ARGS..., NULL */
static Result aidctl(const char *first, ...) G_GNUC_NULL_TERMINATED;
static Result aidctl(const char *first, ...)
{
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        Result r = { 0 };
        const char *exe = g_getenv("AIDCTL");
        va_list ap;

        cr_assert(exe, "AIDCTL is not set (run through meson test)");
        g_ptr_array_add(argv, (char *)exe);
        va_start(ap, first);
        for (const char *a = first; a; a = va_arg(ap, const char *))
                g_ptr_array_add(argv, (char *)a);
        va_end(ap);
        g_ptr_array_add(argv, NULL);

        r.rc = testbus_run(&tb, &r.out, &r.err, (const char *const *)argv->pdata);
        if (!r.out)
                r.out = g_strdup("");
        if (!r.err)
                r.err = g_strdup("");
        return r;
}

static GRegex *nbsp_re(void)
{
        static GRegex *re;

        if (!re)
                re = g_regex_new("\u00a0", 0, 0, NULL);
        return re;
}

/* The row of the models table whose first column is id, split on runs of spaces. */
static char **table_row(const char *table, const char *id)
{
        g_auto(GStrv) lines = g_strsplit(table, "\n", -1);

        for (char **l = lines; *l; l++) {
                /* g_format_size() joins number and unit with a no-break space */
                g_autofree char *plain = g_regex_replace_literal(nbsp_re(), *l, -1, 0, " ", 0, NULL);
                g_auto(GStrv) fields = g_regex_split_simple(" +", plain, 0, 0);
                if (fields[0] && g_str_equal(fields[0], id))
                        return g_steal_pointer(&fields);
        }
        return NULL;
}

static JsonObject *parse_json_object(const char *text, JsonParser **ret_parser)
{
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GError) error = NULL;
        JsonNode *root;

        cr_assert(json_parser_load_from_data(parser, text, -1, &error), "not JSON (%s):\n%s",
                        error ? error->message : "", text);
        root = json_parser_get_root(parser);
        cr_assert(root && JSON_NODE_HOLDS_OBJECT(root), "JSON root is not an object:\n%s", text);
        *ret_parser = g_steal_pointer(&parser);
        return json_node_get_object(root);
}

static JsonObject *find_model(JsonArray *models, const char *id)
{
        for (guint i = 0; i < json_array_get_length(models); i++) {
                JsonObject *m = json_array_get_object_element(models, i);
                if (g_strcmp0(json_object_get_string_member_with_default(m, "id", ""), id) == 0)
                        return m;
        }
        cr_assert_fail("model %s missing from the JSON list", id);
        return NULL;
}

TestSuite(aidctl, .init = setup_bus, .fini = teardown_bus, .timeout = 120);

Test(aidctl, status_shows_version_counts_and_defaults)
{
        start_aid_with_models();
        g_auto(Result) r = aidctl("status", NULL);

        cr_assert_eq(r.rc, 0, "rc %d, stderr: %s", r.rc, r.err);
        cr_assert(strstr(r.out, AID_VERSION), "no version %s in:\n%s", AID_VERSION, r.out);
        cr_assert(strstr(r.out, "3 (2 usable, 1 unusable)"), "wrong counts in:\n%s", r.out);
        cr_assert(g_regex_match_simple("^  text +tiny-llama-v512-Q4_0$", r.out, G_REGEX_MULTILINE, 0),
                        "no default text model in:\n%s", r.out);
        cr_assert(g_regex_match_simple("^  speech +whisper-d64-random-f16$", r.out, G_REGEX_MULTILINE, 0),
                        "no default speech model in:\n%s", r.out);
        cr_assert(g_regex_match_simple("^  vision +none$", r.out, G_REGEX_MULTILINE, 0),
                        "the missing vision model is not shown in:\n%s", r.out);
        cr_assert(g_regex_match_simple("^In memory: +no model \\(each loads on first use\\)$", r.out,
                                  G_REGEX_MULTILINE, 0),
                        "a model is in memory before any request:\n%s", r.out);
}

Test(aidctl, models_table_has_every_model_and_explains_the_broken_one)
{
        start_aid_with_models();
        g_auto(Result) r = aidctl("models", NULL);
        g_auto(GStrv) header = NULL, llama = NULL, whisper = NULL, broken = NULL;

        cr_assert_eq(r.rc, 0, "rc %d, stderr: %s", r.rc, r.err);
        header = table_row(r.out, "ID");
        cr_assert(header, "no header in:\n%s", r.out);
        const char *const columns[] = { "ID", "ARCH", "TYPE", "PARAMS", "CONTEXT", "SIZE", "SOURCE",
                "STATUS", NULL };
        cr_assert(g_strv_equal((const char *const *)header, columns), "header is not %s:\n%s",
                        "ID ARCH TYPE PARAMS CONTEXT SIZE SOURCE STATUS", r.out);

        /* SIZE is two words ("1.7 MiB"), so the rows have nine fields. */
        llama = table_row(r.out, "tiny-llama-v512-Q4_0");
        cr_assert(llama && g_strv_length(llama) == 9, "bad llama row in:\n%s", r.out);
        cr_assert_str_eq(llama[1], "llama");
        cr_assert_str_eq(llama[2], "Q4_0");
        cr_assert(g_regex_match_simple("^[0-9.]+[KMB]$", llama[3], 0, 0), "PARAMS %s is not human",
                        llama[3]);
        cr_assert_str_eq(llama[4], "512");
        cr_assert_str_eq(llama[6], "MiB");
        cr_assert_str_eq(llama[7], "config");
        cr_assert_str_eq(llama[8], "ok");

        whisper = table_row(r.out, "whisper-d64-random-f16");
        cr_assert(whisper && g_strv_length(whisper) == 9, "bad whisper row in:\n%s", r.out);
        cr_assert_str_eq(whisper[1], "whisper");
        cr_assert_str_eq(whisper[2], "F16");
        cr_assert_str_eq(whisper[8], "ok");

        broken = table_row(r.out, "broken");
        cr_assert(broken, "no row for broken.gguf in:\n%s", r.out);
        cr_assert_str_eq(broken[g_strv_length(broken) - 1], "unusable");

        cr_assert(strstr(r.out, "\nUnusable models:\n"), "no reasons section in:\n%s", r.out);
        cr_assert(g_regex_match_simple("^  broken: .{5,}$", r.out, G_REGEX_MULTILINE, 0),
                        "no reason line for broken in:\n%s", r.out);
}

/* A file name may hold anything, and aidctl prints ids, names and reasons from the daemon: a
 * control character must not reach the terminal (where ESC sequences move the cursor, clear the
 * screen or retitle the window) or break a table's line in two. */
Test(aidctl, control_characters_from_the_daemon_are_shown_escaped)
{
        const char *evil = "evil\033[2J\nfake-model  llama  ok";
        g_autofree char *file = g_strconcat(evil, ".gguf", NULL);
        g_autofree char *broken = g_strconcat(evil, "-broken.gguf", NULL);
        g_autofree char *broken_path = NULL;
        g_autoptr(GError) error = NULL;

        testbus_add_fixture_model(&tb, "models/tiny-llama-v512-Q4_0.gguf", file);
        broken_path = g_build_filename(tb.models_dir, broken, NULL);
        cr_assert(g_file_set_contents(broken_path, "GGUF\x03\0\0\0truncated", 15, &error), "%s",
                        error ? error->message : "");
        testbus_start_aid(&tb, NULL);

        const char *const commands[][3] = { { "models", NULL }, { "model", evil }, { "status", NULL },
                { "model", "no\033]0;title\007such" } };
        for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
                g_auto(Result) r = aidctl(commands[i][0], commands[i][1], NULL);
                g_autofree char *all = g_strconcat(r.out, r.err, NULL);

                cr_assert(strchr(all, '\033') == NULL, "aidctl %s printed an ESC:\n%s", commands[i][0], all);
                cr_assert(strchr(all, '\007') == NULL, "aidctl %s printed a BEL:\n%s", commands[i][0], all);
                cr_assert_null(strstr(all, "\nfake-model"), "aidctl %s split a line:\n%s", commands[i][0],
                                all);
                if (i < 2)
                        cr_assert(strstr(all, "evil\\x1b[2J\\nfake-model"), "aidctl %s hid the name:\n%s",
                                        commands[i][0], all);
        }
}

Test(aidctl, models_json_has_every_field)
{
        start_aid_with_models();
        /* --json after the command works too */
        g_auto(Result) r = aidctl("models", "--json", NULL);
        g_autoptr(JsonParser) parser = NULL;
        static const char *const keys[] = { "id", "name", "path", "source", "format", "usable", "reason",
                "size", "architecture", "capability", "parameters", "context_length", "file_type",
                "tensor_types", "state" };

        cr_assert_eq(r.rc, 0, "rc %d, stderr: %s", r.rc, r.err);
        JsonObject *root = parse_json_object(r.out, &parser);
        JsonArray *models = json_object_get_array_member(root, "models");
        cr_assert(models, "no models array in:\n%s", r.out);
        cr_assert_eq(json_array_get_length(models), 3);

        for (guint i = 0; i < json_array_get_length(models); i++) {
                JsonObject *m = json_array_get_object_element(models, i);
                for (size_t k = 0; k < G_N_ELEMENTS(keys); k++)
                        cr_assert(json_object_has_member(m, keys[k]), "model %u has no key %s", i, keys[k]);
        }

        JsonObject *llama = find_model(models, "tiny-llama-v512-Q4_0");
        cr_assert(json_object_get_boolean_member(llama, "usable"));
        cr_assert_str_eq(json_object_get_string_member(llama, "architecture"), "llama");
        cr_assert_str_eq(json_object_get_string_member(llama, "capability"), "text");
        cr_assert_str_eq(json_object_get_string_member(llama, "file_type"), "Q4_0");
        cr_assert_str_eq(json_object_get_string_member(llama, "format"), "gguf");
        cr_assert_eq(json_object_get_int_member(llama, "context_length"), 512);
        cr_assert_gt(json_object_get_int_member(llama, "parameters"), 0);
        cr_assert_gt(json_object_get_int_member(llama, "size"), 0);
        JsonObject *types = json_object_get_object_member(llama, "tensor_types");
        cr_assert(types && json_object_get_int_member_with_default(types, "Q4_0", 0) > 0,
                        "no Q4_0 tensors counted for the llama");
        g_autofree char *path = g_build_filename(tb.models_dir, "tiny-llama-v512-Q4_0.gguf", NULL);
        cr_assert_str_eq(json_object_get_string_member(llama, "path"), path);

        JsonObject *whisper = find_model(models, "whisper-d64-random-f16");
        cr_assert_str_eq(json_object_get_string_member(whisper, "capability"), "speech");
        cr_assert_str_eq(json_object_get_string_member(whisper, "format"), "whisper-ggml");

        JsonObject *broken = find_model(models, "broken");
        cr_assert(!json_object_get_boolean_member(broken, "usable"));
        cr_assert_gt(strlen(json_object_get_string_member_with_default(broken, "reason", "")), 0);
        cr_assert(json_object_get_null_member(broken, "architecture"));
}

Test(aidctl, status_json)
{
        start_aid_with_models();
        g_auto(Result) r = aidctl("--json", "status", NULL);
        g_autoptr(JsonParser) parser = NULL;

        cr_assert_eq(r.rc, 0, "rc %d, stderr: %s", r.rc, r.err);
        JsonObject *root = parse_json_object(r.out, &parser);
        cr_assert_str_eq(json_object_get_string_member(root, "version"), AID_VERSION);
        cr_assert_str_eq(json_object_get_string_member(root, "bus_mode"), "address");
        JsonObject *counts = json_object_get_object_member(root, "models");
        cr_assert_eq(json_object_get_int_member(counts, "total"), 3);
        cr_assert_eq(json_object_get_int_member(counts, "usable"), 2);
        cr_assert_eq(json_object_get_int_member(counts, "unusable"), 1);
        JsonObject *defaults = json_object_get_object_member(root, "default_models");
        cr_assert_str_eq(json_object_get_string_member(defaults, "text"), "tiny-llama-v512-Q4_0");
        cr_assert_str_eq(json_object_get_string_member(defaults, "speech"), "whisper-d64-random-f16");
}

/* What bash completes for the line (the cursor at its end), one candidate a line: the
 * completion script as installed, run in bash against the real daemon on the test bus. */
static char *complete_line(const char *line)
{
        g_autofree char *script =
                        g_build_filename(g_getenv("AID_SOURCE_ROOT"), "cli", "aidctl.bash-completion", NULL);
        g_autofree char *full = g_strdup_printf("%s %s", g_getenv("AIDCTL"), line);
        const char *argv[] = { "bash", "-c",
                "source \"$1\" && COMP_LINE=$2 && COMP_POINT=${#COMP_LINE} || exit 1; _aidctl; "
                "printf '%s\\n' \"${COMPREPLY[@]}\" | grep . | sort; exit 0",
                "bash", script, full, NULL };
        char *out = NULL, *err = NULL;
        int rc = testbus_run(&tb, &out, &err, argv);

        cr_assert_eq(rc, 0, "bash failed (%d): %s", rc, err ? err : "");
        g_free(err);
        return out ? out : g_strdup("");
}

Test(aidctl, bash_completion_offers_commands_options_and_model_ids)
{
        /* Line after "aidctl ", and the candidates, sorted, one a line. */
        static const char *const cases[][2] = {
                { "--address=x mo", "model\nmodels\n" },
                { "policy ", "check\nreload\nshow\n" },
                { "policy check org.example.App live-", "live-microphone\nlive-system-audio\n" },
                { "--js", "--json\n" },
                { "generate --max-t", "--max-tokens=\n" },
                /* A value the user types is not completed. */
                { "generate --temperature ", "" },
        };
        g_autofree char *ids = NULL, *ids_eq = NULL;

        start_aid_with_models();
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *got = complete_line(cases[i][0]);
                cr_assert_str_eq(got, cases[i][1], "aidctl %s<TAB>", cases[i][0]);
        }

        /* Model ids from the daemon the line names (the test bus, not the session's). */
        g_autofree char *on_bus = g_strdup_printf("--address %s model tiny-", tb.address);
        ids = complete_line(on_bus);
        cr_assert_str_eq(ids, "tiny-llama-v512-Q4_0\n");
        g_autofree char *eq = g_strdup_printf("--address=%s generate --model=wh", tb.address);
        ids_eq = complete_line(eq);
        /* bash splits words at '=', so the word it replaces is the value alone. */
        cr_assert_str_eq(ids_eq, "whisper-d64-random-f16\n");
}

Test(aidctl, model_details)
{
        start_aid_with_models();
        g_autofree char *path = g_build_filename(tb.models_dir, "tiny-llama-v512-Q4_0.gguf", NULL);
        g_autofree char *address_arg = g_strdup_printf("--address=%s", tb.address);
        g_auto(Result) r = aidctl(address_arg, "model", "tiny-llama-v512-Q4_0", NULL);

        cr_assert_eq(r.rc, 0, "rc %d, stderr: %s", r.rc, r.err);
        const char *const expected[] = {
                "^ID: +tiny-llama-v512-Q4_0$",
                "^Architecture: +llama$",
                "^Capability: +text$",
                "^Context length: +512$",
                "^File type: +Q4_0$",
                "^Status: +ok$",
                "^Parameters: +[0-9.]+[KMB] \\([0-9]+\\)$",
                "^Tensor types: +.*Q4_0:[0-9]+",
                "^Size: +.* \\([0-9,. ]+ bytes\\)$",
        };
        for (size_t i = 0; i < G_N_ELEMENTS(expected); i++)
                cr_assert(g_regex_match_simple(expected[i], r.out, G_REGEX_MULTILINE, 0),
                                "no line %s in:\n%s", expected[i], r.out);
        g_autofree char *path_line = g_strdup_printf("Path:           %s\n", path);
        cr_assert(strstr(r.out, path_line), "no path line in:\n%s", r.out);

        g_auto(Result) j = aidctl("model", "--json", "tiny-llama-v512-Q4_0", NULL);
        g_autoptr(JsonParser) parser = NULL;
        cr_assert_eq(j.rc, 0, "rc %d, stderr: %s", j.rc, j.err);
        JsonObject *m = parse_json_object(j.out, &parser);
        cr_assert_str_eq(json_object_get_string_member(m, "id"), "tiny-llama-v512-Q4_0");
        cr_assert_str_eq(json_object_get_string_member(m, "path"), path);
}

Test(aidctl, unknown_model_is_a_daemon_error)
{
        start_aid_with_models();
        g_auto(Result) r = aidctl("model", "nope", NULL);

        cr_assert_eq(r.rc, 1, "rc %d, stderr: %s", r.rc, r.err);
        cr_assert(g_str_has_prefix(r.err, "aidctl: "), "stderr: %s", r.err);
        cr_assert(strstr(r.err, "nope"), "the message does not name the model: %s", r.err);
        cr_assert(!strstr(r.err, "GDBus.Error"), "D-Bus decoration left in the message: %s", r.err);
        cr_assert_str_eq(r.out, "");
}

Test(aidctl, rescan_finds_a_new_model)
{
        start_aid_with_models();
        testbus_add_fixture_model(&tb, "models/tiny-llama-v512-Q4_0.gguf", "second-llama.gguf");
        g_auto(Result) r = aidctl("rescan", NULL);

        cr_assert_eq(r.rc, 0, "rc %d, stderr: %s", r.rc, r.err);
        cr_assert(strstr(r.out, "4 models"), "rescan did not count 4 models:\n%s", r.out);

        g_auto(Result) m = aidctl("models", NULL);
        g_auto(GStrv) row = table_row(m.out, "second-llama");
        cr_assert(row, "the new model is not listed:\n%s", m.out);
}

Test(aidctl, usage_errors_exit_2)
{
        const char *const *cases[] = {
                (const char *const[]){ "frobnicate", NULL },
                (const char *const[]){ "--frobnicate", "status", NULL },
                (const char *const[]){ "model", NULL },
                (const char *const[]){ "status", "extra", NULL },
                (const char *const[]){ NULL },
                (const char *const[]){ "--user", "--system", "status", NULL },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                const char *const *c = cases[i];
                g_auto(Result) r = aidctl(c[0], c[0] ? c[1] : NULL, c[0] && c[1] ? c[2] : NULL, NULL);
                cr_assert_eq(r.rc, 2, "case %zu: rc %d, stderr: %s", i, r.rc, r.err);
                cr_assert(g_str_has_prefix(r.err, "aidctl: "), "case %zu: stderr: %s", i, r.err);
                cr_assert(strstr(r.err, "--help"), "case %zu: no hint to --help: %s", i, r.err);
        }
}

Test(aidctl, help_lists_every_command_and_option)
{
        g_auto(Result) r = aidctl("--help", NULL);
        const char *const words[] = { "status", "models", "model ID", "rescan", "--user", "--system",
                "--address=ADDRESS", "--json", "--version", "--help" };

        cr_assert_eq(r.rc, 0, "rc %d, stderr: %s", r.rc, r.err);
        for (size_t i = 0; i < G_N_ELEMENTS(words); i++)
                cr_assert(strstr(r.out, words[i]), "--help does not mention %s:\n%s", words[i], r.out);
}

Test(aidctl, no_daemon_on_the_bus_exits_3)
{
        g_auto(Result) r = aidctl("status", NULL);

        cr_assert_eq(r.rc, 3, "rc %d, stderr: %s", r.rc, r.err);
        cr_assert(strstr(r.err, "aid is not running"), "stderr: %s", r.err);
        cr_assert(strstr(r.err, "Start it with"), "stderr does not say how to start aid: %s", r.err);
}

Test(aidctl, missing_bus_exits_3)
{
        g_auto(Result) r = aidctl("--address=unix:path=/nonexistent", "models", NULL);

        cr_assert_eq(r.rc, 3, "rc %d, stderr: %s", r.rc, r.err);
        cr_assert(strstr(r.err, "/nonexistent"), "stderr does not name the bus: %s", r.err);
}

Test(aidctl, daemon_gone_after_start_exits_3)
{
        start_aid_with_models();
        testbus_stop_aid(&tb);
        g_auto(Result) r = aidctl("models", NULL);

        cr_assert_eq(r.rc, 3, "rc %d, stderr: %s", r.rc, r.err);
        cr_assert(strstr(r.err, "aid is not running"), "stderr: %s", r.err);
}

/* libaid directly: the asynchronous API an application uses from its main loop. */

struct loop_result {
        GMainLoop *loop;
        GAsyncResult *result;
};

static void store_result(GObject *source, GAsyncResult *result, gpointer user_data)
{
        struct loop_result *lr = user_data;

        lr->result = g_object_ref(result);
        g_main_loop_quit(lr->loop);
}

static gboolean on_timeout(gpointer user_data)
{
        cr_assert_fail("no answer from libaid within 30 s");
        return G_SOURCE_REMOVE;
}

/* Runs the loop until store_result() fires; returns the result (unref it). */
static GAsyncResult *wait_result(struct loop_result *lr)
{
        guint timeout = g_timeout_add_seconds(30, on_timeout, NULL);

        g_main_loop_run(lr->loop);
        g_source_remove(timeout);
        return g_steal_pointer(&lr->result);
}

static AidClient *connect_async(GCancellable *cancellable, GError **error)
{
        g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
        struct loop_result lr = { .loop = loop };
        g_autoptr(GAsyncResult) result = NULL;

        aid_client_new_for_address(tb.address, cancellable, store_result, &lr);
        result = wait_result(&lr);
        return aid_client_new_finish(result, error);
}

TestSuite(libaid, .init = setup_bus, .fini = teardown_bus, .timeout = 120);

Test(libaid, async_connect_and_list)
{
        start_aid_with_models();
        g_autoptr(GError) error = NULL;
        g_autoptr(AidClient) client = connect_async(NULL, &error);
        g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
        struct loop_result lr = { .loop = loop };
        g_autoptr(GAsyncResult) result = NULL;
        g_autoptr(GPtrArray) models = NULL;
        AidModelInfo *llama = NULL, *broken = NULL;

        cr_assert(client, "connect failed: %s", error ? error->message : "");
        cr_assert_str_eq(aid_client_get_version(client), AID_VERSION);
        cr_assert_str_eq(aid_client_get_bus_mode(client), "address");

        aid_client_list_models(client, NULL, store_result, &lr);
        result = wait_result(&lr);
        models = aid_client_list_models_finish(client, result, &error);
        cr_assert(models, "list failed: %s", error ? error->message : "");
        cr_assert_eq(models->len, 3);

        for (guint i = 0; i < models->len; i++) {
                AidModelInfo *m = models->pdata[i];
                if (g_strcmp0(aid_model_info_get_id(m), "tiny-llama-v512-Q4_0") == 0)
                        llama = m;
                else if (g_strcmp0(aid_model_info_get_id(m), "broken") == 0)
                        broken = m;
        }
        cr_assert(llama && broken, "the llama or the broken file is missing from the list");
        cr_assert(aid_model_info_get_usable(llama));
        cr_assert_null(aid_model_info_get_reason(llama));
        cr_assert_str_eq(aid_model_info_get_architecture(llama), "llama");
        cr_assert_eq(aid_model_info_get_context_length(llama), 512);
        cr_assert_gt(aid_model_info_get_n_tensors_of_type(llama, "Q4_0"), 0);
        cr_assert(!aid_model_info_get_usable(broken));
        cr_assert_not_null(aid_model_info_get_reason(broken));
        cr_assert_null(aid_model_info_get_architecture(broken));

        g_autofree char *text_model = aid_client_get_default_model(client, "text");
        cr_assert_str_eq(text_model, "tiny-llama-v512-Q4_0");
}

Test(libaid, no_such_model_is_an_aid_error)
{
        start_aid_with_models();
        g_autoptr(GError) error = NULL;
        g_autoptr(AidClient) client = connect_async(NULL, &error);
        g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
        struct loop_result lr = { .loop = loop };
        g_autoptr(GAsyncResult) result = NULL;
        g_autoptr(AidModelInfo) info = NULL;

        cr_assert(client, "connect failed: %s", error ? error->message : "");
        aid_client_get_model_info(client, "nope", NULL, store_result, &lr);
        result = wait_result(&lr);
        info = aid_client_get_model_info_finish(client, result, &error);
        cr_assert_null(info);
        cr_assert(g_error_matches(error, AID_ERROR, AID_ERROR_NO_SUCH_MODEL), "got %s %d: %s",
                        g_quark_to_string(error->domain), error->code, error->message);
        cr_assert(!strstr(error->message, "GDBus.Error"), "message not stripped: %s", error->message);
}

Test(libaid, cancelled_before_the_call)
{
        start_aid_with_models();
        g_autoptr(GError) error = NULL;
        g_autoptr(GCancellable) cancellable = g_cancellable_new();
        g_autoptr(AidClient) client = NULL;
        g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
        struct loop_result lr = { .loop = loop };
        g_autoptr(GAsyncResult) result = NULL;
        g_autoptr(GPtrArray) models = NULL;

        g_cancellable_cancel(cancellable);
        client = connect_async(cancellable, &error);
        cr_assert_null(client);
        cr_assert(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED), "connect: %s",
                        error ? error->message : "no error");
        g_clear_error(&error);

        client = connect_async(NULL, &error);
        cr_assert(client, "connect failed: %s", error ? error->message : "");
        aid_client_list_models(client, cancellable, store_result, &lr);
        result = wait_result(&lr);
        models = aid_client_list_models_finish(client, result, &error);
        cr_assert_null(models);
        cr_assert(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED), "list: %s",
                        error ? error->message : "no error");
}

static void on_models_changed(AidClient *client, guint n_models, gpointer user_data)
{
        guint *ret = user_data;

        *ret = n_models;
}

Test(libaid, rescan_emits_models_changed)
{
        start_aid_with_models();
        g_autoptr(GError) error = NULL;
        g_autoptr(AidClient) client = connect_async(NULL, &error);
        g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
        struct loop_result lr = { .loop = loop };
        g_autoptr(GAsyncResult) result = NULL;
        guint changed_to = 0, n_models = 0;
        gint64 deadline;

        cr_assert(client, "connect failed: %s", error ? error->message : "");
        g_signal_connect(client, "models-changed", G_CALLBACK(on_models_changed), &changed_to);
        testbus_add_fixture_model(&tb, "whisper/whisper-d64-random-f16.bin", "second-whisper.bin");

        aid_client_rescan(client, NULL, store_result, &lr);
        result = wait_result(&lr);
        cr_assert(aid_client_rescan_finish(client, result, &n_models, &error), "rescan: %s",
                        error ? error->message : "");
        cr_assert_eq(n_models, 4);

        /* The signal may have come before the reply (a directory watch) or comes just after. */
        deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
        while (changed_to == 0 && g_get_monotonic_time() < deadline)
                g_main_context_iteration(NULL, TRUE);
        cr_assert_eq(changed_to, 4, "models-changed said %u", changed_to);
}

Test(libaid, connect_without_daemon)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(AidClient) client = aid_client_new_for_address_sync(tb.address, NULL, &error);

        cr_assert_null(client);
        cr_assert(g_error_matches(error, AID_ERROR, AID_ERROR_DAEMON_NOT_RUNNING), "got %s",
                        error ? error->message : "no error");
        cr_assert(strstr(error->message, "org.aid.Daemon1 has no owner"), "%s", error->message);
}
