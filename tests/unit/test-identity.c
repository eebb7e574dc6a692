/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How aid names its callers: unit names of desktop apps and snaps, .flatpak-info, and the
 * whole lookup on a real process (this test) and on a procfs-shaped tree. */

#include <criterion/criterion.h>
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "identity.h"
#include "unprivileged.h"

static void expect_app(const char *cgroup, enum aid_identity_kind kind, const char *app_id)
{
        _cleanup_free_ char *unit = NULL, *id = NULL;
        enum aid_identity_kind k;
        int r;

        r = aid_identity_parse_cgroup(cgroup, &unit, &k, &id);
        cr_assert_eq(r, 0, "%s: %s", cgroup, strerror(-r));
        cr_assert_eq(k, kind, "%s: kind %s", cgroup, aid_identity_kind_to_string(k));
        cr_assert_str_eq(id, app_id, "%s", cgroup);
        cr_assert_str_eq(unit, strrchr(cgroup, '/') + 1);
}

static void expect_none(const char *cgroup)
{
        _cleanup_free_ char *id = NULL;
        enum aid_identity_kind k;

        cr_assert_eq(aid_identity_parse_cgroup(cgroup, NULL, &k, &id), -ENOENT, "%s named %s", cgroup,
                        id ? id : "?");
}

Test(identity, desktop_app_scopes_and_services)
{
        const char *u = "/user.slice/user-1000.slice/user@1000.service/app.slice/";
        g_autofree char *a = g_strconcat(u, "app-gnome-org.gnome.Weather-4321.scope", NULL);
        g_autofree char *b = g_strconcat(u, "app-org.gnome.Weather-4321.scope", NULL);
        g_autofree char *c = g_strconcat(u, "app-org.gnome.Terminal@ab12.service", NULL);
        g_autofree char *d = g_strconcat(u, "app-kde-org.kde.dolphin@x.service", NULL);
        g_autofree char *e = g_strconcat(u, "app-org.example.Plain.service", NULL);
        g_autofree char *f = g_strconcat(u, "app-flatpak-org.example.My\\x2dApp-99.scope", NULL);
        g_autofree char *g = g_strconcat(u, "app-gnome-firefox\\x2desr-77.scope", NULL);

        expect_app(a, AID_IDENTITY_SYSTEMD_APP, "org.gnome.Weather");
        expect_app(b, AID_IDENTITY_SYSTEMD_APP, "org.gnome.Weather");
        expect_app(c, AID_IDENTITY_SYSTEMD_APP, "org.gnome.Terminal");
        expect_app(d, AID_IDENTITY_SYSTEMD_APP, "org.kde.dolphin");
        expect_app(e, AID_IDENTITY_SYSTEMD_APP, "org.example.Plain");
        expect_app(f, AID_IDENTITY_SYSTEMD_APP, "org.example.My-App");
        expect_app(g, AID_IDENTITY_SYSTEMD_APP, "firefox-esr");
}

Test(identity, snaps)
{
        expect_app("/user.slice/user-1000.slice/user@1000.service/app.slice/"
                   "snap.firefox.firefox-2b6e0f0c-8b4a-4f8e-a4b1-0f5f0c3d9b7e.scope",
                        AID_IDENTITY_SNAP, "firefox");
        expect_app("/user.slice/user-1000.slice/user@1000.service/snap.vlc.vlc.1234abcd.scope",
                        AID_IDENTITY_SNAP, "vlc");
        expect_app("/system.slice/snap.lxd.daemon.service", AID_IDENTITY_SNAP, "lxd");
        expect_app("/system.slice/snap.foo.hook.configure-1234.scope", AID_IDENTITY_SNAP, "foo");
}

Test(identity, cgroups_without_an_app)
{
        _cleanup_free_ char *unit = NULL, *id = NULL;
        enum aid_identity_kind k;

        expect_none("/");
        expect_none("");
        expect_none("/user.slice/user-1000.slice/session-3.scope");
        expect_none("/system.slice/ssh.service");
        expect_none("/user.slice/user-1000.slice/user@1000.service/app.slice/app-.scope");
        expect_none("/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome--4.scope");
        expect_none("/user.slice/user-1000.slice/user@1000.service/app.slice/app-x\\x41y-1.scope");
        expect_none("/user.slice/user-1000.slice/user@1000.service/app.slice/app-a.slice");
        expect_none("/system.slice/snap.onlyname.scope");
        expect_none("/system.slice/snapd.service");

        /* The unit is still reported for a session scope. */
        cr_assert_eq(aid_identity_parse_cgroup("/user.slice/session-3.scope", &unit, &k, &id), -ENOENT);
        cr_assert_str_eq(unit, "session-3.scope");
}

Test(identity, flatpak_info)
{
        static const char good[] = "[Application]\n"
                                   "name=org.example.App\n"
                                   "runtime=runtime/org.gnome.Platform/x86_64/45\n"
                                   "\n"
                                   "[Instance]\n"
                                   "instance-id=123\n";
        static const char spaced[] = "[Instance]\nname=not.this\n[Application]\nname = org.example.Spaced\n";
        static const char bad_id[] = "[Application]\nname=../../etc\n";
        static const char no_name[] = "[Application]\nruntime=x\n";
        static const char not_keyfile[] = "hello";
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

        cr_assert_eq(aid_identity_parse_flatpak_info(good, strlen(good), &a), 0);
        cr_assert_str_eq(a, "org.example.App");
        cr_assert_eq(aid_identity_parse_flatpak_info(spaced, strlen(spaced), &b), 0);
        cr_assert_str_eq(b, "org.example.Spaced");
        cr_assert_eq(aid_identity_parse_flatpak_info(bad_id, strlen(bad_id), &c), -EBADMSG);
        cr_assert_eq(aid_identity_parse_flatpak_info(no_name, strlen(no_name), &c), -ENOENT);
        cr_assert_eq(aid_identity_parse_flatpak_info(not_keyfile, strlen(not_keyfile), &c), -EBADMSG);
        cr_assert_null(c);
}

Test(identity, stat_start_time)
{
        uint64_t t;

        cr_assert_eq(aid_identity_parse_stat_start_time("1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 "
                                                        "100 0 0 0 5 3 0 0 20 0 1 0 987654 1000 10 "
                                                        "18446744073709551615",
                                     &t),
                        0);
        cr_assert_eq(t, 987654);
        cr_assert_eq(aid_identity_parse_stat_start_time("1234 (x) S 1 2", &t), -EBADMSG);
        cr_assert_eq(aid_identity_parse_stat_start_time("garbage", &t), -EBADMSG);
}

Test(identity, this_process_is_its_executable)
{
        _cleanup_(aid_identity_freep) struct aid_identity *id = NULL;
        struct aid_error err = {};
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        _cleanup_free_ char *unit = NULL, *app = NULL;
        g_autofree char *cgroup = NULL;
        enum aid_identity_kind k;

        cr_assert_gt(n, 0);
        exe[n] = '\0';
        cr_assert_eq(aid_identity_from_pid("/proc", getpid(), geteuid(), &id, &err), 0, "%s", err.message);
        cr_assert_eq(id->pid, getpid());
        cr_assert_gt(id->start_time, 0);
        cr_assert_str_eq(id->exe, exe);

        /* Unless this test itself runs inside a desktop app scope or a Flatpak. */
        g_file_get_contents("/proc/self/cgroup", &cgroup, NULL, NULL);
        if (access("/.flatpak-info", F_OK) == 0 ||
                        (cgroup && strstr(cgroup, "0::") &&
                                        aid_identity_parse_cgroup(
                                                        strstr(cgroup, "0::") + 3, &unit, &k, &app) == 0))
                cr_skip_test("this test runs inside an app sandbox or scope");
        cr_assert_eq(id->kind, AID_IDENTITY_EXECUTABLE);
        cr_assert_str_eq(id->app_id, exe);
        cr_assert(!id->sandboxed);
}

Test(identity, wrong_uid_or_gone_process_is_refused)
{
        _cleanup_(aid_identity_freep) struct aid_identity *id = NULL;
        struct aid_error err = {};

        cr_assert_eq(aid_identity_from_pid("/proc", getpid(), geteuid() + 1, &id, &err), -ESRCH);
        cr_assert(strstr(err.message, "uid"), "%s", err.message);
        cr_assert_null(id);
        cr_assert_eq(aid_identity_from_pid("/proc", 0, 0, &id, &err), -ESRCH);
        cr_assert_eq(aid_identity_from_pid("/nonexistent-proc", 12345, 0, &id, &err), -ESRCH);
}

/* A procfs-shaped tree: what a Flatpak'd process looks like from the host. */
static char *fake_proc(const char *flatpak_info, const char *cgroup)
{
        char *dir = g_dir_make_tmp("aid-test-proc-XXXXXX", NULL);
        g_autofree char *pid = g_build_filename(dir, "4242", NULL);
        g_autofree char *root = g_build_filename(pid, "root", NULL);
        g_autofree char *path = NULL;

        cr_assert_eq(g_mkdir_with_parents(root, 0755), 0);
        path = g_build_filename(pid, "stat", NULL);
        cr_assert(g_file_set_contents(
                        path, "4242 (bwrap) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5555 0 0\n", -1, NULL));
        g_free(path);
        path = g_build_filename(pid, "status", NULL);
        cr_assert(g_file_set_contents(path, "Name:\tapp\nUid:\t1000\t1000\t1000\t1000\n", -1, NULL));
        g_free(path);
        path = g_build_filename(pid, "cgroup", NULL);
        cr_assert(g_file_set_contents(path, cgroup, -1, NULL));
        g_free(path);
        path = g_build_filename(pid, "exe", NULL);
        cr_assert_eq(symlink("/app/bin/app", path), 0);
        if (flatpak_info) {
                g_free(path);
                path = g_build_filename(root, ".flatpak-info", NULL);
                cr_assert(g_file_set_contents(path, flatpak_info, -1, NULL));
        }
        return dir;
}

static void remove_fake(const char *dir)
{
        g_autofree char *cmd = g_strdup_printf("chmod -R u+rwx '%s'; rm -rf '%s'", dir, dir);
        (void)!system(cmd);
}

Test(identity, flatpak_beats_its_scope)
{
        g_autofree char *proc = fake_proc("[Application]\nname=org.example.Sandboxed\n",
                        "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
                        "app-flatpak-org.example.Sandboxed-1.scope\n");
        _cleanup_(aid_identity_freep) struct aid_identity *id = NULL;
        struct aid_error err = {};

        cr_assert_eq(aid_identity_from_pid(proc, 4242, 1000, &id, &err), 0, "%s", err.message);
        cr_assert_eq(id->kind, AID_IDENTITY_FLATPAK);
        cr_assert_str_eq(id->app_id, "org.example.Sandboxed");
        cr_assert(id->sandboxed);
        cr_assert_str_eq(id->unit, "app-flatpak-org.example.Sandboxed-1.scope");
        cr_assert_eq(id->start_time, 5555);
        remove_fake(proc);
}

Test(identity, scope_without_sandbox_is_a_host_app)
{
        g_autofree char *proc = fake_proc(NULL, "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
                                                "app-gnome-org.example.Host-77.scope\n");
        _cleanup_(aid_identity_freep) struct aid_identity *id = NULL;
        struct aid_error err = {};

        cr_assert_eq(aid_identity_from_pid(proc, 4242, 1000, &id, &err), 0, "%s", err.message);
        cr_assert_eq(id->kind, AID_IDENTITY_SYSTEMD_APP);
        cr_assert_str_eq(id->app_id, "org.example.Host");
        cr_assert(!id->sandboxed);
        cr_assert_str_eq(id->exe, "/app/bin/app");
        remove_fake(proc);
}

Test(identity, snap_without_its_apparmor_label_is_not_sandboxed)
{
        g_autofree char *proc = fake_proc(NULL, "0::/user.slice/snap.firefox.firefox-1234.scope\n");
        g_autofree char *attr = g_build_filename(proc, "4242", "attr", NULL);
        g_autofree char *label = g_build_filename(attr, "current", NULL);
        _cleanup_(aid_identity_freep) struct aid_identity *id = NULL, *id2 = NULL;
        struct aid_error err = {};

        cr_assert_eq(aid_identity_from_pid(proc, 4242, 1000, &id, &err), 0, "%s", err.message);
        cr_assert_eq(id->kind, AID_IDENTITY_SNAP);
        cr_assert_str_eq(id->app_id, "firefox");
        cr_assert(!id->sandboxed);

        cr_assert_eq(g_mkdir_with_parents(attr, 0755), 0);
        cr_assert(g_file_set_contents(label, "snap.firefox.firefox (enforce)\n", -1, NULL));
        cr_assert_eq(aid_identity_from_pid(proc, 4242, 1000, &id2, &err), 0, "%s", err.message);
        cr_assert(id2->sandboxed);
        remove_fake(proc);
}

Test(identity, broken_flatpak_info_is_refused_not_downgraded)
{
        g_autofree char *proc =
                        fake_proc("[Application]\nname=bad/id\n", "0::/user.slice/session-1.scope\n");
        _cleanup_(aid_identity_freep) struct aid_identity *id = NULL;
        struct aid_error err = {};

        cr_assert_eq(aid_identity_from_pid(proc, 4242, 1000, &id, &err), -EBADMSG);
        cr_assert(strstr(err.message, ".flatpak-info"), "%s", err.message);
        cr_assert_null(id);
        remove_fake(proc);
}

/* System mode: the caller belongs to another user, whose /proc/PID/root aid may not enter.
 * The scope, which anyone may read, decides; without one the call is refused. */
static void out_of_reach(const char *proc)
{
        g_autofree char *root = g_build_filename(proc, "4242", "root", NULL);
        int r = become_unprivileged(proc);

        if (r < 0)
                cr_skip_test("running as root and cannot become nobody (%s): root enters every "
                             "/proc/PID/root",
                                strerror(-r));
        cr_assert_eq(chmod(root, 0), 0);
}

Test(identity, out_of_reach_flatpak_is_known_by_its_scope)
{
        g_autofree char *proc = fake_proc("[Application]\nname=org.example.Sandboxed\n",
                        "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
                        "app-flatpak-org.example.Sandboxed-1.scope\n");
        _cleanup_(aid_identity_freep) struct aid_identity *id = NULL;
        struct aid_error err = {};

        out_of_reach(proc);
        cr_assert_eq(aid_identity_from_pid(proc, 4242, 1000, &id, &err), 0, "%s", err.message);
        cr_assert_eq(id->kind, AID_IDENTITY_FLATPAK);
        cr_assert_str_eq(id->app_id, "org.example.Sandboxed");
        cr_assert(id->sandboxed);
        remove_fake(proc);
}

Test(identity, out_of_reach_host_app_is_known_by_its_scope)
{
        g_autofree char *proc = fake_proc(NULL, "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
                                                "app-gnome-org.example.Host-77.scope\n");
        _cleanup_(aid_identity_freep) struct aid_identity *id = NULL;
        struct aid_error err = {};

        out_of_reach(proc);
        cr_assert_eq(aid_identity_from_pid(proc, 4242, 1000, &id, &err), 0, "%s", err.message);
        cr_assert_eq(id->kind, AID_IDENTITY_SYSTEMD_APP);
        cr_assert_str_eq(id->app_id, "org.example.Host");
        cr_assert(!id->sandboxed);
        remove_fake(proc);
}

Test(identity, out_of_reach_without_a_scope_is_refused)
{
        g_autofree char *proc = fake_proc(NULL, "0::/user.slice/user-1000.slice/session-3.scope\n");
        _cleanup_(aid_identity_freep) struct aid_identity *id = NULL;
        struct aid_error err = {};

        out_of_reach(proc);
        cr_assert_eq(aid_identity_from_pid(proc, 4242, 1000, &id, &err), -EACCES);
        cr_assert(strstr(err.message, "another user"), "%s", err.message);
        cr_assert_null(id);
        remove_fake(proc);
}
