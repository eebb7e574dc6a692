/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Activations (SiLU, GELU) on an e^x that GCC vectorizes. glibc's expf is a call per element,
 * which kept the activation loops scalar: they were ~6% of Gemma 3's prompt prefill. */
#include <stdint.h>
#include <string.h>

#include "model-private.h"
#include "vec16.h"

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
