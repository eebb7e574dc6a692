/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What libaid's source files share and applications never see. None of these names matches a
 * pattern of libaid.sym, so none leaves the library. */

#include "aid/aid.h"

/* A failed method call's error as the caller should see it (see aid-client.c). Takes e. */
GError *aid_internal_call_error(AidClient *client, GError *e);

/* A Failed(error_name, message) signal as a GError: org.aid.Error.* names become AID_ERROR
 * codes with the plain message. */
GError *aid_internal_error_from_dbus(const char *error_name, const char *message);

/* Calls method (on interface at path, on aid) which returns a request object path (o), and
 * returns an AidGeneration for that request through a GTask whose source object is
 * source_object. The caller's signals are subscribed to before the call is made, and signals
 * that arrive before the reply are kept for the generation. cancellable, when cancelled, cancels
 * the request (Request.Cancel) for as long as it runs. Takes args (floating or not). */
void aid_internal_start_request(AidClient *client, gpointer source_object, gpointer source_tag,
                const char *path, const char *interface, const char *method, GVariant *args,
                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
AidGeneration *aid_internal_start_request_finish(
                gpointer source_object, GAsyncResult *result, gpointer source_tag, GError **error);

/* The D-Bus names, for the other files. */
#define AID_INTERNAL_TEXT_INTERFACE    "org.aid.Daemon1.Text"
#define AID_INTERNAL_REQUEST_INTERFACE "org.aid.Daemon1.Request"
#define AID_INTERNAL_CHAT_INTERFACE    "org.aid.Daemon1.Chat"

/* Generation can take minutes on a slow machine: no D-Bus timeout for the calls that wait
 * for it. */
#define AID_INTERNAL_NO_TIMEOUT G_MAXINT
