/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Per app and capability request limits over a sliding window: at most `limit` requests in
 * any `window` microseconds. The clock is the caller's (CLOCK_MONOTONIC in the daemon, any
 * numbers in tests). Only allowed requests are counted: a flood of refused ones does not
 * push the window forward. */

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

struct aid_ratelimit;

int aid_ratelimit_new(struct aid_ratelimit **ret);
struct aid_ratelimit *aid_ratelimit_free(struct aid_ratelimit *rl);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct aid_ratelimit *, aid_ratelimit_free);

/* Counts one request of key at now_usec when fewer than limit were counted in the window
 * before it (returns 1); otherwise returns 0 and sets *ret_retry_usec to the time until the
 * oldest counted request leaves the window. limit 0 means no limit (always 1, nothing kept).
 * -ENOMEM on failure. */
int aid_ratelimit_check(struct aid_ratelimit *rl, const char *key, uint32_t limit, uint64_t window_usec,
                uint64_t now_usec, uint64_t *ret_retry_usec);

/* Forgets the keys whose requests have all left their window (call now and then). */
void aid_ratelimit_gc(struct aid_ratelimit *rl, uint64_t now_usec);

/* Forgets everything (after a policy reload changed the limits). */
void aid_ratelimit_reset(struct aid_ratelimit *rl);
