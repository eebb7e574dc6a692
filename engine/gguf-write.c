/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GGUF v3 writer; see gguf-write.h. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ggml-type.h"
#include "gguf-write.h"

/* Rows handed to the fill callback at a time: whole rows, about this many bytes. */
#define FILL_CHUNK_BYTES (16u << 20)

struct wtensor {
        char *name;
        uint32_t type, n_dims;
        uint64_t ne[GGUF_MAX_DIMS];
        uint64_t row_bytes, n_rows, n_bytes, offset;
        const void *data;
};

struct gguf_writer {
        /* Encoded key/values, in the order added. */
        uint8_t *kv;
        size_t kv_len, kv_cap;
        char **keys;
        uint64_t n_kv;
        uint32_t alignment;

        struct wtensor *tensors;
        uint64_t n_tensors;

        struct aid_error error; /* the first failure, sticky */
};

struct gguf_writer *gguf_writer_new(void)
{
        struct gguf_writer *w = calloc(1, sizeof(*w));

        if (w)
                w->alignment = GGUF_DEFAULT_ALIGNMENT;
        return w;
}

struct gguf_writer *gguf_writer_free(struct gguf_writer *w)
{
        if (!w)
                return NULL;
        for (uint64_t i = 0; i < w->n_kv; i++)
                free(w->keys[i]);
        for (uint64_t i = 0; i < w->n_tensors; i++)
                free(w->tensors[i].name);
        free(w->keys);
        free(w->tensors);
        free(w->kv);
        free(w);
        return NULL;
}

uint64_t gguf_writer_n_tensors(const struct gguf_writer *w)
{
        return w->n_tensors;
}

_printf_(3, 4) static int fail(struct gguf_writer *w, int code, const char *fmt, ...)
{
        va_list ap;

        if (w->error.code != 0)
                return w->error.code;
        va_start(ap, fmt);
        aid_error_setv(&w->error, code, fmt, ap);
        va_end(ap);
        return w->error.code;
}

static int put(struct gguf_writer *w, const void *p, size_t n)
{
        if (n == 0) /* an empty array: p may be NULL, and memcpy must not see it */
                return 0;
        if (w->kv_len + n > w->kv_cap) {
                size_t cap = MAX(w->kv_cap * 2, w->kv_len + n + 4096);
                uint8_t *b = realloc(w->kv, cap);

                if (!b)
                        return fail(w, -ENOMEM, "out of memory encoding key/values");
                w->kv = b;
                w->kv_cap = cap;
        }
        memcpy(w->kv + w->kv_len, p, n);
        w->kv_len += n;
        return 0;
}

static int put_u32(struct gguf_writer *w, uint32_t v)
{
        return put(w, &v, sizeof(v));
}

static int put_str(struct gguf_writer *w, const char *s, size_t len)
{
        uint64_t n = len;
        int r = put(w, &n, sizeof(n));

        return r < 0 ? r : put(w, s, len);
}

/* Starts a key/value: checks the key and encodes it with the value type. */
static int begin_kv(struct gguf_writer *w, const char *key, enum gguf_value_type type)
{
        char **keys, *copy;
        int r;

        if (w->error.code != 0)
                return w->error.code;
        if (!key || !*key)
                return fail(w, -EINVAL, "empty key");
        for (uint64_t i = 0; i < w->n_kv; i++)
                if (strcmp(w->keys[i], key) == 0)
                        return fail(w, -EEXIST, "key '%s' added twice", key);
        keys = realloc(w->keys, (w->n_kv + 1) * sizeof(*keys));
        if (!keys)
                return fail(w, -ENOMEM, "out of memory adding key '%s'", key);
        w->keys = keys;
        copy = strdup(key);
        if (!copy)
                return fail(w, -ENOMEM, "out of memory adding key '%s'", key);
        w->keys[w->n_kv++] = copy;
        r = put_str(w, key, strlen(key));
        return r < 0 ? r : put_u32(w, (uint32_t)type);
}

static int add_scalar(struct gguf_writer *w, const char *key, enum gguf_value_type type, const void *v,
                size_t size)
{
        int r = begin_kv(w, key, type);

        return r < 0 ? r : put(w, v, size);
}

int gguf_writer_add_u8(struct gguf_writer *w, const char *key, uint8_t v)
{
        return add_scalar(w, key, GGUF_TYPE_UINT8, &v, sizeof(v));
}

int gguf_writer_add_i8(struct gguf_writer *w, const char *key, int8_t v)
{
        return add_scalar(w, key, GGUF_TYPE_INT8, &v, sizeof(v));
}

int gguf_writer_add_u16(struct gguf_writer *w, const char *key, uint16_t v)
{
        return add_scalar(w, key, GGUF_TYPE_UINT16, &v, sizeof(v));
}

int gguf_writer_add_i16(struct gguf_writer *w, const char *key, int16_t v)
{
        return add_scalar(w, key, GGUF_TYPE_INT16, &v, sizeof(v));
}

int gguf_writer_add_u32(struct gguf_writer *w, const char *key, uint32_t v)
{
        if (key && strcmp(key, "general.alignment") == 0) {
                if (w->error.code != 0)
                        return w->error.code;
                if (v == 0 || (v & (v - 1)) != 0)
                        return fail(w, -EINVAL, "general.alignment %" PRIu32 " is not a power of two", v);
                w->alignment = v;
        }
        return add_scalar(w, key, GGUF_TYPE_UINT32, &v, sizeof(v));
}

int gguf_writer_add_i32(struct gguf_writer *w, const char *key, int32_t v)
{
        return add_scalar(w, key, GGUF_TYPE_INT32, &v, sizeof(v));
}

int gguf_writer_add_u64(struct gguf_writer *w, const char *key, uint64_t v)
{
        return add_scalar(w, key, GGUF_TYPE_UINT64, &v, sizeof(v));
}

int gguf_writer_add_i64(struct gguf_writer *w, const char *key, int64_t v)
{
        return add_scalar(w, key, GGUF_TYPE_INT64, &v, sizeof(v));
}

int gguf_writer_add_f32(struct gguf_writer *w, const char *key, float v)
{
        return add_scalar(w, key, GGUF_TYPE_FLOAT32, &v, sizeof(v));
}

int gguf_writer_add_f64(struct gguf_writer *w, const char *key, double v)
{
        return add_scalar(w, key, GGUF_TYPE_FLOAT64, &v, sizeof(v));
}

int gguf_writer_add_bool(struct gguf_writer *w, const char *key, bool v)
{
        uint8_t b = v;

        return add_scalar(w, key, GGUF_TYPE_BOOL, &b, sizeof(b));
}

int gguf_writer_add_str_len(struct gguf_writer *w, const char *key, const char *v, size_t len)
{
        int r;

        if (!v && len > 0)
                return fail(w, -EINVAL, "key '%s': NULL string", key ? key : "");
        r = begin_kv(w, key, GGUF_TYPE_STRING);
        return r < 0 ? r : put_str(w, v, len);
}

int gguf_writer_add_str(struct gguf_writer *w, const char *key, const char *v)
{
        return gguf_writer_add_str_len(w, key, v, v ? strlen(v) : 0);
}

int gguf_writer_add_arr(struct gguf_writer *w, const char *key, enum gguf_value_type elem_type,
                const void *data, uint64_t n)
{
        uint32_t size = gguf_value_type_size(elem_type);
        int r;

        if (size == 0)
                return fail(w, -EINVAL, "key '%s': array element type %u is not a fixed-size type",
                                key ? key : "", (unsigned)elem_type);
        if (n > SIZE_MAX / size || (!data && n > 0))
                return fail(w, -EINVAL, "key '%s': bad array", key ? key : "");
        if (elem_type == GGUF_TYPE_BOOL)
                for (uint64_t i = 0; i < n; i++)
                        if (((const uint8_t *)data)[i] > 1)
                                return fail(w, -EINVAL, "key '%s': bool element %" PRIu64 " is not 0 or 1",
                                                key ? key : "", i);
        r = begin_kv(w, key, GGUF_TYPE_ARRAY);
        if (r >= 0)
                r = put_u32(w, (uint32_t)elem_type);
        if (r >= 0)
                r = put(w, &n, sizeof(n));
        return r < 0 ? r : put(w, data, (size_t)n * size);
}

int gguf_writer_add_arr_str(struct gguf_writer *w, const char *key, const char *const *v, uint64_t n)
{
        int r;

        for (uint64_t i = 0; i < n; i++)
                if (!v[i])
                        return fail(w, -EINVAL, "key '%s': string %" PRIu64 " is NULL", key ? key : "", i);
        r = begin_kv(w, key, GGUF_TYPE_ARRAY);
        if (r >= 0)
                r = put_u32(w, GGUF_TYPE_STRING);
        if (r >= 0)
                r = put(w, &n, sizeof(n));
        for (uint64_t i = 0; r >= 0 && i < n; i++)
                r = put_str(w, v[i], strlen(v[i]));
        return r;
}

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                const uint64_t *ne, const void *data)
{
        const struct ggml_type_traits *tr = ggml_type_traits_get(type);
        struct wtensor *ts, t = { .type = type, .n_dims = n_dims, .data = data };

        if (w->error.code != 0)
                return w->error.code;
        if (!name || !*name || strlen(name) > GGUF_MAX_TENSOR_NAME)
                return fail(w, -EINVAL, "tensor name '%s' is empty or longer than %u bytes",
                                name ? name : "", GGUF_MAX_TENSOR_NAME);
        for (uint64_t i = 0; i < w->n_tensors; i++)
                if (strcmp(w->tensors[i].name, name) == 0)
                        return fail(w, -EEXIST, "tensor '%s' added twice", name);
        if (!tr)
                return fail(w, -EINVAL, "tensor '%s': unknown type %" PRIu32, name, type);
        if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
                return fail(w, -EINVAL, "tensor '%s': %" PRIu32 " dimensions", name, n_dims);
        t.n_rows = 1;
        for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
                t.ne[d] = d < n_dims ? ne[d] : 1;
                if (t.ne[d] == 0)
                        return fail(w, -EINVAL, "tensor '%s': dimension %" PRIu32 " is 0", name, d);
                if (d > 0 && __builtin_mul_overflow(t.n_rows, t.ne[d], &t.n_rows))
                        return fail(w, -EINVAL, "tensor '%s': too many elements", name);
        }
        if (ggml_row_bytes(type, t.ne[0], &t.row_bytes) < 0)
                return fail(w, -EINVAL, "tensor '%s': row of %" PRIu64 " is not a whole number of %s blocks",
                                name, t.ne[0], tr->name);
        if (__builtin_mul_overflow(t.row_bytes, t.n_rows, &t.n_bytes) || t.n_bytes > (UINT64_MAX >> 2))
                return fail(w, -EINVAL, "tensor '%s': too large", name);
        t.name = strdup(name);
        if (!t.name)
                return fail(w, -ENOMEM, "out of memory adding tensor '%s'", name);
        ts = realloc(w->tensors, (w->n_tensors + 1) * sizeof(*ts));
        if (!ts) {
                free(t.name);
                return fail(w, -ENOMEM, "out of memory adding tensor '%s'", name);
        }
        w->tensors = ts;
        w->tensors[w->n_tensors++] = t;
        return 0;
}

static int write_all(FILE *f, const void *p, size_t n)
{
        return fwrite(p, 1, n, f) == n ? 0 : -errno ?: -EIO;
}

static int write_pad(FILE *f, uint64_t at, uint32_t alignment)
{
        static const uint8_t zeros[256];
        uint64_t pad = (alignment - at % alignment) % alignment;

        while (pad > 0) {
                size_t n = MIN(pad, sizeof(zeros));
                int r = write_all(f, zeros, n);

                if (r < 0)
                        return r;
                pad -= n;
        }
        return 0;
}

static int write_header(struct gguf_writer *w, FILE *f, uint64_t *ret_pos)
{
        uint32_t magic = GGUF_MAGIC, version = 3;
        uint64_t pos = 0, n_kv = w->n_kv;
        int r;

#define W(p, n)                             \
        do {                                \
                r = write_all(f, (p), (n)); \
                if (r < 0)                  \
                        return r;           \
                pos += (n);                 \
        } while (0)
        W(&magic, 4);
        W(&version, 4);
        W(&w->n_tensors, 8);
        W(&n_kv, 8);
        if (w->kv_len > 0)
                W(w->kv, w->kv_len);
        for (uint64_t i = 0; i < w->n_tensors; i++) {
                const struct wtensor *t = &w->tensors[i];
                uint64_t len = strlen(t->name);

                W(&len, 8);
                W(t->name, len);
                W(&t->n_dims, 4);
                W(t->ne, 8 * (size_t)t->n_dims);
                W(&t->type, 4);
                W(&t->offset, 8);
        }
#undef W
        *ret_pos = pos;
        return 0;
}

static int write_tensor(struct wtensor *t, uint64_t index, FILE *f, gguf_writer_fill_t fill, void *userdata,
                void **buf, size_t *buf_size)
{
        uint64_t chunk_rows;
        int r;

        if (t->data)
                return write_all(f, t->data, t->n_bytes);
        if (!fill)
                return -ENODATA;
        chunk_rows = MAX(1, FILL_CHUNK_BYTES / t->row_bytes);
        chunk_rows = MIN(chunk_rows, t->n_rows);
        if (chunk_rows * t->row_bytes > *buf_size) {
                void *b = realloc(*buf, chunk_rows * t->row_bytes);

                if (!b)
                        return -ENOMEM;
                *buf = b;
                *buf_size = chunk_rows * t->row_bytes;
        }
        for (uint64_t row = 0; row < t->n_rows; row += chunk_rows) {
                uint64_t n = MIN(chunk_rows, t->n_rows - row);

                r = fill(userdata, index, row, n, *buf);
                if (r < 0)
                        return r;
                r = write_all(f, *buf, n * t->row_bytes);
                if (r < 0)
                        return r;
        }
        return 0;
}

int gguf_writer_write(struct gguf_writer *w, const char *path, gguf_writer_fill_t fill, void *userdata,
                struct aid_error *err)
{
        _cleanup_free_ char *tmp = NULL;
        _cleanup_free_ void *buf = NULL;
        size_t buf_size = 0;
        uint64_t pos = 0, offset = 0;
        FILE *f = NULL;
        bool msg_set = false;
        int fd, r;

        if (w->error.code != 0) {
                if (err)
                        *err = w->error;
                return w->error.code;
        }
        for (uint64_t i = 0; i < w->n_tensors; i++) {
                struct wtensor *t = &w->tensors[i];

                if (!t->data && !fill)
                        return aid_error_set(err, -EINVAL, "tensor '%s' has no data and no fill callback",
                                        t->name);
                t->offset = offset;
                offset += t->n_bytes;
                offset += (w->alignment - offset % w->alignment) % w->alignment;
        }

        if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return aid_error_set(err, -ENOMEM, "out of memory");
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return aid_error_set(err, -errno, "%s: cannot create a temporary file: %m", path);
        f = fdopen(fd, "w");
        if (!f) {
                r = aid_error_set(err, -errno, "%s: %m", tmp);
                close(fd);
                goto fail;
        }
        setvbuf(f, NULL, _IOFBF, 1u << 20);

        r = write_header(w, f, &pos);
        if (r >= 0)
                r = write_pad(f, pos, w->alignment);
        for (uint64_t i = 0; r >= 0 && i < w->n_tensors; i++) {
                struct wtensor *t = &w->tensors[i];

                r = write_tensor(t, i, f, fill, userdata, &buf, &buf_size);
                if (r < 0) {
                        aid_error_set(err, r, "%s: writing tensor '%s': %s", path, t->name, strerror(-r));
                        msg_set = true;
                        break;
                }
                r = write_pad(f, t->n_bytes, w->alignment);
        }
        if (r < 0 && !msg_set)
                aid_error_set(err, r, "%s: write failed: %s", path, strerror(-r));
        if (r >= 0 && fflush(f) != 0)
                r = aid_error_set(err, -errno, "%s: write failed: %m", path);
        if (fclose(f) != 0 && r >= 0)
                r = aid_error_set(err, -errno, "%s: write failed: %m", path);
        if (r < 0)
                goto fail;
        /* mkostemp() creates 0600; a model file is ordinary data. */
        if (chmod(tmp, 0644) < 0 || rename(tmp, path) < 0) {
                r = aid_error_set(err, -errno, "%s: %m", path);
                goto fail;
        }
        return 0;
fail:
        unlink(tmp);
        return r;
}
