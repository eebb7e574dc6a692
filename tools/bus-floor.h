/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The cost of a streamed token that no daemon can avoid: while it runs, a thread sends a
 * Token-sized unicast signal (as aid's worker does: sd-bus, a destination, one short string)
 * through the bus daemon every interval, to a receiver of its own that sleeps between them,
 * and counts the CPU time each send takes. Most of it is the write waking the bus daemon, whose
 * price is the machine's: a few microseconds on bare metal, tens on some virtual machines.
 * aid-load runs it beside the clients, so that aid's own send time can be read against it. */

#include <glib.h>

typedef struct bus_floor bus_floor;

/* Connects a sender and a receiver to the bus at address and starts sending. */
struct bus_floor *bus_floor_start(const char *address, guint interval_us, GError **error);

/* Stops, and gives the mean CPU time of a send in microseconds, the signals sent and received,
 * and the CPU time its two threads took in all (for a caller that counts its own process's);
 * FALSE with error where a send failed. Frees f. */
gboolean bus_floor_stop(struct bus_floor *f, double *ret_send_us, guint *ret_sent, guint *ret_received,
                gint64 *ret_threads_cpu_ns, GError **error);
