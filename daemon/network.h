/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* Whether this process can reach nothing but itself: no interface other than loopback is up
 * with an address (as under PrivateNetwork=yes). *ret_interfaces lists the others, comma
 * separated ("" when isolated); free it. */
int network_check_isolated(bool *ret_isolated, char **ret_interfaces);
