/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The forward pass against llama.cpp's numbers for every model in $AID_FIXTURES/models (see
 * the fixtures README for how they were made and for the bars' calibration). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kernels/quant.h"
#include "model.h"

#define MAX_TOKENS 64

static const char *models_dir(void)
{
        static char path[4096];
        const char *dir = getenv("AID_FIXTURES");
        struct stat st;

        if (!dir)
                cr_skip_test("fixtures folder (unset) absent: set AID_FIXTURES to ../shared/fixtures");
        snprintf(path, sizeof(path), "%s/models", dir);
        if (stat(path, &st) < 0)
                cr_skip_test("fixtures folder %s absent: set AID_FIXTURES to ../shared/fixtures", dir);
        return path;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Model names (file name without .gguf), sorted. */
static size_t list_models(const char *dir, char ***ret)
{
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        DIR *d = opendir(dir);

        cr_assert_not_null(d);
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                if (len > 5 && strcmp(de->d_name + len - 5, ".gguf") == 0) {
                        names = realloc(names, (n + 1) * sizeof(*names));
                        names[n++] = strndup(de->d_name, len - 5);
                }
        }
        closedir(d);
        qsort(names, n, sizeof(*names), cmp_str);
        *ret = names;
        return n;
}

static size_t read_ids(const char *path, int32_t *ids, size_t max)
{
        FILE *f = fopen(path, "r");
        size_t n = 0;
        long v;

        cr_assert_not_null(f, "cannot open %s", path);
        while (n < max && fscanf(f, "%ld", &v) == 1)
                ids[n++] = (int32_t)v;
        fclose(f);
        return n;
}

static float *read_f32(const char *path, size_t n)
{
        float *data = malloc(n * sizeof(float));
        FILE *f = fopen(path, "rb");

        cr_assert_not_null(f, "cannot open %s", path);
        cr_assert_eq(fread(data, sizeof(float), n, f), n, "%s is shorter than %zu floats", path, n);
        fclose(f);
        return data;
}

static double rel_rms(const float *ours, const float *ref, size_t n)
{
        double d = 0, r = 0;

        for (size_t i = 0; i < n; i++) {
                d += ((double)ours[i] - ref[i]) * ((double)ours[i] - ref[i]);
                r += (double)ref[i] * ref[i];
        }
        return sqrt(d / (r > 0 ? r : 1));
}

static uint32_t argmax(const float *v, size_t n)
{
        uint32_t best = 0;

        for (size_t i = 1; i < n; i++)
                if (v[i] > v[best])
                        best = (uint32_t)i;
        return best;
}

static const char *type_of(const char *name)
{
        const char *dash = strstr(name, "-Q");

        if (dash)
                return dash + 1;
        dash = strrchr(name, '-');
        return dash ? dash + 1 : name;
}

struct run {
        struct aid_model *model;
        struct aid_context *ctx;
        int32_t tokens[MAX_TOKENS];
        size_t n_tokens;
        uint32_t n_vocab;
        float *logits; /* [n_tokens][n_vocab] */
};

static void run_prompt(const char *dir, const char *name, struct run *run, uint32_t n_seq)
{
        struct aid_context_params params = {
                .n_ctx = 128, .n_seq_max = n_seq, .n_batch = MAX_TOKENS, .n_threads = 2
        };
        struct aid_batch_entry batch[MAX_TOKENS];
        struct aid_error err = { 0 };
        char path[4200];
        int r;

        snprintf(path, sizeof(path), "%s/%s.gguf", dir, name);
        r = aid_model_load(path, &run->model, &err);
        cr_assert_eq(r, 0, "%s: %s", name, err.message);
        run->n_vocab = aid_model_hparams(run->model)->n_vocab;
        r = aid_context_new(run->model, &params, &run->ctx, &err);
        cr_assert_eq(r, 0, "%s: %s", name, err.message);

        snprintf(path, sizeof(path), "%s/%s.tokens.txt", dir, name);
        run->n_tokens = read_ids(path, run->tokens, MAX_TOKENS);
        cr_assert_gt(run->n_tokens, 0);
        for (size_t i = 0; i < run->n_tokens; i++)
                batch[i] = (struct aid_batch_entry){
                        .token = run->tokens[i], .seq = 0, .pos = (uint32_t)i, .want_logits = true
                };
        r = aid_decode(run->ctx, batch, run->n_tokens, &err);
        cr_assert_eq(r, 0, "%s: %s", name, err.message);

        run->logits = malloc(run->n_tokens * run->n_vocab * sizeof(float));
        for (size_t i = 0; i < run->n_tokens; i++) {
                const float *l = aid_get_logits(run->ctx, i);
                cr_assert_not_null(l);
                memcpy(run->logits + i * run->n_vocab, l, run->n_vocab * sizeof(float));
        }
}

static void run_done(struct run *run)
{
        free(run->logits);
        aid_context_free(run->ctx);
        aid_model_free(run->model);
}

Test(conformance, prompt_logits)
{
        const char *dir = models_dir();
        char **names, failures[4096] = "";
        size_t n_models = list_models(dir, &names);

        cr_assert_gt(n_models, 0, "no models in %s", dir);
        fprintf(stderr, "\n%-26s %-8s %-10s %10s %10s %8s %s\n", "model", "type", "reference", "max rRMS",
                        "mean rRMS", "top-1", "bar");
        for (size_t mi = 0; mi < n_models; mi++) {
                const char *name = names[mi], *type = type_of(name);
                bool is_f32 = strcmp(type, "F32") == 0,
                     is_f16 = strcmp(type, "F16") == 0 || strcmp(type, "BF16") == 0;
                struct run run = { 0 };
                double max = 0, sum = 0, bar_max, bar_mean, bar_top1;
                size_t top1 = 0;
                char path[4200];
                float *ref;
                bool ok;

                run_prompt(dir, name, &run, 1);
                snprintf(path, sizeof(path), "%s/%s.%slogits.f32", dir, name, is_f32 ? "precise." : "");
                ref = read_f32(path, run.n_tokens * run.n_vocab);
                for (size_t i = 0; i < run.n_tokens; i++) {
                        const float *o = run.logits + i * run.n_vocab, *g = ref + i * run.n_vocab;
                        double e = rel_rms(o, g, run.n_vocab);
                        max = fmax(max, e);
                        sum += e;
                        top1 += argmax(o, run.n_vocab) == argmax(g, run.n_vocab);
                }
                /* The bars. */
                if (is_f32) {
                        bar_max = bar_mean = 1e-3;
                        bar_top1 = 0;
                } else if (is_f16) {
                        bar_max = bar_mean = 2e-2;
                        bar_top1 = 0;
                } else {
                        bar_max = 0.08;
                        bar_mean = 0.05;
                        bar_top1 = 0.85;
                }
                ok = max <= bar_max && sum / run.n_tokens <= bar_mean && top1 >= bar_top1 * run.n_tokens;
                fprintf(stderr, "%-26s %-8s %-10s %10.2e %10.2e %4zu/%-3zu %s\n", name, type,
                                is_f32 ? "precise" : "default", max, sum / run.n_tokens, top1, run.n_tokens,
                                ok ? "ok" : "FAIL");
                if (!ok && strlen(failures) < sizeof(failures) - 64)
                        snprintf(failures + strlen(failures), sizeof(failures) - strlen(failures), " %s",
                                        name);
                free(ref);
                run_done(&run);
                free(names[mi]);
        }
        free(names);
        cr_expect_str_empty(failures, "models outside the bars:%s", failures);
}

/* The F32 models' greedy continuation, one token at a time through the KV cache: it must
 * equal llama.cpp's up to the first step whose top-2 margin is below what float rounding
 * could flip. */
Test(conformance, greedy_incremental)
{
        const char *dir = models_dir();
        char **names;
        size_t n_models = list_models(dir, &names), n_checked = 0;

        for (size_t mi = 0; mi < n_models; mi++) {
                const char *name = names[mi];
                int32_t greedy[32];
                struct run run = { 0 };
                struct aid_error err = { 0 };
                size_t n_greedy, limit = 32;
                char path[4200], line[256];
                uint32_t next;
                FILE *f;

                if (strcmp(type_of(name), "F32") != 0)
                        goto next;
                run_prompt(dir, name, &run, 1);
                snprintf(path, sizeof(path), "%s/%s.greedy.txt", dir, name);
                n_greedy = read_ids(path, greedy, 32);
                cr_assert_eq(n_greedy, 32);
                snprintf(path, sizeof(path), "%s/%s.greedy_detail.txt", dir, name);
                f = fopen(path, "r");
                cr_assert_not_null(f);
                while (fgets(line, sizeof(line), f)) {
                        unsigned step, id1, id2;
                        float l1, l2, margin;
                        if (line[0] == '#' || sscanf(line, "%u %u %f %u %f %f", &step, &id1, &l1, &id2, &l2,
                                                              &margin) != 6)
                                continue;
                        if (margin < 0.01f && step < limit)
                                limit = step;
                }
                fclose(f);

                next = argmax(run.logits + (run.n_tokens - 1) * run.n_vocab, run.n_vocab);
                for (size_t k = 0; k < limit; k++) {
                        struct aid_batch_entry e = { .token = (int32_t)next,
                                .seq = 0,
                                .pos = (uint32_t)(run.n_tokens + k),
                                .want_logits = true };
                        cr_assert_eq(next, (uint32_t)greedy[k], "%s: greedy step %zu: %u, llama.cpp %d",
                                        name, k, next, greedy[k]);
                        cr_assert_eq(aid_decode(run.ctx, &e, 1, &err), 0, "%s", err.message);
                        next = argmax(aid_get_logits(run.ctx, 0), run.n_vocab);
                }
                fprintf(stderr,
                                "%s: greedy matches llama.cpp for %zu steps (first margin < 0.01 at step "
                                "%zu)\n",
                                name, limit, limit);
                n_checked++;
                run_done(&run);
next:
                free(names[mi]);
        }
        free(names);
        cr_assert_gt(n_checked, 0);
}

static void expect_close(const float *a, const float *b, uint32_t n, double tol, const char *what)
{
        double e = rel_rms(a, b, n);
        cr_expect_leq(e, tol, "%s: rel RMS %g", what, e);
}

/* Incremental evaluation (matrix-vector products, one position at a time) through the KV
 * cache gives the prompt logits of the batched path. This checks the cache and the two
 * evaluation paths, not the kernels, so the decode kernels take f32 activations here as the
 * batched path does; quantized weights go through bf16 GEMMs in a batch where the CPU has
 * bf16, hence the looser bound there. */
Test(conformance, incremental_equals_batch)
{
        const char *dir = models_dir();
        const char *names[] = { "tiny-llama-v512-F32", "tiny-gemma3-v512-F32", "tiny-llama-v512-Q4_K" };
        const double tol[] = { 1e-4, 1e-4, 3e-2 };
        enum aid_matvec_mode saved = aid_matvec_set_mode(AID_MATVEC_F32X);

        for (size_t mi = 0; mi < ELEMENTSOF(names); mi++) {
                struct run run = { 0 };
                struct aid_error err = { 0 };

                run_prompt(dir, names[mi], &run, 2);
                for (size_t i = 0; i < run.n_tokens; i++) {
                        struct aid_batch_entry e = {
                                .token = run.tokens[i], .seq = 1, .pos = (uint32_t)i, .want_logits = true
                        };
                        char what[128];
                        cr_assert_eq(aid_decode(run.ctx, &e, 1, &err), 0, "%s", err.message);
                        snprintf(what, sizeof(what), "%s position %zu", names[mi], i);
                        expect_close(aid_get_logits(run.ctx, 0), run.logits + i * run.n_vocab, run.n_vocab,
                                        tol[mi], what);
                }
                run_done(&run);
        }
        aid_matvec_set_mode(saved);
}

/* The decode path as it runs in production (the default matvec mode: 8-bit activations for the
 * 4-, 5- and 6-bit types, as llama.cpp decodes) meets the bars against llama.cpp's
 * logits for every quantized model, one prompt position at a time, and in steps of 8 positions
 * (the multi-row kernels of continuous batching). */
Test(conformance, decode_path_logits)
{
        const char *dir = models_dir();
        char **names, failures[4096] = "";
        size_t n_models = list_models(dir, &names), n_checked = 0;

        cr_assert_gt(n_models, 0, "no models in %s", dir);
        aid_matvec_set_mode(AID_MATVEC_AUTO);
        for (size_t mi = 0; mi < n_models; mi++) {
                const char *name = names[mi], *type = type_of(name);
                struct run run = { 0 };
                struct aid_error err = { 0 };
                double max = 0, sum = 0;
                size_t top1 = 0;
                char path[4200];
                float *ref;
                bool ok;

                if (!strcmp(type, "F32") || !strcmp(type, "F16") || !strcmp(type, "BF16"))
                        goto next;
                run_prompt(dir, name, &run, 2);
                snprintf(path, sizeof(path), "%s/%s.logits.f32", dir, name);
                ref = read_f32(path, run.n_tokens * run.n_vocab);
                for (size_t i = 0; i < run.n_tokens; i++) {
                        struct aid_batch_entry e = {
                                .token = run.tokens[i], .seq = 1, .pos = (uint32_t)i, .want_logits = true
                        };
                        const float *o, *g = ref + i * run.n_vocab;
                        double rel;

                        cr_assert_eq(aid_decode(run.ctx, &e, 1, &err), 0, "%s", err.message);
                        o = aid_get_logits(run.ctx, 0);
                        rel = rel_rms(o, g, run.n_vocab);
                        max = fmax(max, rel);
                        sum += rel;
                        top1 += argmax(o, run.n_vocab) == argmax(g, run.n_vocab);
                }
                ok = max <= 0.08 && sum / run.n_tokens <= 0.05 && top1 >= 0.85 * run.n_tokens;
                fprintf(stderr, "decode %-26s %10.2e %10.2e %4zu/%-3zu %s\n", name, max, sum / run.n_tokens,
                                top1, run.n_tokens, ok ? "ok" : "FAIL");

                /* The same prompt again in steps of 8 tokens, as continuous batching evaluates a
                 * few rows at once: the multi-row kernels, held to the same bars. */
                aid_kv_seq_clear(run.ctx, 1);
                max = sum = 0;
                top1 = 0;
                for (size_t i0 = 0; i0 < run.n_tokens; i0 += 8) {
                        struct aid_batch_entry b[8];
                        size_t m = run.n_tokens - i0 < 8 ? run.n_tokens - i0 : 8;

                        for (size_t j = 0; j < m; j++)
                                b[j] = (struct aid_batch_entry){ .token = run.tokens[i0 + j],
                                        .seq = 1,
                                        .pos = (uint32_t)(i0 + j),
                                        .want_logits = true };
                        cr_assert_eq(aid_decode(run.ctx, b, m, &err), 0, "%s", err.message);
                        for (size_t j = 0; j < m; j++) {
                                const float *o = aid_get_logits(run.ctx, j),
                                            *g = ref + (i0 + j) * run.n_vocab;
                                double rel = rel_rms(o, g, run.n_vocab);
                                max = fmax(max, rel);
                                sum += rel;
                                top1 += argmax(o, run.n_vocab) == argmax(g, run.n_vocab);
                        }
                }
                bool ok8 = max <= 0.08 && sum / run.n_tokens <= 0.05 && top1 >= 0.85 * run.n_tokens;
                fprintf(stderr, "steps8 %-26s %10.2e %10.2e %4zu/%-3zu %s\n", name, max, sum / run.n_tokens,
                                top1, run.n_tokens, ok8 ? "ok" : "FAIL");
                ok = ok && ok8;
                if (!ok && strlen(failures) < sizeof(failures) - 64)
                        snprintf(failures + strlen(failures), sizeof(failures) - strlen(failures), " %s",
                                        name);
                free(ref);
                run_done(&run);
                n_checked++;
next:
                free(names[mi]);
        }
        free(names);
        cr_assert_gt(n_checked, 0);
        cr_expect_str_empty(failures, "models outside the bars on the decode path:%s", failures);
}

/* Two sequences interleaved in one batch give each the logits it gets alone; truncating and
 * copying caches behave. */
Test(conformance, batched_sequences_and_cache_ops)
{
        const char *dir = models_dir();
        const char *names[] = { "tiny-llama-v512-F32", "tiny-gemma3-v512-F32" };

        for (size_t mi = 0; mi < ELEMENTSOF(names); mi++) {
                struct run run = { 0 };
                struct aid_error err = { 0 };
                struct aid_batch_entry batch[MAX_TOKENS];
                size_t half, n = 0;
                char what[128];
                float *alone;

                run_prompt(dir, names[mi], &run, 3);
                half = run.n_tokens / 2;
                /* Sequence 1: the second half of the prompt as a prompt of its own. */
                aid_kv_seq_clear(run.ctx, 0);
                cr_assert_eq(aid_kv_seq_len(run.ctx, 0), 0);
                for (size_t i = 0; i < half; i++)
                        batch[i] = (struct aid_batch_entry){ .token = run.tokens[half + i],
                                .seq = 1,
                                .pos = (uint32_t)i,
                                .want_logits = true };
                cr_assert_eq(aid_decode(run.ctx, batch, half, &err), 0, "%s", err.message);
                alone = malloc(half * run.n_vocab * sizeof(float));
                for (size_t i = 0; i < half; i++)
                        memcpy(alone + i * run.n_vocab, aid_get_logits(run.ctx, i),
                                        run.n_vocab * sizeof(float));
                aid_kv_seq_clear(run.ctx, 1);

                /* Interleaved: seq 0 gets the first half, seq 2 the second half. */
                for (size_t i = 0; i < half; i++) {
                        batch[n++] = (struct aid_batch_entry){
                                .token = run.tokens[i], .seq = 0, .pos = (uint32_t)i, .want_logits = true
                        };
                        batch[n++] = (struct aid_batch_entry){ .token = run.tokens[half + i],
                                .seq = 2,
                                .pos = (uint32_t)i,
                                .want_logits = true };
                }
                cr_assert_eq(aid_decode(run.ctx, batch, n, &err), 0, "%s", err.message);
                cr_assert_eq(aid_kv_seq_len(run.ctx, 0), half);
                cr_assert_eq(aid_kv_seq_len(run.ctx, 2), half);
                for (size_t i = 0; i < half; i++) {
                        snprintf(what, sizeof(what), "%s interleaved seq 0 pos %zu", names[mi], i);
                        expect_close(aid_get_logits(run.ctx, 2 * i), run.logits + i * run.n_vocab,
                                        run.n_vocab, 1e-5, what);
                        snprintf(what, sizeof(what), "%s interleaved seq 2 pos %zu", names[mi], i);
                        expect_close(aid_get_logits(run.ctx, 2 * i + 1), alone + i * run.n_vocab,
                                        run.n_vocab, 1e-5, what);
                }

                /* Truncate seq 0 to 5 positions and evaluate the rest of the prompt again. */
                cr_assert_eq(aid_kv_seq_truncate(run.ctx, 0, 5), 0);
                cr_assert_eq(aid_kv_seq_len(run.ctx, 0), 5);
                n = 0;
                for (size_t i = 5; i < run.n_tokens; i++)
                        batch[n++] = (struct aid_batch_entry){ .token = run.tokens[i],
                                .seq = 0,
                                .pos = (uint32_t)i,
                                .want_logits = i + 1 == run.n_tokens };
                cr_assert_eq(aid_decode(run.ctx, batch, n, &err), 0, "%s", err.message);
                snprintf(what, sizeof(what), "%s after truncate", names[mi]);
                expect_close(aid_get_logits(run.ctx, 0), run.logits + (run.n_tokens - 1) * run.n_vocab,
                                run.n_vocab, 1e-5, what);
                cr_assert_null(aid_get_logits(run.ctx, 1));

                /* Copy seq 0 (the whole prompt) to seq 1; both then predict the same. */
                cr_assert_eq(aid_kv_seq_copy(run.ctx, 0, 1), 0);
                cr_assert_eq(aid_kv_seq_len(run.ctx, 1), run.n_tokens);
                batch[0] = (struct aid_batch_entry){
                        .token = 300, .seq = 0, .pos = (uint32_t)run.n_tokens, .want_logits = true
                };
                batch[1] = (struct aid_batch_entry){
                        .token = 300, .seq = 1, .pos = (uint32_t)run.n_tokens, .want_logits = true
                };
                cr_assert_eq(aid_decode(run.ctx, batch, 2, &err), 0, "%s", err.message);
                snprintf(what, sizeof(what), "%s copied sequence", names[mi]);
                expect_close(aid_get_logits(run.ctx, 0), aid_get_logits(run.ctx, 1), run.n_vocab, 0, what);

                free(alone);
                run_done(&run);
        }
}
