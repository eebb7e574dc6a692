/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model-private.h"

/* The cache keeps K and V in f32 or fp16, one slab of n_ctx positions (in whole chunks) per
 * layer, sequence and KV head, so that attention reads a head's keys contiguously.
 * calloc() leaves the pages untouched until a position is written, so a large n_ctx costs
 * address space, not memory. */
int aid_kv_cache_init(struct aid_kv_cache *kv, uint32_t n_layer, uint32_t n_seq, uint32_t n_ctx,
                uint32_t n_head_kv, uint32_t head_dim, bool f16)
{
        size_t n;

        *kv = (struct aid_kv_cache){ .n_layer = n_layer,
                .n_seq = n_seq,
                .n_ctx = n_ctx,
                .n_head_kv = n_head_kv,
                .head_dim = head_dim,
                .f16 = f16,
                .elem = f16 ? sizeof(uint16_t) : sizeof(float) };
        if (n_ctx > UINT32_MAX - AID_KV_CHUNK)
                return -ENOMEM;
        kv->n_ctx_chunks = (n_ctx + AID_KV_CHUNK - 1) / AID_KV_CHUNK * AID_KV_CHUNK;
        if (__builtin_mul_overflow((size_t)n_layer, (size_t)n_seq, &n) ||
                        __builtin_mul_overflow(n, (size_t)kv->n_ctx_chunks, &n) ||
                        __builtin_mul_overflow(n, (size_t)n_head_kv, &n) ||
                        __builtin_mul_overflow(n, (size_t)head_dim, &n) || n > SIZE_MAX / kv->elem)
                return -ENOMEM;
        kv->k = calloc(n ? n : 1, kv->elem);
        kv->v = calloc(n ? n : 1, kv->elem);
        kv->len = calloc(n_seq, sizeof(uint32_t));
        if (!kv->k || !kv->v || !kv->len) {
                aid_kv_cache_done(kv);
                return -ENOMEM;
        }
        return 0;
}

void aid_kv_cache_done(struct aid_kv_cache *kv)
{
        free(kv->k);
        free(kv->v);
        free(kv->len);
        *kv = (struct aid_kv_cache){ 0 };
}

uint32_t aid_kv_seq_len(const struct aid_context *c, uint32_t seq)
{
        if (seq >= c->kv.n_seq)
                return 0;
        return c->kv.len[seq];
}

void aid_kv_seq_clear(struct aid_context *c, uint32_t seq)
{
        if (seq < c->kv.n_seq)
                c->kv.len[seq] = 0;
}

int aid_kv_seq_truncate(struct aid_context *c, uint32_t seq, uint32_t n_pos)
{
        if (seq >= c->kv.n_seq)
                return -EINVAL;
        if (n_pos < c->kv.len[seq])
                c->kv.len[seq] = n_pos;
        return 0;
}

int aid_kv_seq_copy(struct aid_context *c, uint32_t src, uint32_t dst)
{
        struct aid_kv_cache *kv = &c->kv;
        size_t bytes, k_bytes;

        if (src >= kv->n_seq || dst >= kv->n_seq)
                return -EINVAL;
        if (src == dst)
                return 0;
        bytes = (size_t)kv->len[src] * kv->head_dim * kv->elem;
        /* K in whole chunks: the keys of a chunk are interleaved. */
        k_bytes = (size_t)(kv->len[src] + AID_KV_CHUNK - 1) / AID_KV_CHUNK * AID_KV_CHUNK * kv->head_dim *
                  kv->elem;
        for (uint32_t l = 0; l < kv->n_layer; l++)
                for (uint32_t h = 0; h < kv->n_head_kv; h++) {
                        memcpy(aid_kv_k_chunk(kv, l, dst, h, 0), aid_kv_k_chunk(kv, l, src, h, 0), k_bytes);
                        memcpy(aid_kv_v(kv, l, dst, h, 0), aid_kv_v(kv, l, src, h, 0), bytes);
                }
        kv->len[dst] = kv->len[src];
        return 0;
}
