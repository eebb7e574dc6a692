/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Chat templates. A GGUF file carries its model's Jinja chat template in
 * tokenizer.chat_template. aid does not run Jinja: like llama.cpp's llm_chat_detect_template it
 * recognises the family from markers in the template text, then renders conversations the way
 * the published templates of that family do, byte for byte (whitespace and newlines included):
 *
 *   Gemma   <start_of_turn>user\n...<end_of_turn>\n, assistant turns are "model", content
 *           trimmed; a leading system message is folded into the first user turn followed by
 *           "\n\n" (Gemma 3's template; Gemma 1/2 templates refuse system messages, and aid folds
 *           them the Gemma 3 way, as llama.cpp does); user/assistant must alternate.
 *   Llama 3 <|start_header_id|>role<|end_header_id|>\n\n + trimmed content + <|eot_id|>. 3.1 and
 *           later templates ("Cutting Knowledge Date") always open with a system block holding
 *           the knowledge date, "Today Date: <date>" and the (trimmed) system message.
 *   ChatML  <|im_start|>role\n...<|im_end|>\n (Qwen). When the template has a default system
 *           prompt for conversations without one (Qwen2.5: "You are Qwen, created by Alibaba
 *           Cloud. You are a helpful assistant."), it is taken from the template text and used.
 *   Phi-3   <|user|>\n...<|end|>\n<|assistant|>\n...; which of the published variants (system
 *           turns or none, the assistant header opened by the user turn, eos_token when no
 *           generation prompt is asked for) is read from the template text.
 *
 * BOS: templates that print bos_token (Gemma, Llama 3, early Phi-3) put the BOS text at the start
 * of the formatted text; *ret_bos_in_text says so. The caller then tokenizes with special-token
 * parsing and must NOT add another BOS (llama.cpp's convention). With strip_bos the leading BOS
 * text is removed instead, and the tokenizer adds BOS as the vocabulary's add_bos_token says. */

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

struct gguf_file;

enum aid_chat_family {
        AID_CHAT_GEMMA,
        AID_CHAT_LLAMA3,
        AID_CHAT_CHATML,
        AID_CHAT_PHI3,
};

/* "gemma", "llama3", "chatml", "phi3". */
const char *aid_chat_family_name(enum aid_chat_family f);

enum aid_chat_role {
        AID_CHAT_SYSTEM,
        AID_CHAT_USER,
        AID_CHAT_ASSISTANT,
};

struct aid_chat_message {
        enum aid_chat_role role;
        const char *content; /* UTF-8, NUL-terminated */
};

struct aid_chat_options {
        bool add_generation_prompt; /* end with the header of an assistant turn */
        bool strip_bos;             /* leave BOS to the tokenizer (see above) */
        /* Llama 3.1+: the "Today Date" ("26 Jul 2024" style). NULL: what the template does
         * without a date_string: today's local date where it calls strftime_now (3.2, 3.3),
         * otherwise its fixed date (3.1: 26 Jul 2024). */
        const char *date;
};

struct aid_chat_template;

/* tmpl: the template text (len bytes). bos_text / eos_text: the vocabulary's BOS / EOS token
 * text, for templates that print bos_token / eos_token; NULL takes the family's usual one
 * (<bos>, <|begin_of_text|>, <s> / <|endoftext|>).
 * -EOPNOTSUPP: not one of the four families ("unrecognised chat template ..."); -ENOMEM. */
int aid_chat_template_new(const char *tmpl, size_t len, const char *bos_text, const char *eos_text,
                struct aid_chat_template **ret, struct aid_error *err);

/* Reads tokenizer.chat_template and the BOS/EOS token texts from a GGUF file.
 * -ENODATA: the file has no chat template (plain completion still works: the daemon falls back
 * on it); -EBADMSG: the key is not a string; otherwise as aid_chat_template_new(). */
int aid_chat_template_from_gguf(
                const struct gguf_file *f, struct aid_chat_template **ret, struct aid_error *err);

struct aid_chat_template *aid_chat_template_free(struct aid_chat_template *t); /* accepts NULL */

enum aid_chat_family aid_chat_template_family(const struct aid_chat_template *t);

/* Whether a system message reaches the formatted text: Gemma folds it into the first user turn;
 * the first Phi-3-mini templates drop it without a word. */
bool aid_chat_template_keeps_system(const struct aid_chat_template *t);

/* The text that ends a turn ("<end_of_turn>", "<|eot_id|>", "<|im_end|>", "<|end|>"): a stop
 * string for generation, where the vocabulary does not already mark it end-of-generation. */
const char *aid_chat_template_end_of_turn(const struct aid_chat_template *t);

/* Formats a conversation. *ret_text is NUL-terminated, owned by the caller (free()).
 * -EINVAL: no messages, a NULL content, or an order the template refuses (Gemma: user and
 * assistant turns must alternate, starting with user, after an optional leading system
 * message); -ENOMEM. */
int aid_chat_format(const struct aid_chat_template *t, const struct aid_chat_message *msgs, size_t n_msgs,
                const struct aid_chat_options *opts, char **ret_text, bool *ret_bos_in_text,
                struct aid_error *err);
