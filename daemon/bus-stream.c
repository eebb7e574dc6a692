/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-stream.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aid-errors.h"
#include "log.h"
#include "utf8.h"

struct bus_stream {
        atomic_uint n_ref;
        struct daemon *d;
        char *path, *owner;

        /* Text not sent yet, as a D-Bus string. The worker appends, whoever holds the bus lock
         * sends; this lock is held only for that. */
        pthread_mutex_t lock;
        char *pending;
        size_t pending_len, pending_cap;

        /* Under the bus lock. */
        bool closed, send_failed;
        uint64_t n_signals;
        /* The worker's; the loop reads it after the job's last event, which the event queue's
         * mutex orders after every send. */
        uint64_t send_nsec;
};

int bus_stream_new(struct daemon *d, const char *path, const char *owner, struct bus_stream **ret)
{
        struct bus_stream *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        atomic_init(&s->n_ref, 1);
        pthread_mutex_init(&s->lock, NULL);
        s->d = d;
        s->path = strdup(path);
        s->owner = strdup(owner);
        if (!s->path || !s->owner) {
                bus_stream_unref(s);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}

struct bus_stream *bus_stream_ref(struct bus_stream *s)
{
        if (s)
                atomic_fetch_add(&s->n_ref, 1);
        return s;
}

struct bus_stream *bus_stream_unref(struct bus_stream *s)
{
        if (!s || atomic_fetch_sub(&s->n_ref, 1) > 1)
                return NULL;
        pthread_mutex_destroy(&s->lock);
        free(s->path);
        free(s->owner);
        free(s->pending);
        free(s);
        return NULL;
}

int bus_new_unicast_signal(sd_bus *bus, const char *path, const char *owner, const char *interface,
                const char *member, sd_bus_message **ret)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_signal(bus, &m, path, interface, member);
        if (r < 0)
                return r;
        /* Streaming results are the caller's alone: a signal without a destination would be
         * broadcast to every connection whose match rule covers it. */
        r = sd_bus_message_set_destination(m, owner);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

static int send_token(struct bus_stream *s, const char *text)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = bus_new_unicast_signal(s->d->bus, s->path, s->owner, AID_REQUEST_INTERFACE, "Token", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", text);
        if (r >= 0)
                r = sd_bus_send(NULL, m, NULL);
        return r;
}

/* With the bus lock held. */
static void flush_locked(struct bus_stream *s)
{
        int r = 0;

        pthread_mutex_lock(&s->lock);
        if (s->pending_len > 0 && !s->closed) {
                r = send_token(s, s->pending);
                s->n_signals += r >= 0;
        }
        s->pending_len = 0;
        pthread_mutex_unlock(&s->lock);
        /* Once per stream: a bus that went away would otherwise log every token. Not at all
         * when the connection is closed: the daemon is exiting (sd-bus closes it as the loop
         * ends, while the worker finishes its step) or lost the bus, which says so itself. */
        if (r < 0 && r != -ENOTCONN && !s->send_failed) {
                s->send_failed = true;
                log_warning_errno(r, "Failed to send a Token signal to %s: %m", s->owner);
        }
}

void bus_stream_flush(struct bus_stream *s)
{
        if (s)
                flush_locked(s);
}

void bus_stream_close(struct bus_stream *s)
{
        if (!s)
                return;
        s->closed = true;
        pthread_mutex_lock(&s->lock);
        s->pending_len = 0;
        pthread_mutex_unlock(&s->lock);
}

static uint64_t thread_cpu_nsec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The worker's thread. */
static void on_token(void *data, const char *text, size_t len)
{
        struct bus_stream *s = data;
        uint64_t t0 = thread_cpu_nsec();
        bool appended = false;

        pthread_mutex_lock(&s->lock);
        if (s->pending_cap < s->pending_len + len + 1) {
                size_t cap = MAX(s->pending_len + len + 1, 2 * s->pending_cap);
                char *p = realloc(s->pending, cap);
                if (p) {
                        s->pending = p;
                        s->pending_cap = cap;
                }
        }
        if (s->pending_cap >= s->pending_len + len + 1) {
                s->pending_len += utf8_copy_dbus_string(s->pending + s->pending_len, text, len);
                appended = true;
        }
        pthread_mutex_unlock(&s->lock);
        if (!appended)
                log_error_errno(-ENOMEM, "Out of memory");

        /* The loop is busy: what is pending goes with the next piece, or before the end. */
        if (daemon_bus_trylock(s->d)) {
                flush_locked(s);
                daemon_bus_unlock(s->d);
        }
        s->send_nsec += thread_cpu_nsec() - t0;
}

static void on_release(void *data)
{
        bus_stream_unref(data);
}

struct text_token_sink bus_stream_sink(struct bus_stream *s)
{
        return (struct text_token_sink){
                .token = on_token, .release = on_release, .data = bus_stream_ref(s)
        };
}

void bus_stream_get_cost(struct bus_stream *s, uint64_t *ret_signals, uint64_t *ret_usec)
{
        *ret_signals = s ? s->n_signals : 0;
        *ret_usec = s ? s->send_nsec / 1000u : 0;
}
