/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Text generation over D-Bus (dbus/org.aid.Daemon1.xml is the contract):
 * org.aid.Daemon1.Text on /org/aid/Daemon1, one org.aid.Daemon1.Request object per streamed
 * generation (/org/aid/Daemon1/request/N) and one org.aid.Daemon1.Chat object per conversation
 * (/org/aid/Daemon1/chat/N). The work itself is done by the text engine (text-engine.h), which
 * this file creates and owns. */

#include <stdint.h>

#include "macro.h"

struct daemon;
struct bus_text;

/* Creates the text engine from d->conf and exports the Text interface and the request and chat
 * subtrees on d->bus. On failure the reason has been logged. */
int bus_text_new(struct daemon *d, struct bus_text **ret);
/* Stops the engine (no events after this), drops every request and chat without replying. */
struct bus_text *bus_text_free(struct bus_text *bt);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bus_text *, bus_text_free);

/* MODEL_LEASE_SIGNAL came: see text_engine_check_lease(). bt may be NULL. */
void bus_text_check_lease(struct bus_text *bt);

/* A language model's state for the Manager's Models entries: "unloaded", "loading", "ready" or
 * "failed"; *ret_progress (0..1) while loading, *ret_reason (NULL unless failed). bt may be
 * NULL (everything is unloaded). The strings stay valid until the loop runs again. */
const char *bus_text_model_state(
                struct bus_text *bt, const char *model_path, double *ret_progress, const char **ret_reason);
