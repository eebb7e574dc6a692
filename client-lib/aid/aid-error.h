/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(AID_INSIDE) && !defined(AID_COMPILATION)
#error "Only <aid/aid.h> can be included directly."
#endif

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * AID_ERROR:
 *
 * The error domain of libaid. Errors the daemon replies with (org.aid.Error.*) arrive in this
 * domain, with the D-Bus decoration stripped from their messages.
 */
#define AID_ERROR (aid_error_quark())

/**
 * AidError:
 * @AID_ERROR_PERMISSION_DENIED: the privacy policy does not allow the caller this
 * (org.aid.Error.PermissionDenied)
 * @AID_ERROR_INVALID_ARGUMENT: an argument is malformed or out of range (org.aid.Error.InvalidArgument)
 * @AID_ERROR_BAD_INPUT: an input (image, audio) cannot be decoded (org.aid.Error.BadInput)
 * @AID_ERROR_TOO_LARGE: an input is larger than the daemon accepts (org.aid.Error.TooLarge)
 * @AID_ERROR_NO_SUCH_MODEL: no model has the given id (org.aid.Error.NoSuchModel)
 * @AID_ERROR_MODEL_UNAVAILABLE: the model exists but cannot be used (org.aid.Error.ModelUnavailable)
 * @AID_ERROR_QUOTA_EXCEEDED: a per-app limit was reached (org.aid.Error.QuotaExceeded)
 * @AID_ERROR_CANCELLED: the daemon cancelled the request (org.aid.Error.Cancelled)
 * @AID_ERROR_INTERNAL: the daemon failed (org.aid.Error.Internal)
 * @AID_ERROR_DAEMON_NOT_RUNNING: nobody owns org.aid.Daemon1 on the bus and it could not be activated
 * @AID_ERROR_BUS_UNREACHABLE: the bus itself cannot be connected to
 * @AID_ERROR_FAILED: the daemon answered something libaid does not understand
 *
 * Error codes of the %AID_ERROR domain. The first ones mirror the D-Bus errors of
 * dbus/aid-errors.h one to one; the last three are found by the client itself.
 */
typedef enum {
        AID_ERROR_PERMISSION_DENIED,
        AID_ERROR_INVALID_ARGUMENT,
        AID_ERROR_BAD_INPUT,
        AID_ERROR_TOO_LARGE,
        AID_ERROR_NO_SUCH_MODEL,
        AID_ERROR_MODEL_UNAVAILABLE,
        AID_ERROR_QUOTA_EXCEEDED,
        AID_ERROR_CANCELLED,
        AID_ERROR_INTERNAL,
        AID_ERROR_DAEMON_NOT_RUNNING,
        AID_ERROR_BUS_UNREACHABLE,
        AID_ERROR_FAILED,
} AidError;

GQuark aid_error_quark(void);
GType aid_error_get_type(void);
#define AID_TYPE_ERROR (aid_error_get_type())

G_END_DECLS
