/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The multi-row integer kernels of continuous batching (dot-multi.h) and aid_matmul_rows():
 * the interleaved activation layout is where the kernels look for it, every level agrees with
 * the scalar twin for every batch size and for row lengths that leave every remainder of the
 * groups of four blocks, the four-row kernels equal the multi-row ones, the K types (and Q4_0
 * and Q5_0 at the AVX-512 VNNI levels) give a row the same bits whatever the batch, and Q8_0's
 * extreme values survive the 512-bit kernels' unsigned bias. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels-internal.h"
#include "kernels/quant.h"
#include "macro.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return (uint32_t)(rng >> 16);
}

static float gauss(void)
{
        float s = 0.0f;

        for (int i = 0; i < 6; i++)
                s += (float)(rnd() % 10000) / 10000.0f;
        return s - 3.0f;
}

static const kern_qdot_multi_fn *multi_table(enum aid_cpu_level level)
{
        return level >= AID_CPU_AVX512_ICL    ? kern_qdot_multi_avx512_icl
               : level >= AID_CPU_AVX512_VNNI ? kern_qdot_multi_avx512_vnni
               : level >= AID_CPU_AVX512      ? kern_qdot_multi_avx2 /* as dispatch.c falls back */
               : level >= AID_CPU_AVX2        ? (aid_kernels_get_avx_vnni() ? kern_qdot_multi_avx_vnni
                                                                            : kern_qdot_multi_avx2)
                                              : kern_qdot_multi_scalar;
}

/* Eight rows of x quantized for blocks of `block`, in one buffer. */
struct xrows {
        uint8_t *mem;
        struct kern_xq xq[KERN_QDOT_MULTI_MAX];
};

static void xrows_init(struct xrows *x, size_t cols, size_t block, float spread)
{
        size_t stride = kern_xq_bytes(cols);
        float *f = malloc(cols * sizeof(float));

        x->mem = aligned_alloc(64, stride * KERN_QDOT_MULTI_MAX);
        cr_assert(f && x->mem);
        for (size_t j = 0; j < KERN_QDOT_MULTI_MAX; j++) {
                /* Blocks of different magnitudes, so that the per-block scales matter. */
                for (size_t c = 0; c < cols; c++)
                        f[c] = gauss() * (1.0f + spread * (float)((c / 32 + j) % 4));
                x->xq[j] = kern_xq_layout(x->mem + j * stride, cols);
                kern_quantize_x_scalar(f, cols, block, &x->xq[j]);
        }
        free(f);
}

static uint8_t *random_rows(uint32_t type, size_t rows, size_t cols, uint64_t *ret_rb)
{
        uint64_t rb;
        float *f = malloc(cols * sizeof(float));

        cr_assert_eq(ggml_row_bytes(type, cols, &rb), 0);
        uint8_t *w = malloc(rows * rb);
        cr_assert(f && w);
        for (size_t r = 0; r < rows; r++) {
                for (size_t c = 0; c < cols; c++)
                        f[c] = gauss() * (1.0f + (float)(c % 96) / 32.0f);
                cr_assert_eq(aid_quantize_row(type, f, w + r * rb, cols), 0);
        }
        free(f);
        *ret_rb = rb;
        return w;
}

/* sum |w x| over the row: the scale of the float rounding any order of the sum may bring. */
/* "TYPE LEVEL cols C n N row R x J", for the kernel comparisons' messages. */
static const char *case_label(
                char label[128], uint32_t type, int level, size_t cols, size_t n, size_t r, size_t j)
{
        snprintf(label, 128, "%s %s cols %zu n %zu row %zu x %zu", ggml_type_name(type),
                        aid_cpu_level_name((enum aid_cpu_level)level), cols, n, r, j);
        return label;
}

static double magnitude(uint32_t type, const uint8_t *row, const struct kern_xq *x, size_t cols)
{
        float *wf = malloc(cols * sizeof(float));
        size_t block = ggml_type_traits_get(type)->block_elems;
        double mag = 0.0;

        cr_assert(wf);
        cr_assert_eq(aid_dequantize_row(type, row, wf, cols), 0);
        for (size_t c = 0; c < cols; c++)
                mag += fabs((double)wf[c] * x->qs[c] * x->d[c / block]);
        free(wf);
        return mag;
}

/* Every level's fill of x side by side writes the scalar fill's bytes, and only those, for every
 * batch size and every remainder of the groups of four blocks. */
Test(matmul_rows, xqt_fill_levels_write_the_scalar_bytes)
{
        static const size_t cols_list[] = { 32, 64, 96, 128, 224, 288, 544, 2080, 8192 };

        for (size_t ci = 0; ci < ELEMENTSOF(cols_list); ci++) {
                const size_t cols = cols_list[ci], tb = kern_xqt_bytes(cols);
                struct xrows x;
                uint8_t *want = aligned_alloc(64, tb), *got = aligned_alloc(64, tb);

                cr_assert(want && got);
                xrows_init(&x, cols, 32, 3.0f);
                for (size_t n = 1; n <= KERN_QDOT_MULTI_MAX; n++) {
                        struct kern_xqt wt = kern_xqt_layout(want, cols);

                        memset(want, 0xa5, tb);
                        kern_xqt_fill_scalar(x.xq, n, cols, &wt);
                        for (int level = AID_CPU_SCALAR; level <= (int)aid_cpu_detect(); level++) {
                                struct kern_xqt gt = kern_xqt_layout(got, cols);

                                memset(got, 0xa5, tb);
                                kern_xqt_fill_for((enum aid_cpu_level)level)(x.xq, n, cols, &gt);
                                cr_assert_eq(gt.group, wt.group);
                                cr_assert(memcmp(got, want, tb) == 0,
                                                "level %s cols %zu n %zu: bytes differ",
                                                aid_cpu_level_name((enum aid_cpu_level)level), cols, n);
                        }
                }
                free(x.mem);
                free(want);
                free(got);
        }
}

/* 3 blocks (one group of four whose last block is padding) and 7 (a whole group, then a
 * partial one). */
Test(matmul_rows, xqt_layout_is_as_documented)
{
        const size_t cols_list[] = { 96, 224 }, ns[] = { 3, 4, 6, 8 };

        for (size_t ci = 0; ci < ELEMENTSOF(cols_list); ci++) {
                const size_t cols = cols_list[ci], nb = cols / 32, ng = (nb + 3) / 4;
                struct kern_xq xq[KERN_QDOT_MULTI_MAX];
                uint8_t *mem = aligned_alloc(64, kern_xq_bytes(cols) * KERN_QDOT_MULTI_MAX),
                        *tmem = aligned_alloc(64, kern_xqt_bytes(cols));

                cr_assert(mem && tmem);
                for (size_t a = 0; a < KERN_QDOT_MULTI_MAX; a++) {
                        xq[a] = kern_xq_layout(mem + a * kern_xq_bytes(cols), cols);
                        for (size_t c = 0; c < cols; c++)
                                xq[a].qs[c] = (int8_t)((int)(a * 31 + c * 7) % 255 - 127);
                        for (size_t b = 0; b < nb; b++)
                                xq[a].d[b] = (float)(a + 1) + (float)b / 8.0f;
                        kern_xq_sums(&xq[a], cols, 32);
                }
                for (size_t k = 0; k < ELEMENTSOF(ns); k++) {
                        size_t n = ns[k], H = n <= 4 ? 1 : 2;
                        struct kern_xqt xt = kern_xqt_layout(tmem, cols);

                        kern_xqt_fill_scalar(xq, n, cols, &xt);
                        cr_assert_eq((size_t)xt.group, 4 * H, "n %zu", n);
                        for (size_t g = 0; g < ng; g++)
                                for (size_t s = 0; s < H; s++)
                                        for (size_t l = 0; l < 16; l++) {
                                                const size_t b = 4 * g + l / 4, a = 4 * s + l % 4,
                                                             dk = (g * H + s) * 16 + l;
                                                const bool real = a < n && b < nb;
                                                /* Vector 2 k + h of group g, lane 4 beta + j: row
                                                 * 4 s + (j + k) % 4, elements 16 h + 4 j .. + 3 of
                                                 * block 4 g + beta. */
                                                for (size_t q = 0; q < 8; q++) {
                                                        const int8_t *vec =
                                                                        xt.qs + ((g * 8 + q) * H + s) * 64;
                                                        const size_t j = l % 4, ra = 4 * s + (j + q / 2) % 4;
                                                        const bool in = ra < n && b < nb;
                                                        for (size_t i = 0; i < 4; i++)
                                                                cr_assert_eq(vec[4 * l + i],
                                                                                in ? xq[ra].qs[32 * b +
                                                                                                     16 * (q % 2) +
                                                                                                     4 * j +
                                                                                                     i]
                                                                                   : 0,
                                                                                "cols %zu n %zu group %zu "
                                                                                "half %zu "
                                                                                "vector %zu lane %zu",
                                                                                cols, n, g, s, q, l);
                                                }
                                                cr_assert_eq(xt.d[dk], real ? xq[a].d[b] : 0.0f);
                                                cr_assert_eq(xt.off[dk], real ? -8 * xq[a].s32[b] : 0,
                                                                "cols %zu n %zu group %zu half %zu lane %zu",
                                                                cols, n, g, s, l);
                                        }
                }
                free(mem);
                free(tmem);
        }
}

Test(matmul_rows, every_level_matches_the_scalar_twin_for_every_batch)
{
        static const uint32_t types[] = { GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
        /* Block counts 1, 2, 3, 4, 7, 9, 17 and 65 leave every remainder of the kernels' groups
         * of four blocks, and of the AVX2 level's halves of two. */
        static const size_t cols_32[] = { 32, 64, 96, 128, 224, 288, 544, 2080 },
                            cols_k[] = { 256, 768, 2304 };
        const size_t rows = 3;
        char label[128];

        for (size_t ti = 0; ti < ELEMENTSOF(types); ti++) {
                uint32_t type = types[ti];
                bool k = ggml_type_traits_get(type)->block_elems == QK_K;
                size_t nc = k ? ELEMENTSOF(cols_k) : ELEMENTSOF(cols_32);

                for (size_t ci = 0; ci < nc; ci++) {
                        size_t cols = k ? cols_k[ci] : cols_32[ci];
                        uint64_t rb;
                        uint8_t *w = random_rows(type, rows, cols, &rb),
                                *tmem = aligned_alloc(64, kern_xqt_bytes(cols));
                        struct xrows x;

                        cr_assert(tmem);
                        xrows_init(&x, cols, k ? QK_K : 32, 3.0f);
                        for (size_t n = 1; n <= KERN_QDOT_MULTI_MAX; n++) {
                                struct kern_xqt xt = kern_xqt_layout(tmem, cols);
                                if (!k)
                                        kern_xqt_fill_scalar(x.xq, n, cols, &xt);
                                for (size_t r = 0; r < rows; r++) {
                                        const uint8_t *row = w + r * rb;
                                        float ref[KERN_QDOT_MULTI_MAX] = { 0 };

                                        kern_qdot_multi_scalar[type](row, x.xq, &xt, n, cols, ref);
                                        for (int level = AID_CPU_AVX2; level <= (int)aid_cpu_detect();
                                                        level++) {
                                                float got[KERN_QDOT_MULTI_MAX] = { 0 };
                                                multi_table((enum aid_cpu_level)level)[type](
                                                                row, x.xq, &xt, n, cols, got);
                                                for (size_t j = 0; j < n; j++) {
                                                        double mag = magnitude(type, row, &x.xq[j], cols);
                                                        cr_assert(fabs((double)got[j] - ref[j]) <=
                                                                                        1e-5 * mag,
                                                                        "%s: %.9g vs %.9g",
                                                                        case_label(label, type, level, cols,
                                                                                        n, r, j),
                                                                        got[j], ref[j]);
                                                }
                                        }
                                }
                        }
                        free(x.mem);
                        free(w);
                        free(tmem);
                }
        }
}

/* The four-row kernels (each vector of x loaded once for four weight rows) give each row the
 * bits of the multi-row kernel of their level on that row alone, for every batch size and every
 * remainder of the groups of four blocks, and store them in their places in y (rows of x ys
 * floats apart), past n and beside the four columns leaving it. */
Test(matmul_rows, four_row_kernels_equal_the_multi_row_kernel_per_row)
{
        static const uint32_t types[] = { GGML_TYPE_Q4_0, GGML_TYPE_Q5_0, GGML_TYPE_Q8_0, GGML_TYPE_Q4_1,
                GGML_TYPE_Q5_1 };
        static const size_t cols_32[] = { 32, 96, 128, 224, 288, 2080 };
        const int top = (int)aid_cpu_detect();
        char label[128];

        if (top < AID_CPU_AVX512_VNNI)
                cr_skip("this CPU has no AVX-512 VNNI level, the only ones with four-row kernels");
        for (size_t ti = 0; ti < ELEMENTSOF(types); ti++)
                for (size_t ci = 0; ci < ELEMENTSOF(cols_32); ci++) {
                        const uint32_t type = types[ti];
                        const size_t cols = cols_32[ci];
                        uint64_t rb;
                        /* Five rows: the four from the second on, so that rows start anywhere. */
                        uint8_t *w = random_rows(type, KERN_QDOT_ROWS + 1, cols, &rb),
                                *tmem = aligned_alloc(64, kern_xqt_bytes(cols));
                        struct xrows x;

                        cr_assert(tmem);
                        xrows_init(&x, cols, 32, 3.0f);
                        for (size_t n = 1; n <= KERN_QDOT_MULTI_MAX; n++) {
                                struct kern_xqt xt = kern_xqt_layout(tmem, cols);
                                kern_xqt_fill_scalar(x.xq, n, cols, &xt);
                                for (int level = AID_CPU_AVX512_VNNI; level <= top; level++) {
                                        kern_qdot_multi_rows_fn rfn = kern_qdot_multi_rows_for(
                                                        (enum aid_cpu_level)level, type);
                                        /* y's rows one float wider than the four: the
                                         * kernel must keep to its columns. */
                                        enum { YS = KERN_QDOT_ROWS + 1 };
                                        float got[KERN_QDOT_MULTI_MAX * YS];

                                        cr_assert(rfn, "%s %s has a four-row kernel", ggml_type_name(type),
                                                        aid_cpu_level_name((enum aid_cpu_level)level));
                                        for (size_t j = 0; j < KERN_QDOT_MULTI_MAX; j++)
                                                for (size_t r = 0; r < YS; r++)
                                                        got[j * YS + r] = (float)(r + j);
                                        rfn(w + rb, rb, x.xq, &xt, n, cols, got, YS);
                                        for (size_t j = 0; j < KERN_QDOT_MULTI_MAX; j++)
                                                cr_assert_eq(got[j * YS + KERN_QDOT_ROWS],
                                                                (float)(KERN_QDOT_ROWS + j),
                                                                "%s: column %d of y written",
                                                                case_label(label, type, level, cols, n,
                                                                                KERN_QDOT_ROWS, j),
                                                                KERN_QDOT_ROWS);
                                        for (size_t r = 0; r < KERN_QDOT_ROWS; r++) {
                                                float one[KERN_QDOT_MULTI_MAX] = { 0 };
                                                multi_table((enum aid_cpu_level)level)[type](
                                                                w + (r + 1) * rb, x.xq, &xt, n, cols, one);
                                                for (size_t j = 0; j < KERN_QDOT_MULTI_MAX; j++)
                                                        cr_assert_eq(got[j * YS + r],
                                                                        j < n ? one[j] : (float)(r + j),
                                                                        "%s: %.9g vs %.9g",
                                                                        case_label(label, type, level, cols,
                                                                                        n, r, j),
                                                                        got[j * YS + r], one[j]);
                                        }
                                }
                        }
                        free(x.mem);
                        free(w);
                        free(tmem);
                }
}

Test(matmul_rows, k_types_give_a_row_the_same_bits_in_any_batch)
{
        static const uint32_t types[] = { GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
        const size_t cols = 1280, rows = 4;

        for (size_t ti = 0; ti < ELEMENTSOF(types); ti++) {
                uint64_t rb;
                uint8_t *w = random_rows(types[ti], rows, cols, &rb);
                struct xrows x;
                struct kern_xqt xt = { 0 };

                xrows_init(&x, cols, QK_K, 1.0f);
                for (int level = AID_CPU_SCALAR; level <= (int)aid_cpu_detect(); level++) {
                        kern_qdot_multi_fn fn = multi_table((enum aid_cpu_level)level)[types[ti]];
                        if (level == AID_CPU_AVX512)
                                continue; /* no table of its own: it uses AVX2's */
                        for (size_t r = 0; r < rows; r++) {
                                float alone[KERN_QDOT_MULTI_MAX];
                                for (size_t j = 0; j < KERN_QDOT_MULTI_MAX; j++) {
                                        alone[j] = 0.0f;
                                        fn(w + r * rb, &x.xq[j], &xt, 1, cols, &alone[j]);
                                }
                                for (size_t n = 2; n <= KERN_QDOT_MULTI_MAX; n++) {
                                        float got[KERN_QDOT_MULTI_MAX] = { 0 };
                                        fn(w + r * rb, x.xq, &xt, n, cols, got);
                                        for (size_t j = 0; j < n; j++)
                                                cr_assert_eq(got[j], alone[j], "%s %s n %zu row %zu x %zu",
                                                                ggml_type_name(types[ti]),
                                                                aid_cpu_level_name(
                                                                                (enum aid_cpu_level)level),
                                                                n, r, j);
                                }
                        }
                }
                free(x.mem);
                free(w);
        }
}

/* Q8_0 at the extremes: weights -128 and 127 against activations of +-127, where the 512-bit
 * kernels' w + 128 reaches 255 and their integer sums are largest. */
Test(matmul_rows, q8_0_extremes_stay_exact)
{
        const size_t cols = 288, nb = cols / 32;
        struct block_q8_0 *row = calloc(nb, sizeof(*row));
        uint8_t *tmem = aligned_alloc(64, kern_xqt_bytes(cols));
        struct xrows x;

        cr_assert(row && tmem);
        xrows_init(&x, cols, 32, 0.0f);
        for (size_t b = 0; b < nb; b++) {
                row[b].d = aid_f32_to_fp16(0.5f);
                for (size_t e = 0; e < 32; e++)
                        row[b].qs[e] = (int8_t)((e + b) % 3 == 0 ? 127 : -128);
        }
        for (size_t j = 0; j < KERN_QDOT_MULTI_MAX; j++)
                for (size_t c = 0; c < cols; c++)
                        x.xq[j].qs[c] = (int8_t)((c + j) % 3 ? 127 : -127);
        for (size_t j = 0; j < KERN_QDOT_MULTI_MAX; j++)
                kern_xq_sums(&x.xq[j], cols, 32);
        for (size_t n = 1; n <= KERN_QDOT_MULTI_MAX; n++) {
                struct kern_xqt xt = kern_xqt_layout(tmem, cols);
                float ref[KERN_QDOT_MULTI_MAX] = { 0 };

                kern_xqt_fill_scalar(x.xq, n, cols, &xt);
                kern_qdot_multi_scalar[GGML_TYPE_Q8_0](row, x.xq, &xt, n, cols, ref);
                for (int level = AID_CPU_AVX2; level <= (int)aid_cpu_detect(); level++) {
                        float got[KERN_QDOT_MULTI_MAX] = { 0 };
                        multi_table((enum aid_cpu_level)level)[GGML_TYPE_Q8_0](row, x.xq, &xt, n, cols, got);
                        for (size_t j = 0; j < n; j++) {
                                double mag = magnitude(GGML_TYPE_Q8_0, (const uint8_t *)row, &x.xq[j], cols);
                                cr_assert(fabs((double)got[j] - ref[j]) <= 1e-5 * mag,
                                                "%s n %zu x %zu: %.9g vs %.9g",
                                                aid_cpu_level_name((enum aid_cpu_level)level), n, j, got[j],
                                                ref[j]);
                        }
                }
        }
        free(x.mem);
        free(row);
        free(tmem);
}

/* Through aid_matmul_rows(), with the 8-bit path forced for all four types (Q8_0 takes it only
 * when asked), every batch size from 2 to 17 gives each row what aid_matvec() gives it alone,
 * within the float bound (Q4_0 and Q8_0 scale per block in another order) or exactly (K). */
Test(matmul_rows, batches_equal_single_rows)
{
        static const uint32_t types[] = { GGML_TYPE_Q4_0, GGML_TYPE_Q5_0, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K,
                GGML_TYPE_Q6_K };
        const size_t rows = 37;
        enum aid_matvec_mode saved = aid_matvec_get_mode();

        aid_matvec_set_mode(AID_MATVEC_Q8X);
        for (size_t ti = 0; ti < ELEMENTSOF(types); ti++) {
                uint32_t type = types[ti];
                bool k = ggml_type_traits_get(type)->block_elems == QK_K;
                /* 3 super-blocks; 25 blocks of 32: six groups of four and a last one alone. */
                const size_t cols = k ? 768 : 800;
                /* The K types at every level, Q4_0 and Q5_0 at the AVX-512 VNNI ones: a row's
                 * bits do not depend on the batch it is in. */
                bool same_bits = k || ((type == GGML_TYPE_Q4_0 || type == GGML_TYPE_Q5_0) &&
                                                      aid_kernels_get_level() >= AID_CPU_AVX512_VNNI);
                uint64_t rb;
                uint8_t *w = random_rows(type, rows, cols, &rb);
                float *xf = malloc(17 * cols * sizeof(float)), *y = malloc(17 * rows * sizeof(float)),
                      *one = malloc(rows * sizeof(float));
                struct xrows xs;

                cr_assert(xf && y && one);
                for (size_t c = 0; c < 17 * cols; c++)
                        xf[c] = gauss();
                for (size_t n = 2; n <= 17; n++) {
                        aid_matmul_rows(type, w, rb, xf, n, y, rows, cols);
                        for (size_t j = 0; j < n; j++) {
                                aid_matvec(type, w, rb, xf + j * cols, one, rows, cols);
                                /* The magnitude from this x, quantized as the kernels see it. */
                                xrows_init(&xs, cols, k ? QK_K : 32, 0.0f);
                                kern_quantize_x_scalar(xf + j * cols, cols, k ? QK_K : 32, &xs.xq[0]);
                                for (size_t r = 0; r < rows; r++) {
                                        if (same_bits) {
                                                cr_assert_eq(y[j * rows + r], one[r],
                                                                "%s n %zu row %zu x %zu",
                                                                ggml_type_name(type), n, r, j);
                                                continue;
                                        }
                                        double mag = magnitude(type, w + r * rb, &xs.xq[0], cols);
                                        cr_assert(fabs((double)y[j * rows + r] - one[r]) <= 1e-5 * mag,
                                                        "%s n %zu row %zu x %zu: %.9g vs %.9g",
                                                        ggml_type_name(type), n, r, j, y[j * rows + r],
                                                        one[r]);
                                }
                                free(xs.mem);
                        }
                }
                free(w);
                free(xf);
                free(y);
                free(one);
        }
        aid_matvec_set_mode(saved);
}

/* aid_matvec_parts() and aid_matmul_rows_parts() (a layer's Q, K and V in one parallel loop)
 * give each matrix exactly what aid_matvec() and aid_matmul_rows() give it alone: the same
 * kernels on the same quantized x, for parts of any length (an empty one, lengths that leave a
 * remainder of the 4-row groups), in both activation modes, for 1, 3 and 9 rows of x. */
Test(matmul_rows, parts_equal_each_matrix_alone)
{
        static const uint32_t types[] = { GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K,
                GGML_TYPE_F16 };
        static const enum aid_matvec_mode modes[] = { AID_MATVEC_Q8X, AID_MATVEC_F32X };
        static const size_t part_rows[] = { 37, 0, 64, 5 };
        static const size_t ns[] = { 1, 3, 9 };
        const size_t cols = 512, P = ELEMENTSOF(part_rows);
        enum aid_matvec_mode saved = aid_matvec_get_mode();
        float *xf = malloc(9 * cols * sizeof(float));

        cr_assert(xf);
        for (size_t c = 0; c < 9 * cols; c++)
                xf[c] = gauss();
        for (size_t mi = 0; mi < ELEMENTSOF(modes); mi++)
                for (size_t ti = 0; ti < ELEMENTSOF(types); ti++) {
                        const uint32_t type = types[ti];
                        struct aid_matvec_part parts[ELEMENTSOF(part_rows)];
                        uint8_t *w[ELEMENTSOF(part_rows)];
                        float *alone = malloc(9 * 64 * sizeof(float));
                        uint64_t rb = 0;

                        aid_matvec_set_mode(modes[mi]);
                        for (size_t p = 0; p < P; p++) {
                                w[p] = random_rows(type, part_rows[p] ? part_rows[p] : 1, cols, &rb);
                                parts[p] = (struct aid_matvec_part){ .w = w[p],
                                        .row_bytes = rb,
                                        .y = malloc(9 * (part_rows[p] + 1) * sizeof(float)),
                                        .rows = part_rows[p] };
                                cr_assert(parts[p].y);
                        }
                        for (size_t ni = 0; ni < ELEMENTSOF(ns); ni++) {
                                const size_t n = ns[ni];
                                if (n == 1)
                                        aid_matvec_parts(type, parts, P, xf, cols);
                                else
                                        aid_matmul_rows_parts(type, parts, P, xf, n, cols);
                                for (size_t p = 0; p < P; p++) {
                                        const size_t rows = part_rows[p];
                                        if (n == 1)
                                                aid_matvec(type, w[p], rb, xf, alone, rows, cols);
                                        else
                                                aid_matmul_rows(type, w[p], rb, xf, n, alone, rows, cols);
                                        for (size_t i = 0; i < n * rows; i++)
                                                cr_assert_eq(memcmp(&parts[p].y[i], &alone[i],
                                                                             sizeof(float)),
                                                                0,
                                                                "%s mode %zu n %zu part %zu [%zu]: %.9g vs "
                                                                "%.9g",
                                                                ggml_type_name(type), mi, n, p, i,
                                                                parts[p].y[i], alone[i]);
                                }
                        }
                        for (size_t p = 0; p < P; p++) {
                                free(w[p]);
                                free(parts[p].y);
                        }
                        free(alone);
                }
        aid_matvec_set_mode(saved);
        free(xf);
}

/* More parts than AID_MATVEC_PARTS_MAX is a caller's bug: NaN, not a write past the arrays. */
Test(matmul_rows, too_many_parts_give_nan)
{
        float y[AID_MATVEC_PARTS_MAX + 1][4], x[32] = { 0 };
        uint64_t rb;
        uint8_t *w = random_rows(GGML_TYPE_Q8_0, 4, 32, &rb);
        struct aid_matvec_part parts[AID_MATVEC_PARTS_MAX + 1];

        for (size_t p = 0; p <= AID_MATVEC_PARTS_MAX; p++)
                parts[p] = (struct aid_matvec_part){ .w = w, .row_bytes = rb, .y = y[p], .rows = 4 };
        aid_matvec_parts(GGML_TYPE_Q8_0, parts, AID_MATVEC_PARTS_MAX + 1, x, 32);
        for (size_t p = 0; p <= AID_MATVEC_PARTS_MAX; p++)
                for (size_t r = 0; r < 4; r++)
                        cr_assert(isnan(y[p][r]));
        free(w);
}

/* The batch sizes a scheduler should prefer: for the 32-element types, a size whose plan ends
 * in a lone row for the single-row kernel gives that row back; the K types, one row, and sizes
 * past AID_MATMUL_ROWS_MAX (oneDNN's) keep theirs. */
Test(matmul_rows, best_count_gives_back_a_lone_row)
{
        if (!aid_matmul_rows_has_multi(GGML_TYPE_Q4_0))
                cr_skip_test("no multi-row kernel for Q4_0 in this mode");
        const size_t lone[] = { 5, 9, 13, 17, 21, 25, 29 };
        for (size_t i = 0; i < ELEMENTSOF(lone); i++) {
                cr_assert_eq(aid_matmul_rows_best_count(GGML_TYPE_Q4_0, lone[i]), lone[i] - 1, "%zu",
                                lone[i]);
                cr_assert_eq(aid_matmul_rows_best_count(GGML_TYPE_Q8_0, lone[i]), lone[i] - 1, "%zu",
                                lone[i]);
        }
        const size_t keep[] = { 1, 2, 3, 4, 6, 7, 8, 10, 12, 16, 32, 33, 64 };
        for (size_t i = 0; i < ELEMENTSOF(keep); i++)
                cr_assert_eq(aid_matmul_rows_best_count(GGML_TYPE_Q4_0, keep[i]), keep[i], "%zu", keep[i]);
        cr_assert_eq(aid_matmul_rows_best_count(GGML_TYPE_Q4_K, 9), 9);
        cr_assert_eq(aid_matmul_rows_best_count(GGML_TYPE_F16, 9), 9);
}
