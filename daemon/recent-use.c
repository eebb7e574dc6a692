/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "recent-use.h"

#include <stdlib.h>
#include <string.h>

void recent_uses_prune(struct recent_uses *l, uint64_t now)
{
        size_t k = 0;

        for (size_t i = 0; i < l->n; i++) {
                /* A clock set back makes now smaller than a last use: keep such an entry. */
                if (now > l->v[i].last_usec && now - l->v[i].last_usec > RECENT_USE_USEC) {
                        free(l->v[i].app_id);
                        continue;
                }
                l->v[k++] = l->v[i];
        }
        l->n = k;
}

/* The entry to give up for a new one: the one whose last use is oldest. */
static struct recent_use *least_recent(struct recent_uses *l)
{
        struct recent_use *oldest = &l->v[0];

        for (size_t i = 1; i < l->n; i++)
                if (l->v[i].last_usec < oldest->last_usec)
                        oldest = &l->v[i];
        return oldest;
}

void recent_uses_record(struct recent_uses *l, const char *app_id, enum aid_identity_kind kind,
                enum aid_capability cap, uid_t uid, uint64_t now)
{
        struct recent_use *r;
        char *id;

        recent_uses_prune(l, now);
        for (size_t i = 0; i < l->n; i++) {
                r = &l->v[i];
                if (r->cap == cap && r->uid == uid && r->kind == kind && strcmp(r->app_id, app_id) == 0) {
                        r->last_usec = now;
                        r->count++;
                        return;
                }
        }
        id = strdup(app_id);
        if (!id)
                return;
        if (l->n >= RECENT_USES_MAX) {
                r = least_recent(l);
                free(r->app_id);
        } else {
                r = realloc(l->v, (l->n + 1) * sizeof(*r));
                if (!r) {
                        free(id);
                        return;
                }
                l->v = r;
                r = &l->v[l->n++];
        }
        *r = (struct recent_use){ .app_id = id,
                .kind = kind,
                .cap = cap,
                .uid = uid,
                .first_usec = now,
                .last_usec = now,
                .count = 1 };
}

void recent_uses_clear(struct recent_uses *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i].app_id);
        free(l->v);
        *l = (struct recent_uses){ 0 };
}
