/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "aid-dbus-names.h"
#include "aid-internal.h"

G_DEFINE_BOXED_TYPE(AidGenerationStats, aid_generation_stats, aid_generation_stats_copy,
                aid_generation_stats_free)

/**
 * aid_generation_stats_new_from_variant:
 * @stats: an a{sv} dictionary of stats, as the daemon sends them
 *
 * Reads the stats the daemon sent (Generate's reply, a request's Finished signal). Keys it
 * does not know and values of the wrong type are ignored.
 *
 * Returns: (transfer full): the stats
 */
AidGenerationStats *aid_generation_stats_new_from_variant(GVariant *stats)
{
        AidGenerationStats *s = g_new0(AidGenerationStats, 1);
        guint32 u;
        guint64 t;
        double d;
        const char *str;

        g_return_val_if_fail(stats != NULL, s);
        if (!g_variant_is_of_type(stats, G_VARIANT_TYPE_VARDICT))
                return s;
        if (g_variant_lookup(stats, "prompt_tokens", "u", &u))
                s->prompt_tokens = u;
        if (g_variant_lookup(stats, "generated_tokens", "u", &u))
                s->generated_tokens = u;
        if (g_variant_lookup(stats, "time_to_first_token_us", "t", &t))
                s->time_to_first_token_us = t;
        if (g_variant_lookup(stats, "tokens_per_second", "d", &d))
                s->tokens_per_second = d;
        if (g_variant_lookup(stats, "finish_reason", "&s", &str))
                s->finish_reason = g_strdup(str);
        if (g_variant_lookup(stats, "model", "&s", &str))
                s->model = g_strdup(str);
        return s;
}

/**
 * aid_generation_stats_copy:
 * @stats: an #AidGenerationStats
 *
 * Returns: (transfer full): a copy of @stats
 */
AidGenerationStats *aid_generation_stats_copy(const AidGenerationStats *stats)
{
        AidGenerationStats *s;

        g_return_val_if_fail(stats != NULL, NULL);
        s = g_memdup2(stats, sizeof(*stats));
        s->finish_reason = g_strdup(stats->finish_reason);
        s->model = g_strdup(stats->model);
        return s;
}

/**
 * aid_generation_stats_free:
 * @stats: (nullable): an #AidGenerationStats
 *
 * Frees @stats.
 */
void aid_generation_stats_free(AidGenerationStats *stats)
{
        if (!stats)
                return;
        g_free(stats->finish_reason);
        g_free(stats->model);
        g_free(stats);
}

GError *aid_internal_error_from_dbus(const char *error_name, const char *message)
{
        GError *e;

        (void)aid_error_quark(); /* registers the org.aid.Error.* names */
        e = g_dbus_error_new_for_dbus_error(error_name, message);
        if (e->domain == AID_ERROR)
                g_dbus_error_strip_remote_error(e);
        return e;
}

/**
 * AidGeneration:
 *
 * One generation running in aid: the text arrives piece by piece through
 * #AidGeneration::token, then #AidGeneration::finished or #AidGeneration::failed ends it.
 * Get one from aid_client_start_generation() or aid_chat_send().
 *
 * Signals are emitted in the thread-default main context of the thread that started the
 * generation, which must be the one that created the #AidClient; the first ones arrive after
 * the main context next runs, so handlers connected right after
 * aid_client_start_generation_finish() miss nothing. The generation runs until it ends or is
 * cancelled, whether or not the caller keeps a reference to it.
 *
 * Cancelling it (aid_generation_cancel(), or the #GCancellable given when it was started)
 * makes it fail with %G_IO_ERROR_CANCELLED; %AID_ERROR_CANCELLED means the daemon stopped it
 * for a reason of its own.
 */
struct _AidGeneration {
        GObject parent_instance;

        AidClient *client;
        GMainContext *context;
        char *path;
        GString *text;
        AidGenerationStats *stats;
        GError *error;
        GCancellable *cancellable;
        gulong cancelled_id;
        gboolean done;
        gboolean cancel_requested;
        gboolean paused; /* until the caller had its chance to connect handlers */
        GQueue pending;  /* of struct event: what arrived while paused */
        GSource *flush;
};

G_DEFINE_FINAL_TYPE(AidGeneration, aid_generation, G_TYPE_OBJECT)

enum {
        GEN_PROP_0,
        GEN_PROP_OBJECT_PATH,
        GEN_PROP_TEXT,
        GEN_PROP_DONE,
        GEN_N_PROPS,
};

enum {
        SIGNAL_TOKEN,
        SIGNAL_FINISHED,
        SIGNAL_FAILED,
        GEN_N_SIGNALS,
};

static GParamSpec *gen_props[GEN_N_PROPS];
static guint gen_signals[GEN_N_SIGNALS];

struct event {
        char *member; /* Token, Finished, Failed */
        GVariant *parameters;
};

static void event_free(struct event *ev)
{
        g_free(ev->member);
        g_variant_unref(ev->parameters);
        g_free(ev);
}

static struct event *event_new(const char *member, GVariant *parameters)
{
        struct event *ev = g_new(struct event, 1);

        ev->member = g_strdup(member);
        ev->parameters = g_variant_ref(parameters);
        return ev;
}

static void aid_generation_dispose(GObject *object)
{
        AidGeneration *self = AID_GENERATION(object);

        if (self->flush) {
                g_source_destroy(self->flush);
                g_clear_pointer(&self->flush, g_source_unref);
        }
        if (self->cancellable && self->cancelled_id)
                g_cancellable_disconnect(self->cancellable, self->cancelled_id);
        self->cancelled_id = 0;
        g_clear_object(&self->cancellable);
        g_queue_clear_full(&self->pending, (GDestroyNotify)event_free);
        g_clear_object(&self->client);
        G_OBJECT_CLASS(aid_generation_parent_class)->dispose(object);
}

static void aid_generation_finalize(GObject *object)
{
        AidGeneration *self = AID_GENERATION(object);

        g_free(self->path);
        g_string_free(self->text, TRUE);
        aid_generation_stats_free(self->stats);
        g_clear_error(&self->error);
        g_main_context_unref(self->context);
        G_OBJECT_CLASS(aid_generation_parent_class)->finalize(object);
}

static void aid_generation_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
        AidGeneration *self = AID_GENERATION(object);

        switch (prop_id) {
        case GEN_PROP_OBJECT_PATH:
                g_value_set_string(value, self->path);
                break;
        case GEN_PROP_TEXT:
                g_value_set_string(value, self->text->str);
                break;
        case GEN_PROP_DONE:
                g_value_set_boolean(value, self->done);
                break;
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
        }
}

static void aid_generation_class_init(AidGenerationClass *klass)
{
        GObjectClass *object_class = G_OBJECT_CLASS(klass);

        object_class->dispose = aid_generation_dispose;
        object_class->finalize = aid_generation_finalize;
        object_class->get_property = aid_generation_get_property;

        /**
         * AidGeneration:object-path:
         *
         * The D-Bus object path of the request in the daemon.
         */
        gen_props[GEN_PROP_OBJECT_PATH] = g_param_spec_string("object-path", NULL,
                        "The request's object path", NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
        /**
         * AidGeneration:text:
         *
         * The text generated so far.
         */
        gen_props[GEN_PROP_TEXT] = g_param_spec_string("text", NULL, "The text generated so far", "",
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
        /**
         * AidGeneration:done:
         *
         * Whether the generation has ended (finished or failed).
         */
        gen_props[GEN_PROP_DONE] = g_param_spec_boolean("done", NULL, "Whether the generation has ended",
                        FALSE, G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
        g_object_class_install_properties(object_class, GEN_N_PROPS, gen_props);

        /**
         * AidGeneration::token:
         * @generation: the #AidGeneration
         * @text: the next piece of text: whole UTF-8 characters, maybe several tokens' worth
         *
         * The next piece of the generated text. Concatenated, the pieces are the whole text.
         */
        gen_signals[SIGNAL_TOKEN] = g_signal_new("token", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                        NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
        /**
         * AidGeneration::finished:
         * @generation: the #AidGeneration
         * @stats: what the daemon reports about the generation
         *
         * The generation ended normally (finish_reason says why: "eos", "stop", "length",
         * "context"). No other signal follows.
         */
        gen_signals[SIGNAL_FINISHED] = g_signal_new("finished", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                        0, NULL, NULL, NULL, G_TYPE_NONE, 1, AID_TYPE_GENERATION_STATS);
        /**
         * AidGeneration::failed:
         * @generation: the #AidGeneration
         * @error: why: %G_IO_ERROR_CANCELLED when this client cancelled it, an %AID_ERROR
         *   code when the daemon failed it
         *
         * The generation ended with an error; the text so far stays in #AidGeneration:text.
         * No other signal follows.
         */
        gen_signals[SIGNAL_FAILED] = g_signal_new("failed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                        NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void aid_generation_init(AidGeneration *self)
{
        self->text = g_string_new(NULL);
        self->paused = TRUE;
        self->context = g_main_context_ref_thread_default();
        g_queue_init(&self->pending);
}

/**
 * aid_generation_get_object_path:
 * @generation: an #AidGeneration
 *
 * Returns: the D-Bus object path of the request
 */
const char *aid_generation_get_object_path(AidGeneration *generation)
{
        g_return_val_if_fail(AID_IS_GENERATION(generation), NULL);
        return generation->path;
}

/**
 * aid_generation_get_text:
 * @generation: an #AidGeneration
 *
 * Returns: the text generated so far (all of it once #AidGeneration::finished was emitted)
 */
const char *aid_generation_get_text(AidGeneration *generation)
{
        g_return_val_if_fail(AID_IS_GENERATION(generation), NULL);
        return generation->text->str;
}

/**
 * aid_generation_is_done:
 * @generation: an #AidGeneration
 *
 * Returns: %TRUE once the generation finished or failed
 */
gboolean aid_generation_is_done(AidGeneration *generation)
{
        g_return_val_if_fail(AID_IS_GENERATION(generation), FALSE);
        return generation->done;
}

/**
 * aid_generation_get_stats:
 * @generation: an #AidGeneration
 *
 * Returns: (nullable) (transfer none): the stats once #AidGeneration::finished was emitted,
 *   else %NULL
 */
const AidGenerationStats *aid_generation_get_stats(AidGeneration *generation)
{
        g_return_val_if_fail(AID_IS_GENERATION(generation), NULL);
        return generation->stats;
}

/**
 * aid_generation_get_error:
 * @generation: an #AidGeneration
 *
 * Returns: (nullable) (transfer none): the error once #AidGeneration::failed was emitted,
 *   else %NULL
 */
const GError *aid_generation_get_error(AidGeneration *generation)
{
        g_return_val_if_fail(AID_IS_GENERATION(generation), NULL);
        return generation->error;
}

/* Routes the Request signals of one client's connection to its generations, by object path.
 * It subscribes before the first request is started: the daemon may send a Token before its
 * reply to StartGeneration is read, and such signals wait here for their generation. */
struct router {
        AidClient *client; /* owns the router */
        GDBusConnection *connection;
        guint subscription;
        guint name_watch;
        GHashTable *generations; /* path -> AidGeneration (strong, until it ends) */
        GHashTable *early;       /* path -> GPtrArray of struct event, for unknown paths */
        guint n_pending;         /* calls whose reply (the request path) has not come yet */
};

#define ROUTER_KEY "aid-request-router"

static void generation_end(AidGeneration *self);

static void router_free(struct router *r)
{
        if (r->subscription)
                g_dbus_connection_signal_unsubscribe(r->connection, r->subscription);
        if (r->name_watch)
                g_bus_unwatch_name(r->name_watch);
        g_hash_table_unref(r->generations);
        g_hash_table_unref(r->early);
        g_object_unref(r->connection);
        g_free(r);
}

static void generation_deliver(AidGeneration *self, const char *member, GVariant *parameters);

static void on_request_signal(GDBusConnection *connection, const char *sender, const char *path,
                const char *interface, const char *member, GVariant *parameters, gpointer user_data)
{
        struct router *r = user_data;
        AidGeneration *gen = g_hash_table_lookup(r->generations, path);
        GPtrArray *early;

        if (gen) {
                generation_deliver(gen, member, parameters);
                return;
        }
        if (r->n_pending == 0)
                return; /* nobody of ours waits for it */
        early = g_hash_table_lookup(r->early, path);
        if (!early) {
                early = g_ptr_array_new_with_free_func((GDestroyNotify)event_free);
                g_hash_table_insert(r->early, g_strdup(path), early);
        }
        g_ptr_array_add(early, event_new(member, parameters));
}

/* aid left the bus (stopped, crashed): its requests are gone and will send nothing more. */
static void on_daemon_vanished(GDBusConnection *connection, const char *name, gpointer user_data)
{
        struct router *r = user_data;
        g_autoptr(GList) gens = g_hash_table_get_values(r->generations);

        for (GList *l = gens; l; l = l->next) {
                AidGeneration *gen = l->data;
                g_autoptr(GVariant) failed =
                                g_variant_ref_sink(g_variant_new("(ss)", "", "aid left the bus"));
                generation_deliver(gen, "Failed", failed);
        }
}

static struct router *router_get(AidClient *client)
{
        struct router *r = g_object_get_data(G_OBJECT(client), ROUTER_KEY);

        if (r)
                return r;
        r = g_new0(struct router, 1);
        r->client = client;
        r->connection = g_object_ref(aid_client_get_connection(client));
        r->generations = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
        r->early = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
        r->subscription = g_dbus_connection_signal_subscribe(r->connection, aid_dbus_bus_name,
                        AID_INTERNAL_REQUEST_INTERFACE, NULL, NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                        on_request_signal, r, NULL);
        r->name_watch = g_bus_watch_name_on_connection(r->connection, aid_dbus_bus_name,
                        G_BUS_NAME_WATCHER_FLAGS_NONE, NULL, on_daemon_vanished, r, NULL);
        g_object_set_data_full(G_OBJECT(client), ROUTER_KEY, r, (GDestroyNotify)router_free);
        return r;
}

static void router_add(struct router *r, AidGeneration *gen)
{
        GPtrArray *early = NULL;
        g_autofree char *key = NULL;

        if (g_hash_table_steal_extended(r->early, gen->path, (gpointer *)&key, (gpointer *)&early)) {
                for (guint i = 0; i < early->len; i++) {
                        struct event *ev = early->pdata[i];
                        g_queue_push_tail(&gen->pending, event_new(ev->member, ev->parameters));
                }
                g_ptr_array_unref(early);
        }
        g_hash_table_insert(r->generations, g_strdup(gen->path), g_object_ref(gen));
}

static void router_call_done(struct router *r)
{
        r->n_pending--;
        if (r->n_pending == 0)
                g_hash_table_remove_all(r->early);
}

/* The router's reference goes last: the generation may be freed right here. */
static void generation_end(AidGeneration *self)
{
        struct router *r = g_object_get_data(G_OBJECT(self->client), ROUTER_KEY);

        if (self->cancellable && self->cancelled_id) {
                g_cancellable_disconnect(self->cancellable, self->cancelled_id);
                self->cancelled_id = 0;
        }
        if (r)
                g_hash_table_remove(r->generations, self->path);
}

static void generation_dispatch(AidGeneration *self, const char *member, GVariant *parameters)
{
        if (self->done)
                return;
        /* generation_end() drops the router's reference, maybe the last one */
        g_object_ref(self);
        if (g_str_equal(member, "Token") && g_variant_is_of_type(parameters, G_VARIANT_TYPE("(s)"))) {
                const char *text;

                g_variant_get(parameters, "(&s)", &text);
                g_string_append(self->text, text);
                g_signal_emit(self, gen_signals[SIGNAL_TOKEN], 0, text);
        } else if (g_str_equal(member, "Finished") &&
                        g_variant_is_of_type(parameters, G_VARIANT_TYPE("(a{sv})"))) {
                g_autoptr(GVariant) dict = g_variant_get_child_value(parameters, 0);

                self->stats = aid_generation_stats_new_from_variant(dict);
                self->done = TRUE;
                g_object_notify_by_pspec(G_OBJECT(self), gen_props[GEN_PROP_DONE]);
                g_signal_emit(self, gen_signals[SIGNAL_FINISHED], 0, self->stats);
                generation_end(self);
        } else if (g_str_equal(member, "Failed") &&
                        g_variant_is_of_type(parameters, G_VARIANT_TYPE("(ss)"))) {
                const char *name, *message;

                g_variant_get(parameters, "(&s&s)", &name, &message);
                if (self->cancel_requested && g_str_equal(name, aid_dbus_error_names[AID_ERROR_CANCELLED]))
                        self->error = g_error_new_literal(
                                        G_IO_ERROR, G_IO_ERROR_CANCELLED, "Generation cancelled");
                else if (name[0] == '\0')
                        self->error = g_error_new_literal(AID_ERROR, AID_ERROR_DAEMON_NOT_RUNNING, message);
                else
                        self->error = aid_internal_error_from_dbus(name, message);
                self->done = TRUE;
                g_object_notify_by_pspec(G_OBJECT(self), gen_props[GEN_PROP_DONE]);
                g_signal_emit(self, gen_signals[SIGNAL_FAILED], 0, self->error);
                generation_end(self);
        }
        g_object_unref(self);
}

static void generation_deliver(AidGeneration *self, const char *member, GVariant *parameters)
{
        if (self->paused || !g_queue_is_empty(&self->pending)) {
                g_queue_push_tail(&self->pending, event_new(member, parameters));
                return;
        }
        generation_dispatch(self, member, parameters);
}

static gboolean on_flush(gpointer user_data)
{
        AidGeneration *self = user_data;
        struct event *ev;

        g_clear_pointer(&self->flush, g_source_unref);
        self->paused = FALSE;
        g_object_ref(self);
        while ((ev = g_queue_pop_head(&self->pending))) {
                generation_dispatch(self, ev->member, ev->parameters);
                event_free(ev);
        }
        g_object_unref(self);
        return G_SOURCE_REMOVE;
}

/* Signals start flowing once the main context runs again: after the caller connected. */
static void generation_unpause(AidGeneration *self)
{
        if (!self->paused || self->flush)
                return;
        self->flush = g_idle_source_new();
        g_source_set_priority(self->flush, G_PRIORITY_DEFAULT);
        g_source_set_callback(self->flush, on_flush, self, NULL);
        g_source_attach(self->flush, self->context);
}

static void on_cancel_reply(GObject *source, GAsyncResult *result, gpointer user_data)
{
        GVariant *reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, NULL);

        /* An error means the request had already ended: its Finished or Failed is on its way
         * (or came), and that is what the caller sees. */
        if (reply)
                g_variant_unref(reply);
        g_object_unref(user_data);
}

/**
 * aid_generation_cancel:
 * @generation: an #AidGeneration
 *
 * Asks the daemon to stop the generation. #AidGeneration::failed with
 * %G_IO_ERROR_CANCELLED follows, unless it had already finished. Does nothing once the
 * generation has ended.
 */
void aid_generation_cancel(AidGeneration *generation)
{
        g_return_if_fail(AID_IS_GENERATION(generation));

        if (generation->done || generation->cancel_requested)
                return;
        generation->cancel_requested = TRUE;
        g_dbus_connection_call(aid_client_get_connection(generation->client), aid_dbus_bus_name,
                        generation->path, AID_INTERNAL_REQUEST_INTERFACE, "Cancel", NULL, NULL,
                        G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, on_cancel_reply,
                        g_object_ref(generation));
}

static gboolean cancel_in_context(gpointer user_data)
{
        aid_generation_cancel(user_data);
        return G_SOURCE_REMOVE;
}

/* May run in the thread that cancelled: the generation lives in its own context. */
static void on_cancellable_cancelled(GCancellable *cancellable, gpointer user_data)
{
        AidGeneration *self = user_data;

        g_main_context_invoke_full(self->context, G_PRIORITY_DEFAULT, cancel_in_context, g_object_ref(self),
                        g_object_unref);
}

static AidGeneration *generation_new(AidClient *client, const char *path, GCancellable *cancellable)
{
        AidGeneration *self = g_object_new(AID_TYPE_GENERATION, NULL);

        self->client = g_object_ref(client);
        self->path = g_strdup(path);
        if (cancellable) {
                self->cancellable = g_object_ref(cancellable);
                self->cancelled_id = g_cancellable_connect(
                                cancellable, G_CALLBACK(on_cancellable_cancelled), self, NULL);
        }
        return self;
}

struct start_data {
        AidClient *client;
        GCancellable *cancellable; /* for the request's life, not the call's */
};

static void start_data_free(struct start_data *d)
{
        g_object_unref(d->client);
        g_clear_object(&d->cancellable);
        g_free(d);
}

static void on_start_reply(GObject *source, GAsyncResult *result, gpointer user_data)
{
        g_autoptr(GTask) task = user_data;
        struct start_data *d = g_task_get_task_data(task);
        struct router *r = router_get(d->client);
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(AidGeneration) gen = NULL;
        GError *e = NULL;
        const char *path;

        reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &e);
        if (!reply) {
                router_call_done(r);
                g_task_return_error(task, aid_internal_call_error(d->client, e));
                return;
        }
        g_variant_get(reply, "(&o)", &path);
        gen = generation_new(d->client, path, d->cancellable);
        router_add(r, gen);
        router_call_done(r);

        /* Cancelled while the call was on its way: the request exists in the daemon, so it
         * is cancelled there too (generation_new() did that through the cancellable). */
        if (d->cancellable && g_cancellable_is_cancelled(d->cancellable)) {
                generation_unpause(gen);
                g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Generation cancelled");
                return;
        }
        g_task_return_pointer(task, g_steal_pointer(&gen), g_object_unref);
}

void aid_internal_start_request(AidClient *client, gpointer source_object, gpointer source_tag,
                const char *path, const char *interface, const char *method, GVariant *args,
                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
        struct router *r = router_get(client);
        struct start_data *d = g_new0(struct start_data, 1);
        GTask *task;

        /* Not the task's cancellable: cancelling must reach the request once it exists, and
         * dropping the call's reply would leave it running in the daemon. */
        task = g_task_new(source_object, NULL, callback, user_data);
        g_task_set_source_tag(task, source_tag);
        d->client = g_object_ref(client);
        d->cancellable = cancellable ? g_object_ref(cancellable) : NULL;
        g_task_set_task_data(task, d, (GDestroyNotify)start_data_free);

        r->n_pending++;
        g_dbus_connection_call(aid_client_get_connection(client), aid_dbus_bus_name, path, interface, method,
                        args, G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, on_start_reply, task);
}

AidGeneration *aid_internal_start_request_finish(
                gpointer source_object, GAsyncResult *result, gpointer source_tag, GError **error)
{
        AidGeneration *gen;

        g_return_val_if_fail(g_task_is_valid(result, source_object), NULL);
        g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == source_tag, NULL);

        gen = g_task_propagate_pointer(G_TASK(result), error);
        if (gen)
                generation_unpause(gen);
        return gen;
}

/**
 * aid_client_start_generation:
 * @client: an #AidClient
 * @prompt: the text to continue (non-empty, UTF-8)
 * @options: (nullable): how to generate, or %NULL for the daemon's defaults
 * @cancellable: (nullable): cancels the generation (not just this call) for as long as it runs
 * @callback: (scope async): called once the daemon has accepted or refused the request
 * @user_data: (closure): data for @callback
 *
 * Starts a generation whose text streams back through the #AidGeneration that
 * aid_client_start_generation_finish() returns. The daemon checks the caller's right to use
 * text generation and the arguments first (%AID_ERROR_PERMISSION_DENIED,
 * %AID_ERROR_INVALID_ARGUMENT, %AID_ERROR_TOO_LARGE, %AID_ERROR_NO_SUCH_MODEL, ...).
 */
void aid_client_start_generation(AidClient *client, const char *prompt, AidGenerateOptions *options,
                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
        g_return_if_fail(AID_IS_CLIENT(client));
        g_return_if_fail(prompt != NULL);
        g_return_if_fail(!options || AID_IS_GENERATE_OPTIONS(options));

        if (!g_utf8_validate(prompt, -1, NULL)) {
                g_task_report_new_error(client, callback, user_data, aid_client_start_generation, AID_ERROR,
                                AID_ERROR_INVALID_ARGUMENT, "The prompt is not valid UTF-8");
                return;
        }
        aid_internal_start_request(client, client, aid_client_start_generation, aid_dbus_object_path,
                        AID_INTERNAL_TEXT_INTERFACE, "StartGeneration",
                        g_variant_new("(s@a{sv})", prompt, aid_generate_options_to_variant(options)),
                        cancellable, callback, user_data);
}

/**
 * aid_client_start_generation_finish:
 * @client: an #AidClient
 * @result: the #GAsyncResult passed to the callback
 * @error: return location for an error
 *
 * Returns: (transfer full): the running generation, or %NULL with @error set; connect to its
 *   signals before returning to the main loop
 */
AidGeneration *aid_client_start_generation_finish(AidClient *client, GAsyncResult *result, GError **error)
{
        return aid_internal_start_request_finish(client, result, aid_client_start_generation, error);
}

/**
 * aid_client_generate_sync:
 * @client: an #AidClient
 * @prompt: the text to continue (non-empty, UTF-8)
 * @options: (nullable): how to generate, or %NULL for the daemon's defaults
 * @out_stats: (out) (optional) (transfer full): the stats of the generation
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for an error
 *
 * Generates text and returns it whole, blocking (the D-Bus method Generate). Cancelling
 * @cancellable stops the wait, not the daemon's work, which Generate cannot address: use
 * aid_client_generate() or aid_client_start_generation() to stop the work itself.
 *
 * Returns: (transfer full): the generated text, or %NULL with @error set
 */
char *aid_client_generate_sync(AidClient *client, const char *prompt, AidGenerateOptions *options,
                AidGenerationStats **out_stats, GCancellable *cancellable, GError **error)
{
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariant) stats = NULL;
        GError *e = NULL;
        char *text;

        g_return_val_if_fail(AID_IS_CLIENT(client), NULL);
        g_return_val_if_fail(prompt != NULL, NULL);
        g_return_val_if_fail(!options || AID_IS_GENERATE_OPTIONS(options), NULL);
        g_return_val_if_fail(!error || !*error, NULL);

        if (!g_utf8_validate(prompt, -1, NULL)) {
                g_set_error_literal(error, AID_ERROR, AID_ERROR_INVALID_ARGUMENT,
                                "The prompt is not valid UTF-8");
                return NULL;
        }
        reply = g_dbus_connection_call_sync(aid_client_get_connection(client), aid_dbus_bus_name,
                        aid_dbus_object_path, AID_INTERNAL_TEXT_INTERFACE, "Generate",
                        g_variant_new("(s@a{sv})", prompt, aid_generate_options_to_variant(options)),
                        G_VARIANT_TYPE("(sa{sv})"), G_DBUS_CALL_FLAGS_NONE, AID_INTERNAL_NO_TIMEOUT,
                        cancellable, &e);
        if (!reply) {
                g_propagate_error(error, aid_internal_call_error(client, e));
                return NULL;
        }
        g_variant_get(reply, "(s@a{sv})", &text, &stats);
        if (out_stats)
                *out_stats = aid_generation_stats_new_from_variant(stats);
        return text;
}

static void on_generate_finished(AidGeneration *gen, AidGenerationStats *stats, gpointer user_data)
{
        g_autoptr(GTask) task = user_data;

        g_signal_handlers_disconnect_by_data(gen, task);
        g_task_set_task_data(
                        task, aid_generation_stats_copy(stats), (GDestroyNotify)aid_generation_stats_free);
        g_task_return_pointer(task, g_strdup(aid_generation_get_text(gen)), g_free);
}

static void on_generate_failed(AidGeneration *gen, const GError *error, gpointer user_data)
{
        g_autoptr(GTask) task = user_data;

        g_signal_handlers_disconnect_by_data(gen, task);
        g_task_return_error(task, g_error_copy(error));
}

static void on_generate_started(GObject *source, GAsyncResult *result, gpointer user_data)
{
        GTask *task = user_data;
        GError *e = NULL;
        AidGeneration *gen;

        gen = aid_internal_start_request_finish(source, result, on_generate_started, &e);
        if (!gen) {
                g_task_return_error(task, e);
                g_object_unref(task);
                return;
        }
        /* The task's one reference goes with whichever of the two signals comes. */
        g_signal_connect(gen, "finished", G_CALLBACK(on_generate_finished), task);
        g_signal_connect(gen, "failed", G_CALLBACK(on_generate_failed), task);
        g_object_unref(gen);
}

/**
 * aid_client_generate:
 * @client: an #AidClient
 * @prompt: the text to continue (non-empty, UTF-8)
 * @options: (nullable): how to generate, or %NULL for the daemon's defaults
 * @cancellable: (nullable): a #GCancellable; cancelling it stops the generation in the daemon
 * @callback: (scope async): called with the whole text, or the error
 * @user_data: (closure): data for @callback
 *
 * Generates text and delivers it whole. Call aid_client_generate_finish() in @callback. When
 * @cancellable is cancelled, the daemon stops generating and the result is
 * %G_IO_ERROR_CANCELLED.
 */
void aid_client_generate(AidClient *client, const char *prompt, AidGenerateOptions *options,
                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
        GTask *task;

        g_return_if_fail(AID_IS_CLIENT(client));
        g_return_if_fail(prompt != NULL);
        g_return_if_fail(!options || AID_IS_GENERATE_OPTIONS(options));

        task = g_task_new(client, NULL, callback, user_data);
        g_task_set_source_tag(task, aid_client_generate);
        if (!g_utf8_validate(prompt, -1, NULL)) {
                g_task_return_new_error(task, AID_ERROR, AID_ERROR_INVALID_ARGUMENT,
                                "The prompt is not valid UTF-8");
                g_object_unref(task);
                return;
        }
        aid_internal_start_request(client, client, on_generate_started, aid_dbus_object_path,
                        AID_INTERNAL_TEXT_INTERFACE, "StartGeneration",
                        g_variant_new("(s@a{sv})", prompt, aid_generate_options_to_variant(options)),
                        cancellable, on_generate_started, task);
}

/**
 * aid_client_generate_finish:
 * @client: an #AidClient
 * @result: the #GAsyncResult passed to the callback
 * @out_stats: (out) (optional) (transfer full): the stats of the generation
 * @error: return location for an error
 *
 * Returns: (transfer full): the generated text, or %NULL with @error set
 */
char *aid_client_generate_finish(
                AidClient *client, GAsyncResult *result, AidGenerationStats **out_stats, GError **error)
{
        char *text;

        g_return_val_if_fail(g_task_is_valid(result, client), NULL);
        g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == aid_client_generate, NULL);

        text = g_task_propagate_pointer(G_TASK(result), error);
        if (text && out_stats)
                *out_stats = aid_generation_stats_copy(g_task_get_task_data(G_TASK(result)));
        return text;
}
