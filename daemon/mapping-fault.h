/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What aid says when a read of a mapped file fails. The weights are used in place from a
 * mapping of the model file; where aid holds no lease on it (daemon/model-lease.h: a file of
 * another owner without CAP_LEASE, a file system without leases) and the file is truncated, or
 * its storage fails (a network file system gone, a bad disk), the next read of those pages
 * raises SIGBUS. Nothing can be recovered there: the thread was in the middle of a matrix
 * product. The handler writes one line that names the likely cause on standard error (the
 * journal, under systemd), and aid then ends by the signal, as it would have: systemd's
 * Restart= brings it back. */

/* Installs the SIGBUS handler. Negative errno on failure. */
int mapping_fault_handler_install(void);
