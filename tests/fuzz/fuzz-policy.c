/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The policy file parser on arbitrary bytes: it must never crash, leak or read out of bounds,
 * and whatever it makes of the input, a decision must come out of it. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *const apps[] = { "org.example.App", "/usr/bin/foo", "x", NULL };
        struct aid_policy *p = NULL;
        struct aid_policy_decision d;

        if (aid_policy_new(&p) < 0)
                return 0;
        if (aid_policy_add_string(p, "fuzz.conf", (const char *)data, size) >= 0)
                for (size_t a = 0; a < 4; a++)
                        for (int c = 0; c < AID_CAP_MAX; c++)
                                aid_policy_decide(p, apps[a], c, &d);
        (void)aid_policy_messages(p);
        aid_policy_free(p);
        return 0;
}
