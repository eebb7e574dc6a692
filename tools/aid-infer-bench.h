/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* aid-infer bench MODEL [options]: argv[0] is "bench". Returns an exit status. */
int aid_infer_bench(int argc, char **argv);
