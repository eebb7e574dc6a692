/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-policy.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "aid-errors.h"
#include "audit.h"
#include "daemon.h"
#include "identity.h"
#include "log.h"
#include "network.h"
#include "polkit.h"
#include "ratelimit.h"
#include "recent-use.h"

/* An editor saves a file in several steps; read the directory once they are done. */
#define POLICY_DEBOUNCE_USEC (100 * 1000)

static uint64_t now_usec(clockid_t clock)
{
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

/* The pid and uid a bus connection was opened with never change, and a unique name is never
 * given to another connection: remembering them saves a round trip to the bus daemon
 * (GetConnectionCredentials) on every call, which is what a flood of calls would cost. */
#define CREDS_CACHE_SIZE 64

static struct {
        char *sender;
        pid_t pid;
        uid_t uid;
} creds_cache[CREDS_CACHE_SIZE];
static size_t creds_cache_next;

static int sender_creds(sd_bus_message *m, pid_t *ret_pid, uid_t *ret_uid)
{
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        const char *sender = sd_bus_message_get_sender(m);
        pid_t pid = 0;
        uid_t uid = (uid_t)-1;
        int r;

        for (size_t i = 0; sender && i < CREDS_CACHE_SIZE; i++)
                if (creds_cache[i].sender && strcmp(creds_cache[i].sender, sender) == 0) {
                        *ret_pid = creds_cache[i].pid;
                        *ret_uid = creds_cache[i].uid;
                        return 0;
                }

        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_PID | SD_BUS_CREDS_EUID, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_pid(creds, &pid);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &uid);
        *ret_pid = pid;
        *ret_uid = uid;
        if (r < 0)
                return r;
        if (sender && sender[0] == ':') {
                size_t k = creds_cache_next++ % CREDS_CACHE_SIZE;
                free(creds_cache[k].sender);
                creds_cache[k].sender = strdup(sender);
                creds_cache[k].pid = pid;
                creds_cache[k].uid = uid;
        }
        return 0;
}

static void creds_cache_clear(void)
{
        for (size_t i = 0; i < CREDS_CACHE_SIZE; i++) {
                free(creds_cache[i].sender);
                creds_cache[i].sender = NULL;
        }
}

/* The caller's identity, or NULL with error set (PermissionDenied) and *ret_pid/uid as far
 * as the bus told them. */
static struct aid_identity *identify(sd_bus_message *m, pid_t *ret_pid, uid_t *ret_uid, sd_bus_error *error)
{
        struct aid_identity *id = NULL;
        struct aid_error err = {};
        pid_t pid = 0;
        uid_t uid = (uid_t)-1;
        int r;

        /* Only what the bus itself vouches for; everything else comes from /proc under the
         * start-time check in aid_identity_from_pid(). */
        r = sender_creds(m, &pid, &uid);
        if (r < 0) {
                aid_error_set(&err, r, "the bus did not say who is calling: %s", strerror(-r));
        } else {
                r = aid_identity_from_pid("/proc", pid, uid, &id, &err);
        }
        *ret_pid = pid;
        *ret_uid = uid;
        if (r < 0) {
                sd_bus_error_setf(error, AID_ERROR_PERMISSION_DENIED,
                                "aid cannot tell which app is calling (%s), so it refuses the call",
                                err.message[0] ? err.message : strerror(-r));
                return NULL;
        }
        return id;
}

static unsigned retry_seconds(uint64_t usec)
{
        return (unsigned)((usec + 999999) / 1000000);
}

int policy_check(struct daemon *d, sd_bus_message *m, enum aid_capability cap, struct policy_verdict *ret,
                sd_bus_error *error)
{
        _cleanup_(aid_identity_freep) struct aid_identity *id = NULL;
        _cleanup_free_ char *key = NULL;
        const char *cap_name = aid_capability_to_string(cap);
        struct aid_policy_decision dec;
        uint64_t retry = 0;
        pid_t pid;
        uid_t uid;
        int r;

        id = identify(m, &pid, &uid, error);
        if (!id) {
                audit_log(LOG_NOTICE, &(struct audit_record){ .capability = cap_name,
                                                      .decision = "deny",
                                                      .source = error->message,
                                                      .pid = pid,
                                                      .uid = uid });
                return -EACCES;
        }

        aid_policy_decide(d->policy, id->app_id, cap, &dec);
        if (!dec.allowed) {
                audit_log(LOG_NOTICE, &(struct audit_record){ .identity = id,
                                                      .capability = cap_name,
                                                      .decision = "deny",
                                                      .source = dec.source,
                                                      .pid = pid,
                                                      .uid = uid });
                return sd_bus_error_setf(error, AID_ERROR_PERMISSION_DENIED,
                                "App '%s' may not use '%s' (denied by %s)", id->app_id, cap_name,
                                dec.source);
        }

        if (asprintf(&key, "%s\n%s", id->app_id, cap_name) < 0)
                return -ENOMEM;
        r = aid_ratelimit_check(d->ratelimit, key, (uint32_t)dec.limits[AID_LIMIT_REQUESTS_PER_MINUTE],
                        dec.limits[AID_LIMIT_RATE_WINDOW_SEC] * 1000000ULL, now_usec(CLOCK_MONOTONIC),
                        &retry);
        if (r < 0)
                return r;
        if (r == 0) {
                const char *limit_source = dec.limit_sources[AID_LIMIT_REQUESTS_PER_MINUTE];
                audit_log(LOG_NOTICE, &(struct audit_record){ .identity = id,
                                                      .capability = cap_name,
                                                      .decision = "quota",
                                                      .limit = "RequestsPerMinute",
                                                      .source = limit_source,
                                                      .pid = pid,
                                                      .uid = uid });
                return sd_bus_error_setf(error, AID_ERROR_QUOTA_EXCEEDED,
                                "App '%s' reached its limit of %" PRIu64 " '%s' requests per %" PRIu64
                                " s (RequestsPerMinute= in %s); retry after %u s",
                                id->app_id, dec.limits[AID_LIMIT_REQUESTS_PER_MINUTE], cap_name,
                                dec.limits[AID_LIMIT_RATE_WINDOW_SEC], limit_source, retry_seconds(retry));
        }

        audit_log(LOG_INFO, &(struct audit_record){ .identity = id,
                                            .capability = cap_name,
                                            .decision = "allow",
                                            .source = dec.source,
                                            .pid = pid,
                                            .uid = uid });
        recent_uses_record(&d->recent, id->app_id, id->kind, cap, id->uid, now_usec(CLOCK_REALTIME));
        if (ret) {
                *ret = (struct policy_verdict){};
                snprintf(ret->app_id, sizeof(ret->app_id), "%s", id->app_id);
                memcpy(ret->limits, dec.limits, sizeof(ret->limits));
        }
        return 0;
}

void policy_note_open(struct daemon *d, sd_bus_message *m, const char *method)
{
        _cleanup_(aid_identity_freep) struct aid_identity *id = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        pid_t pid;
        uid_t uid;

        /* Working out the identity costs a few /proc reads: only when the record is kept. */
        if (log_get_max_level() < LOG_DEBUG)
                return;
        id = identify(m, &pid, &uid, &error);
        audit_log(LOG_DEBUG, &(struct audit_record){ .identity = id,
                                             .capability = "manager-read",
                                             .decision = "allow",
                                             .source = method,
                                             .pid = pid,
                                             .uid = uid });
        sd_bus_error_free(&error);
}

int policy_check_manage(struct daemon *d, sd_bus_message *m, const char *polkit_action, sd_bus_error *error)
{
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t uid = (uid_t)-1;
        pid_t pid = 0;
        int r;

        if (d->bus_mode == AID_BUS_SYSTEM) {
                r = polkit_check(d, m, polkit_action, error);
                if (r != 0)
                        audit_log(r > 0 ? LOG_INFO : LOG_NOTICE,
                                        &(struct audit_record){ .capability = "manage",
                                                        .decision = r > 0 ? "allow" : "deny",
                                                        .source = polkit_action,
                                                        .pid = pid,
                                                        .uid = uid });
                return r;
        }

        /* The per-user aid belongs to its user: the same user (or root) manages it. */
        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_PID | SD_BUS_CREDS_EUID, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &uid);
        if (r >= 0)
                (void)sd_bus_creds_get_pid(creds, &pid);
        if (r < 0 || (uid != geteuid() && uid != 0)) {
                audit_log(LOG_NOTICE, &(struct audit_record){ .capability = "manage",
                                                      .decision = "deny",
                                                      .source = "not the daemon's user",
                                                      .pid = pid,
                                                      .uid = uid });
                return sd_bus_error_setf(error, AID_ERROR_PERMISSION_DENIED,
                                "Only uid %u (the user this aid runs as) or root may do this; the caller is "
                                "uid %d",
                                (unsigned)geteuid(), r < 0 ? -1 : (int)uid);
        }
        audit_log(LOG_INFO, &(struct audit_record){ .capability = "manage",
                                            .decision = "allow",
                                            .source = "the daemon's user",
                                            .pid = pid,
                                            .uid = uid });
        return 1;
}

static void drop_policy_watches(struct daemon *d)
{
        for (size_t i = 0; i < d->n_policy_watches; i++)
                sd_event_source_disable_unref(d->policy_watches[i]);
        free(d->policy_watches);
        d->policy_watches = NULL;
        d->n_policy_watches = 0;
}

static int on_policy_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        (void)policy_reload(userdata, "a policy file changed");
        return 0;
}

static int on_policy_inotify(sd_event_source *s, const struct inotify_event *event, void *userdata)
{
        struct daemon *d = userdata;
        uint64_t now;
        int r;

        r = sd_event_now(d->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return 0;
        if (!d->policy_timer) {
                r = sd_event_add_time(d->event, &d->policy_timer, CLOCK_MONOTONIC,
                                now + POLICY_DEBOUNCE_USEC, 0, on_policy_timer, d);
                if (r < 0)
                        return log_warning_errno(r, "Failed to arm the policy reload timer: %m");
                return 0;
        }
        r = sd_event_source_set_time(d->policy_timer, now + POLICY_DEBOUNCE_USEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(d->policy_timer, SD_EVENT_ONESHOT);
        if (r < 0)
                return log_warning_errno(r, "Failed to re-arm the policy reload timer: %m");
        return 0;
}

/* Directories that do not exist yet are not watched: creating one needs ReloadPolicy() or
 * SIGHUP (aid-policy(5) says so). */
static void update_policy_watches(struct daemon *d)
{
        size_t n = d->policy_dirs ? g_strv_length(d->policy_dirs) : 0;

        drop_policy_watches(d);
        d->policy_watches = calloc(n + 1, sizeof(sd_event_source *));
        if (!d->policy_watches)
                return;
        for (size_t i = 0; i < n; i++) {
                sd_event_source *s = NULL;
                int r = sd_event_add_inotify(d->event, &s, d->policy_dirs[i],
                                IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE |
                                                IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR,
                                on_policy_inotify, d);
                if (r == -ENOENT || r == -ENOTDIR)
                        continue;
                if (r < 0) {
                        log_warning_errno(r, "Cannot watch %s for policy changes: %m", d->policy_dirs[i]);
                        continue;
                }
                d->policy_watches[d->n_policy_watches++] = s;
        }
}

int policy_reload(struct daemon *d, const char *why)
{
        struct aid_policy *p = NULL;
        const char *const *messages;
        int r;

        r = aid_policy_load((const char *const *)d->policy_dirs, &p);
        if (r < 0)
                /* Out of memory: the policy in force stays. */
                return log_error_errno(r, "Failed to reload the privacy policy: %m");
        aid_policy_free(d->policy);
        d->policy = p;

        messages = aid_policy_messages(p);
        for (size_t i = 0; messages[i]; i++)
                log_warning("Policy: %s", messages[i]);
        log_info("Privacy policy loaded (%s): %u files, %u problems.", why,
                        g_strv_length((char **)aid_policy_files(p)), g_strv_length((char **)messages));

        update_policy_watches(d);
        if (d->manager_slot)
                (void)sd_bus_emit_properties_changed(d->bus, AID_OBJECT_PATH, AID_MANAGER_INTERFACE,
                                "PolicyFiles", "PolicyMessages", NULL);
        return 0;
}

int policy_setup(struct daemon *d)
{
        _cleanup_free_ char *interfaces = NULL;
        int r;

        if (d->conf.policy_dirs)
                d->policy_dirs = g_strdupv(d->conf.policy_dirs);
        else {
                char **dirs = aid_policy_default_dirs(d->bus_mode != AID_BUS_SYSTEM);
                if (!dirs)
                        return log_error_errno(-ENOMEM, "Out of memory");
                /* Same strings, GLib's allocator for g_strfreev(). */
                d->policy_dirs = g_strdupv(dirs);
                for (size_t i = 0; dirs[i]; i++)
                        free(dirs[i]);
                free(dirs);
        }
        r = aid_ratelimit_new(&d->ratelimit);
        if (r < 0)
                return log_error_errno(r, "Out of memory");
        r = policy_reload(d, "start");
        if (r < 0)
                return r;

        r = network_check_isolated(&d->network_isolated, &interfaces);
        if (r < 0)
                log_warning_errno(r, "Cannot list the network interfaces: %m");
        else if (d->network_isolated)
                log_info("No network: aid can reach nothing but this machine's loopback.");
        else
                log_warning("aid has network access (interfaces up: %s). Run it with PrivateNetwork=yes, as "
                            "the "
                            "shipped units do, to make sure nothing can leave the machine.",
                                interfaces);
        return 0;
}

void policy_teardown(struct daemon *d)
{
        drop_policy_watches(d);
        d->policy_timer = sd_event_source_disable_unref(d->policy_timer);
        polkit_queries_free(d);
        recent_uses_clear(&d->recent);
        d->policy = aid_policy_free(d->policy);
        d->ratelimit = aid_ratelimit_free(d->ratelimit);
        creds_cache_clear();
        g_strfreev(d->policy_dirs);
        d->policy_dirs = NULL;
}

/* D-Bus */

static int append_sv_s(sd_bus_message *m, const char *key, const char *value)
{
        return sd_bus_message_append(m, "{sv}", key, "s", value);
}

static int append_limits(sd_bus_message *m, const struct aid_policy_decision *dec)
{
        int r = 0;

        for (int i = 0; r >= 0 && i < AID_LIMIT_MAX; i++)
                r = sd_bus_message_append(m, "{sv}", aid_limit_to_bus_key(i), "u", (uint32_t)dec->limits[i]);
        return r;
}

int bus_policy_method_who_am_i(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(aid_identity_freep) struct aid_identity *id = NULL;
        pid_t pid;
        uid_t uid;
        int r;

        id = identify(m, &pid, &uid, error);
        if (!id)
                return -EACCES;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = append_sv_s(reply, "app_id", id->app_id);
        if (r >= 0)
                r = append_sv_s(reply, "kind", aid_identity_kind_to_string(id->kind));
        if (r >= 0)
                r = append_sv_s(reply, "trust", aid_identity_trust_to_string(id));
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}", "pid", "u", (uint32_t)id->pid);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}", "uid", "u", (uint32_t)id->uid);
        if (r >= 0 && id->exe)
                r = append_sv_s(reply, "exe", id->exe);
        if (r >= 0 && id->unit)
                r = append_sv_s(reply, "unit", id->unit);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

int bus_policy_method_get_recent_use(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        struct daemon *d = userdata;
        uid_t uid = (uid_t)-1;
        int r;

        /* In system mode one user's apps are not another user's business. */
        if (d->bus_mode == AID_BUS_SYSTEM) {
                r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
                if (r >= 0)
                        r = sd_bus_creds_get_euid(creds, &uid);
                if (r < 0)
                        return sd_bus_error_set(error, AID_ERROR_PERMISSION_DENIED,
                                        "aid cannot tell which user is asking");
        }
        policy_note_open(d, m, "GetRecentUse");
        recent_uses_prune(&d->recent, now_usec(CLOCK_REALTIME));

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < d->recent.n; i++) {
                const struct recent_use *u = &d->recent.v[i];

                if (d->bus_mode == AID_BUS_SYSTEM && uid != 0 && u->uid != uid)
                        continue;
                r = sd_bus_message_append(reply, "a{sv}", 7, "app_id", "s", u->app_id, "identity_kind", "s",
                                aid_identity_kind_to_string(u->kind), "capability", "s",
                                aid_capability_to_string(u->cap), "first_use", "t", u->first_usec,
                                "last_use", "t", u->last_usec, "count", "u", u->count, "uid", "u",
                                (uint32_t)u->uid);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int read_capability(
                sd_bus_message *m, const char *name, enum aid_capability *ret, sd_bus_error *error)
{
        int c = aid_capability_from_string(name);

        if (c < 0)
                return sd_bus_error_setf(error, AID_ERROR_INVALID_ARGUMENT,
                                "Unknown capability '%s' (text, vision, transcribe-file, live-microphone, "
                                "live-system-audio)",
                                name);
        *ret = c;
        return 0;
}

int bus_policy_method_check_policy(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct daemon *d = userdata;
        struct aid_policy_decision dec;
        const char *app_id, *cap_name;
        enum aid_capability cap = AID_CAP_TEXT;
        int r;

        r = sd_bus_message_read(m, "ss", &app_id, &cap_name);
        if (r < 0)
                return r;
        r = read_capability(m, cap_name, &cap, error);
        if (r < 0)
                return r;
        policy_note_open(d, m, "CheckPolicy");
        aid_policy_decide(d->policy, app_id[0] ? app_id : NULL, cap, &dec);

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "ss", dec.allowed ? "allow" : "deny", dec.source);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = append_limits(reply, &dec);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

int bus_policy_method_get_policy(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct daemon *d = userdata;
        const char *app_id;
        int r;

        r = sd_bus_message_read(m, "s", &app_id);
        if (r < 0)
                return r;
        policy_note_open(d, m, "GetPolicy");

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (int c = 0; r >= 0 && c < AID_CAP_MAX; c++) {
                struct aid_policy_decision dec;

                aid_policy_decide(d->policy, app_id[0] ? app_id : NULL, c, &dec);
                r = sd_bus_message_open_container(reply, 'a', "{sv}");
                if (r >= 0)
                        r = append_sv_s(reply, "capability", aid_capability_to_string(c));
                if (r >= 0)
                        r = append_sv_s(reply, "decision", dec.allowed ? "allow" : "deny");
                if (r >= 0)
                        r = append_sv_s(reply, "source", dec.source);
                if (r >= 0)
                        r = append_limits(reply, &dec);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

int bus_policy_method_reload_policy(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        struct daemon *d = userdata;
        int r;

        r = policy_check_manage(d, m, "org.aid.rescan-models", error);
        if (r < 0)
                return r;
        if (r == 0)
                return 1; /* polkit is asking; this call comes back with the answer */
        r = policy_reload(d, "ReloadPolicy() called");
        if (r < 0)
                return sd_bus_error_setf(
                                error, AID_ERROR_INTERNAL, "Reloading the policy failed: %s", strerror(-r));
        return sd_bus_reply_method_return(m, NULL);
}

int bus_policy_method_authorize(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct daemon *d = userdata;
        struct policy_verdict v;
        struct aid_policy_decision dec = {};
        enum aid_capability cap = AID_CAP_TEXT;
        const char *cap_name;
        int r;

        r = sd_bus_message_read(m, "s", &cap_name);
        if (r < 0)
                return r;
        r = read_capability(m, cap_name, &cap, error);
        if (r < 0)
                return r;
        r = policy_check(d, m, cap, &v, error);
        if (r < 0)
                return r;

        memcpy(dec.limits, v.limits, sizeof(dec.limits));
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = append_limits(reply, &dec);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

int bus_policy_property_get_network_isolated(sd_bus *bus, const char *path, const char *interface,
                const char *property, sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        struct daemon *d = userdata;

        return sd_bus_message_append(reply, "b", (int)d->network_isolated);
}

static int append_strv(sd_bus_message *reply, const char *const *v)
{
        int r;

        r = sd_bus_message_open_container(reply, 'a', "s");
        for (size_t i = 0; r >= 0 && v[i]; i++)
                r = sd_bus_message_append(reply, "s", v[i]);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

int bus_policy_property_get_files(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        struct daemon *d = userdata;

        return append_strv(reply, aid_policy_files(d->policy));
}

int bus_policy_property_get_messages(sd_bus *bus, const char *path, const char *interface,
                const char *property, sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        struct daemon *d = userdata;

        return append_strv(reply, aid_policy_messages(d->policy));
}
