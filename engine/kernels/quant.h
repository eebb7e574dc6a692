/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Quantized tensor kernels: the block formats of ggml (as published GGUF files store them),
 * dequantization, reference quantization, and the matrix-vector product that decode runs on.
 * Every SIMD kernel has a scalar twin that the tests compare it to; the level used is chosen
 * at run time from the CPU's features. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ggml-type.h"

enum aid_cpu_level {
        AID_CPU_SCALAR = 0,
        AID_CPU_AVX2 = 1,        /* AVX2 + FMA + F16C */
        AID_CPU_AVX512 = 2,      /* AVX-512 F/BW/VL/DQ */
        AID_CPU_AVX512_VNNI = 3, /* AVX-512 as above + VNNI (vpdpbusd for the integer path) */
        AID_CPU_AVX512_ICL = 4,  /* AVX-512 VNNI + GFNI + BITALG, as from Ice Lake and Zen 4 on */
};

/* The best level this CPU supports. */
enum aid_cpu_level aid_cpu_detect(void);
/* The level in use (defaults to aid_cpu_detect()); tests force lower ones. Returns the level
 * actually set (never above what the CPU supports). */
enum aid_cpu_level aid_kernels_set_level(enum aid_cpu_level level);
enum aid_cpu_level aid_kernels_get_level(void);
const char *aid_cpu_level_name(enum aid_cpu_level level);
/* How far ahead, in bytes, decode's single-row kernels prefetch the rows they stream (into L2;
 * 0: not at all). Where it is not 0, those kernels and the four-row kernels (one sequence or
 * several) also prefetch the next 512 bytes of each row into L1. The default,
 * aid_kernels_default_prefetch(), depends on the CPU's vendor; benchmarks set others to compare.
 * Set rounds down to a multiple of 64 and caps at AID_KERNELS_PREFETCH_MAX; returns the value
 * set. Results never depend on it. */
#define AID_KERNELS_PREFETCH_MAX 65536
size_t aid_kernels_default_prefetch(void);
size_t aid_kernels_set_prefetch(size_t bytes);
size_t aid_kernels_get_prefetch(void);
/* Whether the K-quant kernels at the AVX-512 VNNI levels (Q4_K's, Q5_K's and Q6_K's) work on
 * 512-bit vectors (true) or 256-bit ones. The default, aid_kernels_default_k_wide(),
 * depends on the CPU's vendor. The two round differently (each within the kernels' bound); within either, a
 * row's result is the same from the single-row and the multi-row kernel. */
bool aid_kernels_default_k_wide(void);
bool aid_kernels_set_k_wide(bool wide);
bool aid_kernels_get_k_wide(void);
/* Whether the CPU has AVX-VNNI (vpdpbusd on 256-bit vectors without AVX-512, as Intel's cores
 * from Alder Lake on), and whether the AVX2 level's integer kernels use it: by default where
 * the CPU has it. Set returns what it set (never true where the CPU lacks it). The 32-element
 * types get the same bits either way; Q4_K and Q5_K take another kernel with it, whose float
 * order differs (within the kernels' bound). Only where AVX2 is the level in use: a higher
 * level's fallbacks to AVX2 take the plain kernels. */
bool aid_cpu_has_avx_vnni(void);
bool aid_kernels_set_avx_vnni(bool use);
bool aid_kernels_get_avx_vnni(void);

/* fp16 / bf16 scalar conversions (IEEE half, round to nearest even). */
float aid_fp16_to_f32(uint16_t h);
uint16_t aid_f32_to_fp16(float f);
/* n floats to fp16, each as aid_f32_to_fp16() rounds it (F16C where the level has it). */
void aid_f32_to_fp16_row(const float *src, uint16_t *dst, size_t n);
float aid_bf16_to_f32(uint16_t b);
uint16_t aid_f32_to_bf16(float f);

/* Dequantizes n elements (a multiple of the type's block size) of a row. -EINVAL for a type
 * the engine does not support (ggml_type_is_supported()). */
int aid_dequantize_row(uint32_t type, const void *src, float *dst, size_t n);
/* The same straight to bf16: each element is aid_f32_to_bf16() of aid_dequantize_row()'s, bit
 * for bit, without the f32 row in memory (the bf16 matmul's weight panels). */
int aid_dequantize_row_bf16(uint32_t type, const void *src, uint16_t *dst, size_t n);

/* Reference quantization of n elements (for tests and the model maker); the same rounding
 * rules as ggml's reference quantizers, so that round trips stay within the format's error. */
int aid_quantize_row(uint32_t type, const float *src, void *dst, size_t n);

/* y[r] = sum_c W[r][c] * x[c] for r in [0, rows): W is `rows` rows of `cols` elements of
 * `type`, each row `row_bytes` apart (ggml_row_bytes()). x and y are f32. Uses the current
 * level's kernel and mode (aid_matvec_set_mode()); splits rows across the OpenMP threads in
 * use. Safe to call from several threads at once (the 8-bit x lives in per-thread scratch). */
void aid_matvec(uint32_t type, const void *w, size_t row_bytes, const float *x, float *y, size_t rows,
                size_t cols);

/* One of the matrices of aid_matvec_parts(): `rows` rows `row_bytes` apart at w, into y. */
struct aid_matvec_part {
        const void *w;
        size_t row_bytes;
        float *y;
        size_t rows;
};
#define AID_MATVEC_PARTS_MAX 4
/* aid_matvec() of up to AID_MATVEC_PARTS_MAX matrices of one type and width on the same x (a
 * layer's Q, K and V; its gate and up): x is quantized once and all their rows are split over
 * the threads in one parallel loop, so the threads meet once, not once per matrix. Each part's
 * y is what aid_matvec() gives it alone. */
void aid_matvec_parts(uint32_t type, const struct aid_matvec_part *parts, size_t n_parts, const float *x,
                size_t cols);

/* The same product for n activation rows at once (n <= AID_MATMUL_ROWS_MAX): x is n rows of
 * `cols`, y is n rows of `rows` (y[j * rows + r]). Each weight row is read once for all n, so
 * a batch of a few tokens (continuous batching, short prompts) costs about one pass over the
 * weights; every row's result equals aid_matvec() on that row of x. */
#define AID_MATMUL_ROWS_MAX 32
/* Whether aid_matmul_rows() has a multi-row kernel for type in the current level and mode
 * (it unpacks each weight block once for up to 8 activation rows): then it beats a
 * dequantising GEMM for up to AID_MATMUL_ROWS_MAX rows (BENCHMARKS.md: 32-token prefill of
 * Llama-3.2-1B Q4_0, 130.8 tok/s against 74.9 through oneDNN). */
bool aid_matmul_rows_has_multi(uint32_t type);
void aid_matmul_rows(uint32_t type, const void *w, size_t row_bytes, const float *x, size_t n, float *y,
                size_t rows, size_t cols);
/* The most rows, at most n, that aid_matmul_rows() multiplies at its best cost per row: n, or
 * n - 1 where the n-th row would take a pass of the single-row kernel of its own (the 32-element
 * types' multi-row kernels take rows of x in fours, so a fifth, ninth or thirteenth row costs
 * about half a group of four). For a caller that chooses how many rows a batch has. */
size_t aid_matmul_rows_best_count(uint32_t type, size_t n);
/* aid_matmul_rows() of several matrices on the same x, as aid_matvec_parts(): part p's y is n
 * rows of parts[p].rows. */
void aid_matmul_rows_parts(uint32_t type, const struct aid_matvec_part *parts, size_t n_parts,
                const float *x, size_t n, size_t cols);

/* How aid_matvec() multiplies: with x in f32 (weights dequantized in registers; every type,
 * the reference) or with x quantized once per call to 8 bits per element (blocks of 32 with a
 * float scale, or of 256 for the K types) and integer products per weight block, as llama.cpp
 * decodes. The 8-bit x adds an error of at most half its step per element (max|x| / 254 over
 * the block) and makes the quantized types several times faster. */
enum aid_matvec_mode {
        AID_MATVEC_AUTO = 0, /* the faster of the two for each type (the default) */
        AID_MATVEC_F32X = 1, /* f32 x for every type */
        AID_MATVEC_Q8X = 2,  /* 8-bit x for every quantized type; F32/F16/BF16 keep f32 x */
};
/* Process-wide, like the level; returns the mode set. */
enum aid_matvec_mode aid_matvec_set_mode(enum aid_matvec_mode mode);
enum aid_matvec_mode aid_matvec_get_mode(void);
/* Whether aid_matvec() on `type` quantizes x in the current mode. */
bool aid_matvec_uses_q8x(uint32_t type);

/* Attention's products with one chunk of KERN_ATT_KEYS cached positions (ops-attention.c).
 * Keys are kept d-major: element d of the chunk's key i at k[d * KERN_ATT_KEYS + i]; values a
 * row of hd elements per position, row i at v + i * hd. Both fp16 or f32, as f16 says.
 *
 * Each score and each output element is a chain of fused multiply-adds in a fixed order (d
 * ascending; keys ascending), so a row's result depends neither on the other rows of the call
 * nor on the kernel: the SIMD kernels equal aid_att_kernels_scalar bit for bit. */
#define KERN_ATT_KEYS 32
struct aid_att_kernels {
        /* s[j][i] = scale * sum over d of q[j][d] * key i's element d, for the rows j < rows (1 to
         * 4) and all the chunk's keys. next_k and next_v, unless NULL, are the next chunk's
         * keys and values: step bytes of each per d are prefetched on the way (step * hd bytes
         * in all). */
        void (*scores)(const float *const *q, unsigned rows, const void *k, bool f16, unsigned hd,
                        float scale, float (*s)[KERN_ATT_KEYS], const void *next_k, const void *next_v,
                        size_t step);
        /* o[j][d] += sum over i = i0 .. i1 of p[j][i] * value row i's element d, for 4 distinct
         * rows j and every d < hd. */
        void (*pv4)(float *const *o, const float *const *p, const void *v, bool f16, unsigned i0,
                        unsigned i1, unsigned hd);
};
/* The level's kernels: AVX-512's from AID_CPU_AVX512 on. NULL below: attention then converts
 * each chunk to f32 and multiplies in its own generic vectors. */
const struct aid_att_kernels *aid_att_kernels_for(enum aid_cpu_level level);
/* The scalar twins, for the tests. */
extern const struct aid_att_kernels aid_att_kernels_scalar;

/* Sums bytes/8 little 64-bit words of buf (bytes a multiple of 64), split across the OpenMP
 * threads in use: the read-bandwidth probe that benchmarks take as the decode roofline. */
uint64_t aid_read_sum(const void *buf, size_t bytes);
