/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* libaid: the GLib/GIO client library of aid, the on-device AI service. Include only this
 * header; the others are split by type for readability. */

#define AID_INSIDE
#include "aid-client.h"
#include "aid-generation.h"
#include "aid-chat.h"
#include "aid-error.h"
#include "aid-model-info.h"
#include "aid-version.h"
#undef AID_INSIDE
