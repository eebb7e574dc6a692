/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ggml-type.h"
#include "macro.h"
#include "whisper-file.h"

/* Layout (whisper.cpp's whisper_model_load(), little-endian, no padding anywhere):
 *   u32 magic; 11 x i32 hparams;
 *   i32 n_mel, i32 n_fft, n_mel * n_fft f32 mel filters;
 *   i32 count, count x (u32 len, len bytes) vocabulary;
 *   tensors until the end of the file: i32 n_dims, i32 name_len, i32 ttype,
 *   n_dims x i32 ne, name_len bytes name, data. */

/* Beyond these limits no published Whisper model exists (large-v3: n_vocab 51866, 32 layers,
 * 128 mels, state 1280); they keep every later size computation small. */
#define MAX_VOCAB  (1 << 20)
#define MAX_CTX    (1 << 16)
#define MAX_STATE  (1 << 16)
#define MAX_LAYERS 256
#define MAX_MELS   512
#define MAX_FFT    (1 << 16)
#define MAX_NAME   255
#define MAX_DIMS   3
/* ggml's GGML_QNT_VERSION: whisper.cpp stores ftype + 1000 * quantization version. */
#define QNT_VERSION 2
#define QNT_FACTOR  1000

struct whisper_token {
        const char *text;
        uint32_t len;
};

struct whisper_file {
        void *map; /* NULL when reading a caller's buffer */
        size_t map_size;

        const uint8_t *base;
        uint64_t size;

        struct whisper_hparams hparams;

        const float *filters;
        uint32_t n_mel, n_fft;

        struct whisper_token *tokens;
        uint32_t n_tokens;

        struct whisper_tensor *tensors;
        uint64_t n_tensors, n_allocated;

        /* Open-addressing index over tensor names: slot holds tensor index + 1, 0 = empty. */
        uint64_t *index;
        uint64_t index_size; /* power of two, at least twice n_tensors */
};

struct reader {
        const uint8_t *base;
        uint64_t size;
        uint64_t off;
};

static uint64_t left(const struct reader *r)
{
        return r->size - r->off;
}

/* Appends the common tail to a message saying what did not fit. */
_printf_(3, 4) static int past_end(const struct reader *r, struct aid_error *err, const char *fmt, ...)
{
        char what[384];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        return aid_error_set(err, -EBADMSG, "%s runs past the end of the file (size 0x%" PRIx64 ")", what,
                        r->size);
}

static uint32_t peek_u32(const struct reader *r)
{
        uint32_t v;

        memcpy(&v, r->base + r->off, sizeof(v));
        return le32toh(v);
}

/* Reads a little-endian 32-bit value; `what` names it in the message when it does not fit. */
static int read_u32(struct reader *r, uint32_t *ret, const char *what, struct aid_error *err)
{
        if (left(r) < 4)
                return past_end(r, err, "%s at offset 0x%" PRIx64, what, r->off);
        *ret = peek_u32(r);
        r->off += 4;
        return 0;
}

static int read_i32(struct reader *r, int32_t *ret, const char *what, struct aid_error *err)
{
        uint32_t u = 0;
        int k;

        k = read_u32(r, &u, what, err);
        if (k < 0)
                return k;
        *ret = (int32_t)u;
        return 0;
}

static const struct {
        const char *name;
        size_t field;
        int32_t max;
} hparam_table[] = {
        { "n_vocab", offsetof(struct whisper_hparams, n_vocab), MAX_VOCAB },
        { "n_audio_ctx", offsetof(struct whisper_hparams, n_audio_ctx), MAX_CTX },
        { "n_audio_state", offsetof(struct whisper_hparams, n_audio_state), MAX_STATE },
        { "n_audio_head", offsetof(struct whisper_hparams, n_audio_head), MAX_STATE },
        { "n_audio_layer", offsetof(struct whisper_hparams, n_audio_layer), MAX_LAYERS },
        { "n_text_ctx", offsetof(struct whisper_hparams, n_text_ctx), MAX_CTX },
        { "n_text_state", offsetof(struct whisper_hparams, n_text_state), MAX_STATE },
        { "n_text_head", offsetof(struct whisper_hparams, n_text_head), MAX_STATE },
        { "n_text_layer", offsetof(struct whisper_hparams, n_text_layer), MAX_LAYERS },
        { "n_mels", offsetof(struct whisper_hparams, n_mels), MAX_MELS },
        { "ftype", offsetof(struct whisper_hparams, ftype), INT32_MAX },
};

/* The file types whisper.cpp's quantize tool writes and its loader maps to a tensor type
 * (ggml's enum ggml_ftype; the low values coincide with llama.cpp's names). */
static const struct {
        int32_t ftype;
        const char *name;
        uint32_t type;
} ftype_table[] = {
        { 0, "F32", GGML_TYPE_F32 },
        { 1, "F16", GGML_TYPE_F16 },
        { 2, "Q4_0", GGML_TYPE_Q4_0 },
        { 3, "Q4_1", GGML_TYPE_Q4_1 },
        { 7, "Q8_0", GGML_TYPE_Q8_0 },
        { 8, "Q5_0", GGML_TYPE_Q5_0 },
        { 9, "Q5_1", GGML_TYPE_Q5_1 },
};

static int ftype_lookup(int32_t ftype)
{
        if (ftype < 0)
                return -1;
        for (size_t i = 0; i < ELEMENTSOF(ftype_table); i++)
                if (ftype_table[i].ftype == ftype % QNT_FACTOR)
                        return (int)i;
        return -1;
}

static bool tensor_type_allowed(uint32_t type)
{
        switch (type) {
        case GGML_TYPE_F32:
        case GGML_TYPE_F16:
        case GGML_TYPE_Q4_0:
        case GGML_TYPE_Q4_1:
        case GGML_TYPE_Q5_0:
        case GGML_TYPE_Q5_1:
        case GGML_TYPE_Q8_0:
                return true;
        default:
                return false;
        }
}

static int parse_hparams(struct reader *r, struct whisper_hparams *hp, struct aid_error *err)
{
        for (size_t i = 0; i < ELEMENTSOF(hparam_table); i++) {
                int32_t *v = (int32_t *)((uint8_t *)hp + hparam_table[i].field);
                uint64_t at = r->off;
                char what[64];
                int k;

                snprintf(what, sizeof(what), "hparams: %s", hparam_table[i].name);
                k = read_i32(r, v, what, err);
                if (k < 0)
                        return k;
                if (i == ELEMENTSOF(hparam_table) - 1) {
                        /* ftype may be 0 (F32); checked below with its own words. */
                        if (ftype_lookup(*v) < 0 || *v / QNT_FACTOR > QNT_VERSION)
                                return aid_error_set(err, -EBADMSG,
                                                "hparams: ftype %" PRIi32 " at offset 0x%" PRIx64
                                                " is not a file type whisper.cpp writes (F32, F16, "
                                                "Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, quantization version "
                                                "at most %d)",
                                                *v, at, QNT_VERSION);
                        continue;
                }
                if (*v <= 0)
                        return aid_error_set(err, -EBADMSG,
                                        "hparams: %s %" PRIi32 " at offset 0x%" PRIx64 " must be positive",
                                        hparam_table[i].name, *v, at);
                if (*v > hparam_table[i].max)
                        return aid_error_set(err, -EBADMSG,
                                        "hparams: %s %" PRIi32 " at offset 0x%" PRIx64
                                        " exceeds the limit %" PRIi32,
                                        hparam_table[i].name, *v, at, hparam_table[i].max);
        }

        /* Attention splits the state evenly across heads. */
        if (hp->n_audio_state % hp->n_audio_head != 0)
                return aid_error_set(err, -EBADMSG,
                                "hparams: n_audio_head %" PRIi32 " at offset 0x10 does not divide "
                                "n_audio_state %" PRIi32,
                                hp->n_audio_head, hp->n_audio_state);
        if (hp->n_text_state % hp->n_text_head != 0)
                return aid_error_set(err, -EBADMSG,
                                "hparams: n_text_head %" PRIi32 " at offset 0x20 does not divide "
                                "n_text_state %" PRIi32,
                                hp->n_text_head, hp->n_text_state);
        return 0;
}

static int parse_filters(struct reader *r, struct whisper_file *f, struct aid_error *err)
{
        int32_t n_mel = 0, n_fft = 0;
        uint64_t at, bytes;
        int k;

        at = r->off;
        k = read_i32(r, &n_mel, "mel filters: n_mel", err);
        if (k < 0)
                return k;
        if (n_mel != f->hparams.n_mels)
                return aid_error_set(err, -EBADMSG,
                                "mel filters: n_mel %" PRIi32 " at offset 0x%" PRIx64
                                " does not match hparams n_mels %" PRIi32,
                                n_mel, at, f->hparams.n_mels);

        at = r->off;
        k = read_i32(r, &n_fft, "mel filters: n_fft", err);
        if (k < 0)
                return k;
        if (n_fft <= 0 || n_fft > MAX_FFT)
                return aid_error_set(err, -EBADMSG,
                                "mel filters: n_fft %" PRIi32 " at offset 0x%" PRIx64 " must be 1..%d",
                                n_fft, at, MAX_FFT);

        /* Both are bounded above, so this cannot overflow. */
        bytes = (uint64_t)n_mel * (uint64_t)n_fft * sizeof(float);
        if (bytes > left(r))
                return past_end(r, err,
                                "mel filters at offset 0x%" PRIx64 ": %" PRIi32 " x %" PRIi32
                                " floats (0x%" PRIx64 " bytes)",
                                r->off, n_mel, n_fft, bytes);

        f->filters = (const float *)(const void *)(r->base + r->off);
        f->n_mel = (uint32_t)n_mel;
        f->n_fft = (uint32_t)n_fft;
        r->off += bytes;
        return 0;
}

static int parse_vocab(struct reader *r, struct whisper_file *f, struct aid_error *err)
{
        int32_t count = 0;
        uint64_t at = r->off;
        int k;

        k = read_i32(r, &count, "vocabulary: count", err);
        if (k < 0)
                return k;
        if (count < 0 || count > f->hparams.n_vocab)
                return aid_error_set(err, -EBADMSG,
                                "vocabulary: count %" PRIi32 " at offset 0x%" PRIx64
                                " must be 0..n_vocab (%" PRIi32 ")",
                                count, at, f->hparams.n_vocab);
        /* Each entry takes at least its 4-byte length: refuse before allocating. */
        if ((uint64_t)count * 4 > left(r))
                return past_end(r, err,
                                "vocabulary at offset 0x%" PRIx64 ": %" PRIi32
                                " entries of at least 4 bytes",
                                r->off, count);

        f->tokens = calloc(MAX(count, 1), sizeof(struct whisper_token));
        if (!f->tokens)
                return aid_error_set(
                                err, -ENOMEM, "vocabulary: out of memory for %" PRIi32 " entries", count);

        for (int32_t i = 0; i < count; i++) {
                uint32_t len;

                at = r->off;
                if (left(r) < 4)
                        return past_end(r, err,
                                        "vocabulary: length of token %" PRIi32 " at offset 0x%" PRIx64, i,
                                        at);
                len = peek_u32(r);
                r->off += 4;
                if (len > left(r))
                        return past_end(r, err,
                                        "vocabulary: token %" PRIi32 " at offset 0x%" PRIx64
                                        ": length 0x%" PRIx32,
                                        i, at, len);
                f->tokens[i] = (struct whisper_token){ (const char *)r->base + r->off, len };
                r->off += len;
        }
        f->n_tokens = (uint32_t)count;
        return 0;
}

/* FNV-1a: names are short and few; any reasonable hash does. */
static uint64_t name_hash(const char *s)
{
        uint64_t h = 0xcbf29ce484222325ull;

        for (; *s; s++)
                h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
        return h;
}

static uint64_t *index_slot(
                uint64_t *index, uint64_t index_size, const struct whisper_tensor *tensors, const char *name)
{
        uint64_t i = name_hash(name) & (index_size - 1);

        while (index[i] != 0 && strcmp(tensors[index[i] - 1].name, name) != 0)
                i = (i + 1) & (index_size - 1);
        return &index[i];
}

static int index_grow(struct whisper_file *f)
{
        uint64_t size = f->index_size ? f->index_size * 2 : 64;
        uint64_t *index;

        index = calloc(size, sizeof(uint64_t));
        if (!index)
                return -ENOMEM;
        for (uint64_t i = 0; i < f->n_tensors; i++)
                *index_slot(index, size, f->tensors, f->tensors[i].name) = i + 1;
        free(f->index);
        f->index = index;
        f->index_size = size;
        return 0;
}

static int tensor_append(struct whisper_file *f, const struct whisper_tensor *t)
{
        uint64_t *slot;

        if (f->n_tensors == f->n_allocated) {
                uint64_t n = f->n_allocated ? f->n_allocated * 2 : 128;
                struct whisper_tensor *p = reallocarray(f->tensors, n, sizeof(*p));

                if (!p)
                        return -ENOMEM;
                f->tensors = p;
                f->n_allocated = n;
        }
        if ((f->n_tensors + 1) * 2 > f->index_size && index_grow(f) < 0)
                return -ENOMEM;

        f->tensors[f->n_tensors] = *t;
        slot = index_slot(f->index, f->index_size, f->tensors, t->name);
        *slot = ++f->n_tensors;
        return 0;
}

static int parse_tensor(struct reader *r, struct whisper_file *f, struct aid_error *err)
{
        uint64_t at = r->off, nr = f->n_tensors, n_elements = 1, row_bytes, n_bytes;
        int32_t n_dims = 0, name_len = 0, ttype, ne[MAX_DIMS] = { 1, 1, 1 };
        _cleanup_free_ char *name = NULL;
        const struct ggml_type_traits *tr;
        struct whisper_tensor t;
        uint64_t *slot;
        char what[64];
        int k;

        snprintf(what, sizeof(what), "tensor #%" PRIu64 ": n_dims", nr);
        k = read_i32(r, &n_dims, what, err);
        if (k < 0)
                return k;
        if (n_dims < 1 || n_dims > MAX_DIMS)
                return aid_error_set(err, -EBADMSG,
                                "tensor #%" PRIu64 " at offset 0x%" PRIx64 ": n_dims %" PRIi32
                                " must be 1..%d",
                                nr, at, n_dims, MAX_DIMS);

        snprintf(what, sizeof(what), "tensor #%" PRIu64 ": name length", nr);
        k = read_i32(r, &name_len, what, err);
        if (k < 0)
                return k;
        if (name_len < 1 || name_len > MAX_NAME)
                return aid_error_set(err, -EBADMSG,
                                "tensor #%" PRIu64 " at offset 0x%" PRIx64 ": name length %" PRIi32
                                " must be 1..%d",
                                nr, at, name_len, MAX_NAME);

        /* The name follows type and dimensions; fetch it first so that every later message
         * can say which tensor is wrong. */
        if (left(r) < 4 + 4 * (uint64_t)n_dims + (uint64_t)name_len)
                return past_end(r, err,
                                "tensor #%" PRIu64 " at offset 0x%" PRIx64 ": header (%" PRIi32
                                " dimensions, name of %" PRIi32 " bytes)",
                                nr, at, n_dims, name_len);
        name = strndup((const char *)r->base + r->off + 4 + 4 * n_dims, name_len);
        if (!name)
                return aid_error_set(err, -ENOMEM, "tensor #%" PRIu64 ": out of memory", nr);
        if (strlen(name) != (size_t)name_len)
                return aid_error_set(err, -EBADMSG,
                                "tensor #%" PRIu64 " at offset 0x%" PRIx64 ": name contains a NUL byte", nr,
                                at);

        ttype = (int32_t)peek_u32(r);
        r->off += 4;
        if (ttype < 0 || !tensor_type_allowed((uint32_t)ttype))
                return aid_error_set(err, -EBADMSG,
                                "tensor '%s' at offset 0x%" PRIx64 ": type %" PRIi32 " (%s) is not one "
                                "whisper.cpp files hold (F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0)",
                                name, at, ttype, ggml_type_name((uint32_t)ttype));

        for (int32_t d = 0; d < n_dims; d++) {
                ne[d] = (int32_t)peek_u32(r);
                if (ne[d] < 1)
                        return aid_error_set(err, -EBADMSG,
                                        "tensor '%s' at offset 0x%" PRIx64 ": ne[%" PRIi32 "] %" PRIi32
                                        " at offset 0x%" PRIx64 " must be positive",
                                        name, at, d, ne[d], r->off);
                r->off += 4;
                /* Three 31-bit factors fit in 93 bits, not 64. */
                if (__builtin_mul_overflow(n_elements, (uint64_t)ne[d], &n_elements))
                        return aid_error_set(err, -EBADMSG,
                                        "tensor '%s' at offset 0x%" PRIx64 ": element count overflows", name,
                                        at);
        }
        r->off += (uint64_t)name_len;

        tr = ggml_type_traits_get((uint32_t)ttype);
        k = ggml_row_bytes((uint32_t)ttype, (uint64_t)ne[0], &row_bytes);
        if (k == -EINVAL)
                return aid_error_set(err, -EBADMSG,
                                "tensor '%s' at offset 0x%" PRIx64 ": ne[0] %" PRIi32
                                " is not a multiple of the %s block size %" PRIu32,
                                name, at, ne[0], tr->name, tr->block_elems);
        if (k < 0 || __builtin_mul_overflow(row_bytes, (uint64_t)ne[1] * (uint64_t)ne[2], &n_bytes))
                return aid_error_set(err, -EBADMSG,
                                "tensor '%s' at offset 0x%" PRIx64 ": data size overflows", name, at);
        if (n_bytes > left(r))
                return past_end(r, err, "tensor '%s' at offset 0x%" PRIx64 ": data size 0x%" PRIx64, name,
                                at, n_bytes);

        slot = f->index_size ? index_slot(f->index, f->index_size, f->tensors, name) : NULL;
        if (slot && *slot != 0)
                return aid_error_set(err, -EBADMSG,
                                "tensor '%s' at offset 0x%" PRIx64 ": duplicate name (tensor #%" PRIu64
                                " has it, data at offset 0x%" PRIx64 ")",
                                name, at, *slot - 1, f->tensors[*slot - 1].file_offset);

        t = (struct whisper_tensor){
                .name = name,
                .n_dims = (uint32_t)n_dims,
                .ne = { ne[0], ne[1], ne[2] },
                .type = (uint32_t)ttype,
                .n_bytes = n_bytes,
                .data = r->base + r->off,
                .file_offset = r->off,
        };
        if (tensor_append(f, &t) < 0)
                return aid_error_set(err, -ENOMEM, "tensor '%s': out of memory", name);
        TAKE_PTR(name);
        r->off += n_bytes;
        return 0;
}

static int parse(struct whisper_file *f, struct aid_error *err)
{
        struct reader r = { .base = f->base, .size = f->size };
        uint32_t magic = 0;
        int k;

        if (f->size == 0)
                return aid_error_set(err, -EBADMSG, "the file is empty");
        k = read_u32(&r, &magic, "magic", err);
        if (k < 0)
                return k;
        if (magic != WHISPER_FILE_MAGIC)
                return aid_error_set(err, -EMEDIUMTYPE,
                                "not a whisper.cpp ggml file: magic 0x%08" PRIx32
                                " at offset 0x0, expected 0x%08x",
                                magic, WHISPER_FILE_MAGIC);

        k = parse_hparams(&r, &f->hparams, err);
        if (k < 0)
                return k;
        k = parse_filters(&r, f, err);
        if (k < 0)
                return k;
        k = parse_vocab(&r, f, err);
        if (k < 0)
                return k;
        while (left(&r) > 0) {
                k = parse_tensor(&r, f, err);
                if (k < 0)
                        return k;
        }
        return 0;
}

struct whisper_file *whisper_file_close(struct whisper_file *f)
{
        if (!f)
                return NULL;
        for (uint64_t i = 0; i < f->n_tensors; i++)
                free((char *)f->tensors[i].name);
        free(f->tensors);
        free(f->index);
        free(f->tokens);
        if (f->map)
                munmap(f->map, f->map_size);
        free(f);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct whisper_file *, whisper_file_close);

int whisper_file_open_memory(
                const void *data, size_t size, struct whisper_file **ret_file, struct aid_error *err)
{
        _cleanup_(whisper_file_closep) struct whisper_file *f = NULL;
        int k;

        if (!data && size > 0)
                return aid_error_set(err, -EINVAL, "no buffer given");
        f = calloc(1, sizeof(*f));
        if (!f)
                return aid_error_set(err, -ENOMEM, "out of memory");
        f->base = data;
        f->size = size;
        k = parse(f, err);
        if (k < 0)
                return k;
        *ret_file = TAKE_PTR(f);
        return 0;
}

int whisper_file_open(const char *path, struct whisper_file **ret_file, struct aid_error *err)
{
        _cleanup_(whisper_file_closep) struct whisper_file *f = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        int k;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return aid_error_set(err, -errno, "%s: cannot open: %m", path);
        if (fstat(fd, &st) < 0)
                return aid_error_set(err, -errno, "%s: cannot stat: %m", path);
        if (!S_ISREG(st.st_mode))
                return aid_error_set(err, -EBADFD, "%s: not a regular file", path);

        f = calloc(1, sizeof(*f));
        if (!f)
                return aid_error_set(err, -ENOMEM, "%s: out of memory", path);
        if (st.st_size > 0) {
                if ((uint64_t)st.st_size > SIZE_MAX)
                        return aid_error_set(err, -EFBIG, "%s: too large to map", path);
                f->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
                if (f->map == MAP_FAILED) {
                        f->map = NULL;
                        return aid_error_set(err, -errno, "%s: cannot map: %m", path);
                }
                f->map_size = (size_t)st.st_size;
                f->base = f->map;
                f->size = (uint64_t)st.st_size;
        }

        k = parse(f, err);
        if (k < 0) {
                aid_error_prefix(err, "%s", path);
                return k;
        }
        *ret_file = TAKE_PTR(f);
        return 0;
}

const struct whisper_hparams *whisper_file_hparams(const struct whisper_file *f)
{
        return &f->hparams;
}

uint64_t whisper_file_size(const struct whisper_file *f)
{
        return f->size;
}

const float *whisper_file_mel_filters(const struct whisper_file *f, uint32_t *ret_n_mel, uint32_t *ret_n_fft)
{
        if (ret_n_mel)
                *ret_n_mel = f->n_mel;
        if (ret_n_fft)
                *ret_n_fft = f->n_fft;
        return f->filters;
}

uint32_t whisper_file_n_tokens(const struct whisper_file *f)
{
        return f->n_tokens;
}

const char *whisper_file_token(const struct whisper_file *f, uint32_t i, uint32_t *ret_len)
{
        if (i >= f->n_tokens)
                return NULL;
        if (ret_len)
                *ret_len = f->tokens[i].len;
        return f->tokens[i].text;
}

uint64_t whisper_file_n_tensors(const struct whisper_file *f)
{
        return f->n_tensors;
}

const struct whisper_tensor *whisper_file_tensor_at(const struct whisper_file *f, uint64_t i)
{
        return i < f->n_tensors ? &f->tensors[i] : NULL;
}

const struct whisper_tensor *whisper_file_find_tensor(const struct whisper_file *f, const char *name)
{
        uint64_t *slot;

        if (!name || f->index_size == 0)
                return NULL;
        slot = index_slot(f->index, f->index_size, f->tensors, name);
        return *slot ? &f->tensors[*slot - 1] : NULL;
}

const char *whisper_file_model_type(const struct whisper_file *f)
{
        switch (f->hparams.n_audio_layer) {
        case 4:
                return "tiny";
        case 6:
                return "base";
        case 12:
                return "small";
        case 24:
                return "medium";
        case 32:
                return "large";
        default:
                return "unknown";
        }
}

const char *whisper_file_ftype_name(const struct whisper_file *f)
{
        int i = ftype_lookup(f->hparams.ftype);

        return i >= 0 ? ftype_table[i].name : "unknown";
}

uint32_t whisper_file_weight_type(const struct whisper_file *f)
{
        int i = ftype_lookup(f->hparams.ftype);

        return i >= 0 ? ftype_table[i].type : GGML_TYPE_F32;
}
