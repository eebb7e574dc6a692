/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <cpuid.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "kernels-internal.h"

static uint64_t xgetbv0(void)
{
        uint32_t lo, hi;

        __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        return (uint64_t)hi << 32 | lo;
}

enum aid_cpu_level aid_cpu_detect(void)
{
        unsigned a, b, c, d, b7 = 0;

        /* CPUID says what the core has; XGETBV says whether the kernel saves the wider
         * registers on context switches (XCR0: bits 1-2 SSE/AVX state, 5-7 AVX-512 state). */
        if (!__get_cpuid(1, &a, &b, &c, &d))
                return AID_CPU_SCALAR;
        bool osxsave = c & bit_OSXSAVE, avx = c & bit_AVX, fma = c & bit_FMA, f16c = c & bit_F16C;
        if (!osxsave || !avx || !fma || !f16c)
                return AID_CPU_SCALAR;
        uint64_t xcr0 = xgetbv0();
        if ((xcr0 & 0x6) != 0x6)
                return AID_CPU_SCALAR;
        if (__get_cpuid_max(0, NULL) >= 7)
                __cpuid_count(7, 0, a, b7, c, d);
        if (!(b7 & bit_AVX2))
                return AID_CPU_SCALAR;
        const unsigned avx512 = bit_AVX512F | bit_AVX512DQ | bit_AVX512BW | bit_AVX512VL;
        const unsigned icl = bit_GFNI | bit_AVX512BITALG;
        if ((b7 & avx512) != avx512 || (xcr0 & 0xe0) != 0xe0)
                return AID_CPU_AVX2;
        if (!(c & bit_AVX512VNNI))
                return AID_CPU_AVX512;
        return (c & icl) == icl ? AID_CPU_AVX512_ICL : AID_CPU_AVX512_VNNI;
}

bool aid_cpu_has_avx_vnni(void)
{
        unsigned a, b, c, d, max_sub = 0;

        if (aid_cpu_detect() < AID_CPU_AVX2 || __get_cpuid_max(0, NULL) < 7)
                return false;
        __cpuid_count(7, 0, max_sub, b, c, d);
        if (max_sub < 1)
                return false;
        __cpuid_count(7, 1, a, b, c, d);
        return a & (1u << 4); /* CPUID.(EAX=7,ECX=1):EAX[4], AVX-VNNI */
}

static bool cpu_is_intel(void)
{
        unsigned a, b, c, d;

        if (!__get_cpuid(0, &a, &b, &c, &d))
                return false;
        /* "GenuineIntel" in ebx, edx, ecx. */
        return b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e;
}

size_t aid_kernels_default_prefetch(void)
{
        /* Measured on both kinds of host this project runs on (BENCHMARKS.md, tenth session,
         * "Rows prefetched 4 KiB ahead"): on an Emerald Rapids class Xeon the single-row kernels
         * read one core's share of a matrix at 8 GB/s where a plain read streams 16, and 4 KiB
         * ahead into L2 brings them to 13; on Zen 4 they already streamed near a core's
         * bandwidth, and prefetching Q4_K's rows 2 KiB ahead into L2 halved its speed. The
         * prefetches into L1 that come with a distance (kern_prefetch_ahead(),
         * kern_prefetch_rows_near()) were measured on the Xeon only (eleventh session). */
        return cpu_is_intel() ? 4096 : 0;
}

bool aid_kernels_default_k_wide(void)
{
        /* On the Emerald Rapids class Xeon (BENCHMARKS.md, twelfth session) the 512-bit Q4_K
         * kernels run four rows of x in 0.91 of the 256-bit ones' time from L1 and decode four
         * sequences 10-20 % faster. Zen 4 splits each 512-bit instruction in two, and there the
         * same design, chunks broadcast to both halves, streamed 26.7 GB/s from L2 where the
         * 256-bit kernel streams 33.5 (dot-q4k-vnni.h): it stays on 256-bit vectors. Q6_K's
         * 512-bit kernels (thirteenth session) follow the same choice; on Zen 4 they are not
         * measured yet. */
        return cpu_is_intel();
}

/* -1: not chosen yet. Relaxed atomics: every thread computes the same value. */
static _Atomic int current_level = -1;
static _Atomic bool prefetch_chosen, k_wide_chosen, avx_vnni_chosen;
_Atomic size_t kern_stream_ahead;
_Atomic bool kern_wide_k, kern_avx_vnni;

/* The vendor's defaults, where no one has set them. */
static void choose_defaults(void)
{
        if (!atomic_load_explicit(&prefetch_chosen, memory_order_relaxed))
                aid_kernels_set_prefetch(aid_kernels_default_prefetch());
        if (!atomic_load_explicit(&k_wide_chosen, memory_order_relaxed))
                aid_kernels_set_k_wide(aid_kernels_default_k_wide());
        if (!atomic_load_explicit(&avx_vnni_chosen, memory_order_relaxed))
                aid_kernels_set_avx_vnni(true);
}

bool aid_kernels_set_avx_vnni(bool use)
{
        use = use && aid_cpu_has_avx_vnni();
        atomic_store_explicit(&kern_avx_vnni, use, memory_order_relaxed);
        atomic_store_explicit(&avx_vnni_chosen, true, memory_order_relaxed);
        return use;
}

bool aid_kernels_get_avx_vnni(void)
{
        choose_defaults();
        return atomic_load_explicit(&kern_avx_vnni, memory_order_relaxed);
}

bool aid_kernels_set_k_wide(bool wide)
{
        atomic_store_explicit(&kern_wide_k, wide, memory_order_relaxed);
        atomic_store_explicit(&k_wide_chosen, true, memory_order_relaxed);
        return wide;
}

bool aid_kernels_get_k_wide(void)
{
        choose_defaults();
        return atomic_load_explicit(&kern_wide_k, memory_order_relaxed);
}

size_t aid_kernels_set_prefetch(size_t bytes)
{
        bytes = bytes > AID_KERNELS_PREFETCH_MAX ? AID_KERNELS_PREFETCH_MAX : bytes & ~(size_t)63;
        atomic_store_explicit(&kern_stream_ahead, bytes, memory_order_relaxed);
        atomic_store_explicit(&prefetch_chosen, true, memory_order_relaxed);
        return bytes;
}

size_t aid_kernels_get_prefetch(void)
{
        choose_defaults();
        return atomic_load_explicit(&kern_stream_ahead, memory_order_relaxed);
}

enum aid_cpu_level aid_kernels_get_level(void)
{
        int l = atomic_load_explicit(&current_level, memory_order_relaxed);

        if (l < 0) {
                choose_defaults();
                l = (int)aid_cpu_detect();
                atomic_store_explicit(&current_level, l, memory_order_relaxed);
        }
        return (enum aid_cpu_level)l;
}

enum aid_cpu_level aid_kernels_set_level(enum aid_cpu_level level)
{
        enum aid_cpu_level best = aid_cpu_detect();

        if ((int)level < (int)AID_CPU_SCALAR)
                level = AID_CPU_SCALAR;
        if (level > best)
                level = best;
        choose_defaults();
        atomic_store_explicit(&current_level, (int)level, memory_order_relaxed);
        return level;
}

const char *aid_cpu_level_name(enum aid_cpu_level level)
{
        switch (level) {
        case AID_CPU_SCALAR:
                return "scalar";
        case AID_CPU_AVX2:
                return "avx2";
        case AID_CPU_AVX512:
                return "avx512";
        case AID_CPU_AVX512_VNNI:
                return "avx512-vnni";
        case AID_CPU_AVX512_ICL:
                return "avx512-icl";
        }
        return "unknown";
}
