/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "model-lease.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

int model_lease_take(const char *path, int *ret_fd, struct aid_error *err)
{
        int fd;

        *ret_fd = -1;
        /* O_NONBLOCK: where another process holds a write lease, a plain open would wait for it
         * to be broken (up to lease-break-time, 45 s), in the event loop for the registry. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 && errno == EWOULDBLOCK)
                return aid_error_set(err, -EBUSY, "%s: held by another process's write lease", path);
        if (fd < 0)
                return 0; /* the model's own open says why */
        if (fcntl(fd, F_SETLEASE, F_RDLCK) < 0) {
                int e = errno;

                close(fd);
                if (e == EAGAIN)
                        return aid_error_set(err, -EBUSY,
                                        "%s: open for writing by another process (being copied or "
                                        "downloaded?)",
                                        path);
                /* EACCES: another owner and no CAP_LEASE; EINVAL: no leases on this file system. */
                log_debug("No read lease on %s (%s): a truncation while it is in use would stop aid.",
                                path, strerror(e));
                return 0;
        }
        *ret_fd = fd;
        return 0;
}

bool model_lease_broken(int fd)
{
        /* While a lease is being broken, F_GETLEASE gives the type it is going to: none. */
        return fd >= 0 && fcntl(fd, F_GETLEASE) != F_RDLCK;
}

bool model_lease_is_file(int fd, const char *path)
{
        struct stat a, b;

        if (fd < 0)
                return true;
        return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}
