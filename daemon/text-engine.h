/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The inference side of text generation. One worker thread owns the loaded language model,
 * its context (one KV-cache sequence per running generation or chat), and the scheduler:
 * a queue per app, round-robin between apps within a priority class (live > interactive >
 * background), continuous batching (every running generation advances by one token in the
 * same aid_decode() call), chunked prefill (a long prompt is evaluated a chunk per step, so it
 * cannot stall the others) and cancellation that frees the sequence at the next step.
 *
 * The sd-event loop never waits for it: requests go to the worker through a locked queue,
 * events come back through another queue and an eventfd watched by the loop. Every callback
 * in struct text_events runs on the loop's thread. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "sampler.h"

enum text_priority {
        TEXT_PRIORITY_LIVE = 0,
        TEXT_PRIORITY_INTERACTIVE = 1,
        TEXT_PRIORITY_BACKGROUND = 2,
};

enum text_model_state {
        TEXT_MODEL_UNLOADED,
        TEXT_MODEL_LOADING,
        TEXT_MODEL_READY,
        TEXT_MODEL_FAILED,
};

struct text_engine_config {
        uint32_t n_threads;        /* inference threads; 0 = all cores */
        uint32_t n_ctx;            /* context per sequence; 0 = min(model's, 4096) */
        uint32_t n_seq_max;        /* sequences (running generations + open chats) at once */
        uint32_t prefill_chunk;    /* prompt tokens per sequence per step (e.g. 128) */
        uint64_t idle_unload_usec; /* unload the model after this long unused; 0 = never */
};

/* What one generation asks for. Strings are copied by the engine. */
struct text_job_params {
        const char *app_id; /* the fairness key (from the policy's identity) */
        enum text_priority priority;
        const char *model_id;   /* for stats and state reports */
        const char *model_path; /* the GGUF file */
        const char *prompt;     /* valid UTF-8, non-empty (plain completion; chats use chat_send) */
        struct aid_sampler_params sampling;
        uint32_t max_tokens;        /* > 0 */
        uint32_t max_prompt_tokens; /* 0 = the context's limit; more → TooLarge */
        const char *const *stop;    /* NULL-terminated, may be NULL */
};

struct text_stats {
        uint32_t prompt_tokens;
        uint32_t generated_tokens;
        uint64_t time_to_first_token_usec;
        double tokens_per_second; /* decode speed of this request */
        const char *finish_reason; /* "eos", "stop", "length", "cancelled", "context" */
        const char *model_id;
};

struct text_events {
        /* A piece of generated text: whole UTF-8 characters, never part of a stop string. */
        void (*token)(void *userdata, const char *text, size_t len);
        /* The last event of a job that ended normally. */
        void (*finished)(void *userdata, const struct text_stats *stats);
        /* The last event of a job that failed or was cancelled: a D-Bus error name from
         * aid-errors.h (Cancelled, TooLarge, ModelUnavailable, BadInput, Internal, ...) and a
         * message for people. */
        void (*failed)(void *userdata, const char *error_name, const char *message);
        /* Chats: the oldest turns were dropped to make room; and the tokens now in use. */
        void (*context_overflow)(void *userdata, uint32_t dropped_turns);
        void (*tokens_used)(void *userdata, uint32_t n_tokens);
};

struct text_engine;

int text_engine_new(sd_event *event, const struct text_engine_config *config, struct text_engine **ret);
/* Stops the worker after its current step; pending jobs get no more events. */
struct text_engine *text_engine_free(struct text_engine *te);

/* Model state changes (called on the loop's thread). progress is 0..1 while loading. */
typedef void (*text_model_state_cb)(void *userdata, const char *model_path, enum text_model_state state,
                double progress, const char *reason);
void text_engine_set_model_state_callback(struct text_engine *te, text_model_state_cb cb, void *userdata);
enum text_model_state text_engine_model_state(struct text_engine *te, const char *model_path, double *ret_progress,
                const char **ret_reason);

/* Queues a generation. Events go to ev with userdata until the job's last event (finished or
 * failed). What can be checked without the model (empty or invalid UTF-8 prompt, max_tokens 0,
 * sampling parameters) is refused here with -EINVAL; what needs the model (the prompt's length
 * in tokens, a model that fails to load) arrives as a failed event. */
int text_engine_submit(struct text_engine *te, const struct text_job_params *params, const struct text_events *ev,
                void *userdata, uint64_t *ret_job);
/* Cancels a queued or running job: its failed(Cancelled) event follows; its sequence is freed
 * at the worker's next step. -ENOENT if the job already ended. */
int text_engine_cancel(struct text_engine *te, uint64_t job);

/* Chats: a sequence that keeps its KV cache between turns. The chat template comes from the
 * model file (tokenizer.chat_template); a model without a recognised template cannot chat
 * (the first send fails with ModelUnavailable and says why). */
int text_engine_chat_new(struct text_engine *te, const char *app_id, const char *model_id, const char *model_path,
                const char *system_prompt, const struct text_events *ev, void *userdata, uint64_t *ret_chat);
/* Starts the assistant's answer to message. The job's events (token, finished, failed) go to
 * ev/userdata given here; the chat's own events (context_overflow, tokens_used) go to those
 * given to text_engine_chat_new(). One turn at a time: -EBUSY while an answer is running. */
int text_engine_chat_send(struct text_engine *te, uint64_t chat, const char *message,
                const struct text_job_params *params, const struct text_events *ev, void *userdata,
                uint64_t *ret_job);
int text_engine_chat_reset(struct text_engine *te, uint64_t chat);
int text_engine_chat_close(struct text_engine *te, uint64_t chat);
/* The context size a chat can hold (known once its model is loaded; 0 before). */
uint32_t text_engine_chat_context_size(struct text_engine *te, uint64_t chat);
