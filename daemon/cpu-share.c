/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu-share.h"
#include "macro.h"

int cpu_times_parse(const char *proc_stat, const char *self_stat, struct cpu_times *ret)
{
        uint64_t v[10] = { 0 }, utime, stime;
        const char *p;
        int n;

        /* "cpu  user nice system idle iowait irq softirq steal guest guest_nice": guest time
         * is already inside user and nice, so only the first eight make the total. */
        if (strncmp(proc_stat, "cpu ", 4) != 0)
                return -EINVAL;
        n = sscanf(proc_stat + 4,
                        "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                        " %" SCNu64,
                        &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
        if (n < 4)
                return -EINVAL;

        /* Field 2, the command, is in parentheses and may hold spaces and ')': the fields
         * after it start after the last ')'. utime and stime are fields 14 and 15, the 11th
         * and 12th after the state (field 3). */
        p = strrchr(self_stat, ')');
        if (!p)
                return -EINVAL;
        if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %" SCNu64 " %" SCNu64, &utime,
                            &stime) != 2)
                return -EINVAL;

        uint64_t total = 0;
        for (int i = 0; i < 8; i++)
                total += v[i];
        *ret = (struct cpu_times){
                .total = total,
                .busy = total - v[3] - v[4],
                .self = utime + stime,
        };
        return 0;
}

static int read_small_file(const char *path, char *buf, size_t size)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        return 0;
}

int cpu_times_read(struct cpu_times *ret)
{
        /* The aggregate line comes first; 512 bytes hold it and the whole self line. */
        char stat[512], self[1024];
        int r;

        r = read_small_file("/proc/stat", stat, sizeof(stat));
        if (r < 0)
                return r;
        r = read_small_file("/proc/self/stat", self, sizeof(self));
        if (r < 0)
                return r;
        return cpu_times_parse(stat, self, ret);
}

unsigned cpu_share_threads(const struct cpu_times *before, const struct cpu_times *after, unsigned n_cpus,
                unsigned max_threads)
{
        unsigned threads = max_threads;

        if (n_cpus == 0 || max_threads == 0)
                return 1;
        if (after->total > before->total && after->busy >= before->busy && after->self >= before->self) {
                /* Ticks per core in the interval; the others' busy time in thirds of a core. */
                double per_core = (double)(after->total - before->total) / n_cpus;
                double busy = (double)(after->busy - before->busy),
                       self = (double)(after->self - before->self);
                double others = busy > self ? (busy - self) / per_core : 0;
                unsigned taken = (unsigned)(others + 2.0 / 3.0);
                unsigned left = taken >= n_cpus ? 0 : n_cpus - taken;
                threads = MIN(max_threads, left);
        }
        return MAX(threads, 1u);
}

void cpu_share_init(struct cpu_share *s, unsigned n_cpus, unsigned max_threads)
{
        *s = (struct cpu_share){
                .n_cpus = MAX(n_cpus, 1u),
                .max_threads = MAX(max_threads, 1u),
                .threads = MAX(max_threads, 1u),
        };
}

unsigned cpu_share_sample(struct cpu_share *s, uint64_t now_usec, bool *ret_changed)
{
        struct cpu_times t;
        unsigned threads = s->threads;

        if (ret_changed)
                *ret_changed = false;
        if (s->failed || (s->have_last && now_usec - s->last_usec < CPU_SHARE_INTERVAL_USEC))
                return s->threads;
        if (cpu_times_read(&t) < 0) {
                /* No /proc (a sandbox without it): run as configured, and stop trying. */
                s->failed = true;
                threads = s->max_threads;
        } else {
                if (s->have_last)
                        threads = cpu_share_threads(&s->last, &t, s->n_cpus, s->max_threads);
                s->last = t;
                s->last_usec = now_usec;
                s->have_last = true;
        }
        if (ret_changed)
                *ret_changed = threads != s->threads;
        s->threads = threads;
        return threads;
}
