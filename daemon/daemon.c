/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "daemon.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "aid-errors.h"
#include "bus-manager.h"
#include "bus-policy.h"
#include "bus-text.h"
#include "log.h"
#include "model-lease.h"

/* Copying a multi-gigabyte model takes a while and produces a stream of events; the scan
 * waits until the directory has been quiet this long, so it runs once, on the finished file. */
#define RESCAN_DEBOUNCE_USEC (300 * 1000)

/* IN_MODIFY is what keeps pushing the debounce out while a large file is still being written
 * (between its IN_CREATE and its IN_CLOSE_WRITE). */
static const uint32_t watch_mask = IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE |
                                   IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

static void drop_watches(struct daemon *d)
{
        for (size_t i = 0; i < d->n_watches; i++)
                sd_event_source_disable_unref(d->watches[i]);
        free(d->watches);
        d->watches = NULL;
        d->n_watches = 0;
}

static int on_rescan_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct daemon *d = userdata;

        (void)daemon_rescan(d, "a model directory changed", NULL);
        return 0;
}

static int on_inotify(sd_event_source *s, const struct inotify_event *event, void *userdata)
{
        struct daemon *d = userdata;
        uint64_t now;
        int r;

        r = sd_event_now(d->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return log_warning_errno(r, "Failed to read the clock: %m");

        if (!d->rescan_timer) {
                r = sd_event_add_time(d->event, &d->rescan_timer, CLOCK_MONOTONIC,
                                now + RESCAN_DEBOUNCE_USEC, 0, on_rescan_timer, d);
                if (r < 0)
                        return log_warning_errno(r, "Failed to arm the rescan timer: %m");
                (void)sd_event_source_set_description(d->rescan_timer, "rescan-debounce");
                return 0;
        }

        r = sd_event_source_set_time(d->rescan_timer, now + RESCAN_DEBOUNCE_USEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(d->rescan_timer, SD_EVENT_ONESHOT);
        if (r < 0)
                return log_warning_errno(r, "Failed to re-arm the rescan timer: %m");
        return 0;
}

/* The registry's list of directories changes with every scan (a new Ollama blob folder, a
 * removed models folder), so the watches are made again each time. */
static int update_watches(struct daemon *d)
{
        char *const *dirs = registry_watch_dirs(d->registry);
        size_t n = 0;

        drop_watches(d);
        while (dirs && dirs[n])
                n++;
        if (n == 0)
                return 0;

        d->watches = calloc(n, sizeof(*d->watches));
        if (!d->watches)
                return log_error_errno(-ENOMEM, "Out of memory");

        for (size_t i = 0; i < n; i++) {
                sd_event_source *s = NULL;
                int r;

                r = sd_event_add_inotify(d->event, &s, dirs[i], watch_mask, on_inotify, d);
                if (r < 0) {
                        /* Not fatal: the directory may have vanished since the scan, or the
                         * inotify limits are reached; SIGHUP and Rescan() still work. */
                        log_warning_errno(r, "Cannot watch %s for new models: %m", dirs[i]);
                        continue;
                }
                d->watches[d->n_watches++] = s;
        }
        log_debug("Watching %zu model directories.", d->n_watches);
        return 0;
}

static void log_unusable(const struct registry *reg)
{
        size_t n = registry_n_entries(reg);

        for (size_t i = 0; i < n; i++) {
                const struct registry_entry *e = registry_entry_at(reg, i);
                _cleanup_free_ char *field = NULL;

                if (e->usable)
                        continue;
                if (asprintf(&field, "AID_MODEL_PATH=%s", e->path) < 0)
                        field = NULL;
                const char *const fields[] = { field, NULL };
                log_full_errno_fields(LOG_WARNING, 0, field ? fields : NULL, "Model %s is not usable: %s",
                                e->path, e->reason ? e->reason : "unknown reason");
        }
}

static void count(const struct registry *reg, size_t *ret_usable, size_t *ret_unusable)
{
        size_t n = registry_n_entries(reg), usable = 0;

        for (size_t i = 0; i < n; i++)
                if (registry_entry_at(reg, i)->usable)
                        usable++;
        *ret_usable = usable;
        *ret_unusable = n - usable;
}

int daemon_rescan(struct daemon *d, const char *why, bool *ret_changed)
{
        size_t usable, unusable;
        bool changed = false;
        int r;

        log_debug("Rescanning models: %s.", why);
        r = registry_scan(d->registry, &changed);
        /* The old watch list is gone with the scan, even a failed one. */
        (void)update_watches(d);
        if (r < 0)
                return log_error_errno(r, "Failed to scan the model directories: %m");

        count(d->registry, &usable, &unusable);
        (void)sd_notifyf(false, "STATUS=Serving %zu models (%zu unusable)", usable, unusable);

        /* At start (no Manager yet) the summary is logged even for an empty registry. */
        if (changed || !d->manager_slot) {
                log_unusable(d->registry);
                log_info("Found %zu models (%zu unusable).", usable + unusable, unusable);
                if (d->manager_slot)
                        (void)bus_manager_emit_models_changed(d);
        }
        if (ret_changed)
                *ret_changed = changed;
        return 0;
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        struct daemon *d = userdata;

        log_info("Received SIG%s, exiting.", sigabbrev_np((int)si->ssi_signo));
        return sd_event_exit(d->event, 0);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        struct daemon *d = userdata;

        log_info("Received SIGHUP, reloading the privacy policy and rescanning the model directories.");
        (void)policy_reload(d, "SIGHUP");
        (void)daemon_rescan(d, "SIGHUP", NULL);
        return 0;
}

/* A process opens the loaded model's file for writing (model-lease.h). */
static int on_model_lease_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        struct daemon *d = userdata;

        bus_text_check_lease(d->text);
        return 0;
}

static int setup_signals(struct daemon *d)
{
        sigset_t mask;
        int r;

        /* sd-event reads signals from a signalfd, which sees only blocked signals. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        /* The text worker's model-file lease (model-lease.h): blocked before any thread starts. */
        sigaddset(&mask, MODEL_LEASE_SIGNAL);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(-errno, "Failed to block signals: %m");

        r = sd_event_add_signal(d->event, &d->sigterm, SIGTERM, on_exit_signal, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, &d->sigint, SIGINT, on_exit_signal, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, &d->sighup, SIGHUP, on_sighup, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, &d->sigio, MODEL_LEASE_SIGNAL, on_model_lease_signal, d);
        if (r < 0)
                return log_error_errno(r, "Failed to watch signals: %m");
        return 0;
}

static int on_bus_wake(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        /* Nothing to do here: the wakeup alone makes the loop prepare again, and the bus's
         * prepare step asks for POLLOUT while its write queue is not empty. */
        (void)eventfd_read(fd, &(eventfd_t){ 0 });
        return 0;
}

static int setup_bus_lock(struct daemon *d)
{
        int r;

        r = -pthread_mutex_init(&d->bus_lock, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the bus lock: %m");
        d->bus_wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (d->bus_wake_fd < 0)
                return log_error_errno(-errno, "Failed to create an eventfd: %m");
        r = sd_event_add_io(d->event, &d->bus_wake, d->bus_wake_fd, EPOLLIN, on_bus_wake, d);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the bus wakeup: %m");
        return 0;
}

bool daemon_bus_trylock(struct daemon *d)
{
        return pthread_mutex_trylock(&d->bus_lock) == 0;
}

void daemon_bus_unlock(struct daemon *d)
{
        /* A send that found the socket full leaves the message in sd-bus's write queue, and the
         * loop, asleep in epoll without POLLOUT, would not know. */
        int events = sd_bus_get_events(d->bus);

        pthread_mutex_unlock(&d->bus_lock);
        if (events > 0 && (events & POLLOUT))
                (void)eventfd_write(d->bus_wake_fd, 1);
}

static int connect_bus(struct daemon *d, const char *address)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        switch (d->bus_mode) {
        case AID_BUS_USER:
                r = sd_bus_open_user_with_description(&bus, "aid");
                break;
        case AID_BUS_SYSTEM:
                r = sd_bus_open_system_with_description(&bus, "aid");
                break;
        case AID_BUS_ADDRESS:
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, address);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, true);
                if (r >= 0)
                        r = sd_bus_set_description(bus, "aid");
                if (r >= 0)
                        r = sd_bus_start(bus);
                break;
        default:
                r = -EINVAL;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the %s bus%s%s: %m",
                                aid_bus_mode_to_string(d->bus_mode),
                                address && d->bus_mode == AID_BUS_ADDRESS ? " at " : "",
                                address && d->bus_mode == AID_BUS_ADDRESS ? address : "");

        r = sd_bus_attach_event(bus, d->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");
        /* Losing the bus ends the loop with a failure, so that systemd restarts us. */
        r = sd_bus_set_exit_on_disconnect(bus, true);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the bus connection: %m");

        d->bus = TAKE_PTR(bus);
        return 0;
}

static int request_name(struct daemon *d)
{
        int r;

        r = sd_bus_request_name(d->bus, AID_BUS_NAME, 0);
        if (r == -EEXIST)
                return log_error_errno(r, "another aid already owns %s on this bus", AID_BUS_NAME);
        if (r < 0)
                return log_error_errno(r, "Failed to own %s: %m", AID_BUS_NAME);
        return 0;
}

int daemon_new(enum aid_bus_mode mode, const char *address, struct aid_conf *conf, struct daemon **ret)
{
        _cleanup_(daemon_freep) struct daemon *d = NULL;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return log_error_errno(-ENOMEM, "Out of memory");
        d->bus_mode = mode;
        d->bus_wake_fd = -1;
        d->conf = *conf;
        *conf = (struct aid_conf){};

        r = sd_event_default(&d->event);
        if (r < 0)
                return log_error_errno(r, "Failed to create the event loop: %m");
        /* Sends WATCHDOG=1 on its own when the unit sets WatchdogSec=. */
        (void)sd_event_set_watchdog(d->event, true);

        r = setup_signals(d);
        if (r < 0)
                return r;
        r = setup_bus_lock(d);
        if (r < 0)
                return r;

        r = registry_new(&d->conf.registry, &d->registry);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the model registry: %m");

        r = connect_bus(d, address);
        if (r < 0)
                return r;

        /* The policy is in force before the first call can arrive. */
        r = policy_setup(d);
        if (r < 0)
                return r;

        /* Scan before owning the name, so the first client already sees every model. */
        r = daemon_rescan(d, "start", NULL);
        if (r < 0)
                return r;

        r = bus_manager_add(d);
        if (r < 0)
                return r;
        r = bus_text_new(d, &d->text);
        if (r < 0)
                return r;
        r = request_name(d);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(d);
        return 0;
}

struct daemon *daemon_free(struct daemon *d)
{
        if (!d)
                return NULL;
        /* The text worker first: its requests hold bus tracks and calls. */
        d->text = bus_text_free(d->text);
        drop_watches(d);
        policy_teardown(d);
        sd_event_source_disable_unref(d->rescan_timer);
        sd_event_source_disable_unref(d->sigterm);
        sd_event_source_disable_unref(d->sigint);
        sd_event_source_disable_unref(d->sighup);
        sd_event_source_disable_unref(d->sigio);
        sd_bus_slot_unref(d->manager_slot);
        sd_bus_flush_close_unref(d->bus);
        sd_event_source_disable_unref(d->bus_wake);
        if (d->bus_wake_fd >= 0) {
                close(d->bus_wake_fd);
                pthread_mutex_destroy(&d->bus_lock);
        }
        registry_free(d->registry);
        sd_event_unref(d->event);
        aid_conf_clear(&d->conf);
        free(d);
        return NULL;
}

/* sd_event_loop(), with d->bus_lock held except while waiting: the text worker sends its
 * requests' Token signals itself (bus-stream.h), so that the loop does not wake once per token. */
static int run_loop(struct daemon *d)
{
        int r, code = 0;

        for (;;) {
                pthread_mutex_lock(&d->bus_lock);
                r = sd_event_prepare(d->event);
                if (r == 0) {
                        pthread_mutex_unlock(&d->bus_lock);
                        r = sd_event_wait(d->event, UINT64_MAX);
                        pthread_mutex_lock(&d->bus_lock);
                }
                if (r > 0)
                        r = sd_event_dispatch(d->event);
                pthread_mutex_unlock(&d->bus_lock);
                if (r < 0)
                        return r;
                if (sd_event_get_state(d->event) == SD_EVENT_FINISHED)
                        break;
        }
        r = sd_event_get_exit_code(d->event, &code);
        return r < 0 ? r : code;
}

int daemon_run(struct daemon *d)
{
        size_t usable, unusable;
        int r;

        count(d->registry, &usable, &unusable);
        (void)sd_notifyf(false, "READY=1\nSTATUS=Serving %zu models (%zu unusable)", usable, unusable);
        log_info("Serving %zu models (%zu unusable) as %s on the %s bus.", usable, unusable, AID_BUS_NAME,
                        aid_bus_mode_to_string(d->bus_mode));

        r = run_loop(d);
        (void)sd_notify(false, "STOPPING=1");
        if (r < 0)
                return log_error_errno(r, "The event loop failed: %m");
        if (r != 0)
                log_error("Lost the connection to the bus, exiting.");
        return r;
}
