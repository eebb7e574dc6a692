/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The scalar twins of attention's chunk products (struct aid_att_kernels), and which ones a
 * level uses. Each score and each output element is a chain of fmaf() in a fixed order: d
 * ascending for a score, keys ascending for an output element. The SIMD kernels add the same
 * products in the same order, so their results equal these bit for bit. */
#include <math.h>

#include "kernels-internal.h"

static float element(const void *p, bool f16, size_t i)
{
        return f16 ? aid_fp16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

static void scores_scalar(const float *const *q, unsigned rows, const void *k, bool f16, unsigned hd,
                float scale, float (*s)[KERN_ATT_KEYS], const void *next_k, const void *next_v, size_t step)
{
        (void)next_k, (void)next_v, (void)step;
        for (unsigned j = 0; j < rows; j++)
                for (size_t i = 0; i < KERN_ATT_KEYS; i++) {
                        float a = 0.0f;
                        for (size_t d = 0; d < hd; d++)
                                a = fmaf(q[j][d], element(k, f16, d * KERN_ATT_KEYS + i), a);
                        s[j][i] = a * scale;
                }
}

static void pv4_scalar(float *const *o, const float *const *p, const void *v, bool f16, unsigned i0,
                unsigned i1, unsigned hd)
{
        for (unsigned j = 0; j < 4; j++)
                for (size_t d = 0; d < hd; d++) {
                        float a = o[j][d];
                        for (size_t i = i0; i <= i1; i++)
                                a = fmaf(p[j][i], element(v, f16, i * hd + d), a);
                        o[j][d] = a;
                }
}

const struct aid_att_kernels aid_att_kernels_scalar = { .scores = scores_scalar, .pv4 = pv4_scalar };

const struct aid_att_kernels *aid_att_kernels_for(enum aid_cpu_level level)
{
        return level >= AID_CPU_AVX512 ? &kern_att_avx512 : NULL;
}
