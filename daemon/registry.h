/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The model registry: which model files exist (in aid's configured directories and in the
 * stores of other local tools) and what their headers say, without loading any weights. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model-probe.h"

struct model_store_env;

struct registry_entry {
        char *id;     /* stable, unique: see registry.c for how it is derived */
        char *path;   /* absolute */
        char *source; /* "config", "ollama", "huggingface", "lmstudio" */
        uint64_t size;
        bool usable;
        char *reason;   /* why not usable; NULL when usable */
        bool have_meta; /* the header was read (meta is valid) */
        struct aid_model_meta meta;
};

struct registry_config {
        char **model_dirs;     /* aid's own directories, NULL-terminated; may be NULL */
        bool scan_user_stores; /* also Ollama, Hugging Face cache, LM Studio */
        /* Configured default model id per capability, or NULL for "choose one". */
        char *default_text;
        char *default_vision;
        char *default_speech;
        /* Where the user stores are (tests point it at temporary trees); NULL: the process
         * environment at each scan. Not copied: it must outlive the registry. */
        const struct model_store_env *store_env;
};

struct registry;

int registry_new(const struct registry_config *config, struct registry **ret);
struct registry *registry_free(struct registry *r); /* accepts NULL, returns NULL */

/* Rescans every directory. Entries whose file kept its path, size, mtime and inode keep their
 * header data (the file is not read again), so a rescan costs a walk and a stat per file.
 * Entries come in a stable order: aid's own directories first, then Ollama, Hugging Face and
 * LM Studio, each by path. *ret_changed (may be NULL) tells whether the set of entries or
 * any entry's content differs from before. Unreadable directories are skipped; unreadable
 * or corrupt files become entries with usable = false and a reason. */
int registry_scan(struct registry *r, bool *ret_changed);

size_t registry_n_entries(const struct registry *r);
/* Headers read since registry_new() (each probe opens the file): for logging a rescan. */
unsigned registry_n_probes(const struct registry *r);
const struct registry_entry *registry_entry_at(const struct registry *r, size_t i);
const struct registry_entry *registry_find(const struct registry *r, const char *id);

/* The model used for a capability ("text", "vision", "speech"): the configured one when it
 * exists, else the first usable model of that capability; NULL when none. */
const struct registry_entry *registry_default_model(const struct registry *r, const char *capability);

/* Directories the daemon should watch with inotify (existing ones only, NULL-terminated,
 * owned by the registry, valid until the next registry_scan()). */
char *const *registry_watch_dirs(const struct registry *r);
