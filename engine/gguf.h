/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* GGUF reader. The file is mapped read-only and never modified; every string, array and
 * tensor points into the mapping. Every count, length and offset is checked against the
 * file size (overflow-safe) while parsing, so that after gguf_open() succeeds every pointer
 * handed out is inside the mapping. Format: GGUF v2 and v3 (v1 used 32-bit counts and is
 * refused with a clear error). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "ggml-type.h"

#define GGUF_MAGIC             0x46554747u /* "GGUF" little-endian */
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_DIMS          4u
/* Arrays of arrays nest at most this deep (the outermost array is depth 1). */
#define GGUF_MAX_ARRAY_DEPTH 8u
/* ggml's GGML_MAX_NAME (64) includes the NUL: longer tensor names cannot load in llama.cpp. */
#define GGUF_MAX_TENSOR_NAME 63u

enum gguf_value_type {
        GGUF_TYPE_UINT8 = 0,
        GGUF_TYPE_INT8 = 1,
        GGUF_TYPE_UINT16 = 2,
        GGUF_TYPE_INT16 = 3,
        GGUF_TYPE_UINT32 = 4,
        GGUF_TYPE_INT32 = 5,
        GGUF_TYPE_FLOAT32 = 6,
        GGUF_TYPE_BOOL = 7,
        GGUF_TYPE_STRING = 8,
        GGUF_TYPE_ARRAY = 9,
        GGUF_TYPE_UINT64 = 10,
        GGUF_TYPE_INT64 = 11,
        GGUF_TYPE_FLOAT64 = 12,
        _GGUF_TYPE_MAX,
};

/* A string inside the mapping: NOT NUL-terminated. */
struct gguf_str {
        const char *data;
        uint64_t len;
};

struct gguf_value {
        enum gguf_value_type type;
        union {
                uint64_t u64; /* UINT8..UINT64, BOOL (0/1) */
                int64_t i64;  /* INT8..INT64 */
                double f64;   /* FLOAT32, FLOAT64 */
                struct gguf_str str;
                struct {
                        enum gguf_value_type elem_type;
                        uint64_t n;
                        /* Fixed-size element types: n packed little-endian elements in the
                         * mapping, possibly unaligned (read them with gguf_arr_u64() and
                         * friends, or memcpy). STRING: an index of n struct gguf_str. ARRAY
                         * (nested): n struct gguf_value. */
                        const void *data;
                } arr;
        };
};

struct gguf_kv {
        const char *key; /* NUL-terminated copy */
        struct gguf_value value;
        uint64_t file_offset; /* where the key/value starts, for messages */
};

struct gguf_tensor {
        const char *name; /* NUL-terminated copy */
        uint32_t n_dims;
        uint64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the contiguous dimension; unused dims are 1 */
        uint32_t type;              /* enum ggml_type */
        uint64_t offset;            /* relative to the data section */
        uint64_t n_bytes;
        const void *data; /* inside the mapping */
};

struct gguf_file;

/* Opens and validates a file. On failure returns a negative errno and fills err with a
 * message naming the field and offset; ret_file is untouched. -EBADMSG: malformed file (bad
 * magic, truncated, bad count/offset/type...); -EPROTONOSUPPORT: GGUF version other than 2
 * or 3; -ENOMEM; open/mmap errors as their errno (gguf_open prefixes the message with the
 * path). */
int gguf_open(const char *path, struct gguf_file **ret_file, struct aid_error *err);
/* Same for a buffer the caller keeps alive (tests, fuzzing); nothing is copied. */
int gguf_open_memory(const void *data, size_t size, struct gguf_file **ret_file, struct aid_error *err);
struct gguf_file *gguf_close(struct gguf_file *f); /* accepts NULL, returns NULL */

/* Called with the bytes done so far and in all; a nonzero return stops the work. */
typedef int (*gguf_progress_fn)(uint64_t done, uint64_t total, void *userdata);
/* Reads the whole tensor data section into memory ahead of use (page cache and page tables:
 * still the file's pages, nothing is copied), in slices, calling progress after each, so that
 * the first request does not fault the weights in from disk one page at a time. 0; -EIO with
 * the byte range when the file cannot be read; -ECANCELED when progress asked to stop. Files
 * opened from memory have nothing to do. */
int gguf_prefault(
                const struct gguf_file *f, gguf_progress_fn progress, void *userdata, struct aid_error *err);

uint32_t gguf_version(const struct gguf_file *f);
uint64_t gguf_file_size(const struct gguf_file *f);
uint32_t gguf_alignment(const struct gguf_file *f);
/* Start of the tensor data section (clipped to the file size for files without tensors, which
 * may end right after the key/values). */
uint64_t gguf_data_offset(const struct gguf_file *f);
/* The tensor data section in memory (gguf_file_size() - gguf_data_offset() bytes). */
const void *gguf_data(const struct gguf_file *f);

uint64_t gguf_n_kv(const struct gguf_file *f);
const struct gguf_kv *gguf_kv_at(const struct gguf_file *f, uint64_t i);
const struct gguf_kv *gguf_find_kv(const struct gguf_file *f, const char *key); /* NULL if absent */

/* Typed getters: 0 on success; -ENOKEY (message set) if the key is absent; -EBADMSG (message
 * names key, expected and found type) if the type does not fit. Integer getters accept any
 * integer type whose value fits the result. */
int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *ret, struct aid_error *err);
int gguf_get_u64(const struct gguf_file *f, const char *key, uint64_t *ret, struct aid_error *err);
int gguf_get_i64(const struct gguf_file *f, const char *key, int64_t *ret, struct aid_error *err);
int gguf_get_f32(const struct gguf_file *f, const char *key, float *ret, struct aid_error *err);
int gguf_get_bool(const struct gguf_file *f, const char *key, bool *ret, struct aid_error *err);
int gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *ret, struct aid_error *err);
/* Array of elem_type; elem_type _GGUF_TYPE_MAX accepts an array of any element type. */
int gguf_get_arr(const struct gguf_file *f, const char *key, enum gguf_value_type elem_type,
                const struct gguf_value **ret, struct aid_error *err);

/* Element i of a STRING array value ({NULL, 0} if arr is no string array or i >= n). */
struct gguf_str gguf_arr_str(const struct gguf_value *arr, uint64_t i);
/* Element i of an integer/bool (u64, i64) or float (f64) array, converted; 0 when arr has
 * another element type or i >= n. Integers convert between signedness by two's complement. */
uint64_t gguf_arr_u64(const struct gguf_value *arr, uint64_t i);
int64_t gguf_arr_i64(const struct gguf_value *arr, uint64_t i);
double gguf_arr_f64(const struct gguf_value *arr, uint64_t i);
/* Element i of an array of arrays (NULL when arr is not one or i >= n). */
const struct gguf_value *gguf_arr_arr(const struct gguf_value *arr, uint64_t i);
/* Bytes of one element of a fixed-size type; 0 for STRING, ARRAY and unknown types. */
uint32_t gguf_value_type_size(uint32_t type);

/* Allocates a NUL-terminated copy (NULL on ENOMEM). */
char *gguf_str_dup(struct gguf_str s);
bool gguf_str_eq(struct gguf_str s, const char *cstr);

uint64_t gguf_n_tensors(const struct gguf_file *f);
const struct gguf_tensor *gguf_tensor_at(const struct gguf_file *f, uint64_t i);
const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name);
uint64_t gguf_tensor_n_elements(const struct gguf_tensor *t);

const char *gguf_value_type_name(uint32_t type);
