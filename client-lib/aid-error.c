/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gio/gio.h>

#include "aid-dbus-names.h"
#include "aid/aid.h"

G_STATIC_ASSERT(AID_ERROR_INTERNAL + 1 == AID_N_DBUS_ERRORS);

G_DEFINE_ENUM_TYPE(AidError, aid_error,
                G_DEFINE_ENUM_VALUE(AID_ERROR_PERMISSION_DENIED, "permission-denied"),
                G_DEFINE_ENUM_VALUE(AID_ERROR_INVALID_ARGUMENT, "invalid-argument"),
                G_DEFINE_ENUM_VALUE(AID_ERROR_BAD_INPUT, "bad-input"),
                G_DEFINE_ENUM_VALUE(AID_ERROR_TOO_LARGE, "too-large"),
                G_DEFINE_ENUM_VALUE(AID_ERROR_NO_SUCH_MODEL, "no-such-model"),
                G_DEFINE_ENUM_VALUE(AID_ERROR_MODEL_UNAVAILABLE, "model-unavailable"),
                G_DEFINE_ENUM_VALUE(AID_ERROR_QUOTA_EXCEEDED, "quota-exceeded"),
                G_DEFINE_ENUM_VALUE(AID_ERROR_CANCELLED, "cancelled"),
                G_DEFINE_ENUM_VALUE(AID_ERROR_INTERNAL, "internal"),
                G_DEFINE_ENUM_VALUE(AID_ERROR_DAEMON_NOT_RUNNING, "daemon-not-running"),
                G_DEFINE_ENUM_VALUE(AID_ERROR_BUS_UNREACHABLE, "bus-unreachable"),
                G_DEFINE_ENUM_VALUE(AID_ERROR_FAILED, "failed"))

/**
 * aid_error_quark:
 *
 * The quark of the %AID_ERROR domain. Calling it registers the domain with GDBus, so that
 * org.aid.Error.* replies become #AidError codes; every #AidClient does so on creation.
 *
 * Returns: the error domain quark
 */
GQuark aid_error_quark(void)
{
        static gsize quark = 0;
        static gsize entries_ready = 0;
        static GDBusErrorEntry entries[AID_N_DBUS_ERRORS];

        if (g_once_init_enter(&entries_ready)) {
                for (int i = 0; i < AID_N_DBUS_ERRORS; i++)
                        entries[i] = (GDBusErrorEntry){ i, aid_dbus_error_names[i] };
                g_once_init_leave(&entries_ready, 1);
        }

        g_dbus_error_register_error_domain("aid-error-quark", &quark, entries, G_N_ELEMENTS(entries));
        return (GQuark)quark;
}
