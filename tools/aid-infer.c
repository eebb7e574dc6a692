/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aid-infer: the engine from the command line, for conformance checks and experiments.
 *   aid-infer tokenize MODEL TEXT        token ids of TEXT ("-": standard input)
 *   aid-infer logits MODEL TOKENS OUT    float32 logits of every position, fixture layout
 *   aid-infer generate MODEL PROMPT      streams a continuation
 *   aid-infer bench MODEL                load, prefill and decode speed, memory, roofline */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aid-infer-bench.h"
#include "gguf.h"
#include "model.h"
#include "sampler.h"
#include "tokenizer/tokenizer.h"

static void usage(FILE *f)
{
        fputs("Usage:\n"
              "  aid-infer tokenize MODEL TEXT [--add-special] [--parse-special]\n"
              "        Print the token ids of TEXT (\"-\" reads standard input verbatim) on one line.\n"
              "        By default no BOS/EOS is added and special-token text is not parsed.\n"
              "        MODEL may be a vocabulary-only GGUF file.\n"
              "  aid-infer logits MODEL TOKENS_FILE OUT.f32 [-t THREADS]\n"
              "        Evaluate the space-separated token ids of TOKENS_FILE in one batch and write\n"
              "        n_tokens x n_vocab float32 logits (little-endian, row i = position i) to OUT.f32.\n"
              "  aid-infer generate MODEL PROMPT [-n N] [--temp T] [--seed S] [--top-k K] [--top-p P]\n"
              "                     [--min-p P] [--repeat-penalty R] [--ignore-eos] [-t THREADS]\n"
              "        Stream a continuation of PROMPT (BOS added, special tokens parsed). Sampling\n"
              "        defaults are llama.cpp's (temperature 0.8, top-k 40, top-p 0.95, min-p 0.05);\n"
              "        --temp 0 is greedy. -n defaults to 128.\n"
              "  aid-infer bench MODEL [-p 512] [-n 128] [-t THREADS] [-r REPEATS] [-s SEQUENCES] [--json]\n"
              "        Time loading, a P-token prefill and N single-token decodes on random tokens;\n"
              "        print tokens/s, GFLOP/s, peak and anonymous RSS, weight bytes per decoded\n"
              "        token, the measured read bandwidth and the fraction of it decode reaches.\n"
              "        aid-infer bench --help lists all options.\n"
              "  aid-infer --help\n",
                        f);
}

static int fail(const char *what, int r, const struct aid_error *err)
{
        fprintf(stderr, "aid-infer: %s: %s\n", what, err && err->message[0] ? err->message : strerror(-r));
        return EXIT_FAILURE;
}

static char *read_stream(FILE *f, size_t *ret_len)
{
        size_t len = 0, cap = 4096;
        char *buf = malloc(cap), *nbuf;
        size_t got;

        if (!buf)
                return NULL;
        while ((got = fread(buf + len, 1, cap - len, f)) > 0) {
                len += got;
                if (len == cap) {
                        cap *= 2;
                        nbuf = realloc(buf, cap);
                        if (!nbuf) {
                                free(buf);
                                return NULL;
                        }
                        buf = nbuf;
                }
        }
        if (ferror(f)) {
                free(buf);
                return NULL;
        }
        *ret_len = len;
        return buf;
}

int aid_infer_parse_u32(const char *s, const char *opt, uint32_t max, uint32_t *ret)
{
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-' || v > max) {
                fprintf(stderr, "aid-infer: %s: '%s' is not a number in [0, %" PRIu32 "]\n", opt, s, max);
                return -EINVAL;
        }
        *ret = (uint32_t)v;
        return 0;
}

static int parse_float(const char *s, const char *opt, float *ret)
{
        char *end;
        float v;

        errno = 0;
        v = strtof(s, &end);
        if (errno || end == s || *end) {
                fprintf(stderr, "aid-infer: %s: '%s' is not a number\n", opt, s);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

static int cmd_tokenize(int argc, char **argv)
{
        static const struct option options[] = {
                { "add-special", no_argument, NULL, 'a' },
                { "parse-special", no_argument, NULL, 'p' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct aid_error err = { 0 };
        struct gguf_file *f = NULL;
        struct aid_tokenizer *tok = NULL;
        _cleanup_free_ char *stdin_text = NULL;
        _cleanup_free_ int32_t *ids = NULL;
        const char *text;
        unsigned flags = 0;
        size_t len, n = 0;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'a':
                        flags |= AID_TOKENIZE_ADD_SPECIAL;
                        break;
                case 'p':
                        flags |= AID_TOKENIZE_PARSE_SPECIAL;
                        break;
                case 'h':
                        usage(stdout);
                        return EXIT_SUCCESS;
                default:
                        return EXIT_FAILURE;
                }
        if (argc - optind != 2) {
                fprintf(stderr, "aid-infer tokenize: expected MODEL and TEXT (see --help)\n");
                return EXIT_FAILURE;
        }
        if (strcmp(argv[optind + 1], "-") == 0) {
                stdin_text = read_stream(stdin, &len);
                if (!stdin_text)
                        return fail("reading standard input", -EIO, NULL);
                text = stdin_text;
        } else {
                text = argv[optind + 1];
                len = strlen(text);
        }

        /* The tokenizer needs only the key/values: vocabulary-only files work too. */
        r = gguf_open(argv[optind], &f, &err);
        if (r < 0)
                return fail(argv[optind], r, &err);
        r = aid_tokenizer_new_from_gguf(f, &tok, &err);
        gguf_close(f);
        if (r < 0)
                return fail(argv[optind], r, &err);
        r = aid_tokenize(tok, text, len, flags, &ids, &n, &err);
        aid_tokenizer_free(tok);
        if (r < 0)
                return fail("tokenize", r, &err);
        for (size_t i = 0; i < n; i++)
                printf("%s%" PRId32, i ? " " : "", ids[i]);
        printf("\n");
        return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static int load(const char *path, uint32_t n_ctx, uint32_t n_batch, uint32_t n_threads,
                struct aid_model **ret_m, struct aid_context **ret_c)
{
        struct aid_context_params params = {
                .n_ctx = n_ctx, .n_seq_max = 1, .n_batch = n_batch, .n_threads = n_threads
        };
        struct aid_error err = { 0 };
        struct aid_model *m = NULL;
        int r;

        r = aid_model_load(path, &m, &err);
        if (r < 0)
                return fail("loading the model", r, &err), r;
        if (params.n_ctx > aid_model_hparams(m)->n_ctx_train)
                params.n_ctx = aid_model_hparams(m)->n_ctx_train;
        r = aid_context_new(m, &params, ret_c, &err);
        if (r < 0) {
                aid_model_free(m);
                return fail("creating the context", r, &err), r;
        }
        *ret_m = m;
        return 0;
}

static int cmd_logits(int argc, char **argv)
{
        static const struct option options[] = {
                { "threads", required_argument, NULL, 't' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct aid_error err = { 0 };
        struct aid_model *m = NULL;
        struct aid_context *ctx = NULL;
        _cleanup_free_ struct aid_batch_entry *batch = NULL;
        _cleanup_fclose_ FILE *in = NULL;
        FILE *out;
        uint32_t n_threads = 0, n_vocab;
        size_t n = 0, cap = 0;
        long long v;
        int c, r, ret = EXIT_FAILURE;

        while ((c = getopt_long(argc, argv, "t:h", options, NULL)) >= 0)
                switch (c) {
                case 't':
                        if (aid_infer_parse_u32(optarg, "--threads", 1024, &n_threads) < 0)
                                return EXIT_FAILURE;
                        break;
                case 'h':
                        usage(stdout);
                        return EXIT_SUCCESS;
                default:
                        return EXIT_FAILURE;
                }
        if (argc - optind != 3) {
                fprintf(stderr, "aid-infer logits: expected MODEL, TOKENS_FILE and OUT.f32 (see --help)\n");
                return EXIT_FAILURE;
        }
        in = fopen(argv[optind + 1], "re");
        if (!in)
                return fail(argv[optind + 1], -errno, NULL);
        while ((r = fscanf(in, "%lld", &v)) == 1) {
                if (n == cap) {
                        struct aid_batch_entry *nb;
                        cap = cap ? 2 * cap : 256;
                        nb = realloc(batch, cap * sizeof(*batch));
                        if (!nb)
                                return fail("reading tokens", -ENOMEM, NULL);
                        batch = nb;
                }
                if (v < INT32_MIN || v > INT32_MAX) {
                        fprintf(stderr, "aid-infer: %s: token id %lld is out of range\n", argv[optind + 1],
                                        v);
                        return EXIT_FAILURE;
                }
                batch[n] = (struct aid_batch_entry){
                        .token = (int32_t)v, .seq = 0, .pos = (uint32_t)n, .want_logits = true
                };
                n++;
        }
        if (r != EOF || !feof(in)) {
                fprintf(stderr, "aid-infer: %s: expected space-separated token ids\n", argv[optind + 1]);
                return EXIT_FAILURE;
        }
        if (n == 0) {
                fprintf(stderr, "aid-infer: %s: no tokens\n", argv[optind + 1]);
                return EXIT_FAILURE;
        }
        if (n > UINT32_MAX / 2) {
                fprintf(stderr, "aid-infer: %s: too many tokens\n", argv[optind + 1]);
                return EXIT_FAILURE;
        }

        if (load(argv[optind], (uint32_t)n, (uint32_t)n, n_threads, &m, &ctx) < 0)
                return EXIT_FAILURE;
        n_vocab = aid_model_hparams(m)->n_vocab;
        r = aid_decode(ctx, batch, n, &err);
        if (r < 0) {
                fail("evaluating the tokens", r, &err);
                goto out;
        }
        out = fopen(argv[optind + 2], "we");
        if (!out) {
                fail(argv[optind + 2], -errno, NULL);
                goto out;
        }
        /* The fixtures' layout: float32 little-endian, the machines aid runs on are too. */
        bool write_failed = false;
        for (size_t i = 0; i < n && !write_failed; i++)
                write_failed = fwrite(aid_get_logits(ctx, i), sizeof(float), n_vocab, out) != n_vocab;
        write_failed |= ferror(out) != 0;
        if (fclose(out) != 0 || write_failed) {
                fail(argv[optind + 2], -EIO, NULL);
                goto out;
        }
        ret = EXIT_SUCCESS;
out:
        aid_context_free(ctx);
        aid_model_free(m);
        return ret;
}

static int cmd_generate(int argc, char **argv)
{
        static const struct option options[] = {
                { "n-predict", required_argument, NULL, 'n' },
                { "temp", required_argument, NULL, 'T' },
                { "seed", required_argument, NULL, 's' },
                { "top-k", required_argument, NULL, 'k' },
                { "top-p", required_argument, NULL, 'P' },
                { "min-p", required_argument, NULL, 'M' },
                { "repeat-penalty", required_argument, NULL, 'R' },
                { "ignore-eos", no_argument, NULL, 'I' },
                { "threads", required_argument, NULL, 't' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct aid_sampler_params sp;
        struct aid_error err = { 0 };
        struct aid_model *m = NULL;
        struct aid_context *ctx = NULL;
        struct aid_sampler *sampler = NULL;
        struct aid_detokenizer *detok = NULL;
        const struct aid_tokenizer *tok;
        _cleanup_free_ int32_t *ids = NULL;
        _cleanup_free_ struct aid_batch_entry *batch = NULL;
        uint32_t n_predict = 128, n_threads = 0, top_k;
        bool ignore_eos = false;
        size_t n_ids = 0, len;
        const char *text;
        char *end;
        int c, r, ret = EXIT_FAILURE;

        aid_sampler_params_default(&sp);
        while ((c = getopt_long(argc, argv, "n:t:h", options, NULL)) >= 0)
                switch (c) {
                case 'n':
                        if (aid_infer_parse_u32(optarg, "-n", 1u << 24, &n_predict) < 0)
                                return EXIT_FAILURE;
                        break;
                case 'T':
                        if (parse_float(optarg, "--temp", &sp.temperature) < 0)
                                return EXIT_FAILURE;
                        break;
                case 's':
                        errno = 0;
                        sp.seed = strtoull(optarg, &end, 10);
                        if (errno || end == optarg || *end || optarg[0] == '-') {
                                fprintf(stderr, "aid-infer: --seed: '%s' is not a number\n", optarg);
                                return EXIT_FAILURE;
                        }
                        break;
                case 'k':
                        if (aid_infer_parse_u32(optarg, "--top-k", INT32_MAX, &top_k) < 0)
                                return EXIT_FAILURE;
                        sp.top_k = (int32_t)top_k;
                        break;
                case 'P':
                        if (parse_float(optarg, "--top-p", &sp.top_p) < 0)
                                return EXIT_FAILURE;
                        break;
                case 'M':
                        if (parse_float(optarg, "--min-p", &sp.min_p) < 0)
                                return EXIT_FAILURE;
                        break;
                case 'R':
                        if (parse_float(optarg, "--repeat-penalty", &sp.repeat_penalty) < 0)
                                return EXIT_FAILURE;
                        break;
                case 'I':
                        ignore_eos = true;
                        break;
                case 't':
                        if (aid_infer_parse_u32(optarg, "--threads", 1024, &n_threads) < 0)
                                return EXIT_FAILURE;
                        break;
                case 'h':
                        usage(stdout);
                        return EXIT_SUCCESS;
                default:
                        return EXIT_FAILURE;
                }
        if (argc - optind != 2) {
                fprintf(stderr, "aid-infer generate: expected MODEL and PROMPT (see --help)\n");
                return EXIT_FAILURE;
        }
        r = aid_sampler_new(&sp, &sampler, &err);
        if (r < 0)
                return fail("sampling options", r, &err);

        r = aid_model_load(argv[optind], &m, &err);
        if (r < 0) {
                fail("loading the model", r, &err);
                goto out;
        }
        tok = aid_model_tokenizer(m);
        if (!tok) {
                fprintf(stderr, "aid-infer: %s has no vocabulary aid can use: %s\n", argv[optind],
                                aid_model_tokenizer_problem(m));
                goto out;
        }
        text = argv[optind + 1];
        r = aid_tokenize(tok, text, strlen(text), AID_TOKENIZE_ADD_SPECIAL | AID_TOKENIZE_PARSE_SPECIAL,
                        &ids, &n_ids, &err);
        if (r < 0) {
                fail("tokenize", r, &err);
                goto out;
        }
        if (n_ids == 0) {
                fprintf(stderr, "aid-infer: the prompt has no tokens\n");
                goto out;
        }
        {
                struct aid_context_params params = {
                        .n_ctx = 0, .n_seq_max = 1, .n_batch = 512, .n_threads = n_threads
                };
                uint64_t want = (uint64_t)n_ids + n_predict;
                const uint32_t n_train = aid_model_hparams(m)->n_ctx_train;
                params.n_ctx = want < n_train ? (uint32_t)want : n_train;
                r = aid_context_new(m, &params, &ctx, &err);
                if (r < 0) {
                        fail("creating the context", r, &err);
                        goto out;
                }
                if (n_ids > params.n_ctx) {
                        fprintf(stderr,
                                        "aid-infer: the prompt has %zu tokens, more than the model's "
                                        "context of %" PRIu32 "\n",
                                        n_ids, params.n_ctx);
                        goto out;
                }
        }
        batch = calloc(512, sizeof(*batch));
        r = aid_detokenizer_new(tok, 0, &detok);
        if (!batch || r < 0) {
                fail("generate", -ENOMEM, NULL);
                goto out;
        }

        /* Prefill in batches of up to 512 positions; logits only for the last one. */
        for (size_t i0 = 0; i0 < n_ids; i0 += 512) {
                size_t nb = MIN((size_t)512, n_ids - i0);
                for (size_t i = 0; i < nb; i++) {
                        batch[i] = (struct aid_batch_entry){ .token = ids[i0 + i],
                                .seq = 0,
                                .pos = (uint32_t)(i0 + i),
                                .want_logits = i0 + i + 1 == n_ids };
                        aid_sampler_accept(sampler, ids[i0 + i]);
                }
                r = aid_decode(ctx, batch, nb, &err);
                if (r < 0) {
                        fail("evaluating the prompt", r, &err);
                        goto out;
                }
        }

        for (uint32_t k = 0; k < n_predict; k++) {
                const uint32_t pos = (uint32_t)n_ids + k;
                int32_t id = aid_sampler_sample(
                                sampler, aid_get_logits(ctx, 0), aid_model_hparams(m)->n_vocab);
                const char *piece;

                if (id < 0) {
                        fail("sampling", id, NULL);
                        goto out;
                }
                aid_sampler_accept(sampler, id);
                if (!ignore_eos && aid_tokenizer_is_eog(tok, id))
                        break;
                r = aid_detokenizer_push(detok, id, &piece, &len);
                if (r < 0) {
                        fail("detokenize", r, NULL);
                        goto out;
                }
                fwrite(piece, 1, len, stdout);
                fflush(stdout);
                if (k + 1 == n_predict)
                        break;
                batch[0] = (struct aid_batch_entry){
                        .token = id, .seq = 0, .pos = pos, .want_logits = true
                };
                r = aid_decode(ctx, batch, 1, &err);
                if (r == -ENOSPC) {
                        fprintf(stderr, "\naid-infer: the context is full\n");
                        break;
                }
                if (r < 0) {
                        fail("generate", r, &err);
                        goto out;
                }
        }
        if (aid_detokenizer_flush(detok, &text, &len) >= 0)
                fwrite(text, 1, len, stdout);
        printf("\n");
        ret = EXIT_SUCCESS;
out:
        aid_detokenizer_free(detok);
        aid_sampler_free(sampler);
        aid_context_free(ctx);
        aid_model_free(m);
        return ret;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                usage(stderr);
                return EXIT_FAILURE;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
                usage(stdout);
                return EXIT_SUCCESS;
        }
        if (strcmp(argv[1], "tokenize") == 0)
                return cmd_tokenize(argc - 1, argv + 1);
        if (strcmp(argv[1], "logits") == 0)
                return cmd_logits(argc - 1, argv + 1);
        if (strcmp(argv[1], "generate") == 0)
                return cmd_generate(argc - 1, argv + 1);
        if (strcmp(argv[1], "bench") == 0)
                return aid_infer_bench(argc - 1, argv + 1);
        fprintf(stderr, "aid-infer: unknown command '%s' (see --help)\n", argv[1]);
        return EXIT_FAILURE;
}
