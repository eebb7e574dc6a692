/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Activations (SiLU, GELU) on an e^x that GCC vectorizes. glibc's expf is a call per element,
 * which kept the activation loops scalar: they were ~6% of Gemma 3's prompt prefill. */
#include <stdint.h>
#include <string.h>

#include "model-private.h"

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
 * register, two AVX2 ones or four SSE ones in the clones below. The helpers pass vectors by
 * pointer: by value, their ABI differs between the clones (GCC warns, clang refuses). */
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

/* g ← silu(g)·u */
static inline __attribute__((always_inline)) void silu_mul16(v16f *g, const v16f *u)
{
        v16f e = -*g;
        exp16(&e);
        *g = *g / (1.0f + e) * *u;
}

/* g ← gelu_tanh(g)·u */
static inline __attribute__((always_inline)) void gelu_tanh_mul16(v16f *g, const v16f *u)
{
        const float sqrt_2_over_pi = 0.79788456080286535588f;
        v16f e = -2.0f * sqrt_2_over_pi * *g * (1.0f + 0.044715f * *g * *g);
        exp16(&e);
        *g = *g / (1.0f + e) * *u;
}

static inline __attribute__((always_inline)) void load16(v16f *v, const float *x, size_t m)
{
        *v = (v16f){ 0 };
        memcpy(v, x, m * sizeof(float));
}

/* STEP(i, m, r) computes the m <= 16 results from i on into the vector r. The tail goes
 * through the same vector code on a padded copy, so that every element gets the same result
 * wherever it sits. */
#define ACT_LOOP(y, n, STEP)                                             \
        do {                                                             \
                size_t i_ = 0;                                           \
                v16f r_;                                                 \
                for (; i_ + 16 <= (n); i_ += 16) {                       \
                        STEP(i_, 16, r_);                                \
                        memcpy((y) + i_, &r_, sizeof(r_));               \
                }                                                        \
                if (i_ < (n)) {                                          \
                        STEP(i_, (n)-i_, r_);                            \
                        memcpy((y) + i_, &r_, ((n)-i_) * sizeof(float)); \
                }                                                        \
        } while (0)

/* A step of the gated activations: fn(gate, up) on 16 lanes (m: the lanes in use), into r. */
#define GATED_STEP(fn, i, m, r)              \
        do {                                 \
                v16f u_;                     \
                load16(&r, gate + (i), (m)); \
                load16(&u_, up + (i), (m));  \
                fn(&r, &u_);                 \
        } while (0)

_clones_ void aid_op_exp(float *y, const float *x, size_t n)
{
#define EXP_STEP(i, m, r)                 \
        do {                              \
                load16(&r, x + (i), (m)); \
                exp16(&r);                \
        } while (0)
        ACT_LOOP(y, n, EXP_STEP);
#undef EXP_STEP
}

/* silu(x) = x / (1 + e^−x): for x → −∞ the denominator reaches +inf and the result −0; for
 * large x it is exactly 1 and the result exactly x. */
_clones_ void aid_op_silu_mul(float *y, const float *gate, const float *up, size_t n)
{
#define SILU_STEP(i, m, r) GATED_STEP(silu_mul16, i, m, r)
        ACT_LOOP(y, n, SILU_STEP);
#undef SILU_STEP
}

/* GELU, tanh approximation (Gemma's hidden_activation "gelu_pytorch_tanh"):
 * 0.5·x·(1 + tanh(u)) with u = sqrt(2/π)·(x + 0.044715·x³), written as x / (1 + e^(−2u)), the
 * same function (1 + tanh(u) = 2 / (1 + e^(−2u))) without cancellation where tanh(u) nears −1,
 * and with the limits of SiLU above. */
_clones_ void aid_op_gelu_tanh_mul(float *y, const float *gate, const float *up, size_t n)
{
#define GELU_STEP(i, m, r) GATED_STEP(gelu_tanh_mul16, i, m, r)
        ACT_LOOP(y, n, GELU_STEP);
#undef GELU_STEP
}
