/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-manager.h"

#include <errno.h>
#include <string.h>

#include "aid-errors.h"
#include "bus-policy.h"
#include "bus-text.h"
#include "config.h"
#include "daemon.h"
#include "ggml-type.h"
#include "log.h"
#include "registry.h"

static const char *format_name(const struct registry_entry *e)
{
        const char *dot;

        if (e->have_meta)
                return e->meta.format == AID_MODEL_FORMAT_WHISPER_GGML ? "whisper-ggml" : "gguf";
        /* The header could not be read: say what the file claims to be. */
        dot = strrchr(e->path, '.');
        if (dot && strcmp(dot, ".gguf") == 0)
                return "gguf";
        if (dot && strcmp(dot, ".bin") == 0)
                return "whisper-ggml";
        return "unknown";
}

static int append_entry_s(sd_bus_message *m, const char *key, const char *value)
{
        return sd_bus_message_append(m, "{sv}", key, "s", value);
}

static int append_entry_t(sd_bus_message *m, const char *key, uint64_t value)
{
        return sd_bus_message_append(m, "{sv}", key, "t", value);
}

static int append_tensor_types(sd_bus_message *m, const struct aid_model_meta *meta)
{
        int r;

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "tensor_types");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "a{su}");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{su}");
        for (uint32_t i = 0; r >= 0 && i < meta->n_tensor_types; i++)
                r = sd_bus_message_append(m, "{su}", ggml_type_name(meta->tensor_types[i].type),
                                meta->tensor_types[i].n_tensors);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

int bus_append_model(sd_bus_message *m, struct daemon *d, const struct registry_entry *e)
{
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;

        r = append_entry_s(m, "id", e->id);
        if (r >= 0)
                r = append_entry_s(m, "path", e->path);
        if (r >= 0)
                r = append_entry_s(m, "source", e->source ? e->source : "config");
        if (r >= 0)
                r = append_entry_s(m, "format", format_name(e));
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "usable", "b", (int)e->usable);
        if (r >= 0 && !e->usable)
                r = append_entry_s(m, "reason", e->reason ? e->reason : "unknown reason");
        if (r >= 0)
                r = append_entry_t(m, "size", e->size);

        if (r >= 0 && e->have_meta) {
                const struct aid_model_meta *meta = &e->meta;

                if (meta->architecture)
                        r = append_entry_s(m, "architecture", meta->architecture);
                if (r >= 0 && meta->name)
                        r = append_entry_s(m, "name", meta->name);
                if (r >= 0 && meta->capability)
                        r = append_entry_s(m, "capability", meta->capability);
                if (r >= 0)
                        r = append_entry_t(m, "parameters", meta->n_params);
                if (r >= 0)
                        r = append_entry_t(m, "context_length", meta->context_length);
                if (r >= 0 && meta->file_type)
                        r = append_entry_s(m, "file_type", meta->file_type);
                if (r >= 0 && meta->chat_template)
                        r = append_entry_s(m, "chat_template", meta->chat_template);
                if (r >= 0 && meta->chat_template)
                        r = sd_bus_message_append(
                                        m, "{sv}", "chat_system_prompt", "b", (int)meta->chat_keeps_system);
                if (r >= 0)
                        r = append_tensor_types(m, meta);
        }
        /* The text worker loads language models; every other model is at rest until its engine
         * arrives. */
        if (r >= 0) {
                const char *reason = NULL, *state = "unloaded";
                double progress = 0;

                if (e->have_meta && e->meta.capability && strcmp(e->meta.capability, "text") == 0)
                        state = bus_text_model_state(d->text, e->path, &progress, &reason);
                r = append_entry_s(m, "state", state);
                if (r >= 0 && strcmp(state, "loading") == 0)
                        r = sd_bus_message_append(m, "{sv}", "load_progress", "d", progress);
                if (r >= 0 && strcmp(state, "failed") == 0)
                        r = append_entry_s(m, "state_reason", reason ? reason : "unknown reason");
        }
        if (r < 0)
                return r;

        return sd_bus_message_close_container(m);
}

static int append_models(sd_bus_message *m, struct daemon *d)
{
        const struct registry *reg = d->registry;
        size_t n = registry_n_entries(reg);
        int r;

        r = sd_bus_message_open_container(m, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = bus_append_model(m, d, registry_entry_at(reg, i));
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

static int property_get_models(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        struct daemon *d = userdata;

        return append_models(reply, d);
}

static int property_get_default_models(sd_bus *bus, const char *path, const char *interface,
                const char *property, sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        static const char *const capabilities[] = { "text", "vision", "speech" };
        struct daemon *d = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{ss}");
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(capabilities); i++) {
                const struct registry_entry *e = registry_default_model(d->registry, capabilities[i]);
                if (e)
                        r = sd_bus_message_append(reply, "{ss}", capabilities[i], e->id);
        }
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

static int property_get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        return sd_bus_message_append(reply, "s", AID_VERSION);
}

static int property_get_bus_mode(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        struct daemon *d = userdata;

        return sd_bus_message_append(reply, "s", aid_bus_mode_to_string(d->bus_mode));
}

static int method_list_models(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct daemon *d = userdata;
        int r;

        policy_note_open(d, m, "ListModels");
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = append_models(reply, d);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_model_info(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct daemon *d = userdata;
        const struct registry_entry *e;
        const char *id;
        int r;

        r = sd_bus_message_read(m, "s", &id);
        if (r < 0)
                return r;
        policy_note_open(d, m, "GetModelInfo");
        if (id[0] == '\0')
                return sd_bus_error_set(error, AID_ERROR_INVALID_ARGUMENT,
                                "The model id is empty. 'aidctl models' lists the available ones.");

        e = registry_find(d->registry, id);
        if (!e)
                return sd_bus_error_setf(error, AID_ERROR_NO_SUCH_MODEL,
                                "No model with id '%s'. 'aidctl models' lists the available ones.", id);

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = bus_append_model(reply, d, e);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_rescan(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        struct daemon *d = userdata;
        int r;

        r = policy_check_manage(d, m, "org.aid.rescan-models", error);
        if (r < 0)
                return r;
        if (r == 0)
                return 1; /* polkit is asking; this call comes back with the answer */
        r = daemon_rescan(d, "Rescan() called", NULL);
        if (r < 0)
                return sd_bus_error_setf(error, AID_ERROR_INTERNAL,
                                "Rescanning the model directories failed: %s", strerror(-r));
        return sd_bus_reply_method_return(m, "u", (uint32_t)registry_n_entries(d->registry));
}

/* The model list and the policy are open to every caller: they reveal nothing beyond what the
 * files in the shared directories do, and nothing any app sent. Rescan and ReloadPolicy need
 * the right to manage the daemon (policy_check_manage()); Authorize is the privacy policy's
 * check itself (policy_check()). Without SD_BUS_VTABLE_UNPRIVILEGED sd-bus would refuse
 * callers of other users on the system bus. */
static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("BusMode", "s", property_get_bus_mode, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Models", "aa{sv}", property_get_models, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("DefaultModels", "a{ss}", property_get_default_models, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_METHOD_WITH_ARGS("ListModels", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", models),
                        method_list_models, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetModelInfo", SD_BUS_ARGS("s", id), SD_BUS_RESULT("a{sv}", info),
                        method_get_model_info, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Rescan", SD_BUS_NO_ARGS, SD_BUS_RESULT("u", n_models), method_rescan,
                        SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("NetworkIsolated", "b", bus_policy_property_get_network_isolated, 0,
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("PolicyFiles", "as", bus_policy_property_get_files, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("PolicyMessages", "as", bus_policy_property_get_messages, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_METHOD_WITH_ARGS("WhoAmI", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", identity),
                        bus_policy_method_who_am_i, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Authorize", SD_BUS_ARGS("s", capability), SD_BUS_RESULT("a{sv}", limits),
                        bus_policy_method_authorize, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CheckPolicy", SD_BUS_ARGS("s", app_id, "s", capability),
                        SD_BUS_RESULT("s", decision, "s", source, "a{sv}", limits),
                        bus_policy_method_check_policy, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetPolicy", SD_BUS_ARGS("s", app_id), SD_BUS_RESULT("aa{sv}", policy),
                        bus_policy_method_get_policy, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetRecentUse", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", uses),
                        bus_policy_method_get_recent_use, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ReloadPolicy", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
                        bus_policy_method_reload_policy, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("ModelsChanged", SD_BUS_ARGS("u", n_models), 0),
        SD_BUS_VTABLE_END,
};

int bus_manager_add(struct daemon *d)
{
        int r;

        r = sd_bus_add_object_vtable(
                        d->bus, &d->manager_slot, AID_OBJECT_PATH, AID_MANAGER_INTERFACE, manager_vtable, d);
        if (r < 0)
                return log_error_errno(r, "Failed to export %s: %m", AID_MANAGER_INTERFACE);
        return 0;
}

int bus_manager_emit_models_changed(struct daemon *d)
{
        int r;

        r = sd_bus_emit_signal(d->bus, AID_OBJECT_PATH, AID_MANAGER_INTERFACE, "ModelsChanged", "u",
                        (uint32_t)registry_n_entries(d->registry));
        if (r < 0)
                return log_warning_errno(r, "Failed to emit ModelsChanged: %m");
        r = sd_bus_emit_properties_changed(
                        d->bus, AID_OBJECT_PATH, AID_MANAGER_INTERFACE, "Models", "DefaultModels", NULL);
        if (r < 0)
                return log_warning_errno(r, "Failed to emit PropertiesChanged: %m");
        return 0;
}
