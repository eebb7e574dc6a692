/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* whisper.cpp ggml model files come from the user's disk or a download: after a successful
 * open, every byte the reader hands out must lie inside the buffer (ASan checks each touch). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "whisper-file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

static void touch(const void *p, uint64_t n)
{
        if (n > 0) {
                sink ^= ((const uint8_t *)p)[0];
                sink ^= ((const uint8_t *)p)[n - 1];
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct aid_error err = { 0 };
        struct whisper_file *f = NULL;
        const struct whisper_hparams *hp;
        const float *filters;
        uint32_t n_mel, n_fft;

        if (whisper_file_open_memory(data, size, &f, &err) < 0) {
                /* A failure must always say why. */
                if (err.code >= 0 || err.message[0] == '\0')
                        __builtin_trap();
                return 0;
        }

        hp = whisper_file_hparams(f);
        if (hp->n_mels <= 0 || hp->n_audio_state % hp->n_audio_head != 0)
                __builtin_trap();
        (void)whisper_file_model_type(f);
        (void)whisper_file_ftype_name(f);

        filters = whisper_file_mel_filters(f, &n_mel, &n_fft);
        if (n_mel != (uint32_t)hp->n_mels)
                __builtin_trap();
        touch(filters, (uint64_t)n_mel * n_fft * sizeof(float));

        for (uint32_t i = 0; i < whisper_file_n_tokens(f); i++) {
                uint32_t len;
                const char *s = whisper_file_token(f, i, &len);

                touch(s, len);
        }

        for (uint64_t i = 0; i < whisper_file_n_tensors(f); i++) {
                const struct whisper_tensor *t = whisper_file_tensor_at(f, i);

                touch(t->data, t->n_bytes);
                if (t->n_bytes == 0 || t->file_offset + t->n_bytes > size)
                        __builtin_trap();
                /* Names are unique, so the lookup finds this very tensor. */
                if (whisper_file_find_tensor(f, t->name) != t || strlen(t->name) == 0)
                        __builtin_trap();
        }

        whisper_file_close(f);
        return 0;
}
