/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Which waiting job runs next. Jobs wait in a FIFO queue per app and priority class. Classes are
 * strictly ordered (class 0 first); within a class the apps take turns: the app served longest
 * ago (or never) goes first, so an app with many queued jobs cannot hold back one that has a
 * single job. Items are intrusive (embedded in the caller's job) and never freed here. */

#include <stdbool.h>
#include <stddef.h>

#define SCHED_N_CLASSES 3

struct sched_app;

struct sched_item {
        struct sched_item *next, *prev;
        struct sched_app *app; /* NULL while not queued */
};

/* What the caller's judge says about the first job of an app's queue. */
enum sched_verdict {
        SCHED_START, /* take it */
        SCHED_SKIP,  /* cannot start now; look at the other apps */
        SCHED_BLOCK, /* must go first once it can start: take nothing now */
};

typedef enum sched_verdict (*sched_judge_t)(struct sched_item *it, void *userdata);

struct sched;

int sched_new(struct sched **ret);
/* Forgets the queued items (the caller owns them). Accepts NULL, returns NULL. */
struct sched *sched_free(struct sched *s);

/* Queues it at the end of app_id's queue in class prio (< SCHED_N_CLASSES). -EINVAL, -ENOMEM. */
int sched_push(struct sched *s, struct sched_item *it, const char *app_id, unsigned prio);
/* Takes a queued item out (cancellation). No-op for an item not queued. */
void sched_remove(struct sched *s, struct sched_item *it);
/* The next item to run, taken out of its queue: classes in order, apps in turn, the first
 * item of each app's queue shown to judge. NULL when nothing may start. */
struct sched_item *sched_pop(struct sched *s, sched_judge_t judge, void *userdata);
bool sched_empty(const struct sched *s);
