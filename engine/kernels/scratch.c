/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <pthread.h>
#include <stdlib.h>

#include "kernels-internal.h"

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

/* One allocation for the quantized x of `cols` elements: qs, g_qs, g_off, g_d, nl4_q6k (64-byte
 * aligned: the 512-bit kernels load them whole), then d (one per 32 at most), s16, s32, fs32,
 * nl4, each aligned for its type as cols is rounded up to a multiple of 256. */
size_t kern_xq_bytes(size_t cols)
{
        size_t n = (cols + 255) / 256 * 256;
        size_t total = 2 * n + n / 8 * sizeof(int32_t) + n / 8 * sizeof(float) + n / 4 * sizeof(int32_t) +
                       n / 32 * sizeof(float) + n / 16 * sizeof(int16_t) + n / 32 * sizeof(int16_t) +
                       n / 32 * sizeof(float) + n / 4 * sizeof(int32_t);
        return (total + 63) / 64 * 64;
}

struct kern_xq kern_xq_layout(uint8_t *mem, size_t cols)
{
        size_t n = (cols + 255) / 256 * 256;
        size_t o_gqs = n, o_goff = o_gqs + n, o_gd = o_goff + n / 8 * sizeof(int32_t),
               o_nl4q6 = o_gd + n / 8 * sizeof(float), o_d = o_nl4q6 + n / 4 * sizeof(int32_t),
               o_s16 = o_d + n / 32 * sizeof(float), o_s32 = o_s16 + n / 16 * sizeof(int16_t),
               o_fs32 = o_s32 + n / 32 * sizeof(int16_t), o_nl4 = o_fs32 + n / 32 * sizeof(float);

        return (struct kern_xq){
                .g_qs = (int8_t *)(void *)(mem + o_gqs),
                .g_off = (int32_t *)(void *)(mem + o_goff),
                .g_d = (float *)(void *)(mem + o_gd),
                .qs = (int8_t *)mem,
                .d = (float *)(void *)(mem + o_d),
                .s16 = (int16_t *)(void *)(mem + o_s16),
                .s32 = (int16_t *)(void *)(mem + o_s32),
                .fs32 = (float *)(void *)(mem + o_fs32),
                .nl4 = (int32_t *)(void *)(mem + o_nl4),
                .nl4_q6k = (int32_t *)(void *)(mem + o_nl4q6),
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

const struct kern_xq *kern_scratch_xq(size_t cols)
{
        struct xq_scratch *s = scratch_self();

        if (!s)
                return NULL;
        if (s->mem && s->cols >= cols)
                return &s->xq;
        uint8_t *mem = aligned_alloc(64, kern_xq_bytes(cols));
        if (!mem)
                return NULL;
        free(s->mem);
        s->mem = mem;
        s->cols = (cols + 255) / 256 * 256;
        s->xq = kern_xq_layout(mem, cols);
        return &s->xq;
}

/* `bytes` (a multiple of 64) of the calling thread's batch scratch, NULL when out of memory. */
uint8_t *kern_scratch_batch(size_t bytes)
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
