/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The daemon's log: structured journal entries when stderr is connected to the journal (as
 * under systemd), plain "aid: message" lines on stderr otherwise. Levels are syslog's. */

#include <syslog.h>

#include "macro.h"

/* Checks $JOURNAL_STREAM against stderr; call once at start (and again after dup2 in tests). */
void log_open(void);

void log_set_max_level(int level);
int log_get_max_level(void);
/* "debug", "info", "notice", "warning", "err" (also "error", "warn", "crit", "alert",
 * "emerg", or a number 0..7) -> LOG_*, or -EINVAL. */
int log_level_from_string(const char *s);

/* Logs one message. error is 0 or an errno (either sign); when set, %m in the format prints
 * strerror(error) and the entry carries ERRNO=. fields is NULL or a NULL-terminated list of
 * extra journal fields "KEY=value" (e.g. "AID_MODEL_PATH=/x.gguf"), dropped on stderr.
 * Returns -abs(error), so that `return log_error_errno(r, ...)` propagates the code. */
int log_internal(int level, int error, const char *file, int line, const char *func,
                const char *const *fields, const char *format, ...) _printf_(7, 8);

#define log_full_errno_fields(level, error, fields, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __func__, (fields), __VA_ARGS__)
#define log_full_errno(level, error, ...) log_full_errno_fields(level, error, NULL, __VA_ARGS__)
#define log_full(level, ...)              (void)log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...)                    log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)                     log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)                   log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...)                  log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)                    log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...)       log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_info_errno(error, ...)        log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_notice_errno(error, ...)      log_full_errno(LOG_NOTICE, error, __VA_ARGS__)
#define log_warning_errno(error, ...)     log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...)       log_full_errno(LOG_ERR, error, __VA_ARGS__)
