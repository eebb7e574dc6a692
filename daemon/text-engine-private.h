/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the text worker's files share (text-engine.c: the loop's side and the API;
 * text-queue.c: the queues between the threads; text-worker.c: the worker). Nothing outside
 * them includes this. */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat.h"
#include "cpu-share.h"
#include "macro.h"
#include "model.h"
#include "sampler.h"
#include "scheduler.h"
#include "step-plan.h"
#include "stop.h"
#include "text-engine.h"
#include "tokenizer/tokenizer.h"

#define DEFAULT_N_SEQ_MAX     4
#define DEFAULT_PREFILL_CHUNK 128

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
        struct text_token_sink sink;
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
        CMD_LEASE_CHECK, /* the loop got MODEL_LEASE_SIGNAL: is the model file's lease broken? */
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
        int lease_fd; /* holds the read lease on model_path's file (model-lease.h), or -1 */
        struct aid_context *ctx;
        uint32_t n_ctx;
        struct aid_chat_template *tmpl;
        char tmpl_error[sizeof(((struct aid_error *)0)->message)];
        bool *slot_used;
        struct aid_batch_entry *batch;
        struct step_cost step_cost;     /* of the loaded model's steps */
        bool step_cost_cold;            /* the next step is the model's first */
        bool step_interruptible;        /* the step in progress may be stopped */
        bool last_step_interrupted;     /* then the next prompt-only step is not (progress) */
        uint64_t last_interrupt_usec;   /* when a step was last stopped */
        struct cpu_share cpu;           /* [Text] Threads=0: the cores others leave */
        struct event *held, *held_tail; /* te_hold_events() */
        bool holding;
        struct job **prefill_jobs;          /* [n_seq_max], step()'s */
        struct prefill_want *prefill_wants; /* [n_seq_max], step()'s */
        uint64_t last_used_usec;
};

static inline uint64_t now_usec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline char **strv_copy(const char *const *v, size_t *ret_n)
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

static inline void strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

/* text-queue.c. Posting is best effort: out of memory, an event is lost. */
void te_post_event(struct text_engine *te, struct event *e);
/* Between these two the worker's events are held back and then handed over at once. */
void te_hold_events(struct text_engine *te);
void te_flush_events(struct text_engine *te);
struct event *te_event_free(struct event *e);
void te_post_simple(struct text_engine *te, enum event_type type, uint64_t id, uint32_t value);
void te_post_token(struct text_engine *te, uint64_t id, const char *text, size_t len);
void te_post_failed(struct text_engine *te, uint64_t id, const char *name, const char *fmt, ...)
                _printf_(4, 5);
void te_post_model_state(struct text_engine *te, const char *path, enum text_model_state state,
                double progress, const char *reason);
void te_post_cmd(struct text_engine *te, struct cmd *c);
int te_send_cmd(struct text_engine *te, enum cmd_type type, uint64_t id, struct job *job, struct chat *chat);

/* text-worker.c */
void *text_worker_main(void *userdata);
struct job *text_job_free(struct job *j);    /* accepts NULL, returns NULL */
struct chat *text_chat_free(struct chat *c); /* accepts NULL, returns NULL */
/* Appends a message (copied) to the chat's conversation. 0 or -ENOMEM. */
int text_chat_add_message(struct chat *c, enum aid_chat_role role, const char *text, size_t len);
