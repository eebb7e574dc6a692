/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gemm-bench: GFLOP/s of oneDNN's plain matrix product (through engine/onednn.c, cached
 * primitives) on the prefill shapes of Llama-3.2-1B, in f32 and bf16, for 1 and 2 threads.
 * This is the ceiling the prefill benchmark is compared against.
 *
 *   gemm-bench [-m M] [-r REPS] [-t THREADS,...] [-q TYPE,...] [--no-vocab]
 *
 * -q also times the prefill path for quantized weights (aid_onednn_matmul_dequant(): dequantize
 * panels of W, then the same products), whose GFLOP/s count only the product's 2·M·N·K. */

#include <errno.h>
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ggml-type.h"
#include "kernels/quant.h"
#include "onednn.h"

struct shape {
        const char *what;
        size_t k, n;
};

/* Llama-3.2-1B: n_embd 2048, n_ff 8192, vocab 128256 (q/o projections are 2048×2048, k/v
 * 2048×512). */
static const struct shape shapes[] = {
        { "attn q/o   2048x2048", 2048, 2048 },
        { "ffn up     2048x8192", 2048, 8192 },
        { "ffn down   8192x2048", 8192, 2048 },
        { "vocab    2048x128256", 2048, 128256 },
};

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(FILE *f)
{
        fprintf(f, "Usage: gemm-bench [-m M] [-r REPS] [-t THREADS[,THREADS...]] [-q TYPE[,TYPE...]] "
                   "[--no-vocab]\n"
                   "Times C[M×N] = A[M×K] × W[N×K]ᵀ through oneDNN for the Llama-3.2-1B shapes.\n");
}

static int bench_one(const struct shape *s, size_t m, bool bf16, uint32_t qtype, int threads, int reps)
{
        struct aid_onednn *dnn = NULL;
        struct aid_onednn_stats st;
        struct aid_error err = { 0 };
        size_t k = s->k, n = s->n;
        float *a = malloc(m * k * sizeof(float)), *c = malloc(m * n * sizeof(float));
        void *w = malloc(n * k * (bf16 ? 2 : 4));
        const char *label = qtype != GGML_TYPE_F32 ? ggml_type_name(qtype) : bf16 ? "bf16" : "f32";
        uint64_t row_bytes = 0;
        double best = 1e30, sum = 0, flop = 2.0 * (double)m * (double)n * (double)k;
        int r;

        if (!a || !c || !w) {
                fprintf(stderr, "gemm-bench: out of memory\n");
                free(a), free(c), free(w);
                return -ENOMEM;
        }
        for (size_t i = 0; i < m * k; i++)
                a[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
        for (size_t i = 0; i < n * k; i++) {
                float v = (float)((i * 40503u) % 997) * 1e-3f - 0.5f;

                if (bf16)
                        ((uint16_t *)w)[i] = aid_f32_to_bf16(v);
                else
                        ((float *)w)[i] = v;
        }
        omp_set_num_threads(threads);
        if (qtype != GGML_TYPE_F32) {
                /* Quantize the f32 weights in place, row by row (a quantized row is smaller). */
                r = ggml_row_bytes(qtype, k, &row_bytes);
                for (size_t j = 0; r >= 0 && j < n; j++)
                        r = aid_quantize_row(qtype, (float *)w + j * k, (uint8_t *)w + j * row_bytes, k);
                if (r < 0) {
                        fprintf(stderr, "gemm-bench: cannot quantize to %s\n", label);
                        free(a), free(c), free(w);
                        return r;
                }
        }
        r = aid_onednn_new(bf16 || qtype != GGML_TYPE_F32 ? 0 : AID_ONEDNN_FORCE_F32, &dnn, &err);
        if (r >= 0 && bf16 && !aid_onednn_uses_bf16(dnn)) {
                printf("%-22s %-5s %2d thr  skipped: this CPU has no bf16 for oneDNN\n", s->what, label,
                                threads);
                goto out;
        }
        /* The first call creates the primitive (warm-up, not timed). */
        for (int i = 0; r >= 0 && i <= reps; i++) {
                double t0 = now(), dt;

                if (qtype != GGML_TYPE_F32)
                        r = aid_onednn_matmul_dequant(
                                        dnn, qtype, w, 0, n, a, m, k, 0, c, 0, NULL, NULL, &err);
                else
                        r = aid_onednn_matmul(dnn, a, m, k, 0, bf16 ? GGML_TYPE_BF16 : GGML_TYPE_F32, w, n,
                                        0, c, 0, &err);
                dt = now() - t0;
                if (i > 0) {
                        sum += dt;
                        best = dt < best ? dt : best;
                }
        }
        if (r < 0) {
                fprintf(stderr, "gemm-bench: %s\n", err.message);
                goto out;
        }
        aid_onednn_get_stats(dnn, &st);
        printf("%-22s %-5s %2d thr  %9.2f ms  %7.1f GFLOP/s (best %7.1f)  scratch %5.1f MiB  %s\n", s->what,
                        label, threads, sum / reps * 1e3, flop / (sum / reps) * 1e-9, flop / best * 1e-9,
                        (double)st.scratch_bytes / (1u << 20), aid_onednn_last_impl(dnn));
        fflush(stdout);
out:
        aid_onednn_free(dnn);
        free(a), free(c), free(w);
        return r;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "help", no_argument, NULL, 'h' },
                { "no-vocab", no_argument, NULL, 'V' },
                {},
        };
        size_t m = 512;
        int reps = 3, threads[8] = { 1, 2 }, n_threads = 2, n_qtypes = 0, c;
        uint32_t qtypes[8];
        bool vocab = true, failed = false;

        while ((c = getopt_long(argc, argv, "hm:q:r:t:", opts, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        usage(stdout);
                        return 0;
                case 'm':
                        m = strtoul(optarg, NULL, 10);
                        break;
                case 'r':
                        reps = atoi(optarg);
                        break;
                case 't':
                        n_threads = 0;
                        for (char *p = strtok(optarg, ","); p && n_threads < 8; p = strtok(NULL, ","))
                                threads[n_threads++] = atoi(p);
                        break;
                case 'q':
                        for (char *p = strtok(optarg, ","); p && n_qtypes < 8; p = strtok(NULL, ",")) {
                                uint32_t t = UINT32_MAX;

                                for (uint32_t i = 0; i < _GGML_TYPE_MAX; i++)
                                        if (ggml_type_is_supported(i) &&
                                                        strcasecmp(ggml_type_name(i), p) == 0)
                                                t = i;
                                if (t == UINT32_MAX || t == GGML_TYPE_F32 || t == GGML_TYPE_BF16) {
                                        fprintf(stderr,
                                                        "gemm-bench: -q takes F16 or quantized types, not "
                                                        "'%s'\n",
                                                        p);
                                        return 2;
                                }
                                qtypes[n_qtypes++] = t;
                        }
                        break;
                case 'V':
                        vocab = false;
                        break;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (m == 0 || reps <= 0 || n_threads == 0) {
                usage(stderr);
                return 2;
        }
        for (int i = 0; i < n_threads; i++)
                if (threads[i] <= 0) {
                        usage(stderr);
                        return 2;
                }

        printf("oneDNN ISA: %s; M = %zu; %d timed repetitions after one warm-up\n", aid_onednn_isa_name(), m,
                        reps);
        for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
                if (!vocab && shapes[s].n > 100000)
                        continue;
                for (int bf16 = 0; bf16 <= 1; bf16++)
                        for (int t = 0; t < n_threads; t++)
                                if (bench_one(&shapes[s], m, bf16, GGML_TYPE_F32, threads[t], reps) < 0)
                                        failed = true;
                for (int q = 0; q < n_qtypes; q++)
                        for (int t = 0; t < n_threads; t++)
                                if (bench_one(&shapes[s], m, false, qtypes[q], threads[t], reps) < 0)
                                        failed = true;
        }
        return failed ? 1 : 0;
}
