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

#include "gguf.h"
#include "macro.h"

/* Layout (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md), all little-endian:
 *   u32 magic, u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv × { string key, u32 type, value },
 *   n_tensors × { string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset },
 *   padding to the alignment, tensor data.
 * A string is u64 length + bytes; an array is u32 element type + u64 n + n elements. */

#define HEADER_SIZE 24u
/* Smallest possible encodings, used to bound counts by the bytes that are left before
 * anything is allocated from a count: a key/value is a key of >= 1 byte (8 + 1), a type (4)
 * and a value of >= 1 byte; a tensor info is a name of >= 1 byte (8 + 1), n_dims (4), one
 * dimension (8), a type (4) and an offset (8). */
#define MIN_KV_SIZE     (8u + 1u + 4u + 1u)
#define MIN_TENSOR_SIZE (8u + 1u + 4u + 8u + 4u + 8u)
#define MIN_STRING_SIZE 8u
#define MIN_ARRAY_SIZE  (4u + 8u)

/* Everything the parser allocates besides the two top-level tables (key copies, name copies,
 * string indexes, nested arrays) lives in one list and goes in gguf_close(). */
struct chunk {
        struct chunk *next;
        max_align_t data[];
};

struct gguf_file {
        const uint8_t *base;
        uint64_t size;
        void *map; /* NULL for gguf_open_memory() */
        size_t map_size;

        uint32_t version;
        uint32_t alignment;
        uint64_t data_offset;

        uint64_t n_kv;
        struct gguf_kv *kvs;
        const struct gguf_kv **kv_by_key; /* sorted by key, for lookups */

        uint64_t n_tensors;
        struct gguf_tensor *tensors;
        const struct gguf_tensor **tensor_by_name; /* sorted by name */

        struct chunk *chunks;
};

struct parser {
        struct gguf_file *f;
        uint64_t pos;
        struct aid_error *err;
        char ctx[160]; /* "key/value 12 ('tokenizer.ggml.tokens')": prefix of every message */
};

static void *arena_alloc(struct gguf_file *f, size_t n, size_t size)
{
        struct chunk *c;
        size_t bytes;

        if (__builtin_mul_overflow(n, size, &bytes) ||
                        __builtin_add_overflow(bytes, sizeof(struct chunk), &bytes))
                return NULL;
        c = malloc(bytes);
        if (!c)
                return NULL;
        c->next = f->chunks;
        f->chunks = c;
        return c->data;
}

static int failv(struct parser *p, int code, const char *fmt, va_list ap)
{
        char msg[sizeof(p->err->message)];

        vsnprintf(msg, sizeof(msg), fmt, ap);
        if (p->ctx[0])
                return aid_error_set(p->err, code, "%s: %s", p->ctx, msg);
        return aid_error_set(p->err, code, "%s", msg);
}

_printf_(3, 4) static int fail(struct parser *p, int code, const char *fmt, ...)
{
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = failv(p, code, fmt, ap);
        va_end(ap);
        return r;
}

/* Names go into one-line messages: control bytes become '?', long names are cut. */
static void printable(char *buf, size_t bufsz, const char *s, size_t len)
{
        size_t n = 0;

        for (size_t i = 0; i < len && n + 4 < bufsz; i++) {
                unsigned char c = (unsigned char)s[i];
                buf[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
        }
        if (n < len && n + 4 <= bufsz) {
                memcpy(buf + n, "...", 3);
                n += 3;
        }
        buf[n] = '\0';
}

static int need(struct parser *p, uint64_t n, const char *what)
{
        if (n > p->f->size - p->pos)
                return fail(p, -EBADMSG,
                                "%s at offset 0x%" PRIx64 " runs past the end of the file (size 0x%" PRIx64
                                ")",
                                what, p->pos, p->f->size);
        return 0;
}

static int read_u32(struct parser *p, const char *what, uint32_t *ret)
{
        uint32_t v;
        int r;

        r = need(p, sizeof(v), what);
        if (r < 0)
                return r;
        memcpy(&v, p->f->base + p->pos, sizeof(v));
        p->pos += sizeof(v);
        *ret = le32toh(v);
        return 0;
}

static int read_u64(struct parser *p, const char *what, uint64_t *ret)
{
        uint64_t v;
        int r;

        r = need(p, sizeof(v), what);
        if (r < 0)
                return r;
        memcpy(&v, p->f->base + p->pos, sizeof(v));
        p->pos += sizeof(v);
        *ret = le64toh(v);
        return 0;
}

static int read_str(struct parser *p, const char *what, struct gguf_str *ret)
{
        uint64_t at = p->pos, len;
        char field[64];
        int r;

        snprintf(field, sizeof(field), "%s length", what);
        r = read_u64(p, field, &len);
        if (r < 0)
                return r;
        if (len > p->f->size - p->pos)
                return fail(p, -EBADMSG,
                                "%s length 0x%" PRIx64 " at offset 0x%" PRIx64
                                " runs past the end of the file (size 0x%" PRIx64 ")",
                                what, len, at, p->f->size);
        ret->data = (const char *)p->f->base + p->pos;
        ret->len = len;
        p->pos += len;
        return 0;
}

/* Keys and tensor names: non-empty, no NUL inside, copied with a terminating NUL. */
static int read_name(struct parser *p, const char *what, uint64_t max_len, const char **ret)
{
        uint64_t at = p->pos;
        struct gguf_str s;
        char *copy;
        int r;

        r = read_str(p, what, &s);
        if (r < 0)
                return r;
        if (s.len == 0)
                return fail(p, -EBADMSG, "empty %s at offset 0x%" PRIx64, what, at);
        if (max_len > 0 && s.len > max_len)
                return fail(p, -EBADMSG,
                                "%s of %" PRIu64 " bytes at offset 0x%" PRIx64 " is longer than %" PRIu64,
                                what, s.len, at, max_len);
        if (memchr(s.data, '\0', s.len))
                return fail(p, -EBADMSG, "%s at offset 0x%" PRIx64 " contains a NUL byte", what, at);
        copy = arena_alloc(p->f, s.len + 1, 1);
        if (!copy)
                return fail(p, -ENOMEM, "out of memory copying the %s at offset 0x%" PRIx64, what, at);
        memcpy(copy, s.data, s.len);
        copy[s.len] = '\0';
        *ret = copy;
        return 0;
}

uint32_t gguf_value_type_size(uint32_t type)
{
        switch (type) {
        case GGUF_TYPE_UINT8:
        case GGUF_TYPE_INT8:
        case GGUF_TYPE_BOOL:
                return 1;
        case GGUF_TYPE_UINT16:
        case GGUF_TYPE_INT16:
                return 2;
        case GGUF_TYPE_UINT32:
        case GGUF_TYPE_INT32:
        case GGUF_TYPE_FLOAT32:
                return 4;
        case GGUF_TYPE_UINT64:
        case GGUF_TYPE_INT64:
        case GGUF_TYPE_FLOAT64:
                return 8;
        default:
                return 0;
        }
}

static bool type_is_unsigned(uint32_t t)
{
        return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32 ||
               t == GGUF_TYPE_UINT64;
}

static bool type_is_signed(uint32_t t)
{
        return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64;
}

/* Decodes one fixed-size little-endian element into the value's union. */
static void decode_scalar(uint32_t type, const uint8_t *src, struct gguf_value *v)
{
        uint8_t u8;
        uint16_t u16;
        uint32_t u32;
        uint64_t u64;
        float f32;
        double f64;

        v->type = type;
        switch (type) {
        case GGUF_TYPE_UINT8:
                v->u64 = src[0];
                break;
        case GGUF_TYPE_BOOL:
                /* llama.cpp reads any nonzero byte as true. */
                v->u64 = src[0] != 0;
                break;
        case GGUF_TYPE_INT8:
                memcpy(&u8, src, 1);
                v->i64 = (int8_t)u8;
                break;
        case GGUF_TYPE_UINT16:
                memcpy(&u16, src, 2);
                v->u64 = le16toh(u16);
                break;
        case GGUF_TYPE_INT16:
                memcpy(&u16, src, 2);
                v->i64 = (int16_t)le16toh(u16);
                break;
        case GGUF_TYPE_UINT32:
                memcpy(&u32, src, 4);
                v->u64 = le32toh(u32);
                break;
        case GGUF_TYPE_INT32:
                memcpy(&u32, src, 4);
                v->i64 = (int32_t)le32toh(u32);
                break;
        case GGUF_TYPE_FLOAT32:
                memcpy(&u32, src, 4);
                u32 = le32toh(u32);
                memcpy(&f32, &u32, 4);
                v->f64 = f32;
                break;
        case GGUF_TYPE_UINT64:
                memcpy(&u64, src, 8);
                v->u64 = le64toh(u64);
                break;
        case GGUF_TYPE_INT64:
                memcpy(&u64, src, 8);
                v->i64 = (int64_t)le64toh(u64);
                break;
        case GGUF_TYPE_FLOAT64:
                memcpy(&u64, src, 8);
                u64 = le64toh(u64);
                memcpy(&f64, &u64, 8);
                v->f64 = f64;
                break;
        default:
                break;
        }
}

/* The array header and elements at p->pos; depth counts this array (the outermost is 1). */
static int parse_array(struct parser *p, uint32_t depth, struct gguf_value *ret)
{
        uint64_t at = p->pos, n, min_bytes;
        uint32_t elem_type, elem_min;
        int r;

        r = read_u32(p, "array element type", &elem_type);
        if (r < 0)
                return r;
        if (elem_type >= _GGUF_TYPE_MAX)
                return fail(p, -EBADMSG, "unknown array element type %" PRIu32 " at offset 0x%" PRIx64,
                                elem_type, at);
        if (elem_type == GGUF_TYPE_ARRAY && depth >= GGUF_MAX_ARRAY_DEPTH)
                return fail(p, -EBADMSG, "arrays nested deeper than %u levels at offset 0x%" PRIx64,
                                GGUF_MAX_ARRAY_DEPTH, at);
        r = read_u64(p, "array length", &n);
        if (r < 0)
                return r;

        elem_min = elem_type == GGUF_TYPE_STRING  ? MIN_STRING_SIZE
                   : elem_type == GGUF_TYPE_ARRAY ? MIN_ARRAY_SIZE
                                                  : gguf_value_type_size(elem_type);
        if (__builtin_mul_overflow(n, (uint64_t)elem_min, &min_bytes) || min_bytes > p->f->size - p->pos)
                return fail(p, -EBADMSG,
                                "array of %" PRIu64 " %s elements at offset 0x%" PRIx64
                                " does not fit in the 0x%" PRIx64 " bytes left in the file (size 0x%" PRIx64
                                ")",
                                n, gguf_value_type_name(elem_type), at, p->f->size - p->pos, p->f->size);

        ret->type = GGUF_TYPE_ARRAY;
        ret->arr.elem_type = elem_type;
        ret->arr.n = n;
        ret->arr.data = NULL;

        if (elem_type == GGUF_TYPE_STRING) {
                struct gguf_str *index = NULL;

                if (n > 0) {
                        index = arena_alloc(p->f, n, sizeof(*index));
                        if (!index)
                                return fail(p, -ENOMEM,
                                                "out of memory for %" PRIu64
                                                " strings of the array at offset 0x%" PRIx64,
                                                n, at);
                }
                for (uint64_t i = 0; i < n; i++) {
                        r = read_str(p, "array string", &index[i]);
                        if (r < 0)
                                return r;
                }
                ret->arr.data = index;
        } else if (elem_type == GGUF_TYPE_ARRAY) {
                struct gguf_value *elems = NULL;

                if (n > 0) {
                        elems = arena_alloc(p->f, n, sizeof(*elems));
                        if (!elems)
                                return fail(p, -ENOMEM,
                                                "out of memory for %" PRIu64
                                                " arrays of the array at offset 0x%" PRIx64,
                                                n, at);
                }
                for (uint64_t i = 0; i < n; i++) {
                        r = parse_array(p, depth + 1, &elems[i]);
                        if (r < 0)
                                return r;
                }
                ret->arr.data = elems;
        } else {
                /* min_bytes is the exact size for fixed-size elements and was checked above. */
                ret->arr.data = p->f->base + p->pos;
                p->pos += min_bytes;
        }
        return 0;
}

static int parse_value(struct parser *p, uint32_t type, struct gguf_value *ret)
{
        uint32_t size;
        int r;

        if (type == GGUF_TYPE_STRING) {
                ret->type = GGUF_TYPE_STRING;
                return read_str(p, "string", &ret->str);
        }
        if (type == GGUF_TYPE_ARRAY)
                return parse_array(p, 1, ret);

        size = gguf_value_type_size(type);
        r = need(p, size, gguf_value_type_name(type));
        if (r < 0)
                return r;
        decode_scalar(type, p->f->base + p->pos, ret);
        p->pos += size;
        return 0;
}

static int cmp_kv_key(const void *a, const void *b)
{
        const struct gguf_kv *x = *(const struct gguf_kv *const *)a, *y = *(const struct gguf_kv *const *)b;
        int c = strcmp(x->key, y->key);

        /* Ties in file order, so that a duplicate is reported at its second occurrence. */
        return c != 0 ? c : (x > y) - (x < y);
}

static int cmp_tensor_name(const void *a, const void *b)
{
        const struct gguf_tensor *x = *(const struct gguf_tensor *const *)a,
                                 *y = *(const struct gguf_tensor *const *)b;
        int c = strcmp(x->name, y->name);

        return c != 0 ? c : (x > y) - (x < y);
}

static int cmp_tensor_offset(const void *a, const void *b)
{
        const struct gguf_tensor *x = *(const struct gguf_tensor *const *)a,
                                 *y = *(const struct gguf_tensor *const *)b;

        if (x->offset != y->offset)
                return x->offset < y->offset ? -1 : 1;
        return (x > y) - (x < y);
}

static void set_kv_ctx(struct parser *p, uint64_t i, const char *key)
{
        char name[80];

        printable(name, sizeof(name), key, strlen(key));
        snprintf(p->ctx, sizeof(p->ctx), "key/value %" PRIu64 " ('%s')", i, name);
}

static void set_tensor_ctx(struct parser *p, const char *index, const char *name)
{
        char safe[80];

        printable(safe, sizeof(safe), name, strlen(name));
        if (index[0])
                snprintf(p->ctx, sizeof(p->ctx), "tensor %s ('%s')", index, safe);
        else
                snprintf(p->ctx, sizeof(p->ctx), "tensor '%s'", safe);
}

static int parse_header(struct parser *p)
{
        struct gguf_file *f = p->f;
        uint64_t left, min_kv, min_tensors, min_total;
        uint32_t magic, version;
        int r;

        if (f->size < 4)
                return fail(p, -EBADMSG, "file of %" PRIu64 " bytes is too small to be a GGUF file",
                                f->size);
        r = read_u32(p, "magic", &magic);
        if (r < 0)
                return r;
        if (magic != GGUF_MAGIC)
                return fail(p, -EBADMSG, "bad magic 0x%08" PRIx32 " at offset 0x0: not a GGUF file", magic);

        r = read_u32(p, "version", &version);
        if (r < 0)
                return r;
        if (version == 1)
                return fail(p, -EPROTONOSUPPORT,
                                "GGUF version 1 at offset 0x4 is not supported (v1 used 32-bit counts; "
                                "convert the file with a current llama.cpp)");
        if (version != 2 && version != 3) {
                uint32_t swapped = __builtin_bswap32(version);

                if (swapped == 2 || swapped == 3)
                        return fail(p, -EPROTONOSUPPORT,
                                        "version 0x%08" PRIx32
                                        " at offset 0x4: big-endian GGUF files are not supported",
                                        version);
                return fail(p, -EPROTONOSUPPORT,
                                "unsupported GGUF version %" PRIu32 " at offset 0x4 (supported: 2, 3)",
                                version);
        }
        f->version = version;

        r = read_u64(p, "tensor count", &f->n_tensors);
        if (r < 0)
                return r;
        r = read_u64(p, "key/value count", &f->n_kv);
        if (r < 0)
                return r;

        left = f->size - p->pos;
        if (__builtin_mul_overflow(f->n_kv, (uint64_t)MIN_KV_SIZE, &min_kv) || min_kv > left)
                return fail(p, -EBADMSG,
                                "key/value count %" PRIu64
                                " at offset 0x10 is impossible: each needs at least %u "
                                "bytes and the file has 0x%" PRIx64 " bytes after the header",
                                f->n_kv, MIN_KV_SIZE, left);
        if (__builtin_mul_overflow(f->n_tensors, (uint64_t)MIN_TENSOR_SIZE, &min_tensors) ||
                        __builtin_add_overflow(min_kv, min_tensors, &min_total) || min_total > left)
                return fail(p, -EBADMSG,
                                "tensor count %" PRIu64
                                " at offset 0x8 is impossible: each tensor info needs at "
                                "least %u bytes and the file has 0x%" PRIx64
                                " bytes after the header and key/values",
                                f->n_tensors, MIN_TENSOR_SIZE, left - min_kv);
        return 0;
}

static int parse_kvs(struct parser *p)
{
        struct gguf_file *f = p->f;
        int r;

        if (f->n_kv == 0)
                return 0;
        /* n_kv is bounded by the file size above, so these allocations are too. */
        f->kvs = calloc(f->n_kv, sizeof(*f->kvs));
        f->kv_by_key = calloc(f->n_kv, sizeof(*f->kv_by_key));
        if (!f->kvs || !f->kv_by_key)
                return fail(p, -ENOMEM, "out of memory for %" PRIu64 " key/values", f->n_kv);

        for (uint64_t i = 0; i < f->n_kv; i++) {
                struct gguf_kv *kv = &f->kvs[i];
                uint64_t type_at;
                uint32_t type;

                kv->file_offset = p->pos;
                snprintf(p->ctx, sizeof(p->ctx), "key/value %" PRIu64, i);
                r = read_name(p, "key", 0, &kv->key);
                if (r < 0)
                        return r;
                set_kv_ctx(p, i, kv->key);

                type_at = p->pos;
                r = read_u32(p, "value type", &type);
                if (r < 0)
                        return r;
                if (type >= _GGUF_TYPE_MAX)
                        return fail(p, -EBADMSG, "unknown value type %" PRIu32 " at offset 0x%" PRIx64, type,
                                        type_at);
                r = parse_value(p, type, &kv->value);
                if (r < 0)
                        return r;
                f->kv_by_key[i] = kv;
        }
        p->ctx[0] = '\0';

        qsort(f->kv_by_key, f->n_kv, sizeof(*f->kv_by_key), cmp_kv_key);
        for (uint64_t i = 1; i < f->n_kv; i++) {
                const struct gguf_kv *a = f->kv_by_key[i - 1], *b = f->kv_by_key[i];

                if (strcmp(a->key, b->key) == 0) {
                        set_kv_ctx(p, (uint64_t)(b - f->kvs), b->key);
                        return fail(p, -EBADMSG,
                                        "duplicate key at offset 0x%" PRIx64
                                        ", first defined by key/value %" PRIu64 " at offset 0x%" PRIx64,
                                        b->file_offset, (uint64_t)(a - f->kvs), a->file_offset);
                }
        }
        return 0;
}

static int parse_alignment(struct parser *p)
{
        const struct gguf_kv *kv = gguf_find_kv(p->f, "general.alignment");

        p->f->alignment = GGUF_DEFAULT_ALIGNMENT;
        if (!kv)
                return 0;
        set_kv_ctx(p, (uint64_t)(kv - p->f->kvs), kv->key);
        /* ggml reads it with gguf_get_val_u32(), which aborts on any other type. */
        if (kv->value.type != GGUF_TYPE_UINT32)
                return fail(p, -EBADMSG, "type %s at offset 0x%" PRIx64 ", expected UINT32",
                                gguf_value_type_name(kv->value.type), kv->file_offset);
        if (kv->value.u64 == 0 || (kv->value.u64 & (kv->value.u64 - 1)) != 0)
                return fail(p, -EBADMSG,
                                "alignment %" PRIu64 " at offset 0x%" PRIx64 " is not a power of two",
                                kv->value.u64, kv->file_offset);
        p->f->alignment = (uint32_t)kv->value.u64;
        p->ctx[0] = '\0';
        return 0;
}

static int parse_tensor_info(struct parser *p, uint64_t i, struct gguf_tensor *t)
{
        const struct ggml_type_traits *traits;
        uint64_t at, n_elems = 1, row_bytes, n_rows;
        char index[32];
        int r;

        snprintf(p->ctx, sizeof(p->ctx), "tensor %" PRIu64, i);
        r = read_name(p, "tensor name", GGUF_MAX_TENSOR_NAME, &t->name);
        if (r < 0)
                return r;
        snprintf(index, sizeof(index), "%" PRIu64, i);
        set_tensor_ctx(p, index, t->name);

        at = p->pos;
        r = read_u32(p, "n_dims", &t->n_dims);
        if (r < 0)
                return r;
        if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
                return fail(p, -EBADMSG, "n_dims %" PRIu32 " at offset 0x%" PRIx64 " is outside 1..%u",
                                t->n_dims, at, GGUF_MAX_DIMS);

        for (uint32_t j = 0; j < GGUF_MAX_DIMS; j++) {
                t->ne[j] = 1;
                if (j >= t->n_dims)
                        continue;
                at = p->pos;
                r = read_u64(p, "dimension", &t->ne[j]);
                if (r < 0)
                        return r;
                /* ggml keeps ne as int64_t and divides by ne[1..3] in its own overflow check, so
                 * neither a negative nor a zero dimension loads in llama.cpp. */
                if (t->ne[j] == 0 || t->ne[j] > INT64_MAX)
                        return fail(p, -EBADMSG,
                                        "dimension %" PRIu32 " = %" PRId64 " at offset 0x%" PRIx64
                                        " is not >= 1",
                                        j, (int64_t)t->ne[j], at);
                if (__builtin_mul_overflow(n_elems, t->ne[j], &n_elems) || n_elems > INT64_MAX)
                        return fail(p, -EBADMSG,
                                        "element count overflows at dimension %" PRIu32 " (offset 0x%" PRIx64
                                        ")",
                                        j, at);
        }

        at = p->pos;
        r = read_u32(p, "tensor type", &t->type);
        if (r < 0)
                return r;
        traits = ggml_type_traits_get(t->type);
        if (!traits)
                return fail(p, -EBADMSG, "unknown tensor type %" PRIu32 " at offset 0x%" PRIx64, t->type,
                                at);
        r = ggml_row_bytes(t->type, t->ne[0], &row_bytes);
        if (r == -EINVAL)
                return fail(p, -EBADMSG,
                                "row of %" PRIu64
                                " elements is not a multiple of the %s block size %" PRIu32,
                                t->ne[0], traits->name, traits->block_elems);
        n_rows = n_elems / t->ne[0];
        if (r < 0 || __builtin_mul_overflow(row_bytes, n_rows, &t->n_bytes))
                return fail(p, -EBADMSG, "data size of %" PRIu64 " %s elements overflows", n_elems,
                                traits->name);

        at = p->pos;
        r = read_u64(p, "tensor data offset", &t->offset);
        if (r < 0)
                return r;
        if (t->offset % p->f->alignment != 0)
                return fail(p, -EBADMSG,
                                "data offset 0x%" PRIx64 " at offset 0x%" PRIx64
                                " is not a multiple of the alignment %" PRIu32,
                                t->offset, at, p->f->alignment);
        return 0;
}

static int parse_tensors(struct parser *p)
{
        struct gguf_file *f = p->f;
        _cleanup_free_ const struct gguf_tensor **by_offset = NULL;
        uint64_t pad;
        int r;

        if (f->n_tensors > 0) {
                f->tensors = calloc(f->n_tensors, sizeof(*f->tensors));
                f->tensor_by_name = calloc(f->n_tensors, sizeof(*f->tensor_by_name));
                by_offset = calloc(f->n_tensors, sizeof(*by_offset));
                if (!f->tensors || !f->tensor_by_name || !by_offset)
                        return fail(p, -ENOMEM, "out of memory for %" PRIu64 " tensor infos", f->n_tensors);
        }
        for (uint64_t i = 0; i < f->n_tensors; i++) {
                r = parse_tensor_info(p, i, &f->tensors[i]);
                if (r < 0)
                        return r;
                f->tensor_by_name[i] = by_offset[i] = &f->tensors[i];
        }
        p->ctx[0] = '\0';

        pad = (f->alignment - p->pos % f->alignment) % f->alignment;
        if (f->n_tensors == 0) {
                /* Key/value-only files (llama.cpp's vocab files) may end without the padding. */
                f->data_offset = MIN(p->pos + pad, f->size);
                return 0;
        }
        f->data_offset = p->pos + pad; /* pos <= size, so no overflow */

        qsort(f->tensor_by_name, f->n_tensors, sizeof(*f->tensor_by_name), cmp_tensor_name);
        for (uint64_t i = 1; i < f->n_tensors; i++) {
                const struct gguf_tensor *a = f->tensor_by_name[i - 1], *b = f->tensor_by_name[i];

                if (strcmp(a->name, b->name) == 0) {
                        char index[32];

                        snprintf(index, sizeof(index), "%" PRIu64, (uint64_t)(b - f->tensors));
                        set_tensor_ctx(p, index, b->name);
                        return fail(p, -EBADMSG, "duplicate name, also used by tensor %" PRIu64,
                                        (uint64_t)(a - f->tensors));
                }
        }

        for (uint64_t i = 0; i < f->n_tensors; i++) {
                struct gguf_tensor *t = &f->tensors[i];
                uint64_t start, end;

                set_tensor_ctx(p, "", t->name);
                if (__builtin_add_overflow(f->data_offset, t->offset, &start) ||
                                __builtin_add_overflow(start, t->n_bytes, &end))
                        return fail(p, -EBADMSG, "data offset 0x%" PRIx64 " + size 0x%" PRIx64 " overflows",
                                        t->offset, t->n_bytes);
                if (end > f->size)
                        return fail(p, -EBADMSG,
                                        "data range 0x%" PRIx64 "..0x%" PRIx64
                                        " exceeds file size 0x%" PRIx64,
                                        start, end, f->size);
                t->data = f->base + start;
        }

        qsort(by_offset, f->n_tensors, sizeof(*by_offset), cmp_tensor_offset);
        for (uint64_t i = 1; i < f->n_tensors; i++) {
                const struct gguf_tensor *a = by_offset[i - 1], *b = by_offset[i];
                char other[80];

                /* Both ranges are inside the file, so these sums cannot overflow. */
                if (a->offset + a->n_bytes > b->offset) {
                        printable(other, sizeof(other), a->name, strlen(a->name));
                        set_tensor_ctx(p, "", b->name);
                        return fail(p, -EBADMSG,
                                        "data range 0x%" PRIx64 "..0x%" PRIx64
                                        " overlaps tensor '%s' at 0x%" PRIx64 "..0x%" PRIx64,
                                        f->data_offset + b->offset, f->data_offset + b->offset + b->n_bytes,
                                        other, f->data_offset + a->offset,
                                        f->data_offset + a->offset + a->n_bytes);
                }
        }
        p->ctx[0] = '\0';
        return 0;
}

static int parse(struct gguf_file *f, struct aid_error *err)
{
        struct parser p = { .f = f, .err = err };
        int r;

        r = parse_header(&p);
        if (r < 0)
                return r;
        r = parse_kvs(&p);
        if (r < 0)
                return r;
        r = parse_alignment(&p);
        if (r < 0)
                return r;
        return parse_tensors(&p);
}

struct gguf_file *gguf_close(struct gguf_file *f)
{
        if (!f)
                return NULL;
        while (f->chunks) {
                struct chunk *next = f->chunks->next;

                free(f->chunks);
                f->chunks = next;
        }
        free(f->kvs);
        free(f->kv_by_key);
        free(f->tensors);
        free(f->tensor_by_name);
        if (f->map)
                munmap(f->map, f->map_size);
        free(f);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct gguf_file *, gguf_close);

/* Slices small enough that progress moves several times a second from a slow disk, large
 * enough that the calls cost nothing next to the reads. */
#define PREFAULT_SLICE (32u << 20)

int gguf_prefault(
                const struct gguf_file *f, gguf_progress_fn progress, void *userdata, struct aid_error *err)
{
        long page = sysconf(_SC_PAGESIZE);
        uint64_t start, end, total;
        bool populate = true;

        if (!f)
                return aid_error_set(err, -EINVAL, "no file");
        if (!f->map)
                return 0; /* a caller's buffer is in memory already */
        if (page <= 0)
                page = 4096;
        start = f->data_offset / (uint64_t)page * (uint64_t)page;
        end = f->size;
        total = end - start;
        for (uint64_t at = start; at < end;) {
                uint64_t len = MIN((uint64_t)PREFAULT_SLICE, end - at);
                uint8_t *p = (uint8_t *)f->map + at;

                /* MADV_POPULATE_READ (Linux 5.14) reads the pages and maps them, and reports a
                 * read error as EFAULT where touching the page would raise SIGBUS. */
                if (populate && madvise(p, len, MADV_POPULATE_READ) < 0) {
                        if (errno != EINVAL)
                                return aid_error_set(err, errno == EFAULT || errno == EIO ? -EIO : -errno,
                                                "cannot read the tensor data at 0x%" PRIx64 "..0x%" PRIx64
                                                ": %s",
                                                at, at + len, strerror(errno));
                        populate = false;
                }
                if (!populate) {
                        volatile uint8_t sink = 0;
                        (void)madvise(p, len, MADV_WILLNEED);
                        for (uint64_t o = 0; o < len; o += (uint64_t)page)
                                sink ^= p[o];
                        (void)sink;
                }
                at += len;
                if (progress && progress(at - start, total, userdata) != 0)
                        return aid_error_set(err, -ECANCELED, "reading the tensor data was cancelled");
        }
        return 0;
}

int gguf_open_memory(const void *data, size_t size, struct gguf_file **ret_file, struct aid_error *err)
{
        _cleanup_(gguf_closep) struct gguf_file *f = NULL;
        int r;

        if (!data && size > 0)
                return aid_error_set(err, -EINVAL, "no buffer given for %zu bytes", size);
        f = calloc(1, sizeof(*f));
        if (!f)
                return aid_error_set(err, -ENOMEM, "out of memory");
        f->base = data;
        f->size = size;
        r = parse(f, err);
        if (r < 0)
                return r;
        *ret_file = TAKE_PTR(f);
        return 0;
}

int gguf_open(const char *path, struct gguf_file **ret_file, struct aid_error *err)
{
        _cleanup_(gguf_closep) struct gguf_file *f = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return aid_error_set(err, -errno, "%s: cannot open: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0)
                return aid_error_set(err, -errno, "%s: cannot stat: %s", path, strerror(errno));
        if (S_ISDIR(st.st_mode))
                return aid_error_set(err, -EISDIR, "%s: is a directory, not a GGUF file", path);
        if (!S_ISREG(st.st_mode))
                return aid_error_set(err, -EINVAL, "%s: not a regular file", path);

        f = calloc(1, sizeof(*f));
        if (!f)
                return aid_error_set(err, -ENOMEM, "out of memory");
        if (st.st_size > 0) {
                /* Read-only private mapping: weights are used in place and never written. A
                 * file truncated by someone else while mapped raises SIGBUS on access; files
                 * in model stores are not rewritten in place. */
                f->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
                if (f->map == MAP_FAILED) {
                        f->map = NULL;
                        return aid_error_set(err, -errno, "%s: cannot map %jd bytes: %s", path,
                                        (intmax_t)st.st_size, strerror(errno));
                }
                f->map_size = (size_t)st.st_size;
                f->base = f->map;
                f->size = (uint64_t)st.st_size;
        }
        r = parse(f, err);
        if (r < 0) {
                aid_error_prefix(err, "%s", path);
                return r;
        }
        *ret_file = TAKE_PTR(f);
        return 0;
}

uint32_t gguf_version(const struct gguf_file *f)
{
        return f->version;
}

uint64_t gguf_file_size(const struct gguf_file *f)
{
        return f->size;
}

uint32_t gguf_alignment(const struct gguf_file *f)
{
        return f->alignment;
}

uint64_t gguf_data_offset(const struct gguf_file *f)
{
        return f->data_offset;
}

const void *gguf_data(const struct gguf_file *f)
{
        return f->base + f->data_offset;
}

uint64_t gguf_n_kv(const struct gguf_file *f)
{
        return f->n_kv;
}

const struct gguf_kv *gguf_kv_at(const struct gguf_file *f, uint64_t i)
{
        return i < f->n_kv ? &f->kvs[i] : NULL;
}

/* Binary search in an array of pointers, sorted by name, to structs whose first member is
 * their name (struct gguf_kv's key, struct gguf_tensor's name). */
static const void *find_by_name(const void *const *sorted, uint64_t n, const char *name)
{
        uint64_t lo = 0, hi = n;

        while (lo < hi) {
                uint64_t mid = lo + (hi - lo) / 2;
                int c = strcmp(name, *(const char *const *)sorted[mid]);

                if (c == 0)
                        return sorted[mid];
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return NULL;
}

const struct gguf_kv *gguf_find_kv(const struct gguf_file *f, const char *key)
{
        return find_by_name((const void *const *)f->kv_by_key, f->n_kv, key);
}

uint64_t gguf_n_tensors(const struct gguf_file *f)
{
        return f->n_tensors;
}

const struct gguf_tensor *gguf_tensor_at(const struct gguf_file *f, uint64_t i)
{
        return i < f->n_tensors ? &f->tensors[i] : NULL;
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name)
{
        return find_by_name((const void *const *)f->tensor_by_name, f->n_tensors, name);
}

uint64_t gguf_tensor_n_elements(const struct gguf_tensor *t)
{
        /* Checked against overflow while parsing. */
        return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

const char *gguf_value_type_name(uint32_t type)
{
        static const char *const names[_GGUF_TYPE_MAX] = {
                [GGUF_TYPE_UINT8] = "UINT8",
                [GGUF_TYPE_INT8] = "INT8",
                [GGUF_TYPE_UINT16] = "UINT16",
                [GGUF_TYPE_INT16] = "INT16",
                [GGUF_TYPE_UINT32] = "UINT32",
                [GGUF_TYPE_INT32] = "INT32",
                [GGUF_TYPE_FLOAT32] = "FLOAT32",
                [GGUF_TYPE_BOOL] = "BOOL",
                [GGUF_TYPE_STRING] = "STRING",
                [GGUF_TYPE_ARRAY] = "ARRAY",
                [GGUF_TYPE_UINT64] = "UINT64",
                [GGUF_TYPE_INT64] = "INT64",
                [GGUF_TYPE_FLOAT64] = "FLOAT64",
        };

        return type < _GGUF_TYPE_MAX ? names[type] : "unknown";
}

/* Typed getters */

static int find_for_get(const struct gguf_file *f, const char *key, const struct gguf_kv **ret,
                struct aid_error *err)
{
        const struct gguf_kv *kv = gguf_find_kv(f, key);

        if (!kv)
                return aid_error_set(err, -ENOKEY, "key '%s' not found", key);
        *ret = kv;
        return 0;
}

static int wrong_type(const struct gguf_kv *kv, const char *expected, struct aid_error *err)
{
        if (kv->value.type == GGUF_TYPE_ARRAY)
                return aid_error_set(err, -EBADMSG, "key '%s': expected %s, found ARRAY of %s", kv->key,
                                expected, gguf_value_type_name(kv->value.arr.elem_type));
        return aid_error_set(err, -EBADMSG, "key '%s': expected %s, found %s", kv->key, expected,
                        gguf_value_type_name(kv->value.type));
}

static int get_unsigned(const struct gguf_file *f, const char *key, uint64_t max, const char *expected,
                uint64_t *ret, struct aid_error *err)
{
        const struct gguf_kv *kv = NULL;
        int r;

        r = find_for_get(f, key, &kv, err);
        if (r < 0)
                return r;
        if (type_is_unsigned(kv->value.type)) {
                if (kv->value.u64 > max)
                        return aid_error_set(err, -EBADMSG, "key '%s': value %" PRIu64 " does not fit %s",
                                        key, kv->value.u64, expected);
                *ret = kv->value.u64;
                return 0;
        }
        if (type_is_signed(kv->value.type)) {
                if (kv->value.i64 < 0 || (uint64_t)kv->value.i64 > max)
                        return aid_error_set(err, -EBADMSG, "key '%s': value %" PRId64 " does not fit %s",
                                        key, kv->value.i64, expected);
                *ret = (uint64_t)kv->value.i64;
                return 0;
        }
        return wrong_type(kv, expected, err);
}

int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *ret, struct aid_error *err)
{
        uint64_t v;
        int r;

        r = get_unsigned(f, key, UINT32_MAX, "UINT32", &v, err);
        if (r < 0)
                return r;
        *ret = (uint32_t)v;
        return 0;
}

int gguf_get_u64(const struct gguf_file *f, const char *key, uint64_t *ret, struct aid_error *err)
{
        return get_unsigned(f, key, UINT64_MAX, "UINT64", ret, err);
}

int gguf_get_i64(const struct gguf_file *f, const char *key, int64_t *ret, struct aid_error *err)
{
        const struct gguf_kv *kv = NULL;
        int r;

        r = find_for_get(f, key, &kv, err);
        if (r < 0)
                return r;
        if (type_is_signed(kv->value.type)) {
                *ret = kv->value.i64;
                return 0;
        }
        if (type_is_unsigned(kv->value.type)) {
                if (kv->value.u64 > INT64_MAX)
                        return aid_error_set(err, -EBADMSG, "key '%s': value %" PRIu64 " does not fit INT64",
                                        key, kv->value.u64);
                *ret = (int64_t)kv->value.u64;
                return 0;
        }
        return wrong_type(kv, "INT64", err);
}

int gguf_get_f32(const struct gguf_file *f, const char *key, float *ret, struct aid_error *err)
{
        const struct gguf_kv *kv = NULL;
        int r;

        r = find_for_get(f, key, &kv, err);
        if (r < 0)
                return r;
        if (kv->value.type != GGUF_TYPE_FLOAT32 && kv->value.type != GGUF_TYPE_FLOAT64)
                return wrong_type(kv, "FLOAT32", err);
        *ret = (float)kv->value.f64;
        return 0;
}

int gguf_get_bool(const struct gguf_file *f, const char *key, bool *ret, struct aid_error *err)
{
        const struct gguf_kv *kv = NULL;
        int r;

        r = find_for_get(f, key, &kv, err);
        if (r < 0)
                return r;
        if (kv->value.type != GGUF_TYPE_BOOL)
                return wrong_type(kv, "BOOL", err);
        *ret = kv->value.u64 != 0;
        return 0;
}

int gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *ret, struct aid_error *err)
{
        const struct gguf_kv *kv = NULL;
        int r;

        r = find_for_get(f, key, &kv, err);
        if (r < 0)
                return r;
        if (kv->value.type != GGUF_TYPE_STRING)
                return wrong_type(kv, "STRING", err);
        *ret = kv->value.str;
        return 0;
}

int gguf_get_arr(const struct gguf_file *f, const char *key, enum gguf_value_type elem_type,
                const struct gguf_value **ret, struct aid_error *err)
{
        const struct gguf_kv *kv = NULL;
        char expected[32];
        int r;

        r = find_for_get(f, key, &kv, err);
        if (r < 0)
                return r;
        if (kv->value.type == GGUF_TYPE_ARRAY &&
                        (elem_type == _GGUF_TYPE_MAX || kv->value.arr.elem_type == elem_type)) {
                *ret = &kv->value;
                return 0;
        }
        if (elem_type == _GGUF_TYPE_MAX)
                snprintf(expected, sizeof(expected), "ARRAY");
        else
                snprintf(expected, sizeof(expected), "ARRAY of %s", gguf_value_type_name(elem_type));
        return wrong_type(kv, expected, err);
}

/* Array elements */

static bool arr_scalar(const struct gguf_value *arr, uint64_t i, struct gguf_value *ret)
{
        uint32_t size;

        if (!arr || arr->type != GGUF_TYPE_ARRAY || i >= arr->arr.n)
                return false;
        size = gguf_value_type_size(arr->arr.elem_type);
        if (size == 0)
                return false;
        decode_scalar(arr->arr.elem_type, (const uint8_t *)arr->arr.data + i * size, ret);
        return true;
}

uint64_t gguf_arr_u64(const struct gguf_value *arr, uint64_t i)
{
        struct gguf_value v;

        if (!arr_scalar(arr, i, &v) || v.type == GGUF_TYPE_FLOAT32 || v.type == GGUF_TYPE_FLOAT64)
                return 0;
        return v.u64;
}

int64_t gguf_arr_i64(const struct gguf_value *arr, uint64_t i)
{
        struct gguf_value v;

        if (!arr_scalar(arr, i, &v) || v.type == GGUF_TYPE_FLOAT32 || v.type == GGUF_TYPE_FLOAT64)
                return 0;
        return v.i64;
}

double gguf_arr_f64(const struct gguf_value *arr, uint64_t i)
{
        struct gguf_value v;

        if (!arr_scalar(arr, i, &v) || (v.type != GGUF_TYPE_FLOAT32 && v.type != GGUF_TYPE_FLOAT64))
                return 0;
        return v.f64;
}

struct gguf_str gguf_arr_str(const struct gguf_value *arr, uint64_t i)
{
        if (!arr || arr->type != GGUF_TYPE_ARRAY || arr->arr.elem_type != GGUF_TYPE_STRING ||
                        i >= arr->arr.n)
                return (struct gguf_str){ NULL, 0 };
        return ((const struct gguf_str *)arr->arr.data)[i];
}

const struct gguf_value *gguf_arr_arr(const struct gguf_value *arr, uint64_t i)
{
        if (!arr || arr->type != GGUF_TYPE_ARRAY || arr->arr.elem_type != GGUF_TYPE_ARRAY || i >= arr->arr.n)
                return NULL;
        return &((const struct gguf_value *)arr->arr.data)[i];
}

char *gguf_str_dup(struct gguf_str s)
{
        char *c;

        if (s.len >= SIZE_MAX)
                return NULL;
        c = malloc(s.len + 1);
        if (!c)
                return NULL;
        if (s.len > 0)
                memcpy(c, s.data, s.len);
        c[s.len] = '\0';
        return c;
}

bool gguf_str_eq(struct gguf_str s, const char *cstr)
{
        size_t n = strlen(cstr);

        return s.len == n && (n == 0 || memcmp(s.data, cstr, n) == 0);
}
