/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "sampler.h"

struct cand {
        float logit;
        int32_t id;
        float w; /* top-p: exp(logit - max) */
};

struct aid_sampler {
        struct aid_sampler_params params;
        uint64_t seed; /* in use */
        uint64_t rng[4];

        int32_t *history; /* ring of penalty_last_n tokens */
        uint32_t hist_pos, hist_len;

        /* scratch, sized for n_cap tokens */
        uint32_t n_cap;
        struct cand *cand;
        float *logits; /* the penalised logits, for top-k straight from them */
        struct aid_token_prob *probs;
        uint32_t *counts; /* all zero between calls */
};

/* splitmix64 (Steele, Lea, Flood 2014): spreads one 64-bit seed over xoshiro's 256-bit state,
 * never all zero. */
static uint64_t splitmix64(uint64_t *x)
{
        uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
        return (x << k) | (x >> (64 - k));
}

static uint64_t xoshiro256ss(uint64_t s[4])
{
        uint64_t result = rotl(s[1] * 5, 7) * 9;
        uint64_t t = s[1] << 17;

        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double uniform01(uint64_t s[4])
{
        return (double)(xoshiro256ss(s) >> 11) * 0x1.0p-53;
}

static void rng_seed(struct aid_sampler *s)
{
        uint64_t x = s->seed;
        for (int i = 0; i < 4; i++)
                s->rng[i] = splitmix64(&x);
}

void aid_sampler_params_default(struct aid_sampler_params *ret)
{
        *ret = (struct aid_sampler_params){
                .temperature = 0.8f,
                .top_k = 40,
                .top_p = 0.95f,
                .min_p = 0.05f,
                .repeat_penalty = 1.0f,
                .penalty_last_n = 64,
                .presence_penalty = 0.0f,
                .frequency_penalty = 0.0f,
                .seed = AID_SAMPLER_SEED_RANDOM,
        };
}

int aid_sampler_params_validate(const struct aid_sampler_params *p, struct aid_error *err)
{
        if (!p)
                return aid_error_set(err, -EINVAL, "no sampling parameters");
        /* Negative temperatures mean greedy, as in llama.cpp; NaN and infinity mean nothing. */
        if (!isfinite(p->temperature))
                return aid_error_set(err, -EINVAL, "temperature must be a finite number (got %g)",
                                (double)p->temperature);
        if (p->top_k < 0)
                return aid_error_set(err, -EINVAL, "top_k must be >= 0, 0 turning it off (got %d)",
                                (int)p->top_k);
        if (!(p->top_p >= 0.0f && p->top_p <= 1.0f))
                return aid_error_set(err, -EINVAL, "top_p must be in [0, 1], 1 turning it off (got %g)",
                                (double)p->top_p);
        if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
                return aid_error_set(err, -EINVAL, "min_p must be in [0, 1], 0 turning it off (got %g)",
                                (double)p->min_p);
        if (!(isfinite(p->repeat_penalty) && p->repeat_penalty > 0.0f))
                return aid_error_set(err, -EINVAL,
                                "repeat_penalty must be finite and > 0, 1 turning it off (got %g)",
                                (double)p->repeat_penalty);
        if (p->penalty_last_n < 0 || p->penalty_last_n > AID_SAMPLER_MAX_PENALTY_LAST_N)
                return aid_error_set(err, -EINVAL,
                                "penalty_last_n must be in [0, %d], 0 turning penalties off (got %d)",
                                AID_SAMPLER_MAX_PENALTY_LAST_N, (int)p->penalty_last_n);
        if (!isfinite(p->presence_penalty))
                return aid_error_set(err, -EINVAL, "presence_penalty must be a finite number (got %g)",
                                (double)p->presence_penalty);
        if (!isfinite(p->frequency_penalty))
                return aid_error_set(err, -EINVAL, "frequency_penalty must be a finite number (got %g)",
                                (double)p->frequency_penalty);
        return 0;
}

int aid_sampler_new(const struct aid_sampler_params *p, struct aid_sampler **ret, struct aid_error *err)
{
        int r = aid_sampler_params_validate(p, err);
        if (r < 0)
                return r;

        struct aid_sampler *s = calloc(1, sizeof(*s));
        if (!s)
                return aid_error_set(err, -ENOMEM, "out of memory for the sampler");
        s->params = *p;
        if (p->penalty_last_n > 0) {
                s->history = calloc((size_t)p->penalty_last_n, sizeof(int32_t));
                if (!s->history) {
                        free(s);
                        return aid_error_set(err, -ENOMEM, "out of memory for the penalty window");
                }
        }

        s->seed = p->seed;
        if (s->seed == AID_SAMPLER_SEED_RANDOM) {
                uint64_t x;
                do {
                        if (getrandom(&x, sizeof(x), 0) != (ssize_t)sizeof(x)) {
                                r = -errno;
                                free(s->history);
                                free(s);
                                return aid_error_set(err, r, "cannot draw a random seed: %s", strerror(-r));
                        }
                } while (x == AID_SAMPLER_SEED_RANDOM);
                s->seed = x;
        }
        rng_seed(s);
        *ret = s;
        return 0;
}

struct aid_sampler *aid_sampler_free(struct aid_sampler *s)
{
        if (!s)
                return NULL;
        free(s->history);
        free(s->cand);
        free(s->logits);
        free(s->probs);
        free(s->counts);
        free(s);
        return NULL;
}

uint64_t aid_sampler_seed(const struct aid_sampler *s)
{
        return s->seed;
}

void aid_sampler_accept(struct aid_sampler *s, int32_t token)
{
        uint32_t n = (uint32_t)s->params.penalty_last_n;

        if (n == 0 || token < 0)
                return;
        s->history[s->hist_pos] = token;
        s->hist_pos = (s->hist_pos + 1) % n;
        if (s->hist_len < n)
                s->hist_len++;
}

void aid_sampler_reset(struct aid_sampler *s)
{
        s->hist_pos = 0;
        s->hist_len = 0;
        rng_seed(s);
}

static int ensure_scratch(struct aid_sampler *s, uint32_t n_vocab)
{
        if (n_vocab <= s->n_cap)
                return 0;

        struct cand *cand = malloc((size_t)n_vocab * sizeof(*cand));
        float *logits = malloc((size_t)n_vocab * sizeof(*logits));
        struct aid_token_prob *probs = malloc((size_t)n_vocab * sizeof(*probs));
        uint32_t *counts = calloc(n_vocab, sizeof(*counts));
        if (!cand || !logits || !probs || !counts) {
                free(cand);
                free(logits);
                free(probs);
                free(counts);
                return -ENOMEM;
        }
        free(s->cand);
        free(s->logits);
        free(s->probs);
        free(s->counts);
        s->cand = cand;
        s->logits = logits;
        s->probs = probs;
        s->counts = counts;
        s->n_cap = n_vocab;
        return 0;
}

static bool penalties_active(const struct aid_sampler *s)
{
        const struct aid_sampler_params *p = &s->params;
        return s->hist_len > 0 &&
               (p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f);
}

/* Calls apply(logit, count) on every distinct token of the window; logit points into an array
 * indexed by token id. The counts array is left all zero again. */
static void penalize(struct aid_sampler *s, float *logit_of_id, size_t stride, uint32_t n_vocab)
{
        const struct aid_sampler_params *p = &s->params;
        uint32_t n = s->hist_len;

        for (uint32_t i = 0; i < n; i++) {
                int32_t t = s->history[i];
                if ((uint32_t)t < n_vocab)
                        s->counts[t]++;
        }
        for (uint32_t i = 0; i < n; i++) {
                int32_t t = s->history[i];
                if ((uint32_t)t >= n_vocab || s->counts[t] == 0)
                        continue;
                uint32_t count = s->counts[t];
                s->counts[t] = 0; /* each distinct token once */

                float *l = (float *)((char *)logit_of_id + (size_t)t * stride);
                /* Dividing a negative logit would make the token more likely; llama.cpp
                 * multiplies those instead (llama_sampler_penalties_apply). */
                if (*l <= 0.0f)
                        *l *= p->repeat_penalty;
                else
                        *l /= p->repeat_penalty;
                *l -= (float)count * p->frequency_penalty + p->presence_penalty;
        }
}

int aid_sampler_apply_penalties(struct aid_sampler *s, float *logits, uint32_t n_vocab)
{
        if (!logits || n_vocab == 0)
                return -EINVAL;
        if (ensure_scratch(s, n_vocab) < 0)
                return -ENOMEM;
        if (penalties_active(s))
                penalize(s, logits, sizeof(float), n_vocab);
        return 0;
}

/* Total order: larger logit first, then smaller id, so that results never depend on how a
 * sort or selection happens to treat ties. */
static inline bool before(const struct cand *a, const struct cand *b)
{
        return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int cmp_cand(const void *x, const void *y)
{
        const struct cand *a = x, *b = y;
        return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

static inline void swap_cand(struct cand *a, struct cand *b)
{
        struct cand t = *a;
        *a = *b;
        *b = t;
}

static float max_logit(const struct cand *c, uint32_t n)
{
        float m = c[0].logit;
        for (uint32_t i = 1; i < n; i++)
                if (c[i].logit > m)
                        m = c[i].logit;
        return m;
}

/* Partitions c[lo..hi) around a median-of-three pivot; returns the pivot's place p, with
 * c[lo..p) before it and c[p+1..hi) after it. ids are distinct, so nothing else compares
 * equal to the pivot. */
static uint32_t partition(struct cand *c, uint32_t lo, uint32_t hi)
{
        uint32_t mid = lo + (hi - lo) / 2;
        if (before(&c[mid], &c[lo]))
                swap_cand(&c[mid], &c[lo]);
        if (before(&c[hi - 1], &c[lo]))
                swap_cand(&c[hi - 1], &c[lo]);
        if (before(&c[hi - 1], &c[mid]))
                swap_cand(&c[hi - 1], &c[mid]);
        swap_cand(&c[lo], &c[mid]);
        struct cand pivot = c[lo];

        uint32_t lt = lo + 1;
        for (uint32_t i = lo + 1; i < hi; i++)
                if (before(&c[i], &pivot))
                        swap_cand(&c[i], &c[lt++]);
        swap_cand(&c[lo], &c[lt - 1]);
        return lt - 1;
}

/* Heap of the best candidates seen so far, the worst of them at the root. */
static void sift_down(struct cand *h, uint32_t k, uint32_t i)
{
        for (;;) {
                uint32_t l = 2 * i + 1, r = l + 1, worst = i;
                if (l < k && before(&h[worst], &h[l]))
                        worst = l;
                if (r < k && before(&h[worst], &h[r]))
                        worst = r;
                if (worst == i)
                        return;
                swap_cand(&h[i], &h[worst]);
                i = worst;
        }
}

/* Moves the m first candidates (in the order of before()) to c[0..m), sorted, without
 * sorting the rest: top-k = 40 on a 256k vocabulary is one pass in which nearly every
 * candidate loses its single comparison with the heap's root. Large m: quickselect. */
static void select_top(struct cand *c, uint32_t n, uint32_t m)
{
        if (m >= n) {
                qsort(c, n, sizeof(*c), cmp_cand);
                return;
        }
        if (m <= 1024) {
                for (uint32_t i = m / 2; i-- > 0;)
                        sift_down(c, m, i);
                for (uint32_t i = m; i < n; i++)
                        if (before(&c[i], &c[0])) {
                                swap_cand(&c[i], &c[0]);
                                sift_down(c, m, 0);
                        }
        } else {
                uint32_t lo = 0, hi = n;
                while (hi - lo > 1) {
                        uint32_t p = partition(c, lo, hi);
                        if (p == m || p + 1 == m)
                                break;
                        if (m < p)
                                hi = p;
                        else
                                lo = p + 1;
                }
        }
        qsort(c, m, sizeof(*c), cmp_cand);
}

/* Top-p without sorting: moves to the front the shortest prefix (in before() order) whose
 * weights w reach target, as a quickselect on probability mass instead of on a count, and
 * returns its length (>= 1). The prefix is left unsorted. */
static uint32_t select_mass(struct cand *c, uint32_t n, double target)
{
        uint32_t lo = 0, hi = n; /* everything before lo is kept; the boundary is in [lo, hi] */
        while (hi - lo > 1) {
                uint32_t p = partition(c, lo, hi);
                double upper = 0;
                for (uint32_t i = lo; i < p; i++)
                        upper += c[i].w;
                if (upper >= target) {
                        hi = p;
                        continue;
                }
                upper += c[p].w;
                if (upper >= target)
                        return p + 1;
                target -= upper;
                lo = p + 1;
        }
        /* one candidate left: it completes the mass; none left: rounding kept everything */
        return lo < hi ? lo + 1 : MAX(lo, 1u);
}

/* Steps 2 to 4 on s->cand; returns the number of candidates kept (>= 1). */
static uint32_t truncate_candidates(struct aid_sampler *s, uint32_t n, bool top_k_done)
{
        const struct aid_sampler_params *p = &s->params;
        struct cand *c = s->cand;
        bool sorted = top_k_done;

        if (!top_k_done && p->top_k > 0 && (uint32_t)p->top_k < n) {
                select_top(c, n, (uint32_t)p->top_k);
                n = (uint32_t)p->top_k;
                sorted = true;
        }

        if (p->top_p < 1.0f) {
                float max = sorted ? c[0].logit : max_logit(c, n);
                double z = 0;
                for (uint32_t i = 0; i < n; i++)
                        z += c[i].w = expf(c[i].logit - max);
                double target = (double)p->top_p * z;
                if (sorted) {
                        double cum = 0;
                        for (uint32_t i = 0; i < n; i++) {
                                cum += c[i].w;
                                if (cum >= target) {
                                        n = i + 1;
                                        break;
                                }
                        }
                } else
                        n = select_mass(c, n, target);
        }

        if (p->min_p > 0.0f) {
                float threshold = (sorted ? c[0].logit : max_logit(c, n)) + logf(p->min_p);
                uint32_t k = 0;
                for (uint32_t i = 0; i < n; i++)
                        if (c[i].logit >= threshold)
                                c[k++] = c[i]; /* keeps the order */
                n = k;                         /* the maximum itself always passes */
        }
        return n;
}

static int load_candidates(struct aid_sampler *s, const float *logits, uint32_t n_vocab)
{
        if (!logits || n_vocab == 0)
                return -EINVAL;
        if (ensure_scratch(s, n_vocab) < 0)
                return -ENOMEM;

        struct cand *c = s->cand;
        for (uint32_t i = 0; i < n_vocab; i++) {
                float l = logits[i];
                c[i] = (struct cand){ .logit = isnan(l) ? -INFINITY : l, .id = (int32_t)i };
        }
        if (penalties_active(s))
                penalize(s, &c[0].logit, sizeof(struct cand), n_vocab);
        return 0;
}

/* Temperature and softmax over the n candidates that truncation kept, into s->probs. */
static int candidates_softmax(
                struct aid_sampler *s, uint32_t n, const struct aid_token_prob **ret, uint32_t *ret_n)
{
        const struct cand *c = s->cand;
        float max = max_logit(c, n);
        if (!isfinite(max))
                return -EDOM;

        /* Temperature, then softmax; dividing (l - max) equals dividing l and subtracting the
         * new max, and keeps exp() in range. */
        float inv_t = 1.0f / s->params.temperature;
        double z = 0;
        for (uint32_t i = 0; i < n; i++) {
                float e = expf((c[i].logit - max) * inv_t);
                s->probs[i] = (struct aid_token_prob){ .id = c[i].id, .p = e };
                z += e;
        }
        for (uint32_t i = 0; i < n; i++)
                s->probs[i].p = (float)(s->probs[i].p / z);

        *ret = s->probs;
        *ret_n = n;
        return 0;
}

/* Top-k (k <= TOP_K_DIRECT) straight from the logits into s->cand[0..k), sorted: the same
 * heap as select_top(), without first copying every logit into a candidate. Scanning in id
 * order, every candidate in the heap has a smaller id than the one at hand, so that one goes
 * before the heap's root exactly when its logit is larger; that test runs on 16 logits at
 * once (as integers, see order_key()), and nearly every group of 16 ends there. NaN never
 * passes it, as -inf would not. About ten times faster than the candidate array on a
 * 128k-token vocabulary (327 -> 34 us): a daemon step of four sequences spent over a
 * millisecond sampling, alone on one core. */
#define TOP_K_DIRECT 1024

typedef int32_t sampler_v16i __attribute__((vector_size(64)));
typedef int32_t sampler_v8i __attribute__((vector_size(32)));
typedef int32_t sampler_v4i __attribute__((vector_size(16)));

/* The bits of a float as an int32 that orders like the float (-0 just below +0; NaN beyond
 * the infinities). Integer compares vectorise where float ones, which must keep NaN's
 * semantics, do not: the group test uses these, 16 at once, and a NaN that passes it still
 * fails the float test after it. */
static inline int32_t order_key(float f)
{
        int32_t b;

        memcpy(&b, &f, sizeof(b));
        return b ^ ((b >> 31) & 0x7fffffff);
}

static _clones_ void load_top_k(struct aid_sampler *s, const float *logits, uint32_t n, uint32_t k)
{
        const float *l = logits;
        struct cand *h = s->cand;
        uint32_t i;

        if (penalties_active(s)) {
                memcpy(s->logits, logits, (size_t)n * sizeof(float));
                penalize(s, s->logits, sizeof(float), n);
                l = s->logits;
        }
        for (i = 0; i < k; i++)
                h[i] = (struct cand){ .logit = isnan(l[i]) ? -INFINITY : l[i], .id = (int32_t)i };
        for (uint32_t j = k / 2; j-- > 0;)
                sift_down(h, k, j);

        for (; i + 16 <= n; i += 16) {
                sampler_v16i b, gt;
                sampler_v8i g8;
                sampler_v4i g4;

                memcpy(&b, &l[i], sizeof(b));
                gt = (b ^ ((b >> 31) & 0x7fffffff)) > order_key(h[0].logit);
                g8 = __builtin_shufflevector(gt, gt, 0, 1, 2, 3, 4, 5, 6, 7) |
                     __builtin_shufflevector(gt, gt, 8, 9, 10, 11, 12, 13, 14, 15);
                g4 = __builtin_shufflevector(g8, g8, 0, 1, 2, 3) |
                     __builtin_shufflevector(g8, g8, 4, 5, 6, 7);
                if (!(g4[0] | g4[1] | g4[2] | g4[3]))
                        continue;
                for (uint32_t j = i; j < i + 16; j++)
                        if (l[j] > h[0].logit) {
                                h[0] = (struct cand){ .logit = l[j], .id = (int32_t)j };
                                sift_down(h, k, 0);
                        }
        }
        for (; i < n; i++)
                if (l[i] > h[0].logit) {
                        h[0] = (struct cand){ .logit = l[i], .id = (int32_t)i };
                        sift_down(h, k, 0);
                }
        qsort(h, k, sizeof(*h), cmp_cand);
}

int aid_sampler_candidates(struct aid_sampler *s, const float *logits, uint32_t n_vocab,
                const struct aid_token_prob **ret, uint32_t *ret_n)
{
        const int32_t top_k = s->params.top_k;
        uint32_t n;

        if (s->params.temperature <= 0.0f && n_vocab > 1 && logits) {
                /* Greedy is top-1: the first maximum, as the scan keeps the earlier of equals. */
                if (ensure_scratch(s, n_vocab) < 0)
                        return -ENOMEM;
                load_top_k(s, logits, n_vocab, 1);
                if (s->cand[0].logit == -INFINITY)
                        return -EDOM;
                s->probs[0] = (struct aid_token_prob){ .id = s->cand[0].id, .p = 1.0f };
                *ret = s->probs;
                *ret_n = 1;
                return 0;
        }
        if (s->params.temperature > 0.0f && top_k > 0 && top_k <= TOP_K_DIRECT &&
                        (uint32_t)top_k < n_vocab && logits) {
                if (ensure_scratch(s, n_vocab) < 0)
                        return -ENOMEM;
                load_top_k(s, logits, n_vocab, (uint32_t)top_k);
                n = truncate_candidates(s, (uint32_t)top_k, true);
                return candidates_softmax(s, n, ret, ret_n);
        }

        int r = load_candidates(s, logits, n_vocab);
        if (r < 0)
                return r;
        struct cand *c = s->cand;

        if (s->params.temperature <= 0.0f) {
                uint32_t best = 0;
                for (uint32_t i = 1; i < n_vocab; i++)
                        if (c[i].logit > c[best].logit)
                                best = i;
                if (c[best].logit == -INFINITY)
                        return -EDOM;
                s->probs[0] = (struct aid_token_prob){ .id = c[best].id, .p = 1.0f };
                *ret = s->probs;
                *ret_n = 1;
                return 0;
        }

        n = truncate_candidates(s, n_vocab, false);
        return candidates_softmax(s, n, ret, ret_n);
}

int32_t aid_sampler_sample(struct aid_sampler *s, const float *logits, uint32_t n_vocab)
{
        const struct aid_token_prob *probs;
        uint32_t n;

        int r = aid_sampler_candidates(s, logits, n_vocab, &probs, &n);
        if (r < 0)
                return r;
        if (s->params.temperature <= 0.0f)
                return probs[0].id;

        /* One draw per sampled token, even when truncation left a single candidate, so that
         * the k-th token always uses the k-th number of the stream. */
        double total = 0;
        for (uint32_t i = 0; i < n; i++)
                total += probs[i].p;
        double u = uniform01(s->rng) * total, cum = 0;
        for (uint32_t i = 0; i < n; i++) {
                cum += probs[i].p;
                if (u < cum)
                        return probs[i].id;
        }
        /* u rounded onto the very end: the last token with any probability */
        for (uint32_t i = n; i-- > 0;)
                if (probs[i].p > 0.0f)
                        return probs[i].id;
        return probs[0].id;
}
