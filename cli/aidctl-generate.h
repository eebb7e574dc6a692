/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <aid/aid.h>

/* aidctl generate and aidctl chat: text generation from the shell, streamed as it comes. */

/* The options of both commands (--max-tokens, --temperature, ..., --system), for the main
 * option context. */
GOptionGroup *aidctl_generation_option_group(void);

/* What is wrong with the options given, for a usage error; NULL when they are fine. */
char *aidctl_generation_options_problem(void);

/* prompt: the text, or "-" to read it from standard input. Returns an exit code. */
int aidctl_generate(AidClient *client, const char *prompt, gboolean json);
int aidctl_chat(AidClient *client, gboolean json);
