/* SPDX-License-Identifier: LGPL-2.1-or-later */
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

void step_cost_update(struct step_cost *c, size_t rows, uint64_t usec)
{
        if (rows == 0)
                return;
        if (rows == 1) {
                c->t1_usec = ema(c->t1_usec, (double)usec);
                return;
        }
        /* Until a one-row step was seen, the whole step counts as per-row cost: an
         * overestimate, so the first plans err on the short side. */
        double extra = (double)usec - c->t1_usec;
        c->per_row_usec = ema(c->per_row_usec, extra > 0 ? extra / (double)(rows - 1) : 0.0);
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

size_t step_plan_prefill(struct prefill_want *w, size_t n, size_t max_rows)
{
        size_t *order, left = max_rows, taken = 0;
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
        for (size_t k = 0; k < n && w[order[k]].remaining <= left; k++) {
                struct prefill_want *p = &w[order[k]];
                p->take = p->remaining;
                left -= p->take;
                taken += p->take;
                completes = true;
        }
        /* Then partial prompts: only if no prompt completes, or if passed over last time. */
        for (size_t k = 0; k < n && left > 0; k++) {
                struct prefill_want *p = &w[order[k]];
                if (p->take > 0 || (completes && !p->passed_over))
                        continue;
                p->take = MIN(p->remaining, left);
                left -= p->take;
                taken += p->take;
        }
        free(order);
done:
        for (size_t i = 0; i < n; i++)
                w[i].passed_over = w[i].take == 0;
        return taken;
}
