/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* oneDNN matrix products with cached primitives; see onednn.h for what and why. */

#include <errno.h>
#include <inttypes.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "ggml-type.h"
#include "kernels/quant.h"
#include "onednn.h"

struct prim_key {
        size_t m, n, k, lda, ldb, ldc;
        dnnl_data_type_t src_dt, wei_dt;
        int n_threads;
};

struct prim_entry {
        bool used;
        struct prim_key key;
        uint64_t last_use;
        dnnl_primitive_t prim;
        /* Memory objects made once with the primitive; each call only sets their pointers. */
        dnnl_memory_t mem_a, mem_b, mem_c, mem_scratch;
        size_t scratchpad_bytes;
        char impl[64];
};

struct aid_onednn {
        dnnl_engine_t engine;
        dnnl_stream_t stream;
        bool bf16;
        uint64_t tick;
        struct prim_entry cache[AID_ONEDNN_CACHE_SIZE];
        struct aid_onednn_stats stats;
        const char *last_impl;

        /* Scratch, grown on demand and kept: A in bf16, oneDNN's scratchpad and the weight panel
         * (bf16 or f32, dequantized straight into it). */
        uint16_t *a_bf16;
        size_t a_bf16_bytes;
        void *scratchpad;
        size_t scratchpad_bytes;
        void *panel;
        size_t panel_bytes;
};

static int dnnl_fail(struct aid_error *err, dnnl_status_t st, const char *what)
{
        return aid_error_set(err, -EIO, "oneDNN %s failed: %s", what, dnnl_status2str(st));
}

static void update_scratch_stats(struct aid_onednn *dnn)
{
        dnn->stats.scratch_bytes =
                        dnn->a_bf16_bytes + dnn->scratchpad_bytes + dnn->panel_bytes;
        dnn->stats.panel_bytes = dnn->panel_bytes;
}

/* Grows *buf to at least `need` bytes (contents not kept). 64-byte alignment for the AVX-512
 * loads on both sides. */
static int grow(void **buf, size_t *have, size_t need, struct aid_error *err)
{
        void *p;

        if (need <= *have)
                return 0;
        need = (need + 63) & ~(size_t)63;
        p = aligned_alloc(64, need);
        if (!p)
                return aid_error_set(err, -ENOMEM, "oneDNN scratch: cannot allocate %zu bytes", need);
        free(*buf);
        *buf = p;
        *have = need;
        return 0;
}

static bool cpu_has_bf16(void)
{
        /* The ISA oneDNN will actually dispatch to (capped by ONEDNN_MAX_CPU_ISA), so that we
         * never convert to bf16 for a library that would then run a slow emulation. The ISA
         * values are bit masks: AMX includes avx512_core_bf16's bits, avx2_vnni does not. */
        unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
        unsigned need = (unsigned)dnnl_cpu_isa_avx512_core_bf16;

        return (isa & need) == need;
}

const char *aid_onednn_isa_name(void)
{
        switch (dnnl_get_effective_cpu_isa()) {
        case dnnl_cpu_isa_sse41:
                return "sse41";
        case dnnl_cpu_isa_avx:
                return "avx";
        case dnnl_cpu_isa_avx2:
                return "avx2";
        case dnnl_cpu_isa_avx2_vnni:
                return "avx2_vnni";
        case dnnl_cpu_isa_avx512_mic:
        case dnnl_cpu_isa_avx512_mic_4ops:
                return "avx512_mic";
        case dnnl_cpu_isa_avx512_core:
                return "avx512_core";
        case dnnl_cpu_isa_avx512_core_vnni:
                return "avx512_core_vnni";
        case dnnl_cpu_isa_avx512_core_bf16:
                return "avx512_core_bf16";
        case dnnl_cpu_isa_avx512_core_amx:
                return "avx512_core_amx";
        default:
                return "unknown";
        }
}

int aid_onednn_new(unsigned flags, struct aid_onednn **ret, struct aid_error *err)
{
        struct aid_onednn *dnn;
        dnnl_status_t st;

        dnn = calloc(1, sizeof(*dnn));
        if (!dnn)
                return aid_error_set(err, -ENOMEM, "oneDNN: out of memory");
        st = dnnl_engine_create(&dnn->engine, dnnl_cpu, 0);
        if (st != dnnl_success) {
                aid_onednn_free(dnn);
                return dnnl_fail(err, st, "CPU engine creation");
        }
        st = dnnl_stream_create(&dnn->stream, dnn->engine, dnnl_stream_default_flags);
        if (st != dnnl_success) {
                aid_onednn_free(dnn);
                return dnnl_fail(err, st, "stream creation");
        }
        dnn->bf16 = !(flags & AID_ONEDNN_FORCE_F32) && cpu_has_bf16();
        dnn->last_impl = "";
        *ret = dnn;
        return 0;
}

static void entry_clear(struct prim_entry *e)
{
        if (!e->used)
                return;
        dnnl_memory_destroy(e->mem_a);
        dnnl_memory_destroy(e->mem_b);
        dnnl_memory_destroy(e->mem_c);
        dnnl_memory_destroy(e->mem_scratch);
        dnnl_primitive_destroy(e->prim);
        memset(e, 0, sizeof(*e));
}

struct aid_onednn *aid_onednn_free(struct aid_onednn *dnn)
{
        if (!dnn)
                return NULL;
        for (size_t i = 0; i < AID_ONEDNN_CACHE_SIZE; i++)
                entry_clear(&dnn->cache[i]);
        if (dnn->stream)
                dnnl_stream_destroy(dnn->stream);
        if (dnn->engine)
                dnnl_engine_destroy(dnn->engine);
        free(dnn->a_bf16);
        free(dnn->scratchpad);
        free(dnn->panel);
        free(dnn);
        return NULL;
}

bool aid_onednn_uses_bf16(const struct aid_onednn *dnn)
{
        return dnn->bf16;
}

const char *aid_onednn_last_impl(const struct aid_onednn *dnn)
{
        return dnn->last_impl;
}

void aid_onednn_get_stats(const struct aid_onednn *dnn, struct aid_onednn_stats *ret)
{
        *ret = dnn->stats;
}

static int create_entry(struct aid_onednn *dnn, const struct prim_key *key, struct prim_entry *e,
                struct aid_error *err)
{
        dnnl_memory_desc_t a_md, b_md, c_md;
        dnnl_matmul_desc_t desc;
        dnnl_primitive_attr_t attr = NULL;
        dnnl_primitive_desc_t pd = NULL;
        const dnnl_memory_desc_t *scratch_md;
        const char *impl = NULL;
        dnnl_status_t st;
        int r = 0;

        /* A: M×K rows lda apart. B as oneDNN sees it is K×N: element (k, n) lives at
         * n * ldb + k, i.e. the GGUF weight rows read as columns. C: M×N rows ldc apart. */
        dnnl_dims_t a_dims = { (dnnl_dim_t)key->m, (dnnl_dim_t)key->k };
        dnnl_dims_t a_strides = { (dnnl_dim_t)key->lda, 1 };
        dnnl_dims_t b_dims = { (dnnl_dim_t)key->k, (dnnl_dim_t)key->n };
        dnnl_dims_t b_strides = { 1, (dnnl_dim_t)key->ldb };
        dnnl_dims_t c_dims = { (dnnl_dim_t)key->m, (dnnl_dim_t)key->n };
        dnnl_dims_t c_strides = { (dnnl_dim_t)key->ldc, 1 };

        st = dnnl_memory_desc_init_by_strides(&a_md, 2, a_dims, key->src_dt, a_strides);
        if (st == dnnl_success)
                st = dnnl_memory_desc_init_by_strides(&b_md, 2, b_dims, key->wei_dt, b_strides);
        if (st == dnnl_success)
                st = dnnl_memory_desc_init_by_strides(&c_md, 2, c_dims, dnnl_f32, c_strides);
        if (st != dnnl_success)
                return dnnl_fail(err, st, "memory descriptor");
        st = dnnl_matmul_desc_init(&desc, &a_md, &b_md, NULL, &c_md);
        if (st != dnnl_success)
                return dnnl_fail(err, st, "matmul descriptor");

        /* The scratchpad is ours (one buffer for all primitives, counted in the stats) rather
         * than one hidden allocation per primitive. */
        st = dnnl_primitive_attr_create(&attr);
        if (st == dnnl_success)
                st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
        if (st != dnnl_success) {
                r = dnnl_fail(err, st, "primitive attributes");
                goto out;
        }
        st = dnnl_primitive_desc_create(&pd, &desc, attr, dnn->engine, NULL);
        if (st != dnnl_success) {
                r = aid_error_set(err, st == dnnl_unimplemented ? -EOPNOTSUPP : -EIO,
                                "oneDNN has no matmul for %zux%zux%zu %s x %s: %s", key->m, key->n, key->k,
                                dnnl_dt2str(key->src_dt), dnnl_dt2str(key->wei_dt), dnnl_status2str(st));
                goto out;
        }
        st = dnnl_primitive_create(&e->prim, pd);
        if (st != dnnl_success) {
                r = dnnl_fail(err, st, "matmul primitive creation");
                goto out;
        }
        scratch_md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        e->scratchpad_bytes = scratch_md ? dnnl_memory_desc_get_size(scratch_md) : 0;
        st = dnnl_memory_create(&e->mem_a, &a_md, dnn->engine, DNNL_MEMORY_NONE);
        if (st == dnnl_success)
                st = dnnl_memory_create(&e->mem_b, &b_md, dnn->engine, DNNL_MEMORY_NONE);
        if (st == dnnl_success)
                st = dnnl_memory_create(&e->mem_c, &c_md, dnn->engine, DNNL_MEMORY_NONE);
        if (st == dnnl_success && e->scratchpad_bytes > 0)
                st = dnnl_memory_create(&e->mem_scratch, scratch_md, dnn->engine, DNNL_MEMORY_NONE);
        if (st != dnnl_success) {
                r = dnnl_fail(err, st, "memory object creation");
                goto out;
        }
        if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
                snprintf(e->impl, sizeof(e->impl), "%s", impl);
        e->key = *key;
        e->used = true;
out:
        if (r < 0) {
                e->used = true; /* so that entry_clear() destroys what was made */
                entry_clear(e);
        }
        dnnl_primitive_desc_destroy(pd);
        dnnl_primitive_attr_destroy(attr);
        return r;
}

static int get_entry(struct aid_onednn *dnn, const struct prim_key *key, struct prim_entry **ret,
                struct aid_error *err)
{
        struct prim_entry *victim = NULL;
        int r;

        for (size_t i = 0; i < AID_ONEDNN_CACHE_SIZE; i++) {
                struct prim_entry *e = &dnn->cache[i];

                if (!e->used) {
                        if (!victim || victim->used)
                                victim = e;
                        continue;
                }
                if (memcmp(&e->key, key, sizeof(*key)) == 0) {
                        e->last_use = ++dnn->tick;
                        dnn->stats.cache_hits++;
                        *ret = e;
                        return 0;
                }
                if (!victim || (victim->used && e->last_use < victim->last_use))
                        victim = e;
        }
        if (victim->used) {
                entry_clear(victim);
                dnn->stats.n_cached--;
        }
        r = create_entry(dnn, key, victim, err);
        if (r < 0)
                return r;
        r = grow(&dnn->scratchpad, &dnn->scratchpad_bytes, victim->scratchpad_bytes, err);
        if (r < 0) {
                entry_clear(victim);
                return r;
        }
        update_scratch_stats(dnn);
        victim->last_use = ++dnn->tick;
        dnn->stats.primitives_created++;
        dnn->stats.n_cached++;
        *ret = victim;
        return 0;
}

/* One product on a cached primitive; a is in src_dt, b in wei_dt, strides in elements. */
static int run_matmul(struct aid_onednn *dnn, dnnl_data_type_t src_dt, const void *a, size_t lda,
                dnnl_data_type_t wei_dt, const void *b, size_t ldb, float *c, size_t ldc, size_t m, size_t n,
                size_t k, struct aid_error *err)
{
        /* Zero the key first: memcmp() compares its padding too. */
        struct prim_key key;
        struct prim_entry *e;
        dnnl_status_t st;
        int r, n_args = 3;

        memset(&key, 0, sizeof(key));
        key.m = m;
        key.n = n;
        key.k = k;
        key.lda = lda;
        key.ldb = ldb;
        key.ldc = ldc;
        key.src_dt = src_dt;
        key.wei_dt = wei_dt;
        key.n_threads = omp_get_max_threads();

        r = get_entry(dnn, &key, &e, err);
        if (r < 0)
                return r;

        /* oneDNN only reads SRC and WEIGHTS; its handle setter is not const-qualified. */
        st = dnnl_memory_set_data_handle_v2(e->mem_a, (void *)a, dnn->stream);
        if (st == dnnl_success)
                st = dnnl_memory_set_data_handle_v2(e->mem_b, (void *)b, dnn->stream);
        if (st == dnnl_success)
                st = dnnl_memory_set_data_handle_v2(e->mem_c, c, dnn->stream);
        if (st == dnnl_success && e->mem_scratch)
                st = dnnl_memory_set_data_handle_v2(e->mem_scratch, dnn->scratchpad, dnn->stream);
        if (st != dnnl_success)
                return dnnl_fail(err, st, "setting memory handles");

        dnnl_exec_arg_t args[4] = {
                { DNNL_ARG_SRC, e->mem_a },
                { DNNL_ARG_WEIGHTS, e->mem_b },
                { DNNL_ARG_DST, e->mem_c },
        };
        if (e->mem_scratch)
                args[n_args++] = (dnnl_exec_arg_t){ DNNL_ARG_SCRATCHPAD, e->mem_scratch };
        st = dnnl_primitive_execute(e->prim, dnn->stream, n_args, args);
        if (st == dnnl_success)
                st = dnnl_stream_wait(dnn->stream);
        if (st != dnnl_success)
                return dnnl_fail(err, st, "matmul execution");
        dnn->stats.calls++;
        dnn->last_impl = e->impl;
        return 0;
}

/* Round to nearest even, NaN kept quiet: the same rule as aid_f32_to_bf16() and llama.cpp's
 * GGML_FP32_TO_BF16, written inline so that the compiler vectorises the loops below. */
static inline uint16_t f32_to_bf16(float f)
{
        uint32_t x;

        memcpy(&x, &f, sizeof(x));
        if ((x & 0x7fffffffu) > 0x7f800000u)
                return (uint16_t)((x >> 16) | 0x40u);
        return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/* A (m rows of k, lda apart) to dense bf16 in dnn->a_bf16. */
static int convert_a(struct aid_onednn *dnn, const float *a, size_t m, size_t k, size_t lda,
                struct aid_error *err)
{
        int r = grow((void **)&dnn->a_bf16, &dnn->a_bf16_bytes, m * k * sizeof(uint16_t), err);

        if (r < 0)
                return r;
        update_scratch_stats(dnn);
        uint16_t *dst = dnn->a_bf16;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < m; i++)
                for (size_t j = 0; j < k; j++)
                        dst[i * k + j] = f32_to_bf16(a[i * lda + j]);
        return 0;
}

static int check_dims(
                size_t m, size_t n, size_t k, size_t lda, size_t ldb, size_t ldc, struct aid_error *err)
{
        /* oneDNN dims are int64 and the products below must not wrap. */
        const size_t lim = (size_t)1 << 31;

        if (m == 0 || n == 0 || k == 0)
                return aid_error_set(err, -EINVAL, "matmul: empty shape %zux%zux%zu", m, n, k);
        if (m >= lim || n >= lim || k >= lim || lda >= lim || ldb >= lim || ldc >= lim)
                return aid_error_set(err, -EINVAL, "matmul: shape %zux%zux%zu too large", m, n, k);
        if (lda < k || ldb < k || ldc < n)
                return aid_error_set(err, -EINVAL,
                                "matmul: leading dimensions %zu/%zu/%zu below k=%zu / n=%zu", lda, ldb, ldc,
                                k, n);
        return 0;
}

int aid_onednn_matmul(struct aid_onednn *dnn, const float *a, size_t m, size_t k, size_t lda,
                uint32_t b_type, const void *b, size_t n, size_t ldb, float *c, size_t ldc,
                struct aid_error *err)
{
        int r;

        lda = lda ? lda : k;
        ldb = ldb ? ldb : k;
        ldc = ldc ? ldc : n;
        r = check_dims(m, n, k, lda, ldb, ldc, err);
        if (r < 0)
                return r;

        switch (b_type) {
        case GGML_TYPE_F32:
                return run_matmul(dnn, dnnl_f32, a, lda, dnnl_f32, b, ldb, c, ldc, m, n, k, err);
        case GGML_TYPE_BF16:
                if (!dnn->bf16)
                        return aid_onednn_matmul_dequant(dnn, b_type, b, ldb * sizeof(uint16_t), n, a, m, k,
                                        lda, c, ldc, NULL, NULL, err);
                r = convert_a(dnn, a, m, k, lda, err);
                if (r < 0)
                        return r;
                return run_matmul(dnn, dnnl_bf16, dnn->a_bf16, k, dnnl_bf16, b, ldb, c, ldc, m, n, k, err);
        default:
                return aid_error_set(err, -EINVAL,
                                "matmul: weight type %s is neither F32 nor BF16 (use the dequantizing "
                                "product)",
                                ggml_type_name(b_type));
        }
}

/* Rows [r0, r0 + rows) of W into the panel, in f32 or bf16, by the SIMD dequantizers (bf16
 * rounded in registers: no f32 row in between). Returns 0 or the first error of any thread. */
static int fill_panel(struct aid_onednn *dnn, uint32_t type, const uint8_t *w, size_t row_bytes, size_t r0,
                size_t rows, size_t k, bool bf16)
{
        atomic_int failed = 0;
        float *f32_panel = dnn->panel;
        uint16_t *bf16_panel = dnn->panel;

#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < rows; i++) {
                const uint8_t *src = w + (r0 + i) * row_bytes;
                int rr = bf16 ? aid_dequantize_row_bf16(type, src, bf16_panel + i * k, k)
                              : aid_dequantize_row(type, src, f32_panel + i * k, k);

                if (rr < 0)
                        atomic_store(&failed, rr);
        }
        return atomic_load(&failed);
}

int aid_onednn_matmul_dequant(struct aid_onednn *dnn, uint32_t type, const void *w, size_t row_bytes,
                size_t n, const float *a, size_t m, size_t k, size_t lda, float *c, size_t ldc,
                bool (*stop)(void *userdata), void *stop_userdata, struct aid_error *err)
{
        const struct ggml_type_traits *tr = ggml_type_traits_get(type);
        uint64_t min_row_bytes;
        size_t elem, panel_rows;
        bool bf16;
        int r;

        if (!tr || !ggml_type_is_supported(type))
                return aid_error_set(err, -EOPNOTSUPP, "matmul: weight type %s is not supported",
                                ggml_type_name(type));
        if (type == GGML_TYPE_F32)
                return aid_onednn_matmul(
                                dnn, a, m, k, lda, type, w, n, row_bytes / sizeof(float), c, ldc, err);
        if (type == GGML_TYPE_BF16 && dnn->bf16)
                return aid_onednn_matmul(
                                dnn, a, m, k, lda, type, w, n, row_bytes / sizeof(uint16_t), c, ldc, err);

        lda = lda ? lda : k;
        ldc = ldc ? ldc : n;
        r = check_dims(m, n, k, lda, k, ldc, err);
        if (r < 0)
                return r;
        if (ggml_row_bytes(type, k, &min_row_bytes) < 0)
                return aid_error_set(err, -EINVAL, "matmul: row of %zu is not a whole number of %s blocks",
                                k, tr->name);
        row_bytes = row_bytes ? row_bytes : (size_t)min_row_bytes;
        if (row_bytes < min_row_bytes)
                return aid_error_set(err, -EINVAL, "matmul: %s rows %zu bytes apart, a row takes %" PRIu64,
                                tr->name, row_bytes, min_row_bytes);

        /* F16 widens to f32 exactly; rounding it to bf16 would cost the accuracy llama.cpp's
         * f16 products keep. */
        bf16 = dnn->bf16 && type != GGML_TYPE_F16;
        elem = bf16 ? sizeof(uint16_t) : sizeof(float);
        /* Whole panels of 16 rows (oneDNN's N blocking) that fit the panel budget. */
        panel_rows = AID_ONEDNN_PANEL_BYTES / (k * elem);
        panel_rows = panel_rows >= 16 ? panel_rows & ~(size_t)15 : 16;
        panel_rows = MIN(panel_rows, n);

        r = grow(&dnn->panel, &dnn->panel_bytes, panel_rows * k * elem, err);
        if (r >= 0 && bf16)
                r = convert_a(dnn, a, m, k, lda, err);
        if (r < 0)
                return r;
        update_scratch_stats(dnn);

        for (size_t r0 = 0; r0 < n; r0 += panel_rows) {
                size_t rows = MIN(panel_rows, n - r0);

                if (stop && stop(stop_userdata))
                        return aid_error_set(err, -ECANCELED, "matmul: stopped before rows %zu..%zu", r0,
                                        r0 + rows - 1);
                r = fill_panel(dnn, type, w, row_bytes, r0, rows, k, bf16);
                if (r < 0)
                        return aid_error_set(err, r, "matmul: dequantizing %s rows %zu..%zu failed",
                                        tr->name, r0, r0 + rows - 1);
                if (bf16)
                        r = run_matmul(dnn, dnnl_bf16, dnn->a_bf16, k, dnnl_bf16, dnn->panel, k, c + r0, ldc,
                                        m, rows, k, err);
                else
                        r = run_matmul(dnn, dnnl_f32, a, lda, dnnl_f32, dnn->panel, k, c + r0, ldc, m, rows,
                                        k, err);
                if (r < 0)
                        return r;
        }
        return 0;
}
