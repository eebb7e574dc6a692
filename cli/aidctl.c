/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aidctl: the shell's view of aid, built on libaid alone. */
#include <aid/aid.h>
#include <locale.h>
#include <stdio.h>

#include "aidctl-exit.h"
#include "aidctl-format.h"
#include "aidctl-generate.h"
#include "aidctl-json.h"
#include "config.h"

static gboolean opt_user;
static gboolean opt_system;
static char *opt_address;
static gboolean opt_json;
static gboolean opt_version;

static const GOptionEntry option_entries[] = {
        { "user", 0, 0, G_OPTION_ARG_NONE, &opt_user, "Talk to aid on the session bus (the default)", NULL },
        { "system", 0, 0, G_OPTION_ARG_NONE, &opt_system, "Talk to the system-wide aid on the system bus",
                        NULL },
        { "address", 0, 0, G_OPTION_ARG_STRING, &opt_address, "Talk to aid on the message bus at ADDRESS",
                        "ADDRESS" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json,
                        "Print JSON instead of text (status, models, model, rescan, generate, chat)", NULL },
        { "version", 0, 0, G_OPTION_ARG_NONE, &opt_version, "Print aidctl's version and exit", NULL },
        { NULL },
};

static const char help_description[] =
                "Commands:\n"
                "  status      Show the daemon's version, bus, models and default models\n"
                "  models      List the models aid found, and why unusable ones are unusable\n"
                "  model ID    Show everything aid knows about one model\n"
                "  rescan      Scan the model directories again now\n"
                "  whoami      Show how aid identifies this process (app id, kind, trust)\n"
                "  policy show [APP]\n"
                "              Show the privacy policy for APP (an app id or executable path;\n"
                "              without APP: for apps no [App] group names), with the file and\n"
                "              line each decision comes from\n"
                "  policy check APP CAPABILITY\n"
                "              Show whether APP may use CAPABILITY (text, vision,\n"
                "              transcribe-file, live-microphone, live-system-audio)\n"
                "  policy reload\n"
                "              Make aid read its policy files again now\n"
                "  generate [OPTIONS] PROMPT\n"
                "              Continue PROMPT (- reads it from standard input) with the text\n"
                "              model, printing the text as it comes; Ctrl-C cancels\n"
                "  chat [--system-prompt PROMPT] [OPTIONS]\n"
                "              Talk with the model: each line of standard input is a turn;\n"
                "              /reset forgets the conversation, /quit ends it\n"
                "\n"
                "Exit status:\n"
                "  0  success\n"
                "  1  aid answered with an error\n"
                "  2  usage error (unknown command or option, missing argument)\n"
                "  3  aid is not running, or the bus cannot be reached\n"
                "  130  generate or chat was interrupted with Ctrl-C\n";

static int usage_error(const char *format, ...) G_GNUC_PRINTF(1, 2);
static int usage_error(const char *format, ...)
{
        va_list ap;
        g_autofree char *message = NULL;

        va_start(ap, format);
        message = g_strdup_vprintf(format, ap);
        va_end(ap);
        fprintf(stderr, "aidctl: %s\nTry 'aidctl --help' for more information.\n", message);
        return EXIT_USAGE;
}

/* Not reaching aid is a different failure from aid saying no: scripts tell them apart. */
int aidctl_report_error(const GError *error)
{
        g_autofree char *message = aidctl_printable(error->message);

        fprintf(stderr, "aidctl: %s\n", message);
        if (g_error_matches(error, AID_ERROR, AID_ERROR_DAEMON_NOT_RUNNING) ||
                        g_error_matches(error, AID_ERROR, AID_ERROR_BUS_UNREACHABLE))
                return EXIT_UNREACHABLE;
        return EXIT_DAEMON_ERROR;
}

static const char *bus_description(void)
{
        if (opt_address)
                return opt_address;
        return opt_system ? "the system bus" : "the session bus";
}

/* The capabilities every status shows, configured or not, so that a missing one is visible. */
static const char *const known_capabilities[] = { "text", "vision", "speech" };

/* The privacy dashboard: who used what, when, during the last hour. */
static void print_recent_use(GVariant *recent)
{
        static const char *const header[] = { "APP", "KIND", "CAPABILITY", "LAST USE", "USES", NULL };
        g_autoptr(aidctl_table) table = aidctl_table_new(header);
        gint64 now = g_get_real_time();
        GVariantIter iter;
        GVariant *dict;

        if (g_variant_n_children(recent) == 0) {
                printf("Recent use:     no app used aid in the last hour\n");
                return;
        }
        printf("Recent use (last hour):\n");
        g_variant_iter_init(&iter, recent);
        while ((dict = g_variant_iter_next_value(&iter))) {
                const char *app = "?", *kind = "?", *capability = "?";
                guint64 last = 0;
                guint32 count = 0;

                g_variant_lookup(dict, "app_id", "&s", &app);
                g_variant_lookup(dict, "identity_kind", "&s", &kind);
                g_variant_lookup(dict, "capability", "&s", &capability);
                g_variant_lookup(dict, "last_use", "t", &last);
                g_variant_lookup(dict, "count", "u", &count);
                g_autofree char *ago = g_strdup_printf("%" G_GINT64_FORMAT " s ago",
                                MAX((gint64)0, (now - (gint64)last) / G_USEC_PER_SEC));
                g_autofree char *uses = g_strdup_printf("%u", count);
                const char *row[] = { app, kind, capability, ago, uses };
                aidctl_table_add_row(table, row);
                g_variant_unref(dict);
        }
        aidctl_table_print(table, stdout);
}

/* Loaded or being loaded. */
static gboolean model_in_memory(AidModelInfo *m)
{
        const char *state = aid_model_info_get_state(m);

        return g_strcmp0(state, "ready") == 0 || g_strcmp0(state, "loading") == 0;
}

static int cmd_status(AidClient *client, char **args)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) models = NULL;
        g_autoptr(GHashTable) defaults = NULL;
        g_autoptr(GList) capabilities = NULL;
        g_autoptr(GVariant) recent = NULL;
        guint n_usable = 0;

        models = aid_client_list_models_sync(client, NULL, &error);
        if (!models)
                return aidctl_report_error(error);
        for (guint i = 0; i < models->len; i++)
                n_usable += aid_model_info_get_usable(models->pdata[i]) ? 1 : 0;
        defaults = aid_client_get_default_models(client);
        recent = aid_client_get_recent_use_sync(client, NULL, &error);
        if (!recent)
                return aidctl_report_error(error);

        if (opt_json) {
                g_autoptr(JsonBuilder) b = json_builder_new();

                json_builder_begin_object(b);
                json_builder_set_member_name(b, "version");
                json_builder_add_string_value(b, aid_client_get_version(client));
                json_builder_set_member_name(b, "bus_mode");
                json_builder_add_string_value(b, aid_client_get_bus_mode(client));
                json_builder_set_member_name(b, "bus");
                json_builder_add_string_value(b, opt_address  ? opt_address
                                                 : opt_system ? "system"
                                                              : "session");
                json_builder_set_member_name(b, "models");
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "total");
                json_builder_add_int_value(b, models->len);
                json_builder_set_member_name(b, "usable");
                json_builder_add_int_value(b, n_usable);
                json_builder_set_member_name(b, "unusable");
                json_builder_add_int_value(b, models->len - n_usable);
                json_builder_end_object(b);
                json_builder_set_member_name(b, "default_models");
                aidctl_json_add_default_models(b, defaults);
                json_builder_set_member_name(b, "in_memory");
                json_builder_begin_array(b);
                for (guint i = 0; i < models->len; i++)
                        if (model_in_memory(models->pdata[i]))
                                json_builder_add_string_value(b, aid_model_info_get_id(models->pdata[i]));
                json_builder_end_array(b);
                json_builder_set_member_name(b, "network_isolated");
                json_builder_add_boolean_value(b, aid_client_get_network_isolated(client));
                json_builder_set_member_name(b, "recent_use");
                json_builder_add_value(b, json_gvariant_serialize(recent));
                json_builder_end_object(b);
                aidctl_json_print(b, TRUE);
                return EXIT_OK;
        }

        printf("Version:        %s\n", aid_client_get_version(client) ?: "unknown");
        printf("Bus:            %s (%s mode)\n", bus_description(),
                        aid_client_get_bus_mode(client) ?: "unknown");
        printf("Models:         %u (%u usable, %u unusable)\n", models->len, n_usable,
                        models->len - n_usable);
        printf("In memory:      ");
        gboolean any_in_memory = FALSE;
        for (guint i = 0; i < models->len; i++) {
                AidModelInfo *m = models->pdata[i];
                if (!model_in_memory(m))
                        continue;
                g_autofree char *id = aidctl_printable(aid_model_info_get_id(m));
                if (g_strcmp0(aid_model_info_get_state(m), "loading") == 0)
                        printf("%s%s (loading, %.0f%% read)", any_in_memory ? ", " : "", id,
                                        100 * aid_model_info_get_load_progress(m));
                else
                        printf("%s%s", any_in_memory ? ", " : "", id);
                any_in_memory = TRUE;
        }
        printf("%s\n", any_in_memory ? "" : "no model (each loads on first use)");
        printf("Default models:\n");
        for (size_t i = 0; i < G_N_ELEMENTS(known_capabilities); i++) {
                g_autofree char *id = aidctl_printable(g_hash_table_lookup(defaults, known_capabilities[i]));
                printf("  %-12s  %s\n", known_capabilities[i], id ?: "none");
        }
        capabilities = g_list_sort(g_hash_table_get_keys(defaults), (GCompareFunc)g_strcmp0);
        for (GList *l = capabilities; l; l = l->next)
                if (!g_strv_contains(known_capabilities, l->data)) {
                        g_autofree char *capability = aidctl_printable(l->data);
                        g_autofree char *id = aidctl_printable(g_hash_table_lookup(defaults, l->data));
                        printf("  %-12s  %s\n", capability, id);
                }
        printf("Network:        %s\n",
                        aid_client_get_network_isolated(client)
                                        ? "none (aid can reach nothing outside this machine)"
                                        : "REACHABLE: aid is not running with PrivateNetwork=yes");
        print_recent_use(recent);
        return EXIT_OK;
}

/* The STATUS column: "unusable", else where the daemon is with the model ("ok" while it is
 * not in memory). One word, so that the table splits on blanks. */
static const char *model_status_word(AidModelInfo *m)
{
        const char *state = aid_model_info_get_state(m);

        if (!aid_model_info_get_usable(m))
                return "unusable";
        if (g_strcmp0(state, "ready") == 0)
                return "loaded";
        if (g_strcmp0(state, "loading") == 0)
                return "loading";
        if (g_strcmp0(state, "failed") == 0)
                return "load-failed";
        return "ok";
}

/* "State:" of aidctl model: the state with its progress or its reason. */
static char *model_state_text(AidModelInfo *m)
{
        const char *state = aid_model_info_get_state(m);

        if (g_strcmp0(state, "loading") == 0)
                return g_strdup_printf("loading (%.0f%% read)", 100 * aid_model_info_get_load_progress(m));
        if (g_strcmp0(state, "failed") == 0)
                return g_strdup_printf("failed to load: %s",
                                aid_model_info_get_state_reason(m) ?: "no reason given");
        if (g_strcmp0(state, "ready") == 0)
                return g_strdup("loaded (ready)");
        return g_strdup(state);
}

/* "Chat template:" of aidctl model (NULL for models that do not generate text). */
static char *model_chat_text(AidModelInfo *m)
{
        const char *t = aid_model_info_get_chat_template(m);

        if (!t)
                return NULL;
        if (g_str_equal(t, "none") || g_str_equal(t, "unrecognised"))
                return g_strdup_printf("%s (text completion only, no chats)", t);
        if (!aid_model_info_get_chat_system_prompt(m))
                return g_strdup_printf("%s (drops a chat's system prompt)", t);
        return g_strdup(t);
}

/* "  ID: REASON" in the lists after the models table. */
static void print_id_and_reason(const char *id, const char *reason)
{
        g_autofree char *id_printable = aidctl_printable(id);
        g_autofree char *reason_printable = aidctl_printable(reason ?: "no reason given");

        printf("  %s: %s\n", id_printable, reason_printable);
}

static int cmd_models(AidClient *client, char **args)
{
        static const char *const header[] = { "ID", "ARCH", "TYPE", "PARAMS", "CONTEXT", "SIZE", "SOURCE",
                "STATUS", NULL };
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) models = NULL;
        g_autoptr(aidctl_table) table = NULL;
        gboolean any_unusable = FALSE, any_failed = FALSE;

        models = aid_client_list_models_sync(client, NULL, &error);
        if (!models)
                return aidctl_report_error(error);

        if (opt_json) {
                g_autoptr(JsonBuilder) b = json_builder_new();

                json_builder_begin_object(b);
                json_builder_set_member_name(b, "models");
                json_builder_begin_array(b);
                for (guint i = 0; i < models->len; i++)
                        aidctl_json_add_model(b, models->pdata[i]);
                json_builder_end_array(b);
                json_builder_end_object(b);
                aidctl_json_print(b, TRUE);
                return EXIT_OK;
        }

        if (models->len == 0) {
                printf("No models found. Put GGUF or whisper.cpp model files in a directory listed in "
                       "aid.conf "
                       "and run 'aidctl rescan'.\n");
                return EXIT_OK;
        }

        table = aidctl_table_new(header);
        for (guint i = 0; i < models->len; i++) {
                AidModelInfo *m = models->pdata[i];
                g_autofree char *params = aidctl_format_count(aid_model_info_get_parameters(m));
                g_autofree char *context = aidctl_format_count(aid_model_info_get_context_length(m));
                g_autofree char *size =
                                g_format_size_full(aid_model_info_get_size(m), G_FORMAT_SIZE_IEC_UNITS);
                const char *row[] = {
                        aid_model_info_get_id(m),
                        aid_model_info_get_architecture(m),
                        aid_model_info_get_file_type(m),
                        params,
                        context,
                        size,
                        aid_model_info_get_source(m),
                        model_status_word(m),
                };
                aidctl_table_add_row(table, row);
                any_unusable |= !aid_model_info_get_usable(m);
                any_failed |= g_str_equal(model_status_word(m), "load-failed");
        }
        aidctl_table_print(table, stdout);

        if (any_unusable) {
                printf("\nUnusable models:\n");
                for (guint i = 0; i < models->len; i++) {
                        AidModelInfo *m = models->pdata[i];
                        if (!aid_model_info_get_usable(m))
                                print_id_and_reason(aid_model_info_get_id(m), aid_model_info_get_reason(m));
                }
        }
        if (any_failed) {
                printf("\nModels that failed to load (the next request tries again):\n");
                for (guint i = 0; i < models->len; i++) {
                        AidModelInfo *m = models->pdata[i];
                        if (g_str_equal(model_status_word(m), "load-failed"))
                                print_id_and_reason(aid_model_info_get_id(m),
                                                aid_model_info_get_state_reason(m));
                }
        }
        return EXIT_OK;
}

static void print_field(const char *label, const char *value)
{
        g_autofree char *printable = aidctl_printable(value);

        printf("%-16s%s\n", label, printable ?: "-");
}

static int cmd_model(AidClient *client, char **args)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(AidModelInfo) m = NULL;
        g_autofree char *status = NULL;
        g_autofree char *size = NULL;
        g_autofree char *params = NULL;
        g_autofree char *context = NULL;
        g_autofree char *types = NULL;
        g_autofree char *state = NULL;
        g_autofree char *chat = NULL;

        m = aid_client_get_model_info_sync(client, args[0], NULL, &error);
        if (!m)
                return aidctl_report_error(error);

        if (opt_json) {
                g_autoptr(JsonBuilder) b = json_builder_new();

                aidctl_json_add_model(b, m);
                aidctl_json_print(b, TRUE);
                return EXIT_OK;
        }

        if (aid_model_info_get_usable(m))
                status = g_strdup("ok");
        else
                status = g_strdup_printf("unusable: %s", aid_model_info_get_reason(m) ?: "no reason given");
        size = g_format_size_full(
                        aid_model_info_get_size(m), G_FORMAT_SIZE_IEC_UNITS | G_FORMAT_SIZE_LONG_FORMAT);
        if (aid_model_info_get_parameters(m) > 0) {
                g_autofree char *human = aidctl_format_count(aid_model_info_get_parameters(m));
                params = g_strdup_printf(
                                "%s (%" G_GUINT64_FORMAT ")", human, aid_model_info_get_parameters(m));
        }
        if (aid_model_info_get_context_length(m) > 0)
                context = g_strdup_printf("%" G_GUINT64_FORMAT, aid_model_info_get_context_length(m));
        types = g_strjoinv(", ", (char **)aid_model_info_get_tensor_types(m));

        print_field("ID:", aid_model_info_get_id(m));
        print_field("Name:", aid_model_info_get_name(m));
        print_field("Path:", aid_model_info_get_path(m));
        print_field("Source:", aid_model_info_get_source(m));
        print_field("Format:", aid_model_info_get_format(m));
        print_field("Status:", status);
        print_field("Size:", size);
        print_field("Architecture:", aid_model_info_get_architecture(m));
        print_field("Capability:", aid_model_info_get_capability(m));
        print_field("Parameters:", params);
        print_field("Context length:", context);
        print_field("File type:", aid_model_info_get_file_type(m));
        print_field("Tensor types:", types[0] ? types : NULL);
        chat = model_chat_text(m);
        print_field("Chat template:", chat);
        state = model_state_text(m);
        print_field("State:", state);
        return EXIT_OK;
}

static int cmd_rescan(AidClient *client, char **args)
{
        g_autoptr(GError) error = NULL;
        guint n_models = 0;

        if (!aid_client_rescan_sync(client, &n_models, NULL, &error))
                return aidctl_report_error(error);

        if (opt_json) {
                g_autoptr(JsonBuilder) b = json_builder_new();

                json_builder_begin_object(b);
                json_builder_set_member_name(b, "n_models");
                json_builder_add_int_value(b, n_models);
                json_builder_end_object(b);
                aidctl_json_print(b, TRUE);
        } else {
                printf("Rescanned: %u model%s found.\n", n_models, n_models == 1 ? "" : "s");
        }
        return EXIT_OK;
}

static void print_variant_json(GVariant *v)
{
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_add_value(b, json_gvariant_serialize(v));
        aidctl_json_print(b, TRUE);
}

static int cmd_whoami(AidClient *client, char **args)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) id = NULL;
        const char *app = NULL, *kind = NULL, *trust = NULL, *exe = NULL, *unit = NULL;
        guint32 pid = 0, uid = 0;

        id = aid_client_who_am_i_sync(client, NULL, &error);
        if (!id)
                return aidctl_report_error(error);
        if (opt_json) {
                print_variant_json(id);
                return EXIT_OK;
        }
        g_variant_lookup(id, "app_id", "&s", &app);
        g_variant_lookup(id, "kind", "&s", &kind);
        g_variant_lookup(id, "trust", "&s", &trust);
        g_variant_lookup(id, "exe", "&s", &exe);
        g_variant_lookup(id, "unit", "&s", &unit);
        g_variant_lookup(id, "pid", "u", &pid);
        g_variant_lookup(id, "uid", "u", &uid);
        g_autofree char *pid_s = g_strdup_printf("%u", pid), *uid_s = g_strdup_printf("%u", uid);
        print_field("App:", app);
        print_field("Kind:", kind);
        print_field("Trust:",
                        g_strcmp0(trust, "sandboxed") == 0
                                        ? "sandboxed (the sandbox vouches for the app id)"
                                        : "host (best effort: any program of this user could claim it)");
        print_field("PID:", pid_s);
        print_field("UID:", uid_s);
        print_field("Executable:", exe);
        print_field("Unit:", unit);
        return EXIT_OK;
}

static const char *const policy_limit_keys[] = { "requests_per_minute", "max_tokens", "max_concurrent",
        NULL };

static char *format_limits(GVariant *dict)
{
        g_autoptr(GString) s = g_string_new(NULL);
        guint32 v = 0, window = 60;

        g_variant_lookup(dict, "rate_window_sec", "u", &window);
        for (size_t i = 0; policy_limit_keys[i]; i++)
                if (g_variant_lookup(dict, policy_limit_keys[i], "u", &v) && v > 0) {
                        if (s->len)
                                g_string_append(s, ", ");
                        if (i == 0)
                                g_string_append_printf(s, "%u requests per %u s", v, window);
                        else
                                g_string_append_printf(
                                                s, "%s %u", i == 1 ? "max tokens" : "max concurrent", v);
                }
        return g_string_free(g_steal_pointer(&s), s->len == 0);
}

static int policy_show(AidClient *client, const char *app)
{
        static const char *const header[] = { "CAPABILITY", "DECISION", "FROM", NULL };
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) policy = NULL;
        g_autoptr(aidctl_table) table = aidctl_table_new(header);
        g_auto(GStrv) messages = aid_client_dup_policy_messages(client);
        g_auto(GStrv) files = aid_client_dup_policy_files(client);
        g_autofree char *limits = NULL;
        GVariantIter iter;
        GVariant *dict;

        policy = aid_client_get_policy_sync(client, app ? app : "", NULL, &error);
        if (!policy)
                return aidctl_report_error(error);
        if (opt_json) {
                print_variant_json(policy);
                return EXIT_OK;
        }

        g_autofree char *app_printable = aidctl_printable(app);
        printf("Policy for %s:\n", app ? app_printable : "apps no [App] group names");
        g_variant_iter_init(&iter, policy);
        while ((dict = g_variant_iter_next_value(&iter))) {
                const char *capability = "?", *decision = "?", *source = "?";
                g_variant_lookup(dict, "capability", "&s", &capability);
                g_variant_lookup(dict, "decision", "&s", &decision);
                g_variant_lookup(dict, "source", "&s", &source);
                const char *row[] = { capability, decision, source };
                aidctl_table_add_row(table, row);
                if (!limits)
                        limits = format_limits(dict);
                g_variant_unref(dict);
        }
        aidctl_table_print(table, stdout);
        printf("Limits: %s\n", limits ? limits : "none");
        printf("Files read (in order):\n");
        for (size_t i = 0; files[i]; i++) {
                g_autofree char *file = aidctl_printable(files[i]);
                printf("  %s\n", file);
        }
        if (!files[0])
                printf("  none: every capability is denied\n");
        if (messages[0]) {
                printf("Problems (each denies, never allows):\n");
                for (size_t i = 0; messages[i]; i++) {
                        g_autofree char *message = aidctl_printable(messages[i]);
                        printf("  %s\n", message);
                }
        }
        return EXIT_OK;
}

static int policy_check(AidClient *client, const char *app, const char *capability)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *decision = NULL, *source = NULL, *limits_s = NULL;
        g_autoptr(GVariant) limits = NULL;

        if (!aid_client_check_policy_sync(
                            client, app, capability, &decision, &source, &limits, NULL, &error))
                return aidctl_report_error(error);
        if (opt_json) {
                g_autoptr(JsonBuilder) b = json_builder_new();

                json_builder_begin_object(b);
                json_builder_set_member_name(b, "decision");
                json_builder_add_string_value(b, decision);
                json_builder_set_member_name(b, "source");
                json_builder_add_string_value(b, source);
                json_builder_set_member_name(b, "limits");
                json_builder_add_value(b, json_gvariant_serialize(limits));
                json_builder_end_object(b);
                aidctl_json_print(b, TRUE);
                return EXIT_OK;
        }
        limits_s = format_limits(limits);
        g_autofree char *app_printable = aidctl_printable(app);
        g_autofree char *source_printable = aidctl_printable(source);
        printf("%s: %s '%s' (%s)%s%s\n", app_printable,
                        g_str_equal(decision, "allow") ? "may use" : "may not use", capability,
                        source_printable, limits_s ? "; limits: " : "", limits_s ? limits_s : "");
        return EXIT_OK;
}

static int cmd_policy(AidClient *client, char **args)
{
        guint n = g_strv_length(args);

        if (g_str_equal(args[0], "show") && n <= 2)
                return policy_show(client, n == 2 ? args[1] : NULL);
        if (g_str_equal(args[0], "check") && n == 3)
                return policy_check(client, args[1], args[2]);
        if (g_str_equal(args[0], "reload") && n == 1) {
                g_autoptr(GError) error = NULL;
                if (!aid_client_reload_policy_sync(client, NULL, &error))
                        return aidctl_report_error(error);
                printf("Policy reloaded.\n");
                return EXIT_OK;
        }
        return usage_error("use 'policy show [APP]', 'policy check APP CAPABILITY' or 'policy reload'");
}

static int cmd_generate(AidClient *client, char **args)
{
        return aidctl_generate(client, args[0], opt_json);
}

static int cmd_chat(AidClient *client, char **args)
{
        return aidctl_chat(client, opt_json);
}

struct command {
        const char *name;
        const char *argument; /* what it takes, for the usage message, or NULL for nothing */
        int min_args, max_args;
        int (*run)(AidClient *client, char **args);
};

static const struct command commands[] = {
        { "status", NULL, 0, 0, cmd_status },
        { "models", NULL, 0, 0, cmd_models },
        { "model", "ID", 1, 1, cmd_model },
        { "rescan", NULL, 0, 0, cmd_rescan },
        { "whoami", NULL, 0, 0, cmd_whoami },
        { "policy", "show [APP] | check APP CAPABILITY | reload", 1, 3, cmd_policy },
        { "generate", "PROMPT", 1, 1, cmd_generate },
        { "chat", NULL, 0, 0, cmd_chat },
};

static AidClient *connect_client(GError **error)
{
        if (opt_address)
                return aid_client_new_for_address_sync(opt_address, NULL, error);
        return aid_client_new_sync(opt_system ? AID_BUS_SYSTEM : AID_BUS_USER, NULL, error);
}

int main(int argc, char **argv)
{
        g_autoptr(GOptionContext) context = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(AidClient) client = NULL;
        const struct command *command = NULL;
        int n_args;

        setlocale(LC_ALL, "");

        context = g_option_context_new("COMMAND [ARGUMENT]");
        g_option_context_set_summary(context, "Query and control aid, the on-device AI service.");
        g_option_context_set_description(context, help_description);
        g_option_context_add_main_entries(context, option_entries, NULL);
        g_option_context_add_group(context, aidctl_generation_option_group());
        if (!g_option_context_parse(context, &argc, &argv, &error))
                return usage_error("%s", error->message);

        if (opt_version) {
                printf("aidctl %s\n", AID_VERSION);
                return EXIT_OK;
        }
        if ((opt_user ? 1 : 0) + (opt_system ? 1 : 0) + (opt_address ? 1 : 0) > 1)
                return usage_error("--user, --system and --address exclude each other");
        if (argc < 2)
                return usage_error("missing command");
        if (g_str_equal(argv[1], "help")) {
                g_autofree char *help = g_option_context_get_help(context, TRUE, NULL);
                fputs(help, stdout);
                return EXIT_OK;
        }

        for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
                if (g_str_equal(argv[1], commands[i].name))
                        command = &commands[i];
        if (!command)
                return usage_error("unknown command '%s'", argv[1]);

        n_args = argc - 2;
        if (n_args < command->min_args)
                return usage_error("'%s' needs an argument: %s %s", command->name, command->name,
                                command->argument);
        if (n_args > command->max_args)
                return usage_error("too many arguments for '%s'", command->name);
        if (command->run == cmd_generate || command->run == cmd_chat) {
                g_autofree char *problem = aidctl_generation_options_problem();
                if (problem)
                        return usage_error("%s", problem);
        }

        /* Whatever stops the connection, aid cannot be reached: exit 3, never 1. */
        client = connect_client(&error);
        if (!client) {
                aidctl_report_error(error);
                return EXIT_UNREACHABLE;
        }

        return command->run(client, argv + 2);
}
