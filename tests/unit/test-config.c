/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aid.conf: defaults per mode, the order files override each other, '~/' expansion, and the
 * errors a person sees for a broken file. */

/* aid's macro.h first: GLib then replaces its MIN/MAX with equivalent ones instead of
 * macro.h redefining GLib's. */
#include "aid-conf.h"
#include "config.h"

#include <criterion/criterion.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

static char *tmpdir;

static void setup(void)
{
        tmpdir = g_dir_make_tmp("aid-test-config-XXXXXX", NULL);
        cr_assert(tmpdir);
        g_setenv("HOME", "/home/tester", true);
        g_unsetenv("XDG_DATA_HOME");
        g_unsetenv("XDG_CONFIG_HOME");
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

static void teardown(void)
{
        remove_tree(tmpdir);
        g_free(tmpdir);
}

TestSuite(config, .init = setup, .fini = teardown);

static char *write_file(const char *name, const char *contents)
{
        char *path = g_build_filename(tmpdir, name, NULL);
        g_autofree char *parent = g_path_get_dirname(path);

        cr_assert_eq(g_mkdir_with_parents(parent, 0755), 0);
        cr_assert(g_file_set_contents(path, contents, -1, NULL));
        return path;
}

static void load_ok(enum aid_bus_mode mode, const char *const *files, struct aid_conf *ret)
{
        struct aid_error err = {};
        int r = aid_conf_load_files(mode, files, true, ret, &err);

        cr_assert_eq(r, 0, "loading failed: %s", err.message);
}

static int load_fail(const char *contents, struct aid_error *err)
{
        g_autofree char *path = write_file("aid.conf", contents);
        const char *const files[] = { path, NULL };
        struct aid_conf c = { .idle_unload_sec = 4242 };
        int r = aid_conf_load_files(AID_BUS_USER, files, true, &c, err);

        cr_assert_lt(r, 0, "'%s' was accepted", contents);
        cr_assert_eq(c.idle_unload_sec, 4242, "the output was touched on failure");
        cr_assert(strstr(err->message, path), "the error does not name the file: %s", err->message);
        return r;
}

Test(config, user_defaults)
{
        g_autofree char *datadir_models = g_build_filename(AID_DATADIR, "aid", "models", NULL);
        struct aid_conf c;

        load_ok(AID_BUS_USER, NULL, &c);
        cr_assert(c.registry.model_dirs);
        cr_assert_str_eq(c.registry.model_dirs[0], "/home/tester/.local/share/aid/models");
        cr_assert_str_eq(c.registry.model_dirs[1], datadir_models);
        cr_assert_str_eq(c.registry.model_dirs[2], "/var/lib/aid/models");
        cr_assert_null(c.registry.model_dirs[3]);
        cr_assert(c.registry.scan_user_stores);
        cr_assert_null(c.registry.default_text);
        cr_assert_null(c.registry.default_vision);
        cr_assert_null(c.registry.default_speech);
        cr_assert_eq(c.idle_unload_sec, 300);
        cr_assert_null(c.warnings);
        aid_conf_clear(&c);
}

Test(config, user_defaults_follow_xdg_data_home)
{
        struct aid_conf c;

        g_setenv("XDG_DATA_HOME", "/data/tester", true);
        load_ok(AID_BUS_ADDRESS, NULL, &c);
        cr_assert_str_eq(c.registry.model_dirs[0], "/data/tester/aid/models");
        cr_assert(c.registry.scan_user_stores);
        aid_conf_clear(&c);
}

Test(config, system_defaults)
{
        g_autofree char *datadir_models = g_build_filename(AID_DATADIR, "aid", "models", NULL);
        struct aid_conf c;

        load_ok(AID_BUS_SYSTEM, NULL, &c);
        cr_assert_str_eq(c.registry.model_dirs[0], "/var/lib/aid/models");
        cr_assert_str_eq(c.registry.model_dirs[1], datadir_models);
        cr_assert_null(c.registry.model_dirs[2]);
        cr_assert_not(c.registry.scan_user_stores);
        cr_assert_eq(c.idle_unload_sec, 300);
        aid_conf_clear(&c);
}

Test(config, default_files_per_mode)
{
        g_autofree char *etc = g_build_filename(AID_SYSCONFDIR, "aid", "aid.conf", NULL);
        g_auto(GStrv) system = aid_conf_default_files(AID_BUS_SYSTEM);
        g_auto(GStrv) user = NULL;

        cr_assert_str_eq(system[0], etc);
        cr_assert_null(system[1]);

        user = aid_conf_default_files(AID_BUS_USER);
        cr_assert_str_eq(user[0], etc);
        cr_assert_str_eq(user[1], "/home/tester/.config/aid/aid.conf");
        cr_assert_null(user[2]);

        g_strfreev(user);
        g_setenv("XDG_CONFIG_HOME", "/cfg", true);
        user = aid_conf_default_files(AID_BUS_USER);
        cr_assert_str_eq(user[1], "/cfg/aid/aid.conf");
}

Test(config, later_files_override_earlier_ones)
{
        g_autofree char *etc = write_file("etc/aid.conf", "[Models]\n"
                                                          "Directories=/srv/models;/opt/models\n"
                                                          "DefaultText=llama\n"
                                                          "DefaultSpeech=whisper\n"
                                                          "[Daemon]\n"
                                                          "IdleUnloadSec=60\n");
        g_autofree char *user = write_file("user/aid.conf", "[Models]\n"
                                                            "DefaultText=gemma\n"
                                                            "DefaultSpeech=\n"
                                                            "ScanUserStores=false\n");
        const char *const files[] = { etc, user, NULL };
        struct aid_conf c;

        load_ok(AID_BUS_USER, files, &c);
        /* Keys the user file does not set keep the system file's values. */
        cr_assert_str_eq(c.registry.model_dirs[0], "/srv/models");
        cr_assert_str_eq(c.registry.model_dirs[1], "/opt/models");
        cr_assert_null(c.registry.model_dirs[2]);
        cr_assert_eq(c.idle_unload_sec, 60);
        /* Keys it sets win; an empty value unsets. */
        cr_assert_str_eq(c.registry.default_text, "gemma");
        cr_assert_null(c.registry.default_speech);
        cr_assert_not(c.registry.scan_user_stores);
        aid_conf_clear(&c);
}

Test(config, missing_default_file_is_fine_missing_explicit_file_is_not)
{
        g_autofree char *missing = g_build_filename(tmpdir, "nope.conf", NULL);
        const char *const files[] = { missing, NULL };
        struct aid_error err = {};
        struct aid_conf c;

        cr_assert_eq(aid_conf_load_files(AID_BUS_USER, files, false, &c, &err), 0);
        cr_assert_eq(c.idle_unload_sec, 300);
        aid_conf_clear(&c);

        cr_assert_eq(aid_conf_load(AID_BUS_USER, missing, &c, &err), -ENOENT);
        cr_assert(strstr(err.message, missing), "%s", err.message);
}

Test(config, tilde_expands_in_user_mode)
{
        g_autofree char *path = write_file("aid.conf", "[Models]\nDirectories=~/models;/abs\n");
        const char *const files[] = { path, NULL };
        struct aid_error err = {};
        struct aid_conf c;

        load_ok(AID_BUS_USER, files, &c);
        cr_assert_str_eq(c.registry.model_dirs[0], "/home/tester/models");
        cr_assert_str_eq(c.registry.model_dirs[1], "/abs");
        aid_conf_clear(&c);

        /* The system daemon has no home to expand it to. */
        cr_assert_lt(aid_conf_load_files(AID_BUS_SYSTEM, files, true, &c, &err), 0);
        cr_assert(strstr(err.message, "Directories"), "%s", err.message);
        cr_assert(strstr(err.message, "user mode"), "%s", err.message);
}

Test(config, relative_directory_is_an_error)
{
        struct aid_error err = {};

        load_fail("[Models]\nDirectories=models\n", &err);
        cr_assert(strstr(err.message, "[Models] Directories="), "%s", err.message);
}

Test(config, malformed_file_names_the_line)
{
        struct aid_error err = {};

        cr_assert_eq(load_fail("[Models]\n# fine\nDefaultText=x\nthis is not a key\n", &err), -EBADMSG);
        cr_assert(strstr(err.message, "aid.conf:4:"), "no line number: %s", err.message);

        load_fail("DefaultText=x\n", &err);
        cr_assert(strstr(err.message, "aid.conf:1:"), "no line number: %s", err.message);
}

Test(config, invalid_idle_unload_sec_names_the_key)
{
        static const char *const bad[] = { "soon", "-5", "", "12x", "99999999999999999999" };

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autofree char *contents = g_strdup_printf("[Daemon]\nIdleUnloadSec=%s\n", bad[i]);
                struct aid_error err = {};

                cr_assert_eq(load_fail(contents, &err), -EINVAL);
                cr_assert(strstr(err.message, "[Daemon] IdleUnloadSec="), "%s", err.message);
        }
}

Test(config, idle_unload_sec_zero_means_never)
{
        g_autofree char *path = write_file("aid.conf", "[Daemon]\nIdleUnloadSec=0\n");
        const char *const files[] = { path, NULL };
        struct aid_conf c;

        load_ok(AID_BUS_USER, files, &c);
        cr_assert_eq(c.idle_unload_sec, 0);
        aid_conf_clear(&c);
}

Test(config, invalid_boolean_names_the_key)
{
        struct aid_error err = {};

        load_fail("[Models]\nScanUserStores=maybe\n", &err);
        cr_assert(strstr(err.message, "[Models] ScanUserStores="), "%s", err.message);
}

Test(config, unknown_keys_and_groups_are_warnings)
{
        g_autofree char *path = write_file("aid.conf", "[Models]\n"
                                                       "DefaultText=llama\n"
                                                       "Colour=blue\n"
                                                       "[Frobnicator]\n"
                                                       "Level=11\n");
        const char *const files[] = { path, NULL };
        struct aid_conf c;

        load_ok(AID_BUS_USER, files, &c);
        cr_assert_str_eq(c.registry.default_text, "llama");
        cr_assert(c.warnings);
        cr_assert(c.warnings[0] && strstr(c.warnings[0], "Colour"), "%s", c.warnings[0]);
        cr_assert(c.warnings[1] && strstr(c.warnings[1], "[Frobnicator]"), "%s", c.warnings[1]);
        cr_assert_null(c.warnings[2]);
        aid_conf_clear(&c);
}

Test(config, text_worker_defaults_and_overrides)
{
        g_autofree char *etc = write_file("etc/aid.conf", "[Text]\n"
                                                          "Threads=2\n"
                                                          "ContextSize=2048\n");
        g_autofree char *user = write_file("user/aid.conf", "[Text]\n"
                                                            "MaxSequences=4\n"
                                                            "PrefillChunk= 64 \n"
                                                            "PrefillStepMSec=0\n");
        const char *const files[] = { etc, user, NULL };
        struct aid_conf c;

        load_ok(AID_BUS_USER, NULL, &c);
        cr_assert_eq(c.text.threads, 0, "every core unless configured");
        cr_assert_eq(c.text.context_size, 0, "the model's context unless configured");
        cr_assert_eq(c.text.max_sequences, 16);
        cr_assert_eq(c.text.prefill_chunk, 128);
        cr_assert_eq(c.text.prefill_step_msec, 50);
        aid_conf_clear(&c);

        load_ok(AID_BUS_USER, files, &c);
        cr_assert_eq(c.text.threads, 2);
        cr_assert_eq(c.text.context_size, 2048);
        cr_assert_eq(c.text.max_sequences, 4);
        cr_assert_eq(c.text.prefill_chunk, 64);
        cr_assert_eq(c.text.prefill_step_msec, 0, "0 turns the step limit off");
        cr_assert_null(c.warnings, "[Text] keys were reported as unknown: %s",
                        c.warnings ? c.warnings[0] : "");
        aid_conf_clear(&c);
}

Test(config, invalid_text_values_name_the_key)
{
        static const char *const cases[][2] = {
                { "[Text]\nThreads=many\n", "Threads" },
                { "[Text]\nContextSize=-1\n", "ContextSize" },
                { "[Text]\nMaxSequences=0\n", "MaxSequences" },
                { "[Text]\nPrefillChunk=0\n", "PrefillChunk" },
                { "[Text]\nPrefillStepMSec=soon\n", "PrefillStepMSec" },
                { "[Text]\nPrefillStepMSec=3600000\n", "PrefillStepMSec" },
                { "[Text]\nThreads=100000\n", "Threads" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                struct aid_error err = {};

                load_fail(cases[i][0], &err);
                cr_assert(strstr(err.message, cases[i][1]), "'%s': the error does not name the key: %s",
                                cases[i][0], err.message);
                cr_assert(strstr(err.message, "[Text]"), "%s", err.message);
        }
}
