/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aidctl generate and aidctl chat. Both stream the text as the daemon produces it (stdout is
 * flushed after every piece), and Ctrl-C cancels the request in the daemon rather than just
 * dropping the connection, so the model stops working on it at once. */
#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "aidctl-exit.h"
#include "aidctl-format.h"
#include "aidctl-generate.h"
#include "aidctl-json.h"
#include "aidctl-progress.h"

/* Integer options not given keep G_MININT, so that an explicit 0 or -1 can be refused. */
static int opt_max_tokens = G_MININT;
static double opt_temperature = NAN;
static int opt_top_k = G_MININT;
static double opt_top_p = NAN;
static double opt_min_p = NAN;
static double opt_repeat_penalty = NAN;
static char *opt_seed;
static char **opt_stop;
static char *opt_model;
static char *opt_system;

static const GOptionEntry generation_entries[] = {
        { "max-tokens", 0, 0, G_OPTION_ARG_INT, &opt_max_tokens, "Generate at most N tokens (default 256)",
                        "N" },
        { "temperature", 0, 0, G_OPTION_ARG_DOUBLE, &opt_temperature,
                        "Sampling temperature, 0 for greedy (default 0.8)", "T" },
        { "top-k", 0, 0, G_OPTION_ARG_INT, &opt_top_k, "Sample among the K likeliest tokens", "K" },
        { "top-p", 0, 0, G_OPTION_ARG_DOUBLE, &opt_top_p, "Nucleus sampling threshold (0..1)", "P" },
        { "min-p", 0, 0, G_OPTION_ARG_DOUBLE, &opt_min_p,
                        "Minimum probability relative to the likeliest (0..1)", "P" },
        { "repeat-penalty", 0, 0, G_OPTION_ARG_DOUBLE, &opt_repeat_penalty,
                        "Penalty for tokens already in the text (1 = none)", "R" },
        { "seed", 0, 0, G_OPTION_ARG_STRING, &opt_seed, "Sampling seed: the same seed gives the same text",
                        "S" },
        { "stop", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_stop, "Stop before STR (repeatable)", "STR" },
        { "model", 0, 0, G_OPTION_ARG_STRING, &opt_model, "Use model ID instead of the default text model",
                        "ID" },
        { "system-prompt", 0, 0, G_OPTION_ARG_STRING, &opt_system, "chat: the system prompt", "PROMPT" },
        { NULL },
};

GOptionGroup *aidctl_generation_option_group(void)
{
        GOptionGroup *group = g_option_group_new("generation",
                        "Options of generate and chat:", "Show the options of generate and chat", NULL,
                        NULL);

        g_option_group_add_entries(group, generation_entries);
        return group;
}

static gboolean parse_seed(guint64 *ret)
{
        return g_ascii_string_to_unsigned(opt_seed, 10, 0, G_MAXINT64, ret, NULL);
}

char *aidctl_generation_options_problem(void)
{
        guint64 seed;

        if (opt_max_tokens != G_MININT && opt_max_tokens < 1)
                return g_strdup("--max-tokens must be 1 or more");
        if (!isnan(opt_temperature) && opt_temperature < 0)
                return g_strdup("--temperature must be 0 or more");
        if (opt_top_k != G_MININT && opt_top_k < 0)
                return g_strdup("--top-k must be 0 or more");
        if (!isnan(opt_top_p) && (opt_top_p < 0 || opt_top_p > 1))
                return g_strdup("--top-p must be between 0 and 1");
        if (!isnan(opt_min_p) && (opt_min_p < 0 || opt_min_p > 1))
                return g_strdup("--min-p must be between 0 and 1");
        if (!isnan(opt_repeat_penalty) && opt_repeat_penalty < 0)
                return g_strdup("--repeat-penalty must be 0 or more");
        if (opt_seed && !parse_seed(&seed))
                return g_strdup_printf("--seed must be a number from 0 to %" G_GINT64_FORMAT, G_MAXINT64);
        return NULL;
}

static AidGenerateOptions *options_from_command_line(void)
{
        AidGenerateOptions *o = aid_generate_options_new();
        guint64 seed;

        if (opt_max_tokens != G_MININT)
                aid_generate_options_set_max_tokens(o, (guint)opt_max_tokens);
        if (!isnan(opt_temperature))
                aid_generate_options_set_temperature(o, opt_temperature);
        if (opt_top_k != G_MININT)
                aid_generate_options_set_top_k(o, opt_top_k);
        if (!isnan(opt_top_p))
                aid_generate_options_set_top_p(o, opt_top_p);
        if (!isnan(opt_min_p))
                aid_generate_options_set_min_p(o, opt_min_p);
        if (!isnan(opt_repeat_penalty))
                aid_generate_options_set_repeat_penalty(o, opt_repeat_penalty);
        if (opt_seed && parse_seed(&seed))
                aid_generate_options_set_seed(o, (gint64)seed);
        if (opt_stop)
                aid_generate_options_set_stop(o, (const char *const *)opt_stop);
        if (opt_model)
                aid_generate_options_set_model(o, opt_model);
        return o;
}

static void add_stats(JsonBuilder *b, const AidGenerationStats *s)
{
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "prompt_tokens");
        json_builder_add_int_value(b, s->prompt_tokens);
        json_builder_set_member_name(b, "generated_tokens");
        json_builder_add_int_value(b, s->generated_tokens);
        json_builder_set_member_name(b, "time_to_first_token_us");
        json_builder_add_int_value(b, (gint64)s->time_to_first_token_us);
        json_builder_set_member_name(b, "tokens_per_second");
        json_builder_add_double_value(b, s->tokens_per_second);
        json_builder_set_member_name(b, "finish_reason");
        if (s->finish_reason)
                json_builder_add_string_value(b, s->finish_reason);
        else
                json_builder_add_null_value(b);
        json_builder_set_member_name(b, "model");
        if (s->model)
                json_builder_add_string_value(b, s->model);
        else
                json_builder_add_null_value(b);
        json_builder_end_object(b);
}

/* {"text": ..., "stats": {...}}, pretty for generate, one line per answer for chat. */
static void print_result_json(const char *text, const AidGenerationStats *stats, gboolean pretty)
{
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "text");
        json_builder_add_string_value(b, text);
        json_builder_set_member_name(b, "stats");
        add_stats(b, stats);
        json_builder_end_object(b);
        aidctl_json_print(b, pretty);
}

/* One request in flight, and how aidctl ends. */
struct run {
        GMainLoop *loop;
        GCancellable *cancellable; /* the request in flight, NULL between requests */
        AidGeneration *gen;
        gboolean json;
        gboolean to_terminal; /* the text is shown with its control characters escaped */
        int rc;
        guint give_up;                         /* after Ctrl-C, if the daemon does not confirm */
        struct aidctl_load_progress *progress; /* until the first piece of text */
};

/* user_data: the struct run, first member of a chat's too. */
static void print_piece(AidGeneration *gen, const char *text, gpointer user_data)
{
        struct run *run = user_data;

        run->progress = aidctl_load_progress_stop(run->progress);
        if (run->to_terminal) {
                g_autofree char *shown = aidctl_terminal_text(text);
                fputs(shown, stdout);
        } else
                fputs(text, stdout);
        fflush(stdout);
}

static gboolean on_give_up(gpointer user_data)
{
        struct run *run = user_data;

        run->give_up = 0;
        fprintf(stderr, "aidctl: cancelled (aid did not confirm)\n");
        run->rc = EXIT_CANCELLED;
        g_main_loop_quit(run->loop);
        return G_SOURCE_REMOVE;
}

/* The first Ctrl-C cancels the request in the daemon; a second one, or one while nothing runs,
 * quits at once. */
static gboolean on_sigint(gpointer user_data)
{
        struct run *run = user_data;

        if (run->cancellable && !g_cancellable_is_cancelled(run->cancellable)) {
                g_cancellable_cancel(run->cancellable);
                run->give_up = g_timeout_add_seconds(5, on_give_up, run);
                return G_SOURCE_CONTINUE;
        }
        fputs("\n", stdout);
        fflush(stdout);
        fprintf(stderr, "aidctl: cancelled\n");
        run->rc = EXIT_CANCELLED;
        g_main_loop_quit(run->loop);
        return G_SOURCE_CONTINUE;
}

static void run_clear(struct run *run)
{
        run->progress = aidctl_load_progress_stop(run->progress);
        g_clear_handle_id(&run->give_up, g_source_remove);
        g_clear_pointer(&run->loop, g_main_loop_unref);
        g_clear_object(&run->cancellable);
        g_clear_object(&run->gen);
}

static char *read_stdin(GError **error)
{
        g_autoptr(GInputStream) in = g_unix_input_stream_new(STDIN_FILENO, FALSE);
        g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable();

        if (g_output_stream_splice(out, in, G_OUTPUT_STREAM_SPLICE_NONE, NULL, error) < 0)
                return NULL;
        /* NUL-terminate */
        if (!g_output_stream_write_all(out, "", 1, NULL, NULL, error) ||
                        !g_output_stream_close(out, NULL, error))
                return NULL;
        return g_memory_output_stream_steal_data(G_MEMORY_OUTPUT_STREAM(out));
}

static void generate_finished(AidGeneration *gen, AidGenerationStats *stats, gpointer user_data)
{
        struct run *run = user_data;

        run->progress = aidctl_load_progress_stop(run->progress);
        if (run->json)
                print_result_json(aid_generation_get_text(gen), stats, TRUE);
        else {
                fputs("\n", stdout);
                fflush(stdout);
        }
        run->rc = EXIT_OK;
        g_main_loop_quit(run->loop);
}

static int cancelled_exit(gboolean newline)
{
        if (newline) {
                fputs("\n", stdout);
                fflush(stdout);
        }
        fprintf(stderr, "aidctl: cancelled\n");
        return EXIT_CANCELLED;
}

static void generate_failed(AidGeneration *gen, GError *error, gpointer user_data)
{
        struct run *run = user_data;

        run->progress = aidctl_load_progress_stop(run->progress);
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                run->rc = cancelled_exit(!run->json);
        else {
                if (!run->json && aid_generation_get_text(gen)[0])
                        fputs("\n", stdout);
                fflush(stdout);
                run->rc = aidctl_report_error(error);
        }
        g_main_loop_quit(run->loop);
}

static void on_generation_started(GObject *source, GAsyncResult *result, gpointer user_data)
{
        struct run *run = user_data;
        g_autoptr(GError) error = NULL;

        run->gen = aid_client_start_generation_finish(AID_CLIENT(source), result, &error);
        if (!run->gen) {
                run->progress = aidctl_load_progress_stop(run->progress);
                if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                        run->rc = cancelled_exit(FALSE);
                else
                        run->rc = aidctl_report_error(error);
                g_main_loop_quit(run->loop);
                return;
        }
        if (!run->json)
                g_signal_connect(run->gen, "token", G_CALLBACK(print_piece), run);
        g_signal_connect(run->gen, "finished", G_CALLBACK(generate_finished), run);
        g_signal_connect(run->gen, "failed", G_CALLBACK(generate_failed), run);
}

int aidctl_generate(AidClient *client, const char *prompt_arg, gboolean json)
{
        g_autoptr(AidGenerateOptions) options = options_from_command_line();
        g_autofree char *from_stdin = NULL;
        g_autoptr(GError) error = NULL;
        struct run run = { .json = json, .to_terminal = isatty(STDOUT_FILENO), .rc = EXIT_DAEMON_ERROR };
        const char *prompt = prompt_arg;
        guint sigint;

        if (g_str_equal(prompt_arg, "-")) {
                from_stdin = read_stdin(&error);
                if (!from_stdin) {
                        fprintf(stderr, "aidctl: cannot read the prompt from standard input: %s\n",
                                        error->message);
                        return EXIT_USAGE;
                }
                /* echo and here-documents end with a newline the user did not mean as text */
                prompt = g_strchomp(from_stdin);
        }
        if (!g_utf8_validate(prompt, -1, NULL)) {
                fprintf(stderr, "aidctl: the prompt is not valid UTF-8\n");
                return EXIT_USAGE;
        }

        run.loop = g_main_loop_new(NULL, FALSE);
        run.cancellable = g_cancellable_new();
        sigint = g_unix_signal_add(SIGINT, on_sigint, &run);
        run.progress = aidctl_load_progress_start(client, opt_model);
        aid_client_start_generation(client, prompt, options, run.cancellable, on_generation_started, &run);
        g_main_loop_run(run.loop);
        g_source_remove(sigint);
        if (run.gen)
                g_signal_handlers_disconnect_by_data(run.gen, &run);
        run_clear(&run);
        return run.rc;
}

/* aidctl chat: a line of standard input is a turn; the answer streams to standard output. */
struct chat_run {
        struct run run;
        AidClient *client;
        AidChat *chat;
        AidGenerateOptions *options;
        GDataInputStream *input;
        gboolean interactive;
        gboolean any_failed;
};

static void read_next_turn(struct chat_run *c);
static void chat_quit(struct chat_run *c, int rc);

/* Errors that every later turn of this chat would meet as well: the model cannot chat (no chat
 * template, or it failed to load), it is gone, the policy refuses, or aid is gone. Reading on
 * would only print the same error once per line. */
static gboolean error_ends_chat(const GError *error)
{
        return g_error_matches(error, AID_ERROR, AID_ERROR_MODEL_UNAVAILABLE) ||
               g_error_matches(error, AID_ERROR, AID_ERROR_NO_SUCH_MODEL) ||
               g_error_matches(error, AID_ERROR, AID_ERROR_PERMISSION_DENIED) ||
               g_error_matches(error, AID_ERROR, AID_ERROR_DAEMON_NOT_RUNNING) ||
               g_error_matches(error, AID_ERROR, AID_ERROR_BUS_UNREACHABLE) ||
               g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY) ||
               g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_DISCONNECTED) ||
               g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CLOSED);
}

/* The turn is over; error (NULL after an answer) says whether the chat can go on. */
static void turn_ended(struct chat_run *c, const GError *error)
{
        c->run.progress = aidctl_load_progress_stop(c->run.progress);
        if (c->run.gen)
                g_signal_handlers_disconnect_by_data(c->run.gen, c);
        g_clear_object(&c->run.gen);
        g_clear_object(&c->run.cancellable);
        g_clear_handle_id(&c->run.give_up, g_source_remove);
        if (error && error_ends_chat(error))
                chat_quit(c, EXIT_DAEMON_ERROR);
        else
                read_next_turn(c);
}

static void chat_finished(AidGeneration *gen, AidGenerationStats *stats, gpointer user_data)
{
        struct chat_run *c = user_data;

        if (c->run.json)
                print_result_json(aid_generation_get_text(gen), stats, FALSE);
        else {
                fputs("\n", stdout);
                fflush(stdout);
        }
        turn_ended(c, NULL);
}

static void chat_failed(AidGeneration *gen, GError *error, gpointer user_data)
{
        struct chat_run *c = user_data;

        if (!c->run.json && aid_generation_get_text(gen)[0]) {
                fputs("\n", stdout);
                fflush(stdout);
        }
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                fprintf(stderr, "aidctl: answer cancelled\n");
        else {
                (void)aidctl_report_error(error);
                c->any_failed = TRUE;
        }
        turn_ended(c, error);
}

static void on_turn_started(GObject *source, GAsyncResult *result, gpointer user_data)
{
        struct chat_run *c = user_data;
        g_autoptr(GError) error = NULL;

        c->run.gen = aid_chat_send_finish(AID_CHAT(source), result, &error);
        if (!c->run.gen) {
                if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                        fprintf(stderr, "aidctl: answer cancelled\n");
                else {
                        (void)aidctl_report_error(error);
                        c->any_failed = TRUE;
                }
                turn_ended(c, error);
                return;
        }
        if (!c->run.json)
                g_signal_connect(c->run.gen, "token", G_CALLBACK(print_piece), c);
        g_signal_connect(c->run.gen, "finished", G_CALLBACK(chat_finished), c);
        g_signal_connect(c->run.gen, "failed", G_CALLBACK(chat_failed), c);
}

static void chat_quit(struct chat_run *c, int rc)
{
        c->run.rc = rc;
        g_main_loop_quit(c->run.loop);
}

static void on_line(GObject *source, GAsyncResult *result, gpointer user_data)
{
        struct chat_run *c = user_data;
        g_autoptr(GError) error = NULL;
        g_autofree char *line = NULL;
        const char *text;

        line = g_data_input_stream_read_line_finish_utf8(G_DATA_INPUT_STREAM(source), result, NULL, &error);
        if (!line) {
                if (error) {
                        fprintf(stderr, "aidctl: cannot read standard input: %s\n", error->message);
                        chat_quit(c, EXIT_USAGE);
                } else {
                        if (c->interactive)
                                fputs("\n", stdout);
                        chat_quit(c, c->any_failed ? EXIT_DAEMON_ERROR : EXIT_OK);
                }
                return;
        }
        text = g_strstrip(line);
        if (text[0] == '\0') {
                read_next_turn(c);
                return;
        }
        if (g_str_equal(text, "/quit")) {
                chat_quit(c, c->any_failed ? EXIT_DAEMON_ERROR : EXIT_OK);
                return;
        }
        if (g_str_equal(text, "/reset")) {
                if (!aid_chat_reset_sync(c->chat, NULL, &error)) {
                        (void)aidctl_report_error(error);
                        c->any_failed = TRUE;
                } else if (c->interactive) {
                        fprintf(stderr, "(conversation reset)\n");
                }
                read_next_turn(c);
                return;
        }
        c->run.cancellable = g_cancellable_new();
        c->run.progress = aidctl_load_progress_start(c->client, aid_chat_get_model(c->chat));
        aid_chat_send(c->chat, text, NULL, c->run.cancellable, on_turn_started, c);
}

static void read_next_turn(struct chat_run *c)
{
        if (c->interactive) {
                fputs("> ", stdout);
                fflush(stdout);
        }
        g_data_input_stream_read_line_async(c->input, G_PRIORITY_DEFAULT, NULL, on_line, c);
}

/* Some chat templates (the first Phi-3-mini ones) drop system messages: the conversation goes on
 * as the template says, but the user is told. Nothing is said where the model cannot be
 * looked up. */
static void warn_if_system_prompt_dropped(AidClient *client, const char *model)
{
        g_autoptr(AidModelInfo) info =
                        model ? aid_client_get_model_info_sync(client, model, NULL, NULL) : NULL;
        g_autofree char *printable = aidctl_printable(model);

        if (info && aid_model_info_get_chat_template(info) && !aid_model_info_get_chat_system_prompt(info))
                fprintf(stderr,
                                "aidctl: note: the chat template of %s has no place for a system prompt; it "
                                "is not used\n",
                                printable);
}

static void on_context_overflow(AidChat *chat, guint dropped, gpointer user_data)
{
        fprintf(stderr, "aidctl: the conversation outgrew the context: the %u oldest turn%s dropped\n",
                        dropped, dropped == 1 ? " was" : "s were");
}

int aidctl_chat(AidClient *client, gboolean json)
{
        g_autoptr(AidGenerateOptions) options = options_from_command_line();
        g_autoptr(GInputStream) in = g_unix_input_stream_new(STDIN_FILENO, FALSE);
        g_autoptr(GError) error = NULL;
        struct chat_run c = {
                .run = { .json = json, .to_terminal = isatty(STDOUT_FILENO), .rc = EXIT_OK },
                .client = client,
        };
        guint sigint;

        if (opt_system && !g_utf8_validate(opt_system, -1, NULL)) {
                fprintf(stderr, "aidctl: the system prompt is not valid UTF-8\n");
                return EXIT_USAGE;
        }
        c.chat = aid_client_create_chat_sync(client, opt_system, options, NULL, &error);
        if (!c.chat)
                return aidctl_report_error(error);
        g_signal_connect(c.chat, "context-overflow", G_CALLBACK(on_context_overflow), NULL);
        if (opt_system && opt_system[0])
                warn_if_system_prompt_dropped(client, aid_chat_get_model(c.chat));
        c.options = options;
        c.interactive = isatty(STDIN_FILENO);
        c.input = g_data_input_stream_new(in);
        c.run.loop = g_main_loop_new(NULL, FALSE);
        if (c.interactive) {
                g_autofree char *model = aidctl_printable(aid_chat_get_model(c.chat));
                fprintf(stderr,
                                "Chatting with %s. /reset forgets the conversation, /quit (or Ctrl-D) ends "
                                "it.\n",
                                model ?: "aid's default text model");
        }

        sigint = g_unix_signal_add(SIGINT, on_sigint, &c.run);
        read_next_turn(&c);
        g_main_loop_run(c.run.loop);
        g_source_remove(sigint);

        if (c.run.gen)
                g_signal_handlers_disconnect_by_data(c.run.gen, &c);
        if (!aid_chat_close_sync(c.chat, NULL, &error) && c.run.rc == EXIT_OK)
                c.run.rc = aidctl_report_error(error);
        g_object_unref(c.chat);
        g_object_unref(c.input);
        run_clear(&c.run);
        return c.run.rc;
}
