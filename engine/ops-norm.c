/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* RMS norm and the residual add, in vectors. They run on the calling thread between the
 * parallel products, while the other threads wait, so their time counts in full: the scalar
 * RMS norm (a chain of double additions, one per element) took about 1% of Gemma-3-1B's decode
 * on two threads. GCC's -O2 vectorizes neither loop by itself (a float sum needs reordering, and
 * the add needs a check that x and y do not overlap), hence the explicit vectors. */
#include <math.h>
#include <string.h>

#include "model-private.h"

typedef float v8f __attribute__((vector_size(32)));
typedef float v16f __attribute__((vector_size(64)));
typedef double v8d __attribute__((vector_size(64)));

/* The sum of x[j]² in double: lanes of two accumulators of eight, then the tail. The order is
 * fixed by dim alone, so every row of that width (every batch entry, every thread count) sums
 * the same way. */
static inline __attribute__((always_inline)) double sum_squares(const float *x, uint32_t dim)
{
        v8d acc0 = { 0 }, acc1 = { 0 };
        double tail = 0, lanes[8];
        uint32_t j = 0;

        for (; j + 16 <= dim; j += 16) {
                v8f a, b;
                memcpy(&a, x + j, sizeof(a));
                memcpy(&b, x + j + 8, sizeof(b));
                v8d da = __builtin_convertvector(a, v8d), db = __builtin_convertvector(b, v8d);
                acc0 += da * da;
                acc1 += db * db;
        }
        for (; j < dim; j++)
                tail += (double)x[j] * x[j];
        acc0 += acc1;
        memcpy(lanes, &acc0, sizeof(lanes));
        return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) +
               ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7])) + tail;
}

_clones_ void aid_op_rmsnorm(
                float *out, const float *x, const struct aid_weight *w, size_t n, uint32_t dim, float eps)
{
        const float *g = w->data;

        for (size_t i = 0; i < n; i++) {
                const float *xi = x + i * dim;
                float *oi = out + i * dim;
                const float scale = 1.0f / sqrtf((float)(sum_squares(xi, dim) / dim) + eps);
                uint32_t j = 0;

                for (; j + 16 <= dim; j += 16) {
                        v16f a, b;
                        memcpy(&a, xi + j, sizeof(a));
                        memcpy(&b, g + j, sizeof(b));
                        a = a * scale * b;
                        memcpy(oi + j, &a, sizeof(a));
                }
                for (; j < dim; j++)
                        oi[j] = xi[j] * scale * g[j];
        }
}

_clones_ void aid_op_add(float *x, const float *y, size_t len)
{
        size_t i = 0;

        for (; i + 16 <= len; i += 16) {
                v16f a, b;
                memcpy(&a, x + i, sizeof(a));
                memcpy(&b, y + i, sizeof(b));
                a += b;
                memcpy(x + i, &a, sizeof(a));
        }
        for (; i < len; i++)
                x[i] += y[i];
}
