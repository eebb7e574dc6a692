/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The text worker's thread: the model, its context, the scheduler, and one batched step after
 * another (text-engine.h says what it does for the daemon, text-engine.c how the loop talks
 * to it). */

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "aid-errors.h"
#include "gguf.h"
#include "log.h"
#include "model-lease.h"
#include "text-engine-private.h"
#include "utf8.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void *mfree_p(void *p)
{
        free(p);
        return NULL;
}

#define DEFAULT_N_CTX_MAX 4096
/* With a step budget (prefill_step_usec): the prompt tokens of the first steps, before the
 * cost of a step is known, and the fewest a step takes whatever the decode load. */
#define PREFILL_FIRST_ROWS 16
#define PREFILL_MIN_ROWS   4
/* A prompt that completes in a step may take it a quarter over the budget: a short request's
 * prompt that costs about the budget alone is not cut in two steps by the noise of the
 * measurements, which would cost its request one more reading of the weights. */
#define PREFILL_COMPLETE_SLACK 4
#define BATCH_QUANTUM      16
/* After a step was interrupted, this long without whole-chunk steps: requests come in bursts,
 * and a burst must not throw away one chunk's work per request. */
#define SOLO_QUIET_USEC (2 * 1000000u)

/* ---- worker: jobs and chats ---------------------------------------------------------------- */

struct job *text_job_free(struct job *j)
{
        if (!j)
                return NULL;
        free(j->app_id);
        free(j->model_id);
        free(j->model_path);
        free(j->prompt);
        strv_free(j->stop);
        free(j->tokens);
        aid_sampler_free(j->sampler);
        aid_detokenizer_free(j->detok);
        aid_stop_free(j->stopper);
        free(j->answer);
        free(j->fix);
        if (j->sink.release)
                j->sink.release(j->sink.data);
        free(j);
        return NULL;
}

struct chat *text_chat_free(struct chat *c)
{
        if (!c)
                return NULL;
        free(c->app_id);
        free(c->model_id);
        free(c->model_path);
        for (size_t i = 0; i < c->n_msgs; i++)
                free((char *)c->msgs[i].content);
        free(c->msgs);
        free(c->cache);
        free(c);
        return NULL;
}

static void chat_unbind(struct text_engine *te, struct chat *c)
{
        if (c->seq >= 0) {
                if (te->ctx)
                        aid_kv_seq_clear(te->ctx, (uint32_t)c->seq);
                if (te->slot_used)
                        te->slot_used[c->seq] = false;
        }
        c->seq = -1;
        c->cache = mfree_p(c->cache);
}

static void chat_drop_message(struct chat *c, size_t i)
{
        free((char *)c->msgs[i].content);
        memmove(c->msgs + i, c->msgs + i + 1, (c->n_msgs - i - 1) * sizeof(c->msgs[0]));
        c->n_msgs--;
}

int text_chat_add_message(struct chat *c, enum aid_chat_role role, const char *text, size_t len)
{
        struct aid_chat_message *m = realloc(c->msgs, (c->n_msgs + 1) * sizeof(c->msgs[0]));
        char *s;

        if (!m)
                return -ENOMEM;
        c->msgs = m;
        s = strndup(text ? text : "", text ? len : 0);
        if (!s)
                return -ENOMEM;
        c->msgs[c->n_msgs++] = (struct aid_chat_message){ .role = role, .content = s };
        return 0;
}

/* Ends a job that has its last event posted: frees its sequence (a chat keeps its own). */
static void job_release(struct text_engine *te, struct job *j)
{
        if (j->state == JOB_QUEUED)
                sched_remove(te->sched, &j->item);
        else {
                te->n_running--;
                if (!j->chat && j->seq >= 0)
                        te->slot_used[j->seq] = false;
        }
        if (j->chat) {
                j->chat->job = NULL;
                j->chat->last_used_usec = now_usec();
        }
        if (j->prev)
                j->prev->next = j->next;
        else
                te->jobs = j->next;
        if (j->next)
                j->next->prev = j->prev;
        te->last_used_usec = now_usec();
        text_job_free(j);
}

/* A turn that did not finish leaves no trace in the conversation. */
static void job_fail(struct text_engine *te, struct job *j, const char *name, const char *message)
{
        if (j->chat && j->turn_added)
                chat_drop_message(j->chat, j->chat->n_msgs - 1);
        te_post_failed(te, j->id, name, "%s", message);
        job_release(te, j);
}

static void job_finish(struct text_engine *te, struct job *j, const char *reason)
{
        struct event *e = calloc(1, sizeof(*e));
        uint64_t now = now_usec();

        if (j->chat) {
                /* The answer joins the conversation; the KV cache already holds its tokens. */
                (void)text_chat_add_message(j->chat, AID_CHAT_ASSISTANT, j->answer, j->answer_len);
                if (j->chat->seq >= 0)
                        te_post_simple(te, EV_TOKENS_USED, j->chat->id,
                                        aid_kv_seq_len(te->ctx, (uint32_t)j->chat->seq));
        }
        if (e) {
                e->type = EV_FINISHED;
                e->id = j->id;
                e->stats.prompt_tokens = (uint32_t)j->n_tokens;
                e->stats.prompt_evaluated_tokens = j->n_evaluated;
                e->stats.generated_tokens = j->generated;
                if (j->first_token_usec == 0)
                        j->first_token_usec = now;
                e->stats.time_to_first_token_usec = j->first_token_usec - j->submit_usec;
                if (j->generated > 1 && now > j->first_token_usec)
                        e->stats.tokens_per_second = (double)(j->generated - 1) * 1e6 /
                                                     (double)(now - j->first_token_usec);
                e->stats.finish_reason = reason;
                e->model_id = j->model_id ? strdup(j->model_id) : NULL;
                te_post_event(te, e);
        }
        job_release(te, j);
}

static struct job *job_find(struct text_engine *te, uint64_t id)
{
        for (struct job *j = te->jobs; j; j = j->next)
                if (j->id == id)
                        return j;
        return NULL;
}

static struct chat *chat_find(struct text_engine *te, uint64_t id)
{
        for (struct chat *c = te->chats; c; c = c->next)
                if (c->id == id)
                        return c;
        return NULL;
}

/* ---- worker: the model ---------------------------------------------------------------------- */

/* Lets a writer waiting on the model file's lease go on: only once the file is unmapped. */
static void lease_release(struct text_engine *te)
{
        if (te->lease_fd >= 0)
                close(te->lease_fd);
        te->lease_fd = -1;
}

static void model_unload(struct text_engine *te)
{
        if (!te->model)
                return;
        for (struct chat *c = te->chats; c; c = c->next)
                chat_unbind(te, c);
        te->ctx = aid_context_free(te->ctx);
        te->model = aid_model_free(te->model);
        lease_release(te);
        te->tmpl = aid_chat_template_free(te->tmpl);
        te_post_model_state(te, te->model_path, TEXT_MODEL_UNLOADED, 0, NULL);
        te->model_path = mfree_p(te->model_path);
        te->n_ctx = 0;
}

/* Stops a step that may be stopped when a command should not wait for it (step()). */
static bool step_interrupted(void *userdata)
{
        struct text_engine *te = userdata;

        return te->step_interruptible && atomic_load_explicit(&te->urgent, memory_order_relaxed);
}

struct load_progress {
        struct text_engine *te;
        const char *path;
};

/* The weights being read from disk are what takes time in a load: their bytes are the
 * progress the Models property shows. Stops when the daemon does. */
static int load_progress(uint64_t done, uint64_t total, void *userdata)
{
        struct load_progress *lp = userdata;
        bool quit;

        te_post_model_state(lp->te, lp->path, TEXT_MODEL_LOADING, total ? (double)done / (double)total : 1.0,
                        NULL);
        pthread_mutex_lock(&lp->te->lock);
        quit = lp->te->quit;
        pthread_mutex_unlock(&lp->te->lock);
        return quit ? -ECANCELED : 0;
}

static int model_load(struct text_engine *te, const char *path, struct aid_error *err)
{
        struct aid_context_params cp = {};
        struct aid_error terr = {};
        uint32_t n_ctx;
        int r;

        model_unload(te);
        te_post_model_state(te, path, TEXT_MODEL_LOADING, 0, NULL);
        r = model_lease_take(path, &te->lease_fd, err);
        if (r >= 0)
                r = aid_model_load(path, &te->model, err);
        /* Replaced by a rename between the lease and the load: the lease guards another file. */
        if (r >= 0 && !model_lease_is_file(te->lease_fd, path))
                r = aid_error_set(
                                err, -EAGAIN, "%s was replaced while it was being loaded; try again", path);
        if (r >= 0 && !aid_model_tokenizer(te->model))
                r = aid_error_set(err, -EOPNOTSUPP, "%s has no usable vocabulary: %s", path,
                                aid_model_tokenizer_problem(te->model));
        if (r >= 0) {
                struct load_progress lp = { te, path };
                r = gguf_prefault(aid_model_gguf(te->model), load_progress, &lp, err);
        }
        if (r >= 0) {
                n_ctx = aid_model_hparams(te->model)->n_ctx_train;
                if (te->config.n_ctx > 0)
                        n_ctx = MIN(n_ctx, te->config.n_ctx);
                else
                        n_ctx = MIN(n_ctx, DEFAULT_N_CTX_MAX);
                cp.n_ctx = n_ctx;
                cp.n_seq_max = te->config.n_seq_max;
                cp.n_batch = te->config.n_seq_max + te->config.prefill_chunk;
                cp.n_threads = te->config.n_threads;
                r = aid_context_new(te->model, &cp, &te->ctx, err);
                if (r >= 0) {
                        aid_context_set_interrupt(te->ctx, step_interrupted, te);
                        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
                        cpu_share_init(&te->cpu, cpus > 0 ? (unsigned)cpus : 1,
                                        aid_context_set_threads(te->ctx, UINT32_MAX));
                }
        }
        if (r < 0) {
                te->model = aid_model_free(te->model);
                lease_release(te);
                te_post_model_state(te, path, TEXT_MODEL_FAILED, 0, err->message);
                return r;
        }
        te->n_ctx = n_ctx;
        te->model_path = strdup(path);
        if (!te->model_path) {
                te->ctx = aid_context_free(te->ctx);
                te->model = aid_model_free(te->model);
                lease_release(te);
                return aid_error_set(err, -ENOMEM, "out of memory");
        }
        memset(te->slot_used, 0, te->config.n_seq_max * sizeof(bool));
        te->step_cost = (struct step_cost){};
        te->step_cost_cold = true;
        r = aid_chat_template_from_gguf(aid_model_gguf(te->model), &te->tmpl, &terr);
        if (r == -ENODATA)
                snprintf(te->tmpl_error, sizeof(te->tmpl_error),
                                "this model has no chat template (tokenizer.chat_template): it can only "
                                "complete text");
        else if (r < 0)
                snprintf(te->tmpl_error, sizeof(te->tmpl_error), "%.480s", terr.message);
        te_post_model_state(te, path, TEXT_MODEL_READY, 1, NULL);
        return 0;
}

/* ---- worker: starting a job ----------------------------------------------------------------- */

static int slot_take(struct text_engine *te)
{
        struct chat *lru = NULL;

        for (uint32_t i = 0; i < te->config.n_seq_max; i++)
                if (!te->slot_used[i]) {
                        te->slot_used[i] = true;
                        return (int)i;
                }
        for (struct chat *c = te->chats; c; c = c->next)
                if (c->seq >= 0 && (!c->job || c->job->state == JOB_QUEUED) &&
                                (!lru || c->last_used_usec < lru->last_used_usec))
                        lru = c;
        if (!lru)
                return -EBUSY;
        chat_unbind(te, lru);
        return slot_take(te);
}

static bool slot_available(struct text_engine *te)
{
        for (uint32_t i = 0; i < te->config.n_seq_max; i++)
                if (!te->slot_used[i])
                        return true;
        for (struct chat *c = te->chats; c; c = c->next)
                if (c->seq >= 0 && (!c->job || c->job->state == JOB_QUEUED))
                        return true;
        return false;
}

static enum sched_verdict judge(struct sched_item *it, void *userdata)
{
        struct text_engine *te = userdata;
        struct job *j = container_of(it, struct job, item);

        if (!te->model || strcmp(j->model_path, te->model_path) != 0)
                return te->n_running == 0 ? SCHED_START : SCHED_BLOCK;
        if (j->chat && j->chat->seq >= 0)
                return SCHED_START;
        return slot_available(te) ? SCHED_START : SCHED_SKIP;
}

static int tokenize(struct text_engine *te, const char *text, unsigned flags, struct job *j,
                struct aid_error *err)
{
        j->tokens = mfree_p(j->tokens);
        return aid_tokenize(aid_model_tokenizer(te->model), text, strlen(text), flags, &j->tokens,
                        &j->n_tokens, err);
}

/* Formats the conversation with the new message, dropping the oldest turns after the system
 * prompt while the prompt and some room for the answer do not fit. */
static int chat_prompt(struct text_engine *te, struct job *j, struct aid_error *err)
{
        struct chat *c = j->chat;
        const struct aid_chat_options opts = { .add_generation_prompt = true, .strip_bos = true };
        uint32_t reserve = MIN(j->max_tokens, te->n_ctx / 4), dropped = 0;
        size_t first = c->has_system ? 1 : 0;
        int r;

        r = text_chat_add_message(c, AID_CHAT_USER, j->prompt, strlen(j->prompt));
        if (r < 0)
                return aid_error_set(err, r, "out of memory");
        j->turn_added = true;
        for (;;) {
                _cleanup_free_ char *text = NULL;
                bool bos_in_text;

                r = aid_chat_format(te->tmpl, c->msgs, c->n_msgs, &opts, &text, &bos_in_text, err);
                if (r < 0)
                        break;
                r = tokenize(te, text, AID_TOKENIZE_ADD_SPECIAL | AID_TOKENIZE_PARSE_SPECIAL, j, err);
                if (r < 0)
                        break;
                if (j->n_tokens + reserve <= te->n_ctx || c->n_msgs - first < 3)
                        break;
                /* A turn: the user's message and the answer to it. */
                chat_drop_message(c, first);
                if (c->n_msgs - first > 1 && c->msgs[first].role == AID_CHAT_ASSISTANT)
                        chat_drop_message(c, first);
                dropped++;
        }
        if (r < 0) {
                chat_drop_message(c, c->n_msgs - 1);
                j->turn_added = false;
                return r;
        }
        if (dropped > 0)
                te_post_simple(te, EV_OVERFLOW, c->id, dropped);
        return 0;
}

static int job_start(struct text_engine *te, struct job *j, struct aid_error *err)
{
        const struct aid_tokenizer *tok = aid_model_tokenizer(te->model);
        uint32_t limit = te->n_ctx;
        const char *limit_what = "this model's context holds";
        size_t n_stop = j->n_stop;
        _cleanup_free_ const char **stops = NULL;
        int r, seq;

        if (j->chat) {
                if (!te->tmpl)
                        return aid_error_set(err, -EOPNOTSUPP, "%s", te->tmpl_error);
                r = chat_prompt(te, j, err);
        } else
                r = tokenize(te, j->prompt, AID_TOKENIZE_ADD_SPECIAL, j, err);
        if (r < 0)
                return r;
        if (j->max_prompt_tokens > 0 && j->max_prompt_tokens < limit) {
                limit = j->max_prompt_tokens;
                limit_what = "the limit is";
        }
        if (j->n_tokens == 0)
                return aid_error_set(err, -EINVAL, "the prompt has no tokens");
        if (j->n_tokens > limit) {
                r = aid_error_set(err, -E2BIG, "prompt has %zu tokens; %s %" PRIu32, j->n_tokens, limit_what,
                                limit);
                goto fail_chat;
        }

        stops = calloc(n_stop + 1, sizeof(char *));
        if (!stops)
                return aid_error_set(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < n_stop; i++)
                stops[i] = j->stop[i];
        if (j->chat) {
                /* The end of a turn stops the answer; most vocabularies mark it end-of-generation,
                 * for the others it is a stop string. */
                const char *eot = aid_chat_template_end_of_turn(te->tmpl);
                int32_t id = aid_tokenizer_find(tok, eot, strlen(eot));
                if (id < 0 || !aid_tokenizer_is_eog(tok, id))
                        stops[n_stop++] = eot;
        }
        if ((r = aid_sampler_new(&j->sampling, &j->sampler, err)) < 0 ||
                        (r = aid_stop_new(stops, n_stop, &j->stopper, err)) < 0)
                goto fail_chat;
        if ((r = aid_detokenizer_new(tok, 0, &j->detok)) < 0) {
                aid_error_set(err, r, "cannot make a detokenizer");
                goto fail_chat;
        }

        if (j->chat && j->chat->seq >= 0)
                seq = j->chat->seq;
        else {
                seq = slot_take(te);
                if (seq < 0) {
                        r = aid_error_set(err, seq, "no free sequence");
                        goto fail_chat;
                }
                aid_kv_seq_clear(te->ctx, (uint32_t)seq);
                if (j->chat) {
                        j->chat->cache = calloc(te->n_ctx, sizeof(int32_t));
                        if (!j->chat->cache) {
                                te->slot_used[seq] = false;
                                r = aid_error_set(err, -ENOMEM, "out of memory");
                                goto fail_chat;
                        }
                        j->chat->seq = seq;
                }
        }
        j->seq = seq;
        j->n_done = 0;
        if (j->chat) {
                /* Reuse what the cache already holds of this conversation; at least the last
                 * prompt token is evaluated again, for its logits. */
                uint32_t have = aid_kv_seq_len(te->ctx, (uint32_t)seq);
                size_t common = 0;
                while (common < have && common < j->n_tokens && j->chat->cache[common] == j->tokens[common])
                        common++;
                if (common == j->n_tokens)
                        common--;
                aid_kv_seq_truncate(te->ctx, (uint32_t)seq, (uint32_t)common);
                j->n_done = common;
                te_post_simple(te, EV_CHAT_CTX, j->chat->id, te->n_ctx);
        }
        for (size_t i = 0; i < j->n_tokens; i++)
                aid_sampler_accept(j->sampler, j->tokens[i]);
        j->pending = -1;
        j->state = JOB_PREFILL;
        te->n_running++;
        return 0;

fail_chat:
        if (j->chat && j->turn_added) {
                chat_drop_message(j->chat, j->chat->n_msgs - 1);
                j->turn_added = false;
        }
        return r;
}

static const char *error_name_for(int r)
{
        switch (r) {
        case -E2BIG:
                return AID_ERROR_TOO_LARGE;
        case -EOPNOTSUPP:
        case -ENOENT:
                return AID_ERROR_MODEL_UNAVAILABLE;
        case -EINVAL:
                return AID_ERROR_BAD_INPUT;
        default:
                return AID_ERROR_INTERNAL;
        }
}

static enum sched_verdict judge_path(struct sched_item *it, void *userdata)
{
        struct job *j = container_of(it, struct job, item);
        return strcmp(j->model_path, userdata) == 0 ? SCHED_START : SCHED_SKIP;
}

static void admit(struct text_engine *te)
{
        struct sched_item *it;

        while ((it = sched_pop(te->sched, judge, te))) {
                struct job *j = container_of(it, struct job, item);
                struct aid_error err = {};
                int r;

                if (!te->model || strcmp(j->model_path, te->model_path) != 0) {
                        r = model_load(te, j->model_path, &err);
                        if (r < 0) {
                                /* Everyone waiting for this model learns why it is not there. */
                                _cleanup_free_ char *path = strdup(j->model_path);
                                job_fail(te, j, AID_ERROR_MODEL_UNAVAILABLE, err.message);
                                while (path && (it = sched_pop(te->sched, judge_path, path)))
                                        job_fail(te, container_of(it, struct job, item),
                                                        AID_ERROR_MODEL_UNAVAILABLE, err.message);
                                continue;
                        }
                }
                /* A job that fails to start is still JOB_QUEUED: taken out of the queue, holding
                 * no slot of its own. */
                r = job_start(te, j, &err);
                if (r < 0)
                        job_fail(te, j, error_name_for(r), err.message);
        }
}

/* ---- worker: one step of continuous batching ------------------------------------------------ */

static void emit(struct text_engine *te, struct job *j, const char *text, size_t len)
{
        len = utf8_valid_prefix(text, len);
        if (len == 0)
                return;
        if (j->chat) {
                char *a = realloc(j->answer, j->answer_len + len + 1);
                if (a) {
                        memcpy(a + j->answer_len, text, len);
                        j->answer_len += len;
                        a[j->answer_len] = 0;
                        j->answer = a;
                }
        }
        if (j->sink.token)
                j->sink.token(j->sink.data, text, len);
        else
                te_post_token(te, j->id, text, len);
}

/* Releases what the detokenizer and the stop matcher hold back; true when that completed a
 * stop string. */
static bool flush_text(struct text_engine *te, struct job *j)
{
        struct aid_stop_chunk chunk;
        const char *text;
        size_t len;

        if (aid_detokenizer_flush(j->detok, &text, &len) >= 0 && len > 0 &&
                        utf8_sanitize(text, len, &j->fix, &j->fix_cap, &len) >= 0 &&
                        aid_stop_feed(j->stopper, j->fix, len, &chunk) >= 0) {
                emit(te, j, chunk.text, chunk.len);
                if (chunk.stopped)
                        return true;
        }
        if (aid_stop_flush(j->stopper, &chunk) >= 0)
                emit(te, j, chunk.text, chunk.len);
        return false;
}

/* Samples the next token from the job's logits and streams its text. */
static void job_next_token(struct text_engine *te, struct job *j, const float *logits)
{
        const struct aid_tokenizer *tok = aid_model_tokenizer(te->model);
        struct aid_stop_chunk chunk;
        const char *text;
        size_t len;
        int32_t t;

        t = aid_sampler_sample(j->sampler, logits, aid_model_hparams(te->model)->n_vocab);
        if (t < 0) {
                job_fail(te, j, AID_ERROR_INTERNAL, "sampling failed: the logits have no finite value");
                return;
        }
        aid_sampler_accept(j->sampler, t);
        if (j->first_token_usec == 0)
                j->first_token_usec = now_usec();
        if (aid_tokenizer_is_eog(tok, t)) {
                job_finish(te, j, flush_text(te, j) ? "stop" : "eos");
                return;
        }
        j->generated++;
        if (aid_detokenizer_push(j->detok, t, &text, &len) < 0 ||
                        utf8_sanitize(text, len, &j->fix, &j->fix_cap, &len) < 0 ||
                        aid_stop_feed(j->stopper, j->fix, len, &chunk) < 0) {
                job_fail(te, j, AID_ERROR_INTERNAL, "out of memory");
                return;
        }
        emit(te, j, chunk.text, chunk.len);
        if (chunk.stopped) {
                job_finish(te, j, "stop");
                return;
        }
        if (j->generated >= j->max_tokens) {
                job_finish(te, j, flush_text(te, j) ? "stop" : "length");
                return;
        }
        j->pending = t;
        j->state = JOB_DECODE;
}

/* What the prompt tokens of this step may be besides n_decode running generations (at
 * positions summing to decode_pos_sum): PrefillChunk tokens at most, and where a step budget is
 * set, what the measured cost of a step lets end within it, counting that rows deep in a long
 * prompt cost more (at least PREFILL_MIN_ROWS, so that prompts advance whatever the decode load).
 * A prompt that is the only work (solo) takes whole chunks, the fastest way through it, in a step
 * that a new request interrupts (step_interrupted()): it then waits for a panel of a matrix
 * product (a few milliseconds), not one step. Other steps without generations in them may be
 * interrupted too (step()). */
static struct prefill_limit prefill_limit(
                struct text_engine *te, size_t n_decode, double decode_pos_sum, bool solo)
{
        struct prefill_limit lim = {
                .max_rows = te->config.prefill_chunk, .cost = INFINITY, .complete_cost = INFINITY
        };

        if (te->config.prefill_step_usec > 0 && !solo) {
                uint64_t budget = te->config.prefill_step_usec;
                double left = step_cost_rows_left(&te->step_cost, budget, n_decode, decode_pos_sum);
                double complete_left = step_cost_rows_left(&te->step_cost,
                                budget + budget / PREFILL_COMPLETE_SLACK, n_decode, decode_pos_sum);
                /* Not measured yet: a small first step, which measures it. */
                lim.cost = isnan(left) ? PREFILL_FIRST_ROWS : MAX(left, 0.0);
                lim.complete_cost = isnan(left) ? PREFILL_FIRST_ROWS : MAX(complete_left, 0.0);
                /* No generation waits for this step: the prompts that complete in it are not held
                 * to the budget (within the kernels' rows below), so that requests that come
                 * together get their first tokens together, one step on, rather than a step
                 * each. A new request still interrupts such a step. */
                if (n_decode == 0)
                        lim.complete_cost = INFINITY;
                lim.pos_weight = isnan(left) ? 0.0 : step_cost_pos_weight(&te->step_cost);
                lim.min_rows = PREFILL_MIN_ROWS;
                /* The cost is measured on the batched kernels' steps: a larger one would go to
                 * oneDNN, where two prompts of 24 tokens took 633 ms, not the 60 expected. */
                size_t kernel_rows = aid_context_batch_rows_max(te->ctx);
                lim.max_rows = MIN(lim.max_rows, kernel_rows >= n_decode + PREFILL_MIN_ROWS
                                                                 ? kernel_rows - n_decode
                                                                 : PREFILL_MIN_ROWS);
        }
        return lim;
}

/* Large batches go to oneDNN, which keeps a primitive per batch size: whole multiples of
 * BATCH_QUANTUM rows keep their number small (and the cache of them warm). The prompts that do
 * not complete in this step give back what is over a multiple. */
static void round_to_quantum(struct text_engine *te, size_t n_decode, struct prefill_want *w, size_t n)
{
        size_t total = n_decode, over;

        for (size_t k = 0; k < n; k++)
                total += w[k].take;
        /* The batched kernels take any count up to their most. */
        if (total <= aid_context_batch_rows_max(te->ctx) ||
                        total / BATCH_QUANTUM * BATCH_QUANTUM < n_decode + PREFILL_MIN_ROWS)
                return;
        over = total % BATCH_QUANTUM;
        for (size_t k = n; k-- > 0 && over > 0;)
                if (w[k].take > 0 && w[k].take < w[k].remaining) {
                        size_t cut = MIN(over, w[k].take);
                        w[k].take -= cut;
                        w[k].passed_over = w[k].take == 0;
                        over -= cut;
                }
}

/* Small batches go to kernels that take rows in fours: a step whose last row would cost a
 * pass of its own gives that row back, from a prompt that does not complete in this step
 * anyway (one that does keeps it: a request's first token is not put off a step). Llama-3.2-1B
 * Q4_0 on 2 threads, one generation and prompt tokens: 9 rows took 46.6-48.7 ms, 8 rows 36.2. */
static void trim_costly_row(struct text_engine *te, size_t n_decode, struct prefill_want *w, size_t n)
{
        size_t total = n_decode;

        if (n == 0)
                return; /* a step of generations only: nothing to give back */
        for (size_t k = 0; k < n; k++)
                total += w[k].take;
        if (aid_context_batch_best_rows(te->ctx, total) == total)
                return;
        for (size_t k = 0; k < n; k++)
                if (w[k].take > 1 && w[k].take < w[k].remaining) {
                        w[k].take--;
                        return;
                }
}

static void step(struct text_engine *te)
{
        struct aid_error err = {};
        struct job *j, *next;
        size_t n = 0, n_decode = 0, n_prefill = 0, n_jobs = 0;
        double decode_pos_sum = 0, pos_sum = 0;
        long n_logits = 0;
        bool solo, learn;
        uint64_t start;
        int r;

        for (j = te->jobs; j; j = next) {
                next = j->next;
                j->take = 0;
                j->logits_at = -1;
                n_jobs++;
                if (j->state == JOB_DECODE) {
                        uint32_t pos = aid_kv_seq_len(te->ctx, (uint32_t)j->seq);
                        if (pos >= te->n_ctx) {
                                job_finish(te, j, flush_text(te, j) ? "stop" : "context");
                                continue;
                        }
                        te->batch[n++] = (struct aid_batch_entry){ j->pending, (uint32_t)j->seq, pos, true };
                        j->logits_at = n_logits++;
                        n_decode++;
                        decode_pos_sum += pos;
                } else if (j->state == JOB_PREFILL) {
                        te->prefill_jobs[n_prefill] = j;
                        te->prefill_wants[n_prefill++] = (struct prefill_want){
                                .remaining = j->n_tokens - j->n_done,
                                .pos = (uint32_t)j->n_done,
                                .passed_over = j->passed_over,
                        };
                }
        }
        solo = n_jobs == 1 && n_prefill == 1 && sched_empty(te->sched) &&
               now_usec() - te->last_interrupt_usec >= SOLO_QUIET_USEC;
        struct prefill_limit lim = prefill_limit(te, n_decode, decode_pos_sum, solo);
        step_plan_prefill_within(te->prefill_wants, n_prefill, &lim);
        round_to_quantum(te, n_decode, te->prefill_wants, n_prefill);
        trim_costly_row(te, n_decode, te->prefill_wants, n_prefill);
        for (size_t k = 0; k < n_prefill; k++) {
                j = te->prefill_jobs[k];
                j->take = te->prefill_wants[k].take;
                j->passed_over = te->prefill_wants[k].passed_over;
                for (size_t i = 0; i < j->take; i++) {
                        size_t p = j->n_done + i;
                        bool last = p + 1 == j->n_tokens;
                        te->batch[n++] = (struct aid_batch_entry){ j->tokens[p], (uint32_t)j->seq,
                                (uint32_t)p, last };
                        pos_sum += (double)p;
                        if (last)
                                j->logits_at = n_logits++;
                }
        }
        if (n == 0)
                return;

        if (te->config.n_threads == 0) {
                bool changed;
                unsigned threads = cpu_share_sample(&te->cpu, now_usec(), &changed);
                if (changed)
                        log_info("Inference on %u of %u threads: the cores other processes leave free.",
                                        threads, te->cpu.max_threads);
                aid_context_set_threads(te->ctx, threads);
        }
        start = now_usec();
        /* A step of prompt tokens only (no generation waits for it) makes way for a new
         * request within a panel of a matrix product: the request's wait is then that, not one
         * step, and what is lost is prompt work, done again. Never twice in a row, so that
         * prompts advance however many requests come. */
        te->step_interruptible = solo || (n_decode == 0 && !te->last_step_interrupted);
        r = aid_decode(te->ctx, te->batch, n, &err);
        te->step_interruptible = false;
        te->last_step_interrupted = r == -ECANCELED;
        if (log_get_max_level() >= LOG_DEBUG)
                log_debug("Step of %zu rows (%zu decoding, %zu of prompts%s): %.1f ms%s (expected %.1f).", n,
                                n_decode, n - n_decode, solo ? ", one prompt alone" : "",
                                (now_usec() - start) / 1e3, r == -ECANCELED ? ", interrupted" : "",
                                step_cost_predict(&te->step_cost, n, decode_pos_sum + pos_sum) / 1e3);
        if (r == -ECANCELED) {
                /* The command that interrupted goes first; the prompt goes on in short steps. */
                te->last_interrupt_usec = now_usec();
                return;
        }
        /* The cost model is of the steps a budget sizes, on the batched kernels: not of a
         * prompt's whole chunks alone (on oneDNN's path, which costs otherwise per row), nor
         * of the first step of a model, which faults in its pages. */
        learn = !te->step_cost_cold && n <= aid_context_batch_rows_max(te->ctx);
        te->step_cost_cold = false;
        if (r >= 0 && learn)
                step_cost_update(&te->step_cost, n, decode_pos_sum + pos_sum, now_usec() - start);
        for (j = te->jobs; j; j = next) {
                next = j->next;
                if (j->state == JOB_QUEUED || (j->take == 0 && j->logits_at < 0))
                        continue;
                if (r < 0) {
                        job_fail(te, j, AID_ERROR_INTERNAL, err.message);
                        continue;
                }
                if (j->chat) {
                        if (j->take > 0)
                                memcpy(j->chat->cache + j->n_done, j->tokens + j->n_done,
                                                j->take * sizeof(int32_t));
                        else
                                j->chat->cache[aid_kv_seq_len(te->ctx, (uint32_t)j->seq) - 1] = j->pending;
                }
                j->n_done += j->take;
                j->n_evaluated += (uint32_t)j->take;
                if (j->logits_at >= 0)
                        job_next_token(te, j, aid_get_logits(te->ctx, (size_t)j->logits_at));
        }
        te->last_used_usec = now_usec();
}

/* ---- worker: commands and the loop ---------------------------------------------------------- */

/* Someone is writing to the model file (model-lease.h): the requests that use it stop, and it
 * is unmapped so that the writer may go on. Queued requests load the file again when their turn
 * comes, which fails while the writer still has it open. */
static void model_file_rewritten(struct text_engine *te)
{
        log_info("%s is being written to: stopping the requests that use it and unloading it.",
                        te->model_path);
        for (struct job *j = te->jobs, *next; j; j = next) {
                next = j->next;
                if (j->state != JOB_QUEUED)
                        job_fail(te, j, AID_ERROR_MODEL_UNAVAILABLE,
                                        "the model file is being replaced on disk; try again once it is "
                                        "complete");
        }
        model_unload(te);
}

static void handle_cmd(struct text_engine *te, struct cmd *c)
{
        struct job *j;
        struct chat *ch;

        switch (c->type) {
        case CMD_SUBMIT:
                j = c->job;
                if (j->chat_id) {
                        j->chat = chat_find(te, j->chat_id);
                        if (!j->chat) {
                                te_post_failed(te, j->id, AID_ERROR_CANCELLED, "the chat was closed");
                                text_job_free(j);
                                break;
                        }
                        j->chat->job = j;
                        /* A turn runs on its chat's model, queued as its chat's app. */
                        free(j->app_id);
                        free(j->model_id);
                        free(j->model_path);
                        j->app_id = strdup(j->chat->app_id);
                        j->model_id = strdup(j->chat->model_id);
                        j->model_path = strdup(j->chat->model_path);
                        if (!j->app_id || !j->model_id || !j->model_path) {
                                j->chat->job = NULL;
                                te_post_failed(te, j->id, AID_ERROR_INTERNAL, "out of memory");
                                text_job_free(j);
                                break;
                        }
                }
                j->next = te->jobs;
                if (te->jobs)
                        te->jobs->prev = j;
                te->jobs = j;
                j->state = JOB_QUEUED;
                if (sched_push(te->sched, &j->item, j->app_id, j->priority) < 0)
                        job_fail(te, j, AID_ERROR_INTERNAL, "out of memory");
                break;
        case CMD_CANCEL:
                j = job_find(te, c->id);
                if (j)
                        job_fail(te, j, AID_ERROR_CANCELLED, "the request was cancelled");
                break;
        case CMD_CHAT_NEW:
                c->chat->next = te->chats;
                if (te->chats)
                        te->chats->prev = c->chat;
                te->chats = c->chat;
                break;
        case CMD_CHAT_RESET:
                ch = chat_find(te, c->id);
                if (!ch)
                        break;
                while (ch->n_msgs > (ch->has_system ? 1u : 0u))
                        chat_drop_message(ch, ch->n_msgs - 1);
                if (ch->seq >= 0 && !ch->job)
                        aid_kv_seq_clear(te->ctx, (uint32_t)ch->seq);
                te_post_simple(te, EV_TOKENS_USED, ch->id, 0);
                break;
        case CMD_CHAT_CLOSE:
                ch = chat_find(te, c->id);
                if (!ch)
                        break;
                if (ch->job)
                        job_fail(te, ch->job, AID_ERROR_CANCELLED, "the chat was closed");
                chat_unbind(te, ch);
                if (ch->prev)
                        ch->prev->next = ch->next;
                else
                        te->chats = ch->next;
                if (ch->next)
                        ch->next->prev = ch->prev;
                text_chat_free(ch);
                break;
        case CMD_LEASE_CHECK:
                if (te->model && model_lease_broken(te->lease_fd))
                        model_file_rewritten(te);
                break;
        }
}

void *text_worker_main(void *userdata)
{
        struct text_engine *te = userdata;

        pthread_mutex_lock(&te->lock);
        for (;;) {
                struct cmd *cmds;

                while (!te->quit && !te->cmds && te->n_running == 0 && sched_empty(te->sched)) {
                        if (te->model && te->config.idle_unload_usec > 0) {
                                uint64_t deadline = te->last_used_usec + te->config.idle_unload_usec;
                                struct timespec ts = { (time_t)(deadline / 1000000u),
                                        (long)(deadline % 1000000u) * 1000 };
                                if (now_usec() >= deadline || pthread_cond_timedwait(&te->cond, &te->lock,
                                                                              &ts) == ETIMEDOUT) {
                                        if (!te->cmds) {
                                                pthread_mutex_unlock(&te->lock);
                                                model_unload(te);
                                                pthread_mutex_lock(&te->lock);
                                        }
                                }
                        } else
                                pthread_cond_wait(&te->cond, &te->lock);
                }
                if (te->quit)
                        break;
                cmds = te->cmds;
                te->cmds = te->cmds_tail = NULL;
                atomic_store(&te->urgent, false);
                pthread_mutex_unlock(&te->lock);

                while (cmds) {
                        struct cmd *c = cmds;
                        cmds = c->next;
                        handle_cmd(te, c);
                        free(c);
                }
                admit(te);
                if (te->n_running > 0) {
                        te_hold_events(te);
                        step(te);
                        te_flush_events(te);
                }

                pthread_mutex_lock(&te->lock);
        }
        pthread_mutex_unlock(&te->lock);
        return NULL;
}
