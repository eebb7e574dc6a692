/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The stores of other tools, faked in temporary trees laid out the way Ollama, the Hugging
 * Face hub and LM Studio lay them out, holding small real GGUF files from the fixtures. */

/* macro.h first: GLib #undefs MIN and MAX before defining its own, macro.h does not. */
#include "macro.h"
#include "model-stores.h"
#include "unprivileged.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIXTURE_MODEL "tiny-llama-v512-Q4_0.gguf"
#define DIGEST_A      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DIGEST_B      "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DIGEST_C      "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define DIGEST_CFG    "1111111111111111111111111111111111111111111111111111111111111111"

static char *tmp;
static char *closed_dir; /* made unreadable by a test; opened again before removal */
static char *model_bytes;
static gsize model_len;

static void setup(void)
{
        const char *fixtures = getenv("AID_FIXTURES");
        g_autofree char *model = g_build_filename(fixtures ? fixtures : "", "models", FIXTURE_MODEL, NULL);
        if (!fixtures || !g_file_test(model, G_FILE_TEST_IS_REGULAR))
                cr_skip_test("fixtures folder %s absent: the fake stores hold real GGUF files from it",
                                fixtures ? fixtures : "(AID_FIXTURES unset)");
        cr_assert(g_file_get_contents(model, &model_bytes, &model_len, NULL));
        tmp = g_dir_make_tmp("aid-test-stores-XXXXXX", NULL);
        cr_assert_not_null(tmp);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static void teardown(void)
{
        if (closed_dir)
                chmod(closed_dir, 0755);
        if (tmp)
                nftw(tmp, remove_one, 16, FTW_DEPTH | FTW_PHYS);
        g_clear_pointer(&closed_dir, g_free);
        g_clear_pointer(&tmp, g_free);
        g_clear_pointer(&model_bytes, g_free);
}

TestSuite(model_stores, .init = setup, .fini = teardown);

/* tmp/<rel>, with its parent folders created. */
static char *tpath(const char *rel)
{
        char *p = g_build_filename(tmp, rel, NULL);
        g_autofree char *parent = g_path_get_dirname(p);
        cr_assert_eq(g_mkdir_with_parents(parent, 0755), 0);
        return p;
}

static void write_text(const char *rel, const char *text)
{
        g_autofree char *p = tpath(rel);
        cr_assert(g_file_set_contents(p, text, -1, NULL));
}

static void put_model(const char *rel)
{
        g_autofree char *p = tpath(rel);
        cr_assert(g_file_set_contents(p, model_bytes, (gssize)model_len, NULL));
}

static void put_symlink(const char *target, const char *rel)
{
        g_autofree char *p = tpath(rel);
        cr_assert_eq(symlink(target, p), 0, "symlink %s: %m", p);
}

static char *manifest(const char *model_digest)
{
        return g_strdup_printf(
                        "{\"schemaVersion\":2,"
                        "\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
                        "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
                        "\"digest\":\"sha256:" DIGEST_CFG "\",\"size\":485},"
                        "\"layers\":["
                        "{\"mediaType\":\"application/"
                        "vnd.ollama.image.license\",\"digest\":\"sha256:" DIGEST_C "\",\"size\":7},"
                        "{\"mediaType\":\"application/"
                        "vnd.ollama.image.model\",\"digest\":\"sha256:%s\",\"size\":%zu},"
                        "{\"mediaType\":\"application/"
                        "vnd.ollama.image.template\",\"digest\":\"sha256:" DIGEST_C "\",\"size\":7}]}",
                        model_digest, (size_t)model_len);
}

/* An Ollama store below tmp/<root>: two models named by manifests, one orphan blob, and
 * manifests that must be skipped. */
static void make_ollama_store(const char *root)
{
        g_autofree char *blob_a = g_strdup_printf("%s/blobs/sha256-" DIGEST_A, root);
        g_autofree char *blob_b = g_strdup_printf("%s/blobs/sha256-" DIGEST_B, root);
        g_autofree char *blob_c = g_strdup_printf("%s/blobs/sha256-" DIGEST_C, root);
        put_model(blob_a);
        put_model(blob_b); /* orphan: no manifest names it */
        write_text(blob_c, "license");

        g_autofree char *m_a = manifest(DIGEST_A);
        g_autofree char *rel =
                        g_strdup_printf("%s/manifests/registry.ollama.ai/library/tinyllama/latest", root);
        write_text(rel, m_a);
        g_free(rel);
        rel = g_strdup_printf("%s/manifests/registry.ollama.ai/someone/tuned/q4", root);
        write_text(rel, m_a);
        g_free(rel);
        rel = g_strdup_printf("%s/manifests/hf.co/org/Repo-GGUF/Q4_0", root);
        write_text(rel, m_a);

        /* A manifest whose weights are missing, one that is not JSON, and one whose digest
         * tries to leave blobs/: none is a model. */
        g_autofree char *m_missing =
                        manifest("dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd");
        g_free(rel);
        rel = g_strdup_printf("%s/manifests/registry.ollama.ai/library/missing/latest", root);
        write_text(rel, m_missing);
        g_free(rel);
        rel = g_strdup_printf("%s/manifests/registry.ollama.ai/library/garbage/latest", root);
        write_text(rel, "{\"layers\": [ {\"mediaType\": 42}, \"x\" ");
        g_autofree char *m_evil = manifest("../../../../etc/passwd");
        g_free(rel);
        rel = g_strdup_printf("%s/manifests/registry.ollama.ai/library/evil/latest", root);
        write_text(rel, m_evil);
}

static struct model_store_list *list(const struct model_store_env *env)
{
        struct model_store_list *l = NULL;
        cr_assert_eq(model_stores_list(env, &l), 0);
        cr_assert_not_null(l);
        cr_assert_null(l->dirs[l->n_dirs]);
        return l;
}

static const struct model_store_candidate *find(
                const struct model_store_list *l, const char *source, const char *name)
{
        for (size_t i = 0; i < l->n_candidates; i++)
                if (strcmp(l->candidates[i].source, source) == 0 && strcmp(l->candidates[i].name, name) == 0)
                        return &l->candidates[i];
        return NULL;
}

static bool has_dir(const struct model_store_list *l, const char *rel)
{
        g_autofree char *p = g_build_filename(tmp, rel, NULL);
        for (size_t i = 0; i < l->n_dirs; i++)
                if (strcmp(l->dirs[i], p) == 0)
                        return true;
        return false;
}

static void assert_path(const struct model_store_candidate *c, const char *rel)
{
        cr_assert_not_null(c);
        g_autofree char *p = g_build_filename(tmp, rel, NULL);
        cr_assert_str_eq(c->path, p);
}

Test(model_stores, nothing_installed_is_not_an_error)
{
        g_autofree char *home = g_build_filename(tmp, "home", NULL);
        g_autofree char *sys = g_build_filename(tmp, "sys", NULL);
        struct model_store_env env = { .home = home, .system_root = sys };
        _cleanup_(model_store_list_freep) struct model_store_list *l = list(&env);
        cr_assert_eq(l->n_candidates, 0);
        cr_assert_eq(l->n_dirs, 0);

        struct model_store_env empty = { .system_root = sys };
        _cleanup_(model_store_list_freep) struct model_store_list *l2 = list(&empty);
        cr_assert_eq(l2->n_candidates, 0);
}

Test(model_stores, ollama_models_named_by_manifests)
{
        make_ollama_store("ollama");
        g_autofree char *root = g_build_filename(tmp, "ollama", NULL);
        g_autofree char *sys = g_build_filename(tmp, "sys", NULL);
        struct model_store_env env = { .ollama_models = root, .system_root = sys };
        _cleanup_(model_store_list_freep) struct model_store_list *l = list(&env);

        cr_assert_eq(l->n_candidates, 3, "got %zu candidates", l->n_candidates);
        assert_path(find(l, "ollama", "tinyllama:latest"), "ollama/blobs/sha256-" DIGEST_A);
        assert_path(find(l, "ollama", "someone/tuned:q4"), "ollama/blobs/sha256-" DIGEST_A);
        assert_path(find(l, "ollama", "hf.co/org/Repo-GGUF:Q4_0"), "ollama/blobs/sha256-" DIGEST_A);
        for (size_t i = 0; i < l->n_candidates; i++) {
                cr_assert_null(strstr(l->candidates[i].path, DIGEST_B), "orphan blob listed");
                cr_assert_null(strstr(l->candidates[i].name, "missing"));
                cr_assert_null(strstr(l->candidates[i].name, "evil"));
        }
        /* A model pulled later lands in a new folder below these. */
        cr_assert(has_dir(l, "ollama"));
        cr_assert(has_dir(l, "ollama/manifests"));
        cr_assert(has_dir(l, "ollama/manifests/registry.ollama.ai/library"));
        cr_assert(has_dir(l, "ollama/manifests/registry.ollama.ai/library/tinyllama"));
}

Test(model_stores, ollama_old_blob_names_with_colon)
{
        g_autofree char *m = manifest(DIGEST_A);
        write_text("o/manifests/registry.ollama.ai/library/old/7b", m);
        put_model("o/blobs/sha256:" DIGEST_A);
        g_autofree char *root = g_build_filename(tmp, "o", NULL);
        struct model_store_env env = { .ollama_models = root, .system_root = tmp };
        _cleanup_(model_store_list_freep) struct model_store_list *l = list(&env);
        cr_assert_eq(l->n_candidates, 1);
        assert_path(find(l, "ollama", "old:7b"), "o/blobs/sha256:" DIGEST_A);
}

Test(model_stores, ollama_env_overrides_home_default)
{
        make_ollama_store("home/.ollama/models");
        g_autofree char *m = manifest(DIGEST_A);
        write_text("elsewhere/manifests/registry.ollama.ai/library/other/latest", m);
        put_model("elsewhere/blobs/sha256-" DIGEST_A);

        g_autofree char *home = g_build_filename(tmp, "home", NULL);
        g_autofree char *sys = g_build_filename(tmp, "sys", NULL);
        struct model_store_env env = { .home = home, .system_root = sys };
        _cleanup_(model_store_list_freep) struct model_store_list *l = list(&env);
        assert_path(find(l, "ollama", "tinyllama:latest"), "home/.ollama/models/blobs/sha256-" DIGEST_A);
        cr_assert_null(find(l, "ollama", "other:latest"));

        g_autofree char *elsewhere = g_build_filename(tmp, "elsewhere", NULL);
        env.ollama_models = elsewhere;
        _cleanup_(model_store_list_freep) struct model_store_list *l2 = list(&env);
        cr_assert_eq(l2->n_candidates, 1);
        assert_path(find(l2, "ollama", "other:latest"), "elsewhere/blobs/sha256-" DIGEST_A);

        /* "~/" means the home directory, as in the shell that set the variable. */
        env.ollama_models = "~/.ollama/models";
        _cleanup_(model_store_list_freep) struct model_store_list *l3 = list(&env);
        cr_assert_not_null(find(l3, "ollama", "tinyllama:latest"));
}

Test(model_stores, ollama_system_service_stores)
{
        make_ollama_store("sys/usr/share/ollama/.ollama/models");
        g_autofree char *m = manifest(DIGEST_A);
        write_text("sys/var/lib/ollama/manifests/registry.ollama.ai/library/arch/latest", m);
        put_model("sys/var/lib/ollama/blobs/sha256-" DIGEST_A);

        g_autofree char *sys = g_build_filename(tmp, "sys", NULL);
        g_autofree char *home = g_build_filename(tmp, "home", NULL);
        struct model_store_env env = { .home = home, .system_root = sys };
        _cleanup_(model_store_list_freep) struct model_store_list *l = list(&env);
        assert_path(find(l, "ollama", "tinyllama:latest"),
                        "sys/usr/share/ollama/.ollama/models/blobs/sha256-" DIGEST_A);
        assert_path(find(l, "ollama", "arch:latest"), "sys/var/lib/ollama/blobs/sha256-" DIGEST_A);
}

Test(model_stores, ollama_store_listed_once_when_reached_twice)
{
        make_ollama_store("home/.ollama/models");
        g_autofree char *home = g_build_filename(tmp, "home", NULL);
        g_autofree char *root = g_build_filename(tmp, "home/.ollama/models/", NULL);
        struct model_store_env env = { .home = home, .ollama_models = root, .system_root = tmp };
        /* The same store as the user's default and through a symlink as a "system" one. */
        put_symlink("../../../home/.ollama", "usr/share/ollama/.ollama");
        _cleanup_(model_store_list_freep) struct model_store_list *l = list(&env);
        cr_assert_eq(l->n_candidates, 3, "got %zu", l->n_candidates);
}

/* tmp/<hub>/models--org--tiny-GGUF: two revisions of model.gguf (refs/main names the newer),
 * a whisper file, PyTorch weights and a file in a subfolder. */
static void make_hf_repo(const char *hub, const char *repo_folder, bool with_ref)
{
        g_autofree char *r = g_build_filename(hub, repo_folder, NULL);
        g_autofree char *b1 = g_build_filename(r, "blobs", "1d2e3f", NULL);
        g_autofree char *b2 = g_build_filename(r, "blobs", "4a5b6c", NULL);
        g_autofree char *b3 = g_build_filename(r, "blobs", "7d8e9f", NULL);
        put_model(b1);
        put_model(b2);
        put_model(b3);
        g_autofree char *s1 = g_build_filename(r, "snapshots", "0aaa", "model.gguf", NULL);
        g_autofree char *s2 = g_build_filename(r, "snapshots", "9bbb", "model.gguf", NULL);
        g_autofree char *s3 = g_build_filename(r, "snapshots", "9bbb", "ggml-tiny.en.bin", NULL);
        g_autofree char *s4 = g_build_filename(r, "snapshots", "9bbb", "pytorch_model.bin", NULL);
        g_autofree char *s5 = g_build_filename(r, "snapshots", "9bbb", "q8", "model-q8.gguf", NULL);
        g_autofree char *s6 = g_build_filename(r, "snapshots", "9bbb", "broken.gguf", NULL);
        put_symlink("../../blobs/1d2e3f", s1);
        put_symlink("../../blobs/4a5b6c", s2);
        put_symlink("../../blobs/7d8e9f", s3);
        put_symlink("../../blobs/7d8e9f", s4);
        put_symlink("../../../blobs/4a5b6c", s5);
        put_symlink("../../blobs/incomplete", s6); /* dangling: not downloaded yet */
        if (with_ref) {
                g_autofree char *ref = g_build_filename(r, "refs", "main", NULL);
                write_text(ref, "9bbb");
        }
}

Test(model_stores, huggingface_snapshots_prefer_refs_main)
{
        make_hf_repo("hub", "models--org--tiny-GGUF", true);
        make_hf_repo("hub", "models--solo", false);
        put_model("hub/datasets--org--data/snapshots/1/data.gguf");
        g_autofree char *hub = g_build_filename(tmp, "hub", NULL);
        struct model_store_env env = { .hf_hub_cache = hub, .system_root = tmp };
        _cleanup_(model_store_list_freep) struct model_store_list *l = list(&env);

        assert_path(find(l, "huggingface", "org/tiny-GGUF/model.gguf"),
                        "hub/models--org--tiny-GGUF/snapshots/9bbb/model.gguf");
        assert_path(find(l, "huggingface", "org/tiny-GGUF/ggml-tiny.en.bin"),
                        "hub/models--org--tiny-GGUF/snapshots/9bbb/ggml-tiny.en.bin");
        assert_path(find(l, "huggingface", "org/tiny-GGUF/q8/model-q8.gguf"),
                        "hub/models--org--tiny-GGUF/snapshots/9bbb/q8/model-q8.gguf");
        /* Without refs/main one revision is listed, not both. */
        cr_assert_not_null(find(l, "huggingface", "solo/model.gguf"));
        cr_assert_eq(l->n_candidates, 6, "got %zu", l->n_candidates);
        for (size_t i = 0; i < l->n_candidates; i++) {
                cr_assert_null(strstr(l->candidates[i].name, "pytorch_model"));
                cr_assert_null(strstr(l->candidates[i].name, "broken"));
                cr_assert_null(strstr(l->candidates[i].name, "data"));
        }
        cr_assert(has_dir(l, "hub"));
        cr_assert(has_dir(l, "hub/models--org--tiny-GGUF/snapshots"));
        cr_assert(has_dir(l, "hub/models--org--tiny-GGUF/snapshots/9bbb/q8"));
}

Test(model_stores, huggingface_cache_location_precedence)
{
        make_hf_repo("a/hub", "models--org--from-hub-cache", true);
        make_hf_repo("b/hub", "models--org--from-hf-home", true);
        make_hf_repo("c/huggingface/hub", "models--org--from-xdg", true);
        make_hf_repo("home/.cache/huggingface/hub", "models--org--from-home", true);
        g_autofree char *a = g_build_filename(tmp, "a/hub", NULL);
        g_autofree char *b = g_build_filename(tmp, "b", NULL);
        g_autofree char *c = g_build_filename(tmp, "c", NULL);
        g_autofree char *home = g_build_filename(tmp, "home", NULL);
        struct model_store_env env = {
                .home = home,
                .xdg_cache_home = c,
                .hf_home = b,
                .hf_hub_cache = a,
                .system_root = tmp,
        };
        static const char *const expect[] = { "org/from-hub-cache/model.gguf", "org/from-hf-home/model.gguf",
                "org/from-xdg/model.gguf", "org/from-home/model.gguf" };
        for (size_t step = 0; step < G_N_ELEMENTS(expect); step++) {
                _cleanup_(model_store_list_freep) struct model_store_list *l = list(&env);
                for (size_t j = 0; j < G_N_ELEMENTS(expect); j++)
                        cr_assert_eq(find(l, "huggingface", expect[j]) != NULL, j == step, "step %zu: %s %s",
                                        step, expect[j], j == step ? "missing" : "listed");
                /* Unset the variable that won, in the order the hub library falls back. */
                if (step == 0)
                        env.hf_hub_cache = "";
                else if (step == 1)
                        env.hf_home = NULL;
                else if (step == 2)
                        env.xdg_cache_home = NULL;
        }
}

Test(model_stores, lmstudio_publisher_repo_files)
{
        put_model("home/.lmstudio/models/lmstudio-community/Tiny-GGUF/tiny-Q4_0.gguf");
        put_model("home/.lmstudio/models/lmstudio-community/Tiny-GGUF/mmproj/proj.gguf");
        put_model("home/.lmstudio/models/loose.gguf"); /* LM Studio ignores these */
        put_model("home/.lmstudio/models/publisher/loose.gguf");
        put_model("home/.lmstudio/models/pub/repo/readme.txt");
        put_model("home/.lmstudio/models/.internal/x/y/z.gguf");
        put_model("home/.cache/lm-studio/models/TheBloke/Old-GGUF/old.Q4_0.gguf");
        g_autofree char *home = g_build_filename(tmp, "home", NULL);
        struct model_store_env env = { .home = home, .system_root = tmp };
        _cleanup_(model_store_list_freep) struct model_store_list *l = list(&env);

        cr_assert_eq(l->n_candidates, 3, "got %zu", l->n_candidates);
        assert_path(find(l, "lmstudio", "lmstudio-community/Tiny-GGUF/tiny-Q4_0.gguf"),
                        "home/.lmstudio/models/lmstudio-community/Tiny-GGUF/tiny-Q4_0.gguf");
        cr_assert_not_null(find(l, "lmstudio", "lmstudio-community/Tiny-GGUF/mmproj/proj.gguf"));
        assert_path(find(l, "lmstudio", "TheBloke/Old-GGUF/old.Q4_0.gguf"),
                        "home/.cache/lm-studio/models/TheBloke/Old-GGUF/old.Q4_0.gguf");
        cr_assert(has_dir(l, "home/.lmstudio/models/lmstudio-community"));
        cr_assert(!has_dir(l, "home/.lmstudio/models/.internal"));
}

Test(model_stores, lmstudio_home_variable_and_pointer)
{
        put_model("home/.lmstudio/models/a/b/default.gguf");
        put_model("moved/models/a/b/pointed.gguf");
        put_model("env/models/a/b/from-env.gguf");
        g_autofree char *home = g_build_filename(tmp, "home", NULL);
        g_autofree char *moved = g_build_filename(tmp, "moved", NULL);
        g_autofree char *pointer = g_strdup_printf("%s\n", moved);
        write_text("home/.lmstudio-home-pointer", pointer);
        struct model_store_env env = { .home = home, .system_root = tmp };

        _cleanup_(model_store_list_freep) struct model_store_list *l = list(&env);
        cr_assert_eq(l->n_candidates, 1);
        cr_assert_not_null(find(l, "lmstudio", "a/b/pointed.gguf"));

        g_autofree char *envdir = g_build_filename(tmp, "env", NULL);
        env.lmstudio_home = envdir;
        _cleanup_(model_store_list_freep) struct model_store_list *l2 = list(&env);
        cr_assert_eq(l2->n_candidates, 1);
        cr_assert_not_null(find(l2, "lmstudio", "a/b/from-env.gguf"));
}

Test(model_stores, unreadable_folder_is_skipped)
{
        int r = become_unprivileged(tmp);

        if (r < 0)
                cr_skip_test("running as root and cannot become nobody (%s): root reads every file",
                                strerror(-r));
        put_model("home/.lmstudio/models/open/repo/ok.gguf");
        put_model("home/.lmstudio/models/closed/repo/hidden.gguf");
        closed_dir = g_build_filename(tmp, "home/.lmstudio/models/closed", NULL);
        cr_assert_eq(chmod(closed_dir, 0), 0);
        g_autofree char *home = g_build_filename(tmp, "home", NULL);
        struct model_store_env env = { .home = home, .system_root = tmp };
        _cleanup_(model_store_list_freep) struct model_store_list *l = list(&env);
        cr_assert_eq(l->n_candidates, 1);
        cr_assert_not_null(find(l, "lmstudio", "open/repo/ok.gguf"));
}

Test(model_stores, stable_order_by_source_then_path)
{
        make_ollama_store("home/.ollama/models");
        make_hf_repo("home/.cache/huggingface/hub", "models--org--tiny-GGUF", true);
        put_model("home/.lmstudio/models/p/r/z.gguf");
        put_model("home/.lmstudio/models/p/r/a.gguf");
        g_autofree char *home = g_build_filename(tmp, "home", NULL);
        struct model_store_env env = { .home = home, .system_root = tmp };
        _cleanup_(model_store_list_freep) struct model_store_list *l = list(&env);
        cr_assert_eq(l->n_candidates, 3 + 3 + 2);
        static const char *const sources[] = { "ollama", "huggingface", "lmstudio" };
        size_t s = 0;
        for (size_t i = 0; i < l->n_candidates; i++) {
                while (s < G_N_ELEMENTS(sources) && strcmp(l->candidates[i].source, sources[s]) != 0)
                        s++;
                cr_assert_lt(s, G_N_ELEMENTS(sources), "%s out of order", l->candidates[i].name);
                if (i > 0 && strcmp(l->candidates[i - 1].source, l->candidates[i].source) == 0)
                        cr_assert_leq(strcmp(l->candidates[i - 1].path, l->candidates[i].path), 0);
        }
}
