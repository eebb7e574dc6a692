/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The privacy dashboard's record: counts per app and capability, the hour's horizon, and its
 * bound against a flood of app ids. */

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "recent-use.h"

#define T0 (1700000000ULL * 1000000ULL)

static const struct recent_use *find(
                const struct recent_uses *l, const char *app_id, enum aid_capability cap)
{
        for (size_t i = 0; i < l->n; i++)
                if (l->v[i].cap == cap && strcmp(l->v[i].app_id, app_id) == 0)
                        return &l->v[i];
        return NULL;
}

Test(recent_use, uses_are_counted_per_app_and_capability)
{
        struct recent_uses l = { 0 };
        const struct recent_use *u;

        recent_uses_record(&l, "org.example.Notes", AID_IDENTITY_FLATPAK, AID_CAP_TEXT, 1000, T0);
        recent_uses_record(&l, "org.example.Notes", AID_IDENTITY_FLATPAK, AID_CAP_TEXT, 1000, T0 + 5);
        recent_uses_record(&l, "org.example.Notes", AID_IDENTITY_FLATPAK, AID_CAP_VISION, 1000, T0 + 6);
        recent_uses_record(&l, "org.example.Notes", AID_IDENTITY_FLATPAK, AID_CAP_TEXT, 1001, T0 + 7);
        cr_assert_eq(l.n, 3);
        u = find(&l, "org.example.Notes", AID_CAP_TEXT);
        cr_assert_not_null(u);
        cr_assert_eq(u->uid, 1000);
        cr_assert_eq(u->count, 2);
        cr_assert_eq(u->first_usec, T0);
        cr_assert_eq(u->last_usec, T0 + 5);
        recent_uses_clear(&l);
        cr_assert_eq(l.n, 0);
        cr_assert_null(l.v);
}

Test(recent_use, an_hour_without_use_drops_the_entry)
{
        struct recent_uses l = { 0 };

        recent_uses_record(&l, "/usr/bin/old", AID_IDENTITY_EXECUTABLE, AID_CAP_TEXT, 0, T0);
        recent_uses_record(&l, "/usr/bin/new", AID_IDENTITY_EXECUTABLE, AID_CAP_TEXT, 0,
                        T0 + RECENT_USE_USEC / 2);
        recent_uses_prune(&l, T0 + RECENT_USE_USEC);
        cr_assert_eq(l.n, 2, "an entry exactly an hour old is still in the hour");
        recent_uses_prune(&l, T0 + RECENT_USE_USEC + 1);
        cr_assert_eq(l.n, 1);
        cr_assert_str_eq(l.v[0].app_id, "/usr/bin/new");
        /* A clock set back an hour keeps what it has. */
        recent_uses_prune(&l, T0 - RECENT_USE_USEC);
        cr_assert_eq(l.n, 1);
        recent_uses_clear(&l);
}

Test(recent_use, a_flood_of_app_ids_keeps_the_most_recent_within_the_bound)
{
        struct recent_uses l = { 0 };
        char id[64];

        /* A regular app, used now and then through the flood. */
        recent_uses_record(&l, "org.example.Regular", AID_IDENTITY_FLATPAK, AID_CAP_TEXT, 1000, T0);
        for (unsigned i = 0; i < 3 * RECENT_USES_MAX; i++) {
                snprintf(id, sizeof(id), "/tmp/flood/app-%u", i);
                recent_uses_record(&l, id, AID_IDENTITY_EXECUTABLE, AID_CAP_TEXT, 1001, T0 + 10 + 2 * i);
                if (i % 100 == 0)
                        recent_uses_record(&l, "org.example.Regular", AID_IDENTITY_FLATPAK, AID_CAP_TEXT,
                                        1000, T0 + 11 + 2 * i);
                cr_assert_leq(l.n, RECENT_USES_MAX);
        }
        cr_assert_eq(l.n, RECENT_USES_MAX);
        cr_assert_not_null(find(&l, "org.example.Regular", AID_CAP_TEXT), "the regular app was pushed out");
        cr_assert_eq(find(&l, "org.example.Regular", AID_CAP_TEXT)->count,
                        1 + 3 * RECENT_USES_MAX / 100 + 1);
        /* The newest ids are there, the oldest gone. */
        snprintf(id, sizeof(id), "/tmp/flood/app-%u", 3 * RECENT_USES_MAX - 1);
        cr_assert_not_null(find(&l, id, AID_CAP_TEXT));
        snprintf(id, sizeof(id), "/tmp/flood/app-%u", 3 * RECENT_USES_MAX - (RECENT_USES_MAX - 1));
        cr_assert_not_null(find(&l, id, AID_CAP_TEXT));
        cr_assert_null(find(&l, "/tmp/flood/app-0", AID_CAP_TEXT));
        snprintf(id, sizeof(id), "/tmp/flood/app-%u", 2 * RECENT_USES_MAX);
        cr_assert_null(find(&l, id, AID_CAP_TEXT));
        /* One that was pushed out starts again from one use. */
        recent_uses_record(&l, "/tmp/flood/app-0", AID_IDENTITY_EXECUTABLE, AID_CAP_TEXT, 1001,
                        T0 + 10 * RECENT_USES_MAX);
        cr_assert_eq(find(&l, "/tmp/flood/app-0", AID_CAP_TEXT)->count, 1);
        cr_assert_eq(l.n, RECENT_USES_MAX);
        recent_uses_clear(&l);
}
