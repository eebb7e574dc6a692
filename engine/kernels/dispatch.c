/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Which kernel runs: the CPU level's, else the next lower level's, and the x path
 * (f32 or 8-bit) each type takes. */
#include <stdatomic.h>

#include "kernels-internal.h"

/* The AVX2 level's kernels are the AVX-VNNI build's only where AVX2 is the level in use (top):
 * a higher level falling back to AVX2 takes the plain build, whose K kernels keep the float
 * order its own multi-row kernels (the plain AVX2 ones too) reproduce. */
static const struct kern_dot_table *table_for(enum aid_cpu_level level, enum aid_cpu_level top)
{
        switch (level) {
        case AID_CPU_AVX512_ICL:
                return &kern_dot_avx512_icl;
        case AID_CPU_AVX512_VNNI:
                return &kern_dot_avx512_vnni;
        case AID_CPU_AVX512:
                return &kern_dot_avx512;
        case AID_CPU_AVX2:
                return top == AID_CPU_AVX2 && kern_use_avx_vnni() ? &kern_dot_avx_vnni : &kern_dot_avx2;
        default:
                return &kern_dot_scalar;
        }
}

/* A level's kernel for type, or the next lower level's where it has none. */
kern_dot_fn kern_dot_for(enum aid_cpu_level level, uint32_t type)
{
        for (int l = (int)level; l >= (int)AID_CPU_SCALAR; l--) {
                kern_dot_fn fn = table_for((enum aid_cpu_level)l, level)->dot[type];
                if (fn)
                        return fn;
        }
        return NULL;
}

kern_qdot_fn kern_qdot_for(enum aid_cpu_level level, uint32_t type)
{
        for (int l = (int)level; l > (int)AID_CPU_SCALAR; l--) {
                kern_qdot_fn fn = table_for((enum aid_cpu_level)l, level)->qdot[type];
                if (fn)
                        return fn;
        }
        return kern_qdot_scalar[type];
}

kern_quantize_x_fn kern_quantize_x_for(enum aid_cpu_level level)
{
        for (int l = (int)level; l > (int)AID_CPU_SCALAR; l--)
                if (table_for((enum aid_cpu_level)l, level)->quantize_x)
                        return table_for((enum aid_cpu_level)l, level)->quantize_x;
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
        /* Measured with tools/kernel-bench: every quantized type is faster with 8-bit x,
         * 1.5-3x on the 8192 x 2048 Llama-3.2-1B FFN shape, and since the VNNI kernels Q8_0
         * too (one thread 19-25 GB/s against 14-17 with f32 x, on that shape and on gemma's
         * 1152-wide rows; two threads 31 against 24). One path for every type also means a
         * sequence's numbers do not depend on how many others share its batch. */
        return true;
}

/* The multi-row kernel of level for type, or of the next lower level that has one; NULL where
 * none has (the caller loops over the single-row kernel). AVX-512 without VNNI uses AVX2's. */
kern_qdot_multi_fn kern_qdot_multi_for(enum aid_cpu_level level, uint32_t type)
{
        kern_qdot_multi_fn fn = NULL;

        if (level >= AID_CPU_AVX512_ICL)
                fn = kern_qdot_multi_avx512_icl[type];
        else if (level >= AID_CPU_AVX512_VNNI)
                fn = kern_qdot_multi_avx512_vnni[type];
        if (!fn && level >= AID_CPU_AVX2)
                fn = level == AID_CPU_AVX2 && kern_use_avx_vnni() ? kern_qdot_multi_avx_vnni[type]
                                                                  : kern_qdot_multi_avx2[type];
        return fn ? fn : kern_qdot_multi_scalar[type];
}

/* The four-row kernel of the AVX-512 VNNI levels; NULL below them (the caller then calls the
 * multi-row kernel row by row). */
kern_qdot_multi_rows_fn kern_qdot_multi_rows_for(enum aid_cpu_level level, uint32_t type)
{
        if (type >= _GGML_TYPE_MAX)
                return NULL;
        if (level >= AID_CPU_AVX512_ICL)
                return kern_qdot_multi_rows_avx512_icl[type];
        if (level >= AID_CPU_AVX512_VNNI)
                return kern_qdot_multi_rows_avx512_vnni[type];
        return NULL;
}

/* The fill of x side by side for the multi-row kernels: the same bytes at every level. */
kern_xqt_fill_fn kern_xqt_fill_for(enum aid_cpu_level level)
{
        return level >= AID_CPU_AVX512 ? kern_xqt_fill_avx512 : kern_xqt_fill_scalar;
}

/* The bandwidth probe's loop: the widest loads the level has (see read-sum-avx512.c). */
kern_read_sum_fn kern_read_sum_for(enum aid_cpu_level level)
{
        if (level >= AID_CPU_AVX512)
                return kern_read_sum_avx512;
        return level >= AID_CPU_AVX2 ? kern_read_sum_avx2 : kern_read_sum_scalar;
}
