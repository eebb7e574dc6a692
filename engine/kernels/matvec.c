/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include "kernels-internal.h"
#include "work-split.h"

/* Units a thread claims at a time: 8 groups of KERN_QDOT_ROWS rows (21 KB of Q4_0 rows 1152
 * wide, under a microsecond), or 32 single rows. */
#define MATVEC_CHUNK_GROUPS 8
#define MATVEC_CHUNK_ROWS   32

kern_qdot_rows_fn kern_qdot_rows_for(enum aid_cpu_level level, uint32_t type)
{
        if (type >= _GGML_TYPE_MAX)
                return NULL;
        switch (level) {
        case AID_CPU_AVX512_ICL:
                return kern_qdot_rows_avx512_icl[type];
        case AID_CPU_AVX512_VNNI:
                return kern_qdot_rows_avx512_vnni[type];
        case AID_CPU_AVX512:
                return kern_qdot_rows_avx512[type];
        case AID_CPU_AVX2:
                return kern_use_avx_vnni() ? kern_qdot_rows_avx_vnni[type] : kern_qdot_rows_avx2[type];
        default:
                return NULL;
        }
}

/* Groups of KERN_QDOT_ROWS rows of every part in one loop over the threads; each part's last
 * rows < KERN_QDOT_ROWS go one by one. */
static void matvec_rows(kern_qdot_rows_fn rfn, kern_qdot_fn qfn, const struct aid_matvec_part *parts,
                size_t n_parts, const struct kern_xq *xq, size_t cols)
{
        size_t start[AID_MATVEC_PARTS_MAX + 1] = { 0 };

        for (size_t p = 0; p < n_parts; p++)
                start[p + 1] = start[p] + parts[p].rows / KERN_QDOT_ROWS;
        struct work_split ws;
        work_split_init(&ws, start[n_parts], work_split_team(parts, n_parts), MATVEC_CHUNK_GROUPS);
#pragma omp parallel num_threads(ws.n_shares) if (ws.n_shares > 1)
        {
                struct work_split_cursor cur = work_split_start(&ws, (unsigned)omp_get_thread_num());
                size_t u0, u1;
                while (work_split_next(&ws, &cur, &u0, &u1))
                        for (size_t u = u0; u < u1; u++) {
                                const size_t p = kern_unit_part(start, n_parts, u), g = u - start[p];
                                const struct aid_matvec_part *q = &parts[p];
                                rfn((const uint8_t *)q->w + g * KERN_QDOT_ROWS * q->row_bytes, q->row_bytes,
                                                xq, cols, q->y + g * KERN_QDOT_ROWS);
                        }
        }
        for (size_t p = 0; p < n_parts; p++)
                for (size_t r = parts[p].rows / KERN_QDOT_ROWS * KERN_QDOT_ROWS; r < parts[p].rows; r++)
                        parts[p].y[r] = qfn((const uint8_t *)parts[p].w + r * parts[p].row_bytes, xq, cols);
}

void aid_matvec(uint32_t type, const void *w, size_t row_bytes, const float *x, float *y, size_t rows,
                size_t cols)
{
        const struct aid_matvec_part part = { .w = w, .row_bytes = row_bytes, .y = y, .rows = rows };

        aid_matvec_parts(type, &part, 1, x, cols);
}

void aid_matvec_parts(uint32_t type, const struct aid_matvec_part *parts, size_t n_parts, const float *x,
                size_t cols)
{
        enum aid_cpu_level level = aid_kernels_get_level();
        size_t start[AID_MATVEC_PARTS_MAX + 1] = { 0 };
        kern_dot_fn fn = NULL;

        if (type < _GGML_TYPE_MAX && n_parts <= AID_MATVEC_PARTS_MAX)
                fn = kern_dot_for(level, type);
        if (!fn) {
                /* Callers validate types at load time (ggml_type_is_supported()); a bad one
                 * here is a bug, made visible rather than silent. */
                for (size_t p = 0; p < n_parts; p++)
                        for (size_t r = 0; r < parts[p].rows; r++)
                                parts[p].y[r] = NAN;
                return;
        }
        for (size_t p = 0; p < n_parts; p++)
                start[p + 1] = start[p] + parts[p].rows;

        if (aid_matvec_uses_q8x(type)) {
                /* Quantize x once on the calling thread; every row of every part reads it. Should
                 * the scratch not be had (out of memory), the f32 path below still answers. */
                const struct kern_xq *xq = kern_scratch_xq(cols);
                if (xq) {
                        kern_qdot_fn qfn = kern_qdot_for(level, type);
                        size_t block = ggml_type_traits_get(type)->block_elems;
                        kern_quantize_x_for(level)(x, cols, block, xq);
                        kern_qdot_rows_fn rfn = kern_qdot_rows_for(level, type);
                        if (rfn)
                                matvec_rows(rfn, qfn, parts, n_parts, xq, cols);
                        else {
                                struct work_split ws;
                                work_split_init(&ws, start[n_parts], work_split_team(parts, n_parts),
                                                MATVEC_CHUNK_ROWS);
#pragma omp parallel num_threads(ws.n_shares) if (ws.n_shares > 1)
                                {
                                        struct work_split_cursor cur = work_split_start(
                                                        &ws, (unsigned)omp_get_thread_num());
                                        size_t u0, u1;
                                        while (work_split_next(&ws, &cur, &u0, &u1))
                                                for (size_t u = u0; u < u1; u++) {
                                                        const size_t p = kern_unit_part(start, n_parts, u),
                                                                     r = u - start[p];
                                                        parts[p].y[r] = qfn(
                                                                        (const uint8_t *)parts[p].w +
                                                                                        r * parts[p].row_bytes,
                                                                        xq, cols);
                                                }
                                }
                        }
                        return;
                }
        }

        struct work_split ws;
        work_split_init(&ws, start[n_parts], work_split_team(parts, n_parts), MATVEC_CHUNK_ROWS);
#pragma omp parallel num_threads(ws.n_shares) if (ws.n_shares > 1)
        {
                struct work_split_cursor cur = work_split_start(&ws, (unsigned)omp_get_thread_num());
                size_t u0, u1;
                while (work_split_next(&ws, &cur, &u0, &u1))
                        for (size_t u = u0; u < u1; u++) {
                                const size_t p = kern_unit_part(start, n_parts, u), r = u - start[p];
                                parts[p].y[r] = fn((const uint8_t *)parts[p].w + r * parts[p].row_bytes, x,
                                                cols);
                        }
        }
}
