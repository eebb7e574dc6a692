/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <errno.h>

#include "cpu-share.h"

/* A /proc/PID/stat line whose command holds spaces and a ')', utime 1500 and stime 500. */
static const char self_stat[] =
                "4242 (aid (worker) x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 1500 500 0 0 20 0 "
                "5 0 100 1000000 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

Test(cpu_share, parses_proc_stat_and_self_stat)
{
        struct cpu_times t;

        cr_assert_eq(cpu_times_parse("cpu  100 5 50 800 20 3 2 10 7 0\ncpu0 1 2 3 4\n", self_stat, &t), 0);
        /* Total of the first eight fields (guest is inside user), busy without idle and iowait. */
        cr_assert_eq(t.total, 990u);
        cr_assert_eq(t.busy, 170u);
        cr_assert_eq(t.self, 2000u);
}

Test(cpu_share, refuses_other_formats)
{
        struct cpu_times t = { 1, 2, 3 };

        cr_assert_eq(cpu_times_parse("intr 1 2 3", self_stat, &t), -EINVAL);
        cr_assert_eq(cpu_times_parse("cpu  1 2", self_stat, &t), -EINVAL);
        cr_assert_eq(cpu_times_parse("cpu  1 2 3 4", "4242 no parentheses", &t), -EINVAL);
        cr_assert_eq(cpu_times_parse("cpu  1 2 3 4", "4242 (aid) S 1", &t), -EINVAL);
        cr_assert(t.total == 1 && t.busy == 2 && t.self == 3, "untouched on failure");
}

/* Two samples one interval of 100 ticks per core apart, on 2 cores. */
static unsigned threads_when(uint64_t busy, uint64_t self, unsigned max)
{
        struct cpu_times a = { 1000, 400, 100 }, b = { 1200, 400 + busy, 100 + self };

        return cpu_share_threads(&a, &b, 2, max);
}

Test(cpu_share, runs_on_the_cores_others_leave)
{
        /* Alone: all of them, never more than asked. */
        cr_assert_eq(threads_when(200, 200, 2), 2u);
        cr_assert_eq(threads_when(200, 200, 1), 1u);
        cr_assert_eq(threads_when(0, 0, 2), 2u);
        /* Another process keeps one core busy: one thread. */
        cr_assert_eq(threads_when(200, 100, 2), 1u);
        /* Short bursts of others (a fifth of a core) do not count as a taken core. */
        cr_assert_eq(threads_when(220, 200, 2), 2u);
        /* Others on both cores: still one thread, never none. */
        cr_assert_eq(threads_when(200, 0, 2), 1u);
        /* Our own threads' time (spinning included) is ours, not the others'. */
        cr_assert_eq(threads_when(150, 150, 2), 2u);
}

Test(cpu_share, odd_samples_keep_the_maximum)
{
        struct cpu_times a = { 1000, 400, 100 }, same = a, back = { 900, 300, 100 };

        cr_assert_eq(cpu_share_threads(&a, &same, 2, 2), 2u, "no time passed");
        cr_assert_eq(cpu_share_threads(&a, &back, 2, 2), 2u, "counters went back");
        cr_assert_eq(cpu_share_threads(&a, &same, 0, 0), 1u);
}

Test(cpu_share, samples_the_real_proc_files)
{
        struct cpu_share s;
        bool changed = true;
        struct cpu_times t;

        cr_assert_eq(cpu_times_read(&t), 0, "/proc/stat and /proc/self/stat readable");
        cr_assert(t.total > 0 && t.busy <= t.total);
        cpu_share_init(&s, 2, 2);
        /* The first sample only sets the baseline; within the interval nothing is re-decided. */
        cr_assert_eq(cpu_share_sample(&s, 1000000, &changed), 2u);
        cr_assert_not(changed);
        cr_assert_eq(cpu_share_sample(&s, 1000000 + CPU_SHARE_INTERVAL_USEC / 2, &changed), 2u);
        cr_assert_not(changed);
        unsigned n = cpu_share_sample(&s, 1000000 + 2 * CPU_SHARE_INTERVAL_USEC, &changed);
        cr_assert(n >= 1 && n <= 2);
}
