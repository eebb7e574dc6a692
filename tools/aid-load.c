/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aid-load: N concurrent clients, each on its own bus connection, stream generations from aid
 * through org.aid.Daemon1.Text.StartGeneration and the request's Token/Finished signals, as
 * apps do. It reports, per request, the time to first token and the decode rate seen by the
 * client, and the aggregate rate of all clients together.
 *
 *   aid-load [--address ADDR] [--clients N] [--requests R] [--max-tokens T]
 *            [--prompt TEXT | --prompt-tokens N] [--model ID] [--long-prompt-tokens N]
 *            [--bus-floor] [--json]
 *
 * --long-prompt-tokens N measures a short request's time to first token while a prompt of
 * about N tokens is being prefilled (up to 20 short requests one after another, median and
 * max), against its value when aid is idle (the scheduler's chunked prefill should keep the
 * two close).
 *
 * D-Bus cost per streamed token, measured several ways, since none alone tells the whole story:
 *   - one-way latency: half the round trip of org.freedesktop.DBus.Peer.Ping to aid through
 *     the bus daemon (the same path a Token signal takes: aid → dbus-daemon → client, one
 *     message), median of 200;
 *   - rate gap: per request, the client's mean interval between Token signals minus the
 *     daemon's own per-token time (1 / its tokens_per_second), median over requests. Signals are
 *     sent asynchronously, so this is what transport adds to the throughput an app sees; it is
 *     near 0 when the bus keeps up and grows when it does not.
 *   - CPU time: of aid's main thread (the sd-event loop that answers every call and sends
 *     Finished; /proc/PID/task/PID/schedstat, nanoseconds), and of this client process (all
 *     its threads: GDBus reads the socket on a thread of its own), during the run, divided by
 *     the Token signals delivered: the cost of a streamed token on each side, an upper bound
 *     since the calls that start and end requests are counted in too;
 *   - send time: aid's text worker sends the Token signals itself and counts, per request, the
 *     CPU time of its thread that took (building each message and writing it to the socket,
 *     which wakes the bus daemon); Finished's stats carry it (token_signals,
 *     token_signals_send_us);
 *   - the floor (--bus-floor): the same send time for a bare sd-bus sender in this process,
 *     one Token-sized signal every 15 ms to a receiver that sleeps between them, during the
 *     run (so on CPUs as busy as aid's): what waking the bus daemon costs on this machine,
 *     whoever sends. Its two threads' CPU time is left out of this client's.
 * aid's cost per streamed token is the bus thread's share plus the worker's send time.
 * The client uses one thread and one main loop: its own dispatch time is part of both. */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "bus-floor.h"

#define BUS_NAME      "org.aid.Daemon1"
#define OBJECT_PATH   "/org/aid/Daemon1"
#define TEXT_IFACE    "org.aid.Daemon1.Text"
#define REQUEST_IFACE "org.aid.Daemon1.Request"

static char *opt_address;
static int opt_clients = 1;
static int opt_requests = 1;
static int opt_max_tokens = 32;
static char *opt_prompt;
static int opt_prompt_tokens;
static char *opt_model;
static int opt_long_prompt_tokens;
static gboolean opt_json;
static gboolean opt_bus_floor;

static const GOptionEntry entries[] = {
        { "address", 0, 0, G_OPTION_ARG_STRING, &opt_address, "The bus aid is on (default: the session bus)",
                        "ADDR" },
        { "clients", 0, 0, G_OPTION_ARG_INT, &opt_clients, "Concurrent clients, one connection each (1)",
                        "N" },
        { "requests", 0, 0, G_OPTION_ARG_INT, &opt_requests, "Requests per client, one after the other (1)",
                        "R" },
        { "max-tokens", 0, 0, G_OPTION_ARG_INT, &opt_max_tokens, "Tokens per request (32)", "T" },
        { "prompt", 0, 0, G_OPTION_ARG_STRING, &opt_prompt, "The prompt", "TEXT" },
        { "prompt-tokens", 0, 0, G_OPTION_ARG_INT, &opt_prompt_tokens,
                        "A synthetic prompt of about N tokens (one word each)", "N" },
        { "model", 0, 0, G_OPTION_ARG_STRING, &opt_model, "Model id (default: aid's text model)", "ID" },
        { "long-prompt-tokens", 0, 0, G_OPTION_ARG_INT, &opt_long_prompt_tokens,
                        "Also measure a short request's TTFT while an N-token prompt is prefilled", "N" },
        { "bus-floor", 0, 0, G_OPTION_ARG_NONE, &opt_bus_floor,
                        "Also time a bare sd-bus sender's Token signals during the run (tools/bus-floor.h)",
                        NULL },
        { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json, "Print the summary as JSON", NULL },
        { NULL },
};

struct result {
        gboolean ok;
        char *error;
        gint64 start_us, first_us, last_us, end_us; /* client clock (monotonic) */
        guint n_signals;
        guint prompt_tokens, generated_tokens;
        guint64 daemon_ttft_us;
        double daemon_tps;
        /* What the daemon says sending the Token signals cost its worker (CPU time). */
        guint64 daemon_signals, daemon_send_us;
};

struct client {
        GDBusConnection *connection;
        guint subscription;
        int remaining;
        struct result *current; /* the one request in flight on this connection */
        GArray *results;        /* struct result */
        const char *prompt;
        guint max_tokens;
        gboolean busy;
};

/* Every Token signal's arrival (client clock), for the rate while all clients decode. */
static GArray *token_times; /* gint64 */

static void result_clear(struct result *r)
{
        g_free(r->error);
}

static void request_end(struct client *c)
{
        c->current->end_us = g_get_monotonic_time();
        g_array_append_val(c->results, *c->current);
        g_free(c->current);
        c->current = NULL;
        c->busy = FALSE;
}

/* One request in flight per connection: every Request signal on it is that request's, even
 * one that arrives before StartGeneration's reply. */
static void on_signal(GDBusConnection *connection, const char *sender, const char *path, const char *iface,
                const char *member, GVariant *params, gpointer user_data)
{
        struct client *c = user_data;
        struct result *r = c->current;
        gint64 now = g_get_monotonic_time();

        if (!r)
                return;
        if (g_str_equal(member, "Token")) {
                if (r->n_signals++ == 0)
                        r->first_us = now;
                r->last_us = now;
                g_array_append_val(token_times, now);
        } else if (g_str_equal(member, "Finished") &&
                        g_variant_is_of_type(params, G_VARIANT_TYPE("(a{sv})"))) {
                g_autoptr(GVariant) stats = g_variant_get_child_value(params, 0);
                guint32 u;

                r->ok = TRUE;
                if (g_variant_lookup(stats, "prompt_tokens", "u", &u))
                        r->prompt_tokens = u;
                if (g_variant_lookup(stats, "generated_tokens", "u", &u))
                        r->generated_tokens = u;
                g_variant_lookup(stats, "time_to_first_token_us", "t", &r->daemon_ttft_us);
                g_variant_lookup(stats, "tokens_per_second", "d", &r->daemon_tps);
                g_variant_lookup(stats, "token_signals", "t", &r->daemon_signals);
                g_variant_lookup(stats, "token_signals_send_us", "t", &r->daemon_send_us);
                request_end(c);
        } else if (g_str_equal(member, "Failed") && g_variant_is_of_type(params, G_VARIANT_TYPE("(ss)"))) {
                const char *name, *message;

                g_variant_get(params, "(&s&s)", &name, &message);
                r->error = g_strdup_printf("%s: %s", name, message);
                request_end(c);
        }
}

static void on_started(GObject *source, GAsyncResult *res, gpointer user_data)
{
        struct client *c = user_data;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);

        if (!reply && c->current) {
                g_dbus_error_strip_remote_error(error);
                c->current->error = g_strdup(error->message);
                request_end(c);
        }
}

static GVariant *request_options(guint max_tokens)
{
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&b, "{sv}", "max_tokens", g_variant_new_uint32(max_tokens));
        /* Greedy: every run does the same work. */
        g_variant_builder_add(&b, "{sv}", "temperature", g_variant_new_double(0));
        if (opt_model)
                g_variant_builder_add(&b, "{sv}", "model", g_variant_new_string(opt_model));
        return g_variant_builder_end(&b);
}

static void client_start(struct client *c, const char *prompt, guint max_tokens)
{
        c->current = g_new0(struct result, 1);
        c->current->start_us = g_get_monotonic_time();
        c->busy = TRUE;
        g_dbus_connection_call(c->connection, BUS_NAME, OBJECT_PATH, TEXT_IFACE, "StartGeneration",
                        g_variant_new("(s@a{sv})", prompt, request_options(max_tokens)),
                        G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NONE, G_MAXINT, NULL, on_started, c);
}

static struct client *client_new(const char *address, GError **error)
{
        struct client *c = g_new0(struct client, 1);

        c->connection = g_dbus_connection_new_for_address_sync(address,
                        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                        NULL, NULL, error);
        if (!c->connection) {
                g_free(c);
                return NULL;
        }
        /* Subscribed before any request: see StartGeneration in the D-Bus contract. */
        c->subscription = g_dbus_connection_signal_subscribe(c->connection, BUS_NAME, REQUEST_IFACE, NULL,
                        NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_signal, c, NULL);
        c->results = g_array_new(FALSE, TRUE, sizeof(struct result));
        g_array_set_clear_func(c->results, (GDestroyNotify)result_clear);
        return c;
}

static void client_free(struct client *c)
{
        g_dbus_connection_signal_unsubscribe(c->connection, c->subscription);
        g_object_unref(c->connection);
        g_array_unref(c->results);
        g_free(c->current);
        g_free(c);
}

static void wait_idle(struct client *c)
{
        while (c->busy)
                g_main_context_iteration(NULL, TRUE);
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

static double percentile(GArray *values, double p)
{
        if (values->len == 0)
                return 0;
        g_array_sort(values, cmp_double);
        return g_array_index(values, double, (guint)((values->len - 1) * p + 0.5));
}

static double mean(GArray *values)
{
        double s = 0;

        for (guint i = 0; i < values->len; i++)
                s += g_array_index(values, double, i);
        return values->len ? s / values->len : 0;
}

/* About n tokens of ordinary English (one word is about one token for the usual vocabularies;
 * the daemon's prompt_tokens says how many it really was). */
struct span_edge {
        gint64 t;
        int delta; /* +1: a request starts decoding; -1: it has its last token */
};

static int cmp_edge(const void *a, const void *b)
{
        const struct span_edge *x = a, *y = b;

        if (x->t != y->t)
                return x->t < y->t ? -1 : 1;
        return x->delta - y->delta; /* ends before starts at the same instant */
}

/* Token signals per second over the time in which `clients` requests were between their first
 * and last token at once: the decode rate of that many concurrent streams, without the start
 * (prompts still being evaluated) and the end (streams finishing one by one) that the
 * first-to-last rate includes. *ret_s is the length of that time; 0 if it never happened. */
static double all_decoding_rate(GPtrArray *clients, int n_clients, GArray *times, double *ret_s)
{
        g_autoptr(GArray) edges = g_array_new(FALSE, FALSE, sizeof(struct span_edge));
        gint64 total = 0, since = 0;
        guint64 n = 0;
        int active = 0;

        for (int i = 0; i < n_clients; i++) {
                struct client *c = clients->pdata[i];
                for (guint j = 0; j < c->results->len; j++) {
                        struct result *r = &g_array_index(c->results, struct result, j);
                        if (r->n_signals < 2)
                                continue;
                        g_array_append_val(edges, ((struct span_edge){ r->first_us, +1 }));
                        g_array_append_val(edges, ((struct span_edge){ r->last_us, -1 }));
                }
        }
        g_array_sort(edges, cmp_edge);
        /* times are in arrival order already: one main loop appends them. */
        for (guint e = 0; e < edges->len; e++) {
                const struct span_edge *x = &g_array_index(edges, struct span_edge, e);
                if (active == n_clients && x->delta < 0) {
                        /* (since, x->t]: the first token of the last stream to start is the
                         * start, not a token of the window. */
                        total += x->t - since;
                        for (guint k = 0; k < times->len; k++) {
                                gint64 t = g_array_index(times, gint64, k);
                                n += t > since && t <= x->t;
                        }
                }
                active += x->delta;
                if (active == n_clients)
                        since = x->t;
        }
        *ret_s = total / 1e6;
        return total > 0 ? n / (total / 1e6) : 0;
}

static char *synthetic_prompt(int n)
{
        static const char *const words[] = { "the", "old", "lighthouse", "keeper", "walked", "along", "a",
                "quiet", "shore", "and", "counted", "every", "ship", "that", "passed", "in", "night",
                "while", "wind", "sang", "over", "rocks", "near", "his", "small", "house", "by", "sea", "of",
                "grey", "stone", "with" };
        GString *s = g_string_new(NULL);

        for (int i = 0; i < n; i++)
                g_string_append_printf(s, "%s%s", i ? " " : "", words[i % G_N_ELEMENTS(words)]);
        return g_string_free(s, FALSE);
}

/* Nanoseconds the thread tid of pid has run (schedstat's first field), -1 when unreadable. */
static gint64 thread_cpu_ns(guint32 pid, guint32 tid)
{
        g_autofree char *path = g_strdup_printf("/proc/%u/task/%u/schedstat", pid, tid);
        g_autofree char *text = NULL;

        if (!g_file_get_contents(path, &text, NULL, NULL))
                return -1;
        return g_ascii_strtoll(text, NULL, 10);
}

static gint64 self_cpu_ns(void)
{
        struct rusage ru;

        if (getrusage(RUSAGE_SELF, &ru) < 0)
                return -1;
        return ((gint64)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
               ((gint64)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* aid's process id, as the bus knows it; 0 when it does not say. */
static guint32 daemon_pid(GDBusConnection *connection)
{
        g_autoptr(GVariant) v = g_dbus_connection_call_sync(connection, "org.freedesktop.DBus",
                        "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetConnectionUnixProcessID",
                        g_variant_new("(s)", BUS_NAME), G_VARIANT_TYPE("(u)"), G_DBUS_CALL_FLAGS_NONE, 5000,
                        NULL, NULL);
        guint32 pid = 0;

        if (v)
                g_variant_get(v, "(u)", &pid);
        return pid;
}

/* Half the round trip of Peer.Ping to aid through the bus daemon, median of n. */
static double ping_one_way_us(GDBusConnection *connection, int n, GError **error)
{
        g_autoptr(GArray) rtt = g_array_new(FALSE, FALSE, sizeof(double));

        for (int i = 0; i < n; i++) {
                gint64 t0 = g_get_monotonic_time();
                g_autoptr(GVariant) reply = g_dbus_connection_call_sync(connection, BUS_NAME, OBJECT_PATH,
                                "org.freedesktop.DBus.Peer", "Ping", NULL, NULL, G_DBUS_CALL_FLAGS_NONE, -1,
                                NULL, error);
                if (!reply)
                        return -1;
                double d = (double)(g_get_monotonic_time() - t0);
                g_array_append_val(rtt, d);
        }
        return percentile(rtt, 0.5) / 2;
}

struct long_prompt_result {
        double ttft_idle_ms;
        GArray *ttft_busy_ms; /* double: the short requests answered while the long one ran */
        guint long_prompt_tokens;
        char *error;
};

/* A short request alone (median of 3), then short requests one after another while a long
 * prompt is prefilled: each arrives at another point of the step in progress, so their spread
 * shows the wait for that step. Only the requests answered while the long one was still
 * running count. */
static void measure_long_prompt(
                struct client *a, struct client *b, const char *short_prompt, struct long_prompt_result *ret)
{
        g_autoptr(GArray) idle = g_array_new(FALSE, FALSE, sizeof(double));
        g_autofree char *long_prompt = synthetic_prompt(opt_long_prompt_tokens);
        struct result *r;

        ret->ttft_busy_ms = g_array_new(FALSE, FALSE, sizeof(double));
        for (int i = 0; i < 3; i++) {
                client_start(a, short_prompt, 1);
                wait_idle(a);
                r = &g_array_index(a->results, struct result, a->results->len - 1);
                if (!r->ok || r->n_signals == 0) {
                        ret->error = g_strdup_printf("short request: %s", r->error ?: "no token");
                        return;
                }
                double ms = (r->first_us - r->start_us) / 1000.0;
                g_array_append_val(idle, ms);
        }
        ret->ttft_idle_ms = percentile(idle, 0.5);

        client_start(b, long_prompt, 1);
        /* Let the long prompt reach the worker before the first short one arrives. */
        gint64 until = g_get_monotonic_time() + 20000;
        while (g_get_monotonic_time() < until)
                g_main_context_iteration(NULL, FALSE);
        while (b->busy && ret->ttft_busy_ms->len < 20) {
                client_start(a, short_prompt, 1);
                wait_idle(a);
                r = &g_array_index(a->results, struct result, a->results->len - 1);
                if (!r->ok || r->n_signals == 0) {
                        ret->error = g_strdup_printf("short request: %s", r->error ?: "no token");
                        break;
                }
                if (!b->busy)
                        break; /* the long one ended first: this one did not wait for it */
                double ms = (r->first_us - r->start_us) / 1000.0;
                g_array_append_val(ret->ttft_busy_ms, ms);
                /* A pause, so that the next one arrives at another point of a step. */
                until = g_get_monotonic_time() + g_random_int_range(0, 50000);
                while (g_get_monotonic_time() < until)
                        g_main_context_iteration(NULL, FALSE);
        }
        wait_idle(b);
        r = &g_array_index(b->results, struct result, b->results->len - 1);
        if (!r->ok && !ret->error)
                ret->error = g_strdup_printf("long request: %s", r->error ?: "failed");
        ret->long_prompt_tokens = r->prompt_tokens;
        if (ret->ttft_busy_ms->len == 0 && !ret->error)
                ret->error = g_strdup(
                                "the long prompt ended before a short request was answered: make it longer");
}

int main(int argc, char **argv)
{
        g_autoptr(GOptionContext) context = g_option_context_new("- load aid with concurrent generations");
        g_autoptr(GError) error = NULL;
        g_autofree char *address = NULL;
        g_autofree char *prompt = NULL;
        g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func((GDestroyNotify)client_free);
        g_autoptr(GArray) ttft = g_array_new(FALSE, FALSE, sizeof(double));
        g_autoptr(GArray) client_tps = g_array_new(FALSE, FALSE, sizeof(double));
        g_autoptr(GArray) gap = g_array_new(FALSE, FALSE, sizeof(double));
        struct long_prompt_result lp = { 0 };
        guint64 total_generated = 0, total_decode = 0, total_signals = 0, daemon_signals = 0,
                daemon_send_us = 0;
        gint64 aid_cpu_begin, aid_cpu_end, self_cpu_begin, self_cpu_end;
        double aid_us_per_token = -1, self_us_per_token = -1, send_us_per_token = -1;
        guint32 aid_pid;
        gint64 t_begin, t_end, first_token = G_MAXINT64, last_token = 0;
        guint n_ok = 0, n_failed = 0;
        double one_way_us, wall_s, aggregate_tps, aggregate_decode_tps, all_decoding_tps, all_decoding_s;
        const char *first_error = NULL;
        struct bus_floor *floor = NULL;
        double floor_send_us = -1;
        guint floor_sent = 0, floor_received = 0;
        gint64 floor_cpu_ns = 0;

        setlocale(LC_ALL, "");
        g_option_context_add_main_entries(context, entries, NULL);
        if (!g_option_context_parse(context, &argc, &argv, &error)) {
                fprintf(stderr, "aid-load: %s\n", error->message);
                return 2;
        }
        if (opt_clients < 1 || opt_requests < 1 || opt_max_tokens < 1 || opt_prompt_tokens < 0 ||
                        opt_long_prompt_tokens < 0 || (opt_prompt && opt_prompt_tokens)) {
                fprintf(stderr, "aid-load: --clients, --requests and --max-tokens must be at least 1; "
                                "--prompt and --prompt-tokens exclude each other\n");
                return 2;
        }
        prompt = opt_prompt_tokens ? synthetic_prompt(opt_prompt_tokens)
                                   : g_strdup(opt_prompt ?: "Once upon a time, in a small town by the sea,");

        address = opt_address ? g_strdup(opt_address)
                              : g_dbus_address_get_for_bus_sync(G_BUS_TYPE_SESSION, NULL, &error);
        if (!address) {
                fprintf(stderr, "aid-load: no session bus: %s\n", error->message);
                return 3;
        }
        for (int i = 0; i < MAX(opt_clients, opt_long_prompt_tokens ? 2 : 1); i++) {
                struct client *c = client_new(address, &error);
                if (!c) {
                        fprintf(stderr, "aid-load: cannot connect to %s: %s\n", address, error->message);
                        return 3;
                }
                g_ptr_array_add(clients, c);
        }

        one_way_us = ping_one_way_us(((struct client *)clients->pdata[0])->connection, 200, &error);
        if (one_way_us < 0) {
                g_dbus_error_strip_remote_error(error);
                fprintf(stderr, "aid-load: aid does not answer on %s: %s\n", address, error->message);
                return 3;
        }

        aid_pid = daemon_pid(((struct client *)clients->pdata[0])->connection);
        aid_cpu_begin = aid_pid ? thread_cpu_ns(aid_pid, aid_pid) : -1;
        self_cpu_begin = self_cpu_ns();
        token_times = g_array_new(FALSE, FALSE, sizeof(gint64));
        if (opt_bus_floor) {
                /* About one token's time apart, as a single stream's Token signals come. */
                floor = bus_floor_start(address, 15000, &error);
                if (!floor) {
                        fprintf(stderr, "aid-load: %s\n", error->message);
                        return 3;
                }
        }
        t_begin = g_get_monotonic_time();
        for (int i = 0; i < opt_clients; i++) {
                struct client *c = clients->pdata[i];
                c->remaining = opt_requests;
                c->prompt = prompt;
                c->max_tokens = (guint)opt_max_tokens;
                client_start(c, prompt, c->max_tokens);
                c->remaining--;
        }
        for (;;) {
                gboolean busy = FALSE;
                for (int i = 0; i < opt_clients; i++) {
                        struct client *c = clients->pdata[i];
                        if (!c->busy && c->remaining > 0) {
                                client_start(c, c->prompt, c->max_tokens);
                                c->remaining--;
                        }
                        busy |= c->busy;
                }
                if (!busy)
                        break;
                g_main_context_iteration(NULL, TRUE);
        }
        t_end = g_get_monotonic_time();
        if (floor && !bus_floor_stop(g_steal_pointer(&floor), &floor_send_us, &floor_sent, &floor_received,
                                     &floor_cpu_ns, &error)) {
                fprintf(stderr, "aid-load: the bus floor's sender: %s\n", error->message);
                return 3;
        }
        aid_cpu_end = aid_pid ? thread_cpu_ns(aid_pid, aid_pid) : -1;
        self_cpu_end = self_cpu_ns() - floor_cpu_ns;

        for (int i = 0; i < opt_clients; i++) {
                struct client *c = clients->pdata[i];
                for (guint j = 0; j < c->results->len; j++) {
                        struct result *r = &g_array_index(c->results, struct result, j);
                        if (!r->ok) {
                                n_failed++;
                                first_error = first_error ?: r->error;
                                continue;
                        }
                        n_ok++;
                        total_generated += r->generated_tokens;
                        total_signals += r->n_signals;
                        daemon_signals += r->daemon_signals;
                        daemon_send_us += r->daemon_send_us;
                        if (r->n_signals == 0)
                                continue;
                        double ms = (r->first_us - r->start_us) / 1000.0;
                        g_array_append_val(ttft, ms);
                        first_token = MIN(first_token, r->first_us);
                        last_token = MAX(last_token, r->last_us);
                        if (r->generated_tokens > 1 && r->last_us > r->first_us) {
                                total_decode += r->generated_tokens - 1;
                                double tps = (r->generated_tokens - 1) / ((r->last_us - r->first_us) / 1e6);
                                g_array_append_val(client_tps, tps);
                                if (r->daemon_tps > 0 && r->n_signals > 1) {
                                        double interval = (double)(r->last_us - r->first_us) /
                                                          (r->n_signals - 1);
                                        double g = interval - 1e6 / r->daemon_tps;
                                        g_array_append_val(gap, g);
                                }
                        }
                }
        }
        wall_s = (t_end - t_begin) / 1e6;
        if (total_signals > 0 && aid_cpu_begin >= 0 && aid_cpu_end >= aid_cpu_begin)
                aid_us_per_token = (aid_cpu_end - aid_cpu_begin) / 1e3 / (double)total_signals;
        if (daemon_signals > 0)
                send_us_per_token = (double)daemon_send_us / (double)daemon_signals;
        if (total_signals > 0 && self_cpu_begin >= 0 && self_cpu_end >= self_cpu_begin)
                self_us_per_token = (self_cpu_end - self_cpu_begin) / 1e3 / (double)total_signals;
        aggregate_tps = wall_s > 0 ? total_generated / wall_s : 0;
        aggregate_decode_tps =
                        last_token > first_token ? total_decode / ((last_token - first_token) / 1e6) : 0;
        all_decoding_tps = all_decoding_rate(clients, opt_clients, token_times, &all_decoding_s);
        /* A Token signal carries one token's text, or a few when a character spans tokens. */
        if (total_signals > 0)
                all_decoding_tps *= (double)total_generated / (double)total_signals;

        if (opt_long_prompt_tokens)
                measure_long_prompt(clients->pdata[0], clients->pdata[1], prompt, &lp);

        if (opt_json) {
                g_autoptr(JsonBuilder) b = json_builder_new();
                g_autoptr(JsonGenerator) gen = json_generator_new();
                g_autoptr(JsonNode) root = NULL;
                g_autofree char *out = NULL;

#define NUM(name, v) (json_builder_set_member_name(b, name), json_builder_add_double_value(b, v))
#define INT(name, v) (json_builder_set_member_name(b, name), json_builder_add_int_value(b, v))
                json_builder_begin_object(b);
                INT("clients", opt_clients);
                INT("requests", opt_clients * opt_requests);
                INT("ok", n_ok);
                INT("failed", n_failed);
                INT("generated_tokens", (gint64)total_generated);
                NUM("wall_s", wall_s);
                NUM("ttft_ms_mean", mean(ttft));
                NUM("ttft_ms_p50", percentile(ttft, 0.5));
                NUM("ttft_ms_p95", percentile(ttft, 0.95));
                NUM("client_tokens_per_second_mean", mean(client_tps));
                NUM("aggregate_tokens_per_second", aggregate_tps);
                NUM("aggregate_decode_tokens_per_second", aggregate_decode_tps);
                NUM("all_decoding_tokens_per_second", all_decoding_tps);
                NUM("all_decoding_s", all_decoding_s);
                NUM("dbus_one_way_us", one_way_us);
                NUM("dbus_rate_gap_us_per_token", percentile(gap, 0.5));
                NUM("aid_bus_thread_cpu_us_per_token", aid_us_per_token);
                NUM("aid_worker_send_us_per_token", send_us_per_token);
                NUM("client_cpu_us_per_token", self_us_per_token);
                if (opt_bus_floor) {
                        NUM("dbus_floor_send_us", floor_send_us);
                        INT("dbus_floor_signals_sent", floor_sent);
                        INT("dbus_floor_signals_received", floor_received);
                }
                INT("token_signals", (gint64)total_signals);
                if (opt_long_prompt_tokens) {
                        NUM("ttft_idle_ms", lp.ttft_idle_ms);
                        NUM("ttft_during_long_prompt_ms_p50", percentile(lp.ttft_busy_ms, 0.5));
                        NUM("ttft_during_long_prompt_ms_max", percentile(lp.ttft_busy_ms, 1.0));
                        INT("ttft_during_long_prompt_samples", lp.ttft_busy_ms ? lp.ttft_busy_ms->len : 0);
                        INT("long_prompt_tokens", lp.long_prompt_tokens);
                }
                json_builder_set_member_name(b, "first_error");
                if (first_error || lp.error)
                        json_builder_add_string_value(b, first_error ?: lp.error);
                else
                        json_builder_add_null_value(b);
                json_builder_end_object(b);
#undef NUM
#undef INT
                root = json_builder_get_root(b);
                json_generator_set_root(gen, root);
                json_generator_set_pretty(gen, TRUE);
                out = json_generator_to_data(gen, NULL);
                printf("%s\n", out);
        } else {
                printf("clients:                 %d (one connection each), %d request%s each, max_tokens "
                       "%d\n",
                                opt_clients, opt_requests, opt_requests == 1 ? "" : "s", opt_max_tokens);
                printf("requests:                %u ok, %u failed\n", n_ok, n_failed);
                printf("generated tokens:        %" G_GUINT64_FORMAT " in %.3f s\n", total_generated,
                                wall_s);
                printf("ttft ms:                 mean %.1f, p50 %.1f, p95 %.1f\n", mean(ttft),
                                percentile(ttft, 0.5), percentile(ttft, 0.95));
                printf("client tokens/s:         mean %.1f per request (decode, as the client sees it)\n",
                                mean(client_tps));
                printf("aggregate tokens/s:      %.1f (all tokens / wall), decode %.1f (after first "
                       "tokens)\n",
                                aggregate_tps, aggregate_decode_tps);
                printf("all clients decoding:    %.1f tokens/s over %.3f s (while all %d streams ran at "
                       "once)\n",
                                all_decoding_tps, all_decoding_s, opt_clients);
                printf("dbus one-way us:         %.1f (half a Peer.Ping round trip via the bus daemon)\n",
                                one_way_us);
                printf("dbus rate gap us/token:  %.1f (client signal interval - daemon per-token time, "
                       "p50)\n",
                                percentile(gap, 0.5));
                if (aid_us_per_token >= 0)
                        printf("dbus cpu us/token:       aid's bus thread %.1f, this client %.1f "
                               "(%" G_GUINT64_FORMAT " Token signals)\n",
                                        aid_us_per_token, self_us_per_token, total_signals);
                else
                        printf("dbus cpu us/token:       aid's bus thread unknown (its /proc entry is not "
                               "readable), this client %.1f\n",
                                        self_us_per_token);
                if (send_us_per_token >= 0)
                        printf("dbus send us/token:      %.1f CPU in aid's worker (build, write; its "
                               "own count)\n",
                                        send_us_per_token);
                if (opt_bus_floor)
                        printf("dbus floor us/signal:    %.1f CPU in a bare sd-bus sender (%u signals 15 ms "
                               "apart during the run, %u received)\n",
                                        floor_send_us, floor_sent, floor_received);
                if (opt_long_prompt_tokens) {
                        printf("ttft idle ms:            %.1f\n", lp.ttft_idle_ms);
                        printf("ttft during long ms:     p50 %.1f, max %.1f (%u short requests while a "
                               "%u-token prompt ran)\n",
                                        percentile(lp.ttft_busy_ms, 0.5), percentile(lp.ttft_busy_ms, 1.0),
                                        lp.ttft_busy_ms ? lp.ttft_busy_ms->len : 0, lp.long_prompt_tokens);
                }
                if (first_error || lp.error)
                        printf("first error:             %s\n", first_error ?: lp.error);
        }
        g_free(lp.error);
        if (lp.ttft_busy_ms)
                g_array_unref(lp.ttft_busy_ms);
        return n_failed || lp.error ? 1 : 0;
}
