/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* How many inference threads the daemon should run now, with [Text] Threads=0 ("every core"):
 * every core the other processes leave free, at least one.
 *
 * Why: the engine splits each matrix product over its threads in equal static shares and
 * waits for all of them at the end (OpenMP). When another process keeps a core busy, the
 * thread that shares a core with it finishes its share a scheduler time slice late, every
 * product, about a hundred times per token: on a 2-core machine with one busy process beside
 * it, decode with 2 threads fell from 32 to 3 tokens/s, where 1 thread keeps most of its
 * speed. So the worker asks before each step how much CPU time the rest of the system took
 * over the last interval (/proc/stat minus this process's own, /proc/self/stat) and runs on the
 * cores that were left.
 *
 * The arithmetic is pure (cpu_share_threads()); cpu_share_sample() reads the two files. */

#include <stdbool.h>
#include <stdint.h>

/* Cumulative CPU time in clock ticks: of all CPUs together (busy = not idle or iowait), and
 * of this process (user + system, all its threads). */
struct cpu_times {
        uint64_t total, busy, self;
};

/* Parses the aggregate "cpu" line of /proc/stat and the utime/stime fields (14, 15) of a
 * /proc/PID/stat line. -EINVAL when a text is not in that format. */
int cpu_times_parse(const char *proc_stat, const char *self_stat, struct cpu_times *ret);

/* Reads /proc/stat and /proc/self/stat. Negative errno on failure (no /proc). */
int cpu_times_read(struct cpu_times *ret);

/* Threads for the next interval, from two samples taken an interval apart on a machine with
 * n_cpus cores, at most max_threads and at least 1: the cores that other processes left
 * idle. A core counts as taken when others used more than a third of it (a short burst of
 * another process costs less than running on a shared core for a whole interval). */
unsigned cpu_share_threads(const struct cpu_times *before, const struct cpu_times *after, unsigned n_cpus,
                unsigned max_threads);

/* The worker's state: the last sample and the current choice, re-decided at most once per
 * CPU_SHARE_INTERVAL_USEC. */
#define CPU_SHARE_INTERVAL_USEC (500 * 1000)
struct cpu_share {
        struct cpu_times last;
        uint64_t last_usec;
        unsigned n_cpus, max_threads, threads;
        bool have_last, failed;
};

void cpu_share_init(struct cpu_share *s, unsigned n_cpus, unsigned max_threads);
/* The thread count to use now (now_usec: a monotonic clock). Sets *ret_changed when it
 * differs from the previous answer. Where /proc cannot be read it keeps max_threads. */
unsigned cpu_share_sample(struct cpu_share *s, uint64_t now_usec, bool *ret_changed);
