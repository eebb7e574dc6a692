/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Which kernel runs: the CPU level's, else the next lower level's, and the x path
 * (f32 or 8-bit) each type takes. */
#include <stdatomic.h>

#include "kernels-internal.h"

static const struct kern_dot_table *table_for(enum aid_cpu_level level)
{
        switch (level) {
        case AID_CPU_AVX512_VNNI:
                return &kern_dot_avx512_vnni;
        case AID_CPU_AVX512:
                return &kern_dot_avx512;
        case AID_CPU_AVX2:
                return &kern_dot_avx2;
        default:
                return &kern_dot_scalar;
        }
}

/* A level's kernel for type, or the next lower level's where it has none. */
kern_dot_fn kern_dot_for(enum aid_cpu_level level, uint32_t type)
{
        for (int l = (int)level; l >= (int)AID_CPU_SCALAR; l--) {
                kern_dot_fn fn = table_for((enum aid_cpu_level)l)->dot[type];
                if (fn)
                        return fn;
        }
        return NULL;
}

kern_qdot_fn kern_qdot_for(enum aid_cpu_level level, uint32_t type)
{
        for (int l = (int)level; l > (int)AID_CPU_SCALAR; l--) {
                kern_qdot_fn fn = table_for((enum aid_cpu_level)l)->qdot[type];
                if (fn)
                        return fn;
        }
        return kern_qdot_scalar[type];
}

kern_quantize_x_fn kern_quantize_x_for(enum aid_cpu_level level)
{
        for (int l = (int)level; l > (int)AID_CPU_SCALAR; l--)
                if (table_for((enum aid_cpu_level)l)->quantize_x)
                        return table_for((enum aid_cpu_level)l)->quantize_x;
        return kern_quantize_x_scalar;
}

static _Atomic int current_mode = AID_MATVEC_AUTO;

enum aid_matvec_mode aid_matvec_set_mode(enum aid_matvec_mode mode)
{
        if (mode != AID_MATVEC_F32X && mode != AID_MATVEC_Q8X)
                mode = AID_MATVEC_AUTO;
        atomic_store_explicit(&current_mode, (int)mode, memory_order_relaxed);
        return mode;
}

enum aid_matvec_mode aid_matvec_get_mode(void)
{
        return (enum aid_matvec_mode)atomic_load_explicit(&current_mode, memory_order_relaxed);
}

bool aid_matvec_uses_q8x(uint32_t type)
{
        if (type >= _GGML_TYPE_MAX || !kern_qdot_scalar[type])
                return false;
        switch (aid_matvec_get_mode()) {
        case AID_MATVEC_F32X:
                return false;
        case AID_MATVEC_Q8X:
                return true;
        case AID_MATVEC_AUTO:
                break;
        }
        /* Measured with tools/kernel-bench on the 8192 x 2048 Llama-3.2-1B FFN shape: every
         * quantized type is 1.5-3x faster with 8-bit x, except Q8_0, which reads its 34 bytes
         * per 32 weights at the bandwidth limit with 2 threads either way (f32 x 26-33 GB/s,
         * 8-bit x 24-28 GB/s): it keeps the exact activations. */
        return type != GGML_TYPE_Q8_0;
}

bool kern_rows_use_q8x(uint32_t type)
{
        /* Several rows at once the integer kernels unpack each weight block once for all of
         * them, where the f32-x kernels are compute-bound: Q8_0 with 4 rows took 0.68 ms with
         * 8-bit x against 2.38 ms with f32 x (8192 x 2048, 2 threads, tools/kernel-bench). So
         * in the automatic mode batches of Q8_0 take 8-bit x too. */
        return aid_matvec_uses_q8x(type) ||
               (type == GGML_TYPE_Q8_0 && aid_matvec_get_mode() == AID_MATVEC_AUTO);
}

/* The multi-row kernel of level for type, or of the next lower level that has one; NULL where
 * none has (the caller loops over the single-row kernel). AVX-512 without VNNI uses AVX2's. */
kern_qdot_multi_fn kern_qdot_multi_for(enum aid_cpu_level level, uint32_t type)
{
        kern_qdot_multi_fn fn = NULL;

        if (level >= AID_CPU_AVX512_VNNI)
                fn = kern_qdot_multi_avx512_vnni[type];
        if (!fn && level >= AID_CPU_AVX2)
                fn = kern_qdot_multi_avx2[type];
        return fn ? fn : kern_qdot_multi_scalar[type];
}
