/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* macro.h first: GLib #undefs MIN and MAX before defining its own, macro.h does not. */
#include "model-stores.h"
#include "macro.h"

#include <dirent.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

/* Enough for every directory of a large collection; beyond it, inotify would cost more than
 * the occasional missed event (a rescan at start finds everything anyway). */
#define MAX_DIRS 1024u
/* Manifests are a few hundred bytes; anything much larger is not one. */
#define MAX_MANIFEST_SIZE (1u << 20)
/* Below a repository snapshot or an LM Studio publisher/repo folder, models sit at most a
 * couple of folders deep; the limit also bounds symlink loops. */
#define MAX_DEPTH 4u

struct scan {
        GPtrArray *candidates; /* struct model_store_candidate * */
        GPtrArray *dirs;       /* char * */
        GHashTable *dir_set;   /* the same strings */
        GHashTable *roots;     /* canonical roots already listed (a store can be reached twice) */
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

static bool is_set(const char *s)
{
        return s && s[0];
}

/* The tools expand a leading "~" in their variables (Python's expanduser, Go's os.UserHomeDir
 * joined by hand in scripts), so a value such as "~/models" must mean the same here. */
static char *expand_user(const char *value, const char *home)
{
        if (value[0] == '~' && (value[1] == '/' || value[1] == '\0')) {
                if (!is_set(home))
                        return NULL;
                return g_strconcat(home, value + 1, NULL);
        }
        if (value[0] != '/')
                return NULL; /* relative to what? the daemon's cwd is not the user's */
        return g_strdup(value);
}

static char *home_path(const struct model_store_env *env, const char *rel)
{
        if (!is_set(env->home) || env->home[0] != '/')
                return NULL;
        return g_build_filename(env->home, rel, NULL);
}

static char *system_path(const struct model_store_env *env, const char *abs)
{
        return g_build_filename(is_set(env->system_root) ? env->system_root : "/", abs, NULL);
}

static bool is_dir(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_regular_file(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void add_dir(struct scan *s, const char *path)
{
        if (s->dirs->len >= MAX_DIRS || g_hash_table_contains(s->dir_set, path))
                return;
        char *copy = g_strdup(path);
        g_ptr_array_add(s->dirs, copy);
        g_hash_table_add(s->dir_set, copy);
}

static void add_candidate(struct scan *s, const char *path, const char *source, char *take_name)
{
        struct model_store_candidate *c = g_new0(struct model_store_candidate, 1);
        c->path = g_strdup(path);
        c->source = g_strdup(source);
        c->name = take_name;
        g_ptr_array_add(s->candidates, c);
}

static void candidate_free(gpointer p)
{
        struct model_store_candidate *c = p;
        g_free(c->path);
        g_free(c->source);
        g_free(c->name);
        g_free(c);
}

/* True the first time a store root is seen: $OLLAMA_MODELS may well name the default
 * folder, and a home directory may be a symlink to a system one. */
static bool claim_root(struct scan *s, const char *root)
{
        g_autofree char *canonical = realpath(root, NULL);
        if (!canonical)
                return false;
        if (g_hash_table_contains(s->roots, canonical))
                return false;
        g_hash_table_add(s->roots, g_steal_pointer(&canonical));
        return true;
}

static int compare_strings(gconstpointer a, gconstpointer b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The visible entries of a directory, sorted so that choices made among them ("the first
 * revision") do not depend on the file system's order. NULL when it cannot be read. */
static GPtrArray *list_dir(const char *path)
{
        _cleanup_(closedirp) DIR *d = opendir(path);
        if (!d)
                return NULL;
        GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
        struct dirent *de;
        while ((de = readdir(d))) {
                /* Hidden entries are the tools' own bookkeeping (.locks, .internal, partial
                 * downloads) or "." and "..". */
                if (de->d_name[0] == '.')
                        continue;
                g_ptr_array_add(names, g_strdup(de->d_name));
        }
        g_ptr_array_sort(names, compare_strings);
        return names;
}

typedef void (*file_fn)(struct scan *s, const char *path, const char *rel, unsigned depth, void *userdata);

/* Calls fn for every regular file (symlinks followed) below dir, down to max_depth folder
 * levels; records every directory it reads for watching. rel is the path below the top. */
static void walk(struct scan *s, const char *dir, const char *rel, unsigned depth, unsigned max_depth,
                GHashTable *visited, file_fn fn, void *userdata)
{
        struct stat st;
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return;
        /* A symlinked folder can point back up; dev:ino pairs stop the loop. */
        g_autofree char *key = g_strdup_printf("%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
        if (g_hash_table_contains(visited, key))
                return;
        g_autoptr(GPtrArray) names = list_dir(dir);
        if (!names)
                return;
        g_hash_table_add(visited, g_steal_pointer(&key));
        add_dir(s, dir);

        for (guint i = 0; i < names->len; i++) {
                const char *name = names->pdata[i];
                g_autofree char *path = g_build_filename(dir, name, NULL);
                g_autofree char *sub = rel[0] ? g_build_filename(rel, name, NULL) : g_strdup(name);
                if (stat(path, &st) < 0)
                        continue; /* dangling symlink, or gone since readdir */
                if (S_ISDIR(st.st_mode)) {
                        if (depth < max_depth)
                                walk(s, path, sub, depth + 1, max_depth, visited, fn, userdata);
                } else if (S_ISREG(st.st_mode))
                        fn(s, path, sub, depth, userdata);
        }
}

static void walk_tree(struct scan *s, const char *top, unsigned max_depth, file_fn fn, void *userdata)
{
        g_autoptr(GHashTable) visited = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        walk(s, top, "", 0, max_depth, visited, fn, userdata);
}

/* ---- Ollama ----------------------------------------------------------------------------------
 * Where: the server stores models in $OLLAMA_MODELS, else $HOME/.ollama/models (Ollama's
 * docs/faq.md, "Where are models stored?"). The Linux install script runs the service as the
 * user "ollama" whose home is /usr/share/ollama, hence /usr/share/ollama/.ollama/models; Arch
 * Linux's package uses HOME=/var/lib/ollama, first with the default .ollama/models below it
 * and since September 2024 with the store directly in /var/lib/ollama (ollama issues #4455,
 * #6668).
 * Layout: manifests/<registry>/<namespace>/<model>/<tag> is an OCI-style JSON manifest; its
 * layer of mediaType "application/vnd.ollama.image.model" names the GGUF weights by digest
 * "sha256:<hex>", stored as blobs/sha256-<hex> (older versions used "sha256:<hex>" as the file
 * name). Blobs no manifest names are leftovers or other layers (templates, projectors). */

#define OLLAMA_DEFAULT_REGISTRY "registry.ollama.ai"
#define OLLAMA_MODEL_MEDIA_TYPE "application/vnd.ollama.image.model"

static bool valid_sha256_digest(const char *digest)
{
        if (!g_str_has_prefix(digest, "sha256:"))
                return false;
        const char *hex = digest + strlen("sha256:");
        if (strlen(hex) != 64)
                return false;
        for (const char *p = hex; *p; p++)
                if (!g_ascii_isxdigit(*p))
                        return false;
        return true;
}

/* A member's string value; NULL when absent or not a string (no critical warnings on files
 * that are not what they should be). */
static const char *json_string_member(JsonObject *o, const char *name)
{
        JsonNode *n = json_object_get_member(o, name);
        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
                return NULL;
        return json_node_get_string(n);
}

/* The digest of the weights layer, or NULL when the manifest cannot be read or has none. */
static char *ollama_manifest_model_digest(const char *path)
{
        struct stat st;
        if (stat(path, &st) < 0 || st.st_size > MAX_MANIFEST_SIZE)
                return NULL;
        g_autofree char *data = NULL;
        gsize len;
        if (!g_file_get_contents(path, &data, &len, NULL))
                return NULL;
        g_autoptr(JsonParser) parser = json_parser_new();
        if (!json_parser_load_from_data(parser, data, (gssize)len, NULL))
                return NULL;
        JsonNode *root = json_parser_get_root(parser);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root))
                return NULL;
        JsonObject *manifest = json_node_get_object(root);
        JsonNode *layers_node = json_object_get_member(manifest, "layers");
        if (!layers_node || !JSON_NODE_HOLDS_ARRAY(layers_node))
                return NULL;
        JsonArray *layers = json_node_get_array(layers_node);
        for (guint i = 0; i < json_array_get_length(layers); i++) {
                JsonNode *n = json_array_get_element(layers, i);
                if (!JSON_NODE_HOLDS_OBJECT(n))
                        continue;
                JsonObject *layer = json_node_get_object(n);
                const char *media = json_string_member(layer, "mediaType");
                const char *digest = json_string_member(layer, "digest");
                if (media && digest && streq(media, OLLAMA_MODEL_MEDIA_TYPE) && valid_sha256_digest(digest))
                        return g_strdup(digest);
        }
        return NULL;
}

/* What `ollama list` shows: "model:tag", with "namespace/" unless it is "library" on the
 * default registry, and "registry/namespace/" for any other registry (hf.co/...). */
static char *ollama_display_name(const char *rel)
{
        g_auto(GStrv) parts = g_strsplit(rel, "/", 0);
        if (g_strv_length(parts) != 4)
                return NULL;
        const char *registry = parts[0], *ns = parts[1], *model = parts[2], *tag = parts[3];
        if (streq(registry, OLLAMA_DEFAULT_REGISTRY)) {
                if (streq(ns, "library"))
                        return g_strdup_printf("%s:%s", model, tag);
                return g_strdup_printf("%s/%s:%s", ns, model, tag);
        }
        return g_strdup_printf("%s/%s/%s:%s", registry, ns, model, tag);
}

static void ollama_manifest(
                struct scan *s, const char *path, const char *rel, unsigned depth, void *userdata)
{
        const char *root = userdata;
        if (depth != 3) /* registry/namespace/model/tag: the tag file sits three folders down */
                return;
        g_autofree char *digest = ollama_manifest_model_digest(path);
        if (!digest)
                return;
        g_autofree char *blob_name = g_strdup(digest);
        blob_name[strlen("sha256")] = '-';
        g_autofree char *blob = g_build_filename(root, "blobs", blob_name, NULL);
        if (!is_regular_file(blob)) {
                g_free(blob);
                blob = g_build_filename(root, "blobs", digest, NULL);
                if (!is_regular_file(blob))
                        return;
        }
        char *name = ollama_display_name(rel);
        if (name)
                add_candidate(s, blob, "ollama", name);
}

static void ollama_scan_root(struct scan *s, const char *root)
{
        if (!is_dir(root) || !claim_root(s, root))
                return;
        /* New models appear as new manifests, written after their blobs are complete, so the
         * manifests tree is what needs watching (blobs/ churns during every download). */
        add_dir(s, root);
        g_autofree char *manifests = g_build_filename(root, "manifests", NULL);
        walk_tree(s, manifests, 3, ollama_manifest, (void *)root);
}

static void ollama_scan(struct scan *s, const struct model_store_env *env)
{
        g_autofree char *user = NULL;
        if (is_set(env->ollama_models))
                user = expand_user(env->ollama_models, env->home);
        else
                user = home_path(env, ".ollama/models");
        if (user)
                ollama_scan_root(s, user);

        static const char *const system_roots[] = {
                "/usr/share/ollama/.ollama/models",
                "/var/lib/ollama/.ollama/models",
                "/var/lib/ollama",
        };
        for (size_t i = 0; i < ELEMENTSOF(system_roots); i++) {
                g_autofree char *root = system_path(env, system_roots[i]);
                g_autofree char *manifests = g_build_filename(root, "manifests", NULL);
                /* /var/lib/ollama is the Arch service's home as well as, lately, its store:
                 * only a folder with manifests in it is a store. */
                if (is_dir(manifests))
                        ollama_scan_root(s, root);
        }
}

/* ---- Hugging Face hub cache ------------------------------------------------------------------
 * Where (huggingface_hub, docs/source/en/package_reference/environment_variables.md and
 * constants.py): $HF_HUB_CACHE, else the deprecated $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub,
 * where $HF_HOME defaults to $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
 * Layout (huggingface_hub's "Manage the cache" guide): models--<org>--<name>/ holds blobs/
 * (content by hash), refs/<branch> (a file holding the commit hash) and
 * snapshots/<commit>/<path in repo>, symlinks into ../../blobs. Repository ids cannot contain
 * "--", so the folder name splits unambiguously. */

struct hf_repo {
        const char *repo_id;
        GHashTable *seen; /* paths inside the repository already listed from another revision */
};

static bool hf_wanted_file(const char *rel)
{
        const char *base = strrchr(rel, '/');
        base = base ? base + 1 : rel;
        if (g_str_has_suffix(base, ".gguf"))
                return true;
        /* whisper.cpp's models are published as ggml-<size>.bin; other .bin files in the hub
         * are PyTorch weights, which aid cannot read. */
        return g_str_has_prefix(base, "ggml-") && g_str_has_suffix(base, ".bin");
}

static void hf_file(struct scan *s, const char *path, const char *rel, unsigned depth, void *userdata)
{
        struct hf_repo *repo = userdata;
        if (!hf_wanted_file(rel) || g_hash_table_contains(repo->seen, rel))
                return;
        g_hash_table_add(repo->seen, g_strdup(rel));
        add_candidate(s, path, "huggingface", g_strdup_printf("%s/%s", repo->repo_id, rel));
}

static char *read_small_file_line(const char *path)
{
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 4096)
                return NULL;
        g_autofree char *data = NULL;
        if (!g_file_get_contents(path, &data, NULL, NULL))
                return NULL;
        g_strstrip(data);
        if (!data[0] || strchr(data, '/') || strchr(data, '\n'))
                return NULL;
        return g_steal_pointer(&data);
}

static void hf_scan_repo(struct scan *s, const char *repo_dir, const char *folder)
{
        const char *sep = strstr(folder + strlen("models--"), "--");
        g_autofree char *repo_id = NULL;
        if (sep)
                repo_id = g_strdup_printf("%.*s/%s", (int)(sep - folder - strlen("models--")),
                                folder + strlen("models--"), sep + 2);
        else
                repo_id = g_strdup(folder + strlen("models--"));
        if (!repo_id[0])
                return;

        g_autofree char *snapshots = g_build_filename(repo_dir, "snapshots", NULL);
        g_autoptr(GPtrArray) revisions = list_dir(snapshots);
        if (!revisions)
                return;
        add_dir(s, repo_dir);
        add_dir(s, snapshots);

        /* The revision refs/main names comes first, so that its copy of a file wins over
         * older revisions still in the cache; the others follow in sorted order. */
        g_autofree char *ref_main_path = g_build_filename(repo_dir, "refs", "main", NULL);
        g_autofree char *main_rev = read_small_file_line(ref_main_path);
        if (main_rev) {
                for (guint i = 0; i < revisions->len; i++)
                        if (streq(revisions->pdata[i], main_rev)) {
                                g_ptr_array_insert(revisions, 0, g_ptr_array_steal_index(revisions, i));
                                break;
                        }
        }

        g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        struct hf_repo repo = { .repo_id = repo_id, .seen = seen };
        for (guint i = 0; i < revisions->len; i++) {
                g_autofree char *rev_dir = g_build_filename(snapshots, revisions->pdata[i], NULL);
                walk_tree(s, rev_dir, MAX_DEPTH, hf_file, &repo);
        }
}

static void hf_scan(struct scan *s, const struct model_store_env *env)
{
        g_autofree char *root = NULL;
        if (is_set(env->hf_hub_cache))
                root = expand_user(env->hf_hub_cache, env->home);
        else if (is_set(env->huggingface_hub_cache))
                root = expand_user(env->huggingface_hub_cache, env->home);
        else if (is_set(env->hf_home)) {
                g_autofree char *hf_home = expand_user(env->hf_home, env->home);
                if (hf_home)
                        root = g_build_filename(hf_home, "hub", NULL);
        } else if (is_set(env->xdg_cache_home) && env->xdg_cache_home[0] == '/')
                root = g_build_filename(env->xdg_cache_home, "huggingface", "hub", NULL);
        else
                root = home_path(env, ".cache/huggingface/hub");
        if (!root || !is_dir(root) || !claim_root(s, root))
                return;

        g_autoptr(GPtrArray) repos = list_dir(root);
        if (!repos)
                return;
        add_dir(s, root);
        for (guint i = 0; i < repos->len; i++) {
                const char *folder = repos->pdata[i];
                /* datasets--* and spaces--* hold no models. */
                if (!g_str_has_prefix(folder, "models--"))
                        continue;
                g_autofree char *repo_dir = g_build_filename(root, folder, NULL);
                hf_scan_repo(s, repo_dir, folder);
        }
}

/* ---- LM Studio -------------------------------------------------------------------------------
 * Where: LM Studio's home is named by ~/.lmstudio-home-pointer (a text file holding the path)
 * when present, else ~/.cache/lm-studio (older releases) if it exists, else ~/.lmstudio
 * (lmstudio-js, findLMStudioHome.ts). $LMSTUDIO_HOME, when set, replaces that lookup: the
 * variable was proposed for the lmstudio tools (lmstudio-js pull request #621) and is not an
 * established convention yet, but it is the one way to point aid elsewhere without a file in
 * $HOME. Models are in <home>/models.
 * Layout (lmstudio.ai/docs, "Import Models"): models/<publisher>/<repo>/<file>.gguf; LM Studio
 * ignores files directly in models/ or in publisher/. Without a pointer or variable both
 * default homes are listed: users who upgraded often keep models in the old one. */

static void lmstudio_file(struct scan *s, const char *path, const char *rel, unsigned depth, void *userdata)
{
        if (depth < 2 || !g_str_has_suffix(rel, ".gguf"))
                return;
        add_candidate(s, path, "lmstudio", g_strdup(rel));
}

static void lmstudio_scan_home(struct scan *s, const char *home)
{
        g_autofree char *root = g_build_filename(home, "models", NULL);
        if (!is_dir(root) || !claim_root(s, root))
                return;
        walk_tree(s, root, MAX_DEPTH, lmstudio_file, NULL);
}

static void lmstudio_scan(struct scan *s, const struct model_store_env *env)
{
        if (is_set(env->lmstudio_home)) {
                g_autofree char *home = expand_user(env->lmstudio_home, env->home);
                if (home)
                        lmstudio_scan_home(s, home);
                return;
        }

        g_autofree char *pointer = home_path(env, ".lmstudio-home-pointer");
        if (pointer && is_regular_file(pointer)) {
                g_autofree char *data = NULL;
                if (g_file_get_contents(pointer, &data, NULL, NULL)) {
                        g_strstrip(data);
                        if (data[0] == '/') {
                                lmstudio_scan_home(s, data);
                                return;
                        }
                }
        }

        g_autofree char *current = home_path(env, ".lmstudio");
        g_autofree char *old = home_path(env, ".cache/lm-studio");
        if (current)
                lmstudio_scan_home(s, current);
        if (old)
                lmstudio_scan_home(s, old);
}

/* ---------------------------------------------------------------------------------------------- */

void model_store_env_from_environ(struct model_store_env *ret)
{
        *ret = (struct model_store_env){
                .home = getenv("HOME"),
                .xdg_cache_home = getenv("XDG_CACHE_HOME"),
                .ollama_models = getenv("OLLAMA_MODELS"),
                .hf_hub_cache = getenv("HF_HUB_CACHE"),
                .huggingface_hub_cache = getenv("HUGGINGFACE_HUB_CACHE"),
                .hf_home = getenv("HF_HOME"),
                .lmstudio_home = getenv("LMSTUDIO_HOME"),
        };
}

static int source_rank(const char *source)
{
        static const char *const order[] = { "ollama", "huggingface", "lmstudio" };
        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                if (streq(source, order[i]))
                        return (int)i;
        return (int)ELEMENTSOF(order);
}

static int compare_candidates(gconstpointer a, gconstpointer b)
{
        const struct model_store_candidate *x = *(const struct model_store_candidate *const *)a;
        const struct model_store_candidate *y = *(const struct model_store_candidate *const *)b;
        int r = source_rank(x->source) - source_rank(y->source);
        if (r == 0)
                r = strcmp(x->path, y->path);
        if (r == 0)
                r = strcmp(x->name, y->name);
        return r;
}

int model_stores_list(const struct model_store_env *env, struct model_store_list **ret)
{
        g_autoptr(GPtrArray) candidates = g_ptr_array_new_with_free_func(candidate_free);
        g_autoptr(GPtrArray) dirs = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GHashTable) dir_set = g_hash_table_new(g_str_hash, g_str_equal);
        g_autoptr(GHashTable) roots = g_hash_table_new_full(g_str_hash, g_str_equal, free, NULL);
        struct scan s = { .candidates = candidates, .dirs = dirs, .dir_set = dir_set, .roots = roots };

        ollama_scan(&s, env);
        hf_scan(&s, env);
        lmstudio_scan(&s, env);

        g_ptr_array_sort(candidates, compare_candidates);

        struct model_store_list *l = g_new0(struct model_store_list, 1);
        l->n_candidates = candidates->len;
        l->candidates = g_new0(struct model_store_candidate, MAX(candidates->len, 1u));
        for (guint i = 0; i < candidates->len; i++) {
                struct model_store_candidate *c = candidates->pdata[i];
                l->candidates[i] = *c;
                *c = (struct model_store_candidate){};
        }
        l->n_dirs = dirs->len;
        g_ptr_array_add(dirs, NULL);
        l->dirs = (char **)g_ptr_array_steal(dirs, NULL);
        *ret = l;
        return 0;
}

struct model_store_list *model_store_list_free(struct model_store_list *l)
{
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n_candidates; i++) {
                g_free(l->candidates[i].path);
                g_free(l->candidates[i].source);
                g_free(l->candidates[i].name);
        }
        g_free(l->candidates);
        g_strfreev(l->dirs);
        g_free(l);
        return NULL;
}
