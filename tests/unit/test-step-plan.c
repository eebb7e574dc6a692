/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How the text worker shares a step among prompts: a short request must not wait behind a
 * long prompt, and a long prompt must not starve behind short requests. */

#include <criterion/criterion.h>
#include <math.h>

#include "step-plan.h"

Test(step_plan, alone_a_long_prompt_takes_the_whole_budget)
{
        struct prefill_want w[] = { { .remaining = 2000 } };

        cr_assert_eq(step_plan_prefill(w, 1, 16), 16);
        cr_assert_eq(w[0].take, 16);
        cr_assert(!w[0].passed_over);
}

Test(step_plan, a_short_prompt_completes_alone_beside_a_long_one)
{
        /* The long prompt is listed first (it arrived first, the caller's order is newest
         * first but the plan must not depend on it). */
        struct prefill_want w[] = { { .remaining = 1900 }, { .remaining = 5 } };

        cr_assert_eq(step_plan_prefill(w, 2, 16), 5);
        cr_assert_eq(w[1].take, 5, "the short prompt completes in this step");
        cr_assert_eq(w[0].take, 0, "no part of the long prompt rides along");
        cr_assert(w[0].passed_over);

        /* The next step belongs to the long prompt again. */
        struct prefill_want again[] = { { .remaining = 1900, .passed_over = true } };
        cr_assert_eq(step_plan_prefill(again, 1, 16), 16);
}

Test(step_plan, shortest_first_then_the_rest_waits)
{
        struct prefill_want w[] = { { .remaining = 9 }, { .remaining = 3 }, { .remaining = 4 },
                { .remaining = 40 } };

        cr_assert_eq(step_plan_prefill(w, 4, 16), 16);
        cr_assert_eq(w[1].take, 3);
        cr_assert_eq(w[2].take, 4);
        cr_assert_eq(w[0].take, 9);
        cr_assert_eq(w[3].take, 0);
}

Test(step_plan, a_prompt_longer_than_the_budget_goes_first_when_shortest)
{
        struct prefill_want w[] = { { .remaining = 500 }, { .remaining = 60 } };

        cr_assert_eq(step_plan_prefill(w, 2, 16), 16);
        cr_assert_eq(w[1].take, 16, "shortest remaining first");
        cr_assert_eq(w[0].take, 0);
}

Test(step_plan, a_stream_of_short_requests_cannot_starve_a_long_prompt)
{
        struct prefill_want w[2] = { { .remaining = 1000 } };
        size_t long_done = 0;

        /* A new 4-token request every step, for 100 steps. */
        for (int step = 0; step < 100; step++) {
                w[1] = (struct prefill_want){ .remaining = 4 };
                step_plan_prefill(w, 2, 16);
                cr_assert_eq(w[1].take, 4, "step %d: the short request waited", step);
                w[0].remaining -= w[0].take;
                long_done += w[0].take;
        }
        /* Every other step it takes the 12 rows left beside the short one. */
        cr_assert_eq(long_done, 50 * 12);
}

Test(step_plan, the_cost_model_follows_the_measured_steps)
{
        struct step_cost c = {};

        cr_assert_eq(step_cost_rows_within(&c, 100000), 0, "nothing measured: no estimate");
        step_cost_update(&c, 1, 0, 26000);
        cr_assert_eq(step_cost_rows_within(&c, 100000), 0, "one-row steps say nothing per row");
        for (int i = 0; i < 20; i++) {
                step_cost_update(&c, 1, 0, 26000);
                step_cost_update(&c, 17, 0, 26000 + 16 * 6000);
        }
        /* 26 ms + 6 ms per further row: 13 rows fit in 100 ms, 1 in 20 ms. */
        cr_assert_eq(step_cost_rows_within(&c, 100000), 13);
        cr_assert_eq(step_cost_rows_within(&c, 20000), 1);

        /* The machine gets twice as slow: the estimate follows within a few steps. */
        for (int i = 0; i < 20; i++) {
                step_cost_update(&c, 1, 0, 52000);
                step_cost_update(&c, 9, 0, 52000 + 8 * 12000);
        }
        cr_assert_eq(step_cost_rows_within(&c, 106000), 5, "52 ms + 12 ms per further row");
}

/* Sum of the positions of rows rows from pos on. */
static double pos_sum(size_t rows, double pos)
{
        return (double)rows * pos + (double)rows * (double)(rows - 1) / 2;
}

Test(step_plan, the_cost_model_learns_what_rows_deep_in_a_prompt_cost)
{
        struct step_cost c = {};

        /* 26 ms for one row, 3 ms per further row, 1.5 us per row and earlier position: a row at
         * position 2000 costs twice one at 0. Steps of 9 new rows and steps of 10 rows at 2000
         * and on, as while a long prompt runs beside short requests. */
        for (int i = 0; i < 40; i++) {
                double deep = pos_sum(10, 2000 + 10.0 * i);
                step_cost_update(&c, 1, 0, 26000);
                step_cost_update(&c, 9, pos_sum(9, 0), (uint64_t)(26000 + 8 * 3000 + 1.5 * pos_sum(9, 0)));
                step_cost_update(&c, 10, deep, (uint64_t)(26000 + 9 * 3000 + 1.5 * deep));
        }
        cr_assert_float_eq(c.t1_usec, 26000, 100);
        cr_assert_float_eq(c.per_row_usec, 3000, 50);
        cr_assert_float_eq(c.per_pos_usec, 1.5, 0.05);
        cr_assert_float_eq(step_cost_pos_weight(&c), 0.0005, 0.00002);
        /* 50 ms: 9 new rows fit, and 8 more, 26 + 16 * 3 = 74 ms, would not. */
        cr_assert_float_eq(step_cost_rows_left(&c, 50000, 0, 0), 9.0, 0.1);
        cr_assert(step_cost_rows_left(&c, 50000, 0, 0) < 10.0);
        /* Beside a generation at position 4000: 3 ms + 6 ms of attention less. */
        cr_assert_float_eq(step_cost_rows_left(&c, 50000, 1, 4000), 6.0, 0.1);
        cr_assert_float_eq(step_cost_predict(&c, 10, pos_sum(10, 2000)),
                        26000 + 27000 + 1.5 * pos_sum(10, 2000), 300);
}

Test(step_plan, one_stalled_step_does_not_make_the_plans_short)
{
        struct step_cost c = {};

        for (int i = 0; i < 20; i++) {
                step_cost_update(&c, 1, 0, 26000);
                step_cost_update(&c, 9, 0, 26000 + 8 * 3000);
        }
        cr_assert_eq(step_cost_rows_within(&c, 51000), 9);
        /* A step of 9 rows that took a second (the host stalled, pages came from disk). */
        step_cost_update(&c, 9, 0, 1000000);
        cr_assert_geq(step_cost_rows_within(&c, 51000), 6, "one stall counts as twice the estimate at most");
        for (int i = 0; i < 10; i++) {
                step_cost_update(&c, 1, 0, 26000);
                step_cost_update(&c, 9, 0, 26000 + 8 * 3000);
        }
        cr_assert_eq(step_cost_rows_within(&c, 51000), 9, "and is forgotten within ten steps");
}

Test(step_plan, a_short_prompt_completes_alone_however_deep_the_long_one_is)
{
        /* 10 rows at position 0 fit; a row at position 2000 costs two. */
        const struct prefill_limit lim = {
                .max_rows = 128, .cost = 10.0, .complete_cost = 10.0, .pos_weight = 0.0005, .min_rows = 4
        };
        struct prefill_want w[] = { { .remaining = 1000, .pos = 2000 }, { .remaining = 9 } };

        cr_assert_eq(step_plan_prefill_within(w, 2, &lim), 9);
        cr_assert_eq(w[1].take, 9, "the new request's prompt is not split");
        cr_assert_eq(w[0].take, 0);
        cr_assert(w[0].passed_over);

        /* Alone, the long prompt takes what its depth lets fit: 4 rows cost 8.003, 5 cost 10.005. */
        w[0].passed_over = false;
        cr_assert_eq(step_plan_prefill_within(w, 1, &lim), 4);
        cr_assert_eq(w[0].take, 4);
}

Test(step_plan, a_prompt_advances_whatever_the_cost)
{
        /* The running generations take the whole budget. */
        const struct prefill_limit lim = {
                .max_rows = 128, .cost = 0.0, .complete_cost = 0.0, .pos_weight = 0.0005, .min_rows = 4
        };
        struct prefill_want w[] = { { .remaining = 1000, .pos = 3000 } };

        cr_assert_eq(step_plan_prefill_within(w, 1, &lim), 4);
        struct prefill_want shorter[] = { { .remaining = 3 } };
        cr_assert_eq(step_plan_prefill_within(shorter, 1, &lim), 3);
}

Test(step_plan, a_shorter_prompt_deep_in_a_chat_does_not_block_a_new_one)
{
        /* A chat's 6-token turn at position 3000 costs 15 rows; a new 8-token prompt costs 8. */
        const struct prefill_limit lim = {
                .max_rows = 128, .cost = 10.0, .complete_cost = 10.0, .pos_weight = 0.0005, .min_rows = 4
        };
        struct prefill_want w[] = { { .remaining = 6, .pos = 3000 }, { .remaining = 8 } };

        cr_assert_eq(step_plan_prefill_within(w, 2, &lim), 8);
        cr_assert_eq(w[1].take, 8);
        cr_assert_eq(w[0].take, 0);
}

Test(step_plan, a_prompt_that_completes_may_go_a_little_over_the_cost)
{
        /* 9 rows fit; a new 10-token prompt is not cut in two for one row, and nothing of the
         * long prompt rides along. */
        const struct prefill_limit lim = {
                .max_rows = 128, .cost = 9.0, .complete_cost = 11.0, .min_rows = 4
        };
        struct prefill_want w[] = { { .remaining = 1000, .pos = 500, .passed_over = true },
                { .remaining = 10 } };

        cr_assert_eq(step_plan_prefill_within(w, 2, &lim), 10);
        cr_assert_eq(w[1].take, 10);
        cr_assert_eq(w[0].take, 0, "the budget is spent, even for a prompt passed over");

        /* A partial prompt gets no slack. */
        struct prefill_want alone[] = { { .remaining = 1000 } };
        cr_assert_eq(step_plan_prefill_within(alone, 1, &lim), 9);
        /* Nor does a prompt of 12, which does not complete within it. */
        struct prefill_want twelve[] = { { .remaining = 12 } };
        cr_assert_eq(step_plan_prefill_within(twelve, 1, &lim), 9);
}

Test(step_plan, prompts_that_come_together_complete_together_when_nothing_else_waits)
{
        /* No generation runs: completing prompts are not held to the budget (the worker sets
         * complete_cost to infinity), only to the batched kernels' 32 rows. */
        const struct prefill_limit lim = {
                .max_rows = 32, .cost = 9.0, .complete_cost = INFINITY, .min_rows = 4
        };
        struct prefill_want w[] = { { .remaining = 11 }, { .remaining = 11 }, { .remaining = 11 },
                { .remaining = 11 } };

        cr_assert_eq(step_plan_prefill_within(w, 4, &lim), 22, "two complete; a third would pass 32 rows");
        cr_assert_eq(w[0].take + w[1].take + w[2].take + w[3].take, 22);
        for (int i = 0; i < 4; i++)
                cr_assert(w[i].take == 0 || w[i].take == 11, "prompt %d cut in two", i);
        /* A long prompt beside them gets none of the spent budget. */
        struct prefill_want beside[] = { { .remaining = 1000, .passed_over = true }, { .remaining = 9 } };
        cr_assert_eq(step_plan_prefill_within(beside, 2, &lim), 9);
        cr_assert_eq(beside[0].take, 0);
}
