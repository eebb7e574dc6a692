/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* GGUF v3 writer, for the model maker and for tests. Key/values are encoded as they are added
 * (in order); tensors are declared with their name, type and shape, and their data is either
 * borrowed from the caller or produced row by row at write time through a callback, so that
 * files larger than memory can be written. The file is written to a temporary name beside the
 * target and renamed into place, so that a failed write never leaves a truncated model behind.
 *
 * Layout (what engine/gguf.h reads): header, key/values, tensor infos, padding to the
 * alignment, tensor data with every tensor starting at a multiple of the alignment (ggml also
 * pads after the last one). The alignment is 32 unless a `general.alignment` UINT32 key (a
 * power of two) says otherwise.
 *
 * Errors are sticky: the first failing add records its message, later adds are refused with
 * the same code, and gguf_writer_write() reports it, so a caller may add many keys and check
 * once. */

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "gguf.h"

struct gguf_writer;

struct gguf_writer *gguf_writer_new(void);                   /* NULL on ENOMEM */
struct gguf_writer *gguf_writer_free(struct gguf_writer *w); /* accepts NULL, returns NULL */

/* Each returns 0, -EEXIST for a key added before, -EINVAL for an empty key or bad argument,
 * -ENOMEM. */
int gguf_writer_add_u8(struct gguf_writer *w, const char *key, uint8_t v);
int gguf_writer_add_i8(struct gguf_writer *w, const char *key, int8_t v);
int gguf_writer_add_u16(struct gguf_writer *w, const char *key, uint16_t v);
int gguf_writer_add_i16(struct gguf_writer *w, const char *key, int16_t v);
int gguf_writer_add_u32(struct gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_add_i32(struct gguf_writer *w, const char *key, int32_t v);
int gguf_writer_add_u64(struct gguf_writer *w, const char *key, uint64_t v);
int gguf_writer_add_i64(struct gguf_writer *w, const char *key, int64_t v);
int gguf_writer_add_f32(struct gguf_writer *w, const char *key, float v);
int gguf_writer_add_f64(struct gguf_writer *w, const char *key, double v);
int gguf_writer_add_bool(struct gguf_writer *w, const char *key, bool v);
int gguf_writer_add_str(struct gguf_writer *w, const char *key, const char *v);
/* A string of len bytes that may hold NULs (GGUF strings are length-prefixed). */
int gguf_writer_add_str_len(struct gguf_writer *w, const char *key, const char *v, size_t len);
/* An array of n fixed-size elements of elem_type (UINT8..FLOAT64, BOOL as uint8 0/1), given as
 * a packed host array (this writer, like ggml, assumes a little-endian host). */
int gguf_writer_add_arr(struct gguf_writer *w, const char *key, enum gguf_value_type elem_type,
                const void *data, uint64_t n);
int gguf_writer_add_arr_str(struct gguf_writer *w, const char *key, const char *const *v, uint64_t n);

/* Declares a tensor: n_dims (1..4) sizes in ne, ne[0] the contiguous dimension and a multiple
 * of the type's block size. data (ggml_row_bytes(type, ne[0]) × ne[1] × ne[2] × ne[3] bytes)
 * is borrowed until gguf_writer_write() returns; NULL means the fill callback produces it.
 * -EEXIST for a name used before, -EINVAL (message set) for a bad name, type or shape. */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                const uint64_t *ne, const void *data);
uint64_t gguf_writer_n_tensors(const struct gguf_writer *w);

/* Produces rows [row0, row0 + n_rows) of tensor `index` (rows of ne[0] elements, in the
 * tensor's type, counted over ne[1] × ne[2] × ne[3]) into buf. Returns 0 or a negative errno
 * (the write is then abandoned). */
typedef int (*gguf_writer_fill_t)(void *userdata, uint64_t index, uint64_t row0, uint64_t n_rows, void *buf);

/* Writes the file. fill may be NULL when every tensor has data. Returns the first error of an
 * earlier add, an I/O errno (message names the path), or the fill callback's error. */
int gguf_writer_write(struct gguf_writer *w, const char *path, gguf_writer_fill_t fill, void *userdata,
                struct aid_error *err);
