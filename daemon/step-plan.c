/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <stdlib.h>

#include "macro.h"
#include "step-plan.h"

/* Recent steps count most (the model, the thread count's contention, the kernel path a batch
 * size takes all change), but one odd step does not swing the plan. */
#define EMA_WEIGHT 0.25

static double ema(double old, double sample)
{
        return old > 0 ? old + EMA_WEIGHT * (sample - old) : sample;
}

double step_cost_predict(const struct step_cost *c, size_t rows, double pos_sum)
{
        if (rows == 0 || c->t1_usec <= 0 || (rows > 1 && c->per_row_usec <= 0))
                return 0;
        return c->t1_usec + c->per_row_usec * (double)(rows - 1) + c->per_pos_usec * pos_sum;
}

void step_cost_update(struct step_cost *c, size_t rows, double pos_sum, uint64_t usec)
{
        double t = (double)usec, guess = step_cost_predict(c, rows, pos_sum);
        double attention = c->per_pos_usec * pos_sum, extra;

        if (rows == 0)
                return;
        if (guess > 0 && t > 2 * guess)
                t = 2 * guess;
        if (rows == 1) {
                c->t1_usec = ema(c->t1_usec, MAX(t - attention, 0.0));
                return;
        }
        /* Until a one-row step was seen, the whole step counts as per-row cost: an
         * overestimate, so the first plans err on the short side. */
        extra = t - c->t1_usec;
        if (pos_sum / (double)rows < STEP_COST_SHALLOW_POS || c->per_row_usec <= 0)
                c->per_row_usec = ema(c->per_row_usec, MAX(extra - attention, 0.0) / (double)(rows - 1));
        else
                c->per_pos_usec = ema(c->per_pos_usec,
                                MAX(extra - c->per_row_usec * (double)(rows - 1), 0.0) / pos_sum);
}

size_t step_cost_rows_within(const struct step_cost *c, uint64_t budget_usec)
{
        double rows;

        if (c->per_row_usec <= 0)
                return 0;
        rows = 1.0 + ((double)budget_usec - c->t1_usec) / c->per_row_usec;
        if (rows < 1.0)
                return 1;
        if (rows > 1e9)
                return 1000000000;
        return (size_t)rows;
}

double step_cost_rows_left(const struct step_cost *c, uint64_t budget_usec, size_t n, double pos_sum)
{
        if (c->per_row_usec <= 0)
                return NAN;
        return 1.0 + ((double)budget_usec - c->t1_usec - c->per_pos_usec * pos_sum) / c->per_row_usec -
               (double)n;
}

double step_cost_pos_weight(const struct step_cost *c)
{
        return c->per_row_usec > 0 ? c->per_pos_usec / c->per_row_usec : 0.0;
}

/* t prompt tokens from position pos on, in rows at position 0. */
static double tokens_cost(const struct prefill_limit *lim, uint32_t pos, size_t t)
{
        return (double)t + lim->pos_weight * ((double)t * pos + (double)t * (double)(t - 1) / 2.0);
}

/* The most of p's tokens that fit in rows_left and cost_left. */
static size_t tokens_within(const struct prefill_limit *lim, const struct prefill_want *p, size_t rows_left,
                double cost_left)
{
        size_t t = MIN(p->remaining, rows_left);

        /* Each token costs at least 1. */
        if (cost_left < (double)t)
                t = cost_left > 0 ? (size_t)cost_left : 0;
        while (t > 0 && tokens_cost(lim, p->pos, t) > cost_left)
                t--;
        return t;
}

size_t step_plan_prefill_within(struct prefill_want *w, size_t n, const struct prefill_limit *lim)
{
        size_t *order, left = lim->max_rows, taken = 0;
        double cost_left = lim->cost, complete_left = MAX(lim->complete_cost, lim->cost);
        bool completes = false;

        for (size_t i = 0; i < n; i++)
                w[i].take = 0;
        if (n == 0)
                return 0;
        order = malloc(n * sizeof(*order));
        if (!order) {
                /* Out of memory: the caller's order, first come first served. */
                for (size_t i = 0; i < n && left > 0; i++) {
                        w[i].take = MIN(w[i].remaining, left);
                        left -= w[i].take;
                        taken += w[i].take;
                }
                goto done;
        }
        /* Insertion sort by remaining tokens, stable: n is the number of prefilling jobs. */
        for (size_t i = 0; i < n; i++) {
                size_t j = i;
                while (j > 0 && w[order[j - 1]].remaining > w[i].remaining) {
                        order[j] = order[j - 1];
                        j--;
                }
                order[j] = i;
        }

        /* The prompts that complete within this step, shortest first. */
        for (size_t k = 0; k < n; k++) {
                struct prefill_want *p = &w[order[k]];
                double cost;

                if (p->remaining > left)
                        break;
                cost = tokens_cost(lim, p->pos, p->remaining);
                if (cost > complete_left)
                        continue; /* deep in a long context: a shorter one may still fit */
                p->take = p->remaining;
                left -= p->take;
                cost_left -= cost;
                complete_left -= cost;
                taken += p->take;
                completes = true;
        }
        /* Then partial prompts: only if no prompt completes, or if passed over last time. */
        for (size_t k = 0; k < n && left > 0; k++) {
                struct prefill_want *p = &w[order[k]];
                size_t t;

                if (p->take > 0 || (completes && !p->passed_over))
                        continue;
                t = tokens_within(lim, p, left, cost_left);
                if (taken == 0 && t < lim->min_rows)
                        t = MIN(MIN(p->remaining, left), lim->min_rows);
                if (t == 0)
                        continue;
                p->take = t;
                left -= t;
                cost_left -= tokens_cost(lim, p->pos, t);
                taken += t;
        }
        free(order);
done:
        for (size_t i = 0; i < n; i++)
                w[i].passed_over = w[i].take == 0;
        return taken;
}

size_t step_plan_prefill(struct prefill_want *w, size_t n, size_t max_rows)
{
        const struct prefill_limit lim = {
                .max_rows = max_rows, .cost = INFINITY, .complete_cost = INFINITY
        };

        return step_plan_prefill_within(w, n, &lim);
}
