/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* aid-infer bench MODEL [options]: argv[0] is "bench". Returns an exit status. */
int aid_infer_bench(int argc, char **argv);

/* aid-infer's option parser for counts (in aid-infer.c): a decimal in [0, max], else a message
 * naming the option and -EINVAL. */
int aid_infer_parse_u32(const char *s, const char *opt, uint32_t max, uint32_t *ret);

/* One timed decode pass and the read-bandwidth probes taken right before and right after it,
 * all in bytes/s. A probe that was not taken is 0. */
struct aid_bench_pass {
        double before_mapped, before_huge; /* the model's mapping; a buffer on huge pages */
        double decode;                     /* weight bytes the pass read per second */
        double after_mapped, after_huge;
};

/* The pass's fraction of the bandwidth the machine delivered around it: decode over the
 * largest of the adjacent probes that `mapped` and `huge` select; 0 when none is positive. */
static inline double aid_bench_pass_fraction(const struct aid_bench_pass *p, bool mapped, bool huge)
{
        double roof = 0;

        if (mapped)
                roof = p->before_mapped > p->after_mapped ? p->before_mapped : p->after_mapped;
        if (huge) {
                roof = p->before_huge > roof ? p->before_huge : roof;
                roof = p->after_huge > roof ? p->after_huge : roof;
        }
        return roof > 0 ? p->decode / roof : 0;
}

static inline int aid_bench_cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

/* Median (the mean of the two middle ones for an even count) and best of the n passes'
 * fractions. -EINVAL for no passes or a pass without a probe to compare it with. */
static inline int aid_bench_pair(const struct aid_bench_pass *passes, size_t n, bool mapped, bool huge,
                double *ret_median, double *ret_best)
{
        double *f;

        if (n == 0)
                return -EINVAL;
        f = calloc(n, sizeof(*f));
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                f[i] = aid_bench_pass_fraction(&passes[i], mapped, huge);
                if (f[i] <= 0) {
                        free(f);
                        return -EINVAL;
                }
        }
        qsort(f, n, sizeof(*f), aid_bench_cmp_double);
        *ret_median = n % 2 ? f[n / 2] : (f[n / 2 - 1] + f[n / 2]) / 2;
        *ret_best = f[n - 1];
        free(f);
        return 0;
}
