/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What one batched step of the text worker evaluates besides the running generations' next
 * tokens: which prompt tokens of which prefilling jobs. Two rules keep a short request from
 * waiting behind a long prompt:
 *
 *   - a step that evaluates prompt tokens lasts about budget_usec at most, by the measured cost
 *     of earlier steps (struct step_cost): that is the longest a newly arrived request waits
 *     for the step in progress;
 *   - the prompts closest to done go first (shortest remaining first), and a step in which some
 *     prompt completes (its request gets its first token) takes no part of another prompt, so
 *     the new request's first step costs what it costs when the worker is idle. A prompt passed
 *     over in one step is not passed over in the next, so a stream of short requests slows a
 *     long prompt down but cannot stop it.
 *
 * Pure logic, no clock: the caller measures its steps. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A step of n rows lasts about t1_usec + per_row_usec * (n - 1): one row reads every weight
 * once (memory-bound), each further row adds compute. Exponential averages of the measured
 * steps; zero until measured. */
struct step_cost {
        double t1_usec;
        double per_row_usec;
};

void step_cost_update(struct step_cost *c, size_t rows, uint64_t usec);
/* The most rows a step may have to end within budget_usec, at least 1; 0 while the cost of
 * a step of several rows is not known yet. */
size_t step_cost_rows_within(const struct step_cost *c, uint64_t budget_usec);

struct prefill_want {
        size_t remaining; /* prompt tokens not evaluated yet, > 0 */
        bool passed_over; /* in: it took nothing in the previous step; out: in this one */
        size_t take;      /* out: prompt tokens in this step */
};

/* Shares max_rows prompt tokens among the n jobs (in the caller's order, which breaks ties:
 * newest first) by the rules above. Returns the tokens taken in all. */
size_t step_plan_prefill(struct prefill_want *w, size_t n, size_t max_rows);
