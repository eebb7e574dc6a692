/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Model files that other local tools already keep on this machine (Ollama, the Hugging Face
 * hub cache, LM Studio), found where those tools put them, read-only. aid never writes into
 * these stores; it only lists the files so that a user's existing models show up in aid. */

#include <stdbool.h>
#include <stddef.h>

/* The parts of the environment that say where the stores are. Every field may be NULL (unset;
 * an empty string counts as unset, as in the tools themselves). Tests point these at
 * temporary trees; the daemon fills it with model_store_env_from_environ(). */
struct model_store_env {
        const char *home;                  /* $HOME */
        const char *xdg_cache_home;        /* $XDG_CACHE_HOME */
        const char *ollama_models;         /* $OLLAMA_MODELS */
        const char *hf_hub_cache;          /* $HF_HUB_CACHE */
        const char *huggingface_hub_cache; /* $HUGGINGFACE_HUB_CACHE (older name) */
        const char *hf_home;               /* $HF_HOME */
        const char *lmstudio_home;         /* $LMSTUDIO_HOME */
        /* Prepended to the system-wide locations (/usr/share/ollama, /var/lib/ollama), so that
         * tests can fake them; NULL means the real root. */
        const char *system_root;
};

struct model_store_candidate {
        char *path;   /* absolute; may be a symlink (Hugging Face snapshots are) */
        char *source; /* "ollama", "huggingface", "lmstudio" */
        char *name;   /* "llama3.2:3b", "org/repo/file.gguf", "publisher/repo/file.gguf" */
};

struct model_store_list {
        struct model_store_candidate *candidates;
        size_t n_candidates;
        /* Existing directories that were read, for inotify: a store root and every directory
         * below it that was descended into, so a new model anywhere in a store is noticed.
         * NULL-terminated. */
        char **dirs;
        size_t n_dirs;
};

/* Reads the variables above from the process environment (the pointers stay owned by it). */
void model_store_env_from_environ(struct model_store_env *ret);

/* Lists every model file in every store that exists. Missing stores are not an error and
 * unreadable directories or manifests are skipped. Candidates come in a stable order: by
 * source (ollama, huggingface, lmstudio), then by path, then by name. Returns 0 or -ENOMEM. */
int model_stores_list(const struct model_store_env *env, struct model_store_list **ret);

struct model_store_list *model_store_list_free(struct model_store_list *l);
static inline void model_store_list_freep(struct model_store_list **l)
{
        if (*l)
                *l = model_store_list_free(*l);
}
