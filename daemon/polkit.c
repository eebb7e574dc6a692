/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "polkit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aid-errors.h"
#include "daemon.h"
#include "log.h"

/* CheckAuthorization flag: polkit may ask the user for a password (the caller's agent). */
#define POLKIT_ALLOW_USER_INTERACTION 1u
/* Authentication dialogs wait for a person. */
#define POLKIT_TIMEOUT_USEC (5 * 60 * 1000000ULL)

struct polkit_query {
        struct polkit_query *next;
        sd_bus_message *request;
        sd_bus_slot *slot;
        char *action;
        bool done;
        bool authorized;
        sd_bus_error error;
};

static struct polkit_query *query_free(struct polkit_query *q)
{
        if (!q)
                return NULL;
        sd_bus_slot_unref(q->slot);
        sd_bus_message_unref(q->request);
        sd_bus_error_free(&q->error);
        free(q->action);
        free(q);
        return NULL;
}

static void unlink_query(struct daemon *d, struct polkit_query *q)
{
        for (struct polkit_query **p = &d->polkit_queries; *p; p = &(*p)->next)
                if (*p == q) {
                        *p = q->next;
                        return;
                }
}

void polkit_queries_free(struct daemon *d)
{
        while (d->polkit_queries) {
                struct polkit_query *q = d->polkit_queries;
                d->polkit_queries = q->next;
                query_free(q);
        }
}

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        struct polkit_query *q = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int authorized = 0, challenge = 0, r;

        q->done = true;
        q->slot = sd_bus_slot_unref(q->slot);
        if (e) {
                log_warning("polkit could not check %s: %s", q->action, e->message);
                sd_bus_error_setf(&q->error, AID_ERROR_PERMISSION_DENIED,
                                "polkit could not check the authorization for %s: %s", q->action,
                                e->message);
        } else {
                r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
                if (r < 0)
                        sd_bus_error_setf(&q->error, AID_ERROR_INTERNAL,
                                        "polkit answered something unexpected");
                q->authorized = r >= 0 && authorized;
        }
        /* Dispatch the original call again: its handler finds the answer in the list. */
        r = sd_bus_enqueue_for_read(sd_bus_message_get_bus(q->request), q->request);
        if (r < 0)
                log_error_errno(r, "Failed to dispatch a call again after polkit answered: %m");
        return 0;
}

int polkit_check(struct daemon *d, sd_bus_message *m, const char *action, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        struct polkit_query *q;
        int r;

        for (q = d->polkit_queries; q; q = q->next)
                if (q->request == m && strcmp(q->action, action) == 0)
                        break;
        if (q) {
                if (!q->done)
                        return 0;
                unlink_query(d, q);
                if (q->authorized) {
                        query_free(q);
                        return 1;
                }
                if (sd_bus_error_is_set(&q->error))
                        r = sd_bus_error_copy(error, &q->error);
                else
                        r = sd_bus_error_setf(error, AID_ERROR_PERMISSION_DENIED,
                                        "Not authorized by polkit for %s", action);
                query_free(q);
                return r;
        }

        r = sd_bus_message_new_method_call(d->bus, &call, "org.freedesktop.PolicyKit1",
                        "/org/freedesktop/PolicyKit1/Authority", "org.freedesktop.PolicyKit1.Authority",
                        "CheckAuthorization");
        if (r >= 0)
                r = sd_bus_message_append(call, "(sa{sv})sa{ss}us", "system-bus-name", 1, "name", "s",
                                sd_bus_message_get_sender(m), action, 0, POLKIT_ALLOW_USER_INTERACTION, "");
        if (r < 0)
                return r;

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->action = strdup(action);
        if (!q->action) {
                free(q);
                return -ENOMEM;
        }
        q->request = sd_bus_message_ref(m);
        r = sd_bus_call_async(d->bus, &q->slot, call, on_reply, q, POLKIT_TIMEOUT_USEC);
        if (r < 0) {
                query_free(q);
                return sd_bus_error_setf(error, AID_ERROR_PERMISSION_DENIED, "Cannot ask polkit for %s: %s",
                                action, strerror(-r));
        }
        q->next = d->polkit_queries;
        d->polkit_queries = q;
        return 0;
}
