/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The privacy policy inside the daemon: who is calling, whether they may, the audit record,
 * and the in-memory record of recent use. Every method that works on something an app sends
 * (text, images, audio) calls policy_check() first, before it looks at its arguments. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "policy.h"

struct daemon;
struct aid_identity;

/* What policy_check() found for an allowed call: the limits the method must apply itself
 * (MaxTokens=, MaxConcurrent=) and the caller's app id. */
struct policy_verdict {
        char app_id[256];
        uint64_t limits[AID_LIMIT_MAX];
};

/* Identifies the sender of m, applies the policy and the rate limit for cap, writes the audit
 * record and, when allowed, the recent-use record. 0 when allowed (ret may be NULL); else a
 * negative errno with error set to org.aid.Error.PermissionDenied or QuotaExceeded, whose
 * message names the app, the capability and the policy line (or when to retry). */
int policy_check(struct daemon *d, sd_bus_message *m, enum aid_capability cap, struct policy_verdict *ret,
                sd_bus_error *error);

/* The Manager's open methods (model lists) are audited at debug level only. */
void policy_note_open(struct daemon *d, sd_bus_message *m, const char *method);

/* Administrative methods (Rescan, ReloadPolicy): in user mode the daemon's own user (or root);
 * in system mode polkit's action. 1: go on; 0: polkit is asking, the message will be
 * dispatched again with the answer (the handler returns 1 and does nothing else); < 0: error
 * set. */
int policy_check_manage(struct daemon *d, sd_bus_message *m, const char *polkit_action, sd_bus_error *error);

/* Sets up the policy state: loads the policy, watches its directories, checks the network. */
int policy_setup(struct daemon *d);
void policy_teardown(struct daemon *d);

/* Reads the policy files again (ReloadPolicy, SIGHUP, a change in a policy directory), logs
 * what is wrong with them and invalidates the policy properties. */
int policy_reload(struct daemon *d, const char *why);

/* The Manager's policy members, registered with the rest of the Manager's vtable. */
int bus_policy_method_who_am_i(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_policy_method_get_recent_use(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_policy_method_check_policy(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_policy_method_get_policy(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_policy_method_reload_policy(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_policy_method_authorize(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_policy_property_get_network_isolated(sd_bus *bus, const char *path, const char *interface,
                const char *property, sd_bus_message *reply, void *userdata, sd_bus_error *error);
int bus_policy_property_get_files(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error);
int bus_policy_property_get_messages(sd_bus *bus, const char *path, const char *interface,
                const char *property, sd_bus_message *reply, void *userdata, sd_bus_error *error);
