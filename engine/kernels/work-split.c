/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one parallel region of the products' thread split (work-split.h). */
#include <omp.h>

#include "work-split.h"

void work_split_run(size_t n_units, unsigned team, size_t chunk, work_split_fn fn, void *ctx)
{
        struct work_split ws;

        work_split_init(&ws, n_units, team, chunk);
#pragma omp parallel num_threads(ws.n_shares) if (ws.n_shares > 1)
        {
                struct work_split_cursor cur = work_split_start(&ws, (unsigned)omp_get_thread_num());
                size_t u0, u1;

                while (work_split_next(&ws, &cur, &u0, &u1))
                        fn(ctx, u0, u1);
        }
}
