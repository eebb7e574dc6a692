/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "mapping-fault.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* Only async-signal-safe calls below: write(2), raise(3), strlen(3), memcpy(3). */

/* Appends s to the message in buf (of size cap, used len), cutting it short if it must. */
static size_t append(char *buf, size_t cap, size_t len, const char *s)
{
        size_t n = strlen(s);

        if (n > cap - 1 - len)
                n = cap - 1 - len;
        memcpy(buf + len, s, n);
        buf[len + n] = '\0';
        return len + n;
}

/* v in hexadecimal, "0x" first, into buf (at least 19 bytes). */
static const char *hex(uintptr_t v, char *buf)
{
        char tmp[16];
        size_t n = 0, i = 0;

        do {
                tmp[n++] = "0123456789abcdef"[v & 0xf];
                v >>= 4;
        } while (v && n < sizeof(tmp));
        buf[i++] = '0';
        buf[i++] = 'x';
        while (n > 0)
                buf[i++] = tmp[--n];
        buf[i] = '\0';
        return buf;
}

static void on_sigbus(int sig, siginfo_t *si, void *context)
{
        int saved_errno = errno;
        char msg[768], addr[24];
        size_t len = 0;

        (void)context;
        msg[0] = '\0';
        if (si && si->si_code <= 0) {
                /* kill(2), sigqueue(3): another process, not a fault. */
                len = append(msg, sizeof(msg), len, "aid: received SIGBUS from another process; exiting by it.\n");
        } else {
                len = append(msg, sizeof(msg), len, "aid: SIGBUS reading mapped memory at ");
                len = append(msg, sizeof(msg), len, hex((uintptr_t)(si ? si->si_addr : NULL), addr));
                len = append(msg, sizeof(msg), len,
                                ": a file aid has mapped (a model's weights) was truncated or overwritten "
                                "while in use, or its storage failed to read. Without a lease on the file (a "
                                "file of another owner and no CAP_LEASE, or a file system without leases) aid "
                                "cannot stop such a write in time: copy a new model to another name and rename "
                                "it over the old one (aid(8)). aid exits by the signal.\n");
        }
        /* One write: other threads may be logging, and a pipe or an O_APPEND file keeps a write
         * of this size whole. */
        while (write(STDERR_FILENO, msg, len) < 0 && errno == EINTR)
                ;
        errno = saved_errno;
        /* The handler was reset to the default (SA_RESETHAND): the signal, raised again, ends
         * aid as it would have without one, with a core dump where those are kept. A fault would
         * come back by itself on return; one sent by kill(2) would not. */
        raise(sig);
}

int mapping_fault_handler_install(void)
{
        struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER };

        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGBUS, &sa, NULL) < 0)
                return -errno;
        return 0;
}
