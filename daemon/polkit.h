/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Asking polkit (org.freedesktop.PolicyKit1 CheckAuthorization) whether the sender of a method
 * call may do an action, without blocking the loop: the first time a call is seen, the
 * question is sent and the call is put aside; when the answer arrives, the call is dispatched
 * again and this time gets the answer. Used in system mode only. */

#include <systemd/sd-bus.h>

struct daemon;

/* 1: authorized; 0: asked, the message comes back later; < 0: error set (not authorized, or
 * polkit is not there). */
int polkit_check(struct daemon *d, sd_bus_message *m, const char *action, sd_bus_error *error);

void polkit_queries_free(struct daemon *d);
