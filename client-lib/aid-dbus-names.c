/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "aid-dbus-names.h"
#include "aid-errors.h"

/* tests/unit/test-error-map.c checks this order against the AidError codes' nicknames. */
const char *const aid_dbus_error_names[AID_N_DBUS_ERRORS] = {
        AID_ERROR_PERMISSION_DENIED,
        AID_ERROR_INVALID_ARGUMENT,
        AID_ERROR_BAD_INPUT,
        AID_ERROR_TOO_LARGE,
        AID_ERROR_NO_SUCH_MODEL,
        AID_ERROR_MODEL_UNAVAILABLE,
        AID_ERROR_QUOTA_EXCEEDED,
        AID_ERROR_CANCELLED,
        AID_ERROR_INTERNAL,
};

const char aid_dbus_bus_name[] = AID_BUS_NAME;
const char aid_dbus_object_path[] = AID_OBJECT_PATH;
const char aid_dbus_manager_interface[] = AID_MANAGER_INTERFACE;
