/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat.h"
#include "gguf.h"

struct aid_chat_template {
        enum aid_chat_family family;
        char *bos;
        char *eos;
        bool emits_bos; /* the template prints bos_token */

        /* Llama 3.1+: the system block with the knowledge and today's dates */
        bool llama3_system_block;
        bool llama3_today; /* strftime_now(): today's date */
        char *llama3_date; /* the template's fixed date_string */

        char *chatml_default_system; /* NULL: none */

        bool phi3_user_opens_assistant; /* early Phi-3: no assistant header of its own */
        bool phi3_system;               /* system turns printed */
        bool phi3_system_skip_empty;    /* ... unless empty (Phi-3.5) */
        bool phi3_eos_without_prompt;   /* eos_token when no generation prompt */
};

const char *aid_chat_family_name(enum aid_chat_family f)
{
        switch (f) {
        case AID_CHAT_GEMMA:
                return "gemma";
        case AID_CHAT_LLAMA3:
                return "llama3";
        case AID_CHAT_CHATML:
                return "chatml";
        case AID_CHAT_PHI3:
                return "phi3";
        }
        return "unknown";
}

/* Templates write a newline inside a Jinja string either as the escape \n or as a real newline;
 * markers are looked for in a copy where the escape became the character. */
static char *unescape_newlines(const char *s, size_t len)
{
        char *out = malloc(len + 1);
        if (!out)
                return NULL;
        size_t j = 0;
        for (size_t i = 0; i < len; i++) {
                if (s[i] == '\\' && i + 1 < len && s[i + 1] == 'n') {
                        out[j++] = '\n';
                        i++;
                } else
                        out[j++] = s[i] == '\0' ? ' ' : s[i];
        }
        out[j] = '\0';
        return out;
}

static bool has(const char *t, const char *marker)
{
        return strstr(t, marker) != NULL;
}

/* The text of a literal that follows `after` directly and runs to `until` without leaving
 * the string (no quote in between), for example Qwen's
 * '<|im_start|>system\nYou are Qwen, ...<|im_end|>\n'. NULL if there is none. */
static char *literal_between(const char *t, const char *after, const char *until)
{
        for (const char *p = strstr(t, after); p; p = strstr(p + 1, after)) {
                const char *start = p + strlen(after);
                const char *end = strstr(start, until);
                if (!end || end == start)
                        continue;
                if (memchr(start, '\'', (size_t)(end - start)) || memchr(start, '"', (size_t)(end - start)))
                        continue;
                return strndup(start, (size_t)(end - start));
        }
        return NULL;
}

struct aid_chat_template *aid_chat_template_free(struct aid_chat_template *t)
{
        if (!t)
                return NULL;
        free(t->bos);
        free(t->eos);
        free(t->llama3_date);
        free(t->chatml_default_system);
        free(t);
        return NULL;
}

enum aid_chat_family aid_chat_template_family(const struct aid_chat_template *t)
{
        return t->family;
}

bool aid_chat_template_keeps_system(const struct aid_chat_template *t)
{
        return t->family != AID_CHAT_PHI3 || (!t->phi3_user_opens_assistant && t->phi3_system);
}

const char *aid_chat_template_end_of_turn(const struct aid_chat_template *t)
{
        switch (t->family) {
        case AID_CHAT_GEMMA:
                return "<end_of_turn>";
        case AID_CHAT_LLAMA3:
                return "<|eot_id|>";
        case AID_CHAT_CHATML:
                return "<|im_end|>";
        case AID_CHAT_PHI3:
                return "<|end|>";
        }
        return "";
}

static int detect(const char *t, enum aid_chat_family *ret)
{
        /* Phi-4 writes ChatML headers with <|im_sep|> instead of a newline: another format. */
        if (has(t, "<|im_start|>") && !has(t, "<|im_sep|>"))
                *ret = AID_CHAT_CHATML;
        else if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>"))
                *ret = AID_CHAT_LLAMA3;
        else if (has(t, "<start_of_turn>") && has(t, "<end_of_turn>"))
                *ret = AID_CHAT_GEMMA;
        /* Phi-3 puts a newline after every role tag, Phi-4-mini does not. */
        else if (has(t, "<|assistant|>") && has(t, "<|end|>") &&
                        (has(t, "<|user|>\n") || has(t, "<|user|>' + '\n'") || has(t, "'|>' + '\n'")))
                *ret = AID_CHAT_PHI3;
        else
                return -EOPNOTSUPP;
        return 0;
}

int aid_chat_template_new(const char *tmpl, size_t len, const char *bos_text, const char *eos_text,
                struct aid_chat_template **ret, struct aid_error *err)
{
        static const char *const default_bos[] = {
                [AID_CHAT_GEMMA] = "<bos>",
                [AID_CHAT_LLAMA3] = "<|begin_of_text|>",
                [AID_CHAT_CHATML] = "",
                [AID_CHAT_PHI3] = "<s>",
        };
        static const char *const default_eos[] = {
                [AID_CHAT_GEMMA] = "<eos>",
                [AID_CHAT_LLAMA3] = "<|eot_id|>",
                [AID_CHAT_CHATML] = "<|im_end|>",
                [AID_CHAT_PHI3] = "<|endoftext|>",
        };

        if (!tmpl || len == 0)
                return aid_error_set(err, -ENODATA, "empty chat template; plain completion still works");

        char *t = unescape_newlines(tmpl, len);
        if (!t)
                return aid_error_set(err, -ENOMEM, "out of memory for the chat template");

        enum aid_chat_family family;
        if (detect(t, &family) < 0) {
                free(t);
                return aid_error_set(err, -EOPNOTSUPP,
                                "unrecognised chat template (not Gemma, Llama 3, ChatML or Phi-3); "
                                "plain completion still works");
        }

        struct aid_chat_template *c = calloc(1, sizeof(*c));
        if (!c) {
                free(t);
                return aid_error_set(err, -ENOMEM, "out of memory for the chat template");
        }
        c->family = family;
        c->emits_bos = has(t, "bos_token");
        c->bos = strdup(bos_text ? bos_text : default_bos[family]);
        c->eos = strdup(eos_text ? eos_text : default_eos[family]);
        bool oom = !c->bos || !c->eos;

        switch (family) {
        case AID_CHAT_LLAMA3:
                c->llama3_system_block = has(t, "Cutting Knowledge Date");
                c->llama3_today = has(t, "strftime_now");
                c->llama3_date = literal_between(t, "set date_string = \"", "\"");
                if (!c->llama3_date)
                        c->llama3_date = literal_between(t, "set date_string = '", "'");
                if (!c->llama3_date)
                        c->llama3_date = strdup("26 Jul 2024");
                oom = oom || !c->llama3_date;
                break;
        case AID_CHAT_CHATML:
                /* A default system turn is a literal that runs from the system header to
                 * <|im_end|> without a message's content in between. */
                c->chatml_default_system = literal_between(t, "<|im_start|>system\n", "<|im_end|>");
                break;
        case AID_CHAT_PHI3:
                c->phi3_user_opens_assistant = has(t, "'<|end|>' + '\n' + '<|assistant|>'") ||
                                               has(t, "<|end|>\n<|assistant|>\n'");
                c->phi3_system = has(t, "<|system|>") || has(t, "'<|' + message['role'] + '|>'");
                c->phi3_system_skip_empty = has(t, "message['role'] == 'system' and message['content']");
                c->phi3_eos_without_prompt = has(t, "eos_token");
                break;
        case AID_CHAT_GEMMA:
                break;
        }
        free(t);
        if (oom) {
                aid_chat_template_free(c);
                return aid_error_set(err, -ENOMEM, "out of memory for the chat template");
        }
        *ret = c;
        return 0;
}

static char *token_text(const struct gguf_file *f, const char *id_key)
{
        const struct gguf_value *tokens;
        uint32_t id;

        if (gguf_get_u32(f, id_key, &id, NULL) < 0)
                return NULL;
        if (gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, NULL) < 0)
                return NULL;
        struct gguf_str s = gguf_arr_str(tokens, id);
        if (!s.data)
                return NULL;
        return strndup(s.data, (size_t)s.len);
}

int aid_chat_template_from_gguf(
                const struct gguf_file *f, struct aid_chat_template **ret, struct aid_error *err)
{
        struct gguf_str tmpl;

        if (!gguf_find_kv(f, "tokenizer.chat_template"))
                return aid_error_set(err, -ENODATA,
                                "model has no chat template (tokenizer.chat_template); plain completion "
                                "still works");
        int r = gguf_get_str(f, "tokenizer.chat_template", &tmpl, err);
        if (r < 0)
                return r;

        _cleanup_free_ char *bos = token_text(f, "tokenizer.ggml.bos_token_id");
        _cleanup_free_ char *eos = token_text(f, "tokenizer.ggml.eos_token_id");
        return aid_chat_template_new(tmpl.data, (size_t)tmpl.len, bos, eos, ret, err);
}

/* ---- formatting ---- */

struct sbuf {
        char *s;
        size_t len, cap;
        bool oom;
};

static void put_n(struct sbuf *b, const char *s, size_t n)
{
        if (b->oom)
                return;
        if (b->len + n + 1 > b->cap) {
                size_t cap = MAX(b->len + n + 1, MAX(b->cap * 2, (size_t)256));
                char *p = realloc(b->s, cap);
                if (!p) {
                        b->oom = true;
                        return;
                }
                b->s = p;
                b->cap = cap;
        }
        memcpy(b->s + b->len, s, n);
        b->len += n;
        b->s[b->len] = '\0';
}

static void put(struct sbuf *b, const char *s)
{
        put_n(b, s, strlen(s));
}

/* Decodes one code point at s[*i] (advancing *i); malformed bytes decode as themselves, so
 * that they are simply not whitespace. */
static uint32_t next_cp(const unsigned char *s, size_t len, size_t *i)
{
        unsigned char c = s[*i];
        size_t n = c < 0x80             ? 1
                   : (c & 0xe0) == 0xc0 ? 2
                   : (c & 0xf0) == 0xe0 ? 3
                   : (c & 0xf8) == 0xf0 ? 4
                                        : 1;
        if (n == 1 || *i + n > len) {
                (*i)++;
                return c;
        }
        uint32_t cp = c & (0x7f >> n);
        for (size_t k = 1; k < n; k++)
                cp = (cp << 6) | (s[*i + k] & 0x3f);
        *i += n;
        return cp;
}

/* Python's str.isspace(), which Jinja's trim filter (str.strip()) uses. */
static bool py_space(uint32_t cp)
{
        return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
               cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
               cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

static void put_trimmed(struct sbuf *b, const char *text)
{
        const unsigned char *s = (const unsigned char *)text;
        size_t len = strlen(text), start = len, end = 0;

        /* first and one-past-last non-space code point */
        for (size_t i = 0; i < len;) {
                size_t at = i;
                if (!py_space(next_cp(s, len, &i))) {
                        if (start == len)
                                start = at;
                        end = i;
                }
        }
        if (start < end)
                put_n(b, text + start, end - start);
}

static const char *role_name(enum aid_chat_role r)
{
        switch (r) {
        case AID_CHAT_SYSTEM:
                return "system";
        case AID_CHAT_USER:
                return "user";
        case AID_CHAT_ASSISTANT:
                return "assistant";
        }
        return "user";
}

static int format_gemma(const struct aid_chat_template *t, const struct aid_chat_message *m, size_t n,
                const struct aid_chat_options *o, struct sbuf *b, struct aid_error *err)
{
        const char *prefix = NULL;
        size_t first = 0;

        if (m[0].role == AID_CHAT_SYSTEM) {
                prefix = m[0].content;
                first = 1;
        }
        for (size_t i = first; i < n; i++)
                if ((m[i].role == AID_CHAT_USER) != ((i - first) % 2 == 0))
                        return aid_error_set(err, -EINVAL,
                                        "message %zu: Gemma conversations must alternate "
                                        "user/assistant/user/..., "
                                        "after an optional first system message",
                                        i);

        if (t->emits_bos)
                put(b, t->bos);
        for (size_t i = first; i < n; i++) {
                put(b, "<start_of_turn>");
                put(b, m[i].role == AID_CHAT_ASSISTANT ? "model" : "user");
                put(b, "\n");
                if (i == first && prefix) {
                        put(b, prefix); /* not trimmed: the template adds it as it is */
                        put(b, "\n\n");
                }
                put_trimmed(b, m[i].content);
                put(b, "<end_of_turn>\n");
        }
        if (o->add_generation_prompt)
                put(b, "<start_of_turn>model\n");
        return 0;
}

static void today(char out[32])
{
        static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
                "Oct", "Nov", "Dec" };
        time_t now = time(NULL);
        struct tm tm;

        if (!localtime_r(&now, &tm)) {
                snprintf(out, 32, "26 Jul 2024");
                return;
        }
        /* strftime("%d %b %Y") in the C locale, whatever the process locale is */
        snprintf(out, 32, "%02d %s %04d", tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900);
}

static void llama3_turn(struct sbuf *b, const char *role, const char *content)
{
        put(b, "<|start_header_id|>");
        put(b, role);
        put(b, "<|end_header_id|>\n\n");
        put_trimmed(b, content);
        put(b, "<|eot_id|>");
}

static int format_llama3(const struct aid_chat_template *t, const struct aid_chat_message *m, size_t n,
                const struct aid_chat_options *o, struct sbuf *b)
{
        size_t first = 0;

        if (t->emits_bos)
                put(b, t->bos);
        if (t->llama3_system_block) {
                char date[32];
                const char *d = o->date;
                if (!d && t->llama3_today) {
                        today(date);
                        d = date;
                }
                if (!d)
                        d = t->llama3_date;

                put(b, "<|start_header_id|>system<|end_header_id|>\n\n");
                put(b, "Cutting Knowledge Date: December 2023\n");
                put(b, "Today Date: ");
                put(b, d);
                put(b, "\n\n");
                if (m[0].role == AID_CHAT_SYSTEM) {
                        put_trimmed(b, m[0].content);
                        first = 1;
                }
                put(b, "<|eot_id|>");
        }
        for (size_t i = first; i < n; i++)
                llama3_turn(b, role_name(m[i].role), m[i].content);
        if (o->add_generation_prompt)
                put(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        return 0;
}

static void chatml_turn(struct sbuf *b, const char *role, const char *content)
{
        put(b, "<|im_start|>");
        put(b, role);
        put(b, "\n");
        put(b, content);
        put(b, "<|im_end|>\n");
}

static int format_chatml(const struct aid_chat_template *t, const struct aid_chat_message *m, size_t n,
                const struct aid_chat_options *o, struct sbuf *b)
{
        if (t->emits_bos)
                put(b, t->bos);
        if (m[0].role != AID_CHAT_SYSTEM && t->chatml_default_system)
                chatml_turn(b, "system", t->chatml_default_system);
        for (size_t i = 0; i < n; i++)
                chatml_turn(b, role_name(m[i].role), m[i].content);
        if (o->add_generation_prompt)
                put(b, "<|im_start|>assistant\n");
        return 0;
}

static int format_phi3(const struct aid_chat_template *t, const struct aid_chat_message *m, size_t n,
                const struct aid_chat_options *o, struct sbuf *b)
{
        if (t->emits_bos)
                put(b, t->bos);

        if (t->phi3_user_opens_assistant) {
                /* Early Phi-3 (mini-4k first release, medium): system messages are dropped, each
                 * user turn opens the assistant's, and there is no add_generation_prompt. */
                for (size_t i = 0; i < n; i++) {
                        if (m[i].role == AID_CHAT_USER) {
                                put(b, "<|user|>\n");
                                put(b, m[i].content);
                                put(b, "<|end|>\n<|assistant|>\n");
                        } else if (m[i].role == AID_CHAT_ASSISTANT) {
                                put(b, m[i].content);
                                put(b, "<|end|>\n");
                        }
                }
                return 0;
        }

        for (size_t i = 0; i < n; i++) {
                if (m[i].role == AID_CHAT_SYSTEM &&
                                (!t->phi3_system || (t->phi3_system_skip_empty && m[i].content[0] == '\0')))
                        continue;
                put(b, "<|");
                put(b, role_name(m[i].role));
                put(b, "|>\n");
                put(b, m[i].content);
                put(b, "<|end|>\n");
        }
        if (o->add_generation_prompt)
                put(b, "<|assistant|>\n");
        else if (t->phi3_eos_without_prompt)
                put(b, t->eos);
        return 0;
}

int aid_chat_format(const struct aid_chat_template *t, const struct aid_chat_message *msgs, size_t n_msgs,
                const struct aid_chat_options *opts, char **ret_text, bool *ret_bos_in_text,
                struct aid_error *err)
{
        static const struct aid_chat_options defaults = { .add_generation_prompt = true };
        const struct aid_chat_options *o = opts ? opts : &defaults;
        struct sbuf b = {};
        int r = 0;

        if (n_msgs == 0 || !msgs)
                return aid_error_set(err, -EINVAL, "a conversation needs at least one message");
        for (size_t i = 0; i < n_msgs; i++) {
                if (!msgs[i].content)
                        return aid_error_set(err, -EINVAL, "message %zu has no content", i);
                if ((unsigned)msgs[i].role > AID_CHAT_ASSISTANT)
                        return aid_error_set(err, -EINVAL, "message %zu has an unknown role %d", i,
                                        (int)msgs[i].role);
        }

        switch (t->family) {
        case AID_CHAT_GEMMA:
                r = format_gemma(t, msgs, n_msgs, o, &b, err);
                break;
        case AID_CHAT_LLAMA3:
                r = format_llama3(t, msgs, n_msgs, o, &b);
                break;
        case AID_CHAT_CHATML:
                r = format_chatml(t, msgs, n_msgs, o, &b);
                break;
        case AID_CHAT_PHI3:
                r = format_phi3(t, msgs, n_msgs, o, &b);
                break;
        }
        put(&b, ""); /* a NUL-terminated buffer even when nothing was written */
        if (r < 0 || b.oom) {
                free(b.s);
                return r < 0 ? r : aid_error_set(err, -ENOMEM, "out of memory formatting the conversation");
        }

        size_t bos_len = strlen(t->bos);
        bool bos_in_text = t->emits_bos && bos_len > 0 && strncmp(b.s, t->bos, bos_len) == 0;
        if (bos_in_text && o->strip_bos) {
                memmove(b.s, b.s + bos_len, b.len - bos_len + 1);
                bos_in_text = false;
        }
        *ret_text = b.s;
        if (ret_bos_in_text)
                *ret_bos_in_text = bos_in_text;
        return 0;
}
