/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pre-tokenizers of byte-level BPE vocabularies: the regular expressions llama.cpp applies for
 * each tokenizer.ggml.pre, written as small matchers. A pre-tokenizer is a chain of stages;
 * each stage splits every piece of the previous one the way std::regex_iterator does (matches
 * and the gaps between them both become pieces), so lookaheads and $ see the piece's end.
 *
 * Classes follow llama.cpp: \p{L}, \p{N}, \p{P} are Unicode major categories, \s is the
 * White_Space property. In the stages llama.cpp runs on std::wregex with literal character
 * ranges, non-ASCII whitespace was replaced by \v first, so it never matches those ranges. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer-internal.h"

struct text {
        const uint32_t *cpts;
        const uint16_t *flags;
        size_t end; /* of the piece being split */
};

/* Length of the match at pos, 0 for none. */
typedef size_t (*stage_fn)(const struct text *t, size_t pos);

struct aid_pretokenizer {
        const char *const *names;
        stage_fn stages[6];
};

static unsigned F(const struct text *t, size_t pos)
{
        return pos < t->end ? t->flags[pos] : 0;
}

static uint32_t C(const struct text *t, size_t pos)
{
        return pos < t->end ? t->cpts[pos] : UINT32_MAX;
}

#define WS     AID_UCD_WHITESPACE
#define LETTER AID_UCD_LETTER
#define NUMBER AID_UCD_NUMBER

static size_t contraction(const struct text *t, size_t pos, bool any_case)
{
        if (C(t, pos) != '\'' || pos + 1 >= t->end)
                return 0;
        uint32_t a = C(t, pos + 1), b = C(t, pos + 2);
        if (any_case) {
                a = aid_ucd_tolower(a);
                b = aid_ucd_tolower(b);
        }
        if (a == 's' || a == 't' || a == 'm' || a == 'd')
                return 2;
        if (pos + 2 < t->end && ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')))
                return 3;
        return 0;
}

static size_t whitespace_tail(const struct text *t, size_t pos)
{
        size_t n = 0;
        while (F(t, pos + n) & WS)
                n++;
        /* \s+(?!\S): leave the last space to the word that follows */
        if (n > 1 && pos + n < t->end)
                return n - 1;
        return n > 0 ? n : 1;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S) */
static size_t stage_gpt2(const struct text *t, size_t pos)
{
        size_t n = contraction(t, pos, false);
        if (n)
                return n;
        bool space = C(t, pos) == ' ';
        unsigned f = F(t, pos + space);
        size_t q = pos + space;
        if (f & LETTER) {
                while (F(t, q) & LETTER)
                        q++;
                return q - pos;
        }
        if (f & NUMBER) {
                while (F(t, q) & NUMBER)
                        q++;
                return q - pos;
        }
        if (!(f & (WS | LETTER | NUMBER)) && f) {
                while (!(F(t, q) & (WS | LETTER | NUMBER)) && F(t, q))
                        q++;
                return q - pos;
        }
        return whitespace_tail(t, pos);
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 * \s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t llama3_like(const struct text *t, size_t pos, size_t max_digits)
{
        size_t n = contraction(t, pos, true);
        if (n)
                return n;
        uint32_t c = C(t, pos);
        unsigned f = F(t, pos);
        if (!(c == '\r' || c == '\n' || (f & NUMBER)) && ((f & LETTER) || (F(t, pos + 1) & LETTER))) {
                size_t q = pos + 1;
                while (F(t, q) & LETTER)
                        q++;
                return q - pos;
        }
        if (f & NUMBER) {
                size_t q = pos;
                while ((F(t, q) & NUMBER) && q - pos < max_digits)
                        q++;
                return q - pos;
        }
        bool space = c == ' ';
        unsigned f2 = space ? F(t, pos + 1) : f;
        if (!(f2 & (WS | LETTER | NUMBER)) && f) {
                size_t q = pos + space;
                while (!(F(t, q) & (WS | LETTER | NUMBER)) && F(t, q))
                        q++;
                while (C(t, q) == '\r' || C(t, q) == '\n')
                        q++;
                return q - pos;
        }
        size_t ws = 0, last_newline = 0;
        while (F(t, pos + ws) & WS) {
                if (C(t, pos + ws) == '\r' || C(t, pos + ws) == '\n')
                        last_newline = pos + ws + 1;
                ws++;
        }
        if (last_newline)
                return last_newline - pos;
        return whitespace_tail(t, pos);
}

static size_t stage_llama3(const struct text *t, size_t pos)
{
        return llama3_like(t, pos, 3);
}

static size_t stage_qwen2(const struct text *t, size_t pos)
{
        return llama3_like(t, pos, 1);
}

static bool is_ascii_punct_or_symbol(uint32_t c)
{
        return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
               (c >= 0x7B && c <= 0x7E);
}

/* Non-ASCII code points of category P, as llama.cpp's collapsed-text regex sees them. */
static bool is_wide_punct(const struct text *t, size_t pos)
{
        unsigned f = F(t, pos);
        return C(t, pos) >= 0x80 && !(f & WS) && (f & AID_UCD_CATEGORY_MASK) == AID_UCD_PUNCTUATION;
}

/* [\p{P}\$\+<=>\^~\|`]+ : all ASCII punctuation and symbols */
static size_t stage_falcon_punct(const struct text *t, size_t pos)
{
        size_t q = pos;
        while (q < t->end && (is_ascii_punct_or_symbol(t->cpts[q]) || is_wide_punct(t, q)))
                q++;
        return q - pos;
}

/* [\p{P}\$\+<=>\^~\|]+ : the same without the backtick */
static size_t stage_default_punct(const struct text *t, size_t pos)
{
        size_t q = pos;
        while (q < t->end &&
                        ((is_ascii_punct_or_symbol(t->cpts[q]) && t->cpts[q] != '`') || is_wide_punct(t, q)))
                q++;
        return q - pos;
}

/* [0-9][0-9][0-9] */
static size_t stage_digits3(const struct text *t, size_t pos)
{
        for (size_t i = 0; i < 3; i++)
                if (C(t, pos + i) < '0' || C(t, pos + i) > '9')
                        return 0;
        return 3;
}

/* \p{N}+ */
static size_t stage_numbers(const struct text *t, size_t pos)
{
        size_t q = pos;
        while (F(t, q) & NUMBER)
                q++;
        return q - pos;
}

/* \p{N} */
static size_t stage_number(const struct text *t, size_t pos)
{
        return (F(t, pos) & NUMBER) ? 1 : 0;
}

/* [\r\n] */
static size_t stage_newline(const struct text *t, size_t pos)
{
        return C(t, pos) == '\r' || C(t, pos) == '\n';
}

struct range {
        uint32_t lo, hi;
};

static bool in_ranges(const struct text *t, size_t pos, const struct range *r, size_t n)
{
        uint32_t c = C(t, pos);
        if (pos >= t->end || (c >= 0x80 && (F(t, pos) & WS)))
                return false;
        for (size_t i = 0; i < n; i++)
                if (c >= r[i].lo && c <= r[i].hi)
                        return true;
        return false;
}

/* \s?[ranges]+ */
static size_t space_then_run(const struct text *t, size_t pos, const struct range *r, size_t n)
{
        size_t q = pos;
        if ((F(t, q) & WS) && in_ranges(t, q + 1, r, n))
                q++;
        while (in_ranges(t, q, r, n))
                q++;
        return q - pos;
}

/* DeepSeek LLM's letter class: the cased letters (Lu, Ll, Lt) as its tokenizer.json lists them. */
static const struct range deepseek_letters[] = {
        { 0x41, 0x5A },
        { 0x61, 0x7A },
        { 0xB5, 0xB5 },
        { 0xC0, 0xD6 },
        { 0xD8, 0xF6 },
        { 0xF8, 0x1BA },
        { 0x1BC, 0x1BF },
        { 0x1C4, 0x293 },
        { 0x295, 0x2AF },
        { 0x370, 0x373 },
        { 0x376, 0x377 },
        { 0x37B, 0x37D },
        { 0x37F, 0x37F },
        { 0x386, 0x386 },
        { 0x388, 0x38A },
        { 0x38C, 0x38C },
        { 0x38E, 0x3A1 },
        { 0x3A3, 0x3F5 },
        { 0x3F7, 0x481 },
        { 0x48A, 0x52F },
        { 0x531, 0x556 },
        { 0x10A0, 0x10C5 },
        { 0x13A0, 0x13F5 },
        { 0x13F8, 0x13FD },
        { 0x1C90, 0x1CBA },
        { 0x1CBD, 0x1CBF },
        { 0x1D00, 0x1D2B },
        { 0x1D6B, 0x1D77 },
        { 0x1D79, 0x1D9A },
        { 0x1E00, 0x1F15 },
        { 0x1F18, 0x1F1D },
        { 0x1F20, 0x1F45 },
        { 0x1F48, 0x1F4D },
        { 0x1F50, 0x1F57 },
        { 0x1F59, 0x1F59 },
        { 0x1F5B, 0x1F5B },
        { 0x1F5D, 0x1F5D },
        { 0x1F5F, 0x1F7D },
        { 0x1F80, 0x1FB4 },
        { 0x1FB6, 0x1FBC },
        { 0x1FBE, 0x1FBE },
        { 0x1FC2, 0x1FC4 },
        { 0x1FC6, 0x1FCC },
        { 0x1FD0, 0x1FD3 },
        { 0x1FD6, 0x1FDB },
        { 0x1FE0, 0x1FEC },
        { 0x1FF2, 0x1FF4 },
        { 0x1FF6, 0x1FFC },
        { 0x2102, 0x2102 },
        { 0x2107, 0x2107 },
        { 0x210A, 0x2113 },
        { 0x2115, 0x2115 },
        { 0x2119, 0x211D },
        { 0x2124, 0x2124 },
        { 0x2126, 0x2126 },
        { 0x2128, 0x2128 },
        { 0x212A, 0x212D },
        { 0x212F, 0x2134 },
        { 0x2139, 0x2139 },
        { 0x213C, 0x213F },
        { 0x2145, 0x2149 },
        { 0x214E, 0x214E },
        { 0x2183, 0x2184 },
        { 0x2C00, 0x2C7B },
        { 0x2C7E, 0x2CE4 },
        { 0x2CEB, 0x2CEE },
        { 0x2CF2, 0x2CF3 },
        { 0xA640, 0xA66D },
        { 0xA680, 0xA69B },
        { 0xA722, 0xA76F },
        { 0xA771, 0xA787 },
        { 0xA78B, 0xA78E },
        { 0xAB70, 0xABBF },
        { 0xFB00, 0xFB06 },
        { 0xFB13, 0xFB17 },
        { 0xFF21, 0xFF3A },
        { 0xFF41, 0xFF5A },
        { 0x10400, 0x1044F },
        { 0x104B0, 0x104D3 },
        { 0x104D8, 0x104FB },
        { 0x10C80, 0x10CB2 },
        { 0x10CC0, 0x10CF2 },
        { 0x118A0, 0x118DF },
        { 0x1E900, 0x1E943 },
};

static size_t stage_deepseek_letters(const struct text *t, size_t pos)
{
        return space_then_run(t, pos, deepseek_letters, ELEMENTSOF(deepseek_letters));
}

/* \s?[!-/:-~！-／：-～‘-‟　-。]+ */
static size_t stage_deepseek_punct(const struct text *t, size_t pos)
{
        static const struct range punct[] = {
                { 0x21, 0x2F },
                { 0x3A, 0x7E },
                { 0xFF01, 0xFF0F },
                { 0xFF1A, 0xFF5E },
                { 0x2018, 0x201F },
                { 0x3000, 0x3002 },
        };
        return space_then_run(t, pos, punct, ELEMENTSOF(punct));
}

/* \s+$ */
static size_t stage_trailing_space(const struct text *t, size_t pos)
{
        for (size_t q = pos; q < t->end; q++)
                if (!(t->flags[q] & WS))
                        return 0;
        return t->end - pos;
}

/* [一-龥ࠀ-一가-퟿]+ */
static size_t stage_deepseek_cjk(const struct text *t, size_t pos)
{
        static const struct range cjk[] = { { 0x4E00, 0x9FA5 }, { 0x0800, 0x4E00 }, { 0xAC00, 0xD7FF } };
        size_t q = pos;
        while (in_ranges(t, q, cjk, ELEMENTSOF(cjk)))
                q++;
        return q - pos;
}

static const char *const names_default[] = { "default", NULL };
static const char *const names_gpt2[] = { "gpt-2", "phi-2", "mpt", "olmo", "jais", "trillion", "jina-es",
        "jina-de", "jina-v1-en", "jina-v2-es", "jina-v2-de", "jina-v2-code", "roberta-bpe", "gigachat",
        "a.x-4.0", "mellum", NULL };
static const char *const names_starcoder[] = { "starcoder", "refact", "command-r", "smollm", "codeshell",
        "exaone", "minerva-7b", NULL };
static const char *const names_llama3[] = { "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1",
        "pixtral", "midm-2.0", "lfm2", NULL };
static const char *const names_llama3_regex[] = { "dbrx", "smaug-bpe", NULL };
static const char *const names_qwen2[] = { "qwen2", "deepseek-r1-qwen", "megrez", NULL };
static const char *const names_deepseek[] = { "deepseek-llm", NULL };
static const char *const names_falcon[] = { "falcon", NULL };

static const struct aid_pretokenizer pretokenizers[] = {
        { names_default, { stage_default_punct, stage_gpt2, stage_numbers, stage_digits3 } },
        { names_gpt2, { stage_gpt2 } },
        { names_starcoder, { stage_number, stage_gpt2 } },
        { names_llama3, { stage_llama3 } },
        { names_llama3_regex, { stage_llama3 } },
        { names_qwen2, { stage_qwen2 } },
        { names_deepseek, { stage_newline, stage_deepseek_letters, stage_deepseek_punct,
                                          stage_trailing_space, stage_deepseek_cjk, stage_numbers } },
        { names_falcon, { stage_falcon_punct, stage_gpt2, stage_digits3 } },
};

const struct aid_pretokenizer *aid_pretokenizer_find(const char *name, size_t len, bool *ret_ignore_merges)
{
        for (size_t i = 0; i < ELEMENTSOF(pretokenizers); i++)
                for (const char *const *n = pretokenizers[i].names; *n; n++)
                        if (strlen(*n) == len && memcmp(*n, name, len) == 0) {
                                /* llama.cpp takes whole-token words unmerged for the llama3 family. */
                                *ret_ignore_merges = pretokenizers[i].names == names_llama3;
                                return &pretokenizers[i];
                        }
        return NULL;
}

static int push_len(size_t **lens, size_t *n, size_t *cap, size_t len)
{
        if (*n == *cap) {
                size_t c = *cap ? 2 * *cap : 64;
                size_t *l = realloc(*lens, c * sizeof(size_t));
                if (!l)
                        return -ENOMEM;
                *lens = l;
                *cap = c;
        }
        (*lens)[(*n)++] = len;
        return 0;
}

int aid_pretokenize(const struct aid_pretokenizer *p, const char *text, size_t len, uint32_t **ret_cpts,
                size_t *ret_n_cpts, size_t **ret_lens, size_t *ret_n_words)
{
        _cleanup_free_ uint32_t *cpts = malloc(MAX(len, 1) * sizeof(uint32_t));
        _cleanup_free_ uint16_t *flags = malloc(MAX(len, 1) * sizeof(uint16_t));
        _cleanup_free_ size_t *lens = NULL, *next = NULL;
        size_t n = 0, n_lens = 0, cap = 0, n_next = 0, cap_next = 0;
        int r = 0;

        if (!cpts || !flags)
                return -ENOMEM;
        for (size_t pos = 0; pos < len; n++) {
                cpts[n] = aid_utf8_decode(text, len, &pos);
                flags[n] = (uint16_t)aid_ucd_flags(cpts[n]);
        }
        if (n > 0 && (r = push_len(&lens, &n_lens, &cap, n)) < 0)
                return r;

        for (size_t s = 0; s < ELEMENTSOF(p->stages) && p->stages[s]; s++) {
                n_next = 0;
                for (size_t i = 0, start = 0; i < n_lens; start += lens[i], i++) {
                        struct text t = { cpts, flags, start + lens[i] };
                        size_t pos = start, gap = start;
                        while (pos < t.end) {
                                size_t m = p->stages[s](&t, pos);
                                if (m == 0) {
                                        pos++;
                                        continue;
                                }
                                if (pos > gap && (r = push_len(&next, &n_next, &cap_next, pos - gap)) < 0)
                                        return r;
                                if ((r = push_len(&next, &n_next, &cap_next, m)) < 0)
                                        return r;
                                pos += m;
                                gap = pos;
                        }
                        if (t.end > gap && (r = push_len(&next, &n_next, &cap_next, t.end - gap)) < 0)
                                return r;
                }
                size_t *swap = lens;
                lens = next;
                next = swap;
                size_t c = cap;
                cap = cap_next;
                cap_next = c;
                n_lens = n_next;
        }
        *ret_cpts = TAKE_PTR(cpts);
        *ret_n_cpts = n;
        *ret_lens = TAKE_PTR(lens);
        *ret_n_words = n_lens;
        return 0;
}
