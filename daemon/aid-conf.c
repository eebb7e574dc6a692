/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "aid-conf.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <string.h>

#include "config.h"

const char *aid_bus_mode_to_string(enum aid_bus_mode m)
{
        switch (m) {
        case AID_BUS_USER:
                return "user";
        case AID_BUS_SYSTEM:
                return "system";
        case AID_BUS_ADDRESS:
                return "address";
        }
        return "unknown";
}

static const char *home_dir(void)
{
        /* g_get_home_dir() falls back to the passwd entry; tests set $HOME to steer it. */
        const char *h = g_getenv("HOME");
        return h && h[0] == '/' ? h : g_get_home_dir();
}

/* $XDG_..._HOME when it is absolute (the spec says to ignore relative values), else
 * ~/fallback. */
static char *xdg_dir(const char *variable, const char *fallback)
{
        const char *v = g_getenv(variable);

        if (v && v[0] == '/')
                return g_strdup(v);
        return g_build_filename(home_dir(), fallback, NULL);
}

static void strv_builder_take(GStrvBuilder *b, char *s)
{
        g_strv_builder_add(b, s);
        g_free(s);
}

char **aid_conf_default_files(enum aid_bus_mode mode)
{
        GStrvBuilder *b = g_strv_builder_new();
        char **files;

        strv_builder_take(b, g_build_filename(AID_SYSCONFDIR, "aid", "aid.conf", NULL));
        if (mode != AID_BUS_SYSTEM) {
                g_autofree char *config_home = xdg_dir("XDG_CONFIG_HOME", ".config");
                strv_builder_take(b, g_build_filename(config_home, "aid", "aid.conf", NULL));
        }
        files = g_strv_builder_end(b);
        g_strv_builder_unref(b);
        return files;
}

static void defaults(enum aid_bus_mode mode, struct aid_conf *c)
{
        GStrvBuilder *b = g_strv_builder_new();

        *c = (struct aid_conf){
                .idle_unload_sec = AID_CONF_IDLE_UNLOAD_SEC_DEFAULT,
                .text = {
                        .max_sequences = AID_CONF_TEXT_MAX_SEQUENCES_DEFAULT,
                        .prefill_chunk = AID_CONF_TEXT_PREFILL_CHUNK_DEFAULT,
                        .prefill_step_msec = AID_CONF_TEXT_PREFILL_STEP_MSEC_DEFAULT,
                },
        };
        if (mode == AID_BUS_SYSTEM) {
                g_strv_builder_add(b, "/var/lib/aid/models");
                strv_builder_take(b, g_build_filename(AID_DATADIR, "aid", "models", NULL));
                c->registry.scan_user_stores = false;
        } else {
                g_autofree char *data_home = xdg_dir("XDG_DATA_HOME", ".local/share");
                strv_builder_take(b, g_build_filename(data_home, "aid", "models", NULL));
                strv_builder_take(b, g_build_filename(AID_DATADIR, "aid", "models", NULL));
                g_strv_builder_add(b, "/var/lib/aid/models");
                c->registry.scan_user_stores = true;
        }
        c->registry.model_dirs = g_strv_builder_end(b);
        g_strv_builder_unref(b);
}

void aid_conf_clear(struct aid_conf *c)
{
        if (!c)
                return;
        g_strfreev(c->registry.model_dirs);
        g_free(c->registry.default_text);
        g_free(c->registry.default_vision);
        g_free(c->registry.default_speech);
        g_strfreev(c->warnings);
        g_strfreev(c->policy_dirs);
        *c = (struct aid_conf){};
}

/* GKeyFile's parse errors do not say where; find the first line at which the file stops
 * parsing by loading ever longer prefixes (configuration files are a few lines long). */
static unsigned error_line(const char *contents, size_t length)
{
        unsigned line = 0;

        for (size_t end = 0; end <= length; end++) {
                if (end < length && contents[end] != '\n')
                        continue;
                line++;
                g_autoptr(GKeyFile) k = g_key_file_new();
                if (!g_key_file_load_from_data(k, contents, end, G_KEY_FILE_NONE, NULL))
                        return line;
        }
        return 0;
}

static const char *const known_models_keys[] = {
        "Directories",
        "ScanUserStores",
        "DefaultText",
        "DefaultVision",
        "DefaultSpeech",
        NULL,
};
static const char *const known_daemon_keys[] = { "IdleUnloadSec", NULL };
static const char *const known_policy_keys[] = { "Directories", NULL };
static const char *const known_text_keys[] = { "Threads", "ContextSize", "MaxSequences", "PrefillChunk",
        "PrefillStepMSec", NULL };

static int invalid(struct aid_error *err, const char *file, const char *group, const char *key,
                const char *what)
{
        return aid_error_set(err, -EINVAL, "%s: [%s] %s=: %s", file, group, key, what);
}

/* Replaces *target with the string value of group/key if the file has it; an empty value
 * means "unset" (so a user file can drop a default model chosen in /etc). */
static void take_string(GKeyFile *k, const char *group, const char *key, char **target)
{
        g_autofree char *v = g_key_file_get_string(k, group, key, NULL);

        if (!v)
                return;
        g_strstrip(v);
        g_free(*target);
        *target = v[0] ? g_steal_pointer(&v) : NULL;
}

static int apply_directories(GKeyFile *k, enum aid_bus_mode mode, const char *file, struct aid_conf *c,
                struct aid_error *err)
{
        g_auto(GStrv) list = NULL;
        GStrvBuilder *b;

        list = g_key_file_get_string_list(k, "Models", "Directories", NULL, NULL);
        if (!list)
                /* "Directories=" is an empty list: only the other tools' stores, if any. */
                list = g_new0(char *, 1);

        b = g_strv_builder_new();
        for (size_t i = 0; list[i]; i++) {
                g_autofree char *path = g_strstrip(g_strdup(list[i]));

                if (path[0] == '\0')
                        continue;
                if (mode != AID_BUS_SYSTEM && g_str_has_prefix(path, "~/")) {
                        char *expanded = g_build_filename(home_dir(), path + 2, NULL);
                        g_free(path);
                        path = expanded;
                }
                if (!g_path_is_absolute(path)) {
                        g_strv_builder_unref(b);
                        return invalid(err, file, "Models", "Directories",
                                        mode == AID_BUS_SYSTEM && path[0] == '~'
                                                        ? "'~/' is only expanded in user mode; use an "
                                                          "absolute path"
                                                        : "every directory must be an absolute path (or "
                                                          "start with '~/')");
                }
                g_strv_builder_add(b, path);
        }
        g_strfreev(c->registry.model_dirs);
        c->registry.model_dirs = g_strv_builder_end(b);
        g_strv_builder_unref(b);
        return 0;
}

static void warn(GPtrArray *warnings, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void warn(GPtrArray *warnings, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        g_ptr_array_add(warnings, g_strdup_vprintf(fmt, ap));
        va_end(ap);
}

static void check_unknown(GKeyFile *k, const char *file, GPtrArray *warnings)
{
        g_auto(GStrv) groups = g_key_file_get_groups(k, NULL);

        for (size_t g = 0; groups[g]; g++) {
                const char *const *known = NULL;

                if (strcmp(groups[g], "Models") == 0)
                        known = known_models_keys;
                else if (strcmp(groups[g], "Daemon") == 0)
                        known = known_daemon_keys;
                else if (strcmp(groups[g], "Policy") == 0)
                        known = known_policy_keys;
                else if (strcmp(groups[g], "Text") == 0)
                        known = known_text_keys;
                else {
                        warn(warnings, "%s: unknown group [%s], ignored", file, groups[g]);
                        continue;
                }

                g_auto(GStrv) keys = g_key_file_get_keys(k, groups[g], NULL, NULL);
                for (size_t i = 0; keys && keys[i]; i++)
                        if (!g_strv_contains(known, keys[i]))
                                warn(warnings, "%s: unknown key %s= in [%s], ignored", file, keys[i],
                                                groups[g]);
        }
}

/* A [Text] count: a decimal number in [min, max]. */
static int take_count(GKeyFile *k, const char *file, const char *key, uint32_t min, uint32_t max,
                uint32_t *target, struct aid_error *err)
{
        g_autofree char *v = NULL;
        g_autofree char *what = NULL;
        guint64 n;

        if (!g_key_file_has_key(k, "Text", key, NULL))
                return 0;
        v = g_key_file_get_string(k, "Text", key, NULL);
        if (!v || !g_ascii_string_to_unsigned(g_strstrip(v), 10, min, max, &n, NULL)) {
                what = g_strdup_printf("not a number from %" PRIu32 " to %" PRIu32, min, max);
                return invalid(err, file, "Text", key, what);
        }
        *target = (uint32_t)n;
        return 0;
}

static int apply_text(GKeyFile *k, const char *file, struct aid_conf *c, struct aid_error *err)
{
        int r;

        /* The bounds keep a typo from asking for a million threads or a context no model has;
         * 1048576 tokens is beyond every published model's context. */
        r = take_count(k, file, "Threads", 0, 1024, &c->text.threads, err);
        if (r >= 0)
                r = take_count(k, file, "ContextSize", 0, 1048576, &c->text.context_size, err);
        if (r >= 0)
                r = take_count(k, file, "MaxSequences", 1, 1024, &c->text.max_sequences, err);
        if (r >= 0)
                r = take_count(k, file, "PrefillChunk", 1, 65536, &c->text.prefill_chunk, err);
        if (r >= 0)
                r = take_count(k, file, "PrefillStepMSec", 0, 60000, &c->text.prefill_step_msec, err);
        return r;
}

static int apply_file(GKeyFile *k, enum aid_bus_mode mode, const char *file, struct aid_conf *c,
                GPtrArray *warnings, struct aid_error *err)
{
        int r;

        check_unknown(k, file, warnings);

        if (g_key_file_has_key(k, "Models", "Directories", NULL)) {
                r = apply_directories(k, mode, file, c, err);
                if (r < 0)
                        return r;
        }

        if (g_key_file_has_key(k, "Models", "ScanUserStores", NULL)) {
                g_autoptr(GError) e = NULL;
                gboolean b = g_key_file_get_boolean(k, "Models", "ScanUserStores", &e);
                if (e)
                        return invalid(err, file, "Models", "ScanUserStores",
                                        "not a boolean (use true or false)");
                c->registry.scan_user_stores = b;
        }

        take_string(k, "Models", "DefaultText", &c->registry.default_text);
        take_string(k, "Models", "DefaultVision", &c->registry.default_vision);
        take_string(k, "Models", "DefaultSpeech", &c->registry.default_speech);

        if (g_key_file_has_key(k, "Policy", "Directories", NULL)) {
                /* Replaces the default list (tests and unusual setups); every entry absolute,
                 * since a relative one would depend on the daemon's working directory. */
                g_auto(GStrv) list = g_key_file_get_string_list(k, "Policy", "Directories", NULL, NULL);
                GStrvBuilder *b = g_strv_builder_new();

                for (size_t i = 0; list && list[i]; i++) {
                        g_autofree char *path = g_strstrip(g_strdup(list[i]));
                        if (path[0] == '\0')
                                continue;
                        if (!g_path_is_absolute(path)) {
                                g_strv_builder_unref(b);
                                return invalid(err, file, "Policy", "Directories",
                                                "every directory must be an absolute path");
                        }
                        g_strv_builder_add(b, path);
                }
                g_strfreev(c->policy_dirs);
                c->policy_dirs = g_strv_builder_end(b);
                g_strv_builder_unref(b);
        }

        if (g_key_file_has_key(k, "Daemon", "IdleUnloadSec", NULL)) {
                g_autofree char *v = g_key_file_get_string(k, "Daemon", "IdleUnloadSec", NULL);
                guint64 n;

                if (!v || !g_ascii_string_to_unsigned(g_strstrip(v), 10, 0, G_MAXUINT32, &n, NULL))
                        return invalid(err, file, "Daemon", "IdleUnloadSec",
                                        "not a number of seconds (0 or a positive integer)");
                c->idle_unload_sec = n;
        }
        return apply_text(k, file, c, err);
}

static int load_one(const char *file, bool must_exist, GKeyFile **ret, struct aid_error *err)
{
        g_autoptr(GError) e = NULL;
        g_autofree char *contents = NULL;
        g_autoptr(GKeyFile) k = NULL;
        gsize length;

        if (!g_file_get_contents(file, &contents, &length, &e)) {
                if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT) && !must_exist) {
                        *ret = NULL;
                        return 0;
                }
                return aid_error_set(err,
                                g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? -ENOENT : -EIO, "%s",
                                e->message);
        }

        k = g_key_file_new();
        if (!g_key_file_load_from_data(k, contents, length, G_KEY_FILE_NONE, &e)) {
                unsigned line = error_line(contents, length);
                if (line > 0)
                        return aid_error_set(err, -EBADMSG, "%s:%u: %s", file, line, e->message);
                return aid_error_set(err, -EBADMSG, "%s: %s", file, e->message);
        }
        *ret = g_steal_pointer(&k);
        return 0;
}

int aid_conf_load_files(enum aid_bus_mode mode, const char *const *files, bool must_exist,
                struct aid_conf *ret, struct aid_error *err)
{
        g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
        struct aid_conf c;
        int r;

        defaults(mode, &c);
        for (size_t i = 0; files && files[i]; i++) {
                g_autoptr(GKeyFile) k = NULL;

                r = load_one(files[i], must_exist, &k, err);
                if (r >= 0 && k)
                        r = apply_file(k, mode, files[i], &c, warnings, err);
                if (r < 0) {
                        aid_conf_clear(&c);
                        return r;
                }
        }

        if (warnings->len > 0) {
                g_ptr_array_add(warnings, NULL);
                c.warnings = (char **)g_ptr_array_steal(warnings, NULL);
        }
        *ret = c;
        return 0;
}

int aid_conf_load(enum aid_bus_mode mode, const char *explicit_path, struct aid_conf *ret,
                struct aid_error *err)
{
        if (explicit_path) {
                const char *const files[] = { explicit_path, NULL };
                return aid_conf_load_files(mode, files, true, ret, err);
        }

        g_auto(GStrv) files = aid_conf_default_files(mode);
        return aid_conf_load_files(mode, (const char *const *)files, false, ret, err);
}
