/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include "kernels-internal.h"
#include "work-split.h"

/* Weight rows a thread claims at a time (see work-split.h). */
#define MATMUL_ROWS_CHUNK 8

bool aid_matmul_rows_has_multi(uint32_t type)
{
        return type < _GGML_TYPE_MAX && aid_matvec_uses_q8x(type) &&
               kern_qdot_multi_for(aid_kernels_get_level(), type) != NULL;
}

/* Rows j0 .. j0 + m - 1 of x for one multi-row kernel call (xt: their interleaved copy, for
 * the 32-element types), or, with m == 1 and no xt, one row for the single-row kernel. */
struct row_group {
        size_t j0, m;
        const struct kern_xqt *xt;
};

/* The 32-element types' multi-row kernels work on 4 rows of x in 16 lanes, and on 5 to 8 as two
 * such halves: 5 rows cost what 8 do. So a group takes 8 rows while at least 6 are left, 4 (or
 * the 2-3 left) otherwise, and a last single row goes to the single-row kernel, about half a
 * 4-row call. kernel-bench -r 2048 -c 2048 -t 1 -b 4,5,8,9 Q4_0, ms per matrix: 4 rows 0.18,
 * 8 rows 0.30; 9 rows 0.48 as 8 and a padded group of 4, 0.42 as 8 and one single row; 5 rows
 * 0.28 either way. */
static size_t plan_groups(size_t n, struct row_group *plan)
{
        size_t k = 0;

        for (size_t j0 = 0; j0 < n;) {
                const size_t left = n - j0;
                size_t m = 1;
                if (left >= 6)
                        m = left < KERN_QDOT_MULTI_MAX ? left : KERN_QDOT_MULTI_MAX;
                else if (left >= 2)
                        m = left < 4 ? left : 4;
                plan[k++] = (struct row_group){ .j0 = j0, .m = m };
                j0 += m;
        }
        return k;
}

size_t aid_matmul_rows_best_count(uint32_t type, size_t n)
{
        struct row_group plan[AID_MATMUL_ROWS_MAX];
        size_t k;

        if (n < 2 || n > AID_MATMUL_ROWS_MAX || !aid_matmul_rows_has_multi(type) ||
                        ggml_type_traits_get(type)->block_elems != 32)
                return n;
        k = plan_groups(n, plan);
        return plan[k - 1].m == 1 ? n - 1 : n;
}

/* The K types' multi-row kernels cost about the same per row at any count: groups of 8. */
static size_t plan_eights(size_t n, struct row_group *plan)
{
        size_t k = 0;

        for (size_t j0 = 0; j0 < n; j0 += KERN_QDOT_MULTI_MAX)
                plan[k++] = (struct row_group){ .j0 = j0,
                        .m = n - j0 < KERN_QDOT_MULTI_MAX ? n - j0 : KERN_QDOT_MULTI_MAX };
        return k;
}

struct batch_kernels {
        kern_qdot_fn one;             /* one row of x */
        kern_qdot_multi_fn multi;     /* up to 8 rows of x */
        kern_qdot_multi_rows_fn rows; /* up to 8 rows of x, four weight rows; NULL at most levels */
};

/* Row r of part (and, with the four-row kernel, the next three where the part and the
 * thread's range, avail rows, have them) against every group of the plan; returns the rows
 * done. */
static size_t batch_rows(const struct batch_kernels *kf, const struct aid_matvec_part *part, size_t r,
                size_t avail, const struct row_group *plan, size_t n_plan, const struct kern_xq *xq,
                size_t cols)
{
        const size_t m = kf->rows && avail >= KERN_QDOT_ROWS && r + KERN_QDOT_ROWS <= part->rows
                                         ? KERN_QDOT_ROWS
                                         : 1;
        const uint8_t *row = (const uint8_t *)part->w + r * part->row_bytes;
        float *y = part->y + r;

        for (size_t i = 0; i < n_plan; i++) {
                const struct row_group *gr = &plan[i];

                if (gr->m == 1 && !gr->xt) {
                        for (size_t k = 0; k < m; k++)
                                y[gr->j0 * part->rows + k] =
                                                kf->one(row + k * part->row_bytes, &xq[gr->j0], cols);
                        continue;
                }
                /* The four-row kernel stores its sums in y; the multi-row one adds them. */
                if (m > 1) {
                        kf->rows(row, part->row_bytes, &xq[gr->j0], gr->xt, gr->m, cols,
                                        y + gr->j0 * part->rows, part->rows);
                        continue;
                }
                float out[KERN_QDOT_MULTI_MAX] = { 0 };
                kf->multi(row, &xq[gr->j0], gr->xt, gr->m, cols, out);
                for (size_t j = 0; j < gr->m; j++)
                        y[(gr->j0 + j) * part->rows] = out[j];
        }
        return m;
}

void aid_matmul_rows(uint32_t type, const void *w, size_t row_bytes, const float *x, size_t n, float *y,
                size_t rows, size_t cols)
{
        const struct aid_matvec_part part = { .w = w, .row_bytes = row_bytes, .y = y, .rows = rows };

        aid_matmul_rows_parts(type, &part, 1, x, n, cols);
}

void aid_matmul_rows_parts(uint32_t type, const struct aid_matvec_part *parts, size_t n_parts,
                const float *x, size_t n, size_t cols)
{
        enum aid_cpu_level level = aid_kernels_get_level();
        kern_dot_fn fn = type < _GGML_TYPE_MAX ? kern_dot_for(level, type) : NULL;
        struct kern_xq xq[AID_MATMUL_ROWS_MAX];
        size_t start[AID_MATVEC_PARTS_MAX + 1] = { 0 };
        uint8_t *mem = NULL;

        if (!fn || n > AID_MATMUL_ROWS_MAX || n_parts > AID_MATVEC_PARTS_MAX) {
                for (size_t p = 0; p < n_parts; p++)
                        for (size_t i = 0; i < n * parts[p].rows; i++)
                                parts[p].y[i] = NAN;
                return;
        }
        if (n == 1) {
                aid_matvec_parts(type, parts, n_parts, x, cols);
                return;
        }
        for (size_t p = 0; p < n_parts; p++)
                start[p + 1] = start[p] + parts[p].rows;
        struct work_split ws;
        work_split_init(&ws, start[n_parts], work_split_team(parts, n_parts), MATMUL_ROWS_CHUNK);

        /* Up to one interleaved x per 4 rows (groups of 4 and 8, see plan_groups()). */
        enum { G = AID_MATMUL_ROWS_MAX / 4 };
        size_t stride = kern_xq_bytes(cols), tstride = kern_xqt_bytes(cols);
        if (aid_matvec_uses_q8x(type)) {
                /* Quantize every x once; should the memory not be had, the f32 path answers.
                 * The interleaved copies for the multi-row kernels follow the n rows. */
                mem = kern_scratch_batch(stride * n + tstride * G);
                if (mem) {
                        size_t block = ggml_type_traits_get(type)->block_elems;
                        for (size_t j = 0; j < n; j++) {
                                xq[j] = kern_xq_layout(mem + j * stride, cols);
                                kern_quantize_x_for(level)(x + j * cols, cols, block, &xq[j]);
                        }
                }
        }

        /* Row-major over the weights: each row is read from memory once and stays in L1 while
         * it meets the n activation rows, so n tokens cost one pass over the matrix. The rows of
         * all parts go through one parallel loop. */
        if (mem) {
                kern_qdot_fn qfn = kern_qdot_for(level, type);
                kern_qdot_multi_fn mfn = kern_qdot_multi_for(level, type);
                const struct batch_kernels kf = { qfn, mfn, kern_qdot_multi_rows_for(level, type) };
                struct kern_xqt xt[G] = { 0 };
                struct row_group plan[AID_MATMUL_ROWS_MAX];
                size_t n_plan = 0;
                if (mfn) {
                        const kern_xqt_fill_fn fill = kern_xqt_fill_for(level);
                        const bool interleaved = ggml_type_traits_get(type)->block_elems == 32;
                        n_plan = interleaved ? plan_groups(n, plan) : plan_eights(n, plan);
                        /* The 32-element types' kernels read x side by side, per group. */
                        for (size_t i = 0, g = 0; i < n_plan; i++)
                                if (!interleaved)
                                        plan[i].xt = &xt[0]; /* unused by the K types' kernels */
                                else if (plan[i].m > 1) {
                                        xt[g] = kern_xqt_layout(mem + stride * n + g * tstride, cols);
                                        fill(&xq[plan[i].j0], plan[i].m, cols, &xt[g]);
                                        plan[i].xt = &xt[g++];
                                }
                }
                if (mfn) {
                        /* Each weight block unpacked once per group of up to 8 rows of x. (Splitting
                         * the columns so that x stays in L1 for long rows was measured slower: the
                         * strided reads of the weights cost more than the L2 reads of x.) */
#pragma omp parallel num_threads(ws.n_shares) if (ws.n_shares > 1)
                        {
                                struct work_split_cursor cur =
                                                work_split_start(&ws, (unsigned)omp_get_thread_num());
                                size_t u0, u1;
                                while (work_split_next(&ws, &cur, &u0, &u1))
                                        for (size_t u = u0; u < u1;) {
                                                const size_t p = kern_unit_part(start, n_parts, u);
                                                u += batch_rows(&kf, &parts[p], u - start[p], u1 - u, plan,
                                                                n_plan, xq, cols);
                                        }
                        }
                        return;
                }
#pragma omp parallel num_threads(ws.n_shares) if (ws.n_shares > 1)
                {
                        struct work_split_cursor cur = work_split_start(&ws, (unsigned)omp_get_thread_num());
                        size_t u0, u1;
                        while (work_split_next(&ws, &cur, &u0, &u1))
                                for (size_t u = u0; u < u1; u++) {
                                        const size_t p = kern_unit_part(start, n_parts, u), r = u - start[p];
                                        const uint8_t *row =
                                                        (const uint8_t *)parts[p].w + r * parts[p].row_bytes;
                                        for (size_t j = 0; j < n; j++)
                                                parts[p].y[j * parts[p].rows + r] = qfn(row, &xq[j], cols);
                                }
                }
                return;
        }
#pragma omp parallel num_threads(ws.n_shares) if (ws.n_shares > 1)
        {
                struct work_split_cursor cur = work_split_start(&ws, (unsigned)omp_get_thread_num());
                size_t u0, u1;
                while (work_split_next(&ws, &cur, &u0, &u1))
                        for (size_t u = u0; u < u1; u++) {
                                const size_t p = kern_unit_part(start, n_parts, u), r = u - start[p];
                                const uint8_t *row = (const uint8_t *)parts[p].w + r * parts[p].row_bytes;
                                for (size_t j = 0; j < n; j++)
                                        parts[p].y[j * parts[p].rows + r] = fn(row, x + j * cols, cols);
                        }
        }
}
