/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "kernels-internal.h"

static const struct kern_dot_table *table_for(enum aid_cpu_level level)
{
        switch (level) {
        case AID_CPU_AVX512_VNNI:
                return &kern_dot_avx512_vnni;
        case AID_CPU_AVX512:
                return &kern_dot_avx512;
        case AID_CPU_AVX2:
                return &kern_dot_avx2;
        default:
                return &kern_dot_scalar;
        }
}

/* A level's kernel for type, or the next lower level's where it has none. */
static kern_dot_fn dot_for(enum aid_cpu_level level, uint32_t type)
{
        for (int l = (int)level; l >= (int)AID_CPU_SCALAR; l--) {
                kern_dot_fn fn = table_for((enum aid_cpu_level)l)->dot[type];
                if (fn)
                        return fn;
        }
        return NULL;
}

static kern_qdot_fn qdot_for(enum aid_cpu_level level, uint32_t type)
{
        for (int l = (int)level; l > (int)AID_CPU_SCALAR; l--) {
                kern_qdot_fn fn = table_for((enum aid_cpu_level)l)->qdot[type];
                if (fn)
                        return fn;
        }
        return kern_qdot_scalar[type];
}

static kern_quantize_x_fn quantize_x_for(enum aid_cpu_level level)
{
        for (int l = (int)level; l > (int)AID_CPU_SCALAR; l--)
                if (table_for((enum aid_cpu_level)l)->quantize_x)
                        return table_for((enum aid_cpu_level)l)->quantize_x;
        return kern_quantize_x_scalar;
}

static _Atomic int current_mode = AID_MATVEC_AUTO;

enum aid_matvec_mode aid_matvec_set_mode(enum aid_matvec_mode mode)
{
        if (mode != AID_MATVEC_F32X && mode != AID_MATVEC_Q8X)
                mode = AID_MATVEC_AUTO;
        atomic_store_explicit(&current_mode, (int)mode, memory_order_relaxed);
        return mode;
}

enum aid_matvec_mode aid_matvec_get_mode(void)
{
        return (enum aid_matvec_mode)atomic_load_explicit(&current_mode, memory_order_relaxed);
}

bool aid_matvec_uses_q8x(uint32_t type)
{
        if (type >= _GGML_TYPE_MAX || !kern_qdot_scalar[type])
                return false;
        switch (aid_matvec_get_mode()) {
        case AID_MATVEC_F32X:
                return false;
        case AID_MATVEC_Q8X:
                return true;
        case AID_MATVEC_AUTO:
                break;
        }
        /* Measured with tools/kernel-bench on the 8192 x 2048 Llama-3.2-1B FFN shape: every
         * quantized type is 1.5-3x faster with 8-bit x, except Q8_0, which reads its 34 bytes
         * per 32 weights at the bandwidth limit with 2 threads either way (f32 x 26-33 GB/s,
         * 8-bit x 24-28 GB/s): it keeps the exact activations. */
        return type != GGML_TYPE_Q8_0;
}

/* The 8-bit x of the calling thread: grown to the largest cols seen, kept for the thread's
 * life (freed by the key's destructor when it exits), so decode allocates nothing per call. */
struct xq_scratch {
        void *mem;
        size_t cols;
        struct kern_xq xq;
        /* aid_matmul_rows(): the n quantized rows of x and their interleaved copies, grown to
         * the largest batch seen (a batch of 32 long rows is past malloc's mmap threshold, and
         * a fresh mapping per product would fault its pages in every time). */
        void *batch_mem;
        size_t batch_bytes;
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static bool scratch_key_ok;

static void scratch_free(void *p)
{
        struct xq_scratch *s = p;

        if (s) {
                free(s->mem);
                free(s->batch_mem);
        }
        free(s);
}

static void scratch_key_init(void)
{
        scratch_key_ok = pthread_key_create(&scratch_key, scratch_free) == 0;
}

/* One allocation for the quantized x of `cols` elements: qs, then d (one per 32 at most),
 * s16, s32, fs32, nl4, each aligned for its type as cols is rounded up to a multiple of 256. */
static size_t xq_bytes(size_t cols)
{
        size_t n = (cols + 255) / 256 * 256;
        size_t total = n + n / 32 * sizeof(float) + n / 16 * sizeof(int16_t) + n / 32 * sizeof(int16_t) +
                       n / 32 * sizeof(float) + n / 4 * sizeof(int32_t);
        return (total + 63) / 64 * 64;
}

static struct kern_xq xq_layout(uint8_t *mem, size_t cols)
{
        size_t n = (cols + 255) / 256 * 256;
        size_t o_d = n, o_s16 = o_d + n / 32 * sizeof(float), o_s32 = o_s16 + n / 16 * sizeof(int16_t),
               o_fs32 = o_s32 + n / 32 * sizeof(int16_t), o_nl4 = o_fs32 + n / 32 * sizeof(float);

        return (struct kern_xq){
                .qs = (int8_t *)mem,
                .d = (float *)(void *)(mem + o_d),
                .s16 = (int16_t *)(void *)(mem + o_s16),
                .s32 = (int16_t *)(void *)(mem + o_s32),
                .fs32 = (float *)(void *)(mem + o_fs32),
                .nl4 = (int32_t *)(void *)(mem + o_nl4),
        };
}

/* The calling thread's scratch, made on first use. */
static struct xq_scratch *scratch_self(void)
{
        struct xq_scratch *s;

        if (pthread_once(&scratch_once, scratch_key_init) != 0 || !scratch_key_ok)
                return NULL;
        s = pthread_getspecific(scratch_key);
        if (!s) {
                s = calloc(1, sizeof(*s));
                if (!s || pthread_setspecific(scratch_key, s) != 0) {
                        free(s);
                        return NULL;
                }
        }
        return s;
}

static const struct kern_xq *scratch_get(size_t cols)
{
        struct xq_scratch *s = scratch_self();

        if (!s)
                return NULL;
        if (s->mem && s->cols >= cols)
                return &s->xq;
        uint8_t *mem = aligned_alloc(64, xq_bytes(cols));
        if (!mem)
                return NULL;
        free(s->mem);
        s->mem = mem;
        s->cols = (cols + 255) / 256 * 256;
        s->xq = xq_layout(mem, cols);
        return &s->xq;
}

/* `bytes` (a multiple of 64) of the calling thread's batch scratch, NULL when out of memory. */
static uint8_t *scratch_batch(size_t bytes)
{
        struct xq_scratch *s = scratch_self();

        if (!s)
                return NULL;
        if (s->batch_bytes < bytes) {
                void *mem = aligned_alloc(64, bytes);
                if (!mem)
                        return NULL;
                free(s->batch_mem);
                s->batch_mem = mem;
                s->batch_bytes = bytes;
        }
        return s->batch_mem;
}

void aid_matvec(uint32_t type, const void *w, size_t row_bytes, const float *x, float *y, size_t rows,
                size_t cols)
{
        enum aid_cpu_level level = aid_kernels_get_level();
        const uint8_t *base = w;
        kern_dot_fn fn = NULL;

        if (type < _GGML_TYPE_MAX)
                fn = dot_for(level, type);
        if (!fn) {
                /* Callers validate types at load time (ggml_type_is_supported()); a bad one
                 * here is a bug, made visible rather than silent. */
                for (size_t r = 0; r < rows; r++)
                        y[r] = NAN;
                return;
        }

        if (aid_matvec_uses_q8x(type)) {
                /* Quantize x once on the calling thread; every row reads it. Should the
                 * scratch not be had (out of memory), the f32 path below still answers. */
                const struct kern_xq *xq = scratch_get(cols);
                if (xq) {
                        kern_qdot_fn qfn = qdot_for(level, type);
                        size_t block = ggml_type_traits_get(type)->block_elems;
                        quantize_x_for(level)(x, cols, block, xq);
#pragma omp parallel for schedule(static) if (rows * row_bytes >= (1u << 18))
                        for (size_t r = 0; r < rows; r++)
                                y[r] = qfn(base + r * row_bytes, xq, cols);
                        return;
                }
        }

        /* Static schedule: each thread streams one contiguous slab of the matrix, which is
         * what the hardware prefetchers like. Small products stay on the calling thread,
         * where waking the team would cost more than the work. */
#pragma omp parallel for schedule(static) if (rows * row_bytes >= (1u << 18))
        for (size_t r = 0; r < rows; r++)
                y[r] = fn(base + r * row_bytes, x, cols);
}

/* The multi-row kernel of level for type, or of the next lower level that has one; NULL where
 * none has (the caller loops over the single-row kernel). AVX-512 without VNNI uses AVX2's. */
static kern_qdot_multi_fn qdot_multi_for(enum aid_cpu_level level, uint32_t type)
{
        kern_qdot_multi_fn fn = NULL;

        if (level >= AID_CPU_AVX512_VNNI)
                fn = kern_qdot_multi_avx512_vnni[type];
        if (!fn && level >= AID_CPU_AVX2)
                fn = kern_qdot_multi_avx2[type];
        return fn ? fn : kern_qdot_multi_scalar[type];
}

bool aid_matmul_rows_has_multi(uint32_t type)
{
        return type < _GGML_TYPE_MAX && aid_matvec_uses_q8x(type) &&
               qdot_multi_for(aid_kernels_get_level(), type) != NULL;
}

void aid_matmul_rows(uint32_t type, const void *w, size_t row_bytes, const float *x, size_t n, float *y,
                size_t rows, size_t cols)
{
        enum aid_cpu_level level = aid_kernels_get_level();
        const uint8_t *base = w;
        kern_dot_fn fn = type < _GGML_TYPE_MAX ? dot_for(level, type) : NULL;
        struct kern_xq xq[AID_MATMUL_ROWS_MAX];
        uint8_t *mem = NULL;

        if (!fn || n > AID_MATMUL_ROWS_MAX) {
                for (size_t i = 0; i < n * rows; i++)
                        y[i] = NAN;
                return;
        }
        if (n == 1) {
                aid_matvec(type, w, row_bytes, x, y, rows, cols);
                return;
        }

        enum { G = (AID_MATMUL_ROWS_MAX + KERN_QDOT_MULTI_MAX - 1) / KERN_QDOT_MULTI_MAX };
        size_t stride = xq_bytes(cols), tstride = kern_xqt_bytes(cols);
        if (aid_matvec_uses_q8x(type)) {
                /* Quantize every x once; should the memory not be had, the f32 path answers.
                 * The interleaved copies for the multi-row kernels follow the n rows. */
                mem = scratch_batch(stride * n + tstride * G);
                if (mem) {
                        size_t block = ggml_type_traits_get(type)->block_elems;
                        for (size_t j = 0; j < n; j++) {
                                xq[j] = xq_layout(mem + j * stride, cols);
                                quantize_x_for(level)(x + j * cols, cols, block, &xq[j]);
                        }
                }
        }

        /* Row-major over the weights: each row is read from memory once and stays in L1 while
         * it meets the n activation rows, so n tokens cost one pass over the matrix. */
        if (mem) {
                kern_qdot_fn qfn = qdot_for(level, type);
                kern_qdot_multi_fn mfn = qdot_multi_for(level, type);
                struct kern_xqt xt[G] = { 0 };
                if (mfn && ggml_type_traits_get(type)->block_elems == 32) {
                        /* The 32-element types' kernels read x side by side, per group. */
                        uint8_t *tmem = mem + stride * n;
                        for (size_t g = 0; g * KERN_QDOT_MULTI_MAX < n; g++) {
                                size_t j0 = g * KERN_QDOT_MULTI_MAX;
                                xt[g] = kern_xqt_layout(tmem + g * tstride, cols);
                                kern_xqt_fill(&xq[j0],
                                                n - j0 < KERN_QDOT_MULTI_MAX ? n - j0 : KERN_QDOT_MULTI_MAX,
                                                cols, &xt[g]);
                        }
                }
                if (mfn) {
                        /* Each weight block unpacked once per group of up to 8 rows of x. (Splitting
                         * the columns so that x stays in L1 for long rows was measured slower: the
                         * strided reads of the weights cost more than the L2 reads of x.) */
#pragma omp parallel for schedule(static) if (rows * row_bytes >= (1u << 18))
                        for (size_t r = 0; r < rows; r++)
                                for (size_t j0 = 0; j0 < n; j0 += KERN_QDOT_MULTI_MAX) {
                                        size_t m = n - j0 < KERN_QDOT_MULTI_MAX ? n - j0
                                                                                : KERN_QDOT_MULTI_MAX;
                                        float out[KERN_QDOT_MULTI_MAX] = { 0 };
                                        mfn(base + r * row_bytes, &xq[j0], &xt[j0 / KERN_QDOT_MULTI_MAX], m,
                                                        cols, out);
                                        for (size_t j = 0; j < m; j++)
                                                y[(j0 + j) * rows + r] = out[j];
                                }
                        return;
                }
#pragma omp parallel for schedule(static) if (rows * row_bytes >= (1u << 18))
                for (size_t r = 0; r < rows; r++)
                        for (size_t j = 0; j < n; j++)
                                y[j * rows + r] = qfn(base + r * row_bytes, &xq[j], cols);
                return;
        }
#pragma omp parallel for schedule(static) if (rows * row_bytes >= (1u << 18))
        for (size_t r = 0; r < rows; r++)
                for (size_t j = 0; j < n; j++)
                        y[j * rows + r] = fn(base + r * row_bytes, x + j * cols, cols);
}
