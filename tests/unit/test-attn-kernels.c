/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Attention's chunk products (struct aid_att_kernels): the scalar twins against sums in double,
 * and every level's kernels against the scalar twins, bit for bit, over head sizes with and
 * without a partial vector, fp16 and f32 caches, one to four rows and partial ranges of keys. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/quant.h"

#define KEYS  KERN_ATT_KEYS
#define HDMAX 256

static const unsigned head_dims[] = { 8, 16, 24, 40, 64, 80, 128, 256 };

struct chunk {
        float q[4][HDMAX], o[4][HDMAX], p[4][KEYS];
        float k32[HDMAX * KEYS], v32[KEYS * HDMAX]; /* k d-major, v a row per key */
        uint16_t k16[HDMAX * KEYS], v16[KEYS * HDMAX];
};

static uint64_t rng = 0x2545f4914f6cdd1dull;

static float uniform(void)
{
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Random contents; the f32 copies of k and v hold exactly the fp16 ones' values, so that both
 * caches' products must agree as well. */
static void fill(struct chunk *c)
{
        for (size_t j = 0; j < 4; j++)
                for (size_t d = 0; d < HDMAX; d++) {
                        c->q[j][d] = uniform();
                        c->o[j][d] = uniform();
                }
        for (size_t j = 0; j < 4; j++)
                for (size_t i = 0; i < KEYS; i++)
                        c->p[j][i] = 0.5f * (uniform() + 1.0f);
        for (size_t i = 0; i < HDMAX * KEYS; i++) {
                c->k16[i] = aid_f32_to_fp16(4.0f * uniform());
                c->v16[i] = aid_f32_to_fp16(4.0f * uniform());
                c->k32[i] = aid_fp16_to_f32(c->k16[i]);
                c->v32[i] = aid_fp16_to_f32(c->v16[i]);
        }
}

static void scores(const struct aid_att_kernels *ak, const struct chunk *c, unsigned rows, bool f16,
                unsigned hd, bool prefetch, float s[4][KEYS])
{
        const float *q[4] = { c->q[0], c->q[1], c->q[2], c->q[3] };
        const void *k = f16 ? (const void *)c->k16 : (const void *)c->k32;
        /* Any bytes do (hd steps of either size fit in the f32 arrays): a prefetch changes no
         * result. */
        const void *next_k = prefetch ? (const void *)c->k32 : NULL, *next_v = prefetch ? c->v32 : NULL;

        memset(s, 0, 4 * KEYS * sizeof(float));
        ak->scores(q, rows, k, f16, hd, 0.125f, s, next_k, next_v, KEYS * (f16 ? 2 : 4));
}

static void pv(const struct aid_att_kernels *ak, const struct chunk *c, bool f16, unsigned i0, unsigned i1,
                unsigned hd, float o[4][HDMAX])
{
        float *op[4] = { o[0], o[1], o[2], o[3] };
        const float *p[4] = { c->p[0], c->p[1], c->p[2], c->p[3] };

        memcpy(o, c->o, 4 * HDMAX * sizeof(float));
        ak->pv4(op, p, f16 ? (const void *)c->v16 : (const void *)c->v32, f16, i0, i1, hd);
}

static bool same_bits(float a, float b)
{
        return memcmp(&a, &b, sizeof(a)) == 0;
}

Test(attn_kernels, scalar_twins_compute_the_products)
{
        const struct aid_att_kernels *ak = &aid_att_kernels_scalar;
        struct chunk *c = malloc(sizeof(*c));
        float s[4][KEYS], o[4][HDMAX];

        cr_assert_not_null(c);
        fill(c);
        for (size_t h = 0; h < sizeof(head_dims) / sizeof(head_dims[0]); h++) {
                const unsigned hd = head_dims[h];
                scores(ak, c, 4, true, hd, false, s);
                for (unsigned j = 0; j < 4; j++)
                        for (unsigned i = 0; i < KEYS; i++) {
                                double want = 0;
                                for (unsigned d = 0; d < hd; d++)
                                        want += (double)c->q[j][d] * c->k32[d * KEYS + i];
                                want *= 0.125;
                                cr_assert_float_eq(s[j][i], want, 1e-4 * (1 + fabs(want)),
                                                "hd %u row %u key %u: %g, want %g", hd, j, i, s[j][i], want);
                        }
                pv(ak, c, true, 3, 20, hd, o);
                for (unsigned j = 0; j < 4; j++)
                        for (unsigned d = 0; d < hd; d++) {
                                double want = c->o[j][d];
                                for (unsigned i = 3; i <= 20; i++)
                                        want += (double)c->p[j][i] * c->v32[i * hd + d];
                                cr_assert_float_eq(o[j][d], want, 1e-4 * (1 + fabs(want)),
                                                "hd %u row %u element %u: %g, want %g", hd, j, d, o[j][d],
                                                want);
                        }
                /* Elements past hd are not touched. */
                for (unsigned j = 0; j < 4; j++)
                        for (unsigned d = hd; d < HDMAX; d++)
                                cr_assert(same_bits(o[j][d], c->o[j][d]));
        }
        free(c);
}

/* got and want, rows of `width`, equal bit for bit; what names the case. */
static void assert_same_bits(const float *got, const float *want, size_t n, size_t width, const char *what)
{
        for (size_t i = 0; i < n; i++)
                cr_assert(same_bits(got[i], want[i]), "%s: %zu/%zu is %a, scalar %a", what, i / width,
                                i % width, (double)got[i], (double)want[i]);
}

/* One level's kernels against the scalar twins on every case; prefetching where `prefetch`. */
static void check_level(
                const struct aid_att_kernels *ak, const char *level, const struct chunk *c, bool prefetch)
{
        static const unsigned ranges[][2] = { { 0, KEYS - 1 }, { 5, 17 }, { KEYS - 1, KEYS - 1 }, { 0, 0 } };
        float want[4][KEYS], got[4][KEYS], want_o[4][HDMAX], got_o[4][HDMAX];
        char what[128];

        for (size_t h = 0; h < sizeof(head_dims) / sizeof(head_dims[0]); h++)
                for (int f16 = 0; f16 <= 1; f16++) {
                        const unsigned hd = head_dims[h];
                        const char *cache = f16 ? "fp16" : "f32";

                        for (unsigned rows = 1; rows <= 4; rows++) {
                                scores(&aid_att_kernels_scalar, c, rows, f16, hd, false, want);
                                scores(ak, c, rows, f16, hd, prefetch, got);
                                snprintf(what, sizeof(what), "%s, hd %u, %s keys, %u rows: score", level, hd,
                                                cache, rows);
                                assert_same_bits(&got[0][0], &want[0][0], 4 * KEYS, KEYS, what);
                        }
                        for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
                                const unsigned i0 = ranges[r][0], i1 = ranges[r][1];
                                pv(&aid_att_kernels_scalar, c, f16, i0, i1, hd, want_o);
                                pv(ak, c, f16, i0, i1, hd, got_o);
                                snprintf(what, sizeof(what), "%s, hd %u, %s values, keys %u..%u: element",
                                                level, hd, cache, i0, i1);
                                assert_same_bits(&got_o[0][0], &want_o[0][0], 4 * HDMAX, HDMAX, what);
                        }
                }
}

Test(attn_kernels, levels_equal_the_scalar_twins_bit_for_bit)
{
        const enum aid_cpu_level best = aid_cpu_detect();
        struct chunk *c = malloc(sizeof(*c));
        unsigned levels_with_kernels = 0;

        cr_assert_not_null(c);
        fill(c);
        for (int level = AID_CPU_SCALAR; level <= (int)best; level++) {
                const struct aid_att_kernels *ak = aid_att_kernels_for((enum aid_cpu_level)level);
                if (!ak)
                        continue;
                levels_with_kernels++;
                check_level(ak, aid_cpu_level_name((enum aid_cpu_level)level), c, false);
                check_level(ak, aid_cpu_level_name((enum aid_cpu_level)level), c, true);
        }
        if (best >= AID_CPU_AVX512)
                cr_assert_gt(levels_with_kernels, 0, "no level from AVX-512 on has attention kernels");
        else
                cr_log_info("this CPU has no AVX-512: only the generic attention path runs here");
        free(c);
}

/* A row's scores do not depend on the rows beside it, whatever the kernel (the engine's
 * batched and single evaluations must agree bit for bit). */
Test(attn_kernels, a_rows_scores_do_not_depend_on_the_others)
{
        const struct aid_att_kernels *ak = aid_att_kernels_for(aid_cpu_detect());
        struct chunk *c = malloc(sizeof(*c));
        float four[4][KEYS], one[4][KEYS];

        if (!ak)
                ak = &aid_att_kernels_scalar;
        cr_assert_not_null(c);
        fill(c);
        scores(ak, c, 4, true, 64, true, four);
        for (unsigned j = 0; j < 4; j++) {
                const float *q = c->q[j];
                memset(one, 0, sizeof(one));
                ak->scores(&q, 1, c->k16, true, 64, 0.125f, one, NULL, NULL, 0);
                for (unsigned i = 0; i < KEYS; i++)
                        cr_assert(same_bits(one[0][i], four[j][i]), "row %u key %u", j, i);
        }
        free(c);
}

Test(attn_kernels, below_avx512_attention_takes_its_generic_path)
{
        cr_expect_null(aid_att_kernels_for(AID_CPU_SCALAR));
        cr_expect_null(aid_att_kernels_for(AID_CPU_AVX2));
        cr_expect_not_null(aid_att_kernels_for(AID_CPU_AVX512));
        cr_expect_not_null(aid_att_kernels_for(AID_CPU_AVX512_ICL));
}
