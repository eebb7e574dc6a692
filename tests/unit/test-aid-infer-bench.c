/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aid-infer bench on the fixture models: every number it reports is there and positive, the
 * byte count per token covers the whole model, and loading copies no weights into anonymous
 * memory. Not a timing test: speeds are only checked to be measured at all. The paired
 * roofline's arithmetic is checked on known numbers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../../tools/aid-infer-bench.h"
#include "kernels/quant.h"

#define OUT_MAX 16384

static char out[OUT_MAX];

static const char *fixture(const char *name)
{
        static char path[4096];
        const char *dir = getenv("AID_FIXTURES");
        struct stat st;

        if (!dir || stat(dir, &st) < 0)
                cr_skip_test("fixtures folder %s absent: set -Dfixtures= to run this test",
                                dir ? dir : "(unset)");
        snprintf(path, sizeof(path), "%s/models/%s", dir, name);
        if (stat(path, &st) < 0)
                cr_skip_test("fixture %s absent", path);
        return path;
}

/* Runs aid-infer with `args`, standard output into out; returns the exit status. */
static int run(const char *args)
{
        const char *root = getenv("AID_BUILD_ROOT");
        char cmd[8192];
        size_t len = 0, got;
        FILE *p;
        int status;

        cr_assert_not_null(root, "AID_BUILD_ROOT is not set (run through meson test)");
        snprintf(cmd, sizeof(cmd), "'%s/tools/aid-infer' %s 2>/dev/null", root, args);
        p = popen(cmd, "r");
        cr_assert_not_null(p);
        while (len < OUT_MAX - 1 && (got = fread(out + len, 1, OUT_MAX - 1 - len, p)) > 0)
                len += got;
        out[len] = '\0';
        status = pclose(p);
        cr_assert(WIFEXITED(status), "aid-infer did not exit normally: %s", cmd);
        return WEXITSTATUS(status);
}

static double field(const char *key)
{
        char pat[128];
        const char *at;
        char *end;
        double v;

        snprintf(pat, sizeof(pat), "\"%s\": ", key);
        at = strstr(out, pat);
        cr_assert_not_null(at, "field %s missing from:\n%s", key, out);
        v = strtod(at + strlen(pat), &end);
        cr_assert_neq(end, at + strlen(pat), "field %s is not a number", key);
        return v;
}

static const char *const positive[] = {
        "load_s",
        "load_cached_s",
        "prefill_tok_s",
        "prefill_gflop_s",
        "gemm_ref_gflop_s",
        "prefill_of_gemm_ref",
        "decode_tok_s",
        "decode_weight_gb_s",
        "roofline_fraction",
        "roofline_fraction_strict",
        "read_bandwidth_huge_pages_gb_s",
        "weight_bytes_per_token",
        "kv_bytes_per_token",
        "read_bandwidth_gb_s",
        "mapped_file_read_gb_s",
        "roofline_bandwidth_gb_s",
        "peak_rss_kib",
        "vm_hwm_kib",
        "rss_anon_kib",
        "rss_file_kib",
        "kv_cache_bytes",
        "paired_fraction_median",
        "paired_fraction_best",
        "paired_probe_huge_ms",
};

static void check_json(const char *model, const char *threads)
{
        char args[4352];

        snprintf(args, sizeof(args), "bench '%s' -p 8 -n 4 -r 1 -t %s --bw-mib 64 --json", model, threads);
        cr_assert_eq(run(args), 0, "aid-infer %s failed:\n%s", args, out);
        for (size_t i = 0; i < sizeof(positive) / sizeof(positive[0]); i++)
                cr_expect_gt(field(positive[i]), 0.0, "%s is not positive in:\n%s", positive[i], out);
        cr_expect_eq(field("prompt_tokens"), 8.0);
        cr_expect_eq(field("decode_tokens"), 4.0);
        cr_expect_eq(field("threads"), atof(threads));
        cr_expect_eq(field("row_prefetch_bytes"), (double)aid_kernels_default_prefetch());
        /* A decoded token reads every tensor of these tied-embedding models, plus the
         * embedding row it looks up. */
        cr_expect_gt(field("weight_bytes_per_token"), field("tensor_bytes"));
        cr_expect_lt(field("weight_bytes_per_token"), field("tensor_bytes") * 1.01);
        cr_expect_leq(field("paired_fraction_median"), field("paired_fraction_best"));
}

Test(bench, llama_q4_0_json)
{
        check_json(fixture("tiny-llama-v512-Q4_0.gguf"), "1");
}

Test(bench, gemma3_q8_0_json_two_threads)
{
        check_json(fixture("tiny-gemma3-v512-Q8_0.gguf"), "2");
}

Test(bench, prefetch_option_sets_the_distance)
{
        char args[4352];

        snprintf(args, sizeof(args), "bench '%s' -p 0 -n 4 -r 1 --bw-mib 64 --prefetch 8200 --json",
                        fixture("tiny-llama-v512-Q8_0.gguf"));
        cr_assert_eq(run(args), 0, "aid-infer %s failed:\n%s", args, out);
        cr_expect_eq(field("row_prefetch_bytes"), 8192.0, "rounded down to whole lines");
        snprintf(args, sizeof(args), "bench '%s' -p 0 -n 4 -r 1 --bw-mib 64 --prefetch 70000 --json",
                        fixture("tiny-llama-v512-Q8_0.gguf"));
        cr_expect_neq(run(args), 0, "a distance past the largest is refused");
}

Test(bench, weights_stay_in_the_mapping)
{
        const char *model = fixture("tiny-llama-v512-F32.gguf");
        char args[4352];

        snprintf(args, sizeof(args), "bench '%s' -p 8 -n 4 -r 1 --bw-mib 64 --no-gemm --json", model);
        cr_assert_eq(run(args), 0, "aid-infer %s failed:\n%s", args, out);
        /* 12 MB of f32 weights: were they copied, loading would add them to anonymous memory;
         * mapped, they show up as file pages once used. (What the process held before loading,
         * 6-7 MiB of it under ASan, does not count.) */
        cr_expect_lt((field("rss_anon_loaded_kib") - field("rss_anon_start_kib")) * 1024,
                        field("tensor_bytes") / 2, "%s", out);
        cr_expect_gt(field("rss_file_kib") * 1024, field("tensor_bytes"), "%s", out);
        cr_expect_null(strstr(out, "gemm_ref_gflop_s"), "--no-gemm still ran the GEMM reference");
}

Test(bench, batched_sequences)
{
        const char *model = fixture("tiny-llama-v512-Q4_0.gguf");
        char args[4352];

        snprintf(args, sizeof(args), "bench '%s' -p 0 -n 4 -s 3 -r 1 -t 1 --bw-mib 64 --json", model);
        cr_assert_eq(run(args), 0, "aid-infer %s failed:\n%s", args, out);
        cr_expect_eq(field("batched_sequences"), 3.0);
        cr_expect_gt(field("batched_tok_s"), 0.0);
        cr_expect_gt(field("batched_tok_s_mean"), 0.0);
        snprintf(args, sizeof(args), "bench '%s' -p 0 -n 4 -s 0", model);
        cr_expect_neq(run(args), 0, "-s 0 must fail");
}

/* Decode after a depth of cached positions: reported, its KV reads counted from that depth on,
 * for one sequence and for several; -d needs decode and must fit the model's context. */
Test(bench, decode_at_depth)
{
        const char *model = fixture("tiny-llama-v512-Q4_0.gguf");
        char args[4352];
        double kv0;

        snprintf(args, sizeof(args), "bench '%s' -p 0 -n 4 -s 2 -r 1 -t 1 --bw-mib 64 --json", model);
        cr_assert_eq(run(args), 0, "aid-infer %s failed:\n%s", args, out);
        cr_expect_eq(field("decode_depth"), 0.0);
        kv0 = field("kv_bytes_per_token");
        snprintf(args, sizeof(args), "bench '%s' -p 8 -n 4 -d 100 -s 2 -r 2 -t 1 --bw-mib 64 --json", model);
        cr_assert_eq(run(args), 0, "aid-infer %s failed:\n%s", args, out);
        cr_expect_eq(field("decode_depth"), 100.0);
        cr_expect_gt(field("decode_tok_s"), 0.0);
        cr_expect_gt(field("batched_tok_s"), 0.0);
        cr_expect_gt(field("prefill_tok_s"), 0.0);
        /* Positions 100..103 read 101..104 keys a layer, positions 0..3 read 1..4. */
        cr_expect_float_eq(field("kv_bytes_per_token"), kv0 * (101 + 102 + 103 + 104) / (1 + 2 + 3 + 4), 1.0,
                        "%s", out);
        snprintf(args, sizeof(args), "bench '%s' -p 8 -n 0 -d 100", model);
        cr_expect_neq(run(args), 0, "-d without decode must fail");
        snprintf(args, sizeof(args), "bench '%s' -p 0 -n 4 -d 1000000 --bw-mib 64", model);
        cr_expect_neq(run(args), 0, "a depth beyond the model's context must fail");
}

/* GB/s as bytes/s, to keep the tables below readable. */
#define G 1e9

Test(bench, paired_fraction_takes_the_larger_adjacent_probe)
{
        const struct aid_bench_pass p = { .before_mapped = 40 * G,
                .before_huge = 50 * G,
                .decode = 20 * G,
                .after_mapped = 45 * G,
                .after_huge = 30 * G };

        cr_expect_float_eq(aid_bench_pass_fraction(&p, true, true), 20.0 / 50, 1e-12);
        cr_expect_float_eq(aid_bench_pass_fraction(&p, true, false), 20.0 / 45, 1e-12);
        cr_expect_float_eq(aid_bench_pass_fraction(&p, false, true), 20.0 / 50, 1e-12);
        cr_expect_eq(aid_bench_pass_fraction(&p, false, false), 0.0);
}

Test(bench, paired_median_and_best_odd)
{
        /* Fractions 0.5, 0.25, 0.4: median 0.4, best 0.5, whatever the order of the passes. */
        const struct aid_bench_pass p[] = {
                { .before_mapped = 40 * G, .decode = 20 * G, .after_mapped = 30 * G },
                { .before_mapped = 32 * G, .decode = 8 * G, .after_mapped = 16 * G },
                { .before_mapped = 50 * G, .decode = 20 * G, .after_mapped = 50 * G },
        };
        double median = -1, best = -1;

        cr_assert_eq(aid_bench_pair(p, 3, true, true, &median, &best), 0);
        cr_expect_float_eq(median, 0.4, 1e-12);
        cr_expect_float_eq(best, 0.5, 1e-12);
}

Test(bench, paired_median_and_best_even)
{
        /* Fractions 0.2, 0.8, 0.5, 0.3: median (0.3 + 0.5) / 2, best 0.8. The huge-page probe
         * after pass 2 is what bounds it when huge pages count. */
        const struct aid_bench_pass p[] = {
                { .before_mapped = 50 * G, .before_huge = 10 * G, .decode = 10 * G, .after_mapped = 30 * G },
                { .before_mapped = 20 * G, .decode = 16 * G, .after_mapped = 10 * G, .after_huge = 40 * G },
                { .before_mapped = 40 * G, .decode = 20 * G, .after_mapped = 40 * G },
                { .before_mapped = 30 * G, .decode = 9 * G, .after_mapped = 30 * G, .after_huge = 25 * G },
        };
        double median = -1, best = -1;

        cr_assert_eq(aid_bench_pair(p, 4, false, false, &median, &best), -EINVAL);
        cr_assert_eq(aid_bench_pair(p, 4, true, false, &median, &best), 0);
        cr_expect_float_eq(median, (0.3 + 0.5) / 2, 1e-12);
        cr_expect_float_eq(best, 0.8, 1e-12);
        cr_assert_eq(aid_bench_pair(p, 4, true, true, &median, &best), 0);
        /* pass 2 is now 16 / 40 = 0.4: fractions 0.2, 0.4, 0.5, 0.3 */
        cr_expect_float_eq(median, (0.3 + 0.4) / 2, 1e-12);
        cr_expect_float_eq(best, 0.5, 1e-12);
}

Test(bench, paired_needs_passes_and_probes)
{
        const struct aid_bench_pass p[] = {
                { .before_mapped = 40 * G, .decode = 20 * G, .after_mapped = 40 * G },
                { .decode = 20 * G }, /* no probe beside it */
        };
        double median = -1, best = -1;

        cr_expect_eq(aid_bench_pair(p, 0, true, true, &median, &best), -EINVAL);
        cr_expect_eq(aid_bench_pair(p, 2, true, true, &median, &best), -EINVAL);
        cr_expect_eq(median, -1.0, "the median was set on failure");
        cr_expect_eq(aid_bench_pair(p, 1, true, true, &median, &best), 0);
        cr_expect_float_eq(median, 0.5, 1e-12);
        cr_expect_float_eq(best, 0.5, 1e-12);
}

Test(bench, paired_passes_reported)
{
        const char *model = fixture("tiny-llama-v512-Q4_0.gguf");
        const char *at;
        char args[4352];
        int passes = 0;

        snprintf(args, sizeof(args), "bench '%s' -p 0 -n 4 -r 4 -t 1 --bw-mib 64 --json", model);
        cr_assert_eq(run(args), 0, "aid-infer %s failed:\n%s", args, out);
        at = strstr(out, "\"paired_passes\": [");
        cr_assert_not_null(at, "no paired_passes in:\n%s", out);
        for (at = strstr(at, "{"); at && at < strstr(out, "]"); at = strstr(at + 1, "{"))
                passes++;
        cr_expect_eq(passes, 4, "%d passes reported for -r 4:\n%s", passes, out);
        /* The tiny model fits in the caches: its mapping is no roofline, only huge pages are. */
        cr_expect_null(strstr(out, "\"paired_mapping_counts\": true"), "%s", out);
        cr_expect_null(strstr(out, "paired_fraction_mapping_median"), "%s", out);
        cr_expect_gt(field("before_huge_gb_s"), 0.0);
        cr_expect_gt(field("after_huge_gb_s"), 0.0);
        cr_expect_gt(field("fraction"), 0.0);
}

Test(bench, readable_block)
{
        const char *model = fixture("tiny-llama-v512-Q4_0.gguf");
        static const char *const lines[] = { "load ", "prefill ", "gemm ref ", "decode ", "bytes/token ",
                "bandwidth ", "roofline ", "strict ", "paired ", "pass 1: ", "memory ", "RssAnon " };
        char args[4352];

        snprintf(args, sizeof(args), "bench '%s' -p 8 -n 4 -r 1 -t 1 --bw-mib 64", model);
        cr_assert_eq(run(args), 0, "aid-infer %s failed:\n%s", args, out);
        for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
                cr_expect_not_null(strstr(out, lines[i]), "no '%s' line in:\n%s", lines[i], out);
}

Test(bench, bad_input_fails)
{
        const char *model = fixture("tiny-llama-v512-Q4_0.gguf");
        char args[4352];

        cr_expect_neq(run("bench /nonexistent/model.gguf -p 8 -n 4"), 0);
        snprintf(args, sizeof(args), "bench '%s' -p 1000000 -n 4 --bw-mib 64", model);
        cr_expect_neq(run(args), 0, "a prompt longer than the model's context must fail");
        snprintf(args, sizeof(args), "bench '%s' -p 0 -n 0", model);
        cr_expect_neq(run(args), 0);
        snprintf(args, sizeof(args), "bench '%s' -p x", model);
        cr_expect_neq(run(args), 0);
}
