/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chat.h"
#include "ggml-type.h"
#include "gguf.h"
#include "macro.h"
#include "model-probe.h"
#include "whisper-file.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct gguf_file *, gguf_close);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct whisper_file *, whisper_file_close);

/* DESIGN.md's list of architectures the engine implements. */
static const char *const supported_architectures[] = {
        "llama",
        "qwen2",
        "phi3",
        "gemma3",
        "gemma3n",
        "whisper",
};

static bool architecture_supported(const char *arch)
{
        for (size_t i = 0; i < ELEMENTSOF(supported_architectures); i++)
                if (strcmp(arch, supported_architectures[i]) == 0)
                        return true;
        return false;
}

/* Counts per type and, separately, per type among matrices (n_dims >= 2), which is what a
 * file type describes: 1-D norms stay F32 in every quantized file. */
struct type_census {
        uint32_t all[_GGML_TYPE_MAX];
        uint32_t matrices[_GGML_TYPE_MAX];
        uint64_t n_params;
        uint32_t n_tensors;
};

static void census_add(struct type_census *c, uint32_t type, uint32_t n_dims, uint64_t n_elements)
{
        /* Both readers refuse types without traits, so type is in range; stay safe anyway. */
        if (type < _GGML_TYPE_MAX) {
                c->all[type]++;
                if (n_dims >= 2)
                        c->matrices[type]++;
        }
        if (__builtin_add_overflow(c->n_params, n_elements, &c->n_params))
                c->n_params = UINT64_MAX;
        c->n_tensors++;
}

static int compare_counts(const void *a, const void *b)
{
        const struct aid_tensor_type_count *x = a, *y = b;

        if (x->n_tensors != y->n_tensors)
                return x->n_tensors > y->n_tensors ? -1 : 1;
        return x->type < y->type ? -1 : x->type > y->type;
}

static int census_finish(const struct type_census *c, struct aid_model_meta *m)
{
        uint32_t n = 0;

        for (uint32_t t = 0; t < _GGML_TYPE_MAX; t++)
                n += c->all[t] > 0;
        m->n_params = c->n_params;
        m->n_tensors = c->n_tensors;
        if (n == 0)
                return 0;

        m->tensor_types = calloc(n, sizeof(*m->tensor_types));
        if (!m->tensor_types)
                return -ENOMEM;
        for (uint32_t t = 0; t < _GGML_TYPE_MAX; t++)
                if (c->all[t] > 0)
                        m->tensor_types[m->n_tensor_types++] =
                                        (struct aid_tensor_type_count){ t, c->all[t] };
        qsort(m->tensor_types, m->n_tensor_types, sizeof(*m->tensor_types), compare_counts);
        return 0;
}

/* The type most matrices have (lowest type number on a tie), else the most frequent type. */
static const char *dominant_type_name(const struct type_census *c)
{
        uint32_t best = UINT32_MAX, best_count = 0;

        for (uint32_t t = 0; t < _GGML_TYPE_MAX; t++)
                if (c->matrices[t] > best_count) {
                        best = t;
                        best_count = c->matrices[t];
                }
        for (uint32_t t = 0; best == UINT32_MAX && t < _GGML_TYPE_MAX; t++)
                if (c->all[t] > best_count) {
                        best = t;
                        best_count = c->all[t];
                }
        return best == UINT32_MAX ? NULL : ggml_type_name(best);
}

/* The first reason, in the order a user would fix them: a file without weights, a model the
 * engine has no code for, a tensor type it cannot compute with. */
static int set_unsupported_reason(struct aid_model_meta *m)
{
        int r = 0;

        if (m->n_tensors == 0)
                r = asprintf(&m->unsupported_reason, "vocabulary-only file: it has no weights");
        else if (!architecture_supported(m->architecture))
                r = asprintf(&m->unsupported_reason, "architecture '%s' is not supported by aid's engine",
                                m->architecture);
        else
                for (uint32_t i = 0; i < m->n_tensor_types; i++)
                        if (!ggml_type_is_supported(m->tensor_types[i].type)) {
                                r = asprintf(&m->unsupported_reason,
                                                "tensor type %s is not supported by aid's engine yet",
                                                ggml_type_name(m->tensor_types[i].type));
                                break;
                        }
        if (r < 0) {
                m->unsupported_reason = NULL;
                return -ENOMEM;
        }
        return 0;
}

/* What a chat with this model gets: see chat_template in model-probe.h. */
static int probe_chat_template(const struct gguf_file *f, struct aid_model_meta *m)
{
        struct aid_chat_template *t = NULL;
        int r = aid_chat_template_from_gguf(f, &t, NULL);
        const char *name = r == -ENODATA ? "none"
                           : r < 0       ? "unrecognised"
                                         : aid_chat_family_name(aid_chat_template_family(t));

        if (r == -ENOMEM)
                return r;
        m->chat_keeps_system = t && aid_chat_template_keeps_system(t);
        aid_chat_template_free(t);
        m->chat_template = strdup(name);
        return m->chat_template ? 0 : -ENOMEM;
}

static int probe_gguf(const char *path, struct aid_model_meta *m, struct aid_error *err)
{
        _cleanup_(gguf_closep) struct gguf_file *f = NULL;
        _cleanup_free_ char *context_key = NULL;
        struct type_census census = { 0 };
        struct gguf_str s;
        uint32_t file_type;
        const char *ftname = NULL;
        int r;

        r = gguf_open(path, &f, err);
        if (r < 0)
                return r;

        m->format = AID_MODEL_FORMAT_GGUF;
        m->file_size = gguf_file_size(f);

        r = gguf_get_str(f, "general.architecture", &s, err);
        if (r < 0) {
                aid_error_prefix(err, "%s", path);
                return r;
        }
        if (s.len == 0 || memchr(s.data, '\0', s.len))
                return aid_error_set(err, -EBADMSG,
                                "%s: key 'general.architecture' is empty or holds a NUL byte", path);
        m->architecture = gguf_str_dup(s);
        if (!m->architecture)
                return -ENOMEM;

        /* Optional keys: absent or of another type, the field stays unknown. */
        if (gguf_get_str(f, "general.name", &s, NULL) >= 0) {
                m->name = gguf_str_dup(s);
                if (!m->name)
                        return -ENOMEM;
        }
        if (asprintf(&context_key, "%s.context_length", m->architecture) < 0) {
                context_key = NULL;
                return -ENOMEM;
        }
        if (gguf_get_u64(f, context_key, &m->context_length, NULL) < 0)
                m->context_length = 0;

        for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
                const struct gguf_tensor *t = gguf_tensor_at(f, i);

                census_add(&census, t->type, t->n_dims, gguf_tensor_n_elements(t));
        }
        if (gguf_n_tensors(f) > UINT32_MAX)
                return aid_error_set(err, -E2BIG, "%s: %" PRIu64 " tensors are more than aid handles", path,
                                gguf_n_tensors(f));
        if (census_finish(&census, m) < 0)
                return -ENOMEM;

        /* general.file_type is what the quantizer announced; a file without it (or with a
         * value newer than our table) is named after what its matrices actually are. */
        if (gguf_get_u32(f, "general.file_type", &file_type, NULL) >= 0)
                ftname = ggml_file_type_name(file_type);
        if (!ftname)
                ftname = dominant_type_name(&census);
        if (ftname) {
                m->file_type = strdup(ftname);
                if (!m->file_type)
                        return -ENOMEM;
        }

        if (strcmp(m->architecture, "whisper") == 0)
                m->capability = strdup("speech");
        else if (strcmp(m->architecture, "clip") == 0) /* mmproj files: a vision tower */
                m->capability = strdup("vision");
        else
                m->capability = strdup("text");
        if (!m->capability)
                return -ENOMEM;
        if (strcmp(m->capability, "text") == 0) {
                r = probe_chat_template(f, m);
                if (r < 0)
                        return r;
        }

        return set_unsupported_reason(m);
}

static int probe_whisper(const char *path, struct aid_model_meta *m, struct aid_error *err)
{
        _cleanup_(whisper_file_closep) struct whisper_file *f = NULL;
        struct type_census census = { 0 };
        int r;

        r = whisper_file_open(path, &f, err);
        if (r < 0)
                return r;

        m->format = AID_MODEL_FORMAT_WHISPER_GGML;
        m->file_size = whisper_file_size(f);
        m->architecture = strdup("whisper");
        m->capability = strdup("speech");
        m->file_type = strdup(whisper_file_ftype_name(f));
        if (!m->architecture || !m->capability || !m->file_type ||
                        asprintf(&m->name, "whisper-%s", whisper_file_model_type(f)) < 0) {
                m->name = NULL;
                return -ENOMEM;
        }
        m->context_length = (uint64_t)whisper_file_hparams(f)->n_text_ctx;

        for (uint64_t i = 0; i < whisper_file_n_tensors(f); i++) {
                const struct whisper_tensor *t = whisper_file_tensor_at(f, i);
                uint64_t n = (uint64_t)t->ne[0] * (uint64_t)t->ne[1];

                /* The reader checked that the product fits in 64 bits. */
                census_add(&census, t->type, t->n_dims, n * (uint64_t)t->ne[2]);
        }
        if (whisper_file_n_tensors(f) > UINT32_MAX)
                return aid_error_set(err, -E2BIG, "%s: %" PRIu64 " tensors are more than aid handles", path,
                                whisper_file_n_tensors(f));
        if (census_finish(&census, m) < 0)
                return -ENOMEM;

        return set_unsupported_reason(m);
}

static int read_magic(const char *path, uint8_t magic[static 4], struct aid_error *err)
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        size_t got = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return aid_error_set(err, -errno, "%s: cannot open: %m", path);
        if (fstat(fd, &st) < 0)
                return aid_error_set(err, -errno, "%s: cannot stat: %m", path);
        if (S_ISDIR(st.st_mode))
                return aid_error_set(err, -EISDIR, "%s: is a directory, not a model file", path);
        if (!S_ISREG(st.st_mode))
                return aid_error_set(err, -EMEDIUMTYPE, "%s: not a regular file", path);

        while (got < 4) {
                ssize_t n = pread(fd, magic + got, 4 - got, (off_t)got);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return aid_error_set(err, -errno, "%s: cannot read: %m", path);
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        if (got == 0)
                return aid_error_set(err, -EMEDIUMTYPE,
                                "%s: the file is empty (0 bytes): not a model file (an interrupted "
                                "download?)",
                                path);
        if (got < 4)
                return aid_error_set(err, -EMEDIUMTYPE, "%s: %zu bytes are too short for a model file", path,
                                got);
        return 0;
}

int aid_model_probe(const char *path, struct aid_model_meta *ret, struct aid_error *err)
{
        struct aid_model_meta m = { 0 };
        uint8_t magic[4];
        uint32_t le;
        int r;

        r = read_magic(path, magic, err);
        if (r < 0)
                return r;
        le = (uint32_t)magic[0] | (uint32_t)magic[1] << 8 | (uint32_t)magic[2] << 16 |
             (uint32_t)magic[3] << 24;

        if (le == GGUF_MAGIC)
                r = probe_gguf(path, &m, err);
        else if (le == WHISPER_FILE_MAGIC)
                r = probe_whisper(path, &m, err);
        else
                r = aid_error_set(err, -EMEDIUMTYPE,
                                "%s: not a model file: unknown magic 0x%08" PRIx32
                                ", expected GGUF or whisper.cpp ggml",
                                path, le);
        if (r == -ENOMEM)
                aid_error_set(err, r, "%s: out of memory", path);
        if (r < 0) {
                aid_model_meta_clear(&m);
                return r;
        }
        *ret = m;
        return 0;
}

void aid_model_meta_clear(struct aid_model_meta *m)
{
        if (!m)
                return;
        free(m->architecture);
        free(m->name);
        free(m->file_type);
        free(m->capability);
        free(m->tensor_types);
        free(m->unsupported_reason);
        free(m->chat_template);
        *m = (struct aid_model_meta){ 0 };
}
