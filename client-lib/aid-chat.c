/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "aid-dbus-names.h"
#include "aid-internal.h"

/**
 * AidChat:
 *
 * A conversation with aid's language model that keeps its context between turns: the daemon
 * formats the turns with the model's chat template and reuses what it computed for the earlier
 * ones, so a new turn costs only its own tokens. Create one with aid_client_create_chat(),
 * send turns with aid_chat_send(), and close it with aid_chat_close() (dropping the last
 * reference closes it too).
 *
 * When the conversation outgrows the context, the daemon drops the oldest turns after the
 * system prompt and #AidChat::context-overflow says how many.
 */
struct _AidChat {
        GObject parent_instance;

        AidClient *client;
        GDBusConnection *connection;
        char *path;
        guint tokens_used;
        guint context_size;
        char *model;
        guint sub_properties;
        guint sub_overflow;
        gboolean closed;
};

G_DEFINE_FINAL_TYPE(AidChat, aid_chat, G_TYPE_OBJECT)

enum {
        PROP_0,
        PROP_OBJECT_PATH,
        PROP_TOKENS_USED,
        PROP_CONTEXT_SIZE,
        PROP_MODEL,
        N_PROPS,
};

enum {
        SIGNAL_CONTEXT_OVERFLOW,
        N_SIGNALS,
};

static GParamSpec *props[N_PROPS];
static guint signals[N_SIGNALS];

static void aid_chat_dispose(GObject *object)
{
        AidChat *self = AID_CHAT(object);

        if (self->connection) {
                if (self->sub_properties)
                        g_dbus_connection_signal_unsubscribe(self->connection, self->sub_properties);
                if (self->sub_overflow)
                        g_dbus_connection_signal_unsubscribe(self->connection, self->sub_overflow);
                self->sub_properties = self->sub_overflow = 0;
                /* Nobody can use the chat any more: free its context in the daemon now rather
                 * than when this connection leaves the bus. */
                if (!self->closed && self->path)
                        g_dbus_connection_call(self->connection, aid_dbus_bus_name, self->path,
                                        AID_INTERNAL_CHAT_INTERFACE, "Close", NULL, NULL,
                                        G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, NULL, NULL);
                self->closed = TRUE;
        }
        g_clear_object(&self->connection);
        g_clear_object(&self->client);
        G_OBJECT_CLASS(aid_chat_parent_class)->dispose(object);
}

static void aid_chat_finalize(GObject *object)
{
        AidChat *self = AID_CHAT(object);

        g_free(self->path);
        g_free(self->model);
        G_OBJECT_CLASS(aid_chat_parent_class)->finalize(object);
}

static void aid_chat_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
        AidChat *self = AID_CHAT(object);

        switch (prop_id) {
        case PROP_OBJECT_PATH:
                g_value_set_string(value, self->path);
                break;
        case PROP_TOKENS_USED:
                g_value_set_uint(value, self->tokens_used);
                break;
        case PROP_CONTEXT_SIZE:
                g_value_set_uint(value, self->context_size);
                break;
        case PROP_MODEL:
                g_value_set_string(value, self->model);
                break;
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
        }
}

#define RO_FLAGS (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS)

static void aid_chat_class_init(AidChatClass *klass)
{
        GObjectClass *object_class = G_OBJECT_CLASS(klass);

        object_class->dispose = aid_chat_dispose;
        object_class->finalize = aid_chat_finalize;
        object_class->get_property = aid_chat_get_property;

        /**
         * AidChat:object-path:
         *
         * The D-Bus object path of the chat in the daemon.
         */
        props[PROP_OBJECT_PATH] =
                        g_param_spec_string("object-path", NULL, "The chat's object path", NULL, RO_FLAGS);
        /**
         * AidChat:tokens-used:
         *
         * Tokens of the conversation now in the context.
         */
        props[PROP_TOKENS_USED] = g_param_spec_uint(
                        "tokens-used", NULL, "Tokens in the context", 0, G_MAXUINT32, 0, RO_FLAGS);
        /**
         * AidChat:context-size:
         *
         * The most tokens the conversation can hold (0 until the daemon knows: its model is
         * loaded on first use).
         */
        props[PROP_CONTEXT_SIZE] = g_param_spec_uint(
                        "context-size", NULL, "Context size in tokens", 0, G_MAXUINT32, 0, RO_FLAGS);
        /**
         * AidChat:model:
         *
         * The id of the model the chat uses.
         */
        props[PROP_MODEL] = g_param_spec_string("model", NULL, "Model id", NULL, RO_FLAGS);
        g_object_class_install_properties(object_class, N_PROPS, props);

        /**
         * AidChat::context-overflow:
         * @chat: the #AidChat
         * @dropped_turns: how many of the oldest turns were dropped
         *
         * The conversation outgrew the context: the oldest turns after the system prompt were
         * dropped and the model no longer sees them.
         */
        signals[SIGNAL_CONTEXT_OVERFLOW] = g_signal_new("context-overflow", G_TYPE_FROM_CLASS(klass),
                        G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT);
}

static void aid_chat_init(AidChat *self)
{
}

static void chat_update(AidChat *self, GVariant *dict)
{
        guint32 u;
        const char *s;

        g_object_freeze_notify(G_OBJECT(self));
        if (g_variant_lookup(dict, "TokensUsed", "u", &u) && u != self->tokens_used) {
                self->tokens_used = u;
                g_object_notify_by_pspec(G_OBJECT(self), props[PROP_TOKENS_USED]);
        }
        if (g_variant_lookup(dict, "ContextSize", "u", &u) && u != self->context_size) {
                self->context_size = u;
                g_object_notify_by_pspec(G_OBJECT(self), props[PROP_CONTEXT_SIZE]);
        }
        if (g_variant_lookup(dict, "Model", "&s", &s) && g_strcmp0(s, self->model) != 0) {
                g_free(self->model);
                self->model = g_strdup(s);
                g_object_notify_by_pspec(G_OBJECT(self), props[PROP_MODEL]);
        }
        g_object_thaw_notify(G_OBJECT(self));
}

static void on_properties_changed(GDBusConnection *connection, const char *sender, const char *path,
                const char *interface, const char *member, GVariant *parameters, gpointer user_data)
{
        AidChat *self = user_data;
        const char *iface;
        g_autoptr(GVariant) changed = NULL;

        if (!g_variant_is_of_type(parameters, G_VARIANT_TYPE("(sa{sv}as)")))
                return;
        g_variant_get(parameters, "(&s@a{sv}as)", &iface, &changed, NULL);
        if (g_str_equal(iface, AID_INTERNAL_CHAT_INTERFACE))
                chat_update(self, changed);
}

static void on_context_overflow(GDBusConnection *connection, const char *sender, const char *path,
                const char *interface, const char *member, GVariant *parameters, gpointer user_data)
{
        AidChat *self = user_data;
        guint32 dropped;

        if (!g_variant_is_of_type(parameters, G_VARIANT_TYPE("(u)")))
                return;
        g_variant_get(parameters, "(u)", &dropped);
        g_signal_emit(self, signals[SIGNAL_CONTEXT_OVERFLOW], 0, dropped);
}

static AidChat *chat_new(AidClient *client, const char *path)
{
        AidChat *self = g_object_new(AID_TYPE_CHAT, NULL);

        self->client = g_object_ref(client);
        self->connection = g_object_ref(aid_client_get_connection(client));
        self->path = g_strdup(path);
        self->sub_properties = g_dbus_connection_signal_subscribe(self->connection, aid_dbus_bus_name,
                        "org.freedesktop.DBus.Properties", "PropertiesChanged", path,
                        AID_INTERNAL_CHAT_INTERFACE, G_DBUS_SIGNAL_FLAGS_NONE, on_properties_changed, self,
                        NULL);
        self->sub_overflow = g_dbus_connection_signal_subscribe(self->connection, aid_dbus_bus_name,
                        AID_INTERNAL_CHAT_INTERFACE, "ContextOverflow", path, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                        on_context_overflow, self, NULL);
        return self;
}

static GVariant *get_all_args(AidChat *self)
{
        return g_variant_new("(s)", AID_INTERNAL_CHAT_INTERFACE);
}

static void on_get_all(GObject *source, GAsyncResult *result, gpointer user_data)
{
        g_autoptr(AidChat) self = user_data;
        g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, NULL);
        g_autoptr(GVariant) dict = NULL;

        if (!reply)
                return;
        g_variant_get(reply, "(@a{sv})", &dict);
        chat_update(self, dict);
}

static void chat_refresh(AidChat *self)
{
        if (self->closed)
                return;
        g_dbus_connection_call(self->connection, aid_dbus_bus_name, self->path,
                        "org.freedesktop.DBus.Properties", "GetAll", get_all_args(self),
                        G_VARIANT_TYPE("(a{sv})"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, on_get_all,
                        g_object_ref(self));
}

static GVariant *create_args(const char *system_prompt, AidGenerateOptions *options)
{
        g_autoptr(GVariant) initial = g_variant_ref_sink(aid_generate_options_to_variant(options));
        g_auto(GVariantDict) dict;

        g_variant_dict_init(&dict, initial);
        if (system_prompt)
                g_variant_dict_insert(&dict, "system_prompt", "s", system_prompt);
        return g_variant_new("(@a{sv})", g_variant_dict_end(&dict));
}

/**
 * aid_client_create_chat_sync:
 * @client: an #AidClient
 * @system_prompt: (nullable): the system prompt, kept for the whole conversation
 * @options: (nullable): the model and the generation options that the turns use unless a
 *   turn says otherwise
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for an error
 *
 * Starts a conversation, blocking.
 *
 * Returns: (transfer full): the chat, or %NULL with @error set
 */
AidChat *aid_client_create_chat_sync(AidClient *client, const char *system_prompt,
                AidGenerateOptions *options, GCancellable *cancellable, GError **error)
{
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariant) props_reply = NULL;
        g_autoptr(GVariant) dict = NULL;
        GError *e = NULL;
        const char *path;
        AidChat *chat;

        g_return_val_if_fail(AID_IS_CLIENT(client), NULL);
        g_return_val_if_fail(!options || AID_IS_GENERATE_OPTIONS(options), NULL);

        if (system_prompt && !g_utf8_validate(system_prompt, -1, NULL)) {
                g_set_error_literal(error, AID_ERROR, AID_ERROR_INVALID_ARGUMENT,
                                "The system prompt is not valid UTF-8");
                return NULL;
        }
        reply = g_dbus_connection_call_sync(aid_client_get_connection(client), aid_dbus_bus_name,
                        aid_dbus_object_path, AID_INTERNAL_TEXT_INTERFACE, "CreateChat",
                        create_args(system_prompt, options), G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NONE,
                        -1, cancellable, &e);
        if (!reply) {
                g_propagate_error(error, aid_internal_call_error(client, e));
                return NULL;
        }
        g_variant_get(reply, "(&o)", &path);
        chat = chat_new(client, path);
        props_reply = g_dbus_connection_call_sync(chat->connection, aid_dbus_bus_name, path,
                        "org.freedesktop.DBus.Properties", "GetAll", get_all_args(chat),
                        G_VARIANT_TYPE("(a{sv})"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, cancellable, NULL);
        if (props_reply) {
                g_variant_get(props_reply, "(@a{sv})", &dict);
                chat_update(chat, dict);
        }
        return chat;
}

static void on_create_props(GObject *source, GAsyncResult *result, gpointer user_data)
{
        g_autoptr(GTask) task = user_data;
        AidChat *chat = g_task_get_task_data(task);
        g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, NULL);
        g_autoptr(GVariant) dict = NULL;

        if (reply) {
                g_variant_get(reply, "(@a{sv})", &dict);
                chat_update(chat, dict);
        }
        g_task_return_pointer(task, g_object_ref(chat), g_object_unref);
}

static void on_create_reply(GObject *source, GAsyncResult *result, gpointer user_data)
{
        g_autoptr(GTask) task = user_data;
        AidClient *client = g_task_get_source_object(task);
        g_autoptr(GVariant) reply = NULL;
        GError *e = NULL;
        const char *path;
        AidChat *chat;

        reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &e);
        if (!reply) {
                g_task_return_error(task, aid_internal_call_error(client, e));
                return;
        }
        g_variant_get(reply, "(&o)", &path);
        chat = chat_new(client, path);
        g_task_set_task_data(task, chat, g_object_unref);
        g_dbus_connection_call(chat->connection, aid_dbus_bus_name, path, "org.freedesktop.DBus.Properties",
                        "GetAll", get_all_args(chat), G_VARIANT_TYPE("(a{sv})"),
                        G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, on_create_props, g_steal_pointer(&task));
}

/**
 * aid_client_create_chat:
 * @client: an #AidClient
 * @system_prompt: (nullable): the system prompt, kept for the whole conversation
 * @options: (nullable): the model and the generation options that the turns use unless a
 *   turn says otherwise
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the chat or the error
 * @user_data: (closure): data for @callback
 *
 * Starts a conversation. Call aid_client_create_chat_finish() in @callback.
 */
void aid_client_create_chat(AidClient *client, const char *system_prompt, AidGenerateOptions *options,
                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
        GTask *task;

        g_return_if_fail(AID_IS_CLIENT(client));
        g_return_if_fail(!options || AID_IS_GENERATE_OPTIONS(options));

        task = g_task_new(client, cancellable, callback, user_data);
        g_task_set_source_tag(task, aid_client_create_chat);
        g_dbus_connection_call(aid_client_get_connection(client), aid_dbus_bus_name, aid_dbus_object_path,
                        AID_INTERNAL_TEXT_INTERFACE, "CreateChat", create_args(system_prompt, options),
                        G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NONE, -1, cancellable, on_create_reply,
                        task);
}

/**
 * aid_client_create_chat_finish:
 * @client: an #AidClient
 * @result: the #GAsyncResult passed to the callback
 * @error: return location for an error
 *
 * Returns: (transfer full): the chat, or %NULL with @error set
 */
AidChat *aid_client_create_chat_finish(AidClient *client, GAsyncResult *result, GError **error)
{
        g_return_val_if_fail(g_task_is_valid(result, client), NULL);
        g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == aid_client_create_chat, NULL);

        return g_task_propagate_pointer(G_TASK(result), error);
}

/**
 * aid_chat_get_object_path:
 * @chat: an #AidChat
 *
 * Returns: the D-Bus object path of the chat
 */
const char *aid_chat_get_object_path(AidChat *chat)
{
        g_return_val_if_fail(AID_IS_CHAT(chat), NULL);
        return chat->path;
}

/**
 * aid_chat_get_tokens_used:
 * @chat: an #AidChat
 *
 * Returns: the tokens of the conversation now in the context
 */
guint aid_chat_get_tokens_used(AidChat *chat)
{
        g_return_val_if_fail(AID_IS_CHAT(chat), 0);
        return chat->tokens_used;
}

/**
 * aid_chat_get_context_size:
 * @chat: an #AidChat
 *
 * Returns: the most tokens the conversation can hold, 0 while unknown
 */
guint aid_chat_get_context_size(AidChat *chat)
{
        g_return_val_if_fail(AID_IS_CHAT(chat), 0);
        return chat->context_size;
}

/**
 * aid_chat_get_model:
 * @chat: an #AidChat
 *
 * Returns: (nullable): the id of the model the chat uses
 */
const char *aid_chat_get_model(AidChat *chat)
{
        g_return_val_if_fail(AID_IS_CHAT(chat), NULL);
        return chat->model;
}

/**
 * aid_chat_send:
 * @chat: an #AidChat
 * @message: the user's turn (non-empty, UTF-8)
 * @options: (nullable): generation options for this turn, or %NULL for the chat's
 * @cancellable: (nullable): cancels the answer (not just this call) for as long as it runs
 * @callback: (scope async): called once the daemon has accepted or refused the turn
 * @user_data: (closure): data for @callback
 *
 * Adds a user turn and starts the assistant's answer, which streams through the
 * #AidGeneration that aid_chat_send_finish() returns. The answer becomes part of the
 * conversation when it finishes. One turn at a time.
 */
void aid_chat_send(AidChat *chat, const char *message, AidGenerateOptions *options,
                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
        g_return_if_fail(AID_IS_CHAT(chat));
        g_return_if_fail(message != NULL);
        g_return_if_fail(!options || AID_IS_GENERATE_OPTIONS(options));

        if (!g_utf8_validate(message, -1, NULL)) {
                g_task_report_new_error(chat, callback, user_data, aid_chat_send, AID_ERROR,
                                AID_ERROR_INVALID_ARGUMENT, "The message is not valid UTF-8");
                return;
        }
        aid_internal_start_request(chat->client, chat, aid_chat_send, chat->path,
                        AID_INTERNAL_CHAT_INTERFACE, "Send",
                        g_variant_new("(s@a{sv})", message, aid_generate_options_to_variant(options)),
                        cancellable, callback, user_data);
}

/**
 * aid_chat_send_finish:
 * @chat: an #AidChat
 * @result: the #GAsyncResult passed to the callback
 * @error: return location for an error
 *
 * Returns: (transfer full): the assistant's answer as it is generated, or %NULL with @error
 *   set; connect to its signals before returning to the main loop
 */
AidGeneration *aid_chat_send_finish(AidChat *chat, GAsyncResult *result, GError **error)
{
        AidGeneration *gen = aid_internal_start_request_finish(chat, result, aid_chat_send, error);

        /* The context size is known once the model is loaded, the tokens once the turn ends. */
        if (gen)
                g_signal_connect_object(
                                gen, "notify::done", G_CALLBACK(chat_refresh), chat, G_CONNECT_SWAPPED);
        return gen;
}

static gboolean chat_call_sync(AidChat *chat, const char *method, GCancellable *cancellable, GError **error)
{
        g_autoptr(GVariant) reply = NULL;
        GError *e = NULL;

        reply = g_dbus_connection_call_sync(chat->connection, aid_dbus_bus_name, chat->path,
                        AID_INTERNAL_CHAT_INTERFACE, method, NULL, NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START, -1,
                        cancellable, &e);
        if (!reply) {
                g_propagate_error(error, aid_internal_call_error(chat->client, e));
                return FALSE;
        }
        return TRUE;
}

static void on_chat_call(GObject *source, GAsyncResult *result, gpointer user_data)
{
        g_autoptr(GTask) task = user_data;
        AidChat *chat = g_task_get_source_object(task);
        g_autoptr(GVariant) reply = NULL;
        GError *e = NULL;

        reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &e);
        if (!reply) {
                g_task_return_error(task, aid_internal_call_error(chat->client, e));
                return;
        }
        if (g_task_get_source_tag(task) == aid_chat_close)
                chat->closed = TRUE;
        else
                chat_refresh(chat);
        g_task_return_boolean(task, TRUE);
}

static void chat_call(AidChat *chat, gpointer tag, const char *method, GCancellable *cancellable,
                GAsyncReadyCallback callback, gpointer user_data)
{
        GTask *task = g_task_new(chat, cancellable, callback, user_data);

        g_task_set_source_tag(task, tag);
        g_dbus_connection_call(chat->connection, aid_dbus_bus_name, chat->path, AID_INTERNAL_CHAT_INTERFACE,
                        method, NULL, NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, cancellable, on_chat_call,
                        task);
}

static gboolean chat_call_finish(AidChat *chat, GAsyncResult *result, gpointer tag, GError **error)
{
        g_return_val_if_fail(g_task_is_valid(result, chat), FALSE);
        g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == tag, FALSE);

        return g_task_propagate_boolean(G_TASK(result), error);
}

/**
 * aid_chat_reset_sync:
 * @chat: an #AidChat
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for an error
 *
 * Forgets every turn but the system prompt, blocking.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean aid_chat_reset_sync(AidChat *chat, GCancellable *cancellable, GError **error)
{
        g_return_val_if_fail(AID_IS_CHAT(chat), FALSE);

        if (!chat_call_sync(chat, "Reset", cancellable, error))
                return FALSE;
        chat_refresh(chat);
        return TRUE;
}

/**
 * aid_chat_reset:
 * @chat: an #AidChat
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: (closure): data for @callback
 *
 * Forgets every turn but the system prompt. Call aid_chat_reset_finish() in @callback.
 */
void aid_chat_reset(
                AidChat *chat, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
        g_return_if_fail(AID_IS_CHAT(chat));
        chat_call(chat, aid_chat_reset, "Reset", cancellable, callback, user_data);
}

/**
 * aid_chat_reset_finish:
 * @chat: an #AidChat
 * @result: the #GAsyncResult passed to the callback
 * @error: return location for an error
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean aid_chat_reset_finish(AidChat *chat, GAsyncResult *result, GError **error)
{
        return chat_call_finish(chat, result, aid_chat_reset, error);
}

/**
 * aid_chat_close_sync:
 * @chat: an #AidChat
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for an error
 *
 * Ends the conversation and frees its context in the daemon, blocking.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean aid_chat_close_sync(AidChat *chat, GCancellable *cancellable, GError **error)
{
        g_return_val_if_fail(AID_IS_CHAT(chat), FALSE);

        if (!chat_call_sync(chat, "Close", cancellable, error))
                return FALSE;
        chat->closed = TRUE;
        return TRUE;
}

/**
 * aid_chat_close:
 * @chat: an #AidChat
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: (closure): data for @callback
 *
 * Ends the conversation and frees its context in the daemon. Call aid_chat_close_finish() in
 * @callback.
 */
void aid_chat_close(
                AidChat *chat, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
        g_return_if_fail(AID_IS_CHAT(chat));
        chat_call(chat, aid_chat_close, "Close", cancellable, callback, user_data);
}

/**
 * aid_chat_close_finish:
 * @chat: an #AidChat
 * @result: the #GAsyncResult passed to the callback
 * @error: return location for an error
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean aid_chat_close_finish(AidChat *chat, GAsyncResult *result, GError **error)
{
        return chat_call_finish(chat, result, aid_chat_close, error);
}
