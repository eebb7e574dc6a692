/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(AID_INSIDE) && !defined(AID_COMPILATION)
#error "Only <aid/aid.h> can be included directly."
#endif

/* The API version of libaid: the D-Bus interface it speaks is org.aid.Daemon1. */
#define AID_MAJOR_VERSION 0
#define AID_MINOR_VERSION 1
