/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Sixteen floats in GCC's generic vectors, and e^x on them: shared by the activations
 * (ops-act.c) and attention's softmax (ops-attention.c), which both inline it. */
#include <stdint.h>

typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef uint32_t v16u __attribute__((vector_size(64)));

/* Beyond these, expf is +inf (ln FLT_MAX = 88.72) or 0 (ln(2^-150) = -103.97); clamping keeps
 * 2^k within the two-factor scaling below, and lets NaN through (both compares are false). */
#define EXP_HI              89.0f
#define EXP_LO              -104.0f

#define VSELECT(mask, a, b) ((v16f)(((v16i)(a) & (mask)) | ((v16i)(b) & ~(mask))))

/* e^x = 2^k · e^r with k = round(x / ln 2) and |r| <= ln 2 / 2 (Cody and Waite's reduction: ln 2
 * split so that k · LN2_HI is exact for |k| < 2^9 and the subtraction does not round). e^r is
 * 1 + r + r²·q(r), q a degree-4 fit of (e^r − 1 − r) / r² on [−0.35, 0.35] (weighted least
 * squares at Chebyshev points; relative error 4e-9, far below float's 6e-8). 2^k goes into the
 * exponent bits in two halves, so that results in the subnormal range (k down to −150) and
 * overflow to +inf (k = 128) both come out of ordinary multiplications. Sixteen lanes of GCC's
 * generic vectors, since GCC's -O2 does not vectorize a loop of unknown length: one AVX-512
 * register, two AVX2 ones or four SSE ones in the _clones_ functions that inline it. The helpers pass
 * vectors by pointer: by value, their ABI differs between the clones (GCC warns, clang refuses). */
static inline __attribute__((always_inline)) void exp16(v16f *px)
{
        const float log2e = 0x1.715476p+0f, shifter = 0x1.8p23f;
        const float ln2_hi = 0x1.62e400p-1f, ln2_lo = 0x1.7f7d1cp-20f;
        const v16f hi = { EXP_HI, EXP_HI, EXP_HI, EXP_HI, EXP_HI, EXP_HI, EXP_HI, EXP_HI, EXP_HI, EXP_HI,
                EXP_HI, EXP_HI, EXP_HI, EXP_HI, EXP_HI, EXP_HI };
        const v16f lo = { EXP_LO, EXP_LO, EXP_LO, EXP_LO, EXP_LO, EXP_LO, EXP_LO, EXP_LO, EXP_LO, EXP_LO,
                EXP_LO, EXP_LO, EXP_LO, EXP_LO, EXP_LO, EXP_LO };
        v16f x = *px, t, kf, r, q, p;
        v16i k, k1;

        x = VSELECT(x > hi, hi, x);
        x = VSELECT(x < lo, lo, x);
        /* Adding 1.5·2^23 rounds to an integer, which then sits in the low mantissa bits. */
        t = x * log2e + shifter;
        kf = t - shifter;
        k = (v16i)((v16u)t - 0x4b400000u);
        r = x - kf * ln2_hi;
        r = r - kf * ln2_lo;
        q = 0x1.686afcp-10f * r + 0x1.124176p-7f;
        q = q * r + 0x1.555b94p-5f;
        q = q * r + 0x1.555486p-3f;
        q = q * r + 0x1.fffff8p-2f;
        p = 1.0f + (r + r * r * q);
        k1 = k >> 1;
        *px = p * (v16f)((v16u)(k1 + 127) << 23) * (v16f)((v16u)(k - k1 + 127) << 23);
}
