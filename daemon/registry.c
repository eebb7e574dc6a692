/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Ids. A model in aid's own directories is known by its file name without extension
 * ("tiny-llama-v512-Q4_0"), an Ollama model by what `ollama list` shows ("llama3.2:3b"), a
 * Hugging Face or LM Studio file by "<org>/<repo>/<file>". When two files claim the same id,
 * the first keeps it and the next gets "<id>@<source>", then "<id>@<source>-2", "-3"...
 * "First" is in the order of the listing (aid's directories, then Ollama, Hugging Face, LM
 * Studio; by path within each), so an id depends only on the files present: the same tree
 * gives the same ids on every rescan and after every restart. */

/* registry.h (via error.h, macro.h) first: GLib #undefs MIN and MAX before defining its own,
 * macro.h does not. */
#include "registry.h"
#include "model-lease.h"
#include "model-stores.h"

#include <dirent.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* aid's directories: a folder per model family or per publisher is common, deeper trees are
 * not; the limit also bounds symlink loops. */
#define CONFIG_MAX_DEPTH 4u
/* inotify watches cost kernel memory per user (fs.inotify.max_user_watches); a rescan at
 * start finds everything anyway, so beyond this the daemon just notices less. */
#define MAX_WATCH_DIRS 256u

struct entry {
        struct registry_entry pub;
        char *key; /* path "\n" base id: the same candidate across scans */
        dev_t dev;
        ino_t ino;
        struct timespec mtime;
};

struct registry {
        char **model_dirs;
        bool scan_user_stores;
        char *default_text;
        char *default_vision;
        char *default_speech;
        const struct model_store_env *store_env;

        GPtrArray *entries; /* struct entry *, in listing order */
        GHashTable *by_id;  /* id -> struct entry * (borrowed) */
        char **watch_dirs;  /* NULL-terminated */
        unsigned n_probes;
};

struct candidate {
        char *path;
        const char *source; /* static string */
        char *base_id;
        struct stat st;
};

static inline bool streq(const char *a, const char *b)
{
        return strcmp(a, b) == 0;
}

static void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

static void candidate_free(gpointer p)
{
        struct candidate *c = p;
        g_free(c->path);
        g_free(c->base_id);
        g_free(c);
}

static struct entry *entry_free(struct entry *e)
{
        if (!e)
                return NULL;
        g_free(e->pub.id);
        g_free(e->pub.path);
        g_free(e->pub.source);
        g_free(e->pub.reason);
        if (e->pub.have_meta)
                aid_model_meta_clear(&e->pub.meta);
        g_free(e->key);
        g_free(e);
        return NULL;
}

static void entry_destroy(gpointer p)
{
        entry_free(p);
}

static int source_rank(const char *source)
{
        static const char *const order[] = { "config", "ollama", "huggingface", "lmstudio" };
        for (size_t i = 0; i < G_N_ELEMENTS(order); i++)
                if (streq(source, order[i]))
                        return (int)i;
        return (int)G_N_ELEMENTS(order);
}

static const char *static_source(const char *source)
{
        static const char *const known[] = { "ollama", "huggingface", "lmstudio" };
        for (size_t i = 0; i < G_N_ELEMENTS(known); i++)
                if (streq(source, known[i]))
                        return known[i];
        return NULL;
}

/* ---- candidates ----------------------------------------------------------------------------- */

struct collect {
        GPtrArray *candidates;
        GPtrArray *watch;      /* char *, capped at MAX_WATCH_DIRS */
        GHashTable *watch_set; /* the same strings */
};

static void add_watch(struct collect *c, const char *dir)
{
        if (c->watch->len >= MAX_WATCH_DIRS || g_hash_table_contains(c->watch_set, dir))
                return;
        char *copy = g_strdup(dir);
        g_ptr_array_add(c->watch, copy);
        g_hash_table_add(c->watch_set, copy);
}

static void add_candidate(struct collect *c, const char *path, const char *source, char *take_base_id,
                const struct stat *st)
{
        struct candidate *cand = g_new0(struct candidate, 1);
        cand->path = g_strdup(path);
        cand->source = source;
        cand->base_id = take_base_id;
        cand->st = *st;
        g_ptr_array_add(c->candidates, cand);
}

static char *strip_model_extension(const char *name)
{
        if (g_str_has_suffix(name, ".gguf"))
                return g_strndup(name, strlen(name) - strlen(".gguf"));
        if (g_str_has_suffix(name, ".bin"))
                return g_strndup(name, strlen(name) - strlen(".bin"));
        return NULL;
}

static void walk_config_dir(struct collect *c, const char *dir, unsigned depth, GHashTable *visited)
{
        struct stat st;
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return;
        /* Symlinked folders are followed (users link models in from elsewhere); dev:ino pairs
         * stop a link that points back up. */
        g_autofree char *key = g_strdup_printf("%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
        if (g_hash_table_contains(visited, key))
                return;
        _cleanup_(closedirp) DIR *d = opendir(dir);
        if (!d)
                return; /* unreadable: skipped, as documented */
        g_hash_table_add(visited, g_steal_pointer(&key));
        add_watch(c, dir);

        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.') /* hidden: partial downloads, editors' files, . and .. */
                        continue;
                g_autofree char *path = g_build_filename(dir, de->d_name, NULL);
                if (stat(path, &st) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        if (depth < CONFIG_MAX_DEPTH)
                                walk_config_dir(c, path, depth + 1, visited);
                        continue;
                }
                if (!S_ISREG(st.st_mode))
                        continue;
                char *base = strip_model_extension(de->d_name);
                if (base && base[0])
                        add_candidate(c, path, "config", base, &st);
                else
                        g_free(base);
        }
}

static int collect_candidates(struct registry *r, struct collect *c)
{
        for (char **dir = r->model_dirs; dir && *dir; dir++) {
                g_autofree char *abs = g_canonicalize_filename(*dir, NULL);
                g_autoptr(GHashTable) visited = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
                walk_config_dir(c, abs, 0, visited);
        }

        if (!r->scan_user_stores)
                return 0;

        struct model_store_env env_from_environ;
        const struct model_store_env *env = r->store_env;
        if (!env) {
                model_store_env_from_environ(&env_from_environ);
                env = &env_from_environ;
        }
        _cleanup_(model_store_list_freep) struct model_store_list *stores = NULL;
        int k = model_stores_list(env, &stores);
        if (k < 0)
                return k;
        for (size_t i = 0; i < stores->n_candidates; i++) {
                const struct model_store_candidate *sc = &stores->candidates[i];
                const char *source = static_source(sc->source);
                struct stat st;
                if (!source || stat(sc->path, &st) < 0 || !S_ISREG(st.st_mode))
                        continue;
                add_candidate(c, sc->path, source, g_strdup(sc->name), &st);
        }
        for (size_t i = 0; i < stores->n_dirs; i++)
                add_watch(c, stores->dirs[i]);
        return 0;
}

static int compare_candidates(gconstpointer a, gconstpointer b)
{
        const struct candidate *x = *(const struct candidate *const *)a;
        const struct candidate *y = *(const struct candidate *const *)b;
        int r = source_rank(x->source) - source_rank(y->source);
        if (r == 0)
                r = strcmp(x->path, y->path);
        if (r == 0)
                r = strcmp(x->base_id, y->base_id);
        return r;
}

static char *unique_id(GHashTable *taken, const struct candidate *c)
{
        if (!g_hash_table_contains(taken, c->base_id))
                return g_strdup(c->base_id);
        char *id = g_strdup_printf("%s@%s", c->base_id, c->source);
        for (unsigned n = 2; g_hash_table_contains(taken, id); n++) {
                g_free(id);
                id = g_strdup_printf("%s@%s-%u", c->base_id, c->source, n);
        }
        return id;
}

/* ---- entries -------------------------------------------------------------------------------- */

static bool same_file(const struct entry *e, const struct stat *st)
{
        return e->dev == st->st_dev && e->ino == st->st_ino && e->pub.size == (uint64_t)st->st_size &&
               e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static struct entry *entry_probe(struct registry *r, const struct candidate *c, char *take_key)
{
        struct entry *e = g_new0(struct entry, 1);
        e->key = take_key;
        e->pub.path = g_strdup(c->path);
        e->pub.source = g_strdup(c->source);
        e->pub.size = (uint64_t)c->st.st_size;
        e->dev = c->st.st_dev;
        e->ino = c->st.st_ino;
        e->mtime = c->st.st_mtim;

        struct aid_model_meta meta = {};
        struct aid_error err = {};
        int lease = -1;
        r->n_probes++;
        /* The header is read from a mapping: a truncation waits for it (model-lease.h). A file
         * open for writing is not read: its IN_CLOSE_WRITE brings another scan. */
        int k = model_lease_take(c->path, &lease, &err);
        if (k >= 0)
                k = aid_model_probe(c->path, &meta, &err);
        if (lease >= 0)
                close(lease);
        if (k < 0) {
                /* The entry carries the path already: "x.gguf: not a model file: ..." would
                 * say it twice wherever both are shown. */
                const char *msg = err.message[0] ? err.message : g_strerror(-k);
                size_t n = strlen(c->path);
                if (strncmp(msg, c->path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
                        msg += n + 2;
                e->pub.usable = false;
                e->pub.reason = g_strdup(msg);
                return e;
        }
        e->pub.meta = meta;
        e->pub.have_meta = true;
        e->pub.usable = !meta.unsupported_reason;
        e->pub.reason = g_strdup(meta.unsupported_reason);
        return e;
}

int registry_scan(struct registry *r, bool *ret_changed)
{
        g_autoptr(GPtrArray) candidates = g_ptr_array_new_with_free_func(candidate_free);
        g_autoptr(GPtrArray) watch = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GHashTable) watch_set = g_hash_table_new(g_str_hash, g_str_equal);
        struct collect c = { .candidates = candidates, .watch = watch, .watch_set = watch_set };
        int k = collect_candidates(r, &c);
        if (k < 0)
                return k;
        g_ptr_array_sort(candidates, compare_candidates);
        /* A directory configured twice, or inside another configured one, lists its files
         * twice; sorting put the copies next to each other. */
        for (guint i = 1; i < candidates->len;) {
                if (compare_candidates(&candidates->pdata[i - 1], &candidates->pdata[i]) == 0)
                        g_ptr_array_remove_index(candidates, i);
                else
                        i++;
        }

        /* What the last scan knew, by candidate, to keep what has not changed. */
        g_autoptr(GHashTable) previous = g_hash_table_new(g_str_hash, g_str_equal);
        for (guint i = 0; i < r->entries->len; i++) {
                struct entry *e = r->entries->pdata[i];
                g_hash_table_insert(previous, e->key, e);
        }

        g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func(entry_destroy);
        g_autoptr(GHashTable) by_id = g_hash_table_new(g_str_hash, g_str_equal);
        bool changed = candidates->len != r->entries->len;
        for (guint i = 0; i < candidates->len; i++) {
                const struct candidate *cand = candidates->pdata[i];
                g_autofree char *id = unique_id(by_id, cand);
                g_autofree char *key = g_strconcat(cand->path, "\n", cand->base_id, NULL);

                struct entry *e = g_hash_table_lookup(previous, key);
                if (e && same_file(e, &cand->st)) {
                        g_hash_table_remove(previous, key);
                        if (i >= r->entries->len || r->entries->pdata[i] != e || !streq(e->pub.id, id))
                                changed = true;
                } else {
                        e = entry_probe(r, cand, g_steal_pointer(&key));
                        changed = true;
                }
                g_free(e->pub.id);
                e->pub.id = g_steal_pointer(&id);
                g_ptr_array_add(entries, e);
                g_hash_table_insert(by_id, e->pub.id, e);
        }

        /* Entries carried over now belong to the new array; the rest go with the old one. */
        for (guint i = 0; i < r->entries->len; i++) {
                struct entry *e = r->entries->pdata[i];
                if (!g_hash_table_contains(previous, e->key))
                        r->entries->pdata[i] = NULL;
        }
        g_ptr_array_unref(r->entries);
        r->entries = g_steal_pointer(&entries);
        g_hash_table_unref(r->by_id);
        r->by_id = g_steal_pointer(&by_id);

        g_strfreev(r->watch_dirs);
        g_ptr_array_add(watch, NULL);
        g_ptr_array_set_free_func(watch, NULL);
        r->watch_dirs = (char **)g_ptr_array_steal(watch, NULL);

        if (ret_changed)
                *ret_changed = changed;
        return 0;
}

/* ---- queries -------------------------------------------------------------------------------- */

int registry_new(const struct registry_config *config, struct registry **ret)
{
        struct registry *r = g_new0(struct registry, 1);
        if (config) {
                r->model_dirs = g_strdupv(config->model_dirs);
                r->scan_user_stores = config->scan_user_stores;
                r->default_text = g_strdup(config->default_text);
                r->default_vision = g_strdup(config->default_vision);
                r->default_speech = g_strdup(config->default_speech);
                r->store_env = config->store_env;
        }
        r->entries = g_ptr_array_new_with_free_func(entry_destroy);
        r->by_id = g_hash_table_new(g_str_hash, g_str_equal);
        r->watch_dirs = g_new0(char *, 1);
        *ret = r;
        return 0;
}

struct registry *registry_free(struct registry *r)
{
        if (!r)
                return NULL;
        g_hash_table_unref(r->by_id);
        g_ptr_array_unref(r->entries);
        g_strfreev(r->watch_dirs);
        g_strfreev(r->model_dirs);
        g_free(r->default_text);
        g_free(r->default_vision);
        g_free(r->default_speech);
        g_free(r);
        return NULL;
}

size_t registry_n_entries(const struct registry *r)
{
        return r->entries->len;
}

unsigned registry_n_probes(const struct registry *r)
{
        return r->n_probes;
}

const struct registry_entry *registry_entry_at(const struct registry *r, size_t i)
{
        if (i >= r->entries->len)
                return NULL;
        return &((struct entry *)r->entries->pdata[i])->pub;
}

const struct registry_entry *registry_find(const struct registry *r, const char *id)
{
        if (!id)
                return NULL;
        struct entry *e = g_hash_table_lookup(r->by_id, id);
        return e ? &e->pub : NULL;
}

const struct registry_entry *registry_default_model(const struct registry *r, const char *capability)
{
        const char *configured;
        if (!capability)
                return NULL;
        if (streq(capability, "text"))
                configured = r->default_text;
        else if (streq(capability, "vision"))
                configured = r->default_vision;
        else if (streq(capability, "speech"))
                configured = r->default_speech;
        else
                return NULL;

        /* A configured model is returned even when unusable: the caller says why, rather
         * than silently running a different model than the one the administrator chose. */
        const struct registry_entry *e = registry_find(r, configured);
        if (e)
                return e;

        /* Files put in aid's own directories were meant for aid; a model that merely sits in
         * another tool's store is the fallback. */
        const struct registry_entry *best = NULL;
        for (guint i = 0; i < r->entries->len; i++) {
                const struct registry_entry *x = &((struct entry *)r->entries->pdata[i])->pub;
                if (!x->usable || !x->have_meta || !x->meta.capability ||
                                !streq(x->meta.capability, capability))
                        continue;
                if (!best)
                        best = x;
                else {
                        bool x_config = streq(x->source, "config"),
                             best_config = streq(best->source, "config");
                        if ((x_config && !best_config) ||
                                        (x_config == best_config && strcmp(x->id, best->id) < 0))
                                best = x;
                }
        }
        return best;
}

char *const *registry_watch_dirs(const struct registry *r)
{
        return r->watch_dirs;
}
