/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include "kernels-internal.h"

static const struct kern_dot_table *table_for(enum aid_cpu_level level)
{
        switch (level) {
        case AID_CPU_AVX512:
                return &kern_dot_avx512;
        case AID_CPU_AVX2:
                return &kern_dot_avx2;
        default:
                return &kern_dot_scalar;
        }
}

void aid_matvec(uint32_t type, const void *w, size_t row_bytes, const float *x, float *y, size_t rows,
                size_t cols)
{
        kern_dot_fn fn = NULL;

        if (type < _GGML_TYPE_MAX) {
                fn = table_for(aid_kernels_get_level())->dot[type];
                if (!fn)
                        fn = kern_dot_scalar.dot[type];
        }
        if (!fn) {
                /* Callers validate types at load time (ggml_type_is_supported()); a bad one
                 * here is a bug, made visible rather than silent. */
                for (size_t r = 0; r < rows; r++)
                        y[r] = NAN;
                return;
        }

        /* Static schedule: each thread streams one contiguous slab of the matrix, which is
         * what the hardware prefetchers like. Small products stay on the calling thread,
         * where waking the team would cost more than the work. */
        const uint8_t *base = w;
#pragma omp parallel for schedule(static) if (rows * row_bytes >= (1u << 18))
        for (size_t r = 0; r < rows; r++)
                y[r] = fn(base + r * row_bytes, x, cols);
}
