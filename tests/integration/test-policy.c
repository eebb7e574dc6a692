/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The privacy policy over the bus, with real identities: clients are copies of gdbus under
 * names the policy files talk about, and a Flatpak'd client is gdbus chrooted (in a private
 * mount namespace) into a root that has a .flatpak-info. Nothing is mocked: aid reads
 * /proc like it does for any caller. */

#include "testbus.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct testbus tb;
static char *policy_dir;
static char *bin_dir;

static void setup(void)
{
        testbus_setup(&tb);
        policy_dir = g_build_filename(tb.dir, "policy", NULL);
        bin_dir = g_build_filename(tb.dir, "bin", NULL);
        cr_assert_eq(g_mkdir(policy_dir, 0755), 0);
        cr_assert_eq(g_mkdir(bin_dir, 0755), 0);
}

static void teardown(void)
{
        testbus_teardown(&tb);
        g_clear_pointer(&policy_dir, g_free);
        g_clear_pointer(&bin_dir, g_free);
}

TestSuite(policy, .init = setup, .fini = teardown, .timeout = 120);

static char *put_policy(const char *name, const char *contents)
{
        char *path = g_build_filename(policy_dir, name, NULL);
        cr_assert(g_file_set_contents(path, contents, -1, NULL));
        return path;
}

static void start_aid(void)
{
        g_autofree char *conf = g_strdup_printf("[Policy]\nDirectories=%s\n", policy_dir);
        testbus_start_aid(&tb, conf);
}

/* A copy (not a link: /proc/PID/exe resolves links) of gdbus named name; its path is the app
 * id aid sees. */
static char *tool(const char *name)
{
        g_autofree char *gdbus = g_find_program_in_path("gdbus");
        g_autofree char *contents = NULL;
        char *path = g_build_filename(bin_dir, name, NULL);
        gsize length;

        cr_assert(gdbus, "gdbus is not installed");
        if (g_file_test(path, G_FILE_TEST_EXISTS))
                return path;
        cr_assert(g_file_get_contents(gdbus, &contents, &length, NULL));
        cr_assert(g_file_set_contents(path, contents, (gssize)length, NULL));
        cr_assert_eq(chmod(path, 0755), 0);
        return path;
}

/* Runs `TOOL call ... Manager.METHOD ARGS...` on the private bus. */
static int call(const char *exe, char **out, char **err, const char *method, const char *arg1,
                const char *arg2)
{
        g_autofree char *full = g_strdup_printf("org.aid.Daemon1.Manager.%s", method);
        const char *argv[] = { exe, "call", "--session", "--dest", "org.aid.Daemon1", "--object-path",
                "/org/aid/Daemon1", "--method", full, arg1, arg2, NULL };
        return testbus_run(&tb, out, err, argv);
}

static char *aid_log(void)
{
        char *log = NULL;
        g_file_get_contents(tb.aid_log, &log, NULL, NULL);
        return log ? log : g_strdup("");
}

Test(policy, whoami_names_the_executable)
{
        g_autofree char *exe = tool("org-example-whoami");
        g_autofree char *out = NULL, *err = NULL;

        put_policy("00.conf", "[Default]\ntext=allow\n");
        start_aid();
        cr_assert_eq(call(exe, &out, &err, "WhoAmI", NULL, NULL), 0, "%s", err);
        cr_assert(strstr(out, g_strdup_printf("'app_id': <'%s'>", exe)), "%s", out);
        cr_assert(strstr(out, "'kind': <'executable'>"), "%s", out);
        cr_assert(strstr(out, "'trust': <'host'>"), "%s", out);
}

Test(policy, denied_app_gets_permission_denied_and_no_data_allowed_app_works)
{
        g_autofree char *allowed = tool("allowed-app");
        g_autofree char *denied = tool("denied-app");
        g_autofree char *deny_file = NULL, *expected = NULL;
        g_autofree char *out = NULL, *err = NULL, *out2 = NULL, *err2 = NULL;

        put_policy("00-defaults.conf", "[Default]\ntext=allow\nvision=allow\n");
        deny_file = put_policy("10-deny.conf",
                        g_strdup_printf("# no text for it\n[App %s/denied-*]\ntext=deny\n", bin_dir));
        start_aid();

        cr_assert_neq(call(denied, &out, &err, "Authorize", "text", NULL), 0);
        expected = g_strdup_printf(
                        "org.aid.Error.PermissionDenied: App '%s' may not use 'text' (denied by %s:3)",
                        denied, deny_file);
        cr_assert(strstr(err, expected), "expected %s\ngot: %s", expected, err);
        cr_assert_str_empty(out, "a denied call returned data: %s", out);
        /* Only text is denied. */
        cr_assert_eq(call(denied, NULL, NULL, "Authorize", "vision", NULL), 0);

        cr_assert_eq(call(allowed, &out2, &err2, "Authorize", "text", NULL), 0, "%s", err2);
        cr_assert(strstr(out2, "'requests_per_minute': <uint32 0>"), "%s", out2);
        /* Live capture is denied unless granted: no file here grants it. */
        g_free(err2);
        cr_assert_neq(call(allowed, NULL, &err2, "Authorize", "live-microphone", NULL), 0);
        cr_assert(strstr(err2, "may not use 'live-microphone' (denied by no policy file allows it)"), "%s",
                        err2);
}

Test(policy, exact_id_beats_glob_and_later_file_beats_earlier)
{
        g_autofree char *special = tool("tool-special");
        g_autofree char *plain = tool("tool-plain");
        g_autofree char *out = NULL, *err = NULL;

        put_policy("00.conf", g_strdup_printf("[Default]\nvision=allow\ntext=allow\n"
                                              "[App %s]\nvision=allow\n",
                                              special));
        put_policy("50.conf", g_strdup_printf("[App %s/tool-*]\nvision=deny\n", bin_dir));
        put_policy("60.conf", "[Default]\ntext=deny\n");
        start_aid();

        cr_assert_eq(call(special, NULL, &err, "Authorize", "vision", NULL), 0, "%s", err);
        cr_assert_neq(call(plain, NULL, NULL, "Authorize", "vision", NULL), 0);
        cr_assert_neq(call(plain, NULL, NULL, "Authorize", "text", NULL), 0);

        /* CheckPolicy reports the same, with the deciding line. */
        cr_assert_eq(call(plain, &out, &err, "CheckPolicy", plain, "vision"), 0, "%s", err);
        cr_assert(strstr(out, g_strdup_printf("('deny', '%s/50.conf:2'", policy_dir)), "%s", out);
}

Test(policy, rate_limit_trips_at_the_count_and_recovers_after_the_window)
{
        g_autofree char *limited = tool("limited-app");
        g_autofree char *other = tool("other-app");
        g_autofree char *err = NULL;
        unsigned retry = 0;
        const char *p;

        put_policy("00.conf", g_strdup_printf("[Default]\ntext=allow\n"
                                              "[App %s]\nRequestsPerMinute=3\nRateLimitWindowSec=2\n",
                                              limited));
        start_aid();

        for (int i = 0; i < 3; i++)
                cr_assert_eq(call(limited, NULL, NULL, "Authorize", "text", NULL), 0, "request %d refused",
                                i + 1);
        cr_assert_neq(call(limited, NULL, &err, "Authorize", "text", NULL), 0, "the 4th request passed");
        cr_assert(strstr(err, "org.aid.Error.QuotaExceeded"), "%s", err);
        p = strstr(err, "retry after ");
        cr_assert(p && sscanf(p, "retry after %u s", &retry) == 1, "%s", err);
        cr_assert(retry >= 1 && retry <= 2, "retry after %u s", retry);
        /* Another app and another capability are not affected. */
        cr_assert_eq(call(other, NULL, NULL, "Authorize", "text", NULL), 0);

        g_usleep(2100 * 1000);
        cr_assert_eq(call(limited, NULL, NULL, "Authorize", "text", NULL), 0,
                        "not recovered after the window");
}

Test(policy, malformed_file_is_reported_and_opens_nothing)
{
        g_autofree char *recorder = tool("recorder");
        g_autofree char *bad = NULL, *out = NULL, *err = NULL, *log = NULL, *where = NULL;

        put_policy("00.conf", "[Default]\ntext=allow\n");
        bad = put_policy("20-bad.conf",
                        g_strdup_printf("[App %s]\nlive-microphone=allow\ntext = sure\n", recorder));
        start_aid();

        where = g_strdup_printf("%s:3: a capability is either 'allow' or 'deny'", bad);
        log = aid_log();
        cr_assert(strstr(log, where), "aid.log does not report %s:\n%s", where, log);
        const char *get[] = { "gdbus", "call", "--session", "--dest", "org.aid.Daemon1", "--object-path",
                "/org/aid/Daemon1", "--method", "org.freedesktop.DBus.Properties.Get",
                "org.aid.Daemon1.Manager", "PolicyMessages", NULL };
        cr_assert_eq(testbus_run(&tb, &out, &err, get), 0, "%s", err);
        cr_assert(strstr(out, where), "%s", out);

        /* Its good line does not grant the microphone, and the group loses text too. */
        cr_assert_neq(call(recorder, NULL, NULL, "Authorize", "live-microphone", NULL), 0);
        g_free(err);
        cr_assert_neq(call(recorder, NULL, &err, "Authorize", "text", NULL), 0);
        cr_assert(strstr(err, g_strdup_printf("(denied by %s:3)", bad)), "%s", err);
        /* Everyone else still gets the rest of the policy. */
        cr_assert_eq(call(tool("bystander"), NULL, NULL, "Authorize", "text", NULL), 0);
}

Test(policy, reload_applies_a_new_file_and_needs_no_restart)
{
        g_autofree char *app = tool("reloaded-app");
        g_autofree char *err = NULL;

        put_policy("00.conf", "[Default]\ntext=allow\n");
        start_aid();
        cr_assert_eq(call(app, NULL, NULL, "Authorize", "text", NULL), 0);

        put_policy("10.conf", g_strdup_printf("[App %s]\ntext=deny\n", app));
        /* inotify picks it up; ReloadPolicy makes it certain. */
        cr_assert_eq(call(app, NULL, &err, "ReloadPolicy", NULL, NULL), 0, "%s", err);
        cr_assert_neq(call(app, NULL, NULL, "Authorize", "text", NULL), 0);
}

/* One "audit: ..." line of aid.log about app and capability, or NULL. */
static char *audit_line(const char *log, const char *app, const char *capability, const char *decision)
{
        g_auto(GStrv) lines = g_strsplit(log, "\n", -1);
        g_autofree char *a = g_strdup_printf("app=%s ", app);
        g_autofree char *c = g_strdup_printf(" capability=%s decision=%s ", capability, decision);

        for (size_t i = 0; lines[i]; i++)
                if (strstr(lines[i], "audit: ") && strstr(lines[i], a) && strstr(lines[i], c))
                        return g_strdup(lines[i]);
        return NULL;
}

Test(policy, audit_records_every_decision_with_its_fields_and_no_content)
{
        g_autofree char *app = tool("audited-app");
        g_autofree char *limited = tool("audited-limited");
        g_autofree char *deny = NULL, *log = NULL, *line = NULL, *quota = NULL, *allow = NULL;
        g_autoptr(GRegex) shape = NULL;

        put_policy("00.conf",
                        g_strdup_printf("[Default]\ntext=allow\n[App %s]\nRequestsPerMinute=1\n", limited));
        deny = put_policy("10.conf", g_strdup_printf("[App %s]\nvision=deny\n", app));
        start_aid();

        cr_assert_neq(call(app, NULL, NULL, "Authorize", "vision", NULL), 0);
        cr_assert_eq(call(app, NULL, NULL, "Authorize", "text", NULL), 0);
        cr_assert_eq(call(limited, NULL, NULL, "Authorize", "text", NULL), 0);
        cr_assert_neq(call(limited, NULL, NULL, "Authorize", "text", NULL), 0);
        /* Something a client sends that is not a decision's business. */
        cr_assert_neq(call(app, NULL, NULL, "GetModelInfo", "secret-words-of-the-user", NULL), 0);

        log = aid_log();
        line = audit_line(log, app, "vision", "deny");
        cr_assert(line, "no audit record of the denial:\n%s", log);
        cr_assert(strstr(line, "kind=executable trust=host"), "%s", line);
        cr_assert(strstr(line, g_strdup_printf("source=%s:2", deny)), "%s", line);
        allow = audit_line(log, app, "text", "allow");
        cr_assert(allow, "no audit record of the allowed call:\n%s", log);
        quota = audit_line(log, limited, "text", "quota");
        cr_assert(quota, "no audit record of the quota:\n%s", log);
        cr_assert(strstr(quota, "limit=RequestsPerMinute"), "%s", quota);

        /* Exactly these fields, nothing else, in every record. */
        shape = g_regex_new("^aid: audit: app=\\S+ kind=(flatpak|snap|systemd-app|executable|unknown) "
                            "trust=(sandboxed|host|none) capability=[a-z-]+ decision=(allow|deny|quota) "
                            "limit=\\S+ pid=-?[0-9]+ uid=-?[0-9]+ source=\\S+$",
                        0, 0, NULL);
        g_auto(GStrv) lines = g_strsplit(log, "\n", -1);
        for (size_t i = 0; lines[i]; i++)
                if (strstr(lines[i], "audit: "))
                        cr_assert(g_regex_match(shape, lines[i], 0, NULL), "unexpected audit record: %s",
                                        lines[i]);
        cr_assert_null(strstr(log, "secret-words-of-the-user"), "a client's argument reached the log:\n%s",
                        log);
}

static bool can_unshare(void)
{
        const char *argv[] = { "unshare", "--mount", "--propagation", "private", "true", NULL };
        return testbus_run(&tb, NULL, NULL, argv) == 0;
}

/* gdbus run chrooted into a copy of / (bind mounts in a private mount namespace) whose root
 * holds .flatpak-info: /proc/PID/root/.flatpak-info is what aid reads. */
static int call_as_flatpak(const char *app_id, char **out, char **err, const char *method, const char *arg)
{
        g_autofree char *root = g_build_filename(tb.dir, "flatpak-root", NULL);
        g_autofree char *info = g_build_filename(tb.dir, "flatpak-info", NULL);
        g_autofree char *gdbus = g_find_program_in_path("gdbus");
        g_autofree char *script = NULL, *full = g_strdup_printf("org.aid.Daemon1.Manager.%s", method);
        g_autofree char *contents =
                        g_strdup_printf("[Application]\nname=%s\nruntime=runtime/test/x86_64/1\n", app_id);

        cr_assert(g_file_set_contents(info, contents, -1, NULL));
        g_mkdir_with_parents(root, 0755);
        script = g_strdup_printf(
                        "set -e; R=%s; mount -t tmpfs tmpfs \"$R\"; "
                        "for e in /*; do n=${e#/}; "
                        "  if [ -L \"$e\" ]; then cp -P \"$e\" \"$R/$n\"; "
                        "  elif [ -d \"$e\" ]; then mkdir \"$R/$n\"; mount --rbind \"$e\" \"$R/$n\"; fi; "
                        "done; cp %s \"$R/.flatpak-info\"; "
                        "exec chroot \"$R\" %s call --session --dest org.aid.Daemon1 "
                        "--object-path /org/aid/Daemon1 --method %s %s",
                        root, info, gdbus, full, arg ? arg : "");
        const char *argv[] = { "unshare", "--mount", "--propagation", "private", "sh", "-c", script, NULL };
        return testbus_run(&tb, out, err, argv);
}

Test(policy, flatpak_app_is_identified_by_its_sandbox)
{
        g_autofree char *out = NULL, *err = NULL, *err2 = NULL, *log = NULL;

        if (!can_unshare()) {
                testbus_teardown(&tb); /* .fini does not run after a skip */
                cr_skip_test("unshare --mount is not permitted here: cannot give a client its own "
                             ".flatpak-info");
        }
        put_policy("00.conf", "[Default]\ntext=allow\nvision=allow\n[App org.example.*]\nvision=deny\n"
                              "[App org.example.Granted]\nvision=allow\n");
        start_aid();

        cr_assert_eq(call_as_flatpak("org.example.Granted", &out, &err, "WhoAmI", NULL), 0, "%s", err);
        cr_assert(strstr(out, "'app_id': <'org.example.Granted'>"), "%s", out);
        cr_assert(strstr(out, "'kind': <'flatpak'>"), "%s", out);
        cr_assert(strstr(out, "'trust': <'sandboxed'>"), "%s", out);
        cr_assert_eq(call_as_flatpak("org.example.Granted", NULL, &err2, "Authorize", "vision"), 0, "%s",
                        err2);

        g_free(err);
        cr_assert_neq(call_as_flatpak("org.example.Other", NULL, &err, "Authorize", "vision"), 0);
        cr_assert(strstr(err, "App 'org.example.Other' may not use 'vision'"), "%s", err);
        log = aid_log();
        cr_assert(audit_line(log, "org.example.Other", "vision", "deny"), "%s", log);
        cr_assert(strstr(log, "app=org.example.Other kind=flatpak trust=sandboxed"), "%s", log);
}

Test(policy, recent_use_shows_who_used_what)
{
        g_autofree char *app = tool("dashboard-app");
        g_autofree char *out = NULL, *err = NULL;

        put_policy("00.conf", "[Default]\ntext=allow\n");
        start_aid();
        for (int i = 0; i < 2; i++)
                cr_assert_eq(call(app, NULL, NULL, "Authorize", "text", NULL), 0);
        cr_assert_neq(call(app, NULL, NULL, "Authorize", "live-microphone", NULL), 0);

        cr_assert_eq(call(app, &out, &err, "GetRecentUse", NULL, NULL), 0, "%s", err);
        cr_assert(strstr(out, g_strdup_printf("'app_id': <'%s'>", app)), "%s", out);
        cr_assert(strstr(out, "'capability': <'text'>"), "%s", out);
        cr_assert(strstr(out, "'count': <uint32 2>"), "%s", out);
        /* Denied attempts are not use. */
        cr_assert_null(strstr(out, "live-microphone"), "%s", out);
}

struct flood {
        guint n_replies;
        guint n_denied;
};

static void on_denied_reply(GObject *source, GAsyncResult *result, gpointer user_data)
{
        struct flood *f = user_data;
        g_autoptr(GError) e = NULL;
        g_autoptr(GVariant) v = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &e);

        f->n_replies++;
        if (!v && e && strstr(e->message, "org.aid.Error.PermissionDenied"))
                f->n_denied++;
}

static gint64 timed_call(const char *exe, char **err)
{
        gint64 start = g_get_monotonic_time();
        int r = call(exe, NULL, err, "Authorize", "text", NULL);
        gint64 took = g_get_monotonic_time() - start;

        return r == 0 ? took : -1;
}

/* What a flood of denied calls must not do is take anything from other apps: their answers,
 * their quota, the daemon itself. How long the allowed calls took under the flood is logged,
 * not asserted (timings belong in BENCHMARKS.md, not in a test that runs on a loaded CI
 * machine under ASan). */
Test(policy, flood_of_denied_calls_does_not_starve_allowed_ones)
{
        g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
        g_autofree char *allowed = tool("patient-app");
        g_autofree char *err = NULL;
        GDBusConnection *c[5];
        gint64 idle, busy[3], deadline;
        struct flood f = {};

        cr_assert(self);
        put_policy("00.conf", g_strdup_printf("[Default]\ntext=allow\n[App %s]\ntext=deny\n"
                                              "[App %s]\nRequestsPerMinute=4\n",
                                              self, allowed));
        start_aid();
        idle = timed_call(allowed, NULL);
        cr_assert_geq(idle, 0, "the allowed app was refused before the flood");

        /* 500 calls queued at once from this process (denied), then the allowed app's calls.
         * Five connections: dbus-daemon caps the calls awaiting a reply per connection (128). */
        for (size_t k = 0; k < G_N_ELEMENTS(c); k++) {
                c[k] = g_dbus_connection_new_for_address_sync(tb.address,
                                G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                NULL, NULL, NULL);
                cr_assert(c[k]);
        }
        for (int i = 0; i < 500; i++)
                g_dbus_connection_call(c[i % G_N_ELEMENTS(c)], "org.aid.Daemon1", "/org/aid/Daemon1",
                                "org.aid.Daemon1.Manager", "Authorize", g_variant_new("(s)", "text"), NULL,
                                G_DBUS_CALL_FLAGS_NONE, 30000, NULL, on_denied_reply, &f);
        for (size_t k = 0; k < G_N_ELEMENTS(c); k++)
                g_dbus_connection_flush_sync(c[k], NULL, NULL);
        for (size_t i = 0; i < G_N_ELEMENTS(busy); i++) {
                busy[i] = timed_call(allowed, NULL);
                cr_assert_geq(busy[i], 0, "allowed call %zu of 3 was refused under the flood", i + 1);
        }
        /* Its own quota (4 per minute) is still its own: the fifth call trips it. */
        cr_assert_lt(timed_call(allowed, &err), 0, "a fifth call within the minute was allowed");
        cr_assert(err && strstr(err, "org.aid.Error.QuotaExceeded"), "%s", err);

        deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
        while (f.n_replies < 500) {
                g_main_context_iteration(NULL, TRUE);
                cr_assert_lt(g_get_monotonic_time(), deadline, "only %u of 500 replies", f.n_replies);
        }
        for (size_t k = 0; k < G_N_ELEMENTS(c); k++)
                g_object_unref(c[k]);
        cr_assert_eq(f.n_denied, 500, "%u of 500 flood calls were denied by aid", f.n_denied);
        cr_log_info("allowed call: %" G_GINT64_FORMAT " us idle; %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                    ", %" G_GINT64_FORMAT " us under 500 denied calls",
                        idle, busy[0], busy[1], busy[2]);
        cr_assert(testbus_aid_alive(&tb));
}

Test(policy, network_isolation_is_detected)
{
        g_autofree char *wrapper = g_build_filename(tb.dir, "aid-in-netns", NULL);
        g_autofree char *script = NULL, *out = NULL, *err = NULL;
        const char *real = g_getenv("AID_DAEMON");
        const char *probe[] = { "unshare", "--net", "true", NULL };
        const char *get[] = { "gdbus", "call", "--session", "--dest", "org.aid.Daemon1", "--object-path",
                "/org/aid/Daemon1", "--method", "org.freedesktop.DBus.Properties.Get",
                "org.aid.Daemon1.Manager", "NetworkIsolated", NULL };

        if (testbus_run(&tb, NULL, NULL, probe) != 0) {
                testbus_teardown(&tb); /* .fini does not run after a skip */
                cr_skip_test("unshare --net is not permitted here");
        }
        put_policy("00.conf", "[Default]\ntext=allow\n");
        script = g_strdup_printf("#!/bin/sh\nexec unshare --net -- %s \"$@\"\n", real);
        cr_assert(g_file_set_contents(wrapper, script, -1, NULL));
        cr_assert_eq(chmod(wrapper, 0755), 0);
        g_setenv("AID_DAEMON", wrapper, true);
        start_aid();
        g_setenv("AID_DAEMON", real, true);

        cr_assert_eq(testbus_run(&tb, &out, &err, get), 0, "%s", err);
        cr_assert(strstr(out, "<true>"), "%s", out);
        g_autofree char *log = aid_log();
        cr_assert(strstr(log, "No network"), "%s", log);
}

Test(policy, aidctl_shows_policy_identity_and_the_dashboard)
{
        const char *aidctl = g_getenv("AIDCTL");
        g_autofree char *app = tool("dash-app");
        g_autofree char *deny = NULL, *out = NULL, *err = NULL, *out2 = NULL, *out3 = NULL, *out4 = NULL;

        cr_assert(aidctl);
        put_policy("00.conf", "[Default]\ntext=allow\nlive-microphone=deny\n");
        deny = put_policy("10.conf", g_strdup_printf("[App %s]\ntext=deny\n", app));
        start_aid();

        const char *check[] = { aidctl, "policy", "check", app, "text", NULL };
        cr_assert_eq(testbus_run(&tb, &out, &err, check), 0, "%s", err);
        cr_assert(strstr(out, g_strdup_printf("may not use 'text' (%s:2)", deny)), "%s", out);

        const char *show[] = { aidctl, "policy", "show", NULL };
        cr_assert_eq(testbus_run(&tb, &out2, NULL, show), 0);
        cr_assert(strstr(out2, "live-microphone") && strstr(out2, "deny"), "%s", out2);
        cr_assert(strstr(out2, deny), "%s", out2);

        const char *whoami[] = { aidctl, "whoami", NULL };
        cr_assert_eq(testbus_run(&tb, &out3, NULL, whoami), 0);
        cr_assert(strstr(out3, "Kind:") && strstr(out3, "executable"), "%s", out3);

        cr_assert_eq(call(tool("other-dash-app"), NULL, NULL, "Authorize", "text", NULL), 0);
        const char *status[] = { aidctl, "status", NULL };
        cr_assert_eq(testbus_run(&tb, &out4, NULL, status), 0);
        cr_assert(strstr(out4, "Recent use (last hour):"), "%s", out4);
        cr_assert(strstr(out4, "other-dash-app"), "%s", out4);
        cr_assert(strstr(out4, "Network:"), "%s", out4);
}
