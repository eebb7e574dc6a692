/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <immintrin.h>

#include "kernels-internal.h"
#include "simd-reduce.h"

/* AVX-512 with VNNI: the integer path with vpdpbusd, which does the u8 x s8 products and their
 * sums by four into int32 in one instruction (no int16 step). The f32-x kernels are the
 * AVX-512 level's: this table leaves them NULL. */
#define DPBUSD(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
#define BITS_TO_BYTES(m)  _mm256_movm_epi8((__mmask32)(m))
#define F16(h)            _cvtsh_ss(h)
/* Built twice (meson.build): with KERN_ICL the same kernels use GFNI and BITALG (group32-vnni.h). */
#ifdef KERN_ICL
#define IFN(name) name##_avx512_icl
#else
#define IFN(name) name##_avx512_vnni
#endif

#define INT512
#define VNNI512
#include "dot-int.h"

const struct kern_dot_table IFN(kern_dot) = {
        .qdot = { KERN_QDOT_TABLE_ENTRIES },
        .quantize_x = IFN(quantize_x),
};

const kern_qdot_rows_fn IFN(kern_qdot_rows)[_GGML_TYPE_MAX] = { KERN_QDOT_ROWS_TABLE_ENTRIES };
