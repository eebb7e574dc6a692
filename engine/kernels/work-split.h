/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* How the threads of a parallel product share its units of work (matvec.c, matmul-rows.c).
 * Each thread starts on its own contiguous share, so that it streams one long run of rows (what
 * the hardware prefetchers want), and takes chunks of a few units from it; a thread whose share
 * is done goes on with chunks from the front of another's. The threads then finish within a
 * chunk of each other whatever their speeds.
 *
 * OpenMP's guided schedule, used before, gives the first thread to arrive half the work in one
 * chunk. On two vCPUs whose speeds differ by a tenth (their memory, the host's other guests),
 * the faster one then waited at the closing barrier for about a twentieth of every product:
 * perf put 4-6% of Gemma-3-1B's decode in libgomp's barrier spin, on both threads. */

#include <omp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "kernels-internal.h"

#define WORK_SPLIT_MAX_THREADS 64

struct work_split {
        struct {
                _Alignas(64) atomic_size_t next; /* the share's next unit, claimed by fetch-add */
                size_t end;
        } share[WORK_SPLIT_MAX_THREADS];
        unsigned n_shares;
        size_t chunk;
};

/* Splits n_units into n_threads shares (at most WORK_SPLIT_MAX_THREADS; 0 is taken as 1),
 * handed out chunk units at a time. Call before the parallel region. */
static inline void work_split_init(struct work_split *ws, size_t n_units, unsigned n_threads, size_t chunk)
{
        ws->n_shares = n_threads < 1                        ? 1
                       : n_threads > WORK_SPLIT_MAX_THREADS ? WORK_SPLIT_MAX_THREADS
                                                            : n_threads;
        ws->chunk = chunk < 1 ? 1 : chunk;
        for (unsigned t = 0; t < ws->n_shares; t++) {
                atomic_init(&ws->share[t].next, n_units * t / ws->n_shares);
                ws->share[t].end = n_units * (t + 1) / ws->n_shares;
        }
}

/* Where a thread is: its own share (self), and how many shares on from it it has emptied. */
struct work_split_cursor {
        unsigned self, visited;
};

static inline struct work_split_cursor work_split_start(const struct work_split *ws, unsigned thread)
{
        return (struct work_split_cursor){ .self = thread % ws->n_shares };
}

/* The thread's next units [*u0, *u1); false when every share is taken. A team with fewer
 * threads than shares still does all the work: each thread goes through every share. */
static inline bool work_split_next(
                struct work_split *ws, struct work_split_cursor *c, size_t *u0, size_t *u1)
{
        while (c->visited < ws->n_shares) {
                /* self + visited < 2 n_shares: no division (a chunk is a few microseconds). */
                unsigned s = c->self + c->visited;
                if (s >= ws->n_shares)
                        s -= ws->n_shares;
                size_t u = atomic_fetch_add_explicit(&ws->share[s].next, ws->chunk, memory_order_relaxed);
                if (u < ws->share[s].end) {
                        *u0 = u;
                        *u1 = u + ws->chunk < ws->share[s].end ? u + ws->chunk : ws->share[s].end;
                        return true;
                }
                c->visited++;
        }
        return false;
}

/* The team for a product of these parts: every thread, or only the caller where waking the
 * others would cost more than the work (kern_parts_want_threads()). */
static inline unsigned work_split_team(const struct aid_matvec_part *parts, size_t n_parts)
{
        return kern_parts_want_threads(parts, n_parts) ? (unsigned)omp_get_max_threads() : 1;
}
