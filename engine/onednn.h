/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The one place that talks to oneDNN: the CPU engine and stream, and matrix products for the
 * large GEMMs of prompt prefill.
 *
 * Operation: C[M×N] (f32, row-major) = A[M×K] (f32, row-major) × Bᵀ, where B is a weight
 * matrix stored as GGUF stores it: N rows of K contiguous elements (ne[0] = K). Leading
 * dimensions (in elements) let A, B and C be views into larger buffers.
 *
 * oneDNN primitive creation costs milliseconds, so every primitive is created once per
 * (M, N, K, leading dimensions, data types, thread count) and kept in a small LRU cache; a
 * call with a shape seen before executes the cached primitive. The thread count is part of the
 * key because oneDNN (built with OpenMP here) fixes its work split when a primitive is created:
 * after omp_set_num_threads() the next call gets a primitive made for the new count.
 *
 * Compute type: bf16 (f32 accumulation) on CPUs with AVX512-BF16 or AMX, f32 otherwise. A is
 * converted to bf16 once per call into a scratch buffer owned by the object.
 *
 * Int8 (VNNI) is not used, on purpose. GGUF quantized weights carry one scale per block of 32
 * (Q8_0, Q4_0, ...) or per sub-block of 16/32 inside 256-element super-blocks (K-quants), i.e.
 * scales that vary along K. oneDNN 2.6's int8 matmul only takes scales per output channel (N)
 * or per tensor, applied after the K reduction, and it has no per-row (M) activation scales at
 * all: expressing a GGUF block dot product would need either K/32 separate products of depth
 * 32 (hopelessly slow) or re-quantizing the weights with per-row scales, which changes the
 * numbers the file defines. Neither is faithful, so quantized weights are dequantized into a
 * reusable bf16/f32 panel (aid_onednn_matmul_dequant()) and multiplied in floating point.
 *
 * An object is not thread-safe: use one per context. It never logs; errors are a negative
 * errno plus a message in struct aid_error naming oneDNN's status (dnnl_status2str()). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct aid_onednn;

enum {
        /* Compute in f32 even where the CPU has bf16 (exactness tests, F32 conformance). */
        AID_ONEDNN_FORCE_F32 = 1u << 0,
};

/* Primitives kept at most; the least recently used one is dropped beyond that. */
#define AID_ONEDNN_CACHE_SIZE 64u

struct aid_onednn_stats {
        uint64_t primitives_created; /* cache misses: oneDNN primitives made */
        uint64_t cache_hits;         /* calls that reused a cached primitive */
        uint64_t calls;              /* matrix products executed */
        size_t n_cached;             /* primitives in the cache now */
        /* Bytes of scratch memory the object holds now: A in bf16, the dequantized weight
         * panel, the f32 row buffer of the dequantizer, oneDNN's scratchpad. */
        size_t scratch_bytes;
        size_t panel_bytes; /* of which the dequantized weight panel */
};

/* flags: AID_ONEDNN_*. -ENOMEM, -EIO for a oneDNN failure (message names the status). */
int aid_onednn_new(unsigned flags, struct aid_onednn **ret, struct aid_error *err);
struct aid_onednn *aid_onednn_free(struct aid_onednn *dnn); /* accepts NULL, returns NULL */

/* True when products run in bf16 (CPU has AVX512-BF16 or AMX, and not AID_ONEDNN_FORCE_F32). */
bool aid_onednn_uses_bf16(const struct aid_onednn *dnn);
/* oneDNN's effective ISA as a short name ("avx512_core_bf16", "avx2", ...). */
const char *aid_onednn_isa_name(void);
/* The implementation oneDNN chose for the last primitive executed ("brg:avx512_core_bf16"),
 * "" before the first call. */
const char *aid_onednn_last_impl(const struct aid_onednn *dnn);
void aid_onednn_get_stats(const struct aid_onednn *dnn, struct aid_onednn_stats *ret);

/* C = A × Bᵀ. a: m rows of k f32, lda >= k apart; b: n rows of k elements of b_type
 * (GGML_TYPE_F32 or GGML_TYPE_BF16), ldb >= k apart; c: m rows of n f32, ldc >= n apart. A
 * leading dimension of 0 means dense (k, k, n). F32 weights are multiplied in f32 (exact
 * products, as F32 conformance needs); BF16 weights in bf16 (A rounded to bf16, as llama.cpp
 * does) where the CPU has it and the object is not AID_ONEDNN_FORCE_F32, else converted to
 * f32 panel by panel. -EINVAL for bad sizes or another b_type, -EIO for a oneDNN failure,
 * -ENOMEM. */
int aid_onednn_matmul(struct aid_onednn *dnn, const float *a, size_t m, size_t k, size_t lda,
                uint32_t b_type, const void *b, size_t n, size_t ldb, float *c, size_t ldc,
                struct aid_error *err);

/* The prefill path for weights of any supported GGUF type: C = A × Wᵀ with W n rows of k
 * elements of `type`, row_bytes apart (0: ggml_row_bytes(type, k)), used in place (e.g. in
 * the mmapped file). Quantized and F16 weights are dequantized (aid_dequantize_row(), OpenMP
 * threads over rows) into a reusable panel of at most AID_ONEDNN_PANEL_BYTES, and each
 * panel of rows is one cached matrix product writing its columns of C.
 *
 * Compute type by weight type: F32 and F16 in f32 (F16 converts to f32 exactly; bf16 would
 * round the weights a second time); BF16 and quantized types in bf16 on CPUs with bf16
 * (rounding a dequantized weight to bf16 costs less than the 8-bit activation quantization
 * llama.cpp applies to the same products), f32 otherwise.
 *
 * stop (may be NULL) is asked before each panel: when it says true, -ECANCELED and C is
 * incomplete. A product on a long prompt's rows takes tens of milliseconds; a caller that must
 * make way for other work waits for one panel instead. */
#define AID_ONEDNN_PANEL_BYTES (8u << 20)
int aid_onednn_matmul_dequant(struct aid_onednn *dnn, uint32_t type, const void *w, size_t row_bytes,
                size_t n, const float *a, size_t m, size_t k, size_t lda, float *c, size_t ldc,
                bool (*stop)(void *userdata), void *stop_userdata, struct aid_error *err);
