/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Attention over the KV cache for a batch of entries (aid_op_attention()), in tiles. */
#include <math.h>
#include <stdatomic.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/quant.h"
#include "model-private.h"
#include "vec16.h"

/* Attention in tiles: the query rows of a few consecutive entries of one sequence and of the
 * heads that share one KV head (grouped-query attention: 4 per KV head in Gemma 3 1B and
 * Llama 3.2 1B) go through the keys together, so that each K and V row is read once per tile
 * rather than once per row. The cache keeps each chunk of ATT_KEYS keys d-major
 * (model-private.h), so a row's scores with a chunk are two vectors of 16 keys, each the sum
 * over d of the query's element d times the keys' (scores_rows(), four rows at a time); the
 * products with V take four rows at a time, in 16 lanes (pv4()). Keys kept a row per position
 * took a vector of partial products per key and a transposing sum across them: Llama-3.2-1B
 * Q4_0, `aid-infer bench -p 4096 -n 0 -t 2`, went from 92.8-97.3 to 108.1-108.6 tok/s (two
 * alternated runs each), and perf's samples in this file's tiles at -p 2048 from 12.6 to 8.8
 * thousand. The softmax is the online one (Milakov and Gimelshein 2018; FlashAttention): keys
 * come in chunks of ATT_KEYS at fixed positions, and a row's running maximum and sum are
 * rescaled when a chunk raises the maximum. A row's result depends only on its query and its
 * keys, not on which other rows share its tile: chunks sit at multiples of ATT_KEYS, every score
 * sums its products in the same order, and a key outside a row's range adds exactly zero.
 *
 * From AVX-512 on, the products are the kernels' (struct aid_att_kernels in kernels/quant.h):
 * fused multiply-adds, an fp16 chunk widened in registers where a decode tile reads it, and the
 * next chunk fetched during the scores. Below, scores_rows() and pv4() here, in the generic
 * vectors of this function's clones, on chunks converted to f32 first. */
#define ATT_KEYS AID_ATT_KEYS
_Static_assert(ATT_KEYS == 32, "the softmax step takes a chunk's scores as two vectors of 16");
_Static_assert(ATT_KEYS == KERN_ATT_KEYS, "the kernels take the cache's chunks");
_Static_assert(ATT_KEYS == AID_KV_CHUNK, "a tile's chunk of keys is one of the cache's");
#define ATT_ROWS 32
/* The tallest tile whose fp16 chunks the kernels read in place: decoding, one row per head of a
 * KV group. A taller one (a prompt's) has each chunk converted once for all its rows. */
#define ATT_IN_PLACE_ROWS 4

typedef float v8f __attribute__((vector_size(32)));

struct att_tile {
        const float *q[ATT_ROWS]; /* [hd] per row */
        float *o[ATT_ROWS];       /* [hd] per row, the output */
        uint32_t lo[ATT_ROWS];    /* keys lo..hi (inclusive) are the row's */
        uint32_t hi[ATT_ROWS];
        uint32_t n_rows, seq, head; /* the KV head */
        uint32_t thread;            /* the OpenMP thread, whose buffers it may use */
        const void *first_k, *first_v; /* the tile's first chunk of keys and of values */
        /* The first chunk of the tile that its thread takes next, or NULL: fetched during this
         * tile's last chunk. */
        const void *next_k, *next_v;
};

static inline __attribute__((always_inline)) float hsum16(const v16f *a)
{
        v8f lo, hi;
        float s[8];

        memcpy(&lo, a, sizeof(lo));
        memcpy(&hi, (const char *)a + sizeof(lo), sizeof(hi));
        lo += hi;
        memcpy(s, &lo, sizeof(s));
        return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

#define LANES ((v16i){ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 })

/* The largest of xp's lanes (−inf if all are). (Vectors by pointer: by value, they would
 * change the ABI of a function built without AVX-512.) */
static inline __attribute__((always_inline)) float max16(const v16f *xp)
{
        v16f x = *xp;

#ifdef __clang__
#define MAX_ROUND(...)                                               \
        do {                                                         \
                v16f y = __builtin_shufflevector(x, x, __VA_ARGS__); \
                v16i gt = x > y;                                     \
                x = (v16f)(((v16i)x & gt) | ((v16i)y & ~gt));        \
        } while (0)
        MAX_ROUND(8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
        MAX_ROUND(4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
        MAX_ROUND(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
        MAX_ROUND(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
#undef MAX_ROUND
#else
#pragma GCC unroll 4
        for (int w = 8; w >= 1; w /= 2) {
                /* Each lane against the one w away. */
                v16f y = __builtin_shuffle(x, LANES ^ w);
                v16i gt = x > y;
                x = (v16f)(((v16i)x & gt) | ((v16i)y & ~gt));
        }
#endif
        return x[0];
}

/* The scores of rows r0..r0 + R - 1 (R at most 4, a constant once inlined) with the chunk of
 * keys kept d-major at kt, times scale, in s. Each score adds its products one d after the
 * other, in the same order whatever R is. */
static inline __attribute__((always_inline)) void scores_rows(const struct att_tile *t, uint32_t r0,
                const int R, const float *kt, uint32_t hd, float scale, float s[][ATT_KEYS])
{
        const float *q[4];
        v16f a[4][2];

#pragma GCC unroll 4
        for (int j = 0; j < R; j++) {
                q[j] = t->q[r0 + j];
                a[j][0] = a[j][1] = (v16f){ 0 };
        }
        for (uint32_t d = 0; d < hd; d++) {
                v16f k0, k1;
                memcpy(&k0, kt + (size_t)d * ATT_KEYS, sizeof(k0));
                memcpy(&k1, kt + (size_t)d * ATT_KEYS + 16, sizeof(k1));
                /* Unrolled, so that the accumulators stay in registers. */
#pragma GCC unroll 4
                for (int j = 0; j < R; j++) {
                        const float qd = q[j][d];
                        a[j][0] += qd * k0;
                        a[j][1] += qd * k1;
                }
        }
        for (int j = 0; j < R; j++) {
                a[j][0] *= scale;
                a[j][1] *= scale;
                memcpy(s[r0 + j], &a[j][0], sizeof(a[j][0]));
                memcpy(s[r0 + j] + 16, &a[j][1], sizeof(a[j][1]));
        }
}

/* −inf for the scores of the chunk at c0 outside each row's keys, so that they weigh 0. */
static void mask_scores(const struct att_tile *t, uint32_t c0, float s[][ATT_KEYS])
{
        for (uint32_t r = 0; r < t->n_rows; r++) {
                /* The row's keys are an interval: i0..i1 - 1 of the chunk. */
                const uint32_t lo = t->lo[r], hi = t->hi[r];
                const uint32_t i0 = lo > c0 ? MIN(lo - c0, (uint32_t)ATT_KEYS) : 0,
                               i1 = hi >= c0 ? MIN(hi - c0 + 1, (uint32_t)ATT_KEYS) : 0;
                for (uint32_t i = 0; i < i0; i++)
                        s[r][i] = -INFINITY;
                for (uint32_t i = MAX(i0, i1); i < ATT_KEYS; i++)
                        s[r][i] = -INFINITY;
        }
}

/* o[j] += Σ_t p[j][t]·v_t over the chunk's keys t0..t1 for four rows (key k's row at
 * vr + (k - c0) hd): each v row is loaded once for the four, and the four outputs stay in
 * registers across the keys. */
static inline __attribute__((always_inline)) void pv4(float *const *o, const float *const *p,
                const float *vr, uint32_t c0, uint32_t t0, uint32_t t1, uint32_t hd)
{
        uint32_t d = 0;

        for (; d + 16 <= hd; d += 16) {
                v16f a0, a1, a2, a3;
                memcpy(&a0, o[0] + d, sizeof(a0));
                memcpy(&a1, o[1] + d, sizeof(a1));
                memcpy(&a2, o[2] + d, sizeof(a2));
                memcpy(&a3, o[3] + d, sizeof(a3));
                for (uint32_t k = t0; k <= t1; k++) {
                        const uint32_t i = k - c0;
                        v16f vv;
                        memcpy(&vv, vr + (size_t)i * hd + d, sizeof(vv));
                        a0 += p[0][i] * vv;
                        a1 += p[1][i] * vv;
                        a2 += p[2][i] * vv;
                        a3 += p[3][i] * vv;
                }
                memcpy(o[0] + d, &a0, sizeof(a0));
                memcpy(o[1] + d, &a1, sizeof(a1));
                memcpy(o[2] + d, &a2, sizeof(a2));
                memcpy(o[3] + d, &a3, sizeof(a3));
        }
        for (; d < hd; d++)
                for (uint32_t k = t0; k <= t1; k++) {
                        const float vd = vr[(size_t)(k - c0) * hd + d];
                        for (int j = 0; j < 4; j++)
                                o[j][d] += p[j][k - c0] * vd;
                }
}

/* The chunk of keys at c0 of the tile's head as f32, d-major: an f32 cache's own, an fp16
 * cache's converted into buf (ATT_KEYS rows' worth; keys past the last written come along, and
 * their scores are masked). */
static const float *k_chunk(const struct aid_kv_cache *kv, const void *base, uint32_t c0, float *buf)
{
        const size_t hd = kv->head_dim;

        if (!kv->f16)
                return (const float *)base + (size_t)c0 * hd;
        (void)aid_dequantize_row(
                        GGML_TYPE_F16, (const uint16_t *)base + (size_t)c0 * hd, buf, ATT_KEYS * hd);
        return buf;
}

/* Values t0..t1 of the tile's head as f32 rows, value k's at the result + (k - c0) hd: an f32
 * cache's own rows, an fp16 cache's converted into buf (ATT_KEYS rows). */
static const float *v_rows(const struct aid_kv_cache *kv, const void *base, uint32_t c0, uint32_t t0,
                uint32_t t1, float *buf)
{
        const size_t hd = kv->head_dim;

        if (!kv->f16)
                return (const float *)base + (size_t)c0 * hd;
        (void)aid_dequantize_row(GGML_TYPE_F16, (const uint16_t *)base + (size_t)t0 * hd,
                        buf + (t0 - c0) * hd, (t1 - t0 + 1) * hd);
        return buf;
}

/* Prefetches the row of key k at base, if k <= last: a value row, or the same bytes of a chunk
 * of keys (a chunk takes the bytes of its keys' rows). (A loop over a byte range with only the
 * prefetches in it was deleted as dead code by GCC 12 at -O2; this one is kept.) */
static inline void kv_prefetch(const struct aid_kv_cache *kv, const void *base, uint32_t k, uint32_t last)
{
        const size_t row = kv->head_dim * kv->elem;
        const char *p = (const char *)base + (size_t)k * row;

        if (k > last)
                return;
        for (size_t o = 0; o < row; o += 64)
                __builtin_prefetch(p + o);
}

static _clones_ void attend_tile(const struct aid_context *c, uint32_t layer, const struct att_tile *t)
{
        const uint32_t hd = c->m->hp.head_dim, n = t->n_rows;
        const float scale = c->m->attn_scale;
        float s[ATT_ROWS][ATT_KEYS], max[ATT_ROWS], sum[ATT_ROWS];
        uint32_t first = UINT32_MAX, last = 0;

        for (uint32_t r = 0; r < n; r++) {
                first = MIN(first, t->lo[r]);
                last = MAX(last, t->hi[r]);
                max[r] = -INFINITY;
                sum[r] = 0;
                memset(t->o[r], 0, hd * sizeof(float));
        }

        const char *kbase = aid_kv_k_chunk(&c->kv, layer, t->seq, t->head, 0),
                   *vbase = aid_kv_v(&c->kv, layer, t->seq, t->head, 0);
        const size_t chunk_bytes = (size_t)ATT_KEYS * hd * c->kv.elem;
        /* An fp16 cache's rows of one chunk go to this thread's buffers as f32, unless the
         * kernels read them where they are. */
        float *kbuf = c->s.att_kv ? c->s.att_kv + (size_t)t->thread * 2 * ATT_KEYS * hd : NULL,
              *vbuf = kbuf ? kbuf + ATT_KEYS * hd : NULL;
        const struct aid_att_kernels *ak = aid_att_kernels_for(aid_kernels_get_level());
        const bool in_place = ak && (!c->kv.f16 || n <= ATT_IN_PLACE_ROWS);

        for (uint32_t c0 = first / ATT_KEYS * ATT_KEYS; c0 <= last; c0 += ATT_KEYS) {
                const uint32_t t0 = MAX(c0, first), t1 = MIN(c0 + ATT_KEYS - 1, last);
                const bool f16 = in_place && c->kv.f16;
                const void *kt = in_place ? (const void *)(kbase + c0 / ATT_KEYS * chunk_bytes)
                                          : (const void *)k_chunk(&c->kv, kbase, c0, kbuf);
                const void *vr = in_place ? (const void *)(vbase + c0 / ATT_KEYS * chunk_bytes)
                                          : (const void *)v_rows(&c->kv, vbase, c0, t0, t1, vbuf);

                if (ak) {
                        /* The next chunk's keys and values come in while this one's scores are
                         * computed, a slice per d (not all at once, which fills the core's
                         * queue of misses and stalls it). */
                        const bool more = c0 + ATT_KEYS <= last;
                        const size_t next = (c0 / ATT_KEYS + 1) * chunk_bytes;
                        const char *nk = more ? kbase + next : t->next_k,
                                   *nv = more ? vbase + next : t->next_v;
                        for (uint32_t r = 0; r < n; r += 4)
                                ak->scores(&t->q[r], MIN(4, n - r), kt, f16, hd, scale, &s[r], r ? NULL : nk,
                                                nv, ATT_KEYS * c->kv.elem);
                } else {
                        for (uint32_t k = t0; k <= t1; k++) {
                                /* An f32 cache's value row of this key, which the products read
                                 * after the softmax, and this key's share of the next chunk of
                                 * keys (whole: its keys past the last are read too), and an fp16
                                 * cache's value row of the next chunk, converted with it, on their
                                 * way meanwhile: the hardware's prefetchers follow the short rows
                                 * of many heads poorly. Llama Q4_0, 256 tokens and 4 sequences x
                                 * 256 steps (aid-infer bench -n 256 -s 4, f32 cache, keys then a
                                 * row per position), perf samples in this function: 4.8-5.2
                                 * thousand against 8.3-8.4 without; each prefetch alone 5.6 and
                                 * 7.5; keys two chunks on 5.2-5.5. */
                                if (!c->kv.f16)
                                        kv_prefetch(&c->kv, vbase, k, last);
                                kv_prefetch(&c->kv, kbase, k + ATT_KEYS,
                                                c0 + ATT_KEYS <= last ? UINT32_MAX : 0);
                                if (c->kv.f16)
                                        kv_prefetch(&c->kv, vbase, k + ATT_KEYS, last);
                        }
                        uint32_t fours = n / 4 * 4;
                        for (uint32_t r = 0; r < fours; r += 4)
                                scores_rows(t, r, 4, (const float *)kt, hd, scale, s);
                        for (uint32_t r = fours; r < n; r++)
                                scores_rows(t, r, 1, (const float *)kt, hd, scale, s);
                }
                mask_scores(t, c0, s);

                /* The online softmax's step, a row's 32 scores as two vectors. */
                for (uint32_t r = 0; r < n; r++) {
                        v16f a, b;
                        memcpy(&a, s[r], sizeof(a));
                        memcpy(&b, s[r] + 16, sizeof(b));
                        const v16i gt = a > b;
                        const v16f ab = (v16f)(((v16i)a & gt) | ((v16i)b & ~gt));
                        const float mc = max16(&ab);
                        const float m = mc > max[r] ? mc : max[r];
                        if (m == -INFINITY) {
                                /* None of this row's keys yet (a sliding window's start). */
                                memset(s[r], 0, sizeof(s[r]));
                                continue;
                        }
                        a -= m;
                        b -= m;
                        exp16(&a);
                        exp16(&b);
                        memcpy(s[r], &a, sizeof(a));
                        memcpy(s[r] + 16, &b, sizeof(b));
                        if (m != max[r]) {
                                const float alpha = expf(max[r] - m);
                                for (uint32_t d = 0; d < hd; d++)
                                        t->o[r][d] *= alpha;
                                sum[r] *= alpha;
                                max[r] = m;
                        }
                        a += b;
                        sum[r] += hsum16(&a);
                }

                for (uint32_t r = 0; r < n; r += 4) {
                        float *o4[4] = { t->o[r], t->o[MIN(r + 1, n - 1)], t->o[MIN(r + 2, n - 1)],
                                t->o[MIN(r + 3, n - 1)] };
                        const float *p4[4] = { s[r], s[MIN(r + 1, n - 1)], s[MIN(r + 2, n - 1)],
                                s[MIN(r + 3, n - 1)] };
                        float tmp[3][hd];
                        /* A repeated row must not add its products twice: it accumulates
                         * into a scratch row. */
                        for (uint32_t j = 1; j < 4; j++)
                                if (r + j >= n) {
                                        memcpy(tmp[j - 1], o4[j], hd * sizeof(float));
                                        o4[j] = tmp[j - 1];
                                }
                        if (ak)
                                ak->pv4(o4, p4, vr, f16, t0 - c0, t1 - c0, hd);
                        else
                                pv4(o4, p4, (const float *)vr, c0, t0, t1, hd);
                }
        }

        for (uint32_t r = 0; r < n; r++) {
                const float inv = 1.0f / sum[r];
                for (uint32_t d = 0; d < hd; d++)
                        t->o[r][d] *= inv;
        }
}

/* The tile of the entries from i0 on (before i1) of e[i0]'s sequence, for query heads h0 ..
 * h0 + heads - 1 of KV head g, in *t; returns the entry after them. */
static size_t next_tile(const struct aid_context *c, uint32_t layer, const struct aid_batch_entry *e,
                size_t i0, size_t i1, const float *q, float *out, uint32_t g, uint32_t h0, uint32_t heads,
                uint32_t window, struct att_tile *t)
{
        const uint32_t hd = c->m->hp.head_dim, n_head = c->m->hp.n_head;
        uint32_t first = UINT32_MAX;

        t->n_rows = 0;
        t->seq = e[i0].seq;
        t->head = g;
#ifdef _OPENMP
        t->thread = (uint32_t)omp_get_thread_num();
#else
        t->thread = 0;
#endif
        for (; i0 < i1 && e[i0].seq == t->seq; i0++) {
                const uint32_t pos = e[i0].pos;
                /* Causal; a sliding-window layer sees the last `window` positions. */
                const uint32_t start = window && pos + 1 > window ? pos + 1 - window : 0;
                first = MIN(first, start);
                for (uint32_t h = h0; h < h0 + heads; h++) {
                        t->q[t->n_rows] = q + i0 * n_head * hd + (size_t)h * hd;
                        t->o[t->n_rows] = out + i0 * n_head * hd + (size_t)h * hd;
                        t->lo[t->n_rows] = start;
                        t->hi[t->n_rows] = pos;
                        t->n_rows++;
                }
        }
        t->first_k = aid_kv_k_chunk(&c->kv, layer, t->seq, g, first);
        t->first_v = aid_kv_v(&c->kv, layer, t->seq, g, first / ATT_KEYS * ATT_KEYS);
        return i0;
}

bool aid_op_attention(struct aid_context *c, uint32_t layer, const struct aid_batch_entry *e, size_t n,
                const float *q, const float *k, const float *v, float *out)
{
        /* Set by the calling thread (OpenMP's thread 0) when the batch is to stop; every thread
         * then skips its remaining tasks. A long prompt's attention is a good part of a layer,
         * so a new request waits for one task, not for all of them. */
        atomic_bool stop = false;
        const struct aid_hparams *hp = &c->m->hp;
        const uint32_t hd = hp->head_dim, n_head = hp->n_head, n_kv = hp->n_head_kv, kv_dim = n_kv * hd;
        const uint32_t group = n_head / n_kv;
        const uint32_t window = c->m->layers[layer].sliding ? hp->sliding_window : 0;
        uint32_t heads, per_block;
        size_t n_blocks, n_tasks;

        /* Positions beyond a sequence's length are invisible until aid_decode() succeeds, so
         * writing them now changes nothing a caller can see. */
        for (size_t i = 0; i < n; i++)
                for (uint32_t h = 0; h < n_kv; h++) {
                        const float *ki = k + i * kv_dim + h * hd, *vi = v + i * kv_dim + h * hd;
                        void *kc = aid_kv_k_chunk(&c->kv, layer, e[i].seq, h, e[i].pos),
                             *vc = aid_kv_v(&c->kv, layer, e[i].seq, h, e[i].pos);
                        const uint32_t lane = e[i].pos % ATT_KEYS;
                        if (c->kv.f16) {
                                uint16_t kh[hd];
                                aid_f32_to_fp16_row(ki, kh, hd);
                                for (uint32_t d = 0; d < hd; d++)
                                        ((uint16_t *)kc)[(size_t)d * ATT_KEYS + lane] = kh[d];
                                aid_f32_to_fp16_row(vi, vc, hd);
                        } else {
                                for (uint32_t d = 0; d < hd; d++)
                                        ((float *)kc)[(size_t)d * ATT_KEYS + lane] = ki[d];
                                memcpy(vc, vi, hd * sizeof(float));
                        }
                }

        /* A task is `heads` heads of one KV group for up to `per_block` consecutive entries. All
         * the group's heads at once, unless that leaves threads idle (decoding one entry) or
         * the tile too tall. */
        heads = group;
        for (;;) {
                per_block = MAX(1u, ATT_ROWS / heads);
                n_blocks = (n + per_block - 1) / per_block;
                n_tasks = n_blocks * n_kv * (group / heads);
                if (heads > 1 && (heads > ATT_ROWS || n_tasks < c->n_threads)) {
                        uint32_t h = heads - 1;
                        while (group % h)
                                h--;
                        heads = h;
                        continue;
                }
                break;
        }

        /* Causal rows grow with the position: the last blocks, the longest, go out first, and
         * threads take the next task as they finish. */
        AID_OMP("omp parallel for schedule(dynamic, 1) num_threads(c->n_threads) if (n_tasks > 1)")
        for (size_t task = 0; task < n_tasks; task++) {
                const size_t per_kv = group / heads, b = n_blocks - 1 - task / (n_kv * per_kv);
                const uint32_t g = (uint32_t)(task / per_kv % n_kv),
                               h0 = g * group + (uint32_t)(task % per_kv) * heads;
                const size_t i1 = MIN(n, (b + 1) * per_block);
                struct att_tile t[2];

                if (atomic_load_explicit(&stop, memory_order_relaxed))
                        continue;
#ifdef _OPENMP
                if (omp_get_thread_num() == 0 && aid_context_interrupted(c)) {
#else
                if (aid_context_interrupted(c)) {
#endif
                        atomic_store_explicit(&stop, true, memory_order_relaxed);
                        continue;
                }

                /* The entries of the block, in runs of one sequence: each tile is made before
                 * the one before it runs, which then fetches its first chunk (the kernels'
                 * prefetches, from AVX-512 on). Four sequences at a depth of 2048 (aid-infer
                 * bench -n 64 -d 2048 -s 4, Llama-3.2-1B Q4_0): perf's samples in attention per
                 * sample in the matrix kernel, five alternated runs each, 0.503 against 0.516. */
                size_t i0 = b * per_block;
                i0 = next_tile(c, layer, e, i0, i1, q, out, g, h0, heads, window, &t[0]);
                for (unsigned cur = 0;; cur ^= 1) {
                        const bool more = i0 < i1;
                        if (more)
                                i0 = next_tile(c, layer, e, i0, i1, q, out, g, h0, heads, window,
                                                &t[cur ^ 1]);
                        t[cur].next_k = more ? t[cur ^ 1].first_k : NULL;
                        t[cur].next_v = more ? t[cur ^ 1].first_v : NULL;
                        attend_tile(c, layer, &t[cur]);
                        if (!more)
                                break;
                }
        }
        return !atomic_load(&stop);
}
