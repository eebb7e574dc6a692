/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

/* dbus/aid-errors.h spells its D-Bus error names AID_ERROR_<NAME>, as strings: the same
 * spelling as the public AidError codes, so the two cannot meet in one translation unit. The
 * names are read in aid-dbus-names.c alone and reach the rest of libaid through here. */

/* The org.aid.Error.* names, in the order of the AidError codes. */
#define AID_N_DBUS_ERRORS 9
extern const char *const aid_dbus_error_names[AID_N_DBUS_ERRORS];

extern const char aid_dbus_bus_name[];
extern const char aid_dbus_object_path[];
extern const char aid_dbus_manager_interface[];
