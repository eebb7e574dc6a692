/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* aid.conf: the daemon's configuration (a GKeyFile). Named aid-conf rather than config so
 * that it does not shadow the build's config.h (AID_VERSION, AID_SYSCONFDIR, ...). */

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "registry.h"

/* Which bus the daemon serves, and so which defaults apply. AID_BUS_ADDRESS (a private bus
 * given with --bus-address) uses the user-mode defaults. */
enum aid_bus_mode {
        AID_BUS_USER,
        AID_BUS_SYSTEM,
        AID_BUS_ADDRESS,
};

const char *aid_bus_mode_to_string(enum aid_bus_mode m); /* "user", "system", "address" */

#define AID_CONF_IDLE_UNLOAD_SEC_DEFAULT        300
#define AID_CONF_TEXT_MAX_SEQUENCES_DEFAULT     16
#define AID_CONF_TEXT_PREFILL_CHUNK_DEFAULT     128
#define AID_CONF_TEXT_PREFILL_STEP_MSEC_DEFAULT 50

/* [Text]: the language model's worker (daemon/text-engine.h). */
struct aid_text_conf {
        uint32_t threads;           /* Threads=; 0 = every core */
        uint32_t context_size;      /* ContextSize=; tokens per sequence, 0 = min(model's, 4096) */
        uint32_t max_sequences;     /* MaxSequences=: running generations + open chats, >= 1 */
        uint32_t prefill_chunk;     /* PrefillChunk=: prompt tokens per sequence per step, >= 1 */
        uint32_t prefill_step_msec; /* PrefillStepMSec=: how long a prefill step may take; 0 = no limit */
};

struct aid_conf {
        struct registry_config registry; /* [Models] */
        uint64_t idle_unload_sec;        /* [Daemon] IdleUnloadSec=; 0 = never unload */
        struct aid_text_conf text;       /* [Text] */
        /* [Policy] Directories=: the policy directories, read in order, replacing the default
         * ones (aid_policy_default_dirs()); NULL when not set. */
        char **policy_dirs;
        /* Things that were ignored (unknown groups and keys), one line each, for the log;
         * NULL-terminated, may be NULL. */
        char **warnings;
};

/* The configuration files read for a mode, in order (later keys override earlier ones):
 * system: AID_SYSCONFDIR/aid/aid.conf; user: that, then $XDG_CONFIG_HOME/aid/aid.conf
 * (default ~/.config/aid/aid.conf). NULL-terminated, free with g_strfreev(). */
char **aid_conf_default_files(enum aid_bus_mode mode);

/* Fills *ret with the defaults for mode, then applies each file of files in order. A missing
 * file is skipped unless must_exist; a file that cannot be read or parsed, or a key with an
 * invalid value, is an error whose message names the file (and line, or group and key).
 * On failure *ret is untouched. */
int aid_conf_load_files(enum aid_bus_mode mode, const char *const *files, bool must_exist,
                struct aid_conf *ret, struct aid_error *err);

/* What the daemon calls: explicit_path (from --config; must exist and is the only file read)
 * or the default files for mode. */
int aid_conf_load(enum aid_bus_mode mode, const char *explicit_path, struct aid_conf *ret,
                struct aid_error *err);

void aid_conf_clear(struct aid_conf *c);
