/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampler.h"
#include "stop.h"

#define N_DRAWS 20000

static struct aid_sampler_params plain(uint64_t seed, float temperature)
{
        return (struct aid_sampler_params){
                .temperature = temperature,
                .top_k = 0,
                .top_p = 1.0f,
                .min_p = 0.0f,
                .repeat_penalty = 1.0f,
                .penalty_last_n = 0,
                .seed = seed,
        };
}

static struct aid_sampler *make(const struct aid_sampler_params *p)
{
        struct aid_sampler *s = NULL;
        struct aid_error err = {};
        int r = aid_sampler_new(p, &s, &err);
        cr_assert_eq(r, 0, "aid_sampler_new: %d %s", r, err.message);
        return s;
}

static void softmax(const float *l, size_t n, double t, double *p)
{
        double max = -INFINITY, z = 0;
        for (size_t i = 0; i < n; i++)
                max = fmax(max, l[i]);
        for (size_t i = 0; i < n; i++)
                z += p[i] = exp((l[i] - max) / t);
        for (size_t i = 0; i < n; i++)
                p[i] /= z;
}

static void draw(struct aid_sampler *s, const float *l, uint32_t n, unsigned *counts)
{
        memset(counts, 0, n * sizeof(*counts));
        for (int i = 0; i < N_DRAWS; i++) {
                int32_t t = aid_sampler_sample(s, l, n);
                cr_assert(t >= 0 && (uint32_t)t < n, "sample returned %d", t);
                counts[t]++;
        }
}

/* Pearson's chi-square of observed counts against expected probabilities. */
static double chi2(const unsigned *counts, const double *p, size_t n)
{
        double x = 0;
        for (size_t i = 0; i < n; i++) {
                double e = p[i] * N_DRAWS;
                x += (counts[i] - e) * (counts[i] - e) / e;
        }
        return x;
}

/* 0.999 quantiles of chi-square with 1..7 degrees of freedom: a correct sampler fails one
 * seed in a thousand; these seeds are fixed, so the result is too. */
static const double chi2_999[] = { 0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32 };

static const float L6[] = { 1.0f, 2.0f, 0.5f, 3.0f, -1.0f, 0.0f };

Test(sampler, frequencies_match_softmax)
{
        struct aid_sampler_params p = plain(1234, 1.0f);
        struct aid_sampler *s = make(&p);
        unsigned counts[6];
        double prob[6];

        softmax(L6, 6, 1.0, prob);
        draw(s, L6, 6, counts);
        double x = chi2(counts, prob, 6);
        cr_expect_lt(x, chi2_999[5], "chi-square %.2f over 5 dof", x);
        for (int i = 0; i < 6; i++)
                cr_expect_lt(fabs(counts[i] / (double)N_DRAWS - prob[i]), 0.012,
                                "token %d: %u draws, p %.4f", i, counts[i], prob[i]);
        aid_sampler_free(s);
}

Test(sampler, temperature_sharpens_and_flattens)
{
        double top[3], entropy[3];
        const float temps[3] = { 0.5f, 1.0f, 2.0f };

        for (int k = 0; k < 3; k++) {
                struct aid_sampler_params p = plain(99 + k, temps[k]);
                struct aid_sampler *s = make(&p);
                unsigned counts[6];
                double prob[6];

                /* the reported distribution is softmax(l / T) */
                const struct aid_token_prob *c;
                uint32_t n;
                cr_assert_eq(aid_sampler_candidates(s, L6, 6, &c, &n), 0);
                cr_assert_eq(n, 6);
                softmax(L6, 6, temps[k], prob);
                for (uint32_t i = 0; i < n; i++)
                        cr_expect_float_eq(c[i].p, prob[c[i].id], 1e-6, "T %g token %d", temps[k], c[i].id);

                draw(s, L6, 6, counts);
                double x = chi2(counts, prob, 6);
                cr_expect_lt(x, chi2_999[5], "T %g: chi-square %.2f", temps[k], x);
                top[k] = counts[3] / (double)N_DRAWS;
                entropy[k] = 0;
                for (int i = 0; i < 6; i++)
                        if (counts[i])
                                entropy[k] -= counts[i] / (double)N_DRAWS * log(counts[i] / (double)N_DRAWS);
                aid_sampler_free(s);
        }
        cr_expect_gt(top[0], top[1] + 0.1, "T 0.5 picks the best token more often (%.3f vs %.3f)", top[0],
                        top[1]);
        cr_expect_lt(top[2], top[1] - 0.1, "T 2 picks it less often (%.3f vs %.3f)", top[2], top[1]);
        cr_expect(entropy[0] < entropy[1] && entropy[1] < entropy[2], "entropy %.3f %.3f %.3f", entropy[0],
                        entropy[1], entropy[2]);
}

Test(sampler, top_k_keeps_two_with_their_odds)
{
        struct aid_sampler_params p = plain(7, 1.0f);
        p.top_k = 2;
        struct aid_sampler *s = make(&p);
        unsigned counts[6];

        draw(s, L6, 6, counts);
        cr_expect_eq(counts[0] + counts[2] + counts[4] + counts[5], 0, "only tokens 3 and 1 may come out");
        /* P(3 | {3, 1}) = e^3 / (e^3 + e^2) */
        double q = 1.0 / (1.0 + exp(-1.0)), f = counts[3] / (double)N_DRAWS;
        double sigma = sqrt(q * (1 - q) / N_DRAWS);
        cr_expect_lt(fabs(f - q), 4 * sigma, "token 3 drawn %.4f of the time, expected %.4f", f, q);
        aid_sampler_free(s);
}

Test(sampler, top_k_on_a_large_vocabulary_is_the_k_largest)
{
        enum { N = 200000, K = 40 };
        float *l = malloc(N * sizeof(float));
        srand(5);
        for (int i = 0; i < N; i++)
                l[i] = (float)((double)rand() / RAND_MAX * 20.0 - 10.0);
        l[123] = l[456] = 10.5f; /* a tie: both kept, the smaller id first */

        struct aid_sampler_params p = plain(1, 1.0f);
        p.top_k = K;
        struct aid_sampler *s = make(&p);
        const struct aid_token_prob *c;
        uint32_t n;
        cr_assert_eq(aid_sampler_candidates(s, l, N, &c, &n), 0);
        cr_assert_eq(n, K);
        cr_expect_eq(c[0].id, 123);
        cr_expect_eq(c[1].id, 456);

        /* the K-th largest by counting */
        float kth = l[c[K - 1].id];
        int above = 0;
        for (int i = 0; i < N; i++)
                above += l[i] > kth;
        cr_expect_eq(above, K - 1, "%d logits above the last one kept", above);
        for (uint32_t i = 1; i < n; i++)
                cr_expect_geq(c[i - 1].p, c[i].p, "kept most likely first");
        aid_sampler_free(s);
        free(l);
}

/* Expected order of the top-k: larger logit first, then smaller id; NaN counts as -inf. */
static const float *order_logits;
static int cmp_order(const void *x, const void *y)
{
        int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
        float la = isnan(order_logits[a]) ? -INFINITY : order_logits[a];
        float lb = isnan(order_logits[b]) ? -INFINITY : order_logits[b];
        if (la != lb)
                return la > lb ? -1 : 1;
        return a < b ? -1 : 1;
}

/* The top-k path that reads the logits directly (k <= 1024, and greedy as k = 1) and the general
 * one (k > 1024) both keep exactly the k first ids of a full sort of the penalised logits, in that order,
 * with NaN, -inf, signed zeros and ties about (+inf has no softmax: -EDOM). */
Test(sampler, top_k_keeps_the_first_k_of_a_full_sort_on_both_paths)
{
        enum { N = 50021 };
        const uint32_t ks[] = { 1, 2, 17, 40, 1024, 1025, 3000 };
        float *l = malloc(N * sizeof(float)), *pen = malloc(N * sizeof(float));
        int32_t *ids = malloc(N * sizeof(int32_t));

        srand(11);
        for (int i = 0; i < N; i++)
                l[i] = (float)(rand() % 2000) / 100.0f - 10.0f; /* many ties */
        l[7] = NAN;
        l[N - 1] = NAN;
        l[100] = 10.5f;
        l[101] = -INFINITY;
        l[200] = 0.0f;
        l[201] = -0.0f;
        l[N - 2] = 9.99f; /* in the scalar tail, among the largest */

        for (size_t t = 0; t < 2 * sizeof(ks) / sizeof(ks[0]); t++) {
                const uint32_t k = ks[t / 2];
                const bool penalties = t % 2;
                struct aid_sampler_params p = plain(1, 1.0f);
                const struct aid_token_prob *c;
                uint32_t n;

                p.top_k = (int32_t)k;
                if (penalties) {
                        p.repeat_penalty = 1.3f;
                        p.presence_penalty = 0.5f;
                        p.penalty_last_n = 64;
                }
                struct aid_sampler *s = make(&p);
                if (penalties) /* the largest logits, so that the penalties reorder the top */
                        for (int32_t id = 0; id < N; id++)
                                if (l[id] >= 9.9f || id == 100)
                                        aid_sampler_accept(s, id);
                memcpy(pen, l, N * sizeof(float));
                cr_assert_eq(aid_sampler_apply_penalties(s, pen, N), 0);
                for (int32_t i = 0; i < N; i++)
                        ids[i] = i;
                order_logits = pen;
                qsort(ids, N, sizeof(*ids), cmp_order);

                cr_assert_eq(aid_sampler_candidates(s, l, N, &c, &n), 0);
                cr_assert_eq(n, k, "k %u: %u kept", k, n);
                for (uint32_t i = 0; i < k; i++)
                        cr_assert_eq(c[i].id, ids[i], "k %u, penalties %d: place %u holds %d, not %d", k,
                                        penalties, i, c[i].id, ids[i]);
                aid_sampler_free(s);

                /* Greedy takes the same scan with k = 1: the first of a full sort. */
                p.temperature = 0.0f;
                s = make(&p);
                if (penalties)
                        for (int32_t id = 0; id < N; id++)
                                if (l[id] >= 9.9f || id == 100)
                                        aid_sampler_accept(s, id);
                cr_assert_eq(aid_sampler_candidates(s, l, N, &c, &n), 0);
                cr_assert_eq(n, 1);
                cr_assert_eq(c[0].id, ids[0], "greedy, penalties %d: %d, not %d", penalties, c[0].id,
                                ids[0]);
                aid_sampler_free(s);
        }
        free(ids);
        free(pen);
        free(l);
}

Test(sampler, top_p_keeps_the_smallest_set_reaching_p)
{
        /* probabilities 0.5, 0.25, 0.15, 0.1 */
        const float l[4] = { logf(0.15f), logf(0.5f), logf(0.1f), logf(0.25f) };
        const struct {
                float top_p;
                uint32_t n;
                int32_t ids[4];
        } cases[] = {
                { 0.40f, 1, { 1 } },
                { 0.70f, 2, { 1, 3 } },
                { 0.80f, 3, { 1, 3, 0 } },
                { 0.95f, 4, { 1, 3, 0, 2 } },
        };
        for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
                struct aid_sampler_params p = plain(3, 1.0f);
                p.top_p = cases[k].top_p;
                struct aid_sampler *s = make(&p);
                const struct aid_token_prob *c;
                uint32_t n;
                cr_assert_eq(aid_sampler_candidates(s, l, 4, &c, &n), 0);
                cr_assert_eq(n, cases[k].n, "top_p %g kept %u", cases[k].top_p, n);
                double kept = 0;
                for (uint32_t i = 0; i < n; i++)
                        kept += expf(l[cases[k].ids[i]]);
                for (uint32_t i = 0; i < n; i++) {
                        bool expected = false;
                        for (uint32_t j = 0; j < n; j++)
                                expected = expected || c[i].id == cases[k].ids[j];
                        cr_expect(expected, "top_p %g kept token %d", cases[k].top_p, c[i].id);
                        cr_expect_float_eq(c[i].p, expf(l[c[i].id]) / kept, 1e-6);
                }
                aid_sampler_free(s);
        }
}

static int cmp_desc(const void *a, const void *b)
{
        float x = *(const float *)a, y = *(const float *)b;
        return x < y ? 1 : x > y ? -1 : 0;
}

Test(sampler, top_p_on_a_large_vocabulary_matches_a_full_sort)
{
        enum { N = 100000 };
        float *l = malloc(N * sizeof(float)), *sorted = malloc(N * sizeof(float));
        srand(11);
        for (int i = 0; i < N; i++)
                sorted[i] = l[i] = (float)((double)rand() / RAND_MAX * 12.0);
        qsort(sorted, N, sizeof(float), cmp_desc);

        const float ps[] = { 0.1f, 0.5f, 0.9f };
        for (size_t k = 0; k < ELEMENTSOF(ps); k++) {
                double z = 0, cum = 0;
                for (int i = 0; i < N; i++)
                        z += exp(sorted[i] - sorted[0]);
                uint32_t expect = 0;
                while (cum < ps[k] * z)
                        cum += exp(sorted[expect++] - sorted[0]);

                struct aid_sampler_params p = plain(3, 1.0f);
                p.top_p = ps[k];
                struct aid_sampler *s = make(&p);
                const struct aid_token_prob *c;
                uint32_t n;
                cr_assert_eq(aid_sampler_candidates(s, l, N, &c, &n), 0);
                cr_expect_eq(n, expect, "top_p %g: kept %u, a full sort keeps %u", ps[k], n, expect);
                float *kept = malloc(n * sizeof(float));
                for (uint32_t i = 0; i < n; i++)
                        kept[i] = l[c[i].id];
                qsort(kept, n, sizeof(float), cmp_desc);
                for (uint32_t i = 0; i < n && i < expect; i++)
                        cr_expect_eq(kept[i], sorted[i], "rank %u", i);
                free(kept);
                aid_sampler_free(s);
        }
        free(l);
        free(sorted);
}

Test(sampler, min_p_is_relative_to_the_most_likely)
{
        /* p / p_max = e^(l - 0): 1, 0.37, 0.22, 0.18, 0.05 */
        const float l[5] = { -1.7f, 0.0f, -1.0f, -3.0f, -1.5f };
        struct aid_sampler_params p = plain(3, 1.0f);
        p.min_p = 0.2f;
        struct aid_sampler *s = make(&p);
        const struct aid_token_prob *c;
        uint32_t n;
        cr_assert_eq(aid_sampler_candidates(s, l, 5, &c, &n), 0);
        cr_assert_eq(n, 3, "kept %u", n);
        bool seen[5] = {};
        for (uint32_t i = 0; i < n; i++)
                seen[c[i].id] = true;
        cr_expect(seen[1] && seen[2] && seen[4] && !seen[0] && !seen[3]);

        unsigned counts[5];
        draw(s, l, 5, counts);
        cr_expect_eq(counts[0] + counts[3], 0);
        aid_sampler_free(s);
}

Test(sampler, penalties_change_the_right_logits_by_the_right_amounts)
{
        struct aid_sampler_params p = plain(3, 1.0f);
        p.repeat_penalty = 1.5f;
        p.presence_penalty = 0.5f;
        p.frequency_penalty = 0.25f;
        p.penalty_last_n = 3;
        struct aid_sampler *s = make(&p);

        /* the window holds the last 3: 3, 3, 5 (the first 1 has left it) */
        const int32_t history[] = { 1, 3, 3, 5 };
        for (size_t i = 0; i < ELEMENTSOF(history); i++)
                aid_sampler_accept(s, history[i]);

        float l[6] = { 1.0f, 2.0f, 0.5f, 2.0f, -1.0f, -1.0f };
        const float before[6] = { 1.0f, 2.0f, 0.5f, 2.0f, -1.0f, -1.0f };
        cr_assert_eq(aid_sampler_apply_penalties(s, l, 6), 0);
        for (int i = 0; i < 6; i++) {
                float expect = before[i];
                if (i == 3)
                        expect = 2.0f / 1.5f - (2 * 0.25f + 0.5f); /* positive: divided; seen twice */
                if (i == 5)
                        expect = -1.0f * 1.5f - (1 * 0.25f + 0.5f); /* negative: multiplied */
                cr_expect_float_eq(l[i], expect, 1e-6, "token %d: %g, expected %g", i, l[i], expect);
        }

        /* sampling uses the same penalised logits */
        const struct aid_token_prob *c;
        uint32_t n;
        cr_assert_eq(aid_sampler_candidates(s, before, 6, &c, &n), 0);
        double prob[6];
        softmax(l, 6, 1.0, prob);
        for (uint32_t i = 0; i < n; i++)
                cr_expect_float_eq(c[i].p, prob[c[i].id], 1e-6);

        /* reset forgets the history */
        aid_sampler_reset(s);
        memcpy(l, before, sizeof(l));
        cr_assert_eq(aid_sampler_apply_penalties(s, l, 6), 0);
        cr_expect_arr_eq(l, before, sizeof(l));
        aid_sampler_free(s);
}

Test(sampler, greedy_picks_the_first_maximum_after_penalties)
{
        const float l[5] = { 1.0f, 5.0f, 5.0f, 2.0f, 4.9f };
        struct aid_sampler_params p = plain(3, 0.0f);
        p.top_k = 2;
        p.top_p = 0.5f;
        struct aid_sampler *s = make(&p);
        for (int i = 0; i < 10; i++)
                cr_assert_eq(aid_sampler_sample(s, l, 5), 1);
        aid_sampler_free(s);

        p = plain(3, -1.0f);
        p.repeat_penalty = 2.0f;
        p.penalty_last_n = 8;
        s = make(&p);
        aid_sampler_accept(s, 1);
        aid_sampler_accept(s, 2);
        cr_expect_eq(aid_sampler_sample(s, l, 5), 4, "5 / 2 < 4.9");
        aid_sampler_free(s);
}

Test(sampler, logits_are_not_modified)
{
        float l[6];
        memcpy(l, L6, sizeof(l));
        struct aid_sampler_params p = plain(3, 0.7f);
        p.top_k = 3;
        p.top_p = 0.9f;
        p.min_p = 0.1f;
        p.repeat_penalty = 1.3f;
        p.penalty_last_n = 4;
        struct aid_sampler *s = make(&p);
        aid_sampler_accept(s, 3);
        for (int i = 0; i < 100; i++)
                cr_assert_geq(aid_sampler_sample(s, l, 6), 0);
        cr_expect_arr_eq(l, L6, sizeof(l));
        aid_sampler_free(s);
}

static void sequence(uint64_t seed, int32_t *out, int n)
{
        enum { V = 1000 };
        static float flat[V];
        struct aid_sampler_params p = plain(seed, 1.0f);
        struct aid_sampler *s = make(&p);
        for (int i = 0; i < n; i++)
                out[i] = aid_sampler_sample(s, flat, V);
        aid_sampler_free(s);
}

Test(sampler, same_seed_same_sequence)
{
        int32_t a[200], b[200], c[200];
        sequence(42, a, 200);
        sequence(42, b, 200);
        sequence(43, c, 200);
        cr_expect_arr_eq(a, b, sizeof(a));
        int same = 0;
        for (int i = 0; i < 200; i++)
                same += a[i] == c[i];
        cr_expect_lt(same, 10, "seeds 42 and 43 agree on %d of 200 draws", same);

        /* reset replays the stream */
        struct aid_sampler_params p = plain(42, 1.0f);
        struct aid_sampler *s = make(&p);
        static float flat[1000];
        for (int i = 0; i < 50; i++)
                aid_sampler_sample(s, flat, 1000);
        aid_sampler_reset(s);
        for (int i = 0; i < 200; i++)
                b[i] = aid_sampler_sample(s, flat, 1000);
        cr_expect_arr_eq(a, b, sizeof(a));
        aid_sampler_free(s);
}

/* The generator is the published xoshiro256** seeded by splitmix64; these expected streams come
 * from an independent implementation of both (Python, from the reference C on prng.di.unimi.it).
 * With two (four) equally likely tokens the draw is the top bit (two bits) of each output, so
 * the tokens spell those bits on any machine. */
Test(sampler, stream_is_xoshiro256starstar)
{
        const char *bits42 = "0011111111101011111100010001100111111001111110111110010011111101";
        const char *bits7 = "2133330010223312110002212002010033311233302020233223132302330233";
        const float two[2] = { 0, 0 }, four[4] = { 0, 0, 0, 0 };

        struct aid_sampler_params p = plain(42, 1.0f);
        struct aid_sampler *s = make(&p);
        cr_expect_eq(aid_sampler_seed(s), 42);
        for (int i = 0; i < 64; i++)
                cr_expect_eq(aid_sampler_sample(s, two, 2), bits42[i] - '0', "draw %d", i);
        aid_sampler_free(s);

        p = plain(7, 1.0f);
        s = make(&p);
        for (int i = 0; i < 64; i++)
                cr_expect_eq(aid_sampler_sample(s, four, 4), bits7[i] - '0', "draw %d", i);
        aid_sampler_free(s);
}

Test(sampler, random_seed_is_reported)
{
        struct aid_sampler_params p = plain(AID_SAMPLER_SEED_RANDOM, 1.0f);
        struct aid_sampler *a = make(&p), *b = make(&p);
        cr_expect_neq(aid_sampler_seed(a), AID_SAMPLER_SEED_RANDOM);
        cr_expect_neq(aid_sampler_seed(a), aid_sampler_seed(b));
        aid_sampler_free(a);
        aid_sampler_free(b);
}

Test(sampler, invalid_parameters_are_named)
{
        struct aid_sampler_params d;
        aid_sampler_params_default(&d);
        struct {
                const char *name;
                struct aid_sampler_params p;
        } cases[11];
        size_t n = 0;
#define CASE(field, value)                \
        do {                              \
                cases[n].name = #field;   \
                cases[n].p = d;           \
                cases[n].p.field = value; \
                n++;                      \
        } while (0)
        CASE(top_p, -0.1f);
        CASE(top_p, 1.5f);
        CASE(top_p, NAN);
        CASE(temperature, NAN);
        CASE(temperature, INFINITY);
        CASE(top_k, -1);
        CASE(min_p, 2.0f);
        CASE(repeat_penalty, 0.0f);
        CASE(penalty_last_n, -1);
        CASE(presence_penalty, NAN);
        CASE(frequency_penalty, -INFINITY);
#undef CASE
        for (size_t i = 0; i < n; i++) {
                struct aid_sampler *s = NULL;
                struct aid_error err = {};
                cr_expect_eq(aid_sampler_new(&cases[i].p, &s, &err), -EINVAL, "case %zu (%s)", i,
                                cases[i].name);
                cr_expect_null(s);
                cr_expect(strstr(err.message, cases[i].name) != NULL, "message \"%s\" names %s", err.message,
                                cases[i].name);
        }

        struct aid_sampler_params p;
        aid_sampler_params_default(&p);
        cr_expect_eq(aid_sampler_params_validate(&p, NULL), 0, "the defaults are valid");
        struct aid_sampler *s = make(&p);
        cr_expect_eq(aid_sampler_sample(s, L6, 0), -EINVAL);
        const float dead[3] = { -INFINITY, NAN, -INFINITY };
        cr_expect_eq(aid_sampler_sample(s, dead, 3), -EDOM);
        aid_sampler_free(s);
}

/* ---- stop strings ---- */

struct collected {
        char text[512];
        size_t len;
        bool stopped;
        int index;
};

static void feed(struct aid_stop *m, const char *frag, struct collected *c)
{
        struct aid_stop_chunk ch;
        cr_assert_eq(aid_stop_feed(m, frag, strlen(frag), &ch), 0);
        cr_assert_lt(c->len + ch.len, sizeof(c->text));
        memcpy(c->text + c->len, ch.text, ch.len);
        c->len += ch.len;
        c->text[c->len] = '\0';
        c->stopped = ch.stopped;
        c->index = ch.stop_index;
}

static void flush(struct aid_stop *m, struct collected *c)
{
        struct aid_stop_chunk ch;
        cr_assert_eq(aid_stop_flush(m, &ch), 0);
        memcpy(c->text + c->len, ch.text, ch.len);
        c->len += ch.len;
        c->text[c->len] = '\0';
}

static struct aid_stop *stopper(const char *const *stops, size_t n)
{
        struct aid_stop *m = NULL;
        struct aid_error err = {};
        cr_assert_eq(aid_stop_new(stops, n, &m, &err), 0, "%s", err.message);
        return m;
}

Test(stop, string_split_across_fragments)
{
        const char *stops[] = { "</s>" };
        struct aid_stop *m = stopper(stops, 1);
        struct collected c = {};

        feed(m, "Hello <", &c);
        cr_expect_str_eq(c.text, "Hello ", "'<' may start the stop string: held");
        feed(m, "/", &c);
        cr_expect_str_eq(c.text, "Hello ");
        feed(m, "s> world", &c);
        cr_expect_str_eq(c.text, "Hello ");
        cr_expect(c.stopped);
        cr_expect_eq(c.index, 0);
        feed(m, "more", &c);
        cr_expect_str_eq(c.text, "Hello ", "nothing after the stop");
        cr_expect(c.stopped);
        aid_stop_free(m);
}

Test(stop, held_prefix_is_released_when_it_does_not_complete)
{
        const char *stops[] = { "</s>" };
        struct aid_stop *m = stopper(stops, 1);
        struct collected c = {};

        feed(m, "a </", &c);
        cr_expect_str_eq(c.text, "a ");
        feed(m, "b> c", &c);
        cr_expect_str_eq(c.text, "a </b> c");
        cr_expect_not(c.stopped);
        feed(m, " <", &c);
        flush(m, &c);
        cr_expect_str_eq(c.text, "a </b> c <", "flush releases the held tail");
        aid_stop_free(m);
}

Test(stop, overlapping_prefixes)
{
        const char *stops[] = { "ab" };
        struct aid_stop *m = stopper(stops, 1);
        struct collected c = {};

        feed(m, "a", &c);
        feed(m, "a", &c);
        cr_expect_str_eq(c.text, "a", "the first 'a' cannot start \"ab\" any more");
        feed(m, "b", &c);
        cr_expect_str_eq(c.text, "a");
        cr_expect(c.stopped);
        aid_stop_free(m);

        /* "aab" fed whole; "abab" with a self-overlapping stop string */
        const char *stops2[] = { "abac" };
        m = stopper(stops2, 1);
        c = (struct collected){};
        feed(m, "xabab", &c);
        cr_expect_str_eq(c.text, "xab", "\"ab\" may still start \"abac\"");
        feed(m, "ac!", &c);
        cr_expect_str_eq(c.text, "xab");
        cr_expect(c.stopped);
        aid_stop_free(m);
}

Test(stop, several_stop_strings)
{
        const char *stops[] = { "STOP", "ENDING", "END" };
        struct aid_stop *m = stopper(stops, 3);
        struct collected c = {};

        feed(m, "the EN", &c);
        cr_expect_str_eq(c.text, "the ");
        feed(m, "D.", &c);
        cr_expect(c.stopped);
        cr_expect_eq(c.index, 2);
        cr_expect_str_eq(c.text, "the ");
        aid_stop_free(m);

        m = stopper(stops, 3);
        c = (struct collected){};
        feed(m, "go STOP here END", &c);
        cr_expect_eq(c.index, 0, "the earliest stop string wins");
        cr_expect_str_eq(c.text, "go ");
        aid_stop_free(m);
}

Test(stop, multibyte_characters)
{
        /* no stop strings: a character split across tokens comes out whole */
        struct aid_stop *m = stopper(NULL, 0);
        struct collected c = {};
        feed(m, "caf", &c);
        feed(m, "\xc3", &c);
        cr_expect_str_eq(c.text, "caf", "half of é is held");
        feed(m, "\xa9 ok \xe6\x97", &c);
        cr_expect_str_eq(c.text, "café ok ");
        feed(m, "\xa5", &c);
        cr_expect_str_eq(c.text, "café ok 日");
        aid_stop_free(m);

        const char *stops[] = { "日本" };
        m = stopper(stops, 1);
        c = (struct collected){};
        feed(m, "今日は日", &c);
        cr_expect_str_eq(c.text, "今日は");
        feed(m, "\xe6\x9c", &c); /* the first two bytes of 本 */
        cr_expect_str_eq(c.text, "今日は");
        feed(m, "\xac語", &c);
        cr_expect(c.stopped);
        cr_expect_str_eq(c.text, "今日は");
        aid_stop_free(m);
}

/* Whatever the fragmentation, the released text is the text before the first stop string. */
Test(stop, every_split_gives_the_same_text)
{
        const char *stops[] = { "<|im_end|>", "\n\nUser:" };
        const char *text = "Ça va ? <|im_e|> \n\nUse 日本 <|im_end|> tail";
        const char *expect = "Ça va ? <|im_e|> \n\nUse 日本 ";
        size_t len = strlen(text);

        for (size_t a = 0; a <= len; a++)
                for (size_t b = a; b <= len; b += 3) {
                        struct aid_stop *m = stopper(stops, 2);
                        struct collected c = {};
                        char part[128];
                        size_t cuts[] = { 0, a, b, len };
                        for (int k = 0; k < 3; k++) {
                                memcpy(part, text + cuts[k], cuts[k + 1] - cuts[k]);
                                part[cuts[k + 1] - cuts[k]] = '\0';
                                feed(m, part, &c);
                                /* released text is always a prefix of the answer */
                                cr_assert(strncmp(c.text, expect, c.len) == 0, "split %zu,%zu: \"%s\"", a, b,
                                                c.text);
                        }
                        cr_assert(c.stopped, "split %zu,%zu", a, b);
                        cr_assert_str_eq(c.text, expect, "split %zu,%zu", a, b);
                        aid_stop_free(m);
                }
}

Test(stop, bad_stop_strings)
{
        struct aid_stop *m = NULL;
        struct aid_error err = {};
        const char *empty[] = { "ok", "" };
        cr_expect_eq(aid_stop_new(empty, 2, &m, &err), -EINVAL);
        cr_expect(strstr(err.message, "stop string 1") != NULL, "%s", err.message);
        const char *bad[] = { "\xc3(" };
        cr_expect_eq(aid_stop_new(bad, 1, &m, &err), -EINVAL);
        cr_expect(strstr(err.message, "UTF-8") != NULL, "%s", err.message);
        cr_expect_null(m);
}
