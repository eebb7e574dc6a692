/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The templates below are the published ones, as they appear in the models' tokenizer_config.json
 * (and so in tokenizer.chat_template of their GGUF files); the expected strings were rendered by
 * hand from them with the rules Hugging Face transformers uses (Jinja2 with trim_blocks and
 * lstrip_blocks; `x | trim` is Python's str.strip()). */

#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat.h"
#include "gguf.h"

/* google/gemma-3-*-it (text part of the template; the image branch renders nothing for text). */
static const char GEMMA3[] =
                "{{ bos_token }}\n"
                "{%- if messages[0]['role'] == 'system' -%}\n"
                "    {%- if messages[0]['content'] is string -%}\n"
                "        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
                "    {%- else -%}\n"
                "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}\n"
                "    {%- endif -%}\n"
                "    {%- set loop_messages = messages[1:] -%}\n"
                "{%- else -%}\n"
                "    {%- set first_user_prefix = \"\" -%}\n"
                "    {%- set loop_messages = messages -%}\n"
                "{%- endif -%}\n"
                "{%- for message in loop_messages -%}\n"
                "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
                "        {{ raise_exception(\"Conversation roles must alternate "
                "user/assistant/user/assistant/...\") }}\n"
                "    {%- endif -%}\n"
                "    {%- if (message['role'] == 'assistant') -%}\n"
                "        {%- set role = \"model\" -%}\n"
                "    {%- else -%}\n"
                "        {%- set role = message['role'] -%}\n"
                "    {%- endif -%}\n"
                "    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}\n"
                "    {%- if message['content'] is string -%}\n"
                "        {{ message['content'] | trim }}\n"
                "    {%- elif message['content'] is iterable -%}\n"
                "        {%- for item in message['content'] -%}\n"
                "            {%- if item['type'] == 'image' -%}\n"
                "                {{ '<start_of_image>' }}\n"
                "            {%- elif item['type'] == 'text' -%}\n"
                "                {{ item['text'] | trim }}\n"
                "            {%- endif -%}\n"
                "        {%- endfor -%}\n"
                "    {%- else -%}\n"
                "        {{ raise_exception(\"Invalid content type\") }}\n"
                "    {%- endif -%}\n"
                "    {{ '<end_of_turn>\\n' }}\n"
                "{%- endfor -%}\n"
                "{%- if add_generation_prompt -%}\n"
                "    {{'<start_of_turn>model\\n'}}\n"
                "{%- endif -%}\n";

/* google/gemma-2-2b-it (llama.cpp models/templates/google-gemma-2-2b-it.jinja). */
static const char GEMMA2[] =
                "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not "
                "supported') }}"
                "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 "
                "% 2 == 0) %}"
                "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') "
                "}}{% endif %}"
                "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = "
                "message['role'] %}"
                "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + "
                "'<end_of_turn>\n' }}"
                "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}";

/* meta-llama/Llama-3.2-3B-Instruct (llama.cpp models/templates/meta-llama-Llama-3.2-3B-Instruct.jinja). */
static const char LLAMA32[] =
                "{{- bos_token }}\n"
                "{%- if custom_tools is defined %}\n"
                "    {%- set tools = custom_tools %}\n"
                "{%- endif %}\n"
                "{%- if not tools_in_user_message is defined %}\n"
                "    {%- set tools_in_user_message = true %}\n"
                "{%- endif %}\n"
                "{%- if not date_string is defined %}\n"
                "    {%- if strftime_now is defined %}\n"
                "        {%- set date_string = strftime_now(\"%d %b %Y\") %}\n"
                "    {%- else %}\n"
                "        {%- set date_string = \"26 Jul 2024\" %}\n"
                "    {%- endif %}\n"
                "{%- endif %}\n"
                "{%- if not tools is defined %}\n"
                "    {%- set tools = none %}\n"
                "{%- endif %}\n"
                "\n"
                "{#- This block extracts the system message, so we can slot it into the right place. #}\n"
                "{%- if messages[0]['role'] == 'system' %}\n"
                "    {%- set system_message = messages[0]['content']|trim %}\n"
                "    {%- set messages = messages[1:] %}\n"
                "{%- else %}\n"
                "    {%- set system_message = \"\" %}\n"
                "{%- endif %}\n"
                "\n"
                "{#- System message #}\n"
                "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
                "{%- if tools is not none %}\n"
                "    {{- \"Environment: ipython\\n\" }}\n"
                "{%- endif %}\n"
                "{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n"
                "{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n"
                "{%- if tools is not none and not tools_in_user_message %}\n"
                "    {{- \"You have access to the following functions. To call a function, please respond "
                "with JSON for a "
                "function call.\" }}\n"
                "    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of "
                "argument name and "
                "its value}.' }}\n"
                "    {{- \"Do not use variables.\\n\\n\" }}\n"
                "    {%- for t in tools %}\n"
                "        {{- t | tojson(indent=4) }}\n"
                "        {{- \"\\n\\n\" }}\n"
                "    {%- endfor %}\n"
                "{%- endif %}\n"
                "{{- system_message }}\n"
                "{{- \"<|eot_id|>\" }}\n"
                "\n"
                "{#- Custom tools are passed in a user message with some extra guidance #}\n"
                "{%- if tools_in_user_message and not tools is none %}\n"
                "    {#- Extract the first user message so we can plug it in here #}\n"
                "    {%- if messages | length != 0 %}\n"
                "        {%- set first_user_message = messages[0]['content']|trim %}\n"
                "        {%- set messages = messages[1:] %}\n"
                "    {%- else %}\n"
                "        {{- raise_exception(\"Cannot put tools in the first user message when there's no "
                "first user "
                "message!\") }}\n"
                "{%- endif %}\n"
                "    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}\n"
                "    {{- \"Given the following functions, please respond with a JSON for a function call \" "
                "}}\n"
                "    {{- \"with its proper arguments that best answers the given prompt.\\n\\n\" }}\n"
                "    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of "
                "argument name and "
                "its value}.' }}\n"
                "    {{- \"Do not use variables.\\n\\n\" }}\n"
                "    {%- for t in tools %}\n"
                "        {{- t | tojson(indent=4) }}\n"
                "        {{- \"\\n\\n\" }}\n"
                "    {%- endfor %}\n"
                "    {{- first_user_message + \"<|eot_id|>\"}}\n"
                "{%- endif %}\n"
                "\n"
                "{%- for message in messages %}\n"
                "    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in "
                "message) %}\n"
                "        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ "
                "message['content'] | trim "
                "+ '<|eot_id|>' }}\n"
                "    {%- elif 'tool_calls' in message %}\n"
                "        {%- if not message.tool_calls|length == 1 %}\n"
                "            {{- raise_exception(\"This model only supports single tool-calls at once!\") "
                "}}\n"
                "        {%- endif %}\n"
                "        {%- set tool_call = message.tool_calls[0].function %}\n"
                "        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
                "        {{- '{\"name\": \"' + tool_call.name + '\", ' }}\n"
                "        {{- '\"parameters\": ' }}\n"
                "        {{- tool_call.arguments | tojson }}\n"
                "        {{- \"}\" }}\n"
                "        {{- \"<|eot_id|>\" }}\n"
                "    {%- elif message.role == \"tool\" or message.role == \"ipython\" %}\n"
                "        {{- \"<|start_header_id|>ipython<|end_header_id|>\\n\\n\" }}\n"
                "        {%- if message.content is mapping or message.content is iterable %}\n"
                "            {{- message.content | tojson }}\n"
                "        {%- else %}\n"
                "            {{- message.content }}\n"
                "        {%- endif %}\n"
                "        {{- \"<|eot_id|>\" }}\n"
                "    {%- endif %}\n"
                "{%- endfor %}\n"
                "{%- if add_generation_prompt %}\n"
                "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
                "{%- endif %}\n";

/* Qwen/Qwen2.5-*-Instruct. */
static const char QWEN25[] =
                "{%- if tools %}\n"
                "    {{- '<|im_start|>system\\n' }}\n"
                "    {%- if messages[0]['role'] == 'system' %}\n"
                "        {{- messages[0]['content'] }}\n"
                "    {%- else %}\n"
                "        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n"
                "    {%- endif %}\n"
                "    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user "
                "query.\\n\\nYou are "
                "provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n"
                "    {%- for tool in tools %}\n"
                "        {{- \"\\n\" }}\n"
                "        {{- tool | tojson }}\n"
                "    {%- endfor %}\n"
                "    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name "
                "and arguments "
                "within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, "
                "\\\"arguments\\\": "
                "<args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n"
                "{%- else %}\n"
                "    {%- if messages[0]['role'] == 'system' %}\n"
                "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
                "    {%- else %}\n"
                "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a "
                "helpful "
                "assistant.<|im_end|>\\n' }}\n"
                "    {%- endif %}\n"
                "{%- endif %}\n"
                "{%- for message in messages %}\n"
                "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) "
                "or (message.role "
                "== \"assistant\" and not message.tool_calls) %}\n"
                "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' "
                "}}\n"
                "    {%- elif message.role == \"assistant\" %}\n"
                "        {{- '<|im_start|>' + message.role }}\n"
                "        {%- if message.content %}\n"
                "            {{- '\\n' + message.content }}\n"
                "        {%- endif %}\n"
                "        {%- for tool_call in message.tool_calls %}\n"
                "            {%- if tool_call.function is defined %}\n"
                "                {%- set tool_call = tool_call.function %}\n"
                "            {%- endif %}\n"
                "            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n"
                "            {{- tool_call.name }}\n"
                "            {{- '\", \"arguments\": ' }}\n"
                "            {{- tool_call.arguments | tojson }}\n"
                "            {{- '}\\n</tool_call>' }}\n"
                "        {%- endfor %}\n"
                "        {{- '<|im_end|>\\n' }}\n"
                "    {%- elif message.role == \"tool\" %}\n"
                "        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n"
                "            {{- '<|im_start|>user' }}\n"
                "        {%- endif %}\n"
                "        {{- '\\n<tool_response>\\n' }}\n"
                "        {{- message.content }}\n"
                "        {{- '\\n</tool_response>' }}\n"
                "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n"
                "            {{- '<|im_end|>\\n' }}\n"
                "        {%- endif %}\n"
                "    {%- endif %}\n"
                "{%- endfor %}\n"
                "{%- if add_generation_prompt %}\n"
                "    {{- '<|im_start|>assistant\\n' }}\n"
                "{%- endif %}\n";

/* microsoft/Phi-3.5-mini-instruct (llama.cpp models/templates/microsoft-Phi-3.5-mini-instruct.jinja). */
static const char PHI35[] = "{% for message in messages %}{% if message['role'] == 'system' and "
                            "message['content'] %}{{'<|system|>\n' + "
                            "message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' "
                            "%}{{'<|user|>\n' + message['content'] + "
                            "'<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + "
                            "message['content'] + "
                            "'<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ "
                            "'<|assistant|>\n' }}{% else %}{{ "
                            "eos_token }}{% endif %}";

/* microsoft/Phi-3-mini-4k-instruct, current tokenizer_config.json. */
static const char PHI3_MINI_4K[] = "{% for message in messages %}{% if message['role'] == 'system' "
                                   "%}{{'<|system|>\\n' + message['content'] + "
                                   "'<|end|>\\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\\n' + "
                                   "message['content'] + '<|end|>\\n'}}{% "
                                   "elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + "
                                   "message['content'] + '<|end|>\\n'}}{% endif "
                                   "%}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% "
                                   "else %}{{ eos_token }}{% endif %}";

static const struct aid_chat_message CONV[] = {
        { AID_CHAT_SYSTEM, "You are terse." },
        { AID_CHAT_USER, "  Hi there \n" },
        { AID_CHAT_ASSISTANT, "Hello!" },
        { AID_CHAT_USER, "What is 2+2?" },
};

static struct aid_chat_template *load(const char *tmpl, const char *bos, const char *eos)
{
        struct aid_chat_template *t = NULL;
        struct aid_error err = {};
        int r = aid_chat_template_new(tmpl, strlen(tmpl), bos, eos, &t, &err);
        cr_assert_eq(r, 0, "%d %s", r, err.message);
        return t;
}

static void expect_format(const struct aid_chat_template *t, const struct aid_chat_message *m, size_t n,
                const struct aid_chat_options *o, const char *expect, bool expect_bos)
{
        char *text = NULL;
        bool bos = !expect_bos;
        struct aid_error err = {};
        int r = aid_chat_format(t, m, n, o, &text, &bos, &err);
        cr_assert_eq(r, 0, "%d %s", r, err.message);
        cr_expect_str_eq(text, expect);
        cr_expect_eq(bos, expect_bos, "bos_in_text");
        free(text);
}

static const struct aid_chat_options GEN = { .add_generation_prompt = true, .date = "26 Jul 2024" };
static const struct aid_chat_options NOGEN = { .add_generation_prompt = false, .date = "26 Jul 2024" };

Test(chat, gemma3)
{
        struct aid_chat_template *t = load(GEMMA3, "<bos>", "<eos>");
        cr_expect(aid_chat_template_keeps_system(t), "folded into the first user turn");
        cr_expect_eq(aid_chat_template_family(t), AID_CHAT_GEMMA);
        cr_expect_str_eq(aid_chat_template_end_of_turn(t), "<end_of_turn>");

        expect_format(t, CONV, 4, &GEN,
                        "<bos><start_of_turn>user\nYou are terse.\n\nHi there<end_of_turn>\n"
                        "<start_of_turn>model\nHello!<end_of_turn>\n"
                        "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n"
                        "<start_of_turn>model\n",
                        true);
        expect_format(t, CONV + 1, 2, &NOGEN,
                        "<bos><start_of_turn>user\nHi "
                        "there<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n",
                        true);

        /* the system text is not trimmed, the user's is */
        const struct aid_chat_message sys[] = { { AID_CHAT_SYSTEM, " Be brief. " },
                { AID_CHAT_USER, "\tok\u3000" } };
        expect_format(t, sys, 2, &GEN,
                        "<bos><start_of_turn>user\n Be brief. \n\nok<end_of_turn>\n<start_of_turn>model\n",
                        true);

        struct aid_chat_options strip = GEN;
        strip.strip_bos = true;
        expect_format(t, CONV + 3, 1, &strip,
                        "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n", false);
        aid_chat_template_free(t);
}

Test(chat, gemma_roles_must_alternate)
{
        struct aid_chat_template *t = load(GEMMA3, NULL, NULL);
        const struct aid_chat_message bad[] = { { AID_CHAT_USER, "a" }, { AID_CHAT_USER, "b" } };
        const struct aid_chat_message bad2[] = { { AID_CHAT_ASSISTANT, "a" } };
        char *text = NULL;
        struct aid_error err = {};
        cr_expect_eq(aid_chat_format(t, bad, 2, &GEN, &text, NULL, &err), -EINVAL);
        cr_expect(strstr(err.message, "alternate") != NULL, "%s", err.message);
        cr_expect_eq(aid_chat_format(t, bad2, 1, &GEN, &text, NULL, &err), -EINVAL);
        cr_expect_null(text);
        aid_chat_template_free(t);
}

Test(chat, gemma2_folds_the_system_message)
{
        struct aid_chat_template *t = load(GEMMA2, NULL, NULL);
        cr_expect_eq(aid_chat_template_family(t), AID_CHAT_GEMMA);
        expect_format(t, CONV, 2, &GEN,
                        "<bos><start_of_turn>user\nYou are terse.\n\nHi "
                        "there<end_of_turn>\n<start_of_turn>model\n",
                        true);
        aid_chat_template_free(t);
}

Test(chat, llama32)
{
        struct aid_chat_template *t = load(LLAMA32, "<|begin_of_text|>", "<|eot_id|>");
        cr_expect(aid_chat_template_keeps_system(t));
        cr_expect_eq(aid_chat_template_family(t), AID_CHAT_LLAMA3);
        cr_expect_str_eq(aid_chat_template_end_of_turn(t), "<|eot_id|>");

        expect_format(t, CONV, 4, &GEN,
                        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
                        "You are terse.<|eot_id|>"
                        "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
                        "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                        "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
                        "<|start_header_id|>assistant<|end_header_id|>\n\n",
                        true);
        /* no system message: the block is still there, empty */
        expect_format(t, CONV + 3, 1, &NOGEN,
                        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
                        "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>",
                        true);
        aid_chat_template_free(t);
}

Test(chat, llama32_uses_today_by_default)
{
        static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
                "Oct", "Nov", "Dec" };
        struct aid_chat_template *t = load(LLAMA32, NULL, NULL);
        struct aid_chat_options o = { .add_generation_prompt = true };
        char *text = NULL;
        cr_assert_eq(aid_chat_format(t, CONV + 3, 1, &o, &text, NULL, NULL), 0);

        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        char expect[64];
        snprintf(expect, sizeof(expect), "Today Date: %02d %s %d\n\n", tm.tm_mday, months[tm.tm_mon],
                        tm.tm_year + 1900);
        cr_expect(strstr(text, expect) != NULL, "\"%s\" in \"%s\"", expect, text);
        free(text);
        aid_chat_template_free(t);
}

Test(chat, qwen25)
{
        struct aid_chat_template *t = load(QWEN25, NULL, "<|im_end|>");
        cr_expect(aid_chat_template_keeps_system(t));
        cr_expect_eq(aid_chat_template_family(t), AID_CHAT_CHATML);
        cr_expect_str_eq(aid_chat_template_end_of_turn(t), "<|im_end|>");

        expect_format(t, CONV, 4, &GEN,
                        "<|im_start|>system\nYou are terse.<|im_end|>\n"
                        "<|im_start|>user\n  Hi there \n<|im_end|>\n"
                        "<|im_start|>assistant\nHello!<|im_end|>\n"
                        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
                        "<|im_start|>assistant\n",
                        false);
        /* no system message: Qwen2.5's default one */
        expect_format(t, CONV + 3, 1, &NOGEN,
                        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                        "assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n",
                        false);
        aid_chat_template_free(t);
}

Test(chat, plain_chatml_has_no_default_system)
{
        /* the classic ChatML template (OpenHermes, SmolLM) */
        static const char chatml[] =
                        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
                        "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if "
                        "add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
        struct aid_chat_template *t = load(chatml, NULL, NULL);
        expect_format(t, CONV + 3, 1, &GEN,
                        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n", false);
        aid_chat_template_free(t);
}

Test(chat, phi35)
{
        struct aid_chat_template *t = load(PHI35, "<s>", "<|endoftext|>");
        cr_expect_eq(aid_chat_template_family(t), AID_CHAT_PHI3);
        cr_expect(aid_chat_template_keeps_system(t));
        cr_expect_str_eq(aid_chat_template_end_of_turn(t), "<|end|>");
        expect_format(t, CONV, 4, &GEN,
                        "<|system|>\nYou are terse.<|end|>\n<|user|>\n  Hi there \n<|end|>\n"
                        "<|assistant|>\nHello!<|end|>\n<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n",
                        false);
        /* no generation prompt: eos_token; an empty system message is skipped */
        const struct aid_chat_message m[] = { { AID_CHAT_SYSTEM, "" }, { AID_CHAT_USER, "Hi" } };
        expect_format(t, m, 2, &NOGEN, "<|user|>\nHi<|end|>\n<|endoftext|>", false);
        aid_chat_template_free(t);
}

Test(chat, phi3_mini_4k)
{
        struct aid_chat_template *t = load(PHI3_MINI_4K, "<s>", "<|endoftext|>");
        cr_expect_eq(aid_chat_template_family(t), AID_CHAT_PHI3);
        cr_expect(aid_chat_template_keeps_system(t));
        /* Phi-3-mini prints even an empty system turn */
        const struct aid_chat_message m[] = { { AID_CHAT_SYSTEM, "" }, { AID_CHAT_USER, "Hi" } };
        expect_format(t, m, 2, &GEN, "<|system|>\n<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n", false);
        aid_chat_template_free(t);
}

static const char *fixtures_dir(void)
{
        const char *dir = getenv("AID_FIXTURES");
        if (!dir || access(dir, R_OK) < 0)
                cr_skip_test("fixtures folder %s absent: set AID_FIXTURES to ../shared/fixtures",
                                dir ? dir : "(AID_FIXTURES unset)");
        return dir;
}

static struct gguf_file *open_fixture(const char *name)
{
        char path[PATH_MAX];
        struct gguf_file *f = NULL;
        struct aid_error err = {};
        snprintf(path, sizeof(path), "%s/%s", fixtures_dir(), name);
        cr_assert_eq(gguf_open(path, &f, &err), 0, "%s", err.message);
        return f;
}

/* The Phi-3 vocabulary in the fixtures carries the first Phi-3-mini template: BOS printed,
 * system messages dropped, every user turn opening the assistant's. */
Test(chat, fixture_phi3_template)
{
        const char *files[] = { "vocab/ggml-vocab-phi-3.gguf", "models/tiny-phi3-Q4_0.gguf" };
        for (size_t i = 0; i < 2; i++) {
                struct gguf_file *f = open_fixture(files[i]);
                struct aid_chat_template *t = NULL;
                struct aid_error err = {};
                cr_assert_eq(aid_chat_template_from_gguf(f, &t, &err), 0, "%s: %s", files[i], err.message);
                cr_expect_eq(aid_chat_template_family(t), AID_CHAT_PHI3);
                /* This one drops system messages, and says so. */
                cr_expect_not(aid_chat_template_keeps_system(t), "%s", files[i]);
                expect_format(t, CONV, 4, &NOGEN,
                                "<s><|user|>\n  Hi there \n<|end|>\n<|assistant|>\nHello!<|end|>\n"
                                "<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n",
                                true);
                aid_chat_template_free(t);
                gguf_close(f);
        }
}

Test(chat, fixture_without_template)
{
        struct gguf_file *f = open_fixture("vocab/ggml-vocab-llama-spm.gguf");
        struct aid_chat_template *t = NULL;
        struct aid_error err = {};
        cr_expect_eq(aid_chat_template_from_gguf(f, &t, &err), -ENODATA);
        cr_expect_null(t);
        cr_expect(strstr(err.message, "plain completion") != NULL, "%s", err.message);
        gguf_close(f);
}

Test(chat, unrecognised_templates)
{
        const char *others[] = {
                /* Mistral */
                "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' "
                "+ "
                "message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ "
                "message['content'] + "
                "eos_token}}{% endif %}{% endfor %}",
                /* Phi-4: ChatML markers, but <|im_sep|> after the role */
                "{% for message in messages %}{{'<|im_start|>' + message['role'] + '<|im_sep|>' + "
                "message['content'] "
                "+ '<|im_end|>'}}{% endfor %}{% if add_generation_prompt %}{{ "
                "'<|im_start|>assistant<|im_sep|>' }}{% "
                "endif %}",
                /* Phi-4-mini: <|assistant|> and <|end|> without the newline */
                "{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] + "
                "'<|end|>' }}{% "
                "endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% "
                "endif %}",
        };
        for (size_t i = 0; i < ELEMENTSOF(others); i++) {
                struct aid_chat_template *t = NULL;
                struct aid_error err = {};
                cr_expect_eq(aid_chat_template_new(others[i], strlen(others[i]), NULL, NULL, &t, &err),
                                -EOPNOTSUPP, "template %zu", i);
                cr_expect_null(t);
                cr_expect_str_eq(err.message,
                                "unrecognised chat template (not Gemma, Llama 3, ChatML or Phi-3); "
                                "plain completion still works");
        }

        struct aid_chat_template *t = NULL;
        cr_expect_eq(aid_chat_template_new("", 0, NULL, NULL, &t, NULL), -ENODATA);
}

Test(chat, empty_conversation)
{
        struct aid_chat_template *t = load(QWEN25, NULL, NULL);
        char *text = NULL;
        struct aid_error err = {};
        cr_expect_eq(aid_chat_format(t, CONV, 0, &GEN, &text, NULL, &err), -EINVAL);
        const struct aid_chat_message m[] = { { AID_CHAT_USER, NULL } };
        cr_expect_eq(aid_chat_format(t, m, 1, &GEN, &text, NULL, &err), -EINVAL);
        cr_expect_null(text);
        aid_chat_template_free(t);
}
