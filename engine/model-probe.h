/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the model registry shows about a model file without loading its weights: the format
 * is recognised from the magic bytes, then the GGUF or whisper header is read and validated
 * (so a corrupt file is reported here, with the reason, and never reaches inference). */

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

enum aid_model_format {
        AID_MODEL_FORMAT_GGUF,
        AID_MODEL_FORMAT_WHISPER_GGML,
};

struct aid_tensor_type_count {
        uint32_t type; /* enum ggml_type */
        uint32_t n_tensors;
};

struct aid_model_meta {
        enum aid_model_format format;
        char *architecture; /* "llama", "gemma3", "whisper", ... */
        char *name;         /* general.name, or the whisper model type; may be NULL */
        char *file_type;    /* "Q4_K_M", "F16", ...; may be NULL */
        char *capability;   /* "text", "speech", "vision" (mmproj/clip files): what aid would use it for */
        uint64_t n_params;  /* total elements of all tensors */
        /* Tokens: <arch>.context_length for GGUF; for whisper files the decoder's text context
         * (n_text_ctx, 448 in every Whisper model); 0 if unknown. */
        uint64_t context_length;
        uint64_t file_size;
        uint32_t n_tensors;
        /* Distinct tensor types, most frequent first. */
        struct aid_tensor_type_count *tensor_types;
        uint32_t n_tensor_types;
        /* The file is valid, but aid's engine cannot run it (unknown architecture, a tensor type
         * the engine lacks, or a vocabulary-only file): the reason, else NULL. */
        char *unsupported_reason;
        /* Text models: the family of tokenizer.chat_template as aid formats it ("gemma",
         * "llama3", "chatml", "phi3"), "none" without one, "unrecognised" for one aid cannot
         * format (both: completion only); NULL for other models. chat_keeps_system: whether a
         * chat's system prompt reaches the model (false where the template drops it). */
        char *chat_template;
        bool chat_keeps_system;
};

/* 0 and *ret filled, or a negative errno with err naming the file and what is wrong with it:
 * -EMEDIUMTYPE for a file that is neither GGUF nor a whisper ggml file (empty files included),
 * the errno for a file that cannot be opened or read (-ENOENT, -EACCES, -EISDIR), -EBADMSG for
 * a corrupt or truncated file, -ENOKEY for a GGUF file without general.architecture.
 * *ret is untouched on failure; release it with aid_model_meta_clear(). */
int aid_model_probe(const char *path, struct aid_model_meta *ret, struct aid_error *err);
void aid_model_meta_clear(struct aid_model_meta *m);
