/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The two queues between the loop and the text worker, under one mutex: commands go to the
 * worker (which sleeps on a condition variable while it has neither commands nor running
 * jobs), events come back (the worker writes the eventfd when the queue turns non-empty; the
 * loop drains it). */

#include <stdarg.h>
#include <stdio.h>
#include <sys/eventfd.h>

#include "text-engine-private.h"

/* Moves the events from first to last (linked) to the loop's queue, waking it if it was empty. */
static void publish(struct text_engine *te, struct event *first, struct event *last)
{
        bool was_empty;

        pthread_mutex_lock(&te->lock);
        was_empty = !te->events;
        if (te->events_tail)
                te->events_tail->next = first;
        else
                te->events = first;
        te->events_tail = last;
        pthread_mutex_unlock(&te->lock);
        if (was_empty)
                (void)eventfd_write(te->efd, 1);
}

void te_post_event(struct text_engine *te, struct event *e)
{
        /* Only the worker posts. During a step its events wait for te_flush_events(): the
         * tokens of all running requests reach the loop with one wakeup, not one each. */
        if (te->holding) {
                if (te->held_tail)
                        te->held_tail->next = e;
                else
                        te->held = e;
                te->held_tail = e;
                return;
        }
        publish(te, e, e);
}

void te_hold_events(struct text_engine *te)
{
        te->holding = true;
}

void te_flush_events(struct text_engine *te)
{
        te->holding = false;
        if (te->held)
                publish(te, te->held, te->held_tail);
        te->held = te->held_tail = NULL;
}

struct event *te_event_free(struct event *e)
{
        if (!e)
                return NULL;
        free(e->text);
        free(e->reason);
        free(e->model_id);
        free(e);
        return NULL;
}

void te_post_simple(struct text_engine *te, enum event_type type, uint64_t id, uint32_t value)
{
        struct event *e = calloc(1, sizeof(*e));
        if (!e)
                return;
        e->type = type;
        e->id = id;
        e->value = value;
        te_post_event(te, e);
}

void te_post_token(struct text_engine *te, uint64_t id, const char *text, size_t len)
{
        struct event *e = calloc(1, sizeof(*e));
        if (!e)
                return;
        e->text = malloc(len + 1);
        if (!e->text) {
                free(e);
                return;
        }
        memcpy(e->text, text, len);
        e->text[len] = 0;
        e->len = len;
        e->type = EV_TOKEN;
        e->id = id;
        te_post_event(te, e);
}

void te_post_failed(struct text_engine *te, uint64_t id, const char *name, const char *fmt, ...)
{
        struct event *e = calloc(1, sizeof(*e));
        va_list ap;

        if (!e)
                return;
        e->type = EV_FAILED;
        e->id = id;
        e->error_name = name;
        va_start(ap, fmt);
        if (vasprintf(&e->text, fmt, ap) < 0)
                e->text = NULL;
        va_end(ap);
        te_post_event(te, e);
}

void te_post_model_state(struct text_engine *te, const char *path, enum text_model_state state,
                double progress, const char *reason)
{
        struct event *e = calloc(1, sizeof(*e));
        if (!e)
                return;
        e->type = EV_MODEL_STATE;
        e->text = strdup(path);
        e->state = state;
        e->progress = progress;
        e->reason = reason ? strdup(reason) : NULL;
        te_post_event(te, e);
}

void te_post_cmd(struct text_engine *te, struct cmd *c)
{
        pthread_mutex_lock(&te->lock);
        if (te->cmds_tail)
                te->cmds_tail->next = c;
        else
                te->cmds = c;
        te->cmds_tail = c;
        /* A new request wants its first token soon; a cancelled one wants its work stopped. */
        if (c->type == CMD_SUBMIT || c->type == CMD_CANCEL || c->type == CMD_CHAT_CLOSE ||
                        c->type == CMD_LEASE_CHECK)
                atomic_store(&te->urgent, true);
        pthread_cond_signal(&te->cond);
        pthread_mutex_unlock(&te->lock);
}

int te_send_cmd(struct text_engine *te, enum cmd_type type, uint64_t id, struct job *job, struct chat *chat)
{
        struct cmd *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->type = type;
        c->id = id;
        c->job = job;
        c->chat = chat;
        te_post_cmd(te, c);
        return 0;
}
