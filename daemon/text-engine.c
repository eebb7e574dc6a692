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
#include <signal.h>
#include <stdio.h>
#include <sys/eventfd.h>

#include "aid-errors.h"
#include "model-lease.h"
#include "text-engine-private.h"
#include "utf8.h"

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

static int on_events(sd_event_source *s _unused_, int fd _unused_, uint32_t revents _unused_, void *userdata)
{
        struct text_engine *te = userdata;
        struct event *list;

        pthread_mutex_lock(&te->lock);
        list = te->events;
        te->events = te->events_tail = NULL;
        pthread_mutex_unlock(&te->lock);
        while (list) {
                struct event *e = list;
                list = e->next;
                deliver(te, e);
                te_event_free(e);
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
        te->lease_fd = -1;
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
        /* Edge-triggered: every write of the worker wakes the loop once, and the counter is never
         * read back, which saves a system call per wakeup (one per streamed token with one
         * client). It cannot overflow: 2^64 - 2 wakeups. */
        r = sd_event_add_io(event, &te->source, te->efd, EPOLLIN | EPOLLET, on_events, te);
        if (r < 0)
                goto fail;
        (void)sd_event_source_set_description(te->source, "text-engine");
        /* The worker's leases signal the process; unblocked in a thread, the signal would end it.
         * The daemon blocks it before it starts any thread and reads it in its loop (daemon.c);
         * here it is blocked for the worker (which inherits the mask) wherever else it runs. */
        sigset_t lease_mask;
        sigemptyset(&lease_mask);
        sigaddset(&lease_mask, MODEL_LEASE_SIGNAL);
        r = -pthread_sigmask(SIG_BLOCK, &lease_mask, NULL);
        if (r < 0)
                goto fail;
        r = -pthread_create(&te->thread, NULL, text_worker_main, te);
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
                text_job_free(c->job);
                text_chat_free(c->chat);
                free(c);
        }
        while (te->events) {
                struct event *e = te->events;
                te->events = e->next;
                te_event_free(e);
        }
        while (te->jobs) {
                struct job *j = te->jobs;
                te->jobs = j->next;
                text_job_free(j);
        }
        while (te->chats) {
                struct chat *c = te->chats;
                te->chats = c->next;
                text_chat_free(c);
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
        if (te->lease_fd >= 0)
                close(te->lease_fd);
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
        if (p->sink.token)
                j->sink = p->sink;
        *ret_job = j;
        *ret_rec = rec;
        return 0;
oom:
        text_job_free(j);
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
        r = te_send_cmd(te, CMD_SUBMIT, j->id, j, NULL);
        if (r < 0) {
                j->sink = (struct text_token_sink){}; /* refused: still the caller's */
                text_job_free(j);
                free(rec);
                return r;
        }
        rec->next = te->job_recs;
        te->job_recs = rec;
        if (ret_job)
                *ret_job = rec->id;
        return 0;
}

void text_engine_check_lease(struct text_engine *te)
{
        if (te)
                (void)te_send_cmd(te, CMD_LEASE_CHECK, 0, NULL, NULL);
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
        (void)te_send_cmd(te, CMD_CANCEL, job, NULL, NULL);
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
                if (text_chat_add_message(c, AID_CHAT_SYSTEM, system_prompt, strlen(system_prompt)) < 0)
                        goto oom;
                c->has_system = true;
        }
        c->id = rec->id = te->next_id++;
        rec->ev = *ev;
        rec->userdata = userdata;
        r = te_send_cmd(te, CMD_CHAT_NEW, c->id, NULL, c);
        if (r < 0)
                goto oom;
        rec->next = te->chat_recs;
        te->chat_recs = rec;
        if (ret_chat)
                *ret_chat = rec->id;
        return 0;
oom:
        text_chat_free(c);
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
        r = te_send_cmd(te, CMD_SUBMIT, j->id, j, NULL);
        if (r < 0) {
                j->sink = (struct text_token_sink){}; /* refused: still the caller's */
                text_job_free(j);
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
        return te_send_cmd(te, CMD_CHAT_RESET, chat, NULL, NULL);
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
        r = te_send_cmd(te, CMD_CHAT_CLOSE, chat, NULL, NULL);
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
