/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <immintrin.h>

#include "kernels-internal.h"
#include "simd-reduce.h"

/* AVX2: u8 x s8 through vpmaddubsw (pairs, int16) and vpmaddwd (int32); with KERN_AVX_VNNI
 * (see dot-avx2.c) one vpdpbusd. */
#ifdef KERN_AVX_VNNI
#define DPBUSD(acc, u, s) _mm256_dpbusd_avx_epi32(acc, u, s)
#define MFN(name)         name##_avx_vnni
#else
#define DPBUSD(acc, u, s) \
        _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)))
#define MFN(name) name##_avx2
#endif

#include "dot-multi.h"

const kern_qdot_multi_fn MFN(kern_qdot_multi)[_GGML_TYPE_MAX] = { KERN_QDOT_MULTI_ENTRIES };
