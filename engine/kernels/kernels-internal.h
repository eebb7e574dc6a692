/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Private to engine/kernels: ggml's block layouts (as GGUF files store them, little-endian,
 * packed, 2-byte aligned inside a tensor whose data starts 32-byte aligned) and the per-level
 * row dot products that aid_matvec() dispatches to. */

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <xmmintrin.h>

#include "quant.h"

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK_K  256

/* x = d * (q - 8), q in the low nibbles for elements 0..15 and the high ones for 16..31. */
struct block_q4_0 {
        uint16_t d;
        uint8_t qs[QK4_0 / 2];
};
/* x = d * q + m. */
struct block_q4_1 {
        uint16_t d, m;
        uint8_t qs[QK4_1 / 2];
};
/* x = d * (q - 16); bit j of qh (little-endian u32) is bit 4 of element j. */
struct block_q5_0 {
        uint16_t d;
        uint8_t qh[4];
        uint8_t qs[QK5_0 / 2];
};
/* x = d * q + m. */
struct block_q5_1 {
        uint16_t d, m;
        uint8_t qh[4];
        uint8_t qs[QK5_1 / 2];
};
/* x = d * q. */
struct block_q8_0 {
        uint16_t d;
        int8_t qs[QK8_0];
};
/* 8 sub-blocks of 32: x = d * sc[j] * q - dmin * m[j], 6-bit sc/m packed in `scales`;
 * each 64 elements use 32 bytes of qs, low nibbles first. */
struct block_q4_K {
        uint16_t d, dmin;
        uint8_t scales[12];
        uint8_t qs[QK_K / 2];
};
/* As Q4_K with a fifth bit per element in qh (bit 2i / 2i+1 for the i-th 64-element half). */
struct block_q5_K {
        uint16_t d, dmin;
        uint8_t scales[12];
        uint8_t qh[QK_K / 8];
        uint8_t qs[QK_K / 2];
};
/* 16 sub-blocks of 16: x = d * scales[j] * (q - 32), q = 4 low bits in ql, 2 high in qh. */
struct block_q6_K {
        uint8_t ql[QK_K / 2];
        uint8_t qh[QK_K / 4];
        int8_t scales[QK_K / 16];
        uint16_t d;
};

static_assert(sizeof(struct block_q4_0) == 18, "block_q4_0 layout");
static_assert(sizeof(struct block_q4_1) == 20, "block_q4_1 layout");
static_assert(sizeof(struct block_q5_0) == 22, "block_q5_0 layout");
static_assert(sizeof(struct block_q5_1) == 24, "block_q5_1 layout");
static_assert(sizeof(struct block_q8_0) == 34, "block_q8_0 layout");
static_assert(sizeof(struct block_q4_K) == 144, "block_q4_K layout");
static_assert(sizeof(struct block_q5_K) == 176, "block_q5_K layout");
static_assert(sizeof(struct block_q6_K) == 210, "block_q6_K layout");

/* Bytes in a block of one of the 32-element integer types: Q4_0, Q5_0, Q8_0, Q4_1, Q5_1. A
 * switch, so that kernels given the type as a constant get the size as one. */
static inline size_t kern_block_bytes_32(uint32_t type)
{
        switch (type) {
        case GGML_TYPE_Q8_0:
                return sizeof(struct block_q8_0);
        case GGML_TYPE_Q5_0:
                return sizeof(struct block_q5_0);
        case GGML_TYPE_Q4_1:
                return sizeof(struct block_q4_1);
        case GGML_TYPE_Q5_1:
                return sizeof(struct block_q5_1);
        default:
                return sizeof(struct block_q4_0);
        }
}

/* Q4_1 and Q5_1: x = d q + m, q unsigned. No offset in the integer sums; the mins meet x's
 * block sums in float. */
static inline bool kern_has_min_32(uint32_t type)
{
        return type == GGML_TYPE_Q4_1 || type == GGML_TYPE_Q5_1;
}

/* Software conversions shared by the scalar code (no F16C in the scalar objects). */
static inline float kern_fp16_to_f32(uint16_t h)
{
        uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
        uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
        float f;

        if (exp == 0x1f)
                bits = sign | 0x7f800000u | (mant << 13);
        else if (exp == 0) {
                /* Subnormal (or zero): mant * 2^-24 is exact in f32. */
                f = (float)mant * 0x1p-24f;
                memcpy(&bits, &f, sizeof(bits));
                bits |= sign;
        } else
                bits = sign | ((exp + 112u) << 23) | (mant << 13);
        memcpy(&f, &bits, sizeof(f));
        return f;
}

static inline float kern_bf16_to_f32(uint16_t b)
{
        uint32_t bits = (uint32_t)b << 16;
        float f;

        memcpy(&f, &bits, sizeof(f));
        return f;
}

/* Q4_K / Q5_K: 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes. */
static inline void kern_scale_min_k4(int j, const uint8_t *q, uint8_t *ret_d, uint8_t *ret_m)
{
        if (j < 4) {
                *ret_d = q[j] & 63;
                *ret_m = q[j + 4] & 63;
        } else {
                *ret_d = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
                *ret_m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
}

/* Q4_K / Q5_K: all 8 scales and mins at once, the same values as kern_scale_min_k4(). The 12
 * bytes are three little-endian words a, b, c: scales 0-3 / mins 0-3 are the low 6 bits of a / b;
 * scales 4-7 / mins 4-7 are the low / high nibbles of c with the top two bits of a / b above. */
static inline void kern_unpack_k4(const uint8_t q[12], uint8_t ret_sc[8], uint8_t ret_m[8])
{
        uint32_t a, b, c, w[4];

        memcpy(&a, q, 4);
        memcpy(&b, q + 4, 4);
        memcpy(&c, q + 8, 4);
        w[0] = a & 0x3f3f3f3fu;
        w[1] = (c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u);
        w[2] = b & 0x3f3f3f3fu;
        w[3] = ((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u);
        memcpy(ret_sc, w, 8);
        memcpy(ret_m, w + 2, 8);
}

/* One block of `type` to f32 (block_elems of ggml_type_traits_get()). */
void kern_dequant_block(uint32_t type, const void *block, float *dst);

/* sum_c row[c] * x[c] over cols elements of one row. NULL entries fall back to the next lower
 * level, down to the generic dequantize-and-dot path of the scalar level. */
typedef float (*kern_dot_fn)(const void *row, const float *x, size_t cols);

/* The integer path's activations, as ggml's Q8_0 / Q8_K: x quantized once per product to
 * qs[c] = round(x[c] / d[b]) with d[b] = max|x| / 127 over each block b of `block` (32 for the
 * 32-element weight types, 256 for the K types), and the sums of qs that the weight formats'
 * offsets and mins multiply: per 16 (Q6_K's sub-blocks), per 32 (as int16 for the K types'
 * mins, as float for the 32-element types' mins, scaled in float) and per 4 (negated: times
 * the offset, the initial int32 lanes of Q4_0's and Q5_0's products, so that the offset costs
 * no instruction of its own). */
struct kern_xq {
        int8_t *qs;   /* [cols] */
        float *d;     /* [cols / block] */
        int16_t *s16; /* [cols / 16] */
        int16_t *s32; /* [cols / 32] */
        float *fs32;  /* [cols / 32] */
        int32_t *nl4; /* [cols / 4]: minus the sums per 4, the int32 lanes of a 32-byte product */
        /* [cols / 4]: 32 times nl4, the int32 lanes Q6_K's 512-bit kernels start from (its -32
         * offset, dot-q6k-vnni.h); only for x quantized with blocks of 256. */
        int32_t *nl4_q6k;
        /* x in groups of four 32-element blocks, for Q4_0's 512-bit kernels (kern_xq_group()). */
        int8_t *g_qs;   /* [cols] */
        int32_t *g_off; /* [cols / 8] */
        float *g_d;     /* [cols / 8] */
};

/* The groups of kern_xq for n elements quantized with blocks of 32: group g (elements 128 g ..
 * 128 g + 127, the full groups only) laid out as four Q4_0 blocks' nibbles are once a 512-bit
 * permute has put block beta's 16 bytes in 128-bit lane beta: the low nibbles are elements 0-15
 * of each block, the high ones 16-31. So g_qs holds at 128 g + 16 beta elements 0-15 of block
 * 4 g + beta and at 128 g + 64 + 16 beta its elements 16-31; int32 lane 4 beta + j of group g's
 * 16 in g_off is minus the sum of the elements that lane multiplies (4 j .. 4 j + 3 and 16 + 4 j
 * .. 16 + 4 j + 3 of the block), in g_d the block's scale. */
static inline void kern_xq_group(const struct kern_xq *xq, size_t n)
{
        for (size_t g = 0; g < n / 128; g++) {
                for (size_t beta = 0; beta < 4; beta++) {
                        const int8_t *src = xq->qs + 128 * g + 32 * beta;
                        memcpy(xq->g_qs + 128 * g + 16 * beta, src, 16);
                        memcpy(xq->g_qs + 128 * g + 64 + 16 * beta, src + 16, 16);
                        for (size_t j = 0; j < 4; j++) {
                                size_t lane = 16 * g + 4 * beta + j, q = 32 * g + 8 * beta + j;
                                xq->g_off[lane] = xq->nl4[q] + xq->nl4[q + 4];
                                xq->g_d[lane] = xq->d[4 * g + beta];
                        }
                }
        }
}

/* The sums of kern_xq from its qs (and the groups, for blocks of 32), shared by every level
 * so that they agree exactly and x quantized at one level serves the kernels of every other. */
static inline void kern_xq_sums(const struct kern_xq *xq, size_t n, size_t block)
{
        for (size_t g = 0; g < n / 16; g++) {
                int s = 0;
                for (size_t i = 0; i < 16; i++)
                        s += xq->qs[16 * g + i];
                xq->s16[g] = (int16_t)s;
        }
        for (size_t g = 0; g < n / 32; g++) {
                xq->s32[g] = (int16_t)(xq->s16[2 * g] + xq->s16[2 * g + 1]);
                xq->fs32[g] = (float)xq->s32[g];
        }
        for (size_t g = 0; g < n / 4; g++)
                xq->nl4[g] = -(xq->qs[4 * g] + xq->qs[4 * g + 1] + xq->qs[4 * g + 2] + xq->qs[4 * g + 3]);
        if (block == QK_K)
                for (size_t g = 0; g < n / 4; g++)
                        xq->nl4_q6k[g] = 32 * xq->nl4[g];
        if (block == 32)
                kern_xq_group(xq, n);
}

/* sum_c row[c] * (d * qs)[c]: integer products, scaled per block in float. */
typedef float (*kern_qdot_fn)(const void *row, const struct kern_xq *x, size_t cols);
/* Fills xq for n elements (a multiple of block) of x. */
typedef void (*kern_quantize_x_fn)(const float *x, size_t n, size_t block, const struct kern_xq *xq);

struct kern_dot_table {
        kern_dot_fn dot[_GGML_TYPE_MAX];
        kern_qdot_fn qdot[_GGML_TYPE_MAX];
        kern_quantize_x_fn quantize_x;
};

extern const struct kern_dot_table kern_dot_scalar;
extern const struct kern_dot_table kern_dot_avx2;
extern const struct kern_dot_table kern_dot_avx_vnni;
extern const struct kern_dot_table kern_dot_avx512;
extern const struct kern_dot_table kern_dot_avx512_vnni;
extern const struct kern_dot_table kern_dot_avx512_icl;
/* Attention's chunk products at the AVX-512 levels (attn-avx512.c). */
extern const struct aid_att_kernels kern_att_avx512;

/* The scalar twins of the integer path (dot-int-scalar.c). */
void kern_quantize_x_scalar(const float *x, size_t n, size_t block, const struct kern_xq *xq);
extern const kern_qdot_fn kern_qdot_scalar[_GGML_TYPE_MAX];

/* Generic path: dequantize a chunk of blocks to a stack buffer and dot in f32. */
float kern_dot_generic(uint32_t type, const void *row, const float *x, size_t cols);

/* The integer path for n <= KERN_QDOT_MULTI_MAX activation rows at once: out[j] += the product
 * of row with x[j], each weight block unpacked once for all n (dot-multi.h).
 * NULL where a type has none: the caller then loops over the single-row kernel.
 *
 * Q4_0's and Q8_0's SIMD kernels read the n rows side by side, as filled by kern_xqt_fill_for():
 * in halves of four rows (H = 1 half for n <= 4, group 4; else 2, group 8) and groups of four
 * 32-element blocks (the last group padded with zero blocks). Vector q = 2 k + h (k 0..3, h 0..1)
 * of half s of group g is 64 bytes at qs + ((g * 8 + q) * H + s) * 64 whose int32 lane
 * 4 beta + j holds elements 16 h + 4 j .. 16 h + 4 j + 3 of block 4 g + beta of row
 * 4 s + (j + k) % 4 (zero past n rows or the last block): the lanes of a weight block as they
 * come from its bytes, each met by the four rows in turn. d and off hold 16 values per group
 * and half, at (g * H + s) * 16, in lane 4 beta + a: row 4 s + a's scale of block 4 g + beta,
 * and -8 times its sum of qs (zero where qs is). */
#define KERN_QDOT_MULTI_MAX 8
struct kern_xqt {
        int8_t *qs;   /* [cols * group] */
        float *d;     /* [cols / 32 * 8] (cols rounded up to 256) */
        int32_t *off; /* [cols / 32 * 8]: -8 * the sums of qs (Q4_0's offset) */
        int group;    /* rows the layout holds: 4 or 8 */
};
typedef void (*kern_qdot_multi_fn)(const void *row, const struct kern_xq *x, const struct kern_xqt *xt,
                size_t n, size_t cols, float *out);
/* Bytes of a kern_xqt for cols, and its layout in mem (64-byte aligned). */
size_t kern_xqt_bytes(size_t cols);
struct kern_xqt kern_xqt_layout(uint8_t *mem, size_t cols);
/* Fills xt from n rows of x quantized with blocks of 32: the scalar definition of the layout
 * (dot-multi-scalar.c), and the same bytes in 512-bit vectors (xqt-avx512.c). */
typedef void (*kern_xqt_fill_fn)(const struct kern_xq *x, size_t n, size_t cols, struct kern_xqt *xt);
void kern_xqt_fill_scalar(const struct kern_xq *x, size_t n, size_t cols, struct kern_xqt *xt);
void kern_xqt_fill_avx512(const struct kern_xq *x, size_t n, size_t cols, struct kern_xqt *xt);

extern const kern_qdot_multi_fn kern_qdot_multi_scalar[_GGML_TYPE_MAX];
extern const kern_qdot_multi_fn kern_qdot_multi_avx2[_GGML_TYPE_MAX];
extern const kern_qdot_multi_fn kern_qdot_multi_avx_vnni[_GGML_TYPE_MAX];
extern const kern_qdot_multi_fn kern_qdot_multi_avx512_vnni[_GGML_TYPE_MAX];
extern const kern_qdot_multi_fn kern_qdot_multi_avx512_icl[_GGML_TYPE_MAX];

/* KERN_QDOT_ROWS weight rows, rb bytes apart, against the n rows of x at once:
 * y[j * ys + r] = the product of row r with x[j] (j < n; the rest is left as it is), equal bit
 * for bit to the multi-row kernel of the same level on each row alone. The
 * 32-element types at the AVX-512 VNNI levels, which load each vector of x once for the four
 * rows; NULL elsewhere. */
typedef void (*kern_qdot_multi_rows_fn)(const void *rows, size_t rb, const struct kern_xq *x,
                const struct kern_xqt *xt, size_t n, size_t cols, float *y, size_t ys);
extern const kern_qdot_multi_rows_fn kern_qdot_multi_rows_avx512_vnni[_GGML_TYPE_MAX];
extern const kern_qdot_multi_rows_fn kern_qdot_multi_rows_avx512_icl[_GGML_TYPE_MAX];

/* Whole rows of one type to f32 / bf16 at one SIMD level (dequant-simd.h); NULL entries use
 * the scalar code. Every entry equals the scalar result bit for bit. */
typedef void (*kern_dequant_fn)(const void *src, float *dst, size_t n);
typedef void (*kern_dequant_bf16_fn)(const void *src, uint16_t *dst, size_t n);
struct kern_dequant_table {
        kern_dequant_fn f32[_GGML_TYPE_MAX];
        kern_dequant_bf16_fn bf16[_GGML_TYPE_MAX];
};
extern const struct kern_dequant_table kern_dequant_avx2;
extern const struct kern_dequant_table kern_dequant_avx512;

/* dispatch.c: the kernel of a CPU level for a type, or of the next lower level that has one
 * (kern_dot_for: NULL for a type no level supports; kern_qdot_multi_for: NULL where no level
 * has a multi-row kernel, and the caller loops over the single-row one; kern_qdot_multi_rows_for:
 * NULL below the level's own, and the caller calls the multi-row kernel per row). */
kern_dot_fn kern_dot_for(enum aid_cpu_level level, uint32_t type);
kern_qdot_fn kern_qdot_for(enum aid_cpu_level level, uint32_t type);
kern_quantize_x_fn kern_quantize_x_for(enum aid_cpu_level level);
kern_qdot_multi_fn kern_qdot_multi_for(enum aid_cpu_level level, uint32_t type);
kern_qdot_multi_rows_fn kern_qdot_multi_rows_for(enum aid_cpu_level level, uint32_t type);
kern_xqt_fill_fn kern_xqt_fill_for(enum aid_cpu_level level);

/* aid_kernels_set_prefetch()'s distance, read by the kernels on every block; and the prefetch
 * of the `bytes` that start that far past p, one line at a time, into L2 (a core has few L1
 * miss buffers, and its own loads need them). Where a distance is set, the same lines
 * KERN_NEAR_BYTES past p go into L1 as well: by then the far prefetch has them in L2, and a
 * core whose vector ports the kernel keeps busy stalled on loads that each waited for L2
 * (BENCHMARKS.md, eleventh session, "Prefetched into L1 as well"). */
#define KERN_NEAR_BYTES 512
extern _Atomic size_t kern_stream_ahead;
static inline __attribute__((always_inline)) void kern_prefetch_ahead(const void *p, size_t bytes)
{
        const size_t ahead = atomic_load_explicit(&kern_stream_ahead, memory_order_relaxed);

        if (ahead)
                for (size_t o = 0; o < bytes; o += 64) {
                        _mm_prefetch((const char *)p + ahead + o, _MM_HINT_T1);
                        _mm_prefetch((const char *)p + KERN_NEAR_BYTES + o, _MM_HINT_T0);
                }
}

/* The loop of aid_read_sum() on one thread's slice (bytes a multiple of 64): the sum of its
 * little 64-bit words, the same at every level. */
typedef uint64_t (*kern_read_sum_fn)(const void *buf, size_t bytes);
uint64_t kern_read_sum_scalar(const void *buf, size_t bytes);
uint64_t kern_read_sum_avx2(const void *buf, size_t bytes);
uint64_t kern_read_sum_avx512(const void *buf, size_t bytes);
kern_read_sum_fn kern_read_sum_for(enum aid_cpu_level level);

/* scratch.c: per-thread buffers, kept for the thread's life so decode allocates nothing per
 * call. kern_scratch_xq: an 8-bit x of at least cols elements; kern_scratch_batch: bytes (a
 * multiple of 64) for aid_matmul_rows(). NULL when out of memory. */
size_t kern_xq_bytes(size_t cols);
struct kern_xq kern_xq_layout(uint8_t *mem, size_t cols);
const struct kern_xq *kern_scratch_xq(size_t cols);
uint8_t *kern_scratch_batch(size_t bytes);

/* Decode's single-token products, KERN_QDOT_ROWS weight rows per call (dot-int.h): each
 * block of x is loaded once for all of them, its offset and scale computed once, and the
 * per-row float work is the single-row kernel's, so out[r] equals the level's qdot of row r
 * bit for bit. Rows lie row_bytes apart. NULL where a level has none (aid_matvec() then
 * calls the single-row kernel row by row); the scalar level has none. */
#define KERN_QDOT_ROWS 4
typedef void (*kern_qdot_rows_fn)(const void *rows, size_t row_bytes, const struct kern_xq *x, size_t cols,
                float out[KERN_QDOT_ROWS]);
extern const kern_qdot_rows_fn kern_qdot_rows_avx2[_GGML_TYPE_MAX];
extern const kern_qdot_rows_fn kern_qdot_rows_avx_vnni[_GGML_TYPE_MAX];
extern const kern_qdot_rows_fn kern_qdot_rows_avx512[_GGML_TYPE_MAX];
extern const kern_qdot_rows_fn kern_qdot_rows_avx512_vnni[_GGML_TYPE_MAX];
extern const kern_qdot_rows_fn kern_qdot_rows_avx512_icl[_GGML_TYPE_MAX];
/* The rows kernel of exactly level for type (no fallback to a lower level: its results must
 * equal kern_qdot_for()'s, which for these types every SIMD level has); NULL if none. */
kern_qdot_rows_fn kern_qdot_rows_for(enum aid_cpu_level level, uint32_t type);

/* Whether the Q4_K, Q5_K and Q6_K kernels at the AVX-512 VNNI levels work on 512-bit vectors
 * (dot-q4k-vnni.h, dot-q6k-vnni.h): aid_kernels_set_k_wide(). Read once per call by the single-row and the
 * multi-row kernels alike, so a row's result never depends on which of them made it. */
extern _Atomic bool kern_wide_k;

/* Whether the AVX2 level's integer kernels are the AVX-VNNI build's (aid_kernels_set_avx_vnni();
 * the defaults are chosen before any kernel runs: aid_kernels_get_level()). */
extern _Atomic bool kern_avx_vnni;
static inline bool kern_use_avx_vnni(void)
{
        return atomic_load_explicit(&kern_avx_vnni, memory_order_relaxed);
}
static inline bool kern_k_wide(void)
{
        return atomic_load_explicit(&kern_wide_k, memory_order_relaxed);
}

/* The four-row kernels prefetch the groups of rows ahead into L2 on every CPU (QDOT_ROWS_AHEAD in
 * dot-int.h; the multi-sequence ones the next four rows, dot-multi.h). Where kern_stream_ahead is
 * set they also take the lines KERN_NEAR_BYTES on of each of their KERN_QDOT_ROWS rows (rb bytes
 * apart from b0) into L1, as kern_prefetch_ahead() does for one row: `lines` lines a row, s / 64 +
 * 1 for a step of s bytes a row wherever it falls. Whether to is read once per call
 * (kern_rows_near_wanted()). Always inlined: GCC 12 finds no side effect in a function made only of
 * prefetches and deletes its calls. */
static inline bool kern_rows_near_wanted(void)
{
        return atomic_load_explicit(&kern_stream_ahead, memory_order_relaxed) != 0;
}

static inline __attribute__((always_inline)) void kern_prefetch_rows_near(
                const void *b0, size_t rb, size_t lines)
{
#pragma GCC unroll 4
        for (size_t r = 0; r < KERN_QDOT_ROWS; r++)
#pragma GCC unroll 2
                for (size_t l = 0; l < lines; l++)
                        _mm_prefetch((const char *)b0 + r * rb + KERN_NEAR_BYTES + 64 * l, _MM_HINT_T0);
}

/* For aid_matvec_parts() and aid_matmul_rows_parts(): the units of work (rows, or groups of
 * KERN_QDOT_ROWS rows) of all parts, numbered part after part; unit u belongs to the last part p
 * whose first unit start[p] is <= u. */
static inline size_t kern_unit_part(const size_t *start, size_t n_parts, size_t u)
{
        size_t p = 0;

        while (p + 1 < n_parts && u >= start[p + 1])
                p++;
        return p;
}

/* Whether the parts are worth waking the team for: small products stay on the calling thread,
 * where waking the team would cost more than the work. */
static inline bool kern_parts_want_threads(const struct aid_matvec_part *parts, size_t n_parts)
{
        size_t bytes = 0;

        for (size_t p = 0; p < n_parts; p++)
                bytes += parts[p].rows * parts[p].row_bytes;
        return bytes >= (1u << 18);
}
