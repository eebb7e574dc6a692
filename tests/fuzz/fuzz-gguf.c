/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the GGUF reader: after gguf_open_memory() accepts an input, every
 * pointer it hands out is touched (each string byte, each array element, the first and last
 * byte of each tensor), so that ASan reports any that points outside the input. */

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

static void touch(const void *p, uint64_t n)
{
        const volatile uint8_t *b = p;
        uint64_t sum = 0;

        for (uint64_t i = 0; i < n; i++)
                sum += b[i];
        sink += sum;
}

static void walk_value(const struct gguf_value *v)
{
        switch (v->type) {
        case GGUF_TYPE_STRING:
                touch(v->str.data, v->str.len);
                break;
        case GGUF_TYPE_ARRAY:
                for (uint64_t i = 0; i < v->arr.n; i++) {
                        switch (v->arr.elem_type) {
                        case GGUF_TYPE_STRING: {
                                struct gguf_str s = gguf_arr_str(v, i);
                                touch(s.data, s.len);
                                break;
                        }
                        case GGUF_TYPE_ARRAY:
                                walk_value(gguf_arr_arr(v, i));
                                break;
                        case GGUF_TYPE_FLOAT32:
                        case GGUF_TYPE_FLOAT64:
                                sink += (uint64_t)(gguf_arr_f64(v, i) != 0.0);
                                break;
                        default:
                                sink += gguf_arr_u64(v, i) + (uint64_t)gguf_arr_i64(v, i);
                                break;
                        }
                }
                if (v->arr.n > 0 && gguf_value_type_size(v->arr.elem_type) > 0)
                        touch(v->arr.data, v->arr.n * gguf_value_type_size(v->arr.elem_type));
                break;
        default:
                sink += v->u64;
                break;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct gguf_file *f = NULL;
        struct aid_error err = {};

        if (gguf_open_memory(data, size, &f, &err) < 0) {
                /* Every failure must say why. */
                if (err.code >= 0 || err.message[0] == '\0')
                        __builtin_trap();
                return 0;
        }

        for (uint64_t i = 0; i < gguf_n_kv(f); i++) {
                const struct gguf_kv *kv = gguf_kv_at(f, i);

                if (gguf_find_kv(f, kv->key) != kv)
                        __builtin_trap();
                walk_value(&kv->value);
        }
        for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
                const struct gguf_tensor *t = gguf_tensor_at(f, i);
                const uint8_t *d = t->data;

                if (gguf_find_tensor(f, t->name) != t || t->n_bytes == 0)
                        __builtin_trap();
                sink += d[0] + d[t->n_bytes - 1] + gguf_tensor_n_elements(t);
        }
        f = gguf_close(f);
        return 0;
}
