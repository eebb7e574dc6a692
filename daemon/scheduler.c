/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "scheduler.h"

/* One app in one class. Apps stay in their class's list while their queue is empty, so that an
 * app keeps its place in the rotation between two requests; the list is ordered by when the app
 * was last served (never-served apps first, in arrival order). */
struct sched_app {
        struct sched_app *next, *prev;
        char *id;
        bool served;
        struct sched_item *head, *tail;
};

struct sched {
        struct sched_app *apps[SCHED_N_CLASSES]; /* head of each class's list */
        size_t n_queued;
};

int sched_new(struct sched **ret)
{
        struct sched *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

struct sched *sched_free(struct sched *s)
{
        if (!s)
                return NULL;
        for (unsigned c = 0; c < SCHED_N_CLASSES; c++)
                while (s->apps[c]) {
                        struct sched_app *a = s->apps[c];
                        s->apps[c] = a->next;
                        for (struct sched_item *it = a->head; it; it = it->next)
                                it->app = NULL;
                        free(a->id);
                        free(a);
                }
        free(s);
        return NULL;
}

static void app_unlink(struct sched *s, unsigned c, struct sched_app *a)
{
        if (a->prev)
                a->prev->next = a->next;
        else
                s->apps[c] = a->next;
        if (a->next)
                a->next->prev = a->prev;
        a->next = a->prev = NULL;
}

/* Inserts a after prev (NULL: at the head). */
static void app_insert_after(struct sched *s, unsigned c, struct sched_app *prev, struct sched_app *a)
{
        a->prev = prev;
        a->next = prev ? prev->next : s->apps[c];
        if (a->next)
                a->next->prev = a;
        if (prev)
                prev->next = a;
        else
                s->apps[c] = a;
}

int sched_push(struct sched *s, struct sched_item *it, const char *app_id, unsigned prio)
{
        struct sched_app *a, *last_new = NULL;

        if (!s || !it || !app_id || prio >= SCHED_N_CLASSES || it->app)
                return -EINVAL;
        for (a = s->apps[prio]; a; a = a->next) {
                if (strcmp(a->id, app_id) == 0)
                        break;
                if (!a->served)
                        last_new = a;
        }
        if (!a) {
                a = calloc(1, sizeof(*a));
                if (!a)
                        return -ENOMEM;
                a->id = strdup(app_id);
                if (!a->id) {
                        free(a);
                        return -ENOMEM;
                }
                /* A newcomer goes after the other never-served apps and before every app that
                 * has had a turn. */
                app_insert_after(s, prio, last_new, a);
        }
        it->app = a;
        it->next = NULL;
        it->prev = a->tail;
        if (a->tail)
                a->tail->next = it;
        else
                a->head = it;
        a->tail = it;
        s->n_queued++;
        return 0;
}

void sched_remove(struct sched *s, struct sched_item *it)
{
        struct sched_app *a;

        if (!s || !it || !it->app)
                return;
        a = it->app;
        if (it->prev)
                it->prev->next = it->next;
        else
                a->head = it->next;
        if (it->next)
                it->next->prev = it->prev;
        else
                a->tail = it->prev;
        it->next = it->prev = NULL;
        it->app = NULL;
        s->n_queued--;
}

struct sched_item *sched_pop(struct sched *s, sched_judge_t judge, void *userdata)
{
        for (unsigned c = 0; c < SCHED_N_CLASSES; c++)
                for (struct sched_app *a = s->apps[c]; a; a = a->next) {
                        struct sched_item *it = a->head;
                        struct sched_app *tail;

                        if (!it)
                                continue;
                        switch (judge(it, userdata)) {
                        case SCHED_SKIP:
                                continue;
                        case SCHED_BLOCK:
                                return NULL;
                        case SCHED_START:
                                break;
                        }
                        sched_remove(s, it);
                        /* Served now: to the end of the rotation. */
                        a->served = true;
                        for (tail = a; tail->next; tail = tail->next)
                                ;
                        if (tail != a) {
                                app_unlink(s, c, a);
                                app_insert_after(s, c, tail, a);
                        }
                        return it;
                }
        return NULL;
}

bool sched_empty(const struct sched *s)
{
        return !s || s->n_queued == 0;
}
