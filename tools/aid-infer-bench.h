/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/* aid-infer bench MODEL [options]: argv[0] is "bench". Returns an exit status. */
int aid_infer_bench(int argc, char **argv);

/* aid-infer's option parser for counts (in aid-infer.c): a decimal in [0, max], else a message
 * naming the option and -EINVAL. */
int aid_infer_parse_u32(const char *s, const char *opt, uint32_t max, uint32_t *ret);
