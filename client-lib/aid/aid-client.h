/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(AID_INSIDE) && !defined(AID_COMPILATION)
#error "Only <aid/aid.h> can be included directly."
#endif

#include <gio/gio.h>

#include "aid-model-info.h"

G_BEGIN_DECLS

/**
 * AidBusType:
 * @AID_BUS_USER: the session bus, where the per-user aid (a systemd user service) runs
 * @AID_BUS_SYSTEM: the system bus, where a system-wide aid serves every user
 *
 * Which message bus to find aid on.
 */
typedef enum {
        AID_BUS_USER,
        AID_BUS_SYSTEM,
} AidBusType;

GType aid_bus_type_get_type(void);
#define AID_TYPE_BUS_TYPE (aid_bus_type_get_type())

#define AID_TYPE_CLIENT   (aid_client_get_type())
G_DECLARE_FINAL_TYPE(AidClient, aid_client, AID, CLIENT, GObject)

AidClient *aid_client_new_sync(AidBusType bus_type, GCancellable *cancellable, GError **error);
AidClient *aid_client_new_for_address_sync(const char *address, GCancellable *cancellable, GError **error);
void aid_client_new(AidBusType bus_type, GCancellable *cancellable, GAsyncReadyCallback callback,
                gpointer user_data);
void aid_client_new_for_address(const char *address, GCancellable *cancellable, GAsyncReadyCallback callback,
                gpointer user_data);
AidClient *aid_client_new_finish(GAsyncResult *result, GError **error);

GDBusConnection *aid_client_get_connection(AidClient *client);
const char *aid_client_get_version(AidClient *client);
const char *aid_client_get_bus_mode(AidClient *client);
GHashTable *aid_client_get_default_models(AidClient *client);
char *aid_client_get_default_model(AidClient *client, const char *capability);

GPtrArray *aid_client_list_models_sync(AidClient *client, GCancellable *cancellable, GError **error);
void aid_client_list_models(AidClient *client, GCancellable *cancellable, GAsyncReadyCallback callback,
                gpointer user_data);
GPtrArray *aid_client_list_models_finish(AidClient *client, GAsyncResult *result, GError **error);

AidModelInfo *aid_client_get_model_info_sync(
                AidClient *client, const char *id, GCancellable *cancellable, GError **error);
void aid_client_get_model_info(AidClient *client, const char *id, GCancellable *cancellable,
                GAsyncReadyCallback callback, gpointer user_data);
AidModelInfo *aid_client_get_model_info_finish(AidClient *client, GAsyncResult *result, GError **error);

gboolean aid_client_rescan_sync(
                AidClient *client, guint *out_n_models, GCancellable *cancellable, GError **error);
void aid_client_rescan(AidClient *client, GCancellable *cancellable, GAsyncReadyCallback callback,
                gpointer user_data);
gboolean aid_client_rescan_finish(
                AidClient *client, GAsyncResult *result, guint *out_n_models, GError **error);

gboolean aid_client_get_network_isolated(AidClient *client);
char **aid_client_dup_policy_messages(AidClient *client);
char **aid_client_dup_policy_files(AidClient *client);

GVariant *aid_client_who_am_i_sync(AidClient *client, GCancellable *cancellable, GError **error);
void aid_client_who_am_i(AidClient *client, GCancellable *cancellable, GAsyncReadyCallback callback,
                gpointer user_data);
GVariant *aid_client_who_am_i_finish(AidClient *client, GAsyncResult *result, GError **error);

gboolean aid_client_check_policy_sync(AidClient *client, const char *app_id, const char *capability,
                char **out_decision, char **out_source, GVariant **out_limits, GCancellable *cancellable,
                GError **error);
void aid_client_check_policy(AidClient *client, const char *app_id, const char *capability,
                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
gboolean aid_client_check_policy_finish(AidClient *client, GAsyncResult *result, char **out_decision,
                char **out_source, GVariant **out_limits, GError **error);

GVariant *aid_client_get_policy_sync(
                AidClient *client, const char *app_id, GCancellable *cancellable, GError **error);
void aid_client_get_policy(AidClient *client, const char *app_id, GCancellable *cancellable,
                GAsyncReadyCallback callback, gpointer user_data);
GVariant *aid_client_get_policy_finish(AidClient *client, GAsyncResult *result, GError **error);

GVariant *aid_client_get_recent_use_sync(AidClient *client, GCancellable *cancellable, GError **error);
void aid_client_get_recent_use(AidClient *client, GCancellable *cancellable, GAsyncReadyCallback callback,
                gpointer user_data);
GVariant *aid_client_get_recent_use_finish(AidClient *client, GAsyncResult *result, GError **error);

gboolean aid_client_reload_policy_sync(AidClient *client, GCancellable *cancellable, GError **error);
void aid_client_reload_policy(AidClient *client, GCancellable *cancellable, GAsyncReadyCallback callback,
                gpointer user_data);
gboolean aid_client_reload_policy_finish(AidClient *client, GAsyncResult *result, GError **error);

GVariant *aid_client_authorize_sync(
                AidClient *client, const char *capability, GCancellable *cancellable, GError **error);
void aid_client_authorize(AidClient *client, const char *capability, GCancellable *cancellable,
                GAsyncReadyCallback callback, gpointer user_data);
GVariant *aid_client_authorize_finish(AidClient *client, GAsyncResult *result, GError **error);

G_END_DECLS
