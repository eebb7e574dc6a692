/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <immintrin.h>
#include <string.h>

#include "kernels-internal.h"

float aid_fp16_to_f32(uint16_t h)
{
        return kern_fp16_to_f32(h);
}

uint16_t aid_f32_to_fp16(float f)
{
        uint32_t x, ax, sign, q, rem, half, m, e, s;

        memcpy(&x, &f, sizeof(x));
        sign = (x >> 16) & 0x8000u;
        ax = x & 0x7fffffffu;

        if (ax > 0x7f800000u) /* NaN: keep it quiet and keep the top payload bits */
                return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
        /* 65520 is halfway between the largest half (65504) and 2^16; the tie goes to the
         * even neighbour, which is infinity. */
        if (ax >= 0x477ff000u)
                return (uint16_t)(sign | 0x7c00u);
        if (ax < 0x38800000u) {
                /* Below 2^-14: a half subnormal, in units of 2^-24. */
                e = ax >> 23;
                if (e < 102) /* below 2^-25: rounds to zero */
                        return (uint16_t)sign;
                m = (ax & 0x7fffffu) | 0x800000u;
                s = 126 - e;
                q = m >> s;
                rem = m & ((1u << s) - 1);
                half = 1u << (s - 1);
                if (rem > half || (rem == half && (q & 1)))
                        q++;
                return (uint16_t)(sign | q);
        }
        /* Rebias the exponent (127 -> 15) and round the 13 dropped bits to nearest even; a
         * carry out of the mantissa correctly bumps the exponent. */
        ax -= 0x38000000u;
        q = ax >> 13;
        rem = ax & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (q & 1)))
                q++;
        return (uint16_t)(sign | q);
}

/* vcvtps2ph rounds to nearest even as aid_f32_to_fp16() does, subnormals, infinities and
 * quiet NaNs included; the KV cache writes every new key and value through this. */
__attribute__((target("avx2,f16c"))) static void f32_to_fp16_row_f16c(
                const float *src, uint16_t *dst, size_t n)
{
        size_t i = 0;

        for (; i + 8 <= n; i += 8)
                _mm_storeu_si128((__m128i *)(void *)(dst + i),
                                _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
        for (; i < n; i++)
                dst[i] = aid_f32_to_fp16(src[i]);
}

void aid_f32_to_fp16_row(const float *src, uint16_t *dst, size_t n)
{
        if (aid_kernels_get_level() >= AID_CPU_AVX2) {
                f32_to_fp16_row_f16c(src, dst, n);
                return;
        }
        for (size_t i = 0; i < n; i++)
                dst[i] = aid_f32_to_fp16(src[i]);
}

float aid_bf16_to_f32(uint16_t b)
{
        return kern_bf16_to_f32(b);
}

uint16_t aid_f32_to_bf16(float f)
{
        uint32_t x;

        memcpy(&x, &f, sizeof(x));
        if ((x & 0x7fffffffu) > 0x7f800000u)
                return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN, never rounded to inf */
        x += 0x7fffu + ((x >> 16) & 1u);
        return (uint16_t)(x >> 16);
}
