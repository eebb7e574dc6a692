/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Library code (engine, policy) does not log: it returns a negative errno and, where the
 * reason needs words, fills a struct aid_error the caller can show or log. */

#include <stdarg.h>
#include <stddef.h>

#include "macro.h"

struct aid_error {
        int code;          /* negative errno, 0 when unset */
        char message[512]; /* one line, no trailing newline */
};

/* Sets err (which may be NULL) and returns -abs(code), so that callers can write
 * `return aid_error_set(err, -EBADMSG, "tensor '%s': ...", name);` */
int aid_error_set(struct aid_error *err, int code, const char *fmt, ...) _printf_(3, 4);
int aid_error_setv(struct aid_error *err, int code, const char *fmt, va_list ap);

/* Prepends "prefix: " to an already set message (for adding a file name). */
void aid_error_prefix(struct aid_error *err, const char *fmt, ...) _printf_(2, 3);
