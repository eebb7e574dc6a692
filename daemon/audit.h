/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The audit trail: one structured record per policy decision, through the daemon's log (the
 * journal under systemd, stderr otherwise). It names the app, how it was identified, the
 * capability, the decision and the limit hit; never anything the app sent. The message
 * itself carries the same fields as key=value pairs, so that they survive on stderr too:
 *   audit: app=org.example.App kind=flatpak trust=sandboxed capability=text decision=deny ...
 * Find them with: journalctl MESSAGE_ID=e8e1c655c4874c2daaa6fdc14a11626b */

#include <sys/types.h>

#define AID_AUDIT_MESSAGE_ID "e8e1c655c4874c2daaa6fdc14a11626b"

struct aid_identity;

struct audit_record {
        const struct aid_identity *identity; /* NULL when the caller could not be identified */
        const char *capability;              /* "text", ..., or "manage", "manager-read" */
        const char *decision;                /* "allow", "deny", "quota" */
        const char *limit;                   /* the limit hit ("RequestsPerMinute"), or NULL */
        const char *source;                  /* the policy line or the reason */
        pid_t pid;                           /* the bus's view, for unidentified callers */
        uid_t uid;
};

/* level: LOG_DEBUG for the Manager's open methods, LOG_INFO for allowed and LOG_NOTICE for
 * refused uses of a capability. */
void audit_log(int level, const struct audit_record *rec);
