/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aid-infer bench on the fixture models: every number it reports is there and positive, the
 * byte count per token covers the whole model, and loading copies no weights into anonymous
 * memory. Not a timing test: speeds are only checked to be measured at all. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

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
        /* A decoded token reads every tensor of these tied-embedding models, plus the
         * embedding row it looks up. */
        cr_expect_gt(field("weight_bytes_per_token"), field("tensor_bytes"));
        cr_expect_lt(field("weight_bytes_per_token"), field("tensor_bytes") * 1.01);
}

Test(bench, llama_q4_0_json)
{
        check_json(fixture("tiny-llama-v512-Q4_0.gguf"), "1");
}

Test(bench, gemma3_q8_0_json_two_threads)
{
        check_json(fixture("tiny-gemma3-v512-Q8_0.gguf"), "2");
}

Test(bench, weights_stay_in_the_mapping)
{
        const char *model = fixture("tiny-llama-v512-F32.gguf");
        char args[4352];

        snprintf(args, sizeof(args), "bench '%s' -p 8 -n 4 -r 1 --bw-mib 64 --no-gemm --json", model);
        cr_assert_eq(run(args), 0, "aid-infer %s failed:\n%s", args, out);
        /* 12 MB of f32 weights: were they copied, anonymous memory after loading would hold
         * them; mapped, they show up as file pages once used. */
        cr_expect_lt(field("rss_anon_loaded_kib") * 1024, field("tensor_bytes") / 2, "%s", out);
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

Test(bench, readable_block)
{
        const char *model = fixture("tiny-llama-v512-Q4_0.gguf");
        static const char *const lines[] = { "load ", "prefill ", "gemm ref ", "decode ", "bytes/token ",
                "bandwidth ", "roofline ", "memory ", "RssAnon " };
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
