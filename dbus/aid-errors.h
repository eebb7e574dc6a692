/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Every D-Bus error aid replies with, in one place. The client library mirrors this table in
 * its GError domain (client-lib/aid-error.c); a test checks that both agree. */

#define AID_ERROR_PREFIX            "org.aid.Error."
#define AID_ERROR_PERMISSION_DENIED "org.aid.Error.PermissionDenied"
#define AID_ERROR_INVALID_ARGUMENT  "org.aid.Error.InvalidArgument"
#define AID_ERROR_BAD_INPUT         "org.aid.Error.BadInput"
#define AID_ERROR_TOO_LARGE         "org.aid.Error.TooLarge"
#define AID_ERROR_NO_SUCH_MODEL     "org.aid.Error.NoSuchModel"
#define AID_ERROR_MODEL_UNAVAILABLE "org.aid.Error.ModelUnavailable"
#define AID_ERROR_QUOTA_EXCEEDED    "org.aid.Error.QuotaExceeded"
#define AID_ERROR_CANCELLED         "org.aid.Error.Cancelled"
#define AID_ERROR_INTERNAL          "org.aid.Error.Internal"

#define AID_BUS_NAME                "org.aid.Daemon1"
#define AID_OBJECT_PATH             "/org/aid/Daemon1"
#define AID_MANAGER_INTERFACE       "org.aid.Daemon1.Manager"
#define AID_REQUEST_INTERFACE       "org.aid.Daemon1.Request"
