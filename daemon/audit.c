/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "audit.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "identity.h"
#include "log.h"

/* An executable path may hold spaces, quotes or newlines; the one-line message must stay one
 * line with unambiguous fields. The journal fields keep the raw value. */
static char *quote(const char *s)
{
        g_autofree char *escaped = g_strescape(s ? s : "", NULL);

        if (s && s[0] && !strpbrk(s, " \"\\=") && g_str_equal(escaped, s))
                return g_strdup(s);
        return g_strdup_printf("\"%s\"", escaped);
}

void audit_log(int level, const struct audit_record *rec)
{
        const struct aid_identity *id = rec->identity;
        const char *app = id ? id->app_id : "(unidentified)";
        const char *kind = id ? aid_identity_kind_to_string(id->kind) : "unknown";
        const char *trust = id ? aid_identity_trust_to_string(id) : "none";
        g_autofree char *f_app = g_strdup_printf("AID_APP_ID=%s", app);
        g_autofree char *f_kind = g_strdup_printf("AID_IDENTITY_KIND=%s", kind);
        g_autofree char *f_trust = g_strdup_printf("AID_IDENTITY_TRUST=%s", trust);
        g_autofree char *f_cap = g_strdup_printf("AID_CAPABILITY=%s", rec->capability);
        g_autofree char *f_decision = g_strdup_printf("AID_DECISION=%s", rec->decision);
        g_autofree char *f_limit = g_strdup_printf("AID_LIMIT=%s", rec->limit ? rec->limit : "");
        g_autofree char *f_source = g_strdup_printf("AID_POLICY_SOURCE=%s", rec->source ? rec->source : "");
        g_autofree char *f_pid = g_strdup_printf("AID_CALLER_PID=%d", (int)rec->pid);
        g_autofree char *f_uid = g_strdup_printf("AID_CALLER_UID=%u", (unsigned)rec->uid);
        g_autofree char *q_app = quote(app), *q_source = quote(rec->source);
        const char *const fields[] = {
                "MESSAGE_ID=" AID_AUDIT_MESSAGE_ID,
                f_app,
                f_kind,
                f_trust,
                f_cap,
                f_decision,
                f_limit,
                f_source,
                f_pid,
                f_uid,
                NULL,
        };

        log_full_errno_fields(level, 0, fields,
                        "audit: app=%s kind=%s trust=%s capability=%s decision=%s limit=%s pid=%d uid=%u "
                        "source=%s",
                        q_app, kind, trust, rec->capability, rec->decision, rec->limit ? rec->limit : "-",
                        (int)rec->pid, (unsigned)rec->uid, q_source);
}
