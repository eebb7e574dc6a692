/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <immintrin.h>

#include "kernels-internal.h"

/* AVX-512 VNNI: vpdpbusd on 256-bit vectors, one instruction per 32 products (256 bits: the
 * multi-row kernels need no wider lanes, and Zen 4 splits 512-bit ones in two anyway). */
#define DPBUSD(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
#define MFN(name)         name##_avx512_vnni

#include "dot-multi.h"

const kern_qdot_multi_fn kern_qdot_multi_avx512_vnni[_GGML_TYPE_MAX] = { KERN_QDOT_MULTI_ENTRIES };
