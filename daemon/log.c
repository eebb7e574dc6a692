/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

static int max_level = LOG_INFO;
static bool to_journal;

void log_open(void)
{
        /* systemd sets JOURNAL_STREAM=<dev>:<ino> of the stream it connected; it only means
         * something while stderr is still that stream (a shell redirect changes it). */
        const char *e = getenv("JOURNAL_STREAM");
        struct stat st;
        uint64_t dev, ino;

        to_journal = false;
        if (!e || sscanf(e, "%" SCNu64 ":%" SCNu64, &dev, &ino) != 2)
                return;
        if (fstat(STDERR_FILENO, &st) < 0)
                return;
        to_journal = (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino;
}

void log_set_max_level(int level)
{
        max_level = level;
}

int log_get_max_level(void)
{
        return max_level;
}

int log_level_from_string(const char *s)
{
        static const struct {
                const char *name;
                int level;
        } table[] = {
                { "emerg", LOG_EMERG },
                { "alert", LOG_ALERT },
                { "crit", LOG_CRIT },
                { "err", LOG_ERR },
                { "error", LOG_ERR },
                { "warning", LOG_WARNING },
                { "warn", LOG_WARNING },
                { "notice", LOG_NOTICE },
                { "info", LOG_INFO },
                { "debug", LOG_DEBUG },
        };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (strcmp(s, table[i].name) == 0)
                        return table[i].level;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
                return s[0] - '0';
        return -EINVAL;
}

/* One line on stderr, whatever the message holds: a model's file name or a caller's path may
 * hold a newline, which would make up a line of its own (a forged log record), or an escape
 * sequence for the terminal of whoever reads the log. Those are written escaped. The journal
 * keeps a message whole by itself. */
static void write_stderr(const char *message)
{
        flockfile(stderr);
        fputs("aid: ", stderr);
        for (const unsigned char *p = (const unsigned char *)message; *p; p++) {
                if (*p == '\n')
                        fputs("\\n", stderr);
                else if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
                        fprintf(stderr, "\\x%02x", *p);
                else
                        putc(*p, stderr);
        }
        putc('\n', stderr);
        funlockfile(stderr);
}

static void write_journal(int level, int error, const char *file, int line, const char *func,
                const char *const *fields, const char *message)
{
        char priority[32], code_file[512], code_line[32], code_func[256], errno_field[32];
        _cleanup_free_ char *message_field = NULL;
        struct iovec iov[16];
        size_t n = 0;

        if (asprintf(&message_field, "MESSAGE=%s", message) < 0)
                return;
        snprintf(priority, sizeof(priority), "PRIORITY=%d", level);
        snprintf(code_file, sizeof(code_file), "CODE_FILE=%s", file);
        snprintf(code_line, sizeof(code_line), "CODE_LINE=%d", line);
        snprintf(code_func, sizeof(code_func), "CODE_FUNC=%s", func);

        iov[n++] = (struct iovec){ message_field, strlen(message_field) };
        iov[n++] = (struct iovec){ priority, strlen(priority) };
        iov[n++] = (struct iovec){ code_file, strlen(code_file) };
        iov[n++] = (struct iovec){ code_line, strlen(code_line) };
        iov[n++] = (struct iovec){ code_func, strlen(code_func) };
        iov[n++] = (struct iovec){ (char *)"SYSLOG_IDENTIFIER=aid", strlen("SYSLOG_IDENTIFIER=aid") };
        if (error != 0) {
                snprintf(errno_field, sizeof(errno_field), "ERRNO=%d", abs(error));
                iov[n++] = (struct iovec){ errno_field, strlen(errno_field) };
        }
        for (size_t i = 0; fields && fields[i] && n < ELEMENTSOF(iov); i++)
                iov[n++] = (struct iovec){ (char *)fields[i], strlen(fields[i]) };

        if (sd_journal_sendv(iov, (int)n) < 0)
                /* The journal went away: the message still has to go somewhere. */
                write_stderr(message);
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                const char *const *fields, const char *format, ...)
{
        _cleanup_free_ char *message = NULL;
        int saved_errno = errno;
        va_list ap;

        if (level > max_level)
                return -abs(error);

        /* %m prints strerror(errno); make it the error we were given. */
        errno = abs(error);
        va_start(ap, format);
        if (vasprintf(&message, format, ap) < 0)
                message = NULL;
        va_end(ap);

        if (message) {
                if (to_journal)
                        write_journal(level, error, file, line, func, fields, message);
                else
                        write_stderr(message);
        }

        errno = saved_errno;
        return -abs(error);
}
