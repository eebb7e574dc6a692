/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(AID_INSIDE) && !defined(AID_COMPILATION)
#error "Only <aid/aid.h> can be included directly."
#endif

#include <glib-object.h>

G_BEGIN_DECLS

#define AID_TYPE_MODEL_INFO (aid_model_info_get_type())
G_DECLARE_FINAL_TYPE(AidModelInfo, aid_model_info, AID, MODEL_INFO, GObject)

AidModelInfo *aid_model_info_new_from_variant(GVariant *dict);

const char *aid_model_info_get_id(AidModelInfo *info);
const char *aid_model_info_get_path(AidModelInfo *info);
const char *aid_model_info_get_source(AidModelInfo *info);
const char *aid_model_info_get_format(AidModelInfo *info);
gboolean aid_model_info_get_usable(AidModelInfo *info);
const char *aid_model_info_get_reason(AidModelInfo *info);
guint64 aid_model_info_get_size(AidModelInfo *info);
const char *aid_model_info_get_architecture(AidModelInfo *info);
const char *aid_model_info_get_name(AidModelInfo *info);
const char *aid_model_info_get_capability(AidModelInfo *info);
guint64 aid_model_info_get_parameters(AidModelInfo *info);
guint64 aid_model_info_get_context_length(AidModelInfo *info);
const char *aid_model_info_get_file_type(AidModelInfo *info);
const char *const *aid_model_info_get_tensor_types(AidModelInfo *info);
guint aid_model_info_get_n_tensors_of_type(AidModelInfo *info, const char *type_name);
const char *aid_model_info_get_state(AidModelInfo *info);
double aid_model_info_get_load_progress(AidModelInfo *info);
const char *aid_model_info_get_state_reason(AidModelInfo *info);
const char *aid_model_info_get_chat_template(AidModelInfo *info);
gboolean aid_model_info_get_chat_system_prompt(AidModelInfo *info);

G_END_DECLS
