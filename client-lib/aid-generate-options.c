/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include "aid-internal.h"

/**
 * AidGenerateOptions:
 *
 * How to generate: the options of the D-Bus interface org.aid.Daemon1.Text. Every option
 * starts unset, and an unset option is not sent, so the daemon's default applies (and the
 * privacy policy's limits cap what is set). Pass one to aid_client_generate(),
 * aid_client_start_generation(), aid_client_create_chat() or aid_chat_send().
 */
struct _AidGenerateOptions {
        GObject parent_instance;

        guint max_tokens;      /* 0: unset */
        double temperature;    /* < 0: unset */
        int top_k;             /* < 0: unset */
        double top_p;          /* < 0: unset */
        double min_p;          /* < 0: unset */
        double repeat_penalty; /* < 0: unset */
        gint64 seed;           /* < 0: unset */
        char **stop;           /* NULL: unset */
        char *model;
        char *priority;
};

G_DEFINE_FINAL_TYPE(AidGenerateOptions, aid_generate_options, G_TYPE_OBJECT)

enum {
        PROP_0,
        PROP_MAX_TOKENS,
        PROP_TEMPERATURE,
        PROP_TOP_K,
        PROP_TOP_P,
        PROP_MIN_P,
        PROP_REPEAT_PENALTY,
        PROP_SEED,
        PROP_STOP,
        PROP_MODEL,
        PROP_PRIORITY,
        N_PROPS,
};

static GParamSpec *props[N_PROPS];

static void aid_generate_options_finalize(GObject *object)
{
        AidGenerateOptions *self = AID_GENERATE_OPTIONS(object);

        g_strfreev(self->stop);
        g_free(self->model);
        g_free(self->priority);
        G_OBJECT_CLASS(aid_generate_options_parent_class)->finalize(object);
}

static void aid_generate_options_get_property(
                GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
        AidGenerateOptions *self = AID_GENERATE_OPTIONS(object);

        switch (prop_id) {
        case PROP_MAX_TOKENS:
                g_value_set_uint(value, self->max_tokens);
                break;
        case PROP_TEMPERATURE:
                g_value_set_double(value, self->temperature);
                break;
        case PROP_TOP_K:
                g_value_set_int(value, self->top_k);
                break;
        case PROP_TOP_P:
                g_value_set_double(value, self->top_p);
                break;
        case PROP_MIN_P:
                g_value_set_double(value, self->min_p);
                break;
        case PROP_REPEAT_PENALTY:
                g_value_set_double(value, self->repeat_penalty);
                break;
        case PROP_SEED:
                g_value_set_int64(value, self->seed);
                break;
        case PROP_STOP:
                g_value_set_boxed(value, self->stop);
                break;
        case PROP_MODEL:
                g_value_set_string(value, self->model);
                break;
        case PROP_PRIORITY:
                g_value_set_string(value, self->priority);
                break;
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
        }
}

static void aid_generate_options_set_property(
                GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
        AidGenerateOptions *self = AID_GENERATE_OPTIONS(object);

        switch (prop_id) {
        case PROP_MAX_TOKENS:
                aid_generate_options_set_max_tokens(self, g_value_get_uint(value));
                break;
        case PROP_TEMPERATURE:
                aid_generate_options_set_temperature(self, g_value_get_double(value));
                break;
        case PROP_TOP_K:
                aid_generate_options_set_top_k(self, g_value_get_int(value));
                break;
        case PROP_TOP_P:
                aid_generate_options_set_top_p(self, g_value_get_double(value));
                break;
        case PROP_MIN_P:
                aid_generate_options_set_min_p(self, g_value_get_double(value));
                break;
        case PROP_REPEAT_PENALTY:
                aid_generate_options_set_repeat_penalty(self, g_value_get_double(value));
                break;
        case PROP_SEED:
                aid_generate_options_set_seed(self, g_value_get_int64(value));
                break;
        case PROP_STOP:
                aid_generate_options_set_stop(self, g_value_get_boxed(value));
                break;
        case PROP_MODEL:
                aid_generate_options_set_model(self, g_value_get_string(value));
                break;
        case PROP_PRIORITY:
                aid_generate_options_set_priority(self, g_value_get_string(value));
                break;
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
        }
}

#define PROP_FLAGS (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS)

static void aid_generate_options_class_init(AidGenerateOptionsClass *klass)
{
        GObjectClass *object_class = G_OBJECT_CLASS(klass);

        object_class->finalize = aid_generate_options_finalize;
        object_class->get_property = aid_generate_options_get_property;
        object_class->set_property = aid_generate_options_set_property;

        /**
         * AidGenerateOptions:max-tokens:
         *
         * The most tokens to generate; 0 leaves it to the daemon (256, capped by the policy).
         */
        props[PROP_MAX_TOKENS] = g_param_spec_uint(
                        "max-tokens", NULL, "Most tokens to generate", 0, G_MAXUINT32, 0, PROP_FLAGS);
        /**
         * AidGenerateOptions:temperature:
         *
         * Sampling temperature, 0 for greedy; negative leaves it to the daemon (0.8).
         */
        props[PROP_TEMPERATURE] = g_param_spec_double(
                        "temperature", NULL, "Sampling temperature", -1, G_MAXDOUBLE, -1, PROP_FLAGS);
        /**
         * AidGenerateOptions:top-k:
         *
         * Sample among the k likeliest tokens; negative leaves it to the daemon.
         */
        props[PROP_TOP_K] = g_param_spec_int("top-k", NULL, "Top-k", -1, G_MAXINT32, -1, PROP_FLAGS);
        /**
         * AidGenerateOptions:top-p:
         *
         * Nucleus sampling threshold (0..1); negative leaves it to the daemon.
         */
        props[PROP_TOP_P] = g_param_spec_double("top-p", NULL, "Top-p", -1, 1, -1, PROP_FLAGS);
        /**
         * AidGenerateOptions:min-p:
         *
         * Minimum probability relative to the likeliest token (0..1); negative leaves it to the
         * daemon.
         */
        props[PROP_MIN_P] = g_param_spec_double("min-p", NULL, "Min-p", -1, 1, -1, PROP_FLAGS);
        /**
         * AidGenerateOptions:repeat-penalty:
         *
         * Penalty for tokens already in the text (1 = none); negative leaves it to the daemon.
         */
        props[PROP_REPEAT_PENALTY] = g_param_spec_double(
                        "repeat-penalty", NULL, "Repeat penalty", -1, G_MAXDOUBLE, -1, PROP_FLAGS);
        /**
         * AidGenerateOptions:seed:
         *
         * Sampling seed: the same seed and options give the same text. Negative leaves it to
         * the daemon (a different text each time).
         */
        props[PROP_SEED] = g_param_spec_int64("seed", NULL, "Sampling seed", -1, G_MAXINT64, -1, PROP_FLAGS);
        /**
         * AidGenerateOptions:stop:
         *
         * Stop strings: generation ends before the first one, which is not part of the text.
         */
        props[PROP_STOP] = g_param_spec_boxed("stop", NULL, "Stop strings", G_TYPE_STRV, PROP_FLAGS);
        /**
         * AidGenerateOptions:model:
         *
         * The id of the model to use (see aid_client_list_models()); %NULL for the daemon's
         * default text model.
         */
        props[PROP_MODEL] = g_param_spec_string("model", NULL, "Model id", NULL, PROP_FLAGS);
        /**
         * AidGenerateOptions:priority:
         *
         * "interactive" (the daemon's default) or "background".
         */
        props[PROP_PRIORITY] = g_param_spec_string("priority", NULL, "Priority class", NULL, PROP_FLAGS);
        g_object_class_install_properties(object_class, N_PROPS, props);
}

static void aid_generate_options_init(AidGenerateOptions *self)
{
        self->temperature = -1;
        self->top_k = -1;
        self->top_p = -1;
        self->min_p = -1;
        self->repeat_penalty = -1;
        self->seed = -1;
}

/**
 * aid_generate_options_new:
 *
 * Returns: (transfer full): options with every option unset
 */
AidGenerateOptions *aid_generate_options_new(void)
{
        return g_object_new(AID_TYPE_GENERATE_OPTIONS, NULL);
}

static void set_double(AidGenerateOptions *self, double *field, double value, int prop)
{
        if (isnan(value) || value < 0)
                value = -1;
        if (*field == value)
                return;
        *field = value;
        g_object_notify_by_pspec(G_OBJECT(self), props[prop]);
}

/* g_set_str() arrived in GLib 2.76; Debian 12 has 2.74. */
static gboolean replace_str(char **field, const char *value)
{
        if (g_strcmp0(*field, value) == 0)
                return FALSE;
        g_free(*field);
        *field = g_strdup(value);
        return TRUE;
}

/**
 * aid_generate_options_set_max_tokens:
 * @options: an #AidGenerateOptions
 * @max_tokens: the most tokens to generate, 0 to unset
 */
void aid_generate_options_set_max_tokens(AidGenerateOptions *options, guint max_tokens)
{
        g_return_if_fail(AID_IS_GENERATE_OPTIONS(options));
        if (options->max_tokens == max_tokens)
                return;
        options->max_tokens = max_tokens;
        g_object_notify_by_pspec(G_OBJECT(options), props[PROP_MAX_TOKENS]);
}

/**
 * aid_generate_options_get_max_tokens:
 * @options: an #AidGenerateOptions
 *
 * Returns: the most tokens to generate, 0 when unset
 */
guint aid_generate_options_get_max_tokens(AidGenerateOptions *options)
{
        g_return_val_if_fail(AID_IS_GENERATE_OPTIONS(options), 0);
        return options->max_tokens;
}

/**
 * aid_generate_options_set_temperature:
 * @options: an #AidGenerateOptions
 * @temperature: 0 for greedy decoding, higher for more varied text; negative to unset
 */
void aid_generate_options_set_temperature(AidGenerateOptions *options, double temperature)
{
        g_return_if_fail(AID_IS_GENERATE_OPTIONS(options));
        set_double(options, &options->temperature, temperature, PROP_TEMPERATURE);
}

/**
 * aid_generate_options_get_temperature:
 * @options: an #AidGenerateOptions
 *
 * Returns: the temperature, negative when unset
 */
double aid_generate_options_get_temperature(AidGenerateOptions *options)
{
        g_return_val_if_fail(AID_IS_GENERATE_OPTIONS(options), -1);
        return options->temperature;
}

/**
 * aid_generate_options_set_top_k:
 * @options: an #AidGenerateOptions
 * @top_k: sample among the @top_k likeliest tokens; negative to unset
 */
void aid_generate_options_set_top_k(AidGenerateOptions *options, int top_k)
{
        g_return_if_fail(AID_IS_GENERATE_OPTIONS(options));
        top_k = MAX(top_k, -1);
        if (options->top_k == top_k)
                return;
        options->top_k = top_k;
        g_object_notify_by_pspec(G_OBJECT(options), props[PROP_TOP_K]);
}

/**
 * aid_generate_options_get_top_k:
 * @options: an #AidGenerateOptions
 *
 * Returns: top-k, negative when unset
 */
int aid_generate_options_get_top_k(AidGenerateOptions *options)
{
        g_return_val_if_fail(AID_IS_GENERATE_OPTIONS(options), -1);
        return options->top_k;
}

/**
 * aid_generate_options_set_top_p:
 * @options: an #AidGenerateOptions
 * @top_p: nucleus sampling threshold, 0..1; negative to unset
 */
void aid_generate_options_set_top_p(AidGenerateOptions *options, double top_p)
{
        g_return_if_fail(AID_IS_GENERATE_OPTIONS(options));
        set_double(options, &options->top_p, top_p, PROP_TOP_P);
}

/**
 * aid_generate_options_get_top_p:
 * @options: an #AidGenerateOptions
 *
 * Returns: top-p, negative when unset
 */
double aid_generate_options_get_top_p(AidGenerateOptions *options)
{
        g_return_val_if_fail(AID_IS_GENERATE_OPTIONS(options), -1);
        return options->top_p;
}

/**
 * aid_generate_options_set_min_p:
 * @options: an #AidGenerateOptions
 * @min_p: minimum probability relative to the likeliest token, 0..1; negative to unset
 */
void aid_generate_options_set_min_p(AidGenerateOptions *options, double min_p)
{
        g_return_if_fail(AID_IS_GENERATE_OPTIONS(options));
        set_double(options, &options->min_p, min_p, PROP_MIN_P);
}

/**
 * aid_generate_options_get_min_p:
 * @options: an #AidGenerateOptions
 *
 * Returns: min-p, negative when unset
 */
double aid_generate_options_get_min_p(AidGenerateOptions *options)
{
        g_return_val_if_fail(AID_IS_GENERATE_OPTIONS(options), -1);
        return options->min_p;
}

/**
 * aid_generate_options_set_repeat_penalty:
 * @options: an #AidGenerateOptions
 * @repeat_penalty: penalty for tokens already in the text (1 = none); negative to unset
 */
void aid_generate_options_set_repeat_penalty(AidGenerateOptions *options, double repeat_penalty)
{
        g_return_if_fail(AID_IS_GENERATE_OPTIONS(options));
        set_double(options, &options->repeat_penalty, repeat_penalty, PROP_REPEAT_PENALTY);
}

/**
 * aid_generate_options_get_repeat_penalty:
 * @options: an #AidGenerateOptions
 *
 * Returns: the repeat penalty, negative when unset
 */
double aid_generate_options_get_repeat_penalty(AidGenerateOptions *options)
{
        g_return_val_if_fail(AID_IS_GENERATE_OPTIONS(options), -1);
        return options->repeat_penalty;
}

/**
 * aid_generate_options_set_seed:
 * @options: an #AidGenerateOptions
 * @seed: the sampling seed; negative to unset
 */
void aid_generate_options_set_seed(AidGenerateOptions *options, gint64 seed)
{
        g_return_if_fail(AID_IS_GENERATE_OPTIONS(options));
        seed = MAX(seed, -1);
        if (options->seed == seed)
                return;
        options->seed = seed;
        g_object_notify_by_pspec(G_OBJECT(options), props[PROP_SEED]);
}

/**
 * aid_generate_options_get_seed:
 * @options: an #AidGenerateOptions
 *
 * Returns: the seed, negative when unset
 */
gint64 aid_generate_options_get_seed(AidGenerateOptions *options)
{
        g_return_val_if_fail(AID_IS_GENERATE_OPTIONS(options), -1);
        return options->seed;
}

/**
 * aid_generate_options_set_stop:
 * @options: an #AidGenerateOptions
 * @stop: (nullable) (array zero-terminated=1): stop strings, or %NULL to unset
 */
void aid_generate_options_set_stop(AidGenerateOptions *options, const char *const *stop)
{
        g_return_if_fail(AID_IS_GENERATE_OPTIONS(options));
        g_strfreev(options->stop);
        options->stop = g_strdupv((char **)stop);
        g_object_notify_by_pspec(G_OBJECT(options), props[PROP_STOP]);
}

/**
 * aid_generate_options_get_stop:
 * @options: an #AidGenerateOptions
 *
 * Returns: (nullable) (array zero-terminated=1) (transfer none): the stop strings, %NULL when
 *   unset
 */
const char *const *aid_generate_options_get_stop(AidGenerateOptions *options)
{
        g_return_val_if_fail(AID_IS_GENERATE_OPTIONS(options), NULL);
        return (const char *const *)options->stop;
}

/**
 * aid_generate_options_set_model:
 * @options: an #AidGenerateOptions
 * @model: (nullable): a model id, or %NULL for the daemon's default text model
 */
void aid_generate_options_set_model(AidGenerateOptions *options, const char *model)
{
        g_return_if_fail(AID_IS_GENERATE_OPTIONS(options));
        if (replace_str(&options->model, model))
                g_object_notify_by_pspec(G_OBJECT(options), props[PROP_MODEL]);
}

/**
 * aid_generate_options_get_model:
 * @options: an #AidGenerateOptions
 *
 * Returns: (nullable): the model id, %NULL when unset
 */
const char *aid_generate_options_get_model(AidGenerateOptions *options)
{
        g_return_val_if_fail(AID_IS_GENERATE_OPTIONS(options), NULL);
        return options->model;
}

/**
 * aid_generate_options_set_priority:
 * @options: an #AidGenerateOptions
 * @priority: (nullable): "interactive" or "background", or %NULL to unset
 */
void aid_generate_options_set_priority(AidGenerateOptions *options, const char *priority)
{
        g_return_if_fail(AID_IS_GENERATE_OPTIONS(options));
        if (replace_str(&options->priority, priority))
                g_object_notify_by_pspec(G_OBJECT(options), props[PROP_PRIORITY]);
}

/**
 * aid_generate_options_get_priority:
 * @options: an #AidGenerateOptions
 *
 * Returns: (nullable): the priority class, %NULL when unset
 */
const char *aid_generate_options_get_priority(AidGenerateOptions *options)
{
        g_return_val_if_fail(AID_IS_GENERATE_OPTIONS(options), NULL);
        return options->priority;
}

/**
 * aid_generate_options_to_variant:
 * @options: (nullable): an #AidGenerateOptions, or %NULL for none
 *
 * The options as the D-Bus methods take them: an a{sv} dictionary holding the options that
 * are set, with the key names and types of org.aid.Daemon1.Text.
 *
 * Returns: (transfer floating): a new floating a{sv} variant
 */
GVariant *aid_generate_options_to_variant(AidGenerateOptions *options)
{
        GVariantBuilder b;

        g_return_val_if_fail(!options || AID_IS_GENERATE_OPTIONS(options), NULL);

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        if (!options)
                return g_variant_builder_end(&b);
        if (options->max_tokens > 0)
                g_variant_builder_add(&b, "{sv}", "max_tokens", g_variant_new_uint32(options->max_tokens));
        if (options->temperature >= 0)
                g_variant_builder_add(&b, "{sv}", "temperature", g_variant_new_double(options->temperature));
        if (options->top_k >= 0)
                g_variant_builder_add(&b, "{sv}", "top_k", g_variant_new_int32(options->top_k));
        if (options->top_p >= 0)
                g_variant_builder_add(&b, "{sv}", "top_p", g_variant_new_double(options->top_p));
        if (options->min_p >= 0)
                g_variant_builder_add(&b, "{sv}", "min_p", g_variant_new_double(options->min_p));
        if (options->repeat_penalty >= 0)
                g_variant_builder_add(
                                &b, "{sv}", "repeat_penalty", g_variant_new_double(options->repeat_penalty));
        if (options->seed >= 0)
                g_variant_builder_add(&b, "{sv}", "seed", g_variant_new_uint64((guint64)options->seed));
        if (options->stop)
                g_variant_builder_add(&b, "{sv}", "stop",
                                g_variant_new_strv((const char *const *)options->stop, -1));
        if (options->model)
                g_variant_builder_add(&b, "{sv}", "model", g_variant_new_string(options->model));
        if (options->priority)
                g_variant_builder_add(&b, "{sv}", "priority", g_variant_new_string(options->priority));
        return g_variant_builder_end(&b);
}
