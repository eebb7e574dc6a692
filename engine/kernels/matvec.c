/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include "kernels-internal.h"

kern_qdot_rows_fn kern_qdot_rows_for(enum aid_cpu_level level, uint32_t type)
{
        if (type >= _GGML_TYPE_MAX)
                return NULL;
        switch (level) {
        case AID_CPU_AVX512_VNNI:
                return kern_qdot_rows_avx512_vnni[type];
        case AID_CPU_AVX512:
                return kern_qdot_rows_avx512[type];
        case AID_CPU_AVX2:
                return kern_qdot_rows_avx2[type];
        default:
                return NULL;
        }
}

/* Groups of KERN_QDOT_ROWS rows, split over the threads as the single-row loop is (guided:
 * long contiguous runs); the last rows < KERN_QDOT_ROWS go one by one. */
static void matvec_rows(kern_qdot_rows_fn rfn, kern_qdot_fn qfn, const uint8_t *base, size_t row_bytes,
                const struct kern_xq *xq, float *y, size_t rows, size_t cols)
{
        size_t groups = rows / KERN_QDOT_ROWS;

#pragma omp parallel for schedule(guided, 8) if (rows * row_bytes >= (1u << 18))
        for (size_t g = 0; g < groups; g++)
                rfn(base + g * KERN_QDOT_ROWS * row_bytes, row_bytes, xq, cols, y + g * KERN_QDOT_ROWS);
        for (size_t r = groups * KERN_QDOT_ROWS; r < rows; r++)
                y[r] = qfn(base + r * row_bytes, xq, cols);
}

void aid_matvec(uint32_t type, const void *w, size_t row_bytes, const float *x, float *y, size_t rows,
                size_t cols)
{
        enum aid_cpu_level level = aid_kernels_get_level();
        const uint8_t *base = w;
        kern_dot_fn fn = NULL;

        if (type < _GGML_TYPE_MAX)
                fn = kern_dot_for(level, type);
        if (!fn) {
                /* Callers validate types at load time (ggml_type_is_supported()); a bad one
                 * here is a bug, made visible rather than silent. */
                for (size_t r = 0; r < rows; r++)
                        y[r] = NAN;
                return;
        }

        if (aid_matvec_uses_q8x(type)) {
                /* Quantize x once on the calling thread; every row reads it. Should the
                 * scratch not be had (out of memory), the f32 path below still answers. */
                const struct kern_xq *xq = kern_scratch_xq(cols);
                if (xq) {
                        kern_qdot_fn qfn = kern_qdot_for(level, type);
                        size_t block = ggml_type_traits_get(type)->block_elems;
                        kern_quantize_x_for(level)(x, cols, block, xq);
                        kern_qdot_rows_fn rfn = kern_qdot_rows_for(level, type);
                        if (rfn)
                                matvec_rows(rfn, qfn, base, row_bytes, xq, y, rows, cols);
                        else {
#pragma omp parallel for schedule(guided, 8) if (rows * row_bytes >= (1u << 18))
                                for (size_t r = 0; r < rows; r++)
                                        y[r] = qfn(base + r * row_bytes, xq, cols);
                        }
                        return;
                }
        }

        /* Guided schedule: the first thread takes half the rows, the next a quarter, and so on
         * down to 8, so each thread still streams long contiguous runs (what the hardware
         * prefetchers like) and a thread that its core's other work slowed down is made up
         * for at the end instead of kept waiting for at the barrier. A static split was up to
         * a tenth slower for 4 sequences at once, spent spinning in that barrier. Small
         * products stay on the calling thread, where waking the team would cost more than
         * the work. */
#pragma omp parallel for schedule(guided, 8) if (rows * row_bytes >= (1u << 18))
        for (size_t r = 0; r < rows; r++)
                y[r] = fn(base + r * row_bytes, x, cols);
}
