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

/* Attention in tiles: the query rows of a few consecutive entries of one sequence and of the
 * heads that share one KV head (grouped-query attention: 4 per KV head in Gemma 3 1B and
 * Llama 3.2 1B) go through the keys together, so that each K and V row is read once per tile
 * rather than once per row. A row's scores come 16 keys at a time, as 16 vectors of partial
 * products summed across at once (scores16()); the products with V take four rows at a time, in
 * 16 lanes (pv4()). With head dims that are not multiples of 16, the scores also take four rows
 * at a time (dot4()). Llama-3.2-1B, 4 sequences at position 64, 16 layers from L3 on 2 threads
 * (a microbenchmark of aid_op_attention(), best of 60): 835-847 us a step against 935-948 with
 * dot4(). At 256 positions the cache comes from memory, and the two are the same. The
 * softmax is the online one (Milakov and Gimelshein 2018; FlashAttention): keys come in chunks
 * of ATT_KEYS at fixed positions, and a row's running maximum and sum are rescaled when a
 * chunk raises the maximum. A row's result depends only on its query and its keys, not on
 * which other rows share its tile: chunks sit at multiples of ATT_KEYS, and a key outside a
 * row's range adds exactly zero. */
#define ATT_KEYS AID_ATT_KEYS
_Static_assert(ATT_KEYS == 32, "the softmax step takes a chunk's scores as two vectors of 16");
#define ATT_ROWS 32

typedef float v16f __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));

struct att_tile {
        const float *q[ATT_ROWS]; /* [hd] per row */
        float *o[ATT_ROWS];       /* [hd] per row, the output */
        uint32_t lo[ATT_ROWS];    /* keys lo..hi (inclusive) are the row's */
        uint32_t hi[ATT_ROWS];
        uint32_t n_rows, seq, head; /* the KV head */
        uint32_t thread;            /* the OpenMP thread, whose buffers it may use */
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

/* res[j] = q[j]·k for four rows: k is loaded once for the four. */
static inline __attribute__((always_inline)) void dot4(
                const float *const *q, const float *k, uint32_t hd, float *res)
{
        v16f a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
        uint32_t d = 0;

        for (; d + 16 <= hd; d += 16) {
                v16f kv, q0, q1, q2, q3;
                memcpy(&kv, k + d, sizeof(kv));
                memcpy(&q0, q[0] + d, sizeof(q0));
                memcpy(&q1, q[1] + d, sizeof(q1));
                memcpy(&q2, q[2] + d, sizeof(q2));
                memcpy(&q3, q[3] + d, sizeof(q3));
                a0 += q0 * kv;
                a1 += q1 * kv;
                a2 += q2 * kv;
                a3 += q3 * kv;
        }
        res[0] = hsum16(&a0);
        res[1] = hsum16(&a1);
        res[2] = hsum16(&a2);
        res[3] = hsum16(&a3);
        for (; d < hd; d++)
                for (int j = 0; j < 4; j++)
                        res[j] += q[j][d] * k[d];
}

typedef int32_t v16i __attribute__((vector_size(64)));
#define LANES ((v16i){ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 })

/* Lane i of a[0] becomes the sum of a[i]'s 16 lanes (a[] is overwritten). Four rounds, each
 * adding, for pairs of vectors j and j + w, their lanes taken w at a time side by side (w = 8, 4,
 * 2, 1): 15 pairs of two-source permutes and an add for the 16 sums, where a horizontal sum of
 * each vector took about three times the instructions. Round by round, vector j holds keys j,
 * j + 8 (then j, j + 4, j + 8, j + 12, and so on) in blocks of w lanes, until lane i is key i. */
#ifdef __clang__
/* clang has __builtin_shufflevector with literal lanes, not GCC's __builtin_shuffle with a mask
 * vector: the rounds below are sums16()'s and max16()'s with their masks written out. */
#define FIRST8  0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define SECOND8 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define FIRST4  0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27
#define SECOND4 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
#define FIRST2  0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29
#define SECOND2 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
#define FIRST1  0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30
#define SECOND1 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31
#define PAIR_ROUND(a, w, F, S)                                      \
        for (int j = 0; j < (w); j++)                               \
        (a)[j] = __builtin_shufflevector((a)[j], (a)[j + (w)], F) + \
                 __builtin_shufflevector((a)[j], (a)[j + (w)], S)

static inline __attribute__((always_inline)) void sums16(v16f *a)
{
        PAIR_ROUND(a, 8, FIRST8, SECOND8);
        PAIR_ROUND(a, 4, FIRST4, SECOND4);
        PAIR_ROUND(a, 2, FIRST2, SECOND2);
        PAIR_ROUND(a, 1, FIRST1, SECOND1);
}
#else
static inline __attribute__((always_inline)) void sums16(v16f *a)
{
#pragma GCC unroll 4
        for (int w = 8; w >= 1; w /= 2) {
                /* Round w's first lanes of the pair: lane i of the first vector, or, where bit w
                 * of i is set, lane i - w of the second (16 on); the second lanes are w on. */
                const v16i first = LANES + (LANES & w) / w * (16 - w);
#pragma GCC unroll 8
                for (int j = 0; j < w; j++)
                        a[j] = __builtin_shuffle(a[j], a[j + w], first) +
                               __builtin_shuffle(a[j], a[j + w], first + w);
        }
}
#endif

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

/* The scores of row q with the 16 keys whose rows k points to, in *res: for each key a vector
 * of partial products, then sums16(). hd a multiple of 16. */
static inline __attribute__((always_inline)) void dot16(
                const float *q, const float *const *k, uint32_t hd, v16f *res)
{
        v16f a[16];

#pragma GCC unroll 16
        for (int i = 0; i < 16; i++)
                a[i] = (v16f){ 0 };
        for (uint32_t d = 0; d < hd; d += 16) {
                v16f qv;
                memcpy(&qv, q + d, sizeof(qv));
#pragma GCC unroll 16
                for (int i = 0; i < 16; i++) {
                        v16f kv;
                        memcpy(&kv, k[i] + d, sizeof(kv));
                        a[i] += qv * kv;
                }
        }
        sums16(a);
        *res = a[0];
}

/* The scores of the tile's rows with the chunk's keys t0..t1 (key k's row at kr + (k - c0) hd),
 * in s (−inf for every key outside a row's range, which s already holds for keys outside
 * t0..t1), in blocks of 16 keys at c0 and c0 + 16. A block's keys outside t0..t1 read the
 * row of t0 or t1 and are masked. hd a multiple of 16. */
static inline __attribute__((always_inline)) void scores16(const struct att_tile *t, const float *kr,
                uint32_t c0, uint32_t t0, uint32_t t1, uint32_t hd, float scale, float s[][ATT_KEYS])
{
        for (uint32_t b = (t0 - c0) / 16; b <= (t1 - c0) / 16; b++) {
                const uint32_t k0 = c0 + 16 * b;
                const float *k[16];
                for (uint32_t i = 0; i < 16; i++)
                        k[i] = kr + (size_t)(MIN(MAX(k0 + i, t0), t1) - c0) * hd;
                for (uint32_t r = 0; r < t->n_rows; r++) {
                        /* The row's keys are an interval: lanes i0..i1 - 1 of the block. (A
                         * vector select compiled to a lane-by-lane loop.) */
                        const uint32_t lo = t->lo[r], hi = t->hi[r];
                        const uint32_t i0 = lo > k0 ? MIN(lo - k0, 16u) : 0,
                                       i1 = hi >= k0 ? MIN(hi - k0 + 1, 16u) : 0;
                        float *sb = s[r] + 16 * b;
                        v16f d;
                        dot16(t->q[r], k, hd, &d);
                        d *= scale;
                        memcpy(sb, &d, sizeof(d));
                        for (uint32_t i = 0; i < i0; i++)
                                sb[i] = -INFINITY;
                        for (uint32_t i = MAX(i0, i1); i < 16; i++)
                                sb[i] = -INFINITY;
                }
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

/* Keys (or values) t0..t1 of the tile's head as f32 rows, key k's at the result + (k - c0) hd:
 * an f32 cache's own rows, an fp16 cache's converted into buf (ATT_KEYS rows). */
static const float *kv_rows(
                const struct aid_kv_cache *kv, void *base, uint32_t c0, uint32_t t0, uint32_t t1, float *buf)
{
        const size_t hd = kv->head_dim;

        if (!kv->f16)
                return (const float *)base + (size_t)c0 * hd;
        (void)aid_dequantize_row(GGML_TYPE_F16, (const uint16_t *)base + (size_t)t0 * hd,
                        buf + (t0 - c0) * hd, (t1 - t0 + 1) * hd);
        return buf;
}

/* Prefetches the row of key k at base, if k <= last. (A loop over a byte range with only the
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

        void *kbase = aid_kv_k(&c->kv, layer, t->seq, t->head, 0),
             *vbase = aid_kv_v(&c->kv, layer, t->seq, t->head, 0);
        /* An fp16 cache's rows of one chunk go to this thread's buffers as f32. */
        float *kbuf = c->s.att_kv ? c->s.att_kv + (size_t)t->thread * 2 * ATT_KEYS * hd : NULL,
              *vbuf = kbuf ? kbuf + ATT_KEYS * hd : NULL;

        for (uint32_t c0 = first / ATT_KEYS * ATT_KEYS; c0 <= last; c0 += ATT_KEYS) {
                const uint32_t t0 = MAX(c0, first), t1 = MIN(c0 + ATT_KEYS - 1, last);
                const float *kr = kv_rows(&c->kv, kbase, c0, t0, t1, kbuf);
                const float *vr = kv_rows(&c->kv, vbase, c0, t0, t1, vbuf);

                /* Scores of the chunk; −inf outside a row's keys, so that they weigh 0. */
                for (uint32_t r = 0; r < n; r++)
                        for (uint32_t i = 0; i < ATT_KEYS; i++)
                                s[r][i] = -INFINITY;
                for (uint32_t k = t0; k <= t1; k++) {
                        /* An f32 cache's value row of this key, which the products read after
                         * the softmax, and the next chunk's key row (and an fp16 cache's value
                         * row, converted with it), on their way meanwhile: the hardware's
                         * prefetchers follow the short rows of many heads poorly. Llama Q4_0,
                         * 256 tokens and 4 sequences x 256 steps (aid-infer bench -n 256 -s 4,
                         * f32 cache), perf samples in this function: 4.8-5.2 thousand against
                         * 8.3-8.4 without; each prefetch alone 5.6 and 7.5; keys two chunks on
                         * 5.2-5.5. */
                        if (!c->kv.f16)
                                kv_prefetch(&c->kv, vbase, k, last);
                        kv_prefetch(&c->kv, kbase, k + ATT_KEYS, last);
                        if (c->kv.f16)
                                kv_prefetch(&c->kv, vbase, k + ATT_KEYS, last);
                }
                if (hd % 16 == 0) {
                        scores16(t, kr, c0, t0, t1, hd, scale, s);
                } else {
                        for (uint32_t k = t0; k <= t1; k++) {
                                const float *kt = kr + (size_t)(k - c0) * hd;
                                for (uint32_t r = 0; r < n; r += 4) {
                                        /* Short of four rows, the last one is repeated. */
                                        const float *q4[4] = { t->q[r], t->q[MIN(r + 1, n - 1)],
                                                t->q[MIN(r + 2, n - 1)], t->q[MIN(r + 3, n - 1)] };
                                        float d4[4];
                                        dot4(q4, kt, hd, d4);
                                        for (uint32_t j = 0; j < 4 && r + j < n; j++)
                                                if (k >= t->lo[r + j] && k <= t->hi[r + j])
                                                        s[r + j][k - c0] = d4[j] * scale;
                                }
                        }
                }

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
                        memcpy(s[r], &a, sizeof(a));
                        memcpy(s[r] + 16, &b, sizeof(b));
                        aid_op_exp(s[r], s[r], ATT_KEYS);
                        memcpy(&a, s[r], sizeof(a));
                        memcpy(&b, s[r] + 16, sizeof(b));
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
                        pv4(o4, p4, vr, c0, t0, t1, hd);
                }
        }

        for (uint32_t r = 0; r < n; r++) {
                const float inv = 1.0f / sum[r];
                for (uint32_t d = 0; d < hd; d++)
                        t->o[r][d] *= inv;
        }
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
                        void *kc = aid_kv_k(&c->kv, layer, e[i].seq, h, e[i].pos),
                             *vc = aid_kv_v(&c->kv, layer, e[i].seq, h, e[i].pos);
                        if (c->kv.f16) {
                                aid_f32_to_fp16_row(ki, kc, hd);
                                aid_f32_to_fp16_row(vi, vc, hd);
                        } else {
                                memcpy(kc, ki, hd * sizeof(float));
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
                struct att_tile t;

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

                /* The entries of the block, in runs of one sequence. */
                for (size_t i0 = b * per_block; i0 < i1;) {
                        t.n_rows = 0;
                        t.seq = e[i0].seq;
                        t.head = g;
#ifdef _OPENMP
                        t.thread = (uint32_t)omp_get_thread_num();
#else
                        t.thread = 0;
#endif
                        for (; i0 < i1 && e[i0].seq == t.seq; i0++) {
                                const uint32_t pos = e[i0].pos;
                                /* Causal; a sliding-window layer sees the last `window` positions. */
                                const uint32_t start = window && pos + 1 > window ? pos + 1 - window : 0;
                                for (uint32_t h = h0; h < h0 + heads; h++) {
                                        t.q[t.n_rows] = q + i0 * n_head * hd + (size_t)h * hd;
                                        t.o[t.n_rows] = out + i0 * n_head * hd + (size_t)h * hd;
                                        t.lo[t.n_rows] = start;
                                        t.hi[t.n_rows] = pos;
                                        t.n_rows++;
                                }
                        }
                        attend_tile(c, layer, &t);
                }
        }
        return !atomic_load(&stop);
}
