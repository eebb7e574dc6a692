/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kernels-internal.h"

uint64_t aid_read_sum(const void *buf, size_t bytes)
{
        const uint64_t *p = buf;
        size_t n = bytes / 64;
        uint64_t total = 0;

        /* Eight independent sums per 64-byte line keep several loads in flight without
         * needing SIMD; a core retires them far faster than DRAM delivers lines. */
#pragma omp parallel for schedule(static) reduction(+ : total) if (bytes >= (1u << 20))
        for (size_t i = 0; i < n; i++) {
                const uint64_t *l = p + 8 * i;
                total += (l[0] + l[1]) + (l[2] + l[3]) + (l[4] + l[5]) + (l[6] + l[7]);
        }
        return total;
}
