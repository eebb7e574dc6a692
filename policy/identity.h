/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Who is calling: the app identity of a bus peer, worked out from what the bus and the kernel
 * say about the peer's process (never from anything the caller sends). In order:
 *   flatpak      [Application] name= of /proc/PID/root/.flatpak-info (sandboxed)
 *   snap         the snap name in the cgroup, snap.<name>.<app>...  (sandboxed when the
 *                process's AppArmor label confirms it, host otherwise)
 *   systemd-app  the app id in a desktop app scope or service, app[-<launcher>]-<id>-<n>.scope
 *                or app[-<launcher>]-<id>[@<n>].service (host: anyone can name a scope)
 *   executable   the path of /proc/PID/exe (host)
 * Host identities of the same user are best effort: such a process can start itself in any
 * scope or exec any binary. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "macro.h"

enum aid_identity_kind {
        AID_IDENTITY_FLATPAK,
        AID_IDENTITY_SNAP,
        AID_IDENTITY_SYSTEMD_APP,
        AID_IDENTITY_EXECUTABLE,
};

struct aid_identity {
        enum aid_identity_kind kind;
        char *app_id;   /* "org.example.App", "firefox", "/usr/bin/foo" */
        bool sandboxed; /* true: the sandbox vouches for app_id; false: host, best effort */
        pid_t pid;
        uid_t uid;
        uint64_t start_time; /* field 22 of /proc/PID/stat, clock ticks since boot */
        char *exe;           /* NULL when it cannot be read */
        char *unit;          /* the cgroup's last component when it is a unit, else NULL */
};

const char *aid_identity_kind_to_string(enum aid_identity_kind k);       /* "flatpak", ... */
const char *aid_identity_trust_to_string(const struct aid_identity *id); /* "sandboxed", "host" */

struct aid_identity *aid_identity_free(struct aid_identity *id);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct aid_identity *, aid_identity_free);

/* The app id of a .flatpak-info key file ([Application] name=). -ENOENT when the file has no
 * such key, -EBADMSG when it is not a key file or the name is not a valid app id. */
int aid_identity_parse_flatpak_info(const char *contents, size_t length, char **ret_app_id);

/* From the cgroup path of a process (as in /proc/PID/cgroup after "0::"): the unit (its last
 * component when that ends in .scope or .service) and, when the unit is a Snap's or a desktop
 * app's, the kind and app id. -ENOENT when the cgroup names no app (*ret_unit is still set
 * when there is a unit; ret_unit may be NULL). */
int aid_identity_parse_cgroup(
                const char *cgroup, char **ret_unit, enum aid_identity_kind *ret_kind, char **ret_app_id);

/* Field 22 (starttime) of a /proc/PID/stat line; -EBADMSG when the line is malformed. */
int aid_identity_parse_stat_start_time(const char *stat_line, uint64_t *ret);

/* The identity of process pid, whose uid the bus reported as uid. proc is the procfs mount
 * ("/proc"; tests may point elsewhere). The process's start time is read before and after
 * everything else, and the uid of /proc/PID compared with uid: a pid re-used in between, or
 * a process aid cannot look at, is an error (-ESRCH, -EACCES, ...) with the reason in err,
 * never a weaker identity. One exception, for system mode, where another user's /proc/PID/root
 * and exe are out of reach (no CAP_SYS_PTRACE): a process in an app scope is identified by
 * its scope, which anyone may read and a sandbox cannot change (app-flatpak-ID-N.scope: a
 * sandboxed Flatpak). */
int aid_identity_from_pid(
                const char *proc, pid_t pid, uid_t uid, struct aid_identity **ret, struct aid_error *err);
