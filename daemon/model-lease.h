/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A read lease (fcntl(2) F_SETLEASE) on the model file the text worker has mapped.
 *
 * The weights are used in place from a mapping of the file. A file that is truncated while
 * mapped makes the next read of its pages raise SIGBUS, so `cp new.gguf model.gguf` over the
 * loaded model would have killed aid for every app. With a read lease the kernel holds back
 * such an open or truncate, and tells aid with SIGIO: the writer waits (up to
 * /proc/sys/fs/lease-break-time, 45 s by default) while aid stops the model's requests and
 * unmaps it, and goes on once aid closes the lease's descriptor.
 *
 * A lease needs the file's owner (or CAP_LEASE) and a file system that has leases. Where one
 * cannot be taken, the model is used without one, as any mapped file is. A file that some
 * process has open for writing cannot be leased (EAGAIN): it is being copied or downloaded,
 * and is neither loaded nor probed.
 *
 * The registry holds a lease only while it reads a file's header, so that a truncation waits
 * for it rather than raising SIGBUS in the event loop. */

#include <signal.h>
#include <stdbool.h>

#include "error.h"

/* The signal a lease break raises: blocked in every thread, read by the event loop. */
#define MODEL_LEASE_SIGNAL SIGIO

/* Takes a read lease on path. *ret_fd: the descriptor that holds it, to be closed (after the
 * file is unmapped) to let a writer on, or -1 where no lease could be taken. Fails with -EBUSY
 * when the file is open for writing. */
int model_lease_take(const char *path, int *ret_fd, struct aid_error *err);

/* Whether the lease held by fd is being broken: a writer waits for it to be released. */
bool model_lease_broken(int fd);

/* Whether path is still the file the lease holds (it was not replaced by a rename while it was
 * being loaded). */
bool model_lease_is_file(int fd, const char *path);
