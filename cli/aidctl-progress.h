/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* While a request waits for its model to load (the first use of a large model can take many
 * seconds), one line on the terminal says so: "aidctl: waiting for ID to load" while the model
 * is not in memory, then "aidctl: loading ID, 45% read". Only where standard error is a
 * terminal; the line is erased before the text comes. */

#include <aid/aid.h>

struct aidctl_load_progress;

/* Starts watching model_id (NULL: the default text model). NULL when there is nothing to
 * watch or no terminal to show it on. */
struct aidctl_load_progress *aidctl_load_progress_start(AidClient *client, const char *model_id);
/* Erases the line if one is shown and stops watching. Accepts NULL; returns NULL. */
struct aidctl_load_progress *aidctl_load_progress_stop(struct aidctl_load_progress *p);
