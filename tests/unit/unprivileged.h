/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of what an unreadable file does prove nothing as root, who reads everything. Run as
 * root, such a test hands its folder to "nobody" and becomes nobody for the rest of its own
 * process (criterion forks one process per test, so no other test is affected). */
#pragma once

#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <sys/types.h>
#include <unistd.h>

static uid_t unprivileged_uid;
static gid_t unprivileged_gid;

static int unprivileged_chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st, (void)flag, (void)ftw;
        return lchown(path, unprivileged_uid, unprivileged_gid) < 0 ? -errno : 0;
}

/* Returns 0 when the process is not root (any more), else a negative errno: the caller skips
 * the test, naming the reason. */
static inline int become_unprivileged(const char *tree)
{
        const struct passwd *pw;

        if (geteuid() != 0)
                return 0;
        pw = getpwnam("nobody");
        unprivileged_uid = pw ? pw->pw_uid : 65534;
        unprivileged_gid = pw ? pw->pw_gid : 65534;
        if (nftw(tree, unprivileged_chown_one, 16, FTW_PHYS) != 0)
                return errno ? -errno : -EPERM;
        if (setgroups(0, NULL) < 0 || setresgid(unprivileged_gid, unprivileged_gid, unprivileged_gid) < 0 ||
                        setresuid(unprivileged_uid, unprivileged_uid, unprivileged_uid) < 0)
                return -errno;
        return geteuid() == 0 ? -EPERM : 0;
}
