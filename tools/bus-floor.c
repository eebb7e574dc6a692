/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-floor.h"

#include <gio/gio.h>
#include <systemd/sd-bus.h>
#include <time.h>

struct bus_floor {
        sd_bus *tx, *rx;
        char *destination; /* the receiver's unique name */
        guint interval_us;
        GThread *sender, *receiver;
        gint stop;

        /* The sender's, read after it is joined. */
        guint sent;
        gint64 send_ns;
        int send_error;
        /* The receiver's (atomic: the stopping thread waits for it to reach sent). */
        gint received;
        gint64 sender_cpu_ns, receiver_cpu_ns; /* each thread's whole life */
};

static gint64 thread_cpu_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (gint64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The same message aid's worker sends for a token (daemon/bus-stream.c). */
static int send_one(struct bus_floor *f)
{
        sd_bus_message *m = NULL;
        int r = sd_bus_message_new_signal(f->tx, &m, "/org/aid/Load/floor", "org.aid.Daemon1.Request", "Token");

        if (r >= 0)
                r = sd_bus_message_set_destination(m, f->destination);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", " the");
        if (r >= 0)
                r = sd_bus_send(NULL, m, NULL);
        sd_bus_message_unref(m);
        return r;
}

static gpointer sender_main(gpointer data)
{
        struct bus_floor *f = data;

        while (!g_atomic_int_get(&f->stop)) {
                gint64 t0 = thread_cpu_ns();
                int r = send_one(f);
                if (r < 0) {
                        f->send_error = r;
                        break;
                }
                f->send_ns += thread_cpu_ns() - t0;
                f->sent++;
                g_usleep(f->interval_us);
        }
        /* Whatever sd-bus still queues goes before the receiver is told to stop. */
        sd_bus_flush(f->tx);
        f->sender_cpu_ns = thread_cpu_ns();
        return NULL;
}

static gpointer receiver_main(gpointer data)
{
        struct bus_floor *f = data;

        for (;;) {
                sd_bus_message *m = NULL;
                int r = sd_bus_process(f->rx, &m);
                if (r < 0)
                        break;
                if (m && sd_bus_message_is_signal(m, "org.aid.Daemon1.Request", "Token") > 0)
                        g_atomic_int_inc(&f->received);
                sd_bus_message_unref(m);
                if (r > 0)
                        continue;
                if (g_atomic_int_get(&f->stop) == 2)
                        break;
                sd_bus_wait(f->rx, 100 * 1000);
        }
        f->receiver_cpu_ns = thread_cpu_ns();
        return NULL;
}

static int connect_to(const char *address, sd_bus **ret)
{
        sd_bus *bus = NULL;
        int r = sd_bus_new(&bus);

        if (r >= 0)
                r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

static void bus_floor_free(struct bus_floor *f)
{
        sd_bus_flush_close_unref(f->tx);
        sd_bus_flush_close_unref(f->rx);
        g_free(f->destination);
        g_free(f);
}

struct bus_floor *bus_floor_start(const char *address, guint interval_us, GError **error)
{
        struct bus_floor *f = g_new0(struct bus_floor, 1);
        const char *name = NULL;
        int r;

        f->interval_us = interval_us;
        r = connect_to(address, &f->tx);
        if (r >= 0)
                r = connect_to(address, &f->rx);
        if (r >= 0)
                r = sd_bus_get_unique_name(f->rx, &name);
        if (r < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r), "cannot connect to %s with sd-bus: %s",
                                address, g_strerror(-r));
                bus_floor_free(f);
                return NULL;
        }
        f->destination = g_strdup(name);
        f->receiver = g_thread_new("floor-receiver", receiver_main, f);
        f->sender = g_thread_new("floor-sender", sender_main, f);
        return f;
}

gboolean bus_floor_stop(struct bus_floor *f, double *ret_send_us, guint *ret_sent, guint *ret_received,
                gint64 *ret_threads_cpu_ns, GError **error)
{
        gboolean ok;

        g_atomic_int_set(&f->stop, 1);
        g_thread_join(f->sender);
        /* Let the last signals through the bus daemon (up to 2 s) before the receiver stops. */
        for (int i = 0; i < 200 && (guint)g_atomic_int_get(&f->received) < f->sent; i++)
                g_usleep(10 * 1000);
        g_atomic_int_set(&f->stop, 2);
        g_thread_join(f->receiver);
        ok = f->send_error == 0;
        if (!ok)
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-f->send_error),
                                "sending a signal failed: %s", g_strerror(-f->send_error));
        *ret_send_us = f->sent ? (double)f->send_ns / 1e3 / f->sent : -1;
        *ret_sent = f->sent;
        *ret_received = (guint)f->received;
        *ret_threads_cpu_ns = f->sender_cpu_ns + f->receiver_cpu_ns;
        bus_floor_free(f);
        return ok;
}
