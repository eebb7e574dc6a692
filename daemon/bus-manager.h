/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* org.aid.Daemon1.Manager on /org/aid/Daemon1 (dbus/org.aid.Daemon1.xml is the contract). */

#include <systemd/sd-bus.h>

struct daemon;
struct registry_entry;

int bus_manager_add(struct daemon *d);

/* ModelsChanged(n_models) and PropertiesChanged invalidating Models and DefaultModels. */
int bus_manager_emit_models_changed(struct daemon *d);

/* Appends one model dictionary (a{sv}, keys as documented in the XML) to m; the state keys
 * come from d's text worker. */
int bus_append_model(sd_bus_message *m, struct daemon *d, const struct registry_entry *e);
