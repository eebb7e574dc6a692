/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

/* Exit codes, documented in --help and aidctl(1); scripts rely on them. */
enum {
        EXIT_OK = 0,
        EXIT_DAEMON_ERROR = 1,
        EXIT_USAGE = 2,
        EXIT_UNREACHABLE = 3,
        EXIT_CANCELLED = 130, /* 128 + SIGINT, as a shell reports a command Ctrl-C stopped */
};

/* Prints the error and returns the exit code for it: EXIT_UNREACHABLE when aid cannot be
 * reached, EXIT_DAEMON_ERROR when it answered with an error. */
int aidctl_report_error(const GError *error);
