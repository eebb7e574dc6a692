/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "aid/aid.h"

/**
 * AidModelInfo:
 *
 * What the daemon knows about one model file, as listed by aid_client_list_models(): where
 * it is, whether aid can use it (and why not), and what its header says. Immutable.
 *
 * Keys the daemon sends that this version does not know are ignored; keys it leaves out (the
 * header fields of a file that could not be read) read as %NULL, 0 or %FALSE.
 */
struct _AidModelInfo {
        GObject parent_instance;

        char *id;
        char *path;
        char *source;
        char *format;
        gboolean usable;
        char *reason;
        guint64 size;
        char *architecture;
        char *name;
        char *capability;
        guint64 parameters;
        guint64 context_length;
        char *file_type;
        GHashTable *tensor_counts; /* type name -> count, as GUINT_TO_POINTER */
        char **tensor_types;       /* "Q4_K:113", sorted by type name */
        char *state;
        double load_progress; /* 0..1 while loading */
        char *state_reason;   /* why it failed to load */
        char *chat_template;
        gboolean chat_system_prompt;
};

G_DEFINE_FINAL_TYPE(AidModelInfo, aid_model_info, G_TYPE_OBJECT)

enum {
        PROP_0,
        PROP_ID,
        PROP_PATH,
        PROP_SOURCE,
        PROP_FORMAT,
        PROP_USABLE,
        PROP_REASON,
        PROP_SIZE,
        PROP_ARCHITECTURE,
        PROP_NAME,
        PROP_CAPABILITY,
        PROP_PARAMETERS,
        PROP_CONTEXT_LENGTH,
        PROP_FILE_TYPE,
        PROP_TENSOR_TYPES,
        PROP_STATE,
        PROP_LOAD_PROGRESS,
        PROP_STATE_REASON,
        PROP_CHAT_TEMPLATE,
        PROP_CHAT_SYSTEM_PROMPT,
        N_PROPS,
};

static GParamSpec *props[N_PROPS];

static void aid_model_info_finalize(GObject *object)
{
        AidModelInfo *self = AID_MODEL_INFO(object);

        g_free(self->id);
        g_free(self->path);
        g_free(self->source);
        g_free(self->format);
        g_free(self->reason);
        g_free(self->architecture);
        g_free(self->name);
        g_free(self->capability);
        g_free(self->file_type);
        g_clear_pointer(&self->tensor_counts, g_hash_table_unref);
        g_strfreev(self->tensor_types);
        g_free(self->state);
        g_free(self->state_reason);
        g_free(self->chat_template);

        G_OBJECT_CLASS(aid_model_info_parent_class)->finalize(object);
}

static void aid_model_info_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
        AidModelInfo *self = AID_MODEL_INFO(object);

        switch (prop_id) {
        case PROP_ID:
                g_value_set_string(value, self->id);
                break;
        case PROP_PATH:
                g_value_set_string(value, self->path);
                break;
        case PROP_SOURCE:
                g_value_set_string(value, self->source);
                break;
        case PROP_FORMAT:
                g_value_set_string(value, self->format);
                break;
        case PROP_USABLE:
                g_value_set_boolean(value, self->usable);
                break;
        case PROP_REASON:
                g_value_set_string(value, self->reason);
                break;
        case PROP_SIZE:
                g_value_set_uint64(value, self->size);
                break;
        case PROP_ARCHITECTURE:
                g_value_set_string(value, self->architecture);
                break;
        case PROP_NAME:
                g_value_set_string(value, self->name);
                break;
        case PROP_CAPABILITY:
                g_value_set_string(value, self->capability);
                break;
        case PROP_PARAMETERS:
                g_value_set_uint64(value, self->parameters);
                break;
        case PROP_CONTEXT_LENGTH:
                g_value_set_uint64(value, self->context_length);
                break;
        case PROP_FILE_TYPE:
                g_value_set_string(value, self->file_type);
                break;
        case PROP_TENSOR_TYPES:
                g_value_set_boxed(value, self->tensor_types);
                break;
        case PROP_STATE:
                g_value_set_string(value, self->state);
                break;
        case PROP_LOAD_PROGRESS:
                g_value_set_double(value, self->load_progress);
                break;
        case PROP_STATE_REASON:
                g_value_set_string(value, self->state_reason);
                break;
        case PROP_CHAT_TEMPLATE:
                g_value_set_string(value, self->chat_template);
                break;
        case PROP_CHAT_SYSTEM_PROMPT:
                g_value_set_boolean(value, self->chat_system_prompt);
                break;
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
        }
}

static GParamSpec *string_prop(const char *name, const char *blurb)
{
        return g_param_spec_string(name, NULL, blurb, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
}

static GParamSpec *uint64_prop(const char *name, const char *blurb)
{
        return g_param_spec_uint64(
                        name, NULL, blurb, 0, G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
}

static void aid_model_info_class_init(AidModelInfoClass *klass)
{
        GObjectClass *object_class = G_OBJECT_CLASS(klass);

        object_class->finalize = aid_model_info_finalize;
        object_class->get_property = aid_model_info_get_property;

        /**
         * AidModelInfo:id:
         *
         * Stable identifier, unique among the listed models; what other calls take.
         */
        props[PROP_ID] = string_prop("id", "Stable identifier of the model");
        /**
         * AidModelInfo:path:
         *
         * Absolute path of the model file.
         */
        props[PROP_PATH] = string_prop("path", "Absolute path of the file");
        /**
         * AidModelInfo:source:
         *
         * Where the file was found: "config", "ollama", "huggingface" or "lmstudio".
         */
        props[PROP_SOURCE] = string_prop("source", "Where the file was found");
        /**
         * AidModelInfo:format:
         *
         * File format: "gguf" or "whisper-ggml".
         */
        props[PROP_FORMAT] = string_prop("format", "File format");
        /**
         * AidModelInfo:usable:
         *
         * Whether aid can run this model; when not, #AidModelInfo:reason says why.
         */
        props[PROP_USABLE] = g_param_spec_boolean("usable", NULL, "Whether aid can run this model", FALSE,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
        /**
         * AidModelInfo:reason:
         *
         * Why the model is not usable, or %NULL when it is.
         */
        props[PROP_REASON] = string_prop("reason", "Why the model is not usable");
        /**
         * AidModelInfo:size:
         *
         * File size in bytes.
         */
        props[PROP_SIZE] = uint64_prop("size", "File size in bytes");
        /**
         * AidModelInfo:architecture:
         *
         * Model architecture ("llama", "gemma3", "whisper", ...), or %NULL when the header
         * could not be read.
         */
        props[PROP_ARCHITECTURE] = string_prop("architecture", "Model architecture");
        /**
         * AidModelInfo:name:
         *
         * The model's own name (general.name), or %NULL when it has none.
         */
        props[PROP_NAME] = string_prop("name", "The model's own name");
        /**
         * AidModelInfo:capability:
         *
         * What the model does: "text" or "speech".
         */
        props[PROP_CAPABILITY] = string_prop("capability", "What the model does");
        /**
         * AidModelInfo:parameters:
         *
         * Number of weights, 0 when unknown.
         */
        props[PROP_PARAMETERS] = uint64_prop("parameters", "Number of weights");
        /**
         * AidModelInfo:context-length:
         *
         * Context in tokens (text models) or audio positions (speech models), 0 when unknown.
         */
        props[PROP_CONTEXT_LENGTH] = uint64_prop("context-length", "Context length");
        /**
         * AidModelInfo:file-type:
         *
         * The file's quantisation as a whole ("Q4_K_M", "F16", ...).
         */
        props[PROP_FILE_TYPE] = string_prop("file-type", "Quantisation of the file");
        /**
         * AidModelInfo:tensor-types:
         *
         * Tensor types in the file with their counts, as "TYPE:COUNT" strings sorted by type
         * name (e.g. "F32:33", "Q4_K:113"); empty when the header could not be read.
         */
        props[PROP_TENSOR_TYPES] = g_param_spec_boxed("tensor-types", NULL, "Tensor types and their counts",
                        G_TYPE_STRV, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
        /**
         * AidModelInfo:state:
         *
         * Whether the daemon has the model in memory: "unloaded", "loading", "ready" (loaded) or
         * "failed" (the last load failed, see #AidModelInfo:state-reason).
         */
        props[PROP_STATE] = string_prop("state", "Whether the model is loaded");
        /**
         * AidModelInfo:load-progress:
         *
         * While #AidModelInfo:state is "loading": the share of the weights read so far, 0 to 1;
         * otherwise 0.
         */
        props[PROP_LOAD_PROGRESS] = g_param_spec_double("load-progress", NULL, "Share of the weights read",
                        0, 1, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
        /**
         * AidModelInfo:state-reason:
         *
         * While #AidModelInfo:state is "failed": why the model could not be loaded.
         */
        props[PROP_STATE_REASON] = string_prop("state-reason", "Why the model failed to load");
        /**
         * AidModelInfo:chat-template:
         *
         * For language models, how aid formats a chat with this model: "gemma", "llama3",
         * "chatml" or "phi3"; "none" or "unrecognised" when it can only complete text (a chat
         * then fails at its first message). %NULL for other models.
         */
        props[PROP_CHAT_TEMPLATE] = string_prop("chat-template", "How aid formats a chat");
        /**
         * AidModelInfo:chat-system-prompt:
         *
         * Whether a chat's system prompt reaches the model. %FALSE where the model's chat
         * template drops system messages (the first Phi-3-mini templates do), and for models
         * that cannot chat.
         */
        props[PROP_CHAT_SYSTEM_PROMPT] = g_param_spec_boolean("chat-system-prompt", NULL,
                        "Whether a chat's system prompt reaches the model", FALSE,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

        g_object_class_install_properties(object_class, N_PROPS, props);
}

static void aid_model_info_init(AidModelInfo *self)
{
        self->tensor_counts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        self->tensor_types = g_new0(char *, 1);
}

static char *lookup_string(GVariant *dict, const char *key)
{
        g_autoptr(GVariant) v = g_variant_lookup_value(dict, key, G_VARIANT_TYPE_STRING);

        return v ? g_variant_dup_string(v, NULL) : NULL;
}

/* A double in 0..1; 0 where it is absent or not a number. */
static double lookup_share(GVariant *dict, const char *key)
{
        g_autoptr(GVariant) v = g_variant_lookup_value(dict, key, G_VARIANT_TYPE_DOUBLE);
        double d = v ? g_variant_get_double(v) : 0.0;

        return d >= 0.0 ? MIN(d, 1.0) : 0.0; /* NaN compares false */
}

static guint64 lookup_uint64(GVariant *dict, const char *key)
{
        g_autoptr(GVariant) v = g_variant_lookup_value(dict, key, G_VARIANT_TYPE_UINT64);

        return v ? g_variant_get_uint64(v) : 0;
}

static int compare_strings(gconstpointer a, gconstpointer b)
{
        return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

static void parse_tensor_types(AidModelInfo *self, GVariant *dict)
{
        g_autoptr(GVariant) types = g_variant_lookup_value(dict, "tensor_types", G_VARIANT_TYPE("a{su}"));
        g_autoptr(GPtrArray) strings = g_ptr_array_new();
        GVariantIter iter;
        const char *type_name;
        guint32 count;

        if (!types)
                return;

        g_variant_iter_init(&iter, types);
        while (g_variant_iter_next(&iter, "{&su}", &type_name, &count)) {
                g_hash_table_replace(self->tensor_counts, g_strdup(type_name), GUINT_TO_POINTER(count));
                g_ptr_array_add(strings, g_strdup_printf("%s:%u", type_name, count));
        }
        g_ptr_array_sort(strings, compare_strings);
        g_ptr_array_add(strings, NULL);

        g_strfreev(self->tensor_types);
        self->tensor_types = (char **)g_ptr_array_free(g_steal_pointer(&strings), FALSE);
}

/**
 * aid_model_info_new_from_variant:
 * @dict: a model description of type a{sv}, as the daemon's ListModels returns
 *
 * Builds a model description from the daemon's dictionary. Unknown keys and keys of an
 * unexpected type are ignored.
 *
 * Returns: (transfer full): a new #AidModelInfo
 */
AidModelInfo *aid_model_info_new_from_variant(GVariant *dict)
{
        AidModelInfo *self;
        gboolean usable = FALSE, system_prompt = FALSE;

        g_return_val_if_fail(dict != NULL, NULL);
        g_return_val_if_fail(g_variant_is_of_type(dict, G_VARIANT_TYPE_VARDICT), NULL);

        self = g_object_new(AID_TYPE_MODEL_INFO, NULL);
        self->id = lookup_string(dict, "id");
        self->path = lookup_string(dict, "path");
        self->source = lookup_string(dict, "source");
        self->format = lookup_string(dict, "format");
        if (g_variant_lookup(dict, "usable", "b", &usable))
                self->usable = usable;
        self->reason = lookup_string(dict, "reason");
        self->size = lookup_uint64(dict, "size");
        self->architecture = lookup_string(dict, "architecture");
        self->name = lookup_string(dict, "name");
        self->capability = lookup_string(dict, "capability");
        self->parameters = lookup_uint64(dict, "parameters");
        self->context_length = lookup_uint64(dict, "context_length");
        self->file_type = lookup_string(dict, "file_type");
        parse_tensor_types(self, dict);
        self->state = lookup_string(dict, "state");
        self->state_reason = lookup_string(dict, "state_reason");
        self->load_progress = lookup_share(dict, "load_progress");
        self->chat_template = lookup_string(dict, "chat_template");
        if (g_variant_lookup(dict, "chat_system_prompt", "b", &system_prompt))
                self->chat_system_prompt = system_prompt;

        return self;
}

/**
 * aid_model_info_get_id:
 * @info: an #AidModelInfo
 *
 * Returns: (nullable): the model's id, see #AidModelInfo:id
 */
const char *aid_model_info_get_id(AidModelInfo *info)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), NULL);
        return info->id;
}

/**
 * aid_model_info_get_path:
 * @info: an #AidModelInfo
 *
 * Returns: (nullable) (type filename): the file's absolute path
 */
const char *aid_model_info_get_path(AidModelInfo *info)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), NULL);
        return info->path;
}

/**
 * aid_model_info_get_source:
 * @info: an #AidModelInfo
 *
 * Returns: (nullable): where the file was found, see #AidModelInfo:source
 */
const char *aid_model_info_get_source(AidModelInfo *info)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), NULL);
        return info->source;
}

/**
 * aid_model_info_get_format:
 * @info: an #AidModelInfo
 *
 * Returns: (nullable): "gguf" or "whisper-ggml"
 */
const char *aid_model_info_get_format(AidModelInfo *info)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), NULL);
        return info->format;
}

/**
 * aid_model_info_get_usable:
 * @info: an #AidModelInfo
 *
 * Returns: whether aid can run the model
 */
gboolean aid_model_info_get_usable(AidModelInfo *info)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), FALSE);
        return info->usable;
}

/**
 * aid_model_info_get_reason:
 * @info: an #AidModelInfo
 *
 * Returns: (nullable): why the model is not usable; %NULL when it is
 */
const char *aid_model_info_get_reason(AidModelInfo *info)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), NULL);
        return info->reason;
}

/**
 * aid_model_info_get_size:
 * @info: an #AidModelInfo
 *
 * Returns: the file size in bytes
 */
guint64 aid_model_info_get_size(AidModelInfo *info)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), 0);
        return info->size;
}

/**
 * aid_model_info_get_architecture:
 * @info: an #AidModelInfo
 *
 * Returns: (nullable): the architecture, or %NULL when the header could not be read
 */
const char *aid_model_info_get_architecture(AidModelInfo *info)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), NULL);
        return info->architecture;
}

/**
 * aid_model_info_get_name:
 * @info: an #AidModelInfo
 *
 * Returns: (nullable): the model's own name, or %NULL when it has none
 */
const char *aid_model_info_get_name(AidModelInfo *info)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), NULL);
        return info->name;
}

/**
 * aid_model_info_get_capability:
 * @info: an #AidModelInfo
 *
 * Returns: (nullable): "text" or "speech", or %NULL when unknown
 */
const char *aid_model_info_get_capability(AidModelInfo *info)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), NULL);
        return info->capability;
}

/**
 * aid_model_info_get_parameters:
 * @info: an #AidModelInfo
 *
 * Returns: the number of weights, 0 when unknown
 */
guint64 aid_model_info_get_parameters(AidModelInfo *info)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), 0);
        return info->parameters;
}

/**
 * aid_model_info_get_context_length:
 * @info: an #AidModelInfo
 *
 * Returns: the context length, 0 when unknown
 */
guint64 aid_model_info_get_context_length(AidModelInfo *info)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), 0);
        return info->context_length;
}

/**
 * aid_model_info_get_file_type:
 * @info: an #AidModelInfo
 *
 * Returns: (nullable): the file's quantisation ("Q4_K_M", "F16", ...)
 */
const char *aid_model_info_get_file_type(AidModelInfo *info)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), NULL);
        return info->file_type;
}

/**
 * aid_model_info_get_tensor_types:
 * @info: an #AidModelInfo
 *
 * Returns: (transfer none) (array zero-terminated=1): "TYPE:COUNT" strings sorted by type
 *   name; empty when unknown
 */
const char *const *aid_model_info_get_tensor_types(AidModelInfo *info)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), NULL);
        return (const char *const *)info->tensor_types;
}

/**
 * aid_model_info_get_n_tensors_of_type:
 * @info: an #AidModelInfo
 * @type_name: a tensor type name such as "Q4_K"
 *
 * Returns: how many tensors of the file have that type
 */
guint aid_model_info_get_n_tensors_of_type(AidModelInfo *info, const char *type_name)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), 0);
        g_return_val_if_fail(type_name != NULL, 0);
        return GPOINTER_TO_UINT(g_hash_table_lookup(info->tensor_counts, type_name));
}

/**
 * aid_model_info_get_state:
 * @info: an #AidModelInfo
 *
 * Returns: (nullable): whether the daemon has the model in memory ("unloaded", ...)
 */
const char *aid_model_info_get_state(AidModelInfo *info)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), NULL);
        return info->state;
}

/**
 * aid_model_info_get_load_progress:
 * @info: an #AidModelInfo
 *
 * Returns: while the model is loading, the share of its weights read so far (0 to 1); 0
 *   otherwise. See #AidModelInfo:load-progress.
 */
double aid_model_info_get_load_progress(AidModelInfo *info)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), 0);
        return info->load_progress;
}

/**
 * aid_model_info_get_state_reason:
 * @info: an #AidModelInfo
 *
 * Returns: (nullable): why the model failed to load, when its state is "failed"
 */
const char *aid_model_info_get_state_reason(AidModelInfo *info)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), NULL);
        return info->state_reason;
}

/**
 * aid_model_info_get_chat_template:
 * @info: an #AidModelInfo
 *
 * Returns: (nullable): how aid formats a chat with this language model, see
 *   #AidModelInfo:chat-template
 */
const char *aid_model_info_get_chat_template(AidModelInfo *info)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), NULL);
        return info->chat_template;
}

/**
 * aid_model_info_get_chat_system_prompt:
 * @info: an #AidModelInfo
 *
 * Returns: whether a chat's system prompt reaches the model, see
 *   #AidModelInfo:chat-system-prompt
 */
gboolean aid_model_info_get_chat_system_prompt(AidModelInfo *info)
{
        g_return_val_if_fail(AID_IS_MODEL_INFO(info), FALSE);
        return info->chat_system_prompt;
}
