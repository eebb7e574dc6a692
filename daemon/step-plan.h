/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What one batched step of the text worker evaluates besides the running generations' next
 * tokens: which prompt tokens of which prefilling jobs. Two rules keep a short request from
 * waiting behind a long prompt:
 *
 *   - a step that evaluates prompt tokens lasts about budget_usec at most, by the measured cost
 *     of earlier steps (struct step_cost; the caller may let a prompt that completes go a
 *     little over, struct prefill_limit): that is the longest a newly arrived request waits
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

/* A step of n rows lasts about
 *
 *     t1_usec + per_row_usec * (n - 1) + per_pos_usec * (the sum of the rows' positions):
 *
 * one row reads every weight once (memory-bound), each further row adds compute, and each row's
 * attention reads the keys before it, so a row deep in a long prompt costs more than a row of a
 * new request. Exponential averages of the measured steps; zero until measured. Steps of
 * shallow rows (mean position below STEP_COST_SHALLOW_POS) teach per_row_usec, deeper ones
 * per_pos_usec. */
#define STEP_COST_SHALLOW_POS 256

struct step_cost {
        double t1_usec;
        double per_row_usec;
        double per_pos_usec;
};

/* A step of rows rows whose positions sum to pos_sum took usec. A step over twice the estimate
 * counts as twice the estimate: one stall (a page fault storm, another process) does not make
 * the plans short for many steps, while a lasting change is followed within a few steps. */
void step_cost_update(struct step_cost *c, size_t rows, double pos_sum, uint64_t usec);
/* What such a step is expected to take; 0 while not known. */
double step_cost_predict(const struct step_cost *c, size_t rows, double pos_sum);
/* The most rows a step of shallow rows may have to end within budget_usec, at least 1; 0 while
 * the cost of a step of several rows is not known yet. */
size_t step_cost_rows_within(const struct step_cost *c, uint64_t budget_usec);
/* What may be added, in rows at position 0, to a step of n rows at pos_sum for it to end within
 * budget_usec (negative when it is over already); NAN while not known. */
double step_cost_rows_left(const struct step_cost *c, uint64_t budget_usec, size_t n, double pos_sum);
/* What one earlier position adds to a row's cost, in rows at position 0. */
double step_cost_pos_weight(const struct step_cost *c);

struct prefill_want {
        size_t remaining; /* prompt tokens not evaluated yet, > 0 */
        uint32_t pos;     /* the position of the first of them */
        bool passed_over; /* in: it took nothing in the previous step; out: in this one */
        size_t take;      /* out: prompt tokens in this step */
};

/* What a step's prompt tokens may be. A token at position p costs 1 + pos_weight * p, in rows
 * at position 0. */
struct prefill_limit {
        /* Prompt tokens in all. */
        size_t max_rows;
        /* Their cost in all (INFINITY: no limit). */
        double cost;
        /* The most a prompt that completes may cost (>= cost): cut in two steps, it would cost
         * its request a whole further step. */
        double complete_cost;
        double pos_weight;
        /* Taken whatever they cost where no prompt completes: prompts advance under any load. */
        size_t min_rows;
};

/* Shares a step among the n jobs (in the caller's order, which breaks ties: newest first) by
 * the rules above. Returns the tokens taken in all. */
size_t step_plan_prefill_within(struct prefill_want *w, size_t n, const struct prefill_limit *lim);
/* The same with max_rows tokens and no other limit. */
size_t step_plan_prefill(struct prefill_want *w, size_t n, size_t max_rows);
