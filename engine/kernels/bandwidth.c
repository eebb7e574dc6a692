/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <omp.h>

#include "kernels-internal.h"

uint64_t kern_read_sum_scalar(const void *buf, size_t bytes)
{
        const uint64_t *p = buf;
        size_t n = bytes / 64;
        uint64_t total = 0;

        /* Eight independent sums per 64-byte line keep several loads in flight without
         * needing SIMD. */
        for (size_t i = 0; i < n; i++) {
                const uint64_t *l = p + 8 * i;
                total += (l[0] + l[1]) + (l[2] + l[3]) + (l[4] + l[5]) + (l[6] + l[7]);
        }
        return total;
}

uint64_t aid_read_sum(const void *buf, size_t bytes)
{
        kern_read_sum_fn sum = kern_read_sum_for(aid_kernels_get_level());
        size_t lines = bytes / 64;
        uint64_t total = 0;

        /* One contiguous slice a thread, as the rows kernels stream their share of a matrix. */
#pragma omp parallel reduction(+ : total) if (bytes >= (1u << 20))
        {
                size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
                size_t first = lines * t / nt, last = lines * (t + 1) / nt;
                total += sum((const uint8_t *)buf + 64 * first, 64 * (last - first));
        }
        return total;
}
