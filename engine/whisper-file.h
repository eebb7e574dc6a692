/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Reader for whisper.cpp's legacy ggml model files (`ggml-*.bin`): hyper-parameters, mel
 * filter bank, vocabulary and the tensor directory. Mapped read-only and validated as
 * strictly as GGUF (see gguf.h): after a successful open, every pointer is inside the
 * mapping. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define WHISPER_FILE_MAGIC 0x67676d6cu /* "ggml" as a little-endian u32 */

struct whisper_hparams {
        int32_t n_vocab;
        int32_t n_audio_ctx;
        int32_t n_audio_state;
        int32_t n_audio_head;
        int32_t n_audio_layer;
        int32_t n_text_ctx;
        int32_t n_text_state;
        int32_t n_text_head;
        int32_t n_text_layer;
        int32_t n_mels;
        /* ggml's file type (0 F32, 1 F16, 2 Q4_0, 3 Q4_1, 7 Q8_0, 8 Q5_0, 9 Q5_1: the type of the
         * matrices) + 1000 x the quantization version. */
        int32_t ftype;
};

struct whisper_tensor {
        const char *name; /* NUL-terminated copy */
        uint32_t n_dims;
        int32_t ne[3];
        uint32_t type; /* enum ggml_type */
        uint64_t n_bytes;
        const void *data;     /* inside the mapping; not aligned (the format has no padding) */
        uint64_t file_offset; /* where data starts in the file */
};

struct whisper_file;

int whisper_file_open(const char *path, struct whisper_file **ret_file, struct aid_error *err);
int whisper_file_open_memory(
                const void *data, size_t size, struct whisper_file **ret_file, struct aid_error *err);
struct whisper_file *whisper_file_close(struct whisper_file *f); /* accepts NULL, returns NULL */

const struct whisper_hparams *whisper_file_hparams(const struct whisper_file *f);
uint64_t whisper_file_size(const struct whisper_file *f);

/* Mel filter bank: n_mel rows of n_fft floats (80 x 201 for Whisper). It starts at file
 * offset 56, so it is 4-byte aligned when the buffer given to whisper_file_open_memory() is. */
const float *whisper_file_mel_filters(
                const struct whisper_file *f, uint32_t *ret_n_mel, uint32_t *ret_n_fft);

/* Vocabulary entries stored in the file (whisper.cpp synthesises the rest of n_vocab). */
uint32_t whisper_file_n_tokens(const struct whisper_file *f);
const char *whisper_file_token(
                const struct whisper_file *f, uint32_t i, uint32_t *ret_len); /* not NUL-terminated */

uint64_t whisper_file_n_tensors(const struct whisper_file *f);
const struct whisper_tensor *whisper_file_tensor_at(const struct whisper_file *f, uint64_t i);
const struct whisper_tensor *whisper_file_find_tensor(const struct whisper_file *f, const char *name);

/* "tiny", "base", "small", "medium", "large" from the audio layer count, else "unknown". */
const char *whisper_file_model_type(const struct whisper_file *f);

/* The file type's name from hparams.ftype: "F32", "F16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0". */
const char *whisper_file_ftype_name(const struct whisper_file *f);
/* The ggml type of the weight matrices that ftype announces (enum ggml_type). */
uint32_t whisper_file_weight_type(const struct whisper_file *f);
