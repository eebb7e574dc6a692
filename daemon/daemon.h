/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The daemon object: the sd-event loop, the bus connection, the model registry and the
 * inotify watches that keep the registry current. */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "aid-conf.h"
#include "macro.h"
#include "recent-use.h"
#include "registry.h"

struct daemon {
        sd_event *event;
        sd_bus *bus;
        /* The loop holds bus_lock whenever it is not waiting for events, so another thread that
         * holds it may use bus (daemon_bus_lock()). bus_wake wakes the loop when such a thread
         * left output queued. */
        pthread_mutex_t bus_lock;
        int bus_wake_fd;
        sd_event_source *bus_wake;
        enum aid_bus_mode bus_mode;
        struct aid_conf conf;
        struct registry *registry;

        sd_bus_slot *manager_slot;
        struct bus_text *text; /* the Text interface and its worker (bus-text.c) */
        sd_event_source *sigterm, *sigint, *sighup, *sigio;
        sd_event_source **watches; /* one inotify source per registry_watch_dirs() entry */
        size_t n_watches;
        sd_event_source *rescan_timer; /* debounces inotify bursts */

        /* The privacy policy (bus-policy.c). */
        char **policy_dirs; /* NULL-terminated, read in order */
        struct aid_policy *policy;
        struct aid_ratelimit *ratelimit;
        struct recent_uses recent;           /* GetRecentUse's record */
        struct polkit_query *polkit_queries; /* a list */
        sd_event_source **policy_watches;
        size_t n_policy_watches;
        sd_event_source *policy_timer; /* debounces changes in the policy directories */
        bool network_isolated;
};

/* Takes ownership of *conf (it is cleared). address is used in AID_BUS_ADDRESS mode. Connects,
 * scans the models, exports the Manager and owns org.aid.Daemon1; on failure the reason has
 * been logged. */
int daemon_new(enum aid_bus_mode mode, const char *address, struct aid_conf *conf, struct daemon **ret);
struct daemon *daemon_free(struct daemon *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct daemon *, daemon_free);

/* Runs the loop until SIGTERM/SIGINT (0) or the bus goes away (non-zero). */
int daemon_run(struct daemon *d);

/* For threads other than the loop's: while one holds this lock, it may build and send messages
 * on d->bus. The loop's own callbacks run with the lock held and must not take it. trylock is
 * false while the loop is busy (dispatching). Unlocking wakes the loop if a message is still
 * queued for the socket, so that the loop writes it. */
bool daemon_bus_trylock(struct daemon *d);
void daemon_bus_unlock(struct daemon *d);

/* Scans the model directories again, logs, updates the status and emits the change signals
 * when the set changed. *ret_changed may be NULL. */
int daemon_rescan(struct daemon *d, const char *why, bool *ret_changed);
