/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The integration tests' world: a private dbus-daemon in a temporary directory and the real
 * aid (the binary built in this tree, $AID_DAEMON) on it, with a temporary aid.conf and models
 * folder. Real clients (aidctl, busctl, gdbus) are run against it with testbus_run(). Every
 * failure to set up is a criterion assertion with the reason. */

#include <glib.h>
#include <stdbool.h>

struct testbus {
        char *dir;         /* temporary directory, removed by testbus_teardown() */
        char *address;     /* the private bus's address */
        char *models_dir;  /* <dir>/models: put model files here before testbus_start_aid() */
        char *config_path; /* <dir>/aid.conf */
        GPid dbus_pid;
        GPid aid_pid;  /* 0 when aid is not running */
        char *aid_log; /* <dir>/aid.log: aid's stderr */
        /* A command that runs aid (its arguments follow), NULL-terminated; NULL: aid itself. */
        const char *const *aid_wrapper;
};

/* Creates the directory and starts the private dbus-daemon. */
void testbus_setup(struct testbus *tb);

/* Writes aid.conf ([Models] Directories=<models_dir>, ScanUserStores=false, then extra_conf
 * appended verbatim; extra_conf may be NULL), starts aid --bus-address=<address>
 * --config=<config_path>, and waits until it owns org.aid.Daemon1 (asserts within 20 s). */
void testbus_start_aid(struct testbus *tb, const char *extra_conf);

/* Waits up to timeout_usec for aid to end by itself; returns its status (as from waitpid), or
 * -1 when it still runs. */
int testbus_wait_aid_exit(struct testbus *tb, gint64 timeout_usec);

/* Sends SIGTERM to aid and waits for it; returns its exit status (as from waitpid). */
int testbus_stop_aid(struct testbus *tb);

/* true when aid is still running (not exited, not crashed). */
bool testbus_aid_alive(struct testbus *tb);

/* Stops aid and the bus, removes the directory. */
void testbus_teardown(struct testbus *tb);

/* Runs a command (argv, NULL-terminated) with DBUS_SESSION_BUS_ADDRESS and
 * DBUS_SYSTEM_BUS_ADDRESS pointing at the private bus; its stdout and stderr are returned
 * (g_free them; either pointer may be NULL) and the exit code (0..255, or 128+signal) is the
 * return value. Times out after 60 s (assertion). */
int testbus_run(struct testbus *tb, char **ret_stdout, char **ret_stderr, const char *const *argv);

/* Copies the fixture file <fixtures>/<relpath> into models_dir (as name, or its basename when
 * name is NULL). Skips the calling test with a clear message if the fixtures folder is absent,
 * tearing tb down first (criterion runs no .fini after a skip). */
void testbus_add_fixture_model(struct testbus *tb, const char *relpath, const char *name);

/* The fixtures folder ($AID_FIXTURES) when it exists, else NULL. */
const char *testbus_fixtures(void);
