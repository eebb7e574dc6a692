/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The integration tests' world (see testbus.h): a private dbus-daemon and the real aid. */

#include "testbus.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define START_TIMEOUT_USEC (20 * G_USEC_PER_SEC)
#define RUN_TIMEOUT_USEC   (60 * G_USEC_PER_SEC)

/* A test process that crashes must not leave a bus or a daemon behind. */
static void die_with_parent(gpointer user_data)
{
        prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static char **test_environ(struct testbus *tb)
{
        char **env = g_get_environ();

        env = g_environ_setenv(env, "DBUS_SESSION_BUS_ADDRESS", tb->address, true);
        env = g_environ_setenv(env, "DBUS_SYSTEM_BUS_ADDRESS", tb->address, true);
        env = g_environ_unsetenv(env, "DBUS_STARTER_ADDRESS");
        env = g_environ_unsetenv(env, "DBUS_STARTER_BUS_TYPE");
        /* aid logs to stderr, not to the journal of whoever runs the tests. */
        env = g_environ_unsetenv(env, "JOURNAL_STREAM");
        env = g_environ_unsetenv(env, "NOTIFY_SOCKET");
        /* Messages the tests look for are the untranslated ones; no pagers, no colours. */
        env = g_environ_setenv(env, "LC_ALL", "C.UTF-8", true);
        env = g_environ_setenv(env, "SYSTEMD_PAGER", "cat", true);
        env = g_environ_setenv(env, "SYSTEMD_COLORS", "0", true);
        env = g_environ_setenv(env, "NO_COLOR", "1", true);
        return env;
}

static void remove_tree(const char *path)
{
        g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
        const char *name;

        while (dir && (name = g_dir_read_name(dir))) {
                g_autofree char *child = g_build_filename(path, name, NULL);
                if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
                        remove_tree(child);
                else
                        g_unlink(child);
        }
        g_rmdir(path);
}

/* Reads one line from fd within deadline (monotonic, µs); NULL on EOF or timeout. */
static char *read_line(int fd, gint64 deadline)
{
        g_autoptr(GString) s = g_string_new(NULL);

        for (;;) {
                gint64 left = deadline - g_get_monotonic_time();
                struct pollfd p = { .fd = fd, .events = POLLIN };
                char c;
                ssize_t n;

                if (left <= 0 || poll(&p, 1, (int)(left / 1000) + 1) <= 0)
                        return NULL;
                n = read(fd, &c, 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return NULL;
                if (c == '\n')
                        return g_string_free(g_steal_pointer(&s), false);
                g_string_append_c(s, c);
        }
}

void testbus_setup(struct testbus *tb)
{
        g_autoptr(GError) e = NULL;
        g_autofree char *conf = NULL, *bus_conf = NULL;
        int out_fd = -1;

        *tb = (struct testbus){};
        tb->dir = g_dir_make_tmp("aid-testbus-XXXXXX", &e);
        cr_assert(tb->dir, "cannot create a temporary directory: %s", e ? e->message : "?");
        tb->models_dir = g_build_filename(tb->dir, "models", NULL);
        tb->config_path = g_build_filename(tb->dir, "aid.conf", NULL);
        tb->aid_log = g_build_filename(tb->dir, "aid.log", NULL);
        cr_assert_eq(g_mkdir(tb->models_dir, 0755), 0, "mkdir %s: %s", tb->models_dir, g_strerror(errno));

        /* A session-like bus, open to everything, that lives only in this directory. */
        bus_conf = g_build_filename(tb->dir, "bus.conf", NULL);
        conf = g_strdup_printf("<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration "
                               "1.0//EN\"\n"
                               " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                               "<busconfig>\n"
                               "  <type>session</type>\n"
                               "  <listen>unix:dir=%s</listen>\n"
                               "  <auth>EXTERNAL</auth>\n"
                               "  <policy context=\"default\">\n"
                               "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
                               "    <allow eavesdrop=\"true\"/>\n"
                               "    <allow own=\"*\"/>\n"
                               "  </policy>\n"
                               "</busconfig>\n",
                        tb->dir);
        cr_assert(g_file_set_contents(bus_conf, conf, -1, &e), "cannot write %s: %s", bus_conf,
                        e ? e->message : "?");

        g_autofree char *config_arg = g_strdup_printf("--config-file=%s", bus_conf);
        g_autofree char *bus_log = g_build_filename(tb->dir, "dbus.log", NULL);
        const char *argv[] = { "dbus-daemon", config_arg, "--print-address", "--nofork", NULL };
        /* Its complaints (it cannot raise the fd limit when run as root) go to a file, read
         * back only when it fails. */
        int log_fd = open(bus_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        cr_assert_geq(log_fd, 0, "cannot open %s: %s", bus_log, g_strerror(errno));
        bool ok = g_spawn_async_with_pipes_and_fds(tb->dir, argv, NULL,
                        G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL,
                        die_with_parent, NULL, -1, -1, log_fd, NULL, NULL, 0, &tb->dbus_pid, NULL, &out_fd,
                        NULL, &e);
        close(log_fd);
        cr_assert(ok, "cannot start dbus-daemon: %s", e ? e->message : "?");

        tb->address = read_line(out_fd, g_get_monotonic_time() + START_TIMEOUT_USEC);
        close(out_fd);
        if (!tb->address || !tb->address[0]) {
                g_autofree char *log = NULL;
                g_file_get_contents(bus_log, &log, NULL, NULL);
                cr_assert_fail("dbus-daemon did not print its address within 20 s:\n%s", log ? log : "");
        }
}

static void write_config(struct testbus *tb, const char *extra_conf)
{
        g_autoptr(GError) e = NULL;
        g_autofree char *conf = g_strdup_printf("[Models]\n"
                                                "Directories=%s\n"
                                                "ScanUserStores=false\n"
                                                "%s",
                        tb->models_dir, extra_conf ? extra_conf : "");

        cr_assert(g_file_set_contents(tb->config_path, conf, -1, &e), "cannot write %s: %s", tb->config_path,
                        e ? e->message : "?");
}

static char *aid_log_contents(struct testbus *tb)
{
        char *log = NULL;

        if (!g_file_get_contents(tb->aid_log, &log, NULL, NULL))
                return g_strdup("(no aid.log)");
        return log;
}

/* waitid(WNOWAIT) looks without reaping, so testbus_stop_aid() can still collect the status. */
static bool exited(GPid pid)
{
        siginfo_t info = {};

        if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0)
                return true;
        return info.si_pid != 0;
}

static bool name_has_owner(GDBusConnection *c, const char *name)
{
        g_autoptr(GVariant) v = NULL;
        gboolean has = false;

        v = g_dbus_connection_call_sync(c, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                        "org.freedesktop.DBus", "NameHasOwner", g_variant_new("(s)", name),
                        G_VARIANT_TYPE("(b)"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
        if (v)
                g_variant_get(v, "(b)", &has);
        return has;
}

void testbus_start_aid(struct testbus *tb, const char *extra_conf)
{
        g_autoptr(GError) e = NULL;
        g_autoptr(GDBusConnection) c = NULL;
        g_auto(GStrv) env = test_environ(tb);
        const char *daemon = g_getenv("AID_DAEMON");
        g_autofree char *address_arg = NULL, *config_arg = NULL;
        gint64 deadline;
        int log_fd, null_fd;

        cr_assert(daemon && g_file_test(daemon, G_FILE_TEST_IS_EXECUTABLE),
                        "$AID_DAEMON (%s) is not the built aid", daemon ? daemon : "unset");
        cr_assert_eq(tb->aid_pid, 0, "aid is already running");
        write_config(tb, extra_conf);

        address_arg = g_strdup_printf("--bus-address=%s", tb->address);
        config_arg = g_strdup_printf("--config=%s", tb->config_path);
        g_autoptr(GStrvBuilder) args = g_strv_builder_new();
        if (tb->aid_wrapper)
                g_strv_builder_addv(args, (const char **)tb->aid_wrapper);
        g_strv_builder_add_many(args, daemon, address_arg, config_arg, "--log-level=debug", NULL);
        g_auto(GStrv) argv = g_strv_builder_end(args);

        log_fd = open(tb->aid_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        cr_assert_geq(log_fd, 0, "cannot open %s: %s", tb->aid_log, g_strerror(errno));
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        cr_assert_geq(null_fd, 0);
        bool ok = g_spawn_async_with_fds(tb->dir, argv, env,
                        G_SPAWN_DO_NOT_REAP_CHILD | (tb->aid_wrapper ? G_SPAWN_SEARCH_PATH : 0),
                        die_with_parent, NULL, &tb->aid_pid, null_fd, log_fd, log_fd, &e);
        close(log_fd);
        close(null_fd);
        cr_assert(ok, "cannot start %s: %s", daemon, e ? e->message : "?");

        c = g_dbus_connection_new_for_address_sync(tb->address,
                        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                        NULL, NULL, &e);
        cr_assert(c, "cannot connect to the private bus %s: %s", tb->address, e ? e->message : "?");

        deadline = g_get_monotonic_time() + START_TIMEOUT_USEC;
        for (;;) {
                if (name_has_owner(c, "org.aid.Daemon1"))
                        return;
                if (exited(tb->aid_pid)) {
                        g_autofree char *log = aid_log_contents(tb);
                        int status = testbus_stop_aid(tb);
                        cr_assert_fail("aid exited (status %d) before owning org.aid.Daemon1; aid.log:\n%s",
                                        status, log);
                }
                if (g_get_monotonic_time() > deadline) {
                        g_autofree char *log = aid_log_contents(tb);
                        cr_assert_fail("aid did not own org.aid.Daemon1 within 20 s; aid.log:\n%s", log);
                }
                g_usleep(20 * 1000);
        }
}

static int wait_exit(GPid pid, gint64 timeout_usec, int *ret_status)
{
        gint64 deadline = g_get_monotonic_time() + timeout_usec;

        for (;;) {
                pid_t r = waitpid(pid, ret_status, WNOHANG);
                if (r == pid)
                        return 0;
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (g_get_monotonic_time() > deadline)
                        return -ETIMEDOUT;
                g_usleep(10 * 1000);
        }
}

int testbus_wait_aid_exit(struct testbus *tb, gint64 timeout_usec)
{
        int status = 0, r;

        cr_assert_neq(tb->aid_pid, 0, "aid is not running");
        r = wait_exit(tb->aid_pid, timeout_usec, &status);
        if (r == -ETIMEDOUT)
                return -1;
        cr_assert_eq(r, 0, "waitpid(aid): %s", g_strerror(-r));
        tb->aid_pid = 0;
        return status;
}

int testbus_stop_aid(struct testbus *tb)
{
        int status = 0, r;

        cr_assert_neq(tb->aid_pid, 0, "aid is not running");
        kill(tb->aid_pid, SIGTERM);
        r = wait_exit(tb->aid_pid, 20 * G_USEC_PER_SEC, &status);
        if (r == -ETIMEDOUT) {
                kill(tb->aid_pid, SIGKILL);
                (void)wait_exit(tb->aid_pid, 5 * G_USEC_PER_SEC, &status);
                tb->aid_pid = 0;
                cr_assert_fail("aid did not exit within 20 s of SIGTERM");
        }
        tb->aid_pid = 0;
        cr_assert_eq(r, 0, "waitpid(aid): %s", g_strerror(-r));
        return status;
}

bool testbus_aid_alive(struct testbus *tb)
{
        return tb->aid_pid != 0 && !exited(tb->aid_pid);
}

void testbus_teardown(struct testbus *tb)
{
        int status;

        if (tb->aid_pid != 0) {
                kill(tb->aid_pid, SIGKILL);
                (void)wait_exit(tb->aid_pid, 5 * G_USEC_PER_SEC, &status);
                tb->aid_pid = 0;
        }
        if (tb->dbus_pid != 0) {
                kill(tb->dbus_pid, SIGTERM);
                if (wait_exit(tb->dbus_pid, 5 * G_USEC_PER_SEC, &status) < 0) {
                        kill(tb->dbus_pid, SIGKILL);
                        (void)wait_exit(tb->dbus_pid, 5 * G_USEC_PER_SEC, &status);
                }
                tb->dbus_pid = 0;
        }
        if (tb->dir)
                remove_tree(tb->dir);
        g_free(tb->dir);
        g_free(tb->address);
        g_free(tb->models_dir);
        g_free(tb->config_path);
        g_free(tb->aid_log);
        *tb = (struct testbus){};
}

/* Drains whichever of the two pipes has data; returns false once both are closed. */
static bool pump(int fds[2], GString *bufs[2], int timeout_ms)
{
        struct pollfd p[2];
        nfds_t n = 0;
        int idx[2];

        for (int i = 0; i < 2; i++)
                if (fds[i] >= 0) {
                        p[n] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
                        idx[n++] = i;
                }
        if (n == 0)
                return false;
        if (poll(p, n, timeout_ms) <= 0)
                return true;
        for (nfds_t k = 0; k < n; k++) {
                char buf[4096];
                ssize_t r;

                if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
                        continue;
                r = read(p[k].fd, buf, sizeof(buf));
                if (r > 0)
                        g_string_append_len(bufs[idx[k]], buf, r);
                else if (r == 0 || errno != EINTR) {
                        close(fds[idx[k]]);
                        fds[idx[k]] = -1;
                }
        }
        return true;
}

int testbus_run(struct testbus *tb, char **ret_stdout, char **ret_stderr, const char *const *argv)
{
        g_autoptr(GError) e = NULL;
        g_auto(GStrv) env = test_environ(tb);
        g_autoptr(GString) out = g_string_new(NULL), err = g_string_new(NULL);
        GString *bufs[2] = { out, err };
        int fds[2] = { -1, -1 }, status = 0;
        gint64 deadline;
        GPid pid;

        cr_assert(argv && argv[0]);
        cr_assert(g_spawn_async_with_pipes(tb->dir, (char **)argv, env,
                                  G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                                                  G_SPAWN_STDIN_FROM_DEV_NULL,
                                  die_with_parent, NULL, &pid, NULL, &fds[0], &fds[1], &e),
                        "cannot run %s: %s", argv[0], e ? e->message : "?");

        deadline = g_get_monotonic_time() + RUN_TIMEOUT_USEC;
        while (pump(fds, bufs, 100))
                if (g_get_monotonic_time() > deadline)
                        break;

        if (fds[0] >= 0 || fds[1] >= 0 || wait_exit(pid, deadline - g_get_monotonic_time(), &status) < 0) {
                kill(pid, SIGKILL);
                (void)wait_exit(pid, 5 * G_USEC_PER_SEC, &status);
                for (int i = 0; i < 2; i++)
                        if (fds[i] >= 0)
                                close(fds[i]);
                cr_assert_fail("%s did not finish within 60 s; its output so far:\n%s\n%s", argv[0],
                                out->str, err->str);
        }

        if (ret_stdout)
                *ret_stdout = g_string_free(g_steal_pointer(&out), false);
        if (ret_stderr)
                *ret_stderr = g_string_free(g_steal_pointer(&err), false);
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 255;
}

const char *testbus_fixtures(void)
{
        const char *f = g_getenv("AID_FIXTURES");

        return f && g_file_test(f, G_FILE_TEST_IS_DIR) ? f : NULL;
}

void testbus_add_fixture_model(struct testbus *tb, const char *relpath, const char *name)
{
        g_autoptr(GError) e = NULL;
        g_autofree char *src = NULL, *dst = NULL, *base = NULL;
        g_autofree char *contents = NULL;
        const char *fixtures = testbus_fixtures();
        gsize length;

        /* criterion does not run .fini after cr_skip_test(): stop the bus and remove the
         * directory here, or every skipped test leaves an /tmp/aid-testbus-* behind. */
        if (!fixtures) {
                testbus_teardown(tb);
                cr_skip_test("fixtures folder %s absent: set AID_FIXTURES (meson -Dfixtures=) to run this "
                             "test",
                                g_getenv("AID_FIXTURES") ? g_getenv("AID_FIXTURES")
                                                         : "(AID_FIXTURES unset)");
        }

        src = g_build_filename(fixtures, relpath, NULL);
        base = g_path_get_basename(relpath);
        dst = g_build_filename(tb->models_dir, name ? name : base, NULL);
        cr_assert(g_file_get_contents(src, &contents, &length, &e), "cannot read fixture %s: %s", src,
                        e ? e->message : "?");
        cr_assert(g_file_set_contents(dst, contents, (gssize)length, &e), "cannot write %s: %s", dst,
                        e ? e->message : "?");
}
