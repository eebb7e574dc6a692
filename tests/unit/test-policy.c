/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The policy files as an administrator writes them: precedence, globs, limits, and what a
 * broken or unreadable file does (it denies, it never opens). */

#include <criterion/criterion.h>
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"
#include "ratelimit.h"
#include "unprivileged.h"

static char *tmp;

static void setup(void)
{
        tmp = g_dir_make_tmp("aid-test-policy-XXXXXX", NULL);
        cr_assert(tmp);
}

static void remove_tree(const char *path)
{
        g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
        const char *name;

        while (dir && (name = g_dir_read_name(dir))) {
                g_autofree char *child = g_build_filename(path, name, NULL);
                if (g_file_test(child, G_FILE_TEST_IS_DIR))
                        remove_tree(child);
                else
                        g_unlink(child);
        }
        g_rmdir(path);
}

static void teardown(void)
{
        g_autofree char *cmd = NULL;

        /* Undo chmod 000 so that the tree can be removed. */
        cmd = g_strdup_printf("chmod -R u+rwx %s", tmp);
        (void)!system(cmd);
        remove_tree(tmp);
        g_free(tmp);
}

TestSuite(policy, .init = setup, .fini = teardown);

static char *put(const char *dir, const char *name, const char *contents)
{
        g_autofree char *d = g_build_filename(tmp, dir, NULL);
        char *path = g_build_filename(d, name, NULL);

        g_mkdir_with_parents(d, 0755);
        cr_assert(g_file_set_contents(path, contents, -1, NULL));
        return path;
}

static struct aid_policy *load(const char *d1, const char *d2, const char *d3)
{
        g_autofree char *p1 = g_build_filename(tmp, d1, NULL);
        g_autofree char *p2 = d2 ? g_build_filename(tmp, d2, NULL) : NULL;
        g_autofree char *p3 = d3 ? g_build_filename(tmp, d3, NULL) : NULL;
        const char *dirs[] = { p1, p2, p3, NULL };
        struct aid_policy *p = NULL;

        cr_assert_eq(aid_policy_load(dirs, &p), 0);
        return p;
}

static bool allowed(struct aid_policy *p, const char *app, enum aid_capability c, const char **ret_source)
{
        struct aid_policy_decision d;

        aid_policy_decide(p, app, c, &d);
        if (ret_source)
                *ret_source = d.source;
        return d.allowed;
}

static char *messages(struct aid_policy *p)
{
        return g_strjoinv("\n", (char **)aid_policy_messages(p));
}

Test(policy, shipped_defaults_allow_text_and_deny_live_capture)
{
        g_autofree char *path = NULL, *contents = NULL;
        g_autoptr(GError) e = NULL;
        const char *root = g_getenv("AID_SOURCE_ROOT");

        cr_assert(root);
        path = g_build_filename(root, "policy", "00-defaults.conf", NULL);
        cr_assert(g_file_get_contents(path, &contents, NULL, &e), "%s", e ? e->message : "");
        put("usr", "00-defaults.conf", contents);
        _cleanup_(aid_policy_freep) struct aid_policy *p = load("usr", NULL, NULL);
        g_autofree char *m = messages(p);

        cr_assert_str_empty(m);
        cr_assert(allowed(p, "org.example.App", AID_CAP_TEXT, NULL));
        cr_assert(allowed(p, "org.example.App", AID_CAP_VISION, NULL));
        cr_assert(allowed(p, "/usr/bin/foo", AID_CAP_TRANSCRIBE_FILE, NULL));
        cr_assert(!allowed(p, "org.example.App", AID_CAP_LIVE_MICROPHONE, NULL));
        cr_assert(!allowed(p, "org.example.App", AID_CAP_LIVE_SYSTEM_AUDIO, NULL));
        /* One app cannot queue without bound (a prompt may hold a megabyte). */
        struct aid_policy_decision d;
        aid_policy_decide(p, "org.example.App", AID_CAP_TEXT, &d);
        cr_assert_eq(d.limits[AID_LIMIT_MAX_CONCURRENT], 16);
}

Test(policy, no_file_denies_everything)
{
        _cleanup_(aid_policy_freep) struct aid_policy *p = load("missing", NULL, NULL);
        const char *source;

        for (int c = 0; c < AID_CAP_MAX; c++)
                cr_assert(!allowed(p, "org.example.App", c, &source));
        cr_assert_str_eq(source, "no policy file allows it");
}

Test(policy, later_directories_and_files_override_earlier)
{
        g_free(put("usr", "00-defaults.conf", "[Default]\ntext=allow\nvision=allow\n"));
        g_autofree char *a = put("etc", "10-a.conf", "[Default]\ntext=deny\n");
        g_autofree char *b = put("etc", "20-b.conf", "[Default]\nvision=deny\n");
        g_autofree char *user = put("user", "50-mine.conf", "# mine\n\n[Default]\nvision=allow\n");
        _cleanup_(aid_policy_freep) struct aid_policy *p = load("usr", "etc", NULL);
        _cleanup_(aid_policy_freep) struct aid_policy *q = load("usr", "etc", "user");
        g_autofree char *a2 = g_strdup_printf("%s:2", a);
        g_autofree char *b2 = g_strdup_printf("%s:2", b);
        g_autofree char *user4 = g_strdup_printf("%s:4", user);
        const char *source;

        cr_assert(!allowed(p, "x", AID_CAP_TEXT, &source));
        cr_assert_str_eq(source, a2);
        cr_assert(!allowed(p, "x", AID_CAP_VISION, &source));
        cr_assert_str_eq(source, b2);
        cr_assert(allowed(q, "x", AID_CAP_VISION, &source));
        cr_assert_str_eq(source, user4);
        cr_assert(!allowed(q, "x", AID_CAP_TEXT, NULL));
}

Test(policy, file_order_is_by_name_not_by_creation)
{
        g_autofree char *z = put("etc", "90-z.conf", "[Default]\ntext=deny\n");
        put("etc", "10-a.conf", "[Default]\ntext=allow\n");
        _cleanup_(aid_policy_freep) struct aid_policy *p = load("etc", NULL, NULL);
        const char *source;

        cr_assert(!allowed(p, "x", AID_CAP_TEXT, &source));
        cr_assert(g_str_has_prefix(source, z), "decided by %s", source);
}

Test(policy, exact_id_beats_glob_beats_default_whatever_the_order)
{
        /* The exact rule is read first, the glob and the default after it. */
        put("usr", "10-exact.conf", "[App org.example.Recorder]\nlive-microphone=allow\n");
        put("etc", "20-glob.conf",
                        "[App org.example.*]\nlive-microphone=deny\ntext=deny\n"
                        "[App org.example.Rec*]\ntext=allow\n");
        put("etc", "30-default.conf", "[Default]\nlive-microphone=deny\ntext=allow\nvision=allow\n");
        _cleanup_(aid_policy_freep) struct aid_policy *p = load("usr", "etc", NULL);

        cr_assert(allowed(p, "org.example.Recorder", AID_CAP_LIVE_MICROPHONE, NULL));
        cr_assert(!allowed(p, "org.example.Other", AID_CAP_LIVE_MICROPHONE, NULL));
        /* The longer glob is more specific than the shorter one. */
        cr_assert(allowed(p, "org.example.Recorder", AID_CAP_TEXT, NULL));
        cr_assert(!allowed(p, "org.example.Other", AID_CAP_TEXT, NULL));
        cr_assert(allowed(p, "org.other.App", AID_CAP_TEXT, NULL));
        /* Keys a group does not set fall through to the next group that does. */
        cr_assert(allowed(p, "org.example.Recorder", AID_CAP_VISION, NULL));
}

Test(policy, executable_paths_and_path_globs)
{
        put("etc", "10.conf",
                        "[Default]\ntext=allow\n[App /opt/tools/*]\ntext=deny\n[App "
                        "/usr/bin/foo]\nvision=allow\n");
        _cleanup_(aid_policy_freep) struct aid_policy *p = load("etc", NULL, NULL);

        cr_assert(!allowed(p, "/opt/tools/bin/x", AID_CAP_TEXT, NULL));
        cr_assert(allowed(p, "/usr/bin/foo", AID_CAP_TEXT, NULL));
        cr_assert(allowed(p, "/usr/bin/foo", AID_CAP_VISION, NULL));
        cr_assert(!allowed(p, "/usr/bin/foobar", AID_CAP_VISION, NULL));
}

Test(policy, limits_resolve_per_key)
{
        put("etc", "10.conf",
                        "[Default]\ntext=allow\nRequestsPerMinute=100\nMaxTokens=2048\n"
                        "[App org.slow.*]\nRequestsPerMinute=3\nRateLimitWindowSec=2\n");
        _cleanup_(aid_policy_freep) struct aid_policy *p = load("etc", NULL, NULL);
        struct aid_policy_decision d;

        aid_policy_decide(p, "org.slow.App", AID_CAP_TEXT, &d);
        cr_assert(d.allowed);
        cr_assert_eq(d.limits[AID_LIMIT_REQUESTS_PER_MINUTE], 3);
        cr_assert_eq(d.limits[AID_LIMIT_RATE_WINDOW_SEC], 2);
        cr_assert_eq(d.limits[AID_LIMIT_MAX_TOKENS], 2048);
        cr_assert_eq(d.limits[AID_LIMIT_MAX_CONCURRENT], 0);
        aid_policy_decide(p, "org.fast.App", AID_CAP_TEXT, &d);
        cr_assert_eq(d.limits[AID_LIMIT_REQUESTS_PER_MINUTE], 100);
        cr_assert_eq(d.limits[AID_LIMIT_RATE_WINDOW_SEC], AID_POLICY_RATE_WINDOW_SEC_DEFAULT);
}

Test(policy, malformed_line_is_reported_denies_its_group_and_the_rest_applies)
{
        g_autofree char *bad = put("etc", "10-bad.conf",
                        "[App org.example.Recorder]\n"
                        "text=allow\n"
                        "live-microphone = alow\n"
                        "vision=allow\n");
        put("etc", "05-good.conf",
                        "[Default]\ntext=allow\nvision=allow\n[App org.other.App]\nvision=deny\n");
        _cleanup_(aid_policy_freep) struct aid_policy *p = load("etc", NULL, NULL);
        g_autofree char *m = messages(p);
        g_autofree char *where = g_strdup_printf("%s:3: ", bad);
        const char *source;

        cr_assert(strstr(m, where), "messages: %s", m);
        /* The broken group opens nothing, not even what its good lines allowed. */
        for (int c = 0; c < AID_CAP_MAX; c++)
                cr_assert(!allowed(p, "org.example.Recorder", c, &source), "%s allowed",
                                aid_capability_to_string(c));
        cr_assert_str_eq(source, g_strdup_printf("%s:3", bad));
        /* The good file still applies to everyone else. */
        cr_assert(allowed(p, "org.any.App", AID_CAP_TEXT, NULL));
        cr_assert(!allowed(p, "org.other.App", AID_CAP_VISION, NULL));
}

Test(policy, broken_header_or_stray_key_denies_everyone_from_that_file)
{
        put("etc", "05-good.conf", "[Default]\ntext=allow\n");
        g_autofree char *bad = put("etc", "10-bad.conf", "[Aplp org.example.App]\ntext=deny\n");
        g_autofree char *stray = put("etc2", "10-stray.conf", "text=allow\n");
        _cleanup_(aid_policy_freep) struct aid_policy *p = load("etc", NULL, NULL);
        _cleanup_(aid_policy_freep) struct aid_policy *q = load("etc2", NULL, NULL);
        g_autofree char *m = messages(p), *mq = messages(q);

        cr_assert(strstr(m, g_strdup_printf("%s:1: unknown group", bad)), "%s", m);
        cr_assert(!allowed(p, "org.any.App", AID_CAP_TEXT, NULL));
        cr_assert(strstr(mq, g_strdup_printf("%s:1: ", stray)), "%s", mq);
        cr_assert(!allowed(q, "org.any.App", AID_CAP_TEXT, NULL));
}

Test(policy, bad_values_are_errors)
{
        static const char *const bad[] = {
                "[Default]\ntext=yes\n",
                "[Default]\nRequestsPerMinute=-1\n",
                "[Default]\nRequestsPerMinute=99999999999\n",
                "[Default]\nRateLimitWindowSec=0\n",
                "[Default]\nTexT=allow\n",
                "[Default]\nmicrophone=allow\n",
                "[App ]\ntext=allow\n",
                "[App org.example.App\ntext=allow\n",
                "[App a b]\ntext=allow\n",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                _cleanup_(aid_policy_freep) struct aid_policy *p = NULL;
                cr_assert_eq(aid_policy_new(&p), 0);
                cr_assert_eq(aid_policy_add_string(p, "t.conf", bad[i], strlen(bad[i])), 0);
                cr_assert_not_null(aid_policy_messages(p)[0], "no message for %s", bad[i]);
                cr_assert(!allowed(p, "org.example.App", AID_CAP_TEXT, NULL), "%s allows text", bad[i]);
        }
}

Test(policy, unreadable_file_denies_everything)
{
        g_autofree char *locked = NULL;
        const char *source;

        int r = become_unprivileged(tmp);

        if (r < 0)
                cr_skip_test("running as root and cannot become nobody (%s): root reads every file",
                                strerror(-r));
        put("usr", "00-defaults.conf", "[Default]\ntext=allow\n");
        locked = put("etc", "10-locked.conf", "[App org.bad.App]\ntext=deny\n");
        cr_assert_eq(chmod(locked, 0), 0);
        _cleanup_(aid_policy_freep) struct aid_policy *p = load("usr", "etc", NULL);

        cr_assert(!allowed(p, "org.good.App", AID_CAP_TEXT, &source));
        cr_assert_str_eq(source, locked);
}

Test(policy, unreadable_directory_and_binary_file_deny_everything)
{
        /* Works as root too: a path that exists but is not a directory of files is unreadable
         * as a policy directory; a file with a NUL byte is not a policy file. */
        g_autofree char *blob = NULL;
        const char *source;

        put("usr", "00-defaults.conf", "[Default]\ntext=allow\n");
        blob = put("etc", "10-blob.conf", "[Default]\ntext=deny\n");
        cr_assert(g_file_set_contents(blob, "[Default]\0text=deny\n", 20, NULL));
        _cleanup_(aid_policy_freep) struct aid_policy *p = load("usr", "etc", NULL);
        cr_assert(!allowed(p, "org.good.App", AID_CAP_TEXT, &source));
        cr_assert_str_eq(source, blob);

        /* A .conf entry that is a directory cannot be read as a file. */
        g_autofree char *sub = g_build_filename(tmp, "etc3", "20-dir.conf", NULL);
        cr_assert_eq(g_mkdir_with_parents(sub, 0755), 0);
        _cleanup_(aid_policy_freep) struct aid_policy *q = load("usr", "etc3", NULL);
        cr_assert(!allowed(q, "org.good.App", AID_CAP_TEXT, &source));
        cr_assert_str_eq(source, sub);
}

Test(policy, capability_names_round_trip)
{
        for (int c = 0; c < AID_CAP_MAX; c++)
                cr_assert_eq(aid_capability_from_string(aid_capability_to_string(c)), c);
        cr_assert_eq(aid_capability_from_string("microphone"), -EINVAL);
}

#define SEC 1000000ULL

Test(ratelimit, trips_at_the_limit_and_recovers_after_the_window)
{
        _cleanup_(aid_ratelimit_freep) struct aid_ratelimit *rl = NULL;
        uint64_t retry = 0;

        cr_assert_eq(aid_ratelimit_new(&rl), 0);
        /* 3 per 10 s: requests at t=0, 1, 2 pass, the 4th at t=3 does not. */
        for (int i = 0; i < 3; i++)
                cr_assert_eq(aid_ratelimit_check(rl, "app\ntext", 3, 10 * SEC, (uint64_t)i * SEC, &retry), 1,
                                "request %d refused", i + 1);
        cr_assert_eq(aid_ratelimit_check(rl, "app\ntext", 3, 10 * SEC, 3 * SEC, &retry), 0);
        cr_assert_eq(retry, 7 * SEC, "retry after %llu us", (unsigned long long)retry);
        /* Refused requests are not counted: at t=10 the first has left the window. */
        for (int i = 0; i < 50; i++)
                cr_assert_eq(aid_ratelimit_check(rl, "app\ntext", 3, 10 * SEC, 9 * SEC, &retry), 0);
        cr_assert_eq(aid_ratelimit_check(rl, "app\ntext", 3, 10 * SEC, 10 * SEC, &retry), 1);
        cr_assert_eq(aid_ratelimit_check(rl, "app\ntext", 3, 10 * SEC, 10 * SEC, &retry), 0);
        cr_assert_eq(retry, 1 * SEC);
        /* Other keys are counted apart. */
        cr_assert_eq(aid_ratelimit_check(rl, "app\nvision", 3, 10 * SEC, 10 * SEC, &retry), 1);
        cr_assert_eq(aid_ratelimit_check(rl, "other\ntext", 3, 10 * SEC, 10 * SEC, &retry), 1);
        /* Long after, all of it is forgotten and the full quota is back. */
        aid_ratelimit_gc(rl, 100 * SEC);
        for (int i = 0; i < 3; i++)
                cr_assert_eq(aid_ratelimit_check(rl, "app\ntext", 3, 10 * SEC, 100 * SEC, &retry), 1);
}

Test(ratelimit, zero_is_unlimited)
{
        _cleanup_(aid_ratelimit_freep) struct aid_ratelimit *rl = NULL;

        cr_assert_eq(aid_ratelimit_new(&rl), 0);
        for (int i = 0; i < 10000; i++)
                cr_assert_eq(aid_ratelimit_check(rl, "k", 0, SEC, 0, NULL), 1);
}
