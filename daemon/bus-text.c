/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-text.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aid-errors.h"
#include "bus-manager.h"
#include "bus-policy.h"
#include "bus-stream.h"
#include "daemon.h"
#include "log.h"
#include "registry.h"
#include "text-engine.h"
#include "utf8.h"

#define TEXT_INTERFACE     "org.aid.Daemon1.Text"
#define REQUEST_INTERFACE  AID_REQUEST_INTERFACE
#define CHAT_INTERFACE     "org.aid.Daemon1.Chat"
#define REQUEST_PREFIX     AID_OBJECT_PATH "/request"
#define CHAT_PREFIX        AID_OBJECT_PATH "/chat"

#define MAX_TOKENS_DEFAULT 256
/* What the engine uses when ContextSize= is not set and the model's own context is larger. */
#define CONTEXT_DEFAULT 4096
/* A prompt is tokenized on the worker; this keeps an absurd one (D-Bus allows 128 MiB) from
 * costing memory and time there before TooLarge. No model aid runs holds a megabyte of text. */
#define PROMPT_BYTES_MAX (1024 * 1024)
#define STOP_STRINGS_MAX 16
#define STOP_BYTES_MAX   256
/* Open chats of one app. A chat keeps its conversation (and a system prompt of up to
 * PROMPT_BYTES_MAX) until it is closed or its client leaves the bus; without a bound one app
 * could hold more than the machine's memory. */
#define CHATS_PER_APP_MAX 64

struct text_chat;

/* One generation: Generate (answered with call) or StartGeneration / Chat.Send (an object at
 * path). It lives until the engine's last event for its job; an orphaned request (its owner
 * left the bus, or its chat closed) has no object any more and only waits for that event. */
struct text_request {
        struct bus_text *bt;
        uint64_t number;
        char *path;  /* NULL for Generate */
        char *owner; /* the caller's unique name */
        char *app_id;
        char *model_id;
        uint64_t job;
        sd_bus_track *track;
        sd_bus_message *call;      /* Generate: the call to answer */
        GString *text;             /* Generate: the text so far */
        struct bus_stream *stream; /* the others: their Token signals */
        struct text_chat *chat;
        bool orphaned;
};

struct text_options {
        uint32_t set; /* 1 << enum option for each option given */
        uint32_t max_tokens;
        struct aid_sampler_params sampling;
        char **stop;
        char *model;
        char *system_prompt;
        enum text_priority priority;
};

struct text_chat {
        struct bus_text *bt;
        uint64_t number;
        char *path;
        char *owner;
        char *app_id;
        char *model_id;
        char *model_path;
        uint32_t context_guess; /* the context size until the engine knows it */
        uint64_t engine_chat;
        sd_bus_track *track;
        struct text_options defaults;
        uint32_t tokens_used;
        uint32_t context_size_sent;
        struct text_request *running;
};

struct bus_text {
        struct daemon *d;
        struct text_engine *engine;
        sd_bus_slot *text_slot, *request_slot, *chat_slot, *request_enum_slot, *chat_enum_slot;
        GHashTable *requests; /* number → struct text_request, owned */
        GHashTable *chats;    /* number → struct text_chat, owned */
        uint64_t n_requests_made, n_chats_made;
        /* Models property change throttling while a model loads. */
        double last_progress;
};

enum option {
        OPT_MAX_TOKENS,
        OPT_TEMPERATURE,
        OPT_TOP_K,
        OPT_TOP_P,
        OPT_MIN_P,
        OPT_REPEAT_PENALTY,
        OPT_SEED,
        OPT_STOP,
        OPT_MODEL,
        OPT_PRIORITY,
        OPT_SYSTEM_PROMPT,
        OPT_MAX,
};

static const struct {
        const char *name;
        const char *type;
} options[OPT_MAX] = {
        [OPT_MAX_TOKENS] = { "max_tokens", "u" },
        [OPT_TEMPERATURE] = { "temperature", "d" },
        [OPT_TOP_K] = { "top_k", "i" },
        [OPT_TOP_P] = { "top_p", "d" },
        [OPT_MIN_P] = { "min_p", "d" },
        [OPT_REPEAT_PENALTY] = { "repeat_penalty", "d" },
        [OPT_SEED] = { "seed", "t" },
        [OPT_STOP] = { "stop", "as" },
        [OPT_MODEL] = { "model", "s" },
        [OPT_PRIORITY] = { "priority", "s" },
        [OPT_SYSTEM_PROMPT] = { "system_prompt", "s" },
};

#define GENERATION_OPTIONS ((1u << OPT_SYSTEM_PROMPT) - 1)
/* A chat's model and system prompt are fixed when it is made. */
#define SEND_OPTIONS (GENERATION_OPTIONS & ~(1u << OPT_MODEL))
#define CHAT_OPTIONS (GENERATION_OPTIONS | (1u << OPT_SYSTEM_PROMPT))

static void strv_free(char **l)
{
        for (size_t i = 0; l && l[i]; i++)
                free(l[i]);
        free(l);
}

static void options_clear(struct text_options *o)
{
        strv_free(o->stop);
        free(o->model);
        free(o->system_prompt);
        *o = (struct text_options){};
}

static void options_init(struct text_options *o)
{
        *o = (struct text_options){ .priority = TEXT_PRIORITY_INTERACTIVE };
        aid_sampler_params_default(&o->sampling);
}

static int strv_copy(char *const *l, char ***ret)
{
        size_t n = 0;
        char **c;

        while (l && l[n])
                n++;
        c = calloc(n + 1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!(c[i] = strdup(l[i]))) {
                        strv_free(c);
                        return -ENOMEM;
                }
        *ret = c;
        return 0;
}

static int options_copy(const struct text_options *from, struct text_options *to)
{
        *to = *from;
        to->stop = NULL;
        to->model = NULL;
        to->system_prompt = NULL;
        if ((from->stop && strv_copy(from->stop, &to->stop) < 0) ||
                        (from->model && !(to->model = strdup(from->model))) ||
                        (from->system_prompt && !(to->system_prompt = strdup(from->system_prompt)))) {
                options_clear(to);
                return -ENOMEM;
        }
        return 0;
}

static int invalid_arg(sd_bus_error *error, const char *fmt, ...) _printf_(2, 3);
static int invalid_arg(sd_bus_error *error, const char *fmt, ...)
{
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = sd_bus_error_setfv(error, AID_ERROR_INVALID_ARGUMENT, fmt, ap);
        va_end(ap);
        return r;
}

static int read_double_option(sd_bus_message *m, const char *name, float *target, sd_bus_error *error)
{
        double v;
        int r;

        r = sd_bus_message_read(m, "d", &v);
        if (r < 0)
                return r;
        if (!isfinite(v) || fabs(v) > 1e6)
                return invalid_arg(error, "option '%s' must be a finite number from -1e6 to 1e6, got %g",
                                name, v);
        *target = (float)v;
        return 0;
}

static int read_option_value(sd_bus_message *m, enum option opt, struct text_options *o, sd_bus_error *error)
{
        const char *s;
        int32_t i;
        int r;

        switch (opt) {
        case OPT_MAX_TOKENS:
                return sd_bus_message_read(m, "u", &o->max_tokens);
        case OPT_TEMPERATURE:
                return read_double_option(m, options[opt].name, &o->sampling.temperature, error);
        case OPT_TOP_P:
                return read_double_option(m, options[opt].name, &o->sampling.top_p, error);
        case OPT_MIN_P:
                return read_double_option(m, options[opt].name, &o->sampling.min_p, error);
        case OPT_REPEAT_PENALTY:
                return read_double_option(m, options[opt].name, &o->sampling.repeat_penalty, error);
        case OPT_TOP_K:
                r = sd_bus_message_read(m, "i", &i);
                if (r >= 0)
                        o->sampling.top_k = i;
                return r;
        case OPT_SEED:
                return sd_bus_message_read(m, "t", &o->sampling.seed);
        case OPT_STOP: {
                char **l = NULL;
                size_t n = 0;

                r = sd_bus_message_read_strv(m, &l);
                if (r < 0)
                        return r;
                while (l && l[n])
                        n++;
                if (n > STOP_STRINGS_MAX) {
                        strv_free(l);
                        return sd_bus_error_setf(error, AID_ERROR_TOO_LARGE,
                                        "option 'stop' holds %zu strings; at most %d are allowed", n,
                                        STOP_STRINGS_MAX);
                }
                for (size_t k = 0; k < n; k++) {
                        size_t len = strlen(l[k]);
                        if (len == 0 || len > STOP_BYTES_MAX) {
                                strv_free(l);
                                return invalid_arg(error,
                                                "option 'stop': every stop string must be 1 to %d bytes "
                                                "long",
                                                STOP_BYTES_MAX);
                        }
                }
                strv_free(o->stop);
                o->stop = l;
                return 0;
        }
        case OPT_MODEL:
        case OPT_SYSTEM_PROMPT: {
                char **target = opt == OPT_MODEL ? &o->model : &o->system_prompt;
                char *copy;

                r = sd_bus_message_read(m, "s", &s);
                if (r < 0)
                        return r;
                if (opt == OPT_MODEL && s[0] == '\0')
                        return invalid_arg(error,
                                        "option 'model' is empty; 'aidctl models' lists the model ids");
                if (opt == OPT_SYSTEM_PROMPT && strlen(s) > PROMPT_BYTES_MAX)
                        return sd_bus_error_setf(error, AID_ERROR_TOO_LARGE,
                                        "option 'system_prompt' is longer than %d bytes", PROMPT_BYTES_MAX);
                copy = strdup(s);
                if (!copy)
                        return -ENOMEM;
                free(*target);
                *target = copy;
                return 0;
        }
        case OPT_PRIORITY:
                r = sd_bus_message_read(m, "s", &s);
                if (r < 0)
                        return r;
                if (strcmp(s, "interactive") == 0)
                        o->priority = TEXT_PRIORITY_INTERACTIVE;
                else if (strcmp(s, "background") == 0)
                        o->priority = TEXT_PRIORITY_BACKGROUND;
                else
                        return invalid_arg(error,
                                        "option 'priority' must be \"interactive\" or \"background\", got "
                                        "\"%s\"",
                                        s);
                return 0;
        case OPT_MAX:
                break;
        }
        return -EINVAL;
}

static int known_options(uint32_t allowed, char **ret)
{
        GString *s = g_string_new(NULL);

        for (size_t i = 0; i < OPT_MAX; i++)
                if (allowed & (1u << i))
                        g_string_append_printf(s, "%s%s", s->len ? ", " : "", options[i].name);
        *ret = g_string_free(s, false);
        return 0;
}

/* Reads an a{sv} of options into o (which holds the defaults): every key must be one of
 * allowed, given once, and carry its documented type. */
static int parse_options(sd_bus_message *m, uint32_t allowed, struct text_options *o, sd_bus_error *error)
{
        uint32_t seen = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *contents;
                size_t opt;
                char type;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                for (opt = 0; opt < OPT_MAX; opt++)
                        if ((allowed & (1u << opt)) && strcmp(key, options[opt].name) == 0)
                                break;
                if (opt == OPT_MAX) {
                        g_autofree char *known = NULL;

                        known_options(allowed, &known);
                        return invalid_arg(error, "unknown option '%s' (known here: %s)", key, known);
                }
                /* A dictionary may repeat a key; which of the values would count is no one's
                 * guess to make. */
                if (seen & (1u << opt))
                        return invalid_arg(error, "option '%s' is given more than once", key);
                seen |= 1u << opt;

                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                if (strcmp(contents, options[opt].type) != 0)
                        return invalid_arg(error, "option '%s' must be of type %s, got %s", key,
                                        options[opt].type, contents);
                r = sd_bus_message_enter_container(m, 'v', contents);
                if (r < 0)
                        return r;
                r = read_option_value(m, (enum option)opt, o, error);
                if (r < 0)
                        return r;
                o->set |= 1u << opt;
                r = sd_bus_message_exit_container(m);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        struct aid_error err = {};
        if (aid_sampler_params_validate(&o->sampling, &err) < 0)
                return invalid_arg(error, "%s", err.message);
        return 0;
}

static int check_text(const char *what, const char *s, sd_bus_error *error)
{
        size_t len = strlen(s);

        if (len == 0)
                return invalid_arg(error, "the %s is empty", what);
        /* sd-bus already refuses strings that are not UTF-8; the engine relies on it. */
        if (!g_utf8_validate(s, (gssize)len, NULL))
                return invalid_arg(error, "the %s is not valid UTF-8", what);
        if (len > PROMPT_BYTES_MAX)
                return sd_bus_error_setf(error, AID_ERROR_TOO_LARGE,
                                "the %s is %zu bytes long; at most %d are allowed", what, len,
                                PROMPT_BYTES_MAX);
        return 0;
}

/* The model a request names, or the default text model. */
static int resolve_model(
                struct bus_text *bt, const char *id, const struct registry_entry **ret, sd_bus_error *error)
{
        const struct registry_entry *e;

        if (!id) {
                e = registry_default_model(bt->d->registry, "text");
                if (!e)
                        return sd_bus_error_set(error, AID_ERROR_MODEL_UNAVAILABLE,
                                        "no text model is installed; put a GGUF file in "
                                        "~/.local/share/aid/models or see aidctl models");
        } else {
                e = registry_find(bt->d->registry, id);
                if (!e)
                        return sd_bus_error_setf(error, AID_ERROR_NO_SUCH_MODEL,
                                        "No model with id '%s'. 'aidctl models' lists the available ones.",
                                        id);
        }
        if (!e->usable)
                return sd_bus_error_setf(error, AID_ERROR_MODEL_UNAVAILABLE, "model '%s' is not usable: %s",
                                e->id, e->reason ? e->reason : "unknown reason");
        if (!e->have_meta || !e->meta.capability || strcmp(e->meta.capability, "text") != 0)
                return sd_bus_error_setf(error, AID_ERROR_MODEL_UNAVAILABLE,
                                "model '%s' is a %s model, not a text model", e->id,
                                e->have_meta && e->meta.capability ? e->meta.capability : "non-text");
        *ret = e;
        return 0;
}

/* The context the engine gives a sequence: ContextSize= (else 4096), never more than the model's
 * own. */
static uint32_t context_of(struct bus_text *bt, const struct registry_entry *e)
{
        uint64_t model_ctx = e->meta.context_length;
        uint32_t ctx = bt->d->conf.text.context_size > 0 ? bt->d->conf.text.context_size : CONTEXT_DEFAULT;

        if (model_ctx > 0 && model_ctx < ctx)
                ctx = (uint32_t)model_ctx;
        return ctx;
}

/* max_tokens: the policy's MaxTokens= and the context cap it; a default is capped quietly. */
static int resolve_max_tokens(struct bus_text *bt, const struct registry_entry *e,
                const struct policy_verdict *verdict, struct text_options *o, sd_bus_error *error)
{
        uint64_t limit = verdict->limits[AID_LIMIT_MAX_TOKENS];
        uint32_t ctx = context_of(bt, e);

        if (!(o->set & (1u << OPT_MAX_TOKENS))) {
                o->max_tokens = MAX_TOKENS_DEFAULT;
                if (limit > 0 && o->max_tokens > limit)
                        o->max_tokens = (uint32_t)limit;
                if (o->max_tokens > ctx)
                        o->max_tokens = ctx;
                return 0;
        }
        if (o->max_tokens == 0)
                return invalid_arg(error, "option 'max_tokens' must be at least 1");
        if (limit > 0 && o->max_tokens > limit)
                return sd_bus_error_setf(error, AID_ERROR_TOO_LARGE,
                                "max_tokens %" PRIu32 " is above this app's limit of %" PRIu64
                                " (MaxTokens= in the policy)",
                                o->max_tokens, limit);
        if (o->max_tokens > ctx)
                return sd_bus_error_setf(error, AID_ERROR_TOO_LARGE,
                                "max_tokens %" PRIu32 " is more than the %" PRIu32
                                " tokens the context of model '%s' holds",
                                o->max_tokens, ctx, e->id);
        return 0;
}

static int check_concurrency(struct bus_text *bt, const struct policy_verdict *verdict, sd_bus_error *error)
{
        uint64_t limit = verdict->limits[AID_LIMIT_MAX_CONCURRENT];
        GHashTableIter i;
        gpointer v;
        uint64_t n = 0;

        if (limit == 0)
                return 0;
        g_hash_table_iter_init(&i, bt->requests);
        while (g_hash_table_iter_next(&i, NULL, &v)) {
                const struct text_request *req = v;
                if (!req->orphaned && strcmp(req->app_id, verdict->app_id) == 0)
                        n++;
        }
        if (n >= limit)
                return sd_bus_error_setf(error, AID_ERROR_QUOTA_EXCEEDED,
                                "App '%s' already runs %" PRIu64
                                " text requests, its limit (MaxConcurrent= in "
                                "the policy); retry when one has finished",
                                verdict->app_id, n);
        return 0;
}

static int check_chats(struct bus_text *bt, const struct policy_verdict *verdict, sd_bus_error *error)
{
        GHashTableIter i;
        gpointer v;
        unsigned n = 0;

        g_hash_table_iter_init(&i, bt->chats);
        while (g_hash_table_iter_next(&i, NULL, &v))
                n += strcmp(((const struct text_chat *)v)->app_id, verdict->app_id) == 0;
        if (n >= CHATS_PER_APP_MAX)
                return sd_bus_error_setf(error, AID_ERROR_QUOTA_EXCEEDED,
                                "App '%s' already has %u open chats, the most one app may have; Close() "
                                "one first",
                                verdict->app_id, n);
        return 0;
}

static int engine_error(int r, const char *what, sd_bus_error *error)
{
        switch (r) {
        case -ENOMEM:
                return r;
        case -EINVAL:
                return invalid_arg(error, "the text worker refused the %s", what);
        case -E2BIG:
        case -EMSGSIZE:
                return sd_bus_error_setf(
                                error, AID_ERROR_TOO_LARGE, "the %s is too large for the model", what);
        case -EBUSY:
        case -ENOSPC:
        case -EAGAIN:
        case -EUSERS:
                return sd_bus_error_setf(error, AID_ERROR_QUOTA_EXCEEDED,
                                "the text worker is busy (%s); retry when a running request has finished",
                                strerror(-r));
        case -ENOENT:
                return sd_bus_error_setf(
                                error, AID_ERROR_INTERNAL, "the %s is not known to the text worker", what);
        default:
                return sd_bus_error_setf(error, AID_ERROR_INTERNAL, "the text worker failed the %s: %s",
                                what, strerror(-r));
        }
}

static int append_stats(sd_bus_message *m, const struct text_stats *s, const char *model_id,
                struct bus_stream *stream)
{
        uint64_t n_signals, send_usec;
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "prompt_tokens", "u", s->prompt_tokens);
        if (r >= 0)
                r = sd_bus_message_append(
                                m, "{sv}", "prompt_evaluated_tokens", "u", s->prompt_evaluated_tokens);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "generated_tokens", "u", s->generated_tokens);
        if (r >= 0)
                r = sd_bus_message_append(
                                m, "{sv}", "time_to_first_token_us", "t", s->time_to_first_token_usec);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "tokens_per_second", "d", s->tokens_per_second);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "finish_reason", "s",
                                s->finish_reason ? s->finish_reason : "eos");
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "model", "s", s->model_id ? s->model_id : model_id);
        /* What streaming cost the daemon, for benchmarks (aid-load). */
        bus_stream_get_cost(stream, &n_signals, &send_usec);
        if (r >= 0 && stream)
                r = sd_bus_message_append(m, "{sv}", "token_signals", "t", n_signals);
        if (r >= 0 && stream)
                r = sd_bus_message_append(m, "{sv}", "token_signals_send_us", "t", send_usec);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

/* ---- requests ---- */

static struct text_request *request_free(struct text_request *req)
{
        if (!req)
                return NULL;
        if (req->chat && req->chat->running == req)
                req->chat->running = NULL;
        sd_bus_track_unref(req->track);
        bus_stream_unref(req->stream);
        sd_bus_message_unref(req->call);
        if (req->text)
                g_string_free(req->text, true);
        free(req->path);
        free(req->owner);
        free(req->app_id);
        free(req->model_id);
        free(req);
        return NULL;
}

static void request_done(struct text_request *req)
{
        /* The table owns the request: removing it frees it. */
        g_hash_table_remove(req->bt->requests, &req->number);
}

/* The object goes, the job is cancelled; the request waits for the job's last event. */
static void request_orphan(struct text_request *req, const char *why)
{
        uint64_t number = req->number;
        int r;

        if (req->orphaned)
                return;
        req->orphaned = true;
        bus_stream_close(req->stream);
        req->track = sd_bus_track_unref(req->track);
        if (req->chat && req->chat->running == req)
                req->chat->running = NULL;
        req->chat = NULL;
        log_debug("Request %" PRIu64 " of %s: %s, cancelling it.", number, req->owner, why);
        /* The last use of req: its failed event may free it. */
        r = text_engine_cancel(req->bt->engine, req->job);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "Failed to cancel request %" PRIu64 ": %m", number);
}

/* Generate's text (streamed requests send theirs from the worker: bus-stream.h). */
static void on_token(void *userdata, const char *text, size_t len)
{
        struct text_request *req = userdata;
        _cleanup_free_ char *s = NULL;
        size_t n;

        if (req->orphaned || !req->call)
                return;
        s = malloc(len + 1);
        if (!s) {
                log_error_errno(-ENOMEM, "Out of memory");
                return;
        }
        /* Dropped from the whole text as from the streamed pieces, so that the two stay equal. */
        n = utf8_copy_dbus_string(s, text, len);
        g_string_append_len(req->text, s, (gssize)n);
}

static void on_finished(void *userdata, const struct text_stats *stats)
{
        struct text_request *req = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r = 0;

        if (!req->orphaned) {
                /* What the worker could not send while this loop was busy goes first. */
                bus_stream_flush(req->stream);
                if (req->call) {
                        r = sd_bus_message_new_method_return(req->call, &m);
                        if (r >= 0)
                                r = sd_bus_message_append(m, "s", req->text->str);
                } else
                        r = bus_new_unicast_signal(req->bt->d->bus, req->path, req->owner, REQUEST_INTERFACE,
                                        "Finished", &m);
                if (r >= 0)
                        r = append_stats(m, stats, req->model_id, req->stream);
                if (r >= 0)
                        r = sd_bus_send(NULL, m, NULL);
                if (r < 0)
                        log_warning_errno(r, "Failed to send the result of request %" PRIu64 ": %m",
                                        req->number);
        }
        request_done(req);
}

static void on_failed(void *userdata, const char *error_name, const char *message)
{
        struct text_request *req = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r = 0;

        if (!error_name)
                error_name = AID_ERROR_INTERNAL;
        if (!message)
                message = "generation failed";
        if (!req->orphaned) {
                bus_stream_flush(req->stream);
                if (req->call)
                        r = sd_bus_reply_method_errorf(req->call, error_name, "%s", message);
                else {
                        r = bus_new_unicast_signal(req->bt->d->bus, req->path, req->owner, REQUEST_INTERFACE,
                                        "Failed", &m);
                        if (r >= 0)
                                r = sd_bus_message_append(m, "ss", error_name, message);
                        if (r >= 0)
                                r = sd_bus_send(NULL, m, NULL);
                }
                if (r < 0)
                        log_warning_errno(r, "Failed to send the failure of request %" PRIu64 ": %m",
                                        req->number);
        }
        request_done(req);
}

static void on_overflow(void *userdata, uint32_t dropped_turns);
static void on_tokens_used(void *userdata, uint32_t n_tokens);
static void ignore_overflow(void *userdata, uint32_t dropped_turns)
{
}
static void ignore_tokens_used(void *userdata, uint32_t n_tokens)
{
}

static const struct text_events request_events = {
        .token = on_token,
        .finished = on_finished,
        .failed = on_failed,
        .context_overflow = ignore_overflow,
        .tokens_used = ignore_tokens_used,
};

static int on_owner_gone_request(sd_bus_track *track, void *userdata)
{
        struct text_request *req = userdata;

        request_orphan(req, "its client left the bus");
        return 0;
}

static int track_owner(struct bus_text *bt, const char *owner, sd_bus_track_handler_t handler,
                void *userdata, sd_bus_track **ret)
{
        sd_bus_track *t = NULL;
        int r;

        r = sd_bus_track_new(bt->d->bus, &t, handler, userdata);
        if (r < 0)
                return r;
        r = sd_bus_track_add_name(t, owner);
        if (r < 0) {
                sd_bus_track_unref(t);
                return r;
        }
        *ret = t;
        return 0;
}

/* A new request of m's sender; with_object: it gets a path (StartGeneration, Send). */
static int request_new(struct bus_text *bt, sd_bus_message *m, const struct policy_verdict *verdict,
                const char *model_id, bool with_object, struct text_request **ret)
{
        struct text_request *req;
        int r;

        req = calloc(1, sizeof(*req));
        if (!req)
                return -ENOMEM;
        req->bt = bt;
        req->number = ++bt->n_requests_made;
        req->owner = strdup(sd_bus_message_get_sender(m) ?: "");
        req->app_id = strdup(verdict->app_id);
        req->model_id = strdup(model_id);
        if (!req->owner || !req->app_id || !req->model_id ||
                        (with_object && asprintf(&req->path, REQUEST_PREFIX "/%" PRIu64, req->number) < 0)) {
                req->path = NULL;
                request_free(req);
                return -ENOMEM;
        }
        if (!with_object) {
                req->call = sd_bus_message_ref(m);
                req->text = g_string_new(NULL);
        } else {
                r = bus_stream_new(bt->d, req->path, req->owner, &req->stream);
                if (r < 0) {
                        request_free(req);
                        return r;
                }
        }
        r = track_owner(bt, req->owner, on_owner_gone_request, req, &req->track);
        if (r < 0) {
                request_free(req);
                return r;
        }
        *ret = req;
        return 0;
}

/* The engine releases a sink it accepted; one it refused is still ours. */
static void sink_drop(struct text_job_params *p)
{
        if (p->sink.release)
                p->sink.release(p->sink.data);
        p->sink = (struct text_token_sink){};
}

static void fill_params(struct text_job_params *p, const struct policy_verdict *verdict,
                const struct registry_entry *e, const char *prompt, const struct text_options *o,
                struct text_request *req)
{
        *p = (struct text_job_params){
                .app_id = verdict->app_id,
                .priority = o->priority,
                .model_id = e->id,
                .model_path = e->path,
                .prompt = prompt,
                .sampling = o->sampling,
                .max_tokens = o->max_tokens,
                .max_prompt_tokens = 0,
                .stop = (const char *const *)o->stop,
        };
        if (req->stream)
                p->sink = bus_stream_sink(req->stream);
}

static int generate(sd_bus_message *m, struct bus_text *bt, bool stream, sd_bus_error *error)
{
        struct text_options o _cleanup_(options_clear);
        struct policy_verdict verdict;
        const struct registry_entry *e;
        struct text_request *req = NULL;
        struct text_job_params params;
        const char *prompt;
        int r;

        options_init(&o);
        r = policy_check(bt->d, m, AID_CAP_TEXT, &verdict, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "s", &prompt);
        if (r < 0)
                return r;
        r = check_text("prompt", prompt, error);
        if (r < 0)
                return r;
        r = parse_options(m, GENERATION_OPTIONS, &o, error);
        if (r < 0)
                return r;
        r = resolve_model(bt, o.model, &e, error);
        if (r < 0)
                return r;
        r = resolve_max_tokens(bt, e, &verdict, &o, error);
        if (r < 0)
                return r;
        r = check_concurrency(bt, &verdict, error);
        if (r < 0)
                return r;

        r = request_new(bt, m, &verdict, e->id, stream, &req);
        if (r < 0)
                return r;
        fill_params(&params, &verdict, e, prompt, &o, req);
        r = text_engine_submit(bt->engine, &params, &request_events, req, &req->job);
        if (r < 0) {
                sink_drop(&params);
                request_free(req);
                return engine_error(r, "request", error);
        }
        if (!g_hash_table_insert(bt->requests, &req->number, req))
                log_error("Request number %" PRIu64 " was used twice.", req->number);
        log_debug("Request %" PRIu64 " of %s (%s): model %s, max_tokens %" PRIu32 ".", req->number,
                        req->owner, req->app_id, e->id, o.max_tokens);

        if (stream)
                return sd_bus_reply_method_return(m, "o", req->path);
        return 1; /* answered when the engine is done */
}

static int method_generate(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        return generate(m, userdata, false, error);
}

static int method_start_generation(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        return generate(m, userdata, true, error);
}

/* ---- object lookup: only the creator may touch an object ---- */

static int check_owner(sd_bus *bus, const char *owner, const char *path, sd_bus_error *error)
{
        sd_bus_message *m = sd_bus_get_current_message(bus);
        const char *sender;

        /* No message: the daemon itself (emitting, introspecting its own tree). */
        if (!m)
                return 0;
        sender = sd_bus_message_get_sender(m);
        if (sender && strcmp(sender, owner) == 0)
                return 0;
        return sd_bus_error_setf(error, AID_ERROR_PERMISSION_DENIED,
                        "%s belongs to another connection; only the one that created it may use it", path);
}

/* "<prefix>/N" → N, for N written as aid writes it (no sign, no leading zero). */
static bool parse_number(const char *path, const char *prefix, uint64_t *ret)
{
        size_t l = strlen(prefix);
        const char *s;
        char *end;
        uint64_t n;

        if (strncmp(path, prefix, l) != 0 || path[l] != '/')
                return false;
        s = path + l + 1;
        if (s[0] < '1' || s[0] > '9')
                return false;
        errno = 0;
        n = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0')
                return false;
        *ret = n;
        return true;
}

static int find_request(sd_bus *bus, const char *path, const char *interface, void *userdata,
                void **ret_found, sd_bus_error *error)
{
        struct bus_text *bt = userdata;
        struct text_request *req;
        uint64_t n;
        int r;

        if (!parse_number(path, REQUEST_PREFIX, &n))
                return 0;
        req = g_hash_table_lookup(bt->requests, &n);
        if (!req || !req->path || req->orphaned)
                return 0;
        r = check_owner(bus, req->owner, path, error);
        if (r < 0)
                return r;
        *ret_found = req;
        return 1;
}

static int find_chat(sd_bus *bus, const char *path, const char *interface, void *userdata, void **ret_found,
                sd_bus_error *error)
{
        struct bus_text *bt = userdata;
        struct text_chat *chat;
        uint64_t n;
        int r;

        if (!parse_number(path, CHAT_PREFIX, &n))
                return 0;
        chat = g_hash_table_lookup(bt->chats, &n);
        if (!chat)
                return 0;
        r = check_owner(bus, chat->owner, path, error);
        if (r < 0)
                return r;
        *ret_found = chat;
        return 1;
}

/* Introspection lists a caller's own objects only: others' would tell it who else is busy. */
static int enumerate(sd_bus *bus, GHashTable *table, bool requests, char ***ret)
{
        sd_bus_message *m = sd_bus_get_current_message(bus);
        const char *sender = m ? sd_bus_message_get_sender(m) : NULL;
        GHashTableIter i;
        gpointer v;
        char **l;
        size_t n = 0;

        l = calloc(g_hash_table_size(table) + 1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        g_hash_table_iter_init(&i, table);
        while (g_hash_table_iter_next(&i, NULL, &v)) {
                const char *path, *owner;

                if (requests) {
                        const struct text_request *req = v;
                        if (!req->path || req->orphaned)
                                continue;
                        path = req->path;
                        owner = req->owner;
                } else {
                        const struct text_chat *chat = v;
                        path = chat->path;
                        owner = chat->owner;
                }
                if (sender && strcmp(sender, owner) != 0)
                        continue;
                if (!(l[n++] = strdup(path))) {
                        strv_free(l);
                        return -ENOMEM;
                }
        }
        *ret = l;
        return 0;
}

static int enumerate_requests(
                sd_bus *bus, const char *prefix, void *userdata, char ***ret_nodes, sd_bus_error *error)
{
        struct bus_text *bt = userdata;
        return enumerate(bus, bt->requests, true, ret_nodes);
}

static int enumerate_chats(
                sd_bus *bus, const char *prefix, void *userdata, char ***ret_nodes, sd_bus_error *error)
{
        struct bus_text *bt = userdata;
        return enumerate(bus, bt->chats, false, ret_nodes);
}

static int method_cancel(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        struct text_request *req = userdata;
        int r;

        /* No Token after the reply, though the worker may be a step away from noticing. */
        bus_stream_close(req->stream);
        r = text_engine_cancel(req->bt->engine, req->job);
        /* -ENOENT: it ended a moment ago; its Finished or Failed is on its way. */
        if (r < 0 && r != -ENOENT)
                return engine_error(r, "cancellation", error);
        return sd_bus_reply_method_return(m, NULL);
}

/* ---- chats ---- */

static struct text_chat *chat_free(struct text_chat *chat)
{
        if (!chat)
                return NULL;
        if (chat->running) {
                chat->running->chat = NULL;
                chat->running = NULL;
        }
        sd_bus_track_unref(chat->track);
        options_clear(&chat->defaults);
        free(chat->path);
        free(chat->owner);
        free(chat->app_id);
        free(chat->model_id);
        free(chat->model_path);
        free(chat);
        return NULL;
}

/* Ends a chat: its running answer is cancelled (its request object stays until its Failed), the
 * engine forgets the conversation, the object goes away. */
static void chat_close(struct text_chat *chat, const char *why)
{
        struct bus_text *bt = chat->bt;
        int r;

        log_debug("Chat %" PRIu64 " of %s: %s.", chat->number, chat->owner, why);
        if (chat->running) {
                struct text_request *req = chat->running;

                req->chat = NULL;
                chat->running = NULL;
                r = text_engine_cancel(bt->engine, req->job);
                if (r < 0 && r != -ENOENT)
                        log_warning_errno(r, "Failed to cancel request %" PRIu64 ": %m", req->number);
        }
        r = text_engine_chat_close(bt->engine, chat->engine_chat);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "Failed to close chat %" PRIu64 ": %m", chat->number);
        g_hash_table_remove(bt->chats, &chat->number);
}

static uint32_t chat_context_size(struct text_chat *chat)
{
        uint32_t n = text_engine_chat_context_size(chat->bt->engine, chat->engine_chat);
        return n > 0 ? n : chat->context_guess;
}

/* PropertiesChanged for TokensUsed (and ContextSize once the engine knows it), to the owner only:
 * token counts say how much someone is writing. */
static void chat_emit_changed(struct text_chat *chat)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        uint32_t ctx = chat_context_size(chat);
        int r;

        r = bus_new_unicast_signal(chat->bt->d->bus, chat->path, chat->owner,
                        "org.freedesktop.DBus.Properties", "PropertiesChanged", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", CHAT_INTERFACE);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "TokensUsed", "u", chat->tokens_used);
        if (r >= 0 && ctx != chat->context_size_sent)
                r = sd_bus_message_append(m, "{sv}", "ContextSize", "u", ctx);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_append(m, "as", 0);
        if (r >= 0)
                r = sd_bus_send(NULL, m, NULL);
        if (r < 0) {
                log_warning_errno(
                                r, "Failed to send PropertiesChanged of chat %" PRIu64 ": %m", chat->number);
                return;
        }
        chat->context_size_sent = ctx;
}

static void on_overflow(void *userdata, uint32_t dropped_turns)
{
        struct text_chat *chat = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = bus_new_unicast_signal(
                        chat->bt->d->bus, chat->path, chat->owner, CHAT_INTERFACE, "ContextOverflow", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "u", dropped_turns);
        if (r >= 0)
                r = sd_bus_send(NULL, m, NULL);
        if (r < 0)
                log_warning_errno(r, "Failed to send ContextOverflow of chat %" PRIu64 ": %m", chat->number);
}

static void on_tokens_used(void *userdata, uint32_t n_tokens)
{
        struct text_chat *chat = userdata;

        if (chat->tokens_used == n_tokens && chat->context_size_sent == chat_context_size(chat))
                return;
        chat->tokens_used = n_tokens;
        chat_emit_changed(chat);
}

static const struct text_events chat_events = {
        .token = NULL,
        .finished = NULL,
        .failed = NULL,
        .context_overflow = on_overflow,
        .tokens_used = on_tokens_used,
};

static int on_owner_gone_chat(sd_bus_track *track, void *userdata)
{
        chat_close(userdata, "its client left the bus");
        return 0;
}

static void chat_freep(struct text_chat **p)
{
        chat_free(*p);
}

static int method_create_chat(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_(chat_freep) struct text_chat *c = NULL;
        struct bus_text *bt = userdata;
        struct policy_verdict verdict;
        const struct registry_entry *e;
        const char *path;
        int r;

        r = policy_check(bt->d, m, AID_CAP_TEXT, &verdict, error);
        if (r < 0)
                return r;
        r = check_chats(bt, &verdict, error);
        if (r < 0)
                return r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        options_init(&c->defaults);
        r = parse_options(m, CHAT_OPTIONS, &c->defaults, error);
        if (r < 0)
                return r;
        r = resolve_model(bt, c->defaults.model, &e, error);
        if (r < 0)
                return r;
        /* Checked now, so that a chat does not fail every turn for its defaults. */
        if (c->defaults.set & (1u << OPT_MAX_TOKENS)) {
                r = resolve_max_tokens(bt, e, &verdict, &c->defaults, error);
                if (r < 0)
                        return r;
        }

        c->bt = bt;
        c->number = ++bt->n_chats_made;
        c->owner = strdup(sd_bus_message_get_sender(m) ?: "");
        c->app_id = strdup(verdict.app_id);
        c->model_id = strdup(e->id);
        c->model_path = strdup(e->path);
        c->context_guess = context_of(bt, e);
        if (!c->owner || !c->app_id || !c->model_id || !c->model_path ||
                        asprintf(&c->path, CHAT_PREFIX "/%" PRIu64, c->number) < 0) {
                c->path = NULL;
                return -ENOMEM;
        }
        r = track_owner(bt, c->owner, on_owner_gone_chat, c, &c->track);
        if (r < 0)
                return r;
        r = text_engine_chat_new(bt->engine, c->app_id, c->model_id, c->model_path,
                        c->defaults.system_prompt && c->defaults.system_prompt[0] ? c->defaults.system_prompt
                                                                                  : NULL,
                        &chat_events, c, &c->engine_chat);
        if (r < 0)
                return engine_error(r, "chat", error);
        c->context_size_sent = chat_context_size(c);

        log_debug("Chat %" PRIu64 " of %s (%s): model %s.", c->number, c->owner, c->app_id, c->model_id);
        path = c->path;
        g_hash_table_insert(bt->chats, &c->number, c);
        TAKE_PTR(c);
        return sd_bus_reply_method_return(m, "o", path);
}

static int method_send(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        struct text_chat *chat = userdata;
        struct bus_text *bt = chat->bt;
        struct text_options o _cleanup_(options_clear);
        struct policy_verdict verdict;
        const struct registry_entry *e;
        struct text_request *req = NULL;
        struct text_job_params params;
        const char *message;
        int r;

        options_init(&o);
        r = policy_check(bt->d, m, AID_CAP_TEXT, &verdict, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "s", &message);
        if (r < 0)
                return r;
        r = check_text("message", message, error);
        if (r < 0)
                return r;
        r = options_copy(&chat->defaults, &o);
        if (r < 0)
                return r;
        r = parse_options(m, SEND_OPTIONS, &o, error);
        if (r < 0)
                return r;
        /* The chat's model may have gone from the registry since (a rescan). */
        r = resolve_model(bt, chat->model_id, &e, error);
        if (r < 0)
                return r;
        r = resolve_max_tokens(bt, e, &verdict, &o, error);
        if (r < 0)
                return r;
        if (chat->running)
                return sd_bus_error_setf(error, AID_ERROR_QUOTA_EXCEEDED,
                                "chat %s is still answering the previous message; wait for its Finished or "
                                "Cancel it",
                                chat->path);
        r = check_concurrency(bt, &verdict, error);
        if (r < 0)
                return r;

        r = request_new(bt, m, &verdict, e->id, true, &req);
        if (r < 0)
                return r;
        fill_params(&params, &verdict, e, message, &o, req);
        r = text_engine_chat_send(
                        bt->engine, chat->engine_chat, message, &params, &request_events, req, &req->job);
        if (r < 0) {
                sink_drop(&params);
                request_free(req);
                return engine_error(r, "message", error);
        }
        req->chat = chat;
        chat->running = req;
        g_hash_table_insert(bt->requests, &req->number, req);
        return sd_bus_reply_method_return(m, "o", req->path);
}

static int method_reset(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        struct text_chat *chat = userdata;
        int r;

        if (chat->running)
                return sd_bus_error_setf(error, AID_ERROR_QUOTA_EXCEEDED,
                                "chat %s is still answering; Cancel the answer before Reset", chat->path);
        r = text_engine_chat_reset(chat->bt->engine, chat->engine_chat);
        if (r < 0)
                return engine_error(r, "reset", error);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_close(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        /* The reply is made first: closing frees the chat. */
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        chat_close(userdata, "closed by its client");
        return sd_bus_send(NULL, reply, NULL);
}

static int property_tokens_used(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        struct text_chat *chat = userdata;
        return sd_bus_message_append(reply, "u", chat->tokens_used);
}

static int property_context_size(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        return sd_bus_message_append(reply, "u", chat_context_size(userdata));
}

static int property_model(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        struct text_chat *chat = userdata;
        return sd_bus_message_append(reply, "s", chat->model_id);
}

/* ---- vtables ---- */

/* Every caller may reach these (SD_BUS_VTABLE_UNPRIVILEGED): the privacy policy, not the bus's
 * uid check, decides who may generate text; the objects check their owner themselves. */
static const sd_bus_vtable text_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Generate", SD_BUS_ARGS("s", prompt, "a{sv}", options),
                        SD_BUS_RESULT("s", text, "a{sv}", stats), method_generate,
                        SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StartGeneration", SD_BUS_ARGS("s", prompt, "a{sv}", options),
                        SD_BUS_RESULT("o", request), method_start_generation, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CreateChat", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("o", chat),
                        method_create_chat, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static const sd_bus_vtable request_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Cancel", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_cancel,
                        SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("Token", SD_BUS_ARGS("s", text), 0),
        SD_BUS_SIGNAL_WITH_ARGS("Finished", SD_BUS_ARGS("a{sv}", stats), 0),
        SD_BUS_SIGNAL_WITH_ARGS("Failed", SD_BUS_ARGS("s", error_name, "s", message), 0),
        SD_BUS_VTABLE_END,
};

static const sd_bus_vtable chat_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Send", SD_BUS_ARGS("s", message, "a{sv}", options),
                        SD_BUS_RESULT("o", request), method_send, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                        "Reset", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reset, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                        "Close", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_close, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("ContextOverflow", SD_BUS_ARGS("u", dropped_turns), 0),
        SD_BUS_PROPERTY("TokensUsed", "u", property_tokens_used, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ContextSize", "u", property_context_size, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Model", "s", property_model, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END,
};

/* ---- model state ---- */

static const char *state_name(enum text_model_state s)
{
        switch (s) {
        case TEXT_MODEL_UNLOADED:
                return "unloaded";
        case TEXT_MODEL_LOADING:
                return "loading";
        case TEXT_MODEL_READY:
                return "ready";
        case TEXT_MODEL_FAILED:
                return "failed";
        }
        return "unloaded";
}

static void on_model_state(void *userdata, const char *model_path, enum text_model_state state,
                double progress, const char *reason)
{
        struct bus_text *bt = userdata;
        int r;

        /* Loading reports progress often; a tenth is enough for a progress bar. */
        if (state == TEXT_MODEL_LOADING && progress > 0 && progress - bt->last_progress < 0.1)
                return;
        bt->last_progress = state == TEXT_MODEL_LOADING ? progress : 0;

        if (state == TEXT_MODEL_FAILED)
                log_warning("Model %s failed to load: %s", model_path, reason ? reason : "unknown reason");
        else if (state == TEXT_MODEL_LOADING && progress > 0)
                log_info("Model %s: loading, %.0f%% read.", model_path, 100 * progress);
        else
                log_info("Model %s: %s.", model_path, state_name(state));
        r = sd_bus_emit_properties_changed(
                        bt->d->bus, AID_OBJECT_PATH, AID_MANAGER_INTERFACE, "Models", NULL);
        if (r < 0)
                log_warning_errno(r, "Failed to emit PropertiesChanged for Models: %m");
}

const char *bus_text_model_state(
                struct bus_text *bt, const char *model_path, double *ret_progress, const char **ret_reason)
{
        enum text_model_state s;
        const char *reason = NULL;
        double progress = 0;

        if (!bt || !bt->engine)
                s = TEXT_MODEL_UNLOADED;
        else
                s = text_engine_model_state(bt->engine, model_path, &progress, &reason);
        if (ret_progress)
                *ret_progress = progress;
        if (ret_reason)
                *ret_reason = s == TEXT_MODEL_FAILED ? reason : NULL;
        return state_name(s);
}

/* ---- life cycle ---- */

static void request_destroy(gpointer p)
{
        request_free(p);
}

static void chat_destroy(gpointer p)
{
        chat_free(p);
}

void bus_text_check_lease(struct bus_text *bt)
{
        if (bt)
                text_engine_check_lease(bt->engine);
}

int bus_text_new(struct daemon *d, struct bus_text **ret)
{
        _cleanup_(bus_text_freep) struct bus_text *bt = NULL;
        const struct aid_text_conf *tc = &d->conf.text;
        struct text_engine_config config = {
                .n_threads = tc->threads,
                .n_ctx = tc->context_size,
                .n_seq_max = tc->max_sequences,
                .prefill_chunk = tc->prefill_chunk,
                .prefill_step_usec = (uint64_t)tc->prefill_step_msec * 1000u,
                .idle_unload_usec = d->conf.idle_unload_sec * UINT64_C(1000000),
        };
        int r;

        bt = calloc(1, sizeof(*bt));
        if (!bt)
                return log_error_errno(-ENOMEM, "Out of memory");
        bt->d = d;
        bt->requests = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, request_destroy);
        bt->chats = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, chat_destroy);

        r = text_engine_new(d->event, &config, &bt->engine);
        if (r < 0)
                return log_error_errno(r, "Failed to start the text worker: %m");
        text_engine_set_model_state_callback(bt->engine, on_model_state, bt);

        r = sd_bus_add_object_vtable(
                        d->bus, &bt->text_slot, AID_OBJECT_PATH, TEXT_INTERFACE, text_vtable, bt);
        if (r >= 0)
                r = sd_bus_add_fallback_vtable(d->bus, &bt->request_slot, REQUEST_PREFIX, REQUEST_INTERFACE,
                                request_vtable, find_request, bt);
        if (r >= 0)
                r = sd_bus_add_node_enumerator(
                                d->bus, &bt->request_enum_slot, REQUEST_PREFIX, enumerate_requests, bt);
        if (r >= 0)
                r = sd_bus_add_fallback_vtable(d->bus, &bt->chat_slot, CHAT_PREFIX, CHAT_INTERFACE,
                                chat_vtable, find_chat, bt);
        if (r >= 0)
                r = sd_bus_add_node_enumerator(
                                d->bus, &bt->chat_enum_slot, CHAT_PREFIX, enumerate_chats, bt);
        if (r < 0)
                return log_error_errno(r, "Failed to export %s: %m", TEXT_INTERFACE);

        *ret = TAKE_PTR(bt);
        return 0;
}

struct bus_text *bus_text_free(struct bus_text *bt)
{
        if (!bt)
                return NULL;
        /* The engine first: after it no event can reach a request or chat freed below. */
        bt->engine = text_engine_free(bt->engine);
        sd_bus_slot_unref(bt->text_slot);
        sd_bus_slot_unref(bt->request_slot);
        sd_bus_slot_unref(bt->request_enum_slot);
        sd_bus_slot_unref(bt->chat_slot);
        sd_bus_slot_unref(bt->chat_enum_slot);
        if (bt->chats)
                g_hash_table_destroy(bt->chats);
        if (bt->requests)
                g_hash_table_destroy(bt->requests);
        free(bt);
        return NULL;
}
