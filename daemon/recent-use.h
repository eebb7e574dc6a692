/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The privacy dashboard's record (GetRecentUse): which app used which capability during the
 * last hour, in memory only. One entry per app, identity kind, uid and capability.
 *
 * Bounded: anyone who can start processes can make as many app ids as they have executables,
 * and each call searches the record. At RECENT_USES_MAX entries a new one takes the place of the
 * entry whose last use is oldest; the audit log still has every decision. */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "identity.h"
#include "policy.h"

/* The horizon: entries whose last use is older are dropped. */
#define RECENT_USE_USEC (3600ULL * 1000000ULL)
#define RECENT_USES_MAX 1024

struct recent_use {
        char *app_id;
        enum aid_identity_kind kind;
        enum aid_capability cap;
        uid_t uid;
        uint64_t first_usec, last_usec; /* CLOCK_REALTIME */
        uint32_t count;
};

struct recent_uses {
        struct recent_use *v;
        size_t n;
};

/* Counts one use at now (microseconds, CLOCK_REALTIME). Out of memory, the use goes
 * unrecorded: the dashboard is a courtesy, the call it records is not refused for it. */
void recent_uses_record(struct recent_uses *l, const char *app_id, enum aid_identity_kind kind,
                enum aid_capability cap, uid_t uid, uint64_t now);
/* Drops the entries last used more than RECENT_USE_USEC before now. */
void recent_uses_prune(struct recent_uses *l, uint64_t now);
void recent_uses_clear(struct recent_uses *l);
