/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(AID_INSIDE) && !defined(AID_COMPILATION)
#error "Only <aid/aid.h> can be included directly."
#endif

#include <gio/gio.h>

#include "aid-client.h"
#include "aid-generation.h"

G_BEGIN_DECLS

#define AID_TYPE_CHAT (aid_chat_get_type())
G_DECLARE_FINAL_TYPE(AidChat, aid_chat, AID, CHAT, GObject)

AidChat *aid_client_create_chat_sync(AidClient *client, const char *system_prompt,
                AidGenerateOptions *options, GCancellable *cancellable, GError **error);
void aid_client_create_chat(AidClient *client, const char *system_prompt, AidGenerateOptions *options,
                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
AidChat *aid_client_create_chat_finish(AidClient *client, GAsyncResult *result, GError **error);

const char *aid_chat_get_object_path(AidChat *chat);
guint aid_chat_get_tokens_used(AidChat *chat);
guint aid_chat_get_context_size(AidChat *chat);
const char *aid_chat_get_model(AidChat *chat);

void aid_chat_send(AidChat *chat, const char *message, AidGenerateOptions *options,
                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
AidGeneration *aid_chat_send_finish(AidChat *chat, GAsyncResult *result, GError **error);

gboolean aid_chat_reset_sync(AidChat *chat, GCancellable *cancellable, GError **error);
void aid_chat_reset(
                AidChat *chat, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
gboolean aid_chat_reset_finish(AidChat *chat, GAsyncResult *result, GError **error);

gboolean aid_chat_close_sync(AidChat *chat, GCancellable *cancellable, GError **error);
void aid_chat_close(
                AidChat *chat, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
gboolean aid_chat_close_finish(AidChat *chat, GAsyncResult *result, GError **error);

G_END_DECLS
