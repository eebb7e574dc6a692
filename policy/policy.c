/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "policy.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

/* A policy file is a few dozen lines; a larger one is a mistake, not a policy. */
#define POLICY_FILE_MAX (1024 * 1024)
#define LIMIT_VALUE_MAX UINT32_MAX

static const char *const capability_names[AID_CAP_MAX] = {
        [AID_CAP_TEXT] = "text",
        [AID_CAP_VISION] = "vision",
        [AID_CAP_TRANSCRIBE_FILE] = "transcribe-file",
        [AID_CAP_LIVE_MICROPHONE] = "live-microphone",
        [AID_CAP_LIVE_SYSTEM_AUDIO] = "live-system-audio",
};

static const char *const limit_names[AID_LIMIT_MAX] = {
        [AID_LIMIT_REQUESTS_PER_MINUTE] = "RequestsPerMinute",
        [AID_LIMIT_MAX_TOKENS] = "MaxTokens",
        [AID_LIMIT_MAX_CONCURRENT] = "MaxConcurrent",
        [AID_LIMIT_RATE_WINDOW_SEC] = "RateLimitWindowSec",
};

static const char *const limit_bus_keys[AID_LIMIT_MAX] = {
        [AID_LIMIT_REQUESTS_PER_MINUTE] = "requests_per_minute",
        [AID_LIMIT_MAX_TOKENS] = "max_tokens",
        [AID_LIMIT_MAX_CONCURRENT] = "max_concurrent",
        [AID_LIMIT_RATE_WINDOW_SEC] = "rate_window_sec",
};

const char *aid_capability_to_string(enum aid_capability c)
{
        return c >= 0 && c < AID_CAP_MAX ? capability_names[c] : NULL;
}

int aid_capability_from_string(const char *s)
{
        for (int i = 0; s && i < AID_CAP_MAX; i++)
                if (strcmp(s, capability_names[i]) == 0)
                        return i;
        return -EINVAL;
}

const char *aid_limit_to_string(enum aid_limit l)
{
        return l >= 0 && l < AID_LIMIT_MAX ? limit_names[l] : NULL;
}

const char *aid_limit_to_bus_key(enum aid_limit l)
{
        return l >= 0 && l < AID_LIMIT_MAX ? limit_bus_keys[l] : NULL;
}

struct setting {
        bool set;
        uint64_t value; /* capabilities: 1 allow, 0 deny */
        char *source;   /* "FILE:LINE" */
};

struct group {
        char *pattern; /* NULL: [Default] */
        bool glob;
        size_t n_literal;
        size_t order;
        bool poisoned; /* a broken line: every capability denied, the rest ignored */
        struct setting caps[AID_CAP_MAX];
        struct setting limits[AID_LIMIT_MAX];
};

struct strv {
        char **v;
        size_t n;
};

struct aid_policy {
        struct group **groups;
        size_t n_groups;
        struct strv messages;
        struct strv files;
        char *unreadable; /* set: everything is denied, this is why */
};

static int strv_push(struct strv *s, char *str)
{
        char **v;

        if (!str)
                return -ENOMEM;
        v = realloc(s->v, (s->n + 2) * sizeof(char *));
        if (!v) {
                free(str);
                return -ENOMEM;
        }
        v[s->n++] = str;
        v[s->n] = NULL;
        s->v = v;
        return 0;
}

static void strv_clear(struct strv *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        *s = (struct strv){};
}

static int strv_pushf(struct strv *s, const char *fmt, ...) _printf_(2, 3);
static int strv_pushf(struct strv *s, const char *fmt, ...)
{
        char *str = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&str, fmt, ap) < 0)
                str = NULL;
        va_end(ap);
        return strv_push(s, str);
}

static struct group *group_free(struct group *g)
{
        if (!g)
                return NULL;
        free(g->pattern);
        for (size_t i = 0; i < AID_CAP_MAX; i++)
                free(g->caps[i].source);
        for (size_t i = 0; i < AID_LIMIT_MAX; i++)
                free(g->limits[i].source);
        free(g);
        return NULL;
}

int aid_policy_new(struct aid_policy **ret)
{
        struct aid_policy *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

struct aid_policy *aid_policy_free(struct aid_policy *p)
{
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_groups; i++)
                group_free(p->groups[i]);
        free(p->groups);
        strv_clear(&p->messages);
        strv_clear(&p->files);
        free(p->unreadable);
        free(p);
        return NULL;
}

const char *const *aid_policy_messages(const struct aid_policy *p)
{
        static const char *const empty[] = { NULL };
        return p->messages.v ? (const char *const *)p->messages.v : empty;
}

const char *const *aid_policy_files(const struct aid_policy *p)
{
        static const char *const empty[] = { NULL };
        return p->files.v ? (const char *const *)p->files.v : empty;
}

static int new_group(struct aid_policy *p, const char *pattern, struct group **ret)
{
        struct group **groups, *g;

        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        if (pattern) {
                g->pattern = strdup(pattern);
                if (!g->pattern) {
                        free(g);
                        return -ENOMEM;
                }
                g->glob = strpbrk(pattern, "*?[") != NULL;
                for (const char *c = pattern; *c; c++)
                        g->n_literal += !strchr("*?[]", *c);
        }
        groups = realloc(p->groups, (p->n_groups + 1) * sizeof(*groups));
        if (!groups) {
                group_free(g);
                return -ENOMEM;
        }
        g->order = p->n_groups;
        groups[p->n_groups++] = g;
        p->groups = groups;
        *ret = g;
        return 0;
}

static int set(struct setting *s, uint64_t value, const char *name, unsigned line)
{
        char *source = NULL;

        if (asprintf(&source, "%s:%u", name, line) < 0)
                return -ENOMEM;
        free(s->source);
        *s = (struct setting){ .set = true, .value = value, .source = source };
        return 0;
}

static int poison(struct group *g, const char *name, unsigned line)
{
        int r;

        for (size_t i = 0; i < AID_CAP_MAX; i++) {
                r = set(&g->caps[i], 0, name, line);
                if (r < 0)
                        return r;
        }
        g->poisoned = true;
        return 0;
}

static char *trim(char *s)
{
        char *end;

        while (*s == ' ' || *s == '\t')
                s++;
        end = s + strlen(s);
        while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
                *--end = '\0';
        return s;
}

/* The same characters an app id may have (see identity.c), plus glob characters and '/' for
 * executable paths. */
static bool pattern_valid(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char)*s) && !strchr("._-+/*?[]!", *s))
                        return false;
        return true;
}

static bool parse_u32(const char *s, uint64_t *ret)
{
        uint64_t v = 0;

        if (!*s)
                return false;
        for (; *s; s++) {
                if (!isdigit((unsigned char)*s))
                        return false;
                v = v * 10 + (uint64_t)(*s - '0');
                if (v > LIMIT_VALUE_MAX)
                        return false;
        }
        *ret = v;
        return true;
}

/* Parses "key=value" into g; NULL or an error message. */
static const char *parse_assignment(
                struct group *g, char *line, const char *name, unsigned lineno, int *ret_r)
{
        char *eq = strchr(line, '='), *key, *value;
        uint64_t v;
        int i;

        *ret_r = 0;
        if (!eq)
                return "expected KEY=VALUE, a [Default] or [App ID] group header, or a # comment";
        *eq = '\0';
        key = trim(line);
        value = trim(eq + 1);

        i = aid_capability_from_string(key);
        if (i >= 0) {
                if (strcmp(value, "allow") == 0)
                        v = 1;
                else if (strcmp(value, "deny") == 0)
                        v = 0;
                else
                        return "a capability is either 'allow' or 'deny'";
                if (!g->poisoned)
                        *ret_r = set(&g->caps[i], v, name, lineno);
                return NULL;
        }
        for (i = 0; i < AID_LIMIT_MAX; i++)
                if (strcmp(key, limit_names[i]) == 0)
                        break;
        if (i == AID_LIMIT_MAX)
                return "unknown key (capabilities: text, vision, transcribe-file, live-microphone, "
                       "live-system-audio; limits: RequestsPerMinute, MaxTokens, MaxConcurrent, "
                       "RateLimitWindowSec)";
        if (!parse_u32(value, &v))
                return "a limit is a whole number from 0 (no limit) to 4294967295";
        if (i == AID_LIMIT_RATE_WINDOW_SEC && v == 0)
                return "RateLimitWindowSec= must be at least 1";
        if (!g->poisoned)
                *ret_r = set(&g->limits[i], v, name, lineno);
        return NULL;
}

static int report(struct aid_policy *p, const char *name, unsigned line, const char *what)
{
        return strv_pushf(&p->messages, "%s:%u: %s", name, line, what);
}

int aid_policy_add_string(struct aid_policy *p, const char *name, const char *contents, size_t length)
{
        _cleanup_free_ char *buf = NULL;
        struct group *g = NULL;
        unsigned lineno = 0;
        char *next;
        int r;

        r = strv_push(&p->files, strdup(name));
        if (r < 0)
                return r;
        if (memchr(contents, '\0', length)) {
                /* Not text: nothing in it can be trusted, so nothing in it is applied, and it
                 * denies like an unreadable file. */
                return aid_policy_add_unreadable(p, name, EBADMSG);
        }
        buf = strndup(contents, length);
        if (!buf)
                return -ENOMEM;

        for (char *line = buf; line; line = next) {
                const char *problem = NULL;
                char *s;

                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                lineno++;
                s = trim(line);
                if (*s == '\0' || *s == '#' || *s == ';')
                        continue;

                if (*s == '[') {
                        size_t n = strlen(s);
                        g = NULL;
                        if (s[n - 1] != ']')
                                problem = "a group header ends with ']'";
                        else {
                                s[n - 1] = '\0';
                                s++;
                                if (strcmp(s, "Default") == 0)
                                        r = new_group(p, NULL, &g);
                                else if (strncmp(s, "App ", 4) == 0 && pattern_valid(trim(s + 4)))
                                        r = new_group(p, trim(s + 4), &g);
                                else
                                        problem = "unknown group (use [Default] or [App ID], where ID is an "
                                                  "app id, an executable path or a glob)";
                                if (!problem && r < 0)
                                        return r;
                        }
                        if (problem) {
                                /* The lines up to the next header belong to no group we know,
                                 * so they may have been about any app. */
                                r = new_group(p, NULL, &g);
                                if (r >= 0)
                                        r = poison(g, name, lineno);
                        }
                } else if (!g) {
                        problem = "a key outside any group (start with [Default] or [App ID])";
                        r = new_group(p, NULL, &g);
                        if (r >= 0)
                                r = poison(g, name, lineno);
                } else {
                        problem = parse_assignment(g, s, name, lineno, &r);
                        if (r >= 0 && problem)
                                r = poison(g, name, lineno);
                }
                if (r < 0)
                        return r;
                if (problem) {
                        r = report(p, name, lineno, problem);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int aid_policy_add_unreadable(struct aid_policy *p, const char *source, int error)
{
        int r;

        r = strv_pushf(&p->messages, "%s: %s; every capability is denied until it can be read", source,
                        strerror(abs(error)));
        if (r < 0)
                return r;
        if (!p->unreadable) {
                p->unreadable = strdup(source);
                if (!p->unreadable)
                        return -ENOMEM;
        }
        return 0;
}

static int read_file(const char *path, char **ret, size_t *ret_length)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t n = 0;

        if (fd < 0 && errno == ELOOP)
                /* A symlink (Debian alternatives, /dev/null masking): follow it. */
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode))
                return -EISDIR;
        buf = malloc(POLICY_FILE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(fd, buf + n, POLICY_FILE_MAX + 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t)k;
                if (n > POLICY_FILE_MAX)
                        return -EFBIG;
        }
        *ret = TAKE_PTR(buf);
        *ret_length = n;
        return 0;
}

static int compare_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_conf_suffix(const char *name)
{
        size_t n = strlen(name);
        return n > 5 && strcmp(name + n - 5, ".conf") == 0 && name[0] != '.';
}

static int load_dir(struct aid_policy *p, const char *dir)
{
        DIR *d = opendir(dir);
        struct strv names = {};
        struct dirent *de;
        int r = 0;

        if (!d) {
                if (errno == ENOENT || errno == ENOTDIR)
                        return 0;
                return aid_policy_add_unreadable(p, dir, errno);
        }
        errno = 0;
        while ((de = readdir(d))) {
                if (!has_conf_suffix(de->d_name))
                        continue;
                r = strv_push(&names, strdup(de->d_name));
                if (r < 0)
                        break;
        }
        if (r >= 0 && errno != 0)
                r = aid_policy_add_unreadable(p, dir, errno);
        closedir(d);
        if (r < 0) {
                strv_clear(&names);
                return r;
        }
        if (names.n > 1)
                qsort(names.v, names.n, sizeof(char *), compare_names);

        for (size_t i = 0; r >= 0 && i < names.n; i++) {
                _cleanup_free_ char *path = NULL, *contents = NULL;
                size_t length = 0;

                if (asprintf(&path, "%s/%s", dir, names.v[i]) < 0) {
                        r = -ENOMEM;
                        break;
                }
                r = read_file(path, &contents, &length);
                if (r == -ENOENT) {
                        /* Removed between readdir() and open(): a change in progress; the
                         * reload it triggers will see the final state. */
                        r = 0;
                        continue;
                }
                if (r == -ENOMEM)
                        break;
                if (r < 0)
                        r = aid_policy_add_unreadable(p, path, r);
                else
                        r = aid_policy_add_string(p, path, contents, length);
        }
        strv_clear(&names);
        return r;
}

int aid_policy_load(const char *const *dirs, struct aid_policy **ret)
{
        _cleanup_(aid_policy_freep) struct aid_policy *p = NULL;
        int r;

        r = aid_policy_new(&p);
        if (r < 0)
                return r;
        for (size_t i = 0; dirs && dirs[i]; i++) {
                r = load_dir(p, dirs[i]);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

char **aid_policy_default_dirs(bool user_mode)
{
        char **v = calloc(4, sizeof(char *));
        size_t n = 0;

        if (!v)
                return NULL;
        if (asprintf(&v[n++], "%s/aid/policy.d", AID_DATADIR) < 0)
                goto fail;
        if (asprintf(&v[n++], "%s/aid/policy.d", AID_SYSCONFDIR) < 0)
                goto fail;
        if (user_mode) {
                const char *config = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
                int k;

                /* The XDG spec: a relative $XDG_CONFIG_HOME is ignored. */
                if (config && config[0] == '/')
                        k = asprintf(&v[n++], "%s/aid/policy.d", config);
                else if (home && home[0] == '/')
                        k = asprintf(&v[n++], "%s/.config/aid/policy.d", home);
                else
                        k = 0, n++;
                if (k < 0)
                        goto fail;
        }
        return v;
fail:
        v[n - 1] = NULL;
        for (size_t i = 0; v[i]; i++)
                free(v[i]);
        free(v);
        return NULL;
}

/* Higher is more specific; -1: does not apply to app_id. */
static int64_t specificity(const struct group *g, const char *app_id)
{
        if (!g->pattern)
                return 0;
        if (!app_id)
                return -1;
        if (!g->glob)
                return strcmp(g->pattern, app_id) == 0 ? INT64_C(1) << 40 : -1;
        if (fnmatch(g->pattern, app_id, 0) != 0)
                return -1;
        return 1 + (int64_t)g->n_literal;
}

/* The setting that decides key for app_id, or NULL when no group sets it. */
static const struct setting *resolve(const struct aid_policy *p, const char *app_id, bool cap, size_t key)
{
        const struct setting *best = NULL;
        int64_t best_spec = -1;

        for (size_t i = 0; i < p->n_groups; i++) {
                const struct group *g = p->groups[i];
                const struct setting *s = cap ? &g->caps[key] : &g->limits[key];
                int64_t spec;

                if (!s->set)
                        continue;
                spec = specificity(g, app_id);
                /* ">=": groups are in reading order, so the later of two equals wins. */
                if (spec >= 0 && spec >= best_spec) {
                        best = s;
                        best_spec = spec;
                }
        }
        return best;
}

void aid_policy_decide(const struct aid_policy *p, const char *app_id, enum aid_capability cap,
                struct aid_policy_decision *ret)
{
        struct aid_policy_decision d = {};
        const struct setting *s;

        for (size_t i = 0; i < AID_LIMIT_MAX; i++) {
                s = resolve(p, app_id, false, i);
                if (s) {
                        d.limits[i] = s->value;
                        d.limit_sources[i] = s->source;
                }
        }
        if (d.limits[AID_LIMIT_RATE_WINDOW_SEC] == 0)
                d.limits[AID_LIMIT_RATE_WINDOW_SEC] = AID_POLICY_RATE_WINDOW_SEC_DEFAULT;

        if (p->unreadable) {
                d.allowed = false;
                d.source = p->unreadable;
        } else if (cap < 0 || cap >= AID_CAP_MAX) {
                d.allowed = false;
                d.source = "unknown capability";
        } else if ((s = resolve(p, app_id, true, cap))) {
                d.allowed = s->value != 0;
                d.source = s->source;
        } else {
                d.allowed = false;
                d.source = "no policy file allows it";
        }
        *ret = d;
}
