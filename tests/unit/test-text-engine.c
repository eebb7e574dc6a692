/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The text worker as the daemon sees it: a real sd-event loop, fixture models, and the events
 * a request gets: the greedy text of the reference implementation, streamed and then finished;
 * cancellation; fairness between apps and priority classes; chats that keep their context. */
#include <criterion/criterion.h>
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "aid-errors.h"
#include "model.h"
#include "text-engine.h"
#include "tokenizer/tokenizer.h"

#define LLAMA "tiny-llama-v512-F32"
#define PHI3  "tiny-phi3-Q4_0"

static char models[512];
static sd_event *loop;

static void setup(void)
{
        const char *f = getenv("AID_FIXTURES");
        struct stat st;

        snprintf(models, sizeof(models), "%s/models", f ? f : "(unset)");
        if (!f || stat(models, &st) < 0)
                cr_skip_test("fixtures folder %s absent: the text engine needs its models", models);
        cr_assert_eq(sd_event_new(&loop), 0);
}

static void teardown(void)
{
        loop = sd_event_unref(loop);
}

TestSuite(text_engine, .init = setup, .fini = teardown, .timeout = 240);

static char *model_file(const char *name, const char *suffix)
{
        char *p;
        cr_assert_neq(asprintf(&p, "%s/%s%s", models, name, suffix), -1);
        return p;
}

static char *read_text(const char *name, const char *suffix)
{
        _cleanup_free_ char *path = model_file(name, suffix);
        FILE *f = fopen(path, "re");
        char *buf = calloc(1, 4096);
        size_t n;

        cr_assert_not_null(f, "%s", path);
        n = fread(buf, 1, 4095, f);
        buf[n] = 0;
        fclose(f);
        return buf;
}

/* The text of the fixture's 32 greedy tokens, detokenized, with every byte that is not UTF-8
 * (random weights pick byte tokens that form none) replaced by U+FFFD as the engine does. */
static char *expected_greedy(const char *name)
{
        _cleanup_free_ char *path = model_file(name, ".gguf"), *ids = read_text(name, ".greedy.txt");
        struct aid_model *m = NULL;
        struct aid_detokenizer *d = NULL;
        struct aid_error err = {};
        char *out = calloc(1, 8192), *p = ids, *end;
        const char *t;
        size_t len, n = 0;

        cr_assert_eq(aid_model_load(path, &m, &err), 0, "%s", err.message);
        cr_assert_eq(aid_detokenizer_new(aid_model_tokenizer(m), 0, &d), 0);
        for (long id = strtol(p, &end, 10); end != p; p = end, id = strtol(p, &end, 10)) {
                cr_assert(!aid_tokenizer_is_eog(aid_model_tokenizer(m), (int32_t)id),
                                "the fixture's greedy sequence holds an end-of-generation token");
                cr_assert_eq(aid_detokenizer_push(d, (int32_t)id, &t, &len), 0);
                memcpy(out + n, t, len);
                n += len;
                cr_assert_lt(n, 4096);
        }
        cr_assert_eq(aid_detokenizer_flush(d, &t, &len), 0);
        memcpy(out + n, t, len);
        aid_detokenizer_free(d);
        aid_model_free(m);
        char *valid = g_utf8_make_valid(out, -1);
        free(out);
        return valid;
}

/* What one job received. */
struct got {
        char text[16384];
        size_t len;
        unsigned n_tokens, n_finished, n_failed, after_end;
        int order; /* position among the jobs that ended, from 1 */
        char error[128], message[512], finish[16];
        struct text_stats stats;
        struct text_engine *te;
        uint64_t job;
        unsigned cancel_after; /* cancel once this many token events arrived */
        unsigned tokens_at_cancel;
        unsigned n_overflow, dropped, n_used;
        uint32_t used;
        struct got *watch;            /* another job, whose tokens so far ... */
        unsigned watch_tokens_at_end; /* ... are counted when this one ends */
};

static int n_ended;

static void on_token(void *userdata, const char *text, size_t len)
{
        struct got *g = userdata;

        if (g->n_finished + g->n_failed)
                g->after_end++;
        cr_assert_eq(strlen(text), len);
        cr_assert_lt(g->len + len, sizeof(g->text));
        memcpy(g->text + g->len, text, len);
        g->len += len;
        g->n_tokens++;
        if (g->cancel_after && g->n_tokens == g->cancel_after) {
                g->tokens_at_cancel = g->n_tokens;
                cr_assert_eq(text_engine_cancel(g->te, g->job), 0);
        }
}

static void on_finished(void *userdata, const struct text_stats *stats)
{
        struct got *g = userdata;

        if (g->n_finished + g->n_failed)
                g->after_end++;
        g->n_finished++;
        if (g->watch)
                g->watch_tokens_at_end = g->watch->n_tokens;
        g->stats = *stats;
        snprintf(g->finish, sizeof(g->finish), "%s", stats->finish_reason);
        g->stats.finish_reason = g->finish;
        g->stats.model_id = NULL;
        g->order = ++n_ended;
}

static void on_failed(void *userdata, const char *name, const char *message)
{
        struct got *g = userdata;

        if (g->n_finished + g->n_failed)
                g->after_end++;
        g->n_failed++;
        snprintf(g->error, sizeof(g->error), "%s", name);
        snprintf(g->message, sizeof(g->message), "%s", message);
        g->order = ++n_ended;
}

static void on_overflow(void *userdata, uint32_t dropped)
{
        struct got *g = userdata;
        g->n_overflow++;
        g->dropped += dropped;
}

static void on_used(void *userdata, uint32_t n)
{
        struct got *g = userdata;
        g->n_used++;
        g->used = n;
}

static const struct text_events events = {
        .token = on_token,
        .finished = on_finished,
        .failed = on_failed,
        .context_overflow = on_overflow,
        .tokens_used = on_used,
};

static bool ended(struct got *g)
{
        return g->n_finished + g->n_failed > 0;
}

/* Runs the loop until every job in gs has ended (and a little longer, to catch stray events). */
static void run_until_ended(struct got **gs, size_t n)
{
        struct timespec t0, t;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
                bool all = true;
                for (size_t i = 0; i < n; i++)
                        all = all && ended(gs[i]);
                if (all)
                        break;
                cr_assert_geq(sd_event_run(loop, 100000), 0);
                clock_gettime(CLOCK_MONOTONIC, &t);
                cr_assert_lt(t.tv_sec - t0.tv_sec, 120, "jobs did not end in time");
        }
        for (int i = 0; i < 3; i++)
                cr_assert_geq(sd_event_run(loop, 20000), 0);
}

static struct text_engine *engine(uint32_t n_seq, uint32_t n_ctx, uint32_t chunk, uint64_t idle)
{
        struct text_engine_config c = {
                .n_threads = 1,
                .n_ctx = n_ctx,
                .n_seq_max = n_seq,
                .prefill_chunk = chunk,
                .idle_unload_usec = idle,
        };
        struct text_engine *te = NULL;

        cr_assert_eq(text_engine_new(loop, &c, &te), 0);
        return te;
}

static struct text_job_params greedy(
                const char *app, const char *path, const char *prompt, uint32_t max_tokens)
{
        struct text_job_params p = {
                .app_id = app,
                .priority = TEXT_PRIORITY_INTERACTIVE,
                .model_id = "test",
                .model_path = path,
                .prompt = prompt,
                .max_tokens = max_tokens,
        };
        aid_sampler_params_default(&p.sampling);
        p.sampling.temperature = 0;
        return p;
}

static void submit(struct text_engine *te, const struct text_job_params *p, struct got *g)
{
        g->te = te;
        cr_assert_eq(text_engine_submit(te, p, &events, g, &g->job), 0);
}

static void assert_finished(struct got *g, const char *reason)
{
        cr_assert_eq(g->n_failed, 0, "failed: %s: %s", g->error, g->message);
        cr_assert_eq(g->n_finished, 1);
        cr_assert_eq(g->after_end, 0, "events after the last one");
        cr_assert_str_eq(g->finish, reason);
}

Test(text_engine, greedy_matches_reference)
{
        _cleanup_free_ char *path = model_file(LLAMA, ".gguf"), *prompt = read_text(LLAMA, ".prompt.txt"),
                            *want = expected_greedy(LLAMA);
        /* A 16-token chunk: the 40-token prompt is evaluated over three steps. */
        struct text_engine *te = engine(2, 0, 16, 0);
        struct text_job_params p = greedy("app.a", path, prompt, 32);
        struct got *g = calloc(1, sizeof(*g));

        submit(te, &p, g);
        run_until_ended(&g, 1);
        assert_finished(g, "length");
        cr_assert_str_eq(g->text, want);
        cr_assert_gt(g->n_tokens, 1, "the text came in one piece, not streamed");
        cr_assert_eq(g->stats.prompt_tokens, 40);
        cr_assert_eq(g->stats.prompt_evaluated_tokens, 40);
        cr_assert_eq(g->stats.generated_tokens, 32);
        cr_assert_gt(g->stats.time_to_first_token_usec, 0);
        cr_assert_gt(g->stats.tokens_per_second, 0);
        text_engine_free(te);
        free(g);
}

Test(text_engine, bad_arguments_refused_at_once)
{
        _cleanup_free_ char *path = model_file(LLAMA, ".gguf");
        struct text_engine *te = engine(1, 0, 0, 0);
        struct text_job_params p = greedy("app.a", path, "", 8);
        const char *bad_stop[] = { "", NULL };
        struct got g = {};

        cr_assert_eq(text_engine_submit(te, &p, &events, &g, NULL), -EINVAL);
        p.prompt = "caf\xc3";
        cr_assert_eq(text_engine_submit(te, &p, &events, &g, NULL), -EINVAL);
        p.prompt = "fine";
        p.max_tokens = 0;
        cr_assert_eq(text_engine_submit(te, &p, &events, &g, NULL), -EINVAL);
        p.max_tokens = 8;
        p.sampling.top_p = 2;
        cr_assert_eq(text_engine_submit(te, &p, &events, &g, NULL), -EINVAL);
        p.sampling.top_p = 1;
        p.stop = bad_stop;
        cr_assert_eq(text_engine_submit(te, &p, &events, &g, NULL), -EINVAL);
        cr_assert_eq(text_engine_cancel(te, 12345), -ENOENT);
        text_engine_free(te);
}

Test(text_engine, concurrent_jobs_equal_their_solo_runs)
{
        _cleanup_free_ char *path = model_file(LLAMA, ".gguf"), *prompt = read_text(LLAMA, ".prompt.txt");
        const char *prompts[2] = { prompt, "Once upon a time there was a little dog" };
        struct got *solo = calloc(2, sizeof(*solo)), *both = calloc(2, sizeof(*both));
        struct text_engine *te = engine(2, 0, 8, 0);

        for (int i = 0; i < 2; i++) {
                struct text_job_params p = greedy(i ? "app.b" : "app.a", path, prompts[i], 24);
                struct got *g = &solo[i];
                submit(te, &p, g);
                run_until_ended(&g, 1);
                assert_finished(g, "length");
        }
        for (int i = 0; i < 2; i++) {
                struct text_job_params p = greedy(i ? "app.b" : "app.a", path, prompts[i], 24);
                submit(te, &p, &both[i]);
        }
        run_until_ended((struct got *[]){ &both[0], &both[1] }, 2);
        for (int i = 0; i < 2; i++) {
                assert_finished(&both[i], "length");
                cr_assert_str_eq(both[i].text, solo[i].text,
                                "job %d: batched text differs from its solo run", i);
        }
        text_engine_free(te);
        free(solo);
        free(both);
}

/* A short request that arrives with a long prompt is answered first, and the
 * long prompt, read in steps of whatever size the step budget allows, still gives the text of
 * its run alone. */
Test(text_engine, short_request_answered_while_a_long_prompt_is_read)
{
        _cleanup_free_ char *path = model_file(LLAMA, ".gguf"), *long_prompt = NULL;
        struct got *solo = calloc(1, sizeof(*solo)), *lg = calloc(1, sizeof(*lg)),
                   *sh = calloc(1, sizeof(*sh));
        struct text_engine *te = engine(1, 0, 64, 0);
        struct text_engine_config c = {
                .n_threads = 1,
                .n_seq_max = 2,
                .prefill_chunk = 64,
                .prefill_step_usec = 1, /* below any step: the fewest rows per step */
        };
        struct text_engine *busy = NULL;

        long_prompt = strdup("");
        for (int i = 0; i < 6; i++) {
                char *more = NULL;
                cr_assert_neq(asprintf(&more, "%sThe quick brown fox jumps over the lazy dog. ",
                                              long_prompt),
                                -1);
                free(long_prompt);
                long_prompt = more;
        }
        struct text_job_params pl = greedy("app.long", path, long_prompt, 8);
        submit(te, &pl, solo);
        run_until_ended(&solo, 1);
        assert_finished(solo, "length");
        cr_assert_gt(solo->stats.prompt_tokens, 150);

        cr_assert_eq(text_engine_new(loop, &c, &busy), 0);
        /* The short request comes right behind: the worker sees it before the long prompt's
         * first step or a few steps into it, and answers it first either way. */
        submit(busy, &pl, lg);
        struct text_job_params ps = greedy("app.short", path, "Hello", 1);
        sh->watch = lg;
        submit(busy, &ps, sh);
        run_until_ended(&sh, 1);
        assert_finished(sh, "length");
        cr_assert_eq(sh->watch_tokens_at_end, 0,
                        "the long prompt was read before the short request was answered");

        run_until_ended(&lg, 1);
        assert_finished(lg, "length");
        cr_assert_str_eq(lg->text, solo->text, "read in budgeted steps, the long prompt gives other text");
        cr_assert_eq(lg->stats.prompt_tokens, solo->stats.prompt_tokens);
        text_engine_free(busy);
        text_engine_free(te);
        free(solo);
        free(lg);
        free(sh);
}

Test(text_engine, cancel_mid_generation)
{
        _cleanup_free_ char *path = model_file(LLAMA, ".gguf"), *prompt = read_text(LLAMA, ".prompt.txt");
        struct text_engine *te = engine(1, 0, 0, 0);
        struct text_job_params p = greedy("app.a", path, prompt, 400);
        struct got *g = calloc(2, sizeof(*g));

        g[0].cancel_after = 3;
        submit(te, &p, &g[0]);
        run_until_ended(&g, 1);
        cr_assert_eq(g[0].n_finished, 0);
        cr_assert_eq(g[0].n_failed, 1);
        cr_assert_str_eq(g[0].error, AID_ERROR_CANCELLED);
        cr_assert_eq(g[0].n_tokens, g[0].tokens_at_cancel, "tokens after the cancellation");
        cr_assert_eq(g[0].after_end, 0);
        cr_assert_eq(text_engine_cancel(te, g[0].job), -ENOENT);

        /* The only sequence was freed: the next job runs. */
        p.max_tokens = 8;
        submit(te, &p, &g[1]);
        struct got *g1 = &g[1];
        run_until_ended(&g1, 1);
        assert_finished(&g[1], "length");
        text_engine_free(te);
        free(g);
}

Test(text_engine, cancel_queued_job)
{
        _cleanup_free_ char *path = model_file(LLAMA, ".gguf");
        struct text_engine *te = engine(1, 0, 0, 0);
        struct text_job_params p = greedy("app.a", path, "The dog", 40);
        struct got *g = calloc(2, sizeof(*g));

        submit(te, &p, &g[0]);
        submit(te, &p, &g[1]);
        cr_assert_eq(text_engine_cancel(te, g[1].job), 0);
        run_until_ended((struct got *[]){ &g[0], &g[1] }, 2);
        assert_finished(&g[0], "length");
        cr_assert_str_eq(g[1].error, AID_ERROR_CANCELLED);
        cr_assert_eq(g[1].n_tokens, 0);
        text_engine_free(te);
        free(g);
}

Test(text_engine, prompt_too_large)
{
        _cleanup_free_ char *path = model_file(LLAMA, ".gguf");
        char prompt[4096] = "";
        struct text_engine *te = engine(1, 64, 0, 0);
        struct text_job_params p;
        struct got *g = calloc(2, sizeof(*g));

        for (int i = 0; i < 40; i++)
                strcat(prompt, "over the lazy dog ");
        p = greedy("app.a", path, prompt, 8);
        submit(te, &p, &g[0]);
        run_until_ended(&g, 1);
        cr_assert_str_eq(g[0].error, AID_ERROR_TOO_LARGE);
        cr_assert(strstr(g[0].message, "this model's context holds 64"), "%s", g[0].message);
        cr_assert(strstr(g[0].message, "prompt has "), "%s", g[0].message);

        p.prompt = "The quick brown fox";
        p.max_prompt_tokens = 3;
        submit(te, &p, &g[1]);
        struct got *g1 = &g[1];
        run_until_ended(&g1, 1);
        cr_assert_str_eq(g[1].error, AID_ERROR_TOO_LARGE);
        text_engine_free(te);
        free(g);
}

Test(text_engine, stop_string_ends_without_it)
{
        _cleanup_free_ char *path = model_file(LLAMA, ".gguf"), *prompt = read_text(LLAMA, ".prompt.txt"),
                            *want = expected_greedy(LLAMA);
        struct text_engine *te = engine(1, 0, 0, 0);
        struct text_job_params p = greedy("app.a", path, prompt, 32);
        struct got *g = calloc(1, sizeof(*g));
        size_t half = strlen(want) / 2, cut;
        char stop[4] = {};
        const char *stops[] = { stop, NULL };

        /* Three ASCII characters from the middle of the greedy text. */
        while (half < strlen(want) &&
                        ((unsigned char)want[half] >= 0x80 || (unsigned char)want[half + 1] >= 0x80 ||
                                        (unsigned char)want[half + 2] >= 0x80))
                half++;
        cr_assert_lt(half + 3, strlen(want));
        memcpy(stop, want + half, 3);
        cut = (size_t)(strstr(want, stop) - want);
        p.stop = stops;
        submit(te, &p, g);
        run_until_ended(&g, 1);
        assert_finished(g, "stop");
        cr_assert_eq(g->len, cut, "stopped at %zu, want %zu ('%s' in '%s')", g->len, cut, stop, want);
        cr_assert(strncmp(g->text, want, cut) == 0);
        text_engine_free(te);
        free(g);
}

Test(text_engine, apps_take_turns)
{
        _cleanup_free_ char *path = model_file(LLAMA, ".gguf");
        struct text_engine *te = engine(1, 0, 0, 0);
        struct got *g = calloc(4, sizeof(*g));

        n_ended = 0;
        for (int i = 0; i < 4; i++) {
                struct text_job_params p = greedy(i < 3 ? "app.a" : "app.b", path, "The dog", 12);
                submit(te, &p, &g[i]);
        }
        run_until_ended((struct got *[]){ &g[0], &g[1], &g[2], &g[3] }, 4);
        for (int i = 0; i < 4; i++)
                assert_finished(&g[i], "length");
        /* One slot: app.b's only job must not wait for all three of app.a's. */
        cr_assert_lt(g[3].order, g[2].order, "b ended %d, a's last %d", g[3].order, g[2].order);
        cr_assert_lt(g[0].order, g[1].order);
        cr_assert_lt(g[1].order, g[2].order);
        text_engine_free(te);
        free(g);
}

Test(text_engine, priority_classes_in_order)
{
        _cleanup_free_ char *path = model_file(LLAMA, ".gguf");
        struct text_engine *te = engine(1, 0, 0, 0);
        struct got *g = calloc(3, sizeof(*g));
        const enum text_priority prio[3] = { TEXT_PRIORITY_LIVE, TEXT_PRIORITY_BACKGROUND,
                TEXT_PRIORITY_INTERACTIVE };

        n_ended = 0;
        for (int i = 0; i < 3; i++) {
                struct text_job_params p = greedy("app.a", path, "The dog", 12);
                p.priority = prio[i];
                submit(te, &p, &g[i]);
        }
        run_until_ended((struct got *[]){ &g[0], &g[1], &g[2] }, 3);
        for (int i = 0; i < 3; i++)
                assert_finished(&g[i], "length");
        cr_assert_lt(g[2].order, g[1].order, "the background job ran before the interactive one");
        text_engine_free(te);
        free(g);
}

static void chat_send(
                struct text_engine *te, uint64_t chat, const char *msg, uint32_t max_tokens, struct got *g)
{
        struct text_job_params p = greedy(NULL, NULL, NULL, max_tokens);

        memset(g, 0, offsetof(struct got, n_overflow));
        g->te = te;
        cr_assert_eq(text_engine_chat_send(te, chat, msg, &p, &events, g, &g->job), 0);
        cr_assert_eq(text_engine_chat_send(te, chat, "again", &p, &events, g, NULL), -EBUSY);
        run_until_ended(&g, 1);
}

Test(text_engine, chat_keeps_context)
{
        _cleanup_free_ char *path = model_file(PHI3, ".gguf");
        struct text_engine *te = engine(2, 0, 0, 0);
        struct got *g = calloc(1, sizeof(*g)), *turn = calloc(1, sizeof(*turn));
        uint64_t chat;
        uint32_t first;

        cr_assert_eq(text_engine_chat_new(te, "app.a", "phi3", path, "You are a terse assistant.", &events,
                                     g, &chat),
                        0);
        cr_assert_eq(text_engine_chat_context_size(te, chat), 0);
        chat_send(te, chat, "Hello, who are you?", 8, turn);
        cr_assert_eq(turn->n_failed, 0, "%s: %s", turn->error, turn->message);
        cr_assert_eq(turn->n_finished, 1);
        first = turn->stats.prompt_tokens;
        cr_assert_eq(turn->stats.prompt_evaluated_tokens, first);
        cr_assert_gt(text_engine_chat_context_size(te, chat), 0);
        cr_assert_eq(g->n_used, 1);
        cr_assert_geq(g->used, first);

        chat_send(te, chat, "Tell me more about the fox.", 8, turn);
        cr_assert_eq(turn->n_finished, 1, "%s: %s", turn->error, turn->message);
        cr_assert_gt(turn->stats.prompt_tokens, first);
        /* Only the new turn is evaluated: the first one is in the KV cache. */
        cr_assert_leq(turn->stats.prompt_evaluated_tokens, turn->stats.prompt_tokens - first + 1,
                        "evaluated %u of %u (first turn %u)", turn->stats.prompt_evaluated_tokens,
                        turn->stats.prompt_tokens, first);
        cr_assert_eq(g->n_used, 2);
        cr_log_info("first turn %u tokens; second %u, evaluated %u", first, turn->stats.prompt_tokens,
                        turn->stats.prompt_evaluated_tokens);

        /* Reset keeps only the system prompt: the next turn is as long as the first. */
        cr_assert_eq(text_engine_chat_reset(te, chat), 0);
        chat_send(te, chat, "Hello, who are you?", 8, turn);
        cr_assert_eq(g->n_used, 4, "tokens_used after the reset and after the turn");
        cr_assert_eq(turn->n_finished, 1, "%s: %s", turn->error, turn->message);
        cr_assert_eq(turn->stats.prompt_tokens, first);
        cr_assert_eq(g->n_overflow, 0);

        cr_assert_eq(text_engine_chat_close(te, chat), 0);
        cr_assert_eq(text_engine_chat_close(te, chat), -ENOENT);
        text_engine_free(te);
        free(g);
        free(turn);
}

Test(text_engine, chat_overflow_drops_oldest_turns)
{
        _cleanup_free_ char *path = model_file(PHI3, ".gguf");
        struct text_engine *te = engine(1, 64, 0, 0);
        struct got *g = calloc(1, sizeof(*g)), *turn = calloc(1, sizeof(*turn));
        uint64_t chat;

        cr_assert_eq(text_engine_chat_new(te, "app.a", "phi3", path, "Be brief.", &events, g, &chat), 0);
        for (int i = 0; i < 6; i++) {
                chat_send(te, chat, "What happened to the quick brown fox?", 8, turn);
                cr_assert_eq(turn->n_failed, 0, "turn %d: %s: %s", i, turn->error, turn->message);
                cr_assert_leq(g->used, 64);
        }
        cr_assert_gt(g->n_overflow, 0, "a 64-token context held six turns");
        cr_assert_geq(g->dropped, g->n_overflow);
        text_engine_free(te);
        free(g);
        free(turn);
}

Test(text_engine, chat_close_while_answering)
{
        _cleanup_free_ char *path = model_file(PHI3, ".gguf");
        struct text_engine *te = engine(1, 0, 0, 0);
        struct got *g = calloc(1, sizeof(*g)), *turn = calloc(1, sizeof(*turn));
        struct text_job_params p = greedy(NULL, NULL, NULL, 300);
        uint64_t chat;

        cr_assert_eq(text_engine_chat_new(te, "app.a", "phi3", path, NULL, &events, g, &chat), 0);
        turn->te = te;
        cr_assert_eq(text_engine_chat_send(te, chat, "Hello", &p, &events, turn, &turn->job), 0);
        cr_assert_eq(text_engine_chat_close(te, chat), 0);
        run_until_ended(&turn, 1);
        cr_assert_str_eq(turn->error, AID_ERROR_CANCELLED);
        text_engine_free(te);
        free(g);
        free(turn);
}

Test(text_engine, chat_without_template_fails_clearly)
{
        _cleanup_free_ char *path = model_file(LLAMA, ".gguf");
        struct text_engine *te = engine(1, 0, 0, 0);
        struct got *g = calloc(1, sizeof(*g)), *turn = calloc(1, sizeof(*turn));
        uint64_t chat;

        cr_assert_eq(text_engine_chat_new(te, "app.a", "llama", path, NULL, &events, g, &chat), 0);
        chat_send(te, chat, "Hello", 8, turn);
        cr_assert_str_eq(turn->error, AID_ERROR_MODEL_UNAVAILABLE);
        cr_assert(strstr(turn->message, "chat template"), "%s", turn->message);
        text_engine_free(te);
        free(g);
        free(turn);
}

static enum text_model_state states[16];
static double progresses[16];
static unsigned n_states;

static void on_state(void *userdata, const char *path, enum text_model_state state, double progress,
                const char *reason)
{
        cr_assert_lt(n_states, ELEMENTSOF(states));
        progresses[n_states] = progress;
        states[n_states++] = state;
}

Test(text_engine, model_loads_on_first_use_and_unloads_when_idle)
{
        _cleanup_free_ char *path = model_file(LLAMA, ".gguf"),
                            *missing = model_file("no-such-model", ".gguf");
        struct text_engine *te = engine(1, 0, 0, 300 * 1000);
        struct text_job_params p = greedy("app.a", path, "The dog", 4);
        struct got *g = calloc(2, sizeof(*g));
        const char *reason;

        n_states = 0;
        text_engine_set_model_state_callback(te, on_state, NULL);
        cr_assert_eq(text_engine_model_state(te, path, NULL, NULL), TEXT_MODEL_UNLOADED);
        submit(te, &p, &g[0]);
        run_until_ended(&g, 1);
        assert_finished(&g[0], "length");
        /* Loading from 0, the weights read with progress up to 1, then ready. */
        cr_assert_geq(n_states, 3);
        cr_assert_eq(states[0], TEXT_MODEL_LOADING);
        cr_assert_eq(progresses[0], 0.0);
        for (unsigned i = 1; i + 1 < n_states; i++) {
                cr_assert_eq(states[i], TEXT_MODEL_LOADING);
                cr_assert_geq(progresses[i], progresses[i - 1], "progress went backwards");
        }
        cr_assert_eq(progresses[n_states - 2], 1.0, "the weights were not all read");
        cr_assert_eq(states[n_states - 1], TEXT_MODEL_READY);
        cr_assert_eq(text_engine_model_state(te, path, NULL, NULL), TEXT_MODEL_READY);

        unsigned loaded = n_states;
        for (int i = 0; i < 50 && n_states == loaded; i++)
                cr_assert_geq(sd_event_run(loop, 100000), 0);
        cr_assert_eq(n_states, loaded + 1, "not unloaded after the idle time");
        cr_assert_eq(states[loaded], TEXT_MODEL_UNLOADED);
        cr_assert_eq(text_engine_model_state(te, path, NULL, NULL), TEXT_MODEL_UNLOADED);

        /* A model that cannot load: the job fails and the state says why. */
        p.model_path = missing;
        submit(te, &p, &g[1]);
        struct got *g1 = &g[1];
        run_until_ended(&g1, 1);
        cr_assert_str_eq(g[1].error, AID_ERROR_MODEL_UNAVAILABLE);
        cr_assert_eq(text_engine_model_state(te, missing, NULL, &reason), TEXT_MODEL_FAILED);
        cr_assert_not_null(reason);
        text_engine_free(te);
        free(g);
}

/* One model at a time: a job for another model waits until the running jobs end, and a job of
 * the loaded model that comes after it does not overtake it (two slots, so it could). */
Test(text_engine, a_job_for_another_model_waits_for_the_running_ones_and_is_not_overtaken)
{
        _cleanup_free_ char *llama = model_file(LLAMA, ".gguf"), *phi3 = model_file(PHI3, ".gguf");
        struct text_engine *te = engine(2, 0, 0, 0);
        struct got *solo = calloc(2, sizeof(*solo)), *g = calloc(3, sizeof(*g));
        struct text_job_params a1 = greedy("app.a", llama, "The dog", 200),
                               b = greedy("app.b", phi3, "Hello there", 12),
                               a2 = greedy("app.a", llama, "Once upon a time", 12);

        /* Each short job alone, for its text. */
        submit(te, &b, &solo[0]);
        run_until_ended(&solo, 1);
        struct got *solo1 = &solo[1];
        submit(te, &a2, solo1);
        run_until_ended(&solo1, 1);

        n_ended = 0;
        n_states = 0;
        text_engine_set_model_state_callback(te, on_state, NULL);
        submit(te, &a1, &g[0]);
        /* The long job runs (and so holds the model) before the others come. */
        while (g[0].n_tokens == 0 && !ended(&g[0]))
                cr_assert_geq(sd_event_run(loop, 100000), 0);
        cr_assert_not(ended(&g[0]));
        submit(te, &b, &g[1]);
        submit(te, &a2, &g[2]);
        run_until_ended((struct got *[]){ &g[0], &g[1], &g[2] }, 3);
        for (int i = 0; i < 3; i++)
                assert_finished(&g[i], "length");
        cr_assert_eq(g[0].order, 1, "the running job did not end first (ended %d)", g[0].order);
        cr_assert_eq(g[1].order, 2, "the other model's job was overtaken (ended %d)", g[1].order);
        cr_assert_eq(g[2].order, 3);
        cr_assert_str_eq(g[1].text, solo[0].text, "the other model's text differs from its solo run");
        cr_assert_str_eq(g[2].text, solo[1].text, "the text after the swaps differs from its solo run");

        /* llama (loaded by the solo run) out, phi3 in and out, llama in again. */
        unsigned i = 0, swaps = 0;
        cr_assert_eq(states[i++], TEXT_MODEL_UNLOADED);
        for (; i < n_states; i++)
                swaps += states[i] == TEXT_MODEL_READY;
        cr_assert_eq(swaps, 2, "%u models became ready in %u state changes", swaps, n_states);
        cr_assert_eq(text_engine_model_state(te, llama, NULL, NULL), TEXT_MODEL_READY);
        cr_assert_eq(text_engine_model_state(te, phi3, NULL, NULL), TEXT_MODEL_UNLOADED);
        text_engine_free(te);
        free(solo);
        free(g);
}

/* A chat does not pin its model: after another model ran between two turns, the second turn
 * evaluates the conversation again and answers as it would have without the swap. */
Test(text_engine, a_chat_answers_the_same_after_its_model_was_swapped_out)
{
        _cleanup_free_ char *llama = model_file(LLAMA, ".gguf"), *phi3 = model_file(PHI3, ".gguf");
        struct text_engine *te = engine(2, 0, 0, 0);
        struct got *g = calloc(1, sizeof(*g)), *turn = calloc(1, sizeof(*turn)),
                   *other = calloc(1, sizeof(*other));
        struct text_job_params p = greedy("app.b", llama, "The dog", 8);
        _cleanup_free_ char *reference = NULL;
        uint64_t chat;
        uint32_t tokens;

        /* The reference: two turns in a row. */
        cr_assert_eq(text_engine_chat_new(te, "app.a", "phi3", phi3, "Be brief.", &events, g, &chat), 0);
        chat_send(te, chat, "Hello, who are you?", 8, turn);
        chat_send(te, chat, "Tell me more about the fox.", 8, turn);
        cr_assert_eq(turn->n_finished, 1, "%s: %s", turn->error, turn->message);
        reference = strndup(turn->text, turn->len);
        tokens = turn->stats.prompt_tokens;
        cr_assert_lt(turn->stats.prompt_evaluated_tokens, tokens, "the first turn was evaluated again");
        cr_assert_eq(text_engine_chat_close(te, chat), 0);

        /* The same turns with another model's job between them. */
        cr_assert_eq(text_engine_chat_new(te, "app.a", "phi3", phi3, "Be brief.", &events, g, &chat), 0);
        chat_send(te, chat, "Hello, who are you?", 8, turn);
        submit(te, &p, other);
        run_until_ended(&other, 1);
        assert_finished(other, "length");
        cr_assert_eq(text_engine_model_state(te, phi3, NULL, NULL), TEXT_MODEL_UNLOADED);
        chat_send(te, chat, "Tell me more about the fox.", 8, turn);
        cr_assert_eq(turn->n_finished, 1, "%s: %s", turn->error, turn->message);
        cr_assert_eq(turn->stats.prompt_tokens, tokens);
        cr_assert_eq(turn->stats.prompt_evaluated_tokens, tokens, "the cache outlived its model");
        cr_assert_eq(turn->len, strlen(reference));
        cr_assert_str_eq(turn->text, reference, "the answer after the swap differs");
        cr_assert_eq(text_engine_chat_close(te, chat), 0);
        text_engine_free(te);
        free(g);
        free(turn);
        free(other);
}
