/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(AID_INSIDE) && !defined(AID_COMPILATION)
#error "Only <aid/aid.h> can be included directly."
#endif

#include <gio/gio.h>

#include "aid-client.h"

G_BEGIN_DECLS

/**
 * AidGenerationStats:
 * @prompt_tokens: tokens in the prompt (for a chat turn: the tokens the turn added)
 * @generated_tokens: tokens generated
 * @time_to_first_token_us: microseconds from the request to its first generated token
 * @tokens_per_second: decode speed of this request, as the daemon measured it
 * @finish_reason: (nullable): why generation ended: "eos", "stop", "length", "cancelled" or
 *   "context"
 * @model: (nullable): the id of the model that generated the text
 *
 * What the daemon reports when a generation ends (the stats of the D-Bus interface
 * org.aid.Daemon1.Text). Fields the daemon did not send are 0 or %NULL.
 */
typedef struct {
        guint prompt_tokens;
        guint generated_tokens;
        guint64 time_to_first_token_us;
        double tokens_per_second;
        char *finish_reason;
        char *model;
} AidGenerationStats;

#define AID_TYPE_GENERATION_STATS (aid_generation_stats_get_type())
GType aid_generation_stats_get_type(void);
AidGenerationStats *aid_generation_stats_new_from_variant(GVariant *stats);
AidGenerationStats *aid_generation_stats_copy(const AidGenerationStats *stats);
void aid_generation_stats_free(AidGenerationStats *stats);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AidGenerationStats, aid_generation_stats_free)

#define AID_TYPE_GENERATE_OPTIONS (aid_generate_options_get_type())
G_DECLARE_FINAL_TYPE(AidGenerateOptions, aid_generate_options, AID, GENERATE_OPTIONS, GObject)

AidGenerateOptions *aid_generate_options_new(void);
void aid_generate_options_set_max_tokens(AidGenerateOptions *options, guint max_tokens);
guint aid_generate_options_get_max_tokens(AidGenerateOptions *options);
void aid_generate_options_set_temperature(AidGenerateOptions *options, double temperature);
double aid_generate_options_get_temperature(AidGenerateOptions *options);
void aid_generate_options_set_top_k(AidGenerateOptions *options, int top_k);
int aid_generate_options_get_top_k(AidGenerateOptions *options);
void aid_generate_options_set_top_p(AidGenerateOptions *options, double top_p);
double aid_generate_options_get_top_p(AidGenerateOptions *options);
void aid_generate_options_set_min_p(AidGenerateOptions *options, double min_p);
double aid_generate_options_get_min_p(AidGenerateOptions *options);
void aid_generate_options_set_repeat_penalty(AidGenerateOptions *options, double repeat_penalty);
double aid_generate_options_get_repeat_penalty(AidGenerateOptions *options);
void aid_generate_options_set_seed(AidGenerateOptions *options, gint64 seed);
gint64 aid_generate_options_get_seed(AidGenerateOptions *options);
void aid_generate_options_set_stop(AidGenerateOptions *options, const char *const *stop);
const char *const *aid_generate_options_get_stop(AidGenerateOptions *options);
void aid_generate_options_set_model(AidGenerateOptions *options, const char *model);
const char *aid_generate_options_get_model(AidGenerateOptions *options);
void aid_generate_options_set_priority(AidGenerateOptions *options, const char *priority);
const char *aid_generate_options_get_priority(AidGenerateOptions *options);
GVariant *aid_generate_options_to_variant(AidGenerateOptions *options);

#define AID_TYPE_GENERATION (aid_generation_get_type())
G_DECLARE_FINAL_TYPE(AidGeneration, aid_generation, AID, GENERATION, GObject)

const char *aid_generation_get_object_path(AidGeneration *generation);
const char *aid_generation_get_text(AidGeneration *generation);
gboolean aid_generation_is_done(AidGeneration *generation);
const AidGenerationStats *aid_generation_get_stats(AidGeneration *generation);
const GError *aid_generation_get_error(AidGeneration *generation);
void aid_generation_cancel(AidGeneration *generation);

char *aid_client_generate_sync(AidClient *client, const char *prompt, AidGenerateOptions *options,
                AidGenerationStats **out_stats, GCancellable *cancellable, GError **error);
void aid_client_generate(AidClient *client, const char *prompt, AidGenerateOptions *options,
                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
char *aid_client_generate_finish(
                AidClient *client, GAsyncResult *result, AidGenerationStats **out_stats, GError **error);

void aid_client_start_generation(AidClient *client, const char *prompt, AidGenerateOptions *options,
                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
AidGeneration *aid_client_start_generation_finish(AidClient *client, GAsyncResult *result, GError **error);

G_END_DECLS
