/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vectorised activations against glibc's expf and the scalar formulas they replace. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model-private.h"

/* Distance in representable floats; both of the same sign (or zero). */
static uint32_t ulps(float a, float b)
{
        int32_t ia, ib;

        memcpy(&ia, &a, sizeof(ia));
        memcpy(&ib, &b, sizeof(ib));
        if ((ia < 0) != (ib < 0))
                return a == b ? 0 : UINT32_MAX;
        return ia > ib ? (uint32_t)ia - (uint32_t)ib : (uint32_t)ib - (uint32_t)ia;
}

static float silu_ref(float x)
{
        return x / (1.0f + expf(-x));
}

static float gelu_ref(float x)
{
        return x / (1.0f + expf(-2.0f * 0.79788456080286535588f * x * (1.0f + 0.044715f * x * x)));
}

/* Every 211th float (by bit pattern) from -0 down to -110, and from +0 up to +100: all the
 * exponents, subnormal results and both overflow edges. An odd count, so the tail runs too. */
static float *sweep(size_t *ret_n)
{
        const float lim[2] = { -110.0f, 100.0f };
        size_t n = 0, cap = 0;
        float *x = NULL;

        for (int side = 0; side < 2; side++) {
                uint32_t b, end;
                memcpy(&end, &lim[side], sizeof(end));
                for (b = side ? 0 : 0x80000000u; b <= end; b += 211) {
                        if (n == cap) {
                                cap = cap ? 2 * cap : 1 << 20;
                                x = realloc(x, cap * sizeof(float));
                                cr_assert_not_null(x);
                        }
                        memcpy(&x[n++], &b, sizeof(float));
                }
        }
        *ret_n = n % 2 ? n : n - 1;
        return x;
}

Test(ops_act, exp_within_2_ulp_of_expf)
{
        size_t n;
        float *x = sweep(&n);
        float *y = malloc(n * sizeof(float));
        uint32_t worst = 0;
        size_t at = 0;

        cr_assert_not_null(y);
        aid_op_exp(y, x, n);
        for (size_t i = 0; i < n; i++) {
                uint32_t u = ulps(y[i], expf(x[i]));
                if (u > worst) {
                        worst = u;
                        at = i;
                }
        }
        cr_log_info("e^x: %u ulp from expf at worst", worst);
        cr_expect_leq(worst, 2, "%u ulp at x = %a: %a, expf %a", worst, (double)x[at], (double)y[at],
                        (double)expf(x[at]));
        free(x);
        free(y);
}

Test(ops_act, exp_special_values)
{
        const float x[] = { 0.0f, -0.0f, 1.0f, NAN, INFINITY, -INFINITY, 88.72f, 88.73f, 1e30f, -87.0f,
                -100.0f, -103.9f, -104.5f, -1e30f, (float)M_LN2, -FLT_MIN };
        float y[ELEMENTSOF(x)];

        aid_op_exp(y, x, ELEMENTSOF(x));
        cr_expect_eq(y[0], 1.0f);
        cr_expect_eq(y[1], 1.0f);
        cr_expect_leq(ulps(y[2], expf(1.0f)), 1);
        cr_expect(isnan(y[3]));
        cr_expect(isinf(y[4]) && y[4] > 0);
        cr_expect_eq(y[5], 0.0f);
        cr_expect(isfinite(y[6]) && ulps(y[6], expf(88.72f)) <= 2, "%a", (double)y[6]);
        cr_expect(isinf(y[7]), "e^88.73 overflows: %a", (double)y[7]);
        cr_expect(isinf(y[8]));
        cr_expect_leq(ulps(y[9], expf(-87.0f)), 2);
        cr_expect(y[10] > 0 && y[10] < FLT_MIN, "e^-100 is subnormal: %a", (double)y[10]);
        cr_expect_leq(ulps(y[11], expf(-103.9f)), 2);
        cr_expect_eq(y[12], 0.0f);
        cr_expect_eq(y[13], 0.0f);
        cr_expect_leq(ulps(y[14], 2.0f), 1);
        cr_expect_eq(y[15], 1.0f);
}

/* The formulas in double, given the argument of e^x: where it passes ln FLT_MAX, the float
 * formulas give 0 (checked in activation_limits) and there are no ulps to count. */
static double silu_exact(double x, double *ret_arg)
{
        *ret_arg = -x;
        return x / (1.0 + exp(-x));
}

static double gelu_exact(double x, double *ret_arg)
{
        *ret_arg = -2.0 * 0.79788456080286535588 * x * (1.0 + 0.044715 * x * x);
        return x / (1.0 + exp(*ret_arg));
}

/* SiLU and GELU times an up projection, in place on `up` as the forward passes call them,
 * against the scalar float formula with glibc's expf that they replace. Both compute the same
 * argument of e^x; the 2 ulp of e^x and the roundings after it (sum, division, product) allow
 * 4 ulp between them. Against the formula in double, the worst error stays that of the
 * scalar formula, plus 2: up to 3 ulp for SiLU, and far more for GELU, where the rounding of
 * its cubic argument near −9 is magnified by e^x in both. */
static void check_act(void (*f)(float *, const float *, const float *, size_t), float (*ref)(float),
                double (*exact)(double, double *), const char *name)
{
        size_t n;
        float *x = sweep(&n);
        float *up = malloc(n * sizeof(float));
        uint32_t worst = 0, worst_ref = 0, apart = 0;
        float apart_x = 0;

        cr_assert_not_null(up);
        for (size_t i = 0; i < n; i++)
                up[i] = 0.5f + (float)(i % 97) / 64.0f;
        f(up, x, up, n);
        for (size_t i = 0; i < n; i++) {
                const float u_i = 0.5f + (float)(i % 97) / 64.0f, r = ref(x[i]) * u_i;
                double arg;
                const double want = exact(x[i], &arg) * u_i;
                /* Where e^x overflows both give ±0 (activation_limits); no ulps to count. */
                if (arg > 88.7)
                        continue;
                if (ulps(up[i], r) > apart) {
                        apart = ulps(up[i], r);
                        apart_x = x[i];
                }
                worst = MAX(worst, ulps(up[i], (float)want));
                worst_ref = MAX(worst_ref, ulps(r, (float)want));
        }
        cr_expect_leq(apart, 4, "%s: %u ulp from the scalar formula at x = %a", name, apart,
                        (double)apart_x);
        cr_expect_leq(worst, worst_ref + 2, "%s: %u ulp from the exact value; the scalar formula %u", name,
                        worst, worst_ref);
        cr_log_info("%s: %u ulp from the scalar formula; from the exact value %u (scalar formula %u)", name,
                        apart, worst, worst_ref);
        free(x);
        free(up);
}

Test(ops_act, silu_matches_scalar_formula)
{
        check_act(aid_op_silu_mul, silu_ref, silu_exact, "silu");
}

Test(ops_act, gelu_matches_scalar_formula)
{
        check_act(aid_op_gelu_tanh_mul, gelu_ref, gelu_exact, "gelu");
}

/* Far from zero the activations are exactly 0 (signed as x) or exactly x; NaN and +inf pass
 * through, and -inf gives what the formula gives (−inf / +inf). */
Test(ops_act, activation_limits)
{
        const float x[] = { -1e30f, -1000.0f, -120.0f, -12.0f, 1000.0f, 30.0f, 1e30f, NAN, INFINITY,
                -INFINITY, 0.0f, -0.0f, 3.0f };
        const size_t n = ELEMENTSOF(x);
        float ones[ELEMENTSOF(x)], s[ELEMENTSOF(x)], g[ELEMENTSOF(x)];

        for (size_t i = 0; i < n; i++)
                ones[i] = 1.0f;
        aid_op_silu_mul(s, x, ones, n);
        aid_op_gelu_tanh_mul(g, x, ones, n);
        for (size_t i = 0; i < 3; i++) {
                cr_expect(s[i] == 0.0f && signbit(s[i]), "silu(%g) = %a", (double)x[i], (double)s[i]);
                cr_expect(g[i] == 0.0f && signbit(g[i]), "gelu(%g) = %a", (double)x[i], (double)g[i]);
        }
        cr_expect(g[3] == 0.0f && signbit(g[3]), "gelu(-12) = %a", (double)g[3]);
        cr_expect_leq(ulps(s[3], silu_ref(-12.0f)), 3);
        for (size_t i = 4; i < 7; i++) {
                cr_expect_eq(s[i], x[i], "silu(%g) = %a", (double)x[i], (double)s[i]);
                cr_expect_eq(g[i], x[i], "gelu(%g) = %a", (double)x[i], (double)g[i]);
        }
        cr_expect(isnan(s[7]) && isnan(g[7]));
        cr_expect(isinf(s[8]) && s[8] > 0 && isinf(g[8]) && g[8] > 0);
        cr_expect(isnan(s[9]) == isnan(silu_ref(-INFINITY)) && isnan(g[9]) == isnan(gelu_ref(-INFINITY)));
        cr_expect(s[10] == 0.0f && !signbit(s[10]) && g[10] == 0.0f && !signbit(g[10]));
        cr_expect(s[11] == 0.0f && signbit(s[11]) && g[11] == 0.0f && signbit(g[11]));
        cr_expect_leq(ulps(s[12], silu_ref(3.0f)), 3);
        cr_expect_leq(ulps(g[12], gelu_ref(3.0f)), 3);
}
