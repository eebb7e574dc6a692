/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "identity.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* .flatpak-info is a few hundred bytes; anything this large is not one. */
#define SMALL_FILE_MAX (64 * 1024)

const char *aid_identity_kind_to_string(enum aid_identity_kind k)
{
        switch (k) {
        case AID_IDENTITY_FLATPAK:
                return "flatpak";
        case AID_IDENTITY_SNAP:
                return "snap";
        case AID_IDENTITY_SYSTEMD_APP:
                return "systemd-app";
        case AID_IDENTITY_EXECUTABLE:
                return "executable";
        }
        return "unknown";
}

const char *aid_identity_trust_to_string(const struct aid_identity *id)
{
        return id->sandboxed ? "sandboxed" : "host";
}

struct aid_identity *aid_identity_free(struct aid_identity *id)
{
        if (!id)
                return NULL;
        free(id->app_id);
        free(id->exe);
        free(id->unit);
        free(id);
        return NULL;
}

/* App ids end up in policy group names, log fields and error messages: printable, no
 * spaces, no brackets, no path separators (an executable path is not an app id). */
static bool app_id_valid(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > 255 || s[0] == '.' || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && !strchr("._-+", s[i]))
                        return false;
        return true;
}

static char *strndup_trim(const char *s, size_t n)
{
        while (n > 0 && (*s == ' ' || *s == '\t')) {
                s++;
                n--;
        }
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
                n--;
        return strndup(s, n);
}

int aid_identity_parse_flatpak_info(const char *contents, size_t length, char **ret_app_id)
{
        bool in_application = false, any_group = false;
        const char *p = contents, *end = contents + length;

        while (p < end) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);

                if (memchr(p, '\0', n))
                        return -EBADMSG;
                if (n > 0 && p[0] == '[') {
                        if (p[n - 1] != ']')
                                return -EBADMSG;
                        any_group = true;
                        in_application = n == strlen("[Application]") && memcmp(p, "[Application]", n) == 0;
                } else if (in_application && n > 4 && memcmp(p, "name", 4) == 0) {
                        const char *q = p + 4;
                        while (q < p + n && (*q == ' ' || *q == '\t'))
                                q++;
                        if (q < p + n && *q == '=') {
                                _cleanup_free_ char *v = strndup_trim(q + 1, (size_t)(p + n - q - 1));
                                if (!v)
                                        return -ENOMEM;
                                if (!app_id_valid(v))
                                        return -EBADMSG;
                                *ret_app_id = TAKE_PTR(v);
                                return 0;
                        }
                }
                p += n + 1;
        }
        return any_group ? -ENOENT : -EBADMSG;
}

static bool has_suffix(const char *s, size_t n, const char *suffix)
{
        size_t k = strlen(suffix);
        return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* systemd escapes '-' in the app id part of a unit name as "\x2d" (systemd-escape); other
 * escapes have no place in an app id. */
static int unescape_app_id(const char *s, size_t n, char **ret)
{
        _cleanup_free_ char *out = malloc(n + 1);
        size_t k = 0;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '\\') {
                        if (i + 4 > n || strncmp(s + i, "\\x2d", 4) != 0)
                                return -EBADMSG;
                        out[k++] = '-';
                        i += 3;
                } else
                        out[k++] = s[i];
        }
        out[k] = '\0';
        if (!app_id_valid(out))
                return -EBADMSG;
        *ret = TAKE_PTR(out);
        return 0;
}

/* The XDG desktop-app convention for units (systemd.io/DESKTOP_ENVIRONMENTS):
 *   app[-<launcher>]-<ApplicationID>-<RANDOM>.scope
 *   app[-<launcher>]-<ApplicationID>[@<RANDOM>].service
 * The app id has its dashes escaped, so an unescaped dash left after removing the random part
 * separates the launcher. */
static int parse_app_unit(const char *unit, char **ret_app_id)
{
        size_t n = strlen(unit);
        const char *body, *dash, *at;
        size_t len;

        if (strncmp(unit, "app-", 4) != 0)
                return -ENOENT;
        body = unit + 4;
        if (has_suffix(unit, n, ".scope")) {
                len = n - 4 - strlen(".scope");
                dash = memrchr(body, '-', len);
                if (!dash || dash == body)
                        return -ENOENT;
                len = (size_t)(dash - body);
        } else if (has_suffix(unit, n, ".service")) {
                len = n - 4 - strlen(".service");
                at = memchr(body, '@', len);
                if (at)
                        len = (size_t)(at - body);
        } else
                return -ENOENT;

        dash = memchr(body, '-', len);
        if (dash) {
                len -= (size_t)(dash + 1 - body);
                body = dash + 1;
        }
        if (len == 0)
                return -ENOENT;
        return unescape_app_id(body, len, ret_app_id) < 0 ? -ENOENT : 0;
}

/* snap.<name>.<app>-<uuid>.scope, snap.<name>.<app>.<uuid>.scope (older snapd),
 * snap.<name>.<app>.service, snap.<name>.hook.<hook>-<uuid>.scope. */
static int parse_snap_unit(const char *unit, char **ret_name)
{
        const char *name = unit + strlen("snap."), *dot;

        if (strncmp(unit, "snap.", 5) != 0)
                return -ENOENT;
        dot = strchr(name, '.');
        if (!dot || dot == name || !strchr(dot + 1, '.'))
                return -ENOENT;
        _cleanup_free_ char *s = strndup(name, (size_t)(dot - name));
        if (!s)
                return -ENOMEM;
        if (!app_id_valid(s))
                return -ENOENT;
        *ret_name = TAKE_PTR(s);
        return 0;
}

int aid_identity_parse_cgroup(
                const char *cgroup, char **ret_unit, enum aid_identity_kind *ret_kind, char **ret_app_id)
{
        const char *slash = strrchr(cgroup, '/');
        const char *last = slash ? slash + 1 : cgroup;
        _cleanup_free_ char *unit = NULL, *app_id = NULL;
        size_t n = strlen(last);
        enum aid_identity_kind kind;
        int r;

        if (!has_suffix(last, n, ".scope") && !has_suffix(last, n, ".service"))
                return -ENOENT;
        unit = strdup(last);
        if (!unit)
                return -ENOMEM;

        kind = AID_IDENTITY_SNAP;
        r = parse_snap_unit(unit, &app_id);
        if (r == -ENOENT) {
                kind = AID_IDENTITY_SYSTEMD_APP;
                r = parse_app_unit(unit, &app_id);
        }
        if (ret_unit && (r >= 0 || r == -ENOENT))
                *ret_unit = TAKE_PTR(unit);
        if (r < 0)
                return r;
        *ret_kind = kind;
        *ret_app_id = TAKE_PTR(app_id);
        return 0;
}

int aid_identity_parse_stat_start_time(const char *stat_line, uint64_t *ret)
{
        /* The command name (field 2) is in parentheses and may hold spaces and ')': the
         * fields after it start after the last ')'. */
        const char *p = strrchr(stat_line, ')');
        unsigned long long v;
        char *end;

        if (!p)
                return -EBADMSG;
        p++;
        /* Field 3 (state) is the first after ')'; starttime is field 22, 19 further on. */
        for (int field = 3; field < 22; field++) {
                while (*p == ' ')
                        p++;
                if (*p == '\0')
                        return -EBADMSG;
                while (*p && *p != ' ')
                        p++;
        }
        while (*p == ' ')
                p++;
        if (!isdigit((unsigned char)*p))
                return -EBADMSG;
        errno = 0;
        v = strtoull(p, &end, 10);
        if (errno != 0 || (*end != ' ' && *end != '\0' && *end != '\n'))
                return -EBADMSG;
        *ret = v;
        return 0;
}

/* Reads a small file whole; -errno on failure, -EFBIG when larger than SMALL_FILE_MAX. */
static int read_small_file(const char *path, char **ret, size_t *ret_length)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;

        if (fd < 0)
                return -errno;
        buf = malloc(SMALL_FILE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(fd, buf + n, SMALL_FILE_MAX + 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t)k;
                if (n > SMALL_FILE_MAX)
                        return -EFBIG;
        }
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_length)
                *ret_length = n;
        return 0;
}

static int read_start_time(const char *proc, pid_t pid, uint64_t *ret, struct aid_error *err)
{
        _cleanup_free_ char *path = NULL, *line = NULL;
        int r;

        if (asprintf(&path, "%s/%d/stat", proc, (int)pid) < 0)
                return -ENOMEM;
        r = read_small_file(path, &line, NULL);
        if (r == -ENOENT)
                return aid_error_set(err, -ESRCH, "process %d is gone", (int)pid);
        if (r < 0)
                return aid_error_set(err, r, "cannot read %s: %s", path, strerror(-r));
        r = aid_identity_parse_stat_start_time(line, ret);
        if (r < 0)
                return aid_error_set(err, r, "%s is malformed", path);
        return 0;
}

/* The effective uid (second field of "Uid:") of /proc/PID/status. */
static int read_euid(const char *proc, pid_t pid, uid_t *ret, struct aid_error *err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        unsigned long real, effective;
        const char *line;
        int r;

        if (asprintf(&path, "%s/%d/status", proc, (int)pid) < 0)
                return -ENOMEM;
        r = read_small_file(path, &text, NULL);
        if (r < 0)
                return aid_error_set(
                                err, r == -ENOENT ? -ESRCH : r, "cannot read %s: %s", path, strerror(-r));
        line = strstr(text, "\nUid:");
        if (!line || sscanf(line + 5, "%lu %lu", &real, &effective) != 2)
                return aid_error_set(err, -EBADMSG, "%s has no Uid: line", path);
        *ret = (uid_t)effective;
        return 0;
}

/* The unified hierarchy's line ("0::/path"); on a hybrid system, the name=systemd one. */
static int read_cgroup(const char *proc, pid_t pid, char **ret, struct aid_error *err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        const char *found = NULL;
        int r;

        if (asprintf(&path, "%s/%d/cgroup", proc, (int)pid) < 0)
                return -ENOMEM;
        r = read_small_file(path, &text, NULL);
        if (r < 0)
                return aid_error_set(
                                err, r == -ENOENT ? -ESRCH : r, "cannot read %s: %s", path, strerror(-r));
        for (char *line = text; line && *line;) {
                char *eol = strchr(line, '\n');
                if (eol)
                        *eol = '\0';
                if (strncmp(line, "0::", 3) == 0)
                        found = line + 3;
                else if (!found && strncmp(line, "1:name=systemd:", 15) == 0)
                        found = line + 15;
                line = eol ? eol + 1 : NULL;
        }
        *ret = strdup(found ? found : "");
        return *ret ? 0 : -ENOMEM;
}

/* 0 and the app id for a Flatpak, -ENOENT for a process outside Flatpak. */
static int read_flatpak(const char *proc, pid_t pid, char **ret_app_id, struct aid_error *err)
{
        _cleanup_free_ char *path = NULL, *contents = NULL;
        size_t length;
        int r;

        if (asprintf(&path, "%s/%d/root/.flatpak-info", proc, (int)pid) < 0)
                return -ENOMEM;
        r = read_small_file(path, &contents, &length);
        if (r == -ENOENT || r == -ENOTDIR)
                return -ENOENT;
        if (r == -EACCES || r == -EPERM)
                /* Another user's process, whose root only CAP_SYS_PTRACE may look into
                 * (system mode runs without): the caller decides from the cgroup. */
                return aid_error_set(err, -EACCES,
                                "cannot look into process %d (another user's, and aid holds no "
                                "CAP_SYS_PTRACE): %s",
                                (int)pid, strerror(-r));
        if (r < 0)
                /* Not knowing whether the caller is a Flatpak must not make it a host app: a
                 * process can hide its /proc entries (PR_SET_DUMPABLE). */
                return aid_error_set(err, r, "cannot read %s: %s", path, strerror(-r));
        r = aid_identity_parse_flatpak_info(contents, length, ret_app_id);
        if (r < 0)
                return aid_error_set(err, r == -ENOENT ? -EBADMSG : r,
                                "%s has no valid [Application] name=", path);
        return 0;
}

static int read_exe(const char *proc, pid_t pid, char **ret, struct aid_error *err)
{
        _cleanup_free_ char *path = NULL;
        char buf[PATH_MAX];
        ssize_t n;

        if (asprintf(&path, "%s/%d/exe", proc, (int)pid) < 0)
                return -ENOMEM;
        n = readlink(path, buf, sizeof(buf) - 1);
        if (n < 0)
                return aid_error_set(err, errno == ENOENT ? -ESRCH : -errno, "cannot read %s: %s", path,
                                strerror(errno));
        buf[n] = '\0';
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

/* A snap's processes run under the AppArmor profile snap.<name>.<app>, which only snapd
 * loads; a host process that merely sits in a snap-named scope has another label. */
static bool snap_label_confirms(const char *proc, pid_t pid, const char *name)
{
        static const char *const files[] = { "attr/apparmor/current", "attr/current" };

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *path = NULL, *label = NULL, *prefix = NULL;

                if (asprintf(&path, "%s/%d/%s", proc, (int)pid, files[i]) < 0)
                        return false;
                if (read_small_file(path, &label, NULL) < 0)
                        continue;
                if (asprintf(&prefix, "snap.%s.", name) < 0)
                        return false;
                return strncmp(label, prefix, strlen(prefix)) == 0;
        }
        return false;
}

int aid_identity_from_pid(
                const char *proc, pid_t pid, uid_t uid, struct aid_identity **ret, struct aid_error *err)
{
        _cleanup_(aid_identity_freep) struct aid_identity *id = NULL;
        _cleanup_free_ char *cgroup = NULL, *flatpak_id = NULL, *unit_app_id = NULL;
        enum aid_identity_kind unit_kind = AID_IDENTITY_EXECUTABLE;
        uint64_t start_after;
        uid_t euid = 0;
        int r;

        if (pid <= 0)
                return aid_error_set(err, -ESRCH, "the bus did not say which process is calling");

        id = calloc(1, sizeof(*id));
        if (!id)
                return -ENOMEM;
        id->pid = pid;
        id->uid = uid;

        r = read_start_time(proc, pid, &id->start_time, err);
        if (r < 0)
                return r;
        r = read_euid(proc, pid, &euid, err);
        if (r < 0)
                return r;
        if (euid != uid)
                return aid_error_set(err, -ESRCH,
                                "process %d runs as uid %u, but the bus connection belongs to uid %u",
                                (int)pid, (unsigned)euid, (unsigned)uid);
        r = read_cgroup(proc, pid, &cgroup, err);
        if (r < 0)
                return r;
        r = aid_identity_parse_cgroup(cgroup, &id->unit, &unit_kind, &unit_app_id);
        if (r < 0 && r != -ENOENT)
                return r;
        r = read_flatpak(proc, pid, &flatpak_id, err);
        if (r == -EACCES && unit_app_id) {
                /* What the cgroup says, which anyone may read: Flatpak runs every app in an
                 * app-flatpak-ID-N.scope, which a sandboxed process can neither leave nor make;
                 * any other app scope holds a host process (of this user, who could run the
                 * Flatpak itself). */
                if (strncmp(id->unit, "app-flatpak-", strlen("app-flatpak-")) == 0 &&
                                has_suffix(id->unit, strlen(id->unit), ".scope"))
                        unit_kind = AID_IDENTITY_FLATPAK;
        } else if (r < 0 && r != -ENOENT)
                return r;
        /* The executable is not needed when the sandbox or the unit names the app, and the
         * kernel hides it from us for some processes of the same user. */
        r = read_exe(proc, pid, &id->exe, err);
        if (r < 0 && !flatpak_id && !unit_app_id)
                return r;

        if (flatpak_id) {
                id->kind = AID_IDENTITY_FLATPAK;
                id->app_id = TAKE_PTR(flatpak_id);
                id->sandboxed = true;
        } else if (unit_app_id) {
                id->kind = unit_kind;
                id->sandboxed = unit_kind == AID_IDENTITY_FLATPAK ||
                                (unit_kind == AID_IDENTITY_SNAP &&
                                                snap_label_confirms(proc, pid, unit_app_id));
                id->app_id = TAKE_PTR(unit_app_id);
        } else {
                id->kind = AID_IDENTITY_EXECUTABLE;
                id->app_id = strdup(id->exe);
                if (!id->app_id)
                        return -ENOMEM;
        }

        /* Everything above described the process that had this start time: if the pid now
         * belongs to another one, none of it can be trusted. */
        r = read_start_time(proc, pid, &start_after, err);
        if (r < 0)
                return r;
        if (start_after != id->start_time)
                return aid_error_set(
                                err, -ESRCH, "process %d was replaced while aid looked at it", (int)pid);

        if (err)
                *err = (struct aid_error){};
        *ret = TAKE_PTR(id);
        return 0;
}
