/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The privacy policy: which app may use which capability, with which limits. Read from key
 * files ("*.conf") in a list of directories; later directories override earlier ones, and the
 * files of one directory are read in name order. Groups:
 *   [Default]          every app
 *   [App <id-or-glob>] the apps whose id matches (fnmatch(3) glob: * ? [...])
 * Keys: text=, vision=, transcribe-file=, live-microphone=, live-system-audio= (allow|deny);
 * RequestsPerMinute=, MaxTokens=, MaxConcurrent= (0 = no limit); RateLimitWindowSec= (the
 * length of the RequestsPerMinute window, 60 unless set).
 *
 * For each key on its own, the most specific group that sets it wins: an exact id over a
 * glob, a glob with more literal characters over one with fewer, any [App] over [Default];
 * between equally specific groups the one read last wins.
 *
 * Failing closed: a line that cannot be parsed is reported as FILE:LINE and, with it, its
 * whole group denies every capability (an [App] group for its apps; [Default] or a broken
 * group header for every app) — aid cannot tell what the line was meant to forbid. A file or
 * directory that exists but cannot be read denies every capability to every app. A capability
 * no file allows is denied. Missing directories are fine. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

enum aid_capability {
        AID_CAP_TEXT,
        AID_CAP_VISION,
        AID_CAP_TRANSCRIBE_FILE,
        AID_CAP_LIVE_MICROPHONE,
        AID_CAP_LIVE_SYSTEM_AUDIO,
        AID_CAP_MAX,
};

enum aid_limit {
        AID_LIMIT_REQUESTS_PER_MINUTE,
        AID_LIMIT_MAX_TOKENS,
        AID_LIMIT_MAX_CONCURRENT,
        AID_LIMIT_RATE_WINDOW_SEC,
        AID_LIMIT_MAX,
};

#define AID_POLICY_RATE_WINDOW_SEC_DEFAULT 60

const char *aid_capability_to_string(enum aid_capability c); /* "text", "live-microphone", ... */
int aid_capability_from_string(const char *s);               /* enum value or -EINVAL */
const char *aid_limit_to_string(enum aid_limit l);           /* "RequestsPerMinute", ... */
const char *aid_limit_to_bus_key(enum aid_limit l);          /* "requests_per_minute", ... */

struct aid_policy;

struct aid_policy_decision {
        bool allowed;
        /* "FILE:LINE" of the deciding line, "FILE" of an unreadable file, or a built-in reason;
         * valid as long as the policy. */
        const char *source;
        uint64_t limits[AID_LIMIT_MAX];           /* 0: no limit (window: the default) */
        const char *limit_sources[AID_LIMIT_MAX]; /* NULL where no file sets it */
};

/* The directories of a mode: DATADIR/aid/policy.d, SYSCONFDIR/aid/policy.d and, in user mode,
 * $XDG_CONFIG_HOME/aid/policy.d (default ~/.config). NULL-terminated; free each and the array. */
char **aid_policy_default_dirs(bool user_mode);

/* An empty policy (denies everything), then files added one by one. */
int aid_policy_new(struct aid_policy **ret);
struct aid_policy *aid_policy_free(struct aid_policy *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct aid_policy *, aid_policy_free);

/* Reads every directory of dirs in order. Only out of memory fails: what cannot be read or
 * parsed becomes a denial and a message (aid_policy_messages()). */
int aid_policy_load(const char *const *dirs, struct aid_policy **ret);

/* Adds one file's contents, named name in sources and messages. Only -ENOMEM fails. */
int aid_policy_add_string(struct aid_policy *p, const char *name, const char *contents, size_t length);

/* Marks the policy unreadable: everything is denied, with source as the reason. */
int aid_policy_add_unreadable(struct aid_policy *p, const char *source, int error);

/* The problems found while loading, "FILE:LINE: what" each; NULL-terminated, owned by p. */
const char *const *aid_policy_messages(const struct aid_policy *p);
/* The files read, in order; NULL-terminated, owned by p. */
const char *const *aid_policy_files(const struct aid_policy *p);

/* app_id NULL: what an app that no [App] group names gets ([Default] groups only). */
void aid_policy_decide(const struct aid_policy *p, const char *app_id, enum aid_capability cap,
                struct aid_policy_decision *ret);
