/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "aid-dbus-names.h"
#include "aid-internal.h"
#include "aid/aid.h"

/**
 * AidClient:
 *
 * A connection to aid, the on-device AI service, on the session bus, the system bus or a
 * bus given by address. Create one with aid_client_new() (or aid_client_new_sync()); it
 * fails with %AID_ERROR_DAEMON_NOT_RUNNING when nobody owns org.aid.Daemon1 and the bus
 * cannot start it, and with %AID_ERROR_BUS_UNREACHABLE when the bus itself is not there.
 *
 * Signals are delivered in the thread-default main context of the thread that created the
 * client.
 */
struct _AidClient {
        GObject parent_instance;

        GDBusConnection *connection;
        GDBusProxy *proxy;
        char *bus_description; /* "the session bus", "the bus at unix:path=..." */
        char *start_hint;      /* how to start aid there */
};

G_DEFINE_FINAL_TYPE(AidClient, aid_client, G_TYPE_OBJECT)
G_DEFINE_ENUM_TYPE(AidBusType, aid_bus_type, G_DEFINE_ENUM_VALUE(AID_BUS_USER, "user"),
                G_DEFINE_ENUM_VALUE(AID_BUS_SYSTEM, "system"))

enum {
        PROP_0,
        PROP_CONNECTION,
        PROP_VERSION,
        PROP_BUS_MODE,
        N_PROPS,
};

enum {
        SIGNAL_MODELS_CHANGED,
        SIGNAL_MODEL_STATES_CHANGED,
        N_SIGNALS,
};

static GParamSpec *props[N_PROPS];
static guint signals[N_SIGNALS];

/* A rescan reads every model header again: allow it more than the default 25 s. */
#define RESCAN_TIMEOUT_MSEC (5 * 60 * 1000)

static void aid_client_dispose(GObject *object)
{
        AidClient *self = AID_CLIENT(object);

        if (self->proxy)
                g_signal_handlers_disconnect_by_data(self->proxy, self);
        g_clear_object(&self->proxy);
        g_clear_object(&self->connection);

        G_OBJECT_CLASS(aid_client_parent_class)->dispose(object);
}

static void aid_client_finalize(GObject *object)
{
        AidClient *self = AID_CLIENT(object);

        g_free(self->bus_description);
        g_free(self->start_hint);

        G_OBJECT_CLASS(aid_client_parent_class)->finalize(object);
}

static void aid_client_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
        AidClient *self = AID_CLIENT(object);

        switch (prop_id) {
        case PROP_CONNECTION:
                g_value_set_object(value, self->connection);
                break;
        case PROP_VERSION:
                g_value_set_string(value, aid_client_get_version(self));
                break;
        case PROP_BUS_MODE:
                g_value_set_string(value, aid_client_get_bus_mode(self));
                break;
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
        }
}

static void aid_client_class_init(AidClientClass *klass)
{
        GObjectClass *object_class = G_OBJECT_CLASS(klass);

        object_class->dispose = aid_client_dispose;
        object_class->finalize = aid_client_finalize;
        object_class->get_property = aid_client_get_property;

        /**
         * AidClient:connection:
         *
         * The bus connection the client talks to aid on.
         */
        props[PROP_CONNECTION] = g_param_spec_object("connection", NULL, "The bus connection",
                        G_TYPE_DBUS_CONNECTION, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
        /**
         * AidClient:version:
         *
         * The daemon's version, e.g. "0.1.0".
         */
        props[PROP_VERSION] = g_param_spec_string("version", NULL, "The daemon's version", NULL,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
        /**
         * AidClient:bus-mode:
         *
         * How the daemon runs: "user" (session bus), "system" or "address" (a private bus).
         */
        props[PROP_BUS_MODE] = g_param_spec_string("bus-mode", NULL, "How the daemon runs", NULL,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
        g_object_class_install_properties(object_class, N_PROPS, props);

        /**
         * AidClient::models-changed:
         * @client: the #AidClient
         * @n_models: how many models the daemon knows now
         *
         * The daemon's model registry changed (a rescan found a different set of models). Call
         * aid_client_list_models() for the new list; aid_client_get_default_models() already
         * returns the new defaults when this is emitted.
         */
        signals[SIGNAL_MODELS_CHANGED] = g_signal_new("models-changed", G_TYPE_FROM_CLASS(klass),
                        G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT);
        /**
         * AidClient::model-states-changed:
         * @client: the #AidClient
         *
         * What the daemon holds in memory changed: a model began loading, read more of its
         * weights (about every tenth), became ready, failed to load or was unloaded; or the set
         * of models changed (#AidClient::models-changed comes as well). The daemon does not say
         * which model: call aid_client_get_model_info() for the state of the one that matters
         * (aid_model_info_get_state(), aid_model_info_get_load_progress()), for example to show
         * a progress bar while a request waits for its model to load.
         */
        signals[SIGNAL_MODEL_STATES_CHANGED] = g_signal_new("model-states-changed", G_TYPE_FROM_CLASS(klass),
                        G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);

        /* Remote org.aid.Error.* replies only become AID_ERROR codes once the domain is
         * registered with GDBus. */
        (void)aid_error_quark();
}

static void aid_client_init(AidClient *self)
{
}

/* Where we looked, and what the user can do about it, for the error messages. */
struct bus_target {
        AidBusType bus_type;
        char *address; /* NULL: bus_type */
};

static void bus_target_free(struct bus_target *t)
{
        g_free(t->address);
        g_free(t);
}

static char *bus_target_describe(const struct bus_target *t)
{
        if (t->address)
                return g_strdup_printf("the bus at %s", t->address);
        return g_strdup(t->bus_type == AID_BUS_SYSTEM ? "the system bus" : "the session bus");
}

static char *bus_target_start_hint(const struct bus_target *t)
{
        if (t->address)
                return g_strdup_printf("Start it with 'aid --bus-address=%s'", t->address);
        if (t->bus_type == AID_BUS_SYSTEM)
                return g_strdup("Start it with 'systemctl start aid' (as root)");
        return g_strdup("Start it with 'systemctl --user start aid'");
}

static char *stripped_message(const GError *e)
{
        g_autoptr(GError) copy = g_error_copy(e);

        g_dbus_error_strip_remote_error(copy);
        return g_strdup(copy->message);
}

static GError *bus_unreachable_error(const struct bus_target *t, const GError *cause)
{
        g_autofree char *where = bus_target_describe(t);
        g_autofree char *message = stripped_message(cause);

        return g_error_new(AID_ERROR, AID_ERROR_BUS_UNREACHABLE, "Cannot connect to %s: %s", where, message);
}

static GError *not_running_error(const char *where, const char *hint)
{
        return g_error_new(AID_ERROR, AID_ERROR_DAEMON_NOT_RUNNING,
                        "aid is not running on %s (%s has no owner). %s", where, aid_dbus_bus_name, hint);
}

/* The bus's own errors while starting aid by activation (a failed unit, a missing binary). */
static GError *activation_error(const struct bus_target *t, const GError *cause)
{
        g_autofree char *where = bus_target_describe(t);
        g_autofree char *hint = bus_target_start_hint(t);
        g_autofree char *message = stripped_message(cause);

        return g_error_new(AID_ERROR, AID_ERROR_DAEMON_NOT_RUNNING,
                        "aid is not running on %s and could not be started: %s. %s", where, message, hint);
}

static void on_proxy_signal(GDBusProxy *proxy, const char *sender_name, const char *signal_name,
                GVariant *parameters, gpointer user_data);
static void on_proxy_properties_changed(
                GDBusProxy *proxy, GVariant *changed, const char *const *invalidated, gpointer user_data);

/* The last step of both connects: the proxy exists, but is anybody behind it? */
static AidClient *client_new_for_proxy(
                const struct bus_target *t, GDBusConnection *connection, GDBusProxy *proxy, GError **error)
{
        g_autofree char *owner = g_dbus_proxy_get_name_owner(proxy);
        AidClient *self;

        if (!owner) {
                g_autofree char *where = bus_target_describe(t);
                g_autofree char *hint = bus_target_start_hint(t);

                g_propagate_error(error, not_running_error(where, hint));
                return NULL;
        }

        self = g_object_new(AID_TYPE_CLIENT, NULL);
        self->connection = g_object_ref(connection);
        self->proxy = g_object_ref(proxy);
        self->bus_description = bus_target_describe(t);
        self->start_hint = bus_target_start_hint(t);
        g_signal_connect(proxy, "g-signal", G_CALLBACK(on_proxy_signal), self);
        g_signal_connect(proxy, "g-properties-changed", G_CALLBACK(on_proxy_properties_changed), self);
        return self;
}

/* Auto-start stays on: where a bus activation file exists (systemd user session), the first
 * client starts aid. Failed activation is reported by the bus, see activation_error(). */
#define PROXY_FLAGS G_DBUS_PROXY_FLAGS_NONE
#define ADDRESS_FLAGS \
        (G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION)

static GError *connect_error(const struct bus_target *t, GError *cause)
{
        if (g_error_matches(cause, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return cause;

        GError *e = bus_unreachable_error(t, cause);
        g_error_free(cause);
        return e;
}

static GError *proxy_error(const struct bus_target *t, GError *cause)
{
        if (!g_dbus_error_is_remote_error(cause) && cause->domain != G_DBUS_ERROR)
                return cause;

        GError *e = activation_error(t, cause);
        g_error_free(cause);
        return e;
}

static AidClient *client_new_sync(const struct bus_target *t, GCancellable *cancellable, GError **error)
{
        g_autoptr(GDBusConnection) connection = NULL;
        g_autoptr(GDBusProxy) proxy = NULL;
        GError *e = NULL;

        if (t->address)
                connection = g_dbus_connection_new_for_address_sync(
                                t->address, ADDRESS_FLAGS, NULL, cancellable, &e);
        else
                connection = g_bus_get_sync(
                                t->bus_type == AID_BUS_SYSTEM ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION,
                                cancellable, &e);
        if (!connection) {
                g_propagate_error(error, connect_error(t, e));
                return NULL;
        }

        proxy = g_dbus_proxy_new_sync(connection, PROXY_FLAGS, NULL, aid_dbus_bus_name, aid_dbus_object_path,
                        aid_dbus_manager_interface, cancellable, &e);
        if (!proxy) {
                g_propagate_error(error, proxy_error(t, e));
                return NULL;
        }

        return client_new_for_proxy(t, connection, proxy, error);
}

/**
 * aid_client_new_sync:
 * @bus_type: the bus aid runs on
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for an error
 *
 * Connects to aid, blocking. See aid_client_new() for the asynchronous version.
 *
 * Returns: (transfer full): a new #AidClient, or %NULL with @error set:
 *   %AID_ERROR_DAEMON_NOT_RUNNING when aid is not on the bus and could not be started,
 *   %AID_ERROR_BUS_UNREACHABLE when the bus cannot be reached
 */
AidClient *aid_client_new_sync(AidBusType bus_type, GCancellable *cancellable, GError **error)
{
        struct bus_target t = { .bus_type = bus_type };

        g_return_val_if_fail(bus_type == AID_BUS_USER || bus_type == AID_BUS_SYSTEM, NULL);
        g_return_val_if_fail(!cancellable || G_IS_CANCELLABLE(cancellable), NULL);
        g_return_val_if_fail(!error || !*error, NULL);

        return client_new_sync(&t, cancellable, error);
}

/**
 * aid_client_new_for_address_sync:
 * @address: a D-Bus address of a message bus, e.g. "unix:path=/run/aid-test/bus"
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for an error
 *
 * Connects to aid on the message bus at @address, blocking. Tests and unusual setups use
 * this; applications want aid_client_new().
 *
 * Returns: (transfer full): a new #AidClient, or %NULL with @error set as for
 *   aid_client_new_sync()
 */
AidClient *aid_client_new_for_address_sync(const char *address, GCancellable *cancellable, GError **error)
{
        struct bus_target t = { .address = (char *)address };

        g_return_val_if_fail(address != NULL, NULL);
        g_return_val_if_fail(!cancellable || G_IS_CANCELLABLE(cancellable), NULL);
        g_return_val_if_fail(!error || !*error, NULL);

        return client_new_sync(&t, cancellable, error);
}

static void on_connect_proxy(GObject *source, GAsyncResult *result, gpointer user_data)
{
        g_autoptr(GTask) task = user_data;
        const struct bus_target *t = g_task_get_task_data(task);
        GDBusConnection *connection = g_object_get_data(G_OBJECT(task), "aid-connection");
        g_autoptr(GDBusProxy) proxy = NULL;
        GError *e = NULL;
        AidClient *client;

        proxy = g_dbus_proxy_new_finish(result, &e);
        if (!proxy) {
                g_task_return_error(task, proxy_error(t, e));
                return;
        }
        if (g_task_return_error_if_cancelled(task))
                return;

        client = client_new_for_proxy(t, connection, proxy, &e);
        if (!client)
                g_task_return_error(task, e);
        else
                g_task_return_pointer(task, client, g_object_unref);
}

static void on_connect_bus(GObject *source, GAsyncResult *result, gpointer user_data)
{
        g_autoptr(GTask) task = user_data;
        const struct bus_target *t = g_task_get_task_data(task);
        g_autoptr(GDBusConnection) connection = NULL;
        GCancellable *cancellable;
        GError *e = NULL;

        if (t->address)
                connection = g_dbus_connection_new_for_address_finish(result, &e);
        else
                connection = g_bus_get_finish(result, &e);
        if (!connection) {
                g_task_return_error(task, connect_error(t, e));
                return;
        }
        if (g_task_return_error_if_cancelled(task))
                return;

        cancellable = g_task_get_cancellable(task);
        g_object_set_data_full(G_OBJECT(task), "aid-connection", g_object_ref(connection), g_object_unref);
        g_dbus_proxy_new(connection, PROXY_FLAGS, NULL, aid_dbus_bus_name, aid_dbus_object_path,
                        aid_dbus_manager_interface, cancellable, on_connect_proxy, g_steal_pointer(&task));
}

static void client_new_async(struct bus_target *t, GCancellable *cancellable, GAsyncReadyCallback callback,
                gpointer user_data)
{
        g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);

        g_task_set_source_tag(task, client_new_async);
        g_task_set_task_data(task, t, (GDestroyNotify)bus_target_free);
        if (g_task_return_error_if_cancelled(task))
                return;

        if (t->address)
                g_dbus_connection_new_for_address(t->address, ADDRESS_FLAGS, NULL, cancellable,
                                on_connect_bus, g_steal_pointer(&task));
        else
                g_bus_get(t->bus_type == AID_BUS_SYSTEM ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION,
                                cancellable, on_connect_bus, g_steal_pointer(&task));
}

/**
 * aid_client_new:
 * @bus_type: the bus aid runs on
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the client is ready or connecting failed
 * @user_data: (closure): data for @callback
 *
 * Connects to aid on the session or system bus. Call aid_client_new_finish() in @callback.
 */
void aid_client_new(AidBusType bus_type, GCancellable *cancellable, GAsyncReadyCallback callback,
                gpointer user_data)
{
        struct bus_target *t;

        g_return_if_fail(bus_type == AID_BUS_USER || bus_type == AID_BUS_SYSTEM);
        g_return_if_fail(!cancellable || G_IS_CANCELLABLE(cancellable));

        t = g_new0(struct bus_target, 1);
        t->bus_type = bus_type;
        client_new_async(t, cancellable, callback, user_data);
}

/**
 * aid_client_new_for_address:
 * @address: a D-Bus address of a message bus
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the client is ready or connecting failed
 * @user_data: (closure): data for @callback
 *
 * Connects to aid on the message bus at @address. Call aid_client_new_finish() in @callback.
 */
void aid_client_new_for_address(const char *address, GCancellable *cancellable, GAsyncReadyCallback callback,
                gpointer user_data)
{
        struct bus_target *t;

        g_return_if_fail(address != NULL);
        g_return_if_fail(!cancellable || G_IS_CANCELLABLE(cancellable));

        t = g_new0(struct bus_target, 1);
        t->address = g_strdup(address);
        client_new_async(t, cancellable, callback, user_data);
}

/**
 * aid_client_new_finish:
 * @result: the #GAsyncResult passed to the callback of aid_client_new() or
 *   aid_client_new_for_address()
 * @error: return location for an error
 *
 * Returns: (transfer full): a new #AidClient, or %NULL with @error set as for
 *   aid_client_new_sync()
 */
AidClient *aid_client_new_finish(GAsyncResult *result, GError **error)
{
        g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
        g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == client_new_async, NULL);

        return g_task_propagate_pointer(G_TASK(result), error);
}

/**
 * aid_client_get_connection:
 * @client: an #AidClient
 *
 * Returns: (transfer none): the bus connection
 */
GDBusConnection *aid_client_get_connection(AidClient *client)
{
        g_return_val_if_fail(AID_IS_CLIENT(client), NULL);
        return client->connection;
}

static const char *cached_string(AidClient *self, const char *property)
{
        g_autoptr(GVariant) v = g_dbus_proxy_get_cached_property(self->proxy, property);

        /* The proxy's cache holds a reference to the same variant until the property
         * changes, which happens only in the thread-default main context, so the string
         * stays valid for the caller as documented. */
        if (!v || !g_variant_is_of_type(v, G_VARIANT_TYPE_STRING))
                return NULL;
        return g_variant_get_string(v, NULL);
}

/**
 * aid_client_get_version:
 * @client: an #AidClient
 *
 * The daemon's version, cached when the client connected (and refreshed if aid restarts).
 *
 * Returns: (nullable): the version, e.g. "0.1.0"; valid until the main context runs
 */
const char *aid_client_get_version(AidClient *client)
{
        g_return_val_if_fail(AID_IS_CLIENT(client), NULL);
        return cached_string(client, "Version");
}

/**
 * aid_client_get_bus_mode:
 * @client: an #AidClient
 *
 * Returns: (nullable): "user", "system" or "address"; valid until the main context runs
 */
const char *aid_client_get_bus_mode(AidClient *client)
{
        g_return_val_if_fail(AID_IS_CLIENT(client), NULL);
        return cached_string(client, "BusMode");
}

/**
 * aid_client_get_default_models:
 * @client: an #AidClient
 *
 * Which model the daemon uses for each capability ("text", "vision", "speech"), as cached
 * from its DefaultModels property. Capabilities without a model are absent.
 *
 * Returns: (transfer full) (element-type utf8 utf8): capability -> model id
 */
GHashTable *aid_client_get_default_models(AidClient *client)
{
        g_autoptr(GHashTable) table = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        g_autoptr(GVariant) v = NULL;
        GVariantIter iter;
        const char *capability, *id;

        g_return_val_if_fail(AID_IS_CLIENT(client), NULL);

        v = g_dbus_proxy_get_cached_property(client->proxy, "DefaultModels");
        if (v && g_variant_is_of_type(v, G_VARIANT_TYPE("a{ss}"))) {
                g_variant_iter_init(&iter, v);
                while (g_variant_iter_next(&iter, "{&s&s}", &capability, &id))
                        g_hash_table_replace(table, g_strdup(capability), g_strdup(id));
        }
        return g_steal_pointer(&table);
}

/**
 * aid_client_get_default_model:
 * @client: an #AidClient
 * @capability: "text", "vision" or "speech"
 *
 * Returns: (transfer full) (nullable): the id of the model used for @capability, or %NULL
 *   when there is none
 */
char *aid_client_get_default_model(AidClient *client, const char *capability)
{
        g_autoptr(GVariant) v = NULL;
        char *id = NULL;

        g_return_val_if_fail(AID_IS_CLIENT(client), NULL);
        g_return_val_if_fail(capability != NULL, NULL);

        v = g_dbus_proxy_get_cached_property(client->proxy, "DefaultModels");
        if (v && g_variant_is_of_type(v, G_VARIANT_TYPE("a{ss}")))
                g_variant_lookup(v, capability, "s", &id);
        return id;
}

/* DefaultModels is an "invalidates" property: fetch it again ourselves, so that the getters
 * stay right without the proxy refetching the (large) Models property too. */
static void on_default_models_fetched(GObject *source, GAsyncResult *result, gpointer user_data)
{
        g_autoptr(AidClient) self = user_data;
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariant) value = NULL;
        guint n_models;

        reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, NULL);
        if (reply) {
                g_variant_get(reply, "(v)", &value);
                if (g_variant_is_of_type(value, G_VARIANT_TYPE("a{ss}")))
                        g_dbus_proxy_set_cached_property(self->proxy, "DefaultModels", value);
        }

        n_models = GPOINTER_TO_UINT(g_object_get_data(G_OBJECT(self), "aid-pending-n-models"));
        if (g_object_steal_data(G_OBJECT(self), "aid-pending-emit"))
                g_signal_emit(self, signals[SIGNAL_MODELS_CHANGED], 0, n_models);
}

static void refresh_default_models(AidClient *self, gboolean then_emit, guint n_models)
{
        if (then_emit) {
                g_object_set_data(G_OBJECT(self), "aid-pending-emit", GINT_TO_POINTER(1));
                g_object_set_data(G_OBJECT(self), "aid-pending-n-models", GUINT_TO_POINTER(n_models));
        }
        g_dbus_connection_call(self->connection, g_dbus_proxy_get_name(self->proxy), aid_dbus_object_path,
                        "org.freedesktop.DBus.Properties", "Get",
                        g_variant_new("(ss)", aid_dbus_manager_interface, "DefaultModels"),
                        G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL,
                        on_default_models_fetched, g_object_ref(self));
}

static void on_proxy_signal(GDBusProxy *proxy, const char *sender_name, const char *signal_name,
                GVariant *parameters, gpointer user_data)
{
        AidClient *self = user_data;
        guint32 n_models;

        if (!g_str_equal(signal_name, "ModelsChanged") ||
                        !g_variant_is_of_type(parameters, G_VARIANT_TYPE("(u)")))
                return;
        g_variant_get(parameters, "(u)", &n_models);
        refresh_default_models(self, TRUE, n_models);
}

static void on_proxy_properties_changed(
                GDBusProxy *proxy, GVariant *changed, const char *const *invalidated, gpointer user_data)
{
        AidClient *self = user_data;

        if (invalidated && g_strv_contains(invalidated, "DefaultModels"))
                refresh_default_models(self, FALSE, 0);
        if (invalidated && g_strv_contains(invalidated, "Models"))
                g_signal_emit(self, signals[SIGNAL_MODEL_STATES_CHANGED], 0);
        if (g_variant_n_children(changed) > 0)
                g_object_notify_by_pspec(G_OBJECT(self), props[PROP_VERSION]);
}

/* Method call errors as the caller should see them: the daemon's own errors are AID_ERROR
 * codes with a plain message; a vanished daemon is DAEMON_NOT_RUNNING. */
static GError *call_error(AidClient *self, GError *e)
{
        if (g_error_matches(e, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
                        g_error_matches(e, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER)) {
                g_error_free(e);
                return not_running_error(self->bus_description, self->start_hint);
        }
        if (g_error_matches(e, G_IO_ERROR, G_IO_ERROR_CLOSED)) {
                GError *closed = g_error_new(AID_ERROR, AID_ERROR_BUS_UNREACHABLE,
                                "The connection to %s was closed", self->bus_description);
                g_error_free(e);
                return closed;
        }
        /* Unregistered remote errors (G_IO_ERROR_DBUS_ERROR) keep their D-Bus name only in
         * the message: leave those alone. */
        if (e->domain == AID_ERROR || e->domain == G_DBUS_ERROR)
                g_dbus_error_strip_remote_error(e);
        return e;
}

static GPtrArray *parse_models(GVariant *reply, GError **error)
{
        g_autoptr(GPtrArray) models = g_ptr_array_new_with_free_func(g_object_unref);
        g_autoptr(GVariant) list = NULL;
        GVariantIter iter;
        GVariant *dict;

        if (!g_variant_is_of_type(reply, G_VARIANT_TYPE("(aa{sv})"))) {
                g_set_error(error, AID_ERROR, AID_ERROR_FAILED, "ListModels replied %s, expected (aa{sv})",
                                g_variant_get_type_string(reply));
                return NULL;
        }
        list = g_variant_get_child_value(reply, 0);
        g_variant_iter_init(&iter, list);
        while ((dict = g_variant_iter_next_value(&iter))) {
                g_ptr_array_add(models, aid_model_info_new_from_variant(dict));
                g_variant_unref(dict);
        }
        return g_steal_pointer(&models);
}

static AidModelInfo *parse_model_info(GVariant *reply, GError **error)
{
        g_autoptr(GVariant) dict = NULL;

        if (!g_variant_is_of_type(reply, G_VARIANT_TYPE("(a{sv})"))) {
                g_set_error(error, AID_ERROR, AID_ERROR_FAILED, "GetModelInfo replied %s, expected (a{sv})",
                                g_variant_get_type_string(reply));
                return NULL;
        }
        dict = g_variant_get_child_value(reply, 0);
        return aid_model_info_new_from_variant(dict);
}

static gboolean parse_rescan(GVariant *reply, guint *ret_n_models, GError **error)
{
        guint32 n;

        if (!g_variant_is_of_type(reply, G_VARIANT_TYPE("(u)"))) {
                g_set_error(error, AID_ERROR, AID_ERROR_FAILED, "Rescan replied %s, expected (u)",
                                g_variant_get_type_string(reply));
                return FALSE;
        }
        g_variant_get(reply, "(u)", &n);
        *ret_n_models = n;
        return TRUE;
}

static GVariant *call_sync(AidClient *self, const char *method, GVariant *args, int timeout_msec,
                GCancellable *cancellable, GError **error)
{
        GError *e = NULL;
        GVariant *reply;

        reply = g_dbus_proxy_call_sync(
                        self->proxy, method, args, G_DBUS_CALL_FLAGS_NONE, timeout_msec, cancellable, &e);
        if (!reply)
                g_propagate_error(error, call_error(self, e));
        return reply;
}

/* The async methods share one shape: call, then parse the reply in the task's callback. */
struct reply_kind {
        gpointer (*parse)(GVariant *reply, GError **error);
        GDestroyNotify free;
};

static gpointer parse_models_reply(GVariant *reply, GError **error)
{
        return parse_models(reply, error);
}

static gpointer parse_model_info_reply(GVariant *reply, GError **error)
{
        return parse_model_info(reply, error);
}

static const struct reply_kind model_list_reply = {
        .parse = parse_models_reply,
        .free = (GDestroyNotify)g_ptr_array_unref,
};

static const struct reply_kind model_info_reply = {
        .parse = parse_model_info_reply,
        .free = g_object_unref,
};

static void on_call_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
        g_autoptr(GTask) task = user_data;
        AidClient *self = g_task_get_source_object(task);
        const struct reply_kind *kind = g_task_get_task_data(task);
        g_autoptr(GVariant) reply = NULL;
        GError *e = NULL;
        gpointer value;

        reply = g_dbus_proxy_call_finish(G_DBUS_PROXY(source), result, &e);
        if (!reply) {
                g_task_return_error(task, call_error(self, e));
                return;
        }
        value = kind->parse(reply, &e);
        if (!value)
                g_task_return_error(task, e);
        else
                g_task_return_pointer(task, value, kind->free);
}

static void call_async(AidClient *self, gpointer source_tag, const char *method, GVariant *args,
                int timeout_msec, const struct reply_kind *kind, GCancellable *cancellable,
                GAsyncReadyCallback callback, gpointer user_data)
{
        GTask *task = g_task_new(self, cancellable, callback, user_data);

        g_task_set_source_tag(task, source_tag);
        g_task_set_task_data(task, (gpointer)kind, NULL);
        g_dbus_proxy_call(self->proxy, method, args, G_DBUS_CALL_FLAGS_NONE, timeout_msec, cancellable,
                        on_call_done, task);
}

/**
 * aid_client_list_models_sync:
 * @client: an #AidClient
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for an error
 *
 * Lists every model the daemon knows, usable or not, blocking.
 *
 * Returns: (transfer full) (element-type AidModelInfo): the models, or %NULL with @error set
 */
GPtrArray *aid_client_list_models_sync(AidClient *client, GCancellable *cancellable, GError **error)
{
        g_autoptr(GVariant) reply = NULL;

        g_return_val_if_fail(AID_IS_CLIENT(client), NULL);
        g_return_val_if_fail(!error || !*error, NULL);

        reply = call_sync(client, "ListModels", NULL, -1, cancellable, error);
        return reply ? parse_models(reply, error) : NULL;
}

/**
 * aid_client_list_models:
 * @client: an #AidClient
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the result
 * @user_data: (closure): data for @callback
 *
 * Lists every model the daemon knows, usable or not. Call aid_client_list_models_finish()
 * in @callback.
 */
void aid_client_list_models(AidClient *client, GCancellable *cancellable, GAsyncReadyCallback callback,
                gpointer user_data)
{
        g_return_if_fail(AID_IS_CLIENT(client));

        call_async(client, aid_client_list_models, "ListModels", NULL, -1, &model_list_reply, cancellable,
                        callback, user_data);
}

/**
 * aid_client_list_models_finish:
 * @client: an #AidClient
 * @result: the #GAsyncResult passed to the callback
 * @error: return location for an error
 *
 * Returns: (transfer full) (element-type AidModelInfo): the models, or %NULL with @error set
 */
GPtrArray *aid_client_list_models_finish(AidClient *client, GAsyncResult *result, GError **error)
{
        g_return_val_if_fail(g_task_is_valid(result, client), NULL);
        g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == aid_client_list_models, NULL);

        return g_task_propagate_pointer(G_TASK(result), error);
}

/**
 * aid_client_get_model_info_sync:
 * @client: an #AidClient
 * @id: a model id, as in #AidModelInfo:id
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for an error
 *
 * Describes one model, blocking.
 *
 * Returns: (transfer full): the model, or %NULL with @error set (%AID_ERROR_NO_SUCH_MODEL
 *   when no model has that id)
 */
AidModelInfo *aid_client_get_model_info_sync(
                AidClient *client, const char *id, GCancellable *cancellable, GError **error)
{
        g_autoptr(GVariant) reply = NULL;

        g_return_val_if_fail(AID_IS_CLIENT(client), NULL);
        g_return_val_if_fail(id != NULL, NULL);
        g_return_val_if_fail(!error || !*error, NULL);

        reply = call_sync(client, "GetModelInfo", g_variant_new("(s)", id), -1, cancellable, error);
        return reply ? parse_model_info(reply, error) : NULL;
}

/**
 * aid_client_get_model_info:
 * @client: an #AidClient
 * @id: a model id, as in #AidModelInfo:id
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the result
 * @user_data: (closure): data for @callback
 *
 * Describes one model. Call aid_client_get_model_info_finish() in @callback.
 */
void aid_client_get_model_info(AidClient *client, const char *id, GCancellable *cancellable,
                GAsyncReadyCallback callback, gpointer user_data)
{
        g_return_if_fail(AID_IS_CLIENT(client));
        g_return_if_fail(id != NULL);

        call_async(client, aid_client_get_model_info, "GetModelInfo", g_variant_new("(s)", id), -1,
                        &model_info_reply, cancellable, callback, user_data);
}

/**
 * aid_client_get_model_info_finish:
 * @client: an #AidClient
 * @result: the #GAsyncResult passed to the callback
 * @error: return location for an error
 *
 * Returns: (transfer full): the model, or %NULL with @error set
 */
AidModelInfo *aid_client_get_model_info_finish(AidClient *client, GAsyncResult *result, GError **error)
{
        g_return_val_if_fail(g_task_is_valid(result, client), NULL);
        g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == aid_client_get_model_info, NULL);

        return g_task_propagate_pointer(G_TASK(result), error);
}

/**
 * aid_client_rescan_sync:
 * @client: an #AidClient
 * @out_n_models: (out) (optional): the number of models found
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for an error
 *
 * Makes the daemon scan its model directories again now, blocking. When the set of models
 * changed, #AidClient::models-changed follows.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean aid_client_rescan_sync(
                AidClient *client, guint *out_n_models, GCancellable *cancellable, GError **error)
{
        g_autoptr(GVariant) reply = NULL;
        guint n;

        g_return_val_if_fail(AID_IS_CLIENT(client), FALSE);
        g_return_val_if_fail(!error || !*error, FALSE);

        reply = call_sync(client, "Rescan", NULL, RESCAN_TIMEOUT_MSEC, cancellable, error);
        if (!reply || !parse_rescan(reply, &n, error))
                return FALSE;
        if (out_n_models)
                *out_n_models = n;
        return TRUE;
}

static void on_rescan_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
        g_autoptr(GTask) task = user_data;
        AidClient *self = g_task_get_source_object(task);
        g_autoptr(GVariant) reply = NULL;
        GError *e = NULL;
        guint n;

        reply = g_dbus_proxy_call_finish(G_DBUS_PROXY(source), result, &e);
        if (!reply)
                g_task_return_error(task, call_error(self, e));
        else if (!parse_rescan(reply, &n, &e))
                g_task_return_error(task, e);
        else
                g_task_return_int(task, n);
}

/**
 * aid_client_rescan:
 * @client: an #AidClient
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the result
 * @user_data: (closure): data for @callback
 *
 * Makes the daemon scan its model directories again now. Call aid_client_rescan_finish() in
 * @callback.
 */
void aid_client_rescan(AidClient *client, GCancellable *cancellable, GAsyncReadyCallback callback,
                gpointer user_data)
{
        GTask *task;

        g_return_if_fail(AID_IS_CLIENT(client));

        task = g_task_new(client, cancellable, callback, user_data);
        g_task_set_source_tag(task, aid_client_rescan);
        g_dbus_proxy_call(client->proxy, "Rescan", NULL, G_DBUS_CALL_FLAGS_NONE, RESCAN_TIMEOUT_MSEC,
                        cancellable, on_rescan_done, task);
}

/**
 * aid_client_rescan_finish:
 * @client: an #AidClient
 * @result: the #GAsyncResult passed to the callback
 * @out_n_models: (out) (optional): the number of models found
 * @error: return location for an error
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean aid_client_rescan_finish(
                AidClient *client, GAsyncResult *result, guint *out_n_models, GError **error)
{
        gssize n;

        g_return_val_if_fail(g_task_is_valid(result, client), FALSE);
        g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == aid_client_rescan, FALSE);

        n = g_task_propagate_int(G_TASK(result), error);
        if (n < 0)
                return FALSE;
        if (out_n_models)
                *out_n_models = (guint)n;
        return TRUE;
}

/* The privacy policy's calls reply with variants the caller reads itself (their keys are
 * documented in the D-Bus XML); the task holds the whole reply. */
static gpointer parse_any_reply(GVariant *reply, GError **error)
{
        return g_variant_ref(reply);
}

static const struct reply_kind any_reply = {
        .parse = parse_any_reply,
        .free = (GDestroyNotify)g_variant_unref,
};

static GVariant *child_of_type(GVariant *reply, const char *method, const char *type, GError **error)
{
        g_autofree char *tuple = g_strdup_printf("(%s)", type);

        if (!g_variant_is_of_type(reply, G_VARIANT_TYPE(tuple))) {
                g_set_error(error, AID_ERROR, AID_ERROR_FAILED, "%s replied %s, expected %s", method,
                                g_variant_get_type_string(reply), tuple);
                return NULL;
        }
        return g_variant_get_child_value(reply, 0);
}

static GVariant *finish_any(AidClient *client, GAsyncResult *result, gpointer tag, GError **error)
{
        g_return_val_if_fail(g_task_is_valid(result, client), NULL);
        g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == tag, NULL);

        return g_task_propagate_pointer(G_TASK(result), error);
}

/**
 * aid_client_get_network_isolated:
 * @client: an #AidClient
 *
 * Whether the daemon found, when it started, that it has no network: no interface but
 * loopback (as under its units' PrivateNetwork=yes).
 *
 * Returns: %TRUE when nothing the daemon does can leave the machine
 */
gboolean aid_client_get_network_isolated(AidClient *client)
{
        g_autoptr(GVariant) v = NULL;

        g_return_val_if_fail(AID_IS_CLIENT(client), FALSE);
        v = g_dbus_proxy_get_cached_property(client->proxy, "NetworkIsolated");
        return v && g_variant_is_of_type(v, G_VARIANT_TYPE_BOOLEAN) && g_variant_get_boolean(v);
}

/**
 * aid_client_dup_policy_messages:
 * @client: an #AidClient
 *
 * What is wrong with the daemon's policy files, "FILE:LINE: problem" each, as cached from
 * its PolicyMessages property.
 *
 * Returns: (transfer full) (array zero-terminated=1): the messages, maybe none
 */
char **aid_client_dup_policy_messages(AidClient *client)
{
        g_autoptr(GVariant) v = NULL;

        g_return_val_if_fail(AID_IS_CLIENT(client), NULL);
        v = g_dbus_proxy_get_cached_property(client->proxy, "PolicyMessages");
        if (!v || !g_variant_is_of_type(v, G_VARIANT_TYPE_STRING_ARRAY))
                return g_new0(char *, 1);
        return g_variant_dup_strv(v, NULL);
}

/**
 * aid_client_dup_policy_files:
 * @client: an #AidClient
 *
 * Returns: (transfer full) (array zero-terminated=1): the policy files in force, in the order
 *   the daemon read them
 */
char **aid_client_dup_policy_files(AidClient *client)
{
        g_autoptr(GVariant) v = NULL;

        g_return_val_if_fail(AID_IS_CLIENT(client), NULL);
        v = g_dbus_proxy_get_cached_property(client->proxy, "PolicyFiles");
        if (!v || !g_variant_is_of_type(v, G_VARIANT_TYPE_STRING_ARRAY))
                return g_new0(char *, 1);
        return g_variant_dup_strv(v, NULL);
}

/**
 * aid_client_who_am_i_sync:
 * @client: an #AidClient
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for an error
 *
 * How the daemon identifies this process: a dictionary with app_id, kind, trust, pid, uid,
 * and exe and unit where known (see the D-Bus interface's WhoAmI).
 *
 * Returns: (transfer full): an a{sv} dictionary, or %NULL with @error set
 */
GVariant *aid_client_who_am_i_sync(AidClient *client, GCancellable *cancellable, GError **error)
{
        g_autoptr(GVariant) reply = NULL;

        g_return_val_if_fail(AID_IS_CLIENT(client), NULL);
        reply = call_sync(client, "WhoAmI", NULL, -1, cancellable, error);
        return reply ? child_of_type(reply, "WhoAmI", "a{sv}", error) : NULL;
}

/**
 * aid_client_who_am_i:
 * @client: an #AidClient
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the result
 * @user_data: (closure): data for @callback
 *
 * Asynchronous aid_client_who_am_i_sync(); call aid_client_who_am_i_finish() in @callback.
 */
void aid_client_who_am_i(AidClient *client, GCancellable *cancellable, GAsyncReadyCallback callback,
                gpointer user_data)
{
        g_return_if_fail(AID_IS_CLIENT(client));
        call_async(client, aid_client_who_am_i, "WhoAmI", NULL, -1, &any_reply, cancellable, callback,
                        user_data);
}

/**
 * aid_client_who_am_i_finish:
 * @client: an #AidClient
 * @result: the #GAsyncResult passed to the callback
 * @error: return location for an error
 *
 * Returns: (transfer full): an a{sv} dictionary, or %NULL with @error set
 */
GVariant *aid_client_who_am_i_finish(AidClient *client, GAsyncResult *result, GError **error)
{
        g_autoptr(GVariant) reply = finish_any(client, result, aid_client_who_am_i, error);
        return reply ? child_of_type(reply, "WhoAmI", "a{sv}", error) : NULL;
}

static gboolean split_check_policy(GVariant *reply, char **out_decision, char **out_source,
                GVariant **out_limits, GError **error)
{
        if (!g_variant_is_of_type(reply, G_VARIANT_TYPE("(ssa{sv})"))) {
                g_set_error(error, AID_ERROR, AID_ERROR_FAILED, "CheckPolicy replied %s, expected (ssa{sv})",
                                g_variant_get_type_string(reply));
                return FALSE;
        }
        if (out_decision)
                g_variant_get_child(reply, 0, "s", out_decision);
        if (out_source)
                g_variant_get_child(reply, 1, "s", out_source);
        if (out_limits)
                *out_limits = g_variant_get_child_value(reply, 2);
        return TRUE;
}

/**
 * aid_client_check_policy_sync:
 * @client: an #AidClient
 * @app_id: an app id as the daemon names apps (see aid_client_who_am_i_sync()); "" for an
 *   app no [App] group names
 * @capability: "text", "vision", "transcribe-file", "live-microphone" or "live-system-audio"
 * @out_decision: (out) (optional) (transfer full): "allow" or "deny"
 * @out_source: (out) (optional) (transfer full): the deciding FILE:LINE, or why
 * @out_limits: (out) (optional) (transfer full): the limits (a{sv})
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for an error
 *
 * What the daemon's privacy policy says for @app_id and @capability. Changes nothing.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean aid_client_check_policy_sync(AidClient *client, const char *app_id, const char *capability,
                char **out_decision, char **out_source, GVariant **out_limits, GCancellable *cancellable,
                GError **error)
{
        g_autoptr(GVariant) reply = NULL;

        g_return_val_if_fail(AID_IS_CLIENT(client), FALSE);
        g_return_val_if_fail(app_id != NULL && capability != NULL, FALSE);
        reply = call_sync(client, "CheckPolicy", g_variant_new("(ss)", app_id, capability), -1, cancellable,
                        error);
        return reply && split_check_policy(reply, out_decision, out_source, out_limits, error);
}

/**
 * aid_client_check_policy:
 * @client: an #AidClient
 * @app_id: as for aid_client_check_policy_sync()
 * @capability: as for aid_client_check_policy_sync()
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the result
 * @user_data: (closure): data for @callback
 *
 * Asynchronous aid_client_check_policy_sync(); call aid_client_check_policy_finish().
 */
void aid_client_check_policy(AidClient *client, const char *app_id, const char *capability,
                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
        g_return_if_fail(AID_IS_CLIENT(client));
        g_return_if_fail(app_id != NULL && capability != NULL);
        call_async(client, aid_client_check_policy, "CheckPolicy", g_variant_new("(ss)", app_id, capability),
                        -1, &any_reply, cancellable, callback, user_data);
}

/**
 * aid_client_check_policy_finish:
 * @client: an #AidClient
 * @result: the #GAsyncResult passed to the callback
 * @out_decision: (out) (optional) (transfer full): "allow" or "deny"
 * @out_source: (out) (optional) (transfer full): the deciding FILE:LINE, or why
 * @out_limits: (out) (optional) (transfer full): the limits (a{sv})
 * @error: return location for an error
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean aid_client_check_policy_finish(AidClient *client, GAsyncResult *result, char **out_decision,
                char **out_source, GVariant **out_limits, GError **error)
{
        g_autoptr(GVariant) reply = finish_any(client, result, aid_client_check_policy, error);
        return reply && split_check_policy(reply, out_decision, out_source, out_limits, error);
}

/**
 * aid_client_get_policy_sync:
 * @client: an #AidClient
 * @app_id: as for aid_client_check_policy_sync()
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for an error
 *
 * The policy for every capability of @app_id: one dictionary per capability with
 * capability, decision, source and the limit keys.
 *
 * Returns: (transfer full): an aa{sv} array, or %NULL with @error set
 */
GVariant *aid_client_get_policy_sync(
                AidClient *client, const char *app_id, GCancellable *cancellable, GError **error)
{
        g_autoptr(GVariant) reply = NULL;

        g_return_val_if_fail(AID_IS_CLIENT(client), NULL);
        g_return_val_if_fail(app_id != NULL, NULL);
        reply = call_sync(client, "GetPolicy", g_variant_new("(s)", app_id), -1, cancellable, error);
        return reply ? child_of_type(reply, "GetPolicy", "aa{sv}", error) : NULL;
}

/**
 * aid_client_get_policy:
 * @client: an #AidClient
 * @app_id: as for aid_client_check_policy_sync()
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the result
 * @user_data: (closure): data for @callback
 *
 * Asynchronous aid_client_get_policy_sync(); call aid_client_get_policy_finish().
 */
void aid_client_get_policy(AidClient *client, const char *app_id, GCancellable *cancellable,
                GAsyncReadyCallback callback, gpointer user_data)
{
        g_return_if_fail(AID_IS_CLIENT(client));
        g_return_if_fail(app_id != NULL);
        call_async(client, aid_client_get_policy, "GetPolicy", g_variant_new("(s)", app_id), -1, &any_reply,
                        cancellable, callback, user_data);
}

/**
 * aid_client_get_policy_finish:
 * @client: an #AidClient
 * @result: the #GAsyncResult passed to the callback
 * @error: return location for an error
 *
 * Returns: (transfer full): an aa{sv} array, or %NULL with @error set
 */
GVariant *aid_client_get_policy_finish(AidClient *client, GAsyncResult *result, GError **error)
{
        g_autoptr(GVariant) reply = finish_any(client, result, aid_client_get_policy, error);
        return reply ? child_of_type(reply, "GetPolicy", "aa{sv}", error) : NULL;
}

/**
 * aid_client_get_recent_use_sync:
 * @client: an #AidClient
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for an error
 *
 * The privacy dashboard: which app used which capability in the last hour, one dictionary
 * per app and capability (app_id, identity_kind, capability, first_use, last_use, count,
 * uid).
 *
 * Returns: (transfer full): an aa{sv} array, or %NULL with @error set
 */
GVariant *aid_client_get_recent_use_sync(AidClient *client, GCancellable *cancellable, GError **error)
{
        g_autoptr(GVariant) reply = NULL;

        g_return_val_if_fail(AID_IS_CLIENT(client), NULL);
        reply = call_sync(client, "GetRecentUse", NULL, -1, cancellable, error);
        return reply ? child_of_type(reply, "GetRecentUse", "aa{sv}", error) : NULL;
}

/**
 * aid_client_get_recent_use:
 * @client: an #AidClient
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the result
 * @user_data: (closure): data for @callback
 *
 * Asynchronous aid_client_get_recent_use_sync(); call aid_client_get_recent_use_finish().
 */
void aid_client_get_recent_use(AidClient *client, GCancellable *cancellable, GAsyncReadyCallback callback,
                gpointer user_data)
{
        g_return_if_fail(AID_IS_CLIENT(client));
        call_async(client, aid_client_get_recent_use, "GetRecentUse", NULL, -1, &any_reply, cancellable,
                        callback, user_data);
}

/**
 * aid_client_get_recent_use_finish:
 * @client: an #AidClient
 * @result: the #GAsyncResult passed to the callback
 * @error: return location for an error
 *
 * Returns: (transfer full): an aa{sv} array, or %NULL with @error set
 */
GVariant *aid_client_get_recent_use_finish(AidClient *client, GAsyncResult *result, GError **error)
{
        g_autoptr(GVariant) reply = finish_any(client, result, aid_client_get_recent_use, error);
        return reply ? child_of_type(reply, "GetRecentUse", "aa{sv}", error) : NULL;
}

/**
 * aid_client_reload_policy_sync:
 * @client: an #AidClient
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for an error
 *
 * Makes the daemon read its policy files again now. Needs the right to manage it
 * (%AID_ERROR_PERMISSION_DENIED otherwise).
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean aid_client_reload_policy_sync(AidClient *client, GCancellable *cancellable, GError **error)
{
        g_autoptr(GVariant) reply = NULL;

        g_return_val_if_fail(AID_IS_CLIENT(client), FALSE);
        reply = call_sync(client, "ReloadPolicy", NULL, RESCAN_TIMEOUT_MSEC, cancellable, error);
        return reply != NULL;
}

/**
 * aid_client_reload_policy:
 * @client: an #AidClient
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the result
 * @user_data: (closure): data for @callback
 *
 * Asynchronous aid_client_reload_policy_sync(); call aid_client_reload_policy_finish().
 */
void aid_client_reload_policy(AidClient *client, GCancellable *cancellable, GAsyncReadyCallback callback,
                gpointer user_data)
{
        g_return_if_fail(AID_IS_CLIENT(client));
        call_async(client, aid_client_reload_policy, "ReloadPolicy", NULL, RESCAN_TIMEOUT_MSEC, &any_reply,
                        cancellable, callback, user_data);
}

/**
 * aid_client_reload_policy_finish:
 * @client: an #AidClient
 * @result: the #GAsyncResult passed to the callback
 * @error: return location for an error
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean aid_client_reload_policy_finish(AidClient *client, GAsyncResult *result, GError **error)
{
        g_autoptr(GVariant) reply = finish_any(client, result, aid_client_reload_policy, error);
        return reply != NULL;
}

/**
 * aid_client_authorize_sync:
 * @client: an #AidClient
 * @capability: "text", "vision", "transcribe-file", "live-microphone" or "live-system-audio"
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for an error
 *
 * Asks whether this app may use @capability now: the check every capability call runs. It
 * counts as one request against the app's rate limit.
 *
 * Returns: (transfer full): the limits (a{sv}) the app's requests get, or %NULL with @error
 *   set (%AID_ERROR_PERMISSION_DENIED, %AID_ERROR_QUOTA_EXCEEDED)
 */
GVariant *aid_client_authorize_sync(
                AidClient *client, const char *capability, GCancellable *cancellable, GError **error)
{
        g_autoptr(GVariant) reply = NULL;

        g_return_val_if_fail(AID_IS_CLIENT(client), NULL);
        g_return_val_if_fail(capability != NULL, NULL);
        reply = call_sync(client, "Authorize", g_variant_new("(s)", capability), -1, cancellable, error);
        return reply ? child_of_type(reply, "Authorize", "a{sv}", error) : NULL;
}

/**
 * aid_client_authorize:
 * @client: an #AidClient
 * @capability: as for aid_client_authorize_sync()
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the result
 * @user_data: (closure): data for @callback
 *
 * Asynchronous aid_client_authorize_sync(); call aid_client_authorize_finish().
 */
void aid_client_authorize(AidClient *client, const char *capability, GCancellable *cancellable,
                GAsyncReadyCallback callback, gpointer user_data)
{
        g_return_if_fail(AID_IS_CLIENT(client));
        g_return_if_fail(capability != NULL);
        call_async(client, aid_client_authorize, "Authorize", g_variant_new("(s)", capability), -1,
                        &any_reply, cancellable, callback, user_data);
}

/**
 * aid_client_authorize_finish:
 * @client: an #AidClient
 * @result: the #GAsyncResult passed to the callback
 * @error: return location for an error
 *
 * Returns: (transfer full): the limits (a{sv}), or %NULL with @error set
 */
GVariant *aid_client_authorize_finish(AidClient *client, GAsyncResult *result, GError **error)
{
        g_autoptr(GVariant) reply = finish_any(client, result, aid_client_authorize, error);
        return reply ? child_of_type(reply, "Authorize", "a{sv}", error) : NULL;
}

GError *aid_internal_call_error(AidClient *client, GError *e)
{
        return call_error(client, e);
}
