/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <immintrin.h>

#include "kernels-internal.h"
#include "simd-reduce.h"

/* AVX-512 VNNI: vpdpbusd, on 512-bit vectors where two blocks fit side by side (Zen 4 splits
 * them in two, but one instruction still carries twice the work through decode and retire). */
#define DPBUSD(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
#ifdef KERN_ICL
#define MFN(name) name##_avx512_icl
#else
#define MFN(name) name##_avx512_vnni
#endif
#define MULTI512

#include "dot-multi.h"

const kern_qdot_multi_fn MFN(kern_qdot_multi)[_GGML_TYPE_MAX] = { KERN_QDOT_MULTI_ENTRIES };
const kern_qdot_multi_rows_fn MFN(kern_qdot_multi_rows)[_GGML_TYPE_MAX] = {
        [GGML_TYPE_Q4_0] = MFN(qdot_multi_rows_q4_0),
        [GGML_TYPE_Q5_0] = MFN(qdot_multi_rows_q5_0),
        [GGML_TYPE_Q8_0] = MFN(qdot_multi_rows_q8_0),
        [GGML_TYPE_Q4_1] = MFN(qdot_multi_rows_q4_1),
        [GGML_TYPE_Q5_1] = MFN(qdot_multi_rows_q5_1),
};
