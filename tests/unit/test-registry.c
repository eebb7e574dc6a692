/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The registry over temporary model folders holding fixture models, damaged files and fake
 * stores of other tools: what a user sees in ListModels and which model serves by default. */

/* registry.h (via macro.h) first: GLib #undefs MIN and MAX before defining its own. */
#include "model-stores.h"
#include "registry.h"
#include "unprivileged.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <glib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LLAMA   "tiny-llama-v512-Q4_0"
#define GEMMA   "tiny-gemma3-v512-Q4_0"
#define QWEN    "tiny-qwen2-v512-Q8_0"
#define WHISPER "whisper-d64-random-f16"
#define VOCAB   "ggml-vocab-v512-spm"

static char *tmp;
static char *fixtures;
static struct registry *reg;

static void setup(void)
{
        const char *f = getenv("AID_FIXTURES");
        g_autofree char *probe = g_build_filename(f ? f : "", "models", LLAMA ".gguf", NULL);
        if (!f || !g_file_test(probe, G_FILE_TEST_IS_REGULAR))
                cr_skip_test("fixtures folder %s absent: the registry is tested on its models",
                                f ? f : "(AID_FIXTURES unset)");
        fixtures = g_strdup(f);
        tmp = g_dir_make_tmp("aid-test-registry-XXXXXX", NULL);
        cr_assert_not_null(tmp);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static void teardown(void)
{
        reg = registry_free(reg);
        if (tmp)
                nftw(tmp, remove_one, 16, FTW_DEPTH | FTW_PHYS);
        g_clear_pointer(&tmp, g_free);
        g_clear_pointer(&fixtures, g_free);
}

TestSuite(registry, .init = setup, .fini = teardown);

static char *tpath(const char *rel)
{
        char *p = g_build_filename(tmp, rel, NULL);
        g_autofree char *parent = g_path_get_dirname(p);
        cr_assert_eq(g_mkdir_with_parents(parent, 0755), 0);
        return p;
}

static void put_bytes(const char *rel, const void *data, size_t len)
{
        g_autofree char *p = tpath(rel);
        cr_assert(g_file_set_contents(p, data, (gssize)len, NULL));
}

/* Copies fixtures/<fixture> to tmp/<rel>, keeping only the first `keep` bytes when not 0. */
static void put_fixture(const char *fixture, const char *rel, size_t keep)
{
        g_autofree char *src = g_build_filename(fixtures, fixture, NULL);
        g_autofree char *data = NULL;
        gsize len;
        cr_assert(g_file_get_contents(src, &data, &len, NULL), "cannot read %s", src);
        put_bytes(rel, data, keep ? MIN(keep, len) : len);
}

static void put_random(const char *rel, size_t len)
{
        g_autoptr(GRand) rand = g_rand_new_with_seed(42);
        g_autofree guint8 *data = g_malloc(len);
        for (size_t i = 0; i < len; i++)
                data[i] = (guint8)g_rand_int(rand);
        /* Seeded, so the magic is always the same non-model one. */
        memcpy(data, "\xde\xad\xbe\xef", 4);
        put_bytes(rel, data, len);
}

static void remove_rel(const char *rel)
{
        g_autofree char *p = g_build_filename(tmp, rel, NULL);
        cr_assert_eq(unlink(p), 0, "unlink %s: %m", p);
}

static struct registry *new_registry(const char *const *dirs, const struct model_store_env *env)
{
        g_autoptr(GPtrArray) abs = g_ptr_array_new_with_free_func(g_free);
        for (size_t i = 0; dirs && dirs[i]; i++)
                g_ptr_array_add(abs, g_build_filename(tmp, dirs[i], NULL));
        g_ptr_array_add(abs, NULL);
        struct registry_config config = {
                .model_dirs = (char **)abs->pdata,
                .scan_user_stores = env != NULL,
                .store_env = env,
        };
        struct registry *r = NULL;
        cr_assert_eq(registry_new(&config, &r), 0);
        return r;
}

static bool scan(struct registry *r)
{
        bool changed = false;
        cr_assert_eq(registry_scan(r, &changed), 0);
        return changed;
}

static const struct registry_entry *must_find(struct registry *r, const char *id)
{
        const struct registry_entry *e = registry_find(r, id);
        cr_assert_not_null(e, "no entry '%s'", id);
        cr_assert_str_eq(e->id, id);
        return e;
}

/* The "models" folder most tests use: three text models (one in a subfolder), a whisper
 * model, a vocabulary, and four files that are not models aid can run. */
static void make_models_dir(void)
{
        put_fixture("models/" LLAMA ".gguf", "models/" LLAMA ".gguf", 0);
        put_fixture("models/" GEMMA ".gguf", "models/" GEMMA ".gguf", 0);
        put_fixture("models/" QWEN ".gguf", "models/qwen/" QWEN ".gguf", 0);
        put_fixture("whisper/" WHISPER ".bin", "models/" WHISPER ".bin", 0);
        put_fixture("vocab/" VOCAB ".gguf", "models/" VOCAB ".gguf", 0);
        put_fixture("models/" LLAMA ".gguf", "models/broken.gguf", 200000); /* cut short */
        put_random("models/random.gguf", 4096);
        put_bytes("models/empty.bin", "", 0);
        /* Not candidates: other extensions, hidden files and folders. */
        put_bytes("models/notes.txt", "hello", 5);
        put_fixture("models/" LLAMA ".gguf", "models/.partial.gguf", 0);
        put_fixture("models/" LLAMA ".gguf", "models/.cache/hidden.gguf", 0);
}

static void assert_reason(const struct registry_entry *e, const char *expect)
{
        cr_assert(!e->usable, "%s should not be usable", e->id);
        cr_assert_not_null(e->reason, "%s has no reason", e->id);
        cr_assert_not_null(
                        strstr(e->reason, expect), "%s: reason '%s' lacks '%s'", e->id, e->reason, expect);
        cr_assert_null(strstr(e->reason, tmp), "%s: reason repeats the path: %s", e->id, e->reason);
}

Test(registry, entries_ids_usability_and_reasons)
{
        make_models_dir();
        reg = new_registry((const char *[]){ "models", NULL }, NULL);
        cr_assert(scan(reg));
        cr_assert_eq(registry_n_entries(reg), 8, "got %zu entries", registry_n_entries(reg));

        static const char *const usable[] = { LLAMA, GEMMA, QWEN, WHISPER };
        for (size_t i = 0; i < G_N_ELEMENTS(usable); i++) {
                const struct registry_entry *e = must_find(reg, usable[i]);
                cr_assert(e->usable, "%s: %s", e->id, e->reason);
                cr_assert_null(e->reason);
                cr_assert(e->have_meta);
                cr_assert_str_eq(e->source, "config");
                cr_assert_eq(e->path[0], '/');
                struct stat st;
                cr_assert_eq(stat(e->path, &st), 0);
                cr_assert_eq(e->size, (uint64_t)st.st_size);
        }
        cr_assert_str_eq(must_find(reg, LLAMA)->meta.capability, "text");
        cr_assert_str_eq(must_find(reg, LLAMA)->meta.architecture, "llama");
        cr_assert_str_eq(must_find(reg, GEMMA)->meta.architecture, "gemma3");
        cr_assert_str_eq(must_find(reg, WHISPER)->meta.capability, "speech");
        g_autofree char *qwen_path = g_build_filename(tmp, "models", "qwen", QWEN ".gguf", NULL);
        cr_assert_str_eq(must_find(reg, QWEN)->path, qwen_path);

        const struct registry_entry *vocab = must_find(reg, VOCAB);
        assert_reason(vocab, "vocabulary-only");
        cr_assert(vocab->have_meta, "a valid file's header is shown even when aid cannot run it");
        assert_reason(must_find(reg, "broken"), "exceeds file size");
        assert_reason(must_find(reg, "random"), "not a model file: unknown magic 0xefbeadde");
        assert_reason(must_find(reg, "empty"), "empty");
        cr_assert(!must_find(reg, "random")->have_meta);

        cr_assert_null(registry_find(reg, "notes"));
        cr_assert_null(registry_find(reg, ".partial"));
        cr_assert_null(registry_find(reg, "hidden"));
        cr_assert_null(registry_find(reg, "no-such-model"));
        cr_assert_null(registry_entry_at(reg, registry_n_entries(reg)));
}

Test(registry, rescan_of_unchanged_tree_reads_no_header)
{
        make_models_dir();
        reg = new_registry((const char *[]){ "models", NULL }, NULL);
        cr_assert(scan(reg));
        unsigned probes = registry_n_probes(reg);
        cr_assert_eq(probes, 8);
        const struct registry_entry *before[8];
        for (size_t i = 0; i < 8; i++)
                before[i] = registry_entry_at(reg, i);

        cr_assert(!scan(reg), "nothing changed, yet the rescan says so");
        cr_assert(!scan(reg));
        cr_assert_eq(registry_n_probes(reg), probes, "unchanged files were read again");
        cr_assert_eq(registry_n_entries(reg), 8);
        for (size_t i = 0; i < 8; i++)
                cr_assert_eq(registry_entry_at(reg, i), before[i]);
}

Test(registry, added_removed_and_replaced_files_are_noticed)
{
        make_models_dir();
        reg = new_registry((const char *[]){ "models", NULL }, NULL);
        scan(reg);
        unsigned probes = registry_n_probes(reg);

        put_fixture("models/tiny-phi3-Q4_0.gguf", "models/new/tiny-phi3-Q4_0.gguf", 0);
        cr_assert(scan(reg));
        cr_assert_eq(registry_n_probes(reg), probes + 1, "only the new file is read");
        cr_assert(must_find(reg, "tiny-phi3-Q4_0")->usable);
        cr_assert_eq(registry_n_entries(reg), 9);

        remove_rel("models/" GEMMA ".gguf");
        cr_assert(scan(reg));
        cr_assert_null(registry_find(reg, GEMMA));
        cr_assert_eq(registry_n_entries(reg), 8);
        cr_assert_eq(registry_n_probes(reg), probes + 1);

        /* A download finishing over a broken file: same name, new content and mtime. */
        put_fixture("models/" LLAMA ".gguf", "models/random.gguf", 0);
        g_autofree char *p = g_build_filename(tmp, "models", "random.gguf", NULL);
        struct timespec later[2] = { { .tv_sec = 2000000000 }, { .tv_sec = 2000000000 } };
        cr_assert_eq(utimensat(AT_FDCWD, p, later, 0), 0);
        cr_assert(scan(reg));
        cr_assert_eq(registry_n_probes(reg), probes + 2);
        const struct registry_entry *fixed = must_find(reg, "random");
        cr_assert(fixed->usable, "%s", fixed->reason);
        cr_assert_null(fixed->reason);

        cr_assert(!scan(reg));
}

Test(registry, clashing_ids_get_source_and_counter)
{
        put_fixture("models/" LLAMA ".gguf", "b/" LLAMA ".gguf", 0);
        put_fixture("models/" LLAMA ".gguf", "a/" LLAMA ".gguf", 0);
        put_fixture("models/" LLAMA ".gguf", "c/sub/" LLAMA ".gguf", 0);
        /* c is configured twice ("c" and "c/"): its file is still one entry. */
        reg = new_registry((const char *[]){ "c", "b", "a", "c/", NULL }, NULL);
        scan(reg);
        cr_assert_eq(registry_n_entries(reg), 3);

        g_autofree char *a = g_build_filename(tmp, "a", LLAMA ".gguf", NULL);
        g_autofree char *b = g_build_filename(tmp, "b", LLAMA ".gguf", NULL);
        g_autofree char *c = g_build_filename(tmp, "c", "sub", LLAMA ".gguf", NULL);
        /* By path, whatever the order of the configured folders. */
        cr_assert_str_eq(must_find(reg, LLAMA)->path, a);
        cr_assert_str_eq(must_find(reg, LLAMA "@config")->path, b);
        cr_assert_str_eq(must_find(reg, LLAMA "@config-2")->path, c);

        cr_assert(!scan(reg));
        cr_assert_str_eq(must_find(reg, LLAMA "@config")->path, b);

        remove_rel("a/" LLAMA ".gguf");
        cr_assert(scan(reg), "ids moved: that is a change");
        cr_assert_str_eq(must_find(reg, LLAMA)->path, b);
        cr_assert_str_eq(must_find(reg, LLAMA "@config")->path, c);
        cr_assert_null(registry_find(reg, LLAMA "@config-2"));
}

static void write_text(const char *rel, const char *text)
{
        put_bytes(rel, text, strlen(text));
}

/* tmp/stores: an Ollama store with one model ("aaa:latest", which sorts before every fixture
 * id), a Hugging Face cache and an LM Studio folder holding the same org/repo/file name. */
static struct model_store_env make_stores(void)
{
        static const char digest[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        g_autofree char *blob = g_strdup_printf("stores/ollama/blobs/sha256-%s", digest);
        put_fixture("models/" LLAMA ".gguf", blob, 0);
        g_autofree char *manifest = g_strdup_printf("{\"schemaVersion\":2,\"layers\":[{\"mediaType\":"
                                                    "\"application/vnd.ollama.image.model\","
                                                    "\"digest\":\"sha256:%s\",\"size\":1}]}",
                        digest);
        write_text("stores/ollama/manifests/registry.ollama.ai/library/aaa/latest", manifest);

        put_fixture("models/" QWEN ".gguf", "stores/hub/models--org--repo/blobs/f00d", 0);
        g_autofree char *link = tpath("stores/hub/models--org--repo/snapshots/abc/x.gguf");
        cr_assert_eq(symlink("../../blobs/f00d", link), 0);
        write_text("stores/hub/models--org--repo/refs/main", "abc");

        put_fixture("models/" QWEN ".gguf", "stores/lmstudio/models/org/repo/x.gguf", 0);

        return (struct model_store_env){
                .ollama_models = g_build_filename(tmp, "stores/ollama", NULL),
                .hf_hub_cache = g_build_filename(tmp, "stores/hub", NULL),
                .lmstudio_home = g_build_filename(tmp, "stores/lmstudio", NULL),
                .system_root = g_build_filename(tmp, "no-system", NULL),
        };
}

static void free_env(struct model_store_env *env)
{
        g_free((char *)env->ollama_models);
        g_free((char *)env->hf_hub_cache);
        g_free((char *)env->lmstudio_home);
        g_free((char *)env->system_root);
}

Test(registry, user_stores_listed_after_own_models)
{
        put_fixture("models/" LLAMA ".gguf", "models/" LLAMA ".gguf", 0);
        __attribute__((cleanup(free_env))) struct model_store_env env = make_stores();
        reg = new_registry((const char *[]){ "models", NULL }, &env);
        scan(reg);
        cr_assert_eq(registry_n_entries(reg), 4);

        static const char *const ids[] = { LLAMA, "aaa:latest", "org/repo/x.gguf",
                "org/repo/x.gguf@lmstudio" };
        static const char *const sources[] = { "config", "ollama", "huggingface", "lmstudio" };
        for (size_t i = 0; i < 4; i++) {
                const struct registry_entry *e = registry_entry_at(reg, i);
                cr_assert_str_eq(e->id, ids[i]);
                cr_assert_str_eq(e->source, sources[i]);
                cr_assert(e->usable, "%s: %s", e->id, e->reason);
        }
        cr_assert_str_eq(must_find(reg, "org/repo/x.gguf")->meta.architecture, "qwen2");
        g_autofree char *snapshot =
                        g_build_filename(tmp, "stores/hub/models--org--repo/snapshots/abc/x.gguf", NULL);
        cr_assert_str_eq(must_find(reg, "org/repo/x.gguf")->path, snapshot);

        bool watched = false;
        g_autofree char *manifests =
                        g_build_filename(tmp, "stores/ollama/manifests/registry.ollama.ai/library", NULL);
        for (char *const *d = registry_watch_dirs(reg); *d; d++)
                watched = watched || strcmp(*d, manifests) == 0;
        cr_assert(watched, "a new Ollama model would go unnoticed");

        cr_assert(!scan(reg));

        /* Without scan_user_stores, only aid's own folders count. */
        struct registry *own = new_registry((const char *[]){ "models", NULL }, NULL);
        cr_assert_eq(registry_scan(own, NULL), 0);
        cr_assert_eq(registry_n_entries(own), 1);
        registry_free(own);
}

Test(registry, default_model_per_capability)
{
        make_models_dir();
        __attribute__((cleanup(free_env))) struct model_store_env env = make_stores();
        reg = new_registry((const char *[]){ "models", NULL }, &env);
        scan(reg);

        /* Own folders first (the Ollama "aaa:latest" sorts first but is not chosen), then by id. */
        cr_assert_str_eq(registry_default_model(reg, "text")->id, GEMMA);
        cr_assert_str_eq(registry_default_model(reg, "speech")->id, WHISPER);
        cr_assert_null(registry_default_model(reg, "vision"));
        cr_assert_null(registry_default_model(reg, "smell"));

        /* Configured ids win, usable or not; an id that does not exist falls back. */
        struct registry *r2 = NULL;
        struct registry_config config = {
                .model_dirs = (char *[]){ g_build_filename(tmp, "models", NULL), NULL },
                .scan_user_stores = true,
                .store_env = &env,
                .default_text = (char *)"random",
                .default_speech = (char *)"no-such-model",
                .default_vision = (char *)"aaa:latest",
        };
        cr_assert_eq(registry_new(&config, &r2), 0);
        g_free(config.model_dirs[0]);
        cr_assert_eq(registry_scan(r2, NULL), 0);
        const struct registry_entry *text = registry_default_model(r2, "text");
        cr_assert_str_eq(text->id, "random");
        cr_assert(!text->usable);
        cr_assert_str_eq(registry_default_model(r2, "speech")->id, WHISPER);
        cr_assert_str_eq(registry_default_model(r2, "vision")->id, "aaa:latest");
        registry_free(r2);

        /* With no models of its own, aid uses what the other tools have. */
        struct registry *stores_only = new_registry(NULL, &env);
        cr_assert_eq(registry_scan(stores_only, NULL), 0);
        cr_assert_str_eq(registry_default_model(stores_only, "text")->id, "aaa:latest");
        cr_assert_null(registry_default_model(stores_only, "speech"));
        registry_free(stores_only);
}

Test(registry, watch_dirs_cover_every_folder_read)
{
        make_models_dir();
        put_fixture("models/" LLAMA ".gguf", "models/1/2/3/4/deep.gguf", 0);
        put_fixture("models/" LLAMA ".gguf", "models/1/2/3/4/5/too-deep.gguf", 0);
        reg = new_registry((const char *[]){ "models", "missing", NULL }, NULL);
        cr_assert_null(registry_watch_dirs(reg)[0], "nothing to watch before the first scan");
        scan(reg);
        cr_assert_not_null(registry_find(reg, "deep"));
        cr_assert_null(registry_find(reg, "too-deep"));

        g_autoptr(GHashTable) dirs = g_hash_table_new(g_str_hash, g_str_equal);
        for (char *const *d = registry_watch_dirs(reg); *d; d++)
                g_hash_table_add(dirs, *d);
        static const char *const expect[] = { "models", "models/qwen", "models/1/2/3/4" };
        for (size_t i = 0; i < G_N_ELEMENTS(expect); i++) {
                g_autofree char *p = g_build_filename(tmp, expect[i], NULL);
                cr_assert(g_hash_table_contains(dirs, p), "%s not watched", p);
        }
        static const char *const not_expect[] = { "missing", "models/.cache" };
        for (size_t i = 0; i < G_N_ELEMENTS(not_expect); i++) {
                g_autofree char *p = g_build_filename(tmp, not_expect[i], NULL);
                cr_assert(!g_hash_table_contains(dirs, p), "%s watched", p);
        }
}

Test(registry, unreadable_file_is_listed_with_reason)
{
        int r = become_unprivileged(tmp);

        if (r < 0)
                cr_skip_test("running as root and cannot become nobody (%s): root reads every file",
                                strerror(-r));
        put_fixture("models/" LLAMA ".gguf", "models/locked.gguf", 0);
        g_autofree char *p = g_build_filename(tmp, "models", "locked.gguf", NULL);
        cr_assert_eq(chmod(p, 0), 0);
        reg = new_registry((const char *[]){ "models", NULL }, NULL);
        scan(reg);
        assert_reason(must_find(reg, "locked"), "cannot open");
}

/* A file some process has open for writing is being copied or downloaded: listed as such, and
 * not read (its header could be truncated under the reader), until a scan after its close. */
Test(registry, file_open_for_writing_is_listed_as_such_until_closed)
{
        put_fixture("models/" LLAMA ".gguf", "models/copying.gguf", 0);
        g_autofree char *p = g_build_filename(tmp, "models", "copying.gguf", NULL);
        int probe = open(p, O_RDONLY | O_CLOEXEC);
        cr_assert_geq(probe, 0);
        if (fcntl(probe, F_SETLEASE, F_RDLCK) < 0)
                cr_skip_test("no read leases in %s (%s)", tmp, strerror(errno));
        close(probe);

        int writer = open(p, O_WRONLY | O_CLOEXEC);
        cr_assert_geq(writer, 0);
        reg = new_registry((const char *[]){ "models", NULL }, NULL);
        scan(reg);
        assert_reason(must_find(reg, "copying"), "open for writing by another process");
        cr_assert(!must_find(reg, "copying")->have_meta);
        close(writer);
        /* What the writer's IN_CLOSE_WRITE brings: the file changed (its mtime at least). */
        struct timespec later[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = time(NULL) + 10 } };
        cr_assert_eq(utimensat(AT_FDCWD, p, later, 0), 0);
        scan(reg);
        cr_assert(must_find(reg, "copying")->usable, "%s", must_find(reg, "copying")->reason);
}

/* A file under another process's write lease: not opened at all (a plain open would wait for
 * the lease to be broken, up to 45 s, in the daemon's event loop). */
Test(registry, file_under_a_write_lease_is_not_waited_for)
{
        put_fixture("models/" LLAMA ".gguf", "models/leased.gguf", 0);
        g_autofree char *p = g_build_filename(tmp, "models", "leased.gguf", NULL);
        int ready[2];
        cr_assert_eq(pipe(ready), 0);
        pid_t child = fork();
        cr_assert_geq(child, 0);
        if (child == 0) {
                /* The lease break's signal would end it (SIGIO's default): it holds on instead. */
                signal(SIGIO, SIG_IGN);
                int fd = open(p, O_RDONLY | O_CLOEXEC);
                char ok = fd >= 0 && fcntl(fd, F_SETLEASE, F_WRLCK) == 0 ? 'y' : 'n';
                (void)!write(ready[1], &ok, 1);
                pause(); /* holds the lease until killed */
                _exit(0);
        }
        char ok = 'n';
        cr_assert_eq(read(ready[0], &ok, 1), 1);
        if (ok != 'y') {
                kill(child, SIGKILL);
                waitpid(child, NULL, 0);
                cr_skip_test("no write leases in %s", tmp);
        }
        reg = new_registry((const char *[]){ "models", NULL }, NULL);
        gint64 t0 = g_get_monotonic_time();
        scan(reg);
        gint64 took = g_get_monotonic_time() - t0;
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        assert_reason(must_find(reg, "leased"), "write lease");
        cr_assert_lt(took, 5 * G_USEC_PER_SEC, "the scan waited %" G_GINT64_FORMAT " us for the lease",
                        took);
}

Test(registry, no_configuration_no_models)
{
        cr_assert_eq(registry_new(NULL, &reg), 0);
        bool changed = true;
        cr_assert_eq(registry_scan(reg, &changed), 0);
        cr_assert(!changed);
        cr_assert_eq(registry_n_entries(reg), 0);
        cr_assert_null(registry_default_model(reg, "text"));
        cr_assert_null(registry_watch_dirs(reg)[0]);
}
