/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How the text worker shares a step among prompts: a short request must not wait behind a
 * long prompt, and a long prompt must not starve behind short requests. */

#include <criterion/criterion.h>

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
        step_cost_update(&c, 1, 26000);
        cr_assert_eq(step_cost_rows_within(&c, 100000), 0, "one-row steps say nothing per row");
        for (int i = 0; i < 20; i++) {
                step_cost_update(&c, 1, 26000);
                step_cost_update(&c, 17, 26000 + 16 * 6000);
        }
        /* 26 ms + 6 ms per further row: 13 rows fit in 100 ms, 1 in 20 ms. */
        cr_assert_eq(step_cost_rows_within(&c, 100000), 13);
        cr_assert_eq(step_cost_rows_within(&c, 20000), 1);

        /* The machine gets twice as slow: the estimate follows within a few steps. */
        for (int i = 0; i < 20; i++) {
                step_cost_update(&c, 1, 52000);
                step_cost_update(&c, 9, 52000 + 8 * 12000);
        }
        cr_assert_eq(step_cost_rows_within(&c, 106000), 5, "52 ms + 12 ms per further row");
}
