/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include "kernels-internal.h"

bool aid_matmul_rows_has_multi(uint32_t type)
{
        return type < _GGML_TYPE_MAX && aid_matvec_uses_q8x(type) &&
               kern_qdot_multi_for(aid_kernels_get_level(), type) != NULL;
}

void aid_matmul_rows(uint32_t type, const void *w, size_t row_bytes, const float *x, size_t n, float *y,
                size_t rows, size_t cols)
{
        enum aid_cpu_level level = aid_kernels_get_level();
        const uint8_t *base = w;
        kern_dot_fn fn = type < _GGML_TYPE_MAX ? kern_dot_for(level, type) : NULL;
        struct kern_xq xq[AID_MATMUL_ROWS_MAX];
        uint8_t *mem = NULL;

        if (!fn || n > AID_MATMUL_ROWS_MAX) {
                for (size_t i = 0; i < n * rows; i++)
                        y[i] = NAN;
                return;
        }
        if (n == 1) {
                aid_matvec(type, w, row_bytes, x, y, rows, cols);
                return;
        }

        enum { G = (AID_MATMUL_ROWS_MAX + KERN_QDOT_MULTI_MAX - 1) / KERN_QDOT_MULTI_MAX };
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
         * it meets the n activation rows, so n tokens cost one pass over the matrix. */
        if (mem) {
                kern_qdot_fn qfn = kern_qdot_for(level, type);
                kern_qdot_multi_fn mfn = kern_qdot_multi_for(level, type);
                struct kern_xqt xt[G] = { 0 };
                if (mfn && ggml_type_traits_get(type)->block_elems == 32) {
                        /* The 32-element types' kernels read x side by side, per group. */
                        uint8_t *tmem = mem + stride * n;
                        for (size_t g = 0; g * KERN_QDOT_MULTI_MAX < n; g++) {
                                size_t j0 = g * KERN_QDOT_MULTI_MAX;
                                xt[g] = kern_xqt_layout(tmem + g * tstride, cols);
                                kern_xqt_fill(&xq[j0],
                                                n - j0 < KERN_QDOT_MULTI_MAX ? n - j0 : KERN_QDOT_MULTI_MAX,
                                                cols, &xt[g]);
                        }
                }
                if (mfn) {
                        /* Each weight block unpacked once per group of up to 8 rows of x. (Splitting
                         * the columns so that x stays in L1 for long rows was measured slower: the
                         * strided reads of the weights cost more than the L2 reads of x.) */
#pragma omp parallel for schedule(guided, 8) if (rows * row_bytes >= (1u << 18))
                        for (size_t r = 0; r < rows; r++)
                                for (size_t j0 = 0; j0 < n; j0 += KERN_QDOT_MULTI_MAX) {
                                        size_t m = n - j0 < KERN_QDOT_MULTI_MAX ? n - j0
                                                                                : KERN_QDOT_MULTI_MAX;
                                        float out[KERN_QDOT_MULTI_MAX] = { 0 };
                                        mfn(base + r * row_bytes, &xq[j0], &xt[j0 / KERN_QDOT_MULTI_MAX], m,
                                                        cols, out);
                                        for (size_t j = 0; j < m; j++)
                                                y[(j0 + j) * rows + r] = out[j];
                                }
                        return;
                }
#pragma omp parallel for schedule(guided, 8) if (rows * row_bytes >= (1u << 18))
                for (size_t r = 0; r < rows; r++)
                        for (size_t j = 0; j < n; j++)
                                y[j * rows + r] = qfn(base + r * row_bytes, &xq[j], cols);
                return;
        }
#pragma omp parallel for schedule(guided, 8) if (rows * row_bytes >= (1u << 18))
        for (size_t r = 0; r < rows; r++)
                for (size_t j = 0; j < n; j++)
                        y[j * rows + r] = fn(base + r * row_bytes, x + j * cols, cols);
}
