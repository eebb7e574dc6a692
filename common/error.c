/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>

#include "error.h"

int aid_error_setv(struct aid_error *err, int code, const char *fmt, va_list ap)
{
        code = ERRNO_NEG(code);
        if (err) {
                err->code = code;
                vsnprintf(err->message, sizeof(err->message), fmt, ap);
        }
        return code;
}

int aid_error_set(struct aid_error *err, int code, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        code = aid_error_setv(err, code, fmt, ap);
        va_end(ap);
        return code;
}

void aid_error_prefix(struct aid_error *err, const char *fmt, ...)
{
        char old[sizeof(err->message)];
        size_t n;
        va_list ap;

        if (!err)
                return;
        memcpy(old, err->message, sizeof(old));
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        n = strlen(err->message);
        /* Truncation is fine: the message is for people and stays one line. */
        if (n + 2 < sizeof(err->message))
                snprintf(err->message + n, sizeof(err->message) - n, ": %.*s",
                                (int)(sizeof(err->message) - n - 3), old);
}
