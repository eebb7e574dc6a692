/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The text worker: one thread that owns the language model, its context and the scheduler.
 *
 * Threads. The sd-event loop and the worker share two queues under one mutex: commands go in
 * (the worker sleeps on a condition variable while it has neither commands nor running jobs),
 * events come out (the worker writes the eventfd when the queue turns non-empty; the loop drains
 * it). Everything the loop needs to route events (job and chat records, model states) lives on
 * the loop's side only; everything about inference lives on the worker's side only.
 *
 * Models. One text model is loaded at a time. A job for another model waits until the running
 * jobs of the current one have finished (meanwhile no new job of the current model starts, so
 * the other model cannot starve); then the model is swapped. Open chats do not pin a model:
 * when it is swapped or unloaded after the idle time, they keep their conversation as text and
 * re-evaluate it at their next turn. Likewise a chat between turns gives its sequence slot up
 * (least recently used first) when a job needs one and none is free. */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>

#include "aid-errors.h"
#include "chat.h"
#include "gguf.h"
#include "macro.h"
#include "model.h"
#include "scheduler.h"
#include "step-plan.h"
#include "stop.h"
#include "text-engine.h"
#include "tokenizer/tokenizer.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void *mfree_p(void *p)
{
        free(p);
        return NULL;
}

#define DEFAULT_N_SEQ_MAX     4
#define DEFAULT_PREFILL_CHUNK 128
#define DEFAULT_N_CTX_MAX     4096
/* With a step budget (prefill_step_usec): the prompt tokens of the first steps, before the
 * cost of a step is known, and the fewest a step takes whatever the decode load. */
#define PREFILL_FIRST_ROWS 16
#define PREFILL_MIN_ROWS   4
#define BATCH_QUANTUM      16
/* After a step was interrupted, this long without whole-chunk steps: requests come in bursts,
 * and a burst must not throw away one chunk's work per request. */
#define SOLO_QUIET_USEC (2 * 1000000u)

enum job_state {
        JOB_QUEUED,
        JOB_PREFILL,
        JOB_DECODE,
};

struct chat;

/* A generation: made on the loop's thread, owned by the worker once submitted. */
struct job {
        struct sched_item item;
        struct job *next, *prev; /* te->jobs: every job the worker knows */
        uint64_t id;
        char *app_id, *model_id, *model_path;
        char *prompt; /* a chat turn: the user's message */
        unsigned priority;
        struct aid_sampler_params sampling;
        uint32_t max_tokens, max_prompt_tokens;
        char **stop;
        size_t n_stop;
        uint64_t submit_usec;
        uint64_t chat_id; /* 0: plain completion */
        struct chat *chat;

        enum job_state state;
        int seq;
        int32_t *tokens; /* the prompt */
        size_t n_tokens, n_done;
        uint32_t n_evaluated;
        int32_t pending; /* sampled, to be decoded at the next step */
        uint32_t generated;
        uint64_t first_token_usec;
        struct aid_sampler *sampler;
        struct aid_detokenizer *detok;
        struct aid_stop *stopper;
        char *fix; /* utf8_sanitize()'s buffer */
        size_t fix_cap;
        char *answer; /* chats: the text emitted so far */
        size_t answer_len;
        bool turn_added;  /* chats: the user's message is in the conversation */
        size_t take;      /* prompt tokens in the current batch */
        bool passed_over; /* its prompt took no tokens in the last step (step-plan.h) */
        long logits_at;   /* index of this job's logits in the current batch, -1 none */
};

/* A conversation, on the worker's side. msgs[0] is the system prompt when there is one. */
struct chat {
        struct chat *next, *prev;
        uint64_t id;
        char *app_id, *model_id, *model_path;
        struct aid_chat_message *msgs;
        size_t n_msgs;
        bool has_system;
        int seq;        /* -1: no sequence slot (its cache is gone) */
        int32_t *cache; /* [n_ctx] the tokens in the sequence's KV cache */
        struct job *job;
        uint64_t last_used_usec;
};

enum cmd_type {
        CMD_SUBMIT,
        CMD_CANCEL,
        CMD_CHAT_NEW,
        CMD_CHAT_RESET,
        CMD_CHAT_CLOSE,
};

struct cmd {
        struct cmd *next;
        enum cmd_type type;
        uint64_t id;
        struct job *job;
        struct chat *chat;
};

enum event_type {
        EV_TOKEN,
        EV_FINISHED,
        EV_FAILED,
        EV_OVERFLOW,
        EV_TOKENS_USED,
        EV_CHAT_CTX,
        EV_MODEL_STATE,
};

struct event {
        struct event *next;
        enum event_type type;
        uint64_t id;
        char *text; /* token text, failure message, model path */
        size_t len;
        const char *error_name;
        char *reason;
        struct text_stats stats;
        char *model_id;
        uint32_t value;
        enum text_model_state state;
        double progress;
};

/* The loop's side: where a job's or chat's events go. */
struct job_rec {
        struct job_rec *next;
        uint64_t id, chat_id;
        struct text_events ev;
        void *userdata;
        bool cancelled;
};

struct chat_rec {
        struct chat_rec *next;
        uint64_t id;
        struct text_events ev;
        void *userdata;
        uint64_t running_job;
        uint32_t n_ctx;
};

struct model_rec {
        struct model_rec *next;
        char *path;
        enum text_model_state state;
        double progress;
        char *reason;
};

struct text_engine {
        struct text_engine_config config;
        sd_event *event;
        sd_event_source *source;
        int efd;
        pthread_t thread;
        bool thread_started;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct cmd *cmds, *cmds_tail;       /* under lock */
        struct event *events, *events_tail; /* under lock */
        bool quit;                          /* under lock */
        /* A command that should not wait for a long step: set with the lock held, read by
         * the step's interrupt function (aid_context_set_interrupt()) without it. */
        atomic_bool urgent;

        /* Loop's side. */
        uint64_t next_id;
        struct job_rec *job_recs;
        struct chat_rec *chat_recs;
        struct model_rec *model_recs;
        text_model_state_cb state_cb;
        void *state_userdata;

        /* Worker's side. */
        struct sched *sched;
        struct job *jobs;
        struct chat *chats;
        unsigned n_running;
        char *model_path;
        struct aid_model *model;
        struct aid_context *ctx;
        uint32_t n_ctx;
        struct aid_chat_template *tmpl;
        char tmpl_error[sizeof(((struct aid_error *)0)->message)];
        bool *slot_used;
        struct aid_batch_entry *batch;
        struct step_cost step_cost;         /* of the loaded model's steps */
        bool step_interruptible;            /* the step in progress may be stopped */
        uint64_t last_interrupt_usec;       /* when a step was last stopped */
        struct job **prefill_jobs;          /* [n_seq_max], step()'s */
        struct prefill_want *prefill_wants; /* [n_seq_max], step()'s */
        uint64_t last_used_usec;
};

static uint64_t now_usec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Length of the longest prefix of s that is whole, valid UTF-8 characters (no overlong forms,
 * surrogates or code points above U+10FFFF). */
static size_t utf8_valid_prefix(const char *str, size_t len)
{
        const unsigned char *s = (const unsigned char *)str;
        size_t i = 0;

        while (i < len) {
                unsigned char c = s[i];
                size_t n;
                uint32_t cp;

                if (c < 0x80) {
                        i++;
                        continue;
                } else if (c >= 0xc2 && c <= 0xdf) {
                        n = 2;
                        cp = c & 0x1f;
                } else if (c >= 0xe0 && c <= 0xef) {
                        n = 3;
                        cp = c & 0x0f;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        n = 4;
                        cp = c & 0x07;
                } else
                        break;
                if (i + n > len)
                        break;
                for (size_t k = 1; k < n; k++) {
                        if ((s[i + k] & 0xc0) != 0x80)
                                return i;
                        cp = cp << 6 | (s[i + k] & 0x3f);
                }
                if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
                                (cp >= 0xd800 && cp <= 0xdfff))
                        break;
                i += n;
        }
        return i;
}

/* Models with byte tokens can produce bytes that are not UTF-8 (random weights do it all the
 * time); clients are promised valid UTF-8, so each such byte becomes U+FFFD, as GLib's
 * g_utf8_make_valid() does. */
static int utf8_sanitize(const char *s, size_t len, char **buf, size_t *cap, size_t *ret_len)
{
        size_t n = 0;

        if (*cap < len * 3 + 1) {
                char *b = realloc(*buf, len * 3 + 1);
                if (!b)
                        return -ENOMEM;
                *buf = b;
                *cap = len * 3 + 1;
        }
        while (len > 0) {
                size_t ok = utf8_valid_prefix(s, len);
                memcpy(*buf + n, s, ok);
                n += ok;
                s += ok;
                len -= ok;
                if (len > 0) {
                        memcpy(*buf + n, "\xef\xbf\xbd", 3);
                        n += 3;
                        s++;
                        len--;
                }
        }
        (*buf)[n] = 0;
        *ret_len = n;
        return 0;
}

static char **strv_copy(const char *const *v, size_t *ret_n)
{
        size_t n = 0;
        char **c;

        while (v && v[n])
                n++;
        c = calloc(n + 1, sizeof(char *));
        if (!c)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (!(c[i] = strdup(v[i]))) {
                        for (size_t k = 0; k < i; k++)
                                free(c[k]);
                        free(c);
                        return NULL;
                }
        *ret_n = n;
        return c;
}

static void strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

/* ---- queues between the threads ---------------------------------------------------------- */

static void post_event(struct text_engine *te, struct event *e)
{
        bool was_empty;

        pthread_mutex_lock(&te->lock);
        was_empty = !te->events;
        if (te->events_tail)
                te->events_tail->next = e;
        else
                te->events = e;
        te->events_tail = e;
        pthread_mutex_unlock(&te->lock);
        if (was_empty)
                (void)eventfd_write(te->efd, 1);
}

static struct event *event_free(struct event *e)
{
        if (!e)
                return NULL;
        free(e->text);
        free(e->reason);
        free(e->model_id);
        free(e);
        return NULL;
}

/* Posting is best effort: out of memory, an event is lost (terminal events are retried by the
 * caller's fallback below, which needs no allocation beyond the event itself). */
static void post_simple(struct text_engine *te, enum event_type type, uint64_t id, uint32_t value)
{
        struct event *e = calloc(1, sizeof(*e));
        if (!e)
                return;
        e->type = type;
        e->id = id;
        e->value = value;
        post_event(te, e);
}

static void post_token(struct text_engine *te, uint64_t id, const char *text, size_t len)
{
        struct event *e = calloc(1, sizeof(*e));
        if (!e)
                return;
        e->text = malloc(len + 1);
        if (!e->text) {
                free(e);
                return;
        }
        memcpy(e->text, text, len);
        e->text[len] = 0;
        e->len = len;
        e->type = EV_TOKEN;
        e->id = id;
        post_event(te, e);
}

static void post_failed(struct text_engine *te, uint64_t id, const char *name, const char *fmt, ...)
                _printf_(4, 5);
static void post_failed(struct text_engine *te, uint64_t id, const char *name, const char *fmt, ...)
{
        struct event *e = calloc(1, sizeof(*e));
        va_list ap;

        if (!e)
                return;
        e->type = EV_FAILED;
        e->id = id;
        e->error_name = name;
        va_start(ap, fmt);
        if (vasprintf(&e->text, fmt, ap) < 0)
                e->text = NULL;
        va_end(ap);
        post_event(te, e);
}

static void post_model_state(struct text_engine *te, const char *path, enum text_model_state state,
                double progress, const char *reason)
{
        struct event *e = calloc(1, sizeof(*e));
        if (!e)
                return;
        e->type = EV_MODEL_STATE;
        e->text = strdup(path);
        e->state = state;
        e->progress = progress;
        e->reason = reason ? strdup(reason) : NULL;
        post_event(te, e);
}

static void post_cmd(struct text_engine *te, struct cmd *c)
{
        pthread_mutex_lock(&te->lock);
        if (te->cmds_tail)
                te->cmds_tail->next = c;
        else
                te->cmds = c;
        te->cmds_tail = c;
        /* A new request wants its first token soon; a cancelled one wants its work stopped. */
        if (c->type == CMD_SUBMIT || c->type == CMD_CANCEL || c->type == CMD_CHAT_CLOSE)
                atomic_store(&te->urgent, true);
        pthread_cond_signal(&te->cond);
        pthread_mutex_unlock(&te->lock);
}

static int send_cmd(
                struct text_engine *te, enum cmd_type type, uint64_t id, struct job *job, struct chat *chat)
{
        struct cmd *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->type = type;
        c->id = id;
        c->job = job;
        c->chat = chat;
        post_cmd(te, c);
        return 0;
}

/* ---- worker: jobs and chats ---------------------------------------------------------------- */

static struct job *job_free(struct job *j)
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
        free(j);
        return NULL;
}

static struct chat *chat_free(struct chat *c)
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

static int chat_add_message(struct chat *c, enum aid_chat_role role, const char *text, size_t len)
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
        job_free(j);
}

/* A turn that did not finish leaves no trace in the conversation. */
static void job_fail(struct text_engine *te, struct job *j, const char *name, const char *message)
{
        if (j->chat && j->turn_added)
                chat_drop_message(j->chat, j->chat->n_msgs - 1);
        post_failed(te, j->id, name, "%s", message);
        job_release(te, j);
}

static void job_finish(struct text_engine *te, struct job *j, const char *reason)
{
        struct event *e = calloc(1, sizeof(*e));
        uint64_t now = now_usec();

        if (j->chat) {
                /* The answer joins the conversation; the KV cache already holds its tokens. */
                (void)chat_add_message(j->chat, AID_CHAT_ASSISTANT, j->answer, j->answer_len);
                if (j->chat->seq >= 0)
                        post_simple(te, EV_TOKENS_USED, j->chat->id,
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
                post_event(te, e);
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

static void model_unload(struct text_engine *te)
{
        if (!te->model)
                return;
        for (struct chat *c = te->chats; c; c = c->next)
                chat_unbind(te, c);
        te->ctx = aid_context_free(te->ctx);
        te->model = aid_model_free(te->model);
        te->tmpl = aid_chat_template_free(te->tmpl);
        post_model_state(te, te->model_path, TEXT_MODEL_UNLOADED, 0, NULL);
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

        post_model_state(lp->te, lp->path, TEXT_MODEL_LOADING, total ? (double)done / (double)total : 1.0,
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
        post_model_state(te, path, TEXT_MODEL_LOADING, 0, NULL);
        r = aid_model_load(path, &te->model, err);
        if (r >= 0 && !aid_model_tokenizer(te->model))
                r = aid_error_set(err, -EOPNOTSUPP, "%s has no usable vocabulary", path);
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
                if (r >= 0)
                        aid_context_set_interrupt(te->ctx, step_interrupted, te);
        }
        if (r < 0) {
                te->model = aid_model_free(te->model);
                post_model_state(te, path, TEXT_MODEL_FAILED, 0, err->message);
                return r;
        }
        te->n_ctx = n_ctx;
        te->model_path = strdup(path);
        if (!te->model_path) {
                te->ctx = aid_context_free(te->ctx);
                te->model = aid_model_free(te->model);
                return aid_error_set(err, -ENOMEM, "out of memory");
        }
        memset(te->slot_used, 0, te->config.n_seq_max * sizeof(bool));
        te->step_cost = (struct step_cost){};
        r = aid_chat_template_from_gguf(aid_model_gguf(te->model), &te->tmpl, &terr);
        if (r == -ENODATA)
                snprintf(te->tmpl_error, sizeof(te->tmpl_error),
                                "this model has no chat template (tokenizer.chat_template): it can only "
                                "complete text");
        else if (r < 0)
                snprintf(te->tmpl_error, sizeof(te->tmpl_error), "%.480s", terr.message);
        post_model_state(te, path, TEXT_MODEL_READY, 1, NULL);
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

        r = chat_add_message(c, AID_CHAT_USER, j->prompt, strlen(j->prompt));
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
                post_simple(te, EV_OVERFLOW, c->id, dropped);
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
                post_simple(te, EV_CHAT_CTX, j->chat->id, te->n_ctx);
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
        post_token(te, j->id, text, len);
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

/* The prompt tokens this step may take besides n_decode running generations: PrefillChunk at
 * most, and where a step budget is set, what the measured cost of a step lets end within it
 * (at least PREFILL_MIN_ROWS, so that prompts advance whatever the decode load). A prompt
 * that is the only work (solo) takes whole chunks, the fastest way through it, in a step that
 * a new request interrupts (step_interrupted()): it then waits for one layer, not one step. */
static size_t prefill_rows(struct text_engine *te, size_t n_decode, bool solo)
{
        size_t rows = te->config.prefill_chunk;

        if (te->config.prefill_step_usec > 0 && !solo) {
                size_t fit = step_cost_rows_within(&te->step_cost, te->config.prefill_step_usec);
                /* Not measured yet: a small first step, which measures it. */
                fit = fit == 0 ? PREFILL_FIRST_ROWS : fit > n_decode ? fit - n_decode : 0;
                rows = MIN(rows, MAX(fit, (size_t)PREFILL_MIN_ROWS));
        }
        /* Large batches go to oneDNN, which keeps a primitive per batch size: whole multiples
         * of BATCH_QUANTUM rows keep their number small (and the cache of them warm). */
        if (n_decode + rows > BATCH_QUANTUM) {
                size_t total = (n_decode + rows) / BATCH_QUANTUM * BATCH_QUANTUM;
                if (total >= n_decode + PREFILL_MIN_ROWS)
                        rows = total - n_decode;
        }
        return rows;
}

static void step(struct text_engine *te)
{
        struct aid_error err = {};
        struct job *j, *next;
        size_t n = 0, n_decode = 0, n_prefill = 0, n_jobs = 0;
        long n_logits = 0;
        bool solo;
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
                } else if (j->state == JOB_PREFILL) {
                        te->prefill_jobs[n_prefill] = j;
                        te->prefill_wants[n_prefill++] = (struct prefill_want){
                                .remaining = j->n_tokens - j->n_done,
                                .passed_over = j->passed_over,
                        };
                }
        }
        solo = n_jobs == 1 && n_prefill == 1 && sched_empty(te->sched) &&
               now_usec() - te->last_interrupt_usec >= SOLO_QUIET_USEC;
        step_plan_prefill(te->prefill_wants, n_prefill, prefill_rows(te, n_decode, solo));
        for (size_t k = 0; k < n_prefill; k++) {
                j = te->prefill_jobs[k];
                j->take = te->prefill_wants[k].take;
                j->passed_over = te->prefill_wants[k].passed_over;
                for (size_t i = 0; i < j->take; i++) {
                        size_t p = j->n_done + i;
                        bool last = p + 1 == j->n_tokens;
                        te->batch[n++] = (struct aid_batch_entry){ j->tokens[p], (uint32_t)j->seq,
                                (uint32_t)p, last };
                        if (last)
                                j->logits_at = n_logits++;
                }
        }
        if (n == 0)
                return;

        start = now_usec();
        te->step_interruptible = solo;
        r = aid_decode(te->ctx, te->batch, n, &err);
        te->step_interruptible = false;
        if (r == -ECANCELED) {
                /* The command that interrupted goes first; the prompt goes on in short steps. */
                te->last_interrupt_usec = now_usec();
                return;
        }
        if (r >= 0)
                step_cost_update(&te->step_cost, n, now_usec() - start);
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
                                post_failed(te, j->id, AID_ERROR_CANCELLED, "the chat was closed");
                                job_free(j);
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
                                post_failed(te, j->id, AID_ERROR_INTERNAL, "out of memory");
                                job_free(j);
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
                post_simple(te, EV_TOKENS_USED, ch->id, 0);
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
                chat_free(ch);
                break;
        }
}

static void *worker_main(void *userdata)
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
                if (te->n_running > 0)
                        step(te);

                pthread_mutex_lock(&te->lock);
        }
        pthread_mutex_unlock(&te->lock);
        return NULL;
}

/* ---- the loop's side ------------------------------------------------------------------------ */

static struct job_rec *job_rec_find(struct text_engine *te, uint64_t id, struct job_rec ***ret_link)
{
        for (struct job_rec **l = &te->job_recs; *l; l = &(*l)->next)
                if ((*l)->id == id) {
                        if (ret_link)
                                *ret_link = l;
                        return *l;
                }
        return NULL;
}

static struct chat_rec *chat_rec_find(struct text_engine *te, uint64_t id, struct chat_rec ***ret_link)
{
        for (struct chat_rec **l = &te->chat_recs; *l; l = &(*l)->next)
                if ((*l)->id == id) {
                        if (ret_link)
                                *ret_link = l;
                        return *l;
                }
        return NULL;
}

static struct model_rec *model_rec_get(struct text_engine *te, const char *path, bool create)
{
        struct model_rec *m;

        for (m = te->model_recs; m; m = m->next)
                if (strcmp(m->path, path) == 0)
                        return m;
        if (!create)
                return NULL;
        m = calloc(1, sizeof(*m));
        if (!m)
                return NULL;
        m->path = strdup(path);
        if (!m->path) {
                free(m);
                return NULL;
        }
        m->next = te->model_recs;
        te->model_recs = m;
        return m;
}

static void deliver(struct text_engine *te, struct event *e)
{
        struct job_rec *jr, **jl;
        struct chat_rec *cr;
        struct model_rec *m;

        switch (e->type) {
        case EV_TOKEN:
                jr = job_rec_find(te, e->id, NULL);
                if (jr && !jr->cancelled && jr->ev.token)
                        jr->ev.token(jr->userdata, e->text, e->len);
                break;
        case EV_FINISHED:
        case EV_FAILED:
                jr = job_rec_find(te, e->id, &jl);
                if (!jr)
                        break;
                /* Unlinked first: the callback may submit, cancel or close. */
                *jl = jr->next;
                if (jr->chat_id && (cr = chat_rec_find(te, jr->chat_id, NULL)) && cr->running_job == jr->id)
                        cr->running_job = 0;
                if (jr->cancelled) {
                        if (jr->ev.failed)
                                jr->ev.failed(jr->userdata, AID_ERROR_CANCELLED,
                                                "the request was cancelled");
                } else if (e->type == EV_FINISHED) {
                        e->stats.model_id = e->model_id;
                        if (jr->ev.finished)
                                jr->ev.finished(jr->userdata, &e->stats);
                } else if (jr->ev.failed)
                        jr->ev.failed(jr->userdata, e->error_name, e->text ? e->text : "out of memory");
                free(jr);
                break;
        case EV_OVERFLOW:
        case EV_TOKENS_USED:
        case EV_CHAT_CTX:
                cr = chat_rec_find(te, e->id, NULL);
                if (!cr)
                        break;
                if (e->type == EV_CHAT_CTX)
                        cr->n_ctx = e->value;
                else if (e->type == EV_OVERFLOW && cr->ev.context_overflow)
                        cr->ev.context_overflow(cr->userdata, e->value);
                else if (e->type == EV_TOKENS_USED && cr->ev.tokens_used)
                        cr->ev.tokens_used(cr->userdata, e->value);
                break;
        case EV_MODEL_STATE:
                if (!e->text)
                        break;
                m = model_rec_get(te, e->text, true);
                if (m) {
                        m->state = e->state;
                        m->progress = e->progress;
                        free(m->reason);
                        m->reason = e->reason ? strdup(e->reason) : NULL;
                }
                if (te->state_cb)
                        te->state_cb(te->state_userdata, e->text, e->state, e->progress, e->reason);
                break;
        }
}

static int on_events(sd_event_source *s _unused_, int fd, uint32_t revents _unused_, void *userdata)
{
        struct text_engine *te = userdata;
        struct event *list;
        eventfd_t v;

        (void)eventfd_read(fd, &v);
        pthread_mutex_lock(&te->lock);
        list = te->events;
        te->events = te->events_tail = NULL;
        pthread_mutex_unlock(&te->lock);
        while (list) {
                struct event *e = list;
                list = e->next;
                deliver(te, e);
                event_free(e);
        }
        return 0;
}

int text_engine_new(sd_event *event, const struct text_engine_config *config, struct text_engine **ret)
{
        struct text_engine *te;
        pthread_condattr_t ca;
        int r;

        if (!event || !config || !ret)
                return -EINVAL;
        te = calloc(1, sizeof(*te));
        if (!te)
                return -ENOMEM;
        te->config = *config;
        if (te->config.n_seq_max == 0)
                te->config.n_seq_max = DEFAULT_N_SEQ_MAX;
        if (te->config.prefill_chunk == 0)
                te->config.prefill_chunk = DEFAULT_PREFILL_CHUNK;
        te->efd = -1;
        te->next_id = 1;
        pthread_mutex_init(&te->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&te->cond, &ca);
        pthread_condattr_destroy(&ca);
        te->event = sd_event_ref(event);

        te->slot_used = calloc(te->config.n_seq_max, sizeof(bool));
        te->batch = calloc(te->config.n_seq_max + te->config.prefill_chunk, sizeof(struct aid_batch_entry));
        te->prefill_jobs = calloc(te->config.n_seq_max, sizeof(struct job *));
        te->prefill_wants = calloc(te->config.n_seq_max, sizeof(struct prefill_want));
        if (!te->slot_used || !te->batch || !te->prefill_jobs || !te->prefill_wants) {
                r = -ENOMEM;
                goto fail;
        }
        r = sched_new(&te->sched);
        if (r < 0)
                goto fail;
        te->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (te->efd < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_io(event, &te->source, te->efd, EPOLLIN, on_events, te);
        if (r < 0)
                goto fail;
        (void)sd_event_source_set_description(te->source, "text-engine");
        r = -pthread_create(&te->thread, NULL, worker_main, te);
        if (r < 0)
                goto fail;
        te->thread_started = true;
        *ret = te;
        return 0;
fail:
        text_engine_free(te);
        return r;
}

struct text_engine *text_engine_free(struct text_engine *te)
{
        if (!te)
                return NULL;
        if (te->thread_started) {
                pthread_mutex_lock(&te->lock);
                te->quit = true;
                atomic_store(&te->urgent, true);
                pthread_cond_signal(&te->cond);
                pthread_mutex_unlock(&te->lock);
                pthread_join(te->thread, NULL);
        }
        while (te->cmds) {
                struct cmd *c = te->cmds;
                te->cmds = c->next;
                job_free(c->job);
                chat_free(c->chat);
                free(c);
        }
        while (te->events) {
                struct event *e = te->events;
                te->events = e->next;
                event_free(e);
        }
        while (te->jobs) {
                struct job *j = te->jobs;
                te->jobs = j->next;
                job_free(j);
        }
        while (te->chats) {
                struct chat *c = te->chats;
                te->chats = c->next;
                chat_free(c);
        }
        while (te->job_recs) {
                struct job_rec *r = te->job_recs;
                te->job_recs = r->next;
                free(r);
        }
        while (te->chat_recs) {
                struct chat_rec *r = te->chat_recs;
                te->chat_recs = r->next;
                free(r);
        }
        while (te->model_recs) {
                struct model_rec *m = te->model_recs;
                te->model_recs = m->next;
                free(m->path);
                free(m->reason);
                free(m);
        }
        te->ctx = aid_context_free(te->ctx);
        te->model = aid_model_free(te->model);
        te->tmpl = aid_chat_template_free(te->tmpl);
        free(te->model_path);
        sched_free(te->sched);
        free(te->slot_used);
        free(te->batch);
        free(te->prefill_jobs);
        free(te->prefill_wants);
        sd_event_source_disable_unref(te->source);
        if (te->efd >= 0)
                close(te->efd);
        sd_event_unref(te->event);
        pthread_cond_destroy(&te->cond);
        pthread_mutex_destroy(&te->lock);
        free(te);
        return NULL;
}

void text_engine_set_model_state_callback(struct text_engine *te, text_model_state_cb cb, void *userdata)
{
        te->state_cb = cb;
        te->state_userdata = userdata;
}

enum text_model_state text_engine_model_state(struct text_engine *te, const char *model_path,
                double *ret_progress, const char **ret_reason)
{
        struct model_rec *m = model_path ? model_rec_get(te, model_path, false) : NULL;

        if (ret_progress)
                *ret_progress = m ? m->progress : 0;
        if (ret_reason)
                *ret_reason = m ? m->reason : NULL;
        return m ? m->state : TEXT_MODEL_UNLOADED;
}

static int check_params(const struct text_job_params *p)
{
        struct aid_error err = {};

        if (!p || p->max_tokens == 0 || p->priority > TEXT_PRIORITY_BACKGROUND)
                return -EINVAL;
        if (aid_sampler_params_validate(&p->sampling, &err) < 0)
                return -EINVAL;
        for (size_t i = 0; p->stop && p->stop[i]; i++) {
                size_t len = strlen(p->stop[i]);
                if (len == 0 || utf8_valid_prefix(p->stop[i], len) != len)
                        return -EINVAL;
        }
        return 0;
}

/* A job with everything copied, and its record on the loop's side. */
static int job_new(struct text_engine *te, const struct text_job_params *p, const char *app_id,
                const char *model_id, const char *model_path, const char *prompt, uint64_t chat_id,
                const struct text_events *ev, void *userdata, struct job **ret_job, struct job_rec **ret_rec)
{
        struct job *j = calloc(1, sizeof(*j));
        struct job_rec *rec = calloc(1, sizeof(*rec));

        if (!j || !rec)
                goto oom;
        j->app_id = strdup(app_id);
        j->model_id = strdup(model_id ? model_id : model_path);
        j->model_path = strdup(model_path);
        j->prompt = strdup(prompt);
        j->stop = strv_copy(p->stop, &j->n_stop);
        if (!j->app_id || !j->model_id || !j->model_path || !j->prompt || !j->stop)
                goto oom;
        j->id = rec->id = te->next_id++;
        j->priority = p->priority;
        j->sampling = p->sampling;
        j->max_tokens = p->max_tokens;
        j->max_prompt_tokens = p->max_prompt_tokens;
        j->chat_id = rec->chat_id = chat_id;
        j->submit_usec = now_usec();
        j->seq = -1;
        rec->ev = *ev;
        rec->userdata = userdata;
        *ret_job = j;
        *ret_rec = rec;
        return 0;
oom:
        job_free(j);
        free(rec);
        return -ENOMEM;
}

int text_engine_submit(struct text_engine *te, const struct text_job_params *params,
                const struct text_events *ev, void *userdata, uint64_t *ret_job)
{
        struct job *j;
        struct job_rec *rec;
        size_t len;
        int r;

        if (!te || !ev || check_params(params) < 0 || !params->prompt || !params->app_id ||
                        !params->model_path)
                return -EINVAL;
        len = strlen(params->prompt);
        if (len == 0 || utf8_valid_prefix(params->prompt, len) != len)
                return -EINVAL;
        r = job_new(te, params, params->app_id, params->model_id, params->model_path, params->prompt, 0, ev,
                        userdata, &j, &rec);
        if (r < 0)
                return r;
        r = send_cmd(te, CMD_SUBMIT, j->id, j, NULL);
        if (r < 0) {
                job_free(j);
                free(rec);
                return r;
        }
        rec->next = te->job_recs;
        te->job_recs = rec;
        if (ret_job)
                *ret_job = rec->id;
        return 0;
}

int text_engine_cancel(struct text_engine *te, uint64_t job)
{
        struct job_rec *rec = te ? job_rec_find(te, job, NULL) : NULL;

        if (!rec)
                return -ENOENT;
        if (rec->cancelled)
                return 0;
        rec->cancelled = true;
        /* Without memory for the command the job runs to its end, and its last event still
         * arrives as Cancelled. */
        (void)send_cmd(te, CMD_CANCEL, job, NULL, NULL);
        return 0;
}

int text_engine_chat_new(struct text_engine *te, const char *app_id, const char *model_id,
                const char *model_path, const char *system_prompt, const struct text_events *ev,
                void *userdata, uint64_t *ret_chat)
{
        struct chat *c;
        struct chat_rec *rec;
        int r;

        if (!te || !app_id || !model_path || !ev)
                return -EINVAL;
        if (system_prompt &&
                        utf8_valid_prefix(system_prompt, strlen(system_prompt)) != strlen(system_prompt))
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        rec = calloc(1, sizeof(*rec));
        if (!c || !rec)
                goto oom;
        c->seq = -1;
        c->app_id = strdup(app_id);
        c->model_id = strdup(model_id ? model_id : model_path);
        c->model_path = strdup(model_path);
        if (!c->app_id || !c->model_id || !c->model_path)
                goto oom;
        if (system_prompt && system_prompt[0]) {
                if (chat_add_message(c, AID_CHAT_SYSTEM, system_prompt, strlen(system_prompt)) < 0)
                        goto oom;
                c->has_system = true;
        }
        c->id = rec->id = te->next_id++;
        rec->ev = *ev;
        rec->userdata = userdata;
        r = send_cmd(te, CMD_CHAT_NEW, c->id, NULL, c);
        if (r < 0)
                goto oom;
        rec->next = te->chat_recs;
        te->chat_recs = rec;
        if (ret_chat)
                *ret_chat = rec->id;
        return 0;
oom:
        chat_free(c);
        free(rec);
        return -ENOMEM;
}

int text_engine_chat_send(struct text_engine *te, uint64_t chat, const char *message,
                const struct text_job_params *params, const struct text_events *ev, void *userdata,
                uint64_t *ret_job)
{
        struct chat_rec *cr = te ? chat_rec_find(te, chat, NULL) : NULL;
        struct job *j;
        struct job_rec *rec;
        size_t len;
        int r;

        if (!cr)
                return -ENOENT;
        if (!message || !ev || check_params(params) < 0)
                return -EINVAL;
        len = strlen(message);
        if (len == 0 || utf8_valid_prefix(message, len) != len)
                return -EINVAL;
        if (cr->running_job)
                return -EBUSY;
        /* The chat's app, model and path are the worker's; these are placeholders. */
        r = job_new(te, params, params->app_id ? params->app_id : "", params->model_id,
                        params->model_path ? params->model_path : "", message, chat, ev, userdata, &j, &rec);
        if (r < 0)
                return r;
        r = send_cmd(te, CMD_SUBMIT, j->id, j, NULL);
        if (r < 0) {
                job_free(j);
                free(rec);
                return r;
        }
        rec->next = te->job_recs;
        te->job_recs = rec;
        cr->running_job = rec->id;
        if (ret_job)
                *ret_job = rec->id;
        return 0;
}

int text_engine_chat_reset(struct text_engine *te, uint64_t chat)
{
        struct chat_rec *cr = te ? chat_rec_find(te, chat, NULL) : NULL;

        if (!cr)
                return -ENOENT;
        if (cr->running_job)
                return -EBUSY;
        return send_cmd(te, CMD_CHAT_RESET, chat, NULL, NULL);
}

int text_engine_chat_close(struct text_engine *te, uint64_t chat)
{
        struct chat_rec *cr, **link;
        int r;

        cr = te ? chat_rec_find(te, chat, &link) : NULL;
        if (!cr)
                return -ENOENT;
        if (cr->running_job)
                (void)text_engine_cancel(te, cr->running_job);
        r = send_cmd(te, CMD_CHAT_CLOSE, chat, NULL, NULL);
        if (r < 0)
                return r;
        *link = cr->next;
        free(cr);
        return 0;
}

uint32_t text_engine_chat_context_size(struct text_engine *te, uint64_t chat)
{
        struct chat_rec *cr = te ? chat_rec_find(te, chat, NULL) : NULL;
        return cr ? cr->n_ctx : 0;
}
