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

/* The K types' multi-row kernels cost about the same per row at any count: groups of 8. */
static size_t plan_eights(size_t n, struct row_group *plan)
{
        size_t k = 0;

        for (size_t j0 = 0; j0 < n; j0 += KERN_QDOT_MULTI_MAX)
                plan[k++] = (struct row_group){ .j0 = j0,
                        .m = n - j0 < KERN_QDOT_MULTI_MAX ? n - j0 : KERN_QDOT_MULTI_MAX };
        return k;
}

/* A batched product for the threads: unit u is row u - start[p] of part p, met by all n rows
 * of x (see aid_matvec_parts()). */
struct rows_job {
        const struct aid_matvec_part *parts;
        size_t start[AID_MATVEC_PARTS_MAX + 1];
        size_t n_parts, n, cols;
        const float *x;
        const struct kern_xq *xq;
        const struct row_group *plan;
        size_t n_plan;
        kern_dot_fn fn;
        kern_qdot_fn qfn;
        kern_qdot_multi_fn mfn;
};

/* The multi-row kernels: each weight block unpacked once per group of up to 8 rows of x. */
static void job_multi(void *data, size_t u0, size_t u1)
{
        const struct rows_job *j = data;

        for (size_t u = u0; u < u1; u++) {
                const size_t p = kern_unit_part(j->start, j->n_parts, u), r = u - j->start[p];
                const struct aid_matvec_part *q = &j->parts[p];
                const uint8_t *row = (const uint8_t *)q->w + r * q->row_bytes;
                float *y = q->y + r;
                for (size_t i = 0; i < j->n_plan; i++) {
                        const struct row_group *gr = &j->plan[i];
                        float out[KERN_QDOT_MULTI_MAX] = { 0 };
                        if (gr->m == 1 && !gr->xt) {
                                y[gr->j0 * q->rows] = j->qfn(row, &j->xq[gr->j0], j->cols);
                                continue;
                        }
                        j->mfn(row, &j->xq[gr->j0], gr->xt, gr->m, j->cols, out);
                        for (size_t k = 0; k < gr->m; k++)
                                y[(gr->j0 + k) * q->rows] = out[k];
                }
        }
}

static void job_qdot(void *data, size_t u0, size_t u1)
{
        const struct rows_job *j = data;

        for (size_t u = u0; u < u1; u++) {
                const size_t p = kern_unit_part(j->start, j->n_parts, u), r = u - j->start[p];
                const struct aid_matvec_part *q = &j->parts[p];
                const uint8_t *row = (const uint8_t *)q->w + r * q->row_bytes;
                for (size_t k = 0; k < j->n; k++)
                        q->y[k * q->rows + r] = j->qfn(row, &j->xq[k], j->cols);
        }
}

static void job_dot(void *data, size_t u0, size_t u1)
{
        const struct rows_job *j = data;

        for (size_t u = u0; u < u1; u++) {
                const size_t p = kern_unit_part(j->start, j->n_parts, u), r = u - j->start[p];
                const struct aid_matvec_part *q = &j->parts[p];
                const uint8_t *row = (const uint8_t *)q->w + r * q->row_bytes;
                for (size_t k = 0; k < j->n; k++)
                        q->y[k * q->rows + r] = j->fn(row, j->x + k * j->cols, j->cols);
        }
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
        struct rows_job j = { .parts = parts, .n_parts = n_parts, .n = n, .cols = cols, .x = x };
        struct kern_xq xq[AID_MATMUL_ROWS_MAX];
        uint8_t *mem = NULL;

        j.fn = type < _GGML_TYPE_MAX ? kern_dot_for(level, type) : NULL;
        if (!j.fn || n > AID_MATMUL_ROWS_MAX || n_parts > AID_MATVEC_PARTS_MAX) {
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
                j.start[p + 1] = j.start[p] + parts[p].rows;
        const unsigned team = work_split_team(parts, n_parts);

        /* Up to one interleaved x per 4 rows (groups of 4 and 8, see plan_groups()). */
        enum { G = AID_MATMUL_ROWS_MAX / 4 };
        size_t stride = kern_xq_bytes(cols), tstride = kern_xqt_bytes(cols);
        if (aid_matvec_uses_q8x(type)) {
                /* Quantize every x once; should the memory not be had, the f32 path answers.
                 * The interleaved copies for the multi-row kernels follow the n rows. */
                mem = kern_scratch_batch(stride * n + tstride * G);
                if (mem) {
                        size_t block = ggml_type_traits_get(type)->block_elems;
                        for (size_t k = 0; k < n; k++) {
                                xq[k] = kern_xq_layout(mem + k * stride, cols);
                                kern_quantize_x_for(level)(x + k * cols, cols, block, &xq[k]);
                        }
                }
        }

        /* Row-major over the weights: each row is read from memory once and stays in L1 while
         * it meets the n activation rows, so n tokens cost one pass over the matrix. The rows of
         * all parts go through one parallel loop. */
        if (mem) {
                struct kern_xqt xt[G] = { 0 };
                struct row_group plan[AID_MATMUL_ROWS_MAX];
                j.xq = xq;
                j.qfn = kern_qdot_for(level, type);
                j.mfn = kern_qdot_multi_for(level, type);
                if (j.mfn) {
                        const bool interleaved = ggml_type_traits_get(type)->block_elems == 32;
                        j.n_plan = interleaved ? plan_groups(n, plan) : plan_eights(n, plan);
                        /* The 32-element types' kernels read x side by side, per group. */
                        for (size_t i = 0, g = 0; i < j.n_plan; i++)
                                if (!interleaved)
                                        plan[i].xt = &xt[0]; /* unused by the K types' kernels */
                                else if (plan[i].m > 1) {
                                        xt[g] = kern_xqt_layout(mem + stride * n + g * tstride, cols);
                                        kern_xqt_fill(&xq[plan[i].j0], plan[i].m, cols, &xt[g]);
                                        plan[i].xt = &xt[g++];
                                }
                        j.plan = plan;
                        /* (Splitting the columns so that x stays in L1 for long rows was measured
                         * slower: the strided reads of the weights cost more than the L2 reads of
                         * x.) */
                        work_split_run(j.start[n_parts], team, MATMUL_ROWS_CHUNK, job_multi, &j);
                        return;
                }
                work_split_run(j.start[n_parts], team, MATMUL_ROWS_CHUNK, job_qdot, &j);
                return;
        }
        work_split_run(j.start[n_parts], team, MATMUL_ROWS_CHUNK, job_dot, &j);
}
