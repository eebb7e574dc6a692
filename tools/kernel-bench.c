/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kernel-bench: decode matvec throughput per tensor type and SIMD level, beside the machine's
 * read bandwidth (the roofline decode is bound by).
 *
 *   kernel-bench [-r ROWS] [-c COLS] [-m MIB] [-t MAX_THREADS] [-l LEVEL] [-x f32|q8|both|none]
 *                [-b N,N,...] [-p BYTES] [TYPE...]
 *
 * COLS must be a multiple of every listed type's block (32 or 256 elements; the default type
 * list holds K types, so name the types for columns that are no multiple of 256).
 *
 * -l measures one SIMD level (scalar, avx2, avx512, avx512-vnni, avx512-icl) instead of
 * all; -x picks the activation path: f32 x, or x quantized to 8 bits once per product (the integer kernels).
 * -b adds a table of aid_matmul_rows() (continuous batching: n tokens of n sequences against
 * one pass over the weights) in the engine's automatic mode, at the best level (or -l's), for
 * each n listed (default 1,2,4,8): ms per call, weight GB/s-equivalent, tokens per second and
 * the time relative to n = 1. -p sets how far ahead the single-row kernels prefetch the rows
 * they stream (aid_kernels_set_prefetch(); 0: not at all), where the CPU's default is not wanted;
 * -w 256 or 512 the width of Q4_K's, Q5_K's and Q6_K's vectors at the AVX-512 VNNI levels
 * (aid_kernels_set_k_wide()); -V 0 or 1 whether the AVX2 level's integer kernels use AVX-VNNI
 * (aid_kernels_set_avx_vnni(); default: where the CPU has it).
 *
 * Defaults: the 8192 x 2048 FFN gate/up matrix of Llama-3.2-1B, replicated into a working set
 * of 512 MiB so that the data comes from DRAM, as in decoding a real model, and not from the
 * last-level cache. GB/s counts weight bytes streamed per second. */

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/quant.h"

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static float gauss(void)
{
        float s = 0;
        for (int i = 0; i < 4; i++) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                s += (float)(rng >> 40) / 16777216.0f;
        }
        return (s - 2.0f) * 0.03f;
}

/* Best of several passes over the buffer, in GB/s (1e9 bytes). */
static double bandwidth(const void *buf, size_t bytes, int threads)
{
        double best = 0;
        volatile uint64_t sink;

        omp_set_num_threads(threads);
        sink = aid_read_sum(buf, bytes);
        for (int i = 0; i < 5; i++) {
                double t0 = now();
                sink = aid_read_sum(buf, bytes);
                double gbs = (double)bytes / (now() - t0) / 1e9;
                if (gbs > best)
                        best = gbs;
        }
        (void)sink;
        return best;
}

/* Passes over the replicated matrices for at least half a second; one table row. */
static void measure(uint32_t type, int level, const char *path, int threads, const uint8_t *w, size_t mb,
                size_t rb, size_t copies, const float *x, float *y, size_t rows, size_t cols, double bw)
{
        size_t passes = 0;
        double t0, el;

        omp_set_num_threads(threads);
        for (size_t i = 0; i < copies; i++) /* warm up: page faults, threads */
                aid_matvec(type, w + i * mb, rb, x, y, rows, cols);
        t0 = now();
        do {
                aid_matvec(type, w + (passes % copies) * mb, rb, x, y, rows, cols);
                passes++;
                el = now() - t0;
        } while (el < 0.5 || passes < copies);
        double gbs = (double)mb * (double)passes / el / 1e9;
        printf("| %s | %s | %s | %d | %.1f | %.0f%% | %.3f |\n", ggml_type_name(type),
                        aid_cpu_level_name((enum aid_cpu_level)level), path, threads, gbs, 100.0 * gbs / bw,
                        el / (double)passes * 1e3);
        fflush(stdout);
}

/* aid_matmul_rows() with n rows of x, repeated for at least half a second; returns ms per call. */
static double measure_rows(uint32_t type, int level, int threads, const uint8_t *w, size_t mb, size_t rb,
                size_t copies, const float *x, size_t n, float *y, size_t rows, size_t cols, double base_ms)
{
        size_t passes = 0;
        double t0, el;

        omp_set_num_threads(threads);
        for (size_t i = 0; i < copies; i++)
                aid_matmul_rows(type, w + i * mb, rb, x, n, y, rows, cols);
        t0 = now();
        do {
                aid_matmul_rows(type, w + (passes % copies) * mb, rb, x, n, y, rows, cols);
                passes++;
                el = now() - t0;
        } while (el < 0.5 || passes < copies);
        double ms = el / (double)passes * 1e3;
        printf("| %s | %s | %d | %zu | %.3f | %.1f | %.0f | %.2f |\n", ggml_type_name(type),
                        aid_cpu_level_name((enum aid_cpu_level)level), threads, n, ms,
                        (double)mb / (ms * 1e-3) / 1e9, (double)n / (ms * 1e-3),
                        base_ms > 0 ? ms / base_ms : 1.0);
        fflush(stdout);
        return ms;
}

static int parse_type(const char *name, uint32_t *ret)
{
        for (uint32_t t = 0; t < _GGML_TYPE_MAX; t++)
                if (ggml_type_is_supported(t) && strcasecmp(ggml_type_name(t), name) == 0) {
                        *ret = t;
                        return 0;
                }
        return -EINVAL;
}

/* Dequantization (the prefill weight panels) per type, level and output, one thread: every
 * row of one rows x cols matrix into a 16-row panel that stays in cache, as the oneDNN path
 * does. GB/s counts weight bytes read; Gelem/s elements written. */
static void dequant_table(const uint32_t *types, size_t n_types, int only_level, const float *src,
                size_t rows, size_t cols)
{
        printf("\n| dequantize | level | to | GB/s (weights) | Gelem/s |\n");
        printf("|---|---|---|---|---|\n");
        omp_set_num_threads(1);
        for (size_t k = 0; k < n_types; k++) {
                uint32_t type = types[k];
                uint64_t rb;
                if (ggml_row_bytes(type, cols, &rb) < 0)
                        continue;
                uint8_t *w = malloc(rows * rb);
                void *panel = malloc(16 * cols * sizeof(float));
                if (!w || !panel) {
                        free(w);
                        free(panel);
                        continue;
                }
                for (size_t r = 0; r < rows; r++)
                        aid_quantize_row(type, src + (r % 16) * cols, w + r * rb, cols);
                for (int level = AID_CPU_SCALAR; level <= (int)aid_cpu_detect(); level++) {
                        if (only_level >= 0 && level != only_level)
                                continue;
                        aid_kernels_set_level((enum aid_cpu_level)level);
                        for (int bf16 = 0; bf16 < 2; bf16++) {
                                size_t done = 0;
                                double t0 = now(), el;
                                do {
                                        for (size_t r = 0; r < rows; r++) {
                                                if (bf16)
                                                        aid_dequantize_row_bf16(type, w + r * rb,
                                                                        (uint16_t *)panel + (r % 16) * cols,
                                                                        cols);
                                                else
                                                        aid_dequantize_row(type, w + r * rb,
                                                                        (float *)panel + (r % 16) * cols,
                                                                        cols);
                                        }
                                        done++;
                                        el = now() - t0;
                                } while (el < 0.3);
                                printf("| %s | %s | %s | %.2f | %.2f |\n", ggml_type_name(type),
                                                aid_cpu_level_name((enum aid_cpu_level)level),
                                                bf16 ? "bf16" : "f32", (double)(done * rows * rb) / el / 1e9,
                                                (double)(done * rows * cols) / el / 1e9);
                                fflush(stdout);
                        }
                }
                free(w);
                free(panel);
        }
}

int main(int argc, char **argv)
{
        static const uint32_t default_types[] = {
                GGML_TYPE_Q4_0,
                GGML_TYPE_Q8_0,
                GGML_TYPE_Q4_K,
                GGML_TYPE_Q6_K,
                GGML_TYPE_Q5_K,
                GGML_TYPE_Q4_1,
                GGML_TYPE_Q5_0,
                GGML_TYPE_Q5_1,
                GGML_TYPE_F16,
                GGML_TYPE_BF16,
                GGML_TYPE_F32,
        };
        size_t rows = 8192, cols = 2048, ws_mib = 512;
        int max_threads = 2, c, only_level = -1;
        bool path_f32 = true, path_q8 = true, batch = false;
        size_t batch_n[8] = { 1, 2, 4, 8 }, n_batch = 4;
        uint32_t types[32];
        size_t n_types = 0;

        while ((c = getopt(argc, argv, "r:c:m:t:l:x:b:p:w:V:h")) >= 0)
                switch (c) {
                case 'r':
                        rows = strtoul(optarg, NULL, 10);
                        break;
                case 'c':
                        cols = strtoul(optarg, NULL, 10);
                        break;
                case 'm':
                        ws_mib = strtoul(optarg, NULL, 10);
                        break;
                case 't':
                        max_threads = atoi(optarg);
                        break;
                case 'l':
                        for (int l = AID_CPU_SCALAR; l <= AID_CPU_AVX512_ICL; l++)
                                if (strcmp(optarg, aid_cpu_level_name((enum aid_cpu_level)l)) == 0)
                                        only_level = l;
                        if (only_level < 0 || only_level > (int)aid_cpu_detect()) {
                                fprintf(stderr, "Level '%s' unknown or not supported by this CPU\n", optarg);
                                return 2;
                        }
                        break;
                case 'p':
                        aid_kernels_set_prefetch(strtoul(optarg, NULL, 10));
                        break;
                case 'w':
                        if (strcmp(optarg, "256") != 0 && strcmp(optarg, "512") != 0) {
                                fprintf(stderr, "-w: 256 or 512\n");
                                return 2;
                        }
                        aid_kernels_set_k_wide(strcmp(optarg, "512") == 0);
                        break;
                case 'V':
                        if (strcmp(optarg, "0") != 0 && strcmp(optarg, "1") != 0) {
                                fprintf(stderr, "-V: 0 or 1\n");
                                return 2;
                        }
                        if (aid_kernels_set_avx_vnni(strcmp(optarg, "1") == 0) !=
                                        (strcmp(optarg, "1") == 0)) {
                                fprintf(stderr, "-V 1: this CPU has no AVX-VNNI\n");
                                return 1;
                        }
                        break;
                case 'x':
                        path_f32 = strcmp(optarg, "q8") != 0 && strcmp(optarg, "none") != 0;
                        path_q8 = strcmp(optarg, "f32") != 0 && strcmp(optarg, "none") != 0;
                        break;
                case 'b': {
                        char *p = optarg;
                        batch = true;
                        n_batch = 0;
                        while (*p && n_batch < 8) {
                                unsigned long v = strtoul(p, &p, 10);
                                if (v < 1 || v > AID_MATMUL_ROWS_MAX) {
                                        fprintf(stderr, "-b: each n from 1 to %d\n", AID_MATMUL_ROWS_MAX);
                                        return 2;
                                }
                                batch_n[n_batch++] = v;
                                if (*p == ',')
                                        p++;
                        }
                        break;
                }
                default:
                        fprintf(stderr,
                                        "usage: %s [-r ROWS] [-c COLS] [-m MIB] [-t MAX_THREADS] "
                                        "[-l LEVEL] [-x f32|q8|both|none] [-b N,N,...] [-p BYTES] [-w "
                                        "256|512] [-V 0|1] [TYPE...]\n",
                                        argv[0]);
                        return c == 'h' ? 0 : 2;
                }
        for (int i = optind; i < argc && n_types < 32; i++)
                if (parse_type(argv[i], &types[n_types++]) < 0) {
                        fprintf(stderr, "Unknown or unsupported type '%s'\n", argv[i]);
                        return 2;
                }
        if (n_types == 0) {
                n_types = sizeof(default_types) / sizeof(default_types[0]);
                memcpy(types, default_types, sizeof(default_types));
        }
        if (rows == 0 || cols == 0 || max_threads < 1) {
                fprintf(stderr, "ROWS > 0, COLS > 0 and MAX_THREADS >= 1 are required\n");
                return 2;
        }
        /* Each type needs whole blocks per row (Gemma-3-1B's 1152 columns fit the 32-element
         * types, not the K types' 256). */
        for (size_t k = 0; k < n_types; k++) {
                uint32_t block = ggml_type_traits_get(types[k])->block_elems;
                if (cols % block != 0) {
                        fprintf(stderr, "COLS (%zu) must be a multiple of %s's block of %u\n", cols,
                                        ggml_type_name(types[k]), block);
                        return 2;
                }
        }

        size_t bw_bytes = (size_t)1 << 30;
        uint8_t *bw_buf = malloc(bw_bytes);
        if (!bw_buf) {
                fprintf(stderr, "Out of memory\n");
                return 1;
        }
        memset(bw_buf, 1, bw_bytes);
        double bw[65] = { 0 };
        printf("CPU level: %s; matrix %zu x %zu; working set %zu MiB; rows prefetched %zu bytes ahead; "
               "Q4_K, Q5_K and Q6_K at the VNNI levels on %d-bit vectors; AVX2 level %s AVX-VNNI\n\n",
                        aid_cpu_level_name(aid_cpu_detect()), rows, cols, ws_mib, aid_kernels_get_prefetch(),
                        aid_kernels_get_k_wide() ? 512 : 256,
                        aid_kernels_get_avx_vnni() ? "with" : "without");
        printf("read bandwidth (streaming sum over 1 GiB):\n");
        for (int t = 1; t <= max_threads && t <= 64; t++) {
                bw[t] = bandwidth(bw_buf, bw_bytes, t);
                printf("  %d thread%s: %.1f GB/s\n", t, t > 1 ? "s" : "", bw[t]);
        }
        free(bw_buf);

        printf("\n| type | level | x | threads | GB/s | of read bandwidth | ms per matrix |\n");
        printf("|---|---|---|---|---|---|---|\n");
        float *x = malloc(AID_MATMUL_ROWS_MAX * cols * sizeof(float)),
              *y = malloc(AID_MATMUL_ROWS_MAX * rows * sizeof(float));
        float *src = malloc(16 * cols * sizeof(float));
        for (size_t i = 0; i < AID_MATMUL_ROWS_MAX * cols; i++)
                x[i] = gauss();
        for (size_t i = 0; i < 16 * cols; i++)
                src[i] = gauss();

        for (size_t k = 0; k < n_types; k++) {
                uint32_t type = types[k];
                uint64_t rb;
                if (ggml_row_bytes(type, cols, &rb) < 0)
                        continue;
                size_t mb = rows * rb, copies = (ws_mib << 20) / mb + 1;
                uint8_t *w = malloc(copies * mb);
                if (!w) {
                        fprintf(stderr, "Out of memory for %s\n", ggml_type_name(type));
                        return 1;
                }
                /* Speed does not depend on the values: quantize 16 rows, replicate them. */
                for (size_t r = 0; r < 16; r++)
                        aid_quantize_row(type, src + r * cols, w + r * rb, cols);
                for (size_t r = 16; r < copies * rows; r++)
                        memcpy(w + r * rb, w + (r % 16) * rb, rb);

                for (int level = AID_CPU_SCALAR; level <= (int)aid_cpu_detect(); level++) {
                        if (only_level >= 0 && level != only_level)
                                continue;
                        aid_kernels_set_level((enum aid_cpu_level)level);
                        for (int path = 0; path < 2; path++) {
                                aid_matvec_set_mode(path ? AID_MATVEC_Q8X : AID_MATVEC_F32X);
                                if ((path ? !path_q8 : !path_f32) || (path && !aid_matvec_uses_q8x(type)))
                                        continue;
                                for (int t = 1; t <= max_threads && t <= 64; t++)
                                        measure(type, level, path ? "q8" : "f32", t, w, mb, rb, copies, x, y,
                                                        rows, cols, bw[t]);
                        }
                }
                if (batch) {
                        int level = only_level >= 0 ? only_level : (int)aid_cpu_detect();
                        aid_kernels_set_level((enum aid_cpu_level)level);
                        aid_matvec_set_mode(AID_MATVEC_AUTO);
                        printf("\n| type | level | threads | n | ms per call | GB/s-equivalent | tokens/s | "
                               "time / n=1 |\n");
                        printf("|---|---|---|---|---|---|---|---|\n");
                        for (int t = 1; t <= max_threads && t <= 64; t++) {
                                double base = 0;
                                for (size_t i = 0; i < n_batch; i++) {
                                        double ms = measure_rows(type, level, t, w, mb, rb, copies, x,
                                                        batch_n[i], y, rows, cols, base);
                                        if (batch_n[i] == 1)
                                                base = ms;
                                }
                        }
                        printf("\n");
                }
                free(w);
        }
        dequant_table(types, n_types, only_level, src, rows, cols);
        aid_kernels_set_level(aid_cpu_detect());
        aid_matvec_set_mode(AID_MATVEC_AUTO);
        free(x);
        free(y);
        free(src);
        return 0;
}
